/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Threaded stress: THREADS threads, each its own head on one mapping, mix
 * random work with a hot spot they all fight over.  Whoever wins the hot
 * extent counts itself in; two holders at once is a violation.  Built and
 * run under ThreadSanitizer as well (the engine then uses __atomic builtins
 * that TSan sees), where any data race in the engine fails the run.
 */
#include <pthread.h>

#include "stress_worker.h"

#define THREADS 4u
#define OPS 4000u

static mhsld_state *gst;
static int holders;
static uint64_t hot_wins, hot_violations;

static void *run(void *arg)
{
    uint32_t head = (uint32_t)(uintptr_t)arg;
    static sw ws[THREADS];
    sw *w = &ws[head];
    w->st = gst;
    w->head = head;
    w->rng = 0x51ed270b27a1ull * (head + 1);
    REQUIRE(mhsld_attach(gst, head, MHSLD_ATTACH_DROP, &w->h) == MHSLD_OK);
    mhsld_extent hot = tu_ext((SW_BLOCKS - 8) * BS, 8 * BS); /* outside the random area */
    for (uint32_t i = 0; i < OPS; i++) {
        if (sw_rand(w) % 8 == 0) {
            uint64_t g;
            if (mhsld_reserve(w->h, &hot, 1, &g, NULL) == MHSLD_OK) {
                REQUIRE(mhsld_commit(w->h, g, &hot, 1) == MHSLD_OK);
                if (__atomic_fetch_add(&holders, 1, __ATOMIC_SEQ_CST) != 0)
                    __atomic_fetch_add(&hot_violations, 1, __ATOMIC_RELAXED);
                __atomic_fetch_add(&hot_wins, 1, __ATOMIC_RELAXED);
                __atomic_fetch_sub(&holders, 1, __ATOMIC_SEQ_CST);
                REQUIRE(mhsld_release(w->h, &hot, 1, NULL) == MHSLD_OK);
            }
        } else {
            sw_step(w, 24);
        }
    }
    return w;
}

int main(void)
{
    char path[128];
    tu_path(path, sizeof(path), "threads");
    mhsld_geometry g;
    mhsld_geometry_init(&g, THREADS, BS, 0, (uint64_t)SW_BLOCKS * BS);
    gst = tu_create(path, &g);
    pthread_t t[THREADS];
    for (uint32_t i = 0; i < THREADS; i++)
        REQUIRE(pthread_create(&t[i], NULL, run, (void *)(uintptr_t)i) == 0);
    uint64_t ops = 0, viol = 0;
    for (uint32_t i = 0; i < THREADS; i++) {
        void *ret;
        REQUIRE(pthread_join(t[i], &ret) == 0);
        sw *w = ret;
        mhsld_head_info hi;
        CHECK_OK(mhsld_head_info_get(gst, i, &hi));
        CHECK(hi.owned_blocks == sw_owned_count(w));
        ops += w->s.ops;
        viol += w->s.violations;
        mhsld_detach(w->h);
    }
    CHECK_VALID(gst);
    CHECK(viol == 0 && hot_violations == 0 && hot_wins > 0);
    printf("threads: %u heads, %llu operations, %llu hot-spot wins, %llu violations\n", THREADS,
           (unsigned long long)ops, (unsigned long long)hot_wins,
           (unsigned long long)(viol + hot_violations));
    mhsld_close(gst);
    mhsld_destroy(path, true);
    return tu_report("test_stress_threads");
}
