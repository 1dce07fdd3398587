#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# The main job (the README's first command): install what is needed from
# Debian's packages, build the engine and mhsldctl, build QEMU 10.0 with the
# cxl-mhsld device (cached outside the repo; the first build takes minutes
# and shows its progress), fetch and build the Linux guest (Debian's kernel
# and a busybox initramfs, cached), then show two QEMU heads sharing one
# device, headless and then each running a Linux guest (--short: headless
# only, no guests).
#
#   scripts/demo.sh [--short]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
echo "== [1/5] dependencies"
scripts/install-deps.sh
echo "== [2/5] engine and mhsldctl"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMHSLD_BUILD_TESTS=OFF >/dev/null
cmake --build build -j"${JOBS:-2}" >/dev/null
echo "   built build/tools/mhsldctl"
echo "== [3/5] QEMU 10.0 with cxl-mhsld"
qemu-device/build-qemu.sh >/dev/null
echo "== [4/5] Linux guest: Debian's kernel, busybox, ndctl (fetched once, then cached)"
if [[ " $* " == *" --short "* ]]; then
    echo "   not needed with --short"
else
    rc=0
    image=$(qemu-device/guest/build-guest.sh | tail -n1) || rc=$?
    # 77: the packages cannot be fetched; qemu-device/demo.sh says so.
    [ "$rc" = 0 ] || [ "$rc" = 77 ] || exit "$rc"
    [ "$rc" != 0 ] || export MHSLD_GUEST_IMAGE=$image
fi
echo "== [5/5] two heads, one device"
exec qemu-device/demo.sh "$@"
