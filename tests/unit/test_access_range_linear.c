/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mhsld_access_ok()/mhsld_access_check() over a range of several blocks:
 * is the answer true only if, at one instant, every block of the range was
 * accessible to the head?
 *
 * The check walks the range block by block (one owned-map word per 64
 * blocks, shared_ok() for the rest) and each block's answer is taken at its
 * own instant.  Access the head loses to the left of the walk and access it
 * gains to the right are both seen, so the conjunction can be true although
 * the range was never accessible as a whole.
 *
 * Sequence (every head well-behaved, nothing scribbled):
 *   head 0 owns block 255 (last block of region 0); head 1 shares block 256
 *   (first block of the sharable region 1, contiguous in DPA).
 *   An observer checks head 0's access to [255, 256].  The walk reads the
 *   owned-map word holding 255 (owned), reaches 256 (SHARED, head 0 not a
 *   sharer) and loads its shared byte; at that point (test hook):
 *     head 0 releases 255, head 2 claims 255, head 0 joins the extent at 256;
 *   the walk then loads 256's slot word (head 0 is a sharer) and returns.
 * Expected: false (head 0 never held 255 and 256 at once; when the check
 * returns, 255 is head 2's).  Passes only if the range answer is
 * linearizable.
 */
#include <signal.h>

#include "mhsld/testing.h"
#include "testutil.h"

#define NBLK 256
#define SH_BASE (NBLK * BS)

static const uint8_t TAG[16] = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3};

typedef struct world {
    mhsld_head *h0, *h2;
    int ran;
} world;

static void in_window(void *arg)
{
    world *w = arg;
    mhsld_extent a = {255 * BS, BS}, x = {SH_BASE, BS};
    CHECK_OK(mhsld_release(w->h0, &a, 1, NULL));
    CHECK_OK(tu_claim(w->h2, 255 * BS, BS));
    CHECK_OK(mhsld_share_add(w->h0, &x, TAG, NULL));
    w->ran = 1;
}

/* ---- one block: the slot is reused while the check looks at it --------- */

typedef struct reuse {
    mhsld_head *h0, *h1, *h2;
    int ran;
} reuse;

/* Head 1 (sole sharer of X = block 300) leaves, head 2 claims block 300
 * exclusively, and head 0 creates Y = block 400, which lands in X's slot. */
static void reuse_window(void *arg)
{
    reuse *r = arg;
    mhsld_extent x = {300 * BS, BS}, y = {400 * BS, BS};
    CHECK_OK(mhsld_share_release(r->h1, &x));
    CHECK_OK(tu_claim(r->h2, 300 * BS, BS));
    CHECK_OK(mhsld_share_add(r->h0, &y, TAG, NULL));
    r->ran = 1;
}

static void slot_reuse(mhsld_state *st, mhsld_head *h0, mhsld_head *h1, mhsld_head *h2)
{
    reuse r = {h0, h1, h2, 0};
    mhsld_extent x = {300 * BS, BS};
    REQUIRE(mhsld_share_add(h1, &x, TAG, NULL) == MHSLD_OK);
    mhsld_shared_info si[4];
    size_t n = 0;
    REQUIRE(mhsld_shared_list(st, si, 4, &n, NULL) == MHSLD_OK && n == 2);
    mhsld_test_access_hook(reuse_window, &r);
    bool got = mhsld_access_check(st, 0, 300 * BS, BS);
    mhsld_test_access_hook(NULL, NULL);
    mhsld_block_info bi;
    REQUIRE(mhsld_block_info_get(st, 300, &bi) == MHSLD_OK);
    uint32_t slot_y = MHSLD_MAX_SHARED;
    REQUIRE(mhsld_shared_list(st, si, 4, &n, NULL) == MHSLD_OK);
    for (size_t i = 0; i < n; i++)
        if (si[i].ext.dpa == 400 * BS)
            slot_y = si[i].slot;
    printf("  access_check(head 0, block 300) while X's slot is reused for Y (slot %u) and block "
           "300 goes to head 2: %s\n",
           slot_y, got ? "true" : "false");
    CHECK(r.ran);
    CHECK(bi.state == MHSLD_BLOCK_OWNED && bi.owner == 2);
    CHECK(!got);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    char path[128];
    tu_path(path, sizeof(path), "alin");
    mhsld_geometry g;
    mhsld_geometry_init(&g, 3, BS, 0, NBLK * BS);
    g.nr_regions = 2;
    g.regions[1].base = SH_BASE;
    g.regions[1].len = NBLK * BS;
    g.regions[1].flags = MHSLD_REGION_SHARABLE;
    mhsld_state *st = tu_create(path, &g);
    world w = {tu_attach(st, 0), tu_attach(st, 2), 0};
    mhsld_head *h1 = tu_attach(st, 1);
    mhsld_extent x = {SH_BASE, BS};
    REQUIRE(tu_claim(w.h0, 255 * BS, BS) == MHSLD_OK);
    REQUIRE(mhsld_share_add(h1, &x, TAG, NULL) == MHSLD_OK);

    /* Before: 255 yes, 256 no -> the range no. */
    CHECK(!mhsld_access_check(st, 0, 255 * BS, 2 * BS));

    mhsld_test_access_hook(in_window, &w);
    bool got = mhsld_access_check(st, 0, 255 * BS, 2 * BS);
    mhsld_test_access_hook(NULL, NULL);
    CHECK(w.ran);
    bool after = mhsld_access_check(st, 0, 255 * BS, 2 * BS);
    bool h2_255 = mhsld_access_check(st, 2, 255 * BS, BS);
    printf("  access_check(head 0, blocks 255..256) racing release(255)+claim by head 2+join(256):"
           " %s (after: %s; head 2 owns 255: %s)\n",
           got ? "true" : "false", after ? "true" : "false", h2_255 ? "yes" : "no");
    CHECK(!after);
    CHECK(h2_255);
    CHECK(!got); /* never both accessible at one instant */
    CHECK_VALID(st);

    slot_reuse(st, w.h0, h1, w.h2);
    CHECK_VALID(st);

    mhsld_detach(w.h0);
    mhsld_detach(h1);
    mhsld_detach(w.h2);
    mhsld_close(st);
    REQUIRE(mhsld_destroy(path, true) == MHSLD_OK);
    return tu_report("test_access_range_linear");
}
