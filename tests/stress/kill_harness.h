/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The parent's side of a SIGKILL stress test: one worker process per head
 * on one state, each writing a byte to a pipe per batch of progress; the
 * parent SIGKILLs a random worker every `every` bytes and starts it again
 * (the new process attaches with DROP, which recovers the dead
 * incarnation), until `kills` kills; then it stops them all and checks the
 * final state against what each worker accounted for in the shared area.
 */
#ifndef MHSLD_KILL_HARNESS_H
#define MHSLD_KILL_HARNESS_H

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "testutil.h"

#define KH_MAX_HEADS 8u

/* Shared by the parent and the workers (MAP_SHARED anonymous). */
typedef struct kh_area {
    int stop;
    uint64_t ops[KH_MAX_HEADS];
    uint64_t violations[KH_MAX_HEADS];
    uint64_t count[KH_MAX_HEADS]; /* the test's own tally (conflicts, give-backs) */
    uint64_t owned[KH_MAX_HEADS];
    int finished[KH_MAX_HEADS];
} kh_area;

/* A worker: runs as head `head` until area->stop, writes a byte to wfd per
 * batch, fills its slots of the area, sets finished and _exit(0)s. */
typedef void (*kh_worker)(const char *path, uint32_t head, int wfd, uint64_t seed);

static inline kh_area *kh_area_new(void)
{
    kh_area *a = mmap(NULL, sizeof(*a), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    REQUIRE(a != MAP_FAILED);
    memset(a, 0, sizeof(*a));
    return a;
}

/* A fresh state of `heads` heads and nblk blocks at a test path. */
static inline void kh_create(char *path, size_t cap, const char *tag, uint32_t heads, uint64_t nblk)
{
    tu_path(path, cap, tag);
    mhsld_geometry g;
    mhsld_geometry_init(&g, heads, BS, 0, nblk * BS);
    mhsld_close(tu_create(path, &g));
}

/* A worker's end after area->stop: what it owns, finished, gone. */
static inline void kh_finish(kh_area *a, uint32_t head, uint64_t owned, mhsld_head *h,
                             mhsld_state *st)
{
    a->owned[head] = owned;
    __atomic_store_n(&a->finished[head], 1, __ATOMIC_RELEASE);
    mhsld_detach(h);
    mhsld_close(st);
    _exit(0);
}

static inline pid_t kh_spawn(kh_worker w, const char *path, uint32_t head, int pfd[2],
                             uint64_t seed)
{
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        w(path, head, pfd[1], seed);
        _exit(0);
    }
    return pid;
}

/* The run, as the header says; rng0 seeds the choice of victims.  strict:
 * a victim the signal did not end must have exited 0.  Returns the kills
 * made (kills). */
static inline unsigned kh_run(kh_area *a, const char *path, uint32_t heads, kh_worker w,
                              uint64_t seed, uint64_t rng0, unsigned every, unsigned kills,
                              int strict)
{
    REQUIRE(heads <= KH_MAX_HEADS);
    int pfd[2];
    REQUIRE(pipe(pfd) == 0);
    pid_t pids[KH_MAX_HEADS];
    for (uint32_t i = 0; i < heads; i++)
        pids[i] = kh_spawn(w, path, i, pfd, seed + i);
    uint64_t rng = rng0, batches = 0;
    unsigned done = 0;
    while (done < kills) {
        char c;
        REQUIRE(read(pfd[0], &c, 1) == 1);
        if (++batches % every)
            continue;
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t v = (uint32_t)(rng >> 33) % heads;
        kill(pids[v], SIGKILL);
        int ws;
        REQUIRE(waitpid(pids[v], &ws, 0) == pids[v]);
        if (WIFSIGNALED(ws))
            done++;
        else if (strict)
            CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
        pids[v] = kh_spawn(w, path, v, pfd, seed + 1000u * done + v);
    }
    __atomic_store_n(&a->stop, 1, __ATOMIC_RELEASE);
    close(pfd[1]);
    char buf[256];
    while (read(pfd[0], buf, sizeof(buf)) > 0) /* until every worker closed it */
        ;
    close(pfd[0]);
    for (uint32_t i = 0; i < heads; i++) {
        int ws;
        REQUIRE(waitpid(pids[i], &ws, 0) == pids[i]);
        CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
        CHECK(a->finished[i]);
    }
    return done;
}

/* The final state validates, and each head owns what its worker accounted
 * for, with nothing pending, not alive, no operation in flight.  Sums of
 * the workers' ops, violations and tallies.  Returns the opened state. */
static inline mhsld_state *kh_check(const kh_area *a, const char *path, uint32_t heads,
                                    uint64_t *ops, uint64_t *viol, uint64_t *count)
{
    mhsld_state *st = tu_open(path);
    CHECK_VALID(st);
    *ops = *viol = *count = 0;
    for (uint32_t i = 0; i < heads; i++) {
        mhsld_head_info hi;
        CHECK_OK(mhsld_head_info_get(st, i, &hi));
        CHECK(hi.owned_blocks == a->owned[i]);
        CHECK(hi.pending_blocks == 0 && !hi.alive && hi.inflight_op == 0);
        *ops += a->ops[i];
        *viol += a->violations[i];
        *count += a->count[i];
    }
    return st;
}

#endif
