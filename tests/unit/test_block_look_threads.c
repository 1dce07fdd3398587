/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Block info (mhsld__block_look) of a held block that nothing records --
 * a claim in passage, or here a co-tenant's stray occupancy bit -- while a
 * head's journal ends under it.
 *
 * block_look looks for the journal in flight that covers the block: it
 * loads each head's op and, for an op whose blocks are held before their
 * maps say so, snapshots that head's journal.  The snapshot loads op again;
 * if the journal ended in between, it answers IDLE without copying the
 * journal's ranges, and the ranges block_look then reads are whatever its
 * buffer held before (freshly allocated: uninitialised memory, in practice
 * the previous head's copy).  Here head 0's journal covers the block but
 * is invalid (its reservation slot is out of range: the copy is made, then
 * refused), and head 1's journal, which covers another block, keeps ending
 * and starting (a thread flips its op between RESERVE and IDLE).  The stray
 * bit is nobody's, so every answer must be FREE, owner none; a head's
 * PENDING is a journal that never covered the block.
 *
 * The window is two loads apart and hit by chance: the test looks up to
 * MHSLD_STRESS_MS (default 2000) ms or 2e6 times, and stops at the first
 * wrong answer.
 */
#include <pthread.h>
#include <time.h>

#include "internal.h"
#include "testutil.h"

#define NBLK 64u
#define B 5u /* the block looked at */

static mhsld_state *st;
static int stop;

static void *flipper(void *arg)
{
    (void)arg;
    mhsld__headrec *hr = &st->heads[1];
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        __atomic_store_n(&hr->j.op, (uint32_t)MHSLD__OP_RESERVE, __ATOMIC_RELEASE);
        __atomic_store_n(&hr->j.op, (uint32_t)MHSLD__OP_IDLE, __ATOMIC_RELEASE);
    }
    return NULL;
}

/* A reservation's journal of head hd, valid but for gslot if bad_gslot. */
static void journal(uint32_t hd, uint64_t seq, uint64_t start, int bad_gslot, uint32_t op)
{
    mhsld__headrec *hr = &st->heads[hd];
    hr->seq = seq;
    hr->j.n = 1;
    hr->j.nacc = 0;
    hr->j.slot = MHSLD__NOSLOT;
    hr->j.gslot = bad_gslot ? 200u : 0u;
    hr->j.seq = seq;
    hr->j.group = 0;
    hr->j.undo = 0;
    hr->j.r[0].start = start;
    hr->j.r[0].count = 1;
    hr->jprog = mhsld__prog(seq, 0);
    __atomic_store_n(&hr->j.op, op, __ATOMIC_RELEASE);
}

int main(void)
{
    char p[128];
    mhsld_geometry g;
    mhsld_geometry_init(&g, 2, BS, 0, NBLK * BS);
    st = tu_create(tu_path(p, sizeof(p), "blooklook"), &g);
    /* The co-tenant's writes: a stray bit on block B, two journals. */
    __atomic_fetch_or(&mhsld__occ(st, 0)->lo, 1ull << B, __ATOMIC_SEQ_CST);
    journal(0, 7, B, 1, MHSLD__OP_RESERVE);
    journal(1, 9, 40, 0, MHSLD__OP_IDLE);

    mhsld_block_info bi;
    CHECK_OK(mhsld_block_info_get(st, B, &bi));
    CHECK(bi.state == MHSLD_BLOCK_FREE && bi.owner == MHSLD_OWNER_NONE);

    const char *e = getenv("MHSLD_STRESS_MS");
    uint64_t ms = e ? strtoull(e, NULL, 10) : 2000;
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, flipper, NULL) == 0);
    uint64_t end = tu_now_ms() + ms, looks = 0, wrong = 0;
    uint32_t wstate = 0, wowner = 0;
    while (looks < 2000000 && !wrong && (looks & 1023 || tu_now_ms() < end)) {
        REQUIRE(mhsld_block_info_get(st, B, &bi) == MHSLD_OK);
        looks++;
        if (bi.state != MHSLD_BLOCK_FREE || bi.owner != MHSLD_OWNER_NONE) {
            wrong++;
            wstate = bi.state;
            wowner = bi.owner;
        }
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
    printf("block %u looked at %llu times while head 1's journal flipped: %llu wrong", B,
           (unsigned long long)looks, (unsigned long long)wrong);
    if (wrong)
        printf(" (state %u owner %#x)", wstate, wowner);
    printf("\n");
    CHECK(wrong == 0);

    mhsld_close(st);
    mhsld_destroy(p, true);
    return tu_report("test_block_look_threads");
}
