#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# Build QEMU with cxl-mhsld (or reuse the cached build) and run every
# QEMU-level scenario plus QEMU's own tests/qtest/cxl-test.  The last line
# is "N passed, N failed"; the exit status is non-zero on any failure.
#
#   qemu-device/run-tests.sh            build if needed, run everything
#   qemu-device/run-tests.sh NAME...    run only these scenarios
#   qemu-device/run-tests.sh --list     list the scenarios
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [ "${1:-}" = --list ]; then
    exec python3 "$HERE/tests/scenarios.py" --qemu /nonexistent --cxl-test /nonexistent --list
fi

if ! QEMU=$("$HERE/build-qemu.sh" | tail -n1) || [ ! -x "$QEMU" ]; then
    echo "qemu-device: building QEMU failed" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
CXL_TEST=$(dirname "$QEMU")/cxl-test
echo "qemu-device: testing $QEMU ($("$QEMU" --version | head -n1))"
exec python3 "$HERE/tests/scenarios.py" --qemu "$QEMU" --cxl-test "$CXL_TEST" "$@"
