/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Mailbox codec: golden payloads written byte by byte from the CXL r3.1
 * tables, round trips decode(encode(x)) == x, every length, count, reserved
 * field and flag check of every decoder, and the encoders' limits.  Pure:
 * no state file.  Every decoded buffer is a heap copy of exactly the payload
 * length, so ASan sees any read past it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mbox_internal.h"
#include "mhsld/mailbox.h"

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

#define OK MHSLD_CXL_SUCCESS
#define IPL MHSLD_CXL_INVALID_PAYLOAD_LENGTH
#define INV MHSLD_CXL_INVALID_INPUT
#define REX MHSLD_CXL_RESOURCES_EXHAUSTED
#define INT MHSLD_CXL_INTERNAL_ERROR

/* A heap copy of exactly n bytes (1 byte allocated for n == 0, never read). */
static uint8_t *exact(const uint8_t *p, size_t n)
{
    uint8_t *b = malloc(n ? n : 1);
    if (b == NULL) {
        abort();
    }
    if (n) {
        memcpy(b, p, n);
    }
    return b;
}

/* Decode p[0..n) from an exact-size heap copy: dec_<name>(p, n, out). */
#define DEF_DECODE(name, type)                                                                     \
    static int dec_##name(const uint8_t *p, size_t n, type *out)                                   \
    {                                                                                              \
        uint8_t *b = exact(p, n);                                                                  \
        int r = mhsld_mbox_##name##_decode(b, n, out);                                             \
        free(b);                                                                                   \
        return r;                                                                                  \
    }
DEF_DECODE(mhd_info_in, mhsld_mbox_mhd_info_in)
DEF_DECODE(mhd_info_out, mhsld_mbox_mhd_info_out)
DEF_DECODE(head_info_in, mhsld_mbox_head_info_in)
DEF_DECODE(head_info_out, mhsld_mbox_head_info_out)
DEF_DECODE(dc_config_in, mhsld_mbox_dc_config_in)
DEF_DECODE(dc_config_out, mhsld_mbox_dc_config_out)
DEF_DECODE(dc_extents_in, mhsld_mbox_dc_extents_in)
DEF_DECODE(dc_extents_out, mhsld_mbox_dc_extents_out)
DEF_DECODE(dc_update_in, mhsld_mbox_dc_update_in)
DEF_DECODE(dcd_info_out, mhsld_mbox_dcd_info_out)
DEF_DECODE(host_region_cfg_in, mhsld_mbox_host_region_cfg_in)
DEF_DECODE(host_region_cfg_out, mhsld_mbox_host_region_cfg_out)
DEF_DECODE(set_region_cfg_in, mhsld_mbox_set_region_cfg_in)
DEF_DECODE(region_extents_in, mhsld_mbox_region_extents_in)
DEF_DECODE(region_extents_out, mhsld_mbox_region_extents_out)
DEF_DECODE(dc_add_in, mhsld_mbox_dc_add_in)
DEF_DECODE(dc_release_in, mhsld_mbox_dc_release_in)
DEF_DECODE(dc_tag_ref_in, mhsld_mbox_dc_tag_ref_in)
DEF_DECODE(dc_list_tags_in, mhsld_mbox_dc_list_tags_in)
DEF_DECODE(dc_list_tags_out, mhsld_mbox_dc_list_tags_out)
#define DECODE(name, p, n, out) dec_##name((p), (n), (out))

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static uint8_t rnd8(void)
{
    return (uint8_t)(rnd() & 0xFFu);
}
static void rnd_tag(uint8_t *t)
{
    for (size_t i = 0; i < MHSLD_TAG_SIZE; i++) {
        t[i] = rnd8();
    }
}
static void rnd_dc_extent(mhsld_mbox_dc_extent *e)
{
    e->dpa = rnd();
    e->len = rnd();
    rnd_tag(e->tag);
    e->shared_seq = (uint16_t)(rnd() & 0xFFFFu);
}

static void put_le(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)((v >> (8 * i)) & 0xFFu);
    }
}

/* ---- helpers ------------------------------------------------------------- */

static void test_le_helpers(void)
{
    uint8_t b[11];
    memset(b, 0xEE, sizeof(b));
    mhsld_st16(b + 1, 0x1234);
    CHECK(b[0] == 0xEE && b[1] == 0x34 && b[2] == 0x12 && b[3] == 0xEE);
    CHECK(mhsld_ld16(b + 1) == 0x1234);
    mhsld_st32(b + 1, 0x89ABCDEFu);
    CHECK(b[1] == 0xEF && b[2] == 0xCD && b[3] == 0xAB && b[4] == 0x89 && b[5] == 0xEE);
    CHECK(mhsld_ld32(b + 1) == 0x89ABCDEFu);
    mhsld_st64(b + 3, 0x0102030405060708ull);
    CHECK(b[3] == 0x08 && b[10] == 0x01 && b[2] == 0xCD);
    CHECK(mhsld_ld64(b + 3) == 0x0102030405060708ull);
    mhsld_st64(b + 3, UINT64_MAX);
    CHECK(mhsld_ld64(b + 3) == UINT64_MAX);
}

static void test_rc_names(void)
{
    CHECK(strcmp(mhsld_cxl_rc_name(0), "SUCCESS") == 0);
    CHECK(strcmp(mhsld_cxl_rc_name(0x02), "INVALID_INPUT") == 0);
    CHECK(strcmp(mhsld_cxl_rc_name(0x03), "UNSUPPORTED") == 0);
    CHECK(strcmp(mhsld_cxl_rc_name(0x04), "INTERNAL_ERROR") == 0);
    CHECK(strcmp(mhsld_cxl_rc_name(0x05), "RETRY_REQUIRED") == 0);
    CHECK(strcmp(mhsld_cxl_rc_name(0x06), "BUSY") == 0);
    CHECK(strcmp(mhsld_cxl_rc_name(0x0F), "INVALID_PHYSICAL_ADDRESS") == 0);
    CHECK(strcmp(mhsld_cxl_rc_name(0x16), "INVALID_PAYLOAD_LENGTH") == 0);
    CHECK(strcmp(mhsld_cxl_rc_name(0x1D), "RESOURCES_EXHAUSTED") == 0);
    CHECK(strcmp(mhsld_cxl_rc_name(0x1E), "INVALID_EXTENT_LIST") == 0);
    CHECK(strcmp(mhsld_cxl_rc_name(0x21), "UNKNOWN") == 0);
    CHECK(strcmp(mhsld_cxl_rc_name(-1), "UNKNOWN") == 0);
    for (int rc = 0; rc <= 0x20; rc++) {
        CHECK(strcmp(mhsld_cxl_rc_name(rc), "UNKNOWN") != 0);
    }
    /* The numeric values are the spec's (Table 8-34). */
    CHECK(MHSLD_CXL_INVALID_INPUT == 2 && MHSLD_CXL_UNSUPPORTED == 3 &&
          MHSLD_CXL_INTERNAL_ERROR == 4 && MHSLD_CXL_RETRY_REQUIRED == 5 && MHSLD_CXL_BUSY == 6 &&
          MHSLD_CXL_INVALID_PA == 0x0F && MHSLD_CXL_INVALID_PAYLOAD_LENGTH == 0x16 &&
          MHSLD_CXL_RESOURCES_EXHAUSTED == 0x1D && MHSLD_CXL_INVALID_EXTENT_LIST == 0x1E);
}

static void test_command_table(void)
{
    static const struct {
        uint16_t op;
        size_t len;
    } want[] = {
        {0x4800, 2},
        {0x4801, 8},
        {0x4802, MHSLD_MBOX_VARIABLE},
        {0x4803, MHSLD_MBOX_VARIABLE},
        {0x5500, 2},
        {0x5501, 2},
        {0x5600, 0},
        {0x5601, 4},
        {0x5602, 16},
        {0x5603, 12},
        {0x5604, MHSLD_MBOX_VARIABLE},
        {0x5605, MHSLD_MBOX_VARIABLE},
        {0x5606, 16},
        {0x5607, 16},
        {0x5608, 8},
    };
    size_t n = sizeof(want) / sizeof(want[0]);
    CHECK(mhsld_mbox_command_count() == n);
    for (size_t i = 0; i < n; i++) {
        const mhsld_mbox_cmd_info *ci = mhsld_mbox_command(want[i].op);
        CHECK(ci != NULL);
        if (ci != NULL) {
            CHECK(ci->opcode == want[i].op && ci->in_len == want[i].len && ci->name != NULL &&
                  ci->name[0] != '\0');
        }
    }
    for (size_t i = 0; i < mhsld_mbox_command_count(); i++) {
        const mhsld_mbox_cmd_info *ci = mhsld_mbox_command_at(i);
        CHECK(ci != NULL && mhsld_mbox_command(ci->opcode) == ci);
    }
    CHECK(mhsld_mbox_command_at(n) == NULL);
    CHECK(mhsld_mbox_command(0x4804) == NULL);
    CHECK(mhsld_mbox_command(0x5502) == NULL);
    CHECK(mhsld_mbox_command(0x0000) == NULL);
}

/* The codec's descriptor tables describe every byte of every record once,
 * inside the decoded structs. */
static void test_descriptor_tables(void)
{
    char why[256] = "";
    int n = mhsld__mbox_codec_selfcheck(why, sizeof(why));
    if (n != 20) {
        fprintf(stderr, "descriptor tables: %d (%s)\n", n, why);
        failures++;
    }
}

/* The table's input rule, output sizes and effects: the numbers written out
 * from the CXL r3.1 layouts and QEMU's command tables (effects of 4802h,
 * 4803h: immediate data change; of 5602h, 5604h, 5605h: configuration
 * change after cold, conventional and CXL reset, immediate configuration
 * and data change; every query: none). */
static void test_command_table_sizes(void)
{
    const size_t V = MHSLD_MBOX_VARIABLE;
#define FM_EFF (0x0001 | 0x0002 | 0x0004 | 0x0800 | 0x1000)
    static const struct {
        uint16_t op;
        size_t in_min, in_elem, out_min, out_max;
        uint16_t effects;
    } want[] = {
        {0x4800, 2, 0, 8 + 0x10, 8 + 8 * 0x28 + 0x10, 0},
        {0x4801, 8, 0, 0x10, 0x10 + MHSLD_MBOX_LIST_MAX * 0x28, 0},
        {0x4802, 8, 0x18, 0, 0, 0x0004},
        {0x4803, 8, 0x18, 0, 0, 0x0004},
        {0x5500, 2, 0, 8, 8 + MHSLD_MAX_LDS, 0},
        {0x5501, 2, 0, 4, 4 + MHSLD_MAX_HEADS * 9, 0},
        {0x5600, 0, 0, 0x54, 0x54, 0},
        {0x5601, 4, 0, 4 + 0x10, 4 + 8 * 0x28 + 0x10, 0},
        {0x5602, 0x10, 0, 0, 0, FM_EFF},
        {0x5603, 0x0C, 0, 0x18, 0x18 + MHSLD_MBOX_LIST_MAX * 0x28, 0},
        {0x5604, 0x20, 0x28, 0, 0, FM_EFF},
        {0x5605, 0x20, 0x28, 0, 0, FM_EFF},
        {0x5606, 0x10, 0, 0, 0, FM_EFF},
        {0x5607, 0x10, 0, 0, 0, FM_EFF},
        {0x5608, 8, 0, 0x10, 0x10 + MHSLD_MAX_SHARED * 0x54, 0},
    };
#undef FM_EFF
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const mhsld_mbox_cmd_info *ci = mhsld_mbox_command(want[i].op);
        CHECK(ci != NULL);
        if (ci == NULL) {
            continue;
        }
        uint16_t eff = want[i].effects;
        CHECK(ci->in_min == want[i].in_min && ci->in_elem == want[i].in_elem);
        CHECK(ci->in_len == (want[i].in_elem ? V : want[i].in_min));
        CHECK(ci->out_min == want[i].out_min && ci->out_max == want[i].out_max);
        if (ci->effects != eff) {
            fprintf(stderr, "%04x: effects %#x, want %#x\n", want[i].op, ci->effects, eff);
            failures++;
        }
        /* the copy accessor gives the same entry */
        mhsld_mbox_cmd_info copy;
        memset(&copy, 0, sizeof(copy));
        CHECK_RC(mhsld_mbox_command_info(want[i].op, &copy), OK);
        CHECK(memcmp(&copy, ci, sizeof(copy)) == 0);
    }
    mhsld_mbox_cmd_info untouched;
    memset(&untouched, 0xA5, sizeof(untouched));
    CHECK_RC(mhsld_mbox_command_info(0x4804, &untouched), MHSLD_CXL_UNSUPPORTED);
    CHECK(untouched.opcode == 0xA5A5);
    CHECK_RC(mhsld_mbox_command_info(0x4800, NULL), INT);

    /* The input rule is the decoders': a header with count 0 decodes, one
     * byte less does not, one record more (count 1) decodes. */
    static uint8_t b[0x20 + 0x28];
    static mhsld_mbox_dc_update_in u;
    static mhsld_mbox_dc_add_in a;
    static mhsld_mbox_dc_release_in r;
    const mhsld_mbox_cmd_info *ci = mhsld_mbox_command(MHSLD_MBOX_OP_ADD_DC_RESPONSE);
    memset(b, 0, sizeof(b));
    CHECK_RC(DECODE(dc_update_in, b, ci->in_min, &u), OK);
    CHECK_RC(DECODE(dc_update_in, b, ci->in_min - 1, &u), IPL);
    b[0] = 1;
    CHECK_RC(DECODE(dc_update_in, b, ci->in_min + ci->in_elem, &u), OK);
    ci = mhsld_mbox_command(MHSLD_MBOX_OP_INITIATE_DC_ADD);
    memset(b, 0, sizeof(b));
    CHECK_RC(DECODE(dc_add_in, b, ci->in_min, &a), OK);
    CHECK_RC(DECODE(dc_add_in, b, ci->in_min - 1, &a), IPL);
    b[0x1C] = 1;
    CHECK_RC(DECODE(dc_add_in, b, ci->in_min + ci->in_elem, &a), OK);
    CHECK_RC(DECODE(dc_release_in, b, ci->in_min + ci->in_elem, &r), OK);

    /* The CEL: one 4-byte entry per command, in table order. */
    uint8_t cel[64];
    size_t len = 99;
    const size_t ncmd = mhsld_mbox_command_count();
    CHECK_RC(mhsld_mbox_cel_encode(cel, sizeof(cel), &len), OK);
    CHECK(len == ncmd * MHSLD_MBOX_CEL_ENTRY_SIZE);
    for (size_t i = 0; i < ncmd && 4 * i + 4 <= sizeof(cel); i++) {
        const mhsld_mbox_cmd_info *e = mhsld_mbox_command_at(i);
        CHECK(mhsld_ld16(cel + 4 * i) == e->opcode && mhsld_ld16(cel + 4 * i + 2) == e->effects);
    }
    memset(cel, 0xEE, sizeof(cel));
    CHECK_RC(mhsld_mbox_cel_encode(cel, ncmd * MHSLD_MBOX_CEL_ENTRY_SIZE - 1, &len), INT);
    CHECK(len == 0 && cel[0] == 0xEE);
    CHECK_RC(mhsld_mbox_cel_encode(NULL, sizeof(cel), &len), INT);
    CHECK_RC(mhsld_mbox_cel_encode(cel, sizeof(cel), NULL), INT);
}

/* ---- golden vectors ---------------------------------------------------------- */

static void test_golden_mhd_info(void)
{
    /* 5500h in: start LD 02h, LD map list limit 05h */
    const uint8_t in[] = {0x02, 0x05};
    mhsld_mbox_mhd_info_in q;
    CHECK_RC(DECODE(mhd_info_in, in, sizeof(in), &q), OK);
    CHECK(q.start_ld == 2 && q.ld_map_limit == 5);
    uint8_t b[8];
    size_t n = 0;
    CHECK_RC(mhsld_mbox_mhd_info_in_encode(&q, b, sizeof(b), &n), OK);
    CHECK(n == 2 && memcmp(b, in, 2) == 0);

    /* out: 4 LDs, 2 heads, rsvd, start 1, 3 entries, rsvd, map {1, FFh, 0} */
    const uint8_t out[] = {0x04, 0x02, 0x00, 0x00, 0x01, 0x03, 0x00, 0x00, 0x01, 0xFF, 0x00};
    mhsld_mbox_mhd_info_out r;
    CHECK_RC(DECODE(mhd_info_out, out, sizeof(out), &r), OK);
    CHECK(r.nr_lds == 4 && r.nr_heads == 2 && r.start_ld == 1 && r.ld_map_len == 3);
    CHECK(r.ld_map[0] == 1 && r.ld_map[1] == 0xFF && r.ld_map[2] == 0);
    uint8_t e[64];
    CHECK_RC(mhsld_mbox_mhd_info_out_encode(&r, e, sizeof(e), &n), OK);
    CHECK(n == sizeof(out) && memcmp(e, out, n) == 0);
}

static void test_golden_head_info(void)
{
    const uint8_t in[] = {0x01, 0x02};
    mhsld_mbox_head_info_in q;
    CHECK_RC(DECODE(head_info_in, in, sizeof(in), &q), OK);
    CHECK(q.start_head == 1 && q.count == 2);
    /* out: count 2, rsvd[3], then 2 x 9-byte head blocks */
    const uint8_t out[] = {0x02, 0x00, 0x00, 0x00,
                           /* port 5, x16, x8, speeds 3Fh, max 6, cur 5, L0, lane 4, flags 1 */
                           0x05, 0x10, 0x08, 0x3F, 0x06, 0x05, 0x04, 0x04, 0x01,
                           /* port 6, x16, x0, 3Fh, 6, 0, Detect, lane 0, 0 */
                           0x06, 0x10, 0x00, 0x3F, 0x06, 0x00, 0x00, 0x00, 0x00};
    mhsld_mbox_head_info_out r;
    CHECK_RC(DECODE(head_info_out, out, sizeof(out), &r), OK);
    CHECK(r.count == 2);
    CHECK(r.head[0].port == 5 && r.head[0].max_width == 16 && r.head[0].neg_width == 8 &&
          r.head[0].speeds == 0x3F && r.head[0].max_speed == 6 && r.head[0].cur_speed == 5 &&
          r.head[0].ltssm == 4 && r.head[0].first_lane == 4 && r.head[0].flags == 1);
    CHECK(r.head[1].port == 6 && r.head[1].neg_width == 0 && r.head[1].ltssm == 0);
    uint8_t e[64];
    size_t n = 0;
    CHECK_RC(mhsld_mbox_head_info_out_encode(&r, e, sizeof(e), &n), OK);
    CHECK(n == sizeof(out) && memcmp(e, out, n) == 0);
}

static void test_golden_dc_config(void)
{
    const uint8_t in[] = {0x08, 0x01}; /* up to 8 regions starting at region 1 */
    mhsld_mbox_dc_config_in q;
    CHECK_RC(DECODE(dc_config_in, in, sizeof(in), &q), OK);
    CHECK(q.region_count == 8 && q.start_region == 1);

    uint8_t out[8 + 0x28 + 0x10];
    memset(out, 0, sizeof(out));
    out[0] = 2; /* available regions */
    out[1] = 1; /* returned */
    put_le(out + 0x08, 0x40000000ull, 8); /* base 1 GiB */
    put_le(out + 0x10, 2, 8);             /* decode length: 2 x 256 MiB */
    put_le(out + 0x18, 0x20000000ull, 8); /* length 512 MiB */
    put_le(out + 0x20, 0x200000ull, 8);   /* block size 2 MiB */
    put_le(out + 0x28, 0xCAFE, 4);        /* DSMAD handle */
    out[0x2C] = 0x00;                     /* flags */
    put_le(out + 0x30, 1024, 4);          /* total extents */
    put_le(out + 0x34, 1000, 4);          /* available extents */
    put_le(out + 0x38, 128, 4);           /* total tags */
    put_le(out + 0x3C, 127, 4);           /* available tags */
    mhsld_mbox_dc_config_out r;
    CHECK_RC(DECODE(dc_config_out, out, sizeof(out), &r), OK);
    CHECK(r.avail_regions == 2 && r.returned == 1);
    CHECK(r.region[0].base == 0x40000000ull && r.region[0].decode_len == 2 &&
          r.region[0].len == 0x20000000ull && r.region[0].block_size == 0x200000ull &&
          r.region[0].dsmad_handle == 0xCAFE && r.region[0].flags == 0);
    CHECK(r.limits.total_extents == 1024 && r.limits.avail_extents == 1000 &&
          r.limits.total_tags == 128 && r.limits.avail_tags == 127);
    uint8_t e[256];
    size_t n = 0;
    CHECK_RC(mhsld_mbox_dc_config_out_encode(&r, e, sizeof(e), &n), OK);
    CHECK(n == sizeof(out) && memcmp(e, out, n) == 0);
}

static void fill_wire_extent(uint8_t *p, uint64_t dpa, uint64_t len, uint8_t tag0, uint16_t seq)
{
    memset(p, 0, 0x28);
    put_le(p, dpa, 8);
    put_le(p + 0x08, len, 8);
    for (int i = 0; i < 16; i++) {
        p[0x10 + i] = (uint8_t)(tag0 + i);
    }
    put_le(p + 0x20, seq, 2);
}

static void test_golden_dc_extents(void)
{
    const uint8_t in[] = {0x02, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00}; /* count 2, start 5 */
    mhsld_mbox_dc_extents_in q;
    CHECK_RC(DECODE(dc_extents_in, in, sizeof(in), &q), OK);
    CHECK(q.count == 2 && q.start == 5);
    uint8_t b[8];
    size_t n = 0;
    CHECK_RC(mhsld_mbox_dc_extents_in_encode(&q, b, sizeof(b), &n), OK);
    CHECK(n == 8 && memcmp(b, in, 8) == 0);

    uint8_t out[0x10 + 0x28];
    memset(out, 0, sizeof(out));
    put_le(out, 1, 4);          /* returned */
    put_le(out + 4, 7, 4);      /* total */
    put_le(out + 8, 0x42, 4);   /* generation */
    fill_wire_extent(out + 0x10, 0x10000000ull, 0x400000ull, 0xA0, 0x0102);
    mhsld_mbox_dc_extents_out r;
    CHECK_RC(DECODE(dc_extents_out, out, sizeof(out), &r), OK);
    CHECK(r.returned == 1 && r.total == 7 && r.generation == 0x42);
    CHECK(r.ext[0].dpa == 0x10000000ull && r.ext[0].len == 0x400000ull &&
          r.ext[0].tag[0] == 0xA0 && r.ext[0].tag[15] == 0xAF && r.ext[0].shared_seq == 0x0102);
    uint8_t e[256];
    CHECK_RC(mhsld_mbox_dc_extents_out_encode(&r, e, sizeof(e), &n), OK);
    CHECK(n == sizeof(out) && memcmp(e, out, n) == 0);
}

static void test_golden_dc_update(void)
{
    /* 4802h/4803h: 2 updated extents, flags 0 */
    uint8_t in[8 + 2 * 0x18];
    memset(in, 0, sizeof(in));
    in[0] = 2;
    put_le(in + 0x08, 0x200000ull, 8);
    put_le(in + 0x10, 0x200000ull, 8);
    put_le(in + 0x20, 0x800000ull, 8);
    put_le(in + 0x28, 0x600000ull, 8);
    mhsld_mbox_dc_update_in q;
    CHECK_RC(DECODE(dc_update_in, in, sizeof(in), &q), OK);
    CHECK(q.count == 2 && q.flags == 0);
    CHECK(q.ext[0].dpa == 0x200000ull && q.ext[0].len == 0x200000ull);
    CHECK(q.ext[1].dpa == 0x800000ull && q.ext[1].len == 0x600000ull);
    uint8_t e[128];
    size_t n = 0;
    CHECK_RC(mhsld_mbox_dc_update_in_encode(&q, e, sizeof(e), &n), OK);
    CHECK(n == sizeof(in) && memcmp(e, in, n) == 0);
    /* the empty list (an Add DC Response accepting nothing) */
    const uint8_t empty[8] = {0};
    CHECK_RC(DECODE(dc_update_in, empty, sizeof(empty), &q), OK);
    CHECK(q.count == 0);
}

static void test_golden_dcd_info(void)
{
    uint8_t out[0x54];
    memset(out, 0, sizeof(out));
    out[0x00] = 2;                            /* hosts */
    out[0x01] = 2;                            /* regions */
    put_le(out + 0x04, 0x000F, 2);            /* add policies */
    put_le(out + 0x08, 0x0003, 2);            /* release policies */
    out[0x0A] = 0;                            /* sanitize mask */
    put_le(out + 0x0C, 3, 8);                 /* total capacity, 256 MiB units */
    put_le(out + 0x14, 0x200000ull, 8);       /* region 0 block size mask */
    put_le(out + 0x1C, 0x200000ull, 8);       /* region 1 */
    mhsld_mbox_dcd_info_out r;
    CHECK_RC(DECODE(dcd_info_out, out, sizeof(out), &r), OK);
    CHECK(r.nr_hosts == 2 && r.nr_regions == 2 && r.add_policies == 0xF &&
          r.release_policies == 3 && r.sanitize_mask == 0 && r.total_capacity == 3 &&
          r.block_size_mask[0] == 0x200000ull && r.block_size_mask[1] == 0x200000ull &&
          r.block_size_mask[2] == 0);
    uint8_t e[0x54];
    size_t n = 0;
    CHECK_RC(mhsld_mbox_dcd_info_out_encode(&r, e, sizeof(e), &n), OK);
    CHECK(n == 0x54 && memcmp(e, out, n) == 0);
}

static void test_golden_host_region_cfg(void)
{
    const uint8_t in[] = {0x01, 0x00, 0x02, 0x00}; /* host 1, 2 regions from 0 */
    mhsld_mbox_host_region_cfg_in q;
    CHECK_RC(DECODE(host_region_cfg_in, in, sizeof(in), &q), OK);
    CHECK(q.host == 1 && q.region_count == 2 && q.start_region == 0);
    uint8_t out[4 + 0x28 + 0x10];
    memset(out, 0, sizeof(out));
    put_le(out, 1, 2);
    out[2] = 2;
    out[3] = 1;
    put_le(out + 0x04, 0x40000000ull, 8);
    put_le(out + 0x0C, 1, 8);
    put_le(out + 0x14, 0x10000000ull, 8);
    put_le(out + 0x1C, 0x200000ull, 8);
    out[0x24] = 0x08; /* DSMAS flags: sharable */
    out[0x28] = 0x00; /* sanitize */
    put_le(out + 0x2C, 1024, 4);
    put_le(out + 0x30, 1024, 4);
    put_le(out + 0x34, 128, 4);
    put_le(out + 0x38, 128, 4);
    mhsld_mbox_host_region_cfg_out r;
    CHECK_RC(DECODE(host_region_cfg_out, out, sizeof(out), &r), OK);
    CHECK(r.host == 1 && r.nr_regions == 2 && r.returned == 1 &&
          r.region[0].base == 0x40000000ull && r.region[0].decode_len == 1 &&
          r.region[0].len == 0x10000000ull && r.region[0].block_size == 0x200000ull &&
          r.region[0].flags == 0x08 && r.region[0].sanitize == 0 &&
          r.limits.total_extents == 1024 && r.limits.avail_tags == 128);
    uint8_t e[256];
    size_t n = 0;
    CHECK_RC(mhsld_mbox_host_region_cfg_out_encode(&r, e, sizeof(e), &n), OK);
    CHECK(n == sizeof(out) && memcmp(e, out, n) == 0);
}

static void test_golden_set_region_cfg(void)
{
    uint8_t in[16];
    memset(in, 0, sizeof(in));
    in[0] = 1;
    put_le(in + 4, 0x200000ull, 8);
    in[12] = 0;
    mhsld_mbox_set_region_cfg_in q;
    CHECK_RC(DECODE(set_region_cfg_in, in, sizeof(in), &q), OK);
    CHECK(q.region == 1 && q.block_size == 0x200000ull && q.flags == 0);
    uint8_t e[16];
    size_t n = 0;
    CHECK_RC(mhsld_mbox_set_region_cfg_in_encode(&q, e, sizeof(e), &n), OK);
    CHECK(n == 16 && memcmp(e, in, 16) == 0);
}

static void test_golden_region_extents(void)
{
    const uint8_t in[] = {0x01, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00};
    mhsld_mbox_region_extents_in q;
    CHECK_RC(DECODE(region_extents_in, in, sizeof(in), &q), OK);
    CHECK(q.host == 1 && q.count == 3 && q.start == 2);
    uint8_t out[0x18 + 2 * 0x28];
    memset(out, 0, sizeof(out));
    put_le(out, 1, 2);
    put_le(out + 0x04, 2, 4);   /* start */
    put_le(out + 0x08, 2, 4);   /* returned */
    put_le(out + 0x0C, 4, 4);   /* total */
    put_le(out + 0x10, 9, 4);   /* generation */
    fill_wire_extent(out + 0x18, 0x400000ull, 0x200000ull, 0, 0);
    fill_wire_extent(out + 0x40, 0xA00000ull, 0x200000ull, 0x10, 3);
    mhsld_mbox_region_extents_out r;
    CHECK_RC(DECODE(region_extents_out, out, sizeof(out), &r), OK);
    CHECK(r.host == 1 && r.start == 2 && r.returned == 2 && r.total == 4 && r.generation == 9 &&
          r.ext[1].dpa == 0xA00000ull && r.ext[1].tag[0] == 0x10 && r.ext[1].shared_seq == 3);
    uint8_t e[256];
    size_t n = 0;
    CHECK_RC(mhsld_mbox_region_extents_out_encode(&r, e, sizeof(e), &n), OK);
    CHECK(n == sizeof(out) && memcmp(e, out, n) == 0);
}

/* 5606h/5607h in: the tag, 16 bytes as they are (libcxlmi
 * cxlmi_cmd_fmapi_dc_add_ref / _remove_ref). */
static void test_golden_tag_ref(void)
{
    uint8_t in[16];
    for (size_t i = 0; i < sizeof(in); i++) {
        in[i] = (uint8_t)(0xA0 + i);
    }
    mhsld_mbox_dc_tag_ref_in q;
    CHECK_RC(DECODE(dc_tag_ref_in, in, sizeof(in), &q), OK);
    CHECK(memcmp(q.tag, in, 16) == 0);
    uint8_t e[32];
    size_t n = 0;
    CHECK_RC(mhsld_mbox_dc_tag_ref_in_encode(&q, e, sizeof(e), &n), OK);
    CHECK(n == 16 && memcmp(e, in, n) == 0);
    CHECK_RC(DECODE(dc_tag_ref_in, in, 15, &q), IPL);
    CHECK_RC(DECODE(dc_tag_ref_in, in, 0, &q), IPL);
}

/* 5608h in: start index, tags count; out: generation, total, returned,
 * validity bitmap, 3 reserved, then 54h-byte tag records (tag, flags, 3
 * reserved, 32-byte reference bitmap, 32-byte pending bitmap). */
static void test_golden_list_tags(void)
{
    const uint8_t in[] = {0x02, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00};
    mhsld_mbox_dc_list_tags_in q;
    CHECK_RC(DECODE(dc_list_tags_in, in, sizeof(in), &q), OK);
    CHECK(q.start == 2 && q.count == 5);
    uint8_t out[0x10 + 2 * 0x54];
    memset(out, 0, sizeof(out));
    put_le(out, 0xCAFE, 4);       /* generation */
    put_le(out + 0x04, 4, 4);     /* total */
    put_le(out + 0x08, 2, 4);     /* returned */
    out[0x0C] = 0x03;             /* validity */
    out[0x10] = 0x11;             /* tag 0 */
    out[0x10 + 0x10] = 0x01;      /* flags: FM reference */
    out[0x10 + 0x14] = 0x05;      /* reference bitmap: hosts 0 and 2 */
    out[0x10 + 0x34 + 31] = 0x80; /* pending bitmap: host 255 */
    out[0x64] = 0x22;             /* tag 1 */
    out[0x64 + 0x14 + 3] = 0x01;  /* host 24 */
    mhsld_mbox_dc_list_tags_out r;
    CHECK_RC(DECODE(dc_list_tags_out, out, sizeof(out), &r), OK);
    CHECK(r.generation == 0xCAFE && r.total == 4 && r.returned == 2 && r.validity == 3);
    CHECK(r.tag[0].tag[0] == 0x11 && r.tag[0].flags == 1 && r.tag[0].ref_bitmap[0] == 5 &&
          r.tag[0].pending_bitmap[31] == 0x80 && r.tag[1].tag[0] == 0x22 && r.tag[1].flags == 0 &&
          r.tag[1].ref_bitmap[3] == 1);
    static uint8_t e[0x10 + MHSLD_MAX_SHARED * 0x54];
    size_t n = 0;
    CHECK_RC(mhsld_mbox_dc_list_tags_out_encode(&r, e, sizeof(e), &n), OK);
    CHECK(n == sizeof(out) && memcmp(e, out, n) == 0);
    /* reserved bytes, unknown validity and flag bits, a count the length
     * does not hold */
    const size_t bad[] = {0x0D, 0x0E, 0x0F, 0x10 + 0x11, 0x10 + 0x12, 0x10 + 0x13};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t c[sizeof(out)];
        memcpy(c, out, sizeof(out));
        c[bad[i]] = 1;
        CHECK_RC(DECODE(dc_list_tags_out, c, sizeof(c), &r), INV);
    }
    uint8_t c[sizeof(out)];
    memcpy(c, out, sizeof(out));
    c[0x0C] = 0x04;
    CHECK_RC(DECODE(dc_list_tags_out, c, sizeof(c), &r), INV);
    memcpy(c, out, sizeof(out));
    c[0x10 + 0x10] = 0x02;
    CHECK_RC(DECODE(dc_list_tags_out, c, sizeof(c), &r), INV);
    CHECK_RC(DECODE(dc_list_tags_out, out, sizeof(out) - 1, &r), IPL);
    memcpy(c, out, sizeof(out));
    put_le(c + 0x08, 3, 4);
    CHECK_RC(DECODE(dc_list_tags_out, c, sizeof(c), &r), IPL);
}

static void test_golden_dc_add(void)
{
    uint8_t in[0x20 + 0x28];
    memset(in, 0, sizeof(in));
    put_le(in, 1, 2);          /* host 1 */
    in[2] = 2;                 /* prescriptive */
    in[3] = 0;                 /* region */
    put_le(in + 4, 0x400000ull, 8);
    for (int i = 0; i < 16; i++) {
        in[0x0C + i] = (uint8_t)(0x50 + i);
    }
    put_le(in + 0x1C, 1, 4);   /* extent count */
    fill_wire_extent(in + 0x20, 0x600000ull, 0x400000ull, 0x70, 0);
    mhsld_mbox_dc_add_in q;
    CHECK_RC(DECODE(dc_add_in, in, sizeof(in), &q), OK);
    CHECK(q.host == 1 && q.policy == 2 && q.region == 0 && q.length == 0x400000ull &&
          q.tag[0] == 0x50 && q.tag[15] == 0x5F && q.count == 1 && q.ext[0].dpa == 0x600000ull &&
          q.ext[0].len == 0x400000ull && q.ext[0].tag[0] == 0x70);
    uint8_t e[256];
    size_t n = 0;
    CHECK_RC(mhsld_mbox_dc_add_in_encode(&q, e, sizeof(e), &n), OK);
    CHECK(n == sizeof(in) && memcmp(e, in, n) == 0);
}

static void test_golden_dc_release(void)
{
    uint8_t in[0x20 + 0x28];
    memset(in, 0, sizeof(in));
    put_le(in, 0, 2);
    in[2] = 0x11; /* prescriptive | forced */
    put_le(in + 4, 0x200000ull, 8);
    put_le(in + 0x1C, 1, 4);
    fill_wire_extent(in + 0x20, 0x200000ull, 0x200000ull, 0, 0);
    mhsld_mbox_dc_release_in q;
    CHECK_RC(DECODE(dc_release_in, in, sizeof(in), &q), OK);
    CHECK(q.host == 0 && q.flags == 0x11 && q.length == 0x200000ull && q.count == 1 &&
          q.ext[0].dpa == 0x200000ull);
    uint8_t e[256];
    size_t n = 0;
    CHECK_RC(mhsld_mbox_dc_release_in_encode(&q, e, sizeof(e), &n), OK);
    CHECK(n == sizeof(in) && memcmp(e, in, n) == 0);
}

/* ---- round trips ------------------------------------------------------------- */

/* Encode x into an exact-size buffer, decode it, compare with x (both sides
 * zeroed before being filled, so memcmp also covers padding). */
#define ROUND_TRIP(name, type, x)                                                                  \
    do {                                                                                           \
        static uint8_t buf_[0x10 + MHSLD_MAX_SHARED * 0x54 + 4096];                                \
        size_t n_ = 0;                                                                             \
        CHECK_RC(mhsld_mbox_##name##_encode(&(x), buf_, sizeof(buf_), &n_), OK);                   \
        type *y_ = calloc(1, sizeof(type));                                                        \
        CHECK(y_ != NULL);                                                                         \
        CHECK_RC(DECODE(name, buf_, n_, y_), OK);                                                  \
        CHECK(memcmp(y_, &(x), sizeof(type)) == 0);                                                \
        /* one byte less than encoded never decodes */                                             \
        if (n_ > 0) {                                                                              \
            CHECK(DECODE(name, buf_, n_ - 1, y_) != OK);                                           \
        }                                                                                          \
        CHECK(DECODE(name, buf_, n_ + 1, y_) != OK);                                               \
        free(y_);                                                                                  \
    } while (0)

static void test_round_trips(void)
{
    for (int iter = 0; iter < 200; iter++) {
        {
            mhsld_mbox_mhd_info_in x;
            memset(&x, 0, sizeof(x));
            x.start_ld = rnd8();
            x.ld_map_limit = rnd8();
            ROUND_TRIP(mhd_info_in, mhsld_mbox_mhd_info_in, x);
        }
        {
            static mhsld_mbox_mhd_info_out x;
            memset(&x, 0, sizeof(x));
            x.nr_lds = rnd8();
            x.nr_heads = rnd8();
            x.start_ld = rnd8();
            x.ld_map_len = rnd8();
            for (size_t i = 0; i < x.ld_map_len; i++) {
                x.ld_map[i] = rnd8();
            }
            ROUND_TRIP(mhd_info_out, mhsld_mbox_mhd_info_out, x);
        }
        {
            mhsld_mbox_head_info_in x;
            memset(&x, 0, sizeof(x));
            x.start_head = rnd8();
            x.count = rnd8();
            ROUND_TRIP(head_info_in, mhsld_mbox_head_info_in, x);
        }
        {
            static mhsld_mbox_head_info_out x;
            memset(&x, 0, sizeof(x));
            x.count = rnd8();
            for (size_t i = 0; i < x.count; i++) {
                uint8_t *p = &x.head[i].port;
                for (size_t k = 0; k < sizeof(mhsld_mbox_link); k++) {
                    p[k] = rnd8();
                }
            }
            ROUND_TRIP(head_info_out, mhsld_mbox_head_info_out, x);
        }
        {
            mhsld_mbox_dc_config_in x;
            memset(&x, 0, sizeof(x));
            x.region_count = rnd8();
            x.start_region = rnd8();
            ROUND_TRIP(dc_config_in, mhsld_mbox_dc_config_in, x);
        }
        {
            mhsld_mbox_dc_config_out x;
            memset(&x, 0, sizeof(x));
            x.avail_regions = rnd8();
            x.returned = (uint8_t)(rnd() % (MHSLD_MBOX_DC_REGIONS + 1));
            for (size_t i = 0; i < x.returned; i++) {
                x.region[i].base = rnd();
                x.region[i].decode_len = rnd();
                x.region[i].len = rnd();
                x.region[i].block_size = rnd();
                x.region[i].dsmad_handle = (uint32_t)rnd();
                x.region[i].flags = (uint8_t)(rnd() & MHSLD_MBOX_REGION_SANITIZE);
            }
            x.limits.total_extents = (uint32_t)rnd();
            x.limits.avail_extents = (uint32_t)rnd();
            x.limits.total_tags = (uint32_t)rnd();
            x.limits.avail_tags = (uint32_t)rnd();
            ROUND_TRIP(dc_config_out, mhsld_mbox_dc_config_out, x);
        }
        {
            mhsld_mbox_dc_extents_in x;
            memset(&x, 0, sizeof(x));
            x.count = (uint32_t)rnd();
            x.start = (uint32_t)rnd();
            ROUND_TRIP(dc_extents_in, mhsld_mbox_dc_extents_in, x);
        }
        {
            static mhsld_mbox_dc_extents_out x;
            memset(&x, 0, sizeof(x));
            x.returned = (uint32_t)(rnd() % (MHSLD_MBOX_LIST_MAX + 1));
            x.total = (uint32_t)rnd();
            x.generation = (uint32_t)rnd();
            for (size_t i = 0; i < x.returned; i++) {
                rnd_dc_extent(&x.ext[i]);
            }
            ROUND_TRIP(dc_extents_out, mhsld_mbox_dc_extents_out, x);
        }
        {
            static mhsld_mbox_dc_update_in x;
            memset(&x, 0, sizeof(x));
            x.count = (uint32_t)(rnd() % (MHSLD_MAX_EXTENTS + 1));
            x.flags = (uint8_t)(rnd() & MHSLD_MBOX_UPDATE_MORE);
            for (size_t i = 0; i < x.count; i++) {
                x.ext[i].dpa = rnd();
                x.ext[i].len = rnd();
            }
            ROUND_TRIP(dc_update_in, mhsld_mbox_dc_update_in, x);
        }
        {
            mhsld_mbox_dcd_info_out x;
            memset(&x, 0, sizeof(x));
            x.nr_hosts = rnd8();
            x.nr_regions = rnd8();
            x.add_policies = (uint16_t)rnd();
            x.release_policies = (uint16_t)rnd();
            x.sanitize_mask = rnd8();
            x.total_capacity = rnd();
            for (size_t i = 0; i < MHSLD_MBOX_DC_REGIONS; i++) {
                x.block_size_mask[i] = rnd();
            }
            ROUND_TRIP(dcd_info_out, mhsld_mbox_dcd_info_out, x);
        }
        {
            mhsld_mbox_host_region_cfg_in x;
            memset(&x, 0, sizeof(x));
            x.host = (uint16_t)rnd();
            x.region_count = rnd8();
            x.start_region = rnd8();
            ROUND_TRIP(host_region_cfg_in, mhsld_mbox_host_region_cfg_in, x);
        }
        {
            mhsld_mbox_host_region_cfg_out x;
            memset(&x, 0, sizeof(x));
            x.host = (uint16_t)rnd();
            x.nr_regions = rnd8();
            x.returned = (uint8_t)(rnd() % (MHSLD_MBOX_DC_REGIONS + 1));
            for (size_t i = 0; i < x.returned; i++) {
                x.region[i].base = rnd();
                x.region[i].decode_len = rnd();
                x.region[i].len = rnd();
                x.region[i].block_size = rnd();
                x.region[i].flags = rnd8();
                x.region[i].sanitize = (uint8_t)(rnd() & 1u);
            }
            x.limits.total_extents = (uint32_t)rnd();
            x.limits.avail_tags = (uint32_t)rnd();
            ROUND_TRIP(host_region_cfg_out, mhsld_mbox_host_region_cfg_out, x);
        }
        {
            mhsld_mbox_set_region_cfg_in x;
            memset(&x, 0, sizeof(x));
            x.region = rnd8();
            x.block_size = rnd();
            x.flags = (uint8_t)(rnd() & 1u);
            ROUND_TRIP(set_region_cfg_in, mhsld_mbox_set_region_cfg_in, x);
        }
        {
            mhsld_mbox_region_extents_in x;
            memset(&x, 0, sizeof(x));
            x.host = (uint16_t)rnd();
            x.count = (uint32_t)rnd();
            x.start = (uint32_t)rnd();
            ROUND_TRIP(region_extents_in, mhsld_mbox_region_extents_in, x);
        }
        {
            static mhsld_mbox_region_extents_out x;
            memset(&x, 0, sizeof(x));
            x.host = (uint16_t)rnd();
            x.start = (uint32_t)rnd();
            x.returned = (uint32_t)(rnd() % (MHSLD_MBOX_LIST_MAX + 1));
            x.total = (uint32_t)rnd();
            x.generation = (uint32_t)rnd();
            for (size_t i = 0; i < x.returned; i++) {
                rnd_dc_extent(&x.ext[i]);
            }
            ROUND_TRIP(region_extents_out, mhsld_mbox_region_extents_out, x);
        }
        {
            static mhsld_mbox_dc_add_in x;
            memset(&x, 0, sizeof(x));
            x.host = (uint16_t)rnd();
            x.policy = (uint8_t)(rnd() % 4);
            x.region = rnd8();
            x.length = rnd();
            rnd_tag(x.tag);
            x.count = (uint32_t)(rnd() % (MHSLD_MAX_EXTENTS + 1));
            for (size_t i = 0; i < x.count; i++) {
                rnd_dc_extent(&x.ext[i]);
            }
            ROUND_TRIP(dc_add_in, mhsld_mbox_dc_add_in, x);
        }
        {
            static mhsld_mbox_dc_release_in x;
            memset(&x, 0, sizeof(x));
            x.host = (uint16_t)rnd();
            x.flags = (uint8_t)((rnd() % 2) | (rnd() & 0x30));
            x.length = rnd();
            rnd_tag(x.tag);
            x.count = (uint32_t)(rnd() % (MHSLD_MAX_EXTENTS + 1));
            for (size_t i = 0; i < x.count; i++) {
                rnd_dc_extent(&x.ext[i]);
            }
            ROUND_TRIP(dc_release_in, mhsld_mbox_dc_release_in, x);
        }
        {
            mhsld_mbox_dc_tag_ref_in x;
            memset(&x, 0, sizeof(x));
            rnd_tag(x.tag);
            ROUND_TRIP(dc_tag_ref_in, mhsld_mbox_dc_tag_ref_in, x);
        }
        {
            mhsld_mbox_dc_list_tags_in x;
            memset(&x, 0, sizeof(x));
            x.start = (uint32_t)rnd();
            x.count = (uint32_t)rnd();
            ROUND_TRIP(dc_list_tags_in, mhsld_mbox_dc_list_tags_in, x);
        }
        {
            static mhsld_mbox_dc_list_tags_out x;
            memset(&x, 0, sizeof(x));
            x.generation = (uint32_t)rnd();
            x.total = (uint32_t)rnd();
            x.returned = (uint32_t)(rnd() % (MHSLD_MAX_SHARED + 1));
            x.validity = (uint8_t)(rnd() & 3u);
            for (size_t i = 0; i < x.returned; i++) {
                rnd_tag(x.tag[i].tag);
                x.tag[i].flags = (uint8_t)(rnd() & 1u);
                for (size_t k = 0; k < 32; k++) {
                    x.tag[i].ref_bitmap[k] = rnd8();
                    x.tag[i].pending_bitmap[k] = rnd8();
                }
            }
            ROUND_TRIP(dc_list_tags_out, mhsld_mbox_dc_list_tags_out, x);
        }
    }
}

/* ---- decoder error paths --------------------------------------------------------- */

/* Fixed-length inputs: exactly their length, not one byte more or less. */
static void test_fixed_lengths(void)
{
    mhsld_mbox_mhd_info_in a;
    mhsld_mbox_head_info_in b;
    mhsld_mbox_dc_config_in c;
    mhsld_mbox_dc_extents_in d;
    mhsld_mbox_host_region_cfg_in e;
    mhsld_mbox_set_region_cfg_in f;
    mhsld_mbox_region_extents_in g;
    static mhsld_mbox_dcd_info_out h;
    mhsld_mbox_dc_tag_ref_in t;
    mhsld_mbox_dc_list_tags_in l;
    for (size_t len = 0; len < 0x60; len++) {
        uint8_t big[0x60];
        memset(big, 0, sizeof(big));
        CHECK_RC(DECODE(mhd_info_in, big, len, &a), len == 2 ? OK : IPL);
        CHECK_RC(DECODE(head_info_in, big, len, &b), len == 2 ? OK : IPL);
        CHECK_RC(DECODE(dc_config_in, big, len, &c), len == 2 ? OK : IPL);
        CHECK_RC(DECODE(dc_extents_in, big, len, &d), len == 8 ? OK : IPL);
        CHECK_RC(DECODE(host_region_cfg_in, big, len, &e), len == 4 ? OK : IPL);
        CHECK_RC(DECODE(set_region_cfg_in, big, len, &f), len == 16 ? OK : IPL);
        CHECK_RC(DECODE(region_extents_in, big, len, &g), len == 12 ? OK : IPL);
        CHECK_RC(DECODE(dcd_info_out, big, len, &h), len == 0x54 ? OK : IPL);
        CHECK_RC(DECODE(dc_tag_ref_in, big, len, &t), len == 16 ? OK : IPL);
        CHECK_RC(DECODE(dc_list_tags_in, big, len, &l), len == 8 ? OK : IPL);
    }
}

/* Every reserved byte, set alone, is refused; the output is untouched. */
static void test_reserved_fields(void)
{
    /* 5602h: rsvd1 at 1..3, rsvd2 at 13..15; flags bits 7:1 */
    for (size_t off = 0; off < 16; off++) {
        uint8_t in[16];
        memset(in, 0, sizeof(in));
        in[off] = 0x80;
        mhsld_mbox_set_region_cfg_in q;
        memset(&q, 0xA5, sizeof(q));
        int want = (off == 0 || (off >= 4 && off < 12)) ? OK : INV;
        CHECK_RC(DECODE(set_region_cfg_in, in, sizeof(in), &q), want);
        if (want != OK) {
            CHECK(q.region == 0xA5);
        }
    }
    for (uint32_t flags = 0; flags < 256; flags++) {
        uint8_t in[16];
        memset(in, 0, sizeof(in));
        in[12] = (uint8_t)flags;
        mhsld_mbox_set_region_cfg_in q;
        CHECK_RC(DECODE(set_region_cfg_in, in, sizeof(in), &q), flags <= 1 ? OK : INV);
    }
    /* 5603h: rsvd at 2..3 */
    for (size_t off = 2; off < 4; off++) {
        uint8_t in[12];
        memset(in, 0, sizeof(in));
        in[off] = 1;
        mhsld_mbox_region_extents_in q;
        CHECK_RC(DECODE(region_extents_in, in, sizeof(in), &q), INV);
    }
    /* 4802h/4803h: flags bits 7:1, rsvd at 5..7, each extent's rsvd[8] */
    for (uint32_t flags = 0; flags < 256; flags++) {
        uint8_t in[8];
        memset(in, 0, sizeof(in));
        in[4] = (uint8_t)flags;
        static mhsld_mbox_dc_update_in q;
        CHECK_RC(DECODE(dc_update_in, in, sizeof(in), &q), flags <= 1 ? OK : INV);
    }
    for (size_t off = 5; off < 8; off++) {
        uint8_t in[8];
        memset(in, 0, sizeof(in));
        in[off] = 1;
        static mhsld_mbox_dc_update_in q;
        CHECK_RC(DECODE(dc_update_in, in, sizeof(in), &q), INV);
    }
    for (size_t off = 0; off < 2 * 0x18; off++) {
        uint8_t in[8 + 2 * 0x18];
        memset(in, 0, sizeof(in));
        in[0] = 2;
        in[8 + off] = 1;
        static mhsld_mbox_dc_update_in q;
        memset(&q, 0xA5, sizeof(q));
        int want = (off % 0x18) >= 0x10 ? INV : OK;
        CHECK_RC(DECODE(dc_update_in, in, sizeof(in), &q), want);
        if (want != OK) {
            CHECK(q.count == 0xA5A5A5A5u);
        }
    }
    /* 5604h: policy byte 0..3 only (bits 7:4 reserved); extent rsvd[6] */
    for (uint32_t pol = 0; pol < 256; pol++) {
        uint8_t in[0x20];
        memset(in, 0, sizeof(in));
        in[2] = (uint8_t)pol;
        static mhsld_mbox_dc_add_in q;
        CHECK_RC(DECODE(dc_add_in, in, sizeof(in), &q), pol <= 3 ? OK : INV);
    }
    for (size_t off = 0; off < 0x28; off++) {
        uint8_t in[0x20 + 0x28];
        memset(in, 0, sizeof(in));
        in[0x1C] = 1;
        in[0x20 + off] = 1;
        static mhsld_mbox_dc_add_in q;
        CHECK_RC(DECODE(dc_add_in, in, sizeof(in), &q), off >= 0x22 ? INV : OK);
    }
    /* 5605h: flags 3:0 policy (0..1), 4 forced, 5 sanitize, 7:6 reserved;
     * byte 3 reserved; extent rsvd[6] */
    for (uint32_t flags = 0; flags < 256; flags++) {
        uint8_t in[0x20];
        memset(in, 0, sizeof(in));
        in[2] = (uint8_t)flags;
        static mhsld_mbox_dc_release_in q;
        int want = ((flags & 0x0F) <= 1 && (flags & 0xC0) == 0) ? OK : INV;
        CHECK_RC(DECODE(dc_release_in, in, sizeof(in), &q), want);
    }
    {
        uint8_t in[0x20];
        memset(in, 0, sizeof(in));
        in[3] = 1;
        static mhsld_mbox_dc_release_in q;
        CHECK_RC(DECODE(dc_release_in, in, sizeof(in), &q), INV);
    }
    for (size_t off = 0x22; off < 0x28; off++) {
        uint8_t in[0x20 + 0x28];
        memset(in, 0, sizeof(in));
        in[0x1C] = 1;
        in[0x20 + off] = 1;
        static mhsld_mbox_dc_release_in q;
        CHECK_RC(DECODE(dc_release_in, in, sizeof(in), &q), INV);
    }
    /* outputs: reserved bytes of the response headers */
    {
        uint8_t out[8];
        for (size_t off = 0; off < 8; off++) {
            memset(out, 0, sizeof(out));
            out[off] = 1;
            mhsld_mbox_mhd_info_out r;
            int want = (off == 2 || off == 3 || off == 6 || off == 7) ? INV : off == 5 ? IPL : OK;
            CHECK_RC(DECODE(mhd_info_out, out, sizeof(out), &r), want);
        }
    }
    {
        uint8_t out[0x54];
        for (size_t off = 0; off < 0x0C; off++) {
            memset(out, 0, sizeof(out));
            out[off] = 1;
            static mhsld_mbox_dcd_info_out r;
            int want = (off == 2 || off == 3 || off == 6 || off == 7 || off == 0x0B) ? INV : OK;
            CHECK_RC(DECODE(dcd_info_out, out, sizeof(out), &r), want);
        }
    }
}

/* Variable payloads: the count against the length, both ways, and the
 * limits 0 / 1 / max / max+1. */
static void test_variable_counts(void)
{
    static uint8_t buf[0x20 + (MHSLD_MAX_EXTENTS + 2) * 0x28];
    static mhsld_mbox_dc_update_in u;
    static mhsld_mbox_dc_add_in a;
    static mhsld_mbox_dc_release_in r;
    const uint32_t counts[] = {0, 1, 2, MHSLD_MAX_EXTENTS - 1, MHSLD_MAX_EXTENTS,
                               MHSLD_MAX_EXTENTS + 1};
    for (size_t ci = 0; ci < sizeof(counts) / sizeof(counts[0]); ci++) {
        uint32_t n = counts[ci];
        int at_len = n <= MHSLD_MAX_EXTENTS ? OK : REX;

        /* 4802h/4803h: 8 + n * 18h */
        size_t len = 8 + (size_t)n * 0x18;
        memset(buf, 0, sizeof(buf));
        put_le(buf, n, 4);
        CHECK_RC(DECODE(dc_update_in, buf, len, &u), at_len);
        if (at_len == OK) {
            CHECK(u.count == n);
        }
        CHECK_RC(DECODE(dc_update_in, buf, len + 1, &u), IPL);
        if (n > 0) {
            CHECK_RC(DECODE(dc_update_in, buf, len - 1, &u), IPL);
            CHECK_RC(DECODE(dc_update_in, buf, len - 0x18, &u), IPL);
        }
        CHECK_RC(DECODE(dc_update_in, buf, len + 0x18, &u), IPL);

        /* 5604h/5605h: 20h + n * 28h */
        len = 0x20 + (size_t)n * 0x28;
        memset(buf, 0, sizeof(buf));
        put_le(buf + 0x1C, n, 4);
        buf[2] = MHSLD_MBOX_POLICY_PRESCRIPTIVE;
        CHECK_RC(DECODE(dc_add_in, buf, len, &a), at_len);
        CHECK_RC(DECODE(dc_add_in, buf, len + 1, &a), IPL);
        CHECK_RC(DECODE(dc_add_in, buf, len + 0x28, &a), IPL);
        buf[2] = MHSLD_MBOX_REMOVAL_PRESCRIPTIVE;
        CHECK_RC(DECODE(dc_release_in, buf, len, &r), at_len);
        CHECK_RC(DECODE(dc_release_in, buf, len + 1, &r), IPL);
        if (n > 0) {
            CHECK_RC(DECODE(dc_add_in, buf, len - 1, &a), IPL);
            CHECK_RC(DECODE(dc_release_in, buf, len - 1, &r), IPL);
            CHECK_RC(DECODE(dc_release_in, buf, len - 0x28, &r), IPL);
        }
    }
    /* Headers cut short, and counts far beyond the payload (no overflow). */
    memset(buf, 0xFF, sizeof(buf));
    for (size_t len = 0; len < 8; len++) {
        CHECK_RC(DECODE(dc_update_in, buf, len, &u), IPL);
    }
    for (size_t len = 0; len < 0x20; len++) {
        CHECK_RC(DECODE(dc_add_in, buf, len, &a), IPL);
        CHECK_RC(DECODE(dc_release_in, buf, len, &r), IPL);
    }
    CHECK_RC(DECODE(dc_update_in, buf, 8, &u), IPL);  /* count FFFFFFFFh, no records */
    CHECK_RC(DECODE(dc_update_in, buf, 32, &u), IPL); /* count FFFFFFFFh, 1 record */
    CHECK_RC(DECODE(dc_add_in, buf, 0x48, &a), IPL);
    /* Output lists: returned vs length. */
    {
        static mhsld_mbox_dc_extents_out x;
        memset(buf, 0, sizeof(buf));
        put_le(buf, 2, 4);
        CHECK_RC(DECODE(dc_extents_out, buf, 0x10 + 2 * 0x28, &x), OK);
        CHECK_RC(DECODE(dc_extents_out, buf, 0x10 + 2 * 0x28 - 1, &x), IPL);
        CHECK_RC(DECODE(dc_extents_out, buf, 0x10 + 2 * 0x28 + 1, &x), IPL);
        CHECK_RC(DECODE(dc_extents_out, buf, 0x0F, &x), IPL);
        put_le(buf, MHSLD_MBOX_LIST_MAX + 1, 4);
        CHECK_RC(DECODE(dc_extents_out, buf, 0x10 + (MHSLD_MBOX_LIST_MAX + 1) * 0x28, &x), INV);
    }
    {
        mhsld_mbox_dc_config_out x;
        memset(buf, 0, sizeof(buf));
        buf[1] = 9; /* more regions than a device has */
        CHECK_RC(DECODE(dc_config_out, buf, 8 + 9 * 0x28 + 0x10, &x), INV);
        buf[1] = 1;
        CHECK_RC(DECODE(dc_config_out, buf, 8 + 0x28 + 0x10, &x), OK);
        CHECK_RC(DECODE(dc_config_out, buf, 8 + 0x28 + 0x0F, &x), IPL);
        CHECK_RC(DECODE(dc_config_out, buf, 8 + 0x28 + 0x11, &x), IPL);
        buf[8 + 0x24] = 2; /* region flags bit 1: reserved */
        CHECK_RC(DECODE(dc_config_out, buf, 8 + 0x28 + 0x10, &x), INV);
    }
    {
        static mhsld_mbox_head_info_out x;
        memset(buf, 0, sizeof(buf));
        buf[0] = 3;
        CHECK_RC(DECODE(head_info_out, buf, 4 + 27, &x), OK);
        CHECK_RC(DECODE(head_info_out, buf, 4 + 26, &x), IPL);
        CHECK_RC(DECODE(head_info_out, buf, 4 + 28, &x), IPL);
    }
}

/* Encoders: a buffer one byte short is refused and left untouched; structs
 * that cannot be encoded are refused. */
static void test_encoders(void)
{
    static uint8_t buf[8192];
    size_t n = 7;
    static mhsld_mbox_dc_add_in a;
    memset(&a, 0, sizeof(a));
    a.policy = MHSLD_MBOX_POLICY_PRESCRIPTIVE;
    a.count = 3;
    CHECK_RC(mhsld_mbox_dc_add_in_encode(&a, buf, sizeof(buf), &n), OK);
    CHECK(n == 0x20 + 3 * 0x28);
    memset(buf, 0xEE, sizeof(buf));
    CHECK_RC(mhsld_mbox_dc_add_in_encode(&a, buf, 0x20 + 3 * 0x28 - 1, &n), INT);
    CHECK(n == 0 && buf[0] == 0xEE && buf[0x20 + 3 * 0x28 - 2] == 0xEE);
    a.count = MHSLD_MAX_EXTENTS + 1;
    CHECK_RC(mhsld_mbox_dc_add_in_encode(&a, buf, sizeof(buf), &n), INV);
    a.count = 0;
    a.policy = 4;
    CHECK_RC(mhsld_mbox_dc_add_in_encode(&a, buf, sizeof(buf), &n), INV);

    static mhsld_mbox_dc_release_in r;
    memset(&r, 0, sizeof(r));
    r.flags = 0x40;
    CHECK_RC(mhsld_mbox_dc_release_in_encode(&r, buf, sizeof(buf), &n), INV);
    r.flags = 0x02;
    CHECK_RC(mhsld_mbox_dc_release_in_encode(&r, buf, sizeof(buf), &n), INV);
    r.flags = 0x31;
    CHECK_RC(mhsld_mbox_dc_release_in_encode(&r, buf, sizeof(buf), &n), OK);

    static mhsld_mbox_dc_update_in u;
    memset(&u, 0, sizeof(u));
    u.flags = 2;
    CHECK_RC(mhsld_mbox_dc_update_in_encode(&u, buf, sizeof(buf), &n), INV);
    u.flags = 0;
    u.count = MHSLD_MAX_EXTENTS;
    CHECK_RC(mhsld_mbox_dc_update_in_encode(&u, buf, sizeof(buf), &n), OK);
    CHECK(n == 8 + MHSLD_MAX_EXTENTS * 0x18);
    CHECK_RC(mhsld_mbox_dc_update_in_encode(&u, buf, n - 1, &n), INT);

    mhsld_mbox_set_region_cfg_in s;
    memset(&s, 0, sizeof(s));
    s.flags = 2;
    CHECK_RC(mhsld_mbox_set_region_cfg_in_encode(&s, buf, sizeof(buf), &n), INV);

    mhsld_mbox_dc_config_out c;
    memset(&c, 0, sizeof(c));
    c.returned = MHSLD_MBOX_DC_REGIONS + 1;
    CHECK_RC(mhsld_mbox_dc_config_out_encode(&c, buf, sizeof(buf), &n), INV);
    c.returned = 1;
    c.region[0].flags = 0x80;
    CHECK_RC(mhsld_mbox_dc_config_out_encode(&c, buf, sizeof(buf), &n), INV);

    static mhsld_mbox_dc_extents_out x;
    memset(&x, 0, sizeof(x));
    x.returned = MHSLD_MBOX_LIST_MAX + 1;
    CHECK_RC(mhsld_mbox_dc_extents_out_encode(&x, buf, sizeof(buf), &n), INV);

    mhsld_mbox_mhd_info_in m = {1, 2};
    CHECK_RC(mhsld_mbox_mhd_info_in_encode(&m, buf, 1, &n), INT);
    CHECK_RC(mhsld_mbox_mhd_info_in_encode(&m, NULL, 0, &n), INT);
    CHECK_RC(mhsld_mbox_mhd_info_in_encode(&m, buf, 2, NULL), INT);
    CHECK_RC(mhsld_mbox_mhd_info_in_encode(NULL, buf, 2, &n), INT);
    CHECK_RC(mhsld_mbox_mhd_info_in_decode(NULL, 2, &m), INT);
    CHECK_RC(mhsld_mbox_mhd_info_in_decode(buf, 2, NULL), INT);
}

int main(void)
{
    test_le_helpers();
    test_rc_names();
    test_command_table();
    test_command_table_sizes();
    test_descriptor_tables();
    test_golden_mhd_info();
    test_golden_head_info();
    test_golden_dc_config();
    test_golden_dc_extents();
    test_golden_dc_update();
    test_golden_dcd_info();
    test_golden_host_region_cfg();
    test_golden_set_region_cfg();
    test_golden_region_extents();
    test_golden_dc_add();
    test_golden_dc_release();
    test_golden_tag_ref();
    test_golden_list_tags();
    test_round_trips();
    test_fixed_lengths();
    test_reserved_fields();
    test_variable_counts();
    test_encoders();
    if (failures) {
        fprintf(stderr, "test_mailbox_codec: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_mailbox_codec: all passed\n");
    return 0;
}
