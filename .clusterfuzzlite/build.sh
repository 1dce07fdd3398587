#!/bin/bash -eu
# SPDX-License-Identifier: BSD-2-Clause
#
# OSS-Fuzz / ClusterFuzzLite build of mhsld's fuzz targets.  Uses only the
# standard variables: $CC $CXX $CFLAGS $LIB_FUZZING_ENGINE $OUT $SRC $WORK.
# For every target <t> it leaves in $OUT: <t>, <t>.dict, <t>.options and
# <t>_seed_corpus.zip.
#
# The engine is compiled with ck's compiler-builtin atomics
# (-DMHSLD_ATOMICS=builtins) so that sanitizers see every access to the
# shared state; ck's inline-asm atomics are invisible to them.
#
# Outside Docker (no base-builder image) run it through fuzz/build-local.sh:
#   fuzz/build-local.sh libfuzzer OUTDIR   # clang, -fsanitize=fuzzer, ASan+UBSan
#   fuzz/build-local.sh afl OUTDIR         # afl-clang-fast, persistent mode, ASan+UBSan
# which set the same variables the way base-builder would.

set -eu  # also when run as "bash build.sh", which ignores the #! line's flags

SRC_DIR="$SRC/mhsld"
if [ ! -f "$SRC_DIR/fuzz/CMakeLists.txt" ]; then
  # Not the Docker layout: $SRC is the repository itself.
  SRC_DIR="$SRC"
fi

# The fuzzing engine may be C++ (libFuzzer, libAFLDriver.a): link with $CXX.
cmake -S "$SRC_DIR" -B "$WORK/mhsld-build" \
  -DCMAKE_C_COMPILER="$CC" \
  -DCMAKE_C_FLAGS="$CFLAGS" \
  -DCMAKE_BUILD_TYPE=None \
  -DCMAKE_C_LINK_EXECUTABLE="$CXX $CFLAGS <FLAGS> <CMAKE_C_LINK_FLAGS> <LINK_FLAGS> <OBJECTS> -o <TARGET> <LINK_LIBRARIES>" \
  -DMHSLD_FUZZ=ON \
  -DMHSLD_LIB_FUZZING_ENGINE="$LIB_FUZZING_ENGINE" \
  -DMHSLD_ATOMICS=builtins \
  -DMHSLD_BUILD_TESTS=OFF \
  -DMHSLD_BUILD_TOOLS=OFF
cmake --build "$WORK/mhsld-build" -j"$(nproc)" --target mhsld_fuzz_targets

for src in "$SRC_DIR"/fuzz/fuzz_*.c; do
  t=$(basename "$src" .c)
  case "$t" in fuzz_helpers|fuzz_data_producer|fuzz_statefile|fuzz_compare) continue ;; esac
  [ -x "$WORK/mhsld-build/fuzz/$t" ] || continue
  cp "$WORK/mhsld-build/fuzz/$t" "$OUT/$t"
  [ -f "$SRC_DIR/fuzz/$t.dict" ] && cp "$SRC_DIR/fuzz/$t.dict" "$OUT/$t.dict"
  [ -f "$SRC_DIR/fuzz/$t.options" ] && cp "$SRC_DIR/fuzz/$t.options" "$OUT/$t.options"
  if [ -d "$SRC_DIR/corpus/$t" ]; then
    rm -f "$OUT/${t}_seed_corpus.zip"
    (cd "$SRC_DIR/corpus/$t" && zip -q -j "$OUT/${t}_seed_corpus.zip" ./*)
  fi
done
