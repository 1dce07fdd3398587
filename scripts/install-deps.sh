#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# Install, from Debian's packages only, what the engine, the tool, the tests,
# the fuzzers and the benchmarks need.  QEMU's own build dependencies are
# installed by qemu-device/build-qemu.sh.  Idempotent; needs root.
set -euo pipefail
pkgs=(build-essential cmake pkg-config python3 git
      libck-dev libjson-c-dev
      clang llvm libclang-rt-14-dev afl++
      gnuplot-nox cppcheck)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all packages present"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing ${missing[*]}; run as root (or install them)" >&2
    exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get -o Acquire::Retries=5 update -qq
apt-get -o Acquire::Retries=5 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
