/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mhsld_access_ok is linearizable (no grant through a reused slot), deterministically.
 *
 * The testing hook mhsld_test_access_hook() runs a function inside
 * mhsld_access_ok between the load of a SHARED block's shared byte and the load of
 * its shared slot's word.  In that window the test changes the world the way
 * other heads could at that instant:
 *
 *   shared:    X's last sharer leaves (X is retired, its slot freed), another
 *              head creates Y, which takes X's slot, and R joins Y.  The slot
 *              now says "active, R shares it": an engine that trusts the
 *              shared byte it loaded before grants R a block of X, an extent R
 *              never joined.
 *   exclusive: the same, and head C claims X's block exclusively.  The old
 *              shared byte still points at the reused slot: R would be granted
 *              a block that C owns.
 *
 * In every case the answer must be false: at no instant during the call was
 * R allowed to access X's block.  Controls check that the hook ran and that a
 * call where nothing changes in the window still answers true.
 *
 *   others:    B shares X with A throughout; in the second window (after the
 *              slot word was judged, before its second load) R joins X, then
 *              A leaves it, then the FM takes a reference on it: the slot
 *              word changes, the extent does not.  The answer must be
 *              true (B could access the block at every instant); an engine
 *              that compares the whole slot word refuses it.
 */
#include "mhsld/testing.h"
#include "testutil.h"

#define HEADS 4u
#define HA 0u
#define HB 1u
#define HC 2u
#define HR 3u

static const uint8_t TX[MHSLD_TAG_SIZE] = {'X'};
static const uint8_t TY[MHSLD_TAG_SIZE] = {'Y'};

typedef struct world {
    mhsld_state *st;
    mhsld_head *h[HEADS];
    mhsld_extent x, y;
    int claim_exclusive; /* the exclusive variant */
    int ran;
    mhsld_status s_leave, s_create, s_join, s_claim, s_ref;
} world;

/* Inside R's access check: retire X, reuse its slot for Y, R joins Y. */
static void in_window(void *arg)
{
    world *w = arg;
    w->ran++;
    w->s_leave = mhsld_share_release(w->h[HA], &w->x);
    w->s_create = mhsld_share_add(w->h[HB], &w->y, TY, NULL);
    w->s_join = mhsld_share_add(w->h[HR], &w->y, TY, NULL);
    if (w->claim_exclusive)
        w->s_claim = tu_claim(w->h[HC], w->x.dpa, w->x.len);
}

static void nothing(void *arg)
{
    ((world *)arg)->ran++;
}

/* Second window: other heads join and leave X, which B shares throughout. */
static void others_change_x(void *arg)
{
    world *w = arg;
    w->ran++;
    w->s_join = mhsld_share_add(w->h[HR], &w->x, TX, NULL);
    w->s_leave = mhsld_share_release(w->h[HA], &w->x);
    w->s_ref = mhsld_fm_ref_add(w->h[HC], TX);
}

/* First window: nothing changes; arm the second. */
static void arm_second(void *arg)
{
    ((world *)arg)->ran++;
    mhsld_test_access_hook(others_change_x, arg);
}

static void setup(world *w, const char *path)
{
    memset(w, 0, sizeof *w);
    mhsld_geometry g;
    mhsld_geometry_init(&g, HEADS, BS, 0, 16 * BS);
    g.regions[0].flags = MHSLD_REGION_SHARABLE;
    w->st = tu_create(path, &g);
    for (uint32_t i = 0; i < HEADS; i++)
        w->h[i] = tu_attach(w->st, i);
    w->x = tu_ext(0, 2 * BS);
    w->y = tu_ext(8 * BS, 2 * BS);
}

static void teardown(world *w, const char *path)
{
    for (uint32_t i = 0; i < HEADS; i++)
        mhsld_detach(w->h[i]);
    CHECK_VALID(w->st);
    mhsld_close(w->st);
    mhsld_destroy(path, true);
}

/* The slot X had is the slot Y got (what makes the old word dangerous). */
static void check_slot_reused(world *w)
{
    mhsld_shared_info si[4];
    size_t n = 0, total = 0;
    CHECK_OK(mhsld_shared_list(w->st, si, 4, &n, &total));
    CHECK(n == 1 && si[0].slot == 0 && si[0].ext.dpa == w->y.dpa &&
          si[0].sharers == ((1u << HB) | (1u << HR)));
}

static void test_variant(int exclusive, int via_check)
{
    char path[128];
    world w;
    setup(&w, tu_path(path, sizeof path, "alhook"));
    w.claim_exclusive = exclusive;
    /* A creates X: slot 0. */
    CHECK_OK(mhsld_share_add(w.h[HA], &w.x, TX, NULL));
    mhsld_test_access_hook(in_window, &w);
    bool got = via_check ? mhsld_access_check(w.st, HR, w.x.dpa + 64, 8)
                         : mhsld_access_ok(w.h[HR], w.x.dpa + 64, 8);
    mhsld_test_access_hook(NULL, NULL);
    CHECK(w.ran == 1);
    CHECK_OK(w.s_leave);
    CHECK_OK(w.s_create);
    CHECK_OK(w.s_join);
    if (exclusive)
        CHECK_OK(w.s_claim);
    check_slot_reused(&w);
    if (got)
        fprintf(stderr, "%s: R was granted a block of X (%s) after X's slot was reused\n",
                via_check ? "mhsld_access_check" : "mhsld_access_ok",
                exclusive ? "now owned by C" : "now free");
    CHECK(!got);
    /* And afterwards, plainly. */
    CHECK(!mhsld_access_ok(w.h[HR], w.x.dpa + 64, 8));
    CHECK(mhsld_access_ok(w.h[HR], w.y.dpa + 64, 8));
    CHECK(mhsld_access_ok(w.h[HC], w.x.dpa, w.x.len) == (exclusive != 0));
    teardown(&w, path);
}

/* Controls: the hook fires on a SHARED block, and with nothing changing in
 * the window a sharer is granted. */
static void test_control(void)
{
    char path[128];
    world w;
    setup(&w, tu_path(path, sizeof path, "alhookc"));
    CHECK_OK(mhsld_share_add(w.h[HA], &w.x, TX, NULL));
    CHECK_OK(mhsld_share_add(w.h[HR], &w.x, TX, NULL));
    mhsld_test_access_hook(nothing, &w);
    CHECK(mhsld_access_ok(w.h[HR], w.x.dpa + 64, 8));
    mhsld_test_access_hook(NULL, NULL);
    CHECK(w.ran == 1);
    /* Not a sharer, nothing changes: false, and the hook still ran. */
    w.ran = 0;
    mhsld_test_access_hook(nothing, &w);
    CHECK(!mhsld_access_ok(w.h[HB], w.x.dpa + 64, 8));
    mhsld_test_access_hook(NULL, NULL);
    CHECK(w.ran == 1);
    teardown(&w, path);
}

/* Other heads joining and leaving an extent while a sharer's check looks
 * at its slot word: the sharer is granted, by both entry points. */
static void test_others(int via_check)
{
    char path[128];
    world w;
    setup(&w, tu_path(path, sizeof path, "alhooko"));
    CHECK_OK(mhsld_share_add(w.h[HA], &w.x, TX, NULL));
    CHECK_OK(mhsld_share_add(w.h[HB], &w.x, TX, NULL));
    mhsld_test_access_hook(arm_second, &w);
    bool got = via_check ? mhsld_access_check(w.st, HB, w.x.dpa + 64, 8)
                         : mhsld_access_ok(w.h[HB], w.x.dpa + 64, 8);
    mhsld_test_access_hook(NULL, NULL);
    CHECK(w.ran == 2); /* both windows ran */
    CHECK_OK(w.s_join);
    CHECK_OK(w.s_leave);
    CHECK_OK(w.s_ref);
    mhsld_shared_info si[4];
    size_t n = 0, total = 0;
    CHECK_OK(mhsld_shared_list(w.st, si, 4, &n, &total));
    CHECK(n == 1 && si[0].ext.dpa == w.x.dpa && si[0].sharers == ((1u << HB) | (1u << HR)) &&
          si[0].fm_ref);
    if (!got)
        fprintf(stderr, "%s: sharer B refused while other heads joined and left its extent\n",
                via_check ? "mhsld_access_check" : "mhsld_access_ok");
    CHECK(got);
    CHECK(mhsld_access_ok(w.h[HB], w.x.dpa, w.x.len));
    CHECK(!mhsld_access_ok(w.h[HA], w.x.dpa + 64, 8));
    teardown(&w, path);
}

int main(void)
{
    test_control();
    test_others(0);
    test_others(1);
    test_variant(0, 0);
    test_variant(1, 0);
    test_variant(0, 1);
    test_variant(1, 1);
    return tu_report("test_access_lin_hook");
}
