/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mhsldctl: create, inspect, verify, recover and draw an mhsld shared state,
 * and drive a head's ownership operations from the shell.
 *
 * Everything goes through the public API (mhsld/mhsld.h).  The tool holds no
 * ownership logic: a verb parses and checks its whole command line first
 * (bad input changes nothing), opens the state, and calls the engine; the
 * engine's status becomes a one-line message on stderr and an exit code:
 *
 *   0 ok   1 check false / verify unhealthy   2 usage or invalid request
 *   3 refused (conflict, not owner, head alive, state exists, state file not
 *     private to this user, ...)
 *   4 state absent, corrupt, not an mhsld state or mismatched
 *   5 other I/O errors, and the state file truncated while in use (SIGBUS)
 *
 * The head verbs (reserve, commit, release, check, share-add, share-release)
 * attach their head with MHSLD_ATTACH_KEEP for the duration of the command
 * and detach afterwards, so the head keeps its capacity between commands
 * and a head attached by a live process (a QEMU instance) is refused with
 * MHSLD_E_ALIVE instead of being disturbed.
 *
 * `session` (for tests and scripts) attaches a head and keeps it attached
 * while it reads commands from stdin, one per line; the test build of the
 * tool (linked with libmhsld_testing) adds `crash K COMMAND`, which kills
 * the process with SIGKILL just before the engine's K-th atomic step.
 */
#define _POSIX_C_SOURCE 200809L

#include "ctl.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#ifdef MHSLD_CTL_TESTING
#include "mhsld/testing.h"
#endif

#ifndef MHSLD_CTL_VERSION
#define MHSLD_CTL_VERSION "unknown"
#endif

#define PROG "mhsldctl"

/* ---- the command line -------------------------------------------------- */

enum opt_id {
    O_HELP,
    O_CAPACITY,
    O_BLOCK_SIZE,
    O_HEADS,
    O_LDS,
    O_BASE,
    O_REGIONS,
    O_FORCE,
    O_JSON,
    O_SVG,
    O_WIDTH,
    O_COLOR,
    O_HEAD,
    O_KEEP,
    O_DROP,
    O_TAG,
    O_GROUP,
    O_ALLOW_FOREIGN,
    O__COUNT
};

static const struct {
    const char *name;
    bool arg;
} opt_def[O__COUNT] = {
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
};

#define B(o) (1u << (o))

struct cmd;
typedef int (*verb_fn)(struct cmd *c);

struct verb {
    const char *name;
    verb_fn fn;
    uint32_t opts;    /* accepted options (B(O_*)) */
    unsigned min_pos; /* positional arguments after STATE */
    unsigned max_pos;
    bool hidden;          /* not listed by `mhsldctl --help` */
    const char *synopsis; /* after "mhsldctl NAME " */
    const char *summary;  /* one line */
    const char *help;     /* the rest of `mhsldctl NAME --help` */
};

struct cmd {
    const struct verb *v;
    const char *state;
    const char *opt[O__COUNT]; /* value, "" for a flag, NULL when absent */
    char **pos;
    size_t npos;
    char **pos_alloc; /* what parse_cmd() allocated, for free() */
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

static int fail(const struct cmd *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(const struct cmd *c, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vmsg(c, fmt, ap);
    va_end(ap);
    return code;
}

static int usage(const struct cmd *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage(const struct cmd *c, const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (c != NULL && c->v != NULL)
        return fail(c, CTL_EXIT_USAGE, "%s (see '" PROG " %s --help')", buf, c->v->name);
    return fail(c, CTL_EXIT_USAGE, "%s (see '" PROG " --help')", buf);
}

static int status_exit(mhsld_status s)
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
static const char *status_text(mhsld_status s, char *buf, size_t len)
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
static const char *conflict_text(const mhsld_conflict *k, uint32_t self, char *buf, size_t len)
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

static bool has(const struct cmd *c, enum opt_id o)
{
    return c->opt[o] != NULL;
}

static int opt_size(const struct cmd *c, enum opt_id o, uint64_t *v)
{
    char err[CTL_ERRLEN];

    if (!ctl_parse_u64(c->opt[o], true, v, err, sizeof(err)))
        return usage(c, "--%s: %s", opt_def[o].name, err);
    return CTL_EXIT_OK;
}

static int opt_uint(const struct cmd *c, enum opt_id o, uint32_t min, uint32_t max, uint32_t *v)
{
    char err[CTL_ERRLEN];

    if (!ctl_parse_uint(c->opt[o], min, max, v, err, sizeof(err)))
        return usage(c, "--%s: %s", opt_def[o].name, err);
    return CTL_EXIT_OK;
}

static int opt_head(const struct cmd *c, uint32_t *head)
{
    if (!has(c, O_HEAD))
        return usage(c, "--head is required");
    return opt_uint(c, O_HEAD, 0, MHSLD_MAX_HEADS - 1, head);
}

static int parse_extents(const struct cmd *c, char **args, size_t nargs, mhsld_extent *ext,
                         size_t *n)
{
    char err[CTL_ERRLEN];
    size_t i;

    if (nargs > MHSLD_MAX_EXTENTS)
        return usage(c, "%zu extents given, at most %u per request", nargs, MHSLD_MAX_EXTENTS);
    for (i = 0; i < nargs; i++)
        if (!ctl_parse_extent(args[i], &ext[i], err, sizeof(err)))
            return usage(c, "%s", err);
    *n = nargs;
    return CTL_EXIT_OK;
}

/* ---- opening a state and attaching a head ------------------------------ */

/* What to add to a refused open's message. */
static const char *open_hint(mhsld_status s)
{
    return s == MHSLD_E_PERM ? ": another user could rewrite or truncate it under this process "
                               "(--allow-foreign uses it anyway)"
                             : "";
}

static int open_state(const struct cmd *c, uint32_t mode, const mhsld_geometry *g, mhsld_state **st,
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
    if (has(c, O_ALLOW_FOREIGN))
        o.flags |= MHSLD_OPEN_F_ALLOW_FOREIGN;
    s = mhsld_open(&o, st);
    if (status != NULL)
        *status = s;
    if (s != MHSLD_OK) {
        *st = NULL;
        if (status != NULL)
            return status_exit(s); /* the caller words the message */
        return fail(c, status_exit(s), "%s: %s%s", c->state, status_text(s, t, sizeof(t)),
                    open_hint(s));
    }
    return CTL_EXIT_OK;
}

static int check_head_range(const struct cmd *c, mhsld_state *st, uint32_t head, mhsld_geometry *g)
{
    mhsld_status s = mhsld_get_geometry(st, g);
    char t[CTL_ERRLEN];

    if (s != MHSLD_OK)
        return fail(c, status_exit(s), "%s: %s", c->state, status_text(s, t, sizeof(t)));
    if (head >= g->nr_heads)
        return usage(c,
                     "head %" PRIu32 " does not exist: %s has %" PRIu32 " heads (0..%" PRIu32 ")",
                     head, c->state, g->nr_heads, g->nr_heads - 1);
    return CTL_EXIT_OK;
}

static int refused_alive(const struct cmd *c, mhsld_state *st, uint32_t head, mhsld_status s,
                         const char *hint)
{
    mhsld_head_info hi;

    if (mhsld_head_info_get(st, head, &hi) == MHSLD_OK && hi.pid != 0)
        return fail(c, CTL_EXIT_REFUSED,
                    "%s: head %" PRIu32 " is attached by a live process (pid %" PRIu32 ")%s (%s)",
                    c->state, head, hi.pid, hint, mhsld_status_name(s));
    return fail(c, CTL_EXIT_REFUSED, "%s: head %" PRIu32 " is attached by a live process%s (%s)",
                c->state, head, hint, mhsld_status_name(s));
}

static int attach_head(const struct cmd *c, mhsld_state *st, uint32_t head, uint32_t flags,
                       mhsld_head **h)
{
    mhsld_status s = mhsld_attach(st, head, flags, h);
    char t[CTL_ERRLEN];

    if (s == MHSLD_E_ALIVE)
        return refused_alive(c, st, head, s, "");
    if (s != MHSLD_OK)
        return fail(c, status_exit(s), "%s: cannot attach head %" PRIu32 ": %s", c->state, head,
                    status_text(s, t, sizeof(t)));
    return CTL_EXIT_OK;
}

/* ---- head operations (shared by the head verbs and `session`) ---------- */

struct op_args {
    mhsld_extent ext[MHSLD_MAX_EXTENTS];
    size_t n;
    bool have_group;
    uint64_t group;
    uint8_t tag[MHSLD_TAG_SIZE];
    bool ok[MHSLD_MAX_EXTENTS]; /* check: per extent */
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
        conflict_text(k, self, d, sizeof(d));
    snprintf(err, errlen, "%s%s", status_text(s, t, sizeof(t)), d);
    return status_exit(s);
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

/* ---- verbs ------------------------------------------------------------- */

static int verb_create(struct cmd *c)
{
    mhsld_geometry g;
    mhsld_region regions[MHSLD_MAX_REGIONS];
    uint32_t nregions = 1, heads = 2, lds, i;
    uint64_t capacity = 0, bs = MHSLD_MIN_BLOCK_SIZE, base = 0, total = 0, nblocks = 0;
    char err[CTL_ERRLEN], a[CTL_FMTLEN], b[CTL_FMTLEN], t[CTL_ERRLEN];
    mhsld_state *st = NULL;
    mhsld_status s;
    int rc;

    if (!has(c, O_CAPACITY) && !has(c, O_REGIONS))
        return usage(c, "--capacity (or --regions) is required");
    if (has(c, O_CAPACITY) && (rc = opt_size(c, O_CAPACITY, &capacity)) != 0)
        return rc;
    if (has(c, O_CAPACITY) && capacity == 0)
        return usage(c, "--capacity: must not be zero");
    if (has(c, O_BLOCK_SIZE) && (rc = opt_size(c, O_BLOCK_SIZE, &bs)) != 0)
        return rc;
    if (bs < MHSLD_MIN_BLOCK_SIZE || bs > MHSLD_MAX_BLOCK_SIZE || (bs & (bs - 1)) != 0)
        return usage(c, "--block-size: %s is not a power of two from %s to %s",
                     c->opt[O_BLOCK_SIZE], ctl_fmt_len(MHSLD_MIN_BLOCK_SIZE, a),
                     ctl_fmt_len(MHSLD_MAX_BLOCK_SIZE, b));
    if (has(c, O_HEADS) && (rc = opt_uint(c, O_HEADS, 1, MHSLD_MAX_HEADS, &heads)) != 0)
        return rc;
    lds = heads;
    if (has(c, O_LDS) && (rc = opt_uint(c, O_LDS, 1, MHSLD_MAX_LDS, &lds)) != 0)
        return rc;
    if (has(c, O_BASE) && has(c, O_REGIONS))
        return usage(c, "--base and --regions exclude each other (regions carry their bases)");
    if (has(c, O_BASE) && (rc = opt_size(c, O_BASE, &base)) != 0)
        return rc;
    if (has(c, O_REGIONS)) {
        if (!ctl_parse_regions(c->opt[O_REGIONS], regions, &nregions, err, sizeof(err)))
            return usage(c, "--regions: %s", err);
        for (i = 0; i < nregions; i++)
            total += regions[i].len;
        if (has(c, O_CAPACITY) && capacity != total)
            return usage(c, "--capacity %s differs from the regions' total %s", c->opt[O_CAPACITY],
                         ctl_fmt_len(total, a));
    } else {
        if (base > UINT64_MAX - capacity)
            return usage(c, "--base + --capacity run past the 64-bit address space");
        regions[0].base = base;
        regions[0].len = capacity;
        regions[0].flags = 0;
        regions[0].dsmad_handle = 0;
        total = capacity;
    }
    mhsld_geometry_init(&g, heads, bs, regions[0].base, regions[0].len);
    g.size = sizeof(g);
    g.nr_lds = lds;
    for (i = 0; i < MHSLD_MAX_LDS; i++)
        g.ld_map[i] = (uint8_t)(i < lds && i < heads ? i : MHSLD_LD_UNASSIGNED);
    g.nr_regions = nregions;
    memset(g.regions, 0, sizeof(g.regions));
    memcpy(g.regions, regions, sizeof(regions[0]) * nregions);
    for (i = 0; i < nregions; i++) {
        if (regions[i].base % bs != 0 || regions[i].len % bs != 0)
            return usage(c, "region %" PRIu32 " (%s+%s) is not aligned to the block size %s", i,
                         ctl_fmt_dpa(regions[i].base, a), ctl_fmt_len(regions[i].len, b),
                         ctl_fmt_len(bs, err));
        nblocks += regions[i].len / bs;
    }
    if (nblocks > MHSLD_MAX_BLOCKS)
        return usage(c, "%" PRIu64 " blocks is more than the %llu a state can hold", nblocks,
                     (unsigned long long)MHSLD_MAX_BLOCKS);
    s = mhsld_geometry_check(&g);
    if (s != MHSLD_OK)
        return usage(c, "invalid geometry: %s", status_text(s, t, sizeof(t)));

    if (!has(c, O_FORCE)) {
        /* Refuse to touch a state that is already there; a state that is
         * absent (or never initialised) is created by MHSLD_OPEN_CREATE,
         * which also copes with a concurrent creator. */
        mhsld_status es;
        rc = open_state(c, MHSLD_OPEN_EXISTING, NULL, &st, &es);
        if (es == MHSLD_E_PERM)
            return fail(c, rc, "%s: %s%s", c->state, status_text(es, t, sizeof(t)), open_hint(es));
        if (rc == CTL_EXIT_OK) {
            mhsld_close(st);
            return fail(c, CTL_EXIT_REFUSED,
                        "%s: state already exists (use --force to re-initialise it, which "
                        "drops every head's capacity)",
                        c->state);
        }
    }
    rc = open_state(c, has(c, O_FORCE) ? MHSLD_OPEN_REINIT : MHSLD_OPEN_CREATE, &g, &st, &s);
    if (rc != CTL_EXIT_OK) {
        if (s == MHSLD_E_GEOMETRY || s == MHSLD_E_EXISTS)
            return fail(c, CTL_EXIT_REFUSED,
                        "%s: a state with another geometry exists (use --force to re-initialise "
                        "it): %s",
                        c->state, status_text(s, t, sizeof(t)));
        if (status_exit(s) == CTL_EXIT_STATE && !has(c, O_FORCE))
            return fail(c, rc, "%s: %s (an unusable state is in the way; --force overwrites it)",
                        c->state, status_text(s, t, sizeof(t)));
        return fail(c, rc, "%s: %s%s", c->state, status_text(s, t, sizeof(t)), open_hint(s));
    }
    printf("%s %s: %" PRIu32 " head%s, %" PRIu32 " LD%s, %" PRIu32 " region%s, %" PRIu64
           " blocks of %s (%s)\n",
           has(c, O_FORCE) ? "re-initialised" : "created", c->state, heads, heads == 1 ? "" : "s",
           lds, lds == 1 ? "" : "s", nregions, nregions == 1 ? "" : "s", nblocks,
           ctl_fmt_len(bs, a), ctl_fmt_len(total, b));
    mhsld_close(st);
    return CTL_EXIT_OK;
}

static int verb_destroy(struct cmd *c)
{
    mhsld_status s = mhsld_destroy(c->state, has(c, O_FORCE));
    char t[CTL_ERRLEN];

    if (s == MHSLD_E_ALIVE)
        return fail(c, CTL_EXIT_REFUSED,
                    "%s: a head is attached by a live process (--force removes the name anyway; "
                    "attached processes keep their mapping): %s",
                    c->state, status_text(s, t, sizeof(t)));
    if (s != MHSLD_OK)
        return fail(c, status_exit(s), "%s: %s", c->state, status_text(s, t, sizeof(t)));
    printf("destroyed %s\n", c->state);
    return CTL_EXIT_OK;
}

/* ---- show -------------------------------------------------------------- */

struct ext_list {
    mhsld_extent *ext;
    uint8_t (*tags)[MHSLD_TAG_SIZE];
    size_t n;
};

static void ext_list_free(struct ext_list *l)
{
    free(l->ext);
    free(l->tags);
    l->ext = NULL;
    l->tags = NULL;
    l->n = 0;
}

/* All extents of one kind of one head, paging through mhsld_extents_get(). */
static mhsld_status ext_list_get(mhsld_state *st, uint32_t head, uint32_t kind, struct ext_list *l)
{
    enum { CHUNK = 256 };
    size_t cap = 0;

    memset(l, 0, sizeof(*l));
    for (;;) {
        size_t returned = 0, total = 0;
        mhsld_status s;

        if (l->n + CHUNK > cap) {
            size_t ncap = cap + CHUNK;
            mhsld_extent *e = realloc(l->ext, ncap * sizeof(*e));
            uint8_t(*t)[MHSLD_TAG_SIZE];
            if (e == NULL)
                return MHSLD_E_NOMEM;
            l->ext = e;
            t = realloc(l->tags, ncap * sizeof(*t));
            if (t == NULL)
                return MHSLD_E_NOMEM;
            l->tags = t;
            cap = ncap;
        }
        s = mhsld_extents_get(st, head, kind, l->n, l->ext + l->n, l->tags + l->n, CHUNK, &returned,
                              &total, NULL);
        if (s != MHSLD_OK)
            return s;
        if (returned > CHUNK)
            return MHSLD_E_CORRUPT;
        l->n += returned;
        if (returned == 0 || l->n >= total)
            return MHSLD_OK;
    }
}

struct show_head {
    mhsld_head_info info;
    struct ext_list owned, pending, shared;
};

struct show_data {
    mhsld_geometry g;
    uint64_t nblocks;
    struct show_head heads[MHSLD_MAX_HEADS];
    mhsld_shared_info *shared;
    size_t nshared;
};

static void show_free(struct show_data *d)
{
    uint32_t h;

    for (h = 0; h < MHSLD_MAX_HEADS; h++) {
        ext_list_free(&d->heads[h].owned);
        ext_list_free(&d->heads[h].pending);
        ext_list_free(&d->heads[h].shared);
    }
    free(d->shared);
}

static mhsld_status show_gather(mhsld_state *st, struct show_data *d)
{
    size_t n = 0, total = 0;
    mhsld_status s;
    uint32_t h;

    s = mhsld_get_geometry(st, &d->g);
    if (s != MHSLD_OK)
        return s;
    if (d->g.nr_heads > MHSLD_MAX_HEADS || d->g.nr_regions > MHSLD_MAX_REGIONS ||
        d->g.nr_lds > MHSLD_MAX_LDS)
        return MHSLD_E_CORRUPT;
    d->nblocks = mhsld_block_count(st);
    for (h = 0; h < d->g.nr_heads; h++) {
        struct show_head *sh = &d->heads[h];
        if ((s = mhsld_head_info_get(st, h, &sh->info)) != MHSLD_OK ||
            (s = ext_list_get(st, h, MHSLD_EXT_OWNED, &sh->owned)) != MHSLD_OK ||
            (s = ext_list_get(st, h, MHSLD_EXT_PENDING, &sh->pending)) != MHSLD_OK ||
            (s = ext_list_get(st, h, MHSLD_EXT_SHARED, &sh->shared)) != MHSLD_OK)
            return s;
    }
    d->shared = calloc(MHSLD_MAX_SHARED, sizeof(*d->shared));
    if (d->shared == NULL)
        return MHSLD_E_NOMEM;
    s = mhsld_shared_list(st, d->shared, MHSLD_MAX_SHARED, &n, &total);
    if (s != MHSLD_OK)
        return s;
    d->nshared = n > MHSLD_MAX_SHARED ? MHSLD_MAX_SHARED : n;
    return MHSLD_OK;
}

static bool json_oom;

static json_object *jnew(json_object *o)
{
    if (o == NULL)
        json_oom = true;
    return o;
}

static void jadd(json_object *obj, const char *key, json_object *val)
{
    if (obj == NULL || val == NULL || json_object_object_add(obj, key, val) != 0) {
        json_oom = true;
        json_object_put(val);
    }
}

static void jpush(json_object *arr, json_object *val)
{
    if (arr == NULL || val == NULL || json_object_array_add(arr, val) != 0) {
        json_oom = true;
        json_object_put(val);
    }
}

static json_object *jextents(const struct ext_list *l, bool tags)
{
    json_object *arr = jnew(json_object_new_array());
    size_t i;
    char t[CTL_FMTLEN];

    for (i = 0; i < l->n; i++) {
        json_object *e = jnew(json_object_new_object());
        jadd(e, "dpa", jnew(json_object_new_uint64(l->ext[i].dpa)));
        jadd(e, "length", jnew(json_object_new_uint64(l->ext[i].len)));
        if (tags)
            jadd(e, "tag", jnew(json_object_new_string(ctl_fmt_tag(l->tags[i], t))));
        jpush(arr, e);
    }
    return arr;
}

static json_object *jsharers(uint32_t mask, uint32_t nr_heads)
{
    json_object *arr = jnew(json_object_new_array());
    uint32_t h;

    for (h = 0; h < nr_heads && h < 32; h++)
        if (mask & (UINT32_C(1) << h))
            jpush(arr, jnew(json_object_new_int64(h)));
    return arr;
}

static int show_json(const struct cmd *c, mhsld_state *st, const struct show_data *d)
{
    json_object *root = jnew(json_object_new_object()), *arr;
    uint64_t capacity = 0;
    uint32_t i;
    const char *text;
    int rc = CTL_EXIT_OK;

    for (i = 0; i < d->g.nr_regions; i++)
        capacity += d->g.regions[i].len;
    jadd(root, "state", jnew(json_object_new_string(c->state)));
    jadd(root, "block_size", jnew(json_object_new_uint64(d->g.block_size)));
    jadd(root, "block_count", jnew(json_object_new_uint64(d->nblocks)));
    jadd(root, "capacity", jnew(json_object_new_uint64(capacity)));
    jadd(root, "state_size", jnew(json_object_new_uint64(mhsld_state_size(&d->g))));
    jadd(root, "nr_heads", jnew(json_object_new_int64(d->g.nr_heads)));
    jadd(root, "nr_lds", jnew(json_object_new_int64(d->g.nr_lds)));
    arr = jnew(json_object_new_array());
    for (i = 0; i < d->g.nr_lds; i++) {
        /* JSON null (a NULL json_object) marks an unassigned LD. */
        if (d->g.ld_map[i] == MHSLD_LD_UNASSIGNED) {
            if (arr == NULL || json_object_array_add(arr, NULL) != 0)
                json_oom = true;
        } else {
            jpush(arr, jnew(json_object_new_int64(d->g.ld_map[i])));
        }
    }
    jadd(root, "ld_map", arr);
    arr = jnew(json_object_new_array());
    for (i = 0; i < d->g.nr_regions; i++) {
        json_object *r = jnew(json_object_new_object());
        jadd(r, "index", jnew(json_object_new_int64(i)));
        jadd(r, "base", jnew(json_object_new_uint64(d->g.regions[i].base)));
        jadd(r, "length", jnew(json_object_new_uint64(d->g.regions[i].len)));
        jadd(r, "sharable",
             jnew(json_object_new_boolean((d->g.regions[i].flags & MHSLD_REGION_SHARABLE) != 0)));
        jadd(r, "dsmad_handle", jnew(json_object_new_int64(d->g.regions[i].dsmad_handle)));
        jpush(arr, r);
    }
    jadd(root, "regions", arr);
    arr = jnew(json_object_new_array());
    for (i = 0; i < d->g.nr_heads; i++) {
        const struct show_head *sh = &d->heads[i];
        const mhsld_head_info *hi = &sh->info;
        json_object *h = jnew(json_object_new_object());
        jadd(h, "head", jnew(json_object_new_int64(i)));
        jadd(h, "epoch", jnew(json_object_new_uint64(hi->epoch)));
        jadd(h, "alive", jnew(json_object_new_boolean(hi->alive != 0)));
        jadd(h, "pid", jnew(json_object_new_int64(hi->pid)));
        if (hi->inflight_op != 0)
            jadd(h, "inflight_op", jnew(json_object_new_string(mhsld_op_name(hi->inflight_op))));
        else if (h != NULL && json_object_object_add(h, "inflight_op", NULL) != 0)
            json_oom = true;
        jadd(h, "owned_blocks", jnew(json_object_new_uint64(hi->owned_blocks)));
        jadd(h, "pending_blocks", jnew(json_object_new_uint64(hi->pending_blocks)));
        jadd(h, "shared_blocks", jnew(json_object_new_uint64(hi->shared_blocks)));
        jadd(h, "owned_bytes", jnew(json_object_new_uint64(hi->owned_blocks * d->g.block_size)));
        jadd(h, "pending_bytes",
             jnew(json_object_new_uint64(hi->pending_blocks * d->g.block_size)));
        jadd(h, "shared_bytes", jnew(json_object_new_uint64(hi->shared_blocks * d->g.block_size)));
        jadd(h, "nr_pending", jnew(json_object_new_int64(hi->nr_pending)));
        jadd(h, "list_generation", jnew(json_object_new_int64(hi->list_generation)));
        jadd(h, "seqs_left", jnew(json_object_new_uint64(hi->seqs_left)));
        jadd(h, "owned", jextents(&sh->owned, false));
        jadd(h, "pending", jextents(&sh->pending, false));
        jadd(h, "shared", jextents(&sh->shared, true));
        jpush(arr, h);
    }
    jadd(root, "heads", arr);
    arr = jnew(json_object_new_array());
    for (i = 0; i < d->nshared; i++) {
        const mhsld_shared_info *si = &d->shared[i];
        json_object *o = jnew(json_object_new_object());
        char t[CTL_FMTLEN];
        jadd(o, "slot", jnew(json_object_new_int64(si->slot)));
        jadd(o, "dpa", jnew(json_object_new_uint64(si->ext.dpa)));
        jadd(o, "length", jnew(json_object_new_uint64(si->ext.len)));
        jadd(o, "tag", jnew(json_object_new_string(ctl_fmt_tag(si->tag, t))));
        jadd(o, "sharers", jsharers(si->sharers, d->g.nr_heads));
        jpush(arr, o);
    }
    jadd(root, "shared", arr);
    (void)st;
    text = root != NULL ? json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
                                                                   JSON_C_TO_STRING_NOSLASHESCAPE)
                        : NULL;
    if (json_oom || text == NULL)
        rc = fail(c, CTL_EXIT_IO, "%s: out of memory while building JSON", c->state);
    else
        printf("%s\n", text);
    json_object_put(root);
    return rc;
}

static void show_extents(const char *what, const struct ext_list *l, bool tags)
{
    char e[CTL_FMTLEN], t[CTL_FMTLEN];
    size_t i;

    for (i = 0; i < l->n; i++) {
        printf("    %-8s %s", what, ctl_fmt_extent(&l->ext[i], e));
        if (tags)
            printf(" tag %s", ctl_fmt_tag(l->tags[i], t));
        putchar('\n');
    }
}

static void show_text(const struct cmd *c, const struct show_data *d)
{
    char a[CTL_FMTLEN], b[CTL_FMTLEN], x[CTL_FMTLEN];
    uint64_t capacity = 0;
    uint32_t i, h;

    for (i = 0; i < d->g.nr_regions; i++)
        capacity += d->g.regions[i].len;
    printf("state %s\n", c->state);
    printf("  %" PRIu32 " heads, %" PRIu32 " LDs, %" PRIu64 " blocks of %s (%s), state size %s\n",
           d->g.nr_heads, d->g.nr_lds, d->nblocks, ctl_fmt_len(d->g.block_size, a),
           ctl_fmt_len(capacity, b), ctl_fmt_len(mhsld_state_size(&d->g), x));
    for (i = 0; i < d->g.nr_regions; i++) {
        mhsld_extent e = {d->g.regions[i].base, d->g.regions[i].len};
        printf("  region %" PRIu32 ": %s%s, DSMAD handle %" PRIu32 "\n", i, ctl_fmt_extent(&e, a),
               (d->g.regions[i].flags & MHSLD_REGION_SHARABLE) ? " sharable" : " exclusive",
               d->g.regions[i].dsmad_handle);
    }
    printf("  LD map:");
    for (i = 0; i < d->g.nr_lds; i++) {
        if (d->g.ld_map[i] == MHSLD_LD_UNASSIGNED)
            printf(" %" PRIu32 "->-", i);
        else
            printf(" %" PRIu32 "->%u", i, d->g.ld_map[i]);
    }
    putchar('\n');
    for (h = 0; h < d->g.nr_heads; h++) {
        const struct show_head *sh = &d->heads[h];
        const mhsld_head_info *hi = &sh->info;
        if (hi->epoch == 0 && hi->owned_blocks + hi->pending_blocks + hi->shared_blocks == 0 &&
            !hi->alive) {
            printf("head %" PRIu32 ": never attached\n", h);
            continue;
        }
        printf("head %" PRIu32 ": epoch %" PRIu64 ", %s (pid %" PRIu32 "), in-flight %s\n", h,
               hi->epoch, hi->alive ? "alive" : "not attached", hi->pid,
               hi->inflight_op ? mhsld_op_name(hi->inflight_op) : "none");
        printf("  owned %s, pending %s in %" PRIu32 " reservation%s, shared %s\n",
               ctl_fmt_len(hi->owned_blocks * d->g.block_size, a),
               ctl_fmt_len(hi->pending_blocks * d->g.block_size, b), hi->nr_pending,
               hi->nr_pending == 1 ? "" : "s", ctl_fmt_len(hi->shared_blocks * d->g.block_size, x));
        show_extents("owned", &sh->owned, false);
        show_extents("pending", &sh->pending, false);
        show_extents("shared", &sh->shared, true);
    }
    if (d->nshared == 0)
        printf("shared extents: none\n");
    else
        printf("shared extents:\n");
    for (i = 0; i < d->nshared; i++) {
        const mhsld_shared_info *si = &d->shared[i];
        printf("  %s tag %s sharers", ctl_fmt_extent(&si->ext, a), ctl_fmt_tag(si->tag, b));
        for (h = 0; h < d->g.nr_heads && h < 32; h++)
            if (si->sharers & (UINT32_C(1) << h))
                printf(" %" PRIu32, h);
        putchar('\n');
    }
}

static int verb_show(struct cmd *c)
{
    struct show_data *d;
    mhsld_state *st;
    mhsld_status s;
    char t[CTL_ERRLEN];
    int rc = open_state(c, MHSLD_OPEN_EXISTING, NULL, &st, NULL);

    if (rc != CTL_EXIT_OK)
        return rc;
    d = calloc(1, sizeof(*d));
    if (d == NULL) {
        mhsld_close(st);
        return fail(c, CTL_EXIT_IO, "out of memory");
    }
    s = show_gather(st, d);
    if (s != MHSLD_OK)
        rc = fail(c, status_exit(s), "%s: %s", c->state, status_text(s, t, sizeof(t)));
    else if (has(c, O_JSON))
        rc = show_json(c, st, d);
    else
        show_text(c, d);
    show_free(d);
    free(d);
    mhsld_close(st);
    return rc;
}

/* ---- map --------------------------------------------------------------- */

static int verb_map(struct cmd *c)
{
    ctl_map_opts o = {c->state, 0, false};
    const char *when = has(c, O_COLOR) ? c->opt[O_COLOR] : "auto";
    const char *svg = c->opt[O_SVG];
    char err[CTL_ERRLEN];
    mhsld_state *st;
    FILE *out = stdout;
    int rc;

    if (has(c, O_WIDTH) && (rc = opt_uint(c, O_WIDTH, 8, 1024, &o.width)) != 0)
        return rc;
    if (strcmp(when, "always") == 0) {
        o.color = true;
    } else if (strcmp(when, "auto") == 0) {
        const char *nc = getenv("NO_COLOR");
        o.color = isatty(STDOUT_FILENO) && (nc == NULL || nc[0] == '\0');
    } else if (strcmp(when, "never") != 0) {
        return usage(c, "--color: '%s' is not auto, always or never", when);
    }
    if (svg != NULL && svg[0] == '\0')
        return usage(c, "--svg: empty file name");
    rc = open_state(c, MHSLD_OPEN_EXISTING, NULL, &st, NULL);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (svg != NULL && strcmp(svg, "-") != 0) {
        out = fopen(svg, "w");
        if (out == NULL) {
            int e = errno;
            mhsld_close(st);
            return fail(c, CTL_EXIT_IO, "%s: cannot write: %s", svg, strerror(e));
        }
    }
    rc = ctl_map_draw(st, &o, svg != NULL, out, err, sizeof(err));
    mhsld_close(st);
    if (rc != CTL_EXIT_OK) {
        if (out != stdout) {
            fclose(out);
            remove(svg);
        }
        return fail(c, rc, "%s: %s", c->state, err);
    }
    if (out != stdout) {
        bool bad = ferror(out) != 0;
        int e = errno;
        if (fclose(out) != 0 || bad) {
            e = errno ? errno : e;
            remove(svg);
            return fail(c, CTL_EXIT_IO, "%s: write failed: %s", svg, strerror(e));
        }
        printf("wrote %s\n", svg);
    }
    return CTL_EXIT_OK;
}

/* ---- verify and recover ------------------------------------------------ */

static int verb_verify(struct cmd *c)
{
    char msg[512] = "", t[CTL_ERRLEN];
    mhsld_state *st;
    mhsld_status s;
    int rc = open_state(c, MHSLD_OPEN_EXISTING, NULL, &st, &s);

    if (rc != CTL_EXIT_OK)
        return fail(c, rc, "%s: cannot open: %s%s", c->state, status_text(s, t, sizeof(t)),
                    open_hint(s));
    s = mhsld_validate(st, msg, sizeof(msg));
    mhsld_close(st);
    if (s != MHSLD_OK) {
        msg[sizeof(msg) - 1] = '\0';
        return fail(c, CTL_EXIT_FALSE, "%s: unhealthy: %s (%s)", c->state,
                    msg[0] ? msg : mhsld_strerror(s), mhsld_status_name(s));
    }
    printf("%s: healthy\n", c->state);
    return CTL_EXIT_OK;
}

static int verb_recover(struct cmd *c)
{
    mhsld_recover_report rep;
    mhsld_geometry g;
    mhsld_state *st;
    mhsld_status s;
    uint32_t head, flags = MHSLD_RECOVER_DROP;
    char t[CTL_ERRLEN];
    int rc;

    if ((rc = opt_head(c, &head)) != 0)
        return rc;
    if (has(c, O_KEEP) && has(c, O_DROP))
        return usage(c, "--keep and --drop exclude each other");
    if (has(c, O_KEEP))
        flags = MHSLD_RECOVER_KEEP;
    if (has(c, O_FORCE))
        flags |= MHSLD_RECOVER_FORCE;
    if ((rc = open_state(c, MHSLD_OPEN_EXISTING, NULL, &st, NULL)) != 0)
        return rc;
    if ((rc = check_head_range(c, st, head, &g)) != 0) {
        mhsld_close(st);
        return rc;
    }
    memset(&rep, 0, sizeof(rep));
    s = mhsld_recover(st, head, flags, &rep);
    if (s == MHSLD_E_ALIVE)
        rc = refused_alive(c, st, head, s, "; --force recovers it anyway");
    else if (s != MHSLD_OK)
        rc = fail(c, status_exit(s), "%s: head %" PRIu32 ": %s", c->state, head,
                  status_text(s, t, sizeof(t)));
    else
        printf("head %" PRIu32 ": in-flight %s%s; %" PRIu64 " blocks freed, %" PRIu64
               " kept (%s)\n",
               head, rep.op ? mhsld_op_name(rep.op) : "none",
               rep.rolled_back      ? " rolled back"
               : rep.rolled_forward ? " rolled forward"
                                    : "",
               rep.blocks_freed, rep.blocks_kept, (flags & MHSLD_RECOVER_KEEP) ? "keep" : "drop");
    mhsld_close(st);
    return rc;
}

/* ---- the head verbs ---------------------------------------------------- */

static int run_head_verb(struct cmd *c, head_op op, struct op_args *a)
{
    char out[1024] = "", err[512] = "";
    mhsld_geometry g;
    mhsld_state *st;
    mhsld_head *h = NULL;
    uint32_t head;
    int rc;

    if ((rc = opt_head(c, &head)) != 0)
        return rc;
    if ((rc = open_state(c, MHSLD_OPEN_EXISTING, NULL, &st, NULL)) != 0)
        return rc;
    if ((rc = check_head_range(c, st, head, &g)) != 0) {
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
    if ((rc = attach_head(c, st, head, MHSLD_ATTACH_KEEP, &h)) != 0) {
        mhsld_close(st);
        return rc;
    }
    rc = op(h, a, out, sizeof(out), err, sizeof(err));
    mhsld_detach(h);
    mhsld_close(st);
    if (rc != CTL_EXIT_OK)
        return fail(c, rc, "%s: head %" PRIu32 ": %s", c->state, head, err);
    printf("%s\n", out);
    return CTL_EXIT_OK;
}

static struct op_args *new_args(const struct cmd *c, int *rc)
{
    struct op_args *a = calloc(1, sizeof(*a));

    if (a == NULL) {
        *rc = fail(c, CTL_EXIT_IO, "out of memory");
        return NULL;
    }
    *rc = parse_extents(c, c->pos, c->npos, a->ext, &a->n);
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
    if (op == op_commit && has(c, O_GROUP)) {
        char err[CTL_ERRLEN];
        bool parsed = ctl_parse_u64(c->opt[O_GROUP], false, &a->group, err, sizeof(err));
        if (!parsed || a->group == 0) {
            free(a);
            return usage(c, "--group: %s", parsed ? "must not be zero" : err);
        }
        a->have_group = true;
    }
    if (op == op_share_add) {
        char err[CTL_ERRLEN];
        if (!has(c, O_TAG)) {
            free(a);
            return usage(c, "--tag is required");
        }
        if (!ctl_parse_tag(c->opt[O_TAG], a->tag, err, sizeof(err))) {
            free(a);
            return usage(c, "--tag: %s", err);
        }
    }
    rc = run_head_verb(c, op, a);
    free(a);
    return rc;
}

static int verb_reserve(struct cmd *c)
{
    return head_verb(c, op_reserve);
}
static int verb_commit(struct cmd *c)
{
    return head_verb(c, op_commit);
}
static int verb_release(struct cmd *c)
{
    return head_verb(c, op_release);
}
static int verb_check(struct cmd *c)
{
    return head_verb(c, op_check);
}
static int verb_share_add(struct cmd *c)
{
    return head_verb(c, op_share_add);
}
static int verb_share_release(struct cmd *c)
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
        {"reserve", op_reserve, 1, MHSLD_MAX_EXTENTS}, {"commit", op_commit, 0, MHSLD_MAX_EXTENTS},
        {"release", op_release, 1, MHSLD_MAX_EXTENTS}, {"release-all", op_release_all, 0, 0},
        {"check", op_check, 1, MHSLD_MAX_EXTENTS},     {"share-add", op_share_add, 1, 1},
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

static int verb_session(struct cmd *c)
{
    char *line = NULL, *tok[SESSION_TOKENS];
    struct op_args *a = NULL;
    mhsld_geometry g;
    mhsld_state *st;
    mhsld_head *h = NULL;
    uint32_t head;
    int rc;

    if ((rc = opt_head(c, &head)) != 0)
        return rc;
    if (has(c, O_KEEP) && has(c, O_DROP))
        return usage(c, "--keep and --drop exclude each other");
    line = malloc(SESSION_LINE);
    a = malloc(sizeof(*a));
    if (line == NULL || a == NULL) {
        free(line);
        free(a);
        return fail(c, CTL_EXIT_IO, "out of memory");
    }
    if ((rc = open_state(c, MHSLD_OPEN_EXISTING, NULL, &st, NULL)) != 0)
        goto out;
    if ((rc = check_head_range(c, st, head, &g)) != 0 ||
        (rc = attach_head(c, st, head, has(c, O_DROP) ? MHSLD_ATTACH_DROP : MHSLD_ATTACH_KEEP,
                          &h)) != 0) {
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

/* ---- the verb table and help ------------------------------------------- */

static const char exit_codes_help[] =
    "Exit status:\n"
    "  0  success (check: accessible; verify: healthy)\n"
    "  1  check: not accessible; verify: the state is unhealthy\n"
    "  2  usage error or invalid request (bad number, extent, head, alignment, range)\n"
    "  3  refused: conflict, not owner, no such reservation, head alive, state\n"
    "     exists, state busy, state file not private to this user\n"
    "  4  state absent, corrupt, truncated, not an mhsld state or of another geometry\n"
    "  5  other I/O or system error; the state file truncated while in use\n";

static const char foreign_help[] =
    "A state file that is not private to the caller (owned by another user, writable\n"
    "by group or other, or with a second link) is refused (exit 3): its owner could\n"
    "rewrite or truncate it under this process.  --allow-foreign uses it anyway.\n";

static const char extent_help[] =
    "EXTENT is DPA+LEN: decimal or 0x hex, with K/M/G/T suffixes (0+2M, 1G+512M,\n"
    "0x40000000+0x200000).\n";

static const char head_attach_help[] =
    "The head is attached (MHSLD_ATTACH_KEEP) for the duration of the command and\n"
    "detached afterwards, so it keeps its capacity between commands.  A head attached\n"
    "by a live process (e.g. a running QEMU) is refused (exit 3).\n";

static int verb_help(struct cmd *c);

static const struct verb verbs[] = {
    {"create", verb_create,
     B(O_CAPACITY) | B(O_BLOCK_SIZE) | B(O_HEADS) | B(O_LDS) | B(O_BASE) | B(O_REGIONS) |
         B(O_FORCE) | B(O_ALLOW_FOREIGN),
     0, 0, false,
     "STATE --capacity SIZE [--block-size SIZE] [--heads N]\n"
     "         [--lds N] [--base DPA] [--regions BASE+LEN[:shared],...] [--force]",
     "create and initialise a state",
     "STATE is a file path (contains '/', e.g. /dev/shm/mhsld0) or a POSIX shm name.\n"
     "  --capacity SIZE     bytes of dynamic capacity (one region at --base)\n"
     "  --block-size SIZE   power of two, 2M..1T (default 2M)\n"
     "  --heads N           heads (hosts), 1..32 (default 2)\n"
     "  --lds N             LD map entries, 1..64 (default: heads; LD i -> head i)\n"
     "  --base DPA          DPA of the region (default 0)\n"
     "  --regions LIST      up to 8 regions BASE+LEN, ':shared' marks a sharable one;\n"
     "                      in increasing DPA order (--capacity, if given: their sum)\n"
     "  --force             re-initialise an existing state (all capacity is dropped)\n"
     "An existing state is never touched without --force (exit 3).\n"},
    {"destroy", verb_destroy, B(O_FORCE), 0, 0, false, "STATE [--force]", "remove a state's name",
     "Refused (exit 3) while a head is attached by a live process, unless --force.\n"
     "Processes that have the state mapped keep using their mapping.\n"},
    {"show", verb_show, B(O_JSON) | B(O_ALLOW_FOREIGN), 0, 0, false, "STATE [--json]",
     "print geometry, heads, their extents and shared extents",
     "For each head: incarnation (epoch), liveness, last pid, in-flight operation,\n"
     "owned/pending/shared capacity and extents.  --json prints one JSON object\n"
     "(sizes and DPAs in bytes; tags as UUID strings).\n"},
    {"map", verb_map, B(O_SVG) | B(O_WIDTH) | B(O_COLOR) | B(O_ALLOW_FOREIGN), 0, 0, false,
     "STATE [--svg FILE] [--width N] [--color auto|always|never]",
     "draw the ownership map (terminal or SVG)",
     "One cell per block, or per group of blocks on large devices, region by region:\n"
     "  .  free   0-9 A-V  owned by that head   +  pending   #  shared\n"
     "  *  mixed (a group whose blocks are not all in the same hands)\n"
     "  --svg FILE   write an SVG picture instead ('-' for stdout)\n"
     "  --width N    cells per row, 8..1024 (default: fits 80 columns)\n"
     "  --color      ANSI colours: auto (default: when stdout is a terminal and\n"
     "               NO_COLOR is unset), always, never\n"},
    {"verify", verb_verify, B(O_ALLOW_FOREIGN), 0, 0, false, "STATE",
     "run the full validator (mhsld_validate)",
     "Exit 0 and 'healthy', or exit 1 with the validator's one-line finding.  A state\n"
     "that cannot be opened (corrupt header, truncated, not a state) exits 4.\n"
     "The verdict is exact only when no operation is in flight.\n"},
    {"recover", verb_recover, B(O_HEAD) | B(O_KEEP) | B(O_DROP) | B(O_FORCE) | B(O_ALLOW_FOREIGN),
     0, 0, false, "STATE --head N [--keep|--drop] [--force]", "recover a dead head",
     "Finishes or undoes the head's in-flight operation, then --drop (default) frees\n"
     "everything it held, or --keep keeps its committed and shared capacity.\n"
     "A head attached by a live process is refused (exit 3) unless --force, which\n"
     "fences it first (unsafe if it is still issuing operations).\n"},
    {"reserve", verb_reserve, B(O_HEAD) | B(O_ALLOW_FOREIGN), 1, MHSLD_MAX_EXTENTS, false,
     "STATE --head N EXTENT...", "all-or-nothing pending claim (as a QMP add does)",
     "Prints the reservation's group id.  Any block held by anyone fails the whole\n"
     "request (exit 3) and leaves nothing behind.\n"},
    {"commit", verb_commit, B(O_HEAD) | B(O_GROUP) | B(O_ALLOW_FOREIGN), 0, MHSLD_MAX_EXTENTS,
     false, "STATE --head N [--group ID] [EXTENT...]",
     "accept extents of the oldest pending reservation, free the rest",
     "As an Add Dynamic Capacity Response does: the listed extents (inside the\n"
     "reservation) become owned, every other block of the reservation becomes free.\n"
     "No extents accepts nothing.  --group picks a reservation other than the oldest.\n"},
    {"release", verb_release, B(O_HEAD) | B(O_ALLOW_FOREIGN), 1, MHSLD_MAX_EXTENTS, false,
     "STATE --head N EXTENT...", "give owned capacity back",
     "Every block must be owned by the head (else exit 3, nothing released).\n"},
    {"check", verb_check, B(O_HEAD) | B(O_ALLOW_FOREIGN), 1, MHSLD_MAX_EXTENTS, false,
     "STATE --head N EXTENT...", "may the head access every byte of every extent?",
     "Prints one line per extent; exit 0 iff all are accessible, else 1.  Extents need\n"
     "not be block aligned (the check is exact to the byte).\n"},
    {"share-add", verb_share_add, B(O_HEAD) | B(O_TAG) | B(O_ALLOW_FOREIGN), 1, 1, false,
     "STATE --head N --tag TAG EXTENT", "create or join a shared extent (sharable region)",
     "TAG is 32 hex digits or a UUID.  The first head creates the extent, later heads\n"
     "join it with the same range and tag.\n"},
    {"share-release", verb_share_release, B(O_HEAD) | B(O_ALLOW_FOREIGN), 1, 1, false,
     "STATE --head N EXTENT", "leave a shared extent",
     "The blocks become free when the last sharer leaves.\n"},
    {"session", verb_session, B(O_HEAD) | B(O_KEEP) | B(O_DROP) | B(O_ALLOW_FOREIGN), 0, 0, true,
     "STATE --head N [--keep|--drop]", "keep a head attached and run commands from stdin (tests)",
     "Attaches the head (default --keep), prints 'ready head N epoch E pid P', then\n"
     "reads one command per line and answers one line each ('ok ...' or\n"
     "'err CODE cause'):\n"
     "  reserve EXT...   commit [EXT...]   release EXT...   release-all\n"
     "  check EXT...     share-add TAG EXT   share-release EXT   quit\n"
#ifdef MHSLD_CTL_TESTING
     "  crash K CMD...   run CMD with a SIGKILL just before the engine's K-th atomic\n"
     "                   step; answers 'nocrash STEPS ...' if CMD finished first\n"
#endif
     "EOF or quit detaches the head.\n"},
    {"help", verb_help, 0, 0, 1, true, "[VERB]", "help on a verb", ""},
};

#define NR_VERBS (sizeof(verbs) / sizeof(verbs[0]))

static void print_verb_help(const struct verb *v)
{
    printf("usage: " PROG " %s %s\n\n%c%s.\n\n%s", v->name, v->synopsis,
           toupper((unsigned char)v->summary[0]), v->summary + 1, v->help);
    if (v->opts & B(O_HEAD)) {
        if (v->fn != verb_recover && v->fn != verb_session)
            printf("\n%s%s", head_attach_help, extent_help);
    }
    if (v->opts & B(O_ALLOW_FOREIGN))
        printf("\n%s", foreign_help);
    printf("\n%s", exit_codes_help);
}

static void print_main_help(void)
{
    size_t i;

    printf("usage: " PROG " VERB STATE [OPTIONS] [ARGS]\n\n"
           "Create, inspect, verify, recover and draw an mhsld multi-headed device state,\n"
           "and run a head's ownership operations from the shell.\n\nVerbs:\n");
    for (i = 0; i < NR_VERBS; i++)
        if (!verbs[i].hidden)
            printf("  %-14s %s\n", verbs[i].name, verbs[i].summary);
    printf("\n'" PROG " VERB --help' describes a verb.  SIZE, DPA and EXTENT accept decimal or\n"
           "0x hex with K/M/G/T suffixes.\n\n%s",
           exit_codes_help);
}

static const struct verb *find_verb(const char *name)
{
    size_t i;

    for (i = 0; i < NR_VERBS; i++)
        if (strcmp(verbs[i].name, name) == 0)
            return &verbs[i];
    return NULL;
}

static int verb_help(struct cmd *c)
{
    const struct verb *v;

    if (c->state == NULL) {
        print_main_help();
        return CTL_EXIT_OK;
    }
    v = find_verb(c->state);
    if (v == NULL)
        return usage(NULL, "unknown verb '%s'", c->state);
    print_verb_help(v);
    return CTL_EXIT_OK;
}

static int parse_cmd(struct cmd *c, int argc, char **argv)
{
    size_t npos = 0;
    bool only_pos = false;
    int i;

    c->pos = c->pos_alloc = calloc((size_t)argc + 1, sizeof(char *));
    if (c->pos == NULL)
        return fail(c, CTL_EXIT_IO, "out of memory");
    for (i = 0; i < argc; i++) {
        char *a = argv[i];
        if (!only_pos && strcmp(a, "--") == 0) {
            only_pos = true;
        } else if (!only_pos && a[0] == '-' && a[1] == '-') {
            const char *name = a + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            int o;
            for (o = 0; o < O__COUNT; o++)
                if (strlen(opt_def[o].name) == len && strncmp(opt_def[o].name, name, len) == 0)
                    break;
            if (o == O__COUNT || !(c->v->opts & B(o)))
                return usage(c, "unknown option '--%.*s'", (int)len, name);
            if (c->opt[o] != NULL)
                return usage(c, "--%s given twice", opt_def[o].name);
            if (!opt_def[o].arg) {
                if (eq != NULL)
                    return usage(c, "--%s takes no value", opt_def[o].name);
                c->opt[o] = "";
            } else if (eq != NULL) {
                c->opt[o] = eq + 1;
            } else if (i + 1 < argc) {
                c->opt[o] = argv[++i];
            } else {
                return usage(c, "--%s needs a value", opt_def[o].name);
            }
        } else if (!only_pos && a[0] == '-' && a[1] != '\0') {
            return usage(c, "unknown option '%s'", a);
        } else {
            c->pos[npos++] = a;
        }
    }
    if (c->v->fn == verb_help) {
        c->state = npos > 0 ? c->pos[0] : NULL;
        if (npos > 1)
            return usage(c, "too many arguments");
        return CTL_EXIT_OK;
    }
    if (npos == 0)
        return usage(c, "STATE is required");
    c->state = c->pos[0];
    if (c->state[0] == '\0')
        return usage(c, "STATE is empty");
    c->pos++;
    c->npos = npos - 1;
    if (c->npos < c->v->min_pos)
        return usage(c, c->v->min_pos == 1 ? "an EXTENT is required" : "missing arguments");
    if (c->npos > c->v->max_pos && c->v->max_pos == MHSLD_MAX_EXTENTS)
        return usage(c, "%zu extents given, at most %u per request", c->npos, MHSLD_MAX_EXTENTS);
    if (c->npos > c->v->max_pos)
        return usage(c, "unexpected argument '%s'", c->pos[c->v->max_pos]);
    return CTL_EXIT_OK;
}

/* ---- SIGBUS: the state file truncated under the mapping ---------------
 * Another process that can write the file (its owner: see --allow-foreign)
 * may ftruncate() it while this tool has it mapped; the next access beyond
 * the new end raises SIGBUS.  The engine cannot catch it inside a host
 * process, but this tool owns its process: it reports the cause in one line
 * and exits with the I/O status instead of dying.  An operation it was
 * running stops where it was, as if killed, and is left to recovery. */

static const char *sigbus_verb = "", *sigbus_state = "";

static void put_err(const char *s)
{
    size_t n = strlen(s);

    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void on_sigbus(int sig)
{
    (void)sig;
    put_err(PROG ": ");
    put_err(sigbus_verb);
    put_err(": ");
    put_err(sigbus_state);
    put_err(": state file truncated while in use (SIGBUS); stopped, any operation in "
            "progress is left to recovery\n");
    _exit(CTL_EXIT_IO);
}

static void catch_sigbus(const struct cmd *c)
{
    struct sigaction sa;

    sigbus_verb = c->v->name;
    sigbus_state = c->state != NULL ? c->state : "";
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigbus;
    sigemptyset(&sa.sa_mask);
    (void)sigaction(SIGBUS, &sa, NULL);
}

int main(int argc, char **argv)
{
    struct cmd c;
    int i, rc;

    memset(&c, 0, sizeof(c));
    if (argc < 2)
        return usage(NULL, "no verb given");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        print_main_help();
        return CTL_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf(PROG " %s\n", MHSLD_CTL_VERSION);
        return CTL_EXIT_OK;
    }
    c.v = find_verb(argv[1]);
    if (c.v == NULL)
        return usage(NULL, "unknown verb '%s'", argv[1]);
    /* --help anywhere before "--" wins over everything else. */
    for (i = 2; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_verb_help(c.v);
            return CTL_EXIT_OK;
        }
    }
    rc = parse_cmd(&c, argc - 2, argv + 2);
    if (rc == CTL_EXIT_OK) {
        catch_sigbus(&c);
        rc = c.v->fn(&c);
    }
    free(c.pos_alloc);
    if (fflush(stdout) != 0 && rc == CTL_EXIT_OK)
        rc = fail(&c, CTL_EXIT_IO, "cannot write output: %s", strerror(errno));
    return rc;
}
