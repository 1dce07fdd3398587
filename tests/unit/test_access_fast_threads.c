/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mhsld_access_ok_fast() (the header's inlined fast path) gives exactly the
 * answers of the full walk, and fails closed where the handle is fenced.
 *
 *  1. Exactness: on a two-region geometry whose region 0 starts at a
 *     non-zero DPA and ends in a partial owned-map word, with blocks owned,
 *     pending, shared (joined and not), owned by another head and free,
 *     every range of a sweep (in one block, across block edges, across
 *     64-block words, across the region edge, outside every region, len 0,
 *     overflow) gets the same answer from mhsld_access_ok_fast(),
 *     mhsld_access_ok() and mhsld_access_check() (the walk without the
 *     view), and that answer is the one of a per-block model; so do
 *     random ranges drawn around block, word and region edges (lengths 0,
 *     1..block size + 1, several blocks, wrapping), after a release and
 *     after the FM forcibly released blocks (one across a word edge), and
 *     with a view whose region 0 does not begin an owned-map word (the
 *     fast looks then always take the walk).  A range just past region
 *     0's end is refused where the next word in the mapping (the next
 *     head's owned map) would grant it.
 *  2. A stale handle (its incarnation fenced by a forced recovery, then the
 *     head attached again) answers exactly as mhsld_access_ok() does for it.
 *  3. Concurrency (run under TSan too): while one thread claims and
 *     releases blocks next to them in the same owned-map word, checks of a
 *     block held throughout are always true, and of a block never held
 *     always false.
 * The forked child's fenced handle is covered in test_open_safety.
 */
#include <pthread.h>

#include "internal.h"
#include "mhsld/fm.h"
#include "testutil.h"

#define R0_BASE (4 * GiB)
#define R0_BLK 200u /* not a multiple of 64: the last owned-map word is partial */
#define R1_BASE (R0_BASE + R0_BLK * BS)
#define R1_BLK 70u
#define NBLK (R0_BLK + R1_BLK)

static const uint8_t TAG[16] = {2, 7, 1, 8, 2, 8, 1, 8, 2, 8, 4, 5, 9, 0, 4, 5};

static uint64_t dpa_of(uint64_t b)
{
    return b < R0_BLK ? R0_BASE + b * BS : R1_BASE + (b - R0_BLK) * BS;
}

/* acc[b]: may head 0 access block b (the model). */
static bool model(const bool *acc, uint64_t dpa, uint64_t len)
{
    if (len == 0 || dpa + len < dpa)
        return false;
    uint64_t end = dpa + len;
    if (dpa < R0_BASE || end > R1_BASE + (uint64_t)R1_BLK * BS)
        return false;
    for (uint64_t b = (dpa - R0_BASE) / BS; b <= (end - 1 - R0_BASE) / BS; b++) {
        if (!acc[b])
            return false;
    }
    return true;
}

/* The inline check, the exported one and the walk agree on (dpa, len), and
 * with the model when acc is given; a disagreement is reported (false). */
static bool agree(mhsld_state *st, mhsld_head *h, const bool *acc, uint64_t dpa, uint64_t len,
                  const char *what)
{
    bool fast = mhsld_access_ok_fast(h, dpa, len);
    bool full = mhsld_access_ok(h, dpa, len);
    bool walk = mhsld_access_check(st, mhsld_head_index(h), dpa, len);
    bool m = acc ? model(acc, dpa, len) : fast;
    if (fast == full && fast == walk && fast == m)
        return true;
    fprintf(stderr, "%sdpa %#llx len %#llx: fast %d full %d walk %d model %d\n", what,
            (unsigned long long)dpa, (unsigned long long)len, fast, full, walk, m);
    CHECK(0);
    return false;
}

static unsigned sweep(mhsld_state *st, mhsld_head *h, const bool *acc, bool use_model)
{
    static const uint64_t lens[] = {1,      8,      4096,    BS - 1,  BS,
                                    BS + 1, 2 * BS, 63 * BS, 64 * BS, 65 * BS};
    static const uint64_t offs[] = {0, 1, 4096, BS / 2, BS - 8, BS - 1};
    unsigned checked = 0;
    for (uint64_t b = 0; b < NBLK + 2; b++) {
        for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
            for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
                uint64_t dpa = (b < NBLK ? dpa_of(b) : R1_BASE + (uint64_t)R1_BLK * BS) + offs[i];
                uint64_t len = lens[j];
                if (!agree(st, h, use_model ? acc : NULL, dpa, len, ""))
                    return checked;
                checked++;
            }
        }
    }
    /* Below region 0, len 0, overflow, and a range ending exactly at the end. */
    uint64_t odd[][2] = {{0, 8},
                         {R0_BASE - 8, 16},
                         {R0_BASE, 0},
                         {UINT64_MAX - 3, 8},
                         {R0_BASE + 4, UINT64_MAX},
                         {R0_BASE, (uint64_t)NBLK * BS}};
    for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
        bool fast = mhsld_access_ok_fast(h, odd[i][0], odd[i][1]);
        CHECK(fast == mhsld_access_ok(h, odd[i][0], odd[i][1]));
        CHECK(!use_model || fast == model(acc, odd[i][0], odd[i][1]));
        checked++;
    }
    CHECK(!mhsld_access_ok_fast(h, 0, 8) && !mhsld_access_ok_fast(h, R0_BASE, 0));
    return checked;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(uint64_t n) /* uniform enough in [0, n) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng % n;
}

/* `count` random ranges, each starting near an edge (of a block, of an
 * owned-map word, of a region, of the DPA space) or anywhere in a block,
 * with a length around the fast path's limits; the same compare as sweep(). */
static unsigned rsweep(mhsld_state *st, mhsld_head *h, const bool *acc, unsigned count)
{
    static const uint64_t edges[] = {0,   63,  64,     65,         127,      128, 191,
                                     192, 199, R0_BLK, R0_BLK + 1, NBLK - 1, NBLK};
    unsigned checked = 0;
    for (unsigned i = 0; i < count; i++) {
        uint64_t dpa, len;
        switch (rnd(4)) {
        case 0: /* an edge block, a few bytes either side of its start */
            dpa = dpa_of(edges[rnd(sizeof(edges) / sizeof(edges[0]))]) + rnd(17) - 8;
            break;
        case 1: /* a few bytes either side of a block's end */
            dpa = dpa_of(rnd(NBLK)) + BS + rnd(17) - 8;
            break;
        case 2: /* anywhere in any block */
            dpa = dpa_of(rnd(NBLK)) + rnd(BS);
            break;
        default: /* around region 0's start or the end of the DPA space */
            dpa = rnd(2) ? R0_BASE + rnd(33) - 16 : UINT64_MAX - rnd(2 * BS);
            break;
        }
        switch (rnd(5)) {
        case 0:
            len = 1 + rnd(64);
            break;
        case 1: /* the one-block limit: block size - 2 .. + 1, and 0 */
            len = BS + 1 - rnd(4) - (rnd(8) == 0 ? BS - 2 : 0);
            break;
        case 2:
            len = 1 + rnd(BS);
            break;
        case 3:
            len = 1 + rnd(70 * BS);
            break;
        default: /* 0, or wrapping past the end of the DPA space */
            len = rnd(2) ? 0 : UINT64_MAX - rnd(BS);
            break;
        }
        if (!agree(st, h, acc, dpa, len, "random "))
            return checked;
        checked++;
    }
    CHECK(checked == count);
    return checked;
}

static mhsld_state *make(char *path, size_t cap)
{
    tu_path(path, cap, "afast");
    mhsld_geometry g;
    mhsld_geometry_init(&g, 3, BS, R0_BASE, (uint64_t)R0_BLK * BS);
    g.nr_regions = 2;
    g.regions[1].base = R1_BASE;
    g.regions[1].len = (uint64_t)R1_BLK * BS;
    g.regions[1].flags = MHSLD_REGION_SHARABLE;
    return tu_create(path, &g);
}

static void test_exact(void)
{
    char path[128];
    mhsld_state *st = make(path, sizeof(path));
    mhsld_head *h0 = tu_attach(st, 0), *h1 = tu_attach(st, 1);
    bool acc[NBLK] = {false};
    unsigned n = sweep(st, h0, acc, true); /* nothing held */

    /* Owned by head 0: a run inside one word, one across the 64-block edge,
     * the partial last word up to the region's end. */
    uint64_t runs[][2] = {{3, 5}, {60, 10}, {190, 10}, {0, 1}};
    for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
        REQUIRE(tu_claim(h0, dpa_of(runs[i][0]), runs[i][1] * BS) == MHSLD_OK);
        for (uint64_t b = runs[i][0]; b < runs[i][0] + runs[i][1]; b++)
            acc[b] = true;
    }
    /* Pending (reserved, not committed): not accessible. */
    mhsld_extent pend = {dpa_of(100), 3 * BS};
    uint64_t grp = 0;
    REQUIRE(mhsld_reserve(h0, &pend, 1, &grp, NULL) == MHSLD_OK);
    /* Held by another head, next to head 0's blocks in the same word. */
    REQUIRE(tu_claim(h1, dpa_of(8), 2 * BS) == MHSLD_OK);
    /* Shared: one extent head 0 joined (contiguous with its owned block 199
     * across the region edge), one it did not. */
    mhsld_extent sx = {dpa_of(R0_BLK), 4 * BS}, sy = {dpa_of(R0_BLK + 10), 2 * BS};
    REQUIRE(mhsld_share_add(h1, &sx, TAG, NULL) == MHSLD_OK);
    REQUIRE(mhsld_share_add(h0, &sx, TAG, NULL) == MHSLD_OK);
    REQUIRE(mhsld_share_add(h1, &sy, TAG, NULL) == MHSLD_OK);
    for (uint64_t b = R0_BLK; b < R0_BLK + 4; b++)
        acc[b] = true;
    n += sweep(st, h0, acc, true);
    n += rsweep(st, h0, acc, 20000);
    /* The view: region 0's first block is block 0, word 0 of the owned map. */
    CHECK(h0->view.words == mhsld__owned_map(st, 0) && h0->view.bsize == BS);
    CHECK(mhsld_access_ok_fast(h0, dpa_of(4) + BS - 8, 8) &&
          mhsld_access_ok_fast(h0, dpa_of(63), 1));

    /* Released blocks (one run's middle, the word's last block). */
    mhsld_extent rel[] = {{dpa_of(4), 2 * BS}, {dpa_of(63), BS}};
    REQUIRE(mhsld_release(h0, rel, 2, NULL) == MHSLD_OK);
    acc[4] = acc[5] = acc[63] = false;
    n += sweep(st, h0, acc, true);
    n += rsweep(st, h0, acc, 5000);
    CHECK(!mhsld_access_ok_fast(h0, dpa_of(4), 8) && mhsld_access_ok_fast(h0, dpa_of(6), 8));
    /* Blocks the FM took away (across the 64-block word edge). */
    mhsld_extent rev = {dpa_of(64), 2 * BS};
    REQUIRE(mhsld_fm_force_release(st, 0, &rev, 1, 1000, NULL) == MHSLD_OK);
    acc[64] = acc[65] = false;
    n += sweep(st, h0, acc, true);
    n += rsweep(st, h0, acc, 5000);
    CHECK(!mhsld_access_ok_fast(h0, dpa_of(65) + 8, 8) && mhsld_access_ok_fast(h0, dpa_of(66), 8));

    /* A view whose region 0 does not begin an owned-map word (layout.c
     * never numbers the blocks so today): no fast look, every answer still
     * the walk's.  Only the view is filled from the altered index. */
    st->region_first[0] = 1;
    mhsld__view_fill(h0, st, 0);
    st->region_first[0] = 0;
    CHECK(h0->view.bsize == 0 && h0->view.words == NULL);
    n += sweep(st, h0, acc, true);
    n += rsweep(st, h0, acc, 5000);
    mhsld__view_fill(h0, st, 0);
    CHECK(h0->view.bsize == BS);

    /* 2. Stale: a forced recovery fences h0; the head is attached again. */
    mhsld_recover_report rep;
    REQUIRE(mhsld_recover(st, 0, MHSLD_RECOVER_FORCE | MHSLD_RECOVER_KEEP, &rep) == MHSLD_OK);
    n += sweep(st, h0, acc, false); /* whatever mhsld_access_ok says, the same */
    CHECK(mhsld_access_ok_fast(h0, dpa_of(3), 8) == mhsld_access_ok(h0, dpa_of(3), 8));
    mhsld_detach(h0);
    h0 = tu_attach(st, 0);
    n += sweep(st, h0, acc, false);
    CHECK(mhsld_access_ok_fast(h0, dpa_of(6) + 100, 8));
    CHECK(!mhsld_access_ok_fast(h0, dpa_of(8) + 100, 8));
    printf("exactness: %u ranges compared\n", n);
    mhsld_detach(h0);
    mhsld_detach(h1);
    mhsld_close(st);
    mhsld_destroy(path, true);
}

/* Region 0 alone, ending exactly with the head's last owned-map word: the
 * next word in the mapping is the next head's map, so a look one block past
 * the region's end would find head 1's block 0 and grant head 0 a range
 * outside every region. */
static void test_region_end(void)
{
    char path[128];
    tu_path(path, sizeof(path), "afend");
    mhsld_geometry g;
    mhsld_geometry_init(&g, 2, BS, R0_BASE, 64 * BS);
    mhsld_state *st = tu_create(path, &g);
    mhsld_head *h0 = tu_attach(st, 0), *h1 = tu_attach(st, 1);
    REQUIRE(tu_claim(h1, R0_BASE, BS) == MHSLD_OK);
    REQUIRE(tu_claim(h0, R0_BASE + BS, 63 * BS) == MHSLD_OK);
    uint64_t end = R0_BASE + 64 * BS;
    CHECK(mhsld_access_ok_fast(h0, end - 8, 8) && mhsld_access_ok(h0, end - 8, 8));
    static const uint64_t offs[] = {0, 8, BS / 2, BS - 8, BS, 64 * BS};
    static const uint64_t lens[] = {1, 8, BS / 2, BS};
    for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
        for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
            CHECK(!mhsld_access_ok_fast(h0, end + offs[i], lens[j]));
            CHECK(!mhsld_access_ok(h0, end + offs[i], lens[j]));
        }
    }
    CHECK(!mhsld_access_ok_fast(h0, end - 8, 16) && !mhsld_access_ok(h0, end - 8, 16));
    mhsld_detach(h0);
    mhsld_detach(h1);
    mhsld_close(st);
    mhsld_destroy(path, true);
}

/* ---- 3. concurrency ------------------------------------------------------ */

typedef struct race {
    mhsld_head *h;
    int stop;
    unsigned long cycles;
} race;

static void *churn(void *arg)
{
    race *r = arg;
    for (unsigned long i = 0; i < 20000 && !__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE); i++) {
        mhsld_extent e = {dpa_of(10 + (i % 4)), 2 * BS};
        if (tu_claim(r->h, e.dpa, e.len) != MHSLD_OK ||
            mhsld_release(r->h, &e, 1, NULL) != MHSLD_OK) {
            CHECK(0);
            break;
        }
        r->cycles++;
    }
    __atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void test_race(void)
{
    char path[128];
    mhsld_state *st = make(path, sizeof(path));
    mhsld_head *h0 = tu_attach(st, 0);
    REQUIRE(tu_claim(h0, dpa_of(5), BS) == MHSLD_OK); /* held throughout */
    race r = {h0, 0, 0};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, churn, &r) == 0);
    unsigned long bad = 0, checks = 0;
    while (!__atomic_load_n(&r.stop, __ATOMIC_ACQUIRE)) {
        bad += !mhsld_access_ok_fast(h0, dpa_of(5) + 64, 8);
        bad += mhsld_access_ok_fast(h0, dpa_of(20) + 64, 8); /* never held */
        bad += mhsld_access_ok_fast(h0, dpa_of(4), 2 * BS);  /* 4 is never held */
        checks += 3;
    }
    pthread_join(t, NULL);
    CHECK(bad == 0);
    CHECK(r.cycles == 20000);
    printf("race: %lu checks during %lu claim+release cycles, %lu wrong\n", checks, r.cycles, bad);
    mhsld_detach(h0);
    mhsld_close(st);
    mhsld_destroy(path, true);
}

int main(void)
{
    test_exact();
    test_region_end();
    test_race();
    return tu_report("test_access_fast_threads");
}
