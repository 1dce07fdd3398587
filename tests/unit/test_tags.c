/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Tagged shared extents: the Shared Extent Sequence (set by the creator,
 * matched by joiners, reported by the listings).
 */
#include "testutil.h"

#define NBLK 64
#define SH (NBLK * BS) /* the sharable region: NBLK blocks after the first */

static const uint8_t TAG_A[16] = {0xA1, 0xA2, 0xA3, 0xA4, 5,  6,  7,  8,
                                  9,    10,   11,   12,   13, 14, 15, 16};

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
    CHECK(si[0].seq == 0x1234 && si[0].sharers == 3u && memcmp(si[0].tag, TAG_A, 16) == 0);

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

int main(void)
{
    test_sequence();
    for (unsigned i = 0; i < npaths; i++)
        mhsld_destroy(paths[i], true);
    return tu_report("test_tags");
}
