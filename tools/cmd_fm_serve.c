/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mhsldctl fm-serve: a stand-in for a head's QEMU device that serves the
 * head's fabric-manager queue with the engine alone, for tests and demos
 * without QEMU.  It attaches the head as the device does
 * (MHSLD_ATTACH_DROP), prints "ready ...", then for every request it takes:
 *
 *   OFFER    mhsld_reserve() of the extents; the answer carries the
 *            reservation's group, or the conflict (a device would now raise
 *            the host's Add Capacity event); with --accept it also plays
 *            the host that accepts the whole offer at once (mhsld_commit)
 *   RELEASE  answered MHSLD_OK: there is no host to ask (a device would
 *            raise a Release Capacity event and let the host decide)
 *   MBOX     mhsld_mbox_execute() with a mailbox context for this head
 *            (FM-API opcodes 5500h-56FFh only: a host's own mailbox
 *            commands are not the FM's to send)
 *   FORCED   the notice is printed (a device would raise a Forced Capacity
 *            Release event and drop the extents from its lists)
 *
 * and prints one line about it (one JSON object with --json), flushed, so
 * that a test can wait for the line instead of sleeping.  --count K stops
 * after K requests; SIGTERM or SIGINT stops it cleanly: a thread waits for
 * the signal with sigwait() and wakes the queue's waiter with
 * mhsld_fm_kick(), so nothing engine-side runs in a signal handler.  The
 * head is detached on the way out.
 */
#define _POSIX_C_SOURCE 200809L

#include "cmd.h"

#include "mhsld/fm.h"

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Upper bound of one wait: how late a kick missed between the stop check
 * and the wait can be noticed. */
#define SERVE_WAIT_MS 500u
#define SERVE_COUNT_MAX 1000000000u
#define LINE_LEN 4096u

struct serve {
    mhsld_state *st;
    mhsld_head *h;
    uint32_t head;
    bool json;
    bool accept; /* commit every successful offer at once */
    atomic_bool stop;
    sigset_t sigs;
};

static void *signal_thread(void *arg)
{
    struct serve *sv = arg;
    int sig = 0;

    (void)sigwait(&sv->sigs, &sig);
    atomic_store(&sv->stop, true);
    mhsld_fm_kick(sv->h);
    return NULL;
}

/* The events the dispatcher reports while it runs one MBOX request. */
struct mbox_events {
    char text[256];
    size_t len;
    json_object *arr;
};

static const char *event_name(uint32_t type)
{
    switch (type) {
    case MHSLD_MBOX_EV_ADD:
        return "Add Capacity";
    case MHSLD_MBOX_EV_ADD_SHARED:
        return "Add Capacity (shared)";
    case MHSLD_MBOX_EV_RELEASE_REQUEST:
        return "Release Capacity";
    case MHSLD_MBOX_EV_FORCED_RELEASE:
        return "Forced Capacity Release";
    default:
        return "unknown";
    }
}

static void on_event(void *opaque, const mhsld_mbox_event *ev)
{
    struct mbox_events *e = opaque;
    json_object *o = ctl_jnew(json_object_new_object());
    int w;

    ctl_jadd(o, "event", ctl_jnew(json_object_new_string(event_name(ev->type))));
    ctl_jadd(o, "host", ctl_jnew(json_object_new_int64(ev->host)));
    ctl_jadd(o, "group", ctl_jnew(json_object_new_uint64(ev->group)));
    ctl_jadd(o, "extents", ctl_jnew(json_object_new_uint64(ev->n)));
    ctl_jpush(e->arr, o);
    if (e->len < sizeof(e->text)) {
        w = snprintf(e->text + e->len, sizeof(e->text) - e->len,
                     "; would raise a%s %s event for host %" PRIu32 " (%zu extent%s)",
                     ev->type == MHSLD_MBOX_EV_ADD || ev->type == MHSLD_MBOX_EV_ADD_SHARED ? "n"
                                                                                           : "",
                     event_name(ev->type), ev->host, ev->n, ev->n == 1 ? "" : "s");
        e->len += w > 0 ? (size_t)w : 0;
    }
}

static const char *kind_name(uint32_t kind)
{
    switch (kind) {
    case MHSLD_FM_OFFER:
        return "OFFER";
    case MHSLD_FM_RELEASE:
        return "RELEASE";
    case MHSLD_FM_MBOX:
        return "MBOX";
    case MHSLD_FM_FORCED:
        return "FORCED";
    default:
        return "UNKNOWN";
    }
}

/* "4M (0x0+2M 0x400000+2M)" into buf. */
static void extents_text(const mhsld_fm_request *req, char *buf, size_t len)
{
    char x[CTL_FMTLEN];
    uint64_t total = 0;
    size_t i, o;
    int w;

    for (i = 0; i < req->n; i++)
        total += req->ext[i].len;
    w = snprintf(buf, len, "%s (", ctl_fmt_len(total, x));
    o = w > 0 ? (size_t)w : 0;
    for (i = 0; i < req->n && o < len; i++) {
        w = snprintf(buf + o, len - o, "%s%s", i ? " " : "", ctl_fmt_extent(&req->ext[i], x));
        o += w > 0 ? (size_t)w : 0;
    }
    if (o < len)
        snprintf(buf + o, len - o, ")");
}

static json_object *extents_json(const mhsld_fm_request *req)
{
    json_object *arr = ctl_jnew(json_object_new_array());
    size_t i;

    for (i = 0; i < req->n; i++) {
        json_object *e = ctl_jnew(json_object_new_object());
        ctl_jadd(e, "dpa", ctl_jnew(json_object_new_uint64(req->ext[i].dpa)));
        ctl_jadd(e, "length", ctl_jnew(json_object_new_uint64(req->ext[i].len)));
        ctl_jpush(arr, e);
    }
    return arr;
}

/* The request's tag (OFFER, RELEASE) as a JSON string, or JSON null when
 * it has none (all zero). */
static void add_tag(json_object *o, const mhsld_fm_request *req)
{
    static const uint8_t none[MHSLD_TAG_SIZE];
    char t[CTL_FMTLEN];

    if (memcmp(req->tag, none, sizeof(none)) == 0)
        ctl_jnull(o, "tag");
    else
        ctl_jadd(o, "tag", ctl_jnew(json_object_new_string(ctl_fmt_tag(req->tag, t))));
}

/* Act on one request; fill res, the line's text and its JSON members. */
static void serve_one(struct serve *sv, const mhsld_fm_request *req, mhsld_fm_result *res,
                      char *msg, size_t msglen, json_object *o)
{
    char ext[LINE_LEN / 2], t[CTL_ERRLEN];
    mhsld_status s;

    memset(res, 0, sizeof(*res));
    /* mhsld_fm_take() validated the copy; this process indexes ext[] with
     * n, so it checks the bound itself too. */
    if (req->n > MHSLD_FMQ_MAX_EXTENTS) {
        res->status = MHSLD_E_CORRUPT;
        res->cxl_rc = MHSLD_CXL_INVALID_INPUT;
        snprintf(msg, msglen, "malformed request (%" PRIu32 " extents)", req->n);
        return;
    }
    switch (req->kind) {
    case MHSLD_FM_OFFER: {
        mhsld_conflict k = {0, MHSLD_OWNER_NONE, MHSLD_BLOCK_FREE};
        uint64_t group = 0;
        extents_text(req, ext, sizeof(ext));
        s = mhsld_reserve(sv->h, req->ext, req->n, &group, &k);
        res->status = s;
        res->cxl_rc = (uint32_t)mhsld_mbox_rc_from_status(s);
        ctl_jadd(o, "extents", extents_json(req));
        add_tag(o, req);
        if (s == MHSLD_OK) {
            mhsld_status a = sv->accept ? mhsld_commit(sv->h, group, req->ext, req->n) : MHSLD_OK;
            res->group = group;
            ctl_jadd(o, "group", ctl_jnew(json_object_new_uint64(group)));
            if (sv->accept)
                ctl_jadd(o, "accepted", ctl_jnew(json_object_new_string(mhsld_status_name(a))));
            snprintf(msg, msglen,
                     "reserved %s as reservation %" PRIu64
                     "; would raise an Add Capacity event%s%s",
                     ext, group,
                     !sv->accept     ? ""
                     : a == MHSLD_OK ? "; accepted at once (--accept): owned"
                                     : "; --accept could not commit it: ",
                     sv->accept && a != MHSLD_OK ? mhsld_status_name(a) : "");
        } else {
            res->conflict = k;
            ctl_conflict_text(&k, sv->head, t, sizeof(t));
            snprintf(msg, msglen, "refused %s: %s%s", ext, mhsld_strerror(s), t);
        }
        return;
    }
    case MHSLD_FM_RELEASE:
        extents_text(req, ext, sizeof(ext));
        res->status = MHSLD_OK;
        res->cxl_rc = MHSLD_CXL_SUCCESS;
        ctl_jadd(o, "extents", extents_json(req));
        add_tag(o, req);
        snprintf(msg, msglen,
                 "would raise a Release Capacity event for %s (no host here: answered OK)", ext);
        return;
    case MHSLD_FM_FORCED:
        extents_text(req, ext, sizeof(ext));
        res->status = MHSLD_OK;
        res->cxl_rc = MHSLD_CXL_SUCCESS;
        ctl_jadd(o, "extents", extents_json(req));
        snprintf(msg, msglen, "the FM took %s away; would raise a Forced Capacity Release event",
                 ext);
        return;
    case MHSLD_FM_MBOX: {
        const mhsld_mbox_cmd_info *info = mhsld_mbox_command(req->opcode);
        struct mbox_events ev;
        mhsld_mbox_ctx ctx;
        size_t out_len = 0;
        int rc;

        memset(&ev, 0, sizeof(ev));
        ev.arr = ctl_jnew(json_object_new_array());
        snprintf(t, sizeof(t), "%04Xh", (unsigned)req->opcode);
        ctl_jadd(o, "opcode", ctl_jnew(json_object_new_string(t)));
        if (req->opcode < 0x5500u || req->opcode > 0x56FFu || req->len > MHSLD_FMQ_PAYLOAD) {
            rc = MHSLD_CXL_UNSUPPORTED;
        } else {
            mhsld_mbox_ctx_init(&ctx, sv->st, sv->h);
            ctx.notify = on_event;
            ctx.notify_opaque = &ev;
            rc = mhsld_mbox_execute(&ctx, req->opcode, req->payload, req->len, res->payload,
                                    sizeof(res->payload), &out_len);
        }
        res->status = MHSLD_OK;
        res->cxl_rc = (uint32_t)rc;
        res->len =
            rc == MHSLD_CXL_SUCCESS && out_len <= sizeof(res->payload) ? (uint32_t)out_len : 0;
        ctl_jadd(o, "cxl_rc", ctl_jnew(json_object_new_int(rc)));
        ctl_jadd(o, "response_len", ctl_jnew(json_object_new_uint64(res->len)));
        ctl_jadd(o, "events", ev.arr);
        snprintf(msg, msglen, "%04Xh %s -> %s, %" PRIu32 "-byte response%s", (unsigned)req->opcode,
                 info != NULL && info->name ? info->name : "(unknown)", mhsld_cxl_rc_name(rc),
                 res->len, ev.text);
        return;
    }
    default:
        res->status = MHSLD_E_INVAL;
        res->cxl_rc = MHSLD_CXL_INVALID_INPUT;
        snprintf(msg, msglen, "unknown request kind %" PRIu32, req->kind);
        return;
    }
}

/* Print one line (flushed): text, or one JSON object. */
static void emit(const struct serve *sv, json_object *o, const char *text)
{
    if (sv->json) {
        const char *s = o != NULL ? json_object_to_json_string_ext(
                                        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
                                  : NULL;
        printf("%s\n", s != NULL && !ctl_json_oom ? s : "{\"error\":\"out of memory\"}");
    } else {
        printf("%s\n", text);
    }
    fflush(stdout);
}

static int serve_loop(const struct cmd *c, struct serve *sv, uint32_t count, uint32_t *served)
{
    mhsld_fm_request *req = malloc(sizeof(*req));
    mhsld_fm_result *res = malloc(sizeof(*res));
    char *msg = malloc(LINE_LEN), *line = malloc(LINE_LEN + 128), t[CTL_ERRLEN];
    int rc = CTL_EXIT_OK;

    if (req == NULL || res == NULL || msg == NULL || line == NULL) {
        rc = ctl_fail(c, CTL_EXIT_IO, "out of memory");
        goto out;
    }
    while (!atomic_load(&sv->stop) && (count == 0 || *served < count)) {
        uint32_t slot = 0;
        json_object *o;
        mhsld_status s = mhsld_fm_take(sv->h, &slot, req);

        if (s == MHSLD_E_NOENT) {
            s = mhsld_fm_wait(sv->h, SERVE_WAIT_MS);
            if (s != MHSLD_OK && s != MHSLD_E_TIMEDOUT) {
                rc = ctl_fail(c, ctl_status_exit(s), "%s: head %" PRIu32 ": waiting: %s", c->state,
                              sv->head, ctl_status_text(s, t, sizeof(t)));
                goto out;
            }
            continue;
        }
        if (s != MHSLD_OK) {
            rc = ctl_fail(c, ctl_status_exit(s), "%s: head %" PRIu32 ": taking a request: %s",
                          c->state, sv->head, ctl_status_text(s, t, sizeof(t)));
            goto out;
        }
        o = ctl_jnew(json_object_new_object());
        ctl_jadd(o, "served", ctl_jnew(json_object_new_string(kind_name(req->kind))));
        ctl_jadd(o, "slot", ctl_jnew(json_object_new_int64(slot)));
        msg[0] = '\0';
        serve_one(sv, req, res, msg, LINE_LEN, o);
        ctl_jadd(o, "status", ctl_jnew(json_object_new_string(mhsld_status_name(res->status))));
        s = mhsld_fm_complete(sv->h, slot, res);
        ctl_jadd(o, "completed", ctl_jnew(json_object_new_string(mhsld_status_name(s))));
        ctl_jadd(o, "message", ctl_jnew(json_object_new_string(msg)));
        snprintf(line, LINE_LEN + 128, "%s slot %" PRIu32 ": %s: %s%s%s", kind_name(req->kind),
                 slot, mhsld_status_name(res->status), msg,
                 s == MHSLD_OK ? "" : "; answer lost: ", s == MHSLD_OK ? "" : mhsld_status_name(s));
        emit(sv, o, line);
        json_object_put(o);
        (*served)++;
    }
out:
    free(req);
    free(res);
    free(msg);
    free(line);
    return rc;
}

int verb_fm_serve(struct cmd *c)
{
    struct serve sv;
    pthread_t tid;
    uint32_t count = 0, served = 0;
    bool by_signal;
    json_object *o;
    char line[128];
    int rc, e;

    memset(&sv, 0, sizeof(sv));
    atomic_init(&sv.stop, false);
    sv.json = ctl_has(c, O_JSON);
    sv.accept = ctl_has(c, O_ACCEPT);
    if ((rc = ctl_opt_head(c, &sv.head)) != 0)
        return rc;
    if (ctl_has(c, O_COUNT) && (rc = ctl_opt_uint(c, O_COUNT, 1, SERVE_COUNT_MAX, &count)) != 0)
        return rc;
    /* Block the stop signals before any thread exists: only the signal
     * thread receives them. */
    sigemptyset(&sv.sigs);
    sigaddset(&sv.sigs, SIGTERM);
    sigaddset(&sv.sigs, SIGINT);
    if ((e = pthread_sigmask(SIG_BLOCK, &sv.sigs, NULL)) != 0)
        return ctl_fail(c, CTL_EXIT_IO, "cannot block signals: %s", strerror(e));
    if ((rc = ctl_open_state(c, MHSLD_OPEN_EXISTING, NULL, &sv.st, NULL)) != 0)
        return rc;
    {
        mhsld_geometry g;
        if ((rc = ctl_check_head_range(c, sv.st, sv.head, &g)) != 0 ||
            (rc = ctl_attach_head(c, sv.st, sv.head, MHSLD_ATTACH_DROP, &sv.h)) != 0) {
            mhsld_close(sv.st);
            return rc;
        }
    }
    if ((e = pthread_create(&tid, NULL, signal_thread, &sv)) != 0) {
        mhsld_detach(sv.h);
        mhsld_close(sv.st);
        return ctl_fail(c, CTL_EXIT_IO, "cannot start the signal thread: %s", strerror(e));
    }
    o = ctl_jnew(json_object_new_object());
    ctl_jadd(o, "ready", ctl_jnew(json_object_new_boolean(1)));
    ctl_jadd(o, "head", ctl_jnew(json_object_new_int64(sv.head)));
    ctl_jadd(o, "epoch", ctl_jnew(json_object_new_uint64(mhsld_head_epoch(sv.h))));
    ctl_jadd(o, "pid", ctl_jnew(json_object_new_int64(getpid())));
    snprintf(line, sizeof(line), "ready head %" PRIu32 " epoch %" PRIu64 " pid %ld", sv.head,
             mhsld_head_epoch(sv.h), (long)getpid());
    emit(&sv, o, line);
    json_object_put(o);

    rc = serve_loop(c, &sv, count, &served);

    /* Stop the signal thread (it may already have stopped on a signal). */
    by_signal = atomic_load(&sv.stop);
    if (!by_signal)
        (void)pthread_kill(tid, SIGTERM);
    (void)pthread_join(tid, NULL);
    mhsld_detach(sv.h);
    mhsld_close(sv.st);
    if (rc != CTL_EXIT_OK)
        return rc;
    o = ctl_jnew(json_object_new_object());
    ctl_jadd(o, "stopped", ctl_jnew(json_object_new_string(by_signal ? "signal" : "count")));
    ctl_jadd(o, "served", ctl_jnew(json_object_new_uint64(served)));
    snprintf(line, sizeof(line), "stopped (%s) after %" PRIu32 " request%s",
             by_signal ? "signal" : "count", served, served == 1 ? "" : "s");
    emit(&sv, o, line);
    json_object_put(o);
    return CTL_EXIT_OK;
}
