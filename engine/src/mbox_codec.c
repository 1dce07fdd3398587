/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Mailbox codec: CXL payload bytes <-> trusted structs.  Pure functions.
 *
 * How a decoder reads untrusted bytes:
 *   1. the length is compared with the command's header size before any
 *      field is read;
 *   2. a count read from the header is compared with what the received
 *      length can hold (by division, so nothing can overflow) and the
 *      length must then be exactly header + count * record;
 *   3. only then are records read, and every reserved byte and unknown flag
 *      bit is checked before the output struct is written at all.
 * Fields are read and written with mhsld_ld*()/mhsld_st*() at the offsetof()
 * positions of the wire structs in mailbox.h; no buffer is ever cast to a
 * struct.  Each encoder applies the decoder's checks to its input first, so
 * what it writes always decodes back to the same struct.
 */
#include <stdbool.h>
#include <string.h>

#include "mhsld/mailbox.h"

#define OFF(type, field) offsetof(type, field)

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != 0) {
            return false;
        }
    }
    return true;
}

/* Validate the length of a variable payload: hdr bytes then count records of
 * rec bytes, nothing more, nothing less. */
static int check_var_len(size_t len, size_t hdr, uint64_t count, size_t rec)
{
    if (len < hdr) {
        return MHSLD_CXL_INVALID_PAYLOAD_LENGTH;
    }
    if (count > (len - hdr) / rec) {
        return MHSLD_CXL_INVALID_PAYLOAD_LENGTH;
    }
    if (len != hdr + (size_t)count * rec) {
        return MHSLD_CXL_INVALID_PAYLOAD_LENGTH;
    }
    return MHSLD_CXL_SUCCESS;
}

static int begin_encode(const uint8_t *buf, size_t cap, size_t *len, size_t need)
{
    if (len == NULL || (buf == NULL && need > 0)) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    *len = 0;
    if (need > cap) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    return MHSLD_CXL_SUCCESS;
}

/* ---- DC extent (28h) ------------------------------------------------------ */

static bool dc_extent_ok(const uint8_t *p)
{
    return all_zero(p + OFF(mhsld_wire_dc_extent, rsvd), sizeof(((mhsld_wire_dc_extent *)0)->rsvd));
}

static void dc_extent_get(const uint8_t *p, mhsld_mbox_dc_extent *e)
{
    memset(e, 0, sizeof(*e)); /* padding too: decoded structs compare with memcmp */
    e->dpa = mhsld_ld64(p + OFF(mhsld_wire_dc_extent, start_dpa));
    e->len = mhsld_ld64(p + OFF(mhsld_wire_dc_extent, length));
    memcpy(e->tag, p + OFF(mhsld_wire_dc_extent, tag), MHSLD_TAG_SIZE);
    e->shared_seq = mhsld_ld16(p + OFF(mhsld_wire_dc_extent, shared_seq));
}

static void dc_extent_put(uint8_t *p, const mhsld_mbox_dc_extent *e)
{
    memset(p, 0, sizeof(mhsld_wire_dc_extent));
    mhsld_st64(p + OFF(mhsld_wire_dc_extent, start_dpa), e->dpa);
    mhsld_st64(p + OFF(mhsld_wire_dc_extent, length), e->len);
    memcpy(p + OFF(mhsld_wire_dc_extent, tag), e->tag, MHSLD_TAG_SIZE);
    mhsld_st16(p + OFF(mhsld_wire_dc_extent, shared_seq), e->shared_seq);
}

/* Decode `count` DC extents at p (length already checked). */
static int dc_extents_get(const uint8_t *p, uint32_t count, mhsld_mbox_dc_extent *ext)
{
    const size_t rec = sizeof(mhsld_wire_dc_extent);
    for (uint32_t i = 0; i < count; i++) {
        if (!dc_extent_ok(p + (size_t)i * rec)) {
            return MHSLD_CXL_INVALID_INPUT;
        }
    }
    for (uint32_t i = 0; i < count; i++) {
        dc_extent_get(p + (size_t)i * rec, &ext[i]);
    }
    return MHSLD_CXL_SUCCESS;
}

static void dc_extents_put(uint8_t *p, uint32_t count, const mhsld_mbox_dc_extent *ext)
{
    for (uint32_t i = 0; i < count; i++) {
        dc_extent_put(p + (size_t)i * sizeof(mhsld_wire_dc_extent), &ext[i]);
    }
}

/* ---- DC limits trailer (10h) ---------------------------------------------- */

static void limits_get(const uint8_t *p, mhsld_mbox_dc_limits *l)
{
    l->total_extents = mhsld_ld32(p + OFF(mhsld_wire_dc_limits, total_extents));
    l->avail_extents = mhsld_ld32(p + OFF(mhsld_wire_dc_limits, avail_extents));
    l->total_tags = mhsld_ld32(p + OFF(mhsld_wire_dc_limits, total_tags));
    l->avail_tags = mhsld_ld32(p + OFF(mhsld_wire_dc_limits, avail_tags));
}

static void limits_put(uint8_t *p, const mhsld_mbox_dc_limits *l)
{
    mhsld_st32(p + OFF(mhsld_wire_dc_limits, total_extents), l->total_extents);
    mhsld_st32(p + OFF(mhsld_wire_dc_limits, avail_extents), l->avail_extents);
    mhsld_st32(p + OFF(mhsld_wire_dc_limits, total_tags), l->total_tags);
    mhsld_st32(p + OFF(mhsld_wire_dc_limits, avail_tags), l->avail_tags);
}

/* ---- 5500h Get Multi-Headed Info ------------------------------------------ */

int mhsld_mbox_mhd_info_in_decode(const uint8_t *buf, size_t len, mhsld_mbox_mhd_info_in *out)
{
    if (len != sizeof(mhsld_wire_mhd_info_in)) {
        return MHSLD_CXL_INVALID_PAYLOAD_LENGTH;
    }
    if (buf == NULL || out == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    out->start_ld = buf[OFF(mhsld_wire_mhd_info_in, start_ld)];
    out->ld_map_limit = buf[OFF(mhsld_wire_mhd_info_in, ld_map_limit)];
    return MHSLD_CXL_SUCCESS;
}

int mhsld_mbox_mhd_info_in_encode(const mhsld_mbox_mhd_info_in *in, uint8_t *buf, size_t cap,
                                  size_t *len)
{
    int rc = begin_encode(buf, cap, len, sizeof(mhsld_wire_mhd_info_in));
    if (rc != MHSLD_CXL_SUCCESS || in == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    buf[OFF(mhsld_wire_mhd_info_in, start_ld)] = in->start_ld;
    buf[OFF(mhsld_wire_mhd_info_in, ld_map_limit)] = in->ld_map_limit;
    *len = sizeof(mhsld_wire_mhd_info_in);
    return MHSLD_CXL_SUCCESS;
}

int mhsld_mbox_mhd_info_out_decode(const uint8_t *buf, size_t len, mhsld_mbox_mhd_info_out *out)
{
    const size_t hdr = sizeof(mhsld_wire_mhd_info_out);
    if (len < hdr) {
        return MHSLD_CXL_INVALID_PAYLOAD_LENGTH;
    }
    if (buf == NULL || out == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    uint8_t n = buf[OFF(mhsld_wire_mhd_info_out, ld_map_len)];
    int rc = check_var_len(len, hdr, n, 1);
    if (rc != MHSLD_CXL_SUCCESS) {
        return rc;
    }
    if (!all_zero(buf + OFF(mhsld_wire_mhd_info_out, rsvd1), 2) ||
        !all_zero(buf + OFF(mhsld_wire_mhd_info_out, rsvd2), 2)) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    memset(out, 0, sizeof(*out));
    out->nr_lds = buf[OFF(mhsld_wire_mhd_info_out, nr_lds)];
    out->nr_heads = buf[OFF(mhsld_wire_mhd_info_out, nr_heads)];
    out->start_ld = buf[OFF(mhsld_wire_mhd_info_out, start_ld)];
    out->ld_map_len = n;
    memcpy(out->ld_map, buf + hdr, n);
    return MHSLD_CXL_SUCCESS;
}

int mhsld_mbox_mhd_info_out_encode(const mhsld_mbox_mhd_info_out *in, uint8_t *buf, size_t cap,
                                   size_t *len)
{
    if (in == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    const size_t hdr = sizeof(mhsld_wire_mhd_info_out);
    int rc = begin_encode(buf, cap, len, hdr + in->ld_map_len);
    if (rc != MHSLD_CXL_SUCCESS) {
        return rc;
    }
    memset(buf, 0, hdr);
    buf[OFF(mhsld_wire_mhd_info_out, nr_lds)] = in->nr_lds;
    buf[OFF(mhsld_wire_mhd_info_out, nr_heads)] = in->nr_heads;
    buf[OFF(mhsld_wire_mhd_info_out, start_ld)] = in->start_ld;
    buf[OFF(mhsld_wire_mhd_info_out, ld_map_len)] = in->ld_map_len;
    memcpy(buf + hdr, in->ld_map, in->ld_map_len);
    *len = hdr + in->ld_map_len;
    return MHSLD_CXL_SUCCESS;
}

/* ---- 5501h Get Head Info -------------------------------------------------- */

int mhsld_mbox_head_info_in_decode(const uint8_t *buf, size_t len, mhsld_mbox_head_info_in *out)
{
    if (len != sizeof(mhsld_wire_head_info_in)) {
        return MHSLD_CXL_INVALID_PAYLOAD_LENGTH;
    }
    if (buf == NULL || out == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    out->start_head = buf[OFF(mhsld_wire_head_info_in, start_head)];
    out->count = buf[OFF(mhsld_wire_head_info_in, count)];
    return MHSLD_CXL_SUCCESS;
}

int mhsld_mbox_head_info_in_encode(const mhsld_mbox_head_info_in *in, uint8_t *buf, size_t cap,
                                   size_t *len)
{
    int rc = begin_encode(buf, cap, len, sizeof(mhsld_wire_head_info_in));
    if (rc != MHSLD_CXL_SUCCESS || in == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    buf[OFF(mhsld_wire_head_info_in, start_head)] = in->start_head;
    buf[OFF(mhsld_wire_head_info_in, count)] = in->count;
    *len = sizeof(mhsld_wire_head_info_in);
    return MHSLD_CXL_SUCCESS;
}

static void link_get(const uint8_t *p, mhsld_mbox_link *l)
{
    l->port = p[OFF(mhsld_wire_head_block, port)];
    l->max_width = p[OFF(mhsld_wire_head_block, max_width)];
    l->neg_width = p[OFF(mhsld_wire_head_block, neg_width)];
    l->speeds = p[OFF(mhsld_wire_head_block, speeds)];
    l->max_speed = p[OFF(mhsld_wire_head_block, max_speed)];
    l->cur_speed = p[OFF(mhsld_wire_head_block, cur_speed)];
    l->ltssm = p[OFF(mhsld_wire_head_block, ltssm)];
    l->first_lane = p[OFF(mhsld_wire_head_block, first_lane)];
    l->flags = p[OFF(mhsld_wire_head_block, flags)];
}

static void link_put(uint8_t *p, const mhsld_mbox_link *l)
{
    p[OFF(mhsld_wire_head_block, port)] = l->port;
    p[OFF(mhsld_wire_head_block, max_width)] = l->max_width;
    p[OFF(mhsld_wire_head_block, neg_width)] = l->neg_width;
    p[OFF(mhsld_wire_head_block, speeds)] = l->speeds;
    p[OFF(mhsld_wire_head_block, max_speed)] = l->max_speed;
    p[OFF(mhsld_wire_head_block, cur_speed)] = l->cur_speed;
    p[OFF(mhsld_wire_head_block, ltssm)] = l->ltssm;
    p[OFF(mhsld_wire_head_block, first_lane)] = l->first_lane;
    p[OFF(mhsld_wire_head_block, flags)] = l->flags;
}

int mhsld_mbox_head_info_out_decode(const uint8_t *buf, size_t len, mhsld_mbox_head_info_out *out)
{
    const size_t hdr = sizeof(mhsld_wire_head_info_out);
    const size_t rec = sizeof(mhsld_wire_head_block);
    if (len < hdr) {
        return MHSLD_CXL_INVALID_PAYLOAD_LENGTH;
    }
    if (buf == NULL || out == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    uint8_t n = buf[OFF(mhsld_wire_head_info_out, count)];
    int rc = check_var_len(len, hdr, n, rec);
    if (rc != MHSLD_CXL_SUCCESS) {
        return rc;
    }
    if (!all_zero(buf + OFF(mhsld_wire_head_info_out, rsvd), 3)) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    memset(out, 0, sizeof(*out));
    out->count = n;
    for (size_t i = 0; i < n; i++) {
        link_get(buf + hdr + i * rec, &out->head[i]);
    }
    return MHSLD_CXL_SUCCESS;
}

int mhsld_mbox_head_info_out_encode(const mhsld_mbox_head_info_out *in, uint8_t *buf, size_t cap,
                                    size_t *len)
{
    if (in == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    const size_t hdr = sizeof(mhsld_wire_head_info_out);
    const size_t rec = sizeof(mhsld_wire_head_block);
    int rc = begin_encode(buf, cap, len, hdr + (size_t)in->count * rec);
    if (rc != MHSLD_CXL_SUCCESS) {
        return rc;
    }
    memset(buf, 0, hdr);
    buf[OFF(mhsld_wire_head_info_out, count)] = in->count;
    for (size_t i = 0; i < in->count; i++) {
        link_put(buf + hdr + i * rec, &in->head[i]);
    }
    *len = hdr + (size_t)in->count * rec;
    return MHSLD_CXL_SUCCESS;
}

/* ---- 4800h Get Dynamic Capacity Configuration ----------------------------- */

int mhsld_mbox_dc_config_in_decode(const uint8_t *buf, size_t len, mhsld_mbox_dc_config_in *out)
{
    if (len != sizeof(mhsld_wire_dc_config_in)) {
        return MHSLD_CXL_INVALID_PAYLOAD_LENGTH;
    }
    if (buf == NULL || out == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    out->region_count = buf[OFF(mhsld_wire_dc_config_in, region_count)];
    out->start_region = buf[OFF(mhsld_wire_dc_config_in, start_region)];
    return MHSLD_CXL_SUCCESS;
}

int mhsld_mbox_dc_config_in_encode(const mhsld_mbox_dc_config_in *in, uint8_t *buf, size_t cap,
                                   size_t *len)
{
    int rc = begin_encode(buf, cap, len, sizeof(mhsld_wire_dc_config_in));
    if (rc != MHSLD_CXL_SUCCESS || in == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    buf[OFF(mhsld_wire_dc_config_in, region_count)] = in->region_count;
    buf[OFF(mhsld_wire_dc_config_in, start_region)] = in->start_region;
    *len = sizeof(mhsld_wire_dc_config_in);
    return MHSLD_CXL_SUCCESS;
}

int mhsld_mbox_dc_config_out_decode(const uint8_t *buf, size_t len, mhsld_mbox_dc_config_out *out)
{
    const size_t hdr = sizeof(mhsld_wire_dc_config_out);
    const size_t rec = sizeof(mhsld_wire_dc_region);
    const size_t tail = sizeof(mhsld_wire_dc_limits);
    if (len < hdr + tail) {
        return MHSLD_CXL_INVALID_PAYLOAD_LENGTH;
    }
    if (buf == NULL || out == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    uint8_t n = buf[OFF(mhsld_wire_dc_config_out, returned)];
    int rc = check_var_len(len - tail, hdr, n, rec);
    if (rc != MHSLD_CXL_SUCCESS) {
        return rc;
    }
    if (n > MHSLD_MBOX_DC_REGIONS) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    if (!all_zero(buf + OFF(mhsld_wire_dc_config_out, rsvd), 6)) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = buf + hdr + i * rec;
        if (!all_zero(p + OFF(mhsld_wire_dc_region, rsvd), 3) ||
            (p[OFF(mhsld_wire_dc_region, flags)] & ~MHSLD_MBOX_REGION_SANITIZE) != 0) {
            return MHSLD_CXL_INVALID_INPUT;
        }
    }
    memset(out, 0, sizeof(*out));
    out->avail_regions = buf[OFF(mhsld_wire_dc_config_out, avail_regions)];
    out->returned = n;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = buf + hdr + i * rec;
        mhsld_mbox_dc_region *r = &out->region[i];
        r->base = mhsld_ld64(p + OFF(mhsld_wire_dc_region, base));
        r->decode_len = mhsld_ld64(p + OFF(mhsld_wire_dc_region, decode_len));
        r->len = mhsld_ld64(p + OFF(mhsld_wire_dc_region, length));
        r->block_size = mhsld_ld64(p + OFF(mhsld_wire_dc_region, block_size));
        r->dsmad_handle = mhsld_ld32(p + OFF(mhsld_wire_dc_region, dsmad_handle));
        r->flags = p[OFF(mhsld_wire_dc_region, flags)];
    }
    limits_get(buf + hdr + (size_t)n * rec, &out->limits);
    return MHSLD_CXL_SUCCESS;
}

int mhsld_mbox_dc_config_out_encode(const mhsld_mbox_dc_config_out *in, uint8_t *buf, size_t cap,
                                    size_t *len)
{
    if (in == NULL || len == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    *len = 0;
    if (in->returned > MHSLD_MBOX_DC_REGIONS) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    for (size_t i = 0; i < in->returned; i++) {
        if ((in->region[i].flags & ~MHSLD_MBOX_REGION_SANITIZE) != 0) {
            return MHSLD_CXL_INVALID_INPUT;
        }
    }
    const size_t hdr = sizeof(mhsld_wire_dc_config_out);
    const size_t rec = sizeof(mhsld_wire_dc_region);
    const size_t need = hdr + in->returned * rec + sizeof(mhsld_wire_dc_limits);
    int rc = begin_encode(buf, cap, len, need);
    if (rc != MHSLD_CXL_SUCCESS) {
        return rc;
    }
    memset(buf, 0, need);
    buf[OFF(mhsld_wire_dc_config_out, avail_regions)] = in->avail_regions;
    buf[OFF(mhsld_wire_dc_config_out, returned)] = in->returned;
    for (size_t i = 0; i < in->returned; i++) {
        uint8_t *p = buf + hdr + i * rec;
        const mhsld_mbox_dc_region *r = &in->region[i];
        mhsld_st64(p + OFF(mhsld_wire_dc_region, base), r->base);
        mhsld_st64(p + OFF(mhsld_wire_dc_region, decode_len), r->decode_len);
        mhsld_st64(p + OFF(mhsld_wire_dc_region, length), r->len);
        mhsld_st64(p + OFF(mhsld_wire_dc_region, block_size), r->block_size);
        mhsld_st32(p + OFF(mhsld_wire_dc_region, dsmad_handle), r->dsmad_handle);
        p[OFF(mhsld_wire_dc_region, flags)] = r->flags;
    }
    limits_put(buf + hdr + in->returned * rec, &in->limits);
    *len = need;
    return MHSLD_CXL_SUCCESS;
}

/* ---- 4801h Get Dynamic Capacity Extent List ------------------------------- */

int mhsld_mbox_dc_extents_in_decode(const uint8_t *buf, size_t len, mhsld_mbox_dc_extents_in *out)
{
    if (len != sizeof(mhsld_wire_dc_extents_in)) {
        return MHSLD_CXL_INVALID_PAYLOAD_LENGTH;
    }
    if (buf == NULL || out == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    out->count = mhsld_ld32(buf + OFF(mhsld_wire_dc_extents_in, count));
    out->start = mhsld_ld32(buf + OFF(mhsld_wire_dc_extents_in, start));
    return MHSLD_CXL_SUCCESS;
}

int mhsld_mbox_dc_extents_in_encode(const mhsld_mbox_dc_extents_in *in, uint8_t *buf, size_t cap,
                                    size_t *len)
{
    int rc = begin_encode(buf, cap, len, sizeof(mhsld_wire_dc_extents_in));
    if (rc != MHSLD_CXL_SUCCESS || in == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    mhsld_st32(buf + OFF(mhsld_wire_dc_extents_in, count), in->count);
    mhsld_st32(buf + OFF(mhsld_wire_dc_extents_in, start), in->start);
    *len = sizeof(mhsld_wire_dc_extents_in);
    return MHSLD_CXL_SUCCESS;
}

int mhsld_mbox_dc_extents_out_decode(const uint8_t *buf, size_t len,
                                     mhsld_mbox_dc_extents_out *out)
{
    const size_t hdr = sizeof(mhsld_wire_dc_extents_out);
    if (len < hdr) {
        return MHSLD_CXL_INVALID_PAYLOAD_LENGTH;
    }
    if (buf == NULL || out == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    uint32_t n = mhsld_ld32(buf + OFF(mhsld_wire_dc_extents_out, returned));
    int rc = check_var_len(len, hdr, n, sizeof(mhsld_wire_dc_extent));
    if (rc != MHSLD_CXL_SUCCESS) {
        return rc;
    }
    if (n > MHSLD_MBOX_LIST_MAX) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    if (!all_zero(buf + OFF(mhsld_wire_dc_extents_out, rsvd), 4)) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    mhsld_mbox_dc_extent ext[MHSLD_MBOX_LIST_MAX];
    rc = dc_extents_get(buf + hdr, n, ext);
    if (rc != MHSLD_CXL_SUCCESS) {
        return rc;
    }
    memset(out, 0, sizeof(*out));
    out->returned = n;
    out->total = mhsld_ld32(buf + OFF(mhsld_wire_dc_extents_out, total));
    out->generation = mhsld_ld32(buf + OFF(mhsld_wire_dc_extents_out, generation));
    memcpy(out->ext, ext, (size_t)n * sizeof(ext[0]));
    return MHSLD_CXL_SUCCESS;
}

int mhsld_mbox_dc_extents_out_encode(const mhsld_mbox_dc_extents_out *in, uint8_t *buf,
                                     size_t cap, size_t *len)
{
    if (in == NULL || len == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    *len = 0;
    if (in->returned > MHSLD_MBOX_LIST_MAX) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    const size_t hdr = sizeof(mhsld_wire_dc_extents_out);
    const size_t need = hdr + (size_t)in->returned * sizeof(mhsld_wire_dc_extent);
    int rc = begin_encode(buf, cap, len, need);
    if (rc != MHSLD_CXL_SUCCESS) {
        return rc;
    }
    memset(buf, 0, hdr);
    mhsld_st32(buf + OFF(mhsld_wire_dc_extents_out, returned), in->returned);
    mhsld_st32(buf + OFF(mhsld_wire_dc_extents_out, total), in->total);
    mhsld_st32(buf + OFF(mhsld_wire_dc_extents_out, generation), in->generation);
    dc_extents_put(buf + hdr, in->returned, in->ext);
    *len = need;
    return MHSLD_CXL_SUCCESS;
}

/* ---- 4802h Add DC Response / 4803h Release DC ----------------------------- */

int mhsld_mbox_dc_update_in_decode(const uint8_t *buf, size_t len, mhsld_mbox_dc_update_in *out)
{
    const size_t hdr = sizeof(mhsld_wire_dc_update_in);
    const size_t rec = sizeof(mhsld_wire_updated_extent);
    if (len < hdr) {
        return MHSLD_CXL_INVALID_PAYLOAD_LENGTH;
    }
    if (buf == NULL || out == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    uint32_t n = mhsld_ld32(buf + OFF(mhsld_wire_dc_update_in, count));
    int rc = check_var_len(len, hdr, n, rec);
    if (rc != MHSLD_CXL_SUCCESS) {
        return rc;
    }
    if (n > MHSLD_MAX_EXTENTS) {
        return MHSLD_CXL_RESOURCES_EXHAUSTED;
    }
    uint8_t flags = buf[OFF(mhsld_wire_dc_update_in, flags)];
    if ((flags & ~MHSLD_MBOX_UPDATE_MORE) != 0 ||
        !all_zero(buf + OFF(mhsld_wire_dc_update_in, rsvd), 3)) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    for (size_t i = 0; i < n; i++) {
        if (!all_zero(buf + hdr + i * rec + OFF(mhsld_wire_updated_extent, rsvd), 8)) {
            return MHSLD_CXL_INVALID_INPUT;
        }
    }
    out->count = n;
    out->flags = flags;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = buf + hdr + i * rec;
        out->ext[i].dpa = mhsld_ld64(p + OFF(mhsld_wire_updated_extent, start_dpa));
        out->ext[i].len = mhsld_ld64(p + OFF(mhsld_wire_updated_extent, length));
    }
    for (size_t i = n; i < MHSLD_MAX_EXTENTS; i++) {
        out->ext[i].dpa = 0;
        out->ext[i].len = 0;
    }
    return MHSLD_CXL_SUCCESS;
}

int mhsld_mbox_dc_update_in_encode(const mhsld_mbox_dc_update_in *in, uint8_t *buf, size_t cap,
                                   size_t *len)
{
    if (in == NULL || len == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    *len = 0;
    if (in->count > MHSLD_MAX_EXTENTS || (in->flags & ~MHSLD_MBOX_UPDATE_MORE) != 0) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    const size_t hdr = sizeof(mhsld_wire_dc_update_in);
    const size_t rec = sizeof(mhsld_wire_updated_extent);
    const size_t need = hdr + (size_t)in->count * rec;
    int rc = begin_encode(buf, cap, len, need);
    if (rc != MHSLD_CXL_SUCCESS) {
        return rc;
    }
    memset(buf, 0, need);
    mhsld_st32(buf + OFF(mhsld_wire_dc_update_in, count), in->count);
    buf[OFF(mhsld_wire_dc_update_in, flags)] = in->flags;
    for (size_t i = 0; i < in->count; i++) {
        uint8_t *p = buf + hdr + i * rec;
        mhsld_st64(p + OFF(mhsld_wire_updated_extent, start_dpa), in->ext[i].dpa);
        mhsld_st64(p + OFF(mhsld_wire_updated_extent, length), in->ext[i].len);
    }
    *len = need;
    return MHSLD_CXL_SUCCESS;
}

/* ---- 5600h Get DCD Info ----------------------------------------------------- */

int mhsld_mbox_dcd_info_out_decode(const uint8_t *buf, size_t len, mhsld_mbox_dcd_info_out *out)
{
    if (len != sizeof(mhsld_wire_dcd_info_out)) {
        return MHSLD_CXL_INVALID_PAYLOAD_LENGTH;
    }
    if (buf == NULL || out == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    if (!all_zero(buf + OFF(mhsld_wire_dcd_info_out, rsvd1), 2) ||
        !all_zero(buf + OFF(mhsld_wire_dcd_info_out, rsvd2), 2) ||
        buf[OFF(mhsld_wire_dcd_info_out, rsvd3)] != 0) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    memset(out, 0, sizeof(*out));
    out->nr_hosts = buf[OFF(mhsld_wire_dcd_info_out, nr_hosts)];
    out->nr_regions = buf[OFF(mhsld_wire_dcd_info_out, nr_regions)];
    out->add_policies = mhsld_ld16(buf + OFF(mhsld_wire_dcd_info_out, add_policies));
    out->release_policies = mhsld_ld16(buf + OFF(mhsld_wire_dcd_info_out, release_policies));
    out->sanitize_mask = buf[OFF(mhsld_wire_dcd_info_out, sanitize_mask)];
    out->total_capacity = mhsld_ld64(buf + OFF(mhsld_wire_dcd_info_out, total_capacity));
    for (size_t i = 0; i < MHSLD_MBOX_DC_REGIONS; i++) {
        out->block_size_mask[i] =
            mhsld_ld64(buf + OFF(mhsld_wire_dcd_info_out, block_size_mask) + 8 * i);
    }
    return MHSLD_CXL_SUCCESS;
}

int mhsld_mbox_dcd_info_out_encode(const mhsld_mbox_dcd_info_out *in, uint8_t *buf, size_t cap,
                                   size_t *len)
{
    const size_t need = sizeof(mhsld_wire_dcd_info_out);
    int rc = begin_encode(buf, cap, len, need);
    if (rc != MHSLD_CXL_SUCCESS || in == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    memset(buf, 0, need);
    buf[OFF(mhsld_wire_dcd_info_out, nr_hosts)] = in->nr_hosts;
    buf[OFF(mhsld_wire_dcd_info_out, nr_regions)] = in->nr_regions;
    mhsld_st16(buf + OFF(mhsld_wire_dcd_info_out, add_policies), in->add_policies);
    mhsld_st16(buf + OFF(mhsld_wire_dcd_info_out, release_policies), in->release_policies);
    buf[OFF(mhsld_wire_dcd_info_out, sanitize_mask)] = in->sanitize_mask;
    mhsld_st64(buf + OFF(mhsld_wire_dcd_info_out, total_capacity), in->total_capacity);
    for (size_t i = 0; i < MHSLD_MBOX_DC_REGIONS; i++) {
        mhsld_st64(buf + OFF(mhsld_wire_dcd_info_out, block_size_mask) + 8 * i,
                   in->block_size_mask[i]);
    }
    *len = need;
    return MHSLD_CXL_SUCCESS;
}

/* ---- 5601h Get Host DC Region Configuration -------------------------------- */

int mhsld_mbox_host_region_cfg_in_decode(const uint8_t *buf, size_t len,
                                         mhsld_mbox_host_region_cfg_in *out)
{
    if (len != sizeof(mhsld_wire_host_region_cfg_in)) {
        return MHSLD_CXL_INVALID_PAYLOAD_LENGTH;
    }
    if (buf == NULL || out == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    out->host = mhsld_ld16(buf + OFF(mhsld_wire_host_region_cfg_in, host));
    out->region_count = buf[OFF(mhsld_wire_host_region_cfg_in, region_count)];
    out->start_region = buf[OFF(mhsld_wire_host_region_cfg_in, start_region)];
    return MHSLD_CXL_SUCCESS;
}

int mhsld_mbox_host_region_cfg_in_encode(const mhsld_mbox_host_region_cfg_in *in, uint8_t *buf,
                                         size_t cap, size_t *len)
{
    int rc = begin_encode(buf, cap, len, sizeof(mhsld_wire_host_region_cfg_in));
    if (rc != MHSLD_CXL_SUCCESS || in == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    mhsld_st16(buf + OFF(mhsld_wire_host_region_cfg_in, host), in->host);
    buf[OFF(mhsld_wire_host_region_cfg_in, region_count)] = in->region_count;
    buf[OFF(mhsld_wire_host_region_cfg_in, start_region)] = in->start_region;
    *len = sizeof(mhsld_wire_host_region_cfg_in);
    return MHSLD_CXL_SUCCESS;
}

int mhsld_mbox_host_region_cfg_out_decode(const uint8_t *buf, size_t len,
                                          mhsld_mbox_host_region_cfg_out *out)
{
    const size_t hdr = sizeof(mhsld_wire_host_region_cfg_out);
    const size_t rec = sizeof(mhsld_wire_host_region);
    const size_t tail = sizeof(mhsld_wire_dc_limits);
    if (len < hdr + tail) {
        return MHSLD_CXL_INVALID_PAYLOAD_LENGTH;
    }
    if (buf == NULL || out == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    uint8_t n = buf[OFF(mhsld_wire_host_region_cfg_out, returned)];
    int rc = check_var_len(len - tail, hdr, n, rec);
    if (rc != MHSLD_CXL_SUCCESS) {
        return rc;
    }
    if (n > MHSLD_MBOX_DC_REGIONS) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = buf + hdr + i * rec;
        if (!all_zero(p + OFF(mhsld_wire_host_region, rsvd1), 3) ||
            !all_zero(p + OFF(mhsld_wire_host_region, rsvd2), 3) ||
            (p[OFF(mhsld_wire_host_region, sanitize)] & ~MHSLD_MBOX_REGION_SANITIZE) != 0) {
            return MHSLD_CXL_INVALID_INPUT;
        }
    }
    memset(out, 0, sizeof(*out));
    out->host = mhsld_ld16(buf + OFF(mhsld_wire_host_region_cfg_out, host));
    out->nr_regions = buf[OFF(mhsld_wire_host_region_cfg_out, nr_regions)];
    out->returned = n;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = buf + hdr + i * rec;
        mhsld_mbox_host_region *r = &out->region[i];
        r->base = mhsld_ld64(p + OFF(mhsld_wire_host_region, base));
        r->decode_len = mhsld_ld64(p + OFF(mhsld_wire_host_region, decode_len));
        r->len = mhsld_ld64(p + OFF(mhsld_wire_host_region, length));
        r->block_size = mhsld_ld64(p + OFF(mhsld_wire_host_region, block_size));
        r->flags = p[OFF(mhsld_wire_host_region, flags)];
        r->sanitize = p[OFF(mhsld_wire_host_region, sanitize)];
    }
    limits_get(buf + hdr + (size_t)n * rec, &out->limits);
    return MHSLD_CXL_SUCCESS;
}

int mhsld_mbox_host_region_cfg_out_encode(const mhsld_mbox_host_region_cfg_out *in, uint8_t *buf,
                                          size_t cap, size_t *len)
{
    if (in == NULL || len == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    *len = 0;
    if (in->returned > MHSLD_MBOX_DC_REGIONS) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    for (size_t i = 0; i < in->returned; i++) {
        if ((in->region[i].sanitize & ~MHSLD_MBOX_REGION_SANITIZE) != 0) {
            return MHSLD_CXL_INVALID_INPUT;
        }
    }
    const size_t hdr = sizeof(mhsld_wire_host_region_cfg_out);
    const size_t rec = sizeof(mhsld_wire_host_region);
    const size_t need = hdr + in->returned * rec + sizeof(mhsld_wire_dc_limits);
    int rc = begin_encode(buf, cap, len, need);
    if (rc != MHSLD_CXL_SUCCESS) {
        return rc;
    }
    memset(buf, 0, need);
    mhsld_st16(buf + OFF(mhsld_wire_host_region_cfg_out, host), in->host);
    buf[OFF(mhsld_wire_host_region_cfg_out, nr_regions)] = in->nr_regions;
    buf[OFF(mhsld_wire_host_region_cfg_out, returned)] = in->returned;
    for (size_t i = 0; i < in->returned; i++) {
        uint8_t *p = buf + hdr + i * rec;
        const mhsld_mbox_host_region *r = &in->region[i];
        mhsld_st64(p + OFF(mhsld_wire_host_region, base), r->base);
        mhsld_st64(p + OFF(mhsld_wire_host_region, decode_len), r->decode_len);
        mhsld_st64(p + OFF(mhsld_wire_host_region, length), r->len);
        mhsld_st64(p + OFF(mhsld_wire_host_region, block_size), r->block_size);
        p[OFF(mhsld_wire_host_region, flags)] = r->flags;
        p[OFF(mhsld_wire_host_region, sanitize)] = r->sanitize;
    }
    limits_put(buf + hdr + in->returned * rec, &in->limits);
    *len = need;
    return MHSLD_CXL_SUCCESS;
}

/* ---- 5602h Set DC Region Configuration ------------------------------------- */

int mhsld_mbox_set_region_cfg_in_decode(const uint8_t *buf, size_t len,
                                        mhsld_mbox_set_region_cfg_in *out)
{
    if (len != sizeof(mhsld_wire_set_region_cfg_in)) {
        return MHSLD_CXL_INVALID_PAYLOAD_LENGTH;
    }
    if (buf == NULL || out == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    uint8_t flags = buf[OFF(mhsld_wire_set_region_cfg_in, flags)];
    if (!all_zero(buf + OFF(mhsld_wire_set_region_cfg_in, rsvd1), 3) ||
        !all_zero(buf + OFF(mhsld_wire_set_region_cfg_in, rsvd2), 3) ||
        (flags & ~MHSLD_MBOX_REGION_SANITIZE) != 0) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    out->region = buf[OFF(mhsld_wire_set_region_cfg_in, region)];
    out->block_size = mhsld_ld64(buf + OFF(mhsld_wire_set_region_cfg_in, block_size));
    out->flags = flags;
    return MHSLD_CXL_SUCCESS;
}

int mhsld_mbox_set_region_cfg_in_encode(const mhsld_mbox_set_region_cfg_in *in, uint8_t *buf,
                                        size_t cap, size_t *len)
{
    if (in == NULL || len == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    *len = 0;
    if ((in->flags & ~MHSLD_MBOX_REGION_SANITIZE) != 0) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    const size_t need = sizeof(mhsld_wire_set_region_cfg_in);
    int rc = begin_encode(buf, cap, len, need);
    if (rc != MHSLD_CXL_SUCCESS) {
        return rc;
    }
    memset(buf, 0, need);
    buf[OFF(mhsld_wire_set_region_cfg_in, region)] = in->region;
    mhsld_st64(buf + OFF(mhsld_wire_set_region_cfg_in, block_size), in->block_size);
    buf[OFF(mhsld_wire_set_region_cfg_in, flags)] = in->flags;
    *len = need;
    return MHSLD_CXL_SUCCESS;
}

/* ---- 5603h Get DC Region Extent Lists -------------------------------------- */

int mhsld_mbox_region_extents_in_decode(const uint8_t *buf, size_t len,
                                        mhsld_mbox_region_extents_in *out)
{
    if (len != sizeof(mhsld_wire_region_extents_in)) {
        return MHSLD_CXL_INVALID_PAYLOAD_LENGTH;
    }
    if (buf == NULL || out == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    if (!all_zero(buf + OFF(mhsld_wire_region_extents_in, rsvd), 2)) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    out->host = mhsld_ld16(buf + OFF(mhsld_wire_region_extents_in, host));
    out->count = mhsld_ld32(buf + OFF(mhsld_wire_region_extents_in, count));
    out->start = mhsld_ld32(buf + OFF(mhsld_wire_region_extents_in, start));
    return MHSLD_CXL_SUCCESS;
}

int mhsld_mbox_region_extents_in_encode(const mhsld_mbox_region_extents_in *in, uint8_t *buf,
                                        size_t cap, size_t *len)
{
    const size_t need = sizeof(mhsld_wire_region_extents_in);
    int rc = begin_encode(buf, cap, len, need);
    if (rc != MHSLD_CXL_SUCCESS || in == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    memset(buf, 0, need);
    mhsld_st16(buf + OFF(mhsld_wire_region_extents_in, host), in->host);
    mhsld_st32(buf + OFF(mhsld_wire_region_extents_in, count), in->count);
    mhsld_st32(buf + OFF(mhsld_wire_region_extents_in, start), in->start);
    *len = need;
    return MHSLD_CXL_SUCCESS;
}

int mhsld_mbox_region_extents_out_decode(const uint8_t *buf, size_t len,
                                         mhsld_mbox_region_extents_out *out)
{
    const size_t hdr = sizeof(mhsld_wire_region_extents_out);
    if (len < hdr) {
        return MHSLD_CXL_INVALID_PAYLOAD_LENGTH;
    }
    if (buf == NULL || out == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    uint32_t n = mhsld_ld32(buf + OFF(mhsld_wire_region_extents_out, returned));
    int rc = check_var_len(len, hdr, n, sizeof(mhsld_wire_dc_extent));
    if (rc != MHSLD_CXL_SUCCESS) {
        return rc;
    }
    if (n > MHSLD_MBOX_LIST_MAX) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    if (!all_zero(buf + OFF(mhsld_wire_region_extents_out, rsvd1), 2) ||
        !all_zero(buf + OFF(mhsld_wire_region_extents_out, rsvd2), 4)) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    mhsld_mbox_dc_extent ext[MHSLD_MBOX_LIST_MAX];
    rc = dc_extents_get(buf + hdr, n, ext);
    if (rc != MHSLD_CXL_SUCCESS) {
        return rc;
    }
    memset(out, 0, sizeof(*out));
    out->host = mhsld_ld16(buf + OFF(mhsld_wire_region_extents_out, host));
    out->start = mhsld_ld32(buf + OFF(mhsld_wire_region_extents_out, start));
    out->returned = n;
    out->total = mhsld_ld32(buf + OFF(mhsld_wire_region_extents_out, total));
    out->generation = mhsld_ld32(buf + OFF(mhsld_wire_region_extents_out, generation));
    memcpy(out->ext, ext, (size_t)n * sizeof(ext[0]));
    return MHSLD_CXL_SUCCESS;
}

int mhsld_mbox_region_extents_out_encode(const mhsld_mbox_region_extents_out *in, uint8_t *buf,
                                         size_t cap, size_t *len)
{
    if (in == NULL || len == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    *len = 0;
    if (in->returned > MHSLD_MBOX_LIST_MAX) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    const size_t hdr = sizeof(mhsld_wire_region_extents_out);
    const size_t need = hdr + (size_t)in->returned * sizeof(mhsld_wire_dc_extent);
    int rc = begin_encode(buf, cap, len, need);
    if (rc != MHSLD_CXL_SUCCESS) {
        return rc;
    }
    memset(buf, 0, hdr);
    mhsld_st16(buf + OFF(mhsld_wire_region_extents_out, host), in->host);
    mhsld_st32(buf + OFF(mhsld_wire_region_extents_out, start), in->start);
    mhsld_st32(buf + OFF(mhsld_wire_region_extents_out, returned), in->returned);
    mhsld_st32(buf + OFF(mhsld_wire_region_extents_out, total), in->total);
    mhsld_st32(buf + OFF(mhsld_wire_region_extents_out, generation), in->generation);
    dc_extents_put(buf + hdr, in->returned, in->ext);
    *len = need;
    return MHSLD_CXL_SUCCESS;
}

/* ---- 5604h Initiate Dynamic Capacity Add ------------------------------------ */

int mhsld_mbox_dc_add_in_decode(const uint8_t *buf, size_t len, mhsld_mbox_dc_add_in *out)
{
    const size_t hdr = sizeof(mhsld_wire_dc_add_in);
    if (len < hdr) {
        return MHSLD_CXL_INVALID_PAYLOAD_LENGTH;
    }
    if (buf == NULL || out == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    uint32_t n = mhsld_ld32(buf + OFF(mhsld_wire_dc_add_in, count));
    int rc = check_var_len(len, hdr, n, sizeof(mhsld_wire_dc_extent));
    if (rc != MHSLD_CXL_SUCCESS) {
        return rc;
    }
    if (n > MHSLD_MAX_EXTENTS) {
        return MHSLD_CXL_RESOURCES_EXHAUSTED;
    }
    uint8_t policy = buf[OFF(mhsld_wire_dc_add_in, policy)];
    if (policy > MHSLD_MBOX_POLICY_SHARED) { /* also rejects reserved bits 7:4 */
        return MHSLD_CXL_INVALID_INPUT;
    }
    mhsld_mbox_dc_extent ext[MHSLD_MAX_EXTENTS];
    rc = dc_extents_get(buf + hdr, n, ext);
    if (rc != MHSLD_CXL_SUCCESS) {
        return rc;
    }
    memset(out, 0, sizeof(*out));
    out->host = mhsld_ld16(buf + OFF(mhsld_wire_dc_add_in, host));
    out->policy = policy;
    out->region = buf[OFF(mhsld_wire_dc_add_in, region)];
    out->length = mhsld_ld64(buf + OFF(mhsld_wire_dc_add_in, length));
    memcpy(out->tag, buf + OFF(mhsld_wire_dc_add_in, tag), MHSLD_TAG_SIZE);
    out->count = n;
    memcpy(out->ext, ext, (size_t)n * sizeof(ext[0]));
    return MHSLD_CXL_SUCCESS;
}

int mhsld_mbox_dc_add_in_encode(const mhsld_mbox_dc_add_in *in, uint8_t *buf, size_t cap,
                                size_t *len)
{
    if (in == NULL || len == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    *len = 0;
    if (in->count > MHSLD_MAX_EXTENTS || in->policy > MHSLD_MBOX_POLICY_SHARED) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    const size_t hdr = sizeof(mhsld_wire_dc_add_in);
    const size_t need = hdr + (size_t)in->count * sizeof(mhsld_wire_dc_extent);
    int rc = begin_encode(buf, cap, len, need);
    if (rc != MHSLD_CXL_SUCCESS) {
        return rc;
    }
    memset(buf, 0, hdr);
    mhsld_st16(buf + OFF(mhsld_wire_dc_add_in, host), in->host);
    buf[OFF(mhsld_wire_dc_add_in, policy)] = in->policy;
    buf[OFF(mhsld_wire_dc_add_in, region)] = in->region;
    mhsld_st64(buf + OFF(mhsld_wire_dc_add_in, length), in->length);
    memcpy(buf + OFF(mhsld_wire_dc_add_in, tag), in->tag, MHSLD_TAG_SIZE);
    mhsld_st32(buf + OFF(mhsld_wire_dc_add_in, count), in->count);
    dc_extents_put(buf + hdr, in->count, in->ext);
    *len = need;
    return MHSLD_CXL_SUCCESS;
}

/* ---- 5605h Initiate Dynamic Capacity Release -------------------------------- */

static bool release_flags_ok(uint8_t flags)
{
    const uint8_t known = (uint8_t)(MHSLD_MBOX_RELEASE_POLICY_MASK | MHSLD_MBOX_RELEASE_FORCED |
                                    MHSLD_MBOX_RELEASE_SANITIZE);
    return (flags & ~known) == 0 &&
           (flags & MHSLD_MBOX_RELEASE_POLICY_MASK) <= MHSLD_MBOX_REMOVAL_PRESCRIPTIVE;
}

int mhsld_mbox_dc_release_in_decode(const uint8_t *buf, size_t len, mhsld_mbox_dc_release_in *out)
{
    const size_t hdr = sizeof(mhsld_wire_dc_release_in);
    if (len < hdr) {
        return MHSLD_CXL_INVALID_PAYLOAD_LENGTH;
    }
    if (buf == NULL || out == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    uint32_t n = mhsld_ld32(buf + OFF(mhsld_wire_dc_release_in, count));
    int rc = check_var_len(len, hdr, n, sizeof(mhsld_wire_dc_extent));
    if (rc != MHSLD_CXL_SUCCESS) {
        return rc;
    }
    if (n > MHSLD_MAX_EXTENTS) {
        return MHSLD_CXL_RESOURCES_EXHAUSTED;
    }
    uint8_t flags = buf[OFF(mhsld_wire_dc_release_in, flags)];
    if (!release_flags_ok(flags) || buf[OFF(mhsld_wire_dc_release_in, rsvd)] != 0) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    mhsld_mbox_dc_extent ext[MHSLD_MAX_EXTENTS];
    rc = dc_extents_get(buf + hdr, n, ext);
    if (rc != MHSLD_CXL_SUCCESS) {
        return rc;
    }
    memset(out, 0, sizeof(*out));
    out->host = mhsld_ld16(buf + OFF(mhsld_wire_dc_release_in, host));
    out->flags = flags;
    out->length = mhsld_ld64(buf + OFF(mhsld_wire_dc_release_in, length));
    memcpy(out->tag, buf + OFF(mhsld_wire_dc_release_in, tag), MHSLD_TAG_SIZE);
    out->count = n;
    memcpy(out->ext, ext, (size_t)n * sizeof(ext[0]));
    return MHSLD_CXL_SUCCESS;
}

int mhsld_mbox_dc_release_in_encode(const mhsld_mbox_dc_release_in *in, uint8_t *buf, size_t cap,
                                    size_t *len)
{
    if (in == NULL || len == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    *len = 0;
    if (in->count > MHSLD_MAX_EXTENTS || !release_flags_ok(in->flags)) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    const size_t hdr = sizeof(mhsld_wire_dc_release_in);
    const size_t need = hdr + (size_t)in->count * sizeof(mhsld_wire_dc_extent);
    int rc = begin_encode(buf, cap, len, need);
    if (rc != MHSLD_CXL_SUCCESS) {
        return rc;
    }
    memset(buf, 0, hdr);
    mhsld_st16(buf + OFF(mhsld_wire_dc_release_in, host), in->host);
    buf[OFF(mhsld_wire_dc_release_in, flags)] = in->flags;
    mhsld_st64(buf + OFF(mhsld_wire_dc_release_in, length), in->length);
    memcpy(buf + OFF(mhsld_wire_dc_release_in, tag), in->tag, MHSLD_TAG_SIZE);
    mhsld_st32(buf + OFF(mhsld_wire_dc_release_in, count), in->count);
    dc_extents_put(buf + hdr, in->count, in->ext);
    *len = need;
    return MHSLD_CXL_SUCCESS;
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
