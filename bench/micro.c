/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mhsld_micro: what bounds the engine's claim+release, measured on this
 * machine (issue 15's "microbenchmark of that bound").
 *
 *   mhsld_micro              the table: the atomic primitives one claim+release
 *                            is made of, each alone on a hot cache line; the
 *                            protocol's skeleton; then claim+release N=1 as
 *                            mhsld_bench's claim rows make it (mhsld_claim,
 *                            mhsld_release), batch and phase by phase; then
 *                            the two-step DCD path (mhsld_reserve,
 *                            mhsld_commit of everything, mhsld_release) the
 *                            same way, for comparison
 *   mhsld_micro --profile N [B]
 *                            only N claim+release (mhsld_claim + mhsld_release)
 *                            of B blocks (default 1; for valgrind
 *                            --tool=callgrind: instructions per function)
 *   mhsld_micro --profile-dcd N [B]
 *                            the same with reserve + commit + release
 *
 * Primitives use the engine's own atomics (engine/src/atomics.h, the ck
 * backend of the production build); the journal publication is the engine's
 * own mhsld__journal_publish() on a private head record.  Every figure is
 * the median of 31 repetitions of about 1 ms (bench_util.c); the phases are
 * read with rdtscp around each call, less the cost of an empty pair
 * (mean of the lower 90%), and converted with the TSC rate measured
 * against CLOCK_MONOTONIC.
 */
#define _GNU_SOURCE 1

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <x86intrin.h>

#include "bench_util.h"
#include "internal.h"
#include "mhsld/mhsld.h"

#define BS (2ull << 20)
#define NBLK 8192u
#define FIRST 1000u

static uint64_t sink;

/* ---- primitives ---------------------------------------------------------- */

typedef struct prim {
    uint64_t w[8] __attribute__((aligned(64)));
    mhsld__pair pair __attribute__((aligned(64)));
    uint64_t maps[16] __attribute__((aligned(64))); /* owned map word, start map word */
    mhsld__headrec *hr;
    mhsld__jsnap *j;
    mhsld_head *h; /* a handle on hr, for the baton's entry and exit */
} prim;

static void p_load(void *p, uint64_t it)
{
    prim *c = p;
    uint64_t s = 0;
    for (uint64_t i = 0; i < it; i++)
        s += mhsld__load64(&c->w[0]);
    sink += s;
}

static void p_store(void *p, uint64_t it)
{
    prim *c = p;
    for (uint64_t i = 0; i < it; i++)
        mhsld__store64(&c->w[0], i);
}

static void p_cas64(void *p, uint64_t it)
{
    prim *c = p;
    for (uint64_t i = 0; i < it; i++) {
        uint64_t v = mhsld__load64(&c->w[1]);
        sink += mhsld__cas64(&c->w[1], v, v + 1);
    }
}

static void p_cas128(void *p, uint64_t it)
{
    prim *c = p;
    for (uint64_t i = 0; i < it; i++) {
        mhsld__pair cur = mhsld__load_pair(&c->pair);
        mhsld__pair nv = {cur.lo ^ 1, cur.hi + 1};
        sink += mhsld__cas128(&c->pair, cur, nv);
    }
}

/* A head's entry and exit as every journalled operation makes them
 * (fmforce.c): baton HEAD by a plain store, one load of actw, baton FREE;
 * the handle of a process registered for membarrier. */
static void p_baton(void *p, uint64_t it)
{
    prim *c = p;
    for (uint64_t i = 0; i < it; i++) {
        sink += (uint64_t)mhsld__baton_try(c->h);
        mhsld__baton_leave(c->h);
    }
}

/* One cache line of journal: seven relaxed words, then the op (release). */
static void p_line(void *p, uint64_t it)
{
    prim *c = p;
    for (uint64_t i = 0; i < it; i++) {
        for (unsigned k = 1; k < 8; k++)
            mhsld__store64_relaxed(&c->w[k], i + k);
        mhsld__store64(&c->w[0], i);
    }
}

static void p_publish(void *p, uint64_t it)
{
    prim *c = p;
    for (uint64_t i = 0; i < it; i++) {
        c->j->seq = i + 1;
        mhsld__journal_publish(c->hr, c->j);
    }
}

/* The atomic skeleton of one claim+release N=1 (mhsld_claim, mhsld_release)
 * and nothing else: two baton entries and exits (the handshake: store,
 * load, store), two one-range journal publications, two occupancy cas128
 * (claim, clear).  The floor of the protocol as it stands, before any
 * validation, conversion, map or progress store. */
static void p_skeleton(void *p, uint64_t it)
{
    prim *c = p;
    for (uint64_t i = 0; i < it; i++) {
        for (unsigned op = 0; op < 2; op++) {
            sink += (uint64_t)mhsld__baton_try(c->h);
            c->j->seq = 2 * i + op + 1;
            mhsld__journal_publish(c->hr, c->j);
            mhsld__pair cur = mhsld__load_pair(&c->pair);
            mhsld__pair nv = {cur.lo ^ 1, cur.hi + 1};
            sink += mhsld__cas128(&c->pair, cur, nv);
            mhsld__baton_leave(c->h);
        }
    }
}

/* The two cas128 alone: what any design that records who made a claim in
 * the word it claims with pays per claim+release of one word (the RFC pays
 * a byte CAS and a byte AND). */
static void p_two_cas(void *p, uint64_t it)
{
    prim *c = p;
    for (uint64_t i = 0; i < it; i++) {
        for (unsigned op = 0; op < 2; op++) {
            mhsld__pair cur = mhsld__load_pair(&c->pair);
            mhsld__pair nv = {cur.lo ^ 1, cur.hi + 1};
            sink += mhsld__cas128(&c->pair, cur, nv);
        }
    }
}

/* The floor of claim+release N=4096: 64 words claimed (a cas128 each on its
 * own pair) and given back, nothing else. */
static mhsld__pair big_pairs[64] __attribute__((aligned(64)));
static void p_cas_4096(void *p, uint64_t it)
{
    (void)p;
    for (uint64_t i = 0; i < it; i++) {
        for (unsigned op = 0; op < 2; op++)
            for (unsigned w = 0; w < 64; w++) {
                mhsld__pair cur = mhsld__load_pair(&big_pairs[w]);
                mhsld__pair nv = {~cur.lo, cur.hi + 1};
                sink += mhsld__cas128(&big_pairs[w], cur, nv);
            }
    }
}

/* The same with layout 4's give-back of a wholly held word: a claim is one
 * cas128 per word, the give-back one 16-byte store (proto.c,
 * occ_clear_t) where that store is a single access; the bound of the
 * engine's N=4096 claim+release, against the mutex's two memsets. */
static void p_cas_store_4096(void *p, uint64_t it)
{
    (void)p;
    for (uint64_t i = 0; i < it; i++) {
        for (unsigned w = 0; w < 64; w++) {
            mhsld__pair cur = mhsld__load_pair(&big_pairs[w]);
            mhsld__pair nv = {~0ull, cur.hi + 1};
            sink += mhsld__cas128(&big_pairs[w], cur, nv);
        }
        for (unsigned w = 0; w < 64; w++) {
            mhsld__pair cur = mhsld__load_pair(&big_pairs[w]);
            mhsld__pair nv = {0, cur.hi + 1};
            mhsld__store_pair(&big_pairs[w], nv);
        }
    }
}

/* One give-back store of a pair alone (0 where the CPU lacks it). */
static void p_store_pair(void *p, uint64_t it)
{
    prim *c = p;
    for (uint64_t i = 0; i < it; i++) {
        mhsld__pair nv = {i, i + 1};
        mhsld__store_pair(&c->pair, nv);
    }
}

/* The skeleton plus every other shared load and store claim+release N=1
 * makes in layout 4 (engine/src/proto.c: claim_held, release_held), each
 * on the line it lives on: the sequence, the progress word after the CAS,
 * the start and owned map words (set after the claim, cleared before the
 * give-back, with the revoking seqlock around the clear), the list
 * generation and the journal's end.  What remains of the calls beyond this
 * is computation in private memory. */
static void p_skeleton_full(void *p, uint64_t it)
{
    prim *c = p;
    mhsld__headrec *hr = c->hr;
    uint64_t *om = &c->maps[0], *sm = &c->maps[8];
    for (uint64_t i = 0; i < it; i++) {
        for (unsigned op = 0; op < 2; op++) {
            sink += (uint64_t)mhsld__baton_try(c->h);
            sink += mhsld__load64(&hr->epoch) + mhsld__load32(&hr->j.op);
            uint64_t seq = 2 * i + op + 1;
            mhsld__store64(&hr->seq, seq);
            c->j->seq = seq;
            mhsld__journal_publish(hr, c->j);
            if (op == 1) { /* release: owned check, then clear the maps */
                uint64_t own = mhsld__load64(om);
                sink += own;
                uint64_t v = mhsld__load64(&hr->revoking);
                mhsld__store64(&hr->revoking, v + 1);
                mhsld__store64(om, own & ~1ull);
                mhsld__store64(sm, mhsld__load64(sm) & ~1ull);
            } else {
                sink += mhsld__load64_relaxed(&c->pair.lo); /* precheck */
            }
            mhsld__pair cur = mhsld__load_pair(&c->pair);
            mhsld__pair nv = {cur.lo ^ 1, cur.hi + 1};
            sink += mhsld__cas128(&c->pair, cur, nv);
            mhsld__store64(&hr->jprog, seq << 24 | 1);
            if (op == 0) { /* claim: set the maps */
                mhsld__store64(sm, mhsld__load64(sm) | 1);
                mhsld__store64(om, mhsld__load64(om) | 1);
            } else {
                uint64_t v = mhsld__load64(&hr->revoking);
                mhsld__store64(&hr->revoking, v + 1);
            }
            mhsld__store32(&hr->list_gen, mhsld__load32(&hr->list_gen) + 1);
            mhsld__store32(&hr->j.op, MHSLD__OP_IDLE);
            mhsld__baton_leave(c->h);
        }
    }
}

/* The DCD path's skeleton: three baton entries and exits, three journals,
 * three cas128 (reserve claims, commit rewrites the pair's tag, release
 * clears). */
static void p_skeleton_dcd(void *p, uint64_t it)
{
    prim *c = p;
    const uint64_t bat = 0;
    for (uint64_t i = 0; i < it; i++) {
        for (unsigned op = 0; op < 3; op++) {
            sink += mhsld__cas64(&c->w[2], bat, bat | 1);
            c->j->seq = 3 * i + op + 1;
            mhsld__journal_publish(c->hr, c->j);
            mhsld__pair cur = mhsld__load_pair(&c->pair);
            mhsld__pair nv = {op == 1 ? cur.lo : cur.lo ^ 1, cur.hi + 1};
            sink += mhsld__cas128(&c->pair, cur, nv);
            mhsld__store64(&c->w[2], bat);
        }
    }
}

/* What `mhsld__jsnap j = {...}` costs: the whole private journal zeroed. */
static void p_jsnap_zero(void *p, uint64_t it)
{
    prim *c = p;
    for (uint64_t i = 0; i < it; i++) {
        memset(c->j, 0, sizeof(*c->j));
        __asm__ volatile("" ::"r"(c->j) : "memory");
    }
}

/* ---- claim+release ------------------------------------------------------- */

typedef struct eng {
    mhsld_state *st;
    mhsld_head *h;
    char path[128];
} eng;

static void eng_open(eng *e)
{
    mhsld_geometry g;
    memset(&g, 0, sizeof(g));
    mhsld_geometry_init(&g, 2, BS, 0, (uint64_t)NBLK * BS);
    bench_state_path(e->path, sizeof(e->path), "micro");
    (void)unlink(e->path);
    mhsld_open_opts o = {
        .size = sizeof(o), .mode = MHSLD_OPEN_CREATE, .path = e->path, .geometry = &g};
    mhsld_status s = mhsld_open(&o, &e->st);
    if (s == MHSLD_OK)
        s = mhsld_attach(e->st, 0, 0, &e->h);
    if (s != MHSLD_OK)
        bench_die("engine open/attach %s: %s", e->path, mhsld_strerror(s));
}

static void eng_close(eng *e)
{
    mhsld_detach(e->h);
    mhsld_close(e->st);
    (void)mhsld_destroy(e->path, true);
}

/* claim+release as mhsld_bench's claim rows make it. */
static void claim_release_n(mhsld_head *h, uint64_t blocks)
{
    mhsld_extent x = {FIRST * BS, blocks * BS};
    if (mhsld_claim(h, &x, 1, NULL) != MHSLD_OK || mhsld_release(h, &x, 1, NULL) != MHSLD_OK)
        bench_die("claim+release failed");
}

/* The DCD path: an offer reserved, accepted whole, then released. */
static void dcd_n(mhsld_head *h, uint64_t blocks)
{
    mhsld_extent x = {FIRST * BS, blocks * BS};
    uint64_t group = 0;
    if (mhsld_reserve(h, &x, 1, &group, NULL) != MHSLD_OK ||
        mhsld_commit(h, group, &x, 1) != MHSLD_OK || mhsld_release(h, &x, 1, NULL) != MHSLD_OK)
        bench_die("reserve+commit+release failed");
}

static void cr_batch(void *p, uint64_t it)
{
    eng *e = p;
    for (uint64_t i = 0; i < it; i++)
        claim_release_n(e->h, 1);
}

static void dcd_batch(void *p, uint64_t it)
{
    eng *e = p;
    for (uint64_t i = 0; i < it; i++)
        dcd_n(e->h, 1);
}

static uint64_t tsc(void)
{
    unsigned aux;
    return __rdtscp(&aux);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* TSC ticks of each phase of N=1 over many rounds, less an empty pair:
 * claim + release, or (dcd) reserve + commit + release. */
static void phases(eng *e, double ns_per_tick, bool dcd)
{
    enum { N = 20001 };
    static uint64_t t[4][N];
    mhsld_extent x = {FIRST * BS, BS};
    unsigned np = dcd ? 3u : 2u;
    for (unsigned i = 0; i < N; i++) {
        uint64_t group = 0, a, b, c, d, z0, z1;
        mhsld_status s1, s2 = MHSLD_OK, s3;
        if (dcd) {
            a = tsc();
            s1 = mhsld_reserve(e->h, &x, 1, &group, NULL);
            b = tsc();
            s2 = mhsld_commit(e->h, group, &x, 1);
            c = tsc();
            s3 = mhsld_release(e->h, &x, 1, NULL);
            d = tsc();
        } else {
            a = tsc();
            s1 = mhsld_claim(e->h, &x, 1, NULL);
            b = tsc();
            s3 = mhsld_release(e->h, &x, 1, NULL);
            c = tsc();
            d = c;
        }
        z0 = tsc();
        z1 = tsc();
        if (s1 || s2 || s3)
            bench_die("claim+release failed");
        t[0][i] = b - a;
        t[1][i] = c - b;
        t[2][i] = d - c;
        t[3][i] = z1 - z0;
    }
    for (unsigned k = 0; k < 4; k++)
        qsort(t[k], N, sizeof(t[k][0]), cmp_u64);
    /* This VM's TSC advances in coarse steps (about 10 ns): a median would
     * be quantised, so the mean of the lower 90% (interrupts and preemption
     * cut off) is reported. */
    double mean[4];
    for (unsigned k = 0; k < 4; k++) {
        double a = 0;
        for (unsigned i = 0; i < N * 9 / 10; i++)
            a += (double)t[k][i];
        mean[k] = a / (N * 9 / 10);
    }
    double empty = mean[3];
    static const char *const name_claim[2] = {"mhsld_claim N=1", "mhsld_release N=1"};
    static const char *const name_dcd[3] = {"mhsld_reserve N=1", "mhsld_commit (accept all) N=1",
                                            "mhsld_release N=1"};
    double sum = 0;
    for (unsigned k = 0; k < np; k++) {
        double v = (mean[k] - empty) * ns_per_tick;
        sum += v;
        printf("  %-48s %8.1f ns (rdtscp, lower 90%% of %u)\n", dcd ? name_dcd[k] : name_claim[k],
               v, N);
    }
    printf("  %-48s %8.1f ns\n", dcd ? "sum of the three phases" : "sum of the two phases", sum);
}

static double tsc_ns_per_tick(void)
{
    uint64_t n0 = bench_now_ns(), t0 = tsc();
    while (bench_now_ns() - n0 < 50000000ull)
        ;
    uint64_t n1 = bench_now_ns(), t1 = tsc();
    return (double)(n1 - n0) / (double)(t1 - t0);
}

/* The two-process rows' bound: one cache line handed between two
 * processes pinned to CPUs 0 and 1, each waiting for the other's store
 * before its own (what every step of two heads on one occupancy line
 * pays).  Five rounds of 100000 round trips, each bounded (a round that
 * takes over 5 s is reported as such); median and range of the one-way
 * times. */
static double pingpong_round(volatile uint64_t *x, uint64_t n)
{
    const uint64_t limit = bench_now_ns() + 5000000000ull;
    *x = 0;
    pid_t pid = fork();
    if (pid < 0)
        bench_die("fork: %s", strerror(errno));
    if (pid == 0) {
        cpu_set_t cs;
        CPU_ZERO(&cs);
        CPU_SET(1, &cs);
        (void)sched_setaffinity(0, sizeof(cs), &cs);
        for (uint64_t i = 1; i <= n; i++) {
            while (*x != 2 * i - 1)
                if ((i & 255) == 0 && bench_now_ns() > limit)
                    _exit(1);
            *x = 2 * i;
        }
        _exit(0);
    }
    uint64_t t0 = bench_now_ns(), i;
    for (i = 1; i <= n; i++) {
        *x = 2 * i - 1;
        while (*x != 2 * i && bench_now_ns() < limit)
            ;
        if (*x != 2 * i)
            break;
    }
    uint64_t t = bench_now_ns() - t0;
    int ws = 0;
    (void)waitpid(pid, &ws, 0);
    return i <= n ? -1.0 : (double)t / (2.0 * (double)n);
}

static void pingpong(void)
{
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
        printf("  cache line between two processes, one way      (needs 2 CPUs)\n");
        return;
    }
    void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        bench_die("mmap: %s", strerror(errno));
    volatile uint64_t *x = m;
    cpu_set_t old, cs;
    (void)sched_getaffinity(0, sizeof(old), &old);
    CPU_ZERO(&cs);
    CPU_SET(0, &cs);
    (void)sched_setaffinity(0, sizeof(cs), &cs);
    double v[5];
    for (int r = 0; r < 5; r++) {
        v[r] = pingpong_round(x, 100000);
        if (v[r] < 0) {
            printf("  cache line between two processes, one way      (a round over 5 s)\n");
            (void)sched_setaffinity(0, sizeof(old), &old);
            munmap(m, 4096);
            return;
        }
    }
    for (int a = 0; a < 5; a++)
        for (int b = a + 1; b < 5; b++)
            if (v[b] < v[a]) {
                double t = v[a];
                v[a] = v[b];
                v[b] = t;
            }
    printf("  %-48s %8.2f ns [%.2f..%.2f]\n", "cache line between two processes, one way", v[2],
           v[0], v[4]);
    (void)sched_setaffinity(0, sizeof(old), &old);
    munmap(m, 4096);
}

static void row(const char *what, bench_batch_fn fn, void *ctx)
{
    bench_stat s = bench_time_batches(fn, ctx, BENCH_MAX_REPS, 1000000ull);
    printf("  %-48s %8.2f ns [%.2f..%.2f]\n", what, s.med, s.min, s.max);
}

int main(int argc, char **argv)
{
    eng e;
    if ((argc == 3 || argc == 4) &&
        (strcmp(argv[1], "--profile") == 0 || strcmp(argv[1], "--profile-dcd") == 0)) {
        bool dcd = strcmp(argv[1], "--profile-dcd") == 0;
        uint64_t n = strtoull(argv[2], NULL, 10);
        uint64_t b = argc == 4 ? strtoull(argv[3], NULL, 10) : 1;
        if (b == 0 || b > NBLK - FIRST)
            bench_die("%s: blocks must be 1..%u", argv[1], NBLK - FIRST);
        eng_open(&e);
        for (uint64_t i = 0; i < n; i++) {
            if (dcd)
                dcd_n(e.h, b);
            else
                claim_release_n(e.h, b);
        }
        eng_close(&e);
        return 0;
    }
    if (argc != 1) {
        fprintf(stderr, "usage: mhsld_micro [--profile|--profile-dcd ITERATIONS [BLOCKS]]\n");
        return 2;
    }
    bench_machine m;
    bench_machine_get(&m);
    double load[3] = {0, 0, 0};
    if (getloadavg(load, 3) != 3)
        load[0] = load[1] = load[2] = -1;
    printf("mhsld_micro: load average %.2f %.2f %.2f\n", load[0], load[1], load[2]);

    prim *c = aligned_alloc(64, sizeof(prim));
    mhsld__headrec *hr = aligned_alloc(64, sizeof(*hr));
    mhsld__jsnap *j = malloc(sizeof(*j));
    mhsld_head *h = calloc(1, sizeof(*h));
    if (!c || !hr || !j || !h)
        bench_die("out of memory");
    memset(c, 0, sizeof(*c));
    memset(hr, 0, sizeof(*hr));
    memset(j, 0, sizeof(*j));
    j->op = MHSLD__OP_CLAIM;
    j->n = 1;
    j->slot = MHSLD__NOSLOT;
    j->r[0].start = FIRST;
    j->r[0].count = 1;
    c->hr = hr;
    c->j = j;
    h->hr = hr;
    h->bat = MHSLD__BATON_FREE;
    h->act = 0;
    c->h = h;

    printf("primitives, each alone on a hot line (loop included):\n");
    row("load64 (acquire)", p_load, c);
    row("store64 (release)", p_store, c);
    row("load + cas64 (lock cmpxchg)", p_cas64, c);
    row("baton entry+exit (fast path)", p_baton, c);
    row("load pair + cas128 (lock cmpxchg16b)", p_cas128, c);
    if (mhsld__store_pair_ok())
        row("store pair (one 16-byte store)", p_store_pair, c);
    row("one 64 B line: 7 relaxed stores + 1 release", p_line, c);
    row("mhsld__journal_publish, 1 range", p_publish, c);
    printf("  (sizeof(mhsld__jsnap) = %zu bytes)\n", sizeof(mhsld__jsnap));
    row("memset of one mhsld__jsnap", p_jsnap_zero, c);
    printf("skeletons (hot private lines, the engine's atomics):\n");
    row("claim+release: 2 cas128 alone", p_two_cas, c);
    row("claim+release: 2 batons, 2 journals, 2 cas128", p_skeleton, c);
    row("  + every other shared load and store", p_skeleton_full, c);
    row("DCD path: 3 baton CAS, 3 journals, 3 cas128", p_skeleton_dcd, c);
    row("claim+release N=4096: 2 x 64 cas128 alone", p_cas_4096, c);
    if (mhsld__store_pair_ok())
        row("claim+release N=4096: 64 cas128 + 64 pair stores", p_cas_store_4096, c);

    printf("two processes (the two-process rows' bound):\n");
    pingpong();

    double npt = tsc_ns_per_tick();
    eng_open(&e);
    printf("claim+release N=1 (mhsld_claim + mhsld_release), 8192-block device:\n");
    row("claim+release N=1, batch", cr_batch, &e);
    phases(&e, npt, false);
    printf("DCD path N=1 (mhsld_reserve + mhsld_commit + mhsld_release), same device:\n");
    row("reserve+commit+release N=1, batch", dcd_batch, &e);
    phases(&e, npt, true);
    eng_close(&e);
    free(h);
    free(j);
    free(hr);
    free(c);
    return 0;
}
