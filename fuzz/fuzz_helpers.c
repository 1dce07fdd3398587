/* SPDX-License-Identifier: BSD-2-Clause */
#include "fuzz_helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The trace is thread-local: the threaded target records per thread and
 * merges itself; the sequential targets only ever use one thread. */
#define FUZZ_TRACE_CAP (64u * 1024u)
static _Thread_local char fuzz_trace_buf[FUZZ_TRACE_CAP];
static _Thread_local size_t fuzz_trace_len;
static _Thread_local size_t fuzz_trace_dropped;

void fuzz_trace_reset(void)
{
    fuzz_trace_len = 0;
    fuzz_trace_dropped = 0;
    fuzz_trace_buf[0] = '\0';
}

void fuzz_trace(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = strlen(line);
    if (fuzz_trace_len + len + 2 > FUZZ_TRACE_CAP) {
        fuzz_trace_dropped++;
        return;
    }
    memcpy(fuzz_trace_buf + fuzz_trace_len, line, len);
    fuzz_trace_len += len;
    fuzz_trace_buf[fuzz_trace_len++] = '\n';
    fuzz_trace_buf[fuzz_trace_len] = '\0';
}

void fuzz_trace_dump(void)
{
    if (fuzz_trace_len == 0 && fuzz_trace_dropped == 0)
        return;
    fprintf(stderr, "---- trace of this input (oldest first) ----\n");
    fwrite(fuzz_trace_buf, 1, fuzz_trace_len, stderr);
    if (fuzz_trace_dropped)
        fprintf(stderr, "... %zu more lines not kept\n", fuzz_trace_dropped);
    fprintf(stderr, "---- end of trace ----\n");
}

int fuzz_tolerate_known_defects(void)
{
    static int cached = -1;
    if (cached < 0) {
        const char *v = getenv("MHSLD_FUZZ_NO_KNOWN_DEFECTS");
        cached = !(v && *v && *v != '0');
    }
    return cached;
}

void fuzz_fail(const char *file, int line, const char *fmt, ...)
{
    fflush(stdout);
    fuzz_trace_dump();
    fprintf(stderr, "%s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    abort();
}
