/* SPDX-License-Identifier: BSD-2-Clause */
#include "base_rfc.h"

#include <ck_pr.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define RFC_MAGIC 0x6366722d646c73ull /* "sld-rfc" */

struct rfc_hdr {
    uint64_t magic;
    uint64_t nblocks;
    uint64_t block_size;
    uint64_t pad;
};

struct rfc_state {
    struct rfc_hdr *hdr;
    uint8_t *map;
    uint64_t nblocks;
    uint64_t block_size;
    size_t bytes;
};

static rfc_state *rfc_map(int fd, size_t bytes)
{
    rfc_state *s;
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return NULL;
    s = calloc(1, sizeof(*s));
    if (!s) {
        munmap(p, bytes);
        return NULL;
    }
    s->hdr = p;
    s->map = (uint8_t *)p + sizeof(struct rfc_hdr);
    s->bytes = bytes;
    return s;
}

rfc_state *rfc_create(const char *path, uint64_t nblocks, uint64_t block_size)
{
    rfc_state *s;
    size_t bytes;
    int fd;

    if (nblocks == 0 || nblocks > (1ull << 32) || block_size == 0)
        return NULL;
    bytes = sizeof(struct rfc_hdr) + (size_t)nblocks;
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return NULL;
    if (ftruncate(fd, (off_t)bytes) != 0) {
        close(fd);
        return NULL;
    }
    s = rfc_map(fd, bytes);
    close(fd);
    if (!s)
        return NULL;
    s->hdr->nblocks = nblocks;
    s->hdr->block_size = block_size;
    ck_pr_fence_store();
    ck_pr_store_64(&s->hdr->magic, RFC_MAGIC);
    s->nblocks = nblocks;
    s->block_size = block_size;
    return s;
}

rfc_state *rfc_open(const char *path)
{
    struct stat sb;
    rfc_state *s;
    int fd = open(path, O_RDWR);

    if (fd < 0)
        return NULL;
    if (fstat(fd, &sb) != 0 || sb.st_size < (off_t)sizeof(struct rfc_hdr)) {
        close(fd);
        return NULL;
    }
    s = rfc_map(fd, (size_t)sb.st_size);
    close(fd);
    if (!s)
        return NULL;
    /* The RFC itself checked nothing here; a fair competitor checks the
     * header against the file size so that it never indexes past the map. */
    if (ck_pr_load_64(&s->hdr->magic) != RFC_MAGIC || s->hdr->block_size == 0 ||
        s->hdr->nblocks == 0 || s->hdr->nblocks > s->bytes - sizeof(struct rfc_hdr)) {
        rfc_close(s);
        return NULL;
    }
    s->nblocks = s->hdr->nblocks;
    s->block_size = s->hdr->block_size;
    return s;
}

void rfc_close(rfc_state *s)
{
    if (!s)
        return;
    munmap(s->hdr, s->bytes);
    free(s);
}

uint64_t rfc_nblocks(const rfc_state *s)
{
    return s->nblocks;
}

uint64_t rfc_state_bytes(const rfc_state *s)
{
    return (uint64_t)s->bytes;
}

static bool rfc_args_ok(const rfc_state *s, unsigned head, uint64_t first, uint64_t n)
{
    return head < RFC_MAX_HEADS && n > 0 && first < s->nblocks && n <= s->nblocks - first;
}

static int rfc_claim_impl(rfc_state *s, unsigned head, uint64_t first, uint64_t n,
                          uint64_t die_after)
{
    const uint8_t bit = (uint8_t)(1u << head);
    uint8_t *m;

    if (!rfc_args_ok(s, head, first, n))
        return -1;
    m = s->map + first;
    for (uint64_t i = 0; i < n; i++) {
        if (i == die_after)
            raise(SIGKILL);
        if (!ck_pr_cas_8(&m[i], 0, bit)) {
            /* Roll back exactly the blocks this call claimed. */
            for (uint64_t j = 0; j < i; j++)
                ck_pr_and_8(&m[j], (uint8_t)~bit);
            return 1;
        }
    }
    return 0;
}

int rfc_claim(rfc_state *s, unsigned head, uint64_t first, uint64_t n)
{
    return rfc_claim_impl(s, head, first, n, UINT64_MAX);
}

int rfc_claim_die(rfc_state *s, unsigned head, uint64_t first, uint64_t n, uint64_t die_after)
{
    return rfc_claim_impl(s, head, first, n, die_after);
}

int rfc_release(rfc_state *s, unsigned head, uint64_t first, uint64_t n)
{
    const uint8_t bit = (uint8_t)(1u << head);
    uint8_t *m;

    if (!rfc_args_ok(s, head, first, n))
        return -1;
    m = s->map + first;
    for (uint64_t i = 0; i < n; i++)
        ck_pr_and_8(&m[i], (uint8_t)~bit);
    return 0;
}

bool rfc_access_ok(const rfc_state *s, unsigned head, uint64_t dpa, uint64_t len)
{
    const uint8_t bit = (uint8_t)(1u << head);
    uint64_t first, last;

    if (head >= RFC_MAX_HEADS || len == 0 || dpa + len < dpa)
        return false;
    first = dpa / s->block_size;
    last = (dpa + len - 1u) / s->block_size;
    if (last >= s->nblocks)
        return false;
    for (uint64_t b = first; b <= last; b++) {
        if ((ck_pr_load_8(&s->map[b]) & bit) == 0)
            return false;
    }
    return true;
}

uint64_t rfc_clear_head(rfc_state *s, unsigned head)
{
    const uint8_t bit = (uint8_t)(1u << head);
    uint64_t cleared = 0;

    if (head >= RFC_MAX_HEADS)
        return 0;
    for (uint64_t b = 0; b < s->nblocks; b++) {
        if (ck_pr_load_8(&s->map[b]) & bit) {
            ck_pr_and_8(&s->map[b], (uint8_t)~bit);
            cleared++;
        }
    }
    return cleared;
}

uint8_t rfc_mask(const rfc_state *s, uint64_t block)
{
    if (block >= s->nblocks)
        return 0xFF;
    return ck_pr_load_8(&s->map[block]);
}

uint64_t rfc_validate(const rfc_state *s, unsigned nr_heads)
{
    const uint8_t bad = (uint8_t)(nr_heads >= RFC_MAX_HEADS ? 0u : 0xFFu << nr_heads);
    uint64_t nbad = 0;

    for (uint64_t b = 0; b < s->nblocks; b++)
        nbad += (ck_pr_load_8(&s->map[b]) & bad) != 0;
    return nbad;
}
