#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# The cxl-mhsld story in one screen: two headless QEMU heads on one state
# (the RFC command line), capacity added to head 0, head 1's conflicting add
# refused with the reason, head 0's host accepting through the mailbox, the
# state drawn by mhsldctl (if built), head 0 killed and recovered.  Then,
# except with --short, the same story with two heads each booting a Linux
# guest (guest/build-guest.sh: Debian's kernel, cached), told with what the
# guests' kernels and ndctl's `cxl` print.  With mhsldctl built, the fabric
# manager's story too: mhsldctl fm-* acting on two running heads through the
# shared state (offer, release, forced release, reclaim of a killed head).
#
#   qemu-device/demo.sh [--short]     (--short: the headless part only, no
#                                      state maps; what CI checks)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)

QEMU=$("$HERE/build-qemu.sh" | tail -n1)
# mhsldctl (state maps; the fabric manager's part needs its fm-* verbs):
# build/'s, else the one scripts/test.sh's ASan stage built.
CTL=()
for c in "$REPO/build/tools/mhsldctl" "$REPO/build-asan/tools/mhsldctl"; do
    # (a here-string, not a pipe: grep -q must not cut mhsldctl short)
    if [ -x "$c" ] && grep -q fm-offer <<<"$("$c" --help 2>&1)"; then
        CTL=(--mhsldctl "$c")
        break
    fi
done
[ ${#CTL[@]} -gt 0 ] ||
    echo "(the fabric manager's part is left out: no mhsldctl with fm-* verbs built)"
GUEST=()
if [[ " $* " != *" --short "* ]]; then
    # MHSLD_GUEST_IMAGE: a directory build-guest.sh printed (scripts/demo.sh
    # has just built it).
    rc=0
    IMAGE=${MHSLD_GUEST_IMAGE:-}
    [ -n "$IMAGE" ] || IMAGE=$("$HERE/guest/build-guest.sh" | tail -n1) || rc=$?
    if [ "$rc" = 0 ]; then
        GUEST=(--guest-image "$IMAGE")
    elif [ "$rc" = 77 ]; then
        echo "(the Linux guests are left out: their Debian packages cannot be fetched)"
    else
        echo "demo: building the guest image failed (exit $rc)" >&2
        exit 1
    fi
fi
exec python3 "$HERE/tests/demo.py" --qemu "$QEMU" "${CTL[@]}" "${GUEST[@]}" "$@"
