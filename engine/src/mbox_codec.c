/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Mailbox codec: CXL payload bytes <-> trusted structs.  Pure functions.
 *
 * Every payload is described once, as data: a message is a header record,
 * optionally a list of element records whose number is a count field of the
 * header, and optionally a trailer record; a record is a list of fields,
 * each with its offset in the wire record (offsetof() of the mhsld_wire_
 * struct of mailbox.h), its width, its offset in the decoded struct and its
 * validation (reserved bytes must be zero, bits that must be zero, an
 * enumerated value that must be one of a set).  One decoder and one encoder
 * walk these descriptors; the public per-command functions are one-line
 * wrappers.
 *
 * How the decoder reads untrusted bytes:
 *   1. the length is compared with the header (and trailer) size before any
 *      field is read (a fixed-layout payload must be exactly that long);
 *   2. the count is compared with what the received length can hold (by
 *      division, so nothing can overflow), the length must then be exactly
 *      header + count * element + trailer, and the count must fit the
 *      decoded struct's array (else the message's own return code);
 *   3. every field of every record is validated before the output struct is
 *      written at all; then the struct is zeroed (padding too: decoded
 *      structs compare with memcmp) and filled.
 * The encoder applies the same validations to the struct, so what it writes
 * always decodes back to the same struct, and writes reserved bytes as zero.
 * Fields are read and written with mhsld_ld*()/mhsld_st*(); no buffer is
 * ever cast to a struct.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "mbox_internal.h"
#include "mhsld/mailbox.h"

/* ---- descriptors ------------------------------------------------------------ */

enum field_kind {
    F_NUM,  /* little-endian unsigned integer(s) of 1, 2, 4 or 8 bytes */
    F_RAW,  /* bytes copied as they are (tags) */
    F_RSVD, /* reserved: zero on the wire, absent from the struct */
};

typedef struct field {
    uint16_t wire;      /* offset in the wire record */
    uint16_t mem;       /* offset in the decoded struct (F_NUM, F_RAW) */
    uint16_t size;      /* F_NUM: width of one value; else bytes */
    uint8_t kind;       /* enum field_kind */
    uint8_t reps;       /* F_NUM: consecutive values (an array); else 1 */
    uint64_t mbz;       /* F_NUM: bits that must be zero (reserved bits) */
    uint64_t enum_bits; /* F_NUM: low bits holding an enumerated value; 0: none */
    uint64_t enum_set;  /* bit v set: value v of enum_bits is defined */
} field;

typedef struct layout {
    size_t size; /* wire bytes; 0: no such record */
    const field *f;
    size_t nf;
} layout;

typedef struct message {
    size_t mem_size; /* sizeof the decoded struct */
    layout hdr;
    /* The list (elem.size 0: none).  Its count is a header field of
     * count_size bytes that is not in hdr.f; the struct holds it at
     * count_mem and the elements at elem_mem, elem_stride apart, at most
     * max of them. */
    size_t count_wire, count_mem, count_size;
    layout elem;
    size_t elem_mem, elem_stride;
    uint32_t max;
    int over_max_rc; /* decode's answer to a count above max */
    layout tail;
    size_t tail_mem;
} message;

#define MEMBER(T, m) (((T *)0)->m)
/* 0, or a compile error if the two members differ in size. */
#define SAME_SIZE(W, wf, M, mf)                                                                    \
    (0 * sizeof(char[sizeof(MEMBER(W, wf)) == sizeof(MEMBER(M, mf)) ? 1 : -1]))
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Wire field wf of W <-> struct member mf of M, n values (same total size). */
#define NUMS_(W, wf, M, mf, n, zero, ebits, eset)                                                  \
    {                                                                                              \
        .wire = offsetof(W, wf), .mem = offsetof(M, mf),                                           \
        .size = sizeof(MEMBER(W, wf)) / (n) + SAME_SIZE(W, wf, M, mf), .kind = F_NUM, .reps = (n), \
        .mbz = (zero), .enum_bits = (ebits), .enum_set = (eset)                                    \
    }
#define NUM(W, wf, M, mf) NUMS_(W, wf, M, mf, 1, 0, 0, 0)
#define NUMS(W, wf, M, mf, n) NUMS_(W, wf, M, mf, n, 0, 0, 0)
/* Only the bits of `known` may be set. */
#define FLAGS(W, wf, M, mf, known) NUMS_(W, wf, M, mf, 1, ~(uint64_t)(known), 0, 0)
/* Only the bits of `known` may be set, and (value & ebits) is in eset. */
#define ENUM(W, wf, M, mf, known, ebits, eset)                                                     \
    NUMS_(W, wf, M, mf, 1, ~(uint64_t)(known), ebits, eset)
#define RAW(W, wf, M, mf)                                                                          \
    {                                                                                              \
        .wire = offsetof(W, wf), .mem = offsetof(M, mf),                                           \
        .size = sizeof(MEMBER(W, wf)) + SAME_SIZE(W, wf, M, mf), .kind = F_RAW, .reps = 1          \
    }
#define RSVD(W, wf)                                                                                \
    {                                                                                              \
        .wire = offsetof(W, wf), .size = sizeof(MEMBER(W, wf)), .kind = F_RSVD, .reps = 1          \
    }
#define LAYOUT(W, fields)                                                                          \
    {                                                                                              \
        sizeof(W), fields, NELEM(fields)                                                           \
    }
#define FIXED(M, W, hdrf)                                                                          \
    {                                                                                              \
        .mem_size = sizeof(M), .hdr = LAYOUT(W, hdrf)                                              \
    }
/* A header W with list count wcnt (struct member mcnt), elements EW
 * described by elemf decoded into M's array arr. */
#define LIST(M, W, hdrf, wcnt, mcnt, EW, elemf, arr, over)                                         \
    .mem_size = sizeof(M), .hdr = LAYOUT(W, hdrf), .count_wire = offsetof(W, wcnt),                \
    .count_mem = offsetof(M, mcnt),                                                                \
    .count_size = sizeof(MEMBER(W, wcnt)) + SAME_SIZE(W, wcnt, M, mcnt),                           \
    .elem = LAYOUT(EW, elemf), .elem_mem = offsetof(M, arr),                                       \
    .elem_stride = sizeof(MEMBER(M, arr)[0]), .max = NELEM(MEMBER(M, arr)), .over_max_rc = (over)
#define TAIL(M, W, tailf, member) .tail = LAYOUT(W, tailf), .tail_mem = offsetof(M, member)

/* ---- records shared by several commands ------------------------------------- */

#define W mhsld_wire_dc_extent
#define M mhsld_mbox_dc_extent
static const field dc_extent_f[] = {
    NUM(W, start_dpa, M, dpa),         NUM(W, length, M, len), RAW(W, tag, M, tag),
    NUM(W, shared_seq, M, shared_seq), RSVD(W, rsvd),
};
#undef W
#undef M

#define W mhsld_wire_dc_limits
#define M mhsld_mbox_dc_limits
static const field dc_limits_f[] = {
    NUM(W, total_extents, M, total_extents),
    NUM(W, avail_extents, M, avail_extents),
    NUM(W, total_tags, M, total_tags),
    NUM(W, avail_tags, M, avail_tags),
};
#undef W
#undef M

/* ---- 5500h Get Multi-Headed Info (CXL r3.1 7.6.7.5.1) ------------------------ */

#define W mhsld_wire_mhd_info_in
#define M mhsld_mbox_mhd_info_in
static const field mhd_info_in_f[] = {
    NUM(W, start_ld, M, start_ld),
    NUM(W, ld_map_limit, M, ld_map_limit),
};
static const message mhd_info_in_msg = FIXED(M, W, mhd_info_in_f);
#undef W
#undef M

#define W mhsld_wire_mhd_info_out
#define M mhsld_mbox_mhd_info_out
static const field mhd_info_out_f[] = {
    NUM(W, nr_lds, M, nr_lds),
    NUM(W, nr_heads, M, nr_heads),
    RSVD(W, rsvd1),
    NUM(W, start_ld, M, start_ld),
    RSVD(W, rsvd2),
};
/* The LD map: one byte per LD. */
typedef struct wire_ld_map_entry {
    uint8_t ld;
} wire_ld_map_entry;
static const field ld_map_entry_f[] = {
    {.wire = 0, .mem = 0, .size = 1, .kind = F_NUM, .reps = 1},
};
static const message mhd_info_out_msg = {
    LIST(M, W, mhd_info_out_f, ld_map_len, ld_map_len, wire_ld_map_entry, ld_map_entry_f, ld_map,
         MHSLD_CXL_INVALID_INPUT),
};
#undef W
#undef M

/* ---- 5501h Get Head Info (CXL r3.1 7.6.7.5.2) -------------------------------- */

#define W mhsld_wire_head_info_in
#define M mhsld_mbox_head_info_in
static const field head_info_in_f[] = {
    NUM(W, start_head, M, start_head),
    NUM(W, count, M, count),
};
static const message head_info_in_msg = FIXED(M, W, head_info_in_f);
#undef W
#undef M

#define W mhsld_wire_head_block
#define M mhsld_mbox_link
static const field head_block_f[] = {
    NUM(W, port, M, port),     NUM(W, max_width, M, max_width),   NUM(W, neg_width, M, neg_width),
    NUM(W, speeds, M, speeds), NUM(W, max_speed, M, max_speed),   NUM(W, cur_speed, M, cur_speed),
    NUM(W, ltssm, M, ltssm),   NUM(W, first_lane, M, first_lane), NUM(W, flags, M, flags),
};
#undef W
#undef M

#define W mhsld_wire_head_info_out
#define M mhsld_mbox_head_info_out
static const field head_info_out_f[] = {
    RSVD(W, rsvd),
};
static const message head_info_out_msg = {
    LIST(M, W, head_info_out_f, count, count, mhsld_wire_head_block, head_block_f, head,
         MHSLD_CXL_INVALID_INPUT),
};
#undef W
#undef M

/* ---- 4800h Get Dynamic Capacity Configuration (CXL r3.1 8.2.9.9.9.1) --------- */

#define W mhsld_wire_dc_config_in
#define M mhsld_mbox_dc_config_in
static const field dc_config_in_f[] = {
    NUM(W, region_count, M, region_count),
    NUM(W, start_region, M, start_region),
};
static const message dc_config_in_msg = FIXED(M, W, dc_config_in_f);
#undef W
#undef M

#define W mhsld_wire_dc_region
#define M mhsld_mbox_dc_region
static const field dc_region_f[] = {
    NUM(W, base, M, base),
    NUM(W, decode_len, M, decode_len),
    NUM(W, length, M, len),
    NUM(W, block_size, M, block_size),
    NUM(W, dsmad_handle, M, dsmad_handle),
    FLAGS(W, flags, M, flags, MHSLD_MBOX_REGION_SANITIZE),
    RSVD(W, rsvd),
};
#undef W
#undef M

#define W mhsld_wire_dc_config_out
#define M mhsld_mbox_dc_config_out
static const field dc_config_out_f[] = {
    NUM(W, avail_regions, M, avail_regions),
    RSVD(W, rsvd),
};
static const message dc_config_out_msg = {
    LIST(M, W, dc_config_out_f, returned, returned, mhsld_wire_dc_region, dc_region_f, region,
         MHSLD_CXL_INVALID_INPUT),
    TAIL(M, mhsld_wire_dc_limits, dc_limits_f, limits),
};
#undef W
#undef M

/* ---- 4801h Get Dynamic Capacity Extent List (CXL r3.1 8.2.9.9.9.2) ----------- */

#define W mhsld_wire_dc_extents_in
#define M mhsld_mbox_dc_extents_in
static const field dc_extents_in_f[] = {
    NUM(W, count, M, count),
    NUM(W, start, M, start),
};
static const message dc_extents_in_msg = FIXED(M, W, dc_extents_in_f);
#undef W
#undef M

#define W mhsld_wire_dc_extents_out
#define M mhsld_mbox_dc_extents_out
static const field dc_extents_out_f[] = {
    NUM(W, total, M, total),
    NUM(W, generation, M, generation),
    RSVD(W, rsvd),
};
static const message dc_extents_out_msg = {
    LIST(M, W, dc_extents_out_f, returned, returned, mhsld_wire_dc_extent, dc_extent_f, ext,
         MHSLD_CXL_INVALID_INPUT),
};
#undef W
#undef M

/* ---- 4802h Add DC Response / 4803h Release DC (CXL r3.1 Tables 8-168..8-170) - */

#define W mhsld_wire_updated_extent
#define M mhsld_extent
static const field updated_extent_f[] = {
    NUM(W, start_dpa, M, dpa),
    NUM(W, length, M, len),
    RSVD(W, rsvd),
};
#undef W
#undef M

#define W mhsld_wire_dc_update_in
#define M mhsld_mbox_dc_update_in
static const field dc_update_in_f[] = {
    FLAGS(W, flags, M, flags, MHSLD_MBOX_UPDATE_MORE),
    RSVD(W, rsvd),
};
static const message dc_update_in_msg = {
    LIST(M, W, dc_update_in_f, count, count, mhsld_wire_updated_extent, updated_extent_f, ext,
         MHSLD_CXL_RESOURCES_EXHAUSTED),
};
#undef W
#undef M

/* ---- 5600h Get DCD Info (CXL r3.1 7.6.7.6.1) --------------------------------- */

#define W mhsld_wire_dcd_info_out
#define M mhsld_mbox_dcd_info_out
static const field dcd_info_out_f[] = {
    NUM(W, nr_hosts, M, nr_hosts),
    NUM(W, nr_regions, M, nr_regions),
    RSVD(W, rsvd1),
    NUM(W, add_policies, M, add_policies),
    RSVD(W, rsvd2),
    NUM(W, release_policies, M, release_policies),
    NUM(W, sanitize_mask, M, sanitize_mask),
    RSVD(W, rsvd3),
    NUM(W, total_capacity, M, total_capacity),
    NUMS(W, block_size_mask, M, block_size_mask, MHSLD_MBOX_DC_REGIONS),
};
static const message dcd_info_out_msg = FIXED(M, W, dcd_info_out_f);
#undef W
#undef M

/* ---- 5601h Get Host DC Region Configuration (CXL r3.1 7.6.7.6.2) ------------- */

#define W mhsld_wire_host_region_cfg_in
#define M mhsld_mbox_host_region_cfg_in
static const field host_region_cfg_in_f[] = {
    NUM(W, host, M, host),
    NUM(W, region_count, M, region_count),
    NUM(W, start_region, M, start_region),
};
static const message host_region_cfg_in_msg = FIXED(M, W, host_region_cfg_in_f);
#undef W
#undef M

#define W mhsld_wire_host_region
#define M mhsld_mbox_host_region
static const field host_region_f[] = {
    NUM(W, base, M, base),   NUM(W, decode_len, M, decode_len),
    NUM(W, length, M, len),  NUM(W, block_size, M, block_size),
    NUM(W, flags, M, flags), /* DSMAS flags, passed through */
    RSVD(W, rsvd1),          FLAGS(W, sanitize, M, sanitize, MHSLD_MBOX_REGION_SANITIZE),
    RSVD(W, rsvd2),
};
#undef W
#undef M

#define W mhsld_wire_host_region_cfg_out
#define M mhsld_mbox_host_region_cfg_out
static const field host_region_cfg_out_f[] = {
    NUM(W, host, M, host),
    NUM(W, nr_regions, M, nr_regions),
};
static const message host_region_cfg_out_msg = {
    LIST(M, W, host_region_cfg_out_f, returned, returned, mhsld_wire_host_region, host_region_f,
         region, MHSLD_CXL_INVALID_INPUT),
    TAIL(M, mhsld_wire_dc_limits, dc_limits_f, limits),
};
#undef W
#undef M

/* ---- 5602h Set DC Region Configuration (CXL r3.1 7.6.7.6.3) ------------------ */

#define W mhsld_wire_set_region_cfg_in
#define M mhsld_mbox_set_region_cfg_in
static const field set_region_cfg_in_f[] = {
    NUM(W, region, M, region),
    RSVD(W, rsvd1),
    NUM(W, block_size, M, block_size),
    FLAGS(W, flags, M, flags, MHSLD_MBOX_REGION_SANITIZE),
    RSVD(W, rsvd2),
};
static const message set_region_cfg_in_msg = FIXED(M, W, set_region_cfg_in_f);
#undef W
#undef M

/* ---- 5603h Get DC Region Extent Lists (CXL r3.1 7.6.7.6.4) ------------------- */

#define W mhsld_wire_region_extents_in
#define M mhsld_mbox_region_extents_in
static const field region_extents_in_f[] = {
    NUM(W, host, M, host),
    RSVD(W, rsvd),
    NUM(W, count, M, count),
    NUM(W, start, M, start),
};
static const message region_extents_in_msg = FIXED(M, W, region_extents_in_f);
#undef W
#undef M

#define W mhsld_wire_region_extents_out
#define M mhsld_mbox_region_extents_out
static const field region_extents_out_f[] = {
    NUM(W, host, M, host),
    RSVD(W, rsvd1),
    NUM(W, start, M, start),
    NUM(W, total, M, total),
    NUM(W, generation, M, generation),
    RSVD(W, rsvd2),
};
static const message region_extents_out_msg = {
    LIST(M, W, region_extents_out_f, returned, returned, mhsld_wire_dc_extent, dc_extent_f, ext,
         MHSLD_CXL_INVALID_INPUT),
};
#undef W
#undef M

/* ---- 5604h Initiate Dynamic Capacity Add (CXL r3.1 7.6.7.6.5) ---------------- */

/* Selection policy: bits 3:0, values 0..3 (MHSLD_MBOX_POLICY_*); 7:4 reserved. */
#define W mhsld_wire_dc_add_in
#define M mhsld_mbox_dc_add_in
static const field dc_add_in_f[] = {
    NUM(W, host, M, host),
    ENUM(W, policy, M, policy, 0x0Fu, 0x0Fu,
         (1u << MHSLD_MBOX_POLICY_FREE) | (1u << MHSLD_MBOX_POLICY_CONTIGUOUS) |
             (1u << MHSLD_MBOX_POLICY_PRESCRIPTIVE) | (1u << MHSLD_MBOX_POLICY_SHARED)),
    NUM(W, region, M, region),
    NUM(W, length, M, length),
    RAW(W, tag, M, tag),
};
static const message dc_add_in_msg = {
    LIST(M, W, dc_add_in_f, count, count, mhsld_wire_dc_extent, dc_extent_f, ext,
         MHSLD_CXL_RESOURCES_EXHAUSTED),
};
#undef W
#undef M

/* ---- 5605h Initiate Dynamic Capacity Release (CXL r3.1 7.6.7.6.6) ------------ */

/* Flags: bits 3:0 removal policy (0..1), 4 forced, 5 sanitize, 7:6 reserved. */
#define W mhsld_wire_dc_release_in
#define M mhsld_mbox_dc_release_in
static const field dc_release_in_f[] = {
    NUM(W, host, M, host),
    ENUM(W, flags, M, flags,
         MHSLD_MBOX_RELEASE_POLICY_MASK | MHSLD_MBOX_RELEASE_FORCED | MHSLD_MBOX_RELEASE_SANITIZE,
         MHSLD_MBOX_RELEASE_POLICY_MASK,
         (1u << MHSLD_MBOX_REMOVAL_TAG) | (1u << MHSLD_MBOX_REMOVAL_PRESCRIPTIVE)),
    RSVD(W, rsvd),
    NUM(W, length, M, length),
    RAW(W, tag, M, tag),
};
static const message dc_release_in_msg = {
    LIST(M, W, dc_release_in_f, count, count, mhsld_wire_dc_extent, dc_extent_f, ext,
         MHSLD_CXL_RESOURCES_EXHAUSTED),
};
#undef W
#undef M

/* ---- 5606h/5607h Dynamic Capacity Add / Remove Reference (CXL r3.1 7.6.7.6.7-8) - */

#define W mhsld_wire_dc_tag_ref_in
#define M mhsld_mbox_dc_tag_ref_in
static const field dc_tag_ref_in_f[] = {
    RAW(W, tag, M, tag),
};
static const message dc_tag_ref_in_msg = FIXED(M, W, dc_tag_ref_in_f);
#undef W
#undef M

/* ---- 5608h Dynamic Capacity List Tags (CXL r3.1 7.6.7.6.9) ------------------- */

#define W mhsld_wire_dc_list_tags_in
#define M mhsld_mbox_dc_list_tags_in
static const field dc_list_tags_in_f[] = {
    NUM(W, start, M, start),
    NUM(W, count, M, count),
};
static const message dc_list_tags_in_msg = FIXED(M, W, dc_list_tags_in_f);
#undef W
#undef M

#define W mhsld_wire_dc_tag_info
#define M mhsld_mbox_dc_tag_info
static const field dc_tag_info_f[] = {
    RAW(W, tag, M, tag),
    FLAGS(W, flags, M, flags, MHSLD_MBOX_TAG_FM_REF),
    RSVD(W, rsvd),
    RAW(W, ref_bitmap, M, ref_bitmap),
    RAW(W, pending_bitmap, M, pending_bitmap),
};
#undef W
#undef M

#define W mhsld_wire_dc_list_tags_out
#define M mhsld_mbox_dc_list_tags_out
static const field dc_list_tags_out_f[] = {
    NUM(W, generation, M, generation),
    NUM(W, total, M, total),
    FLAGS(W, validity, M, validity, MHSLD_MBOX_TAGS_REF_VALID | MHSLD_MBOX_TAGS_PENDING_VALID),
    RSVD(W, rsvd),
};
static const message dc_list_tags_out_msg = {
    LIST(M, W, dc_list_tags_out_f, returned, returned, mhsld_wire_dc_tag_info, dc_tag_info_f, tag,
         MHSLD_CXL_INVALID_INPUT),
};
#undef W
#undef M

/* ---- the walker ------------------------------------------------------------- */

static uint64_t ld_le(const uint8_t *p, size_t size)
{
    switch (size) {
    case 1:
        return p[0];
    case 2:
        return mhsld_ld16(p);
    case 4:
        return mhsld_ld32(p);
    default:
        return mhsld_ld64(p);
    }
}

static void st_le(uint8_t *p, size_t size, uint64_t v)
{
    switch (size) {
    case 1:
        p[0] = (uint8_t)(v & 0xFFu);
        break;
    case 2:
        mhsld_st16(p, (uint16_t)(v & 0xFFFFu));
        break;
    case 4:
        mhsld_st32(p, (uint32_t)(v & 0xFFFFFFFFu));
        break;
    default:
        mhsld_st64(p, v);
        break;
    }
}

/* A struct member of `size` bytes (an unsigned integer type of that size). */
static uint64_t ld_mem(const uint8_t *p, size_t size)
{
    switch (size) {
    case 1:
        return p[0];
    case 2: {
        uint16_t v;
        memcpy(&v, p, sizeof(v));
        return v;
    }
    case 4: {
        uint32_t v;
        memcpy(&v, p, sizeof(v));
        return v;
    }
    default: {
        uint64_t v;
        memcpy(&v, p, sizeof(v));
        return v;
    }
    }
}

static void st_mem(uint8_t *p, size_t size, uint64_t v)
{
    switch (size) {
    case 1:
        p[0] = (uint8_t)(v & 0xFFu);
        break;
    case 2: {
        uint16_t x = (uint16_t)(v & 0xFFFFu);
        memcpy(p, &x, sizeof(x));
        break;
    }
    case 4: {
        uint32_t x = (uint32_t)(v & 0xFFFFFFFFu);
        memcpy(p, &x, sizeof(x));
        break;
    }
    default:
        memcpy(p, &v, sizeof(v));
        break;
    }
}

static bool value_ok(const field *f, uint64_t v)
{
    if ((v & f->mbz) != 0) {
        return false;
    }
    if (f->enum_bits != 0) {
        uint64_t e = v & f->enum_bits;
        if (e >= 64 || ((f->enum_set >> e) & 1u) == 0) {
            return false;
        }
    }
    return true;
}

/* Every field of one wire record is valid. */
static bool wire_ok(const layout *l, const uint8_t *p)
{
    for (size_t i = 0; i < l->nf; i++) {
        const field *f = &l->f[i];
        if (f->kind == F_RSVD) {
            for (size_t k = 0; k < f->size; k++) {
                if (p[f->wire + k] != 0) {
                    return false;
                }
            }
        } else if (f->kind == F_NUM) {
            for (size_t r = 0; r < f->reps; r++) {
                if (!value_ok(f, ld_le(p + f->wire + r * f->size, f->size))) {
                    return false;
                }
            }
        }
    }
    return true;
}

/* Every field of one decoded record is valid. */
static bool mem_ok(const layout *l, const uint8_t *s)
{
    for (size_t i = 0; i < l->nf; i++) {
        const field *f = &l->f[i];
        for (size_t r = 0; f->kind == F_NUM && r < f->reps; r++) {
            if (!value_ok(f, ld_mem(s + f->mem + r * f->size, f->size))) {
                return false;
            }
        }
    }
    return true;
}

/* Wire record p (validated) -> struct s. */
static void get_record(const layout *l, const uint8_t *p, uint8_t *s)
{
    for (size_t i = 0; i < l->nf; i++) {
        const field *f = &l->f[i];
        if (f->kind == F_RAW) {
            memcpy(s + f->mem, p + f->wire, f->size);
        }
        for (size_t r = 0; f->kind == F_NUM && r < f->reps; r++) {
            st_mem(s + f->mem + r * f->size, f->size, ld_le(p + f->wire + r * f->size, f->size));
        }
    }
}

/* Struct s -> wire record p (zeroed: reserved bytes stay zero). */
static void put_record(const layout *l, const uint8_t *s, uint8_t *p)
{
    for (size_t i = 0; i < l->nf; i++) {
        const field *f = &l->f[i];
        if (f->kind == F_RAW) {
            memcpy(p + f->wire, s + f->mem, f->size);
        }
        for (size_t r = 0; f->kind == F_NUM && r < f->reps; r++) {
            st_le(p + f->wire + r * f->size, f->size, ld_mem(s + f->mem + r * f->size, f->size));
        }
    }
}

static int decode(const message *m, const uint8_t *buf, size_t len, void *out)
{
    const size_t fixed = m->hdr.size + m->tail.size;
    const size_t esz = m->elem.size;
    if (esz == 0 ? len != fixed : len < fixed) {
        return MHSLD_CXL_INVALID_PAYLOAD_LENGTH;
    }
    if (buf == NULL || out == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    uint64_t n = 0;
    if (esz != 0) {
        n = ld_le(buf + m->count_wire, m->count_size);
        if (n > (len - fixed) / esz || len != fixed + (size_t)n * esz) {
            return MHSLD_CXL_INVALID_PAYLOAD_LENGTH;
        }
        if (n > m->max) {
            return m->over_max_rc;
        }
    }
    const uint8_t *elems = buf + m->hdr.size;
    const uint8_t *tail = elems + (size_t)n * esz;
    if (!wire_ok(&m->hdr, buf) || !wire_ok(&m->tail, tail)) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    for (size_t i = 0; i < n; i++) {
        if (!wire_ok(&m->elem, elems + i * esz)) {
            return MHSLD_CXL_INVALID_INPUT;
        }
    }
    uint8_t *s = out;
    memset(s, 0, m->mem_size);
    get_record(&m->hdr, buf, s);
    if (esz != 0) {
        st_mem(s + m->count_mem, m->count_size, n);
        for (size_t i = 0; i < n; i++) {
            get_record(&m->elem, elems + i * esz, s + m->elem_mem + i * m->elem_stride);
        }
    }
    get_record(&m->tail, tail, s + m->tail_mem);
    return MHSLD_CXL_SUCCESS;
}

static int encode(const message *m, const void *in, uint8_t *buf, size_t cap, size_t *len)
{
    if (len != NULL) {
        *len = 0;
    }
    if (in == NULL || len == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    const uint8_t *s = in;
    const size_t esz = m->elem.size;
    uint64_t n = 0;
    if (esz != 0) {
        n = ld_mem(s + m->count_mem, m->count_size);
        if (n > m->max) {
            return MHSLD_CXL_INVALID_INPUT;
        }
    }
    if (!mem_ok(&m->hdr, s) || !mem_ok(&m->tail, s + m->tail_mem)) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    for (size_t i = 0; i < n; i++) {
        if (!mem_ok(&m->elem, s + m->elem_mem + i * m->elem_stride)) {
            return MHSLD_CXL_INVALID_INPUT;
        }
    }
    const size_t need = m->hdr.size + (size_t)n * esz + m->tail.size;
    if ((buf == NULL && need > 0) || need > cap) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    memset(buf, 0, need);
    put_record(&m->hdr, s, buf);
    if (esz != 0) {
        st_le(buf + m->count_wire, m->count_size, n);
        for (size_t i = 0; i < n; i++) {
            put_record(&m->elem, s + m->elem_mem + i * m->elem_stride, buf + m->hdr.size + i * esz);
        }
    }
    put_record(&m->tail, s + m->tail_mem, buf + m->hdr.size + (size_t)n * esz);
    *len = need;
    return MHSLD_CXL_SUCCESS;
}

/* ---- the public codec ------------------------------------------------------- */

#define CODEC(name, type)                                                                          \
    int mhsld_mbox_##name##_decode(const uint8_t *buf, size_t len, type *out)                      \
    {                                                                                              \
        return decode(&name##_msg, buf, len, out);                                                 \
    }                                                                                              \
    int mhsld_mbox_##name##_encode(const type *in, uint8_t *buf, size_t cap, size_t *len)          \
    {                                                                                              \
        return encode(&name##_msg, in, buf, cap, len);                                             \
    }

CODEC(mhd_info_in, mhsld_mbox_mhd_info_in)
CODEC(mhd_info_out, mhsld_mbox_mhd_info_out)
CODEC(head_info_in, mhsld_mbox_head_info_in)
CODEC(head_info_out, mhsld_mbox_head_info_out)
CODEC(dc_config_in, mhsld_mbox_dc_config_in)
CODEC(dc_config_out, mhsld_mbox_dc_config_out)
CODEC(dc_extents_in, mhsld_mbox_dc_extents_in)
CODEC(dc_extents_out, mhsld_mbox_dc_extents_out)
CODEC(dc_update_in, mhsld_mbox_dc_update_in)
CODEC(dcd_info_out, mhsld_mbox_dcd_info_out)
CODEC(host_region_cfg_in, mhsld_mbox_host_region_cfg_in)
CODEC(host_region_cfg_out, mhsld_mbox_host_region_cfg_out)
CODEC(set_region_cfg_in, mhsld_mbox_set_region_cfg_in)
CODEC(region_extents_in, mhsld_mbox_region_extents_in)
CODEC(region_extents_out, mhsld_mbox_region_extents_out)
CODEC(dc_add_in, mhsld_mbox_dc_add_in)
CODEC(dc_release_in, mhsld_mbox_dc_release_in)
CODEC(dc_tag_ref_in, mhsld_mbox_dc_tag_ref_in)
CODEC(dc_list_tags_in, mhsld_mbox_dc_list_tags_in)
CODEC(dc_list_tags_out, mhsld_mbox_dc_list_tags_out)

/* ---- the tables checked against themselves ------------------------------------ */

static const struct {
    const char *name;
    const message *m;
} all_messages[] = {
    {"mhd_info_in", &mhd_info_in_msg},
    {"mhd_info_out", &mhd_info_out_msg},
    {"head_info_in", &head_info_in_msg},
    {"head_info_out", &head_info_out_msg},
    {"dc_config_in", &dc_config_in_msg},
    {"dc_config_out", &dc_config_out_msg},
    {"dc_extents_in", &dc_extents_in_msg},
    {"dc_extents_out", &dc_extents_out_msg},
    {"dc_update_in", &dc_update_in_msg},
    {"dcd_info_out", &dcd_info_out_msg},
    {"host_region_cfg_in", &host_region_cfg_in_msg},
    {"host_region_cfg_out", &host_region_cfg_out_msg},
    {"set_region_cfg_in", &set_region_cfg_in_msg},
    {"region_extents_in", &region_extents_in_msg},
    {"region_extents_out", &region_extents_out_msg},
    {"dc_add_in", &dc_add_in_msg},
    {"dc_release_in", &dc_release_in_msg},
    {"dc_tag_ref_in", &dc_tag_ref_in_msg},
    {"dc_list_tags_in", &dc_list_tags_in_msg},
    {"dc_list_tags_out", &dc_list_tags_out_msg},
};

/* One record: fields in wire order covering [0, size) exactly (the count,
 * if cwidth, fills its own place), each inside a struct record of msize
 * bytes.  0, or -1 with why. */
static int check_layout(const char *name, const char *part, const layout *l, size_t msize,
                        size_t cwire, size_t cwidth, char *why, size_t cap)
{
    size_t at = 0;
    for (size_t i = 0; i <= l->nf; i++) {
        if (cwidth != 0 && at == cwire) {
            at += cwidth;
        }
        if (i == l->nf) {
            break;
        }
        const field *f = &l->f[i];
        size_t reps = f->kind == F_NUM ? f->reps : 1;
        bool width_ok =
            f->kind != F_NUM || f->size == 1 || f->size == 2 || f->size == 4 || f->size == 8;
        if (f->wire != at || f->size == 0 || reps == 0 || !width_ok) {
            snprintf(why, cap,
                     "%s %s field %zu: wire offset %u width %u x %zu, expected offset %zu", name,
                     part, i, f->wire, f->size, reps, at);
            return -1;
        }
        if (f->kind != F_RSVD && (size_t)f->mem + (size_t)f->size * reps > msize) {
            snprintf(why, cap, "%s %s field %zu: struct bytes %u..%zu past %zu", name, part, i,
                     f->mem, (size_t)f->mem + (size_t)f->size * reps, msize);
            return -1;
        }
        at += (size_t)f->size * reps;
    }
    if (at != l->size) {
        snprintf(why, cap, "%s %s: fields describe %zu of %zu bytes", name, part, at, l->size);
        return -1;
    }
    return 0;
}

int mhsld__mbox_codec_selfcheck(char *why, size_t cap)
{
    const size_t n = sizeof(all_messages) / sizeof(all_messages[0]);
    for (size_t i = 0; i < n; i++) {
        const char *name = all_messages[i].name;
        const message *m = all_messages[i].m;
        const size_t cw = m->elem.size ? m->count_size : 0;
        if (check_layout(name, "header", &m->hdr, m->mem_size, m->count_wire, cw, why, cap) != 0 ||
            check_layout(name, "trailer", &m->tail, m->mem_size - m->tail_mem, 0, 0, why, cap) !=
                0) {
            return -1;
        }
        if (m->elem.size == 0) {
            continue;
        }
        if (check_layout(name, "element", &m->elem, m->elem_stride, 0, 0, why, cap) != 0) {
            return -1;
        }
        if (m->max == 0 || m->elem_mem + (size_t)m->max * m->elem_stride > m->mem_size ||
            m->count_mem + m->count_size > m->mem_size) {
            snprintf(why, cap, "%s: list of %u x %zu bytes at %zu (count at %zu) past %zu", name,
                     m->max, m->elem_stride, m->elem_mem, m->count_mem, m->mem_size);
            return -1;
        }
    }
    return (int)n;
}

/* ---- return code names -------------------------------------------------- */

const char *mhsld_cxl_rc_name(int rc)
{
    static const char *const names[] = {
        [MHSLD_CXL_SUCCESS] = "SUCCESS",
        [MHSLD_CXL_BG_STARTED] = "BACKGROUND_COMMAND_STARTED",
        [MHSLD_CXL_INVALID_INPUT] = "INVALID_INPUT",
        [MHSLD_CXL_UNSUPPORTED] = "UNSUPPORTED",
        [MHSLD_CXL_INTERNAL_ERROR] = "INTERNAL_ERROR",
        [MHSLD_CXL_RETRY_REQUIRED] = "RETRY_REQUIRED",
        [MHSLD_CXL_BUSY] = "BUSY",
        [MHSLD_CXL_MEDIA_DISABLED] = "MEDIA_DISABLED",
        [MHSLD_CXL_FW_XFER_IN_PROGRESS] = "FW_TRANSFER_IN_PROGRESS",
        [MHSLD_CXL_FW_XFER_OUT_OF_ORDER] = "FW_TRANSFER_OUT_OF_ORDER",
        [MHSLD_CXL_FW_VERIFICATION_FAILED] = "FW_VERIFICATION_FAILED",
        [MHSLD_CXL_FW_INVALID_SLOT] = "INVALID_SLOT",
        [MHSLD_CXL_FW_ROLLED_BACK] = "ACTIVATION_FAILED_ROLLED_BACK",
        [MHSLD_CXL_FW_RESET_REQUIRED] = "ACTIVATION_FAILED_RESET_REQUIRED",
        [MHSLD_CXL_INVALID_HANDLE] = "INVALID_HANDLE",
        [MHSLD_CXL_INVALID_PA] = "INVALID_PHYSICAL_ADDRESS",
        [MHSLD_CXL_INJECT_POISON_LIMIT] = "INJECT_POISON_LIMIT_REACHED",
        [MHSLD_CXL_PERMANENT_MEDIA_FAILURE] = "PERMANENT_MEDIA_FAILURE",
        [MHSLD_CXL_ABORTED] = "ABORTED",
        [MHSLD_CXL_INVALID_SECURITY_STATE] = "INVALID_SECURITY_STATE",
        [MHSLD_CXL_INCORRECT_PASSPHRASE] = "INCORRECT_PASSPHRASE",
        [MHSLD_CXL_UNSUPPORTED_MAILBOX] = "UNSUPPORTED_MAILBOX_OR_CCI",
        [MHSLD_CXL_INVALID_PAYLOAD_LENGTH] = "INVALID_PAYLOAD_LENGTH",
        [MHSLD_CXL_INVALID_LOG] = "INVALID_LOG",
        [MHSLD_CXL_INTERRUPTED] = "INTERRUPTED",
        [MHSLD_CXL_UNSUPPORTED_FEATURE_VERSION] = "UNSUPPORTED_FEATURE_VERSION",
        [MHSLD_CXL_UNSUPPORTED_FEATURE_SELECTION] = "UNSUPPORTED_FEATURE_SELECTION_VALUE",
        [MHSLD_CXL_FEATURE_XFER_IN_PROGRESS] = "FEATURE_TRANSFER_IN_PROGRESS",
        [MHSLD_CXL_FEATURE_XFER_OUT_OF_ORDER] = "FEATURE_TRANSFER_OUT_OF_ORDER",
        [MHSLD_CXL_RESOURCES_EXHAUSTED] = "RESOURCES_EXHAUSTED",
        [MHSLD_CXL_INVALID_EXTENT_LIST] = "INVALID_EXTENT_LIST",
        [MHSLD_CXL_TRANSFER_OUT_OF_ORDER] = "TRANSFER_OUT_OF_ORDER",
        [MHSLD_CXL_REQUEST_ABORT_NOT_SUPPORTED] = "REQUEST_ABORT_NOT_SUPPORTED",
    };
    if (rc < 0 || (size_t)rc >= sizeof(names) / sizeof(names[0]) || names[rc] == NULL) {
        return "UNKNOWN";
    }
    return names[rc];
}
