/* SPDX-License-Identifier: BSD-2-Clause */
#include "fuzz_compare.h"

#include <stdio.h>
#include <string.h>

#define BIT(i) ((model_mask)1 << (i))

static const char *state_name(uint32_t s)
{
    static const char *const n[] = {"FREE", "PENDING", "OWNED", "SHARED"};
    return s < 4 ? n[s] : "?";
}

/* Blocks covered by a list of extents reported by the engine; false if one
 * of them is not an aligned in-range extent or they are not in DPA order. */
static bool extents_to_mask(const model *m, const mhsld_extent *ext, size_t n, model_mask *out)
{
    model_mask x = 0;
    uint64_t prev_end = 0;
    for (size_t i = 0; i < n; i++) {
        model_mask e = model_extent_mask(m, &ext[i]);
        if (!e || (i > 0 && ext[i].dpa < prev_end) || (x & e))
            return false;
        prev_end = ext[i].dpa + ext[i].len;
        x |= e;
    }
    *out = x;
    return true;
}

static bool compare_blocks(mhsld_state *st, const model *m, model_mask skip, char *why,
                           size_t whylen)
{
    uint64_t count = mhsld_block_count(st);
    if (count != m->nblocks) {
        snprintf(why, whylen, "block count %llu, model %u", (unsigned long long)count, m->nblocks);
        return false;
    }
    for (uint32_t i = 0; i < m->nblocks; i++) {
        mhsld_block_info bi;
        mhsld_status rc = mhsld_block_info_get(st, i, &bi);
        if (rc != MHSLD_OK) {
            snprintf(why, whylen, "block_info_get(%u): %s", i, mhsld_status_name(rc));
            return false;
        }
        if (bi.dpa != model_block_dpa(m, i)) {
            snprintf(why, whylen, "block %u at dpa %#llx, model %#llx", i,
                     (unsigned long long)bi.dpa, (unsigned long long)model_block_dpa(m, i));
            return false;
        }
        if (skip & BIT(i))
            continue;
        const model_block *b = &m->b[i];
        bool same = bi.state == b->state;
        if (same && b->state == MHSLD_BLOCK_FREE)
            same = bi.owner == MHSLD_OWNER_NONE;
        else if (same && b->state == MHSLD_BLOCK_SHARED)
            same = bi.owner == MHSLD_OWNER_SHARED && bi.sharers == b->sharers;
        else if (same)
            same = bi.owner == b->owner;
        if (!same) {
            snprintf(why, whylen,
                     "block %u (dpa %#llx): engine %s owner %#x sharers %#x, model %s owner %#x "
                     "sharers %#x",
                     i, (unsigned long long)bi.dpa, state_name(bi.state), bi.owner, bi.sharers,
                     state_name(b->state), b->owner, b->sharers);
            return false;
        }
    }
    return true;
}

static bool compare_head(mhsld_state *st, const model *m, uint32_t h, mhsld_head *via, char *why,
                         size_t whylen)
{
    mhsld_head_info hi;
    mhsld_status rc = mhsld_head_info_get(st, h, &hi);
    if (rc != MHSLD_OK) {
        snprintf(why, whylen, "head_info_get(%u): %s", h, mhsld_status_name(rc));
        return false;
    }
    uint64_t own = model_popcount(model_head_mask(m, h, MHSLD_BLOCK_OWNED));
    uint64_t pend = model_popcount(model_head_mask(m, h, MHSLD_BLOCK_PENDING));
    uint64_t shr = model_popcount(model_head_mask(m, h, MHSLD_BLOCK_SHARED));
    if (hi.head != h || hi.owned_blocks != own || hi.pending_blocks != pend ||
        hi.shared_blocks != shr || hi.nr_pending != m->h[h].ngroups) {
        snprintf(why, whylen,
                 "head %u info: owned %llu pending %llu shared %llu groups %u; model %llu %llu "
                 "%llu %u",
                 h, (unsigned long long)hi.owned_blocks, (unsigned long long)hi.pending_blocks,
                 (unsigned long long)hi.shared_blocks, hi.nr_pending, (unsigned long long)own,
                 (unsigned long long)pend, (unsigned long long)shr, m->h[h].ngroups);
        return false;
    }
    static const uint32_t kinds[3] = {MHSLD_EXT_OWNED, MHSLD_EXT_PENDING, MHSLD_EXT_SHARED};
    const model_mask want[3] = {model_head_mask(m, h, MHSLD_BLOCK_OWNED),
                                model_head_mask(m, h, MHSLD_BLOCK_PENDING),
                                model_head_mask(m, h, MHSLD_BLOCK_SHARED)};
    for (int k = 0; k < 3; k++) {
        mhsld_extent ext[MODEL_MAX_BLOCKS];
        size_t ret = 0, total = 0;
        uint32_t gen = 0;
        rc = mhsld_extents_get(st, h, kinds[k], 0, ext, NULL, MODEL_MAX_BLOCKS, &ret, &total, &gen);
        model_mask got = 0;
        if (rc != MHSLD_OK || ret != total || !extents_to_mask(m, ext, ret, &got) ||
            got != want[k]) {
            snprintf(why, whylen,
                     "head %u extent list kind %u: %s, %zu of %zu extents, blocks %llx:%016llx, "
                     "model %llx:%016llx",
                     h, kinds[k], mhsld_status_name(rc), ret, total, MODEL_MASK_HI(got),
                     MODEL_MASK_LO(got), MODEL_MASK_HI(want[k]), MODEL_MASK_LO(want[k]));
            return false;
        }
    }
    /* The host's list (owned and shared, in DPA order). */
    {
        mhsld_extent ext[MODEL_MAX_BLOCKS];
        size_t ret = 0, total = 0;
        rc = mhsld_extents_get(st, h, MHSLD_EXT_ALL, 0, ext, NULL, MODEL_MAX_BLOCKS, &ret, &total,
                               NULL);
        model_mask got = 0;
        if (rc != MHSLD_OK || ret != total || !extents_to_mask(m, ext, ret, &got) ||
            got != (want[0] | want[2])) {
            snprintf(why, whylen,
                     "head %u extent list ALL: %s, %zu of %zu, blocks %llx:%016llx, model "
                     "%llx:%016llx",
                     h, mhsld_status_name(rc), ret, total, MODEL_MASK_HI(got), MODEL_MASK_LO(got),
                     MODEL_MASK_HI(want[0] | want[2]), MODEL_MASK_LO(want[0] | want[2]));
            return false;
        }
    }
    if (via) {
        for (uint32_t g = 0; g < m->h[h].ngroups; g++) {
            const model_group *mg = &m->h[h].groups[g];
            if (mg->id == 0)
                continue; /* completed by recovery, id not learnt yet */
            mhsld_extent ext[MHSLD_MAX_EXTENTS];
            size_t n = 0;
            rc = mhsld_pending_get(via, mg->id, ext, MHSLD_MAX_EXTENTS, &n);
            model_mask got = 0;
            model_mask x;
            bool okm = rc == MHSLD_OK && n <= MHSLD_MAX_EXTENTS;
            for (size_t i = 0; okm && i < n; i++) {
                x = model_extent_mask(m, &ext[i]);
                okm = x != 0 && !(got & x);
                got |= x;
            }
            if (!okm || got != mg->blocks) {
                snprintf(why, whylen,
                         "head %u pending group %#llx: %s, %zu extents, blocks %llx:%016llx, "
                         "model %llx:%016llx",
                         h, (unsigned long long)mg->id, mhsld_status_name(rc), n,
                         MODEL_MASK_HI(got), MODEL_MASK_LO(got), MODEL_MASK_HI(mg->blocks),
                         MODEL_MASK_LO(mg->blocks));
                return false;
            }
        }
        uint64_t ids[MHSLD_MAX_PENDING];
        size_t nids = 0;
        rc = mhsld_pending_list(via, ids, MHSLD_MAX_PENDING, &nids);
        bool same = rc == MHSLD_OK && nids == m->h[h].ngroups;
        for (uint32_t g = 0; same && g < m->h[h].ngroups; g++)
            same = m->h[h].groups[g].id == 0 || m->h[h].groups[g].id == ids[g];
        if (!same) {
            snprintf(why, whylen,
                     "head %u pending_list: %s, %zu ids (first %#llx); model %u groups", h,
                     mhsld_status_name(rc), nids, (unsigned long long)(nids ? ids[0] : 0),
                     m->h[h].ngroups);
            return false;
        }
        uint64_t oldest = 0;
        rc = mhsld_pending_oldest(via, &oldest);
        bool unknown = m->h[h].ngroups && m->h[h].groups[0].id == 0;
        if (!unknown && (m->h[h].ngroups ? (rc != MHSLD_OK || oldest != m->h[h].groups[0].id)
                                         : rc == MHSLD_OK)) {
            snprintf(why, whylen,
                     "head %u pending_oldest: %s group %#llx, model %u groups "
                     "(oldest %#llx)",
                     h, mhsld_status_name(rc), (unsigned long long)oldest, m->h[h].ngroups,
                     (unsigned long long)(m->h[h].ngroups ? m->h[h].groups[0].id : 0));
            return false;
        }
    }
    return true;
}

static bool compare_shared(mhsld_state *st, const model *m, model_mask skip, char *why,
                           size_t whylen)
{
    mhsld_shared_info si[MODEL_MAX_SHARED];
    size_t n = 0, total = 0;
    mhsld_status rc = mhsld_shared_list(st, si, MODEL_MAX_SHARED, &n, &total);
    if (rc != MHSLD_OK || n != total) {
        snprintf(why, whylen, "shared_list: %s, %zu of %zu", mhsld_status_name(rc), n, total);
        return false;
    }
    uint32_t expect = 0;
    for (uint32_t s = 0; s < m->nshared; s++)
        if (!(m->sh[s].blocks & skip))
            expect++;
    uint32_t seen = 0;
    for (size_t i = 0; i < n; i++) {
        model_mask x = model_extent_mask(m, &si[i].ext);
        if (x & skip)
            continue;
        int s = model_find_shared(m, &si[i].ext);
        if (s < 0 || m->sh[s].sharers != si[i].sharers ||
            memcmp(m->sh[s].tag, si[i].tag, MHSLD_TAG_SIZE) != 0) {
            snprintf(why, whylen, "shared extent %#llx+%#llx sharers %#x: model %s",
                     (unsigned long long)si[i].ext.dpa, (unsigned long long)si[i].ext.len,
                     si[i].sharers, s < 0 ? "has none" : "differs (sharers or tag)");
            return false;
        }
        seen++;
    }
    if (seen != expect) {
        snprintf(why, whylen, "shared extents: engine lists %u, model has %u", seen, expect);
        return false;
    }
    return true;
}

bool fuzz_compare_model(mhsld_state *st, const model *m, model_mask skip_blocks,
                        uint64_t skip_heads, mhsld_head *const *pending_via, char *why,
                        size_t whylen)
{
    if (!compare_blocks(st, m, skip_blocks, why, whylen))
        return false;
    for (uint32_t h = 0; h < m->g.nr_heads; h++) {
        if (skip_heads & ((uint64_t)1 << h))
            continue;
        /* A head whose shared extents are in doubt cannot be counted. */
        if (model_head_all(m, h) & skip_blocks)
            continue;
        if (!compare_head(st, m, h, pending_via ? pending_via[h] : NULL, why, whylen))
            return false;
    }
    return compare_shared(st, m, skip_blocks, why, whylen);
}

void fuzz_snapshot_take(mhsld_state *st, uint32_t nblocks, uint32_t nheads, fuzz_snapshot *s)
{
    memset(s, 0, sizeof *s);
    s->nblocks = nblocks < MODEL_MAX_BLOCKS ? nblocks : MODEL_MAX_BLOCKS;
    s->nheads = nheads < MHSLD_MAX_HEADS ? nheads : MHSLD_MAX_HEADS;
    for (uint32_t i = 0; i < s->nblocks; i++)
        (void)mhsld_block_info_get(st, i, &s->b[i]);
    for (uint32_t h = 0; h < s->nheads; h++)
        (void)mhsld_head_info_get(st, h, &s->h[h]);
}

bool fuzz_snapshot_equal(const fuzz_snapshot *a, const fuzz_snapshot *b, bool with_liveness,
                         char *why, size_t whylen)
{
    for (uint32_t i = 0; i < a->nblocks; i++) {
        const mhsld_block_info *x = &a->b[i], *y = &b->b[i];
        if (x->state != y->state || x->owner != y->owner || x->sharers != y->sharers ||
            x->extent_start != y->extent_start || x->generation != y->generation) {
            snprintf(why, whylen,
                     "block %u changed: %s owner %#x sharers %#x gen %llu -> %s owner %#x sharers "
                     "%#x gen %llu",
                     i, state_name(x->state), x->owner, x->sharers,
                     (unsigned long long)x->generation, state_name(y->state), y->owner, y->sharers,
                     (unsigned long long)y->generation);
            return false;
        }
    }
    for (uint32_t h = 0; h < a->nheads; h++) {
        const mhsld_head_info *x = &a->h[h], *y = &b->h[h];
        bool same = x->owned_blocks == y->owned_blocks && x->pending_blocks == y->pending_blocks &&
                    x->shared_blocks == y->shared_blocks && x->nr_pending == y->nr_pending &&
                    x->list_generation == y->list_generation && x->inflight_op == y->inflight_op;
        if (with_liveness)
            same = same && x->alive == y->alive && x->epoch == y->epoch;
        if (!same) {
            snprintf(why, whylen,
                     "head %u changed: owned %llu pending %llu shared %llu groups %u listgen %u "
                     "alive %u epoch %llu -> %llu %llu %llu %u %u %u %llu",
                     h, (unsigned long long)x->owned_blocks, (unsigned long long)x->pending_blocks,
                     (unsigned long long)x->shared_blocks, x->nr_pending, x->list_generation,
                     x->alive, (unsigned long long)x->epoch, (unsigned long long)y->owned_blocks,
                     (unsigned long long)y->pending_blocks, (unsigned long long)y->shared_blocks,
                     y->nr_pending, y->list_generation, y->alive, (unsigned long long)y->epoch);
            return false;
        }
    }
    return true;
}

void fuzz_describe_engine(mhsld_state *st, uint32_t nblocks, char *buf, size_t cap)
{
    size_t off = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i < nblocks && off + 12 < cap; i++) {
        mhsld_block_info bi;
        int n;
        if (mhsld_block_info_get(st, i, &bi) != MHSLD_OK)
            n = snprintf(buf + off, cap - off, " ?");
        else if (bi.state == MHSLD_BLOCK_FREE)
            n = snprintf(buf + off, cap - off, " .");
        else if (bi.state == MHSLD_BLOCK_PENDING)
            n = snprintf(buf + off, cap - off, " p%u", bi.owner);
        else if (bi.state == MHSLD_BLOCK_OWNED)
            n = snprintf(buf + off, cap - off, " o%u", bi.owner);
        else
            n = snprintf(buf + off, cap - off, " s%x", bi.sharers);
        if (n < 0)
            break;
        off += (size_t)n;
    }
}
