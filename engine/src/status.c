/* SPDX-License-Identifier: BSD-2-Clause */
/* Status strings and the thread's last I/O errno. */
#include <errno.h>

#include "internal.h"

static const struct {
    const char *name;
    const char *text;
} status_table[MHSLD_E__COUNT] = {
    [MHSLD_OK] = {"MHSLD_OK", "success"},
    [MHSLD_E_INVAL] = {"MHSLD_E_INVAL", "invalid argument"},
    [MHSLD_E_HEAD] = {"MHSLD_E_HEAD", "head index out of range for this state"},
    [MHSLD_E_ZERO_LEN] = {"MHSLD_E_ZERO_LEN", "extent of length zero or empty extent list"},
    [MHSLD_E_ALIGN] = {"MHSLD_E_ALIGN", "address or length not a multiple of the block size"},
    [MHSLD_E_RANGE] = {"MHSLD_E_RANGE",
                       "address range overflows or lies outside every dynamic capacity region"},
    [MHSLD_E_OVERLAP] = {"MHSLD_E_OVERLAP", "extents of one request overlap"},
    [MHSLD_E_TOO_MANY] = {"MHSLD_E_TOO_MANY", "too many extents in one request"},
    [MHSLD_E_CONFLICT] = {"MHSLD_E_CONFLICT", "block already held"},
    [MHSLD_E_NOT_OWNER] = {"MHSLD_E_NOT_OWNER", "block not owned by this head"},
    [MHSLD_E_NO_GROUP] = {"MHSLD_E_NO_GROUP", "no such pending reservation"},
    [MHSLD_E_NOT_IN_GROUP] = {"MHSLD_E_NOT_IN_GROUP",
                              "accepted extent is not part of the pending reservation"},
    [MHSLD_E_NOSPACE] = {"MHSLD_E_NOSPACE",
                         "pending-reservation or shared-extent table full, or operation "
                         "sequences used up"},
    [MHSLD_E_NOT_SHARABLE] = {"MHSLD_E_NOT_SHARABLE", "region is not sharable"},
    [MHSLD_E_TAG] = {"MHSLD_E_TAG", "shared extent exists with another range or tag"},
    [MHSLD_E_STALE] = {"MHSLD_E_STALE", "head handle is stale: a newer incarnation attached, "
                                        "or the handle was inherited through fork()"},
    [MHSLD_E_ALIVE] = {"MHSLD_E_ALIVE", "head is attached by a live process"},
    [MHSLD_E_BUSY] = {"MHSLD_E_BUSY", "state is being initialised or recovered"},
    [MHSLD_E_NOENT] = {"MHSLD_E_NOENT", "state does not exist"},
    [MHSLD_E_EXISTS] = {"MHSLD_E_EXISTS", "state exists and is in use"},
    [MHSLD_E_IO] = {"MHSLD_E_IO", "I/O error (open, mmap, truncate or lock failed)"},
    [MHSLD_E_NOMEM] = {"MHSLD_E_NOMEM", "out of memory"},
    [MHSLD_E_BAD_MAGIC] = {"MHSLD_E_BAD_MAGIC", "not an mhsld state (bad magic)"},
    [MHSLD_E_VERSION] = {"MHSLD_E_VERSION",
                         "state layout version not supported by this library (written by "
                         "another version: re-create the state)"},
    [MHSLD_E_ENDIAN] = {"MHSLD_E_ENDIAN", "state written by a host of the other byte order"},
    [MHSLD_E_TRUNCATED] = {"MHSLD_E_TRUNCATED", "state file shorter than its layout"},
    [MHSLD_E_CORRUPT] = {"MHSLD_E_CORRUPT", "state is corrupt"},
    [MHSLD_E_GEOMETRY] = {"MHSLD_E_GEOMETRY", "state geometry differs from the requested one"},
    [MHSLD_E_JOURNAL] = {"MHSLD_E_JOURNAL", "intent journal is corrupt; left untouched"},
    [MHSLD_E_UNSUPPORTED] = {"MHSLD_E_UNSUPPORTED", "operation not supported"},
    [MHSLD_E_PERM] = {"MHSLD_E_PERM",
                      "state file is not private to this user (owner, mode or links); "
                      "refused unless foreign files are allowed"},
    [MHSLD_E_DEAD] = {"MHSLD_E_DEAD", "head is not attached by a live process"},
    [MHSLD_E_TIMEDOUT] = {"MHSLD_E_TIMEDOUT", "the head did not answer in time"},
};

const char *mhsld_strerror(mhsld_status st)
{
    if ((unsigned)st >= (unsigned)MHSLD_E__COUNT || !status_table[st].text)
        return "unknown status";
    return status_table[st].text;
}

const char *mhsld_status_name(mhsld_status st)
{
    if ((unsigned)st >= (unsigned)MHSLD_E__COUNT || !status_table[st].name)
        return "MHSLD_E_UNKNOWN";
    return status_table[st].name;
}

const char *mhsld_op_name(uint32_t op)
{
    static const char *const names[MHSLD__OP__COUNT] = {
        "idle", "reserve", "undo", "commit", "release", "share-new", "share-leave", "claim"};
    return op < MHSLD__OP__COUNT ? names[op] : "invalid";
}

static _Thread_local int last_errno;

void mhsld__set_errno(int e)
{
    last_errno = e;
}

int mhsld_last_errno(void)
{
    return last_errno;
}
