/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Baseline 1: the RFC algorithm ("[PATCH RFC v3 3/3] mhsld: implement MHSLD
 * device"), written here from its description, with its known defects
 * corrected so that it is a fair, correct competitor:
 *   - one byte per block holding the bit mask of owning heads (<= 8 heads);
 *   - claim: per block, compare-and-swap 0 -> (1 << head); on a conflict,
 *     roll back exactly the blocks this call claimed by fetch-and-and;
 *   - release: per block, fetch-and-and ~(1 << head);
 *   - access check: a loop over every block the access touches.
 * Atomics are ck_pr (one locked instruction per byte).  The state is a small
 * header followed by the byte map, in a file under /dev/shm.
 */
#ifndef MHSLD_BENCH_BASE_RFC_H
#define MHSLD_BENCH_BASE_RFC_H

#include <stdbool.h>
#include <stdint.h>

#define RFC_MAX_HEADS 8u

typedef struct rfc_state rfc_state;

/* Create (truncate) a state of nblocks blocks of block_size bytes at path. */
rfc_state *rfc_create(const char *path, uint64_t nblocks, uint64_t block_size);
/* Open an existing state: open, map and check the header against the size. */
rfc_state *rfc_open(const char *path);
void rfc_close(rfc_state *s);
uint64_t rfc_nblocks(const rfc_state *s);
uint64_t rfc_state_bytes(const rfc_state *s);

/* 0: claimed; 1: conflict (nothing left behind); -1: bad argument. */
int rfc_claim(rfc_state *s, unsigned head, uint64_t first, uint64_t n);
/* Same, but raise(SIGKILL) after `die_after` blocks were claimed (crash test). */
int rfc_claim_die(rfc_state *s, unsigned head, uint64_t first, uint64_t n, uint64_t die_after);
/* 0: released; -1: bad argument. */
int rfc_release(rfc_state *s, unsigned head, uint64_t first, uint64_t n);
/* May `head` access [dpa, dpa + len)?  Every touched block must carry head's bit. */
bool rfc_access_ok(const rfc_state *s, unsigned head, uint64_t dpa, uint64_t len);
/* The only recovery the RFC design allows: clear a head's bit in every byte. */
uint64_t rfc_clear_head(rfc_state *s, unsigned head);
/* Check every byte holds only bits of heads < nr_heads (what an open could
 * validate in this design).  Returns the number of bad bytes. */
uint64_t rfc_validate(const rfc_state *s, unsigned nr_heads);
/* Raw owner mask of a block (for the final invariant check). */
uint8_t rfc_mask(const rfc_state *s, uint64_t block);

#endif /* MHSLD_BENCH_BASE_RFC_H */
