/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The fabric-manager queue (mhsld/fm.h): per head, MHSLD_FMQ_SLOTS request
 * slots and a futex doorbell in the shared state (docs/fm-queue.md).
 *
 * Slot states (the slot word, internal.h; every change is one CAS from the
 * value the changer loaded, so a stale or garbled view only makes it fail):
 *
 *   FREE(g) --poster--> CLAIMED(g+1) --poster--> POSTED(g) --head--> TAKEN(g,ep)
 *   TAKEN --head complete--> DONE(g,ep) --poster reads the result once--> FREE(g)
 *   POSTED --poster gives up (timeout, head dead)--> FREE(g)       (withdrawn)
 *   TAKEN --poster gives up--> ABANDONED(g,ep) --head complete--> FREE(g)
 *   TAKEN --poster gives up, head dead--> FREE(g)
 *   notice: POSTED(g,N) --head--> TAKEN(g,N,ep) --head complete--> FREE(g)
 *
 * Who owns a slot.  A poster takes the slot's kernel lock byte
 * (MHSLD__LOCK_FMQ, on an open file description of its own) BEFORE it claims
 * the slot and holds it until it has freed the slot (or withdrawn or
 * abandoned it).  So a slot that is CLAIMED, POSTED (not a notice) or DONE
 * and whose byte nobody holds was left by a dead poster: the next poster
 * (which then holds the byte itself) or the head's take frees it.  A poster
 * also holds the byte of its generation's parity (MHSLD__LOCK_FMQ_POST,
 * taken after the claim, before POSTED, dropped with the slot's byte): take
 * judges a POSTED request's poster by that byte, not the slot's, which a new
 * poster holds while it reclaims a dead poster's slot, so a POSTED request
 * of a dead poster is withdrawn, never executed.  A notice (FORCED with
 * timeout 0) has no poster once POSTED: only the head frees it.
 *
 * Dead heads.  The taker's epoch (low 32 bits) is in the word of a TAKEN,
 * ABANDONED or DONE slot.  A poster waiting on a slot gives up with
 * MHSLD_E_DEAD when the head's liveness lock is free (then it frees even a
 * TAKEN slot: no process of that incarnation can complete it) or when the
 * slot was taken by an incarnation other than the head's current one.  A
 * re-attached head settles its dead incarnation's slots lazily, in take:
 * TAKEN ones are answered MHSLD_E_DEAD (or freed if their poster is gone),
 * ABANDONED ones and notices are freed.
 *
 * Hostile memory.  Every slot word is loaded once per decision and judged by
 * value; the request and result bodies are copied once into private memory
 * (body_in) and validated there; the ticket (posting order) is only
 * a hint for which POSTED slot take prefers; indices never come from the
 * mapping.  Every wait is a futex wait bounded by the caller's timeout, in
 * slices of at most FMQ_SLICE_NS between liveness checks.  A co-tenant can
 * make requests fail (MHSLD_E_CORRUPT, MHSLD_E_TIMEDOUT) or be answered
 * wrongly, not make either side touch memory outside the mapping or block.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "mhsld/mailbox.h"

#define FMQ_SLICE_NS 10000000ull /* at most 10 ms between liveness checks */
#define FMQ_TAKE_ROUNDS 64u      /* scans before take gives up on a flipping queue */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static mhsld__fmq *queue_of(const mhsld_state *st, uint32_t head)
{
    return st->fmq + head;
}

static off_t slot_lock_off(uint32_t head, uint32_t i)
{
    return (off_t)(MHSLD__LOCK_FMQ + (off_t)head * MHSLD_FMQ_SLOTS + i);
}

/* The byte of the poster of generation gen of slot i (internal.h).  Two
 * generations in a row never share it, and the poster of generation g-2
 * dropped it together with the slot's byte before generation g was
 * claimed. */
static off_t post_lock_off(uint32_t head, uint32_t i, uint32_t gen)
{
    return (off_t)(MHSLD__LOCK_FMQ_POST + ((off_t)head * MHSLD_FMQ_SLOTS + i) * 2 + (gen & 1u));
}

/* The futex is the low half of the slot word (little-endian, internal.h). */
static uint32_t *word_futex(uint64_t *w)
{
    return (uint32_t *)(void *)w;
}

static void futex_wake(uint32_t *addr)
{
    (void)syscall(SYS_futex, addr, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* 0 woken (or the value differed), ETIMEDOUT, or another errno. */
static int futex_wait(uint32_t *addr, uint32_t val, uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
    if (syscall(SYS_futex, addr, FUTEX_WAIT, val, &ts, NULL, 0) == 0)
        return 0;
    return errno == EAGAIN || errno == EINTR ? 0 : errno;
}

/* Bodies to and from the mapping, one relaxed 64-bit access per word there.
 * The private side is a struct of 32- and 16-bit fields: it is reached only
 * through memcpy, never through a uint64_t lvalue (mhsld__copy_in/out's),
 * which the compiler may assume does not alias those fields (strict
 * aliasing: at -O2 a field written just before copy_out was sent as its old
 * value). */
static void body_in(void *dst, const void *src, size_t bytes)
{
    unsigned char *d = dst;
    const uint64_t *s = src;
    for (size_t i = 0; i < bytes / 8; i++) {
        uint64_t v = mhsld__load64_relaxed(&s[i]);
        memcpy(d + 8 * i, &v, 8);
    }
}

static void body_out(void *dst, const void *src, size_t bytes)
{
    uint64_t *d = dst;
    const unsigned char *s = src;
    for (size_t i = 0; i < bytes / 8; i++) {
        uint64_t v;
        memcpy(&v, s + 8 * i, 8);
        mhsld__store64_relaxed(&d[i], v);
    }
}

static int opcode_ok(uint16_t op)
{
    return (op >> 8) >= 0x55u && (op >> 8) <= 0x56u && mhsld_mbox_command(op) != NULL;
}

/* Check r (private) and build its normalised copy *out (unused extents,
 * tag and payload bytes zero). */
static mhsld_status req_normalise(const mhsld_state *st, const mhsld_fm_request *r,
                                  mhsld_fm_request *out)
{
    memset(out, 0, sizeof(*out));
    out->kind = r->kind;
    switch (r->kind) {
    case MHSLD_FM_OFFER:
    case MHSLD_FM_RELEASE:
    case MHSLD_FM_FORCED: {
        if (r->n == 0)
            return MHSLD_E_ZERO_LEN;
        if (r->n > MHSLD_FMQ_MAX_EXTENTS)
            return MHSLD_E_TOO_MANY;
        mhsld__bext tmp[MHSLD_FMQ_MAX_EXTENTS];
        uint32_t n = 0;
        mhsld_status s = mhsld__ranges_from_extents(st, r->ext, r->n, tmp, &n);
        if (s != MHSLD_OK)
            return s;
        out->n = r->n;
        memcpy(out->ext, r->ext, (size_t)r->n * sizeof(r->ext[0]));
        if (r->kind != MHSLD_FM_FORCED)
            memcpy(out->tag, r->tag, sizeof(out->tag));
        return MHSLD_OK;
    }
    case MHSLD_FM_MBOX:
        if (r->len > MHSLD_FMQ_PAYLOAD)
            return MHSLD_E_INVAL;
        if (!opcode_ok(r->opcode))
            return MHSLD_E_UNSUPPORTED;
        out->opcode = r->opcode;
        out->len = r->len;
        memcpy(out->payload, r->payload, r->len);
        return MHSLD_OK;
    default:
        return MHSLD_E_INVAL;
    }
}

/* Check a result (private) and build its normalised copy. */
static mhsld_status res_normalise(const mhsld_fm_result *r, mhsld_fm_result *out)
{
    if (r->status >= (uint32_t)MHSLD_E__COUNT || r->len > MHSLD_FMQ_PAYLOAD ||
        r->conflict.state > MHSLD_BLOCK_SHARED)
        return MHSLD_E_CORRUPT;
    memset(out, 0, sizeof(*out));
    out->status = r->status;
    out->cxl_rc = r->cxl_rc;
    out->conflict = r->conflict;
    out->group = r->group;
    out->len = r->len;
    memcpy(out->payload, r->payload, r->len);
    return MHSLD_OK;
}

static int head_alive(const mhsld_state *st, uint32_t head)
{
    return mhsld__head_locked(st->fd, head, NULL) == 1;
}

static uint32_t epoch32(const mhsld_state *st, uint32_t head)
{
    return (uint32_t)mhsld__load64(&st->heads[head].epoch);
}

/* ---- poster --------------------------------------------------------------- */

/* With slot i's lock byte held: make it ours (CLAIMED) if it is free or was
 * left by a dead poster; 0 if it is the head's (a notice, or a request
 * being acted on: then marked ABANDONED for the head to free). */
static int claim_slot(const mhsld_state *st, uint32_t head, mhsld__fmq_slot *sl, uint64_t *claimed)
{
    for (int tries = 0; tries < 4; tries++) {
        uint64_t w = mhsld__load64(&sl->word);
        uint32_t s = mhsld__fmqw_state(w), g = mhsld__fmqw_gen(w);
        uint64_t nw = mhsld__fmqw(MHSLD__FMQ_CLAIMED, 0, g + 1, 0);
        switch (s) {
        case MHSLD__FMQ_FREE:
        case MHSLD__FMQ_CLAIMED: /* a dead poster's */
        case MHSLD__FMQ_DONE:    /* answered; its poster died before reading */
            break;
        case MHSLD__FMQ_POSTED:
            if (mhsld__fmqw_notice(w))
                return 0;
            break; /* a dead poster's request: withdrawn */
        case MHSLD__FMQ_TAKEN:
        case MHSLD__FMQ_ABANDONED:
            /* The head's while the incarnation that took it lives. */
            if (head_alive(st, head) && mhsld__fmqw_epoch(w) == epoch32(st, head)) {
                if (s == MHSLD__FMQ_TAKEN && !mhsld__fmqw_notice(w)) {
                    MHSLD__STEP();
                    (void)mhsld__cas64(
                        &sl->word, w,
                        mhsld__fmqw(MHSLD__FMQ_ABANDONED, 0, g, mhsld__fmqw_epoch(w)));
                }
                return 0;
            }
            break; /* its taker is gone: nobody can complete it */
        default:
            break; /* garbage */
        }
        MHSLD__STEP();
        if (mhsld__cas64(&sl->word, w, nw)) {
            *claimed = nw;
            return 1;
        }
    }
    return 0;
}

/* Give up on our slot (timeout, dead head); *w is its last seen word.
 * 1: done, the slot is withdrawn/abandoned/freed; 0: it changed, look again. */
static int give_up(const mhsld_state *st, uint32_t head, mhsld__fmq_slot *sl, uint64_t w)
{
    uint32_t g = mhsld__fmqw_gen(w);
    if (mhsld__fmqw_state(w) == MHSLD__FMQ_POSTED) {
        MHSLD__STEP();
        return mhsld__cas64(&sl->word, w, mhsld__fmqw(MHSLD__FMQ_FREE, 0, g, 0));
    }
    /* TAKEN: a dead head's process can no longer complete it: free it.
     * A live (or fenced but running) taker frees it when it completes. */
    int dead = !head_alive(st, head);
    MHSLD__STEP();
    return mhsld__cas64(&sl->word, w,
                        dead ? mhsld__fmqw(MHSLD__FMQ_FREE, 0, g, 0)
                             : mhsld__fmqw(MHSLD__FMQ_ABANDONED, 0, g, mhsld__fmqw_epoch(w)));
}

/* Wait for our POSTED slot's answer; the slot is ours (lock byte held). */
static mhsld_status await(mhsld_state *st, uint32_t head, mhsld__fmq_slot *sl, uint64_t posted,
                          uint64_t deadline, mhsld_fm_result *res)
{
    uint32_t g = mhsld__fmqw_gen(posted);
    unsigned failed = 0;
    for (;;) {
        uint64_t w = mhsld__load64(&sl->word);
        uint32_t s = mhsld__fmqw_state(w);
        int ours = mhsld__fmqw_gen(w) == g && !mhsld__fmqw_notice(w);
        if (ours && s == MHSLD__FMQ_DONE) {
            mhsld_fm_result raw, chk;
            body_in(&raw, &sl->res, sizeof(raw)); /* once */
            MHSLD__STEP();
            (void)mhsld__cas64(&sl->word, w, mhsld__fmqw(MHSLD__FMQ_FREE, 0, g, 0));
            if (res_normalise(&raw, &chk) != MHSLD_OK)
                return MHSLD_E_CORRUPT;
            if (chk.status == MHSLD_E_DEAD)
                return MHSLD_E_DEAD; /* answered by the head's next incarnation */
            *res = chk;
            return MHSLD_OK;
        }
        if (!ours || (s != MHSLD__FMQ_POSTED && s != MHSLD__FMQ_TAKEN)) {
            /* Nobody but a co-tenant changes a slot whose byte we hold
             * this way: free it and say so. */
            MHSLD__STEP();
            (void)mhsld__cas64(&sl->word, w, mhsld__fmqw(MHSLD__FMQ_FREE, 0, g + 1, 0));
            return MHSLD_E_CORRUPT;
        }
        mhsld_status why = MHSLD_OK;
        if (!head_alive(st, head) ||
            (s == MHSLD__FMQ_TAKEN && mhsld__fmqw_epoch(w) != epoch32(st, head)))
            why = MHSLD_E_DEAD;
        uint64_t t = now_ns();
        if (why == MHSLD_OK && t >= deadline)
            why = MHSLD_E_TIMEDOUT;
        if (why != MHSLD_OK) {
            /* A word that keeps changing under the give-up (a co-tenant)
             * ends the wait anyway: the caller drops the slot's byte, so
             * the next poster or the head frees it. */
            if (give_up(st, head, sl, w) || ++failed > 16)
                return why;
            continue; /* it changed under us: maybe answered */
        }
        uint64_t left = deadline - t;
        (void)futex_wait(word_futex(&sl->word), (uint32_t)w,
                         left < FMQ_SLICE_NS ? left : FMQ_SLICE_NS);
    }
}

mhsld_status mhsld_fm_submit(mhsld_state *st, uint32_t head, const mhsld_fm_request *req,
                             uint32_t timeout_ms, mhsld_fm_result *res)
{
    if (!st || !req)
        return MHSLD_E_INVAL;
    if (head >= st->geo.nr_heads)
        return MHSLD_E_HEAD;
    int notice = req->kind == MHSLD_FM_FORCED && timeout_ms == 0;
    if (!notice && (timeout_ms == 0 || !res))
        return MHSLD_E_INVAL;
    mhsld_fm_request body;
    mhsld_status s = req_normalise(st, req, &body);
    if (s != MHSLD_OK)
        return s;
    s = mhsld__check_size(st);
    if (s != MHSLD_OK)
        return s;
    uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ull;
    if (!head_alive(st, head))
        return MHSLD_E_DEAD;
    mhsld__lockref lk;
    s = mhsld__lock_fd(st, &lk);
    if (s != MHSLD_OK)
        return s;
    mhsld__fmq *q = queue_of(st, head);
    uint32_t i;
    uint64_t claimed = 0;
    for (i = 0; i < MHSLD_FMQ_SLOTS; i++) {
        int r = mhsld__byte_trylock(lk.fd, slot_lock_off(head, i));
        if (r < 0) {
            mhsld__set_errno(errno);
            mhsld__unlock_head(&lk);
            return MHSLD_E_IO;
        }
        if (r > 0)
            continue; /* a live poster's */
        if (claim_slot(st, head, &q->slot[i], &claimed)) {
            uint32_t cg = mhsld__fmqw_gen(claimed);
            int pr = mhsld__byte_trylock(lk.fd, post_lock_off(head, i, cg));
            if (pr == 0)
                break;
            /* Held by a process outside the engine (a poster drops it with
             * the slot's byte): give the slot back, nothing was posted. */
            MHSLD__STEP();
            (void)mhsld__cas64(&q->slot[i].word, claimed, mhsld__fmqw(MHSLD__FMQ_FREE, 0, cg, 0));
            if (pr < 0) {
                mhsld__set_errno(errno);
                mhsld__unlock_head(&lk);
                return MHSLD_E_IO;
            }
        }
        mhsld__byte_unlock(lk.fd, slot_lock_off(head, i));
    }
    if (i == MHSLD_FMQ_SLOTS) {
        mhsld__unlock_head(&lk);
        return MHSLD_E_NOSPACE;
    }
    mhsld__fmq_slot *sl = &q->slot[i];
    uint32_t g = mhsld__fmqw_gen(claimed);
    MHSLD__STEP();
    body_out(&sl->req, &body, sizeof(body));
    mhsld__store64(&sl->ticket, mhsld__faa64(&q->ticket, 1));
    uint64_t posted = mhsld__fmqw(MHSLD__FMQ_POSTED, (uint32_t)notice, g, 0);
    MHSLD__STEP();
    if (!mhsld__cas64(&sl->word, claimed, posted)) {
        /* A co-tenant wrote our CLAIMED slot: nothing was posted. */
        MHSLD__STEP();
        (void)mhsld__cas64(&sl->word, mhsld__load64(&sl->word),
                           mhsld__fmqw(MHSLD__FMQ_FREE, 0, g + 1, 0));
        mhsld__unlock_head(&lk);
        return MHSLD_E_CORRUPT;
    }
    MHSLD__STEP();
    (void)mhsld__faa32(&q->bell, 1);
    futex_wake(&q->bell);
    if (notice) {
        mhsld__unlock_head(&lk); /* the head frees a notice */
        if (res)
            memset(res, 0, sizeof(*res));
        return MHSLD_OK;
    }
    mhsld_fm_result out;
    s = await(st, head, sl, posted, deadline, &out);
    mhsld__unlock_head(&lk);
    if (s == MHSLD_OK)
        *res = out;
    return s;
}

/* ---- server (the head's own handle) --------------------------------------- */

static mhsld_status server_ready(const mhsld_head *h)
{
    if (!h)
        return MHSLD_E_INVAL;
    /* A fenced handle (forked child, newer incarnation) points at a
     * stand-in without queues: refused here, before any table is read. */
    if (mhsld__load64(&h->hr->epoch) != h->epoch || !h->st->fmq)
        return MHSLD_E_STALE;
    return MHSLD_OK;
}

mhsld_status mhsld_fm_wait(mhsld_head *h, uint32_t timeout_ms)
{
    mhsld_status s = server_ready(h);
    if (s != MHSLD_OK)
        return s;
    s = mhsld__check_size(h->st);
    if (s != MHSLD_OK)
        return s;
    mhsld__fmq *q = queue_of(h->st, h->head);
    /* The kick flag before the bell: a kick after this exchange moves the
     * bell after we read it, so the futex wait returns at once. */
    if (__atomic_exchange_n(&h->fmq_kick, 0, __ATOMIC_SEQ_CST))
        return MHSLD_OK;
    uint32_t bell = mhsld__load32(&q->bell);
    for (uint32_t i = 0; i < MHSLD_FMQ_SLOTS; i++)
        if (mhsld__fmqw_state(mhsld__load64(&q->slot[i].word)) == MHSLD__FMQ_POSTED)
            return MHSLD_OK;
    if (timeout_ms == 0)
        return MHSLD_E_TIMEDOUT;
    int e = futex_wait(&q->bell, bell, (uint64_t)timeout_ms * 1000000ull);
    if (e == ETIMEDOUT)
        return MHSLD_E_TIMEDOUT;
    return MHSLD_OK; /* woken, the bell moved, a signal, or a spurious return */
}

void mhsld_fm_kick(mhsld_head *h)
{
    if (!h)
        return;
    __atomic_store_n(&h->fmq_kick, 1, __ATOMIC_SEQ_CST);
    if (!h->st->fmq)
        return; /* fenced: its waits are refused anyway */
    mhsld__fmq *q = queue_of(h->st, h->head);
    (void)mhsld__faa32(&q->bell, 1);
    futex_wake(&q->bell);
}

/* Answer the TAKEN slot i (word tw) with *res (normalised) and wake its
 * poster; an ABANDONED slot or a notice is freed instead. */
static void answer(mhsld__fmq_slot *sl, uint64_t tw, const mhsld_fm_result *res)
{
    uint32_t g = mhsld__fmqw_gen(tw), ep = mhsld__fmqw_epoch(tw);
    uint64_t freew = mhsld__fmqw(MHSLD__FMQ_FREE, 0, g, 0);
    if (mhsld__fmqw_notice(tw)) {
        MHSLD__STEP();
        (void)mhsld__cas64(&sl->word, tw, freew);
        return;
    }
    MHSLD__STEP();
    body_out(&sl->res, res, sizeof(*res));
    MHSLD__STEP();
    if (mhsld__cas64(&sl->word, tw, mhsld__fmqw(MHSLD__FMQ_DONE, 0, g, ep))) {
        futex_wake(word_futex(&sl->word));
        return;
    }
    /* The poster gave up while we acted: free it (if it is still ours). */
    MHSLD__STEP();
    (void)mhsld__cas64(&sl->word, mhsld__fmqw(MHSLD__FMQ_ABANDONED, 0, g, ep), freew);
}

/* A slot seen by take that is not POSTED: settle it if whoever owned it is
 * gone (the byte test uses the state's descriptor, which holds no lock). */
static void settle(mhsld_head *h, mhsld__fmq_slot *sl, uint32_t i, uint64_t w)
{
    uint32_t s = mhsld__fmqw_state(w), g = mhsld__fmqw_gen(w);
    uint32_t my = (uint32_t)h->epoch;
    uint64_t freew = mhsld__fmqw(MHSLD__FMQ_FREE, 0, g, 0);
    if (s == MHSLD__FMQ_FREE || s == MHSLD__FMQ_POSTED)
        return; /* POSTED: take's business */
    if ((s == MHSLD__FMQ_TAKEN || s == MHSLD__FMQ_ABANDONED) && mhsld__fmqw_epoch(w) == my)
        return; /* ours: complete settles it */
    int poster_gone = mhsld__byte_held(h->st->fd, slot_lock_off(h->head, i)) == 0;
    switch (s) {
    case MHSLD__FMQ_TAKEN:
    case MHSLD__FMQ_ABANDONED:
        if (s == MHSLD__FMQ_TAKEN && !mhsld__fmqw_notice(w) && !poster_gone) {
            /* Taken by our dead incarnation, its poster still waits. */
            mhsld_fm_result r;
            memset(&r, 0, sizeof(r));
            r.status = MHSLD_E_DEAD;
            answer(sl, w, &r);
            return;
        }
        MHSLD__STEP();
        (void)mhsld__cas64(&sl->word, w, freew);
        return;
    default: /* CLAIMED, DONE, garbage: the poster's until it dies */
        if (poster_gone) {
            MHSLD__STEP();
            (void)mhsld__cas64(&sl->word, w, freew);
        }
        return;
    }
}

mhsld_status mhsld_fm_take(mhsld_head *h, uint32_t *slot, mhsld_fm_request *req)
{
    if (!slot || !req)
        return MHSLD_E_INVAL;
    mhsld_status s = server_ready(h);
    if (s != MHSLD_OK)
        return s;
    s = mhsld__check_size(h->st);
    if (s != MHSLD_OK)
        return s;
    mhsld__fmq *q = queue_of(h->st, h->head);
    uint32_t my = (uint32_t)h->epoch;
    for (uint32_t round = 0; round < FMQ_TAKE_ROUNDS; round++) {
        uint32_t best = MHSLD_FMQ_SLOTS;
        uint64_t bw = 0, bt = 0;
        for (uint32_t i = 0; i < MHSLD_FMQ_SLOTS; i++) {
            if (__atomic_load_n(&h->fmq_taken[i], __ATOMIC_ACQUIRE))
                continue; /* taken by this handle, not completed yet */
            uint64_t w = mhsld__load64(&q->slot[i].word);
            if (mhsld__fmqw_state(w) != MHSLD__FMQ_POSTED) {
                settle(h, &q->slot[i], i, w);
                continue;
            }
            uint64_t t = mhsld__load64_relaxed(&q->slot[i].ticket);
            if (best == MHSLD_FMQ_SLOTS || (int64_t)(t - bt) < 0) {
                best = i;
                bw = w;
                bt = t;
            }
        }
        if (best == MHSLD_FMQ_SLOTS)
            return MHSLD_E_NOENT;
        mhsld__fmq_slot *sl = &q->slot[best];
        uint32_t g = mhsld__fmqw_gen(bw), notice = mhsld__fmqw_notice(bw);
        if (!notice && mhsld__byte_held(h->st->fd, post_lock_off(h->head, best, g)) == 0) {
            /* Its poster died: withdrawn, never executed.  (Not the slot's
             * byte: a new poster reclaiming the slot holds that one.) */
            MHSLD__STEP();
            (void)mhsld__cas64(&sl->word, bw, mhsld__fmqw(MHSLD__FMQ_FREE, 0, g, 0));
            continue;
        }
        uint64_t tw = mhsld__fmqw(MHSLD__FMQ_TAKEN, notice, g, my);
        MHSLD__STEP();
        if (!mhsld__cas64(&sl->word, bw, tw))
            continue;
        mhsld_fm_request raw;
        body_in(&raw, &sl->req, sizeof(raw)); /* once */
        if (req_normalise(h->st, &raw, req) != MHSLD_OK ||
            (notice && raw.kind != MHSLD_FM_FORCED)) {
            mhsld_fm_result r;
            memset(&r, 0, sizeof(r));
            r.status = MHSLD_E_CORRUPT;
            answer(sl, tw, &r);
            continue;
        }
        __atomic_store_n(&h->fmq_taken[best], g + 1, __ATOMIC_RELEASE);
        *slot = best;
        return MHSLD_OK;
    }
    return MHSLD_E_NOENT; /* the queue kept changing under us (a co-tenant) */
}

mhsld_status mhsld_fm_complete(mhsld_head *h, uint32_t slot, const mhsld_fm_result *res)
{
    if (!res || slot >= MHSLD_FMQ_SLOTS)
        return MHSLD_E_INVAL;
    mhsld_status s = server_ready(h);
    if (s != MHSLD_OK)
        return s;
    mhsld_fm_result out;
    if (res_normalise(res, &out) != MHSLD_OK)
        return MHSLD_E_INVAL;
    s = mhsld__check_size(h->st);
    if (s != MHSLD_OK)
        return s;
    uint32_t tg = __atomic_exchange_n(&h->fmq_taken[slot], 0, __ATOMIC_ACQ_REL);
    if (!tg)
        return MHSLD_E_INVAL;
    uint32_t g = tg - 1;
    mhsld__fmq_slot *sl = &queue_of(h->st, h->head)->slot[slot];
    uint64_t w = mhsld__load64(&sl->word);
    uint32_t my = (uint32_t)h->epoch;
    if (mhsld__fmqw_gen(w) != g || mhsld__fmqw_epoch(w) != my)
        return MHSLD_OK; /* withdrawn under us (its poster or taker was judged gone) */
    if (mhsld__fmqw_state(w) == MHSLD__FMQ_ABANDONED) {
        MHSLD__STEP();
        (void)mhsld__cas64(&sl->word, w, mhsld__fmqw(MHSLD__FMQ_FREE, 0, g, 0));
        return MHSLD_OK;
    }
    if (mhsld__fmqw_state(w) == MHSLD__FMQ_TAKEN)
        answer(sl, w, &out);
    return MHSLD_OK;
}

/* ---- validation (validate.c) ----------------------------------------------- */

mhsld_status mhsld__fmq_check(const mhsld_state *st, uint32_t head, char *msg, size_t len)
{
    const mhsld__fmq *q = queue_of(st, head);
    for (uint32_t i = 0; i < MHSLD_FMQ_SLOTS; i++) {
        const mhsld__fmq_slot *sl = &q->slot[i];
        uint64_t w = mhsld__load64(&sl->word);
        uint32_t s = mhsld__fmqw_state(w);
        const char *bad = NULL;
        if (s > MHSLD__FMQ_ABANDONED)
            bad = "an unknown state";
        else if (mhsld__fmqw_notice(w) && s != MHSLD__FMQ_POSTED && s != MHSLD__FMQ_TAKEN)
            bad = "the notice flag in a state without a request";
        else if (s == MHSLD__FMQ_FREE && (w >> 32) != 0)
            bad = "a taker's epoch while free";
        if (!bad && (s == MHSLD__FMQ_POSTED || s == MHSLD__FMQ_TAKEN)) {
            mhsld_fm_request raw, chk;
            body_in(&raw, &sl->req, sizeof(raw));
            if (req_normalise(st, &raw, &chk) != MHSLD_OK)
                bad = "a malformed request";
            else if (mhsld__fmqw_notice(w) && raw.kind != MHSLD_FM_FORCED)
                bad = "a notice that is not a forced release";
        }
        if (!bad && s == MHSLD__FMQ_DONE) {
            mhsld_fm_result raw, chk;
            body_in(&raw, &sl->res, sizeof(raw));
            if (res_normalise(&raw, &chk) != MHSLD_OK)
                bad = "a malformed result";
        }
        if (bad) {
            if (msg && len)
                snprintf(msg, len, "head %u FM queue slot %u (word 0x%016llx) holds %s", head, i,
                         (unsigned long long)w, bad);
            return MHSLD_E_CORRUPT;
        }
    }
    return MHSLD_OK;
}
