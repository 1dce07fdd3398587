/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The random workload shared by the process and thread stress tests: one
 * head reserves, commits a random subset, releases, checks access, and
 * checks after every step that the shared state agrees with what it knows
 * it holds.  Anything else is a violation.
 */
#ifndef MHSLD_STRESS_WORKER_H
#define MHSLD_STRESS_WORKER_H

#include "testutil.h"

#define SW_BLOCKS 1024u

typedef struct sw_stats {
    uint64_t ops, reserves_ok, conflicts, commits, releases, checks, violations;
} sw_stats;

typedef struct sw {
    mhsld_head *h;
    mhsld_state *st;
    uint32_t head;
    uint64_t rng;
    uint8_t owned[SW_BLOCKS]; /* what this head knows it owns */
    sw_stats s;
} sw;

static inline uint64_t sw_rand(sw *w)
{
    w->rng ^= w->rng << 13;
    w->rng ^= w->rng >> 7;
    w->rng ^= w->rng << 17;
    return w->rng;
}

static inline void sw_violation(sw *w, const char *what, uint64_t blk)
{
    w->s.violations++;
    fprintf(stderr, "head %u: VIOLATION %s at block %llu\n", w->head, what,
            (unsigned long long)blk);
}

static inline int sw_block(sw *w, uint64_t b, uint32_t *owner)
{
    mhsld_block_info bi;
    REQUIRE(mhsld_block_info_get(w->st, b, &bi) == MHSLD_OK);
    *owner = bi.owner;
    return (int)bi.state;
}

/* One random operation. */
static inline void sw_step(sw *w, uint32_t max_len)
{
    uint64_t r = sw_rand(w);
    w->s.ops++;
    if (r % 4 != 3) {
        /* reserve 1-3 extents, then commit a random subset */
        mhsld_extent e[3];
        uint32_t n = 1 + (uint32_t)(sw_rand(w) % 3);
        for (uint32_t i = 0; i < n; i++) {
            uint64_t len = 1 + sw_rand(w) % max_len;
            uint64_t start = sw_rand(w) % (SW_BLOCKS - 16 - len);
            e[i] = tu_ext(start * BS, len * BS);
        }
        uint64_t g = 0;
        mhsld_status s = mhsld_reserve(w->h, e, n, &g, NULL);
        if (s == MHSLD_E_CONFLICT) {
            w->s.conflicts++;
            return;
        }
        if (s == MHSLD_E_OVERLAP)
            return;
        if (s != MHSLD_OK) {
            fprintf(stderr, "head %u: reserve: %s\n", w->head, mhsld_strerror(s));
            w->s.violations++;
            return;
        }
        w->s.reserves_ok++;
        for (uint32_t i = 0; i < n; i++)
            for (uint64_t b = e[i].dpa / BS; b < (e[i].dpa + e[i].len) / BS; b++) {
                uint32_t o;
                if (sw_block(w, b, &o) != MHSLD_BLOCK_PENDING || o != w->head)
                    sw_violation(w, "reserved block not pending for me", b);
            }
        uint32_t mask = (uint32_t)sw_rand(w) & ((1u << n) - 1);
        mhsld_extent acc[3];
        uint32_t na = 0;
        for (uint32_t i = 0; i < n; i++)
            if (mask >> i & 1u)
                acc[na++] = e[i];
        s = mhsld_commit(w->h, g, acc, na);
        if (s != MHSLD_OK) {
            fprintf(stderr, "head %u: commit: %s\n", w->head, mhsld_strerror(s));
            w->s.violations++;
            return;
        }
        w->s.commits++;
        for (uint32_t i = 0; i < n; i++)
            for (uint64_t b = e[i].dpa / BS; b < (e[i].dpa + e[i].len) / BS; b++) {
                int accepted = (mask >> i) & 1u;
                if (accepted) {
                    w->owned[b] = 1;
                    if (!mhsld_access_ok(w->h, b * BS + 64, 8))
                        sw_violation(w, "accepted block not accessible", b);
                } else {
                    uint32_t o;
                    int bs = sw_block(w, b, &o);
                    if ((bs == MHSLD_BLOCK_OWNED || bs == MHSLD_BLOCK_PENDING) && o == w->head)
                        sw_violation(w, "rejected block still mine", b);
                }
            }
    } else {
        /* release one owned run, after checking everything we own */
        uint64_t start = sw_rand(w) % SW_BLOCKS, b;
        for (b = 0; b < SW_BLOCKS; b++) {
            uint64_t x = (start + b) % SW_BLOCKS;
            uint32_t o;
            int bs = sw_block(w, x, &o);
            int mine = bs == MHSLD_BLOCK_OWNED && o == w->head;
            if (mine != w->owned[x])
                sw_violation(w, mine ? "owns a block it never accepted" : "lost a block", x);
            w->s.checks++;
        }
        uint64_t x = start;
        while (x < SW_BLOCKS && !w->owned[x])
            x++;
        if (x == SW_BLOCKS)
            return;
        uint64_t len = 0;
        while (x + len < SW_BLOCKS && w->owned[x + len] && len < max_len)
            len++;
        mhsld_extent e = tu_ext(x * BS, len * BS);
        mhsld_status s = mhsld_release(w->h, &e, 1, NULL);
        if (s != MHSLD_OK) {
            fprintf(stderr, "head %u: release: %s\n", w->head, mhsld_strerror(s));
            w->s.violations++;
            return;
        }
        w->s.releases++;
        for (uint64_t k = 0; k < len; k++) {
            w->owned[x + k] = 0;
            if (mhsld_access_ok(w->h, (x + k) * BS, 8))
                sw_violation(w, "released block still accessible", x + k);
        }
    }
}

static inline uint64_t sw_owned_count(const sw *w)
{
    uint64_t n = 0;
    for (uint32_t b = 0; b < SW_BLOCKS; b++)
        n += w->owned[b];
    return n;
}

#endif
