/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A head claims and releases one extent in a loop while another thread
 * force-releases that extent from outside, as fast as it can (a fabric
 * manager and a head in one process: what ThreadSanitizer can watch).
 *
 * Exact accounting: every claim the head made is ended either by its own
 * release (MHSLD_OK) or by exactly one forced release (MHSLD_OK); a release
 * that finds the extent gone answers MHSLD_E_NOT_OWNER, a forced release
 * that finds it not owned answers the same.  So
 *     claims == own releases + forced releases
 * and at the end the blocks are free, the head's access check is false, its
 * sequence covers every stamp (mhsld_validate), and a third head claims it.
 */
#include <pthread.h>

#include "mhsld/fm.h"
#include "testutil.h"

/* At least ROUNDS claims, and on until the forcer took the extent away
 * WANT_FORCED times (at most MAX_ROUNDS). */
/* The sequence space (internal.h's MHSLD__SEQ_MASK). */
#define MHSLD_SEQS ((1ull << 34) - 1)
#define ROUNDS 1000
#define WANT_FORCED 200
#define MAX_ROUNDS 200000

static mhsld_state *st;
static mhsld_head *h0;
static const mhsld_extent X = {64 * BS, 3 * BS};
static int stop;
static unsigned long forced, attempts, not_owned_f, busy_f, other_f;

static void *forcer(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        mhsld_status s = mhsld_fm_force_release(st, 0, &X, 1, 1000, NULL);
        __atomic_fetch_add(&attempts, 1, __ATOMIC_RELEASE);
        if (s == MHSLD_OK)
            __atomic_fetch_add(&forced, 1, __ATOMIC_RELAXED);
        else if (s == MHSLD_E_NOT_OWNER)
            not_owned_f++;
        else if (s == MHSLD_E_BUSY)
            busy_f++;
        else
            other_f++;
    }
    return NULL;
}

int main(void)
{
    char path[128];
    tu_path(path, sizeof(path), "fmforce-thr");
    mhsld_geometry g;
    mhsld_geometry_init(&g, 3, BS, 0, 256 * BS);
    st = tu_create(path, &g);
    h0 = tu_attach(st, 0);
    mhsld_head *h1 = tu_attach(st, 1);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, forcer, NULL) == 0);
    unsigned long claims = 0, own_rel = 0, gone = 0, conflict = 0, other = 0, regained = 0,
                  reused = 0;
    for (int i = 0; i < MAX_ROUNDS; i++) {
        if (i >= ROUNDS && __atomic_load_n(&forced, __ATOMIC_RELAXED) >= WANT_FORCED)
            break;
        /* The record's last sequence before the claim: the reservation's
         * id must be beyond it (beyond every sequence the forcer used). */
        mhsld_head_info hi;
        REQUIRE(mhsld_head_info_get(st, 0, &hi) == MHSLD_OK);
        uint64_t seen = MHSLD_SEQS - hi.seqs_left, grp = 0;
        mhsld_status s = mhsld_reserve(h0, &X, 1, &grp, NULL);
        if (s == MHSLD_OK) {
            if (grp <= seen)
                reused++;
            s = mhsld_commit(h0, grp, &X, 1);
        }
        if (s == MHSLD_OK)
            claims++;
        else if (s == MHSLD_E_BUSY)
            continue;
        else
            other++;
        /* Hold it across one of the forcer's attempts (bounded), looking
         * at it: once the access check is false it stays false (nobody but
         * this thread claims it for head 0). */
        unsigned long a = __atomic_load_n(&attempts, __ATOMIC_ACQUIRE);
        bool lost = false;
        for (int spin = 0; spin < 200000 && __atomic_load_n(&attempts, __ATOMIC_ACQUIRE) == a;
             spin++) {
            bool ok = mhsld_access_ok(h0, X.dpa, X.len);
            if (lost && ok)
                regained++;
            lost = lost || !ok;
        }
        s = mhsld_release(h0, &X, 1, NULL);
        if (s == MHSLD_OK)
            own_rel++;
        else if (s == MHSLD_E_NOT_OWNER)
            gone++;
        else if (s == MHSLD_E_CONFLICT)
            conflict++;
        else if (s != MHSLD_E_BUSY)
            other++;
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    REQUIRE(pthread_join(t, NULL) == 0);
    /* A claim the head made after the forcer's last look may still be held. */
    if (mhsld_access_ok(h0, X.dpa, X.len) && mhsld_release(h0, &X, 1, NULL) == MHSLD_OK)
        own_rel++;
    printf("claims %lu, own releases %lu, forced %lu (release found it gone %lu); forcer: "
           "not owner %lu, busy %lu\n",
           claims, own_rel, forced, gone, not_owned_f, busy_f);
    CHECK(claims == own_rel + forced);
    CHECK(other == 0 && other_f == 0 && conflict == 0 && regained == 0);
    CHECK(reused == 0);
    CHECK(claims > 0 && forced > 0);
    CHECK(!mhsld_access_ok(h0, X.dpa, X.len));
    CHECK(tu_block_state(st, X.dpa, NULL) == MHSLD_BLOCK_FREE);
    CHECK_VALID(st);
    CHECK_OK(tu_claim(h1, X.dpa, X.len));
    mhsld_detach(h0);
    mhsld_detach(h1);
    mhsld_close(st);
    REQUIRE(mhsld_destroy(path, true) == MHSLD_OK);
    return tu_report("test_fmforce_threads");
}
