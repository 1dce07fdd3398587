#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
#
# Add a campaign's interesting inputs to corpus/<target>/ as find-<sha1>:
# only those that add coverage to what the corpus already reaches
# (libFuzzer -merge=1).
#
#   fuzz/merge-finds.sh BINDIR TARGET CAMPAIGN_CORPUS_DIR...
set -eu
bindir=${1:?BINDIR}
t=${2:?TARGET}
shift 2
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/out"
cp "$here/corpus/$t"/* "$tmp/out/" 2> /dev/null || true
ls "$tmp/out" | sort > "$tmp/before"
max_len=4096
[ "$t" = fuzz_state ] && max_len=262144
"$bindir/$t" -merge=1 -max_len=$max_len "$tmp/out" "$@" > "$tmp/log" 2>&1 || {
  tail -20 "$tmp/log"
  exit 1
}
ls "$tmp/out" | sort > "$tmp/after"
n=0
for f in $(comm -13 "$tmp/before" "$tmp/after"); do
  cp "$tmp/out/$f" "$here/corpus/$t/find-$f"
  n=$((n + 1))
done
echo "$t: $n inputs added to corpus/$t ($(grep -E 'MERGE-OUTER: [0-9]+ new files' "$tmp/log" | tail -1))"
