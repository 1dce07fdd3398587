/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Head operations against forced releases, three processes on one state:
 * what the baton's handshake (engine/src/fmforce.c) is for, with the head
 * entering by a plain store and the forcer fencing it with membarrier.
 *
 *   head 0    claims (reserve + commit) and releases K extents in turn, in
 *             one occupancy word, as fast as it can
 *   forcer    force-releases head 0's extents, as fast as it can
 *   head 1    claims and releases the same extents whenever they are free
 *
 * Checked, per extent: every claim of head 0 is ended exactly once, by its
 * own release or by one forced release (claims == own releases + forced:
 * nothing lost, nothing released twice); head 1 is never forced, so its
 * claims all end in its own releases.  Whenever either head's claim
 * returns, the other head's owned-map bits for the extent are clear (no
 * block owned by two heads; for head 0, unless an outside action came
 * between its claim and the look, which may have freed the extent for
 * head 1); every reservation id of head 0 lies beyond
 * the record's sequence read before it (no sequence drawn twice after the
 * forcer's).  At the end every block is free and the state validates.
 * Run twice: head 0 entering with a plain store (its process registered
 * for membarrier), then fenced (registration refused).
 */
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "internal.h"
#include "mhsld/fm.h"
#include "mhsld/testing.h"
#include "testutil.h"

#define NBLK 256
#define K 4
#define ROUNDS 4000     /* head 0's claims at least... */
#define WANT_FORCED 300 /* ...and on until this many were forced */
#define MAX_MS 20000    /* but never longer than this */

static char path[128];

static mhsld_extent ext(unsigned i)
{
    return tu_ext((uint64_t)(8 * i + 1) * BS, 2 * BS); /* all in word 0 */
}

typedef struct counts {
    unsigned long claims0[K], rel0[K], forced[K], claims1[K], rel1[K];
    unsigned long busy0, busy1, busy_f, not_owner_f, conflict0, conflict1;
    unsigned long double_owned, reused, other;
    int ready, stop;
} counts;

static counts *c;

static void bump(unsigned long *p)
{
    __atomic_fetch_add(p, 1, __ATOMIC_RELAXED);
}

/* Are any of head `head`'s owned-map bits for extent e set? */
static int owns_any(mhsld_state *st, uint32_t head, mhsld_extent e)
{
    const uint64_t *om = mhsld__owned_map(st, head);
    for (uint64_t b = e.dpa / BS; b < (e.dpa + e.len) / BS; b++)
        if (__atomic_load_n(&om[b / 64], __ATOMIC_ACQUIRE) >> (b % 64) & 1)
            return 1;
    return 0;
}

static int stopped(void)
{
    return __atomic_load_n(&c->stop, __ATOMIC_ACQUIRE);
}

static void run_head0(mhsld_state *st, int fenced)
{
    if (fenced)
        mhsld_test_membarrier(MHSLD_TEST_MB_NOREG);
    mhsld_head *h = NULL;
    if (mhsld_attach(st, 0, 0, &h) != MHSLD_OK)
        _exit(3);
    if ((__atomic_load_n(&st->heads[0].baton, __ATOMIC_ACQUIRE) == MHSLD__BATON_FENCED) != fenced)
        fprintf(stderr, "head 0: not the entry asked for (TSan or no membarrier?)\n");
    __atomic_store_n(&c->ready, 1, __ATOMIC_RELEASE);
    int held[K] = {0};
    uint64_t t_end = tu_now_ms() + MAX_MS;
    for (unsigned long r = 0;; r++) {
        unsigned long forced = 0;
        for (unsigned i = 0; i < K; i++)
            forced += __atomic_load_n(&c->forced[i], __ATOMIC_RELAXED);
        if ((r >= ROUNDS && forced >= WANT_FORCED) || tu_now_ms() > t_end)
            break;
        unsigned i = (unsigned)(r % K);
        mhsld_extent e = ext(i);
        if (!held[i]) {
            mhsld_head_info hi;
            if (mhsld_head_info_get(st, 0, &hi) != MHSLD_OK)
                _exit(3);
            uint64_t seen = MHSLD__SEQ_MASK - hi.seqs_left, grp = 0;
            /* The outside-action word before the claim: if it is the same,
             * and no outsider active, after the check below, no forced
             * release took the extent from head 0 in between, so head 1's
             * bits there would be a block owned twice.  Otherwise the
             * forcer may have freed it and head 1 claimed it, legitimately. */
            uint64_t act0 = __atomic_load_n(&st->heads[0].actw, __ATOMIC_ACQUIRE);
            mhsld_status s = mhsld_reserve(h, &e, 1, &grp, NULL);
            if (s == MHSLD_OK) {
                if (grp <= seen)
                    bump(&c->reused);
                /* A pending reservation is not the forcer's to take: only
                 * an outsider acting right now holds the commit off. */
                for (int tries = 0; tries < 100; tries++) {
                    s = mhsld_commit(h, grp, &e, 1);
                    if (s != MHSLD_E_BUSY)
                        break;
                    bump(&c->busy0);
                }
                if (s != MHSLD_OK)
                    bump(&c->other);
            }
            if (s == MHSLD_OK) {
                bump(&c->claims0[i]);
                held[i] = 1;
                int other = owns_any(st, 1, e);
                uint64_t act1 = __atomic_load_n(&st->heads[0].actw, __ATOMIC_ACQUIRE);
                if (other && act1 == act0 && !(act1 & MHSLD__ACT_ACTIVE))
                    bump(&c->double_owned);
            } else if (s == MHSLD_E_CONFLICT) {
                bump(&c->conflict0);
            } else if (s == MHSLD_E_BUSY) {
                bump(&c->busy0);
            } else {
                bump(&c->other);
            }
        } else {
            mhsld_status s = mhsld_release(h, &e, 1, NULL);
            if (s == MHSLD_OK) {
                bump(&c->rel0[i]);
                held[i] = 0;
            } else if (s == MHSLD_E_NOT_OWNER) {
                held[i] = 0; /* the forcer took it */
            } else if (s == MHSLD_E_BUSY) {
                bump(&c->busy0);
            } else {
                bump(&c->other);
            }
        }
    }
    __atomic_store_n(&c->stop, 1, __ATOMIC_RELEASE);
    /* Give back what is still held (the forcer has stopped or will find
     * nothing; BUSY only while it is still in a call: retry). */
    for (unsigned i = 0; i < K; i++) {
        mhsld_extent e = ext(i);
        for (int tries = 0; held[i] && tries < 100; tries++) {
            mhsld_status s = mhsld_release(h, &e, 1, NULL);
            if (s == MHSLD_OK)
                bump(&c->rel0[i]);
            if (s != MHSLD_E_BUSY)
                held[i] = 0;
        }
        if (held[i])
            bump(&c->other);
    }
    mhsld_detach(h);
    _exit(0);
}

static void run_head1(mhsld_state *st)
{
    mhsld_head *h = NULL;
    if (mhsld_attach(st, 1, 0, &h) != MHSLD_OK)
        _exit(3);
    for (unsigned long r = 0; !stopped(); r++) {
        unsigned i = (unsigned)(r % K);
        mhsld_extent e = ext(i);
        mhsld_status s = tu_claim(h, e.dpa, e.len);
        if (s == MHSLD_E_CONFLICT) {
            bump(&c->conflict1);
            continue;
        }
        if (s == MHSLD_E_BUSY) {
            bump(&c->busy1);
            continue;
        }
        if (s != MHSLD_OK) {
            bump(&c->other);
            continue;
        }
        bump(&c->claims1[i]);
        if (owns_any(st, 0, e))
            bump(&c->double_owned);
        s = mhsld_release(h, &e, 1, NULL);
        if (s == MHSLD_OK)
            bump(&c->rel1[i]);
        else
            bump(&c->other);
    }
    mhsld_detach(h);
    _exit(0);
}

static void run_forcer(mhsld_state *st)
{
    /* Not before head 0 is attached: a forcer would act on the dead head
     * holding its liveness lock, and the attach would find it taken. */
    uint64_t until = tu_now_ms() + 10000;
    while (!__atomic_load_n(&c->ready, __ATOMIC_ACQUIRE) && !stopped() && tu_now_ms() < until)
        sched_yield();
    for (unsigned long r = 0; !stopped(); r++) {
        unsigned i = (unsigned)(r % K);
        mhsld_extent e = ext(i);
        mhsld_status s = mhsld_fm_force_release(st, 0, &e, 1, 1000, NULL);
        if (s == MHSLD_OK)
            bump(&c->forced[i]);
        else if (s == MHSLD_E_NOT_OWNER)
            bump(&c->not_owner_f);
        else if (s == MHSLD_E_BUSY)
            bump(&c->busy_f);
        else
            bump(&c->other);
    }
    _exit(0);
}

static void round_of(int fenced)
{
    mhsld_geometry g;
    mhsld_geometry_init(&g, 3, BS, 0, NBLK * BS);
    mhsld_state *st = tu_create(tu_path(path, sizeof(path), "baton-procs"), &g);
    memset(c, 0, sizeof(*c));
    pid_t pids[3];
    for (int k = 0; k < 3; k++) {
        pids[k] = fork();
        REQUIRE(pids[k] >= 0);
        if (pids[k] == 0) {
            if (k == 0)
                run_head0(st, fenced);
            else if (k == 1)
                run_head1(st);
            else
                run_forcer(st);
        }
    }
    /* Head 0 decides when the round ends; should it die, the others stop
     * too. */
    for (int k = 0; k < 3; k++) {
        int ws = 0;
        REQUIRE(waitpid(pids[k], &ws, 0) == pids[k]);
        if (k == 0)
            __atomic_store_n(&c->stop, 1, __ATOMIC_RELEASE);
        if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
            fprintf(stderr, "process %d: wait status %#x\n", k, ws);
        CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    }
    unsigned long claims0 = 0, rel0 = 0, forced = 0, claims1 = 0;
    for (unsigned i = 0; i < K; i++) {
        CHECK(c->claims0[i] == c->rel0[i] + c->forced[i]);
        CHECK(c->claims1[i] == c->rel1[i]);
        claims0 += c->claims0[i];
        rel0 += c->rel0[i];
        forced += c->forced[i];
        claims1 += c->claims1[i];
    }
    printf("  %s entry: head 0 claims %lu, own releases %lu, forced %lu; head 1 claims %lu; "
           "busy %lu/%lu/%lu; forcer not owner %lu\n",
           fenced ? "fenced" : "plain", claims0, rel0, forced, claims1, c->busy0, c->busy1,
           c->busy_f, c->not_owner_f);
    CHECK(c->double_owned == 0);
    CHECK(c->reused == 0);
    CHECK(c->other == 0);
    CHECK(claims0 > 0 && forced > 0);
    for (uint64_t b = 0; b < NBLK; b++)
        if (tu_block_state(st, b * BS, NULL) != MHSLD_BLOCK_FREE) {
            fprintf(stderr, "block %llu not free\n", (unsigned long long)b);
            tu_fail++;
            break;
        }
    CHECK_VALID(st);
    mhsld_close(st);
    REQUIRE(mhsld_destroy(path, true) == MHSLD_OK);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    c = mmap(NULL, sizeof(*c), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    REQUIRE(c != MAP_FAILED);
    round_of(0);
    round_of(1);
    munmap(c, sizeof(*c));
    return tu_report("test_baton_procs");
}
