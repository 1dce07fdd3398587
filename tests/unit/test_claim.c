/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mhsld_claim(): free -> OWNED in one journalled operation (issue 15).
 *
 *   - success: the exact state after (every block's info, the head's
 *     counts, its extent list with adjacent extents kept apart, the list
 *     generation, the sequence it takes);
 *   - conflicts with OWNED, PENDING and SHARED blocks of other heads and of
 *     the head itself: MHSLD_E_CONFLICT naming the right block, owner and
 *     state, and nothing changed (every block's info, every head's info,
 *     every byte of the mapping);
 *   - bad arguments, a stale (fenced) handle, a handle inherited by a forked
 *     child, the sequence space used up: refused, nothing changed;
 *   - the promise of the claim paths (claim_held, claim_run, claim_one):
 *     every occupancy word is claimed before any owned-map bit is set, so a
 *     claim that fails in its last word never made an earlier block
 *     accessible, not even for one atomic step.  A crash-point hook
 *     re-armed at every step looks at every block of the request while the
 *     claim runs;
 *   - a claim killed at each of its steps in a child, recovered by another
 *     process: the report names the claim and its direction.
 */
#include <signal.h>
#include <sys/wait.h>

#include "internal.h"
#include "mhsld/fm.h"
#include "mhsld/testing.h"
#include "testutil.h"

#define NBLK 256u              /* region 0: 4 occupancy words */
#define SH_BASE (1024ull * BS) /* region 1 (sharable), after a gap */
#define SH_NBLK 128u           /* region 1: 2 occupancy words */
#define ALL_BLK (NBLK + SH_NBLK)

static mhsld_geometry geometry(void)
{
    mhsld_geometry g;
    mhsld_geometry_init(&g, 3, BS, 0, NBLK * BS);
    g.nr_regions = 2;
    g.regions[1].base = SH_BASE;
    g.regions[1].len = SH_NBLK * BS;
    g.regions[1].flags = MHSLD_REGION_SHARABLE;
    return g;
}

static const uint8_t TAG[MHSLD_TAG_SIZE] = {0xc1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
static const uint8_t TAG2[MHSLD_TAG_SIZE] = {0xc2, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

/* Everything an observer can see: every block's info, every head's info,
 * and the mapping's bytes. */
typedef struct view {
    mhsld_block_info b[ALL_BLK];
    mhsld_head_info h[3];
    uint8_t *bytes;
    size_t len;
} view;

static void look(mhsld_state *st, view *v)
{
    REQUIRE(mhsld_block_count(st) == ALL_BLK);
    for (uint64_t i = 0; i < ALL_BLK; i++)
        REQUIRE(mhsld_block_info_get(st, i, &v->b[i]) == MHSLD_OK);
    for (uint32_t h = 0; h < 3; h++)
        REQUIRE(mhsld_head_info_get(st, h, &v->h[h]) == MHSLD_OK);
    v->len = st->lay.total;
    v->bytes = malloc(v->len);
    REQUIRE(v->bytes != NULL);
    memcpy(v->bytes, st->base, v->len);
}

static void unlook(view *v)
{
    free(v->bytes);
    v->bytes = NULL;
}

/* Nothing changed between a and b: blocks, heads, bytes. */
static int unchanged(const char *what, const view *a, const view *b)
{
    int same = 1;
    for (uint64_t i = 0; i < ALL_BLK; i++)
        if (memcmp(&a->b[i], &b->b[i], sizeof(a->b[i])) != 0) {
            fprintf(stderr,
                    "%s: block %" PRIu64 " changed: state %u->%u owner %u->%u "
                    "start %u->%u gen %#" PRIx64 "->%#" PRIx64 "\n",
                    what, i, a->b[i].state, b->b[i].state, a->b[i].owner, b->b[i].owner,
                    a->b[i].extent_start, b->b[i].extent_start, a->b[i].generation,
                    b->b[i].generation);
            same = 0;
            break;
        }
    for (uint32_t h = 0; h < 3; h++)
        if (memcmp(&a->h[h], &b->h[h], sizeof(a->h[h])) != 0) {
            fprintf(stderr, "%s: head %u's info changed\n", what, h);
            same = 0;
        }
    if (a->len != b->len || memcmp(a->bytes, b->bytes, a->len) != 0) {
        fprintf(stderr, "%s: the mapping's bytes changed\n", what);
        same = 0;
    }
    return same;
}

static mhsld_state *fresh(char *p, size_t len, const char *tag)
{
    tu_path(p, len, tag);
    mhsld_geometry g = geometry();
    return tu_create(p, &g);
}

static uint64_t blk(uint64_t dpa)
{
    return dpa >= SH_BASE ? NBLK + (dpa - SH_BASE) / BS : dpa / BS;
}

/* ---- success ------------------------------------------------------------ */

static void test_success(void)
{
    char p[128];
    mhsld_state *st = fresh(p, sizeof(p), "claim-ok");
    mhsld_head *h0 = tu_attach(st, 0), *h1 = tu_attach(st, 1);
    /* Give every word a generation first (a claim and release by head 1). */
    mhsld_extent warm[6] = {{0, BS},        {64 * BS, BS}, {128 * BS, BS},
                            {192 * BS, BS}, {SH_BASE, BS}, {SH_BASE + 64 * BS, BS}};
    REQUIRE(mhsld_claim(h1, warm, 6, NULL) == MHSLD_OK);
    REQUIRE(mhsld_release(h1, warm, 6, NULL) == MHSLD_OK);

    view before, after;
    look(st, &before);
    /* Unsorted; two adjacent extents; one across words 1-2; one whole word;
     * one in the first word of the sharable region (its second word stays
     * untouched). */
    mhsld_extent e[5] = {{70 * BS, 60 * BS},
                         {7 * BS, 2 * BS},
                         {4 * BS, 3 * BS},
                         {192 * BS, 64 * BS},
                         {SH_BASE + 2 * BS, BS}};
    mhsld_conflict k = {1, 2, 3};
    CHECK_OK(mhsld_claim(h0, e, 5, &k));
    CHECK(k.dpa == 1 && k.owner == 2 && k.state == 3); /* untouched on success */
    look(st, &after);

    /* Every block: claimed ones OWNED by 0, a start at each extent's first
     * block; the generation moved in every word the claim touched; all else
     * exactly as before. */
    uint64_t words_touched = (1ull << 0) | (1ull << 1) | (1ull << 2) | (1ull << 3) | (1ull << 4);
    for (uint64_t i = 0; i < ALL_BLK; i++) {
        int in = 0, start = 0;
        for (size_t x = 0; x < 5; x++) {
            uint64_t b0 = blk(e[x].dpa), n = e[x].len / BS;
            if (i >= b0 && i < b0 + n) {
                in = 1;
                start = i == b0;
            }
        }
        const mhsld_block_info *a = &after.b[i], *b = &before.b[i];
        uint64_t w = i >> 6;
        if (in) {
            CHECK(a->state == MHSLD_BLOCK_OWNED && a->owner == 0 && a->sharers == 0);
            CHECK(a->extent_start == (uint32_t)start);
        } else {
            CHECK(a->state == MHSLD_BLOCK_FREE && a->owner == MHSLD_OWNER_NONE);
            CHECK(a->extent_start == 0);
        }
        CHECK(a->dpa == b->dpa);
        if (words_touched >> w & 1)
            CHECK(a->generation != b->generation && a->generation != 0);
        else
            CHECK(a->generation == b->generation);
    }
    /* The head's counts; one sequence taken; the list generation bumped once. */
    const mhsld_head_info *hi = &after.h[0], *hb = &before.h[0];
    CHECK(hi->owned_blocks == 60 + 2 + 3 + 64 + 1);
    CHECK(hi->pending_blocks == 0 && hi->shared_blocks == 0 && hi->nr_pending == 0);
    CHECK(hi->inflight_op == 0);
    CHECK(hi->list_generation == hb->list_generation + 1);
    CHECK(hi->seqs_left == hb->seqs_left - 1);
    CHECK(memcmp(&after.h[1], &before.h[1], sizeof(after.h[1])) == 0);
    CHECK(memcmp(&after.h[2], &before.h[2], sizeof(after.h[2])) == 0);

    /* The extent list: each claimed extent on its own, even 4+3 and 7+2
     * (adjacent), in DPA order. */
    mhsld_extent got[8];
    size_t ret = 0, total = 0;
    uint32_t gen = 0;
    CHECK_OK(mhsld_extents_get(st, 0, MHSLD_EXT_OWNED, 0, got, NULL, 8, &ret, &total, &gen));
    CHECK(ret == 5 && total == 5 && gen == hi->list_generation);
    const mhsld_extent want[5] = {{4 * BS, 3 * BS},
                                  {7 * BS, 2 * BS},
                                  {70 * BS, 60 * BS},
                                  {192 * BS, 64 * BS},
                                  {SH_BASE + 2 * BS, BS}};
    for (size_t i = 0; i < 5 && i < ret; i++)
        CHECK(got[i].dpa == want[i].dpa && got[i].len == want[i].len);
    CHECK_OK(mhsld_extents_get(st, 0, MHSLD_EXT_ALL, 0, got, NULL, 8, &ret, &total, NULL));
    CHECK(ret == 5 && total == 5);
    CHECK_OK(mhsld_extents_get(st, 0, MHSLD_EXT_PENDING, 0, got, NULL, 8, &ret, &total, NULL));
    CHECK(ret == 0 && total == 0);

    /* Access: the head's, exactly. */
    CHECK(mhsld_access_ok(h0, 4 * BS, 5 * BS));
    CHECK(mhsld_access_ok(h0, 70 * BS, 60 * BS));
    CHECK(mhsld_access_ok(h0, 192 * BS, 64 * BS));
    CHECK(mhsld_access_ok(h0, SH_BASE + 2 * BS, BS));
    CHECK(!mhsld_access_ok(h0, 3 * BS, 2 * BS));
    CHECK(!mhsld_access_ok(h0, 9 * BS, 1));
    CHECK(!mhsld_access_ok(h0, 130 * BS, 1));
    CHECK(!mhsld_access_check(st, 1, 4 * BS, 1));
    CHECK(!mhsld_access_check(st, 2, 192 * BS, 1));
    CHECK_VALID(st);

    /* The blocks are the head's as after reserve + commit: release gives
     * them back, another head may claim them, each claim a new generation. */
    CHECK_ST(mhsld_claim(h1, &e[1], 1, NULL), MHSLD_E_CONFLICT);
    CHECK_ST(mhsld_release(h1, &e[1], 1, NULL), MHSLD_E_NOT_OWNER);
    CHECK_OK(mhsld_release(h0, &e[1], 1, NULL));
    CHECK_OK(mhsld_claim(h1, &e[1], 1, NULL));
    mhsld_block_info bi;
    CHECK_OK(mhsld_block_info_get(st, 7, &bi));
    CHECK(bi.state == MHSLD_BLOCK_OWNED && bi.owner == 1 && bi.extent_start == 1);
    CHECK(bi.generation != after.b[7].generation);
    CHECK(mhsld_access_ok(h1, 7 * BS, 2 * BS) && !mhsld_access_ok(h0, 7 * BS, 1));
    /* release_all frees claimed capacity too. */
    uint64_t freed = 0;
    CHECK_OK(mhsld_release_all(h0, &freed));
    CHECK(freed == 60 + 3 + 64 + 1);
    CHECK_VALID(st);
    unlook(&before);
    unlook(&after);
    mhsld_detach(h0);
    mhsld_detach(h1);
    mhsld_close(st);
    mhsld_destroy(p, true);
}

/* ---- conflicts ------------------------------------------------------------ */

static void test_conflicts(void)
{
    char p[128];
    mhsld_state *st = fresh(p, sizeof(p), "claim-conflict");
    mhsld_head *h[3] = {tu_attach(st, 0), tu_attach(st, 1), tu_attach(st, 2)};
    uint64_t g;
    /* head 1 owns 20-23 and 250, head 2 has 30-31 pending, heads 1 and 2
     * share SH+10..11; head 0 owns 40-41, has 44-45 pending, shares SH+20. */
    mhsld_extent own1[2] = {{20 * BS, 4 * BS}, {250 * BS, BS}}, pend2 = {30 * BS, 2 * BS};
    mhsld_extent sh12 = {SH_BASE + 10 * BS, 2 * BS}, own0 = {40 * BS, 2 * BS};
    mhsld_extent pend0 = {44 * BS, 2 * BS}, sh0 = {SH_BASE + 20 * BS, BS};
    REQUIRE(mhsld_claim(h[1], own1, 2, NULL) == MHSLD_OK);
    REQUIRE(mhsld_reserve(h[2], &pend2, 1, &g, NULL) == MHSLD_OK);
    REQUIRE(mhsld_share_add(h[1], &sh12, TAG, NULL) == MHSLD_OK);
    REQUIRE(mhsld_share_add(h[2], &sh12, TAG, NULL) == MHSLD_OK);
    REQUIRE(tu_claim(h[0], own0.dpa, own0.len) == MHSLD_OK);
    REQUIRE(mhsld_reserve(h[0], &pend0, 1, &g, NULL) == MHSLD_OK);
    REQUIRE(mhsld_share_add(h[0], &sh0, TAG2, NULL) == MHSLD_OK);

    static const struct {
        const char *name;
        mhsld_extent e[3];
        size_t n;
        uint64_t dpa;
        uint32_t owner, state;
    } cases[] = {
        /* free blocks first (in earlier words too), the held one last */
        {"owned by another", {{0, 2 * BS}, {18 * BS, 4 * BS}}, 2, 20 * BS, 1, MHSLD_BLOCK_OWNED},
        {"owned by another, in the last word",
         {{0, BS}, {100 * BS, BS}, {248 * BS, 4 * BS}},
         3,
         250 * BS,
         1,
         MHSLD_BLOCK_OWNED},
        {"pending for another",
         {{200 * BS, BS}, {31 * BS, 2 * BS}},
         2,
         31 * BS,
         2,
         MHSLD_BLOCK_PENDING},
        {"shared by others",
         {{SH_BASE, 4 * BS}, {SH_BASE + 8 * BS, 3 * BS}},
         2,
         SH_BASE + 10 * BS,
         MHSLD_OWNER_SHARED,
         MHSLD_BLOCK_SHARED},
        {"owned by itself", {{36 * BS, 5 * BS}}, 1, 40 * BS, 0, MHSLD_BLOCK_OWNED},
        {"pending for itself", {{45 * BS, 3 * BS}, {0, BS}}, 2, 45 * BS, 0, MHSLD_BLOCK_PENDING},
        {"shared by itself",
         {{SH_BASE + 20 * BS, BS}},
         1,
         SH_BASE + 20 * BS,
         MHSLD_OWNER_SHARED,
         MHSLD_BLOCK_SHARED},
        /* the first held block of the request in DPA order is named */
        {"first held in DPA order",
         {{40 * BS, BS}, {21 * BS, BS}},
         2,
         21 * BS,
         1,
         MHSLD_BLOCK_OWNED},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        /* Every head gets the same answer: the record names the block's
         * holder, whoever asks (the holder itself included). */
        for (uint32_t who = 0; who < 3; who++) {
            view a, b;
            look(st, &a);
            mhsld_conflict k;
            memset(&k, 0xee, sizeof(k));
            mhsld_status s = mhsld_claim(h[who], cases[c].e, cases[c].n, &k);
            look(st, &b);
            if (s != MHSLD_E_CONFLICT || k.dpa != cases[c].dpa || k.owner != cases[c].owner ||
                k.state != cases[c].state)
                fprintf(stderr, "%s (head %u): %s, conflict dpa %#" PRIx64 " owner %#x state %u\n",
                        cases[c].name, who, mhsld_status_name(s), k.dpa, k.owner, k.state);
            CHECK_ST(s, MHSLD_E_CONFLICT);
            CHECK(k.dpa == cases[c].dpa && k.owner == cases[c].owner && k.state == cases[c].state);
            CHECK(unchanged(cases[c].name, &a, &b));
            /* No conflict record wanted: the same refusal. */
            CHECK_ST(mhsld_claim(h[who], cases[c].e, cases[c].n, NULL), MHSLD_E_CONFLICT);
            unlook(&b);
            look(st, &b);
            CHECK(unchanged(cases[c].name, &a, &b));
            unlook(&a);
            unlook(&b);
        }
    }
    /* The free blocks of those requests are still free: claimable. */
    mhsld_extent fr[3] = {{0, 2 * BS}, {18 * BS, 2 * BS}, {SH_BASE, 4 * BS}};
    CHECK_OK(mhsld_claim(h[0], fr, 3, NULL));
    CHECK(tu_block_state(st, 20 * BS, NULL) == MHSLD_BLOCK_OWNED);
    CHECK_VALID(st);
    for (uint32_t i = 0; i < 3; i++)
        mhsld_detach(h[i]);
    mhsld_close(st);
    mhsld_destroy(p, true);
}

/* ---- refusals before anything is written ----------------------------------- */

static void test_bad_arguments(void)
{
    char p[128];
    mhsld_state *st = fresh(p, sizeof(p), "claim-args");
    mhsld_head *h0 = tu_attach(st, 0), *h1 = tu_attach(st, 1);
    REQUIRE(tu_claim(h1, 200 * BS, 2 * BS) == MHSLD_OK);
    static mhsld_extent many[MHSLD_MAX_EXTENTS + 1];
    for (size_t i = 0; i < MHSLD_MAX_EXTENTS + 1; i++)
        many[i] = tu_ext(i * BS, BS);
    static const struct {
        const char *name;
        mhsld_extent e[3];
        size_t n;
        mhsld_status want;
    } cases[] = {
        {"unaligned dpa", {{BS / 2, BS}}, 1, MHSLD_E_ALIGN},
        {"unaligned len", {{0, BS + 4096}}, 1, MHSLD_E_ALIGN},
        {"unaligned last extent", {{0, BS}, {4 * BS, BS}, {8 * BS + 512, BS}}, 3, MHSLD_E_ALIGN},
        {"zero length", {{0, BS}, {4 * BS, 0}}, 2, MHSLD_E_ZERO_LEN},
        {"past the end", {{(NBLK - 1) * BS, 2 * BS}}, 1, MHSLD_E_RANGE},
        {"in the gap", {{0, BS}, {(NBLK + 4) * BS, BS}}, 2, MHSLD_E_RANGE},
        {"past the sharable region", {{SH_BASE + (SH_NBLK - 1) * BS, 2 * BS}}, 1, MHSLD_E_RANGE},
        {"overflow", {{UINT64_MAX - BS + 1, 2 * BS}}, 1, MHSLD_E_RANGE},
        {"the same extent twice", {{4 * BS, BS}, {4 * BS, BS}}, 2, MHSLD_E_OVERLAP},
        {"overlap inside the request",
         {{0, 4 * BS}, {10 * BS, BS}, {3 * BS, 2 * BS}},
         3,
         MHSLD_E_OVERLAP},
        {"overlap and a conflict", {{196 * BS, 8 * BS}, {202 * BS, BS}}, 2, MHSLD_E_OVERLAP},
    };
    view a, b;
    look(st, &a);
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        mhsld_status s = mhsld_claim(h0, cases[c].e, cases[c].n, NULL);
        if (s != cases[c].want)
            fprintf(stderr, "%s: %s\n", cases[c].name, mhsld_status_name(s));
        CHECK_ST(s, cases[c].want);
        look(st, &b);
        CHECK(unchanged(cases[c].name, &a, &b));
        unlook(&b);
    }
    mhsld_extent one = {0, BS};
    mhsld_conflict k;
    CHECK_ST(mhsld_claim(NULL, &one, 1, &k), MHSLD_E_INVAL);
    CHECK_ST(mhsld_claim(h0, NULL, 1, &k), MHSLD_E_INVAL);
    CHECK_ST(mhsld_claim(h0, &one, 0, &k), MHSLD_E_ZERO_LEN);
    CHECK_ST(mhsld_claim(h0, NULL, 0, &k), MHSLD_E_ZERO_LEN);
    CHECK_ST(mhsld_claim(h0, many, MHSLD_MAX_EXTENTS + 1, &k), MHSLD_E_TOO_MANY);
    CHECK_ST(mhsld_claim(h0, many, SIZE_MAX, &k), MHSLD_E_TOO_MANY);
    look(st, &b);
    CHECK(unchanged("NULL, n = 0, n > MAX", &a, &b));
    unlook(&b);
    /* MHSLD_MAX_EXTENTS is allowed (and 128 separate extents listed). */
    CHECK_OK(mhsld_claim(h0, many, MHSLD_MAX_EXTENTS, NULL));
    mhsld_head_info hi;
    CHECK_OK(mhsld_head_info_get(st, 0, &hi));
    CHECK(hi.owned_blocks == MHSLD_MAX_EXTENTS);
    size_t ret = 0, total = 0;
    CHECK_OK(mhsld_extents_get(st, 0, MHSLD_EXT_OWNED, 0, NULL, NULL, 0, &ret, &total, NULL));
    CHECK(total == MHSLD_MAX_EXTENTS);
    CHECK_VALID(st);
    unlook(&a);
    mhsld_detach(h0);
    mhsld_detach(h1);
    mhsld_close(st);
    mhsld_destroy(p, true);
}

/* A fenced handle, a sequence space used up. */
static void test_stale_and_nospace(void)
{
    char p[128];
    mhsld_state *st = fresh(p, sizeof(p), "claim-stale");
    mhsld_head *h0 = tu_attach(st, 0);
    mhsld_extent e = {0, 2 * BS}, f = {8 * BS, BS};
    CHECK_OK(mhsld_claim(h0, &e, 1, NULL));
    mhsld_recover_report rep;
    CHECK_OK(mhsld_recover(st, 0, MHSLD_RECOVER_FORCE | MHSLD_RECOVER_KEEP, &rep));
    view a, b;
    look(st, &a);
    CHECK_ST(mhsld_claim(h0, &f, 1, NULL), MHSLD_E_STALE);
    look(st, &b);
    CHECK(unchanged("stale handle", &a, &b));
    unlook(&a);
    unlook(&b);
    mhsld_detach(h0);
    h0 = tu_attach(st, 0);
    CHECK_OK(mhsld_claim(h0, &f, 1, NULL));
    CHECK(mhsld_access_ok(h0, 0, 2 * BS) && mhsld_access_ok(h0, 8 * BS, BS));

    /* The last sequence: one claim more, then MHSLD_E_NOSPACE. */
    mhsld_detach(h0);
    st->heads[0].seq = MHSLD__SEQ_MASK - 1;
    h0 = tu_attach(st, 0);
    mhsld_extent x = {16 * BS, BS}, y = {20 * BS, BS};
    CHECK_OK(mhsld_claim(h0, &x, 1, NULL));
    mhsld_head_info hi;
    CHECK_OK(mhsld_head_info_get(st, 0, &hi));
    CHECK(hi.seqs_left == 0);
    look(st, &a);
    CHECK_ST(mhsld_claim(h0, &y, 1, NULL), MHSLD_E_NOSPACE);
    look(st, &b);
    CHECK(unchanged("sequences used up", &a, &b));
    unlook(&a);
    unlook(&b);
    CHECK_VALID(st);
    mhsld_detach(h0);
    mhsld_close(st);
    mhsld_destroy(p, true);
}

/* A forked child's inherited handle is fenced: its claim is refused. */
static void test_fork(void)
{
    char p[128];
    mhsld_state *st = fresh(p, sizeof(p), "claim-fork");
    mhsld_head *h0 = tu_attach(st, 0);
    mhsld_extent e = {0, 2 * BS}, f = {8 * BS, 4 * BS};
    CHECK_OK(mhsld_claim(h0, &e, 1, NULL));
    view a, b;
    look(st, &a);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        mhsld_conflict k;
        mhsld_status s = mhsld_claim(h0, &f, 1, &k);
        int bad = (s != MHSLD_E_STALE) | (mhsld_access_ok(h0, 0, BS) ? 2 : 0) |
                  (mhsld_access_ok(h0, 8 * BS, BS) ? 4 : 0);
        _exit(bad);
    }
    int ws = 0;
    REQUIRE(waitpid(pid, &ws, 0) == pid);
    CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
        fprintf(stderr, "fork: child's claim not refused (exit %d)\n", WEXITSTATUS(ws));
    look(st, &b);
    CHECK(unchanged("claim in a forked child", &a, &b));
    unlook(&a);
    unlook(&b);
    /* The parent's handle is untouched by the fork. */
    CHECK_OK(mhsld_claim(h0, &f, 1, NULL));
    CHECK(mhsld_access_ok(h0, 8 * BS, 4 * BS));
    CHECK_VALID(st);
    mhsld_detach(h0);
    mhsld_close(st);
    mhsld_destroy(p, true);
}

/* ---- never accessible before every word is claimed ----------------------- */

/* Three requests, one for each of the engine's claim paths: four extents
 * in four words (the general path), one extent over four words (the
 * one-extent run), one extent inside one word (the one-word path).  Head 1
 * takes `hold`, in the request's last word, at the claim's first atomic
 * step (after its side-effect-free pre-check), so the claim fails there;
 * `rest` is the request without it. */
typedef struct early_case {
    const char *name;
    mhsld_extent e[4];
    size_t n;
    mhsld_extent hold;
    mhsld_extent rest[4];
    size_t nrest;
    uint64_t min_steps; /* of the failing claim */
} early_case;

static const early_case EARLY[] = {
    {"four extents in four words",
     {{2 * BS, 8 * BS}, {64 * BS, 4 * BS}, {130 * BS, 2 * BS}, {200 * BS, BS}},
     4,
     {200 * BS, BS},
     {{2 * BS, 8 * BS}, {64 * BS, 4 * BS}, {130 * BS, 2 * BS}},
     3,
     10},
    {"one extent over four words",
     {{2 * BS, 198 * BS}},
     1,
     {199 * BS, BS},
     {{2 * BS, 197 * BS}},
     1,
     10},
    {"one extent in one word", {{130 * BS, 6 * BS}}, 1, {135 * BS, BS}, {{130 * BS, 5 * BS}}, 1, 4},
};

typedef struct probe {
    mhsld_state *st;
    const early_case *ec;
    mhsld_head *h1;       /* interferes at step 1 (or NULL) */
    uint64_t steps;       /* steps looked at */
    uint64_t early;       /* steps where a block was accessible before the last word was claimed */
    uint64_t owned_seen;  /* steps where a block read OWNED by head 0 */
    uint64_t access_seen; /* steps where a block was accessible to head 0 */
    uint64_t last_gen0;   /* the last word's generation before the claim */
} probe;

static void probe_step(void *arg)
{
    probe *pr = arg;
    const early_case *ec = pr->ec;
    if (pr->h1 && pr->steps == 0)
        REQUIRE(mhsld_claim(pr->h1, &ec->hold, 1, NULL) == MHSLD_OK);
    pr->steps++;
    mhsld_block_info bi;
    REQUIRE(mhsld_block_info_get(pr->st, blk(ec->hold.dpa), &bi) == MHSLD_OK);
    /* The last word is claimed by head 0 once its generation is head 0's
     * (tag (head + 1) << 34 | seq: 1 << 34 .. 2 << 34). */
    int last_claimed = bi.generation != pr->last_gen0 && (bi.generation >> 34) == 1;
    unsigned any_access = 0, any_owned = 0;
    for (size_t x = 0; x < ec->n; x++) {
        for (uint64_t off = 0; off < ec->e[x].len; off += BS) {
            uint64_t dpa = ec->e[x].dpa + off;
            if (mhsld_access_check(pr->st, 0, dpa, BS) || mhsld_access_check(pr->st, 0, dpa, 1))
                any_access = 1;
            REQUIRE(mhsld_block_info_get(pr->st, blk(dpa), &bi) == MHSLD_OK);
            if (bi.state == MHSLD_BLOCK_OWNED && bi.owner == 0)
                any_owned = 1;
        }
    }
    pr->access_seen += any_access;
    pr->owned_seen += any_owned;
    if ((any_access || any_owned) && !last_claimed)
        pr->early++;
    mhsld_test_crash_at(1, probe_step, pr); /* and the next step */
}

static void test_never_accessible_early(void)
{
    for (size_t c = 0; c < sizeof(EARLY) / sizeof(EARLY[0]); c++) {
        const early_case *ec = &EARLY[c];
        for (int fail = 1; fail >= 0; fail--) {
            char p[128];
            mhsld_state *st = fresh(p, sizeof(p), "claim-early");
            mhsld_head *h0 = tu_attach(st, 0), *h1 = tu_attach(st, 1);
            view a, b;
            look(st, &a);
            probe pr = {st, ec, fail ? h1 : NULL, 0, 0, 0, 0, a.b[blk(ec->hold.dpa)].generation};
            mhsld_conflict k;
            memset(&k, 0xee, sizeof(k));
            mhsld_test_crash_at(1, probe_step, &pr);
            mhsld_status s = mhsld_claim(h0, ec->e, ec->n, &k);
            mhsld_test_crash_at(0, NULL, NULL);
            look(st, &b);
            printf("claim of %s %s: %" PRIu64 " steps looked at, %" PRIu64 " with access, %" PRIu64
                   " too early\n",
                   ec->name, fail ? "failing in its last word" : "succeeding", pr.steps,
                   pr.access_seen, pr.early);
            /* The probe saw the whole operation: the claims, their progress
             * stores, the undo's (failing) or the maps' (succeeding) steps. */
            CHECK(pr.steps >= ec->min_steps);
            CHECK(pr.early == 0);
            if (fail) {
                CHECK_ST(s, MHSLD_E_CONFLICT);
                CHECK(k.dpa == ec->hold.dpa && k.owner == 1 && k.state == MHSLD_BLOCK_OWNED);
                CHECK(pr.access_seen == 0 && pr.owned_seen == 0);
                /* Afterwards: nothing of head 0, head 1 owns its block,
                 * every other block as before (generations moved where the
                 * claim and its undo went). */
                for (uint64_t i = 0; i < ALL_BLK; i++) {
                    if (i == blk(ec->hold.dpa)) {
                        CHECK(b.b[i].state == MHSLD_BLOCK_OWNED && b.b[i].owner == 1);
                        continue;
                    }
                    CHECK(b.b[i].state == a.b[i].state && b.b[i].owner == a.b[i].owner &&
                          b.b[i].extent_start == a.b[i].extent_start);
                }
                CHECK(b.h[0].owned_blocks == 0 && b.h[0].list_generation == a.h[0].list_generation);
                CHECK(b.h[0].inflight_op == 0);
                for (size_t x = 0; x < ec->nrest; x++)
                    CHECK(!mhsld_access_ok(h0, ec->rest[x].dpa, ec->rest[x].len));
                CHECK_OK(mhsld_claim(h0, ec->rest, ec->nrest, NULL)); /* all still free */
            } else {
                /* The control: the probe does see access, once every word
                 * is claimed (so it could have seen it early). */
                CHECK_OK(s);
                CHECK(pr.access_seen > 0 && pr.owned_seen > 0);
                for (size_t x = 0; x < ec->n; x++)
                    CHECK(mhsld_access_ok(h0, ec->e[x].dpa, ec->e[x].len));
            }
            CHECK_VALID(st);
            unlook(&a);
            unlook(&b);
            mhsld_detach(h0);
            mhsld_detach(h1);
            mhsld_close(st);
            mhsld_destroy(p, true);
        }
    }
}

/* ---- killed at every step, recovered by another process ------------------ */

/* The journal as a full one-range publication leaves it: what recovery of
 * a head killed inside `op` on range [start, start + count) would read. */
static void check_journal1(mhsld_state *st, uint32_t op, uint64_t start, uint64_t count,
                           const char *what)
{
    const mhsld__journal *j = &st->heads[0].j;
    uint64_t seq = mhsld__load64(&st->heads[0].jprog) >> 24;
    int ok = j->op == op && j->n == 1 && j->nacc == 0 && j->slot == MHSLD__NOSLOT &&
             j->gslot == 0 && j->group == 0 && j->undo == 0 && j->seq == seq &&
             j->r[0].start == start && j->r[0].count == count;
    if (!ok)
        fprintf(stderr,
                "%s: journal op %u n %u nacc %u slot %u gslot %u group %llu undo %llu seq %llu "
                "(progress %llu) r %llu+%llu\n",
                what, j->op, j->n, j->nacc, j->slot, j->gslot, (unsigned long long)j->group,
                (unsigned long long)j->undo, (unsigned long long)j->seq, (unsigned long long)seq,
                (unsigned long long)j->r[0].start, (unsigned long long)j->r[0].count);
    CHECK(ok);
}

typedef struct jctx {
    mhsld_state *st;
    uint32_t op;
    uint64_t start, count;
    const char *what;
    mhsld_head *h2; /* interferes instead when set */
    int ran;
} jctx;

/* At the crash point after the journal's op store: check the journal. */
static void journal_hook(void *arg)
{
    jctx *c = arg;
    c->ran = 1;
    if (c->h2) {
        REQUIRE(tu_claim(c->h2, 195 * BS, BS) == MHSLD_OK);
        return;
    }
    check_journal1(c->st, c->op, c->start, c->count, c->what);
}

/* Step k of h0's next call runs the hook. */
static void at_step(uint64_t k, jctx *c)
{
    c->ran = 0;
    mhsld_test_crash_at(k, journal_hook, c);
}

/* A one-range claim or release right after another of the same handle
 * leaves the journal fields that already hold its values unwritten
 * (journal_publish1).  At the instant its op is published (where a head
 * killed next is recovered from it) the journal must read exactly as a full
 * publication: after one-range operations, after a general one (several
 * ranges, a reservation and its commit), after a one-range claim that met
 * another head's block after its pre-check and undid (UNDO writes the undo
 * count), and after a forced release acted as the head. */
static void test_journal_one_range(void)
{
    char p[128];
    mhsld_state *st = fresh(p, sizeof(p), "claim-j1");
    mhsld_head *h0 = tu_attach(st, 0), *h2 = tu_attach(st, 2);
    jctx c = {st, 0, 0, 0, NULL, NULL, 0};
    /* Step 1 stores the sequence, step 2 the journal's op; step 3 is the
     * first after it (claim_one, claim_run, release_one, release_run). */
    const uint64_t k_op = 3;
    struct {
        uint32_t op;
        uint64_t first, n;
    } seq1[] = {{MHSLD__OP_CLAIM, 2, 4},   {MHSLD__OP_RELEASE, 2, 4}, {MHSLD__OP_CLAIM, 2, 4},
                {MHSLD__OP_RELEASE, 3, 1}, {MHSLD__OP_CLAIM, 60, 80}, {MHSLD__OP_RELEASE, 60, 80},
                {MHSLD__OP_RELEASE, 2, 1}, {MHSLD__OP_RELEASE, 4, 2}};
    for (size_t i = 0; i < sizeof(seq1) / sizeof(seq1[0]); i++) {
        mhsld_extent e = {seq1[i].first * BS, seq1[i].n * BS};
        c.op = seq1[i].op;
        c.start = seq1[i].first;
        c.count = seq1[i].n;
        c.what = "one-range after one-range";
        at_step(k_op, &c);
        if (seq1[i].op == MHSLD__OP_CLAIM)
            CHECK_OK(mhsld_claim(h0, &e, 1, NULL));
        else
            CHECK_OK(mhsld_release(h0, &e, 1, NULL));
        CHECK(c.ran);
    }
    /* A general operation (two ranges, a reservation, its commit). */
    mhsld_extent two[2] = {{10 * BS, 2 * BS}, {70 * BS, 3 * BS}};
    uint64_t g = 0;
    CHECK_OK(mhsld_reserve(h0, two, 2, &g, NULL));
    CHECK_OK(mhsld_commit(h0, g, two, 2));
    mhsld_extent e = {20 * BS, 2 * BS};
    c = (jctx){st, MHSLD__OP_CLAIM, 20, 2, "claim after a commit", NULL, 0};
    at_step(k_op, &c);
    CHECK_OK(mhsld_claim(h0, &e, 1, NULL));
    CHECK(c.ran);
    /* A claim over words 2-3 that meets head 2's block 195 after its
     * pre-check (head 2 claims it at the claim's first step): word 2 is
     * claimed, then given back under UNDO. */
    mhsld_extent run = {130 * BS, 70 * BS};
    c = (jctx){st, 0, 0, 0, "interference", h2, 0};
    at_step(1, &c);
    CHECK(mhsld_claim(h0, &run, 1, NULL) == MHSLD_E_CONFLICT);
    CHECK(c.ran);
    CHECK(st->heads[0].j.undo != 0);
    c = (jctx){st, MHSLD__OP_CLAIM, 130, 4, "claim after an undo", NULL, 0};
    at_step(k_op, &c);
    mhsld_extent e2 = {130 * BS, 4 * BS};
    CHECK_OK(mhsld_claim(h0, &e2, 1, NULL));
    CHECK(c.ran);
    /* An outsider acting as head 0 (forced release of one of its extents),
     * then the head's next release. */
    mhsld_extent f = {20 * BS, 2 * BS};
    CHECK_OK(mhsld_fm_force_release(st, 0, &f, 1, 1000, NULL));
    c = (jctx){st, MHSLD__OP_RELEASE, 130, 4, "release after a forced release", NULL, 0};
    at_step(k_op, &c);
    CHECK_OK(mhsld_release(h0, &e2, 1, NULL));
    CHECK(c.ran);
    mhsld_test_crash_at(0, NULL, NULL);
    CHECK_VALID(st);
    mhsld_detach(h2);
    mhsld_detach(h0);
    mhsld_close(st);
    mhsld_destroy(p, true);
}

static void die(void *arg)
{
    (void)arg;
    raise(SIGKILL);
}

static void test_killed_claim_report(void)
{
    char p[128];
    mhsld_state *st = fresh(p, sizeof(p), "claim-kill");
    mhsld_head *h1 = tu_attach(st, 1);
    REQUIRE(tu_claim(h1, 100 * BS, BS) == MHSLD_OK);
    mhsld_extent e[3] = {{2 * BS, 4 * BS}, {66 * BS, 2 * BS}, {SH_BASE + 4 * BS, 2 * BS}};
    unsigned forward = 0, back = 0;
    uint64_t k;
    for (k = 1; k < 200; k++) {
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            mhsld_head *h0 = tu_child_attach(st, 0);
            mhsld_test_crash_at(k, die, NULL);
            _exit(mhsld_claim(h0, e, 3, NULL) == MHSLD_OK ? 0 : 4);
        }
        int ws = 0;
        REQUIRE(waitpid(pid, &ws, 0) == pid);
        int killed = WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL;
        if (!killed)
            CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
        mhsld_recover_report rep;
        CHECK_OK(mhsld_recover(st, 0, MHSLD_RECOVER_KEEP, &rep));
        mhsld_head_info hi;
        CHECK_OK(mhsld_head_info_get(st, 0, &hi));
        int after = hi.owned_blocks == 8;
        CHECK(after || hi.owned_blocks == 0);
        if (rep.op) {
            CHECK(strcmp(mhsld_op_name(rep.op), "claim") == 0);
            CHECK(rep.rolled_forward + rep.rolled_back == 1);
            CHECK(rep.rolled_forward == (uint32_t)after);
            forward += rep.rolled_forward;
            back += rep.rolled_back;
        } else {
            /* no journal: killed before it was written (nothing done), or
             * not killed (done) */
            CHECK(after == !killed);
        }
        if (after) {
            size_t ret = 0, total = 0;
            mhsld_extent got[4];
            CHECK_OK(
                mhsld_extents_get(st, 0, MHSLD_EXT_OWNED, 0, got, NULL, 4, &ret, &total, NULL));
            CHECK(ret == 3 && got[0].dpa == e[0].dpa && got[1].dpa == e[1].dpa &&
                  got[2].dpa == e[2].dpa);
        }
        CHECK(tu_block_state(st, 100 * BS, NULL) == MHSLD_BLOCK_OWNED);
        CHECK_VALID(st);
        CHECK_OK(mhsld_recover(st, 0, MHSLD_RECOVER_DROP, NULL)); /* back to before */
        if (!killed)
            break;
    }
    printf("claim killed at %" PRIu64 " steps: %u rolled forward, %u rolled back\n", k - 1, forward,
           back);
    CHECK(k > 1 && k < 200);
    CHECK(forward > 0 && back > 0);
    mhsld_detach(h1);
    mhsld_close(st);
    mhsld_destroy(p, true);
}

int main(void)
{
    test_success();
    test_conflicts();
    test_bad_arguments();
    test_stale_and_nospace();
    test_fork();
    test_never_accessible_early();
    test_killed_claim_report();
    test_journal_one_range();
    return tu_report("test_claim");
}
