#!/usr/bin/env bash
# Build and run the mhsld benchmarks.
#   bench/run.sh [--quick] [--csv FILE] [--png FILE] [mhsld_bench options...]
# Builds in build-bench/ (Release, -O2, MHSLD_BUILD_BENCH=ON, MHSLD_BUILD_TESTS=OFF),
# prints the table (engine, baselines, same-run ratios, machine) and the
# target verdicts; --csv writes the table as CSV; --png draws it with gnuplot
# (Debian's gnuplot-nox is installed when missing and we are root).
# --quick is the tiny configuration CI uses: it proves every benchmark works
# and every invariant check passes, in seconds; its figures mean nothing.
# Other options (--md FILE, --reps N, --rep-us N, --only GROUPS, --mp-seconds S,
# --designs LIST) go to mhsld_bench.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${MHSLD_BENCH_BUILD_DIR:-$root/build-bench}
csv=""
png=""
pass=()

usage() {
    sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
    case "$1" in
    --quick) pass+=(--quick) ;;
    --csv)
        [ $# -ge 2 ] || { echo "run.sh: --csv needs a file" >&2; exit 2; }
        csv=$2; shift ;;
    --png)
        [ $# -ge 2 ] || { echo "run.sh: --png needs a file" >&2; exit 2; }
        png=$2; shift ;;
    --reps|--rep-us|--only|--mp-seconds|--designs|--md)
        [ $# -ge 2 ] || { echo "run.sh: $1 needs a value" >&2; exit 2; }
        pass+=("$1" "$2"); shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

# Make output paths absolute before anything changes directory.
abspath() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s/%s\n' "$PWD" "$1" ;; esac; }
[ -z "$csv" ] || csv=$(abspath "$csv")
[ -z "$png" ] || png=$(abspath "$png")

install_pkg() { # Debian package; only as root, through apt-get
    if [ "$(id -u)" -ne 0 ]; then
        echo "run.sh: missing Debian package $1 (apt-get install $1)" >&2
        return 1
    fi
    echo "run.sh: installing $1" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "$1" >&2 ||
        { apt-get update >&2 && apt-get install -y --no-install-recommends "$1" >&2; }
}
need_cmd() { # command package
    command -v "$1" >/dev/null 2>&1 || install_pkg "$2"
}

[ -e /usr/include/ck_pr.h ] || install_pkg libck-dev || exit 1
need_cmd cmake cmake || exit 1

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_FLAGS_RELEASE="-O2 -DNDEBUG" \
    -DMHSLD_BUILD_BENCH=ON -DMHSLD_BUILD_TESTS=OFF -DMHSLD_BUILD_TOOLS=OFF \
    -DMHSLD_SANITIZE= >/dev/null
cmake --build "$build" -j2 --target mhsld_bench mhsld_bench_crash

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out_csv=${csv:-$tmp/bench.csv}

status=0
"$build/bench/mhsld_bench" "${pass[@]}" --csv "$out_csv" \
    --crash-helper "$build/bench/mhsld_bench_crash" || status=$?

if [ -n "$png" ] && [ -s "$out_csv" ]; then
    need_cmd gnuplot gnuplot-nox || exit 1
    # CSV columns: 1 key 2 group 3 metric 4 unit 5 n 6 dev 7 range
    #              8-10 engine med/min/max 11-13 rfc 14-16 mutex 17-18 ratios
    awk -F, '!/^#/ && $2 == "claim" && $4 == "ns/block" {
                 print $5, $8, $9, $10, $11, $12, $13, $14, $15, $16 }' \
        "$out_csv" >"$tmp/claim.dat"
    awk -F, '!/^#/ && $2 == "mp" && $4 == "claims/s" {
                 printf "\"%s blocks 1-%s\" %s %s %s\n", $6, $7, $8, $11, $14 }' \
        "$out_csv" >"$tmp/mp.dat"
    machine=$(sed -n '1s/^# mhsld benchmark; cpu: \([^;]*\); cores: \([0-9]*\);.*date: \(.*\)$/\1, \2 cores, \3/p' \
        "$out_csv" | tr -d "'\"")
    if [ -s "$tmp/claim.dat" ] && [ -s "$tmp/mp.dat" ]; then
        gnuplot -e "claim='$tmp/claim.dat'; mp='$tmp/mp.dat'; out='$png'; machine='$machine'" \
            "$root/bench/plot.gp"
        echo "run.sh: wrote $png" >&2
    else
        echo "run.sh: no claim/mp rows in the CSV: no plot" >&2
        [ $status -ne 0 ] || status=1
    fi
fi
[ -z "$csv" ] || echo "run.sh: wrote $csv" >&2
exit $status
