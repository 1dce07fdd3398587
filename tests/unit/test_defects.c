/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * One regression test per defect of the 2024 MH-SLD RFC, as catalogued in
 * docs/design.md ("The 2024 RFC and what was wrong with it").  Where the
 * defect is in an algorithm, the test runs the same scenario against a
 * faithful miniature of the naive algorithm (`naive_*`, one byte of owner
 * bits per block, compare-and-swap claims) and checks that the scenario does
 * expose the defect there, then checks that libmhsld is immune.  A test that
 * could not fail on the naive algorithm would prove nothing.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include "internal.h"
#include "mhsld/testing.h"
#include "testutil.h"

/* ---- the naive algorithm, in miniature ------------------------------------ */

#define NAIVE_BLOCKS 64
static uint8_t naive_map[NAIVE_BLOCKS + 8]; /* +8: room for the out-of-range writes */

typedef struct naive_ext {
    uint64_t blk;
    uint64_t n;
} naive_ext;

static int naive_claim_blocks(uint64_t blk, uint64_t n, int head)
{
    /* RFC: per-block CAS 0 -> bit; on failure roll back from the failing
     * block downwards, clearing this head's bit there too. */
    uint8_t bit = (uint8_t)(1u << head);
    uint64_t i;
    for (i = 0; i < n; i++) {
        uint8_t expect = 0;
        if (!__atomic_compare_exchange_n(&naive_map[blk + i], &expect, bit, 0, __ATOMIC_SEQ_CST,
                                         __ATOMIC_SEQ_CST))
            break;
    }
    if (i == n)
        return 1;
    for (uint64_t j = i + 1; j-- > 0;)
        __atomic_fetch_and(&naive_map[blk + j], (uint8_t)~bit, __ATOMIC_SEQ_CST);
    return 0;
}

static int naive_reserve(const naive_ext *e, int n, int head)
{
    uint8_t bit = (uint8_t)(1u << head);
    for (int i = 0; i < n; i++) {
        if (naive_claim_blocks(e[i].blk, e[i].n, head))
            continue;
        /* RFC: the rollback of earlier extents uses the failing entry's DPA */
        for (int j = 0; j < i; j++)
            for (uint64_t k = 0; k < e[j].n; k++)
                __atomic_fetch_and(&naive_map[e[i].blk + k], (uint8_t)~bit, __ATOMIC_SEQ_CST);
        return 0;
    }
    return 1;
}

static int naive_access_ok(uint64_t dpa, uint64_t size, int head)
{
    /* RFC: number of blocks = size / block size; an 8-byte access checks none */
    uint64_t nblk = size / BS;
    for (uint64_t i = 0; i < nblk; i++)
        if (naive_map[dpa / BS + i] != (uint8_t)(1u << head))
            return 0;
    return 1;
}

static void naive_reset(void)
{
    memset(naive_map, 0, sizeof(naive_map));
}

/* ---- helpers ------------------------------------------------------------ */

static mhsld_state *fresh(char *path, size_t len, const char *tag, uint32_t heads, uint64_t blocks)
{
    tu_path(path, len, tag);
    mhsld_geometry g;
    mhsld_geometry_init(&g, heads, BS, 0, blocks * BS);
    return tu_create(path, &g);
}

static void done(mhsld_state *st, const char *path, mhsld_head **h, int n)
{
    for (int i = 0; i < n; i++)
        mhsld_detach(h[i]);
    mhsld_close(st);
    mhsld_destroy(path, true);
}

/* Defect 1: multi-extent rollback recomputed from the failing entry. */
static void defect1_rollback_uses_wrong_extent(void)
{
    /* A = 0..3 (free), B = 8..9 (head 1), C = 10..13 (head 0 already) */
    naive_reset();
    naive_ext c = {10, 4}, b = {8, 2};
    REQUIRE(naive_reserve(&c, 1, 0) && naive_reserve(&b, 1, 1));
    naive_ext req[2] = {{0, 4}, {8, 2}};
    CHECK(!naive_reserve(req, 2, 0));
    int naive_leaks_a = naive_map[0] == 1;
    int naive_wipes_c = naive_map[10] == 0; /* cleared len(A) blocks from B */
    naive_ext c2 = {10, 2};
    int naive_double = naive_reserve(&c2, 1, 2); /* head 2 takes C: double owner */
    CHECK(naive_leaks_a && naive_wipes_c && naive_double);

    char p[128];
    mhsld_state *st = fresh(p, sizeof(p), "d1", 3, 64);
    mhsld_head *h[3] = {tu_attach(st, 0), tu_attach(st, 1), tu_attach(st, 2)};
    CHECK_OK(tu_claim(h[0], 10 * BS, 4 * BS));
    CHECK_OK(tu_claim(h[1], 8 * BS, 2 * BS));
    mhsld_extent e[2] = {{0, 4 * BS}, {8 * BS, 2 * BS}};
    uint64_t g;
    CHECK_ST(mhsld_reserve(h[0], e, 2, &g, NULL), MHSLD_E_CONFLICT);
    CHECK(tu_block_state(st, 0, NULL) == MHSLD_BLOCK_FREE);      /* A not leaked */
    CHECK(mhsld_access_ok(h[0], 10 * BS, 4 * BS));               /* C intact */
    CHECK_ST(tu_claim(h[2], 10 * BS, 2 * BS), MHSLD_E_CONFLICT); /* no double owner */
    CHECK_VALID(st);
    done(st, p, h, 3);
}

/* Defect 2: per-block rollback clears this head's own block at the conflict;
 * a zero-length claim is undefined. */
static void defect2_rollback_frees_own_block(void)
{
    naive_reset();
    naive_ext own = {5, 1}, req = {3, 4};
    REQUIRE(naive_reserve(&own, 1, 0));
    CHECK(!naive_reserve(&req, 1, 0));
    CHECK(naive_map[5] == 0); /* the naive rollback freed head 0's block 5 */

    char p[128];
    mhsld_state *st = fresh(p, sizeof(p), "d2", 2, 64);
    mhsld_head *h[2] = {tu_attach(st, 0), tu_attach(st, 1)};
    CHECK_OK(tu_claim(h[0], 5 * BS, BS));
    mhsld_extent e = {3 * BS, 4 * BS};
    uint64_t g;
    mhsld_conflict c;
    CHECK_ST(mhsld_reserve(h[0], &e, 1, &g, &c), MHSLD_E_CONFLICT);
    CHECK(c.dpa == 5 * BS && c.owner == 0);
    CHECK(mhsld_access_ok(h[0], 5 * BS, BS));
    CHECK_ST(tu_claim(h[1], 5 * BS, BS), MHSLD_E_CONFLICT);
    CHECK(tu_block_state(st, 3 * BS, NULL) == MHSLD_BLOCK_FREE &&
          tu_block_state(st, 4 * BS, NULL) == MHSLD_BLOCK_FREE);
    e.len = 0;
    CHECK_ST(mhsld_reserve(h[0], &e, 1, &g, NULL), MHSLD_E_ZERO_LEN);
    CHECK_ST(mhsld_reserve(h[0], &e, 0, &g, NULL), MHSLD_E_ZERO_LEN);
    CHECK_VALID(st);
    done(st, p, h, 2);
}

/* Defect 3: access check of size / block size blocks; exact owner match;
 * region base ignored; DC-relative address crashes. */
static void defect3_access_check(void)
{
    naive_reset();
    naive_ext other = {2, 1};
    REQUIRE(naive_reserve(&other, 1, 1));
    CHECK(naive_access_ok(2 * BS, 8, 0)); /* head 0 "may" touch head 1's block */
    CHECK(naive_access_ok(9 * BS, 8, 0)); /* or nobody's */

    char p[128];
    tu_path(p, sizeof(p), "d3");
    mhsld_geometry g;
    mhsld_geometry_init(&g, 3, BS, 2 * GiB, 32 * BS); /* DC region after static capacity */
    g.regions[0].flags = MHSLD_REGION_SHARABLE;
    mhsld_state *st = tu_create(p, &g);
    mhsld_head *h[3] = {tu_attach(st, 0), tu_attach(st, 1), tu_attach(st, 2)};
    const uint64_t B = 2 * GiB;
    CHECK_OK(tu_claim(h[1], B + 2 * BS, BS));
    CHECK(!mhsld_access_ok(h[0], B + 2 * BS, 8));
    CHECK(!mhsld_access_ok(h[0], B + 9 * BS, 8));
    CHECK(mhsld_access_ok(h[1], B + 2 * BS + 100, 8));
    CHECK(!mhsld_access_ok(h[1], 2 * BS, 8)); /* DC-relative address: refused, no crash */
    uint8_t tag[16] = {7};
    mhsld_extent e = {B + 8 * BS, 2 * BS};
    CHECK_OK(mhsld_share_add(h[0], &e, tag, NULL));
    CHECK_OK(mhsld_share_add(h[2], &e, tag, NULL));
    CHECK(mhsld_access_ok(h[0], B + 8 * BS, 8) && mhsld_access_ok(h[2], B + 9 * BS, 8));
    CHECK(!mhsld_access_ok(h[1], B + 8 * BS, 8));
    CHECK_VALID(st);
    done(st, p, h, 3);
}

/* Defect 4: reclaim indexed region-relative while claims are absolute; the
 * map overrun with static capacity in front. */
static void defect4_reclaim_indexing(void)
{
    naive_reset();
    /* region 2 starts at block 32; head 0 accepted blocks 0..1 of region 1
     * (absolute 0..1) and rejects its reservation at absolute 32..33, which
     * the naive reclaim frees region-relative: blocks 0..1. */
    naive_ext acc = {0, 2}, rej = {32, 2};
    REQUIRE(naive_reserve(&acc, 1, 0) && naive_reserve(&rej, 1, 0));
    for (uint64_t k = 0; k < rej.n; k++)
        naive_map[rej.blk - 32 + k] &= (uint8_t)~1u;
    CHECK(naive_map[0] == 0 && naive_map[32] == 1); /* accepted freed, rejected leaked */

    char p[128];
    tu_path(p, sizeof(p), "d4");
    mhsld_geometry g;
    /* 8 GiB static in front, then two DC regions; 8 GiB of DC in total */
    mhsld_geometry_init(&g, 2, BS, 8 * GiB, 4 * GiB);
    g.nr_regions = 2;
    g.regions[1].base = 12 * GiB;
    g.regions[1].len = 4 * GiB;
    mhsld_state *st = tu_create(p, &g);
    mhsld_head *h[2] = {tu_attach(st, 0), tu_attach(st, 1)};
    CHECK_OK(tu_claim(h[0], 8 * GiB, 2 * BS));
    mhsld_extent e = {12 * GiB, 2 * BS};
    uint64_t grp;
    CHECK_OK(mhsld_reserve(h[0], &e, 1, &grp, NULL));
    CHECK_OK(mhsld_commit(h[0], grp, NULL, 0));
    CHECK(mhsld_access_ok(h[0], 8 * GiB, 2 * BS)); /* accepted blocks kept */
    CHECK_OK(tu_claim(h[1], 12 * GiB, 2 * BS));    /* rejected ones free */
    CHECK_ST(tu_claim(h[1], 8 * GiB, BS), MHSLD_E_CONFLICT);
    /* the very last block of the device: in bounds (ASan watches) */
    uint64_t last = 16 * GiB - BS;
    CHECK_OK(tu_claim(h[1], last, BS));
    CHECK(mhsld_access_ok(h[1], last + BS - 8, 8));
    CHECK(!mhsld_access_ok(h[1], last + BS - 8, 9));
    mhsld_extent past = {16 * GiB, BS};
    CHECK_ST(mhsld_reserve(h[0], &past, 1, &grp, NULL), MHSLD_E_RANGE);
    CHECK_VALID(st);
    done(st, p, h, 2);
}

/* Defect 5: reclaim skipped on error paths and on an empty accept. */
static void defect5_reclaim_on_every_path(void)
{
    char p[128];
    mhsld_state *st = fresh(p, sizeof(p), "d5", 2, 64);
    mhsld_head *h[2] = {tu_attach(st, 0), tu_attach(st, 1)};
    mhsld_extent e = {0, 4 * BS}, bad = {40 * BS, BS};
    uint64_t g1, g2, oldest;
    CHECK_OK(mhsld_reserve(h[0], &e, 1, &g1, NULL));
    CHECK_OK(mhsld_commit(h[0], g1, NULL, 0)); /* accepts nothing */
    CHECK_OK(tu_claim(h[1], 0, 4 * BS));
    e.dpa = 8 * BS;
    CHECK_OK(mhsld_reserve(h[0], &e, 1, &g2, NULL));
    /* a failing response changes nothing and leaves the reservation to settle */
    CHECK_ST(mhsld_commit(h[0], g2, &bad, 1), MHSLD_E_NOT_IN_GROUP);
    CHECK_OK(mhsld_pending_oldest(h[0], &oldest));
    CHECK(oldest == g2);
    CHECK_OK(mhsld_commit(h[0], g2, NULL, 0));
    CHECK_OK(tu_claim(h[1], 8 * BS, 4 * BS));
    /* and a head that goes away with a reservation outstanding loses it */
    e.dpa = 20 * BS;
    CHECK_OK(mhsld_reserve(h[0], &e, 1, &g1, NULL));
    mhsld_detach(h[0]);
    CHECK_OK(mhsld_attach(st, 0, MHSLD_ATTACH_DROP, &h[0]));
    CHECK_OK(tu_claim(h[1], 20 * BS, 4 * BS));
    CHECK_VALID(st);
    done(st, p, h, 2);
}

/* Defect 6: an exiting instance unlinks the state; a later head re-creates
 * it: split brain. */
static void defect6_no_unlink_no_split_brain(void)
{
    char p[128];
    tu_path(p, sizeof(p), "d6");
    mhsld_geometry g;
    mhsld_geometry_init(&g, 2, BS, 0, 64 * BS);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) { /* head 0: create, take block 0, exit */
        mhsld_state *st = tu_create(p, &g);
        mhsld_head *h0 = tu_attach(st, 0);
        _exit(tu_claim(h0, 0, BS) == MHSLD_OK ? 0 : 1);
    }
    int ws;
    REQUIRE(waitpid(pid, &ws, 0) == pid && WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    CHECK(access(p, F_OK) == 0);
    mhsld_state *st = tu_open(p); /* a later head can open it */
    mhsld_close(st);
    st = tu_create(p, &g); /* and "mhd-init=true" joins, never re-creates */
    mhsld_head *h[1] = {tu_attach(st, 1)};
    CHECK_ST(tu_claim(h[0], 0, BS), MHSLD_E_CONFLICT);
    uint32_t owner;
    CHECK(tu_block_state(st, 0, &owner) == MHSLD_BLOCK_OWNED && owner == 0);
    CHECK_VALID(st);
    done(st, p, h, 1);
}

/* Defect 7: joining instances never validate the state. */
static void defect7_join_validates(void)
{
    char p[128];
    tu_path(p, sizeof(p), "d7");
    mhsld_geometry g;
    mhsld_geometry_init(&g, 2, BS, 0, 64 * BS);
    mhsld_close(tu_create(p, &g));
    struct {
        size_t off;
        uint64_t val;
        size_t len;
        mhsld_status want;
    } cases[] = {
        {offsetof(mhsld__hdr, geom) + offsetof(mhsld__wgeom, nr_lds), 200, 4, MHSLD_E_CORRUPT},
        {offsetof(mhsld__hdr, geom) + offsetof(mhsld__wgeom, nr_blocks), 1ull << 40, 8,
         MHSLD_E_CORRUPT},
        {offsetof(mhsld__hdr, geom) + offsetof(mhsld__wgeom, nr_heads), 9, 4, MHSLD_E_CORRUPT},
        {offsetof(mhsld__hdr, version), MHSLD__VERSION + 1, 4, MHSLD_E_VERSION},
        {offsetof(mhsld__hdr, total_size), 1ull << 30, 8, MHSLD_E_CORRUPT},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int fd = open(p, O_RDWR);
        REQUIRE(fd >= 0);
        uint64_t saved = 0;
        REQUIRE(pread(fd, &saved, cases[i].len, (off_t)cases[i].off) == (ssize_t)cases[i].len);
        REQUIRE(pwrite(fd, &cases[i].val, cases[i].len, (off_t)cases[i].off) ==
                (ssize_t)cases[i].len);
        mhsld_open_opts o = {
            .size = sizeof(o), .mode = MHSLD_OPEN_EXISTING, .path = p, .geometry = NULL};
        mhsld_state *st = NULL;
        CHECK_ST(mhsld_open(&o, &st), cases[i].want);
        o.mode = MHSLD_OPEN_CREATE; /* a creator does not "repair" it either */
        o.geometry = &g;
        CHECK(mhsld_open(&o, &st) != MHSLD_OK);
        REQUIRE(pwrite(fd, &saved, cases[i].len, (off_t)cases[i].off) == (ssize_t)cases[i].len);
        close(fd);
    }
    mhsld_geometry other;
    mhsld_geometry_init(&other, 2, 2 * BS, 0, 64 * BS);
    mhsld_open_opts o = {
        .size = sizeof(o), .mode = MHSLD_OPEN_EXISTING, .path = p, .geometry = &other};
    mhsld_state *st = NULL;
    CHECK_ST(mhsld_open(&o, &st), MHSLD_E_GEOMETRY);
    mhsld_destroy(p, true);
}

/* Defect 8: initialisation races; mhd-init=true wipes live claims; realize
 * clears its own bits while an add is in flight. */
#define RACERS 8
static void defect8_init_race(void)
{
    char p[128];
    tu_path(p, sizeof(p), "d8");
    mhsld_geometry g;
    mhsld_geometry_init(&g, RACERS, BS, 0, 64 * BS);
    int gate[2];
    REQUIRE(pipe(gate) == 0);
    pid_t pids[RACERS];
    for (int i = 0; i < RACERS; i++) {
        pids[i] = fork();
        REQUIRE(pids[i] >= 0);
        if (pids[i] == 0) {
            close(gate[1]);
            char c;
            REQUIRE(read(gate[0], &c, 1) == 0); /* all start when the gate closes */
            mhsld_state *st = tu_create(p, &g);
            mhsld_head *h = tu_attach(st, (uint32_t)i);
            mhsld_status s = tu_claim(h, (uint64_t)(unsigned)i * BS, BS);
            _exit(s == MHSLD_OK ? 0 : 1);
        }
    }
    close(gate[0]);
    close(gate[1]);
    for (int i = 0; i < RACERS; i++) {
        int ws;
        REQUIRE(waitpid(pids[i], &ws, 0) == pids[i]);
        CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    }
    mhsld_state *st = tu_create(p, &g);
    for (uint32_t i = 0; i < RACERS; i++) { /* every claim survived every creator */
        uint32_t owner;
        CHECK(tu_block_state(st, (uint64_t)i * BS, &owner) == MHSLD_BLOCK_OWNED && owner == i);
    }
    /* re-attaching head 0 (a realize) drops only head 0's capacity */
    mhsld_head *h0 = NULL;
    CHECK_OK(mhsld_attach(st, 0, MHSLD_ATTACH_DROP, &h0));
    CHECK(tu_block_state(st, 0, NULL) == MHSLD_BLOCK_FREE);
    CHECK(tu_block_state(st, BS, NULL) == MHSLD_BLOCK_OWNED);
    CHECK_VALID(st);
    mhsld_head *hs[1] = {h0};
    done(st, p, hs, 1);
}

/* Defect 9: a head killed mid-claim leaves a partial claim nobody else can
 * recover. */
static void die(void *arg)
{
    (void)arg;
    raise(SIGKILL);
}

/* Is block b held (its occupancy bit set) by anyone?  A claim in passage
 * (its pair claimed, its reservation not yet published) is held but not yet
 * PENDING for anybody in the block's derived state. */
static int held(const mhsld_state *st, uint64_t b)
{
    return (int)((mhsld__load64(&mhsld__occ(st, b >> 6)->lo) >> (b & 63)) & 1u);
}

static void defect9_partial_claim_recovered_by_anyone(void)
{
    char p[128];
    mhsld_state *st = fresh(p, sizeof(p), "d9", 2, 128);
    mhsld_head *h[1] = {tu_attach(st, 1)};
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        mhsld_head *h0 = tu_attach(st, 0);
        mhsld_extent e = {0, 8 * BS};
        uint64_t g;
        /* steps: seq 1, journal 2, CAS 3, progress 4: killed after the
         * claim's only CAS, before its progress is recorded */
        mhsld_test_crash_at(4, die, NULL);
        (void)mhsld_reserve(h0, &e, 1, &g, NULL);
        _exit(0);
    }
    int ws;
    REQUIRE(waitpid(pid, &ws, 0) == pid && WIFSIGNALED(ws));
    for (uint64_t b = 0; b < 8; b++) { /* the partial leftover: held, owned by nobody */
        uint32_t bs = tu_block_state(st, b * BS, NULL);
        CHECK(held(st, b) && bs != MHSLD_BLOCK_OWNED && bs != MHSLD_BLOCK_SHARED);
    }
    CHECK(!held(st, 8));
    CHECK_ST(tu_claim(h[0], 0, 8 * BS), MHSLD_E_CONFLICT); /* the leftover blocks it */
    mhsld_recover_report rep;
    CHECK_OK(mhsld_recover(st, 0, MHSLD_RECOVER_DROP, &rep)); /* by another head */
    /* every claim CAS had happened: the reservation is completed, then dropped */
    CHECK(rep.op == 1 && rep.rolled_forward && rep.blocks_freed == 8);
    CHECK_OK(tu_claim(h[0], 0, 8 * BS));
    CHECK_VALID(st);
    /* killed after the first of two groups: undone, and the report counts it */
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        mhsld_head *h0 = tu_attach(st, 0);
        mhsld_extent e[2] = {{16 * BS, 8 * BS}, {100 * BS, 8 * BS}}; /* groups 0 and 1 */
        uint64_t g;
        /* steps: seq 1, journal 2, CAS 3, progress 4, CAS 5 */
        mhsld_test_crash_at(5, die, NULL);
        (void)mhsld_reserve(h0, e, 2, &g, NULL);
        _exit(0);
    }
    REQUIRE(waitpid(pid, &ws, 0) == pid && WIFSIGNALED(ws));
    CHECK(held(st, 16) && held(st, 23) && !held(st, 100) && !held(st, 107));
    CHECK_OK(mhsld_recover(st, 0, MHSLD_RECOVER_KEEP, &rep));
    CHECK(rep.op == 1 && rep.rolled_back && rep.blocks_freed == 8 && rep.blocks_kept == 0);
    CHECK(tu_block_state(st, 16 * BS, NULL) == MHSLD_BLOCK_FREE);
    CHECK_VALID(st);
    done(st, p, h, 1);
}

/* Defect 10: unassigned LD map entries read 0; heads and LDs fixed at 8. */
static void defect10_ld_map_and_head_count(void)
{
    char p[128];
    tu_path(p, sizeof(p), "d10");
    mhsld_geometry g;
    mhsld_geometry_init(&g, 16, BS, 0, 64 * BS);
    g.nr_lds = 20;
    mhsld_state *st = tu_create(p, &g);
    mhsld_geometry got;
    CHECK_OK(mhsld_get_geometry(st, &got));
    CHECK(got.nr_heads == 16 && got.nr_lds == 20);
    CHECK(got.ld_map[15] == 15 && got.ld_map[16] == MHSLD_LD_UNASSIGNED &&
          got.ld_map[19] == MHSLD_LD_UNASSIGNED);
    mhsld_head *h[2] = {tu_attach(st, 15), tu_attach(st, 9)};
    CHECK_OK(tu_claim(h[0], 0, BS));
    CHECK(mhsld_access_ok(h[0], 0, 8) && !mhsld_access_ok(h[1], 0, 8));
    uint32_t owner;
    CHECK(tu_block_state(st, 0, &owner) == MHSLD_BLOCK_OWNED && owner == 15);
    CHECK_VALID(st);
    done(st, p, h, 2);
}

int main(void)
{
    defect1_rollback_uses_wrong_extent();
    defect2_rollback_frees_own_block();
    defect3_access_check();
    defect4_reclaim_indexing();
    defect5_reclaim_on_every_path();
    defect6_no_unlink_no_split_brain();
    defect7_join_validates();
    defect8_init_race();
    defect9_partial_claim_recovered_by_anyone();
    defect10_ld_map_and_head_count();
    return tu_report("test_defects");
}
