/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A commit's tag rewrite, re-run by a recoverer, must not erase the only
 * proof of one of the same commit's give-back steps.
 *
 * Head 0 reserves blocks 0-9 (word 0) and commits 0-4: the commit rewrites
 * word 0's tag to (0, S, COMMIT), then gives back 5-9 with step 0's CAS,
 * tag (0, S, 0).  It dies after that CAS, before it records progress 1.
 * Recovery R1 finds the tag, so step 0 is done, and re-runs the commit from
 * step 1: first the rewrite of the accepted words, word 0 included.  If the
 * rewrite overwrites (0, S, 0) (its own tag: no evidence is recorded) and
 * R1 is killed before the commit's end, progress still says 0 and the
 * proof of step 0 is gone.  Head 1 then claims block 5 (free since step 0);
 * its CAS overwrites a COMMIT tag (not recorded either).  Recovery R2 then
 * takes step 0 for not done and gives back 5-9 again: head 1's block 5 is
 * cleared from the occupancy map while head 1 owns it.
 *
 * Every crash point of R1 is tried; at each the outcome must be blocks 0-4
 * owned by 0, block 5 owned by 1, 6-9 free.
 */
#include "internal.h"
#include "crashutil.h"

#define NBLK 256u

/* Head 0 reserves 0-9 and commits 0-4, killed at the commit's crash
 * point k. */
static void commit_body(mhsld_state *st, uint64_t k, void *arg)
{
    (void)arg;
    mhsld_head *h0 = tu_child_attach(st, 0);
    mhsld_extent e = tu_ext(0, 10 * BS), a = tu_ext(0, 5 * BS);
    uint64_t g = 0;
    if (mhsld_reserve(h0, &e, 1, &g, NULL) != MHSLD_OK)
        _exit(4);
    tu_arm(k);
    (void)mhsld_commit(h0, g, &a, 1);
}

/* Recovery of head 0, killed at crash point k. */
static void recover_body(mhsld_state *st, uint64_t k, void *arg)
{
    (void)arg;
    tu_arm(k);
    if (mhsld_recover(st, 0, MHSLD_RECOVER_KEEP, NULL) != MHSLD_OK)
        _exit(5);
}

/* A state where head 0 died after its commit's give-back step 0's CAS,
 * before it recorded progress 1. */
static mhsld_state *dead_after_step0(char *path, size_t len)
{
    for (uint64_t k = 1; k < 64; k++) {
        mhsld_state *st = tu_create_blocks(path, len, "commit_rewrite_nested", 2, NBLK);
        if (!tu_killed_at(st, k, commit_body, NULL)) {
            mhsld_close(st);
            (void)mhsld_destroy(path, true);
            break;
        }
        uint64_t p = mhsld__load64(&st->heads[0].jprog), seq = p >> 24;
        if (mhsld__load32(&st->heads[0].j.op) == MHSLD__OP_COMMIT && (p & 0xffffffu) == 0 &&
            mhsld__load64(&mhsld__occ(st, 0)->hi) == mhsld__tag(0, seq, 0))
            return st;
        mhsld_close(st);
        (void)mhsld_destroy(path, true);
    }
    fprintf(stderr, "no crash point between step 0's CAS and its progress store\n");
    REQUIRE(0);
    return NULL;
}

int main(void)
{
    unsigned long points = 0;
    for (uint64_t k = 1; k < 64; k++) {
        char path[128];
        mhsld_state *st = dead_after_step0(path, sizeof(path));
        int killed = tu_killed_at(st, k, recover_body, NULL);
        mhsld_head *h1 = tu_attach(st, 1);
        mhsld_extent b = tu_ext(5 * BS, BS);
        CHECK_OK(mhsld_claim(h1, &b, 1, NULL));
        CHECK_OK(mhsld_recover(st, 0, MHSLD_RECOVER_KEEP, NULL));
        uint32_t owner = 99;
        if (!(tu_block_state(st, 0, &owner) == MHSLD_BLOCK_OWNED && owner == 0) ||
            !(tu_block_state(st, 4 * BS, &owner) == MHSLD_BLOCK_OWNED && owner == 0) ||
            !(tu_block_state(st, 5 * BS, &owner) == MHSLD_BLOCK_OWNED && owner == 1) ||
            tu_block_state(st, 6 * BS, NULL) != MHSLD_BLOCK_FREE ||
            tu_block_state(st, 9 * BS, NULL) != MHSLD_BLOCK_FREE) {
            fprintf(stderr, "recovery killed at %llu: wrong holders afterwards\n",
                    (unsigned long long)k);
            tu_fail++;
        }
        CHECK_VALID(st);
        mhsld_detach(h1);
        mhsld_close(st);
        (void)mhsld_destroy(path, true);
        points++;
        if (!killed)
            break;
    }
    printf("recovery crash points: %lu\n", points);
    return tu_report("test_commit_rewrite_nested");
}
