/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_multihead: interleaved operations of up to MHSLD_MAX_HEADS heads on
 * one real shared state, compared after every step with the reference model
 * (model.c) and checked with mhsld_validate().
 *
 * Input = a geometry (fuzz_geometry_from) followed by a program, one
 * operation after another, each an opcode byte, a head byte and its
 * arguments (see decode_*).  Every head is a separate "process": its own
 * mhsld_state (own descriptor, own mapping of the same memfd) and handle.
 *
 * Crashes: OP_CRASH arms mhsld_test_crash_at(k) and runs an ownership
 * operation; the crash hook longjmps out of the engine, the head is
 * abandoned (mhsld_test_abandon: its lock dropped as if its process had
 * died) and its operation stays "in doubt": until a recovery the blocks it
 * could have touched are not compared.  The recovery (mhsld_recover by
 * anyone, or the head's re-attach) must then leave the state equal to the
 * model with the operation either never applied or fully applied (for a
 * reserve: never applied), then the DROP/KEEP policy; the recovery report
 * says which, and the state must then match that candidate exactly.
 *
 * A divergence aborts with the program executed so far.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_compare.h"
#include "fuzz_data_producer.h"
#include "fuzz_helpers.h"
#include "fuzz_statefile.h"
#include "model.h"
#include "mhsld/mhsld.h"
#include "mhsld/testing.h"

#define BIT(i) ((model_mask)1 << (i))
#define MAX_STEPS 96u
#define REQ_CAP (MHSLD_MAX_EXTENTS + 1u)

enum op_kind {
    OP_ATTACH = 0,
    OP_RESERVE,
    OP_COMMIT,
    OP_RELEASE,
    OP_RELEASE_ALL,
    OP_SHARE_ADD,
    OP_SHARE_RELEASE,
    OP_ACCESS,
    OP_CRASH,
    OP_RECOVER,
    OP_DETACH,
    OP_QUERY,
    OP_MISUSE,
    /* Last, so that the opcode bytes of older inputs (below 13) keep their
     * meaning. */
    OP_CLAIM,
    OP__COUNT
};

static const char *const op_names[OP__COUNT] = {
    "attach", "reserve", "commit",  "release", "release_all", "share_add", "share_release",
    "access", "crash",   "recover", "detach",  "query",       "misuse",    "claim"};

typedef struct op_args {
    uint32_t kind;
    uint32_t head;
    size_t n;
    mhsld_extent ext[REQ_CAP];
    int group_idx; /* commit: model group index, -1 = unknown id */
    uint64_t group;
    uint8_t tag[MHSLD_TAG_SIZE];
} op_args;

typedef struct crash_rec {
    op_args op;
    bool could_succeed; /* the model accepted success for it */
    model_mask doubt;
} crash_rec;

typedef struct slot {
    mhsld_state *st; /* the head's own mapping ("process") */
    mhsld_head *h;   /* live handle, or NULL */
    mhsld_state *stale_st;
    mhsld_head *stale; /* handle fenced by a forced recovery */
    bool crashed;
    bool ever;
    crash_rec cr;
} slot;

typedef struct ctx {
    fuzz_statefile sf;
    mhsld_geometry g;
    mhsld_state *obs; /* the shared mapping; also the observer's (validate, info) */
    bool per_process; /* each head maps the state itself, as separate processes do */
    model m;
    slot s[MHSLD_MAX_HEADS];
    uint32_t step;
    op_args cur;
} ctx;

/* ---- helpers ---------------------------------------------------------- */

static model_mask doubt_blocks(const ctx *c)
{
    model_mask x = 0;
    for (uint32_t h = 0; h < c->g.nr_heads; h++)
        if (c->s[h].crashed)
            x |= c->s[h].cr.doubt;
    return x;
}

static uint64_t doubt_heads(const ctx *c)
{
    uint64_t x = 0;
    for (uint32_t h = 0; h < c->g.nr_heads; h++)
        if (c->s[h].crashed)
            x |= (uint64_t)1 << h;
    return x;
}

/* Learn the id of a reservation that recovery completed: it is the one
 * pending reservation of the head that the model does not know yet. */
static void learn_group_ids(ctx *c)
{
    for (uint32_t h = 0; h < c->g.nr_heads; h++) {
        model_head *mh = &c->m.h[h];
        int unknown = -1;
        for (uint32_t i = 0; i < mh->ngroups; i++)
            if (mh->groups[i].id == 0)
                unknown = (int)i;
        uint64_t ids[MHSLD_MAX_PENDING];
        size_t n = 0;
        if (!c->s[h].h || unknown < 0 ||
            mhsld_pending_list(c->s[h].h, ids, MHSLD_MAX_PENDING, &n) != MHSLD_OK)
            continue;
        for (size_t k = 0; k < n && k < MHSLD_MAX_PENDING; k++) {
            if (model_find_group(&c->m, h, ids[k]) >= 0)
                continue;
            model_group *gr = &mh->groups[unknown];
            gr->id = ids[k];
            for (uint32_t i = 0; i < c->m.nblocks; i++)
                if (gr->blocks & BIT(i))
                    c->m.b[i].group = ids[k];
            fuzz_trace("    (group completed by recovery is %#llx)", (unsigned long long)ids[k]);
            break;
        }
    }
}

static void check_against_model(ctx *c, const char *when)
{
    char why[512];
    learn_group_ids(c);
    mhsld_head *via[MHSLD_MAX_HEADS];
    for (uint32_t h = 0; h < MHSLD_MAX_HEADS; h++)
        via[h] = h < c->g.nr_heads ? c->s[h].h : NULL;
    if (!fuzz_compare_model(c->obs, &c->m, doubt_blocks(c), doubt_heads(c), via, why, sizeof why)) {
        char blocks[512], eng[512];
        model_describe_blocks(&c->m, blocks, sizeof blocks);
        fuzz_describe_engine(c->obs, c->m.nblocks, eng, sizeof eng);
        fuzz_fail(__FILE__, __LINE__,
                  "step %u (%s): engine and model differ: %s\n  model: %s\n  engine:%s", c->step,
                  when, why, blocks, eng);
    }
    mhsld_status rc = mhsld_validate(c->obs, why, sizeof why);
    /* A dead head's unrecovered operation is "in flight": validate may say
     * so (MHSLD_E_BUSY), and only then. */
    bool busy_ok = doubt_heads(c) != 0 && rc == MHSLD_E_BUSY;
    FUZZ_ASSERT_MSG(rc == MHSLD_OK || busy_ok, "step %u (%s): mhsld_validate: %s: %s", c->step,
                    when, mhsld_status_name(rc), why);
}

static void describe_ext(const op_args *a, char *buf, size_t cap)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < a->n && i < 8 && off < cap; i++) {
        int n = snprintf(buf + off, cap - off, " %#llx+%#llx", (unsigned long long)a->ext[i].dpa,
                         (unsigned long long)a->ext[i].len);
        if (n < 0)
            break;
        off += (size_t)n;
    }
    if (a->n > 8 && off < cap)
        snprintf(buf + off, cap - off, " ... (%zu extents)", a->n);
}

static void expect_check(ctx *c, const char *what, const model_expect *e, mhsld_status rc)
{
    if (model_expect_accepts(e, rc))
        return;
    char want[256];
    model_expect_describe(e, want, sizeof want);
    fuzz_fail(__FILE__, __LINE__, "step %u: %s returned %s, model accepts %s", c->step, what,
              mhsld_status_name(rc), want);
}

static void same_snapshot(ctx *c, const fuzz_snapshot *before, bool with_liveness, const char *what)
{
    fuzz_snapshot *after = malloc(sizeof *after);
    FUZZ_ASSERT(after);
    fuzz_snapshot_take(c->obs, before->nblocks, before->nheads, after);
    char why[512];
    bool same = fuzz_snapshot_equal(before, after, with_liveness, why, sizeof why);
    free(after);
    FUZZ_ASSERT_MSG(same, "step %u: %s must not change the state, but %s", c->step, what, why);
}

static fuzz_snapshot *snap(ctx *c)
{
    fuzz_snapshot *s = malloc(sizeof *s);
    FUZZ_ASSERT(s);
    fuzz_snapshot_take(c->obs, c->m.nblocks, c->g.nr_heads, s);
    return s;
}

static mhsld_state *open_state(ctx *c)
{
    mhsld_state *st = NULL;
    mhsld_status rc = fuzz_state_open(&c->sf, MHSLD_OPEN_EXISTING, NULL, &st);
    FUZZ_ASSERT_MSG(rc == MHSLD_OK && st, "step %u: reopening the live state: %s", c->step,
                    mhsld_status_name(rc));
    return st;
}

/* ---- decoding arguments ----------------------------------------------- */

static uint64_t bs_of(const ctx *c)
{
    return c->g.block_size;
}

/* A run of blocks of `mask` starting at its pick-th block (modulo their
 * number), at most `want` blocks long, inside one region, as one extent. */
static bool pick_run(const ctx *c, uint32_t pick, uint32_t want, model_mask mask, mhsld_extent *out)
{
    uint32_t n = (uint32_t)model_popcount(mask);
    if (n == 0)
        return false;
    pick %= n;
    uint32_t i = 0;
    for (i = 0; i < c->m.nblocks; i++)
        if ((mask & BIT(i)) && pick-- == 0)
            break;
    uint32_t r = model_region_of_block(&c->m, i), j = i;
    while (j + 1 < c->m.nblocks && (mask & BIT(j + 1)) &&
           model_region_of_block(&c->m, j + 1) == r && j + 1 - i < want)
        j++;
    out->dpa = model_block_dpa(&c->m, i);
    out->len = (uint64_t)(j - i + 1) * bs_of(c);
    return true;
}

static void gen_extent(ctx *c, fuzz_dp *dp, uint32_t head, mhsld_extent *x)
{
    uint64_t bs = bs_of(c);
    uint32_t kind = fuzz_dp_range(dp, 0, 9);
    uint32_t nb = c->m.nblocks;
    switch (kind) {
    default: /* 0..4: aligned blocks by index */
        x->dpa = model_block_dpa(&c->m, fuzz_dp_range(dp, 0, nb - 1));
        x->len = (uint64_t)fuzz_dp_range(dp, 1, 4) * bs;
        return;
    case 5: { /* a run the head owns (the bytes are read either way) */
        uint32_t pick = fuzz_dp_range(dp, 0, 63), want = fuzz_dp_range(dp, 1, 4);
        if (head < c->g.nr_heads &&
            pick_run(c, pick, want, model_head_mask(&c->m, head, MHSLD_BLOCK_OWNED), x))
            return;
        x->dpa = model_block_dpa(&c->m, 0);
        x->len = bs;
        return;
    }
    case 6: /* unaligned start or length */
        x->dpa =
            model_block_dpa(&c->m, fuzz_dp_range(dp, 0, nb - 1)) + (fuzz_dp_bool(dp) ? 4096u : 0u);
        x->len = (uint64_t)fuzz_dp_range(dp, 0, 3) * bs + (fuzz_dp_bool(dp) ? 512u : 0u);
        return;
    case 7: /* raw block numbers: static capacity, gaps, past the end */
        x->dpa = (uint64_t)fuzz_dp_range(dp, 0, 130) * bs;
        x->len = (uint64_t)fuzz_dp_range(dp, 0, 8) * bs;
        return;
    case 8: /* edges: zero length, overflow, the very end of the space */
        switch (fuzz_dp_range(dp, 0, 3)) {
        case 0:
            x->dpa = model_block_dpa(&c->m, 0);
            x->len = 0;
            break;
        case 1:
            x->dpa = UINT64_MAX - bs + 1;
            x->len = 2 * bs;
            break;
        case 2:
            x->dpa = model_block_dpa(&c->m, nb - 1);
            x->len = UINT64_MAX - bs + 1;
            break;
        default:
            x->dpa = c->g.regions[c->g.nr_regions - 1].base + c->g.regions[c->g.nr_regions - 1].len;
            x->len = bs;
            break;
        }
        return;
    case 9: /* fully raw */
        x->dpa = fuzz_dp_u64(dp);
        x->len = fuzz_dp_u64(dp);
        return;
    }
}

static void gen_request(ctx *c, fuzz_dp *dp, op_args *a)
{
    uint32_t sel = fuzz_dp_range(dp, 0, 15);
    if (sel == 0) {
        a->n = 0;
    } else if (sel == 1) {
        a->n = MHSLD_MAX_EXTENTS + 1; /* too many */
        for (size_t i = 0; i < a->n; i++) {
            a->ext[i].dpa = model_block_dpa(&c->m, (uint32_t)(i % c->m.nblocks));
            a->ext[i].len = bs_of(c);
        }
        return;
    } else {
        a->n = sel <= 9 ? 1 : (size_t)(sel - 8); /* 1..7 */
    }
    for (size_t i = 0; i < a->n; i++)
        gen_extent(c, dp, a->head, &a->ext[i]);
}

static void gen_tag(fuzz_dp *dp, uint8_t tag[MHSLD_TAG_SIZE])
{
    memset(tag, 0, MHSLD_TAG_SIZE);
    uint32_t t = fuzz_dp_range(dp, 0, 4);
    if (t < 4) {
        tag[0] = (uint8_t)(0xA0 + t);
        tag[15] = 0x5A;
    }
}

static void gen_share_ext(ctx *c, fuzz_dp *dp, op_args *a)
{
    a->n = 1;
    /* Three bytes whatever the state: existing?, which, same tag? */
    uint32_t existing = fuzz_dp_range(dp, 0, 2), which = fuzz_dp_range(dp, 0, 63);
    uint32_t same_tag = fuzz_dp_range(dp, 0, 3);
    if (c->m.nshared && existing != 0) {
        const model_shared *sh = &c->m.sh[which % c->m.nshared];
        a->ext[0] = sh->ext;
        if (same_tag != 0)
            memcpy(a->tag, sh->tag, MHSLD_TAG_SIZE);
        else
            gen_tag(dp, a->tag);
        return;
    }
    /* Prefer blocks of a sharable region. */
    uint32_t r = fuzz_dp_range(dp, 0, c->g.nr_regions - 1);
    if (fuzz_dp_range(dp, 0, 3) != 0) {
        uint64_t nb = c->g.regions[r].len / bs_of(c);
        uint32_t first = fuzz_dp_range(dp, 0, (uint32_t)nb - 1);
        uint32_t len = fuzz_dp_range(dp, 1, 3);
        a->ext[0].dpa = c->g.regions[r].base + first * bs_of(c);
        a->ext[0].len = len * bs_of(c);
    } else {
        gen_extent(c, dp, a->head, &a->ext[0]);
    }
    gen_tag(dp, a->tag);
}

static void gen_commit(ctx *c, fuzz_dp *dp, op_args *a)
{
    const model_head *mh = &c->m.h[a->head];
    /* One byte whatever the state: 0..7 a pending group (if it exists),
     * anything else an unknown group id. */
    uint32_t sel = fuzz_dp_range(dp, 0, 15);
    a->n = 0;
    if (sel >= mh->ngroups) {
        a->group_idx = -1;
        a->group = fuzz_dp_bool(dp) ? 0 : fuzz_dp_u64(dp) | 0x8000000000000000ull;
        for (uint32_t g = 0; g < mh->ngroups; g++)
            if (mh->groups[g].id == a->group && a->group != 0) /* 0: id not known yet */
                a->group_idx = (int)g;
        if (fuzz_dp_bool(dp))
            gen_extent(c, dp, a->head, &a->ext[a->n++]);
        return;
    }
    const model_group *g = &mh->groups[sel];
    if (g->id == 0) { /* a group completed by recovery whose id is not known yet */
        a->group_idx = -1;
        a->group = 0;
        return;
    }
    a->group_idx = (int)sel;
    a->group = g->id;
    uint64_t bs = bs_of(c);
    for (uint32_t k = 0; k < g->n && a->n + 1 < REQ_CAP; k++) {
        const mhsld_extent *x = &g->ext[k];
        switch (fuzz_dp_range(dp, 0, 5)) {
        case 0:
            break;
        case 1:
        case 2:
            a->ext[a->n++] = *x;
            break;
        case 3:
            a->ext[a->n].dpa = x->dpa;
            a->ext[a->n++].len = bs;
            break;
        case 4:
            a->ext[a->n].dpa = x->dpa + x->len - bs;
            a->ext[a->n++].len = bs;
            break;
        default:
            gen_extent(c, dp, a->head, &a->ext[a->n++]);
            break;
        }
    }
}

/* ---- ownership operations (shared by plain and crashing runs) ---------- */

static void model_expect_for(ctx *c, const op_args *a, model_expect *e)
{
    switch (a->kind) {
    case OP_RESERVE:
        model_reserve_expect(&c->m, a->head, a->ext, a->n, e);
        break;
    case OP_CLAIM:
        model_claim_expect(&c->m, a->head, a->ext, a->n, e);
        break;
    case OP_COMMIT:
        model_commit_expect(&c->m, a->head, a->group_idx, a->group, a->ext, a->n, e);
        break;
    case OP_RELEASE:
        model_release_expect(&c->m, a->head, a->ext, a->n, e);
        break;
    case OP_RELEASE_ALL:
        model_expect_none(e);
        e->ok = true;
        break;
    case OP_SHARE_ADD:
        model_share_add_expect(&c->m, a->head, &a->ext[0], a->tag, e);
        break;
    case OP_SHARE_RELEASE:
        model_share_release_expect(&c->m, a->head, &a->ext[0], e);
        break;
    default:
        FUZZ_ASSERT(0);
    }
}

/* Blocks an operation may touch. */
static model_mask footprint(const model *m, const op_args *a)
{
    model_mask x = 0;
    switch (a->kind) {
    case OP_COMMIT:
        if (a->group_idx >= 0)
            x |= m->h[a->head].groups[a->group_idx].blocks;
        break;
    case OP_RELEASE_ALL:
        x |= model_head_all(m, a->head);
        break;
    default:
        break;
    }
    size_t n = a->n < REQ_CAP ? a->n : REQ_CAP;
    for (size_t i = 0; i < n; i++)
        x |= model_extent_mask(m, &a->ext[i]);
    if (a->kind == OP_SHARE_ADD || a->kind == OP_SHARE_RELEASE) {
        int s = model_find_shared(m, &a->ext[0]);
        if (s >= 0)
            x |= m->sh[s].blocks;
    }
    return x;
}

static void model_apply(model *m, const op_args *a, uint64_t group)
{
    switch (a->kind) {
    case OP_RESERVE:
        model_reserve_apply(m, a->head, a->ext, a->n, group);
        break;
    case OP_CLAIM:
        model_claim_apply(m, a->head, a->ext, a->n);
        break;
    case OP_COMMIT: {
        int gi = model_find_group(m, a->head, a->group);
        FUZZ_ASSERT(gi >= 0);
        model_commit_apply(m, a->head, gi, a->ext, a->n);
        break;
    }
    case OP_RELEASE:
        model_release_apply(m, a->head, a->ext, a->n);
        break;
    case OP_RELEASE_ALL:
        (void)model_release_all_apply(m, a->head);
        break;
    case OP_SHARE_ADD:
        model_share_add_apply(m, a->head, &a->ext[0], a->tag);
        break;
    case OP_SHARE_RELEASE:
        model_share_release_apply(m, a->head, &a->ext[0]);
        break;
    default:
        FUZZ_ASSERT(0);
    }
}

typedef struct op_result {
    mhsld_status rc;
    uint64_t group;
    uint64_t freed;
    mhsld_conflict conflict;
} op_result;

static mhsld_status call_engine(mhsld_head *h, const op_args *a, op_result *r)
{
    memset(&r->conflict, 0xEE, sizeof r->conflict);
    switch (a->kind) {
    case OP_RESERVE:
        return mhsld_reserve(h, a->ext, a->n, &r->group, &r->conflict);
    case OP_CLAIM:
        return mhsld_claim(h, a->ext, a->n, &r->conflict);
    case OP_COMMIT:
        return mhsld_commit(h, a->group, a->ext, a->n);
    case OP_RELEASE:
        return mhsld_release(h, a->ext, a->n, &r->conflict);
    case OP_RELEASE_ALL:
        return mhsld_release_all(h, &r->freed);
    case OP_SHARE_ADD:
        return mhsld_share_add(h, &a->ext[0], a->tag, &r->conflict);
    case OP_SHARE_RELEASE:
        return mhsld_share_release(h, &a->ext[0]);
    default:
        FUZZ_ASSERT(0);
    }
    return MHSLD_E_INVAL;
}

/* Check the conflict report: it must name a block of the request that the
 * model holds by someone else (reserve/share) or that the head does not
 * own (release). */
static void check_conflict(ctx *c, const op_args *a, const op_result *r)
{
    uint32_t idx;
    FUZZ_ASSERT_MSG(model_block_of(&c->m, r->conflict.dpa, &idx) &&
                        model_block_dpa(&c->m, idx) == r->conflict.dpa,
                    "step %u: conflict names dpa %#llx, not a block", c->step,
                    (unsigned long long)r->conflict.dpa);
    model_mask req = 0;
    for (size_t i = 0; i < a->n && i < REQ_CAP; i++)
        req |= model_extent_mask(&c->m, &a->ext[i]);
    FUZZ_ASSERT_MSG(req & BIT(idx), "step %u: conflict block %#llx is not in the request", c->step,
                    (unsigned long long)r->conflict.dpa);
    const model_block *b = &c->m.b[idx];
    uint32_t mowner = b->state == MHSLD_BLOCK_FREE     ? MHSLD_OWNER_NONE
                      : b->state == MHSLD_BLOCK_SHARED ? MHSLD_OWNER_SHARED
                                                       : b->owner;
    FUZZ_ASSERT_MSG(r->conflict.state == b->state && r->conflict.owner == mowner,
                    "step %u: conflict at %#llx reports state %u owner %#x, model %u owner %#x",
                    c->step, (unsigned long long)r->conflict.dpa, r->conflict.state,
                    r->conflict.owner, b->state, mowner);
    if (a->kind == OP_RELEASE)
        FUZZ_ASSERT_MSG(!(b->state == MHSLD_BLOCK_OWNED && b->owner == a->head),
                        "step %u: release conflict names a block the head owns", c->step);
    else
        FUZZ_ASSERT_MSG(b->state != MHSLD_BLOCK_FREE, "step %u: conflict names a free block %#llx",
                        c->step, (unsigned long long)r->conflict.dpa);
}

/* Settle a finished (not crashed) ownership operation against the model. */
static void settle_op(ctx *c, const op_args *a, const model_expect *e, const op_result *r,
                      const fuzz_snapshot *before)
{
    char what[64];
    snprintf(what, sizeof what, "%s by head %u", op_names[a->kind], a->head);
    fuzz_trace("    -> %s", mhsld_status_name(r->rc));
    expect_check(c, what, e, r->rc);
    if (r->rc == MHSLD_OK) {
        if (a->kind == OP_RESERVE) {
            FUZZ_ASSERT_MSG(r->group != 0, "step %u: reserve succeeded with group 0", c->step);
            for (uint32_t g = 0; g < c->m.h[a->head].ngroups; g++)
                FUZZ_ASSERT_MSG(c->m.h[a->head].groups[g].id != r->group,
                                "step %u: reserve returned group %#llx, already pending", c->step,
                                (unsigned long long)r->group);
        }
        uint64_t freed_model = 0;
        if (a->kind == OP_RELEASE_ALL) {
            freed_model = model_release_all_apply(&c->m, a->head);
            FUZZ_ASSERT_MSG(r->freed == freed_model,
                            "step %u: release_all freed %llu blocks, model %llu", c->step,
                            (unsigned long long)r->freed, (unsigned long long)freed_model);
        } else {
            model_apply(&c->m, a, r->group);
        }
    } else {
        if (r->rc == MHSLD_E_CONFLICT || (r->rc == MHSLD_E_NOT_OWNER && a->kind == OP_RELEASE))
            check_conflict(c, a, r);
        same_snapshot(c, before, true, what);
    }
}

static jmp_buf crash_jb;

static void crash_hook(void *arg)
{
    (void)arg;
    longjmp(crash_jb, 1);
}

static void run_ownership(ctx *c, op_args *a, uint64_t crash_k)
{
    slot *s = &c->s[a->head];
    char exts[256];
    describe_ext(a, exts, sizeof exts);
    fuzz_trace("#%u %s%s head %u n=%zu%s group=%#llx", c->step, crash_k ? "crash:" : "",
               op_names[a->kind], a->head, a->n, exts, (unsigned long long)a->group);
    if (crash_k)
        fuzz_trace("    (crash armed at atomic step %llu)", (unsigned long long)crash_k);
    if (s->stale && !s->h) {
        /* Operations through a fenced handle fail and change nothing. */
        fuzz_snapshot *before = snap(c);
        op_result r;
        r.rc = call_engine(s->stale, a, &r);
        fuzz_trace("    (through the fenced handle) -> %s", mhsld_status_name(r.rc));
        FUZZ_ASSERT_MSG(r.rc == MHSLD_E_STALE, "step %u: %s through a fenced handle: %s", c->step,
                        op_names[a->kind], mhsld_status_name(r.rc));
        same_snapshot(c, before, true, "an operation through a fenced handle");
        free(before);
        return;
    }
    if (!s->h) {
        fuzz_trace("    skipped: head not attached");
        return;
    }
    if (model_masks_meet(footprint(&c->m, a), doubt_blocks(c))) {
        fuzz_trace("    skipped: touches blocks of an unrecovered crash");
        return;
    }
    model_expect e;
    model_expect_for(c, a, &e);
    fuzz_snapshot *before = snap(c);
    op_result r;
    memset(&r, 0, sizeof r);
    volatile int crashed = 0;
    if (crash_k) {
        if (setjmp(crash_jb) == 0) {
            mhsld_test_crash_at(crash_k, crash_hook, NULL);
            r.rc = call_engine(s->h, a, &r);
            mhsld_test_crash_at(0, NULL, NULL);
        } else {
            mhsld_test_crash_at(0, NULL, NULL);
            crashed = 1;
        }
    } else {
        r.rc = call_engine(s->h, a, &r);
    }
    if (!crashed) {
        settle_op(c, a, &e, &r, before);
        free(before);
        return;
    }
    free(before);
    /* The head's process is gone. */
    fuzz_trace("    crashed; head %u abandoned with its operation in doubt", a->head);
    mhsld_test_abandon(s->h);
    s->h = NULL;
    if (s->st != c->obs)
        mhsld_close(s->st);
    s->st = NULL;
    s->crashed = true;
    s->cr.op = *a;
    s->cr.could_succeed = e.ok;
    s->cr.doubt = footprint(&c->m, a);
}

/* ---- recovery: candidates and resolution ------------------------------- */

typedef struct cand {
    model m;
    int applied;      /* the crashed op applied (1) or not (0); -1: no crash */
    int kept_pending; /* KEEP policy kept pending reservations */
} cand;

/* release_all is a sequence of atomic operations (cancel each pending
 * reservation, release the owned capacity, leave each shared extent), not
 * one: after a crash inside it, each of those units is either done or not.
 * Build the model in which exactly the units that the engine's state shows
 * as done are applied; the full comparison then checks that no unit is
 * half done. */
static void apply_release_all_units(ctx *c, model *m, uint32_t head)
{
    mhsld_block_info bi;
    model_head *mh = &m->h[head];
    for (uint32_t g = 0; g < mh->ngroups;) {
        uint32_t first = model_mask_first(mh->groups[g].blocks);
        if (mhsld_block_info_get(c->obs, first, &bi) == MHSLD_OK && bi.state == MHSLD_BLOCK_FREE) {
            model_commit_apply(m, head, (int)g, NULL, 0); /* cancelled */
            continue;
        }
        g++;
    }
    for (uint32_t i = 0; i < m->nblocks; i++)
        if (m->b[i].state == MHSLD_BLOCK_OWNED && m->b[i].owner == head &&
            mhsld_block_info_get(c->obs, i, &bi) == MHSLD_OK && bi.state == MHSLD_BLOCK_FREE) {
            mhsld_extent x = {model_block_dpa(m, i), m->g.block_size};
            model_release_apply(m, head, &x, 1);
        }
    for (uint32_t k = 0; k < m->nshared;) {
        model_shared *sh = &m->sh[k];
        uint32_t first = model_mask_first(sh->blocks);
        if ((sh->sharers & ((uint32_t)1 << head)) &&
            mhsld_block_info_get(c->obs, first, &bi) == MHSLD_OK &&
            (bi.state != MHSLD_BLOCK_SHARED || !(bi.sharers & ((uint32_t)1 << head)))) {
            mhsld_extent x = sh->ext;
            uint32_t before = m->nshared;
            model_share_release_apply(m, head, &x);
            if (m->nshared < before)
                continue; /* removed: the same index now holds the next one */
        }
        k++;
    }
}

static uint32_t build_candidates(ctx *c, uint32_t head, bool keep, cand *out)
{
    uint32_t n = 0;
    slot *s = &c->s[head];
    if (s->crashed && s->cr.op.kind == OP_RELEASE_ALL) {
        for (int kp = 0; kp < (keep ? 2 : 1); kp++) {
            cand *x = &out[n++];
            x->m = c->m;
            x->applied = 2;
            x->kept_pending = keep ? kp : 0;
            apply_release_all_units(c, &x->m, head);
            if (keep)
                model_keep_head(&x->m, head, kp != 0);
            else
                model_drop_head(&x->m, head);
        }
    }
    for (int applied = 0; applied < 2; applied++) {
        /* A reserve whose every claim landed is completed by recovery (the
         * engine's choice; still never half): its group id is then unknown
         * to the model (0) until pending_oldest names it. */
        if (applied && (!s->crashed || !s->cr.could_succeed))
            continue;
        for (int kp = 0; kp < (keep ? 2 : 1); kp++) {
            cand *x = &out[n++];
            x->m = c->m;
            x->applied = s->crashed ? applied : -1;
            x->kept_pending = keep ? kp : 0;
            if (applied) {
                /* The group may be gone only if the model moved on. */
                if (s->cr.op.kind == OP_COMMIT &&
                    model_find_group(&x->m, head, s->cr.op.group) < 0) {
                    n--;
                    continue;
                }
                model_apply(&x->m, &s->cr.op, 0);
            }
            if (keep)
                model_keep_head(&x->m, head, kp != 0);
            else
                model_drop_head(&x->m, head);
        }
    }
    return n;
}

/* The engine's state must now equal one candidate exactly; adopt it. */
static void resolve(ctx *c, uint32_t head, bool keep, const mhsld_recover_report *rep,
                    const char *how)
{
    /* Scratch space reused across calls (and inputs): every candidate used is
     * fully written by build_candidates(), nothing is read from a previous
     * use. */
    static cand *cands;
    if (!cands)
        cands = malloc(6 * sizeof *cands);
    FUZZ_ASSERT(cands);
    slot *s = &c->s[head];
    uint32_t n = build_candidates(c, head, keep, cands);
    model_mask skip = 0;
    uint64_t skip_heads = 0;
    for (uint32_t h = 0; h < c->g.nr_heads; h++)
        if (h != head && c->s[h].crashed) {
            skip |= c->s[h].cr.doubt;
            skip_heads |= (uint64_t)1 << h;
        }
    char why[6][512];
    int match = -1;
    for (uint32_t i = 0; i < n && match < 0; i++) {
        if (cands[i].applied == 2 &&
            fuzz_compare_model(c->obs, &cands[i].m, skip, skip_heads, NULL, why[i], sizeof why[i]))
            match = (int)i; /* per-unit outcome of release_all (report: its last unit) */
        else if (cands[i].applied == 2)
            ;
        else if (rep && rep->rolled_forward && cands[i].applied == 0)
            snprintf(why[i], sizeof why[i], "report says rolled forward");
        else if (rep && rep->rolled_back && cands[i].applied == 1)
            snprintf(why[i], sizeof why[i], "report says rolled back");
        else if (fuzz_compare_model(c->obs, &cands[i].m, skip, skip_heads, NULL, why[i],
                                    sizeof why[i]))
            match = (int)i;
    }
    if (match < 0) {
        char eng[512];
        fuzz_describe_engine(c->obs, c->m.nblocks, eng, sizeof eng);
        fprintf(stderr, "recovery of head %u (%s) matches no legal outcome:\n  engine:%s\n", head,
                how, eng);
        for (uint32_t i = 0; i < n; i++) {
            char blocks[512];
            model_describe_blocks(&cands[i].m, blocks, sizeof blocks);
            fprintf(stderr, "  candidate %u (op %s, pending %s):%s\n    differs: %s\n", i,
                    cands[i].applied < 0    ? "none"
                    : cands[i].applied == 2 ? "applied per unit"
                    : cands[i].applied      ? "applied"
                                            : "not applied",
                    cands[i].kept_pending ? "kept" : "dropped", blocks, why[i]);
        }
        if (rep)
            fprintf(stderr,
                    "  report: op %u (%s) rolled_back %u rolled_forward %u freed %llu "
                    "kept %llu\n",
                    rep->op, mhsld_op_name(rep->op), rep->rolled_back, rep->rolled_forward,
                    (unsigned long long)rep->blocks_freed, (unsigned long long)rep->blocks_kept);
        fuzz_fail(__FILE__, __LINE__, "step %u: recovery diverges from the model", c->step);
    }
    fuzz_trace("    recovery matched: crashed op %s, pending %s",
               cands[match].applied < 0    ? "none"
               : cands[match].applied == 2 ? "applied per unit"
               : cands[match].applied      ? "applied"
                                           : "not applied",
               cands[match].kept_pending ? "kept" : "dropped");
    c->m = cands[match].m;
    if (rep) {
        /* "Blocks still held by the head": its owned and pending blocks; the
         * engine leaves shared blocks out of the count (they are held under a
         * shared slot), the wording of the header would count them too.
         * Both readings are accepted; nothing else is. */
        uint64_t excl = model_popcount(model_head_mask(&c->m, head, MHSLD_BLOCK_OWNED) |
                                       model_head_mask(&c->m, head, MHSLD_BLOCK_PENDING));
        uint64_t all = model_popcount(model_head_all(&c->m, head));
        FUZZ_ASSERT_MSG(rep->blocks_kept == excl || rep->blocks_kept == all,
                        "step %u: recovery report keeps %llu blocks, model %llu (%llu with "
                        "shared)",
                        c->step, (unsigned long long)rep->blocks_kept, (unsigned long long)excl,
                        (unsigned long long)all);
        if (!s->crashed)
            FUZZ_ASSERT_MSG(rep->rolled_back == 0 && rep->rolled_forward == 0,
                            "step %u: recovery of a head with nothing in flight reports a "
                            "roll-back/forward",
                            c->step);
    }
    s->crashed = false;
    memset(&s->cr, 0, sizeof s->cr);
}

static bool blocks_meet_doubt_of_others(ctx *c, uint32_t head)
{
    model_mask mine = model_head_all(&c->m, head);
    for (uint32_t h = 0; h < c->g.nr_heads; h++)
        if (h != head && c->s[h].crashed && (c->s[h].cr.doubt & mine))
            return true;
    return false;
}

static void drop_stale(ctx *c, slot *s)
{
    if (!s->stale)
        return;
    fuzz_snapshot *before = snap(c);
    mhsld_detach(s->stale);
    if (s->stale_st != c->obs)
        mhsld_close(s->stale_st);
    s->stale = NULL;
    s->stale_st = NULL;
    /* Detaching a fenced handle must not touch the current incarnation. */
    same_snapshot(c, before, false, "detaching a fenced handle");
    free(before);
}

static void op_attach(ctx *c, fuzz_dp *dp, uint32_t head)
{
    uint32_t flags = fuzz_dp_bool(dp) ? MHSLD_ATTACH_KEEP : MHSLD_ATTACH_DROP;
    fuzz_trace("#%u attach head %u %s", c->step, head, flags ? "KEEP" : "DROP");
    if (head >= c->g.nr_heads) {
        mhsld_head *h = NULL;
        mhsld_status rc = mhsld_attach(c->obs, head, flags, &h);
        fuzz_trace("    -> %s", mhsld_status_name(rc));
        FUZZ_ASSERT_MSG(rc == MHSLD_E_HEAD && h == NULL, "step %u: attach of head %u of %u: %s",
                        c->step, head, c->g.nr_heads, mhsld_status_name(rc));
        return;
    }
    slot *s = &c->s[head];
    if (s->h) {
        /* A second process tries to take a live head. */
        mhsld_state *other = open_state(c);
        fuzz_snapshot *before = snap(c);
        mhsld_head *h = NULL;
        mhsld_status rc = mhsld_attach(other, head, flags, &h);
        fuzz_trace("    (second process) -> %s", mhsld_status_name(rc));
        FUZZ_ASSERT_MSG(rc == MHSLD_E_ALIVE && h == NULL,
                        "step %u: attach of live head %u from another process: %s", c->step, head,
                        mhsld_status_name(rc));
        same_snapshot(c, before, true, "attach of a live head");
        free(before);
        mhsld_close(other);
        return;
    }
    if (blocks_meet_doubt_of_others(c, head)) {
        fuzz_trace("    skipped: head shares blocks with an unrecovered crash");
        return;
    }
    if (!s->st)
        s->st = c->per_process ? open_state(c) : c->obs;
    mhsld_head *h = NULL;
    mhsld_status rc = mhsld_attach(s->st, head, flags, &h);
    fuzz_trace("    -> %s", mhsld_status_name(rc));
    if (s->stale && rc == MHSLD_E_ALIVE) {
        /* The fenced handle's process still holds the liveness lock. */
        FUZZ_ASSERT(h == NULL);
        return;
    }
    FUZZ_ASSERT_MSG(rc == MHSLD_OK && h, "step %u: attach of head %u: %s", c->step, head,
                    mhsld_status_name(rc));
    FUZZ_ASSERT(mhsld_head_index(h) == head);
    FUZZ_ASSERT(mhsld_head_state(h) == s->st);
    s->h = h;
    s->ever = true;
    resolve(c, head, flags == MHSLD_ATTACH_KEEP, NULL, "re-attach");
}

static void op_recover(ctx *c, fuzz_dp *dp, uint32_t head)
{
    uint32_t by = fuzz_dp_range(dp, 0, c->g.nr_heads - 1);
    uint32_t flags = fuzz_dp_range(dp, 0, 3);
    fuzz_trace("#%u recover head %u from head %u's process flags %s%s", c->step, head, by,
               (flags & MHSLD_RECOVER_KEEP) ? "KEEP" : "DROP",
               (flags & MHSLD_RECOVER_FORCE) ? "|FORCE" : "");
    mhsld_state *st = c->s[by].st ? c->s[by].st : c->obs;
    mhsld_recover_report rep;
    memset(&rep, 0xA5, sizeof rep);
    if (head >= c->g.nr_heads) {
        mhsld_status rc = mhsld_recover(st, head, flags, &rep);
        fuzz_trace("    -> %s", mhsld_status_name(rc));
        FUZZ_ASSERT_MSG(rc == MHSLD_E_HEAD, "step %u: recover of head %u of %u: %s", c->step, head,
                        c->g.nr_heads, mhsld_status_name(rc));
        return;
    }
    slot *s = &c->s[head];
    if (blocks_meet_doubt_of_others(c, head)) {
        fuzz_trace("    skipped: head shares blocks with an unrecovered crash");
        return;
    }
    fuzz_snapshot *before = snap(c);
    mhsld_status rc = mhsld_recover(st, head, flags, &rep);
    fuzz_trace("    -> %s (op %u rolled_back %u rolled_forward %u freed %llu kept %llu)",
               mhsld_status_name(rc), rep.op, rep.rolled_back, rep.rolled_forward,
               (unsigned long long)rep.blocks_freed, (unsigned long long)rep.blocks_kept);
    bool keep = (flags & MHSLD_RECOVER_KEEP) != 0;
    if (s->h && !(flags & MHSLD_RECOVER_FORCE)) {
        FUZZ_ASSERT_MSG(rc == MHSLD_E_ALIVE, "step %u: recover of live head %u: %s", c->step, head,
                        mhsld_status_name(rc));
        same_snapshot(c, before, true, "recover of a live head");
    } else if (s->stale && !s->h && rc == MHSLD_E_ALIVE) {
        same_snapshot(c, before, true, "recover refused (fenced handle still alive)");
    } else if (!s->ever && !s->crashed && rc != MHSLD_OK) {
        same_snapshot(c, before, true, "recover of a never-attached head");
    } else {
        FUZZ_ASSERT_MSG(rc == MHSLD_OK, "step %u: recover of head %u: %s", c->step, head,
                        mhsld_status_name(rc));
        if (s->h) {
            /* Forced: the live handle is fenced from now on. */
            drop_stale(c, s);
            s->stale = s->h;
            s->stale_st = s->st;
            s->h = NULL;
            s->st = NULL;
        }
        resolve(c, head, keep, &rep, "mhsld_recover");
    }
    free(before);
}

static void op_detach(ctx *c, uint32_t head)
{
    fuzz_trace("#%u detach head %u", c->step, head);
    if (head >= c->g.nr_heads)
        return;
    slot *s = &c->s[head];
    if (s->stale) {
        drop_stale(c, s);
        return;
    }
    if (!s->h)
        return;
    fuzz_snapshot *before = snap(c);
    mhsld_detach(s->h);
    s->h = NULL;
    /* Detach keeps capacity: nothing but liveness changes. */
    same_snapshot(c, before, false, "detach");
    free(before);
    mhsld_head_info hi;
    FUZZ_ASSERT(mhsld_head_info_get(c->obs, head, &hi) == MHSLD_OK);
    FUZZ_ASSERT_MSG(hi.alive == 0, "step %u: head %u still alive after detach", c->step, head);
}

static void op_access(ctx *c, fuzz_dp *dp, uint32_t head)
{
    if (head >= c->g.nr_heads || !c->s[head].h)
        return;
    uint64_t bs = bs_of(c);
    uint64_t dpa, len;
    switch (fuzz_dp_range(dp, 0, 4)) {
    case 0: /* an 8-byte access inside a block */
        dpa = model_block_dpa(&c->m, fuzz_dp_range(dp, 0, c->m.nblocks - 1)) +
              fuzz_dp_range(dp, 0, 7) * (bs / 8);
        len = 8;
        break;
    case 1: /* across a block edge */
        dpa = model_block_dpa(&c->m, fuzz_dp_range(dp, 0, c->m.nblocks - 1)) + bs - 4;
        len = 8;
        break;
    case 2: /* whole blocks */
        dpa = model_block_dpa(&c->m, fuzz_dp_range(dp, 0, c->m.nblocks - 1));
        len = (uint64_t)fuzz_dp_range(dp, 0, 3) * bs;
        break;
    case 3: /* last byte before / first byte after a region */
    {
        const mhsld_region *r = &c->g.regions[fuzz_dp_range(dp, 0, c->g.nr_regions - 1)];
        dpa = fuzz_dp_bool(dp) ? r->base + r->len - 1 : r->base - 1;
        len = fuzz_dp_range(dp, 1, 2);
        break;
    }
    default:
        dpa = fuzz_dp_u64(dp);
        len = fuzz_dp_u64(dp);
        break;
    }
    bool got = mhsld_access_ok(c->s[head].h, dpa, len);
    bool want = model_access_ok(&c->m, head, dpa, len);
    fuzz_trace("#%u access head %u %#llx+%#llx -> %d", c->step, head, (unsigned long long)dpa,
               (unsigned long long)len, got);
    /* Bytes in doubt cannot be judged. */
    uint32_t i0, i1;
    model_mask touched = 0;
    if (len && len - 1 <= UINT64_MAX - dpa && model_block_of(&c->m, dpa, &i0) &&
        model_block_of(&c->m, dpa + len - 1, &i1))
        for (uint32_t i = i0; i <= i1; i++)
            touched |= BIT(i);
    if (touched & doubt_blocks(c))
        return;
    FUZZ_ASSERT_MSG(got == want, "step %u: access_ok(head %u, %#llx, %#llx) = %d, model %d",
                    c->step, head, (unsigned long long)dpa, (unsigned long long)len, got, want);
}

static void op_query(ctx *c, fuzz_dp *dp, uint32_t head)
{
    if (head >= c->g.nr_heads)
        head = c->g.nr_heads - 1;
    uint32_t kind = fuzz_dp_range(dp, 0, 3);
    size_t start = fuzz_dp_range(dp, 0, 8), cap = fuzz_dp_range(dp, 0, 4);
    mhsld_extent ext[4];
    uint8_t tags[4][MHSLD_TAG_SIZE];
    size_t ret = 99, total = 99;
    uint32_t gen = 0;
    mhsld_status rc =
        mhsld_extents_get(c->obs, head, kind, start, ext, tags, cap, &ret, &total, &gen);
    fuzz_trace("#%u query head %u kind %u start %zu cap %zu -> %s %zu/%zu", c->step, head, kind,
               start, cap, mhsld_status_name(rc), ret, total);
    FUZZ_ASSERT_MSG(rc == MHSLD_OK, "step %u: extents_get: %s", c->step, mhsld_status_name(rc));
    size_t want = start < total ? total - start : 0;
    if (want > cap)
        want = cap;
    FUZZ_ASSERT_MSG(ret == want, "step %u: extents_get(start %zu, cap %zu) returned %zu of %zu",
                    c->step, start, cap, ret, total);
    if (c->s[head].crashed)
        return;
    model_mask allowed =
        kind == MHSLD_EXT_OWNED     ? model_head_mask(&c->m, head, MHSLD_BLOCK_OWNED)
        : kind == MHSLD_EXT_PENDING ? model_head_mask(&c->m, head, MHSLD_BLOCK_PENDING)
        : kind == MHSLD_EXT_SHARED  ? model_head_mask(&c->m, head, MHSLD_BLOCK_SHARED)
                                    : model_head_mask(&c->m, head, MHSLD_BLOCK_OWNED) |
                                         model_head_mask(&c->m, head, MHSLD_BLOCK_SHARED);
    for (size_t i = 0; i < ret; i++) {
        model_mask x = model_extent_mask(&c->m, &ext[i]);
        FUZZ_ASSERT_MSG(x && !(x & ~allowed),
                        "step %u: extents_get kind %u lists %#llx+%#llx, not the head's", c->step,
                        kind, (unsigned long long)ext[i].dpa, (unsigned long long)ext[i].len);
        if (kind == MHSLD_EXT_SHARED) {
            int s = model_find_shared(&c->m, &ext[i]);
            FUZZ_ASSERT_MSG(s >= 0 && memcmp(c->m.sh[s].tag, tags[i], MHSLD_TAG_SIZE) == 0,
                            "step %u: shared extent %#llx listed with a wrong tag", c->step,
                            (unsigned long long)ext[i].dpa);
        }
    }
}

static void op_misuse(ctx *c, fuzz_dp *dp, uint32_t head)
{
    uint32_t what = fuzz_dp_range(dp, 0, 12);
    fuzz_trace("#%u misuse %u (head %u)", c->step, what, head);
    fuzz_snapshot *before = snap(c);
    mhsld_head *h = head < c->g.nr_heads ? c->s[head].h : NULL;
    mhsld_status rc = MHSLD_E_INVAL;
    uint64_t group = 0;
    mhsld_extent one = {model_block_dpa(&c->m, 0), bs_of(c)};
    switch (what) {
    case 0: {
        mhsld_block_info bi;
        rc = mhsld_block_info_get(c->obs, c->m.nblocks + fuzz_dp_range(dp, 0, 3), &bi);
        break;
    }
    case 1: {
        mhsld_head_info hi;
        rc = mhsld_head_info_get(c->obs, c->g.nr_heads + fuzz_dp_range(dp, 0, 40), &hi);
        break;
    }
    case 2: {
        size_t ret, total;
        mhsld_extent ext[2];
        rc = mhsld_extents_get(c->obs, 0, 4u + fuzz_dp_range(dp, 0, 4), 0, ext, NULL, 2, &ret,
                               &total, NULL);
        break;
    }
    case 3:
        if (!h)
            break;
        rc = mhsld_reserve(h, NULL, 1, &group, NULL);
        /* (and the claim's NULL extents and NULL handle, the same byte) */
        FUZZ_ASSERT(mhsld_claim(h, NULL, 1, NULL) == MHSLD_E_INVAL);
        FUZZ_ASSERT(mhsld_claim(NULL, &one, 1, NULL) == MHSLD_E_INVAL);
        break;
    case 4:
        if (!h)
            break;
        rc = mhsld_reserve(h, &one, 1, NULL, NULL);
        break;
    case 5:
        if (!h)
            break;
        rc = mhsld_release(h, NULL, 2, NULL);
        break;
    case 6:
        if (!h)
            break;
        rc = mhsld_commit(h, 0, NULL, 1);
        break;
    case 7:
        if (!h)
            break;
        rc = mhsld_share_add(h, &one, NULL, NULL);
        break;
    case 8: {
        mhsld_geometry g;
        rc = mhsld_get_geometry(c->obs, &g);
        FUZZ_ASSERT(rc == MHSLD_OK && g.nr_heads == c->g.nr_heads &&
                    g.block_size == c->g.block_size && g.nr_regions == c->g.nr_regions);
        rc = MHSLD_E_INVAL;
        break;
    }
    case 10: { /* a geometry broken in one field is refused */
        mhsld_geometry g = c->g;
        uint32_t how = fuzz_dp_range(dp, 0, 9);
        switch (how) {
        case 0:
            g.nr_heads = 0;
            break;
        case 1:
            g.nr_heads = MHSLD_MAX_HEADS + 1;
            break;
        case 2:
            g.block_size = 3ull << 20;
            break;
        case 3:
            g.block_size = MHSLD_MIN_BLOCK_SIZE / 2;
            break;
        case 4:
            g.nr_regions = 0;
            break;
        case 5:
            g.nr_regions = MHSLD_MAX_REGIONS + 1;
            break;
        case 6:
            g.regions[0].len = 0;
            break;
        case 7:
            g.regions[0].base += 4096;
            break;
        case 8:
            g.size = 0;
            break;
        default:
            g.regions[0].len = g.block_size + 512;
            break;
        }
        rc = mhsld_geometry_check(&g);
        fuzz_trace("    geometry mutation %u -> %s", how, mhsld_status_name(rc));
        FUZZ_ASSERT_MSG(rc != MHSLD_OK && mhsld_state_size(&g) == 0,
                        "step %u: broken geometry (%u) accepted", c->step, how);
        mhsld_state *st = NULL;
        mhsld_status orc = fuzz_state_open(&c->sf, MHSLD_OPEN_CREATE, &g, &st);
        FUZZ_ASSERT_MSG(orc != MHSLD_OK && st == NULL,
                        "step %u: open with a broken geometry (%u): %s", c->step, how,
                        mhsld_status_name(orc));
        break;
    }
    case 11: { /* open with bad options; joining with the wrong geometry */
        mhsld_open_opts o;
        mhsld_state *st = NULL;
        memset(&o, 0, sizeof o);
        o.size = sizeof o;
        o.path = c->sf.path;
        uint32_t how = fuzz_dp_range(dp, 0, 7);
        mhsld_geometry g = c->g;
        char shm_name[64];
        snprintf(shm_name, sizeof shm_name, "mhsld-fuzz-absent-%d", (int)getpid());
        switch (how) {
        case 0:
            o.size = 0;
            break;
        case 1:
            o.mode = 7;
            break;
        case 2:
            o.path = NULL;
            break;
        case 3:
            o.mode = MHSLD_OPEN_CREATE;
            break; /* no geometry */
        case 5:
            o.path = shm_name;
            break; /* a POSIX shm name that does not exist */
        case 6:
            o.path = "..";
            break;
        case 7:
            o.path = "";
            FUZZ_ASSERT(mhsld_destroy(shm_name, false) != MHSLD_OK);
            break;
        default:
            g.nr_lds = g.nr_lds < MHSLD_MAX_LDS ? g.nr_lds + 1 : g.nr_lds - 1;
            o.geometry = &g;
            o.mode = fuzz_dp_bool(dp) ? MHSLD_OPEN_CREATE : MHSLD_OPEN_EXISTING;
            break;
        }
        rc = mhsld_open(&o, &st);
        fuzz_trace("    open misuse %u -> %s", how, mhsld_status_name(rc));
        FUZZ_ASSERT_MSG(rc != MHSLD_OK && st == NULL, "step %u: open misuse %u: %s", c->step, how,
                        mhsld_status_name(rc));
        if (how == 4)
            FUZZ_ASSERT_MSG(rc == MHSLD_E_GEOMETRY, "step %u: joining with another geometry: %s",
                            c->step, mhsld_status_name(rc));
        rc = MHSLD_E_INVAL;
        break;
    }
    case 12: { /* the life of a named state: create, live destroy refused, reinit, destroy */
        static unsigned serial;
        char name[64];
        snprintf(name, sizeof name, "mhsld-fuzz-%d-%u", (int)getpid(), serial++);
        mhsld_open_opts o;
        memset(&o, 0, sizeof o);
        o.size = sizeof o;
        o.path = name;
        o.geometry = &c->g;
        o.mode = MHSLD_OPEN_CREATE;
        mhsld_state *st = NULL;
        mhsld_status orc = mhsld_open(&o, &st);
        FUZZ_ASSERT_MSG(orc == MHSLD_OK, "step %u: create %s: %s", c->step, name,
                        mhsld_status_name(orc));
        mhsld_head *h2 = NULL;
        FUZZ_ASSERT(mhsld_attach(st, 0, MHSLD_ATTACH_DROP, &h2) == MHSLD_OK);
        orc = mhsld_destroy(name, false);
        fuzz_trace("    destroy of a live named state -> %s", mhsld_status_name(orc));
        FUZZ_ASSERT_MSG(orc == MHSLD_E_ALIVE, "step %u: destroy of a live state: %s", c->step,
                        mhsld_status_name(orc));
        mhsld_detach(h2);
        mhsld_close(st);
        st = NULL;
        o.mode = MHSLD_OPEN_REINIT;
        orc = mhsld_open(&o, &st);
        FUZZ_ASSERT_MSG(orc == MHSLD_OK, "step %u: reinit: %s", c->step, mhsld_status_name(orc));
        FUZZ_ASSERT(mhsld_validate(st, NULL, 0) == MHSLD_OK);
        mhsld_close(st);
        orc = mhsld_destroy(name, fuzz_dp_bool(dp));
        FUZZ_ASSERT_MSG(orc == MHSLD_OK, "step %u: destroy: %s", c->step, mhsld_status_name(orc));
        orc = mhsld_destroy(name, false);
        FUZZ_ASSERT_MSG(orc != MHSLD_OK, "step %u: destroy of a destroyed state: %s", c->step,
                        mhsld_status_name(orc));
        o.mode = MHSLD_OPEN_EXISTING;
        o.geometry = NULL;
        orc = mhsld_open(&o, &st);
        FUZZ_ASSERT_MSG(orc == MHSLD_E_NOENT, "step %u: open after destroy: %s", c->step,
                        mhsld_status_name(orc));
        rc = MHSLD_E_INVAL;
        break;
    }
    default:
        rc = mhsld_validate(c->obs, NULL, 0); /* no message buffer */
        FUZZ_ASSERT(rc == MHSLD_OK || (rc == MHSLD_E_BUSY && doubt_heads(c) != 0));
        rc = MHSLD_E_INVAL;
        for (int s = -1; s <= (int)MHSLD_E__COUNT + 1; s++) {
            FUZZ_ASSERT(mhsld_strerror((mhsld_status)s) != NULL);
            FUZZ_ASSERT(mhsld_status_name((mhsld_status)s) != NULL);
        }
        FUZZ_ASSERT(mhsld_op_name(fuzz_dp_u32(dp)) != NULL);
        mhsld_detach(NULL);
        mhsld_close(NULL);
        break;
    }
    fuzz_trace("    -> %s", mhsld_status_name(rc));
    FUZZ_ASSERT_MSG(rc != MHSLD_OK, "step %u: misuse %u accepted", c->step, what);
    same_snapshot(c, before, true, "a refused call");
    free(before);
}

/* ---- the target -------------------------------------------------------- */

static void teardown(ctx *c)
{
    for (uint32_t h = 0; h < MHSLD_MAX_HEADS; h++) {
        slot *s = &c->s[h];
        if (s->stale)
            mhsld_detach(s->stale);
        if (s->stale_st && s->stale_st != c->obs)
            mhsld_close(s->stale_st);
        if (s->h)
            mhsld_detach(s->h);
        if (s->st && s->st != c->obs)
            mhsld_close(s->st);
    }
    mhsld_close(c->obs);
    fuzz_statefile_destroy(&c->sf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_dp dp;
    fuzz_dp_init(&dp, data, size);
    /* The context is large (a model, a slot per head): one allocation per
     * process, wiped for every input, so that no input sees another's. */
    static ctx *c;
    if (!c)
        c = malloc(sizeof *c);
    FUZZ_ASSERT(c);
    memset(c, 0, sizeof *c);
    fuzz_trace_reset();

    fuzz_geometry_from(&dp, MHSLD_MAX_HEADS, &c->g);
    FUZZ_ASSERT(model_init(&c->m, &c->g));
    /* Mostly every head's handle on the one mapping; sometimes one mapping
     * (descriptor, lock owner) per head, as separate QEMU processes have. */
    c->per_process = fuzz_dp_range(&dp, 0, 3) == 3;
    char gdesc[256];
    fuzz_geometry_describe(&c->g, gdesc, sizeof gdesc);
    fuzz_trace("geometry: %s (%u blocks)%s", gdesc, c->m.nblocks,
               c->per_process ? ", a mapping per head" : ", one mapping");

    fuzz_statefile_create(&c->sf, NULL, 0);
    mhsld_status rc = fuzz_state_open(&c->sf, MHSLD_OPEN_CREATE, &c->g, &c->obs);
    FUZZ_ASSERT_MSG(rc == MHSLD_OK, "creating the state: %s", mhsld_status_name(rc));
    check_against_model(c, "fresh state");

    while (!fuzz_dp_empty(&dp) && c->step < MAX_STEPS) {
        c->step++;
        uint32_t kind = fuzz_dp_range(&dp, 0, OP__COUNT - 1);
        /* One extra head number so that out-of-range heads are tried. */
        uint32_t head = fuzz_dp_range(&dp, 0, c->g.nr_heads);
        op_args *a = &c->cur;
        memset(a, 0, sizeof *a);
        a->head = head;
        uint64_t crash_k = 0;
        if (kind == OP_CRASH) {
            crash_k = fuzz_dp_range(&dp, 1, 48);
            /* One past the last: a claim (older inputs keep their kinds). */
            kind = fuzz_dp_range(&dp, OP_RESERVE, OP_SHARE_RELEASE + 1);
            if (kind > OP_SHARE_RELEASE)
                kind = OP_CLAIM;
        }
        a->kind = kind;
        switch (kind) {
        case OP_ATTACH:
            op_attach(c, &dp, head);
            break;
        case OP_RESERVE:
        case OP_RELEASE:
        case OP_CLAIM:
            if (head >= c->g.nr_heads)
                a->head = head = 0;
            gen_request(c, &dp, a);
            run_ownership(c, a, crash_k);
            break;
        case OP_COMMIT:
            if (head >= c->g.nr_heads)
                a->head = head = 0;
            gen_commit(c, &dp, a);
            run_ownership(c, a, crash_k);
            break;
        case OP_RELEASE_ALL:
            if (head >= c->g.nr_heads)
                a->head = head = 0;
            run_ownership(c, a, crash_k);
            break;
        case OP_SHARE_ADD:
        case OP_SHARE_RELEASE:
            if (head >= c->g.nr_heads)
                a->head = head = 0;
            gen_share_ext(c, &dp, a);
            run_ownership(c, a, crash_k);
            break;
        case OP_ACCESS:
            op_access(c, &dp, head);
            break;
        case OP_RECOVER:
            op_recover(c, &dp, head);
            break;
        case OP_DETACH:
            op_detach(c, head);
            break;
        case OP_QUERY:
            op_query(c, &dp, head);
            break;
        default:
            op_misuse(c, &dp, head);
            break;
        }
        check_against_model(c, op_names[kind]);
    }
    if (getenv("MHSLD_FUZZ_VERBOSE")) /* show what the input did */
        fuzz_trace_dump();
    teardown(c);
    return 0;
}
