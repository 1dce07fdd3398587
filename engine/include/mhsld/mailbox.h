/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * libmhsld mailbox layer: the CXL mailbox commands of a Multi-Headed SLD with
 * Dynamic Capacity, decoded, validated, executed against the engine and
 * encoded.
 *
 * Three layers, each usable on its own:
 *
 *   wire      the byte layouts of every payload (mhsld_wire_*), pinned by
 *             _Static_assert on size and field offsets, with a citation of
 *             the CXL r3.1 table they come from.  They are never overlaid
 *             on a buffer: the codec reads and writes fields with the
 *             explicit little-endian helpers below at offsetof() positions.
 *   codec     pure functions, no state: mhsld_mbox_<cmd>_<in|out>_decode()
 *             turns bytes into a trusted struct (every length, count,
 *             reserved field and flag checked) and _encode() does the
 *             reverse.  Each payload is described once, as a table of
 *             fields (wire offset, width, struct offset, validation) in
 *             mbox_codec.c, and one decoder and one encoder walk the
 *             tables, so decode(encode(x)) == x for every valid x.
 *   dispatch  mhsld_mbox_execute(): one command table (opcode, name, input
 *             length rule, output sizes, command effects, handler), one
 *             dispatcher that enforces the lengths and sizes; each
 *             handler decodes, validates against the device's geometry,
 *             then calls the engine.  A command that fails changes no
 *             engine state.
 *
 * Every function returns a CXL return code (mhsld_cxl_rc, CXL r3.1 Table
 * 8-34), never an engine status: engine statuses are mapped in one table
 * (mhsld_mbox_rc_from_status()).
 *
 * Concurrency: the codec is pure and thread-safe.  mhsld_mbox_execute() has
 * the engine's contract: calls acting on one head (ctx->self, or heads[i]
 * for the FM API) must not overlap.  QEMU serialises them under the BQL.
 */
#ifndef MHSLD_MAILBOX_H
#define MHSLD_MAILBOX_H

#include <stddef.h>
#include <stdint.h>

#include "mhsld/mhsld.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- return codes (CXL r3.1 Table 8-34; QEMU CXLRetCode) --------------- */

typedef enum mhsld_cxl_rc {
    MHSLD_CXL_SUCCESS = 0x00,
    MHSLD_CXL_BG_STARTED = 0x01,
    MHSLD_CXL_INVALID_INPUT = 0x02,
    MHSLD_CXL_UNSUPPORTED = 0x03,
    MHSLD_CXL_INTERNAL_ERROR = 0x04,
    MHSLD_CXL_RETRY_REQUIRED = 0x05,
    MHSLD_CXL_BUSY = 0x06,
    MHSLD_CXL_MEDIA_DISABLED = 0x07,
    MHSLD_CXL_FW_XFER_IN_PROGRESS = 0x08,
    MHSLD_CXL_FW_XFER_OUT_OF_ORDER = 0x09,
    MHSLD_CXL_FW_VERIFICATION_FAILED = 0x0A,
    MHSLD_CXL_FW_INVALID_SLOT = 0x0B,
    MHSLD_CXL_FW_ROLLED_BACK = 0x0C,
    MHSLD_CXL_FW_RESET_REQUIRED = 0x0D,
    MHSLD_CXL_INVALID_HANDLE = 0x0E,
    MHSLD_CXL_INVALID_PA = 0x0F,
    MHSLD_CXL_INJECT_POISON_LIMIT = 0x10,
    MHSLD_CXL_PERMANENT_MEDIA_FAILURE = 0x11,
    MHSLD_CXL_ABORTED = 0x12,
    MHSLD_CXL_INVALID_SECURITY_STATE = 0x13,
    MHSLD_CXL_INCORRECT_PASSPHRASE = 0x14,
    MHSLD_CXL_UNSUPPORTED_MAILBOX = 0x15,
    MHSLD_CXL_INVALID_PAYLOAD_LENGTH = 0x16,
    MHSLD_CXL_INVALID_LOG = 0x17,
    MHSLD_CXL_INTERRUPTED = 0x18,
    MHSLD_CXL_UNSUPPORTED_FEATURE_VERSION = 0x19,
    MHSLD_CXL_UNSUPPORTED_FEATURE_SELECTION = 0x1A,
    MHSLD_CXL_FEATURE_XFER_IN_PROGRESS = 0x1B,
    MHSLD_CXL_FEATURE_XFER_OUT_OF_ORDER = 0x1C,
    MHSLD_CXL_RESOURCES_EXHAUSTED = 0x1D,
    MHSLD_CXL_INVALID_EXTENT_LIST = 0x1E,
    MHSLD_CXL_TRANSFER_OUT_OF_ORDER = 0x1F,
    MHSLD_CXL_REQUEST_ABORT_NOT_SUPPORTED = 0x20
} mhsld_cxl_rc;

/* "INVALID_PAYLOAD_LENGTH" etc.; "UNKNOWN" for a value not in the table
 * (never NULL). */
const char *mhsld_cxl_rc_name(int rc);
/* The CXL return code an engine status becomes (one table for every
 * command). */
int mhsld_mbox_rc_from_status(mhsld_status st);

/* ---- opcodes ------------------------------------------------------------ */

#define MHSLD_MBOX_OP_GET_DC_CONFIG 0x4800u        /* CXL r3.1 8.2.9.9.9.1 */
#define MHSLD_MBOX_OP_GET_DC_EXTENT_LIST 0x4801u   /* CXL r3.1 8.2.9.9.9.2 */
#define MHSLD_MBOX_OP_ADD_DC_RESPONSE 0x4802u      /* CXL r3.1 8.2.9.9.9.3 */
#define MHSLD_MBOX_OP_RELEASE_DC 0x4803u           /* CXL r3.1 8.2.9.9.9.4 */
#define MHSLD_MBOX_OP_GET_MHD_INFO 0x5500u         /* CXL r3.1 7.6.7.5.1 */
#define MHSLD_MBOX_OP_GET_HEAD_INFO 0x5501u        /* CXL r3.1 7.6.7.5.2 */
#define MHSLD_MBOX_OP_GET_DCD_INFO 0x5600u         /* CXL r3.1 7.6.7.6.1 */
#define MHSLD_MBOX_OP_GET_HOST_DC_REGION_CONFIG 0x5601u /* 7.6.7.6.2 */
#define MHSLD_MBOX_OP_SET_DC_REGION_CONFIG 0x5602u /* CXL r3.1 7.6.7.6.3 */
#define MHSLD_MBOX_OP_GET_DC_REGION_EXTENTS 0x5603u /* CXL r3.1 7.6.7.6.4 */
#define MHSLD_MBOX_OP_INITIATE_DC_ADD 0x5604u      /* CXL r3.1 7.6.7.6.5 */
#define MHSLD_MBOX_OP_INITIATE_DC_RELEASE 0x5605u  /* CXL r3.1 7.6.7.6.6 */
#define MHSLD_MBOX_OP_DC_ADD_REFERENCE 0x5606u     /* CXL r3.1 7.6.7.6.7 */
#define MHSLD_MBOX_OP_DC_REMOVE_REFERENCE 0x5607u  /* CXL r3.1 7.6.7.6.8 */
#define MHSLD_MBOX_OP_DC_LIST_TAGS 0x5608u         /* CXL r3.1 7.6.7.6.9 */

/* QEMU's mailbox payload limit (CXL_MAILBOX_MAX_PAYLOAD_SIZE, 2 KiB). */
#define MHSLD_MBOX_PAYLOAD_MAX 2048u
/* Capacity unit of decode lengths and total capacity (256 MiB). */
#define MHSLD_MBOX_CAPACITY_UNIT (256ull << 20)
/* DC regions a CXL device may have (the wire tables are sized for 8). */
#define MHSLD_MBOX_DC_REGIONS 8u
/* Largest extent list a decoded response struct holds. */
#define MHSLD_MBOX_LIST_MAX MHSLD_MAX_EXTENTS

/* ---- little-endian helpers (no type punning, any alignment) ------------- */

static inline uint16_t mhsld_ld16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] | ((unsigned)p[1] << 8));
}
static inline uint32_t mhsld_ld32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}
static inline uint64_t mhsld_ld64(const uint8_t *p)
{
    return (uint64_t)mhsld_ld32(p) | ((uint64_t)mhsld_ld32(p + 4) << 32);
}
static inline void mhsld_st16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)(v >> 8);
}
static inline void mhsld_st32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)((v >> 8) & 0xFFu);
    p[2] = (uint8_t)((v >> 16) & 0xFFu);
    p[3] = (uint8_t)(v >> 24);
}
static inline void mhsld_st64(uint8_t *p, uint64_t v)
{
    mhsld_st32(p, (uint32_t)(v & 0xFFFFFFFFu));
    mhsld_st32(p + 4, (uint32_t)(v >> 32));
}

/* ---- wire layouts --------------------------------------------------------
 * Byte arrays only: alignment 1, no padding, so sizeof and offsetof are the
 * spec's numbers (asserted).  Multi-byte fields are little-endian.         */

/* Dynamic Capacity Extent, CXL r3.1 (as carried by 4801h, 5603h, 5604h,
 * 5605h and DC event records; QEMU CXLDCExtentRaw). */
typedef struct mhsld_wire_dc_extent {
    uint8_t start_dpa[8];
    uint8_t length[8];
    uint8_t tag[16];
    uint8_t shared_seq[2];
    uint8_t rsvd[6];
} mhsld_wire_dc_extent;
_Static_assert(sizeof(mhsld_wire_dc_extent) == 0x28, "DC extent is 28h bytes");
_Static_assert(offsetof(mhsld_wire_dc_extent, tag) == 0x10, "DC extent tag at 10h");
_Static_assert(offsetof(mhsld_wire_dc_extent, shared_seq) == 0x20, "DC extent seq at 20h");

/* 5500h Get Multi-Headed Info, CXL r3.1 7.6.7.5.1 (input / output). */
typedef struct mhsld_wire_mhd_info_in {
    uint8_t start_ld;
    uint8_t ld_map_limit;
} mhsld_wire_mhd_info_in;
_Static_assert(sizeof(mhsld_wire_mhd_info_in) == 2, "5500h input is 2 bytes");
typedef struct mhsld_wire_mhd_info_out {
    uint8_t nr_lds;
    uint8_t nr_heads;
    uint8_t rsvd1[2];
    uint8_t start_ld;
    uint8_t ld_map_len;
    uint8_t rsvd2[2];
    /* followed by ld_map_len bytes of LD map (FFh = unassigned) */
} mhsld_wire_mhd_info_out;
_Static_assert(sizeof(mhsld_wire_mhd_info_out) == 8, "5500h output header is 8 bytes");

/* 5501h Get Head Info, CXL r3.1 7.6.7.5.2. */
typedef struct mhsld_wire_head_info_in {
    uint8_t start_head;
    uint8_t count;
} mhsld_wire_head_info_in;
_Static_assert(sizeof(mhsld_wire_head_info_in) == 2, "5501h input is 2 bytes");
typedef struct mhsld_wire_head_info_out {
    uint8_t count;
    uint8_t rsvd[3];
    /* followed by count head information blocks */
} mhsld_wire_head_info_out;
_Static_assert(sizeof(mhsld_wire_head_info_out) == 4, "5501h output header is 4 bytes");
typedef struct mhsld_wire_head_block {
    uint8_t port;
    uint8_t max_width;
    uint8_t neg_width;
    uint8_t speeds;
    uint8_t max_speed;
    uint8_t cur_speed;
    uint8_t ltssm;
    uint8_t first_lane;
    uint8_t flags;
} mhsld_wire_head_block;
_Static_assert(sizeof(mhsld_wire_head_block) == 9, "head info block is 9 bytes");

/* 4800h Get Dynamic Capacity Configuration, CXL r3.1 8.2.9.9.9.1. */
typedef struct mhsld_wire_dc_config_in {
    uint8_t region_count;
    uint8_t start_region;
} mhsld_wire_dc_config_in;
_Static_assert(sizeof(mhsld_wire_dc_config_in) == 2, "4800h input is 2 bytes");
typedef struct mhsld_wire_dc_config_out {
    uint8_t avail_regions;
    uint8_t returned;
    uint8_t rsvd[6];
    /* followed by `returned` region records, then mhsld_wire_dc_limits */
} mhsld_wire_dc_config_out;
_Static_assert(sizeof(mhsld_wire_dc_config_out) == 8, "4800h output header is 8 bytes");
typedef struct mhsld_wire_dc_region {
    uint8_t base[8];
    uint8_t decode_len[8]; /* 256 MiB units */
    uint8_t length[8];
    uint8_t block_size[8];
    uint8_t dsmad_handle[4];
    uint8_t flags; /* bit 0 sanitize on release; 7:1 reserved */
    uint8_t rsvd[3];
} mhsld_wire_dc_region;
_Static_assert(sizeof(mhsld_wire_dc_region) == 0x28, "DC region record is 28h bytes");
_Static_assert(offsetof(mhsld_wire_dc_region, dsmad_handle) == 0x20, "DSMAD handle at 20h");
typedef struct mhsld_wire_dc_limits {
    uint8_t total_extents[4];
    uint8_t avail_extents[4];
    uint8_t total_tags[4];
    uint8_t avail_tags[4];
} mhsld_wire_dc_limits;
_Static_assert(sizeof(mhsld_wire_dc_limits) == 0x10, "DC limits trailer is 10h bytes");

/* 4801h Get Dynamic Capacity Extent List, CXL r3.1 8.2.9.9.9.2. */
typedef struct mhsld_wire_dc_extents_in {
    uint8_t count[4];
    uint8_t start[4];
} mhsld_wire_dc_extents_in;
_Static_assert(sizeof(mhsld_wire_dc_extents_in) == 8, "4801h input is 8 bytes");
typedef struct mhsld_wire_dc_extents_out {
    uint8_t returned[4];
    uint8_t total[4];
    uint8_t generation[4];
    uint8_t rsvd[4];
    /* followed by `returned` mhsld_wire_dc_extent */
} mhsld_wire_dc_extents_out;
_Static_assert(sizeof(mhsld_wire_dc_extents_out) == 0x10, "4801h output header is 10h bytes");

/* 4802h Add DC Response / 4803h Release DC, CXL r3.1 Tables 8-168..8-170. */
typedef struct mhsld_wire_dc_update_in {
    uint8_t count[4];
    uint8_t flags; /* bit 0 More; 7:1 reserved */
    uint8_t rsvd[3];
    /* followed by `count` mhsld_wire_updated_extent */
} mhsld_wire_dc_update_in;
_Static_assert(sizeof(mhsld_wire_dc_update_in) == 8, "4802h/4803h header is 8 bytes");
typedef struct mhsld_wire_updated_extent {
    uint8_t start_dpa[8];
    uint8_t length[8];
    uint8_t rsvd[8];
} mhsld_wire_updated_extent;
_Static_assert(sizeof(mhsld_wire_updated_extent) == 0x18, "updated extent is 18h bytes");

/* 5600h Get DCD Info (output; no input), CXL r3.1 7.6.7.6.1. */
typedef struct mhsld_wire_dcd_info_out {
    uint8_t nr_hosts;
    uint8_t nr_regions;
    uint8_t rsvd1[2];
    uint8_t add_policies[2];
    uint8_t rsvd2[2];
    uint8_t release_policies[2];
    uint8_t sanitize_mask;
    uint8_t rsvd3;
    uint8_t total_capacity[8]; /* 256 MiB units */
    uint8_t block_size_mask[MHSLD_MBOX_DC_REGIONS][8];
} mhsld_wire_dcd_info_out;
_Static_assert(sizeof(mhsld_wire_dcd_info_out) == 0x54, "5600h output is 54h bytes");
_Static_assert(offsetof(mhsld_wire_dcd_info_out, total_capacity) == 0x0C, "total at 0Ch");

/* 5601h Get Host DC Region Configuration, CXL r3.1 7.6.7.6.2. */
typedef struct mhsld_wire_host_region_cfg_in {
    uint8_t host[2];
    uint8_t region_count;
    uint8_t start_region;
} mhsld_wire_host_region_cfg_in;
_Static_assert(sizeof(mhsld_wire_host_region_cfg_in) == 4, "5601h input is 4 bytes");
typedef struct mhsld_wire_host_region_cfg_out {
    uint8_t host[2];
    uint8_t nr_regions;
    uint8_t returned;
    /* followed by `returned` mhsld_wire_host_region, then mhsld_wire_dc_limits */
} mhsld_wire_host_region_cfg_out;
_Static_assert(sizeof(mhsld_wire_host_region_cfg_out) == 4, "5601h output header is 4 bytes");
typedef struct mhsld_wire_host_region {
    uint8_t base[8];
    uint8_t decode_len[8];
    uint8_t length[8];
    uint8_t block_size[8];
    uint8_t flags; /* DSMAS flags: bit 2 nonvolatile, bit 3 sharable, ... */
    uint8_t rsvd1[3];
    uint8_t sanitize; /* bit 0 sanitize on release */
    uint8_t rsvd2[3];
} mhsld_wire_host_region;
_Static_assert(sizeof(mhsld_wire_host_region) == 0x28, "host region record is 28h bytes");

/* 5602h Set DC Region Configuration (input; no output), CXL r3.1 7.6.7.6.3. */
typedef struct mhsld_wire_set_region_cfg_in {
    uint8_t region;
    uint8_t rsvd1[3];
    uint8_t block_size[8];
    uint8_t flags; /* bit 0 sanitize on release; 7:1 reserved */
    uint8_t rsvd2[3];
} mhsld_wire_set_region_cfg_in;
_Static_assert(sizeof(mhsld_wire_set_region_cfg_in) == 0x10, "5602h input is 10h bytes");

/* 5603h Get DC Region Extent Lists, CXL r3.1 7.6.7.6.4. */
typedef struct mhsld_wire_region_extents_in {
    uint8_t host[2];
    uint8_t rsvd[2];
    uint8_t count[4];
    uint8_t start[4];
} mhsld_wire_region_extents_in;
_Static_assert(sizeof(mhsld_wire_region_extents_in) == 0x0C, "5603h input is 0Ch bytes");
typedef struct mhsld_wire_region_extents_out {
    uint8_t host[2];
    uint8_t rsvd1[2];
    uint8_t start[4];
    uint8_t returned[4];
    uint8_t total[4];
    uint8_t generation[4];
    uint8_t rsvd2[4];
    /* followed by `returned` mhsld_wire_dc_extent */
} mhsld_wire_region_extents_out;
_Static_assert(sizeof(mhsld_wire_region_extents_out) == 0x18, "5603h output header is 18h");

/* 5604h Initiate Dynamic Capacity Add, CXL r3.1 7.6.7.6.5. */
typedef struct mhsld_wire_dc_add_in {
    uint8_t host[2];
    uint8_t policy; /* bits 3:0 selection policy; 7:4 reserved */
    uint8_t region;
    uint8_t length[8];
    uint8_t tag[16];
    uint8_t count[4];
    /* followed by `count` mhsld_wire_dc_extent */
} mhsld_wire_dc_add_in;
_Static_assert(sizeof(mhsld_wire_dc_add_in) == 0x20, "5604h header is 20h bytes");
_Static_assert(offsetof(mhsld_wire_dc_add_in, count) == 0x1C, "5604h count at 1Ch");

/* 5605h Initiate Dynamic Capacity Release, CXL r3.1 7.6.7.6.6. */
typedef struct mhsld_wire_dc_release_in {
    uint8_t host[2];
    uint8_t flags; /* 3:0 removal policy, 4 forced, 5 sanitize, 7:6 reserved */
    uint8_t rsvd;
    uint8_t length[8];
    uint8_t tag[16];
    uint8_t count[4];
    /* followed by `count` mhsld_wire_dc_extent */
} mhsld_wire_dc_release_in;
_Static_assert(sizeof(mhsld_wire_dc_release_in) == 0x20, "5605h header is 20h bytes");

/* 5606h Dynamic Capacity Add Reference and 5607h Dynamic Capacity Remove
 * Reference, CXL r3.1 7.6.7.6.7 / 7.6.7.6.8 (input; no output): the tag.
 * Layout as libcxlmi's cxlmi_cmd_fmapi_dc_add_ref / _remove_ref. */
typedef struct mhsld_wire_dc_tag_ref_in {
    uint8_t tag[16];
} mhsld_wire_dc_tag_ref_in;
_Static_assert(sizeof(mhsld_wire_dc_tag_ref_in) == 0x10, "5606h/5607h input is 10h bytes");

/* 5608h Dynamic Capacity List Tags, CXL r3.1 7.6.7.6.9.  Layout as
 * libcxlmi's cxlmi_cmd_fmapi_dc_list_tags_req / _rsp (field names there:
 * start index, tags count; generation number, total tags, tags returned,
 * validity bitmap; per tag: tag, flags, reference bitmap, pending
 * reference bitmap).  The meaning of the validity bitmap and flag bits is
 * this library's (docs/mailbox.md): the layout source does not give it. */
typedef struct mhsld_wire_dc_list_tags_in {
    uint8_t start[4];
    uint8_t count[4];
} mhsld_wire_dc_list_tags_in;
_Static_assert(sizeof(mhsld_wire_dc_list_tags_in) == 8, "5608h input is 8 bytes");
typedef struct mhsld_wire_dc_list_tags_out {
    uint8_t generation[4];
    uint8_t total[4];
    uint8_t returned[4];
    uint8_t validity;
    uint8_t rsvd[3];
    /* followed by `returned` mhsld_wire_dc_tag_info */
} mhsld_wire_dc_list_tags_out;
_Static_assert(sizeof(mhsld_wire_dc_list_tags_out) == 0x10, "5608h output header is 10h bytes");
typedef struct mhsld_wire_dc_tag_info {
    uint8_t tag[16];
    uint8_t flags;
    uint8_t rsvd[3];
    uint8_t ref_bitmap[32];     /* bit n: host n */
    uint8_t pending_bitmap[32]; /* bit n: host n */
} mhsld_wire_dc_tag_info;
_Static_assert(sizeof(mhsld_wire_dc_tag_info) == 0x54, "5608h tag record is 54h bytes");
_Static_assert(offsetof(mhsld_wire_dc_tag_info, ref_bitmap) == 0x14, "reference bitmap at 14h");

/* Flag and policy values. */
#define MHSLD_MBOX_UPDATE_MORE 0x01u           /* 4802h/4803h flags bit 0 */
#define MHSLD_MBOX_REGION_SANITIZE 0x01u       /* 4800h/5602h flags, 5601h sanitize */
#define MHSLD_MBOX_DSMAS_NONVOLATILE 0x04u     /* 5601h flags (DSMAS bit 2) */
#define MHSLD_MBOX_DSMAS_SHARABLE 0x08u        /* 5601h flags (DSMAS bit 3) */
#define MHSLD_MBOX_POLICY_FREE 0u              /* 5604h selection policies */
#define MHSLD_MBOX_POLICY_CONTIGUOUS 1u
#define MHSLD_MBOX_POLICY_PRESCRIPTIVE 2u
#define MHSLD_MBOX_POLICY_SHARED 3u            /* Enable Shared Access */
#define MHSLD_MBOX_REMOVAL_TAG 0u              /* 5605h removal policies */
#define MHSLD_MBOX_REMOVAL_PRESCRIPTIVE 1u
#define MHSLD_MBOX_RELEASE_POLICY_MASK 0x0Fu   /* 5605h flags */
#define MHSLD_MBOX_RELEASE_FORCED 0x10u
#define MHSLD_MBOX_RELEASE_SANITIZE 0x20u
#define MHSLD_MBOX_TAGS_REF_VALID 0x01u     /* 5608h validity: reference bitmaps valid */
#define MHSLD_MBOX_TAGS_PENDING_VALID 0x02u /* 5608h validity: pending bitmaps valid */
#define MHSLD_MBOX_TAG_FM_REF 0x01u         /* 5608h tag flags: the FM holds a reference */

/* ---- decoded (trusted) structs ------------------------------------------ */

typedef struct mhsld_mbox_dc_extent {
    uint64_t dpa;
    uint64_t len;
    uint8_t tag[MHSLD_TAG_SIZE];
    uint16_t shared_seq;
} mhsld_mbox_dc_extent;

typedef struct mhsld_mbox_mhd_info_in {
    uint8_t start_ld;
    uint8_t ld_map_limit;
} mhsld_mbox_mhd_info_in;
typedef struct mhsld_mbox_mhd_info_out {
    uint8_t nr_lds;
    uint8_t nr_heads;
    uint8_t start_ld;
    uint8_t ld_map_len;
    uint8_t ld_map[255];
} mhsld_mbox_mhd_info_out;

typedef struct mhsld_mbox_head_info_in {
    uint8_t start_head;
    uint8_t count;
} mhsld_mbox_head_info_in;
/* One head's link, as 5501h reports it (CXL r3.1 7.6.7.5.2; the encodings
 * are those of Get Physical Port State: widths in lanes, speeds vector bit
 * n = speed n+1, speeds 1 = 2.5 GT/s .. 6 = 64 GT/s, LTSSM 0 = Detect,
 * 4 = L0). */
typedef struct mhsld_mbox_link {
    uint8_t port;
    uint8_t max_width;
    uint8_t neg_width;
    uint8_t speeds;
    uint8_t max_speed;
    uint8_t cur_speed;
    uint8_t ltssm;
    uint8_t first_lane;
    uint8_t flags;
} mhsld_mbox_link;
typedef struct mhsld_mbox_head_info_out {
    uint8_t count;
    mhsld_mbox_link head[255];
} mhsld_mbox_head_info_out;

typedef struct mhsld_mbox_dc_config_in {
    uint8_t region_count;
    uint8_t start_region;
} mhsld_mbox_dc_config_in;
typedef struct mhsld_mbox_dc_region {
    uint64_t base;
    uint64_t decode_len; /* 256 MiB units, as on the wire */
    uint64_t len;
    uint64_t block_size;
    uint32_t dsmad_handle;
    uint8_t flags;
} mhsld_mbox_dc_region;
typedef struct mhsld_mbox_dc_limits {
    uint32_t total_extents;
    uint32_t avail_extents;
    uint32_t total_tags;
    uint32_t avail_tags;
} mhsld_mbox_dc_limits;
typedef struct mhsld_mbox_dc_config_out {
    uint8_t avail_regions;
    uint8_t returned; /* <= MHSLD_MBOX_DC_REGIONS */
    mhsld_mbox_dc_region region[MHSLD_MBOX_DC_REGIONS];
    mhsld_mbox_dc_limits limits;
} mhsld_mbox_dc_config_out;

typedef struct mhsld_mbox_dc_extents_in {
    uint32_t count;
    uint32_t start;
} mhsld_mbox_dc_extents_in;
typedef struct mhsld_mbox_dc_extents_out {
    uint32_t returned; /* <= MHSLD_MBOX_LIST_MAX */
    uint32_t total;
    uint32_t generation;
    mhsld_mbox_dc_extent ext[MHSLD_MBOX_LIST_MAX];
} mhsld_mbox_dc_extents_out;

/* 4802h and 4803h share one layout. */
typedef struct mhsld_mbox_dc_update_in {
    uint32_t count; /* <= MHSLD_MAX_EXTENTS */
    uint8_t flags;  /* MHSLD_MBOX_UPDATE_MORE only */
    mhsld_extent ext[MHSLD_MAX_EXTENTS];
} mhsld_mbox_dc_update_in;

typedef struct mhsld_mbox_dcd_info_out {
    uint8_t nr_hosts;
    uint8_t nr_regions;
    uint16_t add_policies;     /* bit n = selection policy n */
    uint16_t release_policies; /* bit n = removal policy n */
    uint8_t sanitize_mask;
    uint64_t total_capacity; /* 256 MiB units */
    uint64_t block_size_mask[MHSLD_MBOX_DC_REGIONS];
} mhsld_mbox_dcd_info_out;

typedef struct mhsld_mbox_host_region_cfg_in {
    uint16_t host;
    uint8_t region_count;
    uint8_t start_region;
} mhsld_mbox_host_region_cfg_in;
typedef struct mhsld_mbox_host_region {
    uint64_t base;
    uint64_t decode_len;
    uint64_t len;
    uint64_t block_size;
    uint8_t flags;
    uint8_t sanitize;
} mhsld_mbox_host_region;
typedef struct mhsld_mbox_host_region_cfg_out {
    uint16_t host;
    uint8_t nr_regions;
    uint8_t returned; /* <= MHSLD_MBOX_DC_REGIONS */
    mhsld_mbox_host_region region[MHSLD_MBOX_DC_REGIONS];
    mhsld_mbox_dc_limits limits;
} mhsld_mbox_host_region_cfg_out;

typedef struct mhsld_mbox_set_region_cfg_in {
    uint8_t region;
    uint64_t block_size;
    uint8_t flags; /* MHSLD_MBOX_REGION_SANITIZE only */
} mhsld_mbox_set_region_cfg_in;

typedef struct mhsld_mbox_region_extents_in {
    uint16_t host;
    uint32_t count;
    uint32_t start;
} mhsld_mbox_region_extents_in;
typedef struct mhsld_mbox_region_extents_out {
    uint16_t host;
    uint32_t start;
    uint32_t returned; /* <= MHSLD_MBOX_LIST_MAX */
    uint32_t total;
    uint32_t generation;
    mhsld_mbox_dc_extent ext[MHSLD_MBOX_LIST_MAX];
} mhsld_mbox_region_extents_out;

typedef struct mhsld_mbox_dc_add_in {
    uint16_t host;
    uint8_t policy; /* MHSLD_MBOX_POLICY_* (0..3) */
    uint8_t region;
    uint64_t length;
    uint8_t tag[MHSLD_TAG_SIZE];
    uint32_t count; /* <= MHSLD_MAX_EXTENTS */
    mhsld_mbox_dc_extent ext[MHSLD_MAX_EXTENTS];
} mhsld_mbox_dc_add_in;

typedef struct mhsld_mbox_dc_release_in {
    uint16_t host;
    uint8_t flags; /* policy (0..1) | FORCED | SANITIZE */
    uint64_t length;
    uint8_t tag[MHSLD_TAG_SIZE];
    uint32_t count; /* <= MHSLD_MAX_EXTENTS */
    mhsld_mbox_dc_extent ext[MHSLD_MAX_EXTENTS];
} mhsld_mbox_dc_release_in;

typedef struct mhsld_mbox_dc_tag_ref_in {
    uint8_t tag[MHSLD_TAG_SIZE];
} mhsld_mbox_dc_tag_ref_in;

typedef struct mhsld_mbox_dc_list_tags_in {
    uint32_t start;
    uint32_t count;
} mhsld_mbox_dc_list_tags_in;
typedef struct mhsld_mbox_dc_tag_info {
    uint8_t tag[MHSLD_TAG_SIZE];
    uint8_t flags; /* MHSLD_MBOX_TAG_FM_REF only */
    uint8_t ref_bitmap[32];
    uint8_t pending_bitmap[32];
} mhsld_mbox_dc_tag_info;
typedef struct mhsld_mbox_dc_list_tags_out {
    uint32_t generation;
    uint32_t total;
    uint32_t returned; /* <= MHSLD_MAX_SHARED */
    uint8_t validity;  /* MHSLD_MBOX_TAGS_* only */
    mhsld_mbox_dc_tag_info tag[MHSLD_MAX_SHARED];
} mhsld_mbox_dc_list_tags_out;

/* ---- codec ----------------------------------------------------------------
 * decode(buf, len, out): Success, or Invalid Payload Length (len is not the
 * command's length / does not match the counts in it), Invalid Input (a
 * reserved field or unknown flag bit is set, a policy is unknown, or a count
 * exceeds what the struct holds), or Resources Exhausted (an extent count
 * above MHSLD_MAX_EXTENTS in a request).  *out is written only on success.
 * encode(x, buf, cap, len): Success with *len bytes written, Invalid Input if
 * x is not valid (the same checks as decode), Internal Error if cap is too
 * small (nothing written).  Reserved bytes are written as zero.            */

#define MHSLD_MBOX_CODEC(name, type)                                                               \
    int mhsld_mbox_##name##_decode(const uint8_t *buf, size_t len, type *out);                    \
    int mhsld_mbox_##name##_encode(const type *in, uint8_t *buf, size_t cap, size_t *len)

MHSLD_MBOX_CODEC(mhd_info_in, mhsld_mbox_mhd_info_in);
MHSLD_MBOX_CODEC(mhd_info_out, mhsld_mbox_mhd_info_out);
MHSLD_MBOX_CODEC(head_info_in, mhsld_mbox_head_info_in);
MHSLD_MBOX_CODEC(head_info_out, mhsld_mbox_head_info_out);
MHSLD_MBOX_CODEC(dc_config_in, mhsld_mbox_dc_config_in);
MHSLD_MBOX_CODEC(dc_config_out, mhsld_mbox_dc_config_out);
MHSLD_MBOX_CODEC(dc_extents_in, mhsld_mbox_dc_extents_in);
MHSLD_MBOX_CODEC(dc_extents_out, mhsld_mbox_dc_extents_out);
MHSLD_MBOX_CODEC(dc_update_in, mhsld_mbox_dc_update_in);
MHSLD_MBOX_CODEC(dcd_info_out, mhsld_mbox_dcd_info_out);
MHSLD_MBOX_CODEC(host_region_cfg_in, mhsld_mbox_host_region_cfg_in);
MHSLD_MBOX_CODEC(host_region_cfg_out, mhsld_mbox_host_region_cfg_out);
MHSLD_MBOX_CODEC(set_region_cfg_in, mhsld_mbox_set_region_cfg_in);
MHSLD_MBOX_CODEC(region_extents_in, mhsld_mbox_region_extents_in);
MHSLD_MBOX_CODEC(region_extents_out, mhsld_mbox_region_extents_out);
MHSLD_MBOX_CODEC(dc_add_in, mhsld_mbox_dc_add_in);
MHSLD_MBOX_CODEC(dc_release_in, mhsld_mbox_dc_release_in);
MHSLD_MBOX_CODEC(dc_tag_ref_in, mhsld_mbox_dc_tag_ref_in);
MHSLD_MBOX_CODEC(dc_list_tags_in, mhsld_mbox_dc_list_tags_in);
MHSLD_MBOX_CODEC(dc_list_tags_out, mhsld_mbox_dc_list_tags_out);

#undef MHSLD_MBOX_CODEC

/* ---- dispatcher ------------------------------------------------------------ */

/* What the FM API asked of a host, for the device to turn into DC event
 * records (the engine itself raises no events). */
typedef enum mhsld_mbox_event_type {
    MHSLD_MBOX_EV_ADD = 1,             /* capacity reserved for host: offer it */
    MHSLD_MBOX_EV_ADD_SHARED = 2,      /* shared extents made accessible to host */
    MHSLD_MBOX_EV_RELEASE_REQUEST = 3, /* ask host to release (nothing changed yet) */
    MHSLD_MBOX_EV_FORCED_RELEASE = 4   /* capacity already taken from host */
} mhsld_mbox_event_type;

typedef struct mhsld_mbox_event {
    uint32_t type; /* mhsld_mbox_event_type */
    uint32_t host;
    uint64_t group; /* reservation (MHSLD_MBOX_EV_ADD), else 0 */
    size_t n;
    const mhsld_mbox_dc_extent *ext;
} mhsld_mbox_event;

typedef void (*mhsld_mbox_notify_fn)(void *opaque, const mhsld_mbox_event *ev);

/* Caller-owned memory that lets one Add Dynamic Capacity Response span
 * several 4802h commands (flags bit 0 "More"): the parts sent with More set
 * are validated and kept here, and the last part (More clear) commits them
 * all at once.  Zero it before first use; the dispatcher discards a partial
 * response left for a reservation that is no longer the oldest. */
typedef struct mhsld_mbox_accum {
    uint64_t group; /* reservation being answered; 0 = none */
    uint32_t n;     /* extents kept */
    mhsld_extent ext[MHSLD_MAX_EXTENTS];
} mhsld_mbox_accum;

/* The mailbox's view of a device.  Fill with mhsld_mbox_ctx_init(), then
 * adjust.  The first four members are fixed (the QEMU device relies on
 * them); later members may be added at the end: a caller built against an
 * older header passes a smaller `size` and gets the defaults for the rest. */
typedef struct mhsld_mbox_ctx {
    uint32_t size;   /* sizeof(mhsld_mbox_ctx) */
    mhsld_state *st; /* the device */
    mhsld_head *self; /* head whose host mailbox this is (48xxh; NULL = none) */
    /* heads the FM API (5604h/5605h) may act on; NULL = not attached in this
     * process (such a host gets Invalid Input) */
    mhsld_head *heads[MHSLD_MAX_HEADS];
    /* 5501h link configuration per head.  A head not attached by any process
     * reports a down link: negotiated width 0, current speed 0, LTSSM Detect. */
    mhsld_mbox_link link[MHSLD_MAX_HEADS];
    /* Extents a host may track, as 4800h/5601h report it (advisory: the engine
     * has no per-host extent limit). */
    uint32_t extents_supported;
    mhsld_mbox_notify_fn notify; /* optional */
    void *notify_opaque;
    /* optional; NULL: a 4802h with More set answers Unsupported */
    mhsld_mbox_accum *accum;
} mhsld_mbox_ctx;

/* Defaults: size, st, self (heads[self] = self), link[i] = port i, x16 of x16,
 * 2.5..64 GT/s supported, 64 GT/s max and current, L0, lane 0, flags 0;
 * extents_supported 1024; no notify; no accum. */
void mhsld_mbox_ctx_init(mhsld_mbox_ctx *ctx, mhsld_state *st, mhsld_head *self);

/* Execute one command.  in/in_len: the request payload; out/out_cap: where
 * the response payload goes (never more than out_cap bytes are written;
 * response lists are shortened to fit); *out_len: its length (0 on failure).
 * Returns the CXL return code.  Unknown opcode: Unsupported; wrong fixed
 * length: Invalid Payload Length; bad ctx or arguments, or out_cap below
 * the command's smallest response (mhsld_mbox_cmd_info.out_min): Internal
 * Error, before anything is decoded or executed.  No response is longer
 * than the command's out_max. */
int mhsld_mbox_execute(const mhsld_mbox_ctx *ctx, uint16_t opcode, const uint8_t *in,
                       size_t in_len, uint8_t *out, size_t out_cap, size_t *out_len);

/* Command effects, as a Command Effects Log (CEL) entry reports them (CXL
 * r3.1 8.2.9.5.2.1; the values of QEMU's CXL_MBOX_* effect bits). */
#define MHSLD_MBOX_EFFECT_CONFIG_CHANGE_COLD_RESET 0x0001u
#define MHSLD_MBOX_EFFECT_IMMEDIATE_CONFIG_CHANGE 0x0002u
#define MHSLD_MBOX_EFFECT_IMMEDIATE_DATA_CHANGE 0x0004u
#define MHSLD_MBOX_EFFECT_IMMEDIATE_POLICY_CHANGE 0x0008u
#define MHSLD_MBOX_EFFECT_IMMEDIATE_LOG_CHANGE 0x0010u
#define MHSLD_MBOX_EFFECT_SECURITY_STATE_CHANGE 0x0020u
#define MHSLD_MBOX_EFFECT_BACKGROUND_OPERATION 0x0040u
#define MHSLD_MBOX_EFFECT_CONFIG_CHANGE_CONV_RESET 0x0800u
#define MHSLD_MBOX_EFFECT_CONFIG_CHANGE_CXL_RESET 0x1000u
/* One CEL entry: opcode (2 bytes), effects (2 bytes), little-endian. */
#define MHSLD_MBOX_CEL_ENTRY_SIZE 4u

/* The command table, for devices that register the commands (and build
 * their CEL from it) and for tools.  Read-only. */
#define MHSLD_MBOX_VARIABLE SIZE_MAX
typedef struct mhsld_mbox_cmd_info {
    uint16_t opcode;
    const char *name;
    size_t in_len; /* fixed input length, or MHSLD_MBOX_VARIABLE */
    /* Variable input: in_min header bytes then records of in_elem bytes,
     * as many as the header's count says.  Fixed: in_min == in_len,
     * in_elem == 0. */
    size_t in_min;
    size_t in_elem;
    /* Output: the smallest response (out_cap below it: Internal Error,
     * nothing executed) and the largest one the command can produce; a list
     * that does not fit out_cap is shortened.  0, 0: no output. */
    size_t out_min;
    size_t out_max;
    uint16_t effects; /* MHSLD_MBOX_EFFECT_* */
} mhsld_mbox_cmd_info;

size_t mhsld_mbox_command_count(void);
/* i-th command (NULL if i >= count). */
const mhsld_mbox_cmd_info *mhsld_mbox_command_at(size_t i);
/* The command with this opcode, or NULL. */
const mhsld_mbox_cmd_info *mhsld_mbox_command(uint16_t opcode);
/* A copy of the command's entry: Success, Unsupported (no such command;
 * *info untouched) or Internal Error (info NULL). */
int mhsld_mbox_command_info(uint16_t opcode, mhsld_mbox_cmd_info *info);
/* The CEL entries of every command, in table order: Success with *len =
 * count * MHSLD_MBOX_CEL_ENTRY_SIZE bytes written, or Internal Error (cap
 * too small or a NULL argument; nothing written, *len 0). */
int mhsld_mbox_cel_encode(uint8_t *buf, size_t cap, size_t *len);

#ifdef __cplusplus
}
#endif
#endif /* MHSLD_MAILBOX_H */
