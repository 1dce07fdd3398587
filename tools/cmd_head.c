/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mhsldctl's head verbs: reserve, commit, claim, release, check, share-add
 * and share-release, each in one attach of the head (MHSLD_ATTACH_KEEP), and
 * `session`, which keeps the head attached while it runs commands read
 * from stdin (for tests and scripts; the test build adds `crash K CMD`).
 */
#define _POSIX_C_SOURCE 200809L

#include "cmd.h"

#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef MHSLD_CTL_TESTING
#include "mhsld/testing.h"
#endif

/* ---- head operations (shared by the head verbs and `session`) ---------- */

struct op_args {
    mhsld_extent ext[MHSLD_MAX_EXTENTS];
    size_t n;
    bool have_group;
    uint64_t group;
    uint8_t tag[MHSLD_TAG_SIZE];
    bool ok[MHSLD_MAX_EXTENTS]; /* check: per extent */
    mhsld_status status;        /* claim: the engine's answer (for --json) */
    mhsld_conflict conflict;
};

/* An operation writes its result (one line, no newline) to out, or its
 * failure (one line) to err, and returns a CTL_EXIT_* code. */
typedef int (*head_op)(mhsld_head *h, struct op_args *a, char *out, size_t outlen, char *err,
                       size_t errlen);

static uint64_t sum_len(const mhsld_extent *e, size_t n)
{
    uint64_t s = 0;
    size_t i;

    for (i = 0; i < n; i++)
        s += e[i].len;
    return s;
}

static int op_error(mhsld_status s, const mhsld_conflict *k, uint32_t self, char *err,
                    size_t errlen)
{
    char t[CTL_ERRLEN], d[CTL_ERRLEN] = "";

    if (k != NULL && (s == MHSLD_E_CONFLICT || s == MHSLD_E_NOT_OWNER))
        ctl_conflict_text(k, self, d, sizeof(d));
    snprintf(err, errlen, "%s%s", ctl_status_text(s, t, sizeof(t)), d);
    return ctl_status_exit(s);
}

static int op_reserve(mhsld_head *h, struct op_args *a, char *out, size_t outlen, char *err,
                      size_t errlen)
{
    mhsld_conflict k = {0, MHSLD_OWNER_NONE, MHSLD_BLOCK_FREE};
    uint64_t group = 0;
    mhsld_status s = mhsld_reserve(h, a->ext, a->n, &group, &k);

    if (s != MHSLD_OK)
        return op_error(s, &k, mhsld_head_index(h), err, errlen);
    snprintf(out, outlen, "%" PRIu64, group);
    return CTL_EXIT_OK;
}

static int op_commit(mhsld_head *h, struct op_args *a, char *out, size_t outlen, char *err,
                     size_t errlen)
{
    mhsld_extent pend[MHSLD_MAX_EXTENTS];
    uint64_t group = a->group, total, acc;
    size_t np = 0;
    mhsld_status s;
    char x[CTL_FMTLEN], y[CTL_FMTLEN];

    if (!a->have_group) {
        s = mhsld_pending_oldest(h, &group);
        if (s == MHSLD_E_NO_GROUP) {
            snprintf(err, errlen, "head %" PRIu32 " has no pending reservation (%s)",
                     mhsld_head_index(h), mhsld_status_name(s));
            return CTL_EXIT_REFUSED;
        }
        if (s != MHSLD_OK)
            return op_error(s, NULL, 0, err, errlen);
    }
    s = mhsld_pending_get(h, group, pend, MHSLD_MAX_EXTENTS, &np);
    if (s != MHSLD_OK)
        return op_error(s, NULL, 0, err, errlen);
    if (np > MHSLD_MAX_EXTENTS)
        np = MHSLD_MAX_EXTENTS;
    s = mhsld_commit(h, group, a->ext, a->n);
    if (s != MHSLD_OK)
        return op_error(s, NULL, 0, err, errlen);
    total = sum_len(pend, np);
    acc = sum_len(a->ext, a->n);
    snprintf(out, outlen, "group %" PRIu64 ": accepted %s, returned %s to free", group,
             ctl_fmt_len(acc, x), ctl_fmt_len(total >= acc ? total - acc : 0, y));
    return CTL_EXIT_OK;
}

static int op_claim(mhsld_head *h, struct op_args *a, char *out, size_t outlen, char *err,
                    size_t errlen)
{
    char x[CTL_FMTLEN];

    a->conflict = (mhsld_conflict){0, MHSLD_OWNER_NONE, MHSLD_BLOCK_FREE};
    a->status = mhsld_claim(h, a->ext, a->n, &a->conflict);
    if (a->status != MHSLD_OK)
        return op_error(a->status, &a->conflict, mhsld_head_index(h), err, errlen);
    snprintf(out, outlen, "claimed %s", ctl_fmt_len(sum_len(a->ext, a->n), x));
    return CTL_EXIT_OK;
}

static int op_release(mhsld_head *h, struct op_args *a, char *out, size_t outlen, char *err,
                      size_t errlen)
{
    mhsld_conflict k = {0, MHSLD_OWNER_NONE, MHSLD_BLOCK_FREE};
    mhsld_status s = mhsld_release(h, a->ext, a->n, &k);
    char x[CTL_FMTLEN];

    if (s != MHSLD_OK)
        return op_error(s, &k, mhsld_head_index(h), err, errlen);
    snprintf(out, outlen, "released %s", ctl_fmt_len(sum_len(a->ext, a->n), x));
    return CTL_EXIT_OK;
}

static int op_release_all(mhsld_head *h, struct op_args *a, char *out, size_t outlen, char *err,
                          size_t errlen)
{
    uint64_t freed = 0;
    mhsld_status s = mhsld_release_all(h, &freed);

    (void)a;
    if (s != MHSLD_OK)
        return op_error(s, NULL, 0, err, errlen);
    snprintf(out, outlen, "freed %" PRIu64 " blocks", freed);
    return CTL_EXIT_OK;
}

static int op_check(mhsld_head *h, struct op_args *a, char *out, size_t outlen, char *err,
                    size_t errlen)
{
    size_t i, o = 0;
    bool all = true;

    (void)err;
    (void)errlen;
    out[0] = '\0';
    for (i = 0; i < a->n; i++) {
        a->ok[i] = mhsld_access_ok(h, a->ext[i].dpa, a->ext[i].len);
        all = all && a->ok[i];
        if (o < outlen) {
            int w = snprintf(out + o, outlen - o, "%s%s", i ? " " : "", a->ok[i] ? "yes" : "no");
            o += w > 0 ? (size_t)w : 0;
        }
    }
    return all ? CTL_EXIT_OK : CTL_EXIT_FALSE;
}

static int op_share_add(mhsld_head *h, struct op_args *a, char *out, size_t outlen, char *err,
                        size_t errlen)
{
    mhsld_conflict k = {0, MHSLD_OWNER_NONE, MHSLD_BLOCK_FREE};
    mhsld_status s = mhsld_share_add(h, &a->ext[0], a->tag, &k);
    char x[CTL_FMTLEN], y[CTL_FMTLEN];

    if (s != MHSLD_OK)
        return op_error(s, &k, mhsld_head_index(h), err, errlen);
    snprintf(out, outlen, "head %" PRIu32 " shares %s (tag %s)", mhsld_head_index(h),
             ctl_fmt_extent(&a->ext[0], x), ctl_fmt_tag(a->tag, y));
    return CTL_EXIT_OK;
}

static int op_share_release(mhsld_head *h, struct op_args *a, char *out, size_t outlen, char *err,
                            size_t errlen)
{
    mhsld_status s = mhsld_share_release(h, &a->ext[0]);
    char x[CTL_FMTLEN];

    if (s != MHSLD_OK)
        return op_error(s, NULL, 0, err, errlen);
    snprintf(out, outlen, "head %" PRIu32 " left %s", mhsld_head_index(h),
             ctl_fmt_extent(&a->ext[0], x));
    return CTL_EXIT_OK;
}

/* ---- the head verbs ---------------------------------------------------- */

/* claim --json: once the engine has answered the claim, one object on stdout
 * whatever the answer (and a failure's line on stderr), as the FM verbs do:
 *   {"verb", "head", "status", "extents" [{"dpa", "length"}], "bytes",
 *    "conflict" ({"dpa", "owner" (head, "shared" or null), "state"} or null),
 *    "message"}
 * Failures before the claim (the state, the head, its attach) are the
 * usual one line. */
static int claim_json(const struct cmd *c, uint32_t head, const struct op_args *a, int rc,
                      const char *msg)
{
    json_object *o = ctl_jnew(json_object_new_object()), *ex = ctl_jnew(json_object_new_array());
    size_t i;

    ctl_jadd(o, "verb", ctl_jnew(json_object_new_string(c->v->name)));
    ctl_jadd(o, "head", ctl_jnew(json_object_new_int64(head)));
    ctl_jadd(o, "status", ctl_jnew(json_object_new_string(mhsld_status_name(a->status))));
    for (i = 0; i < a->n; i++) {
        json_object *e = ctl_jnew(json_object_new_object());
        ctl_jadd(e, "dpa", ctl_jnew(json_object_new_uint64(a->ext[i].dpa)));
        ctl_jadd(e, "length", ctl_jnew(json_object_new_uint64(a->ext[i].len)));
        ctl_jpush(ex, e);
    }
    ctl_jadd(o, "extents", ex);
    ctl_jadd(o, "bytes", ctl_jnew(json_object_new_uint64(sum_len(a->ext, a->n))));
    ctl_jconflict(o, a->status == MHSLD_E_CONFLICT ? &a->conflict : NULL);
    ctl_jadd(o, "message", ctl_jnew(json_object_new_string(msg)));
    int prc = ctl_jprint(c, o, JSON_C_TO_STRING_PLAIN);
    if (prc != CTL_EXIT_OK)
        return prc;
    if (rc != CTL_EXIT_OK)
        return ctl_fail(c, rc, "%s: head %" PRIu32 ": %s", c->state, head, msg);
    return rc;
}

static int run_head_verb(struct cmd *c, head_op op, struct op_args *a)
{
    char out[1024] = "", err[512] = "";
    mhsld_geometry g;
    mhsld_state *st;
    mhsld_head *h = NULL;
    uint32_t head;
    int rc;

    if ((rc = ctl_opt_head(c, &head)) != 0)
        return rc;
    if ((rc = ctl_open_state(c, MHSLD_OPEN_EXISTING, NULL, &st, NULL)) != 0)
        return rc;
    if ((rc = ctl_check_head_range(c, st, head, &g)) != 0) {
        mhsld_close(st);
        return rc;
    }
    if (op == op_check) { /* read-only: no attach, so it works on a head a QEMU holds */
        size_t i;
        char e[CTL_FMTLEN];
        rc = CTL_EXIT_OK;
        for (i = 0; i < a->n; i++) {
            a->ok[i] = mhsld_access_check(st, head, a->ext[i].dpa, a->ext[i].len);
            if (!a->ok[i])
                rc = CTL_EXIT_FALSE;
            printf("%s %s\n", ctl_fmt_extent(&a->ext[i], e),
                   a->ok[i] ? "accessible" : "not accessible");
        }
        mhsld_close(st);
        return rc;
    }
    if ((rc = ctl_attach_head(c, st, head, MHSLD_ATTACH_KEEP, &h)) != 0) {
        mhsld_close(st);
        return rc;
    }
    rc = op(h, a, out, sizeof(out), err, sizeof(err));
    mhsld_detach(h);
    mhsld_close(st);
    if (op == op_claim && ctl_has(c, O_JSON))
        return claim_json(c, head, a, rc, rc == CTL_EXIT_OK ? out : err);
    if (rc != CTL_EXIT_OK)
        return ctl_fail(c, rc, "%s: head %" PRIu32 ": %s", c->state, head, err);
    printf("%s\n", out);
    return CTL_EXIT_OK;
}

static struct op_args *new_args(const struct cmd *c, int *rc)
{
    struct op_args *a = calloc(1, sizeof(*a));

    if (a == NULL) {
        *rc = ctl_fail(c, CTL_EXIT_IO, "out of memory");
        return NULL;
    }
    *rc = ctl_parse_extents(c, c->pos, c->npos, a->ext, &a->n);
    if (*rc != CTL_EXIT_OK) {
        free(a);
        return NULL;
    }
    return a;
}

static int head_verb(struct cmd *c, head_op op)
{
    int rc;
    struct op_args *a = new_args(c, &rc);

    if (a == NULL)
        return rc;
    if (op == op_commit && ctl_has(c, O_GROUP)) {
        char err[CTL_ERRLEN];
        bool parsed = ctl_parse_u64(c->opt[O_GROUP], false, &a->group, err, sizeof(err));
        if (!parsed || a->group == 0) {
            free(a);
            return ctl_usage(c, "--group: %s", parsed ? "must not be zero" : err);
        }
        a->have_group = true;
    }
    if (op == op_share_add) {
        char err[CTL_ERRLEN];
        if (!ctl_has(c, O_TAG)) {
            free(a);
            return ctl_usage(c, "--tag is required");
        }
        if (!ctl_parse_tag(c->opt[O_TAG], a->tag, err, sizeof(err))) {
            free(a);
            return ctl_usage(c, "--tag: %s", err);
        }
    }
    rc = run_head_verb(c, op, a);
    free(a);
    return rc;
}

int verb_reserve(struct cmd *c)
{
    return head_verb(c, op_reserve);
}
int verb_commit(struct cmd *c)
{
    return head_verb(c, op_commit);
}
int verb_claim(struct cmd *c)
{
    return head_verb(c, op_claim);
}
int verb_release(struct cmd *c)
{
    return head_verb(c, op_release);
}
int verb_check(struct cmd *c)
{
    return head_verb(c, op_check);
}
int verb_share_add(struct cmd *c)
{
    return head_verb(c, op_share_add);
}
int verb_share_release(struct cmd *c)
{
    return head_verb(c, op_share_release);
}

/* ---- session ----------------------------------------------------------- */

#ifdef MHSLD_CTL_TESTING
static void crash_now(void *arg)
{
    (void)arg;
    fflush(stdout);
    raise(SIGKILL);
}
#endif

#define SESSION_LINE 8192u
#define SESSION_TOKENS (MHSLD_MAX_EXTENTS + 8u)

static void reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void reply(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

/* One session command: tok[0] is the command, tok[1..n-1] its arguments. */
static void session_command(mhsld_head *h, char **tok, size_t n, struct op_args *a)
{
    static const struct {
        const char *name;
        head_op op;
        size_t min, max; /* extents */
    } cmds[] = {
        {"reserve", op_reserve, 1, MHSLD_MAX_EXTENTS},
        {"commit", op_commit, 0, MHSLD_MAX_EXTENTS},
        {"claim", op_claim, 1, MHSLD_MAX_EXTENTS},
        {"release", op_release, 1, MHSLD_MAX_EXTENTS},
        {"release-all", op_release_all, 0, 0},
        {"check", op_check, 1, MHSLD_MAX_EXTENTS},
        {"share-add", op_share_add, 1, 1},
        {"share-release", op_share_release, 1, 1},
    };
    char out[1024] = "", err[512] = "";
    size_t i, first = 1;
    int rc;
#ifdef MHSLD_CTL_TESTING
    uint64_t crash_at = 0;

    if (strcmp(tok[0], "crash") == 0) {
        if (n < 3 || !ctl_parse_u64(tok[1], false, &crash_at, err, sizeof(err)) || crash_at == 0) {
            reply("err usage crash K COMMAND [ARGS...] (K >= 1)");
            return;
        }
        tok += 2;
        n -= 2;
    }
#endif
    for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        if (strcmp(tok[0], cmds[i].name) == 0)
            break;
    if (i == sizeof(cmds) / sizeof(cmds[0])) {
        reply("err usage unknown command '%s'", tok[0]);
        return;
    }
    memset(a, 0, sizeof(*a));
    if (cmds[i].op == op_share_add) {
        if (n < 2 || !ctl_parse_tag(tok[1], a->tag, err, sizeof(err))) {
            reply("err usage share-add TAG EXTENT: %s", n < 2 ? "no tag" : err);
            return;
        }
        first = 2;
    }
    if (n - first < cmds[i].min || n - first > cmds[i].max) {
        reply("err usage %s takes %zu to %zu extents", cmds[i].name, cmds[i].min, cmds[i].max);
        return;
    }
    for (a->n = 0; first + a->n < n; a->n++) {
        if (!ctl_parse_extent(tok[first + a->n], &a->ext[a->n], err, sizeof(err))) {
            reply("err usage %s", err);
            return;
        }
    }
#ifdef MHSLD_CTL_TESTING
    if (crash_at != 0) {
        uint64_t steps;
        mhsld_test_crash_at(crash_at, crash_now, NULL);
        rc = cmds[i].op(h, a, out, sizeof(out), err, sizeof(err));
        steps = mhsld_test_steps();
        mhsld_test_crash_at(0, NULL, NULL);
        if (rc == CTL_EXIT_OK || rc == CTL_EXIT_FALSE)
            reply("nocrash %" PRIu64 " ok %s", steps, out);
        else
            reply("nocrash %" PRIu64 " err %d %s", steps, rc, err);
        return;
    }
#endif
    rc = cmds[i].op(h, a, out, sizeof(out), err, sizeof(err));
    if (rc == CTL_EXIT_OK || rc == CTL_EXIT_FALSE)
        reply("ok %s", out);
    else
        reply("err %d %s", rc, err);
}

int verb_session(struct cmd *c)
{
    char *line = NULL, *tok[SESSION_TOKENS];
    struct op_args *a = NULL;
    mhsld_geometry g;
    mhsld_state *st;
    mhsld_head *h = NULL;
    uint32_t head;
    int rc;

    if ((rc = ctl_opt_head(c, &head)) != 0)
        return rc;
    if (ctl_has(c, O_KEEP) && ctl_has(c, O_DROP))
        return ctl_usage(c, "--keep and --drop exclude each other");
    line = malloc(SESSION_LINE);
    a = malloc(sizeof(*a));
    if (line == NULL || a == NULL) {
        free(line);
        free(a);
        return ctl_fail(c, CTL_EXIT_IO, "out of memory");
    }
    if ((rc = ctl_open_state(c, MHSLD_OPEN_EXISTING, NULL, &st, NULL)) != 0)
        goto out;
    if ((rc = ctl_check_head_range(c, st, head, &g)) != 0 ||
        (rc = ctl_attach_head(
             c, st, head, ctl_has(c, O_DROP) ? MHSLD_ATTACH_DROP : MHSLD_ATTACH_KEEP, &h)) != 0) {
        mhsld_close(st);
        goto out;
    }
    reply("ready head %" PRIu32 " epoch %" PRIu64 " pid %ld", head, mhsld_head_epoch(h),
          (long)getpid());
    while (fgets(line, (int)SESSION_LINE, stdin) != NULL) {
        size_t n = 0, len = strlen(line);
        char *save = NULL, *t;

        if (len > 0 && line[len - 1] != '\n' && !feof(stdin)) {
            int ch;
            while ((ch = getchar()) != EOF && ch != '\n')
                ;
            reply("err usage line longer than %u bytes", SESSION_LINE - 1);
            continue;
        }
        for (t = strtok_r(line, " \t\r\n", &save); t != NULL && n < SESSION_TOKENS;
             t = strtok_r(NULL, " \t\r\n", &save))
            tok[n++] = t;
        if (n == 0)
            continue;
        if (t != NULL) {
            reply("err usage too many arguments");
            continue;
        }
        if (strcmp(tok[0], "quit") == 0)
            break;
        session_command(h, tok, n, a);
    }
    mhsld_detach(h);
    mhsld_close(st);
    rc = CTL_EXIT_OK;
out:
    free(line);
    free(a);
    return rc;
}
