/* SPDX-License-Identifier: BSD-2-Clause */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "fuzz_statefile.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_helpers.h"

void fuzz_statefile_create(fuzz_statefile *sf, const void *bytes, size_t len)
{
    sf->fd = memfd_create("mhsld-fuzz", MFD_CLOEXEC);
    FUZZ_ASSERT_MSG(sf->fd >= 0, "memfd_create: %s", strerror(errno));
    /* A memfd is made 0777; the engine uses only files private to their
     * user (mhsld_open: MHSLD_E_PERM otherwise). */
    FUZZ_ASSERT(fchmod(sf->fd, 0600) == 0);
    FUZZ_ASSERT(ftruncate(sf->fd, (off_t)len) == 0);
    if (bytes && len) {
        size_t done = 0;
        while (done < len) {
            ssize_t w = pwrite(sf->fd, (const uint8_t *)bytes + done, len - done, (off_t)done);
            FUZZ_ASSERT_MSG(w > 0, "pwrite: %s", strerror(errno));
            done += (size_t)w;
        }
    }
    snprintf(sf->path, sizeof sf->path, "/proc/self/fd/%d", sf->fd);
}

void fuzz_statefile_destroy(fuzz_statefile *sf)
{
    if (sf->fd >= 0)
        close(sf->fd);
    sf->fd = -1;
}

size_t fuzz_statefile_size(const fuzz_statefile *sf)
{
    struct stat sb;
    FUZZ_ASSERT(fstat(sf->fd, &sb) == 0);
    return (size_t)sb.st_size;
}

size_t fuzz_statefile_read(const fuzz_statefile *sf, void *buf, size_t cap)
{
    size_t size = fuzz_statefile_size(sf);
    size_t want = size < cap ? size : cap;
    size_t done = 0;
    while (done < want) {
        ssize_t r = pread(sf->fd, (uint8_t *)buf + done, want - done, (off_t)done);
        FUZZ_ASSERT_MSG(r > 0, "pread: %s", strerror(errno));
        done += (size_t)r;
    }
    return done;
}

mhsld_status fuzz_state_open(const fuzz_statefile *sf, uint32_t mode, const mhsld_geometry *g,
                             mhsld_state **out)
{
    mhsld_open_opts o;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.mode = mode;
    o.path = sf->path;
    o.geometry = g;
    return mhsld_open(&o, out);
}

void fuzz_geometry_from(fuzz_dp *dp, uint32_t max_heads, mhsld_geometry *g)
{
    static const uint64_t block_sizes[4] = {2ull << 20, 2ull << 20, 4ull << 20, 1ull << 30};
    /* Mostly 2..4 heads (a state's size, and so its set-up cost, grows with
     * the head count), sometimes up to 8, rarely the maximum. */
    uint32_t sel = fuzz_dp_range(dp, 0, 15);
    uint32_t nr_heads = sel < 12 ? 2 + sel % 3 : sel < 15 ? 5 + (sel - 12) * 2 : max_heads;
    if (nr_heads > max_heads)
        nr_heads = max_heads;
    if (nr_heads < 1)
        nr_heads = 1;
    uint64_t bs = block_sizes[fuzz_dp_range(dp, 0, 3)];
    uint32_t nr_regions = fuzz_dp_range(dp, 1, 3);

    /* mhsld_geometry_init fills size, heads, LDs and the identity map. */
    mhsld_geometry_init(g, nr_heads, bs, 0, bs);
    g->nr_regions = nr_regions;
    uint64_t at = (uint64_t)fuzz_dp_range(dp, 0, 4) * bs; /* static capacity in front */
    for (uint32_t r = 0; r < nr_regions; r++) {
        if (r > 0)
            at += (uint64_t)fuzz_dp_range(dp, 0, 2) * bs; /* gap, possibly none */
        uint64_t nblocks = fuzz_dp_range(dp, 1, 40);
        g->regions[r].base = at;
        g->regions[r].len = nblocks * bs;
        g->regions[r].flags = (fuzz_dp_range(dp, 0, 2) == 0) ? MHSLD_REGION_SHARABLE : 0u;
        g->regions[r].dsmad_handle = r;
        at += nblocks * bs;
    }
    for (uint32_t r = nr_regions; r < MHSLD_MAX_REGIONS; r++)
        memset(&g->regions[r], 0, sizeof g->regions[r]);
    /* LD map: identity, then maybe unassign one LD and add spare LDs. */
    uint32_t extra = fuzz_dp_range(dp, 0, 2);
    g->nr_lds = nr_heads + extra;
    for (uint32_t i = 0; i < MHSLD_MAX_LDS; i++)
        g->ld_map[i] = i < nr_heads ? (uint8_t)i : MHSLD_LD_UNASSIGNED;
    mhsld_status st = mhsld_geometry_check(g);
    FUZZ_ASSERT_MSG(st == MHSLD_OK, "harness geometry refused: %s", mhsld_status_name(st));
}

void fuzz_geometry_describe(const mhsld_geometry *g, char *buf, size_t cap)
{
    size_t off = 0;
    int n = snprintf(buf, cap, "heads=%u lds=%u bs=%#llx regions=%u:", g->nr_heads, g->nr_lds,
                     (unsigned long long)g->block_size, g->nr_regions);
    off = n > 0 ? (size_t)n : 0;
    for (uint32_t r = 0; r < g->nr_regions && r < MHSLD_MAX_REGIONS && off < cap; r++) {
        n = snprintf(buf + off, cap - off, " [%#llx+%#llx%s]",
                     (unsigned long long)g->regions[r].base, (unsigned long long)g->regions[r].len,
                     (g->regions[r].flags & MHSLD_REGION_SHARABLE) ? " shared" : "");
        if (n < 0)
            break;
        off += (size_t)n;
    }
}
