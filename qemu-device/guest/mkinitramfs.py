#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Write the guest's initramfs (cpio newc, gzip) from extracted packages.

usage: mkinitramfs.py --root DIR --moddir DIR --release REL --init FILE
                      [--bin SRC[:DST]]... [--extra SRC:DST]...
                      --modules NAME... --output FILE

* --root: the packages extracted with dpkg-deb -x (binaries, libraries).
* --bin: an ELF file under --root (busybox, cxl, daxctl, kmod); its
  program interpreter and every DT_NEEDED library are resolved recursively
  in --root and copied to usr/lib/x86_64-linux-gnu (an unresolved one is an
  error that names it).  busybox's applets and kmod's tools become symlinks.
* --modules: module names; with their dependencies (the modules' own
  .modinfo "depends" and "softdep" fields) they are copied, decompressed,
  to lib/modules/REL/ with modules.builtin*/modules.order; the guest runs
  depmod.  A module the kernel has built in (modules.builtin) is skipped.

Python 3 standard library, plus the host's readelf (binutils) and zstd for
.ko.zst modules.
"""

import argparse
import gzip
import io
import lzma
import os
import re
import stat
import struct
import subprocess
import sys

LIBDIR = "usr/lib/x86_64-linux-gnu"
SEARCH = ["usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu", "usr/lib64", "lib64",
          "usr/lib", "lib"]


class Fail(Exception):
    pass


MERGED = ("bin", "sbin", "lib", "lib64")


def canon(path):
    """Paths under the merged-/usr links are stored under usr/."""
    path = path.strip("/")
    top, sep, rest = path.partition("/")
    return "usr/" + path if top in MERGED and sep else path


class Cpio:
    """newc archive of regular files, directories, symlinks and nodes."""

    def __init__(self):
        self.entries = {}  # path -> (mode, data, rdev)

    def dir(self, path):
        parts = canon(path).split("/")
        for i in range(1, len(parts) + 1):
            p = "/".join(parts[:i])
            if p not in self.entries:
                self.entries[p] = (stat.S_IFDIR | 0o755, b"", (0, 0))

    def file(self, path, data, mode=0o644):
        path = canon(path)
        if "/" in path:
            self.dir(os.path.dirname(path))
        self.entries[path] = (stat.S_IFREG | mode, data, (0, 0))

    def symlink(self, path, target):
        path = canon(path)
        if "/" in path:
            self.dir(os.path.dirname(path))
        self.entries[path] = (stat.S_IFLNK | 0o777, target.encode(), (0, 0))

    def node(self, path, mode, major, minor):
        self.entries[canon(path)] = (mode, b"", (major, minor))

    def write(self):
        out = io.BytesIO()

        def pad4():
            out.write(b"\0" * (-out.tell() % 4))

        def entry(ino, name, mode, data, rdev):
            nm = name.encode() + b"\0"
            hdr = "070701" + "".join("%08X" % v for v in (
                ino, mode, 0, 0, 2 if stat.S_ISDIR(mode) else 1, 0, len(data),
                0, 0, rdev[0], rdev[1], len(nm), 0))
            out.write(hdr.encode() + nm)
            pad4()
            out.write(data)
            pad4()

        for ino, name in enumerate(sorted(self.entries), start=1):
            mode, data, rdev = self.entries[name]
            entry(ino, name, mode, data, rdev)
        entry(0, "TRAILER!!!", 0, b"", (0, 0))
        return out.getvalue()


def readelf(path, flag):
    p = subprocess.run(["readelf", flag, "-W", path], capture_output=True, text=True)
    if p.returncode != 0:
        raise Fail("readelf %s %s: %s" % (flag, path, p.stderr.strip()))
    return p.stdout


def needed(path):
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", readelf(path, "-d"))


def interpreter(path):
    m = re.search(r"Requesting program interpreter: ([^\]]+)\]", readelf(path, "-l"))
    return m.group(1) if m else None


def in_root(root, rel):
    """Resolve rel inside root, following symlinks as if root were /; with
    merged /usr (trixie), /lib64/x is also looked for as /usr/lib64/x."""
    found = _in_root(root, rel)
    top = rel.strip("/").split("/")[0]
    if not found and top in ("bin", "sbin", "lib", "lib64"):
        found = _in_root(root, "usr/" + rel.strip("/"))
    return found


def _in_root(root, rel):
    parts = [p for p in rel.strip("/").split("/") if p]
    cur = ""
    hops = 0
    while parts:
        p = parts.pop(0)
        nxt = os.path.join(cur, p) if cur else p
        full = os.path.join(root, nxt)
        if os.path.islink(full):
            hops += 1
            if hops > 40:
                raise Fail("symlink loop at %s" % nxt)
            t = os.readlink(full)
            base = "" if t.startswith("/") else cur
            parts = [x for x in (base + "/" + t).strip("/").split("/") if x] + parts
            cur = ""
            continue
        if p == "..":
            cur = os.path.dirname(cur)
            continue
        if p == ".":
            continue
        cur = nxt
    full = os.path.join(root, cur)
    return full if os.path.exists(full) else None


def find_lib(root, soname):
    for d in SEARCH:
        f = in_root(root, d + "/" + soname)
        if f and os.path.isfile(f):
            return f
    return None


def add_elf_closure(cpio, root, bins):
    done = {}
    missing = []
    todo = list(bins)
    while todo:
        f = todo.pop()
        interp = interpreter(f)
        if interp and interp not in done:
            src = in_root(root, interp)
            if not src:
                raise Fail("program interpreter %s of %s not in the packages" % (interp, f))
            done[interp] = src
            cpio.file(interp, open(src, "rb").read(), 0o755)
        for so in needed(f):
            if so in done:
                continue
            src = find_lib(root, so)
            if not src:
                missing.append("%s (needed by %s)" % (so, os.path.basename(f)))
                done[so] = None
                continue
            done[so] = src
            cpio.file(LIBDIR + "/" + so, open(src, "rb").read(), 0o755)
            todo.append(src)
    if missing:
        raise Fail("unresolved libraries: " + ", ".join(sorted(missing)))
    return sorted(k for k, v in done.items() if v)


def read_module(path):
    data = open(path, "rb").read()
    if path.endswith(".xz"):
        return lzma.decompress(data)
    if path.endswith(".gz"):
        return gzip.decompress(data)
    if path.endswith(".zst"):
        p = subprocess.run(["zstd", "-dc", path], capture_output=True)
        if p.returncode != 0:
            raise Fail("zstd -dc %s failed (apt-get install zstd)" % path)
        return p.stdout
    return data


def modinfo(ko):
    """The .modinfo section's key=value strings of an ELF64 module."""
    if ko[:4] != b"\x7fELF" or ko[4] != 2 or ko[5] != 1:
        raise Fail("not a little-endian ELF64 module")
    shoff, = struct.unpack_from("<Q", ko, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", ko, 0x3A)

    def sh(i):
        return struct.unpack_from("<IIQQQQIIQQ", ko, shoff + i * shentsize)
    stro = sh(shstrndx)[4]
    for i in range(shnum):
        h = sh(i)
        name = ko[stro + h[0]: ko.index(b"\0", stro + h[0])].decode()
        if name == ".modinfo":
            raw = ko[h[4]: h[4] + h[5]]
            out = {}
            for kv in raw.split(b"\0"):
                if b"=" in kv:
                    k, v = kv.decode(errors="replace").split("=", 1)
                    out.setdefault(k, []).append(v)
            return out
    return {}


def norm(name):
    return name.replace("-", "_")


def add_modules(cpio, moddir, release, wanted):
    index = {}
    for dirpath, _, files in os.walk(os.path.join(moddir, "kernel")):
        for fn in files:
            m = re.match(r"(.+)\.ko(\.xz|\.gz|\.zst)?$", fn)
            if m:
                index[norm(m.group(1))] = os.path.join(dirpath, fn)
    builtin = set()
    bpath = os.path.join(moddir, "modules.builtin")
    have_builtin = os.path.exists(bpath)
    if have_builtin:
        for ln in open(bpath):
            builtin.add(norm(os.path.basename(ln.strip())[:-3]))
    else:
        print("mkinitramfs: no modules.builtin in %s: a module not found there is taken "
              "to be built in" % moddir, file=sys.stderr)
    dest = "lib/modules/%s" % release
    loaded = []
    seen = set()
    todo = [norm(m) for m in wanted]
    while todo:
        m = todo.pop(0)
        if m in seen:
            continue
        seen.add(m)
        if m in builtin:
            continue
        if m not in index:
            if not have_builtin:
                builtin.add(m)
                continue
            raise Fail("module %s is neither in %s/kernel nor built in" % (m, moddir))
        ko = read_module(index[m])
        info = modinfo(ko)
        for dep in ",".join(info.get("depends", [])).split(","):
            if dep:
                todo.append(norm(dep))
        for sd in info.get("softdep", []):
            for word in sd.split():
                if not word.endswith(":") and norm(word) in index:
                    todo.append(norm(word))
        rel = os.path.relpath(index[m], moddir)
        rel = re.sub(r"\.(xz|gz|zst)$", "", rel)
        cpio.file(dest + "/" + rel, ko)
        loaded.append(m)
    for extra in ("modules.builtin", "modules.builtin.modinfo", "modules.order"):
        p = os.path.join(moddir, extra)
        if os.path.exists(p):
            cpio.file(dest + "/" + extra, open(p, "rb").read())
    return sorted(loaded), sorted(seen & builtin)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--moddir", required=True)
    ap.add_argument("--release", required=True)
    ap.add_argument("--init", required=True)
    ap.add_argument("--bin", action="append", default=[])
    ap.add_argument("--extra", action="append", default=[])
    ap.add_argument("--modules", nargs="+", required=True)
    ap.add_argument("--output", required=True)
    a = ap.parse_args()

    c = Cpio()
    for d in ("dev", "proc", "sys", "tmp", "run", "mnt", "root", "etc", "usr/bin", "usr/sbin",
              "usr/lib64", LIBDIR):
        c.dir(d)
    # Merged /usr, as in trixie.
    for top in ("bin", "sbin", "lib", "lib64"):
        c.symlink(top, "usr/" + top)
    c.node("dev/console", stat.S_IFCHR | 0o600, 5, 1)
    c.node("dev/null", stat.S_IFCHR | 0o666, 1, 3)
    c.file("init", open(a.init, "rb").read(), 0o755)
    c.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
    c.file("etc/group", b"root:x:0:\n")

    elves = []
    busybox = None
    for spec in a.bin:
        src, _, dst = spec.partition(":")
        dst = dst or src
        full = in_root(a.root, src)
        if not full:
            raise Fail("%s not in the extracted packages" % src)
        c.file(dst, open(full, "rb").read(), 0o755)
        elves.append(full)
        if os.path.basename(src) == "busybox":
            busybox = full
    for spec in a.extra:
        src, _, dst = spec.partition(":")
        c.file(dst, open(src, "rb").read(), 0o755)
    libs = add_elf_closure(c, a.root, elves)

    if busybox:
        # busybox-static is a static binary: it runs on the host to list its applets.
        p = subprocess.run([busybox, "--list-full"], capture_output=True, text=True)
        if p.returncode != 0:
            raise Fail("busybox --list-full failed")
        for ln in p.stdout.split():
            path = canon(ln)
            if path not in c.entries:
                c.symlink(path, "/usr/bin/busybox")
    if any(os.path.basename(e) == "kmod" for e in elves):
        for t in ("depmod", "modprobe", "insmod", "rmmod", "lsmod", "modinfo"):
            c.symlink("usr/sbin/" + t, "/usr/bin/kmod")

    mods, builtin = add_modules(c, a.moddir, a.release, a.modules)
    data = c.write()
    with open(a.output, "wb") as f:
        with gzip.GzipFile(fileobj=f, mode="wb", mtime=0, compresslevel=6) as g:
            g.write(data)
    print("initramfs: %d entries, %d KiB uncompressed; libraries: %s; modules: %s; built in: %s"
          % (len(c.entries), len(data) // 1024, " ".join(libs), " ".join(mods),
             " ".join(builtin) or "-"))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (Fail, OSError) as e:
        print("mkinitramfs: %s" % e, file=sys.stderr)
        sys.exit(1)
