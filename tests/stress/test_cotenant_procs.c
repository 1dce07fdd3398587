/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A hostile co-tenant writing WHILE heads run, across processes.
 *
 * HEADS worker processes, one per head, run every operation in a random mix
 * (reserve, commit of a random subset, release, shared add and leave,
 * release_all, detach and re-attach with DROP or KEEP, recovery of other
 * heads, mhsld_validate, access checks and every query), while a separate
 * scribbler process with its OWN mapping of the state file writes over every
 * area of the state continuously: journals, pending reservations, the head
 * scalars, shared slots, occupancy pairs, owned maps, start maps, the
 * blocks' shared bytes and the header.  Every write is a glitch: the old value is put back (if
 * nobody changed it since) a moment later (a busy-wait of up to 256 pauses) or, for one write in
 * 32, 4096 scribbles later; a field damaged for good would only make its head fail from then on,
 * which fuzz_state already covers.  The parent SIGKILLs a random worker every few batches of
 * progress and starts it again (its attach recovers the dead incarnation, or another worker's
 * mhsld_recover() does).
 *
 * Oracle: no process dies of a signal the parent did not send, or of a
 * sanitizer report (ASan+UBSan in CI abort); every call returns a defined
 * mhsld_status; no call spends more than CALL_CPU_MS of CPU time (a loop
 * that does not end) or CALL_WALL_MS of wall-clock time (a wait that does not
 * end): a watchdog in the parent reads each worker's current call, its start
 * time and the worker's CPU clock (CPU time, so that a bounded wait that
 * yields the processor is not taken for a hang on a loaded machine); the run ends
 * by itself after RUN_MS (MHSLD_STRESS_MS overrides).  It prints the calls,
 * the scribbles and the histogram of statuses.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "internal.h"
#include "testutil.h"

#define HEADS 4u
#define R0_BLOCKS 256u /* exclusive: four occupancy words */
#define R1_BLOCKS 64u  /* sharable */
#define R1_BASE (512ull * BS)
#define RUN_MS 20000u
#define CALL_CPU_MS 5000u
#define CALL_WALL_MS 60000u
#define BATCH 32u
#define KILL_EVERY 24u             /* progress batches between kills */
#define NSTAT (MHSLD_E__COUNT + 1) /* the last one counts undefined statuses */

enum call {
    C_NONE,
    C_OPEN,
    C_ATTACH,
    C_RESERVE,
    C_COMMIT,
    C_RELEASE,
    C_SHARE_ADD,
    C_SHARE_RELEASE,
    C_RELEASE_ALL,
    C_RECOVER,
    C_VALIDATE,
    C_ACCESS,
    C_QUERY,
    C__COUNT
};
static const char *const call_names[C__COUNT] = {
    "-",
    "mhsld_open",
    "mhsld_attach",
    "mhsld_reserve",
    "mhsld_commit",
    "mhsld_release",
    "mhsld_share_add",
    "mhsld_share_release",
    "mhsld_release_all",
    "mhsld_recover",
    "mhsld_validate",
    "mhsld_access_ok",
    "queries",
};

typedef struct wslot {
    uint64_t call_start_ns; /* 0: not inside a call */
    uint64_t call_cpu_ns;   /* the worker's CPU clock at the start of the call */
    uint32_t call;
    uint32_t pad;
    uint64_t calls;
    uint64_t undefined;
    uint64_t stat[C__COUNT][NSTAT];
} wslot;

typedef struct shared_area {
    int stop;
    int scribbler_stop;
    uint64_t scribbles, glitches, permanent;
    wslot w[HEADS];
} shared_area;

static shared_area *area;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_ns(clockid_t c)
{
    struct timespec ts;
    if (clock_gettime(c, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* ---- workers -------------------------------------------------------------- */

typedef struct worker {
    uint32_t head;
    uint64_t rng;
    const char *path;
    mhsld_state *st;
    mhsld_head *h;
    wslot *ws;
} worker;

static void enter(worker *w, uint32_t c)
{
    __atomic_store_n(&w->ws->call, c, __ATOMIC_RELAXED);
    __atomic_store_n(&w->ws->call_cpu_ns, cpu_ns(CLOCK_PROCESS_CPUTIME_ID), __ATOMIC_RELAXED);
    __atomic_store_n(&w->ws->call_start_ns, now_ns(), __ATOMIC_RELEASE);
}

static void leave(worker *w, uint32_t c, mhsld_status s)
{
    __atomic_store_n(&w->ws->call_start_ns, 0, __ATOMIC_RELEASE);
    unsigned k = (unsigned)s < (unsigned)MHSLD_E__COUNT ? (unsigned)s : MHSLD_E__COUNT;
    if (k == MHSLD_E__COUNT) {
        w->ws->undefined++;
        fprintf(stderr, "head %u: %s returned %d, not an mhsld_status\n", w->head, call_names[c],
                (int)s);
    }
    __atomic_fetch_add(&w->ws->stat[c][k], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&w->ws->calls, 1, __ATOMIC_RELAXED);
}

static mhsld_extent rand_extent(worker *w, int sharable)
{
    int r1 = sharable || rnd(&w->rng) % 4 == 0;
    uint32_t nb = r1 ? R1_BLOCKS : R0_BLOCKS;
    uint64_t len = 1 + rnd(&w->rng) % 12;
    uint64_t start = rnd(&w->rng) % (nb - len);
    return tu_ext((r1 ? R1_BASE : 0) + start * BS, len * BS);
}

static void one_call(worker *w)
{
    mhsld_status s;
    uint64_t r = rnd(&w->rng) % 100;
    if (!w->h) {
        uint32_t flags = rnd(&w->rng) & 1 ? MHSLD_ATTACH_KEEP : MHSLD_ATTACH_DROP;
        enter(w, C_ATTACH);
        s = mhsld_attach(w->st, w->head, flags, &w->h);
        leave(w, C_ATTACH, s);
        if (s != MHSLD_OK)
            w->h = NULL;
        if (s == MHSLD_E_JOURNAL || s == MHSLD_E_CORRUPT || s == MHSLD_E_BUSY) {
            /* Its record is damaged beyond recovery: force what can be done. */
            mhsld_recover_report rep;
            enter(w, C_RECOVER);
            s = mhsld_recover(w->st, w->head, MHSLD_RECOVER_FORCE, &rep);
            leave(w, C_RECOVER, s);
        }
        return;
    }
    if (r < 30) {
        mhsld_extent e[3];
        uint32_t n = 1 + (uint32_t)(rnd(&w->rng) % 3);
        for (uint32_t i = 0; i < n; i++)
            e[i] = rand_extent(w, 0);
        uint64_t g = 0;
        mhsld_conflict c;
        enter(w, C_RESERVE);
        s = mhsld_reserve(w->h, e, n, &g, &c);
        leave(w, C_RESERVE, s);
        if (s != MHSLD_OK)
            return;
        mhsld_extent pe[MHSLD_MAX_EXTENTS];
        size_t pn = 0;
        enter(w, C_QUERY);
        s = mhsld_pending_get(w->h, g, pe, MHSLD_MAX_EXTENTS, &pn);
        leave(w, C_QUERY, s);
        mhsld_extent acc[3];
        uint32_t na = 0;
        if (s == MHSLD_OK)
            for (size_t i = 0; i < pn && i < 3; i++)
                if (rnd(&w->rng) & 1)
                    acc[na++] = pe[i];
        enter(w, C_COMMIT);
        s = mhsld_commit(w->h, g, acc, na);
        leave(w, C_COMMIT, s);
    } else if (r < 45) {
        mhsld_extent e[8];
        size_t ret = 0, total = 0;
        enter(w, C_QUERY);
        s = mhsld_extents_get(w->st, w->head, MHSLD_EXT_OWNED, 0, e, NULL, 8, &ret, &total, NULL);
        leave(w, C_QUERY, s);
        mhsld_extent x = (s == MHSLD_OK && ret) ? e[rnd(&w->rng) % ret] : rand_extent(w, 0);
        mhsld_conflict c;
        enter(w, C_RELEASE);
        s = mhsld_release(w->h, &x, 1, &c);
        leave(w, C_RELEASE, s);
    } else if (r < 55) {
        /* A few fixed shared extents, so that heads meet on them. */
        uint64_t k = rnd(&w->rng) % 4;
        mhsld_extent x = tu_ext(R1_BASE + k * 16 * BS, (1 + k) * BS);
        uint8_t tag[MHSLD_TAG_SIZE] = {0x5a, (uint8_t)k};
        mhsld_conflict c;
        enter(w, C_SHARE_ADD);
        s = mhsld_share_add(w->h, &x, tag, &c);
        leave(w, C_SHARE_ADD, s);
    } else if (r < 64) {
        uint64_t k = rnd(&w->rng) % 4;
        mhsld_extent x = tu_ext(R1_BASE + k * 16 * BS, (1 + k) * BS);
        enter(w, C_SHARE_RELEASE);
        s = mhsld_share_release(w->h, &x);
        leave(w, C_SHARE_RELEASE, s);
    } else if (r < 68) {
        uint64_t freed = 0;
        enter(w, C_RELEASE_ALL);
        s = mhsld_release_all(w->h, &freed);
        leave(w, C_RELEASE_ALL, s);
    } else if (r < 71) {
        mhsld_detach(w->h);
        w->h = NULL;
    } else if (r < 76) {
        uint32_t other = (uint32_t)(rnd(&w->rng) % HEADS);
        uint32_t flags = (uint32_t)(rnd(&w->rng) % 2);
        mhsld_recover_report rep;
        enter(w, C_RECOVER);
        s = mhsld_recover(w->st, other, flags, &rep);
        leave(w, C_RECOVER, s);
    } else if (r < 80) {
        char msg[256];
        enter(w, C_VALIDATE);
        s = mhsld_validate(w->st, msg, sizeof msg);
        leave(w, C_VALIDATE, s);
    } else if (r < 90) {
        mhsld_extent x = rand_extent(w, 0);
        enter(w, C_ACCESS);
        (void)mhsld_access_ok(w->h, x.dpa, x.len);
        (void)mhsld_access_check(w->st, (uint32_t)(rnd(&w->rng) % HEADS), x.dpa + 64, 64);
        leave(w, C_ACCESS, MHSLD_OK);
    } else {
        uint32_t who = (uint32_t)(rnd(&w->rng) % HEADS);
        mhsld_head_info hi;
        enter(w, C_QUERY);
        s = mhsld_head_info_get(w->st, who, &hi);
        leave(w, C_QUERY, s);
        for (uint32_t kind = 0; kind < 4; kind++) {
            mhsld_extent e[8];
            uint8_t tags[8][MHSLD_TAG_SIZE];
            size_t ret = 0, total = 0;
            uint32_t gen = 0;
            enter(w, C_QUERY);
            s = mhsld_extents_get(w->st, who, kind, 0, e, tags, 8, &ret, &total, &gen);
            leave(w, C_QUERY, s);
        }
        mhsld_shared_info si[8];
        size_t n = 0, total = 0;
        enter(w, C_QUERY);
        s = mhsld_shared_list(w->st, si, 8, &n, &total);
        leave(w, C_QUERY, s);
        mhsld_block_info bi;
        enter(w, C_QUERY);
        s = mhsld_block_info_get(w->st, rnd(&w->rng) % (R0_BLOCKS + R1_BLOCKS), &bi);
        leave(w, C_QUERY, s);
        uint64_t groups[MHSLD_MAX_PENDING];
        size_t ng = 0;
        enter(w, C_QUERY);
        s = mhsld_pending_list(w->h, groups, MHSLD_MAX_PENDING, &ng);
        leave(w, C_QUERY, s);
        for (size_t i = 0; s == MHSLD_OK && i < ng && i < MHSLD_MAX_PENDING; i++) {
            mhsld_extent pe[MHSLD_MAX_EXTENTS];
            size_t pn = 0;
            enter(w, C_QUERY);
            mhsld_status ps = mhsld_pending_get(w->h, groups[i], pe, MHSLD_MAX_EXTENTS, &pn);
            leave(w, C_QUERY, ps);
        }
    }
}

static void worker_main(const char *path, uint32_t head, int wfd, uint64_t seed)
{
    worker w;
    memset(&w, 0, sizeof w);
    w.head = head;
    w.rng = seed | 1;
    w.path = path;
    w.ws = &area->w[head];
    /* The header may be glitched right now: open until it is not. */
    while (!w.st) {
        mhsld_open_opts o = {.size = sizeof(o), .mode = MHSLD_OPEN_EXISTING, .path = path};
        enter(&w, C_OPEN);
        mhsld_status s = mhsld_open(&o, &w.st);
        leave(&w, C_OPEN, s);
        if (s != MHSLD_OK)
            w.st = NULL;
        if (__atomic_load_n(&area->stop, __ATOMIC_ACQUIRE))
            _exit(0);
    }
    uint64_t n = 0;
    while (!__atomic_load_n(&area->stop, __ATOMIC_ACQUIRE)) {
        one_call(&w);
        if (++n % BATCH == 0) {
            char c = (char)head;
            if (write(wfd, &c, 1) != 1)
                break;
        }
    }
    mhsld_detach(w.h);
    mhsld_close(w.st);
    _exit(0);
}

/* ---- the scribbler -------------------------------------------------------- */

typedef struct target {
    uint64_t off;
    unsigned width;
    uint64_t limit; /* the field's bound, for "just above the maximum" values */
} target;

static target pick_target(uint64_t *rng, const mhsld_state *st)
{
    const mhsld__layout *lay = &st->lay;
    uint64_t r = rnd(rng);
    uint32_t head = (uint32_t)(r >> 8) % HEADS;
    uint64_t hro = lay->heads_off + (uint64_t)head * sizeof(mhsld__headrec);
    uint32_t i = (uint32_t)(r >> 16) & 0xff;
    uint64_t nb = st->nr_blocks;
    target t = {0, 8, nb};
    switch (r % 32) {
    case 0:
        t = (target){hro + offsetof(mhsld__headrec, j.op), 4, MHSLD__OP__COUNT};
        break;
    case 1:
        t = (target){hro + offsetof(mhsld__headrec, j.n), 4, MHSLD__JMAX};
        break;
    case 2:
        t = (target){hro + offsetof(mhsld__headrec, j.nacc), 4, MHSLD_MAX_EXTENTS};
        break;
    case 3:
        t = (target){hro + offsetof(mhsld__headrec, j.slot), 4, MHSLD_MAX_SHARED};
        break;
    case 4:
        t = (target){hro + offsetof(mhsld__headrec, j.gslot), 4, MHSLD_MAX_PENDING};
        break;
    case 5:
        t = (target){hro + offsetof(mhsld__headrec, j.seq), 8, MHSLD__SEQ_MASK};
        break;
    case 6:
        t = (target){hro + offsetof(mhsld__headrec, j.group), 8, MHSLD__SEQ_MASK};
        break;
    case 7:
        t = (target){hro + offsetof(mhsld__headrec, j.undo), 8, MHSLD__JMAX};
        break;
    case 8:
    case 9:
        t = (target){hro + offsetof(mhsld__headrec, j.r) + (i % 8) * 16 + (r % 2) * 8, 8, nb};
        break;
    case 10:
    case 11:
        t = (target){hro + offsetof(mhsld__headrec, j.acc) + (i % 8) * 16 + (r % 2) * 8, 8, nb};
        break;
    case 12:
        t = (target){hro + offsetof(mhsld__headrec, groups) +
                         (i % MHSLD_MAX_PENDING) * sizeof(mhsld__group),
                     4, MHSLD_MAX_EXTENTS};
        break;
    case 13:
    case 14:
        t = (target){hro + offsetof(mhsld__headrec, groups) +
                         (i % MHSLD_MAX_PENDING) * sizeof(mhsld__group) +
                         offsetof(mhsld__group, r) + ((i >> 3) % 4) * 16 + (r % 2) * 8,
                     8, nb};
        break;
    case 15:
        t = (target){hro + offsetof(mhsld__headrec, gseq) + (i % 8) * 8, 8, MHSLD__SEQ_MASK};
        break;
    case 16:
        t = (target){hro + offsetof(mhsld__headrec, jprog), 8, 1u << 24};
        break;
    case 17:
        t = (target){hro + offsetof(mhsld__headrec, seq), 8, MHSLD__SEQ_MASK};
        break;
    case 18:
        t = (target){hro + offsetof(mhsld__headrec, epoch), 8, 0};
        break;
    case 19:
        t = (target){hro + offsetof(mhsld__headrec, list_gen), 4, 0};
        break;
    case 20:
    case 21:
        t = (target){lay->slots_off + (i % 8) * sizeof(mhsld__slot), 8, 0};
        break;
    case 22:
        t = (target){lay->slots_off + (i % 8) * sizeof(mhsld__slot) + 8 + (r % 2) * 8, 8, nb};
        break;
    case 23:
    case 24:
        t = (target){lay->occ_off + mhsld__occ_off(lay, i % lay->nr_words) + (r % 2) * 8, 8, 64};
        break;
    case 25:
        t = (target){lay->starts_off + ((uint64_t)head * lay->nr_words + i % lay->nr_words) * 8, 8,
                     0};
        break;
    case 26:
    case 27: /* eight blocks' shared bytes at once (an aligned word of them) */
        t = (target){lay->sslot_off + ((r >> 24) % (lay->nr_words * 8)) * 8, 8, MHSLD_MAX_SHARED};
        break;
    case 28:
        t = (target){lay->owned_off + ((uint64_t)head * lay->nr_words + i % lay->nr_words) * 8, 8,
                     0};
        break;
    case 29:
        t = (target){(i % 64) * 8, 8, 0};
        break; /* the header */
    default:   /* anywhere in the head records, 8-byte aligned */
        t = (target){hro + ((r >> 24) % (sizeof(mhsld__headrec) / 8)) * 8, 8, 0};
        break;
    }
    return t;
}

static uint64_t pick_value(uint64_t *rng, uint64_t cur, uint64_t limit)
{
    uint64_t r = rnd(rng);
    switch (r % 12) {
    case 0:
        return 0;
    case 1:
        return ~0ull;
    case 2:
        return 0x7fffffff;
    case 3:
        return 0x80000000ull;
    case 4:
        return limit;
    case 5:
        return limit + 1;
    case 6:
        return limit + (r >> 8) % 300;
    case 7:
        return cur + 1;
    case 8:
        return cur - 1;
    case 9:
        return cur ^ (1ull << ((r >> 8) % 64));
    case 10:
        return (r >> 8) % 300;
    default:
        return rnd(rng);
    }
}

/* Hostile shared bytes for eight blocks: one byte or all eight naming a
 * slot the heads use (the first few), the last slot, one past it, or 0xff;
 * otherwise what pick_value makes of the word. */
static uint64_t pick_sbytes(uint64_t *rng, uint64_t cur)
{
    uint64_t r = rnd(rng);
    static const uint8_t vals[] = {0, 1, 2, 3, 4, MHSLD_MAX_SHARED, MHSLD_MAX_SHARED + 1, 0xff};
    uint64_t b = vals[(r >> 8) % sizeof vals];
    switch (r % 4) {
    case 0: /* one block's byte */
        return (cur & ~(0xffull << ((r >> 16) % 8 * 8))) | b << ((r >> 16) % 8 * 8);
    case 1: /* all eight */
        return b * 0x0101010101010101ull;
    default:
        return pick_value(rng, cur, MHSLD_MAX_SHARED);
    }
}

static void scribbler_main(const char *path)
{
    mhsld_state *st = NULL;
    mhsld_open_opts o = {.size = sizeof(o), .mode = MHSLD_OPEN_EXISTING, .path = path};
    if (mhsld_open(&o, &st) != MHSLD_OK) /* for the layout only */
        _exit(3);
    int fd = open(path, O_RDWR);
    if (fd < 0)
        _exit(4);
    size_t len = (size_t)st->lay.total;
    uint8_t *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        _exit(5);
    uint64_t rng = 0x2545F4914F6CDD1Dull;
    uint64_t n = 0, glitches = 0, permanent = 0;
    /* Long glitches: put back LONG_LAG scribbles later (a head that is
     * damaged for good only fails from then on, which fuzz_state covers). */
    enum { LONG_LAG = 4096 };
    struct {
        uint64_t off, old, v;
        unsigned width;
    } lag[LONG_LAG];
    memset(lag, 0, sizeof lag);
    while (!__atomic_load_n(&area->scribbler_stop, __ATOMIC_ACQUIRE)) {
        target t = pick_target(&rng, st);
        /* The header only ever glitches briefly: a respawned worker must be
         * able to open the state. */
        int keep = rnd(&rng) % 32 == 0 && t.off >= MHSLD__HDR_SIZE;
        uint64_t hold = rnd(&rng) % 256;
        uint32_t li = (uint32_t)(n % LONG_LAG);
        if (lag[li].width) { /* a long glitch ends */
            if (lag[li].width == 4) {
                uint32_t v = (uint32_t)lag[li].v;
                (void)__atomic_compare_exchange_n((uint32_t *)(void *)(m + lag[li].off), &v,
                                                  (uint32_t)lag[li].old, false, __ATOMIC_RELAXED,
                                                  __ATOMIC_RELAXED);
            } else {
                uint64_t v = lag[li].v;
                (void)__atomic_compare_exchange_n((uint64_t *)(void *)(m + lag[li].off), &v,
                                                  lag[li].old, false, __ATOMIC_RELAXED,
                                                  __ATOMIC_RELAXED);
            }
            lag[li].width = 0;
        }
        if (t.width == 4) {
            uint32_t *p = (uint32_t *)(void *)(m + t.off);
            uint32_t old = __atomic_load_n(p, __ATOMIC_RELAXED);
            uint32_t v = (uint32_t)pick_value(&rng, old, t.limit);
            __atomic_store_n(p, v, __ATOMIC_RELAXED);
            if (keep) {
                lag[li].off = t.off;
                lag[li].old = old;
                lag[li].v = v;
                lag[li].width = 4;
            } else {
                for (; hold; hold--)
                    __asm__ volatile("pause");
                (void)__atomic_compare_exchange_n(p, &v, old, false, __ATOMIC_RELAXED,
                                                  __ATOMIC_RELAXED);
            }
        } else {
            uint64_t *p = (uint64_t *)(void *)(m + t.off);
            uint64_t old = __atomic_load_n(p, __ATOMIC_RELAXED);
            int sbytes = t.off - st->lay.sslot_off < st->lay.nr_words * 64;
            uint64_t v = sbytes ? pick_sbytes(&rng, old) : pick_value(&rng, old, t.limit);
            __atomic_store_n(p, v, __ATOMIC_RELAXED);
            if (keep) {
                lag[li].off = t.off;
                lag[li].old = old;
                lag[li].v = v;
                lag[li].width = 8;
            } else {
                for (; hold; hold--)
                    __asm__ volatile("pause");
                (void)__atomic_compare_exchange_n(p, &v, old, false, __ATOMIC_RELAXED,
                                                  __ATOMIC_RELAXED);
            }
        }
        n++;
        if (keep)
            permanent++;
        else
            glitches++;
        if (n % 1024 == 0) {
            __atomic_store_n(&area->scribbles, n, __ATOMIC_RELAXED);
            __atomic_store_n(&area->glitches, glitches, __ATOMIC_RELAXED);
            __atomic_store_n(&area->permanent, permanent, __ATOMIC_RELAXED);
        }
    }
    area->scribbles = n;
    area->glitches = glitches;
    area->permanent = permanent;
    munmap(m, len);
    close(fd);
    mhsld_close(st);
    _exit(0);
}

/* ---- the parent ------------------------------------------------------------ */

static pid_t spawn_worker(const char *path, uint32_t head, int pfd[2], uint64_t seed)
{
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        worker_main(path, head, pfd[1], seed);
    }
    return pid;
}

static void describe_death(const char *who, int ws)
{
    if (WIFSIGNALED(ws))
        fprintf(stderr, "%s died of signal %d (%s)\n", who, WTERMSIG(ws), strsignal(WTERMSIG(ws)));
    else
        fprintf(stderr, "%s exited with status %d\n", who, WEXITSTATUS(ws));
}

static unsigned env_ms(const char *name, unsigned def)
{
    const char *v = getenv(name);
    return v && *v ? (unsigned)strtoul(v, NULL, 10) : def;
}

int main(void)
{
    unsigned run_ms = env_ms("MHSLD_STRESS_MS", RUN_MS);
    unsigned cpu_limit_ms = env_ms("MHSLD_STRESS_CALL_MS", CALL_CPU_MS);
    unsigned limit_ms = env_ms("MHSLD_STRESS_CALL_WALL_MS", CALL_WALL_MS);
    char path[128];
    tu_path(path, sizeof(path), "cotenant");
    mhsld_geometry g;
    mhsld_geometry_init(&g, HEADS, BS, 0, (uint64_t)R0_BLOCKS * BS);
    g.nr_regions = 2;
    g.regions[1].base = R1_BASE;
    g.regions[1].len = (uint64_t)R1_BLOCKS * BS;
    g.regions[1].flags = MHSLD_REGION_SHARABLE;
    g.regions[1].dsmad_handle = 1;
    mhsld_close(tu_create(path, &g));
    area = mmap(NULL, sizeof(*area), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    REQUIRE(area != MAP_FAILED);
    memset(area, 0, sizeof(*area));
    int pfd[2];
    REQUIRE(pipe(pfd) == 0);
    REQUIRE(fcntl(pfd[0], F_SETFL, O_NONBLOCK) == 0);
    pid_t pids[HEADS];
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    for (uint32_t i = 0; i < HEADS; i++)
        pids[i] = spawn_worker(path, i, pfd, seed + i);
    pid_t scrib = fork();
    REQUIRE(scrib >= 0);
    if (scrib == 0) {
        close(pfd[0]);
        close(pfd[1]);
        scribbler_main(path);
    }

    uint64_t t0 = now_ns(), deadline = t0 + (uint64_t)run_ms * 1000000ull;
    uint64_t rng = 12345, batches = 0, max_call_ns = 0;
    unsigned kills = 0, failures = 0;
    while (now_ns() < deadline && !failures) {
        struct pollfd pf = {pfd[0], POLLIN, 0};
        (void)poll(&pf, 1, 100); /* wakes on progress, or to run the watchdog */
        char buf[64];
        ssize_t got;
        while ((got = read(pfd[0], buf, sizeof buf)) > 0)
            batches += (uint64_t)got;
        /* Watchdog: every worker's current call. */
        uint64_t now = now_ns();
        for (uint32_t i = 0; i < HEADS; i++) {
            uint64_t cs = __atomic_load_n(&area->w[i].call_start_ns, __ATOMIC_ACQUIRE);
            if (cs && now > cs && now - cs > max_call_ns)
                max_call_ns = now - cs;
            if (cs && now > cs && now - cs > (uint64_t)limit_ms * 1000000ull) {
                fprintf(stderr, "head %u: %s has run for %llu ms (limit %u ms)\n", i,
                        call_names[area->w[i].call % C__COUNT],
                        (unsigned long long)((now - cs) / 1000000u), limit_ms);
                failures++;
            }
            clockid_t cid;
            uint64_t c0 = __atomic_load_n(&area->w[i].call_cpu_ns, __ATOMIC_RELAXED);
            if (cs && clock_getcpuclockid(pids[i], &cid) == 0) {
                uint64_t c1 = cpu_ns(cid);
                /* Still the same call (not a later one) and past the limit. */
                if (c1 > c0 && c1 - c0 > (uint64_t)cpu_limit_ms * 1000000ull &&
                    __atomic_load_n(&area->w[i].call_start_ns, __ATOMIC_ACQUIRE) == cs) {
                    fprintf(stderr, "head %u: %s has spent %llu ms of CPU time (limit %u ms)\n", i,
                            call_names[area->w[i].call % C__COUNT],
                            (unsigned long long)((c1 - c0) / 1000000u), cpu_limit_ms);
                    failures++;
                }
            }
        }
        /* Nobody dies unless killed here. */
        for (uint32_t i = 0; i < HEADS; i++) {
            int ws;
            pid_t r = waitpid(pids[i], &ws, WNOHANG);
            if (r == pids[i]) {
                char who[32];
                snprintf(who, sizeof who, "worker of head %u", i);
                describe_death(who, ws);
                failures++;
                pids[i] = spawn_worker(path, i, pfd, seed + 7777u * (batches + 1) + i);
            }
        }
        int ws;
        if (waitpid(scrib, &ws, WNOHANG) == scrib) {
            describe_death("scribbler", ws);
            failures++;
            scrib = 0;
            break;
        }
        if (batches >= (uint64_t)(kills + 1) * KILL_EVERY) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            uint32_t v = (uint32_t)(rng >> 33) % HEADS;
            kill(pids[v], SIGKILL);
            REQUIRE(waitpid(pids[v], &ws, 0) == pids[v]);
            if (!WIFSIGNALED(ws) || WTERMSIG(ws) != SIGKILL) {
                char who[32];
                snprintf(who, sizeof who, "worker of head %u", v);
                describe_death(who, ws);
                failures++;
            }
            kills++;
            __atomic_store_n(&area->w[v].call_start_ns, 0, __ATOMIC_RELEASE);
            pids[v] = spawn_worker(path, v, pfd, seed + 1000u * kills + v);
        }
    }

    /* Stop: workers finish their call and exit; the wait is bounded. */
    __atomic_store_n(&area->stop, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&area->scribbler_stop, 1, __ATOMIC_RELEASE);
    uint64_t stop_deadline = now_ns() + (uint64_t)limit_ms * 1000000ull;
    unsigned alive = HEADS + (scrib ? 1u : 0u);
    int done[HEADS + 1] = {0};
    while (alive && now_ns() < stop_deadline) {
        for (uint32_t i = 0; i <= HEADS; i++) {
            pid_t p = i < HEADS ? pids[i] : scrib;
            int ws;
            if (done[i] || !p || waitpid(p, &ws, WNOHANG) != p)
                continue;
            done[i] = 1;
            alive--;
            if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
                char who[32];
                if (i < HEADS)
                    snprintf(who, sizeof who, "worker of head %u", i);
                else
                    snprintf(who, sizeof who, "scribbler");
                describe_death(who, ws);
                failures++;
            }
        }
        struct pollfd pf = {pfd[0], POLLIN, 0};
        (void)poll(&pf, 1, 20);
        char buf[64];
        while (read(pfd[0], buf, sizeof buf) > 0)
            ;
    }
    for (uint32_t i = 0; i <= HEADS; i++) {
        pid_t p = i < HEADS ? pids[i] : scrib;
        if (done[i] || !p)
            continue;
        fprintf(stderr, "%s %u did not stop within %u ms (in %s)\n",
                i < HEADS ? "worker of head" : "scribbler", i, limit_ms,
                i < HEADS ? call_names[area->w[i].call % C__COUNT] : "-");
        kill(p, SIGKILL);
        waitpid(p, NULL, 0);
        failures++;
    }

    uint64_t calls = 0, undefined = 0;
    uint64_t hist[NSTAT] = {0};
    for (uint32_t i = 0; i < HEADS; i++) {
        calls += area->w[i].calls;
        undefined += area->w[i].undefined;
        for (uint32_t c = 0; c < C__COUNT; c++)
            for (uint32_t k = 0; k < NSTAT; k++)
                hist[k] += area->w[i].stat[c][k];
    }
    printf("cotenant stress: %u heads, %.1f s, %llu calls, %u SIGKILLs with recovery, "
           "%llu scribbles (%llu short glitches, %llu long ones), longest call seen %.1f ms\n",
           HEADS, (double)(now_ns() - t0) / 1e9, (unsigned long long)calls, kills,
           (unsigned long long)area->scribbles, (unsigned long long)area->glitches,
           (unsigned long long)area->permanent, (double)max_call_ns / 1e6);
    printf("statuses:");
    for (uint32_t k = 0; k < NSTAT; k++)
        if (hist[k])
            printf(" %s=%llu",
                   k < MHSLD_E__COUNT ? mhsld_status_name((mhsld_status)k) : "UNDEFINED",
                   (unsigned long long)hist[k]);
    printf("\n");
    for (uint32_t c = 1; c < C__COUNT; c++) {
        uint64_t tot = 0, ok = 0;
        for (uint32_t i = 0; i < HEADS; i++) {
            for (uint32_t k = 0; k < NSTAT; k++)
                tot += area->w[i].stat[c][k];
            ok += area->w[i].stat[c][MHSLD_OK];
        }
        printf("  %-20s %10llu calls, %10llu ok\n", call_names[c], (unsigned long long)tot,
               (unsigned long long)ok);
    }
    CHECK(failures == 0);
    CHECK(undefined == 0);
    CHECK(calls > 0);
    CHECK(area->scribbles > 0);
    mhsld_destroy(path, true);
    return tu_report("test_cotenant_procs");
}
