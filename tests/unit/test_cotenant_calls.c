/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A co-tenant that writes the shared state DURING calls.
 *
 * A second mapping of the state file (what another QEMU head has) is used to
 * overwrite control data -- a head's journal, its pending reservations, the
 * shared slots' ranges -- with hostile values (huge counts and indices,
 * ranges past the device) just before the k-th atomic step of an operation,
 * for every k the operation has.  The engine reads control data once into
 * private memory and validates the copy, and a live operation never reads
 * back its own journal, so:
 *   - a live operation whose journal is overwritten mid-way ends exactly as
 *     it would have without the writer (same status, same blocks, and the
 *     state validates afterwards);
 *   - recovery of a dead head whose journal is overwritten while recovery
 *     runs ends exactly as an undisturbed recovery;
 *   - operations that read other heads' pending groups or the slot table
 *     while they are overwritten return a defined status and stay inside
 *     the mapping;
 *   - mhsld_validate() racing a writer that flips a reservation's ranges
 *     never indexes outside its own arrays.
 * Before the snapshot discipline, these crashed (SIGSEGV, or ASan
 * heap-buffer-overflow in mhsld_validate).
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "internal.h"
#include "mhsld/testing.h"
#include "testutil.h"
#include "cotenant.h"

#define NBLK 256
#define SH_BASE (NBLK * BS)

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

/* ---- the co-tenant: its own mapping of the file ------------------------- */

typedef struct cotenant {
    tu_map m;
    uint32_t head; /* whose record to overwrite */
    unsigned what; /* CT_* bits */
    unsigned writes;
    uint64_t k;             /* write before this step of the call */
    mhsld_head *interferer; /* if set: claims a block at step 1 (see setup_conflict) */
} cotenant;

enum { CT_JOURNAL = 1, CT_GROUPS = 2, CT_SLOTS = 4 };

static void ct_map(cotenant *c, const char *path)
{
    mhsld_geometry g = geometry();
    tu_map_state(&c->m, path, &g);
}

static void ct_unmap(cotenant *c)
{
    tu_unmap_state(&c->m);
}

/* Hostile values: counts and indices far beyond every table, ranges that
 * wrap or lie past the device. */
static void ct_write(cotenant *c)
{
    mhsld__headrec *hr = tu_map_head(&c->m, c->head);
    if (c->what & CT_JOURNAL) {
        tu_w32(&hr->j.n, 0xffffffffu);
        tu_w32(&hr->j.nacc, 0x7fffffffu);
        tu_w32(&hr->j.slot, 0x7ffffff0u);
        tu_w32(&hr->j.gslot, 0x7ffffff0u);
        tu_w64(&hr->j.undo, ~0ull);
        tu_w64(&hr->j.group, 0x123456789ull);
        for (unsigned i = 0; i < MHSLD__JMAX; i++) {
            tu_w64(&hr->j.r[i].start, (1ull << 62) + i);
            tu_w64(&hr->j.r[i].count, ~0ull - i);
        }
        for (unsigned i = 0; i < MHSLD_MAX_EXTENTS; i++) {
            tu_w64(&hr->j.acc[i].start, 1ull << 40);
            tu_w64(&hr->j.acc[i].count, 1ull << 40);
        }
    }
    if (c->what & CT_GROUPS) {
        for (unsigned g = 0; g < MHSLD_MAX_PENDING; g++) {
            tu_w32(&hr->groups[g].n, 0xfffffff0u);
            for (unsigned i = 0; i < MHSLD_MAX_EXTENTS; i++) {
                tu_w64(&hr->groups[g].r[i].start, 0);
                tu_w64(&hr->groups[g].r[i].count, 1ull << 50);
            }
        }
    }
    if (c->what & CT_SLOTS) {
        mhsld__slot *sl = tu_map_slots(&c->m);
        for (unsigned i = 0; i < MHSLD_MAX_SHARED; i++) {
            tu_w64(&sl[i].start, ~0ull - 5);
            tu_w64(&sl[i].count, 1ull << 45);
        }
    }
    c->writes++;
}

static void ct_hook(void *arg)
{
    ct_write(arg);
}

/* Another head claims block 132 after the reservation's pre-check (at its
 * first atomic step), so the claim conflicts at its third word and the two
 * claimed words are undone; then the writer is armed for step k. */
static void ct_interfere(void *arg)
{
    cotenant *c = arg;
    REQUIRE(tu_claim(c->interferer, 132 * BS, BS) == MHSLD_OK);
    if (c->k == 1)
        ct_write(c);
    else if (c->k > 1)
        mhsld_test_crash_at(c->k - 1, ct_hook, c);
}

/* Arm c for the call about to run. */
static void ct_arm(cotenant *c)
{
    if (c->interferer)
        mhsld_test_crash_at(1, ct_interfere, c);
    else
        mhsld_test_crash_at(c->k, c->k ? ct_hook : NULL, c);
}

/* ---- scenarios ---------------------------------------------------------- */

typedef struct scenario {
    const char *name;
    void (*setup)(mhsld_head *h0, mhsld_head *h1);
    mhsld_status (*op)(mhsld_head *h0);
    int interfere; /* head 1 claims block 132 at the operation's first step */
} scenario;

static void setup_none(mhsld_head *h0, mhsld_head *h1)
{
    (void)h0;
    REQUIRE(tu_claim(h1, 10 * BS, 4 * BS) == MHSLD_OK);
}

static mhsld_status op_reserve(mhsld_head *h0)
{
    mhsld_extent e[3] = {{60 * BS, 10 * BS}, {130 * BS, BS}, {190 * BS, 70 * BS - 4 * BS}};
    uint64_t g;
    return mhsld_reserve(h0, e, 3, &g, NULL);
}

/* Conflicts only at its third word: two claims happen and are undone. */
static mhsld_status op_reserve_conflict(mhsld_head *h0)
{
    mhsld_extent e[2] = {{60 * BS, 10 * BS}, {130 * BS, 3 * BS}};
    uint64_t g;
    return mhsld_reserve(h0, e, 2, &g, NULL);
}

static void setup_pending(mhsld_head *h0, mhsld_head *h1)
{
    setup_none(h0, h1);
    REQUIRE(op_reserve(h0) == MHSLD_OK);
}

static mhsld_status op_commit_subset(mhsld_head *h0)
{
    uint64_t g;
    REQUIRE(mhsld_pending_oldest(h0, &g) == MHSLD_OK);
    mhsld_extent a[2] = {{62 * BS, 4 * BS}, {195 * BS, 5 * BS}};
    return mhsld_commit(h0, g, a, 2);
}

static void setup_owned(mhsld_head *h0, mhsld_head *h1)
{
    setup_none(h0, h1);
    REQUIRE(tu_claim(h0, 60 * BS, 70 * BS) == MHSLD_OK);
}

static mhsld_status op_release(mhsld_head *h0)
{
    mhsld_extent e[2] = {{60 * BS, 3 * BS}, {100 * BS, 30 * BS}};
    return mhsld_release(h0, e, 2, NULL);
}

static mhsld_status op_share_new(mhsld_head *h0)
{
    mhsld_extent e = {SH_BASE + 8 * BS, 70 * BS};
    return mhsld_share_add(h0, &e, TAG, NULL);
}

static void setup_shared(mhsld_head *h0, mhsld_head *h1)
{
    setup_none(h0, h1);
    REQUIRE(op_share_new(h0) == MHSLD_OK);
}

static mhsld_status op_share_leave_last(mhsld_head *h0)
{
    mhsld_extent e = {SH_BASE + 8 * BS, 70 * BS};
    return mhsld_share_release(h0, &e);
}

static void setup_everything(mhsld_head *h0, mhsld_head *h1)
{
    setup_owned(h0, h1);
    mhsld_extent e = {150 * BS, 5 * BS};
    uint64_t g;
    REQUIRE(mhsld_reserve(h0, &e, 1, &g, NULL) == MHSLD_OK);
    REQUIRE(op_share_new(h0) == MHSLD_OK);
}

static mhsld_status op_release_all(mhsld_head *h0)
{
    uint64_t freed;
    return mhsld_release_all(h0, &freed);
}

/* mhsld_claim through each of its paths: one word, several words (and a
 * conflict at the third word, two words undone), several extents. */
static mhsld_status op_claim_one(mhsld_head *h0)
{
    mhsld_extent e = {60 * BS, 3 * BS};
    return mhsld_claim(h0, &e, 1, NULL);
}

static mhsld_status op_claim_run(mhsld_head *h0)
{
    mhsld_extent e = {60 * BS, 80 * BS};
    return mhsld_claim(h0, &e, 1, NULL);
}

static mhsld_status op_claim_many(mhsld_head *h0)
{
    mhsld_extent e[3] = {{60 * BS, 10 * BS}, {130 * BS, BS}, {190 * BS, 70 * BS - 4 * BS}};
    return mhsld_claim(h0, e, 3, NULL);
}

/* mhsld_release of one extent: inside one word, over several. */
static mhsld_status op_release_one(mhsld_head *h0)
{
    mhsld_extent e = {60 * BS, 3 * BS};
    return mhsld_release(h0, &e, 1, NULL);
}

static mhsld_status op_release_run(mhsld_head *h0)
{
    mhsld_extent e = {64 * BS, 66 * BS};
    return mhsld_release(h0, &e, 1, NULL);
}

static const scenario SCEN[] = {
    {"claim-one", setup_none, op_claim_one, 0},
    {"claim-run", setup_none, op_claim_run, 0},
    {"claim-run-conflict", setup_none, op_claim_run, 1},
    {"claim-many", setup_none, op_claim_many, 0},
    {"release-one", setup_owned, op_release_one, 0},
    {"release-run", setup_owned, op_release_run, 0},
    {"reserve", setup_none, op_reserve, 0},
    {"reserve-conflict", setup_none, op_reserve_conflict, 1},
    {"commit-subset", setup_pending, op_commit_subset, 0},
    {"release", setup_owned, op_release, 0},
    {"share-new", setup_none, op_share_new, 0},
    {"share-leave-last", setup_shared, op_share_leave_last, 0},
    {"release-all", setup_everything, op_release_all, 0},
};
#define NSCEN (sizeof(SCEN) / sizeof(SCEN[0]))

typedef struct world {
    char path[128];
    mhsld_state *st;
    mhsld_head *h0, *h1;
} world;

static void world_make(world *w, const scenario *sc)
{
    tu_path(w->path, sizeof(w->path), "cot");
    mhsld_geometry g = geometry();
    w->st = tu_create(w->path, &g);
    w->h0 = tu_attach(w->st, 0);
    w->h1 = tu_attach(w->st, 1);
    sc->setup(w->h0, w->h1);
}

static void world_end(world *w)
{
    mhsld_detach(w->h0);
    mhsld_detach(w->h1);
    mhsld_close(w->st);
    REQUIRE(mhsld_destroy(w->path, true) == MHSLD_OK);
}

typedef struct outcome {
    mhsld_status status;
    uint8_t state[2 * NBLK];
    uint8_t owner[2 * NBLK];
} outcome;

static void observe(mhsld_state *st, outcome *o)
{
    for (uint64_t b = 0; b < 2 * NBLK; b++) {
        mhsld_block_info bi;
        REQUIRE(mhsld_block_info_get(st, b, &bi) == MHSLD_OK);
        o->state[b] = (uint8_t)bi.state;
        o->owner[b] = (uint8_t)bi.owner;
    }
}

/* A live operation of head 0 with its own journal overwritten before every
 * one of its atomic steps: the same outcome as undisturbed. */
static void live_journal_overwritten(const scenario *sc)
{
    outcome base, got;
    world w;
    world_make(&w, sc);
    cotenant c0 = {.interferer = sc->interfere ? w.h1 : NULL};
    ct_arm(&c0);
    base.status = sc->op(w.h0);
    mhsld_test_crash_at(0, NULL, NULL);
    observe(w.st, &base);
    world_end(&w);

    unsigned bad = 0, points = 0;
    for (uint64_t k = 1;; k++) {
        world_make(&w, sc);
        cotenant c = {
            .head = 0, .what = CT_JOURNAL, .k = k, .interferer = sc->interfere ? w.h1 : NULL};
        ct_map(&c, w.path);
        ct_arm(&c);
        got.status = sc->op(w.h0);
        mhsld_test_crash_at(0, NULL, NULL);
        int reached = c.writes > 0;
        if (reached) {
            points++;
            observe(w.st, &got);
            char msg[256];
            mhsld_status v = mhsld_validate(w.st, msg, sizeof(msg));
            if (got.status != base.status || memcmp(got.state, base.state, sizeof(got.state)) ||
                memcmp(got.owner, base.owner, sizeof(got.owner)) || v != MHSLD_OK) {
                if (bad++ < 3)
                    fprintf(stderr,
                            "  %s: journal overwritten before step %llu: %s (want %s), "
                            "validate %s %s\n",
                            sc->name, (unsigned long long)k, mhsld_status_name(got.status),
                            mhsld_status_name(base.status), mhsld_status_name(v), msg);
            }
        }
        ct_unmap(&c);
        world_end(&w);
        if (!reached)
            break;
    }
    printf("  %-18s live, journal overwritten at each of %u steps: %u differ\n", sc->name, points,
           bad);
    CHECK(points > 0);
    CHECK(bad == 0);
}

/* Operations that read pending groups and slots (their own or others')
 * while those are overwritten: a defined status, never a wild access. */
static void live_tables_overwritten(const scenario *sc)
{
    unsigned points = 0, undefined = 0;
    for (uint64_t k = 1;; k++) {
        world w;
        world_make(&w, sc);
        cotenant c = {.head = 0,
                      .what = CT_GROUPS | CT_SLOTS,
                      .k = k,
                      .interferer = sc->interfere ? w.h1 : NULL};
        ct_map(&c, w.path);
        ct_arm(&c);
        mhsld_status s = sc->op(w.h0);
        mhsld_test_crash_at(0, NULL, NULL);
        int reached = c.writes > 0;
        points += (unsigned)reached;
        if (reached && (unsigned)s >= MHSLD_E__COUNT)
            undefined++;
        /* Readers of the damaged tables answer, bounded. */
        char msg[256];
        (void)mhsld_validate(w.st, msg, sizeof(msg));
        size_t n = 0;
        mhsld_extent ext[MHSLD_MAX_EXTENTS];
        uint64_t groups[MHSLD_MAX_PENDING];
        if (mhsld_pending_list(w.h0, groups, MHSLD_MAX_PENDING, &n) == MHSLD_OK)
            for (size_t i = 0; i < n && i < MHSLD_MAX_PENDING; i++)
                (void)mhsld_pending_get(w.h0, groups[i], ext, MHSLD_MAX_EXTENTS, &n);
        mhsld_recover_report rep;
        (void)mhsld_recover(w.st, 2, 0, &rep);
        ct_unmap(&c);
        world_end(&w);
        if (!reached)
            break;
    }
    printf("  %-18s live, groups+slots overwritten at each of %u steps: %u undefined\n", sc->name,
           points, undefined);
    CHECK(points > 0);
    CHECK(undefined == 0);
}

/* ---- recovery with its journal overwritten while it runs ---------------- */

static void die(void *arg)
{
    (void)arg;
    _exit(0);
}

typedef struct ictx {
    mhsld_head *h;
    uint64_t kill_at;
} ictx;

static void interfere_then_die(void *arg)
{
    ictx *ic = arg;
    REQUIRE(tu_claim(ic->h, 132 * BS, BS) == MHSLD_OK);
    if (ic->kill_at <= 1)
        _exit(0);
    mhsld_test_crash_at(ic->kill_at - 1, die, NULL);
}

/* Head 0 (a forked process) dies before its step `kill_at`; this process
 * recovers it with the journal overwritten before recovery step k. */
static void recovery_journal_overwritten(const scenario *sc)
{
    unsigned points = 0, bad = 0, kills = 0;
    for (uint64_t kill_at = 1;; kill_at += 4) {
        /* Outcome of an undisturbed recovery. */
        outcome base;
        int op_done = 0;
        for (int pass = 0; pass < 64; pass++) {
            world w;
            world_make(&w, sc);
            mhsld_detach(w.h0); /* the child attaches head 0 itself */
            w.h0 = NULL;
            pid_t pid = fork();
            REQUIRE(pid >= 0);
            if (pid == 0) {
                mhsld_state *cst = tu_open(w.path);
                mhsld_head *ch = tu_attach(cst, 0);
                if (sc->interfere) {
                    ictx ic = {tu_attach(cst, 2), kill_at};
                    mhsld_test_crash_at(1, interfere_then_die, &ic);
                    (void)sc->op(ch);
                    _exit(7);
                }
                mhsld_test_crash_at(kill_at, die, NULL);
                (void)sc->op(ch);
                _exit(7); /* completed without reaching kill_at */
            }
            int wst;
            REQUIRE(waitpid(pid, &wst, 0) == pid);
            REQUIRE(WIFEXITED(wst));
            if (WEXITSTATUS(wst) == 7) {
                op_done = 1;
                mhsld_detach(w.h1);
                mhsld_close(w.st);
                REQUIRE(mhsld_destroy(w.path, true) == MHSLD_OK);
                break;
            }
            cotenant c = {.head = 0, .what = pass ? CT_JOURNAL : 0};
            ct_map(&c, w.path);
            uint64_t k = (uint64_t)pass;
            if (pass)
                mhsld_test_crash_at(k, ct_hook, &c);
            mhsld_recover_report rep;
            mhsld_status s = mhsld_recover(w.st, 0, MHSLD_RECOVER_KEEP, &rep);
            mhsld_test_crash_at(0, NULL, NULL);
            outcome got;
            got.status = s;
            observe(w.st, &got);
            if (!pass) {
                base = got;
                kills++;
            } else if (c.writes) {
                points++;
                char msg[256];
                mhsld_status v = mhsld_validate(w.st, msg, sizeof(msg));
                if (got.status != base.status || memcmp(got.state, base.state, sizeof(got.state)) ||
                    memcmp(got.owner, base.owner, sizeof(got.owner)) || v != MHSLD_OK) {
                    if (bad++ < 3)
                        fprintf(stderr,
                                "  %s: killed at %llu, recovery's journal "
                                "overwritten before its step %llu: %s (want %s), validate %s "
                                "%s\n",
                                sc->name, (unsigned long long)kill_at, (unsigned long long)k,
                                mhsld_status_name(s), mhsld_status_name(base.status),
                                mhsld_status_name(v), msg);
                }
            }
            int reached = !pass || c.writes;
            ct_unmap(&c);
            mhsld_detach(w.h1);
            w.h1 = NULL;
            mhsld_close(w.st);
            REQUIRE(mhsld_destroy(w.path, true) == MHSLD_OK);
            if (!reached)
                break;
        }
        if (op_done)
            break;
    }
    printf("  %-18s recovery, journal overwritten: %u kill points, %u overwrite points: "
           "%u differ\n",
           sc->name, kills, points, bad);
    CHECK(kills > 0);
    CHECK(bad == 0);
}

/* ---- mhsld_validate() against a writer flipping a reservation ---------- */

typedef struct flipper {
    cotenant c;
    volatile int stop;
    unsigned long flips;
} flipper;

static void *flip_main(void *arg)
{
    flipper *f = arg;
    mhsld__headrec *hr = tu_map_head(&f->c.m, 0);
    while (!__atomic_load_n(&f->stop, __ATOMIC_RELAXED)) {
        /* valid (what the reservation holds) for a moment, then far past
         * the device for longer than a validation's loop over it takes */
        tu_w64(&hr->groups[0].r[2].count, 66);
        for (int i = 0; i < 40; i++)
            __builtin_ia32_pause();
        tu_w64(&hr->groups[0].r[2].count, 1ull << 40);
        for (int i = 0; i < 200; i++)
            __builtin_ia32_pause();
        f->flips++;
    }
    return NULL;
}

static void validate_races_writer(void)
{
    world w;
    world_make(&w, &SCEN[2]); /* a pending reservation in groups[0] */
    flipper f = {.c = {.head = 0}};
    ct_map(&f.c, w.path);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, flip_main, &f) == 0);
    unsigned counts[MHSLD_E__COUNT] = {0}, runs = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;; runs++) { /* for 2 s of wall time */
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if ((t1.tv_sec - t0.tv_sec) * 1000000000l + (t1.tv_nsec - t0.tv_nsec) > 2000000000l)
            break;
        char msg[256];
        mhsld_status s = mhsld_validate(w.st, msg, sizeof(msg));
        if ((unsigned)s < MHSLD_E__COUNT)
            counts[(unsigned)s]++;
    }
    __atomic_store_n(&f.stop, 1, __ATOMIC_RELAXED);
    pthread_join(t, NULL);
    printf("  validate racing a writer: %u runs, %u OK, %u CORRUPT, %lu flips\n", runs,
           counts[MHSLD_OK], counts[MHSLD_E_CORRUPT], f.flips);
    CHECK(counts[MHSLD_OK] + counts[MHSLD_E_CORRUPT] == runs);
    ct_unmap(&f.c);
    world_end(&w);
}

/* A shared extent's slot range made invalid by the co-tenant: the dead head's
 * recovery with DROP cannot leave it, and must say so rather than MHSLD_OK
 * (the head would stay a sharer for ever while recovery reported success). */
static void drop_reports_failed_leave(void)
{
    world w;
    world_make(&w, &SCEN[0]);
    mhsld_extent x = {SH_BASE + 40 * BS, 4 * BS};
    REQUIRE(mhsld_share_add(w.h0, &x, TAG, NULL) == MHSLD_OK);
    mhsld_shared_info si;
    size_t n = 0, total = 0;
    REQUIRE(mhsld_shared_list(w.st, &si, 1, &n, &total) == MHSLD_OK && n == 1);
    cotenant c = {.head = 0};
    ct_map(&c, w.path);
    mhsld__slot *sl = tu_map_slots(&c.m);
    tu_w64(&sl[si.slot].count, 0);
    mhsld_detach(w.h0);
    w.h0 = tu_attach(w.st, 2); /* world_end detaches it */
    mhsld_recover_report rep;
    mhsld_status s = mhsld_recover(w.st, 0, MHSLD_RECOVER_DROP, &rep);
    printf("  recover(DROP) of a sharer whose slot range was damaged: %s\n", mhsld_status_name(s));
    CHECK_ST(s, MHSLD_E_CORRUPT);
    ct_unmap(&c);
    world_end(&w);
}

/* A co-tenant rolls the head's last sequence back between two calls (and
 * during one): the handle draws from its private copy, so no sequence --
 * reservation id, block stamp -- is used twice. */
static void seq_rollback(void)
{
    world w;
    world_make(&w, &SCEN[0]);
    cotenant c = {.head = 0};
    ct_map(&c, w.path);
    mhsld__headrec *hr = tu_map_head(&c.m, 0);
    mhsld_extent e1 = {60 * BS, BS}, e2 = {70 * BS, BS};
    uint64_t g1 = 0, g2 = 0;
    CHECK_OK(mhsld_reserve(w.h0, &e1, 1, &g1, NULL));
    tu_w64(&hr->seq, 0);
    CHECK_OK(mhsld_reserve(w.h0, &e2, 1, &g2, NULL));
    printf("  sequence rolled back to 0 by a co-tenant: reservations %llu then %llu\n",
           (unsigned long long)g1, (unsigned long long)g2);
    CHECK(g2 > g1);
    CHECK_OK(mhsld_commit(w.h0, g1, &e1, 1));
    CHECK_OK(mhsld_commit(w.h0, g2, &e2, 1));
    CHECK_VALID(w.st);
    ct_unmap(&c);
    world_end(&w);
}

/* argv[1], optional: run one part only (live, tables, recovery, validate, leave, seq). */
int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : "";
    signal(SIGPIPE, SIG_IGN);
    for (size_t i = 0; i < NSCEN; i++) {
        if (!*only || !strcmp(only, "live"))
            live_journal_overwritten(&SCEN[i]);
        if (!*only || !strcmp(only, "tables"))
            live_tables_overwritten(&SCEN[i]);
        if (!*only || !strcmp(only, "recovery"))
            recovery_journal_overwritten(&SCEN[i]);
    }
    if (!*only || !strcmp(only, "validate"))
        validate_races_writer();
    if (!*only || !strcmp(only, "leave"))
        drop_reports_failed_leave();
    if (!*only || !strcmp(only, "seq"))
        seq_rollback();
    return tu_report("test_cotenant_calls");
}
