/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Heads: attach (a new incarnation, recovering the previous one), detach,
 * recovery of dead heads by anyone, and fencing of stale handles.
 *
 * Liveness is a kernel file lock on one byte per head, held by the attached
 * process's own open file description: the kernel drops it when the process
 * dies, however it dies, so "dead" needs no heartbeat and no timeout.
 * Holding the lock is also what makes attach and recovery of one head
 * mutually exclusive: a recoverer takes the dead head's lock and acts as
 * that head (same journal, same sequence numbers), so its own crash is
 * recovered the same way.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#ifdef MHSLD_TESTING
#include "mhsld/testing.h"
#endif

/* Act as `head`: *last is the actor's private last sequence, from
 * mhsld__seq_floor (which refuses a record with sequences beyond the space:
 * acting on it would reuse them). */
static mhsld_status recover_locked(mhsld_state *st, uint32_t head, uint32_t flags, uint64_t *last,
                                   mhsld_recover_report *rep)
{
    mhsld_status s = mhsld__recover_journal(st, head, last, rep);
    if (s != MHSLD_OK)
        return s;
    if (!(flags & MHSLD_RECOVER_KEEP)) {
        uint64_t freed = 0;
        s = mhsld__release_all_as(st, head, last, &freed);
        rep->blocks_freed += freed;
        if (s != MHSLD_OK)
            return s;
    }
    mhsld_head_info hi;
    s = mhsld_head_info_get(st, head, &hi);
    if (s != MHSLD_OK)
        return s;
    rep->blocks_kept = hi.owned_blocks + hi.pending_blocks;
    return MHSLD_OK;
}

void mhsld__view_fill(mhsld_head *h, const mhsld_state *st, uint32_t head)
{
    mhsld_access_view v = {.words = NULL};
    if (st->geo.nr_regions > 0) {
        v.base = st->geo.regions[0].base;
        v.len = st->geo.regions[0].len;
        v.first = st->region_first[0];
        v.shift = st->block_shift;
        /* The fast looks index the owned map from region 0's first block,
         * so only when that block begins a word (block 0, as layout.c
         * numbers the blocks today); otherwise every check takes the walk. */
        if (!(v.first & 63)) {
            v.words = mhsld__owned_map(st, head) + (v.first >> 6);
            v.bsize = st->geo.block_size;
        }
    }
    h->view = v;
}

mhsld_status mhsld_attach(mhsld_state *st, uint32_t head, uint32_t flags, mhsld_head **out)
{
    if (!st || !out || (flags & ~MHSLD_ATTACH_KEEP))
        return MHSLD_E_INVAL;
    *out = NULL;
    if (head >= st->geo.nr_heads)
        return MHSLD_E_HEAD;
    /* Before any lock (the first registration of a process may take a
     * while): whether this process's handles may enter with a plain store
     * (fmforce.c); mhsld__baton_reset() reads the cached answer. */
    (void)mhsld__membarrier_register();
    mhsld_head *h = calloc(1, sizeof(*h));
    if (!h)
        return MHSLD_E_NOMEM;
    h->lock.head = h;
    mhsld_status s = mhsld__lock_head(st, head, &h->lock);
    if (s != MHSLD_OK) {
        free(h);
        return s;
    }
    /* The actor lock before anything is read: with only the liveness lock,
     * an outsider (a forced release, a FORCE recovery) could still find the
     * dead incarnation's baton FREE and act as the head between the
     * read of the sequence floor below and the store of it, which would
     * roll the record's sequence back and make this incarnation draw the
     * outsider's sequences again.  Busy: nothing was written. */
    mhsld__lockref actor = {.fd = -1, .head = NULL};
    s = mhsld__lock_actor(st, head, &actor);
    if (s != MHSLD_OK) {
        mhsld__unlock_head(&h->lock);
        free(h);
        return s;
    }
    mhsld__headrec *hr = &st->heads[head];
    /* A truncated file (SIGBUS beyond its end) or a damaged record is
     * refused before anything is written. */
    s = mhsld__check_size(st);
    if (s == MHSLD_OK)
        s = mhsld__seq_floor(hr, &h->seq);
    if (s != MHSLD_OK) {
        mhsld__unlock_head(&actor);
        mhsld__unlock_head(&h->lock);
        free(h);
        return s;
    }
    h->st = st;
    h->state = st;
    h->head = head;
    h->hr = hr;
    mhsld__view_fill(h, st, head);
    h->epoch = mhsld__load64(&hr->epoch) + 1;
    /* Fence every handle of an older incarnation before touching anything. */
    MHSLD__STEP();
    mhsld__store64(&hr->epoch, h->epoch);
    mhsld__store32(&hr->pid, (uint32_t)getpid());
    /* A sequence behind the head's own pending reservations (a damaged
     * record) would be reused: h->seq (mhsld__seq_floor) is past them, and
     * the record says so too.  From here on the handle draws sequences from
     * its private copy, never from the record. */
    mhsld__store64(&hr->seq, h->seq);
    mhsld_recover_report rep;
    memset(&rep, 0, sizeof(rep));
    /* Under both locks nobody acts as the head (a dead previous incarnation
     * or outsider may have left HEAD or ACTIVE behind). */
    mhsld__baton_reset(h);
    s = recover_locked(st, head, (flags & MHSLD_ATTACH_KEEP) ? MHSLD_RECOVER_KEEP : 0, &h->seq,
                       &rep);
    mhsld__unlock_head(&actor);
    if (s != MHSLD_OK) {
        mhsld__unlock_head(&h->lock);
        free(h);
        return s;
    }
    *out = h;
    return MHSLD_OK;
}

void mhsld_detach(mhsld_head *h)
{
    if (!h)
        return;
    mhsld__unlock_head(&h->lock); /* also unlists it (a fenced one: only that) */
    free(h);
}

#ifdef MHSLD_TESTING
void mhsld_test_abandon(mhsld_head *h)
{
    mhsld_detach(h);
}
#endif

uint32_t mhsld_head_index(const mhsld_head *h)
{
    return h ? h->head : MHSLD_OWNER_NONE;
}

uint64_t mhsld_head_epoch(const mhsld_head *h)
{
    return h ? h->epoch : 0;
}

mhsld_state *mhsld_head_state(mhsld_head *h)
{
    return h ? h->state : NULL;
}

mhsld_status mhsld_recover(mhsld_state *st, uint32_t head, uint32_t flags,
                           mhsld_recover_report *rep)
{
    if (!st || (flags & ~(MHSLD_RECOVER_KEEP | MHSLD_RECOVER_FORCE)))
        return MHSLD_E_INVAL;
    if (head >= st->geo.nr_heads)
        return MHSLD_E_HEAD;
    mhsld_recover_report local;
    if (!rep)
        rep = &local;
    memset(rep, 0, sizeof(*rep));
    mhsld_status s = mhsld__check_size(st);
    if (s != MHSLD_OK)
        return s;
    /* One actor at a time besides the head's own handle: another recoverer
     * or an attach recovering the head makes this BUSY (with FORCE, the
     * liveness lock alone would not tell a live head from a recoverer). */
    mhsld__lockref actor = {.fd = -1, .head = NULL};
    s = mhsld__lock_actor(st, head, &actor);
    if (s != MHSLD_OK)
        return s;
    mhsld__lockref lock = {.fd = -1, .head = NULL};
    mhsld__headrec *hr = &st->heads[head];
    uint64_t last = 0;
    if (flags & MHSLD_RECOVER_FORCE) {
        /* A live head: hold it off through its baton (waiting, bounded,
         * for an operation in progress to end), fence it, then act as it.
         * A dead one: its liveness lock, as without FORCE. */
        int dead = 0;
        uint64_t taken = 0;
        s = mhsld__act_begin(st, head, mhsld__now_ns() + 1000ull * 1000 * 1000, &lock, &dead,
                             &taken);
        if (s == MHSLD_OK) {
            if (!dead)
                mhsld__store64(&hr->epoch, mhsld__load64(&hr->epoch) + 1);
            s = mhsld__seq_floor(hr, &last);
            if (s == MHSLD_OK)
                s = recover_locked(st, head, flags, &last, rep);
            mhsld__act_end(st, head, taken, &lock, dead);
        }
    } else if ((s = mhsld__lock_head(st, head, &lock)) == MHSLD_OK) {
        s = mhsld__seq_floor(hr, &last);
        if (s == MHSLD_OK)
            s = recover_locked(st, head, flags, &last, rep);
        mhsld__unlock_head(&lock);
    }
    mhsld__unlock_head(&actor);
    return s;
}

/* ---- information -------------------------------------------------------- */

mhsld_status mhsld_head_info_get(mhsld_state *st, uint32_t head, mhsld_head_info *out)
{
    if (!st || !out)
        return MHSLD_E_INVAL;
    if (head >= st->geo.nr_heads)
        return MHSLD_E_HEAD;
    mhsld_status s = mhsld__check_size(st);
    if (s != MHSLD_OK)
        return s;
    memset(out, 0, sizeof(*out));
    mhsld__headrec *hr = &st->heads[head];
    out->head = head;
    int pid = 0;
    int locked = mhsld__head_locked(st->fd, head, &pid);
    out->alive = locked == 1;
    out->pid = mhsld__load32(&hr->pid);
    out->inflight_op = mhsld__load32(&hr->j.op);
    out->epoch = mhsld__load64(&hr->epoch);
    out->list_generation = mhsld__load32(&hr->list_gen);
    uint64_t seq = mhsld__load64(&hr->seq);
    out->seqs_left = seq < MHSLD__SEQ_MASK ? MHSLD__SEQ_MASK - seq : 0;
    for (uint32_t g = 0; g < MHSLD_MAX_PENDING; g++)
        if (mhsld__load64(&hr->gseq[g]))
            out->nr_pending++;
    const uint64_t *om = mhsld__owned_map(st, head);
    for (uint64_t w = 0; w < st->lay.nr_words; w++)
        out->owned_blocks += (uint64_t)__builtin_popcountll(mhsld__load64(&om[w]) &
                                                            mhsld__load64(&mhsld__occ(st, w)->lo));
    for (uint32_t g = 0; g < MHSLD_MAX_PENDING; g++) {
        mhsld__gsnap grp;
        if (!mhsld__load64(&hr->gseq[g]) || mhsld__group_snapshot(st, hr, g, &grp) != MHSLD_OK)
            continue;
        for (uint32_t i = 0; i < grp.n; i++)
            out->pending_blocks += grp.r[i].count;
    }
    for (uint32_t i = 0; i < MHSLD_MAX_SHARED; i++) {
        uint64_t w = mhsld__load64(&st->slots[i].word);
        mhsld__bext r;
        if (mhsld__slot_state(w) == MHSLD__SLOT_ACTIVE && (mhsld__slot_sharers(w) >> head & 1u) &&
            mhsld__slot_range(st, i, &r))
            out->shared_blocks += r.count;
    }
    return MHSLD_OK;
}

/* Operations whose blocks are held before their maps or records say so. */
static int in_passage_op(uint32_t op)
{
    return op == MHSLD__OP_RESERVE || op == MHSLD__OP_CLAIM || op == MHSLD__OP_SHARE_NEW ||
           op == MHSLD__OP_UNDO;
}

static inline __attribute__((always_inline)) void block_look(const mhsld_state *st, uint64_t b,
                                                             mhsld__look *out, int need_start)
{
    uint64_t w = b >> 6, bit = 1ull << (b & 63);
    mhsld__pair p = mhsld__load_pair(mhsld__occ(st, w));
    out->state = MHSLD_BLOCK_FREE;
    out->owner = MHSLD_OWNER_NONE;
    out->slot = MHSLD__NOSLOT;
    out->start = 0;
    out->gen = mhsld__tag_gen(p.hi);
    if (!(p.lo & bit))
        return;
    uint32_t sb = mhsld__load8(&st->sslot[b]);
    if (sb && sb <= MHSLD_MAX_SHARED) {
        mhsld__bext r;
        out->state = MHSLD_BLOCK_SHARED;
        out->owner = MHSLD_OWNER_SHARED;
        out->slot = sb - 1;
        /* The extent's first block, as layout 3's block words said. */
        out->start = mhsld__slot_range(st, sb - 1, &r) && r.start == b;
        return;
    }
    for (uint32_t h = 0; h < st->geo.nr_heads; h++) {
        if (mhsld__load64(&mhsld__owned_map(st, h)[w]) & bit) {
            out->state = MHSLD_BLOCK_OWNED;
            out->owner = h;
            if (need_start)
                out->start = (mhsld__load64(&mhsld__start_map(st, h)[w]) & bit) != 0;
            return;
        }
    }
    /* A reservation stays published while its head commits it (until the
     * commit's end, or its recovery's if the head died): the blocks it gives
     * back meanwhile may already be another head's reservation.  So one
     * whose commit is in flight answers only if no other reservation holds
     * the block. */
    uint32_t late_owner = MHSLD_OWNER_NONE, late_start = 0;
    for (uint32_t h = 0; h < st->geo.nr_heads; h++) {
        const mhsld__headrec *hr = &st->heads[h];
        uint64_t committing =
            mhsld__load32(&hr->j.op) == MHSLD__OP_COMMIT ? mhsld__load64(&hr->j.group) : 0;
        for (uint32_t g = 0; g < MHSLD_MAX_PENDING; g++) {
            mhsld__gsnap grp;
            uint64_t gs = mhsld__load64(&hr->gseq[g]);
            if (!gs || mhsld__group_snapshot(st, hr, g, &grp) != MHSLD_OK)
                continue;
            for (uint32_t i = 0; i < grp.n; i++)
                if (b - grp.r[i].start < grp.r[i].count) {
                    if (gs == committing) {
                        if (late_owner == MHSLD_OWNER_NONE) {
                            late_owner = h;
                            late_start = b == grp.r[i].start;
                        }
                        break;
                    }
                    out->state = MHSLD_BLOCK_PENDING;
                    out->owner = h;
                    out->start = b == grp.r[i].start;
                    return;
                }
        }
    }
    if (late_owner != MHSLD_OWNER_NONE) {
        out->state = MHSLD_BLOCK_PENDING;
        out->owner = late_owner;
        out->start = late_start;
        return;
    }
    /* Held, but in passage inside an operation: a claim, reservation or
     * shared create whose maps are not written yet (or whose head died
     * there, awaiting recovery).  The journal in flight that covers it
     * says whose it is becoming: PENDING for that head (what layout 3's
     * block words said at this point), or SHARED for a shared create.  A
     * stray bit of a co-tenant's stays nobody's. */
    for (uint32_t h = 0; h < st->geo.nr_heads; h++) {
        if (!in_passage_op(mhsld__load32(&st->heads[h].j.op)))
            continue;
        mhsld__jsnap *j = malloc(sizeof(*j));
        if (!j)
            return;
        /* The journal may have ended (or another begun) since the look at
         * its op: only the snapshot's own op counts (an idle snapshot
         * fills nothing else). */
        int hit = mhsld__journal_snapshot(st, &st->heads[h], j) == MHSLD_OK && in_passage_op(j->op);
        for (uint32_t i = 0; hit && i < j->n; i++) {
            if (b - j->r[i].start >= j->r[i].count)
                continue;
            if (j->op == MHSLD__OP_SHARE_NEW ||
                (j->op == MHSLD__OP_UNDO && j->slot != MHSLD__NOSLOT)) {
                out->state = MHSLD_BLOCK_SHARED;
                out->owner = MHSLD_OWNER_SHARED;
                out->slot = j->slot; /* < MHSLD_MAX_SHARED: the snapshot checked it */
                out->start = b == j->r[i].start;
            } else {
                out->state = MHSLD_BLOCK_PENDING;
                out->owner = h;
                out->start = b == j->r[i].start;
            }
            free(j);
            return;
        }
        free(j);
    }
}

void mhsld__block_look(const mhsld_state *st, uint64_t b, mhsld__look *out)
{
    block_look(st, b, out, 1);
}

void mhsld__block_look_nostart(const mhsld_state *st, uint64_t b, mhsld__look *out)
{
    block_look(st, b, out, 0);
}

mhsld_status mhsld_block_info_get(mhsld_state *st, uint64_t index, mhsld_block_info *out)
{
    if (!st || !out)
        return MHSLD_E_INVAL;
    if (index >= st->nr_blocks)
        return MHSLD_E_RANGE;
    mhsld__look lk;
    mhsld__block_look(st, index, &lk);
    memset(out, 0, sizeof(*out));
    out->dpa = mhsld__block_dpa(st, index);
    out->state = lk.state;
    out->extent_start = lk.start;
    out->generation = lk.gen;
    out->owner = lk.owner;
    if (lk.state == MHSLD_BLOCK_SHARED) {
        uint64_t w = mhsld__load64(&st->slots[lk.slot].word);
        out->sharers = mhsld__slot_sharers(w) & (uint32_t)((1ull << st->geo.nr_heads) - 1);
    }
    return MHSLD_OK;
}

mhsld_status mhsld_extents_get(mhsld_state *st, uint32_t head, uint32_t kind, size_t start,
                               mhsld_extent *ext, uint8_t (*tags)[MHSLD_TAG_SIZE], size_t cap,
                               size_t *returned, size_t *total, uint32_t *generation)
{
    return mhsld_extents_get_seq(st, head, kind, start, ext, tags, NULL, cap, returned, total,
                                 generation);
}

mhsld_status mhsld_extents_get_seq(mhsld_state *st, uint32_t head, uint32_t kind, size_t start,
                                   mhsld_extent *ext, uint8_t (*tags)[MHSLD_TAG_SIZE],
                                   uint16_t *seqs, size_t cap, size_t *returned, size_t *total,
                                   uint32_t *generation)
{
    if (!st || kind > MHSLD_EXT_ALL || (cap && !ext))
        return MHSLD_E_INVAL;
    if (head >= st->geo.nr_heads)
        return MHSLD_E_HEAD;
    mhsld_status s = mhsld__check_size(st);
    if (s != MHSLD_OK)
        return s;
    mhsld__headrec *hr = &st->heads[head];
    if (generation)
        *generation = mhsld__load32(&hr->list_gen);
    int want_own = kind == MHSLD_EXT_OWNED || kind == MHSLD_EXT_ALL;
    int want_pend = kind == MHSLD_EXT_PENDING;
    int want_shared = kind == MHSLD_EXT_SHARED || kind == MHSLD_EXT_ALL;
    /* Pending ranges and shared extents (few): collected and sorted; the
     * owned runs (many) are walked in order from the maps and merged in. */
    static const uint32_t cap_items = MHSLD_MAX_PENDING * MHSLD_MAX_EXTENTS + MHSLD_MAX_SHARED;
    struct item {
        uint64_t start, count;
        uint32_t slot;
    } *items = malloc(cap_items * sizeof(*items));
    if (!items)
        return MHSLD_E_NOMEM;
    uint32_t ni = 0;
    for (uint32_t g = 0; want_pend && g < MHSLD_MAX_PENDING; g++) {
        mhsld__gsnap grp;
        if (!mhsld__load64(&hr->gseq[g]) || mhsld__group_snapshot(st, hr, g, &grp) != MHSLD_OK)
            continue;
        for (uint32_t i = 0; i < grp.n; i++)
            items[ni++] = (struct item){grp.r[i].start, grp.r[i].count, MHSLD__NOSLOT};
    }
    for (uint32_t i = 0; want_shared && i < MHSLD_MAX_SHARED; i++) {
        uint64_t w = mhsld__load64(&st->slots[i].word);
        mhsld__bext r;
        if (mhsld__slot_state(w) == MHSLD__SLOT_ACTIVE && (mhsld__slot_sharers(w) >> head & 1u) &&
            mhsld__slot_range(st, i, &r))
            items[ni++] = (struct item){r.start, r.count, i};
    }
    for (uint32_t i = 1; i < ni; i++) { /* insertion sort: few, mostly sorted */
        struct item t = items[i];
        uint32_t k = i;
        for (; k && items[k - 1].start > t.start; k--)
            items[k] = items[k - 1];
        items[k] = t;
    }
    const uint64_t *om = mhsld__owned_map(st, head), *sm = mhsld__start_map(st, head);
    size_t idx = 0, out = 0;
    uint32_t ii = 0;
    uint64_t b = 0;
    for (;;) {
        /* The next owned run at or after b. */
        uint64_t rs = UINT64_MAX, rl = 0;
        while (want_own && b < st->nr_blocks) {
            uint64_t w = b >> 6;
            uint64_t own =
                mhsld__load64(&om[w]) & mhsld__load64(&mhsld__occ(st, w)->lo) & (~0ull << (b & 63));
            if (!own) {
                b = (w + 1) << 6;
                continue;
            }
            rs = (w << 6) + (uint64_t)__builtin_ctzll(own);
            break;
        }
        if (rs < st->nr_blocks) {
            uint32_t reg = mhsld__block_region(st, rs);
            uint64_t e = rs + 1;
            while (e < st->nr_blocks) {
                uint64_t w = e >> 6, bit = 1ull << (e & 63);
                if (!(mhsld__load64(&om[w]) & mhsld__load64(&mhsld__occ(st, w)->lo) & bit) ||
                    (mhsld__load64(&sm[w]) & bit) || mhsld__block_region(st, e) != reg)
                    break;
                e++;
            }
            rl = e - rs;
        }
        struct item it;
        if (ii < ni && items[ii].start <= rs) {
            it = items[ii++];
        } else if (rl) {
            it = (struct item){rs, rl, MHSLD__NOSLOT};
            b = rs + rl;
        } else {
            break;
        }
        if (idx >= start && out < cap) {
            ext[out].dpa = mhsld__block_dpa(st, it.start);
            ext[out].len = it.count << st->block_shift;
            if (tags) {
                if (it.slot != MHSLD__NOSLOT)
                    mhsld__tag_load(&st->slots[it.slot], tags[out]);
                else
                    memset(tags[out], 0, MHSLD_TAG_SIZE);
            }
            if (seqs)
                seqs[out] = it.slot != MHSLD__NOSLOT
                                ? (uint16_t)(mhsld__load64(&st->slots[it.slot].sseq) & 0xffffu)
                                : 0;
            out++;
        }
        idx++;
    }
    free(items);
    if (returned)
        *returned = out;
    if (total)
        *total = idx;
    return MHSLD_OK;
}

mhsld_status mhsld_shared_list(mhsld_state *st, mhsld_shared_info *out, size_t cap, size_t *n,
                               size_t *total)
{
    if (!st || (cap && !out))
        return MHSLD_E_INVAL;
    mhsld_status s = mhsld__check_size(st);
    if (s != MHSLD_OK)
        return s;
    size_t k = 0, t = 0;
    for (uint32_t i = 0; i < MHSLD_MAX_SHARED; i++) {
        uint64_t w = mhsld__load64(&st->slots[i].word);
        mhsld__bext r;
        if (mhsld__slot_state(w) != MHSLD__SLOT_ACTIVE || !mhsld__slot_range(st, i, &r))
            continue;
        if (k < cap) {
            out[k].slot = i;
            out[k].sharers = mhsld__slot_sharers(w);
            out[k].ext.dpa = mhsld__block_dpa(st, r.start);
            out[k].ext.len = r.count << st->block_shift;
            mhsld__tag_load(&st->slots[i], out[k].tag);
            out[k].seq = (uint16_t)(mhsld__load64(&st->slots[i].sseq) & 0xffffu);
            out[k].fm_ref = (uint8_t)mhsld__slot_fmref(w);
            out[k].pad = 0;
            k++;
        }
        t++;
    }
    if (n)
        *n = k;
    if (total)
        *total = t;
    return MHSLD_OK;
}
