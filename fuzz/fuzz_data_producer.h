/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A small data producer in the manner of zstd's tests/fuzz/fuzz_data_producer:
 * the fuzz targets read their parameters through it instead of indexing the
 * input by hand.  Every read is bounded; once the input is used up every
 * read returns its minimum (0, false, the low end of a range, zero bytes), so
 * a short input is still a complete, valid program.
 *
 * Reads come from the front of the input, in program order, so that a seed
 * written by gen_corpus.py reads left to right as the program it encodes.
 * fuzz_dp_tail_* take parameters from the end (zstd style), for targets
 * whose front is a payload passed through untouched.
 */
#ifndef MHSLD_FUZZ_DATA_PRODUCER_H
#define MHSLD_FUZZ_DATA_PRODUCER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fuzz_dp {
    const uint8_t *data;
    size_t size; /* bytes not yet consumed: [data, data + size) */
} fuzz_dp;

void fuzz_dp_init(fuzz_dp *dp, const uint8_t *data, size_t size);
size_t fuzz_dp_remaining(const fuzz_dp *dp);
bool fuzz_dp_empty(const fuzz_dp *dp);

/* Front reads. */
uint8_t fuzz_dp_u8(fuzz_dp *dp);
uint16_t fuzz_dp_u16(fuzz_dp *dp);
uint32_t fuzz_dp_u32(fuzz_dp *dp);
uint64_t fuzz_dp_u64(fuzz_dp *dp);
bool fuzz_dp_bool(fuzz_dp *dp);
/* A value in [min, max] (min <= max), reading as few bytes as the range needs. */
uint32_t fuzz_dp_range(fuzz_dp *dp, uint32_t min, uint32_t max);
/* Copy up to n bytes into out, zero-filling what the input cannot supply;
 * returns the number of bytes taken from the input. */
size_t fuzz_dp_bytes(fuzz_dp *dp, void *out, size_t n);

/* Tail reads (parameters taken from the end of the input). */
uint32_t fuzz_dp_tail_range(fuzz_dp *dp, uint32_t min, uint32_t max);

#endif
