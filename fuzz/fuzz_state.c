/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_state: hostile bytes as a state file.
 *
 * Whatever the file holds, mhsld_open(EXISTING) must either refuse it with
 * an error, leaving the file byte for byte as it was, or accept it; an
 * accepted state then goes through a short fixed program (queries, attach,
 * reserve, commit, access, release, shared extents, release_all, recover,
 * re-attach) that must never crash or touch memory outside the mapping.
 * If mhsld_validate() accepts the state before the program, the program's
 * operations must behave (a free block can be reserved and committed, ...)
 * and the state must still validate after it.
 *
 * Input, first byte:
 *   even: the rest of the input is the state file, as is (seeds: real
 *         states dumped by gen_state_seeds, see gen_corpus.py);
 *   odd:  a recipe: a geometry and a few operations build a real state
 *         (possibly with a head killed mid-operation), then the rest of the
 *         input is a list of patches {offset u32, length 1..8, bytes}
 *         written over it.  This reaches deep layouts with small inputs.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_data_producer.h"
#include "fuzz_helpers.h"
#include "fuzz_statefile.h"
#include "mhsld/mhsld.h"
#include "mhsld/testing.h"

#define MAX_FILE (4u << 20)

static jmp_buf crash_jb;

static void crash_hook(void *arg)
{
    (void)arg;
    longjmp(crash_jb, 1);
}

/* Build a real state into sf from a recipe. */
static void build_recipe(fuzz_dp *dp, fuzz_statefile *sf)
{
    mhsld_geometry g;
    fuzz_geometry_from(dp, 4, &g);
    mhsld_state *st = NULL;
    mhsld_status rc = fuzz_state_open(sf, MHSLD_OPEN_CREATE, &g, &st);
    FUZZ_ASSERT_MSG(rc == MHSLD_OK, "create: %s", mhsld_status_name(rc));
    uint32_t ops = fuzz_dp_range(dp, 0, 6);
    uint64_t bs = g.block_size;
    for (uint32_t i = 0; i < ops; i++) {
        uint32_t head = fuzz_dp_range(dp, 0, g.nr_heads - 1);
        mhsld_head *h = NULL;
        if (mhsld_attach(st, head, MHSLD_ATTACH_KEEP, &h) != MHSLD_OK)
            continue;
        const mhsld_region *r = &g.regions[fuzz_dp_range(dp, 0, g.nr_regions - 1)];
        uint64_t nb = r->len / bs;
        mhsld_extent x = {r->base + fuzz_dp_range(dp, 0, (uint32_t)nb - 1) * bs, bs};
        uint64_t group = 0;
        uint8_t tag[MHSLD_TAG_SIZE] = {0xC0, 1, 2, 3};
        uint32_t what = fuzz_dp_range(dp, 0, 4);
        const volatile uint64_t crash_k = fuzz_dp_range(dp, 0, 1) ? fuzz_dp_range(dp, 1, 12) : 0;
        volatile int crashed = 0;
        if (setjmp(crash_jb) == 0) {
            if (crash_k)
                mhsld_test_crash_at(crash_k, crash_hook, NULL);
            switch (what) {
            case 0: /* leave a pending reservation */
                (void)mhsld_reserve(h, &x, 1, &group, NULL);
                break;
            case 1: /* own a block */
                if (mhsld_reserve(h, &x, 1, &group, NULL) == MHSLD_OK)
                    (void)mhsld_commit(h, group, &x, 1);
                break;
            case 2:
                (void)mhsld_share_add(h, &x, tag, NULL);
                break;
            case 3:
                (void)mhsld_release(h, &x, 1, NULL);
                break;
            default:
                (void)mhsld_release_all(h, NULL);
                break;
            }
            mhsld_test_crash_at(0, NULL, NULL);
        } else {
            mhsld_test_crash_at(0, NULL, NULL);
            crashed = 1;
        }
        if (crashed)
            mhsld_test_abandon(h); /* its journal stays in the file */
        else
            mhsld_detach(h);
    }
    mhsld_close(st);
    /* Patches over the real bytes. */
    size_t size = fuzz_statefile_size(sf);
    while (!fuzz_dp_empty(dp) && size) {
        uint32_t off = fuzz_dp_u32(dp) % (uint32_t)size;
        uint32_t len = fuzz_dp_range(dp, 1, 8);
        uint8_t bytes[8];
        fuzz_dp_bytes(dp, bytes, len);
        if (off + len > size)
            len = (uint32_t)(size - off);
        FUZZ_ASSERT(pwrite(sf->fd, bytes, len, (off_t)off) == (ssize_t)len);
    }
}

/* gen_corpus.py --dump-states runs recipes through the replay driver with
 * MHSLD_FUZZ_STATE_DUMP=<file> to obtain real state files as raw seeds. */
static void dump_for_seeding(const fuzz_statefile *sf)
{
    const char *path = getenv("MHSLD_FUZZ_STATE_DUMP");
    if (!path || !*path)
        return;
    size_t n = fuzz_statefile_size(sf);
    uint8_t *buf = malloc(n ? n : 1);
    FUZZ_ASSERT(buf);
    FUZZ_ASSERT(fuzz_statefile_read(sf, buf, n) == n);
    FILE *f = fopen(path, "wb");
    FUZZ_ASSERT_MSG(f, "cannot write %s", path);
    FUZZ_ASSERT(fwrite(buf, 1, n, f) == n);
    fclose(f);
    free(buf);
}

static void query_all(mhsld_state *st, const mhsld_geometry *g)
{
    uint64_t nb = mhsld_block_count(st);
    FUZZ_ASSERT(nb >= 1 && nb <= MHSLD_MAX_BLOCKS);
    uint64_t lim = nb < 4096 ? nb : 4096;
    for (uint64_t i = 0; i < lim; i++) {
        mhsld_block_info bi;
        (void)mhsld_block_info_get(st, i, &bi);
    }
    mhsld_block_info bi;
    FUZZ_ASSERT(mhsld_block_info_get(st, nb, &bi) != MHSLD_OK);
    uint32_t heads = g->nr_heads < 4 ? g->nr_heads : 4;
    for (uint32_t h = 0; h < heads; h++) {
        mhsld_head_info hi;
        (void)mhsld_head_info_get(st, h, &hi);
        for (uint32_t k = 0; k < 4; k++) {
            mhsld_extent ext[8];
            uint8_t tags[8][MHSLD_TAG_SIZE];
            size_t ret = 0, total = 0;
            uint32_t gen = 0;
            if (mhsld_extents_get(st, h, k, 0, ext, tags, 8, &ret, &total, &gen) == MHSLD_OK)
                FUZZ_ASSERT(ret <= 8 && ret <= total);
        }
    }
    mhsld_shared_info si[4];
    size_t n = 0, total = 0;
    if (mhsld_shared_list(st, si, 4, &n, &total) == MHSLD_OK)
        FUZZ_ASSERT(n <= 4 && n <= total);
}

/* What a strict program accepts from an operation of head 0: success, or
 * MHSLD_E_NOSPACE once the head has no operation sequences left (a valid
 * state may be at the end of its sequence space; the engine never wraps). */
static bool ok_or_used_up(mhsld_state *st, mhsld_status rc)
{
    mhsld_head_info hi;
    return rc == MHSLD_OK || (rc == MHSLD_E_NOSPACE &&
                              mhsld_head_info_get(st, 0, &hi) == MHSLD_OK && hi.seqs_left == 0);
}

/* Operations on head 0.  `strict`: the state validated, so they must work.
 * Returns whether it stayed strict (a tolerated known defect ends that). */
static bool program(mhsld_state *st, const mhsld_geometry *g, bool strict)
{
    mhsld_head *h = NULL;
    mhsld_status rc = mhsld_attach(st, 0, MHSLD_ATTACH_KEEP, &h);
    fuzz_trace("program (%s): attach head 0 -> %s", strict ? "state validated" : "state invalid",
               mhsld_status_name(rc));
    if (strict)
        FUZZ_ASSERT_MSG(rc == MHSLD_OK, "attach to a valid state: %s", mhsld_status_name(rc));
    if (rc != MHSLD_OK)
        return strict;
    uint64_t bs = g->block_size;
    /* The first free block of every region. */
    for (uint32_t r = 0; r < g->nr_regions; r++) {
        uint64_t first = 0;
        for (uint32_t q = 0; q < r; q++)
            first += g->regions[q].len / bs;
        uint64_t nb = g->regions[r].len / bs;
        for (uint64_t i = 0; i < nb && i < 64; i++) {
            mhsld_block_info bi;
            if (mhsld_block_info_get(st, first + i, &bi) != MHSLD_OK ||
                bi.state != MHSLD_BLOCK_FREE)
                continue;
            mhsld_extent x = {bi.dpa, bs};
            mhsld_head_info hi;
            bool room =
                mhsld_head_info_get(st, 0, &hi) == MHSLD_OK && hi.nr_pending < MHSLD_MAX_PENDING;
            uint64_t group = 0;
            rc = mhsld_reserve(h, &x, 1, &group, NULL);
            fuzz_trace("reserve %#llx+%#llx (block %llu of region %u, %u groups pending) -> %s "
                       "group %#llx",
                       (unsigned long long)x.dpa, (unsigned long long)x.len,
                       (unsigned long long)(first + i), r, room ? hi.nr_pending : 99,
                       mhsld_status_name(rc), (unsigned long long)group);
            if (strict && room)
                FUZZ_ASSERT_MSG(ok_or_used_up(st, rc), "reserve of free block %#llx: %s",
                                (unsigned long long)x.dpa, mhsld_status_name(rc));
            if (rc == MHSLD_OK && strict) {
                /* The new reservation, and only it, has this id (a state whose
                 * head sequence was behind its own reservations once made
                 * two share one id: regress-K2-*). */
                mhsld_extent pe[2];
                size_t pn = 0;
                mhsld_status prc = mhsld_pending_get(h, group, pe, 2, &pn);
                FUZZ_ASSERT_MSG(prc == MHSLD_OK && pn == 1 && pe[0].dpa == x.dpa &&
                                    pe[0].len == x.len,
                                "reserve returned group %#llx, which names another reservation",
                                (unsigned long long)group);
            }
            if (rc == MHSLD_OK) {
                rc = mhsld_commit(h, group, &x, 1);
                fuzz_trace("commit -> %s", mhsld_status_name(rc));
                if (rc != MHSLD_OK) {
                    mhsld_extent pe[4];
                    size_t pn = 0;
                    uint64_t oldest = 0;
                    mhsld_status prc = mhsld_pending_get(h, group, pe, 4, &pn);
                    fuzz_trace("  pending_get(group) -> %s, %zu extents, first %#llx+%#llx",
                               mhsld_status_name(prc), pn, (unsigned long long)(pn ? pe[0].dpa : 0),
                               (unsigned long long)(pn ? pe[0].len : 0));
                    prc = mhsld_pending_oldest(h, &oldest);
                    fuzz_trace("  pending_oldest -> %s %#llx", mhsld_status_name(prc),
                               (unsigned long long)oldest);
                }
                if (strict)
                    FUZZ_ASSERT_MSG(ok_or_used_up(st, rc), "commit: %s", mhsld_status_name(rc));
                /* Not committed (sequences used up): the block stays pending,
                 * neither accessible nor releasable. */
                bool committed = rc == MHSLD_OK;
                bool ok = mhsld_access_ok(h, x.dpa + 8, 8);
                if (strict)
                    FUZZ_ASSERT_MSG(ok == committed, "access to a %s block: %d",
                                    committed ? "committed" : "pending", ok);
                rc = mhsld_release(h, &x, 1, NULL);
                if (strict)
                    FUZZ_ASSERT_MSG(committed ? ok_or_used_up(st, rc) : rc == MHSLD_E_NOT_OWNER,
                                    "release of a %s block: %s",
                                    committed ? "committed" : "pending", mhsld_status_name(rc));
            }
            if (g->regions[r].flags & MHSLD_REGION_SHARABLE) {
                uint8_t tag[MHSLD_TAG_SIZE] = {0x5A, 0xA5};
                if (mhsld_share_add(h, &x, tag, NULL) == MHSLD_OK)
                    (void)mhsld_share_release(h, &x);
            }
            break;
        }
    }
    uint64_t group = 0;
    if (mhsld_pending_oldest(h, &group) == MHSLD_OK) {
        mhsld_extent ext[4];
        size_t n = 0;
        if (mhsld_pending_get(h, group, ext, 4, &n) == MHSLD_OK)
            FUZZ_ASSERT(n <= MHSLD_MAX_EXTENTS);
        (void)mhsld_commit(h, group, NULL, 0);
    }
    (void)mhsld_access_ok(h, g->regions[0].base, bs);
    uint64_t freed = 0;
    rc = mhsld_release_all(h, &freed);
    if (strict)
        FUZZ_ASSERT_MSG(ok_or_used_up(st, rc), "release_all: %s", mhsld_status_name(rc));
    mhsld_detach(h);
    return strict;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > MAX_FILE)
        return 0;
    fuzz_trace_reset();
    fuzz_statefile sf;
    if ((data[0] & 1u) == 0) {
        fuzz_statefile_create(&sf, data + 1, size - 1);
    } else {
        fuzz_dp dp;
        fuzz_dp_init(&dp, data + 1, size - 1);
        fuzz_statefile_create(&sf, NULL, 0);
        build_recipe(&dp, &sf);
        dump_for_seeding(&sf);
    }
    size_t fsize = fuzz_statefile_size(&sf);
    uint8_t *orig = malloc(fsize ? fsize : 1);
    FUZZ_ASSERT(orig);
    FUZZ_ASSERT(fuzz_statefile_read(&sf, orig, fsize) == fsize);

    mhsld_state *st = NULL;
    mhsld_status rc = fuzz_state_open(&sf, MHSLD_OPEN_EXISTING, NULL, &st);
    if (rc != MHSLD_OK) {
        FUZZ_ASSERT_MSG(st == NULL, "open refused (%s) but returned a state",
                        mhsld_status_name(rc));
        /* A refused state is left exactly as it was. */
        FUZZ_ASSERT(fuzz_statefile_size(&sf) == fsize);
        uint8_t *now = malloc(fsize ? fsize : 1);
        FUZZ_ASSERT(now);
        FUZZ_ASSERT(fuzz_statefile_read(&sf, now, fsize) == fsize);
        FUZZ_ASSERT_MSG(memcmp(orig, now, fsize) == 0, "open refused (%s) but wrote to the file",
                        mhsld_status_name(rc));
        free(now);
        free(orig);
        fuzz_statefile_destroy(&sf);
        return 0;
    }
    free(orig);
    FUZZ_ASSERT(st != NULL);
    mhsld_geometry g;
    FUZZ_ASSERT(mhsld_get_geometry(st, &g) == MHSLD_OK);
    char gd[256];
    fuzz_geometry_describe(&g, gd, sizeof gd);
    fuzz_trace("open: %s", gd);
    FUZZ_ASSERT_MSG(mhsld_geometry_check(&g) == MHSLD_OK, "open accepted an invalid geometry");
    FUZZ_ASSERT_MSG(mhsld_state_size(&g) <= fsize, "open accepted a truncated state");

    /* A second process joins with the geometry it read (EXISTING with a
     * geometry, and CREATE, which joins an initialised state): both must
     * agree with the first; another geometry is refused. */
    {
        mhsld_state *st2 = NULL;
        mhsld_status j = fuzz_state_open(&sf, MHSLD_OPEN_EXISTING, &g, &st2);
        FUZZ_ASSERT_MSG(j == MHSLD_OK, "re-open with its own geometry: %s", mhsld_status_name(j));
        mhsld_close(st2);
        st2 = NULL;
        j = fuzz_state_open(&sf, MHSLD_OPEN_CREATE, &g, &st2);
        FUZZ_ASSERT_MSG(j == MHSLD_OK, "create-join with its own geometry: %s",
                        mhsld_status_name(j));
        mhsld_close(st2);
        st2 = NULL;
        mhsld_geometry other = g;
        other.regions[0].dsmad_handle ^= 1u;
        j = fuzz_state_open(&sf, MHSLD_OPEN_EXISTING, &other, &st2);
        FUZZ_ASSERT_MSG(j == MHSLD_E_GEOMETRY && st2 == NULL, "join with another geometry: %s",
                        mhsld_status_name(j));
    }
    char msg[256];
    mhsld_status v0 = mhsld_validate(st, msg, sizeof msg);
    query_all(st, &g);
    bool strict = program(st, &g, v0 == MHSLD_OK);
    /* Recover another head (whatever its journal says), then re-attach it. */
    if (g.nr_heads > 1) {
        mhsld_recover_report rep;
        (void)mhsld_recover(st, 1, MHSLD_RECOVER_KEEP, &rep);
        mhsld_head *h = NULL;
        if (mhsld_attach(st, 1, MHSLD_ATTACH_DROP, &h) == MHSLD_OK)
            mhsld_detach(h);
    }
    query_all(st, &g);
    mhsld_status v1 = mhsld_validate(st, msg, sizeof msg);
    if (v0 == MHSLD_OK && strict)
        FUZZ_ASSERT_MSG(v1 == MHSLD_OK, "a valid state became invalid: %s: %s",
                        mhsld_status_name(v1), msg);
    if (getenv("MHSLD_FUZZ_VERBOSE")) /* show what the input did */
        fuzz_trace_dump();
    mhsld_close(st);
    fuzz_statefile_destroy(&sf);
    return 0;
}
