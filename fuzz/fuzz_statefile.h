/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * State files for fuzz targets: an anonymous memfd reached by the path
 * "/proc/self/fd/N", so every input gets a private, real shared-memory file
 * that disappears with the last descriptor (nothing is left in /dev/shm when
 * a fuzzer is killed), and a geometry chosen by the input.
 */
#ifndef MHSLD_FUZZ_STATEFILE_H
#define MHSLD_FUZZ_STATEFILE_H

#include <stddef.h>
#include <stdint.h>

#include "fuzz_data_producer.h"
#include "mhsld/mhsld.h"

typedef struct fuzz_statefile {
    int fd;
    char path[48];
} fuzz_statefile;

/* A new memfd holding `len` bytes copied from `bytes` (NULL: zeroes).  Aborts
 * (FUZZ_ASSERT) if the kernel refuses: that is the harness's failure, not the
 * engine's. */
void fuzz_statefile_create(fuzz_statefile *sf, const void *bytes, size_t len);
void fuzz_statefile_destroy(fuzz_statefile *sf);
/* Size of the file now (the engine may have resized it). */
size_t fuzz_statefile_size(const fuzz_statefile *sf);
/* Copy up to cap bytes of the file into buf; returns the number copied. */
size_t fuzz_statefile_read(const fuzz_statefile *sf, void *buf, size_t cap);

mhsld_status fuzz_state_open(const fuzz_statefile *sf, uint32_t mode, const mhsld_geometry *g,
                             mhsld_state **out);

/* A small valid geometry driven by the input: mostly 2..4 heads, up to max_heads, 1..3 DC
 * regions of 1..40 blocks (up to 120: two 64-block occupancy words) with gaps (and static capacity)
 * in front, some sharable, block size 2 MiB, 4 MiB or 1 GiB, an LD map with unassigned entries.
 * Always passes mhsld_geometry_check() (asserted). */
void fuzz_geometry_from(fuzz_dp *dp, uint32_t max_heads, mhsld_geometry *g);

/* Human-readable one-line description into buf. */
void fuzz_geometry_describe(const mhsld_geometry *g, char *buf, size_t cap);

#endif
