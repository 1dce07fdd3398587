/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Evidence (layout 6): a head about to overwrite another head's step tag
 * records it in its own record first, and recovery reads it.
 *
 * Head 0 claims blocks 60-130 (words 0, 1, 2: three steps, mhsld_claim's
 * one-range path) and dies after step 2's CAS, before it records 3: its
 * progress says 2 and word 2 carries its tag (0, S, 2).  Head 1 then claims
 * block 10 (word 0, tag (0, S, 0)) and block 140 (word 2): before each CAS
 * it records the tag it overwrites in its own ev[0], and writes nothing of
 * head 0's (its progress word stays at 2).  Head 0's recovery no longer
 * finds step 2's tag; only head 1's evidence tells it that step 2 happened,
 * or it would take step 2 for not done and leave blocks 128-130 held by
 * nobody.
 */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "crashutil.h"

#define NBLK 256u

/* Head 0 claims 60-130, killed at crash point k. */
static void claim_body(mhsld_state *st, uint64_t k, void *arg)
{
    (void)arg;
    mhsld_head *h0 = tu_child_attach(st, 0);
    mhsld_extent e = tu_ext(60 * BS, 71 * BS);
    tu_arm(k);
    (void)mhsld_claim(h0, &e, 1, NULL);
}

/* A state where head 0 died after step 2's CAS of its claim of 60-130,
 * before it recorded 3; *seq: that claim's sequence. */
static mhsld_state *dead_after_step2(char *path, size_t len, uint64_t *seq)
{
    for (uint64_t k = 1; k < 64; k++) {
        mhsld_state *st = tu_create_blocks(path, len, "evidence", 2, NBLK);
        if (!tu_killed_at(st, k, claim_body, NULL)) {
            mhsld_close(st);
            (void)mhsld_destroy(path, true);
            break;
        }
        uint64_t p = mhsld__load64(&st->heads[0].jprog);
        *seq = p >> 24;
        if ((p & 0xffffffu) == 2 && mhsld__load64(&mhsld__occ(st, 2)->hi) == mhsld__tag(0, *seq, 2))
            return st;
        mhsld_close(st);
        (void)mhsld_destroy(path, true);
    }
    fprintf(stderr, "no crash point between step 2's CAS and its progress store\n");
    REQUIRE(0);
    return NULL;
}

/* poison: before head 1's first claim a co-tenant writes into head 1's
 * ev[0] a tag of head 0's far ahead (2^20 sequences): head 1 must replace
 * it, not keep it as the newest for ever (which would leave step 2 without
 * evidence). */
static void run(int poison)
{
    char path[128];
    uint64_t seq = 0;
    mhsld_state *st = dead_after_step2(path, sizeof(path), &seq);
    uint64_t *jp = &st->heads[0].jprog, *ev = &st->heads[1].ev[0];
    mhsld_head *h1 = tu_attach(st, 1);
    mhsld_extent a = tu_ext(10 * BS, BS), b = tu_ext(140 * BS, BS);
    CHECK(mhsld__load64(ev) == 0);
    if (poison)
        __atomic_store_n(ev, mhsld__tag(0, seq + (1ull << 20), 0), __ATOMIC_SEQ_CST);
    CHECK_OK(mhsld_claim(h1, &a, 1, NULL));
    CHECK(mhsld__load64(ev) == mhsld__tag(0, seq, 0));
    CHECK_OK(mhsld_claim(h1, &b, 1, NULL));
    CHECK(mhsld__load64(ev) == mhsld__tag(0, seq, 2));
    /* Nothing of head 0's was written: its progress still says 2. */
    CHECK(mhsld__load64(jp) == mhsld__prog(seq, 2));
    CHECK(mhsld__load64(&mhsld__occ(st, 2)->hi) != mhsld__tag(0, seq, 2));

    /* Recovery finds all three claims done and completes the claim. */
    CHECK_OK(mhsld_recover(st, 0, MHSLD_RECOVER_KEEP, NULL));
    uint32_t owner = 99;
    CHECK(tu_block_state(st, 60 * BS, &owner) == MHSLD_BLOCK_OWNED && owner == 0);
    CHECK(tu_block_state(st, 130 * BS, &owner) == MHSLD_BLOCK_OWNED && owner == 0);
    CHECK(tu_block_state(st, 140 * BS, &owner) == MHSLD_BLOCK_OWNED && owner == 1);
    CHECK_VALID(st);

    mhsld_detach(h1);
    mhsld_close(st);
    (void)mhsld_destroy(path, true);
}

int main(void)
{
    run(0);
    run(1);
    return tu_report("test_evidence");
}
