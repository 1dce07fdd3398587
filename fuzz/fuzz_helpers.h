/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Helpers shared by every fuzz target.
 *
 * FUZZ_ASSERT is always on (it does not depend on NDEBUG): a fuzz target that
 * checks properties must check them in every build, release ones included.
 * A failing assertion prints the file, line and condition, then whatever the
 * target registered with fuzz_trace_set_printer() (the program executed so
 * far), and aborts so that libFuzzer, AFL++ and the replay driver all see a
 * crash and keep the input as a reproducer.
 */
#ifndef MHSLD_FUZZ_HELPERS_H
#define MHSLD_FUZZ_HELPERS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define FUZZ_NORETURN __attribute__((noreturn))
#define FUZZ_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define FUZZ_NORETURN
#define FUZZ_PRINTF(a, b)
#endif

/* Print "file:line: message" plus the registered trace, then abort(). */
FUZZ_NORETURN void fuzz_fail(const char *file, int line, const char *fmt, ...) FUZZ_PRINTF(3, 4);

#define FUZZ_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz_fail(__FILE__, __LINE__, "assertion failed: %s", #cond);                          \
    } while (0)

#define FUZZ_ASSERT_MSG(cond, ...)                                                                 \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz_fail(__FILE__, __LINE__, __VA_ARGS__);                                            \
    } while (0)

/* A trace of what the current input did, printed by fuzz_fail().  Bounded:
 * once full, further lines are counted but not kept. */
void fuzz_trace_reset(void);
void fuzz_trace(const char *fmt, ...) FUZZ_PRINTF(1, 2);
/* Print the trace to stderr (fuzz_fail() does it). */
void fuzz_trace_dump(void);

/* Engine defects that are reported but not fixed yet are tolerated where
 * they are detected (each such place says which), so that fuzzing goes on
 * past them; with MHSLD_FUZZ_NO_KNOWN_DEFECTS=1 in the environment they fail
 * like any other finding (their reproducers are corpus/<t>/regress-known-*). */
int fuzz_tolerate_known_defects(void);

/* Little-endian loads and stores for building and checking wire payloads. */
static inline uint16_t fuzz_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (uint16_t)(p[1] << 8));
}
static inline uint32_t fuzz_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t fuzz_le64(const uint8_t *p)
{
    return (uint64_t)fuzz_le32(p) | ((uint64_t)fuzz_le32(p + 4) << 32);
}

#ifdef __cplusplus
}
#endif
#endif
