#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
#
# Run .clusterfuzzlite/build.sh here, outside Docker, the way OSS-Fuzz's
# base-builder would, with one of two engines:
#
#   fuzz/build-local.sh libfuzzer OUTDIR   clang, -fsanitize=fuzzer, ASan+UBSan
#   fuzz/build-local.sh afl OUTDIR         afl-clang-fast, AFL++ persistent mode
#                                          (fuzz/afl_driver.c: __AFL_LOOP), ASan+UBSan
#
# Then, for example:
#   OUTDIR/fuzz_mailbox -dict=OUTDIR/fuzz_mailbox.dict CORPUS_DIR
#   AFL_NO_AFFINITY=1 AFL_SKIP_CPUFREQ=1 AFL_NO_UI=1 \
#     afl-fuzz -i corpus/fuzz_mailbox -o /tmp/afl -x OUTDIR/fuzz_mailbox.dict -- OUTDIR/fuzz_mailbox
#
# WORK (default: OUTDIR/work) keeps the build tree.  SANITIZERS overrides
# the sanitizer list (default address,undefined).
set -eu
engine=${1:-}
out=${2:-}
if [ -z "$engine" ] || [ -z "$out" ]; then
  sed -n '4,16p' "$0"
  exit 2
fi
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
export OUT="$out"
export SRC="$here"
export WORK=${WORK:-$out/work}
mkdir -p "$WORK"
san=${SANITIZERS:-address,undefined}
sanflags="-fsanitize=$san -fno-sanitize-recover=all -fno-omit-frame-pointer"
case "$engine" in
  libfuzzer)
    export CC=${CC:-clang} CXX=${CXX:-clang++}
    export CFLAGS="-O1 -g $sanflags -fsanitize=fuzzer-no-link"
    export LIB_FUZZING_ENGINE="-fsanitize=fuzzer"
    ;;
  afl)
    export CC=afl-clang-fast CXX=afl-clang-fast++
    export CFLAGS="-O1 -g $sanflags"
    # The engine library: the persistent-mode driver, built by AFL's compiler.
    $CC $CFLAGS -c "$here/fuzz/afl_driver.c" -o "$WORK/afl_driver.o"
    rm -f "$WORK/libmhsld_afl_driver.a"
    ar rcs "$WORK/libmhsld_afl_driver.a" "$WORK/afl_driver.o"
    export LIB_FUZZING_ENGINE="$WORK/libmhsld_afl_driver.a"
    export AFL_QUIET=1
    ;;
  *)
    echo "unknown engine '$engine' (libfuzzer or afl)" >&2
    exit 2
    ;;
esac
export CXXFLAGS="$CFLAGS"
exec bash "$here/.clusterfuzzlite/build.sh"
