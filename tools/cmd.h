/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mhsldctl's verbs and what they share, laid out as ndctl's `cxl` tool is:
 * mhsldctl.c holds main(), the verb table, the help and the command-line
 * parser; cmd_common.c the messages, exit codes, option helpers and the
 * opening of a state; each cmd_*.c one group of verbs:
 *
 *   cmd_state.c    create, destroy, show, verify
 *   cmd_map.c      map
 *   cmd_recover.c  recover
 *   cmd_head.c     reserve, commit, claim, release, check, share-add,
 *                  share-release, session
 *   cmd_fm.c       the fabric manager: fm-offer, fm-release,
 *                  fm-force-release, fm-reclaim, fm-mbox (whose JSON
 *                  requests and responses cmd_fm_mbox.c converts)
 *   cmd_fm_serve.c fm-serve, a stand-in head serving its FM queue
 *
 * A verb gets the parsed command line (struct cmd), checks all of it before
 * it touches the state, and returns a CTL_EXIT_* code; its failure is one
 * line on stderr written by ctl_fail() or ctl_usage().
 */
#ifndef MHSLDCTL_CMD_H
#define MHSLDCTL_CMD_H

#include "ctl.h"

#include <json-c/json.h>

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
    O_TIMEOUT,
    O_COUNT,
    O_IN_JSON,
    O_ACCEPT,
    O__COUNT
};

struct ctl_opt_def {
    const char *name;
    bool arg; /* takes a value */
};

extern const struct ctl_opt_def ctl_opt_def[O__COUNT];

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

/* ---- messages and exit codes (cmd_common.c) ---------------------------- */

/* "mhsldctl: VERB: message" on stderr; returns code. */
int ctl_fail(const struct cmd *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same with a pointer to the verb's --help; returns CTL_EXIT_USAGE. */
int ctl_usage(const struct cmd *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The exit code for an engine status. */
int ctl_status_exit(mhsld_status s);
/* "<strerror> (<NAME>)" and, for I/O errors, the system's reason. */
const char *ctl_status_text(mhsld_status s, char *buf, size_t len);
/* ": block 0x200000 is owned by head 1" for a conflict record. */
const char *ctl_conflict_text(const mhsld_conflict *k, uint32_t self, char *buf, size_t len);

/* ---- options (cmd_common.c) -------------------------------------------- */

bool ctl_has(const struct cmd *c, enum opt_id o);
int ctl_opt_size(const struct cmd *c, enum opt_id o, uint64_t *v);
int ctl_opt_uint(const struct cmd *c, enum opt_id o, uint32_t min, uint32_t max, uint32_t *v);
/* --head N, required. */
int ctl_opt_head(const struct cmd *c, uint32_t *head);
/* nargs EXTENT arguments, at most MHSLD_MAX_EXTENTS. */
int ctl_parse_extents(const struct cmd *c, char **args, size_t nargs, mhsld_extent *ext, size_t *n);

/* ---- opening a state and attaching a head (cmd_common.c) --------------- */

/* What to add to a refused open's message. */
const char *ctl_open_hint(mhsld_status s);
/* Open c->state.  With status NULL a failure is reported here; otherwise
 * *status is set and the caller words the message. */
int ctl_open_state(const struct cmd *c, uint32_t mode, const mhsld_geometry *g, mhsld_state **st,
                   mhsld_status *status);
/* The state's geometry in *g, and head < its number of heads (else usage). */
int ctl_check_head_range(const struct cmd *c, mhsld_state *st, uint32_t head, mhsld_geometry *g);
/* The refusal for a head attached by a live process (names its pid). */
int ctl_refused_alive(const struct cmd *c, mhsld_state *st, uint32_t head, mhsld_status s,
                      const char *hint);
int ctl_attach_head(const struct cmd *c, mhsld_state *st, uint32_t head, uint32_t flags,
                    mhsld_head **h);

/* ---- JSON building (cmd_common.c) --------------------------------------
 * A failed allocation sets ctl_json_oom instead of stopping the builder;
 * the verb checks it once before it prints. */
extern bool ctl_json_oom;
json_object *ctl_jnew(json_object *o);
void ctl_jadd(json_object *obj, const char *key, json_object *val);
void ctl_jpush(json_object *arr, json_object *val);
/* obj[key] = JSON null. */
void ctl_jnull(json_object *obj, const char *key);
/* obj["conflict"]: {dpa, owner (a head, "shared" or null), state} from *c,
 * or null when c is NULL. */
void ctl_jconflict(json_object *obj, const mhsld_conflict *c);
/* Print o as one JSON text (json-c flags, e.g. JSON_C_TO_STRING_PLAIN), or
 * fail with CTL_EXIT_IO if building it ran out of memory; o is released
 * either way.  CTL_EXIT_OK or the failure's exit code. */
int ctl_jprint(const struct cmd *c, json_object *o, int flags);

/* ---- the verbs --------------------------------------------------------- */

int verb_create(struct cmd *c); /* cmd_state.c */
int verb_destroy(struct cmd *c);
int verb_show(struct cmd *c);
int verb_verify(struct cmd *c);
int verb_map(struct cmd *c);     /* cmd_map.c */
int verb_recover(struct cmd *c); /* cmd_recover.c */
int verb_reserve(struct cmd *c); /* cmd_head.c */
int verb_commit(struct cmd *c);
int verb_claim(struct cmd *c);
int verb_release(struct cmd *c);
int verb_check(struct cmd *c);
int verb_share_add(struct cmd *c);
int verb_share_release(struct cmd *c);
int verb_session(struct cmd *c);
int verb_fm_offer(struct cmd *c); /* cmd_fm.c */
int verb_fm_release(struct cmd *c);
int verb_fm_force_release(struct cmd *c);
int verb_fm_reclaim(struct cmd *c);
int verb_fm_mbox(struct cmd *c);
int verb_fm_serve(struct cmd *c); /* cmd_fm_serve.c */

/* ---- FM-API payloads as JSON (cmd_fm_mbox.c) --------------------------- */

/* Is opcode one of the FM-API commands mhsldctl sends (5500h, 5501h,
 * 5600h-5608h)? */
bool ctl_fm_opcode_ok(uint16_t opcode);
/* The request payload of `opcode` built from a JSON object with the codec's
 * encode function.  Returns a CTL_EXIT_* code; err says why on failure. */
int ctl_fm_mbox_build(uint16_t opcode, const char *json, uint8_t *buf, size_t cap, size_t *len,
                      char *err, size_t errlen);
/* Check a request payload with the codec's decode function (for a payload
 * given as hex); false with the reason in err if it does not decode. */
bool ctl_fm_mbox_check(uint16_t opcode, const uint8_t *buf, size_t len, char *err, size_t errlen);
/* The response payload of `opcode` decoded by the codec into a new JSON
 * object; NULL with the reason in err when it does not decode.  A command
 * without response payload gives an empty object for an empty payload. */
json_object *ctl_fm_mbox_response(uint16_t opcode, const uint8_t *buf, size_t len, char *err,
                                  size_t errlen);

#endif /* MHSLDCTL_CMD_H */
