/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The ownership protocol: where ownership is decided.
 *
 * Who holds a block.  A block is held by someone exactly when its bit in the
 * occupancy map is set.  Bits are set and cleared only by a compare-and-swap
 * of the whole 16-byte pair {64 bits, tag}, so claiming an aligned run of 64
 * blocks is one atomic step, and two heads can never both set the same bit:
 * the second CAS sees the bit and fails.  (One exception with the same
 * effect: a head giving back a word whose 64 bits are all its own writes
 * the pair with one 16-byte store, on CPUs where that is a single access;
 * nobody else can write such a pair, see occ_clear_t.)  What the holder
 * holds it as is written only by the holder, after its claim, in memory
 * nobody else writes: its owned map and start map (OWNED), the block's
 * shared byte (SHARED), its reservation's ranges (PENDING); there is no
 * per-block word (issue 15: a claim of 4096 blocks writes 64 map words, not
 * 4096 block words).
 *
 *   claim:       CAS bits 0 -> 1, then set the map bits / shared bytes
 *   give back:   clear the map bits / shared bytes, then CAS bits 1 -> 0
 *
 * so a map bit or shared byte says OWNED/SHARED only while the bit is set,
 * and a head's access check passes only on what the holder wrote.  A
 * block's generation is the (head, sequence) in its pair's tag (internal.h);
 * a commit rewrites the tags of the words it turns OWNED.
 *
 * Operations.  Each operation of head D has a sequence number S (per head,
 * stored before use, never reused) and touches an ordered list of steps: the
 * distinct 64-block words covered by its sorted ranges, ascending.  Step k's
 * CAS writes the tag (D, S, k) into the pair; after it D records k+1 in its
 * journal progress word jprog = (S, k+1).
 *
 * The one ambiguity a crash leaves is whether the CAS of step k = jprog
 * happened: D may die between the CAS and the progress store.  The tag
 * answers it while it is in the pair, and a tag in a pair proves more: D
 * does its steps in order, so (D, S, k) there means every step of D up to
 * that one happened.  Whoever is about to overwrite a tag (D, S', k') of
 * another head first records it as evidence in its own head record
 * (ev[D], the newest tag of D's it saw; a plain store to a line only it
 * writes, layout 6).  Hence, as soon as the tag of D's step k is gone, some
 * head's ev[D] is (D, S, k) or later.  Recovery reads jprog = p, then the
 * tag of step p's pair: if it is (D, S, p) the CAS happened; if not, it
 * reads every head's ev[D]: evidence of (D, S, k >= p) says steps p..k
 * happened, none says step p did not.  So recovery knows the exact set of
 * words the dead head holds for the operation, and nothing else is
 * touched: words of other heads never carry D's tag.  (Layouts up to 5
 * had the overwriter CAS D's jprog forward instead, "helping": a load of a
 * line D writes at every operation, and a write to it, on the claim and
 * release paths of two heads working on the same words; issue 15.)
 *
 * Directions.  A reservation interrupted before its last claim is undone
 * (its claimed steps are given back: op UNDO continues the same sequence,
 * step numbers c..2c-1); one whose every claim happened is completed.
 * Commit, release and the last sharer's leave are completed (roll forward):
 * the blocks they give back are still held by D, so finishing cannot touch
 * anybody else's.  A failing request (conflict) switches RESERVE to UNDO
 * with a single store of the journal op, so at every instant the journal
 * says which way recovery must go.
 *
 * Recovery runs as D: it takes D's liveness lock (so D is dead and no other
 * recoverer runs), continues D's journal with D's sequence and tags, and may
 * itself be killed and recovered again.
 *
 * Acting as a live D.  A fabric manager's forced release (and a FORCE
 * recovery) acts as D while D runs.  Two words of D's head record keep the
 * two apart, Dekker style, with the cost on the outsider's side: at the
 * entry of each journalled operation D's handle stores HEAD into its baton
 * (a plain store) and then loads the outsiders' word actw once, going on
 * only if it is the inactive word it last saw; at the exit it stores FREE.
 * An outsider holds D's actor lock, sets ACTIVE in actw by CAS, makes every
 * thread of every registered process pass a full barrier (membarrier), and
 * acts only once it has seen D's baton FREE, waiting a bounded time while D
 * is inside an operation.  Either the outsider sees D's HEAD or D sees
 * ACTIVE, so at any instant one actor continues D's journal: D, one
 * outsider, or D's recoverer (which holds the liveness lock of a dead D).
 * The outsider journals in D's journal with D's sequences and tags through
 * the same functions as D (the *_as ones), so an outsider killed at any step
 * leaves exactly what a dead D would: whoever acts as D next (D's own next
 * call, or the next outsider, both under the actor lock; the killed
 * outsider's kernel lock is gone, which is how it is known dead) recovers
 * that journal first.  The outsider leaves actw inactive with its count
 * bumped; D's next entry then sees a word it does not expect and takes
 * max(private sequence, the record's floor) before it draws again, so no
 * (D, sequence) pair, and so no stamp or tag, is used twice.  The states,
 * the proof, the fallback without membarrier and the hostile cases are in
 * fmforce.c.
 *
 * Progress.  A head retries a CAS only when another head changed other bits
 * of the same pair, i.e. made progress: no livelock among well-behaved heads,
 * and no head ever waits for another.
 *
 * Hostile writers.  Everything above assumes heads that follow it; the
 * mapping is also writable by heads that do not.  So nothing read from it is
 * trusted twice: control data (a journal, a pending reservation's ranges, a
 * shared slot's range) is copied once into private memory by snapshot.c,
 * validated there, and only the copy steers indices and loops; a live
 * operation keeps its journal and its sequence in private copies and never
 * reads back what it published; data words are loaded once and judged by
 * value; the progress scan, the last sharer's leave and a shared add's wait
 * are bounded.  A hostile writer can make operations fail (MHSLD_E_JOURNAL,
 * MHSLD_E_CORRUPT, MHSLD_E_BUSY) and can rewrite who owns what (directly, or
 * through well-formed records a head then acts on), but every index stays
 * inside the mapping and every call returns.  The occupancy CAS loops are
 * lock-free, not wait-free, against a writer that rewrites the same pair
 * between every load and CAS.
 */
#include <sched.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#ifdef MHSLD_TESTING
#include "mhsld/testing.h"
static _Thread_local uint64_t crash_k, crash_count;
static _Thread_local mhsld_crash_fn crash_fn;
static _Thread_local void *crash_arg;

void mhsld__step(void)
{
    crash_count++;
    if (crash_k && crash_count == crash_k && crash_fn) {
        mhsld_crash_fn fn = crash_fn;
        crash_k = 0;
        fn(crash_arg);
    }
}

void mhsld_test_crash_at(uint64_t k, mhsld_crash_fn fn, void *arg)
{
    crash_k = k;
    crash_fn = fn;
    crash_arg = arg;
    crash_count = 0;
}

uint64_t mhsld_test_steps(void)
{
    return crash_count;
}
#endif

/* ---- steps over sorted ranges ------------------------------------------ */

typedef struct stepit {
    const mhsld__bext *r;
    uint32_t n;
    uint32_t ri;
    uint64_t pos;
} stepit;

static void stepit_init(stepit *it, const mhsld__bext *r, uint32_t n)
{
    it->r = r;
    it->n = n;
    it->ri = 0;
    it->pos = n ? r[0].start : 0;
}

/* Without -mpopcnt __builtin_popcountll is a libgcc call (about 20
 * instructions); a step's mask is most often a single bit or all 64, and
 * otherwise the usual bit-parallel sum does it inline. */
static inline uint64_t popcount64(uint64_t m)
{
    if (!(m & (m - 1)))
        return m != 0;
    if (m == ~0ull)
        return 64;
    m -= (m >> 1) & 0x5555555555555555ull;
    m = (m & 0x3333333333333333ull) + ((m >> 2) & 0x3333333333333333ull);
    m = (m + (m >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (m * 0x0101010101010101ull) >> 56;
}

/* Copy n ranges between private arrays (n <= MHSLD__JMAX); the common
 * single range without a call to memcpy. */
static inline void bext_copy(mhsld__bext *d, const mhsld__bext *s, uint32_t n)
{
    if (n == 1)
        d[0] = s[0];
    else if (n)
        memcpy(d, s, n * sizeof(*s));
}

static uint64_t bits(uint64_t off, uint64_t len)
{
    return len >= 64 ? ~0ull : (((1ull << len) - 1) << off);
}

static inline __attribute__((always_inline)) int stepit_next(stepit *it, uint64_t *w,
                                                             uint64_t *mask)
{
    if (it->ri >= it->n)
        return 0;
    uint64_t word = it->pos >> 6, m = 0;
    while (it->ri < it->n && (it->pos >> 6) == word) {
        const mhsld__bext *r = &it->r[it->ri];
        uint64_t end = r->start + r->count;
        uint64_t wend = (word + 1) << 6;
        uint64_t e = end < wend ? end : wend;
        m |= bits(it->pos & 63, e - it->pos);
        it->pos = e;
        if (e == end && ++it->ri < it->n)
            it->pos = it->r[it->ri].start;
    }
    *w = word;
    *mask = m;
    return 1;
}

uint64_t mhsld__count_steps(const mhsld__bext *r, uint32_t n)
{
    stepit it;
    uint64_t w, m, c = 0;
    stepit_init(&it, r, n);
    while (stepit_next(&it, &w, &m))
        c++;
    return c;
}

/* Bits of word w that are first blocks of a range. */
static uint64_t start_mask(const mhsld__bext *r, uint32_t n, uint64_t w)
{
    uint64_t m = 0, lo = w << 6, hi = lo + 64;
    for (uint32_t i = 0; i < n; i++) {
        if (r[i].start >= hi)
            break;
        if (r[i].start >= lo)
            m |= 1ull << (r[i].start - lo);
    }
    return m;
}

/* ---- the occupancy pair ------------------------------------------------- */

/* Record tag, about to be overwritten by head me's actor, as evidence in
 * me's record (see the essay above).  Only another head's step tags count:
 * not me's own, not a commit's rewrite (no step number), not a tag naming
 * no head.  The slot keeps the newest: one tag of D's is evidence of every
 * earlier one, and tags of one head grow with its sequence and steps.  A
 * slot that holds a tag of D's newer than this one by less than
 * MHSLD__EV_WINDOW (2^16 sequences) is left as it is; one further ahead is
 * a co-tenant's write (D's sequences advance one per operation), which
 * would otherwise stop this head recording D for good: it is replaced.
 * The store comes before the caller's CAS or store of the pair (release,
 * then the pair's write), so whoever sees the tag gone sees the evidence. */
#define MHSLD__EV_WINDOW (1ull << 40)
static inline void record(mhsld_state *st, uint32_t me, uint64_t tag)
{
    uint64_t th = (tag >> 58) - 1;
    if (th == me || th >= st->geo.nr_heads || (tag & 0xffffffull) == MHSLD__TAG_COMMIT)
        return;
    uint64_t *ev = &st->heads[me].ev[th], cur = mhsld__load64(ev);
    if ((cur >> 58) == (tag >> 58) && tag <= cur && cur - tag < MHSLD__EV_WINDOW)
        return;
    mhsld__store64(ev, tag);
}

/* The CAS loops of occ_set_t/occ_clear_t, from their first load on: out
 * of line, so that the inlined first attempt keeps no registers or stack
 * slots for record()'s work (about 40 instructions fewer per claim+release
 * of one word).  Entered when the pair carries another head's tag (record
 * first) or the first CAS failed; they do exactly what the loop did. */
static __attribute__((noinline)) int occ_set_loop(mhsld_state *st, uint32_t me, mhsld__pair *p,
                                                  uint64_t mask, uint64_t tag, uint64_t *busy_bits)
{
    mhsld__pair nv = {0, tag};
    for (;;) {
        mhsld__pair cur = mhsld__load_pair(p);
        if (cur.lo & mask) {
            *busy_bits = cur.lo & mask;
            return 0;
        }
        if ((cur.hi >> 58) != (uint64_t)me + 1)
            record(st, me, cur.hi);
        nv.lo = cur.lo | mask;
        if (mhsld__cas128(p, cur, nv))
            return 1;
    }
}

static __attribute__((noinline)) void occ_clear_loop(mhsld_state *st, uint32_t me, mhsld__pair *p,
                                                     uint64_t mask, uint64_t tag)
{
    mhsld__pair nv = {0, tag};
    for (;;) {
        mhsld__pair cur = mhsld__load_pair(p);
        if ((cur.hi >> 58) != (uint64_t)me + 1)
            record(st, me, cur.hi);
        nv.lo = cur.lo & ~mask;
        if (mhsld__cas128(p, cur, nv))
            return;
    }
}

/* Set (claim) or clear (give back) `mask` of word `w` with CAS tag `tag`
 * (head me's).  These step helpers are inlined into the operations: out of
 * line they cost a call, spills and reloads per step (issue 15).  The first
 * attempt is inline when the pair carries me's own tag (its previous step,
 * or nobody else's since): nothing to record.  Otherwise, and after a failed
 * CAS, the loop above re-loads and goes on as one loop would. */
static inline __attribute__((always_inline)) int occ_set_t(mhsld_state *st, uint32_t me, uint64_t w,
                                                           uint64_t mask, uint64_t tag,
                                                           uint64_t *busy_bits)
{
    mhsld__pair *p = mhsld__occ(st, w);
    MHSLD__STEP();
    mhsld__pair cur = mhsld__load_pair(p);
    if (cur.lo & mask) {
        *busy_bits = cur.lo & mask;
        return 0;
    }
    if (__builtin_expect((cur.hi >> 58) == (uint64_t)me + 1, 1)) {
        mhsld__pair nv = {cur.lo | mask, tag};
        if (mhsld__cas128(p, cur, nv))
            return 1;
    }
    return occ_set_loop(st, me, p, mask, tag, busy_bits);
}

/* A give-back of `mask` of word w.  `whole`: the caller gives back blocks
 * it holds exclusively (not a shared extent's).  Then a pair that holds all
 * 64 bits under a tag of me's is written with one plain 16-byte store
 * instead of the CAS, where such a store is a single access (atomics.h):
 * every bit is me's, so no other head's claim can succeed on the pair (it
 * sees its bits taken and does not write), no other head has bits there to
 * give back, and the last write was me's own (a bit is set only by its
 * holder's claim, so a write by another head leaves some bit that is not
 * me's): no other head's tag is overwritten and nothing needs recording.  Only a
 * writer outside the protocol can change the pair between the load and the
 * store, and its write is then lost as it could be lost to the CAS's retry.
 * The store is the same atomic step (one MHSLD__STEP, before the load),
 * with the same result and tag, as the CAS. */
static inline __attribute__((always_inline)) void
occ_clear_t(mhsld_state *st, uint32_t me, uint64_t w, uint64_t mask, uint64_t tag, int whole)
{
    mhsld__pair *p = mhsld__occ(st, w);
    MHSLD__STEP();
    mhsld__pair cur = mhsld__load_pair(p);
    if (__builtin_expect((cur.hi >> 58) == (uint64_t)me + 1, 1)) {
        mhsld__pair nv = {cur.lo & ~mask, tag};
        if (whole && mask == ~0ull && cur.lo == ~0ull && st->pair_store) {
            mhsld__store_pair(p, nv);
            return;
        }
        if (mhsld__cas128(p, cur, nv))
            return;
    }
    occ_clear_loop(st, me, p, mask, tag);
}

/* Step `idx` of op. */
static inline __attribute__((always_inline)) int
mhsld__occ_set(const mhsld__op *op, uint64_t w, uint64_t mask, uint64_t idx, uint64_t *busy_bits)
{
    return occ_set_t(op->st, op->head, w, mask, mhsld__tag(op->head, op->seq, idx), busy_bits);
}

static inline __attribute__((always_inline)) void
mhsld__occ_clear(const mhsld__op *op, uint64_t w, uint64_t mask, uint64_t idx, int whole)
{
    occ_clear_t(op->st, op->head, w, mask, mhsld__tag(op->head, op->seq, idx), whole);
}

/* What a claim step writes after its CAS (and a give-back clears before
 * its own): nothing for PENDING (the reservation's ranges say it), the
 * owned map and start map for OWNED, the shared bytes for SHARED. */
enum { FILL_PENDING, FILL_OWNED, FILL_SHARED };

static inline __attribute__((always_inline)) void
mhsld__fill(const mhsld__op *op, uint64_t w, uint64_t mask, int kind, uint32_t slot,
            const mhsld__bext *starts, uint32_t nstarts)
{
    if (kind == FILL_OWNED) {
        uint64_t *om = mhsld__owned_map(op->st, op->head);
        uint64_t *sm = mhsld__start_map(op->st, op->head);
        uint64_t sb = start_mask(starts, nstarts, w) & mask;
        if (sb) {
            uint64_t cur = mhsld__load64(&sm[w]);
            if ((cur & sb) != sb) {
                MHSLD__STEP();
                mhsld__store64(&sm[w], cur | sb);
            }
        }
        uint64_t cur = mhsld__load64(&om[w]); /* accessible from this store on */
        if ((cur & mask) != mask) {
            MHSLD__STEP();
            mhsld__store64(&om[w], cur | mask);
        }
    } else if (kind == FILL_SHARED) {
        uint8_t *bp = &op->st->sslot[w << 6];
        while (mask) {
            unsigned i = (unsigned)__builtin_ctzll(mask);
            mask &= mask - 1;
            MHSLD__STEP();
            mhsld__store8(&bp[i], (uint8_t)(slot + 1));
        }
    }
}

static void set_prog(const mhsld__op *op, uint64_t idx)
{
    MHSLD__STEP();
    mhsld__store64(&op->hr->jprog, mhsld__prog(op->seq, idx));
}

/* set_prog with the progress word computed by the caller. */
static inline void set_prog_v(mhsld__headrec *hr, uint64_t v)
{
    MHSLD__STEP();
    mhsld__store64(&hr->jprog, v);
}

/* The head's next operation sequence, or 0 when its sequence space is used
 * up (then nothing is written and the caller fails with MHSLD_E_NOSPACE). */
static inline uint64_t mhsld__next_seq(mhsld__headrec *hr, uint64_t *last)
{
    uint64_t s = *last;
    /* Used up: wrapping would reuse sequences that pending reservations and
     * occupancy tags still carry. */
    if (s >= MHSLD__SEQ_MASK)
        return 0;
    s++;
    MHSLD__STEP();
    mhsld__store64(&hr->seq, s);
    *last = s;
    return s;
}

static inline void mhsld__journal_end(mhsld__headrec *hr)
{
    MHSLD__STEP();
    mhsld__store32(&hr->j.op, MHSLD__OP_IDLE);
}

static inline void mhsld__bump_list_gen(mhsld__headrec *hr)
{
    MHSLD__STEP();
    mhsld__store32(&hr->list_gen, mhsld__load32(&hr->list_gen) + 1);
}

/* The evidence other heads hold of head's operation op_seq: one past the
 * newest step of it some head's ev[head] names, 0 if none does.  Each slot
 * is loaded once and judged by value. */
static uint64_t evidence(const mhsld_state *st, uint32_t head, uint64_t op_seq)
{
    uint64_t best = 0;
    for (uint32_t i = 0; i < st->geo.nr_heads; i++) {
        if (i == head)
            continue;
        uint64_t e = mhsld__load64(&st->heads[i].ev[head]), idx = e & 0xffffffull;
        if ((e >> 58) == (uint64_t)head + 1 && ((e >> 24) & MHSLD__SEQ_MASK) == op_seq &&
            idx != MHSLD__TAG_COMMIT && idx + 1 > best)
            best = idx + 1;
    }
    return best;
}

uint64_t mhsld__completed_steps(mhsld_state *st, uint32_t head, mhsld__headrec *hr, uint64_t op_seq,
                                const mhsld__bext *r, uint32_t n, uint64_t base)
{
    /* Only the head's actor writes jprog (layout 6: nobody helps), and the
     * recoverer is that actor now: one load. */
    uint64_t p1 = mhsld__load64(&hr->jprog), p = p1 & 0xffffffull, p0 = p;
    op_seq &= MHSLD__SEQ_MASK;
    if ((p1 >> 24) != op_seq)
        return MHSLD__STEPS_BAD;
    /* Each round moves p forward, by one step whose tag is still in its
     * pair or to past the newest step some head saw, and the rounds end
     * once p is past the phase's last step: at most twice its steps.  One
     * iterator walks the steps once, forward only (p never goes back): a
     * co-tenant that forges every step's tag costs a walk, not a walk per
     * step. */
    stepit it;
    uint64_t next = 0, w = 0, m = 0; /* steps of the phase the iterator has passed */
    stepit_init(&it, r, n);
    for (;;) {
        if (p >= base) {
            while (next <= p - base && stepit_next(&it, &w, &m))
                next++;
            if (next <= p - base)
                break; /* all steps of this phase done */
            if (mhsld__load64(&mhsld__occ(st, w)->hi) == mhsld__tag(head, op_seq, p)) {
                p++;
                continue;
            }
        }
        uint64_t e = evidence(st, head, op_seq);
        if (e <= p)
            break; /* step p's tag was never there (or none of this phase) */
        p = e;
    }
    /* What was found is recorded before anything else happens: the
     * recovery that follows may overwrite this operation's own tags (its
     * own tags are nobody's evidence), and a recoverer killed after that
     * must leave a progress word that still says those steps happened. */
    if (p != p0) {
        MHSLD__STEP();
        mhsld__store64(&hr->jprog, mhsld__prog(op_seq, p));
    }
    return p;
}

/* Give back word steps [k0, k1) of ranges r, numbering CAS tags from base+k;
 * k1 = MHSLD__ALL_STEPS: to the last step (no separate count needed). */
#define MHSLD__ALL_STEPS UINT64_MAX
/* Taking access away from op->head: begin (odd) before the first store that
 * removes access, settle (even) after the last.  Settling is idempotent, so
 * recovery settles whatever a dead head left odd. */
static void revoke_begin(mhsld__headrec *hr)
{
    uint64_t v = mhsld__load64(&hr->revoking);
    if (!(v & 1)) {
        MHSLD__STEP();
        mhsld__store64(&hr->revoking, v + 1);
    }
}

static void revoke_settle(mhsld__headrec *hr)
{
    uint64_t v = mhsld__load64(&hr->revoking);
    if (v & 1) {
        MHSLD__STEP();
        mhsld__store64(&hr->revoking, v + 1);
    }
}

/* Block e follows a range being given back (and is not given back with
 * it): if the head still owns it, it now begins an extent of its own, so
 * its start bit is set (before the step's give-back, idempotent for
 * recovery).  Without it a later claim of the blocks before e would merge
 * with e's extent in the head's list, where layout 3's block stamps kept
 * the two apart. */
static inline void mark_rest(mhsld_state *st, uint32_t head, uint64_t e)
{
    if (e >= st->nr_blocks)
        return;
    uint64_t we = e >> 6, bit = 1ull << (e & 63);
    if (!(mhsld__load64(&mhsld__owned_map(st, head)[we]) & bit))
        return;
    uint64_t *sm = mhsld__start_map(st, head);
    uint64_t cur = mhsld__load64(&sm[we]);
    if (!(cur & bit)) {
        MHSLD__STEP();
        mhsld__store64(&sm[we], cur | bit);
    }
}

/* shared: the ranges are a shared extent's (its bytes are cleared too). */
static uint64_t give_back_steps(const mhsld__op *op, const mhsld__bext *r, uint32_t n, uint64_t k0,
                                uint64_t k1, uint64_t base, int shared)
{
    uint64_t freed = 0;
    stepit it;
    uint64_t w, m, k = 0;
    uint64_t *om = mhsld__owned_map(op->st, op->head);
    uint64_t *sm = mhsld__start_map(op->st, op->head);
    stepit_init(&it, r, n);
    for (uint32_t ri0 = 0; k < k1 && stepit_next(&it, &w, &m); ri0 = it.ri) {
        if (k >= k0) {
            /* Ranges [ri0, it.ri) end in this step's word. */
            for (uint32_t i = ri0; i < it.ri; i++) {
                uint64_t e = r[i].start + r[i].count;
                if (i + 1 == n || r[i + 1].start != e)
                    mark_rest(op->st, op->head, e);
            }
            uint64_t own = mhsld__load64(&om[w]);
            if (own & m) { /* no longer accessible before the bit is cleared */
                revoke_begin(op->hr);
                MHSLD__STEP();
                mhsld__store64(&om[w], own & ~m);
            }
            uint64_t stb = mhsld__load64(&sm[w]);
            if (stb & m) {
                MHSLD__STEP();
                mhsld__store64(&sm[w], stb & ~m);
            }
            if (shared) {
                uint8_t *bp = &op->st->sslot[w << 6];
                for (uint64_t mm = m; mm; mm &= mm - 1) {
                    unsigned i = (unsigned)__builtin_ctzll(mm);
                    if (mhsld__load8(&bp[i])) {
                        MHSLD__STEP();
                        mhsld__store8(&bp[i], 0);
                    }
                }
            }
            mhsld__occ_clear(op, w, m, base + k, !shared);
            set_prog(op, base + k + 1);
            freed += popcount64(m);
        }
        k++;
    }
    revoke_settle(op->hr);
    return freed;
}

static int epoch_ok(const mhsld_head *h)
{
    return mhsld__load64(&h->hr->epoch) == h->epoch;
}

static void fill_conflict(const mhsld_state *st, uint64_t b, mhsld_conflict *c)
{
    if (!c)
        return;
    mhsld__look lk;
    mhsld__block_look_nostart(st, b, &lk);
    c->dpa = mhsld__block_dpa(st, b);
    c->state = lk.state;
    c->owner = lk.owner;
}

/* First held block of the request, without side effects (or UINT64_MAX). */
static uint64_t precheck_free(const mhsld_state *st, const mhsld__bext *r, uint32_t n)
{
    stepit it;
    uint64_t w, m;
    stepit_init(&it, r, n);
    while (stepit_next(&it, &w, &m)) {
        uint64_t busy = mhsld__load64(&mhsld__occ(st, w)->lo) & m;
        if (busy)
            return (w << 6) + (uint64_t)__builtin_ctzll(busy);
    }
    return UINT64_MAX;
}

/* Claim every step of r (journal already published as op with op->seq).
 * 1: every step claimed.  0: a conflict at *fail_block, after *claimed
 * steps (the ones to undo).  The caller needs no separate count of the
 * steps: stopping early is the only way to claim fewer than all. */
static int claim_steps(const mhsld__op *op, const mhsld__bext *r, uint32_t n, int kind,
                       uint32_t slot, uint64_t *claimed, uint64_t *fail_block)
{
    stepit it;
    uint64_t w, m, k = 0, busy;
    stepit_init(&it, r, n);
    while (stepit_next(&it, &w, &m)) {
        if (!mhsld__occ_set(op, w, m, k, &busy)) {
            *fail_block = (w << 6) + (uint64_t)__builtin_ctzll(busy);
            *claimed = k;
            return 0;
        }
        set_prog(op, k + 1);
        mhsld__fill(op, w, m, kind, slot, r, n);
        k++;
    }
    *claimed = k;
    return 1;
}

/* Finish an UNDO of the first j->undo claimed steps of j->r, of which the
 * first `done` give-back steps already happened (a live undo: 0; recovery:
 * what the progress word and tags say): give back what is still held,
 * release a slot being created, close the journal. */
static uint64_t undo_resume(const mhsld__op *op, const mhsld__jsnap *j, uint64_t done)
{
    uint64_t freed =
        give_back_steps(op, j->r, j->n, done, j->undo, j->undo, j->slot != MHSLD__NOSLOT);
    if (j->slot != MHSLD__NOSLOT) {
        mhsld__slot *sl = &op->st->slots[j->slot];
        uint64_t cw = mhsld__slotw(0, MHSLD__SLOT_CREATING, op->head, op->seq);
        MHSLD__STEP();
        (void)mhsld__cas64(&sl->word, cw, 0);
    }
    mhsld__journal_end(op->hr);
    return freed;
}

/* Switch the journal from a claim phase to UNDO of its first c claimed
 * steps and run it.  The single store of j.op is the switch; undo is
 * written before it.  j is the operation's private journal: updated here
 * and used as is, never read back from the record. */
static uint64_t undo_claims(const mhsld__op *op, mhsld__jsnap *j, uint64_t c)
{
    j->undo = c;
    j->op = MHSLD__OP_UNDO;
    mhsld__store64_relaxed(&op->hr->j.undo, c);
    MHSLD__STEP();
    mhsld__store32(&op->hr->j.op, MHSLD__OP_UNDO);
    return undo_resume(op, j, 0);
}

static int group_free_slot(const mhsld__headrec *hr)
{
    for (uint32_t g = 0; g < MHSLD_MAX_PENDING; g++)
        if (mhsld__load64(&hr->gseq[g]) == 0)
            return (int)g;
    return -1;
}

int mhsld__group_find(const mhsld_state *st, const mhsld__headrec *hr, uint64_t group)
{
    (void)st;
    if (group == 0)
        return -1;
    for (uint32_t g = 0; g < MHSLD_MAX_PENDING; g++)
        if (mhsld__load64(&hr->gseq[g]) == group)
            return (int)g;
    return -1;
}

/* Every journalled operation of a handle runs with HEAD published in the
 * head's baton (fmforce.c): a plain store, then one load of the outsiders'
 * word, so that no outside actor (a forced release, a FORCE recovery) acts
 * as the head at the same time, at no locked instruction on this path.  The
 * word differs from the one the handle expects only after somebody acted
 * (or acts) as the head; the slow path sorts that out.  The epoch is checked
 * after the entry: a FORCE recovery fences the head only while it acts. */
static inline void head_leave(mhsld_head *h)
{
    mhsld__baton_leave(h);
}

static inline mhsld_status head_enter(mhsld_head *h)
{
    if (!h)
        return MHSLD_E_INVAL;
    if (__builtin_expect(!mhsld__baton_try(h), 0)) {
        mhsld_status s = mhsld__baton_head_slow(h);
        if (s != MHSLD_OK)
            return s;
    }
    mhsld_status s = MHSLD_OK;
    if (!epoch_ok(h))
        s = MHSLD_E_STALE;
    else if (mhsld__load32(&h->hr->j.op) != MHSLD__OP_IDLE)
        s = MHSLD_E_BUSY;
    if (s != MHSLD_OK)
        head_leave(h);
    return s;
}

/* ---- reserve ------------------------------------------------------------ */

static mhsld_status reserve_held(mhsld_head *h, const mhsld_extent *ext, size_t n, uint64_t *group,
                                 mhsld_conflict *conflict)
{
    mhsld_status s;
    if (!group)
        return MHSLD_E_INVAL;
    mhsld_state *st = h->st;
    mhsld__headrec *hr = h->hr;
    mhsld__bext r[MHSLD_MAX_EXTENTS];
    uint32_t nr = 0;
    s = mhsld__ranges_from_extents(st, ext, n, r, &nr);
    if (s != MHSLD_OK)
        return s;
    int g = group_free_slot(hr);
    if (g < 0)
        return MHSLD_E_NOSPACE;
    uint64_t busy = precheck_free(st, r, nr);
    if (busy != UINT64_MAX) {
        fill_conflict(st, busy, conflict);
        return MHSLD_E_CONFLICT;
    }
    mhsld__op op = {st, h->head, hr, mhsld__next_seq(hr, &h->seq)};
    if (!op.seq)
        return MHSLD_E_NOSPACE;
    mhsld__jsnap j;
    mhsld__jsnap_init(&j, MHSLD__OP_RESERVE, MHSLD__NOSLOT, op.seq);
    j.n = nr;
    j.gslot = (uint32_t)g;
    bext_copy(j.r, r, nr);
    mhsld__journal_publish(hr, &j);
    uint64_t fail = 0, c = 0;
    if (!claim_steps(&op, r, nr, FILL_PENDING, 0, &c, &fail)) {
        fill_conflict(st, fail, conflict);
        (void)undo_claims(&op, &j, c);
        return MHSLD_E_CONFLICT;
    }
    mhsld__group_publish(hr, (uint32_t)g, r, nr);
    MHSLD__STEP();
    mhsld__store64(&hr->gseq[g], op.seq);
    mhsld__journal_end(hr);
    *group = op.seq;
    return MHSLD_OK;
}

mhsld_status mhsld_reserve(mhsld_head *h, const mhsld_extent *ext, size_t n, uint64_t *group,
                           mhsld_conflict *conflict)
{
    mhsld_status s = head_enter(h);
    if (s != MHSLD_OK)
        return s;
    s = reserve_held(h, ext, n, group, conflict);
    head_leave(h);
    return s;
}

/* ---- one extent inside one 64-block word: the short paths --------------
 * What the general paths do for such a request, step for step (the same
 * journal, the same tags, the same crash points, so recovery is the same),
 * without their generality: no private journal copy, no step iterator, no
 * request sorting.  Most requests are one extent of a few blocks. */

/* The journal of a one-range operation, op last (release): what
 * mhsld__journal_publish writes for {op, n = 1, r} and nothing else set.
 * Fields that already hold those values because this handle's previous
 * operation was a one-range one of the previous sequence (h->j1_next: no
 * other publication in between, and it did not switch to UNDO) are not
 * stored again: about six stores fewer before the claim's CAS. */
static inline void journal_publish1(mhsld_head *h, uint32_t op, uint64_t seq, const mhsld__bext *r)
{
    mhsld__headrec *hr = h->hr;
    mhsld__journal *sj = &hr->j;
    int same = h->j1_next == seq;
    if (!same) {
        mhsld__store32_relaxed(&sj->n, 1);
        mhsld__store32_relaxed(&sj->nacc, 0);
        mhsld__store32_relaxed(&sj->slot, MHSLD__NOSLOT);
        mhsld__store32_relaxed(&sj->gslot, 0);
        mhsld__store64_relaxed(&sj->group, 0);
        mhsld__store64_relaxed(&sj->undo, 0);
    }
    mhsld__store64_relaxed(&sj->seq, seq);
    if (!same || h->j1_r.start != r->start || h->j1_r.count != r->count) {
        mhsld__store64_relaxed(&sj->r[0].start, r->start);
        mhsld__store64_relaxed(&sj->r[0].count, r->count);
    }
    h->j1_next = seq + 1;
    h->j1_r = *r;
    mhsld__store64(&hr->jprog, mhsld__prog(seq, 0));
    MHSLD__STEP();
    mhsld__store32(&sj->op, op);
}

/* One valid extent (n == 1), converted: 1 inside one 64-block word, 2
 * over several, 0 otherwise (the general path answers the error).  An
 * extent in region 0 is converted from the handle's private view (filled
 * at attach from the validated geometry; empty in a forked child). */
static inline int one_extent(const mhsld_head *h, const mhsld_extent *ext, size_t n, mhsld__bext *r)
{
    if (n != 1 || !ext)
        return 0;
    const mhsld_access_view *v = &h->view;
    uint64_t off = ext->dpa - v->base, len = ext->len;
    if (off < v->len && len && len <= v->len - off && !((off | len) & ((1ull << v->shift) - 1))) {
        r->start = v->first + (off >> v->shift);
        r->count = len >> v->shift;
    } else if (mhsld__dpa_to_range(h->st, ext->dpa, ext->len, r, NULL) != MHSLD_OK) {
        return 0;
    }
    return (r->start >> 6) == ((r->start + r->count - 1) >> 6) ? 1 : 2;
}

/* A one-range claim met a held block at word `w` (bits `busy`) after
 * `claimed` words: report it and undo those words (journal switched to
 * UNDO, as the general path does). */
static mhsld_status claim1_conflict(mhsld_state *st, uint32_t head, uint64_t seq,
                                    const mhsld__bext *r, uint64_t w, uint64_t busy,
                                    uint64_t claimed, mhsld_conflict *conflict)
{
    mhsld__op op = {st, head, &st->heads[head], seq};
    mhsld__jsnap j;
    mhsld__jsnap_init(&j, MHSLD__OP_CLAIM, MHSLD__NOSLOT, seq);
    j.n = 1;
    j.r[0] = *r;
    fill_conflict(st, (w << 6) + (uint64_t)__builtin_ctzll(busy), conflict);
    (void)undo_claims(&op, &j, claimed);
    return MHSLD_E_CONFLICT;
}

/* mhsld__fill(FILL_OWNED)'s start bit for one range: its first block. */
static inline void start1(mhsld_state *st, uint32_t head, const mhsld__bext *r)
{
    uint64_t *sm = &mhsld__start_map(st, head)[r->start >> 6];
    uint64_t sb = 1ull << (r->start & 63), cur = mhsld__load64(sm);
    if (!(cur & sb)) {
        MHSLD__STEP();
        mhsld__store64(sm, cur | sb);
    }
}

static mhsld_status claim_one(mhsld_head *h, const mhsld__bext *r, mhsld_conflict *conflict)
{
    mhsld_state *st = h->st;
    mhsld__headrec *hr = h->hr;
    uint64_t w = r->start >> 6, m = bits(r->start & 63, r->count);
    uint64_t busy = mhsld__load64(&mhsld__occ(st, w)->lo) & m;
    if (busy) {
        fill_conflict(st, (w << 6) + (uint64_t)__builtin_ctzll(busy), conflict);
        return MHSLD_E_CONFLICT;
    }
    mhsld__op op = {st, h->head, hr, mhsld__next_seq(hr, &h->seq)};
    if (!op.seq)
        return MHSLD_E_NOSPACE;
    journal_publish1(h, MHSLD__OP_CLAIM, op.seq, r);
    if (!occ_set_t(st, h->head, w, m, mhsld__tag(h->head, op.seq, 0), &busy)) {
        h->j1_next = 0; /* the undo writes the journal's undo count */
        return claim1_conflict(st, h->head, op.seq, r, w, busy, 0, conflict);
    }
    set_prog(&op, 1);
    start1(st, h->head, r);
    uint64_t *om = mhsld__owned_map(st, h->head);
    uint64_t cur = mhsld__load64(&om[w]); /* accessible from this store on */
    if ((cur & m) != m) {
        MHSLD__STEP();
        mhsld__store64(&om[w], cur | m);
    }
    mhsld__bump_list_gen(hr);
    mhsld__journal_end(hr);
    return MHSLD_OK;
}

static mhsld_status release_one(mhsld_head *h, const mhsld__bext *r, mhsld_conflict *conflict)
{
    mhsld_state *st = h->st;
    mhsld__headrec *hr = h->hr;
    uint64_t w = r->start >> 6, m = bits(r->start & 63, r->count);
    /* Only whoever holds the baton changes the head's owned map (this
     * handle now), so what this load says stays true. */
    uint64_t *om = mhsld__owned_map(st, h->head);
    uint64_t own = mhsld__load64(&om[w]);
    if (m & ~own) {
        fill_conflict(st, (w << 6) + (uint64_t)__builtin_ctzll(m & ~own), conflict);
        return MHSLD_E_NOT_OWNER;
    }
    mhsld__op op = {st, h->head, hr, mhsld__next_seq(hr, &h->seq)};
    if (!op.seq)
        return MHSLD_E_NOSPACE;
    journal_publish1(h, MHSLD__OP_RELEASE, op.seq, r);
    mark_rest(st, h->head, r->start + r->count);
    revoke_begin(hr);
    MHSLD__STEP();
    mhsld__store64(&om[w], own & ~m);
    uint64_t *sm = mhsld__start_map(st, h->head);
    uint64_t stb = mhsld__load64(&sm[w]);
    if (stb & m) {
        MHSLD__STEP();
        mhsld__store64(&sm[w], stb & ~m);
    }
    occ_clear_t(st, h->head, w, m, mhsld__tag(h->head, op.seq, 0), 1);
    set_prog(&op, 1);
    revoke_settle(hr);
    mhsld__bump_list_gen(hr);
    mhsld__journal_end(hr);
    return MHSLD_OK;
}

/* One extent over several words: the general paths' steps, in tight loops
 * over the words (first and last may be partial, the rest are whole). */
/* The words of one range: the first and last masks (the words between
 * are whole), computed once. */
typedef struct run {
    uint64_t w0, w1, m0, m1;
} run;

static inline run run_of(const mhsld__bext *r)
{
    uint64_t end = r->start + r->count;
    run x = {r->start >> 6, (end - 1) >> 6, ~0ull << (r->start & 63),
             ~0ull >> (63 - ((end - 1) & 63))};
    return x;
}

/* The range spans several words here (w0 < w1: one word takes the
 * one-word paths), so no word is both first and last. */
static inline uint64_t run_mask(const run *x, uint64_t w)
{
    return w == x->w0 ? x->m0 : w == x->w1 ? x->m1 : ~0ull;
}

static mhsld_status claim_run(mhsld_head *h, const mhsld__bext *r, mhsld_conflict *conflict)
{
    mhsld_state *st = h->st;
    mhsld__headrec *hr = h->hr;
    const uint32_t me = h->head;
    const run x = run_of(r);
    uint64_t w, busy;
    for (w = x.w0; w <= x.w1; w++) {
        busy = mhsld__load64(&mhsld__occ(st, w)->lo) & run_mask(&x, w);
        if (busy) {
            fill_conflict(st, (w << 6) + (uint64_t)__builtin_ctzll(busy), conflict);
            return MHSLD_E_CONFLICT;
        }
    }
    const uint64_t seq = mhsld__next_seq(hr, &h->seq);
    if (!seq)
        return MHSLD_E_NOSPACE;
    journal_publish1(h, MHSLD__OP_CLAIM, seq, r);
    const uint64_t tag0 = mhsld__tag(me, seq, 0), prog0 = mhsld__prog(seq, 0);
    for (w = x.w0; w <= x.w1; w++) {
        if (!occ_set_t(st, me, w, run_mask(&x, w), tag0 + (w - x.w0), &busy)) {
            h->j1_next = 0; /* the undo writes the journal's undo count */
            return claim1_conflict(st, me, seq, r, w, busy, w - x.w0, conflict);
        }
        set_prog_v(hr, prog0 + (w - x.w0) + 1);
    }
    start1(st, me, r);
    uint64_t *om = mhsld__owned_map(st, me);
    for (w = x.w0; w <= x.w1; w++) {
        uint64_t m = run_mask(&x, w), cur = mhsld__load64(&om[w]);
        if ((cur & m) != m) {
            MHSLD__STEP();
            mhsld__store64(&om[w], cur | m);
        }
    }
    mhsld__bump_list_gen(hr);
    mhsld__journal_end(hr);
    return MHSLD_OK;
}

static mhsld_status release_run(mhsld_head *h, const mhsld__bext *r, mhsld_conflict *conflict)
{
    mhsld_state *st = h->st;
    mhsld__headrec *hr = h->hr;
    const uint32_t me = h->head;
    const run x = run_of(r);
    uint64_t w;
    uint64_t *om = mhsld__owned_map(st, me), *sm = mhsld__start_map(st, me);
    for (w = x.w0; w <= x.w1; w++) {
        uint64_t bad = run_mask(&x, w) & ~mhsld__load64(&om[w]);
        if (bad) {
            fill_conflict(st, (w << 6) + (uint64_t)__builtin_ctzll(bad), conflict);
            return MHSLD_E_NOT_OWNER;
        }
    }
    const uint64_t seq = mhsld__next_seq(hr, &h->seq);
    if (!seq)
        return MHSLD_E_NOSPACE;
    journal_publish1(h, MHSLD__OP_RELEASE, seq, r);
    const uint64_t tag0 = mhsld__tag(me, seq, 0), prog0 = mhsld__prog(seq, 0);
    /* Before the last word's give-back, as give_back_steps does it. */
    mark_rest(st, me, r->start + r->count);
    revoke_begin(hr); /* every word below takes access away (checked above) */
    for (w = x.w0; w <= x.w1; w++) {
        uint64_t m = run_mask(&x, w), own = mhsld__load64(&om[w]);
        if (own & m) {
            MHSLD__STEP();
            mhsld__store64(&om[w], own & ~m);
        }
        uint64_t stb = mhsld__load64(&sm[w]);
        if (stb & m) {
            MHSLD__STEP();
            mhsld__store64(&sm[w], stb & ~m);
        }
        occ_clear_t(st, me, w, m, tag0 + (w - x.w0), 1);
        set_prog_v(hr, prog0 + (w - x.w0) + 1);
    }
    revoke_settle(hr);
    mhsld__bump_list_gen(hr);
    mhsld__journal_end(hr);
    return MHSLD_OK;
}

/* ---- claim: free -> OWNED in one operation ------------------------------ */

static mhsld_status claim_held(mhsld_head *h, const mhsld_extent *ext, size_t n,
                               mhsld_conflict *conflict)
{
    mhsld_state *st = h->st;
    mhsld__headrec *hr = h->hr;
    mhsld__jsnap j;
    mhsld_status s = mhsld__ranges_from_extents(st, ext, n, j.r, &j.n);
    if (s != MHSLD_OK)
        return s;
    uint32_t nr = j.n;
    uint64_t busy = precheck_free(st, j.r, nr);
    if (busy != UINT64_MAX) {
        fill_conflict(st, busy, conflict);
        return MHSLD_E_CONFLICT;
    }
    mhsld__op op = {st, h->head, hr, mhsld__next_seq(hr, &h->seq)};
    if (!op.seq)
        return MHSLD_E_NOSPACE;
    mhsld__jsnap_init(&j, MHSLD__OP_CLAIM, MHSLD__NOSLOT, op.seq);
    j.n = nr;
    mhsld__journal_publish(hr, &j);
    uint64_t fail = 0, c = 0;
    /* Every block first, then the maps: a claim that fails half-way never
     * made any of its blocks accessible, even for an instant. */
    if (!claim_steps(&op, j.r, nr, FILL_PENDING, 0, &c, &fail)) {
        fill_conflict(st, fail, conflict);
        (void)undo_claims(&op, &j, c);
        return MHSLD_E_CONFLICT;
    }
    stepit it;
    uint64_t w, m;
    stepit_init(&it, j.r, nr);
    while (stepit_next(&it, &w, &m))
        mhsld__fill(&op, w, m, FILL_OWNED, 0, j.r, nr);
    mhsld__bump_list_gen(hr);
    mhsld__journal_end(hr);
    return MHSLD_OK;
}

mhsld_status mhsld_claim(mhsld_head *h, const mhsld_extent *ext, size_t n, mhsld_conflict *conflict)
{
    mhsld_status s = head_enter(h);
    if (s != MHSLD_OK)
        return s;
    mhsld__bext r;
    switch (one_extent(h, ext, n, &r)) {
    case 1:
        s = claim_one(h, &r, conflict);
        break;
    case 2:
        s = claim_run(h, &r, conflict);
        break;
    default:
        s = claim_held(h, ext, n, conflict);
    }
    head_leave(h);
    return s;
}

/* ---- commit ------------------------------------------------------------- */

/* rejected = group - accepted; both sorted and disjoint; accepted must lie
 * inside the union of the group's ranges. */
static mhsld_status split_group(const mhsld__bext *gr, uint32_t ng, const mhsld__bext *acc,
                                uint32_t na, mhsld__bext *rej, uint32_t *nrej)
{
    for (uint32_t i = 0; i < na; i++) {
        uint64_t pos = acc[i].start, end = acc[i].start + acc[i].count;
        uint32_t k = 0;
        while (k < ng && gr[k].start + gr[k].count <= pos)
            k++;
        while (pos < end) {
            if (k >= ng || gr[k].start > pos)
                return MHSLD_E_NOT_IN_GROUP;
            pos = gr[k].start + gr[k].count;
            k++;
        }
    }
    uint32_t out = 0, ai = 0;
    for (uint32_t k = 0; k < ng; k++) {
        uint64_t pos = gr[k].start, end = gr[k].start + gr[k].count;
        while (ai < na && acc[ai].start + acc[ai].count <= pos)
            ai++;
        uint32_t aj = ai;
        while (pos < end) {
            if (aj < na && acc[aj].start <= pos) {
                pos = acc[aj].start + acc[aj].count;
                aj++;
                continue;
            }
            uint64_t stop = (aj < na && acc[aj].start < end) ? acc[aj].start : end;
            if (out >= MHSLD__JMAX)
                return MHSLD_E_TOO_MANY;
            rej[out].start = pos;
            rej[out].count = stop - pos;
            out++;
            pos = stop;
        }
    }
    *nrej = out;
    return MHSLD_OK;
}

/* Run a commit (j: its private journal) from give-back step from_step. */
static uint64_t commit_run(const mhsld__op *op, const mhsld__jsnap *j, uint64_t from_step)
{
    mhsld__headrec *hr = op->hr;
    stepit it;
    uint64_t w, m;
    stepit_init(&it, j->acc, j->nacc);
    while (stepit_next(&it, &w, &m)) {
        /* The blocks' generation moves: their pair's tag is rewritten
         * (bits unchanged; a tag no give-back step uses, so progress
         * scans never take it for one).  Idempotent for recovery: a pair
         * that already carries a tag of this operation's was rewritten
         * (every rewrite precedes every give-back step) and is left alone;
         * rewriting a give-back step's tag would erase the only proof of
         * that step (an own tag is recorded nowhere) while progress may
         * not yet say it, and a later recovery would give its blocks back
         * again, after another head claimed them. */
        mhsld__pair *p = mhsld__occ(op->st, w);
        mhsld__pair nv = {0, mhsld__tag(op->head, op->seq, MHSLD__TAG_COMMIT)};
        MHSLD__STEP();
        for (;;) {
            mhsld__pair cur = mhsld__load_pair(p);
            if ((cur.hi >> 24) == (nv.hi >> 24))
                break;
            record(op->st, op->head, cur.hi);
            nv.lo = cur.lo;
            if (mhsld__cas128(p, cur, nv))
                break;
        }
        mhsld__fill(op, w, m, FILL_OWNED, 0, j->acc, j->nacc);
    }
    uint64_t freed = give_back_steps(op, j->r, j->n, from_step, MHSLD__ALL_STEPS, 0, 0);
    if (mhsld__load64(&hr->gseq[j->gslot]) == j->group) {
        MHSLD__STEP();
        mhsld__store64(&hr->gseq[j->gslot], 0);
    }
    if (j->nacc)
        mhsld__bump_list_gen(hr);
    mhsld__journal_end(hr);
    return freed;
}

mhsld_status mhsld__commit_as(mhsld_state *st, uint32_t head, uint64_t *last, uint32_t gslot,
                              uint64_t group, const mhsld__gsnap *grp, const mhsld__bext *acc,
                              uint32_t nacc)
{
    mhsld__headrec *hr = &st->heads[head];
    mhsld__jsnap j;
    mhsld__jsnap_init(&j, MHSLD__OP_COMMIT, MHSLD__NOSLOT, 0);
    j.nacc = nacc;
    j.gslot = gslot;
    j.group = group;
    mhsld_status s = split_group(grp->r, grp->n, acc, nacc, j.r, &j.n);
    if (s != MHSLD_OK)
        return s;
    mhsld__op op = {st, head, hr, mhsld__next_seq(hr, last)};
    if (!op.seq)
        return MHSLD_E_NOSPACE;
    j.seq = op.seq;
    bext_copy(j.acc, acc, nacc);
    mhsld__journal_publish(hr, &j);
    (void)commit_run(&op, &j, 0);
    return MHSLD_OK;
}

static mhsld_status commit_held(mhsld_head *h, uint64_t group, const mhsld_extent *acc, size_t n)
{
    mhsld_status s;
    if (n && !acc)
        return MHSLD_E_INVAL;
    mhsld__bext a[MHSLD_MAX_EXTENTS];
    uint32_t na = 0;
    if (n) {
        s = mhsld__ranges_from_extents(h->st, acc, n, a, &na);
        if (s != MHSLD_OK)
            return s;
    }
    int g = mhsld__group_find(h->st, h->hr, group);
    if (g < 0)
        return MHSLD_E_NO_GROUP;
    mhsld__gsnap grp;
    s = mhsld__group_snapshot(h->st, h->hr, (uint32_t)g, &grp);
    if (s != MHSLD_OK)
        return s;
    return mhsld__commit_as(h->st, h->head, &h->seq, (uint32_t)g, group, &grp, a, na);
}

mhsld_status mhsld_commit(mhsld_head *h, uint64_t group, const mhsld_extent *acc, size_t n)
{
    mhsld_status s = head_enter(h);
    if (s != MHSLD_OK)
        return s;
    s = commit_held(h, group, acc, n);
    head_leave(h);
    return s;
}

/* ---- release ------------------------------------------------------------ */

static mhsld_status release_ranges_as(mhsld_state *st, uint32_t head, uint64_t *last,
                                      const mhsld__bext *r, uint32_t nr)
{
    mhsld__headrec *hr = &st->heads[head];
    mhsld__op op = {st, head, hr, mhsld__next_seq(hr, last)};
    if (!op.seq)
        return MHSLD_E_NOSPACE;
    mhsld__jsnap j;
    mhsld__jsnap_init(&j, MHSLD__OP_RELEASE, MHSLD__NOSLOT, op.seq);
    j.n = nr;
    bext_copy(j.r, r, nr);
    mhsld__journal_publish(hr, &j);
    (void)give_back_steps(&op, r, nr, 0, MHSLD__ALL_STEPS, 0, 0);
    mhsld__bump_list_gen(hr);
    mhsld__journal_end(hr);
    return MHSLD_OK;
}

static mhsld_status release_held(mhsld_head *h, const mhsld_extent *ext, size_t n,
                                 mhsld_conflict *conflict)
{
    mhsld_status s;
    mhsld_state *st = h->st;
    mhsld__bext r[MHSLD_MAX_EXTENTS];
    uint32_t nr = 0;
    s = mhsld__ranges_from_extents(st, ext, n, r, &nr);
    if (s != MHSLD_OK)
        return s;
    /* Only whoever holds the baton changes the head's owned map (this
     * handle now), so this check stays true. */
    const uint64_t *om = mhsld__owned_map(st, h->head);
    stepit it;
    uint64_t w, m;
    stepit_init(&it, r, nr);
    while (stepit_next(&it, &w, &m)) {
        uint64_t bad = m & ~mhsld__load64(&om[w]);
        if (bad) {
            fill_conflict(st, (w << 6) + (uint64_t)__builtin_ctzll(bad), conflict);
            return MHSLD_E_NOT_OWNER;
        }
    }
    return release_ranges_as(st, h->head, &h->seq, r, nr);
}

mhsld_status mhsld_release(mhsld_head *h, const mhsld_extent *ext, size_t n,
                           mhsld_conflict *conflict)
{
    mhsld_status s = head_enter(h);
    if (s != MHSLD_OK)
        return s;
    mhsld__bext r;
    switch (one_extent(h, ext, n, &r)) {
    case 1:
        s = release_one(h, &r, conflict);
        break;
    case 2:
        s = release_run(h, &r, conflict);
        break;
    default:
        s = release_held(h, ext, n, conflict);
    }
    head_leave(h);
    return s;
}

/* ---- shared extents ----------------------------------------------------- */

/* Internal: a shared create met a creation or a claim in progress. */
#define MHSLD__RETRY MHSLD_E__COUNT
#define MHSLD__SHARE_TRIES 4096
/* How long a shared add waits, in all, for another head's create or retire
 * of an overlapping extent to finish.  A time, not a count of tries: one try
 * scans the whole range, which a co-tenant's stray bit (or a head that died
 * mid-claim and awaits recovery) would otherwise make it repeat 4096 times. */
#define MHSLD__SHARE_WAIT_NS (200ull * 1000 * 1000)

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* A shared create found block b held.  If an exclusive owner holds it,
 * that is a conflict in any order.  If a shared extent holds it (being
 * created, active, or retiring) or its holder is still writing its block
 * words, the outcome depends on an operation in progress: look again (the
 * join scan then answers a join or MHSLD_E_TAG, or the blocks are free). */
static int share_transient(const mhsld_state *st, uint64_t b)
{
    mhsld__look lk;
    mhsld__block_look_nostart(st, b, &lk);
    return lk.state == MHSLD_BLOCK_FREE || lk.state == MHSLD_BLOCK_SHARED;
}

static mhsld_status share_add_once(mhsld_head *h, const mhsld__bext *rp, uint64_t dpa,
                                   const uint8_t *tag, uint16_t seq, mhsld_conflict *conflict)
{
    mhsld_state *st = h->st;
    mhsld__bext r = *rp;
    uint32_t me = 1u << h->head;
    /* Join an active extent of the same range and tag: one CAS. */
    for (uint32_t i = 0; i < MHSLD_MAX_SHARED; i++) {
        mhsld__slot *sl = &st->slots[i];
        uint64_t w = mhsld__load64(&sl->word);
        if (mhsld__slot_state(w) != MHSLD__SLOT_ACTIVE)
            continue;
        uint64_t ss = mhsld__load64(&sl->start), sc = mhsld__load64(&sl->count);
        uint8_t st_tag[MHSLD_TAG_SIZE];
        mhsld__tag_load(sl, st_tag);
        uint64_t sseq = mhsld__load64(&sl->sseq);
        if (mhsld__load64(&sl->word) != w)
            return MHSLD__RETRY; /* retired or recycled while we read it */
        if (ss + sc <= r.start || r.start + r.count <= ss)
            continue;
        if (ss != r.start || sc != r.count || memcmp(st_tag, tag, MHSLD_TAG_SIZE) != 0 ||
            sseq != seq)
            return MHSLD_E_TAG;
        if (mhsld__slot_sharers(w) & me) {
            if (conflict) {
                conflict->dpa = dpa;
                conflict->owner = MHSLD_OWNER_SHARED;
                conflict->state = MHSLD_BLOCK_SHARED;
            }
            return MHSLD_E_CONFLICT;
        }
        MHSLD__STEP();
        if (mhsld__cas64(&sl->word, w, w | me)) {
            mhsld__bump_list_gen(h->hr);
            return MHSLD_OK;
        }
        return MHSLD__RETRY; /* another sharer came or went: look again */
    }
    /* Create. */
    uint64_t busy = precheck_free(st, &r, 1);
    if (busy != UINT64_MAX) {
        if (share_transient(st, busy))
            return MHSLD__RETRY;
        fill_conflict(st, busy, conflict);
        return MHSLD_E_CONFLICT;
    }
    mhsld__headrec *hr = h->hr;
    for (uint32_t i = 0; i < MHSLD_MAX_SHARED; i++) {
        mhsld__slot *sl = &st->slots[i];
        if (mhsld__load64(&sl->word) != 0)
            continue;
        mhsld__op op = {st, h->head, hr, mhsld__next_seq(hr, &h->seq)};
        if (!op.seq)
            return MHSLD_E_NOSPACE;
        mhsld__jsnap j;
        mhsld__jsnap_init(&j, MHSLD__OP_SHARE_NEW, i, op.seq);
        j.n = 1;
        j.r[0] = r;
        mhsld__journal_publish(hr, &j);
        uint64_t cw = mhsld__slotw(0, MHSLD__SLOT_CREATING, h->head, op.seq);
        MHSLD__STEP();
        if (!mhsld__cas64(&sl->word, 0, cw)) {
            mhsld__journal_end(hr);
            continue;
        }
        mhsld__store64(&sl->start, r.start);
        mhsld__store64(&sl->count, r.count);
        mhsld__tag_store(sl, tag);
        mhsld__store64(&sl->sseq, seq);
        uint64_t fail = 0, c = 0;
        if (!claim_steps(&op, &r, 1, FILL_SHARED, i, &c, &fail)) {
            int transient = share_transient(st, fail);
            if (!transient)
                fill_conflict(st, fail, conflict);
            (void)undo_claims(&op, &j, c);
            return transient ? MHSLD__RETRY : MHSLD_E_CONFLICT;
        }
        MHSLD__STEP();
        mhsld__store64(&sl->word, mhsld__slotw(me, MHSLD__SLOT_ACTIVE, h->head, op.seq));
        mhsld__bump_list_gen(hr);
        mhsld__journal_end(hr);
        return MHSLD_OK;
    }
    return MHSLD_E_NOSPACE;
}

static mhsld_status share_add_held(mhsld_head *h, const mhsld_extent *ext,
                                   const uint8_t tag[MHSLD_TAG_SIZE], uint16_t seq,
                                   mhsld_conflict *conflict)
{
    mhsld_status s;
    if (!ext || !tag)
        return MHSLD_E_INVAL;
    mhsld__bext r;
    uint32_t region;
    s = mhsld__dpa_to_range(h->st, ext->dpa, ext->len, &r, &region);
    if (s != MHSLD_OK)
        return s;
    if (!(h->st->geo.regions[region].flags & MHSLD_REGION_SHARABLE))
        return MHSLD_E_NOT_SHARABLE;
    /* Two heads adding the same new shared extent at once: one creates it,
     * the other waits for the creation to finish and joins.  The wait is
     * bounded in time (a creator that died mid-way needs recovery first). */
    uint64_t deadline = now_ns() + MHSLD__SHARE_WAIT_NS;
    for (;;) {
        s = share_add_once(h, &r, ext->dpa, tag, seq, conflict);
        if (s != MHSLD__RETRY)
            return s;
        if (now_ns() > deadline)
            return MHSLD_E_BUSY;
        sched_yield();
    }
}

mhsld_status mhsld_share_add_seq(mhsld_head *h, const mhsld_extent *ext,
                                 const uint8_t tag[MHSLD_TAG_SIZE], uint16_t seq,
                                 mhsld_conflict *conflict)
{
    mhsld_status s = head_enter(h);
    if (s != MHSLD_OK)
        return s;
    s = share_add_held(h, ext, tag, seq, conflict);
    head_leave(h);
    return s;
}

mhsld_status mhsld_share_add(mhsld_head *h, const mhsld_extent *ext,
                             const uint8_t tag[MHSLD_TAG_SIZE], mhsld_conflict *conflict)
{
    return mhsld_share_add_seq(h, ext, tag, 0, conflict);
}

/* A SHARE_LEAVE journal's `group` field (unused otherwise): the retire is
 * the fabric manager's Remove Reference of an extent with no sharer, made
 * through this head, whose extent list does not change. */
#define MHSLD__LEAVE_FM 1u

static uint64_t share_retire_run(const mhsld__op *op, const mhsld__jsnap *j, uint64_t from_step)
{
    mhsld__headrec *hr = op->hr;
    uint64_t freed = give_back_steps(op, j->r, j->n, from_step, MHSLD__ALL_STEPS, 0, 1);
    MHSLD__STEP();
    mhsld__store64(&op->st->slots[j->slot].word, 0);
    if (j->group != MHSLD__LEAVE_FM)
        mhsld__bump_list_gen(hr);
    mhsld__journal_end(hr);
    return freed;
}

mhsld_status mhsld__share_leave_as(mhsld_state *st, uint32_t head, uint64_t *last, uint32_t slot,
                                   uint64_t *freed)
{
    mhsld__slot *sl = &st->slots[slot];
    mhsld__headrec *hr = &st->heads[head];
    uint32_t me = 1u << head;
    /* Each retry follows a change of the slot word by another head; a word
     * that changes on every look this often is not a sharer's doing. */
    for (unsigned tries = 0; tries < MHSLD__SHARE_TRIES; tries++) {
        uint64_t w = mhsld__load64(&sl->word);
        if (mhsld__slot_state(w) != MHSLD__SLOT_ACTIVE || !(mhsld__slot_sharers(w) & me))
            return MHSLD_E_NOT_OWNER;
        /* Not the last holder (another sharer, or the FM's reference): the
         * blocks stay; leaving is one CAS. */
        if (mhsld__slot_sharers(w) != me || mhsld__slot_fmref(w)) {
            revoke_begin(hr);
            MHSLD__STEP();
            bool left = mhsld__cas64(&sl->word, w, w & ~(uint64_t)me);
            revoke_settle(hr);
            if (left) {
                mhsld__bump_list_gen(hr);
                return MHSLD_OK;
            }
            continue;
        }
        /* Last sharer: retire, journaled, then give the blocks back. */
        mhsld__jsnap j;
        mhsld__jsnap_init(&j, MHSLD__OP_SHARE_LEAVE, slot, 0);
        j.n = 1;
        if (!mhsld__slot_range(st, slot, &j.r[0]))
            return MHSLD_E_CORRUPT;
        mhsld__op op = {st, head, hr, mhsld__next_seq(hr, last)};
        if (!op.seq)
            return MHSLD_E_NOSPACE;
        j.seq = op.seq;
        mhsld__journal_publish(hr, &j);
        revoke_begin(hr); /* settled by the give-back, or here */
        MHSLD__STEP();
        if (!mhsld__cas64(&sl->word, w, mhsld__slotw(0, MHSLD__SLOT_RETIRING, head, op.seq))) {
            revoke_settle(hr);
            mhsld__journal_end(hr);
            continue;
        }
        uint64_t n = share_retire_run(&op, &j, 0);
        if (freed)
            *freed += n;
        return MHSLD_OK;
    }
    return MHSLD_E_BUSY;
}

static mhsld_status share_release_held(mhsld_head *h, const mhsld_extent *ext)
{
    mhsld_status s;
    if (!ext)
        return MHSLD_E_INVAL;
    mhsld__bext r;
    s = mhsld__dpa_to_range(h->st, ext->dpa, ext->len, &r, NULL);
    if (s != MHSLD_OK)
        return s;
    for (uint32_t i = 0; i < MHSLD_MAX_SHARED; i++) {
        mhsld__slot *sl = &h->st->slots[i];
        uint64_t w = mhsld__load64(&sl->word);
        mhsld__bext sr;
        if (mhsld__slot_state(w) == MHSLD__SLOT_ACTIVE &&
            (mhsld__slot_sharers(w) >> h->head & 1u) && mhsld__slot_range(h->st, i, &sr) &&
            sr.start == r.start && sr.count == r.count)
            return mhsld__share_leave_as(h->st, h->head, &h->seq, i, NULL);
    }
    return MHSLD_E_NOT_OWNER;
}

mhsld_status mhsld_share_release(mhsld_head *h, const mhsld_extent *ext)
{
    mhsld_status s = head_enter(h);
    if (s != MHSLD_OK)
        return s;
    s = share_release_held(h, ext);
    head_leave(h);
    return s;
}

/* ---- fabric-manager references on a tag (5606h/5607h) ----------------- */

/* Slot i's word if the slot is ACTIVE and carries tag (tag loaded between
 * two loads of the same word, so it belongs to that word's extent); 0 if it
 * does not; MHSLD__SLOT_RETIRING << 32 (never an ACTIVE word) if the word
 * changed while the tag was read. */
#define MHSLD__SLOT_MOVED ((uint64_t)MHSLD__SLOT_RETIRING << 32)
static uint64_t slot_with_tag(const mhsld_state *st, uint32_t i, const uint8_t *tag)
{
    const mhsld__slot *sl = &st->slots[i];
    uint64_t w = mhsld__load64(&sl->word);
    if (mhsld__slot_state(w) != MHSLD__SLOT_ACTIVE)
        return 0;
    uint8_t t[MHSLD_TAG_SIZE];
    mhsld__tag_load(sl, t);
    if (mhsld__load64(&sl->word) != w)
        return MHSLD__SLOT_MOVED;
    return memcmp(t, tag, MHSLD_TAG_SIZE) == 0 ? w : 0;
}

/* What an FM-reference action did to one ACTIVE slot carrying the tag. */
enum { FMREF_KEPT = -1, FMREF_CHANGED = -2 }; /* never an mhsld_status */

/* Apply act to every ACTIVE shared slot whose tag is `tag` (each judged by
 * one word read on both sides of its tag, slot_with_tag), retrying a slot
 * whose word moved.  act returns FMREF_KEPT, FMREF_CHANGED, MHSLD__RETRY (the
 * word changed under its CAS: look again) or an error, which ends the walk.
 * MHSLD_E_TAG if no slot carries the tag, else `none` if act changed none. */
static mhsld_status fm_ref_each(mhsld_head *h, const uint8_t *tag, mhsld_status none,
                                int (*act)(mhsld_head *h, uint32_t i, uint64_t w, void *arg),
                                void *arg)
{
    mhsld_state *st = h->st;
    uint32_t found = 0, changed = 0;
    for (uint32_t i = 0; i < MHSLD_MAX_SHARED; i++) {
        unsigned tries = 0;
        for (; tries < MHSLD__SHARE_TRIES; tries++) {
            uint64_t w = slot_with_tag(st, i, tag);
            if (w == MHSLD__SLOT_MOVED)
                continue;
            if (w == 0)
                break;
            int r = act(h, i, w, arg);
            if (r == (int)MHSLD__RETRY)
                continue;
            if (r != FMREF_KEPT && r != FMREF_CHANGED)
                return (mhsld_status)r;
            found++;
            changed += r == FMREF_CHANGED;
            break;
        }
        if (tries == MHSLD__SHARE_TRIES)
            return MHSLD_E_BUSY; /* only a co-tenant's writes get here */
    }
    if (!found)
        return MHSLD_E_TAG;
    return changed ? MHSLD_OK : none;
}

static int fm_ref_set(mhsld_head *h, uint32_t i, uint64_t w, void *arg)
{
    (void)arg;
    if (mhsld__slot_fmref(w))
        return FMREF_KEPT;
    MHSLD__STEP();
    return mhsld__cas64(&h->st->slots[i].word, w, w | MHSLD__SLOT_FMREF) ? FMREF_CHANGED
                                                                         : (int)MHSLD__RETRY;
}

static mhsld_status fm_ref_add_held(mhsld_head *h, const uint8_t *tag)
{
    return fm_ref_each(h, tag, MHSLD_E_EXISTS, fm_ref_set, NULL);
}

mhsld_status mhsld_fm_ref_add(mhsld_head *h, const uint8_t tag[MHSLD_TAG_SIZE])
{
    if (!tag)
        return MHSLD_E_INVAL;
    mhsld_status s = head_enter(h);
    if (s != MHSLD_OK)
        return s;
    s = fm_ref_add_held(h, tag);
    head_leave(h);
    return s;
}

/* Drop the FM's reference on slot i (word w, ACTIVE, reference held).  With
 * sharers left it is one CAS.  With none, the slot is retired exactly as by
 * a last sharer's leave, journalled in h's journal (op SHARE_LEAVE, marked
 * MHSLD__LEAVE_FM so that h's list generation does not move): recovery of h
 * finishes it.  MHSLD__RETRY if the word changed. */
static mhsld_status fm_ref_drop(mhsld_head *h, uint32_t i, uint64_t w, uint64_t *freed)
{
    mhsld_state *st = h->st;
    mhsld__slot *sl = &st->slots[i];
    if (mhsld__slot_sharers(w) != 0) {
        MHSLD__STEP();
        return mhsld__cas64(&sl->word, w, w & ~MHSLD__SLOT_FMREF) ? MHSLD_OK : MHSLD__RETRY;
    }
    mhsld__headrec *hr = h->hr;
    mhsld__jsnap j;
    mhsld__jsnap_init(&j, MHSLD__OP_SHARE_LEAVE, i, 0);
    j.group = MHSLD__LEAVE_FM;
    j.n = 1;
    if (!mhsld__slot_range(st, i, &j.r[0]))
        return MHSLD_E_CORRUPT;
    mhsld__op op = {st, h->head, hr, mhsld__next_seq(hr, &h->seq)};
    if (!op.seq)
        return MHSLD_E_NOSPACE;
    j.seq = op.seq;
    mhsld__journal_publish(hr, &j);
    MHSLD__STEP();
    if (!mhsld__cas64(&sl->word, w, mhsld__slotw(0, MHSLD__SLOT_RETIRING, h->head, op.seq))) {
        mhsld__journal_end(hr);
        return MHSLD__RETRY;
    }
    uint64_t n = share_retire_run(&op, &j, 0);
    if (freed)
        *freed += n;
    return MHSLD_OK;
}

static int fm_ref_clear(mhsld_head *h, uint32_t i, uint64_t w, void *freed)
{
    if (!mhsld__slot_fmref(w))
        return FMREF_KEPT;
    mhsld_status s = fm_ref_drop(h, i, w, freed);
    return s == MHSLD_OK ? FMREF_CHANGED : (int)s;
}

static mhsld_status fm_ref_remove_held(mhsld_head *h, const uint8_t *tag, uint64_t *freed)
{
    return fm_ref_each(h, tag, MHSLD_E_NOT_OWNER, fm_ref_clear, freed);
}

mhsld_status mhsld_fm_ref_remove(mhsld_head *h, const uint8_t tag[MHSLD_TAG_SIZE],
                                 uint64_t *freed_blocks)
{
    if (!tag)
        return MHSLD_E_INVAL;
    uint64_t n = 0;
    mhsld_status s = head_enter(h);
    if (s != MHSLD_OK)
        return s;
    s = fm_ref_remove_held(h, tag, &n);
    head_leave(h);
    if (freed_blocks)
        *freed_blocks = n;
    return s;
}

/* ---- forced release: an outside actor as the head ---------------------- */

mhsld_status mhsld__force_release_as(mhsld_state *st, uint32_t head, uint64_t *last,
                                     const mhsld_extent *ext, size_t n, mhsld_conflict *conflict)
{
    mhsld__bext r[MHSLD_MAX_EXTENTS], own[MHSLD_MAX_EXTENTS];
    uint32_t slot[MHSLD_MAX_EXTENTS];
    uint32_t nr = 0, nown = 0, nslot = 0;
    mhsld_status s = mhsld__ranges_from_extents(st, ext, n, r, &nr);
    if (s != MHSLD_OK)
        return s;
    /* Decide every range before acting on any (all or nothing).  The caller
     * holds the baton, so neither the owned map nor the head's membership
     * of a shared extent changes under this look (only the last sharer
     * retires an extent, and the head is one of its sharers). */
    const uint64_t *om = mhsld__owned_map(st, head);
    for (uint32_t i = 0; i < nr; i++) {
        stepit it;
        uint64_t w, m, miss = 0, missw = 0;
        stepit_init(&it, &r[i], 1);
        while (!miss && stepit_next(&it, &w, &m)) {
            miss = m & ~mhsld__load64(&om[w]);
            missw = w;
        }
        if (!miss) {
            own[nown++] = r[i];
            continue;
        }
        uint32_t found = MHSLD__NOSLOT;
        for (uint32_t k = 0; k < MHSLD_MAX_SHARED && found == MHSLD__NOSLOT; k++) {
            uint64_t sw = mhsld__load64(&st->slots[k].word);
            mhsld__bext sr;
            if (mhsld__slot_state(sw) == MHSLD__SLOT_ACTIVE &&
                (mhsld__slot_sharers(sw) >> head & 1u) && mhsld__slot_range(st, k, &sr) &&
                sr.start == r[i].start && sr.count == r[i].count)
                found = k;
        }
        if (found == MHSLD__NOSLOT) {
            fill_conflict(st, (missw << 6) + (uint64_t)__builtin_ctzll(miss), conflict);
            return MHSLD_E_NOT_OWNER;
        }
        slot[nslot++] = found;
    }
    /* Owned ranges: one journalled release (sorted and disjoint: a subset
     * of r).  Shared extents: the head leaves each (the last sharer's leave
     * is journalled).  give_back_steps and the leave bump the head's
     * `revoking` seqlock around every removal, so a concurrent multi-load
     * access check of the head cannot answer true on access removed behind
     * it; when this returns, every check of the head on these blocks fails. */
    if (nown) {
        s = release_ranges_as(st, head, last, own, nown);
        if (s != MHSLD_OK)
            return s;
    }
    for (uint32_t i = 0; i < nslot; i++) {
        s = mhsld__share_leave_as(st, head, last, slot[i], NULL);
        if (s != MHSLD_OK)
            return s; /* only a co-tenant's writes get here (see guarantees.md) */
    }
    return MHSLD_OK;
}

/* ---- release everything ------------------------------------------------- */

mhsld_status mhsld__release_all_as(mhsld_state *st, uint32_t head, uint64_t *last, uint64_t *freed)
{
    mhsld__headrec *hr = &st->heads[head];
    uint64_t n_freed = 0;
    mhsld_status s;
    for (uint32_t g = 0; g < MHSLD_MAX_PENDING; g++) {
        uint64_t seq = mhsld__load64(&hr->gseq[g]);
        if (!seq)
            continue;
        mhsld__gsnap grp;
        s = mhsld__group_snapshot(st, hr, g, &grp);
        if (s != MHSLD_OK)
            return s;
        for (uint32_t i = 0; i < grp.n; i++)
            n_freed += grp.r[i].count;
        s = mhsld__commit_as(st, head, last, g, seq, &grp, NULL, 0);
        if (s != MHSLD_OK)
            return s;
    }
    /* Owned blocks, in batches of runs. */
    mhsld__bext r[MHSLD_MAX_EXTENTS];
    uint32_t nr = 0;
    const uint64_t *om = mhsld__owned_map(st, head);
    for (uint64_t w = 0; w < st->lay.nr_words; w++) {
        uint64_t own = mhsld__load64(&om[w]) & mhsld__load64(&mhsld__occ(st, w)->lo);
        for (; own; own &= own - 1) {
            uint64_t b = (w << 6) + (uint64_t)__builtin_ctzll(own);
            if (b >= st->nr_blocks)
                break;
            if (nr && r[nr - 1].start + r[nr - 1].count == b &&
                mhsld__block_region(st, b) == mhsld__block_region(st, r[nr - 1].start)) {
                r[nr - 1].count++;
            } else {
                if (nr == MHSLD_MAX_EXTENTS) {
                    s = release_ranges_as(st, head, last, r, nr);
                    if (s != MHSLD_OK)
                        return s;
                    nr = 0;
                }
                r[nr].start = b;
                r[nr].count = 1;
                nr++;
            }
            n_freed++;
        }
    }
    if (nr) {
        s = release_ranges_as(st, head, last, r, nr);
        if (s != MHSLD_OK)
            return s;
    }
    mhsld_status first_err = MHSLD_OK;
    for (uint32_t i = 0; i < MHSLD_MAX_SHARED; i++) {
        uint64_t w = mhsld__load64(&st->slots[i].word);
        if (mhsld__slot_state(w) == MHSLD__SLOT_ACTIVE && (mhsld__slot_sharers(w) >> head & 1u)) {
            /* Counts only if last.  NOT_OWNER: the slot changed meanwhile and
             * is not ours to leave; any other failure leaves the head a
             * sharer, which the caller must hear of (after trying the rest). */
            s = mhsld__share_leave_as(st, head, last, i, &n_freed);
            if (s == MHSLD_E_NOSPACE)
                return s;
            if (s != MHSLD_OK && s != MHSLD_E_NOT_OWNER && first_err == MHSLD_OK)
                first_err = s;
        }
    }
    if (freed)
        *freed = n_freed;
    return first_err;
}

mhsld_status mhsld_release_all(mhsld_head *h, uint64_t *freed_blocks)
{
    mhsld_status s = head_enter(h);
    if (s != MHSLD_OK)
        return s;
    s = mhsld__release_all_as(h->st, h->head, &h->seq, freed_blocks);
    head_leave(h);
    return s;
}

/* ---- access check: the memory hot path ---------------------------------- */

#ifdef MHSLD_TESTING
static _Thread_local mhsld_access_hook_fn access_hook;
static _Thread_local void *access_hook_arg;

void mhsld_test_access_hook(mhsld_access_hook_fn fn, void *arg)
{
    access_hook = fn;
    access_hook_arg = arg;
}
#define MHSLD__ACCESS_HOOK()                                                                       \
    do {                                                                                           \
        if (access_hook) {                                                                         \
            mhsld_access_hook_fn fn_ = access_hook;                                                \
            access_hook = NULL;                                                                    \
            fn_(access_hook_arg);                                                                  \
        }                                                                                          \
    } while (0)
#else
#define MHSLD__ACCESS_HOOK() ((void)0)
#endif

/* A block the head does not own exclusively: may it still access it?
 * Linearizable: the answer held at the load of the slot word.  The slot
 * word is loaded around the second load of the shared byte, and its
 * incarnation (state, creator head and sequence: MHSLD__SLOT_IDENT) changes
 * on every create and retire, so an unchanged ACTIVE incarnation around the
 * byte's load means no other extent could have used the slot meanwhile,
 * and an ACTIVE extent's bytes all name it (written before it turns ACTIVE,
 * cleared only after it turns RETIRING): the block was in that extent, with
 * the head a sharer, at the first slot load.  Only the incarnation is
 * compared: other heads' joins and leaves and the FM's reference change the
 * rest of the word without ending the extent, and a sharer checking while
 * another head joins must still be granted (comparing the whole word
 * refused it: a false denial). */
#define MHSLD__SLOT_IDENT (~0xffffffffull & ~MHSLD__SLOT_FMREF)
static inline bool shared_ok(const mhsld_state *st, uint32_t head, uint64_t b)
{
    uint32_t sb = mhsld__load8(&st->sslot[b]);
    if (!sb || sb > MHSLD_MAX_SHARED)
        return false;
    MHSLD__ACCESS_HOOK();
    const uint64_t *wp = &st->slots[sb - 1].word;
    uint64_t w = mhsld__load64(wp);
    if (mhsld__slot_state(w) != MHSLD__SLOT_ACTIVE || !(mhsld__slot_sharers(w) >> head & 1u))
        return false;
    if (mhsld__load8(&st->sslot[b]) != sb)
        return false;
    MHSLD__ACCESS_HOOK(); /* a second window, if the first hook armed one */
    return ((mhsld__load64(wp) ^ w) & MHSLD__SLOT_IDENT) == 0;
}

/* One look at [dpa, end): false as soon as a block is not accessible (which
 * was true at that block's load: false is always linearizable); *instants
 * counts the loads a true answer rests on (an owned-map word that grants
 * some of the blocks, a shared block). */
static inline bool access_walk(const mhsld_state *st, uint32_t head, uint64_t dpa, uint64_t end,
                               unsigned *instants)
{
    const uint64_t *om = mhsld__owned_map(st, head);
    while (dpa < end) {
        uint32_t i = 0;
        while (i < st->geo.nr_regions && (dpa < st->geo.regions[i].base ||
                                          dpa - st->geo.regions[i].base >= st->geo.regions[i].len))
            i++;
        if (i == st->geo.nr_regions)
            return false;
        const mhsld_region *r = &st->geo.regions[i];
        uint64_t off = dpa - r->base;
        uint64_t last = end - r->base - 1;
        if (last >= r->len)
            last = r->len - 1;
        uint64_t b = st->region_first[i] + (off >> st->block_shift);
        uint64_t b1 = st->region_first[i] + (last >> st->block_shift);
        while (b <= b1) { /* one load of the owned map per 64 blocks */
            uint64_t w = b >> 6;
            uint64_t wl = (w << 6) + 63 < b1 ? (w << 6) + 63 : b1;
            uint64_t want = bits(b & 63, wl - b + 1), own = mhsld__load64(&om[w]);
            uint64_t miss = want & ~own;
            *instants += (want & own) != 0;
            for (; miss; miss &= miss - 1) {
                if (!shared_ok(st, head, (w << 6) + (uint64_t)__builtin_ctzll(miss)))
                    return false;
                (*instants)++;
            }
            b = wl + 1;
        }
        dpa = r->base + last + 1;
    }
    return true;
}

/* Looks that may meet the head taking access away before a range check
 * answers false (the head is then in the middle of releasing, for longer
 * than a check takes; or it died doing so and awaits recovery). */
#define MHSLD__ACCESS_TRIES 65536

/* Linearizable for a range too.  An answer that rests on one load (a range
 * inside one owned-map word that grants it, or one shared block, with the
 * owned-map word granting none of it) holds at that load.  Otherwise each
 * block's answer holds at
 * its own instant; access gained meanwhile is harmless (the range was then
 * accessible at the end), but access lost behind the walk is not, so the
 * walk is bracketed by the head's `revoking` seqlock: even and unchanged
 * means no access of this head was taken away while it looked, and every
 * block seen accessible still was at the second load. */
static inline bool access_ok(const mhsld_state *st, uint32_t head, uint64_t dpa, uint64_t len)
{
    if (len == 0 || dpa + len < dpa)
        return false;
    unsigned instants = 0;
    if (!access_walk(st, head, dpa, dpa + len, &instants))
        return false;
    if (instants == 1)
        return true;
    const uint64_t *rv = &st->heads[head].revoking;
    for (unsigned t = 0; t < MHSLD__ACCESS_TRIES; t++) {
        uint64_t g0 = mhsld__load64(rv);
        if (g0 & 1) {
            mhsld__pause();
            continue;
        }
        if (!access_walk(st, head, dpa, dpa + len, &instants))
            return false;
        if (mhsld__load64(rv) == g0)
            return true;
    }
    return false;
}

/* The full check, kept out of line: mhsld_access_ok's first look then
 * saves no registers and ends in a tail call. */
static __attribute__((noinline)) bool access_ok_head(const mhsld_head *h, uint64_t dpa,
                                                     uint64_t len)
{
    return access_ok(h->st, h->head, dpa, len);
}

bool mhsld_access_ok(const mhsld_head *h, uint64_t dpa, uint64_t len)
{
    if (!h)
        return false;
    /* The header's one-load look first (the walk's first look, without the
     * region search), widened to a range inside one owned-map word: inside
     * region 0 (n < v->len - off rules out len 0 and wrapping), blocks r..r1
     * of the region, whose words are the owned map's (mhsld__view_fill). */
    const mhsld_access_view *v = &h->view;
    uint64_t off = dpa - v->base, n = len - 1;
    if (v->bsize && off < v->len && n < v->len - off) {
        uint64_t r = off >> v->shift, r1 = (off + n) >> v->shift;
        if ((r ^ r1) < 64) {
            uint64_t want = (~0ull >> (63 - (r1 - r))) << (r & 63);
            if ((mhsld__load64(&v->words[r >> 6]) & want) == want)
                return true;
        }
    }
    return access_ok_head(h, dpa, len);
}

bool mhsld_access_check(const mhsld_state *st, uint32_t head, uint64_t dpa, uint64_t len)
{
    return st && head < st->geo.nr_heads && access_ok(st, head, dpa, len);
}

/* ---- recovery of one journal ------------------------------------------- */

mhsld_status mhsld__recover_journal(mhsld_state *st, uint32_t head, uint64_t *last,
                                    mhsld_recover_report *rep)
{
    mhsld__headrec *hr = &st->heads[head];
    /* The journal is read once, validated, and only this copy is used. */
    mhsld__jsnap j;
    mhsld_status s = mhsld__journal_snapshot(st, hr, &j);
    if (s == MHSLD_OK && j.op == MHSLD__OP_IDLE)
        revoke_settle(hr); /* a dead head may have died between a removal and its settle */
    rep->op = j.op;
    if (s != MHSLD_OK)
        return s;
    if (j.op == MHSLD__OP_IDLE)
        return MHSLD_OK;
    if (j.seq > *last)
        *last = j.seq; /* what follows draws sequences after the recovered op's */
    mhsld__op op = {st, head, hr, j.seq};
    uint64_t total = mhsld__count_steps(j.r, j.n);
    uint64_t c = 0;
    /* How many steps of the operation's own phase completed. */
    if (j.op != MHSLD__OP_UNDO) {
        c = mhsld__completed_steps(st, head, hr, j.seq, j.r, j.n, 0);
        if (c > total && j.op != MHSLD__OP_SHARE_NEW && j.op != MHSLD__OP_SHARE_LEAVE)
            return MHSLD_E_JOURNAL;
    }
    switch (j.op) {
    case MHSLD__OP_RESERVE: {
        if (c == total) { /* every claim happened: complete it */
            if (mhsld__load64(&hr->gseq[j.gslot]) != j.seq) {
                mhsld__group_publish(hr, j.gslot, j.r, j.n);
                MHSLD__STEP();
                mhsld__store64(&hr->gseq[j.gslot], j.seq);
            }
            mhsld__journal_end(hr);
            rep->rolled_forward = 1;
            return MHSLD_OK;
        }
        rep->blocks_freed += undo_claims(&op, &j, c);
        rep->rolled_back = 1;
        return MHSLD_OK;
    }
    case MHSLD__OP_CLAIM: {
        if (c == total) { /* every claim happened: complete it (idempotent) */
            stepit it;
            uint64_t w, m;
            stepit_init(&it, j.r, j.n);
            while (stepit_next(&it, &w, &m))
                mhsld__fill(&op, w, m, FILL_OWNED, 0, j.r, j.n);
            mhsld__bump_list_gen(hr);
            mhsld__journal_end(hr);
            rep->rolled_forward = 1;
            return MHSLD_OK;
        }
        rep->blocks_freed += undo_claims(&op, &j, c);
        rep->rolled_back = 1;
        return MHSLD_OK;
    }
    case MHSLD__OP_SHARE_NEW: {
        uint64_t w = mhsld__load64(&st->slots[j.slot].word);
        uint64_t cw = mhsld__slotw(0, MHSLD__SLOT_CREATING, head, j.seq);
        if (mhsld__slot_state(w) == MHSLD__SLOT_ACTIVE && mhsld__slot_head(w) == head &&
            mhsld__slot_seq(w) == (j.seq & 0xffffffull)) {
            mhsld__journal_end(hr); /* completed; list_gen may miss one bump */
            mhsld__bump_list_gen(hr);
            rep->rolled_forward = 1;
            return MHSLD_OK;
        }
        if (w != cw) { /* never got the slot: nothing was claimed */
            mhsld__journal_end(hr);
            rep->rolled_back = 1;
            return MHSLD_OK;
        }
        if (c > total)
            return MHSLD_E_JOURNAL;
        rep->blocks_freed += undo_claims(&op, &j, c);
        rep->rolled_back = 1;
        return MHSLD_OK;
    }
    case MHSLD__OP_UNDO: {
        uint64_t done = mhsld__completed_steps(st, head, hr, j.seq, j.r, j.n, j.undo);
        if (done == MHSLD__STEPS_BAD)
            return MHSLD_E_JOURNAL;
        rep->blocks_freed += undo_resume(&op, &j, done < j.undo ? 0 : done - j.undo);
        rep->rolled_back = 1;
        return MHSLD_OK;
    }
    case MHSLD__OP_COMMIT:
        rep->blocks_freed += commit_run(&op, &j, c);
        rep->rolled_forward = 1;
        return MHSLD_OK;
    case MHSLD__OP_RELEASE:
        rep->blocks_freed += give_back_steps(&op, j.r, j.n, c, total, 0, 0);
        mhsld__bump_list_gen(hr);
        mhsld__journal_end(hr);
        rep->rolled_forward = 1;
        return MHSLD_OK;
    case MHSLD__OP_SHARE_LEAVE: {
        uint64_t w = mhsld__load64(&st->slots[j.slot].word);
        if (w != mhsld__slotw(0, MHSLD__SLOT_RETIRING, head, j.seq)) {
            /* the retiring CAS did not happen (or the slot is already free) */
            if (mhsld__slot_state(w) == MHSLD__SLOT_FREE)
                rep->rolled_forward = 1;
            else
                rep->rolled_back = 1;
            mhsld__journal_end(hr);
            return MHSLD_OK;
        }
        if (c > total)
            return MHSLD_E_JOURNAL;
        rep->blocks_freed += share_retire_run(&op, &j, c);
        rep->rolled_forward = 1;
        return MHSLD_OK;
    }
    default:
        return MHSLD_E_JOURNAL;
    }
}

/* ---- pending reservations ---------------------------------------------- */

mhsld_status mhsld_pending_oldest(const mhsld_head *h, uint64_t *group)
{
    if (!h || !group)
        return MHSLD_E_INVAL;
    uint64_t best = 0;
    for (uint32_t g = 0; g < MHSLD_MAX_PENDING; g++) {
        uint64_t s = mhsld__load64(&h->hr->gseq[g]);
        if (s && (!best || s < best))
            best = s;
    }
    if (!best)
        return MHSLD_E_NO_GROUP;
    *group = best;
    return MHSLD_OK;
}

mhsld_status mhsld_pending_list(const mhsld_head *h, uint64_t *groups, size_t cap, size_t *n)
{
    if (!h || !n || (cap && !groups))
        return MHSLD_E_INVAL;
    uint64_t ids[MHSLD_MAX_PENDING] = {0};
    size_t k = 0;
    for (uint32_t g = 0; g < MHSLD_MAX_PENDING; g++) {
        uint64_t s = mhsld__load64(&h->hr->gseq[g]);
        if (!s)
            continue;
        size_t j = k++; /* insertion by sequence: oldest first */
        while (j > 0 && ids[j - 1] > s) {
            ids[j] = ids[j - 1];
            j--;
        }
        ids[j] = s;
    }
    for (size_t i = 0; i < k && i < cap; i++)
        groups[i] = ids[i];
    *n = k;
    return MHSLD_OK;
}

mhsld_status mhsld_pending_get(const mhsld_head *h, uint64_t group, mhsld_extent *ext, size_t cap,
                               size_t *n)
{
    if (!h || !n || (cap && !ext))
        return MHSLD_E_INVAL;
    int g = mhsld__group_find(h->st, h->hr, group);
    if (g < 0)
        return MHSLD_E_NO_GROUP;
    mhsld__gsnap grp;
    if (mhsld__group_snapshot(h->st, h->hr, (uint32_t)g, &grp) != MHSLD_OK)
        return MHSLD_E_CORRUPT;
    for (uint32_t i = 0; i < grp.n && i < cap; i++) {
        ext[i].dpa = mhsld__block_dpa(h->st, grp.r[i].start);
        ext[i].len = grp.r[i].count << h->st->block_shift;
    }
    *n = grp.n;
    return MHSLD_OK;
}
