/* SPDX-License-Identifier: BSD-2-Clause */
#include "bench_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        bench_die("clock_gettime(CLOCK_MONOTONIC): %s", strerror(errno));
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void bench_die(const char *fmt, ...)
{
    va_list ap;
    fputs("mhsld_bench: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

bench_stat bench_stat_of(double *v, size_t n)
{
    bench_stat s = bench_stat_none();
    if (n == 0 || n > BENCH_MAX_REPS)
        return s;
    qsort(v, n, sizeof(*v), cmp_double);
    s.valid = true;
    s.min = v[0];
    s.max = v[n - 1];
    s.med = (n % 2u) ? v[n / 2u] : (v[n / 2u - 1u] + v[n / 2u]) / 2.0;
    return s;
}

bench_stat bench_stat_none(void)
{
    bench_stat s = {false, 0.0, 0.0, 0.0};
    return s;
}

uint64_t bench_calibrate(bench_batch_fn fn, void *ctx, uint64_t rep_ns)
{
    uint64_t iters = 1, elapsed = 0;
    double scaled;

    /* Double the batch until it lasts an eighth of a repetition (this also
     * warms up: faults in and caches what the operation uses). */
    for (;;) {
        uint64_t t0 = bench_now_ns();
        fn(ctx, iters);
        elapsed = bench_now_ns() - t0;
        if (elapsed >= rep_ns / 8u || iters >= (1ull << 40))
            break;
        iters *= 2u;
    }
    if (elapsed == 0)
        elapsed = 1;
    scaled = (double)iters * (double)rep_ns / (double)elapsed;
    return scaled < 1.0 ? 1u : (uint64_t)scaled;
}

double bench_run_batch(bench_batch_fn fn, void *ctx, uint64_t iters)
{
    uint64_t t0 = bench_now_ns();
    fn(ctx, iters);
    return (double)(bench_now_ns() - t0) / (double)iters;
}

bench_stat bench_time_batches(bench_batch_fn fn, void *ctx, unsigned reps, uint64_t rep_ns)
{
    double v[BENCH_MAX_REPS];
    uint64_t iters;

    if (reps == 0 || reps > BENCH_MAX_REPS)
        bench_die("bad repetition count %u", reps);
    iters = bench_calibrate(fn, ctx, rep_ns);
    for (unsigned r = 0; r < reps; r++)
        v[r] = bench_run_batch(fn, ctx, iters);
    return bench_stat_of(v, reps);
}

void bench_rng_seed(bench_rng *r, uint64_t seed)
{
    r->s = seed ? seed : 0x9E3779B97F4A7C15ull;
}

uint64_t bench_rng_next(bench_rng *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

uint64_t bench_rng_range(bench_rng *r, uint64_t lo, uint64_t hi)
{
    uint64_t span = hi - lo + 1u;
    if (span == 0)
        return bench_rng_next(r);
    return lo + bench_rng_next(r) % span;
}

void bench_gate_init(bench_gate *g)
{
    if (pipe(g->ready) != 0 || pipe(g->go) != 0)
        bench_die("pipe: %s", strerror(errno));
}

void bench_gate_worker_wait(bench_gate *g)
{
    char c = 'r';
    ssize_t n;
    close(g->ready[0]);
    close(g->go[1]);
    do {
        n = write(g->ready[1], &c, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1)
        _exit(3);
    close(g->ready[1]);
    do {
        n = read(g->go[0], &c, 1);
    } while (n < 0 && errno == EINTR);
    /* The parent closes the write end to open the gate: read returns 0. */
    close(g->go[0]);
}

void bench_gate_open(bench_gate *g, unsigned workers)
{
    close(g->ready[1]);
    g->ready[1] = -1;
    close(g->go[0]);
    g->go[0] = -1;
    for (unsigned i = 0; i < workers; i++) {
        char c;
        ssize_t n;
        do {
            n = read(g->ready[0], &c, 1);
        } while (n < 0 && errno == EINTR);
        if (n != 1)
            break; /* a worker died before it got ready: the wait reports it */
    }
    close(g->go[1]);
    g->go[1] = -1;
}

void bench_gate_close(bench_gate *g)
{
    int *fds[4] = {&g->ready[0], &g->ready[1], &g->go[0], &g->go[1]};
    for (size_t i = 0; i < 4; i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
}

bool bench_wait_ok(pid_t pid, int *raw_status)
{
    int st = 0;
    pid_t r;
    do {
        r = waitpid(pid, &st, 0);
    } while (r < 0 && errno == EINTR);
    if (raw_status)
        *raw_status = st;
    return r == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

void *bench_shared_alloc(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        bench_die("mmap(%zu): %s", len, strerror(errno));
    return p;
}

void bench_shared_free(void *p, size_t len)
{
    if (p)
        munmap(p, len);
}

/* Every state path this process named, unlinked at exit() so that a run
 * that dies on an error (bench_die) leaves nothing under /dev/shm.  Forked
 * children leave with _exit() and never run this. */
#define BENCH_MAX_PATHS 64u
static char bench_paths[BENCH_MAX_PATHS][128];
static unsigned bench_npaths;
static pid_t bench_paths_owner;

static void bench_unlink_paths(void)
{
    if (getpid() != bench_paths_owner)
        return;
    for (unsigned i = 0; i < bench_npaths; i++)
        (void)unlink(bench_paths[i]);
}

void bench_state_path(char *buf, size_t cap, const char *tag)
{
    int n = snprintf(buf, cap, "/dev/shm/mhsld-bench-%ld-%s", (long)getpid(), tag);
    if (n < 0 || (size_t)n >= cap || (size_t)n >= sizeof(bench_paths[0]))
        bench_die("state path too long");
    if (bench_npaths == 0) {
        bench_paths_owner = getpid();
        if (atexit(bench_unlink_paths) != 0)
            bench_die("atexit failed");
    }
    for (unsigned i = 0; i < bench_npaths; i++) {
        if (strcmp(bench_paths[i], buf) == 0)
            return;
    }
    if (bench_npaths < BENCH_MAX_PATHS)
        memcpy(bench_paths[bench_npaths++], buf, (size_t)n + 1u);
}

static void chomp(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
}

void bench_machine_get(bench_machine *m)
{
    FILE *f;
    struct utsname u;
    time_t now = time(NULL);
    struct tm tmv;

    memset(m, 0, sizeof(*m));
    snprintf(m->cpu, sizeof(m->cpu), "unknown");
    f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof(line), f)) {
            if (strncmp(line, "model name", 10) == 0) {
                const char *colon = strchr(line, ':');
                if (colon) {
                    colon++;
                    while (*colon == ' ' || *colon == '\t')
                        colon++;
                    snprintf(m->cpu, sizeof(m->cpu), "%s", colon);
                    chomp(m->cpu);
                }
                break;
            }
        }
        fclose(f);
    }
    m->cores_online = sysconf(_SC_NPROCESSORS_ONLN);
    snprintf(m->load, sizeof(m->load), "unknown");
    f = fopen("/proc/loadavg", "r");
    if (f) {
        double l1, l5, l15;
        if (fscanf(f, "%lf %lf %lf", &l1, &l5, &l15) == 3)
            snprintf(m->load, sizeof(m->load), "%.2f %.2f %.2f", l1, l5, l15);
        fclose(f);
    }
    if (uname(&u) == 0)
        snprintf(m->kernel, sizeof(m->kernel), "%s %s %s", u.sysname, u.release, u.machine);
#if defined(__clang__)
    snprintf(m->compiler, sizeof(m->compiler), "clang %s", __clang_version__);
#elif defined(__GNUC__)
    snprintf(m->compiler, sizeof(m->compiler), "gcc %s", __VERSION__);
#else
    snprintf(m->compiler, sizeof(m->compiler), "unknown");
#endif
    chomp(m->compiler);
    if (gmtime_r(&now, &tmv))
        strftime(m->date, sizeof(m->date), "%Y-%m-%d %H:%M:%S UTC", &tmv);
}
