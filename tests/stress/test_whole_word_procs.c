/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Whole-word give-backs under contention, with SIGKILLs.
 *
 * A give-back of a 64-block word that the head holds all of is written
 * with one 16-byte store where the CPU makes that one access (proto.c,
 * occ_clear_whole), on the argument that nobody else can write such a pair.
 * The general stress tests never give back a whole word (their extents are
 * at most 40 blocks).  Here HEADS processes work on only WORDS words: each
 * claims and releases whole aligned words (one word, two words, and with a
 * second extent through the general path), reserves whole words and commits
 * a subset (the rejected words are given back by the commit; a reservation
 * meeting a held word is undone), and claims and releases single blocks of
 * the same words, so every whole-word give-back races other heads' claims of
 * that word.  The parent SIGKILLs a random worker at every few batches and
 * restarts it (DROP: recovery, then the release of everything, again by
 * whole words).  After every call each worker checks what the state says it
 * holds against what it knows; at the end the state must validate and each
 * head must hold exactly what its process accounted for.
 */
#include "kill_harness.h"

#define HEADS 4u
#define WORDS 6u
#define NBLK (WORDS * 64u)
#define KILLS 60u
#define BATCH 64u /* ops per progress byte */

static kh_area *area; /* count: whole-word give-backs that returned OK */

typedef struct wk {
    mhsld_head *h;
    mhsld_state *st;
    uint32_t head;
    uint64_t rng;
    uint8_t owned[NBLK];
    uint64_t violations, whole;
} wk;

static uint64_t rnd(wk *w)
{
    w->rng ^= w->rng << 13;
    w->rng ^= w->rng >> 7;
    w->rng ^= w->rng << 17;
    return w->rng;
}

static void violation(wk *w, const char *what, uint64_t b, mhsld_status s)
{
    w->violations++;
    fprintf(stderr, "head %u: VIOLATION %s at block %llu (%s)\n", w->head, what,
            (unsigned long long)b, mhsld_strerror(s));
}

/* What the state says of block b, against what this head knows. */
static void check_block(wk *w, uint64_t b)
{
    mhsld_block_info bi;
    if (mhsld_block_info_get(w->st, b, &bi) != MHSLD_OK) {
        violation(w, "block info", b, MHSLD_OK);
        return;
    }
    int mine = bi.state == MHSLD_BLOCK_OWNED && bi.owner == w->head;
    int mine_any =
        (bi.state == MHSLD_BLOCK_OWNED || bi.state == MHSLD_BLOCK_PENDING) && bi.owner == w->head;
    if (mine != w->owned[b] || (mine_any && !mine))
        violation(w, w->owned[b] ? "lost a block" : "holds a block it never accepted", b, MHSLD_OK);
    if (mhsld_access_ok(w->h, b * BS + 64, 8) != (w->owned[b] != 0))
        violation(w, "access answer", b, MHSLD_OK);
}

static void check_range(wk *w, uint64_t b, uint64_t n)
{
    for (uint64_t k = 0; k < n; k++)
        check_block(w, b + k);
}

static void set_owned(wk *w, uint64_t b, uint64_t n, uint8_t v)
{
    for (uint64_t k = 0; k < n; k++)
        w->owned[b + k] = v;
}

/* A word this head holds all of, starting the search at a random word. */
static int64_t whole_word(wk *w)
{
    uint64_t s = rnd(w) % WORDS;
    for (uint64_t i = 0; i < WORDS; i++) {
        uint64_t x = (s + i) % WORDS, k = 0;
        while (k < 64 && w->owned[x * 64 + k])
            k++;
        if (k == 64)
            return (int64_t)x;
    }
    return -1;
}

static int64_t some_block(wk *w)
{
    uint64_t s = rnd(w) % NBLK;
    for (uint64_t i = 0; i < NBLK; i++)
        if (w->owned[(s + i) % NBLK])
            return (int64_t)((s + i) % NBLK);
    return -1;
}

/* An owned block of a word this head does not hold all of (or -1). */
static int64_t single_block(wk *w)
{
    uint64_t s = rnd(w) % NBLK;
    for (uint64_t i = 0; i < NBLK; i++) {
        uint64_t b = (s + i) % NBLK, k = 0;
        if (!w->owned[b])
            continue;
        while (k < 64 && w->owned[(b & ~63ull) + k])
            k++;
        if (k < 64)
            return (int64_t)b;
    }
    return -1;
}

static void claim(wk *w, const mhsld_extent *e, size_t n)
{
    mhsld_status s = mhsld_claim(w->h, e, n, NULL);
    if (s != MHSLD_OK && s != MHSLD_E_CONFLICT) {
        violation(w, "claim", e[0].dpa / BS, s);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (s == MHSLD_OK)
            set_owned(w, e[i].dpa / BS, e[i].len / BS, 1);
        check_range(w, e[i].dpa / BS, e[i].len / BS);
    }
}

static void release(wk *w, const mhsld_extent *e, size_t n, int wholes)
{
    mhsld_status s = mhsld_release(w->h, e, n, NULL);
    if (s != MHSLD_OK) {
        violation(w, "release", e[0].dpa / BS, s);
        return;
    }
    w->whole += (uint64_t)wholes;
    for (size_t i = 0; i < n; i++) {
        set_owned(w, e[i].dpa / BS, e[i].len / BS, 0);
        check_range(w, e[i].dpa / BS, e[i].len / BS);
    }
}

static void step(wk *w)
{
    uint64_t r = rnd(w) % 16;
    switch (r) {
    case 0:
    case 1:
    case 2:
    case 3: { /* one whole word: the one-range claim path */
        mhsld_extent e = tu_ext((rnd(w) % WORDS) * 64 * BS, 64 * BS);
        claim(w, &e, 1);
        break;
    }
    case 4:
    case 5: { /* two whole words: the run path */
        mhsld_extent e = tu_ext((rnd(w) % (WORDS - 1)) * 64 * BS, 128 * BS);
        claim(w, &e, 1);
        break;
    }
    case 6: { /* single blocks of the same words: the race partner */
        mhsld_extent e = tu_ext((rnd(w) % NBLK) * BS, (1 + rnd(w) % 3) * BS);
        if (e.dpa + e.len > (uint64_t)NBLK * BS)
            e.len = BS;
        claim(w, &e, 1);
        break;
    }
    case 7:
    case 8: { /* reserve whole words (one of them maybe taken: undo), commit some */
        uint64_t a = rnd(w) % WORDS, b = rnd(w) % WORDS;
        if (a == b)
            b = (a + 1) % WORDS;
        mhsld_extent e[2] = {tu_ext(a * 64 * BS, 64 * BS), tu_ext(b * 64 * BS, 64 * BS)};
        if (a > b) {
            mhsld_extent t = e[0];
            e[0] = e[1];
            e[1] = t;
        }
        uint64_t g = 0;
        mhsld_status s = mhsld_reserve(w->h, e, 2, &g, NULL);
        if (s == MHSLD_E_CONFLICT) {
            check_range(w, e[0].dpa / BS, 64);
            check_range(w, e[1].dpa / BS, 64);
            break;
        }
        if (s != MHSLD_OK) {
            violation(w, "reserve", e[0].dpa / BS, s);
            break;
        }
        uint32_t pick = (uint32_t)(rnd(w) % 3); /* 0: none, 1: first, 2: second */
        s = mhsld_commit(w->h, g, pick ? &e[pick - 1] : NULL, pick ? 1 : 0);
        if (s != MHSLD_OK) {
            violation(w, "commit", e[0].dpa / BS, s);
            break;
        }
        if (pick)
            set_owned(w, e[pick - 1].dpa / BS, 64, 1);
        w->whole += pick ? 1 : 2;
        check_range(w, e[0].dpa / BS, 64);
        check_range(w, e[1].dpa / BS, 64);
        break;
    }
    case 9:
    case 10:
    case 11: { /* a whole word: one-range, or with a second extent (general path) */
        int64_t x = whole_word(w);
        if (x < 0)
            break;
        mhsld_extent e[2] = {tu_ext((uint64_t)x * 64 * BS, 64 * BS)};
        int64_t y = some_block(w);
        if ((rnd(w) & 1) && y >= 0 && (y < x * 64 || y >= x * 64 + 64)) {
            e[1] = tu_ext((uint64_t)y * BS, BS);
            if (y < x * 64) {
                mhsld_extent t = e[0];
                e[0] = e[1];
                e[1] = t;
            }
            release(w, e, 2, 1);
        } else {
            release(w, e, 1, 1);
        }
        break;
    }
    case 12: { /* two adjacent whole words: the run path */
        int64_t x = whole_word(w);
        if (x < 0 || x + 1 >= (int64_t)WORDS)
            break;
        uint64_t k = 0;
        while (k < 64 && w->owned[(uint64_t)(x + 1) * 64 + k])
            k++;
        if (k < 64)
            break;
        mhsld_extent e = tu_ext((uint64_t)x * 64 * BS, 128 * BS);
        release(w, &e, 1, 2);
        break;
    }
    default: { /* a single owned block (after checking everything, at times) */
        if (r == 15)
            check_range(w, 0, NBLK);
        int64_t y = single_block(w);
        if (y >= 0) {
            mhsld_extent e = tu_ext((uint64_t)y * BS, BS);
            release(w, &e, 1, 0);
        }
        break;
    }
    }
}

static void worker(const char *path, uint32_t head, int wfd, uint64_t seed)
{
    mhsld_state *st = tu_open(path);
    mhsld_head *h = NULL;
    if (mhsld_attach(st, head, MHSLD_ATTACH_DROP, &h) != MHSLD_OK)
        _exit(2);
    static wk w;
    memset(&w, 0, sizeof(w));
    w.h = h;
    w.st = st;
    w.head = head;
    w.rng = seed | 1;
    check_range(&w, 0, NBLK); /* DROP gave back everything */
    for (uint64_t ops = 1; !__atomic_load_n(&area->stop, __ATOMIC_ACQUIRE); ops++) {
        step(&w);
        __atomic_fetch_add(&area->ops[head], 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&area->violations[head], w.violations, __ATOMIC_RELAXED);
        __atomic_fetch_add(&area->count[head], w.whole, __ATOMIC_RELAXED);
        w.violations = w.whole = 0;
        if (ops % BATCH == 0) {
            char c = (char)head;
            if (write(wfd, &c, 1) != 1)
                break;
        }
    }
    check_range(&w, 0, NBLK);
    __atomic_fetch_add(&area->violations[head], w.violations, __ATOMIC_RELAXED);
    uint64_t n = 0;
    for (uint64_t b = 0; b < NBLK; b++)
        n += w.owned[b];
    kh_finish(area, head, n, h, st);
}

int main(void)
{
    char path[128];
    kh_create(path, sizeof(path), "wholeword", HEADS, NBLK);
    area = kh_area_new();
    unsigned kills = kh_run(area, path, HEADS, worker, 0x2545f4914f6cdd1dull, 777, 32, KILLS, 1);
    uint64_t ops, viol, whole;
    mhsld_state *st = kh_check(area, path, HEADS, &ops, &viol, &whole);
    CHECK(viol == 0);
    CHECK(kills == KILLS);
    /* The race this test is for happened, many times. */
    CHECK(whole > 1000);
    printf("whole words: %u heads on %u words, %llu operations, %llu whole-word give-backs, "
           "%u SIGKILLs with recovery, %llu violations\n",
           HEADS, WORDS, (unsigned long long)ops, (unsigned long long)whole, kills,
           (unsigned long long)viol);
    mhsld_close(st);
    mhsld_destroy(path, true);
    return tu_report("test_whole_word_procs");
}
