/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * force_recover STATE HEAD: recover a head of STATE from outside, even while
 * a live process (a QEMU instance) has it attached (MHSLD_RECOVER_FORCE):
 * the head is fenced and everything it held is freed.  Used by the QEMU
 * scenarios to show that the device's access check is the engine's.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "mhsld/mhsld.h"

int main(int argc, char **argv)
{
    mhsld_open_opts o = { .size = sizeof(o), .mode = MHSLD_OPEN_EXISTING };
    mhsld_recover_report rep;
    mhsld_state *st = NULL;
    mhsld_status rc;
    char *end;
    unsigned long head;

    if (argc != 3) {
        fprintf(stderr, "usage: %s STATE HEAD\n", argv[0]);
        return 2;
    }
    errno = 0;
    head = strtoul(argv[2], &end, 10);
    if (errno || *end || end == argv[2] || head >= MHSLD_MAX_HEADS) {
        fprintf(stderr, "%s: bad head '%s'\n", argv[0], argv[2]);
        return 2;
    }
    o.path = argv[1];
    rc = mhsld_open(&o, &st);
    if (rc != MHSLD_OK) {
        fprintf(stderr, "%s: open %s: %s\n", argv[0], argv[1], mhsld_strerror(rc));
        return 1;
    }
    rc = mhsld_recover(st, (uint32_t)head, MHSLD_RECOVER_DROP | MHSLD_RECOVER_FORCE, &rep);
    if (rc != MHSLD_OK) {
        fprintf(stderr, "%s: recover head %lu: %s\n", argv[0], head, mhsld_strerror(rc));
        mhsld_close(st);
        return 1;
    }
    printf("head %lu: %" PRIu64 " blocks freed\n", head, rep.blocks_freed);
    mhsld_close(st);
    return 0;
}
