/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_cotenant: a co-tenant that writes to the shared state WHILE the
 * engine runs.
 *
 * The other targets change the shared state only between calls.  Here a
 * co-tenant with its own second mapping of the state file (mmap of the same
 * file again: the engine cannot tell it from another QEMU head) writes
 * input-chosen values to input-chosen fields of the state at input-chosen
 * atomic steps *inside* engine calls: the testing hook
 * mhsld_test_crash_at(k, fn, arg) runs fn just before the k-th atomic step;
 * here fn writes and returns (and re-arms itself for the next write), or
 * longjmps out to kill the head at that step.
 *
 * The input is a program on a small state (2..4 heads, an exclusive region of
 * 72 blocks across two occupancy words and a sharable one of 40): attach
 * (DROP/KEEP), detach, reserve, commit of a subset, release, shared add and
 * leave, release_all, recovery of a detached or killed head, validate,
 * access checks, queries (pending, extents, block info, shared list, head
 * info), mailbox commands, and writes between calls.  Each call may carry a
 * schedule of co-tenant events: a write of {field, head, index, value} or a
 * kill, each a number of atomic steps after the previous one.  Fields: every
 * journal field (op, n, nacc, slot, gslot, seq, group, undo, r[], acc[],
 * tag), pending groups (n, r[]), gseq[], jprog, the evidence slots ev[],
 * the head's seq, epoch and list generation, shared slots (word, start, count), occupancy pairs,
 * the blocks' shared bytes (one, or an aligned word of eight), owned maps, start maps, the header,
 * or any 8 bytes of the file.  Values: 0, ~0, 0x7fffffff, 0x80000000, the field's limit and its
 * neighbours (a count just above the maximum, an index just past the table), the block count, the
 * current value
 * +-1 or with a bit flipped, a plausible composite (shared byte naming a
 * slot, a run of map bits set, cleared or flipped, slot word, tag,
 * progress), or raw input.
 *
 * Oracle: every call returns a defined mhsld_status (a CXL return code for
 * the mailbox); no crash, no sanitizer report; no call spends more than
 * MHSLD_FUZZ_CALL_MS milliseconds of CPU time (default 5000) or
 * MHSLD_FUZZ_CALL_WALL_MS of wall-clock time (default 60000) (per-call timers
 * abort with the trace); the engine never touches memory outside its mapping: PROT_NONE
 * guard regions are placed on both sides of the engine's mapping (where the
 * address space is free) and around the co-tenant's own mapping, so an index
 * slightly out of range faults instead of landing in a neighbour.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "fuzz_data_producer.h"
#include "fuzz_helpers.h"
#include "fuzz_statefile.h"
#include "internal.h"
#include "mhsld/mailbox.h"
#include "mhsld/mhsld.h"
#include "mhsld/testing.h"

#define MAX_HEADS 4u
#define MAX_OPS 48u
#define MAX_EVENTS 6u
#define BS (2ull << 20)
#define R0_BLOCKS 72u /* exclusive region: blocks 0..71 (two occupancy words) */
#define R1_BLOCKS 40u /* sharable region after a 8-block gap: blocks 72..111 */
#define R1_BASE (80ull * BS)
#define GUARD (64ull << 20)
#define MAX_GROUPS 8u

/* ---- the co-tenant ------------------------------------------------------- */

enum field {
    F_J_OP,
    F_J_N,
    F_J_NACC,
    F_J_SLOT,
    F_J_GSLOT,
    F_J_SEQ,
    F_J_GROUP,
    F_J_UNDO,
    F_J_R_START,
    F_J_R_COUNT,
    F_J_ACC_START,
    F_J_ACC_COUNT,
    F_J_TAG,
    F_G_N,
    F_G_R_START,
    F_G_R_COUNT,
    F_GSEQ,
    F_JPROG,
    F_H_SEQ,
    F_H_EPOCH,
    F_H_LISTGEN,
    F_SLOT_WORD,
    F_SLOT_START,
    F_SLOT_COUNT,
    F_OCC_LO,
    F_OCC_HI,
    F_SSLOT, /* was the block word (layout 3): kept at its number for the corpus */
    F_OWNED,
    F_HDR,
    F_RAW,
    F_START,
    F_EV,
    F__COUNT
};

static const char *const field_names[F__COUNT] = {
    "j.op",     "j.n",        "j.nacc",        "j.slot",        "j.gslot",     "j.seq",
    "j.group",  "j.undo",     "j.r.start",     "j.r.count",     "j.acc.start", "j.acc.count",
    "j.tag",    "group.n",    "group.r.start", "group.r.count", "gseq",        "jprog",
    "head.seq", "head.epoch", "head.list_gen", "slot.word",     "slot.start",  "slot.count",
    "occ.lo",   "occ.hi",     "sslot",         "owned",         "header",      "raw",
    "start",    "ev",
};

typedef struct wspec {
    uint8_t field, head, vsel;
    uint32_t idx;
    uint64_t arg; /* raw value or operand, from the input */
} wspec;

typedef struct event {
    uint32_t delta; /* atomic steps after the previous event (>= 1) */
    uint8_t kill;   /* 1: longjmp out (the head dies at this step) */
    uint8_t touch;  /* 1: delta counts touches of the field's page, not steps */
    wspec w;
} event;

static struct {
    uint8_t *ct; /* the co-tenant's own mapping of the state file */
    size_t ct_len;
    const mhsld_state *st; /* the engine's state: layout and geometry only */
    uint32_t nh;
    event ev[MAX_EVENTS];
    uint32_t nev, cur;
    jmp_buf kill_jb;
    uint64_t writes;
} co;

static uint64_t limit_of(uint8_t f)
{
    uint64_t nb = co.st->nr_blocks;
    switch (f) {
    case F_J_OP:
        return MHSLD__OP__COUNT;
    case F_J_N:
    case F_J_UNDO:
        return MHSLD__JMAX;
    case F_J_NACC:
    case F_G_N:
        return MHSLD_MAX_EXTENTS;
    case F_J_SLOT:
        return MHSLD_MAX_SHARED;
    case F_J_GSLOT:
        return MHSLD_MAX_PENDING;
    case F_J_SEQ:
    case F_J_GROUP:
    case F_GSEQ:
    case F_H_SEQ:
        return MHSLD__SEQ_MASK;
    case F_JPROG:
        return mhsld__prog(MHSLD__SEQ_MASK, 0xffffff);
    case F_EV:
        return mhsld__tag(MHSLD_MAX_HEADS - 1, MHSLD__SEQ_MASK, 0xffffff);
    case F_OCC_LO:
        return 64;
    case F_SSLOT:
        return MHSLD_MAX_SHARED;
    default:
        return nb;
    }
}

/* Address and width of a field in the co-tenant's mapping. */
static uint8_t *field_addr(const wspec *w, unsigned *width)
{
    const mhsld__layout *lay = &co.st->lay;
    uint32_t head = w->head % co.nh;
    uint8_t *hrp = co.ct + lay->heads_off + (uint64_t)head * sizeof(mhsld__headrec);
    uint32_t i = w->idx;
    *width = 8;
    switch (w->field) {
    case F_J_OP:
        *width = 4;
        return hrp + offsetof(mhsld__headrec, j.op);
    case F_J_N:
        *width = 4;
        return hrp + offsetof(mhsld__headrec, j.n);
    case F_J_NACC:
        *width = 4;
        return hrp + offsetof(mhsld__headrec, j.nacc);
    case F_J_SLOT:
        *width = 4;
        return hrp + offsetof(mhsld__headrec, j.slot);
    case F_J_GSLOT:
        *width = 4;
        return hrp + offsetof(mhsld__headrec, j.gslot);
    case F_J_SEQ:
        return hrp + offsetof(mhsld__headrec, j.seq);
    case F_J_GROUP:
        return hrp + offsetof(mhsld__headrec, j.group);
    case F_J_UNDO:
        return hrp + offsetof(mhsld__headrec, j.undo);
    case F_J_R_START:
    case F_J_R_COUNT:
        return hrp + offsetof(mhsld__headrec, j.r) + (i % MHSLD__JMAX) * sizeof(mhsld__bext) +
               (w->field == F_J_R_COUNT ? 8 : 0);
    case F_J_ACC_START:
    case F_J_ACC_COUNT:
        return hrp + offsetof(mhsld__headrec, j.acc) +
               (i % MHSLD_MAX_EXTENTS) * sizeof(mhsld__bext) + (w->field == F_J_ACC_COUNT ? 8 : 0);
    case F_J_TAG:
        return hrp + offsetof(mhsld__headrec, j.tag) + (i % 2) * 8;
    case F_G_N:
        *width = 4;
        return hrp + offsetof(mhsld__headrec, groups) +
               (i % MHSLD_MAX_PENDING) * sizeof(mhsld__group);
    case F_G_R_START:
    case F_G_R_COUNT:
        return hrp + offsetof(mhsld__headrec, groups) +
               ((i >> 8) % MHSLD_MAX_PENDING) * sizeof(mhsld__group) + offsetof(mhsld__group, r) +
               ((i & 0xff) % MHSLD_MAX_EXTENTS) * sizeof(mhsld__bext) +
               (w->field == F_G_R_COUNT ? 8 : 0);
    case F_GSEQ:
        return hrp + offsetof(mhsld__headrec, gseq) + (i % MHSLD_MAX_PENDING) * 8;
    case F_JPROG:
        return hrp + offsetof(mhsld__headrec, jprog);
    case F_EV:
        return hrp + offsetof(mhsld__headrec, ev) + (i % MHSLD_MAX_HEADS) * 8;
    case F_H_SEQ:
        return hrp + offsetof(mhsld__headrec, seq);
    case F_H_EPOCH:
        return hrp + offsetof(mhsld__headrec, epoch);
    case F_H_LISTGEN:
        *width = 4;
        return hrp + offsetof(mhsld__headrec, list_gen);
    case F_SLOT_WORD:
    case F_SLOT_START:
    case F_SLOT_COUNT: {
        /* Mostly the first slots, where the engine puts its extents. */
        uint32_t s = (i & 0x80) ? i % MHSLD_MAX_SHARED : i % 4;
        return co.ct + lay->slots_off + (uint64_t)s * sizeof(mhsld__slot) +
               (w->field == F_SLOT_WORD    ? offsetof(mhsld__slot, word)
                : w->field == F_SLOT_START ? offsetof(mhsld__slot, start)
                                           : offsetof(mhsld__slot, count));
    }
    case F_OCC_LO:
    case F_OCC_HI:
        return co.ct + lay->occ_off + mhsld__occ_off(lay, i % lay->nr_words) +
               (w->field == F_OCC_HI ? 8 : 0);
    case F_SSLOT: /* idx bit 7: an aligned word of eight blocks' bytes; else one block's */
        if (i & 0x80)
            return co.ct + lay->sslot_off + ((i & 0x7f) % (lay->nr_words * 8)) * 8;
        *width = 1;
        return co.ct + lay->sslot_off + i % co.st->nr_blocks;
    case F_OWNED:
        return co.ct + lay->owned_off + ((uint64_t)head * lay->nr_words + i % lay->nr_words) * 8;
    case F_START:
        return co.ct + lay->starts_off + ((uint64_t)head * lay->nr_words + i % lay->nr_words) * 8;
    case F_HDR:
        return co.ct + (i % (sizeof(mhsld__hdr) / 8)) * 8;
    default: /* F_RAW */
        return co.ct + ((uint64_t)i * 8) % ((co.ct_len - 8) & ~7ull);
    }
}

/* A plausible value of the field's kind, from the operand. */
static uint64_t composite(const wspec *w, uint64_t cur)
{
    uint64_t a = w->arg;
    switch (w->field) {
    case F_SSLOT: {
        /* A byte naming one of the first slots (where the engine puts its
         * extents), or any byte; in a word: that byte in one block's place
         * or in all eight. */
        uint64_t b = (a & 0x80) ? a & 0xff : 1 + (a & 0x7f) % 4;
        if (!(w->idx & 0x80))
            return b;
        unsigned sh = (unsigned)((a >> 8) & 7) * 8;
        return (a >> 11) & 1 ? b * 0x0101010101010101ull : (cur & ~(0xffull << sh)) | b << sh;
    }
    case F_OWNED:
    case F_START: {
        /* A run of map bits set, cleared, flipped, or alone. */
        uint64_t off = a & 63, len = 1 + ((a >> 6) & 63);
        uint64_t m = len >= 64 ? ~0ull : ((1ull << len) - 1) << off;
        switch ((a >> 12) & 3) {
        case 0:
            return cur | m;
        case 1:
            return cur & ~m;
        case 2:
            return cur ^ m;
        default:
            return m;
        }
    }
    case F_SLOT_WORD:
        return mhsld__slotw((uint32_t)a & 0xf, (uint32_t)(a >> 4) & 3, (uint32_t)(a >> 6) % co.nh,
                            (a >> 8) & 0xff);
    case F_OCC_HI:
        return mhsld__tag((uint32_t)a % co.nh, (a >> 8) & 0xff, (a >> 16) & 0xff);
    case F_JPROG:
        return mhsld__prog(cur >> 24, a & 0xff);
    case F_EV: /* a head's tag: a sequence near the slot's, a small step */
        return mhsld__tag((uint32_t)a % co.nh, ((cur >> 24) & MHSLD__SEQ_MASK) + (a >> 8) % 3,
                          (a >> 16) & 0xff);
    default:
        return a & 0xff;
    }
}

static uint64_t value_of(const wspec *w, uint64_t cur, unsigned width)
{
    uint64_t lim = limit_of(w->field);
    uint64_t v;
    switch (w->vsel) {
    case 0:
        v = 0;
        break;
    case 1:
        v = ~0ull;
        break;
    case 2:
        v = 0x7fffffff;
        break;
    case 3:
        v = 0x80000000ull;
        break;
    case 4:
        v = lim;
        break;
    case 5:
        v = lim + 1;
        break;
    case 6:
        v = lim - 1;
        break;
    case 7:
        v = co.st->nr_blocks + (w->arg & 0xff);
        break;
    case 8:
        v = cur + 1;
        break;
    case 9:
        v = cur - 1;
        break;
    case 10:
        v = cur ^ (1ull << (w->arg & (width * 8 - 1)));
        break;
    case 11:
        v = composite(w, cur);
        break;
    default:
        v = w->arg;
        break;
    }
    return width == 1 ? (uint8_t)v : width == 4 ? (uint32_t)v : v;
}

static void cotenant_write(const wspec *w)
{
    unsigned width;
    uint8_t *p = field_addr(w, &width);
    if (width == 1) {
        uint8_t cur = __atomic_load_n(p, __ATOMIC_RELAXED);
        uint8_t v = (uint8_t)value_of(w, cur, 1);
        __atomic_store_n(p, v, __ATOMIC_RELAXED);
        fuzz_trace("    co-tenant: %s[head %u, idx %u] %#x -> %#x", field_names[w->field],
                   w->head % co.nh, w->idx, cur, v);
    } else if (width == 4) {
        uint32_t cur = __atomic_load_n((uint32_t *)(void *)p, __ATOMIC_RELAXED);
        uint32_t v = (uint32_t)value_of(w, cur, 4);
        __atomic_store_n((uint32_t *)(void *)p, v, __ATOMIC_RELAXED);
        fuzz_trace("    co-tenant: %s[head %u, idx %u] %#x -> %#x", field_names[w->field],
                   w->head % co.nh, w->idx, cur, v);
    } else {
        uint64_t cur = __atomic_load_n((uint64_t *)(void *)p, __ATOMIC_RELAXED);
        uint64_t v = value_of(w, cur, 8);
        __atomic_store_n((uint64_t *)(void *)p, v, __ATOMIC_RELAXED);
        fuzz_trace("    co-tenant: %s[head %u, idx %u] %#llx -> %#llx", field_names[w->field],
                   w->head % co.nh, w->idx, (unsigned long long)cur, (unsigned long long)v);
    }
    co.writes++;
}

/* ---- triggers -------------------------------------------------------------
 * A step event fires through the testing hook, just before the engine's k-th
 * atomic step.  A touch event fires just before the engine's k-th access to
 * the page of its field in the ENGINE's mapping: that page is made PROT_NONE;
 * each fault on it counts one touch, makes the page accessible again and
 * single-steps the faulting instruction (the x86 trap flag), after which
 * the page is protected again.  Touch events reach what steps cannot: the
 * reads between a check and a use that no atomic step separates (copying a
 * reservation, mhsld_validate, queries, access checks).  A fault anywhere
 * else is handed back to the previous handler (the sanitizer's report). */

#if defined(__x86_64__) && defined(__linux__)
#define HAVE_TOUCH 1
#include <ucontext.h>
#endif

static void arm_next(void);

static void fire(void)
{
    event *e = &co.ev[co.cur++];
    cotenant_write(&e->w);
    arm_next();
}

/* The step hook: the next scheduled event happens here, then re-arm. */
static void step_hook(void *arg)
{
    (void)arg;
    event *e = &co.ev[co.cur];
    if (e->kill) {
        co.cur++;
        mhsld_test_crash_at(0, NULL, NULL);
        fuzz_trace("    killed at this step");
        longjmp(co.kill_jb, 1);
    }
    fire();
}

#ifdef HAVE_TOUCH
static uint8_t *volatile touch_page; /* armed page of the engine's mapping, or NULL */
static volatile uint32_t touch_left;
static struct sigaction old_segv;
static int touch_handlers;
static uint64_t touches;

static void touch_protect(uint8_t *page, int prot)
{
    if (mprotect(page, 4096, prot) != 0)
        abort();
}

static void on_segv(int sig, siginfo_t *si, void *uc_)
{
    ucontext_t *uc = uc_;
    uint8_t *a = (uint8_t *)si->si_addr, *page = touch_page;
    if (!page || a < page || a >= page + 4096) {
        /* Not ours: the previous handler reports it when the access faults again. */
        sigaction(sig, &old_segv, NULL);
        return;
    }
    touches++;
    touch_protect(page, PROT_READ | PROT_WRITE);
    if (--touch_left == 0) {
        touch_page = NULL;
        fire(); /* may arm another page (even this one: the access then counts for it) */
    }
    uc->uc_mcontext.gregs[REG_EFL] |= 0x100; /* trap after this one instruction */
}

static void on_trap(int sig, siginfo_t *si, void *uc_)
{
    (void)sig;
    (void)si;
    ucontext_t *uc = uc_;
    uc->uc_mcontext.gregs[REG_EFL] &= ~(greg_t)0x100;
    if (touch_page)
        touch_protect(touch_page, PROT_NONE);
}

static void touch_arm(const event *e)
{
    if (!touch_handlers) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_trap;
        sa.sa_flags = SA_SIGINFO;
        sigemptyset(&sa.sa_mask);
        FUZZ_ASSERT(sigaction(SIGTRAP, &sa, NULL) == 0);
        touch_handlers = 1;
    }
    /* (Re)install the fault handler for this call, keeping whoever had it. */
    struct sigaction sa, cur;
    FUZZ_ASSERT(sigaction(SIGSEGV, NULL, &cur) == 0);
    if (cur.sa_sigaction != on_segv) {
        old_segv = cur;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_segv;
        sa.sa_flags = SA_SIGINFO | SA_NODEFER;
        sigemptyset(&sa.sa_mask);
        FUZZ_ASSERT(sigaction(SIGSEGV, &sa, NULL) == 0);
    }
    unsigned width;
    uint8_t *ct = field_addr(&e->w, &width);
    uint8_t *eng = co.st->base + (ct - co.ct);
    uint8_t *page = (uint8_t *)((uintptr_t)eng & ~(uintptr_t)4095);
    touch_left = e->delta;
    touch_page = page;
    touch_protect(page, PROT_NONE);
}

static void touch_disarm(void)
{
    uint8_t *page = touch_page;
    touch_page = NULL;
    if (page)
        touch_protect(page, PROT_READ | PROT_WRITE);
    if (touch_handlers) {
        struct sigaction cur;
        if (sigaction(SIGSEGV, NULL, &cur) == 0 && cur.sa_sigaction == on_segv)
            sigaction(SIGSEGV, &old_segv, NULL);
    }
}
#else
static void touch_disarm(void)
{
}
#endif

static void arm_next(void)
{
    if (co.cur >= co.nev)
        return;
    const event *e = &co.ev[co.cur];
#ifdef HAVE_TOUCH
    if (e->touch) {
        touch_arm(e);
        return;
    }
#endif
    mhsld_test_crash_at(e->delta, step_hook, NULL);
}

static void read_wspec(fuzz_dp *dp, wspec *w)
{
    w->field = (uint8_t)fuzz_dp_range(dp, 0, F__COUNT - 1);
    w->head = (uint8_t)fuzz_dp_range(dp, 0, MAX_HEADS - 1);
    w->idx = fuzz_dp_u8(dp);
    if (w->field == F_G_R_START || w->field == F_G_R_COUNT || w->field == F_RAW)
        w->idx |= (uint32_t)fuzz_dp_u8(dp) << 8;
    w->vsel = (uint8_t)fuzz_dp_range(dp, 0, 12);
    w->arg = w->vsel >= 11 ? fuzz_dp_u64(dp) : w->vsel == 7 || w->vsel == 10 ? fuzz_dp_u8(dp) : 0;
}

/* A call's schedule: up to MAX_EVENTS events, each: delta (steps or
 * touches), kind (0 kill, 1-2 touch write, 3-7 step write), the write;
 * kills only where `can_kill` (else a step write). */
static void read_schedule(fuzz_dp *dp, int can_kill)
{
    co.nev = fuzz_dp_range(dp, 0, MAX_EVENTS);
    co.cur = 0;
    for (uint32_t i = 0; i < co.nev; i++) {
        event *e = &co.ev[i];
        e->delta = fuzz_dp_range(dp, 1, 256);
        uint32_t kind = fuzz_dp_range(dp, 0, 7);
        e->kill = (uint8_t)(kind == 0 && can_kill);
        e->touch = (uint8_t)(kind == 1 || kind == 2);
        if (!e->kill)
            read_wspec(dp, &e->w);
        else
            memset(&e->w, 0, sizeof e->w);
    }
}

/* Start the call's schedule. */
static void arm_schedule(void)
{
    co.cur = 0;
    arm_next();
}

/* ---- bounded calls -------------------------------------------------------
 * Two timers per call: the CPU time the thread spends in it (a loop that
 * does not end: MHSLD_FUZZ_CALL_MS, default 5000) and the wall-clock time (a
 * wait that does not end: MHSLD_FUZZ_CALL_WALL_MS, default 60000).  CPU
 * time, not wall time, bounds the loops, so that a bounded wait that yields
 * the processor (mhsld_share_add's retries) is not mistaken for a hang on a
 * loaded machine. */

enum { T_CPU, T_WALL };
static timer_t call_timer[2];
static int call_timer_ok[2];
static long call_limit_ms[2] = {5000, 60000};
static const char *volatile call_name = "";

static void call_timeout(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    static const char m[] = "\nfuzz_cotenant: a call ran past its ";
    static const char cpu[] = "CPU time limit (MHSLD_FUZZ_CALL_MS): ";
    static const char wall[] = "wall-clock limit (MHSLD_FUZZ_CALL_WALL_MS): ";
    int which = si->si_value.sival_int;
    ssize_t r = write(2, m, sizeof m - 1);
    r = which == T_CPU ? write(2, cpu, sizeof cpu - 1) : write(2, wall, sizeof wall - 1);
    r = write(2, call_name, strlen(call_name));
    r = write(2, "\n", 1);
    (void)r;
    fuzz_trace_dump();
    abort();
}

static void timer_setup(void)
{
    const char *v = getenv("MHSLD_FUZZ_CALL_MS");
    if (v && *v)
        call_limit_ms[T_CPU] = strtol(v, NULL, 10);
    v = getenv("MHSLD_FUZZ_CALL_WALL_MS");
    if (v && *v)
        call_limit_ms[T_WALL] = strtol(v, NULL, 10);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = call_timeout;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    FUZZ_ASSERT(sigaction(SIGRTMIN + 4, &sa, NULL) == 0);
    for (int i = 0; i < 2; i++) {
        struct sigevent sev;
        memset(&sev, 0, sizeof sev);
        sev.sigev_notify = SIGEV_THREAD_ID; /* this thread: its trace is printed */
        sev.sigev_signo = SIGRTMIN + 4;
        sev.sigev_value.sival_int = i;
        sev._sigev_un._tid = gettid();
        call_timer_ok[i] = timer_create(i == T_CPU ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC,
                                        &sev, &call_timer[i]) == 0;
    }
}

static void call_begin(const char *name)
{
    call_name = name;
    for (int i = 0; i < 2; i++) {
        if (!call_timer_ok[i] || call_limit_ms[i] <= 0)
            continue;
        struct itimerspec its = {{0, 0},
                                 {call_limit_ms[i] / 1000, (call_limit_ms[i] % 1000) * 1000000}};
        timer_settime(call_timer[i], 0, &its, NULL);
    }
}

static void touch_disarm(void);

static void call_end(void)
{
    mhsld_test_crash_at(0, NULL, NULL);
    touch_disarm();
    for (int i = 0; i < 2; i++) {
        if (!call_timer_ok[i])
            continue;
        struct itimerspec its;
        memset(&its, 0, sizeof its);
        timer_settime(call_timer[i], 0, &its, NULL);
    }
}

static void check_status(const char *what, mhsld_status s)
{
    fuzz_trace("  %s -> %s", what, mhsld_status_name(s));
    FUZZ_ASSERT_MSG((unsigned)s < (unsigned)MHSLD_E__COUNT, "%s returned %d, not an mhsld_status",
                    what, (int)s);
}

/* ---- guard regions ------------------------------------------------------- */

static unsigned long guards_placed, guards_missed;

/* PROT_NONE right below and right above [p, p+len) where nothing is mapped;
 * returns the guards to remove later.  `upper` is the guard prepare_hole()
 * left above the hole it prepared for the engine's mapping (used when the
 * mapping landed there). */
static void guard_around(void *p, size_t len, void *upper, void *out[2], size_t out_len[2])
{
    uint8_t *lo = (uint8_t *)p, *hi = (uint8_t *)p + ((len + 4095) & ~(size_t)4095);
    out[0] = out[1] = NULL;
    out_len[0] = out_len[1] = 0;
    if ((uint8_t *)upper == hi) {
        out[1] = upper;
        out_len[1] = GUARD;
    } else {
        munmap(upper, GUARD);
    }
    for (int side = 0; side < 2; side++) {
        if (out[side]) {
            guards_placed++;
            continue;
        }
        out[side] = NULL;
        out_len[side] = 0;
        for (size_t g = GUARD; g >= 4096; g >>= 2) {
            uint8_t *at = side == 0 ? lo - g : hi;
            void *r =
                mmap(at, g, PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
            if (r == MAP_FAILED)
                continue;
            if (r != at) { /* an old kernel ignoring the flag */
                munmap(r, g);
                continue;
            }
            out[side] = r;
            out_len[side] = g;
            break;
        }
        if (out[side])
            guards_placed++;
        else
            guards_missed++;
    }
}

/* Make room around the engine's coming mmap(NULL, len).  mmap allocates
 * top-down, in the highest gap that fits: reserve len + GUARD, free its lower
 * len bytes (the hole), then fill every higher gap that could take len with
 * probes until a probe lands in the hole (and free that one).  The probes
 * are freed once the engine has mapped (unprobe): wherever the mapping
 * landed, its neighbours are then usually free for guard_around(). */
#define MAX_PROBES 64
static void *probes[MAX_PROBES];
static unsigned nprobes;

static void *prepare_hole(size_t len)
{
    len = (len + 4095) & ~(size_t)4095;
    uint8_t *r =
        mmap(NULL, len + GUARD, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    FUZZ_ASSERT(r != MAP_FAILED);
    munmap(r, len);
    nprobes = 0;
    while (nprobes < MAX_PROBES) {
        void *q = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        FUZZ_ASSERT(q != MAP_FAILED);
        if (q == r) {
            munmap(q, len);
            break;
        }
        probes[nprobes++] = q;
    }
    return r + len;
}

static void unprobe(size_t len)
{
    len = (len + 4095) & ~(size_t)4095;
    for (unsigned i = 0; i < nprobes; i++)
        munmap(probes[i], len);
    nprobes = 0;
}

/* The co-tenant's mapping, inside a reservation so that its own neighbours
 * are guards as well. */
static uint8_t *map_cotenant(int fd, size_t len, void **res, size_t *res_len)
{
    size_t span = ((len + 4095) & ~(size_t)4095) + 2 * GUARD;
    uint8_t *r = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    FUZZ_ASSERT(r != MAP_FAILED);
    void *m = mmap(r + GUARD, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
    FUZZ_ASSERT_MSG(m == r + GUARD, "co-tenant mmap: %s", strerror(errno));
    *res = r;
    *res_len = span;
    return m;
}

/* ---- the program --------------------------------------------------------- */

enum op {
    OP_ATTACH,
    OP_DETACH,
    OP_RESERVE,
    OP_COMMIT,
    OP_RELEASE,
    OP_SHARE_ADD,
    OP_SHARE_RELEASE,
    OP_RELEASE_ALL,
    OP_RECOVER,
    OP_VALIDATE,
    OP_ACCESS,
    OP_QUERY,
    OP_MAILBOX,
    OP_SCRIBBLE,
    OP__COUNT
};

typedef struct prog {
    mhsld_state *st;
    mhsld_head *h[MAX_HEADS];
    uint64_t groups[MAX_HEADS][MAX_GROUPS];
    uint32_t ngroups[MAX_HEADS];
} prog;

static mhsld_extent read_extent(fuzz_dp *dp, int sharable)
{
    uint32_t region = sharable ? 1 : fuzz_dp_range(dp, 0, 1);
    uint32_t nb = region ? R1_BLOCKS : R0_BLOCKS;
    uint64_t base = region ? R1_BASE : 0;
    uint32_t start = fuzz_dp_range(dp, 0, nb - 1);
    uint32_t len = fuzz_dp_range(dp, 1, 16);
    if (start + len > nb)
        len = nb - start;
    mhsld_extent x = {base + start * BS, (uint64_t)len * BS};
    return x;
}

static uint32_t read_extents(fuzz_dp *dp, mhsld_extent *ext, uint32_t max)
{
    uint32_t n = fuzz_dp_range(dp, 1, max);
    for (uint32_t i = 0; i < n; i++)
        ext[i] = read_extent(dp, 0);
    return n;
}

/* The head's k-th extent of a kind, if it has one. */
static int nth_extent(prog *p, uint32_t head, uint32_t kind, uint32_t k, mhsld_extent *x)
{
    mhsld_extent ext[16];
    size_t ret = 0, total = 0;
    if (mhsld_extents_get(p->st, head, kind, 0, ext, NULL, 16, &ret, &total, NULL) != MHSLD_OK ||
        ret == 0)
        return 0;
    *x = ext[k % ret];
    return 1;
}

static void remember_group(prog *p, uint32_t head, uint64_t g)
{
    p->groups[head][p->ngroups[head] % MAX_GROUPS] = g;
    p->ngroups[head]++;
}

static void query_all(prog *p, uint32_t head, uint32_t sel)
{
    mhsld_status s;
    mhsld_head_info hi;
    s = mhsld_head_info_get(p->st, head, &hi);
    check_status("head_info_get", s);
    for (uint32_t kind = 0; kind < 4; kind++) {
        mhsld_extent ext[8];
        uint8_t tags[8][MHSLD_TAG_SIZE];
        size_t ret = 0, total = 0;
        uint32_t gen = 0;
        s = mhsld_extents_get(p->st, head, kind, sel % 3, ext, tags, 8, &ret, &total, &gen);
        check_status("extents_get", s);
        if (s == MHSLD_OK)
            FUZZ_ASSERT(ret <= 8);
    }
    mhsld_shared_info si[4];
    size_t n = 0, total = 0;
    s = mhsld_shared_list(p->st, si, 4, &n, &total);
    check_status("shared_list", s);
    if (s == MHSLD_OK)
        FUZZ_ASSERT(n <= 4);
    uint64_t nb = mhsld_block_count(p->st);
    for (uint64_t b = sel % 8; b < nb; b += 7) {
        mhsld_block_info bi;
        check_status("block_info_get", mhsld_block_info_get(p->st, b, &bi));
    }
    if (p->h[head]) {
        uint64_t groups[MHSLD_MAX_PENDING];
        size_t ng = 0;
        s = mhsld_pending_list(p->h[head], groups, MHSLD_MAX_PENDING, &ng);
        check_status("pending_list", s);
        uint64_t oldest;
        check_status("pending_oldest", mhsld_pending_oldest(p->h[head], &oldest));
        for (size_t i = 0; s == MHSLD_OK && i < ng && i < MHSLD_MAX_PENDING; i++) {
            mhsld_extent ext[MHSLD_MAX_EXTENTS];
            size_t m = 0;
            mhsld_status ps = mhsld_pending_get(p->h[head], groups[i], ext, MHSLD_MAX_EXTENTS, &m);
            check_status("pending_get", ps);
        }
    }
}

static const uint16_t mbox_ops[] = {
    MHSLD_MBOX_OP_GET_DC_CONFIG,         MHSLD_MBOX_OP_GET_DC_EXTENT_LIST,
    MHSLD_MBOX_OP_ADD_DC_RESPONSE,       MHSLD_MBOX_OP_RELEASE_DC,
    MHSLD_MBOX_OP_GET_MHD_INFO,          MHSLD_MBOX_OP_GET_HEAD_INFO,
    MHSLD_MBOX_OP_GET_DCD_INFO,          MHSLD_MBOX_OP_GET_HOST_DC_REGION_CONFIG,
    MHSLD_MBOX_OP_GET_DC_REGION_EXTENTS, MHSLD_MBOX_OP_INITIATE_DC_ADD,
    MHSLD_MBOX_OP_INITIATE_DC_RELEASE,
};

/* One operation.  Returns 0 when the input is used up. */
static int step(prog *p, fuzz_dp *dp, uint32_t nr)
{
    if (fuzz_dp_empty(dp))
        return 0;
    uint32_t op = fuzz_dp_range(dp, 0, OP__COUNT - 1);
    uint32_t head = fuzz_dp_range(dp, 0, co.nh - 1);
    mhsld_head *h = p->h[head];
    mhsld_status s = MHSLD_OK;
    /* Calls through an attached handle may be killed mid-way; attach and
     * recover are not (a longjmp out of them would lose their handle and
     * lock, which a dying process would not), nor is a mailbox command (it
     * may act on another head's handle: the FM API). */
    int can_kill =
        h != NULL && (op == OP_RESERVE || op == OP_COMMIT || op == OP_RELEASE ||
                      op == OP_SHARE_ADD || op == OP_SHARE_RELEASE || op == OP_RELEASE_ALL);
    switch (op) {
    case OP_ATTACH: {
        uint32_t flags = fuzz_dp_range(dp, 0, 1) ? MHSLD_ATTACH_KEEP : MHSLD_ATTACH_DROP;
        read_schedule(dp, 0);
        fuzz_trace("#%u attach head %u %s (%u events)", nr, head, flags ? "KEEP" : "DROP", co.nev);
        if (h) {
            fuzz_trace("  (detach the old handle first)");
            mhsld_detach(h);
            p->h[head] = NULL;
        }
        mhsld_head *nh = NULL;
        call_begin("mhsld_attach");
        arm_schedule();
        s = mhsld_attach(p->st, head, flags, &nh);
        call_end();
        check_status("attach", s);
        if (s == MHSLD_OK)
            p->h[head] = nh;
        else
            FUZZ_ASSERT(nh == NULL);
        return 1;
    }
    case OP_DETACH:
        fuzz_trace("#%u detach head %u", nr, head);
        mhsld_detach(h);
        p->h[head] = NULL;
        return 1;
    case OP_RECOVER: {
        uint32_t flags = fuzz_dp_range(dp, 0, 3);
        read_schedule(dp, 0);
        fuzz_trace("#%u recover head %u flags %#x (%u events)", nr, head, flags, co.nev);
        mhsld_recover_report rep;
        memset(&rep, 0, sizeof rep);
        call_begin("mhsld_recover");
        arm_schedule();
        s = mhsld_recover(p->st, head, flags, &rep);
        call_end();
        check_status("recover", s);
        return 1;
    }
    case OP_VALIDATE: {
        char msg[256];
        read_schedule(dp, 0);
        fuzz_trace("#%u validate (%u events)", nr, co.nev);
        call_begin("mhsld_validate");
        arm_schedule();
        s = mhsld_validate(p->st, msg, sizeof msg);
        call_end();
        FUZZ_ASSERT(memchr(msg, '\0', sizeof msg) != NULL);
        fuzz_trace("  (%s)", msg);
        check_status("validate", s);
        return 1;
    }
    case OP_ACCESS: {
        mhsld_extent x = read_extent(dp, 0);
        uint32_t off = fuzz_dp_u8(dp);
        read_schedule(dp, 0);
        fuzz_trace("#%u access head %u %#llx+%#llx (%u events)", nr, head,
                   (unsigned long long)x.dpa + off, (unsigned long long)x.len, co.nev);
        call_begin("mhsld_access_ok");
        arm_schedule();
        bool a = mhsld_access_ok(h, x.dpa + off, x.len);
        bool b = mhsld_access_check(p->st, head, x.dpa + off, x.len);
        call_end();
        fuzz_trace("  -> %d %d", a, b);
        return 1;
    }
    case OP_QUERY: {
        uint32_t sel = fuzz_dp_u8(dp);
        read_schedule(dp, 0);
        fuzz_trace("#%u queries head %u (%u events)", nr, head, co.nev);
        call_begin("queries");
        arm_schedule();
        query_all(p, head, sel);
        call_end();
        return 1;
    }
    case OP_SCRIBBLE: {
        wspec w;
        read_wspec(dp, &w);
        fuzz_trace("#%u co-tenant write between calls", nr);
        cotenant_write(&w);
        return 1;
    }
    default:
        break;
    }

    /* Operations through a handle: arguments first, then the schedule. */
    mhsld_extent ext[MHSLD_MAX_EXTENTS];
    uint32_t n = 0;
    uint64_t group = 0;
    uint8_t tag[MHSLD_TAG_SIZE] = {0x5a};
    uint16_t opcode = 0;
    uint8_t payload[96];
    size_t plen = 0;
    switch (op) {
    case OP_RESERVE:
        n = read_extents(dp, ext, 4);
        break;
    case OP_COMMIT: {
        uint32_t which = fuzz_dp_u8(dp);
        uint32_t mask = fuzz_dp_u8(dp);
        if (p->ngroups[head] && which < 0xf0)
            group = p->groups[head][which % (p->ngroups[head] < MAX_GROUPS ? p->ngroups[head]
                                                                           : MAX_GROUPS)];
        else if (h)
            (void)mhsld_pending_oldest(h, &group);
        mhsld_extent pe[MHSLD_MAX_EXTENTS];
        size_t pn = 0;
        if (h && mhsld_pending_get(h, group, pe, MHSLD_MAX_EXTENTS, &pn) == MHSLD_OK)
            for (size_t i = 0; i < pn && i < 8; i++)
                if (mask >> i & 1)
                    ext[n++] = pe[i];
        break;
    }
    case OP_RELEASE:
        if (fuzz_dp_range(dp, 0, 1)) {
            n = (uint32_t)nth_extent(p, head, MHSLD_EXT_OWNED, fuzz_dp_u8(dp), &ext[0]);
            if (!n)
                ext[n++] = read_extent(dp, 0);
        } else {
            n = read_extents(dp, ext, 3);
        }
        break;
    case OP_SHARE_ADD:
        ext[0] = read_extent(dp, 1);
        n = 1;
        tag[1] = (uint8_t)fuzz_dp_range(dp, 0, 1);
        break;
    case OP_SHARE_RELEASE:
        if (!nth_extent(p, head, MHSLD_EXT_SHARED, fuzz_dp_u8(dp), &ext[0]))
            ext[0] = read_extent(dp, 1);
        n = 1;
        break;
    case OP_MAILBOX:
        opcode = mbox_ops[fuzz_dp_range(dp, 0, sizeof mbox_ops / sizeof mbox_ops[0] - 1)];
        plen = fuzz_dp_range(dp, 0, sizeof payload);
        fuzz_dp_bytes(dp, payload, plen);
        break;
    default:
        break;
    }
    read_schedule(dp, can_kill);
    fuzz_trace("#%u op %u head %u%s: %u extents, first %#llx+%#llx, group %#llx, opcode %#x "
               "(%u events)",
               nr, op, head, h ? "" : " (not attached)", n,
               (unsigned long long)(n ? ext[0].dpa : 0), (unsigned long long)(n ? ext[0].len : 0),
               (unsigned long long)group, opcode, co.nev);
    if (!h && op != OP_MAILBOX) {
        /* A NULL handle is refused. */
        mhsld_status want = MHSLD_E_INVAL;
        switch (op) {
        case OP_RESERVE:
            s = mhsld_reserve(NULL, ext, n, &group, NULL);
            break;
        case OP_RELEASE_ALL:
            s = mhsld_release_all(NULL, NULL);
            break;
        default:
            s = want;
            break;
        }
        FUZZ_ASSERT(s == want);
        return 1;
    }
    if (setjmp(co.kill_jb) != 0) {
        call_end();
        fuzz_trace("  head %u killed mid-call; its journal stays", head);
        mhsld_test_abandon(p->h[head]);
        p->h[head] = NULL;
        return 1;
    }
    mhsld_conflict cf;
    call_begin("operation");
    arm_schedule();
    switch (op) {
    case OP_RESERVE:
        call_name = "mhsld_reserve";
        s = mhsld_reserve(h, ext, n, &group, &cf);
        if (s == MHSLD_OK)
            remember_group(p, head, group);
        break;
    case OP_COMMIT:
        call_name = "mhsld_commit";
        s = mhsld_commit(h, group, ext, n);
        break;
    case OP_RELEASE:
        call_name = "mhsld_release";
        s = mhsld_release(h, ext, n, &cf);
        break;
    case OP_SHARE_ADD:
        call_name = "mhsld_share_add";
        s = mhsld_share_add(h, &ext[0], tag, &cf);
        break;
    case OP_SHARE_RELEASE:
        call_name = "mhsld_share_release";
        s = mhsld_share_release(h, &ext[0]);
        break;
    case OP_RELEASE_ALL: {
        uint64_t freed = 0;
        call_name = "mhsld_release_all";
        s = mhsld_release_all(h, &freed);
        break;
    }
    case OP_MAILBOX: {
        mhsld_mbox_ctx ctx;
        mhsld_mbox_ctx_init(&ctx, p->st, h);
        for (uint32_t i = 0; i < co.nh; i++)
            ctx.heads[i] = p->h[i];
        uint8_t out[1024];
        size_t out_len = 0;
        call_name = "mhsld_mbox_execute";
        int rc = mhsld_mbox_execute(&ctx, opcode, plen ? payload : NULL, plen, out, sizeof out,
                                    &out_len);
        call_end();
        fuzz_trace("  -> CXL rc %#x, %zu bytes", rc, out_len);
        FUZZ_ASSERT(out_len <= sizeof out);
        FUZZ_ASSERT_MSG(rc >= 0 && rc <= 0xff, "mailbox returned %d", rc);
        return 1;
    }
    default:
        break;
    }
    call_end();
    check_status(call_name, s);
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Sanitizer builds: print the program so far when a sanitizer reports. */
void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int once;
    if (!once) {
        once = 1;
        timer_setup();
        if (__sanitizer_set_death_callback)
            __sanitizer_set_death_callback(fuzz_trace_dump);
    }
    fuzz_dp dp;
    fuzz_dp_init(&dp, data, size);
    fuzz_trace_reset();

    uint32_t nh = fuzz_dp_range(&dp, 2, MAX_HEADS);
    mhsld_geometry g;
    mhsld_geometry_init(&g, nh, BS, 0, (uint64_t)R0_BLOCKS * BS);
    g.nr_regions = 2;
    g.regions[1].base = R1_BASE;
    g.regions[1].len = (uint64_t)R1_BLOCKS * BS;
    g.regions[1].flags = MHSLD_REGION_SHARABLE;
    g.regions[1].dsmad_handle = 1;
    FUZZ_ASSERT(mhsld_geometry_check(&g) == MHSLD_OK);

    fuzz_statefile sf;
    fuzz_statefile_create(&sf, NULL, 0);
    prog p;
    memset(&p, 0, sizeof p);
    size_t state_len = (size_t)mhsld_state_size(&g);
    void *upper = prepare_hole(state_len);
    mhsld_status s = fuzz_state_open(&sf, MHSLD_OPEN_CREATE, &g, &p.st);
    unprobe(state_len);
    FUZZ_ASSERT_MSG(s == MHSLD_OK, "create: %s", mhsld_status_name(s));
    void *eg[2], *cres;
    size_t eg_len[2], cres_len;
    guard_around(p.st->base, p.st->map_len, upper, eg, eg_len);
    memset(&co, 0, sizeof co);
    co.st = p.st;
    co.nh = nh;
    co.ct_len = fuzz_statefile_size(&sf);
    co.ct = map_cotenant(sf.fd, co.ct_len, &cres, &cres_len);
    fuzz_trace("state: %u heads, %llu blocks, %zu bytes; guard below the engine's mapping %zu KiB, "
               "above %zu KiB",
               nh, (unsigned long long)p.st->nr_blocks, co.ct_len, eg_len[0] >> 10,
               eg_len[1] >> 10);

    /* Heads 0 and 1 start attached; the program does the rest. */
    for (uint32_t i = 0; i < 2; i++)
        FUZZ_ASSERT(mhsld_attach(p.st, i, MHSLD_ATTACH_DROP, &p.h[i]) == MHSLD_OK);
    for (uint32_t i = 0; i < MAX_OPS && step(&p, &dp, i); i++)
        ;
    for (uint32_t i = 0; i < MAX_HEADS; i++)
        mhsld_detach(p.h[i]);
    if (getenv("MHSLD_FUZZ_VERBOSE"))
        fuzz_trace_dump();
    mhsld_close(p.st);
    munmap(cres, cres_len);
    for (int i = 0; i < 2; i++)
        if (eg[i])
            munmap(eg[i], eg_len[i]);
    fuzz_statefile_destroy(&sf);
    return 0;
}
