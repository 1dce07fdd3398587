/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Comparing what the engine's state shows with the reference model, and
 * snapshots for "a failing call changes nothing".  All reads go through the
 * public information API (block, head, extent and shared-extent queries).
 */
#ifndef MHSLD_FUZZ_COMPARE_H
#define MHSLD_FUZZ_COMPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "mhsld/mhsld.h"

/* Compare every block and head of `st` with `m`, except the blocks in
 * skip_blocks and the heads in skip_heads (the footprint of a crashed
 * operation not yet recovered).  pending_via[h] (may be NULL, or hold NULL
 * entries): a live handle of head h through which its pending reservations
 * are compared too.  On a difference returns false and says what in why. */
bool fuzz_compare_model(mhsld_state *st, const model *m, model_mask skip_blocks,
                        uint64_t skip_heads, mhsld_head *const *pending_via, char *why,
                        size_t whylen);

/* The engine's blocks in model_describe_blocks() notation (" . p0 o1 s3"). */
void fuzz_describe_engine(mhsld_state *st, uint32_t nblocks, char *buf, size_t cap);

typedef struct fuzz_snapshot {
    uint32_t nblocks, nheads;
    mhsld_block_info b[MODEL_MAX_BLOCKS];
    mhsld_head_info h[MHSLD_MAX_HEADS];
} fuzz_snapshot;

void fuzz_snapshot_take(mhsld_state *st, uint32_t nblocks, uint32_t nheads, fuzz_snapshot *s);
/* Equal in every block's info (state, owner, sharers, extent start,
 * generation) and every head's counts and list generation.  Liveness, pid
 * and epoch are left out when with_liveness is false (attach and detach
 * change them by design). */
bool fuzz_snapshot_equal(const fuzz_snapshot *a, const fuzz_snapshot *b, bool with_liveness,
                         char *why, size_t whylen);

#endif
