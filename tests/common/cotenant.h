/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A co-tenant for tests: its own read-write mapping of a state file, the way
 * another QEMU head maps it, and relaxed stores to write through it while
 * the engine runs.  Needs internal.h (the layout) and testutil.h first.
 */
#ifndef MHSLD_TEST_COTENANT_H
#define MHSLD_TEST_COTENANT_H

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct tu_map {
    uint8_t *map;
    size_t len;
    mhsld__layout lay;
} tu_map;

/* Map the state file at path, whose geometry is g. */
static inline void tu_map_state(tu_map *c, const char *path, const mhsld_geometry *g)
{
    REQUIRE(mhsld__layout_compute(g, &c->lay) == MHSLD_OK);
    int fd = open(path, O_RDWR);
    REQUIRE(fd >= 0);
    c->len = c->lay.total;
    c->map = mmap(NULL, c->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    REQUIRE(c->map != MAP_FAILED);
    close(fd);
}

static inline void tu_unmap_state(tu_map *c)
{
    munmap(c->map, c->len);
}

static inline mhsld__headrec *tu_map_head(const tu_map *c, uint32_t head)
{
    return (mhsld__headrec *)(void *)(c->map + c->lay.heads_off) + head;
}

static inline mhsld__slot *tu_map_slots(const tu_map *c)
{
    return (mhsld__slot *)(void *)(c->map + c->lay.slots_off);
}

/* Word w's occupancy pair (pairs of a small map are a cache line apart). */
static inline mhsld__pair *tu_map_occ(const tu_map *c, uint64_t w)
{
    return (mhsld__pair *)(void *)(c->map + c->lay.occ_off + mhsld__occ_off(&c->lay, w));
}

static inline void tu_w64(void *p, uint64_t v)
{
    __atomic_store_n((uint64_t *)p, v, __ATOMIC_RELAXED);
}

static inline void tu_w32(void *p, uint32_t v)
{
    __atomic_store_n((uint32_t *)p, v, __ATOMIC_RELAXED);
}

#endif /* MHSLD_TEST_COTENANT_H */
