#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
#
# A local fuzzing campaign: each target in turn (one core, one job), with
# its dictionary and options, starting from corpus/<target> and keeping what
# it finds in WORKDIR/<target>/corpus.  Crashes land in
# WORKDIR/<target>/artifacts and are listed at the end.
#
#   fuzz/campaign.sh BINDIR WORKDIR SECONDS [TARGET...]
#
# BINDIR holds libFuzzer binaries (fuzz/build-local.sh libfuzzer BINDIR).
# Minimise a find with:  BINDIR/<t> -minimize_crash=1 -runs=10000 ARTIFACT
# and keep the reproducer in corpus/<t>/ (named regress-<what>).
set -u
bindir=${1:?BINDIR}
work=${2:?WORKDIR}
secs=${3:?SECONDS}
shift 3
here=$(cd "$(dirname "$0")/.." && pwd)
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(fuzz_multihead fuzz_state fuzz_mailbox fuzz_multihead_threads)
fi
status=0
for t in "${targets[@]}"; do
  d="$work/$t"
  mkdir -p "$d/corpus" "$d/artifacts"
  opts=()
  [ -f "$bindir/$t.dict" ] && opts+=(-dict="$bindir/$t.dict")
  if [ -f "$bindir/$t.options" ]; then
    while IFS='=' read -r k v; do
      k=$(echo "$k" | tr -d ' '); v=$(echo "$v" | tr -d ' ')
      [ -n "$k" ] && [ -n "$v" ] && [ "${k#[}" = "$k" ] && opts+=(-"$k"="$v")
    done < "$bindir/$t.options"
  fi
  echo "== $t: ${secs}s from $(date -u +%H:%M:%S)"
  "$bindir/$t" "${opts[@]}" -max_total_time="$secs" -print_final_stats=1 \
    -artifact_prefix="$d/artifacts/" "$d/corpus" "$here/corpus/$t" > "$d/log" 2>&1
  rc=$?
  echo "== $t: exit $rc at $(date -u +%H:%M:%S); $(grep -E '^#[0-9]+.*(DONE|pulse|NEW)' "$d/log" | tail -1)"
  grep -E 'stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$d/log"
  if ls "$d/artifacts"/* > /dev/null 2>&1; then
    echo "== $t: FOUND:"; ls -l "$d/artifacts"
    status=1
  fi
done
exit $status
