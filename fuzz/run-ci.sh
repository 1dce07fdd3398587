#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
#
# The fuzzing part of CI, bounded in time:
#   1. replay every corpus (corpus/<target>/) under ASan+UBSan as ctests
#      (label "fuzz"), engine built with ck's builtin atomics, and the
#      threaded target's corpus under TSan (engine on C11 atomics);
#   2. build the libFuzzer targets with .clusterfuzzlite/build.sh (through
#      fuzz/build-local.sh) and run each for FUZZ_SECONDS (default 60);
#   3. build the AFL++ targets (afl-clang-fast, persistent mode) and run
#      AFL_TARGET (default fuzz_mailbox) for AFL_SECONDS (default 60).
# Any crash fails the run and prints its reproducer (file, base64, and the
# target's own report of it).  FUZZ_WORK (default: a fresh temporary
# directory) keeps builds and findings; the repository is never modified.
#
# Missing tools (clang, llvm, afl++, zip, cmake, libck-dev) are installed
# with apt-get when running as root.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
secs=${FUZZ_SECONDS:-60}
afl_secs=${AFL_SECONDS:-60}
afl_target=${AFL_TARGET:-fuzz_mailbox}
work=${FUZZ_WORK:-$(mktemp -d /tmp/mhsld-fuzz-ci.XXXXXX)}
mkdir -p "$work"
jobs=${JOBS:-2}
passed=0
failed=0
failures=()

note() { echo "[fuzz-ci] $*"; }
fail() { failed=$((failed + 1)); failures+=("$1"); note "FAILED: $1"; }
pass() { passed=$((passed + 1)); note "passed: $1"; }

ensure_tools() {
  local missing=()
  command -v clang > /dev/null || missing+=(clang)
  command -v llvm-profdata > /dev/null || missing+=(llvm)
  command -v afl-clang-fast > /dev/null || missing+=(afl++)
  command -v zip > /dev/null || missing+=(zip)
  command -v cmake > /dev/null || missing+=(cmake)
  [ -f /usr/include/ck_pr.h ] || missing+=(libck-dev)
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
      note "installing ${missing[*]}"
      DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" > /dev/null
    else
      note "missing tools: ${missing[*]} (install them, or run as root)"
      exit 1
    fi
  fi
}

report_crash() { # target binary file
  local t=$1 bin=$2 f=$3
  note "reproducer for $t: $f ($(stat -c %s "$f") bytes)"
  note "base64: $(base64 -w0 "$f")"
  note "its report (replayed once):"
  "$bin" "$f" 2>&1 | tail -60 | sed 's/^/    /'
}

targets() { # the fuzz targets present in the tree
  local s
  for s in "$here"/fuzz/fuzz_*.c; do
    s=$(basename "$s" .c)
    case "$s" in fuzz_helpers|fuzz_data_producer|fuzz_statefile|fuzz_compare) ;; *) echo "$s" ;; esac
  done
}

ensure_tools
note "work directory: $work"
mapfile -t all < <(targets)

# ---- 1. corpus replay under ASan+UBSan ----
note "replaying the corpora (ASan+UBSan)"
if CC=clang cmake -S "$here" -B "$work/replay" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
     -DMHSLD_SANITIZE=address,undefined -DMHSLD_ATOMICS=builtins -DMHSLD_BUILD_TOOLS=OFF \
     > "$work/replay-cmake.log" 2>&1 &&
   cmake --build "$work/replay" -j"$jobs" --target "${all[@]/%/_replay}" \
     > "$work/replay-build.log" 2>&1; then
  if (cd "$work/replay" && ctest -L fuzz --output-on-failure); then
    pass "corpus replay"
  else
    fail "corpus replay (see the ctest output above)"
  fi
else
  tail -30 "$work/replay-build.log" "$work/replay-cmake.log"
  fail "replay build"
fi

# ---- 1b. the threaded target's corpus under ThreadSanitizer ----
# (libFuzzer's coverage counters are plain stores from every thread, so a
# TSan libFuzzer build reports races on them: the threaded corpus is fuzzed
# under ASan and replayed under TSan instead.)
if [ -f "$here/fuzz/fuzz_multihead_threads.c" ]; then
  note "replaying fuzz_multihead_threads under TSan"
  if CC=clang cmake -S "$here" -B "$work/tsan" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
       -DMHSLD_SANITIZE=thread -DMHSLD_BUILD_TOOLS=OFF > "$work/tsan-cmake.log" 2>&1 &&
     cmake --build "$work/tsan" -j"$jobs" --target fuzz_multihead_threads_replay \
       > "$work/tsan-build.log" 2>&1; then
    if TSAN_OPTIONS="halt_on_error=1 ${TSAN_OPTIONS:-}" \
         "$work/tsan/fuzz/fuzz_multihead_threads_replay" "$here/corpus/fuzz_multihead_threads" \
         > "$work/tsan-run.log" 2>&1; then
      pass "TSan replay"
    else
      tail -60 "$work/tsan-run.log"
      fail "TSan replay of fuzz_multihead_threads"
    fi
  else
    tail -30 "$work/tsan-build.log" "$work/tsan-cmake.log"
    fail "TSan build"
  fi
fi

# ---- 2. libFuzzer ----
note "building the libFuzzer targets"
if WORK="$work/lf-work" "$here/fuzz/build-local.sh" libfuzzer "$work/lf" > "$work/lf-build.log" 2>&1; then
  for t in "${all[@]}"; do
    d="$work/lf-run/$t"
    mkdir -p "$d/corpus" "$d/artifacts"
    t_secs=$secs
    # fuzz_fmq is young and small: a bounded share of the stage's time
    [ "$t" = fuzz_fmq ] && [ "$secs" -gt 30 ] && t_secs=30
    opts=(-max_total_time="$t_secs" -print_final_stats=1 -artifact_prefix="$d/artifacts/")
    [ -f "$work/lf/$t.dict" ] && opts+=(-dict="$work/lf/$t.dict")
    case "$t" in
      fuzz_state) opts+=(-max_len=262144) ;;
      fuzz_cotenant) opts+=(-max_len=2048) ;;
      fuzz_fmq) opts+=(-max_len=1024) ;;
      *) opts+=(-max_len=4096) ;;
    esac
    note "libFuzzer: $t for ${t_secs}s"
    "$work/lf/$t" "${opts[@]}" -timeout=60 "$d/corpus" "$here/corpus/$t" > "$d/log" 2>&1
    rc=$?
    grep -E 'stat::(number_of_executed_units|average_exec_per_sec)' "$d/log" | sed 's/^/    /'
    found=$(ls "$d/artifacts" 2> /dev/null | head -1)
    if [ $rc -ne 0 ] || [ -n "$found" ]; then
      tail -40 "$d/log" | sed 's/^/    /'
      [ -n "$found" ] && report_crash "$t" "$work/lf/$t" "$d/artifacts/$found"
      fail "libFuzzer $t"
    else
      pass "libFuzzer $t"
    fi
  done
else
  tail -30 "$work/lf-build.log"
  fail "libFuzzer build"
fi

# ---- 3. AFL++ ----
note "building the AFL++ targets"
if WORK="$work/afl-work" "$here/fuzz/build-local.sh" afl "$work/afl" > "$work/afl-build.log" 2>&1; then
  t=$afl_target
  d="$work/afl-run/$t"
  rm -rf "$d"
  mkdir -p "$d"
  note "AFL++: $t for ${afl_secs}s"
  AFL_NO_AFFINITY=1 AFL_SKIP_CPUFREQ=1 AFL_NO_UI=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 \
    AFL_SKIP_CRASHES=1 timeout $((afl_secs + 120)) \
    afl-fuzz -V "$afl_secs" -m none -t 10000 -i "$here/corpus/$t" -o "$d/out" \
    -x "$work/afl/$t.dict" -- "$work/afl/$t" > "$d/log" 2>&1
  rc=$?
  stats=$(ls "$d"/out/*/fuzzer_stats 2> /dev/null | head -1)
  [ -n "$stats" ] && grep -E '^(execs_done|execs_per_sec|run_time|corpus_count|saved_crashes|saved_hangs) ' "$stats" | sed 's/^/    /'
  crash=$(ls "$d"/out/*/crashes/id* 2> /dev/null | head -1)
  if [ -n "$crash" ]; then
    report_crash "$t" "$work/afl/$t" "$crash"
    fail "AFL++ $t"
  elif [ -z "$stats" ]; then
    tail -30 "$d/log" | sed 's/^/    /'
    fail "AFL++ $t did not run (exit $rc)"
  else
    pass "AFL++ $t"
  fi
else
  tail -30 "$work/afl-build.log"
  fail "AFL++ build"
fi

for f in "${failures[@]}"; do note "failed: $f"; done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
