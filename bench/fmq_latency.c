/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mhsld_fmq_latency: round-trip latency of the fabric-manager queue
 * (mhsld/fm.h), submit -> take -> complete -> the poster has the answer,
 * with the head serving as the QEMU device's thread does (mhsld_fm_wait on
 * the doorbell futex, then take/complete until the queue is empty):
 *   in-process     the head serves from a thread of this process
 *   cross-process  the head serves from a forked process
 * Prints the median, 90th and 99th percentiles of N round trips (one
 * request in flight at a time), after a warm-up.
 *
 *   mhsld_fmq_latency [N]      (default 20000)
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mhsld/fm.h"
#include "mhsld/mhsld.h"

#define BS (2ull << 20)

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int stop;

static void serve(mhsld_head *h)
{
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        (void)mhsld_fm_wait(h, 1000);
        uint32_t slot;
        mhsld_fm_request got;
        while (mhsld_fm_take(h, &slot, &got) == MHSLD_OK) {
            mhsld_fm_result a;
            memset(&a, 0, sizeof(a));
            a.group = got.ext[0].dpa;
            (void)mhsld_fm_complete(h, slot, &a);
        }
    }
}

static void *serve_thread(void *arg)
{
    serve(arg);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int run(mhsld_state *st, const char *what, size_t n)
{
    uint64_t *lat = calloc(n, sizeof(*lat));
    if (!lat)
        return 1;
    mhsld_fm_request r;
    memset(&r, 0, sizeof(r));
    r.kind = MHSLD_FM_OFFER;
    r.n = 1;
    mhsld_fm_result res;
    for (size_t i = 0; i < n + n / 10; i++) {
        r.ext[0].dpa = (i % 32) * BS;
        r.ext[0].len = BS;
        uint64_t t0 = now_ns();
        mhsld_status s = mhsld_fm_submit(st, 0, &r, 5000, &res);
        uint64_t t1 = now_ns();
        if (s != MHSLD_OK || res.group != r.ext[0].dpa) {
            fprintf(stderr, "%s: round trip %zu: %s\n", what, i, mhsld_status_name(s));
            free(lat);
            return 1;
        }
        if (i >= n / 10) /* after the warm-up */
            lat[i - n / 10] = t1 - t0;
    }
    qsort(lat, n, sizeof(*lat), cmp);
    printf("%-14s n=%zu  median %6.1f us  p90 %6.1f us  p99 %6.1f us\n", what, n,
           (double)lat[n / 2] / 1e3, (double)lat[n * 9 / 10] / 1e3,
           (double)lat[n * 99 / 100] / 1e3);
    free(lat);
    return 0;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)strtoul(argv[1], NULL, 0) : 20000;
    if (n < 10)
        n = 10;
    char path[96];
    snprintf(path, sizeof(path), "/dev/shm/mhsld-fmqbench-%d", (int)getpid());
    mhsld_geometry g;
    mhsld_geometry_init(&g, 2, BS, 0, 32 * BS);
    mhsld_open_opts o = {
        .size = sizeof(o), .mode = MHSLD_OPEN_CREATE, .path = path, .geometry = &g};
    mhsld_state *st = NULL;
    if (mhsld_open(&o, &st) != MHSLD_OK) {
        fprintf(stderr, "cannot create %s\n", path);
        return 1;
    }
    int rc = 0;
    /* in-process: the head serves from a thread */
    mhsld_head *h = NULL;
    if (mhsld_attach(st, 0, 0, &h) != MHSLD_OK)
        return 1;
    pthread_t t;
    pthread_create(&t, NULL, serve_thread, h);
    rc |= run(st, "in-process", n);
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    mhsld_fm_kick(h);
    pthread_join(t, NULL);
    mhsld_detach(h);
    /* cross-process: a forked head */
    __atomic_store_n(&stop, 0, __ATOMIC_RELEASE);
    int pfd[2];
    if (pipe(pfd) != 0)
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        mhsld_head *c = NULL;
        if (mhsld_attach(st, 0, 0, &c) != MHSLD_OK)
            _exit(3);
        if (write(pfd[1], "a", 1) != 1)
            _exit(4);
        serve(c); /* until killed */
        _exit(0);
    }
    char ch;
    if (pid < 0 || read(pfd[0], &ch, 1) != 1)
        return 1;
    rc |= run(st, "cross-process", n);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    mhsld_close(st);
    mhsld_destroy(path, true);
    return rc;
}
