/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Races of an outside actor (a forced release) against the head's own
 * incarnations and against a co-tenant, found by review (issue 13):
 *
 *   attach      a forced release that runs while a new incarnation of the
 *               head attaches (it holds the liveness lock, so the forcer
 *               finds the baton FREE), between the moment attach reads the
 *               head's sequence floor and the moment it takes the actor
 *               lock.  Before the fix attach then stored its older floor
 *               back into the record and drew the forcer's sequence again:
 *               the new incarnation's first reservation id equalled the
 *               stamp the forcer had written into the released blocks.
 *   deadline    a co-tenant that rewrites the outsiders' word's count
 *               (actw, once the baton's) between the forcer's load and its
 *               compare-and-swap.  Before the fix the
 *               forcer looked again without consulting its deadline and
 *               kept going for as long as the writer did (here: until the
 *               test stopped writing, long after the timeout).
 */
#include <time.h>

#include "internal.h"
#include "mhsld/fm.h"
#include "mhsld/testing.h"
#include "testutil.h"

#define NBLK 256

static char path[128];

static mhsld_state *fresh(void)
{
    mhsld_geometry g;
    mhsld_geometry_init(&g, 3, BS, 0, NBLK * BS);
    return tu_create(tu_path(path, sizeof(path), "fmrace"), &g);
}

/* The sequence of a block's generation, (head + 1) << 34 | sequence: every
 * stamp looked at here is head 0's. */
static uint64_t stamp_seq(mhsld_state *st, uint64_t dpa)
{
    mhsld_block_info bi;
    REQUIRE(mhsld_block_info_get(st, dpa / BS, &bi) == MHSLD_OK);
    CHECK(bi.generation >> MHSLD__SEQ_BITS == 0 + 1);
    return bi.generation & MHSLD__SEQ_MASK;
}

/* ---- a forced release inside a new incarnation's attach ------------------ */

typedef struct {
    mhsld_state *st;
    mhsld_extent ext;
    mhsld_status got;
    int ran;
} inside_attach;

static void force_inside_attach(void *arg)
{
    inside_attach *ia = arg;
    mhsld_conflict c;
    ia->ran = 1;
    ia->got = mhsld_fm_force_release(ia->st, 0, &ia->ext, 1, 50, &c);
}

static void attach_race(void)
{
    mhsld_state *st = fresh();
    mhsld_head *h0 = tu_attach(st, 0);
    mhsld_extent e = tu_ext(10 * BS, 2 * BS);
    REQUIRE(tu_claim(h0, e.dpa, e.len) == MHSLD_OK);
    mhsld_detach(h0); /* dead: the liveness lock is free, the baton FREE */

    /* The new incarnation's attach, interrupted just before its first
     * write to the record (after it read the sequence floor): a forced
     * release of the dead incarnation's extent runs there. */
    inside_attach ia = {.st = st, .ext = e, .got = MHSLD_E__COUNT, .ran = 0};
    mhsld_test_crash_at(1, force_inside_attach, &ia);
    mhsld_head *n0 = NULL;
    mhsld_status as = mhsld_attach(st, 0, MHSLD_ATTACH_KEEP, &n0);
    mhsld_test_crash_at(0, NULL, NULL);
    CHECK(ia.ran);
    CHECK_OK(as);
    if (as != MHSLD_OK) {
        mhsld_close(st);
        return;
    }
    /* The forcer must either have been held off (the head is being
     * attached: BUSY, nothing changed) or have used sequences the new
     * incarnation never draws again. */
    CHECK(ia.got == MHSLD_OK || ia.got == MHSLD_E_BUSY);
    uint64_t forced = 0;
    if (ia.got == MHSLD_OK) {
        forced = stamp_seq(st, e.dpa);
        CHECK(tu_block_state(st, e.dpa, NULL) == MHSLD_BLOCK_FREE);
    } else {
        CHECK(tu_block_state(st, e.dpa, NULL) == MHSLD_BLOCK_OWNED);
    }
    uint64_t group = 0;
    mhsld_extent f = tu_ext(40 * BS, BS);
    CHECK_OK(mhsld_reserve(n0, &f, 1, &group, NULL));
    if (forced)
        fprintf(stderr, "  forced release used sequence %llu, next reservation id %llu\n",
                (unsigned long long)forced, (unsigned long long)group);
    CHECK(group > forced);
    /* And the forcer's own stamp on the released blocks is unique: the
     * reservation's blocks carry a larger one. */
    CHECK(stamp_seq(st, f.dpa) > forced);
    CHECK_OK(mhsld_commit(n0, group, &f, 1));
    CHECK_VALID(st);
    mhsld_detach(n0);
    mhsld_close(st);
    REQUIRE(mhsld_destroy(path, true) == MHSLD_OK);
    printf("  forced release during attach: %s, then reservation id %llu\n",
           mhsld_status_name(ia.got), (unsigned long long)group);
}

/* ---- a co-tenant flipping actw's count under the forcer ------------------- */

typedef struct {
    uint64_t *actw;
    uint64_t start_ms, stop_ms;
    unsigned long flips;
    int overran;
} flipper;

static void flip(void *arg)
{
    flipper *f = arg;
    if (tu_now_ms() > f->stop_ms) {
        f->overran = 1; /* well past the forcer's deadline: stop, let it through */
        return;
    }
    /* Inactive with another count: the forcer's compare-and-swap fails. */
    uint64_t a = __atomic_load_n(f->actw, __ATOMIC_SEQ_CST);
    __atomic_store_n(f->actw, mhsld__act_next(a), __ATOMIC_SEQ_CST);
    f->flips++;
    mhsld_test_crash_at(1, flip, f); /* again before the next atomic step */
}

static void deadline_race(void)
{
    mhsld_state *st = fresh();
    mhsld_head *h1 = tu_attach(st, 1);
    mhsld_extent e = tu_ext(20 * BS, BS);
    REQUIRE(tu_claim(h1, e.dpa, e.len) == MHSLD_OK);

    const uint32_t timeout = 50;
    flipper f = {.actw = &st->heads[1].actw, .start_ms = tu_now_ms()};
    f.stop_ms = f.start_ms + timeout + 2000;
    mhsld_conflict c;
    /* The forcer's first atomic step is actw's compare-and-swap. */
    mhsld_test_crash_at(1, flip, &f);
    mhsld_status s = mhsld_fm_force_release(st, 1, &e, 1, timeout, &c);
    mhsld_test_crash_at(0, NULL, NULL);
    uint64_t took = tu_now_ms() - f.start_ms;
    printf("  forcer against a flipping actw: %s after %llu ms, %lu flips%s\n",
           mhsld_status_name(s), (unsigned long long)took, f.flips,
           f.overran ? " (kept going past its deadline)" : "");
    CHECK(!f.overran);
    CHECK_ST(s, MHSLD_E_BUSY);
    if (s == MHSLD_E_BUSY) {
        CHECK(tu_block_state(st, e.dpa, NULL) == MHSLD_BLOCK_OWNED);
        /* The head resynchronises and goes on. */
        CHECK_OK(mhsld_release(h1, &e, 1, NULL));
    }
    CHECK_VALID(st);
    mhsld_detach(h1);
    mhsld_close(st);
    REQUIRE(mhsld_destroy(path, true) == MHSLD_OK);
}

int main(void)
{
    attach_race();
    deadline_race();
    return tu_report("test_fmforce_races");
}
