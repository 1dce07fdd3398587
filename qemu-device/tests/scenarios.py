#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""cxl-mhsld scenarios with real QEMU processes (-accel qtest, no guest).

usage: scenarios.py --qemu PATH [--cxl-test PATH] [--list] [NAME...]

Prints one line per scenario and a final "N passed, N failed" line; exits
non-zero if any scenario failed.
"""

import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qemu_harness import (BLOCK, MiB, Host, Qemu,  # noqa: E402
                          RC_INVALID_INPUT, RC_INVALID_PA, RC_INVALID_PAYLOAD_LENGTH,
                          RC_SUCCESS, OP_ADD_DC_RESPONSE, OP_GET_DC_EXTENT_LIST, OP_GET_HEAD_INFO,
                          cfmw_base, machine_args, rfc_device, run_expect_failure)

DC_SIZE = 256 * MiB
SCENARIOS = []


def scenario(fn):
    SCENARIOS.append(fn)
    return fn


class Check(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Check(msg)


def qmp_ok(resp, what):
    check("error" not in resp, "%s: unexpected QMP error: %s" %
          (what, resp.get("error", {}).get("desc")))


def qmp_refused(resp, what, *needles):
    check("error" in resp, "%s: QMP accepted, expected a refusal" % what)
    desc = resp["error"]["desc"]
    for n in needles:
        check(n in desc, "%s: error %r does not mention %r" % (what, desc, n))
    return desc


def state_tool(args):
    """tests/state_tool.c built against the engine, once per run."""
    exe = os.path.join(args.workdir, "state_tool")
    if not os.path.exists(exe):
        here = os.path.dirname(os.path.abspath(__file__))
        engine = os.path.join(here, "..", "..", "engine")
        srcs = sorted(os.path.join(engine, "src", f)
                      for f in os.listdir(os.path.join(engine, "src")) if f.endswith(".c"))
        # Under ASan+UBSan: states written by QEMU are read back by a checked build.
        p = subprocess.run(["gcc", "-std=c11", "-O1", "-g", "-fsanitize=address,undefined",
                            "-fno-sanitize-recover=all", "-fno-omit-frame-pointer",
                            "-D_GNU_SOURCE", "-DMHSLD_ATOMICS_CK=1", "-mcx16", "-I", os.path.join(engine, "include"),
                            "-I", os.path.join(engine, "src"), *srcs,
                            os.path.join(here, "state_tool.c"), "-o", exe, "-lrt"],
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise Check("building state_tool failed:\n" + p.stderr[-2000:])
    return exe


class Ctx:
    """One scenario's world: a state name, a DC memory file, its heads."""

    def __init__(self, args, name):
        self.args = args
        self.validate = True  # the state must pass mhsld_validate() at the end
        self.qemu = args.qemu
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="mhsld-qt-%s." % name, dir=args.workdir)
        self.state = "mhsld-qt-%d-%s" % (os.getpid(), name.replace("_", "-"))
        self.dc_mem = os.path.join(self.dir, "dc-mem")
        self.heads = []

    def start(self, head, init, dc_size=DC_SIZE, extra="", device=None, dc_mem=None,
              static_size=0):
        dev = device or rfc_device(head, self.state, init, extra)
        q = Qemu(self.qemu, machine_args(dc_mem or self.dc_mem, dc_size, dev, static_size),
                 self.dir, "head%d" % head)
        self.heads.append(q)
        q.host = Host(q)
        return q

    def expect_failure(self, head, init, dc_size=DC_SIZE, extra="", state=None):
        dev = rfc_device(head, state or self.state, init, extra)
        return run_expect_failure(self.qemu, machine_args(
            os.path.join(self.dir, "dc-mem-fail"), dc_size, dev))

    def state_path(self):
        return "/dev/shm/" + self.state

    def finish(self):
        """Stop the heads, then check the state's invariants (quiescent)."""
        for q in self.heads:
            q.quit()
        if self.validate and os.path.exists(self.state_path()):
            p = subprocess.run([state_tool(self.args), "validate", self.state],
                               capture_output=True, text=True)
            check(p.returncode == 0, "state fails validation after the scenario: %s" %
                  (p.stderr or p.stdout).strip())

    def cleanup(self):
        for q in self.heads:
            try:
                q.quit()
            except Exception:  # best effort: the scenario already reported
                pass
        # The device never unlinks the state; the test does, when done.
        for p in (self.state_path(),):
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def stderr_of_heads(self):
        return "\n".join("--- %s stderr:\n%s" % (q.name, q.stderr()[-2000:])
                         for q in self.heads if q.stderr())


# ---------------------------------------------------------------------------


def offer_and_accept(q, extents, accept=None):
    """QMP add on head q, then its host reads the event log and answers."""
    qmp_ok(q.dc_add(extents), "QMP add %r" % (extents,))
    rc, offered = q.host.accept_offer(accept)
    return rc, offered


@scenario
def rfc_two_heads(ctx):
    """The RFC command line, two heads on one state: add, conflict, disjoint
    add, 5500h, release frees the range for the other head."""
    h0 = ctx.start(0, True)
    h1 = ctx.start(1, False)
    base = h0.host.dc_region0_base()
    check(base == h1.host.dc_region0_base(), "heads disagree on the DC base")

    rc, offered = offer_and_accept(h0, [(0, 4 * BLOCK)])
    check(offered == [(base, 4 * BLOCK)], "offered %r" % offered)
    check(rc == RC_SUCCESS, "head 0 accept: rc 0x%x" % rc)
    check(h0.host.extent_list() == [(base, 4 * BLOCK)], "head 0 extent list")

    qmp_refused(h1.dc_add([(2 * BLOCK, 4 * BLOCK)]), "head 1 overlapping add", "head 0")
    rc, _ = offer_and_accept(h1, [(8 * BLOCK, 2 * BLOCK)])
    check(rc == RC_SUCCESS, "head 1 disjoint accept: rc 0x%x" % rc)

    for q in (h0, h1):
        rc, info = q.host.mhd_info()
        check(rc == RC_SUCCESS, "5500h rc 0x%x" % rc)
        check(info["heads"] == 8 and info["lds"] == 8, "5500h counts %r" % info)
        check(info["map"] == list(range(8)), "5500h LD map %r" % info["map"])
    rc, info = h0.host.mhd_info(start=2, limit=3)
    check(rc == RC_SUCCESS and info["start"] == 2 and info["map"] == [2, 3, 4],
          "5500h window %r" % (info,))
    rc, _ = h0.host.mhd_info(start=8)
    check(rc == RC_INVALID_INPUT, "5500h start past the LDs: rc 0x%x" % rc)

    rc = h0.host.release([(base, 4 * BLOCK)])
    check(rc == RC_SUCCESS, "head 0 release: rc 0x%x" % rc)
    check(h0.host.extent_list() == [], "head 0 still lists extents")
    rc, _ = offer_and_accept(h1, [(2 * BLOCK, 2 * BLOCK)])
    check(rc == RC_SUCCESS, "head 1 takes released range: rc 0x%x" % rc)
    check(sorted(h1.host.extent_list()) == [(base + 2 * BLOCK, 2 * BLOCK),
                                            (base + 8 * BLOCK, 2 * BLOCK)],
          "head 1 extent list %r" % h1.host.extent_list())


@scenario
def rfc_three_heads(ctx):
    """Three heads on one state: each gets its own range, conflicts name the
    holder, 5501h describes the heads."""
    hs = [ctx.start(0, True), ctx.start(1, False), ctx.start(2, False)]
    for i, q in enumerate(hs):
        rc, _ = offer_and_accept(q, [(i * 8 * BLOCK, 4 * BLOCK)])
        check(rc == RC_SUCCESS, "head %d accept: rc 0x%x" % (i, rc))
    qmp_refused(hs[2].dc_add([(8 * BLOCK, BLOCK)]), "head 2 on head 1's range", "head 1")
    qmp_refused(hs[1].dc_add([(3 * BLOCK, BLOCK)]), "head 1 on head 0's range", "head 0")
    qmp_refused(hs[0].dc_add([(17 * BLOCK, 2 * BLOCK)]), "head 0 on head 2's range",
                "head 2")
    # A multi-extent add with one conflicting extent takes nothing.
    qmp_refused(hs[0].dc_add([(40 * BLOCK, BLOCK), (16 * BLOCK, BLOCK)]),
                "mixed add", "head 2")
    rc, _ = offer_and_accept(hs[1], [(40 * BLOCK, BLOCK)])
    check(rc == RC_SUCCESS, "the free part of the mixed add stayed free")
    rc, out = hs[2].host.mbox_cmd(OP_GET_HEAD_INFO, bytes([0, 3]))
    check(rc == RC_SUCCESS and out[0] == 3 and len(out) >= 4 + 3 * 9,
          "5501h: rc 0x%x, %r" % (rc, out[:8]))


@scenario
def accept_subset(ctx):
    """Add DC Response accepting a subset: the rest is free at once."""
    h0 = ctx.start(0, True)
    h1 = ctx.start(1, False)
    base = h0.host.dc_region0_base()
    rc, _ = offer_and_accept(h0, [(0, 4 * BLOCK)],
                             accept=lambda off: [(base + BLOCK, BLOCK)])
    check(rc == RC_SUCCESS, "subset accept: rc 0x%x" % rc)
    check(h0.host.extent_list() == [(base + BLOCK, BLOCK)], "head 0 extent list")
    qmp_refused(h1.dc_add([(BLOCK, BLOCK)]), "accepted block", "head 0")
    rc, _ = offer_and_accept(h1, [(0, BLOCK), (2 * BLOCK, 2 * BLOCK)])
    check(rc == RC_SUCCESS, "head 1 takes the unaccepted blocks: rc 0x%x" % rc)


@scenario
def accept_nothing(ctx):
    """An Add DC Response accepting nothing frees the whole offer at once."""
    h0 = ctx.start(0, True)
    h1 = ctx.start(1, False)
    rc, _ = offer_and_accept(h0, [(0, 4 * BLOCK)], accept=lambda off: [])
    check(rc == RC_SUCCESS, "empty response: rc 0x%x" % rc)
    check(h0.host.extent_list() == [], "head 0 lists extents")
    rc, _ = offer_and_accept(h1, [(0, 4 * BLOCK)])
    check(rc == RC_SUCCESS, "head 1 takes the rejected offer: rc 0x%x" % rc)


@scenario
def error_response_keeps_offer(ctx):
    """A refused Add DC Response settles nothing: the offer stays pending for
    the host to answer again, and no other head can take it meanwhile; an
    empty response with nothing pending is refused, QEMU keeps running."""
    h0 = ctx.start(0, True)
    h1 = ctx.start(1, False)
    base = h0.host.dc_region0_base()
    rc, _ = offer_and_accept(h0, [(0, 2 * BLOCK)],
                             accept=lambda off: [(base + 10 * BLOCK, BLOCK)])
    check(rc == RC_INVALID_PA, "response outside the offer: rc 0x%x" % rc)
    qmp_refused(h1.dc_add([(0, 2 * BLOCK)]), "head 1 on the refused offer", "head 0")
    # A response whose count promises more entries than the payload holds.
    short = Host.extent_list_payload([(base, BLOCK)])
    short = struct.pack("<I", 3) + short[4:]
    rc, _ = h0.host.mbox_cmd(OP_ADD_DC_RESPONSE, short)
    check(rc == RC_INVALID_PAYLOAD_LENGTH, "short response: rc 0x%x" % rc)
    rc = h0.host.add_response([(base, 2 * BLOCK)])
    check(rc == RC_SUCCESS, "answering the offer after two refusals: rc 0x%x" % rc)
    check(h0.host.extent_list() == [(base, 2 * BLOCK)], "head 0 extent list")
    # A response naming the newer of two offers settles neither.
    qmp_ok(h0.dc_add([(4 * BLOCK, BLOCK)]), "older offer")
    qmp_ok(h0.dc_add([(6 * BLOCK, BLOCK)]), "newer offer")
    h0.host.dc_events()
    rc = h0.host.add_response([(base + 6 * BLOCK, BLOCK)])
    check(rc == RC_INVALID_PA, "response naming the newer offer: rc 0x%x" % rc)
    check(h0.host.add_response([]) == RC_SUCCESS, "rejecting the older offer")
    check(h0.host.add_response([(base + 6 * BLOCK, BLOCK)]) == RC_SUCCESS,
          "accepting the newer offer")
    rc, _ = offer_and_accept(h1, [(4 * BLOCK, BLOCK)])
    check(rc == RC_SUCCESS, "head 1 takes the rejected offer: rc 0x%x" % rc)
    rc = h0.host.add_response([])
    check(rc == RC_INVALID_INPUT, "empty response, nothing pending: rc 0x%x" % rc)
    rc = h0.host.add_response([(base + 20 * BLOCK, BLOCK)])
    check(rc in (RC_INVALID_INPUT, RC_INVALID_PA), "response, nothing pending: rc 0x%x" % rc)
    check(h0.alive(), "head 0 died")
    h0.qmp_cmd("query-status")


@scenario
def split_response_more(ctx):
    """Add DC Response split over two commands (More): the offer is settled by
    the last part only, with the extents of both parts."""
    h0 = ctx.start(0, True)
    h1 = ctx.start(1, False)
    base = h0.host.dc_region0_base()
    qmp_ok(h0.dc_add([(0, 4 * BLOCK)]), "offer")
    h0.host.dc_events()
    part1 = Host.extent_list_payload([(base, BLOCK)])
    part1 = part1[:4] + b"\x01" + part1[5:]
    rc, _ = h0.host.mbox_cmd(OP_ADD_DC_RESPONSE, part1)
    check(rc == RC_SUCCESS, "part 1 (More): rc 0x%x" % rc)
    check(h0.host.extent_list() == [], "part 1 settled the offer: %r" % h0.host.extent_list())
    qmp_refused(h1.dc_add([(3 * BLOCK, BLOCK)]), "head 1 on the offer between the parts",
                "head 0")
    rc = h0.host.add_response([(base + 2 * BLOCK, BLOCK)])
    check(rc == RC_SUCCESS, "part 2 (last): rc 0x%x" % rc)
    check(sorted(h0.host.extent_list()) == [(base, BLOCK), (base + 2 * BLOCK, BLOCK)],
          "extent list after both parts %r" % h0.host.extent_list())
    rc, _ = offer_and_accept(h1, [(BLOCK, BLOCK), (3 * BLOCK, BLOCK)])
    check(rc == RC_SUCCESS, "head 1 takes the blocks neither part accepted: rc 0x%x" % rc)


@scenario
def extent_list_generation(ctx):
    """4801h's generation number changes exactly when the head's extent list
    changes (accept, release), not on an offer or a refused request."""
    h0 = ctx.start(0, True)
    base = h0.host.dc_region0_base()

    def gen():
        out = h0.host.mbox_ok(OP_GET_DC_EXTENT_LIST, struct.pack("<II", 8, 0))
        return struct.unpack_from("<I", out, 8)[0]

    g0 = gen()
    qmp_ok(h0.dc_add([(0, 2 * BLOCK)]), "offer")
    h0.host.dc_events()
    check(gen() == g0, "generation changed on an offer")
    check(h0.host.add_response([(base + 8 * BLOCK, BLOCK)]) == RC_INVALID_PA, "bad response")
    check(gen() == g0, "generation changed on a refused response")
    check(h0.host.add_response([(base, 2 * BLOCK)]) == RC_SUCCESS, "accept")
    g1 = gen()
    check(g1 != g0, "generation unchanged by an accept (%d)" % g1)
    check(h0.host.release([(base + 8 * BLOCK, BLOCK)]) == RC_INVALID_PA, "bad release")
    check(gen() == g1, "generation changed on a refused release")
    check(h0.host.release([(base, BLOCK)]) == RC_SUCCESS, "release")
    check(gen() not in (g0, g1), "generation unchanged by a release")


@scenario
def empty_response_no_crash_type3(ctx):
    """QEMU 10.0 SIGSEGV fix, on a plain cxl-type3: Add DC Response with zero
    extents while nothing is pending."""
    q = ctx.start(0, False, device="cxl-type3,bus=rp0,num-dc-regions=1,"
                  "volatile-dc-memdev=mem0,id=cxl-mem0,sn=1")
    rc = q.host.add_response([])
    check(rc == RC_INVALID_INPUT, "rc 0x%x" % rc)
    check(q.alive(), "QEMU died")
    q.qmp_cmd("query-status")
    rc, _ = offer_and_accept(q, [(0, 2 * BLOCK)])
    check(rc == RC_SUCCESS, "normal add after it: rc 0x%x" % rc)
    rc, _ = offer_and_accept(q, [(4 * BLOCK, 2 * BLOCK)], accept=lambda off: [])
    check(rc == RC_SUCCESS and q.alive(), "empty response to a real offer")


def file_q(path, off):
    with open(path, "rb") as f:
        f.seek(off)
        return struct.unpack("<Q", f.read(8))[0]


@scenario
def memory_access(ctx):
    """Reads/writes through the CXL fixed memory window after committing the
    HDM decoder: the owner's work, others' fail (block-exact)."""
    h0 = ctx.start(0, True)
    h1 = ctx.start(1, False)
    hpa = cfmw_base(h0)
    check(hpa == cfmw_base(h1), "heads have different CFMW bases")
    for q in (h0, h1):
        q.host.commit_hdm(hpa, DC_SIZE)
    check(offer_and_accept(h0, [(0, 2 * BLOCK)])[0] == RC_SUCCESS, "head 0 accept")
    check(offer_and_accept(h1, [(4 * BLOCK, 2 * BLOCK)])[0] == RC_SUCCESS, "head 1 accept")
    P0, P1, X = 0x1111222233334444, 0x5555666677778888, 0xDEADBEEFDEADBEEF

    h0.writeq(hpa + 0x100, P0)
    check(h0.readq(hpa + 0x100) == P0, "owner read-back")
    check(file_q(ctx.dc_mem, 0x100) == P0, "owner write did not reach the memory")
    last = 2 * BLOCK - 8
    h0.writeq(hpa + last, P0)
    check(h0.readq(hpa + last) == P0 and file_q(ctx.dc_mem, last) == P0,
          "owner access to the last 8 bytes of its extent")

    h1.writeq(hpa + 4 * BLOCK + 0x40, P1)
    check(file_q(ctx.dc_mem, 4 * BLOCK + 0x40) == P1, "head 1 owner write")
    # Head 0 on head 1's block, on a free block, one byte past its extent.
    h0.writeq(hpa + 4 * BLOCK + 0x40, X)
    check(file_q(ctx.dc_mem, 4 * BLOCK + 0x40) == P1, "non-owner write landed")
    check(h0.readq(hpa + 4 * BLOCK + 0x40) != P1, "non-owner read saw the data")
    h0.writeq(hpa + 2 * BLOCK, X)
    check(file_q(ctx.dc_mem, 2 * BLOCK) == 0, "write past the extent landed")
    h0.writeq(hpa + 20 * BLOCK, X)
    check(file_q(ctx.dc_mem, 20 * BLOCK) == 0, "write to free capacity landed")
    h1.writeq(hpa + 0x100, X)
    check(file_q(ctx.dc_mem, 0x100) == P0, "head 1 wrote head 0's block")
    check(h1.readq(hpa + 0x100) != P0, "head 1 read head 0's block")

    # After release the former owner loses access.
    check(h0.host.release([(0, 2 * BLOCK)]) == RC_SUCCESS, "release")
    h0.writeq(hpa + 0x100, X)
    check(file_q(ctx.dc_mem, 0x100) == P0, "write after release landed")


@scenario
def fenced_head_loses_access(ctx):
    """The access check is the engine's: a head force-recovered from outside
    (its capacity freed) can no longer touch memory its QEMU still has in
    cxl-type3's extent list (that list follows the engine only at the next
    DCD command; 4801h, served by the engine, then shows it empty)."""
    tool = state_tool(ctx.args)
    h0 = ctx.start(0, True)
    h1 = ctx.start(1, False)
    hpa = cfmw_base(h1)
    h1.host.commit_hdm(hpa, DC_SIZE)
    check(offer_and_accept(h1, [(4 * BLOCK, 2 * BLOCK)])[0] == RC_SUCCESS, "head 1 accept")
    P1, X = 0x0123456789ABCDEF, 0xDEADBEEFDEADBEEF
    h1.writeq(hpa + 4 * BLOCK, P1)
    check(file_q(ctx.dc_mem, 4 * BLOCK) == P1, "owner write")
    p = subprocess.run([tool, "recover", ctx.state, "1"], capture_output=True, text=True)
    check(p.returncode == 0 and "2 blocks freed" in p.stdout,
          "force recover: rc %d %r %r" % (p.returncode, p.stdout, p.stderr))
    # No mailbox command in between: cxl-type3's view is still the stale one.
    h1.writeq(hpa + 4 * BLOCK, X)
    check(file_q(ctx.dc_mem, 4 * BLOCK) == P1, "fenced head's write landed")
    check(h1.readq(hpa + 4 * BLOCK) != P1, "fenced head read the data")
    check(h1.host.extent_list() == [], "4801h still lists the recovered extent: %r" %
          h1.host.extent_list())
    check(offer_and_accept(h0, [(4 * BLOCK, 2 * BLOCK)])[0] == RC_SUCCESS,
          "head 0 takes the recovered capacity")


@scenario
def static_and_two_regions(ctx):
    """Static capacity in front of two DC regions: absolute DPAs all the way
    (reserve, subset commit, reclaim, access) in the second region."""
    dev = ("cxl-mhsld,bus=rp0,volatile-memdev=vmem0,num-dc-regions=2,"
           "volatile-dc-memdev=mem0,id=cxl-mem0,mhd-head=%d,mhd-state_file=%s,"
           "mhd-init=%s")
    h0 = ctx.start(0, True, dc_size=2 * DC_SIZE, static_size=DC_SIZE,
                   device=dev % (0, ctx.state, "true"))
    h1 = ctx.start(1, False, dc_size=2 * DC_SIZE, static_size=DC_SIZE,
                   device=dev % (1, ctx.state, "false"))
    out = h0.host.mbox_ok(0x4800, bytes([2, 0]))
    bases = [struct.unpack_from("<Q", out, 8 + 0x28 * i)[0] for i in range(out[1])]
    check(bases == [DC_SIZE, 2 * DC_SIZE], "DC region bases %r" % bases)
    r1 = bases[1]
    check(offer_and_accept(h0, [(0, BLOCK)])[0] == RC_SUCCESS, "head 0 region 0 accept")
    qmp_ok(h0.dc_add([(0, 4 * BLOCK)], region=1), "head 0 region 1 add")
    rc, offered = h0.host.accept_offer(lambda off: [(r1 + BLOCK, BLOCK)])
    check(rc == RC_SUCCESS and offered == [(r1, 4 * BLOCK)],
          "region 1 subset accept: rc 0x%x, offered %r" % (rc, offered))
    check(sorted(h0.host.extent_list()) == [(bases[0], BLOCK), (r1 + BLOCK, BLOCK)],
          "head 0 extents %r" % h0.host.extent_list())
    qmp_refused(h1.dc_add([(BLOCK, BLOCK)], region=1), "region 1 accepted block", "head 0")
    qmp_refused(h1.dc_add([(0, BLOCK)], region=0), "region 0 block", "head 0")
    qmp_ok(h1.dc_add([(0, BLOCK), (2 * BLOCK, 2 * BLOCK)], region=1),
           "head 1 takes the reclaimed blocks of region 1")
    rc, offered = h1.host.accept_offer()
    check(rc == RC_SUCCESS and offered == [(r1, BLOCK), (r1 + 2 * BLOCK, 2 * BLOCK)],
          "head 1 accept in region 1: rc 0x%x %r" % (rc, offered))
    hpa = cfmw_base(h0)
    for q in (h0, h1):
        q.host.commit_hdm(hpa, 3 * DC_SIZE)
    P, X = 0x0F1E2D3C4B5A6978, 0xDEADBEEFDEADBEEF
    h0.writeq(hpa + r1 + BLOCK + 8, P)
    check(file_q(ctx.dc_mem, DC_SIZE + BLOCK + 8) == P, "head 0 write in region 1")
    h0.writeq(hpa + r1 + 8, X)
    check(file_q(ctx.dc_mem, DC_SIZE + 8) == 0, "head 0 wrote head 1's block")
    h1.writeq(hpa + r1 + BLOCK + 8, X)
    check(file_q(ctx.dc_mem, DC_SIZE + BLOCK + 8) == P, "head 1 wrote head 0's block")
    h1.writeq(hpa + 0x1000, P)
    check(h1.readq(hpa + 0x1000) == P, "static capacity is not DC-checked")


@scenario
def sigkill_head_and_restart(ctx):
    """SIGKILL a head in use: the others continue; its capacity (and pending
    offer) stays held until that head restarts, which recovers it."""
    h0 = ctx.start(0, True)
    h1 = ctx.start(1, False)
    check(offer_and_accept(h1, [(0, 2 * BLOCK)])[0] == RC_SUCCESS, "head 1 accept")
    qmp_ok(h1.dc_add([(4 * BLOCK, BLOCK)]), "head 1 pending offer")
    h1.kill()
    check(offer_and_accept(h0, [(10 * BLOCK, BLOCK)])[0] == RC_SUCCESS,
          "head 0 continues after head 1 died")
    qmp_refused(h0.dc_add([(0, BLOCK)]), "dead head's owned capacity", "head 1")
    qmp_refused(h0.dc_add([(4 * BLOCK, BLOCK)]), "dead head's pending offer", "head 1")
    h1b = ctx.start(1, False)
    check(h1b.host.extent_list() == [], "restarted head 1 lists extents")
    check(offer_and_accept(h0, [(0, 2 * BLOCK), (4 * BLOCK, BLOCK)])[0] == RC_SUCCESS,
          "head 0 takes head 1's recovered capacity")
    check(offer_and_accept(h1b, [(30 * BLOCK, BLOCK)])[0] == RC_SUCCESS,
          "restarted head 1 works")


@scenario
def restart_head0_init_true(ctx):
    """Restarting head 0 with its unchanged command line (mhd-init=true)
    while the others run recovers only head 0's capacity, never wipes."""
    h0 = ctx.start(0, True)
    h1 = ctx.start(1, False)
    h2 = ctx.start(2, False)
    check(offer_and_accept(h0, [(0, 2 * BLOCK)])[0] == RC_SUCCESS, "head 0 accept")
    check(offer_and_accept(h1, [(8 * BLOCK, 2 * BLOCK)])[0] == RC_SUCCESS, "head 1 accept")
    qmp_ok(h2.dc_add([(16 * BLOCK, BLOCK)]), "head 2 pending offer")
    h0.kill()
    h0b = ctx.start(0, True)
    qmp_refused(h0b.dc_add([(8 * BLOCK, BLOCK)]), "head 1's capacity after head 0 "
                "restarted with mhd-init=true", "head 1")
    qmp_refused(h0b.dc_add([(16 * BLOCK, BLOCK)]), "head 2's pending offer", "head 2")
    check(h2.host.accept_offer()[0] == RC_SUCCESS,
          "head 2 accepts its offer made before the restart")
    check(offer_and_accept(h0b, [(0, 2 * BLOCK)])[0] == RC_SUCCESS,
          "head 0's own old capacity was recovered")
    check(h1.host.extent_list() == [(8 * BLOCK, 2 * BLOCK)], "head 1 lost its extent")


@scenario
def join_init_false(ctx):
    """A fresh head with mhd-init=false joins a running set without
    disturbing it; mhd-init=false on a missing state fails clearly."""
    rc, err = ctx.expect_failure(1, False, state=ctx.state + "-missing")
    check(rc != 0 and "does not exist" in err and "mhd-init=true" in err,
          "missing state: rc %d, %r" % (rc, err[-400:]))
    h0 = ctx.start(0, True)
    h1 = ctx.start(1, False)
    check(offer_and_accept(h1, [(0, 4 * BLOCK)])[0] == RC_SUCCESS, "head 1 accept")
    h3 = ctx.start(3, False)
    qmp_refused(h3.dc_add([(0, BLOCK)]), "new head on head 1's range", "head 1")
    check(offer_and_accept(h3, [(4 * BLOCK, BLOCK)])[0] == RC_SUCCESS, "new head accept")
    qmp_refused(h0.dc_add([(2 * BLOCK, BLOCK)]), "head 1 still holds", "head 1")
    check(h1.host.extent_list() == [(0, 4 * BLOCK)], "head 1 extent list changed")


@scenario
def geometry_mismatch(ctx):
    """A head whose DC regions (or head count) differ from the state's fails
    realize with a clear error, and the running head is untouched."""
    h0 = ctx.start(0, True)
    check(offer_and_accept(h0, [(0, BLOCK)])[0] == RC_SUCCESS, "head 0 accept")
    for init in (True, False):
        rc, err = ctx.expect_failure(1, init, dc_size=2 * DC_SIZE)
        check(rc != 0 and "geometry" in err and ctx.state in err,
              "DC size mismatch (init=%s): rc %d, %r" % (init, rc, err[-400:]))
    rc, err = ctx.expect_failure(1, False, extra=",mhd-heads=4")
    check(rc != 0 and "geometry" in err and "8 heads" in err,
          "head count mismatch: rc %d, %r" % (rc, err[-400:]))
    h1 = ctx.start(1, False)
    qmp_refused(h1.dc_add([(0, BLOCK)]), "head 0 still owns", "head 0")


@scenario
def corrupt_state(ctx):
    """A corrupt or truncated state file fails realize clearly and is left
    as it was (never re-initialised, even with mhd-init=true)."""
    ctx.validate = False  # the state is corrupt on purpose
    path = ctx.state_path()
    junk = bytes([0xA5]) * (1 << 20)
    with open(path, "wb") as f:
        f.write(junk)
    for init in (True, False):
        rc, err = ctx.expect_failure(0, init)
        check(rc != 0 and ctx.state in err and "cxl-mhsld head 0" in err,
              "garbage state (init=%s): rc %d, %r" % (init, rc, err[-400:]))
        with open(path, "rb") as f:
            check(f.read() == junk, "garbage state was modified (init=%s)" % init)
    os.unlink(path)
    h0 = ctx.start(0, True)
    h0.quit()
    ctx.heads.remove(h0)
    with open(path, "rb") as f:
        head = f.read(64)
    with open(path, "r+b") as f:
        f.truncate(64)
    for init in (True, False):
        rc, err = ctx.expect_failure(0, init)
        check(rc != 0 and ctx.state in err,
              "truncated state (init=%s): rc %d, %r" % (init, rc, err[-400:]))
    with open(path, "rb") as f:
        check(f.read() == head, "truncated state was modified")


@scenario
def bad_properties(ctx):
    """Wrong or inconsistent properties fail realize with a clear error."""
    def fail(device, needle):
        rc, err = run_expect_failure(ctx.qemu, machine_args(ctx.dc_mem, DC_SIZE, device))
        check(rc != 0 and needle in err, "%s: rc %d, %r" % (device, rc, err[-400:]))

    base = "cxl-mhsld,bus=rp0,num-dc-regions=1,volatile-dc-memdev=mem0,id=cxl-mem0"
    fail(base + ",mhd-state_file=%s,mhd-init=true" % ctx.state, "mhd-head must be set")
    fail(base + ",mhd-head=0,mhd-init=true", "mhd-state_file must be set")
    fail(base + ",mhd-head=40,mhd-state_file=%s,mhd-init=true" % ctx.state,
         "out of range")
    fail(base + ",mhd-head=2,mhd-heads=2,mhd-state_file=%s,mhd-init=true" % ctx.state,
         "out of range")
    fail(base + ",mhd-head=9,mhd-state_file=%s,mhd-init=true" % ctx.state,
         "out of range")
    fail("cxl-mhsld,bus=rp0,volatile-memdev=mem0,id=cxl-mem0,mhd-head=0,"
         "mhd-state_file=%s,mhd-init=true" % ctx.state, "needs dynamic capacity")
    # The same head twice.
    ctx.start(0, True)
    rc, err = ctx.expect_failure(0, True)
    check(rc != 0 and "already attached" in err and "pid" in err,
          "head attached twice: rc %d, %r" % (rc, err[-400:]))


@scenario
def reset_releases(ctx):
    """A system reset gives the head's capacity (and offers) back."""
    h0 = ctx.start(0, True)
    h1 = ctx.start(1, False)
    check(offer_and_accept(h0, [(0, 2 * BLOCK)])[0] == RC_SUCCESS, "head 0 accept")
    qmp_ok(h0.dc_add([(4 * BLOCK, BLOCK)]), "head 0 pending offer")
    h0.qmp_cmd("system_reset")
    h0.wait_event("RESET")
    h0.host = Host(h0)
    check(h0.host.extent_list() == [], "extents survived the reset")
    check(offer_and_accept(h1, [(0, 2 * BLOCK), (4 * BLOCK, BLOCK)])[0] == RC_SUCCESS,
          "head 1 takes head 0's capacity after its reset")
    rc = h0.host.add_response([])
    check(rc == RC_INVALID_INPUT, "head 0's offer survived the reset (rc 0x%x)" % rc)


@scenario
def migration_blocked(ctx):
    """The ownership state is shared with the other heads: migration is
    refused with the blocker's reason, -only-migratable refuses the device,
    and the head keeps working after a refused migration."""
    h0 = ctx.start(0, True)
    r = h0.qmp_raw("migrate", uri="exec:cat >/dev/null")
    desc = qmp_refused(r, "migrate", "cxl-mhsld head 0", "cannot be migrated")
    check(h0.alive(), "head 0 died on migrate")
    check(offer_and_accept(h0, [(0, BLOCK)])[0] == RC_SUCCESS,
          "head 0 after the refused migration")
    dev = rfc_device(1, ctx.state, False)
    rc, err = run_expect_failure(ctx.qemu, ["-only-migratable"] + machine_args(
        os.path.join(ctx.dir, "dc-mem-1"), DC_SIZE, dev))
    check(rc != 0 and "only-migratable" in err and "cannot be migrated" in err,
          "-only-migratable: rc %d, %r" % (rc, err[-400:]))
    return desc


@scenario
def trace_and_guest_errors(ctx):
    """The device's trace events (-trace cxl_mhsld_*) and its guest errors
    (-d guest_errors): a refused Add DC Response is logged as a guest error
    only when asked for, never on stderr by default."""
    quiet = ctx.start(1, True)
    q = Qemu(ctx.qemu, machine_args(ctx.dc_mem, DC_SIZE, rfc_device(0, ctx.state, False)) +
             ["-trace", "cxl_mhsld_*", "-d", "guest_errors"], ctx.dir, "head0")
    ctx.heads.append(q)
    q.host = Host(q)
    base = q.host.dc_region0_base()
    for h in (q, quiet):
        rc, _ = offer_and_accept(h, [(h is quiet and 8 * BLOCK or 0, BLOCK)],
                                 accept=lambda off: [(base + 30 * BLOCK, BLOCK)])
        check(rc == RC_INVALID_PA, "response outside the offer: rc 0x%x" % rc)
    check(q.host.add_response([(base, BLOCK)]) == RC_SUCCESS, "accepting the offer")
    q.quit()
    err = q.stderr()
    for needle in ("cxl_mhsld_attach head 0 attached to state '%s'" % ctx.state,
                   "cxl_mhsld_reserve head 0: 1 extents: ",
                   "cxl_mhsld_mbox head 0: opcode 0x4802 in 32 bytes: rc %d" % RC_INVALID_PA,
                   "cxl_mhsld_mbox head 0: opcode 0x4802 in 32 bytes: rc 0, out 0 bytes",
                   "cxl_mhsld_sync head 0: 1 extents, 0 pending offers",
                   "cxl-mhsld head 0: mailbox command 4802h refused"):
        check(needle in err, "head 0's stderr lacks %r:\n%s" % (needle, err[-2000:]))
    check("refused" not in quiet.stderr() and "cxl_mhsld" not in quiet.stderr(),
          "head 1 (no -d, no -trace) logged: %r" % quiet.stderr()[-400:])
    return "%d trace lines" % sum(1 for ln in err.splitlines() if "cxl_mhsld_" in ln)


@scenario
def checkpatch(ctx):
    """QEMU's scripts/checkpatch.pl: 0 errors, 0 warnings on every patch of
    patches/, on the generated cxl-mhsld patch, and on cxl_mhsld.c
    (--file)."""
    here = os.path.dirname(os.path.abspath(__file__))
    dev = os.path.dirname(here)
    build = os.path.join(dev, "build-qemu.sh")
    p = subprocess.run([build, "--fetch-only"], capture_output=True, text=True, timeout=1200)
    check(p.returncode == 0, "build-qemu.sh --fetch-only: %s" % p.stderr[-1000:])
    tool = os.path.join(p.stdout.strip().splitlines()[-1], "scripts", "checkpatch.pl")
    p = subprocess.run([build, "--device-patch"], capture_output=True, text=True, timeout=600)
    check(p.returncode == 0 and p.stdout.startswith("From "),
          "build-qemu.sh --device-patch: %s" % p.stderr[-1000:])
    device_patch = os.path.join(ctx.dir, "cxl-mhsld.patch")
    with open(device_patch, "w") as f:
        f.write(p.stdout)
    pdir = os.path.join(dev, "patches")
    runs = [[os.path.join(pdir, n)] for n in sorted(os.listdir(pdir)) if n.endswith(".patch")]
    runs += [[device_patch], ["--file", os.path.join(dev, "cxl_mhsld.c")]]
    for r in runs:
        p = subprocess.run(["perl", tool, "--no-tree", "--color=never"] + r,
                           capture_output=True, text=True, timeout=300)
        check(p.returncode == 0 and "total: 0 errors, 0 warnings," in p.stdout,
              "checkpatch %s:\n%s" % (" ".join(os.path.basename(a) for a in r),
                                       (p.stdout + p.stderr)[-3000:]))
    return "%d patches and cxl_mhsld.c: 0 errors, 0 warnings" % (len(runs) - 1)


@scenario
def guest_attack_suite(ctx):
    """tests/attack.py on cxl-mhsld: the catalogue of malformed requests for
    every CEL opcode, then seeded random mutations (MHSLD_ATTACK_SECONDS,
    default 20 s; seed MHSLD_ATTACK_SEED, default 1); no finding allowed."""
    here = os.path.dirname(os.path.abspath(__file__))
    cmd = [sys.executable, os.path.join(here, "attack.py"), "--qemu", ctx.qemu,
           "--device", "cxl-mhsld", "--state-tool", state_tool(ctx.args),
           "--seed", os.environ.get("MHSLD_ATTACK_SEED", "1"),
           "--fuzz-seconds", os.environ.get("MHSLD_ATTACK_SECONDS", "20")]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    lines = p.stdout.strip().splitlines()
    check(p.returncode == 0 and lines and lines[-1].startswith("0 findings"),
          "attack suite rc %d:\n%s%s" % (p.returncode, p.stdout[-4000:], p.stderr[-2000:]))
    summary = [ln for ln in lines if " catalogue " in ln]
    return (summary[0] if summary else "") + "; " + lines[-1]


# The findings attack.py still reports on plain cxl-type3 (QEMU's own DCD
# code, open upstream; docs/upstream-bugs.md): its case names.  Anything
# else on cxl-type3 fails guest_attack_type3 (a fixed bug came back).
TYPE3_OPEN = {"4802h:more", "4802h:more stray part"}


@scenario
def guest_attack_type3(ctx):
    """tests/attack.py on plain cxl-type3 (bounded): only the open upstream
    bugs of docs/upstream-bugs.md may be found (the patches' regression
    test: payload length, wrapping extent, Get Log, Clear Event Records,
    generation number)."""
    here = os.path.dirname(os.path.abspath(__file__))
    cmd = [sys.executable, os.path.join(here, "attack.py"), "--qemu", ctx.qemu,
           "--device", "cxl-type3", "--seed", os.environ.get("MHSLD_ATTACK_SEED", "1"),
           "--fuzz-seconds", os.environ.get("MHSLD_ATTACK_TYPE3_SECONDS", "5")]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    lines = p.stdout.strip().splitlines()
    found = set()
    for ln in lines:
        if ln.startswith("FINDING "):
            found.add(ln.split("[", 1)[1].split("]", 1)[0])
    check(p.returncode in (0, 1) and lines and lines[-1].endswith("requests"),
          "attack suite rc %d:\n%s%s" % (p.returncode, p.stdout[-4000:], p.stderr[-2000:]))
    check(found <= TYPE3_OPEN, "findings beyond the open upstream bugs: %s\n%s" %
          (sorted(found - TYPE3_OPEN), p.stdout[-4000:]))
    return "%s; open upstream: %s" % (lines[-1], ", ".join(sorted(found)) or "none")


def run_cxl_test(args):
    """QEMU's own tests/qtest/cxl-test on the patched build."""
    env = dict(os.environ, QTEST_QEMU_BINARY=args.qemu)
    p = subprocess.run([args.cxl_test], env=env, capture_output=True, timeout=600,
                       cwd=args.workdir)
    out = (p.stdout + p.stderr).decode(errors="replace")
    oks = sum(1 for ln in out.splitlines() if ln.startswith("ok "))
    notoks = [ln for ln in out.splitlines() if ln.startswith("not ok")]
    check(p.returncode == 0 and not notoks and oks > 0,
          "cxl-test rc %d, %d ok, failures %r\n%s" % (p.returncode, oks, notoks,
                                                     out[-1500:]))
    return "%d subtests ok" % oks


def run_all(args, scenarios=None, setup=None, title="scenarios"):
    """Run `scenarios` (default: this file's) by name filter; `setup(ctx)`
    runs first inside each scenario's try, so that its failure is the
    scenario's.  Every failure is reported, none stops the run."""
    passed = failed = 0
    t_all = time.monotonic()
    for fn in SCENARIOS if scenarios is None else scenarios:
        if args.names and fn.__name__ not in args.names:
            continue
        ctx = Ctx(args, fn.__name__)
        t0 = time.monotonic()
        try:
            if setup:
                setup(ctx)
            what = fn(ctx)
            ctx.finish()
            passed += 1
            print("PASS %-32s %5.1fs  %s" % (fn.__name__, time.monotonic() - t0,
                                            what or (fn.__doc__ or "").split("\n")[0]))
        except Exception as e:  # every failure is reported, none stops the run
            failed += 1
            print("FAIL %-32s %s" % (fn.__name__, e))
            extra = ctx.stderr_of_heads()
            if extra:
                print(extra)
            if not isinstance(e, Check):
                traceback.print_exc(file=sys.stdout)
        finally:
            ctx.cleanup()
        sys.stdout.flush()
    if scenarios is None and args.cxl_test and (not args.names or "qemu_cxl_test" in args.names):
        t0 = time.monotonic()
        try:
            what = run_cxl_test(args)
            passed += 1
            print("PASS %-32s %5.1fs  %s" % ("qemu_cxl_test", time.monotonic() - t0, what))
        except (Check, OSError, subprocess.TimeoutExpired) as e:
            failed += 1
            print("FAIL %-32s %s" % ("qemu_cxl_test", e))
    print("%s took %.1fs" % (title, time.monotonic() - t_all))
    return passed, failed


def suite_main(scenarios=None, prefix="mhsld-qemu-tests.", title="scenarios",
               extra_args=(), setup=None):
    """The command line of a scenario file: --qemu, --cxl-test (run only by
    this file's own suite; accepted by every suite since run-tests.sh passes
    it to all), --workdir, --list, names; extra_args: (flag, help) pairs."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--qemu", required=True)
    ap.add_argument("--cxl-test", help="the qtest binary (this file's suite only)")
    for flag, hlp in extra_args:
        ap.add_argument(flag, help=hlp)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--list", action="store_true")
    ap.add_argument("names", nargs="*")
    args = ap.parse_args()
    if scenarios is not None:
        args.cxl_test = None
    own = SCENARIOS if scenarios is None else scenarios
    names = [f.__name__ for f in own] + (["qemu_cxl_test"] if args.cxl_test else [])
    if args.list:
        print("\n".join(names))
        return 0
    for n in args.names:
        if n not in names:
            print("unknown scenario %s" % n, file=sys.stderr)
            return 2
    own_workdir = args.workdir is None
    if own_workdir:
        args.workdir = tempfile.mkdtemp(prefix=prefix)
    try:
        passed, failed = run_all(args, scenarios, setup, title)
    finally:
        if own_workdir:
            shutil.rmtree(args.workdir, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


def main():
    return suite_main()


if __name__ == "__main__":
    sys.exit(main())
