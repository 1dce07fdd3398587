/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * cxl-mhsld: a CXL Multi-Headed Single Logical Device (MH-SLD) with Dynamic
 * Capacity.  Every head is one QEMU process running this device; the heads
 * share the device's ownership state through libmhsld (a POSIX shm object
 * or a file on /dev/shm, hugetlbfs or a DAX device).
 *
 * This file is a thin wrapper: it turns the cxl-type3 multi-headed hooks
 * (CXLType3Class::mhd_*) and the DCD and MHD mailbox commands into libmhsld
 * calls.  Every ownership decision is libmhsld's, and every DCD request of
 * the guest is decoded only by libmhsld's mailbox codec.
 *
 *   QMP cxl-add-dynamic-capacity    mhd_reserve      mhsld_reserve()
 *   HDM-decoded access to DC        mhd_access_valid mhsld_access_ok_fast()
 *   4800h-4803h, 5500h, 5501h       mailbox          mhsld_mbox_execute()
 *   realize / unrealize / reset     -                attach/detach/release_all
 *
 * What cxl-type3 itself keeps about dynamic capacity (its extent list, used
 * by the HDM decoder and by the QMP checks; its pending offers; the extent
 * list generation) is rebuilt from the engine in one place,
 * cxl_mhsld_sync(), after every DCD command and on reset.
 *
 * Command line (the RFC's, unchanged):
 *   -device cxl-mhsld,bus=rp0,num-dc-regions=1,volatile-dc-memdev=mem0,
 *           id=cxl-mem0,sn=66667,mhd-head=0,mhd-state_file=mhd_metadata,
 *           mhd-init=true
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/log.h"
#include "qemu/module.h"
#include "hw/cxl/cxl.h"
#include "hw/cxl/cxl_device.h"
#include "hw/cxl/cxl_mailbox.h"
#include "hw/pci/pci.h"
#include "hw/pci/pci_device.h"
#include "hw/qdev-properties.h"
#include "hw/resettable.h"

#include "mhsld/mhsld.h"
#include "mhsld/mailbox.h"

#define TYPE_CXL_MHSLD "cxl-mhsld"
OBJECT_DECLARE_TYPE(CXLMHSLDState, CXLMHSLDClass, CXL_MHSLD)

/*
 * Heads of a state this device creates when mhd-heads is not given: the
 * RFC's byte-per-block map had room for 8, so its command line (which names
 * no head count) keeps working for up to 8 heads.
 */
#define CXL_MHSLD_DEFAULT_HEADS 8

/* DCD command set (CXL r3.1 section 8.2.9.9.9) */
#define DCD_CMD_SET 0x48
#define DCD_GET_DC_CONFIG 0x00
#define DCD_GET_EXTENT_LIST 0x01
#define DCD_ADD_DC_RESPONSE 0x02
#define DCD_RELEASE_DC 0x03

/* MHD command set (CXL r3.1 section 7.6.7.5) */
#define MHD_CMD_SET 0x55
#define MHD_GET_INFO 0x00
#define MHD_GET_HEAD_INFO 0x01

struct CXLMHSLDState {
    CXLType3Dev parent_obj;

    /* Properties */
    uint32_t mhd_head;
    char *mhd_state_file;
    bool mhd_init;
    uint32_t mhd_heads; /* 0: the state's count (or the default to create) */

    /* State */
    mhsld_state *st;
    mhsld_head *head;
    /* The parts of an Add DC Response sent with More set (4802h). */
    mhsld_mbox_accum accum;
};

struct CXLMHSLDClass {
    CXLType3Class parent_class;

    void (*parent_realize)(PCIDevice *dev, Error **errp);
    PCIUnregisterFunc *parent_exit;
    ResettablePhases parent_phases;
};

/* ---- errors ------------------------------------------------------------- */

static void cxl_mhsld_error(Error **errp, const CXLMHSLDState *s,
                            mhsld_status rc, const char *what)
{
    if (rc == MHSLD_E_IO && mhsld_last_errno()) {
        error_setg(errp, "cxl-mhsld head %" PRIu32 ": %s: %s (%s)",
                   s->mhd_head, what, mhsld_strerror(rc),
                   strerror(mhsld_last_errno()));
    } else {
        error_setg(errp, "cxl-mhsld head %" PRIu32 ": %s: %s", s->mhd_head,
                   what, mhsld_strerror(rc));
    }
}

/* "owned by head 0", "pending for head 2", ... for a conflict report. */
static char *cxl_mhsld_holder(const CXLMHSLDState *s,
                              const mhsld_conflict *c)
{
    const char *how;

    if (c->owner == MHSLD_OWNER_SHARED || c->state == MHSLD_BLOCK_SHARED) {
        return g_strdup("shared by other heads");
    }
    if (c->owner == MHSLD_OWNER_NONE) {
        return g_strdup("not available");
    }
    switch (c->state) {
    case MHSLD_BLOCK_PENDING:
        how = "offered to (pending for)";
        break;
    case MHSLD_BLOCK_OWNED:
        how = "owned by";
        break;
    default:
        how = "held by";
        break;
    }
    if (c->owner == s->mhd_head) {
        return g_strdup_printf("already %s this head (head %" PRIu32 ")",
                               how, c->owner);
    }
    return g_strdup_printf("%s head %" PRIu32, how, c->owner);
}

static mhsld_extent *cxl_mhsld_extents(const CXLDCExtentRange *r, uint32_t n)
{
    mhsld_extent *e = g_new0(mhsld_extent, n ? n : 1);
    uint32_t i;

    for (i = 0; i < n; i++) {
        e[i].dpa = r[i].start_dpa;
        e[i].len = r[i].len;
    }
    return e;
}

/* ---- CXLType3Class multi-headed hooks ------------------------------------ */

static bool cxl_mhsld_reserve(CXLType3Dev *ct3d, const CXLDCExtentRange *ext,
                              uint32_t n, Error **errp)
{
    CXLMHSLDState *s = CXL_MHSLD(ct3d);
    g_autofree mhsld_extent *e = cxl_mhsld_extents(ext, n);
    mhsld_conflict c = { .owner = MHSLD_OWNER_NONE };
    uint64_t group;
    mhsld_status rc;

    if (!s->head) {
        error_setg(errp, "cxl-mhsld: not attached to a state");
        return false;
    }
    rc = mhsld_reserve(s->head, e, n, &group, &c);
    if (rc == MHSLD_E_CONFLICT) {
        g_autofree char *holder = cxl_mhsld_holder(s, &c);

        error_setg(errp, "cxl-mhsld head %" PRIu32 ": cannot add capacity: "
                   "DPA 0x%" PRIx64 " is %s", s->mhd_head, c.dpa, holder);
        return false;
    }
    if (rc != MHSLD_OK) {
        cxl_mhsld_error(errp, s, rc, "cannot add capacity");
        return false;
    }
    return true;
}

static bool cxl_mhsld_access_valid(CXLType3Dev *ct3d, uint64_t dpa,
                                   uint64_t len)
{
    CXLMHSLDState *s = CXL_MHSLD(ct3d);

    return s->head && mhsld_access_ok_fast(s->head, dpa, len);
}

/* ---- cxl-type3's view of the capacity, derived from the engine ---------- */

/* Drop cxl-type3's extent list and pending offers. */
static void cxl_mhsld_forget_extents(CXLType3Dev *ct3d)
{
    CXLDCExtent *ent, *ent_next;

    QTAILQ_FOREACH_SAFE(ent, &ct3d->dc.extents, node, ent_next) {
        ct3_clear_region_block_backed(ct3d, ent->start_dpa, ent->len);
        cxl_remove_extent_from_extent_list(&ct3d->dc.extents, ent);
    }
    while (!QTAILQ_EMPTY(&ct3d->dc.extents_pending)) {
        cxl_extent_group_list_delete_front(&ct3d->dc.extents_pending);
    }
    ct3d->dc.total_extent_count = 0;
}

/*
 * The one place where cxl-type3's state follows the engine: its extent list
 * (the host's DC extent list: owned and shared extents, with their tags),
 * the block-backed map the HDM decoder checks, the pending offers (oldest
 * first) and the list generation.  Called after every DCD mailbox command
 * and on reset; idempotent.  If the engine cannot be read, cxl-type3 is left
 * with nothing (accesses are checked against the engine anyway).
 */
static void cxl_mhsld_sync(CXLMHSLDState *s)
{
    CXLType3Dev *ct3d = CXL_TYPE3(s);
    g_autofree mhsld_extent *ext = NULL;
    g_autofree uint8_t *tags = NULL;
    mhsld_extent pext[MHSLD_MAX_EXTENTS];
    uint64_t groups[MHSLD_MAX_PENDING];
    size_t n = 0, total = 0, ng = 0, i, k;
    uint32_t gen = 0;
    mhsld_status rc;

    cxl_mhsld_forget_extents(ct3d);
    if (!s->head) {
        return;
    }
    rc = mhsld_extents_get(s->st, s->mhd_head, MHSLD_EXT_ALL, 0, NULL, NULL,
                           0, NULL, &total, NULL);
    if (rc == MHSLD_OK) {
        ext = g_new0(mhsld_extent, total + 1);
        tags = g_malloc0_n(total + 1, MHSLD_TAG_SIZE);
        rc = mhsld_extents_get(s->st, s->mhd_head, MHSLD_EXT_ALL, 0, ext,
                               (uint8_t (*)[MHSLD_TAG_SIZE])tags, total + 1,
                               &n, &total, &gen);
    }
    if (rc == MHSLD_OK) {
        rc = mhsld_pending_list(s->head, groups, MHSLD_MAX_PENDING, &ng);
    }
    if (rc != MHSLD_OK) {
        warn_report("cxl-mhsld head %" PRIu32 ": cannot read the extent "
                    "lists: %s", s->mhd_head, mhsld_strerror(rc));
        return;
    }
    for (i = 0; i < n; i++) {
        cxl_insert_extent_to_extent_list(&ct3d->dc.extents, ext[i].dpa,
                                         ext[i].len,
                                         &tags[i * MHSLD_TAG_SIZE], 0);
        ct3_set_region_block_backed(ct3d, ext[i].dpa, ext[i].len);
    }
    ct3d->dc.total_extent_count = n;
    ct3d->dc.ext_list_gen_seq = gen;

    for (i = 0; i < ng && i < MHSLD_MAX_PENDING; i++) {
        CXLDCExtentGroup *group = NULL;
        size_t ne = 0;

        if (mhsld_pending_get(s->head, groups[i], pext, MHSLD_MAX_EXTENTS,
                              &ne) != MHSLD_OK) {
            continue; /* settled meanwhile */
        }
        for (k = 0; k < ne && k < MHSLD_MAX_EXTENTS; k++) {
            group = cxl_insert_extent_to_extent_group(group, pext[k].dpa,
                                                      pext[k].len, NULL, 0);
        }
        if (group) {
            cxl_extent_group_list_insert_tail(&ct3d->dc.extents_pending,
                                              group);
        }
    }
}

/* ---- mailbox: DCD and MHD commands served by libmhsld's codec ------------ */

static CXLRetCode cxl_mhsld_mbox(CXLCCI *cci, uint16_t opcode,
                                 uint8_t *payload_in, size_t len_in,
                                 uint8_t *payload_out, size_t *len_out)
{
    CXLMHSLDState *s = CXL_MHSLD(cci->d);
    mhsld_mbox_ctx ctx;
    size_t out_len = 0;
    int rc;

    *len_out = 0;
    if (!s->head) {
        return CXL_MBOX_INTERNAL_ERROR;
    }
    mhsld_mbox_ctx_init(&ctx, s->st, s->head);
    ctx.accum = &s->accum;
    rc = mhsld_mbox_execute(&ctx, opcode, payload_in, len_in, payload_out,
                            cci->payload_max, &out_len);
    if (rc != CXL_MBOX_SUCCESS) {
        qemu_log_mask(LOG_GUEST_ERROR, "cxl-mhsld head %" PRIu32
                      ": mailbox command %04" PRIx16 "h refused: %s\n",
                      s->mhd_head, opcode, mhsld_cxl_rc_name(rc));
    }
    if ((opcode >> 8) == DCD_CMD_SET) {
        cxl_mhsld_sync(s);
    }
    if (rc < 0 || rc > CXL_MBOX_MAX || out_len > cci->payload_max) {
        return CXL_MBOX_INTERNAL_ERROR;
    }
    *len_out = out_len;
    return (CXLRetCode)rc;
}

/*
 * CXL r3.1 section 8.2.9.9.9: the host's Dynamic Capacity commands.
 *
 * Add Dynamic Capacity Response (4802h), section 8.2.9.9.9.3, is how the
 * host acknowledges which extents of the Add Capacity event(s) it accepts;
 * responses come in the order of the events, and a response split over
 * several commands sets More on every part but the last.  So the response
 * answers the oldest pending offer, and the engine's dispatcher settles
 * that offer only with the last part, once the codec and the engine have
 * accepted every part.
 *
 * What a refused response does to the offer, decided from that wording: a
 * command answered with an error return code acknowledged nothing, so the
 * offer is still waiting for its response and stays pending (with the parts
 * of a split response accepted so far) for the host to answer again.
 * Settling or freeing it would act on a response the device refused; and a
 * response naming capacity outside the oldest offer (another offer's,
 * another head's, never offered) does not name that offer at all: it is
 * Invalid Physical Address and touches no offer.  A well-formed empty
 * response is the host's way to decline the whole offer.
 */
static CXLRetCode cmd_mhsld_dcd_get_config(const struct cxl_cmd *cmd,
                                           uint8_t *payload_in,
                                           size_t len_in,
                                           uint8_t *payload_out,
                                           size_t *len_out, CXLCCI *cci)
{
    return cxl_mhsld_mbox(cci, DCD_CMD_SET << 8 | DCD_GET_DC_CONFIG,
                          payload_in, len_in, payload_out, len_out);
}

static CXLRetCode cmd_mhsld_dcd_get_extents(const struct cxl_cmd *cmd,
                                            uint8_t *payload_in,
                                            size_t len_in,
                                            uint8_t *payload_out,
                                            size_t *len_out, CXLCCI *cci)
{
    return cxl_mhsld_mbox(cci, DCD_CMD_SET << 8 | DCD_GET_EXTENT_LIST,
                          payload_in, len_in, payload_out, len_out);
}

static CXLRetCode cmd_mhsld_dcd_add_rsp(const struct cxl_cmd *cmd,
                                        uint8_t *payload_in, size_t len_in,
                                        uint8_t *payload_out,
                                        size_t *len_out, CXLCCI *cci)
{
    return cxl_mhsld_mbox(cci, DCD_CMD_SET << 8 | DCD_ADD_DC_RESPONSE,
                          payload_in, len_in, payload_out, len_out);
}

static CXLRetCode cmd_mhsld_dcd_release(const struct cxl_cmd *cmd,
                                        uint8_t *payload_in, size_t len_in,
                                        uint8_t *payload_out,
                                        size_t *len_out, CXLCCI *cci)
{
    return cxl_mhsld_mbox(cci, DCD_CMD_SET << 8 | DCD_RELEASE_DC,
                          payload_in, len_in, payload_out, len_out);
}

/* CXL r3.1 section 7.6.7.5.1: Get Multi-Headed Info (Opcode 5500h) */
static CXLRetCode cmd_mhd_get_info(const struct cxl_cmd *cmd,
                                   uint8_t *payload_in, size_t len_in,
                                   uint8_t *payload_out, size_t *len_out,
                                   CXLCCI *cci)
{
    return cxl_mhsld_mbox(cci, MHD_CMD_SET << 8 | MHD_GET_INFO, payload_in,
                          len_in, payload_out, len_out);
}

/* CXL r3.1 section 7.6.7.5.2: Get Head Info (Opcode 5501h) */
static CXLRetCode cmd_mhd_get_head_info(const struct cxl_cmd *cmd,
                                        uint8_t *payload_in, size_t len_in,
                                        uint8_t *payload_out, size_t *len_out,
                                        CXLCCI *cci)
{
    return cxl_mhsld_mbox(cci, MHD_CMD_SET << 8 | MHD_GET_HEAD_INFO,
                          payload_in, len_in, payload_out, len_out);
}

/*
 * Input lengths are variable here: the codec checks them.  The effects are
 * cxl-type3's for the same commands.
 */
static const struct cxl_cmd cxl_mhsld_cmd_set[256][256] = {
    [DCD_CMD_SET][DCD_GET_DC_CONFIG] = { "DCD_GET_DC_CONFIG",
                                         cmd_mhsld_dcd_get_config, ~0, 0 },
    [DCD_CMD_SET][DCD_GET_EXTENT_LIST] = {
        "DCD_GET_DYNAMIC_CAPACITY_EXTENT_LIST", cmd_mhsld_dcd_get_extents,
        ~0, 0 },
    [DCD_CMD_SET][DCD_ADD_DC_RESPONSE] = {
        "DCD_ADD_DYNAMIC_CAPACITY_RESPONSE", cmd_mhsld_dcd_add_rsp, ~0,
        CXL_MBOX_IMMEDIATE_DATA_CHANGE },
    [DCD_CMD_SET][DCD_RELEASE_DC] = { "DCD_RELEASE_DYNAMIC_CAPACITY",
                                      cmd_mhsld_dcd_release, ~0,
                                      CXL_MBOX_IMMEDIATE_DATA_CHANGE },
    [MHD_CMD_SET][MHD_GET_INFO] = { "MHD_GET_INFO", cmd_mhd_get_info, ~0, 0 },
    [MHD_CMD_SET][MHD_GET_HEAD_INFO] = { "MHD_GET_HEAD_INFO",
                                         cmd_mhd_get_head_info, ~0, 0 },
};

/* ---- realize ------------------------------------------------------------- */

static bool cxl_mhsld_check_props(CXLMHSLDState *s, Error **errp)
{
    CXLType3Dev *ct3d = CXL_TYPE3(s);

    if (s->mhd_head == UINT32_MAX) {
        error_setg(errp, "cxl-mhsld: mhd-head must be set");
        return false;
    }
    if (!s->mhd_state_file || !*s->mhd_state_file) {
        error_setg(errp, "cxl-mhsld: mhd-state_file must be set");
        return false;
    }
    if (s->mhd_heads > MHSLD_MAX_HEADS) {
        error_setg(errp, "cxl-mhsld: mhd-heads=%" PRIu32 " is out of range "
                   "(1..%u, or 0 for the state's own count)", s->mhd_heads,
                   MHSLD_MAX_HEADS);
        return false;
    }
    if (s->mhd_heads && s->mhd_head >= s->mhd_heads) {
        error_setg(errp, "cxl-mhsld: mhd-head=%" PRIu32 " is out of range "
                   "for mhd-heads=%" PRIu32, s->mhd_head, s->mhd_heads);
        return false;
    }
    if (s->mhd_head >= MHSLD_MAX_HEADS) {
        error_setg(errp, "cxl-mhsld: mhd-head=%" PRIu32 " is out of range "
                   "(0..%u)", s->mhd_head, MHSLD_MAX_HEADS - 1);
        return false;
    }
    if (!ct3d->dc.num_regions) {
        error_setg(errp, "cxl-mhsld: needs dynamic capacity "
                   "(num-dc-regions >= 1 and volatile-dc-memdev)");
        return false;
    }
    return true;
}

/* The device's geometry, from the DC regions cxl-type3 has set up. */
static bool cxl_mhsld_geometry(CXLMHSLDState *s, uint32_t heads,
                               mhsld_geometry *g, Error **errp)
{
    CXLType3Dev *ct3d = CXL_TYPE3(s);
    mhsld_status rc;
    uint8_t i;

    if (ct3d->dc.num_regions > MHSLD_MAX_REGIONS) {
        error_setg(errp, "cxl-mhsld: %u DC regions, at most %u supported",
                   ct3d->dc.num_regions, MHSLD_MAX_REGIONS);
        return false;
    }
    mhsld_geometry_init(g, heads, ct3d->dc.regions[0].block_size,
                        ct3d->dc.regions[0].base, ct3d->dc.regions[0].len);
    g->nr_regions = ct3d->dc.num_regions;
    for (i = 0; i < ct3d->dc.num_regions; i++) {
        const CXLDCRegion *r = &ct3d->dc.regions[i];

        if (r->block_size != g->block_size) {
            error_setg(errp, "cxl-mhsld: DC region %u has block size 0x%"
                       PRIx64 ", region 0 has 0x%" PRIx64, i, r->block_size,
                       g->block_size);
            return false;
        }
        g->regions[i] = (mhsld_region) {
            .base = r->base,
            .len = r->len,
            .flags = 0,
            .dsmad_handle = r->dsmadhandle,
        };
    }
    rc = mhsld_geometry_check(g);
    if (rc != MHSLD_OK) {
        cxl_mhsld_error(errp, s, rc, "unsupported DC region geometry");
        return false;
    }
    return true;
}

static char *cxl_mhsld_geometry_str(const mhsld_geometry *g)
{
    GString *str = g_string_new(NULL);
    uint32_t i;

    g_string_append_printf(str, "%" PRIu32 " heads, block size 0x%" PRIx64,
                           g->nr_heads, g->block_size);
    for (i = 0; i < g->nr_regions && i < MHSLD_MAX_REGIONS; i++) {
        g_string_append_printf(str, ", region %" PRIu32 " [0x%" PRIx64
                               ", +0x%" PRIx64 ")", i, g->regions[i].base,
                               g->regions[i].len);
    }
    return g_string_free(str, false);
}

/*
 * mhd-init=true: create the state if it is absent, otherwise join it (its
 * geometry must match): a live state is never wiped.  mhd-init=false: the
 * state must exist.  Without mhd-heads the head count is the state's own.
 */
static bool cxl_mhsld_open(CXLMHSLDState *s, Error **errp)
{
    mhsld_open_opts o = {
        .size = sizeof(o),
        .path = s->mhd_state_file,
    };
    mhsld_geometry want, have;
    mhsld_state *probe = NULL;
    uint32_t heads = s->mhd_heads ? s->mhd_heads : CXL_MHSLD_DEFAULT_HEADS;
    mhsld_status rc;

    if (!s->mhd_heads) {
        /* Learn the head count of an existing state. */
        o.mode = MHSLD_OPEN_EXISTING;
        rc = mhsld_open(&o, &probe);
        if (rc == MHSLD_OK) {
            rc = mhsld_get_geometry(probe, &have);
            mhsld_close(probe);
            probe = NULL;
            if (rc == MHSLD_OK) {
                heads = have.nr_heads;
            }
        }
    }
    if (!cxl_mhsld_geometry(s, heads, &want, errp)) {
        return false;
    }
    if (s->mhd_head >= want.nr_heads) {
        error_setg(errp, "cxl-mhsld: mhd-head=%" PRIu32 " is out of range: "
                   "state '%s' has %" PRIu32 " heads", s->mhd_head,
                   s->mhd_state_file, want.nr_heads);
        return false;
    }

    o.mode = s->mhd_init ? MHSLD_OPEN_CREATE : MHSLD_OPEN_EXISTING;
    o.geometry = &want;
    rc = mhsld_open(&o, &s->st);
    if (rc == MHSLD_OK) {
        return true;
    }
    s->st = NULL;

    if (rc == MHSLD_E_GEOMETRY) {
        g_autofree char *w = cxl_mhsld_geometry_str(&want);
        g_autofree char *h = NULL;

        o.mode = MHSLD_OPEN_EXISTING;
        o.geometry = NULL;
        if (mhsld_open(&o, &probe) == MHSLD_OK) {
            if (mhsld_get_geometry(probe, &have) == MHSLD_OK) {
                h = cxl_mhsld_geometry_str(&have);
            }
            mhsld_close(probe);
        }
        error_setg(errp, "cxl-mhsld head %" PRIu32 ": state '%s' has another "
                   "geometry (%s) than this device (%s)", s->mhd_head,
                   s->mhd_state_file, h ? h : "unreadable", w);
        return false;
    }
    if (rc == MHSLD_E_NOENT && !s->mhd_init) {
        error_setg(errp, "cxl-mhsld head %" PRIu32 ": state '%s' does not "
                   "exist", s->mhd_head, s->mhd_state_file);
        error_append_hint(errp, "Start one head with mhd-init=true to "
                          "create it.\n");
        return false;
    }
    {
        g_autofree char *what = g_strdup_printf("cannot %s state '%s'",
                                                s->mhd_init ? "create or join" :
                                                "join", s->mhd_state_file);
        cxl_mhsld_error(errp, s, rc, what);
    }
    return false;
}

/* Attach this head: recovers and drops what its previous incarnation held. */
static bool cxl_mhsld_attach(CXLMHSLDState *s, Error **errp)
{
    mhsld_head_info info;
    mhsld_status rc;

    rc = mhsld_attach(s->st, s->mhd_head, MHSLD_ATTACH_DROP, &s->head);
    if (rc == MHSLD_OK) {
        return true;
    }
    s->head = NULL;
    if (rc == MHSLD_E_ALIVE &&
        mhsld_head_info_get(s->st, s->mhd_head, &info) == MHSLD_OK) {
        error_setg(errp, "cxl-mhsld head %" PRIu32 ": already attached to "
                   "state '%s' by a running process (pid %" PRIu32 ")",
                   s->mhd_head, s->mhd_state_file, info.pid);
        return false;
    }
    {
        g_autofree char *what = g_strdup_printf("cannot attach to state '%s'",
                                                s->mhd_state_file);
        cxl_mhsld_error(errp, s, rc, what);
    }
    return false;
}

static void cxl_mhsld_realize(PCIDevice *pci_dev, Error **errp)
{
    ERRP_GUARD();
    CXLMHSLDState *s = CXL_MHSLD(pci_dev);
    CXLMHSLDClass *mc = CXL_MHSLD_GET_CLASS(s);

    if (!cxl_mhsld_check_props(s, errp)) {
        return;
    }
    mc->parent_realize(pci_dev, errp);
    if (*errp) {
        return;
    }
    if (!cxl_mhsld_open(s, errp)) {
        goto err_parent;
    }
    if (!cxl_mhsld_attach(s, errp)) {
        goto err_close;
    }
    return;

err_close:
    mhsld_close(s->st);
    s->st = NULL;
err_parent:
    mc->parent_exit(pci_dev);
}

/* Detach (the state keeps this head's capacity) and close; never unlink. */
static void cxl_mhsld_exit(PCIDevice *pci_dev)
{
    CXLMHSLDState *s = CXL_MHSLD(pci_dev);
    CXLMHSLDClass *mc = CXL_MHSLD_GET_CLASS(s);

    mhsld_detach(s->head);
    s->head = NULL;
    mhsld_close(s->st);
    s->st = NULL;
    mc->parent_exit(pci_dev);
}

/* ---- reset --------------------------------------------------------------- */

static void cxl_mhsld_reset_hold(Object *obj, ResetType type)
{
    CXLMHSLDState *s = CXL_MHSLD(obj);
    CXLMHSLDClass *mc = CXL_MHSLD_GET_CLASS(obj);
    CXLType3Dev *ct3d = CXL_TYPE3(obj);
    uint64_t freed = 0;
    mhsld_status rc;

    if (mc->parent_phases.hold) {
        mc->parent_phases.hold(obj, type);
    }
    /* cxl-type3's reset rebuilt the mailbox command table: add ours. */
    cxl_add_cci_commands(&ct3d->cci, cxl_mhsld_cmd_set,
                         CXL_MAILBOX_MAX_PAYLOAD_SIZE);

    memset(&s->accum, 0, sizeof(s->accum));
    if (!s->head) {
        cxl_mhsld_forget_extents(ct3d);
        return;
    }
    /* A reset host owns nothing: give everything back. */
    rc = mhsld_release_all(s->head, &freed);
    if (rc != MHSLD_OK) {
        warn_report("cxl-mhsld head %" PRIu32 ": reset could not release "
                    "its capacity: %s", s->mhd_head, mhsld_strerror(rc));
    }
    cxl_mhsld_sync(s);
}

/* ---- type ---------------------------------------------------------------- */

static const Property cxl_mhsld_props[] = {
    DEFINE_PROP_UINT32("mhd-head", CXLMHSLDState, mhd_head, UINT32_MAX),
    DEFINE_PROP_STRING("mhd-state_file", CXLMHSLDState, mhd_state_file),
    DEFINE_PROP_BOOL("mhd-init", CXLMHSLDState, mhd_init, false),
    DEFINE_PROP_UINT32("mhd-heads", CXLMHSLDState, mhd_heads, 0),
};

static void cxl_mhsld_class_init(ObjectClass *oc, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(oc);
    PCIDeviceClass *pc = PCI_DEVICE_CLASS(oc);
    ResettableClass *rc = RESETTABLE_CLASS(oc);
    CXLType3Class *cvc = CXL_TYPE3_CLASS(oc);
    CXLMHSLDClass *mc = CXL_MHSLD_CLASS(oc);

    mc->parent_realize = pc->realize;
    mc->parent_exit = pc->exit;
    pc->realize = cxl_mhsld_realize;
    pc->exit = cxl_mhsld_exit;
    resettable_class_set_parent_phases(rc, NULL, cxl_mhsld_reset_hold, NULL,
                                       &mc->parent_phases);

    cvc->mhd_reserve = cxl_mhsld_reserve;
    cvc->mhd_access_valid = cxl_mhsld_access_valid;

    dc->desc = "CXL Multi-Headed Single Logical Device (Type 3, DCD)";
    device_class_set_props(dc, cxl_mhsld_props);
}

static const TypeInfo cxl_mhsld_info = {
    .name = TYPE_CXL_MHSLD,
    .parent = TYPE_CXL_TYPE3,
    .class_size = sizeof(CXLMHSLDClass),
    .class_init = cxl_mhsld_class_init,
    .instance_size = sizeof(CXLMHSLDState),
};

static void cxl_mhsld_register_types(void)
{
    type_register_static(&cxl_mhsld_info);
}

type_init(cxl_mhsld_register_types)
