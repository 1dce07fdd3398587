/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The reference model (see model.h).  Written from the contract alone: the
 * engine's sources were not consulted for how anything is done, only the
 * header for what must hold.
 */
#include "model.h"

#include <stdio.h>
#include <string.h>

#define BIT(i) ((model_mask)1 << (i))

void model_expect_none(model_expect *e)
{
    memset(e, 0, sizeof *e);
}

void model_expect_err(model_expect *e, mhsld_status st)
{
    if ((unsigned)st < 64u)
        e->errs |= (uint64_t)1 << (unsigned)st;
}

bool model_expect_accepts(const model_expect *e, mhsld_status st)
{
    if (st == MHSLD_OK)
        return e->ok;
    if (e->any_err)
        return true;
    return (unsigned)st < 64u && (e->errs & ((uint64_t)1 << (unsigned)st)) != 0;
}

void model_expect_describe(const model_expect *e, char *buf, size_t cap)
{
    size_t off = 0;
    buf[0] = '\0';
    if (e->ok)
        off += (size_t)snprintf(buf + off, cap - off, "OK");
    if (e->any_err && off < cap)
        off += (size_t)snprintf(buf + off, cap - off, "%sany error", off ? " | " : "");
    for (unsigned s = 1; s < (unsigned)MHSLD_E__COUNT && off < cap; s++)
        if (e->errs & ((uint64_t)1 << s))
            off += (size_t)snprintf(buf + off, cap - off, "%s%s", off ? " | " : "",
                                    mhsld_status_name((mhsld_status)s));
    if (off == 0)
        snprintf(buf, cap, "(nothing)");
}

bool model_init(model *m, const mhsld_geometry *g)
{
    memset(m, 0, sizeof *m);
    m->g = *g;
    uint32_t n = 0;
    for (uint32_t r = 0; r < g->nr_regions && r < MHSLD_MAX_REGIONS; r++) {
        m->region_first[r] = n;
        uint64_t nb = g->regions[r].len / g->block_size;
        if (nb > MODEL_MAX_BLOCKS - n)
            return false;
        n += (uint32_t)nb;
    }
    m->nblocks = n;
    for (uint32_t i = 0; i < n; i++) {
        m->b[i].state = MHSLD_BLOCK_FREE;
        m->b[i].owner = MHSLD_OWNER_NONE;
    }
    return true;
}

uint32_t model_region_of_block(const model *m, uint32_t idx)
{
    uint32_t r = 0;
    while (r + 1 < m->g.nr_regions && idx >= m->region_first[r + 1])
        r++;
    return r;
}

uint64_t model_block_dpa(const model *m, uint32_t idx)
{
    uint32_t r = model_region_of_block(m, idx);
    return m->g.regions[r].base + (uint64_t)(idx - m->region_first[r]) * m->g.block_size;
}

static bool region_of_byte(const model *m, uint64_t dpa, uint32_t *reg)
{
    for (uint32_t r = 0; r < m->g.nr_regions; r++) {
        const mhsld_region *rg = &m->g.regions[r];
        if (dpa >= rg->base && dpa - rg->base < rg->len) {
            *reg = r;
            return true;
        }
    }
    return false;
}

bool model_block_of(const model *m, uint64_t dpa, uint32_t *idx)
{
    uint32_t r;
    if (!region_of_byte(m, dpa, &r))
        return false;
    *idx = m->region_first[r] + (uint32_t)((dpa - m->g.regions[r].base) / m->g.block_size);
    return true;
}

/* Is [dpa, dpa+len) (len > 0, no overflow) inside the regions?  *spans: it
 * is, but across more than one (adjacent) region. */
static bool bytes_in_regions(const model *m, uint64_t dpa, uint64_t len, bool *spans)
{
    uint32_t r0, r1;
    *spans = false;
    if (!region_of_byte(m, dpa, &r0) || !region_of_byte(m, dpa + len - 1, &r1))
        return false;
    for (uint32_t r = r0; r < r1; r++)
        if (m->g.regions[r].base + m->g.regions[r].len != m->g.regions[r + 1].base)
            return false; /* a gap between the regions */
    *spans = r0 != r1;
    return true;
}

model_mask model_extent_mask(const model *m, const mhsld_extent *e)
{
    uint64_t bs = m->g.block_size;
    bool spans;
    if (e->len == 0 || e->dpa % bs || e->len % bs || e->len > UINT64_MAX - e->dpa)
        return 0;
    if (!bytes_in_regions(m, e->dpa, e->len, &spans))
        return 0;
    uint32_t first, last;
    model_block_of(m, e->dpa, &first);
    model_block_of(m, e->dpa + e->len - 1, &last);
    model_mask mask = 0;
    for (uint32_t i = first; i <= last; i++)
        mask |= BIT(i);
    return mask;
}

bool model_check_extents(const model *m, const mhsld_extent *ext, size_t n, bool allow_empty,
                         model_expect *e, model_mask *mask, bool *spans)
{
    uint64_t bs = m->g.block_size;
    bool any_hard = false;
    *mask = 0;
    *spans = false;
    if (n == 0 && !allow_empty) {
        model_expect_err(e, MHSLD_E_ZERO_LEN);
        any_hard = true;
    }
    if (n > MHSLD_MAX_EXTENTS) {
        model_expect_err(e, MHSLD_E_TOO_MANY);
        any_hard = true;
    }
    for (size_t i = 0; i < n; i++) {
        const mhsld_extent *x = &ext[i];
        bool bad = false;
        if (x->len == 0) {
            model_expect_err(e, MHSLD_E_ZERO_LEN);
            bad = true;
        }
        if (x->dpa % bs || x->len % bs) {
            model_expect_err(e, MHSLD_E_ALIGN);
            bad = true;
        }
        if (x->len > UINT64_MAX - x->dpa) {
            model_expect_err(e, MHSLD_E_RANGE);
            bad = true;
        } else if (x->len) {
            bool sp;
            if (!bytes_in_regions(m, x->dpa, x->len, &sp)) {
                model_expect_err(e, MHSLD_E_RANGE);
                bad = true;
            } else if (sp) {
                model_expect_err(e, MHSLD_E_RANGE); /* soft: block-level answer also fine */
                *spans = true;
            }
        }
        /* Byte overlap with any other extent of the request. */
        for (size_t j = 0; j < i; j++) {
            const mhsld_extent *y = &ext[j];
            if (!x->len || !y->len || x->len > UINT64_MAX - x->dpa || y->len > UINT64_MAX - y->dpa)
                continue;
            if (x->dpa < y->dpa + y->len && y->dpa < x->dpa + x->len) {
                model_expect_err(e, MHSLD_E_OVERLAP);
                any_hard = true;
            }
        }
        if (bad)
            any_hard = true;
        else
            *mask |= model_extent_mask(m, x);
    }
    return any_hard;
}

/* The usual closing rule: success is acceptable iff no hard error was found.
 * `hard` says whether anything beyond the "spans" ambiguity applies. */
static void settle(model_expect *e, bool hard)
{
    e->ok = !hard;
}

void model_reserve_expect(const model *m, uint32_t head, const mhsld_extent *ext, size_t n,
                          model_expect *e)
{
    model_mask mask;
    bool spans;
    model_expect_none(e);
    uint64_t hard = model_check_extents(m, ext, n, false, e, &mask, &spans);
    if (m->h[head].ngroups >= MHSLD_MAX_PENDING) {
        model_expect_err(e, MHSLD_E_NOSPACE);
        hard = 1;
    }
    for (uint32_t i = 0; i < m->nblocks; i++)
        if ((mask & BIT(i)) && m->b[i].state != MHSLD_BLOCK_FREE) {
            model_expect_err(e, MHSLD_E_CONFLICT);
            hard = 1;
        }
    if (n > MODEL_MAX_GROUP_EXT && !hard) {
        /* The harness never builds such a valid request; refuse to model it. */
        e->any_err = true;
    }
    settle(e, hard != 0);
}

void model_reserve_apply(model *m, uint32_t head, const mhsld_extent *ext, size_t n, uint64_t group)
{
    model_head *h = &m->h[head];
    model_group *g = &h->groups[h->ngroups++];
    memset(g, 0, sizeof *g);
    g->id = group;
    g->n = (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        g->ext[i] = ext[i];
        g->blocks |= model_extent_mask(m, &ext[i]);
    }
    for (uint32_t i = 0; i < m->nblocks; i++)
        if (g->blocks & BIT(i)) {
            m->b[i].state = MHSLD_BLOCK_PENDING;
            m->b[i].owner = head;
            m->b[i].group = group;
        }
}

void model_claim_expect(const model *m, uint32_t head, const mhsld_extent *ext, size_t n,
                        model_expect *e)
{
    model_mask mask;
    bool spans;
    (void)head;
    model_expect_none(e);
    bool hard = model_check_extents(m, ext, n, false, e, &mask, &spans);
    for (uint32_t i = 0; i < m->nblocks; i++)
        if ((mask & BIT(i)) && m->b[i].state != MHSLD_BLOCK_FREE) {
            model_expect_err(e, MHSLD_E_CONFLICT); /* the head's own blocks too */
            hard = true;
        }
    settle(e, hard);
}

void model_claim_apply(model *m, uint32_t head, const mhsld_extent *ext, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        model_mask mask = model_extent_mask(m, &ext[k]);
        for (uint32_t i = 0; i < m->nblocks; i++)
            if (mask & BIT(i)) {
                m->b[i].state = MHSLD_BLOCK_OWNED;
                m->b[i].owner = head;
                m->b[i].sharers = 0;
                m->b[i].group = 0;
            }
    }
}

void model_commit_expect(const model *m, uint32_t head, int group_idx, uint64_t group_id,
                         const mhsld_extent *acc, size_t n, model_expect *e)
{
    model_mask mask;
    bool spans;
    model_expect_none(e);
    uint64_t hard = model_check_extents(m, acc, n, true, e, &mask, &spans);
    if (group_idx < 0) {
        model_expect_err(e, MHSLD_E_NO_GROUP);
        if (group_id == 0)
            model_expect_err(e, MHSLD_E_INVAL);
        /* Without a group the accepted list is measured against nothing. */
        model_expect_err(e, MHSLD_E_NOT_IN_GROUP);
        hard = 1;
    } else {
        const model_group *g = &m->h[head].groups[group_idx];
        if (mask & ~g->blocks) {
            model_expect_err(e, MHSLD_E_NOT_IN_GROUP);
            hard = 1;
        }
        /* An accepted extent inside the reservation's blocks but not inside
         * one reserved extent: block-level engines accept it, extent-level
         * ones refuse it.  Both honour the contract. */
        for (size_t i = 0; i < n; i++) {
            model_mask xm = model_extent_mask(m, &acc[i]);
            if (!xm)
                continue;
            bool inside_one = false;
            for (uint32_t k = 0; k < g->n; k++)
                if ((xm & ~model_extent_mask(m, &g->ext[k])) == 0)
                    inside_one = true;
            if (!inside_one)
                model_expect_err(e, MHSLD_E_NOT_IN_GROUP);
        }
    }
    settle(e, hard != 0);
}

static void remove_group(model *m, uint32_t head, uint32_t idx)
{
    model_head *h = &m->h[head];
    for (uint32_t k = idx; k + 1 < h->ngroups; k++)
        h->groups[k] = h->groups[k + 1];
    h->ngroups--;
    memset(&h->groups[h->ngroups], 0, sizeof h->groups[0]);
}

static void free_block(model *m, uint32_t i)
{
    m->b[i].state = MHSLD_BLOCK_FREE;
    m->b[i].owner = MHSLD_OWNER_NONE;
    m->b[i].sharers = 0;
    m->b[i].group = 0;
}

void model_commit_apply(model *m, uint32_t head, int group_idx, const mhsld_extent *acc, size_t n)
{
    model_group *g = &m->h[head].groups[group_idx];
    model_mask accm = 0;
    for (size_t i = 0; i < n; i++)
        accm |= model_extent_mask(m, &acc[i]);
    for (uint32_t i = 0; i < m->nblocks; i++) {
        if (!(g->blocks & BIT(i)))
            continue;
        if (accm & BIT(i)) {
            m->b[i].state = MHSLD_BLOCK_OWNED;
            m->b[i].owner = head;
            m->b[i].group = 0;
        } else {
            free_block(m, i);
        }
    }
    remove_group(m, head, (uint32_t)group_idx);
}

void model_release_expect(const model *m, uint32_t head, const mhsld_extent *ext, size_t n,
                          model_expect *e)
{
    model_mask mask;
    bool spans;
    model_expect_none(e);
    uint64_t hard = model_check_extents(m, ext, n, false, e, &mask, &spans);
    for (uint32_t i = 0; i < m->nblocks; i++)
        if ((mask & BIT(i)) && !(m->b[i].state == MHSLD_BLOCK_OWNED && m->b[i].owner == head)) {
            model_expect_err(e, MHSLD_E_NOT_OWNER);
            hard = 1;
        }
    settle(e, hard != 0);
}

void model_release_apply(model *m, uint32_t head, const mhsld_extent *ext, size_t n)
{
    (void)head;
    for (size_t k = 0; k < n; k++) {
        model_mask mask = model_extent_mask(m, &ext[k]);
        for (uint32_t i = 0; i < m->nblocks; i++)
            if (mask & BIT(i))
                free_block(m, i);
    }
}

static void remove_shared(model *m, uint32_t idx)
{
    for (uint32_t k = idx; k + 1 < m->nshared; k++)
        m->sh[k] = m->sh[k + 1];
    m->nshared--;
    memset(&m->sh[m->nshared], 0, sizeof m->sh[0]);
}

/* Head leaves every shared extent; returns the blocks freed. */
static uint64_t leave_all_shared(model *m, uint32_t head)
{
    uint64_t freed = 0;
    uint32_t bit = (uint32_t)1 << head;
    for (uint32_t s = 0; s < m->nshared;) {
        model_shared *sh = &m->sh[s];
        if (!(sh->sharers & bit)) {
            s++;
            continue;
        }
        sh->sharers &= ~bit;
        for (uint32_t i = 0; i < m->nblocks; i++)
            if (sh->blocks & BIT(i))
                m->b[i].sharers = sh->sharers;
        if (sh->sharers == 0) {
            for (uint32_t i = 0; i < m->nblocks; i++)
                if (sh->blocks & BIT(i)) {
                    free_block(m, i);
                    freed++;
                }
            remove_shared(m, s);
        } else {
            s++;
        }
    }
    return freed;
}

static uint64_t cancel_pending(model *m, uint32_t head)
{
    uint64_t freed = 0;
    for (uint32_t i = 0; i < m->nblocks; i++)
        if (m->b[i].state == MHSLD_BLOCK_PENDING && m->b[i].owner == head) {
            free_block(m, i);
            freed++;
        }
    memset(&m->h[head], 0, sizeof m->h[head]);
    return freed;
}

uint64_t model_release_all_apply(model *m, uint32_t head)
{
    uint64_t freed = cancel_pending(m, head);
    for (uint32_t i = 0; i < m->nblocks; i++)
        if (m->b[i].state == MHSLD_BLOCK_OWNED && m->b[i].owner == head) {
            free_block(m, i);
            freed++;
        }
    return freed + leave_all_shared(m, head);
}

void model_drop_head(model *m, uint32_t head)
{
    (void)model_release_all_apply(m, head);
}

void model_keep_head(model *m, uint32_t head, bool keep_pending)
{
    if (!keep_pending)
        (void)cancel_pending(m, head);
}

int model_find_shared(const model *m, const mhsld_extent *ext)
{
    for (uint32_t s = 0; s < m->nshared; s++)
        if (m->sh[s].ext.dpa == ext->dpa && m->sh[s].ext.len == ext->len)
            return (int)s;
    return -1;
}

void model_share_add_expect(const model *m, uint32_t head, const mhsld_extent *ext,
                            const uint8_t tag[MHSLD_TAG_SIZE], model_expect *e)
{
    model_mask mask;
    bool spans;
    model_expect_none(e);
    uint64_t hard = model_check_extents(m, ext, 1, false, e, &mask, &spans);
    for (uint32_t i = 0; i < m->nblocks; i++)
        if ((mask & BIT(i)) &&
            !(m->g.regions[model_region_of_block(m, i)].flags & MHSLD_REGION_SHARABLE)) {
            model_expect_err(e, MHSLD_E_NOT_SHARABLE);
            hard = 1;
        }
    static const uint8_t zero[MHSLD_TAG_SIZE];
    if (memcmp(tag, zero, MHSLD_TAG_SIZE) == 0) {
        /* A null tag may be refused (shared capacity is named by its tag). */
        model_expect_err(e, MHSLD_E_TAG);
        model_expect_err(e, MHSLD_E_INVAL);
    }
    int s = hard ? -1 : model_find_shared(m, ext);
    if (s >= 0) {
        const model_shared *sh = &m->sh[s];
        if (memcmp(sh->tag, tag, MHSLD_TAG_SIZE) != 0) {
            /* The range is taken under another tag: TAG says why, CONFLICT
             * (its blocks are held) is true as well, and is what a head sees
             * while the other one is still creating the extent. */
            model_expect_err(e, MHSLD_E_TAG);
            model_expect_err(e, MHSLD_E_CONFLICT);
            hard = 1;
        } else if (sh->sharers & ((uint32_t)1 << head)) {
            /* Already a sharer: a no-op success or a refusal both leave the
             * state as it is. */
            model_expect_err(e, MHSLD_E_CONFLICT);
            model_expect_err(e, MHSLD_E_EXISTS);
            model_expect_err(e, MHSLD_E_TAG);
        }
    } else if (!hard) {
        for (uint32_t i = 0; i < m->nblocks; i++)
            if ((mask & BIT(i)) && m->b[i].state != MHSLD_BLOCK_FREE) {
                model_expect_err(e, MHSLD_E_CONFLICT);
                if (m->b[i].state == MHSLD_BLOCK_SHARED)
                    model_expect_err(e, MHSLD_E_TAG);
                hard = 1;
            }
        if (m->nshared >= MHSLD_MAX_SHARED) {
            model_expect_err(e, MHSLD_E_NOSPACE);
            hard = 1;
        }
    }
    settle(e, hard != 0);
}

void model_share_add_apply(model *m, uint32_t head, const mhsld_extent *ext,
                           const uint8_t tag[MHSLD_TAG_SIZE])
{
    uint32_t bit = (uint32_t)1 << head;
    int s = model_find_shared(m, ext);
    model_shared *sh;
    if (s >= 0) {
        sh = &m->sh[s];
        sh->sharers |= bit;
    } else {
        sh = &m->sh[m->nshared++];
        memset(sh, 0, sizeof *sh);
        sh->ext = *ext;
        memcpy(sh->tag, tag, MHSLD_TAG_SIZE);
        sh->sharers = bit;
        sh->blocks = model_extent_mask(m, ext);
    }
    for (uint32_t i = 0; i < m->nblocks; i++)
        if (sh->blocks & BIT(i)) {
            m->b[i].state = MHSLD_BLOCK_SHARED;
            m->b[i].owner = MHSLD_OWNER_SHARED;
            m->b[i].sharers = sh->sharers;
            m->b[i].group = 0;
        }
}

void model_share_release_expect(const model *m, uint32_t head, const mhsld_extent *ext,
                                model_expect *e)
{
    model_expect_none(e);
    int s = model_find_shared(m, ext);
    if (s >= 0 && (m->sh[s].sharers & ((uint32_t)1 << head))) {
        e->ok = true;
        return;
    }
    e->any_err = true; /* the contract names no particular error */
}

void model_share_release_apply(model *m, uint32_t head, const mhsld_extent *ext)
{
    int s = model_find_shared(m, ext);
    if (s < 0)
        return;
    model_shared *sh = &m->sh[s];
    sh->sharers &= ~((uint32_t)1 << head);
    for (uint32_t i = 0; i < m->nblocks; i++)
        if (sh->blocks & BIT(i)) {
            if (sh->sharers)
                m->b[i].sharers = sh->sharers;
            else
                free_block(m, i);
        }
    if (sh->sharers == 0)
        remove_shared(m, (uint32_t)s);
}

bool model_access_ok(const model *m, uint32_t head, uint64_t dpa, uint64_t len)
{
    if (len == 0 || len - 1 > UINT64_MAX - dpa)
        return false;
    uint64_t last = dpa + (len - 1);
    uint64_t cur = dpa;
    for (;;) {
        uint32_t i;
        if (!model_block_of(m, cur, &i))
            return false;
        const model_block *b = &m->b[i];
        bool mine = (b->state == MHSLD_BLOCK_OWNED && b->owner == head) ||
                    (b->state == MHSLD_BLOCK_SHARED && (b->sharers & ((uint32_t)1 << head)));
        if (!mine)
            return false;
        uint64_t end = model_block_dpa(m, i) + (m->g.block_size - 1); /* last byte of block */
        if (end >= last)
            return true;
        cur = end + 1;
    }
}

model_mask model_head_mask(const model *m, uint32_t head, uint32_t state)
{
    model_mask x = 0;
    for (uint32_t i = 0; i < m->nblocks; i++) {
        const model_block *b = &m->b[i];
        if (b->state != state)
            continue;
        if (state == MHSLD_BLOCK_SHARED ? (b->sharers & ((uint32_t)1 << head)) != 0
                                        : (state != MHSLD_BLOCK_FREE && b->owner == head))
            x |= BIT(i);
    }
    return x;
}

model_mask model_head_all(const model *m, uint32_t head)
{
    return model_head_mask(m, head, MHSLD_BLOCK_PENDING) |
           model_head_mask(m, head, MHSLD_BLOCK_OWNED) |
           model_head_mask(m, head, MHSLD_BLOCK_SHARED);
}

uint64_t model_popcount(model_mask x)
{
    return (uint64_t)__builtin_popcountll((uint64_t)x) +
           (uint64_t)__builtin_popcountll((uint64_t)(x >> 64));
}

int model_find_group(const model *m, uint32_t head, uint64_t id)
{
    for (uint32_t k = 0; k < m->h[head].ngroups; k++)
        if (m->h[head].groups[k].id == id)
            return (int)k;
    return -1;
}

bool model_masks_meet(model_mask a, model_mask b)
{
    return (a & b) != 0;
}

void model_describe_blocks(const model *m, char *buf, size_t cap)
{
    size_t off = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i < m->nblocks && off + 12 < cap; i++) {
        const model_block *b = &m->b[i];
        int n;
        switch (b->state) {
        case MHSLD_BLOCK_FREE:
            n = snprintf(buf + off, cap - off, " .");
            break;
        case MHSLD_BLOCK_PENDING:
            n = snprintf(buf + off, cap - off, " p%u", b->owner);
            break;
        case MHSLD_BLOCK_OWNED:
            n = snprintf(buf + off, cap - off, " o%u", b->owner);
            break;
        default:
            n = snprintf(buf + off, cap - off, " s%x", b->sharers);
            break;
        }
        if (n < 0)
            break;
        off += (size_t)n;
    }
}
