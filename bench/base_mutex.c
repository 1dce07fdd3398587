/* SPDX-License-Identifier: BSD-2-Clause */
#include "base_mutex.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MTX_MAGIC 0x78746d2d646c73ull /* "sld-mtx" */

struct mtx_hdr {
    uint64_t magic;
    uint64_t nblocks;
    uint64_t block_size;
    uint64_t owner_dead_seen;
    pthread_mutex_t lock;
    _Alignas(64) uint8_t owner[];
};

struct mtx_state {
    struct mtx_hdr *hdr;
    uint64_t nblocks;
    uint64_t block_size;
    size_t bytes;
};

static mtx_state *mtx_map(int fd, size_t bytes)
{
    mtx_state *s;
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return NULL;
    s = calloc(1, sizeof(*s));
    if (!s) {
        munmap(p, bytes);
        return NULL;
    }
    s->hdr = p;
    s->bytes = bytes;
    return s;
}

mtx_state *mtx_create(const char *path, uint64_t nblocks, uint64_t block_size)
{
    pthread_mutexattr_t a;
    mtx_state *s;
    size_t bytes;
    int fd;

    if (nblocks == 0 || nblocks > (1ull << 32) || block_size == 0)
        return NULL;
    bytes = sizeof(struct mtx_hdr) + (size_t)nblocks;
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return NULL;
    if (ftruncate(fd, (off_t)bytes) != 0) {
        close(fd);
        return NULL;
    }
    s = mtx_map(fd, bytes);
    close(fd);
    if (!s)
        return NULL;
    if (pthread_mutexattr_init(&a) != 0 ||
        pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) != 0 ||
        pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) != 0 ||
        pthread_mutex_init(&s->hdr->lock, &a) != 0) {
        mtx_close(s);
        return NULL;
    }
    pthread_mutexattr_destroy(&a);
    s->hdr->nblocks = nblocks;
    s->hdr->block_size = block_size;
    __atomic_store_n(&s->hdr->magic, MTX_MAGIC, __ATOMIC_RELEASE);
    s->nblocks = nblocks;
    s->block_size = block_size;
    return s;
}

mtx_state *mtx_open(const char *path)
{
    struct stat sb;
    mtx_state *s;
    int fd = open(path, O_RDWR);

    if (fd < 0)
        return NULL;
    if (fstat(fd, &sb) != 0 || sb.st_size < (off_t)sizeof(struct mtx_hdr)) {
        close(fd);
        return NULL;
    }
    s = mtx_map(fd, (size_t)sb.st_size);
    close(fd);
    if (!s)
        return NULL;
    if (__atomic_load_n(&s->hdr->magic, __ATOMIC_ACQUIRE) != MTX_MAGIC || s->hdr->block_size == 0 ||
        s->hdr->nblocks == 0 || s->hdr->nblocks > s->bytes - sizeof(struct mtx_hdr)) {
        mtx_close(s);
        return NULL;
    }
    s->nblocks = s->hdr->nblocks;
    s->block_size = s->hdr->block_size;
    return s;
}

void mtx_close(mtx_state *s)
{
    if (!s)
        return;
    munmap(s->hdr, s->bytes);
    free(s);
}

uint64_t mtx_nblocks(const mtx_state *s)
{
    return s->nblocks;
}

uint64_t mtx_state_bytes(const mtx_state *s)
{
    return (uint64_t)s->bytes;
}

static bool mtx_lock(mtx_state *s)
{
    int r = pthread_mutex_lock(&s->hdr->lock);
    if (r == EOWNERDEAD) {
        /* The previous holder died inside its critical section; its half
         * fill stays as it is (this design has no journal). */
        s->hdr->owner_dead_seen++;
        return pthread_mutex_consistent(&s->hdr->lock) == 0;
    }
    return r == 0;
}

static void mtx_unlock(mtx_state *s)
{
    pthread_mutex_unlock(&s->hdr->lock);
}

static bool mtx_args_ok(const mtx_state *s, unsigned head, uint64_t first, uint64_t n)
{
    return head < MTX_MAX_HEADS && n > 0 && first < s->nblocks && n <= s->nblocks - first;
}

/* Is every byte of p[0..n) equal to v?  Eight bytes at a time. */
static bool all_equal(const uint8_t *p, uint64_t n, uint8_t v)
{
    const uint64_t pattern = 0x0101010101010101ull * v;
    uint64_t i = 0;
    for (; i + 8u <= n; i += 8u) {
        uint64_t w;
        memcpy(&w, p + i, sizeof(w));
        if (w != pattern)
            return false;
    }
    for (; i < n; i++) {
        if (p[i] != v)
            return false;
    }
    return true;
}

static int mtx_claim_impl(mtx_state *s, unsigned head, uint64_t first, uint64_t n,
                          uint64_t die_after)
{
    uint8_t *o;
    int rc = 0;

    if (!mtx_args_ok(s, head, first, n))
        return -1;
    if (!mtx_lock(s))
        return -1;
    o = s->hdr->owner + first;
    if (!all_equal(o, n, 0)) {
        rc = 1;
    } else if (die_after < n) {
        memset(o, (int)(head + 1u), (size_t)die_after);
        raise(SIGKILL);
    } else {
        memset(o, (int)(head + 1u), (size_t)n);
    }
    mtx_unlock(s);
    return rc;
}

int mtx_claim(mtx_state *s, unsigned head, uint64_t first, uint64_t n)
{
    return mtx_claim_impl(s, head, first, n, UINT64_MAX);
}

int mtx_claim_die(mtx_state *s, unsigned head, uint64_t first, uint64_t n, uint64_t die_after)
{
    return mtx_claim_impl(s, head, first, n, die_after);
}

int mtx_release(mtx_state *s, unsigned head, uint64_t first, uint64_t n)
{
    uint8_t *o;
    int rc = 0;

    if (!mtx_args_ok(s, head, first, n))
        return -1;
    if (!mtx_lock(s))
        return -1;
    o = s->hdr->owner + first;
    if (!all_equal(o, n, (uint8_t)(head + 1u)))
        rc = 1;
    else
        memset(o, 0, (size_t)n);
    mtx_unlock(s);
    return rc;
}

bool mtx_access_ok(mtx_state *s, unsigned head, uint64_t dpa, uint64_t len)
{
    uint64_t first, last;
    bool ok;

    if (head >= MTX_MAX_HEADS || len == 0 || dpa + len < dpa)
        return false;
    first = dpa / s->block_size;
    last = (dpa + len - 1u) / s->block_size;
    if (last >= s->nblocks)
        return false;
    if (!mtx_lock(s))
        return false;
    ok = all_equal(s->hdr->owner + first, last - first + 1u, (uint8_t)(head + 1u));
    mtx_unlock(s);
    return ok;
}

uint64_t mtx_clear_head(mtx_state *s, unsigned head)
{
    const uint8_t v = (uint8_t)(head + 1u);
    uint64_t freed = 0;

    if (head >= MTX_MAX_HEADS || !mtx_lock(s))
        return 0;
    for (uint64_t b = 0; b < s->nblocks; b++) {
        if (s->hdr->owner[b] == v) {
            s->hdr->owner[b] = 0;
            freed++;
        }
    }
    mtx_unlock(s);
    return freed;
}

uint8_t mtx_owner(mtx_state *s, uint64_t block)
{
    uint8_t v;
    if (block >= s->nblocks || !mtx_lock(s))
        return 0xFF;
    v = s->hdr->owner[block];
    mtx_unlock(s);
    return v;
}

uint64_t mtx_owner_dead_seen(const mtx_state *s)
{
    return s->hdr->owner_dead_seen;
}

uint64_t mtx_validate(mtx_state *s, unsigned nr_heads)
{
    uint64_t nbad = 0;

    if (!mtx_lock(s))
        return UINT64_MAX;
    for (uint64_t b = 0; b < s->nblocks; b++)
        nbad += s->hdr->owner[b] > nr_heads;
    mtx_unlock(s);
    return nbad;
}
