/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * MHSLD_RECOVER_FORCE while another process is already recovering the head.
 *
 * mhsld__lock_head() answers MHSLD_E_ALIVE whenever the head's liveness lock
 * is held -- by the attached head, but equally by a recoverer (or by
 * mhsld_attach() recovering the previous incarnation).  mhsld_recover()
 * with FORCE then acts as that head without the lock, i.e. concurrently
 * with the recoverer that holds it.  Both continue the same journal with
 * the same sequence; the slower one gives back steps the faster one already
 * gave back, and by then another head may have claimed those blocks.
 *
 * Sequence (every party well-behaved, nothing scribbled):
 *   1. head 0 (a child process) owns blocks 0..127 and dies in the middle of
 *      releasing them: word 0 given back, word 1 still held;
 *   2. this process runs mhsld_recover(0, DROP) (it takes head 0's lock);
 *      at its first atomic step, before it gives back word 1:
 *   3. another process runs mhsld_recover(0, DROP | FORCE) (the documented
 *      `mhsldctl recover --force`): MHSLD_E_ALIVE from the lock, so it
 *      recovers anyway, and finishes the release;
 *   4. head 1 claims blocks 64..127 (free now) and owns them;
 *   5. the first recovery resumes and "gives back" word 1: head 1's blocks
 *      become FREE while head 1's owned map still says owned;
 *   6. head 2 claims the same blocks: two heads are granted exclusive
 *      access to one block.
 * Expected: head 1 still owns 64..127 and head 2's claim conflicts (or the
 * FORCE recovery is refused while a recoverer holds the lock).
 */
#include <signal.h>
#include <sys/wait.h>

#include "mhsld/testing.h"
#include "testutil.h"

#define NBLK 256

static char path[128];
static mhsld_head *h1;

static void die(void *arg)
{
    (void)arg;
    _exit(0);
}

/* Runs inside the first recovery, before its first atomic step. */
static void force_and_claim(void *arg)
{
    mhsld_status *force_status = arg;
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        mhsld_state *st = tu_open(path);
        mhsld_recover_report rep;
        mhsld_status s = mhsld_recover(st, 0, MHSLD_RECOVER_DROP | MHSLD_RECOVER_FORCE, &rep);
        mhsld_close(st);
        _exit((int)s);
    }
    int wst;
    REQUIRE(waitpid(pid, &wst, 0) == pid && WIFEXITED(wst));
    *force_status = (mhsld_status)WEXITSTATUS(wst);
    printf("  FORCE recovery while another recovery holds the lock: %s\n",
           mhsld_status_name(*force_status));
    if (*force_status == MHSLD_OK)
        CHECK_OK(tu_claim(h1, 64 * BS, 64 * BS));
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    tu_path(path, sizeof(path), "force");
    mhsld_geometry g;
    mhsld_geometry_init(&g, 3, BS, 0, NBLK * BS);
    mhsld_state *st = tu_create(path, &g);
    h1 = tu_attach(st, 1);
    mhsld_head *h2 = tu_attach(st, 2);

    /* 1. head 0 dies between the give-back of its two words. */
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        mhsld_state *cst = tu_open(path);
        mhsld_head *h0 = tu_attach(cst, 0);
        REQUIRE(tu_claim(h0, 0, 128 * BS) == MHSLD_OK);
        /* release: sequence (1), journal (2); word 0: revoking (3), owned
         * map (4), start map (5), pair (6), progress (7); word 1: owned
         * map (8) */
        mhsld_test_crash_at(8, die, NULL);
        mhsld_extent e = {0, 128 * BS};
        (void)mhsld_release(h0, &e, 1, NULL);
        _exit(7);
    }
    int wst;
    REQUIRE(waitpid(pid, &wst, 0) == pid && WIFEXITED(wst) && WEXITSTATUS(wst) == 0);
    uint32_t owner;
    REQUIRE(tu_block_state(st, 0, &owner) == MHSLD_BLOCK_FREE);
    REQUIRE(tu_block_state(st, 64 * BS, &owner) == MHSLD_BLOCK_OWNED && owner == 0);

    /* 2.-5. */
    mhsld_status force_status = MHSLD_E__COUNT;
    mhsld_test_crash_at(1, force_and_claim, &force_status);
    mhsld_recover_report rep;
    mhsld_status s = mhsld_recover(st, 0, MHSLD_RECOVER_DROP, &rep);
    mhsld_test_crash_at(0, NULL, NULL);
    printf("  first recovery: %s (op %s)\n", mhsld_status_name(s), mhsld_op_name(rep.op));
    CHECK(force_status != MHSLD_E__COUNT); /* the hook ran */

    /* 6. */
    uint32_t st64 = tu_block_state(st, 64 * BS, &owner);
    printf("  block 64 after both recoveries: state %u owner %u (head 1 claimed it)\n", st64,
           owner);
    mhsld_status c2 = tu_claim(h2, 64 * BS, 64 * BS);
    bool a1 = mhsld_access_ok(h1, 64 * BS, 64 * BS), a2 = mhsld_access_ok(h2, 64 * BS, 64 * BS);
    printf("  head 2 claims 64..127: %s; access_ok head 1 %d, head 2 %d\n", mhsld_status_name(c2),
           a1, a2);
    if (force_status == MHSLD_OK) {
        CHECK(st64 == MHSLD_BLOCK_OWNED && owner == 1);
        CHECK_ST(c2, MHSLD_E_CONFLICT);
        CHECK(!(a1 && a2));
    }
    CHECK_VALID(st);

    mhsld_detach(h1);
    mhsld_detach(h2);
    mhsld_close(st);
    REQUIRE(mhsld_destroy(path, true) == MHSLD_OK);
    return tu_report("test_force_recover_race");
}
