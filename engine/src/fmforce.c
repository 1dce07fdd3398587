/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Acting as a live head from outside it: the baton, and the fabric
 * manager's forced release.
 *
 * A head's operations and an outside actor's must not interleave: both
 * continue the same journal with the same sequence space.  Until the baton
 * only dead heads were acted on from outside (recovery holds the dead
 * head's liveness lock), or live ones with FORCE (which fenced the head and
 * hoped it was idle).  The baton makes acting on a live head safe, and the
 * head pays for it with no locked instruction: the outsider, which is rare,
 * pays instead ("outsider pays", an asymmetric Dekker handshake).
 *
 * The words (internal.h, mhsld__headrec): baton, written only by the head's
 * handle (HEAD while it is in an operation, FREE otherwise, and a FENCED
 * bit, below), and actw, written only by an outsider under the head's actor
 * lock (ACTIVE while one acts, and a count of completed outside actions).
 *
 *   the head      at the entry of every journalled operation stores
 *                 baton = HEAD with a plain store, then (compiler barrier
 *                 only) loads actw once: if it is the inactive word the
 *                 handle last saw (h->act), it goes on; otherwise it stores
 *                 FREE back and takes the slow path.  At the exit: one store
 *                 of FREE.
 *   an outsider   (mhsld_fm_force_release, mhsld_recover FORCE) first takes
 *                 the head's actor lock (so at most one outsider acts, and
 *                 never beside a recoverer or an attach), then either the
 *                 head's liveness lock (the head is dead: plain recovery
 *                 rules) or: CAS actw inactive -> ACTIVE,
 *                 membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED), load baton;
 *                 FREE: it acts; HEAD: it waits with backoff for FREE (or
 *                 for the head's death) up to its deadline (MHSLD_E_BUSY,
 *                 actw given back).  It ends by storing actw inactive with
 *                 the count bumped, then drops the actor lock.
 *
 * Why they never both act.  Every process that attaches a head registers
 * with MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED first.  The outsider's
 * membarrier returns only after every running thread of every registered
 * process has executed a full memory barrier (a thread not running has
 * passed one by being switched out): each of the head's compiler barriers
 * then acts as a full barrier at some point in its program order.  Take the
 * head's entry: store HEAD, barrier, load actw; and the outsider's: CAS
 * actw (a full barrier itself), membarrier, load baton.  If the point where
 * the membarrier met the head's thread lies after the head's store, the
 * store is visible when membarrier returns and the outsider's load sees
 * HEAD (or the head's later FREE: the end of that operation, or its retreat
 * after it saw ACTIVE).  If the point lies before the store, the head's
 * load of actw comes after a full barrier that follows the outsider's CAS,
 * and sees ACTIVE (or a count moved on).  Either way one of them stands
 * back.  The head's exit (release) and the outsider's load (acquire), and
 * the outsider's final store of actw (release) and the head's load of it
 * (acquire), carry each side's writes to the other.
 *
 * Without membarrier.  A process whose kernel refuses the registration
 * (old kernel, seccomp; MEMBARRIER_CMD_QUERY says which), and every process
 * of a ThreadSanitizer build (TSan cannot see a membarrier's ordering; the
 * compile-time switch MHSLD__TSAN), gives its handles a fenced entry: HEAD
 * is published by an atomic exchange, a full barrier, and the handle's
 * baton words carry the FENCED bit.  An outsider whose own membarrier
 * fails acts only on a head whose FREE word says FENCED (the exchange and
 * its own CAS are full barriers on both sides: plain Dekker); a head it
 * cannot fence it treats as busy, waiting (for the head's death, as for a
 * busy head) until its deadline: MHSLD_E_BUSY.  The FENCED bit is written by
 * the head's incarnation from its attach on (under the actor lock, which
 * the outsider holds), so it describes the handle the outsider races.
 *
 * Who may act as head D, when: D's own handle while it has published HEAD
 * and seen actw as it expects; an outsider while it holds D's actor lock
 * and either has set ACTIVE and seen D's baton FREE, or holds D's liveness
 * lock (D dead); nobody else.  The two locks are kernel locks, dropped when
 * their holder dies, so:
 *
 *   - an outsider that dies while acting leaves actw ACTIVE with the actor
 *     lock free.  Whoever comes next takes the actor lock and, finding
 *     ACTIVE, knows its setter is dead (it holds the only actor lock
 *     itself): it recovers D's journal (the dead outsider journalled in D's
 *     journal exactly as D does, with D's sequences and tags, so recovery
 *     finishes or undoes its operation exactly) and goes on.  The head
 *     itself does this from its slow path: seeing ACTIVE it asks the kernel
 *     whether the actor lock is held (F_OFD_GETLK); if not, it takes the
 *     actor lock, checks its epoch (a FORCE recovery or an attach changes
 *     it only under that lock), recovers its own journal as a recoverer
 *     would, clears ACTIVE (count bumped) and publishes HEAD before it
 *     drops the lock (the next outsider, after it, then sees HEAD).
 *   - a head that dies in an operation (HEAD) is dead: outsiders take its
 *     liveness lock and act as its recoverer; its next attach resets both
 *     words under both locks.
 *   - a head's handle exists only while its process holds the head's
 *     liveness lock (detach drops both), so no newer incarnation runs
 *     beside a stale handle; a handle fenced by FORCE publishes HEAD and
 *     FREE like any other but never acts (its entry answers MHSLD_E_STALE).
 *     A forked child's handles point at a stand-in record (fork.c), whose
 *     baton their entries write and whose epoch never matches.
 *
 * Co-tenants.  Either word may be written by anyone at any time.  The head
 * never reads its baton; a value in actw other than h->act sends it to the
 * slow path, which is bounded by a deadline (MHSLD_E_BUSY) and answers as
 * above (ACTIVE with no actor: taken over; another count: resync).  An
 * outsider treats any baton value but FREE (or FENCED) as a head in an
 * operation and waits, bounded; it takes an ACTIVE actw as a dead
 * outsider's; a CAS that fails it retries within its deadline.  A writer
 * can thus make either side answer MHSLD_E_BUSY, or, by writing FREE over
 * HEAD or the expected word over ACTIVE, let both act at once, as it could
 * rewrite the journal itself: every call still returns and every index
 * stays inside the mapping.
 *
 * Sequences and stamps.  A (head, sequence) pair must never be used twice:
 * occupancy tags (blocks' generations) and reservation ids rest on it.  Every actor
 * stores a sequence into the record (hr->seq) before it uses it, and only
 * one actor acts as the head at a time.  An outsider starts from
 * mhsld__seq_floor (the record's sequence and its pending reservations',
 * the largest), which is at least every sequence used before it acted.
 * The head keeps its sequence privately (h->seq) and does not re-read the
 * record (a co-tenant could roll it back); but every outsider gives actw
 * back with its count bumped, so the head's next entry sees a word other
 * than h->act, and its slow path takes max(h->seq, floor) (the floor read
 * after actw) before it draws again.  Neither side ever lowers its
 * sequence.  The head keeps nothing else privately that an outsider
 * changes: pending reservations are read from the record on every call,
 * and the access view points into the owned map the outsider writes.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "mhsld/fm.h"
#ifdef MHSLD_TESTING
#include "mhsld/testing.h"
#endif

/* How long a head's operation waits for an outside actor to end before it
 * answers MHSLD_E_BUSY; also a FORCE recovery's wait for a live head's
 * operation to end. */
#define MHSLD__BATON_WAIT_NS (1000ull * 1000 * 1000)

uint64_t mhsld__now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* Back off: spin a little, then yield, then sleep up to 1 ms per round. */
static void backoff(unsigned *round)
{
    unsigned r = (*round)++;
    if (r < 64) {
        mhsld__pause();
    } else if (r < 128) {
        sched_yield();
    } else {
        unsigned us = r < 1128 ? r - 127 : 1000;
        struct timespec t = {0, (long)us * 1000};
        nanosleep(&t, NULL);
    }
}

/* Is head's actor lock held by some open file description (not st->fd's,
 * which never takes one)?  1 held, 0 free, -1 unknown. */
static int actor_locked(const mhsld_state *st, uint32_t head)
{
    struct flock fl;
    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = MHSLD__LOCK_ACTOR + (off_t)head;
    fl.l_len = 1;
    if (fcntl(st->fd, F_OFD_GETLK, &fl) != 0)
        return -1;
    return fl.l_type != F_UNLCK;
}

/* ---- membarrier ---------------------------------------------------------- */

#ifdef MHSLD_TESTING
static unsigned mb_test_off; /* MHSLD_TEST_MB_* */

void mhsld_test_membarrier(unsigned off)
{
    __atomic_store_n(&mb_test_off, off, __ATOMIC_RELAXED);
}

static int mb_off(unsigned what)
{
    return (__atomic_load_n(&mb_test_off, __ATOMIC_RELAXED) & what) != 0;
}

static _Thread_local mhsld_entry_hook_fn entry_hook;
static _Thread_local void *entry_hook_arg;

void mhsld_test_entry_hook(mhsld_entry_hook_fn fn, void *arg)
{
    entry_hook = fn;
    entry_hook_arg = arg;
}

void mhsld__entry_hook(void)
{
    if (entry_hook) {
        mhsld_entry_hook_fn fn = entry_hook;
        entry_hook = NULL;
        fn(entry_hook_arg);
    }
}
#endif

static long membarrier(int cmd)
{
    return syscall(__NR_membarrier, cmd, 0u, 0);
}

#if defined(MHSLD__TSAN)
int mhsld__membarrier_register(void)
{
    return 0; /* TSan cannot see the handshake's ordering: fenced entries */
}
#else
/* This process's registration: pid << 2 | 2 (known) | 1 (registered); 0
 * unknown.  The pid makes a forked child (which may or may not inherit the
 * registration) ask again. */
static uint64_t mb_cache;

int mhsld__membarrier_register(void)
{
#ifdef MHSLD_TESTING
    if (mb_off(MHSLD_TEST_MB_NOREG))
        return 0;
#endif
    uint64_t pid = (uint64_t)getpid();
    uint64_t c = __atomic_load_n(&mb_cache, __ATOMIC_ACQUIRE);
    if (c >> 2 == pid && (c & 2))
        return (int)(c & 1);
    long q = membarrier(MEMBARRIER_CMD_QUERY);
    long want = MEMBARRIER_CMD_GLOBAL_EXPEDITED | MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED;
    int ok =
        q >= 0 && (q & want) == want && membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) == 0;
    __atomic_store_n(&mb_cache, pid << 2 | 2u | (uint64_t)ok, __ATOMIC_RELEASE);
    return ok;
}
#endif

/* A full barrier on every running thread of every registered process:
 * 1 done, 0 refused by the kernel. */
static int global_barrier(void)
{
#ifdef MHSLD_TESTING
    if (mb_off(MHSLD_TEST_MB_NOCMD))
        return 0;
#endif
    return membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) == 0;
}

/* ---- the head's side ----------------------------------------------------- */

static mhsld_status resync_seq(mhsld_head *h)
{
    uint64_t floor = 0;
    mhsld_status s = mhsld__seq_floor(h->hr, &floor);
    if (s != MHSLD_OK)
        return s;
    if (floor > h->seq)
        h->seq = floor;
    return MHSLD_OK;
}

/* An outsider set ACTIVE and its actor lock is free (it died, or a
 * co-tenant wrote actw): under the actor lock nobody acts as this head, so
 * finish whatever is journalled, clear ACTIVE and publish HEAD before the
 * lock goes (the next outsider takes it after us and sees HEAD).  1: h may
 * act; 0: an outsider holds the actor lock now (wait for it); -1: *err. */
static int take_over(mhsld_head *h, mhsld_status *err)
{
    mhsld__lockref actor = {.fd = -1, .head = NULL};
    mhsld_status s = mhsld__lock_actor(h->st, h->head, &actor);
    if (s == MHSLD_E_BUSY)
        return 0;
    if (s != MHSLD_OK) {
        *err = s;
        return -1;
    }
    /* Attach and FORCE change the epoch only under the actor lock: a handle
     * fenced meanwhile must not recover the head it no longer is. */
    if (mhsld__load64(&h->hr->epoch) != h->epoch)
        s = MHSLD_E_STALE;
    if (s == MHSLD_OK)
        s = resync_seq(h);
    if (s == MHSLD_OK) {
        mhsld_recover_report rep;
        memset(&rep, 0, sizeof(rep));
        s = mhsld__recover_journal(h->st, h->head, &h->seq, &rep);
    }
    if (s == MHSLD_OK) {
        uint64_t a = mhsld__load64(&h->hr->actw);
        if (a & MHSLD__ACT_ACTIVE) {
            a = mhsld__act_next(a);
            mhsld__store64(&h->hr->actw, a);
        }
        h->act = a;
        (void)mhsld__swap64(&h->hr->baton, h->bat | MHSLD__BATON_HEAD);
    }
    mhsld__unlock_head(&actor);
    if (s != MHSLD_OK) {
        *err = s;
        return -1;
    }
    return 1;
}

mhsld_status mhsld__baton_head_slow(mhsld_head *h)
{
    /* First: a fenced handle (a forked child's points at a stand-in record
     * that must never be acted on) stops here. */
    if (mhsld__load64(&h->hr->epoch) != h->epoch)
        return MHSLD_E_STALE;
    mhsld__headrec *hr = h->hr;
    h->j1_next = 0; /* somebody may have acted as the head: journal unknown */
    uint64_t deadline = mhsld__now_ns() + MHSLD__BATON_WAIT_NS;
    unsigned round = 0;
    for (;;) {
        uint64_t a = mhsld__load64(&hr->actw);
        if (!(a & MHSLD__ACT_ACTIVE)) {
            if (a != h->act) {
                /* Somebody acted as this head since: resynchronise.  The
                 * floor is read after a; if anybody acts between, actw moves
                 * on and the entry below fails.  (Not under the actor lock:
                 * a fabric manager that keeps taking it must not starve the
                 * head.) */
                mhsld_status s = resync_seq(h);
                if (s != MHSLD_OK)
                    return s;
                h->act = a;
            }
            if (mhsld__baton_try(h))
                return MHSLD_OK;
        } else if (actor_locked(h->st, h->head) == 0) {
            /* ACTIVE whose setter died (or a co-tenant's word). */
            mhsld_status err = MHSLD_OK;
            int r = take_over(h, &err);
            if (r > 0)
                return MHSLD_OK;
            if (r < 0)
                return err;
        }
        /* else an outsider is acting: wait for it */
        if (mhsld__now_ns() > deadline)
            return MHSLD_E_BUSY;
        backoff(&round);
    }
}

void mhsld__baton_reset(mhsld_head *h)
{
    h->bat = mhsld__membarrier_register() ? MHSLD__BATON_FREE : MHSLD__BATON_FENCED;
    mhsld__store64(&h->hr->baton, h->bat);
    uint64_t a = mhsld__load64(&h->hr->actw);
    if (a & MHSLD__ACT_ACTIVE) { /* its setter is dead: we hold the actor lock */
        a = mhsld__act_next(a);
        mhsld__store64(&h->hr->actw, a);
    }
    h->act = a;
}

/* ---- the outsider's side --------------------------------------------------- */

mhsld_status mhsld__act_begin(mhsld_state *st, uint32_t head, uint64_t deadline_ns,
                              mhsld__lockref *live_lock, int *dead, uint64_t *taken)
{
    mhsld__headrec *hr = &st->heads[head];
    unsigned round = 0;
    int active = 0, fenced = 0;
    mhsld_status s;
    *dead = 0;
    for (;;) {
        live_lock->fd = -1;
        live_lock->head = NULL;
        s = mhsld__lock_head(st, head, live_lock);
        if (s == MHSLD_OK) { /* dead: we are its recoverer */
            *dead = 1;
            if (!active)
                *taken = mhsld__load64(&hr->actw);
            return MHSLD_OK;
        }
        if (s != MHSLD_E_ALIVE)
            break;
        if (!active) {
            uint64_t a = mhsld__load64(&hr->actw);
            if (a & MHSLD__ACT_ACTIVE) {
                /* We hold the only actor lock: its setter died. */
                active = 1;
            } else {
                MHSLD__STEP();
                active = mhsld__cas64(&hr->actw, a, a | MHSLD__ACT_ACTIVE);
                /* Failed: a co-tenant rewrote the word.  Look again, but
                 * within the deadline like every other wait (a writer that
                 * changes the word between every load and CAS would
                 * otherwise hold the forcer here for as long as it keeps
                 * writing). */
            }
            if (active) {
                *taken = a | MHSLD__ACT_ACTIVE;
                fenced = global_barrier();
            }
        }
        if (active) {
            uint64_t b = mhsld__load64(&hr->baton);
            if (b == MHSLD__BATON_FENCED || (b == MHSLD__BATON_FREE && fenced))
                return MHSLD_OK;
        }
        /* HEAD: the live head is in an operation (or a co-tenant wrote the
         * word, or the head's entry is not fenced and neither could we
         * fence it): wait, bounded. */
        if (mhsld__now_ns() > deadline_ns) {
            s = MHSLD_E_BUSY;
            break;
        }
        backoff(&round);
    }
    /* Not acting after all: give actw back (count bumped: the head merely
     * resynchronises). */
    if (active) {
        MHSLD__STEP();
        mhsld__store64(&hr->actw, mhsld__act_next(*taken));
    }
    return s;
}

void mhsld__act_end(mhsld_state *st, uint32_t head, uint64_t taken, mhsld__lockref *live_lock,
                    int dead)
{
    MHSLD__STEP();
    mhsld__store64(&st->heads[head].actw, mhsld__act_next(taken));
    if (dead)
        mhsld__unlock_head(live_lock);
}

mhsld_status mhsld_fm_force_release(mhsld_state *st, uint32_t head, const mhsld_extent *ext,
                                    size_t n, uint32_t timeout_ms, mhsld_conflict *conflict)
{
    if (!st)
        return MHSLD_E_INVAL;
    if (head >= st->geo.nr_heads)
        return MHSLD_E_HEAD;
    /* The request is checked before any lock (nothing changes on bad input). */
    mhsld__bext r[MHSLD_MAX_EXTENTS];
    uint32_t nr = 0;
    mhsld_status s = mhsld__ranges_from_extents(st, ext, n, r, &nr);
    if (s != MHSLD_OK)
        return s;
    s = mhsld__check_size(st);
    if (s != MHSLD_OK)
        return s;
    uint64_t deadline = mhsld__now_ns() + (uint64_t)timeout_ms * 1000000ull;
    /* One outsider at a time, never beside a recoverer or an attach. */
    mhsld__lockref actor = {.fd = -1, .head = NULL};
    unsigned round = 0;
    for (;;) {
        s = mhsld__lock_actor(st, head, &actor);
        if (s != MHSLD_E_BUSY)
            break;
        if (mhsld__now_ns() > deadline)
            return MHSLD_E_BUSY;
        backoff(&round);
    }
    if (s != MHSLD_OK)
        return s;
    mhsld__lockref live = {.fd = -1, .head = NULL};
    int dead = 0;
    uint64_t taken = 0;
    s = mhsld__act_begin(st, head, deadline, &live, &dead, &taken);
    if (s != MHSLD_OK) {
        mhsld__unlock_head(&actor);
        return s;
    }
    /* Acting as the head: finish whatever its journal holds (an outsider
     * or the head that died mid-operation), then release. */
    uint64_t last = 0;
    s = mhsld__seq_floor(&st->heads[head], &last);
    if (s == MHSLD_OK) {
        mhsld_recover_report rep;
        memset(&rep, 0, sizeof(rep));
        s = mhsld__recover_journal(st, head, &last, &rep);
    }
    if (s == MHSLD_OK)
        s = mhsld__force_release_as(st, head, &last, ext, n, conflict);
    mhsld__act_end(st, head, taken, &live, dead);
    mhsld__unlock_head(&actor);
    if (s == MHSLD_OK && !dead) {
        /* Tell the live head, after the capacity is gone in the shared state
         * and every lock is dropped: FORCED notices of at most
         * MHSLD_FMQ_MAX_EXTENTS extents each, nobody waiting for them.  The
         * release stands whatever happens to the notices (a full queue, the
         * head dying meanwhile): the head's lists are the shared state's, and
         * its device re-reads them whenever it serves its queue.  A dead head
         * gets none: its next incarnation reads its extent list afresh. */
        for (size_t i = 0; i < n; i += MHSLD_FMQ_MAX_EXTENTS) {
            mhsld_fm_request rq;
            size_t k = n - i < MHSLD_FMQ_MAX_EXTENTS ? n - i : MHSLD_FMQ_MAX_EXTENTS;
            memset(&rq, 0, sizeof(rq));
            rq.kind = MHSLD_FM_FORCED;
            rq.n = (uint32_t)k;
            memcpy(rq.ext, ext + i, k * sizeof(*ext));
            (void)mhsld_fm_submit(st, head, &rq, 0, NULL);
        }
    }
    return s;
}
