/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * state_tool: what the QEMU scenarios do to a shared state from outside QEMU,
 * through libmhsld's public API.
 *
 *   state_tool validate STATE       check every invariant (mhsld_validate);
 *                                   run after each scenario, heads idle
 *   state_tool recover STATE HEAD   recover HEAD even while a live process
 *                                   (a QEMU instance) has it attached: it is
 *                                   fenced and everything it held is freed
 *   state_tool serve STATE          read commands from stdin, one a line, and
 *                                   answer each with one line (the attack
 *                                   suite asks after every request):
 *                                     validate  "ok" or "bad: REASON"
 *                                     dump      every head's owned, pending
 *                                               and shared extents and list
 *                                               generation, or "error: ..."
 *   state_tool fmq-region STATE HEAD
 *                                   "OFFSET LENGTH": where HEAD's fabric-
 *                                   manager request queue lies in the state
 *                                   file (the one use of the engine's
 *                                   internal layout: for the co-tenant that
 *                                   scribbles over it in scenarios_fm.py)
 *   state_tool fm-offer-time STATE HEAD DPA LEN
 *                                   post one FM offer (mhsld_fm_submit, 10 s)
 *                                   and print "STATUS ANSWER MICROSECONDS":
 *                                   the queue's round trip without a process
 *                                   start-up (fm_latency in scenarios_fm.py)
 *
 * Exit status: 0 ok, 1 the engine refused or found a problem, 2 usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "mhsld/fm.h"
#include "mhsld/mhsld.h"

static int usage(const char *prog)
{
    fprintf(stderr, "usage: %s validate STATE | recover STATE HEAD | serve STATE | "
            "fmq-region STATE HEAD | fm-offer-time STATE HEAD DPA LEN\n", prog);
    return 2;
}

/* One kind of a head's extent list as " [dpa+len,...]". */
static int dump_list(mhsld_state *st, uint32_t head, uint32_t kind)
{
    mhsld_extent *ext;
    size_t n = 0, total = 0, i;
    mhsld_status rc;

    rc = mhsld_extents_get(st, head, kind, 0, NULL, NULL, 0, NULL, &total, NULL);
    if (rc != MHSLD_OK) {
        return -1;
    }
    ext = calloc(total + 1, sizeof(*ext));
    if (!ext) {
        return -1;
    }
    rc = mhsld_extents_get(st, head, kind, 0, ext, NULL, total + 1, &n, &total, NULL);
    if (rc != MHSLD_OK) {
        free(ext);
        return -1;
    }
    printf(" [");
    for (i = 0; i < n; i++) {
        printf("%s%" PRIx64 "+%" PRIx64, i ? "," : "", ext[i].dpa, ext[i].len);
    }
    printf("]");
    free(ext);
    return 0;
}

/* Every head: "hN gen G owned [..] pending [..] shared [..];" on one line. */
static void do_dump(mhsld_state *st)
{
    mhsld_geometry g;
    mhsld_head_info hi;
    uint32_t h;

    memset(&g, 0, sizeof(g));
    g.size = sizeof(g);
    if (mhsld_get_geometry(st, &g) != MHSLD_OK) {
        printf("error: geometry\n");
        return;
    }
    for (h = 0; h < g.nr_heads; h++) {
        memset(&hi, 0, sizeof(hi));
        if (mhsld_head_info_get(st, h, &hi) != MHSLD_OK) {
            printf("error: head %" PRIu32 "\n", h);
            return;
        }
        printf("h%" PRIu32 " gen %" PRIu32 " npend %" PRIu32, h, hi.list_generation,
               hi.nr_pending);
        if (dump_list(st, h, MHSLD_EXT_OWNED) || dump_list(st, h, MHSLD_EXT_PENDING) ||
            dump_list(st, h, MHSLD_EXT_SHARED)) {
            printf(" error: extents\n");
            return;
        }
        printf(";");
    }
    printf("\n");
}

static int do_serve(mhsld_state *st)
{
    char line[64], msg[256];
    mhsld_status rc;

    while (fgets(line, sizeof(line), stdin)) {
        if (strcmp(line, "validate\n") == 0) {
            rc = mhsld_validate(st, msg, sizeof(msg));
            if (rc == MHSLD_OK) {
                printf("ok\n");
            } else {
                msg[sizeof(msg) - 1] = '\0';
                printf("bad: %s: %s\n", mhsld_strerror(rc), msg);
            }
        } else if (strcmp(line, "dump\n") == 0) {
            do_dump(st);
        } else {
            printf("error: unknown command\n");
        }
        fflush(stdout);
    }
    return 0;
}

static int do_validate(const char *prog, mhsld_state *st)
{
    char msg[256];
    mhsld_status rc = mhsld_validate(st, msg, sizeof(msg));

    if (rc != MHSLD_OK) {
        fprintf(stderr, "%s: invalid state: %s: %s\n", prog, mhsld_strerror(rc), msg);
        return 1;
    }
    printf("state valid\n");
    return 0;
}

static int do_recover(const char *prog, mhsld_state *st, const char *arg)
{
    mhsld_recover_report rep;
    mhsld_status rc;
    unsigned long head;
    char *end;

    errno = 0;
    head = strtoul(arg, &end, 10);
    if (errno || *end || end == arg || head >= MHSLD_MAX_HEADS) {
        fprintf(stderr, "%s: bad head '%s'\n", prog, arg);
        return 2;
    }
    rc = mhsld_recover(st, (uint32_t)head, MHSLD_RECOVER_DROP | MHSLD_RECOVER_FORCE, &rep);
    if (rc != MHSLD_OK) {
        fprintf(stderr, "%s: recover head %lu: %s\n", prog, head, mhsld_strerror(rc));
        return 1;
    }
    printf("head %lu: %" PRIu64 " blocks freed\n", head, rep.blocks_freed);
    return 0;
}

static int do_fmq_region(const char *prog, mhsld_state *st, const char *arg)
{
    mhsld_geometry g = { .size = sizeof(g) };
    char *end;
    unsigned long head = strtoul(arg, &end, 10);

    if (*arg == '\0' || *end != '\0' || mhsld_get_geometry(st, &g) != MHSLD_OK ||
        head >= g.nr_heads) {
        fprintf(stderr, "%s: bad head '%s'\n", prog, arg);
        return 2;
    }
    printf("%" PRIu64 " %zu\n", st->lay.fmq_off + head * sizeof(mhsld__fmq),
           sizeof(mhsld__fmq));
    return 0;
}

static int do_fm_offer_time(mhsld_state *st, char **argv)
{
    static mhsld_fm_request req;
    static mhsld_fm_result res;
    struct timespec t0, t1;
    mhsld_status rc;

    req.kind = MHSLD_FM_OFFER;
    req.n = 1;
    req.ext[0].dpa = strtoull(argv[4], NULL, 0);
    req.ext[0].len = strtoull(argv[5], NULL, 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = mhsld_fm_submit(st, (uint32_t)strtoul(argv[3], NULL, 10), &req, 10000, &res);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%s %s %" PRId64 "\n", mhsld_status_name(rc),
           rc == MHSLD_OK ? mhsld_status_name((mhsld_status)res.status) : "-",
           (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000);
    return rc == MHSLD_OK && res.status == MHSLD_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
    mhsld_open_opts o = { .size = sizeof(o), .mode = MHSLD_OPEN_EXISTING };
    mhsld_state *st = NULL;
    mhsld_status rc;
    int ret;

    if (argc < 3 || (strcmp(argv[1], "validate") == 0 && argc != 3) ||
        (strcmp(argv[1], "serve") == 0 && argc != 3) ||
        (strcmp(argv[1], "recover") == 0 && argc != 4) ||
        (strcmp(argv[1], "fmq-region") == 0 && argc != 4) ||
        (strcmp(argv[1], "fm-offer-time") == 0 && argc != 6) ||
        (strcmp(argv[1], "validate") != 0 && strcmp(argv[1], "recover") != 0 &&
         strcmp(argv[1], "serve") != 0 && strcmp(argv[1], "fmq-region") != 0 &&
         strcmp(argv[1], "fm-offer-time") != 0)) {
        return usage(argv[0]);
    }
    o.path = argv[2];
    rc = mhsld_open(&o, &st);
    if (rc != MHSLD_OK) {
        fprintf(stderr, "%s: open %s: %s\n", argv[0], argv[2], mhsld_strerror(rc));
        return 1;
    }
    if (strcmp(argv[1], "validate") == 0) {
        ret = do_validate(argv[0], st);
    } else if (strcmp(argv[1], "serve") == 0) {
        ret = do_serve(st);
    } else if (strcmp(argv[1], "fm-offer-time") == 0) {
        ret = do_fm_offer_time(st, argv);
    } else if (strcmp(argv[1], "fmq-region") == 0) {
        ret = do_fmq_region(argv[0], st, argv[3]);
    } else {
        ret = do_recover(argv[0], st, argv[3]);
    }
    mhsld_close(st);
    return ret;
}
