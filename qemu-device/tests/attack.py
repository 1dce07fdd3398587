#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Guest-side attack and conformance suite for QEMU CXL type 3 devices.

usage: attack.py --qemu PATH --device {cxl-mhsld,cxl-type3}
                 [--seed N] [--fuzz-seconds S] [--mhsldctl PATH] [--verbose]

The harness plays a malicious guest kernel: it drives the device's mailbox
registers directly over the qtest protocol (no guest OS), with the fabric
manager's offers arriving over QMP, and for cxl-mhsld a second head (a second
QEMU process) holding capacity of its own.

Phase 1, the catalogue: for every opcode in the Command Effects Log the
device reports, payload lengths 0, 1, one short of the command's length,
exact, one over, the payload area's maximum and beyond it (LENGTH up to
0xFFFFF); for the Dynamic Capacity commands, counts 0/1/huge/beyond the
payload, start indices past the end, wrapping, unaligned, zero-length,
out-of-region, overlapping and duplicated extents, never-offered,
twice-accepted, twice-released and another head's capacity, reserved bits,
the More flag, and interleavings with QMP offers and release requests; for
Clear Event Records and Get Log the cases the specification fixes.

Phase 2: seeded random mutations of valid requests, with QMP offers and
well-formed answers interleaved, for a bounded time.

After every request: QEMU alive, the doorbell (busy bit) clear, a return
code the specification defines (the one it fixes, where it does), a failed
request (or a query, even a successful one) changed nothing (the extent list and generation from 4801h, the DC
event log, and for cxl-mhsld every head's owned, pending and shared extents
in the shared state), and for cxl-mhsld the shared state valid
(mhsld_validate, what `mhsldctl verify` runs; mhsldctl itself at the end
with --mhsldctl).

Prints one line per finding (a finding seen again in phase 2 is counted,
not printed again) and ends with "N findings, M requests".  Exit status 1 if
there is any finding, 2 on a harness failure.
"""

import argparse
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qemu_harness import (BLOCK, MiB, Host, Qemu, HarnessError,  # noqa: E402
                          machine_args, rfc_device)

DC_SIZE = 256 * MiB
NBLOCKS = DC_SIZE // BLOCK
PAYLOAD = 2048

# CXL r3.1 Table 8-34
SUCCESS = 0x00
BG_STARTED = 0x01
INVALID_INPUT = 0x02
UNSUPPORTED = 0x03
INVALID_HANDLE = 0x0E
INVALID_PA = 0x0F
INVALID_PAYLOAD_LENGTH = 0x16
INVALID_LOG = 0x17
INVALID_EXTENT_LIST = 0x1E
RC_MAX = 0x20  # Request Abort Not Supported: the last code r3.1 defines
ERRORS = frozenset(range(0x02, RC_MAX + 1))  # any refusal

# Command Effects Log, CXL r3.1 Table 8-65: 0da9c0b5-bf41-4b78-8f79-96b1623b3f17
CEL_UUID = bytes.fromhex("0da9c0b5bf414b788f7996b1623b3f17")

# Input payload length of each command that has a fixed one (QEMU's tables
# and libmhsld's agree on these); None: variable, checked by the command.
FIXED_LEN = {
    0x0100: 1, 0x0101: None, 0x0102: 0, 0x0103: None,
    0x0200: 0, 0x0201: None, 0x0202: 2,
    0x0300: 0, 0x0301: 8,
    0x0400: 0, 0x0401: 0x18,
    0x0500: 8, 0x0501: 0x15, 0x0502: None,
    0x4000: 0, 0x4100: 0, 0x4102: 8, 0x4103: None,
    0x4300: 16, 0x4301: 8, 0x4302: 72, 0x4303: 16, 0x4304: 17, 0x4305: 0,
    0x4400: 0, 0x4500: 0,
    0x4800: 2, 0x4801: 8, 0x4802: None, 0x4803: None,
    0x5500: 2, 0x5501: 2,
}
# Minimum (header) length of the variable ones.
VAR_HDR = {0x0101: 6, 0x0103: 4, 0x0201: 0x80, 0x0502: 0x20, 0x4103: 8,
           0x4802: 8, 0x4803: 8}
# Queries: they change nothing observable even when they succeed.
QUERIES = {0x0100, 0x0102, 0x0200, 0x0300, 0x0400, 0x0401, 0x0500, 0x0501, 0x4000,
           0x4100, 0x4102, 0x4300, 0x4303, 0x4500, 0x4800, 0x4801, 0x5500, 0x5501}
# Background operations: the suite waits for them (virtual clock steps).
BACKGROUND = {0x0201, 0x0202, 0x4304, 0x4400}

OP_EVENTS_GET, OP_EVENTS_CLEAR = 0x0100, 0x0101
OP_LOGS_SUPPORTED, OP_LOG_GET = 0x0400, 0x0401
OP_DC_CONFIG, OP_DC_LIST, OP_DC_ADD_RSP, OP_DC_RELEASE = 0x4800, 0x4801, 0x4802, 0x4803
EV_DCD = 4


class Fatal(Exception):
    """QEMU died or hung, or the harness cannot go on."""


def ext_payload(extents, flags=0, count=None, rsvd=b"\0\0\0", ext_rsvd=None):
    """4802h/4803h payload: count, flags, extents (dpa, len)."""
    n = len(extents) if count is None else count
    p = struct.pack("<IB", n & 0xFFFFFFFF, flags) + rsvd
    for i, (d, ln) in enumerate(extents):
        r = ext_rsvd[i] if ext_rsvd else bytes(8)
        p += struct.pack("<QQ", d & (2**64 - 1), ln & (2**64 - 1)) + r
    return p


class Suite:
    def __init__(self, args):
        self.args = args
        self.kind = args.device
        self.mhsld = self.kind == "cxl-mhsld"
        self.rng = random.Random(args.seed)
        self.requests = 0
        self.findings = {}  # key -> [count, first message]
        self.case = "setup"
        self.dir = tempfile.mkdtemp(prefix="mhsld-attack.")
        self.state = "mhsld-attack-%d" % os.getpid()
        self.heads = []
        self.st = None
        self.outcomes = {}  # (opcode, rc) -> count, phase 2

    # ---- set-up -------------------------------------------------------------

    def start(self):
        dc_mem = os.path.join(self.dir, "dc-mem")
        if self.mhsld:
            dev0 = rfc_device(0, self.state, True, ",mhd-heads=2")
        else:
            dev0 = ("cxl-type3,bus=rp0,num-dc-regions=1,volatile-dc-memdev=mem0,"
                    "id=cxl-mem0,sn=1")
        self.q = Qemu(self.args.qemu, machine_args(dc_mem, DC_SIZE, dev0), self.dir, "target")
        self.heads.append(self.q)
        self.h = Host(self.q)
        self.q.host = self.h
        self.mbox = self.h.mbox
        self.base = self._dc_base()
        self.other = []  # another head's capacity (absolute DPA ranges)
        if self.mhsld:
            self.st = subprocess.Popen([self.args.state_tool, "serve", self.state],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       text=True)
            q1 = Qemu(self.args.qemu, machine_args(dc_mem, DC_SIZE, rfc_device(
                1, self.state, False, ",mhd-heads=2")), self.dir, "head1")
            self.heads.append(q1)
            q1.host = Host(q1)
            # Head 1 owns blocks 100..103 and has blocks 110..111 pending.
            r = q1.dc_add([(100 * BLOCK, 4 * BLOCK)])
            if "error" in r:
                raise Fatal("head 1 add: %s" % r["error"])
            if q1.host.accept_offer()[0] != SUCCESS:
                raise Fatal("head 1 could not accept its offer")
            r = q1.dc_add([(110 * BLOCK, 2 * BLOCK)])
            if "error" in r:
                raise Fatal("head 1 second add: %s" % r["error"])
            self.other = [(self.base + 100 * BLOCK, 4 * BLOCK),
                          (self.base + 110 * BLOCK, 2 * BLOCK)]
        self.cel = self._read_cel()

    def stop(self):
        for q in self.heads:
            try:
                q.quit()
            except Exception:
                pass
        if self.st:
            self.st.stdin.close()
            self.st.wait(timeout=30)
        if self.mhsld:
            try:
                os.unlink("/dev/shm/" + self.state)
            except FileNotFoundError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def _dc_base(self):
        rc, out = self.h.mbox_cmd(OP_DC_CONFIG, bytes([1, 0]))
        if rc != SUCCESS:
            raise Fatal("4800h failed: 0x%x" % rc)
        return struct.unpack_from("<Q", out, 8)[0]

    def _read_cel(self):
        rc, out = self.h.mbox_cmd(OP_LOGS_SUPPORTED)
        if rc != SUCCESS or len(out) < 0x1C or out[8:24] != CEL_UUID:
            raise Fatal("0400h: rc 0x%x, no CEL" % rc)
        size = struct.unpack_from("<I", out, 24)[0]
        self.cel_size = size
        rc, out = self.h.mbox_cmd(OP_LOG_GET, CEL_UUID + struct.pack("<II", 0, size))
        if rc != SUCCESS or len(out) != size:
            raise Fatal("0401h of the whole CEL: rc 0x%x, %d bytes" % (rc, len(out)))
        return [struct.unpack_from("<H", out, i)[0] for i in range(0, size, 4)]

    # ---- findings -------------------------------------------------------------

    def finding(self, key, msg):
        k = (self.case.split(":")[0] if key is None else key)
        if k in self.findings:
            self.findings[k][0] += 1
            return
        self.findings[k] = [1, msg]
        print("FINDING %s [%s]: %s" % (self.kind, self.case, msg))
        sys.stdout.flush()

    # ---- the mailbox, raw ------------------------------------------------------

    def raw(self, opcode, payload=b"", length=None):
        """Ring the doorbell with `payload` in the payload registers and
        LENGTH = `length` (default len(payload)).  Returns (rc, output)."""
        q = self.q
        length = len(payload) if length is None else length
        try:
            if q.readl(self.mbox + 4) & 1:
                raise Fatal("doorbell set before a request")
            # The whole payload area: no bytes of an earlier command behind it.
            q.memwrite(self.mbox + 0x20, payload[:PAYLOAD].ljust(PAYLOAD, b"\0"))
            q.writeq(self.mbox + 0x8, opcode | (length & 0x1FFFFF) << 16)
            q.writel(self.mbox + 0x4, 1)
            ctrl = q.readl(self.mbox + 0x4)
            sts = q.readq(self.mbox + 0x10)
            cmd = q.readq(self.mbox + 0x8)
        except (EOFError, OSError, HarnessError) as e:
            raise Fatal("QEMU died or hung on %04xh LENGTH %d: %s (rc %s)\n%s" %
                        (opcode, length, e, q.proc.poll(), q.stderr()[-2000:]))
        self.requests += 1
        rc = (sts >> 32) & 0xFFFF
        out_len = (cmd >> 16) & 0x1FFFFF
        if ctrl & 1:
            self.finding(("busy", opcode), "%04xh: doorbell (busy) still set after the request"
                         % opcode)
            self._wait_bg()
        if rc > RC_MAX:
            self.finding(("rc", opcode, rc), "%04xh: undefined return code 0x%x" % (opcode, rc))
        if out_len > PAYLOAD:
            self.finding(("outlen", opcode), "%04xh: output LENGTH %d beyond the payload area"
                         % (opcode, out_len))
            out_len = PAYLOAD
        if rc == BG_STARTED or sts & 1:
            self._wait_bg()
        out = q.memread(self.mbox + 0x20, out_len) if rc in (SUCCESS, BG_STARTED) else b""
        if not q.alive():
            raise Fatal("QEMU exited after %04xh" % opcode)
        return rc, out

    def _wait_bg(self):
        """Let a background operation finish: step the virtual clock."""
        for _ in range(2000):
            if not self.q.readq(self.mbox + 0x10) & 1:
                return
            self.q.qt("clock_step 1000000000")
        self.finding(("bg",), "a background operation never completed")

    # ---- observable state ------------------------------------------------------

    def extent_list(self):
        """(generation, [(dpa, len, tag)]) from 4801h, paged."""
        exts, start, gen = [], 0, None
        while True:
            rc, out = self.h.mbox_cmd(OP_DC_LIST, struct.pack("<II", 50, start))
            if rc != SUCCESS:
                raise Fatal("4801h (observer) failed: 0x%x" % rc)
            n, total, g = struct.unpack_from("<III", out, 0)
            gen = g if gen is None else gen
            for i in range(n):
                d, ln = struct.unpack_from("<QQ", out, 0x10 + 0x28 * i)
                tag = out[0x10 + 0x28 * i + 0x10: 0x10 + 0x28 * i + 0x20]
                exts.append((d, ln, tag))
            start += n
            if start >= total or n == 0:
                return gen, exts

    def events(self):
        """The DC event log (not cleared): handles and records."""
        rc, out = self.h.mbox_cmd(OP_EVENTS_GET, bytes([EV_DCD]))
        if rc != SUCCESS:
            raise Fatal("0100h (observer) failed: 0x%x" % rc)
        return out

    def shared(self, what="dump"):
        if not self.st:
            return None
        self.st.stdin.write(what + "\n")
        self.st.stdin.flush()
        line = self.st.stdout.readline()
        if not line:
            raise Fatal("state_tool exited")
        return line.strip()

    def snapshot(self):
        return (self.extent_list(), self.events(), self.shared())

    # ---- one checked request ------------------------------------------------

    def req(self, opcode, payload=b"", length=None, expect=None, what=""):
        """Send one request and check it.  expect: a set of acceptable return
        codes (None: any code the specification defines)."""
        length = len(payload) if length is None else length
        before = self.snapshot()
        rc, out = self.raw(opcode, payload, length)
        if length > PAYLOAD and rc != INVALID_PAYLOAD_LENGTH:
            self.finding(("length>payload", opcode),
                         "%04xh LENGTH %d > payload area: rc 0x%x, not Invalid Payload "
                         "Length" % (opcode, length, rc))
        elif expect is not None and rc not in expect:
            self.finding(("expect", opcode, what),
                         "%04xh %s: rc 0x%x, expected %s" %
                         (opcode, what, rc, "/".join("0x%x" % e for e in sorted(expect))
                          if len(expect) < 8 else "an error"))
        if (rc != SUCCESS and rc != BG_STARTED) or opcode in QUERIES:
            after = self.snapshot()
            if after != before:
                self.finding(("changed", opcode, what or "random"),
                             "%04xh %s: %s (rc 0x%x) but changed %s" %
                             (opcode, what, "a query" if rc == SUCCESS else "refused", rc,
                              self._diff(before, after)))
        if self.st:
            v = self.shared("validate")
            if v != "ok":
                self.finding(("invalid", opcode), "%04xh %s: shared state invalid: %s" %
                             (opcode, what, v))
        return rc, out

    @staticmethod
    def _diff(a, b):
        parts = []
        if a[0] != b[0]:
            parts.append("the extent list %r -> %r" % (
                (a[0][0], [(hex(d), hex(n)) for d, n, _ in a[0][1]]),
                (b[0][0], [(hex(d), hex(n)) for d, n, _ in b[0][1]])))
        if a[1] != b[1]:
            parts.append("the DC event log")
        if a[2] != b[2]:
            parts.append("the shared state (%s -> %s)" % (a[2], b[2]))
        return "; ".join(parts)

    # ---- helpers for the DC cases ---------------------------------------------

    def blk(self, i):
        return self.base + i * BLOCK

    def offer(self, extents):
        """QMP add of (block, nblocks) extents to the target; the host reads
        the events.  Returns the offered (dpa, len) list."""
        r = self.q.dc_add([(b * BLOCK, n * BLOCK) for b, n in extents])
        if "error" in r:
            raise Fatal("QMP add %r refused: %s" % (extents, r["error"]["desc"]))
        return self.read_offers()

    def read_offers(self):
        got = []
        for t, d, n in self.h.dc_events():
            if t == 0:
                got.append((d, n))
        return got

    def drain(self):
        """Back to a clean target: no events, no offers, no extents."""
        self.h.dc_events()
        for _ in range(64):
            rc, _ = self.raw(OP_DC_ADD_RSP, ext_payload([]))
            if rc != SUCCESS:
                break
        _, exts = self.extent_list()
        for d, n, _ in exts:
            rc, _ = self.raw(OP_DC_RELEASE, ext_payload([(d, n)]))
            if rc != SUCCESS:
                raise Fatal("cleanup release of %x+%x: rc 0x%x" % (d, n, rc))
        self.h.dc_events()

    def pending_answerable(self, dpa, length, what):
        """Check that the offer containing [dpa, +length) is still the one the
        host answers: accept it (the caller drains)."""
        rc, _ = self.req(OP_DC_ADD_RSP, ext_payload([(dpa, length)]),
                         what=what + ": then accepting the offer")
        if rc != SUCCESS:
            self.finding(("offer-lost", what),
                         "4802h %s: the pending offer was settled or discarded by a refused "
                         "request (accepting it afterwards: rc 0x%x)" % (what, rc))

    # ---- phase 1: the catalogue --------------------------------------------------

    def generic_lengths(self):
        """Every opcode of the CEL with lengths 0, 1, short, exact, +1, the
        maximum, beyond."""
        for op in self.cel:
            if op in (OP_DC_ADD_RSP, OP_DC_RELEASE):
                continue  # their own catalogue below (with offers pending)
            fixed = FIXED_LEN.get(op, None)
            hdr = VAR_HDR.get(op)
            shapes = {0, 1, PAYLOAD, PAYLOAD + 1, PAYLOAD + 24, 0xFFFFF}
            if fixed is not None:
                shapes |= {max(fixed - 1, 0), fixed, fixed + 1}
            elif hdr is not None:
                shapes |= {hdr - 1, hdr, hdr + 1}
            for ln in sorted(shapes):
                self.case = "lengths:%04xh:%d" % (op, ln)
                expect = None
                if fixed is not None and ln != fixed:
                    expect = {INVALID_PAYLOAD_LENGTH}
                elif hdr is not None and ln < hdr:
                    expect = {INVALID_PAYLOAD_LENGTH}
                payload = bytes(min(ln, PAYLOAD))
                if op == 0x0401 and ln >= 0x18:
                    payload = CEL_UUID + struct.pack("<II", 0, 4) + bytes(ln - 0x18)
                self.req(op, payload, ln, expect=expect, what="LENGTH %d" % ln)
                self.after_generic(op)

    def after_generic(self, op):
        # A zero-filled Set Event Interrupt Policy or Set Timestamp is fine;
        # keep the DC state clean for the next case.
        if op in (OP_DC_ADD_RSP, OP_DC_RELEASE):
            self.drain()

    def get_log_cases(self):
        size = self.cel_size
        cases = [
            ("offset=size len=4", 0, size, 4, {INVALID_INPUT}),
            ("offset 0 len=size+4", 0, 0, size + 4, {INVALID_INPUT}),
            ("offset 0 len=2048", 0, 0, PAYLOAD, {INVALID_INPUT} if size < PAYLOAD else None),
            ("offset=size-4 len=8", 0, size - 4, 8, {INVALID_INPUT}),
            ("offset 2^32-4 len=8", 0, 0xFFFFFFFC, 8, {INVALID_INPUT}),
            ("len 2^32-1", 0, 0, 0xFFFFFFFF, {INVALID_INPUT}),
            ("len > payload", 0, 0, PAYLOAD + 4, {INVALID_INPUT}),
            ("exact", 0, 0, size, {SUCCESS}),
            ("last entry", 0, size - 4, 4, {SUCCESS}),
            ("len 0", 0, 0, 0, {SUCCESS, INVALID_INPUT}),
            ("bad uuid", 1, 0, 4, {INVALID_LOG}),
        ]
        for what, bad_uuid, off, ln, expect in cases:
            self.case = "get-log:" + what
            uuid = bytes(16) if bad_uuid else CEL_UUID
            rc, out = self.req(OP_LOG_GET, uuid + struct.pack("<II", off, ln), expect=expect,
                               what=what)
            if rc == SUCCESS and len(out) != ln:
                self.finding(("get-log-len", what), "0401h %s: %d bytes returned" %
                             (what, len(out)))

    def clear_events_cases(self):
        # Eight Add Capacity records in the DC log (one offer of 8 extents).
        self.drain()
        offer = [(40 + 2 * i, 1) for i in range(8)]
        r = self.q.dc_add([(b * BLOCK, n * BLOCK) for b, n in offer])
        if "error" in r:
            raise Fatal("QMP add for the event cases: %s" % r["error"]["desc"])
        out = self.events()
        count = struct.unpack_from("<H", out, 0x14)[0]
        handles = [struct.unpack_from("<H", out, 0x20 + 0x80 * i + 0x14)[0]
                   for i in range(count)]
        if count != 8:
            raise Fatal("expected 8 DC records, got %d" % count)

        def clear(hs, log=EV_DCD, flags=0, nr=None, length=None, expect=None, what=""):
            p = struct.pack("<BBB3x", log, flags, len(hs) if nr is None else nr)
            p += b"".join(struct.pack("<H", h) for h in hs)
            self.case = "clear-events:" + what
            return self.req(OP_EVENTS_CLEAR, p, length, expect=expect, what=what)[0]

        bogus = (max(handles) + 100) & 0xFFFF or 1
        clear(handles + [bogus], expect={INVALID_HANDLE}, what="8 records + a bogus handle")
        clear(handles[:1] + [0], expect={INVALID_HANDLE}, what="handle 0")
        clear([0], expect={INVALID_HANDLE}, what="only handle 0")
        clear([handles[1]], expect={INVALID_HANDLE}, what="second record first")
        clear([handles[0], handles[0]], expect={INVALID_HANDLE}, what="duplicated handle")
        clear([bogus], expect={INVALID_HANDLE}, what="never-issued handle")
        clear(handles, log=5, expect={INVALID_INPUT}, what="log type 5")
        clear(handles, log=0xFF, expect={INVALID_INPUT}, what="log type FFh")
        clear(handles, nr=9, expect={INVALID_PAYLOAD_LENGTH}, what="count beyond the payload")
        clear(handles, nr=255, expect={INVALID_PAYLOAD_LENGTH}, what="count 255")
        clear(handles, length=6 + 2 * 8 - 1, expect={INVALID_PAYLOAD_LENGTH},
              what="LENGTH one short")
        clear(handles, flags=0xFE, what="reserved flag bits")
        # The log must still hold all 8 unless the last request cleared them.
        out = self.events()
        left = struct.unpack_from("<H", out, 0x14)[0]
        if left not in (0, 8):
            self.finding(("clear-partial",), "0101h: %d of 8 records left after the refused "
                         "clears" % left)
        if left == 8:
            clear(handles, expect={SUCCESS}, what="all 8, in order")
        clear([], nr=0, what="zero handles")
        # The offer itself is still pending: answer it, then clean up.
        self.case = "clear-events:cleanup"
        self.drain()

    def dc_config_cases(self):
        for what, p, expect in [
            ("start region 1 of 1", bytes([1, 1]), {INVALID_INPUT}),
            ("start region FFh", bytes([1, 0xFF]), {INVALID_INPUT}),
            ("count 0", bytes([0, 0]), None),
            ("count FFh", bytes([0xFF, 0]), {SUCCESS}),
        ]:
            self.case = "4800h:" + what
            self.req(OP_DC_CONFIG, p, expect=expect, what=what)

    def dc_list_cases(self):
        self.drain()
        self.offer([(2, 1), (6, 2)])
        self.raw(OP_DC_ADD_RSP, ext_payload([(self.blk(2), BLOCK), (self.blk(6), 2 * BLOCK)]))
        for what, count, start, expect in [
            ("count 0", 0, 0, {SUCCESS}),
            ("count 1", 1, 0, {SUCCESS}),
            ("count huge", 0xFFFFFFFF, 0, {SUCCESS}),
            ("start = total", 8, 2, {SUCCESS}),
            ("start past the end", 8, 3, {INVALID_INPUT}),
            ("start 2^32-1", 8, 0xFFFFFFFF, {INVALID_INPUT}),
        ]:
            self.case = "4801h:" + what
            rc, out = self.req(OP_DC_LIST, struct.pack("<II", count, start), expect=expect,
                               what=what)
            if rc == SUCCESS:
                n, total = struct.unpack_from("<II", out, 0)
                want = max(0, min(count, total - start))
                if total != 2 or n != want or len(out) != 0x10 + 0x28 * n:
                    self.finding(("4801h-shape", what), "4801h %s: returned %d of %d in %d "
                                 "bytes, expected %d of 2" % (what, n, total, len(out), want))
        self.generation_cases()
        self.drain()

    def generation_cases(self):
        """4801h's generation changes exactly when the extent list changes."""
        self.case = "4801h:generation"
        g0, l0 = self.extent_list()
        self.offer([(20, 2)])
        g1, l1 = self.extent_list()
        if g1 != g0:
            self.finding(("gen-offer",), "4801h generation changed on an offer (list unchanged)")
        self.req(OP_DC_ADD_RSP, ext_payload([(self.blk(30), BLOCK)]), expect={INVALID_PA},
                 what="generation: refused response")
        g2, _ = self.extent_list()
        if g2 != g0:
            self.finding(("gen-refused",), "4801h generation changed on a refused response")
        self.req(OP_DC_ADD_RSP, ext_payload([(self.blk(20), BLOCK)]), expect={SUCCESS},
                 what="generation: accept")
        g3, l3 = self.extent_list()
        if l3 == l0 or g3 == g0:
            self.finding(("gen-accept",), "4801h generation %d -> %d while the list changed %r"
                         % (g0, g3, [(hex(d), hex(n)) for d, n, _ in l3]))
        self.req(OP_DC_RELEASE, ext_payload([(self.blk(20), BLOCK)]), expect={SUCCESS},
                 what="generation: release")
        g4, _ = self.extent_list()
        if g4 == g3:
            self.finding(("gen-release",), "4801h generation unchanged by a release")

    def extent_sets(self):
        """(what, extents, expected) for 4802h against an offer of blocks
        [8, 12) and for 4803h against owned blocks [8, 12)."""
        b = self.blk
        top = self.base + DC_SIZE
        cases = [
            ("wrapping", [(b(8), 2**64 - BLOCK)], {INVALID_PA}),
            ("wrapping to zero", [(b(8), 2**64 - b(8))], {INVALID_PA}),
            ("dpa 2^64-2MiB", [(2**64 - BLOCK, BLOCK)], {INVALID_PA}),
            ("unaligned dpa", [(b(8) + 4096, BLOCK)], {INVALID_EXTENT_LIST}),
            ("unaligned len", [(b(8), BLOCK + 4096)], {INVALID_EXTENT_LIST}),
            ("zero length", [(b(8), 0)], None),
            ("out of region", [(top, BLOCK)], {INVALID_PA}),
            ("crossing the region end", [(top - BLOCK, 2 * BLOCK)], {INVALID_PA}),
            ("below the region", [(self.base - BLOCK, BLOCK)] if self.base else
             [(2**63, BLOCK)], {INVALID_PA}),
            ("overlapping", [(b(8), 2 * BLOCK), (b(9), 2 * BLOCK)], {INVALID_EXTENT_LIST}),
            ("duplicated", [(b(8), BLOCK), (b(8), BLOCK)], {INVALID_EXTENT_LIST}),
            ("never offered", [(b(60), BLOCK)], {INVALID_PA}),
            ("partly offered", [(b(11), 2 * BLOCK)], {INVALID_PA}),
        ]
        for i, (d, n) in enumerate(self.other):
            cases.append(("another head's capacity %d" % i, [(d, n)], {INVALID_PA}))
        return cases

    def add_response_cases(self):
        b = self.blk
        good = [(b(8), 4 * BLOCK)]
        # Malformed headers and counts, each against a fresh offer.
        shapes = [
            ("LENGTH 0", b"", None, {INVALID_PAYLOAD_LENGTH}),
            ("LENGTH 4", ext_payload(good)[:4], None, {INVALID_PAYLOAD_LENGTH}),
            ("LENGTH 7", ext_payload(good)[:7], None, {INVALID_PAYLOAD_LENGTH}),
            ("count 1, header only", ext_payload(good)[:8], None, {INVALID_PAYLOAD_LENGTH}),
            ("count 1, one byte short", ext_payload(good)[:-1], None,
             {INVALID_PAYLOAD_LENGTH}),
            ("count 2, one extent", ext_payload(good, count=2), None,
             {INVALID_PAYLOAD_LENGTH}),
            ("count huge", ext_payload(good, count=0xFFFFFFFF), None, ERRORS),
            ("count 86, LENGTH 2072", ext_payload(good * 86), None,
             {INVALID_PAYLOAD_LENGTH}),
            ("count 85 garbage", ext_payload([(b(8) + i * 4096, BLOCK) for i in range(85)]),
             None, ERRORS),
            ("count 86 in 2048 bytes", ext_payload(good * 85, count=86), None,
             {INVALID_PAYLOAD_LENGTH}),
            ("LENGTH 0xFFFFF", ext_payload(good), 0xFFFFF, {INVALID_PAYLOAD_LENGTH}),
            ("LENGTH 2049", ext_payload(good), 2049, {INVALID_PAYLOAD_LENGTH}),
            ("reserved flag bits", ext_payload(good, flags=0xFE), None, None),
            ("reserved header bytes", ext_payload(good, rsvd=b"\xff\xff\xff"), None, None),
            ("reserved extent bytes", ext_payload(good, ext_rsvd=[b"\xff" * 8]), None, None),
        ]
        for what, p, ln, expect in shapes:
            self.case = "4802h:" + what
            self.drain()
            self.offer([(8, 4)])
            rc, _ = self.req(OP_DC_ADD_RSP, p, ln, expect=expect, what=what)
            if rc != SUCCESS:
                self.pending_answerable(b(8), 4 * BLOCK, what)
        for what, exts, expect in self.extent_sets():
            self.case = "4802h:" + what
            self.drain()
            self.offer([(8, 4)])
            rc, _ = self.req(OP_DC_ADD_RSP, ext_payload(exts), expect=expect, what=what)
            if rc != SUCCESS:
                self.pending_answerable(b(8), 4 * BLOCK, what)
        self.drain()
        self.add_response_sequences()

    def add_response_sequences(self):
        b = self.blk
        # Nothing pending.
        self.case = "4802h:nothing pending"
        self.drain()
        self.req(OP_DC_ADD_RSP, ext_payload([]), expect={INVALID_INPUT},
                 what="empty response, nothing pending")
        self.req(OP_DC_ADD_RSP, ext_payload([(b(8), BLOCK)]), expect={INVALID_INPUT, INVALID_PA},
                 what="response, nothing pending")
        # Twice accepted.
        self.case = "4802h:twice accepted"
        self.offer([(8, 2)])
        self.req(OP_DC_ADD_RSP, ext_payload([(b(8), 2 * BLOCK)]), expect={SUCCESS},
                 what="accept")
        self.req(OP_DC_ADD_RSP, ext_payload([(b(8), 2 * BLOCK)]),
                 expect={INVALID_INPUT, INVALID_PA}, what="the same accept again")
        self.offer([(14, 1)])
        self.req(OP_DC_ADD_RSP, ext_payload([(b(8), 2 * BLOCK)]), expect={INVALID_PA},
                 what="accepted capacity, another offer pending")
        self.pending_answerable(b(14), BLOCK, "accepted capacity again")
        # A response naming the newer of two offers.
        self.case = "4802h:newer offer"
        self.drain()
        self.offer([(8, 2)])
        self.offer([(16, 2)])
        self.req(OP_DC_ADD_RSP, ext_payload([(b(16), 2 * BLOCK)]), expect={INVALID_PA},
                 what="naming the newer offer")
        self.pending_answerable(b(8), 2 * BLOCK, "naming the newer offer (oldest)")
        self.pending_answerable(b(16), 2 * BLOCK, "naming the newer offer (newer)")
        # Both offers at once (a response answers one offer).
        self.case = "4802h:two offers in one"
        self.drain()
        self.offer([(8, 2)])
        self.offer([(16, 2)])
        self.req(OP_DC_ADD_RSP, ext_payload([(b(8), 2 * BLOCK), (b(16), 2 * BLOCK)]),
                 expect={INVALID_PA}, what="both offers in one response")
        self.pending_answerable(b(8), 2 * BLOCK, "both offers in one response")
        # The More flag: a split response settles the offer with its last part.
        self.case = "4802h:more"
        self.drain()
        self.offer([(8, 4)])
        rc, _ = self.req(OP_DC_ADD_RSP, ext_payload([(b(8), BLOCK)], flags=1),
                         expect={SUCCESS}, what="part 1 of 2 (More)")
        _, lst = self.extent_list()
        if rc == SUCCESS and lst:
            self.finding(("more-early",), "4802h with More set: the first part of a split "
                         "response settled the offer (list %r)" %
                         [(hex(d), hex(n)) for d, n, _ in lst])
        # A QMP offer arriving between the parts, and a refused part.
        self.offer([(20, 1)])
        self.req(OP_DC_ADD_RSP, ext_payload([(b(20), BLOCK)]), expect={INVALID_PA},
                 what="part 2 naming the newer offer")
        rc, _ = self.req(OP_DC_ADD_RSP, ext_payload([(b(10), 2 * BLOCK)]), expect={SUCCESS},
                         what="part 2 of 2 (last)")
        _, lst = self.extent_list()
        got = sorted((d, n) for d, n, _ in lst)
        if got != [(b(8), BLOCK), (b(10), 2 * BLOCK)]:
            self.finding(("more-settle",), "4802h split response: the list is %r after both "
                         "parts, expected both parts' extents" %
                         [(hex(d), hex(n)) for d, n in got])
        self.pending_answerable(b(20), BLOCK, "More: the offer made between the parts")
        # A part (More) naming capacity outside the offer is refused when it
        # arrives; the offer can still be settled (empty final part).
        self.case = "4802h:more stray part"
        self.drain()
        self.offer([(8, 2)])
        self.req(OP_DC_ADD_RSP, ext_payload([(b(8), BLOCK)], flags=1), expect={SUCCESS},
                 what="part 1 (More)")
        self.req(OP_DC_ADD_RSP, ext_payload([(b(30), BLOCK)], flags=1), expect={INVALID_PA},
                 what="part 2 (More) never offered")
        self.req(OP_DC_ADD_RSP, ext_payload([(b(9), 2 * BLOCK)], flags=1), expect={INVALID_PA},
                 what="part 2 (More) partly offered")
        rc, _ = self.req(OP_DC_ADD_RSP, ext_payload([]), expect={SUCCESS},
                         what="empty final part")
        _, lst = self.extent_list()
        if rc == SUCCESS and sorted((d, n) for d, n, _ in lst) != [(b(8), BLOCK)]:
            self.finding(("more-stray",), "4802h split response with refused parts: list %r, "
                         "expected the first part's extent" %
                         [(hex(d), hex(n)) for d, n, _ in lst])
        # Interleaving: a QMP release request while an offer is pending.
        self.case = "4802h:release while pending"
        self.drain()
        self.offer([(8, 2)])
        self.req(OP_DC_ADD_RSP, ext_payload([(b(8), 2 * BLOCK)]), expect={SUCCESS}, what="accept")
        self.offer([(16, 2)])
        r = self.q.dc_release([(8 * BLOCK, 2 * BLOCK)])
        if "error" in r:
            self.finding(("qmp-release",), "QMP release of accepted capacity refused: %s" %
                         r["error"]["desc"])
        self.req(OP_DC_RELEASE, ext_payload([(b(8), 2 * BLOCK)]), expect={SUCCESS},
                 what="release while an offer is pending")
        self.pending_answerable(b(16), 2 * BLOCK, "after a release")
        self.drain()

    def release_cases(self):
        b = self.blk
        good = [(b(8), 4 * BLOCK)]
        shapes = [
            ("LENGTH 0", b"", None, {INVALID_PAYLOAD_LENGTH}),
            ("LENGTH 4", ext_payload(good)[:4], None, {INVALID_PAYLOAD_LENGTH}),
            ("count 0", ext_payload([]), None, {INVALID_INPUT}),
            ("count 1, header only", ext_payload(good)[:8], None, {INVALID_PAYLOAD_LENGTH}),
            ("count 2, one extent", ext_payload(good, count=2), None,
             {INVALID_PAYLOAD_LENGTH}),
            ("count huge", ext_payload(good, count=0xFFFFFFFF), None, ERRORS),
            ("count 86, LENGTH 2072", ext_payload(good * 86), None,
             {INVALID_PAYLOAD_LENGTH}),
            ("count 86 in 2048 bytes", ext_payload(good * 85, count=86), None,
             {INVALID_PAYLOAD_LENGTH}),
            ("LENGTH 0xFFFFF", ext_payload(good), 0xFFFFF, {INVALID_PAYLOAD_LENGTH}),
            ("reserved flag bits", ext_payload(good, flags=0xFE), None, None),
            ("More set", ext_payload(good, flags=1), None, None),
        ]
        for what, p, ln, expect in shapes:
            self.case = "4803h:" + what
            self.own([(8, 4)])
            self.req(OP_DC_RELEASE, p, ln, expect=expect, what=what)
        for what, exts, expect in self.extent_sets():
            if what in ("never offered", "partly offered"):
                what = what.replace("offered", "owned")
            self.case = "4803h:" + what
            self.own([(8, 4)])
            self.req(OP_DC_RELEASE, ext_payload(exts), expect=expect, what=what)
        self.case = "4803h:twice released"
        self.own([(8, 4)])
        self.req(OP_DC_RELEASE, ext_payload([(b(8), 4 * BLOCK)]), expect={SUCCESS},
                 what="release")
        self.req(OP_DC_RELEASE, ext_payload([(b(8), 4 * BLOCK)]), expect={INVALID_PA},
                 what="release again")
        self.case = "4803h:pending capacity"
        self.drain()
        self.offer([(8, 2)])
        self.req(OP_DC_RELEASE, ext_payload([(b(8), 2 * BLOCK)]), expect={INVALID_PA},
                 what="release of capacity still offered")
        self.pending_answerable(b(8), 2 * BLOCK, "4803h of offered capacity")
        self.drain()

    def own(self, extents):
        """Clean target owning exactly these (block, nblocks) extents."""
        self.drain()
        off = self.offer(extents)
        rc, _ = self.raw(OP_DC_ADD_RSP, ext_payload(off))
        if rc != SUCCESS:
            raise Fatal("set-up accept of %r: rc 0x%x" % (extents, rc))

    def mhd_cases(self):
        if 0x5500 not in self.cel:
            return
        for what, op, p, expect in [
            ("5500h start LD past the end", 0x5500, bytes([2, 1]), {INVALID_INPUT}),
            ("5500h limit 0", 0x5500, bytes([0, 0]), None),
            ("5501h start head past the end", 0x5501, bytes([2, 1]), {INVALID_INPUT}),
            ("5501h count past the end", 0x5501, bytes([1, 2]), {INVALID_INPUT}),
            ("5501h count 0", 0x5501, bytes([0, 0]), None),
        ]:
            self.case = what
            self.req(op, p, expect=expect, what=what)

    def catalogue(self):
        self.generic_lengths()
        self.drain()
        self.get_log_cases()
        self.clear_events_cases()
        self.dc_config_cases()
        self.dc_list_cases()
        self.add_response_cases()
        self.release_cases()
        self.mhd_cases()
        self.drain()

    # ---- phase 2: seeded random mutations -----------------------------------------

    def interesting_extent(self):
        r = self.rng
        b = r.choice([0, 1, 8, 20, 40, 63, 64, 100, 110, NBLOCKS - 1, NBLOCKS])
        d = self.blk(b)
        n = r.choice([1, 2, 4]) * BLOCK
        roll = r.random()
        if roll < 0.05:
            d += r.choice([1, 4096, BLOCK // 2])
        elif roll < 0.10:
            n = r.choice([0, 4096, 2**64 - BLOCK, 2**64 - d])
        elif roll < 0.12:
            d = r.getrandbits(64)
        if self.offers and r.random() < 0.5:
            d, n = r.choice(self.offers)
            if r.random() < 0.3:
                n = BLOCK
        return d, n

    def base_request(self, op):
        """A request of opcode `op`, valid (or nearly) more often than not."""
        r = self.rng
        if op == OP_DC_ADD_RSP and self.groups and r.random() < 0.6:
            # Answer the oldest offer (as far as the suite can tell): a
            # subset of its extents, sometimes as one part of a split.
            g = [(d, n) for d, n in self.groups[0]
                 if not any(d < pd + pn and pd < d + n for pd, pn in self.partial)]
            exts = [x for x in g if r.random() < 0.7]
            if exts and r.random() < 0.3:
                d, n = exts[0]
                exts[0] = (d, BLOCK)  # the first block of that extent only
            return ext_payload(exts, flags=1 if r.random() < 0.2 else 0)
        if op == OP_DC_RELEASE and r.random() < 0.6:
            _, lst = self.extent_list()
            if lst:
                exts = [(d, n) for d, n, _ in r.sample(lst, r.randint(1, min(3, len(lst))))]
                if r.random() < 0.3:
                    d, n = exts[0]
                    exts[0] = (d + n - BLOCK, BLOCK)  # its last block only
                return ext_payload(exts, flags=1 if r.random() < 0.1 else 0)
        if op in (OP_DC_ADD_RSP, OP_DC_RELEASE):
            exts = [self.interesting_extent() for _ in range(r.choice([0, 1, 1, 2, 3, 8]))]
            return ext_payload(exts, flags=1 if r.random() < 0.15 else 0)
        if op == OP_DC_LIST:
            return struct.pack("<II", r.choice([0, 1, 8, 64, 0xFFFFFFFF]),
                               r.choice([0, 0, 1, 2, 5, 0xFFFFFFFF]))
        if op == OP_DC_CONFIG:
            return bytes([r.choice([0, 1, 8, 255]), r.choice([0, 0, 1, 7, 255])])
        if op == OP_EVENTS_GET:
            return bytes([r.choice([0, 1, 2, 3, 4, 4, 5, 255])])
        if op == OP_EVENTS_CLEAR:
            out = self.events()
            count = struct.unpack_from("<H", out, 0x14)[0]
            hs = [struct.unpack_from("<H", out, 0x20 + 0x80 * i + 0x14)[0] for i in range(count)]
            hs = hs[:r.randint(0, len(hs))]
            if r.random() < 0.4:
                hs.insert(r.randint(0, len(hs)), r.choice([0, 1, 0xFFFF, r.getrandbits(16)]))
            return struct.pack("<BBB3x", EV_DCD if r.random() < 0.8 else r.getrandbits(8),
                               0 if r.random() < 0.9 else r.getrandbits(8), len(hs)) + \
                b"".join(struct.pack("<H", h) for h in hs)
        if op == OP_LOG_GET:
            return CEL_UUID + struct.pack("<II", r.choice([0, 4, self.cel_size - 4, self.cel_size,
                                                           r.getrandbits(32)]),
                                          r.choice([0, 4, self.cel_size, PAYLOAD,
                                                    r.getrandbits(32)]))
        fixed = FIXED_LEN.get(op)
        return bytes(r.getrandbits(8) for _ in range(fixed if fixed else VAR_HDR.get(op, 8)))

    def mutate(self, op, p):
        r = self.rng
        p = bytearray(p)
        length = None
        dc = op in (OP_DC_ADD_RSP, OP_DC_RELEASE)
        for _ in range(r.choice([0, 0, 0, 1, 1, 2, 3])):
            m = r.choice([0, 1, 2, 3, 4, 5] + ([6, 6, 7, 7, 8] if dc else []))
            nx = (len(p) - 8) // 24 if dc else 0
            if m == 0 and p:
                p[r.randrange(len(p))] ^= 1 << r.randrange(8)
            elif m == 1 and p:
                p[r.randrange(len(p))] = r.choice([0, 0xFF, 0x80, 1])
            elif m == 2 and len(p) >= 4:
                p[0:4] = struct.pack("<I", r.choice([0, 1, 2, 85, 86, 127, 128, 129,
                                                     0xFFFFFFFF, r.getrandbits(32)]))
            elif m == 3:
                p = p[:r.randint(0, len(p))]
            elif m == 4:
                p += bytes(r.getrandbits(8) for _ in range(r.choice([1, 8, 24])))
            elif m == 6 and nx > 0:  # one extent's DPA or length
                i = 8 + 24 * r.randrange(nx) + 8 * r.randrange(2)
                p[i:i + 8] = struct.pack("<Q", self.interesting_extent()[r.randrange(2)] &
                                         (2**64 - 1))
            elif m == 7 and dc and len(p) >= 8:  # the More flag or a reserved bit
                p[4] ^= r.choice([1, 1, 2, 0x80])
            elif m == 8 and nx > 0:  # duplicate an extent (count follows)
                i = 8 + 24 * r.randrange(nx)
                p += p[i:i + 24]
                p[0:4] = struct.pack("<I", nx + 1)
            elif m == 5:
                length = r.choice([0, 1, 7, 8, len(p) - 1, len(p) + 1, PAYLOAD, PAYLOAD + 1,
                                   0xFFFFF, r.randrange(0x200000)])
                length = max(0, length)
        return bytes(p[:PAYLOAD]), length

    def random_phase(self):
        r = self.rng
        deadline = time.monotonic() + self.args.fuzz_seconds
        pool = [OP_DC_ADD_RSP] * 30 + [OP_DC_RELEASE] * 25 + [OP_DC_LIST] * 8 + \
            [OP_DC_CONFIG] * 4 + [OP_EVENTS_CLEAR] * 10 + [OP_LOG_GET] * 5 + \
            [OP_EVENTS_GET] * 5
        others = [op for op in self.cel if op not in BACKGROUND and op not in pool]
        self.offers = []
        self.groups = []  # offers made, oldest first (the suite's guess)
        self.partial = set()  # extents of the oldest offer sent with More
        n = 0
        while time.monotonic() < deadline:
            n += 1
            roll = r.random()
            if roll < 0.12:
                self.case = "random:qmp-add"
                b = r.randrange(0, 64)
                exts = [(b, r.choice([1, 2, 3]))]
                if r.random() < 0.3:
                    exts.append((r.randrange(64, 96), 1))
                resp = self.q.dc_add([(x * BLOCK, k * BLOCK) for x, k in exts])
                if "error" not in resp:
                    got = self.read_offers()
                    self.offers.extend(got)
                    self.offers = self.offers[-16:]
                    if got:
                        self.groups.append(got)
                else:
                    # Refused (often: offers pile up, the engine holds 8 per
                    # head).  Settle the oldest with an empty final response.
                    self.case = "random:4802h-settle"
                    rc, _ = self.req(OP_DC_ADD_RSP, ext_payload([]), what="random")
                    if rc == SUCCESS:
                        self.groups = self.groups[1:]
                        self.partial = set()
                continue
            if roll < 0.14:
                self.case = "random:qmp-release"
                _, lst = self.extent_list()
                if lst:
                    d, ln, _ = r.choice(lst)
                    self.q.dc_release([(d - self.base, ln)])
                    self.h.dc_events()
                continue
            if roll < 0.143:
                self.case = "random:drain"
                self.drain()
                self.offers = []
                self.groups = []
                self.partial = set()
                continue
            op = r.choice(pool) if r.random() < 0.9 or not others else r.choice(others)
            self.case = "random:%04xh" % op
            p, length = self.mutate(op, self.base_request(op))
            rc, _ = self.req(op, p, length, what="random")
            self.outcomes[(op, rc)] = self.outcomes.get((op, rc), 0) + 1
            if op == OP_DC_ADD_RSP and rc == SUCCESS and len(p) >= 8 and self.groups:
                if p[4] & 1:  # a part kept for the final one
                    n = struct.unpack_from("<I", p, 0)[0]
                    self.partial |= {struct.unpack_from("<QQ", p, 8 + 24 * i)
                                     for i in range(min(n, (len(p) - 8) // 24))}
                else:  # a final part settled the oldest offer
                    self.groups.pop(0)
                    self.partial = set()
        self.case = "random:end"
        self.drain()
        return n

    # ---- run ----------------------------------------------------------------

    def check_stderr(self):
        """A sanitizer report in any QEMU's output is a finding (with a QEMU
        built with ASan+UBSan: run-tests.sh --asan)."""
        for q in self.heads:
            err = q.stderr()
            for needle in ("ERROR: AddressSanitizer", "runtime error:",
                           "ERROR: LeakSanitizer"):
                i = err.find(needle)
                if i >= 0:
                    self.finding(("sanitizer", q.name, needle),
                                 "%s: %s" % (q.name, err[i:i + 1500]))

    def run(self):
        self.start()
        t0 = time.monotonic()
        self.catalogue()
        cat = self.requests
        t1 = time.monotonic()
        self.random_phase()
        t2 = time.monotonic()
        if self.mhsld:
            v = self.shared("validate")
            if v != "ok":
                self.finding(("final-invalid",), "shared state invalid at the end: %s" % v)
            if self.args.mhsldctl:
                p = subprocess.run([self.args.mhsldctl, "verify", self.state],
                                   capture_output=True, text=True)
                if p.returncode != 0:
                    self.finding(("mhsldctl",), "mhsldctl verify: %s" %
                                 (p.stdout + p.stderr).strip())
        for q in self.heads:
            if not q.alive():
                self.finding(("dead", q.name), "%s exited" % q.name)
        print("%s: catalogue %d requests in %.1fs, random %d requests in %.1fs (seed %d)" %
              (self.kind, cat, t1 - t0, self.requests - cat, t2 - t1, self.args.seed))
        dc = sorted((op, rc, n) for (op, rc), n in self.outcomes.items()
                    if op in (OP_DC_ADD_RSP, OP_DC_RELEASE))
        print("%s: random 4802h/4803h outcomes: %s" % (self.kind, ", ".join(
            "%04xh rc %02xh x%d" % x for x in dc)))
        for k, (count, msg) in self.findings.items():
            if count > 1:
                print("  seen %d times: %s" % (count, msg))


def build_state_tool(workdir):
    here = os.path.dirname(os.path.abspath(__file__))
    engine = os.path.join(here, "..", "..", "engine")
    exe = os.path.join(workdir, "state_tool")
    srcs = sorted(os.path.join(engine, "src", f)
                  for f in os.listdir(os.path.join(engine, "src")) if f.endswith(".c"))
    p = subprocess.run(["gcc", "-std=c11", "-O1", "-g", "-fsanitize=address,undefined",
                        "-fno-sanitize-recover=all", "-D_GNU_SOURCE", "-DMHSLD_ATOMICS_CK=1",
                        "-mcx16", "-I", os.path.join(engine, "include"),
                        "-I", os.path.join(engine, "src"), *srcs,
                        os.path.join(here, "state_tool.c"), "-o", exe, "-lrt"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise Fatal("building state_tool failed:\n" + p.stderr[-2000:])
    return exe


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qemu", required=True)
    ap.add_argument("--device", choices=["cxl-mhsld", "cxl-type3"], default="cxl-mhsld")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fuzz-seconds", type=float, default=20.0)
    ap.add_argument("--mhsldctl")
    ap.add_argument("--state-tool")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="mhsld-attack-tool.")
    suite = None
    try:
        if args.device == "cxl-mhsld" and not args.state_tool:
            args.state_tool = build_state_tool(work)
        suite = Suite(args)
        try:
            try:
                suite.run()
            except Fatal as e:
                suite.finding(("fatal",), str(e))
            suite.check_stderr()
        finally:
            suite.stop()
    except Fatal as e:
        if suite is None:
            print("attack: %s" % e)
            return 2
        suite.finding(("fatal",), str(e))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("%d findings, %d requests" % (len(suite.findings), suite.requests))
    return 1 if suite.findings else 0


if __name__ == "__main__":
    sys.exit(main())
