/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The one place where libmhsld touches atomics.
 *
 * Backends (chosen by the build, see engine/CMakeLists.txt):
 *   MHSLD_ATOMICS_CK        ck_pr with its x86-64 inline assembly (production).
 *   MHSLD_ATOMICS_BUILTINS  ck_pr with CK_USE_CC_BUILTINS=1: ck's compiler
 *                           builtin backend, so ASan/MSan see every access.
 *   MHSLD_ATOMICS_C11       GCC/Clang __atomic builtins; forced under
 *                           ThreadSanitizer, which cannot see ck's inline
 *                           assembly and would report false races.
 *
 * Every shared-memory transition is one of: a 64-bit load or store, a 64-bit
 * compare-and-swap or exchange, or a 128-bit compare-and-swap of an aligned pair
 * (ck_pr_cas_64_2; ck's builtin backend lacks it, so that mode uses the
 * __atomic 16-byte CAS, which needs -mcx16).
 *
 * Caveat of the C11 backend under ThreadSanitizer: TSan's runtime emulates
 * 128-bit atomics with a lock private to each process, so a TSan build is
 * correct for heads that are threads of one process but NOT for heads in
 * several processes (observed: a multi-process stress run left an
 * occupancy bit set on a free block).  Never mix a TSan build with other
 * processes on one state; the project runs its multi-process tests in the
 * ck (production) and builtins backends only.
 */
#ifndef MHSLD_ATOMICS_H
#define MHSLD_ATOMICS_H

#include <stdbool.h>
#include <stdint.h>

#if defined(__SANITIZE_THREAD__)
#define MHSLD__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MHSLD__TSAN 1
#endif
#endif

#if defined(MHSLD__TSAN) && !defined(MHSLD_ATOMICS_C11)
#undef MHSLD_ATOMICS_CK
#undef MHSLD_ATOMICS_BUILTINS
#define MHSLD_ATOMICS_C11 1
#endif

#if !defined(MHSLD_ATOMICS_C11) && !defined(MHSLD_ATOMICS_BUILTINS) && !defined(MHSLD_ATOMICS_CK)
#define MHSLD_ATOMICS_CK 1
#endif

/* A 16-byte aligned pair updated as one unit. */
typedef struct mhsld__pair {
    uint64_t lo;
    uint64_t hi;
} __attribute__((aligned(16))) mhsld__pair;

#if defined(MHSLD_ATOMICS_C11)

static inline uint64_t mhsld__load64(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static inline uint32_t mhsld__load32(const uint32_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static inline void mhsld__store64(uint64_t *p, uint64_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}
static inline void mhsld__store32(uint32_t *p, uint32_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}
/* No ordering of its own: for runs of block words ordered by a later CAS. */
static inline void mhsld__store64_relaxed(uint64_t *p, uint64_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}
static inline void mhsld__store32_relaxed(uint32_t *p, uint32_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}
/* Single-copy atomic, unordered: for snapshots (snapshot.c). */
static inline uint64_t mhsld__load64_relaxed(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}
static inline uint32_t mhsld__load32_relaxed(const uint32_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}
/* Shared bytes (one per block): acquire loads, release stores. */
static inline uint8_t mhsld__load8(const uint8_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static inline void mhsld__store8(uint8_t *p, uint8_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}
static inline bool mhsld__cas64(uint64_t *p, uint64_t old, uint64_t nv)
{
    return __atomic_compare_exchange_n(p, &old, nv, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}
static inline void mhsld__fence(void)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}
/* Exchange, full barrier (a fenced baton entry). */
static inline uint64_t mhsld__swap64(uint64_t *p, uint64_t v)
{
    return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);
}
/* Orders nothing between CPUs: keeps the compiler from moving memory
 * accesses across it (the baton's membarrier handshake, fmforce.c). */
static inline void mhsld__compiler_barrier(void)
{
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}
/* Fetch-and-add, full barrier (the FM queue's doorbell and tickets). */
static inline uint32_t mhsld__faa32(uint32_t *p, uint32_t v)
{
    return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
}
static inline uint64_t mhsld__faa64(uint64_t *p, uint64_t v)
{
    return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
}

#else /* ck_pr, asm or builtins backend */

#if defined(MHSLD_ATOMICS_BUILTINS) && !defined(CK_USE_CC_BUILTINS)
#define CK_USE_CC_BUILTINS 1
#endif
#include <ck_pr.h>

static inline uint64_t mhsld__load64(const uint64_t *p)
{
    uint64_t v = ck_pr_load_64(p);
    ck_pr_fence_load();
    return v;
}
static inline uint32_t mhsld__load32(const uint32_t *p)
{
    uint32_t v = ck_pr_load_32(p);
    ck_pr_fence_load();
    return v;
}
static inline void mhsld__store64(uint64_t *p, uint64_t v)
{
    ck_pr_fence_store();
    ck_pr_store_64(p, v);
}
static inline void mhsld__store32(uint32_t *p, uint32_t v)
{
    ck_pr_fence_store();
    ck_pr_store_32(p, v);
}
static inline void mhsld__store64_relaxed(uint64_t *p, uint64_t v)
{
    ck_pr_store_64(p, v);
}
static inline void mhsld__store32_relaxed(uint32_t *p, uint32_t v)
{
    ck_pr_store_32(p, v);
}
static inline uint64_t mhsld__load64_relaxed(const uint64_t *p)
{
    return ck_pr_load_64(p);
}
static inline uint32_t mhsld__load32_relaxed(const uint32_t *p)
{
    return ck_pr_load_32(p);
}
static inline uint8_t mhsld__load8(const uint8_t *p)
{
    uint8_t v = ck_pr_load_8(p);
    ck_pr_fence_load();
    return v;
}
static inline void mhsld__store8(uint8_t *p, uint8_t v)
{
    ck_pr_fence_store();
    ck_pr_store_8(p, v);
}
/* The stores before a compare-and-swap are visible before it (the evidence
 * store before the pair's CAS, a map bit cleared before the give-back,
 * proto.c).  ck's CAS is a full barrier on x86 (lock prefix), where this
 * fence is only a compiler barrier; on a weakly ordered CPU it is not. */
static inline bool mhsld__cas64(uint64_t *p, uint64_t old, uint64_t nv)
{
    ck_pr_fence_store_atomic();
    return ck_pr_cas_64(p, old, nv);
}
static inline void mhsld__fence(void)
{
    ck_pr_fence_memory();
}
static inline uint64_t mhsld__swap64(uint64_t *p, uint64_t v)
{
    return ck_pr_fas_64(p, v);
}
static inline void mhsld__compiler_barrier(void)
{
    ck_pr_barrier();
}
static inline uint32_t mhsld__faa32(uint32_t *p, uint32_t v)
{
    return ck_pr_faa_32(p, v);
}
static inline uint64_t mhsld__faa64(uint64_t *p, uint64_t v)
{
    return ck_pr_faa_64(p, v);
}

#endif

/* A spin-wait hint. */
static inline void mhsld__pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}

/* 128-bit compare-and-swap of an aligned pair. */
static inline bool mhsld__cas128(mhsld__pair *p, mhsld__pair old, mhsld__pair nv)
{
#if defined(MHSLD_ATOMICS_CK) && defined(CK_F_PR_CAS_64_2)
    uint64_t cmp[2] = {old.lo, old.hi};
    uint64_t set[2] = {nv.lo, nv.hi};
    ck_pr_fence_store_atomic(); /* as in mhsld__cas64 */
    return ck_pr_cas_64_2((uint64_t *)(void *)p, cmp, set);
#else
    unsigned __int128 o = ((unsigned __int128)old.hi << 64) | old.lo;
    unsigned __int128 n = ((unsigned __int128)nv.hi << 64) | nv.lo;
    return __atomic_compare_exchange_n((unsigned __int128 *)(void *)p, &o, n, false,
                                       __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
#endif
}

/* A plain store of a whole aligned pair, for the one case where nobody but
 * the storing head can write the pair (proto.c, occ_clear_t: a word whose 64
 * bits the head holds all of): it replaces a lock cmpxchg16b (about 8 ns) by
 * one store.  It must be one 16-byte access, never two 8-byte ones: between
 * two halves another head's CAS could land and keep the new tag with its own
 * bits.  Aligned 16-byte SSE stores are single accesses on Intel and AMD
 * processors that support AVX (both vendors document it; GCC's libatomic
 * implements its 16-byte atomic store the same way on them), so it is used
 * only there, in the production (ck) backend on x86-64, decided once at open
 * (mhsld__store_pair_ok; MHSLD_NO_PAIR_STORE=1 in the environment turns it
 * off, for an emulated CPU that reports AVX but splits such stores);
 * everywhere else the caller keeps the CAS, and the sanitizer backends see
 * only the CAS. */
#if defined(MHSLD_ATOMICS_CK) && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
static inline int mhsld__store_pair_ok(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx") && (__builtin_cpu_is("intel") || __builtin_cpu_is("amd"));
}
static inline void mhsld__store_pair(mhsld__pair *p, mhsld__pair v)
{
    typedef long long mhsld__v2di __attribute__((vector_size(16)));
    mhsld__v2di x = {(long long)v.lo, (long long)v.hi};
    __asm__ __volatile__("movdqa %1, %0" : "=m"(*p) : "x"(x) : "memory");
}
#else
static inline int mhsld__store_pair_ok(void)
{
    return 0;
}
static inline void mhsld__store_pair(mhsld__pair *p, mhsld__pair v)
{
    (void)p;
    (void)v;
}
#endif

/* A possibly torn snapshot of a pair: good enough as the expected value of
 * mhsld__cas128(), which fails (and the caller re-reads) if it was torn. */
static inline mhsld__pair mhsld__load_pair(const mhsld__pair *p)
{
    mhsld__pair v;
    v.lo = mhsld__load64(&p->lo);
    v.hi = mhsld__load64(&p->hi);
    return v;
}

#endif /* MHSLD_ATOMICS_H */
