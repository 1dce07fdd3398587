/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Tagged shared extents: the Shared Extent Sequence (set by the creator,
 * matched by joiners, reported by the listings) and the fabric manager's
 * references on a tag (mhsld_fm_ref_add/remove).
 */
#include "testutil.h"

#define NBLK 64
#define SH (NBLK * BS) /* the sharable region: NBLK blocks after the first */

static const uint8_t TAG_A[16] = {0xA1, 0xA2, 0xA3, 0xA4, 5,  6,  7,  8,
                                  9,    10,   11,   12,   13, 14, 15, 16};
static const uint8_t TAG_B[16] = {0xB1, 0xB2};

static char paths[8][128];
static unsigned npaths;

static mhsld_state *make(const char *name)
{
    REQUIRE(npaths < 8);
    char *path = paths[npaths++];
    mhsld_geometry g;
    mhsld_geometry_init(&g, 3, BS, 0, NBLK * BS);
    g.nr_regions = 2;
    g.regions[1].base = SH;
    g.regions[1].len = NBLK * BS;
    g.regions[1].flags = MHSLD_REGION_SHARABLE;
    g.regions[1].dsmad_handle = 1;
    tu_path(path, sizeof(paths[0]), name);
    return tu_create(path, &g);
}

/* Active shared extents, in slot order. */
static size_t shared(mhsld_state *st, mhsld_shared_info *si)
{
    size_t n = 0;
    REQUIRE(mhsld_shared_list(st, si, MHSLD_MAX_SHARED, &n, NULL) == MHSLD_OK);
    return n;
}

static uint32_t blk_state(mhsld_state *st, uint64_t dpa, uint32_t *sharers)
{
    mhsld_block_info bi;
    REQUIRE(mhsld_block_info_get(st, NBLK + (dpa - SH) / BS, &bi) == MHSLD_OK);
    if (sharers)
        *sharers = bi.sharers;
    return bi.state;
}

/* ---- Shared Extent Sequence ---------------------------------------------- */

static void test_sequence(void)
{
    mhsld_state *st = make("tags-seq");
    mhsld_head *h[3] = {tu_attach(st, 0), tu_attach(st, 1), tu_attach(st, 2)};
    mhsld_extent e = {SH + 4 * BS, 2 * BS};
    mhsld_shared_info si[MHSLD_MAX_SHARED];

    CHECK_OK(mhsld_share_add_seq(h[0], &e, TAG_A, 0x1234, NULL));
    CHECK_OK(mhsld_share_add_seq(h[1], &e, TAG_A, 0x1234, NULL));
    /* a joiner with another sequence is refused like one with another tag,
     * and nothing changes; the old call is sequence 0 */
    CHECK_ST(mhsld_share_add_seq(h[2], &e, TAG_A, 0x1235, NULL), MHSLD_E_TAG);
    CHECK_ST(mhsld_share_add(h[2], &e, TAG_A, NULL), MHSLD_E_TAG);
    CHECK(shared(st, si) == 1);
    CHECK(si[0].seq == 0x1234 && si[0].sharers == 3u && si[0].fm_ref == 0 &&
          memcmp(si[0].tag, TAG_A, 16) == 0);

    /* the host's list: an owned extent (sequence 0) and the shared one */
    CHECK_OK(tu_claim(h[0], 2 * BS, BS));
    mhsld_extent ext[4];
    uint8_t tags[4][MHSLD_TAG_SIZE];
    uint16_t seqs[4] = {7, 7, 7, 7};
    size_t got = 0, total = 0;
    CHECK_OK(
        mhsld_extents_get_seq(st, 0, MHSLD_EXT_ALL, 0, ext, tags, seqs, 4, &got, &total, NULL));
    CHECK(got == 2 && total == 2);
    CHECK(ext[0].dpa == 2 * BS && seqs[0] == 0 && tags[0][0] == 0);
    CHECK(ext[1].dpa == e.dpa && seqs[1] == 0x1234 && memcmp(tags[1], TAG_A, 16) == 0);
    /* paging: the second extent alone; NULL seqs is mhsld_extents_get() */
    CHECK_OK(
        mhsld_extents_get_seq(st, 0, MHSLD_EXT_SHARED, 0, ext, NULL, seqs, 4, &got, &total, NULL));
    CHECK(got == 1 && seqs[0] == 0x1234);
    CHECK_OK(mhsld_extents_get(st, 0, MHSLD_EXT_ALL, 1, ext, tags, 4, &got, &total, NULL));
    CHECK(got == 1 && ext[0].dpa == e.dpa);

    /* a recycled slot carries its new creator's sequence */
    CHECK_OK(mhsld_share_release(h[0], &e));
    CHECK_OK(mhsld_share_release(h[1], &e));
    CHECK(shared(st, si) == 0);
    CHECK_OK(mhsld_share_add_seq(h[2], &e, TAG_A, 9, NULL));
    CHECK(shared(st, si) == 1 && si[0].seq == 9 && si[0].sharers == 4u);
    CHECK_OK(mhsld_share_add_seq(h[0], &e, TAG_A, 9, NULL));
    CHECK_VALID(st);
    for (int i = 0; i < 3; i++)
        CHECK_OK(mhsld_release_all(h[i], NULL));
    CHECK(shared(st, si) == 0);
    CHECK_VALID(st);
    for (int i = 0; i < 3; i++)
        mhsld_detach(h[i]);
    mhsld_close(st);
}

/* ---- FM references in the engine ------------------------------------------ */

static void test_fm_ref_engine(void)
{
    mhsld_state *st = make("tags-fmref");
    mhsld_head *h[3] = {tu_attach(st, 0), tu_attach(st, 1), tu_attach(st, 2)};
    mhsld_extent e = {SH + 8 * BS, 4 * BS};
    mhsld_shared_info si[MHSLD_MAX_SHARED];
    uint32_t sh = 0;

    /* no such tag yet */
    CHECK_ST(mhsld_fm_ref_add(h[2], TAG_A), MHSLD_E_TAG);
    CHECK_ST(mhsld_fm_ref_remove(h[2], TAG_A, NULL), MHSLD_E_TAG);
    CHECK_ST(mhsld_fm_ref_add(h[2], NULL), MHSLD_E_INVAL);
    CHECK_ST(mhsld_fm_ref_add(NULL, TAG_A), MHSLD_E_INVAL);

    CHECK_OK(mhsld_share_add(h[0], &e, TAG_A, NULL));
    CHECK_OK(mhsld_share_add(h[1], &e, TAG_A, NULL));
    /* a reference the FM does not hold cannot be removed */
    CHECK_ST(mhsld_fm_ref_remove(h[2], TAG_A, NULL), MHSLD_E_NOT_OWNER);
    /* through a head that is not a sharer: the FM is not a head */
    CHECK_OK(mhsld_fm_ref_add(h[2], TAG_A));
    CHECK_ST(mhsld_fm_ref_add(h[2], TAG_A), MHSLD_E_EXISTS);
    CHECK_ST(mhsld_fm_ref_add(h[2], TAG_B), MHSLD_E_TAG);
    CHECK(shared(st, si) == 1 && si[0].fm_ref == 1 && si[0].sharers == 3u);
    CHECK_VALID(st);

    /* every sharer leaves: the blocks stay allocated, shared by nobody,
     * accessible to nobody, not claimable */
    mhsld_head_info hi0, hi1;
    CHECK_OK(mhsld_share_release(h[0], &e));
    CHECK_OK(mhsld_share_release(h[1], &e));
    CHECK(blk_state(st, e.dpa, &sh) == MHSLD_BLOCK_SHARED && sh == 0);
    CHECK(blk_state(st, e.dpa + 3 * BS, &sh) == MHSLD_BLOCK_SHARED);
    CHECK(shared(st, si) == 1 && si[0].sharers == 0 && si[0].fm_ref == 1);
    for (uint32_t i = 0; i < 3; i++)
        CHECK(!mhsld_access_check(st, i, e.dpa, BS));
    CHECK_OK(mhsld_head_info_get(st, 0, &hi0));
    CHECK(hi0.shared_blocks == 0);
    mhsld_conflict cf;
    uint64_t g = 0;
    CHECK_ST(mhsld_reserve(h[2], &e, 1, &g, &cf), MHSLD_E_CONFLICT);
    CHECK_VALID(st);
    /* a host can be given the extent again (same tag and sequence) */
    CHECK_ST(mhsld_share_add(h[1], &e, TAG_B, NULL), MHSLD_E_TAG);
    CHECK_OK(mhsld_share_add(h[1], &e, TAG_A, NULL));
    CHECK(mhsld_access_check(st, 1, e.dpa, BS));
    CHECK_OK(mhsld_share_release(h[1], &e));
    CHECK(blk_state(st, e.dpa, NULL) == MHSLD_BLOCK_SHARED);

    /* removing the reference of an extent nobody shares frees it; the
     * acting head's extent list did not change, so neither does its
     * generation */
    CHECK_OK(mhsld_head_info_get(st, 2, &hi0));
    uint64_t freed = 99;
    CHECK_OK(mhsld_fm_ref_remove(h[2], TAG_A, &freed));
    CHECK(freed == 4);
    CHECK_OK(mhsld_head_info_get(st, 2, &hi1));
    CHECK(hi1.list_generation == hi0.list_generation);
    CHECK(blk_state(st, e.dpa, NULL) == MHSLD_BLOCK_FREE);
    CHECK(shared(st, si) == 0);
    CHECK_ST(mhsld_fm_ref_remove(h[2], TAG_A, NULL), MHSLD_E_TAG);
    CHECK_VALID(st);
    CHECK_OK(tu_claim(h[2], e.dpa, e.len)); /* claimable again */
    CHECK_OK(mhsld_release_all(h[2], NULL));

    /* removing it while sharers remain: one CAS, the blocks stay; the last
     * leave then frees them as usual */
    CHECK_OK(mhsld_share_add(h[0], &e, TAG_A, NULL));
    CHECK_OK(mhsld_fm_ref_add(h[0], TAG_A));
    freed = 99;
    CHECK_OK(mhsld_fm_ref_remove(h[0], TAG_A, &freed));
    CHECK(freed == 0);
    CHECK(shared(st, si) == 1 && si[0].fm_ref == 0 && si[0].sharers == 1u);
    CHECK_OK(mhsld_share_release(h[0], &e));
    CHECK(blk_state(st, e.dpa, NULL) == MHSLD_BLOCK_FREE);

    /* one tag on two extents: the reference covers both; a second tag's
     * extent is untouched */
    mhsld_extent e2 = {SH + 20 * BS, BS}, e3 = {SH + 30 * BS, BS};
    CHECK_OK(mhsld_share_add_seq(h[0], &e, TAG_A, 0, NULL));
    CHECK_OK(mhsld_share_add_seq(h[1], &e2, TAG_A, 1, NULL));
    CHECK_OK(mhsld_share_add(h[1], &e3, TAG_B, NULL));
    CHECK_OK(mhsld_fm_ref_add(h[1], TAG_A));
    size_t n = shared(st, si);
    CHECK(n == 3);
    for (size_t i = 0; i < n; i++)
        CHECK(si[i].fm_ref == (memcmp(si[i].tag, TAG_A, 16) == 0));
    /* release_all (a device reset, a dead head's DROP recovery) leaves
     * referenced extents allocated */
    uint64_t rfreed = 99;
    CHECK_OK(mhsld_release_all(h[0], &rfreed));
    CHECK(rfreed == 0);
    CHECK_OK(mhsld_release_all(h[1], &rfreed));
    CHECK(rfreed == 1); /* e3 (TAG_B) only */
    CHECK(blk_state(st, e.dpa, NULL) == MHSLD_BLOCK_SHARED &&
          blk_state(st, e2.dpa, NULL) == MHSLD_BLOCK_SHARED &&
          blk_state(st, e3.dpa, NULL) == MHSLD_BLOCK_FREE);
    CHECK_VALID(st);
    freed = 0;
    CHECK_OK(mhsld_fm_ref_remove(h[1], TAG_A, &freed));
    CHECK(freed == 5);
    CHECK(shared(st, si) == 0);
    CHECK_VALID(st);
    for (int i = 0; i < 3; i++)
        mhsld_detach(h[i]);
    mhsld_close(st);
}

/* A validator that still refuses an extent without sharers when the FM
 * holds no reference: only the reference makes "no sharer" valid. */
static void test_validate_needs_reference(void)
{
    mhsld_state *st = make("tags-valid");
    mhsld_head *h0 = tu_attach(st, 0);
    mhsld_extent e = {SH, BS};
    CHECK_OK(mhsld_share_add(h0, &e, TAG_A, NULL));
    CHECK_OK(mhsld_fm_ref_add(h0, TAG_A));
    CHECK_OK(mhsld_share_release(h0, &e));
    CHECK_VALID(st);
    mhsld_shared_info si[MHSLD_MAX_SHARED];
    CHECK(shared(st, si) == 1 && si[0].sharers == 0);
    CHECK_OK(mhsld_fm_ref_remove(h0, TAG_A, NULL));
    CHECK_VALID(st);
    mhsld_detach(h0);
    mhsld_close(st);
}

int main(void)
{
    test_sequence();
    test_fm_ref_engine();
    test_validate_needs_reference();
    for (unsigned i = 0; i < npaths; i++)
        mhsld_destroy(paths[i], true);
    return tu_report("test_tags");
}
