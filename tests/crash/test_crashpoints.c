/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Crash-point enumeration.  For every operation below and every k, a forked
 * process runs the operation as head 0 and is SIGKILLed just before its k-th
 * atomic step.  Another process (this one) then recovers head 0 and checks:
 *   - every block is exactly as before the operation or exactly as after it
 *     (all blocks, so nothing of another head was touched), and which of the
 *     two is allowed depends on the operation (a failing reserve: before);
 *   - mhsld_validate() holds.
 * For some operations the recovery itself is also killed at every step, and
 * recovered again.
 */
#include <signal.h>
#include <sys/wait.h>

#include "mhsld/testing.h"
#include "testutil.h"

#define NBLK 256
#define SH_BASE (NBLK * BS) /* sharable region: NBLK blocks after the first */

typedef struct snap {
    uint8_t state[2 * NBLK];
    uint8_t owner[2 * NBLK];
    uint8_t start[2 * NBLK]; /* first block of an extent */
    uint32_t sharers[2 * NBLK];
    uint32_t pending[3];
    uint8_t fm_ref[4]; /* of the first shared extents (mhsld_shared_list order) */
    uint16_t seq[4];
} snap;

static void take(mhsld_state *st, snap *s)
{
    memset(s, 0, sizeof(*s));
    for (uint64_t b = 0; b < 2 * NBLK; b++) {
        mhsld_block_info bi;
        REQUIRE(mhsld_block_info_get(st, b, &bi) == MHSLD_OK);
        s->state[b] = (uint8_t)bi.state;
        s->owner[b] = (uint8_t)bi.owner;
        s->start[b] = (uint8_t)bi.extent_start;
        s->sharers[b] = bi.sharers;
    }
    for (uint32_t h = 0; h < 3; h++) {
        mhsld_head_info hi;
        REQUIRE(mhsld_head_info_get(st, h, &hi) == MHSLD_OK);
        s->pending[h] = hi.nr_pending;
    }
    mhsld_shared_info si[4];
    size_t n = 0;
    REQUIRE(mhsld_shared_list(st, si, 4, &n, NULL) == MHSLD_OK);
    for (size_t i = 0; i < n; i++) {
        s->fm_ref[i] = si[i].fm_ref;
        s->seq[i] = si[i].seq;
    }
}

static int same(const snap *a, const snap *b)
{
    return memcmp(a, b, sizeof(*a)) == 0;
}

typedef struct scenario {
    const char *name;
    /* set up with heads 1 and 2 (attached) and h0 (attached, KEEP) */
    void (*setup)(mhsld_head *h0, mhsld_head *h1, mhsld_head *h2);
    /* the operation under test, run by head 0 */
    mhsld_status (*op)(mhsld_head *h0);
    mhsld_status expect;
    int nested;             /* also crash the recovery */
    uint32_t recover_flags; /* release-all is a sequence of journaled ops: DROP finishes it */
    int interfere;          /* head 2 claims blocks of the request after its pre-check */
} scenario;

static const uint8_t TAG[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static void setup_none(mhsld_head *h0, mhsld_head *h1, mhsld_head *h2)
{
    (void)h0;
    REQUIRE(tu_claim(h1, 10 * BS, 4 * BS) == MHSLD_OK);
    REQUIRE(tu_claim(h2, 140 * BS, 2 * BS) == MHSLD_OK);
}

static mhsld_status op_reserve(mhsld_head *h0)
{
    mhsld_extent e[3] = {{60 * BS, 10 * BS}, {130 * BS, BS}, {190 * BS, 10 * BS}};
    uint64_t g;
    return mhsld_reserve(h0, e, 3, &g, NULL);
}

/* The conflict appears after the reservation passed its side-effect-free
 * pre-check (head 2 takes blocks 195-196 at its first atomic step), so the
 * claim of words 0-2 happens and must be undone. */
typedef struct ictx {
    mhsld_head *h2;
    uint64_t k;
} ictx;

static void die(void *arg);

static void interfere(void *arg)
{
    ictx *c = arg;
    REQUIRE(tu_claim(c->h2, 195 * BS, 2 * BS) == MHSLD_OK);
    mhsld_test_crash_at(c->k, c->k ? die : NULL, NULL);
}

/* mhsld_claim: free -> OWNED in one operation, through each of its paths:
 * one extent in one word (claim_one); one extent over three words
 * (claim_run); several extents, two of them adjacent, one in the sharable
 * region (claim_held).  And claims that meet head 2's interference (blocks
 * 195-196, taken after the pre-check) and must be undone: op_reserve's
 * extents (claim_held, in its last word), one extent over words 2-3
 * (claim_run, in its last word), one extent inside word 3 (claim_one). */
static mhsld_status op_claim_one_word(mhsld_head *h0)
{
    mhsld_extent e = {20 * BS, 3 * BS};
    return mhsld_claim(h0, &e, 1, NULL);
}

static mhsld_status op_claim_words(mhsld_head *h0)
{
    mhsld_extent e = {60 * BS, 80 * BS};
    return mhsld_claim(h0, &e, 1, NULL);
}

static mhsld_status op_claim_extents(mhsld_head *h0)
{
    mhsld_extent e[5] = {{70 * BS, 2 * BS},
                         {60 * BS, 10 * BS},
                         {130 * BS, BS},
                         {190 * BS, 10 * BS},
                         {SH_BASE + 5 * BS, 2 * BS}};
    return mhsld_claim(h0, e, 5, NULL);
}

static mhsld_status op_claim_reserve_extents(mhsld_head *h0)
{
    mhsld_extent e[3] = {{60 * BS, 10 * BS}, {130 * BS, BS}, {190 * BS, 10 * BS}};
    return mhsld_claim(h0, e, 3, NULL);
}

static mhsld_status op_claim_run_to_195(mhsld_head *h0)
{
    mhsld_extent e = {150 * BS, 50 * BS};
    return mhsld_claim(h0, &e, 1, NULL);
}

static mhsld_status op_claim_one_at_195(mhsld_head *h0)
{
    mhsld_extent e = {193 * BS, 5 * BS};
    return mhsld_claim(h0, &e, 1, NULL);
}

static void setup_pending(mhsld_head *h0, mhsld_head *h1, mhsld_head *h2)
{
    setup_none(h0, h1, h2);
    REQUIRE(op_reserve(h0) == MHSLD_OK);
}

static mhsld_status op_commit_subset(mhsld_head *h0)
{
    uint64_t g;
    REQUIRE(mhsld_pending_oldest(h0, &g) == MHSLD_OK);
    mhsld_extent a[2] = {{62 * BS, 4 * BS}, {195 * BS, 5 * BS}};
    return mhsld_commit(h0, g, a, 2);
}

static mhsld_status op_commit_none(mhsld_head *h0)
{
    uint64_t g;
    REQUIRE(mhsld_pending_oldest(h0, &g) == MHSLD_OK);
    return mhsld_commit(h0, g, NULL, 0);
}

static void setup_owned(mhsld_head *h0, mhsld_head *h1, mhsld_head *h2)
{
    setup_none(h0, h1, h2);
    REQUIRE(tu_claim(h0, 60 * BS, 10 * BS) == MHSLD_OK);
    REQUIRE(tu_claim(h0, 126 * BS, 6 * BS) == MHSLD_OK);
}

static mhsld_status op_release(mhsld_head *h0)
{
    mhsld_extent e[2] = {{61 * BS, 8 * BS}, {126 * BS, 6 * BS}};
    return mhsld_release(h0, e, 2, NULL);
}

/* The one-extent releases (release_one, release_run), each leaving a
 * remainder of the extent that must begin an extent of its own (its
 * start): in the next word after one word, in the same word after three. */
static void setup_owned_run(mhsld_head *h0, mhsld_head *h1, mhsld_head *h2)
{
    setup_none(h0, h1, h2);
    REQUIRE(tu_claim(h0, 60 * BS, 80 * BS) == MHSLD_OK);
}

static mhsld_status op_release_one_word(mhsld_head *h0)
{
    mhsld_extent e = {64 * BS, 64 * BS};
    return mhsld_release(h0, &e, 1, NULL);
}

static mhsld_status op_release_words(mhsld_head *h0)
{
    mhsld_extent e = {62 * BS, 68 * BS};
    return mhsld_release(h0, &e, 1, NULL);
}

/* The general release path (two extents) giving back a whole word of
 * exclusively held blocks, which a 16-byte store gives back where the CPU
 * makes that one access (occ_clear_whole), and a partial one by CAS. */
static mhsld_status op_release_whole_word(mhsld_head *h0)
{
    mhsld_extent e[2] = {{64 * BS, 64 * BS}, {130 * BS, 2 * BS}};
    return mhsld_release(h0, e, 2, NULL);
}

static mhsld_status op_share_new(mhsld_head *h0)
{
    mhsld_extent e = {SH_BASE + 60 * BS, 8 * BS};
    return mhsld_share_add(h0, &e, TAG, NULL);
}

static void setup_shared_by_1(mhsld_head *h0, mhsld_head *h1, mhsld_head *h2)
{
    setup_none(h0, h1, h2);
    mhsld_extent e = {SH_BASE + 60 * BS, 8 * BS};
    REQUIRE(mhsld_share_add(h1, &e, TAG, NULL) == MHSLD_OK);
}

static void setup_shared_by_0(mhsld_head *h0, mhsld_head *h1, mhsld_head *h2)
{
    setup_none(h0, h1, h2);
    REQUIRE(op_share_new(h0) == MHSLD_OK);
}

static void setup_shared_by_01(mhsld_head *h0, mhsld_head *h1, mhsld_head *h2)
{
    setup_shared_by_1(h0, h1, h2);
    REQUIRE(op_share_new(h0) == MHSLD_OK);
}

static mhsld_status op_share_leave(mhsld_head *h0)
{
    mhsld_extent e = {SH_BASE + 60 * BS, 8 * BS};
    return mhsld_share_release(h0, &e);
}

static void setup_everything(mhsld_head *h0, mhsld_head *h1, mhsld_head *h2)
{
    setup_shared_by_01(h0, h1, h2);
    REQUIRE(tu_claim(h0, 100 * BS, 3 * BS) == MHSLD_OK);
    mhsld_extent e = {200 * BS, 2 * BS};
    uint64_t g;
    REQUIRE(mhsld_reserve(h0, &e, 1, &g, NULL) == MHSLD_OK);
    e.dpa = SH_BASE + 100 * BS;
    REQUIRE(mhsld_share_add(h0, &e, TAG, NULL) == MHSLD_OK);
}

static mhsld_status op_release_all(mhsld_head *h0)
{
    return mhsld_release_all(h0, NULL);
}

/* Fabric-manager references (5606h/5607h), made through head 0. */
static mhsld_status op_fmref_add(mhsld_head *h0)
{
    return mhsld_fm_ref_add(h0, TAG);
}

static mhsld_status op_fmref_remove(mhsld_head *h0)
{
    return mhsld_fm_ref_remove(h0, TAG, NULL);
}

static void setup_shared_by_1_fmref(mhsld_head *h0, mhsld_head *h1, mhsld_head *h2)
{
    setup_shared_by_1(h0, h1, h2);
    REQUIRE(mhsld_fm_ref_add(h1, TAG) == MHSLD_OK);
}

/* The extent is held by the FM's reference alone: its last sharer left. */
static void setup_fmref_only(mhsld_head *h0, mhsld_head *h1, mhsld_head *h2)
{
    setup_shared_by_1_fmref(h0, h1, h2);
    mhsld_extent e = {SH_BASE + 60 * BS, 8 * BS};
    REQUIRE(mhsld_share_release(h1, &e) == MHSLD_OK);
}

static void setup_shared_by_0_fmref(mhsld_head *h0, mhsld_head *h1, mhsld_head *h2)
{
    setup_shared_by_0(h0, h1, h2);
    REQUIRE(mhsld_fm_ref_add(h0, TAG) == MHSLD_OK);
}

static const scenario scenarios[] = {
    {"reserve", setup_none, op_reserve, MHSLD_OK, 1, MHSLD_RECOVER_KEEP, 0},
    {"reserve-conflict", setup_none, op_reserve, MHSLD_E_CONFLICT, 1, MHSLD_RECOVER_KEEP, 1},
    {"commit-subset", setup_pending, op_commit_subset, MHSLD_OK, 1, MHSLD_RECOVER_KEEP, 0},
    {"commit-none", setup_pending, op_commit_none, MHSLD_OK, 0, MHSLD_RECOVER_KEEP, 0},
    {"release", setup_owned, op_release, MHSLD_OK, 1, MHSLD_RECOVER_KEEP, 0},
    {"release-one-word", setup_owned_run, op_release_one_word, MHSLD_OK, 1, MHSLD_RECOVER_KEEP, 0},
    {"release-words", setup_owned_run, op_release_words, MHSLD_OK, 1, MHSLD_RECOVER_KEEP, 0},
    {"release-whole-word", setup_owned_run, op_release_whole_word, MHSLD_OK, 1, MHSLD_RECOVER_KEEP,
     0},
    {"share-new", setup_none, op_share_new, MHSLD_OK, 1, MHSLD_RECOVER_KEEP, 0},
    {"share-join", setup_shared_by_1, op_share_new, MHSLD_OK, 0, MHSLD_RECOVER_KEEP, 0},
    {"share-leave-last", setup_shared_by_0, op_share_leave, MHSLD_OK, 1, MHSLD_RECOVER_KEEP, 0},
    {"share-leave", setup_shared_by_01, op_share_leave, MHSLD_OK, 0, MHSLD_RECOVER_KEEP, 0},
    {"release-all", setup_everything, op_release_all, MHSLD_OK, 1, MHSLD_RECOVER_DROP, 0},
    {"fmref-add", setup_shared_by_1, op_fmref_add, MHSLD_OK, 0, MHSLD_RECOVER_KEEP, 0},
    {"fmref-remove", setup_shared_by_1_fmref, op_fmref_remove, MHSLD_OK, 0, MHSLD_RECOVER_KEEP, 0},
    {"fmref-remove-last", setup_fmref_only, op_fmref_remove, MHSLD_OK, 1, MHSLD_RECOVER_KEEP, 0},
    {"share-leave-fmref", setup_shared_by_0_fmref, op_share_leave, MHSLD_OK, 0, MHSLD_RECOVER_KEEP,
     0},
    {"claim-one-word", setup_none, op_claim_one_word, MHSLD_OK, 1, MHSLD_RECOVER_KEEP, 0},
    {"claim-words", setup_none, op_claim_words, MHSLD_OK, 1, MHSLD_RECOVER_KEEP, 0},
    {"claim-extents", setup_none, op_claim_extents, MHSLD_OK, 1, MHSLD_RECOVER_KEEP, 0},
    {"claim-conflict", setup_none, op_claim_reserve_extents, MHSLD_E_CONFLICT, 1,
     MHSLD_RECOVER_KEEP, 1},
    {"claim-run-conflict", setup_none, op_claim_run_to_195, MHSLD_E_CONFLICT, 1, MHSLD_RECOVER_KEEP,
     1},
    {"claim-one-conflict", setup_none, op_claim_one_at_195, MHSLD_E_CONFLICT, 1, MHSLD_RECOVER_KEEP,
     1},
};

static void die(void *arg)
{
    (void)arg;
    raise(SIGKILL);
}

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

/* Fresh state with the scenario's setup; head 0 detached afterwards. */
static mhsld_state *prepare(const char *path, const scenario *sc, mhsld_head **h1, mhsld_head **h2)
{
    mhsld_geometry g = geometry();
    mhsld_open_opts o = {
        .size = sizeof(o), .mode = MHSLD_OPEN_REINIT, .path = path, .geometry = &g};
    mhsld_state *st = NULL;
    REQUIRE(mhsld_open(&o, &st) == MHSLD_OK);
    mhsld_head *h0 = tu_attach(st, 0);
    *h1 = tu_attach(st, 1);
    *h2 = tu_attach(st, 2);
    sc->setup(h0, *h1, *h2);
    mhsld_detach(h0);
    return st;
}

static void finish(mhsld_state *st, mhsld_head *h1, mhsld_head *h2)
{
    mhsld_detach(h1);
    mhsld_detach(h2);
    mhsld_close(st);
}

/* Run sc->op as head 0 in a child killed before step k (k = 0: no crash).
 * Returns 1 if the child was killed, 0 if it completed.  A forked child
 * cannot use this process's head handles (they are fenced in it), so for an
 * interfering scenario head 2 is handed over: detached here, attached by the
 * child, attached here again afterwards. */
static int run_child_op(mhsld_state *st, const scenario *sc, uint64_t k, mhsld_head **h2)
{
    if (sc->interfere) {
        mhsld_detach(*h2);
        *h2 = NULL;
    }
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        mhsld_head *h0 = tu_child_attach(st, 0);
        mhsld_head *c2 = sc->interfere ? tu_child_attach(st, 2) : NULL;
        ictx c = {c2, k};
        if (sc->interfere)
            mhsld_test_crash_at(1, interfere, &c);
        else
            mhsld_test_crash_at(k, die, NULL);
        mhsld_status s = sc->op(h0);
        _exit(s == sc->expect ? 0 : 4);
    }
    int ws = 0;
    REQUIRE(waitpid(pid, &ws, 0) == pid);
    if (sc->interfere)
        *h2 = tu_attach(st, 2);
    if (WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL)
        return 1;
    REQUIRE(WIFEXITED(ws));
    if (WEXITSTATUS(ws) != 0) {
        fprintf(stderr, "child op exited %d\n", WEXITSTATUS(ws));
        tu_fail++;
    }
    return 0;
}

/* Recover head 0 in a child killed before step k. */
static int run_child_recover(mhsld_state *st, uint64_t k, uint32_t flags)
{
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        mhsld_test_crash_at(k, die, NULL);
        _exit(mhsld_recover(st, 0, flags, NULL) == MHSLD_OK ? 0 : 5);
    }
    return tu_wait_killed(pid);
}

static unsigned long crash_points, nested_points;

static void check_outcome(mhsld_state *st, const scenario *sc, const snap *before,
                          const snap *after, uint64_t k, uint64_t k2)
{
    snap now;
    take(st, &now);
    int ok = same(&now, before) || (sc->expect == MHSLD_OK && same(&now, after));
    if (!ok)
        fprintf(stderr,
                "%s: crash at step %llu (recovery crash %llu): state is neither "
                "before nor after\n",
                sc->name, (unsigned long long)k, (unsigned long long)k2);
    CHECK(ok);
    CHECK_VALID(st);
}

static void enumerate(const scenario *sc, const char *path)
{
    mhsld_head *h1, *h2;
    snap before, after;
    /* Reference run: the after state and the number of steps. */
    mhsld_state *st = prepare(path, sc, &h1, &h2);
    take(st, &before);
    mhsld_head *h0 = tu_attach(st, 0);
    ictx c = {h2, 0};
    if (sc->interfere)
        mhsld_test_crash_at(1, interfere, &c);
    else
        mhsld_test_crash_at(0, NULL, NULL);
    CHECK_ST(sc->op(h0), sc->expect);
    uint64_t steps = mhsld_test_steps();
    mhsld_detach(h0);
    take(st, &after);
    if (sc->interfere)
        before = after; /* the failing op changes nothing but the interference */
    CHECK_VALID(st);
    finish(st, h1, h2);
    CHECK(steps > 0);
    if (sc->expect == MHSLD_OK)
        CHECK(!same(&before, &after));

    for (uint64_t k = 1; k <= steps + 1; k++) {
        st = prepare(path, sc, &h1, &h2);
        int killed = run_child_op(st, sc, k, &h2);
        CHECK(killed == (k <= steps));
        mhsld_recover_report rep;
        CHECK_OK(mhsld_recover(st, 0, sc->recover_flags, &rep));
        check_outcome(st, sc, &before, &after, k, 0);
        crash_points++;
        finish(st, h1, h2);
        if (!sc->nested || !killed)
            continue;
        /* Kill the recovery too, at every one of its steps. */
        for (uint64_t k2 = 1;; k2++) {
            st = prepare(path, sc, &h1, &h2);
            REQUIRE(run_child_op(st, sc, k, &h2) == 1);
            int rkilled = run_child_recover(st, k2, sc->recover_flags);
            CHECK_OK(mhsld_recover(st, 0, sc->recover_flags, NULL));
            check_outcome(st, sc, &before, &after, k, k2);
            nested_points++;
            finish(st, h1, h2);
            if (!rkilled)
                break;
        }
    }
    printf("%-18s %3llu crash points\n", sc->name, (unsigned long long)steps);
}

int main(void)
{
    char path[128];
    tu_path(path, sizeof(path), "crash");
    for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
        enumerate(&scenarios[i], path);
    mhsld_destroy(path, true);
    printf("crash points enumerated: %lu, nested recovery crash points: %lu\n", crash_points,
           nested_points);
    return tu_report("test_crashpoints");
}
