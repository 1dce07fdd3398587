/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The baton's handshake between a head's entry and an outside actor
 * (engine/src/fmforce.c), case by case.  The head publishes HEAD in its
 * baton with a plain store and then looks at the outsiders' word actw; an
 * outsider sets ACTIVE in actw, fences every registered thread with
 * membarrier, then looks at the baton.
 *
 *   window      inside a head's entry, after it published HEAD and before it
 *               looks at actw (mhsld_test_entry_hook), a forced release
 *               runs on the same thread: it must not act (it answers BUSY
 *               at its timeout) and the head's operation then runs.  An
 *               entry that looked at actw first, or never published HEAD,
 *               lets the forcer act there.
 *   retreat     in the same window a forcer thread sets ACTIVE and waits
 *               for the head: the head must stand back, let it act, and run
 *               after it (its release finds the extent gone: NOT_OWNER, the
 *               forcer's OK).  An entry that does not look at actw after
 *               publishing HEAD releases the extent itself and the forcer
 *               finds nothing to release.
 *   active      a forcer paused while it acts: the head's operation answers
 *               BUSY at its deadline and changes nothing (also
 *               test_fmforce's busy case, across processes).
 *   fenced      a head attached where the kernel refuses membarrier
 *               registration: its baton says FENCED, its entry is an
 *               exchange, and outsiders act on it with or without a
 *               membarrier of their own; window and retreat hold for it too.
 *   unfenceable an outsider whose membarrier fails does not act on a head
 *               that enters with a plain store: BUSY at its timeout, nothing
 *               changed, actw given back; a dead head it still releases.
 *
 * "default" is the entry this build and kernel give (a plain store; under
 * ThreadSanitizer, which runs this file for its threads, always fenced).
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
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
    return tu_create(tu_path(path, sizeof(path), "baton"), &g);
}

static void done(mhsld_state *st)
{
    CHECK_VALID(st);
    mhsld_close(st);
    REQUIRE(mhsld_destroy(path, true) == MHSLD_OK);
}

static uint64_t word(uint64_t *w)
{
    return __atomic_load_n(w, __ATOMIC_SEQ_CST);
}

/* ---- window: a forcer between the head's HEAD and its look at actw ------- */

typedef struct window {
    mhsld_state *st;
    mhsld_extent e;
    mhsld_status got;
    uint64_t baton; /* as the forcer found it */
    int ran;
} window;

static void force_in_window(void *arg)
{
    window *w = arg;
    w->ran = 1;
    w->baton = word(&w->st->heads[0].baton);
    w->got = mhsld_fm_force_release(w->st, 0, &w->e, 1, 50, NULL);
}

static void test_window(const char *mode)
{
    mhsld_state *st = fresh();
    mhsld_head *h0 = tu_attach(st, 0);
    mhsld_extent x = tu_ext(0, 2 * BS), y = tu_ext(64 * BS, BS);
    REQUIRE(tu_claim(h0, x.dpa, x.len) == MHSLD_OK);
    REQUIRE(tu_claim(h0, y.dpa, y.len) == MHSLD_OK);
    window w = {.st = st, .e = x, .got = MHSLD_E__COUNT, .baton = 0, .ran = 0};
    mhsld_test_entry_hook(force_in_window, &w);
    mhsld_status s = mhsld_release(h0, &y, 1, NULL);
    mhsld_test_entry_hook(NULL, NULL);
    CHECK(w.ran);
    CHECK(w.baton & MHSLD__BATON_HEAD); /* published before the look */
    CHECK_ST(w.got, MHSLD_E_BUSY);      /* so the forcer did not act */
    CHECK_OK(s);                        /* and the head's operation ran */
    CHECK(mhsld_access_ok(h0, x.dpa, x.len));
    CHECK(tu_block_state(st, x.dpa, NULL) == MHSLD_BLOCK_OWNED);
    CHECK(tu_block_state(st, y.dpa, NULL) == MHSLD_BLOCK_FREE);
    CHECK((word(&st->heads[0].actw) & MHSLD__ACT_ACTIVE) == 0);
    /* Afterwards both sides work. */
    CHECK_OK(mhsld_fm_force_release(st, 0, &x, 1, 1000, NULL));
    CHECK(!mhsld_access_ok(h0, x.dpa, x.len));
    CHECK_OK(tu_claim(h0, x.dpa, x.len));
    mhsld_detach(h0);
    done(st);
    printf("  %-7s window: the forcer found the baton %llu, answered %s\n", mode,
           (unsigned long long)w.baton, mhsld_status_name(w.got));
}

/* ---- retreat: ACTIVE set while the head is in the window ---------------- */

typedef struct retreat {
    mhsld_state *st;
    mhsld_extent e;
    pthread_t t;
    mhsld_status got;
    int saw_active, started;
} retreat;

static void *forcer_thread(void *arg)
{
    retreat *r = arg;
    r->got = mhsld_fm_force_release(r->st, 0, &r->e, 1, 10000, NULL);
    return NULL;
}

static void start_forcer(void *arg)
{
    retreat *r = arg;
    r->started = pthread_create(&r->t, NULL, forcer_thread, r) == 0;
    if (!r->started)
        return;
    /* Until the forcer has set ACTIVE (it then waits for this head's FREE). */
    uint64_t until = tu_now_ms() + 10000;
    while (!(word(&r->st->heads[0].actw) & MHSLD__ACT_ACTIVE) && tu_now_ms() < until)
        sched_yield();
    r->saw_active = (word(&r->st->heads[0].actw) & MHSLD__ACT_ACTIVE) != 0;
}

static void test_retreat(const char *mode)
{
    mhsld_state *st = fresh();
    mhsld_head *h0 = tu_attach(st, 0);
    mhsld_extent x = tu_ext(10 * BS, 3 * BS);
    REQUIRE(tu_claim(h0, x.dpa, x.len) == MHSLD_OK);
    retreat r = {.st = st, .e = x, .got = MHSLD_E__COUNT, .saw_active = 0, .started = 0};
    mhsld_test_entry_hook(start_forcer, &r);
    mhsld_status s = mhsld_release(h0, &x, 1, NULL);
    mhsld_test_entry_hook(NULL, NULL);
    REQUIRE(r.started);
    REQUIRE(pthread_join(r.t, NULL) == 0);
    CHECK(r.saw_active);
    /* The forcer acted first, the head after it: exactly one release. */
    CHECK_ST(r.got, MHSLD_OK);
    CHECK_ST(s, MHSLD_E_NOT_OWNER);
    CHECK(!mhsld_access_ok(h0, x.dpa, x.len));
    CHECK(tu_block_state(st, x.dpa, NULL) == MHSLD_BLOCK_FREE);
    /* The head resynchronised: its next reservation draws beyond the
     * forcer's sequence. */
    mhsld_block_info bi;
    REQUIRE(mhsld_block_info_get(st, x.dpa / BS, &bi) == MHSLD_OK);
    uint64_t forced = bi.generation & MHSLD__SEQ_MASK, grp = 0;
    CHECK_OK(mhsld_reserve(h0, &x, 1, &grp, NULL));
    CHECK(grp > forced);
    CHECK_OK(mhsld_commit(h0, grp, &x, 1));
    mhsld_detach(h0);
    done(st);
    printf("  %-7s retreat: forcer %s, head %s\n", mode, mhsld_status_name(r.got),
           mhsld_status_name(s));
}

/* ---- active: a forcer paused while it acts -------------------------------- */

typedef struct paused {
    mhsld_state *st;
    mhsld_head *h0;
    mhsld_status head_got;
    uint64_t waited;
    int ran;
} paused;

/* Runs inside the forcer (this thread) at its second step: ACTIVE set, the
 * baton seen FREE, nothing journalled yet. */
static void head_while_active(void *arg)
{
    paused *p = arg;
    p->ran = 1;
    CHECK(word(&p->st->heads[0].actw) & MHSLD__ACT_ACTIVE);
    uint64_t t0 = tu_now_ms();
    p->head_got = tu_claim(p->h0, 100 * BS, BS);
    p->waited = tu_now_ms() - t0;
}

static void test_active(void)
{
    mhsld_state *st = fresh();
    mhsld_head *h0 = tu_attach(st, 0);
    mhsld_extent x = tu_ext(0, BS);
    REQUIRE(tu_claim(h0, x.dpa, x.len) == MHSLD_OK);
    paused p = {.st = st, .h0 = h0, .head_got = MHSLD_E__COUNT, .waited = 0, .ran = 0};
    mhsld_test_crash_at(2, head_while_active, &p);
    mhsld_status s = mhsld_fm_force_release(st, 0, &x, 1, 1000, NULL);
    mhsld_test_crash_at(0, NULL, NULL);
    CHECK(p.ran);
    CHECK_OK(s);
    CHECK_ST(p.head_got, MHSLD_E_BUSY);
    CHECK(p.waited >= 1000);
    CHECK(tu_block_state(st, 100 * BS, NULL) == MHSLD_BLOCK_FREE); /* did nothing */
    CHECK(tu_block_state(st, x.dpa, NULL) == MHSLD_BLOCK_FREE);
    CHECK_OK(tu_claim(h0, 100 * BS, BS));
    mhsld_detach(h0);
    done(st);
    printf("  active: the head's claim answered %s after %llu ms\n", mhsld_status_name(p.head_got),
           (unsigned long long)p.waited);
}

/* ---- fenced: no membarrier registration --------------------------------- */

static void test_fenced(void)
{
    mhsld_test_membarrier(MHSLD_TEST_MB_NOREG);
    mhsld_state *st = fresh();
    mhsld_head *h0 = tu_attach(st, 0);
    CHECK(word(&st->heads[0].baton) == MHSLD__BATON_FENCED);
    mhsld_extent x = tu_ext(0, 2 * BS);
    REQUIRE(tu_claim(h0, x.dpa, x.len) == MHSLD_OK);
    CHECK(word(&st->heads[0].baton) == MHSLD__BATON_FENCED);
    /* An outsider without a membarrier of its own acts on it. */
    mhsld_test_membarrier(MHSLD_TEST_MB_NOREG | MHSLD_TEST_MB_NOCMD);
    CHECK_OK(mhsld_fm_force_release(st, 0, &x, 1, 1000, NULL));
    CHECK(!mhsld_access_ok(h0, x.dpa, x.len));
    CHECK_OK(tu_claim(h0, x.dpa, x.len));
    mhsld_test_membarrier(MHSLD_TEST_MB_NOREG);
    CHECK_OK(mhsld_fm_force_release(st, 0, &x, 1, 1000, NULL));
    CHECK_OK(tu_claim(h0, x.dpa, x.len));
    mhsld_detach(h0);
    done(st);
    test_window("fenced");
    test_retreat("fenced");
    mhsld_test_membarrier(MHSLD_TEST_MB_NOREG | MHSLD_TEST_MB_NOCMD);
    test_window("fenced, outsider without membarrier:");
    test_retreat("fenced, outsider without membarrier:");
    mhsld_test_membarrier(0);
}

/* ---- unfenceable: the outsider's membarrier fails ---------------------- */

static void test_unfenceable(void)
{
    mhsld_state *st = fresh();
    mhsld_head *h0 = tu_attach(st, 0);
    if (word(&st->heads[0].baton) != MHSLD__BATON_FREE) {
        /* ThreadSanitizer build, or a kernel without membarrier: every
         * entry here is fenced, nothing to see. */
        printf("  unfenceable: skipped (this process's heads enter fenced)\n");
        mhsld_detach(h0);
        done(st);
        return;
    }
    mhsld_extent x = tu_ext(0, 2 * BS);
    REQUIRE(tu_claim(h0, x.dpa, x.len) == MHSLD_OK);
    uint64_t a0 = word(&st->heads[0].actw);
    mhsld_test_membarrier(MHSLD_TEST_MB_NOCMD);
    uint64_t t0 = tu_now_ms();
    CHECK_ST(mhsld_fm_force_release(st, 0, &x, 1, 50, NULL), MHSLD_E_BUSY);
    uint64_t waited = tu_now_ms() - t0;
    CHECK(waited >= 50);
    CHECK(mhsld_access_ok(h0, x.dpa, x.len));
    CHECK(tu_block_state(st, x.dpa, NULL) == MHSLD_BLOCK_OWNED);
    uint64_t a1 = word(&st->heads[0].actw);
    CHECK((a1 & MHSLD__ACT_ACTIVE) == 0 && a1 != a0); /* given back, counted */
    /* A dead head needs no fence: its liveness lock. */
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        mhsld_head *h2 = NULL;
        if (mhsld_attach(st, 2, 0, &h2) != MHSLD_OK || tu_claim(h2, 128 * BS, BS) != MHSLD_OK)
            _exit(1);
        _exit(0);
    }
    int ws = 0;
    REQUIRE(waitpid(pid, &ws, 0) == pid && WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    mhsld_extent z = tu_ext(128 * BS, BS);
    CHECK_OK(mhsld_fm_force_release(st, 2, &z, 1, 1000, NULL));
    CHECK(tu_block_state(st, z.dpa, NULL) == MHSLD_BLOCK_FREE);
    mhsld_test_membarrier(0);
    /* The head carries on; a forcer that can fence it acts. */
    CHECK_OK(tu_claim(h0, 20 * BS, BS));
    CHECK_OK(mhsld_fm_force_release(st, 0, &x, 1, 1000, NULL));
    CHECK(!mhsld_access_ok(h0, x.dpa, x.len));
    mhsld_detach(h0);
    done(st);
    printf("  unfenceable: BUSY after %llu ms, nothing changed\n", (unsigned long long)waited);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    test_window("default");
    test_retreat("default");
    test_active();
    test_fenced();
    test_unfenceable();
    return tu_report("test_baton_threads");
}
