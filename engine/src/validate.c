/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mhsld_validate(): every invariant of a quiescent state, checked from the
 * shared bytes alone (nothing trusted but the geometry validated at open).
 *
 *  I1  the header is unchanged since open (magic, version, checksum, READY)
 *  I2  occupancy bit set  <=>  block word not FREE; bits past the last block are 0
 *  I3  PENDING/OWNED words name a head < nr_heads
 *  I4  PENDING blocks of head h are exactly the blocks of h's recorded
 *      reservations; reservations are valid, disjoint ranges
 *  I5  SHARED blocks are exactly the blocks of ACTIVE shared slots, each
 *      with a valid range and a non-empty sharer set of existing heads
 *  I6  each head's owned map has a bit set exactly for the blocks OWNED by it
 *  I7  no operation sequence is reused: every sequence of a head record is
 *      within the sequence space, every pending reservation and every
 *      block stamp of head h carries a sequence <= h's last one, and the
 *      pending reservations of a head have distinct sequences
 *  I8  no journal in flight and no slot CREATING or RETIRING (those need
 *      recovery: reported as MHSLD_E_BUSY with the head to recover)
 *  I9  every FM queue slot is free or in a known state, and a slot that
 *      holds a request (POSTED, TAKEN) or a result (DONE) holds a
 *      well-formed one (fmq.c)
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

__attribute__((format(printf, 3, 4))) static mhsld_status fail(char *msg, size_t len,
                                                               const char *fmt, ...)
{
    if (msg && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, len, fmt, ap);
        va_end(ap);
    }
    return MHSLD_E_CORRUPT;
}

mhsld_status mhsld_validate(mhsld_state *st, char *msg, size_t msglen)
{
    if (!st)
        return MHSLD_E_INVAL;
    if (msg && msglen)
        msg[0] = '\0';
    mhsld_status sz = mhsld__check_size(st); /* a truncated file: no SIGBUS here */
    if (sz != MHSLD_OK) {
        if (msg && msglen)
            snprintf(msg, msglen, "state file is smaller than its layout (truncated)");
        return sz;
    }
    const mhsld__hdr *h = st->hdr;
    if (h->magic != MHSLD__MAGIC || h->version != MHSLD__VERSION || h->bom != MHSLD__BOM ||
        mhsld__load32(&h->init) != MHSLD__INIT_READY || h->total_size != st->lay.total)
        return fail(msg, msglen, "header changed since open (magic/version/size/init)");
    mhsld__wgeom w;
    memcpy(&w, &h->geom, sizeof(w));
    if (w.nr_heads != st->geo.nr_heads || w.nr_blocks != st->nr_blocks ||
        w.nr_regions != st->geo.nr_regions)
        return fail(msg, msglen, "header geometry changed since open");

    uint32_t nh = st->geo.nr_heads;
    for (uint32_t hd = 0; hd < nh; hd++) {
        uint32_t op = mhsld__load32(&st->heads[hd].j.op);
        if (op != MHSLD__OP_IDLE) {
            if (msg && msglen)
                snprintf(msg, msglen, "head %u has an unfinished %s (recover it)", hd,
                         mhsld_op_name(op));
            return MHSLD_E_BUSY;
        }
    }
    for (uint32_t hd = 0; hd < nh; hd++) {
        const mhsld__headrec *hr = &st->heads[hd];
        uint64_t last = mhsld__load64(&hr->seq);
        if (!mhsld__seqs_in_space(hr))
            return fail(msg, msglen,
                        "head %u has a sequence beyond the sequence space "
                        "(%u bits)",
                        hd, (unsigned)MHSLD__SEQ_BITS);
        for (uint32_t g = 0; g < MHSLD_MAX_PENDING; g++) {
            uint64_t gs = mhsld__load64(&hr->gseq[g]);
            if (!gs)
                continue;
            if (gs > last)
                return fail(msg, msglen,
                            "head %u reservation %llu is ahead of its last "
                            "sequence %llu",
                            hd, (unsigned long long)gs, (unsigned long long)last);
            for (uint32_t g2 = 0; g2 < g; g2++)
                if (mhsld__load64(&hr->gseq[g2]) == gs)
                    return fail(msg, msglen, "head %u has two reservations %llu", hd,
                                (unsigned long long)gs);
        }
    }
    for (uint64_t b = 0; b < st->nr_blocks; b++) {
        uint64_t stamp = mhsld__e_stamp(mhsld__load64(&st->blocks[b]));
        uint64_t wh = stamp >> MHSLD__SEQ_BITS, ws = stamp & MHSLD__SEQ_MASK;
        if (!stamp)
            continue;
        if (wh >= nh || ws > mhsld__load64(&st->heads[wh].seq))
            return fail(msg, msglen,
                        "block %llu carries stamp %llu:%llu beyond that head's "
                        "sequence",
                        (unsigned long long)b, (unsigned long long)wh, (unsigned long long)ws);
    }
    /* expected[b]: 0 free, 1 + head pending, 0x80 | slot shared */
    uint8_t *expect = calloc(st->nr_blocks ? st->nr_blocks : 1, 1);
    if (!expect)
        return MHSLD_E_NOMEM;
    mhsld_status s = MHSLD_OK;
    for (uint32_t hd = 0; hd < nh && s == MHSLD_OK; hd++) {
        const mhsld__headrec *hr = &st->heads[hd];
        for (uint32_t g = 0; g < MHSLD_MAX_PENDING && s == MHSLD_OK; g++) {
            if (!mhsld__load64(&hr->gseq[g]))
                continue;
            mhsld__gsnap grp; /* read once; only the checked copy steers the loops */
            if (mhsld__group_snapshot(st, hr, g, &grp) != MHSLD_OK) {
                s = fail(msg, msglen, "head %u reservation slot %u has invalid ranges", hd, g);
                break;
            }
            for (uint32_t i = 0; i < grp.n && s == MHSLD_OK; i++)
                for (uint64_t b = grp.r[i].start; b < grp.r[i].start + grp.r[i].count; b++) {
                    if (expect[b]) {
                        s = fail(msg, msglen, "block %llu is in two reservations",
                                 (unsigned long long)b);
                        break;
                    }
                    expect[b] = (uint8_t)(1 + hd);
                }
        }
    }
    for (uint32_t i = 0; i < MHSLD_MAX_SHARED && s == MHSLD_OK; i++) {
        uint64_t sw = mhsld__load64(&st->slots[i].word);
        uint32_t ss = mhsld__slot_state(sw);
        if (ss == MHSLD__SLOT_FREE)
            continue;
        if (ss != MHSLD__SLOT_ACTIVE) {
            s = fail(msg, msglen, "shared slot %u is %s with no operation in flight", i,
                     ss == MHSLD__SLOT_CREATING ? "creating" : "retiring");
            break;
        }
        uint32_t sh = mhsld__slot_sharers(sw);
        /* No sharer is allowed only while the FM holds a reference. */
        if ((!sh && !mhsld__slot_fmref(sw)) || (nh < 32 && (sh >> nh))) {
            s = fail(msg, msglen, "shared slot %u has sharers 0x%x for %u heads", i, sh, nh);
            break;
        }
        mhsld__bext sr;
        if (!mhsld__slot_range(st, i, &sr)) {
            s = fail(msg, msglen, "shared slot %u has an invalid range", i);
            break;
        }
        for (uint64_t b = sr.start; b < sr.start + sr.count; b++) {
            if (expect[b]) {
                s = fail(msg, msglen, "block %llu is both shared and reserved or shared twice",
                         (unsigned long long)b);
                break;
            }
            expect[b] = (uint8_t)(0x80u | i);
        }
    }
    for (uint64_t wd = 0; wd < st->lay.nr_words && s == MHSLD_OK; wd++) {
        uint64_t bitsw = mhsld__load64(&st->occ[wd].lo);
        uint64_t owned[MHSLD_MAX_HEADS] = {0};
        for (uint64_t k = 0; k < 64; k++) {
            uint64_t b = (wd << 6) + k;
            int bit = (int)((bitsw >> k) & 1u);
            if (b >= st->nr_blocks) {
                if (bit) {
                    s = fail(msg, msglen, "occupancy bit set past the last block (%llu)",
                             (unsigned long long)b);
                    break;
                }
                continue;
            }
            uint64_t e = mhsld__load64(&st->blocks[b]);
            uint32_t bs = mhsld__e_state(e);
            unsigned long long dpa = (unsigned long long)mhsld__block_dpa(st, b);
            if (bit != (bs != MHSLD_BLOCK_FREE)) {
                s = fail(msg, msglen, "block %llu (dpa 0x%llx): occupancy bit %d but state %u",
                         (unsigned long long)b, dpa, bit, bs);
                break;
            }
            if ((bs == MHSLD_BLOCK_PENDING || bs == MHSLD_BLOCK_OWNED) && mhsld__e_owner(e) >= nh) {
                s = fail(msg, msglen, "block %llu (dpa 0x%llx) owned by head %u of %u",
                         (unsigned long long)b, dpa, mhsld__e_owner(e), nh);
                break;
            }
            if (bs == MHSLD_BLOCK_OWNED)
                owned[mhsld__e_owner(e)] |= 1ull << k;
            uint8_t x = expect[b];
            if (bs == MHSLD_BLOCK_PENDING && x != 1 + mhsld__e_owner(e)) {
                s = fail(msg, msglen,
                         "block %llu (dpa 0x%llx) pending for head %u outside its "
                         "reservations",
                         (unsigned long long)b, dpa, mhsld__e_owner(e));
                break;
            }
            if (bs != MHSLD_BLOCK_PENDING && x && !(x & 0x80u)) {
                s = fail(msg, msglen,
                         "block %llu (dpa 0x%llx) in a reservation of head %u but "
                         "state %u",
                         (unsigned long long)b, dpa, x - 1u, bs);
                break;
            }
            if ((bs == MHSLD_BLOCK_SHARED) != ((x & 0x80u) != 0) ||
                (bs == MHSLD_BLOCK_SHARED && mhsld__e_slot(e) != (x & 0x7fu))) {
                s = fail(msg, msglen,
                         "block %llu (dpa 0x%llx) shared state disagrees with the "
                         "shared-extent table",
                         (unsigned long long)b, dpa);
                break;
            }
        }
        for (uint32_t hd = 0; hd < nh && s == MHSLD_OK; hd++) {
            uint64_t om = mhsld__load64(&mhsld__owned_map(st, hd)[wd]);
            if (om != owned[hd]) {
                uint64_t diff = om ^ owned[hd];
                uint64_t b = (wd << 6) + (uint64_t)__builtin_ctzll(diff);
                s = fail(msg, msglen,
                         "block %llu: head %u's owned map says %s but the block "
                         "word says %s",
                         (unsigned long long)b, hd, (om >> (b & 63)) & 1 ? "owned" : "not owned",
                         (owned[hd] >> (b & 63)) & 1 ? "owned" : "not owned");
            }
        }
    }
    free(expect);
    for (uint32_t hd = 0; hd < nh && s == MHSLD_OK; hd++)
        s = mhsld__fmq_check(st, hd, msg, msglen);
    return s;
}
