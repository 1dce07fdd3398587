/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Tagged shared extents: the Shared Extent Sequence (set by the creator,
 * matched by joiners, reported by the listings and by 4801h/5603h) and the
 * fabric manager's references on a tag (engine: mhsld_fm_ref_add/remove;
 * mailbox: 5606h Add Reference, 5607h Remove Reference, 5608h List Tags).
 */
#include "mhsld/mailbox.h"
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

/* ---- the mailbox: 4801h/5603h sequence, 5606h..5608h ---------------------- */

#define OKC MHSLD_CXL_SUCCESS
#define INV MHSLD_CXL_INVALID_INPUT
#define IPL MHSLD_CXL_INVALID_PAYLOAD_LENGTH

#define CHECK_RC(expr, want)                                                                       \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ == (want)) {                                                                       \
            tu_pass++;                                                                             \
        } else {                                                                                   \
            tu_fail++;                                                                             \
            fprintf(stderr, "%s:%d: %s = %s, want %s\n", __FILE__, __LINE__, #expr,                \
                    mhsld_cxl_rc_name(rc_), mhsld_cxl_rc_name(want));                              \
        }                                                                                          \
    } while (0)

static uint8_t out[MHSLD_MBOX_PAYLOAD_MAX];
static size_t out_len;

static int exec(const mhsld_mbox_ctx *c, uint16_t op, const uint8_t *in, size_t len)
{
    return mhsld_mbox_execute(c, op, len ? in : NULL, len, out, sizeof(out), &out_len);
}

static int fm_add_shared(const mhsld_mbox_ctx *c, uint16_t host, mhsld_extent e, const uint8_t *tag,
                         uint16_t seq)
{
    static mhsld_mbox_dc_add_in q;
    uint8_t b[0x20 + 0x28];
    size_t n = 0;
    memset(&q, 0, sizeof(q));
    q.host = host;
    q.policy = MHSLD_MBOX_POLICY_SHARED;
    q.region = 1;
    q.length = e.len;
    memcpy(q.tag, tag, 16);
    q.count = 1;
    q.ext[0].dpa = e.dpa;
    q.ext[0].len = e.len;
    memcpy(q.ext[0].tag, tag, 16);
    q.ext[0].shared_seq = seq;
    REQUIRE(mhsld_mbox_dc_add_in_encode(&q, b, sizeof(b), &n) == OKC);
    return exec(c, MHSLD_MBOX_OP_INITIATE_DC_ADD, b, n);
}

static int fm_release_tag(const mhsld_mbox_ctx *c, uint16_t host, const uint8_t *tag)
{
    static mhsld_mbox_dc_release_in q;
    uint8_t b[0x20];
    size_t n = 0;
    memset(&q, 0, sizeof(q));
    q.host = host;
    q.flags = MHSLD_MBOX_REMOVAL_TAG | MHSLD_MBOX_RELEASE_FORCED;
    memcpy(q.tag, tag, 16);
    REQUIRE(mhsld_mbox_dc_release_in_encode(&q, b, sizeof(b), &n) == OKC);
    return exec(c, MHSLD_MBOX_OP_INITIATE_DC_RELEASE, b, n);
}

static int list_tags(const mhsld_mbox_ctx *c, uint32_t start, uint32_t count,
                     mhsld_mbox_dc_list_tags_out *r)
{
    uint8_t b[8];
    mhsld_st32(b, start);
    mhsld_st32(b + 4, count);
    int rc = exec(c, MHSLD_MBOX_OP_DC_LIST_TAGS, b, 8);
    if (rc == OKC)
        CHECK_RC(mhsld_mbox_dc_list_tags_out_decode(out, out_len, r), OKC);
    return rc;
}

/* Shared table and block states (with their generations) of the sharable
 * region, for "a failing command changes nothing". */
typedef struct look {
    size_t n;
    mhsld_shared_info si[MHSLD_MAX_SHARED];
    mhsld_block_info b[NBLK];
} look;

static void take(mhsld_state *st, look *l)
{
    memset(l, 0, sizeof(*l));
    l->n = shared(st, l->si);
    for (uint64_t i = 0; i < NBLK; i++)
        REQUIRE(mhsld_block_info_get(st, NBLK + i, &l->b[i]) == MHSLD_OK);
}

#define CHECK_NO_CHANGE(st, expr, want)                                                            \
    do {                                                                                           \
        static look a_, b_;                                                                        \
        take((st), &a_);                                                                           \
        CHECK_RC(expr, want);                                                                      \
        take((st), &b_);                                                                           \
        CHECK(memcmp(&a_, &b_, sizeof(a_)) == 0);                                                  \
        CHECK(out_len == 0);                                                                       \
    } while (0)

static void test_mailbox(void)
{
    mhsld_state *st = make("tags-mbox");
    mhsld_head *h[3] = {tu_attach(st, 0), tu_attach(st, 1), tu_attach(st, 2)};
    mhsld_mbox_ctx c;
    mhsld_mbox_ctx_init(&c, st, h[0]);
    for (int i = 0; i < 3; i++)
        c.heads[i] = h[i];
    mhsld_extent e = {SH + 16 * BS, 2 * BS};
    static mhsld_mbox_dc_list_tags_out r;

    /* 5604h enable-shared-access carries the sequence; a joiner with
     * another one is refused and changes nothing */
    CHECK_RC(fm_add_shared(&c, 0, e, TAG_A, 5), OKC);
    CHECK_RC(fm_add_shared(&c, 1, e, TAG_A, 5), OKC);
    CHECK_NO_CHANGE(st, fm_add_shared(&c, 2, e, TAG_A, 6), MHSLD_CXL_INVALID_EXTENT_LIST);

    /* 4801h (head 0's own mailbox) and 5603h (host 1) report it */
    uint8_t q[12] = {0};
    static mhsld_mbox_dc_extents_out x;
    mhsld_st32(q, 8);
    CHECK_RC(exec(&c, MHSLD_MBOX_OP_GET_DC_EXTENT_LIST, q, 8), OKC);
    CHECK_RC(mhsld_mbox_dc_extents_out_decode(out, out_len, &x), OKC);
    CHECK(x.returned == 1 && x.ext[0].dpa == e.dpa && x.ext[0].shared_seq == 5 &&
          memcmp(x.ext[0].tag, TAG_A, 16) == 0);
    static mhsld_mbox_region_extents_out y;
    memset(q, 0, sizeof(q));
    mhsld_st16(q, 1);
    mhsld_st32(q + 4, 8);
    CHECK_RC(exec(&c, MHSLD_MBOX_OP_GET_DC_REGION_EXTENTS, q, 12), OKC);
    CHECK_RC(mhsld_mbox_region_extents_out_decode(out, out_len, &y), OKC);
    CHECK(y.returned == 1 && y.ext[0].shared_seq == 5);

    /* 5608h: one tag, shared by hosts 0 and 1, no FM reference */
    CHECK_RC(list_tags(&c, 0, 8, &r), OKC);
    CHECK(r.total == 1 && r.returned == 1 && memcmp(r.tag[0].tag, TAG_A, 16) == 0);
    CHECK(r.tag[0].flags == 0 && r.tag[0].ref_bitmap[0] == 0x03);
    CHECK(r.validity == (MHSLD_MBOX_TAGS_REF_VALID | MHSLD_MBOX_TAGS_PENDING_VALID));
    uint8_t zero[32] = {0};
    CHECK(memcmp(r.tag[0].pending_bitmap, zero, 32) == 0);
    uint32_t gen0 = r.generation;
    CHECK_RC(list_tags(&c, 0, 8, &r), OKC);
    CHECK(r.generation == gen0); /* nothing changed, same generation */

    /* 5607h without a reference; 5606h on an unknown tag; wrong lengths */
    uint8_t t[17];
    memcpy(t, TAG_A, 16);
    t[16] = 0;
    CHECK_NO_CHANGE(st, exec(&c, MHSLD_MBOX_OP_DC_REMOVE_REFERENCE, t, 16), INV);
    CHECK_NO_CHANGE(st, exec(&c, MHSLD_MBOX_OP_DC_ADD_REFERENCE, TAG_B, 16), INV);
    CHECK_NO_CHANGE(st, exec(&c, MHSLD_MBOX_OP_DC_ADD_REFERENCE, t, 15), IPL);
    CHECK_NO_CHANGE(st, exec(&c, MHSLD_MBOX_OP_DC_ADD_REFERENCE, t, 17), IPL);
    CHECK_NO_CHANGE(st, exec(&c, MHSLD_MBOX_OP_DC_REMOVE_REFERENCE, t, 0), IPL);
    CHECK_NO_CHANGE(st, exec(&c, MHSLD_MBOX_OP_DC_LIST_TAGS, t, 7), IPL);

    /* 5606h: the FM's reference shows in 5608h (flags) and moves the
     * generation; a second one is refused */
    CHECK_RC(exec(&c, MHSLD_MBOX_OP_DC_ADD_REFERENCE, TAG_A, 16), OKC);
    CHECK(out_len == 0);
    CHECK_NO_CHANGE(st, exec(&c, MHSLD_MBOX_OP_DC_ADD_REFERENCE, TAG_A, 16), INV);
    CHECK_RC(list_tags(&c, 0, 8, &r), OKC);
    CHECK(r.total == 1 && r.tag[0].flags == MHSLD_MBOX_TAG_FM_REF && r.generation != gen0);

    /* both hosts' capacity is force-released by tag: the blocks stay for
     * the FM's reference; 5608h still lists the tag, with no sharer */
    CHECK_RC(fm_release_tag(&c, 0, TAG_A), OKC);
    CHECK_RC(fm_release_tag(&c, 1, TAG_A), OKC);
    CHECK(blk_state(st, e.dpa, NULL) == MHSLD_BLOCK_SHARED);
    CHECK_RC(list_tags(&c, 0, 8, &r), OKC);
    CHECK(r.total == 1 && r.tag[0].flags == MHSLD_MBOX_TAG_FM_REF && r.tag[0].ref_bitmap[0] == 0);
    CHECK_RC(exec(&c, MHSLD_MBOX_OP_GET_DC_EXTENT_LIST, (const uint8_t[8]){8}, 8), OKC);
    CHECK_RC(mhsld_mbox_dc_extents_out_decode(out, out_len, &x), OKC);
    CHECK(x.total == 0);

    /* paging and the buffer: start == total gives none, start past it is
     * refused, a header-only buffer gives none with the right total */
    CHECK_RC(list_tags(&c, 1, 8, &r), OKC);
    CHECK(r.returned == 0 && r.total == 1);
    CHECK_NO_CHANGE(st, list_tags(&c, 2, 8, &r), INV);
    CHECK_RC(list_tags(&c, 0, 0, &r), OKC);
    CHECK(r.returned == 0 && r.total == 1);
    uint8_t lt[8] = {0, 0, 0, 0, 8, 0, 0, 0};
    uint8_t small[0x10 + 0x53];
    size_t sl = 0;
    CHECK_RC(mhsld_mbox_execute(&c, MHSLD_MBOX_OP_DC_LIST_TAGS, lt, 8, small, sizeof(small), &sl),
             OKC);
    CHECK(sl == 0x10 && mhsld_ld32(small + 8) == 0 && mhsld_ld32(small + 4) == 1);
    CHECK_RC(mhsld_mbox_execute(&c, MHSLD_MBOX_OP_DC_LIST_TAGS, lt, 8, small, 0x0F, &sl),
             MHSLD_CXL_INTERNAL_ERROR);

    /* 5607h frees the capacity; the tag is gone; a second remove refused */
    CHECK_RC(exec(&c, MHSLD_MBOX_OP_DC_REMOVE_REFERENCE, TAG_A, 16), OKC);
    CHECK(blk_state(st, e.dpa, NULL) == MHSLD_BLOCK_FREE);
    CHECK_RC(list_tags(&c, 0, 8, &r), OKC);
    CHECK(r.total == 0 && r.returned == 0);
    CHECK_NO_CHANGE(st, exec(&c, MHSLD_MBOX_OP_DC_REMOVE_REFERENCE, TAG_A, 16), INV);
    CHECK_VALID(st);

    /* several tags: distinct tags listed once, sharers merged per tag */
    mhsld_extent e2 = {SH + 24 * BS, BS}, e3 = {SH + 26 * BS, BS};
    CHECK_RC(fm_add_shared(&c, 0, e, TAG_A, 0), OKC);
    CHECK_RC(fm_add_shared(&c, 2, e2, TAG_A, 1), OKC);
    CHECK_RC(fm_add_shared(&c, 1, e3, TAG_B, 0), OKC);
    CHECK_RC(list_tags(&c, 0, 8, &r), OKC);
    CHECK(r.total == 2 && r.returned == 2);
    for (uint32_t i = 0; i < r.returned; i++) {
        if (memcmp(r.tag[i].tag, TAG_A, 16) == 0)
            CHECK(r.tag[i].ref_bitmap[0] == 0x05);
        else
            CHECK(memcmp(r.tag[i].tag, TAG_B, 16) == 0 && r.tag[i].ref_bitmap[0] == 0x02);
    }
    CHECK_RC(list_tags(&c, 1, 1, &r), OKC);
    CHECK(r.total == 2 && r.returned == 1);

    /* a context with no head to act through: 5606h/5607h cannot run,
     * 5608h can */
    mhsld_mbox_ctx none;
    mhsld_mbox_ctx_init(&none, st, NULL);
    CHECK_NO_CHANGE(st, exec(&none, MHSLD_MBOX_OP_DC_ADD_REFERENCE, TAG_A, 16),
                    MHSLD_CXL_INTERNAL_ERROR);
    CHECK_RC(list_tags(&none, 0, 8, &r), OKC);
    CHECK(r.total == 2);
    /* an FM-only context (no self) acts through its first head */
    mhsld_mbox_ctx fm;
    mhsld_mbox_ctx_init(&fm, st, NULL);
    fm.heads[2] = h[2];
    CHECK_RC(exec(&fm, MHSLD_MBOX_OP_DC_ADD_REFERENCE, TAG_B, 16), OKC);
    CHECK_OK(mhsld_release_all(h[1], NULL));
    CHECK(blk_state(st, e3.dpa, NULL) == MHSLD_BLOCK_SHARED);
    CHECK_RC(exec(&fm, MHSLD_MBOX_OP_DC_REMOVE_REFERENCE, TAG_B, 16), OKC);
    CHECK(blk_state(st, e3.dpa, NULL) == MHSLD_BLOCK_FREE);

    for (int i = 0; i < 3; i++)
        CHECK_OK(mhsld_release_all(h[i], NULL));
    CHECK_VALID(st);
    for (int i = 0; i < 3; i++)
        mhsld_detach(h[i]);
    mhsld_close(st);
}

int main(void)
{
    test_sequence();
    test_fm_ref_engine();
    test_validate_needs_reference();
    test_mailbox();
    for (unsigned i = 0; i < npaths; i++)
        mhsld_destroy(paths[i], true);
    return tu_report("test_tags");
}
