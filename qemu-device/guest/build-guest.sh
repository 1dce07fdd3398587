#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# Build a Linux guest for cxl-mhsld heads: a kernel and a small initramfs.
#
# By default the kernel is Debian trixie-backports' linux-image-cloud-amd64
# (its vmlinuz and its modules), and the userland comes from trixie:
# busybox-static, ndctl's `cxl` and `daxctl` with every shared library they
# load, and kmod (depmod/modprobe).  Everything is fetched with
# `apt-get download` under an apt configuration private to this script
# (its own sources list, lists, caches, empty dpkg status, no preferences):
# the host's apt setup is neither read nor changed, and nothing is installed.
#
# The initramfs holds busybox, the CXL and DAX modules with their
# dependencies (decompressed; depmod runs in the guest), cxl, daxctl, kmod,
# the libraries, daxpoke (guest/daxpoke.c, built statically here) and
# guest/init.  guest/init loads the modules and then runs commands read
# from the serial console (see that file for the protocol).
#
# Both are cached under $MHSLD_GUEST_CACHE/out/<key>/ (default
# /var/cache/mhsld/guest), where <key> hashes the names and versions of every
# package used, the files of this folder and, with --kernel, the kernel and
# its modules.  The last line on stdout is that directory; it holds vmlinuz,
# initrd.gz, kernel-release and versions (one "package version" a line).
#
#   build-guest.sh [--kernel BZIMAGE --modules DIR] [--force]
#
#   --kernel BZIMAGE  boot this kernel instead of Debian's
#   --modules DIR     its modules: the lib/modules/<release> directory
#                     (named after the kernel's release)
#   --force           rebuild even if the cache holds the key
#
# Environment: MHSLD_GUEST_CACHE (cache root), MHSLD_GUEST_MIRROR (Debian
# mirror URI; default: the host's first non-security URI, else
# deb.debian.org).
#
# Exit status: 0 built or cached; 2 usage; 77 the packages cannot be
# fetched (no network, mirror down: callers may skip); 1 anything else.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${MHSLD_GUEST_CACHE:-/var/cache/mhsld/guest}
APTDIR=$CACHE/apt
DEBS=$CACHE/debs
KERNEL_META=linux-image-cloud-amd64
KERNEL_SUITE=trixie-backports
USERLAND=(busybox-static cxl daxctl kmod)
# Modules the guest loads (their dependencies come along).  No kmem: CXL
# memory is never onlined as System RAM in these guests (see
# docs/qemu-device.md: QEMU 10.0's TCG crashes there).
MODULES=(cxl_acpi cxl_pci cxl_mem cxl_port dax_cxl device_dax)

log() { printf "[build-guest] %s %s\n" "$(date +%T)" "$*" >&2; }
die() { printf '[build-guest] error: %s\n' "$*" >&2; exit 1; }
cannot_fetch() { printf '[build-guest] cannot fetch the guest packages: %s\n' "$*" >&2; exit 77; }

usage() {
    sed -n '/^#   build-guest.sh/,/^#   --force/p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

ARGS=("$@")
KERNEL=""
MODDIR=""
FORCE=0
while [ $# -gt 0 ]; do
    case $1 in
    --kernel) [ $# -ge 2 ] || usage; KERNEL=$2; shift 2 ;;
    --modules) [ $# -ge 2 ] || usage; MODDIR=$2; shift 2 ;;
    --force) FORCE=1; shift ;;
    -h | --help) usage ;;
    *) usage ;;
    esac
done
if [ -n "$KERNEL" ] || [ -n "$MODDIR" ]; then
    if [ -z "$KERNEL" ] || [ -z "$MODDIR" ]; then die "--kernel and --modules go together"; fi
    [ -f "$KERNEL" ] || die "no kernel image at $KERNEL"
    [ -d "$MODDIR/kernel" ] || die "$MODDIR is not a lib/modules/<release> directory (no kernel/ in it)"
    KERNEL=$(cd "$(dirname "$KERNEL")" && pwd)/$(basename "$KERNEL")
    MODDIR=$(cd "$MODDIR" && pwd)
fi
for t in apt-get apt-cache dpkg-deb python3 gcc readelf sha256sum flock; do
    command -v "$t" >/dev/null || die "$t is needed (Debian: apt-get install apt dpkg python3 gcc binutils coreutils util-linux)"
done

mkdir -p "$CACHE" "$APTDIR/lists/partial" "$APTDIR/archives/partial" "$DEBS" "$CACHE/out"
exec 9>"$CACHE/.lock"
flock 9

# ---- apt, private configuration ------------------------------------------

mirror_uri() {
    local uri
    if [ -n "${MHSLD_GUEST_MIRROR:-}" ]; then
        echo "$MHSLD_GUEST_MIRROR"
        return
    fi
    uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' \
        /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    echo "${uri:-http://deb.debian.org/debian}"
}

KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$KEYRING" ] || die "$KEYRING missing (Debian: apt-get install debian-archive-keyring)"
MIRROR=$(mirror_uri)
cat >"$APTDIR/sources.list.new" <<EOF
# Private to mhsld's build-guest.sh; the host's apt sources are not touched.
deb [signed-by=$KEYRING] $MIRROR trixie main
deb [signed-by=$KEYRING] $MIRROR $KERNEL_SUITE main
EOF
# Lists fetched from other sources (another mirror) do not count as fresh.
if ! cmp -s "$APTDIR/sources.list.new" "$APTDIR/sources.list"; then
    find "$APTDIR/lists" -maxdepth 1 -name '*InRelease' -exec touch -d @0 {} +
fi
mv "$APTDIR/sources.list.new" "$APTDIR/sources.list"
# An empty dpkg status: the host's installed packages play no part.
[ -f "$APTDIR/status" ] || : >"$APTDIR/status"
APT=(-o "Dir::Etc::SourceList=$APTDIR/sources.list"
    -o Dir::Etc::SourceParts=/dev/null
    -o Dir::Etc::Preferences=/dev/null
    -o Dir::Etc::PreferencesParts=/dev/null
    -o "Dir::State::Lists=$APTDIR/lists"
    -o "Dir::State::status=$APTDIR/status"
    -o "Dir::Cache=$APTDIR"
    -o "Dir::Cache::Archives=$APTDIR/archives"
    -o "Dir::Cache::pkgcache=$APTDIR/pkgcache.bin"
    -o "Dir::Cache::srcpkgcache=$APTDIR/srcpkgcache.bin"
    -o Acquire::Retries=3
    -o APT::Sandbox::User=root)

# Refresh the private lists at most once a day; with old lists and no
# network, carry on with the old lists (a cached build may still match).
if [ -z "$(find "$APTDIR/lists" -maxdepth 1 -name '*InRelease' -mmin -1440 2>/dev/null)" ]; then
    log "apt-get update (private lists in $APTDIR)"
    if ! apt-get "${APT[@]}" -qq update >&2 ||
        [ -z "$(find "$APTDIR/lists" -maxdepth 1 -name '*_Packages*' 2>/dev/null)" ]; then
        [ -n "$(find "$APTDIR/lists" -maxdepth 1 -name '*trixie*_Packages*' 2>/dev/null)" ] ||
            cannot_fetch "apt-get update of trixie and $KERNEL_SUITE failed (see above)"
        log "apt-get update failed; using the lists from the last update"
    fi
fi

# Records of the given specs (name, or name=version for an exact version),
# one line each: "name version dep dep ..." with the first alternative of
# every Depends/Pre-Depends entry, written name=version when the entry pins
# an exact version.  One apt-cache call for the whole list.
records() {
    apt-cache "${APT[@]}" show --no-all-versions "$@" | awk '
        function flush() { if (name != "") print name, ver, deps; name = ""; ver = ""; deps = "" }
        /^Package: / { flush(); name = $2 }
        /^Version: / { ver = $2 }
        /^(Depends|Pre-Depends): / {
            sub(/^[^:]*: */, "")
            n = split($0, ent, ",")
            for (i = 1; i <= n; i++) {
                e = ent[i]; sub(/\|.*/, "", e)
                pin = ""
                if (match(e, /\(= *[^)]*\)/)) { pin = substr(e, RSTART, RLENGTH); gsub(/[(= )]/, "", pin) }
                sub(/\(.*/, "", e); gsub(/[[:space:]]/, "", e); sub(/:any$/, "", e)
                if (e != "") deps = deps " " e (pin != "" ? "=" pin : "")
            }
        }
        END { flush() }'
}

declare -A PKG=() # name -> version

# Add the closure of the specs $2... over dependencies whose name matches
# the extended regex $1.
closure() {
    local re=$1 out name ver d
    shift
    local specs=("$@")
    while [ ${#specs[@]} -gt 0 ]; do
        out=$(records "${specs[@]}" 2>&1) || die "apt-cache show ${specs[*]}: $out"
        specs=()
        while read -r name ver deps; do
            [ -n "${PKG[$name]:-}" ] && continue
            PKG[$name]=$ver
            for d in $deps; do
                [[ ${d%%=*} =~ $re ]] || continue
                [ -n "${PKG[${d%%=*}]:-}" ] && continue
                specs+=("$d")
            done
        done <<<"$out"
        # A package pinned by two parents is asked once.
        if [ ${#specs[@]} -gt 0 ]; then
            mapfile -t specs < <(printf '%s\n' "${specs[@]}" | LC_ALL=C sort -u)
        fi
    done
}

if [ -z "$KERNEL" ]; then
    meta_ver=$(apt-cache "${APT[@]}" madison "$KERNEL_META" | awk -F'|' -v s="$KERNEL_SUITE" \
        '$3 ~ (" " s "/") { gsub(/ /, "", $2); print $2; exit }')
    [ -n "$meta_ver" ] || cannot_fetch "$KERNEL_META is not in $KERNEL_SUITE's lists"
    # The meta package's closure of linux-image/-binary/-modules/-base
    # packages of its version (vmlinuz, modules, modules.builtin, config).
    closure '^linux-(image|binary|modules|base)-' "$KERNEL_META=$meta_ver"
fi
# The userland and the libraries it depends on (shared-library packages are
# named lib*, and zlib1g), recursively; mkinitramfs.py then checks that
# every DT_NEEDED resolves.
for p in "${USERLAND[@]}"; do
    apt-cache "${APT[@]}" show --no-all-versions "$p" >/dev/null 2>&1 ||
        cannot_fetch "$p is not in trixie's lists"
done
closure '^(lib|zlib1g$)' "${USERLAND[@]}"

VERSIONS=$(for n in "${!PKG[@]}"; do echo "$n ${PKG[$n]}"; done | LC_ALL=C sort)

key_input() {
    echo "$VERSIONS"
    echo "modules: ${MODULES[*]}"
    (cd "$HERE" && for f in build-guest.sh init mkinitramfs.py daxpoke.c; do
        echo "$f $(sha256sum <"$f")"
    done)
    if [ -n "$KERNEL" ]; then
        echo "kernel $(sha256sum <"$KERNEL")"
        (cd "$MODDIR" && find . -type f -name '*.ko*' -printf '%P %s %T@\n' | LC_ALL=C sort) | sha256sum
    fi
}
KEY=$(key_input | sha256sum | cut -c1-16)
OUT=$CACHE/out/$KEY
if [ "$FORCE" = 0 ] && [ -f "$OUT/initrd.gz" ] && [ -f "$OUT/vmlinuz" ] && [ -f "$OUT/versions" ]; then
    log "cached: $OUT ($(head -n1 "$OUT/kernel-release"))"
    echo "$OUT"
    exit 0
fi

# ---- fetch and extract ---------------------------------------------------

START=$(date +%s)
# The downloaded .deb of name $1 version $2 (apt-get download writes
# name_version_arch.deb with the epoch's ':' as %3a), or nothing.
deb_file() {
    local f
    for f in "$DEBS/${1}_${2//:/%3a}_"*.deb; do
        [ -f "$f" ] && { echo "$f"; return; }
    done
}
want=()
for n in "${!PKG[@]}"; do
    [ -n "$(deb_file "$n" "${PKG[$n]}")" ] || want+=("$n=${PKG[$n]}")
done
if [ ${#want[@]} -gt 0 ]; then
    log "apt-get download ${#want[@]} packages"
    dl=$(mktemp -d "$CACHE/dl.XXXXXX")
    # shellcheck disable=SC2064
    trap "rm -rf '$dl'" EXIT
    if ! (cd "$dl" && apt-get "${APT[@]}" -qq download "${want[@]}" >&2); then
        # Lists up to a day old may name versions the mirror has dropped
        # since (a point release): refresh them once and resolve again.
        if [ -z "${MHSLD_GUEST_RETRIED:-}" ]; then
            log "apt-get download failed; refreshing the lists and trying again"
            find "$APTDIR/lists" -maxdepth 1 -name '*InRelease' -exec touch -d @0 {} +
            rm -rf "$dl"
            MHSLD_GUEST_RETRIED=1 exec "$0" "${ARGS[@]}"
        fi
        cannot_fetch "apt-get download failed (see above)"
    fi
    mv "$dl"/*.deb "$DEBS/"
fi

STAGE=$(mktemp -d "$CACHE/stage.XXXXXX")
trap 'rm -rf "$STAGE" ${dl:+"$dl"}' EXIT
mkdir -p "$STAGE/root"
for n in "${!PKG[@]}"; do
    f=$(deb_file "$n" "${PKG[$n]}")
    [ -n "$f" ] || die "downloaded package for $n ${PKG[$n]} not found in $DEBS"
    dpkg-deb -x "$f" "$STAGE/root"
done

if [ -z "$KERNEL" ]; then
    KMODDIR=$(find "$STAGE/root/usr/lib/modules" "$STAGE/root/lib/modules" -mindepth 1 -maxdepth 1 \
        -type d 2>/dev/null | head -n1 || true)
    [ -n "$KMODDIR" ] || die "no lib/modules/<release> in the kernel packages"
    KIMAGE=$(find "$KMODDIR" "$STAGE/root/boot" -maxdepth 1 -name 'vmlinuz*' 2>/dev/null | head -n1 || true)
    [ -n "$KIMAGE" ] || die "no vmlinuz in the kernel packages"
else
    KMODDIR=$MODDIR
    KIMAGE=$KERNEL
fi
RELEASE=$(basename "$KMODDIR")

log "daxpoke (static, host gcc)"
gcc -static -O2 -Wall -Wextra -Werror -o "$STAGE/daxpoke" "$HERE/daxpoke.c" ||
    die "building daxpoke failed (static glibc: apt-get install libc6-dev)"

log "initramfs for $RELEASE"
python3 "$HERE/mkinitramfs.py" --root "$STAGE/root" --moddir "$KMODDIR" --release "$RELEASE" \
    --init "$HERE/init" --extra "$STAGE/daxpoke:usr/bin/daxpoke" \
    --bin usr/bin/busybox:bin/busybox --bin usr/bin/cxl --bin usr/bin/daxctl --bin usr/bin/kmod \
    --modules "${MODULES[@]}" --output "$STAGE/initrd.gz" >&2 || die "mkinitramfs.py failed"

rm -rf "$OUT.tmp"
mkdir -p "$OUT.tmp"
cp "$KIMAGE" "$OUT.tmp/vmlinuz"
mv "$STAGE/initrd.gz" "$OUT.tmp/initrd.gz"
echo "$RELEASE" >"$OUT.tmp/kernel-release"
if [ -n "$KERNEL" ]; then
    { echo "kernel $KERNEL"; echo "modules $MODDIR"; echo "$VERSIONS"; } >"$OUT.tmp/versions"
else
    echo "$VERSIONS" >"$OUT.tmp/versions"
fi
rm -rf "$OUT"
mv "$OUT.tmp" "$OUT"
# Keep downloads of the packages in use only.
keep=$(for n in "${!PKG[@]}"; do deb_file "$n" "${PKG[$n]}"; done)
for f in "$DEBS"/*.deb; do
    [ -e "$f" ] || continue
    grep -qxF "$f" <<<"$keep" || rm -f "$f"
done
log "built in $(($(date +%s) - START)) s: $OUT ($RELEASE, initrd $(du -k "$OUT/initrd.gz" | cut -f1) KiB)"
echo "$OUT"
