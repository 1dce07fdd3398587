/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_multihead_threads: real threads acting as heads on one shared
 * mapping, then a linearizability check of what they saw.
 *
 * The input is a geometry, a mode byte (odd: lockstep, all threads meet
 * at a barrier before each of their calls) and a list of operations, each
 * tagged with the thread (= head) that runs it.  All threads attach, meet at
 * a barrier and run their lists at the same time; every call is recorded with its
 * arguments, its result and two ticks of a global atomic clock, one taken
 * before the call (invocation) and one after (response).  A call whose
 * response tick is below another's invocation tick happened before it in
 * real time.
 *
 * Afterwards (all threads joined) the history must be linearizable with
 * respect to the reference model (model.c): there must be one sequential
 * order of all calls, consistent with real-time order, in which every
 * call's recorded result is one the model accepts at that point and after
 * which the model equals the engine's final state block for block.  The
 * search is Wing & Gong's (try each call that may come first, recurse,
 * backtrack) with memoisation of (per-thread progress, model state); it is
 * exhaustive within a node budget, and a history that exhausts the budget
 * without a verdict is counted (and the final state still validated), not
 * reported as a failure.  mhsld_validate() must pass on the final state.
 *
 * Built under ThreadSanitizer (-DMHSLD_SANITIZE=thread, where the engine
 * uses C11 atomics) as well as ASan/UBSan.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_compare.h"
#include "fuzz_data_producer.h"
#include "fuzz_helpers.h"
#include "fuzz_statefile.h"
#include "model.h"
#include "mhsld/mhsld.h"

#define MAX_THREADS 4u
#define MAX_OPS 192u
#define MAX_EXT 4u
#define NODE_BUDGET 200000u
#define BIT(i) ((model_mask)1 << (i))

enum {
    T_RESERVE,
    T_COMMIT,
    T_RELEASE,
    T_RELEASE_ALL,
    T_SHARE_ADD,
    T_SHARE_RELEASE,
    T_ACCESS,
    T_RESERVE2,
    T_CLAIM, /* last: older inputs' kind bytes (below 8) keep their meaning */
    T__COUNT
};
static const char *const t_names[T__COUNT] = {"reserve",     "commit",    "release",
                                              "release_all", "share_add", "share_release",
                                              "access",      "reserve",   "claim"};

/* What the input asks a thread to do. */
typedef struct plan {
    uint32_t kind;
    uint32_t a, b, c, d; /* decoded parameters, meaning per kind */
} plan;

/* What the thread did and saw. */
typedef struct hop {
    uint32_t kind; /* T_*, T_RESERVE2 recorded as T_RESERVE */
    uint32_t head;
    size_t n;
    mhsld_extent ext[MAX_EXT];
    uint64_t group;
    uint8_t tag[MHSLD_TAG_SIZE];
    mhsld_status rc;
    uint64_t freed;
    bool access;
    uint64_t inv, resp;
} hop;

typedef struct tctx {
    struct shared_ctx *sh;
    uint32_t head;
    uint32_t nplan;
    plan plan[MAX_OPS];
    uint32_t nhist;
    hop hist[MAX_OPS];
    mhsld_head *h;
} tctx;

typedef struct shared_ctx {
    mhsld_geometry g;
    model m0; /* geometry helper (block numbering) and the initial state */
    mhsld_state *st;
    pthread_barrier_t start;
    atomic_uint_fast64_t clock;
    uint32_t nthreads;
    /* Lockstep: all threads meet before every round (the i-th call of each),
     * so calls overlap in time as much as the machine allows. */
    bool lockstep;
    uint32_t rounds;
    tctx t[MAX_THREADS];
} shared_ctx;

/* ---- the threads -------------------------------------------------------- */

typedef struct local_group {
    uint64_t id;
    size_t n;
    mhsld_extent ext[MAX_EXT];
} local_group;

static uint64_t tick(shared_ctx *sh)
{
    return atomic_fetch_add_explicit(&sh->clock, 1, memory_order_seq_cst);
}

static void *thread_main(void *arg)
{
    tctx *t = arg;
    shared_ctx *sh = t->sh;
    const model *m = &sh->m0;
    uint64_t bs = sh->g.block_size;
    /* What this head knows about itself: its reservations (oldest first) and
     * its owned extents.  Nobody else can change either. */
    local_group groups[MHSLD_MAX_PENDING];
    uint32_t ngroups = 0;
    mhsld_extent owned[64];
    uint32_t nowned = 0;

    pthread_barrier_wait(&sh->start);
    uint32_t rounds = sh->lockstep ? sh->rounds : t->nplan;
    for (uint32_t i = 0; i < rounds; i++) {
        if (sh->lockstep)
            pthread_barrier_wait(&sh->start);
        if (i >= t->nplan)
            continue;
        const plan *p = &t->plan[i];
        hop *o = &t->hist[t->nhist];
        memset(o, 0, sizeof *o);
        o->kind = p->kind == T_RESERVE2 ? T_RESERVE : p->kind;
        o->head = t->head;
        mhsld_conflict conf;
        switch (p->kind) {
        case T_RESERVE:
        case T_RESERVE2:
            o->n = p->kind == T_RESERVE2 ? 2 : 1;
            o->ext[0].dpa = model_block_dpa(m, p->a);
            o->ext[0].len = p->b * bs;
            o->ext[1].dpa = model_block_dpa(m, p->c);
            o->ext[1].len = p->d * bs;
            o->inv = tick(sh);
            o->rc = mhsld_reserve(t->h, o->ext, o->n, &o->group, &conf);
            o->resp = tick(sh);
            if (o->rc == MHSLD_OK && ngroups < MHSLD_MAX_PENDING) {
                groups[ngroups].id = o->group;
                groups[ngroups].n = o->n;
                memcpy(groups[ngroups].ext, o->ext, sizeof o->ext);
                ngroups++;
            }
            break;
        case T_CLAIM:
            o->n = p->d ? 2 : 1;
            o->ext[0].dpa = model_block_dpa(m, p->a);
            o->ext[0].len = p->b * bs;
            o->ext[1].dpa = model_block_dpa(m, p->c);
            o->ext[1].len = p->d * bs;
            o->inv = tick(sh);
            o->rc = mhsld_claim(t->h, o->ext, o->n, &conf);
            o->resp = tick(sh);
            if (o->rc == MHSLD_OK)
                for (size_t k = 0; k < o->n && nowned < 64; k++)
                    owned[nowned++] = o->ext[k];
            break;
        case T_COMMIT: {
            local_group gr;
            memset(&gr, 0, sizeof gr);
            if (ngroups)
                gr = groups[0];
            else
                gr.id = 0x7777; /* no such group */
            o->group = gr.id;
            for (size_t k = 0; k < gr.n; k++) {
                switch (p->a) {
                case 0:
                    o->ext[o->n++] = gr.ext[k];
                    break;
                case 1:
                    break;
                case 2:
                    o->ext[o->n].dpa = gr.ext[k].dpa;
                    o->ext[o->n++].len = bs;
                    break;
                default:
                    o->ext[o->n].dpa = gr.ext[k].dpa + gr.ext[k].len - bs;
                    o->ext[o->n++].len = bs;
                    break;
                }
            }
            o->inv = tick(sh);
            o->rc = mhsld_commit(t->h, o->group, o->ext, o->n);
            o->resp = tick(sh);
            if (o->rc == MHSLD_OK && ngroups) {
                for (size_t k = 0; k < o->n && nowned < 64; k++)
                    owned[nowned++] = o->ext[k];
                memmove(groups, groups + 1, (ngroups - 1) * sizeof groups[0]);
                ngroups--;
            }
            break;
        }
        case T_RELEASE:
            o->n = 1;
            if (nowned) {
                o->ext[0] = owned[p->a % nowned];
            } else {
                o->ext[0].dpa = model_block_dpa(m, p->b);
                o->ext[0].len = bs;
            }
            o->inv = tick(sh);
            o->rc = mhsld_release(t->h, o->ext, 1, &conf);
            o->resp = tick(sh);
            if (o->rc == MHSLD_OK && nowned) {
                owned[p->a % nowned] = owned[nowned - 1];
                nowned--;
            }
            break;
        case T_RELEASE_ALL:
            o->inv = tick(sh);
            o->rc = mhsld_release_all(t->h, &o->freed);
            o->resp = tick(sh);
            if (o->rc == MHSLD_OK) {
                ngroups = 0;
                nowned = 0;
            }
            break;
        case T_SHARE_ADD:
        case T_SHARE_RELEASE: {
            const mhsld_region *r = &sh->g.regions[p->a];
            o->n = 1;
            o->ext[0].dpa = r->base + (uint64_t)p->b * bs;
            o->ext[0].len = (uint64_t)p->c * bs;
            o->tag[0] = (uint8_t)(0x40 + p->d);
            o->tag[15] = 0x77;
            o->inv = tick(sh);
            o->rc = p->kind == T_SHARE_ADD ? mhsld_share_add(t->h, &o->ext[0], o->tag, &conf)
                                           : mhsld_share_release(t->h, &o->ext[0]);
            o->resp = tick(sh);
            break;
        }
        default: /* access */
            o->n = 1;
            o->ext[0].dpa = model_block_dpa(m, p->a) + (p->b == 0 ? 64u : 0u);
            o->ext[0].len = p->b == 0 ? 8u : p->b * bs;
            o->inv = tick(sh);
            o->access = mhsld_access_ok(t->h, o->ext[0].dpa, o->ext[0].len);
            o->resp = tick(sh);
            break;
        }
        t->nhist++;
    }
    return NULL;
}

/* ---- the linearizability check ------------------------------------------ */

/* Does the model accept `o` as the next call?  Applies it if so. */
static bool lin_step(model *m, const hop *o)
{
    model_expect e;
    switch (o->kind) {
    case T_RESERVE:
        model_reserve_expect(m, o->head, o->ext, o->n, &e);
        if (!model_expect_accepts(&e, o->rc))
            return false;
        if (o->rc == MHSLD_OK) {
            if (o->group == 0 || model_find_group(m, o->head, o->group) >= 0)
                return false;
            model_reserve_apply(m, o->head, o->ext, o->n, o->group);
        }
        return true;
    case T_CLAIM:
        model_claim_expect(m, o->head, o->ext, o->n, &e);
        if (!model_expect_accepts(&e, o->rc))
            return false;
        if (o->rc == MHSLD_OK)
            model_claim_apply(m, o->head, o->ext, o->n);
        return true;
    case T_COMMIT: {
        int gi = model_find_group(m, o->head, o->group);
        model_commit_expect(m, o->head, gi, o->group, o->ext, o->n, &e);
        if (!model_expect_accepts(&e, o->rc))
            return false;
        if (o->rc == MHSLD_OK)
            model_commit_apply(m, o->head, gi, o->ext, o->n);
        return true;
    }
    case T_RELEASE:
        model_release_expect(m, o->head, o->ext, o->n, &e);
        if (!model_expect_accepts(&e, o->rc))
            return false;
        if (o->rc == MHSLD_OK)
            model_release_apply(m, o->head, o->ext, o->n);
        return true;
    case T_RELEASE_ALL: /* a sequence of unit steps: see dfs() */
        return false;
    case T_SHARE_ADD:
        model_share_add_expect(m, o->head, &o->ext[0], o->tag, &e);
        /* (A share_add racing with another head's creation of the same
         * extent and tag once failed with CONFLICT: regress-K3-*, fixed in
         * the engine by 8986634.) */
        /* (A share_add racing with the last sharer's leave of the same
         * extent once failed with CONFLICT: regress-K5-*, fixed in the engine
         * by 6dc1f41: an add that meets a shared extent being created or
         * retired waits for it.) */
        if (!model_expect_accepts(&e, o->rc))
            return false;
        if (o->rc == MHSLD_OK)
            model_share_add_apply(m, o->head, &o->ext[0], o->tag);
        return true;
    case T_SHARE_RELEASE:
        model_share_release_expect(m, o->head, &o->ext[0], &e);
        if (!model_expect_accepts(&e, o->rc))
            return false;
        if (o->rc == MHSLD_OK)
            model_share_release_apply(m, o->head, &o->ext[0]);
        return true;
    default:
        return model_access_ok(m, o->head, o->ext[0].dpa, o->ext[0].len) == o->access;
    }
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

typedef struct search {
    shared_ctx *sh;
    uint32_t prog[MAX_THREADS];
    /* A release_all in progress: blocks its units freed so far (and the
     * part of them that came from leaving shared extents). */
    uint64_t rel_freed[MAX_THREADS];
    uint64_t rel_shared[MAX_THREADS];
    model **stack; /* one model per step, allocated as the search deepens */
    size_t stack_cap;
    uint32_t total;
    uint64_t nodes;
    bool budget_out;
    uint64_t *memo;
    size_t memo_cap;
    uint32_t order[MAX_THREADS * MAX_OPS]; /* thread of each linearised call */
    /* For the report: the deepest prefix found and the model there. */
    uint32_t best_depth;
    uint32_t best_prog[MAX_THREADS];
    model *best_model;
} search;

static uint64_t state_hash(const search *s, const model *m)
{
    uint64_t h = 0xcbf29ce484222325ull;
    h = fnv(h, s->prog, sizeof s->prog);
    h = fnv(h, s->rel_freed, sizeof s->rel_freed);
    h = fnv(h, s->rel_shared, sizeof s->rel_shared);
    h = fnv(h, m->b, sizeof m->b[0] * m->nblocks);
    for (uint32_t i = 0; i < s->sh->nthreads; i++)
        h = fnv(h, &m->h[i], sizeof m->h[i]);
    h = fnv(h, &m->nshared, sizeof m->nshared);
    h = fnv(h, m->sh, sizeof m->sh[0] * m->nshared);
    return h | 1u;
}

/* true: seen before (and so known to fail); records it otherwise. */
static bool memo_seen(search *s, uint64_t h)
{
    size_t i = (size_t)(h % s->memo_cap);
    for (size_t probe = 0; probe < s->memo_cap; probe++) {
        if (s->memo[i] == h)
            return true;
        if (s->memo[i] == 0) {
            s->memo[i] = h;
            return false;
        }
        i = (i + 1) % s->memo_cap;
    }
    return false; /* full: forget nothing, just do not memoise */
}

static model *stack_at(search *s, uint32_t d)
{
    if (d >= s->stack_cap) {
        size_t cap = s->stack_cap ? 2 * s->stack_cap : 64;
        while (cap <= d)
            cap *= 2;
        model **ns = realloc(s->stack, cap * sizeof *ns);
        FUZZ_ASSERT(ns);
        memset(ns + s->stack_cap, 0, (cap - s->stack_cap) * sizeof *ns);
        s->stack = ns;
        s->stack_cap = cap;
    }
    if (!s->stack[d]) {
        s->stack[d] = malloc(sizeof *s->stack[d]);
        FUZZ_ASSERT(s->stack[d]);
    }
    return s->stack[d];
}

static bool dfs(search *s, uint32_t depth, uint32_t done);

/* Take the step that leads to `next` (already built at depth + 1). */
static bool descend(search *s, uint32_t depth, uint32_t done, uint32_t t, bool completes)
{
    if (completes)
        s->prog[t]++;
    s->order[done] = t;
    bool ok = !memo_seen(s, state_hash(s, s->stack[depth + 1])) &&
              dfs(s, depth + 1, done + (completes ? 1u : 0u));
    if (completes)
        s->prog[t]--;
    return ok;
}

/* release_all is not one atomic step in the engine: it cancels each pending
 * reservation, releases the owned blocks and leaves each shared extent,
 * each an atomic step of its own, and other heads may act in between.  It
 * is linearised as such unit steps, all inside its [invocation, response]:
 * any pending group, the lowest owned block, or any shared extent of the
 * head, one at a time; the call completes once the head holds nothing, and
 * its freed count must be the sum of its units. */
static bool release_all_steps(search *s, uint32_t depth, uint32_t done, uint32_t t, const hop *o)
{
    const model *m = s->stack[depth];
    uint32_t head = o->head;
    uint64_t saved_freed = s->rel_freed[t], saved_shared = s->rel_shared[t];
    if (model_head_all(m, head) == 0 && m->h[head].ngroups == 0) {
        /* (When two sharers left at once, neither once counted the extent's
         * blocks: regress-K4-*, fixed in the engine by 8986634.) */
        if (o->freed != s->rel_freed[t])
            return false;
        *stack_at(s, depth + 1) = *m;
        s->rel_freed[t] = s->rel_shared[t] = 0;
        bool ok = descend(s, depth, done, t, true);
        s->rel_freed[t] = saved_freed;
        s->rel_shared[t] = saved_shared;
        return ok;
    }
    /* Cancel one pending reservation. */
    for (uint32_t g = 0; g < m->h[head].ngroups; g++) {
        model *next = stack_at(s, depth + 1);
        *next = *s->stack[depth];
        s->rel_freed[t] = saved_freed + model_popcount(next->h[head].groups[g].blocks);
        model_commit_apply(next, head, (int)g, NULL, 0);
        bool ok = descend(s, depth, done, t, false);
        s->rel_freed[t] = saved_freed;
        if (ok || s->budget_out)
            return ok;
    }
    /* Release the lowest owned block. */
    model_mask own = model_head_mask(s->stack[depth], head, MHSLD_BLOCK_OWNED);
    if (own) {
        model *next = stack_at(s, depth + 1);
        *next = *s->stack[depth];
        mhsld_extent x = {model_block_dpa(next, model_mask_first(own)), next->g.block_size};
        model_release_apply(next, head, &x, 1);
        s->rel_freed[t] = saved_freed + 1;
        bool ok = descend(s, depth, done, t, false);
        s->rel_freed[t] = saved_freed;
        if (ok || s->budget_out)
            return ok;
    }
    /* Leave one shared extent. */
    for (uint32_t k = 0; k < s->stack[depth]->nshared; k++) {
        const model *cur = s->stack[depth];
        if (!(cur->sh[k].sharers & ((uint32_t)1 << head)))
            continue;
        model *next = stack_at(s, depth + 1);
        *next = *cur;
        mhsld_extent x = next->sh[k].ext;
        uint64_t before = model_popcount(model_head_mask(next, head, MHSLD_BLOCK_SHARED));
        bool last = next->sh[k].sharers == ((uint32_t)1 << head);
        model_share_release_apply(next, head, &x);
        uint64_t freed =
            last ? before - model_popcount(model_head_mask(next, head, MHSLD_BLOCK_SHARED)) : 0;
        s->rel_freed[t] = saved_freed + freed;
        s->rel_shared[t] = saved_shared + freed;
        bool ok = descend(s, depth, done, t, false);
        s->rel_freed[t] = saved_freed;
        s->rel_shared[t] = saved_shared;
        if (ok || s->budget_out)
            return ok;
    }
    return false;
}

static bool dfs(search *s, uint32_t depth, uint32_t done)
{
    shared_ctx *sh = s->sh;
    const model *m = s->stack[depth];
    if (done == s->total) {
        char why[256];
        return fuzz_compare_model(sh->st, m, 0, 0, NULL, why, sizeof why);
    }
    if (done >= s->best_depth) {
        s->best_depth = done;
        memcpy(s->best_prog, s->prog, sizeof s->prog);
        *s->best_model = *m;
    }
    if (++s->nodes > NODE_BUDGET) {
        s->budget_out = true;
        return false;
    }
    uint64_t minresp = UINT64_MAX;
    for (uint32_t t = 0; t < sh->nthreads; t++)
        if (s->prog[t] < sh->t[t].nhist && sh->t[t].hist[s->prog[t]].resp < minresp)
            minresp = sh->t[t].hist[s->prog[t]].resp;
    for (uint32_t t = 0; t < sh->nthreads; t++) {
        if (s->prog[t] >= sh->t[t].nhist)
            continue;
        const hop *o = &sh->t[t].hist[s->prog[t]];
        if (o->inv > minresp)
            continue; /* something else finished before this began */
        bool ok;
        if (o->kind == T_RELEASE_ALL && o->rc == MHSLD_OK) {
            ok = release_all_steps(s, depth, done, t, o);
        } else {
            model *next = stack_at(s, depth + 1);
            *next = *s->stack[depth];
            if (!lin_step(next, o))
                continue;
            ok = descend(s, depth, done, t, true);
        }
        if (ok)
            return true;
        if (s->budget_out)
            return false;
    }
    return false;
}

static void print_history(const shared_ctx *sh)
{
    fprintf(stderr, "---- history (thread: [inv,resp] call -> result) ----\n");
    for (uint32_t t = 0; t < sh->nthreads; t++)
        for (uint32_t i = 0; i < sh->t[t].nhist; i++) {
            const hop *o = &sh->t[t].hist[i];
            fprintf(stderr, "T%u: [%llu,%llu] %s", t, (unsigned long long)o->inv,
                    (unsigned long long)o->resp, t_names[o->kind]);
            for (size_t k = 0; k < o->n; k++)
                fprintf(stderr, " %#llx+%#llx", (unsigned long long)o->ext[k].dpa,
                        (unsigned long long)o->ext[k].len);
            if (o->kind == T_COMMIT || o->kind == T_RESERVE)
                fprintf(stderr, " group %#llx", (unsigned long long)o->group);
            if (o->kind == T_ACCESS)
                fprintf(stderr, " -> %d\n", o->access);
            else if (o->kind == T_RELEASE_ALL)
                fprintf(stderr, " -> %s freed %llu\n", mhsld_status_name(o->rc),
                        (unsigned long long)o->freed);
            else
                fprintf(stderr, " -> %s\n", mhsld_status_name(o->rc));
        }
}

/* ---- the target --------------------------------------------------------- */

static void decode(fuzz_dp *dp, shared_ctx *sh)
{
    const model *m = &sh->m0;
    uint32_t total = 0;
    while (!fuzz_dp_empty(dp) && total < MAX_OPS) {
        tctx *t = &sh->t[fuzz_dp_range(dp, 0, sh->nthreads - 1)];
        plan p;
        memset(&p, 0, sizeof p);
        p.kind = fuzz_dp_range(dp, 0, T__COUNT - 1);
        switch (p.kind) {
        case T_RESERVE:
        case T_RESERVE2:
            p.a = fuzz_dp_range(dp, 0, m->nblocks - 1);
            p.b = fuzz_dp_range(dp, 1, 3);
            p.c = fuzz_dp_range(dp, 0, m->nblocks - 1);
            p.d = fuzz_dp_range(dp, 1, 2);
            break;
        case T_COMMIT:
            p.a = fuzz_dp_range(dp, 0, 3);
            break;
        case T_CLAIM: /* one extent (d = 0) or two */
            p.a = fuzz_dp_range(dp, 0, m->nblocks - 1);
            p.b = fuzz_dp_range(dp, 1, 3);
            p.c = fuzz_dp_range(dp, 0, m->nblocks - 1);
            p.d = fuzz_dp_range(dp, 0, 2);
            break;
        case T_RELEASE:
            p.a = fuzz_dp_range(dp, 0, 15);
            p.b = fuzz_dp_range(dp, 0, m->nblocks - 1);
            break;
        case T_SHARE_ADD:
        case T_SHARE_RELEASE: {
            p.a = fuzz_dp_range(dp, 0, sh->g.nr_regions - 1);
            uint32_t nb = (uint32_t)(sh->g.regions[p.a].len / sh->g.block_size);
            p.b = fuzz_dp_range(dp, 0, nb - 1);
            p.c = fuzz_dp_range(dp, 1, 2);
            p.d = fuzz_dp_range(dp, 0, 1);
            break;
        }
        case T_ACCESS:
            p.a = fuzz_dp_range(dp, 0, m->nblocks - 1);
            p.b = fuzz_dp_range(dp, 0, 2);
            break;
        default:
            break;
        }
        if (t->nplan < MAX_OPS) {
            t->plan[t->nplan++] = p;
            total++;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_dp dp;
    fuzz_dp_init(&dp, data, size);
    fuzz_trace_reset();
    shared_ctx *sh = calloc(1, sizeof *sh);
    FUZZ_ASSERT(sh);
    fuzz_geometry_from(&dp, MAX_THREADS, &sh->g);
    FUZZ_ASSERT(model_init(&sh->m0, &sh->g));
    sh->nthreads = sh->g.nr_heads;
    sh->lockstep = fuzz_dp_range(&dp, 0, 1) == 1;
    decode(&dp, sh);
    for (uint32_t t = 0; t < sh->nthreads; t++)
        if (sh->t[t].nplan > sh->rounds)
            sh->rounds = sh->t[t].nplan;

    fuzz_statefile sf;
    fuzz_statefile_create(&sf, NULL, 0);
    mhsld_status rc = fuzz_state_open(&sf, MHSLD_OPEN_CREATE, &sh->g, &sh->st);
    FUZZ_ASSERT_MSG(rc == MHSLD_OK, "create: %s", mhsld_status_name(rc));
    for (uint32_t t = 0; t < sh->nthreads; t++) {
        sh->t[t].sh = sh;
        sh->t[t].head = t;
        rc = mhsld_attach(sh->st, t, MHSLD_ATTACH_DROP, &sh->t[t].h);
        FUZZ_ASSERT_MSG(rc == MHSLD_OK, "attach %u: %s", t, mhsld_status_name(rc));
    }
    FUZZ_ASSERT(pthread_barrier_init(&sh->start, NULL, sh->nthreads) == 0);
    pthread_t tid[MAX_THREADS];
    for (uint32_t t = 0; t < sh->nthreads; t++)
        FUZZ_ASSERT(pthread_create(&tid[t], NULL, thread_main, &sh->t[t]) == 0);
    for (uint32_t t = 0; t < sh->nthreads; t++)
        FUZZ_ASSERT(pthread_join(tid[t], NULL) == 0);
    pthread_barrier_destroy(&sh->start);

    char why[512];
    rc = mhsld_validate(sh->st, why, sizeof why);
    if (rc != MHSLD_OK) {
        print_history(sh);
        fuzz_fail(__FILE__, __LINE__, "mhsld_validate after the threads: %s: %s",
                  mhsld_status_name(rc), why);
    }

    /* MHSLD_FUZZ_SELFTEST=1: falsify one recorded result first; the check
     * must then fail (proof that it can).  MHSLD_FUZZ_VERBOSE=1: statistics. */
    if (getenv("MHSLD_FUZZ_SELFTEST"))
        for (uint32_t t = 0, done = 0; t < sh->nthreads && !done; t++)
            for (uint32_t i = 0; i < sh->t[t].nhist && !done; i++)
                if (sh->t[t].hist[i].kind == T_ACCESS) {
                    sh->t[t].hist[i].access = !sh->t[t].hist[i].access;
                    done = 1;
                }
    search *s = calloc(1, sizeof *s);
    FUZZ_ASSERT(s);
    s->sh = sh;
    for (uint32_t t = 0; t < sh->nthreads; t++)
        s->total += sh->t[t].nhist;
    s->best_model = malloc(sizeof *s->best_model);
    FUZZ_ASSERT(s->best_model);
    s->memo_cap = 1u << 16;
    s->memo = calloc(s->memo_cap, sizeof *s->memo);
    FUZZ_ASSERT(s->memo);
    *stack_at(s, 0) = sh->m0;
    bool ok = dfs(s, 0, 0);
    if (!ok && !s->budget_out) {
        print_history(sh);
        /* Where every order got stuck: the longest prefix found, and why
         * each call that could come next is refused there. */
        char blocks[1024];
        model_describe_blocks(s->best_model, blocks, sizeof blocks);
        fprintf(stderr, "---- longest linearizable prefix: %u of %u calls; model then:%s\n",
                s->best_depth, s->total, blocks);
        for (uint32_t t = 0; t < sh->nthreads; t++) {
            if (s->best_prog[t] >= sh->t[t].nhist)
                continue;
            const hop *o = &sh->t[t].hist[s->best_prog[t]];
            model *tmp = malloc(sizeof *tmp);
            FUZZ_ASSERT(tmp);
            *tmp = *s->best_model;
            bool acc = lin_step(tmp, o);
            free(tmp);
            fprintf(stderr, "  next of T%u: [%llu,%llu] %s -> %s%s\n", t,
                    (unsigned long long)o->inv, (unsigned long long)o->resp, t_names[o->kind],
                    o->kind == T_ACCESS ? (o->access ? "true" : "false") : mhsld_status_name(o->rc),
                    acc ? " (the model accepts it here; refused later or by real-time order)"
                        : " (the model refuses this result here)");
        }
        char eng[512];
        fuzz_describe_engine(sh->st, sh->m0.nblocks, eng, sizeof eng);
        fuzz_fail(__FILE__, __LINE__,
                  "history of %u calls by %u threads is not linearizable against the model "
                  "(%llu nodes searched)\n  engine final state:%s",
                  s->total, sh->nthreads, (unsigned long long)s->nodes, eng);
    }
    if (getenv("MHSLD_FUZZ_VERBOSE"))
        fprintf(stderr, "linearizability: %u calls, %u threads, %llu nodes, %s\n", s->total,
                sh->nthreads, (unsigned long long)s->nodes,
                ok ? "linearizable" : "budget exhausted (no verdict)");
    free(s->memo);
    free(s->best_model);
    for (size_t i = 0; i < s->stack_cap; i++)
        free(s->stack[i]);
    free(s->stack);
    free(s);

    for (uint32_t t = 0; t < sh->nthreads; t++)
        mhsld_detach(sh->t[t].h);
    mhsld_close(sh->st);
    fuzz_statefile_destroy(&sf);
    free(sh);
    return 0;
}
