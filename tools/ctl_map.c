/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The ownership map: one cell per block, or per group of blocks when the
 * device has more blocks than fit on a screen, region by region, in DPA
 * order.  A cell shows the holder of its blocks; a cell whose blocks are not
 * all in the same hands is drawn as "mixed" rather than guessed.
 *
 * Text (80 columns, ANSI colours only when asked) and SVG share the cell
 * computation; the block states are read with mhsld_block_info_get(), one
 * call per block, so on a live state the picture is a sequence of per-block
 * snapshots, not one atomic snapshot (as documented for `map`).
 */
#define _POSIX_C_SOURCE 200809L

#include "ctl.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum cell_kind { CELL_FREE, CELL_PENDING, CELL_OWNED, CELL_SHARED, CELL_MIXED, CELL_BAD };

typedef struct cell {
    uint8_t kind;
    uint8_t owner; /* head, for CELL_PENDING and CELL_OWNED */
} cell;

typedef struct map {
    mhsld_geometry g;
    uint64_t group;                     /* blocks per cell, a power of two */
    uint32_t width;                     /* cells per row */
    unsigned label;                     /* characters of a row label ("0x" + digits) */
    uint64_t first[MHSLD_MAX_REGIONS];  /* index of each region's first cell */
    uint64_t ncells[MHSLD_MAX_REGIONS]; /* cells of each region */
    uint64_t total;                     /* cells in all */
    cell *cells;
    mhsld_head_info heads[MHSLD_MAX_HEADS];
} map;

#define TEXT_COLUMNS 80u
#define TEXT_MAX_ROWS 32u
#define SVG_MAX_ROWS 128u
#define MAX_WIDTH 1024u

static const char head_sym[] = "0123456789ABCDEFGHIJKLMNOPQRSTUV";
_Static_assert(sizeof(head_sym) - 1 == MHSLD_MAX_HEADS, "one symbol per head");

static unsigned hex_digits(uint64_t v)
{
    unsigned n = 1;

    while (v >>= 4)
        n++;
    return n;
}

static uint64_t div_up(uint64_t a, uint64_t b)
{
    return a / b + (a % b != 0);
}

static uint64_t rows_for(const map *m, uint64_t group, uint32_t width)
{
    uint64_t rows = 0;
    uint32_t r;

    for (r = 0; r < m->g.nr_regions; r++)
        rows += div_up(div_up(m->g.regions[r].len / m->g.block_size, group), width);
    return rows;
}

static void cell_merge(cell *c, const cell *b, bool first)
{
    if (first)
        *c = *b;
    else if (c->kind != b->kind || c->owner != b->owner)
        c->kind = CELL_MIXED, c->owner = 0;
}

static int map_build(mhsld_state *st, const ctl_map_opts *o, unsigned max_rows, map *m, char *err,
                     size_t errlen)
{
    uint64_t nblocks, block = 0;
    uint32_t r, h;
    mhsld_status s;

    memset(m, 0, sizeof(*m));
    s = mhsld_get_geometry(st, &m->g);
    if (s != MHSLD_OK) {
        snprintf(err, errlen, "cannot read geometry: %s", mhsld_strerror(s));
        return CTL_EXIT_STATE;
    }
    nblocks = mhsld_block_count(st);
    if (m->g.nr_regions == 0 || m->g.nr_regions > MHSLD_MAX_REGIONS ||
        m->g.nr_heads > MHSLD_MAX_HEADS || m->g.block_size == 0) {
        snprintf(err, errlen, "geometry out of range");
        return CTL_EXIT_STATE;
    }
    for (h = 0; h < m->g.nr_heads; h++) {
        s = mhsld_head_info_get(st, h, &m->heads[h]);
        if (s != MHSLD_OK) {
            snprintf(err, errlen, "head %" PRIu32 ": %s", h, mhsld_strerror(s));
            return s == MHSLD_E_NOMEM ? CTL_EXIT_IO : CTL_EXIT_STATE;
        }
    }
    {
        const mhsld_region *last = &m->g.regions[m->g.nr_regions - 1];
        m->label = 2 + hex_digits(last->base + last->len - 1);
    }
    m->width = o->width;
    if (m->width == 0) {
        m->width = 64;
        while (m->width > 8 && 2 + m->label + 1 + m->width > TEXT_COLUMNS)
            m->width /= 2;
    }
    m->group = 1;
    while (rows_for(m, m->group, m->width) > max_rows && m->group < nblocks)
        m->group *= 2;
    for (r = 0; r < m->g.nr_regions; r++) {
        m->first[r] = m->total;
        m->ncells[r] = div_up(m->g.regions[r].len / m->g.block_size, m->group);
        m->total += m->ncells[r];
    }
    m->cells = calloc((size_t)m->total, sizeof(cell));
    if (m->cells == NULL) {
        snprintf(err, errlen, "out of memory");
        return CTL_EXIT_IO;
    }
    for (r = 0; r < m->g.nr_regions; r++) {
        uint64_t rblocks = m->g.regions[r].len / m->g.block_size, b;
        for (b = 0; b < rblocks; b++, block++) {
            mhsld_block_info bi;
            cell c = {CELL_BAD, 0};
            if (block >= nblocks) {
                snprintf(err, errlen, "regions describe more than the %" PRIu64 " blocks", nblocks);
                return CTL_EXIT_STATE;
            }
            s = mhsld_block_info_get(st, block, &bi);
            if (s != MHSLD_OK) {
                snprintf(err, errlen, "block %" PRIu64 ": %s", block, mhsld_strerror(s));
                return CTL_EXIT_STATE;
            }
            switch (bi.state) {
            case MHSLD_BLOCK_FREE:
                c.kind = CELL_FREE;
                break;
            case MHSLD_BLOCK_PENDING:
            case MHSLD_BLOCK_OWNED:
                if (bi.owner < m->g.nr_heads) {
                    c.kind = bi.state == MHSLD_BLOCK_PENDING ? CELL_PENDING : CELL_OWNED;
                    c.owner = (uint8_t)bi.owner;
                }
                break;
            case MHSLD_BLOCK_SHARED:
                c.kind = CELL_SHARED;
                break;
            default:
                break;
            }
            cell_merge(&m->cells[m->first[r] + b / m->group], &c, b % m->group == 0);
        }
    }
    return CTL_EXIT_OK;
}

/* ---- text ---------------------------------------------------------------- */

static const unsigned head_bg[] = {41, 42, 43, 44, 45, 46, 101, 102, 103, 104, 105, 106};
#define NR_BG (sizeof(head_bg) / sizeof(head_bg[0]))

static void text_cell(FILE *out, const cell *c, bool color)
{
    unsigned bg = head_bg[c->owner % NR_BG];
    unsigned fg = (bg == 41 || bg == 44 || bg == 45) ? 97 : 30;

    switch (c->kind) {
    case CELL_FREE:
        fputs(color ? "\033[2m.\033[0m" : ".", out);
        break;
    case CELL_PENDING:
        if (color)
            fprintf(out, "\033[1;%um+\033[0m", bg - 10);
        else
            fputc('+', out);
        break;
    case CELL_OWNED:
        if (color)
            fprintf(out, "\033[%u;%um%c\033[0m", fg, bg, head_sym[c->owner]);
        else
            fputc(head_sym[c->owner], out);
        break;
    case CELL_SHARED:
        fputs(color ? "\033[1;97;100m#\033[0m" : "#", out);
        break;
    case CELL_MIXED:
        fputs(color ? "\033[1m*\033[0m" : "*", out);
        break;
    default:
        fputs(color ? "\033[1;31m!\033[0m" : "!", out);
        break;
    }
}

static void text_heads(FILE *out, const map *m, bool color)
{
    uint32_t h, quiet = 0;

    for (h = 0; h < m->g.nr_heads; h++) {
        const mhsld_head_info *hi = &m->heads[h];
        char a[CTL_FMTLEN], b[CTL_FMTLEN], c[CTL_FMTLEN];
        cell sw = {CELL_OWNED, (uint8_t)h};

        if (hi->owned_blocks + hi->pending_blocks + hi->shared_blocks == 0 && !hi->alive) {
            quiet++;
            continue;
        }
        fputs("  ", out);
        text_cell(out, &sw, color);
        fprintf(out, " head %-2" PRIu32 " owned %-6s pending %-6s shared %-6s %s\n", h,
                ctl_fmt_len(hi->owned_blocks * m->g.block_size, a),
                ctl_fmt_len(hi->pending_blocks * m->g.block_size, b),
                ctl_fmt_len(hi->shared_blocks * m->g.block_size, c),
                hi->alive ? "alive" : (hi->epoch ? "detached" : "never attached"));
    }
    if (quiet != 0)
        fprintf(out, "  %" PRIu32 " other head%s hold%s nothing\n", quiet, quiet == 1 ? "" : "s",
                quiet == 1 ? "s" : "");
}

static void draw_text(FILE *out, const map *m, const ctl_map_opts *o)
{
    char a[CTL_FMTLEN], b[CTL_FMTLEN];
    uint64_t nblocks = 0;
    uint32_t r;
    static const cell lfree = {CELL_FREE, 0}, lpend = {CELL_PENDING, 0}, lshared = {CELL_SHARED, 0},
                      lmixed = {CELL_MIXED, 0};

    for (r = 0; r < m->g.nr_regions; r++)
        nblocks += m->g.regions[r].len / m->g.block_size;
    fprintf(out, "%s\n", o->title);
    fprintf(
        out, "%" PRIu64 " blocks of %s, %" PRIu32 " region%s, %" PRIu64 " block%s per cell (%s)\n",
        nblocks, ctl_fmt_len(m->g.block_size, a), m->g.nr_regions, m->g.nr_regions == 1 ? "" : "s",
        m->group, m->group == 1 ? "" : "s", ctl_fmt_len(m->group * m->g.block_size, b));
    for (r = 0; r < m->g.nr_regions; r++) {
        const mhsld_region *rg = &m->g.regions[r];
        mhsld_extent e = {rg->base, rg->len};
        uint64_t c;

        fprintf(out, "region %" PRIu32 " %s%s\n", r, ctl_fmt_extent(&e, a),
                (rg->flags & MHSLD_REGION_SHARABLE) ? " (sharable)" : "");
        for (c = 0; c < m->ncells[r]; c++) {
            if (c % m->width == 0) {
                uint64_t dpa = rg->base + c * m->group * m->g.block_size;
                if (c != 0)
                    fputc('\n', out);
                fprintf(out, "  0x%0*" PRIx64 " ", (int)(m->label - 2), dpa);
            }
            text_cell(out, &m->cells[m->first[r] + c], o->color);
        }
        fputc('\n', out);
    }
    fputs("legend: ", out);
    text_cell(out, &lfree, o->color);
    fputs(" free  ", out);
    text_cell(out, &lpend, o->color);
    fputs(" pending (reserved, not accepted)  ", out);
    text_cell(out, &lshared, o->color);
    fputs(" shared  ", out);
    text_cell(out, &lmixed, o->color);
    fputs(" mixed\n", out);
    text_heads(out, m, o->color);
}

/* ---- SVG ----------------------------------------------------------------- */

#define SVG_CELL 10u
#define SVG_PITCH 11u
#define SVG_MARGIN 12u
#define SVG_LINE 18u
#define SVG_CHAR 7u /* width of one monospace character at font-size 12 */

static void xml_text(FILE *out, const char *s)
{
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", out);
            break;
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        case '\'':
            fputs("&apos;", out);
            break;
        default:
            /* Control characters are not allowed in XML 1.0. */
            fputc((unsigned char)*s < 0x20 ? '?' : *s, out);
            break;
        }
    }
}

static void svg_fill(FILE *out, const cell *c)
{
    switch (c->kind) {
    case CELL_FREE:
        fputs("fill=\"#e4e4e4\"", out);
        break;
    case CELL_PENDING:
        fprintf(out,
                "fill=\"hsl(%u,65%%,45%%)\" fill-opacity=\"0.35\" stroke=\"hsl(%u,65%%,45%%)\"",
                (c->owner * 137u) % 360u, (c->owner * 137u) % 360u);
        break;
    case CELL_OWNED:
        fprintf(out, "fill=\"hsl(%u,65%%,45%%)\"", (c->owner * 137u) % 360u);
        break;
    case CELL_SHARED:
        fputs("fill=\"#303030\"", out);
        break;
    case CELL_MIXED:
        fputs("fill=\"#a0a0a0\" stroke=\"#505050\"", out);
        break;
    default:
        fputs("fill=\"#ffffff\" stroke=\"#ff0000\"", out);
        break;
    }
}

static const char *cell_words(const cell *c, char buf[CTL_FMTLEN])
{
    switch (c->kind) {
    case CELL_FREE:
        return "free";
    case CELL_PENDING:
        snprintf(buf, CTL_FMTLEN, "pending for head %u", c->owner);
        return buf;
    case CELL_OWNED:
        snprintf(buf, CTL_FMTLEN, "owned by head %u", c->owner);
        return buf;
    case CELL_SHARED:
        return "shared";
    case CELL_MIXED:
        return "mixed";
    default:
        return "unreadable";
    }
}

static void svg_swatch(FILE *out, unsigned x, unsigned y, const cell *c, const char *label)
{
    fprintf(out, "<rect x=\"%u\" y=\"%u\" width=\"%u\" height=\"%u\" ", x, y - SVG_CELL, SVG_CELL,
            SVG_CELL);
    svg_fill(out, c);
    fprintf(out, "/><text x=\"%u\" y=\"%u\">", x + SVG_CELL + 4, y);
    xml_text(out, label);
    fputs("</text>\n", out);
}

static void draw_svg(FILE *out, const map *m, const ctl_map_opts *o)
{
    unsigned left = SVG_MARGIN + (m->label + 1) * SVG_CHAR;
    unsigned width = left + m->width * SVG_PITCH + SVG_MARGIN;
    uint64_t rows = rows_for(m, m->group, m->width);
    unsigned legend_lines = 2 + m->g.nr_heads;
    uint64_t height = SVG_MARGIN + SVG_LINE * (1 + m->g.nr_regions + legend_lines) +
                      4u * (m->g.nr_regions + 1) + rows * SVG_PITCH + SVG_MARGIN * 2;
    unsigned y = SVG_MARGIN + SVG_LINE;
    char a[CTL_FMTLEN], b[CTL_FMTLEN], c[CTL_FMTLEN], line[160];
    uint32_t r, h;

    if (width < 560)
        width = 560;
    fprintf(out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%u\" height=\"%" PRIu64
            "\" viewBox=\"0 0 %u %" PRIu64 "\" font-family=\"monospace\" font-size=\"12\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n",
            width, height, width, height);
    fprintf(out, "<text x=\"%u\" y=\"%u\" font-weight=\"bold\">", SVG_MARGIN, y);
    xml_text(out, o->title);
    fprintf(out, ": %s blocks, %" PRIu64 " per cell</text>\n", ctl_fmt_len(m->g.block_size, a),
            m->group);
    for (r = 0; r < m->g.nr_regions; r++) {
        const mhsld_region *rg = &m->g.regions[r];
        mhsld_extent e = {rg->base, rg->len};
        uint64_t k;

        y += SVG_LINE;
        fprintf(out, "<text x=\"%u\" y=\"%u\">region %" PRIu32 " %s%s</text>\n", SVG_MARGIN, y, r,
                ctl_fmt_extent(&e, a), (rg->flags & MHSLD_REGION_SHARABLE) ? " (sharable)" : "");
        y += 4;
        for (k = 0; k < m->ncells[r]; k++) {
            const cell *ce = &m->cells[m->first[r] + k];
            uint64_t dpa = rg->base + k * m->group * m->g.block_size;
            mhsld_extent ce_ext = {dpa, m->group * m->g.block_size};
            unsigned x = left + (unsigned)(k % m->width) * SVG_PITCH;

            if (k % m->width == 0) {
                y += SVG_PITCH;
                fprintf(out, "<text x=\"%u\" y=\"%u\">0x%0*" PRIx64 "</text>\n", SVG_MARGIN, y,
                        (int)(m->label - 2), dpa);
            }
            if (ce_ext.dpa + ce_ext.len > rg->base + rg->len)
                ce_ext.len = rg->base + rg->len - ce_ext.dpa;
            fprintf(out, "<rect x=\"%u\" y=\"%u\" width=\"%u\" height=\"%u\" ", x, y - SVG_CELL,
                    SVG_CELL, SVG_CELL);
            svg_fill(out, ce);
            fprintf(out, "><title>%s %s</title></rect>\n", ctl_fmt_extent(&ce_ext, b),
                    cell_words(ce, c));
        }
    }
    y += SVG_LINE + 4;
    {
        static const cell lfree = {CELL_FREE, 0}, lshared = {CELL_SHARED, 0},
                          lmixed = {CELL_MIXED, 0};
        svg_swatch(out, SVG_MARGIN, y, &lfree, "free");
        svg_swatch(out, SVG_MARGIN + 90, y, &lshared, "shared");
        svg_swatch(out, SVG_MARGIN + 180, y, &lmixed, "mixed");
        y += SVG_LINE;
    }
    for (h = 0; h < m->g.nr_heads; h++) {
        const mhsld_head_info *hi = &m->heads[h];
        cell own = {CELL_OWNED, (uint8_t)h}, pend = {CELL_PENDING, (uint8_t)h};

        snprintf(line, sizeof(line), "head %" PRIu32 " owned %s", h,
                 ctl_fmt_len(hi->owned_blocks * m->g.block_size, a));
        svg_swatch(out, SVG_MARGIN, y, &own, line);
        snprintf(line, sizeof(line), "pending %s, shared %s%s",
                 ctl_fmt_len(hi->pending_blocks * m->g.block_size, b),
                 ctl_fmt_len(hi->shared_blocks * m->g.block_size, c), hi->alive ? ", alive" : "");
        svg_swatch(out, SVG_MARGIN + 220, y, &pend, line);
        y += SVG_LINE;
    }
    fputs("</svg>\n", out);
}

int ctl_map_draw(mhsld_state *st, const ctl_map_opts *o, bool svg, FILE *out, char *err,
                 size_t errlen)
{
    map *m = malloc(sizeof(*m));
    int rc;

    if (m == NULL) {
        snprintf(err, errlen, "out of memory");
        return CTL_EXIT_IO;
    }
    if (o->width > MAX_WIDTH) {
        free(m);
        snprintf(err, errlen, "width %" PRIu32 " is larger than %u", o->width, MAX_WIDTH);
        return CTL_EXIT_USAGE;
    }
    rc = map_build(st, o, svg ? SVG_MAX_ROWS : TEXT_MAX_ROWS, m, err, errlen);
    if (rc == CTL_EXIT_OK) {
        if (svg)
            draw_svg(out, m, o);
        else
            draw_text(out, m, o);
    }
    free(m->cells);
    free(m);
    return rc;
}
