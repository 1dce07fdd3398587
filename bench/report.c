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
            fprintf(out, "\n%-52s %-9s %-28s %-28s %-28s %8s %8s\n", group, "unit",
                    design_name[D_ENG], design_name[D_RFC], design_name[D_MTX], "vs rfc",
                    "vs mutex");
        }
        for (int d = 0; d < D_COUNT; d++)
            fmt_stat(c[d], sizeof(c[d]), &w->d[d]);
        fmt_ratio(x1, sizeof(x1), row_ratio(w, D_RFC));
        fmt_ratio(x2, sizeof(x2), row_ratio(w, D_MTX));
        fprintf(out, "  %-50s %-9s %-28s %-28s %-28s %8s %8s\n", w->name, w->unit, c[D_ENG],
                c[D_RFC], c[D_MTX], x1, x2);
    }
    if (r->nnotes) {
        fprintf(out, "\nchecks:\n");
        for (unsigned i = 0; i < r->nnotes; i++)
            fprintf(out, "  %s\n", r->notes[i]);
    }
}

/* One target line.  Returns 1 if missed or not measurable. */
static unsigned target_line(FILE *out, bool known, bool met, const char *what, const char *fmt, ...)
    BENCH_PRINTF(5, 6);
static unsigned target_line(FILE *out, bool known, bool met, const char *what, const char *fmt, ...)
{
    va_list ap;
    fprintf(out, "  %-7s %-58s ", !known ? "n/a" : met ? "MET" : "MISSED", what);
    va_start(ap, fmt);
    vfprintf(out, fmt, ap);
    va_end(ap);
    fputc('\n', out);
    return (known && met) ? 0u : 1u;
}

static bool have(const row *w, int d)
{
    return w && w->d[d].valid;
}

unsigned report_print_targets(const report *r, FILE *out)
{
    unsigned missed = 0;
    const row *w, *w2;
    double x;

    fprintf(out, "\ntargets (the engine's speed targets; medians, same-run ratios):\n");

    w = report_find(r, "claim/op/4096");
    w2 = report_find(r, "claim/blk/4096");
    x = w ? row_ratio(w, D_RFC) : 0.0;
    missed += target_line(out, have(w, D_ENG) && have(w, D_RFC) && have(w2, D_ENG),
                          x >= 40.0 && w2 && w2->d[D_ENG].med <= 0.3,
                          "claim+release N=4096 >= 40x rfc, <= 0.3 ns/block",
                          "measured %.1fx rfc, %.3f ns/block", x, w2 ? w2->d[D_ENG].med : 0.0);

    w = report_find(r, "claim/op/1");
    x = w ? row_ratio(w, D_RFC) : 0.0;
    missed +=
        target_line(out, have(w, D_ENG) && have(w, D_RFC), x > 0.0 && 1.0 / x <= 1.5,
                    "claim+release N=1 no slower than 1.5x rfc",
                    "measured engine %.1f ns vs rfc %.1f ns (%.2fx rfc's time)",
                    w ? w->d[D_ENG].med : 0.0, w ? w->d[D_RFC].med : 0.0, x > 0.0 ? 1.0 / x : 0.0);

    /* The header's inlined fast path counts (issue 15); the out-of-line row
     * when it was not measured. */
    w = report_find(r, "access/8B-inline");
    if (!have(w, D_ENG))
        w = report_find(r, "access/8B");
    missed += target_line(out, have(w, D_ENG), w && w->d[D_ENG].med <= 2.0,
                          "access check, 8 B inside one block, <= 2 ns hot",
                          "measured %.2f ns (%s)", w ? w->d[D_ENG].med : 0.0, w ? w->key : "-");
    w = report_find(r, "access/ext/64");
    x = w ? row_ratio(w, D_RFC) : 0.0;
    missed += target_line(out, have(w, D_ENG) && have(w, D_RFC), x >= 10.0,
                          "access check of a 64-block extent >= 10x rfc loop",
                          "measured %.1fx (engine %.2f ns, rfc %.2f ns)", x,
                          w ? w->d[D_ENG].med : 0.0, w ? w->d[D_RFC].med : 0.0);

    for (unsigned i = 0; i < r->nrows; i++) {
        const row *m = &r->rows[i];
        char what[96];
        double want, xr, xm;

        if (strcmp(m->group, "mp") != 0 || strcmp(m->unit, "claims/s") != 0)
            continue;
        want = m->range >= 512u ? 10.0 : 2.0;
        xr = row_ratio(m, D_RFC);
        xm = row_ratio(m, D_MTX);
        snprintf(what, sizeof(what), "2 procs, dev %llu, 1-%llu: >= %.0fx rfc, >= mutex",
                 (unsigned long long)m->dev, (unsigned long long)m->range, want);
        missed += target_line(
            out, have(m, D_ENG) && have(m, D_RFC) && have(m, D_MTX), xr >= want && xm >= 1.0, what,
            "measured %.2fx rfc, %.2fx mutex (engine %.0f claims/s)", xr, xm, m->d[D_ENG].med);
    }

    w = report_find(r, "open/open");
    missed += target_line(out, have(w, D_ENG), w && w->d[D_ENG].med <= 10.0,
                          "open of the 1 TiB state (header+geometry checked) <= 10 ms",
                          "measured %.3f ms", w ? w->d[D_ENG].med : 0.0);
    w = report_find(r, "open/validate");
    missed += target_line(out, have(w, D_ENG), w && w->d[D_ENG].med <= 10.0,
                          "open + mhsld_validate of every block, 1 TiB, <= 10 ms",
                          "measured %.3f ms", w ? w->d[D_ENG].med : 0.0);

    w = report_find(r, "device/small");
    w2 = report_find(r, "device/large");
    x = (have(w, D_ENG) && have(w2, D_ENG) && w->d[D_ENG].med > 0.0)
            ? w2->d[D_ENG].med / w->d[D_ENG].med
            : 0.0;
    missed += target_line(out, x > 0.0, x > 0.0 && x <= 1.2,
                          "claim of 8 blocks independent of device size (<= 1.2x)",
                          "measured large/small = %.2f (%.1f ns vs %.1f ns)", x,
                          w2 ? w2->d[D_ENG].med : 0.0, w ? w->d[D_ENG].med : 0.0);
    return missed;
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
