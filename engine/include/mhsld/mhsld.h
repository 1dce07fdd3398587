/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * libmhsld: lock-free, crash-safe ownership of a CXL Multi-Headed Single
 * Logical Device's Dynamic Capacity, kept in memory shared by every head.
 *
 * Objects
 *   mhsld_state  one process's mapping of a shared state (a POSIX shm name,
 *                a file on /dev/shm or hugetlbfs, or a DAX device).
 *   mhsld_head   one attached head (one host) on a state.  Every ownership
 *                operation goes through a head handle.
 *
 * Addresses are device physical addresses (DPA), absolute, as QEMU and the
 * CXL mailbox carry them.  Only the DC regions described by the geometry are
 * managed; a DPA outside every region is an error (MHSLD_E_RANGE) and never
 * accessible.
 *
 * Concurrency contract
 *   - Different head handles (in one process or in many) may call any
 *     operation at the same time, on the same or overlapping extents.  Every
 *     ownership transition is a single compare-and-swap on the shared block
 *     table; no call takes a lock on the ownership path.
 *   - Calls on ONE head handle must not overlap (a head is one host: QEMU
 *     serialises them under its BQL).  mhsld_access_ok() is the exception: it
 *     is read-only and may run from any thread at any time.  So are the FM
 *     queue's server calls (mhsld/fm.h): mhsld_fm_wait() and mhsld_fm_kick()
 *     may run on a serving thread beside the head's other calls, and
 *     mhsld_fm_take() and mhsld_fm_complete() on two threads.  Two
 *     overlapping ownership operations of one handle are not merely racy:
 *     nothing tells the second from the first (the handle does not read its
 *     own baton back), so both continue the head's one journal at once.
 *   - Another process may act as a live head from outside it
 *     (mhsld_fm_force_release(), mhsld_recover() with FORCE).  The head's
 *     operations that change ownership then wait for it, at most 1 s, and
 *     answer MHSLD_E_BUSY after that (the head's baton, mhsld/fm.h).
 *   - mhsld_open(), mhsld_attach(), mhsld_detach(), mhsld_recover() take a
 *     kernel file lock on a byte of the state file that belongs to one head
 *     (liveness and mutual exclusion of attach/recover; never on the
 *     ownership path).  The lock dies with the process, which is how a
 *     killed head is recognised as dead.
 *   - mhsld_validate() gives a precise verdict only on a quiescent state (no
 *     operation in flight); on a live state it may report transient
 *     in-flight records.
 *
 * Crash contract
 *   A head may be killed between any two atomic steps.  Its in-flight
 *   operation is described by an intent journal in the shared state.
 *   mhsld_recover() (by any process, for a dead head) and mhsld_attach() (for
 *   the head's own previous incarnation) leave every block touched by that
 *   operation either as if the operation had never started or as if it had
 *   completed, never half, and never touch a block the dead head did not
 *   hold.  Which of the two: a reserve is undone unless every one of its
 *   claims had already happened (then it is completed); a shared create is
 *   undone unless it had already published the extent (slot ACTIVE); a
 *   failing request is undone; commit, release, shared leave and the last
 *   sharer's release are completed.  mhsld_release_all() is a sequence of
 *   such operations: recovery with MHSLD_RECOVER_DROP finishes it.
 *
 * Bad input
 *   Every function validates its arguments and fails without side effects.
 *   A state whose bytes are corrupt, truncated, foreign-endian, of another
 *   version or of another geometry is refused at open.
 *
 * Hostile co-tenants (docs/guarantees.md, docs/guarantees-files.md)
 *   Any byte of the mapping may change at any time, also during a call.
 *   Control data (journals, pending reservations, shared slot ranges) is
 *   read once into private memory, validated there, and only the copy is
 *   used; a live operation never reads back what it wrote (its journal, its
 *   sequence); waits and retries are bounded by validated counts or a
 *   deadline.  So a process that writes the state -- and can open it: see
 *   mhsld_open's owner and mode check -- can make operations fail, can change
 *   any ownership (by writing ownership words, or records that a head or its
 *   recoverer then acts on), but cannot make this library read or write
 *   outside its mapping, nor keep a call from returning; the one exception
 *   is a compare-and-swap on an occupancy pair, which a writer rewriting
 *   that pair between every load and CAS delays for as long as it does so
 *   (lock-free, not wait-free).  Truncating the file raises SIGBUS at the
 *   next access to the lost pages; entry points that can afford an fstat()
 *   return MHSLD_E_TRUNCATED instead.
 */
#ifndef MHSLD_MHSLD_H
#define MHSLD_MHSLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Compiled limits.  A state that exceeds them is refused. */
#define MHSLD_MAX_HEADS 32u    /* heads (hosts) per device */
#define MHSLD_MAX_LDS 64u      /* entries of the LD map */
#define MHSLD_MAX_REGIONS 8u   /* DC regions (CXL r3.1 allows 8) */
#define MHSLD_MAX_EXTENTS 128u /* extents in one request */
#define MHSLD_MAX_PENDING 8u   /* outstanding reservations per head */
#define MHSLD_MAX_SHARED 128u  /* shared extents per device */
#define MHSLD_MIN_BLOCK_SIZE (2ull << 20)
#define MHSLD_MAX_BLOCK_SIZE (1ull << 40)
#define MHSLD_MAX_BLOCKS (1ull << 24) /* 16 Mi blocks (32 TiB at 2 MiB) */
#define MHSLD_TAG_SIZE 16u
#define MHSLD_LD_UNASSIGNED 0xFFu

typedef enum mhsld_status {
    MHSLD_OK = 0,
    MHSLD_E_INVAL,        /* invalid argument (NULL, bad flags, bad size field) */
    MHSLD_E_HEAD,         /* head index out of range for this state */
    MHSLD_E_ZERO_LEN,     /* an extent of length zero, or no extents */
    MHSLD_E_ALIGN,        /* DPA or length not a multiple of the block size */
    MHSLD_E_RANGE,        /* DPA+length overflows or lies outside every DC region */
    MHSLD_E_OVERLAP,      /* extents of one request overlap each other */
    MHSLD_E_TOO_MANY,     /* more extents than MHSLD_MAX_EXTENTS */
    MHSLD_E_CONFLICT,     /* a block is held by another head (or already by this one) */
    MHSLD_E_NOT_OWNER,    /* release/commit of blocks this head does not hold so */
    MHSLD_E_NO_GROUP,     /* no such pending reservation */
    MHSLD_E_NOT_IN_GROUP, /* an accepted extent is not part of the reservation */
    MHSLD_E_NOSPACE,      /* pending-reservation or shared-extent table full, or the
                             head's operation sequences are used up (seqs_left) */
    MHSLD_E_NOT_SHARABLE, /* shared operation on a region without the sharable flag */
    MHSLD_E_TAG,          /* shared extent exists with another range or tag */
    MHSLD_E_STALE,        /* this handle's incarnation was superseded (fenced), or the
                             handle was inherited by a forked child */
    MHSLD_E_ALIVE,        /* head is attached by a live process */
    MHSLD_E_BUSY,         /* state is being (re)initialised or recovered */
    MHSLD_E_NOENT,        /* state does not exist */
    MHSLD_E_EXISTS,       /* state exists and is live (create without force) */
    MHSLD_E_IO,           /* open/mmap/ftruncate/lock failed; see errno */
    MHSLD_E_NOMEM,
    MHSLD_E_BAD_MAGIC, /* not an mhsld state */
    MHSLD_E_VERSION,   /* layout version not supported */
    MHSLD_E_ENDIAN,    /* written by a host of the other byte order */
    MHSLD_E_TRUNCATED, /* file smaller than the layout it describes */
    MHSLD_E_CORRUPT,   /* a field fails validation */
    MHSLD_E_GEOMETRY,  /* the state's geometry differs from the one requested */
    MHSLD_E_JOURNAL,   /* a dead head's journal is corrupt: left untouched */
    MHSLD_E_UNSUPPORTED,
    MHSLD_E_PERM,     /* state file not private to this user (another owner, writable by
                         group or other, or more than one link): refused without
                         MHSLD_OPEN_F_ALLOW_FOREIGN */
    MHSLD_E_DEAD,     /* no live process has the head attached (fabric-manager
                         requests, mhsld/fm.h) */
    MHSLD_E_TIMEDOUT, /* a bounded wait ran out (fabric-manager requests) */
    MHSLD_E__COUNT
} mhsld_status;

/* A stable, human-readable string for every status (never NULL). */
const char *mhsld_strerror(mhsld_status st);
/* The enumerator's name, e.g. "MHSLD_E_CONFLICT" (never NULL). */
const char *mhsld_status_name(mhsld_status st);

typedef struct mhsld_state mhsld_state;
typedef struct mhsld_head mhsld_head;

/* An extent of device physical addresses: [dpa, dpa + len). */
typedef struct mhsld_extent {
    uint64_t dpa;
    uint64_t len;
} mhsld_extent;

#define MHSLD_REGION_SHARABLE 0x1u /* blocks may be owned by several heads under a tag */

typedef struct mhsld_region {
    uint64_t base;  /* DPA of the region's first byte; block aligned */
    uint64_t len;   /* bytes; block aligned, > 0 */
    uint32_t flags; /* MHSLD_REGION_* */
    uint32_t dsmad_handle;
} mhsld_region;

/* The immutable description of a device.  Regions are sorted by base and do
 * not overlap.  ld_map[i] is the head wired to LD i, or MHSLD_LD_UNASSIGNED. */
typedef struct mhsld_geometry {
    uint32_t size; /* sizeof(mhsld_geometry): set by the caller */
    uint32_t nr_heads;
    uint32_t nr_lds;
    uint32_t nr_regions;
    uint64_t block_size; /* power of two, MHSLD_MIN..MAX_BLOCK_SIZE */
    mhsld_region regions[MHSLD_MAX_REGIONS];
    uint8_t ld_map[MHSLD_MAX_LDS];
} mhsld_geometry;

/* Fill *g with one region [base, base+len) of nr_heads heads, nr_lds = nr_heads
 * and the identity LD map (LD i -> head i); the caller may adjust it. */
void mhsld_geometry_init(mhsld_geometry *g, uint32_t nr_heads, uint64_t block_size, uint64_t base,
                         uint64_t len);
/* Check a geometry on its own (no state involved). */
mhsld_status mhsld_geometry_check(const mhsld_geometry *g);

typedef enum mhsld_open_mode {
    MHSLD_OPEN_EXISTING = 0, /* the state must exist and be initialised */
    MHSLD_OPEN_CREATE = 1,   /* create and initialise if absent or never initialised,
                                otherwise join it (geometry must match) */
    MHSLD_OPEN_REINIT = 2    /* wipe and re-initialise even a live state: explicit only */
} mhsld_open_mode;

/* mhsld_open_opts.flags: accept a state file that is not private to this
 * user (see mhsld_open). */
#define MHSLD_OPEN_F_ALLOW_FOREIGN 0x1u
#define MHSLD_OPEN_INIT_WAIT_DEFAULT_MS 5000u

typedef struct mhsld_open_opts {
    uint32_t size;    /* sizeof(mhsld_open_opts), or MHSLD_OPEN_OPTS_SIZE_V1 */
    uint32_t mode;    /* mhsld_open_mode */
    const char *path; /* contains '/': a file path; otherwise a POSIX shm name */
    /* Required for CREATE and REINIT.  For EXISTING, NULL accepts any valid
     * geometry; non-NULL must match (else MHSLD_E_GEOMETRY). */
    const mhsld_geometry *geometry;
    /* Since version 2 of the struct; zero means the default, and a caller
     * passing MHSLD_OPEN_OPTS_SIZE_V1 gets the defaults. */
    uint32_t flags;        /* MHSLD_OPEN_F_* */
    uint32_t init_wait_ms; /* longest wait for another process's initialisation;
                              0 = MHSLD_OPEN_INIT_WAIT_DEFAULT_MS */
} mhsld_open_opts;

/* The size of the first version of mhsld_open_opts (up to `geometry`). */
#define MHSLD_OPEN_OPTS_SIZE_V1 ((uint32_t)offsetof(mhsld_open_opts, flags))

/* Open (and with CREATE/REINIT initialise) a state.  Several processes may
 * race to create the same state: exactly one initialises it, the others wait
 * for it and join.  The wait ends when the initialiser finishes or dies, or
 * after init_wait_ms with MHSLD_E_BUSY (a process holding the initialisation
 * lock, or frozen inside it, cannot block an open for longer).  A creator
 * killed half-way leaves a state that the next CREATE initialises.
 *
 * Private files.  CREATE makes a new file with O_EXCL and mode 0600.  A
 * regular file that already exists (for every mode, EXISTING included) is
 * used only if it is owned by the caller's effective uid, not writable by
 * group or other, and has at most one link; otherwise MHSLD_E_PERM, unless
 * flags has MHSLD_OPEN_F_ALLOW_FOREIGN.  (Another user's file would let that
 * user truncate or rewrite the state under this process at any time.)
 * Device files (DAX) are not checked: their owner and mode are the
 * administrator's. */
mhsld_status mhsld_open(const mhsld_open_opts *opts, mhsld_state **out);
/* Unmap and close; accepts NULL.  Never unlinks anything.  Heads attached
 * through this state must be detached first. */
void mhsld_close(mhsld_state *st);
/* Remove a state's name (shm_unlink or unlink).  Refuses (MHSLD_E_ALIVE) while
 * any head is attached unless force is true. */
mhsld_status mhsld_destroy(const char *path, bool force);
/* The validated geometry (a private copy taken at open). */
mhsld_status mhsld_get_geometry(const mhsld_state *st, mhsld_geometry *out);
/* errno of the last MHSLD_E_IO on this thread (0 if none). */
int mhsld_last_errno(void);

/* ---- heads ------------------------------------------------------------ */

#define MHSLD_ATTACH_DROP 0x0u /* recovery drops the previous incarnation's capacity */
#define MHSLD_ATTACH_KEEP 0x1u /* recovery keeps its committed capacity */

/* Attach head `head`: takes the head's liveness lock (MHSLD_E_ALIVE if another
 * live process holds it), starts a new incarnation (any handle of an older
 * incarnation is fenced: its operations fail with MHSLD_E_STALE), then
 * recovers the previous incarnation's in-flight operation and, with
 * MHSLD_ATTACH_DROP, frees everything it held (a rebooted host owns nothing).
 * A head record whose sequences are out of the engine's range (damage) is
 * refused with MHSLD_E_CORRUPT before anything is written; MHSLD_E_BUSY while
 * a forced mhsld_recover() of the head is still running. */
mhsld_status mhsld_attach(mhsld_state *st, uint32_t head, uint32_t flags, mhsld_head **out);
/* Detach: the head stays as it is in the state (capacity kept, in-flight
 * nothing), its liveness lock is released.  Accepts NULL.
 *
 * fork().  A head handle belongs to the process that attached it.  In a
 * child created by fork() every inherited head handle is fenced: the child's
 * copy of its liveness lock is closed (so the head reads as dead as soon as
 * the attaching process dies, whatever the child does), every operation on it
 * fails with MHSLD_E_STALE, mhsld_access_ok() answers false, and the pending
 * queries see nothing; mhsld_detach() in the child only frees it.  A child
 * may attach heads of an inherited state itself.  (Only fork() through the C
 * library runs the handlers this needs; a raw clone() does not.) */
void mhsld_detach(mhsld_head *h);
uint32_t mhsld_head_index(const mhsld_head *h);
uint64_t mhsld_head_epoch(const mhsld_head *h);
mhsld_state *mhsld_head_state(mhsld_head *h);

/* Where a request ran into another holder (filled on MHSLD_E_CONFLICT and
 * MHSLD_E_NOT_OWNER). */
#define MHSLD_OWNER_NONE 0xFFFFFFFFu
#define MHSLD_OWNER_SHARED 0xFFFFFFFEu
typedef enum mhsld_block_state {
    MHSLD_BLOCK_FREE = 0,
    MHSLD_BLOCK_PENDING = 1,
    MHSLD_BLOCK_OWNED = 2,
    MHSLD_BLOCK_SHARED = 3
} mhsld_block_state;

typedef struct mhsld_conflict {
    uint64_t dpa;   /* first block that conflicts */
    uint32_t owner; /* its head, MHSLD_OWNER_SHARED or MHSLD_OWNER_NONE */
    uint32_t state; /* mhsld_block_state */
} mhsld_conflict;

/* All-or-nothing claim of `n` extents as PENDING for this head.  Any block
 * held by anyone (this head included), an overlap inside the request or any
 * invalid extent fails the whole request and leaves nothing behind.  On
 * success *group names the reservation (nonzero, unique for the head). */
mhsld_status mhsld_reserve(mhsld_head *h, const mhsld_extent *ext, size_t n, uint64_t *group,
                           mhsld_conflict *conflict);

/* All-or-nothing claim of `n` extents straight to OWNED by this head, in one
 * journalled operation: what mhsld_reserve() followed by mhsld_commit() of
 * everything does, without the pending stage (static capacity, a host that
 * takes memory for itself, a fabric manager's own bookkeeping).  Failure
 * rules and *conflict as for mhsld_reserve(); nothing is left behind. */
mhsld_status mhsld_claim(mhsld_head *h, const mhsld_extent *ext, size_t n,
                         mhsld_conflict *conflict);

/* Settle reservation `group`: the `n` accepted extents (block aligned,
 * inside the reservation, not overlapping; n may be 0) become OWNED, every
 * other block of the reservation becomes FREE, in one call. */
mhsld_status mhsld_commit(mhsld_head *h, uint64_t group, const mhsld_extent *acc, size_t n);

/* OWNED by this head -> FREE.  Releasing any block this head does not own
 * exclusively fails with MHSLD_E_NOT_OWNER and changes nothing. */
mhsld_status mhsld_release(mhsld_head *h, const mhsld_extent *ext, size_t n,
                           mhsld_conflict *conflict);

/* Release everything: cancel every pending reservation, release every owned
 * extent, leave every shared extent (device reset).  *freed_blocks optional. */
mhsld_status mhsld_release_all(mhsld_head *h, uint64_t *freed_blocks);

/* Pending reservations of this head, oldest first. */
mhsld_status mhsld_pending_oldest(const mhsld_head *h, uint64_t *group);
/* All pending reservations of this head, oldest first: up to cap ids into
 * groups, *n = how many there are (at most MHSLD_MAX_PENDING). */
mhsld_status mhsld_pending_list(const mhsld_head *h, uint64_t *groups, size_t cap, size_t *n);
/* Extents of pending reservation `group` (up to cap; *n = their number). */
mhsld_status mhsld_pending_get(const mhsld_head *h, uint64_t group, mhsld_extent *ext, size_t cap,
                               size_t *n);

/* Shared extents (regions with MHSLD_REGION_SHARABLE).  The first head
 * creates the extent (claiming its blocks, all-or-nothing); later heads with
 * the same range and tag join it (one CAS).  Heads adding the same new
 * extent at once: one creates it, the others wait for that creation and
 * join; an add that meets a shared extent being created or retired waits
 * for that to finish and then joins, creates or gets MHSLD_E_TAG, as in
 * some sequential order.  The wait is bounded: MHSLD_E_BUSY if the other
 * head died half-way and still needs recovery.  Blocks become FREE when the
 * last sharer leaves, unless the fabric manager holds a reference on the
 * extent's tag (mhsld_fm_ref_add below): then they stay allocated, with no
 * sharer, until the reference is removed.  mhsld_share_add() is
 * mhsld_share_add_seq() with Shared Extent Sequence 0. */
mhsld_status mhsld_share_add(mhsld_head *h, const mhsld_extent *ext,
                             const uint8_t tag[MHSLD_TAG_SIZE], mhsld_conflict *conflict);
/* The same with the extent's Shared Extent Sequence (CXL r3.1 DC extent
 * record: orders the extents of one tag; 16 bits on the wire).  The creator
 * sets it; a joiner must give the same one, else MHSLD_E_TAG (as for a
 * different tag).  Reported by mhsld_shared_list() and
 * mhsld_extents_get_seq(). */
mhsld_status mhsld_share_add_seq(mhsld_head *h, const mhsld_extent *ext,
                                 const uint8_t tag[MHSLD_TAG_SIZE], uint16_t seq,
                                 mhsld_conflict *conflict);
mhsld_status mhsld_share_release(mhsld_head *h, const mhsld_extent *ext);

/* Fabric-manager references on a tag (CXL r3.1 FM API 5606h/5607h).  The FM
 * is not a head: h is the head the call acts through (any attached head; the
 * last step of a removal is journalled in its journal, so a crash is
 * finished by its recovery like a last sharer's leave).  The reference is a
 * flag per shared extent (the FM holds at most one per tag), set on every
 * active shared extent carrying the tag.
 *   add:    MHSLD_OK, MHSLD_E_TAG (no active shared extent has the tag),
 *           MHSLD_E_EXISTS (the FM already holds a reference on every one)
 *   remove: MHSLD_OK, MHSLD_E_TAG (no such extent), MHSLD_E_NOT_OWNER (the
 *           FM holds no reference on it); an extent with no sharer left is
 *           retired and its blocks freed (*freed_blocks, optional, counts
 *           them). */
mhsld_status mhsld_fm_ref_add(mhsld_head *h, const uint8_t tag[MHSLD_TAG_SIZE]);
mhsld_status mhsld_fm_ref_remove(mhsld_head *h, const uint8_t tag[MHSLD_TAG_SIZE],
                                 uint64_t *freed_blocks);

/* May this head access every byte of [dpa, dpa+len)?  True only if every block
 * touched is OWNED by the head or SHARED with it.  Exact at block edges and
 * for unaligned or block-crossing accesses; false for len 0 or overflow.
 * O(1) (one load of the block table) for an access inside one exclusive
 * block.  Read-only; safe from any thread. */
bool mhsld_access_ok(const mhsld_head *h, uint64_t dpa, uint64_t len);
/* The same answer for any head of a state, without attaching it (tools that
 * observe a head a live process holds); false for a head out of range. */
bool mhsld_access_check(const mhsld_state *st, uint32_t head, uint64_t dpa, uint64_t len);

/* The access check's fast path, inlined from this header.
 *
 * Every mhsld_head begins with this view (filled by mhsld_attach, private to
 * the process, never in the shared mapping).  It describes DC region 0 and
 * where the head's owned map lies in the mapping: with r = (dpa - base) >>
 * shift the block's index inside region 0, bit (r & 63) of words[r >> 6] is
 * set while the head owns that block exclusively (region 0's first block
 * begins an owned-map word).  An access inside one block of region 0 that
 * the head owns exclusively is accessible, decided by that one load (the
 * same load and the same answer as mhsld_access_ok's first look, so just as
 * linearizable).  Anything else -- another region, a shared block, a range
 * across a block edge, a block not owned -- is answered by
 * mhsld_access_ok().  bsize == 0 means "no fast path": so it is in a handle
 * that fork() fenced in a child (every check there is false).  Read it only
 * through mhsld_access_ok_fast(); its fields are not an interface. */
typedef struct mhsld_access_view {
    const uint64_t *words; /* owned-map word of region 0's first block, in the mapping */
    uint64_t base;         /* DPA of DC region 0 */
    uint64_t bsize;        /* block size; 0: always the full check */
    uint64_t len;          /* length of region 0 in bytes (a multiple of bsize) */
    uint32_t shift;        /* log2 of the block size */
    uint64_t first;        /* block index of region 0's first block */
} mhsld_access_view;

/* Exactly mhsld_access_ok(h, dpa, len) for every argument (h non-NULL),
 * one owned-map load and no call when the range lies in one block of region
 * 0 that the head owns exclusively. */
static inline bool mhsld_access_ok_fast(const mhsld_head *h, uint64_t dpa, uint64_t len)
{
#if defined(__GNUC__) || defined(__clang__)
    const mhsld_access_view *v = (const mhsld_access_view *)(const void *)h;
    uint64_t off = dpa - v->base, n = len - 1;
    /* One block: 1 <= len <= bsize (n < bsize; len 0 wraps n) and both ends
     * in the same block (their offsets differ only below the block size).
     * Inside region 0: off < v->len, and v->len is a multiple of the block
     * size, so the last byte is inside too (and off + n cannot wrap). */
    if ((((off + n) ^ off) | n) < v->bsize && off < v->len) {
        uint64_t r = off >> v->shift;
        uint64_t own = __atomic_load_n(&v->words[r >> 6], __ATOMIC_ACQUIRE);
        if ((own >> (r & 63)) & 1)
            return true;
    }
#endif
    return mhsld_access_ok(h, dpa, len);
}

/* ---- recovery --------------------------------------------------------- */

#define MHSLD_RECOVER_DROP 0x0u /* free everything the dead head held */
#define MHSLD_RECOVER_KEEP 0x1u /* keep its committed and shared capacity */
#define MHSLD_RECOVER_FORCE                                                                        \
    0x2u /* recover even a live head (takes its baton, waiting                                     \
            up to 1 s for an operation in progress, then                                           \
            fences it) */

typedef struct mhsld_recover_report {
    uint32_t op;             /* journal op found (mhsld_op_name()), 0 = none */
    uint32_t rolled_back;    /* 1 if the op was undone */
    uint32_t rolled_forward; /* 1 if the op was completed */
    uint64_t blocks_freed;   /* blocks returned to FREE in total */
    uint64_t blocks_kept;    /* blocks still OWNED or PENDING for the head afterwards
                                (shared extents it still shares are not counted) */
} mhsld_recover_report;

/* Recover a dead head (MHSLD_E_ALIVE for a live one unless FORCE): finish or
 * undo its in-flight operation, then apply the DROP/KEEP policy.  A head
 * record whose sequences are out of range is refused (MHSLD_E_CORRUPT).
 * One recoverer at a time acts as a head: MHSLD_E_BUSY while another
 * mhsld_recover() of it, or an attach recovering it, is running (so FORCE
 * never runs beside a recoverer).  FORCE on a live head also takes the
 * head's baton (see mhsld_fm_force_release), so it never runs beside one of
 * the head's operations either: MHSLD_E_BUSY if the head stays inside one
 * for 1 s.  The fenced head's later calls answer MHSLD_E_STALE. */
mhsld_status mhsld_recover(mhsld_state *st, uint32_t head, uint32_t flags,
                           mhsld_recover_report *rep);
const char *mhsld_op_name(uint32_t op);

/* ---- information ------------------------------------------------------ */

typedef struct mhsld_head_info {
    uint32_t head;
    uint32_t alive;       /* liveness lock held by some process */
    uint32_t pid;         /* last attaching process */
    uint32_t inflight_op; /* journal op (0 = idle) */
    uint64_t epoch;       /* incarnation; 0 = never attached */
    uint64_t owned_blocks;
    uint64_t pending_blocks;
    uint64_t shared_blocks;
    uint32_t nr_pending;      /* pending reservations */
    uint32_t list_generation; /* changes whenever the head's extent list changes */
    uint64_t seqs_left;       /* operations the head may still make over the state's
                                 life (2^34 - 1 in all; each claim, reserve, commit,
                                 release, shared create or last leave takes one; at 0
                                 they fail with MHSLD_E_NOSPACE and the state must be
                                 re-created) */
} mhsld_head_info;

mhsld_status mhsld_head_info_get(mhsld_state *st, uint32_t head, mhsld_head_info *out);

typedef enum mhsld_extent_kind {
    MHSLD_EXT_OWNED = 0,   /* accepted exclusive extents */
    MHSLD_EXT_PENDING = 1, /* reserved, not yet accepted */
    MHSLD_EXT_SHARED = 2,  /* shared extents the head is a sharer of */
    MHSLD_EXT_ALL = 3      /* owned and shared, in DPA order (the host's DC extent list) */
} mhsld_extent_kind;

/* A head's extents of `kind` in DPA order, paged: skips `start` extents,
 * writes up to `cap` into ext (tags into tags[i] if tags is non-NULL),
 * *returned = number written, *total = number in the list, *generation =
 * list generation (each optional). */
mhsld_status mhsld_extents_get(mhsld_state *st, uint32_t head, uint32_t kind, size_t start,
                               mhsld_extent *ext, uint8_t (*tags)[MHSLD_TAG_SIZE], size_t cap,
                               size_t *returned, size_t *total, uint32_t *generation);
/* The same, with each extent's Shared Extent Sequence into seqs[i] (0 for
 * an exclusive extent) if seqs is non-NULL. */
mhsld_status mhsld_extents_get_seq(mhsld_state *st, uint32_t head, uint32_t kind, size_t start,
                                   mhsld_extent *ext, uint8_t (*tags)[MHSLD_TAG_SIZE],
                                   uint16_t *seqs, size_t cap, size_t *returned, size_t *total,
                                   uint32_t *generation);

typedef struct mhsld_block_info {
    uint64_t dpa;
    uint32_t state;        /* mhsld_block_state */
    uint32_t owner;        /* head, MHSLD_OWNER_SHARED or MHSLD_OWNER_NONE */
    uint32_t sharers;      /* bit mask of heads for SHARED blocks */
    uint32_t extent_start; /* first block of an extent */
    uint64_t generation;   /* changes on every transition of the block */
} mhsld_block_info;

uint64_t mhsld_block_count(const mhsld_state *st);
/* Block `index` (0 .. mhsld_block_count()-1, in DPA order over the regions). */
mhsld_status mhsld_block_info_get(mhsld_state *st, uint64_t index, mhsld_block_info *out);

typedef struct mhsld_shared_info {
    uint32_t slot;
    uint32_t sharers; /* bit mask */
    mhsld_extent ext;
    uint8_t tag[MHSLD_TAG_SIZE];
    uint16_t seq;   /* Shared Extent Sequence */
    uint8_t fm_ref; /* 1: the fabric manager holds a reference (sharers may be 0) */
    uint8_t pad;
} mhsld_shared_info;
/* Active shared extents: up to cap, *n = number written, *total = all. */
mhsld_status mhsld_shared_list(mhsld_state *st, mhsld_shared_info *out, size_t cap, size_t *n,
                               size_t *total);

/* Check every invariant of a quiescent state: header and geometry, every
 * held block (occupancy bit set) held exactly once -- by one head's owned
 * map, a recorded reservation, or an active shared extent's shared bytes --
 * and nothing else held, generations within their heads' sequences.  A
 * head with an operation in flight (a dead head not yet recovered) makes
 * it return MHSLD_E_BUSY naming the head; any
 * broken invariant is MHSLD_E_CORRUPT.  On failure writes one line saying
 * exactly what is wrong into msg (if msg is non-NULL). */
mhsld_status mhsld_validate(mhsld_state *st, char *msg, size_t msglen);

/* Size in bytes of a state with this geometry (0 if the geometry is invalid). */
uint64_t mhsld_state_size(const mhsld_geometry *g);

#ifdef __cplusplus
}
#endif
#endif /* MHSLD_MHSLD_H */
