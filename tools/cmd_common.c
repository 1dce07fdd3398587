/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * What mhsldctl's verbs share (cmd.h): the options, the one-line messages
 * and exit codes, and opening a state and attaching a head.
 */
#define _POSIX_C_SOURCE 200809L

#include "cmd.h"

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

/* ---- the options ------------------------------------------------------- */

const struct ctl_opt_def ctl_opt_def[O__COUNT] = {
    [O_HELP] = {"help", false},
    [O_CAPACITY] = {"capacity", true},
    [O_BLOCK_SIZE] = {"block-size", true},
    [O_HEADS] = {"heads", true},
    [O_LDS] = {"lds", true},
    [O_BASE] = {"base", true},
    [O_REGIONS] = {"regions", true},
    [O_FORCE] = {"force", false},
    [O_JSON] = {"json", false},
    [O_SVG] = {"svg", true},
    [O_WIDTH] = {"width", true},
    [O_COLOR] = {"color", true},
    [O_HEAD] = {"head", true},
    [O_KEEP] = {"keep", false},
    [O_DROP] = {"drop", false},
    [O_TAG] = {"tag", true},
    [O_GROUP] = {"group", true},
    [O_ALLOW_FOREIGN] = {"allow-foreign", false},
    [O_TIMEOUT] = {"timeout", true},
    [O_COUNT] = {"count", true},
    [O_IN_JSON] = {"in-json", true},
    [O_ACCEPT] = {"accept", false},
};

/* ---- messages and exit codes ------------------------------------------- */

static void vmsg(const struct cmd *c, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void vmsg(const struct cmd *c, const char *fmt, va_list ap)
{
    fprintf(stderr, PROG ": ");
    if (c != NULL && c->v != NULL)
        fprintf(stderr, "%s: ", c->v->name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int ctl_fail(const struct cmd *c, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vmsg(c, fmt, ap);
    va_end(ap);
    return code;
}

int ctl_usage(const struct cmd *c, const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (c != NULL && c->v != NULL)
        return ctl_fail(c, CTL_EXIT_USAGE, "%s (see '" PROG " %s --help')", buf, c->v->name);
    return ctl_fail(c, CTL_EXIT_USAGE, "%s (see '" PROG " --help')", buf);
}

int ctl_status_exit(mhsld_status s)
{
    switch (s) {
    case MHSLD_OK:
        return CTL_EXIT_OK;
    case MHSLD_E_INVAL:
    case MHSLD_E_HEAD:
    case MHSLD_E_ZERO_LEN:
    case MHSLD_E_ALIGN:
    case MHSLD_E_RANGE:
    case MHSLD_E_OVERLAP:
    case MHSLD_E_TOO_MANY:
        return CTL_EXIT_USAGE;
    case MHSLD_E_CONFLICT:
    case MHSLD_E_NOT_OWNER:
    case MHSLD_E_NO_GROUP:
    case MHSLD_E_NOT_IN_GROUP:
    case MHSLD_E_NOSPACE:
    case MHSLD_E_NOT_SHARABLE:
    case MHSLD_E_TAG:
    case MHSLD_E_STALE:
    case MHSLD_E_ALIVE:
    case MHSLD_E_BUSY:
    case MHSLD_E_EXISTS:
    case MHSLD_E_PERM:
    case MHSLD_E_DEAD:
    case MHSLD_E_TIMEDOUT:
        return CTL_EXIT_REFUSED;
    case MHSLD_E_NOENT:
    case MHSLD_E_BAD_MAGIC:
    case MHSLD_E_VERSION:
    case MHSLD_E_ENDIAN:
    case MHSLD_E_TRUNCATED:
    case MHSLD_E_CORRUPT:
    case MHSLD_E_GEOMETRY:
    case MHSLD_E_JOURNAL:
        return CTL_EXIT_STATE;
    default:
        return CTL_EXIT_IO;
    }
}

/* "<strerror> (<NAME>)" and, for I/O errors, the system's reason. */
const char *ctl_status_text(mhsld_status s, char *buf, size_t len)
{
    int e = s == MHSLD_E_IO ? mhsld_last_errno() : 0;

    if (e != 0)
        snprintf(buf, len, "%s: %s (%s)", mhsld_strerror(s), strerror(e), mhsld_status_name(s));
    else
        snprintf(buf, len, "%s (%s)", mhsld_strerror(s), mhsld_status_name(s));
    return buf;
}

static const char *block_state_word(uint32_t state)
{
    switch (state) {
    case MHSLD_BLOCK_FREE:
        return "free";
    case MHSLD_BLOCK_PENDING:
        return "pending for";
    case MHSLD_BLOCK_OWNED:
        return "owned by";
    case MHSLD_BLOCK_SHARED:
        return "shared";
    default:
        return "in an unknown state";
    }
}

/* ": block 0x200000 is owned by head 1" for a conflict record. */
const char *ctl_conflict_text(const mhsld_conflict *k, uint32_t self, char *buf, size_t len)
{
    char d[CTL_FMTLEN];

    ctl_fmt_dpa(k->dpa, d);
    if (k->owner == MHSLD_OWNER_NONE)
        snprintf(buf, len, ": block %s is %s", d,
                 k->state == MHSLD_BLOCK_FREE ? "free" : block_state_word(k->state));
    else if (k->owner == MHSLD_OWNER_SHARED)
        snprintf(buf, len, ": block %s is shared", d);
    else if (k->owner == self)
        snprintf(buf, len, ": block %s is already %s this head", d, block_state_word(k->state));
    else
        snprintf(buf, len, ": block %s is %s head %" PRIu32, d, block_state_word(k->state),
                 k->owner);
    return buf;
}

/* ---- option helpers ---------------------------------------------------- */

bool ctl_has(const struct cmd *c, enum opt_id o)
{
    return c->opt[o] != NULL;
}

int ctl_opt_size(const struct cmd *c, enum opt_id o, uint64_t *v)
{
    char err[CTL_ERRLEN];

    if (!ctl_parse_u64(c->opt[o], true, v, err, sizeof(err)))
        return ctl_usage(c, "--%s: %s", ctl_opt_def[o].name, err);
    return CTL_EXIT_OK;
}

int ctl_opt_uint(const struct cmd *c, enum opt_id o, uint32_t min, uint32_t max, uint32_t *v)
{
    char err[CTL_ERRLEN];

    if (!ctl_parse_uint(c->opt[o], min, max, v, err, sizeof(err)))
        return ctl_usage(c, "--%s: %s", ctl_opt_def[o].name, err);
    return CTL_EXIT_OK;
}

int ctl_opt_head(const struct cmd *c, uint32_t *head)
{
    if (!ctl_has(c, O_HEAD))
        return ctl_usage(c, "--head is required");
    return ctl_opt_uint(c, O_HEAD, 0, MHSLD_MAX_HEADS - 1, head);
}

int ctl_parse_extents(const struct cmd *c, char **args, size_t nargs, mhsld_extent *ext, size_t *n)
{
    char err[CTL_ERRLEN];
    size_t i;

    if (nargs > MHSLD_MAX_EXTENTS)
        return ctl_usage(c, "%zu extents given, at most %u per request", nargs, MHSLD_MAX_EXTENTS);
    for (i = 0; i < nargs; i++)
        if (!ctl_parse_extent(args[i], &ext[i], err, sizeof(err)))
            return ctl_usage(c, "%s", err);
    *n = nargs;
    return CTL_EXIT_OK;
}

/* ---- opening a state and attaching a head ------------------------------ */

/* What to add to a refused open's message. */
const char *ctl_open_hint(mhsld_status s)
{
    return s == MHSLD_E_PERM ? ": another user could rewrite or truncate it under this process "
                               "(--allow-foreign uses it anyway)"
                             : "";
}

int ctl_open_state(const struct cmd *c, uint32_t mode, const mhsld_geometry *g, mhsld_state **st,
                   mhsld_status *status)
{
    mhsld_open_opts o;
    mhsld_status s;
    char t[CTL_ERRLEN];

    memset(&o, 0, sizeof(o));
    o.size = sizeof(o);
    o.mode = mode;
    o.path = c->state;
    o.geometry = g;
    if (ctl_has(c, O_ALLOW_FOREIGN))
        o.flags |= MHSLD_OPEN_F_ALLOW_FOREIGN;
    s = mhsld_open(&o, st);
    if (status != NULL)
        *status = s;
    if (s != MHSLD_OK) {
        *st = NULL;
        if (status != NULL)
            return ctl_status_exit(s); /* the caller words the message */
        return ctl_fail(c, ctl_status_exit(s), "%s: %s%s", c->state,
                        ctl_status_text(s, t, sizeof(t)), ctl_open_hint(s));
    }
    return CTL_EXIT_OK;
}

int ctl_check_head_range(const struct cmd *c, mhsld_state *st, uint32_t head, mhsld_geometry *g)
{
    mhsld_status s = mhsld_get_geometry(st, g);
    char t[CTL_ERRLEN];

    if (s != MHSLD_OK)
        return ctl_fail(c, ctl_status_exit(s), "%s: %s", c->state,
                        ctl_status_text(s, t, sizeof(t)));
    if (head >= g->nr_heads)
        return ctl_usage(
            c, "head %" PRIu32 " does not exist: %s has %" PRIu32 " heads (0..%" PRIu32 ")", head,
            c->state, g->nr_heads, g->nr_heads - 1);
    return CTL_EXIT_OK;
}

int ctl_refused_alive(const struct cmd *c, mhsld_state *st, uint32_t head, mhsld_status s,
                      const char *hint)
{
    mhsld_head_info hi;

    if (mhsld_head_info_get(st, head, &hi) == MHSLD_OK && hi.pid != 0)
        return ctl_fail(c, CTL_EXIT_REFUSED,
                        "%s: head %" PRIu32 " is attached by a live process (pid %" PRIu32
                        ")%s (%s)",
                        c->state, head, hi.pid, hint, mhsld_status_name(s));
    return ctl_fail(c, CTL_EXIT_REFUSED,
                    "%s: head %" PRIu32 " is attached by a live process%s (%s)", c->state, head,
                    hint, mhsld_status_name(s));
}

int ctl_attach_head(const struct cmd *c, mhsld_state *st, uint32_t head, uint32_t flags,
                    mhsld_head **h)
{
    mhsld_status s = mhsld_attach(st, head, flags, h);
    char t[CTL_ERRLEN];

    if (s == MHSLD_E_ALIVE)
        return ctl_refused_alive(c, st, head, s, "");
    if (s != MHSLD_OK)
        return ctl_fail(c, ctl_status_exit(s), "%s: cannot attach head %" PRIu32 ": %s", c->state,
                        head, ctl_status_text(s, t, sizeof(t)));
    return CTL_EXIT_OK;
}
bool ctl_json_oom;

json_object *ctl_jnew(json_object *o)
{
    if (o == NULL)
        ctl_json_oom = true;
    return o;
}

void ctl_jadd(json_object *obj, const char *key, json_object *val)
{
    if (obj == NULL || val == NULL || json_object_object_add(obj, key, val) != 0) {
        ctl_json_oom = true;
        json_object_put(val);
    }
}

void ctl_jpush(json_object *arr, json_object *val)
{
    if (arr == NULL || val == NULL || json_object_array_add(arr, val) != 0) {
        ctl_json_oom = true;
        json_object_put(val);
    }
}

void ctl_jnull(json_object *obj, const char *key)
{
    if (obj == NULL || json_object_object_add(obj, key, NULL) != 0)
        ctl_json_oom = true;
}

int ctl_jprint(const struct cmd *c, json_object *o, int flags)
{
    const char *text =
        o != NULL ? json_object_to_json_string_ext(o, flags | JSON_C_TO_STRING_NOSLASHESCAPE)
                  : NULL;
    int rc = CTL_EXIT_OK;
    if (ctl_json_oom || text == NULL)
        rc = ctl_fail(c, CTL_EXIT_IO, "%s: out of memory while building JSON", c->state);
    else
        printf("%s\n", text);
    json_object_put(o);
    return rc;
}

void ctl_jconflict(json_object *obj, const mhsld_conflict *c)
{
    if (c == NULL) {
        ctl_jnull(obj, "conflict");
        return;
    }
    json_object *k = ctl_jnew(json_object_new_object());
    ctl_jadd(k, "dpa", ctl_jnew(json_object_new_uint64(c->dpa)));
    if (c->owner == MHSLD_OWNER_NONE)
        ctl_jnull(k, "owner");
    else if (c->owner == MHSLD_OWNER_SHARED)
        ctl_jadd(k, "owner", ctl_jnew(json_object_new_string("shared")));
    else
        ctl_jadd(k, "owner", ctl_jnew(json_object_new_int64(c->owner)));
    ctl_jadd(k, "state", ctl_jnew(json_object_new_int64(c->state)));
    ctl_jadd(obj, "conflict", k);
}
