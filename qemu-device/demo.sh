#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# The cxl-mhsld story in one screen: two headless QEMU heads on one state
# (the RFC command line), capacity added to head 0, head 1's conflicting add
# refused with the reason, head 0's host accepting through the mailbox, the
# state drawn by mhsldctl (if built), head 0 killed and recovered.
#
#   qemu-device/demo.sh [--short]     (--short: no state maps, for CI)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)

QEMU=$("$HERE/build-qemu.sh" | tail -n1)
CTL=()
if [ -x "$REPO/build/tools/mhsldctl" ]; then
    CTL=(--mhsldctl "$REPO/build/tools/mhsldctl")
fi
exec python3 "$HERE/tests/demo.py" --qemu "$QEMU" "${CTL[@]}" "$@"
