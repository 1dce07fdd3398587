/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * libmhsld fabric-manager channel: requests to a head carried by the shared
 * state itself, so that a fabric manager (FM) needs no socket per head.
 *
 * Every head has a queue of MHSLD_FMQ_SLOTS request slots in the shared
 * state.  Any process that has the state open (it need not attach a head)
 * posts a request into a free slot and waits for the outcome; the head's
 * process (the QEMU device) serves its queue: it is woken through a futex
 * word in the mapping, takes each posted request, copies it into private
 * memory, validates the copy, acts on it and writes the result back.
 *
 *   OFFER     the head reserves the extents as pending and offers them to
 *             its host (Add Capacity event): the same reservation and the
 *             same errors as a QMP add.
 *   RELEASE   the head asks its host to give the extents back (Release
 *             Capacity event); the host decides, as with a QMP release.
 *   MBOX      an FM-API command (opcode and payload) that the head runs
 *             through the engine's mailbox dispatcher; the response payload
 *             comes back.
 *   FORCED    a notice, posted by mhsld_fm_force_release() after it has
 *             taken the capacity away in the shared state: the head tells
 *             its host (Forced Capacity Release event) and drops the extents
 *             from its own lists.  Nobody waits for it.
 *
 * Forced release and reclaim do not wait for the head: the caller acts as
 * the head in the shared state (journalled in that head's journal, exactly
 * like the head's own operations, so a caller killed half-way is recovered
 * like a head killed half-way).  While it does, the head's own operations
 * are held off by the head's baton (a word of its head record).
 *
 * Trust: the queue lives in memory every co-tenant can write.  Both sides
 * read a slot once into private memory and validate the copy; a slot whose
 * copy is malformed is answered MHSLD_E_CORRUPT (server) or ignored
 * (poster); nothing a co-tenant writes into a slot can make either side read
 * or write outside the mapping, wait unboundedly, or act on another head.
 * Every wait is bounded by the caller's timeout.  A poster that dies leaves
 * a slot that the next poster or the server frees (the poster holds a
 * kernel file lock for its slot while it owns it); a head that dies leaves
 * its posted requests to be answered MHSLD_E_DEAD to their posters.
 */
#ifndef MHSLD_FM_H
#define MHSLD_FM_H

#include <stddef.h>
#include <stdint.h>

#include "mhsld/mailbox.h"
#include "mhsld/mhsld.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MHSLD_FMQ_SLOTS 8u         /* requests in flight per head */
#define MHSLD_FMQ_MAX_EXTENTS 64u  /* extents in one OFFER/RELEASE/FORCED request */
#define MHSLD_FMQ_PAYLOAD 1024u    /* bytes of an MBOX request or response payload */

typedef enum mhsld_fm_kind {
    MHSLD_FM_OFFER = 1,
    MHSLD_FM_RELEASE = 2,
    MHSLD_FM_MBOX = 3,
    MHSLD_FM_FORCED = 4
} mhsld_fm_kind;

typedef struct mhsld_fm_request {
    uint32_t kind;   /* mhsld_fm_kind */
    uint32_t n;      /* extents in ext[] (OFFER, RELEASE, FORCED) */
    mhsld_extent ext[MHSLD_FMQ_MAX_EXTENTS];
    uint8_t tag[MHSLD_TAG_SIZE]; /* OFFER/RELEASE: tag (all zero = none) */
    uint16_t opcode;             /* MBOX: FM-API opcode (5500h-56xxh) */
    uint16_t pad;
    uint32_t len;                /* MBOX: bytes in payload */
    uint8_t payload[MHSLD_FMQ_PAYLOAD];
} mhsld_fm_request;

typedef struct mhsld_fm_result {
    uint32_t status;        /* mhsld_status of the head's action */
    uint32_t cxl_rc;        /* MBOX: mhsld_cxl_rc; otherwise the code a QMP
                               caller would see mapped to CXL (informative) */
    mhsld_conflict conflict; /* OFFER refused with MHSLD_E_CONFLICT: who holds it */
    uint64_t group;         /* OFFER: the reservation's id */
    uint32_t len;           /* MBOX: bytes in payload */
    uint32_t pad;
    uint8_t payload[MHSLD_FMQ_PAYLOAD];
} mhsld_fm_result;

/* ---- poster side (any process with the state open) --------------------- */

/* Post `req` to head `head` and wait up to timeout_ms for its answer.
 *   MHSLD_OK           *res holds the head's answer (res->status may be an
 *                      engine error: the head refused the request)
 *   MHSLD_E_DEAD       no live process has the head attached (checked before
 *                      posting and while waiting); a request not yet taken is
 *                      withdrawn
 *   MHSLD_E_TIMEDOUT   the head did not answer in time; a request not yet
 *                      taken is withdrawn (never executed); one already
 *                      taken may still complete (its answer is discarded)
 *   MHSLD_E_NOSPACE    every slot of the head's queue is in use
 *   MHSLD_E_INVAL ...  the request is malformed (nothing posted)
 * timeout_ms == 0 with kind FORCED posts the notice and returns at once
 * (res may be NULL). */
mhsld_status mhsld_fm_submit(mhsld_state *st, uint32_t head, const mhsld_fm_request *req,
                             uint32_t timeout_ms, mhsld_fm_result *res);

/* Take `n` extents away from head `head` at once, live or dead: every
 * extent must be OWNED by the head (or SHARED with it: the head leaves the
 * shared extent); all or nothing (MHSLD_E_NOT_OWNER with *conflict).  When
 * it returns MHSLD_OK the head's access checks on those blocks already fail
 * and other heads can claim them.  If the head is live, FORCED notices naming
 * the extents (at most MHSLD_FMQ_MAX_EXTENTS each) are posted to its queue
 * afterwards; the release stands even if they cannot be posted (queue full).  MHSLD_E_BUSY if the head (or a recoverer) is in the
 * middle of an operation for longer than timeout_ms. */
mhsld_status mhsld_fm_force_release(mhsld_state *st, uint32_t head, const mhsld_extent *ext,
                                    size_t n, uint32_t timeout_ms, mhsld_conflict *conflict);

/* ---- server side (the head's own process) ------------------------------ */

/* Wait until a request may be posted to this head's queue, at most
 * timeout_ms: MHSLD_OK (check with mhsld_fm_take) or MHSLD_E_TIMEDOUT.
 * Spurious returns are allowed.  mhsld_fm_kick() wakes a waiter (for
 * shutting down the serving thread). */
mhsld_status mhsld_fm_wait(mhsld_head *h, uint32_t timeout_ms);
void mhsld_fm_kick(mhsld_head *h);

/* The oldest posted request: copied and validated into *req, its slot in
 * *slot.  MHSLD_E_NOENT when none is posted.  Malformed requests are
 * answered MHSLD_E_CORRUPT on the spot and skipped. */
mhsld_status mhsld_fm_take(mhsld_head *h, uint32_t *slot, mhsld_fm_request *req);

/* Answer the request taken from `slot` (MHSLD_E_INVAL for a slot this
 * handle did not take). */
mhsld_status mhsld_fm_complete(mhsld_head *h, uint32_t slot, const mhsld_fm_result *res);

#ifdef __cplusplus
}
#endif

#endif
