/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * libmhsld internals: the shared-state layout and the helpers shared by the
 * engine's source files.  Nothing here is public API.
 *
 * Shared state, in order (offsets are computed from the validated geometry,
 * never read from the file):
 *
 *   header        4 KiB: magic, version, byte-order mark, sizes, init word,
 *                 checksum, the geometry in wire form
 *   head table    one mhsld__headrec per head: incarnation, pid, operation
 *                 sequence, list generation, intent journal, pending
 *                 reservations
 *   shared slots  MHSLD_MAX_SHARED shared-extent descriptors
 *   occupancy     one 16-byte pair per 64 blocks: {bit per block, tag of the
 *                 last compare-and-swap}
 *   owned maps    per head, one bit per block, set exactly while the block
 *                 is OWNED by that head (written only by whoever acts as the
 *                 head, after its claim and before its give-back)
 *   start maps    per head, one bit per block: the first block of an
 *                 extent the head owns (written with the owned map, and
 *                 by a give-back at the owned block right after it)
 *   shared bytes  one byte per block: 0, or 1 + the shared slot whose
 *                 extent holds the block (written by the slot's creator
 *                 after its claim, cleared by its retirer before the
 *                 give-back)
 *   FM queues     per head, one mhsld__fmq: a doorbell line and
 *                 MHSLD_FMQ_SLOTS request slots (fmq.c, docs/fm-queue.md)
 */
#ifndef MHSLD_INTERNAL_H
#define MHSLD_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "atomics.h"
#include "mhsld/fm.h"
#include "mhsld/mhsld.h"

#define MHSLD__MAGIC 0x0031545344534c48ull /* "HLSDST1\0" little-endian: bytes H L S D S T 1 */
#define MHSLD__VERSION                                                                             \
    6u /* 2: owned maps; 3: FM queues; 4: no block words; 5: padded small maps; 6: evidence        \
          slots instead of help (issue 15) */
#define MHSLD__BOM 0x01020304u
#define MHSLD__HDR_SIZE 4096u
#define MHSLD__INIT_NONE 0u
#define MHSLD__INIT_BUSY 1u
#define MHSLD__INIT_READY 2u

/* Byte offsets of the kernel file locks (beyond any data; OFD locks do not
 * need the bytes to exist). */
#define MHSLD__LOCK_BASE (1ll << 40)
#define MHSLD__LOCK_INIT (MHSLD__LOCK_BASE + 4096)
/* One byte per head held by whoever acts as that head from outside its own
 * handle: attach's recovery of the previous incarnation and every
 * mhsld_recover(), FORCE included.  The liveness lock cannot serve: FORCE
 * acts on a head whose liveness lock is held, which may be another
 * recoverer's, not a live head's. */
#define MHSLD__LOCK_ACTOR (MHSLD__LOCK_BASE + 64)
/* One byte per FM queue slot (head * MHSLD_FMQ_SLOTS + slot), held by the
 * poster that owns the slot for as long as it does (fmq.c): an owned slot
 * whose byte nobody holds was left by a dead poster. */
#define MHSLD__LOCK_FMQ (MHSLD__LOCK_BASE + 8192)
/* Two more bytes per FM queue slot ((head * MHSLD_FMQ_SLOTS + slot) * 2 +
 * generation parity), the one of its generation held by the poster of a
 * request from before it is POSTED until the poster lets the slot go: what
 * tells take whether a POSTED request's poster lives.  The slot's byte
 * cannot, since a new poster holds it while it reclaims a dead poster's
 * slot (fmq.c). */
#define MHSLD__LOCK_FMQ_POST (MHSLD__LOCK_BASE + 12288)

/* ---- block state ----------------------------------------------------------
 * There is no word per block.  A block is held exactly while its occupancy
 * bit is set, and then it is
 *   OWNED by head h    while h's owned-map bit is set,
 *   SHARED in slot i   while its shared byte is i + 1,
 *   PENDING for h      while it lies in one of h's pending reservations,
 * or in passage between two of these inside one operation (a claim's blocks
 * before their map bits are written, a give-back's after they are cleared).
 * Its generation is the (head, sequence) of the last compare-and-swap of its
 * occupancy pair (the tag's upper bits): every transition of the block
 * changes it (a commit, which moves no occupancy bit, rewrites the tag
 * alone), and no (head, sequence) is ever used twice.
 * Sequences: 34 bits per head. */
#define MHSLD__SEQ_BITS 34
#define MHSLD__SEQ_MASK ((1ull << MHSLD__SEQ_BITS) - 1)

/* What holds a block now, derived from the maps: state (mhsld_block_state),
 * owner (a head, MHSLD_OWNER_SHARED or MHSLD_OWNER_NONE), slot (SHARED),
 * first block of an owned extent, generation.  Each map is loaded once; the
 * answer is not one atomic look across the maps (a tool's view). */
typedef struct mhsld__look {
    uint32_t state;
    uint32_t owner;
    uint32_t slot;
    uint32_t start;
    uint64_t gen;
} mhsld__look;
void mhsld__block_look(const mhsld_state *st, uint64_t b, mhsld__look *out);
/* The same without `start` (left 0) for an OWNED block: a conflict report
 * or a transient test needs no start map, which on a conflict is a line the
 * owner keeps writing (issue 15's two-process rows). */
void mhsld__block_look_nostart(const mhsld_state *st, uint64_t b, mhsld__look *out);

/* ---- occupancy pair ------------------------------------------------------
 * lo: one bit per block of the 64-block group, set = held by someone.
 * hi: tag of the compare-and-swap that last changed lo:
 *     (head + 1) << 58 | (sequence & SEQ_MASK) << 24 | step index.
 * The tag lets recovery tell whether a dead head's last compare-and-swap
 * happened (see the essay in proto.c). */
static inline uint64_t mhsld__tag(uint32_t head, uint64_t seq, uint64_t idx)
{
    return ((uint64_t)(head + 1u) << 58) | ((seq & MHSLD__SEQ_MASK) << 24) | (idx & 0xffffffull);
}
/* The step index of a commit's tag rewrite: no operation has this many
 * steps (MHSLD_MAX_BLOCKS / 64 < 2^23), so no progress scan matches it. */
#define MHSLD__TAG_COMMIT 0xffffffull
static inline uint64_t mhsld__prog(uint64_t seq, uint64_t idx)
{
    return ((seq & MHSLD__SEQ_MASK) << 24) | (idx & 0xffffffull);
}

/* ---- shared slot word ----------------------------------------------------
 * bits  0..31  sharers (bit per head)
 * bits 32..33  slot state
 * bits 34..38  head that created or retires it
 * bit  39      the fabric manager holds a reference (Dynamic Capacity Add
 *              Reference, 5606h): an ACTIVE slot keeps its blocks while it
 *              is set, with no sharer left (bit 39 was the top bit of a
 *              6-bit head field that never held a head >= 32, so states
 *              written before it existed read "no reference")
 * bits 40..63  low 24 bits of that head's operation sequence
 * The reference is in the word, not beside it, so that the last sharer's
 * leave (which retires the slot) and the FM's Add Reference are ordered by
 * one CAS: either the leave sees the reference and keeps the blocks, or the
 * Add Reference finds the slot retiring or free. */
#define MHSLD__SLOT_FREE 0u
#define MHSLD__SLOT_CREATING 1u
#define MHSLD__SLOT_ACTIVE 2u
#define MHSLD__SLOT_RETIRING 3u
#define MHSLD__SLOT_FMREF (1ull << 39)
static inline uint64_t mhsld__slotw(uint32_t sharers, uint32_t st, uint32_t head, uint64_t seq)
{
    return (uint64_t)sharers | ((uint64_t)st << 32) | ((uint64_t)(head & 31u) << 34) |
           ((seq & 0xffffffull) << 40);
}
static inline int mhsld__slot_fmref(uint64_t w)
{
    return (w & MHSLD__SLOT_FMREF) != 0;
}
static inline uint32_t mhsld__slot_sharers(uint64_t w)
{
    return (uint32_t)w;
}
static inline uint32_t mhsld__slot_state(uint64_t w)
{
    return (uint32_t)((w >> 32) & 3u);
}
static inline uint32_t mhsld__slot_head(uint64_t w)
{
    return (uint32_t)((w >> 34) & 31u);
}
static inline uint64_t mhsld__slot_seq(uint64_t w)
{
    return w >> 40;
}

/* ---- baton and outside-action word (fmforce.c) ---------------------------
 * Two words per head record keep the head's own operations and an outside
 * actor's (a forced release, a FORCE recovery) apart, Dekker style: each
 * side publishes itself in its own word, then looks at the other's.
 *
 * baton, written only by the head's handle, with plain stores:
 * bit  0     HEAD: the handle is inside one of its operations (or is about
 *            to look at actw to decide whether it may be)
 * bit  1     FENCED: this incarnation's handle publishes HEAD with a full
 *            barrier (its process could not register for membarrier, or a
 *            ThreadSanitizer build), so an outsider needs no barrier of its
 *            own to see it
 * bits 2..63 zero; any other value is damage (an outsider waits as for HEAD)
 *
 * actw, written only under the head's actor lock, by compare-and-swap (and
 * the outsider's final store):
 * bit  0     ACTIVE: an outsider is acting as the head, or is about to
 * bits 1..63 count of completed outside actions: the head's handle expects
 *            the value it last saw (h->act) and resynchronises what it
 *            keeps privately (its sequence) when the count moved on
 * Both were padding in states written before they existed: zero, FREE and
 * no outside action counted. */
#define MHSLD__BATON_FREE 0ull
#define MHSLD__BATON_HEAD 1ull
#define MHSLD__BATON_FENCED 2ull
#define MHSLD__ACT_ACTIVE 1ull
/* The inactive word after outside action on a: its count bumped. */
static inline uint64_t mhsld__act_next(uint64_t a)
{
    return ((a >> 1) + 1) << 1;
}

/* A range of block-table indices. */
typedef struct mhsld__bext {
    uint64_t start;
    uint64_t count;
} mhsld__bext;

/* Journal operations (also the public mhsld_recover_report.op values). */
enum {
    MHSLD__OP_IDLE = 0,
    MHSLD__OP_RESERVE = 1,
    MHSLD__OP_UNDO = 2, /* give back the first `undo` steps of ranges (and a slot) */
    MHSLD__OP_COMMIT = 3,
    MHSLD__OP_RELEASE = 4,
    MHSLD__OP_SHARE_NEW = 5,
    MHSLD__OP_SHARE_LEAVE = 6,
    MHSLD__OP_CLAIM = 7, /* one-call claim: free -> OWNED (mhsld_claim) */
    MHSLD__OP__COUNT
};

#define MHSLD__JMAX (2u * MHSLD_MAX_EXTENTS)
#define MHSLD__NOSLOT 0xffffffffu

typedef struct mhsld__journal {
    uint32_t op;    /* published last (release store), cleared last */
    uint32_t n;     /* ranges in r[] */
    uint32_t nacc;  /* ranges in acc[] (COMMIT) */
    uint32_t slot;  /* shared slot (SHARE_*, UNDO of SHARE_NEW) or MHSLD__NOSLOT */
    uint32_t gslot; /* pending-reservation slot (RESERVE, COMMIT) */
    uint32_t pad;
    uint64_t seq;   /* this op's sequence */
    uint64_t group; /* COMMIT: the reservation's sequence */
    uint64_t undo;  /* UNDO: steps to give back */
    /* Unused: a shared create once wrote its tag here, but no recovery
     * needs it (the slot holds the tag; recovery of SHARE_NEW judges the
     * slot word).  No longer written or read; kept for layout version 3. */
    uint8_t tag[MHSLD_TAG_SIZE];
    mhsld__bext r[MHSLD__JMAX];
    mhsld__bext acc[MHSLD_MAX_EXTENTS];
} mhsld__journal;

/* A pending reservation's ranges; its sequence (0 = slot free, written
 * last) lives in mhsld__headrec.gseq so that the hot paths scan one line. */
typedef struct mhsld__group {
    uint32_t n;
    uint32_t pad;
    mhsld__bext r[MHSLD_MAX_EXTENTS];
} mhsld__group;

typedef struct mhsld__headrec {
    uint64_t epoch; /* incarnation, bumped by attach */
    uint64_t seq;   /* last operation sequence used */
    uint64_t jprog; /* prog(seq, completed steps) of the journal's op */
    uint32_t pid;
    uint32_t list_gen; /* bumped when the head's extent list changes */
    /* Odd while the head (or whoever acts as it) is taking access away from
     * it (owned-map bits cleared, a shared extent left); bumped to even when
     * done.  Lets a multi-block access check prove that no access it saw
     * was removed while it looked (a seqlock; see access_ok in proto.c).
     * Zero in states written before it existed (this was padding). */
    uint64_t revoking;
    /* The head's side of the handshake with outside actors (MHSLD__BATON_*,
     * above, and engine/src/fmforce.c).  Zero in states written before it
     * existed (this was padding): free. */
    uint64_t baton;
    /* The outsiders' side (MHSLD__ACT_*): the first 8 bytes of what was
     * padding, zero (inactive, no outside action counted) in older states. */
    uint64_t actw;
    uint8_t pad[8];
    uint64_t gseq[MHSLD_MAX_PENDING]; /* sequence of each pending reservation, 0 = free */
    mhsld__journal j;
    mhsld__group groups[MHSLD_MAX_PENDING];
    /* Evidence (layout 6): ev[D] is the newest tag of head D's that this
     * head (or whoever acts as it) saw in a pair it was about to overwrite,
     * stored before that write.  A tag in a pair proves its step happened,
     * and so every earlier step of that head; recovery of D reads every
     * head's ev[D] when a step's tag is gone (proto.c).  Written only by
     * this head's actor, read only by recoverers: a claim or release that
     * meets no conflict touches no line of another head's record. */
    uint64_t ev[MHSLD_MAX_HEADS] __attribute__((aligned(64)));
} __attribute__((aligned(64))) mhsld__headrec;

/* Every sequence the engine stores in a head record (its last one, its
 * reservations') lies within the 34-bit sequence space; one beyond it is
 * damage, and using it would wrap the next sequence onto ones still pending. */
static inline bool mhsld__seqs_in_space(const mhsld__headrec *hr)
{
    if (mhsld__load64(&hr->seq) > MHSLD__SEQ_MASK)
        return false;
    for (uint32_t g = 0; g < MHSLD_MAX_PENDING; g++)
        if (mhsld__load64(&hr->gseq[g]) > MHSLD__SEQ_MASK)
            return false;
    return true;
}

typedef struct mhsld__slot {
    uint64_t word;
    uint64_t start; /* block index */
    uint64_t count;
    uint8_t tag[MHSLD_TAG_SIZE] __attribute__((aligned(8)));
    /* Shared Extent Sequence (CXL r3.1 DC extent record, 16 bits), written
     * by the creator before the slot turns ACTIVE, like start, count and
     * tag; read once per look, as data (it steers nothing).  Zero in states
     * written before it existed (this was padding). */
    uint64_t sseq;
    uint8_t pad[16];
} __attribute__((aligned(64))) mhsld__slot;

/* Geometry as stored in the header (fixed widths, native order + BOM). */
typedef struct mhsld__wregion {
    uint64_t base;
    uint64_t len;
    uint32_t flags;
    uint32_t dsmad_handle;
} mhsld__wregion;

typedef struct mhsld__wgeom {
    uint32_t nr_heads;
    uint32_t nr_lds;
    uint32_t nr_regions;
    uint32_t block_shift;
    uint64_t nr_blocks;
    mhsld__wregion regions[MHSLD_MAX_REGIONS];
    uint8_t ld_map[MHSLD_MAX_LDS];
} mhsld__wgeom;

typedef struct mhsld__hdr {
    uint64_t magic;
    uint32_t version;
    uint32_t bom;
    uint64_t total_size;
    uint32_t hdr_size;
    uint32_t init;     /* MHSLD__INIT_*; READY is stored last */
    uint64_t checksum; /* FNV-1a over version, total_size and geom */
    uint64_t created_ns;
    mhsld__wgeom geom;
} mhsld__hdr;

_Static_assert(sizeof(mhsld__hdr) <= MHSLD__HDR_SIZE, "header fits its page");
_Static_assert(sizeof(mhsld__slot) == 64, "slot is one cache line");
_Static_assert(MHSLD_MAX_SHARED <= 255, "slot index + 1 fits the shared byte");
_Static_assert(MHSLD_MAX_HEADS <= 32, "sharer mask is 32 bits");

/* A slot's tag, read and written as two atomic 64-bit words (other heads
 * read it while a creator may be writing a recycled slot). */
static inline void mhsld__tag_load(const mhsld__slot *sl, uint8_t out[MHSLD_TAG_SIZE])
{
    uint64_t w[2] = {mhsld__load64((const uint64_t *)(const void *)sl->tag),
                     mhsld__load64((const uint64_t *)(const void *)(sl->tag + 8))};
    __builtin_memcpy(out, w, MHSLD_TAG_SIZE);
}
static inline void mhsld__tag_store(mhsld__slot *sl, const uint8_t in[MHSLD_TAG_SIZE])
{
    uint64_t w[2];
    __builtin_memcpy(w, in, MHSLD_TAG_SIZE);
    mhsld__store64((uint64_t *)(void *)sl->tag, w[0]);
    mhsld__store64((uint64_t *)(void *)(sl->tag + 8), w[1]);
}

/* ---- fabric-manager queue (fmq.c) ----------------------------------------
 * Slot word (64 bits; the poster futex-waits on its low half):
 * bits  0..3   state (MHSLD__FMQ_*)
 * bit   4      notice: posted by nobody who waits (FORCED, timeout 0)
 * bits  5..31  generation, bumped by every claim (no ABA)
 * bits 32..63  low 32 bits of the epoch of the head incarnation that took
 *              the request (TAKEN, ABANDONED, DONE) */
#define MHSLD__FMQ_FREE 0u
#define MHSLD__FMQ_CLAIMED 1u   /* a poster is writing the request */
#define MHSLD__FMQ_POSTED 2u    /* waiting for the head */
#define MHSLD__FMQ_TAKEN 3u     /* the head is acting on it */
#define MHSLD__FMQ_DONE 4u      /* the result is written, for the poster */
#define MHSLD__FMQ_ABANDONED 5u /* taken, the poster gave up: the head frees it */
#define MHSLD__FMQ_NOTICE 0x10u
#define MHSLD__FMQ_GEN_SHIFT 5
#define MHSLD__FMQ_GEN_MASK 0x7ffffffu
static inline uint64_t mhsld__fmqw(uint32_t state, uint32_t notice, uint32_t gen, uint32_t ep)
{
    return (uint64_t)(state & 0xfu) | (notice ? MHSLD__FMQ_NOTICE : 0u) |
           ((uint64_t)(gen & MHSLD__FMQ_GEN_MASK) << MHSLD__FMQ_GEN_SHIFT) | ((uint64_t)ep << 32);
}
static inline uint32_t mhsld__fmqw_state(uint64_t w)
{
    return (uint32_t)(w & 0xfu);
}
static inline uint32_t mhsld__fmqw_notice(uint64_t w)
{
    return (uint32_t)(w & MHSLD__FMQ_NOTICE) != 0;
}
static inline uint32_t mhsld__fmqw_gen(uint64_t w)
{
    return (uint32_t)(w >> MHSLD__FMQ_GEN_SHIFT) & MHSLD__FMQ_GEN_MASK;
}
static inline uint32_t mhsld__fmqw_epoch(uint64_t w)
{
    return (uint32_t)(w >> 32);
}

typedef struct mhsld__fmq_slot {
    uint64_t word;
    uint64_t ticket; /* posting order (a hint: only orders take's choice) */
    uint8_t pad[48];
    mhsld_fm_request req __attribute__((aligned(64)));
    mhsld_fm_result res __attribute__((aligned(64)));
} __attribute__((aligned(64))) mhsld__fmq_slot;

typedef struct mhsld__fmq {
    uint32_t bell; /* futex doorbell: bumped by every post and kick */
    uint32_t pad0;
    uint64_t ticket; /* next posting ticket */
    uint8_t pad[48];
    mhsld__fmq_slot slot[MHSLD_FMQ_SLOTS];
} __attribute__((aligned(64))) mhsld__fmq;

_Static_assert(sizeof(mhsld_fm_request) % 8 == 0, "request body is whole words");
_Static_assert(sizeof(mhsld_fm_result) % 8 == 0, "result body is whole words");
_Static_assert(MHSLD_FMQ_SLOTS <= 256, "slot index fits a byte");
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "futex on the slot word's low half");

/* Offsets and sizes derived from a valid geometry. */
typedef struct mhsld__layout {
    uint64_t heads_off;
    uint64_t slots_off;
    uint64_t occ_off;
    uint64_t owned_off;  /* nr_heads maps of nr_words words */
    uint64_t starts_off; /* nr_heads maps of nr_words words */
    uint64_t sslot_off;  /* nr_words * 64 bytes */
    uint64_t fmq_off;    /* nr_heads FM queues */
    uint64_t total;
    uint64_t nr_words;  /* occupancy pairs */
    uint32_t occ_shift; /* log2 of the bytes from one pair to the next (4 or 6) */
} mhsld__layout;

/* Occupancy pairs of a small device each get a cache line of their own
 * (layout 5): with at most MHSLD__OCC_PAD_WORDS words (a map of at most
 * 4 KiB, i.e. 16384 blocks) the whole map is at most 64 lines, and heads
 * working on different words would otherwise keep taking each other's lines
 * (issue 15's two-process rows on 2048 blocks: 8 lines for the whole
 * device).  It costs at most 12 KiB; larger maps keep 16 bytes a pair, so
 * the state of a big device stays under 2 bytes per block. */
#ifndef MHSLD__OCC_PAD_WORDS
#define MHSLD__OCC_PAD_WORDS 256u
#endif

/* Byte offset of word w's pair from the start of the pairs. */
static inline uint64_t mhsld__occ_off(const mhsld__layout *lay, uint64_t w)
{
    return w << lay->occ_shift;
}

struct mhsld_state {
    int fd;
    int regular; /* a regular file (its size can shrink under us) */
    char *path;  /* as given: for re-opening per head */
    uint8_t *base;
    uint64_t map_len;
    mhsld_geometry geo; /* private, validated copy */
    uint32_t block_shift;
    uint64_t nr_blocks;
    uint64_t region_first[MHSLD_MAX_REGIONS]; /* block index of each region's first block */
    mhsld__layout lay;
    mhsld__hdr *hdr;
    mhsld__headrec *heads;
    mhsld__slot *slots;
    mhsld__pair *occ;
    uint64_t *owned;
    uint64_t *starts;
    uint8_t *sslot;
    mhsld__fmq *fmq;
    int pair_store; /* mhsld__store_pair is one 16-byte access here (atomics.h) */
};

/* Word w's occupancy pair. */
static inline mhsld__pair *mhsld__occ(const mhsld_state *st, uint64_t w)
{
    return (mhsld__pair *)(void *)((uint8_t *)st->occ + mhsld__occ_off(&st->lay, w));
}

/* Head `head`'s owned map (nr_words words). */
static inline uint64_t *mhsld__owned_map(const mhsld_state *st, uint32_t head)
{
    return st->owned + (uint64_t)head * st->lay.nr_words;
}
/* Head `head`'s start map (nr_words words). */
static inline uint64_t *mhsld__start_map(const mhsld_state *st, uint32_t head)
{
    return st->starts + (uint64_t)head * st->lay.nr_words;
}
/* A pair tag's generation: (head + 1) << 34 | sequence; 0 for a pair never
 * written. */
static inline uint64_t mhsld__tag_gen(uint64_t tag)
{
    return tag >> 24;
}

/* A file descriptor that may hold a kernel file lock of this process.  Its
 * open file description is shared with a child created by fork() (and so
 * would be its locks): every such descriptor is on a process-wide list, and
 * the child closes its copies before fork() returns (fork.c). */
typedef struct mhsld__lockref {
    int fd;
    mhsld_head *head; /* the head whose liveness lock this is, or NULL */
    struct mhsld__lockref *prev, *next;
} mhsld__lockref;

struct mhsld_head {
    /* First: the public fast view (mhsld.h, mhsld_access_ok_fast).  Filled
     * at attach from the private geometry; emptied (no fast path) in a
     * forked child. */
    mhsld_access_view view;
    /* Used by the operations.  In a forked child they point at a fenced
     * stand-in (fork.c): a head record whose epoch never matches and a state
     * without regions or blocks, so every operation is refused and every
     * access check is false without a check on the hot path.  Every path
     * must therefore refuse an address outside the regions before it reads
     * a table (as they all do). */
    mhsld_state *st;
    mhsld__headrec *hr;
    uint32_t head;
    uint64_t epoch;
    mhsld_state *state;  /* the state it was attached through (never the stand-in) */
    mhsld__lockref lock; /* holds the head's liveness lock */
    uint64_t seq;        /* last operation sequence used: private, never re-read */
    /* The last one-range journal this handle published (proto.c,
     * journal_publish1): the sequence after its own, and its range.  When
     * the next one has that sequence, nothing else has written the journal
     * since (every other publication draws a sequence of its own, outsiders
     * draw above every one used), so the fields it leaves as they were need
     * no store.  Private; 0 = unknown (no sequence is 0). */
    uint64_t j1_next;
    mhsld__bext j1_r;
    /* The baton word this handle stores when it is not in an operation:
     * MHSLD__BATON_FREE, or MHSLD__BATON_FENCED if its entry is fully fenced
     * (fmforce.c).  Private, fixed at attach. */
    uint64_t bat;
    /* The outside-action word (actw) this handle last saw inactive: private.
     * Any other value means an outsider acts now or acted since (fmforce.c). */
    uint64_t act;
    /* FM queue slots this handle has taken and not completed: generation + 1
     * (0: not taken).  Private, but take and complete may run on two
     * threads: accessed with __atomic builtins. */
    uint32_t fmq_taken[MHSLD_FMQ_SLOTS];
    /* Set by mhsld_fm_kick(), consumed by mhsld_fm_wait() (__atomic): a
     * kick just before the wait reads the doorbell is not lost. */
    uint32_t fmq_kick;
};
_Static_assert(offsetof(struct mhsld_head, view) == 0, "the fast view begins every head handle");

/* Fill h->view for head `head` of `st` (head.c). */
void mhsld__view_fill(mhsld_head *h, const mhsld_state *st, uint32_t head);

/* ---- fork.c ---- */
/* The list of lock-holding descriptors is guarded by one mutex, held across
 * fork() too: a descriptor is created and put on the list, or taken off the
 * list and closed, under it, so no child ever inherits an unlisted one. */
/* 0, or -1 if the fork handlers could not be installed (then the guard is
 * not taken and the caller fails with MHSLD_E_NOMEM). */
int mhsld__fork_guard_lock(void);
void mhsld__fork_guard_unlock(void);
/* Under the guard. */
void mhsld__lockref_add(mhsld__lockref *r);
void mhsld__lockref_del(mhsld__lockref *r);

/* ---- crash points (MHSLD_TESTING builds) ---- */
#ifdef MHSLD_TESTING
void mhsld__step(void);
#define MHSLD__STEP() mhsld__step()
#else
#define MHSLD__STEP() ((void)0)
#endif
/* The window of a head's entry between publishing HEAD and looking at actw
 * (mhsld_test_entry_hook, fmforce.c). */
#ifdef MHSLD_TESTING
void mhsld__entry_hook(void);
#define MHSLD__ENTRY_HOOK() mhsld__entry_hook()
#else
#define MHSLD__ENTRY_HOOK() ((void)0)
#endif

/* ---- layout.c ---- */
mhsld_status mhsld__layout_compute(const mhsld_geometry *g, mhsld__layout *lay);
int mhsld__open_path(const char *path, int flags, mode_t mode);
void mhsld__set_errno(int e);
/* Is head `head`'s liveness lock held by anyone (other than fd's own OFD)? */
int mhsld__head_locked(int fd, uint32_t head, int *pid_out);
/* Take head `head`'s liveness lock on a new open file description, listed
 * in r (r->head set by the caller). */
mhsld_status mhsld__lock_head(mhsld_state *st, uint32_t head, mhsld__lockref *r);
/* A new open file description of the state's file without any lock yet,
 * listed in r (r->head NULL), for byte locks taken and dropped one by one
 * with mhsld__byte_trylock / mhsld__byte_unlock; mhsld__unlock_head closes it. */
mhsld_status mhsld__lock_fd(mhsld_state *st, mhsld__lockref *r);
/* 0 taken, 1 held by another open file description, -1 error (errno). */
int mhsld__byte_trylock(int fd, off_t off);
void mhsld__byte_unlock(int fd, off_t off);
/* Is the byte held by an open file description other than fd's? 1, 0, -1. */
int mhsld__byte_held(int fd, off_t off);
/* Drop it: unlist, unlock and close (r->fd < 0: only unlist). */
/* The head's actor lock (MHSLD__LOCK_ACTOR): MHSLD_E_BUSY if held. */
mhsld_status mhsld__lock_actor(mhsld_state *st, uint32_t head, mhsld__lockref *r);
void mhsld__unlock_head(mhsld__lockref *r);
/* MHSLD_E_TRUNCATED if the state's file is now shorter than its layout (a
 * co-tenant's ftruncate: touching the mapping beyond the end would raise
 * SIGBUS); one fstat, for the entry points that are not on the hot path. */
mhsld_status mhsld__check_size(const mhsld_state *st);

/* ---- addresses ---- */
/* DPA extent -> block range in one region; MHSLD_OK or the precise error. */
mhsld_status mhsld__dpa_to_range(const mhsld_state *st, uint64_t dpa, uint64_t len,
                                 mhsld__bext *out, uint32_t *region);
uint64_t mhsld__block_dpa(const mhsld_state *st, uint64_t idx);
uint32_t mhsld__block_region(const mhsld_state *st, uint64_t idx);
/* Validate and normalise a request: sorted, non-overlapping block ranges. */
mhsld_status mhsld__ranges_from_extents(const mhsld_state *st, const mhsld_extent *ext, size_t n,
                                        mhsld__bext *out, uint32_t *nout);

/* ---- snapshot.c: the one way control data leaves the shared state -------
 * THE RULE.  Any byte of the mapping may change between two loads (another
 * head's bug, a hostile co-tenant).  Control data -- a journal, a pending
 * reservation's ranges, a shared slot's range, anything that steers an index,
 * a count or a loop -- is read ONCE into private memory by the functions
 * below, validated there, and only the private copy is used.  A live
 * operation builds its journal in a private mhsld__jsnap, publishes it, and
 * never reads it back.  Single data words (block words, occupancy pairs,
 * slot words, jprog) are loaded once into a local and judged by value.
 * Do not index or loop over hr->j, hr->groups[] or a slot's range in place. */
/* Are ranges (private copies) valid, sorted and disjoint? */
int mhsld__ranges_valid(const mhsld_state *st, const mhsld__bext *r, uint32_t n, uint32_t max);
/* Relaxed 64-bit word copies to/from the mapping (bytes: a multiple of 8). */
static inline void mhsld__copy_in(void *dst, const void *src, size_t bytes)
{
    uint64_t *d = dst;
    const uint64_t *s = src;
    for (size_t i = 0; i < bytes / 8; i++)
        d[i] = mhsld__load64_relaxed(&s[i]);
}
static inline void mhsld__copy_out(void *dst, const void *src, size_t bytes)
{
    uint64_t *d = dst;
    const uint64_t *s = src;
    for (size_t i = 0; i < bytes / 8; i++)
        mhsld__store64_relaxed(&d[i], s[i]);
}

/* A private copy of a journal: what a live operation writes ahead, or what
 * recovery found (validated by mhsld__journal_snapshot). */
typedef struct mhsld__jsnap {
    uint32_t op, n, nacc, slot, gslot;
    uint64_t seq, group, undo;
    mhsld__bext r[MHSLD__JMAX];
    mhsld__bext acc[MHSLD_MAX_EXTENTS];
} mhsld__jsnap;

/* Start a live operation's private journal: every scalar field set.  r[]
 * and acc[] (6 KB, zeroing them cost more than the rest of
 * a one-block claim) are left for the caller: only r[0..n) and
 * acc[0..nacc) are ever read or published, and the caller fills exactly
 * those. */
static inline void mhsld__jsnap_init(mhsld__jsnap *j, uint32_t op, uint32_t slot, uint64_t seq)
{
    j->op = op;
    j->n = 0;
    j->nacc = 0;
    j->slot = slot;
    j->gslot = 0;
    j->seq = seq;
    j->group = 0;
    j->undo = 0;
}

/* A private, validated copy of a pending reservation's ranges. */
typedef struct mhsld__gsnap {
    uint32_t n;
    mhsld__bext r[MHSLD_MAX_EXTENTS];
} mhsld__gsnap;

/* Copy head record hr's journal once and validate the copy: MHSLD_OK (op
 * IDLE, or every field in range for its op: ranges valid, sorted, disjoint
 * and inside the device; slot, reservation slot, sequence, undo count) or
 * MHSLD_E_JOURNAL. */
mhsld_status mhsld__journal_snapshot(const mhsld_state *st, const mhsld__headrec *hr,
                                     mhsld__jsnap *j);
/* Write j into the journal, op last (release), jprog = (seq, 0). */
void mhsld__journal_publish(mhsld__headrec *hr, const mhsld__jsnap *j);
/* Copy reservation slot g's ranges once and validate them (MHSLD_E_JOURNAL). */
mhsld_status mhsld__group_snapshot(const mhsld_state *st, const mhsld__headrec *hr, uint32_t g,
                                   mhsld__gsnap *out);
void mhsld__group_publish(mhsld__headrec *hr, uint32_t g, const mhsld__bext *r, uint32_t n);
/* A shared slot's range, each word loaded once; 1 if it is a valid range. */
int mhsld__slot_range(const mhsld_state *st, uint32_t i, mhsld__bext *r);
/* The sequence an actor for head hr starts from: the record's last sequence
 * and its pending reservations', each read once, the largest of them
 * (MHSLD_E_CORRUPT if any lies beyond the sequence space). */
mhsld_status mhsld__seq_floor(const mhsld__headrec *hr, uint64_t *out);

/* ---- fmq.c ---- */
/* Head `head`'s FM queue in a quiescent state: every slot FREE or in a known
 * state with a well-formed body (MHSLD_E_CORRUPT and one line in msg). */
mhsld_status mhsld__fmq_check(const mhsld_state *st, uint32_t head, char *msg, size_t len);

/* ---- proto.c: the word-step machinery shared by operations and recovery ---- */
typedef struct mhsld__op {
    mhsld_state *st;
    uint32_t head;
    mhsld__headrec *hr;
    uint64_t seq;
} mhsld__op;

/* Steps (distinct 64-block words, in order) of ranges r: their number. */
uint64_t mhsld__count_steps(const mhsld__bext *r, uint32_t n);
/* How many steps of `op_seq` on `r` completed: the progress word, then the
 * tags still in their pairs and the other heads' evidence (proto.c).
 * MHSLD__STEPS_BAD: the progress word names another operation (damage);
 * callers treat it as a corrupt journal. */
#define MHSLD__STEPS_BAD UINT64_MAX
uint64_t mhsld__completed_steps(mhsld_state *st, uint32_t head, mhsld__headrec *hr, uint64_t op_seq,
                                const mhsld__bext *r, uint32_t n, uint64_t limit);
/* The *_as functions act as head `head`; *last is the actor's private copy of
 * the head's last sequence (a live handle's, or a recoverer's taken once by
 * mhsld__seq_floor), never re-read from the record. */
mhsld_status mhsld__release_all_as(mhsld_state *st, uint32_t head, uint64_t *last, uint64_t *freed);
mhsld_status mhsld__recover_journal(mhsld_state *st, uint32_t head, uint64_t *last,
                                    mhsld_recover_report *rep);
int mhsld__group_find(const mhsld_state *st, const mhsld__headrec *hr, uint64_t group);
/* Commit acc of reservation slot gslot (sequence group), whose ranges grp
 * the caller snapshotted; frees the rest. */
mhsld_status mhsld__commit_as(mhsld_state *st, uint32_t head, uint64_t *last, uint32_t gslot,
                              uint64_t group, const mhsld__gsnap *grp, const mhsld__bext *acc,
                              uint32_t nacc);
/* Forced release (the caller acts as `head`: it holds the head's actor
 * lock and either ACTIVE in actw with the head out of its operations, or
 * the head's liveness lock): every range of ext must be
 * owned by the head (owned map) or be exactly a shared extent the head is a
 * sharer of; all or nothing (MHSLD_E_NOT_OWNER with *conflict). */
mhsld_status mhsld__force_release_as(mhsld_state *st, uint32_t head, uint64_t *last,
                                     const mhsld_extent *ext, size_t n, mhsld_conflict *conflict);

/* ---- fmforce.c: the baton ---- */
/* The head's entry found actw other than h->act: wait for an outside actor
 * (bounded), take over from one that died or from a damaged word
 * (recovering the head's journal under its actor lock), resynchronise after
 * outside action.  MHSLD_OK: h has published HEAD and no outsider acts;
 * MHSLD_E_STALE (fenced), MHSLD_E_BUSY (an outside actor kept acting), or
 * the recovery's failure (the baton is back to h->bat). */
mhsld_status mhsld__baton_head_slow(mhsld_head *h);
/* The head's entry, fast path and slow path's retry alike: publish HEAD in
 * the baton, then load actw once.  1: actw is h->act (no outsider acts, or
 * will before the baton is FREE again): h may act.  0: FREE is stored back.
 * The publication is a plain store and a compiler barrier when the
 * handle's process is registered for membarrier (outsiders pay for the
 * ordering, fmforce.c), an atomic exchange (a full barrier) when it is not
 * and in ThreadSanitizer builds. */
static inline int mhsld__baton_try(mhsld_head *h)
{
    mhsld__headrec *hr = h->hr;
#if !defined(MHSLD__TSAN)
    if (__builtin_expect(!(h->bat & MHSLD__BATON_FENCED), 1)) {
        mhsld__store64_relaxed(&hr->baton, h->bat | MHSLD__BATON_HEAD);
        mhsld__compiler_barrier();
    } else
#endif
    {
        (void)mhsld__swap64(&hr->baton, h->bat | MHSLD__BATON_HEAD);
    }
    MHSLD__ENTRY_HOOK();
    if (__builtin_expect(mhsld__load64(&hr->actw) == h->act, 1))
        return 1;
    mhsld__store64(&hr->baton, h->bat);
    return 0;
}
/* The head's exit: one store. */
static inline void mhsld__baton_leave(mhsld_head *h)
{
    mhsld__store64(&h->hr->baton, h->bat);
}
/* Attach: the new incarnation's baton and expected actw (caller holds the
 * actor and liveness locks, so nobody acts as the head). */
void mhsld__baton_reset(mhsld_head *h);
/* Attach: can this process's heads publish HEAD with a plain store, i.e. is
 * it registered for MEMBARRIER_CMD_GLOBAL_EXPEDITED?  Registers once per
 * process (cached with the pid; a forked child registers again). */
int mhsld__membarrier_register(void);
/* An outside actor that holds head's actor lock becomes the only one acting
 * as it: either the head is dead (*live_lock taken: the liveness lock) or
 * actw is ACTIVE and the head is not in an operation.  *taken: the actw
 * word while acting.  Bounded by deadline_ns (CLOCK_MONOTONIC):
 * MHSLD_E_BUSY (actw given back, count bumped). */
mhsld_status mhsld__act_begin(mhsld_state *st, uint32_t head, uint64_t deadline_ns,
                              mhsld__lockref *live_lock, int *dead, uint64_t *taken);
/* Give actw back inactive (count bumped); drop the liveness lock if taken. */
void mhsld__act_end(mhsld_state *st, uint32_t head, uint64_t taken, mhsld__lockref *live_lock,
                    int dead);
uint64_t mhsld__now_ns(void);

mhsld_status mhsld__share_leave_as(mhsld_state *st, uint32_t head, uint64_t *last, uint32_t slot,
                                   uint64_t *freed);

#endif /* MHSLD_INTERNAL_H */
