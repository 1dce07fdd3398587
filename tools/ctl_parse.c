/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Strict parsing and round-trippable formatting of mhsldctl's arguments.
 *
 * The parsers are deliberately narrower than strtoull(): no leading blanks,
 * no sign, no octal, no partial parses.  A value that overflows 64 bits is
 * an error, never a wrap-around, so "16E" or "0x1_0000_0000_0000_0000" can
 * not turn into a small extent that a script did not mean.
 */
#define _POSIX_C_SOURCE 200809L

#include "ctl.h"

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static unsigned suffix_shift(char c)
{
    switch (c) {
    case 'k':
    case 'K':
        return 10;
    case 'm':
    case 'M':
        return 20;
    case 'g':
    case 'G':
        return 30;
    case 't':
    case 'T':
        return 40;
    default:
        return 0;
    }
}

bool ctl_parse_u64(const char *s, bool suffix, uint64_t *out, char *err, size_t errlen)
{
    const char *p = s;
    uint64_t base = 10, v = 0;
    unsigned ndigits = 0, shift;

    if (s == NULL || *s == '\0') {
        seterr(err, errlen, "empty number");
        return false;
    }
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
    }
    for (;; p++, ndigits++) {
        int d = base == 16 ? hexval(*p) : (*p >= '0' && *p <= '9' ? *p - '0' : -1);
        if (d < 0)
            break;
        if (v > (UINT64_MAX - (uint64_t)d) / base) {
            seterr(err, errlen, "'%s' is too large (more than 64 bits)", s);
            return false;
        }
        v = v * base + (uint64_t)d;
    }
    if (ndigits == 0) {
        seterr(err, errlen, "'%s' is not a number", s);
        return false;
    }
    if (suffix && (shift = suffix_shift(*p)) != 0) {
        if (v > (UINT64_MAX >> shift)) {
            seterr(err, errlen, "'%s' is too large (more than 64 bits)", s);
            return false;
        }
        v <<= shift;
        p++;
    }
    if (*p != '\0') {
        seterr(err, errlen, "'%s': unexpected '%c' after the number%s", s, *p,
               suffix ? " (suffixes: K, M, G, T)" : "");
        return false;
    }
    *out = v;
    return true;
}

bool ctl_parse_uint(const char *s, uint32_t min, uint32_t max, uint32_t *out, char *err,
                    size_t errlen)
{
    uint64_t v;
    const char *p;

    if (s == NULL || *s == '\0') {
        seterr(err, errlen, "empty number");
        return false;
    }
    for (p = s; *p != '\0'; p++) {
        if (*p < '0' || *p > '9') {
            seterr(err, errlen, "'%s' is not a decimal integer", s);
            return false;
        }
    }
    if (!ctl_parse_u64(s, false, &v, err, errlen))
        return false;
    if (v < min || v > max) {
        seterr(err, errlen, "%s is out of range (%" PRIu32 "..%" PRIu32 ")", s, min, max);
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

/* Parse "A+B" where s is the whole text (for messages) and plus points at the
 * one '+' separating the two numbers. */
static bool parse_pair(const char *s, const char *plus, uint64_t *a, uint64_t *b, char *err,
                       size_t errlen)
{
    char first[64];
    size_t n = (size_t)(plus - s);

    if (n == 0 || n >= sizeof(first)) {
        seterr(err, errlen, "'%s': expected DPA+LEN", s);
        return false;
    }
    memcpy(first, s, n);
    first[n] = '\0';
    if (strchr(plus + 1, '+') != NULL) {
        seterr(err, errlen, "'%s': more than one '+'", s);
        return false;
    }
    if (!ctl_parse_u64(first, true, a, err, errlen))
        return false;
    if (!ctl_parse_u64(plus + 1, true, b, err, errlen))
        return false;
    if (*b == 0) {
        seterr(err, errlen, "'%s': length is zero", s);
        return false;
    }
    if (*a > UINT64_MAX - *b) {
        seterr(err, errlen, "'%s': extent runs past the end of the 64-bit address space", s);
        return false;
    }
    return true;
}

bool ctl_parse_extent(const char *s, mhsld_extent *out, char *err, size_t errlen)
{
    const char *plus;
    uint64_t dpa, len;

    if (s == NULL || (plus = strchr(s, '+')) == NULL) {
        seterr(err, errlen, "'%s': expected an extent DPA+LEN (e.g. 0+2M)", s ? s : "");
        return false;
    }
    if (!parse_pair(s, plus, &dpa, &len, err, errlen))
        return false;
    out->dpa = dpa;
    out->len = len;
    return true;
}

bool ctl_parse_regions(const char *s, mhsld_region *out, uint32_t *n, char *err, size_t errlen)
{
    mhsld_region r[MHSLD_MAX_REGIONS];
    uint32_t count = 0;
    const char *p = s;

    if (s == NULL || *s == '\0') {
        seterr(err, errlen, "empty region list");
        return false;
    }
    for (;;) {
        char item[96];
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char *colon, *plus;
        uint32_t flags = 0;
        uint64_t base, rlen;

        if (len == 0 || len >= sizeof(item)) {
            seterr(err, errlen, "'%s': expected BASE+LEN[:shared],...", s);
            return false;
        }
        if (count == MHSLD_MAX_REGIONS) {
            seterr(err, errlen, "more than %u regions", MHSLD_MAX_REGIONS);
            return false;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        colon = strchr(item, ':');
        if (colon != NULL) {
            if (strcmp(colon + 1, "shared") != 0) {
                seterr(err, errlen, "region '%s': unknown flag '%s' (only 'shared')", item,
                       colon + 1);
                return false;
            }
            flags |= MHSLD_REGION_SHARABLE;
            *colon = '\0';
        }
        plus = strchr(item, '+');
        if (plus == NULL) {
            seterr(err, errlen, "region '%s': expected BASE+LEN", item);
            return false;
        }
        if (!parse_pair(item, plus, &base, &rlen, err, errlen))
            return false;
        if (count > 0 && base < r[count - 1].base + r[count - 1].len) {
            seterr(err, errlen,
                   "region %u (%s) starts before the end of region %u: list regions in "
                   "increasing DPA order without overlap",
                   count, item, count - 1);
            return false;
        }
        r[count].base = base;
        r[count].len = rlen;
        r[count].flags = flags;
        r[count].dsmad_handle = count;
        count++;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    memcpy(out, r, sizeof(r[0]) * count);
    *n = count;
    return true;
}

bool ctl_parse_tag(const char *s, uint8_t tag[MHSLD_TAG_SIZE], char *err, size_t errlen)
{
    uint8_t t[MHSLD_TAG_SIZE];
    const char *p = s;
    size_t len, i, nd = 0;
    bool uuid;

    if (s == NULL || *s == '\0') {
        seterr(err, errlen, "empty tag");
        return false;
    }
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
        p += 2;
    len = strlen(p);
    uuid = len == 36;
    if (len != 32 && !uuid) {
        seterr(err, errlen, "tag '%s': expected 32 hex digits or a UUID", s);
        return false;
    }
    for (i = 0; i < len; i++) {
        int d;
        if (uuid && (i == 8 || i == 13 || i == 18 || i == 23)) {
            if (p[i] != '-') {
                seterr(err, errlen, "tag '%s': expected '-' at position %zu", s, i + 1);
                return false;
            }
            continue;
        }
        d = hexval(p[i]);
        if (d < 0) {
            seterr(err, errlen, "tag '%s': '%c' is not a hex digit", s, p[i]);
            return false;
        }
        if (nd % 2 == 0)
            t[nd / 2] = (uint8_t)(d << 4);
        else
            t[nd / 2] = (uint8_t)(t[nd / 2] | d);
        nd++;
    }
    memcpy(tag, t, sizeof(t));
    return true;
}

bool ctl_parse_hex_bytes(const char *s, uint8_t *out, size_t cap, size_t *n, char *err,
                         size_t errlen)
{
    const char *p = s;
    size_t len, i;

    if (s == NULL) {
        seterr(err, errlen, "no payload");
        return false;
    }
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
        p += 2;
    len = strlen(p);
    for (i = 0; i < len; i++) {
        if (hexval(p[i]) < 0) {
            seterr(err, errlen, "payload: '%c' at position %zu is not a hex digit", p[i],
                   (size_t)(p - s) + i + 1);
            return false;
        }
    }
    if (len % 2 != 0) {
        seterr(err, errlen, "payload: odd number of hex digits (%zu): two per byte", len);
        return false;
    }
    if (len / 2 > cap) {
        seterr(err, errlen, "payload of %zu bytes is larger than the %zu a request carries",
               len / 2, cap);
        return false;
    }
    for (i = 0; i < len; i += 2)
        out[i / 2] = (uint8_t)(hexval(p[i]) << 4 | hexval(p[i + 1]));
    *n = len / 2;
    return true;
}

bool ctl_parse_opcode(const char *s, uint16_t *out, char *err, size_t errlen)
{
    const char *p = s;
    size_t len, i;
    uint32_t v = 0;

    if (s == NULL || *s == '\0') {
        seterr(err, errlen, "empty opcode");
        return false;
    }
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
        p += 2;
    len = strlen(p);
    if (len > 0 && p == s && (p[len - 1] == 'h' || p[len - 1] == 'H'))
        len--;
    if (len == 0 || len > 4) {
        seterr(err, errlen, "opcode '%s': expected up to 4 hex digits (5604, 5604h, 0x5604)", s);
        return false;
    }
    for (i = 0; i < len; i++) {
        int d = hexval(p[i]);
        if (d < 0) {
            seterr(err, errlen, "opcode '%s': '%c' is not a hex digit", s, p[i]);
            return false;
        }
        v = v << 4 | (uint32_t)d;
    }
    *out = (uint16_t)v;
    return true;
}

const char *ctl_fmt_hex(const uint8_t *b, size_t n, char *buf, size_t buflen)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;

    if (buflen == 0)
        return buf;
    for (i = 0; i < n && 2 * i + 2 < buflen; i++) {
        buf[2 * i] = hex[b[i] >> 4];
        buf[2 * i + 1] = hex[b[i] & 0xF];
    }
    buf[2 * i] = '\0';
    return buf;
}

const char *ctl_fmt_len(uint64_t v, char buf[CTL_FMTLEN])
{
    static const char sfx[] = "TGMK";
    static const unsigned shift[] = {40, 30, 20, 10};
    size_t i;

    for (i = 0; i < 4; i++) {
        uint64_t unit = UINT64_C(1) << shift[i];
        if (v != 0 && v % unit == 0) {
            snprintf(buf, CTL_FMTLEN, "%" PRIu64 "%c", v / unit, sfx[i]);
            return buf;
        }
    }
    snprintf(buf, CTL_FMTLEN, "%" PRIu64, v);
    return buf;
}

const char *ctl_fmt_dpa(uint64_t v, char buf[CTL_FMTLEN])
{
    snprintf(buf, CTL_FMTLEN, "0x%" PRIx64, v);
    return buf;
}

const char *ctl_fmt_extent(const mhsld_extent *e, char buf[CTL_FMTLEN])
{
    char a[CTL_FMTLEN], b[CTL_FMTLEN];
    int w;

    /* At most 18 + 1 + 20 characters, but gcc -O2 cannot tell: checking
     * the result keeps -Wformat-truncation quiet. */
    w = snprintf(buf, CTL_FMTLEN, "%s+%s", ctl_fmt_dpa(e->dpa, a), ctl_fmt_len(e->len, b));
    if (w < 0 || (size_t)w >= CTL_FMTLEN)
        buf[CTL_FMTLEN - 1] = '\0';
    return buf;
}

const char *ctl_fmt_tag(const uint8_t tag[MHSLD_TAG_SIZE], char buf[CTL_FMTLEN])
{
    static const char hex[] = "0123456789abcdef";
    size_t i, o = 0;

    for (i = 0; i < MHSLD_TAG_SIZE; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            buf[o++] = '-';
        buf[o++] = hex[tag[i] >> 4];
        buf[o++] = hex[tag[i] & 0xF];
    }
    buf[o] = '\0';
    return buf;
}
