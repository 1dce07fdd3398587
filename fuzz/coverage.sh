#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
#
# Source-based coverage (clang -fprofile-instr-generate -fcoverage-mapping,
# llvm-profdata, llvm-cov) of the engine and the mailbox codec reached by the
# fuzz corpora, as a per-file table of line and branch coverage.
#
#   fuzz/coverage.sh [WORKDIR] [EXTRA_CORPUS_ROOT...]
#
# Replays corpus/<target>/ (and EXTRA_CORPUS_ROOT/<target>/corpus/ for each
# root given, e.g. work directories of fuzz/campaign.sh) through the replay
# drivers.
# LLVM_SUFFIX (e.g. -14) picks versioned llvm tools.  WORKDIR keeps the
# build, the profiles and report.txt (also printed).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d /tmp/mhsld-cov.XXXXXX)}
shift || true
extras=("$@")
sfx=${LLVM_SUFFIX:-}
mkdir -p "$work"
work=$(cd "$work" && pwd)
flags="-fprofile-instr-generate -fcoverage-mapping -O0 -g"
CC=clang cmake -S "$here" -B "$work/build" -DCMAKE_BUILD_TYPE=None \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="-fprofile-instr-generate" \
  -DMHSLD_ATOMICS=builtins -DMHSLD_BUILD_TOOLS=OFF > "$work/cmake.log"
targets=()
for s in "$here"/fuzz/fuzz_*.c; do
  t=$(basename "$s" .c)
  case "$t" in fuzz_helpers|fuzz_data_producer|fuzz_statefile|fuzz_compare) continue ;; esac
  targets+=("$t")
done
cmake --build "$work/build" -j"${JOBS:-2}" --target "${targets[@]/%/_replay}" > "$work/build.log"
rm -rf "$work/prof"
mkdir -p "$work/prof"
objs=()
for t in "${targets[@]}"; do
  bin="$work/build/fuzz/${t}_replay"
  dirs=("$here/corpus/$t")
  for extra in "${extras[@]}"; do
    if [ -d "$extra/$t/corpus" ] && [ -n "$(ls -A "$extra/$t/corpus")" ]; then
      dirs+=("$extra/$t/corpus")
    fi
  done
  LLVM_PROFILE_FILE="$work/prof/$t-%p.profraw" "$bin" "${dirs[@]}" > /dev/null 2>&1 || {
    echo "coverage: $t replay failed (a corpus input crashes?)" >&2
    exit 1
  }
  objs+=(-object "$bin")
done
"llvm-profdata$sfx" merge -sparse "$work"/prof/*.profraw -o "$work/merged.profdata"
# The first -object is positional for llvm-cov.
first=${objs[1]}
rest=("${objs[@]:2}")
"llvm-cov$sfx" report "$first" "${rest[@]}" -instr-profile="$work/merged.profdata" \
  -show-branch-summary "$here"/engine/src/*.c > "$work/llvm-cov.txt"
# Condense to file | lines | branches.
awk -v root="$here/" '
  /^Filename/ { for (i = 1; i <= NF; i++) col[$i] = col[$i] ? col[$i] : i; next }
  /^-+$/ || NF == 0 { next }
  {
    name = $1; sub(root, "", name)
    # columns: Regions Missed Cover Functions Missed Executed Lines Missed Cover Branches Missed Cover
    printf "%-32s lines %6s of %5d   branches %6s of %5d\n", name, $10, $8, $13, $11
  }' "$work/llvm-cov.txt" > "$work/report.txt"
cat "$work/report.txt"
echo "(full llvm-cov report: $work/llvm-cov.txt; html: llvm-cov$sfx show -format=html ... )"
