/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Test-only hooks, present in libmhsld_testing (built with MHSLD_TESTING)
 * and absent from the production library.
 *
 * Crash points: every atomic step the engine performs on the shared state
 * (a compare-and-swap, an atomic store of a map word or shared byte, a
 * journal record)
 * first counts itself on a per-thread counter.  A test arms the counter so
 * that, just before the k-th step (k >= 1), a function of its choice runs
 * instead of the step: it may _exit() or raise(SIGKILL) (a real crash of a
 * forked process) or longjmp() out of the engine (a simulated crash inside
 * one process, followed by mhsld_test_abandon()).  Enumerating k = 1, 2, ...
 * until an operation completes without reaching k visits every crash point
 * of that operation.  mhsld_open() counts one more point, just before it
 * reads an existing state's header, where a test may act as a co-tenant
 * (truncate the file, say) without crashing.
 */
#ifndef MHSLD_TESTING_H
#define MHSLD_TESTING_H

#include <stdint.h>

#include "mhsld/mhsld.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*mhsld_crash_fn)(void *arg);

/* Arm: call fn(arg) just before the k-th atomic step from now on this
 * thread; k = 0 disarms.  Resets the step counter. */
void mhsld_test_crash_at(uint64_t k, mhsld_crash_fn fn, void *arg);
/* Atomic steps counted on this thread since the last mhsld_test_crash_at(). */
uint64_t mhsld_test_steps(void);
/* Access-check hook: fn(arg) runs once, on this thread, inside the next
 * mhsld_access_ok()/mhsld_access_check() that meets a SHARED block, between
 * the load of the block's shared byte and the load of its shared slot's
 * word (the window a concurrent retire-and-reuse of the slot falls into).
 * If fn arms the hook again, the new function runs in the same check's
 * second window, before the slot word's second load (where other heads'
 * joins and leaves fall while a sharer is being granted).  fn = NULL
 * disarms. */
typedef void (*mhsld_access_hook_fn)(void *arg);
void mhsld_test_access_hook(mhsld_access_hook_fn fn, void *arg);
/* Forget a head whose operation was abandoned by a longjmp from a crash
 * hook: frees the handle and drops its liveness lock (as the death of its
 * process would) without touching the shared state. */
void mhsld_test_abandon(mhsld_head *h);
/* Pretend the kernel refuses membarrier(2) in this process (OR of the bits;
 * 0 restores the truth): NOREG, heads attached from now on cannot register
 * and use the fenced baton entry; NOCMD, this process's outside actors
 * (forced release, FORCE recovery) cannot fence other processes' heads. */
#define MHSLD_TEST_MB_NOREG 1u
#define MHSLD_TEST_MB_NOCMD 2u
void mhsld_test_membarrier(unsigned off);
/* Entry hook: fn(arg) runs once, on this thread, inside the next journalled
 * operation's entry of any head handle, after the handle published HEAD in
 * its baton and before it looks at the outsiders' word (fmforce.c).
 * fn = NULL disarms. */
typedef void (*mhsld_entry_hook_fn)(void *arg);
void mhsld_test_entry_hook(mhsld_entry_hook_fn fn, void *arg);

#ifdef __cplusplus
}
#endif
#endif /* MHSLD_TESTING_H */
