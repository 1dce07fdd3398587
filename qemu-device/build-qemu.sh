#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# Build qemu-system-x86_64 (QEMU 10.0.x from Debian's trixie source package)
# with the cxl-mhsld device and its patch series, linked against libmhsld as
# installed from this repository (found through its pkg-config file).
#
# Run as root on Debian 12.  Steps, each skipped when already done:
#   1. install the build dependencies from Debian's packages (meson 1.7 from
#      bookworm-backports under a private apt configuration: the host's apt
#      sources are never edited);
#   2. fetch the `qemu` source package of trixie with `apt-get source` (same
#      private configuration) and unpack it once, pristine;
#   3. build libmhsld (the engine, cmake) and install it into
#      $CACHE/engine<flavour>/prefix, when the engine's sources changed
#      (keyed by their hash; files whose content did not change keep their
#      mtime, so QEMU only recompiles/relinks what depends on a change);
#   4. lay the patched tree: patches/*.patch + the device (cxl_mhsld.c,
#      its meson.build and trace-events under hw/mem/mhsld) over the
#      pristine source; only files whose content changed are rewritten, so
#      ninja rebuilds incrementally;
#   5. configure (x86_64-softmmu only) and build with PKG_CONFIG_PATH
#      pointing at the installed mhsld.pc (dependency('mhsld'));
#   6. install into the cache, keyed by QEMU version + hash of the inputs
#      (the engine's sources and build files among them).
#
# The last line on stdout is the path of the built qemu-system-x86_64; the
# same path is written to $MHSLD_QEMU_CACHE/current (and the cxl-test qtest
# binary beside it).  A second run with unchanged inputs only prints it.
#
# Environment:
#   MHSLD_QEMU_CACHE  cache directory (default /var/cache/mhsld/qemu)
#   MHSLD_QEMU_JOBS   ninja -j (default 2)
#   MHSLD_QEMU_NO_DEPS=1  skip the apt steps (dependencies known present)
#   MHSLD_QEMU_SANITIZE=1 build QEMU with ASan+UBSan (--enable-asan
#                     --enable-ubsan) instead: its own build tree and output
#                     (key <version>-asan-<hash>), path in $CACHE/current-asan;
#                     the normal build is kept beside it
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
CACHE=${MHSLD_QEMU_CACHE:-/var/cache/mhsld/qemu}
JOBS=${MHSLD_QEMU_JOBS:-2}
APTDIR=$CACHE/apt
# Build flavour: "" (normal) or "-asan" (ASan+UBSan).
FLAVOUR=""
[ "${MHSLD_QEMU_SANITIZE:-0}" = 1 ] && FLAVOUR="-asan"
CURRENT=$CACHE/current$FLAVOUR

log() { printf '[build-qemu] %s\n' "$*" >&2; }
die() { printf '[build-qemu] error: %s\n' "$*" >&2; exit 1; }

usage() {
    cat >&2 <<EOF
usage: $0 [--print-key] [--force] [--fetch-only] [--device-patch]
  --print-key  print the cache key of the current inputs and exit
  --fetch-only install dependencies and fetch the source, print its path
  --device-patch  print the cxl-mhsld patch (the device as hw/mem/mhsld,
               made from this repository's files) that applies on top of
               patches/*.patch, and exit
  --force      rebuild even if the cache holds this key
EOF
    exit 2
}

FORCE=0
PRINT_KEY=0
FETCH_ONLY=0
DEVICE_PATCH=0
for a in "$@"; do
    case $a in
    --force) FORCE=1 ;;
    --print-key) PRINT_KEY=1 ;;
    --fetch-only) FETCH_ONLY=1 ;;
    --device-patch) DEVICE_PATCH=1 ;;
    -h | --help) usage ;;
    *) usage ;;
    esac
done

# ---- inputs and the cache key --------------------------------------------

PATCHES=()
check_inputs() {
    local p f n=0
    while IFS= read -r -d '' p; do PATCHES+=("$p"); done \
        < <(find "$HERE/patches" -maxdepth 1 -name '*.patch' -print0 2>/dev/null | sort -z)
    [ ${#PATCHES[@]} -gt 0 ] || die "no patches in $HERE/patches"
    [ -f "$HERE/cxl_mhsld.c" ] || die "missing $HERE/cxl_mhsld.c"
    [ -f "$HERE/meson.build.in" ] || die "missing $HERE/meson.build.in"
    [ -f "$HERE/trace-events" ] || die "missing $HERE/trace-events"
    [ -f "$HERE/device-patch.msg" ] || die "missing $HERE/device-patch.msg"
    for f in "$REPO"/engine/src/*.c; do [ -f "$f" ] && n=$((n + 1)); done
    [ "$n" -gt 0 ] || die "no engine sources in $REPO/engine/src"
    [ -f "$REPO/engine/include/mhsld/mailbox.h" ] || die "missing engine/include/mhsld/mailbox.h"
    [ -f "$REPO/engine/mhsld.pc.in" ] || die "missing engine/mhsld.pc.in"
}

# The engine's inputs: what `cmake --install` of libmhsld depends on.
engine_files() {
    (cd "$REPO" && {
        printf '%s\n' CMakeLists.txt engine/CMakeLists.txt engine/mhsld.pc.in
        find cmake -maxdepth 1 -name '*.cmake'
        find engine/include engine/src -type f \( -name '*.c' -o -name '*.h' \)
    } | LC_ALL=C sort)
}

# Every input file, as paths relative to the repo, sorted.
input_files() {
    (cd "$REPO" && {
        printf '%s\n' qemu-device/build-qemu.sh qemu-device/cxl_mhsld.c qemu-device/meson.build.in \
            qemu-device/devices.mak qemu-device/trace-events qemu-device/device-patch.msg
        find qemu-device/patches -maxdepth 1 -name '*.patch'
        engine_files
    } | LC_ALL=C sort)
}

# Hash of the files a function lists: names and contents, so that a rename
# also changes the key.
files_hash() {
    (cd "$REPO" && "$1" | while IFS= read -r f; do
        printf '%s\n' "$f"
        sha256sum <"$f"
    done) | sha256sum | cut -c1-16
}
inputs_hash() { files_hash input_files; }

# ---- apt, private configuration ------------------------------------------

mirror_uri() {
    local uri
    uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' \
        /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    echo "${uri:-http://deb.debian.org/debian}"
}

APT_PRIV=()
setup_private_apt() {
    local mirror
    mirror=$(mirror_uri)
    mkdir -p "$APTDIR/lists/partial" "$APTDIR/archives/partial"
    chmod 755 "$CACHE" "$APTDIR"
    cat >"$APTDIR/sources.list.new" <<EOF
# Private to mhsld's build-qemu.sh; the host's apt sources are not touched.
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bookworm main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bookworm-updates main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bookworm-backports main
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main
EOF
    mv "$APTDIR/sources.list.new" "$APTDIR/sources.list"
    APT_PRIV=(-o "Dir::Etc::SourceList=$APTDIR/sources.list"
        -o Dir::Etc::SourceParts=/dev/null
        -o "Dir::State::Lists=$APTDIR/lists"
        -o "Dir::Cache::pkgcache=$APTDIR/pkgcache.bin"
        -o "Dir::Cache::srcpkgcache=$APTDIR/srcpkgcache.bin"
        -o "Dir::Cache::Archives=$APTDIR/archives"
        -o DPkg::Lock::Timeout=600 -o Acquire::Retries=5
        -o APT::Sandbox::User=root)
    # Refresh the private lists at most once a day.
    if [ -z "$(find "$APTDIR/lists" -maxdepth 1 -name '*InRelease' -mmin -1440 2>/dev/null)" ]; then
        log "apt-get update (private lists in $APTDIR)"
        apt-get "${APT_PRIV[@]}" -q update >&2
    fi
}

BUILD_DEPS=(build-essential pkg-config ninja-build python3 python3-venv flex bison
    libglib2.0-dev libpixman-1-dev zlib1g-dev libck-dev dpkg-dev
    seabios ipxe-qemu)

install_deps() {
    [ "${MHSLD_QEMU_NO_DEPS:-0}" = 1 ] && return 0
    [ "$(id -u)" = 0 ] || die "run as root (installs Debian packages), or set MHSLD_QEMU_NO_DEPS=1"
    local missing=() p
    for p in "${BUILD_DEPS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing: ${missing[*]}"
        if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' 2>/dev/null)" ]; then
            apt-get -q -o Acquire::Retries=5 update >&2
        fi
        DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends \
            -o DPkg::Lock::Timeout=600 -o Acquire::Retries=5 "${missing[@]}" >&2
    fi
    if ! meson_ok; then
        setup_private_apt
        log "installing meson and pycotap from bookworm-backports"
        DEBIAN_FRONTEND=noninteractive apt-get "${APT_PRIV[@]}" -q install -y \
            --no-install-recommends -t bookworm-backports meson python3-pycotap >&2
        meson_ok || die "meson >= 1.5 or pycotap still missing after installing from bookworm-backports"
    fi
}

# QEMU 10.0's configure wants meson >= 1.5 and pycotap >= 1.1 from the system
# Python (Debian's source has no python/wheels to fall back on).
meson_ok() {
    /usr/bin/python3 - <<'EOF' 2>/dev/null
import sys
try:
    from mesonbuild import coredata
    import pycotap  # noqa: F401
except ImportError:
    sys.exit(1)
v = tuple(int(x) for x in coredata.version.split('.')[:2])
sys.exit(0 if v >= (1, 5) else 1)
EOF
}

# ---- QEMU source ---------------------------------------------------------

# Prints the pristine source directory.  Fetches it once.
fetch_source() {
    local d
    d=$(find "$CACHE/src" -mindepth 1 -maxdepth 1 -type d -name 'qemu-10.0*' 2>/dev/null | sort -V | tail -n1)
    if [ -n "$d" ] && [ -f "$d/.mhsld-unpacked" ]; then
        echo "$d"
        return
    fi
    setup_private_apt
    local dl=$CACHE/dl
    rm -rf "$dl"
    mkdir -p "$dl"
    log "fetching the trixie qemu source package"
    # A mirror or resolver hiccup must not fail a 20-minute job: try again.
    local try
    for try in 1 2 3; do
        (cd "$dl" && apt-get "${APT_PRIV[@]}" -q source --download-only qemu >&2) && break
        log "apt-get source failed (attempt $try of 3)"
        [ "$try" = 3 ] || sleep $((try * 10))
    done
    local dsc
    dsc=$(find "$dl" -maxdepth 1 -name 'qemu_*.dsc' | head -n1)
    [ -n "$dsc" ] || die "apt-get source qemu gave no .dsc"
    local ver
    ver=$(sed -n 's/^Version: //p' "$dsc" | head -n1)
    log "Debian qemu source version $ver"
    case $ver in
    1:10.0.*) ;;
    *) die "trixie's qemu source is $ver, not 10.0.x" ;;
    esac
    # Upstream version without epoch and Debian suffix, e.g. 10.0.3.
    local up=${ver#*:}
    up=${up%%+*}
    up=${up%%-*}
    d=$CACHE/src/qemu-$up
    rm -rf "$d" "$d.tmp"
    mkdir -p "$CACHE/src"
    # Upstream source only: Debian's own patches are for Debian's packaging.
    dpkg-source --no-check --skip-patches -x "$dsc" "$d.tmp" >&2
    [ -f "$d.tmp/VERSION" ] || die "unpacked source lacks VERSION"
    mv "$d.tmp" "$d"
    : >"$d/.mhsld-unpacked"
    rm -rf "$dl"
    echo "$d"
}

# ---- the patched tree ----------------------------------------------------

# Write $2 into $1 only if the content differs (keeps mtimes for ninja).
install_if_changed() {
    local dst=$1 src=$2
    if [ -f "$dst" ] && cmp -s "$src" "$dst"; then
        return
    fi
    mkdir -p "$(dirname "$dst")"
    cp "$src" "$dst"
    log "updated ${dst#"$WORK"/}"
}

# The author and Signed-off-by of the cxl-mhsld patch (as of the series).
PATCH_NAME="mhsld developers"
PATCH_EMAIL="maintainers@users.noreply.r-seed-dc032837.example"

# Copy $2 (a path relative to the tree) from the pristine tree $3 into the
# stage $1 unless staged already.
stage_file() {
    if [ -f "$3/$2" ] && [ ! -f "$1/$2" ]; then
        mkdir -p "$1/$(dirname "$2")"
        cp "$3/$2" "$1/$2"
    fi
}

# The files a patch creates or modifies.
patch_files() { sed -n 's#^+++ b/\([^[:space:]]*\).*#\1#p' "$1"; }

# Stage into $1 every file the series touches, from the pristine tree $2,
# and apply the series.
stage_series() {
    local stage=$1 pristine=$2 p f
    for p in "${PATCHES[@]}"; do
        while IFS= read -r f; do stage_file "$stage" "$f" "$pristine"; done < <(patch_files "$p")
    done
    for p in "${PATCHES[@]}"; do
        patch -s -p1 -N -d "$stage" -i "$p" >&2 || die "patch $(basename "$p") does not apply to $(basename "$pristine")"
    done
}

# Print the cxl-mhsld patch (git format-patch form) against the tree of
# $1 (staged files) over $2 (pristine): the device, its meson.build and
# trace events as hw/mem/mhsld/, made from this repository's files, and
# the lines that hook them into QEMU's build and MAINTAINERS.  Generated,
# not stored, so that qemu-device/cxl_mhsld.c stays the one copy.
device_patch() {
    local stage=$1 pristine=$2 t f n=$((${#PATCHES[@]} + 1))
    # Fixed dates: the same inputs give the same patch.
    local git=(env GIT_AUTHOR_DATE="2026-12-02T00:00:00+0000" GIT_COMMITTER_DATE="2026-12-02T00:00:00+0000"
        git -c "user.name=$PATCH_NAME" -c "user.email=$PATCH_EMAIL"
        -c init.defaultBranch=master -c commit.gpgsign=false -c core.autocrlf=false)
    t=$(mktemp -d "${TMPDIR:-/tmp}/mhsld-device-patch.XXXXXX")
    # shellcheck disable=SC2064
    trap "rm -rf '$t'" RETURN
    for f in MAINTAINERS meson.build hw/mem/meson.build; do
        mkdir -p "$t/tree/$(dirname "$f")"
        if [ -f "$stage/$f" ]; then cp "$stage/$f" "$t/tree/$f"; else cp "$pristine/$f" "$t/tree/$f"; fi
    done
    (cd "$t/tree" && "${git[@]}" init -q && "${git[@]}" add -A && "${git[@]}" commit -q -m base) >&2 ||
        die "device patch: git failed"
    # The trace events subdir, the build subdir, the maintainers.
    sed -i "s#^    'hw/mem',\$#&\n    'hw/mem/mhsld',#" "$t/tree/meson.build"
    grep -qxF "    'hw/mem/mhsld'," "$t/tree/meson.build" ||
        die "device patch: no 'hw/mem' line in trace_events_subdirs of meson.build"
    sed -i "s#^mem_ss.add(when: 'CONFIG_CXL_MEM_DEVICE', if_true: files('cxl_type3.c'))\$#&\nsubdir('mhsld')#" \
        "$t/tree/hw/mem/meson.build"
    grep -qxF "subdir('mhsld')" "$t/tree/hw/mem/meson.build" ||
        die "device patch: no cxl_type3.c line in hw/mem/meson.build"
    printf '\n%s\n' "CXL multi-headed single logical device (cxl-mhsld)" >"$t/maintainers"
    printf '%s\n' "M: $PATCH_NAME <$PATCH_EMAIL>" "S: Maintained" "F: hw/mem/mhsld/" >>"$t/maintainers"
    sed -i "/^F: qapi\/cxl\.json\$/r $t/maintainers" "$t/tree/MAINTAINERS"
    grep -qxF "F: hw/mem/mhsld/" "$t/tree/MAINTAINERS" ||
        die "device patch: no 'F: qapi/cxl.json' line in MAINTAINERS"
    mkdir -p "$t/tree/hw/mem/mhsld"
    cp "$HERE/cxl_mhsld.c" "$t/tree/hw/mem/mhsld/cxl_mhsld.c"
    cp "$HERE/meson.build.in" "$t/tree/hw/mem/mhsld/meson.build"
    cp "$HERE/trace-events" "$t/tree/hw/mem/mhsld/trace-events"
    printf '%s\n' '/* SPDX-License-Identifier: GPL-2.0-or-later */' \
        '#include "trace/trace-hw_mem_mhsld.h"' >"$t/tree/hw/mem/mhsld/trace.h"
    # The commit message: qemu-device/device-patch.msg (subject line, blank
    # line, body), signed off.
    { cat "$HERE/device-patch.msg"; printf '\nSigned-off-by: %s <%s>\n' "$PATCH_NAME" "$PATCH_EMAIL"; } >"$t/msg"
    (cd "$t/tree" && "${git[@]}" add -A && "${git[@]}" commit -q -F "$t/msg" &&
        "${git[@]}" format-patch -1 --stdout --subject-prefix="PATCH $n/$n" --signature=2.39.5) ||
        die "device patch: git format-patch failed"
}

# Bring $WORK to pristine + the series + the cxl-mhsld patch, touching only
# what changed.  $WORK/.mhsld-managed lists the files we manage.
lay_tree() {
    local pristine=$1 stage f
    stage=$(mktemp -d "$CACHE/stage.XXXXXX")
    # shellcheck disable=SC2064
    trap "rm -rf '$stage' '$stage.patch'" RETURN
    if [ ! -d "$WORK" ]; then
        log "copying the pristine source to $WORK"
        cp -a "$pristine" "$WORK.tmp"
        mv "$WORK.tmp" "$WORK"
        : >"$WORK/.mhsld-managed"
    fi
    stage_series "$stage" "$pristine"
    device_patch "$stage" "$pristine" >"$stage.patch"
    while IFS= read -r f; do stage_file "$stage" "$f" "$pristine"; done < <(patch_files "$stage.patch")
    patch -s -p1 -N -d "$stage" -i "$stage.patch" >&2 || die "the cxl-mhsld patch does not apply"
    # The device list of this build (--with-devices-x86_64=mhsld).
    mkdir -p "$stage/configs/devices/x86_64-softmmu"
    cp "$HERE/devices.mak" "$stage/configs/devices/x86_64-softmmu/mhsld.mak"

    local new_list
    new_list=$(cd "$stage" && find . -type f | sed 's#^\./##' | LC_ALL=C sort)
    # Files managed before but no longer: back to pristine, or removed.
    while IFS= read -r f; do
        [ -n "$f" ] || continue
        if ! grep -qxF "$f" <<<"$new_list"; then
            if [ -f "$pristine/$f" ]; then
                install_if_changed "$WORK/$f" "$pristine/$f"
            else
                rm -f "$WORK/$f"
                log "removed $f"
            fi
        fi
    done <"$WORK/.mhsld-managed"
    while IFS= read -r f; do
        install_if_changed "$WORK/$f" "$stage/$f"
    done <<<"$new_list"
    printf '%s\n' "$new_list" >"$WORK/.mhsld-managed"
}

# ---- libmhsld --------------------------------------------------------------

# Build libmhsld with the project's cmake and install it into
# $ENGINE/prefix, unless the prefix already holds this engine key.  The
# install goes through a staging DESTDIR and only files whose content
# changed are copied, so QEMU's ninja sees exactly what changed (headers:
# through the compiler's dependency files; libmhsld.a: meson lists it as a
# link dependency of qemu-system-x86_64).
install_engine() {
    local key prefix=$ENGINE/prefix tmp f
    key=$(files_hash engine_files)
    if [ -f "$prefix/.mhsld-engine-key" ] && [ "$(cat "$prefix/.mhsld-engine-key")" = "$key" ] &&
        [ -f "$prefix/lib/pkgconfig/mhsld.pc" ] && [ -f "$prefix/lib/libmhsld.a" ]; then
        log "libmhsld $key already installed in $prefix"
        return
    fi
    log "building libmhsld (engine key $key) into $prefix"
    tmp=$(mktemp -d "$CACHE/engine-build.XXXXXX")
    # shellcheck disable=SC2064
    trap "rm -rf '$tmp'" RETURN
    local sanitize=""
    [ -z "$FLAVOUR" ] || sanitize=address,undefined
    cmake -S "$REPO" -B "$tmp/build" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib \
        -DMHSLD_BUILD_TESTS=OFF -DMHSLD_BUILD_TOOLS=OFF -DMHSLD_BUILD_BENCH=OFF \
        -DMHSLD_SANITIZE="$sanitize" >"$tmp/cmake.log" 2>&1 || {
        cat "$tmp/cmake.log" >&2
        die "configuring libmhsld failed"
    }
    cmake --build "$tmp/build" --target mhsld -j"$JOBS" >"$tmp/build.log" 2>&1 || {
        cat "$tmp/build.log" >&2
        die "building libmhsld failed"
    }
    DESTDIR=$tmp/dest cmake --install "$tmp/build" >"$tmp/install.log" 2>&1 || {
        cat "$tmp/install.log" >&2
        die "installing libmhsld failed"
    }
    [ -f "$tmp/dest$prefix/lib/pkgconfig/mhsld.pc" ] || die "libmhsld installed no mhsld.pc"
    # Into the prefix: changed files only; files no longer installed go.
    mkdir -p "$prefix"
    rm -f "$prefix/.mhsld-engine-key"
    (cd "$tmp/dest$prefix" && find . -type f | sed 's#^\./##' | LC_ALL=C sort) >"$tmp/list"
    while IFS= read -r f; do
        if [ -f "$prefix/$f" ] && cmp -s "$tmp/dest$prefix/$f" "$prefix/$f"; then
            continue
        fi
        mkdir -p "$(dirname "$prefix/$f")"
        cp "$tmp/dest$prefix/$f" "$prefix/$f.tmp"
        mv "$prefix/$f.tmp" "$prefix/$f"
        log "engine: updated $f"
    done <"$tmp/list"
    (cd "$prefix" && find . -type f ! -name .mhsld-engine-key | sed 's#^\./##') |
        while IFS= read -r f; do
            grep -qxF "$f" "$tmp/list" || { rm -f "$prefix/$f" && log "engine: removed $f"; }
        done
    echo "$key" >"$prefix/.mhsld-engine-key"
}

# ---- configure and build -------------------------------------------------

CONFIGURE_ARGS=(
    --target-list=x86_64-softmmu
    --python=/usr/bin/python3
    --disable-download
    --disable-install-blobs
    --disable-fdt
    --without-default-features
    --enable-kvm
    --enable-tcg
    --disable-docs
    --disable-user
    --disable-tools
    --disable-guest-agent
    --disable-werror
    --without-default-devices
    --with-devices-x86_64=mhsld
)

configure_tree() {
    local b=$WORK/build want
    [ -z "$FLAVOUR" ] || CONFIGURE_ARGS+=(--enable-asan --enable-ubsan)
    # meson keeps the pkg-config path of the first configure for every later
    # regeneration: pass it as an option (a fixed path per flavour).
    CONFIGURE_ARGS+=("-Dpkg_config_path=$PKG_CONFIG_PATH")
    want=$(printf '%s\n' "${CONFIGURE_ARGS[@]}")
    if [ -f "$b/build.ninja" ] && [ -f "$b/.mhsld-configure-args" ] &&
        [ "$want" = "$(cat "$b/.mhsld-configure-args")" ]; then
        return
    fi
    log "configure ${CONFIGURE_ARGS[*]}"
    rm -rf "$b"
    mkdir -p "$b"
    (cd "$b" && ../configure "${CONFIGURE_ARGS[@]}" >&2) || die "configure failed"
    printf '%s\n' "$want" >"$b/.mhsld-configure-args"
}

build_tree() {
    local b=$WORK/build
    log "ninja -j$JOBS qemu-system-x86_64 tests/qtest/cxl-test (in $b)"
    # ninja prints [n/m] progress lines: keep them visible on stderr.
    ninja -C "$b" -j"$JOBS" qemu-system-x86_64 tests/qtest/cxl-test >&2 || die "build failed"
    # x86 option ROMs (linuxboot_dma.bin for -kernel, kvmvapic.bin, ...):
    # Debian's source has none prebuilt and configure's compiler probe does
    # not enable them here; the host gcc builds them (-m16) in seconds.
    local rom=$b/pc-bios/optionrom conf
    conf=$(printf 'TOPSRC_DIR=%s\nCC=gcc\nOBJCOPY=objcopy\nPYTHON=/usr/bin/python3\n' "$WORK")
    mkdir -p "$rom"
    [ -f "$rom/Makefile" ] || ln -sf "$WORK/pc-bios/optionrom/Makefile" "$rom/Makefile"
    if [ ! -f "$rom/config.mak" ] || [ "$(cat "$rom/config.mak")" != "$conf" ]; then
        printf '%s\n' "$conf" >"$rom/config.mak"
    fi
    log "option ROMs (make -C $rom)"
    make -s -C "$rom" >"$rom/build.log" 2>&1 || {
        cat "$rom/build.log" >&2
        die "building the option ROMs failed"
    }
}

# Firmware from Debian's seabios / ipxe-qemu, linked where the installed
# binary looks for its data (QEMU finds ../share/qemu relative to itself).
link_firmware() {
    local share=$1/share/qemu f
    mkdir -p "$share"
    for f in /usr/share/seabios/*.bin /usr/lib/ipxe/qemu/*.rom; do
        [ -e "$f" ] && ln -sf "$f" "$share/$(basename "$f")"
    done
    # Option ROMs QEMU builds from source (linuxboot_dma.bin, kvmvapic.bin, ...).
    for f in "$WORK"/build/pc-bios/optionrom/*.bin; do
        [ -e "$f" ] && cp "$f" "$share/"
    done
    [ -e "$share/bios-256k.bin" ] || die "bios-256k.bin not found (is seabios installed?)"
}

install_result() {
    local out=$1 tmp
    tmp=$out.tmp
    rm -rf "$tmp"
    mkdir -p "$tmp/bin" "$tmp/share/qemu"
    cp "$WORK/build/qemu-system-x86_64" "$tmp/bin/"
    cp "$WORK/build/tests/qtest/cxl-test" "$tmp/bin/"
    # Data QEMU reads at run time from its data directory.
    cp -r "$WORK/pc-bios/keymaps" "$tmp/share/qemu/" 2>/dev/null || true
    WORK=$WORK link_firmware "$tmp"
    echo "$VERSION" >"$tmp/qemu-version"
    echo "$KEY" >"$tmp/key"
    rm -rf "$out"
    mv "$tmp" "$out"
}

# ---- main ----------------------------------------------------------------

mkdir -p "$CACHE/src" "$CACHE/out" "$CACHE/work"

if [ "$PRINT_KEY" = 1 ]; then
    d=$(find "$CACHE/src" -mindepth 1 -maxdepth 1 -type d -name 'qemu-10.0*' 2>/dev/null | sort -V | tail -n1)
    echo "${d:+$(cat "$d/VERSION")$FLAVOUR-}$(inputs_hash)"
    exit 0
fi

# The cxl-mhsld patch needs the pristine source only, not the build lock.
if [ "$DEVICE_PATCH" = 1 ]; then
    check_inputs
    exec 8>"$CACHE/.lock-src"
    flock 8
    install_deps
    PRISTINE=$(fetch_source)
    flock -u 8
    stage=$(mktemp -d "$CACHE/stage.XXXXXX")
    trap 'rm -rf "$stage"' EXIT
    stage_series "$stage" "$PRISTINE"
    device_patch "$stage" "$PRISTINE"
    exit 0
fi

# One build at a time per cache and flavour; the shared steps (apt, the
# source) under a lock of their own.
exec 9>"$CACHE/.lock$FLAVOUR"
flock 9

if [ "$FETCH_ONLY" = 1 ]; then
    exec 8>"$CACHE/.lock-src"
    flock 8
    install_deps
    fetch_source
    exit 0
fi

check_inputs
START=$(date +%s)
HASH=$(inputs_hash)
PRISTINE=""
# The flavour of an output directory, from its key.
flavour_of() { case $(cat "$1/key" 2>/dev/null) in *-asan-*) echo "-asan" ;; *) echo "" ;; esac; }

# Fast path: a cached build for this exact input needs no apt and no source.
for d in "$CACHE"/out/*-"$HASH"; do
    if [ "$FORCE" = 0 ] && [ -x "$d/bin/qemu-system-x86_64" ] && [ -f "$d/key" ] &&
        [ "$(flavour_of "$d")" = "$FLAVOUR" ]; then
        echo "$d/bin/qemu-system-x86_64" >"$CURRENT"
        log "cached: $(cat "$d/key")"
        echo "$d/bin/qemu-system-x86_64"
        exit 0
    fi
done

exec 8>"$CACHE/.lock-src"
flock 8
install_deps
PRISTINE=$(fetch_source)
flock -u 8
VERSION=$(cat "$PRISTINE/VERSION")
KEY=$VERSION$FLAVOUR-$HASH
OUT=$CACHE/out/$KEY
WORK=$CACHE/work/qemu-$VERSION$FLAVOUR
ENGINE=$CACHE/engine$FLAVOUR
log "QEMU $VERSION, key $KEY"

install_engine
# QEMU's meson finds libmhsld through mhsld.pc (configure and every ninja
# run that re-runs meson see the same path).
export PKG_CONFIG_PATH=$ENGINE/prefix/lib/pkgconfig
pkg-config --exists 'mhsld >= 0.1' || die "pkg-config does not find mhsld in $PKG_CONFIG_PATH"
lay_tree "$PRISTINE"
configure_tree
build_tree
"$WORK/build/qemu-system-x86_64" -device help 2>/dev/null | grep -q '"cxl-mhsld"' ||
    die "the build has no cxl-mhsld device (was libmhsld found by meson?)"
install_result "$OUT"
echo "$OUT/bin/qemu-system-x86_64" >"$CURRENT"
# Keep the cache small: drop other outputs of this version and flavour.
for d in "$CACHE"/out/"$VERSION"-*; do
    [ "$d" = "$OUT" ] || [ "$(flavour_of "$d")" != "$FLAVOUR" ] || rm -rf "$d"
done
log "built in $(($(date +%s) - START)) s"
echo "$OUT/bin/qemu-system-x86_64"
