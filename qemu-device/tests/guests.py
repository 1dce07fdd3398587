#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""cxl-mhsld with real Linux guests: two heads on one state, each booting
the guest of qemu-device/guest/build-guest.sh.

usage: guests.py --qemu PATH --image DIR [--accel kvm|tcg] [--boot-timeout S]

Checks, one line each, then "N passed, N failed" (exit status 1 on any
failure):

  boot        both guests reach their command loop (boot times printed)
  probe       each guest's cxl_pci/cxl_mem bound the head's memdev, and its
              dmesg has no mailbox or probe error
  cxl-list    `cxl list -M` shows the memdev with the device's serial and
              the static capacity QEMU was given (read back over QMP)
  data-path   each guest creates a RAM region on its static capacity,
              writes a pattern through /dev/daxX.Y and the host finds it at
              that offset of the head's backing file; the host writes bytes
              into the file and the guest reads them through the same path
  fm-refusal  with both guests running, capacity the FM added to head 0 is
              refused to head 1 with an error naming head 0; head 1 gets
              capacity nobody holds
  shutdown    both guests still answer, both QEMUs quit cleanly (exit 0,
              no error, assertion or fault on their stderr)
"""

import argparse
import json
import os
import re
import shlex
import shutil
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from guest_harness import Guest, GuestImage, cxl_kernel_summary, probe_accel  # noqa: E402
from qemu_harness import MiB, HarnessError, machine_args, rfc_device  # noqa: E402

DC_SIZE = 256 * MiB
STATIC_SIZE = 256 * MiB  # one CXL capacity unit; the guest's RAM region
SERIAL = 66667  # rfc_device's sn
# Kernel lines that mean the driver and the head disagree: a mailbox
# command that failed or timed out, a CXL driver's probe that failed
# (dynamic debug prints "probe: <rc>"), cxl_pci/cxl_mem reporting a failure,
# or a kernel warning.  (cxl_port's "Failed to retrieve ep perf coordinates"
# is QEMU's topology lacking latency data, not the device.)
# The kernel's own BUG:/WARNING: lines are upper case; matched case-blind
# they would catch boot chatter a slow TCG boot prints ("..MP-BIOS bug: 8254
# timer not connected to IO-APIC"), which says nothing about the device.
BAD_DMESG = re.compile(
    r"(?i:(mailbox|mbox).*(error|fail|timeout|busy)"
    r"|cxl\w* \S+: probe: -\d+"
    r"|cxl_(pci|mem) \S+: .*(fail|error|timed out|invalid))"
    r"|Oops|BUG:|WARNING:|Call Trace")
# Lines BAD_DMESG must catch (checked first, so the check can fail).
BAD_SAMPLES = (
    "[    3.2] cxl_pci 0000:0d:00.0: Mailbox operation had an error: Invalid Input",
    "[    3.2] cxl_pci 0000:0d:00.0: Mailbox command (opcode: 4) timed out",
    "[    3.2] cxl_mem mem0: probe: -6",
    "[    3.2] cxl_pci 0000:0d:00.0: Failed to get supported log",
    "[    3.2] BUG: kernel NULL pointer dereference, address: 0000000000000008",
    "[    3.2] WARNING: CPU: 0 PID: 1 at drivers/cxl/core/mbox.c:1 cxl_probe+0x1/0x2",
)
GOOD_SAMPLES = (
    "[    3.2] cxl_pci 0000:0d:00.0: Mailbox payload sized 2048",
    "[    3.2] cxl_mem mem0: probe: 0",
    "[    3.2] cxl_port endpoint2: Failed to retrieve ep perf coordinates.",
    "[    3.2] cxl_pci 0000:0d:00.0: Opcode 0x5500 unsupported by driver",
    "[    0.024000] ..MP-BIOS bug: 8254 timer not connected to IO-APIC",
)


class Check(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Check(msg)


def json_out(text):
    """The JSON value in a command's output (cxl/daxctl may add a line)."""
    start = min([i for i in (text.find("["), text.find("{")) if i >= 0] or [-1])
    check(start >= 0, "no JSON in %r" % text[:200])
    return json.JSONDecoder().raw_decode(text[start:])[0]


def guest_args(work, state, head, init):
    dev = rfc_device(head, state, init, extra=",volatile-memdev=vmem0")
    return machine_args(os.path.join(work, "dc-mem"), DC_SIZE, dev, static_size=STATIC_SIZE,
                        static_path=os.path.join(work, "head%d.static" % head))


def boot_pair(args, image, accel, work, state):
    guests = []
    for head in (0, 1):
        # Head 0 creates the state (mhd-init=true); QEMU has realized the
        # device once QMP answers, so head 1 joins an existing state.
        guests.append(Guest(args.qemu, image, guest_args(work, state, head, head == 0),
                            work, "head%d" % head, accel=accel))
    times = [g.boot(args.boot_timeout) for g in guests]
    return guests, times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qemu", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--accel", choices=("kvm", "tcg"))
    ap.add_argument("--boot-timeout", type=float, default=240)
    args = ap.parse_args()

    for ln in BAD_SAMPLES:
        assert BAD_DMESG.search(ln), "BAD_DMESG misses %r" % ln
    for ln in GOOD_SAMPLES:
        assert not BAD_DMESG.search(ln), "BAD_DMESG flags %r" % ln
    image = GuestImage(args.image)
    work = tempfile.mkdtemp(prefix="mhsld-guests.")
    state = "mhsld-guests-%d" % os.getpid()
    results = []
    guests = []
    t_start = time.monotonic()

    def step(name, fn):
        t0 = time.monotonic()
        try:
            detail = fn() or ""
            results.append(True)
            print("ok    %-10s (%.1f s) %s" % (name, time.monotonic() - t0, detail), flush=True)
            return True
        except (Check, HarnessError, OSError, ValueError, KeyError) as e:
            results.append(False)
            print("FAIL  %-10s (%.1f s) %s" % (name, time.monotonic() - t0, e), flush=True)
            if not isinstance(e, (Check, HarnessError)):
                traceback.print_exc()
            return False

    print("guest: %s (%s)" % (image.release, image.dir))
    for v in image.versions:
        print("  package %s" % v)
    if args.accel:
        accel, why = args.accel, "forced by --accel"
    else:
        accel, why = probe_accel(args.qemu, image, work)
    print("accel: %s (%s)" % (accel, why), flush=True)

    try:
        def boot():
            gs, times = boot_pair(args, image, accel, work, state)
            guests.extend(gs)
            print("  head 0: %s" % " ".join(shlex.quote(a) for a in gs[0].cmdline))
            return "head 0 in %.1f s, head 1 in %.1f s (booted side by side, %s)" % (
                times[0], times[1], accel)
        if not step("boot", boot):
            return finish(results, guests, work, state, t_start)

        def probe():
            for g in guests:
                _, mems = g.run("ls /sys/bus/cxl/drivers/cxl_mem/ | grep '^mem'", check=False)
                check("mem0" in mems.split(), "%s: cxl_mem did not bind mem0 (%r)" % (g.name, mems))
                dmesg = g.run("dmesg")[1]
                bad = [ln for ln in dmesg.splitlines() if BAD_DMESG.search(ln)]
                check(not bad, "%s: dmesg reports errors:\n%s" % (g.name, "\n".join(bad)))
                # The driver read this device's Command Effects Log, which
                # lists the multi-headed opcodes.
                for op in ("5500", "5501"):
                    check("Opcode 0x%s" % op in dmesg, "%s: the CEL walk in dmesg has no %sh"
                          % (g.name, op))
                print("  %s kernel:" % g.name)
                for ln in cxl_kernel_summary(dmesg):
                    print("    " + ln)
            return "cxl_mem bound mem0 on both; CEL read; no mailbox or probe error in dmesg"

        def cxl_list():
            size = guests[0].qmp_cmd("qom-get", path="/objects/vmem0", property="size")
            check(size == STATIC_SIZE, "QMP reports vmem0 size %r" % size)
            for g in guests:
                mems = json_out(g.run("cxl list -M")[1])
                check(len(mems) == 1, "%s: %d memdevs listed" % (g.name, len(mems)))
                m = mems[0]
                check(m.get("memdev") == "mem0", "%s: %r" % (g.name, m))
                check(m.get("serial") == SERIAL, "%s: serial %r, expected %d" %
                      (g.name, m.get("serial"), SERIAL))
                check(m.get("ram_size") == size, "%s: ram_size %r, QEMU has %d" %
                      (g.name, m.get("ram_size"), size))
            return "mem0 serial %d ram_size %d MiB on both heads" % (SERIAL, size // MiB)

        def data_path():
            out = []
            for head, g in enumerate(guests):
                dec = json_out(g.run("cxl list -D -d root")[1])
                root = dec[0]["decoder"]
                reg = json_out(g.run("cxl create-region -t ram -d %s -m mem0" % root)[1])
                check(reg.get("decode_state") == "commit", "%s: region %r" % (g.name, reg))
                dax = json_out(g.run("daxctl list")[1])
                check(len(dax) == 1, "%s: daxctl list %r" % (g.name, dax))
                dev = dax[0]["chardev"]
                if dax[0].get("mode") != "devdax" or dax[0].get("state") == "disabled":
                    g.run("daxctl reconfigure-device -m devdax %s" % dev)
                off = 0x100000 + head * 0x201040  # not block-aligned, other per head
                pattern = bytes(((0xA5 ^ (i * 7 + head)) & 0xFF) for i in range(64))
                g.run("daxpoke /dev/%s write 0x%x %s" % (dev, off, pattern.hex()))
                path = os.path.join(work, "head%d.static" % head)
                with open(path, "rb") as f:
                    f.seek(off)
                    got = f.read(len(pattern))
                check(got == pattern, "%s: backing file at 0x%x holds %s, guest wrote %s" %
                      (g.name, off, got.hex(), pattern.hex()))
                # And back: the host writes, the guest reads.
                back = os.urandom(32)
                boff = STATIC_SIZE - 0x3000 - head * 0x40
                with open(path, "r+b") as f:
                    f.seek(boff)
                    f.write(back)
                _, seen = g.run("daxpoke /dev/%s read 0x%x %d" % (dev, boff, len(back)))
                check(seen.strip() == back.hex(), "%s: guest reads %s at 0x%x, host wrote %s" %
                      (g.name, seen.strip(), boff, back.hex()))
                out.append("head %d: %s %s, 64 B at 0x%x in the file, 32 B back at 0x%x" %
                           (head, reg.get("region"), dev, off, boff))
            return "; ".join(out)

        def fm_refusal():
            g0, g1 = guests
            r = g0.dc_add([(0, 8 * MiB)])
            check("error" not in r, "add to head 0 refused: %r" % r.get("error"))
            r = g1.dc_add([(4 * MiB, 8 * MiB)])
            check("error" in r, "head 1 got capacity head 0 holds")
            desc = r["error"]["desc"]
            # "... DPA 0x... is owned by head 0" / "... offered to (pending for) head 0"
            check(re.search(r"(owned by|pending for\)) head 0$", desc),
                  "refusal does not name head 0 as the holder: %r" % desc)
            r2 = g1.dc_add([(16 * MiB, 4 * MiB)])
            check("error" not in r2, "free capacity refused to head 1: %r" % r2.get("error"))
            for g in guests:
                g.run("true")
            return "head 1 refused: %s" % desc

        def shutdown():
            for g in guests:
                check(g.alive(), "%s died" % g.name)
            rcs = [g.quit() for g in guests]
            errs = ["%s: %s" % (g.name, ln) for g in guests for ln in g.stderr().splitlines()
                    if re.search(r"(?i)error|assert|abort|fault", ln)]
            guests.clear()
            check(rcs == [0, 0], "QEMU exit codes %r" % rcs)
            check(not errs, "QEMU reported:\n" + "\n".join(errs))
            return "both QEMUs exited 0, nothing on their stderr about errors"

        for name, fn in (("probe", probe), ("cxl-list", cxl_list), ("data-path", data_path),
                         ("fm-refusal", fm_refusal), ("shutdown", shutdown)):
            step(name, fn)
    finally:
        pass
    return finish(results, guests, work, state, t_start)


def finish(results, guests, work, state, t_start):
    failed = results.count(False)
    for g in guests:
        if failed:
            print("--- %s console (last lines):\n%s\n--- stderr:\n%s" %
                  (g.name, g.console(25), g.stderr()[-2000:]))
        g.kill()
    try:
        os.unlink("/dev/shm/" + state)
    except FileNotFoundError:
        pass
    shutil.rmtree(work, ignore_errors=True)
    print("guests: %.0f s" % (time.monotonic() - t_start))
    print("%d passed, %d failed" % (results.count(True), failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
