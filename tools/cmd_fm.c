/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mhsldctl as the fabric manager (mhsld/fm.h): requests to any head carried
 * by the shared state, with no socket per head.
 *
 *   fm-offer          post OFFER: the head reserves the extents and offers
 *                     them to its host (as a QMP add does)
 *   fm-release        post RELEASE: the head asks its host to give them back
 *   fm-force-release  mhsld_fm_force_release(): take them away at once,
 *                     live head or dead
 *   fm-reclaim        mhsld_recover() of a dead head (drop or keep)
 *   fm-mbox           post MBOX: an FM-API command run by the head's
 *                     mailbox dispatcher; the response decoded
 *
 * A verb checks its whole command line before it opens the state (bad input
 * posts nothing).  Its outcome is one line on stdout (success) or stderr
 * (failure), or with --json one object on stdout either way (and the
 * failure's line on stderr):
 *   {"verb", "head", "status" (the call's status name), "answer" (the head's
 *    status name, null when it did not answer), "cxl_rc", "group",
 *    "conflict" ({"dpa", "owner", "state"} or null), "message"}
 * plus "opcode", "response_hex" and "response" for fm-mbox and the
 * recovery's figures for fm-reclaim.
 */
#define _POSIX_C_SOURCE 200809L

#include "cmd.h"

#include "mhsld/fm.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define FM_TIMEOUT_DEFAULT 5000u /* ms */
#define FM_TIMEOUT_MAX 3600000u  /* ms */
#define FM_MSGLEN 512u

/* What a verb reports, as text or JSON. */
struct fm_report {
    uint32_t head;
    mhsld_status status; /* the call's */
    bool answered;       /* the head answered: answer, cxl_rc are its */
    mhsld_status answer;
    bool have_rc;
    int cxl_rc;
    bool have_group;
    uint64_t group;
    bool have_conflict;
    mhsld_conflict conflict;
    char message[FM_MSGLEN];
    json_object *extra; /* more members for the JSON object (owned) */
};

static void say(struct fm_report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct fm_report *r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->message, sizeof(r->message), fmt, ap);
    va_end(ap);
}

static json_object *status_json(mhsld_status s)
{
    return ctl_jnew(json_object_new_string(mhsld_status_name(s)));
}

/* Print the outcome and return rc: the message on stdout (rc 0) or stderr,
 * and with --json the object on stdout. */
static int fm_finish(const struct cmd *c, struct fm_report *r, int rc)
{
    json_object *o;

    if (!ctl_has(c, O_JSON)) {
        json_object_put(r->extra);
        if (rc != CTL_EXIT_OK)
            return ctl_fail(c, rc, "%s", r->message);
        printf("%s\n", r->message);
        return rc;
    }
    o = ctl_jnew(json_object_new_object());
    ctl_jadd(o, "verb", ctl_jnew(json_object_new_string(c->v->name)));
    ctl_jadd(o, "head", ctl_jnew(json_object_new_int64(r->head)));
    ctl_jadd(o, "status", status_json(r->status));
    if (r->answered)
        ctl_jadd(o, "answer", status_json(r->answer));
    else
        ctl_jnull(o, "answer");
    if (r->have_rc)
        ctl_jadd(o, "cxl_rc", ctl_jnew(json_object_new_int(r->cxl_rc)));
    else
        ctl_jnull(o, "cxl_rc");
    if (r->have_group)
        ctl_jadd(o, "group", ctl_jnew(json_object_new_uint64(r->group)));
    else
        ctl_jnull(o, "group");
    ctl_jconflict(o, r->have_conflict ? &r->conflict : NULL);
    ctl_jadd(o, "message", ctl_jnew(json_object_new_string(r->message)));
    if (r->extra != NULL) {
        json_object_object_foreach(r->extra, key, val)
        {
            if (val == NULL) /* JSON null */
                ctl_jnull(o, key);
            else
                ctl_jadd(o, key, json_object_get(val));
        }
        json_object_put(r->extra);
    }
    int prc = ctl_jprint(c, o, JSON_C_TO_STRING_PLAIN);
    if (prc != CTL_EXIT_OK)
        return prc;
    if (rc != CTL_EXIT_OK)
        return ctl_fail(c, rc, "%s", r->message);
    return rc;
}

/* ---- the command line ---------------------------------------------------- */

static int opt_timeout(const struct cmd *c, uint32_t *ms)
{
    *ms = FM_TIMEOUT_DEFAULT;
    if (!ctl_has(c, O_TIMEOUT))
        return CTL_EXIT_OK;
    return ctl_opt_uint(c, O_TIMEOUT, 1, FM_TIMEOUT_MAX, ms);
}

/* The extents of an OFFER/RELEASE/FORCED request (at most
 * MHSLD_FMQ_MAX_EXTENTS). */
static int fm_extents(const struct cmd *c, mhsld_extent *ext, size_t *n)
{
    if (c->npos > MHSLD_FMQ_MAX_EXTENTS)
        return ctl_usage(c, "%zu extents given, at most %u per FM request", c->npos,
                         MHSLD_FMQ_MAX_EXTENTS);
    return ctl_parse_extents(c, c->pos, c->npos, ext, n);
}

static int fm_open(const struct cmd *c, uint32_t head, mhsld_state **st)
{
    mhsld_geometry g;
    int rc = ctl_open_state(c, MHSLD_OPEN_EXISTING, NULL, st, NULL);

    if (rc != CTL_EXIT_OK)
        return rc;
    rc = ctl_check_head_range(c, *st, head, &g);
    if (rc != CTL_EXIT_OK)
        mhsld_close(*st);
    return rc;
}

static uint64_t total_len(const mhsld_extent *e, size_t n)
{
    uint64_t s = 0;
    size_t i;

    for (i = 0; i < n; i++)
        s += e[i].len;
    return s;
}

/* ---- posting a request ----------------------------------------------------- */

/* The message for a submission that did not get the head's answer. */
static void unanswered(const struct cmd *c, struct fm_report *r, uint32_t timeout_ms)
{
    char t[CTL_ERRLEN];

    ctl_status_text(r->status, t, sizeof(t));
    switch (r->status) {
    case MHSLD_E_DEAD:
        say(r, "%s: head %" PRIu32 ": nobody serves its queue: %s", c->state, r->head, t);
        break;
    case MHSLD_E_TIMEDOUT:
        say(r,
            "%s: head %" PRIu32 " did not answer within %" PRIu32
            " ms (a request it had not taken was withdrawn): %s",
            c->state, r->head, timeout_ms, t);
        break;
    case MHSLD_E_NOSPACE:
        say(r, "%s: head %" PRIu32 ": its FM queue is full (%u requests in flight): %s", c->state,
            r->head, MHSLD_FMQ_SLOTS, t);
        break;
    default:
        say(r, "%s: head %" PRIu32 ": request not delivered: %s", c->state, r->head, t);
        break;
    }
}

/* Post req to the head; fill r with the outcome.  Returns CTL_EXIT_OK if the
 * head answered (whatever it answered), else the exit code. */
static int fm_post(const struct cmd *c, mhsld_state *st, const mhsld_fm_request *req,
                   uint32_t timeout_ms, mhsld_fm_result *res, struct fm_report *r)
{
    memset(res, 0, sizeof(*res));
    r->status = mhsld_fm_submit(st, r->head, req, timeout_ms, res);
    if (r->status != MHSLD_OK) {
        unanswered(c, r, timeout_ms);
        return ctl_status_exit(r->status);
    }
    /* res is our private copy of the head's answer: check it before use. */
    if (res->len > MHSLD_FMQ_PAYLOAD) {
        say(r, "%s: head %" PRIu32 ": malformed answer (payload of %" PRIu32 " bytes)", c->state,
            r->head, res->len);
        return CTL_EXIT_STATE;
    }
    r->answered = true;
    r->answer = (mhsld_status)res->status;
    r->have_rc = true;
    r->cxl_rc = (int)res->cxl_rc;
    return CTL_EXIT_OK;
}

/* The head's refusal: "STATE: head N refused the WHAT: reason". */
static int refused(const struct cmd *c, struct fm_report *r, const char *what,
                   const mhsld_fm_result *res, uint32_t kind)
{
    char t[CTL_ERRLEN], k[CTL_ERRLEN] = "";

    if (kind == MHSLD_FM_OFFER &&
        (r->answer == MHSLD_E_CONFLICT || r->answer == MHSLD_E_NOT_OWNER)) {
        r->have_conflict = true;
        r->conflict = res->conflict;
        ctl_conflict_text(&r->conflict, r->head, k, sizeof(k));
    }
    say(r, "%s: head %" PRIu32 " refused the %s: %s%s", c->state, r->head, what,
        ctl_status_text(r->answer, t, sizeof(t)), k);
    return CTL_EXIT_REFUSED;
}

static int offer_or_release(struct cmd *c, uint32_t kind)
{
    struct fm_report r;
    mhsld_fm_request *req = NULL;
    mhsld_fm_result *res = NULL;
    mhsld_state *st = NULL;
    uint32_t timeout_ms;
    size_t n = 0;
    char x[CTL_FMTLEN], e[CTL_ERRLEN];
    int rc;

    memset(&r, 0, sizeof(r));
    req = calloc(1, sizeof(*req));
    res = calloc(1, sizeof(*res));
    if (req == NULL || res == NULL) {
        rc = ctl_fail(c, CTL_EXIT_IO, "out of memory");
        goto out;
    }
    if ((rc = ctl_opt_head(c, &r.head)) != 0 || (rc = opt_timeout(c, &timeout_ms)) != 0 ||
        (rc = fm_extents(c, req->ext, &n)) != 0)
        goto out;
    if (ctl_has(c, O_TAG) && !ctl_parse_tag(c->opt[O_TAG], req->tag, e, sizeof(e))) {
        rc = ctl_usage(c, "--tag: %s", e);
        goto out;
    }
    req->kind = kind;
    req->n = (uint32_t)n;
    if ((rc = fm_open(c, r.head, &st)) != 0)
        goto out;
    rc = fm_post(c, st, req, timeout_ms, res, &r);
    mhsld_close(st);
    if (rc != CTL_EXIT_OK) {
        rc = fm_finish(c, &r, rc);
        goto out;
    }
    if (r.answer != MHSLD_OK) {
        rc = fm_finish(
            c, &r, refused(c, &r, kind == MHSLD_FM_OFFER ? "offer" : "release request", res, kind));
        goto out;
    }
    ctl_fmt_len(total_len(req->ext, n), x);
    if (kind == MHSLD_FM_OFFER) {
        r.have_group = true;
        r.group = res->group;
        say(&r,
            "head %" PRIu32 ": reserved %s as reservation %" PRIu64 " and offered it to its host",
            r.head, x, r.group);
    } else {
        say(&r, "head %" PRIu32 ": asked its host to release %s", r.head, x);
    }
    rc = fm_finish(c, &r, CTL_EXIT_OK);
out:
    free(req);
    free(res);
    return rc;
}

int verb_fm_offer(struct cmd *c)
{
    return offer_or_release(c, MHSLD_FM_OFFER);
}

int verb_fm_release(struct cmd *c)
{
    return offer_or_release(c, MHSLD_FM_RELEASE);
}

/* ---- forced release and reclaim ------------------------------------------ */

int verb_fm_force_release(struct cmd *c)
{
    mhsld_extent ext[MHSLD_MAX_EXTENTS]; /* not a queued request: the engine's limit */
    mhsld_conflict k = {0, MHSLD_OWNER_NONE, MHSLD_BLOCK_FREE};
    struct fm_report r;
    mhsld_state *st;
    uint32_t timeout_ms;
    size_t n = 0;
    char x[CTL_FMTLEN], t[CTL_ERRLEN], d[CTL_ERRLEN] = "";
    int rc;

    memset(&r, 0, sizeof(r));
    if ((rc = ctl_opt_head(c, &r.head)) != 0 || (rc = opt_timeout(c, &timeout_ms)) != 0 ||
        (rc = ctl_parse_extents(c, c->pos, c->npos, ext, &n)) != 0)
        return rc;
    if ((rc = fm_open(c, r.head, &st)) != 0)
        return rc;
    r.status = mhsld_fm_force_release(st, r.head, ext, n, timeout_ms, &k);
    mhsld_close(st);
    r.have_rc = true;
    r.cxl_rc = mhsld_mbox_rc_from_status(r.status);
    if (r.status == MHSLD_OK) {
        say(&r, "head %" PRIu32 ": took %s away (forced release)", r.head,
            ctl_fmt_len(total_len(ext, n), x));
        return fm_finish(c, &r, CTL_EXIT_OK);
    }
    ctl_status_text(r.status, t, sizeof(t));
    if (r.status == MHSLD_E_NOT_OWNER || r.status == MHSLD_E_CONFLICT) {
        r.have_conflict = true;
        r.conflict = k;
        ctl_conflict_text(&k, r.head, d, sizeof(d));
        say(&r, "%s: head %" PRIu32 " does not hold all of it, nothing taken: %s%s", c->state,
            r.head, t, d);
    } else if (r.status == MHSLD_E_BUSY) {
        say(&r,
            "%s: head %" PRIu32 " stayed in the middle of an operation for more than %" PRIu32
            " ms, nothing taken: %s",
            c->state, r.head, timeout_ms, t);
    } else {
        say(&r, "%s: head %" PRIu32 ": %s", c->state, r.head, t);
    }
    return fm_finish(c, &r, ctl_status_exit(r.status));
}

int verb_fm_reclaim(struct cmd *c)
{
    mhsld_recover_report rep;
    mhsld_head_info hi;
    struct fm_report r;
    mhsld_state *st;
    uint32_t flags = ctl_has(c, O_KEEP) ? MHSLD_RECOVER_KEEP : MHSLD_RECOVER_DROP;
    char t[CTL_ERRLEN];
    int rc;

    memset(&r, 0, sizeof(r));
    if ((rc = ctl_opt_head(c, &r.head)) != 0)
        return rc;
    if ((rc = fm_open(c, r.head, &st)) != 0)
        return rc;
    memset(&rep, 0, sizeof(rep));
    r.status = mhsld_recover(st, r.head, flags, &rep);
    if (r.status == MHSLD_E_ALIVE) {
        char pid[32] = "";
        if (mhsld_head_info_get(st, r.head, &hi) == MHSLD_OK && hi.pid != 0)
            snprintf(pid, sizeof(pid), " (pid %" PRIu32 ")", hi.pid);
        say(&r,
            "%s: head %" PRIu32 " is attached by a live process%s: fm-reclaim takes back only a "
            "dead head's capacity, fm-force-release takes it from a live one (%s)",
            c->state, r.head, pid, mhsld_status_name(r.status));
        mhsld_close(st);
        return fm_finish(c, &r, CTL_EXIT_REFUSED);
    }
    mhsld_close(st);
    if (r.status != MHSLD_OK) {
        say(&r, "%s: head %" PRIu32 ": %s", c->state, r.head,
            ctl_status_text(r.status, t, sizeof(t)));
        return fm_finish(c, &r, ctl_status_exit(r.status));
    }
    r.extra = ctl_jnew(json_object_new_object());
    ctl_jadd(r.extra, "mode",
             ctl_jnew(json_object_new_string(flags == MHSLD_RECOVER_KEEP ? "keep" : "drop")));
    if (rep.op != 0)
        ctl_jadd(r.extra, "inflight_op", ctl_jnew(json_object_new_string(mhsld_op_name(rep.op))));
    else
        ctl_jnull(r.extra, "inflight_op");
    ctl_jadd(r.extra, "rolled_back", ctl_jnew(json_object_new_boolean(rep.rolled_back != 0)));
    ctl_jadd(r.extra, "rolled_forward", ctl_jnew(json_object_new_boolean(rep.rolled_forward != 0)));
    ctl_jadd(r.extra, "blocks_freed", ctl_jnew(json_object_new_uint64(rep.blocks_freed)));
    ctl_jadd(r.extra, "blocks_kept", ctl_jnew(json_object_new_uint64(rep.blocks_kept)));
    say(&r,
        "head %" PRIu32 ": reclaimed: in-flight %s%s; %" PRIu64 " blocks freed, %" PRIu64
        " kept (%s)",
        r.head, rep.op ? mhsld_op_name(rep.op) : "none",
        rep.rolled_back      ? " rolled back"
        : rep.rolled_forward ? " rolled forward"
                             : "",
        rep.blocks_freed, rep.blocks_kept, flags == MHSLD_RECOVER_KEEP ? "keep" : "drop");
    return fm_finish(c, &r, CTL_EXIT_OK);
}

/* ---- fm-mbox ---------------------------------------------------------------- */

/* The request's payload from the command line: PAYLOAD_HEX or --in-json. */
static int mbox_payload(const struct cmd *c, uint16_t opcode, mhsld_fm_request *req)
{
    char err[CTL_ERRLEN];
    size_t n = 0;
    int rc;

    if (ctl_has(c, O_IN_JSON) && c->npos > 1)
        return ctl_usage(c, "give the payload as hex or with --in-json, not both");
    if (ctl_has(c, O_IN_JSON)) {
        rc = ctl_fm_mbox_build(opcode, c->opt[O_IN_JSON], req->payload, sizeof(req->payload), &n,
                               err, sizeof(err));
        if (rc != CTL_EXIT_OK)
            return rc == CTL_EXIT_USAGE ? ctl_usage(c, "%s", err) : ctl_fail(c, rc, "%s", err);
    } else if (c->npos > 1) {
        if (!ctl_parse_hex_bytes(c->pos[1], req->payload, sizeof(req->payload), &n, err,
                                 sizeof(err)))
            return ctl_usage(c, "%s", err);
        if (!ctl_fm_mbox_check(opcode, req->payload, n, err, sizeof(err)))
            return ctl_usage(c, "%s", err);
    } else if (opcode != MHSLD_MBOX_OP_GET_DCD_INFO) {
        return ctl_usage(c, "%04Xh needs a payload: PAYLOAD_HEX or --in-json JSON",
                         (unsigned)opcode);
    }
    req->len = (uint32_t)n;
    return CTL_EXIT_OK;
}

int verb_fm_mbox(struct cmd *c)
{
    const mhsld_mbox_cmd_info *info;
    struct fm_report r;
    mhsld_fm_request *req = NULL;
    mhsld_fm_result *res = NULL;
    mhsld_state *st;
    json_object *resp = NULL;
    uint32_t timeout_ms;
    uint16_t opcode = 0;
    char err[CTL_ERRLEN], t[CTL_ERRLEN], *hex = NULL;
    const char *name;
    int rc;

    memset(&r, 0, sizeof(r));
    if ((rc = ctl_opt_head(c, &r.head)) != 0 || (rc = opt_timeout(c, &timeout_ms)) != 0)
        return rc;
    if (!ctl_parse_opcode(c->pos[0], &opcode, err, sizeof(err)))
        return ctl_usage(c, "%s", err);
    if (!ctl_fm_opcode_ok(opcode))
        return ctl_usage(c,
                         "opcode %04Xh is not an FM-API command mhsldctl sends (5500h, 5501h, "
                         "5600h-5608h)",
                         (unsigned)opcode);
    info = mhsld_mbox_command(opcode);
    name = info != NULL && info->name != NULL ? info->name : "?";
    req = calloc(1, sizeof(*req));
    res = calloc(1, sizeof(*res));
    hex = malloc(2 * MHSLD_FMQ_PAYLOAD + 1);
    if (req == NULL || res == NULL || hex == NULL) {
        rc = ctl_fail(c, CTL_EXIT_IO, "out of memory");
        goto out;
    }
    req->kind = MHSLD_FM_MBOX;
    req->opcode = opcode;
    if ((rc = mbox_payload(c, opcode, req)) != 0 || (rc = fm_open(c, r.head, &st)) != 0)
        goto out;
    rc = fm_post(c, st, req, timeout_ms, res, &r);
    mhsld_close(st);
    r.extra = ctl_jnew(json_object_new_object());
    snprintf(t, sizeof(t), "%04Xh", (unsigned)opcode);
    ctl_jadd(r.extra, "opcode", ctl_jnew(json_object_new_string(t)));
    if (rc != CTL_EXIT_OK) {
        rc = fm_finish(c, &r, rc);
        goto out;
    }
    ctl_fmt_hex(res->payload, res->len, hex, 2 * MHSLD_FMQ_PAYLOAD + 1);
    ctl_jadd(r.extra, "response_hex", ctl_jnew(json_object_new_string(hex)));
    if (r.answer != MHSLD_OK) {
        ctl_jnull(r.extra, "response");
        say(&r, "%s: head %" PRIu32 " did not run %04Xh %s: %s", c->state, r.head, (unsigned)opcode,
            name, ctl_status_text(r.answer, t, sizeof(t)));
        rc = fm_finish(c, &r, CTL_EXIT_REFUSED);
        goto out;
    }
    if (r.cxl_rc != MHSLD_CXL_SUCCESS) {
        ctl_jnull(r.extra, "response");
        say(&r, "%s: head %" PRIu32 ": %04Xh %s returned %s (%02Xh)", c->state, r.head,
            (unsigned)opcode, name, mhsld_cxl_rc_name(r.cxl_rc), (unsigned)r.cxl_rc);
        rc = fm_finish(c, &r, CTL_EXIT_REFUSED);
        goto out;
    }
    resp = ctl_fm_mbox_response(opcode, res->payload, res->len, err, sizeof(err));
    if (resp == NULL) {
        ctl_jnull(r.extra, "response");
        say(&r, "%s: head %" PRIu32 ": %04Xh %s: %s", c->state, r.head, (unsigned)opcode, name,
            err);
        rc = fm_finish(c, &r, CTL_EXIT_IO);
        goto out;
    }
    say(&r, "head %" PRIu32 ": %04Xh %s: SUCCESS, %" PRIu32 "-byte response", r.head,
        (unsigned)opcode, name, res->len);
    if (!ctl_has(c, O_JSON)) {
        const char *text = json_object_to_json_string_ext(resp, JSON_C_TO_STRING_PLAIN |
                                                                    JSON_C_TO_STRING_NOSLASHESCAPE);
        printf("%s\nresponse_hex: %s\nresponse: %s\n", r.message, hex, text ? text : "null");
        json_object_put(r.extra);
        json_object_put(resp);
        rc = CTL_EXIT_OK;
        goto out;
    }
    ctl_jadd(r.extra, "response", resp);
    rc = fm_finish(c, &r, CTL_EXIT_OK);
out:
    free(req);
    free(res);
    free(hex);
    return rc;
}
