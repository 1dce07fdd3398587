/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mhsldctl's state verbs: create, destroy, show and verify a state.
 */
#define _POSIX_C_SOURCE 200809L

#include "cmd.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- verbs ------------------------------------------------------------- */

int verb_create(struct cmd *c)
{
    mhsld_geometry g;
    mhsld_region regions[MHSLD_MAX_REGIONS];
    uint32_t nregions = 1, heads = 2, lds, i;
    uint64_t capacity = 0, bs = MHSLD_MIN_BLOCK_SIZE, base = 0, total = 0, nblocks = 0;
    char err[CTL_ERRLEN], a[CTL_FMTLEN], b[CTL_FMTLEN], t[CTL_ERRLEN];
    mhsld_state *st = NULL;
    mhsld_status s;
    int rc;

    if (!ctl_has(c, O_CAPACITY) && !ctl_has(c, O_REGIONS))
        return ctl_usage(c, "--capacity (or --regions) is required");
    if (ctl_has(c, O_CAPACITY) && (rc = ctl_opt_size(c, O_CAPACITY, &capacity)) != 0)
        return rc;
    if (ctl_has(c, O_CAPACITY) && capacity == 0)
        return ctl_usage(c, "--capacity: must not be zero");
    if (ctl_has(c, O_BLOCK_SIZE) && (rc = ctl_opt_size(c, O_BLOCK_SIZE, &bs)) != 0)
        return rc;
    if (bs < MHSLD_MIN_BLOCK_SIZE || bs > MHSLD_MAX_BLOCK_SIZE || (bs & (bs - 1)) != 0)
        return ctl_usage(c, "--block-size: %s is not a power of two from %s to %s",
                         c->opt[O_BLOCK_SIZE], ctl_fmt_len(MHSLD_MIN_BLOCK_SIZE, a),
                         ctl_fmt_len(MHSLD_MAX_BLOCK_SIZE, b));
    if (ctl_has(c, O_HEADS) && (rc = ctl_opt_uint(c, O_HEADS, 1, MHSLD_MAX_HEADS, &heads)) != 0)
        return rc;
    lds = heads;
    if (ctl_has(c, O_LDS) && (rc = ctl_opt_uint(c, O_LDS, 1, MHSLD_MAX_LDS, &lds)) != 0)
        return rc;
    if (ctl_has(c, O_BASE) && ctl_has(c, O_REGIONS))
        return ctl_usage(c, "--base and --regions exclude each other (regions carry their bases)");
    if (ctl_has(c, O_BASE) && (rc = ctl_opt_size(c, O_BASE, &base)) != 0)
        return rc;
    if (ctl_has(c, O_REGIONS)) {
        if (!ctl_parse_regions(c->opt[O_REGIONS], regions, &nregions, err, sizeof(err)))
            return ctl_usage(c, "--regions: %s", err);
        for (i = 0; i < nregions; i++)
            total += regions[i].len;
        if (ctl_has(c, O_CAPACITY) && capacity != total)
            return ctl_usage(c, "--capacity %s differs from the regions' total %s",
                             c->opt[O_CAPACITY], ctl_fmt_len(total, a));
    } else {
        if (base > UINT64_MAX - capacity)
            return ctl_usage(c, "--base + --capacity run past the 64-bit address space");
        regions[0].base = base;
        regions[0].len = capacity;
        regions[0].flags = 0;
        regions[0].dsmad_handle = 0;
        total = capacity;
    }
    mhsld_geometry_init(&g, heads, bs, regions[0].base, regions[0].len);
    g.size = sizeof(g);
    g.nr_lds = lds;
    for (i = 0; i < MHSLD_MAX_LDS; i++)
        g.ld_map[i] = (uint8_t)(i < lds && i < heads ? i : MHSLD_LD_UNASSIGNED);
    g.nr_regions = nregions;
    memset(g.regions, 0, sizeof(g.regions));
    memcpy(g.regions, regions, sizeof(regions[0]) * nregions);
    for (i = 0; i < nregions; i++) {
        if (regions[i].base % bs != 0 || regions[i].len % bs != 0)
            return ctl_usage(c, "region %" PRIu32 " (%s+%s) is not aligned to the block size %s", i,
                             ctl_fmt_dpa(regions[i].base, a), ctl_fmt_len(regions[i].len, b),
                             ctl_fmt_len(bs, err));
        nblocks += regions[i].len / bs;
    }
    if (nblocks > MHSLD_MAX_BLOCKS)
        return ctl_usage(c, "%" PRIu64 " blocks is more than the %llu a state can hold", nblocks,
                         (unsigned long long)MHSLD_MAX_BLOCKS);
    s = mhsld_geometry_check(&g);
    if (s != MHSLD_OK)
        return ctl_usage(c, "invalid geometry: %s", ctl_status_text(s, t, sizeof(t)));

    if (!ctl_has(c, O_FORCE)) {
        /* Refuse to touch a state that is already there; a state that is
         * absent (or never initialised) is created by MHSLD_OPEN_CREATE,
         * which also copes with a concurrent creator. */
        mhsld_status es;
        rc = ctl_open_state(c, MHSLD_OPEN_EXISTING, NULL, &st, &es);
        if (es == MHSLD_E_PERM)
            return ctl_fail(c, rc, "%s: %s%s", c->state, ctl_status_text(es, t, sizeof(t)),
                            ctl_open_hint(es));
        if (rc == CTL_EXIT_OK) {
            mhsld_close(st);
            return ctl_fail(c, CTL_EXIT_REFUSED,
                            "%s: state already exists (use --force to re-initialise it, which "
                            "drops every head's capacity)",
                            c->state);
        }
    }
    rc =
        ctl_open_state(c, ctl_has(c, O_FORCE) ? MHSLD_OPEN_REINIT : MHSLD_OPEN_CREATE, &g, &st, &s);
    if (rc != CTL_EXIT_OK) {
        if (s == MHSLD_E_GEOMETRY || s == MHSLD_E_EXISTS)
            return ctl_fail(
                c, CTL_EXIT_REFUSED,
                "%s: a state with another geometry exists (use --force to re-initialise "
                "it): %s",
                c->state, ctl_status_text(s, t, sizeof(t)));
        if (ctl_status_exit(s) == CTL_EXIT_STATE && !ctl_has(c, O_FORCE))
            return ctl_fail(c, rc,
                            "%s: %s (an unusable state is in the way; --force overwrites it)",
                            c->state, ctl_status_text(s, t, sizeof(t)));
        return ctl_fail(c, rc, "%s: %s%s", c->state, ctl_status_text(s, t, sizeof(t)),
                        ctl_open_hint(s));
    }
    printf("%s %s: %" PRIu32 " head%s, %" PRIu32 " LD%s, %" PRIu32 " region%s, %" PRIu64
           " blocks of %s (%s)\n",
           ctl_has(c, O_FORCE) ? "re-initialised" : "created", c->state, heads,
           heads == 1 ? "" : "s", lds, lds == 1 ? "" : "s", nregions, nregions == 1 ? "" : "s",
           nblocks, ctl_fmt_len(bs, a), ctl_fmt_len(total, b));
    mhsld_close(st);
    return CTL_EXIT_OK;
}

int verb_destroy(struct cmd *c)
{
    mhsld_status s = mhsld_destroy(c->state, ctl_has(c, O_FORCE));
    char t[CTL_ERRLEN];

    if (s == MHSLD_E_ALIVE)
        return ctl_fail(
            c, CTL_EXIT_REFUSED,
            "%s: a head is attached by a live process (--force removes the name anyway; "
            "attached processes keep their mapping): %s",
            c->state, ctl_status_text(s, t, sizeof(t)));
    if (s != MHSLD_OK)
        return ctl_fail(c, ctl_status_exit(s), "%s: %s", c->state,
                        ctl_status_text(s, t, sizeof(t)));
    printf("destroyed %s\n", c->state);
    return CTL_EXIT_OK;
}

/* ---- show -------------------------------------------------------------- */

struct ext_list {
    mhsld_extent *ext;
    uint8_t (*tags)[MHSLD_TAG_SIZE];
    size_t n;
};

static void ext_list_free(struct ext_list *l)
{
    free(l->ext);
    free(l->tags);
    l->ext = NULL;
    l->tags = NULL;
    l->n = 0;
}

/* All extents of one kind of one head, paging through mhsld_extents_get(). */
static mhsld_status ext_list_get(mhsld_state *st, uint32_t head, uint32_t kind, struct ext_list *l)
{
    enum { CHUNK = 256 };
    size_t cap = 0;

    memset(l, 0, sizeof(*l));
    for (;;) {
        size_t returned = 0, total = 0;
        mhsld_status s;

        if (l->n + CHUNK > cap) {
            size_t ncap = cap + CHUNK;
            mhsld_extent *e = realloc(l->ext, ncap * sizeof(*e));
            uint8_t(*t)[MHSLD_TAG_SIZE];
            if (e == NULL)
                return MHSLD_E_NOMEM;
            l->ext = e;
            t = realloc(l->tags, ncap * sizeof(*t));
            if (t == NULL)
                return MHSLD_E_NOMEM;
            l->tags = t;
            cap = ncap;
        }
        s = mhsld_extents_get(st, head, kind, l->n, l->ext + l->n, l->tags + l->n, CHUNK, &returned,
                              &total, NULL);
        if (s != MHSLD_OK)
            return s;
        if (returned > CHUNK)
            return MHSLD_E_CORRUPT;
        l->n += returned;
        if (returned == 0 || l->n >= total)
            return MHSLD_OK;
    }
}

struct show_head {
    mhsld_head_info info;
    struct ext_list owned, pending, shared;
};

struct show_data {
    mhsld_geometry g;
    uint64_t nblocks;
    struct show_head heads[MHSLD_MAX_HEADS];
    mhsld_shared_info *shared;
    size_t nshared;
};

static void show_free(struct show_data *d)
{
    uint32_t h;

    for (h = 0; h < MHSLD_MAX_HEADS; h++) {
        ext_list_free(&d->heads[h].owned);
        ext_list_free(&d->heads[h].pending);
        ext_list_free(&d->heads[h].shared);
    }
    free(d->shared);
}

static mhsld_status show_gather(mhsld_state *st, struct show_data *d)
{
    size_t n = 0, total = 0;
    mhsld_status s;
    uint32_t h;

    s = mhsld_get_geometry(st, &d->g);
    if (s != MHSLD_OK)
        return s;
    if (d->g.nr_heads > MHSLD_MAX_HEADS || d->g.nr_regions > MHSLD_MAX_REGIONS ||
        d->g.nr_lds > MHSLD_MAX_LDS)
        return MHSLD_E_CORRUPT;
    d->nblocks = mhsld_block_count(st);
    for (h = 0; h < d->g.nr_heads; h++) {
        struct show_head *sh = &d->heads[h];
        if ((s = mhsld_head_info_get(st, h, &sh->info)) != MHSLD_OK ||
            (s = ext_list_get(st, h, MHSLD_EXT_OWNED, &sh->owned)) != MHSLD_OK ||
            (s = ext_list_get(st, h, MHSLD_EXT_PENDING, &sh->pending)) != MHSLD_OK ||
            (s = ext_list_get(st, h, MHSLD_EXT_SHARED, &sh->shared)) != MHSLD_OK)
            return s;
    }
    d->shared = calloc(MHSLD_MAX_SHARED, sizeof(*d->shared));
    if (d->shared == NULL)
        return MHSLD_E_NOMEM;
    s = mhsld_shared_list(st, d->shared, MHSLD_MAX_SHARED, &n, &total);
    if (s != MHSLD_OK)
        return s;
    d->nshared = n > MHSLD_MAX_SHARED ? MHSLD_MAX_SHARED : n;
    return MHSLD_OK;
}

static json_object *jextents(const struct ext_list *l, bool tags)
{
    json_object *arr = ctl_jnew(json_object_new_array());
    size_t i;
    char t[CTL_FMTLEN];

    for (i = 0; i < l->n; i++) {
        json_object *e = ctl_jnew(json_object_new_object());
        ctl_jadd(e, "dpa", ctl_jnew(json_object_new_uint64(l->ext[i].dpa)));
        ctl_jadd(e, "length", ctl_jnew(json_object_new_uint64(l->ext[i].len)));
        if (tags)
            ctl_jadd(e, "tag", ctl_jnew(json_object_new_string(ctl_fmt_tag(l->tags[i], t))));
        ctl_jpush(arr, e);
    }
    return arr;
}

static json_object *jsharers(uint32_t mask, uint32_t nr_heads)
{
    json_object *arr = ctl_jnew(json_object_new_array());
    uint32_t h;

    for (h = 0; h < nr_heads && h < 32; h++)
        if (mask & (UINT32_C(1) << h))
            ctl_jpush(arr, ctl_jnew(json_object_new_int64(h)));
    return arr;
}

static int show_json(const struct cmd *c, mhsld_state *st, const struct show_data *d)
{
    json_object *root = ctl_jnew(json_object_new_object()), *arr;
    uint64_t capacity = 0;
    uint32_t i;
    int rc = CTL_EXIT_OK;

    for (i = 0; i < d->g.nr_regions; i++)
        capacity += d->g.regions[i].len;
    ctl_jadd(root, "state", ctl_jnew(json_object_new_string(c->state)));
    ctl_jadd(root, "block_size", ctl_jnew(json_object_new_uint64(d->g.block_size)));
    ctl_jadd(root, "block_count", ctl_jnew(json_object_new_uint64(d->nblocks)));
    ctl_jadd(root, "capacity", ctl_jnew(json_object_new_uint64(capacity)));
    ctl_jadd(root, "state_size", ctl_jnew(json_object_new_uint64(mhsld_state_size(&d->g))));
    ctl_jadd(root, "nr_heads", ctl_jnew(json_object_new_int64(d->g.nr_heads)));
    ctl_jadd(root, "nr_lds", ctl_jnew(json_object_new_int64(d->g.nr_lds)));
    arr = ctl_jnew(json_object_new_array());
    for (i = 0; i < d->g.nr_lds; i++) {
        /* JSON null (a NULL json_object) marks an unassigned LD. */
        if (d->g.ld_map[i] == MHSLD_LD_UNASSIGNED) {
            if (arr == NULL || json_object_array_add(arr, NULL) != 0)
                ctl_json_oom = true;
        } else {
            ctl_jpush(arr, ctl_jnew(json_object_new_int64(d->g.ld_map[i])));
        }
    }
    ctl_jadd(root, "ld_map", arr);
    arr = ctl_jnew(json_object_new_array());
    for (i = 0; i < d->g.nr_regions; i++) {
        json_object *r = ctl_jnew(json_object_new_object());
        ctl_jadd(r, "index", ctl_jnew(json_object_new_int64(i)));
        ctl_jadd(r, "base", ctl_jnew(json_object_new_uint64(d->g.regions[i].base)));
        ctl_jadd(r, "length", ctl_jnew(json_object_new_uint64(d->g.regions[i].len)));
        ctl_jadd(r, "sharable",
                 ctl_jnew(json_object_new_boolean((d->g.regions[i].flags & MHSLD_REGION_SHARABLE) !=
                                                  0)));
        ctl_jadd(r, "dsmad_handle", ctl_jnew(json_object_new_int64(d->g.regions[i].dsmad_handle)));
        ctl_jpush(arr, r);
    }
    ctl_jadd(root, "regions", arr);
    arr = ctl_jnew(json_object_new_array());
    for (i = 0; i < d->g.nr_heads; i++) {
        const struct show_head *sh = &d->heads[i];
        const mhsld_head_info *hi = &sh->info;
        json_object *h = ctl_jnew(json_object_new_object());
        ctl_jadd(h, "head", ctl_jnew(json_object_new_int64(i)));
        ctl_jadd(h, "epoch", ctl_jnew(json_object_new_uint64(hi->epoch)));
        ctl_jadd(h, "alive", ctl_jnew(json_object_new_boolean(hi->alive != 0)));
        ctl_jadd(h, "pid", ctl_jnew(json_object_new_int64(hi->pid)));
        if (hi->inflight_op != 0)
            ctl_jadd(h, "inflight_op",
                     ctl_jnew(json_object_new_string(mhsld_op_name(hi->inflight_op))));
        else if (h != NULL && json_object_object_add(h, "inflight_op", NULL) != 0)
            ctl_json_oom = true;
        ctl_jadd(h, "owned_blocks", ctl_jnew(json_object_new_uint64(hi->owned_blocks)));
        ctl_jadd(h, "pending_blocks", ctl_jnew(json_object_new_uint64(hi->pending_blocks)));
        ctl_jadd(h, "shared_blocks", ctl_jnew(json_object_new_uint64(hi->shared_blocks)));
        ctl_jadd(h, "owned_bytes",
                 ctl_jnew(json_object_new_uint64(hi->owned_blocks * d->g.block_size)));
        ctl_jadd(h, "pending_bytes",
                 ctl_jnew(json_object_new_uint64(hi->pending_blocks * d->g.block_size)));
        ctl_jadd(h, "shared_bytes",
                 ctl_jnew(json_object_new_uint64(hi->shared_blocks * d->g.block_size)));
        ctl_jadd(h, "nr_pending", ctl_jnew(json_object_new_int64(hi->nr_pending)));
        ctl_jadd(h, "list_generation", ctl_jnew(json_object_new_int64(hi->list_generation)));
        ctl_jadd(h, "seqs_left", ctl_jnew(json_object_new_uint64(hi->seqs_left)));
        ctl_jadd(h, "owned", jextents(&sh->owned, false));
        ctl_jadd(h, "pending", jextents(&sh->pending, false));
        ctl_jadd(h, "shared", jextents(&sh->shared, true));
        ctl_jpush(arr, h);
    }
    ctl_jadd(root, "heads", arr);
    arr = ctl_jnew(json_object_new_array());
    for (i = 0; i < d->nshared; i++) {
        const mhsld_shared_info *si = &d->shared[i];
        json_object *o = ctl_jnew(json_object_new_object());
        char t[CTL_FMTLEN];
        ctl_jadd(o, "slot", ctl_jnew(json_object_new_int64(si->slot)));
        ctl_jadd(o, "dpa", ctl_jnew(json_object_new_uint64(si->ext.dpa)));
        ctl_jadd(o, "length", ctl_jnew(json_object_new_uint64(si->ext.len)));
        ctl_jadd(o, "tag", ctl_jnew(json_object_new_string(ctl_fmt_tag(si->tag, t))));
        ctl_jadd(o, "sharers", jsharers(si->sharers, d->g.nr_heads));
        ctl_jpush(arr, o);
    }
    ctl_jadd(root, "shared", arr);
    (void)st;
    int prc = ctl_jprint(c, root, JSON_C_TO_STRING_PRETTY);
    return prc != CTL_EXIT_OK ? prc : rc;
}

static void show_extents(const char *what, const struct ext_list *l, bool tags)
{
    char e[CTL_FMTLEN], t[CTL_FMTLEN];
    size_t i;

    for (i = 0; i < l->n; i++) {
        printf("    %-8s %s", what, ctl_fmt_extent(&l->ext[i], e));
        if (tags)
            printf(" tag %s", ctl_fmt_tag(l->tags[i], t));
        putchar('\n');
    }
}

static void show_text(const struct cmd *c, const struct show_data *d)
{
    char a[CTL_FMTLEN], b[CTL_FMTLEN], x[CTL_FMTLEN];
    uint64_t capacity = 0;
    uint32_t i, h;

    for (i = 0; i < d->g.nr_regions; i++)
        capacity += d->g.regions[i].len;
    printf("state %s\n", c->state);
    printf("  %" PRIu32 " heads, %" PRIu32 " LDs, %" PRIu64 " blocks of %s (%s), state size %s\n",
           d->g.nr_heads, d->g.nr_lds, d->nblocks, ctl_fmt_len(d->g.block_size, a),
           ctl_fmt_len(capacity, b), ctl_fmt_len(mhsld_state_size(&d->g), x));
    for (i = 0; i < d->g.nr_regions; i++) {
        mhsld_extent e = {d->g.regions[i].base, d->g.regions[i].len};
        printf("  region %" PRIu32 ": %s%s, DSMAD handle %" PRIu32 "\n", i, ctl_fmt_extent(&e, a),
               (d->g.regions[i].flags & MHSLD_REGION_SHARABLE) ? " sharable" : " exclusive",
               d->g.regions[i].dsmad_handle);
    }
    printf("  LD map:");
    for (i = 0; i < d->g.nr_lds; i++) {
        if (d->g.ld_map[i] == MHSLD_LD_UNASSIGNED)
            printf(" %" PRIu32 "->-", i);
        else
            printf(" %" PRIu32 "->%u", i, d->g.ld_map[i]);
    }
    putchar('\n');
    for (h = 0; h < d->g.nr_heads; h++) {
        const struct show_head *sh = &d->heads[h];
        const mhsld_head_info *hi = &sh->info;
        if (hi->epoch == 0 && hi->owned_blocks + hi->pending_blocks + hi->shared_blocks == 0 &&
            !hi->alive) {
            printf("head %" PRIu32 ": never attached\n", h);
            continue;
        }
        printf("head %" PRIu32 ": epoch %" PRIu64 ", %s (pid %" PRIu32 "), in-flight %s\n", h,
               hi->epoch, hi->alive ? "alive" : "not attached", hi->pid,
               hi->inflight_op ? mhsld_op_name(hi->inflight_op) : "none");
        printf("  owned %s, pending %s in %" PRIu32 " reservation%s, shared %s\n",
               ctl_fmt_len(hi->owned_blocks * d->g.block_size, a),
               ctl_fmt_len(hi->pending_blocks * d->g.block_size, b), hi->nr_pending,
               hi->nr_pending == 1 ? "" : "s", ctl_fmt_len(hi->shared_blocks * d->g.block_size, x));
        show_extents("owned", &sh->owned, false);
        show_extents("pending", &sh->pending, false);
        show_extents("shared", &sh->shared, true);
    }
    if (d->nshared == 0)
        printf("shared extents: none\n");
    else
        printf("shared extents:\n");
    for (i = 0; i < d->nshared; i++) {
        const mhsld_shared_info *si = &d->shared[i];
        printf("  %s tag %s sharers", ctl_fmt_extent(&si->ext, a), ctl_fmt_tag(si->tag, b));
        for (h = 0; h < d->g.nr_heads && h < 32; h++)
            if (si->sharers & (UINT32_C(1) << h))
                printf(" %" PRIu32, h);
        putchar('\n');
    }
}

int verb_show(struct cmd *c)
{
    struct show_data *d;
    mhsld_state *st;
    mhsld_status s;
    char t[CTL_ERRLEN];
    int rc = ctl_open_state(c, MHSLD_OPEN_EXISTING, NULL, &st, NULL);

    if (rc != CTL_EXIT_OK)
        return rc;
    d = calloc(1, sizeof(*d));
    if (d == NULL) {
        mhsld_close(st);
        return ctl_fail(c, CTL_EXIT_IO, "out of memory");
    }
    s = show_gather(st, d);
    if (s != MHSLD_OK)
        rc = ctl_fail(c, ctl_status_exit(s), "%s: %s", c->state, ctl_status_text(s, t, sizeof(t)));
    else if (ctl_has(c, O_JSON))
        rc = show_json(c, st, d);
    else
        show_text(c, d);
    show_free(d);
    free(d);
    mhsld_close(st);
    return rc;
}

/* ---- verify and recover ------------------------------------------------ */

int verb_verify(struct cmd *c)
{
    char msg[512] = "", t[CTL_ERRLEN];
    mhsld_state *st;
    mhsld_status s;
    int rc = ctl_open_state(c, MHSLD_OPEN_EXISTING, NULL, &st, &s);

    if (rc != CTL_EXIT_OK)
        return ctl_fail(c, rc, "%s: cannot open: %s%s", c->state, ctl_status_text(s, t, sizeof(t)),
                        ctl_open_hint(s));
    s = mhsld_validate(st, msg, sizeof(msg));
    mhsld_close(st);
    if (s != MHSLD_OK) {
        msg[sizeof(msg) - 1] = '\0';
        return ctl_fail(c, CTL_EXIT_FALSE, "%s: unhealthy: %s (%s)", c->state,
                        msg[0] ? msg : mhsld_strerror(s), mhsld_status_name(s));
    }
    printf("%s: healthy\n", c->state);
    return CTL_EXIT_OK;
}
