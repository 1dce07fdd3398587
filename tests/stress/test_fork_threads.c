/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fork() while other threads attach and detach heads: no child may keep a
 * head's liveness lock.  A process P runs threads that attach and detach
 * heads without pause and forks children meanwhile, then dies with heads
 * attached.  Its children stay alive (blocked on a pipe); every head must
 * read as dead once P is gone.  This exercises the lock list and its guard
 * held across fork() (engine/src/fork.c): a descriptor created, listed,
 * unlisted or closed by one thread while another forks.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "testutil.h"

#define HEADS 8u
#define THREADS 4u
#define CHILDREN 24u

static mhsld_state *pst;
static atomic_uint attached_rounds;

static void *churn(void *arg)
{
    uint32_t t = (uint32_t)(uintptr_t)arg;
    for (uint32_t i = 0;; i++) {
        mhsld_head *h = NULL;
        uint32_t head = 2 * t + (i & 1u);
        if (mhsld_attach(pst, head, MHSLD_ATTACH_KEEP, &h) == MHSLD_OK) {
            /* Hold it through an operation or two: mostly attached. */
            mhsld_extent e = {head * 4 * BS, BS};
            if (tu_claim(h, e.dpa, e.len) == MHSLD_OK)
                (void)mhsld_release(h, &e, 1, NULL);
            atomic_fetch_add(&attached_rounds, 1);
            mhsld_detach(h);
        }
    }
    return NULL;
}

/* The dying process: threads churning, children forked among them. */
static void attacher(const char *path, int ready_w, int hold_r, int hold_w)
{
    close(hold_w);
    pst = tu_open(path);
    pthread_t th[THREADS];
    for (uint32_t t = 0; t < THREADS; t++)
        REQUIRE(pthread_create(&th[t], NULL, churn, (void *)(uintptr_t)t) == 0);
    while (atomic_load(&attached_rounds) < 100)
        sched_yield();
    for (uint32_t c = 0; c < CHILDREN; c++) {
        pid_t pid = fork();
        if (pid < 0)
            _exit(2);
        if (pid == 0) {
            char x = 1;
            alarm(120);
            if (write(ready_w, &x, 1) != 1)
                _exit(1);
            while (read(hold_r, &x, 1) > 0) /* until the test closes hold */
                ;
            _exit(0);
        }
        if (c + 1 < CHILDREN)
            sched_yield();
    }
    _exit(0); /* at once, with heads attached by the threads */
}

int main(void)
{
    char path[128];
    tu_path(path, sizeof(path), "forkthr");
    mhsld_geometry g;
    mhsld_geometry_init(&g, HEADS, BS, 0, 64 * BS);
    mhsld_close(tu_create(path, &g));
    /* The children outlive their parent: adopt them to reap them. */
    REQUIRE(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
    int ready[2], hold[2];
    REQUIRE(pipe(ready) == 0 && pipe(hold) == 0);
    fflush(NULL);
    pid_t p = fork();
    REQUIRE(p >= 0);
    if (p == 0) {
        close(ready[0]);
        attacher(path, ready[1], hold[0], hold[1]);
    }
    close(ready[1]);
    close(hold[0]);
    int ws = 0;
    REQUIRE(waitpid(p, &ws, 0) == p);
    CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    unsigned got = 0;
    char x;
    while (got < CHILDREN && read(ready[0], &x, 1) == 1)
        got++;
    CHECK(got == CHILDREN);
    /* P is dead, its children alive: no head may read as attached. */
    mhsld_state *st = tu_open(path);
    unsigned alive = 0;
    for (uint32_t h = 0; h < HEADS; h++) {
        mhsld_head_info hi;
        CHECK_OK(mhsld_head_info_get(st, h, &hi));
        alive += hi.alive;
        mhsld_head *hd = NULL;
        CHECK_OK(mhsld_attach(st, h, MHSLD_ATTACH_KEEP, &hd));
        mhsld_detach(hd);
    }
    CHECK(alive == 0);
    mhsld_close(st);
    close(hold[1]);
    for (unsigned c = 0; c < got; c++) {
        pid_t w = waitpid(-1, &ws, 0);
        REQUIRE(w > 0);
        CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    }
    close(ready[0]);
    CHECK_OK(mhsld_destroy(path, true));
    printf("  %u children forked among %u attaching threads; heads alive after the "
           "parent died: %u\n",
           got, THREADS, alive);
    return tu_report("test_fork_threads");
}
