/* SPDX-License-Identifier: BSD-2-Clause */
/* libmhsld mailbox internals shared with the tests (not installed). */
#ifndef MHSLD_MBOX_INTERNAL_H
#define MHSLD_MBOX_INTERNAL_H

#include <stddef.h>

/* Checks the codec's field-descriptor tables against themselves: in every
 * record the fields (and a header's count) lie in wire order, do not
 * overlap, leave no byte undescribed, have valid widths, and land inside
 * the decoded struct (an element inside its stride, the array of max
 * elements inside the struct).  Returns the number of tables checked, or
 * -1 with a description of the first defect in why[0..cap). */
int mhsld__mbox_codec_selfcheck(char *why, size_t cap);

#endif /* MHSLD_MBOX_INTERNAL_H */
