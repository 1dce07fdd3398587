#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# Two cxl-mhsld heads on one state, each booting a real Linux guest
# (Debian's trixie-backports cloud kernel and a busybox initramfs with
# ndctl's cxl/daxctl, built by guest/build-guest.sh): driver probe, `cxl
# list`, the static-capacity data path through /dev/dax, and the fabric
# manager's refusal naming the owner.  See tests/guests.py for each check.
#
#   qemu-device/run-guest-tests.sh [--kernel BZIMAGE --modules DIR] [guests.py options]
#
# The last line is "N passed, N failed".  When the guest's packages cannot
# be fetched (no network, mirror down) the run is skipped with a message
# and exit status 0; any other failure is exit status 1.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GUEST_ARGS=()
while [ $# -gt 0 ]; do
    case $1 in
    --kernel | --modules) GUEST_ARGS+=("$1" "$2"); shift 2 ;;
    *) break ;;
    esac
done

if ! QEMU=$("$HERE/build-qemu.sh" | tail -n1) || [ ! -x "$QEMU" ]; then
    echo "guests: building QEMU failed" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
t0=$(date +%s)
rc=0
IMAGE=$("$HERE/guest/build-guest.sh" "${GUEST_ARGS[@]}" | tail -n1) || rc=$?
if [ "$rc" = 77 ]; then
    echo "guests: SKIPPED: the guest's Debian packages cannot be fetched (see above); nothing was tested"
    exit 0
elif [ "$rc" != 0 ] || [ ! -d "$IMAGE" ]; then
    echo "guests: building the guest image failed (exit $rc)" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
echo "guests: image $IMAGE ($(($(date +%s) - t0)) s), QEMU $QEMU"
# Every wait inside is bounded; this bounds the whole run as well.
exec timeout --kill-after=10 900 python3 "$HERE/tests/guests.py" --qemu "$QEMU" --image "$IMAGE" "$@"
