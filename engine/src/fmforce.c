/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Acting as a live head from outside it: the baton, and the fabric
 * manager's forced release.
 *
 * A head's operations and an outside actor's must not interleave: both
 * continue the same journal with the same sequence space.  Until now only
 * dead heads were acted on from outside (recovery holds the dead head's
 * liveness lock), or live ones with FORCE (which fenced the head and hoped
 * it was idle).  The baton makes acting on a live head safe.
 *
 * The word (internal.h, mhsld__headrec.baton): holder FREE, HEAD or ACTOR,
 * and a count of outside actions.
 *
 *   the head      takes it at the entry of every journalled operation with
 *                 one CAS from the FREE word it last left (h->bat) to
 *                 h->bat | HEAD, and gives it back with one store of h->bat.
 *   an outsider   (mhsld_fm_force_release, mhsld_recover FORCE) first takes
 *                 the head's actor lock (so at most one outsider acts, and
 *                 never beside a recoverer or an attach), then either the
 *                 head's liveness lock (the head is dead: plain recovery
 *                 rules) or the baton, by a CAS FREE -> ACTOR, waiting with
 *                 backoff while the head holds it (HEAD) up to its deadline
 *                 (MHSLD_E_BUSY).  It gives the baton back FREE with the
 *                 count bumped, then drops the actor lock.
 *
 * Who may act as head D, when: D's own handle while it holds the baton
 * (HEAD); an outsider while it holds D's actor lock and either the baton
 * (ACTOR) or D's liveness lock (D dead); nobody else.  The two locks are
 * kernel locks, dropped when their holder dies, so:
 *
 *   - an outsider that dies holding the baton leaves ACTOR with the actor
 *     lock free.  Whoever comes next takes the actor lock and, finding
 *     ACTOR, knows its holder is dead (it holds the only actor lock itself):
 *     it recovers D's journal (the dead outsider journalled in D's journal
 *     exactly as D does, with D's sequences and tags, so recovery finishes
 *     or undoes its operation exactly) and goes on.  The head itself does
 *     this from its slow path: seeing ACTOR it asks the kernel whether the
 *     actor lock is held (F_OFD_GETLK); if not, it takes the actor lock,
 *     recovers its own journal as a recoverer would, and takes the baton.
 *   - a head that dies holding the baton (HEAD) is dead: outsiders take its
 *     liveness lock and act as its recoverer; its next attach resets the
 *     baton under both locks.
 *   - a head that meets HEAD on entry (no call of one handle overlaps
 *     another) or a value with holder 3 meets a co-tenant's write: it takes
 *     the actor lock (so no outsider is acting), recovers its journal and
 *     rewrites the baton.  An outsider that meets such a value waits as for
 *     a busy head, and answers MHSLD_E_BUSY at its deadline.
 *
 * Sequences and stamps.  A (head, sequence) pair must never be used twice:
 * block stamps, occupancy tags and reservation ids rest on it.  Every actor
 * stores a sequence into the record (hr->seq) before it uses it, and only
 * one actor holds the baton (or the dead head's liveness lock) at a time.
 * An outsider starts from mhsld__seq_floor (the record's sequence and its
 * pending reservations', the largest), which is at least every sequence
 * used before it took the baton.  The head keeps its sequence privately
 * (h->seq) and does not re-read the record (a co-tenant could roll it
 * back); but every outsider gives the baton back with its count bumped, so
 * the head's next entry CAS fails, and its slow path takes max(h->seq,
 * floor) before it draws again.  Neither side ever lowers its sequence.
 * The head keeps nothing else privately that an outsider changes: pending
 * reservations are read from the record on every call, and the access view
 * points into the owned map the outsider writes.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "mhsld/fm.h"

/* How long a head's operation waits for an outside actor to give its baton
 * back before it answers MHSLD_E_BUSY; also a FORCE recovery's wait for a
 * live head's operation to end. */
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

/* Nobody may hold the baton (an outsider died with it, or a co-tenant wrote
 * it): under the actor lock, finish whatever is journalled and take it. */
static mhsld_status take_over(mhsld_head *h)
{
    mhsld__lockref actor = {.fd = -1, .head = NULL};
    mhsld_status s = mhsld__lock_actor(h->st, h->head, &actor);
    if (s != MHSLD_OK)
        return s; /* BUSY: an outsider is acting now; wait for it */
    uint64_t b = mhsld__load64(&h->hr->baton);
    s = resync_seq(h);
    if (s == MHSLD_OK) {
        mhsld_recover_report rep;
        memset(&rep, 0, sizeof(rep));
        s = mhsld__recover_journal(h->st, h->head, &h->seq, &rep);
    }
    if (s == MHSLD_OK) {
        h->bat = mhsld__baton_next(b);
        mhsld__store64(&h->hr->baton, h->bat | MHSLD__BATON_HEAD);
    }
    mhsld__unlock_head(&actor);
    return s;
}

mhsld_status mhsld__baton_head_slow(mhsld_head *h)
{
    /* First: a fenced handle (a forked child's points at a stand-in record
     * that must never be written) stops here. */
    if (mhsld__load64(&h->hr->epoch) != h->epoch)
        return MHSLD_E_STALE;
    mhsld__headrec *hr = h->hr;
    uint64_t deadline = mhsld__now_ns() + MHSLD__BATON_WAIT_NS;
    unsigned round = 0;
    for (;;) {
        uint64_t b = mhsld__load64(&hr->baton);
        uint64_t who = b & MHSLD__BATON_WHO;
        if (b == h->bat) { /* it was held a moment ago: take it */
            if (mhsld__cas64(&hr->baton, b, b | MHSLD__BATON_HEAD))
                return MHSLD_OK;
        } else if (who == MHSLD__BATON_FREE && b != 0) {
            /* Somebody acted as this head since: resynchronise.  The floor
             * is read after b; if anybody acts between, the count moves on
             * and the CAS fails.  (Not under the actor lock: a fabric
             * manager that keeps taking it must not starve the head.) */
            mhsld_status s = resync_seq(h);
            if (s != MHSLD_OK)
                return s;
            if (mhsld__cas64(&hr->baton, b, b | MHSLD__BATON_HEAD)) {
                h->bat = b;
                return MHSLD_OK;
            }
        } else if (who != MHSLD__BATON_ACTOR || actor_locked(h->st, h->head) == 0) {
            /* ACTOR whose actor died, or a word nobody may hold (a FREE
             * word of count 0 included: a handle never expects 0, which
             * is a fenced stand-in record's): sorted out under the actor
             * lock. */
            mhsld_status s = take_over(h);
            if (s != MHSLD_OK && s != MHSLD_E_BUSY)
                return s;
            if (s == MHSLD_OK)
                return MHSLD_OK;
        }
        /* else an outsider is acting: wait for it */
        if (mhsld__now_ns() > deadline)
            return MHSLD_E_BUSY;
        backoff(&round);
    }
}

void mhsld__baton_reset(mhsld_head *h)
{
    h->bat = mhsld__baton_next(mhsld__load64(&h->hr->baton));
    mhsld__store64(&h->hr->baton, h->bat);
}

mhsld_status mhsld__act_begin(mhsld_state *st, uint32_t head, uint64_t deadline_ns,
                              mhsld__lockref *live_lock, int *dead, uint64_t *taken)
{
    mhsld__headrec *hr = &st->heads[head];
    unsigned round = 0;
    *dead = 0;
    for (;;) {
        live_lock->fd = -1;
        live_lock->head = NULL;
        mhsld_status s = mhsld__lock_head(st, head, live_lock);
        if (s == MHSLD_OK) { /* dead: we are its recoverer */
            *dead = 1;
            *taken = mhsld__load64(&hr->baton);
            return MHSLD_OK;
        }
        if (s != MHSLD_E_ALIVE)
            return s;
        uint64_t b = mhsld__load64(&hr->baton);
        uint64_t who = b & MHSLD__BATON_WHO;
        if (who == MHSLD__BATON_ACTOR) {
            /* We hold the only actor lock: its holder died. */
            *taken = b;
            return MHSLD_OK;
        }
        if (who == MHSLD__BATON_FREE) {
            MHSLD__STEP();
            if (mhsld__cas64(&hr->baton, b, (b & ~MHSLD__BATON_WHO) | MHSLD__BATON_ACTOR)) {
                *taken = b;
                return MHSLD_OK;
            }
            /* The head came or went, or a co-tenant rewrote the word: look
             * again, but within the deadline like every other wait (a
             * writer that changes the word between every load and CAS
             * would otherwise hold the forcer here for as long as it
             * keeps writing). */
        }
        /* HEAD: the live head is in an operation (or a co-tenant wrote
         * the word): wait, bounded. */
        if (mhsld__now_ns() > deadline_ns)
            return MHSLD_E_BUSY;
        backoff(&round);
    }
}

void mhsld__act_end(mhsld_state *st, uint32_t head, uint64_t taken, mhsld__lockref *live_lock,
                    int dead)
{
    MHSLD__STEP();
    mhsld__store64(&st->heads[head].baton, mhsld__baton_next(taken));
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
