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
 *     (enable-shared-access + tag)  mhd_share        mhsld_share_add_seq()
 *   HDM-decoded access to DC        mhd_access_valid mhsld_access_ok_fast()
 *   4800h-4803h, 5500h, 5501h       mailbox          mhsld_mbox_execute()
 *   realize / unrealize / reset     -                attach/detach/release_all
 *   fabric manager's queue          FM thread + BH   mhsld_fm_take/complete
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
#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "qemu/module.h"
#include "qemu/notify.h"
#include "qemu/uuid.h"
#include "qemu/thread.h"
#include "hw/cxl/cxl.h"
#include "hw/cxl/cxl_device.h"
#include "hw/cxl/cxl_mailbox.h"
#include "hw/pci/pci.h"
#include "hw/pci/pci_device.h"
#include "hw/qdev-properties.h"
#include "hw/resettable.h"
#include "system/system.h"
#include "migration/blocker.h"
#include "trace.h"

#include "mhsld/mhsld.h"
#include "mhsld/mailbox.h"
#include "mhsld/fm.h"

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

/* Shared offers the host has not answered yet, per head. */
#define CXL_MHSLD_MAX_SHARED_OFFERS 8

/*
 * A shared offer (QMP enable-shared-access): the head is a sharer from the
 * add on (the engine has no pending state for shared capacity); the host's
 * Add DC Response keeps the extents it names and leaves the others.
 */
typedef struct CXLMHSLDSharedOffer {
    QTAILQ_ENTRY(CXLMHSLDSharedOffer) node;
    uint32_t n;
    mhsld_extent ext[MHSLD_MAX_EXTENTS];
    bool accepted[MHSLD_MAX_EXTENTS]; /* named by a part sent with More */
    uint8_t tag[MHSLD_TAG_SIZE];
    /* The exclusive offers made before it: they are answered first. */
    size_t nolder;
    uint64_t older[MHSLD_MAX_PENDING];
} CXLMHSLDSharedOffer;
/* What mhsld_reserve() answered while the fabric manager's offer ran. */
typedef struct CXLMHSLDReserveOutcome {
    bool reached;
    mhsld_status rc;
    mhsld_conflict conflict;
    uint64_t group;
} CXLMHSLDReserveOutcome;

struct CXLMHSLDState {
    CXLType3Dev parent_obj;

    /* Properties */
    uint32_t mhd_head;
    char *mhd_state_file;
    bool mhd_init;
    uint32_t mhd_heads; /* 0: the state's count (or the default to create) */
    uint8_t mhd_sharable; /* bit i: DC region i is sharable */
    char *mhd_exit_policy; /* "keep" (default) or "release" */

    /* State */
    Error *migration_blocker; /* the shared state cannot migrate */
    mhsld_state *st;
    mhsld_head *head;
    /* The parts of an Add DC Response sent with More set (4802h). */
    mhsld_mbox_accum accum;
    /* Shared offers waiting for the host's Add DC Response, oldest first. */
    QTAILQ_HEAD(, CXLMHSLDSharedOffer) shared_offers;
    uint32_t nr_shared_offers;
    Notifier exit_notifier;

    /* The fabric manager's request queue (docs/fm.md) */
    QemuThread fm_thread;
    bool fm_running;          /* fm_thread exists */
    bool fm_stop;             /* atomic: the thread must exit */
    bool fm_backoff;          /* atomic: the BH could not read the queue */
    unsigned fm_taken;        /* atomic: requests the BH took since woken */
    QemuSemaphore fm_sem;     /* posted by the BH when done, and by stop */
    QEMUBH *fm_bh;
    CXLMHSLDReserveOutcome *fm_reserve; /* set while an FM offer runs */
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

static char *cxl_mhsld_tag_str(const uint8_t *tag)
{
    QemuUUID uuid;

    memcpy(uuid.data, tag, sizeof(uuid.data));
    return qemu_uuid_unparse_strdup(&uuid);
}

/*
 * "shared by heads 0,2 (extent [...), tag ...)" for the first shared extent
 * that overlaps [@dpa, @dpa + @len).
 */
static char *cxl_mhsld_sharers(const CXLMHSLDState *s, uint64_t dpa,
                               uint64_t len)
{
    g_autofree mhsld_shared_info *sh = g_new0(mhsld_shared_info,
                                              MHSLD_MAX_SHARED);
    size_t n = 0, i;
    uint32_t h;

    if (mhsld_shared_list(s->st, sh, MHSLD_MAX_SHARED, &n, NULL) != MHSLD_OK) {
        n = 0;
    }
    for (i = 0; i < n && i < MHSLD_MAX_SHARED; i++) {
        GString *str;
        g_autofree char *tag = NULL;
        const char *sep = "";

        if (dpa + len <= sh[i].ext.dpa ||
            sh[i].ext.dpa + sh[i].ext.len <= dpa) {
            continue;
        }
        str = g_string_new("shared by head");
        if (sh[i].sharers & (sh[i].sharers - 1)) {
            g_string_append_c(str, 's');
        }
        g_string_append_c(str, ' ');
        for (h = 0; h < MHSLD_MAX_HEADS; h++) {
            if (sh[i].sharers & (1u << h)) {
                g_string_append_printf(str, "%s%" PRIu32, sep, h);
                sep = ",";
            }
        }
        tag = cxl_mhsld_tag_str(sh[i].tag);
        g_string_append_printf(str, " (extent [0x%" PRIx64 ", +0x%" PRIx64
                               "), tag %s)", sh[i].ext.dpa, sh[i].ext.len,
                               tag);
        return g_string_free(str, false);
    }
    return g_strdup("shared by other heads");
}

/* "owned by head 0", "pending for head 2", ... for a conflict report. */
static char *cxl_mhsld_holder(const CXLMHSLDState *s,
                              const mhsld_conflict *c)
{
    const char *how;

    if (c->owner == MHSLD_OWNER_SHARED || c->state == MHSLD_BLOCK_SHARED) {
        return cxl_mhsld_sharers(s, c->dpa, 1);
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

/* Note the engine's answer to an FM offer's claim (cxl_mhsld_fm_offer). */
static void cxl_mhsld_fm_reserved(CXLMHSLDState *s, mhsld_status rc,
                                  const mhsld_conflict *c, uint64_t group)
{
    if (s->fm_reserve) {
        s->fm_reserve->reached = true;
        s->fm_reserve->rc = rc;
        s->fm_reserve->conflict = *c;
        s->fm_reserve->group = group;
    }
}

/* ---- CXLType3Class multi-headed hooks ------------------------------------ */

static bool cxl_mhsld_reserve(CXLType3Dev *ct3d, const CXLDCExtentRange *ext,
                              uint32_t n, Error **errp)
{
    CXLMHSLDState *s = CXL_MHSLD(ct3d);
    g_autofree mhsld_extent *e = cxl_mhsld_extents(ext, n);
    mhsld_conflict c = { .owner = MHSLD_OWNER_NONE };
    uint64_t group = 0;
    mhsld_status rc;

    if (!s->head) {
        error_setg(errp, "cxl-mhsld: not attached to a state");
        return false;
    }
    rc = mhsld_reserve(s->head, e, n, &group, &c);
    cxl_mhsld_fm_reserved(s, rc, &c, group);
    trace_cxl_mhsld_reserve(s->mhd_head, n, mhsld_strerror(rc), group);
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

    if (s->head && mhsld_access_ok_fast(s->head, dpa, len)) {
        return true;
    }
    trace_cxl_mhsld_access_denied(s->mhd_head, dpa, len);
    return false;
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
        /* Runs on every DCD command of the guest: warn once. */
        warn_report_once("cxl-mhsld head %" PRIu32 ": cannot read the "
                         "extent lists: %s", s->mhd_head, mhsld_strerror(rc));
        trace_cxl_mhsld_sync_failed(s->mhd_head, mhsld_strerror(rc));
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
    trace_cxl_mhsld_sync(s->mhd_head, n, ng, gen);

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

/* ---- shared capacity (enable-shared-access, tag-based release) ---------- */

/*
 * The Shared Extent Sequence of the active shared extent with exactly the
 * range of @e and tag @tag, if there is one.
 */
static bool cxl_mhsld_shared_seq(const CXLMHSLDState *s, const mhsld_extent *e,
                                 const uint8_t *tag, uint16_t *seq)
{
    g_autofree mhsld_shared_info *sh = g_new0(mhsld_shared_info,
                                              MHSLD_MAX_SHARED);
    size_t n = 0, i;

    if (mhsld_shared_list(s->st, sh, MHSLD_MAX_SHARED, &n, NULL) != MHSLD_OK) {
        return false;
    }
    for (i = 0; i < n && i < MHSLD_MAX_SHARED; i++) {
        if (sh[i].ext.dpa == e->dpa && sh[i].ext.len == e->len &&
            !memcmp(sh[i].tag, tag, MHSLD_TAG_SIZE)) {
            *seq = sh[i].seq;
            return true;
        }
    }
    return false;
}

static void cxl_mhsld_share_error(CXLMHSLDState *s, const mhsld_extent *e,
                                  const uint8_t *tag, uint16_t seq,
                                  mhsld_status rc, const mhsld_conflict *c,
                                  Error **errp)
{
    g_autofree char *holder = NULL;
    uint16_t have;

    switch (rc) {
    case MHSLD_E_NOT_SHARABLE:
        error_setg(errp, "cxl-mhsld head %" PRIu32 ": cannot share DPA 0x%"
                   PRIx64 ": its DC region is not sharable", s->mhd_head,
                   e->dpa);
        error_append_hint(errp, "Declare it with mhd-sharable-regions on "
                          "every head.\n");
        return;
    case MHSLD_E_TAG:
        holder = cxl_mhsld_sharers(s, e->dpa, e->len);
        if (cxl_mhsld_shared_seq(s, e, tag, &have) && have != seq) {
            error_setg(errp, "cxl-mhsld head %" PRIu32 ": cannot share [0x%"
                       PRIx64 ", +0x%" PRIx64 ") with Shared Extent Sequence "
                       "%u: it is %s with sequence %u", s->mhd_head, e->dpa,
                       e->len, seq, holder, have);
            error_append_hint(errp, "Offer the extents of a tag in the same "
                              "order on every head.\n");
            return;
        }
        error_setg(errp, "cxl-mhsld head %" PRIu32 ": cannot share [0x%"
                   PRIx64 ", +0x%" PRIx64 ") with this tag: it overlaps "
                   "capacity %s", s->mhd_head, e->dpa, e->len, holder);
        return;
    case MHSLD_E_CONFLICT:
        holder = cxl_mhsld_holder(s, c);
        error_setg(errp, "cxl-mhsld head %" PRIu32 ": cannot share "
                   "capacity: DPA 0x%" PRIx64 " is %s", s->mhd_head, c->dpa,
                   holder);
        return;
    default:
        cxl_mhsld_error(errp, s, rc, "cannot share capacity");
        return;
    }
}

/*
 * CXLType3Class::mhd_share: the first head to share an extent creates it,
 * later heads with the same range, tag and Shared Extent Sequence join it
 * (mhsld_share_add_seq); all or nothing over the extents of one request.
 * An extent's sequence is its index in @ext, the order of the QMP command,
 * as in the Add Capacity event records cxl-type3 sends.  The offer is kept
 * until the host answers it with Add DC Response.
 */
static bool cxl_mhsld_share(CXLType3Dev *ct3d, const CXLDCExtentRange *ext,
                            uint32_t n, const uint8_t *tag, Error **errp)
{
    CXLMHSLDState *s = CXL_MHSLD(ct3d);
    g_autofree mhsld_extent *e = cxl_mhsld_extents(ext, n);
    CXLMHSLDSharedOffer *o;
    mhsld_status rc;
    uint32_t i;

    if (!s->head) {
        error_setg(errp, "cxl-mhsld: not attached to a state");
        return false;
    }
    if (n > MHSLD_MAX_EXTENTS) {
        error_setg(errp, "cxl-mhsld head %" PRIu32 ": at most %u extents in "
                   "one shared add", s->mhd_head, MHSLD_MAX_EXTENTS);
        return false;
    }
    if (s->nr_shared_offers >= CXL_MHSLD_MAX_SHARED_OFFERS) {
        error_setg(errp, "cxl-mhsld head %" PRIu32 ": %u shared offers are "
                   "waiting for the host's response", s->mhd_head,
                   CXL_MHSLD_MAX_SHARED_OFFERS);
        return false;
    }
    for (i = 0; i < n; i++) {
        mhsld_conflict c = { .owner = MHSLD_OWNER_NONE };

        rc = mhsld_share_add_seq(s->head, &e[i], tag, i, &c);
        if (rc != MHSLD_OK) {
            cxl_mhsld_share_error(s, &e[i], tag, i, rc, &c, errp);
            while (i-- > 0) { /* leave (or drop) what this request joined */
                mhsld_share_release(s->head, &e[i]);
            }
            return false;
        }
    }
    o = g_new0(CXLMHSLDSharedOffer, 1);
    o->n = n;
    memcpy(o->ext, e, n * sizeof(e[0]));
    memcpy(o->tag, tag, MHSLD_TAG_SIZE);
    if (mhsld_pending_list(s->head, o->older, MHSLD_MAX_PENDING,
                           &o->nolder) != MHSLD_OK ||
        o->nolder > MHSLD_MAX_PENDING) {
        o->nolder = 0;
    }
    QTAILQ_INSERT_TAIL(&s->shared_offers, o, node);
    s->nr_shared_offers++;
    cxl_mhsld_sync(s);
    return true;
}

/* Is exclusive offer @group still waiting for the host's response? */
static bool cxl_mhsld_group_pending(CXLMHSLDState *s, uint64_t group)
{
    uint64_t groups[MHSLD_MAX_PENDING];
    size_t n = 0, i;

    if (mhsld_pending_list(s->head, groups, MHSLD_MAX_PENDING, &n) !=
        MHSLD_OK) {
        return false;
    }
    for (i = 0; i < n && i < MHSLD_MAX_PENDING; i++) {
        if (groups[i] == group) {
            return true;
        }
    }
    return false;
}

/* The oldest offer if it is a shared one (no older exclusive offer left). */
static CXLMHSLDSharedOffer *cxl_mhsld_oldest_shared(CXLMHSLDState *s)
{
    CXLMHSLDSharedOffer *o = QTAILQ_FIRST(&s->shared_offers);
    size_t i;

    if (!o) {
        return NULL;
    }
    for (i = 0; i < o->nolder; i++) {
        if (cxl_mhsld_group_pending(s, o->older[i])) {
            return NULL;
        }
    }
    return o;
}

static void cxl_mhsld_offer_done(CXLMHSLDState *s, CXLMHSLDSharedOffer *o)
{
    QTAILQ_REMOVE(&s->shared_offers, o, node);
    s->nr_shared_offers--;
    g_free(o);
}

/* Leave the extents of @o the host has not accepted, and forget @o. */
static void cxl_mhsld_offer_decline_rest(CXLMHSLDState *s,
                                         CXLMHSLDSharedOffer *o)
{
    mhsld_status rc;
    uint32_t i;

    for (i = 0; i < o->n; i++) {
        if (o->accepted[i]) {
            continue;
        }
        rc = mhsld_share_release(s->head, &o->ext[i]);
        if (rc != MHSLD_OK && rc != MHSLD_E_NOT_OWNER) {
            warn_report("cxl-mhsld head %" PRIu32 ": cannot leave shared "
                        "extent [0x%" PRIx64 ", +0x%" PRIx64 "): %s",
                        s->mhd_head, o->ext[i].dpa, o->ext[i].len,
                        mhsld_strerror(rc));
        }
    }
    cxl_mhsld_offer_done(s, o);
}

/*
 * Add DC Response (4802h) to a shared offer, decoded by the engine's codec.
 * Each extent named must be one of the offer's, exactly (shared extents are
 * joined and left whole); those named stay, the others are left when the
 * last part (More clear) arrives.  A refused part changes nothing.
 */
static int cxl_mhsld_shared_response(CXLMHSLDState *s, CXLMHSLDSharedOffer *o,
                                     const uint8_t *in, size_t len_in)
{
    g_autofree mhsld_mbox_dc_update_in *q = g_new0(mhsld_mbox_dc_update_in,
                                                   1);
    bool named[MHSLD_MAX_EXTENTS] = { false };
    uint64_t bs = CXL_TYPE3(s)->dc.regions[0].block_size;
    uint32_t i, k;
    int rc;

    rc = mhsld_mbox_dc_update_in_decode(in, len_in, q);
    if (rc != MHSLD_CXL_SUCCESS) {
        return rc;
    }
    for (i = 0; i < q->count && i < MHSLD_MAX_EXTENTS; i++) {
        const mhsld_extent *e = &q->ext[i];

        if (!e->len || e->dpa % bs || e->len % bs) {
            return MHSLD_CXL_INVALID_EXTENT_LIST;
        }
        for (k = 0; k < o->n; k++) {
            if (o->ext[k].dpa == e->dpa && o->ext[k].len == e->len) {
                break;
            }
        }
        if (k == o->n) {
            return MHSLD_CXL_INVALID_PA; /* not (exactly) in this offer */
        }
        if (named[k] || o->accepted[k]) {
            return MHSLD_CXL_INVALID_EXTENT_LIST; /* named twice */
        }
        named[k] = true;
    }
    for (k = 0; k < o->n; k++) {
        o->accepted[k] |= named[k];
    }
    if (!(q->flags & MHSLD_MBOX_UPDATE_MORE)) {
        cxl_mhsld_offer_decline_rest(s, o);
    }
    return MHSLD_CXL_SUCCESS;
}

/* 4802h: true (with the return code) if it answers a shared offer. */
static bool cxl_mhsld_add_rsp_shared(CXLMHSLDState *s, const uint8_t *in,
                                     size_t len_in, CXLRetCode *ret)
{
    CXLMHSLDSharedOffer *o;
    int rc;

    if (!s->head) {
        return false;
    }
    o = cxl_mhsld_oldest_shared(s);
    if (!o) {
        return false;
    }
    rc = cxl_mhsld_shared_response(s, o, in, len_in);
    trace_cxl_mhsld_shared_response(s->mhd_head, len_in, rc);
    if (rc != MHSLD_CXL_SUCCESS) {
        qemu_log_mask(LOG_GUEST_ERROR, "cxl-mhsld head %" PRIu32
                      ": Add DC Response to a shared offer refused: %s\n",
                      s->mhd_head, mhsld_cxl_rc_name(rc));
    }
    cxl_mhsld_sync(s);
    *ret = (CXLRetCode)rc;
    return true;
}

/* Forget the shared offers (the capacity itself was dealt with). */
static void cxl_mhsld_forget_offers(CXLMHSLDState *s)
{
    CXLMHSLDSharedOffer *o, *next;

    QTAILQ_FOREACH_SAFE(o, &s->shared_offers, node, next) {
        cxl_mhsld_offer_done(s, o);
    }
}

/* ---- clean exit ---------------------------------------------------------- */

/*
 * The host goes away (QEMU quits, or the device is unplugged): what it was
 * offered and never accepted cannot be answered any more, so it is freed
 * at once (exclusive offers are settled with nothing accepted, unanswered
 * shared offers are left).  Accepted capacity follows mhd-exit-policy:
 * "keep" (the default: the state keeps it for this head, as after a kill,
 * until the head attaches again or is recovered) or "release".
 */
static void cxl_mhsld_host_gone(CXLMHSLDState *s)
{
    uint64_t groups[MHSLD_MAX_PENDING];
    CXLMHSLDSharedOffer *o, *next;
    uint64_t freed = 0;
    size_t n = 0, i;
    mhsld_status rc;

    if (!s->head) {
        return;
    }
    QTAILQ_FOREACH_SAFE(o, &s->shared_offers, node, next) {
        cxl_mhsld_offer_decline_rest(s, o);
    }
    rc = mhsld_pending_list(s->head, groups, MHSLD_MAX_PENDING, &n);
    for (i = 0; rc == MHSLD_OK && i < n && i < MHSLD_MAX_PENDING; i++) {
        mhsld_status crc = mhsld_commit(s->head, groups[i], NULL, 0);

        if (crc != MHSLD_OK && crc != MHSLD_E_NO_GROUP) {
            rc = crc;
        }
    }
    if (rc != MHSLD_OK) {
        warn_report("cxl-mhsld head %" PRIu32 ": cannot free the offers "
                    "the host did not accept: %s", s->mhd_head,
                    mhsld_strerror(rc));
    }
    if (s->mhd_exit_policy && !strcmp(s->mhd_exit_policy, "release")) {
        rc = mhsld_release_all(s->head, &freed);
        if (rc != MHSLD_OK) {
            warn_report("cxl-mhsld head %" PRIu32 ": cannot release its "
                        "capacity on exit: %s", s->mhd_head,
                        mhsld_strerror(rc));
        }
    }
}

/* QEMU exits cleanly (quit, SIGTERM, the guest powering off). */
static void cxl_mhsld_exit_notify(Notifier *n, void *data)
{
    CXLMHSLDState *s = container_of(n, CXLMHSLDState, exit_notifier);

    cxl_mhsld_host_gone(s);
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
    trace_cxl_mhsld_mbox(s->mhd_head, opcode, len_in, rc, out_len);
    if (rc != CXL_MBOX_SUCCESS) {
        qemu_log_mask(LOG_GUEST_ERROR, "cxl-mhsld head %" PRIu32
                      ": mailbox command %04" PRIx16 "h refused: %s\n",
                      s->mhd_head, opcode, mhsld_cxl_rc_name(rc));
    }
    if ((opcode >> 8) == DCD_CMD_SET) {
        cxl_mhsld_sync(s);
    }
    if (rc < 0 || rc > CXL_MBOX_MAX || out_len > cci->payload_max) {
        /* An engine bug, but a guest can repeat it: report it once. */
        error_report_once("cxl-mhsld head %" PRIu32 ": mailbox command "
                          "%04" PRIx16 "h: the engine answered %d with %zu "
                          "bytes", s->mhd_head, opcode, rc, out_len);
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
    CXLRetCode ret;

    *len_out = 0;
    if (cxl_mhsld_add_rsp_shared(CXL_MHSLD(cci->d), payload_in, len_in,
                                 &ret)) {
        return ret;
    }
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

/* ---- the fabric manager's request queue ---------------------------------- */

/*
 * A fabric manager (FM) reaches this head through the shared state, with no
 * socket to this QEMU: any process that has the state open posts requests
 * into this head's queue (mhsld/fm.h, docs/fm.md, docs/fm-queue.md) and
 * waits for the answer; this device serves them.
 *
 * Why a thread and a bottom half.  What a request does to the device
 * (cxl-type3's extent lists, its event log, the guest's interrupt) must run
 * under the BQL, like the QMP command it stands for.  Waiting for requests
 * must not: the queue's doorbell is a futex word in the shared mapping, which
 * the main loop cannot poll (it is no file descriptor), and looking at the
 * queue from a timer would either add the timer's period to every request or
 * poll under the big lock.  So a thread of its own sleeps in mhsld_fm_wait()
 * (a futex wait, bounded, woken by the poster), holds no QEMU lock, touches
 * no device state and only schedules a bottom half on the main loop.  The BH
 * takes the requests, acts on them under the BQL, answers them and posts
 * fm_sem; the thread waits for that before it waits on the queue again, so
 * it never spins while requests sit in the queue and never has more than one
 * BH outstanding.  Unrealize stops the thread (fm_stop, mhsld_fm_kick(),
 * fm_sem), joins it and deletes the BH before the head detaches.
 */

/* Bound of one futex wait: a lost wake-up costs at most this much. */
#define CXL_MHSLD_FM_WAIT_MS 250
/*
 * Pause of the thread when the queue cannot be read, or when two wake-ups in
 * a row found nothing to take (a co-tenant playing with the doorbell): such
 * a queue is looked at 20 times a second, not in a loop.
 */
#define CXL_MHSLD_FM_BACKOFF_MS 50
/* Requests served by one BH run before the main loop gets a turn. */
#define CXL_MHSLD_FM_BATCH MHSLD_FMQ_SLOTS
/* Host ID of the event records, as the QMP callers of this device give it. */
#define CXL_MHSLD_FM_HID 0

/* A refusal's text for the FM: the payload of a non-MBOX answer. */
static void cxl_mhsld_fm_refuse(mhsld_fm_result *res, mhsld_status rc,
                                const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void cxl_mhsld_fm_refuse(mhsld_fm_result *res, mhsld_status rc,
                                const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;
    size_t n;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    n = MIN(strlen(msg), (size_t)MHSLD_FMQ_PAYLOAD);
    memcpy(res->payload, msg, n);
    res->len = n;
    res->status = rc;
}

/* The engine's record of the block holding @dpa (false: not DC capacity). */
static bool cxl_mhsld_fm_block(CXLMHSLDState *s, uint64_t dpa,
                               mhsld_block_info *bi)
{
    CXLType3Dev *ct3d = CXL_TYPE3(s);
    uint64_t index = 0;
    uint8_t r;

    for (r = 0; r < ct3d->dc.num_regions; r++) {
        const CXLDCRegion *reg = &ct3d->dc.regions[r];

        if (dpa >= reg->base && dpa - reg->base < reg->len) {
            index += (dpa - reg->base) / reg->block_size;
            return mhsld_block_info_get(s->st, index, bi) == MHSLD_OK;
        }
        index += reg->len / reg->block_size;
    }
    return false;
}

/*
 * The first block of the request's extents that is not as expected: not
 * free (@owned false: an offer), or not owned by this head (@owned true: a
 * release).  False if every block is as expected.
 */
static bool cxl_mhsld_fm_conflict(CXLMHSLDState *s,
                                  const mhsld_fm_request *req, bool owned,
                                  mhsld_conflict *c)
{
    CXLType3Dev *ct3d = CXL_TYPE3(s);
    uint64_t bs = ct3d->dc.regions[0].block_size;
    mhsld_block_info bi;
    uint64_t off;
    uint32_t i;
    bool ok;

    for (i = 0; i < req->n; i++) {
        for (off = 0; off < req->ext[i].len; off += bs) {
            if (!cxl_mhsld_fm_block(s, req->ext[i].dpa + off, &bi)) {
                return false;
            }
            if (owned) {
                ok = bi.state == MHSLD_BLOCK_OWNED &&
                     bi.owner == s->mhd_head;
            } else {
                ok = bi.state == MHSLD_BLOCK_FREE;
            }
            if (!ok) {
                c->dpa = req->ext[i].dpa + off;
                c->owner = bi.owner;
                c->state = bi.state;
                return true;
            }
        }
    }
    return false;
}

/*
 * The DC region holding every extent of an offer or release (QMP's requests
 * name one region), or -1 with the refusal in @res.
 */
static int cxl_mhsld_fm_region(CXLMHSLDState *s, const mhsld_fm_request *req,
                               mhsld_fm_result *res)
{
    CXLType3Dev *ct3d = CXL_TYPE3(s);
    int rid = -1;
    uint32_t i;
    uint8_t r;

    if (req->n == 0 || req->n > MHSLD_FMQ_MAX_EXTENTS) {
        cxl_mhsld_fm_refuse(res, MHSLD_E_ZERO_LEN, "no extents");
        return -1;
    }
    if (!buffer_is_zero(req->tag, sizeof(req->tag))) {
        cxl_mhsld_fm_refuse(res, MHSLD_E_UNSUPPORTED, "cxl-mhsld head %" PRIu32
                            ": tagged capacity is not supported", s->mhd_head);
        return -1;
    }
    for (i = 0; i < req->n; i++) {
        const mhsld_extent *e = &req->ext[i];

        for (r = 0; r < ct3d->dc.num_regions; r++) {
            const CXLDCRegion *reg = &ct3d->dc.regions[r];

            if (e->dpa >= reg->base && e->dpa - reg->base < reg->len &&
                e->len <= reg->len - (e->dpa - reg->base)) {
                break;
            }
        }
        if (r == ct3d->dc.num_regions) {
            cxl_mhsld_fm_refuse(res, MHSLD_E_RANGE, "cxl-mhsld head %" PRIu32
                                ": extent DPA 0x%" PRIx64 " length 0x%" PRIx64
                                " is not inside one DC region", s->mhd_head,
                                e->dpa, e->len);
            return -1;
        }
        if (rid >= 0 && rid != r) {
            cxl_mhsld_fm_refuse(res, MHSLD_E_RANGE, "cxl-mhsld head %" PRIu32
                                ": extents in DC regions %d and %u: one "
                                "request per region", s->mhd_head, rid, r);
            return -1;
        }
        rid = r;
    }
    return rid;
}

/* The request's extents as QMP's records: offsets into region @rid. */
static CxlDynamicCapacityExtentList *
cxl_mhsld_fm_records(CXLMHSLDState *s, const mhsld_fm_request *req, int rid)
{
    CXLType3Dev *ct3d = CXL_TYPE3(s);
    CxlDynamicCapacityExtentList *list = NULL, **tail = &list;
    uint32_t i;

    for (i = 0; i < req->n; i++) {
        CxlDynamicCapacityExtent *x = g_new0(CxlDynamicCapacityExtent, 1);

        x->offset = req->ext[i].dpa - ct3d->dc.regions[rid].base;
        x->len = req->ext[i].len;
        QAPI_LIST_APPEND(tail, x);
    }
    return list;
}

/*
 * OFFER: exactly what QMP cxl-add-dynamic-capacity does (its checks, the
 * claim through mhd_reserve with its error naming the holder, the pending
 * group, the Add Capacity event records).  The answer carries the engine's
 * status and conflict, the reservation's group and QMP's error text.
 */
static void cxl_mhsld_fm_offer(CXLMHSLDState *s, const mhsld_fm_request *req,
                               mhsld_fm_result *res)
{
    g_autoptr(CxlDynamicCapacityExtentList) records = NULL;
    CXLMHSLDReserveOutcome out = { .reached = false };
    Error *err = NULL;
    mhsld_status rc;
    int rid;

    rid = cxl_mhsld_fm_region(s, req, res);
    if (rid < 0) {
        return;
    }
    records = cxl_mhsld_fm_records(s, req, rid);
    /* Forced releases and reclaims change the engine behind cxl-type3. */
    cxl_mhsld_sync(s);
    s->fm_reserve = &out;
    cxl_process_dynamic_capacity_prescriptive(CXL_TYPE3(s), CXL_MHSLD_FM_HID,
                                              DC_EVENT_ADD_CAPACITY, rid, NULL,
                                              false, records, &err);
    s->fm_reserve = NULL;
    if (!err) {
        res->status = MHSLD_OK;
        res->group = out.group;
        return;
    }
    if (out.reached && out.rc != MHSLD_OK) {
        rc = out.rc;
        res->conflict = out.conflict;
    } else if (cxl_mhsld_fm_conflict(s, req, false, &res->conflict)) {
        rc = MHSLD_E_CONFLICT; /* already this head's, or pending for it */
    } else {
        rc = MHSLD_E_INVAL;
    }
    cxl_mhsld_fm_refuse(res, rc, "%s", error_get_pretty(err));
    error_free(err);
}

/*
 * RELEASE: exactly what QMP cxl-release-dynamic-capacity does (its checks,
 * the Release Capacity event records); the host decides, with 4803h.
 */
static void cxl_mhsld_fm_release(CXLMHSLDState *s,
                                 const mhsld_fm_request *req,
                                 mhsld_fm_result *res)
{
    g_autoptr(CxlDynamicCapacityExtentList) records = NULL;
    Error *err = NULL;
    mhsld_status rc = MHSLD_E_INVAL;
    int rid;

    rid = cxl_mhsld_fm_region(s, req, res);
    if (rid < 0) {
        return;
    }
    records = cxl_mhsld_fm_records(s, req, rid);
    cxl_mhsld_sync(s);
    cxl_process_dynamic_capacity_prescriptive(CXL_TYPE3(s), CXL_MHSLD_FM_HID,
                                              DC_EVENT_RELEASE_CAPACITY, rid,
                                              NULL, false, records, &err);
    if (!err) {
        res->status = MHSLD_OK;
        return;
    }
    if (cxl_mhsld_fm_conflict(s, req, true, &res->conflict)) {
        rc = MHSLD_E_NOT_OWNER;
    }
    cxl_mhsld_fm_refuse(res, rc, "%s", error_get_pretty(err));
    error_free(err);
}

/*
 * FORCED: mhsld_fm_force_release() has taken the capacity from this head in
 * the shared state (its accesses already fail).  Tell the host (Forced
 * Capacity Release event records, what QMP's forced removal would raise)
 * and drop the extents from cxl-type3's lists (cxl_mhsld_sync).  A notice
 * naming capacity this head still has is not believed: nothing is raised.
 */
static void cxl_mhsld_fm_forced(CXLMHSLDState *s, const mhsld_fm_request *req,
                                mhsld_fm_result *res)
{
    CXLType3Dev *ct3d = CXL_TYPE3(s);
    uint64_t bs = ct3d->dc.regions[0].block_size;
    g_autofree CXLDCExtentRaw *raw = NULL;
    mhsld_block_info bi;
    uint64_t off;
    uint32_t i;

    if (req->n == 0 || req->n > MHSLD_FMQ_MAX_EXTENTS) {
        cxl_mhsld_fm_refuse(res, MHSLD_E_ZERO_LEN, "no extents");
        return;
    }
    for (i = 0; i < req->n; i++) {
        const mhsld_extent *e = &req->ext[i];

        for (off = 0; off < e->len; off += bs) {
            if (!cxl_mhsld_fm_block(s, e->dpa + off, &bi) ||
                (bi.state == MHSLD_BLOCK_OWNED && bi.owner == s->mhd_head) ||
                (bi.state == MHSLD_BLOCK_SHARED &&
                 s->mhd_head < 32 && (bi.sharers >> s->mhd_head) & 1)) {
                cxl_mhsld_fm_refuse(res, MHSLD_E_INVAL, "cxl-mhsld head %"
                                    PRIu32 ": forced-release notice for DPA "
                                    "0x%" PRIx64 ", which this head still "
                                    "has (or is no DC capacity)", s->mhd_head,
                                    e->dpa + off);
                return;
            }
        }
    }
    raw = g_new0(CXLDCExtentRaw, req->n);
    for (i = 0; i < req->n; i++) {
        raw[i].start_dpa = req->ext[i].dpa;
        raw[i].len = req->ext[i].len;
    }
    cxl_create_dc_event_records_for_extents(ct3d, CXL_MHSLD_FM_HID,
                                            DC_EVENT_FORCED_RELEASE_CAPACITY,
                                            raw, req->n);
    cxl_mhsld_sync(s);
    res->status = MHSLD_OK;
}

/* What the engine's dispatcher asked of this head's host (MBOX requests). */
typedef struct CXLMHSLDFMNotice {
    CXLDCEventType type;
    uint32_t n;
    CXLDCExtentRaw ext[MHSLD_MAX_EXTENTS];
} CXLMHSLDFMNotice;

static void cxl_mhsld_fm_notify(void *opaque, const mhsld_mbox_event *ev)
{
    GArray *notices = opaque;
    CXLMHSLDFMNotice nt = { .n = 0 };
    size_t i;

    switch (ev->type) {
    case MHSLD_MBOX_EV_ADD:
    case MHSLD_MBOX_EV_ADD_SHARED:
        nt.type = DC_EVENT_ADD_CAPACITY;
        break;
    case MHSLD_MBOX_EV_RELEASE_REQUEST:
        nt.type = DC_EVENT_RELEASE_CAPACITY;
        break;
    case MHSLD_MBOX_EV_FORCED_RELEASE:
        nt.type = DC_EVENT_FORCED_RELEASE_CAPACITY;
        break;
    default:
        return;
    }
    for (i = 0; i < ev->n && i < MHSLD_MAX_EXTENTS; i++) {
        nt.ext[i].start_dpa = ev->ext[i].dpa;
        nt.ext[i].len = ev->ext[i].len;
        memcpy(nt.ext[i].tag, ev->ext[i].tag, sizeof(nt.ext[i].tag));
        nt.ext[i].shared_seq = ev->ext[i].shared_seq;
    }
    nt.n = i;
    if (nt.n) {
        g_array_append_val(notices, nt);
    }
}

/*
 * MBOX: an FM-API command (55xxh, 56xxh) for this head, run by the engine's
 * dispatcher as a guest's 5500h/5501h are; then cxl-type3 follows the
 * engine (sync) and the host gets the event records the command implies
 * (5604h: Add Capacity; 5605h: Release Capacity, or Forced Capacity Release
 * when forced).  The dispatcher acts on this head only: a command naming
 * another host is Invalid Input.  The host's own commands (48xxh) are not
 * the FM's to send.
 */
static void cxl_mhsld_fm_mbox(CXLMHSLDState *s, const mhsld_fm_request *req,
                              mhsld_fm_result *res)
{
    g_autoptr(GArray) notices = g_array_new(false, false,
                                            sizeof(CXLMHSLDFMNotice));
    mhsld_mbox_ctx ctx;
    size_t out_len = 0;
    uint8_t set = req->opcode >> 8;
    guint i;
    int rc;

    if ((set != 0x55 && set != 0x56) || req->len > MHSLD_FMQ_PAYLOAD) {
        res->status = MHSLD_E_UNSUPPORTED;
        res->cxl_rc = MHSLD_CXL_UNSUPPORTED;
        return;
    }
    mhsld_mbox_ctx_init(&ctx, s->st, s->head);
    ctx.notify = cxl_mhsld_fm_notify;
    ctx.notify_opaque = notices;
    rc = mhsld_mbox_execute(&ctx, req->opcode, req->payload, req->len,
                            res->payload, MHSLD_FMQ_PAYLOAD, &out_len);
    res->status = MHSLD_OK;
    res->cxl_rc = rc;
    res->len = MIN(out_len, (size_t)MHSLD_FMQ_PAYLOAD);
    cxl_mhsld_sync(s);
    for (i = 0; i < notices->len; i++) {
        const CXLMHSLDFMNotice *nt = &g_array_index(notices, CXLMHSLDFMNotice,
                                                    i);

        cxl_create_dc_event_records_for_extents(CXL_TYPE3(s),
                                                CXL_MHSLD_FM_HID, nt->type,
                                                nt->ext, nt->n);
    }
}

static void cxl_mhsld_fm_serve(CXLMHSLDState *s, const mhsld_fm_request *req,
                               mhsld_fm_result *res)
{
    switch (req->kind) {
    case MHSLD_FM_OFFER:
        cxl_mhsld_fm_offer(s, req, res);
        break;
    case MHSLD_FM_RELEASE:
        cxl_mhsld_fm_release(s, req, res);
        break;
    case MHSLD_FM_FORCED:
        cxl_mhsld_fm_forced(s, req, res);
        break;
    case MHSLD_FM_MBOX:
        cxl_mhsld_fm_mbox(s, req, res);
        return;
    default:
        cxl_mhsld_fm_refuse(res, MHSLD_E_INVAL, "unknown request kind %"
                            PRIu32, req->kind);
        break;
    }
    res->cxl_rc = mhsld_mbox_rc_from_status(res->status);
}

/* Main loop, BQL held: serve what is posted, answer each request. */
static void cxl_mhsld_fm_bh(void *opaque)
{
    CXLMHSLDState *s = opaque;
    g_autofree mhsld_fm_request *req = g_new(mhsld_fm_request, 1);
    g_autofree mhsld_fm_result *res = g_new(mhsld_fm_result, 1);
    mhsld_status rc = MHSLD_E_NOENT;
    uint32_t slot, i;

    for (i = 0; s->head && i < CXL_MHSLD_FM_BATCH; i++) {
        rc = mhsld_fm_take(s->head, &slot, req);
        if (rc != MHSLD_OK) {
            break;
        }
        memset(res, 0, sizeof(*res));
        res->conflict.owner = MHSLD_OWNER_NONE;
        cxl_mhsld_fm_serve(s, req, res);
        qatomic_inc(&s->fm_taken);
        rc = mhsld_fm_complete(s->head, slot, res);
        if (rc != MHSLD_OK) {
            warn_report("cxl-mhsld head %" PRIu32 ": cannot answer an FM "
                        "request: %s", s->mhd_head, mhsld_strerror(rc));
        }
    }
    if (i == CXL_MHSLD_FM_BATCH) {
        /* More may be posted: let the main loop have a turn first. */
        qemu_bh_schedule(s->fm_bh);
        return;
    }
    if (rc != MHSLD_E_NOENT) {
        warn_report_once("cxl-mhsld head %" PRIu32 ": cannot read its FM "
                         "request queue: %s", s->mhd_head,
                         mhsld_strerror(rc));
        qatomic_set(&s->fm_backoff, true);
    }
    qemu_sem_post(&s->fm_sem);
}

/* No QEMU lock held, no device state touched: wait, then hand to the BH. */
static void *cxl_mhsld_fm_thread(void *opaque)
{
    CXLMHSLDState *s = opaque;
    unsigned idle = 0;
    mhsld_status rc;

    while (!qatomic_read(&s->fm_stop)) {
        rc = mhsld_fm_wait(s->head, CXL_MHSLD_FM_WAIT_MS);
        if (qatomic_read(&s->fm_stop)) {
            break;
        }
        if (rc == MHSLD_OK) {
            qatomic_set(&s->fm_taken, 0);
            qemu_bh_schedule(s->fm_bh);
            qemu_sem_wait(&s->fm_sem);
            idle = qatomic_read(&s->fm_taken) ? 0 : idle + 1;
        }
        if ((rc != MHSLD_OK && rc != MHSLD_E_TIMEDOUT) || idle > 1 ||
            qatomic_xchg(&s->fm_backoff, false)) {
            /* Look again later, not at once (fm_stop cuts it short). */
            qemu_sem_timedwait(&s->fm_sem, CXL_MHSLD_FM_BACKOFF_MS);
        }
    }
    return NULL;
}

static void cxl_mhsld_fm_start(CXLMHSLDState *s)
{
    qatomic_set(&s->fm_stop, false);
    qatomic_set(&s->fm_backoff, false);
    qemu_sem_init(&s->fm_sem, 0);
    /*
     * No reentrancy guard: the BH never runs inside this device's MMIO (no
     * handler of the device polls the main loop), and a BH that a guard
     * skipped would leave the thread waiting for it.
     */
    s->fm_bh = qemu_bh_new(cxl_mhsld_fm_bh, s);
    qemu_thread_create(&s->fm_thread, "cxl-mhsld-fm", cxl_mhsld_fm_thread, s,
                       QEMU_THREAD_JOINABLE);
    s->fm_running = true;
}

static void cxl_mhsld_fm_stop(CXLMHSLDState *s)
{
    if (!s->fm_running) {
        return;
    }
    qatomic_set(&s->fm_stop, true);
    /* fm_stop is visible before the doorbell moves and the thread wakes. */
    smp_mb();
    mhsld_fm_kick(s->head);
    qemu_sem_post(&s->fm_sem);
    qemu_thread_join(&s->fm_thread);
    s->fm_running = false;
    /* A BH scheduled but not run is cancelled: its requests stay posted. */
    qemu_bh_delete(s->fm_bh);
    s->fm_bh = NULL;
    qemu_sem_destroy(&s->fm_sem);
}

/* ---- realize ------------------------------------------------------------- */

static bool cxl_mhsld_check_share_props(CXLMHSLDState *s, Error **errp)
{
    CXLType3Dev *ct3d = CXL_TYPE3(s);

    if (ct3d->dc.num_regions < 8 && s->mhd_sharable >> ct3d->dc.num_regions) {
        error_setg(errp, "cxl-mhsld: mhd-sharable-regions=0x%x names a "
                   "region beyond num-dc-regions=%u", s->mhd_sharable,
                   ct3d->dc.num_regions);
        return false;
    }
    if (s->mhd_exit_policy && strcmp(s->mhd_exit_policy, "keep") &&
        strcmp(s->mhd_exit_policy, "release")) {
        error_setg(errp, "cxl-mhsld: mhd-exit-policy=%s: expected keep or "
                   "release", s->mhd_exit_policy);
        return false;
    }
    return true;
}

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
    return cxl_mhsld_check_share_props(s, errp);
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
            .flags = (s->mhd_sharable >> i) & 1 ? MHSLD_REGION_SHARABLE : 0,
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
                               ", +0x%" PRIx64 ")%s", i, g->regions[i].base,
                               g->regions[i].len,
                               g->regions[i].flags & MHSLD_REGION_SHARABLE ?
                               " sharable" : "");
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
    /*
     * Which head owns which capacity lives in the state shared with the
     * other heads, not in this process: it cannot migrate with the guest.
     */
    error_setg(&s->migration_blocker, "cxl-mhsld head %" PRIu32 ": the "
               "ownership state '%s' is shared with the other heads and "
               "cannot be migrated", s->mhd_head, s->mhd_state_file);
    if (migrate_add_blocker(&s->migration_blocker, errp) < 0) {
        goto err_parent;
    }
    if (!cxl_mhsld_open(s, errp)) {
        goto err_blocker;
    }
    if (!cxl_mhsld_attach(s, errp)) {
        goto err_close;
    }
    s->exit_notifier.notify = cxl_mhsld_exit_notify;
    qemu_add_exit_notifier(&s->exit_notifier);
    cxl_mhsld_fm_start(s);
    trace_cxl_mhsld_attach(s->mhd_head, s->mhd_state_file);
    return;

err_close:
    mhsld_close(s->st);
    s->st = NULL;
err_blocker:
    migrate_del_blocker(&s->migration_blocker);
err_parent:
    mc->parent_exit(pci_dev);
}

/* Detach (the state keeps this head's capacity) and close; never unlink. */
static void cxl_mhsld_exit(PCIDevice *pci_dev)
{
    CXLMHSLDState *s = CXL_MHSLD(pci_dev);
    CXLMHSLDClass *mc = CXL_MHSLD_GET_CLASS(s);

    cxl_mhsld_fm_stop(s);
    if (s->head) {
        qemu_remove_exit_notifier(&s->exit_notifier);
        cxl_mhsld_host_gone(s);
    }
    trace_cxl_mhsld_detach(s->mhd_head);
    mhsld_detach(s->head);
    s->head = NULL;
    mhsld_close(s->st);
    s->st = NULL;
    migrate_del_blocker(&s->migration_blocker);
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
    cxl_mhsld_forget_offers(s);
    if (!s->head) {
        cxl_mhsld_forget_extents(ct3d);
        return;
    }
    /* A reset host owns nothing: give everything back. */
    rc = mhsld_release_all(s->head, &freed);
    trace_cxl_mhsld_reset(s->mhd_head, mhsld_strerror(rc), freed);
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
    DEFINE_PROP_UINT8("mhd-sharable-regions", CXLMHSLDState, mhd_sharable, 0),
    DEFINE_PROP_STRING("mhd-exit-policy", CXLMHSLDState, mhd_exit_policy),
};

static void cxl_mhsld_instance_init(Object *obj)
{
    CXLMHSLDState *s = CXL_MHSLD(obj);

    QTAILQ_INIT(&s->shared_offers);
}

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
    cvc->mhd_share = cxl_mhsld_share;

    dc->desc = "CXL Multi-Headed Single Logical Device (Type 3, DCD)";
    device_class_set_props(dc, cxl_mhsld_props);
}

static const TypeInfo cxl_mhsld_info = {
    .name = TYPE_CXL_MHSLD,
    .parent = TYPE_CXL_TYPE3,
    .class_size = sizeof(CXLMHSLDClass),
    .class_init = cxl_mhsld_class_init,
    .instance_size = sizeof(CXLMHSLDState),
    .instance_init = cxl_mhsld_instance_init,
};

static void cxl_mhsld_register_types(void)
{
    type_register_static(&cxl_mhsld_info);
}

type_init(cxl_mhsld_register_types)
