/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Baseline 2: the lock-based design a user would write first.  One robust,
 * process-shared pthread mutex lives in the shared mapping; every operation
 * takes it, then scans and fills plain owner bytes (0 = free, head + 1 =
 * owned).  A holder that dies is detected by EOWNERDEAD; whatever it had
 * half written stays, and the only repair is a scan for the dead head's
 * bytes (mtx_clear_head).
 */
#ifndef MHSLD_BENCH_BASE_MUTEX_H
#define MHSLD_BENCH_BASE_MUTEX_H

#include <stdbool.h>
#include <stdint.h>

#define MTX_MAX_HEADS 254u

typedef struct mtx_state mtx_state;

mtx_state *mtx_create(const char *path, uint64_t nblocks, uint64_t block_size);
mtx_state *mtx_open(const char *path);
void mtx_close(mtx_state *s);
uint64_t mtx_nblocks(const mtx_state *s);
uint64_t mtx_state_bytes(const mtx_state *s);

/* 0: claimed; 1: conflict (nothing changed); -1: bad argument or lock error. */
int mtx_claim(mtx_state *s, unsigned head, uint64_t first, uint64_t n);
/* Same, but raise(SIGKILL) with the lock held after filling `die_after` bytes. */
int mtx_claim_die(mtx_state *s, unsigned head, uint64_t first, uint64_t n, uint64_t die_after);
/* 0: released; 1: not owner (nothing changed); -1: bad argument or lock error. */
int mtx_release(mtx_state *s, unsigned head, uint64_t first, uint64_t n);
/* Under the lock: is every block touched by [dpa, dpa + len) owned by head? */
bool mtx_access_ok(mtx_state *s, unsigned head, uint64_t dpa, uint64_t len);
/* Recovery of a dead head: take the lock (repairing EOWNERDEAD), free every
 * block owned by head.  Returns the number of blocks freed. */
uint64_t mtx_clear_head(mtx_state *s, unsigned head);
/* Under the lock, check every owner byte is 0 or a head < nr_heads (+1).
 * Returns the number of bad bytes (UINT64_MAX if the lock fails). */
uint64_t mtx_validate(mtx_state *s, unsigned nr_heads);
/* Owner byte of a block, read under the lock (for the final invariant check). */
uint8_t mtx_owner(mtx_state *s, uint64_t block);
/* Number of times a lock acquisition found the previous holder dead. */
uint64_t mtx_owner_dead_seen(const mtx_state *s);

#endif /* MHSLD_BENCH_BASE_MUTEX_H */
