/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Crash-test children: a forked child runs an operation with one crash
 * point armed, which kills it there with SIGKILL (as a dead head dies).
 */
#ifndef MHSLD_CRASHUTIL_H
#define MHSLD_CRASHUTIL_H

#include "mhsld/testing.h"
#include "testutil.h"

/* A crash hook that kills the process where it is. */
static inline void tu_kill_self(void *arg)
{
    (void)arg;
    raise(SIGKILL);
}

/* Arm crash point k (the k-th atomic step from here) to kill the process. */
static inline void tu_arm(uint64_t k)
{
    mhsld_test_crash_at(k, tu_kill_self, NULL);
}

/* Fork a child that runs body(st, k, arg), which does its set-up, arms
 * crash point k with tu_arm and runs the operation; the child exits 0 when
 * body returns (body may _exit with another status, which fails the test).
 * 1: the child was killed at its crash point; 0: it finished first. */
typedef void (*tu_body)(mhsld_state *st, uint64_t k, void *arg);
static inline int tu_killed_at(mhsld_state *st, uint64_t k, tu_body body, void *arg)
{
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        body(st, k, arg);
        _exit(0);
    }
    return tu_wait_killed(pid);
}

/* A fresh state of `heads` heads and nblk blocks in one region; its path
 * (named after tag) in path. */
static inline mhsld_state *tu_create_blocks(char *path, size_t len, const char *tag, uint32_t heads,
                                            uint64_t nblk)
{
    mhsld_geometry g;
    mhsld_geometry_init(&g, heads, BS, 0, nblk * BS);
    tu_path(path, len, tag);
    return tu_create(path, &g);
}

#endif /* MHSLD_CRASHUTIL_H */
