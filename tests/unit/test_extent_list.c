/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A head's extent list keeps every claim an extent of its own after part of
 * an older extent was released (layout 3 did, by the block stamps; layout 4
 * must, by its start maps).
 *
 * The case: the head owns [0,4), releases [0,2) and claims [0,2) again.
 * The list must say [0,2) [2,4) -- two Add events, two extents, as the
 * host's DC extent list (mbox_dispatch.c) and mhsldctl's `show` present it
 * -- and not [0,4).  Each give-back path is taken: the one-word and
 * several-word short releases, the general one (several extents, adjacent
 * ones among them), a release in the middle of an extent, and a fabric
 * manager's forced release.  After every step the list is compared with
 * the expected one, and every owned block's extent_start says whether it
 * begins a listed extent.
 *
 * And a shared extent's first block says extent_start, as layout 3's block
 * words did (its other blocks do not), for every sharer and after joins.
 */
#include "mhsld/fm.h"
#include "testutil.h"

#define NBLK 256u

typedef struct run {
    uint64_t start, count; /* blocks */
} run;

static int list_is(mhsld_state *st, uint32_t head, const run *want, size_t nwant, const char *what)
{
    mhsld_extent e[32];
    size_t n = 0, total = 0;
    REQUIRE(mhsld_extents_get(st, head, MHSLD_EXT_OWNED, 0, e, NULL, 32, &n, &total, NULL) ==
            MHSLD_OK);
    int ok = n == total && n == nwant;
    for (size_t i = 0; ok && i < n; i++)
        ok = e[i].dpa == want[i].start * BS && e[i].len == want[i].count * BS;
    if (!ok) {
        fprintf(stderr, "%s: list", what);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, " [%llu,%llu)", (unsigned long long)(e[i].dpa / BS),
                    (unsigned long long)((e[i].dpa + e[i].len) / BS));
        fprintf(stderr, ", want");
        for (size_t i = 0; i < nwant; i++)
            fprintf(stderr, " [%llu,%llu)", (unsigned long long)want[i].start,
                    (unsigned long long)(want[i].start + want[i].count));
        fprintf(stderr, "\n");
    }
    /* Every owned block's extent_start: 1 exactly at a listed extent's start. */
    for (uint64_t b = 0; ok && b < NBLK; b++) {
        mhsld_block_info bi;
        REQUIRE(mhsld_block_info_get(st, b, &bi) == MHSLD_OK);
        if (bi.state != MHSLD_BLOCK_OWNED || bi.owner != head)
            continue;
        int first = 0;
        for (size_t i = 0; i < nwant; i++)
            first |= want[i].start == b;
        if ((int)bi.extent_start != first) {
            fprintf(stderr, "%s: block %llu extent_start %u, want %d\n", what,
                    (unsigned long long)b, bi.extent_start, first);
            ok = 0;
        }
    }
    return ok;
}

#define LIST_IS(st, head, what, ...)                                                               \
    do {                                                                                           \
        const run want_[] = {__VA_ARGS__};                                                         \
        CHECK(list_is((st), (head), want_, sizeof(want_) / sizeof(want_[0]), (what)));             \
    } while (0)

static mhsld_status claim(mhsld_head *h, uint64_t b, uint64_t n)
{
    mhsld_extent e = {b * BS, n * BS};
    return mhsld_claim(h, &e, 1, NULL);
}

static mhsld_status release(mhsld_head *h, uint64_t b, uint64_t n)
{
    mhsld_extent e = {b * BS, n * BS};
    return mhsld_release(h, &e, 1, NULL);
}

static void test_shared_start(void)
{
    char p[128];
    mhsld_geometry g;
    mhsld_geometry_init(&g, 2, BS, 0, NBLK * BS);
    g.nr_regions = 2;
    g.regions[1].base = 1024 * BS;
    g.regions[1].len = NBLK * BS;
    g.regions[1].flags = MHSLD_REGION_SHARABLE;
    mhsld_state *st = tu_create(tu_path(p, sizeof(p), "extlist-sh"), &g);
    mhsld_head *h0 = tu_attach(st, 0), *h1 = tu_attach(st, 1);
    static const uint8_t tag[MHSLD_TAG_SIZE] = {0x5a, 1};
    mhsld_extent e = {1024 * BS + 60 * BS, 8 * BS}; /* blocks 316..323, two words */
    CHECK_OK(mhsld_share_add(h0, &e, tag, NULL));
    CHECK_OK(mhsld_share_add(h1, &e, tag, NULL));
    for (uint64_t b = NBLK + 58; b < NBLK + 70; b++) {
        mhsld_block_info bi;
        REQUIRE(mhsld_block_info_get(st, b, &bi) == MHSLD_OK);
        int in = b >= NBLK + 60 && b < NBLK + 68;
        CHECK(bi.state == (in ? MHSLD_BLOCK_SHARED : MHSLD_BLOCK_FREE));
        if (bi.extent_start != (uint32_t)(b == NBLK + 60))
            fprintf(stderr, "shared: block %llu extent_start %u\n", (unsigned long long)b,
                    bi.extent_start);
        CHECK(bi.extent_start == (uint32_t)(b == NBLK + 60));
    }
    CHECK_VALID(st);
    mhsld_detach(h0);
    mhsld_detach(h1);
    mhsld_close(st);
    mhsld_destroy(p, true);
}

int main(void)
{
    char p[128];
    mhsld_geometry g;
    mhsld_geometry_init(&g, 2, BS, 0, NBLK * BS);
    mhsld_state *st = tu_create(tu_path(p, sizeof(p), "extlist"), &g);
    mhsld_head *h = tu_attach(st, 0);

    /* One word (release_one), the remainder in the same word. */
    CHECK_OK(claim(h, 0, 4));
    CHECK_OK(release(h, 0, 2));
    LIST_IS(st, 0, "one word: released the front", {2, 2});
    CHECK_OK(claim(h, 0, 2));
    LIST_IS(st, 0, "one word: claimed the front again", {0, 2}, {2, 2});

    /* One word, the remainder begins the next word. */
    CHECK_OK(claim(h, 60, 10));
    CHECK_OK(release(h, 60, 4));
    CHECK_OK(claim(h, 60, 4));
    LIST_IS(st, 0, "one word, remainder in the next", {0, 2}, {2, 2}, {60, 4}, {64, 6});

    /* Several words (release_run); reserve + commit for the old extent. */
    CHECK_OK(tu_claim(h, 100 * BS, 100 * BS));
    CHECK_OK(release(h, 100, 50));
    CHECK_OK(claim(h, 120, 30));
    LIST_IS(st, 0, "several words", {0, 2}, {2, 2}, {60, 4}, {64, 6}, {120, 30}, {150, 50});
    CHECK_OK(mhsld_release_all(h, NULL));

    /* The general path: two extents, the second released in its middle. */
    CHECK_OK(claim(h, 10, 10));
    CHECK_OK(claim(h, 30, 10));
    mhsld_extent two[2] = {{10 * BS, 2 * BS}, {33 * BS, 2 * BS}};
    CHECK_OK(mhsld_release(h, two, 2, NULL));
    LIST_IS(st, 0, "general path", {12, 8}, {30, 3}, {35, 5});
    CHECK_OK(mhsld_claim(h, two, 2, NULL));
    LIST_IS(st, 0, "general path, claimed again", {10, 2}, {12, 8}, {30, 3}, {33, 2}, {35, 5});

    /* Adjacent extents in one request: only the block after both starts. */
    CHECK_OK(claim(h, 240, 10));
    mhsld_extent adj[2] = {{240 * BS, 2 * BS}, {242 * BS, 2 * BS}};
    CHECK_OK(mhsld_release(h, adj, 2, NULL));
    CHECK_OK(claim(h, 240, 4));
    LIST_IS(st, 0, "adjacent extents", {10, 2}, {12, 8}, {30, 3}, {33, 2}, {35, 5}, {240, 4},
            {244, 6});
    CHECK_OK(mhsld_release_all(h, NULL));

    /* A fabric manager's forced release of part of an extent. */
    CHECK_OK(claim(h, 200, 10));
    mhsld_extent f = {200 * BS, 3 * BS};
    CHECK_OK(mhsld_fm_force_release(st, 0, &f, 1, 1000, NULL));
    CHECK_OK(claim(h, 200, 3));
    LIST_IS(st, 0, "forced release", {200, 3}, {203, 7});
    CHECK_VALID(st);

    mhsld_detach(h);
    mhsld_close(st);
    mhsld_destroy(p, true);
    test_shared_start();
    return tu_report("test_extent_list");
}
