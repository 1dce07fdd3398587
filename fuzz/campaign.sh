#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
#
# A local fuzzing campaign: each target in turn (one core, one job), with
# its dictionary and options, starting from corpus/<target>.
#
#   fuzz/campaign.sh BINDIR WORKDIR SECONDS [TARGET...]
#
# ENGINE=libfuzzer (default): BINDIR holds libFuzzer binaries
# (fuzz/build-local.sh libfuzzer BINDIR); finds are kept in
# WORKDIR/<target>/corpus, crashes in WORKDIR/<target>/artifacts.
# ENGINE=afl: BINDIR holds AFL++ binaries (fuzz/build-local.sh afl BINDIR);
# afl-fuzz's output directory is WORKDIR/<target>/afl (queue, crashes, hangs).
# Either way the engine's own final figures (executions, exec/s) are printed
# and any crash is listed at the end (exit 1).
#
# Minimise a libFuzzer find with:  BINDIR/<t> -minimize_crash=1 -runs=10000 ARTIFACT
# and keep the reproducer in corpus/<t>/ (named regress-<what>).
set -u
bindir=${1:?BINDIR}
work=${2:?WORKDIR}
secs=${3:?SECONDS}
shift 3
engine=${ENGINE:-libfuzzer}
here=$(cd "$(dirname "$0")/.." && pwd)
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(fuzz_multihead fuzz_state fuzz_mailbox fuzz_multihead_threads)
fi

# The [libfuzzer] section of <t>.options as name=value pairs, one a line.
options() {
  [ -f "$bindir/$1.options" ] || return 0
  while IFS='=' read -r k v; do
    k=$(echo "$k" | tr -d ' '); v=$(echo "$v" | tr -d ' ')
    [ -n "$k" ] && [ -n "$v" ] && [ "${k#[}" = "$k" ] && echo "$k=$v"
  done < "$bindir/$1.options"
}

run_libfuzzer() { # target dir
  local t=$1 d=$2 opts=() kv
  mkdir -p "$d/corpus" "$d/artifacts"
  [ -f "$bindir/$t.dict" ] && opts+=(-dict="$bindir/$t.dict")
  while read -r kv; do opts+=(-"$kv"); done < <(options "$t")
  "$bindir/$t" "${opts[@]}" -max_total_time="$secs" -print_final_stats=1 \
    -artifact_prefix="$d/artifacts/" "$d/corpus" "$here/corpus/$t" > "$d/log" 2>&1
  echo "== $t: exit $? at $(date -u +%H:%M:%S); $(grep -E '^#[0-9]+.*(DONE|pulse|NEW)' "$d/log" | tail -1)"
  grep -E 'stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$d/log"
  ls "$d/artifacts"/* > /dev/null 2>&1 || return 0
  echo "== $t: FOUND:"; ls -l "$d/artifacts"
  return 1
}

run_afl() { # target dir
  local t=$1 d=$2 opts=() kv tmo=10000 stats
  while read -r kv; do
    case "$kv" in timeout=*) tmo=$((${kv#timeout=} * 1000)) ;; esac
  done < <(options "$t")
  [ -f "$bindir/$t.dict" ] && opts+=(-x "$bindir/$t.dict")
  rm -rf "$d/afl"
  mkdir -p "$d"
  AFL_NO_AFFINITY=1 AFL_SKIP_CPUFREQ=1 AFL_NO_UI=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 \
    timeout $((secs + 300)) afl-fuzz -V "$secs" -m none -t "$tmo" "${opts[@]}" \
    -i "$here/corpus/$t" -o "$d/afl" -- "$bindir/$t" > "$d/log" 2>&1
  echo "== $t: exit $? at $(date -u +%H:%M:%S)"
  stats=$(ls "$d"/afl/*/fuzzer_stats 2> /dev/null | head -1)
  if [ -z "$stats" ]; then
    tail -20 "$d/log"
    return 1
  fi
  grep -E '^(run_time|execs_done|execs_per_sec|corpus_count|saved_crashes|saved_hangs|bitmap_cvg) ' "$stats"
  ls "$d"/afl/*/crashes/id* > /dev/null 2>&1 || return 0
  echo "== $t: FOUND:"; ls -l "$d"/afl/*/crashes/
  return 1
}

status=0
for t in "${targets[@]}"; do
  echo "== $t ($engine): ${secs}s from $(date -u +%H:%M:%S)"
  case "$engine" in
    libfuzzer) run_libfuzzer "$t" "$work/$t" || status=1 ;;
    afl) run_afl "$t" "$work/$t" || status=1 ;;
    *) echo "campaign: unknown ENGINE '$engine' (libfuzzer or afl)" >&2; exit 2 ;;
  esac
done
exit $status
