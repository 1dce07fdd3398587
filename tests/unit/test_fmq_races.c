/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A race of the FM queue found by review (issue 13): a dead poster's POSTED
 * request must be withdrawn, never executed (docs/fm-queue.md), also while
 * a new poster reclaims the slot.
 *
 * A poster is killed (SIGKILL, in a child) after its request is POSTED.  A
 * second poster (a real mhsld_fm_submit on this thread) takes the slot's
 * lock byte and is interrupted just before its reclaiming compare-and-swap;
 * there the head's take runs.  Before the fix take judged the poster alive
 * by the slot's byte, which the second poster now held, took the dead
 * poster's request and handed it to the head to execute.
 */
#include <signal.h>
#include <sys/wait.h>

#include "internal.h"
#include "mhsld/fm.h"
#include "mhsld/testing.h"
#include "testutil.h"

#define NBLK 64

static char path[128];

static void die(void *arg)
{
    (void)arg;
    raise(SIGKILL);
}

typedef struct {
    mhsld_head *h;
    int ran;
    mhsld_status take;
    uint32_t slot;
    mhsld_fm_request req;
} taker;

static void take_here(void *arg)
{
    taker *t = arg;
    t->ran = 1;
    t->take = mhsld_fm_take(t->h, &t->slot, &t->req);
}

int main(void)
{
    mhsld_geometry g;
    mhsld_geometry_init(&g, 2, BS, 0, NBLK * BS);
    mhsld_state *st = tu_create(tu_path(path, sizeof(path), "fmqrace"), &g);
    mhsld_head *h0 = tu_attach(st, 0);

    /* The first poster: killed between POSTED and the doorbell (its 4th
     * atomic step: claim, body, POSTED, doorbell). */
    mhsld_fm_request r1;
    memset(&r1, 0, sizeof(r1));
    r1.kind = MHSLD_FM_OFFER;
    r1.n = 1;
    r1.ext[0] = tu_ext(4 * BS, BS);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        mhsld_fm_result res;
        mhsld_test_crash_at(4, die, NULL);
        (void)mhsld_fm_submit(st, 0, &r1, 5000, &res);
        _exit(7);
    }
    int ws = 0;
    REQUIRE(waitpid(pid, &ws, 0) == pid);
    REQUIRE(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);

    /* The second poster reclaims the slot; the head takes just before its
     * claim's compare-and-swap (its first atomic step), while it holds the
     * slot's lock byte. */
    taker t = {.h = h0, .ran = 0, .take = MHSLD_E__COUNT};
    mhsld_fm_request r2;
    memset(&r2, 0, sizeof(r2));
    r2.kind = MHSLD_FM_OFFER;
    r2.n = 1;
    r2.ext[0] = tu_ext(8 * BS, BS);
    mhsld_fm_result res2;
    mhsld_test_crash_at(1, take_here, &t);
    mhsld_status s2 = mhsld_fm_submit(st, 0, &r2, 100, &res2);
    mhsld_test_crash_at(0, NULL, NULL);
    CHECK(t.ran);
    if (t.take == MHSLD_OK)
        fprintf(stderr, "  take handed out the dead poster's request (kind %u, dpa %#llx)\n",
                t.req.kind, (unsigned long long)t.req.ext[0].dpa);
    CHECK_ST(t.take, MHSLD_E_NOENT);
    /* Nobody serves the second request: withdrawn at its timeout. */
    CHECK_ST(s2, MHSLD_E_TIMEDOUT);
    if (t.take == MHSLD_OK)
        CHECK_OK(mhsld_fm_complete(h0, t.slot, &res2));
    /* Nothing is left to execute, and the queue is usable. */
    uint32_t slot;
    mhsld_fm_request req;
    CHECK_ST(mhsld_fm_take(h0, &slot, &req), MHSLD_E_NOENT);
    CHECK_VALID(st);
    mhsld_detach(h0);
    mhsld_close(st);
    REQUIRE(mhsld_destroy(path, true) == MHSLD_OK);
    printf("  dead poster's request while a new poster reclaims its slot: take %s\n",
           mhsld_status_name(t.take));
    return tu_report("test_fmq_races");
}
