/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Snapshots: the only way control data leaves the shared state.
 *
 * Every byte of the shared mapping may change between two loads: another
 * head's bug, a co-tenant with write access, or a recoverer acting for a
 * head.  Plain data words (a block word, an occupancy pair, a slot word)
 * are each read once by a single atomic load and judged by their value.
 * Control data that steers an index or a loop (a journal, a pending
 * reservation's ranges, a shared slot's range) is copied here, once, into
 * private memory, validated there, and only the private copy is used
 * afterwards.  Nothing in the engine indexes or loops over a journal or a
 * group in place; a live operation keeps what it writes in its own private
 * copy (mhsld__jsnap) and never reads it back.
 *
 * The copies use relaxed 64-bit atomic loads, so a concurrent writer gives
 * a torn copy at worst, never a data race; the validation below then
 * decides whether the copy is usable.
 */
#include <string.h>

#include "internal.h"

int mhsld__ranges_valid(const mhsld_state *st, const mhsld__bext *r, uint32_t n, uint32_t max)
{
    if (n > max)
        return 0;
    for (uint32_t i = 0; i < n; i++) {
        if (r[i].count == 0 || r[i].start >= st->nr_blocks ||
            r[i].count > st->nr_blocks - r[i].start)
            return 0;
        if (i > 0 && r[i - 1].start + r[i - 1].count > r[i].start)
            return 0;
    }
    return 1;
}

mhsld_status mhsld__group_snapshot(const mhsld_state *st, const mhsld__headrec *hr, uint32_t g,
                                   mhsld__gsnap *out)
{
    if (g >= MHSLD_MAX_PENDING)
        return MHSLD_E_JOURNAL;
    const mhsld__group *gr = &hr->groups[g];
    uint32_t n = mhsld__load32_relaxed(&gr->n);
    if (n == 0 || n > MHSLD_MAX_EXTENTS)
        return MHSLD_E_JOURNAL;
    mhsld__copy_in(out->r, gr->r, n * sizeof(out->r[0]));
    if (!mhsld__ranges_valid(st, out->r, n, MHSLD_MAX_EXTENTS))
        return MHSLD_E_JOURNAL;
    out->n = n;
    return MHSLD_OK;
}

void mhsld__group_publish(mhsld__headrec *hr, uint32_t g, const mhsld__bext *r, uint32_t n)
{
    mhsld__group *gr = &hr->groups[g];
    mhsld__copy_out(gr->r, r, n * sizeof(r[0]));
    mhsld__store32_relaxed(&gr->n, n);
}

/* The fields of a journal in the order they lie in the record: op first
 * (acquire), so that a journal published with a release store of op is
 * read whole. */
mhsld_status mhsld__journal_snapshot(const mhsld_state *st, const mhsld__headrec *hr,
                                     mhsld__jsnap *j)
{
    const mhsld__journal *sj = &hr->j;
    j->op = mhsld__load32(&sj->op);
    if (j->op == MHSLD__OP_IDLE)
        return MHSLD_OK;
    j->n = mhsld__load32_relaxed(&sj->n);
    j->nacc = mhsld__load32_relaxed(&sj->nacc);
    j->slot = mhsld__load32_relaxed(&sj->slot);
    j->gslot = mhsld__load32_relaxed(&sj->gslot);
    j->seq = mhsld__load64_relaxed(&sj->seq);
    j->group = mhsld__load64_relaxed(&sj->group);
    j->undo = mhsld__load64_relaxed(&sj->undo);
    if (j->op >= MHSLD__OP__COUNT || j->seq == 0 || j->seq > MHSLD__SEQ_MASK ||
        j->n > MHSLD__JMAX || j->nacc > MHSLD_MAX_EXTENTS ||
        (j->slot != MHSLD__NOSLOT && j->slot >= MHSLD_MAX_SHARED) ||
        (mhsld__load64(&hr->jprog) >> 24) != j->seq)
        return MHSLD_E_JOURNAL;
    mhsld__copy_in(j->r, sj->r, j->n * sizeof(j->r[0]));
    mhsld__copy_in(j->acc, sj->acc, j->nacc * sizeof(j->acc[0]));
    if (!mhsld__ranges_valid(st, j->r, j->n, MHSLD__JMAX) ||
        !mhsld__ranges_valid(st, j->acc, j->nacc, MHSLD_MAX_EXTENTS))
        return MHSLD_E_JOURNAL;
    /* What each operation needs of the rest (see mhsld__journal). */
    switch (j->op) {
    case MHSLD__OP_CLAIM:
        if (j->n == 0 || j->n > MHSLD_MAX_EXTENTS || j->nacc || j->slot != MHSLD__NOSLOT)
            return MHSLD_E_JOURNAL;
        break;
    case MHSLD__OP_RESERVE:
        if (j->gslot >= MHSLD_MAX_PENDING || j->n == 0 || j->n > MHSLD_MAX_EXTENTS || j->nacc)
            return MHSLD_E_JOURNAL;
        break;
    case MHSLD__OP_COMMIT:
        if (j->gslot >= MHSLD_MAX_PENDING || j->group == 0 || j->group > MHSLD__SEQ_MASK)
            return MHSLD_E_JOURNAL;
        break;
    case MHSLD__OP_SHARE_NEW:
    case MHSLD__OP_SHARE_LEAVE:
        if (j->slot == MHSLD__NOSLOT || j->n != 1)
            return MHSLD_E_JOURNAL;
        break;
    case MHSLD__OP_UNDO:
        if (j->undo > mhsld__count_steps(j->r, j->n))
            return MHSLD_E_JOURNAL;
        break;
    default:
        break;
    }
    return MHSLD_OK;
}

/* Every field but op, then op with a release store: a reader that sees op
 * sees the rest.  Fields an operation does not use are written too, so that
 * a snapshot never meets a stale value of an older operation (all but the
 * record's unused tag field, which nothing reads). */
void mhsld__journal_publish(mhsld__headrec *hr, const mhsld__jsnap *j)
{
    mhsld__journal *sj = &hr->j;
    mhsld__store32_relaxed(&sj->n, j->n);
    mhsld__store32_relaxed(&sj->nacc, j->nacc);
    mhsld__store32_relaxed(&sj->slot, j->slot);
    mhsld__store32_relaxed(&sj->gslot, j->gslot);
    mhsld__store64_relaxed(&sj->seq, j->seq);
    mhsld__store64_relaxed(&sj->group, j->group);
    mhsld__store64_relaxed(&sj->undo, j->undo);
    mhsld__copy_out(sj->r, j->r, j->n * sizeof(j->r[0]));
    mhsld__copy_out(sj->acc, j->acc, j->nacc * sizeof(j->acc[0]));
    mhsld__store64(&hr->jprog, mhsld__prog(j->seq, 0));
    MHSLD__STEP();
    mhsld__store32(&sj->op, j->op);
}

int mhsld__slot_range(const mhsld_state *st, uint32_t i, mhsld__bext *r)
{
    const mhsld__slot *sl = &st->slots[i];
    r->start = mhsld__load64(&sl->start);
    r->count = mhsld__load64(&sl->count);
    return r->count && r->start < st->nr_blocks && r->count <= st->nr_blocks - r->start;
}

mhsld_status mhsld__seq_floor(const mhsld__headrec *hr, uint64_t *out)
{
    uint64_t m = mhsld__load64(&hr->seq);
    if (m > MHSLD__SEQ_MASK)
        return MHSLD_E_CORRUPT;
    for (uint32_t g = 0; g < MHSLD_MAX_PENDING; g++) {
        uint64_t gs = mhsld__load64(&hr->gseq[g]);
        if (gs > MHSLD__SEQ_MASK)
            return MHSLD_E_CORRUPT;
        if (gs > m)
            m = gs;
    }
    *out = m;
    return MHSLD_OK;
}
