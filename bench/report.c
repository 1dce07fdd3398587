/* SPDX-License-Identifier: BSD-2-Clause */
#include "report.h"

#include <stdarg.h>
#include <string.h>

static const char *const design_name[D_COUNT] = {"engine", "rfc", "mutex"};

row *report_add(report *r, const char *key, const char *group, const char *unit, row_sense sense,
                const char *fmt, ...)
{
    row *w;
    va_list ap;

    if (r->nrows >= REPORT_MAX_ROWS)
        bench_die("too many result rows");
    w = &r->rows[r->nrows++];
    memset(w, 0, sizeof(*w));
    snprintf(w->key, sizeof(w->key), "%s", key);
    snprintf(w->group, sizeof(w->group), "%s", group);
    snprintf(w->unit, sizeof(w->unit), "%s", unit);
    w->sense = sense;
    va_start(ap, fmt);
    vsnprintf(w->name, sizeof(w->name), fmt, ap);
    va_end(ap);
    for (int d = 0; d < D_COUNT; d++)
        w->d[d] = bench_stat_none();
    return w;
}

void report_note(report *r, bool ok, const char *fmt, ...)
{
    va_list ap;
    char line[180];

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (!ok)
        r->failures++;
    fprintf(stderr, "  [%s] %s\n", ok ? "ok" : "FAIL", line);
    if (r->nnotes < REPORT_MAX_NOTES) {
        snprintf(r->notes[r->nnotes], sizeof(r->notes[0]), "%s %s", ok ? "ok  " : "FAIL", line);
        r->nnotes++;
    }
}

const row *report_find(const report *r, const char *key)
{
    for (unsigned i = 0; i < r->nrows; i++) {
        if (strcmp(r->rows[i].key, key) == 0)
            return &r->rows[i];
    }
    return NULL;
}

double row_ratio(const row *w, int d)
{
    const bench_stat *e = &w->d[D_ENG], *b = &w->d[d];

    if (!e->valid || !b->valid || w->sense == ROW_NO_RATIO)
        return 0.0;
    if (w->sense == ROW_LOWER_BETTER)
        return e->med > 0.0 ? b->med / e->med : 0.0;
    return b->med > 0.0 ? e->med / b->med : 0.0;
}

static void fmt_num(char *buf, size_t cap, double v)
{
    double a = v < 0.0 ? -v : v;
    if (a >= 1e9)
        snprintf(buf, cap, "%.3g", v);
    else if (a >= 1000.0)
        snprintf(buf, cap, "%.0f", v);
    else if (a >= 100.0)
        snprintf(buf, cap, "%.1f", v);
    else if (a >= 1.0)
        snprintf(buf, cap, "%.2f", v);
    else
        snprintf(buf, cap, "%.3f", v);
}

static void fmt_stat(char *buf, size_t cap, const bench_stat *s)
{
    char a[32], b[32], c[32];

    if (!s->valid) {
        snprintf(buf, cap, "-");
        return;
    }
    fmt_num(a, sizeof(a), s->med);
    fmt_num(b, sizeof(b), s->min);
    fmt_num(c, sizeof(c), s->max);
    if (s->min == s->max)
        snprintf(buf, cap, "%s", a);
    else
        snprintf(buf, cap, "%s [%s..%s]", a, b, c);
}

static void fmt_ratio(char *buf, size_t cap, double x)
{
    if (x <= 0.0)
        snprintf(buf, cap, "-");
    else if (x >= 100.0)
        snprintf(buf, cap, "%.0fx", x);
    else if (x >= 10.0)
        snprintf(buf, cap, "%.1fx", x);
    else
        snprintf(buf, cap, "%.2fx", x);
}

void report_print_table(const report *r, const bench_machine *m, FILE *out)
{
    const char *group = "";

    fprintf(out, "machine: %s, %ld cores online, %s\n", m->cpu, m->cores_online, m->kernel);
    fprintf(out, "compiler: %s; run: %s; load average at start: %s\n", m->compiler, m->date,
            m->load);
    fprintf(out, "cells: median [min..max] over repetitions; ratio = how many times better the "
                 "engine is (same run)\n");
    for (unsigned i = 0; i < r->nrows; i++) {
        const row *w = &r->rows[i];
        char c[D_COUNT][112], x1[16], x2[16];

        if (strcmp(group, w->group) != 0) {
            group = w->group;
            fprintf(out, "\n%-58s %-11s %-28s %-28s %-28s %8s %8s\n", group, "unit",
                    design_name[D_ENG], design_name[D_RFC], design_name[D_MTX], "vs rfc",
                    "vs mutex");
        }
        for (int d = 0; d < D_COUNT; d++)
            fmt_stat(c[d], sizeof(c[d]), &w->d[d]);
        fmt_ratio(x1, sizeof(x1), row_ratio(w, D_RFC));
        fmt_ratio(x2, sizeof(x2), row_ratio(w, D_MTX));
        fprintf(out, "  %-56s %-11s %-28s %-28s %-28s %8s %8s\n", w->name, w->unit, c[D_ENG],
                c[D_RFC], c[D_MTX], x1, x2);
    }
    if (r->nnotes) {
        fprintf(out, "\nchecks:\n");
        for (unsigned i = 0; i < r->nnotes; i++)
            fprintf(out, "  %s\n", r->notes[i]);
    }
}

/* ---- the targets of issue 15, one verdict line each --------------------- */

typedef enum tgt_state { TGT_NA = 0, TGT_MET = 1, TGT_MISSED = 2 } tgt_state;

typedef struct target {
    tgt_state state;
    char what[80];
    char measured[160];
} target;

#define MAX_TARGETS 40u

typedef struct targets {
    target t[MAX_TARGETS];
    unsigned n;
} targets;

static void tgt_add(targets *ts, bool known, bool met, const char *what, const char *fmt, ...)
    BENCH_PRINTF(5, 6);
static void tgt_add(targets *ts, bool known, bool met, const char *what, const char *fmt, ...)
{
    target *t;
    va_list ap;

    if (ts->n >= MAX_TARGETS)
        bench_die("too many targets");
    t = &ts->t[ts->n++];
    t->state = !known ? TGT_NA : met ? TGT_MET : TGT_MISSED;
    snprintf(t->what, sizeof(t->what), "%s", what);
    if (!known) {
        snprintf(t->measured, sizeof(t->measured), "not measured in this run");
        return;
    }
    va_start(ap, fmt);
    vsnprintf(t->measured, sizeof(t->measured), fmt, ap);
    va_end(ap);
}

static bool have(const row *w, int d)
{
    return w && w->d[d].valid;
}

/* Median of design d, formatted like the table (valid rows only). */
static const char *med(char *buf, size_t cap, const row *w, int d)
{
    fmt_num(buf, cap, w->d[d].med);
    return buf;
}

static const uint64_t claim_sizes[] = {1, 8, 64, 512, 4096};
#define NCLAIM (sizeof(claim_sizes) / sizeof(claim_sizes[0]))
/* The two-process rows bench/main.c makes (keys mp/<dev>/<range>/claims). */
static const uint64_t mp_devs[] = {2048, 32768};
static const uint64_t mp_ranges[] = {16, 512};
#define NMP_DEVS (sizeof(mp_devs) / sizeof(mp_devs[0]))
#define NMP_RANGES (sizeof(mp_ranges) / sizeof(mp_ranges[0]))

/* Issue 15's targets, in its order; figures are same-run medians. */
static void targets_eval(const report *r, targets *ts)
{
    char key[40], what[80], a[32], b[32];
    const row *w, *w2;

    ts->n = 0;
    /* Every claim+release row at least as fast as the robust mutex. */
    for (size_t i = 0; i < NCLAIM; i++) {
        snprintf(key, sizeof(key), "claim/op/%llu", (unsigned long long)claim_sizes[i]);
        snprintf(what, sizeof(what), "claim+release N=%llu: engine time <= mutex time",
                 (unsigned long long)claim_sizes[i]);
        w = report_find(r, key);
        if (have(w, D_ENG) && have(w, D_MTX))
            tgt_add(ts, true, w->d[D_ENG].med <= w->d[D_MTX].med, what,
                    "engine %s ns, mutex %s ns (engine takes %.2fx the mutex's time)",
                    med(a, sizeof(a), w, D_ENG), med(b, sizeof(b), w, D_MTX),
                    w->d[D_ENG].med / w->d[D_MTX].med);
        else
            tgt_add(ts, false, false, what, "-");
    }
    /* N=1 within 2x the RFC's time. */
    w = report_find(r, "claim/op/1");
    if (have(w, D_ENG) && have(w, D_RFC))
        tgt_add(ts, true, w->d[D_ENG].med <= 2.0 * w->d[D_RFC].med,
                "claim+release N=1: engine time <= 2x rfc time",
                "engine %s ns, rfc %s ns (engine takes %.2fx the rfc's time)",
                med(a, sizeof(a), w, D_ENG), med(b, sizeof(b), w, D_RFC),
                w->d[D_ENG].med / w->d[D_RFC].med);
    else
        tgt_add(ts, false, false, "claim+release N=1: engine time <= 2x rfc time", "-");
    /* N >= 8 at least as fast as the RFC. */
    for (size_t i = 1; i < NCLAIM; i++) {
        snprintf(key, sizeof(key), "claim/op/%llu", (unsigned long long)claim_sizes[i]);
        snprintf(what, sizeof(what), "claim+release N=%llu: engine time <= rfc time",
                 (unsigned long long)claim_sizes[i]);
        w = report_find(r, key);
        if (have(w, D_ENG) && have(w, D_RFC))
            tgt_add(ts, true, w->d[D_ENG].med <= w->d[D_RFC].med, what,
                    "engine %s ns, rfc %s ns (engine takes %.2fx the rfc's time)",
                    med(a, sizeof(a), w, D_ENG), med(b, sizeof(b), w, D_RFC),
                    w->d[D_ENG].med / w->d[D_RFC].med);
        else
            tgt_add(ts, false, false, what, "-");
    }
    /* N=4096 at least 40x the RFC. */
    w = report_find(r, "claim/op/4096");
    if (have(w, D_ENG) && have(w, D_RFC))
        tgt_add(ts, true, row_ratio(w, D_RFC) >= 40.0, "claim+release N=4096: >= 40x rfc",
                "%.1fx rfc (engine %s ns, rfc %s ns)", row_ratio(w, D_RFC),
                med(a, sizeof(a), w, D_ENG), med(b, sizeof(b), w, D_RFC));
    else
        tgt_add(ts, false, false, "claim+release N=4096: >= 40x rfc", "-");

    /* 8-byte access check, the header's inlined fast path (exact: the
     * benchmark dies if it ever denies the owned range). */
    w = report_find(r, "access/8B-inline");
    if (have(w, D_ENG))
        tgt_add(ts, true, w->d[D_ENG].med <= 2.0,
                "access check 8 B in one block, engine inline: <= 2 ns hot", "%s ns",
                med(a, sizeof(a), w, D_ENG));
    else
        tgt_add(ts, false, false, "access check 8 B in one block, engine inline: <= 2 ns hot", "-");

    /* Two processes: at least the mutex's claims/s in every row; 10x the
     * RFC on extents 1-512, 2x on 1-16.  The four rows by key, so that a run
     * without them says n/a. */
    for (size_t di = 0; di < NMP_DEVS; di++) {
        for (size_t ri = 0; ri < NMP_RANGES; ri++) {
            unsigned long long dev = (unsigned long long)mp_devs[di];
            unsigned long long range = (unsigned long long)mp_ranges[ri];
            double want = range >= 512u ? 10.0 : 2.0;
            const row *m;

            snprintf(key, sizeof(key), "mp/%llu/%llu/claims", dev, range);
            m = report_find(r, key);
            snprintf(what, sizeof(what), "2 procs dev %llu extents 1-%llu: >= mutex claims/s", dev,
                     range);
            if (have(m, D_ENG) && have(m, D_MTX))
                tgt_add(ts, true, row_ratio(m, D_MTX) >= 1.0, what,
                        "%.2fx mutex (engine %.3g, mutex %.3g claims/s)", row_ratio(m, D_MTX),
                        m->d[D_ENG].med, m->d[D_MTX].med);
            else
                tgt_add(ts, false, false, what, "-");
            snprintf(what, sizeof(what), "2 procs dev %llu extents 1-%llu: >= %.0fx rfc claims/s",
                     dev, range, want);
            if (have(m, D_ENG) && have(m, D_RFC))
                tgt_add(ts, true, row_ratio(m, D_RFC) >= want, what,
                        "%.2fx rfc (engine %.3g, rfc %.3g claims/s)", row_ratio(m, D_RFC),
                        m->d[D_ENG].med, m->d[D_RFC].med);
            else
                tgt_add(ts, false, false, what, "-");
        }
    }

    /* Stretch: at most 2 bytes of state per block. */
    w = report_find(r, "open/size-blk");
    w2 = report_find(r, "open/size");
    if (have(w, D_ENG) && have(w2, D_ENG))
        tgt_add(ts, true, w->d[D_ENG].med <= 2.0,
                "stretch: state bytes per block <= 2 (1 TiB state)",
                "%.2f bytes/block (%.0f bytes for %llu blocks; rfc %.2f, mutex %.2f)",
                w->d[D_ENG].med, w2->d[D_ENG].med, (unsigned long long)w->dev,
                have(w, D_RFC) ? w->d[D_RFC].med : 0.0, have(w, D_MTX) ? w->d[D_MTX].med : 0.0);
    else
        tgt_add(ts, false, false, "stretch: state bytes per block <= 2 (1 TiB state)", "-");

    /* Unchanged: open + validate of 1 TiB, claim cost independent of the
     * device's size. */
    w = report_find(r, "open/validate");
    if (have(w, D_ENG))
        tgt_add(ts, true, w->d[D_ENG].med <= 10.0, "unchanged: open + validate of 1 TiB <= 10 ms",
                "%.3f ms", w->d[D_ENG].med);
    else
        tgt_add(ts, false, false, "unchanged: open + validate of 1 TiB <= 10 ms", "-");
    w = report_find(r, "device/small");
    w2 = report_find(r, "device/large");
    if (have(w, D_ENG) && have(w2, D_ENG) && w->d[D_ENG].med > 0.0) {
        double x = w2->d[D_ENG].med / w->d[D_ENG].med;
        tgt_add(ts, true, x <= 1.2, "unchanged: claim cost independent of device size (<= 1.2x)",
                "N=8 on %llu / %llu blocks = %.2f (%s ns vs %s ns)", (unsigned long long)w2->dev,
                (unsigned long long)w->dev, x, med(a, sizeof(a), w2, D_ENG),
                med(b, sizeof(b), w, D_ENG));
    } else {
        tgt_add(ts, false, false, "unchanged: claim cost independent of device size (<= 1.2x)",
                "-");
    }
}

static const char *tgt_word(tgt_state s)
{
    return s == TGT_MET ? "MET" : s == TGT_MISSED ? "MISSED" : "n/a";
}

/* Lines of the targets block, each after `prefix`; returns the misses. */
static unsigned targets_print(const report *r, FILE *out, const char *prefix)
{
    targets ts;
    unsigned missed = 0;

    targets_eval(r, &ts);
    fprintf(out,
            "%s%stargets (issue 15; engine vs same-run medians; MET, MISSED, or n/a = not "
            "measured):\n",
            *prefix ? "" : "\n", prefix);
    for (unsigned i = 0; i < ts.n; i++) {
        const target *t = &ts.t[i];
        fprintf(out, "%s  %-7s %-60s %s\n", prefix, tgt_word(t->state), t->what, t->measured);
        missed += t->state != TGT_MET;
    }
    return missed;
}

unsigned report_print_targets(const report *r, FILE *out)
{
    return targets_print(r, out, "");
}

static void csv_stat(FILE *f, const bench_stat *s)
{
    if (s->valid)
        fprintf(f, ",%.10g,%.10g,%.10g", s->med, s->min, s->max);
    else
        fputs(",,,", f);
}

bool report_write_csv(const report *r, const bench_machine *m, const char *path)
{
    FILE *f = fopen(path, "w");
    bool ok;

    if (!f)
        return false;
    fprintf(f,
            "# mhsld benchmark; cpu: %s; cores: %ld; kernel: %s; compiler: %s; load: %s; "
            "date: %s\n",
            m->cpu, m->cores_online, m->kernel, m->compiler, m->load, m->date);
    fputs("key,group,metric,unit,n,dev,range,engine_med,engine_min,engine_max,rfc_med,rfc_min,"
          "rfc_max,mutex_med,mutex_min,mutex_max,x_rfc,x_mutex\n",
          f);
    for (unsigned i = 0; i < r->nrows; i++) {
        const row *w = &r->rows[i];
        double x1 = row_ratio(w, D_RFC), x2 = row_ratio(w, D_MTX);

        /* Fields are ours: a comma in a name becomes ';', so no quoting. */
        fprintf(f, "%s,%s,", w->key, w->group);
        for (const char *c = w->name; *c; c++)
            fputc(*c == ',' ? ';' : *c, f);
        fprintf(f, ",%s,%llu,%llu,%llu", w->unit, (unsigned long long)w->n,
                (unsigned long long)w->dev, (unsigned long long)w->range);
        for (int d = 0; d < D_COUNT; d++)
            csv_stat(f, &w->d[d]);
        if (x1 > 0.0)
            fprintf(f, ",%.4g", x1);
        else
            fputs(",", f);
        if (x2 > 0.0)
            fprintf(f, ",%.4g", x2);
        else
            fputs(",", f);
        fputc('\n', f);
    }
    /* The verdicts too, as comment lines (bench/run.sh's plot skips them). */
    (void)targets_print(r, f, "# ");
    ok = !ferror(f);
    if (fclose(f) != 0)
        ok = false;
    return ok;
}

bool report_write_md(const report *r, const bench_machine *m, const char *path)
{
    FILE *f = fopen(path, "w");
    const char *group = "";
    bool ok;

    if (!f)
        return false;
    fprintf(f, "Machine: %s, %ld cores online, %s; %s; load average at start %s; run %s.\n\n",
            m->cpu, m->cores_online, m->kernel, m->compiler, m->load, m->date);
    fputs("Cells: median [min..max] over the repetitions; ratios: how many times better the "
          "engine is than the baseline, same run.\n",
          f);
    for (unsigned i = 0; i < r->nrows; i++) {
        const row *w = &r->rows[i];
        char c[D_COUNT][112], x1[16], x2[16];

        if (strcmp(group, w->group) != 0) {
            group = w->group;
            fprintf(f, "\n| %s | unit | engine | rfc | mutex | vs rfc | vs mutex |\n", group);
            fputs("| --- | --- | ---: | ---: | ---: | ---: | ---: |\n", f);
        }
        for (int d = 0; d < D_COUNT; d++)
            fmt_stat(c[d], sizeof(c[d]), &w->d[d]);
        fmt_ratio(x1, sizeof(x1), row_ratio(w, D_RFC));
        fmt_ratio(x2, sizeof(x2), row_ratio(w, D_MTX));
        fprintf(f, "| %s | %s | %s | %s | %s | %s | %s |\n", w->name, w->unit, c[D_ENG], c[D_RFC],
                c[D_MTX], x1, x2);
    }
    fputs("\n```text", f);
    (void)report_print_targets(r, f);
    fputs("```\n", f);
    if (r->nnotes) {
        fputs("\nChecks:\n\n", f);
        for (unsigned i = 0; i < r->nnotes; i++)
            fprintf(f, "- %s\n", r->notes[i]);
    }
    ok = !ferror(f);
    if (fclose(f) != 0)
        ok = false;
    return ok;
}
