#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# The main job (the README's first command): install what is needed from
# Debian's packages, build the engine and mhsldctl, build QEMU 10.0 with the
# cxl-mhsld device (cached outside the repo; the first build takes minutes
# and shows its progress), then show two QEMU heads sharing one device.
#
#   scripts/demo.sh [--short]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
echo "== [1/4] dependencies"
scripts/install-deps.sh
echo "== [2/4] engine and mhsldctl"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMHSLD_BUILD_TESTS=OFF >/dev/null
cmake --build build -j"${JOBS:-2}" >/dev/null
echo "   built build/tools/mhsldctl"
echo "== [3/4] QEMU 10.0 with cxl-mhsld"
qemu-device/build-qemu.sh >/dev/null
echo "== [4/4] two heads, one device"
exec qemu-device/demo.sh "$@"
