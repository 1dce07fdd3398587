/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The FM queue with threads of one process (what ThreadSanitizer runs): a
 * serving thread (mhsld_fm_wait / take / complete, as the QEMU device's) and
 * several poster threads submitting concurrently; every poster gets the
 * answer to its own request, nothing is lost or answered twice, and
 * mhsld_fm_kick() ends the serving thread's wait at once.
 */
#include <pthread.h>
#include <time.h>

#include "mhsld/fm.h"
#include "testutil.h"

#define NBLK 64
#define POSTERS 3
#define PER_POSTER 150

static mhsld_state *st;
static mhsld_head *h;
static int stop;
static unsigned served;

static uint64_t ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static mhsld_fm_request mkreq(uint32_t who, uint32_t i)
{
    mhsld_fm_request r;
    memset(&r, 0, sizeof(r));
    r.kind = 1 + (who + i) % 3; /* OFFER, RELEASE, MBOX */
    if (r.kind == MHSLD_FM_MBOX) {
        r.opcode = MHSLD_MBOX_OP_GET_HEAD_INFO;
        r.len = 8;
        memcpy(r.payload, &i, sizeof(i));
        memcpy(r.payload + 4, &who, sizeof(who));
    } else {
        r.n = 1;
        r.ext[0] = tu_ext((uint64_t)(i % NBLK) * BS, BS);
        r.tag[0] = (uint8_t)who;
        r.tag[1] = (uint8_t)i;
        r.tag[2] = (uint8_t)(i >> 8);
    }
    return r;
}

/* The answer identifies the request it answers. */
static uint64_t ident(const mhsld_fm_request *r)
{
    if (r->kind == MHSLD_FM_MBOX) {
        uint32_t i, who;
        memcpy(&i, r->payload, 4);
        memcpy(&who, r->payload + 4, 4);
        return ((uint64_t)who << 32) | i;
    }
    return ((uint64_t)r->tag[0] << 32) | (uint64_t)(r->tag[1] | r->tag[2] << 8);
}

static void *server(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        mhsld_status s = mhsld_fm_wait(h, 10000);
        REQUIRE(s == MHSLD_OK || s == MHSLD_E_TIMEDOUT);
        uint32_t slot;
        mhsld_fm_request got;
        while (mhsld_fm_take(h, &slot, &got) == MHSLD_OK) {
            mhsld_fm_result a;
            memset(&a, 0, sizeof(a));
            a.group = ident(&got);
            a.cxl_rc = got.kind;
            if (mhsld_fm_complete(h, slot, &a) == MHSLD_OK)
                __atomic_fetch_add(&served, 1, __ATOMIC_RELAXED);
        }
    }
    return NULL;
}

static int bad[POSTERS];

static void *poster(void *arg)
{
    uint32_t who = (uint32_t)(uintptr_t)arg;
    for (uint32_t i = 0; i < PER_POSTER; i++) {
        mhsld_fm_request r = mkreq(who, i);
        mhsld_fm_result res;
        mhsld_status s;
        do /* all slots may be in use by the other posters for a moment */
            s = mhsld_fm_submit(st, 0, &r, 10000, &res);
        while (s == MHSLD_E_NOSPACE);
        if (s != MHSLD_OK || res.group != ident(&r) || res.cxl_rc != r.kind) {
            if (!bad[who])
                fprintf(stderr, "poster %u request %u: rc %u kind %u %s answer %llx for %llx\n",
                        who, i, res.cxl_rc, r.kind, mhsld_status_name(s),
                        (unsigned long long)res.group, (unsigned long long)ident(&r));
            bad[who]++;
        }
    }
    return NULL;
}

int main(void)
{
    char path[128];
    tu_path(path, sizeof(path), "fmqthr");
    mhsld_geometry g;
    mhsld_geometry_init(&g, 2, BS, 0, NBLK * BS);
    st = tu_create(path, &g);
    h = tu_attach(st, 0);
    pthread_t srv, p[POSTERS];
    REQUIRE(pthread_create(&srv, NULL, server, NULL) == 0);
    for (uintptr_t i = 0; i < POSTERS; i++)
        REQUIRE(pthread_create(&p[i], NULL, poster, (void *)i) == 0);
    for (int i = 0; i < POSTERS; i++) {
        pthread_join(p[i], NULL);
        CHECK(bad[i] == 0);
    }
    /* The serving thread now waits (10 s timeout): a kick ends it at once. */
    uint64_t t0 = ms_now();
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    mhsld_fm_kick(h);
    pthread_join(srv, NULL);
    CHECK(ms_now() - t0 < 5000);
    /* Counted once the server stopped: a poster has its answer as soon as
     * mhsld_fm_complete() publishes it, before the server counts it. */
    CHECK(__atomic_load_n(&served, __ATOMIC_RELAXED) == POSTERS * PER_POSTER);
    CHECK_VALID(st);
    mhsld_detach(h);
    mhsld_close(st);
    mhsld_destroy(path, true);
    return tu_report("test_fmq_threads");
}
