/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_mailbox: CXL mailbox payloads through the codec and the dispatcher.
 *
 * Each input is a small device set-up followed by up to 8 commands:
 *
 *   setup  u8   bit 0: head 0 is the host mailbox's head (ctx->self);
 *               bit 1: head 1 is attached (FM API target); bits 2..4: what
 *               the state holds first (an owned extent, a pending
 *               reservation, a shared extent of head 0); bits 5 and 7: the
 *               response buffer (2 KiB, 24, 8 or 0 bytes); bit 6: the caller
 *               provides mhsld_mbox_accum (split 4802h responses)
 *   then per command:
 *          u8   opcode: 0..14 one of the fifteen commands, otherwise a raw
 *               16-bit opcode follows
 *          u16  payload length (modulo what is left)
 *          ...  payload
 *
 * Properties checked, besides the absence of crashes, leaks and
 * out-of-bounds accesses (the payload and the response buffer are heap
 * blocks of exactly their sizes):
 *   - every codec's decoder is run on every payload; what decodes must
 *     encode back to exactly the same bytes (decode -> encode -> decode);
 *   - a command that fails writes no response (out_len 0) and changes
 *     nothing: every block's state (with its generation) and every head's
 *     counters are compared before and after;
 *   - a query (5500h, 5501h, 4800h, 4801h, 5600h, 5601h, 5603h, 5608h)
 *     changes nothing even when it succeeds;
 *   - a successful response decodes with the command's output decoder and
 *     re-encodes to the same bytes; it never exceeds the buffer, and its
 *     length is within the command table's out_min..out_max;
 *   - a response buffer below the table's out_min is refused (Internal
 *     Error) whatever the request; the table's effects are 0 exactly for
 *     the queries;
 *   - events passed to the notify hook are readable in full;
 *   - mhsld_validate() holds after every command.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_compare.h"
#include "fuzz_data_producer.h"
#include "fuzz_helpers.h"
#include "fuzz_statefile.h"
#include "mhsld/mailbox.h"
#include "mhsld/mhsld.h"

#define MAX_CMDS 8u

/* ---- codec round trips --------------------------------------------------- */

typedef int (*rt_fn)(const uint8_t *buf, size_t len, bool must_decode);

/* decode(buf) -> x; encode(x) -> buf2 == buf; decode(buf2) -> y;
 * encode(y) == buf2.  Returns the decoder's code. */
#define DEFINE_RT(name, type)                                                                      \
    static int rt_##name(const uint8_t *buf, size_t len, bool must_decode)                         \
    {                                                                                              \
        type *x = calloc(1, sizeof *x), *y = calloc(1, sizeof *y);                                 \
        FUZZ_ASSERT(x &&y);                                                                        \
        int rc = mhsld_mbox_##name##_decode(buf, len, x);                                          \
        FUZZ_ASSERT_MSG(!must_decode || rc == MHSLD_CXL_SUCCESS,                                   \
                        #name ": the dispatcher's response does not decode: %s (%zu bytes)",       \
                        mhsld_cxl_rc_name(rc), len);                                               \
        if (rc == MHSLD_CXL_SUCCESS) {                                                             \
            size_t cap = len + 64, n1 = 0, n2 = 0;                                                 \
            uint8_t *b1 = malloc(cap), *b2 = malloc(cap);                                          \
            FUZZ_ASSERT(b1 &&b2);                                                                  \
            int e1 = mhsld_mbox_##name##_encode(x, b1, cap, &n1);                                  \
            FUZZ_ASSERT_MSG(e1 == MHSLD_CXL_SUCCESS, #name ": decoded value does not encode: %s",  \
                            mhsld_cxl_rc_name(e1));                                                \
            FUZZ_ASSERT_MSG(n1 == len && memcmp(b1, buf, len) == 0,                                \
                            #name ": encode(decode(p)) differs from p (%zu vs %zu bytes)", n1,     \
                            len);                                                                  \
            FUZZ_ASSERT(mhsld_mbox_##name##_decode(b1, n1, y) == MHSLD_CXL_SUCCESS);               \
            FUZZ_ASSERT(mhsld_mbox_##name##_encode(y, b2, cap, &n2) == MHSLD_CXL_SUCCESS);         \
            FUZZ_ASSERT_MSG(n2 == n1 && memcmp(b1, b2, n1) == 0, #name ": second round trip");     \
            /* Too small a buffer: refused, nothing claimed written. */                            \
            if (n1 > 0) {                                                                          \
                size_t n3 = 12345;                                                                 \
                int e3 = mhsld_mbox_##name##_encode(x, b2, n1 - 1, &n3);                           \
                FUZZ_ASSERT_MSG(e3 != MHSLD_CXL_SUCCESS, #name ": encode into %zu of %zu bytes",   \
                                n1 - 1, n1);                                                       \
            }                                                                                      \
            free(b1);                                                                              \
            free(b2);                                                                              \
        }                                                                                          \
        free(x);                                                                                   \
        free(y);                                                                                   \
        return rc;                                                                                 \
    }

DEFINE_RT(mhd_info_in, mhsld_mbox_mhd_info_in)
DEFINE_RT(mhd_info_out, mhsld_mbox_mhd_info_out)
DEFINE_RT(head_info_in, mhsld_mbox_head_info_in)
DEFINE_RT(head_info_out, mhsld_mbox_head_info_out)
DEFINE_RT(dc_config_in, mhsld_mbox_dc_config_in)
DEFINE_RT(dc_config_out, mhsld_mbox_dc_config_out)
DEFINE_RT(dc_extents_in, mhsld_mbox_dc_extents_in)
DEFINE_RT(dc_extents_out, mhsld_mbox_dc_extents_out)
DEFINE_RT(dc_update_in, mhsld_mbox_dc_update_in)
DEFINE_RT(dcd_info_out, mhsld_mbox_dcd_info_out)
DEFINE_RT(host_region_cfg_in, mhsld_mbox_host_region_cfg_in)
DEFINE_RT(host_region_cfg_out, mhsld_mbox_host_region_cfg_out)
DEFINE_RT(set_region_cfg_in, mhsld_mbox_set_region_cfg_in)
DEFINE_RT(region_extents_in, mhsld_mbox_region_extents_in)
DEFINE_RT(region_extents_out, mhsld_mbox_region_extents_out)
DEFINE_RT(dc_add_in, mhsld_mbox_dc_add_in)
DEFINE_RT(dc_release_in, mhsld_mbox_dc_release_in)
DEFINE_RT(dc_tag_ref_in, mhsld_mbox_dc_tag_ref_in)
DEFINE_RT(dc_list_tags_in, mhsld_mbox_dc_list_tags_in)
DEFINE_RT(dc_list_tags_out, mhsld_mbox_dc_list_tags_out)

static const rt_fn all_rt[] = {
    rt_mhd_info_in,       rt_mhd_info_out,      rt_head_info_in,       rt_head_info_out,
    rt_dc_config_in,      rt_dc_config_out,     rt_dc_extents_in,      rt_dc_extents_out,
    rt_dc_update_in,      rt_dcd_info_out,      rt_host_region_cfg_in, rt_host_region_cfg_out,
    rt_set_region_cfg_in, rt_region_extents_in, rt_region_extents_out, rt_dc_add_in,
    rt_dc_release_in,     rt_dc_tag_ref_in,     rt_dc_list_tags_in,    rt_dc_list_tags_out};

typedef struct cmd_desc {
    uint16_t opcode;
    rt_fn in;   /* input decoder, or NULL (no input) */
    rt_fn out;  /* output decoder, or NULL (no output) */
    bool query; /* changes nothing even on success */
} cmd_desc;

#define NR_CMDS 15u
static const cmd_desc cmds[NR_CMDS] = {
    {MHSLD_MBOX_OP_GET_MHD_INFO, rt_mhd_info_in, rt_mhd_info_out, true},
    {MHSLD_MBOX_OP_GET_HEAD_INFO, rt_head_info_in, rt_head_info_out, true},
    {MHSLD_MBOX_OP_GET_DC_CONFIG, rt_dc_config_in, rt_dc_config_out, true},
    {MHSLD_MBOX_OP_GET_DC_EXTENT_LIST, rt_dc_extents_in, rt_dc_extents_out, true},
    {MHSLD_MBOX_OP_ADD_DC_RESPONSE, rt_dc_update_in, NULL, false},
    {MHSLD_MBOX_OP_RELEASE_DC, rt_dc_update_in, NULL, false},
    {MHSLD_MBOX_OP_GET_DCD_INFO, NULL, rt_dcd_info_out, true},
    {MHSLD_MBOX_OP_GET_HOST_DC_REGION_CONFIG, rt_host_region_cfg_in, rt_host_region_cfg_out, true},
    {MHSLD_MBOX_OP_SET_DC_REGION_CONFIG, rt_set_region_cfg_in, NULL, false},
    {MHSLD_MBOX_OP_GET_DC_REGION_EXTENTS, rt_region_extents_in, rt_region_extents_out, true},
    {MHSLD_MBOX_OP_INITIATE_DC_ADD, rt_dc_add_in, NULL, false},
    {MHSLD_MBOX_OP_INITIATE_DC_RELEASE, rt_dc_release_in, NULL, false},
    {MHSLD_MBOX_OP_DC_ADD_REFERENCE, rt_dc_tag_ref_in, NULL, false},
    {MHSLD_MBOX_OP_DC_REMOVE_REFERENCE, rt_dc_tag_ref_in, NULL, false},
    {MHSLD_MBOX_OP_DC_LIST_TAGS, rt_dc_list_tags_in, rt_dc_list_tags_out, true},
};

/* ---- the device ---------------------------------------------------------- */

static unsigned events_seen;

static void notify(void *opaque, const mhsld_mbox_event *ev)
{
    (void)opaque;
    FUZZ_ASSERT(ev != NULL);
    FUZZ_ASSERT_MSG(ev->type >= MHSLD_MBOX_EV_ADD && ev->type <= MHSLD_MBOX_EV_FORCED_RELEASE,
                    "event type %u", ev->type);
    FUZZ_ASSERT(ev->n <= MHSLD_MAX_EXTENTS);
    FUZZ_ASSERT(ev->n == 0 || ev->ext != NULL);
    uint64_t sum = 0;
    for (size_t i = 0; i < ev->n; i++) /* read every byte: ASan checks the pointer */
        sum += ev->ext[i].dpa + ev->ext[i].len + ev->ext[i].tag[15] + ev->ext[i].shared_seq;
    (void)sum;
    events_seen++;
}

static void geometry(mhsld_geometry *g)
{
    const uint64_t bs = 2ull << 20;
    mhsld_geometry_init(g, 2, bs, 4 * bs, 8 * bs);
    g->nr_regions = 2;
    g->regions[1].base = 16 * bs;
    g->regions[1].len = 4 * bs;
    g->regions[1].flags = MHSLD_REGION_SHARABLE;
    g->regions[1].dsmad_handle = 1;
    g->nr_lds = 3; /* LD 2 unassigned */
}

static void prepare(mhsld_head *h0, uint32_t what, uint64_t bs)
{
    if (!h0)
        return;
    uint64_t group = 0;
    if (what & 1u) { /* an owned extent: blocks 4..5 of the first region */
        mhsld_extent x = {4 * bs, 2 * bs};
        if (mhsld_reserve(h0, &x, 1, &group, NULL) == MHSLD_OK)
            FUZZ_ASSERT(mhsld_commit(h0, group, &x, 1) == MHSLD_OK);
    }
    if (what & 2u) { /* a pending reservation: blocks 6..7 and 9 */
        mhsld_extent x[2] = {{6 * bs, 2 * bs}, {9 * bs, bs}};
        FUZZ_ASSERT(mhsld_reserve(h0, x, 2, &group, NULL) == MHSLD_OK);
    }
    if (what & 4u) { /* a shared extent (Shared Extent Sequence 7) */
        mhsld_extent x = {16 * bs, 2 * bs};
        uint8_t tag[MHSLD_TAG_SIZE] = {0x11, 0x22, 0x33};
        FUZZ_ASSERT(mhsld_share_add_seq(h0, &x, tag, 7, NULL) == MHSLD_OK);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_dp dp;
    fuzz_dp_init(&dp, data, size);
    fuzz_trace_reset();
    events_seen = 0;
    uint32_t setup = fuzz_dp_u8(&dp);

    mhsld_geometry g;
    geometry(&g);
    fuzz_statefile sf;
    fuzz_statefile_create(&sf, NULL, 0);
    mhsld_state *st = NULL;
    mhsld_status rc = fuzz_state_open(&sf, MHSLD_OPEN_CREATE, &g, &st);
    FUZZ_ASSERT_MSG(rc == MHSLD_OK, "create: %s", mhsld_status_name(rc));
    mhsld_head *h0 = NULL, *h1 = NULL;
    FUZZ_ASSERT(mhsld_attach(st, 0, MHSLD_ATTACH_DROP, &h0) == MHSLD_OK);
    if (setup & 2u)
        FUZZ_ASSERT(mhsld_attach(st, 1, MHSLD_ATTACH_DROP, &h1) == MHSLD_OK);
    prepare(h0, (setup >> 2) & 7u, g.block_size);

    mhsld_mbox_ctx ctx;
    mhsld_mbox_ctx_init(&ctx, st, (setup & 1u) ? h0 : NULL);
    ctx.heads[0] = h0;
    ctx.heads[1] = h1;
    ctx.notify = notify;
    ctx.notify_opaque = NULL;
    mhsld_mbox_accum *accum = NULL;
    if (setup & 0x40u) {
        accum = calloc(1, sizeof *accum);
        FUZZ_ASSERT(accum);
        ctx.accum = accum;
    }
    static const size_t caps[4] = {MHSLD_MBOX_PAYLOAD_MAX, 24u, 8u, 0u};
    size_t out_cap = caps[((setup >> 5) & 1u) | ((setup >> 6) & 2u)];
    fuzz_trace("setup %#x: self %s, head 1 %s, state %u, out_cap %zu", setup,
               (setup & 1u) ? "head 0" : "none", h1 ? "attached" : "absent", (setup >> 2) & 7u,
               out_cap);

    fuzz_snapshot *before = malloc(sizeof *before), *after = malloc(sizeof *after);
    FUZZ_ASSERT(before && after);
    uint64_t nblocks = mhsld_block_count(st);
    for (unsigned c = 0; c < MAX_CMDS && !fuzz_dp_empty(&dp); c++) {
        uint32_t sel = fuzz_dp_u8(&dp);
        const cmd_desc *cd = sel < NR_CMDS ? &cmds[sel] : NULL;
        uint16_t opcode = cd ? cd->opcode : fuzz_dp_u16(&dp);
        if (!cd)
            for (unsigned i = 0; i < NR_CMDS; i++)
                if (cmds[i].opcode == opcode)
                    cd = &cmds[i];
        size_t len = fuzz_dp_u16(&dp);
        if (len > fuzz_dp_remaining(&dp))
            len = fuzz_dp_remaining(&dp);
        uint8_t *in = malloc(len ? len : 1);
        FUZZ_ASSERT(in);
        fuzz_dp_bytes(&dp, in, len);
        /* Every decoder sees every payload. */
        for (size_t k = 0; k < sizeof all_rt / sizeof all_rt[0]; k++)
            (void)all_rt[k](in, len, false);

        fuzz_snapshot_take(st, (uint32_t)nblocks, g.nr_heads, before);
        uint8_t *out = out_cap ? malloc(out_cap) : NULL;
        FUZZ_ASSERT(out || !out_cap);
        size_t out_len = 99999;
        int xrc = mhsld_mbox_execute(&ctx, opcode, len ? in : NULL, len, out, out_cap, &out_len);
        fuzz_trace("#%u opcode %#06x (%zu bytes) -> %s, %zu bytes out", c, opcode, len,
                   mhsld_cxl_rc_name(xrc), out_len);
        fuzz_snapshot_take(st, (uint32_t)nblocks, g.nr_heads, after);
        char why[512];
        /* The command table: a response buffer below out_min is refused
         * whatever the request; a query is what has no effects. */
        const mhsld_mbox_cmd_info *ci = mhsld_mbox_command(opcode);
        FUZZ_ASSERT((ci != NULL) == (cd != NULL));
        if (ci && out_cap < ci->out_min && (ci->in_len == MHSLD_MBOX_VARIABLE || len == ci->in_len))
            FUZZ_ASSERT_MSG(xrc == MHSLD_CXL_INTERNAL_ERROR,
                            "%#x with %zu-byte buffer (out_min %zu) answered %s", opcode, out_cap,
                            ci->out_min, mhsld_cxl_rc_name(xrc));
        if (ci)
            FUZZ_ASSERT_MSG(cd->query == (ci->effects == 0), "%#x: effects %#x", opcode,
                            ci->effects);
        if (xrc != MHSLD_CXL_SUCCESS) {
            FUZZ_ASSERT_MSG(out_len == 0, "failed command %#x reports %zu response bytes", opcode,
                            out_len);
            FUZZ_ASSERT_MSG(fuzz_snapshot_equal(before, after, true, why, sizeof why),
                            "failed command %#x (%s) changed the state: %s", opcode,
                            mhsld_cxl_rc_name(xrc), why);
            FUZZ_ASSERT_MSG(cd || xrc == MHSLD_CXL_UNSUPPORTED, "unknown opcode %#x answered %s",
                            opcode, mhsld_cxl_rc_name(xrc));
        } else {
            FUZZ_ASSERT_MSG(cd != NULL, "unknown opcode %#x succeeded", opcode);
            FUZZ_ASSERT(out_len <= out_cap);
            FUZZ_ASSERT_MSG(out_len >= ci->out_min && out_len <= ci->out_max,
                            "%#x answered %zu bytes, table says %zu..%zu", opcode, out_len,
                            ci->out_min, ci->out_max);
            if (cd->query)
                FUZZ_ASSERT_MSG(fuzz_snapshot_equal(before, after, true, why, sizeof why),
                                "query %#x changed the state: %s", opcode, why);
            if (cd->in)
                FUZZ_ASSERT_MSG(cd->in(in, len, true) == MHSLD_CXL_SUCCESS,
                                "command %#x succeeded on input its decoder refuses", opcode);
            else
                FUZZ_ASSERT_MSG(len == 0, "command %#x takes no input", opcode);
            if (cd->out)
                (void)cd->out(out, out_len, true);
            else
                FUZZ_ASSERT_MSG(out_len == 0, "command %#x has no output, wrote %zu", opcode,
                                out_len);
        }
        rc = mhsld_validate(st, why, sizeof why);
        FUZZ_ASSERT_MSG(rc == MHSLD_OK, "after command %#x: validate: %s: %s", opcode,
                        mhsld_status_name(rc), why);
        free(out);
        free(in);
    }
    /* The table is consistent with itself. */
    for (size_t i = 0; i < mhsld_mbox_command_count(); i++) {
        const mhsld_mbox_cmd_info *ci = mhsld_mbox_command_at(i);
        FUZZ_ASSERT(ci && ci->name && mhsld_mbox_command(ci->opcode) == ci);
    }
    FUZZ_ASSERT(mhsld_mbox_command_at(mhsld_mbox_command_count()) == NULL);
    /* Return-code mapping: success only for success, a name for everything. */
    for (int e = -1; e <= (int)MHSLD_E__COUNT; e++) {
        int x = mhsld_mbox_rc_from_status((mhsld_status)e);
        FUZZ_ASSERT_MSG((e == MHSLD_OK) == (x == MHSLD_CXL_SUCCESS), "status %d maps to %#x", e, x);
        FUZZ_ASSERT(mhsld_cxl_rc_name(x) != NULL);
    }
    FUZZ_ASSERT(mhsld_cxl_rc_name(-1) != NULL && mhsld_cxl_rc_name(0x7fff) != NULL);
    /* A context that does not describe this device is refused, unchanged. */
    {
        uint8_t q[2] = {0, 8}, o[64];
        size_t olen = 7;
        mhsld_mbox_ctx bad = ctx;
        fuzz_snapshot_take(st, (uint32_t)nblocks, g.nr_heads, before);
        FUZZ_ASSERT(mhsld_mbox_execute(NULL, MHSLD_MBOX_OP_GET_MHD_INFO, q, 2, o, 64, &olen) ==
                        MHSLD_CXL_INTERNAL_ERROR &&
                    olen == 0);
        FUZZ_ASSERT(mhsld_mbox_execute(&ctx, MHSLD_MBOX_OP_GET_MHD_INFO, q, 2, o, 64, NULL) ==
                    MHSLD_CXL_INTERNAL_ERROR);
        FUZZ_ASSERT(mhsld_mbox_execute(&ctx, MHSLD_MBOX_OP_GET_MHD_INFO, NULL, 2, o, 64, &olen) ==
                    MHSLD_CXL_INTERNAL_ERROR);
        FUZZ_ASSERT(mhsld_mbox_execute(&ctx, MHSLD_MBOX_OP_GET_MHD_INFO, q, 2, NULL, 64, &olen) ==
                    MHSLD_CXL_INTERNAL_ERROR);
        bad.size = 4;
        FUZZ_ASSERT(mhsld_mbox_execute(&bad, MHSLD_MBOX_OP_GET_MHD_INFO, q, 2, o, 64, &olen) ==
                    MHSLD_CXL_INTERNAL_ERROR);
        bad = ctx;
        bad.st = NULL;
        FUZZ_ASSERT(mhsld_mbox_execute(&bad, MHSLD_MBOX_OP_GET_MHD_INFO, q, 2, o, 64, &olen) ==
                    MHSLD_CXL_INTERNAL_ERROR);
        bad = ctx;
        bad.heads[1] = h0; /* head 0's handle in head 1's place */
        uint8_t rel[8] = {0};
        FUZZ_ASSERT(mhsld_mbox_execute(&bad, MHSLD_MBOX_OP_RELEASE_DC, rel, 8, o, 64, &olen) ==
                    MHSLD_CXL_INTERNAL_ERROR);
        /* An older caller's smaller context gets the defaults for the rest. */
        bad = ctx;
        bad.size = (uint32_t)offsetof(mhsld_mbox_ctx, link);
        int r = mhsld_mbox_execute(&bad, MHSLD_MBOX_OP_GET_MHD_INFO, q, 2, o, 64, &olen);
        FUZZ_ASSERT_MSG(r == MHSLD_CXL_SUCCESS, "5500h with a minimal context: %s",
                        mhsld_cxl_rc_name(r));
        fuzz_snapshot_take(st, (uint32_t)nblocks, g.nr_heads, after);
        char why[512];
        FUZZ_ASSERT_MSG(fuzz_snapshot_equal(before, after, true, why, sizeof why),
                        "refused contexts changed the state: %s", why);
    }
    free(accum);
    free(before);
    free(after);
    if (getenv("MHSLD_FUZZ_VERBOSE")) /* show what the input did */
        fuzz_trace_dump();
    mhsld_detach(h1);
    mhsld_detach(h0);
    mhsld_close(st);
    fuzz_statefile_destroy(&sf);
    return 0;
}
