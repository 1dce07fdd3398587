#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# Build QEMU with cxl-mhsld (or reuse the cached build) and run every
# QEMU-level scenario (tests/scenarios.py, then the other suites listed in
# SUITES) plus QEMU's own tests/qtest/cxl-test.  The last line is
# "N passed, N failed" over all suites; the exit status is non-zero on any
# failure.
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
# Scenario suites besides tests/scenarios.py (which also runs cxl-test):
# each takes --qemu, --cxl-test (it may ignore it), --list and scenario
# names, and ends with "N passed, N failed".  scenarios_fm.py: the fabric
# manager through the shared state, driven by mhsldctl fm-* (which that
# script builds).
SUITES=(scenarios_shared.py scenarios_fm.py)

if [ "${1:-}" = --list ]; then
    python3 "$HERE/tests/scenarios.py" --qemu /nonexistent --cxl-test /nonexistent --list
    for s in "${SUITES[@]}"; do
        python3 "$HERE/tests/$s" --qemu /nonexistent --cxl-test /nonexistent --list
    done
    exit 0
fi

# run_suites QEMU [scenarios.py options...] -- [NAME...]: every suite, each
# given only the names it knows (all suites when no name is given), and
# one total line at the end.
run_suites() {
    local qemu=$1 main_opts=() names=() s n sel line rc=0 i
    local passed=0 failed=0 known=()
    shift
    while [ $# -gt 0 ] && [ "$1" != -- ]; do main_opts+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    names=("$@")
    local suites=(scenarios.py "${SUITES[@]}")
    for s in "${suites[@]}"; do
        known+=("$(python3 "$HERE/tests/$s" --qemu /nonexistent \
            --cxl-test /nonexistent --list)")
    done
    for n in "${names[@]}"; do
        # (a here-string, not a pipe: grep -q must not cut a writer short)
        if ! grep -qx -- "$n" <<<"$(printf '%s\n' "${known[@]}")"; then
            echo "unknown scenario $n" >&2
            exit 2
        fi
    done
    for i in "${!suites[@]}"; do
        s=${suites[$i]}
        sel=()
        for n in "${names[@]}"; do
            if grep -qx -- "$n" <<<"${known[$i]}"; then sel+=("$n"); fi
        done
        if [ ${#names[@]} -gt 0 ] && [ ${#sel[@]} -eq 0 ]; then
            continue
        fi
        if [ "$s" = scenarios.py ]; then
            python3 "$HERE/tests/$s" --qemu "$qemu" "${main_opts[@]}" "${sel[@]}" \
                | tee "$TMP_OUT" || rc=1
        else
            python3 "$HERE/tests/$s" --qemu "$qemu" "${sel[@]}" | tee "$TMP_OUT" || rc=1
        fi
        line=$(tail -n1 "$TMP_OUT")
        if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
            passed=$((passed + BASH_REMATCH[1]))
            failed=$((failed + BASH_REMATCH[2]))
        else
            failed=$((failed + 1))
        fi
    done
    echo "all suites: $passed passed, $failed failed"
    echo "$passed passed, $failed failed"
    [ $rc = 0 ] && [ $failed = 0 ]
}
TMP_OUT=$(mktemp)
trap 'rm -f "$TMP_OUT"' EXIT

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
    run_suites "$QEMU" -- "$@"
    exit
fi

if ! QEMU=$("$HERE/build-qemu.sh" | tail -n1) || [ ! -x "$QEMU" ]; then
    echo "qemu-device: building QEMU failed" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
CXL_TEST=$(dirname "$QEMU")/cxl-test
echo "qemu-device: testing $QEMU ($("$QEMU" --version | head -n1))"
run_suites "$QEMU" --cxl-test "$CXL_TEST" -- "$@"
