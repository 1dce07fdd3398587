/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Mailbox dispatcher against a real state: every command's success path and
 * error paths, paging, boundary counts, and the claim that a failing command
 * changes nothing (the whole block table, every head's record and the shared
 * extent table are compared before and after).  Ends with the end-to-end
 * sequence FM add -> host extent list -> add response -> release on two
 * heads of one state.
 *
 * Each test makes its own state file under /dev/shm with a name unique to
 * this process and destroys it at the end.  Request payloads are copied into
 * heap buffers of exactly their length and responses go into heap buffers of
 * exactly the capacity given, so ASan sees any access outside them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mhsld/mailbox.h"
#include "mhsld/mhsld.h"

static int failures;

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #c);                  \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

#define CHECK_RC(expr, want)                                                                       \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        int want_ = (want);                                                                        \
        if (rc_ != want_) {                                                                        \
            fprintf(stderr, "%s:%d: %s = %s, want %s\n", __FILE__, __LINE__, #expr,                \
                    mhsld_cxl_rc_name(rc_), mhsld_cxl_rc_name(want_));                             \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

#define REQUIRE(c)                                                                                 \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: REQUIRE(%s) failed\n", __FILE__, __LINE__, #c);                \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define OK MHSLD_CXL_SUCCESS
#define IPL MHSLD_CXL_INVALID_PAYLOAD_LENGTH
#define INV MHSLD_CXL_INVALID_INPUT
#define UNS MHSLD_CXL_UNSUPPORTED
#define INT MHSLD_CXL_INTERNAL_ERROR
#define IPA MHSLD_CXL_INVALID_PA
#define IEL MHSLD_CXL_INVALID_EXTENT_LIST
#define REX MHSLD_CXL_RESOURCES_EXHAUSTED

#define MiB (1ull << 20)
#define BS (2 * MiB)
#define R0 0x10000000ull  /* region 0: 256 blocks, exclusive */
#define R0_BLOCKS 256u
#define R1 0x40000000ull  /* region 1: 32 blocks, sharable */
#define R1_BLOCKS 32u
#define NHEADS 3u         /* head 2 is never attached */

/* ---- fixture ---------------------------------------------------------------- */

typedef struct fx {
    char path[128];
    mhsld_state *st;
    mhsld_head *h[2];
    mhsld_mbox_ctx c[2]; /* host mailbox of head i; FM API may act on heads 0 and 1 */
} fx;

static void fx_open(fx *f, const char *name)
{
    static unsigned counter;
    memset(f, 0, sizeof(*f));
    snprintf(f->path, sizeof(f->path), "/dev/shm/mhsld-test-mbox-%d-%u-%s", (int)getpid(),
             counter++, name);
    mhsld_geometry g;
    mhsld_geometry_init(&g, NHEADS, BS, R0, (uint64_t)R0_BLOCKS * BS);
    g.regions[0].dsmad_handle = 7;
    g.nr_regions = 2;
    g.regions[1].base = R1;
    g.regions[1].len = (uint64_t)R1_BLOCKS * BS;
    g.regions[1].flags = MHSLD_REGION_SHARABLE;
    g.regions[1].dsmad_handle = 8;
    g.nr_lds = 4;
    g.ld_map[0] = 0;
    g.ld_map[1] = 1;
    g.ld_map[2] = MHSLD_LD_UNASSIGNED;
    g.ld_map[3] = 2;
    mhsld_open_opts o = {
        .size = sizeof(o), .mode = MHSLD_OPEN_CREATE, .path = f->path, .geometry = &g};
    mhsld_status s = mhsld_open(&o, &f->st);
    if (s != MHSLD_OK) {
        fprintf(stderr, "open %s: %s\n", f->path, mhsld_strerror(s));
    }
    REQUIRE(s == MHSLD_OK);
    for (uint32_t i = 0; i < 2; i++) {
        s = mhsld_attach(f->st, i, MHSLD_ATTACH_DROP, &f->h[i]);
        if (s != MHSLD_OK) {
            fprintf(stderr, "attach %u: %s\n", i, mhsld_strerror(s));
        }
        REQUIRE(s == MHSLD_OK);
    }
    for (uint32_t i = 0; i < 2; i++) {
        mhsld_mbox_ctx_init(&f->c[i], f->st, f->h[i]);
        f->c[i].heads[0] = f->h[0];
        f->c[i].heads[1] = f->h[1];
    }
}

static void fx_close(fx *f)
{
    char msg[256] = "";
    mhsld_status s = mhsld_validate(f->st, msg, sizeof(msg));
    if (s != MHSLD_OK) {
        fprintf(stderr, "validate: %s: %s\n", mhsld_strerror(s), msg);
    }
    CHECK(s == MHSLD_OK);
    mhsld_detach(f->h[0]);
    mhsld_detach(f->h[1]);
    mhsld_close(f->st);
    CHECK(mhsld_destroy(f->path, false) == MHSLD_OK);
    CHECK(access(f->path, F_OK) != 0);
}

/* ---- snapshots: "changes nothing" ---------------------------------------------- */

typedef struct snap {
    uint64_t n;
    mhsld_block_info b[R0_BLOCKS + R1_BLOCKS];
    mhsld_head_info hi[NHEADS];
    size_t nshared;
} snap;

static void take(mhsld_state *st, snap *s)
{
    memset(s, 0, sizeof(*s));
    s->n = mhsld_block_count(st);
    REQUIRE(s->n == R0_BLOCKS + R1_BLOCKS);
    for (uint64_t i = 0; i < s->n; i++) {
        REQUIRE(mhsld_block_info_get(st, i, &s->b[i]) == MHSLD_OK);
    }
    for (uint32_t h = 0; h < NHEADS; h++) {
        REQUIRE(mhsld_head_info_get(st, h, &s->hi[h]) == MHSLD_OK);
    }
    REQUIRE(mhsld_shared_list(st, NULL, 0, NULL, &s->nshared) == MHSLD_OK);
}

static snap snap_a, snap_b;

#define CHECK_NO_CHANGE(f, expr, want)                                                             \
    do {                                                                                           \
        take((f)->st, &snap_a);                                                                    \
        CHECK_RC(expr, want);                                                                      \
        take((f)->st, &snap_b);                                                                    \
        CHECK(memcmp(&snap_a, &snap_b, sizeof(snap)) == 0);                                        \
    } while (0)

/* ---- running commands ---------------------------------------------------------- */

/* Execute with exact-size heap copies; the response (if out != NULL) is
 * copied to out, its length to *olen. */
static int exec_cap(const mhsld_mbox_ctx *c, uint16_t op, const uint8_t *in, size_t in_len,
                    size_t cap, uint8_t *out, size_t *olen)
{
    uint8_t *i = malloc(in_len ? in_len : 1);
    uint8_t *o = malloc(cap ? cap : 1);
    REQUIRE(i != NULL && o != NULL);
    if (in_len) {
        memcpy(i, in, in_len);
    }
    size_t n = 12345;
    int rc = mhsld_mbox_execute(c, op, in_len ? i : NULL, in_len, cap ? o : NULL, cap, &n);
    CHECK(n <= cap);
    if (rc != OK) {
        CHECK(n == 0);
    }
    if (out != NULL && rc == OK) {
        memcpy(out, o, n);
    }
    if (olen != NULL) {
        *olen = n;
    }
    free(i);
    free(o);
    return rc;
}

static int exec(const mhsld_mbox_ctx *c, uint16_t op, const uint8_t *in, size_t in_len,
                uint8_t *out, size_t *olen)
{
    return exec_cap(c, op, in, in_len, MHSLD_MBOX_PAYLOAD_MAX, out, olen);
}

static mhsld_extent ext(uint64_t dpa, uint64_t len)
{
    mhsld_extent e = {dpa, len};
    return e;
}

/* 5604h */
static int fm_add_ex(const mhsld_mbox_ctx *c, uint16_t host, uint8_t policy, uint8_t region,
                     uint64_t length, const mhsld_extent *e, size_t n, uint8_t tag0)
{
    static mhsld_mbox_dc_add_in q;
    static uint8_t buf[0x20 + (MHSLD_MAX_EXTENTS + 1) * 0x28];
    memset(&q, 0, sizeof(q));
    q.host = host;
    q.policy = policy;
    q.region = region;
    q.length = length;
    memset(q.tag, tag0, sizeof(q.tag));
    q.count = (uint32_t)n;
    for (size_t i = 0; i < n && i < MHSLD_MAX_EXTENTS; i++) {
        q.ext[i].dpa = e[i].dpa;
        q.ext[i].len = e[i].len;
        memset(q.ext[i].tag, tag0, MHSLD_TAG_SIZE);
    }
    size_t len = 0;
    if (n > MHSLD_MAX_EXTENTS) { /* the encoder refuses: write the payload by hand */
        memset(buf, 0, sizeof(buf));
        mhsld_st16(buf, host);
        buf[2] = policy;
        mhsld_st32(buf + 0x1C, (uint32_t)n);
        for (size_t i = 0; i < n; i++) {
            mhsld_st64(buf + 0x20 + i * 0x28, e[i].dpa);
            mhsld_st64(buf + 0x28 + i * 0x28, e[i].len);
        }
        len = 0x20 + n * 0x28;
    } else {
        REQUIRE(mhsld_mbox_dc_add_in_encode(&q, buf, sizeof(buf), &len) == OK);
    }
    return exec(c, MHSLD_MBOX_OP_INITIATE_DC_ADD, buf, len, NULL, NULL);
}

static int fm_add(const mhsld_mbox_ctx *c, uint16_t host, const mhsld_extent *e, size_t n)
{
    return fm_add_ex(c, host, MHSLD_MBOX_POLICY_PRESCRIPTIVE, 0, 0, e, n, 0);
}

/* 4802h / 4803h */
static int update(const mhsld_mbox_ctx *c, uint16_t op, uint8_t flags, const mhsld_extent *e,
                  size_t n)
{
    static uint8_t buf[8 + (MHSLD_MAX_EXTENTS + 1) * 0x18];
    memset(buf, 0, sizeof(buf));
    mhsld_st32(buf, (uint32_t)n);
    buf[4] = flags;
    for (size_t i = 0; i < n; i++) {
        mhsld_st64(buf + 8 + i * 0x18, e[i].dpa);
        mhsld_st64(buf + 16 + i * 0x18, e[i].len);
    }
    return exec(c, op, buf, 8 + n * 0x18, NULL, NULL);
}

static int accept_ext(const mhsld_mbox_ctx *c, const mhsld_extent *e, size_t n)
{
    return update(c, MHSLD_MBOX_OP_ADD_DC_RESPONSE, 0, e, n);
}

static int release_ext(const mhsld_mbox_ctx *c, const mhsld_extent *e, size_t n)
{
    return update(c, MHSLD_MBOX_OP_RELEASE_DC, 0, e, n);
}

/* 5605h */
static int fm_release(const mhsld_mbox_ctx *c, uint16_t host, uint8_t flags, const mhsld_extent *e,
                      size_t n, uint8_t tag0)
{
    static mhsld_mbox_dc_release_in q;
    static uint8_t buf[0x20 + MHSLD_MAX_EXTENTS * 0x28];
    memset(&q, 0, sizeof(q));
    q.host = host;
    q.flags = flags;
    memset(q.tag, tag0, sizeof(q.tag));
    q.count = (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        q.ext[i].dpa = e[i].dpa;
        q.ext[i].len = e[i].len;
    }
    size_t len = 0;
    REQUIRE(mhsld_mbox_dc_release_in_encode(&q, buf, sizeof(buf), &len) == OK);
    return exec(c, MHSLD_MBOX_OP_INITIATE_DC_RELEASE, buf, len, NULL, NULL);
}

/* 4801h, decoded */
static int host_list(const mhsld_mbox_ctx *c, uint32_t start, uint32_t count,
                     mhsld_mbox_dc_extents_out *r)
{
    uint8_t in[8], out[MHSLD_MBOX_PAYLOAD_MAX];
    size_t n = 0;
    mhsld_st32(in, count);
    mhsld_st32(in + 4, start);
    int rc = exec(c, MHSLD_MBOX_OP_GET_DC_EXTENT_LIST, in, sizeof(in), out, &n);
    if (rc == OK) {
        CHECK_RC(mhsld_mbox_dc_extents_out_decode(out, n, r), OK);
    }
    return rc;
}

static uint32_t host_gen(const mhsld_mbox_ctx *c)
{
    static mhsld_mbox_dc_extents_out r;
    REQUIRE(host_list(c, 0, 0, &r) == OK);
    return r.generation;
}

static uint32_t block_state(mhsld_state *st, uint64_t dpa, uint32_t *owner)
{
    uint64_t idx = dpa >= R1 ? R0_BLOCKS + (dpa - R1) / BS : (dpa - R0) / BS;
    mhsld_block_info bi;
    REQUIRE(mhsld_block_info_get(st, idx, &bi) == MHSLD_OK);
    if (owner != NULL) {
        *owner = bi.owner;
    }
    return bi.state;
}

/* notify() recorder */
static struct {
    int calls;
    mhsld_mbox_event last;
    mhsld_mbox_dc_extent ext[MHSLD_MAX_EXTENTS];
} ev;

static void on_event(void *opaque, const mhsld_mbox_event *e)
{
    CHECK(opaque == &ev);
    ev.calls++;
    ev.last = *e;
    size_t n = e->n < MHSLD_MAX_EXTENTS ? e->n : MHSLD_MAX_EXTENTS;
    memcpy(ev.ext, e->ext, n * sizeof(ev.ext[0]));
    ev.last.ext = ev.ext;
}

/* ---- dispatcher generics ---------------------------------------------------------- */

static void test_dispatch_generic(void)
{
    fx f;
    fx_open(&f, "generic");
    uint8_t in[64];
    memset(in, 0, sizeof(in));
    const uint16_t unknown[] = {0x0000, 0x0001, 0x4400, 0x4804, 0x48FF,
                                0x5502, 0x55FF, 0x5609, 0x5700, 0xFFFF};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        CHECK_NO_CHANGE(&f, exec(&f.c[0], unknown[i], in, 2, NULL, NULL), UNS);
    }
    /* every fixed-length command: its length, one less, one more */
    for (size_t i = 0; i < mhsld_mbox_command_count(); i++) {
        const mhsld_mbox_cmd_info *ci = mhsld_mbox_command_at(i);
        if (ci->in_len == MHSLD_MBOX_VARIABLE) {
            continue;
        }
        if (ci->in_len > 0) {
            CHECK_NO_CHANGE(&f, exec(&f.c[0], ci->opcode, in, ci->in_len - 1, NULL, NULL), IPL);
        }
        CHECK_NO_CHANGE(&f, exec(&f.c[0], ci->opcode, in, ci->in_len + 1, NULL, NULL), IPL);
    }
    /* variable-length commands: a header one byte short */
    CHECK_NO_CHANGE(&f, exec(&f.c[0], MHSLD_MBOX_OP_ADD_DC_RESPONSE, in, 7, NULL, NULL), IPL);
    CHECK_NO_CHANGE(&f, exec(&f.c[0], MHSLD_MBOX_OP_RELEASE_DC, in, 7, NULL, NULL), IPL);
    CHECK_NO_CHANGE(&f, exec(&f.c[0], MHSLD_MBOX_OP_INITIATE_DC_ADD, in, 0x1F, NULL, NULL), IPL);
    CHECK_NO_CHANGE(&f, exec(&f.c[0], MHSLD_MBOX_OP_INITIATE_DC_RELEASE, in, 0x1F, NULL, NULL),
                    IPL);
    CHECK_NO_CHANGE(&f, exec(&f.c[0], MHSLD_MBOX_OP_ADD_DC_RESPONSE, NULL, 0, NULL, NULL), IPL);

    /* bad arguments and contexts */
    uint8_t out[16];
    size_t n = 99;
    CHECK_RC(mhsld_mbox_execute(NULL, MHSLD_MBOX_OP_GET_DCD_INFO, NULL, 0, out, 16, &n), INT);
    CHECK(n == 0);
    CHECK_RC(mhsld_mbox_execute(&f.c[0], MHSLD_MBOX_OP_GET_DCD_INFO, NULL, 0, out, 16, NULL), INT);
    CHECK_RC(mhsld_mbox_execute(&f.c[0], MHSLD_MBOX_OP_GET_MHD_INFO, NULL, 2, out, 16, &n), INT);
    CHECK_RC(mhsld_mbox_execute(&f.c[0], MHSLD_MBOX_OP_GET_DCD_INFO, NULL, 0, NULL, 16, &n), INT);
    mhsld_mbox_ctx bad = f.c[0];
    bad.size = 8;
    CHECK_RC(exec(&bad, MHSLD_MBOX_OP_GET_DCD_INFO, NULL, 0, NULL, NULL), INT);
    bad = f.c[0];
    bad.st = NULL;
    CHECK_RC(exec(&bad, MHSLD_MBOX_OP_GET_DCD_INFO, NULL, 0, NULL, NULL), INT);
    /* heads[i] must be head i of this state */
    bad = f.c[0];
    bad.heads[1] = f.h[0];
    CHECK_NO_CHANGE(&f, exec(&bad, MHSLD_MBOX_OP_GET_DCD_INFO, NULL, 0, NULL, NULL), INT);
    bad.heads[1] = NULL;
    bad.heads[5] = f.h[1];
    CHECK_RC(exec(&bad, MHSLD_MBOX_OP_GET_DCD_INFO, NULL, 0, NULL, NULL), INT);
    /* an older caller's smaller ctx (up to heads[]) gets the defaults */
    bad = f.c[0];
    bad.size = (uint32_t)offsetof(mhsld_mbox_ctx, link);
    bad.extents_supported = 7;
    uint8_t cfg[MHSLD_MBOX_PAYLOAD_MAX];
    uint8_t q[2] = {8, 0};
    CHECK_RC(exec(&bad, MHSLD_MBOX_OP_GET_DC_CONFIG, q, 2, cfg, &n), OK);
    mhsld_mbox_dc_config_out r;
    CHECK_RC(mhsld_mbox_dc_config_out_decode(cfg, n, &r), OK);
    CHECK(r.limits.total_extents == 1024);
    /* engine statuses map to the spec's codes */
    CHECK(mhsld_mbox_rc_from_status(MHSLD_OK) == OK);
    CHECK(mhsld_mbox_rc_from_status(MHSLD_E_CONFLICT) == IEL);
    CHECK(mhsld_mbox_rc_from_status(MHSLD_E_NOT_OWNER) == IPA);
    CHECK(mhsld_mbox_rc_from_status(MHSLD_E_RANGE) == IPA);
    CHECK(mhsld_mbox_rc_from_status(MHSLD_E_TOO_MANY) == REX);
    CHECK(mhsld_mbox_rc_from_status(MHSLD_E_BUSY) == MHSLD_CXL_BUSY);
    CHECK(mhsld_mbox_rc_from_status(MHSLD_E_CORRUPT) == INT);
    for (int s = 1; s < MHSLD_E__COUNT; s++) {
        CHECK(mhsld_mbox_rc_from_status((mhsld_status)s) != OK);
    }
    fx_close(&f);
}

/* ---- 5500h / 5501h ----------------------------------------------------------------- */

static void test_mhd_info(void)
{
    fx f;
    fx_open(&f, "mhd");
    uint8_t out[MHSLD_MBOX_PAYLOAD_MAX];
    size_t n = 0;
    const uint8_t all[] = {0x00, 0xFF};
    CHECK_RC(exec(&f.c[0], MHSLD_MBOX_OP_GET_MHD_INFO, all, 2, out, &n), OK);
    const uint8_t want[] = {0x04, 0x03, 0, 0, 0x00, 0x04, 0, 0, 0x00, 0x01, 0xFF, 0x02};
    CHECK(n == sizeof(want) && memcmp(out, want, sizeof(want)) == 0);
    const uint8_t tail[] = {0x02, 0x0A}; /* start 2, limit 10: 2 entries */
    CHECK_RC(exec(&f.c[1], MHSLD_MBOX_OP_GET_MHD_INFO, tail, 2, out, &n), OK);
    CHECK(n == 10 && out[4] == 2 && out[5] == 2 && out[8] == 0xFF && out[9] == 0x02);
    const uint8_t none[] = {0x01, 0x00}; /* limit 0 */
    CHECK_RC(exec(&f.c[0], MHSLD_MBOX_OP_GET_MHD_INFO, none, 2, out, &n), OK);
    CHECK(n == 8 && out[5] == 0);
    const uint8_t last[] = {0x03, 0x01};
    CHECK_RC(exec(&f.c[0], MHSLD_MBOX_OP_GET_MHD_INFO, last, 2, out, &n), OK);
    CHECK(n == 9 && out[8] == 0x02);
    const uint8_t past[] = {0x04, 0x01}; /* start LD = nr LDs */
    CHECK_NO_CHANGE(&f, exec(&f.c[0], MHSLD_MBOX_OP_GET_MHD_INFO, past, 2, out, &n), INV);
    const uint8_t far[] = {0xFF, 0xFF};
    CHECK_RC(exec(&f.c[0], MHSLD_MBOX_OP_GET_MHD_INFO, far, 2, out, &n), INV);
    /* output capacity: the map is shortened to fit, never overrun */
    CHECK_RC(exec_cap(&f.c[0], MHSLD_MBOX_OP_GET_MHD_INFO, all, 2, 9, out, &n), OK);
    CHECK(n == 9 && out[5] == 1);
    CHECK_RC(exec_cap(&f.c[0], MHSLD_MBOX_OP_GET_MHD_INFO, all, 2, 7, out, &n), INT);
    /* works without a host head (FM-only mailbox) */
    mhsld_mbox_ctx fm;
    mhsld_mbox_ctx_init(&fm, f.st, NULL);
    CHECK_RC(exec(&fm, MHSLD_MBOX_OP_GET_MHD_INFO, all, 2, out, &n), OK);
    fx_close(&f);
}

static void test_head_info(void)
{
    fx f;
    fx_open(&f, "heads");
    uint8_t out[MHSLD_MBOX_PAYLOAD_MAX];
    size_t n = 0;
    f.c[0].link[1].port = 9;
    f.c[0].link[1].first_lane = 8;
    f.c[0].link[1].max_width = 8;
    f.c[0].link[1].neg_width = 4;
    const uint8_t all[] = {0x00, 0x03};
    CHECK_RC(exec(&f.c[0], MHSLD_MBOX_OP_GET_HEAD_INFO, all, 2, out, &n), OK);
    REQUIRE(n == 4 + 3 * 9);
    CHECK(out[0] == 3 && out[1] == 0 && out[2] == 0 && out[3] == 0);
    /* head 0: defaults, attached: link up */
    const uint8_t h0[9] = {0x00, 16, 16, 0x3F, 6, 6, 4, 0, 0};
    CHECK(memcmp(out + 4, h0, 9) == 0);
    /* head 1: configured */
    const uint8_t h1[9] = {0x09, 8, 4, 0x3F, 6, 6, 4, 8, 0};
    CHECK(memcmp(out + 13, h1, 9) == 0);
    /* head 2: never attached: link down (width 0, speed 0, Detect) */
    const uint8_t h2[9] = {0x02, 16, 0, 0x3F, 6, 0, 0, 0, 0};
    CHECK(memcmp(out + 22, h2, 9) == 0);
    const uint8_t one[] = {0x02, 0x01};
    CHECK_RC(exec(&f.c[0], MHSLD_MBOX_OP_GET_HEAD_INFO, one, 2, out, &n), OK);
    CHECK(n == 13 && out[0] == 1 && out[4] == 2);
    const uint8_t zero[] = {0x01, 0x00};
    CHECK_RC(exec(&f.c[0], MHSLD_MBOX_OP_GET_HEAD_INFO, zero, 2, out, &n), OK);
    CHECK(n == 4 && out[0] == 0);
    const uint8_t over[] = {0x01, 0x03}; /* heads 1..3: past the last */
    CHECK_NO_CHANGE(&f, exec(&f.c[0], MHSLD_MBOX_OP_GET_HEAD_INFO, over, 2, out, &n), INV);
    const uint8_t start[] = {0x03, 0x00};
    CHECK_RC(exec(&f.c[0], MHSLD_MBOX_OP_GET_HEAD_INFO, start, 2, out, &n), INV);
    const uint8_t wrap[] = {0x02, 0xFF};
    CHECK_RC(exec(&f.c[0], MHSLD_MBOX_OP_GET_HEAD_INFO, wrap, 2, out, &n), INV);
    /* capacity: two blocks fit in 4 + 2*9 + 8 */
    CHECK_RC(exec_cap(&f.c[0], MHSLD_MBOX_OP_GET_HEAD_INFO, all, 2, 4 + 2 * 9 + 8, out, &n), OK);
    CHECK(n == 4 + 2 * 9 && out[0] == 2);
    CHECK_RC(exec_cap(&f.c[0], MHSLD_MBOX_OP_GET_HEAD_INFO, all, 2, 3, out, &n), INT);
    fx_close(&f);
}

/* ---- 4800h --------------------------------------------------------------------------- */

static void test_dc_config(void)
{
    fx f;
    fx_open(&f, "dcconfig");
    uint8_t out[MHSLD_MBOX_PAYLOAD_MAX];
    size_t n = 0;
    const uint8_t all[] = {0x08, 0x00};
    CHECK_RC(exec(&f.c[0], MHSLD_MBOX_OP_GET_DC_CONFIG, all, 2, out, &n), OK);
    REQUIRE(n == 8 + 2 * 0x28 + 0x10);
    CHECK(out[0] == 2 && out[1] == 2);
    CHECK(mhsld_ld64(out + 0x08) == R0);
    CHECK(mhsld_ld64(out + 0x10) == 2);                  /* 512 MiB = 2 x 256 MiB */
    CHECK(mhsld_ld64(out + 0x18) == (uint64_t)R0_BLOCKS * BS);
    CHECK(mhsld_ld64(out + 0x20) == BS);
    CHECK(mhsld_ld32(out + 0x28) == 7 && out[0x2C] == 0);
    CHECK(mhsld_ld64(out + 0x30) == R1);
    CHECK(mhsld_ld64(out + 0x38) == 1);                  /* 64 MiB rounds up to 1 unit */
    CHECK(mhsld_ld32(out + 0x50) == 8);
    CHECK(mhsld_ld32(out + 0x58) == 1024 && mhsld_ld32(out + 0x5C) == 1024);
    CHECK(mhsld_ld32(out + 0x60) == MHSLD_MAX_SHARED && mhsld_ld32(out + 0x64) == MHSLD_MAX_SHARED);

    /* available extents follow the host's list */
    mhsld_extent e[2] = {ext(R0, BS), ext(R0 + 4 * BS, 2 * BS)};
    CHECK_RC(fm_add(&f.c[0], 0, e, 2), OK);
    CHECK_RC(accept_ext(&f.c[0], e, 2), OK);
    CHECK_RC(exec(&f.c[0], MHSLD_MBOX_OP_GET_DC_CONFIG, all, 2, out, &n), OK);
    CHECK(mhsld_ld32(out + 0x5C) == 1022);
    CHECK_RC(exec(&f.c[1], MHSLD_MBOX_OP_GET_DC_CONFIG, all, 2, out, &n), OK);
    CHECK(mhsld_ld32(out + 0x5C) == 1024);

    const uint8_t second[] = {0x01, 0x01};
    CHECK_RC(exec(&f.c[0], MHSLD_MBOX_OP_GET_DC_CONFIG, second, 2, out, &n), OK);
    CHECK(n == 8 + 0x28 + 0x10 && out[0] == 2 && out[1] == 1 && mhsld_ld64(out + 8) == R1);
    const uint8_t zero[] = {0x00, 0x01};
    CHECK_RC(exec(&f.c[0], MHSLD_MBOX_OP_GET_DC_CONFIG, zero, 2, out, &n), OK);
    CHECK(n == 8 + 0x10 && out[1] == 0);
    const uint8_t past[] = {0x01, 0x02};
    CHECK_NO_CHANGE(&f, exec(&f.c[0], MHSLD_MBOX_OP_GET_DC_CONFIG, past, 2, out, &n), INV);
    CHECK_RC(exec_cap(&f.c[0], MHSLD_MBOX_OP_GET_DC_CONFIG, all, 2, 8 + 0x28 + 0x10, out, &n), OK);
    CHECK(n == 8 + 0x28 + 0x10 && out[1] == 1);
    CHECK_RC(exec_cap(&f.c[0], MHSLD_MBOX_OP_GET_DC_CONFIG, all, 2, 8 + 0x0F, out, &n), INT);
    mhsld_mbox_ctx fm;
    mhsld_mbox_ctx_init(&fm, f.st, NULL);
    CHECK_RC(exec(&fm, MHSLD_MBOX_OP_GET_DC_CONFIG, all, 2, out, &n), UNS);
    CHECK_RC(exec(&fm, MHSLD_MBOX_OP_GET_DC_EXTENT_LIST, out, 8, out, &n), UNS);
    CHECK_RC(accept_ext(&fm, e, 0), UNS);
    CHECK_RC(release_ext(&fm, e, 1), UNS);
    CHECK_RC(release_ext(&f.c[0], e, 2), OK);
    fx_close(&f);
}

/* ---- 4801h paging ------------------------------------------------------------------- */

static void test_extent_list_paging(void)
{
    fx f;
    fx_open(&f, "paging");
    static mhsld_mbox_dc_extents_out r;
    CHECK_RC(host_list(&f.c[0], 0, 10, &r), OK);
    CHECK(r.returned == 0 && r.total == 0);
    CHECK_RC(host_list(&f.c[0], 1, 10, &r), INV);

    /* 5 separate extents, offered and accepted in one go */
    mhsld_extent e[5];
    for (size_t i = 0; i < 5; i++) {
        e[i] = ext(R0 + (uint64_t)(4 * i) * BS, (uint64_t)(i + 1) * BS);
    }
    CHECK_RC(fm_add(&f.c[0], 0, e, 5), OK);
    CHECK_RC(accept_ext(&f.c[0], e, 5), OK);
    CHECK_RC(host_list(&f.c[0], 0, 100, &r), OK);
    CHECK(r.returned == 5 && r.total == 5);
    for (size_t i = 0; i < 5 && i < r.returned; i++) {
        CHECK(r.ext[i].dpa == e[i].dpa && r.ext[i].len == e[i].len);
    }
    uint32_t gen = r.generation;
    /* pages of 2: 2, 2, 1, then 0 at start == total, Invalid Input past it */
    mhsld_extent seen[5];
    size_t k = 0;
    for (uint32_t start = 0; start < 5; start += 2) {
        CHECK_RC(host_list(&f.c[0], start, 2, &r), OK);
        CHECK(r.returned == (start == 4 ? 1u : 2u) && r.total == 5 && r.generation == gen);
        for (size_t i = 0; i < r.returned && k < 5; i++) {
            seen[k++] = ext(r.ext[i].dpa, r.ext[i].len);
        }
    }
    CHECK(k == 5);
    for (size_t i = 0; i < k; i++) {
        CHECK(seen[i].dpa == e[i].dpa && seen[i].len == e[i].len);
    }
    CHECK_RC(host_list(&f.c[0], 5, 2, &r), OK);
    CHECK(r.returned == 0 && r.total == 5);
    CHECK_NO_CHANGE(&f, host_list(&f.c[0], 6, 2, &r), INV);
    CHECK_RC(host_list(&f.c[0], UINT32_MAX, 2, &r), INV);
    CHECK_RC(host_list(&f.c[0], 1, 0, &r), OK);
    CHECK(r.returned == 0 && r.total == 5);
    CHECK_RC(host_list(&f.c[0], 3, 1, &r), OK);
    CHECK(r.returned == 1 && r.ext[0].dpa == e[3].dpa);
    /* the output buffer bounds the page: header + 3 records (+ 39 bytes) */
    uint8_t in[8], out[MHSLD_MBOX_PAYLOAD_MAX];
    size_t n = 0;
    mhsld_st32(in, 10);
    mhsld_st32(in + 4, 0);
    CHECK_RC(exec_cap(&f.c[0], MHSLD_MBOX_OP_GET_DC_EXTENT_LIST, in, 8, 0x10 + 3 * 0x28 + 0x27,
                      out, &n),
             OK);
    CHECK(n == 0x10 + 3 * 0x28 && mhsld_ld32(out) == 3 && mhsld_ld32(out + 4) == 5);
    CHECK_RC(exec_cap(&f.c[0], MHSLD_MBOX_OP_GET_DC_EXTENT_LIST, in, 8, 0x0F, out, &n), INT);
    /* golden response bytes of the first record */
    CHECK(mhsld_ld64(out + 0x10) == R0 && mhsld_ld64(out + 0x18) == BS);
    /* head 1 sees nothing of head 0's list */
    CHECK_RC(host_list(&f.c[1], 0, 10, &r), OK);
    CHECK(r.returned == 0 && r.total == 0);
    CHECK_RC(release_ext(&f.c[0], e, 5), OK);
    fx_close(&f);
}

/* ---- 4802h ----------------------------------------------------------------------------- */

static void test_add_response(void)
{
    fx f;
    fx_open(&f, "addrsp");
    mhsld_extent a[3] = {ext(R0, BS), ext(R0 + 8 * BS, 2 * BS), ext(R0 + 16 * BS, BS)};
    /* nothing offered */
    CHECK_NO_CHANGE(&f, accept_ext(&f.c[0], a, 0), INV);
    CHECK_NO_CHANGE(&f, accept_ext(&f.c[0], a, 1), INV);
    CHECK_RC(fm_add(&f.c[0], 0, a, 3), OK);
    uint32_t gen = host_gen(&f.c[0]);
    /* errors, each leaving the reservation as it is */
    CHECK_NO_CHANGE(&f, update(&f.c[0], MHSLD_MBOX_OP_ADD_DC_RESPONSE, 1, a, 1), UNS); /* More */
    CHECK_NO_CHANGE(&f, update(&f.c[0], MHSLD_MBOX_OP_ADD_DC_RESPONSE, 2, a, 1), INV);
    mhsld_extent bad;
    bad = ext(R0 + 4 * BS, BS); /* aligned, in the region, never offered */
    CHECK_NO_CHANGE(&f, accept_ext(&f.c[0], &bad, 1), IPA);
    bad = ext(R0 + MiB, BS); /* misaligned */
    CHECK_NO_CHANGE(&f, accept_ext(&f.c[0], &bad, 1), IEL);
    bad = ext(R0, BS + MiB);
    CHECK_NO_CHANGE(&f, accept_ext(&f.c[0], &bad, 1), IEL);
    bad = ext(R0, 0);
    CHECK_NO_CHANGE(&f, accept_ext(&f.c[0], &bad, 1), IEL);
    bad = ext(0, BS); /* below every region */
    CHECK_NO_CHANGE(&f, accept_ext(&f.c[0], &bad, 1), IPA);
    bad = ext(R0 + (uint64_t)(R0_BLOCKS - 1) * BS, 2 * BS); /* runs off region 0 */
    CHECK_NO_CHANGE(&f, accept_ext(&f.c[0], &bad, 1), IPA);
    bad = ext(UINT64_MAX - BS + 1, BS); /* wraps */
    CHECK_NO_CHANGE(&f, accept_ext(&f.c[0], &bad, 1), IPA);
    mhsld_extent dup[2] = {a[1], ext(R0 + 9 * BS, BS)}; /* overlap inside the list */
    CHECK_NO_CHANGE(&f, accept_ext(&f.c[0], dup, 2), IEL);
    mhsld_extent big[MHSLD_MAX_EXTENTS + 1];
    for (size_t i = 0; i <= MHSLD_MAX_EXTENTS; i++) {
        big[i] = ext(R0 + i * BS, BS);
    }
    CHECK_NO_CHANGE(&f, accept_ext(&f.c[0], big, MHSLD_MAX_EXTENTS + 1), REX);
    CHECK(host_gen(&f.c[0]) == gen);
    /* head 1 cannot answer head 0's offer */
    CHECK_NO_CHANGE(&f, accept_ext(&f.c[1], a, 1), INV);
    /* accept a part: the rest becomes free */
    mhsld_extent part = ext(R0 + 8 * BS, BS);
    CHECK_RC(accept_ext(&f.c[0], &part, 1), OK);
    CHECK(host_gen(&f.c[0]) != gen);
    uint32_t owner = 99;
    CHECK(block_state(f.st, R0 + 8 * BS, &owner) == MHSLD_BLOCK_OWNED && owner == 0);
    CHECK(block_state(f.st, R0 + 9 * BS, NULL) == MHSLD_BLOCK_FREE);
    CHECK(block_state(f.st, R0, NULL) == MHSLD_BLOCK_FREE);
    CHECK(block_state(f.st, R0 + 16 * BS, NULL) == MHSLD_BLOCK_FREE);
    /* no offer is pending any more */
    CHECK_NO_CHANGE(&f, accept_ext(&f.c[0], a, 0), INV);

    /* an empty response reclaims the whole offer; the list does not change */
    CHECK_RC(fm_add(&f.c[0], 0, a, 1), OK);
    CHECK(block_state(f.st, R0, NULL) == MHSLD_BLOCK_PENDING);
    gen = host_gen(&f.c[0]);
    CHECK_RC(accept_ext(&f.c[0], a, 0), OK);
    CHECK(block_state(f.st, R0, NULL) == MHSLD_BLOCK_FREE);
    CHECK(host_gen(&f.c[0]) == gen);

    /* responses settle the OLDEST offer first */
    mhsld_extent x = ext(R0 + 32 * BS, BS), y = ext(R0 + 40 * BS, BS);
    CHECK_RC(fm_add(&f.c[0], 0, &x, 1), OK);
    CHECK_RC(fm_add(&f.c[0], 0, &y, 1), OK);
    CHECK_NO_CHANGE(&f, accept_ext(&f.c[0], &y, 1), IPA);
    CHECK_RC(accept_ext(&f.c[0], &x, 1), OK);
    CHECK_RC(accept_ext(&f.c[0], &y, 1), OK);
    CHECK(block_state(f.st, x.dpa, &owner) == MHSLD_BLOCK_OWNED && owner == 0);
    CHECK(block_state(f.st, y.dpa, &owner) == MHSLD_BLOCK_OWNED && owner == 0);

    /* the largest list: MHSLD_MAX_EXTENTS extents offered and accepted */
    mhsld_extent many[MHSLD_MAX_EXTENTS];
    for (size_t i = 0; i < MHSLD_MAX_EXTENTS; i++) {
        many[i] = ext(R0 + 64 * BS + i * BS, BS);
    }
    CHECK_RC(fm_add(&f.c[1], 1, many, MHSLD_MAX_EXTENTS), OK);
    CHECK_RC(accept_ext(&f.c[1], many, MHSLD_MAX_EXTENTS), OK);
    CHECK(block_state(f.st, many[MHSLD_MAX_EXTENTS - 1].dpa, &owner) == MHSLD_BLOCK_OWNED &&
          owner == 1);
    CHECK_RC(release_ext(&f.c[1], many, MHSLD_MAX_EXTENTS), OK);
    mhsld_extent mine[2] = {part, x};
    CHECK_RC(release_ext(&f.c[0], mine, 2), OK);
    CHECK_RC(release_ext(&f.c[0], &y, 1), OK);

    /* A response in parts (More), held in caller memory until the last. */
    static mhsld_mbox_accum acc;
    memset(&acc, 0, sizeof(acc));
    mhsld_mbox_ctx cm = f.c[0];
    cm.accum = &acc;
    mhsld_extent parts[100];
    for (size_t i = 0; i < 100; i++) {
        parts[i] = ext(R0 + (50 + 2 * i) * BS, BS);
    }
    CHECK_RC(fm_add(&cm, 0, parts, 100), OK);
    gen = host_gen(&cm);
    CHECK_NO_CHANGE(&f, update(&cm, MHSLD_MBOX_OP_ADD_DC_RESPONSE, MHSLD_MBOX_UPDATE_MORE, parts,
                               60),
                    OK);
    CHECK(acc.n == 60 && acc.group != 0);
    CHECK(block_state(f.st, parts[0].dpa, NULL) == MHSLD_BLOCK_PENDING);
    CHECK(host_gen(&cm) == gen);
    /* a later part overlapping an earlier one; too many in all: refused,
     * and the parts kept so far are kept */
    CHECK_NO_CHANGE(&f, update(&cm, MHSLD_MBOX_OP_ADD_DC_RESPONSE, 0, parts + 59, 2), IEL);
    CHECK(acc.n == 60);
    CHECK_NO_CHANGE(&f, update(&cm, MHSLD_MBOX_OP_ADD_DC_RESPONSE, 0, big, 69), REX);
    CHECK(acc.n == 60);
    /* a part naming capacity outside the offer is refused when it arrives
     * (kept, it would make every final part fail: the offer could never be
     * settled) */
    mhsld_extent stray = ext(R0 + 51 * BS, BS);
    CHECK_NO_CHANGE(
        &f, update(&cm, MHSLD_MBOX_OP_ADD_DC_RESPONSE, MHSLD_MBOX_UPDATE_MORE, &stray, 1), IPA);
    CHECK(acc.n == 60);
    stray = ext(R0 + 169 * BS, 3 * BS); /* offered block 170 and two around it */
    CHECK_NO_CHANGE(
        &f, update(&cm, MHSLD_MBOX_OP_ADD_DC_RESPONSE, MHSLD_MBOX_UPDATE_MORE, &stray, 1), IPA);
    CHECK(acc.n == 60);
    CHECK_RC(update(&cm, MHSLD_MBOX_OP_ADD_DC_RESPONSE, 0, parts + 60, 40), OK);
    CHECK(acc.n == 0 && acc.group == 0);
    CHECK(host_gen(&cm) != gen);
    CHECK(block_state(f.st, parts[0].dpa, &owner) == MHSLD_BLOCK_OWNED && owner == 0);
    CHECK(block_state(f.st, parts[99].dpa, &owner) == MHSLD_BLOCK_OWNED && owner == 0);
    static mhsld_mbox_dc_extents_out lst;
    CHECK_RC(host_list(&cm, 0, 200, &lst), OK);
    CHECK(lst.total == 100);
    CHECK_RC(release_ext(&cm, parts, 100), OK);
    /* parts kept for an offer that was settled otherwise are discarded */
    mhsld_extent z = ext(R0 + 10 * BS, BS), w = ext(R0 + 12 * BS, BS);
    CHECK_RC(fm_add(&cm, 0, &z, 1), OK);
    CHECK_RC(update(&cm, MHSLD_MBOX_OP_ADD_DC_RESPONSE, MHSLD_MBOX_UPDATE_MORE, &z, 1), OK);
    CHECK_RC(accept_ext(&f.c[0], &z, 0), OK); /* declined through a mailbox without memory */
    CHECK_RC(fm_add(&cm, 0, &w, 1), OK);
    CHECK_RC(accept_ext(&cm, &w, 1), OK);
    CHECK(block_state(f.st, z.dpa, NULL) == MHSLD_BLOCK_FREE);
    CHECK(block_state(f.st, w.dpa, &owner) == MHSLD_BLOCK_OWNED && owner == 0);
    CHECK(acc.n == 0);
    CHECK_RC(release_ext(&cm, &w, 1), OK);
    fx_close(&f);
}

/* ---- 4803h ------------------------------------------------------------------------------ */

static void test_release(void)
{
    fx f;
    fx_open(&f, "release");
    mhsld_extent a = ext(R0, 4 * BS), b = ext(R0 + 8 * BS, 2 * BS);
    mhsld_extent both[2] = {a, b};
    CHECK_RC(fm_add(&f.c[0], 0, both, 2), OK);
    CHECK_RC(accept_ext(&f.c[0], both, 2), OK);
    uint32_t gen = host_gen(&f.c[0]);
    CHECK_NO_CHANGE(&f, release_ext(&f.c[0], &a, 0), INV);
    CHECK_NO_CHANGE(&f, update(&f.c[0], MHSLD_MBOX_OP_RELEASE_DC, 0x02, &a, 1), INV);
    mhsld_extent bad = ext(R0 + 4 * BS, BS); /* free block */
    CHECK_NO_CHANGE(&f, release_ext(&f.c[0], &bad, 1), IPA);
    bad = ext(R0 + 2 * BS, 4 * BS); /* half owned */
    CHECK_NO_CHANGE(&f, release_ext(&f.c[0], &bad, 1), IPA);
    mhsld_extent mixed[2] = {b, ext(R0 + 12 * BS, BS)}; /* one owned, one not: nothing freed */
    CHECK_NO_CHANGE(&f, release_ext(&f.c[0], mixed, 2), IPA);
    CHECK_NO_CHANGE(&f, release_ext(&f.c[1], &a, 1), IPA); /* not head 1's */
    bad = ext(R0 + MiB, BS);
    CHECK_NO_CHANGE(&f, release_ext(&f.c[0], &bad, 1), IEL);
    mhsld_extent twice[2] = {b, b};
    CHECK_NO_CHANGE(&f, release_ext(&f.c[0], twice, 2), IEL);
    mhsld_extent big[MHSLD_MAX_EXTENTS + 1];
    for (size_t i = 0; i <= MHSLD_MAX_EXTENTS; i++) {
        big[i] = ext(R0 + i * BS, BS);
    }
    CHECK_NO_CHANGE(&f, release_ext(&f.c[0], big, MHSLD_MAX_EXTENTS + 1), REX);
    /* pending capacity cannot be released */
    mhsld_extent p = ext(R0 + 20 * BS, BS);
    CHECK_RC(fm_add(&f.c[0], 0, &p, 1), OK);
    CHECK_NO_CHANGE(&f, release_ext(&f.c[0], &p, 1), IPA);
    CHECK_RC(accept_ext(&f.c[0], &p, 0), OK);
    CHECK(host_gen(&f.c[0]) == gen);
    /* a part of an extent, with More set (each release stands alone) */
    mhsld_extent mid = ext(R0 + BS, 2 * BS);
    CHECK_RC(update(&f.c[0], MHSLD_MBOX_OP_RELEASE_DC, MHSLD_MBOX_UPDATE_MORE, &mid, 1), OK);
    CHECK(host_gen(&f.c[0]) != gen);
    CHECK(block_state(f.st, R0 + BS, NULL) == MHSLD_BLOCK_FREE);
    CHECK(block_state(f.st, R0, NULL) == MHSLD_BLOCK_OWNED);
    CHECK(block_state(f.st, R0 + 3 * BS, NULL) == MHSLD_BLOCK_OWNED);
    mhsld_extent rest[3] = {ext(R0, BS), ext(R0 + 3 * BS, BS), b};
    CHECK_RC(release_ext(&f.c[0], rest, 3), OK);
    static mhsld_mbox_dc_extents_out r;
    CHECK_RC(host_list(&f.c[0], 0, 10, &r), OK);
    CHECK(r.total == 0);
    fx_close(&f);
}

/* ---- 5600h..5603h --------------------------------------------------------------------------- */

static void test_fm_info(void)
{
    fx f;
    fx_open(&f, "fminfo");
    uint8_t out[MHSLD_MBOX_PAYLOAD_MAX];
    size_t n = 0;
    /* 5600h */
    CHECK_RC(exec(&f.c[0], MHSLD_MBOX_OP_GET_DCD_INFO, NULL, 0, out, &n), OK);
    REQUIRE(n == 0x54);
    CHECK(out[0] == NHEADS && out[1] == 2 && out[2] == 0 && out[3] == 0);
    CHECK(mhsld_ld16(out + 4) == 0x000F && mhsld_ld16(out + 8) == 0x0003 && out[0x0A] == 0);
    CHECK(mhsld_ld64(out + 0x0C) == 2); /* 576 MiB: 2 whole 256 MiB units */
    CHECK(mhsld_ld64(out + 0x14) == BS && mhsld_ld64(out + 0x1C) == BS &&
          mhsld_ld64(out + 0x24) == 0);
    CHECK_RC(exec_cap(&f.c[0], MHSLD_MBOX_OP_GET_DCD_INFO, NULL, 0, 0x53, out, &n), INT);

    /* 5601h */
    uint8_t q[4] = {0x01, 0x00, 0x08, 0x00};
    CHECK_RC(exec(&f.c[0], MHSLD_MBOX_OP_GET_HOST_DC_REGION_CONFIG, q, 4, out, &n), OK);
    REQUIRE(n == 4 + 2 * 0x28 + 0x10);
    CHECK(mhsld_ld16(out) == 1 && out[2] == 2 && out[3] == 2);
    CHECK(mhsld_ld64(out + 4) == R0 && mhsld_ld64(out + 0x0C) == 2 && out[0x24] == 0 &&
          out[0x28] == 0);
    CHECK(mhsld_ld64(out + 0x2C) == R1 && mhsld_ld64(out + 0x44) == BS &&
          out[0x4C] == MHSLD_MBOX_DSMAS_SHARABLE && out[0x50] == 0);
    CHECK(mhsld_ld32(out + 0x54) == 1024 && mhsld_ld32(out + 0x58) == 1024);
    q[0] = NHEADS; /* no such host */
    CHECK_NO_CHANGE(&f, exec(&f.c[0], MHSLD_MBOX_OP_GET_HOST_DC_REGION_CONFIG, q, 4, out, &n),
                    INV);
    q[0] = 2; /* exists, not attached here: reading is fine */
    CHECK_RC(exec(&f.c[0], MHSLD_MBOX_OP_GET_HOST_DC_REGION_CONFIG, q, 4, out, &n), OK);
    q[3] = 2; /* start region past the last */
    CHECK_RC(exec(&f.c[0], MHSLD_MBOX_OP_GET_HOST_DC_REGION_CONFIG, q, 4, out, &n), INV);
    q[3] = 1;
    q[2] = 0;
    CHECK_RC(exec(&f.c[0], MHSLD_MBOX_OP_GET_HOST_DC_REGION_CONFIG, q, 4, out, &n), OK);
    CHECK(n == 4 + 0x10 && out[3] == 0);
    q[2] = 8;
    q[3] = 0;
    CHECK_RC(exec_cap(&f.c[0], MHSLD_MBOX_OP_GET_HOST_DC_REGION_CONFIG, q, 4, 4 + 0x28 + 0x10 + 1,
                      out, &n),
             OK);
    CHECK(n == 4 + 0x28 + 0x10 && out[3] == 1);

    /* 5602h: the geometry is fixed: only re-stating it succeeds */
    uint8_t s[16];
    memset(s, 0, sizeof(s));
    s[0] = 1;
    mhsld_st64(s + 4, BS);
    CHECK_NO_CHANGE(&f, exec(&f.c[0], MHSLD_MBOX_OP_SET_DC_REGION_CONFIG, s, 16, out, &n), OK);
    CHECK(n == 0);
    mhsld_st64(s + 4, 2 * BS);
    CHECK_NO_CHANGE(&f, exec(&f.c[0], MHSLD_MBOX_OP_SET_DC_REGION_CONFIG, s, 16, out, &n), INV);
    mhsld_st64(s + 4, BS);
    s[12] = MHSLD_MBOX_REGION_SANITIZE;
    CHECK_NO_CHANGE(&f, exec(&f.c[0], MHSLD_MBOX_OP_SET_DC_REGION_CONFIG, s, 16, out, &n), UNS);
    s[12] = 0x02;
    CHECK_NO_CHANGE(&f, exec(&f.c[0], MHSLD_MBOX_OP_SET_DC_REGION_CONFIG, s, 16, out, &n), INV);
    s[12] = 0;
    s[0] = 2;
    CHECK_NO_CHANGE(&f, exec(&f.c[0], MHSLD_MBOX_OP_SET_DC_REGION_CONFIG, s, 16, out, &n), INV);
    s[0] = 0;
    s[2] = 1;
    CHECK_NO_CHANGE(&f, exec(&f.c[0], MHSLD_MBOX_OP_SET_DC_REGION_CONFIG, s, 16, out, &n), INV);

    /* 5603h: host 1's list as the FM sees it */
    mhsld_extent e[3] = {ext(R0 + 2 * BS, BS), ext(R0 + 6 * BS, 3 * BS), ext(R0 + 20 * BS, BS)};
    CHECK_RC(fm_add(&f.c[0], 1, e, 3), OK); /* the FM acts on head 1 from head 0's process */
    CHECK_RC(accept_ext(&f.c[1], e, 3), OK);
    uint8_t l[12];
    memset(l, 0, sizeof(l));
    mhsld_st16(l, 1);
    mhsld_st32(l + 4, 2);
    mhsld_st32(l + 8, 1);
    CHECK_RC(exec(&f.c[0], MHSLD_MBOX_OP_GET_DC_REGION_EXTENTS, l, 12, out, &n), OK);
    REQUIRE(n == 0x18 + 2 * 0x28);
    CHECK(mhsld_ld16(out) == 1 && mhsld_ld32(out + 4) == 1 && mhsld_ld32(out + 8) == 2 &&
          mhsld_ld32(out + 0x0C) == 3);
    CHECK(mhsld_ld32(out + 0x10) == host_gen(&f.c[1]));
    CHECK(mhsld_ld64(out + 0x18) == e[1].dpa && mhsld_ld64(out + 0x20) == e[1].len);
    CHECK(mhsld_ld64(out + 0x40) == e[2].dpa);
    mhsld_st32(l + 8, 3);
    CHECK_RC(exec(&f.c[0], MHSLD_MBOX_OP_GET_DC_REGION_EXTENTS, l, 12, out, &n), OK);
    CHECK(n == 0x18 && mhsld_ld32(out + 8) == 0);
    mhsld_st32(l + 8, 4);
    CHECK_NO_CHANGE(&f, exec(&f.c[0], MHSLD_MBOX_OP_GET_DC_REGION_EXTENTS, l, 12, out, &n), INV);
    mhsld_st32(l + 8, 0);
    l[2] = 1;
    CHECK_RC(exec(&f.c[0], MHSLD_MBOX_OP_GET_DC_REGION_EXTENTS, l, 12, out, &n), INV);
    l[2] = 0;
    mhsld_st16(l, NHEADS);
    CHECK_RC(exec(&f.c[0], MHSLD_MBOX_OP_GET_DC_REGION_EXTENTS, l, 12, out, &n), INV);
    mhsld_st16(l, 2); /* never attached: an empty list */
    CHECK_RC(exec(&f.c[0], MHSLD_MBOX_OP_GET_DC_REGION_EXTENTS, l, 12, out, &n), OK);
    CHECK(mhsld_ld32(out + 0x0C) == 0);
    mhsld_st16(l, 1);
    CHECK_RC(exec_cap(&f.c[0], MHSLD_MBOX_OP_GET_DC_REGION_EXTENTS, l, 12, 0x17, out, &n), INT);
    CHECK_RC(release_ext(&f.c[1], e, 3), OK);
    fx_close(&f);
}

/* ---- 5604h ------------------------------------------------------------------------------------ */

static void test_fm_add(void)
{
    fx f;
    fx_open(&f, "fmadd");
    f.c[0].notify = on_event;
    f.c[0].notify_opaque = &ev;
    memset(&ev, 0, sizeof(ev));
    mhsld_extent a[2] = {ext(R0 + 4 * BS, 2 * BS), ext(R0 + 10 * BS, BS)};
    CHECK_RC(fm_add(&f.c[0], 0, a, 2), OK);
    CHECK(ev.calls == 1 && ev.last.type == MHSLD_MBOX_EV_ADD && ev.last.host == 0 &&
          ev.last.group != 0 && ev.last.n == 2 && ev.ext[1].dpa == a[1].dpa);
    uint32_t owner = 99;
    CHECK(block_state(f.st, a[0].dpa, &owner) == MHSLD_BLOCK_PENDING && owner == 0);
    /* head 1 cannot be offered what head 0 has pending */
    CHECK_NO_CHANGE(&f, fm_add(&f.c[0], 1, a, 1), IEL);
    mhsld_extent half = ext(R0 + 5 * BS, 2 * BS);
    CHECK_NO_CHANGE(&f, fm_add(&f.c[0], 1, &half, 1), IEL);
    CHECK_NO_CHANGE(&f, fm_add(&f.c[0], 0, a, 1), IEL); /* nor head 0 twice */
    CHECK(ev.calls == 1);
    /* request errors */
    CHECK_NO_CHANGE(&f, fm_add(&f.c[0], 0, a, 0), INV);
    CHECK_NO_CHANGE(&f, fm_add(&f.c[0], 2, a, 1), INV);      /* not attached here */
    CHECK_NO_CHANGE(&f, fm_add(&f.c[0], NHEADS, a, 1), INV); /* no such host */
    CHECK_NO_CHANGE(&f, fm_add(&f.c[0], 0xFFFF, a, 1), INV);
    mhsld_extent bad = ext(R0 + MiB, BS);
    CHECK_NO_CHANGE(&f, fm_add(&f.c[0], 1, &bad, 1), IEL);
    bad = ext(R0 + (uint64_t)R0_BLOCKS * BS, BS); /* the gap between regions */
    CHECK_NO_CHANGE(&f, fm_add(&f.c[0], 1, &bad, 1), IPA);
    bad = ext(R1 - BS, 2 * BS); /* straddles into region 1 */
    CHECK_NO_CHANGE(&f, fm_add(&f.c[0], 1, &bad, 1), IPA);
    mhsld_extent ov[2] = {ext(R0 + 40 * BS, 2 * BS), ext(R0 + 41 * BS, BS)};
    CHECK_NO_CHANGE(&f, fm_add(&f.c[0], 1, ov, 2), IEL);
    mhsld_extent big[MHSLD_MAX_EXTENTS + 1];
    for (size_t i = 0; i <= MHSLD_MAX_EXTENTS; i++) {
        big[i] = ext(R0 + 64 * BS + i * BS, BS);
    }
    CHECK_NO_CHANGE(&f, fm_add(&f.c[0], 1, big, MHSLD_MAX_EXTENTS + 1), REX);
    /* count 1 and max succeed */
    CHECK_RC(fm_add(&f.c[0], 1, big, 1), OK);
    CHECK_RC(accept_ext(&f.c[1], big, 0), OK);
    CHECK_RC(fm_add(&f.c[0], 1, big, MHSLD_MAX_EXTENTS), OK);
    CHECK_RC(accept_ext(&f.c[1], big, 0), OK);
    CHECK_RC(accept_ext(&f.c[0], a, 0), OK);
    CHECK(block_state(f.st, a[0].dpa, NULL) == MHSLD_BLOCK_FREE);

    /* free policy: takes the free blocks in DPA order, around holders */
    mhsld_extent hold[2] = {ext(R0 + BS, BS), ext(R0 + 3 * BS, BS)};
    CHECK_RC(fm_add(&f.c[0], 1, hold, 2), OK);
    CHECK_RC(accept_ext(&f.c[1], hold, 2), OK);
    ev.calls = 0;
    CHECK_RC(fm_add_ex(&f.c[0], 0, MHSLD_MBOX_POLICY_FREE, 0, 4 * BS, NULL, 0, 0x33), OK);
    CHECK(ev.calls == 1 && ev.last.type == MHSLD_MBOX_EV_ADD && ev.last.n == 3);
    CHECK(ev.ext[0].dpa == R0 && ev.ext[0].len == BS && ev.ext[1].dpa == R0 + 2 * BS &&
          ev.ext[1].len == BS && ev.ext[2].dpa == R0 + 4 * BS && ev.ext[2].len == 2 * BS &&
          ev.ext[0].tag[0] == 0x33);
    CHECK(block_state(f.st, R0, &owner) == MHSLD_BLOCK_PENDING && owner == 0);
    CHECK(block_state(f.st, R0 + 6 * BS, NULL) == MHSLD_BLOCK_FREE);
    mhsld_extent got[3] = {ext(R0, BS), ext(R0 + 2 * BS, BS), ext(R0 + 4 * BS, 2 * BS)};
    CHECK_RC(accept_ext(&f.c[0], got, 3), OK);
    /* contiguous: the first run long enough */
    CHECK_RC(fm_add_ex(&f.c[0], 0, MHSLD_MBOX_POLICY_CONTIGUOUS, 0, 3 * BS, NULL, 0, 0), OK);
    CHECK(ev.last.n == 1 && ev.ext[0].dpa == R0 + 6 * BS && ev.ext[0].len == 3 * BS);
    CHECK_RC(accept_ext(&f.c[0], got, 0), OK); /* the host declines it */
    /* free-policy errors */
    CHECK_NO_CHANGE(&f, fm_add_ex(&f.c[0], 0, MHSLD_MBOX_POLICY_FREE, 0, 0, NULL, 0, 0), INV);
    CHECK_NO_CHANGE(&f, fm_add_ex(&f.c[0], 0, MHSLD_MBOX_POLICY_FREE, 0, MiB, NULL, 0, 0), INV);
    CHECK_NO_CHANGE(&f, fm_add_ex(&f.c[0], 0, MHSLD_MBOX_POLICY_FREE, 2, BS, NULL, 0, 0), INV);
    CHECK_NO_CHANGE(&f, fm_add_ex(&f.c[0], 0, MHSLD_MBOX_POLICY_FREE, 0, BS, a, 1, 0), INV);
    CHECK_NO_CHANGE(&f,
                    fm_add_ex(&f.c[0], 0, MHSLD_MBOX_POLICY_FREE, 0,
                              (uint64_t)(R0_BLOCKS + 1) * BS, NULL, 0, 0),
                    REX);
    CHECK_NO_CHANGE(&f,
                    fm_add_ex(&f.c[0], 0, MHSLD_MBOX_POLICY_CONTIGUOUS, 0,
                              (uint64_t)R0_BLOCKS * BS, NULL, 0, 0),
                    REX); /* 6 blocks are held: no run that long */
    CHECK_NO_CHANGE(&f, fm_add_ex(&f.c[0], 2, MHSLD_MBOX_POLICY_FREE, 0, BS, NULL, 0, 0), INV);

    /* enable shared access: both heads share one tagged extent of region 1 */
    mhsld_extent sh = ext(R1 + 4 * BS, 2 * BS);
    CHECK_RC(fm_add_ex(&f.c[0], 0, MHSLD_MBOX_POLICY_SHARED, 1, 0, &sh, 1, 0x5A), OK);
    CHECK(ev.last.type == MHSLD_MBOX_EV_ADD_SHARED && ev.last.n == 1);
    CHECK_RC(fm_add_ex(&f.c[0], 1, MHSLD_MBOX_POLICY_SHARED, 1, 0, &sh, 1, 0x5A), OK);
    static mhsld_mbox_dc_extents_out r;
    for (int h = 0; h < 2; h++) {
        CHECK_RC(host_list(&f.c[h], 0, 10, &r), OK);
        int found = 0;
        for (size_t i = 0; i < r.returned; i++) {
            if (r.ext[i].dpa == sh.dpa && r.ext[i].len == sh.len && r.ext[i].tag[0] == 0x5A &&
                r.ext[i].tag[15] == 0x5A) {
                found = 1;
            }
        }
        CHECK(found);
    }
    CHECK(block_state(f.st, sh.dpa, NULL) == MHSLD_BLOCK_SHARED);
    /* shared policy on the exclusive region; a different tag; and rollback of
     * the first extent when the second fails */
    mhsld_extent ex0 = ext(R0 + 100 * BS, BS);
    CHECK_NO_CHANGE(&f, fm_add_ex(&f.c[0], 0, MHSLD_MBOX_POLICY_SHARED, 0, 0, &ex0, 1, 1), INV);
    mhsld_extent sh2[2] = {ext(R1 + 10 * BS, BS), sh};
    take(f.st, &snap_a);
    int rc = fm_add_ex(&f.c[0], 0, MHSLD_MBOX_POLICY_SHARED, 1, 0, sh2, 2, 0x5A);
    CHECK(rc != OK); /* head 0 already shares sh */
    take(f.st, &snap_b);
    /* block generations move (the first extent was taken and given back), but
     * every block is in its old state and the shared table is as it was */
    CHECK(snap_a.nshared == snap_b.nshared);
    for (uint64_t i = 0; i < snap_a.n; i++) {
        CHECK(snap_a.b[i].state == snap_b.b[i].state && snap_a.b[i].owner == snap_b.b[i].owner &&
              snap_a.b[i].sharers == snap_b.b[i].sharers);
    }
    CHECK(block_state(f.st, R1 + 10 * BS, NULL) == MHSLD_BLOCK_FREE);

    /* clean up through the FM: tag-based forced release of both sharers */
    CHECK_RC(fm_release(&f.c[0], 0, MHSLD_MBOX_RELEASE_FORCED | MHSLD_MBOX_REMOVAL_TAG, NULL, 0,
                        0x5A),
             OK);
    CHECK_RC(fm_release(&f.c[0], 1, MHSLD_MBOX_RELEASE_FORCED | MHSLD_MBOX_REMOVAL_TAG, NULL, 0,
                        0x5A),
             OK);
    CHECK(block_state(f.st, sh.dpa, NULL) == MHSLD_BLOCK_FREE);
    CHECK_RC(release_ext(&f.c[0], got, 3), OK);
    CHECK_RC(release_ext(&f.c[1], hold, 2), OK);
    fx_close(&f);
}

/* ---- 5605h ----------------------------------------------------------------------------------- */

static void test_fm_release(void)
{
    fx f;
    fx_open(&f, "fmrel");
    f.c[0].notify = on_event;
    f.c[0].notify_opaque = &ev;
    memset(&ev, 0, sizeof(ev));
    mhsld_extent a[2] = {ext(R0, 2 * BS), ext(R0 + 8 * BS, BS)};
    CHECK_RC(fm_add(&f.c[0], 0, a, 2), OK);
    CHECK_RC(accept_ext(&f.c[0], a, 2), OK);
    const uint8_t pres = MHSLD_MBOX_REMOVAL_PRESCRIPTIVE;
    const uint8_t forced = MHSLD_MBOX_REMOVAL_PRESCRIPTIVE | MHSLD_MBOX_RELEASE_FORCED;
    /* not forced: the host is asked, nothing moves */
    ev.calls = 0;
    CHECK_NO_CHANGE(&f, fm_release(&f.c[0], 0, pres, a, 2, 0), OK);
    CHECK(ev.calls == 1 && ev.last.type == MHSLD_MBOX_EV_RELEASE_REQUEST && ev.last.host == 0 &&
          ev.last.n == 2 && ev.ext[0].dpa == a[0].dpa);
    /* errors */
    CHECK_NO_CHANGE(&f, fm_release(&f.c[0], 1, forced, a, 1, 0), IPA); /* not head 1's */
    CHECK_NO_CHANGE(&f, fm_release(&f.c[0], 1, pres, a, 1, 0), IPA);
    mhsld_extent bad = ext(R0 + BS, 2 * BS); /* half held */
    CHECK_NO_CHANGE(&f, fm_release(&f.c[0], 0, forced, &bad, 1, 0), IPA);
    CHECK_NO_CHANGE(&f, fm_release(&f.c[0], 0, forced, a, 0, 0), INV);
    CHECK_NO_CHANGE(&f, fm_release(&f.c[0], 2, forced, a, 1, 0), INV);
    CHECK_NO_CHANGE(&f, fm_release(&f.c[0], NHEADS, forced, a, 1, 0), INV);
    CHECK_NO_CHANGE(&f, fm_release(&f.c[0], 0, forced | MHSLD_MBOX_RELEASE_SANITIZE, a, 1, 0), UNS);
    bad = ext(R0 + MiB, BS);
    CHECK_NO_CHANGE(&f, fm_release(&f.c[0], 0, forced, &bad, 1, 0), IEL);
    CHECK_NO_CHANGE(&f, fm_release(&f.c[0], 0, MHSLD_MBOX_RELEASE_FORCED, a, 1, 0), INV);
    CHECK_NO_CHANGE(&f, fm_release(&f.c[0], 0, MHSLD_MBOX_RELEASE_FORCED, NULL, 0, 0x77), INV);
    /* pending capacity is not released, forced or not */
    mhsld_extent p = ext(R0 + 30 * BS, BS);
    CHECK_RC(fm_add(&f.c[0], 0, &p, 1), OK);
    CHECK_NO_CHANGE(&f, fm_release(&f.c[0], 0, forced, &p, 1, 0), IPA);
    CHECK_RC(accept_ext(&f.c[0], &p, 0), OK);
    /* forced prescriptive: taken now */
    uint32_t gen = host_gen(&f.c[0]);
    ev.calls = 0;
    CHECK_RC(fm_release(&f.c[0], 0, forced, &a[1], 1, 0), OK);
    CHECK(ev.calls == 1 && ev.last.type == MHSLD_MBOX_EV_FORCED_RELEASE);
    CHECK(block_state(f.st, a[1].dpa, NULL) == MHSLD_BLOCK_FREE);
    CHECK(block_state(f.st, a[0].dpa, NULL) == MHSLD_BLOCK_OWNED);
    CHECK(host_gen(&f.c[0]) != gen);
    /* a shared extent named prescriptively; a part of one is refused */
    mhsld_extent sh = ext(R1, 2 * BS);
    CHECK_RC(fm_add_ex(&f.c[0], 0, MHSLD_MBOX_POLICY_SHARED, 1, 0, &sh, 1, 0x11), OK);
    mhsld_extent part = ext(R1, BS);
    CHECK_NO_CHANGE(&f, fm_release(&f.c[0], 0, forced, &part, 1, 0), IPA);
    /* tag-based, not forced: request only */
    ev.calls = 0;
    CHECK_NO_CHANGE(&f, fm_release(&f.c[0], 0, MHSLD_MBOX_REMOVAL_TAG, NULL, 0, 0x11), OK);
    CHECK(ev.calls == 1 && ev.last.type == MHSLD_MBOX_EV_RELEASE_REQUEST && ev.last.n == 1 &&
          ev.ext[0].dpa == sh.dpa && ev.ext[0].tag[0] == 0x11);
    /* mixed forced prescriptive: an exclusive and a shared extent */
    mhsld_extent mixed[2] = {a[0], sh};
    CHECK_RC(fm_release(&f.c[0], 0, forced, mixed, 2, 0), OK);
    CHECK(block_state(f.st, a[0].dpa, NULL) == MHSLD_BLOCK_FREE);
    CHECK(block_state(f.st, sh.dpa, NULL) == MHSLD_BLOCK_FREE);
    static mhsld_mbox_dc_extents_out r;
    CHECK_RC(host_list(&f.c[0], 0, 10, &r), OK);
    CHECK(r.total == 0);
    /* the host's own 4803h releases a shared extent too */
    CHECK_RC(fm_add_ex(&f.c[0], 0, MHSLD_MBOX_POLICY_SHARED, 1, 0, &sh, 1, 0x12), OK);
    CHECK_RC(release_ext(&f.c[0], &sh, 1), OK);
    CHECK(block_state(f.st, sh.dpa, NULL) == MHSLD_BLOCK_FREE);
    fx_close(&f);
}

/* ---- end to end: two heads of one state ---------------------------------------------------- */

static void test_end_to_end(void)
{
    fx f;
    fx_open(&f, "e2e");
    const mhsld_mbox_ctx *fm = &f.c[0];  /* the FM API, reaching both heads */
    const mhsld_mbox_ctx *h0 = &f.c[0];  /* host 0's mailbox */
    const mhsld_mbox_ctx *h1 = &f.c[1];  /* host 1's mailbox */
    static mhsld_mbox_dc_extents_out r;
    mhsld_extent A[2] = {ext(R0 + 16 * BS, 4 * BS), ext(R0 + 32 * BS, 2 * BS)};

    uint32_t g0 = host_gen(h0), g1 = host_gen(h1);
    CHECK_RC(host_list(h0, 0, 10, &r), OK);
    CHECK(r.total == 0);

    /* FM add for host 0: pending, not yet in host 0's list */
    CHECK_RC(fm_add(fm, 0, A, 2), OK);
    CHECK(host_gen(h0) == g0);
    CHECK_RC(host_list(h0, 0, 10, &r), OK);
    CHECK(r.total == 0);
    /* head 1 cannot take what head 0 has been offered */
    CHECK_NO_CHANGE(&f, fm_add(fm, 1, A, 1), IEL);
    CHECK(host_gen(h0) == g0);

    /* host 0 accepts both: its list changes, and only then */
    CHECK_RC(accept_ext(h0, A, 2), OK);
    uint32_t g0b = host_gen(h0);
    CHECK(g0b != g0);
    CHECK_RC(host_list(h0, 0, 10, &r), OK);
    CHECK(r.total == 2 && r.returned == 2 && r.ext[0].dpa == A[0].dpa && r.ext[0].len == A[0].len &&
          r.ext[1].dpa == A[1].dpa && r.ext[1].len == A[1].len);
    /* reading, failing commands and head 1's activity leave head 0's
     * generation alone */
    CHECK(host_gen(h0) == g0b);
    CHECK_NO_CHANGE(&f, fm_add(fm, 1, A, 2), IEL);
    mhsld_extent inside = ext(R0 + 17 * BS, BS);
    CHECK_NO_CHANGE(&f, fm_add(fm, 1, &inside, 1), IEL);
    CHECK_NO_CHANGE(&f, release_ext(h1, A, 1), IPA);
    CHECK_NO_CHANGE(&f, fm_release(fm, 1, MHSLD_MBOX_REMOVAL_PRESCRIPTIVE | MHSLD_MBOX_RELEASE_FORCED,
                                   A, 1, 0),
                    IPA);
    mhsld_extent B = ext(R0 + 64 * BS, BS);
    CHECK_RC(fm_add(fm, 1, &B, 1), OK);
    CHECK_RC(accept_ext(h1, &B, 1), OK);
    CHECK(host_gen(h1) != g1);
    CHECK(host_gen(h0) == g0b);
    CHECK_RC(host_list(h1, 0, 10, &r), OK);
    CHECK(r.total == 1 && r.ext[0].dpa == B.dpa);
    uint32_t owner = 99;
    CHECK(block_state(f.st, A[0].dpa, &owner) == MHSLD_BLOCK_OWNED && owner == 0);

    /* host 0 releases one extent: its list (and generation) change */
    CHECK_RC(release_ext(h0, &A[0], 1), OK);
    uint32_t g0c = host_gen(h0);
    CHECK(g0c != g0b);
    CHECK_RC(host_list(h0, 0, 10, &r), OK);
    CHECK(r.total == 1 && r.ext[0].dpa == A[1].dpa);
    /* now head 1 can have it */
    CHECK_RC(fm_add(fm, 1, &A[0], 1), OK);
    CHECK_RC(accept_ext(h1, &A[0], 1), OK);
    CHECK(block_state(f.st, A[0].dpa, &owner) == MHSLD_BLOCK_OWNED && owner == 1);
    CHECK(host_gen(h0) == g0c);
    /* and head 0 cannot release what is now head 1's */
    CHECK_NO_CHANGE(&f, release_ext(h0, &A[0], 1), IPA);

    mhsld_extent h1all[2] = {A[0], B};
    CHECK_RC(release_ext(h1, h1all, 2), OK);
    CHECK_RC(release_ext(h0, &A[1], 1), OK);
    CHECK(host_gen(h0) != g0c);
    CHECK_RC(host_list(h0, 0, 10, &r), OK);
    CHECK(r.total == 0);
    fx_close(&f);
}

/* ---- random and mutated payloads ---------------------------------------------------- */

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int read_only(uint16_t op)
{
    return op != MHSLD_MBOX_OP_ADD_DC_RESPONSE && op != MHSLD_MBOX_OP_RELEASE_DC &&
           op != MHSLD_MBOX_OP_INITIATE_DC_ADD && op != MHSLD_MBOX_OP_INITIATE_DC_RELEASE;
}

/* A successful response decodes with the codec's response decoder. */
static void check_response(uint16_t op, const uint8_t *out, size_t n)
{
    static union {
        mhsld_mbox_mhd_info_out a;
        mhsld_mbox_head_info_out b;
        mhsld_mbox_dc_config_out c;
        mhsld_mbox_dc_extents_out d;
        mhsld_mbox_dcd_info_out e;
        mhsld_mbox_host_region_cfg_out f;
        mhsld_mbox_region_extents_out g;
        mhsld_mbox_dc_list_tags_out h;
    } u;
    switch (op) {
    case MHSLD_MBOX_OP_GET_MHD_INFO:
        CHECK_RC(mhsld_mbox_mhd_info_out_decode(out, n, &u.a), OK);
        break;
    case MHSLD_MBOX_OP_GET_HEAD_INFO:
        CHECK_RC(mhsld_mbox_head_info_out_decode(out, n, &u.b), OK);
        break;
    case MHSLD_MBOX_OP_GET_DC_CONFIG:
        CHECK_RC(mhsld_mbox_dc_config_out_decode(out, n, &u.c), OK);
        break;
    case MHSLD_MBOX_OP_GET_DC_EXTENT_LIST:
        CHECK_RC(mhsld_mbox_dc_extents_out_decode(out, n, &u.d), OK);
        break;
    case MHSLD_MBOX_OP_GET_DCD_INFO:
        CHECK_RC(mhsld_mbox_dcd_info_out_decode(out, n, &u.e), OK);
        break;
    case MHSLD_MBOX_OP_GET_HOST_DC_REGION_CONFIG:
        CHECK_RC(mhsld_mbox_host_region_cfg_out_decode(out, n, &u.f), OK);
        break;
    case MHSLD_MBOX_OP_GET_DC_REGION_EXTENTS:
        CHECK_RC(mhsld_mbox_region_extents_out_decode(out, n, &u.g), OK);
        break;
    case MHSLD_MBOX_OP_DC_LIST_TAGS:
        CHECK_RC(mhsld_mbox_dc_list_tags_out_decode(out, n, &u.h), OK);
        break;
    default:
        CHECK(n == 0); /* commands without a response payload */
        break;
    }
}

/* Seeds: one valid payload per command, for mutation. */
static size_t seed(uint16_t op, uint8_t *b, size_t cap)
{
    memset(b, 0, cap);
    uint64_t blk = rnd() % 8;
    switch (op) {
    case MHSLD_MBOX_OP_GET_MHD_INFO:
    case MHSLD_MBOX_OP_GET_HEAD_INFO:
        b[1] = 3;
        return 2;
    case MHSLD_MBOX_OP_GET_DC_CONFIG:
        b[0] = 8;
        return 2;
    case MHSLD_MBOX_OP_GET_DC_EXTENT_LIST:
        b[0] = 10;
        return 8;
    case MHSLD_MBOX_OP_GET_DCD_INFO:
        return 0;
    case MHSLD_MBOX_OP_GET_HOST_DC_REGION_CONFIG:
        b[0] = (uint8_t)(rnd() % NHEADS);
        b[2] = 8;
        return 4;
    case MHSLD_MBOX_OP_SET_DC_REGION_CONFIG:
        mhsld_st64(b + 4, BS);
        return 16;
    case MHSLD_MBOX_OP_GET_DC_REGION_EXTENTS:
        b[0] = (uint8_t)(rnd() % NHEADS);
        b[4] = 10;
        return 12;
    case MHSLD_MBOX_OP_ADD_DC_RESPONSE:
    case MHSLD_MBOX_OP_RELEASE_DC:
        b[0] = 1;
        mhsld_st64(b + 8, R0 + blk * BS);
        mhsld_st64(b + 16, BS);
        return 8 + 0x18;
    case MHSLD_MBOX_OP_INITIATE_DC_ADD:
    case MHSLD_MBOX_OP_INITIATE_DC_RELEASE:
        b[0] = (uint8_t)(rnd() % 2);
        b[2] = op == MHSLD_MBOX_OP_INITIATE_DC_ADD ? 2 : 0x11;
        b[0x1C] = 1;
        mhsld_st64(b + 0x20, (rnd() & 1 ? R1 : R0) + blk * BS);
        mhsld_st64(b + 0x28, BS);
        return 0x20 + 0x28;
    case MHSLD_MBOX_OP_DC_ADD_REFERENCE:
    case MHSLD_MBOX_OP_DC_REMOVE_REFERENCE:
        b[0] = (uint8_t)(rnd() % 3); /* a tag that may or may not exist */
        return 16;
    case MHSLD_MBOX_OP_DC_LIST_TAGS:
        b[4] = 8;
        return 8;
    default:
        return 0;
    }
}

static void test_random_payloads(void)
{
    fx f;
    fx_open(&f, "random");
    static uint8_t in[4096], out[MHSLD_MBOX_PAYLOAD_MAX];
    const size_t ncmd = mhsld_mbox_command_count();
    int ok = 0;
    for (int iter = 0; iter < 4000; iter++) {
        uint16_t op;
        size_t len;
        if (rnd() % 8 == 0) { /* any opcode, any bytes */
            op = (uint16_t)(rnd() & 0xFFFFu);
            len = (size_t)(rnd() % 300);
            for (size_t i = 0; i < len; i++) {
                in[i] = (uint8_t)rnd();
            }
        } else { /* a valid payload of a real command, maybe mutated */
            op = mhsld_mbox_command_at((size_t)(rnd() % ncmd))->opcode;
            len = seed(op, in, sizeof(in));
            int muts = (int)(rnd() % 4);
            for (int m = 0; m < muts && len > 0; m++) {
                switch (rnd() % 4) {
                case 0:
                    in[rnd() % len] ^= (uint8_t)(1u << (rnd() % 8));
                    break;
                case 1:
                    in[rnd() % len] = (uint8_t)rnd();
                    break;
                case 2:
                    len = (size_t)(rnd() % (len + 1));
                    break;
                default:
                    len += (size_t)(rnd() % 48);
                    break;
                }
            }
        }
        const mhsld_mbox_ctx *c = &f.c[rnd() % 2];
        size_t cap = rnd() % 4 == 0 ? (size_t)(rnd() % 200) : MHSLD_MBOX_PAYLOAD_MAX;
        size_t n = 0;
        take(f.st, &snap_a);
        int rc = exec_cap(c, op, in, len, cap, out, &n);
        take(f.st, &snap_b);
        const mhsld_mbox_cmd_info *ci = mhsld_mbox_command(op);
        /* A command the table says has no effects changes nothing. */
        if (rc != OK || read_only(op) || (ci != NULL && ci->effects == 0)) {
            CHECK(memcmp(&snap_a, &snap_b, sizeof(snap)) == 0);
        }
        if (rc == OK) {
            ok++;
            check_response(op, out, n);
            CHECK(ci != NULL && n >= ci->out_min && n <= ci->out_max);
        } else {
            CHECK(n == 0);
        }
        if (mhsld_mbox_command(op) == NULL) {
            CHECK_RC(rc, UNS);
        }
    }
    printf("random payloads: %d of 4000 succeeded\n", ok);
    CHECK(ok > 100); /* the seeds do reach the handlers */
    /* leave nothing pending or held */
    for (uint32_t h = 0; h < 2; h++) {
        uint64_t freed = 0;
        CHECK(mhsld_release_all(f.h[h], &freed) == MHSLD_OK);
    }
    fx_close(&f);
}

/* The table's output sizes are what the dispatcher enforces: a response
 * buffer below out_min is refused before anything runs (even for a command
 * that would fail anyway), and a query answers with out_min..out_max bytes
 * at every capacity from out_min up. */
static void test_output_sizes(void)
{
    fx f;
    fx_open(&f, "outsize");
    uint64_t group = 0;
    mhsld_extent x = {R0 + 4 * BS, 2 * BS};
    REQUIRE(mhsld_reserve(f.h[0], &x, 1, &group, NULL) == MHSLD_OK);
    REQUIRE(mhsld_commit(f.h[0], group, &x, 1) == MHSLD_OK);
    static uint8_t in[4096], out[8192];
    for (size_t i = 0; i < mhsld_mbox_command_count(); i++) {
        const mhsld_mbox_cmd_info *ci = mhsld_mbox_command_at(i);
        CHECK(ci->out_min <= ci->out_max);
        size_t len = seed(ci->opcode, in, sizeof(in));
        size_t n = 7;
        if (ci->out_min > 0) {
            CHECK_NO_CHANGE(&f, exec_cap(&f.c[0], ci->opcode, in, len, ci->out_min - 1, out, &n),
                            INT);
            CHECK(n == 0);
            /* refused before decoding: a request the command would refuse
             * (all bytes FFh: a start past the end, a reserved bit) too */
            memset(in, 0xFF, ci->in_len);
            CHECK_NO_CHANGE(
                &f, exec_cap(&f.c[0], ci->opcode, in, ci->in_len, ci->out_min - 1, out, &n), INT);
            CHECK_NO_CHANGE(&f, exec_cap(&f.c[0], ci->opcode, in, ci->in_len, sizeof(out), out, &n),
                            ci->in_len ? INV : OK);
        }
        if (ci->effects != 0) {
            continue;
        }
        const size_t caps[] = {ci->out_min, ci->out_min + 1, MHSLD_MBOX_PAYLOAD_MAX, sizeof(out)};
        for (size_t k = 0; k < sizeof(caps) / sizeof(caps[0]); k++) {
            len = seed(ci->opcode, in, sizeof(in));
            CHECK_NO_CHANGE(&f, exec_cap(&f.c[0], ci->opcode, in, len, caps[k], out, &n), OK);
            CHECK(n >= ci->out_min && n <= ci->out_max && n <= caps[k]);
            check_response(ci->opcode, out, n);
        }
    }
    uint64_t freed = 0;
    CHECK(mhsld_release_all(f.h[0], &freed) == MHSLD_OK);
    fx_close(&f);
}

int main(void)
{
    test_dispatch_generic();
    test_mhd_info();
    test_head_info();
    test_dc_config();
    test_extent_list_paging();
    test_add_response();
    test_release();
    test_fm_info();
    test_fm_add();
    test_fm_release();
    test_end_to_end();
    test_random_payloads();
    test_output_sizes();
    if (failures) {
        fprintf(stderr, "test_mailbox_dispatch: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_mailbox_dispatch: all passed\n");
    return 0;
}
