/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * FM-API payloads for `mhsldctl fm-mbox`: a request given as JSON becomes
 * the command's payload through the engine's codec (mhsld/mailbox.h, the
 * mhsld_mbox_*_encode functions, which validate it), a request given as hex
 * is checked with the codec's decode function before anything is posted, and
 * a response payload is decoded by the codec and shown as JSON.
 *
 * JSON requests use the decoded structs' field names (host as "host_id");
 * numbers are JSON integers or strings in mhsldctl's number syntax ("256M",
 * "0x40000000"); tags are 32 hex digits or a UUID.  Unknown keys, values
 * out of a field's range and extents of length zero are refused.
 */
#define _POSIX_C_SOURCE 200809L

#include "cmd.h"

#include "mhsld/mailbox.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Largest payload the codec may build from JSON before the size check: a
 * 5604h/5605h header and MHSLD_MAX_EXTENTS extents. */
#define BUILD_CAP (sizeof(mhsld_wire_dc_add_in) + MHSLD_MAX_EXTENTS * sizeof(mhsld_wire_dc_extent))

bool ctl_fm_opcode_ok(uint16_t opcode)
{
    return opcode == MHSLD_MBOX_OP_GET_MHD_INFO || opcode == MHSLD_MBOX_OP_GET_HEAD_INFO ||
           (opcode >= MHSLD_MBOX_OP_GET_DCD_INFO && opcode <= MHSLD_MBOX_OP_DC_LIST_TAGS);
}

static bool seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return false;
}

/* ---- reading a JSON request ------------------------------------------- */

/* Every key of o is one of keys[] (NULL-terminated). */
static bool only_keys(json_object *o, const char *where, const char *const *keys, char *err,
                      size_t errlen)
{
    json_object_object_foreach(o, key, val)
    {
        size_t i;
        (void)val;
        for (i = 0; keys[i] != NULL; i++)
            if (strcmp(keys[i], key) == 0)
                break;
        if (keys[i] == NULL)
            return seterr(err, errlen, "%sunknown key '%s'", where, key);
    }
    return true;
}

/* An unsigned field: a JSON integer >= 0, or a string in ctl_parse_u64()
 * syntax (with K/M/G/T suffixes).  Absent: *out unchanged, unless required. */
static bool get_u(json_object *o, const char *where, const char *key, uint64_t max, bool required,
                  uint64_t *out, char *err, size_t errlen)
{
    json_object *f;
    uint64_t v;
    char e[CTL_ERRLEN];

    if (!json_object_object_get_ex(o, key, &f) || f == NULL) {
        if (required)
            return seterr(err, errlen, "%s'%s' is required", where, key);
        return true;
    }
    if (json_object_is_type(f, json_type_int)) {
        int64_t i = json_object_get_int64(f);
        if (i < 0)
            return seterr(err, errlen, "%s'%s' must not be negative", where, key);
        v = i == INT64_MAX ? json_object_get_uint64(f) : (uint64_t)i;
    } else if (json_object_is_type(f, json_type_string)) {
        if (!ctl_parse_u64(json_object_get_string(f), true, &v, e, sizeof(e)))
            return seterr(err, errlen, "%s'%s': %s", where, key, e);
    } else {
        return seterr(err, errlen, "%s'%s' must be a number", where, key);
    }
    if (v > max)
        return seterr(err, errlen, "%s'%s': %" PRIu64 " is more than %" PRIu64, where, key, v, max);
    *out = v;
    return true;
}

static bool get_bool(json_object *o, const char *where, const char *key, bool *out, char *err,
                     size_t errlen)
{
    json_object *f;

    if (!json_object_object_get_ex(o, key, &f) || f == NULL)
        return true;
    if (!json_object_is_type(f, json_type_boolean))
        return seterr(err, errlen, "%s'%s' must be true or false", where, key);
    *out = json_object_get_boolean(f) != 0;
    return true;
}

static bool get_tag(json_object *o, const char *where, const char *key, bool required,
                    uint8_t tag[MHSLD_TAG_SIZE], char *err, size_t errlen)
{
    json_object *f;
    char e[CTL_ERRLEN];

    if (!json_object_object_get_ex(o, key, &f) || f == NULL) {
        if (required)
            return seterr(err, errlen, "%s'%s' is required", where, key);
        return true;
    }
    if (!json_object_is_type(f, json_type_string))
        return seterr(err, errlen, "%s'%s' must be a string (32 hex digits or a UUID)", where, key);
    if (!ctl_parse_tag(json_object_get_string(f), tag, e, sizeof(e)))
        return seterr(err, errlen, "%s'%s': %s", where, key, e);
    return true;
}

/* A policy by name (names[i] is value i) or by number (< n). */
static bool get_policy(json_object *o, const char *key, const char *const *names, size_t n,
                       uint8_t *out, char *err, size_t errlen)
{
    json_object *f;
    uint64_t v = 0;
    size_t i;

    if (!json_object_object_get_ex(o, key, &f) || f == NULL)
        return true;
    if (json_object_is_type(f, json_type_string)) {
        const char *s = json_object_get_string(f);
        for (i = 0; i < n; i++) {
            if (strcmp(s, names[i]) == 0) {
                *out = (uint8_t)i;
                return true;
            }
        }
        return seterr(err, errlen, "'%s': '%s' is not a policy (%s, %s%s%s%s%s, or 0..%zu)", key, s,
                      names[0], names[1], n > 2 ? ", " : "", n > 2 ? names[2] : "",
                      n > 3 ? ", " : "", n > 3 ? names[3] : "", n - 1);
    }
    if (!get_u(o, "", key, n - 1, false, &v, err, errlen))
        return false;
    *out = (uint8_t)v;
    return true;
}

/* "extents": [{"dpa":..,"len":..[,"tag":..][,"shared_seq":..]}, ...] */
static bool get_extents(json_object *o, mhsld_mbox_dc_extent *ext, uint32_t *count, char *err,
                        size_t errlen)
{
    static const char *const keys[] = {"dpa", "len", "tag", "shared_seq", NULL};
    json_object *arr;
    size_t i, n;

    if (!json_object_object_get_ex(o, "extents", &arr) || arr == NULL) {
        *count = 0;
        return true;
    }
    if (!json_object_is_type(arr, json_type_array))
        return seterr(err, errlen, "'extents' must be an array");
    n = json_object_array_length(arr);
    if (n > MHSLD_MAX_EXTENTS)
        return seterr(err, errlen, "%zu extents, at most %u per request", n, MHSLD_MAX_EXTENTS);
    for (i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(arr, i);
        mhsld_mbox_dc_extent x;
        uint64_t seq = 0;
        char where[32];

        snprintf(where, sizeof(where), "extents[%zu]: ", i);
        if (e == NULL || !json_object_is_type(e, json_type_object))
            return seterr(err, errlen, "%smust be an object {\"dpa\":..,\"len\":..}", where);
        memset(&x, 0, sizeof(x));
        if (!only_keys(e, where, keys, err, errlen) ||
            !get_u(e, where, "dpa", UINT64_MAX, true, &x.dpa, err, errlen) ||
            !get_u(e, where, "len", UINT64_MAX, true, &x.len, err, errlen) ||
            !get_tag(e, where, "tag", false, x.tag, err, errlen) ||
            !get_u(e, where, "shared_seq", UINT16_MAX, false, &seq, err, errlen))
            return false;
        if (x.len == 0)
            return seterr(err, errlen, "%s'len' must not be zero", where);
        if (x.dpa > UINT64_MAX - x.len)
            return seterr(err, errlen, "%sthe extent runs past 2^64", where);
        x.shared_seq = (uint16_t)seq;
        ext[i] = x;
    }
    *count = (uint32_t)n;
    return true;
}

/* ---- one table per request ---------------------------------------------
 * A request's JSON keys, each stored into the decoded struct at `off`:
 * an unsigned number of `width` bytes, or (F_FLAG) a boolean that sets
 * `flag` in a byte, or (F_POLICY) a policy by name or number into a byte,
 * or (F_TAG) a tag; "extents" is the 5604h/5605h extent list. */

enum jkind { F_UINT, F_FLAG, F_POLICY, F_TAG, F_EXTENTS };

struct jfield {
    const char *key;
    enum jkind kind;
    size_t off;    /* in the decoded struct */
    uint8_t width; /* F_UINT: bytes */
    bool required;
    uint8_t flag; /* F_FLAG: the bit it sets */
};

static const char *const add_policies[] = {"free", "contiguous", "prescriptive", "shared"};
static const char *const removal_policies[] = {"tag", "prescriptive"};

#define U(type, key, member, req)                                                                  \
    {                                                                                              \
        key, F_UINT, offsetof(type, member), (uint8_t)sizeof(((type *)0)->member), req, 0          \
    }

static const struct jfield f_mhd_info[] = {
    U(mhsld_mbox_mhd_info_in, "start_ld", start_ld, false),
    U(mhsld_mbox_mhd_info_in, "ld_map_limit", ld_map_limit, false),
};
static const struct jfield f_head_info[] = {
    U(mhsld_mbox_head_info_in, "start_head", start_head, false),
    U(mhsld_mbox_head_info_in, "count", count, false),
};
static const struct jfield f_host_region_cfg[] = {
    U(mhsld_mbox_host_region_cfg_in, "host_id", host, true),
    U(mhsld_mbox_host_region_cfg_in, "region_count", region_count, false),
    U(mhsld_mbox_host_region_cfg_in, "start_region", start_region, false),
};
static const struct jfield f_set_region_cfg[] = {
    U(mhsld_mbox_set_region_cfg_in, "region", region, false),
    U(mhsld_mbox_set_region_cfg_in, "block_size", block_size, true),
    {"sanitize", F_FLAG, offsetof(mhsld_mbox_set_region_cfg_in, flags), 1, false,
     MHSLD_MBOX_REGION_SANITIZE},
};
static const struct jfield f_region_extents[] = {
    U(mhsld_mbox_region_extents_in, "host_id", host, true),
    U(mhsld_mbox_region_extents_in, "count", count, false),
    U(mhsld_mbox_region_extents_in, "start", start, false),
};
static const struct jfield f_dc_add[] = {
    U(mhsld_mbox_dc_add_in, "host_id", host, true),
    {"policy", F_POLICY, offsetof(mhsld_mbox_dc_add_in, policy), 1, false, 0},
    U(mhsld_mbox_dc_add_in, "region", region, false),
    U(mhsld_mbox_dc_add_in, "length", length, false),
    {"tag", F_TAG, offsetof(mhsld_mbox_dc_add_in, tag), 0, false, 0},
    {"extents", F_EXTENTS, offsetof(mhsld_mbox_dc_add_in, ext), 0, false, 0},
};
static const struct jfield f_dc_release[] = {
    U(mhsld_mbox_dc_release_in, "host_id", host, true),
    {"policy", F_POLICY, offsetof(mhsld_mbox_dc_release_in, flags), 1, false, 0},
    {"forced", F_FLAG, offsetof(mhsld_mbox_dc_release_in, flags), 1, false,
     MHSLD_MBOX_RELEASE_FORCED},
    {"sanitize", F_FLAG, offsetof(mhsld_mbox_dc_release_in, flags), 1, false,
     MHSLD_MBOX_RELEASE_SANITIZE},
    U(mhsld_mbox_dc_release_in, "length", length, false),
    {"tag", F_TAG, offsetof(mhsld_mbox_dc_release_in, tag), 0, false, 0},
    {"extents", F_EXTENTS, offsetof(mhsld_mbox_dc_release_in, ext), 0, false, 0},
};

static const struct jfield f_tag_ref[] = {
    {"tag", F_TAG, offsetof(mhsld_mbox_dc_tag_ref_in, tag), 0, true, 0},
};
static const struct jfield f_list_tags[] = {
    U(mhsld_mbox_dc_list_tags_in, "start", start, false),
    U(mhsld_mbox_dc_list_tags_in, "count", count, false),
};

typedef int (*encode_fn)(const void *in, uint8_t *buf, size_t cap, size_t *len);
typedef int (*decode_fn)(const uint8_t *buf, size_t len, void *out);

/* The codec's request encoder and decoder, with the struct pointer made
 * generic. */
#define CODEC(name, type)                                                                          \
    static int enc_##name(const void *in, uint8_t *buf, size_t cap, size_t *len)                   \
    {                                                                                              \
        return mhsld_mbox_##name##_encode((const type *)in, buf, cap, len);                        \
    }                                                                                              \
    static int dec_##name(const uint8_t *buf, size_t len, void *out)                               \
    {                                                                                              \
        return mhsld_mbox_##name##_decode(buf, len, (type *)out);                                  \
    }
CODEC(mhd_info_in, mhsld_mbox_mhd_info_in)
CODEC(head_info_in, mhsld_mbox_head_info_in)
CODEC(host_region_cfg_in, mhsld_mbox_host_region_cfg_in)
CODEC(set_region_cfg_in, mhsld_mbox_set_region_cfg_in)
CODEC(region_extents_in, mhsld_mbox_region_extents_in)
CODEC(dc_add_in, mhsld_mbox_dc_add_in)
CODEC(dc_release_in, mhsld_mbox_dc_release_in)
CODEC(dc_tag_ref_in, mhsld_mbox_dc_tag_ref_in)
CODEC(dc_list_tags_in, mhsld_mbox_dc_list_tags_in)

static const struct request {
    uint16_t opcode;
    const struct jfield *fields; /* NULL: no payload */
    size_t nfields;
    size_t size;      /* of the decoded struct */
    size_t count_off; /* F_EXTENTS: offset of the uint32_t count */
    encode_fn encode;
    decode_fn decode;
    const char *const *policies; /* F_POLICY names */
    size_t npolicies;
} requests[] = {
#define R(op, f, type, c)                                                                          \
    {                                                                                              \
        op, f, sizeof(f) / sizeof(f[0]), sizeof(type), 0, enc_##c, dec_##c, NULL, 0                \
    }
    R(MHSLD_MBOX_OP_GET_MHD_INFO, f_mhd_info, mhsld_mbox_mhd_info_in, mhd_info_in),
    R(MHSLD_MBOX_OP_GET_HEAD_INFO, f_head_info, mhsld_mbox_head_info_in, head_info_in),
    {MHSLD_MBOX_OP_GET_DCD_INFO, NULL, 0, 0, 0, NULL, NULL, NULL, 0},
    R(MHSLD_MBOX_OP_GET_HOST_DC_REGION_CONFIG, f_host_region_cfg, mhsld_mbox_host_region_cfg_in,
      host_region_cfg_in),
    R(MHSLD_MBOX_OP_SET_DC_REGION_CONFIG, f_set_region_cfg, mhsld_mbox_set_region_cfg_in,
      set_region_cfg_in),
    R(MHSLD_MBOX_OP_GET_DC_REGION_EXTENTS, f_region_extents, mhsld_mbox_region_extents_in,
      region_extents_in),
    R(MHSLD_MBOX_OP_DC_ADD_REFERENCE, f_tag_ref, mhsld_mbox_dc_tag_ref_in, dc_tag_ref_in),
    R(MHSLD_MBOX_OP_DC_REMOVE_REFERENCE, f_tag_ref, mhsld_mbox_dc_tag_ref_in, dc_tag_ref_in),
    R(MHSLD_MBOX_OP_DC_LIST_TAGS, f_list_tags, mhsld_mbox_dc_list_tags_in, dc_list_tags_in),
#undef R
    {MHSLD_MBOX_OP_INITIATE_DC_ADD, f_dc_add, sizeof(f_dc_add) / sizeof(f_dc_add[0]),
     sizeof(mhsld_mbox_dc_add_in), offsetof(mhsld_mbox_dc_add_in, count), enc_dc_add_in,
     dec_dc_add_in, add_policies, 4},
    {MHSLD_MBOX_OP_INITIATE_DC_RELEASE, f_dc_release,
     sizeof(f_dc_release) / sizeof(f_dc_release[0]), sizeof(mhsld_mbox_dc_release_in),
     offsetof(mhsld_mbox_dc_release_in, count), enc_dc_release_in, dec_dc_release_in,
     removal_policies, 2},
};

static void store_uint(uint8_t *p, uint8_t width, uint64_t v)
{
    uint8_t b = (uint8_t)v;
    uint16_t h = (uint16_t)v;
    uint32_t w = (uint32_t)v;

    switch (width) {
    case 1:
        memcpy(p, &b, 1);
        break;
    case 2:
        memcpy(p, &h, 2);
        break;
    case 4:
        memcpy(p, &w, 4);
        break;
    default:
        memcpy(p, &v, 8);
        break;
    }
}

/* Fill the decoded struct `in` (zeroed, r->size bytes) from o. */
static bool read_request(const struct request *r, json_object *o, uint8_t *in, char *err,
                         size_t errlen)
{
    const char *keys[16];
    size_t i;

    for (i = 0; i < r->nfields && i < 15; i++)
        keys[i] = r->fields[i].key;
    keys[i] = NULL;
    if (!only_keys(o, "", keys, err, errlen))
        return false;
    for (i = 0; i < r->nfields; i++) {
        const struct jfield *f = &r->fields[i];
        uint8_t *p = in + f->off;
        uint64_t v = 0;
        bool on = false;
        uint32_t count = 0;

        switch (f->kind) {
        case F_UINT:
            if (!get_u(o, "", f->key,
                       f->width >= 8 ? UINT64_MAX : (UINT64_C(1) << (8 * f->width)) - 1,
                       f->required, &v, err, errlen))
                return false;
            store_uint(p, f->width, v);
            break;
        case F_FLAG:
            if (!get_bool(o, "", f->key, &on, err, errlen))
                return false;
            if (on)
                *p = (uint8_t)(*p | f->flag);
            break;
        case F_POLICY: {
            uint8_t pol = 0;
            if (!get_policy(o, f->key, r->policies, r->npolicies, &pol, err, errlen))
                return false;
            *p = (uint8_t)(*p | pol);
            break;
        }
        case F_TAG:
            if (!get_tag(o, "", f->key, f->required, p, err, errlen))
                return false;
            break;
        case F_EXTENTS:
            if (!get_extents(o, (mhsld_mbox_dc_extent *)(void *)p, &count, err, errlen))
                return false;
            memcpy(in + r->count_off, &count, sizeof(count));
            break;
        }
    }
    return true;
}

static const struct request *request_of(uint16_t opcode)
{
    size_t i;

    for (i = 0; i < sizeof(requests) / sizeof(requests[0]); i++)
        if (requests[i].opcode == opcode)
            return &requests[i];
    return NULL;
}

/* Fill the request struct of `opcode` from o and encode it into buf. */
static bool build(uint16_t opcode, json_object *o, uint8_t *buf, size_t cap, size_t *len, int *rc,
                  char *err, size_t errlen)
{
    const struct request *r = request_of(opcode);
    uint8_t *in;
    bool ok;

    if (r == NULL)
        return seterr(err, errlen, "opcode %04Xh has no JSON request", (unsigned)opcode);
    if (r->fields == NULL) {
        static const char *const none[] = {NULL};
        if (!only_keys(o, "", none, err, errlen))
            return false;
        *len = 0; /* no request payload */
        *rc = MHSLD_CXL_SUCCESS;
        return true;
    }
    in = calloc(1, r->size); /* the list structs are large */
    if (in == NULL)
        return seterr(err, errlen, "out of memory");
    ok = read_request(r, o, in, err, errlen);
    if (ok)
        *rc = r->encode(in, buf, cap, len);
    free(in);
    return ok;
}

int ctl_fm_mbox_build(uint16_t opcode, const char *json, uint8_t *buf, size_t cap, size_t *len,
                      char *err, size_t errlen)
{
    enum json_tokener_error jerr = json_tokener_success;
    json_object *o = json_tokener_parse_verbose(json, &jerr);
    uint8_t *tmp;
    size_t n = 0;
    int rc = MHSLD_CXL_SUCCESS, exit_code = CTL_EXIT_USAGE;

    if (o == NULL) {
        seterr(err, errlen, "--in-json: not JSON: %s", json_tokener_error_desc(jerr));
        return CTL_EXIT_USAGE;
    }
    if (!json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        seterr(err, errlen, "--in-json: expected a JSON object {...}");
        return CTL_EXIT_USAGE;
    }
    tmp = malloc(BUILD_CAP);
    if (tmp == NULL) {
        json_object_put(o);
        seterr(err, errlen, "out of memory");
        return CTL_EXIT_IO;
    }
    if (!build(opcode, o, tmp, BUILD_CAP, &n, &rc, err, errlen)) {
        /* err says why */
    } else if (rc != MHSLD_CXL_SUCCESS) {
        seterr(err, errlen, "--in-json: the codec refuses this request (%s)",
               mhsld_cxl_rc_name(rc));
    } else if (n > cap) {
        seterr(err, errlen,
               "--in-json: the payload is %zu bytes, more than the %zu a request "
               "carries",
               n, cap);
    } else {
        memcpy(buf, tmp, n);
        *len = n;
        exit_code = CTL_EXIT_OK;
    }
    free(tmp);
    json_object_put(o);
    return exit_code;
}

bool ctl_fm_mbox_check(uint16_t opcode, const uint8_t *buf, size_t len, char *err, size_t errlen)
{
    const struct request *r = request_of(opcode);
    void *in;
    int rc;

    if (r == NULL)
        return seterr(err, errlen, "opcode %04Xh is not an FM-API command", (unsigned)opcode);
    if (r->decode == NULL) {
        rc = len == 0 ? MHSLD_CXL_SUCCESS : MHSLD_CXL_INVALID_PAYLOAD_LENGTH;
    } else {
        in = malloc(r->size);
        if (in == NULL)
            return seterr(err, errlen, "out of memory");
        rc = r->decode(buf, len, in);
        free(in);
    }
    if (rc != MHSLD_CXL_SUCCESS)
        return seterr(err, errlen, "the %zu-byte payload is not a valid %04Xh request (%s)", len,
                      (unsigned)opcode, mhsld_cxl_rc_name(rc));
    return true;
}

/* ---- decoding a response ------------------------------------------------ */

static json_object *ju(uint64_t v)
{
    return ctl_jnew(json_object_new_uint64(v));
}

static json_object *jlimits(const mhsld_mbox_dc_limits *l)
{
    json_object *o = ctl_jnew(json_object_new_object());

    ctl_jadd(o, "total_extents", ju(l->total_extents));
    ctl_jadd(o, "avail_extents", ju(l->avail_extents));
    ctl_jadd(o, "total_tags", ju(l->total_tags));
    ctl_jadd(o, "avail_tags", ju(l->avail_tags));
    return o;
}

static json_object *jdc_extents(const mhsld_mbox_dc_extent *e, size_t n)
{
    json_object *arr = ctl_jnew(json_object_new_array());
    char t[CTL_FMTLEN];
    size_t i;

    for (i = 0; i < n; i++) {
        json_object *x = ctl_jnew(json_object_new_object());
        ctl_jadd(x, "dpa", ju(e[i].dpa));
        ctl_jadd(x, "len", ju(e[i].len));
        ctl_jadd(x, "tag", ctl_jnew(json_object_new_string(ctl_fmt_tag(e[i].tag, t))));
        ctl_jadd(x, "shared_seq", ju(e[i].shared_seq));
        ctl_jpush(arr, x);
    }
    return arr;
}

static json_object *resp_mhd_info(const mhsld_mbox_mhd_info_out *r)
{
    json_object *o = ctl_jnew(json_object_new_object()), *map = ctl_jnew(json_object_new_array());
    size_t i;

    ctl_jadd(o, "nr_lds", ju(r->nr_lds));
    ctl_jadd(o, "nr_heads", ju(r->nr_heads));
    ctl_jadd(o, "start_ld", ju(r->start_ld));
    ctl_jadd(o, "ld_map_len", ju(r->ld_map_len));
    for (i = 0; i < r->ld_map_len && i < sizeof(r->ld_map); i++)
        ctl_jpush(map, ju(r->ld_map[i]));
    ctl_jadd(o, "ld_map", map);
    return o;
}

static json_object *resp_head_info(const mhsld_mbox_head_info_out *r)
{
    json_object *o = ctl_jnew(json_object_new_object()), *arr = ctl_jnew(json_object_new_array());
    size_t i;

    ctl_jadd(o, "count", ju(r->count));
    for (i = 0; i < r->count && i < sizeof(r->head) / sizeof(r->head[0]); i++) {
        const mhsld_mbox_link *l = &r->head[i];
        json_object *h = ctl_jnew(json_object_new_object());
        ctl_jadd(h, "port", ju(l->port));
        ctl_jadd(h, "max_width", ju(l->max_width));
        ctl_jadd(h, "neg_width", ju(l->neg_width));
        ctl_jadd(h, "speeds", ju(l->speeds));
        ctl_jadd(h, "max_speed", ju(l->max_speed));
        ctl_jadd(h, "cur_speed", ju(l->cur_speed));
        ctl_jadd(h, "ltssm", ju(l->ltssm));
        ctl_jadd(h, "first_lane", ju(l->first_lane));
        ctl_jadd(h, "flags", ju(l->flags));
        ctl_jpush(arr, h);
    }
    ctl_jadd(o, "heads", arr);
    return o;
}

static json_object *resp_dcd_info(const mhsld_mbox_dcd_info_out *r)
{
    json_object *o = ctl_jnew(json_object_new_object()), *arr = ctl_jnew(json_object_new_array());
    size_t i;

    ctl_jadd(o, "nr_hosts", ju(r->nr_hosts));
    ctl_jadd(o, "nr_regions", ju(r->nr_regions));
    ctl_jadd(o, "add_policies", ju(r->add_policies));
    ctl_jadd(o, "release_policies", ju(r->release_policies));
    ctl_jadd(o, "sanitize_mask", ju(r->sanitize_mask));
    ctl_jadd(o, "total_capacity", ju(r->total_capacity));
    for (i = 0; i < r->nr_regions && i < MHSLD_MBOX_DC_REGIONS; i++)
        ctl_jpush(arr, ju(r->block_size_mask[i]));
    ctl_jadd(o, "block_size_mask", arr);
    return o;
}

static json_object *resp_host_region_cfg(const mhsld_mbox_host_region_cfg_out *r)
{
    json_object *o = ctl_jnew(json_object_new_object()), *arr = ctl_jnew(json_object_new_array());
    size_t i;

    ctl_jadd(o, "host_id", ju(r->host));
    ctl_jadd(o, "nr_regions", ju(r->nr_regions));
    ctl_jadd(o, "returned", ju(r->returned));
    for (i = 0; i < r->returned && i < MHSLD_MBOX_DC_REGIONS; i++) {
        const mhsld_mbox_host_region *g = &r->region[i];
        json_object *x = ctl_jnew(json_object_new_object());
        ctl_jadd(x, "base", ju(g->base));
        ctl_jadd(x, "decode_len", ju(g->decode_len));
        ctl_jadd(x, "length", ju(g->len));
        ctl_jadd(x, "block_size", ju(g->block_size));
        ctl_jadd(x, "flags", ju(g->flags));
        ctl_jadd(x, "sanitize", ju(g->sanitize));
        ctl_jpush(arr, x);
    }
    ctl_jadd(o, "regions", arr);
    ctl_jadd(o, "limits", jlimits(&r->limits));
    return o;
}

static json_object *resp_region_extents(const mhsld_mbox_region_extents_out *r)
{
    json_object *o = ctl_jnew(json_object_new_object());
    size_t n = r->returned < MHSLD_MBOX_LIST_MAX ? r->returned : MHSLD_MBOX_LIST_MAX;

    ctl_jadd(o, "host_id", ju(r->host));
    ctl_jadd(o, "start", ju(r->start));
    ctl_jadd(o, "returned", ju(r->returned));
    ctl_jadd(o, "total", ju(r->total));
    ctl_jadd(o, "generation", ju(r->generation));
    ctl_jadd(o, "extents", jdc_extents(r->ext, n));
    return o;
}

/* o[key]: the heads whose bit is set in a 256-bit host bitmap (bit n: host
 * n), or null when the validity bitmap says the bitmap is not valid. */
static void jheads(json_object *o, const char *key, const uint8_t bm[32], bool valid)
{
    json_object *arr;
    unsigned n;

    if (!valid) {
        ctl_jnull(o, key);
        return;
    }
    arr = ctl_jnew(json_object_new_array());
    for (n = 0; n < 256; n++)
        if (bm[n / 8] & (1u << (n % 8)))
            ctl_jpush(arr, ju(n));
    ctl_jadd(o, key, arr);
}

static json_object *resp_list_tags(const mhsld_mbox_dc_list_tags_out *r)
{
    json_object *o = ctl_jnew(json_object_new_object()), *arr = ctl_jnew(json_object_new_array());
    bool ref_valid = (r->validity & MHSLD_MBOX_TAGS_REF_VALID) != 0;
    bool pending_valid = (r->validity & MHSLD_MBOX_TAGS_PENDING_VALID) != 0;
    char t[CTL_FMTLEN];
    size_t i;

    ctl_jadd(o, "generation", ju(r->generation));
    ctl_jadd(o, "total", ju(r->total));
    ctl_jadd(o, "returned", ju(r->returned));
    ctl_jadd(o, "validity", ju(r->validity));
    for (i = 0; i < r->returned && i < MHSLD_MAX_SHARED; i++) {
        const mhsld_mbox_dc_tag_info *g = &r->tag[i];
        json_object *x = ctl_jnew(json_object_new_object());
        ctl_jadd(x, "tag", ctl_jnew(json_object_new_string(ctl_fmt_tag(g->tag, t))));
        ctl_jadd(x, "flags", ju(g->flags));
        ctl_jadd(x, "fm_reference",
                 ctl_jnew(json_object_new_boolean((g->flags & MHSLD_MBOX_TAG_FM_REF) != 0)));
        jheads(x, "references", g->ref_bitmap, ref_valid);
        jheads(x, "pending", g->pending_bitmap, pending_valid);
        ctl_jpush(arr, x);
    }
    ctl_jadd(o, "tags", arr);
    return o;
}

/* Decode into a heap copy of `type` (the list structs are large) and
 * convert it with fn. */
#define DECODE(type, codec, fn)                                                                    \
    do {                                                                                           \
        type *r_ = malloc(sizeof(type));                                                           \
        if (r_ == NULL) {                                                                          \
            seterr(err, errlen, "out of memory");                                                  \
            return NULL;                                                                           \
        }                                                                                          \
        rc = codec(buf, len, r_);                                                                  \
        o = rc == MHSLD_CXL_SUCCESS ? fn(r_) : NULL;                                               \
        free(r_);                                                                                  \
    } while (0)

json_object *ctl_fm_mbox_response(uint16_t opcode, const uint8_t *buf, size_t len, char *err,
                                  size_t errlen)
{
    json_object *o = NULL;
    int rc = MHSLD_CXL_SUCCESS;

    switch (opcode) {
    case MHSLD_MBOX_OP_GET_MHD_INFO:
        DECODE(mhsld_mbox_mhd_info_out, mhsld_mbox_mhd_info_out_decode, resp_mhd_info);
        break;
    case MHSLD_MBOX_OP_GET_HEAD_INFO:
        DECODE(mhsld_mbox_head_info_out, mhsld_mbox_head_info_out_decode, resp_head_info);
        break;
    case MHSLD_MBOX_OP_GET_DCD_INFO:
        DECODE(mhsld_mbox_dcd_info_out, mhsld_mbox_dcd_info_out_decode, resp_dcd_info);
        break;
    case MHSLD_MBOX_OP_GET_HOST_DC_REGION_CONFIG:
        DECODE(mhsld_mbox_host_region_cfg_out, mhsld_mbox_host_region_cfg_out_decode,
               resp_host_region_cfg);
        break;
    case MHSLD_MBOX_OP_GET_DC_REGION_EXTENTS:
        DECODE(mhsld_mbox_region_extents_out, mhsld_mbox_region_extents_out_decode,
               resp_region_extents);
        break;
    case MHSLD_MBOX_OP_DC_LIST_TAGS:
        DECODE(mhsld_mbox_dc_list_tags_out, mhsld_mbox_dc_list_tags_out_decode, resp_list_tags);
        break;
    case MHSLD_MBOX_OP_SET_DC_REGION_CONFIG:
    case MHSLD_MBOX_OP_INITIATE_DC_ADD:
    case MHSLD_MBOX_OP_INITIATE_DC_RELEASE:
    case MHSLD_MBOX_OP_DC_ADD_REFERENCE:
    case MHSLD_MBOX_OP_DC_REMOVE_REFERENCE:
        /* no response payload */
        if (len != 0)
            rc = MHSLD_CXL_INVALID_PAYLOAD_LENGTH;
        else
            o = ctl_jnew(json_object_new_object());
        break;
    default:
        seterr(err, errlen, "opcode %04Xh is not an FM-API command", (unsigned)opcode);
        return NULL;
    }
    if (rc != MHSLD_CXL_SUCCESS)
        seterr(err, errlen, "the %zu-byte response does not decode as %04Xh's (%s)", len,
               (unsigned)opcode, mhsld_cxl_rc_name(rc));
    else if (o == NULL)
        seterr(err, errlen, "out of memory");
    return o;
}
