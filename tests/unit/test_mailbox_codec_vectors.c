/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Mailbox codec: the verdicts of every decoder, frozen.
 *
 * mailbox_codec_vectors.h holds payloads (the distinct command payloads of
 * corpus/fuzz_mailbox and, for every decoder, valid payloads of each shape
 * with every non-reserved byte random) and, for each, the verdict and the
 * decoded output every one of the 17 decoders gave, recorded with the
 * per-command codec that preceded the field-descriptor one.  For each
 * payload this test runs every decoder on the payload itself and on its
 * variants (one byte shorter, one zero byte longer, and each of the first
 * 96 bytes XORed with 01h and 80h, set to 00h and to FFh), and compares a
 * digest of all return codes and decoded structs with the recorded one:
 * any accept/reject verdict or decoded field that changed fails it.
 * Besides, on the payload itself: a refusing decoder leaves its output
 * untouched, and what decodes encodes back to exactly the same bytes.
 *
 * Recording (only when the codec is meant to change behaviour, then say so
 * in the commit):
 *   test_mailbox_codec_vectors --record corpus/fuzz_mailbox > \
 *       tests/unit/mailbox_codec_vectors.h
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mhsld/mailbox.h"

typedef int (*dec_fn)(const uint8_t *buf, size_t len, void *out);
typedef int (*enc_fn)(const void *in, uint8_t *buf, size_t cap, size_t *len);

/* Shape of a payload, from the wire structs of mailbox.h: header bytes, the
 * count that follows it (offset, width; width 0 = fixed length), record
 * bytes, trailer bytes. */
typedef struct shape {
    size_t hdr, count_off, count_width, rec, tail;
} shape;

typedef struct codec {
    const char *name;
    dec_fn dec;
    enc_fn enc;
    size_t size;
    shape sh;
} codec;

#define WRAP(name, type)                                                                           \
    static int dec_##name(const uint8_t *buf, size_t len, void *out)                               \
    {                                                                                              \
        return mhsld_mbox_##name##_decode(buf, len, (type *)out);                                  \
    }                                                                                              \
    static int enc_##name(const void *in, uint8_t *buf, size_t cap, size_t *len)                   \
    {                                                                                              \
        return mhsld_mbox_##name##_encode((const type *)in, buf, cap, len);                        \
    }
WRAP(mhd_info_in, mhsld_mbox_mhd_info_in)
WRAP(mhd_info_out, mhsld_mbox_mhd_info_out)
WRAP(head_info_in, mhsld_mbox_head_info_in)
WRAP(head_info_out, mhsld_mbox_head_info_out)
WRAP(dc_config_in, mhsld_mbox_dc_config_in)
WRAP(dc_config_out, mhsld_mbox_dc_config_out)
WRAP(dc_extents_in, mhsld_mbox_dc_extents_in)
WRAP(dc_extents_out, mhsld_mbox_dc_extents_out)
WRAP(dc_update_in, mhsld_mbox_dc_update_in)
WRAP(dcd_info_out, mhsld_mbox_dcd_info_out)
WRAP(host_region_cfg_in, mhsld_mbox_host_region_cfg_in)
WRAP(host_region_cfg_out, mhsld_mbox_host_region_cfg_out)
WRAP(set_region_cfg_in, mhsld_mbox_set_region_cfg_in)
WRAP(region_extents_in, mhsld_mbox_region_extents_in)
WRAP(region_extents_out, mhsld_mbox_region_extents_out)
WRAP(dc_add_in, mhsld_mbox_dc_add_in)
WRAP(dc_release_in, mhsld_mbox_dc_release_in)

#define FIXED(w)                                                                                   \
    {                                                                                              \
        sizeof(w), 0, 0, 0, 0                                                                      \
    }
#define VAR(w, cnt, r, t)                                                                          \
    {                                                                                              \
        sizeof(w), offsetof(w, cnt), sizeof(((w *)0)->cnt), sizeof(r), t                           \
    }
#define C(name, type, sh)                                                                          \
    {                                                                                              \
#name, dec_##name, enc_##name, sizeof(type), sh                                            \
    }

static const codec codecs[] = {
    C(mhd_info_in, mhsld_mbox_mhd_info_in, FIXED(mhsld_wire_mhd_info_in)),
    C(mhd_info_out, mhsld_mbox_mhd_info_out, VAR(mhsld_wire_mhd_info_out, ld_map_len, uint8_t, 0)),
    C(head_info_in, mhsld_mbox_head_info_in, FIXED(mhsld_wire_head_info_in)),
    C(head_info_out, mhsld_mbox_head_info_out,
      VAR(mhsld_wire_head_info_out, count, mhsld_wire_head_block, 0)),
    C(dc_config_in, mhsld_mbox_dc_config_in, FIXED(mhsld_wire_dc_config_in)),
    C(dc_config_out, mhsld_mbox_dc_config_out,
      VAR(mhsld_wire_dc_config_out, returned, mhsld_wire_dc_region, sizeof(mhsld_wire_dc_limits))),
    C(dc_extents_in, mhsld_mbox_dc_extents_in, FIXED(mhsld_wire_dc_extents_in)),
    C(dc_extents_out, mhsld_mbox_dc_extents_out,
      VAR(mhsld_wire_dc_extents_out, returned, mhsld_wire_dc_extent, 0)),
    C(dc_update_in, mhsld_mbox_dc_update_in,
      VAR(mhsld_wire_dc_update_in, count, mhsld_wire_updated_extent, 0)),
    C(dcd_info_out, mhsld_mbox_dcd_info_out, FIXED(mhsld_wire_dcd_info_out)),
    C(host_region_cfg_in, mhsld_mbox_host_region_cfg_in, FIXED(mhsld_wire_host_region_cfg_in)),
    C(host_region_cfg_out, mhsld_mbox_host_region_cfg_out,
      VAR(mhsld_wire_host_region_cfg_out, returned, mhsld_wire_host_region,
          sizeof(mhsld_wire_dc_limits))),
    C(set_region_cfg_in, mhsld_mbox_set_region_cfg_in, FIXED(mhsld_wire_set_region_cfg_in)),
    C(region_extents_in, mhsld_mbox_region_extents_in, FIXED(mhsld_wire_region_extents_in)),
    C(region_extents_out, mhsld_mbox_region_extents_out,
      VAR(mhsld_wire_region_extents_out, returned, mhsld_wire_dc_extent, 0)),
    C(dc_add_in, mhsld_mbox_dc_add_in, VAR(mhsld_wire_dc_add_in, count, mhsld_wire_dc_extent, 0)),
    C(dc_release_in, mhsld_mbox_dc_release_in,
      VAR(mhsld_wire_dc_release_in, count, mhsld_wire_dc_extent, 0)),
};
#define NCODECS (sizeof(codecs) / sizeof(codecs[0]))
#define MUTATE_BYTES 96u

static int failures;
static uint8_t *outbuf;  /* decoded struct (largest size) */
static uint8_t *outbuf2; /* second decode / untouched check */
static uint8_t *encbuf;  /* re-encoding */
static size_t outsize;

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001B3ull;
    }
    return h;
}

/* Every decoder on p[0..n): folds its code and, on success, the decoded
 * struct (zero-filled first) into h; returns the accept mask. */
static uint32_t run_all(const uint8_t *p, size_t n, uint64_t *h, int checks)
{
    uint32_t mask = 0;
    uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan sees overreads */
    if (copy == NULL) {
        abort();
    }
    if (n) {
        memcpy(copy, p, n);
    }
    for (size_t d = 0; d < NCODECS; d++) {
        const codec *c = &codecs[d];
        memset(outbuf, 0, c->size);
        int rc = c->dec(copy, n, outbuf);
        uint8_t r8 = (uint8_t)rc;
        *h = fnv(*h, &r8, 1);
        if (rc == MHSLD_CXL_SUCCESS) {
            mask |= 1u << d;
            *h = fnv(*h, outbuf, c->size);
        }
        if (!checks) {
            continue;
        }
        if (rc != MHSLD_CXL_SUCCESS) {
            memset(outbuf2, 0xA5, c->size);
            (void)c->dec(copy, n, outbuf2);
            for (size_t i = 0; i < c->size; i++) {
                if (outbuf2[i] != 0xA5) {
                    fprintf(stderr, "%s refused a %zu-byte payload but wrote byte %zu\n", c->name,
                            n, i);
                    failures++;
                    break;
                }
            }
        } else {
            size_t len = 0;
            int e = c->enc(outbuf, encbuf, 8192, &len);
            if (e != MHSLD_CXL_SUCCESS || len != n || (n && memcmp(encbuf, p, n) != 0)) {
                fprintf(stderr, "%s: encode(decode(p)) != p (%s, %zu vs %zu bytes)\n", c->name,
                        mhsld_cxl_rc_name(e), len, n);
                failures++;
            }
        }
    }
    free(copy);
    return mask;
}

/* The digest of p and all its variants, and the accept mask of p. */
static uint64_t digest(const uint8_t *p, size_t n, uint32_t *mask, int checks)
{
    uint64_t h = 0xCBF29CE484222325ull;
    uint8_t *v = malloc(n + 1);
    if (v == NULL) {
        abort();
    }
    *mask = run_all(p, n, &h, checks);
    if (n > 0) {
        (void)run_all(p, n - 1, &h, 0);
    }
    memcpy(v, p, n);
    v[n] = 0;
    (void)run_all(v, n + 1, &h, 0);
    static const uint8_t xors[2] = {0x01, 0x80};
    static const uint8_t sets[2] = {0x00, 0xFF};
    for (size_t i = 0; i < n && i < MUTATE_BYTES; i++) {
        for (size_t k = 0; k < 2; k++) {
            v[i] = (uint8_t)(p[i] ^ xors[k]);
            (void)run_all(v, n, &h, 0);
            v[i] = sets[k];
            (void)run_all(v, n, &h, 0);
            v[i] = p[i];
        }
    }
    free(v);
    return h;
}

static void setup(void)
{
    outsize = 0;
    for (size_t d = 0; d < NCODECS; d++) {
        outsize = codecs[d].size > outsize ? codecs[d].size : outsize;
    }
    outbuf = malloc(outsize);
    outbuf2 = malloc(outsize);
    encbuf = malloc(8192);
    if (!outbuf || !outbuf2 || !encbuf) {
        abort();
    }
}

/* ---- recording ------------------------------------------------------------- */

typedef struct payload {
    uint8_t *p;
    size_t n;
} payload;

static payload *pl;
static size_t npl, cappl;

static void add(const uint8_t *p, size_t n)
{
    if (npl == cappl) {
        cappl = cappl ? 2 * cappl : 256;
        pl = realloc(pl, cappl * sizeof(*pl));
        if (pl == NULL) {
            abort();
        }
    }
    pl[npl].p = malloc(n ? n : 1);
    if (pl[npl].p == NULL) {
        abort();
    }
    memcpy(pl[npl].p, p, n);
    pl[npl].n = n;
    npl++;
}

static int cmp_payload(const void *a, const void *b)
{
    const payload *x = a, *y = b;
    if (x->n != y->n) {
        return x->n < y->n ? -1 : 1;
    }
    return x->n ? memcmp(x->p, y->p, x->n) : 0;
}

/* The command payloads of one fuzz_mailbox input (its format: setup byte,
 * then per command a selector byte, a 16-bit opcode if the selector is 12
 * or more, a 16-bit length cut to what is left, the payload). */
static void add_corpus_file(const uint8_t *b, size_t size)
{
    size_t i = 0;
#define TAKE(nb)                                                                                   \
    do {                                                                                           \
        for (unsigned k_ = 0; k_ < (nb) && i < size; k_++) {                                       \
            v_ |= (size_t)b[i++] << (8 * k_);                                                      \
        }                                                                                          \
    } while (0)
    size_t v_ = 0;
    TAKE(1);
    for (unsigned c = 0; c < 8 && i < size; c++) {
        v_ = 0;
        TAKE(1);
        if (v_ >= 12) {
            v_ = 0;
            TAKE(2);
        }
        v_ = 0;
        TAKE(2);
        size_t len = v_ < size - i ? v_ : size - i;
        add(b + i, len);
        i += len;
    }
#undef TAKE
}

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint8_t rnd8(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint8_t)(rng >> 24);
}

/* Valid payloads of decoder d with `count` records: the zero payload, and
 * payloads where every byte that may be non-zero (as the decoder says) is
 * random. */
static void add_generated(size_t d, size_t count)
{
    const codec *c = &codecs[d];
    size_t n = c->sh.hdr + count * c->sh.rec + c->sh.tail;
    uint8_t *p = calloc(1, n);
    if (p == NULL) {
        abort();
    }
    for (size_t k = 0; k < c->sh.count_width; k++) {
        p[c->sh.count_off + k] = (uint8_t)((count >> (8 * k)) & 0xFFu);
    }
    if (c->dec(p, n, outbuf) != MHSLD_CXL_SUCCESS) {
        fprintf(stderr, "record: zero payload of %s with %zu records refused\n", c->name, count);
        exit(1);
    }
    add(p, n);
    for (int rep = 0; rep < 3; rep++) {
        for (size_t i = 0; i < n; i++) {
            if (c->sh.count_width && i >= c->sh.count_off &&
                i < c->sh.count_off + c->sh.count_width) {
                continue;
            }
            static const uint8_t masks[4] = {0xFF, 0x3F, 0x0F, 0x01};
            for (size_t m = 0; m < 4; m++) {
                uint8_t old = p[i];
                p[i] = (uint8_t)(rnd8() & masks[m]);
                if (c->dec(p, n, outbuf) == MHSLD_CXL_SUCCESS) {
                    break;
                }
                p[i] = old;
            }
        }
        add(p, n);
    }
    free(p);
}

static int record(const char *dir)
{
    DIR *dh = opendir(dir);
    if (dh == NULL) {
        perror(dir);
        return 2;
    }
    struct dirent *de;
    while ((de = readdir(dh)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        FILE *f = fopen(path, "rb");
        if (f == NULL) {
            perror(path);
            return 2;
        }
        static uint8_t b[1 << 20];
        size_t size = fread(b, 1, sizeof(b), f);
        fclose(f);
        add_corpus_file(b, size);
    }
    closedir(dh);
    for (size_t d = 0; d < NCODECS; d++) {
        if (codecs[d].sh.count_width == 0) {
            add_generated(d, 0);
            continue;
        }
        for (size_t count = 0; count < 4; count++) {
            add_generated(d, count);
        }
    }
    qsort(pl, npl, sizeof(*pl), cmp_payload);
    printf("/* SPDX-License-Identifier: BSD-2-Clause */\n"
           "/* Generated by test_mailbox_codec_vectors --record corpus/fuzz_mailbox\n"
           " * (see that file): accept mask of the 17 decoders (codecs[] order),\n"
           " * digest of every decoder on the payload and its variants, payload. */\n"
           "/* clang-format off */\n"
           "static const char *const mbox_vectors[] = {\n");
    size_t kept = 0;
    for (size_t i = 0; i < npl; i++) {
        if (i > 0 && cmp_payload(&pl[i], &pl[i - 1]) == 0) {
            continue;
        }
        uint32_t mask = 0;
        uint64_t h = digest(pl[i].p, pl[i].n, &mask, 1);
        printf("    \"%05x %016llx ", mask, (unsigned long long)h);
        for (size_t k = 0; k < pl[i].n; k++) {
            printf("%02x", pl[i].p[k]);
        }
        printf("\",\n");
        kept++;
    }
    printf("};\n/* clang-format on */\n");
    fprintf(stderr, "recorded %zu payloads\n", kept);
    return failures ? 1 : 0;
}

/* ---- checking ---------------------------------------------------------------- */

#include "mailbox_codec_vectors.h"

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    return -1;
}

static int check(void)
{
    size_t nvec = sizeof(mbox_vectors) / sizeof(mbox_vectors[0]);
    size_t accepted[NCODECS];
    memset(accepted, 0, sizeof(accepted));
    static uint8_t p[1 << 16];
    for (size_t v = 0; v < nvec; v++) {
        const char *s = mbox_vectors[v];
        unsigned mask = 0;
        unsigned long long want = 0;
        int used = 0;
        if (sscanf(s, "%5x %16llx %n", &mask, &want, &used) != 2) {
            fprintf(stderr, "vector %zu: malformed\n", v);
            return 1;
        }
        size_t n = 0;
        for (const char *q = s + used; q[0] && q[1]; q += 2) {
            int hi = hexval(q[0]), lo = hexval(q[1]);
            if (hi < 0 || lo < 0 || n == sizeof(p)) {
                fprintf(stderr, "vector %zu: malformed payload\n", v);
                return 1;
            }
            p[n++] = (uint8_t)(hi << 4 | lo);
        }
        uint32_t got_mask = 0;
        uint64_t got = digest(p, n, &got_mask, 1);
        if (got_mask != mask || got != want) {
            fprintf(stderr,
                    "vector %zu (%zu bytes): accept mask %05x (recorded %05x), digest %016llx "
                    "(recorded %016llx)\n",
                    v, n, got_mask, mask, (unsigned long long)got, want);
            for (size_t d = 0; d < NCODECS; d++) {
                if (((got_mask ^ mask) >> d) & 1u) {
                    fprintf(stderr, "  %s now %s it\n", codecs[d].name,
                            (got_mask >> d) & 1u ? "accepts" : "refuses");
                }
            }
            failures++;
        }
        for (size_t d = 0; d < NCODECS; d++) {
            accepted[d] += (mask >> d) & 1u;
        }
    }
    /* The set exercises every decoder's success path. */
    for (size_t d = 0; d < NCODECS; d++) {
        if (accepted[d] == 0) {
            fprintf(stderr, "no vector is accepted by %s\n", codecs[d].name);
            failures++;
        }
    }
    if (failures) {
        fprintf(stderr, "test_mailbox_codec_vectors: %d failure(s) over %zu vectors\n", failures,
                nvec);
        return 1;
    }
    printf("test_mailbox_codec_vectors: %zu vectors, all verdicts and outputs as recorded\n", nvec);
    return 0;
}

int main(int argc, char **argv)
{
    setup();
    if (argc == 3 && strcmp(argv[1], "--record") == 0) {
        return record(argv[2]);
    }
    if (argc != 1) {
        fprintf(stderr, "usage: %s [--record CORPUS_DIR]\n", argv[0]);
        return 2;
    }
    return check();
}
