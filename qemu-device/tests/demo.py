#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""The cxl-mhsld demo: two headless QEMU heads share one device state.

usage: demo.py --qemu PATH [--mhsldctl PATH] [--short]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qemu_harness import (MiB, Host, Qemu, RC_SUCCESS, machine_args,  # noqa: E402
                          rfc_device)

DC_SIZE = 256 * MiB


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qemu", required=True)
    ap.add_argument("--mhsldctl")
    ap.add_argument("--short", action="store_true", help="no state maps (CI)")
    args = ap.parse_args()

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
        if args.short or not args.mhsldctl:
            return
        p = subprocess.run([args.mhsldctl, "map", state, "--color", "never"],
                           capture_output=True, text=True)
        lines = (p.stdout or p.stderr).rstrip().splitlines()
        say("state (%s):" % title)
        for ln in lines[:6]:
            say("  " + ln)

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
        for q in heads:
            q.quit()
        try:
            os.unlink("/dev/shm/" + state)
        except FileNotFoundError:
            pass
        shutil.rmtree(work, ignore_errors=True)
    say("== demo %s; heads stopped, state removed ==" % ("done" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
