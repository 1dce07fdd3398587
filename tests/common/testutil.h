/* SPDX-License-Identifier: BSD-2-Clause */
/* Small test helpers shared by tests/: checks that count and report, unique
 * state names, and state construction. */
#ifndef MHSLD_TESTUTIL_H
#define MHSLD_TESTUTIL_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mhsld/mhsld.h"

static int tu_pass, tu_fail;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            tu_pass++;                                                                             \
        } else {                                                                                   \
            tu_fail++;                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECK_ST(expr, want)                                                                       \
    do {                                                                                           \
        mhsld_status st_got_ = (expr);                                                             \
        if (st_got_ == (want)) {                                                                   \
            tu_pass++;                                                                             \
        } else {                                                                                   \
            tu_fail++;                                                                             \
            fprintf(stderr, "%s:%d: %s = %s, want %s\n", __FILE__, __LINE__, #expr,                \
                    mhsld_status_name(st_got_), mhsld_status_name(want));                          \
        }                                                                                          \
    } while (0)

#define CHECK_OK(expr) CHECK_ST(expr, MHSLD_OK)

/* Abort the test program: for setup steps that must not fail. */
#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond);             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define CHECK_VALID(st)                                                                            \
    do {                                                                                           \
        char vmsg_[256];                                                                           \
        mhsld_status vs_ = mhsld_validate((st), vmsg_, sizeof(vmsg_));                             \
        if (vs_ == MHSLD_OK) {                                                                     \
            tu_pass++;                                                                             \
        } else {                                                                                   \
            tu_fail++;                                                                             \
            fprintf(stderr, "%s:%d: validate: %s: %s\n", __FILE__, __LINE__,                       \
                    mhsld_status_name(vs_), vmsg_);                                                \
        }                                                                                          \
    } while (0)

static inline int tu_report(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, tu_pass, tu_fail);
    return tu_fail ? 1 : 0;
}

/* CLOCK_MONOTONIC in milliseconds (for bounded test loops). */
static inline uint64_t tu_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define BS (2 * MiB)

/* A unique /dev/shm path for this process. */
static inline const char *tu_path(char *buf, size_t len, const char *tag)
{
    static unsigned counter;
    snprintf(buf, len, "/dev/shm/mhsld-test-%s-%d-%u", tag, (int)getpid(), counter++);
    return buf;
}

static inline mhsld_state *tu_create(const char *path, const mhsld_geometry *g)
{
    mhsld_open_opts o = {.size = sizeof(o), .mode = MHSLD_OPEN_CREATE, .path = path, .geometry = g};
    mhsld_state *st = NULL;
    mhsld_status s = mhsld_open(&o, &st);
    if (s != MHSLD_OK) {
        fprintf(stderr, "create %s: %s\n", path, mhsld_strerror(s));
        abort();
    }
    return st;
}

static inline mhsld_state *tu_open(const char *path)
{
    mhsld_open_opts o = {
        .size = sizeof(o), .mode = MHSLD_OPEN_EXISTING, .path = path, .geometry = NULL};
    mhsld_state *st = NULL;
    mhsld_status s = mhsld_open(&o, &st);
    if (s != MHSLD_OK) {
        fprintf(stderr, "open %s: %s\n", path, mhsld_strerror(s));
        abort();
    }
    return st;
}

static inline mhsld_head *tu_attach(mhsld_state *st, uint32_t head)
{
    mhsld_head *h = NULL;
    mhsld_status s = mhsld_attach(st, head, MHSLD_ATTACH_KEEP, &h);
    if (s != MHSLD_OK) {
        fprintf(stderr, "attach %u: %s\n", head, mhsld_strerror(s));
        abort();
    }
    return h;
}

/* tu_attach for a forked child (a crash-test worker): a failed attach ends
 * the child with status 3, which its parent's wait reports. */
static inline mhsld_head *tu_child_attach(mhsld_state *st, uint32_t head)
{
    mhsld_head *h = NULL;
    if (mhsld_attach(st, head, MHSLD_ATTACH_KEEP, &h) != MHSLD_OK)
        _exit(3);
    return h;
}

static inline mhsld_extent tu_ext(uint64_t dpa, uint64_t len)
{
    mhsld_extent e = {dpa, len};
    return e;
}

/* Reserve + commit everything: the extent becomes OWNED. */
static inline mhsld_status tu_claim(mhsld_head *h, uint64_t dpa, uint64_t len)
{
    mhsld_extent e = tu_ext(dpa, len);
    uint64_t g = 0;
    mhsld_status s = mhsld_reserve(h, &e, 1, &g, NULL);
    if (s != MHSLD_OK)
        return s;
    return mhsld_commit(h, g, &e, 1);
}

/* State (and owner for exclusive states) of the block holding dpa. */
static inline uint32_t tu_block_state(mhsld_state *st, uint64_t dpa, uint32_t *owner)
{
    mhsld_geometry g;
    mhsld_get_geometry(st, &g);
    uint64_t idx = 0;
    for (uint32_t i = 0; i < g.nr_regions; i++) {
        if (dpa >= g.regions[i].base && dpa - g.regions[i].base < g.regions[i].len) {
            idx += (dpa - g.regions[i].base) / g.block_size;
            break;
        }
        idx += g.regions[i].len / g.block_size;
    }
    mhsld_block_info bi;
    REQUIRE(mhsld_block_info_get(st, idx, &bi) == MHSLD_OK);
    if (owner)
        *owner = bi.owner;
    return bi.state;
}

/* Wait for child `pid` of a crash test: 1 if SIGKILL ended it (its crash
 * point was reached), 0 if it exited 0; anything else fails the test. */
static inline int tu_wait_killed(pid_t pid)
{
    int ws = 0;
    REQUIRE(waitpid(pid, &ws, 0) == pid);
    if (WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL)
        return 1;
    REQUIRE(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    return 0;
}

#endif /* MHSLD_TESTUTIL_H */
