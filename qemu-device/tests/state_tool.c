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
 *
 * Exit status: 0 ok, 1 the engine refused or found a problem, 2 usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mhsld/mhsld.h"

static int usage(const char *prog)
{
    fprintf(stderr, "usage: %s validate STATE | recover STATE HEAD\n", prog);
    return 2;
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

int main(int argc, char **argv)
{
    mhsld_open_opts o = { .size = sizeof(o), .mode = MHSLD_OPEN_EXISTING };
    mhsld_state *st = NULL;
    mhsld_status rc;
    int ret;

    if (argc < 3 || (strcmp(argv[1], "validate") == 0 && argc != 3) ||
        (strcmp(argv[1], "recover") == 0 && argc != 4) ||
        (strcmp(argv[1], "validate") != 0 && strcmp(argv[1], "recover") != 0)) {
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
    } else {
        ret = do_recover(argv[0], st, argv[3]);
    }
    mhsld_close(st);
    return ret;
}
