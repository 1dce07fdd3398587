/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mhsld_validate(): every invariant of a quiescent state, checked from the
 * shared bytes alone (nothing trusted but the geometry validated at open).
 *
 *  I1  the header is unchanged since open (magic, version, checksum, READY)
 *  I2  occupancy bit set  <=>  the block is exactly one of: OWNED (one
 *      head's owned-map bit), PENDING (in a recorded reservation), SHARED
 *      (in an ACTIVE slot's extent); bits past the last block are 0
 *  I3  no block is in two heads' owned maps; start-map bits only on owned
 *      blocks
 *  I4  reservations are valid, disjoint ranges
 *  I5  the shared bytes name exactly the blocks of ACTIVE shared slots,
 *      each slot with a valid range and a non-empty sharer set of existing
 *      heads (or the FM's reference); bytes of other blocks are 0
 *  I6  (owned maps: I2, I3)
 *  I7  no operation sequence is reused: every sequence of a head record is
 *      within the sequence space, every pending reservation and every
 *      occupancy tag (a block's generation) of head h carries a sequence
 *      <= h's last one, and the pending reservations of a head have
 *      distinct sequences
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
    for (uint64_t wd = 0; wd < st->lay.nr_words; wd++) {
        uint64_t tag = mhsld__load64(&mhsld__occ(st, wd)->hi);
        uint64_t th = tag >> 58, ts = (tag >> 24) & MHSLD__SEQ_MASK;
        if (!tag)
            continue;
        if (th == 0 || th - 1 >= nh || ts > mhsld__load64(&st->heads[th - 1].seq))
            return fail(msg, msglen,
                        "blocks %llu..%llu carry generation %llu:%llu beyond that head's "
                        "sequence",
                        (unsigned long long)(wd << 6), (unsigned long long)(wd << 6) + 63,
                        (unsigned long long)th - 1, (unsigned long long)ts);
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
        uint64_t occ = mhsld__load64(&mhsld__occ(st, wd)->lo);
        uint64_t valid =
            (wd << 6) + 64 <= st->nr_blocks ? ~0ull : (1ull << (st->nr_blocks & 63)) - 1;
        if (occ & ~valid) {
            s = fail(msg, msglen, "occupancy bit set past the last block (%llu)",
                     (unsigned long long)((wd << 6) + (uint64_t)__builtin_ctzll(occ & ~valid)));
            break;
        }
        uint64_t owned = 0;
        for (uint32_t hd = 0; hd < nh && s == MHSLD_OK; hd++) {
            uint64_t om = mhsld__load64(&mhsld__owned_map(st, hd)[wd]);
            uint64_t sm = mhsld__load64(&mhsld__start_map(st, hd)[wd]);
            uint64_t b =
                (wd << 6) + (uint64_t)__builtin_ctzll((om & owned) | (sm & ~om) | 1ull << 63);
            if (om & owned)
                s = fail(msg, msglen, "block %llu (dpa 0x%llx) is in two heads' owned maps",
                         (unsigned long long)b, (unsigned long long)mhsld__block_dpa(st, b));
            else if (sm & ~om)
                s = fail(msg, msglen,
                         "block %llu: head %u's start map marks a block it does not own",
                         (unsigned long long)b, hd);
            owned |= om;
        }
        if (s != MHSLD_OK || (owned & ~valid)) {
            if (s == MHSLD_OK)
                s = fail(msg, msglen, "owned-map bit set past the last block");
            break;
        }
        for (uint64_t k = 0; k < 64 && s == MHSLD_OK; k++) {
            uint64_t b = (wd << 6) + k;
            uint32_t sb = mhsld__load8(&st->sslot[b]);
            if (b >= st->nr_blocks) {
                if (sb)
                    s = fail(msg, msglen, "shared byte set past the last block (%llu)",
                             (unsigned long long)b);
                continue;
            }
            uint8_t x = expect[b];
            unsigned long long dpa = (unsigned long long)mhsld__block_dpa(st, b);
            int bit = (int)((occ >> k) & 1u), own = (int)((owned >> k) & 1u);
            uint32_t want_sb = (x & 0x80u) ? (x & 0x7fu) + 1u : 0u;
            if (sb != want_sb)
                s = fail(msg, msglen,
                         "block %llu (dpa 0x%llx) shared byte %u disagrees with the "
                         "shared-extent table (%u)",
                         (unsigned long long)b, dpa, sb, want_sb);
            else if (bit != (own || x))
                s = fail(msg, msglen, "block %llu (dpa 0x%llx): occupancy bit %d but %s",
                         (unsigned long long)b, dpa, bit,
                         own         ? "owned"
                         : x & 0x80u ? "shared"
                         : x         ? "pending"
                                     : "nobody's");
            else if (own && x)
                s = fail(msg, msglen, "block %llu (dpa 0x%llx) is owned and %s at once",
                         (unsigned long long)b, dpa, x & 0x80u ? "shared" : "pending");
        }
    }
    free(expect);
    for (uint32_t hd = 0; hd < nh && s == MHSLD_OK; hd++)
        s = mhsld__fmq_check(st, hd, msg, msglen);
    return s;
}
