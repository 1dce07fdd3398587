#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""cxl-mhsld's fabric-manager channel with real QEMU processes (-accel qtest).

usage: scenarios_fm.py --qemu PATH [--mhsldctl PATH] [--list] [NAME...]

Every FM action goes through `mhsldctl fm-*` (the request queue in the
shared state, docs/fm.md): no QMP for it.  QMP and qtest only observe, and
act as each head's host through its mailbox, as scenarios.py does.  Prints
one line per scenario and "N passed, N failed"; exits non-zero on a failure.

Without --mhsldctl, mhsldctl is built (ASan+UBSan) from this tree into the
work directory.
"""

import json
import os
import signal
import statistics
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qemu_harness import (BLOCK, PXB_BUS, Host, Qemu, RC_INVALID_INPUT,  # noqa: E402
                          RC_SUCCESS, OP_GET_EVENT_RECORDS, EVENT_LOG_DCD, cfmw_base,
                          machine_args, rfc_device)
import scenarios  # noqa: E402
from scenarios import (DC_SIZE, Check, check, file_q, qmp_ok,  # noqa: E402
                       qmp_refused)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
SCENARIOS = []

DC_EVENT_ADD = 0
DC_EVENT_RELEASE = 1
DC_EVENT_FORCED = 2
FMQ_SLOTS = 8          # MHSLD_FMQ_SLOTS (mhsld/fm.h)
EXIT_REFUSED = 3       # mhsldctl: refused, dead head, timed out
WAIT = 20.0            # bound of every wait in these scenarios (seconds)


def scenario(fn):
    SCENARIOS.append(fn)
    return fn


# ---- mhsldctl ---------------------------------------------------------------

def build_mhsldctl(args):
    """mhsldctl from this tree, ASan+UBSan, once per run."""
    bdir = os.path.join(args.workdir, "build-ctl")
    exe = os.path.join(bdir, "tools", "mhsldctl")
    if not os.path.exists(exe):
        steps = [["cmake", "-S", REPO, "-B", bdir, "-DCMAKE_BUILD_TYPE=Debug",
                  "-DMHSLD_SANITIZE=address,undefined", "-DMHSLD_BUILD_TOOLS=ON"],
                 ["nice", "-n", "10", "cmake", "--build", bdir, "-j2", "--target", "mhsldctl"]]
        for cmd in steps:
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                raise Check("building mhsldctl failed (%s):\n%s%s" %
                            (" ".join(cmd), p.stdout[-2000:], p.stderr[-2000:]))
    return exe


def ext_args(extents):
    return ["0x%x+0x%x" % (d, n) for d, n in extents]


class Fm:
    """The fabric manager: mhsldctl fm-* on one state."""

    def __init__(self, exe, state):
        self.exe = exe
        self.state = state

    def cmd(self, verb, head, extents=(), timeout_ms=None, extra=()):
        c = [self.exe, verb, self.state, "--head", str(head)]
        c += ext_args(extents) + list(extra)
        if timeout_ms is not None:
            c += ["--timeout", str(timeout_ms)]
        return c + ["--json"]

    def run(self, verb, head, extents=(), timeout_ms=None, extra=()):
        """Returns (exit code, decoded --json object or None, stderr)."""
        p = subprocess.run(self.cmd(verb, head, extents, timeout_ms, extra),
                           capture_output=True, text=True, timeout=WAIT * 3)
        try:
            j = json.loads(p.stdout) if p.stdout.strip() else None
        except ValueError:
            raise Check("%s: stdout is not JSON: %r (stderr %r)" % (verb, p.stdout, p.stderr))
        return p.returncode, j, p.stderr

    def ok(self, verb, head, extents=(), **kw):
        rc, j, err = self.run(verb, head, extents, **kw)
        check(rc == 0 and j and j.get("status") == "MHSLD_OK" and
              j.get("answer") in (None, "MHSLD_OK"),
              "%s head %d %r: exit %d, %r, %s" % (verb, head, extents, rc, j, err.strip()))
        return j

    def refused(self, verb, head, extents=(), **kw):
        rc, j, err = self.run(verb, head, extents, **kw)
        check(rc == EXIT_REFUSED and j is not None,
              "%s head %d %r: expected a refusal (exit 3), got exit %d, %r, %s" %
              (verb, head, extents, rc, j, err.strip()))
        return j, err

    def popen(self, verb, head, extents=(), timeout_ms=None, extra=()):
        return subprocess.Popen(self.cmd(verb, head, extents, timeout_ms, extra),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def refusal(j):
    """The head's (or the submission's) refusal status of a --json answer."""
    if j.get("status") != "MHSLD_OK":
        return j.get("status")
    return j.get("answer")


# ---- the host's side ----------------------------------------------------------

def events_until(q, want, deadline=WAIT):
    """Read (and clear) the head's DC event log until `want(events so far)`
    holds; bounded.  Returns the events read."""
    got = []
    end = time.monotonic() + deadline
    while True:
        got += q.host.dc_events()
        if want(got):
            return got
        if time.monotonic() > end:
            raise Check("%s: the expected DC event did not come in %.0f s; events %r" %
                        (q.name, deadline, got))


def has(ev_type, dpa, length):
    return lambda evs: (ev_type, dpa, length) in evs


def dc_log_empty(q):
    """Get Event Records on the DC log without clearing: nothing pending?"""
    out = q.host.mbox_ok(OP_GET_EVENT_RECORDS, bytes([EVENT_LOG_DCD]))
    return struct.unpack_from("<H", out, 0x14)[0] == 0


def fm_offer_accepted(fm, q, head, extents):
    """fm-offer, the guest's Add Capacity event, its 4802h accepting all."""
    j = fm.ok("fm-offer", head, extents)
    events_until(q, lambda evs: all((DC_EVENT_ADD, d, n) in evs for d, n in extents))
    rc = q.host.add_response(list(extents))
    check(rc == RC_SUCCESS, "head %d accept: rc 0x%x" % (head, rc))
    return j


def proc_cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_posted(p, deadline=WAIT):
    """Wait until mhsldctl process p sleeps on a futex (it has posted its
    request and waits for the answer); bounded."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if p.poll() is not None:
            raise Check("the FM exited before waiting: rc %d %r" % (p.returncode,
                                                                     p.communicate()))
        try:
            with open("/proc/%d/wchan" % p.pid) as f:
                if "futex" in f.read():
                    return
        except OSError:
            pass
    raise Check("the FM never waited on the queue")


# ---- scenarios ----------------------------------------------------------------

@scenario
def fm_offer_accept(ctx):
    """fm-offer → the guest's Add Capacity event → 4802h → owned and usable;
    an offer of another head's capacity is refused naming the owner (as QMP
    is); QMP keeps working beside the FM."""
    fm = ctx.fm
    h0 = ctx.start(0, True)
    h1 = ctx.start(1, False)
    base = h0.host.dc_region0_base()
    j = fm.ok("fm-offer", 0, [(base, 4 * BLOCK)])
    check(j.get("group"), "the offer's answer names no reservation group: %r" % j)
    evs = events_until(h0, has(DC_EVENT_ADD, base, 4 * BLOCK))
    check(evs == [(DC_EVENT_ADD, base, 4 * BLOCK)], "head 0's events %r" % evs)
    check(h0.host.extent_list() == [], "offered capacity listed before the accept")
    check(dc_log_empty(h1), "head 1 got an event for head 0's offer")
    check(h0.host.add_response([(base, 4 * BLOCK)]) == RC_SUCCESS, "head 0 accept")
    check(h0.host.extent_list() == [(base, 4 * BLOCK)], "head 0 extent list %r" %
          h0.host.extent_list())
    hpa = cfmw_base(h0)
    h0.host.commit_hdm(hpa, DC_SIZE)
    P = 0x0123456789ABCDEF
    h0.writeq(hpa + BLOCK + 8, P)
    check(file_q(ctx.dc_mem, BLOCK + 8) == P, "head 0's write to its FM-offered capacity")

    j, err = fm.refused("fm-offer", 1, [(base + 2 * BLOCK, 4 * BLOCK)])
    check(refusal(j) == "MHSLD_E_CONFLICT", "conflicting offer: %r" % j)
    cf = j.get("conflict") or {}
    check(cf.get("owner") == 0 and cf.get("dpa") == base + 2 * BLOCK,
          "conflict does not name head 0 at the first block: %r" % j)
    check("head 0" in (j.get("message", "") + err), "the refusal's text names no owner: %r %r"
          % (j, err))
    check(dc_log_empty(h1), "head 1 got an event for a refused offer")
    qmp_refused(h1.dc_add([(2 * BLOCK, BLOCK)]), "QMP add of the FM-offered capacity", "head 0")

    fm_offer_accepted(fm, h1, 1, [(base + 8 * BLOCK, 2 * BLOCK)])
    qmp_ok(h1.dc_add([(12 * BLOCK, BLOCK)]), "QMP add beside the FM")
    check(h1.host.accept_offer()[0] == RC_SUCCESS, "head 1 accepts the QMP offer")
    check(sorted(h1.host.extent_list()) == [(base + 8 * BLOCK, 2 * BLOCK),
                                            (base + 12 * BLOCK, BLOCK)],
          "head 1 extent list %r" % h1.host.extent_list())
    # An offer the guest declines frees the capacity at once.
    fm.ok("fm-offer", 0, [(base + 20 * BLOCK, BLOCK)])
    events_until(h0, has(DC_EVENT_ADD, base + 20 * BLOCK, BLOCK))
    check(h0.host.add_response([]) == RC_SUCCESS, "head 0 declines")
    fm_offer_accepted(fm, h1, 1, [(base + 20 * BLOCK, BLOCK)])


@scenario
def fm_release_request(ctx):
    """fm-release → the guest's Release Capacity event; nothing moves until
    the guest's 4803h, which frees the capacity for another head; releasing
    capacity the head does not own is refused."""
    fm = ctx.fm
    h0 = ctx.start(0, True)
    h1 = ctx.start(1, False)
    base = h0.host.dc_region0_base()
    fm_offer_accepted(fm, h0, 0, [(base, 4 * BLOCK)])
    fm.ok("fm-release", 0, [(base + BLOCK, 2 * BLOCK)])
    evs = events_until(h0, has(DC_EVENT_RELEASE, base + BLOCK, 2 * BLOCK))
    check(evs == [(DC_EVENT_RELEASE, base + BLOCK, 2 * BLOCK)], "head 0's events %r" % evs)
    check(h0.host.extent_list() == [(base, 4 * BLOCK)], "a release request moved capacity")
    j, _ = fm.refused("fm-offer", 1, [(base + BLOCK, BLOCK)])
    check(refusal(j) == "MHSLD_E_CONFLICT", "still head 0's: %r" % j)
    check(h0.host.release([(base + BLOCK, 2 * BLOCK)]) == RC_SUCCESS, "head 0's 4803h")
    check(sorted(h0.host.extent_list()) == [(base, BLOCK), (base + 3 * BLOCK, BLOCK)],
          "head 0 extent list after its release %r" % h0.host.extent_list())
    fm_offer_accepted(fm, h1, 1, [(base + BLOCK, 2 * BLOCK)])

    j, _ = fm.refused("fm-release", 0, [(base + BLOCK, BLOCK)])
    check(refusal(j) == "MHSLD_E_NOT_OWNER" and
          (j.get("conflict") or {}).get("owner", 1) == 1,
          "release of head 1's capacity through head 0: %r" % j)
    j, _ = fm.refused("fm-release", 0, [(base + 30 * BLOCK, BLOCK)])
    check(refusal(j) == "MHSLD_E_NOT_OWNER", "release of free capacity: %r" % j)
    check(dc_log_empty(h0), "a refused release reached the guest")


@scenario
def fm_forced_release(ctx):
    """fm-force-release of a live head: its access fails at once (no guest
    command in between), its guest gets the Forced Capacity Release event,
    4801h no longer lists the extent, another head claims it."""
    fm = ctx.fm
    h0 = ctx.start(0, True)
    h1 = ctx.start(1, False)
    base = h0.host.dc_region0_base()
    hpa = cfmw_base(h0)
    for q in (h0, h1):
        q.host.commit_hdm(hpa, DC_SIZE)
    fm_offer_accepted(fm, h0, 0, [(base, 2 * BLOCK), (base + 4 * BLOCK, BLOCK)])
    P, X = 0x1111222233334444, 0xDEADBEEFDEADBEEF
    h0.writeq(hpa + 8, P)
    h0.writeq(hpa + 4 * BLOCK + 8, P)
    check(file_q(ctx.dc_mem, 8) == P, "head 0's write before the forced release")

    fm.ok("fm-force-release", 0, [(base, 2 * BLOCK)])
    # At once: the next access, with no mailbox command or event read first.
    h0.writeq(hpa + 8, X)
    check(file_q(ctx.dc_mem, 8) == P, "head 0 wrote after its forced release")
    check(h0.readq(hpa + 8) != P, "head 0 read after its forced release")
    h0.writeq(hpa + 4 * BLOCK + 8, P + 1)
    check(file_q(ctx.dc_mem, 4 * BLOCK + 8) == P + 1, "head 0 lost the extent it kept")
    evs = events_until(h0, has(DC_EVENT_FORCED, base, 2 * BLOCK))
    check(evs == [(DC_EVENT_FORCED, base, 2 * BLOCK)], "head 0's events %r" % evs)
    check(h0.host.extent_list() == [(base + 4 * BLOCK, BLOCK)],
          "4801h after the forced release %r" % h0.host.extent_list())
    fm_offer_accepted(fm, h1, 1, [(base, 2 * BLOCK)])
    h1.writeq(hpa + 8, X)
    check(file_q(ctx.dc_mem, 8) == X, "head 1's write to the reclaimed capacity")
    j, _ = fm.refused("fm-force-release", 0, [(base, BLOCK)])
    check(refusal(j) == "MHSLD_E_NOT_OWNER", "forced release of what head 0 lost: %r" % j)


@scenario
def fm_dead_head_reclaim(ctx):
    """Three heads: SIGKILL one; an offer to it is answered dead at once
    (not after the timeout); fm-reclaim frees what it held (owned and
    pending) while the others run; another head offers and claims it."""
    fm = ctx.fm
    hs = [ctx.start(0, True), ctx.start(1, False), ctx.start(2, False)]
    base = hs[0].host.dc_region0_base()
    fm_offer_accepted(fm, hs[1], 1, [(base + 8 * BLOCK, 2 * BLOCK)])
    fm.ok("fm-offer", 1, [(base + 12 * BLOCK, BLOCK)])  # left pending
    hs[1].kill()
    t0 = time.monotonic()
    j, _ = fm.refused("fm-offer", 1, [(base + 20 * BLOCK, BLOCK)], timeout_ms=30000)
    took = time.monotonic() - t0
    check(refusal(j) == "MHSLD_E_DEAD", "offer to the dead head: %r" % j)
    check(took < 10, "the dead head's answer took %.1f s (timeout 30 s)" % took)
    j, _ = fm.refused("fm-offer", 2, [(base + 8 * BLOCK, BLOCK)])
    check((j.get("conflict") or {}).get("owner") == 1, "dead head's capacity: %r" % j)
    fm_offer_accepted(fm, hs[0], 0, [(base + 30 * BLOCK, BLOCK)])  # others run
    fm.ok("fm-reclaim", 1)
    fm_offer_accepted(fm, hs[2], 2, [(base + 8 * BLOCK, 2 * BLOCK), (base + 12 * BLOCK, BLOCK)])
    check(sorted(hs[2].host.extent_list()) == [(base + 8 * BLOCK, 2 * BLOCK),
                                               (base + 12 * BLOCK, BLOCK)],
          "head 2 extent list %r" % hs[2].host.extent_list())
    check(hs[0].host.extent_list() == [(base + 30 * BLOCK, BLOCK)], "head 0 disturbed")
    # fm-reclaim of a live head is refused.
    rc, j, err = fm.run("fm-reclaim", 0)
    check(rc == EXIT_REFUSED, "fm-reclaim of a live head: exit %d %r %s" % (rc, j, err))
    check(hs[0].host.extent_list() == [(base + 30 * BLOCK, BLOCK)], "live head reclaimed")


@scenario
def fm_killed_mid_request(ctx):
    """FMs killed with SIGKILL while their requests wait in the queue (the
    head stopped with SIGSTOP fills every slot), then the head resumes: it
    executes none of the orphaned requests (its guest never sees them),
    nothing is held for them (another head claims every block they named),
    no slot is stuck (a full queue of concurrent requests is served)."""
    fm = ctx.fm
    h0 = ctx.start(0, True)
    h1 = ctx.start(1, False)
    base = h0.host.dc_region0_base()
    h0.proc.send_signal(signal.SIGSTOP)
    try:
        ps = []
        for i in range(FMQ_SLOTS):
            p = fm.popen("fm-offer", 0, [(base + i * BLOCK, BLOCK)], timeout_ms=60000)
            ps.append(p)
            wait_posted(p)
        for p in ps:
            p.kill()
            p.wait()
    finally:
        h0.proc.send_signal(signal.SIGCONT)
    # Nothing held: head 1 claims every block the killed FMs named.
    fm_offer_accepted(fm, h1, 1, [(base, FMQ_SLOTS * BLOCK)])
    # No slot stuck: a full queue of concurrent requests to head 0 is served.
    ps = [fm.popen("fm-offer", 0, [(base + (20 + i) * BLOCK, BLOCK)], timeout_ms=20000)
          for i in range(FMQ_SLOTS)]
    outs = [(p.wait(timeout=WAIT * 2), p.communicate()) for p in ps]
    for rc, (out, err) in outs:
        check(rc == 0 and json.loads(out).get("answer") == "MHSLD_OK",
              "request after the kills: exit %d %r %r" % (rc, out, err))
    # The head takes the oldest request first, so the orphans were settled
    # before these were answered: its guest saw exactly the new offers.
    got = events_until(h0, lambda evs: len(evs) >= FMQ_SLOTS)
    check(sorted(got) == [(DC_EVENT_ADD, base + (20 + i) * BLOCK, BLOCK)
                          for i in range(FMQ_SLOTS)],
          "head 0's guest saw %r (an orphaned request executed?)" % got)
    check(h0.host.extent_list() == [], "head 0 lists capacity")


def queue_region(ctx, head):
    """(offset, length) of head's request queue in the state file, from the
    engine (state_tool fmq-region)."""
    from scenarios import state_tool
    p = subprocess.run([state_tool(ctx.args), "fmq-region", ctx.state, str(head)],
                       capture_output=True, text=True)
    check(p.returncode == 0, "state_tool fmq-region: %s %s" % (p.stdout, p.stderr))
    off, length = (int(x, 0) for x in p.stdout.split())
    return off, length


@scenario
def fm_queue_garbage(ctx):
    """A co-tenant writes garbage over head 0's queue: requests are refused
    or answered, never acted on wrongly; QEMU keeps running without spinning,
    head 1 is untouched, and head 0 serves valid requests again."""
    ctx.validate = False  # the queue region was scribbled on purpose
    fm = ctx.fm
    h0 = ctx.start(0, True)
    h1 = ctx.start(1, False)
    base = h0.host.dc_region0_base()
    fm_offer_accepted(fm, h0, 0, [(base, BLOCK)])
    off, length = queue_region(ctx, 0)
    rnd = __import__("random").Random(13)
    path = ctx.state_path()
    for rnd_round in range(4):
        junk = bytes(rnd.getrandbits(8) for _ in range(length))
        if rnd_round == 1:
            junk = b"\xff" * length
        with open(path, "r+b") as f:
            f.seek(off)
            f.write(junk)
        # Ring the doorbell the way a poster does: a request through the FM.
        fm.run("fm-offer", 0, [(base + (40 + rnd_round) * BLOCK, BLOCK)], timeout_ms=2000)
        check(h0.alive(), "head 0 died on queue garbage (round %d)" % rnd_round)
        fm_offer_accepted(fm, h1, 1, [(base + (10 + rnd_round) * BLOCK, BLOCK)])
        # A measuring window, not a synchronisation: head 0 left alone with
        # the garbage must stay (nearly) idle, not spin on its queue.
        cpu0 = proc_cpu_seconds(h0.proc.pid)
        t0 = time.monotonic()
        time.sleep(1.0)
        used = proc_cpu_seconds(h0.proc.pid) - cpu0
        check(used < 0.2, "head 0 used %.2f s of CPU in %.1f s alone with queue garbage" %
              (used, time.monotonic() - t0))
        check(h0.alive(), "head 0 died on queue garbage (round %d)" % rnd_round)
        # Whatever garbage the head took for offers reached only head 0's
        # own guest, and only for free capacity: decline them all.
        for t, d, n in h0.host.dc_events():
            if t == DC_EVENT_ADD:
                h0.host.add_response([])
    check(h0.host.extent_list() == [(base, BLOCK)], "head 0's capacity changed: %r" %
          h0.host.extent_list())
    # Head 0 serves again once the queue is whole: its own slots recover,
    # or the garbage leaves it answering; either way bounded, no hang.
    end = time.monotonic() + WAIT
    while True:
        rc, j, err = fm.run("fm-offer", 0, [(base + 50 * BLOCK, BLOCK)], timeout_ms=2000)
        if rc == 0:
            break
        check(time.monotonic() < end, "head 0 never served again: %r %s" % (j, err))
    events_until(h0, has(DC_EVENT_ADD, base + 50 * BLOCK, BLOCK))
    check(h0.host.add_response([(base + 50 * BLOCK, BLOCK)]) == RC_SUCCESS, "head 0 accept")
    qmp_ok(h0.dc_add([(60 * BLOCK, BLOCK)]), "QMP after the garbage")


@scenario
def fm_mbox(ctx):
    """fm-mbox: 5500h answered from the state; 5604h (Initiate DC Add,
    prescriptive) through the engine's dispatcher becomes the guest's Add
    Capacity event; 5605h forced takes capacity away at once with the forced
    event; a command for another host or a host command (48xxh) is refused."""
    fm = ctx.fm
    h0 = ctx.start(0, True)
    h1 = ctx.start(1, False)
    base = h0.host.dc_region0_base()

    def ext(dpa, n):
        return struct.pack("<QQ16sH6x", dpa, n, bytes(16), 0)

    def add_payload(host, extents):
        return (struct.pack("<HBBQ16sI", host, 2, 0, 0, bytes(16), len(extents)) +
                b"".join(ext(d, n) for d, n in extents))

    def release_payload(host, forced, extents):
        return (struct.pack("<HBBQ16sI", host, 1 | (0x10 if forced else 0), 0, 0,
                            bytes(16), len(extents)) + b"".join(ext(d, n) for d, n in extents))

    j = fm.ok("fm-mbox", 0, extra=["5500", "0008"])
    check(j.get("cxl_rc") == 0 and j.get("response_hex", "")[:4] == "0808",
          "5500h through the queue: %r" % j)
    j = fm.ok("fm-mbox", 1, extra=["5604", add_payload(1, [(base + 4 * BLOCK, 2 * BLOCK)]).hex()])
    check(j.get("cxl_rc") == 0, "5604h: %r" % j)
    events_until(h1, has(DC_EVENT_ADD, base + 4 * BLOCK, 2 * BLOCK))
    check(h1.host.add_response([(base + 4 * BLOCK, 2 * BLOCK)]) == RC_SUCCESS, "head 1 accept")
    check(h1.host.extent_list() == [(base + 4 * BLOCK, 2 * BLOCK)], "head 1 extents")
    hpa = cfmw_base(h1)
    h1.host.commit_hdm(hpa, DC_SIZE)
    P = 0x5555AAAA5555AAAA
    h1.writeq(hpa + 4 * BLOCK, P)
    check(file_q(ctx.dc_mem, 4 * BLOCK) == P, "head 1's write")

    rc, j, err = fm.run("fm-mbox", 0, extra=["5604", add_payload(1, [(base, BLOCK)]).hex()])
    check(j and j.get("cxl_rc") == RC_INVALID_INPUT,
          "5604h for host 1 through head 0's queue: exit %d %r %s" % (rc, j, err))
    rc, j, err = fm.run("fm-mbox", 0, extra=["4802", "00" * 8])
    check(rc != 0, "a host command (4802h) through the FM queue: exit %d %r" % (rc, j))
    check(dc_log_empty(h0), "a refused command reached head 0's guest")

    fm.ok("fm-mbox", 1, extra=["5605", release_payload(1, True,
                                                       [(base + 4 * BLOCK, BLOCK)]).hex()])
    h1.writeq(hpa + 4 * BLOCK, P + 1)
    check(file_q(ctx.dc_mem, 4 * BLOCK) == P, "head 1 wrote after the forced 5605h")
    events_until(h1, has(DC_EVENT_FORCED, base + 4 * BLOCK, BLOCK))
    check(h1.host.extent_list() == [(base + 5 * BLOCK, BLOCK)],
          "head 1 extents after the forced 5605h %r" % h1.host.extent_list())
    fm.ok("fm-mbox", 1, extra=["5605", release_payload(1, False,
                                                       [(base + 5 * BLOCK, BLOCK)]).hex()])
    events_until(h1, has(DC_EVENT_RELEASE, base + 5 * BLOCK, BLOCK))
    check(h1.host.release([(base + 5 * BLOCK, BLOCK)]) == RC_SUCCESS, "head 1's 4803h")
    fm_offer_accepted(fm, h0, 0, [(base + 4 * BLOCK, 2 * BLOCK)])


def thread_names(pid):
    names = []
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, t)) as f:
                names.append(f.read().strip())
        except OSError:
            pass  # the thread ended while we looked
    return names


@scenario
def fm_unplug_stops_thread(ctx):
    """Unrealize (hot-unplug: the host powers the root port's slot off) stops
    and joins the serving thread and detaches the head: QEMU keeps running,
    the thread is gone, an FM request is answered dead; the other head
    serves on."""
    fm = ctx.fm
    q = Qemu(ctx.qemu, machine_args(ctx.dc_mem, DC_SIZE, rfc_device(0, ctx.state, True)) +
             ["-name", "debug-threads=on"], ctx.dir, "head0")
    ctx.heads.append(q)
    q.host = Host(q)
    h1 = ctx.start(1, False)
    base = q.host.dc_region0_base()
    check(thread_names(q.proc.pid).count("cxl-mhsld-fm") == 1,
          "threads before the unplug: %r" % thread_names(q.proc.pid))
    fm.ok("fm-offer", 0, [(base, BLOCK)])
    events_until(q, has(DC_EVENT_ADD, base, BLOCK))
    # The root port's PCIe capability; Slot Control: power off, indicator off.
    h = q.host
    ptr = h.cfg_read32(PXB_BUS, 0, 0, 0x34) & 0xFF
    while ptr and h.cfg_read32(PXB_BUS, 0, 0, ptr) & 0xFF != 0x10:
        ptr = (h.cfg_read32(PXB_BUS, 0, 0, ptr) >> 8) & 0xFF
    check(ptr, "no PCIe capability on the root port")
    ctl = h.cfg_read32(PXB_BUS, 0, 0, ptr + 0x18) & 0xFFFF
    h.cfg_write32(PXB_BUS, 0, 0, ptr + 0x18, (ctl & 0xF8FF) | 0x0700)
    # The unplug ran inside that config write: everything below is settled.
    check(q.alive(), "QEMU died unplugging the device")
    names = [x["name"] for x in q.qmp_cmd("qom-list", path="/machine/peripheral")]
    check("cxl-mem0" not in names, "the device is still there: %r" % names)
    check("cxl-mhsld-fm" not in thread_names(q.proc.pid),
          "the serving thread outlived the device: %r" % thread_names(q.proc.pid))
    t0 = time.monotonic()
    j, _ = fm.refused("fm-offer", 0, [(base + 4 * BLOCK, BLOCK)], timeout_ms=30000)
    check(refusal(j) == "MHSLD_E_DEAD" and time.monotonic() - t0 < 10,
          "offer to the unplugged head: %r" % j)
    fm_offer_accepted(fm, h1, 1, [(base + 4 * BLOCK, BLOCK)])
    q.qmp_cmd("query-status")


def median_ms(xs):
    return statistics.median(xs) * 1000


@scenario
def fm_latency(ctx):
    """Latency from a request to the guest's event, same run: fm-offer
    (mhsldctl started → Add Capacity record in the guest's event log) vs QMP
    cxl-add-dynamic-capacity (command sent → record in the log), each offer
    then declined; medians of MHSLD_FM_LATENCY_N (default 50)."""
    fm = ctx.fm
    n = int(os.environ.get("MHSLD_FM_LATENCY_N", "50"))
    h0 = ctx.start(0, True)
    base = h0.host.dc_region0_base()

    def wait_add(dpa):
        while True:
            out = h0.host.mbox_ok(OP_GET_EVENT_RECORDS, bytes([EVENT_LOG_DCD]))
            if struct.unpack_from("<H", out, 0x14)[0]:
                return time.monotonic()

    from scenarios import state_tool
    tool = state_tool(ctx.args)
    fm_ms, fm_wall, qmp_ms, spawn, inproc = [], [], [], [], []
    for i in range(n):
        dpa = base + (i % 64) * BLOCK
        # FM: from starting mhsldctl to the record in the guest's log.
        t0 = time.monotonic()
        p = fm.popen("fm-offer", 0, [(dpa, BLOCK)], timeout_ms=10000)
        t1 = wait_add(dpa)
        out, err = p.communicate(timeout=WAIT)
        t2 = time.monotonic()
        check(p.returncode == 0, "fm-offer %d: %r %r" % (i, out, err))
        fm_ms.append(t1 - t0)
        fm_wall.append(t2 - t0)
        events_until(h0, has(DC_EVENT_ADD, dpa, BLOCK))
        check(h0.host.add_response([]) == RC_SUCCESS, "decline %d" % i)
        # QMP: from sending the command to the record in the guest's log.
        t0 = time.monotonic()
        qmp_ok(h0.dc_add([(dpa - base, BLOCK)]), "QMP add %d" % i)
        t1 = wait_add(dpa)
        qmp_ms.append(t1 - t0)
        events_until(h0, has(DC_EVENT_ADD, dpa, BLOCK))
        check(h0.host.add_response([]) == RC_SUCCESS, "decline QMP %d" % i)
        # The queue's round trip inside one process (the Add Capacity record
        # is logged before the head answers): no process start-up in it.
        p = subprocess.run([tool, "fm-offer-time", ctx.state, "0", str(dpa), str(BLOCK)],
                           capture_output=True, text=True, timeout=WAIT)
        check(p.returncode == 0, "fm-offer-time %d: %r %r" % (i, p.stdout, p.stderr))
        inproc.append(int(p.stdout.split()[2]) / 1e6)
        events_until(h0, has(DC_EVENT_ADD, dpa, BLOCK))
        check(h0.host.add_response([]) == RC_SUCCESS, "decline in-process %d" % i)
        # Baseline: starting mhsldctl on the state and reading it (no request).
        t0 = time.monotonic()
        subprocess.run([fm.exe, "show", ctx.state, "--json"], capture_output=True, check=True)
        spawn.append(time.monotonic() - t0)
    line = ("n=%d  median: FM request->guest event %.2f ms (mhsldctl fm-offer started "
            "-> event seen; its wall time %.2f ms, mhsldctl start-up alone (`show`) "
            "%.2f ms); in-process mhsld_fm_submit -> answer (event logged) %.2f ms; "
            "QMP add->guest event %.2f ms" %
            (n, median_ms(fm_ms), median_ms(fm_wall), median_ms(spawn), median_ms(inproc),
             median_ms(qmp_ms)))
    print("LATENCY " + line)
    return line


# ---- runner -------------------------------------------------------------------

def main():
    def setup(ctx):
        ctx.fm = Fm(ctx.args.mhsldctl or build_mhsldctl(ctx.args), ctx.state)
    return scenarios.suite_main(SCENARIOS, "mhsld-qemu-fm-tests.", "fm scenarios",
                                [("--mhsldctl", "mhsldctl to use (default: built here)")],
                                setup)


if __name__ == "__main__":
    sys.exit(main())
