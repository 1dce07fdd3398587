/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fork(): what a child inherits from a process using the engine.
 *
 * A head's liveness is a kernel lock held by one open file description.
 * fork() gives the child a descriptor of that same description, so without
 * care the lock would outlive the attaching process for as long as the child
 * lives: the head would read as alive (with the dead parent's pid), recovery
 * would be refused, and the child could keep operating through the inherited
 * handle, racing the head's next incarnation on the same journal.
 *
 * So every descriptor that may hold a lock is on one list, and a
 * pthread_atfork() child handler, before fork() returns in the child:
 *   - closes the child's copy of each (the parent's lock is unaffected: the
 *     description stays open through the parent's descriptor), and
 *   - fences each inherited head handle by pointing it at a stand-in head
 *     record whose epoch never matches (every operation: MHSLD_E_STALE) and
 *     a stand-in state without regions (every access check: false), and
 *     emptying the handle's fast view (mhsld_access_ok_fast: the full check).
 * Nothing is added to the operations' paths, mhsld_access_ok() included.
 *
 * The list's mutex is held across fork() (prepare handler), and descriptors
 * are created and listed, or unlisted and closed, under it: a child never
 * inherits a lock-holding descriptor that is not on the list, and never closes
 * a descriptor number that the parent has just reused for something else.
 */
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#include "internal.h"

static pthread_mutex_t guard = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static mhsld__lockref *list;

/* The stand-ins a fenced handle points at, never part of any mapping.
 * Never written but for the stand-in record's baton, which a fenced
 * handle's entry sets and resets like any handle's (atomic stores into
 * this process's own memory) before it finds the epoch wrong and refuses
 * the operation (fmforce.c). */
static uint64_t fenced_words[1];
static uint8_t fenced_bytes[1];
static mhsld_state fenced_state = {
    .fd = -1,
    .owned = fenced_words,
    .starts = fenced_words,
    .sslot = fenced_bytes,
};
static mhsld__headrec fenced_hr = {.epoch = UINT64_MAX};

static void prepare(void)
{
    pthread_mutex_lock(&guard);
}

static void parent(void)
{
    pthread_mutex_unlock(&guard);
}

static void child(void)
{
    mhsld__lockref *r = list, *next;
    for (; r; r = next) {
        next = r->next;
        if (r->fd >= 0)
            close(r->fd);
        r->fd = -1;
        if (r->head) {
            /* Stays listed until the child detaches it (which only frees it). */
            r->head->st = &fenced_state;
            r->head->hr = &fenced_hr;
            r->head->epoch = 0; /* != fenced_hr.epoch */
            /* The inlined fast path (mhsld_access_ok_fast) reads only the
             * view: an empty one sends every check to the full one, which
             * finds no region in the stand-in and answers false. */
            mhsld__view_fill(r->head, &fenced_state, 0);
        } else {
            /* A lock another thread held for a moment (open, recover): that
             * thread does not exist in the child. */
            mhsld__lockref_del(r);
        }
    }
    pthread_mutex_unlock(&guard);
}

static int install_err;

static void install(void)
{
    install_err = pthread_atfork(prepare, parent, child);
}

int mhsld__fork_guard_lock(void)
{
    pthread_once(&once, install);
    if (install_err)
        return -1;
    pthread_mutex_lock(&guard);
    return 0;
}

void mhsld__fork_guard_unlock(void)
{
    pthread_mutex_unlock(&guard);
}

void mhsld__lockref_add(mhsld__lockref *r)
{
    r->prev = NULL;
    r->next = list;
    if (list)
        list->prev = r;
    list = r;
}

void mhsld__lockref_del(mhsld__lockref *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else if (list == r)
        list = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}
