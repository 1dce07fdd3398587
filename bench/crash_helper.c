/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mhsld_bench_crash: the one benchmark that needs libmhsld_testing.  A forked
 * head is killed (SIGKILL from a crash point) halfway through the atomic
 * steps of a claim of N blocks (--op claim, the default: mhsld_claim) or of
 * a reservation (--op reserve: mhsld_reserve, the DCD path); the parent then
 * times mhsld_recover() and checks that the state validates and every block
 * is free again.  mhsld_bench runs this program and puts its figures in the
 * "recover" rows.
 *
 * Output, one line on stdout:
 *   ok <median ns> <min ns> <max ns> <steps of the op> <crash step> <blocks freed>
 *      <blocks the dead head held>
 * (the last three from the final repetition).
 * or "error <message>" (exit status 1).
 */
#define _GNU_SOURCE 1

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "mhsld/mhsld.h"
#include "mhsld/testing.h"

#define BS MHSLD_MIN_BLOCK_SIZE

BENCH_NORETURN static void fail(const char *fmt, ...) BENCH_PRINTF(1, 2);
static void fail(const char *fmt, ...)
{
    va_list ap;
    fputs("error ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    exit(1);
}

static uint64_t arg_u64(const char *s, const char *what)
{
    char *end;
    unsigned long long v;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || end == s || *end)
        fail("bad %s '%s'", what, s);
    return (uint64_t)v;
}

static mhsld_status open_state(const char *path, uint32_t mode, const mhsld_geometry *g,
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

static void die_now(void *arg)
{
    (void)arg;
    raise(SIGKILL);
}

/* Every block's generation (the tag of its occupancy pair's last
 * compare-and-swap), before the child runs. */
static void generations(mhsld_state *st, uint64_t dev, uint64_t *gen)
{
    for (uint64_t b = 0; b < dev; b++) {
        mhsld_block_info bi;
        mhsld_status s = mhsld_block_info_get(st, b, &bi);
        if (s != MHSLD_OK)
            fail("block %llu info: %s", (unsigned long long)b, mhsld_status_name(s));
        gen[b] = bi.generation;
    }
}

/* What the dead head left held: blocks that are not free, or whose
 * generation moved since `gen` was taken.  A reservation's blocks are in
 * passage until its ranges are published at its end, a claim's until its
 * maps are written after its last compare-and-swap (layout 4: no word per
 * block), so mid-operation they read FREE; only their occupancy pair's tag
 * shows the dead head's compare-and-swap. */
static uint64_t count_held(mhsld_state *st, uint64_t dev, const uint64_t *gen)
{
    uint64_t held = 0;
    for (uint64_t b = 0; b < dev; b++) {
        mhsld_block_info bi;
        mhsld_status s = mhsld_block_info_get(st, b, &bi);
        if (s != MHSLD_OK)
            fail("block %llu info: %s", (unsigned long long)b, mhsld_status_name(s));
        held += bi.state != MHSLD_BLOCK_FREE || bi.generation != gen[b];
    }
    return held;
}

/* The operation the child is killed in: mhsld_claim, or mhsld_reserve. */
static mhsld_status run_op(mhsld_head *h, bool claim, const mhsld_extent *x, uint64_t *group,
                           mhsld_conflict *cf)
{
    return claim ? mhsld_claim(h, x, 1, cf) : mhsld_reserve(h, x, 1, group, cf);
}

/* Every block free and the state valid (after a full recovery). */
static void check_all_free(mhsld_state *st, uint64_t dev)
{
    char msg[200] = "";
    mhsld_status s = mhsld_validate(st, msg, sizeof(msg));
    if (s != MHSLD_OK)
        fail("mhsld_validate: %s: %s", mhsld_status_name(s), msg);
    for (uint64_t b = 0; b < dev; b++) {
        mhsld_block_info bi;
        s = mhsld_block_info_get(st, b, &bi);
        if (s != MHSLD_OK)
            fail("block %llu info: %s", (unsigned long long)b, mhsld_status_name(s));
        if (bi.state != MHSLD_BLOCK_FREE)
            fail("block %llu not free after recovery (state %u owner %u)", (unsigned long long)b,
                 bi.state, bi.owner);
    }
}

int main(int argc, char **argv)
{
    uint64_t reps = 5, dev = 32768, first = 1024, n = 4096, steps, k, freed = 0, held = 0;
    double v[BENCH_MAX_REPS];
    char path[128];
    mhsld_geometry g;
    mhsld_state *st = NULL;
    mhsld_head *h = NULL;
    mhsld_status s;
    mhsld_extent x;
    mhsld_conflict cf;
    uint64_t group = 0, *gen = NULL;
    bench_stat r;
    const char *opname = "claim";
    bool claim;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--reps") == 0)
            reps = arg_u64(argv[i + 1], "--reps");
        else if (strcmp(argv[i], "--dev") == 0)
            dev = arg_u64(argv[i + 1], "--dev");
        else if (strcmp(argv[i], "--first") == 0)
            first = arg_u64(argv[i + 1], "--first");
        else if (strcmp(argv[i], "--n") == 0)
            n = arg_u64(argv[i + 1], "--n");
        else if (strcmp(argv[i], "--op") == 0 &&
                 (strcmp(argv[i + 1], "claim") == 0 || strcmp(argv[i + 1], "reserve") == 0))
            opname = argv[i + 1];
        else
            fail("unknown option %s", argv[i]);
    }
    if (argc % 2 == 0)
        fail("usage: mhsld_bench_crash [--reps R] [--dev BLOCKS] [--first BLOCK] [--n BLOCKS] "
             "[--op claim|reserve]");
    claim = strcmp(opname, "claim") == 0;
    if (reps == 0 || reps > BENCH_MAX_REPS || dev == 0 || dev > MHSLD_MAX_BLOCKS || n == 0 ||
        first >= dev || n > dev - first)
        fail("bad configuration");

    bench_state_path(path, sizeof(path), "crash");
    (void)unlink(path);
    memset(&g, 0, sizeof(g));
    mhsld_geometry_init(&g, 2, BS, 0, dev * BS);
    x.dpa = first * BS;
    x.len = n * BS;

    /* Dry run: how many atomic steps does this reservation take? */
    s = open_state(path, MHSLD_OPEN_CREATE, &g, &st);
    if (s == MHSLD_OK)
        s = mhsld_attach(st, 1, MHSLD_ATTACH_DROP, &h);
    if (s != MHSLD_OK)
        fail("create/attach: %s", mhsld_status_name(s));
    mhsld_test_crash_at(0, NULL, NULL);
    s = run_op(h, claim, &x, &group, &cf);
    steps = mhsld_test_steps();
    if (s == MHSLD_OK) /* all back to free (commit: accept nothing) */
        s = claim ? mhsld_release(h, &x, 1, &cf) : mhsld_commit(h, group, &x, 0);
    if (s != MHSLD_OK)
        fail("dry run %s: %s", opname, mhsld_status_name(s));
    if (steps < 2)
        fail("%s of %llu blocks counted %llu atomic steps", opname, (unsigned long long)n,
             (unsigned long long)steps);
    k = steps / 2u;
    mhsld_detach(h);
    h = NULL;
    check_all_free(st, dev);
    mhsld_close(st);
    st = NULL;

    gen = malloc((size_t)dev * sizeof(*gen));
    if (!gen)
        fail("out of memory");
    for (uint64_t rep = 0; rep < reps; rep++) {
        mhsld_recover_report rr;
        mhsld_head_info hi;
        int ws = 0;
        pid_t pid, w;
        uint64_t t0, t1;

        s = open_state(path, MHSLD_OPEN_EXISTING, NULL, &st);
        if (s != MHSLD_OK)
            fail("reopen: %s", mhsld_status_name(s));
        generations(st, dev, gen);
        mhsld_close(st);
        st = NULL;
        fflush(NULL);
        pid = fork();
        if (pid < 0)
            fail("fork: %s", strerror(errno));
        if (pid == 0) {
            mhsld_state *cs = NULL;
            mhsld_head *ch = NULL;
            if (open_state(path, MHSLD_OPEN_EXISTING, NULL, &cs) != MHSLD_OK ||
                mhsld_attach(cs, 1, MHSLD_ATTACH_DROP, &ch) != MHSLD_OK)
                _exit(3);
            mhsld_test_crash_at(k, die_now, NULL);
            (void)run_op(ch, claim, &x, &group, &cf);
            _exit(4); /* the crash point was not reached */
        }
        do {
            w = waitpid(pid, &ws, 0);
        } while (w < 0 && errno == EINTR);
        if (w != pid || !WIFSIGNALED(ws) || WTERMSIG(ws) != SIGKILL)
            fail("child was not killed at crash step %llu (wait status 0x%x)",
                 (unsigned long long)k, (unsigned)ws);
        s = open_state(path, MHSLD_OPEN_EXISTING, NULL, &st);
        if (s != MHSLD_OK)
            fail("reopen: %s", mhsld_status_name(s));
        held = count_held(st, dev, gen);
        memset(&hi, 0, sizeof(hi));
        s = mhsld_head_info_get(st, 1, &hi);
        if (s != MHSLD_OK)
            fail("head info: %s", mhsld_status_name(s));
        if (held == 0 || held >= n || strcmp(mhsld_op_name(hi.inflight_op), opname) != 0)
            fail("the dead head held %llu blocks, op %s in flight: the crash was not mid-%s",
                 (unsigned long long)held, mhsld_op_name(hi.inflight_op), opname);
        memset(&rr, 0, sizeof(rr));
        t0 = bench_now_ns();
        s = mhsld_recover(st, 1, MHSLD_RECOVER_DROP, &rr);
        t1 = bench_now_ns();
        if (s != MHSLD_OK)
            fail("mhsld_recover: %s", mhsld_status_name(s));
        if (rr.op == 0 || rr.rolled_back != 1)
            fail("mhsld_recover found op %u rolled_back %u: expected a rolled-back %s", rr.op,
                 rr.rolled_back, opname);
        check_all_free(st, dev);
        freed = rr.blocks_freed;
        if (freed != held)
            fail("mhsld_recover freed %llu blocks; the dead head held %llu",
                 (unsigned long long)freed, (unsigned long long)held);
        mhsld_close(st);
        st = NULL;
        v[rep] = (double)(t1 - t0);
    }
    free(gen);
    (void)mhsld_destroy(path, true);
    (void)unlink(path);
    r = bench_stat_of(v, (size_t)reps);
    printf("ok %.0f %.0f %.0f %llu %llu %llu %llu\n", r.med, r.min, r.max,
           (unsigned long long)steps, (unsigned long long)k, (unsigned long long)freed,
           (unsigned long long)held);
    return 0;
}
