/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A sequential reference model of block ownership, written from the API
 * contract in mhsld.h and independent of the engine's code.  It is
 * deliberately naive: one small struct per block, linear scans, no atomics.
 *
 * For every operation the model answers two questions:
 *   - expect: which results are acceptable (success, and/or a set of error
 *     codes; the contract fixes which errors apply but not the order in
 *     which an engine checks them, so every applicable error is accepted);
 *   - apply:  the state after a success.
 * A failed operation must leave the state exactly as it was.
 *
 * Blocks are numbered 0..nblocks-1 in DPA order over the regions, as
 * mhsld_block_info_get() numbers them.  States small enough for a bit mask
 * per request (MODEL_MAX_BLOCKS) are all the fuzz targets build.
 */
#ifndef MHSLD_FUZZ_MODEL_H
#define MHSLD_FUZZ_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mhsld/mhsld.h"

#define MODEL_MAX_BLOCKS 128u /* more than one 64-block occupancy word */
#define MODEL_MAX_GROUP_EXT 8u
#define MODEL_MAX_SHARED 64u

/* One bit per block (128 blocks: two of the engine's 64-block occupancy
 * words, so that claims spanning words and their roll-back are reached). */
typedef unsigned __int128 model_mask;
#define MODEL_MASK_HI(x) ((unsigned long long)((x) >> 64))
#define MODEL_MASK_LO(x) ((unsigned long long)(x))
/* Index of the lowest set bit (x != 0). */
static inline uint32_t model_mask_first(model_mask x)
{
    uint64_t lo = (uint64_t)x, hi = (uint64_t)(x >> 64);
    return lo ? (uint32_t)__builtin_ctzll(lo) : 64u + (uint32_t)__builtin_ctzll(hi);
}

typedef struct model_block {
    uint32_t state;   /* mhsld_block_state */
    uint32_t owner;   /* PENDING/OWNED: head; else MHSLD_OWNER_NONE / _SHARED */
    uint32_t sharers; /* SHARED: bit mask of heads */
    uint32_t pad;
    uint64_t group; /* PENDING: the reservation */
} model_block;

typedef struct model_group {
    uint64_t id;
    uint32_t n;
    mhsld_extent ext[MODEL_MAX_GROUP_EXT];
    model_mask blocks;
} model_group;

typedef struct model_head {
    uint32_t ngroups; /* oldest first */
    model_group groups[MHSLD_MAX_PENDING];
} model_head;

typedef struct model_shared {
    mhsld_extent ext;
    uint8_t tag[MHSLD_TAG_SIZE];
    uint32_t sharers;
    model_mask blocks;
} model_shared;

typedef struct model {
    mhsld_geometry g;
    uint32_t nblocks;
    uint32_t region_first[MHSLD_MAX_REGIONS];
    model_block b[MODEL_MAX_BLOCKS];
    model_head h[MHSLD_MAX_HEADS];
    uint32_t nshared;
    model_shared sh[MODEL_MAX_SHARED];
} model;

/* Acceptable outcomes of one call. */
typedef struct model_expect {
    bool ok;       /* success is acceptable */
    bool any_err;  /* any error is acceptable (the contract names none) */
    uint64_t errs; /* bit (1 << status) for each acceptable error */
} model_expect;

void model_expect_none(model_expect *e);
void model_expect_err(model_expect *e, mhsld_status st);
bool model_expect_accepts(const model_expect *e, mhsld_status st);
/* "OK | MHSLD_E_X | ..." into buf. */
void model_expect_describe(const model_expect *e, char *buf, size_t cap);

/* Returns false if the geometry does not fit the model (too many blocks). */
bool model_init(model *m, const mhsld_geometry *g);

uint64_t model_block_dpa(const model *m, uint32_t idx);
/* Block holding byte `dpa`; false outside every region. */
bool model_block_of(const model *m, uint64_t dpa, uint32_t *idx);
uint32_t model_region_of_block(const model *m, uint32_t idx);

/* Blocks covered by an aligned, in-range extent (0 if it is not one). */
model_mask model_extent_mask(const model *m, const mhsld_extent *e);

/* Argument checks common to every extent list: n == 0 (unless allow_empty),
 * n > MHSLD_MAX_EXTENTS, zero length, alignment, overflow, outside the
 * regions, overlap.  Adds the applicable errors to *e and returns the union
 * of the blocks of the valid extents in *mask.  An extent that lies in two
 * adjacent regions is ambiguous (one extent per region is what CXL hosts
 * send): *spans is set and the caller accepts MHSLD_E_RANGE as well as the
 * block-level answer. */
bool model_check_extents(const model *m, const mhsld_extent *ext, size_t n, bool allow_empty,
                         model_expect *e, model_mask *mask, bool *spans);
/* (returns true if a hard error applies: one that rules success out) */

/* ---- the operations -------------------------------------------------- */

void model_reserve_expect(const model *m, uint32_t head, const mhsld_extent *ext, size_t n,
                          model_expect *e);
void model_reserve_apply(model *m, uint32_t head, const mhsld_extent *ext, size_t n,
                         uint64_t group);

/* mhsld_claim: the extents straight to OWNED, all or nothing (no
 * reservation, so no table to fill). */
void model_claim_expect(const model *m, uint32_t head, const mhsld_extent *ext, size_t n,
                        model_expect *e);
void model_claim_apply(model *m, uint32_t head, const mhsld_extent *ext, size_t n);

/* group_idx: index into m->h[head].groups, or -1 for an unknown group id. */
void model_commit_expect(const model *m, uint32_t head, int group_idx, uint64_t group_id,
                         const mhsld_extent *acc, size_t n, model_expect *e);
void model_commit_apply(model *m, uint32_t head, int group_idx, const mhsld_extent *acc, size_t n);

void model_release_expect(const model *m, uint32_t head, const mhsld_extent *ext, size_t n,
                          model_expect *e);
void model_release_apply(model *m, uint32_t head, const mhsld_extent *ext, size_t n);

/* Returns the number of blocks that became FREE. */
uint64_t model_release_all_apply(model *m, uint32_t head);

void model_share_add_expect(const model *m, uint32_t head, const mhsld_extent *ext,
                            const uint8_t tag[MHSLD_TAG_SIZE], model_expect *e);
void model_share_add_apply(model *m, uint32_t head, const mhsld_extent *ext,
                           const uint8_t tag[MHSLD_TAG_SIZE]);
void model_share_release_expect(const model *m, uint32_t head, const mhsld_extent *ext,
                                model_expect *e);
void model_share_release_apply(model *m, uint32_t head, const mhsld_extent *ext);

bool model_access_ok(const model *m, uint32_t head, uint64_t dpa, uint64_t len);

/* Recovery policies applied to a head that is gone.  DROP: everything is
 * freed.  KEEP: owned and shared stay; keep_pending says whether its pending
 * reservations stay too (the contract leaves that to the engine). */
void model_drop_head(model *m, uint32_t head);
void model_keep_head(model *m, uint32_t head, bool keep_pending);

/* ---- queries --------------------------------------------------------- */

model_mask model_head_mask(const model *m, uint32_t head, uint32_t state); /* state < 4 */
model_mask model_head_all(const model *m, uint32_t head); /* pending|owned|shared */
uint64_t model_popcount(model_mask x);
int model_find_group(const model *m, uint32_t head, uint64_t id);
int model_find_shared(const model *m, const mhsld_extent *ext);
/* Blocks an operation on these extents or this head could touch. */
bool model_masks_meet(model_mask a, model_mask b);
/* Canonical, comparable text of the whole model (for traces). */
void model_describe_blocks(const model *m, char *buf, size_t cap);

#endif
