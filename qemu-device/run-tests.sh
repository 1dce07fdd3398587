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
#   qemu-device/run-tests.sh --asan [NAME...]
#                                       the scenarios (the guest attack
#                                       suites among them; not QEMU's
#                                       cxl-test) on QEMU built with
#                                       ASan+UBSan (MHSLD_QEMU_SANITIZE=1,
#                                       cached beside the normal build)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [ "${1:-}" = --list ]; then
    exec python3 "$HERE/tests/scenarios.py" --qemu /nonexistent --cxl-test /nonexistent --list
fi

if [ "${1:-}" = --asan ]; then
    shift
    if ! QEMU=$(MHSLD_QEMU_SANITIZE=1 "$HERE/build-qemu.sh" | tail -n1) || [ ! -x "$QEMU" ]; then
        echo "qemu-device: building QEMU with ASan+UBSan failed" >&2
        echo "0 passed, 1 failed"
        exit 1
    fi
    echo "qemu-device: testing $QEMU (ASan+UBSan)"
    # Any report stops QEMU, so the suite sees it die (QEMU's own leaks at
    # exit are not this project's: leak detection off).
    export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
    export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1
    exec python3 "$HERE/tests/scenarios.py" --qemu "$QEMU" "$@"
fi

if ! QEMU=$("$HERE/build-qemu.sh" | tail -n1) || [ ! -x "$QEMU" ]; then
    echo "qemu-device: building QEMU failed" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
CXL_TEST=$(dirname "$QEMU")/cxl-test
echo "qemu-device: testing $QEMU ($("$QEMU" --version | head -n1))"
exec python3 "$HERE/tests/scenarios.py" --qemu "$QEMU" --cxl-test "$CXL_TEST" "$@"
