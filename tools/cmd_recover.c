/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mhsldctl recover: finish or undo a dead head's in-flight operation and
 * drop or keep what it held.
 */
#define _POSIX_C_SOURCE 200809L

#include "cmd.h"

#include <inttypes.h>
#include <string.h>

int verb_recover(struct cmd *c)
{
    mhsld_recover_report rep;
    mhsld_geometry g;
    mhsld_state *st;
    mhsld_status s;
    uint32_t head, flags = MHSLD_RECOVER_DROP;
    char t[CTL_ERRLEN];
    int rc;

    if ((rc = ctl_opt_head(c, &head)) != 0)
        return rc;
    if (ctl_has(c, O_KEEP) && ctl_has(c, O_DROP))
        return ctl_usage(c, "--keep and --drop exclude each other");
    if (ctl_has(c, O_KEEP))
        flags = MHSLD_RECOVER_KEEP;
    if (ctl_has(c, O_FORCE))
        flags |= MHSLD_RECOVER_FORCE;
    if ((rc = ctl_open_state(c, MHSLD_OPEN_EXISTING, NULL, &st, NULL)) != 0)
        return rc;
    if ((rc = ctl_check_head_range(c, st, head, &g)) != 0) {
        mhsld_close(st);
        return rc;
    }
    memset(&rep, 0, sizeof(rep));
    s = mhsld_recover(st, head, flags, &rep);
    if (s == MHSLD_E_ALIVE)
        rc = ctl_refused_alive(c, st, head, s, "; --force recovers it anyway");
    else if (s != MHSLD_OK)
        rc = ctl_fail(c, ctl_status_exit(s), "%s: head %" PRIu32 ": %s", c->state, head,
                      ctl_status_text(s, t, sizeof(t)));
    else
        printf("head %" PRIu32 ": in-flight %s%s; %" PRIu64 " blocks freed, %" PRIu64
               " kept (%s)\n",
               head, rep.op ? mhsld_op_name(rep.op) : "none",
               rep.rolled_back      ? " rolled back"
               : rep.rolled_forward ? " rolled forward"
                                    : "",
               rep.blocks_freed, rep.blocks_kept, (flags & MHSLD_RECOVER_KEEP) ? "keep" : "drop");
    mhsld_close(st);
    return rc;
}
