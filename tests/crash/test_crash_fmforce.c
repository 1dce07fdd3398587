/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Crash points of mhsld_fm_force_release().  For every k, a forked process
 * force-releases head 0's extents (two owned ranges, a shared extent head 1
 * also shares, a shared extent only head 0 shares) and is SIGKILLed just
 * before its k-th atomic step (taking the baton, the journal, every block
 * word, pair and progress word, the baton's return).  Then:
 *
 *   live-head   head 0 is attached in this process; its next operation
 *               (a release that must answer NOT_OWNER) finds the baton held
 *               by a dead actor, recovers the journal the actor left, and
 *               goes on; its next reservation draws a sequence beyond every
 *               one the actor used
 *   recoverer   head 0 is attached in this process; mhsld_recover(FORCE |
 *               KEEP) by this process finishes the dead actor's operation
 *   dead-head   head 0 is dead; mhsld_recover(KEEP) finishes it
 *   nested      head 0 lives in another process; its next call, which
 *               recovers the dead forcer's journal, is killed before each of
 *               its steps too (for every 8th forcer step and the last), and
 *               mhsld_recover(KEEP) finishes both
 *
 * The forced release is three journalled operations in a row (the owned
 * ranges, then each shared extent's leave); each is completed or undone
 * exactly, so the state must equal one of the four reference states:
 * before, after the owned release, after the first leave, after all.  The
 * head's access checks must agree with the state, and the state validates.
 */
#include <signal.h>
#include <sys/wait.h>

#include "internal.h"
#include "mhsld/fm.h"
#include "mhsld/testing.h"
#include "testutil.h"

#define NBLK 256
#define SH_BASE (NBLK * BS)

typedef struct snap {
    uint8_t state[2 * NBLK];
    uint8_t owner[2 * NBLK];
    uint32_t sharers[2 * NBLK];
} snap;

static void take(mhsld_state *st, snap *s)
{
    memset(s, 0, sizeof(*s));
    for (uint64_t b = 0; b < 2 * NBLK; b++) {
        mhsld_block_info bi;
        REQUIRE(mhsld_block_info_get(st, b, &bi) == MHSLD_OK);
        s->state[b] = (uint8_t)bi.state;
        s->owner[b] = (uint8_t)bi.owner;
        s->sharers[b] = bi.sharers;
    }
}

static const uint8_t TAG[16] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6};
static const mhsld_extent A1 = {60 * BS, 10 * BS}, A2 = {126 * BS, 6 * BS};
static const mhsld_extent S1 = {SH_BASE + 10 * BS, 4 * BS}, S2 = {SH_BASE + 100 * BS, 70 * BS};

enum { LIVE_HEAD, RECOVERER, DEAD_HEAD, NESTED };
static const char *const names[] = {"live-head", "recoverer", "dead-head", "nested"};

static mhsld_geometry geometry(void)
{
    mhsld_geometry g;
    mhsld_geometry_init(&g, 3, BS, 0, NBLK * BS);
    g.nr_regions = 2;
    g.regions[1].base = SH_BASE;
    g.regions[1].len = NBLK * BS;
    g.regions[1].flags = MHSLD_REGION_SHARABLE;
    return g;
}

typedef struct world {
    mhsld_state *st;
    mhsld_head *h0, *h1, *h2;
} world;

static void prepare(const char *path, world *w, int dead)
{
    mhsld_geometry g = geometry();
    mhsld_open_opts o = {
        .size = sizeof(o), .mode = MHSLD_OPEN_REINIT, .path = path, .geometry = &g};
    REQUIRE(mhsld_open(&o, &w->st) == MHSLD_OK);
    w->h0 = tu_attach(w->st, 0);
    w->h1 = tu_attach(w->st, 1);
    w->h2 = tu_attach(w->st, 2);
    REQUIRE(tu_claim(w->h1, 10 * BS, 4 * BS) == MHSLD_OK);
    REQUIRE(tu_claim(w->h0, A1.dpa, A1.len) == MHSLD_OK);
    REQUIRE(tu_claim(w->h0, A2.dpa, A2.len) == MHSLD_OK);
    REQUIRE(tu_claim(w->h0, 200 * BS, 2 * BS) == MHSLD_OK); /* kept */
    REQUIRE(mhsld_share_add(w->h1, &S1, TAG, NULL) == MHSLD_OK);
    REQUIRE(mhsld_share_add(w->h0, &S1, TAG, NULL) == MHSLD_OK);
    REQUIRE(mhsld_share_add(w->h0, &S2, TAG, NULL) == MHSLD_OK);
    if (dead) {
        mhsld_detach(w->h0);
        w->h0 = NULL;
    }
}

static void finish(world *w)
{
    if (w->h0)
        mhsld_detach(w->h0);
    mhsld_detach(w->h1);
    mhsld_detach(w->h2);
    mhsld_close(w->st);
}

static mhsld_status force_all(mhsld_state *st)
{
    mhsld_extent e[4] = {A1, A2, S1, S2};
    return mhsld_fm_force_release(st, 0, e, 4, 2000, NULL);
}

static void die(void *arg)
{
    (void)arg;
    raise(SIGKILL);
}

/* 1 if killed before step k, 0 if it completed. */
static int run_forcer(mhsld_state *st, uint64_t k)
{
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        mhsld_test_crash_at(k, die, NULL);
        _exit(force_all(st) == MHSLD_OK ? 0 : 4);
    }
    int ws = 0;
    REQUIRE(waitpid(pid, &ws, 0) == pid);
    if (WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL)
        return 1;
    REQUIRE(WIFEXITED(ws));
    if (WEXITSTATUS(ws) != 0) {
        fprintf(stderr, "forcer exited %d\n", WEXITSTATUS(ws));
        tu_fail++;
    }
    return 0;
}

static uint64_t record_seq(mhsld_state *st)
{
    mhsld_head_info hi;
    REQUIRE(mhsld_head_info_get(st, 0, &hi) == MHSLD_OK);
    return MHSLD__SEQ_MASK - hi.seqs_left;
}

/* Nested: head 0 lives in a child process that is attached before the
 * forcer dies; then its next call (which recovers the forcer's journal) is
 * killed before its k2-th step too, and mhsld_recover() finishes both.
 * Returns 1 if the head was killed. */
static int run_nested(mhsld_state *st, uint64_t k, uint64_t k2, int *forcer_killed)
{
    int ready[2], go[2];
    REQUIRE(pipe(ready) == 0 && pipe(go) == 0);
    pid_t hp = fork();
    REQUIRE(hp >= 0);
    if (hp == 0) {
        mhsld_head *h0 = tu_child_attach(st, 0);
        char c = 'r';
        if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) != 1)
            _exit(3);
        mhsld_test_crash_at(k2, die, NULL);
        mhsld_extent no = {240 * BS, BS};
        _exit(mhsld_release(h0, &no, 1, NULL) == MHSLD_E_NOT_OWNER ? 0 : 4);
    }
    char c;
    REQUIRE(read(ready[0], &c, 1) == 1);
    *forcer_killed = run_forcer(st, k);
    REQUIRE(write(go[1], &c, 1) == 1);
    int ws = 0;
    REQUIRE(waitpid(hp, &ws, 0) == hp);
    close(ready[0]);
    close(ready[1]);
    close(go[0]);
    close(go[1]);
    if (WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL)
        return 1;
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
        fprintf(stderr, "nested head: status %d\n", ws);
        tu_fail++;
    }
    return 0;
}

static snap ref[4];
static unsigned long points;

static void check(world *w, int mode, uint64_t k)
{
    snap now;
    take(w->st, &now);
    int which = -1;
    for (int i = 0; i < 4; i++)
        if (memcmp(&now, &ref[i], sizeof(now)) == 0)
            which = i;
    if (which < 0)
        fprintf(stderr, "%s: killed before step %llu: state is none of the four\n", names[mode],
                (unsigned long long)k);
    CHECK(which >= 0);
    CHECK_VALID(w->st);
    mhsld_head_info hi;
    REQUIRE(mhsld_head_info_get(w->st, 0, &hi) == MHSLD_OK);
    CHECK(hi.inflight_op == MHSLD__OP_IDLE);
    if (mode == LIVE_HEAD && which >= 0) {
        /* The live head's answers agree with the state, and its next
         * reservation is a new sequence. */
        CHECK(mhsld_access_ok(w->h0, A1.dpa, A1.len) == (which == 0));
        CHECK(mhsld_access_ok(w->h0, A2.dpa, A2.len) == (which == 0));
        CHECK(mhsld_access_ok(w->h0, S1.dpa, S1.len) == (which <= 1));
        CHECK(mhsld_access_ok(w->h0, S2.dpa, BS) == (which <= 2));
        CHECK(mhsld_access_ok(w->h0, 200 * BS, 2 * BS));
        uint64_t seq = record_seq(w->st), grp = 0;
        mhsld_extent f = {230 * BS, BS};
        CHECK_OK(mhsld_reserve(w->h0, &f, 1, &grp, NULL));
        CHECK(grp > seq);
    }
    points++;
}

static void enumerate(const char *path, int mode, uint64_t steps)
{
    for (uint64_t k = 1; k <= steps + 1; k++) {
        world w;
        prepare(path, &w, mode == DEAD_HEAD);
        int killed = run_forcer(w.st, k);
        CHECK(killed == (k <= steps));
        if (mode == LIVE_HEAD) {
            mhsld_extent no = {240 * BS, BS};
            CHECK_ST(mhsld_release(w.h0, &no, 1, NULL), MHSLD_E_NOT_OWNER);
        } else if (mode == RECOVERER) {
            CHECK_OK(mhsld_recover(w.st, 0, MHSLD_RECOVER_KEEP | MHSLD_RECOVER_FORCE, NULL));
            mhsld_extent no = {240 * BS, BS};
            CHECK_ST(mhsld_release(w.h0, &no, 1, NULL), MHSLD_E_STALE); /* fenced */
        } else {
            CHECK_OK(mhsld_recover(w.st, 0, MHSLD_RECOVER_KEEP, NULL));
        }
        check(&w, mode, k);
        finish(&w);
    }
    printf("%-10s %3llu crash points\n", names[mode], (unsigned long long)steps);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    char path[128];
    tu_path(path, sizeof(path), "crashfm");
    /* The four reference states, one journalled operation at a time. */
    world w;
    prepare(path, &w, 0);
    take(w.st, &ref[0]);
    mhsld_extent own[2] = {A1, A2};
    REQUIRE(mhsld_fm_force_release(w.st, 0, own, 2, 1000, NULL) == MHSLD_OK);
    take(w.st, &ref[1]);
    REQUIRE(mhsld_fm_force_release(w.st, 0, &S1, 1, 1000, NULL) == MHSLD_OK);
    take(w.st, &ref[2]);
    REQUIRE(mhsld_fm_force_release(w.st, 0, &S2, 1, 1000, NULL) == MHSLD_OK);
    take(w.st, &ref[3]);
    finish(&w);
    for (int i = 0; i < 3; i++)
        CHECK(memcmp(&ref[i], &ref[i + 1], sizeof(snap)) != 0);
    /* The whole call, counted. */
    uint64_t full_steps = 0;
    for (int mode = LIVE_HEAD; mode <= DEAD_HEAD; mode++) {
        prepare(path, &w, mode == DEAD_HEAD);
        mhsld_test_crash_at(0, NULL, NULL);
        CHECK_OK(force_all(w.st));
        uint64_t steps = mhsld_test_steps();
        snap now;
        take(w.st, &now);
        CHECK(memcmp(&now, &ref[3], sizeof(now)) == 0);
        finish(&w);
        CHECK(steps > 3);
        if (mode == LIVE_HEAD)
            full_steps = steps;
        enumerate(path, mode, steps);
    }
    /* Nested, for every 8th forcer step (and the last): every step of the
     * head's call that recovers the forcer's journal. */
    unsigned long nested = 0;
    for (uint64_t i = 0; 8 * i < full_steps + 7; i++) {
        uint64_t k = 1 + 8 * i < full_steps ? 1 + 8 * i : full_steps;
        for (uint64_t k2 = 1;; k2++) {
            prepare(path, &w, 1);
            int fk = 0;
            int hk = run_nested(w.st, k, k2, &fk);
            CHECK(fk == 1);
            CHECK_OK(mhsld_recover(w.st, 0, MHSLD_RECOVER_KEEP, NULL));
            check(&w, NESTED, k);
            finish(&w);
            nested++;
            if (!hk)
                break;
        }
    }
    printf("%-10s %3lu crash points (head killed while it recovers the forcer)\n", names[NESTED],
           nested);
    mhsld_destroy(path, true);
    printf("forced-release crash points enumerated: %lu\n", points);
    return tu_report("test_crash_fmforce");
}
