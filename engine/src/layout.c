/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The shared state's layout: geometry checks, creation and initialisation
 * (race-free between processes), validation of an existing state, mapping,
 * liveness locks, and DPA <-> block-index translation.
 *
 * Trust boundary.  Everything this file reads from the file before the state
 * is accepted is read from a private copy of the header; every offset used
 * afterwards is computed from that validated copy, never read from shared
 * memory.  A state that another process later corrupts can therefore make
 * operations fail, but not move any access outside the mapping.
 *
 * Initialisation.  Creators serialise on an exclusive kernel file lock on a
 * byte reserved for initialisation (released by the kernel if the holder
 * dies); openers of an existing state take the same lock shared, so they
 * wait for an initialiser in progress instead of reading a half-written
 * header.  A state is only (re)written when it is empty, when a previous
 * initialiser died before storing READY, or when REINIT is asked for
 * explicitly: a creator never wipes a live state.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define HUGETLBFS_MAGIC_ 0x958458f6

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

void mhsld_geometry_init(mhsld_geometry *g, uint32_t nr_heads, uint64_t block_size, uint64_t base,
                         uint64_t len)
{
    if (!g)
        return;
    memset(g, 0, sizeof(*g));
    g->size = (uint32_t)sizeof(*g);
    g->nr_heads = nr_heads;
    g->nr_lds = nr_heads;
    g->nr_regions = 1;
    g->block_size = block_size;
    g->regions[0].base = base;
    g->regions[0].len = len;
    memset(g->ld_map, MHSLD_LD_UNASSIGNED, sizeof(g->ld_map));
    for (uint32_t i = 0; i < nr_heads && i < MHSLD_MAX_LDS; i++)
        g->ld_map[i] = (uint8_t)i;
}

static int is_pow2(uint64_t v)
{
    return v && !(v & (v - 1));
}

static uint32_t log2u64(uint64_t v)
{
    uint32_t s = 0;
    while (v > 1) {
        v >>= 1;
        s++;
    }
    return s;
}

mhsld_status mhsld_geometry_check(const mhsld_geometry *g)
{
    if (!g || g->size != sizeof(*g))
        return MHSLD_E_INVAL;
    if (g->nr_heads < 1 || g->nr_heads > MHSLD_MAX_HEADS)
        return MHSLD_E_HEAD;
    if (g->nr_lds < 1 || g->nr_lds > MHSLD_MAX_LDS)
        return MHSLD_E_INVAL;
    for (uint32_t i = 0; i < MHSLD_MAX_LDS; i++) {
        uint8_t m = g->ld_map[i];
        if (m == MHSLD_LD_UNASSIGNED)
            continue;
        if (i >= g->nr_lds || m >= g->nr_heads)
            return MHSLD_E_INVAL;
    }
    uint64_t bs = g->block_size;
    if (!is_pow2(bs) || bs < MHSLD_MIN_BLOCK_SIZE || bs > MHSLD_MAX_BLOCK_SIZE)
        return MHSLD_E_ALIGN;
    if (g->nr_regions < 1 || g->nr_regions > MHSLD_MAX_REGIONS)
        return MHSLD_E_INVAL;
    uint64_t blocks = 0, prev_end = 0;
    for (uint32_t i = 0; i < g->nr_regions; i++) {
        const mhsld_region *r = &g->regions[i];
        if (r->len == 0)
            return MHSLD_E_ZERO_LEN;
        if ((r->base | r->len) & (bs - 1))
            return MHSLD_E_ALIGN;
        if (r->base + r->len < r->base)
            return MHSLD_E_RANGE;
        if (i > 0 && r->base < prev_end)
            return MHSLD_E_OVERLAP;
        if (r->flags & ~MHSLD_REGION_SHARABLE)
            return MHSLD_E_INVAL;
        prev_end = r->base + r->len;
        blocks += r->len / bs;
        if (blocks > MHSLD_MAX_BLOCKS)
            return MHSLD_E_RANGE;
    }
    return MHSLD_OK;
}

mhsld_status mhsld__layout_compute(const mhsld_geometry *g, mhsld__layout *lay)
{
    mhsld_status s = mhsld_geometry_check(g);
    if (s != MHSLD_OK)
        return s;
    uint64_t blocks = 0;
    for (uint32_t i = 0; i < g->nr_regions; i++)
        blocks += g->regions[i].len / g->block_size;
    lay->heads_off = MHSLD__HDR_SIZE;
    lay->slots_off = align_up(lay->heads_off + (uint64_t)g->nr_heads * sizeof(mhsld__headrec), 64);
    lay->occ_off = align_up(lay->slots_off + MHSLD_MAX_SHARED * sizeof(mhsld__slot), 64);
    lay->nr_words = (blocks + 63) / 64;
    lay->occ_shift = lay->nr_words <= MHSLD__OCC_PAD_WORDS ? 6u : 4u;
    lay->owned_off = align_up(lay->occ_off + mhsld__occ_off(lay, lay->nr_words), 64);
    lay->starts_off = lay->owned_off + (uint64_t)g->nr_heads * lay->nr_words * 8;
    lay->sslot_off = lay->starts_off + (uint64_t)g->nr_heads * lay->nr_words * 8;
    lay->fmq_off = align_up(lay->sslot_off + lay->nr_words * 64, 64);
    lay->total = align_up(lay->fmq_off + (uint64_t)g->nr_heads * sizeof(mhsld__fmq), 4096);
    return MHSLD_OK;
}

uint64_t mhsld_state_size(const mhsld_geometry *g)
{
    mhsld__layout lay;
    return mhsld__layout_compute(g, &lay) == MHSLD_OK ? lay.total : 0;
}

static void geom_to_wire(const mhsld_geometry *g, mhsld__wgeom *w)
{
    memset(w, 0, sizeof(*w));
    w->nr_heads = g->nr_heads;
    w->nr_lds = g->nr_lds;
    w->nr_regions = g->nr_regions;
    w->block_shift = log2u64(g->block_size);
    for (uint32_t i = 0; i < g->nr_regions; i++) {
        w->regions[i].base = g->regions[i].base;
        w->regions[i].len = g->regions[i].len;
        w->regions[i].flags = g->regions[i].flags;
        w->regions[i].dsmad_handle = g->regions[i].dsmad_handle;
        w->nr_blocks += g->regions[i].len / g->block_size;
    }
    memcpy(w->ld_map, g->ld_map, sizeof(w->ld_map));
}

/* Wire -> API geometry; refuses any field out of its range. */
static mhsld_status geom_from_wire(const mhsld__wgeom *w, mhsld_geometry *g)
{
    memset(g, 0, sizeof(*g));
    g->size = (uint32_t)sizeof(*g);
    if (w->block_shift < 21 || w->block_shift > 40)
        return MHSLD_E_CORRUPT;
    if (w->nr_regions < 1 || w->nr_regions > MHSLD_MAX_REGIONS)
        return MHSLD_E_CORRUPT;
    g->nr_heads = w->nr_heads;
    g->nr_lds = w->nr_lds;
    g->nr_regions = w->nr_regions;
    g->block_size = 1ull << w->block_shift;
    uint64_t blocks = 0;
    for (uint32_t i = 0; i < w->nr_regions; i++) {
        g->regions[i].base = w->regions[i].base;
        g->regions[i].len = w->regions[i].len;
        g->regions[i].flags = w->regions[i].flags;
        g->regions[i].dsmad_handle = w->regions[i].dsmad_handle;
        blocks += w->regions[i].len >> w->block_shift;
    }
    memcpy(g->ld_map, w->ld_map, sizeof(g->ld_map));
    if (mhsld_geometry_check(g) != MHSLD_OK)
        return MHSLD_E_CORRUPT;
    if (blocks != w->nr_blocks)
        return MHSLD_E_CORRUPT;
    return MHSLD_OK;
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t header_checksum(const mhsld__hdr *h)
{
    uint64_t c = 0xcbf29ce484222325ull;
    c = fnv1a(c, &h->version, sizeof(h->version));
    c = fnv1a(c, &h->total_size, sizeof(h->total_size));
    c = fnv1a(c, &h->hdr_size, sizeof(h->hdr_size));
    c = fnv1a(c, &h->geom, sizeof(h->geom));
    return c;
}

static int geometry_equal(const mhsld_geometry *a, const mhsld_geometry *b)
{
    if (a->nr_heads != b->nr_heads || a->nr_lds != b->nr_lds || a->nr_regions != b->nr_regions ||
        a->block_size != b->block_size)
        return 0;
    for (uint32_t i = 0; i < a->nr_regions; i++) {
        const mhsld_region *x = &a->regions[i], *y = &b->regions[i];
        if (x->base != y->base || x->len != y->len || x->flags != y->flags ||
            x->dsmad_handle != y->dsmad_handle)
            return 0;
    }
    return memcmp(a->ld_map, b->ld_map, sizeof(a->ld_map)) == 0;
}

int mhsld__open_path(const char *path, int flags, mode_t mode)
{
    if (strchr(path, '/'))
        return open(path, flags | O_CLOEXEC, mode);
    char name[NAME_MAX + 2];
    int n = snprintf(name, sizeof(name), "/%s", path);
    if (n < 0 || (size_t)n >= sizeof(name)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return shm_open(name, flags, mode);
}

static int path_ok(const char *path)
{
    if (!path || !*path)
        return 0;
    size_t n = strnlen(path, PATH_MAX);
    if (n >= PATH_MAX)
        return 0;
    if (!strchr(path, '/') &&
        (n > NAME_MAX - 1 || strcmp(path, ".") == 0 || strcmp(path, "..") == 0))
        return 0;
    return 1;
}

static int ofd_lock(int fd, short type, off_t off, int wait)
{
    struct flock fl;
    memset(&fl, 0, sizeof(fl));
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = off;
    fl.l_len = 1;
    for (;;) {
        int r = fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl);
        if (r == 0 || errno != EINTR)
            return r;
    }
}

int mhsld__head_locked(int fd, uint32_t head, int *pid_out)
{
    struct flock fl;
    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = MHSLD__LOCK_BASE + (off_t)head;
    fl.l_len = 1;
    if (fcntl(fd, F_OFD_GETLK, &fl) != 0)
        return -1;
    if (pid_out)
        *pid_out = fl.l_pid;
    return fl.l_type != F_UNLCK;
}

/* A new open file description of the same file (OFD locks belong to it). */
static int reopen(const mhsld_state *st)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/self/fd/%d", st->fd);
    int fd = open(p, O_RDWR | O_CLOEXEC);
    if (fd >= 0)
        return fd;
    fd = mhsld__open_path(st->path, O_RDWR, 0);
    if (fd < 0)
        return -1;
    struct stat a, b;
    if (fstat(fd, &a) != 0 || fstat(st->fd, &b) != 0 || a.st_ino != b.st_ino ||
        a.st_dev != b.st_dev) {
        close(fd);
        errno = ESTALE;
        return -1;
    }
    return fd;
}

static mhsld_status lock_byte(mhsld_state *st, off_t off, mhsld__lockref *r)
{
    r->fd = -1;
    if (mhsld__fork_guard_lock() != 0)
        return MHSLD_E_NOMEM;
    int fd = reopen(st);
    if (fd < 0) {
        mhsld__set_errno(errno);
        mhsld__fork_guard_unlock();
        return MHSLD_E_IO;
    }
    if (ofd_lock(fd, F_WRLCK, off, 0) != 0) {
        int e = errno;
        close(fd);
        mhsld__fork_guard_unlock();
        if (e == EAGAIN || e == EACCES)
            return MHSLD_E_ALIVE;
        mhsld__set_errno(e);
        return MHSLD_E_IO;
    }
    r->fd = fd;
    mhsld__lockref_add(r);
    mhsld__fork_guard_unlock();
    return MHSLD_OK;
}

mhsld_status mhsld__lock_fd(mhsld_state *st, mhsld__lockref *r)
{
    r->fd = -1;
    r->head = NULL;
    if (mhsld__fork_guard_lock() != 0)
        return MHSLD_E_NOMEM;
    int fd = reopen(st);
    if (fd < 0) {
        mhsld__set_errno(errno);
        mhsld__fork_guard_unlock();
        return MHSLD_E_IO;
    }
    r->fd = fd;
    mhsld__lockref_add(r);
    mhsld__fork_guard_unlock();
    return MHSLD_OK;
}

int mhsld__byte_trylock(int fd, off_t off)
{
    if (ofd_lock(fd, F_WRLCK, off, 0) == 0)
        return 0;
    return errno == EAGAIN || errno == EACCES ? 1 : -1;
}

void mhsld__byte_unlock(int fd, off_t off)
{
    (void)ofd_lock(fd, F_UNLCK, off, 0);
}

int mhsld__byte_held(int fd, off_t off)
{
    struct flock fl;
    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = off;
    fl.l_len = 1;
    if (fcntl(fd, F_OFD_GETLK, &fl) != 0)
        return -1;
    return fl.l_type != F_UNLCK;
}

mhsld_status mhsld__lock_head(mhsld_state *st, uint32_t head, mhsld__lockref *r)
{
    return lock_byte(st, MHSLD__LOCK_BASE + (off_t)head, r);
}

mhsld_status mhsld__lock_actor(mhsld_state *st, uint32_t head, mhsld__lockref *r)
{
    mhsld_status s = lock_byte(st, MHSLD__LOCK_ACTOR + (off_t)head, r);
    return s == MHSLD_E_ALIVE ? MHSLD_E_BUSY : s;
}

void mhsld__unlock_head(mhsld__lockref *r)
{
    if (mhsld__fork_guard_lock() != 0)
        return; /* the handlers were never installed: nothing was listed */
    /* A fenced handle in a forked child has no descriptor left (fork.c) but
     * is still listed. */
    mhsld__lockref_del(r);
    if (r->fd >= 0) {
        /* An explicit unlock drops the lock even if some other copy of the
         * descriptor exists (a child created without the fork handlers). */
        struct flock fl;
        memset(&fl, 0, sizeof(fl));
        fl.l_type = F_UNLCK;
        fl.l_whence = SEEK_SET; /* l_start 0, l_len 0: every lock of this description */
        (void)fcntl(r->fd, F_OFD_SETLK, &fl);
        close(r->fd);
        r->fd = -1;
    }
    mhsld__fork_guard_unlock();
}

mhsld_status mhsld__check_size(const mhsld_state *st)
{
    if (!st->regular)
        return MHSLD_OK;
    struct stat sb;
    if (fstat(st->fd, &sb) != 0) {
        mhsld__set_errno(errno);
        return MHSLD_E_IO;
    }
    return (uint64_t)sb.st_size < st->map_len ? MHSLD_E_TRUNCATED : MHSLD_OK;
}

/* Read the header into *h (a private copy).  A regular file is read with
 * pread: if another process has cut it short since its size was checked,
 * that is MHSLD_E_TRUNCATED, not a SIGBUS on a mapping.  A device (DAX)
 * supports only mmap, and cannot be truncated. */
static mhsld_status read_header(int fd, int regular, mhsld__hdr *h)
{
    if (regular) {
        size_t done = 0;
        while (done < sizeof(*h)) {
            ssize_t r = pread(fd, (char *)h + done, sizeof(*h) - done, (off_t)done);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0) {
                mhsld__set_errno(errno);
                return MHSLD_E_IO;
            }
            if (r == 0)
                return MHSLD_E_TRUNCATED;
            done += (size_t)r;
        }
        return MHSLD_OK;
    }
    void *p = mmap(NULL, MHSLD__HDR_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        mhsld__set_errno(errno);
        return MHSLD_E_IO;
    }
    memcpy(h, p, sizeof(*h));
    munmap(p, MHSLD__HDR_SIZE);
    return MHSLD_OK;
}

/* Validate a private header copy; on success fill the API geometry. */
static mhsld_status check_header(const mhsld__hdr *h, mhsld_geometry *g, mhsld__layout *lay)
{
    if (h->magic != MHSLD__MAGIC)
        return MHSLD_E_BAD_MAGIC;
    if (h->bom != MHSLD__BOM)
        return h->bom == __builtin_bswap32(MHSLD__BOM) ? MHSLD_E_ENDIAN : MHSLD_E_CORRUPT;
    if (h->version != MHSLD__VERSION)
        return MHSLD_E_VERSION;
    if (h->init != MHSLD__INIT_READY)
        return MHSLD_E_BUSY;
    if (h->hdr_size != MHSLD__HDR_SIZE)
        return MHSLD_E_CORRUPT;
    if (h->checksum != header_checksum(h))
        return MHSLD_E_CORRUPT;
    mhsld_status s = geom_from_wire(&h->geom, g);
    if (s != MHSLD_OK)
        return s;
    s = mhsld__layout_compute(g, lay);
    if (s != MHSLD_OK)
        return MHSLD_E_CORRUPT;
    if (lay->total != h->total_size)
        return MHSLD_E_CORRUPT;
    return MHSLD_OK;
}

static mhsld_status map_state(mhsld_state *st, uint64_t len)
{
    if (len > (uint64_t)SIZE_MAX)
        return MHSLD_E_RANGE;
    void *p = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, st->fd, 0);
    if (p == MAP_FAILED) {
        mhsld__set_errno(errno);
        return MHSLD_E_IO;
    }
    st->base = p;
    st->map_len = len;
    st->hdr = (mhsld__hdr *)p;
    st->heads = (mhsld__headrec *)(void *)(st->base + st->lay.heads_off);
    st->slots = (mhsld__slot *)(void *)(st->base + st->lay.slots_off);
    st->occ = (mhsld__pair *)(void *)(st->base + st->lay.occ_off);
    st->owned = (uint64_t *)(void *)(st->base + st->lay.owned_off);
    st->starts = (uint64_t *)(void *)(st->base + st->lay.starts_off);
    st->sslot = st->base + st->lay.sslot_off;
    st->fmq = (mhsld__fmq *)(void *)(st->base + st->lay.fmq_off);
    /* MHSLD_NO_PAIR_STORE=1 keeps the CAS: for a CPU that claims AVX but
     * splits 16-byte stores (a software emulator can). */
    const char *nps = getenv("MHSLD_NO_PAIR_STORE");
    st->pair_store = mhsld__store_pair_ok() && !(nps && nps[0] == '1');
    return MHSLD_OK;
}

static void set_derived(mhsld_state *st)
{
    uint64_t idx = 0;
    st->block_shift = log2u64(st->geo.block_size);
    for (uint32_t i = 0; i < st->geo.nr_regions; i++) {
        st->region_first[i] = idx;
        idx += st->geo.regions[i].len >> st->block_shift;
    }
    st->nr_blocks = idx;
}

/* Write a fresh state of geometry g into the (locked) file. */
static mhsld_status initialise(mhsld_state *st, const mhsld_geometry *g, const struct stat *sb)
{
    mhsld_status s = mhsld__layout_compute(g, &st->lay);
    if (s != MHSLD_OK)
        return s;
    uint64_t flen = st->lay.total;
    if (S_ISREG(sb->st_mode)) {
        struct statfs fs;
        if (fstatfs(st->fd, &fs) == 0 && (unsigned long)fs.f_type == HUGETLBFS_MAGIC_ &&
            fs.f_bsize > 0)
            flen = align_up(flen, (uint64_t)fs.f_bsize);
        MHSLD__STEP(); /* crash points: a creator killed here leaves an empty file */
        if ((uint64_t)sb->st_size < flen && ftruncate(st->fd, (off_t)flen) != 0) {
            mhsld__set_errno(errno);
            return MHSLD_E_IO;
        }
    }
    st->geo = *g;
    set_derived(st);
    s = map_state(st, st->lay.total);
    if (s != MHSLD_OK)
        return s;
    mhsld__hdr *h = st->hdr;
    /* Nothing reads a state that is not READY.  Mark it busy (with the magic,
     * so a creator after a crash here recognises its own half-written state
     * and initialises it again) before wiping the rest.  A creator killed
     * before the magic leaves a header of zeros but the init word, which
     * the next creator initialises too (header_fresh). */
    MHSLD__STEP();
    mhsld__store32(&h->init, MHSLD__INIT_BUSY);
    MHSLD__STEP();
    h->magic = MHSLD__MAGIC;
    MHSLD__STEP();
    if (!S_ISREG(sb->st_mode) || sb->st_size > 0) /* a new file reads as zeros already */
        memset(st->base + MHSLD__HDR_SIZE, 0, (size_t)(st->lay.total - MHSLD__HDR_SIZE));
    memset(&h->geom, 0, sizeof(h->geom));
    h->magic = MHSLD__MAGIC;
    h->version = MHSLD__VERSION;
    h->bom = MHSLD__BOM;
    h->total_size = st->lay.total;
    h->hdr_size = MHSLD__HDR_SIZE;
    geom_to_wire(g, &h->geom);
    h->checksum = header_checksum(h);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    h->created_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    /* All-zero pairs, maps and slot bytes are FREE and unheld: nothing to write. */
    MHSLD__STEP();
    mhsld__store32(&h->init, MHSLD__INIT_READY);
    return MHSLD_OK;
}

void mhsld_close(mhsld_state *st)
{
    if (!st)
        return;
    if (st->base)
        munmap(st->base, (size_t)st->map_len);
    if (st->fd >= 0)
        close(st->fd);
    free(st->path);
    free(st);
}

static int any_head_alive(int fd)
{
    for (uint32_t i = 0; i < MHSLD_MAX_HEADS; i++)
        if (mhsld__head_locked(fd, i, NULL) == 1)
            return 1;
    return 0;
}

/* Wait at most wait_ms for the initialisation lock: a process holding it
 * (or frozen inside an initialisation) cannot block an open for longer.
 * The kernel has no timed F_OFD_SETLKW, so poll with a short backoff. */
static mhsld_status init_lock(int fd, short type, uint32_t wait_ms)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    uint64_t t = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
    uint64_t deadline = t + (uint64_t)wait_ms * 1000000ull;
    uint64_t pause = 100000; /* ns, doubling up to 20 ms */
    for (;;) {
        if (ofd_lock(fd, type, MHSLD__LOCK_INIT, 0) == 0)
            return MHSLD_OK;
        if (errno != EAGAIN && errno != EACCES) {
            mhsld__set_errno(errno);
            return MHSLD_E_IO;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        t = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
        if (t >= deadline)
            return MHSLD_E_BUSY;
        uint64_t d = deadline - t < pause ? deadline - t : pause;
        struct timespec ts = {(time_t)(d / 1000000000ull), (long)(d % 1000000000ull)};
        nanosleep(&ts, NULL);
        if (pause < 20000000)
            pause *= 2;
    }
}

/* Open the state's file, listed as a lock holder (the initialisation lock
 * is taken on it) before any fork() can copy it.  CREATE makes a new file
 * with O_EXCL and mode 0600 (*created = 1), or opens the existing one. */
static mhsld_status open_file(const char *path, int create, mhsld__lockref *r, int *created)
{
    r->fd = -1;
    r->head = NULL;
    *created = 0;
    for (int tries = 0;; tries++) {
        if (mhsld__fork_guard_lock() != 0)
            return MHSLD_E_NOMEM;
        int fd = -1, e = 0;
        if (create) {
            fd = mhsld__open_path(path, O_RDWR | O_CREAT | O_EXCL, 0600);
            if (fd >= 0)
                *created = 1;
            else if (errno == EEXIST)
                fd = mhsld__open_path(path, O_RDWR, 0);
        } else {
            fd = mhsld__open_path(path, O_RDWR, 0);
        }
        if (fd >= 0) {
            r->fd = fd;
            mhsld__lockref_add(r);
            mhsld__fork_guard_unlock();
            return MHSLD_OK;
        }
        e = errno;
        mhsld__fork_guard_unlock();
        if (create && e == ENOENT && tries < 8)
            continue; /* removed between the two opens: create it */
        mhsld__set_errno(e);
        return e == ENOENT ? MHSLD_E_NOENT : MHSLD_E_IO;
    }
}

/* An existing regular file is used only if it is private to this user:
 * another owner, or write permission for group or other, would let someone
 * else truncate or rewrite the state under this process; a second link
 * would be a name the owner of another directory controls.  (No link at all
 * is an unlinked or anonymous file, e.g. a memfd reached by /proc/self/fd.) */
static mhsld_status check_private(const struct stat *sb, int created, uint32_t flags)
{
    if (created || !S_ISREG(sb->st_mode) || (flags & MHSLD_OPEN_F_ALLOW_FOREIGN))
        return MHSLD_OK;
    if (sb->st_uid != geteuid() || (sb->st_mode & (S_IWGRP | S_IWOTH)) || sb->st_nlink > 1)
        return MHSLD_E_PERM;
    return MHSLD_OK;
}

/* A header never written beyond the init word: a file just sized by a
 * creator that died before (or while) marking it BUSY. */
static int header_fresh(const mhsld__hdr *h)
{
    if (h->init != MHSLD__INIT_NONE && h->init != MHSLD__INIT_BUSY)
        return 0;
    mhsld__hdr c = *h;
    c.init = 0;
    static const mhsld__hdr zero;
    return memcmp(&c, &zero, sizeof(c)) == 0;
}

mhsld_status mhsld_open(const mhsld_open_opts *opts, mhsld_state **out)
{
    if (!opts || !out || (opts->size != sizeof(*opts) && opts->size != MHSLD_OPEN_OPTS_SIZE_V1) ||
        opts->mode > MHSLD_OPEN_REINIT || !path_ok(opts->path))
        return MHSLD_E_INVAL;
    uint32_t flags = 0, wait_ms = 0;
    if (opts->size >= sizeof(*opts)) {
        flags = opts->flags;
        wait_ms = opts->init_wait_ms;
    }
    if (flags & ~MHSLD_OPEN_F_ALLOW_FOREIGN)
        return MHSLD_E_INVAL;
    if (wait_ms == 0)
        wait_ms = MHSLD_OPEN_INIT_WAIT_DEFAULT_MS;
    *out = NULL;
    int create = opts->mode != MHSLD_OPEN_EXISTING;
    if (create || opts->geometry) {
        mhsld_status gs = mhsld_geometry_check(opts->geometry);
        if (gs != MHSLD_OK)
            return gs;
    }
    mhsld_state *st = calloc(1, sizeof(*st));
    if (!st)
        return MHSLD_E_NOMEM;
    st->fd = -1;
    st->path = strdup(opts->path);
    if (!st->path) {
        free(st);
        return MHSLD_E_NOMEM;
    }
    mhsld__lockref ref;
    int created = 0;
    mhsld_status s = open_file(opts->path, create, &ref, &created);
    if (s != MHSLD_OK)
        goto fail;
    st->fd = ref.fd;
    struct stat sb;
    if (fstat(st->fd, &sb) != 0) {
        mhsld__set_errno(errno);
        s = MHSLD_E_IO;
        goto unlist;
    }
    s = check_private(&sb, created, flags);
    if (s != MHSLD_OK)
        goto unlist;
    s = init_lock(st->fd, create ? F_WRLCK : F_RDLCK, wait_ms);
    if (s != MHSLD_OK)
        goto unlist;
    if (fstat(st->fd, &sb) != 0) {
        mhsld__set_errno(errno);
        s = MHSLD_E_IO;
        goto unlock;
    }
    int regular = S_ISREG(sb.st_mode);
    st->regular = regular;
    mhsld__hdr hdr;
    memset(&hdr, 0, sizeof(hdr));
    int empty = regular && sb.st_size == 0;
    if (!empty) {
        if (regular && (uint64_t)sb.st_size < MHSLD__HDR_SIZE) {
            s = MHSLD_E_TRUNCATED;
            goto unlock;
        }
        MHSLD__STEP(); /* test hook: a co-tenant acts between the checks and the read */
        s = read_header(st->fd, regular, &hdr);
        if (s != MHSLD_OK)
            goto unlock;
    }
    if (opts->mode == MHSLD_OPEN_REINIT ||
        (create && (empty || header_fresh(&hdr) ||
                    (hdr.magic == MHSLD__MAGIC && hdr.init != MHSLD__INIT_READY)))) {
        s = initialise(st, opts->geometry, &sb);
        goto unlock;
    }
    if (empty) {
        s = MHSLD_E_NOENT;
        goto unlock;
    }
    s = check_header(&hdr, &st->geo, &st->lay);
    if (s == MHSLD_E_BUSY)
        s = MHSLD_E_CORRUPT; /* not READY and nobody initialising: the initialiser died */
    if (s != MHSLD_OK)
        goto unlock;
    if (regular && (uint64_t)sb.st_size < st->lay.total) {
        s = MHSLD_E_TRUNCATED;
        goto unlock;
    }
    if (opts->geometry && !geometry_equal(opts->geometry, &st->geo)) {
        s = MHSLD_E_GEOMETRY;
        goto unlock;
    }
    set_derived(st);
    s = map_state(st, st->lay.total);
unlock:
    ofd_lock(st->fd, F_UNLCK, MHSLD__LOCK_INIT, 0);
unlist:
    /* No lock left on this description: a later child may share it. */
    (void)mhsld__fork_guard_lock(); /* installed by open_file */
    mhsld__lockref_del(&ref);
    mhsld__fork_guard_unlock();
    if (s == MHSLD_OK) {
        *out = st;
        return MHSLD_OK;
    }
fail:
    mhsld_close(st);
    return s;
}

mhsld_status mhsld_destroy(const char *path, bool force)
{
    if (!path_ok(path))
        return MHSLD_E_INVAL;
    int fd = mhsld__open_path(path, O_RDWR, 0);
    if (fd < 0) {
        mhsld__set_errno(errno);
        return errno == ENOENT ? MHSLD_E_NOENT : MHSLD_E_IO;
    }
    mhsld_status s = MHSLD_OK;
    if (!force) {
        struct stat sb;
        mhsld__hdr h;
        if (fstat(fd, &sb) != 0) {
            s = MHSLD_E_IO;
        } else if (sb.st_size > 0 && (uint64_t)sb.st_size < MHSLD__HDR_SIZE) {
            s = MHSLD_E_BAD_MAGIC;
        } else if (sb.st_size > 0 && (s = read_header(fd, S_ISREG(sb.st_mode), &h)) == MHSLD_OK &&
                   h.magic != MHSLD__MAGIC) {
            s = MHSLD_E_BAD_MAGIC;
        } else if (s == MHSLD_OK && any_head_alive(fd)) {
            s = MHSLD_E_ALIVE;
        }
    }
    close(fd);
    if (s != MHSLD_OK)
        return s;
    int r = strchr(path, '/') ? unlink(path) : -2;
    if (r == -2) {
        char name[NAME_MAX + 2];
        snprintf(name, sizeof(name), "/%s", path);
        r = shm_unlink(name);
    }
    if (r != 0) {
        mhsld__set_errno(errno);
        return MHSLD_E_IO;
    }
    return MHSLD_OK;
}

mhsld_status mhsld_get_geometry(const mhsld_state *st, mhsld_geometry *out)
{
    if (!st || !out)
        return MHSLD_E_INVAL;
    *out = st->geo;
    return MHSLD_OK;
}

uint64_t mhsld_block_count(const mhsld_state *st)
{
    return st ? st->nr_blocks : 0;
}

/* ---- addresses ---------------------------------------------------------- */

/* Inlined into every request's conversion (a call per extent was a third
 * of a one-block request's conversion cost). */
static inline __attribute__((always_inline)) mhsld_status
dpa_to_range(const mhsld_state *st, uint64_t dpa, uint64_t len, mhsld__bext *out, uint32_t *region)
{
    if (len == 0)
        return MHSLD_E_ZERO_LEN;
    if (dpa + len < dpa)
        return MHSLD_E_RANGE;
    uint64_t mask = st->geo.block_size - 1;
    if ((dpa | len) & mask)
        return MHSLD_E_ALIGN;
    for (uint32_t i = 0; i < st->geo.nr_regions; i++) {
        const mhsld_region *r = &st->geo.regions[i];
        if (dpa < r->base || dpa - r->base >= r->len)
            continue;
        if (len > r->len - (dpa - r->base))
            return MHSLD_E_RANGE;
        out->start = st->region_first[i] + ((dpa - r->base) >> st->block_shift);
        out->count = len >> st->block_shift;
        if (region)
            *region = i;
        return MHSLD_OK;
    }
    return MHSLD_E_RANGE;
}

mhsld_status mhsld__dpa_to_range(const mhsld_state *st, uint64_t dpa, uint64_t len,
                                 mhsld__bext *out, uint32_t *region)
{
    return dpa_to_range(st, dpa, len, out, region);
}

uint32_t mhsld__block_region(const mhsld_state *st, uint64_t idx)
{
    uint32_t r = 0;
    while (r + 1 < st->geo.nr_regions && idx >= st->region_first[r + 1])
        r++;
    return r;
}

uint64_t mhsld__block_dpa(const mhsld_state *st, uint64_t idx)
{
    uint32_t r = mhsld__block_region(st, idx);
    return st->geo.regions[r].base + ((idx - st->region_first[r]) << st->block_shift);
}

mhsld_status mhsld__ranges_from_extents(const mhsld_state *st, const mhsld_extent *ext, size_t n,
                                        mhsld__bext *out, uint32_t *nout)
{
    if (n == 0)
        return MHSLD_E_ZERO_LEN;
    if (!ext)
        return MHSLD_E_INVAL;
    if (n > MHSLD_MAX_EXTENTS)
        return MHSLD_E_TOO_MANY;
    for (size_t i = 0; i < n; i++) {
        mhsld_status s = dpa_to_range(st, ext[i].dpa, ext[i].len, &out[i], NULL);
        if (s != MHSLD_OK)
            return s;
    }
    for (size_t i = 1; i < n; i++) { /* insertion sort: n <= MHSLD_MAX_EXTENTS */
        mhsld__bext v = out[i];
        size_t j = i;
        while (j > 0 && out[j - 1].start > v.start) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = v;
    }
    for (size_t i = 1; i < n; i++)
        if (out[i - 1].start + out[i - 1].count > out[i].start)
            return MHSLD_E_OVERLAP;
    *nout = (uint32_t)n;
    return MHSLD_OK;
}
