# SPDX-License-Identifier: BSD-2-Clause
"""Drive real QEMU processes running cxl-mhsld, without a guest OS.

Each head is a qemu-system-x86_64 started with ``-accel qtest``:

* as the fabric manager, the harness speaks QMP
  (cxl-add-dynamic-capacity / cxl-release-dynamic-capacity);
* as the host, it speaks QEMU's qtest protocol: PCI config cycles through
  ports 0xcf8/0xcfc program the CXL root port's bus numbers and memory
  window and the device's BARs, then the device's register BAR is walked
  for the mailbox capability and commands go through its command, payload
  and doorbell registers.  Memory accesses go through the CXL fixed memory
  window once the device's HDM decoder 0 is committed.

Python 3 standard library only.
"""

import json
import os
import re
import signal
import socket
import struct
import subprocess
import tempfile
import time

MiB = 1 << 20
BLOCK = 2 * MiB

# CXL r3.1 Table 8-34 return codes
RC_SUCCESS = 0x00
RC_INVALID_INPUT = 0x02
RC_UNSUPPORTED = 0x03
RC_INTERNAL_ERROR = 0x04
RC_INVALID_PA = 0x0F
RC_INVALID_PAYLOAD_LENGTH = 0x16
RC_INVALID_EXTENT_LIST = 0x1E

OP_GET_EVENT_RECORDS = 0x0100
OP_CLEAR_EVENT_RECORDS = 0x0101
OP_GET_DC_CONFIG = 0x4800
OP_GET_DC_EXTENT_LIST = 0x4801
OP_ADD_DC_RESPONSE = 0x4802
OP_RELEASE_DC = 0x4803
OP_GET_MHD_INFO = 0x5500
OP_GET_HEAD_INFO = 0x5501

EVENT_LOG_DCD = 4
DC_EVENT_ADD_CAPACITY = 0
DC_EVENT_RELEASE_CAPACITY = 1

# Topology every head uses: pxb-cxl with bus_nr=12, one root port whose
# secondary bus we number 13, the device at 13:00.0.
PXB_BUS = 12
DEV_BUS = 13
MMIO_BASE = 0xE0000000  # inside q35's 32-bit PCI hole
MMIO_SIZE = 0x01000000


class HarnessError(Exception):
    pass


class QemuExited(HarnessError):
    def __init__(self, msg, rc, stderr):
        super().__init__(msg)
        self.rc = rc
        self.stderr = stderr


def _listen(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(1)
    # accept() wakes up every second to notice a QEMU that exited instead of
    # connecting; the overall bound is Qemu._accept's deadline.
    s.settimeout(1)
    return s


def _accept(proc, lsock, exited):
    """The connection QEMU (proc) makes to lsock (from _listen), within 30 s;
    `exited` (an exception class) if QEMU exits first."""
    deadline = time.monotonic() + 30
    while True:
        try:
            conn, _ = lsock.accept()
            return conn
        except socket.timeout:
            pass
        if proc.poll() is not None:
            raise exited("QEMU exited before connecting")
        if time.monotonic() > deadline:
            raise HarnessError("QEMU did not connect")


class _LineSock:
    def __init__(self, conn, timeout=30):
        self.conn = conn
        self.conn.settimeout(timeout)
        self.buf = b""

    def send(self, data):
        self.conn.sendall(data)

    def readline(self):
        while b"\n" not in self.buf:
            chunk = self.conn.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def close(self):
        try:
            self.conn.close()
        except OSError:
            pass


def rfc_device(head, state, init, extra=""):
    """The RFC's documented -device line, with this head and state."""
    return ("cxl-mhsld,bus=rp0,num-dc-regions=1,volatile-dc-memdev=mem0,"
            "id=cxl-mem0,sn=66667,mhd-head=%d,mhd-state_file=%s,mhd-init=%s%s"
            % (head, state, "true" if init else "false", extra))


def machine_args(dc_mem_path, dc_size, device, static_size=0, static_path=None):
    """The q35 + CXL machine around one device (the RFC's topology).  With
    static_size, a volatile backend vmem0 for volatile-memdev as well, in
    static_path (default: the DC file's path + ".static")."""
    static = []
    if static_size:
        static = ["-object", "memory-backend-file,id=vmem0,mem-path=%s,size=%d,"
                  "share=on" % (static_path or dc_mem_path + ".static", static_size)]
    return static + [
        "-machine", "q35,cxl=on",
        "-m", "256M",
        "-nodefaults", "-display", "none",
        "-object", "memory-backend-file,id=mem0,mem-path=%s,size=%d,share=on"
        % (dc_mem_path, dc_size),
        "-device", "pxb-cxl,bus_nr=%d,bus=pcie.0,id=cxl.1" % PXB_BUS,
        "-device", "cxl-rp,port=0,bus=cxl.1,id=rp0,chassis=0,slot=2",
        "-device", device,
        "-M", "cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size=4G",
    ]


class QmpMixin:
    """The fabric manager's side: QMP on self.qmp (a _LineSock), events
    queued in self.events."""

    def qmp_raw(self, command, **args):
        msg = {"execute": command}
        if args:
            msg["arguments"] = args
        self.qmp.send(json.dumps(msg).encode() + b"\n")
        while True:
            resp = json.loads(self.qmp.readline())
            if "event" in resp:
                self.events.append(resp)
                continue
            return resp

    def wait_event(self, name):
        """Wait for QMP event `name` (the socket timeout bounds the wait)."""
        while True:
            for i, ev in enumerate(self.events):
                if ev["event"] == name:
                    del self.events[: i + 1]
                    return ev
            self.events.append(json.loads(self.qmp.readline()))

    def qmp_cmd(self, command, **args):
        resp = self.qmp_raw(command, **args)
        if "error" in resp:
            raise HarnessError("QMP %s failed: %s" % (command, resp["error"]["desc"]))
        return resp["return"]

    def hmp(self, line):
        return self.qmp_cmd("human-monitor-command", **{"command-line": line})

    def dc_add(self, extents, region=0, path="/machine/peripheral/cxl-mem0"):
        """QMP add; extents are (region offset, length).  Returns the QMP
        response (with "error" on refusal)."""
        return self.qmp_raw("cxl-add-dynamic-capacity", **{
            "path": path, "host-id": 0, "selection-policy": "prescriptive",
            "region": region,
            "extents": [{"offset": o, "len": n} for o, n in extents]})

    def dc_release(self, extents, region=0, path="/machine/peripheral/cxl-mem0"):
        return self.qmp_raw("cxl-release-dynamic-capacity", **{
            "path": path, "host-id": 0, "removal-policy": "prescriptive",
            "region": region,
            "extents": [{"offset": o, "len": n} for o, n in extents]})


class Qemu(QmpMixin):
    """One QEMU process with a QMP and a qtest connection."""

    def __init__(self, binary, args, workdir, name, env=None):
        self.binary = binary
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=name + ".", dir=workdir)
        self.qmp_path = os.path.join(self.dir, "qmp.sock")
        self.qtest_path = os.path.join(self.dir, "qtest.sock")
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        qmp_l = _listen(self.qmp_path)
        qtest_l = _listen(self.qtest_path)
        cmd = [binary, "-accel", "qtest",
               "-qtest", "unix:" + self.qtest_path, "-qtest-log", "none",
               "-chardev", "socket,path=%s,id=qmp0" % self.qmp_path,
               "-mon", "chardev=qmp0,mode=control"] + args
        self.cmdline = cmd
        self.stderr_f = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=self.stderr_f, stderr=self.stderr_f,
                                     env=env)
        self.qmp = None
        self.qtest = None
        self.events = []
        try:
            self.qtest = _LineSock(self._accept(qtest_l))
            self.qmp = _LineSock(self._accept(qmp_l))
            greeting = json.loads(self.qmp.readline())
            if "QMP" not in greeting:
                raise HarnessError("no QMP greeting: %r" % greeting)
            self.qmp_cmd("qmp_capabilities")
            # Answered from the main loop: every device is realized by now.
            self.qmp_cmd("query-status")
        except (EOFError, OSError, HarnessError) as e:
            rc = self.proc.wait(timeout=30)
            raise QemuExited("%s exited during start-up (rc %s): %s\n%s" %
                             (name, rc, e, self.stderr()), rc, self.stderr())
        finally:
            qmp_l.close()
            qtest_l.close()
        self.host = None

    def _accept(self, lsock):
        return _accept(self.proc, lsock, EOFError)

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    # ---- qtest ------------------------------------------------------------

    def qt(self, line):
        self.qtest.send(line.encode() + b"\n")
        while True:
            resp = self.qtest.readline()
            if resp.startswith("IRQ"):
                continue
            if not resp.startswith("OK"):
                raise HarnessError("qtest %r: %r" % (line, resp))
            return resp[3:].strip()

    def outl(self, port, val):
        self.qt("outl 0x%x 0x%x" % (port, val))

    def inl(self, port):
        return int(self.qt("inl 0x%x" % port), 16)

    def readl(self, addr):
        return int(self.qt("readl 0x%x" % addr), 16)

    def writel(self, addr, val):
        self.qt("writel 0x%x 0x%x" % (addr, val))

    def readq(self, addr):
        return int(self.qt("readq 0x%x" % addr), 16)

    def writeq(self, addr, val):
        self.qt("writeq 0x%x 0x%x" % (addr, val))

    def memwrite(self, addr, data):
        if data:
            self.qt("write 0x%x 0x%x 0x%s" % (addr, len(data), data.hex()))

    def memread(self, addr, size):
        if size == 0:
            return b""
        out = self.qt("read 0x%x 0x%x" % (addr, size))
        return bytes.fromhex(out[2:] if out.startswith("0x") else out)

    # ---- life -------------------------------------------------------------

    def alive(self):
        return self.proc.poll() is None

    def kill(self):
        """SIGKILL: no unrealize, no detach."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._close()

    def quit(self):
        if self.proc.poll() is None:
            try:
                self.qmp_cmd("quit")
            except (EOFError, OSError, HarnessError):
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close()
        return self.proc.returncode

    def _close(self):
        for c in (self.qmp, self.qtest):
            if c:
                c.close()
        self.stderr_f.close()


def run_expect_failure(binary, args, timeout=60):
    """Start QEMU that should refuse to start; return (rc, stderr)."""
    cmd = [binary, "-accel", "qtest", "-monitor", "none", "-serial", "none"] + args
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=timeout)
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace")


# ---- the host's side: PCI, mailbox, HDM decoder ----------------------------

def _cfg_addr(bus, dev, fn, reg):
    return 0x80000000 | (bus << 16) | (dev << 11) | (fn << 8) | (reg & 0xFC)


class Host:
    """The host of one head: enumerates the CXL device and uses its mailbox."""

    def __init__(self, q):
        self.q = q
        self._setup_pci()
        self._find_mailbox()
        self.hdm = None

    def cfg_read32(self, bus, dev, fn, reg):
        self.q.outl(0xCF8, _cfg_addr(bus, dev, fn, reg))
        return self.q.inl(0xCFC)

    def cfg_write32(self, bus, dev, fn, reg, val):
        self.q.outl(0xCF8, _cfg_addr(bus, dev, fn, reg))
        self.q.outl(0xCFC, val & 0xFFFFFFFF)

    def _size_bar64(self, bus, dev, reg):
        lo = self.cfg_read32(bus, dev, 0, reg)
        hi = self.cfg_read32(bus, dev, 0, reg + 4)
        self.cfg_write32(bus, dev, 0, reg, 0xFFFFFFFF)
        self.cfg_write32(bus, dev, 0, reg + 4, 0xFFFFFFFF)
        slo = self.cfg_read32(bus, dev, 0, reg)
        shi = self.cfg_read32(bus, dev, 0, reg + 4)
        self.cfg_write32(bus, dev, 0, reg, lo)
        self.cfg_write32(bus, dev, 0, reg + 4, hi)
        if (slo & 0x6) != 0x4:
            raise HarnessError("BAR at 0x%x is not a 64-bit memory BAR" % reg)
        mask = (shi << 32) | (slo & ~0xF & 0xFFFFFFFF)
        return ((~mask) & 0xFFFFFFFFFFFFFFFF) + 1

    def _setup_pci(self):
        rp = self.cfg_read32(PXB_BUS, 0, 0, 0)
        if rp == 0xFFFFFFFF:
            raise HarnessError("no root port at %02x:00.0" % PXB_BUS)
        # Bus numbers: primary, secondary, subordinate.
        self.cfg_write32(PXB_BUS, 0, 0, 0x18, PXB_BUS | DEV_BUS << 8 | DEV_BUS << 16)
        # Non-prefetchable memory window [MMIO_BASE, MMIO_BASE + MMIO_SIZE).
        base = (MMIO_BASE >> 16) & 0xFFF0
        limit = ((MMIO_BASE + MMIO_SIZE - 1) >> 16) & 0xFFF0
        self.cfg_write32(PXB_BUS, 0, 0, 0x20, base | limit << 16)
        # Empty prefetchable window (base above limit).
        self.cfg_write32(PXB_BUS, 0, 0, 0x24, 0x0000FFF0)
        self.cfg_write32(PXB_BUS, 0, 0, 0x04, 0x0006)  # memory + bus master

        ids = self.cfg_read32(DEV_BUS, 0, 0, 0)
        if ids == 0xFFFFFFFF:
            raise HarnessError("no device behind the root port")
        self.vendor, self.device = ids & 0xFFFF, ids >> 16
        addr = MMIO_BASE
        self.bars = {}
        # BAR0: component registers (HDM decoders); BAR2: device registers
        # (mailbox).  The MSI-X BAR is left unprogrammed: no interrupts.
        for bar in (0, 2):
            reg = 0x10 + bar * 4
            size = self._size_bar64(DEV_BUS, 0, reg)
            addr = (addr + size - 1) & ~(size - 1)
            self.cfg_write32(DEV_BUS, 0, 0, reg, addr & 0xFFFFFFFF)
            self.cfg_write32(DEV_BUS, 0, 0, reg + 4, addr >> 32)
            self.bars[bar] = (addr, size)
            addr += size
        if addr > MMIO_BASE + MMIO_SIZE:
            raise HarnessError("BARs do not fit the window")
        self.cfg_write32(DEV_BUS, 0, 0, 0x04, 0x0006)

    def _find_mailbox(self):
        """CXL r3.1 8.2.8.1: the device capabilities array in BAR2."""
        regs = self.bars[2][0]
        hdr = self.q.readq(regs)
        if hdr & 0xFFFF != 0:
            raise HarnessError("BAR2 is not a CXL device register block")
        count = (hdr >> 32) & 0xFFFF
        self.mbox = None
        for i in range(1, count + 1):
            cap = regs + 0x10 * i
            cap_id = self.q.readl(cap) & 0xFFFF
            offset = self.q.readl(cap + 4)
            if cap_id == 0x0002:  # primary mailbox
                self.mbox = regs + offset
        if self.mbox is None:
            raise HarnessError("no primary mailbox capability")
        self.payload_max = 1 << (self.q.readl(self.mbox) & 0x1F)

    def mbox_cmd(self, opcode, payload=b""):
        """Execute one command; returns (return code, output payload)."""
        if len(payload) > self.payload_max:
            raise HarnessError("payload too long")
        q = self.q
        if q.readl(self.mbox + 4) & 1:
            raise HarnessError("mailbox busy")
        q.memwrite(self.mbox + 0x20, payload)
        q.writeq(self.mbox + 0x8, opcode | len(payload) << 16)
        q.writel(self.mbox + 0x4, 1)
        if q.readl(self.mbox + 0x4) & 1:
            raise HarnessError("doorbell still set: background command?")
        sts = q.readq(self.mbox + 0x10)
        rc = (sts >> 32) & 0xFFFF
        out_len = (q.readq(self.mbox + 0x8) >> 16) & 0xFFFFF
        if out_len > self.payload_max:
            raise HarnessError("output length %d beyond the payload" % out_len)
        return rc, q.memread(self.mbox + 0x20, out_len)

    def mbox_ok(self, opcode, payload=b""):
        rc, out = self.mbox_cmd(opcode, payload)
        if rc != RC_SUCCESS:
            raise HarnessError("mailbox %04xh failed: rc 0x%x" % (opcode, rc))
        return out

    # ---- events, DC -------------------------------------------------------

    def dc_events(self):
        """Read and clear the DC event log.  Returns [(type, dpa, len)]."""
        events = []
        while True:
            out = self.mbox_ok(OP_GET_EVENT_RECORDS, bytes([EVENT_LOG_DCD]))
            flags = out[0]
            count = struct.unpack_from("<H", out, 0x14)[0]
            handles = []
            for i in range(count):
                rec = out[0x20 + 0x80 * i: 0x20 + 0x80 * (i + 1)]
                handles.append(struct.unpack_from("<H", rec, 0x14)[0])
                ev_type = rec[0x30]
                dpa, length = struct.unpack_from("<QQ", rec, 0x38)
                events.append((ev_type, dpa, length))
            if handles:
                clear = struct.pack("<BBB3x", EVENT_LOG_DCD, 0, len(handles))
                clear += b"".join(struct.pack("<H", h) for h in handles)
                self.mbox_ok(OP_CLEAR_EVENT_RECORDS, clear)
            if not count or not flags & 0x2:  # no more records
                return events

    @staticmethod
    def extent_list_payload(extents):
        p = struct.pack("<IB3x", len(extents), 0)
        for dpa, length in extents:
            p += struct.pack("<QQ8x", dpa, length)
        return p

    def add_response(self, extents):
        """Add DC Response (4802h) accepting `extents` (absolute DPA)."""
        return self.mbox_cmd(OP_ADD_DC_RESPONSE, self.extent_list_payload(extents))[0]

    def release(self, extents):
        return self.mbox_cmd(OP_RELEASE_DC, self.extent_list_payload(extents))[0]

    def extent_list(self):
        out = self.mbox_ok(OP_GET_DC_EXTENT_LIST, struct.pack("<II", 64, 0))
        n = struct.unpack_from("<I", out, 0)[0]
        return [struct.unpack_from("<QQ", out, 0x10 + 0x28 * i) for i in range(n)]

    def dc_region0_base(self):
        out = self.mbox_ok(OP_GET_DC_CONFIG, bytes([1, 0]))
        return struct.unpack_from("<Q", out, 8)[0]

    def accept_offer(self, accept=None):
        """Read the pending Add Capacity events and answer them.  `accept`
        is None (all offered extents), or a function offered -> accepted."""
        offered = [(d, n) for t, d, n in self.dc_events() if t == DC_EVENT_ADD_CAPACITY]
        if not offered:
            raise HarnessError("no Add Capacity event in the DC log")
        acc = offered if accept is None else accept(offered)
        return self.add_response(acc), offered

    def mhd_info(self, start=0, limit=255):
        rc, out = self.mbox_cmd(OP_GET_MHD_INFO, bytes([start, limit]))
        if rc != RC_SUCCESS:
            return rc, None
        nr_lds, nr_heads = out[0], out[1]
        start_ld, map_len = out[4], out[5]
        return rc, {"lds": nr_lds, "heads": nr_heads, "start": start_ld,
                    "map": list(out[8:8 + map_len])}

    # ---- memory through the CFMW ------------------------------------------

    def commit_hdm(self, hpa_base, size, dpa_skip=0):
        """Program and commit the device's HDM decoder 0 (CXL r3.1 8.2.4.20)."""
        cm = self.bars[0][0] + 0x1000
        hdr = self.q.readl(cm)
        if hdr & 0xFFFF != 0x0001:
            raise HarnessError("no CXL capability array in BAR0")
        hdm = None
        for i in range(1, (hdr >> 24) + 1):
            h = self.q.readl(cm + 4 * i)
            if h & 0xFFFF == 0x0005:
                hdm = cm + (h >> 20)
        if hdm is None:
            raise HarnessError("no HDM decoder capability")
        w = self.q.writel
        w(hdm + 0x04, 0x2)  # HDM decoder enable
        w(hdm + 0x10, hpa_base & 0xF0000000)
        w(hdm + 0x14, hpa_base >> 32)
        w(hdm + 0x18, size & 0xF0000000)
        w(hdm + 0x1C, size >> 32)
        w(hdm + 0x24, dpa_skip & 0xF0000000)
        w(hdm + 0x28, dpa_skip >> 32)
        w(hdm + 0x20, 1 << 9)  # IG 256 B, IW 1, commit
        ctrl = self.q.readl(hdm + 0x20)
        if not ctrl & (1 << 10):
            raise HarnessError("HDM decoder 0 did not commit (ctrl 0x%x)" % ctrl)
        self.hdm = (hpa_base, size)


def cfmw_base(q):
    """HPA of the CXL fixed memory window, from the memory tree."""
    tree = q.hmp("info mtree -f")
    m = re.search(r"([0-9a-f]+)-[0-9a-f]+ \(prio [-0-9]+, i/o\): cxl-fixed-memory-region",
                  tree)
    if not m:
        raise HarnessError("no cxl-fixed-memory-region in the memory tree")
    return int(m.group(1), 16)
