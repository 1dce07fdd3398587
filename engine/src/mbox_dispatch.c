/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Mailbox dispatcher: one command table, one entry point, one handler per
 * command.
 *
 * The rule every handler follows, which is what makes "a failing command
 * changes no state" true:
 *   1. decode the payload with the codec (lengths, counts, reserved fields,
 *      flag bits: mbox_codec.c);
 *   2. validate it against the device (host and region numbers, every extent
 *      inside one DC region, block aligned, not overlapping another extent
 *      of the request; for releases, that the host really holds what it
 *      names) using read-only engine queries;
 *   3. only then call the engine's mutating operations.  Each of them is
 *      all-or-nothing on its own.  A command that needs two of them (4803h
 *      and forced 5605h naming exclusive and shared extents; 5604h adding
 *      several shared extents) runs the one that can still fail first and
 *      undoes its earlier steps if a later one fails.
 * Engine statuses become CXL return codes in one place,
 * mhsld_mbox_rc_from_status().
 */
#include <stdbool.h>
#include <string.h>

#include "mhsld/mailbox.h"

/* A handler gets out_min <= cap <= out_max (the dispatcher checks). */
typedef int (*mbox_handler)(const mhsld_mbox_ctx *c, const uint8_t *in, size_t in_len,
                            uint8_t *out, size_t cap, size_t *out_len);

typedef struct mbox_command {
    mhsld_mbox_cmd_info info; /* first: mhsld_mbox_command*() return &info */
    mbox_handler fn;
} mbox_command;

/* ---- engine status -> CXL return code (the one table) -------------------- */

int mhsld_mbox_rc_from_status(mhsld_status st)
{
    switch (st) {
    case MHSLD_OK:
        return MHSLD_CXL_SUCCESS;
    case MHSLD_E_INVAL:
    case MHSLD_E_HEAD:
    case MHSLD_E_NO_GROUP:      /* no Add Capacity outstanding */
    case MHSLD_E_NOT_SHARABLE:  /* shared policy on an exclusive region */
        return MHSLD_CXL_INVALID_INPUT;
    case MHSLD_E_ZERO_LEN:
    case MHSLD_E_ALIGN:
    case MHSLD_E_OVERLAP:
    case MHSLD_E_CONFLICT:      /* capacity already held: cannot be added */
    case MHSLD_E_TAG:
        return MHSLD_CXL_INVALID_EXTENT_LIST;
    case MHSLD_E_RANGE:
    case MHSLD_E_NOT_OWNER:     /* release of capacity the host does not hold */
    case MHSLD_E_NOT_IN_GROUP:  /* accepted extent was never offered */
        return MHSLD_CXL_INVALID_PA;
    case MHSLD_E_TOO_MANY:
    case MHSLD_E_NOSPACE:
        return MHSLD_CXL_RESOURCES_EXHAUSTED;
    case MHSLD_E_ALIVE:
    case MHSLD_E_BUSY:
    case MHSLD_E_TIMEDOUT:
        return MHSLD_CXL_BUSY;
    case MHSLD_E_UNSUPPORTED:
        return MHSLD_CXL_UNSUPPORTED;
    case MHSLD_E_STALE:
    case MHSLD_E_NOENT:
    case MHSLD_E_EXISTS:
    case MHSLD_E_IO:
    case MHSLD_E_NOMEM:
    case MHSLD_E_BAD_MAGIC:
    case MHSLD_E_VERSION:
    case MHSLD_E_ENDIAN:
    case MHSLD_E_TRUNCATED:
    case MHSLD_E_CORRUPT:
    case MHSLD_E_GEOMETRY:
    case MHSLD_E_JOURNAL:
    case MHSLD_E_PERM:
    case MHSLD_E_DEAD:
    case MHSLD_E__COUNT:
    default:
        return MHSLD_CXL_INTERNAL_ERROR;
    }
}

#define TRY_ENGINE(expr)                                                                           \
    do {                                                                                           \
        mhsld_status s_ = (expr);                                                                  \
        if (s_ != MHSLD_OK) {                                                                      \
            return mhsld_mbox_rc_from_status(s_);                                                  \
        }                                                                                          \
    } while (0)

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ != MHSLD_CXL_SUCCESS) {                                                            \
            return rc_;                                                                            \
        }                                                                                          \
    } while (0)

static size_t min_sz(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* ---- context ---------------------------------------------------------------- */

static void ctx_defaults(mhsld_mbox_ctx *c)
{
    c->size = (uint32_t)sizeof(*c);
    for (uint32_t i = 0; i < MHSLD_MAX_HEADS; i++) {
        mhsld_mbox_link *l = &c->link[i];
        l->port = (uint8_t)i;
        l->max_width = 16;
        l->neg_width = 16;
        l->speeds = 0x3F; /* 2.5, 5, 8, 16, 32, 64 GT/s */
        l->max_speed = 6; /* 64 GT/s */
        l->cur_speed = 6;
        l->ltssm = 4; /* L0 */
        l->first_lane = 0;
        l->flags = 0;
    }
    c->extents_supported = 1024;
    c->notify = NULL;
    c->notify_opaque = NULL;
    c->accum = NULL;
}

void mhsld_mbox_ctx_init(mhsld_mbox_ctx *ctx, mhsld_state *st, mhsld_head *self)
{
    if (ctx == NULL) {
        return;
    }
    memset(ctx, 0, sizeof(*ctx));
    ctx_defaults(ctx);
    ctx->st = st;
    ctx->self = self;
    if (self != NULL) {
        uint32_t i = mhsld_head_index(self);
        if (i < MHSLD_MAX_HEADS) {
            ctx->heads[i] = self;
        }
    }
}

/* The caller's ctx, completed with defaults for members past its size. */
static int ctx_load(const mhsld_mbox_ctx *ctx, mhsld_mbox_ctx *c)
{
    if (ctx == NULL || ctx->size < offsetof(mhsld_mbox_ctx, link) || ctx->st == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    memset(c, 0, sizeof(*c));
    ctx_defaults(c);
    memcpy(c, ctx, min_sz(ctx->size, sizeof(*c)));
    /* Handles must belong to this state, heads[i] to head i: a mix-up would
     * let a command act on the wrong host. */
    if (c->self != NULL && mhsld_head_state(c->self) != c->st) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    for (uint32_t i = 0; i < MHSLD_MAX_HEADS; i++) {
        if (c->heads[i] != NULL &&
            (mhsld_head_state(c->heads[i]) != c->st || mhsld_head_index(c->heads[i]) != i)) {
            return MHSLD_CXL_INTERNAL_ERROR;
        }
    }
    return MHSLD_CXL_SUCCESS;
}

static void notify(const mhsld_mbox_ctx *c, uint32_t type, uint32_t host, uint64_t group,
                   const mhsld_mbox_dc_extent *ext, size_t n)
{
    if (c->notify != NULL) {
        mhsld_mbox_event ev = {type, host, group, n, ext};
        c->notify(c->notify_opaque, &ev);
    }
}

/* ---- geometry helpers ------------------------------------------------------- */

static int geometry(const mhsld_mbox_ctx *c, mhsld_geometry *g)
{
    memset(g, 0, sizeof(*g));
    g->size = (uint32_t)sizeof(*g);
    TRY_ENGINE(mhsld_get_geometry(c->st, g));
    if (g->nr_regions > MHSLD_MAX_REGIONS || g->nr_lds > MHSLD_MAX_LDS ||
        g->nr_heads > MHSLD_MAX_HEADS || g->block_size == 0) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    return MHSLD_CXL_SUCCESS;
}

/* Region wholly containing [dpa, dpa+len), or -1. */
static int region_of(const mhsld_geometry *g, uint64_t dpa, uint64_t len)
{
    for (uint32_t r = 0; r < g->nr_regions; r++) {
        const mhsld_region *rg = &g->regions[r];
        if (dpa >= rg->base && dpa - rg->base < rg->len && len <= rg->len - (dpa - rg->base)) {
            return (int)r;
        }
    }
    return -1;
}

/* Index of region r's first block in the engine's block numbering (DPA
 * order over the regions). */
static uint64_t region_first_block(const mhsld_geometry *g, uint32_t r)
{
    uint64_t b = 0;
    for (uint32_t i = 0; i < r; i++) {
        b += g->regions[i].len / g->block_size;
    }
    return b;
}

static uint64_t block_index(const mhsld_geometry *g, uint32_t r, uint64_t dpa)
{
    return region_first_block(g, r) + (dpa - g->regions[r].base) / g->block_size;
}

static uint64_t capacity_units(uint64_t bytes)
{
    return bytes / MHSLD_MBOX_CAPACITY_UNIT + (bytes % MHSLD_MBOX_CAPACITY_UNIT ? 1u : 0u);
}

/* Every extent non-empty, inside one DC region, block aligned, and not
 * overlapping another extent of the list (QEMU's order and codes). */
static int check_extents(const mhsld_geometry *g, const mhsld_extent *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (e[i].len == 0) {
            return MHSLD_CXL_INVALID_EXTENT_LIST;
        }
        if (e[i].len > UINT64_MAX - e[i].dpa || region_of(g, e[i].dpa, e[i].len) < 0) {
            return MHSLD_CXL_INVALID_PA;
        }
        if (e[i].dpa % g->block_size != 0 || e[i].len % g->block_size != 0) {
            return MHSLD_CXL_INVALID_EXTENT_LIST;
        }
        for (size_t j = 0; j < i; j++) {
            if (e[i].dpa < e[j].dpa + e[j].len && e[j].dpa < e[i].dpa + e[i].len) {
                return MHSLD_CXL_INVALID_EXTENT_LIST;
            }
        }
    }
    return MHSLD_CXL_SUCCESS;
}

static void to_extents(const mhsld_mbox_dc_extent *in, size_t n, mhsld_extent *out)
{
    for (size_t i = 0; i < n; i++) {
        out[i].dpa = in[i].dpa;
        out[i].len = in[i].len;
    }
}

/* Limits trailer of 4800h/5601h for one host. */
static int host_limits(const mhsld_mbox_ctx *c, uint32_t host, mhsld_mbox_dc_limits *l)
{
    size_t total = 0, shared = 0;
    TRY_ENGINE(mhsld_extents_get(c->st, host, MHSLD_EXT_ALL, 0, NULL, NULL, 0, NULL, &total,
                                 NULL));
    TRY_ENGINE(mhsld_shared_list(c->st, NULL, 0, NULL, &shared));
    l->total_extents = c->extents_supported;
    l->avail_extents = total < c->extents_supported ? c->extents_supported - (uint32_t)total : 0;
    l->total_tags = MHSLD_MAX_SHARED;
    l->avail_tags = shared < MHSLD_MAX_SHARED ? MHSLD_MAX_SHARED - (uint32_t)shared : 0;
    return MHSLD_CXL_SUCCESS;
}

/* One page of a host's DC extent list (4801h and 5603h). */
static int extent_page(const mhsld_mbox_ctx *c, uint32_t host, uint32_t start, uint32_t count,
                       size_t room, mhsld_mbox_dc_extent *out, uint32_t *returned,
                       uint32_t *total, uint32_t *generation)
{
    mhsld_extent ext[MHSLD_MBOX_LIST_MAX];
    uint8_t tags[MHSLD_MBOX_LIST_MAX][MHSLD_TAG_SIZE];
    uint16_t seqs[MHSLD_MBOX_LIST_MAX];
    size_t want = min_sz(min_sz(count, room), MHSLD_MBOX_LIST_MAX);
    size_t got = 0, all = 0;
    TRY_ENGINE(mhsld_extents_get_seq(c->st, host, MHSLD_EXT_ALL, start, ext, tags, seqs, want, &got,
                                     &all, generation));
    if (start > all) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    if (got > want || all > UINT32_MAX) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    for (size_t i = 0; i < got; i++) {
        memset(&out[i], 0, sizeof(out[i]));
        out[i].dpa = ext[i].dpa;
        out[i].len = ext[i].len;
        memcpy(out[i].tag, tags[i], MHSLD_TAG_SIZE);
        out[i].shared_seq = seqs[i];
    }
    *returned = (uint32_t)got;
    *total = (uint32_t)all;
    return MHSLD_CXL_SUCCESS;
}

/* ---- 5500h Get Multi-Headed Info ---------------------------------------------- */

static int h_mhd_info(const mhsld_mbox_ctx *c, const uint8_t *in, size_t in_len, uint8_t *out,
                      size_t cap, size_t *out_len)
{
    mhsld_mbox_mhd_info_in q;
    mhsld_geometry g;
    TRY(mhsld_mbox_mhd_info_in_decode(in, in_len, &q));
    TRY(geometry(c, &g));
    if (q.start_ld >= g.nr_lds) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    const size_t hdr = sizeof(mhsld_wire_mhd_info_out);
    size_t n = min_sz(min_sz(q.ld_map_limit, g.nr_lds - q.start_ld), cap - hdr);
    mhsld_mbox_mhd_info_out r;
    memset(&r, 0, sizeof(r));
    r.nr_lds = (uint8_t)g.nr_lds;
    r.nr_heads = (uint8_t)g.nr_heads;
    r.start_ld = q.start_ld;
    r.ld_map_len = (uint8_t)n;
    memcpy(r.ld_map, &g.ld_map[q.start_ld], n);
    return mhsld_mbox_mhd_info_out_encode(&r, out, cap, out_len);
}

/* ---- 5501h Get Head Info ------------------------------------------------------- */

static int h_head_info(const mhsld_mbox_ctx *c, const uint8_t *in, size_t in_len, uint8_t *out,
                       size_t cap, size_t *out_len)
{
    mhsld_mbox_head_info_in q;
    mhsld_geometry g;
    TRY(mhsld_mbox_head_info_in_decode(in, in_len, &q));
    TRY(geometry(c, &g));
    if (q.start_head >= g.nr_heads || q.count > g.nr_heads - q.start_head) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    const size_t hdr = sizeof(mhsld_wire_head_info_out);
    size_t n = min_sz(q.count, (cap - hdr) / sizeof(mhsld_wire_head_block));
    mhsld_mbox_head_info_out r;
    memset(&r, 0, sizeof(r));
    r.count = (uint8_t)n;
    for (size_t i = 0; i < n; i++) {
        uint32_t h = q.start_head + (uint32_t)i;
        mhsld_head_info hi;
        memset(&hi, 0, sizeof(hi));
        TRY_ENGINE(mhsld_head_info_get(c->st, h, &hi));
        r.head[i] = c->link[h];
        if (!hi.alive) { /* no host behind this head: link down */
            r.head[i].neg_width = 0;
            r.head[i].cur_speed = 0;
            r.head[i].ltssm = 0; /* Detect */
        }
    }
    return mhsld_mbox_head_info_out_encode(&r, out, cap, out_len);
}

/* ---- 4800h Get Dynamic Capacity Configuration --------------------------------- */

static int h_dc_config(const mhsld_mbox_ctx *c, const uint8_t *in, size_t in_len, uint8_t *out,
                       size_t cap, size_t *out_len)
{
    mhsld_mbox_dc_config_in q;
    mhsld_geometry g;
    if (c->self == NULL) {
        return MHSLD_CXL_UNSUPPORTED;
    }
    TRY(mhsld_mbox_dc_config_in_decode(in, in_len, &q));
    TRY(geometry(c, &g));
    if (q.start_region >= g.nr_regions) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    const size_t fixed = sizeof(mhsld_wire_dc_config_out) + sizeof(mhsld_wire_dc_limits);
    size_t n = min_sz(min_sz(q.region_count, g.nr_regions - q.start_region),
                      (cap - fixed) / sizeof(mhsld_wire_dc_region));
    mhsld_mbox_dc_config_out r;
    memset(&r, 0, sizeof(r));
    r.avail_regions = (uint8_t)g.nr_regions;
    r.returned = (uint8_t)n;
    for (size_t i = 0; i < n; i++) {
        const mhsld_region *rg = &g.regions[q.start_region + i];
        r.region[i].base = rg->base;
        r.region[i].decode_len = capacity_units(rg->len);
        r.region[i].len = rg->len;
        r.region[i].block_size = g.block_size;
        r.region[i].dsmad_handle = rg->dsmad_handle;
        r.region[i].flags = 0; /* no sanitize on release */
    }
    TRY(host_limits(c, mhsld_head_index(c->self), &r.limits));
    return mhsld_mbox_dc_config_out_encode(&r, out, cap, out_len);
}

/* ---- 4801h Get Dynamic Capacity Extent List ------------------------------------ */

static int h_dc_extents(const mhsld_mbox_ctx *c, const uint8_t *in, size_t in_len, uint8_t *out,
                        size_t cap, size_t *out_len)
{
    mhsld_mbox_dc_extents_in q;
    if (c->self == NULL) {
        return MHSLD_CXL_UNSUPPORTED;
    }
    TRY(mhsld_mbox_dc_extents_in_decode(in, in_len, &q));
    const size_t hdr = sizeof(mhsld_wire_dc_extents_out);
    mhsld_mbox_dc_extents_out r;
    memset(&r, 0, sizeof(r));
    TRY(extent_page(c, mhsld_head_index(c->self), q.start, q.count,
                    (cap - hdr) / sizeof(mhsld_wire_dc_extent), r.ext, &r.returned, &r.total,
                    &r.generation));
    return mhsld_mbox_dc_extents_out_encode(&r, out, cap, out_len);
}

/* ---- 4802h Add Dynamic Capacity Response ---------------------------------------- */

/* Every block of e[0..n) is inside reservation `group` of this head:
 * Success, or Invalid Physical Address.  A part of a split response (More)
 * is checked against the offer when it arrives: kept unchecked, one naming
 * capacity outside the offer would make every later final part fail, and
 * the offer could never be settled. */
static int within_offer(const mhsld_mbox_ctx *c, uint64_t group, const mhsld_extent *e, size_t n)
{
    mhsld_extent g[MHSLD_MAX_EXTENTS];
    size_t ng = 0;
    TRY_ENGINE(mhsld_pending_get(c->self, group, g, MHSLD_MAX_EXTENTS, &ng));
    if (ng > MHSLD_MAX_EXTENTS) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t cur = e[i].dpa, end = e[i].dpa + e[i].len; /* no wrap: checked */
        while (cur < end) {
            size_t k = 0;
            while (k < ng && !(cur >= g[k].dpa && cur - g[k].dpa < g[k].len)) {
                k++;
            }
            if (k == ng) {
                return MHSLD_CXL_INVALID_PA;
            }
            uint64_t gend = g[k].dpa + g[k].len;
            cur = gend < end ? gend : end;
        }
    }
    return MHSLD_CXL_SUCCESS;
}

static int h_add_response(const mhsld_mbox_ctx *c, const uint8_t *in, size_t in_len, uint8_t *out,
                          size_t cap, size_t *out_len)
{
    (void)out;
    (void)cap;
    (void)out_len;
    mhsld_mbox_dc_update_in q;
    mhsld_geometry g;
    mhsld_extent all[MHSLD_MAX_EXTENTS];
    size_t n = 0;
    uint64_t group = 0;
    if (c->self == NULL) {
        return MHSLD_CXL_UNSUPPORTED;
    }
    TRY(mhsld_mbox_dc_update_in_decode(in, in_len, &q));
    const bool more = (q.flags & MHSLD_MBOX_UPDATE_MORE) != 0;
    if (more && c->accum == NULL) {
        /* Without caller memory a split response cannot be held until its
         * last part: the engine commits a reservation in one call. */
        return MHSLD_CXL_UNSUPPORTED;
    }
    TRY(geometry(c, &g));
    TRY_ENGINE(mhsld_pending_oldest(c->self, &group));
    /* Earlier parts of this response (for this same reservation). */
    if (c->accum != NULL && c->accum->group == group && c->accum->n <= MHSLD_MAX_EXTENTS) {
        n = c->accum->n;
        memcpy(all, c->accum->ext, n * sizeof(all[0]));
    }
    if (q.count > MHSLD_MAX_EXTENTS - n) {
        return MHSLD_CXL_RESOURCES_EXHAUSTED;
    }
    memcpy(all + n, q.ext, q.count * sizeof(all[0]));
    n += q.count;
    TRY(check_extents(&g, all, n));
    TRY(within_offer(c, group, q.ext, q.count));
    if (more) {
        c->accum->group = group;
        c->accum->n = (uint32_t)n;
        memcpy(c->accum->ext, all, n * sizeof(all[0]));
        return MHSLD_CXL_SUCCESS;
    }
    TRY_ENGINE(mhsld_commit(c->self, group, all, n));
    if (c->accum != NULL) {
        c->accum->group = 0;
        c->accum->n = 0;
    }
    return MHSLD_CXL_SUCCESS;
}

/* ---- shared-extent classification (4803h, 5605h) -------------------------------- */

typedef struct split {
    mhsld_extent excl[MHSLD_MAX_EXTENTS];
    size_t nexcl;
    mhsld_mbox_dc_extent shared[MHSLD_MAX_EXTENTS]; /* with their tags */
    size_t nshared;
} split;

/* Sort each extent into exclusive or shared.  An extent naming exactly a
 * shared extent `host` is a sharer of is shared; one that overlaps such an
 * extent without matching it is Invalid PA (shared extents are released
 * whole). */
static int split_extents(const mhsld_mbox_ctx *c, uint32_t host, const mhsld_extent *e, size_t n,
                         split *sp)
{
    mhsld_shared_info sh[MHSLD_MAX_SHARED];
    size_t nsh = 0;
    TRY_ENGINE(mhsld_shared_list(c->st, sh, MHSLD_MAX_SHARED, &nsh, NULL));
    sp->nexcl = 0;
    sp->nshared = 0;
    for (size_t i = 0; i < n; i++) {
        int match = -1;
        for (size_t k = 0; k < nsh; k++) {
            const mhsld_extent *x = &sh[k].ext;
            if (host >= 32 || !((sh[k].sharers >> host) & 1u)) {
                continue;
            }
            if (x->dpa == e[i].dpa && x->len == e[i].len) {
                match = (int)k;
                break;
            }
            if (e[i].dpa < x->dpa + x->len && x->dpa < e[i].dpa + e[i].len) {
                return MHSLD_CXL_INVALID_PA;
            }
        }
        if (match >= 0) {
            mhsld_mbox_dc_extent *d = &sp->shared[sp->nshared++];
            memset(d, 0, sizeof(*d));
            d->dpa = e[i].dpa;
            d->len = e[i].len;
            memcpy(d->tag, sh[match].tag, MHSLD_TAG_SIZE);
        } else {
            sp->excl[sp->nexcl++] = e[i];
        }
    }
    return MHSLD_CXL_SUCCESS;
}

/* Release what sp names for head h: exclusive extents first (the step that
 * can fail, all-or-nothing), then the shared ones (checked by split_extents;
 * only this head changes its own membership). */
static int release_split(mhsld_head *h, const split *sp)
{
    mhsld_conflict cf;
    if (sp->nexcl > 0) {
        TRY_ENGINE(mhsld_release(h, sp->excl, sp->nexcl, &cf));
    }
    for (size_t i = 0; i < sp->nshared; i++) {
        mhsld_extent e = {sp->shared[i].dpa, sp->shared[i].len};
        TRY_ENGINE(mhsld_share_release(h, &e));
    }
    return MHSLD_CXL_SUCCESS;
}

/* ---- 4803h Release Dynamic Capacity -------------------------------------------- */

static int h_release(const mhsld_mbox_ctx *c, const uint8_t *in, size_t in_len, uint8_t *out,
                     size_t cap, size_t *out_len)
{
    (void)out;
    (void)cap;
    (void)out_len;
    mhsld_mbox_dc_update_in q;
    mhsld_geometry g;
    split sp;
    if (c->self == NULL) {
        return MHSLD_CXL_UNSUPPORTED;
    }
    /* The More flag needs no state here: each release stands on its own. */
    TRY(mhsld_mbox_dc_update_in_decode(in, in_len, &q));
    if (q.count == 0) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    TRY(geometry(c, &g));
    TRY(check_extents(&g, q.ext, q.count));
    TRY(split_extents(c, mhsld_head_index(c->self), q.ext, q.count, &sp));
    return release_split(c->self, &sp);
}

/* ---- 5600h Get DCD Info ---------------------------------------------------------- */

static int h_dcd_info(const mhsld_mbox_ctx *c, const uint8_t *in, size_t in_len, uint8_t *out,
                      size_t cap, size_t *out_len)
{
    (void)in;
    (void)in_len;
    mhsld_geometry g;
    TRY(geometry(c, &g));
    mhsld_mbox_dcd_info_out r;
    memset(&r, 0, sizeof(r));
    r.nr_hosts = (uint8_t)g.nr_heads;
    r.nr_regions = (uint8_t)g.nr_regions;
    r.add_policies = (uint16_t)((1u << MHSLD_MBOX_POLICY_FREE) | (1u << MHSLD_MBOX_POLICY_CONTIGUOUS) |
                                (1u << MHSLD_MBOX_POLICY_PRESCRIPTIVE) |
                                (1u << MHSLD_MBOX_POLICY_SHARED));
    r.release_policies =
        (uint16_t)((1u << MHSLD_MBOX_REMOVAL_TAG) | (1u << MHSLD_MBOX_REMOVAL_PRESCRIPTIVE));
    r.sanitize_mask = 0;
    uint64_t total = 0;
    for (uint32_t i = 0; i < g.nr_regions; i++) {
        total += g.regions[i].len;
        r.block_size_mask[i] = g.block_size; /* a power of two: its own bit */
    }
    r.total_capacity = total / MHSLD_MBOX_CAPACITY_UNIT;
    return mhsld_mbox_dcd_info_out_encode(&r, out, cap, out_len);
}

/* ---- 5601h Get Host DC Region Configuration -------------------------------------- */

static int h_host_region_cfg(const mhsld_mbox_ctx *c, const uint8_t *in, size_t in_len,
                             uint8_t *out, size_t cap, size_t *out_len)
{
    mhsld_mbox_host_region_cfg_in q;
    mhsld_geometry g;
    TRY(mhsld_mbox_host_region_cfg_in_decode(in, in_len, &q));
    TRY(geometry(c, &g));
    if (q.host >= g.nr_heads || q.start_region >= g.nr_regions) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    const size_t fixed = sizeof(mhsld_wire_host_region_cfg_out) + sizeof(mhsld_wire_dc_limits);
    size_t n = min_sz(min_sz(q.region_count, g.nr_regions - q.start_region),
                      (cap - fixed) / sizeof(mhsld_wire_host_region));
    mhsld_mbox_host_region_cfg_out r;
    memset(&r, 0, sizeof(r));
    r.host = q.host;
    r.nr_regions = (uint8_t)g.nr_regions;
    r.returned = (uint8_t)n;
    for (size_t i = 0; i < n; i++) {
        const mhsld_region *rg = &g.regions[q.start_region + i];
        r.region[i].base = rg->base;
        r.region[i].decode_len = capacity_units(rg->len);
        r.region[i].len = rg->len;
        r.region[i].block_size = g.block_size;
        r.region[i].flags = (rg->flags & MHSLD_REGION_SHARABLE) ? MHSLD_MBOX_DSMAS_SHARABLE : 0;
        r.region[i].sanitize = 0;
    }
    TRY(host_limits(c, q.host, &r.limits));
    return mhsld_mbox_host_region_cfg_out_encode(&r, out, cap, out_len);
}

/* ---- 5602h Set DC Region Configuration --------------------------------------------- */

static int h_set_region_cfg(const mhsld_mbox_ctx *c, const uint8_t *in, size_t in_len,
                            uint8_t *out, size_t cap, size_t *out_len)
{
    (void)out;
    (void)cap;
    (void)out_len;
    mhsld_mbox_set_region_cfg_in q;
    mhsld_geometry g;
    TRY(mhsld_mbox_set_region_cfg_in_decode(in, in_len, &q));
    TRY(geometry(c, &g));
    if (q.region >= g.nr_regions) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    if (q.flags & MHSLD_MBOX_REGION_SANITIZE) {
        return MHSLD_CXL_UNSUPPORTED; /* sanitize on release cannot be enabled */
    }
    /* The geometry is immutable and every region supports exactly its block
     * size (5600h's mask): setting it again is the only valid request. */
    if (q.block_size != g.block_size) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    return MHSLD_CXL_SUCCESS;
}

/* ---- 5603h Get DC Region Extent Lists ----------------------------------------------- */

static int h_region_extents(const mhsld_mbox_ctx *c, const uint8_t *in, size_t in_len,
                            uint8_t *out, size_t cap, size_t *out_len)
{
    mhsld_mbox_region_extents_in q;
    mhsld_geometry g;
    TRY(mhsld_mbox_region_extents_in_decode(in, in_len, &q));
    TRY(geometry(c, &g));
    if (q.host >= g.nr_heads) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    const size_t hdr = sizeof(mhsld_wire_region_extents_out);
    mhsld_mbox_region_extents_out r;
    memset(&r, 0, sizeof(r));
    r.host = q.host;
    r.start = q.start;
    TRY(extent_page(c, q.host, q.start, q.count, (cap - hdr) / sizeof(mhsld_wire_dc_extent), r.ext,
                    &r.returned, &r.total, &r.generation));
    return mhsld_mbox_region_extents_out_encode(&r, out, cap, out_len);
}

/* ---- 5604h Initiate Dynamic Capacity Add ---------------------------------------------- */

static int fm_head(const mhsld_mbox_ctx *c, const mhsld_geometry *g, uint16_t host,
                   mhsld_head **h)
{
    if (host >= g->nr_heads || host >= MHSLD_MAX_HEADS || c->heads[host] == NULL) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    *h = c->heads[host];
    return MHSLD_CXL_SUCCESS;
}

/* Free capacity of `length` bytes in region r: the first free runs in DPA
 * order (free policy) or the first free run long enough (contiguous). */
static int find_free(const mhsld_mbox_ctx *c, const mhsld_geometry *g, uint32_t r,
                     uint64_t length, bool contiguous, mhsld_extent *ext, size_t *n)
{
    const uint64_t bs = g->block_size;
    const uint64_t first = region_first_block(g, r);
    const uint64_t nb = g->regions[r].len / bs;
    const uint64_t need = length / bs;
    uint64_t got = 0, run_start = 0, run_len = 0;
    size_t k = 0;
    for (uint64_t b = 0; b <= nb; b++) {
        bool is_free = false;
        if (b < nb) {
            mhsld_block_info bi;
            TRY_ENGINE(mhsld_block_info_get(c->st, first + b, &bi));
            is_free = bi.state == MHSLD_BLOCK_FREE;
        }
        if (is_free) {
            if (run_len == 0) {
                run_start = b;
            }
            run_len++;
            if (got + run_len == need || (contiguous && run_len == need)) {
                ext[k].dpa = g->regions[r].base + run_start * bs;
                ext[k].len = run_len * bs;
                *n = k + 1;
                return MHSLD_CXL_SUCCESS;
            }
        } else if (run_len > 0) {
            if (!contiguous) {
                if (k + 1 >= MHSLD_MAX_EXTENTS) {
                    return MHSLD_CXL_RESOURCES_EXHAUSTED; /* too fragmented */
                }
                ext[k].dpa = g->regions[r].base + run_start * bs;
                ext[k].len = run_len * bs;
                k++;
                got += run_len;
            }
            run_len = 0;
        }
    }
    return MHSLD_CXL_RESOURCES_EXHAUSTED;
}

static int add_from_free(const mhsld_mbox_ctx *c, const mhsld_geometry *g,
                         const mhsld_mbox_dc_add_in *q, mhsld_head *h)
{
    if (q->count != 0 || q->region >= g->nr_regions || q->length == 0 ||
        q->length % g->block_size != 0) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    if (q->length > g->regions[q->region].len) {
        return MHSLD_CXL_RESOURCES_EXHAUSTED;
    }
    mhsld_extent ext[MHSLD_MAX_EXTENTS];
    size_t n = 0;
    uint64_t group = 0;
    mhsld_conflict cf;
    bool contiguous = q->policy == MHSLD_MBOX_POLICY_CONTIGUOUS;
    /* Another head may take a block between the scan and the claim: the
     * claim then fails as a whole and the scan is repeated. */
    for (int attempt = 0;; attempt++) {
        if (attempt == 4) {
            return MHSLD_CXL_RETRY_REQUIRED;
        }
        TRY(find_free(c, g, q->region, q->length, contiguous, ext, &n));
        mhsld_status s = mhsld_reserve(h, ext, n, &group, &cf);
        if (s == MHSLD_OK) {
            break;
        }
        if (s != MHSLD_E_CONFLICT) {
            return mhsld_mbox_rc_from_status(s);
        }
    }
    mhsld_mbox_dc_extent ev[MHSLD_MAX_EXTENTS];
    for (size_t i = 0; i < n; i++) {
        memset(&ev[i], 0, sizeof(ev[i]));
        ev[i].dpa = ext[i].dpa;
        ev[i].len = ext[i].len;
        memcpy(ev[i].tag, q->tag, MHSLD_TAG_SIZE);
    }
    notify(c, MHSLD_MBOX_EV_ADD, q->host, group, ev, n);
    return MHSLD_CXL_SUCCESS;
}

static int add_shared(const mhsld_mbox_ctx *c, const mhsld_geometry *g,
                      const mhsld_mbox_dc_add_in *q, const mhsld_extent *e, mhsld_head *h)
{
    for (size_t i = 0; i < q->count; i++) {
        int r = region_of(g, e[i].dpa, e[i].len);
        if (r < 0 || !(g->regions[r].flags & MHSLD_REGION_SHARABLE)) {
            return MHSLD_CXL_INVALID_INPUT;
        }
    }
    for (size_t i = 0; i < q->count; i++) {
        mhsld_conflict cf;
        mhsld_status s = mhsld_share_add_seq(h, &e[i], q->ext[i].tag, q->ext[i].shared_seq, &cf);
        if (s != MHSLD_OK) {
            while (i-- > 0) { /* undo: leave (or drop) what this command joined */
                (void)mhsld_share_release(h, &e[i]);
            }
            return mhsld_mbox_rc_from_status(s);
        }
    }
    notify(c, MHSLD_MBOX_EV_ADD_SHARED, q->host, 0, q->ext, q->count);
    return MHSLD_CXL_SUCCESS;
}

static int h_dc_add(const mhsld_mbox_ctx *c, const uint8_t *in, size_t in_len, uint8_t *out,
                    size_t cap, size_t *out_len)
{
    (void)out;
    (void)cap;
    (void)out_len;
    mhsld_mbox_dc_add_in q;
    mhsld_geometry g;
    mhsld_head *h = NULL;
    mhsld_extent e[MHSLD_MAX_EXTENTS];
    TRY(mhsld_mbox_dc_add_in_decode(in, in_len, &q));
    TRY(geometry(c, &g));
    TRY(fm_head(c, &g, q.host, &h));
    if (q.policy == MHSLD_MBOX_POLICY_FREE || q.policy == MHSLD_MBOX_POLICY_CONTIGUOUS) {
        return add_from_free(c, &g, &q, h);
    }
    /* Prescriptive and shared: the extent list says it all; the length and
     * region fields are not used (as in QEMU). */
    if (q.count == 0) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    to_extents(q.ext, q.count, e);
    TRY(check_extents(&g, e, q.count));
    if (q.policy == MHSLD_MBOX_POLICY_SHARED) {
        return add_shared(c, &g, &q, e, h);
    }
    uint64_t group = 0;
    mhsld_conflict cf;
    TRY_ENGINE(mhsld_reserve(h, e, q.count, &group, &cf));
    notify(c, MHSLD_MBOX_EV_ADD, q.host, group, q.ext, q.count);
    return MHSLD_CXL_SUCCESS;
}

/* ---- 5605h Initiate Dynamic Capacity Release -------------------------------------------- */

/* Every block of each exclusive extent is OWNED by host. */
static int check_owned(const mhsld_mbox_ctx *c, const mhsld_geometry *g, uint32_t host,
                       const mhsld_extent *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int r = region_of(g, e[i].dpa, e[i].len);
        if (r < 0) {
            return MHSLD_CXL_INVALID_PA;
        }
        uint64_t b0 = block_index(g, (uint32_t)r, e[i].dpa);
        uint64_t nb = e[i].len / g->block_size;
        for (uint64_t b = b0; b < b0 + nb; b++) {
            mhsld_block_info bi;
            TRY_ENGINE(mhsld_block_info_get(c->st, b, &bi));
            if (bi.state != MHSLD_BLOCK_OWNED || bi.owner != host) {
                return MHSLD_CXL_INVALID_PA;
            }
        }
    }
    return MHSLD_CXL_SUCCESS;
}

static int h_dc_release(const mhsld_mbox_ctx *c, const uint8_t *in, size_t in_len, uint8_t *out,
                        size_t cap, size_t *out_len)
{
    (void)out;
    (void)cap;
    (void)out_len;
    mhsld_mbox_dc_release_in q;
    mhsld_geometry g;
    mhsld_head *h = NULL;
    split sp;
    const mhsld_mbox_dc_extent *ev;
    size_t nev;
    TRY(mhsld_mbox_dc_release_in_decode(in, in_len, &q));
    TRY(geometry(c, &g));
    TRY(fm_head(c, &g, q.host, &h));
    if (q.flags & MHSLD_MBOX_RELEASE_SANITIZE) {
        return MHSLD_CXL_UNSUPPORTED; /* the device cannot sanitize */
    }
    if ((q.flags & MHSLD_MBOX_RELEASE_POLICY_MASK) == MHSLD_MBOX_REMOVAL_PRESCRIPTIVE) {
        mhsld_extent e[MHSLD_MAX_EXTENTS];
        if (q.count == 0) {
            return MHSLD_CXL_INVALID_INPUT;
        }
        to_extents(q.ext, q.count, e);
        TRY(check_extents(&g, e, q.count));
        TRY(split_extents(c, q.host, e, q.count, &sp));
        TRY(check_owned(c, &g, q.host, sp.excl, sp.nexcl));
        ev = q.ext;
        nev = q.count;
    } else { /* tag-based: the host's shared extents carrying the tag */
        mhsld_shared_info sh[MHSLD_MAX_SHARED];
        size_t nsh = 0;
        if (q.count != 0) {
            return MHSLD_CXL_INVALID_INPUT;
        }
        TRY_ENGINE(mhsld_shared_list(c->st, sh, MHSLD_MAX_SHARED, &nsh, NULL));
        sp.nexcl = 0;
        sp.nshared = 0;
        for (size_t k = 0; k < nsh && sp.nshared < MHSLD_MAX_EXTENTS; k++) {
            if (((sh[k].sharers >> q.host) & 1u) && memcmp(sh[k].tag, q.tag, MHSLD_TAG_SIZE) == 0) {
                mhsld_mbox_dc_extent *d = &sp.shared[sp.nshared++];
                memset(d, 0, sizeof(*d));
                d->dpa = sh[k].ext.dpa;
                d->len = sh[k].ext.len;
                memcpy(d->tag, sh[k].tag, MHSLD_TAG_SIZE);
            }
        }
        if (sp.nshared == 0) {
            return MHSLD_CXL_INVALID_INPUT; /* no capacity with this tag */
        }
        ev = sp.shared;
        nev = sp.nshared;
    }
    if (!(q.flags & MHSLD_MBOX_RELEASE_FORCED)) {
        /* The host is asked; capacity moves when it answers with 4803h. */
        notify(c, MHSLD_MBOX_EV_RELEASE_REQUEST, q.host, 0, ev, nev);
        return MHSLD_CXL_SUCCESS;
    }
    TRY(release_split(h, &sp));
    notify(c, MHSLD_MBOX_EV_FORCED_RELEASE, q.host, 0, ev, nev);
    return MHSLD_CXL_SUCCESS;
}

/* ---- 5606h/5607h Dynamic Capacity Add / Remove Reference ---------------------------------- */

/* The head an FM-API command without a host acts through: the mailbox's own
 * head, else the first head attached in this process (ctx->heads). */
static int fm_actor(const mhsld_mbox_ctx *c, mhsld_head **h)
{
    if (c->self != NULL) {
        *h = c->self;
        return MHSLD_CXL_SUCCESS;
    }
    for (uint32_t i = 0; i < MHSLD_MAX_HEADS; i++) {
        if (c->heads[i] != NULL) {
            *h = c->heads[i];
            return MHSLD_CXL_SUCCESS;
        }
    }
    return MHSLD_CXL_INTERNAL_ERROR; /* no head to act through: the caller's setup */
}

/* Unknown tag, a second reference, removing one that is not held: Invalid
 * Input, like 5605h's release by an unknown tag. */
static int ref_rc(mhsld_status s)
{
    if (s == MHSLD_E_TAG || s == MHSLD_E_EXISTS || s == MHSLD_E_NOT_OWNER) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    return mhsld_mbox_rc_from_status(s);
}

static int h_dc_add_ref(const mhsld_mbox_ctx *c, const uint8_t *in, size_t in_len, uint8_t *out,
                        size_t cap, size_t *out_len)
{
    (void)out;
    (void)cap;
    (void)out_len;
    mhsld_mbox_dc_tag_ref_in q;
    mhsld_head *h = NULL;
    TRY(mhsld_mbox_dc_tag_ref_in_decode(in, in_len, &q));
    TRY(fm_actor(c, &h));
    return ref_rc(mhsld_fm_ref_add(h, q.tag));
}

static int h_dc_remove_ref(const mhsld_mbox_ctx *c, const uint8_t *in, size_t in_len, uint8_t *out,
                           size_t cap, size_t *out_len)
{
    (void)out;
    (void)cap;
    (void)out_len;
    mhsld_mbox_dc_tag_ref_in q;
    mhsld_head *h = NULL;
    TRY(mhsld_mbox_dc_tag_ref_in_decode(in, in_len, &q));
    TRY(fm_actor(c, &h));
    return ref_rc(mhsld_fm_ref_remove(h, q.tag, NULL));
}

/* ---- 5608h Dynamic Capacity List Tags --------------------------------------------------- */

/* FNV-1a over the bytes of the list: the generation changes whenever a tag,
 * its FM reference or its sharers change (a 32-bit digest of the list: two
 * different lists collide with probability 2^-32). */
static uint32_t fnv1a(uint32_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

static int h_dc_list_tags(const mhsld_mbox_ctx *c, const uint8_t *in, size_t in_len, uint8_t *out,
                          size_t cap, size_t *out_len)
{
    mhsld_mbox_dc_list_tags_in q;
    mhsld_shared_info sh[MHSLD_MAX_SHARED];
    size_t nsh = 0;
    TRY(mhsld_mbox_dc_list_tags_in_decode(in, in_len, &q));
    TRY_ENGINE(mhsld_shared_list(c->st, sh, MHSLD_MAX_SHARED, &nsh, NULL));
    if (nsh > MHSLD_MAX_SHARED) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    /* Distinct tags in slot order; per tag, the union of its extents'
     * sharers and whether the FM holds a reference on any of them. */
    mhsld_mbox_dc_list_tags_out local;
    mhsld_mbox_dc_list_tags_out *rp = &local;
    memset(rp, 0, sizeof(*rp));
    uint32_t ntags = 0;
    for (size_t k = 0; k < nsh; k++) {
        uint32_t t = 0;
        while (t < ntags && memcmp(rp->tag[t].tag, sh[k].tag, MHSLD_TAG_SIZE) != 0) {
            t++;
        }
        if (t == ntags) {
            memcpy(rp->tag[t].tag, sh[k].tag, MHSLD_TAG_SIZE);
            ntags++;
        }
        for (uint32_t b = 0; b < 32; b++) {
            if ((sh[k].sharers >> b) & 1u) {
                rp->tag[t].ref_bitmap[b / 8] |= (uint8_t)(1u << (b % 8));
            }
        }
        if (sh[k].fm_ref) {
            rp->tag[t].flags |= MHSLD_MBOX_TAG_FM_REF;
        }
    }
    if (q.start > ntags) {
        return MHSLD_CXL_INVALID_INPUT;
    }
    uint32_t gen = 2166136261u;
    for (uint32_t t = 0; t < ntags; t++) {
        gen = fnv1a(gen, rp->tag[t].tag, MHSLD_TAG_SIZE);
        gen = fnv1a(gen, &rp->tag[t].flags, 1);
        gen = fnv1a(gen, rp->tag[t].ref_bitmap, sizeof(rp->tag[t].ref_bitmap));
    }
    const size_t hdr = sizeof(mhsld_wire_dc_list_tags_out);
    uint32_t n = (uint32_t)min_sz(min_sz(q.count, ntags - q.start),
                                  (cap - hdr) / sizeof(mhsld_wire_dc_tag_info));
    memmove(&rp->tag[0], &rp->tag[q.start], n * sizeof(rp->tag[0]));
    memset(&rp->tag[n], 0, (MHSLD_MAX_SHARED - n) * sizeof(rp->tag[0]));
    rp->generation = gen;
    rp->total = ntags;
    rp->returned = n;
    /* Reference bitmaps: the heads sharing the tag's extents.  Pending
     * bitmaps: the engine holds no pending shared offer (a shared add takes
     * effect at once), so they are valid and empty. */
    rp->validity = MHSLD_MBOX_TAGS_REF_VALID | MHSLD_MBOX_TAGS_PENDING_VALID;
    return mhsld_mbox_dc_list_tags_out_encode(rp, out, cap, out_len);
}

/* ---- the command table and the dispatcher ------------------------------------------------ */

/* Fixed input of wire struct W. */
#define IN_FIXED(W) .in_len = sizeof(W), .in_min = sizeof(W), .in_elem = 0
/* Header W, then records of E. */
#define IN_LIST(W, E) .in_len = MHSLD_MBOX_VARIABLE, .in_min = sizeof(W), .in_elem = sizeof(E)
#define OUT(lo, hi) .out_min = (lo), .out_max = (hi)

/* What the FM API's capacity-changing commands report (QEMU's table for
 * 5602h, 5604h and 5605h). */
#define FM_CONFIG_EFFECTS                                                                          \
    (MHSLD_MBOX_EFFECT_CONFIG_CHANGE_COLD_RESET | MHSLD_MBOX_EFFECT_CONFIG_CHANGE_CONV_RESET |     \
     MHSLD_MBOX_EFFECT_CONFIG_CHANGE_CXL_RESET | MHSLD_MBOX_EFFECT_IMMEDIATE_CONFIG_CHANGE |       \
     MHSLD_MBOX_EFFECT_IMMEDIATE_DATA_CHANGE)

/* Output sizes: a header (and trailer) with no records, and with as many as
 * the device can have (heads, LDs, regions; extent lists: as many as the
 * decoded structs hold). */
#define MHD_OUT sizeof(mhsld_wire_mhd_info_out)
#define HEAD_OUT sizeof(mhsld_wire_head_info_out)
#define DC_CONFIG_OUT (sizeof(mhsld_wire_dc_config_out) + sizeof(mhsld_wire_dc_limits))
#define DC_EXTENTS_OUT sizeof(mhsld_wire_dc_extents_out)
#define HOST_REGION_OUT (sizeof(mhsld_wire_host_region_cfg_out) + sizeof(mhsld_wire_dc_limits))
#define REGION_EXTENTS_OUT sizeof(mhsld_wire_region_extents_out)
#define EXT_LIST (MHSLD_MBOX_LIST_MAX * sizeof(mhsld_wire_dc_extent))
#define LIST_TAGS_OUT sizeof(mhsld_wire_dc_list_tags_out)

static const mbox_command commands[] = {
    {{.opcode = MHSLD_MBOX_OP_GET_DC_CONFIG,
      .name = "GET_DC_CONFIG",
      IN_FIXED(mhsld_wire_dc_config_in),
      OUT(DC_CONFIG_OUT, DC_CONFIG_OUT + MHSLD_MAX_REGIONS * sizeof(mhsld_wire_dc_region)),
      .effects = 0},
     h_dc_config},
    {{.opcode = MHSLD_MBOX_OP_GET_DC_EXTENT_LIST,
      .name = "GET_DC_EXTENT_LIST",
      IN_FIXED(mhsld_wire_dc_extents_in),
      OUT(DC_EXTENTS_OUT, DC_EXTENTS_OUT + EXT_LIST),
      .effects = 0},
     h_dc_extents},
    {{.opcode = MHSLD_MBOX_OP_ADD_DC_RESPONSE,
      .name = "ADD_DC_RESPONSE",
      IN_LIST(mhsld_wire_dc_update_in, mhsld_wire_updated_extent),
      OUT(0, 0),
      .effects = MHSLD_MBOX_EFFECT_IMMEDIATE_DATA_CHANGE},
     h_add_response},
    {{.opcode = MHSLD_MBOX_OP_RELEASE_DC,
      .name = "RELEASE_DC",
      IN_LIST(mhsld_wire_dc_update_in, mhsld_wire_updated_extent),
      OUT(0, 0),
      .effects = MHSLD_MBOX_EFFECT_IMMEDIATE_DATA_CHANGE},
     h_release},
    {{.opcode = MHSLD_MBOX_OP_GET_MHD_INFO,
      .name = "GET_MHD_INFO",
      IN_FIXED(mhsld_wire_mhd_info_in),
      OUT(MHD_OUT, MHD_OUT + MHSLD_MAX_LDS),
      .effects = 0},
     h_mhd_info},
    {{.opcode = MHSLD_MBOX_OP_GET_HEAD_INFO,
      .name = "GET_HEAD_INFO",
      IN_FIXED(mhsld_wire_head_info_in),
      OUT(HEAD_OUT, HEAD_OUT + MHSLD_MAX_HEADS * sizeof(mhsld_wire_head_block)),
      .effects = 0},
     h_head_info},
    {{.opcode = MHSLD_MBOX_OP_GET_DCD_INFO,
      .name = "GET_DCD_INFO",
      .in_len = 0,
      .in_min = 0,
      .in_elem = 0,
      OUT(sizeof(mhsld_wire_dcd_info_out), sizeof(mhsld_wire_dcd_info_out)),
      .effects = 0},
     h_dcd_info},
    {{.opcode = MHSLD_MBOX_OP_GET_HOST_DC_REGION_CONFIG,
      .name = "GET_HOST_DC_REGION_CONFIG",
      IN_FIXED(mhsld_wire_host_region_cfg_in),
      OUT(HOST_REGION_OUT, HOST_REGION_OUT + MHSLD_MAX_REGIONS * sizeof(mhsld_wire_host_region)),
      .effects = 0},
     h_host_region_cfg},
    {{.opcode = MHSLD_MBOX_OP_SET_DC_REGION_CONFIG,
      .name = "SET_DC_REGION_CONFIG",
      IN_FIXED(mhsld_wire_set_region_cfg_in),
      OUT(0, 0),
      .effects = FM_CONFIG_EFFECTS},
     h_set_region_cfg},
    {{.opcode = MHSLD_MBOX_OP_GET_DC_REGION_EXTENTS,
      .name = "GET_DC_REGION_EXTENT_LISTS",
      IN_FIXED(mhsld_wire_region_extents_in),
      OUT(REGION_EXTENTS_OUT, REGION_EXTENTS_OUT + EXT_LIST),
      .effects = 0},
     h_region_extents},
    {{.opcode = MHSLD_MBOX_OP_INITIATE_DC_ADD,
      .name = "INITIATE_DC_ADD",
      IN_LIST(mhsld_wire_dc_add_in, mhsld_wire_dc_extent),
      OUT(0, 0),
      .effects = FM_CONFIG_EFFECTS},
     h_dc_add},
    {{.opcode = MHSLD_MBOX_OP_INITIATE_DC_RELEASE,
      .name = "INITIATE_DC_RELEASE",
      IN_LIST(mhsld_wire_dc_release_in, mhsld_wire_dc_extent),
      OUT(0, 0),
      .effects = FM_CONFIG_EFFECTS},
     h_dc_release},
    /* An FM reference keeps capacity allocated (or frees it): it changes
     * what the device holds at once, as 5604h/5605h do. */
    {{.opcode = MHSLD_MBOX_OP_DC_ADD_REFERENCE,
      .name = "DC_ADD_REFERENCE",
      IN_FIXED(mhsld_wire_dc_tag_ref_in),
      OUT(0, 0),
      .effects = FM_CONFIG_EFFECTS},
     h_dc_add_ref},
    {{.opcode = MHSLD_MBOX_OP_DC_REMOVE_REFERENCE,
      .name = "DC_REMOVE_REFERENCE",
      IN_FIXED(mhsld_wire_dc_tag_ref_in),
      OUT(0, 0),
      .effects = FM_CONFIG_EFFECTS},
     h_dc_remove_ref},
    {{.opcode = MHSLD_MBOX_OP_DC_LIST_TAGS,
      .name = "DC_LIST_TAGS",
      IN_FIXED(mhsld_wire_dc_list_tags_in),
      OUT(LIST_TAGS_OUT, LIST_TAGS_OUT + MHSLD_MAX_SHARED * sizeof(mhsld_wire_dc_tag_info)),
      .effects = 0},
     h_dc_list_tags},
};

#define NR_COMMANDS (sizeof(commands) / sizeof(commands[0]))

size_t mhsld_mbox_command_count(void)
{
    return NR_COMMANDS;
}

const mhsld_mbox_cmd_info *mhsld_mbox_command_at(size_t i)
{
    return i < NR_COMMANDS ? &commands[i].info : NULL;
}

static const mbox_command *find_command(uint16_t opcode)
{
    for (size_t i = 0; i < NR_COMMANDS; i++) {
        if (commands[i].info.opcode == opcode) {
            return &commands[i];
        }
    }
    return NULL;
}

const mhsld_mbox_cmd_info *mhsld_mbox_command(uint16_t opcode)
{
    const mbox_command *cmd = find_command(opcode);
    return cmd ? &cmd->info : NULL;
}

int mhsld_mbox_command_info(uint16_t opcode, mhsld_mbox_cmd_info *info)
{
    if (info == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    const mbox_command *cmd = find_command(opcode);
    if (cmd == NULL) {
        return MHSLD_CXL_UNSUPPORTED;
    }
    *info = cmd->info;
    return MHSLD_CXL_SUCCESS;
}

int mhsld_mbox_cel_encode(uint8_t *buf, size_t cap, size_t *len)
{
    const size_t need = NR_COMMANDS * MHSLD_MBOX_CEL_ENTRY_SIZE;
    if (len != NULL) {
        *len = 0;
    }
    if (len == NULL || buf == NULL || cap < need) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    for (size_t i = 0; i < NR_COMMANDS; i++) {
        mhsld_st16(buf + i * MHSLD_MBOX_CEL_ENTRY_SIZE, commands[i].info.opcode);
        mhsld_st16(buf + i * MHSLD_MBOX_CEL_ENTRY_SIZE + 2, commands[i].info.effects);
    }
    *len = need;
    return MHSLD_CXL_SUCCESS;
}

int mhsld_mbox_execute(const mhsld_mbox_ctx *ctx, uint16_t opcode, const uint8_t *in,
                       size_t in_len, uint8_t *out, size_t out_cap, size_t *out_len)
{
    mhsld_mbox_ctx c;
    if (out_len == NULL) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    *out_len = 0;
    if ((in == NULL && in_len > 0) || (out == NULL && out_cap > 0)) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    TRY(ctx_load(ctx, &c));
    const mbox_command *cmd = find_command(opcode);
    if (cmd == NULL) {
        return MHSLD_CXL_UNSUPPORTED;
    }
    if (cmd->info.in_len != MHSLD_MBOX_VARIABLE && in_len != cmd->info.in_len) {
        return MHSLD_CXL_INVALID_PAYLOAD_LENGTH;
    }
    /* A buffer that cannot hold the smallest response is the caller's
     * error: refused before anything runs.  Handlers see at most out_max. */
    if (out_cap < cmd->info.out_min) {
        return MHSLD_CXL_INTERNAL_ERROR;
    }
    const size_t cap = min_sz(out_cap, cmd->info.out_max);
    size_t len = 0;
    int rc = cmd->fn(&c, in, in_len, out, cap, &len);
    if (rc != MHSLD_CXL_SUCCESS) {
        return rc;
    }
    if (len > cap) {
        return MHSLD_CXL_INTERNAL_ERROR; /* cannot happen: encoders check */
    }
    *out_len = len;
    return MHSLD_CXL_SUCCESS;
}
