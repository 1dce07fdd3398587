/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests of every engine operation and every error it returns. */
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "internal.h"
#include "mhsld/testing.h"
#include "testutil.h"

static mhsld_geometry geo2(uint32_t heads, uint64_t blocks)
{
    mhsld_geometry g;
    mhsld_geometry_init(&g, heads, BS, 0, blocks * BS);
    return g;
}

static void test_geometry(void)
{
    mhsld_geometry g = geo2(2, 64);
    CHECK_OK(mhsld_geometry_check(&g));
    CHECK(mhsld_state_size(&g) > 0);
    mhsld_geometry b = g;
    b.size = 3;
    CHECK_ST(mhsld_geometry_check(&b), MHSLD_E_INVAL);
    CHECK_ST(mhsld_geometry_check(NULL), MHSLD_E_INVAL);
    b = g;
    b.nr_heads = 0;
    CHECK_ST(mhsld_geometry_check(&b), MHSLD_E_HEAD);
    b.nr_heads = MHSLD_MAX_HEADS + 1;
    CHECK_ST(mhsld_geometry_check(&b), MHSLD_E_HEAD);
    b = g;
    b.block_size = 3 * MiB;
    CHECK_ST(mhsld_geometry_check(&b), MHSLD_E_ALIGN);
    b.block_size = MiB;
    CHECK_ST(mhsld_geometry_check(&b), MHSLD_E_ALIGN);
    b = g;
    b.regions[0].len = 0;
    CHECK_ST(mhsld_geometry_check(&b), MHSLD_E_ZERO_LEN);
    b = g;
    b.regions[0].base = MiB;
    CHECK_ST(mhsld_geometry_check(&b), MHSLD_E_ALIGN);
    b = g;
    b.nr_regions = 2;
    b.regions[1].base = 32 * BS;
    b.regions[1].len = 8 * BS;
    CHECK_ST(mhsld_geometry_check(&b), MHSLD_E_OVERLAP);
    b.regions[1].base = 64 * BS;
    CHECK_OK(mhsld_geometry_check(&b));
    b = g;
    b.ld_map[5] = 1; /* LD 5 >= nr_lds */
    CHECK_ST(mhsld_geometry_check(&b), MHSLD_E_INVAL);
    b = g;
    b.ld_map[1] = 7; /* head 7 >= nr_heads */
    CHECK_ST(mhsld_geometry_check(&b), MHSLD_E_INVAL);
    b = g;
    b.regions[0].base = UINT64_MAX - BS + 1; /* aligned, but base + len wraps */
    b.regions[0].len = 2 * BS;
    CHECK_ST(mhsld_geometry_check(&b), MHSLD_E_RANGE);
    /* The design wants 16 heads at least: the maximum (32) is usable. */
    b = geo2(MHSLD_MAX_HEADS, 64);
    CHECK_OK(mhsld_geometry_check(&b));
    CHECK(strcmp(mhsld_strerror(MHSLD_E_CONFLICT), "block already held") == 0);
    CHECK(strcmp(mhsld_strerror((mhsld_status)999), "unknown status") == 0);
    for (int s = 0; s < MHSLD_E__COUNT; s++)
        CHECK(strncmp(mhsld_status_name((mhsld_status)s), "MHSLD_", 6) == 0);
}

static void test_open(void)
{
    char p[128];
    tu_path(p, sizeof(p), "open");
    mhsld_geometry g = geo2(2, 64);
    mhsld_open_opts o = {
        .size = sizeof(o), .mode = MHSLD_OPEN_EXISTING, .path = p, .geometry = NULL};
    mhsld_state *st = NULL;
    CHECK_ST(mhsld_open(&o, &st), MHSLD_E_NOENT);
    CHECK(st == NULL);
    o.size = 1;
    CHECK_ST(mhsld_open(&o, &st), MHSLD_E_INVAL);
    o.size = sizeof(o);
    o.path = "";
    CHECK_ST(mhsld_open(&o, &st), MHSLD_E_INVAL);
    o.path = p;
    o.mode = MHSLD_OPEN_CREATE; /* create needs a geometry */
    CHECK_ST(mhsld_open(&o, &st), MHSLD_E_INVAL);
    o.mode = 7;
    CHECK_ST(mhsld_open(&o, &st), MHSLD_E_INVAL);

    mhsld_state *a = tu_create(p, &g);
    mhsld_state *b = tu_create(p, &g); /* joins: never wipes */
    mhsld_head *h0 = tu_attach(a, 0);
    CHECK_OK(tu_claim(h0, 0, 4 * BS));
    mhsld_state *c = tu_create(p, &g);
    uint32_t owner;
    CHECK(tu_block_state(c, 0, &owner) == MHSLD_BLOCK_OWNED && owner == 0);
    mhsld_geometry g3 = geo2(3, 64);
    o.mode = MHSLD_OPEN_CREATE;
    o.geometry = &g3;
    mhsld_state *d = NULL;
    CHECK_ST(mhsld_open(&o, &d), MHSLD_E_GEOMETRY);
    o.mode = MHSLD_OPEN_EXISTING;
    CHECK_ST(mhsld_open(&o, &d), MHSLD_E_GEOMETRY);
    o.geometry = NULL;
    CHECK_OK(mhsld_open(&o, &d));
    mhsld_geometry got;
    CHECK_OK(mhsld_get_geometry(d, &got));
    CHECK(got.nr_heads == 2 && got.block_size == BS && mhsld_block_count(d) == 64);
    CHECK(got.ld_map[0] == 0 && got.ld_map[1] == 1 && got.ld_map[2] == MHSLD_LD_UNASSIGNED);
    mhsld_close(d);
    /* destroy refuses while a head is attached; the state survives closes */
    CHECK_ST(mhsld_destroy(p, false), MHSLD_E_ALIVE);
    mhsld_detach(h0);
    mhsld_close(a);
    mhsld_close(b);
    CHECK(access(p, F_OK) == 0);
    CHECK_VALID(c);
    mhsld_close(c);
    /* REINIT is explicit */
    o.mode = MHSLD_OPEN_REINIT;
    o.geometry = &g;
    CHECK_OK(mhsld_open(&o, &d));
    CHECK(tu_block_state(d, 0, NULL) == MHSLD_BLOCK_FREE);
    mhsld_close(d);
    CHECK_OK(mhsld_destroy(p, false));
    CHECK_ST(mhsld_destroy(p, false), MHSLD_E_NOENT);
    /* shm names work too */
    char name[64];
    snprintf(name, sizeof(name), "mhsld-test-shm-%d", (int)getpid());
    st = tu_create(name, &g);
    mhsld_close(st);
    st = tu_open(name);
    mhsld_close(st);
    CHECK_OK(mhsld_destroy(name, false));
}

/* Corrupt one field of a fresh state file and check the error. */
static mhsld_status open_corrupted(size_t off, const void *bytes, size_t n, off_t truncate_to)
{
    char p[128];
    tu_path(p, sizeof(p), "corrupt");
    mhsld_geometry g = geo2(2, 64);
    mhsld_close(tu_create(p, &g));
    int fd = open(p, O_RDWR);
    REQUIRE(fd >= 0);
    if (n)
        REQUIRE(pwrite(fd, bytes, n, (off_t)off) == (ssize_t)n);
    if (truncate_to >= 0)
        REQUIRE(ftruncate(fd, truncate_to) == 0);
    close(fd);
    mhsld_open_opts o = {
        .size = sizeof(o), .mode = MHSLD_OPEN_EXISTING, .path = p, .geometry = NULL};
    mhsld_state *st = NULL;
    mhsld_status s = mhsld_open(&o, &st);
    mhsld_close(st);
    mhsld_destroy(p, true);
    return s;
}

static void test_corrupt_states(void)
{
    uint64_t v64 = 0x1234;
    uint32_t v32;
    CHECK_ST(open_corrupted(offsetof(mhsld__hdr, magic), &v64, 8, -1), MHSLD_E_BAD_MAGIC);
    v32 = __builtin_bswap32(MHSLD__BOM);
    CHECK_ST(open_corrupted(offsetof(mhsld__hdr, bom), &v32, 4, -1), MHSLD_E_ENDIAN);
    v32 = 99;
    CHECK_ST(open_corrupted(offsetof(mhsld__hdr, version), &v32, 4, -1), MHSLD_E_VERSION);
    v32 = 1000; /* nr_heads beyond the compiled limit */
    CHECK_ST(
        open_corrupted(offsetof(mhsld__hdr, geom) + offsetof(mhsld__wgeom, nr_heads), &v32, 4, -1),
        MHSLD_E_CORRUPT);
    v32 = 250; /* nr_lds: the RFC looped over an 8-entry map with it */
    CHECK_ST(
        open_corrupted(offsetof(mhsld__hdr, geom) + offsetof(mhsld__wgeom, nr_lds), &v32, 4, -1),
        MHSLD_E_CORRUPT);
    v64 = 1ull << 40; /* nr_blocks: the RFC's reset looped to it */
    CHECK_ST(
        open_corrupted(offsetof(mhsld__hdr, geom) + offsetof(mhsld__wgeom, nr_blocks), &v64, 8, -1),
        MHSLD_E_CORRUPT);
    v64 = 4096;
    CHECK_ST(open_corrupted(offsetof(mhsld__hdr, total_size), &v64, 8, -1), MHSLD_E_CORRUPT);
    CHECK_ST(open_corrupted(0, NULL, 0, 8192), MHSLD_E_TRUNCATED);
    CHECK_ST(open_corrupted(0, NULL, 0, 100), MHSLD_E_TRUNCATED);
    v32 = MHSLD__INIT_BUSY; /* an initialiser that died */
    CHECK_ST(open_corrupted(offsetof(mhsld__hdr, init), &v32, 4, -1), MHSLD_E_CORRUPT);
    /* a foreign file is never clobbered by CREATE */
    char p[128];
    tu_path(p, sizeof(p), "foreign");
    int fd = open(p, O_RDWR | O_CREAT, 0600);
    REQUIRE(fd >= 0);
    char junk[8192];
    memset(junk, 'x', sizeof(junk));
    REQUIRE(write(fd, junk, sizeof(junk)) == (ssize_t)sizeof(junk));
    close(fd);
    mhsld_geometry g = geo2(2, 64);
    mhsld_open_opts o = {.size = sizeof(o), .mode = MHSLD_OPEN_CREATE, .path = p, .geometry = &g};
    mhsld_state *st = NULL;
    CHECK_ST(mhsld_open(&o, &st), MHSLD_E_BAD_MAGIC);
    CHECK_ST(mhsld_destroy(p, false), MHSLD_E_BAD_MAGIC);
    CHECK_OK(mhsld_destroy(p, true));
}

static void test_reserve_errors(void)
{
    char p[128];
    tu_path(p, sizeof(p), "resv");
    mhsld_geometry g;
    mhsld_geometry_init(&g, 3, BS, 4 * GiB, 64 * BS); /* static capacity in front */
    mhsld_state *st = tu_create(p, &g);
    mhsld_head *h0 = tu_attach(st, 0), *h1 = tu_attach(st, 1);
    const uint64_t B = 4 * GiB;
    uint64_t grp = 0;
    mhsld_conflict c;
    mhsld_extent e[MHSLD_MAX_EXTENTS + 1];
    e[0] = tu_ext(B, 0);
    CHECK_ST(mhsld_reserve(h0, e, 1, &grp, NULL), MHSLD_E_ZERO_LEN);
    CHECK_ST(mhsld_reserve(h0, e, 0, &grp, NULL), MHSLD_E_ZERO_LEN);
    CHECK_ST(mhsld_reserve(h0, NULL, 1, &grp, NULL), MHSLD_E_INVAL);
    CHECK_ST(mhsld_reserve(NULL, e, 1, &grp, NULL), MHSLD_E_INVAL);
    e[0] = tu_ext(B + MiB, BS);
    CHECK_ST(mhsld_reserve(h0, e, 1, &grp, NULL), MHSLD_E_ALIGN);
    e[0] = tu_ext(B, MiB);
    CHECK_ST(mhsld_reserve(h0, e, 1, &grp, NULL), MHSLD_E_ALIGN);
    e[0] = tu_ext(0, BS); /* static capacity, not DC */
    CHECK_ST(mhsld_reserve(h0, e, 1, &grp, NULL), MHSLD_E_RANGE);
    e[0] = tu_ext(B + 63 * BS, 2 * BS); /* runs past the region */
    CHECK_ST(mhsld_reserve(h0, e, 1, &grp, NULL), MHSLD_E_RANGE);
    e[0].dpa = (UINT64_MAX / BS) * BS;
    e[0].len = 2 * BS; /* dpa + len overflows */
    CHECK_ST(mhsld_reserve(h0, e, 1, &grp, NULL), MHSLD_E_RANGE);
    e[0] = tu_ext(B, 4 * BS);
    e[1] = tu_ext(B + 3 * BS, BS);
    CHECK_ST(mhsld_reserve(h0, e, 2, &grp, NULL), MHSLD_E_OVERLAP);
    e[1] = tu_ext(B, BS); /* identical extent twice */
    CHECK_ST(mhsld_reserve(h0, e, 2, &grp, NULL), MHSLD_E_OVERLAP);
    for (uint32_t i = 0; i <= MHSLD_MAX_EXTENTS; i++)
        e[i] = tu_ext(B + (i % 64) * BS, BS);
    CHECK_ST(mhsld_reserve(h0, e, MHSLD_MAX_EXTENTS + 1, &grp, NULL), MHSLD_E_TOO_MANY);
    mhsld_head *hx = NULL;
    CHECK_ST(mhsld_attach(st, 3, 0, &hx), MHSLD_E_HEAD); /* only 3 heads */
    CHECK(hx == NULL);
    CHECK_VALID(st);
    CHECK(tu_block_state(st, B, NULL) == MHSLD_BLOCK_FREE);

    /* conflict: names the first held block and its owner; all-or-nothing */
    e[0] = tu_ext(B + 8 * BS, 4 * BS);
    CHECK_OK(mhsld_reserve(h1, e, 1, &grp, NULL));
    e[0] = tu_ext(B, 2 * BS);       /* free */
    e[1] = tu_ext(B + 10 * BS, BS); /* pending for head 1 */
    memset(&c, 0, sizeof(c));
    CHECK_ST(mhsld_reserve(h0, e, 2, &grp, &c), MHSLD_E_CONFLICT);
    CHECK(c.dpa == B + 10 * BS && c.owner == 1 && c.state == MHSLD_BLOCK_PENDING);
    CHECK(tu_block_state(st, B, NULL) == MHSLD_BLOCK_FREE);
    /* the same head cannot reserve what it already holds */
    e[0] = tu_ext(B + 9 * BS, BS);
    CHECK_ST(mhsld_reserve(h1, e, 1, &grp, &c), MHSLD_E_CONFLICT);
    CHECK(c.owner == 1);
    CHECK_VALID(st);
    /* the pending table has a limit, reported without side effects */
    for (uint32_t i = 0; i < MHSLD_MAX_PENDING - 1; i++) {
        e[0] = tu_ext(B + (20 + i) * BS, BS);
        CHECK_OK(mhsld_reserve(h1, e, 1, &grp, NULL));
    }
    e[0] = tu_ext(B + 40 * BS, BS);
    CHECK_ST(mhsld_reserve(h1, e, 1, &grp, NULL), MHSLD_E_NOSPACE);
    CHECK(tu_block_state(st, B + 40 * BS, NULL) == MHSLD_BLOCK_FREE);
    CHECK_VALID(st);
    mhsld_detach(h0);
    mhsld_detach(h1);
    mhsld_close(st);
    mhsld_destroy(p, true);
}

static void test_commit_release(void)
{
    char p[128];
    tu_path(p, sizeof(p), "commit");
    mhsld_geometry g = geo2(2, 256);
    mhsld_state *st = tu_create(p, &g);
    mhsld_head *h0 = tu_attach(st, 0), *h1 = tu_attach(st, 1);
    mhsld_extent e[4], a[4];
    uint64_t g1 = 0, g2 = 0, oldest = 0;
    e[0] = tu_ext(0, 8 * BS);
    e[1] = tu_ext(100 * BS, 4 * BS);
    CHECK_OK(mhsld_reserve(h0, e, 2, &g1, NULL));
    e[0] = tu_ext(200 * BS, 2 * BS);
    CHECK_OK(mhsld_reserve(h0, e, 1, &g2, NULL));
    CHECK(g1 != g2 && g1 && g2);
    CHECK_OK(mhsld_pending_oldest(h0, &oldest));
    CHECK(oldest == g1);
    uint64_t ids[MHSLD_MAX_PENDING];
    size_t nid = 0;
    CHECK_OK(mhsld_pending_list(h0, ids, MHSLD_MAX_PENDING, &nid));
    CHECK(nid == 2 && ids[0] == g1 && ids[1] == g2);
    CHECK_OK(mhsld_pending_list(h0, ids, 1, &nid));
    CHECK(nid == 2 && ids[0] == g1);
    CHECK_ST(mhsld_pending_list(h0, NULL, 1, &nid), MHSLD_E_INVAL);
    size_t n = 0;
    CHECK_OK(mhsld_pending_get(h0, g1, a, 4, &n));
    CHECK(n == 2 && a[0].dpa == 0 && a[0].len == 8 * BS && a[1].dpa == 100 * BS);
    /* pending capacity is not accessible yet, and belongs to nobody else */
    CHECK(!mhsld_access_ok(h0, 0, 8));
    CHECK(!mhsld_access_ok(h1, 0, 8));
    /* accept a subset: the rest is free at once for the other head */
    a[0] = tu_ext(2 * BS, 2 * BS);
    a[1] = tu_ext(100 * BS, 4 * BS);
    a[2] = tu_ext(50 * BS, BS); /* not part of the reservation */
    CHECK_ST(mhsld_commit(h0, g1, a, 3), MHSLD_E_NOT_IN_GROUP);
    CHECK_ST(mhsld_commit(h0, 12345, a, 2), MHSLD_E_NO_GROUP);
    CHECK_ST(mhsld_commit(h1, g1, a, 2), MHSLD_E_NO_GROUP); /* another head's reservation */
    CHECK_ST(mhsld_commit(h0, g1, NULL, 2), MHSLD_E_INVAL);
    uint32_t gen0 = 0, gen1 = 0;
    CHECK_OK(mhsld_extents_get(st, 0, MHSLD_EXT_OWNED, 0, NULL, NULL, 0, NULL, NULL, &gen0));
    CHECK_OK(mhsld_commit(h0, g1, a, 2));
    CHECK_OK(mhsld_extents_get(st, 0, MHSLD_EXT_OWNED, 0, NULL, NULL, 0, NULL, NULL, &gen1));
    CHECK(gen1 != gen0);
    CHECK(mhsld_access_ok(h0, 2 * BS, 8) && mhsld_access_ok(h0, 100 * BS, 4 * BS));
    CHECK(!mhsld_access_ok(h0, 0, 8) && !mhsld_access_ok(h0, 4 * BS, 8));
    CHECK_OK(tu_claim(h1, 0, 2 * BS)); /* unaccepted blocks are free immediately */
    CHECK_OK(tu_claim(h1, 4 * BS, 4 * BS));
    CHECK_ST(mhsld_commit(h0, g1, NULL, 0), MHSLD_E_NO_GROUP); /* settled already */
    /* accept nothing: all of it returns */
    CHECK_OK(mhsld_commit(h0, g2, NULL, 0));
    CHECK(tu_block_state(st, 200 * BS, NULL) == MHSLD_BLOCK_FREE);
    CHECK_ST(mhsld_pending_oldest(h0, &oldest), MHSLD_E_NO_GROUP);
    CHECK_VALID(st);

    /* extent lists */
    mhsld_extent list[8];
    size_t ret = 0, total = 0;
    CHECK_OK(mhsld_extents_get(st, 0, MHSLD_EXT_OWNED, 0, list, NULL, 8, &ret, &total, NULL));
    CHECK(ret == 2 && total == 2 && list[0].dpa == 2 * BS && list[0].len == 2 * BS &&
          list[1].dpa == 100 * BS && list[1].len == 4 * BS);
    CHECK_OK(mhsld_extents_get(st, 0, MHSLD_EXT_OWNED, 1, list, NULL, 8, &ret, &total, NULL));
    CHECK(ret == 1 && total == 2 && list[0].dpa == 100 * BS);

    /* release: only an owner, all-or-nothing */
    mhsld_conflict c;
    e[0] = tu_ext(2 * BS, 2 * BS);
    e[1] = tu_ext(0, BS); /* head 1's */
    CHECK_ST(mhsld_release(h0, e, 2, &c), MHSLD_E_NOT_OWNER);
    CHECK(c.dpa == 0 && c.owner == 1);
    CHECK(mhsld_access_ok(h0, 2 * BS, 8));
    e[0] = tu_ext(150 * BS, BS); /* free */
    CHECK_ST(mhsld_release(h0, e, 1, &c), MHSLD_E_NOT_OWNER);
    CHECK(c.owner == MHSLD_OWNER_NONE);
    e[0] = tu_ext(2 * BS, 2 * BS);
    CHECK_OK(mhsld_release(h0, e, 1, NULL));
    CHECK(!mhsld_access_ok(h0, 2 * BS, 8));
    CHECK_ST(mhsld_release(h0, e, 1, NULL), MHSLD_E_NOT_OWNER); /* twice */
    /* release part of an extent */
    e[0] = tu_ext(101 * BS, BS);
    CHECK_OK(mhsld_release(h0, e, 1, NULL));
    CHECK(mhsld_access_ok(h0, 100 * BS, BS) && !mhsld_access_ok(h0, 100 * BS, 2 * BS) &&
          mhsld_access_ok(h0, 102 * BS, 2 * BS));
    CHECK_VALID(st);

    /* release_all (device reset) */
    e[0] = tu_ext(220 * BS, BS);
    CHECK_OK(mhsld_reserve(h0, e, 1, &g1, NULL));
    uint64_t freed = 0;
    CHECK_OK(mhsld_release_all(h0, &freed));
    CHECK(freed == 4); /* 100, 102, 103 owned + 220 pending */
    mhsld_head_info hi;
    CHECK_OK(mhsld_head_info_get(st, 0, &hi));
    CHECK(hi.owned_blocks == 0 && hi.pending_blocks == 0 && hi.nr_pending == 0 && hi.alive);
    CHECK_OK(mhsld_head_info_get(st, 1, &hi));
    CHECK(hi.owned_blocks == 6);
    CHECK_ST(mhsld_head_info_get(st, 2, &hi), MHSLD_E_HEAD);
    CHECK_VALID(st);
    mhsld_detach(h0);
    mhsld_detach(h1);
    mhsld_close(st);
    mhsld_destroy(p, true);
}

static void test_access(void)
{
    char p[128];
    tu_path(p, sizeof(p), "access");
    mhsld_geometry g;
    mhsld_geometry_init(&g, 2, BS, 1 * GiB, 8 * BS);
    g.nr_regions = 2;
    g.regions[1].base = 1 * GiB + 8 * BS; /* adjacent second region */
    g.regions[1].len = 8 * BS;
    mhsld_state *st = tu_create(p, &g);
    mhsld_head *h0 = tu_attach(st, 0), *h1 = tu_attach(st, 1);
    const uint64_t B = 1 * GiB;
    CHECK_OK(tu_claim(h0, B + 6 * BS, 2 * BS));
    CHECK_OK(tu_claim(h0, B + 8 * BS, BS));
    CHECK_OK(tu_claim(h1, B + 9 * BS, BS));
    CHECK(mhsld_access_ok(h0, B + 6 * BS, 8));
    CHECK(mhsld_access_ok(h0, B + 6 * BS + 13, 3));      /* unaligned, sub-block */
    CHECK(mhsld_access_ok(h0, B + 7 * BS - 4, 8));       /* crosses two owned blocks */
    CHECK(mhsld_access_ok(h0, B + 8 * BS - 4, 8));       /* crosses into region 2 */
    CHECK(!mhsld_access_ok(h0, B + 9 * BS - 4, 8));      /* last byte is head 1's */
    CHECK(!mhsld_access_ok(h0, B + 6 * BS - 1, 2));      /* first byte unowned */
    CHECK(!mhsld_access_ok(h0, B + 9 * BS, 8));          /* head 1's block */
    CHECK(mhsld_access_ok(h1, B + 9 * BS + BS - 8, 8));  /* last bytes of a block */
    CHECK(!mhsld_access_ok(h1, B + 9 * BS + BS - 8, 9)); /* one past it */
    CHECK(!mhsld_access_ok(h0, B, 8));                   /* nobody's */
    CHECK(!mhsld_access_ok(h0, 0, 8));                   /* outside every region */
    CHECK(!mhsld_access_ok(h0, B + 16 * BS, 8));         /* past the last region */
    CHECK(!mhsld_access_ok(h0, B + 6 * BS, 0));          /* empty */
    CHECK(!mhsld_access_ok(h0, UINT64_MAX - 3, 8));      /* wraps */
    CHECK(!mhsld_access_ok(NULL, B + 6 * BS, 8));
    mhsld_detach(h0);
    mhsld_detach(h1);
    mhsld_close(st);
    mhsld_destroy(p, true);
}

static void test_shared(void)
{
    char p[128];
    tu_path(p, sizeof(p), "shared");
    mhsld_geometry g;
    mhsld_geometry_init(&g, 3, BS, 0, 32 * BS);
    g.nr_regions = 2;
    g.regions[1].base = 64 * BS;
    g.regions[1].len = 32 * BS;
    g.regions[1].flags = MHSLD_REGION_SHARABLE;
    mhsld_state *st = tu_create(p, &g);
    mhsld_head *h[3];
    for (uint32_t i = 0; i < 3; i++)
        h[i] = tu_attach(st, i);
    uint8_t tag[16], tag2[16];
    memset(tag, 0xab, sizeof(tag));
    memset(tag2, 0xcd, sizeof(tag2));
    mhsld_extent e = tu_ext(0, 2 * BS);
    CHECK_ST(mhsld_share_add(h[0], &e, tag, NULL), MHSLD_E_NOT_SHARABLE);
    e = tu_ext(64 * BS, 4 * BS);
    CHECK_ST(mhsld_share_add(h[0], &e, NULL, NULL), MHSLD_E_INVAL);
    CHECK_OK(mhsld_share_add(h[0], &e, tag, NULL));
    mhsld_conflict sc;
    memset(&sc, 0, sizeof(sc));
    CHECK_ST(mhsld_share_add(h[0], &e, tag, &sc), MHSLD_E_CONFLICT); /* already a sharer */
    CHECK(sc.dpa == 64 * BS && sc.owner == MHSLD_OWNER_SHARED && sc.state == MHSLD_BLOCK_SHARED);
    CHECK_ST(mhsld_share_add(h[1], &e, tag2, NULL), MHSLD_E_TAG);
    mhsld_extent e2 = tu_ext(66 * BS, 4 * BS); /* overlaps with another range */
    CHECK_ST(mhsld_share_add(h[1], &e2, tag, NULL), MHSLD_E_TAG);
    CHECK_OK(mhsld_share_add(h[1], &e, tag, NULL));
    CHECK(mhsld_access_ok(h[0], 64 * BS, 4 * BS) && mhsld_access_ok(h[1], 65 * BS + 7, 8));
    CHECK(!mhsld_access_ok(h[2], 64 * BS, 8));
    uint64_t grp;
    CHECK_ST(mhsld_reserve(h[2], &e, 1, &grp, NULL), MHSLD_E_CONFLICT);
    mhsld_shared_info si[4];
    size_t n = 0, total = 0;
    CHECK_OK(mhsld_shared_list(st, si, 4, &n, &total));
    CHECK(n == 1 && total == 1 && si[0].sharers == 3 && si[0].ext.dpa == 64 * BS &&
          memcmp(si[0].tag, tag, 16) == 0);
    mhsld_extent list[4];
    uint8_t tags[4][MHSLD_TAG_SIZE];
    size_t ret = 0;
    CHECK_OK(mhsld_extents_get(st, 1, MHSLD_EXT_ALL, 0, list, tags, 4, &ret, &total, NULL));
    CHECK(ret == 1 && list[0].dpa == 64 * BS && list[0].len == 4 * BS &&
          memcmp(tags[0], tag, 16) == 0);
    mhsld_head_info hi;
    CHECK_OK(mhsld_head_info_get(st, 1, &hi));
    CHECK(hi.shared_blocks == 4);
    CHECK_VALID(st);
    /* capacity returns to free only when the last sharer releases */
    CHECK_ST(mhsld_share_release(h[2], &e), MHSLD_E_NOT_OWNER);
    CHECK_OK(mhsld_share_release(h[0], &e));
    CHECK(!mhsld_access_ok(h[0], 64 * BS, 8) && mhsld_access_ok(h[1], 64 * BS, 8));
    CHECK(tu_block_state(st, 64 * BS, NULL) == MHSLD_BLOCK_SHARED);
    CHECK_ST(mhsld_release(h[1], &e, 1, NULL), MHSLD_E_NOT_OWNER); /* not exclusive */
    CHECK_OK(mhsld_share_release(h[1], &e));
    CHECK(tu_block_state(st, 64 * BS, NULL) == MHSLD_BLOCK_FREE);
    CHECK_OK(tu_claim(h[2], 64 * BS, 4 * BS));
    CHECK_VALID(st);
    /* release_all leaves shared extents too */
    e = tu_ext(80 * BS, 2 * BS);
    CHECK_OK(mhsld_share_add(h[0], &e, tag, NULL));
    CHECK_OK(mhsld_share_add(h[1], &e, tag, NULL));
    CHECK_OK(mhsld_release_all(h[0], NULL));
    CHECK(!mhsld_access_ok(h[0], 80 * BS, 8) && mhsld_access_ok(h[1], 80 * BS, 8));
    CHECK_VALID(st);
    for (uint32_t i = 0; i < 3; i++)
        mhsld_detach(h[i]);
    mhsld_close(st);
    mhsld_destroy(p, true);
}

static void test_heads(void)
{
    char p[128];
    tu_path(p, sizeof(p), "heads");
    mhsld_geometry g = geo2(2, 64);
    mhsld_state *st = tu_create(p, &g);
    mhsld_head *h0 = tu_attach(st, 0), *x = NULL;
    CHECK_ST(mhsld_attach(st, 0, 0, &x), MHSLD_E_ALIVE); /* one live process per head */
    CHECK_ST(mhsld_attach(st, 0, 0x80, &x), MHSLD_E_INVAL);
    CHECK_ST(mhsld_recover(st, 0, 0, NULL), MHSLD_E_ALIVE);
    CHECK(mhsld_head_index(h0) == 0 && mhsld_head_epoch(h0) == 1 && mhsld_head_state(h0) == st);
    CHECK_OK(tu_claim(h0, 0, 2 * BS));
    /* forced recovery fences the live incarnation */
    mhsld_recover_report rep;
    CHECK_OK(mhsld_recover(st, 0, MHSLD_RECOVER_FORCE | MHSLD_RECOVER_KEEP, &rep));
    CHECK(rep.blocks_kept == 2);
    CHECK_ST(tu_claim(h0, 4 * BS, BS), MHSLD_E_STALE);
    mhsld_detach(h0);
    /* re-attach with KEEP keeps, with DROP frees */
    h0 = tu_attach(st, 0);
    CHECK(mhsld_head_epoch(h0) == 3);
    CHECK(mhsld_access_ok(h0, 0, 8));
    mhsld_detach(h0);
    mhsld_head_info hi;
    CHECK_OK(mhsld_head_info_get(st, 0, &hi));
    CHECK(!hi.alive && hi.owned_blocks == 2 && hi.epoch == 3);
    CHECK_OK(mhsld_recover(st, 0, MHSLD_RECOVER_DROP, &rep));
    CHECK(rep.blocks_freed == 2 && rep.blocks_kept == 0);
    CHECK(tu_block_state(st, 0, NULL) == MHSLD_BLOCK_FREE);
    CHECK_ST(mhsld_recover(st, 5, 0, NULL), MHSLD_E_HEAD);
    CHECK_ST(mhsld_recover(st, 0, 0x100, NULL), MHSLD_E_INVAL);
    CHECK_VALID(st);
    mhsld_close(st);
    mhsld_destroy(p, true);
}

/* A head record whose sequence is behind its own reservations (found by
 * fuzz_state): validate says so, and attach never reuses a sequence. */
static void test_sequence_behind(void)
{
    char p[128];
    tu_path(p, sizeof(p), "seq");
    mhsld_geometry g = geo2(2, 64);
    mhsld_state *st = tu_create(p, &g);
    mhsld_head *h0 = tu_attach(st, 0);
    mhsld_extent e = {0, BS}, f = {8 * BS, BS};
    uint64_t g1 = 0, g2 = 0;
    CHECK_OK(mhsld_reserve(h0, &e, 1, &g1, NULL));
    mhsld_detach(h0);
    mhsld__headrec *hr = &st->heads[0];
    hr->seq = g1 - 1; /* damage: behind reservation g1 */
    char msg[200];
    CHECK_ST(mhsld_validate(st, msg, sizeof(msg)), MHSLD_E_CORRUPT);
    CHECK(strstr(msg, "ahead of its last sequence") != NULL);
    h0 = tu_attach(st, 0);
    CHECK_OK(mhsld_reserve(h0, &f, 1, &g2, NULL));
    CHECK(g2 != g1);
    size_t n = 0;
    mhsld_extent got[2];
    CHECK_OK(mhsld_pending_get(h0, g1, got, 2, &n));
    CHECK(n == 1 && got[0].dpa == 0);
    CHECK_OK(mhsld_pending_get(h0, g2, got, 2, &n));
    CHECK(n == 1 && got[0].dpa == 8 * BS);
    CHECK_VALID(st);
    mhsld_detach(h0);
    mhsld_close(st);
    mhsld_destroy(p, true);
}

/* A head record whose sequence lies beyond the 34-bit sequence space, which
 * the engine never writes (found by fuzz_state: the next sequence wrapped to
 * 1 and named a reservation that was still pending).  Validate says so, and
 * attach and recovery refuse the head without writing a byte; a damaged
 * reservation sequence is refused the same way. */
static void test_sequence_beyond_space(void)
{
    char p[128];
    tu_path(p, sizeof(p), "seqspace");
    mhsld_geometry g = geo2(2, 64);
    mhsld_state *st = tu_create(p, &g);
    mhsld_head *h0 = tu_attach(st, 0);
    mhsld_extent e = {0, BS};
    uint64_t g1 = 0;
    CHECK_OK(mhsld_reserve(h0, &e, 1, &g1, NULL));
    mhsld_detach(h0);
    mhsld__headrec *hr = &st->heads[0];
    const uint64_t damaged[] = {UINT64_MAX, MHSLD__SEQ_MASK + 1, 1ull << 40};
    for (size_t i = 0; i < sizeof(damaged) / sizeof(damaged[0]); i++) {
        for (int which = 0; which < 2; which++) {
            uint64_t keep_seq = hr->seq, keep_g = hr->gseq[0];
            if (which == 0)
                hr->seq = damaged[i];
            else
                hr->gseq[0] = damaged[i];
            char msg[200];
            CHECK_ST(mhsld_validate(st, msg, sizeof(msg)), MHSLD_E_CORRUPT);
            CHECK(strstr(msg, "beyond the sequence space") != NULL);
            uint8_t *before = malloc(st->lay.total);
            REQUIRE(before != NULL);
            memcpy(before, st->base, st->lay.total);
            mhsld_head *h = NULL;
            CHECK_ST(mhsld_attach(st, 0, MHSLD_ATTACH_KEEP, &h), MHSLD_E_CORRUPT);
            CHECK(h == NULL);
            CHECK_ST(mhsld_recover(st, 0, 0, NULL), MHSLD_E_CORRUPT);
            CHECK(memcmp(before, st->base, st->lay.total) == 0);
            free(before);
            hr->seq = keep_seq;
            hr->gseq[0] = keep_g;
        }
    }
    /* Repaired, the head goes on: a new reservation gets a new id. */
    CHECK_VALID(st);
    h0 = tu_attach(st, 0);
    mhsld_extent f = {8 * BS, BS};
    uint64_t g2 = 0;
    CHECK_OK(mhsld_reserve(h0, &f, 1, &g2, NULL));
    CHECK(g2 != g1);
    size_t n = 0;
    mhsld_extent got[2];
    CHECK_OK(mhsld_pending_get(h0, g1, got, 2, &n));
    CHECK(n == 1 && got[0].dpa == 0);
    CHECK_VALID(st);
    mhsld_detach(h0);
    mhsld_close(st);
    mhsld_destroy(p, true);
}

/* A head at the end of its sequence space (found by fuzz_state: the next
 * sequence wrapped to 1, the id of a reservation still pending, so one id
 * named two reservations).  The last sequence is used; after it every
 * operation that needs one fails with MHSLD_E_NOSPACE and writes nothing,
 * and the state stays valid. */
static void test_sequence_exhausted(void)
{
    char p[128];
    tu_path(p, sizeof(p), "seqend");
    mhsld_geometry g = geo2(2, 64);
    g.regions[0].flags = MHSLD_REGION_SHARABLE;
    mhsld_state *st = tu_create(p, &g);
    mhsld_head *h0 = tu_attach(st, 0);
    mhsld_extent e = {0, BS}, f = {4 * BS, BS}, x = {8 * BS, BS}, y = {12 * BS, BS},
                 s = {16 * BS, BS};
    uint8_t tag[MHSLD_TAG_SIZE] = {0x7e};
    uint64_t g1 = 0, gx = 0, gy = 0;
    CHECK_OK(mhsld_reserve(h0, &e, 1, &g1, NULL)); /* stays pending throughout */
    CHECK_OK(tu_claim(h0, f.dpa, f.len));
    CHECK_OK(mhsld_share_add(h0, &s, tag, NULL));
    /* As if 2^34 - 2 operations had been made since (a handle draws from
     * its private copy of the sequence: attach again to take the record's). */
    mhsld_detach(h0);
    st->heads[0].seq = MHSLD__SEQ_MASK - 1;
    h0 = tu_attach(st, 0);
    CHECK_VALID(st);
    mhsld_head_info hi;
    CHECK_OK(mhsld_head_info_get(st, 0, &hi));
    CHECK(hi.seqs_left == 1);
    CHECK_OK(mhsld_reserve(h0, &x, 1, &gx, NULL)); /* the last sequence */
    CHECK(gx == MHSLD__SEQ_MASK && gx != g1);
    CHECK_OK(mhsld_head_info_get(st, 0, &hi));
    CHECK(hi.seqs_left == 0);
    uint8_t *before = malloc(st->lay.total);
    REQUIRE(before != NULL);
    memcpy(before, st->base, st->lay.total);
    mhsld_extent z = {20 * BS, BS};
    CHECK_ST(mhsld_reserve(h0, &y, 1, &gy, NULL), MHSLD_E_NOSPACE);
    CHECK_ST(mhsld_commit(h0, g1, &e, 1), MHSLD_E_NOSPACE);
    CHECK_ST(mhsld_commit(h0, gx, NULL, 0), MHSLD_E_NOSPACE);
    CHECK_ST(mhsld_release(h0, &f, 1, NULL), MHSLD_E_NOSPACE);
    CHECK_ST(mhsld_share_add(h0, &z, tag, NULL), MHSLD_E_NOSPACE);
    CHECK_ST(mhsld_share_release(h0, &s), MHSLD_E_NOSPACE); /* the last sharer */
    CHECK(memcmp(before, st->base, st->lay.total) == 0);
    CHECK_ST(mhsld_release_all(h0, NULL), MHSLD_E_NOSPACE);
    free(before);
    /* The two reservations keep their own ids, and the state is valid. */
    size_t n = 0;
    mhsld_extent got[2];
    CHECK_OK(mhsld_pending_get(h0, g1, got, 2, &n));
    CHECK(n == 1 && got[0].dpa == e.dpa);
    CHECK_OK(mhsld_pending_get(h0, gx, got, 2, &n));
    CHECK(n == 1 && got[0].dpa == x.dpa);
    CHECK(mhsld_access_ok(h0, f.dpa, 8) && mhsld_access_ok(h0, s.dpa, 8));
    CHECK_VALID(st);
    /* Another head joining the shared extent needs no sequence of head 0. */
    mhsld_head *h1 = tu_attach(st, 1);
    CHECK_OK(mhsld_share_add(h1, &s, tag, NULL));
    CHECK_OK(mhsld_share_release(h0, &s)); /* not the last sharer: no sequence */
    CHECK_OK(mhsld_share_release(h1, &s));
    CHECK_VALID(st);
    mhsld_detach(h1);
    mhsld_detach(h0);
    mhsld_close(st);
    mhsld_destroy(p, true);
}

static void die(void *arg)
{
    (void)arg;
    raise(SIGKILL);
}

/* A head dies committing a reservation, after giving its rejected blocks
 * back and before unpublishing the reservation (which its recovery does).
 * Another head reserves those blocks meanwhile: block info must name that
 * head, not the dead one whose reservation is still published. */
static void test_block_info_commit_in_flight(void)
{
    char p[128];
    tu_path(p, sizeof(p), "bicommit");
    mhsld_geometry g = geo2(2, 64);
    mhsld_state *st = tu_create(p, &g);
    mhsld_head *h1 = tu_attach(st, 1);
    mhsld_extent e = tu_ext(8 * BS, 4 * BS);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        mhsld_head *h0 = tu_attach(st, 0);
        uint64_t grp = 0;
        REQUIRE(mhsld_reserve(h0, &e, 1, &grp, NULL) == MHSLD_OK);
        /* commit of nothing: sequence (1), journal (2), pair (3),
         * progress (4), reservation unpublished (5) */
        mhsld_test_crash_at(5, die, NULL);
        (void)mhsld_commit(h0, grp, NULL, 0);
        _exit(0);
    }
    int ws;
    REQUIRE(waitpid(pid, &ws, 0) == pid && WIFSIGNALED(ws));
    mhsld_head_info hi;
    REQUIRE(mhsld_head_info_get(st, 0, &hi) == MHSLD_OK);
    /* died where meant: in its commit, the blocks given back */
    CHECK(hi.inflight_op == MHSLD__OP_COMMIT && hi.nr_pending == 1);
    CHECK(tu_block_state(st, e.dpa, NULL) == MHSLD_BLOCK_FREE);
    uint64_t grp1 = 0;
    CHECK_OK(mhsld_reserve(h1, &e, 1, &grp1, NULL));
    for (uint64_t b = 8; b < 12; b++) {
        uint32_t owner = MHSLD_OWNER_NONE;
        CHECK(tu_block_state(st, b * BS, &owner) == MHSLD_BLOCK_PENDING && owner == 1);
    }
    mhsld_conflict c = {0, 0, 0};
    uint64_t grp2 = 0;
    CHECK_ST(mhsld_reserve(h1, &e, 1, &grp2, &c), MHSLD_E_CONFLICT);
    CHECK(c.dpa == e.dpa && c.state == MHSLD_BLOCK_PENDING && c.owner == 1);
    mhsld_recover_report rep;
    CHECK_OK(mhsld_recover(st, 0, MHSLD_RECOVER_DROP, &rep));
    CHECK(rep.op == MHSLD__OP_COMMIT && rep.rolled_forward && rep.blocks_freed == 0);
    uint32_t owner = MHSLD_OWNER_NONE;
    CHECK(tu_block_state(st, e.dpa, &owner) == MHSLD_BLOCK_PENDING && owner == 1);
    CHECK_OK(mhsld_commit(h1, grp1, &e, 1));
    CHECK(tu_block_state(st, e.dpa, &owner) == MHSLD_BLOCK_OWNED && owner == 1);
    CHECK_VALID(st);
    mhsld_detach(h1);
    mhsld_close(st);
    mhsld_destroy(p, true);
}

/* A head dies half-way through a reservation of two words (the first one
 * claimed, the second not): its blocks are held but in no map and no
 * published reservation.  Block info, another head's conflict and a shared
 * add over them must name the dead head's reservation in flight (PENDING
 * for head 0), not FREE: a shared add took it for a create in progress and
 * retried until its time limit (MHSLD_E_BUSY) instead of a conflict. */
static void test_block_info_reserve_in_flight(void)
{
    char p[128];
    tu_path(p, sizeof(p), "bireserve");
    mhsld_geometry g = geo2(2, 128);
    g.regions[0].flags = MHSLD_REGION_SHARABLE;
    mhsld_state *st = tu_create(p, &g);
    mhsld_head *h1 = tu_attach(st, 1);
    mhsld_extent e = tu_ext(60 * BS, 8 * BS); /* blocks 60..67: words 0 and 1 */
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        mhsld_head *h0 = tu_attach(st, 0);
        uint64_t grp = 0;
        /* sequence (1), journal (2), word 0 (3), progress (4), word 1 (5) */
        mhsld_test_crash_at(5, die, NULL);
        (void)mhsld_reserve(h0, &e, 1, &grp, NULL);
        _exit(0);
    }
    int ws;
    REQUIRE(waitpid(pid, &ws, 0) == pid && WIFSIGNALED(ws));
    mhsld_head_info hi;
    REQUIRE(mhsld_head_info_get(st, 0, &hi) == MHSLD_OK);
    CHECK(hi.inflight_op == MHSLD__OP_RESERVE && hi.nr_pending == 0);
    for (uint64_t b = 60; b < 64; b++) {
        uint32_t owner = MHSLD_OWNER_NONE;
        CHECK(tu_block_state(st, b * BS, &owner) == MHSLD_BLOCK_PENDING && owner == 0);
    }
    CHECK(tu_block_state(st, 64 * BS, NULL) == MHSLD_BLOCK_FREE);
    mhsld_conflict c = {0, 0, 0};
    mhsld_extent one = tu_ext(61 * BS, BS);
    CHECK_ST(mhsld_claim(h1, &one, 1, &c), MHSLD_E_CONFLICT);
    CHECK(c.dpa == one.dpa && c.state == MHSLD_BLOCK_PENDING && c.owner == 0);
    uint8_t tag[MHSLD_TAG_SIZE] = {7};
    memset(&c, 0, sizeof(c));
    CHECK_ST(mhsld_share_add(h1, &e, tag, &c), MHSLD_E_CONFLICT);
    CHECK(c.state == MHSLD_BLOCK_PENDING && c.owner == 0);
    mhsld_recover_report rep;
    CHECK_OK(mhsld_recover(st, 0, MHSLD_RECOVER_DROP, &rep));
    CHECK(rep.op == MHSLD__OP_RESERVE && rep.rolled_back && rep.blocks_freed == 4);
    CHECK(tu_block_state(st, 60 * BS, NULL) == MHSLD_BLOCK_FREE);
    CHECK_OK(mhsld_claim(h1, &e, 1, NULL));
    CHECK_VALID(st);
    mhsld_detach(h1);
    mhsld_close(st);
    mhsld_destroy(p, true);
}

int main(void)
{
    test_block_info_reserve_in_flight();
    test_block_info_commit_in_flight();
    test_sequence_behind();
    test_sequence_exhausted();
    test_sequence_beyond_space();
    test_geometry();
    test_open();
    test_corrupt_states();
    test_reserve_errors();
    test_commit_release();
    test_access();
    test_shared();
    test_heads();
    return tu_report("test_engine");
}
