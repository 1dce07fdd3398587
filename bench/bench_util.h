/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Helpers shared by the benchmark programs: a monotonic clock, statistics
 * over repetitions (median, min, max), batch timing with calibration, a
 * small deterministic random generator, a start gate for forked workers,
 * and the machine description printed with every table.
 */
#ifndef MHSLD_BENCH_UTIL_H
#define MHSLD_BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_MAX_REPS 31u

#if defined(__GNUC__) || defined(__clang__)
#define BENCH_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define BENCH_NORETURN __attribute__((noreturn))
#else
#define BENCH_PRINTF(f, a)
#define BENCH_NORETURN
#endif

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/* Print "mhsld_bench: <message>" to stderr and exit(2). */
BENCH_NORETURN void bench_die(const char *fmt, ...) BENCH_PRINTF(1, 2);

/* Median, min and max of a series of repetitions. */
typedef struct bench_stat {
    bool valid;
    double med;
    double min;
    double max;
} bench_stat;

/* Sorts v in place (n >= 1, n <= BENCH_MAX_REPS). */
bench_stat bench_stat_of(double *v, size_t n);
bench_stat bench_stat_none(void);

/* A batch of `iters` operations on `ctx`; the function runs them all. */
typedef void (*bench_batch_fn)(void *ctx, uint64_t iters);

/* Warm up fn and return the batch size that lasts about rep_ns. */
uint64_t bench_calibrate(bench_batch_fn fn, void *ctx, uint64_t rep_ns);
/* One repetition: nanoseconds per operation over a batch of iters. */
double bench_run_batch(bench_batch_fn fn, void *ctx, uint64_t iters);
/* Calibrate, then run `reps` repetitions; nanoseconds per operation. */
bench_stat bench_time_batches(bench_batch_fn fn, void *ctx, unsigned reps, uint64_t rep_ns);

/* xorshift64*: deterministic, seeded per worker. */
typedef struct bench_rng {
    uint64_t s;
} bench_rng;
void bench_rng_seed(bench_rng *r, uint64_t seed);
uint64_t bench_rng_next(bench_rng *r);
/* Uniform in [lo, hi] (lo <= hi). */
uint64_t bench_rng_range(bench_rng *r, uint64_t lo, uint64_t hi);

/* A gate that lets forked workers start together without spinning: each
 * worker reports readiness on one pipe and blocks reading the other until
 * the parent opens the gate. */
typedef struct bench_gate {
    int ready[2];
    int go[2];
} bench_gate;
void bench_gate_init(bench_gate *g);
/* In a worker (after fork). */
void bench_gate_worker_wait(bench_gate *g);
/* In the parent: wait for `workers` readiness bytes, then let them all go. */
void bench_gate_open(bench_gate *g, unsigned workers);
void bench_gate_close(bench_gate *g);

/* Wait for a child; true if it exited with status 0. */
bool bench_wait_ok(pid_t pid, int *raw_status);

/* A MAP_SHARED anonymous mapping (zeroed) visible to forked children. */
void *bench_shared_alloc(size_t len);
void bench_shared_free(void *p, size_t len);

/* A unique state path under /dev/shm for this process:
 * "/dev/shm/mhsld-bench-<pid>-<tag>"; unlinked at exit() whatever happens. */
void bench_state_path(char *buf, size_t cap, const char *tag);

/* Machine description for the table header and the CSV. */
typedef struct bench_machine {
    char cpu[160];
    long cores_online;
    char kernel[200];
    char compiler[96];
    char date[40];
    char load[64]; /* /proc/loadavg at start: how busy the machine was */
} bench_machine;
void bench_machine_get(bench_machine *m);

#endif /* MHSLD_BENCH_UTIL_H */
