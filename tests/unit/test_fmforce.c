/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mhsld_fm_force_release(): a fabric manager takes capacity away from a
 * head, live or dead, through the shared state, and the head's baton and
 * the outsiders' word (actw) that keep the head's own operations and the
 * outside actor apart.
 *
 *   live        another process force-releases a live head's owned extent:
 *               the head's access checks (in its own process) fail at once,
 *               a third head claims the blocks
 *   all-or-none one extent not owned: nothing changes, the conflict names it
 *   shared      the head leaves a shared extent (another sharer keeps it;
 *               the last sharer's leave frees it)
 *   dead        a dead head's extent, also one that died in the middle of a
 *               release (completed exactly)
 *   busy        a head paused inside an operation: the forcer answers
 *               MHSLD_E_BUSY at its timeout; a forcer paused while it acts
 *               (actw ACTIVE): the head's operation answers MHSLD_E_BUSY and
 *               does nothing
 *   head killed a forcer waits for a paused head, the head is killed: the
 *               forcer recovers it and proceeds, exact outcome
 *   stamps      after outside action the head's next operation draws a new
 *               sequence: a block's generation strictly grows
 *   garbage     a co-tenant writes garbage into the baton or actw, before
 *               calls and before every atomic step of a forced release or a
 *               head's operation: clear statuses, exact outcomes
 */
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "internal.h"
#include "mhsld/fm.h"
#include "mhsld/testing.h"
#include "testutil.h"
#include "cotenant.h"

#define NBLK 256
#define SH_BASE (NBLK * BS)

static char path[128];
static mhsld_geometry geo;
static const uint8_t TAG[16] = {7, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

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

static mhsld_state *fresh(void)
{
    mhsld_open_opts o = {
        .size = sizeof(o), .mode = MHSLD_OPEN_REINIT, .path = path, .geometry = &geo};
    mhsld_state *st = NULL;
    REQUIRE(mhsld_open(&o, &st) == MHSLD_OK);
    return st;
}

static uint64_t blk(uint64_t dpa)
{
    return dpa >= SH_BASE ? NBLK + (dpa - SH_BASE) / BS : dpa / BS;
}

static uint64_t gen_of(mhsld_state *st, uint64_t dpa)
{
    mhsld_block_info bi;
    REQUIRE(mhsld_block_info_get(st, blk(dpa), &bi) == MHSLD_OK);
    return bi.generation;
}

static int wait_child(pid_t pid)
{
    int ws = 0;
    REQUIRE(waitpid(pid, &ws, 0) == pid);
    if (WIFSIGNALED(ws))
        return 128 + WTERMSIG(ws);
    return WEXITSTATUS(ws);
}

/* ---- a pause inside an operation, through the crash-point hook --------- */

typedef struct pausectx {
    int ready[2], go[2];
} pausectx;

static void pause_open(pausectx *p)
{
    REQUIRE(pipe(p->ready) == 0 && pipe(p->go) == 0);
}

static void pause_close(pausectx *p)
{
    close(p->ready[0]);
    close(p->ready[1]);
    close(p->go[0]);
    close(p->go[1]);
}

static void pause_here(void *arg)
{
    pausectx *p = arg;
    char c = 'p';
    REQUIRE(write(p->ready[1], &c, 1) == 1);
    REQUIRE(read(p->go[0], &c, 1) == 1);
}

static void wait_paused(pausectx *p)
{
    char c;
    REQUIRE(read(p->ready[0], &c, 1) == 1);
}

static void resume(pausectx *p)
{
    char c = 'g';
    REQUIRE(write(p->go[1], &c, 1) == 1);
}

/* ---- live head, another process forces ---------------------------------- */

static void test_live(void)
{
    mhsld_state *st = fresh();
    mhsld_head *h0 = tu_attach(st, 0), *h1 = tu_attach(st, 1);
    mhsld_extent a = tu_ext(0, 4 * BS), b = tu_ext(64 * BS, 4 * BS);
    REQUIRE(tu_claim(h0, a.dpa, a.len) == MHSLD_OK);
    REQUIRE(tu_claim(h0, b.dpa, b.len) == MHSLD_OK);
    CHECK(mhsld_access_ok(h0, a.dpa, a.len) && mhsld_access_ok_fast(h0, a.dpa, a.len));
    uint64_t g0 = gen_of(st, a.dpa);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        mhsld_state *cst = tu_open(path);
        mhsld_conflict c;
        mhsld_status s = mhsld_fm_force_release(cst, 0, &a, 1, 1000, &c);
        mhsld_close(cst);
        _exit((int)s);
    }
    CHECK_ST((mhsld_status)wait_child(pid), MHSLD_OK);
    /* In the live head's process, right after the call returned. */
    CHECK(!mhsld_access_ok(h0, a.dpa, a.len));
    CHECK(!mhsld_access_ok(h0, a.dpa, BS));
    CHECK(!mhsld_access_ok_fast(h0, a.dpa + 3 * BS, BS));
    CHECK(mhsld_access_ok(h0, b.dpa, b.len)); /* the rest stays */
    CHECK(tu_block_state(st, a.dpa, NULL) == MHSLD_BLOCK_FREE);
    CHECK(gen_of(st, a.dpa) != g0);
    CHECK_OK(tu_claim(h1, a.dpa, a.len)); /* a third head claims it at once */
    CHECK(mhsld_access_ok(h1, a.dpa, a.len));
    CHECK(!mhsld_access_ok(h0, a.dpa, a.len));
    /* The head carries on: its next operations work. */
    CHECK_OK(mhsld_release(h0, &b, 1, NULL));
    CHECK_ST(mhsld_release(h0, &a, 1, NULL), MHSLD_E_NOT_OWNER);
    CHECK_OK(tu_claim(h0, 100 * BS, BS));
    CHECK_VALID(st);
    mhsld_detach(h0);
    mhsld_detach(h1);
    mhsld_close(st);
}

/* ---- all or nothing ------------------------------------------------------ */

static void test_all_or_nothing(void)
{
    mhsld_state *st = fresh();
    mhsld_head *h0 = tu_attach(st, 0), *h1 = tu_attach(st, 1);
    REQUIRE(tu_claim(h0, 0, 4 * BS) == MHSLD_OK);
    REQUIRE(tu_claim(h1, 10 * BS, 2 * BS) == MHSLD_OK);
    mhsld_extent e[2] = {{0, 4 * BS}, {10 * BS, 2 * BS}};
    mhsld_conflict c = {0, 0, 0};
    CHECK_ST(mhsld_fm_force_release(st, 0, e, 2, 100, &c), MHSLD_E_NOT_OWNER);
    CHECK(c.dpa == 10 * BS && c.owner == 1 && c.state == MHSLD_BLOCK_OWNED);
    CHECK(mhsld_access_ok(h0, 0, 4 * BS));
    CHECK(mhsld_access_ok(h1, 10 * BS, 2 * BS));
    /* Partly owned: the first block beyond the head's is named. */
    mhsld_extent p = tu_ext(2 * BS, 4 * BS);
    CHECK_ST(mhsld_fm_force_release(st, 0, &p, 1, 100, &c), MHSLD_E_NOT_OWNER);
    CHECK(c.dpa == 4 * BS && c.state == MHSLD_BLOCK_FREE);
    CHECK(mhsld_access_ok(h0, 0, 4 * BS));
    /* A pending reservation is not the head's to lose this way. */
    uint64_t g;
    mhsld_extent r = tu_ext(20 * BS, BS);
    REQUIRE(mhsld_reserve(h0, &r, 1, &g, NULL) == MHSLD_OK);
    CHECK_ST(mhsld_fm_force_release(st, 0, &r, 1, 100, &c), MHSLD_E_NOT_OWNER);
    CHECK(tu_block_state(st, r.dpa, NULL) == MHSLD_BLOCK_PENDING);
    /* Bad input: a clear status, nothing changed. */
    CHECK_ST(mhsld_fm_force_release(st, 3, e, 1, 100, &c), MHSLD_E_HEAD);
    CHECK_ST(mhsld_fm_force_release(st, 0, NULL, 1, 100, &c), MHSLD_E_INVAL);
    CHECK_ST(mhsld_fm_force_release(st, 0, e, 0, 100, &c), MHSLD_E_ZERO_LEN);
    CHECK_ST(mhsld_fm_force_release(NULL, 0, e, 1, 100, &c), MHSLD_E_INVAL);
    mhsld_extent ov[2] = {{0, 2 * BS}, {BS, 2 * BS}};
    CHECK_ST(mhsld_fm_force_release(st, 0, ov, 2, 100, &c), MHSLD_E_OVERLAP);
    CHECK(mhsld_access_ok(h0, 0, 4 * BS));
    CHECK_OK(mhsld_commit(h0, g, &r, 1));
    CHECK_VALID(st);
    mhsld_detach(h0);
    mhsld_detach(h1);
    mhsld_close(st);
}

/* ---- shared extents ------------------------------------------------------ */

static void test_shared(void)
{
    mhsld_state *st = fresh();
    mhsld_head *h0 = tu_attach(st, 0), *h1 = tu_attach(st, 1), *h2 = tu_attach(st, 2);
    mhsld_extent s1 = tu_ext(SH_BASE, 4 * BS), s2 = tu_ext(SH_BASE + 64 * BS, 2 * BS);
    REQUIRE(mhsld_share_add(h0, &s1, TAG, NULL) == MHSLD_OK);
    REQUIRE(mhsld_share_add(h1, &s1, TAG, NULL) == MHSLD_OK);
    REQUIRE(mhsld_share_add(h0, &s2, TAG, NULL) == MHSLD_OK);
    REQUIRE(tu_claim(h0, 30 * BS, BS) == MHSLD_OK);
    mhsld_extent e[3] = {s1, tu_ext(30 * BS, BS), s2};
    CHECK_OK(mhsld_fm_force_release(st, 0, e, 3, 1000, NULL));
    CHECK(!mhsld_access_ok(h0, s1.dpa, s1.len));
    CHECK(!mhsld_access_ok(h0, s2.dpa, BS));
    CHECK(!mhsld_access_ok(h0, 30 * BS, BS));
    CHECK(mhsld_access_ok(h1, s1.dpa, s1.len)); /* the other sharer keeps it */
    mhsld_block_info bi;
    REQUIRE(mhsld_block_info_get(st, blk(s1.dpa), &bi) == MHSLD_OK);
    CHECK(bi.state == MHSLD_BLOCK_SHARED && bi.sharers == 2u);
    CHECK(tu_block_state(st, s2.dpa, NULL) == MHSLD_BLOCK_FREE); /* last sharer left */
    CHECK_OK(tu_claim(h2, s2.dpa, s2.len));
    /* A shared extent named with another range is not the head's. */
    mhsld_extent part = tu_ext(SH_BASE, 2 * BS);
    mhsld_conflict c;
    CHECK_ST(mhsld_fm_force_release(st, 1, &part, 1, 100, &c), MHSLD_E_NOT_OWNER);
    CHECK(mhsld_access_ok(h1, s1.dpa, s1.len));
    CHECK_VALID(st);
    mhsld_detach(h0);
    mhsld_detach(h1);
    mhsld_detach(h2);
    mhsld_close(st);
}

/* ---- dead heads ---------------------------------------------------------- */

static void die(void *arg)
{
    (void)arg;
    raise(SIGKILL);
}

static void test_dead(void)
{
    mhsld_state *st = fresh();
    mhsld_head *h1 = tu_attach(st, 1);
    /* Head 2 claims two extents and dies in the middle of releasing the
     * second (its baton HEAD). */
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        mhsld_head *h2 = tu_attach(st, 2);
        REQUIRE(tu_claim(h2, 0, 4 * BS) == MHSLD_OK);
        REQUIRE(tu_claim(h2, 64 * BS, 128 * BS) == MHSLD_OK);
        mhsld_extent e = tu_ext(64 * BS, 128 * BS);
        /* release: sequence (1), journal (2); word 1: revoking (3), owned
         * map (4), start map (5), pair (6), progress (7); word 2: owned
         * map (8).  Killed there: after the first word's give-back. */
        mhsld_test_crash_at(8, die, NULL);
        (void)mhsld_release(h2, &e, 1, NULL);
        _exit(9);
    }
    CHECK(wait_child(pid) == 128 + SIGKILL);
    CHECK(tu_block_state(st, 64 * BS, NULL) == MHSLD_BLOCK_FREE);
    CHECK(tu_block_state(st, 128 * BS, NULL) == MHSLD_BLOCK_OWNED);
    mhsld_extent a = tu_ext(0, 4 * BS);
    CHECK_OK(mhsld_fm_force_release(st, 2, &a, 1, 1000, NULL));
    CHECK(tu_block_state(st, 0, NULL) == MHSLD_BLOCK_FREE);
    /* the dead head's release was completed first */
    CHECK(tu_block_state(st, 128 * BS, NULL) == MHSLD_BLOCK_FREE);
    CHECK(tu_block_state(st, 191 * BS, NULL) == MHSLD_BLOCK_FREE);
    CHECK_OK(tu_claim(h1, 0, 192 * BS));
    mhsld_head_info hi;
    REQUIRE(mhsld_head_info_get(st, 2, &hi) == MHSLD_OK);
    CHECK(!hi.alive && hi.inflight_op == MHSLD__OP_IDLE && hi.owned_blocks == 0);
    /* The head comes back and works. */
    mhsld_head *h2 = tu_attach(st, 2);
    CHECK_OK(tu_claim(h2, 200 * BS, BS));
    CHECK_VALID(st);
    mhsld_detach(h1);
    mhsld_detach(h2);
    mhsld_close(st);
}

/* ---- busy: a paused head, a paused forcer -------------------------------- */

static void test_busy(void)
{
    mhsld_state *st = fresh();
    pausectx p;
    pause_open(&p);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        mhsld_head *h0 = tu_attach(st, 0);
        REQUIRE(tu_claim(h0, 0, 4 * BS) == MHSLD_OK);
        REQUIRE(tu_claim(h0, 64 * BS, 4 * BS) == MHSLD_OK);
        mhsld_extent b = tu_ext(64 * BS, 4 * BS);
        mhsld_test_crash_at(3, pause_here, &p); /* inside the release */
        mhsld_status s = mhsld_release(h0, &b, 1, NULL);
        /* Wait for the parent's forced release, then look. */
        pause_here(&p);
        int ok = s == MHSLD_OK && !mhsld_access_ok(h0, 0, 4 * BS) &&
                 !mhsld_access_ok_fast(h0, 0, BS) && tu_claim(h0, 100 * BS, BS) == MHSLD_OK;
        _exit(ok ? 0 : 1);
    }
    wait_paused(&p);
    mhsld_extent a = tu_ext(0, 4 * BS);
    uint64_t t0 = tu_now_ms();
    CHECK_ST(mhsld_fm_force_release(st, 0, &a, 1, 150, NULL), MHSLD_E_BUSY);
    uint64_t waited = tu_now_ms() - t0;
    printf("  forced release while the head is in an operation: BUSY after %llu ms\n",
           (unsigned long long)waited);
    CHECK(waited >= 150 && waited < 5000);
    CHECK(tu_block_state(st, 0, NULL) == MHSLD_BLOCK_OWNED);
    resume(&p);
    wait_paused(&p); /* the release finished */
    CHECK(tu_block_state(st, 64 * BS, NULL) == MHSLD_BLOCK_FREE);
    CHECK_OK(mhsld_fm_force_release(st, 0, &a, 1, 1000, NULL));
    resume(&p);
    CHECK(wait_child(pid) == 0);
    pause_close(&p);

    /* A forcer paused while it acts (actw ACTIVE): the head's operation
     * waits (bounded), answers BUSY and does nothing; afterwards it works. */
    mhsld_head *h0 = tu_attach(st, 0);
    REQUIRE(tu_claim(h0, 0, 4 * BS) == MHSLD_OK);
    pause_open(&p);
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        mhsld_test_crash_at(2, pause_here, &p); /* ACTIVE set, journal not yet */
        mhsld_status s = mhsld_fm_force_release(st, 0, &a, 1, 1000, NULL);
        _exit((int)s);
    }
    wait_paused(&p);
    t0 = tu_now_ms();
    CHECK_ST(tu_claim(h0, 10 * BS, BS), MHSLD_E_BUSY);
    waited = tu_now_ms() - t0;
    printf("  head operation while an outsider acts as it: BUSY after %llu ms\n",
           (unsigned long long)waited);
    CHECK(waited >= 1000 && waited < 10000);
    CHECK(mhsld_access_ok(h0, 0, 4 * BS));
    CHECK(tu_block_state(st, 10 * BS, NULL) == MHSLD_BLOCK_FREE); /* did nothing */
    resume(&p);
    CHECK_ST((mhsld_status)wait_child(pid), MHSLD_OK);
    CHECK(!mhsld_access_ok(h0, 0, 4 * BS));
    CHECK_OK(tu_claim(h0, 10 * BS, BS));
    pause_close(&p);
    CHECK_VALID(st);
    mhsld_detach(h0);
    mhsld_close(st);
}

/* ---- the head is killed while a forcer waits for it --------------------- */

typedef struct forcer {
    mhsld_state *st;
    mhsld_extent e;
    mhsld_status s;
} forcer;

static void *force_thread(void *arg)
{
    forcer *f = arg;
    f->s = mhsld_fm_force_release(f->st, 0, &f->e, 1, 10000, NULL);
    return NULL;
}

static void test_head_killed(void)
{
    mhsld_state *st = fresh();
    pausectx p;
    pause_open(&p);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        mhsld_head *h0 = tu_attach(st, 0);
        REQUIRE(tu_claim(h0, 0, 4 * BS) == MHSLD_OK);
        REQUIRE(tu_claim(h0, 64 * BS, 128 * BS) == MHSLD_OK);
        mhsld_extent b = tu_ext(64 * BS, 128 * BS);
        mhsld_test_crash_at(8, pause_here, &p); /* word 1 of 2 given back (as in test_dead) */
        (void)mhsld_release(h0, &b, 1, NULL);
        _exit(9);
    }
    wait_paused(&p);
    CHECK(tu_block_state(st, 64 * BS, NULL) == MHSLD_BLOCK_FREE); /* paused where meant */
    CHECK(tu_block_state(st, 128 * BS, NULL) == MHSLD_BLOCK_OWNED);
    /* First proof that a forcer waits for it: a short timeout is BUSY. */
    mhsld_extent a = tu_ext(0, 4 * BS);
    CHECK_ST(mhsld_fm_force_release(st, 0, &a, 1, 50, NULL), MHSLD_E_BUSY);
    forcer f = {st, a, MHSLD_E__COUNT};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, force_thread, &f) == 0);
    kill(pid, SIGKILL);
    CHECK(wait_child(pid) == 128 + SIGKILL);
    REQUIRE(pthread_join(t, NULL) == 0);
    CHECK_ST(f.s, MHSLD_OK);
    /* Exactly: the head's release was completed, then the force. */
    for (uint64_t b = 0; b < 192; b++)
        if (tu_block_state(st, b * BS, NULL) != MHSLD_BLOCK_FREE) {
            fprintf(stderr, "block %llu not free\n", (unsigned long long)b);
            tu_fail++;
            break;
        }
    mhsld_head_info hi;
    REQUIRE(mhsld_head_info_get(st, 0, &hi) == MHSLD_OK);
    CHECK(hi.inflight_op == MHSLD__OP_IDLE && hi.owned_blocks == 0);
    pause_close(&p);
    CHECK_VALID(st);
    mhsld_close(st);
}

/* ---- stamps are never reused --------------------------------------------- */

static uint64_t record_seq(mhsld_state *st, uint32_t head)
{
    mhsld_head_info hi;
    REQUIRE(mhsld_head_info_get(st, head, &hi) == MHSLD_OK);
    return MHSLD__SEQ_MASK - hi.seqs_left;
}

static void test_stamps(void)
{
    mhsld_state *st = fresh();
    mhsld_head *h0 = tu_attach(st, 0);
    REQUIRE(tu_claim(h0, 0, 4 * BS) == MHSLD_OK);
    REQUIRE(tu_claim(h0, 8 * BS, BS) == MHSLD_OK);
    for (int round = 0; round < 3; round++) {
        mhsld_extent a = tu_ext(0, 4 * BS);
        CHECK_OK(mhsld_fm_force_release(st, 0, &a, 1, 1000, NULL));
        uint64_t g_forced = gen_of(st, 0), s_forced = record_seq(st, 0);
        /* The generation is (head + 1) << 34 | sequence: the forcer acted
         * as head 0, with the head's last sequence. */
        CHECK(g_forced >> MHSLD__SEQ_BITS == 1 && (g_forced & MHSLD__SEQ_MASK) == s_forced);
        uint64_t grp = 0;
        CHECK_OK(mhsld_reserve(h0, &a, 1, &grp, NULL));
        uint64_t g_res = gen_of(st, 0);
        /* A new (head, sequence): the generation changes and grows. */
        CHECK(g_res != g_forced);
        CHECK(g_res > g_forced);
        CHECK(grp > s_forced);
        CHECK(g_res >> MHSLD__SEQ_BITS == 1 && (g_res & MHSLD__SEQ_MASK) == grp);
        CHECK_OK(mhsld_commit(h0, grp, &a, 1));
        uint64_t g_com = gen_of(st, 0);
        CHECK(g_com > g_res);
        CHECK(g_com >> MHSLD__SEQ_BITS == 1 && (g_com & MHSLD__SEQ_MASK) == record_seq(st, 0));
        CHECK(mhsld_access_ok(h0, 0, 4 * BS));
    }
    CHECK_VALID(st);
    mhsld_detach(h0);
    mhsld_close(st);
}

/* ---- garbage in the baton and in actw ------------------------------------ */

typedef struct gctx {
    uint64_t *word;
    uint64_t value;
} gctx;

static void scribble(void *arg)
{
    gctx *g = arg;
    tu_w64(g->word, g->value);
}

/* Values a co-tenant writes: into the baton (the head's word) and into actw
 * (the outsiders'). */
static const uint64_t bjunk[] = {
    0xffffffffffffffffull, /* every bit */
    0x123456789abcdef1ull, /* HEAD and junk */
    MHSLD__BATON_HEAD,     /* a head in an operation, nobody is */
    MHSLD__BATON_HEAD | MHSLD__BATON_FENCED,
    0x4ull,              /* FREE and junk */
    MHSLD__BATON_FENCED, /* FREE, fenced entry: an outsider acts */
    MHSLD__BATON_FREE,   /* an outsider acts */
};
static const uint64_t ajunk[] = {
    0xffffffffffffffffull, /* ACTIVE, nobody acts */
    0x123456789abcdef1ull, /* ACTIVE, another count */
    0x0fedcba987654322ull, /* inactive, another count */
    MHSLD__ACT_ACTIVE,     /* ACTIVE, count 0 */
    0,                     /* inactive, count 0 */
    2,                     /* inactive, count 1 */
};
#define NB (sizeof(bjunk) / sizeof(bjunk[0]))
#define NA (sizeof(ajunk) / sizeof(ajunk[0]))

/* Does an outsider act on a head whose baton reads b (this process's heads
 * are registered for membarrier, or fenced)? */
static int outsider_acts(uint64_t b)
{
    return b == MHSLD__BATON_FREE || b == MHSLD__BATON_FENCED;
}

/* The k-th scribble of a sequence: baton and actw in turn, each value. */
static gctx nth_scribble(uint64_t *bat, uint64_t *act, uint64_t k)
{
    gctx g;
    if (k % 2) {
        g.word = bat;
        g.value = bjunk[(k / 2) % NB];
    } else {
        g.word = act;
        g.value = ajunk[(k / 2) % NA];
    }
    return g;
}

static void test_garbage(void)
{
    mhsld_state *st = fresh();
    tu_map m;
    tu_map_state(&m, path, &geo);
    uint64_t *bat = &tu_map_head(&m, 0)->baton, *act = &tu_map_head(&m, 0)->actw;
    mhsld_head *h0 = tu_attach(st, 0), *h1 = tu_attach(st, 1);
    REQUIRE(tu_claim(h0, 0, 4 * BS) == MHSLD_OK);
    uint64_t idle = __atomic_load_n(bat, __ATOMIC_RELAXED);
    CHECK(idle == MHSLD__BATON_FREE || idle == MHSLD__BATON_FENCED);
    /* Before a head's call: the baton is the head's to write, a word in
     * actw it does not expect is resynchronised (inactive) or taken over
     * (ACTIVE with no actor): it works, and leaves both words well formed. */
    for (size_t i = 0; i < NB + NA; i++) {
        if (i < NB)
            tu_w64(bat, bjunk[i]);
        else
            tu_w64(act, ajunk[i - NB]);
        CHECK_OK(tu_claim(h0, (20 + i) * BS, BS));
        CHECK(__atomic_load_n(bat, __ATOMIC_RELAXED) == idle);
        CHECK((__atomic_load_n(act, __ATOMIC_RELAXED) & MHSLD__ACT_ACTIVE) == 0);
    }
    /* Before a forced release: a baton that does not say FREE makes it wait
     * and answer BUSY; any actw is taken (ACTIVE: its setter is dead). */
    for (size_t i = 0; i < NB + NA; i++) {
        int busy = 0;
        if (i < NB) {
            tu_w64(bat, bjunk[i]);
            busy = !outsider_acts(bjunk[i]);
        } else {
            tu_w64(act, ajunk[i - NB]);
        }
        mhsld_extent e = tu_ext((20 + i) * BS, BS);
        mhsld_status s = mhsld_fm_force_release(st, 0, &e, 1, 50, NULL);
        CHECK((__atomic_load_n(act, __ATOMIC_RELAXED) & MHSLD__ACT_ACTIVE) == 0);
        if (busy) {
            CHECK_ST(s, MHSLD_E_BUSY);
            CHECK(mhsld_access_ok(h0, e.dpa, e.len));
            CHECK_OK(mhsld_release(h0, &e, 1, NULL)); /* the head repairs it */
        } else {
            CHECK_OK(s);
            CHECK(!mhsld_access_ok(h0, e.dpa, e.len));
        }
    }
    /* During a forced release: before every atomic step, another value in
     * one of the words. */
    unsigned long points = 0;
    for (uint64_t k = 1;; k++) {
        REQUIRE(tu_claim(h0, 40 * BS, 2 * BS) == MHSLD_OK); /* baton: FREE again */
        gctx g = nth_scribble(bat, act, k);
        mhsld_test_crash_at(k, scribble, &g);
        mhsld_extent e = tu_ext(40 * BS, 2 * BS);
        mhsld_status s = mhsld_fm_force_release(st, 0, &e, 1, 50, NULL);
        uint64_t steps = mhsld_test_steps();
        mhsld_test_crash_at(0, NULL, NULL);
        if (s == MHSLD_E_BUSY) {
            /* Only a baton written before the forcer looked at it (before
             * its first step, actw's compare-and-swap) that does not say
             * FREE: nothing changed, the head repairs it. */
            CHECK(k == 1 && g.word == bat && !outsider_acts(g.value));
            CHECK(mhsld_access_ok(h0, 40 * BS, 2 * BS));
            CHECK_OK(mhsld_release(h0, &e, 1, NULL));
        } else {
            CHECK_OK(s);
        }
        CHECK(tu_block_state(st, 40 * BS, NULL) == MHSLD_BLOCK_FREE);
        CHECK(!mhsld_access_ok(h0, 40 * BS, 2 * BS));
        CHECK(mhsld_access_ok(h0, 0, 4 * BS));
        points++;
        if (steps < k)
            break;
    }
    /* During a head's operation likewise. */
    for (uint64_t k = 1;; k++) {
        gctx g = nth_scribble(bat, act, k);
        mhsld_test_crash_at(k, scribble, &g);
        mhsld_status s = tu_claim(h0, 50 * BS, 2 * BS);
        uint64_t steps = mhsld_test_steps();
        mhsld_test_crash_at(0, NULL, NULL);
        CHECK_OK(s);
        mhsld_extent e = tu_ext(50 * BS, 2 * BS);
        CHECK_OK(mhsld_release(h0, &e, 1, NULL));
        points++;
        if (steps < k)
            break;
    }
    printf("  garbage in the baton and actw before %lu atomic steps: exact\n", points);
    CHECK_OK(tu_claim(h1, 40 * BS, 2 * BS));
    CHECK_VALID(st);
    tu_unmap_state(&m);
    mhsld_detach(h0);
    mhsld_detach(h1);
    mhsld_close(st);
}

/* ---- the FORCED notice --------------------------------------------------- */

/* A forced release of a live head leaves that head FORCED notices naming
 * exactly the extents taken, in order, at most MHSLD_FMQ_MAX_EXTENTS each;
 * a refused one leaves none. */
static void test_notice(void)
{
    enum { N = MHSLD_FMQ_MAX_EXTENTS + 6 };
    mhsld_state *st = fresh();
    mhsld_head *h0 = tu_attach(st, 0);
    static mhsld_extent e[N];
    for (uint32_t i = 0; i < N; i++) {
        e[i] = tu_ext((uint64_t)i * 2 * BS, BS);
        REQUIRE(tu_claim(h0, e[i].dpa, e[i].len) == MHSLD_OK);
    }
    uint32_t slot;
    static mhsld_fm_request rq;
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        mhsld_state *cst = tu_open(path);
        mhsld_conflict c;
        mhsld_extent bad = tu_ext(1 * BS, BS); /* not owned: refused, no notice */
        mhsld_status s = mhsld_fm_force_release(cst, 0, &bad, 1, 1000, &c);
        if (s == MHSLD_E_NOT_OWNER)
            s = mhsld_fm_force_release(cst, 0, e, N, 1000, &c);
        mhsld_close(cst);
        _exit((int)s);
    }
    CHECK_ST((mhsld_status)wait_child(pid), MHSLD_OK);
    size_t seen = 0;
    for (int k = 0; k < 2; k++) {
        CHECK_OK(mhsld_fm_take(h0, &slot, &rq));
        CHECK(rq.kind == MHSLD_FM_FORCED);
        size_t want = k == 0 ? MHSLD_FMQ_MAX_EXTENTS : N - MHSLD_FMQ_MAX_EXTENTS;
        CHECK(rq.n == want);
        for (uint32_t i = 0; i < rq.n && seen + i < N; i++)
            CHECK(rq.ext[i].dpa == e[seen + i].dpa && rq.ext[i].len == e[seen + i].len);
        seen += rq.n;
        mhsld_fm_result res;
        memset(&res, 0, sizeof(res));
        CHECK_OK(mhsld_fm_complete(h0, slot, &res));
    }
    CHECK_ST(mhsld_fm_take(h0, &slot, &rq), MHSLD_E_NOENT);
    CHECK(!mhsld_access_ok(h0, e[0].dpa, BS));
    CHECK_VALID(st);
    mhsld_detach(h0);
    mhsld_close(st);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    tu_path(path, sizeof(path), "fmforce");
    geo = geometry();
    mhsld_state *st = tu_create(path, &geo);
    mhsld_close(st);
    test_live();
    test_all_or_nothing();
    test_shared();
    test_dead();
    test_busy();
    test_head_killed();
    test_stamps();
    test_garbage();
    test_notice();
    REQUIRE(mhsld_destroy(path, true) == MHSLD_OK);
    return tu_report("test_fmforce");
}
