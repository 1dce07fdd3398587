/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mhsldctl map: the ownership map on a terminal or as SVG (drawn by
 * ctl_map.c).
 */
#define _POSIX_C_SOURCE 200809L

#include "cmd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- map --------------------------------------------------------------- */

int verb_map(struct cmd *c)
{
    ctl_map_opts o = {c->state, 0, false};
    const char *when = ctl_has(c, O_COLOR) ? c->opt[O_COLOR] : "auto";
    const char *svg = c->opt[O_SVG];
    char err[CTL_ERRLEN];
    mhsld_state *st;
    FILE *out = stdout;
    int rc;

    if (ctl_has(c, O_WIDTH) && (rc = ctl_opt_uint(c, O_WIDTH, 8, 1024, &o.width)) != 0)
        return rc;
    if (strcmp(when, "always") == 0) {
        o.color = true;
    } else if (strcmp(when, "auto") == 0) {
        const char *nc = getenv("NO_COLOR");
        o.color = isatty(STDOUT_FILENO) && (nc == NULL || nc[0] == '\0');
    } else if (strcmp(when, "never") != 0) {
        return ctl_usage(c, "--color: '%s' is not auto, always or never", when);
    }
    if (svg != NULL && svg[0] == '\0')
        return ctl_usage(c, "--svg: empty file name");
    rc = ctl_open_state(c, MHSLD_OPEN_EXISTING, NULL, &st, NULL);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (svg != NULL && strcmp(svg, "-") != 0) {
        out = fopen(svg, "w");
        if (out == NULL) {
            int e = errno;
            mhsld_close(st);
            return ctl_fail(c, CTL_EXIT_IO, "%s: cannot write: %s", svg, strerror(e));
        }
    }
    rc = ctl_map_draw(st, &o, svg != NULL, out, err, sizeof(err));
    mhsld_close(st);
    if (rc != CTL_EXIT_OK) {
        if (out != stdout) {
            fclose(out);
            remove(svg);
        }
        return ctl_fail(c, rc, "%s: %s", c->state, err);
    }
    if (out != stdout) {
        bool bad = ferror(out) != 0;
        int e = errno;
        if (fclose(out) != 0 || bad) {
            e = errno ? errno : e;
            remove(svg);
            return ctl_fail(c, CTL_EXIT_IO, "%s: write failed: %s", svg, strerror(e));
        }
        printf("wrote %s\n", svg);
    }
    return CTL_EXIT_OK;
}
