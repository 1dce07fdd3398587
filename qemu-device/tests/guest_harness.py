# SPDX-License-Identifier: BSD-2-Clause
"""Boot real Linux guests on cxl-mhsld heads and talk to them.

A guest is qemu-system-x86_64 with -kernel/-initrd from
qemu-device/guest/build-guest.sh.  Its serial console is a unix socket the
harness listens on: a reader thread collects the console's lines (and a
transcript file), and the harness synchronises only on the markers the
guest's /init prints (guest/init documents them), each wait bounded.  QMP
works as in qemu_harness (the fabric manager's side).

Python 3 standard library only.
"""

import os
import re
import subprocess
import tempfile
import threading
import time

from qemu_harness import HarnessError, QmpMixin, _LineSock, _accept, _listen

MiB = 1 << 20
KVM_FAILURE = re.compile(r"KVM internal error|emulation failure|kvm run failed", re.I)


class GuestImage:
    """A directory written by build-guest.sh."""

    def __init__(self, path):
        self.dir = path
        self.kernel = os.path.join(path, "vmlinuz")
        self.initrd = os.path.join(path, "initrd.gz")
        with open(os.path.join(path, "kernel-release")) as f:
            self.release = f.read().strip()
        with open(os.path.join(path, "versions")) as f:
            self.versions = f.read().strip().splitlines()
        for p in (self.kernel, self.initrd):
            if not os.path.isfile(p):
                raise HarnessError("guest image incomplete: %s missing" % p)


def cpu_args(accel):
    """KVM when it works, else TCG; never a CPUID hypervisor bit: Debian's
    kernel will not commit a CXL region when it sees one."""
    return ["-accel", accel, "-cpu", "max,hypervisor=off"]


def kernel_cmdline(extra=""):
    # memhp_default_state=offline: hot-added memory is never onlined on its
    # own (onlining CXL memory as System RAM crashes QEMU 10.0's TCG).
    # The cxl drivers' dynamic debug shows the Command Effects Log walk
    # (which opcodes the device advertises) in dmesg.
    return ("console=ttyS0 panic=-1 memhp_default_state=offline "
            "cxl_core.dyndbg=+p cxl_pci.dyndbg=+p cxl_mem.dyndbg=+p " + extra).strip()


class Guest(QmpMixin):
    """One QEMU head running a Linux guest, with QMP and its serial console."""

    def __init__(self, binary, image, args, workdir, name, accel="tcg", append="", env=None):
        self.binary = binary
        self.name = name
        self.image = image
        self.dir = tempfile.mkdtemp(prefix=name + ".", dir=workdir)
        self.qmp_path = os.path.join(self.dir, "qmp.sock")
        self.serial_path = os.path.join(self.dir, "serial.sock")
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        self.console_path = os.path.join(self.dir, "console.log")
        self.lines = []
        self.cond = threading.Condition()
        self.closed = False
        self.seq = 0
        self.events = []
        self.t0 = time.monotonic()
        qmp_l = _listen(self.qmp_path)
        ser_l = _listen(self.serial_path)
        cmd = [binary] + cpu_args(accel) + [
            "-smp", "1", "-no-reboot",
            "-kernel", image.kernel, "-initrd", image.initrd,
            "-append", kernel_cmdline(append),
            "-chardev", "socket,path=%s,id=ser0" % self.serial_path,
            "-serial", "chardev:ser0",
            "-chardev", "socket,path=%s,id=qmp0" % self.qmp_path,
            "-mon", "chardev=qmp0,mode=control"] + args
        self.cmdline = cmd
        self.stderr_f = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.stderr_f,
                                     stderr=self.stderr_f, env=env)
        self.qmp = None
        self.serial = None
        try:
            # QEMU connects its chardevs in command-line order.
            self.serial = self._accept(ser_l)
            self.qmp = _LineSock(self._accept(qmp_l))
        except (OSError, HarnessError) as e:
            self._reap()
            err = HarnessError("%s exited during start-up: %s\n%s" % (name, e, self.stderr()))
            err.guest_stderr = self.stderr()
            raise err
        finally:
            qmp_l.close()
            ser_l.close()
        self.reader = threading.Thread(target=self._read_console, daemon=True)
        self.reader.start()
        try:
            greeting = self.qmp.readline()
            if "QMP" not in greeting:
                raise HarnessError("no QMP greeting: %r" % greeting)
            self.qmp_cmd("qmp_capabilities")
        except (EOFError, OSError, HarnessError) as e:
            self._reap()
            err = HarnessError("%s: QMP failed: %s\n%s" % (name, e, self.stderr()))
            err.guest_stderr = self.stderr()
            raise err

    def _accept(self, lsock):
        return _accept(self.proc, lsock, HarnessError)

    def _read_console(self):
        buf = b""
        with open(self.console_path, "wb") as log:
            while True:
                try:
                    chunk = self.serial.recv(65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    break
                log.write(chunk)
                log.flush()
                buf += chunk
                *done, buf = buf.split(b"\n")
                if done:
                    with self.cond:
                        self.lines.extend(ln.decode(errors="replace").rstrip("\r")
                                          for ln in done)
                        self.cond.notify_all()
        with self.cond:
            if buf:
                self.lines.append(buf.decode(errors="replace"))
            self.closed = True
            self.cond.notify_all()

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def console(self, last=40):
        with self.cond:
            return "\n".join(self.lines[-last:])

    def elapsed(self):
        return time.monotonic() - self.t0

    def wait_line(self, pattern, timeout, start=0):
        """Index and match of the first console line from `start` matching
        `pattern`; HarnessError after `timeout` seconds, when the guest
        stops, or when KVM reports an internal error."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        i = start
        with self.cond:
            while True:
                while i < len(self.lines):
                    m = rx.search(self.lines[i])
                    if m:
                        return i, m
                    i += 1
                if KVM_FAILURE.search(self.stderr()):
                    raise HarnessError("%s: KVM failed: %s" % (
                        self.name, KVM_FAILURE.search(self.stderr()).group(0)))
                if self.closed or self.proc.poll() is not None:
                    raise HarnessError("%s: guest stopped before %r (rc %s)\n%s\n%s" % (
                        self.name, pattern, self.proc.poll(), self.console(), self.stderr()))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise HarnessError("%s: no %r within %d s; console:\n%s" % (
                        self.name, pattern, timeout, self.console()))
                # Woken by every new console line; the timeout only lets
                # KVM failures and exits be noticed.
                self.cond.wait(min(left, 0.5))

    def boot(self, timeout):
        """Wait for the guest's command loop; returns the boot time (s)."""
        self.wait_line(r"^MHSLD-READY$", timeout)
        return self.elapsed()

    def run(self, command, timeout=60, check=True):
        """Run one shell command in the guest; returns (rc, output)."""
        if "\n" in command:
            raise HarnessError("one line per command")
        self.seq += 1
        tag = "c%d" % self.seq
        with self.cond:
            start = len(self.lines)
        self.serial.sendall(("%s %s\n" % (tag, command)).encode())
        b, _ = self.wait_line(r"^MHSLD-BEGIN %s$" % tag, timeout, start)
        e, m = self.wait_line(r"^MHSLD-END %s rc=(\d+)$" % tag, timeout, b)
        with self.cond:
            out = "\n".join(self.lines[b + 1:e])
        rc = int(m.group(1))
        if check and rc != 0:
            raise HarnessError("%s: `%s` failed (rc %d):\n%s" % (self.name, command, rc, out))
        return rc, out

    def alive(self):
        return self.proc.poll() is None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self._reap()

    def quit(self):
        if self.proc.poll() is None:
            try:
                self.qmp_cmd("quit")
            except (EOFError, OSError, HarnessError):
                pass
        self._reap()
        return self.proc.returncode

    def _reap(self):
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for c in (self.qmp,):
            if c:
                c.close()
        if self.serial:
            try:
                self.serial.close()
            except OSError:
                pass
        self.stderr_f.close()


def probe_accel(binary, image, workdir, timeout=20):
    """("kvm", why) when KVM boots the guest to its init, else ("tcg", why).

    /dev/kvm can exist and still fail every guest ("KVM internal error ...
    emulation failure"): the probe boots the real kernel with mhsld.probe,
    which powers off as soon as /init runs, and gives up on KVM at the first
    internal error, an exit without the marker, or `timeout` seconds."""
    if not os.path.exists("/dev/kvm"):
        return "tcg", "no /dev/kvm"
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
        os.close(fd)
    except OSError as e:
        return "tcg", "/dev/kvm: %s" % e.strerror
    t0 = time.monotonic()
    g = None
    try:
        g = Guest(binary, image, ["-machine", "q35", "-m", "256M", "-nodefaults",
                                  "-display", "none"],
                  workdir, "kvm-probe", accel="kvm", append="mhsld.probe")
        g.wait_line(r"^MHSLD-PROBE-OK$", timeout)
        return "kvm", "KVM boot probe reached /init in %.1f s" % (time.monotonic() - t0)
    except HarnessError as e:
        why = str(e).strip().splitlines()[0]
        text = getattr(e, "guest_stderr", None) or (g.stderr() if g else "")
        err = [ln for ln in text.splitlines() if ln.strip()]
        if err:
            why = err[0]
        return "tcg", "KVM boot probe failed in %.1f s: %s" % (time.monotonic() - t0, why)
    finally:
        if g:
            g.kill()


def cxl_kernel_summary(dmesg):
    """The guest kernel's view of its CXL memdev, from dmesg (with the cxl
    drivers' dynamic debug on), condensed to a few lines."""
    out = []
    cel = []
    for ln in dmesg.splitlines():
        msg = re.sub(r"^\[\s*[\d.]+\]\s*", "", ln)
        m = re.search(r"Opcode 0x([0-9a-fA-F]{4}) (enabled|unsupported by driver)", msg)
        if m:
            cel.append((m.group(1).upper(), m.group(2)))
            continue
        if re.search(r"Mailbox payload sized|DPA\(\w+\):|cxl_mem mem\d+: probe:|"
                     r"cxl_acpi .*added|Mailbox operation|timed out", msg):
            out.append(msg)
    if cel:
        unsup = [op + "h" for op, how in cel if how != "enabled"
                 and op[:2] in ("48", "55")]
        out.insert(1 if out else 0, "Command Effects Log: %d opcodes; %d enabled; unsupported by "
                   "this driver: %s" % (len(cel), sum(1 for _, h in cel if h == "enabled"),
                                        " ".join(unsup) or "-"))
    return out
