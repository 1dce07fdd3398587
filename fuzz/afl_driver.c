/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * AFL++ persistent-mode driver for any LLVMFuzzerTestOneInput target
 * (built with afl-clang-fast).  The input arrives in AFL's shared-memory
 * test case buffer; it is copied into a heap buffer of exactly its size, as
 * the other drivers do, so a read past the end is caught by ASan.  Outside
 * afl-fuzz (no __AFL_LOOP) it reads one input from stdin or each named file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

#ifdef __AFL_FUZZ_TESTCASE_LEN
__AFL_FUZZ_INIT();
#endif

static void run_copy(const uint8_t *data, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        abort();
    if (len)
        memcpy(copy, data, len);
    LLVMFuzzerTestOneInput(copy, len);
    free(copy);
}

static int run_stream(FILE *f)
{
    size_t cap = 1 << 16, len = 0;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return 1;
    for (;;) {
        if (len == cap) {
            uint8_t *nb = cap < (1u << 24) ? realloc(buf, cap * 2) : NULL;
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        if (r == 0)
            break;
        len += r;
    }
    run_copy(buf, len);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
#ifdef __AFL_FUZZ_TESTCASE_LEN
    if (argc < 2) {
        __AFL_INIT();
        const uint8_t *buf = __AFL_FUZZ_TESTCASE_BUF;
        while (__AFL_LOOP(10000)) {
            size_t len = (size_t)__AFL_FUZZ_TESTCASE_LEN;
            run_copy(buf, len);
        }
        return 0;
    }
#endif
    if (argc < 2)
        return run_stream(stdin);
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            perror(argv[i]);
            return 1;
        }
        run_stream(f);
        fclose(f);
    }
    return 0;
}
