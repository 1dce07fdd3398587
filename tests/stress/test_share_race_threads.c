/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Heads that add the same new shared extent at the same moment must all end
 * up sharers (one creates, the others join), and leaving at the same moment
 * must free it exactly once, with every freed block counted once (fuzz
 * findings K3, K4).  Threads released together by a barrier each round.
 */
#include <pthread.h>

#include "testutil.h"

#define THREADS 4u
#define ROUNDS 300u

static mhsld_state *gst;
static pthread_barrier_t bar;
static const uint8_t TAG[MHSLD_TAG_SIZE] = {0x5a, 1, 2, 3};
static uint64_t add_fail, freed_total;

static void *run(void *arg)
{
    uint32_t head = (uint32_t)(uintptr_t)arg;
    mhsld_head *h = NULL;
    REQUIRE(mhsld_attach(gst, head, MHSLD_ATTACH_DROP, &h) == MHSLD_OK);
    mhsld_extent e = {64 * BS, 8 * BS};
    for (uint32_t r = 0; r < ROUNDS; r++) {
        pthread_barrier_wait(&bar);
        mhsld_status s = mhsld_share_add(h, &e, TAG, NULL);
        if (s != MHSLD_OK) {
            fprintf(stderr, "head %u round %u: share_add: %s\n", head, r, mhsld_status_name(s));
            __atomic_fetch_add(&add_fail, 1, __ATOMIC_RELAXED);
        }
        pthread_barrier_wait(&bar);
        uint64_t freed = 0;
        REQUIRE(mhsld_release_all(h, &freed) == MHSLD_OK);
        __atomic_fetch_add(&freed_total, freed, __ATOMIC_RELAXED);
    }
    mhsld_detach(h);
    return NULL;
}

/* K5: adds racing with the last sharer's leave, no barrier: every add must
 * join, create or (never) conflict. */
static uint64_t race_conflicts;
static void *churn(void *arg)
{
    uint32_t head = (uint32_t)(uintptr_t)arg;
    mhsld_head *h = NULL;
    REQUIRE(mhsld_attach(gst, head, MHSLD_ATTACH_DROP, &h) == MHSLD_OK);
    mhsld_extent e = {96 * BS, 4 * BS};
    for (uint32_t r = 0; r < 2000; r++) {
        mhsld_status s = mhsld_share_add(h, &e, TAG, NULL);
        if (s != MHSLD_OK) {
            fprintf(stderr, "head %u: churn share_add: %s\n", head, mhsld_status_name(s));
            __atomic_fetch_add(&race_conflicts, 1, __ATOMIC_RELAXED);
            continue;
        }
        REQUIRE(mhsld_share_release(h, &e) == MHSLD_OK);
    }
    mhsld_detach(h);
    return NULL;
}

int main(void)
{
    char path[128];
    tu_path(path, sizeof(path), "sharerace");
    mhsld_geometry g;
    mhsld_geometry_init(&g, THREADS, BS, 0, 128 * BS);
    g.regions[0].flags = MHSLD_REGION_SHARABLE;
    gst = tu_create(path, &g);
    REQUIRE(pthread_barrier_init(&bar, NULL, THREADS) == 0);
    pthread_t t[THREADS];
    for (uint32_t i = 0; i < THREADS; i++)
        REQUIRE(pthread_create(&t[i], NULL, run, (void *)(uintptr_t)i) == 0);
    for (uint32_t i = 0; i < THREADS; i++)
        REQUIRE(pthread_join(t[i], NULL) == 0);
    for (uint32_t i = 0; i < THREADS; i++)
        REQUIRE(pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)i) == 0);
    for (uint32_t i = 0; i < THREADS; i++)
        REQUIRE(pthread_join(t[i], NULL) == 0);
    CHECK(race_conflicts == 0);
    CHECK(tu_block_state(gst, 96 * BS, NULL) == MHSLD_BLOCK_FREE);
    CHECK(add_fail == 0);
    CHECK(freed_total == (uint64_t)ROUNDS * 8); /* each round frees the 8 blocks once */
    CHECK(tu_block_state(gst, 64 * BS, NULL) == MHSLD_BLOCK_FREE);
    CHECK_VALID(gst);
    printf("share race: %u heads x %u rounds, %llu failed adds, %llu blocks freed\n", THREADS,
           ROUNDS, (unsigned long long)add_fail, (unsigned long long)freed_total);
    pthread_barrier_destroy(&bar);
    mhsld_close(gst);
    mhsld_destroy(path, true);
    return tu_report("test_share_race_threads");
}
