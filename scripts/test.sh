#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# The whole test suite (the README's second command; .ci/run calls it).
#
#   1. ASan+UBSan build (gcc, -Werror): unit, defect, crash-point, stress,
#      mailbox, tool and corpus-replay tests (ctest)
#   2. clang Release build with -Werror (warnings under the second compiler),
#      and the whole ctest suite again optimised: a miscompile that only -O2
#      shows (an aliasing assumption, say) fails here, not in a user's build
#   3. ThreadSanitizer build (clang): the threaded tests (label threads; TSan emulates
#      128-bit atomics with a per-process lock, so multi-process tests run under ASan only)
#   4. static analysis: cppcheck over the engine
#   5. fuzzing: libFuzzer targets for a bounded time each, AFL++ briefly
#   6. benchmarks once in their tiny configuration (they must run, not win)
#   7. QEMU: build QEMU 10.0 with cxl-mhsld (cached) and run the scenarios
#      (the guest attack suites among them), then the scenarios again on
#      QEMU built with ASan+UBSan (cached too; stage qemu-asan)
#   8. guest: two heads each booting a real Linux guest (Debian's kernel and
#      a busybox initramfs, cached): driver probe, cxl list, the data path
#      through /dev/dax, the FM's refusal naming the owner (skipped, saying
#      so, only when the guest's packages cannot be fetched)
#   9. the README's demo in its short mode, with its story checked
#
# MHSLD_TEST_SKIP="fuzz qemu" skips stages (for quick local runs); CI runs all.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
JOBS=${JOBS:-2}
SKIP=" ${MHSLD_TEST_SKIP:-} "
declare -a RESULTS=()
failed=0
skipped=0

stage() { # name command...
    local name=$1; shift
    if [[ "$SKIP" == *" $name "* ]]; then
        echo "=== $name: skipped (MHSLD_TEST_SKIP)"
        RESULTS+=("$name: skipped")
        skipped=$((skipped + 1))
        return 0
    fi
    echo "=== $name"
    local t0=$SECONDS
    if "$@"; then
        RESULTS+=("$name: ok ($((SECONDS - t0)) s)")
    else
        RESULTS+=("$name: FAILED ($((SECONDS - t0)) s)")
        failed=$((failed + 1))
    fi
}

deps() { scripts/install-deps.sh; }

asan() {
    cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DMHSLD_SANITIZE=address,undefined \
        -DMHSLD_WERROR=ON >/dev/null &&
    cmake --build build-asan -j"$JOBS" &&
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
        ctest --test-dir build-asan --output-on-failure -j"$JOBS"
}

clang_werror() {
    CC=clang cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=Release -DMHSLD_WERROR=ON \
        -DMHSLD_BUILD_BENCH=ON >/dev/null &&
    cmake --build build-clang -j"$JOBS" &&
    ctest --test-dir build-clang --output-on-failure -j"$JOBS"
}

tsan() {
    CC=clang cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMHSLD_SANITIZE=thread \
        -DMHSLD_BUILD_TOOLS=OFF >/dev/null &&
    cmake --build build-tsan -j"$JOBS" &&
    TSAN_OPTIONS=halt_on_error=1 ctest --test-dir build-tsan --output-on-failure -L threads
}

static_analysis() {
    cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
        --suppress=missingIncludeSystem -I engine/include -I engine/src -D__x86_64__ \
        -DMHSLD_ATOMICS_C11=1 engine/src
}

fuzz() { fuzz/run-ci.sh; }
bench() { bench/run.sh --quick; }
qemu() { qemu-device/run-tests.sh; }
# The scenarios (the guest attack suites among them) again, on QEMU built with
# ASan+UBSan (cached beside the normal build): an over-read is a failure
# rather than luck.
qemu_asan() { qemu-device/run-tests.sh --asan; }
guest() { qemu-device/run-guest-tests.sh; }

# The demo checks each step itself (exit status); here we also check that it
# told the story: head 1's add refused naming head 0, host 0's accept, the
# recovery, the fabric manager acting through the shared state on two
# running heads (mhsldctl fm-*, with the asan stage's mhsldctl), a clean end.
demo() {
    local out
    out=$(qemu-device/demo.sh --short 2>&1) || { echo "$out"; return 1; }
    echo "$out"
    grep -q "REFUSED: .*held by head 0\|REFUSED: .*head 0" <<<"$out" &&
        grep -q "Add DC Response (4802h) -> Success" <<<"$out" &&
        grep -q "head 0 restarted" <<<"$out" &&
        grep -q "== FM demo done" <<<"$out" &&
        grep -q "== demo done" <<<"$out"
}

stage deps deps || true
stage asan asan
stage clang-werror clang_werror
stage tsan tsan
stage static-analysis static_analysis
stage fuzz fuzz
stage bench bench
stage qemu qemu
stage qemu-asan qemu_asan
stage guest guest
stage demo demo

echo
echo "=== summary"
for r in "${RESULTS[@]}"; do echo "  $r"; done
passed=$(( ${#RESULTS[@]} - failed - skipped ))
echo "stages: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
