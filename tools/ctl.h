/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mhsldctl internals shared by its source files: strict parsing of the
 * command line's numbers, extents, regions and tags (ctl_parse.c), their
 * round-trippable formatting, and the ownership map drawn for a terminal or
 * as SVG (ctl_map.c).  Nothing here touches shared memory except through the
 * public API in mhsld/mhsld.h.
 */
#ifndef MHSLDCTL_CTL_H
#define MHSLDCTL_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mhsld/mhsld.h"

/* Exit codes (documented in docs/mhsldctl.md and `mhsldctl --help`). */
enum {
    CTL_EXIT_OK = 0,      /* done; check: accessible; verify: healthy */
    CTL_EXIT_FALSE = 1,   /* check: not accessible; verify: unhealthy */
    CTL_EXIT_USAGE = 2,   /* bad command line or invalid request */
    CTL_EXIT_REFUSED = 3, /* conflict, not owner, head alive, state exists, not private */
    CTL_EXIT_STATE = 4,   /* state absent, corrupt, not a state or mismatched */
    CTL_EXIT_IO = 5       /* other I/O or system errors, file truncated while in use */
};

/* Room for a one-line error message. */
#define CTL_ERRLEN 160u

/* ---- parsing (ctl_parse.c) ---------------------------------------------
 * Every parser accepts the whole string or nothing: no sign, no blanks, no
 * trailing characters; on failure it writes the reason into err and leaves
 * *out unchanged. */

/* Decimal or 0x hexadecimal, optionally (if suffix) followed by one of
 * K, M, G, T (binary multiples, either case). */
bool ctl_parse_u64(const char *s, bool suffix, uint64_t *out, char *err, size_t errlen);
/* A decimal integer in [min, max]. */
bool ctl_parse_uint(const char *s, uint32_t min, uint32_t max, uint32_t *out, char *err,
                    size_t errlen);
/* DPA+LEN, both in ctl_parse_u64() syntax with suffixes; LEN > 0 and the
 * extent must not run past 2^64. */
bool ctl_parse_extent(const char *s, mhsld_extent *out, char *err, size_t errlen);
/* BASE+LEN[:shared],...: up to MHSLD_MAX_REGIONS regions in increasing,
 * non-overlapping order. */
bool ctl_parse_regions(const char *s, mhsld_region *out, uint32_t *n, char *err, size_t errlen);
/* 32 hexadecimal digits, or a UUID (8-4-4-4-12), optionally prefixed 0x. */
bool ctl_parse_tag(const char *s, uint8_t tag[MHSLD_TAG_SIZE], char *err, size_t errlen);

/* A payload as hex digits, two per byte, optionally prefixed 0x; "" is
 * empty.  More than cap bytes is an error. */
bool ctl_parse_hex_bytes(const char *s, uint8_t *out, size_t cap, size_t *n, char *err,
                         size_t errlen);
/* A 16-bit opcode in hex: 5604, 5604h or 0x5604. */
bool ctl_parse_opcode(const char *s, uint16_t *out, char *err, size_t errlen);

/* ---- formatting (ctl_parse.c) ------------------------------------------
 * The output is accepted back by the parsers above. */
#define CTL_FMTLEN 48u
/* A length: the largest exact K/M/G/T suffix ("512M"), else decimal. */
const char *ctl_fmt_len(uint64_t v, char buf[CTL_FMTLEN]);
/* A DPA in hexadecimal ("0x40000000"). */
const char *ctl_fmt_dpa(uint64_t v, char buf[CTL_FMTLEN]);
/* DPA+LEN ("0x40000000+512M"). */
const char *ctl_fmt_extent(const mhsld_extent *e, char buf[CTL_FMTLEN]);
/* A tag as a UUID string (36 characters). */
const char *ctl_fmt_tag(const uint8_t tag[MHSLD_TAG_SIZE], char buf[CTL_FMTLEN]);
/* n bytes as lower-case hex, cut to what fits buflen (2n + 1 for all). */
const char *ctl_fmt_hex(const uint8_t *b, size_t n, char *buf, size_t buflen);

/* ---- the ownership map (ctl_map.c) ------------------------------------- */

typedef struct ctl_map_opts {
    const char *title; /* shown above the map (the state's name) */
    uint32_t width;    /* cells per row; 0 picks one that fits 80 columns */
    bool color;        /* ANSI colours (terminal map only) */
} ctl_map_opts;

/* Draw the map of an open state on out, as text (svg false) or SVG.
 * Returns a CTL_EXIT_* code; on failure err holds the reason. */
int ctl_map_draw(mhsld_state *st, const ctl_map_opts *opts, bool svg, FILE *out, char *err,
                 size_t errlen);

#endif /* MHSLDCTL_CTL_H */
