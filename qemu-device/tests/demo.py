#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""The cxl-mhsld demo: two headless QEMU heads share one device state;
then (with --guest-image) the same story with two Linux guests, told with
what their kernels and `cxl` print.

With --mhsldctl, a second headless story: the fabric manager is mhsldctl
acting through the shared state (fm-offer, fm-release, fm-force-release,
fm-reclaim) on two running heads, with no QMP at all.

usage: demo.py --qemu PATH [--mhsldctl PATH] [--short] [--guest-image DIR]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qemu_harness import (MiB, Host, Qemu, RC_SUCCESS, machine_args,  # noqa: E402
                          rfc_device)

DC_SIZE = 256 * MiB


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qemu", required=True)
    ap.add_argument("--mhsldctl")
    ap.add_argument("--short", action="store_true", help="no state maps (CI)")
    ap.add_argument("--guest-image", help="build-guest.sh's directory: add the Linux guests")
    args = ap.parse_args()
    ok = qtest_story(args)
    if args.mhsldctl:
        ok &= fm_story(args)
    if args.guest_image:
        ok &= guest_story(args)
    return 0 if ok else 1


def print_map(args, state, title, say):
    if args.short or not args.mhsldctl:
        return
    p = subprocess.run([args.mhsldctl, "map", state, "--color", "never"],
                       capture_output=True, text=True)
    lines = (p.stdout or p.stderr).rstrip().splitlines()
    say("state (%s):" % title)
    for ln in lines[:6]:
        say("  " + ln)


def qtest_story(args):
    work = tempfile.mkdtemp(prefix="mhsld-demo.")
    state = "mhsld-demo-%d" % os.getpid()
    dc_mem = os.path.join(work, "dc-mem")
    heads = []
    ok = True

    def say(msg):
        print(msg, flush=True)

    def start(head, init):
        q = Qemu(args.qemu, machine_args(dc_mem, DC_SIZE, rfc_device(head, state, init)),
                 work, "head%d" % head)
        q.host = Host(q)
        heads.append(q)
        say("head %d up (pid %d): -device %s" % (head, q.proc.pid,
                                                  rfc_device(head, "…", init)))
        return q

    def fm_add(q, head, off, size):
        r = q.dc_add([(off, size)])
        what = "FM  -> head %d: add [%3d MiB, +%d MiB)" % (head, off // MiB, size // MiB)
        if "error" in r:
            say("%s  REFUSED: %s" % (what, r["error"]["desc"]))
            return False
        say("%s  ok: reserved in the shared state, offered to host %d" % (what, head))
        return True

    def show_map(title):
        print_map(args, state, title, say)

    try:
        say("== cxl-mhsld: two QEMU heads, one MH-SLD state (shm '%s') ==" % state)
        h0 = start(0, True)
        h1 = start(1, False)
        ok &= fm_add(h0, 0, 0, 8 * MiB)
        ok &= not fm_add(h1, 1, 4 * MiB, 8 * MiB)
        rc, offered = h0.host.accept_offer()
        say("host 0: DC event log offers %s; Add DC Response (4802h) -> %s" % (
            ", ".join("[0x%x, +%d MiB)" % (d, n // MiB) for d, n in offered),
            "Success" if rc == RC_SUCCESS else "rc 0x%x" % rc))
        ok &= rc == RC_SUCCESS
        rc, info = h0.host.mhd_info()
        ok &= rc == RC_SUCCESS
        if info:
            say("host 0: Get MHD Info (5500h): %d heads, %d LDs, LD map %s" % (
                info["heads"], info["lds"], " ".join(map(str, info["map"]))))
        ok &= fm_add(h1, 1, 16 * MiB, 4 * MiB)
        ok &= h1.host.accept_offer()[0] == RC_SUCCESS
        show_map("head 0 owns 0-8 MiB, head 1 owns 16-20 MiB")
        h0.kill()
        heads.remove(h0)
        say("kill -9 head 0: head 1 keeps running; head 0's capacity stays held")
        ok &= not fm_add(h1, 1, 0, 2 * MiB)
        h0 = start(0, True)
        say("head 0 restarted (same command line, mhd-init=true): its previous "
            "incarnation recovered, nothing else wiped")
        ok &= fm_add(h1, 1, 0, 8 * MiB)
        ok &= h1.host.accept_offer()[0] == RC_SUCCESS
        say("host 1: accepted; extents %s" % ", ".join(
            "[0x%x, +%d MiB)" % (d, n // MiB) for d, n in sorted(h1.host.extent_list())))
        show_map("after recovery")
    except Exception as e:  # report, then clean up
        say("demo failed: %s" % e)
        ok = False
    finally:
        end_story(heads, state, work)
    say("== demo %s; heads stopped, state removed ==" % ("done" if ok else "FAILED"))
    return ok


def end_story(heads, state, work):
    """Stop a story's heads (or guests), remove its state and its work directory."""
    for q in heads:
        q.quit()
    try:
        os.unlink("/dev/shm/" + state)
    except FileNotFoundError:
        pass
    shutil.rmtree(work, ignore_errors=True)


def fm_story(args):
    """The fabric manager through the shared state: mhsldctl fm-* on two
    running heads, no QMP; each head's host answers through its mailbox."""
    from qemu_harness import DC_EVENT_ADD_CAPACITY, DC_EVENT_RELEASE_CAPACITY, cfmw_base

    work = tempfile.mkdtemp(prefix="mhsld-demo-fm.")
    state = "mhsld-demo-fm-%d" % os.getpid()
    dc_mem = os.path.join(work, "dc-mem")
    heads = {}
    ok = True
    names = {DC_EVENT_ADD_CAPACITY: "Add Capacity",
             DC_EVENT_RELEASE_CAPACITY: "Release Capacity", 2: "Forced Capacity Release"}

    def say(msg):
        print(msg, flush=True)

    def start(head, init):
        q = Qemu(args.qemu, machine_args(dc_mem, DC_SIZE, rfc_device(head, state, init)),
                 work, "head%d" % head)
        q.host = Host(q)
        heads[head] = q
        say("head %d up (pid %d)" % (head, q.proc.pid))
        return q

    def fm(verb, head, *rest):
        cmd = [args.mhsldctl, verb, state, "--head", str(head)] + list(rest)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        shown = " ".join(["mhsldctl", verb, "STATE", "--head", str(head)] + list(rest))
        out = (p.stdout + p.stderr).strip().splitlines()
        say("FM $ %s\n     exit %d: %s" % (shown, p.returncode, out[-1] if out else ""))
        return p.returncode

    def mib(extents):
        return ", ".join("[%d MiB, +%d MiB)" % (d // MiB, n // MiB) for d, n in extents)

    def events(q, head, deadline=20):
        end = time.monotonic() + deadline
        evs = []
        while not evs and time.monotonic() < end:
            evs = q.host.dc_events()
        say("host %d: DC event log: %s" % (head, ", ".join(
            "%s %s" % (names.get(t, t), mib([(d, n)])) for t, d, n in evs) or "empty"))
        return [t for t, d, n in evs]

    def ext(off, size):
        return "%dM+%dM" % (off // MiB, size // MiB)

    say("")
    say("== the fabric manager through the shared state: mhsldctl fm-*, no QMP "
        "(shm '%s') ==" % state)
    try:
        h0 = start(0, True)
        h1 = start(1, False)
        ok &= fm("fm-offer", 0, ext(0, 8 * MiB)) == 0
        ok &= events(h0, 0) == [DC_EVENT_ADD_CAPACITY]
        rc = h0.host.add_response([(0, 8 * MiB)])
        say("host 0: Add DC Response (4802h) -> %s" % (
            "Success" if rc == RC_SUCCESS else "rc 0x%x" % rc))
        ok &= rc == RC_SUCCESS
        ok &= fm("fm-offer", 1, ext(4 * MiB, 8 * MiB)) == 3
        ok &= fm("fm-offer", 1, ext(16 * MiB, 4 * MiB)) == 0
        ok &= events(h1, 1) == [DC_EVENT_ADD_CAPACITY]
        ok &= h1.host.add_response([(16 * MiB, 4 * MiB)]) == RC_SUCCESS
        say("host 1: Add DC Response (4802h) -> Success")
        print_map(args, state, "head 0 owns 0-8 MiB, head 1 owns 16-20 MiB", say)
        ok &= fm("fm-release", 0, ext(6 * MiB, 2 * MiB)) == 0
        ok &= events(h0, 0) == [DC_EVENT_RELEASE_CAPACITY]
        rc = h0.host.release([(6 * MiB, 2 * MiB)])
        say("host 0: Release DC (4803h) -> %s" % (
            "Success" if rc == RC_SUCCESS else "rc 0x%x" % rc))
        ok &= rc == RC_SUCCESS
        hpa = cfmw_base(h0)
        h0.host.commit_hdm(hpa, DC_SIZE)
        h0.writeq(hpa + 2 * MiB, 0x1234)
        ok &= fm("fm-force-release", 0, ext(0, 4 * MiB)) == 0
        h0.writeq(hpa + 2 * MiB, 0x5678)
        got = h0.readq(hpa + 2 * MiB)
        say("host 0: writes 0x5678 at 2 MiB right after, reads back 0x%x: its access "
            "failed" % got)
        ok &= got != 0x5678
        ok &= events(h0, 0) == [2]
        say("host 0: Get DC Extent List (4801h): %s" % mib(h0.host.extent_list()))
        ok &= fm("fm-offer", 1, ext(0, 4 * MiB)) == 0
        ok &= h1.host.accept_offer()[0] == RC_SUCCESS
        say("host 1: accepted what head 0 lost")
        heads.pop(1).kill()
        say("kill -9 head 1: head 0 keeps running; head 1's capacity stays held")
        ok &= fm("fm-offer", 1, ext(32 * MiB, 2 * MiB), "--timeout", "30000") == 3
        ok &= fm("fm-reclaim", 1) == 0
        ok &= fm("fm-offer", 0, ext(0, 4 * MiB), ext(16 * MiB, 4 * MiB)) == 0
        ok &= h0.host.accept_offer()[0] == RC_SUCCESS
        say("host 0: accepted head 1's reclaimed capacity; extents %s" %
            mib(sorted(h0.host.extent_list())))
        print_map(args, state, "after the FM's reclaim", say)
    except Exception as e:  # report, then clean up
        say("FM demo failed: %s" % e)
        ok = False
    finally:
        end_story(heads.values(), state, work)
    say("== FM demo %s; heads stopped, state removed ==" % ("done" if ok else "FAILED"))
    return ok


def guest_story(args):
    """Two heads each booting a Linux guest: what the guests' kernels see,
    the FM's adds and refusals, a guest's bytes in the host's file, a head
    killed and restarted."""
    from guest_harness import Guest, GuestImage, cxl_kernel_summary, probe_accel
    from qemu_harness import HarnessError

    image = GuestImage(args.guest_image)
    work = tempfile.mkdtemp(prefix="mhsld-demo-guests.")
    state = "mhsld-demo-guests-%d" % os.getpid()
    dc_mem = os.path.join(work, "dc-mem")
    static = 256 * MiB
    guests = {}
    ok = True
    t_start = time.monotonic()

    def say(msg):
        print(msg, flush=True)

    def start(head, init, accel):
        dev = rfc_device(head, state, init, extra=",volatile-memdev=vmem0")
        g = Guest(args.qemu, image,
                  machine_args(dc_mem, DC_SIZE, dev, static_size=static,
                               static_path=os.path.join(work, "head%d.static" % head)),
                  work, "head%d" % head, accel=accel)
        guests[head] = g
        return g

    def fm_add(head, off, size):
        r = guests[head].dc_add([(off, size)])
        what = "FM  -> head %d: add [%3d MiB, +%d MiB)" % (head, off // MiB, size // MiB)
        if "error" in r:
            say("%s  REFUSED: %s" % (what, r["error"]["desc"]))
            return False
        say("%s  ok: reserved for head %d, offered to guest %d" % (what, head, head))
        return True

    def guest_view(head):
        g = guests[head]
        for ln in cxl_kernel_summary(g.run("dmesg")[1]):
            if "cxl_acpi" not in ln:
                say("guest %d kernel: %s" % (head, ln))
        mem = json.loads(g.run("cxl list -M")[1])[0]
        say("guest %d $ cxl list -M: %s serial %d, ram_size %d MiB" % (
            head, mem["memdev"], mem["serial"], mem["ram_size"] // MiB))

    say("")
    say("== two Linux guests, one MH-SLD state (shm '%s') ==" % state)
    say("guest: Linux %s, busybox, ndctl's cxl/daxctl (%s)" % (
        image.release, ", ".join(v for v in image.versions if v.startswith(("cxl ", "linux-image-cloud")))))
    try:
        accel, why = probe_accel(args.qemu, image, work)
        say("accel: %s (%s)" % (accel, why))
        start(0, True, accel)
        start(1, False, accel)
        for head in (0, 1):
            say("head %d: guest booted to its shell in %.1f s (%s)" % (
                head, guests[head].boot(240), accel))
        guest_view(0)
        guest_view(1)
        ok &= fm_add(0, 0, 8 * MiB)
        ok &= not fm_add(1, 4 * MiB, 8 * MiB)
        ok &= fm_add(1, 16 * MiB, 4 * MiB)
        say("guest kernels: Linux %s has no Dynamic Capacity support (4800h-4803h "
            "unsupported above), so the offers stay pending, and held, for their heads"
            % image.release.split("+")[0])
        print_map(args, state, "head 0 holds 0-8 MiB, head 1 holds 16-20 MiB", say)
        for head in (0, 1):
            g = guests[head]
            g.run("cxl create-region -t ram -d decoder0.0 -m mem0 >/dev/null")
            dev = json.loads(g.run("daxctl list")[1])[0]
            if dev.get("mode") != "devdax" or dev.get("state") == "disabled":
                g.run("daxctl reconfigure-device -m devdax %s >/dev/null" % dev["chardev"])
            msg = ("hello from guest %d" % head).encode()
            g.run("daxpoke /dev/%s write 0x100000 %s >/dev/null" % (dev["chardev"], msg.hex()))
            with open(os.path.join(work, "head%d.static" % head), "rb") as f:
                f.seek(0x100000)
                got = f.read(len(msg))
            ok &= got == msg
            say("guest %d $ cxl create-region -t ram; daxpoke /dev/%s write 0x100000 "
                "'%s'  -> host reads head%d.static @0x100000: %r" % (
                    head, dev["chardev"], msg.decode(), head, got.decode(errors="replace")))
        guests.pop(0).kill()
        say("kill -9 head 0 (its guest with it): head 1's guest keeps running")
        ok &= not fm_add(1, 0, 2 * MiB)
        start(0, True, accel)
        t = guests[0].boot(240)
        say("head 0 restarted (same command line): its previous incarnation recovered, "
            "guest booted in %.1f s" % t)
        ok &= fm_add(1, 0, 8 * MiB)
        guests[1].run("true")
    except (HarnessError, OSError, ValueError, KeyError, IndexError) as e:
        say("guest demo failed: %s" % e)
        for g in guests.values():
            say("--- %s console:\n%s" % (g.name, g.console(15)))
        ok = False
    finally:
        end_story(guests.values(), state, work)
    say("== guest demo %s in %.0f s; guests stopped, state removed ==" % (
        "done" if ok else "FAILED", time.monotonic() - t_start))
    return ok


if __name__ == "__main__":
    sys.exit(main())
