/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mhsld_bench: the engine against the two designs a user would otherwise
 * pick (bench/base_rfc.c, bench/base_mutex.c), measured in the same run.
 *
 * Groups (see usage()):
 *   claim    claim+release of one extent of N blocks, one process, uncontended
 *            (engine: mhsld_claim, free -> OWNED in one operation, then
 *            mhsld_release: what the baselines do); then, engine only, the
 *            two-step path of a Dynamic Capacity offer and its acceptance,
 *            mhsld_reserve + mhsld_commit of everything + mhsld_release, in
 *            rows of their own (group "dcd") so that no one reads the
 *            claim's figures for it
 *   access   access check of 8 bytes inside one block, and of a whole extent
 *   mp       two forked processes on one state, random extents (engine:
 *            mhsld_claim, mhsld_release), then a final
 *            invariant check of every block against what each process says it
 *            holds
 *   device   claim+release of 8 blocks on a small and on a 1 TiB device
 *            (engine: mhsld_claim + mhsld_release)
 *   open     create, open, open+validate, attach of a 1 TiB device; state size
 *            in bytes and per block
 *   recover  a head SIGKILLed in the middle of a 4096-block claim, then the
 *            time to give its blocks back (engine: mhsld_recover; the
 *            crash point halfway through mhsld_claim needs libmhsld_testing,
 *            so that row comes from the helper program mhsld_bench_crash);
 *            engine only, the same halfway through mhsld_reserve (DCD path)
 *            and right after a completed reserve
 *
 * Every figure is the median of several repetitions with min and max.  The
 * clock is CLOCK_MONOTONIC; nothing is pinned.  All three designs are called
 * through out-of-line functions of other translation units (no LTO), so no
 * design gains from inlining into the benchmark loop -- except the row
 * "access check 8 B in one block, engine inline", which measures the
 * engine's header fast path mhsld_access_ok_fast() (baselines still out of
 * line) because that is what a caller of the header gets.
 */
#define _GNU_SOURCE 1

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base_mutex.h"
#include "base_rfc.h"
#include "bench_util.h"
#include "mhsld/mhsld.h"
#include "report.h"

#define BS MHSLD_MIN_BLOCK_SIZE /* 2 MiB blocks throughout */
#define BIG_BLOCKS 524288u      /* 1 TiB at 2 MiB */
#define MP_WINDOW 4u            /* extents a worker holds before releasing the oldest */
#define HOT_DEV_BLOCKS 8192u
#define HOT_FIRST 64u
#define REC_DEV_BLOCKS 32768u
#define REC_FIRST 1024u
#define REC_N 4096u

typedef struct cfg {
    bool quick;
    unsigned reps; /* hot measurements */
    uint64_t rep_ns;
    unsigned mp_reps;
    uint64_t mp_ns;
    unsigned open_reps;
    unsigned rec_reps;
    const char *csv;
    const char *md;
    const char *crash_helper;
    const char *only; /* comma list of groups, NULL = all */
    bool design_on[D_COUNT];
} cfg;

static report g_report;
static const char *const dname[D_COUNT] = {"engine", "rfc", "mutex"};

/* Is `name` an element of the comma list p? */
static bool list_has(const char *p, const char *name)
{
    size_t gl = strlen(name);

    while (*p) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == gl && strncmp(p, name, l) == 0)
            return true;
        if (!e)
            break;
        p = e + 1;
    }
    return false;
}

static bool want(const cfg *c, const char *group)
{
    return c->only == NULL || list_has(c->only, group);
}

/* ---- the engine, seen as the benchmarks use it ------------------------ */

typedef struct eng_dev {
    char path[128];
    mhsld_geometry g;
    mhsld_state *st;
    uint64_t nblocks;
} eng_dev;

static void eng_geometry(mhsld_geometry *g, uint64_t nblocks)
{
    memset(g, 0, sizeof(*g));
    mhsld_geometry_init(g, 2, BS, 0, nblocks * BS);
}

static mhsld_status eng_open_path(const char *path, uint32_t mode, const mhsld_geometry *g,
                                  mhsld_state **out)
{
    mhsld_open_opts o;
    memset(&o, 0, sizeof(o));
    o.size = (uint32_t)sizeof(o);
    o.mode = mode;
    o.path = path;
    o.geometry = g;
    return mhsld_open(&o, out);
}

static void eng_create(eng_dev *e, const char *tag, uint64_t nblocks)
{
    mhsld_status s;

    bench_state_path(e->path, sizeof(e->path), tag);
    (void)unlink(e->path);
    e->nblocks = nblocks;
    eng_geometry(&e->g, nblocks);
    s = eng_open_path(e->path, MHSLD_OPEN_CREATE, &e->g, &e->st);
    if (s != MHSLD_OK)
        bench_die("engine: create %s (%llu blocks): %s (errno %d)", e->path,
                  (unsigned long long)nblocks, mhsld_strerror(s), mhsld_last_errno());
}

static void eng_close_keep(eng_dev *e)
{
    mhsld_close(e->st);
    e->st = NULL;
}

static void eng_reopen(eng_dev *e)
{
    mhsld_status s = eng_open_path(e->path, MHSLD_OPEN_EXISTING, NULL, &e->st);
    if (s != MHSLD_OK)
        bench_die("engine: reopen %s: %s", e->path, mhsld_strerror(s));
}

static void eng_destroy(eng_dev *e)
{
    mhsld_close(e->st);
    e->st = NULL;
    (void)mhsld_destroy(e->path, true);
    (void)unlink(e->path);
}

static mhsld_head *eng_attach(mhsld_state *st, uint32_t head)
{
    mhsld_head *h = NULL;
    mhsld_status s = mhsld_attach(st, head, MHSLD_ATTACH_DROP, &h);
    if (s != MHSLD_OK)
        bench_die("engine: attach head %u: %s", head, mhsld_strerror(s));
    return h;
}

/* One claim as the baselines make it: free -> OWNED in one call. */
static mhsld_status eng_claim(mhsld_head *h, uint64_t first, uint64_t n)
{
    mhsld_extent x = {first * BS, n * BS};
    mhsld_conflict c;
    return mhsld_claim(h, &x, 1, &c);
}

/* The two-step path of a Dynamic Capacity offer: reserve (PENDING), then
 * commit of everything (the host accepts the whole offer).  Engine-only
 * rows; no baseline has a pending stage. */
static mhsld_status eng_reserve_commit(mhsld_head *h, uint64_t first, uint64_t n)
{
    mhsld_extent x = {first * BS, n * BS};
    mhsld_conflict c;
    uint64_t group = 0;
    mhsld_status s = mhsld_reserve(h, &x, 1, &group, &c);
    if (s != MHSLD_OK)
        return s;
    return mhsld_commit(h, group, &x, 1);
}

static mhsld_status eng_release(mhsld_head *h, uint64_t first, uint64_t n)
{
    mhsld_extent x = {first * BS, n * BS};
    mhsld_conflict c;
    return mhsld_release(h, &x, 1, &c);
}

/* ---- hot loops (one batch = iters operations) ------------------------ */

typedef struct hot {
    mhsld_head *h;
    rfc_state *r;
    mtx_state *m;
    uint64_t first, n; /* claim+release */
    uint64_t dpa, len; /* access */
} hot;

static void eng_cr_batch(void *p, uint64_t iters)
{
    hot *c = p;
    for (uint64_t i = 0; i < iters; i++) {
        mhsld_status s = eng_claim(c->h, c->first, c->n);
        if (s == MHSLD_OK)
            s = eng_release(c->h, c->first, c->n);
        if (s != MHSLD_OK)
            bench_die("engine claim+release of %llu blocks: %s", (unsigned long long)c->n,
                      mhsld_strerror(s));
    }
}

static void eng_dcd_batch(void *p, uint64_t iters)
{
    hot *c = p;
    for (uint64_t i = 0; i < iters; i++) {
        mhsld_status s = eng_reserve_commit(c->h, c->first, c->n);
        if (s == MHSLD_OK)
            s = eng_release(c->h, c->first, c->n);
        if (s != MHSLD_OK)
            bench_die("engine reserve+commit+release of %llu blocks: %s", (unsigned long long)c->n,
                      mhsld_strerror(s));
    }
}

static void rfc_cr_batch(void *p, uint64_t iters)
{
    hot *c = p;
    for (uint64_t i = 0; i < iters; i++) {
        if (rfc_claim(c->r, 0, c->first, c->n) != 0 || rfc_release(c->r, 0, c->first, c->n) != 0)
            bench_die("rfc claim+release of %llu blocks failed", (unsigned long long)c->n);
    }
}

static void mtx_cr_batch(void *p, uint64_t iters)
{
    hot *c = p;
    for (uint64_t i = 0; i < iters; i++) {
        if (mtx_claim(c->m, 0, c->first, c->n) != 0 || mtx_release(c->m, 0, c->first, c->n) != 0)
            bench_die("mutex claim+release of %llu blocks failed", (unsigned long long)c->n);
    }
}

static void eng_acc_batch(void *p, uint64_t iters)
{
    hot *c = p;
    uint64_t bad = 0;
    for (uint64_t i = 0; i < iters; i++)
        bad += !mhsld_access_ok(c->h, c->dpa, c->len);
    if (bad)
        bench_die("engine access check denied an owned range");
}

/* The header's inlined fast path (mhsld_access_ok_fast): what a caller that
 * includes mhsld.h gets; the one engine figure here that is not out of line. */
static void eng_acc_inline_batch(void *p, uint64_t iters)
{
    hot *c = p;
    uint64_t bad = 0;
    for (uint64_t i = 0; i < iters; i++)
        bad += !mhsld_access_ok_fast(c->h, c->dpa, c->len);
    if (bad)
        bench_die("engine inline access check denied an owned range");
}

static void rfc_acc_batch(void *p, uint64_t iters)
{
    hot *c = p;
    uint64_t bad = 0;
    for (uint64_t i = 0; i < iters; i++)
        bad += !rfc_access_ok(c->r, 0, c->dpa, c->len);
    if (bad)
        bench_die("rfc access check denied an owned range");
}

static void mtx_acc_batch(void *p, uint64_t iters)
{
    hot *c = p;
    uint64_t bad = 0;
    for (uint64_t i = 0; i < iters; i++)
        bad += !mtx_access_ok(c->m, 0, c->dpa, c->len);
    if (bad)
        bench_die("mutex access check denied an owned range");
}

typedef struct three {
    eng_dev e;
    mhsld_head *h;
    char rpath[128], mpath[128];
    rfc_state *r;
    mtx_state *m;
} three;

static void three_create(three *t, const char *tag, uint64_t nblocks)
{
    char tg[64];

    eng_create(&t->e, tag, nblocks);
    t->h = eng_attach(t->e.st, 0);
    snprintf(tg, sizeof(tg), "%s-rfc", tag);
    bench_state_path(t->rpath, sizeof(t->rpath), tg);
    snprintf(tg, sizeof(tg), "%s-mtx", tag);
    bench_state_path(t->mpath, sizeof(t->mpath), tg);
    t->r = rfc_create(t->rpath, nblocks, BS);
    t->m = mtx_create(t->mpath, nblocks, BS);
    if (!t->r || !t->m)
        bench_die("baseline create (%llu blocks): %s", (unsigned long long)nblocks,
                  strerror(errno));
}

static void three_destroy(three *t)
{
    mhsld_detach(t->h);
    t->h = NULL;
    eng_destroy(&t->e);
    rfc_close(t->r);
    mtx_close(t->m);
    t->r = NULL;
    t->m = NULL;
    (void)unlink(t->rpath);
    (void)unlink(t->mpath);
}

/* The three designs' repetitions are interleaved (engine, rfc, mutex,
 * engine, ...) so that a burst of load from other processes on this shared
 * machine hits all of them alike and the same-run ratios stay fair. */
static void time_three(const cfg *c, row *w, hot *ctx, bench_batch_fn fe, bench_batch_fn fr,
                       bench_batch_fn fm)
{
    bench_batch_fn fn[D_COUNT] = {fe, fr, fm};
    uint64_t iters[D_COUNT] = {0, 0, 0};
    double v[D_COUNT][BENCH_MAX_REPS];

    for (int d = 0; d < D_COUNT; d++) {
        if (c->design_on[d])
            iters[d] = bench_calibrate(fn[d], ctx, c->rep_ns);
    }
    for (unsigned r = 0; r < c->reps; r++) {
        for (int d = 0; d < D_COUNT; d++) {
            if (c->design_on[d])
                v[d][r] = bench_run_batch(fn[d], ctx, iters[d]);
        }
    }
    for (int d = 0; d < D_COUNT; d++) {
        if (c->design_on[d])
            w->d[d] = bench_stat_of(v[d], c->reps);
    }
}

static bench_stat stat_div(bench_stat s, double k)
{
    if (s.valid) {
        s.med /= k;
        s.min /= k;
        s.max /= k;
    }
    return s;
}

static const uint64_t sizes[] = {1, 8, 64, 512, 4096};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

static void bench_claim(const cfg *c)
{
    three t;
    hot ctx;

    fprintf(stderr, "claim: mhsld_claim+mhsld_release of one extent, uncontended; then the "
                    "engine's reserve+commit+release (DCD path)\n");
    three_create(&t, "claim", HOT_DEV_BLOCKS);
    memset(&ctx, 0, sizeof(ctx));
    ctx.h = t.h;
    ctx.r = t.r;
    ctx.m = t.m;
    for (size_t i = 0; i < NSIZES; i++) {
        char key[40];
        row *op, *blk;

        ctx.first = HOT_FIRST;
        ctx.n = sizes[i];
        snprintf(key, sizeof(key), "claim/op/%llu", (unsigned long long)sizes[i]);
        op = report_add(&g_report, key, "claim", "ns/op", ROW_LOWER_BETTER, "claim+release N=%llu",
                        (unsigned long long)sizes[i]);
        op->n = sizes[i];
        op->dev = HOT_DEV_BLOCKS;
        time_three(c, op, &ctx, eng_cr_batch, rfc_cr_batch, mtx_cr_batch);
        snprintf(key, sizeof(key), "claim/blk/%llu", (unsigned long long)sizes[i]);
        blk = report_add(&g_report, key, "claim", "ns/block", ROW_LOWER_BETTER,
                         "claim+release N=%llu per block", (unsigned long long)sizes[i]);
        blk->n = sizes[i];
        blk->dev = HOT_DEV_BLOCKS;
        for (int d = 0; d < D_COUNT; d++)
            blk->d[d] = stat_div(op->d[d], (double)sizes[i]);
    }
    if (c->design_on[D_ENG]) {
        /* The engine's two-step path, alone: not a claim row (the baselines
         * have no pending stage), and never in a target. */
        static const uint64_t dcd_sizes[] = {1, 64, 4096};
        cfg ce = *c;

        ce.design_on[D_RFC] = ce.design_on[D_MTX] = false;
        for (size_t i = 0; i < sizeof(dcd_sizes) / sizeof(dcd_sizes[0]); i++) {
            char key[40];
            row *op;

            ctx.first = HOT_FIRST;
            ctx.n = dcd_sizes[i];
            snprintf(key, sizeof(key), "dcd/op/%llu", (unsigned long long)dcd_sizes[i]);
            op = report_add(&g_report, key, "dcd", "ns/op", ROW_NO_RATIO,
                            "reserve+commit+release N=%llu (DCD offer/accept path)",
                            (unsigned long long)dcd_sizes[i]);
            op->n = dcd_sizes[i];
            op->dev = HOT_DEV_BLOCKS;
            time_three(&ce, op, &ctx, eng_dcd_batch, NULL, NULL);
        }
    }
    three_destroy(&t);
}

static void hold_three(three *t, uint64_t first, uint64_t n)
{
    mhsld_status s = eng_claim(t->h, first, n);
    if (s != MHSLD_OK)
        bench_die("engine claim of %llu blocks: %s", (unsigned long long)n, mhsld_strerror(s));
    if (rfc_claim(t->r, 0, first, n) != 0 || mtx_claim(t->m, 0, first, n) != 0)
        bench_die("baseline claim of %llu blocks failed", (unsigned long long)n);
}

static void drop_three(three *t, uint64_t first, uint64_t n)
{
    mhsld_status s = eng_release(t->h, first, n);
    if (s != MHSLD_OK)
        bench_die("engine release of %llu blocks: %s", (unsigned long long)n, mhsld_strerror(s));
    if (rfc_release(t->r, 0, first, n) != 0 || mtx_release(t->m, 0, first, n) != 0)
        bench_die("baseline release of %llu blocks failed", (unsigned long long)n);
}

static void bench_access(const cfg *c)
{
    three t;
    hot ctx;
    row *w;

    fprintf(stderr, "access: access checks, hot\n");
    three_create(&t, "access", HOT_DEV_BLOCKS);
    memset(&ctx, 0, sizeof(ctx));
    ctx.h = t.h;
    ctx.r = t.r;
    ctx.m = t.m;

    /* 8 bytes in the middle block of a held 64-block extent. */
    hold_three(&t, HOT_FIRST, 64);
    ctx.dpa = (HOT_FIRST + 32u) * BS + 4096u;
    ctx.len = 8;
    w = report_add(&g_report, "access/8B", "access", "ns/op", ROW_LOWER_BETTER,
                   "access check 8 B inside one block");
    w->n = 1;
    time_three(c, w, &ctx, eng_acc_batch, rfc_acc_batch, mtx_acc_batch);
    w = report_add(&g_report, "access/8B-inline", "access", "ns/op", ROW_LOWER_BETTER,
                   "access check 8 B in one block, engine inline");
    w->n = 1;
    time_three(c, w, &ctx, eng_acc_inline_batch, rfc_acc_batch, mtx_acc_batch);
    /* The same, straddling two blocks of the extent (exact at block edges). */
    ctx.dpa = (HOT_FIRST + 33u) * BS - 4u;
    w = report_add(&g_report, "access/8B-edge", "access", "ns/op", ROW_LOWER_BETTER,
                   "access check 8 B across a block edge");
    w->n = 2;
    time_three(c, w, &ctx, eng_acc_batch, rfc_acc_batch, mtx_acc_batch);
    drop_three(&t, HOT_FIRST, 64);

    for (size_t i = 0; i < NSIZES; i++) {
        char key[40];

        hold_three(&t, HOT_FIRST, sizes[i]);
        ctx.dpa = HOT_FIRST * BS;
        ctx.len = sizes[i] * BS;
        snprintf(key, sizeof(key), "access/ext/%llu", (unsigned long long)sizes[i]);
        w = report_add(&g_report, key, "access", "ns/op", ROW_LOWER_BETTER,
                       "access check of a whole extent N=%llu", (unsigned long long)sizes[i]);
        w->n = sizes[i];
        time_three(c, w, &ctx, eng_acc_batch, rfc_acc_batch, mtx_acc_batch);
        drop_three(&t, HOT_FIRST, sizes[i]);
    }
    three_destroy(&t);
}

/* ---- device size: the cost follows the extent, not the device ---------- */

static void bench_device(const cfg *c)
{
    static const struct {
        const char *key;
        uint64_t dev;
    } devs[] = {{"device/small", 2048u}, {"device/large", BIG_BLOCKS}};

    fprintf(stderr, "device: claim+release of 8 blocks on a small and a 1 TiB device\n");
    for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++) {
        three t;
        hot ctx;
        row *w;

        three_create(&t, "device", devs[i].dev);
        memset(&ctx, 0, sizeof(ctx));
        ctx.h = t.h;
        ctx.r = t.r;
        ctx.m = t.m;
        ctx.first = devs[i].dev / 2u;
        ctx.n = 8;
        w = report_add(&g_report, devs[i].key, "device", "ns/op", ROW_LOWER_BETTER,
                       "claim+release N=8 on a %llu-block device", (unsigned long long)devs[i].dev);
        w->n = 8;
        w->dev = devs[i].dev;
        time_three(c, w, &ctx, eng_cr_batch, rfc_cr_batch, mtx_cr_batch);
        three_destroy(&t);
    }
}

/* ---- two processes on one state -------------------------------------- */

typedef struct mp_res {
    uint64_t claims, conflicts, releases, errors;
    uint64_t elapsed_ns;
    uint32_t nheld;
    uint32_t pad;
    uint64_t held_first[MP_WINDOW];
    uint64_t held_n[MP_WINDOW];
    char err[128];
} mp_res;

typedef struct mp_params {
    uint64_t dev;
    uint64_t range;
    uint64_t ns;
    uint64_t seed;
} mp_params;

/* 0 claimed, 1 conflict, -1 error (err filled). */
typedef int (*mp_claim_fn)(void *h, unsigned head, uint64_t first, uint64_t n, mp_res *res);
typedef int (*mp_release_fn)(void *h, unsigned head, uint64_t first, uint64_t n, mp_res *res);

static int mp_eng_claim(void *h, unsigned head, uint64_t first, uint64_t n, mp_res *res)
{
    mhsld_status s;

    (void)head;
    s = eng_claim(h, first, n);
    if (s == MHSLD_E_CONFLICT)
        return 1;
    if (s == MHSLD_OK)
        return 0;
    snprintf(res->err, sizeof(res->err), "engine claim [%llu,+%llu): %s", (unsigned long long)first,
             (unsigned long long)n, mhsld_status_name(s));
    return -1;
}

static int mp_eng_release(void *h, unsigned head, uint64_t first, uint64_t n, mp_res *res)
{
    mhsld_status s;

    (void)head;
    s = eng_release(h, first, n);
    if (s == MHSLD_OK)
        return 0;
    snprintf(res->err, sizeof(res->err), "engine release [%llu,+%llu): %s",
             (unsigned long long)first, (unsigned long long)n, mhsld_status_name(s));
    return -1;
}

static int mp_rfc_claim(void *h, unsigned head, uint64_t first, uint64_t n, mp_res *res)
{
    int r = rfc_claim(h, head, first, n);
    if (r < 0)
        snprintf(res->err, sizeof(res->err), "rfc claim failed");
    return r;
}

static int mp_rfc_release(void *h, unsigned head, uint64_t first, uint64_t n, mp_res *res)
{
    int r = rfc_release(h, head, first, n);
    if (r != 0)
        snprintf(res->err, sizeof(res->err), "rfc release failed");
    return r == 0 ? 0 : -1;
}

static int mp_mtx_claim(void *h, unsigned head, uint64_t first, uint64_t n, mp_res *res)
{
    int r = mtx_claim(h, head, first, n);
    if (r < 0)
        snprintf(res->err, sizeof(res->err), "mutex claim failed");
    return r;
}

static int mp_mtx_release(void *h, unsigned head, uint64_t first, uint64_t n, mp_res *res)
{
    int r = mtx_release(h, head, first, n);
    if (r != 0)
        snprintf(res->err, sizeof(res->err), "mutex release: %s", r > 0 ? "not owner" : "failed");
    return r == 0 ? 0 : -1;
}

static void mp_loop(void *h, unsigned head, mp_claim_fn cl, mp_release_fn rl, const mp_params *p,
                    mp_res *res)
{
    bench_rng rng;
    uint64_t t0, deadline, it = 0;
    uint64_t ring_first[MP_WINDOW], ring_n[MP_WINDOW];
    unsigned oldest = 0, nheld = 0;

    bench_rng_seed(&rng, p->seed ^ (0x9E3779B97F4A7C15ull * (head + 1u)));
    t0 = bench_now_ns();
    deadline = t0 + p->ns;
    for (;;) {
        uint64_t len, first;
        int r;

        if ((it++ & 15u) == 0 && bench_now_ns() >= deadline)
            break;
        if (nheld == MP_WINDOW) {
            if (rl(h, head, ring_first[oldest], ring_n[oldest], res) != 0) {
                res->errors++;
                break;
            }
            res->releases++;
            oldest = (oldest + 1u) % MP_WINDOW;
            nheld--;
        }
        len = bench_rng_range(&rng, 1, p->range);
        first = bench_rng_range(&rng, 0, p->dev - len);
        r = cl(h, head, first, len, res);
        if (r == 0) {
            unsigned slot = (oldest + nheld) % MP_WINDOW;
            ring_first[slot] = first;
            ring_n[slot] = len;
            nheld++;
            res->claims++;
        } else if (r == 1) {
            res->conflicts++;
        } else {
            res->errors++;
            break;
        }
    }
    res->elapsed_ns = bench_now_ns() - t0;
    res->nheld = nheld;
    for (unsigned i = 0; i < nheld; i++) {
        unsigned slot = (oldest + i) % MP_WINDOW;
        res->held_first[i] = ring_first[slot];
        res->held_n[i] = ring_n[slot];
    }
}

static void mp_child(int design, const char *path, unsigned head, const mp_params *p, mp_res *res,
                     bench_gate *g)
{
    /* Runs in the forked child; never returns. */
    if (design == D_ENG) {
        mhsld_state *st = NULL;
        mhsld_head *h = NULL;
        mhsld_status s = eng_open_path(path, MHSLD_OPEN_EXISTING, NULL, &st);
        if (s == MHSLD_OK)
            s = mhsld_attach(st, head, MHSLD_ATTACH_DROP, &h);
        if (s != MHSLD_OK) {
            snprintf(res->err, sizeof(res->err), "engine open/attach: %s", mhsld_status_name(s));
            bench_gate_worker_wait(g);
            _exit(1);
        }
        bench_gate_worker_wait(g);
        mp_loop(h, head, mp_eng_claim, mp_eng_release, p, res);
        mhsld_detach(h);
        mhsld_close(st);
    } else if (design == D_RFC) {
        rfc_state *r = rfc_open(path);
        bench_gate_worker_wait(g);
        if (!r) {
            snprintf(res->err, sizeof(res->err), "rfc open failed");
            _exit(1);
        }
        mp_loop(r, head, mp_rfc_claim, mp_rfc_release, p, res);
        rfc_close(r);
    } else {
        mtx_state *m = mtx_open(path);
        bench_gate_worker_wait(g);
        if (!m) {
            snprintf(res->err, sizeof(res->err), "mutex open failed");
            _exit(1);
        }
        mp_loop(m, head, mp_mtx_claim, mp_mtx_release, p, res);
        mtx_close(m);
    }
    _exit(res->errors ? 1 : 0);
}

/* Expected owner of every block (0 free, head + 1) from the workers' records.
 * Fails if two records overlap: that would be double ownership. */
static bool mp_expected(uint8_t *exp, uint64_t dev, const mp_res *res, unsigned nworkers, char *msg,
                        size_t cap)
{
    memset(exp, 0, (size_t)dev);
    for (unsigned w = 0; w < nworkers; w++) {
        if (res[w].nheld > MP_WINDOW || res[w].claims - res[w].releases != res[w].nheld) {
            snprintf(msg, cap, "worker %u: %llu claims - %llu releases != %u held", w,
                     (unsigned long long)res[w].claims, (unsigned long long)res[w].releases,
                     res[w].nheld);
            return false;
        }
        for (unsigned i = 0; i < res[w].nheld; i++) {
            uint64_t f = res[w].held_first[i], n = res[w].held_n[i];
            if (n == 0 || f >= dev || n > dev - f) {
                snprintf(msg, cap, "worker %u: held extent out of range", w);
                return false;
            }
            for (uint64_t b = f; b < f + n; b++) {
                if (exp[b] != 0) {
                    snprintf(msg, cap, "block %llu held by head %u and head %u",
                             (unsigned long long)b, exp[b] - 1u, w);
                    return false;
                }
                exp[b] = (uint8_t)(w + 1u);
            }
        }
    }
    return true;
}

static bool mp_check(int design, const char *path, uint64_t dev, const mp_res *res,
                     unsigned nworkers, char *msg, size_t cap)
{
    uint8_t *exp = malloc((size_t)dev);
    bool ok = true;

    if (!exp)
        bench_die("out of memory");
    if (!mp_expected(exp, dev, res, nworkers, msg, cap)) {
        free(exp);
        return false;
    }
    if (design == D_ENG) {
        mhsld_state *st = NULL;
        mhsld_status s = eng_open_path(path, MHSLD_OPEN_EXISTING, NULL, &st);
        char vmsg[200] = "";
        uint64_t owned[2] = {0, 0};

        if (s != MHSLD_OK) {
            snprintf(msg, cap, "engine reopen: %s", mhsld_status_name(s));
            free(exp);
            return false;
        }
        s = mhsld_validate(st, vmsg, sizeof(vmsg));
        if (s != MHSLD_OK) {
            snprintf(msg, cap, "mhsld_validate: %s: %s", mhsld_status_name(s), vmsg);
            ok = false;
        }
        for (uint64_t b = 0; ok && b < dev; b++) {
            mhsld_block_info bi;
            s = mhsld_block_info_get(st, b, &bi);
            if (s != MHSLD_OK) {
                snprintf(msg, cap, "block %llu info: %s", (unsigned long long)b,
                         mhsld_status_name(s));
                ok = false;
            } else if (exp[b] == 0 && bi.state != MHSLD_BLOCK_FREE) {
                snprintf(msg, cap, "block %llu should be free: state %u owner %u",
                         (unsigned long long)b, bi.state, bi.owner);
                ok = false;
            } else if (exp[b] != 0 && (bi.state != MHSLD_BLOCK_OWNED || bi.owner != exp[b] - 1u)) {
                snprintf(msg, cap, "block %llu should be owned by head %u: state %u owner %u",
                         (unsigned long long)b, exp[b] - 1u, bi.state, bi.owner);
                ok = false;
            } else if (exp[b] != 0) {
                owned[exp[b] - 1u]++;
            }
        }
        for (uint32_t hd = 0; ok && hd < 2u; hd++) {
            mhsld_head_info hi;
            memset(&hi, 0, sizeof(hi));
            s = mhsld_head_info_get(st, hd, &hi);
            if (s != MHSLD_OK || hi.owned_blocks != owned[hd] || hi.pending_blocks != 0 ||
                hi.inflight_op != 0) {
                snprintf(msg, cap, "head %u info: %s owned %llu (blocks say %llu) pending %llu", hd,
                         mhsld_status_name(s), (unsigned long long)hi.owned_blocks,
                         (unsigned long long)owned[hd], (unsigned long long)hi.pending_blocks);
                ok = false;
            }
        }
        mhsld_close(st);
    } else if (design == D_RFC) {
        rfc_state *r = rfc_open(path);
        if (!r) {
            snprintf(msg, cap, "rfc reopen failed");
            ok = false;
        }
        for (uint64_t b = 0; ok && b < dev; b++) {
            uint8_t want_mask = (uint8_t)(exp[b] ? 1u << (exp[b] - 1u) : 0u);
            uint8_t got = rfc_mask(r, b);
            if (got != want_mask) {
                snprintf(msg, cap, "block %llu: mask %02x, expected %02x", (unsigned long long)b,
                         got, want_mask);
                ok = false;
            }
        }
        rfc_close(r);
    } else {
        mtx_state *m = mtx_open(path);
        if (!m) {
            snprintf(msg, cap, "mutex reopen failed");
            ok = false;
        } else if (mtx_owner_dead_seen(m) != 0) {
            snprintf(msg, cap, "mutex: a holder died");
            ok = false;
        }
        for (uint64_t b = 0; ok && b < dev; b++) {
            uint8_t got = mtx_owner(m, b);
            if (got != exp[b]) {
                snprintf(msg, cap, "block %llu: owner byte %u, expected %u", (unsigned long long)b,
                         got, exp[b]);
                ok = false;
            }
        }
        mtx_close(m);
    }
    free(exp);
    return ok;
}

/* One repetition: returns false (and notes why) on any failure. */
static bool mp_rep(int design, const mp_params *p, unsigned rep, double *claims_s,
                   double *conflicts_s)
{
    char path[128], tag[48], msg[200] = "";
    mp_res *res;
    bench_gate g;
    pid_t pid[2];
    bool ok = true;
    eng_dev e;

    snprintf(tag, sizeof(tag), "mp-%s-%u", dname[design], rep);
    if (design == D_ENG) {
        eng_create(&e, tag, p->dev);
        eng_close_keep(&e);
        snprintf(path, sizeof(path), "%s", e.path);
    } else {
        bench_state_path(path, sizeof(path), tag);
        if (design == D_RFC) {
            rfc_state *r = rfc_create(path, p->dev, BS);
            if (!r)
                bench_die("rfc create: %s", strerror(errno));
            rfc_close(r);
        } else {
            mtx_state *m = mtx_create(path, p->dev, BS);
            if (!m)
                bench_die("mutex create: %s", strerror(errno));
            mtx_close(m);
        }
    }
    res = bench_shared_alloc(2u * sizeof(mp_res));
    bench_gate_init(&g);
    for (unsigned w = 0; w < 2u; w++) {
        fflush(NULL);
        pid[w] = fork();
        if (pid[w] < 0)
            bench_die("fork: %s", strerror(errno));
        if (pid[w] == 0)
            mp_child(design, path, w, p, &res[w], &g);
    }
    bench_gate_open(&g, 2);
    bench_gate_close(&g);
    for (unsigned w = 0; w < 2u; w++) {
        int raw = 0;
        if (!bench_wait_ok(pid[w], &raw)) {
            snprintf(msg, sizeof(msg), "worker %u exited with status 0x%x: %s", w, (unsigned)raw,
                     res[w].err[0] ? res[w].err : "(no message)");
            ok = false;
        }
    }
    *claims_s = 0.0;
    *conflicts_s = 0.0;
    for (unsigned w = 0; w < 2u; w++) {
        if (res[w].elapsed_ns == 0)
            continue;
        *claims_s += (double)res[w].claims * 1e9 / (double)res[w].elapsed_ns;
        *conflicts_s += (double)res[w].conflicts * 1e9 / (double)res[w].elapsed_ns;
    }
    if (ok)
        ok = mp_check(design, path, p->dev, res, 2, msg, sizeof(msg));
    if (!ok)
        report_note(&g_report, false, "2 procs %s dev %llu extents 1-%llu rep %u: %s",
                    dname[design], (unsigned long long)p->dev, (unsigned long long)p->range, rep,
                    msg);
    bench_shared_free(res, 2u * sizeof(mp_res));
    if (design == D_ENG)
        (void)mhsld_destroy(path, true);
    (void)unlink(path);
    return ok;
}

static void bench_mp(const cfg *c)
{
    /* The same rows by key in bench/report.c's targets (issue 15). */
    static const uint64_t devs[] = {2048u, 32768u};
    static const uint64_t ranges[] = {16u, 512u};

    fprintf(stderr, "mp: two processes, random extents, %u-extent window each\n", MP_WINDOW);
    for (size_t di = 0; di < 2; di++) {
        for (size_t ri = 0; ri < 2; ri++) {
            char key[40];
            row *wc, *wf;
            mp_params p = {devs[di], ranges[ri], c->mp_ns, 0x5EEDull + di * 7u + ri};

            snprintf(key, sizeof(key), "mp/%llu/%llu/claims", (unsigned long long)devs[di],
                     (unsigned long long)ranges[ri]);
            wc = report_add(&g_report, key, "mp", "claims/s", ROW_HIGHER_BETTER,
                            "2 procs dev %llu extents 1-%llu: successful claims",
                            (unsigned long long)devs[di], (unsigned long long)ranges[ri]);
            snprintf(key, sizeof(key), "mp/%llu/%llu/conflicts", (unsigned long long)devs[di],
                     (unsigned long long)ranges[ri]);
            wf = report_add(&g_report, key, "mp", "confl/s", ROW_NO_RATIO,
                            "2 procs dev %llu extents 1-%llu: conflicts",
                            (unsigned long long)devs[di], (unsigned long long)ranges[ri]);
            wc->dev = wf->dev = devs[di];
            wc->range = wf->range = ranges[ri];
            {
                double vc[D_COUNT][BENCH_MAX_REPS], vf[D_COUNT][BENCH_MAX_REPS];
                unsigned n[D_COUNT] = {0, 0, 0};
                /* Interleaved across designs, like time_three(). */
                for (unsigned r = 0; r < c->mp_reps; r++) {
                    for (int d = 0; d < D_COUNT; d++) {
                        if (c->design_on[d] && mp_rep(d, &p, r, &vc[d][n[d]], &vf[d][n[d]]))
                            n[d]++;
                    }
                }
                for (int d = 0; d < D_COUNT; d++) {
                    if (!c->design_on[d])
                        continue;
                    if (n[d] == c->mp_reps) {
                        wc->d[d] = bench_stat_of(vc[d], n[d]);
                        wf->d[d] = bench_stat_of(vf[d], n[d]);
                    }
                    report_note(&g_report, n[d] == c->mp_reps,
                                "2 procs %s dev %llu extents 1-%llu: final check passed in %u of "
                                "%u repetitions (every block's owner matches what the workers "
                                "hold: none lost or double-owned)",
                                dname[d], (unsigned long long)devs[di],
                                (unsigned long long)ranges[ri], n[d], c->mp_reps);
                }
            }
        }
    }
}

/* ---- open / attach of a 1 TiB device ----------------------------------- */

static void bench_open(const cfg *c)
{
    double v_create[D_COUNT][BENCH_MAX_REPS], v_open[D_COUNT][BENCH_MAX_REPS];
    double v_val[D_COUNT][BENCH_MAX_REPS], v_att[BENCH_MAX_REPS];
    char rpath[128], mpath[128];
    eng_dev e;
    row *w;
    unsigned reps = c->open_reps;
    uint64_t sz_eng = 0, sz_rfc = 0, sz_mtx = 0;

    fprintf(stderr, "open: a 1 TiB device of 2 MiB blocks (%u blocks)\n", BIG_BLOCKS);
    bench_state_path(rpath, sizeof(rpath), "open-rfc");
    bench_state_path(mpath, sizeof(mpath), "open-mtx");
    for (unsigned r = 0; r < reps; r++) {
        uint64_t t0 = bench_now_ns(), t1;
        rfc_state *rs;
        mtx_state *ms;

        eng_create(&e, "open", BIG_BLOCKS);
        t1 = bench_now_ns();
        v_create[D_ENG][r] = (double)(t1 - t0) / 1e6;
        sz_eng = mhsld_state_size(&e.g);
        eng_close_keep(&e);

        /* The baselines are always created (and measured) here: cheap. */
        t0 = bench_now_ns();
        rs = rfc_create(rpath, BIG_BLOCKS, BS);
        t1 = bench_now_ns();
        if (!rs)
            bench_die("rfc create 1 TiB: %s", strerror(errno));
        v_create[D_RFC][r] = (double)(t1 - t0) / 1e6;
        sz_rfc = rfc_state_bytes(rs);
        rfc_close(rs);

        t0 = bench_now_ns();
        ms = mtx_create(mpath, BIG_BLOCKS, BS);
        t1 = bench_now_ns();
        if (!ms)
            bench_die("mutex create 1 TiB: %s", strerror(errno));
        v_create[D_MTX][r] = (double)(t1 - t0) / 1e6;
        sz_mtx = mtx_state_bytes(ms);
        mtx_close(ms);

        /* open alone, then open + full validation, each from a cold handle */
        {
            mhsld_state *st = NULL;
            char vmsg[200] = "";
            mhsld_status s;
            uint64_t t2;

            t0 = bench_now_ns();
            s = eng_open_path(e.path, MHSLD_OPEN_EXISTING, NULL, &st);
            t1 = bench_now_ns();
            if (s != MHSLD_OK)
                bench_die("engine open 1 TiB: %s", mhsld_strerror(s));
            mhsld_close(st);
            v_open[D_ENG][r] = (double)(t1 - t0) / 1e6;

            t0 = bench_now_ns();
            s = eng_open_path(e.path, MHSLD_OPEN_EXISTING, NULL, &st);
            if (s == MHSLD_OK)
                s = mhsld_validate(st, vmsg, sizeof(vmsg));
            t2 = bench_now_ns();
            if (s != MHSLD_OK)
                bench_die("engine open+validate 1 TiB: %s: %s", mhsld_strerror(s), vmsg);
            v_val[D_ENG][r] = (double)(t2 - t0) / 1e6;

            t0 = bench_now_ns();
            {
                mhsld_head *h = eng_attach(st, 0);
                mhsld_detach(h);
            }
            t1 = bench_now_ns();
            v_att[r] = (double)(t1 - t0) / 1e6;
            mhsld_close(st);
        }

        t0 = bench_now_ns();
        rs = rfc_open(rpath);
        t1 = bench_now_ns();
        if (!rs)
            bench_die("rfc open 1 TiB failed");
        rfc_close(rs);
        v_open[D_RFC][r] = (double)(t1 - t0) / 1e6;
        t0 = bench_now_ns();
        rs = rfc_open(rpath);
        if (!rs || rfc_validate(rs, 2) != 0)
            bench_die("rfc open+validate 1 TiB failed");
        t1 = bench_now_ns();
        rfc_close(rs);
        v_val[D_RFC][r] = (double)(t1 - t0) / 1e6;

        t0 = bench_now_ns();
        ms = mtx_open(mpath);
        t1 = bench_now_ns();
        if (!ms)
            bench_die("mutex open 1 TiB failed");
        mtx_close(ms);
        v_open[D_MTX][r] = (double)(t1 - t0) / 1e6;
        t0 = bench_now_ns();
        ms = mtx_open(mpath);
        if (!ms || mtx_validate(ms, 2) != 0)
            bench_die("mutex open+validate 1 TiB failed");
        t1 = bench_now_ns();
        mtx_close(ms);
        v_val[D_MTX][r] = (double)(t1 - t0) / 1e6;

        eng_reopen(&e);
        eng_destroy(&e);
        (void)unlink(rpath);
        (void)unlink(mpath);
    }
    w = report_add(&g_report, "open/create", "open", "ms", ROW_LOWER_BETTER,
                   "create+initialise 1 TiB (%u blocks)", BIG_BLOCKS);
    w->dev = BIG_BLOCKS;
    for (int d = 0; d < D_COUNT; d++)
        if (c->design_on[d])
            w->d[d] = bench_stat_of(v_create[d], reps);
    w = report_add(&g_report, "open/open", "open", "ms", ROW_LOWER_BETTER,
                   "open of the existing 1 TiB state");
    w->dev = BIG_BLOCKS;
    for (int d = 0; d < D_COUNT; d++)
        if (c->design_on[d])
            w->d[d] = bench_stat_of(v_open[d], reps);
    w = report_add(&g_report, "open/validate", "open", "ms", ROW_LOWER_BETTER,
                   "open + full validation of every block (1 TiB)");
    w->dev = BIG_BLOCKS;
    for (int d = 0; d < D_COUNT; d++)
        if (c->design_on[d])
            w->d[d] = bench_stat_of(v_val[d], reps);
    w = report_add(&g_report, "open/attach", "open", "ms", ROW_LOWER_BETTER,
                   "attach+detach of a head on the 1 TiB state");
    w->dev = BIG_BLOCKS;
    w->d[D_ENG] = bench_stat_of(v_att, reps);
    w = report_add(&g_report, "open/size", "open", "bytes", ROW_LOWER_BETTER,
                   "state size of the 1 TiB device");
    w->dev = BIG_BLOCKS;
    {
        double a = (double)sz_eng, b = (double)sz_rfc, m = (double)sz_mtx;
        w->d[D_ENG] = bench_stat_of(&a, 1);
        if (c->design_on[D_RFC])
            w->d[D_RFC] = bench_stat_of(&b, 1);
        if (c->design_on[D_MTX])
            w->d[D_MTX] = bench_stat_of(&m, 1);
    }
    w = report_add(&g_report, "open/size-blk", "open", "bytes/block", ROW_LOWER_BETTER,
                   "state bytes per block of the 1 TiB device");
    w->dev = BIG_BLOCKS;
    {
        double a = (double)sz_eng / BIG_BLOCKS, b = (double)sz_rfc / BIG_BLOCKS,
               m = (double)sz_mtx / BIG_BLOCKS;
        w->d[D_ENG] = bench_stat_of(&a, 1);
        if (c->design_on[D_RFC])
            w->d[D_RFC] = bench_stat_of(&b, 1);
        if (c->design_on[D_MTX])
            w->d[D_MTX] = bench_stat_of(&m, 1);
    }
}

/* ---- crash recovery ----------------------------------------------------- */

static bool killed_by_sigkill(pid_t pid)
{
    int st = 0;
    pid_t r;
    do {
        r = waitpid(pid, &st, 0);
    } while (r < 0 && errno == EINTR);
    return r == pid && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
}

/* Engine, production library: the head dies right after its reservation
 * (pending, never committed); another process recovers it. */
static bench_stat rec_engine_after_reserve(const cfg *c)
{
    double v[BENCH_MAX_REPS];
    unsigned n = 0;

    for (unsigned r = 0; r < c->rec_reps; r++) {
        eng_dev e;
        pid_t pid;
        mhsld_recover_report rep;
        mhsld_status s;
        char vmsg[200] = "";
        uint64_t t0, t1;
        bool ok = true;

        eng_create(&e, "rec-eng", REC_DEV_BLOCKS);
        eng_close_keep(&e);
        fflush(NULL);
        pid = fork();
        if (pid < 0)
            bench_die("fork: %s", strerror(errno));
        if (pid == 0) {
            mhsld_state *st = NULL;
            mhsld_head *h = NULL;
            mhsld_extent x = {REC_FIRST * BS, (uint64_t)REC_N * BS};
            mhsld_conflict cf;
            uint64_t group;
            if (eng_open_path(e.path, MHSLD_OPEN_EXISTING, NULL, &st) != MHSLD_OK ||
                mhsld_attach(st, 1, MHSLD_ATTACH_DROP, &h) != MHSLD_OK ||
                mhsld_reserve(h, &x, 1, &group, &cf) != MHSLD_OK)
                _exit(1);
            raise(SIGKILL);
            _exit(1);
        }
        if (!killed_by_sigkill(pid)) {
            report_note(&g_report, false,
                        "recover engine after reserve: child did not die by "
                        "SIGKILL after reserving");
            ok = false;
        }
        eng_reopen(&e);
        memset(&rep, 0, sizeof(rep));
        t0 = bench_now_ns();
        s = ok ? mhsld_recover(e.st, 1, MHSLD_RECOVER_DROP, &rep) : MHSLD_E_INVAL;
        t1 = bench_now_ns();
        if (ok && s != MHSLD_OK) {
            report_note(&g_report, false, "mhsld_recover after reserve: %s", mhsld_status_name(s));
            ok = false;
        }
        if (ok) {
            mhsld_head_info hi;
            mhsld_block_info bi;
            memset(&hi, 0, sizeof(hi));
            memset(&bi, 0, sizeof(bi));
            s = mhsld_validate(e.st, vmsg, sizeof(vmsg));
            if (s == MHSLD_OK)
                s = mhsld_head_info_get(e.st, 1, &hi);
            if (s == MHSLD_OK)
                s = mhsld_block_info_get(e.st, REC_FIRST, &bi);
            if (s != MHSLD_OK || hi.owned_blocks || hi.pending_blocks ||
                bi.state != MHSLD_BLOCK_FREE || rep.blocks_freed != REC_N) {
                report_note(&g_report, false,
                            "after recover (after reserve): %s %s; owned %llu pending %llu "
                            "freed %llu",
                            mhsld_status_name(s), vmsg, (unsigned long long)hi.owned_blocks,
                            (unsigned long long)hi.pending_blocks,
                            (unsigned long long)rep.blocks_freed);
                ok = false;
            } else if (r == 0) {
                report_note(&g_report, true,
                            "recover engine after reserve: %llu blocks freed, state validates",
                            (unsigned long long)rep.blocks_freed);
            }
        }
        eng_destroy(&e);
        if (ok)
            v[n++] = (double)(t1 - t0) / 1e3;
    }
    return n == c->rec_reps ? bench_stat_of(v, n) : bench_stat_none();
}

static bench_stat rec_baseline(const cfg *c, int design)
{
    double v[BENCH_MAX_REPS];
    unsigned n = 0;

    for (unsigned r = 0; r < c->rec_reps; r++) {
        char path[128];
        pid_t pid;
        uint64_t t0, t1, freed, bad = 0;
        bool ok = true;

        bench_state_path(path, sizeof(path), design == D_RFC ? "rec-rfc" : "rec-mtx");
        if (design == D_RFC) {
            rfc_state *s = rfc_create(path, REC_DEV_BLOCKS, BS);
            if (!s)
                bench_die("rfc create: %s", strerror(errno));
            rfc_close(s);
        } else {
            mtx_state *s = mtx_create(path, REC_DEV_BLOCKS, BS);
            if (!s)
                bench_die("mutex create: %s", strerror(errno));
            mtx_close(s);
        }
        fflush(NULL);
        pid = fork();
        if (pid < 0)
            bench_die("fork: %s", strerror(errno));
        if (pid == 0) {
            if (design == D_RFC) {
                rfc_state *s = rfc_open(path);
                if (s)
                    (void)rfc_claim_die(s, 1, REC_FIRST, REC_N, REC_N / 2u);
            } else {
                mtx_state *s = mtx_open(path);
                if (s)
                    (void)mtx_claim_die(s, 1, REC_FIRST, REC_N, REC_N / 2u);
            }
            _exit(1);
        }
        ok = killed_by_sigkill(pid);
        if (design == D_RFC) {
            rfc_state *s = rfc_open(path);
            if (!s)
                bench_die("rfc reopen failed");
            t0 = bench_now_ns();
            freed = rfc_clear_head(s, 1);
            t1 = bench_now_ns();
            for (uint64_t b = 0; b < REC_DEV_BLOCKS; b++)
                bad += rfc_mask(s, b) != 0;
            rfc_close(s);
        } else {
            mtx_state *s = mtx_open(path);
            if (!s)
                bench_die("mutex reopen failed");
            t0 = bench_now_ns();
            freed = mtx_clear_head(s, 1);
            t1 = bench_now_ns();
            for (uint64_t b = 0; b < REC_DEV_BLOCKS; b++)
                bad += mtx_owner(s, b) != 0;
            if (mtx_owner_dead_seen(s) != 1)
                bad++;
            mtx_close(s);
        }
        (void)unlink(path);
        ok = ok && freed == REC_N / 2u && bad == 0;
        if (!ok || r == 0)
            report_note(&g_report, ok,
                        "recover %s: child killed after %u of %u blocks; %llu freed by a "
                        "whole-device scan, %llu blocks left wrong",
                        dname[design], REC_N / 2u, REC_N, (unsigned long long)freed,
                        (unsigned long long)bad);
        if (ok)
            v[n++] = (double)(t1 - t0) / 1e3;
    }
    return n == c->rec_reps ? bench_stat_of(v, n) : bench_stat_none();
}

/* Run the helper (linked with libmhsld_testing) for a crash-point row:
 * op "claim" (mhsld_claim) or "reserve" (mhsld_reserve). */
static bench_stat rec_engine_crash_point(const cfg *c, const char *op)
{
    char out[512], reps[16], dev[24], first[24], nb[24];
    int pfd[2];
    pid_t pid;
    size_t got = 0;
    double med, mn, mx;
    unsigned long long steps = 0, k = 0, freed = 0, held = 0;
    bench_stat s = bench_stat_none();

    if (!c->crash_helper || access(c->crash_helper, X_OK) != 0) {
        report_note(&g_report, false, "crash-point recovery: helper %s not found",
                    c->crash_helper ? c->crash_helper : "(none)");
        return s;
    }
    snprintf(reps, sizeof(reps), "%u", c->rec_reps);
    snprintf(dev, sizeof(dev), "%u", REC_DEV_BLOCKS);
    snprintf(first, sizeof(first), "%u", REC_FIRST);
    snprintf(nb, sizeof(nb), "%u", REC_N);
    if (pipe(pfd) != 0)
        bench_die("pipe: %s", strerror(errno));
    fflush(NULL);
    pid = fork();
    if (pid < 0)
        bench_die("fork: %s", strerror(errno));
    if (pid == 0) {
        char *argv[] = {(char *)(uintptr_t)c->crash_helper,
                        (char *)(uintptr_t) "--reps",
                        reps,
                        (char *)(uintptr_t) "--dev",
                        dev,
                        (char *)(uintptr_t) "--first",
                        first,
                        (char *)(uintptr_t) "--n",
                        nb,
                        (char *)(uintptr_t) "--op",
                        (char *)(uintptr_t)op,
                        NULL};
        close(pfd[0]);
        if (dup2(pfd[1], STDOUT_FILENO) < 0)
            _exit(127);
        close(pfd[1]);
        execv(c->crash_helper, argv);
        _exit(127);
    }
    close(pfd[1]);
    for (;;) {
        ssize_t r = read(pfd[0], out + got, sizeof(out) - 1u - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
        if (got == sizeof(out) - 1u)
            break;
    }
    out[got] = '\0';
    close(pfd[0]);
    if (!bench_wait_ok(pid, NULL) || sscanf(out, "ok %lf %lf %lf %llu %llu %llu %llu", &med, &mn,
                                            &mx, &steps, &k, &freed, &held) != 7) {
        char *nl = strchr(out, '\n');
        if (nl)
            *nl = '\0';
        report_note(&g_report, false, "crash-point recovery helper (%s) failed: %s", op, out);
        return s;
    }
    report_note(&g_report, true,
                "recover engine mid-%s: %s of %u blocks = %llu atomic steps, killed "
                "before step %llu holding %llu blocks; report says %llu freed; all free, "
                "state validates",
                op, op, REC_N, steps, k, held, freed);
    s.valid = true;
    s.med = med / 1e3;
    s.min = mn / 1e3;
    s.max = mx / 1e3;
    return s;
}

static void bench_recover(const cfg *c)
{
    row *w;

    fprintf(stderr, "recover: a head SIGKILLed in the middle of a %u-block claim\n", REC_N);
    w = report_add(&g_report, "recover/mid", "recover", "us", ROW_LOWER_BETTER,
                   "recover head killed mid-claim of %u blocks", REC_N);
    w->n = REC_N;
    w->dev = REC_DEV_BLOCKS;
    if (c->design_on[D_ENG])
        w->d[D_ENG] = rec_engine_crash_point(c, "claim");
    if (c->design_on[D_RFC])
        w->d[D_RFC] = rec_baseline(c, D_RFC);
    if (c->design_on[D_MTX])
        w->d[D_MTX] = rec_baseline(c, D_MTX);
    w = report_add(&g_report, "recover/mid-reserve", "recover", "us", ROW_LOWER_BETTER,
                   "recover head killed mid-reserve of %u (DCD path)", REC_N);
    w->n = REC_N;
    w->dev = REC_DEV_BLOCKS;
    if (c->design_on[D_ENG])
        w->d[D_ENG] = rec_engine_crash_point(c, "reserve");
    w = report_add(&g_report, "recover/after", "recover", "us", ROW_LOWER_BETTER,
                   "recover head killed after reserve of %u (pending)", REC_N);
    w->n = REC_N;
    w->dev = REC_DEV_BLOCKS;
    if (c->design_on[D_ENG])
        w->d[D_ENG] = rec_engine_after_reserve(c);
}

/* ---- main ---------------------------------------------------------------- */

static void usage(FILE *f)
{
    fputs("usage: mhsld_bench [--quick] [--csv FILE] [--md FILE] [--reps N] [--only GROUPS]\n"
          "                   [--rep-us N] [--mp-seconds S] [--designs LIST]\n"
          "                   [--crash-helper PATH]\n"
          "  --quick          tiny configuration that only proves every benchmark works\n"
          "  --csv FILE       also write the table as CSV\n"
          "  --md FILE        also write the table, targets and checks as Markdown\n"
          "  --reps N         repetitions of each measurement (default 31 hot, 5 two-process;\n"
          "                   quick 3 and 1)\n"
          "  --only GROUPS    comma list of: claim,access,device,mp,open,recover\n"
          "  --designs LIST   comma list of: engine,rfc,mutex (default all; for profiling)\n"
          "  --rep-us N       length of one hot repetition in microseconds (default 1000)\n"
          "  --mp-seconds S   length of one two-process repetition (default 1, quick 0.05)\n"
          "  --crash-helper P mhsld_bench_crash (default: next to this program)\n",
          f);
}

static unsigned parse_uint(const char *s, unsigned lo, unsigned hi, const char *what)
{
    char *end;
    unsigned long v;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        bench_die("bad %s '%s' (want %u..%u)", what, s, lo, hi);
    return (unsigned)v;
}

static char helper_buf[PATH_MAX];

static const char *default_helper(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1u);
    char *slash;
    if (n <= 0)
        return NULL;
    self[n] = '\0';
    slash = strrchr(self, '/');
    if (!slash)
        return NULL;
    *slash = '\0';
    if ((size_t)snprintf(helper_buf, sizeof(helper_buf), "%s/mhsld_bench_crash", self) >=
        sizeof(helper_buf))
        return NULL;
    return helper_buf;
}

int main(int argc, char **argv)
{
    static const char *const groups[] = {"claim", "access", "device", "mp", "open", "recover"};
    cfg c;
    bench_machine m;
    unsigned missed;
    double mp_seconds = -1.0;
    int reps = -1, rep_us = -1;
    const char *designs = NULL;

    memset(&c, 0, sizeof(c));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--quick") == 0) {
            c.quick = true;
        } else if (strcmp(a, "--csv") == 0 && i + 1 < argc) {
            c.csv = argv[++i];
        } else if (strcmp(a, "--md") == 0 && i + 1 < argc) {
            c.md = argv[++i];
        } else if (strcmp(a, "--reps") == 0 && i + 1 < argc) {
            reps = (int)parse_uint(argv[++i], 1, BENCH_MAX_REPS, "--reps");
        } else if (strcmp(a, "--only") == 0 && i + 1 < argc) {
            c.only = argv[++i];
        } else if (strcmp(a, "--rep-us") == 0 && i + 1 < argc) {
            rep_us = (int)parse_uint(argv[++i], 10, 10000000, "--rep-us");
        } else if (strcmp(a, "--designs") == 0 && i + 1 < argc) {
            designs = argv[++i];
        } else if (strcmp(a, "--crash-helper") == 0 && i + 1 < argc) {
            c.crash_helper = argv[++i];
        } else if (strcmp(a, "--mp-seconds") == 0 && i + 1 < argc) {
            char *end;
            mp_seconds = strtod(argv[++i], &end);
            if (*end || !(mp_seconds > 0.0 && mp_seconds <= 60.0))
                bench_die("bad --mp-seconds '%s' (want 0 < S <= 60)", argv[i]);
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (c.only) {
        /* Every name in the list must be a group. */
        const char *p = c.only;
        while (*p) {
            const char *e = strchr(p, ',');
            size_t l = e ? (size_t)(e - p) : strlen(p);
            bool found = false;
            for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
                found = found || (strlen(groups[g]) == l && strncmp(groups[g], p, l) == 0);
            if (!found)
                bench_die("unknown group in --only '%s'", c.only);
            if (!e)
                break;
            p = e + 1;
        }
    }
    for (int d = 0; d < D_COUNT; d++)
        c.design_on[d] = designs == NULL || list_has(designs, dname[d]);
    if (designs) {
        /* Every name in the list must be a design. */
        const char *p = designs;
        while (*p) {
            const char *e = strchr(p, ',');
            size_t l = e ? (size_t)(e - p) : strlen(p);
            bool found = false;
            for (int d = 0; d < D_COUNT; d++)
                found = found || (strlen(dname[d]) == l && strncmp(dname[d], p, l) == 0);
            if (!found)
                bench_die("unknown design in --designs '%s' (engine,rfc,mutex)", designs);
            if (!e)
                break;
            p = e + 1;
        }
    }
    if (!c.crash_helper)
        c.crash_helper = default_helper();
    c.reps = reps > 0 ? (unsigned)reps : c.quick ? 3u : 31u;
    /* Short repetitions: on a loaded machine a 1 ms batch often runs without
     * being descheduled, so the median of many of them is stable. */
    c.rep_ns = rep_us > 0 ? (uint64_t)rep_us * 1000u : 1000000ull;
    c.mp_reps = reps > 0 ? (unsigned)reps : c.quick ? 1u : 5u;
    if (c.mp_reps > 9u)
        c.mp_reps = 9u;
    c.mp_ns = (uint64_t)((mp_seconds > 0.0 ? mp_seconds : c.quick ? 0.05 : 1.0) * 1e9);
    c.open_reps = c.quick ? 2u : 7u;
    c.rec_reps = c.quick ? 2u : 7u;

    bench_machine_get(&m);
    fprintf(stderr, "mhsld_bench%s: %s, %ld cores online\n", c.quick ? " --quick" : "", m.cpu,
            m.cores_online);
    if (want(&c, "claim"))
        bench_claim(&c);
    if (want(&c, "access"))
        bench_access(&c);
    if (want(&c, "device"))
        bench_device(&c);
    if (want(&c, "mp"))
        bench_mp(&c);
    if (want(&c, "open"))
        bench_open(&c);
    if (want(&c, "recover"))
        bench_recover(&c);

    printf("\n");
    report_print_table(&g_report, &m, stdout);
    missed = report_print_targets(&g_report, stdout);
    printf("\n%u target(s) missed or not measured; %u check(s) failed\n", missed,
           g_report.failures);
    if (c.csv && !report_write_csv(&g_report, &m, c.csv))
        bench_die("cannot write %s: %s", c.csv, strerror(errno));
    if (c.md && !report_write_md(&g_report, &m, c.md))
        bench_die("cannot write %s: %s", c.md, strerror(errno));
    /* Missed targets are findings, not failures; a failed check is. */
    return g_report.failures ? 1 : 0;
}
