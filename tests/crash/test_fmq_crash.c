/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Crash points of the fabric-manager queue (engine/src/fmq.c).  For every k:
 *   poster  a forked poster is SIGKILLed just before the k-th atomic step of
 *           its submit (claim, body, POSTED, doorbell, freeing the answered
 *           slot) while this process serves head 0;
 *   server  a forked head is SIGKILLed just before the k-th atomic step of
 *           its take and complete (TAKEN, result, DONE) while a forked
 *           poster waits; afterwards head 0 is attached again here.
 * Afterwards: the request was executed at most once (and exactly once if
 * nobody died), the poster got an answer that fits what happened (OK only
 * if it was executed, MHSLD_E_DEAD if the head died), nothing is left to be
 * executed again, every slot can be used again (a full queue of notices
 * fits, one more is refused), and mhsld_validate() holds.
 */
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "internal.h"
#include "mhsld/fm.h"
#include "mhsld/testing.h"
#include "testutil.h"

#define NBLK 64

static char path[128];

static mhsld_state *fresh(void)
{
    mhsld_geometry g;
    mhsld_geometry_init(&g, 2, BS, 0, NBLK * BS);
    mhsld_open_opts o = {
        .size = sizeof(o), .mode = MHSLD_OPEN_REINIT, .path = path, .geometry = &g};
    mhsld_state *st = NULL;
    REQUIRE(mhsld_open(&o, &st) == MHSLD_OK);
    return st;
}

static uint64_t ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void die(void *arg)
{
    (void)arg;
    raise(SIGKILL);
}

static mhsld_fm_request the_offer(void)
{
    mhsld_fm_request r;
    memset(&r, 0, sizeof(r));
    r.kind = MHSLD_FM_OFFER;
    r.n = 1;
    r.ext[0] = tu_ext(8 * BS, 2 * BS);
    return r;
}

static mhsld_fm_result the_answer(void)
{
    mhsld_fm_result a;
    memset(&a, 0, sizeof(a));
    a.group = 0x1234;
    return a;
}

/* exit code of pid: its own, or 128 + signal */
static int wait_exit(pid_t pid)
{
    int ws = 0;
    REQUIRE(waitpid(pid, &ws, 0) == pid);
    return WIFSIGNALED(ws) ? 128 + WTERMSIG(ws) : WEXITSTATUS(ws);
}

/* Exit codes of a poster: 10 + its submit's status. */
static pid_t fork_poster(mhsld_state *st, uint64_t k)
{
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid)
        return pid;
    mhsld_fm_request r = the_offer();
    mhsld_fm_result res;
    mhsld_test_crash_at(k, k ? die : NULL, NULL);
    mhsld_status s = mhsld_fm_submit(st, 0, &r, 10000, &res);
    if (s == MHSLD_OK && res.group != the_answer().group)
        _exit(2);
    _exit(10 + (int)s);
}

/* Everything usable again, nothing left over; head h is attached. */
static void check_queue(mhsld_state *st, mhsld_head *h, const char *what, uint64_t k)
{
    uint32_t slot;
    mhsld_fm_request got;
    mhsld_status s = mhsld_fm_take(h, &slot, &got);
    if (s != MHSLD_E_NOENT)
        fprintf(stderr, "%s k=%llu: a request is left to execute again (%s)\n", what,
                (unsigned long long)k, mhsld_status_name(s));
    CHECK(s == MHSLD_E_NOENT);
    mhsld_fm_request n;
    memset(&n, 0, sizeof(n));
    n.kind = MHSLD_FM_FORCED;
    n.n = 1;
    n.ext[0] = tu_ext(0, BS);
    for (uint32_t i = 0; i < MHSLD_FMQ_SLOTS; i++)
        CHECK_OK(mhsld_fm_submit(st, 0, &n, 0, NULL));
    CHECK_ST(mhsld_fm_submit(st, 0, &n, 0, NULL), MHSLD_E_NOSPACE);
    for (uint32_t i = 0; i < MHSLD_FMQ_SLOTS; i++) {
        CHECK_OK(mhsld_fm_take(h, &slot, &got));
        CHECK(got.kind == MHSLD_FM_FORCED);
        mhsld_fm_result a = the_answer();
        CHECK_OK(mhsld_fm_complete(h, slot, &a));
    }
    CHECK_ST(mhsld_fm_take(h, &slot, &got), MHSLD_E_NOENT);
    CHECK_VALID(st);
}

/* The poster dies at step k; this process serves. */
static int poster_at(uint64_t k)
{
    mhsld_state *st = fresh();
    mhsld_head *h = tu_attach(st, 0);
    pid_t pid = fork_poster(st, k);
    int executed = 0, rc = -1;
    uint64_t t0 = ms_now();
    for (;;) {
        uint32_t slot;
        mhsld_fm_request got;
        while (mhsld_fm_take(h, &slot, &got) == MHSLD_OK) {
            executed++;
            mhsld_fm_result a = the_answer();
            CHECK_OK(mhsld_fm_complete(h, slot, &a));
        }
        int ws = 0;
        pid_t w = waitpid(pid, &ws, WNOHANG);
        if (w == pid) {
            rc = WIFSIGNALED(ws) ? 128 + WTERMSIG(ws) : WEXITSTATUS(ws);
            break;
        }
        REQUIRE(ms_now() - t0 < 30000);
        (void)mhsld_fm_wait(h, 10);
    }
    uint32_t slot;
    mhsld_fm_request got;
    while (mhsld_fm_take(h, &slot, &got) == MHSLD_OK) { /* what a dead poster left */
        executed++;
        mhsld_fm_result a = the_answer();
        CHECK_OK(mhsld_fm_complete(h, slot, &a));
    }
    int killed = rc == 128 + SIGKILL;
    CHECK(killed || rc == 10 + MHSLD_OK);
    CHECK(executed <= 1);
    if (!killed)
        CHECK(executed == 1);
    if (executed > 1 || (!killed && rc != 10 + MHSLD_OK))
        fprintf(stderr, "poster k=%llu: rc %d, executed %d\n", (unsigned long long)k, rc, executed);
    check_queue(st, h, "poster", k);
    mhsld_detach(h);
    mhsld_close(st);
    return killed;
}

/* The head dies at step k of its take/complete; a forked poster waits. */
static int server_at(uint64_t k, uint64_t *steps)
{
    mhsld_state *st = fresh();
    int pfd[2];
    REQUIRE(pipe(pfd) == 0);
    pid_t srv = fork();
    REQUIRE(srv >= 0);
    if (srv == 0) {
        close(pfd[0]);
        mhsld_head *h = tu_child_attach(st, 0);
        REQUIRE(write(pfd[1], "a", 1) == 1); /* attached */
        mhsld_test_crash_at(k, k ? die : NULL, NULL);
        uint64_t t0 = ms_now();
        while (ms_now() - t0 < 20000) {
            (void)mhsld_fm_wait(h, 50);
            uint32_t slot;
            mhsld_fm_request got;
            if (mhsld_fm_take(h, &slot, &got) == MHSLD_OK) {
                REQUIRE(write(pfd[1], "x", 1) == 1); /* executed */
                mhsld_fm_result a = the_answer();
                if (mhsld_fm_complete(h, slot, &a) != MHSLD_OK)
                    _exit(5);
                uint64_t n = mhsld_test_steps();
                REQUIRE(write(pfd[1], &n, sizeof(n)) == sizeof(n));
                _exit(0);
            }
        }
        _exit(6);
    }
    close(pfd[1]);
    char c = 0;
    REQUIRE(read(pfd[0], &c, 1) == 1 && c == 'a');
    pid_t pst = fork_poster(st, 0);
    int src = wait_exit(srv);
    int prc = wait_exit(pst);
    int executed = 0;
    uint64_t n = 0;
    if (read(pfd[0], &c, 1) == 1 && c == 'x')
        executed = 1;
    if (read(pfd[0], &n, sizeof(n)) == (ssize_t)sizeof(n))
        *steps = n;
    close(pfd[0]);
    int killed = src == 128 + SIGKILL;
    CHECK(killed || src == 0);
    if (killed)
        CHECK(prc == 10 + MHSLD_E_DEAD); /* told, not left to its timeout */
    else
        CHECK(prc == 10 + MHSLD_OK && executed);
    if (prc != 10 + MHSLD_OK && prc != 10 + MHSLD_E_DEAD)
        fprintf(stderr, "server k=%llu: poster exited %d, server %d\n", (unsigned long long)k, prc,
                src);
    /* The head's next incarnation: nothing to execute again. */
    mhsld_head *h = tu_attach(st, 0);
    check_queue(st, h, "server", k);
    mhsld_detach(h);
    mhsld_close(st);
    return killed;
}

int main(void)
{
    tu_path(path, sizeof(path), "fmqcrash");
    unsigned long points = 0;
    uint64_t k;
    for (k = 1; k < 64 && poster_at(k); k++)
        points++;
    printf("poster: %llu crash points\n", (unsigned long long)(k - 1));
    CHECK(k - 1 == 5); /* claim, body, POSTED, doorbell, free the answered slot */
    uint64_t steps = 0;
    CHECK(!server_at(0, &steps));
    CHECK(steps == 3); /* TAKEN, result, DONE */
    for (k = 1; k < 64 && server_at(k, &steps); k++)
        points++;
    printf("server: %llu crash points\n", (unsigned long long)(k - 1));
    CHECK(k - 1 == 3);
    mhsld_destroy(path, true);
    printf("fmq crash points enumerated: %lu\n", points);
    return tu_report("test_fmq_crash");
}
