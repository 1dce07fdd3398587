/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_fmq: the fabric-manager queue (mhsld/fm.h) against a reference model,
 * with a co-tenant writing the queue between and during calls.
 *
 * One process, one thread: head 0 is attached here and serves its queue
 * either directly (take, complete, wait) or from the crash-point hook inside
 * a poster's submit, at the doorbell step (the request is POSTED then), so
 * that a whole round trip runs inside one submit.  The input is a program:
 *   notice    submit a FORCED notice (timeout 0) with input extents
 *   served    submit an OFFER/RELEASE/MBOX that the hook serves: it drains
 *             the queue oldest first and answers the request from its body
 *   unserved  submit a request nobody serves (timeout 1-3 ms)
 *   take      take the oldest posted request (kept until completed)
 *   complete  complete a kept one, or a slot that was not taken
 *   wait      mhsld_fm_wait with timeout 0 or 1 ms
 *   kill      detach head 0 (its process "dies") / attach it again
 *   write     the co-tenant writes an input value at an input offset of the
 *             queue region (slot words, tickets, bodies, results, doorbell),
 *             now or at an input step of the next submit or take
 *   scrub     complete what is kept, zero the queue (the model is exact again)
 *   validate  mhsld_validate
 *
 * Model (exact while no co-tenant write happened since the last scrub): the
 * posted notices in posting order, the taken ones, head 0 alive or not.
 * Predicted: every status (NOSPACE when posted + taken fill the queue, DEAD
 * when the head is detached, the precise refusal class of a malformed
 * request), the notice take returns (the oldest, byte for byte), the answer
 * a served request gets.  After co-tenant writes: only a defined status from
 * the documented set, well-formed requests from take, bounded time, no
 * sanitizer report; validate says OK or CORRUPT.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "fuzz_data_producer.h"
#include "fuzz_helpers.h"
#include "fuzz_statefile.h"
#include "internal.h"
#include "mhsld/fm.h"
#include "mhsld/mailbox.h"
#include "mhsld/mhsld.h"
#include "mhsld/testing.h"

#define BS (2ull << 20)
#define NBLK 32u
#define MAX_OPS 64u
#define CALL_MS 3000u /* no call may take longer (the longest timeout used is 3 ms) */

typedef struct model {
    int exact; /* no co-tenant write since the last scrub */
    int alive;
    uint32_t nposted;
    mhsld_fm_request posted[MHSLD_FMQ_SLOTS]; /* notices, oldest first */
    uint32_t ntaken;
    uint32_t taken_slot[MHSLD_FMQ_SLOTS];
} model;

typedef struct prog {
    mhsld_state *st;
    mhsld_head *h;
    uint8_t *ct;    /* the co-tenant's mapping */
    mhsld__fmq *cq; /* head 0's queue in it */
    model m;
    /* the hook's server (served submits) */
    int served_ours;
    mhsld_fm_request ours;
    /* a pending co-tenant write, at a step of the next call */
    uint64_t wr_off, wr_val;
    uint32_t wr_len;
} prog;

static uint64_t ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- requests ------------------------------------------------------------- */

/* The reference's idea of a well-formed request (independent of fmq.c). */
static int well_formed(const mhsld_fm_request *r)
{
    if (r->kind == MHSLD_FM_MBOX)
        return r->len <= MHSLD_FMQ_PAYLOAD && (r->opcode >> 8) >= 0x55 &&
               (r->opcode >> 8) <= 0x56 && mhsld_mbox_command(r->opcode) != NULL;
    if (r->kind < MHSLD_FM_OFFER || r->kind > MHSLD_FM_FORCED)
        return 0;
    if (r->n == 0 || r->n > MHSLD_FMQ_MAX_EXTENTS)
        return 0;
    for (uint32_t i = 0; i < r->n; i++) {
        uint64_t d = r->ext[i].dpa, l = r->ext[i].len;
        if (!l || (d | l) % BS || d >= NBLK * BS || l > NBLK * BS - d)
            return 0;
        for (uint32_t j = 0; j < i; j++)
            if (d < r->ext[j].dpa + r->ext[j].len && r->ext[j].dpa < d + l)
                return 0;
    }
    return 1;
}

static void gen_request(fuzz_dp *dp, uint32_t kind, mhsld_fm_request *r)
{
    memset(r, 0, sizeof(*r));
    r->kind = kind;
    if (fuzz_dp_range(dp, 0, 15) == 0) {
        r->kind = fuzz_dp_u32(dp) % 6; /* any kind, mostly a wrong one */
        if ((r->kind == MHSLD_FM_FORCED) != (kind == MHSLD_FM_FORCED))
            r->kind = 0;
    }
    if (kind == MHSLD_FM_MBOX) {
        static const uint16_t ops[] = {0x5500, 0x5501, 0x5600, 0x5601, 0x5602,
                                       0x5603, 0x5604, 0x5605, 0x4800, 0x56ff};
        r->opcode = ops[fuzz_dp_range(dp, 0, 9)];
        r->len = fuzz_dp_range(dp, 0, 40);
        if (fuzz_dp_range(dp, 0, 15) == 0)
            r->len = MHSLD_FMQ_PAYLOAD + fuzz_dp_range(dp, 0, 2) - 1;
        for (uint32_t i = 0; i < r->len && i < 40; i++)
            r->payload[i] = fuzz_dp_u8(dp);
        return;
    }
    r->n = fuzz_dp_range(dp, 0, 4);
    if (fuzz_dp_range(dp, 0, 31) == 0)
        r->n = MHSLD_FMQ_MAX_EXTENTS + fuzz_dp_range(dp, 0, 1);
    for (uint32_t i = 0; i < r->n && i < MHSLD_FMQ_MAX_EXTENTS; i++) {
        uint32_t b = fuzz_dp_range(dp, 0, NBLK + 1), c = fuzz_dp_range(dp, 0, 4);
        r->ext[i].dpa = (uint64_t)b * BS;
        r->ext[i].len = (uint64_t)c * BS;
        if (fuzz_dp_range(dp, 0, 15) == 0)
            r->ext[i].dpa += 4096;
    }
    if (kind != MHSLD_FM_FORCED)
        for (uint32_t i = 0; i < MHSLD_TAG_SIZE; i++)
            r->tag[i] = fuzz_dp_u8(dp);
}

/* The answer the hook's head gives: derived from the request's body. */
static mhsld_fm_result answer_for(const mhsld_fm_request *r)
{
    mhsld_fm_result a;
    memset(&a, 0, sizeof(a));
    a.status = r->kind == MHSLD_FM_OFFER ? MHSLD_OK : MHSLD_E_CONFLICT;
    a.cxl_rc = r->kind;
    a.group = r->n ? r->ext[0].dpa ^ r->ext[r->n - 1].len : r->len;
    a.len = r->len;
    for (uint32_t i = 0; i < r->len; i++)
        a.payload[i] = (uint8_t)(r->payload[i] + 1);
    return a;
}

static int taken_ok(const mhsld_fm_request *r)
{
    /* what take hands out is always well-formed by fmq.c's rules */
    return r->kind >= MHSLD_FM_OFFER && r->kind <= MHSLD_FM_FORCED &&
           r->n <= MHSLD_FMQ_MAX_EXTENTS && r->len <= MHSLD_FMQ_PAYLOAD && well_formed(r);
}

/* ---- the co-tenant --------------------------------------------------------- */

static void ct_write(prog *p, uint64_t off, uint64_t val, uint32_t len)
{
    size_t qlen = sizeof(mhsld__fmq);
    off %= qlen;
    off &= ~(uint64_t)(len - 1);
    uint8_t *at = (uint8_t *)p->cq + off;
    if (len == 8)
        __atomic_store_n((uint64_t *)(void *)at, val, __ATOMIC_RELAXED);
    else
        __atomic_store_n((uint32_t *)(void *)at, (uint32_t)val, __ATOMIC_RELAXED);
    p->m.exact = 0;
    fuzz_trace("  co-tenant: queue+%llu = 0x%llx (%u bytes)", (unsigned long long)off,
               (unsigned long long)val, len);
}

static prog *hook_prog;

static void ct_hook(void *arg)
{
    prog *p = arg;
    ct_write(p, p->wr_off, p->wr_val, p->wr_len);
}

/* A co-tenant value: a plausible slot word most of the time. */
static uint64_t ct_value(fuzz_dp *dp, prog *p)
{
    uint64_t v = fuzz_dp_u64(dp);
    switch (fuzz_dp_range(dp, 0, 3)) {
    case 0:
        return mhsld__fmqw(fuzz_dp_range(dp, 0, 7), fuzz_dp_bool(dp), (uint32_t)v,
                           fuzz_dp_bool(dp) && p->h ? (uint32_t)p->h->epoch : (uint32_t)(v >> 32));
    case 1:
        return v & 0xffff;
    default:
        return v;
    }
}

/* ---- served submits ---------------------------------------------------------- */

static void check_notice_taken(prog *p, const mhsld_fm_request *got)
{
    if (!p->m.exact)
        return;
    FUZZ_ASSERT_MSG(p->m.nposted > 0, "take returned a notice the model does not have");
    FUZZ_ASSERT_MSG(memcmp(got, &p->m.posted[0], sizeof(*got)) == 0,
                    "take returned another request than the oldest notice");
    memmove(&p->m.posted[0], &p->m.posted[1], (p->m.nposted - 1) * sizeof(p->m.posted[0]));
    p->m.nposted--;
}

static void serve_hook(void *arg)
{
    prog *p = arg;
    for (unsigned n = 0; n < 2 * MHSLD_FMQ_SLOTS; n++) {
        uint32_t slot;
        mhsld_fm_request got;
        mhsld_status s = mhsld_fm_take(p->h, &slot, &got);
        FUZZ_ASSERT_MSG(s == MHSLD_OK || s == MHSLD_E_NOENT || s == MHSLD_E_STALE,
                        "take in hook: %s", mhsld_status_name(s));
        if (s != MHSLD_OK)
            return;
        FUZZ_ASSERT(taken_ok(&got));
        if (got.kind == MHSLD_FM_FORCED) {
            check_notice_taken(p, &got);
        } else {
            if (p->m.exact)
                FUZZ_ASSERT_MSG(memcmp(&got, &p->ours, sizeof(got)) == 0,
                                "the head got another request than the one posted");
            p->served_ours++;
        }
        mhsld_fm_result a = answer_for(&got);
        FUZZ_ASSERT(mhsld_fm_complete(p->h, slot, &a) == MHSLD_OK);
    }
}

/* ---- the program ------------------------------------------------------------- */

static int is_refusal(mhsld_status s)
{
    return s == MHSLD_E_INVAL || s == MHSLD_E_ZERO_LEN || s == MHSLD_E_TOO_MANY ||
           s == MHSLD_E_ALIGN || s == MHSLD_E_RANGE || s == MHSLD_E_OVERLAP ||
           s == MHSLD_E_UNSUPPORTED;
}

static uint32_t occupied(const model *m)
{
    return m->nposted + m->ntaken;
}

/* Arm the hook for the next call: a co-tenant write at step k (0: none), or
 * the server at the doorbell step (serve). */
static void arm(prog *p, uint64_t k, int serve)
{
    hook_prog = p;
    if (k && !serve)
        mhsld_test_crash_at(k, ct_hook, p);
    else if (serve)
        mhsld_test_crash_at(4, serve_hook, p);
    else
        mhsld_test_crash_at(0, NULL, NULL);
}

static int step(prog *p, fuzz_dp *dp, uint32_t n)
{
    if (fuzz_dp_empty(dp))
        return 0;
    uint32_t op = fuzz_dp_range(dp, 0, 11);
    uint64_t t0 = ms_now();
    model *m = &p->m;
    switch (op) {
    case 0:
    case 1: { /* notice */
        mhsld_fm_request r;
        gen_request(dp, MHSLD_FM_FORCED, &r);
        uint64_t k = fuzz_dp_range(dp, 0, 3) == 0 ? fuzz_dp_range(dp, 1, 5) : 0;
        if (k) {
            p->wr_off = fuzz_dp_u32(dp);
            p->wr_val = ct_value(dp, p);
            p->wr_len = fuzz_dp_bool(dp) ? 8 : 4;
        }
        int wf = well_formed(&r) && r.kind == MHSLD_FM_FORCED;
        arm(p, k, 0);
        mhsld_status s = mhsld_fm_submit(p->st, 0, &r, 0, NULL);
        mhsld_test_crash_at(0, NULL, NULL);
        fuzz_trace("%u notice n=%u kind=%u -> %s", n, r.n, r.kind, mhsld_status_name(s));
        if (m->exact) {
            mhsld_status want = !wf                              ? MHSLD_E_INVAL
                                : !m->alive                      ? MHSLD_E_DEAD
                                : occupied(m) == MHSLD_FMQ_SLOTS ? MHSLD_E_NOSPACE
                                                                 : MHSLD_OK;
            FUZZ_ASSERT_MSG(want == MHSLD_E_INVAL ? is_refusal(s) : s == want,
                            "notice: %s, model says %s", mhsld_status_name(s),
                            mhsld_status_name(want));
        }
        if (s == MHSLD_OK && m->nposted < MHSLD_FMQ_SLOTS) {
            mhsld_fm_request norm = r; /* what take hands back: the tag is dropped */
            memset(norm.tag, 0, sizeof(norm.tag));
            m->posted[m->nposted++] = norm;
        }
        FUZZ_ASSERT(s == MHSLD_OK || s == MHSLD_E_DEAD || s == MHSLD_E_NOSPACE ||
                    s == MHSLD_E_CORRUPT || is_refusal(s));
        break;
    }
    case 2:
    case 3:
    case 4: { /* served request */
        static const uint32_t kinds[] = {MHSLD_FM_OFFER, MHSLD_FM_RELEASE, MHSLD_FM_MBOX};
        mhsld_fm_request r;
        gen_request(dp, kinds[fuzz_dp_range(dp, 0, 2)], &r);
        int wf = well_formed(&r);
        p->ours = r;
        if (r.kind == MHSLD_FM_MBOX) { /* normalised: no extents, no tag */
            memset(p->ours.ext, 0, sizeof(p->ours.ext));
            p->ours.n = 0;
        } else {
            memset(p->ours.payload, 0, sizeof(p->ours.payload));
            p->ours.len = 0;
            p->ours.opcode = 0;
        }
        p->served_ours = 0;
        uint32_t before = m->nposted;
        arm(p, 0, 1);
        mhsld_fm_result res;
        mhsld_status s = mhsld_fm_submit(p->st, 0, &r, 20, &res);
        mhsld_test_crash_at(0, NULL, NULL);
        fuzz_trace("%u served kind=%u n=%u len=%u -> %s (served %d, %u notices drained)", n, r.kind,
                   r.n, r.len, mhsld_status_name(s), p->served_ours, before - m->nposted);
        if (m->exact) {
            mhsld_status want = !wf                              ? MHSLD_E_INVAL
                                : !m->alive                      ? MHSLD_E_DEAD
                                : occupied(m) == MHSLD_FMQ_SLOTS ? MHSLD_E_NOSPACE
                                                                 : MHSLD_OK;
            FUZZ_ASSERT_MSG(want == MHSLD_E_INVAL ? is_refusal(s) : s == want,
                            "served: %s, model says %s", mhsld_status_name(s),
                            mhsld_status_name(want));
            if (s == MHSLD_OK) {
                mhsld_fm_result a = answer_for(&p->ours);
                FUZZ_ASSERT(p->served_ours == 1);
                FUZZ_ASSERT_MSG(res.status == a.status && res.group == a.group &&
                                    res.cxl_rc == a.cxl_rc && res.len == a.len &&
                                    memcmp(res.payload, a.payload, a.len) == 0,
                                "the poster got another answer than its own");
                FUZZ_ASSERT(m->nposted == 0); /* the hook drained the older notices */
            }
        }
        FUZZ_ASSERT(s == MHSLD_OK || s == MHSLD_E_DEAD || s == MHSLD_E_NOSPACE ||
                    s == MHSLD_E_CORRUPT || s == MHSLD_E_TIMEDOUT || is_refusal(s));
        if (s == MHSLD_OK)
            FUZZ_ASSERT(res.status < MHSLD_E__COUNT && res.len <= MHSLD_FMQ_PAYLOAD);
        break;
    }
    case 5: { /* unserved request: times out, withdrawn */
        mhsld_fm_request r;
        gen_request(dp, MHSLD_FM_OFFER, &r);
        uint64_t k = fuzz_dp_range(dp, 0, 3) == 0 ? fuzz_dp_range(dp, 1, 6) : 0;
        if (k) {
            p->wr_off = fuzz_dp_u32(dp);
            p->wr_val = ct_value(dp, p);
            p->wr_len = fuzz_dp_bool(dp) ? 8 : 4;
        }
        int wf = well_formed(&r);
        arm(p, k, 0);
        mhsld_fm_result res;
        mhsld_status s = mhsld_fm_submit(p->st, 0, &r, fuzz_dp_range(dp, 1, 3), &res);
        mhsld_test_crash_at(0, NULL, NULL);
        fuzz_trace("%u unserved n=%u -> %s", n, r.n, mhsld_status_name(s));
        if (m->exact) {
            mhsld_status want = !wf                              ? MHSLD_E_INVAL
                                : !m->alive                      ? MHSLD_E_DEAD
                                : occupied(m) == MHSLD_FMQ_SLOTS ? MHSLD_E_NOSPACE
                                                                 : MHSLD_E_TIMEDOUT;
            FUZZ_ASSERT_MSG(want == MHSLD_E_INVAL ? is_refusal(s) : s == want,
                            "unserved: %s, model says %s", mhsld_status_name(s),
                            mhsld_status_name(want));
        }
        FUZZ_ASSERT(s == MHSLD_OK || s == MHSLD_E_DEAD || s == MHSLD_E_NOSPACE ||
                    s == MHSLD_E_CORRUPT || s == MHSLD_E_TIMEDOUT || is_refusal(s));
        break;
    }
    case 6: { /* take */
        if (!p->h)
            break;
        uint64_t k = fuzz_dp_range(dp, 0, 3) == 0 ? fuzz_dp_range(dp, 1, 4) : 0;
        if (k) {
            p->wr_off = fuzz_dp_u32(dp);
            p->wr_val = ct_value(dp, p);
            p->wr_len = fuzz_dp_bool(dp) ? 8 : 4;
        }
        arm(p, k, 0);
        uint32_t slot = 0;
        mhsld_fm_request got;
        mhsld_status s = mhsld_fm_take(p->h, &slot, &got);
        mhsld_test_crash_at(0, NULL, NULL);
        fuzz_trace("%u take -> %s slot %u", n, mhsld_status_name(s), slot);
        FUZZ_ASSERT(s == MHSLD_OK || s == MHSLD_E_NOENT);
        if (m->exact && !k)
            FUZZ_ASSERT_MSG((s == MHSLD_OK) == (m->nposted > 0), "take: %s with %u posted",
                            mhsld_status_name(s), m->nposted);
        if (s == MHSLD_OK) {
            FUZZ_ASSERT(taken_ok(&got) && slot < MHSLD_FMQ_SLOTS);
            if (m->exact && got.kind == MHSLD_FM_FORCED)
                check_notice_taken(p, &got);
            FUZZ_ASSERT(m->ntaken < MHSLD_FMQ_SLOTS);
            m->taken_slot[m->ntaken++] = slot;
        }
        break;
    }
    case 7: { /* complete */
        if (!p->h)
            break;
        mhsld_fm_result a;
        memset(&a, 0, sizeof(a));
        a.status = fuzz_dp_range(dp, 0, MHSLD_E__COUNT);
        a.len = fuzz_dp_range(dp, 0, 8) == 0 ? MHSLD_FMQ_PAYLOAD + 1 : fuzz_dp_range(dp, 0, 16);
        int good = a.status < MHSLD_E__COUNT && a.len <= MHSLD_FMQ_PAYLOAD;
        if (m->ntaken && fuzz_dp_range(dp, 0, 3)) {
            uint32_t i = fuzz_dp_range(dp, 0, m->ntaken - 1);
            mhsld_status s = mhsld_fm_complete(p->h, m->taken_slot[i], &a);
            fuzz_trace("%u complete slot %u -> %s", n, m->taken_slot[i], mhsld_status_name(s));
            FUZZ_ASSERT_MSG(s == (good ? MHSLD_OK : MHSLD_E_INVAL), "complete: %s",
                            mhsld_status_name(s));
            if (good)
                m->taken_slot[i] = m->taken_slot[--m->ntaken];
        } else {
            uint32_t slot = fuzz_dp_range(dp, 0, MHSLD_FMQ_SLOTS + 1);
            int held = 0;
            for (uint32_t i = 0; i < m->ntaken; i++)
                held |= m->taken_slot[i] == slot;
            if (!held) {
                mhsld_status s = mhsld_fm_complete(p->h, slot, &a);
                fuzz_trace("%u complete untaken slot %u -> %s", n, slot, mhsld_status_name(s));
                FUZZ_ASSERT(s == MHSLD_E_INVAL);
            }
        }
        break;
    }
    case 8: { /* wait */
        if (!p->h)
            break;
        uint32_t t = fuzz_dp_range(dp, 0, 1);
        mhsld_status s = mhsld_fm_wait(p->h, t);
        fuzz_trace("%u wait %u -> %s", n, t, mhsld_status_name(s));
        FUZZ_ASSERT(s == MHSLD_OK || s == MHSLD_E_TIMEDOUT);
        if (m->exact && t == 0)
            FUZZ_ASSERT((s == MHSLD_OK) == (m->nposted > 0));
        break;
    }
    case 9: /* the head's process dies / a new incarnation attaches */
        if (p->h) {
            mhsld_detach(p->h);
            p->h = NULL;
            m->alive = 0;
            m->ntaken = 0; /* its taken notices: freed by the next poster or take */
            fuzz_trace("%u head 0 dies", n);
        } else {
            FUZZ_ASSERT(mhsld_attach(p->st, 0, MHSLD_ATTACH_KEEP, &p->h) == MHSLD_OK);
            m->alive = 1;
            fuzz_trace("%u head 0 attached again", n);
        }
        break;
    case 10: /* the co-tenant writes now */
        ct_write(p, fuzz_dp_u32(dp), ct_value(dp, p), fuzz_dp_bool(dp) ? 8 : 4);
        break;
    default: { /* scrub or validate */
        if (fuzz_dp_bool(dp)) {
            char msg[256];
            mhsld_status s = mhsld_validate(p->st, msg, sizeof(msg));
            fuzz_trace("%u validate -> %s %s", n, mhsld_status_name(s), msg);
            FUZZ_ASSERT_MSG(s == MHSLD_OK || (!m->exact && s == MHSLD_E_CORRUPT),
                            "validate: %s: %s", mhsld_status_name(s), msg);
            break;
        }
        if (p->h) {
            mhsld_fm_result a;
            memset(&a, 0, sizeof(a));
            for (uint32_t i = 0; i < m->ntaken; i++)
                FUZZ_ASSERT(mhsld_fm_complete(p->h, m->taken_slot[i], &a) == MHSLD_OK);
        }
        memset(p->cq, 0, sizeof(*p->cq));
        memset(m, 0, sizeof(*m));
        m->exact = 1;
        m->alive = p->h != NULL;
        fuzz_trace("%u scrub", n);
        break;
    }
    }
    uint64_t dt = ms_now() - t0;
    FUZZ_ASSERT_MSG(dt < CALL_MS, "op %u took %llu ms", op, (unsigned long long)dt);
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_dp dp;
    fuzz_dp_init(&dp, data, size);
    fuzz_trace_reset();
    mhsld_geometry g;
    mhsld_geometry_init(&g, 2, BS, 0, (uint64_t)NBLK * BS);
    fuzz_statefile sf;
    fuzz_statefile_create(&sf, NULL, 0);
    prog p;
    memset(&p, 0, sizeof(p));
    mhsld_status s = fuzz_state_open(&sf, MHSLD_OPEN_CREATE, &g, &p.st);
    FUZZ_ASSERT_MSG(s == MHSLD_OK, "create: %s", mhsld_status_name(s));
    size_t len = fuzz_statefile_size(&sf);
    p.ct = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, sf.fd, 0);
    FUZZ_ASSERT(p.ct != MAP_FAILED);
    p.cq = (mhsld__fmq *)(void *)(p.ct + p.st->lay.fmq_off);
    FUZZ_ASSERT(mhsld_attach(p.st, 0, MHSLD_ATTACH_KEEP, &p.h) == MHSLD_OK);
    p.m.exact = 1;
    p.m.alive = 1;
    for (uint32_t i = 0; i < MAX_OPS && step(&p, &dp, i); i++)
        ;
    mhsld_test_crash_at(0, NULL, NULL);
    mhsld_detach(p.h);
    if (getenv("MHSLD_FUZZ_VERBOSE"))
        fuzz_trace_dump();
    munmap(p.ct, len);
    mhsld_close(p.st);
    fuzz_statefile_destroy(&sf);
    return 0;
}
