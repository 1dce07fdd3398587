#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""cxl-mhsld scenarios for shared (tagged) capacity and for a head's clean
exit, with real QEMU processes (-accel qtest, no guest).

usage: scenarios_shared.py --qemu PATH [--cxl-test PATH] [--list] [NAME...]

The fabric manager speaks QMP (cxl-add-dynamic-capacity with
selection-policy enable-shared-access and a tag; cxl-release-dynamic-capacity
with removal-policy tag-based), each host speaks the mailbox through qtest
(the DC event log, 4801h, 4802h, 4803h), as in scenarios.py, whose harness
and runner this file reuses.  Prints one line per scenario and a final
"N passed, N failed" line; exits non-zero if any scenario failed.
"""

import os
import re
import signal
import struct
import subprocess
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenarios  # noqa: E402
from scenarios import Check, check, qmp_ok, qmp_refused, state_tool  # noqa: E402
from qemu_harness import (BLOCK, DC_EVENT_ADD_CAPACITY,  # noqa: E402
                          DC_EVENT_RELEASE_CAPACITY, EVENT_LOG_DCD, OP_ADD_DC_RESPONSE,
                          OP_CLEAR_EVENT_RECORDS, OP_GET_DC_EXTENT_LIST, OP_GET_EVENT_RECORDS,
                          OP_RELEASE_DC, RC_INVALID_EXTENT_LIST, RC_INVALID_INPUT,
                          RC_INVALID_PA, RC_INVALID_PAYLOAD_LENGTH, RC_SUCCESS)
from attack import ext_payload  # noqa: E402

SHARED = []
SHARABLE = ",mhd-sharable-regions=1"
PATH = "/machine/peripheral/cxl-mem0"
TAG = "5a1d0c3e-8f21-4b6a-9e07-3c2d1b0a9f18"
TAG2 = "0b7e2f44-1c9d-4e3a-8b56-7a6f5e4d3c2b"


def shared_scenario(fn):
    SHARED.append(fn)
    return fn


def tag_bytes(tag):
    """The 16 bytes of a tag on the wire: the UUID in its string's order."""
    return uuid.UUID(tag).bytes


# ---- the fabric manager (QMP) ----------------------------------------------


def share(q, extents, tag, region=0):
    args = {"path": PATH, "host-id": 0, "selection-policy": "enable-shared-access",
            "region": region, "extents": [{"offset": o, "len": n} for o, n in extents]}
    if tag is not None:
        args["tag"] = tag
    return q.qmp_raw("cxl-add-dynamic-capacity", **args)


def release_tag(q, tag, extents=(), region=0):
    args = {"path": PATH, "host-id": 0, "removal-policy": "tag-based",
            "region": region, "extents": [{"offset": o, "len": n} for o, n in extents]}
    if tag is not None:
        args["tag"] = tag
    return q.qmp_raw("cxl-release-dynamic-capacity", **args)


# ---- the host (mailbox over qtest) -------------------------------------------


def events(q):
    """Read and clear the DC event log: [(type, dpa, len, tag, seq)]."""
    out_ev = []
    while True:
        out = q.host.mbox_ok(OP_GET_EVENT_RECORDS, bytes([EVENT_LOG_DCD]))
        count = struct.unpack_from("<H", out, 0x14)[0]
        handles = []
        for i in range(count):
            rec = out[0x20 + 0x80 * i: 0x20 + 0x80 * (i + 1)]
            handles.append(struct.unpack_from("<H", rec, 0x14)[0])
            dpa, length = struct.unpack_from("<QQ", rec, 0x38)
            tag = bytes(rec[0x48:0x58])
            seq = struct.unpack_from("<H", rec, 0x58)[0]
            out_ev.append((rec[0x30], dpa, length, tag, seq))
        if handles:
            clear = struct.pack("<BBB3x", EVENT_LOG_DCD, 0, len(handles))
            clear += b"".join(struct.pack("<H", h) for h in handles)
            q.host.mbox_ok(OP_CLEAR_EVENT_RECORDS, clear)
        if not count or not out[0] & 0x2:
            return out_ev


def extents_4801(q):
    """(generation, [(dpa, len, tag, seq)]) from 4801h."""
    out = q.host.mbox_ok(OP_GET_DC_EXTENT_LIST, struct.pack("<II", 64, 0))
    n, total, gen = struct.unpack_from("<III", out, 0)
    check(n == total, "4801h returned %d of %d extents" % (n, total))
    exts = []
    for i in range(n):
        e = out[0x10 + 0x28 * i: 0x10 + 0x28 * (i + 1)]
        dpa, length = struct.unpack_from("<QQ", e, 0)
        exts.append((dpa, length, bytes(e[0x10:0x20]), struct.unpack_from("<H", e, 0x20)[0]))
    return gen, exts


def mbox(q, opcode, payload):
    return q.host.mbox_cmd(opcode, payload)[0]


def dump(ctx):
    """Every head's owned, pending and shared extents in the state."""
    p = subprocess.run([state_tool(ctx.args), "serve", ctx.state], input="dump\n",
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 0 and not p.stdout.startswith("error"),
          "state dump: %s %s" % (p.stdout, p.stderr))
    return p.stdout.strip()


def start_sharable(ctx, n, extra=""):
    return [ctx.start(i, i == 0, extra=SHARABLE + extra) for i in range(n)]


def add_event(q, dpa, length, tag):
    """The host finds exactly one Add Capacity event for [dpa, +length) with
    the tag and shared sequence number 0 (the first extent of the tag)."""
    ev = events(q)
    want = [(DC_EVENT_ADD_CAPACITY, dpa, length, tag_bytes(tag), 0)]
    check(ev == want, "%s: DC events %r, expected %r" % (q.name, ev, want))


def lists(q, want, what):
    gen, exts = extents_4801(q)
    check(exts == want, "%s: %s: 4801h lists %r, expected %r" % (q.name, what, exts, want))
    return gen


# ---------------------------------------------------------------------------


@shared_scenario
def shared_three_heads_tag(ctx):
    """Three heads share one extent under a tag (QMP enable-shared-access on
    each head's QEMU): each host sees the tag and sequence number in its
    Add Capacity event and in 4801h and accepts with 4802h; a fourth head's
    exclusive add names the sharers; tag-based release on each head; the
    last sharer's release frees the blocks for an exclusive claim."""
    hs = start_sharable(ctx, 4)
    base = hs[0].host.dc_region0_base()
    dpa, length = base + 8 * BLOCK, 4 * BLOCK
    shared = (dpa, length, tag_bytes(TAG), 0)
    for q in hs[:3]:
        gen0 = lists(q, [], "before the share")
        qmp_ok(share(q, [(8 * BLOCK, 4 * BLOCK)], TAG), "%s: QMP share" % q.name)
        add_event(q, dpa, length, TAG)
        rc = q.host.add_response([(dpa, length)])
        check(rc == RC_SUCCESS, "%s: 4802h accepting the shared extent: rc 0x%x" % (q.name, rc))
        gen1 = lists(q, [shared], "after accepting")
        check(gen1 != gen0, "%s: 4801h generation did not change (%d)" % (q.name, gen1))
    d = dump(ctx)
    check("h3 gen" in d, "dump %r" % d)

    desc = qmp_refused(hs[3].dc_add([(9 * BLOCK, BLOCK)]), "exclusive add on shared capacity",
                       "shared by heads 0,1,2", TAG)
    qmp_refused(share(hs[3], [(8 * BLOCK, 2 * BLOCK)], TAG), "share of part of the extent",
                "shared by heads 0,1,2")
    qmp_refused(share(hs[3], [(8 * BLOCK, 4 * BLOCK)], TAG2), "share under another tag",
                "shared by heads 0,1,2", TAG)
    qmp_refused(share(hs[3], [(6 * BLOCK, 4 * BLOCK)], TAG2),
                "share overlapping the extent's start", "shared by heads 0,1,2", TAG)
    check(dump(ctx) == d, "refused adds changed the state")
    # Malformed QMP: no tag, a tag that is not a UUID, the null UUID,
    # tag-based release with extents or with an unknown tag.
    qmp_refused(share(hs[3], [(8 * BLOCK, 4 * BLOCK)], None), "share without a tag",
                "tag is required")
    qmp_refused(share(hs[3], [(8 * BLOCK, 4 * BLOCK)], "tag"), "share with a bad tag",
                "not a UUID")
    qmp_refused(share(hs[3], [(8 * BLOCK, 4 * BLOCK)], str(uuid.UUID(int=0))),
                "share with the null tag", "null UUID")
    qmp_refused(release_tag(hs[0], TAG, [(8 * BLOCK, 4 * BLOCK)]),
                "tag-based release with extents", "empty extent list")
    qmp_refused(release_tag(hs[0], TAG2), "tag-based release of an unknown tag",
                "no extent")
    qmp_refused(release_tag(hs[3], TAG), "tag-based release on a non-sharer", "no extent")
    check(dump(ctx) == d, "refused QMP commands changed the state")

    for i, q in enumerate(hs[:3]):
        qmp_ok(release_tag(q, TAG), "%s: tag-based release" % q.name)
        ev = events(q)
        check(ev == [(DC_EVENT_RELEASE_CAPACITY, dpa, length, tag_bytes(TAG), 0)],
              "%s: release events %r" % (q.name, ev))
        check(hs[3].dc_add([(9 * BLOCK, BLOCK)]).get("error") is not None,
              "exclusive add while heads still share")
        rc = q.host.release([(dpa, length)])
        check(rc == RC_SUCCESS, "%s: 4803h of the shared extent: rc 0x%x" % (q.name, rc))
        lists(q, [], "after its release")
        for o in hs[i + 1:3]:
            lists(o, [shared], "after %s left" % q.name)
        if i < 2:
            rest = ",".join(str(k) for k in range(i + 1, 3))
            qmp_refused(hs[3].dc_add([(9 * BLOCK, BLOCK)]), "exclusive add after %s left"
                        % q.name, "shared by head" + ("s " if i == 0 else " ") + rest)
    rc, _ = scenarios.offer_and_accept(hs[3], [(8 * BLOCK, 4 * BLOCK)])
    check(rc == RC_SUCCESS, "the last sharer's release freed the blocks: rc 0x%x" % rc)
    return "3 sharers, 4801h tag+seq, %s" % desc.split(": ", 1)[-1]


@shared_scenario
def shared_tag_sequence(ctx):
    """A tag over two extents, offered to two heads in one command each: the
    Shared Extent Sequence is the extent's position in the command (0, 1),
    the same in each head's event records and 4801h (listed in DPA order,
    which is not the sequence order here).  A third head offering the same
    tag and ranges in the other order is refused naming the sequences, and
    so is one whose third extent is out of order after two that fit (the
    extent it joined and the one it created are undone); neither changes the
    events, 4801h or the state (but for the second, head 2's list
    generation); the right order then joins."""
    hs = start_sharable(ctx, 3)
    base = hs[0].host.dc_region0_base()
    first, second = (12 * BLOCK, BLOCK), (8 * BLOCK, 2 * BLOCK)  # seq 0, seq 1
    d0, l0 = base + first[0], first[1]
    d1, l1 = base + second[0], second[1]
    t = tag_bytes(TAG)
    want = [(d1, l1, t, 1), (d0, l0, t, 0)]
    for q in hs[:2]:
        qmp_ok(share(q, [first, second], TAG), "%s: QMP share of two extents" % q.name)
        ev = events(q)
        check(ev == [(DC_EVENT_ADD_CAPACITY, d0, l0, t, 0),
                     (DC_EVENT_ADD_CAPACITY, d1, l1, t, 1)],
              "%s: DC events %r" % (q.name, ev))
        lists(q, want, "before the host's response")
        rc = q.host.add_response([(d0, l0), (d1, l1)])
        check(rc == RC_SUCCESS, "%s: 4802h accepting both: rc 0x%x" % (q.name, rc))
        lists(q, want, "after accepting")

    h2 = hs[2]
    before = [extents_4801(q) for q in hs]
    d = dump(ctx)
    desc = qmp_refused(share(h2, [second, first], TAG),
                       "the same tag and ranges, sequences swapped",
                       "Shared Extent Sequence 0", "shared by heads 0,1", "with sequence 1",
                       TAG)
    check(events(h2) == [], "the refused share sent events")
    after = [extents_4801(q) for q in hs]
    check(after == before, "the refused share changed 4801h: %r, was %r" % (after, before))
    check(dump(ctx) == d, "the refused share changed the state: %r, was %r" % (dump(ctx), d))
    # Refused at its third extent: the extent it joined is left and the one
    # it created is dropped.  Only head 2's list generation moves (with the
    # join and leave undone, as for any share refused after its first extent).
    qmp_refused(share(h2, [first, (20 * BLOCK, BLOCK), second], TAG),
                "a third extent out of order", "Shared Extent Sequence 2",
                "with sequence 1")
    check(events(h2) == [], "the refused share sent events")
    after = [extents_4801(q) for q in hs]
    check(after[:2] == before[:2] and after[2][1] == [],
          "the refused share changed 4801h: %r, was %r" % (after, before))
    nogen = re.compile(r"\bh2 gen \d+")
    check(nogen.sub("h2", dump(ctx)) == nogen.sub("h2", d),
          "the refused share changed the state: %r, was %r" % (dump(ctx), d))
    # The block the refused command created for a moment is free again.
    rc, _ = scenarios.offer_and_accept(h2, [(20 * BLOCK, BLOCK)])
    check(rc == RC_SUCCESS, "the undone extent's block is free: rc 0x%x" % rc)
    # The right order still joins.
    qmp_ok(share(h2, [first, second], TAG), "head 2 in the right order")
    ev = events(h2)
    check([e[4] for e in ev] == [0, 1], "head 2 events %r" % ev)
    lists(h2, [(d1, l1, t, 1), (d0, l0, t, 0), (base + 20 * BLOCK, BLOCK, bytes(16), 0)],
          "head 2 joined")
    return "seq 0,1 in events and 4801h; %s" % desc


@shared_scenario
def shared_guest_response(ctx):
    """The host's side of a shared offer: an exclusive offer made before it
    is answered first; malformed 4802h and 4803h are refused by the codec
    and change nothing; an empty 4802h declines (the head leaves); a 4803h
    naming the extent releases it; the last one frees the blocks."""
    h0, h1 = start_sharable(ctx, 2)
    base = h0.host.dc_region0_base()
    dpa, length = base + 16 * BLOCK, 2 * BLOCK
    # Head 0: an exclusive offer, then a shared one: answered in that order.
    qmp_ok(h0.dc_add([(0, BLOCK)]), "head 0 exclusive offer")
    qmp_ok(share(h0, [(16 * BLOCK, 2 * BLOCK)], TAG), "head 0 share")
    ev = events(h0)
    check([e[0] for e in ev] == [DC_EVENT_ADD_CAPACITY] * 2, "head 0 events %r" % ev)
    rc = h0.host.add_response([(dpa, length)])
    check(rc == RC_INVALID_PA, "4802h naming the shared extent while the exclusive offer "
          "is older: rc 0x%x" % rc)
    check(h0.host.add_response([(base, BLOCK)]) == RC_SUCCESS, "head 0 exclusive accept")
    check(h0.host.add_response([(dpa, length)]) == RC_SUCCESS, "head 0 shared accept")
    lists(h0, [(base, BLOCK, bytes(16), 0), (dpa, length, tag_bytes(TAG), 0)], "head 0")

    qmp_ok(share(h1, [(16 * BLOCK, 2 * BLOCK)], TAG), "head 1 joins")
    add_event(h1, dpa, length, TAG)
    gen, before = extents_4801(h1)
    d = dump(ctx)
    bad = [
        ("count beyond the payload", ext_payload([(dpa, length)], count=2),
         RC_INVALID_PAYLOAD_LENGTH),
        ("reserved flag bits", ext_payload([(dpa, length)], flags=0x2), RC_INVALID_INPUT),
        ("reserved header bytes", ext_payload([(dpa, length)], rsvd=b"\1\0\0"),
         RC_INVALID_INPUT),
        ("short payload", ext_payload([(dpa, length)])[:20], RC_INVALID_PAYLOAD_LENGTH),
        ("unaligned extent", ext_payload([(dpa + 4096, length)]), RC_INVALID_EXTENT_LIST),
        ("part of the extent", ext_payload([(dpa, BLOCK)]), RC_INVALID_PA),
        ("another range", ext_payload([(base + 40 * BLOCK, BLOCK)]), RC_INVALID_PA),
        ("the extent twice", ext_payload([(dpa, length), (dpa, length)]),
         RC_INVALID_EXTENT_LIST),
    ]
    for what, payload, want in bad:
        rc = mbox(h1, OP_ADD_DC_RESPONSE, payload)
        check(rc == want, "4802h %s: rc 0x%x, expected 0x%x" % (what, rc, want))
        check(extents_4801(h1) == (gen, before), "4802h %s changed 4801h" % what)
        check(dump(ctx) == d, "4802h %s changed the state" % what)
    # Declining (an empty response): head 1 leaves, head 0 keeps it.
    check(h1.host.add_response([]) == RC_SUCCESS, "head 1 declines")
    lists(h1, [], "head 1 after declining")
    lists(h0, [(base, BLOCK, bytes(16), 0), (dpa, length, tag_bytes(TAG), 0)],
          "head 0 after head 1 declined")
    qmp_refused(h1.dc_add([(16 * BLOCK, BLOCK)]), "head 1 exclusive add", "shared by head 0")

    # Malformed 4803h on head 0: refused, nothing changes.
    gen, before = extents_4801(h0)
    d = dump(ctx)
    for what, payload, want in [
            ("part of the shared extent", ext_payload([(dpa, BLOCK)]), RC_INVALID_PA),
            ("the shared extent and more", ext_payload([(dpa, length + BLOCK)]), RC_INVALID_PA),
            ("count 0", ext_payload([]), RC_INVALID_INPUT),
            ("reserved flag bits", ext_payload([(dpa, length)], flags=0x4), RC_INVALID_INPUT)]:
        rc = mbox(h0, OP_RELEASE_DC, payload)
        check(rc == want, "4803h %s: rc 0x%x, expected 0x%x" % (what, rc, want))
        check(extents_4801(h0) == (gen, before), "4803h %s changed 4801h" % what)
        check(dump(ctx) == d, "4803h %s changed the state" % what)
    # The guest releases it on its own (4803h): the last sharer frees it.
    check(h0.host.release([(dpa, length)]) == RC_SUCCESS, "head 0 releases the shared extent")
    lists(h0, [(base, BLOCK, bytes(16), 0)], "head 0 after its release")
    rc, _ = scenarios.offer_and_accept(h1, [(16 * BLOCK, 2 * BLOCK)])
    check(rc == RC_SUCCESS, "head 1 claims the freed blocks: rc 0x%x" % rc)


@shared_scenario
def shared_sigkill_sharer(ctx):
    """A sharer killed with SIGKILL: the others keep the extent (and memory
    access through it); the dead head stays a sharer until it restarts,
    whose recovery leaves the extent; the blocks free when the last
    sharer leaves."""
    hs = start_sharable(ctx, 4)
    base = hs[0].host.dc_region0_base()
    dpa, length = base + 4 * BLOCK, 2 * BLOCK
    for q in hs[:3]:
        qmp_ok(share(q, [(4 * BLOCK, 2 * BLOCK)], TAG), "%s: share" % q.name)
        add_event(q, dpa, length, TAG)
        check(q.host.add_response([(dpa, length)]) == RC_SUCCESS, "%s: accept" % q.name)
    # Heads 0 and 2 share the memory through their HDM decoders.
    hpa = scenarios.cfmw_base(hs[2])
    for q in (hs[0], hs[2]):
        q.host.commit_hdm(hpa, scenarios.DC_SIZE)
    P, Q, X = 0x5348415245443031, 0x5348415245443032, 0xDEADBEEFDEADBEEF
    off = 4 * BLOCK + 0x80
    hs[2].writeq(hpa + off, P)
    check(scenarios.file_q(ctx.dc_mem, off) == P, "head 2's write to shared memory")
    check(hs[0].readq(hpa + off) == P, "head 0 reads what head 2 wrote")
    hs[1].kill()
    qmp_refused(hs[3].dc_add([(4 * BLOCK, BLOCK)]), "exclusive add with a dead sharer",
                "shared by heads 0,1,2")
    for q in (hs[0], hs[2]):
        lists(q, [(dpa, length, tag_bytes(TAG), 0)], "after head 1 was killed")
    hs[0].writeq(hpa + off, Q)
    check(hs[2].readq(hpa + off) == Q and scenarios.file_q(ctx.dc_mem, off) == Q,
          "heads 0 and 2 lost the shared memory when head 1 died")
    h1b = ctx.start(1, False, extra=SHARABLE)
    lists(h1b, [], "head 1 restarted")
    qmp_refused(hs[3].dc_add([(4 * BLOCK, BLOCK)]), "exclusive add after head 1's recovery",
                "shared by heads 0,2")
    # Head 0 is asked by tag, head 2 by extent: both events carry the tag.
    qmp_ok(release_tag(hs[0], TAG), "head 0: tag-based release")
    qmp_ok(hs[2].dc_release([(4 * BLOCK, 2 * BLOCK)]), "head 2: prescriptive release")
    for q in (hs[0], hs[2]):
        ev = events(q)
        check(ev == [(DC_EVENT_RELEASE_CAPACITY, dpa, length, tag_bytes(TAG), 0)],
              "%s: release events %r" % (q.name, ev))
        check(q.host.release([(dpa, length)]) == RC_SUCCESS, "%s: 4803h" % q.name)
    hs[2].writeq(hpa + off, X)
    check(scenarios.file_q(ctx.dc_mem, off) == Q, "a write after the release landed")
    rc, _ = scenarios.offer_and_accept(hs[3], [(4 * BLOCK, 2 * BLOCK)])
    check(rc == RC_SUCCESS, "blocks free after the last sharer left: rc 0x%x" % rc)


@shared_scenario
def shared_reset_leaves(ctx):
    """A system reset of a sharer leaves its shared extents (the others keep
    theirs) and forgets its unanswered shared offers."""
    h0, h1 = start_sharable(ctx, 2)
    base = h0.host.dc_region0_base()
    for q in (h0, h1):
        qmp_ok(share(q, [(0, 2 * BLOCK)], TAG), "%s: share" % q.name)
        add_event(q, base, 2 * BLOCK, TAG)
        check(q.host.add_response([(base, 2 * BLOCK)]) == RC_SUCCESS, "%s: accept" % q.name)
    qmp_ok(share(h1, [(8 * BLOCK, BLOCK)], TAG2), "head 1: a second share, not answered")
    h1.qmp_cmd("system_reset")
    h1.wait_event("RESET")
    h1.host = scenarios.Host(h1)  # the reset cleared the BARs
    lists(h1, [], "head 1 after reset")
    lists(h0, [(base, 2 * BLOCK, tag_bytes(TAG), 0)], "head 0 after head 1's reset")
    rc = h1.host.add_response([(base + 8 * BLOCK, BLOCK)])
    check(rc == RC_INVALID_INPUT, "4802h after the reset answered a forgotten offer: rc 0x%x"
          % rc)
    check(scenarios.offer_and_accept(h0, [(8 * BLOCK, BLOCK)])[0] == RC_SUCCESS,
          "the reset head's unanswered share was freed")
    qmp_refused(h1.dc_add([(0, BLOCK)]), "exclusive add on head 0's shared extent",
                "shared by head 0 ")


@shared_scenario
def clean_exit_frees_offers(ctx):
    """QEMU exiting cleanly (QMP quit, SIGTERM) frees the offers its host
    never accepted (exclusive and shared) at once; accepted capacity is kept
    (mhd-exit-policy=keep, the default) or freed (release); a kill keeps
    everything until the head restarts."""
    h0 = ctx.start(0, True, extra=SHARABLE)
    h1 = ctx.start(1, False, extra=SHARABLE)
    h2 = ctx.start(2, False, extra=SHARABLE + ",mhd-exit-policy=release")
    h3 = ctx.start(3, False, extra=SHARABLE)
    check(scenarios.offer_and_accept(h0, [(0, 2 * BLOCK)])[0] == RC_SUCCESS, "head 0 accept")
    qmp_ok(h0.dc_add([(4 * BLOCK, BLOCK)]), "head 0 exclusive offer, never answered")
    qmp_ok(share(h0, [(8 * BLOCK, 2 * BLOCK)], TAG), "head 0 shared offer, never answered")
    check(scenarios.offer_and_accept(h2, [(16 * BLOCK, BLOCK)])[0] == RC_SUCCESS,
          "head 2 accept")
    qmp_ok(h2.dc_add([(20 * BLOCK, BLOCK)]), "head 2 offer, never answered")
    # Head 3 is killed with an offer pending: it stays held.
    qmp_ok(h3.dc_add([(24 * BLOCK, BLOCK)]), "head 3 offer")
    h3.kill()
    rc = h0.quit()  # QMP quit
    check(rc == 0, "head 0 quit rc %s" % rc)
    h2.proc.send_signal(signal.SIGTERM)  # a clean exit too
    rc = h2.proc.wait(timeout=30)
    check(rc == 0, "head 2 exit on SIGTERM rc %s" % rc)
    check(scenarios.offer_and_accept(h1, [(4 * BLOCK, BLOCK), (8 * BLOCK, 2 * BLOCK),
                                          (20 * BLOCK, BLOCK)])[0] == RC_SUCCESS,
          "head 1 takes the offers the exited heads never accepted")
    qmp_refused(h1.dc_add([(0, BLOCK)]), "head 0's accepted capacity (keep)", "owned by head 0")
    check(scenarios.offer_and_accept(h1, [(16 * BLOCK, BLOCK)])[0] == RC_SUCCESS,
          "head 2's accepted capacity was released on exit (mhd-exit-policy=release)")
    qmp_refused(h1.dc_add([(24 * BLOCK, BLOCK)]), "killed head 3's offer", "head 3")


@shared_scenario
def shared_properties(ctx):
    """mhd-sharable-regions is part of the geometry: heads must agree; a
    share on a region that is not sharable, bad property values and shared
    access on plain cxl-type3 are refused clearly."""
    def fail(extra, needle, head=1, init=False):
        rc, err = ctx.expect_failure(head, init, extra=extra)
        check(rc != 0 and needle in err, "%s: rc %d, %r" % (extra, rc, err[-400:]))

    fail(",mhd-sharable-regions=2", "beyond num-dc-regions", head=0, init=True)
    fail(",mhd-exit-policy=maybe", "expected keep or release", head=0, init=True)
    h0 = ctx.start(0, True)
    fail(SHARABLE, "sharable")  # head 1 disagrees with head 0's geometry
    desc = qmp_refused(share(h0, [(0, BLOCK)], TAG), "share on an exclusive region",
                       "not sharable")
    check(dump(ctx).count("[]") == 3 * 8, "a refused share left something in the state")
    t3 = scenarios.Qemu(ctx.qemu, scenarios.machine_args(
        ctx.dc_mem + ".t3", scenarios.DC_SIZE,
        "cxl-type3,bus=rp0,num-dc-regions=1,volatile-dc-memdev=mem0,id=cxl-mem0"),
        ctx.dir, "type3")
    ctx.heads.append(t3)
    qmp_refused(share(t3, [(0, BLOCK)], TAG), "shared access on cxl-type3",
                "Selection policy not supported")
    return desc


def main():
    return scenarios.suite_main(SHARED, "mhsld-qemu-shared.", "shared scenarios")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Check as e:
        print("FAIL %s" % e)
        sys.exit(1)
