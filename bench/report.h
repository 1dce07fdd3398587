/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The result table: one row per measurement, with the engine and the two
 * baselines side by side, same-run ratios, the target verdicts, and the
 * CSV form that bench/run.sh turns into a plot.
 */
#ifndef MHSLD_BENCH_REPORT_H
#define MHSLD_BENCH_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "bench_util.h"

enum { D_ENG = 0, D_RFC = 1, D_MTX = 2, D_COUNT = 3 };

/* How the ratio column reads: engine better by x times. */
typedef enum row_sense {
    ROW_LOWER_BETTER = 0,  /* times, bytes: ratio = baseline / engine */
    ROW_HIGHER_BETTER = 1, /* throughput: ratio = engine / baseline */
    ROW_NO_RATIO = 2       /* e.g. conflicts per second */
} row_sense;

typedef struct row {
    char key[40];   /* unique, for lookups: e.g. "claim/op/4096" */
    char group[16]; /* claim, access, mp, device, open, recover */
    char name[96];
    char unit[16];
    row_sense sense;
    uint64_t n;     /* extent blocks (plots), 0 if none */
    uint64_t dev;   /* device blocks, 0 if none */
    uint64_t range; /* max extent of a random workload, 0 if none */
    bench_stat d[D_COUNT];
} row;

#define REPORT_MAX_ROWS 128u
#define REPORT_MAX_NOTES 64u

typedef struct report {
    row rows[REPORT_MAX_ROWS];
    unsigned nrows;
    char notes[REPORT_MAX_NOTES][200]; /* invariant checks and errors */
    unsigned nnotes;
    unsigned failures; /* failed checks (exit status) */
} report;

row *report_add(report *r, const char *key, const char *group, const char *unit, row_sense sense,
                const char *fmt, ...) BENCH_PRINTF(6, 7);
void report_note(report *r, bool ok, const char *fmt, ...) BENCH_PRINTF(3, 4);
const row *report_find(const report *r, const char *key);
/* Engine better than baseline `d` by this factor (0 if unknown). */
double row_ratio(const row *w, int d);

void report_print_table(const report *r, const bench_machine *m, FILE *out);
/* Evaluates the targets; prints one line each; returns how many were missed. */
unsigned report_print_targets(const report *r, FILE *out);
bool report_write_csv(const report *r, const bench_machine *m, const char *path);
/* The table, the target verdicts and the checks as Markdown (for RESULTS.md). */
bool report_write_md(const report *r, const bench_machine *m, const char *path);

#endif /* MHSLD_BENCH_REPORT_H */
