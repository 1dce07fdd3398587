#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""End-to-end tests of mhsldctl: every verb, its errors and exit codes.

Run by ctest (label "tool"), one test group (unittest class) per ctest test:
    MHSLDCTL=build/tools/mhsldctl MHSLDCTL_TESTING=build/tools/mhsldctl_testing \
        python3 tools/tests/test_mhsldctl.py -v TestHeadVerbs

States are files under /dev/shm with names unique to this process; every
test destroys what it created.  Processes that must stay attached (a live
head) are `mhsldctl session` children, synchronised through their stdin and
stdout lines, never with sleeps; a head "killed mid-way" is a session of the
test build of the tool killed by SIGKILL at the engine's K-th atomic step.
"""
import itertools
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import unittest
import xml.etree.ElementTree as ET

TOOL = os.environ.get("MHSLDCTL", "")
TTOOL = os.environ.get("MHSLDCTL_TESTING", "")

K = 1 << 10
M = 1 << 20
G = 1 << 30

EXIT_OK, EXIT_FALSE, EXIT_USAGE, EXIT_REFUSED, EXIT_STATE, EXIT_IO = range(6)

_counter = itertools.count()


class Session:
    """A head kept attached by `mhsldctl session`, one command per line."""

    def __init__(self, tool, state, head, *extra):
        self.proc = subprocess.Popen(
            [tool, "session", state, "--head", str(head), *extra],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, bufsize=1)
        self.ready = self.proc.stdout.readline().strip()

    def cmd(self, line):
        """Send one command; return its one-line answer ('' if the process died)."""
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()  # SIGKILL
        self.proc.wait()
        self._close_pipes()

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        self.proc.wait()
        self._close_pipes()

    def _close_pipes(self):
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except (BrokenPipeError, OSError):
                pass


class Base(unittest.TestCase):
    def setUp(self):
        if not TOOL or not os.access(TOOL, os.X_OK):
            self.fail("MHSLDCTL must name the mhsldctl binary")
        self.paths = []
        self.sessions = []
        self.servers = []

    def tearDown(self):
        for s in self.sessions:
            s.kill()
        for s in self.servers:
            err = s.kill()
            # Under ASan/UBSan/TSan any report fails the test.
            self.assertNotRegex(err, r"Sanitizer|runtime error:", err)
        for p in self.paths:
            if os.path.exists(p):
                subprocess.run([TOOL, "destroy", p, "--force"], capture_output=True)
            if os.path.exists(p):
                os.unlink(p)

    # -- helpers ----------------------------------------------------------

    def new_path(self, tag="s"):
        p = "/dev/shm/mhsldctl-test-%d-%d-%s" % (os.getpid(), next(_counter), tag)
        self.paths.append(p)
        return p

    def run_tool(self, *args, tool=None):
        r = subprocess.run([tool or TOOL, *[str(a) for a in args]], capture_output=True,
                           text=True)
        # Under ASan/UBSan any report fails the test, whatever the exit status.
        self.assertNotRegex(r.stderr, r"Sanitizer|runtime error:", r.stderr)
        return r

    def expect(self, rc, *args, err=None, out=None, tool=None):
        """Run and check the exit status; errors must be one line on stderr."""
        r = self.run_tool(*args, tool=tool)
        self.assertEqual(r.returncode, rc, "mhsldctl %s\nstdout: %s\nstderr: %s" %
                         (" ".join(map(str, args)), r.stdout, r.stderr))
        if rc not in (EXIT_OK, EXIT_FALSE) or (rc == EXIT_FALSE and args[0] == "verify"):
            lines = r.stderr.splitlines()
            self.assertEqual(len(lines), 1, "one-line error expected: %r" % r.stderr)
            self.assertTrue(lines[0].startswith("mhsldctl: "), r.stderr)
        elif rc == EXIT_OK:
            self.assertEqual(r.stderr, "", "no stderr on success")
        if err is not None:
            self.assertRegex(r.stderr, err)
        if out is not None:
            self.assertRegex(r.stdout, out)
        return r

    def ok(self, *args, **kw):
        return self.expect(EXIT_OK, *args, **kw).stdout

    def create(self, *extra, capacity="64M", heads=2, tag="s"):
        p = self.new_path(tag)
        self.ok("create", p, "--capacity", capacity, "--heads", heads, *extra)
        return p

    def show(self, p):
        return json.loads(self.ok("show", p, "--json"))

    def head(self, p, h):
        return self.show(p)["heads"][h]

    def session(self, p, h, *extra, tool=None):
        s = Session(tool or TOOL, p, h, *extra)
        self.sessions.append(s)
        self.assertTrue(s.ready.startswith("ready head %d " % h), s.ready)
        return s

    def extents(self, lst):
        return [(e["dpa"], e["length"]) for e in lst]


class Server:
    """`mhsldctl fm-serve --json`: a stand-in head serving its FM queue.

    Every request it serves is one JSON line on its stdout; the tests wait
    for those lines to know what happened, never sleep.  A thread reads the
    lines so that a wait is bounded: a line that does not come fails the test
    instead of hanging it."""

    WAIT = 60  # seconds; a bound for a failure, not a synchronisation

    def __init__(self, tool, state, head, *extra):
        self.proc = subprocess.Popen(
            [tool, "fm-serve", state, "--head", str(head), "--json", *map(str, extra)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        self.lines = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.ready = self.line()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put("")  # end of output

    def line(self):
        """The next line it printed, parsed (None once it has exited)."""
        try:
            line = self.lines.get(timeout=self.WAIT)
        except queue.Empty:
            raise AssertionError("fm-serve printed nothing in %d s" % self.WAIT) from None
        return json.loads(line) if line else None

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.proc.wait()

    def kill(self):
        """Stop it (SIGKILL if still running); return what it wrote on stderr."""
        self.stop(signal.SIGKILL)
        self.reader.join()
        if self.proc.stderr.closed:
            return ""
        err = self.proc.stderr.read()
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()
        return err


class TestCommandLine(Base):
    """Strict parsing: bad input is a usage error (2) and changes nothing."""

    def test_bad_sizes(self):
        p = self.new_path()
        for cap in ("", "0", "abc", "1Q", "2M ", " 2M", "-2M", "+2M", "0x", "2MB", "2M2",
                    "18446744073709551616", "99999999999999999999999", "16777216T",
                    "0x10000000000000000", "1.5G"):
            self.expect(EXIT_USAGE, "create", p, "--capacity", cap, err="--capacity")
            self.assertFalse(os.path.exists(p), "failed create left %s behind" % p)

    def test_bad_numbers(self):
        p = self.new_path()
        cases = [
            (["--heads", "0"], "--heads"), (["--heads", "33"], "--heads"),
            (["--heads", "2x"], "--heads"), (["--heads", "0x2"], "--heads"),
            (["--heads", "-1"], "--heads"), (["--lds", "65"], "--lds"),
            (["--block-size", "3M"], "power of two"), (["--block-size", "1M"], "power of two"),
            (["--block-size", "2T"], "power of two"), (["--base", "1M"], "aligned"),
            (["--capacity", "3M"], "aligned"),
        ]
        for extra, msg in cases:
            args = ["create", p] + (["--capacity", "64M"] if "--capacity" not in extra else [])
            self.expect(EXIT_USAGE, *(args + extra), err=msg)
            self.assertFalse(os.path.exists(p))

    def test_option_errors(self):
        p = self.new_path()
        self.expect(EXIT_USAGE, err="no verb")
        self.expect(EXIT_USAGE, "frobnicate", p, err="unknown verb 'frobnicate'")
        self.expect(EXIT_USAGE, "create", err="STATE is required")
        self.expect(EXIT_USAGE, "create", p, err="--capacity")
        self.expect(EXIT_USAGE, "create", p, "--capacity", err="needs a value")
        self.expect(EXIT_USAGE, "create", p, "--capacity", "64M", "--capacity", "64M",
                    err="given twice")
        self.expect(EXIT_USAGE, "create", p, "--capacity", "64M", "--json", err="unknown option")
        self.expect(EXIT_USAGE, "create", p, "--capacity", "64M", "-x", err="unknown option")
        self.expect(EXIT_USAGE, "create", p, "--capacity", "64M", "extra", err="unexpected")
        self.expect(EXIT_USAGE, "create", p, "--capacity", "64M", "--force=yes",
                    err="takes no value")
        self.expect(EXIT_USAGE, "create", "", "--capacity", "64M", err="empty")
        self.assertFalse(os.path.exists(p))
        # --opt=value works like --opt value
        self.ok("create", p, "--capacity=64M", "--heads=3")
        self.assertEqual(self.show(p)["nr_heads"], 3)

    def test_bad_extents(self):
        p = self.create()
        before = self.show(p)
        for ext in ("0", "0+", "+2M", "0+0", "0++2M", "0+2M+2M", "x+2M", "0+2X",
                    "0xffffffffffffffff+2M", "18446744073709551615+1", "0+-2M"):
            self.expect(EXIT_USAGE, "reserve", p, "--head", 0, ext, err="mhsldctl: reserve: ")
        self.expect(EXIT_USAGE, "reserve", p, "--head", 0, err="EXTENT is required")
        self.expect(EXIT_USAGE, "reserve", p, "0+2M", err="--head is required")
        self.expect(EXIT_USAGE, "reserve", p, "--head", "x", "0+2M", err="--head")
        self.expect(EXIT_USAGE, "reserve", p, "--head", 32, "0+2M", err="--head")
        self.expect(EXIT_USAGE, "reserve", p, "--head", 2, "0+2M", err="does not exist")
        many = ["%d+2M" % (i * 2 * M) for i in range(129)]
        self.expect(EXIT_USAGE, "reserve", p, "--head", 0, *many, err="at most 128")
        self.assertEqual(self.show(p), before, "rejected requests changed the state")

    def test_suffixes_and_hex(self):
        p = self.create(capacity="0x80000000", tag="hex")
        d = self.show(p)
        self.assertEqual(d["capacity"], 2 * G)
        g = self.ok("reserve", p, "--head", 0, "1G+512M", "0x200000+2m", "4096K+2097152").strip()
        self.assertRegex(g, r"^[1-9][0-9]*$")
        self.assertEqual(sorted(self.extents(self.head(p, 0)["pending"])),
                         [(2 * M, 2 * M), (4 * M, 2 * M), (G, 512 * M)])


class TestHelp(Base):
    VERBS = ["create", "destroy", "show", "map", "verify", "recover", "reserve", "commit",
             "release", "check", "share-add", "share-release"]

    def test_main_help(self):
        for flag in ("--help", "-h"):
            out = self.ok(flag)
            self.assertIn("usage: mhsldctl", out)
            for v in self.VERBS:
                self.assertRegex(out, r"\n  %s +\S" % re.escape(v))
            self.assertIn("Exit status", out)
        self.assertRegex(self.ok("--version"), r"^mhsldctl \S+\n$")

    def test_verb_help(self):
        for v in self.VERBS + ["session"]:
            for form in ([v, "--help"], [v, "-h"], ["help", v], [v, "/nonexistent", "--help"]):
                out = self.ok(*form)
                self.assertTrue(out.startswith("usage: mhsldctl %s " % v), out)
                self.assertIn("Exit status", out)
                for line in out.splitlines():
                    self.assertLessEqual(len(line), 80, "help line too wide: %r" % line)
        self.expect(EXIT_USAGE, "help", "nope", err="unknown verb")


class TestCreateDestroy(Base):
    def test_create_refuses_existing(self):
        p = self.create()
        self.ok("reserve", p, "--head", 0, "0+4M")
        self.ok("commit", p, "--head", 0, "0+4M")
        self.expect(EXIT_REFUSED, "create", p, "--capacity", "64M", "--heads", 2,
                    err="already exists.*--force")
        self.expect(EXIT_REFUSED, "create", p, "--capacity", "128M", err="already exists")
        self.assertEqual(self.head(p, 0)["owned_bytes"], 4 * M, "create touched a live state")
        out = self.ok("create", p, "--capacity", "128M", "--heads", 4, "--force")
        self.assertIn("re-initialised", out)
        d = self.show(p)
        self.assertEqual((d["capacity"], d["nr_heads"]), (128 * M, 4))
        self.assertEqual(sum(h["owned_blocks"] for h in d["heads"]), 0)

    def test_create_over_foreign_file(self):
        p = self.new_path("foreign")
        with open(p, "wb") as f:
            f.write(b"not an mhsld state, just some bytes " * 4096)
        self.expect(EXIT_STATE, "create", p, "--capacity", "64M", err="--force")
        with open(p, "rb") as f:
            self.assertTrue(f.read().startswith(b"not an mhsld state"), "foreign file touched")
        self.ok("create", p, "--capacity", "64M", "--force")
        self.ok("verify", p)

    def test_geometry(self):
        p = self.new_path()
        out = self.ok("create", p, "--capacity", "256M", "--block-size", "4M", "--heads", 3,
                      "--lds", 5, "--base", "1G")
        self.assertIn("created %s" % p, out)
        d = self.show(p)
        self.assertEqual(d["block_size"], 4 * M)
        self.assertEqual(d["block_count"], 64)
        self.assertEqual(d["nr_lds"], 5)
        self.assertEqual(d["ld_map"], [0, 1, 2, None, None])
        self.assertEqual([(r["base"], r["length"], r["sharable"]) for r in d["regions"]],
                         [(G, 256 * M, False)])
        self.assertGreater(d["state_size"], 0)
        self.assertGreaterEqual(os.path.getsize(p), d["state_size"])

    def test_regions(self):
        p = self.new_path()
        self.ok("create", p, "--regions", "0+64M,1G+32M:shared", "--heads", 2)
        d = self.show(p)
        self.assertEqual([(r["base"], r["length"], r["sharable"]) for r in d["regions"]],
                         [(0, 64 * M, False), (G, 32 * M, True)])
        self.assertEqual(d["capacity"], 96 * M)
        self.assertEqual(d["block_count"], 48)
        q = self.new_path()
        self.ok("create", q, "--regions", "0+64M,1G+32M", "--capacity", "96M")
        r = self.new_path()
        for regions, msg in (("0+64M,32M+64M", "increasing"), ("1G+2M,0+2M", "increasing"),
                             ("0+64M:sharable", "unknown flag"), ("0+0", "zero"),
                             ("0+64M,", "expected"), ("", "empty"),
                             (",".join("%dG+2M" % i for i in range(9)), "more than 8")):
            self.expect(EXIT_USAGE, "create", r, "--regions", regions, err=msg)
        self.expect(EXIT_USAGE, "create", r, "--regions", "0+64M", "--capacity", "32M",
                    err="differs")
        self.expect(EXIT_USAGE, "create", r, "--regions", "0+64M", "--base", "0",
                    err="exclude")
        self.assertFalse(os.path.exists(r))

    def test_shm_name(self):
        name = "mhsldctl-test-%d-%d-name" % (os.getpid(), next(_counter))
        self.paths.append("/dev/shm/" + name)
        self.ok("create", name, "--capacity", "32M")
        self.assertTrue(os.path.exists("/dev/shm/" + name))
        self.assertEqual(self.show(name)["capacity"], 32 * M)
        self.ok("destroy", name)
        self.assertFalse(os.path.exists("/dev/shm/" + name))

    def test_destroy(self):
        p = self.create()
        s = self.session(p, 1)
        self.expect(EXIT_REFUSED, "destroy", p, err="live process")
        self.assertTrue(os.path.exists(p))
        s.close()
        self.assertIn("destroyed", self.ok("destroy", p))
        self.assertFalse(os.path.exists(p))
        self.expect(EXIT_STATE, "destroy", p)
        self.expect(EXIT_STATE, "show", p)
        q = self.create()
        self.session(q, 0)
        self.ok("destroy", q, "--force")
        self.assertFalse(os.path.exists(q))

    def test_absent_and_io(self):
        p = self.new_path()
        for verb in (["show"], ["map"], ["verify"], ["recover", "--head", "0"],
                     ["reserve", "--head", "0", "0+2M"], ["check", "--head", "0", "0+2M"]):
            self.expect(EXIT_STATE, verb[0], p, *verb[1:], err=p)
        self.assertFalse(os.path.exists(p))
        r = self.run_tool("create", "/nonexistent-dir-mhsldctl/x", "--capacity", "64M")
        self.assertIn(r.returncode, (EXIT_STATE, EXIT_IO), r.stderr)
        self.assertTrue(r.stderr.startswith("mhsldctl: create: "), r.stderr)


class TestShow(Base):
    def test_json_fields(self):
        p = self.create(heads=3)
        g = int(self.ok("reserve", p, "--head", 1, "8M+8M"))
        self.ok("commit", p, "--head", 1, "8M+2M", "12M+4M")
        self.ok("reserve", p, "--head", 2, "32M+2M")
        d = self.show(p)
        self.assertEqual(d["state"], p)
        self.assertEqual((d["block_size"], d["block_count"], d["capacity"], d["nr_heads"]),
                         (2 * M, 32, 64 * M, 3))
        self.assertEqual(len(d["heads"]), 3)
        keys = {"head", "epoch", "alive", "pid", "inflight_op", "owned_blocks",
                "pending_blocks", "shared_blocks", "owned_bytes", "pending_bytes",
                "shared_bytes", "nr_pending", "list_generation", "seqs_left", "owned", "pending",
                "shared"}
        for i, h in enumerate(d["heads"]):
            self.assertEqual(set(h), keys)
            self.assertEqual(h["head"], i)
            self.assertFalse(h["alive"])
            self.assertIsNone(h["inflight_op"])
        h0, h1, h2 = d["heads"]
        self.assertEqual((h0["epoch"], h0["owned"], h0["pending"]), (0, [], []))
        self.assertEqual(h0["seqs_left"], (1 << 34) - 1)  # never made an operation
        self.assertGreater(h1["epoch"], 0)
        self.assertLess(h1["seqs_left"], (1 << 34) - 1)
        self.assertEqual(self.extents(h1["owned"]), [(8 * M, 2 * M), (12 * M, 4 * M)])
        self.assertEqual((h1["owned_bytes"], h1["owned_blocks"], h1["pending_bytes"]),
                         (6 * M, 3, 0))
        self.assertEqual(self.extents(h2["pending"]), [(32 * M, 2 * M)])
        self.assertEqual((h2["pending_blocks"], h2["nr_pending"]), (1, 1))
        self.assertEqual(d["shared"], [])
        self.assertGreater(g, 0)

    def test_text(self):
        p = self.create(heads=2)
        self.ok("reserve", p, "--head", 0, "0+4M")
        self.ok("commit", p, "--head", 0, "2M+2M")
        out = self.ok("show", p)
        self.assertIn("state %s" % p, out)
        self.assertIn("2 heads, 2 LDs, 32 blocks of 2M (64M)", out)
        self.assertIn("region 0: 0x0+64M exclusive", out)
        self.assertRegex(out, r"head 0: epoch \d+, not attached \(pid \d+\), in-flight none")
        self.assertRegex(out, r"owned +0x200000\+2M")
        self.assertIn("head 1: never attached", out)
        self.assertIn("shared extents: none", out)
        s = self.session(p, 1)
        out = self.ok("show", p)
        self.assertRegex(out, r"head 1: epoch \d+, alive \(pid %d\)" % s.proc.pid)
        self.assertTrue(self.head(p, 1)["alive"])
        self.assertEqual(self.head(p, 1)["pid"], s.proc.pid)


class TestHeadVerbs(Base):
    def test_reserve_commit_subset(self):
        p = self.create()
        g = self.ok("reserve", p, "--head", 0, "0+8M").strip()
        self.assertRegex(g, r"^[1-9]\d*$")
        h = self.head(p, 0)
        self.assertEqual((h["pending_bytes"], h["owned_bytes"], h["nr_pending"]), (8 * M, 0, 1))
        self.expect(EXIT_FALSE, "check", p, "--head", 0, "0+2M", out="not accessible")
        out = self.ok("commit", p, "--head", 0, "0+2M", "4M+2M")
        self.assertIn("group %s: accepted 4M, returned 4M to free" % g, out)
        h = self.head(p, 0)
        self.assertEqual(self.extents(h["owned"]), [(0, 2 * M), (4 * M, 2 * M)])
        self.assertEqual((h["pending_bytes"], h["nr_pending"]), (0, 0))
        # The blocks not accepted are free: head 1 may take them.
        self.ok("reserve", p, "--head", 1, "2M+2M", "6M+2M")
        self.ok("verify", p)

    def test_commit_oldest_first_and_nothing(self):
        p = self.create()
        g1 = self.ok("reserve", p, "--head", 0, "0+2M").strip()
        g2 = self.ok("reserve", p, "--head", 0, "8M+2M").strip()
        self.assertNotEqual(g1, g2)
        # Committing an extent of the second group fails: the oldest is the first.
        self.expect(EXIT_REFUSED, "commit", p, "--head", 0, "8M+2M", err="MHSLD_E_NOT_IN_GROUP")
        self.assertEqual(self.head(p, 0)["nr_pending"], 2, "failed commit changed the state")
        out = self.ok("commit", p, "--head", 0)
        self.assertIn("group %s: accepted 0, returned 2M to free" % g1, out)
        h = self.head(p, 0)
        self.assertEqual((self.extents(h["pending"]), h["owned"]), ([(8 * M, 2 * M)], []))
        self.ok("commit", p, "--head", 0, "--group", g2, "8M+2M")
        self.assertEqual(self.extents(self.head(p, 0)["owned"]), [(8 * M, 2 * M)])
        self.expect(EXIT_REFUSED, "commit", p, "--head", 0, err="no pending reservation")
        self.expect(EXIT_REFUSED, "commit", p, "--head", 0, "--group", 999, "0+2M")
        self.expect(EXIT_USAGE, "commit", p, "--head", 0, "--group", 0, err="zero")
        self.expect(EXIT_USAGE, "commit", p, "--head", 0, "--group", "x", err="--group")

    def test_check(self):
        p = self.create()
        self.ok("reserve", p, "--head", 0, "2M+4M")
        self.ok("commit", p, "--head", 0, "2M+4M")
        out = self.ok("check", p, "--head", 0, "2M+4M", "0x200000+1", "0x5fffff+1", "3M+8")
        self.assertEqual(out.splitlines(), ["0x200000+4M accessible", "0x200000+1 accessible",
                                            "0x5fffff+1 accessible", "0x300000+8 accessible"])
        # Exact at the edges: one byte before or after the extent is not accessible.
        self.expect(EXIT_FALSE, "check", p, "--head", 0, "0x1fffff+1", out="not accessible")
        self.expect(EXIT_FALSE, "check", p, "--head", 0, "0x600000+1")
        self.expect(EXIT_FALSE, "check", p, "--head", 0, "0x5ffff8+16")
        self.expect(EXIT_FALSE, "check", p, "--head", 1, "2M+8", out="not accessible")
        r = self.expect(EXIT_FALSE, "check", p, "--head", 0, "2M+2M", "0+2M")
        self.assertEqual(r.stdout.splitlines(), ["0x200000+2M accessible", "0x0+2M not accessible"])
        self.expect(EXIT_FALSE, "check", p, "--head", 0, "1G+2M")  # outside every region

    def test_release(self):
        p = self.create()
        self.ok("reserve", p, "--head", 0, "0+6M")
        self.ok("commit", p, "--head", 0, "0+6M")
        self.expect(EXIT_REFUSED, "release", p, "--head", 1, "0+2M", err="NOT_OWNER.*head 0")
        self.expect(EXIT_REFUSED, "release", p, "--head", 0, "4M+4M", err="NOT_OWNER")
        self.assertEqual(self.head(p, 0)["owned_bytes"], 6 * M, "failed release changed state")
        self.assertIn("released 4M", self.ok("release", p, "--head", 0, "0+2M", "4M+2M"))
        self.assertEqual(self.extents(self.head(p, 0)["owned"]), [(2 * M, 2 * M)])
        self.expect(EXIT_FALSE, "check", p, "--head", 0, "0+2M")
        self.ok("check", p, "--head", 0, "2M+2M")

    def test_invalid_requests(self):
        p = self.create()
        before = self.show(p)
        for exts, msg in ((["1M+2M"], "ALIGN"), (["0+3M"], "ALIGN"), (["64M+2M"], "RANGE"),
                          (["62M+4M"], "RANGE"), (["0+4M", "2M+2M"], "OVERLAP")):
            self.expect(EXIT_USAGE, "reserve", p, "--head", 0, *exts, err=msg)
        self.assertEqual(self.show(p)["heads"][0]["pending"], [])
        self.assertEqual(self.show(p)["heads"][1], before["heads"][1])

    def test_head_alive_refused(self):
        p = self.create()
        s = self.session(p, 0)
        self.assertEqual(s.cmd("reserve 0+2M"), "ok 1")
        for verb in (["reserve", "4M+2M"], ["commit"], ["release", "0+2M"],
                     ["share-add", "--tag", "0" * 32, "0+2M"], ["share-release", "0+2M"]):
            self.expect(EXIT_REFUSED, verb[0], p, "--head", 0, *verb[1:],
                        err=r"head 0 is attached by a live process \(pid %d\).*ALIVE" % s.proc.pid)
        # The other head is usable meanwhile, and the session's claim holds.
        self.expect(EXIT_REFUSED, "reserve", p, "--head", 1, "0+2M", err="pending for head 0")
        self.assertTrue(s.cmd("commit 0+2M").startswith("ok group 1"))
        self.assertEqual(s.cmd("check 0+2M 2M+2M"), "ok yes no")
        # check only reads: it answers for a head a live process holds
        self.ok("check", p, "--head", 0, "0+2M")
        self.expect(1, "check", p, "--head", 0, "2M+2M")
        s.close()
        self.assertEqual(self.extents(self.head(p, 0)["owned"]), [(0, 2 * M)])
        self.ok("check", p, "--head", 0, "0+2M")


class TestConflicts(Base):
    def test_conflicting_reserves(self):
        p = self.create(heads=3)
        self.ok("reserve", p, "--head", 0, "0+4M")
        self.expect(EXIT_REFUSED, "reserve", p, "--head", 1, "2M+4M",
                    err=r"CONFLICT.*block 0x200000 is pending for head 0")
        # All or nothing: a free extent in a failing request is not claimed
        # (the RFC leaked it), and nothing of head 0 is cleared.
        self.expect(EXIT_REFUSED, "reserve", p, "--head", 1, "16M+2M", "2M+2M", err="CONFLICT")
        d = self.show(p)
        self.assertEqual(d["heads"][1]["pending"], [])
        self.assertEqual(self.extents(d["heads"][0]["pending"]), [(0, 4 * M)])
        self.ok("commit", p, "--head", 0, "2M+2M")
        self.expect(EXIT_REFUSED, "reserve", p, "--head", 2, "0+8M",
                    err="block 0x200000 is owned by head 0")
        # The same head asking again for what it owns is a conflict too.
        self.expect(EXIT_REFUSED, "reserve", p, "--head", 0, "2M+2M",
                    err="already owned by this head")
        self.ok("reserve", p, "--head", 2, "0+2M", "4M+4M")
        self.ok("verify", p)

    def test_rollback_keeps_owned_block(self):
        # RFC defect 2: a failed claim over a block the head already owns must
        # not free that block.
        p = self.create()
        self.ok("reserve", p, "--head", 0, "10M+2M")
        self.ok("commit", p, "--head", 0, "10M+2M")
        self.ok("reserve", p, "--head", 1, "12M+2M")
        self.expect(EXIT_REFUSED, "reserve", p, "--head", 0, "6M+8M")
        self.assertEqual(self.extents(self.head(p, 0)["owned"]), [(10 * M, 2 * M)])
        self.expect(EXIT_REFUSED, "reserve", p, "--head", 1, "10M+2M", err="owned by head 0")
        self.ok("verify", p)


class TestShared(Base):
    TAG = "00112233-4455-6677-8899-aabbccddeeff"

    def test_share_lifecycle(self):
        p = self.new_path()
        self.ok("create", p, "--regions", "0+32M,1G+32M:shared", "--heads", 3)
        out = self.ok("share-add", p, "--head", 0, "--tag", self.TAG, "1G+4M")
        self.assertIn("head 0 shares 0x40000000+4M (tag %s)" % self.TAG, out)
        self.ok("share-add", p, "--head", 2, "--tag", self.TAG.replace("-", ""), "1G+4M")
        d = self.show(p)
        self.assertEqual(len(d["shared"]), 1)
        sh = d["shared"][0]
        self.assertEqual((sh["dpa"], sh["length"], sh["tag"], sh["sharers"]),
                         (G, 4 * M, self.TAG, [0, 2]))
        self.assertEqual(d["heads"][0]["shared"],
                         [{"dpa": G, "length": 4 * M, "tag": self.TAG}])
        self.assertEqual(d["heads"][2]["shared_bytes"], 4 * M)
        self.assertIn("sharers 0 2", self.ok("show", p))
        self.ok("check", p, "--head", 0, "1G+4M")
        self.ok("check", p, "--head", 2, "1G+1")
        self.expect(EXIT_FALSE, "check", p, "--head", 1, "1G+1")
        # Another tag for the same range, or a range in an exclusive region.
        self.expect(EXIT_REFUSED, "share-add", p, "--head", 1, "--tag", "f" * 32, "1G+4M")
        self.expect(EXIT_REFUSED, "share-add", p, "--head", 1, "--tag", self.TAG, "0+2M",
                    err="NOT_SHARABLE")
        self.expect(EXIT_REFUSED, "reserve", p, "--head", 1, "1G+2M", err="shared")
        self.ok("share-release", p, "--head", 0, "1G+4M")
        self.assertEqual(self.show(p)["shared"][0]["sharers"], [2])
        self.expect(EXIT_FALSE, "check", p, "--head", 0, "1G+1")
        self.ok("share-release", p, "--head", 2, "1G+4M")
        self.assertEqual(self.show(p)["shared"], [])
        self.ok("reserve", p, "--head", 1, "1G+4M")
        self.ok("verify", p)

    def test_bad_tags(self):
        p = self.new_path()
        self.ok("create", p, "--regions", "0+32M:shared")
        for tag in ("", "xyz", "0" * 31, "0" * 33, "g" * 32, "00112233-4455-6677-8899aabbccddeeff-",
                    "0011223344-55-6677-8899-aabbccddeeff"):
            self.expect(EXIT_USAGE, "share-add", p, "--head", 0, "--tag", tag, "0+2M", err="tag")
        self.expect(EXIT_USAGE, "share-add", p, "--head", 0, "0+2M", err="--tag is required")
        self.expect(EXIT_USAGE, "share-add", p, "--head", 0, "--tag", "0" * 32, "0+2M", "2M+2M",
                    err="unexpected argument")
        self.assertEqual(self.show(p)["shared"], [])


ANSI = re.compile(r"\x1b\[[0-9;]*m")


class TestMap(Base):
    def test_text(self):
        p = self.create(heads=3)
        self.ok("reserve", p, "--head", 0, "0+8M")
        self.ok("commit", p, "--head", 0, "0+4M")
        self.ok("reserve", p, "--head", 2, "16M+4M")
        self.ok("reserve", p, "--head", 1, "62M+2M")
        self.ok("commit", p, "--head", 1, "62M+2M")
        out = self.ok("map", p)
        self.assertNotIn("\x1b", out, "colours without a terminal")
        lines = out.splitlines()
        self.assertEqual(lines[0], p)
        self.assertEqual(lines[1], "32 blocks of 2M, 1 region, 1 block per cell (2M)")
        rows = [l for l in lines if l.startswith("  0x")]
        self.assertEqual(len(rows), 1)
        cells = rows[0].split()[1]
        self.assertEqual(cells, "00" + "." * 6 + "++" + "." * 21 + "1")
        self.assertTrue(any(l.startswith("legend:") for l in lines))
        self.assertRegex(out, r"0 head 0 +owned 4M")
        self.assertRegex(out, r"2 head 2 +owned 0 +pending 4M")
        for l in lines:
            self.assertLessEqual(len(l), 80, l)
        col = self.ok("map", p, "--color", "always")
        self.assertIn("\x1b[", col)
        self.assertEqual(ANSI.sub("", col), out)
        self.assertEqual(self.ok("map", p, "--color", "never"), out)
        narrow = self.ok("map", p, "--width", "8")
        self.assertEqual(len([l for l in narrow.splitlines() if l.startswith("  0x")]), 4)
        self.expect(EXIT_USAGE, "map", p, "--width", "0")
        self.expect(EXIT_USAGE, "map", p, "--width", "2000")
        self.expect(EXIT_USAGE, "map", p, "--color", "sometimes")

    def test_large_device_groups(self):
        p = self.create(capacity="64G", heads=2)
        self.ok("reserve", p, "--head", 1, "0+1G")
        self.ok("commit", p, "--head", 1, "0+1G")
        self.ok("reserve", p, "--head", 0, "1G+2M")
        out = self.ok("map", p)
        lines = out.splitlines()
        m = re.match(r"32768 blocks of 2M, 1 region, (\d+) blocks per cell", lines[1])
        self.assertTrue(m, lines[1])
        per_cell = int(m.group(1))
        rows = [l for l in lines if l.startswith("  0x")]
        self.assertLessEqual(len(rows), 32)
        self.assertGreater(per_cell, 1)
        cells = "".join(r.split()[1] for r in rows)
        self.assertEqual(len(cells) * per_cell, 32768)
        n1 = G // (2 * M) // per_cell
        self.assertEqual(cells[:n1], "1" * n1)
        self.assertEqual(cells[n1], "*")  # pending block + free blocks: mixed
        self.assertEqual(set(cells[n1 + 1:]), {"."})
        for l in lines:
            self.assertLessEqual(len(l), 80, l)

    def test_regions_and_svg(self):
        p = self.new_path()
        self.ok("create", p, "--regions", "0+16M,4G+8M:shared", "--heads", 2)
        self.ok("reserve", p, "--head", 0, "0+4M")
        self.ok("commit", p, "--head", 0, "0+2M")
        self.ok("reserve", p, "--head", 0, "2M+2M")
        self.ok("share-add", p, "--head", 1, "--tag", "ab" * 16, "4G+2M")
        out = self.ok("map", p)
        self.assertIn("region 0 0x0+16M", out)
        self.assertIn("region 1 0x100000000+8M (sharable)", out)
        rows = [l.split() for l in out.splitlines() if l.startswith("  0x")]
        self.assertEqual(rows, [["0x000000000", "0+......"], ["0x100000000", "#..."]])
        svg = p + ".svg"
        self.paths.append(svg)
        self.assertEqual(self.ok("map", p, "--svg", svg).strip(), "wrote %s" % svg)
        root = ET.parse(svg).getroot()
        self.assertEqual(root.tag, "{http://www.w3.org/2000/svg}svg")
        ns = {"s": "http://www.w3.org/2000/svg"}
        titles = [t.text for t in root.iterfind(".//s:rect/s:title", ns)]
        self.assertEqual(len(titles), 12)
        self.assertIn("0x0+2M owned by head 0", titles)
        self.assertIn("0x200000+2M pending for head 0", titles)
        self.assertIn("0x100000000+2M shared", titles)
        self.assertIn("0x100200000+2M free", titles)
        text = " ".join("".join(t.itertext()) for t in root.iterfind(".//s:text", ns))
        self.assertIn(p, text)
        self.assertIn("head 0 owned 2M", text)
        stdout_svg = self.ok("map", p, "--svg", "-")
        with open(svg) as f:
            self.assertEqual(stdout_svg, f.read())
        self.expect(EXIT_IO, "map", p, "--svg", "/nonexistent-dir-mhsldctl/x.svg",
                    err="cannot write")
        self.expect(EXIT_USAGE, "map", p, "--svg", "", err="empty")


class TestVerify(Base):
    def populated(self):
        p = self.create(heads=2)
        self.ok("reserve", p, "--head", 0, "0+8M")
        self.ok("commit", p, "--head", 0, "0+4M")
        self.ok("reserve", p, "--head", 1, "16M+4M")
        return p

    def copy(self, src, data=None):
        q = self.new_path("copy")
        with open(src, "rb") as f:
            blob = f.read()
        with open(q, "wb") as f:
            f.write(blob if data is None else data)
        return q

    def test_healthy(self):
        p = self.populated()
        self.assertEqual(self.ok("verify", p), "%s: healthy\n" % p)

    def test_corrupt_header(self):
        p = self.populated()
        with open(p, "rb") as f:
            blob = bytearray(f.read())
        blob[0] ^= 0xFF
        q = self.copy(p, blob)
        self.expect(EXIT_STATE, "verify", q, err=r"verify: .*cannot open: .*\(MHSLD_E_")
        self.expect(EXIT_STATE, "show", q, err="MHSLD_E_")
        self.expect(EXIT_STATE, "reserve", q, "--head", 0, "32M+2M")
        t = self.copy(p, bytes(blob[: len(blob) // 2]))
        self.expect(EXIT_STATE, "verify", t, err="MHSLD_E_")

    def test_corrupt_tables(self):
        """Corrupt the bytes that encode one reservation; verify must notice."""
        base = self.create(heads=2)
        self.expect(EXIT_FALSE, "check", base, "--head", 1, "0+1")  # head 1 attached once
        a, b = self.copy(base), self.copy(base)
        self.ok("reserve", a, "--head", 1, "6M+2M")
        self.ok("reserve", b, "--head", 1, "14M+2M")
        with open(a, "rb") as f:
            da = f.read()
        with open(b, "rb") as f:
            db = f.read()
        self.assertEqual(len(da), len(db))
        diff = [i for i in range(len(da)) if da[i] != db[i]]
        self.assertTrue(diff, "the two reservations left identical files")
        detected = 0
        for i in diff:
            blob = bytearray(da)
            blob[i] = db[i]
            q = self.copy(a, blob)
            r = self.run_tool("verify", q)
            self.assertIn(r.returncode, (EXIT_OK, EXIT_FALSE, EXIT_STATE), r.stderr)
            if r.returncode != EXIT_OK:
                detected += 1
                self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
                self.assertRegex(r.stderr, r"^mhsldctl: verify: %s: (unhealthy|cannot open): "
                                 % re.escape(q))
            os.unlink(q)
        self.assertGreater(detected, 0, "no corruption among %d bytes detected" % len(diff))
        # Zeroing the whole block table region of the reservation is always wrong.
        blob = bytearray(da)
        for i in diff:
            blob[i] = 0xA5
        q = self.copy(a, blob)
        r = self.run_tool("verify", q)
        self.assertIn(r.returncode, (EXIT_FALSE, EXIT_STATE), r.stdout + r.stderr)


class TestRecover(Base):
    def test_killed_head(self):
        p = self.create(heads=3)
        s = self.session(p, 0)
        self.assertEqual(s.cmd("reserve 0+8M"), "ok 1")
        self.assertTrue(s.cmd("commit 0+4M").startswith("ok "))
        self.assertRegex(s.cmd("reserve 16M+2M"), r"^ok [1-9]\d*$")
        self.expect(EXIT_REFUSED, "recover", p, "--head", 0,
                    err=r"live process \(pid %d\).*--force" % s.proc.pid)
        s.kill()
        h = self.head(p, 0)
        self.assertFalse(h["alive"])
        self.assertEqual((h["owned_bytes"], h["pending_bytes"]), (4 * M, 2 * M))
        # Another head cannot take the dead head's blocks until it is recovered.
        self.expect(EXIT_REFUSED, "reserve", p, "--head", 1, "0+2M", err="owned by head 0")
        self.ok("verify", p)
        out = self.ok("recover", p, "--head", 0, "--keep")
        self.assertRegex(out, r"head 0: in-flight none; 0 blocks freed, 3 kept \(keep\)")
        out = self.ok("recover", p, "--head", 0)
        self.assertRegex(out, r"head 0: in-flight none; 3 blocks freed, 0 kept \(drop\)")
        h = self.head(p, 0)
        self.assertEqual((h["owned"], h["pending"]), ([], []))
        self.ok("reserve", p, "--head", 1, "0+2M", "16M+2M")
        self.ok("verify", p)

    def test_force_fences_live_head(self):
        p = self.create()
        s = self.session(p, 1)
        self.assertEqual(s.cmd("reserve 2M+2M"), "ok 1")
        self.expect(EXIT_USAGE, "recover", p, "--head", 1, "--keep", "--drop", err="exclude")
        self.expect(EXIT_USAGE, "recover", p, err="--head is required")
        self.expect(EXIT_USAGE, "recover", p, "--head", 2, err="does not exist")
        out = self.ok("recover", p, "--head", 1, "--force")
        self.assertIn("1 blocks freed", out)
        # The fenced incarnation's next operation fails instead of acting.
        ans = s.cmd("reserve 4M+2M")
        self.assertTrue(ans.startswith("err 3 ") and "STALE" in ans, ans)
        s.close()
        self.assertEqual(self.head(p, 1)["pending"], [])
        self.ok("verify", p)

    def test_session_commands(self):
        p = self.new_path()
        self.ok("create", p, "--regions", "0+16M,1G+8M:shared", "--heads", 2)
        s = self.session(p, 0)
        self.assertTrue(s.cmd("frob").startswith("err usage unknown command"))
        self.assertTrue(s.cmd("reserve").startswith("err usage reserve takes"))
        self.assertTrue(s.cmd("reserve 0+0").startswith("err usage"))
        self.assertTrue(s.cmd("share-add nothex 1G+2M").startswith("err usage"))
        self.assertTrue(s.cmd("x" * 9000).startswith("err usage line longer"))
        self.assertEqual(s.cmd("reserve 0+4M"), "ok 1")
        self.assertEqual(s.cmd("commit 0+2M"), "ok group 1: accepted 2M, returned 2M to free")
        self.assertTrue(s.cmd("share-add %s 1G+2M" % ("1" * 32)).startswith("ok head 0 shares"))
        self.assertEqual(s.cmd("check 0+2M 1G+2M 2M+2M"), "ok yes yes no")
        self.assertTrue(s.cmd("release 2M+2M").startswith("err 3 "))
        self.assertEqual(s.cmd("release-all"), "ok freed 2 blocks")
        self.assertEqual(s.cmd("quit"), "")
        s.close()
        self.assertEqual(s.proc.returncode, 0)
        h = self.head(p, 0)
        self.assertEqual((h["owned"], h["shared"]), ([], []))
        self.assertEqual(self.show(p)["shared"], [])


class TestCrash(Base):
    """A head killed (SIGKILL) at every atomic step of an operation."""

    MAX_STEPS = 400

    def setUp(self):
        super().setUp()
        if not TTOOL or not os.access(TTOOL, os.X_OK):
            self.fail("MHSLDCTL_TESTING must name the mhsldctl_testing binary")

    def enumerate_crashes(self, prepare, command, settle):
        """For k = 1, 2, ...: prepare a state, run `command` in a session that
        dies at step k, recover the head, and let settle() judge the result,
        until the command completes before step k."""
        for k in range(1, self.MAX_STEPS):
            p = self.create(heads=3, tag="crash%d" % k)
            prepare(p)
            s = self.session(p, 0, tool=TTOOL)
            ans = s.cmd("crash %d %s" % (k, command))
            if ans.startswith("nocrash"):
                self.assertRegex(ans, r"^nocrash \d+ ok", ans)
                s.close()
                settle(p, None)
                return k - 1
            self.assertEqual(ans, "", "unexpected answer at step %d: %r" % (k, ans))
            s.proc.wait()
            self.assertEqual(s.proc.returncode, -signal.SIGKILL)
            s.kill()
            h = self.head(p, 0)
            self.assertFalse(h["alive"])
            # A dead head's unfinished operation is reported until recovered.
            r = self.run_tool("verify", p)
            if h["inflight_op"] is None:
                self.assertEqual(r.returncode, EXIT_OK, r.stderr)
            else:
                self.assertEqual(r.returncode, EXIT_FALSE, r.stderr)
                self.assertRegex(r.stderr, r"unhealthy: head 0 has an unfinished %s .*recover"
                                 % h["inflight_op"])
            # Another head is never disturbed, before or after recovery.
            self.assertEqual(self.extents(self.head(p, 2)["owned"]), [(40 * M, 2 * M)])
            out = self.ok("recover", p, "--head", 0, "--keep")
            self.assertRegex(out, r"^head 0: in-flight ")
            self.ok("verify", p)
            self.assertEqual(self.extents(self.head(p, 2)["owned"]), [(40 * M, 2 * M)])
            settle(p, out)
            self.ok("destroy", p)
        self.fail("operation did not finish within %d steps" % self.MAX_STEPS)

    def bystander(self, p):
        self.ok("reserve", p, "--head", 2, "40M+2M")
        self.ok("commit", p, "--head", 2, "40M+2M")
        self.ok("reserve", p, "--head", 0, "30M+2M")
        self.ok("commit", p, "--head", 0, "30M+2M")

    def test_reserve(self):
        def settle(p, rec):
            h = self.head(p, 0)
            self.assertEqual(self.extents(h["owned"]), [(30 * M, 2 * M)])
            pending = sorted(self.extents(h["pending"]))
            whole = [(0, 4 * M), (8 * M, 2 * M)]
            if rec is None or "rolled forward" in rec:  # completed: the whole reservation
                self.assertEqual(pending, whole, rec)
                self.ok("commit", p, "--head", 0, "0+2M")
                self.assertEqual(sorted(self.extents(self.head(p, 0)["owned"])),
                                 [(0, 2 * M), (30 * M, 2 * M)])
            else:  # undone, never half
                self.assertEqual(pending, [], rec)
                self.ok("reserve", p, "--head", 1, "0+4M", "8M+2M")
        steps = self.enumerate_crashes(self.bystander, "reserve 0+4M 8M+2M", settle)
        self.assertGreater(steps, 0)

    def test_commit(self):
        def prepare(p):
            self.bystander(p)
            self.ok("reserve", p, "--head", 0, "0+8M")

        def settle(p, rec):
            h = self.head(p, 0)
            owned = sorted(self.extents(h["owned"]))
            pending = self.extents(h["pending"])
            done = ([(0, 2 * M), (4 * M, 2 * M), (30 * M, 2 * M)], [])
            undone = ([(30 * M, 2 * M)], [(0, 8 * M)])
            self.assertIn((owned, pending), (done, undone), rec)
            if rec is None:
                self.assertEqual((owned, pending), done)
        steps = self.enumerate_crashes(prepare, "commit 0+2M 4M+2M", settle)
        self.assertGreater(steps, 0)

    def test_release(self):
        def prepare(p):
            self.bystander(p)
            self.ok("reserve", p, "--head", 0, "0+6M")
            self.ok("commit", p, "--head", 0, "0+6M")

        def settle(p, rec):
            owned = sorted(self.extents(self.head(p, 0)["owned"]))
            done = [(0, 2 * M), (4 * M, 2 * M), (30 * M, 2 * M)]
            before = [(0, 6 * M), (30 * M, 2 * M)]
            self.assertIn(owned, (done, before), rec)
            if rec is None:
                self.assertEqual(owned, done)
        steps = self.enumerate_crashes(prepare, "release 2M+2M", settle)
        self.assertGreater(steps, 0)


class TestFiles(Base):
    """The state file: private by default, foreign only on request; truncated
    under a running command: a clear error (exit 5), not a crash."""

    def test_created_private(self):
        p = self.create()
        st = os.stat(p)
        self.assertEqual(st.st_mode & 0o777, 0o600)
        self.assertEqual(st.st_uid, os.geteuid())

    def test_foreign_refused(self):
        p = self.create()
        self.ok("reserve", p, "--head", 0, "0+4M")
        self.ok("commit", p, "--head", 0, "0+4M")
        os.chmod(p, 0o666)  # writable by anyone: someone else could rewrite it
        for verb in (["show"], ["map"], ["verify"], ["recover", "--head", "1"],
                     ["reserve", "--head", "1", "8M+2M"], ["check", "--head", "0", "0+2M"],
                     ["create", "--capacity", "64M"]):
            self.expect(EXIT_REFUSED, verb[0], p, *verb[1:], err="not private.*--allow-foreign")
        self.assertEqual(json.loads(self.ok("show", p, "--json", "--allow-foreign"))
                         ["heads"][0]["owned_bytes"], 4 * M)
        self.ok("check", p, "--head", 0, "0+2M", "--allow-foreign")
        self.ok("verify", p, "--allow-foreign")
        self.expect(EXIT_USAGE, "destroy", p, "--allow-foreign", err="allow-foreign")
        os.chmod(p, 0o600)
        self.assertEqual(self.head(p, 0)["owned_bytes"], 4 * M)
        q = p + "-link"
        os.link(p, q)
        self.paths.append(q)
        self.expect(EXIT_REFUSED, "show", p, err="not private")
        os.unlink(q)
        self.ok("show", p)
        if os.geteuid() == 0:  # another owner (a file someone else made)
            os.chown(p, 65534, 65534)
            self.expect(EXIT_REFUSED, "show", p, err="not private")
            self.ok("show", p, "--allow-foreign")
        self.assertIn("--allow-foreign", self.ok("show", "--help"))

    def test_truncated_before(self):
        p = self.create()
        os.truncate(p, 4096)
        self.expect(EXIT_STATE, "show", p, err="shorter than its layout")

    def test_truncated_while_in_use(self):
        p = self.create()
        s = self.session(p, 0)
        self.assertEqual(s.cmd("reserve 0+4M").split()[0], "ok")
        # A co-tenant cuts the file under the session's mapping.
        os.truncate(p, 4096)
        self.assertEqual(s.cmd("check 0+2M"), "")  # no answer: the tool stopped
        s.proc.wait()
        err = s.proc.stderr.read()
        self.assertEqual(s.proc.returncode, EXIT_IO, err)
        self.assertNotRegex(err, r"Sanitizer|runtime error:")
        lines = err.splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertRegex(lines[0], r"^mhsldctl: session: %s: state file truncated while in use"
                         % re.escape(p))

class FmBase(Base):
    def serve(self, p, h, *extra):
        s = Server(TOOL, p, h, *extra)
        self.servers.append(s)
        if s.ready is None:  # it exited: say why
            s.proc.wait()
            self.fail("fm-serve exited %d: %s" % (s.proc.returncode, s.proc.stderr.read()))
        self.assertEqual((s.ready["ready"], s.ready["head"]), (True, h), s.ready)
        return s

    def fm(self, rc, *args, **kw):
        """Run an FM verb with --json; check the exit status; return the object."""
        r = self.expect(rc, *args, "--json", **kw)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 1, "one JSON line expected: %r" % r.stdout)
        o = json.loads(lines[0])
        self.assertEqual(o["verb"], args[0])
        for key in ("head", "status", "answer", "cxl_rc", "group", "conflict", "message"):
            self.assertIn(key, o)
        return o


class TestFmCommandLine(FmBase):
    """Bad input: exit 2, and nothing reaches the head's queue."""

    def test_bad_input_posts_nothing(self):
        p = self.create()
        srv = self.serve(p, 0)
        before = self.show(p)
        oversize = "00" * 1025
        big_add = json.dumps({"host_id": 0, "policy": "prescriptive", "extents": [
            {"dpa": i * 2 * M, "len": 2 * M} for i in range(25)]})
        cases = [
            (["fm-mbox", p, "--head", 0, "4802", "00"], "not an FM-API command"),
            (["fm-mbox", p, "--head", 0, "5609h", "00"], "not an FM-API command"),
            (["fm-mbox", p, "--head", 0, "0x1234"], "not an FM-API command"),
            (["fm-mbox", p, "--head", 0, "zz"], "not a hex digit"),
            (["fm-mbox", p, "--head", 0, "56045", "00"], "up to 4 hex digits"),
            (["fm-mbox", p, "--head", 0, "5500", "0g00"], "not a hex digit"),
            (["fm-mbox", p, "--head", 0, "5500", "000"], "odd number"),
            (["fm-mbox", p, "--head", 0, "5500", "000000"], "not a valid 5500h request"),
            (["fm-mbox", p, "--head", 0, "5600", "00"], "not a valid 5600h request"),
            (["fm-mbox", p, "--head", 0, "5604", oversize], "larger than the 1024"),
            (["fm-mbox", p, "--head", 0, "5606", "00" * 15], "not a valid 5606h request"),
            (["fm-mbox", p, "--head", 0, "5607", "00" * 17], "not a valid 5607h request"),
            (["fm-mbox", p, "--head", 0, "5608", "00" * 7], "not a valid 5608h request"),
            (["fm-mbox", p, "--head", 0, "5606"], "needs a payload"),
            (["fm-mbox", p, "--head", 0, "5606", "--in-json", "{}"], "'tag' is required"),
            (["fm-mbox", p, "--head", 0, "5607", "--in-json", '{"tag":"xyz"}'], "'tag': "),
            (["fm-mbox", p, "--head", 0, "5607", "--in-json", '{"tag":1}'], "must be a string"),
            (["fm-mbox", p, "--head", 0, "5606", "--in-json", '{"tag":"%s","host_id":0}'
              % ("0" * 32)], "unknown key 'host_id'"),
            (["fm-mbox", p, "--head", 0, "5608", "--in-json", '{"start":-1}'], "negative"),
            (["fm-mbox", p, "--head", 0, "5608", "--in-json", '{"count":"0x100000000"}'],
             "more than 4294967295"),
            (["fm-mbox", p, "--head", 0, "5604"], "needs a payload"),
            (["fm-mbox", p, "--head", 0, "5604", "00", "--in-json", "{}"], "not both"),
            (["fm-mbox", p, "--head", 0, "5604", "--in-json", big_add], "more than the 1024"),
            (["fm-mbox", p, "--head", 0, "5604", "--in-json", "{"], "not JSON"),
            (["fm-mbox", p, "--head", 0, "5604", "--in-json", "[]"], "JSON object"),
            (["fm-mbox", p, "--head", 0, "5604", "--in-json", '{"extents":[]}'],
             "'host_id' is required"),
            (["fm-mbox", p, "--head", 0, "5604", "--in-json", '{"host_id":0,"frob":1}'],
             "unknown key 'frob'"),
            (["fm-mbox", p, "--head", 0, "5604", "--in-json",
              '{"host_id":0,"extents":[{"dpa":0,"len":0}]}'], r"extents\[0\]: 'len' must not"),
            (["fm-mbox", p, "--head", 0, "5604", "--in-json",
              '{"host_id":0,"extents":[{"dpa":-1,"len":"2M"}]}'], "negative"),
            (["fm-mbox", p, "--head", 0, "5604", "--in-json",
              '{"host_id":65536,"extents":[{"dpa":0,"len":"2M"}]}'], "more than 65535"),
            (["fm-mbox", p, "--head", 0, "5604", "--in-json",
              '{"host_id":0,"policy":"greedy"}'], "not a policy"),
            (["fm-mbox", p, "--head", 0, "5604", "--in-json",
              '{"host_id":0,"extents":[{"dpa":"0xffffffffffffffff","len":"2M"}]}'],
             "runs past"),
            (["fm-offer", p, "--head", 0, "0+0"], "mhsldctl: fm-offer: "),
            (["fm-offer", p, "--head", 0, "0+2X"], "mhsldctl: fm-offer: "),
            (["fm-offer", p, "--head", 0], "EXTENT is required"),
            (["fm-offer", p, "0+2M"], "--head is required"),
            (["fm-offer", p, "--head", 2, "0+2M"], "does not exist"),
            (["fm-offer", p, "--head", 0, "0+2M", "--timeout", "0"], "--timeout"),
            (["fm-offer", p, "--head", 0, "0+2M", "--tag", "xyz"], "--tag"),
            (["fm-offer", p, "--head", 0] + ["%d+2M" % (2 * i * M) for i in range(65)],
             "at most 64 per FM request"),
            (["fm-release", p, "--head", 0, "x+2M"], "mhsldctl: fm-release: "),
            (["fm-force-release", p, "--head", 0, "0+0"], "mhsldctl: fm-force-release: "),
            (["fm-reclaim", p], "--head is required"),
            (["fm-reclaim", p, "--head", 0, "0+2M"], "unexpected argument"),
            (["fm-serve", p, "--head", 0, "--count", "0"], "--count"),
        ]
        for args, msg in cases:
            self.expect(EXIT_USAGE, *args, err=msg)
        self.assertEqual(self.show(p), before, "rejected requests changed the state")
        # The first request the server sees is the next valid one: none of the
        # rejected ones was posted.
        o = self.fm(EXIT_OK, "fm-mbox", p, "--head", 0, "5600")
        line = srv.line()
        self.assertEqual((line["served"], line["opcode"]), ("MBOX", "5600h"), line)
        self.assertEqual(o["cxl_rc"], 0)

    def test_dead_head(self):
        p = self.create()
        o = self.fm(EXIT_REFUSED, "fm-offer", p, "--head", 1, "0+2M",
                    err=r"head 1: nobody serves its queue: .*\(MHSLD_E_DEAD\)")
        self.assertEqual((o["status"], o["answer"], o["group"]), ("MHSLD_E_DEAD", None, None))
        self.expect(EXIT_REFUSED, "fm-release", p, "--head", 1, "0+2M", err="MHSLD_E_DEAD")
        self.expect(EXIT_REFUSED, "fm-mbox", p, "--head", 1, "5600", err="MHSLD_E_DEAD")
        # A head whose process exited (detached) is just as dead.
        s = self.session(p, 0)
        s.close()
        self.expect(EXIT_REFUSED, "fm-offer", p, "--head", 0, "0+2M", err="MHSLD_E_DEAD")
        self.assertEqual(self.head(p, 0)["pending"], [])

    def test_timeout_withdraws(self):
        """A live head that does not serve its queue: the wait is bounded and
        the request withdrawn, never executed later."""
        p = self.create()
        s = self.session(p, 1)  # attached, alive, but nobody takes requests
        o = self.fm(EXIT_REFUSED, "fm-offer", p, "--head", 1, "0+2M", "--timeout", 200,
                    err=r"head 1 did not answer within 200 ms.*MHSLD_E_TIMEDOUT")
        self.assertEqual((o["status"], o["answer"]), ("MHSLD_E_TIMEDOUT", None))
        # Nothing was reserved for the head; once a server runs, the first
        # request it sees is a new one: the withdrawn offer is gone.
        self.assertEqual(s.cmd("check 0+2M"), "ok no")
        s.close()
        srv = self.serve(p, 1)
        o = self.fm(EXIT_OK, "fm-mbox", p, "--head", 1, "5600")
        line = srv.line()
        self.assertEqual(line["served"], "MBOX", "the withdrawn OFFER was served: %r" % line)
        self.assertEqual(self.head(p, 1)["pending"], [])

    def test_help(self):
        for v in ("fm-offer", "fm-release", "fm-force-release", "fm-reclaim", "fm-mbox",
                  "fm-serve"):
            out = self.ok(v, "--help")
            self.assertTrue(out.startswith("usage: mhsldctl %s " % v), out)
            self.assertIn("MHSLD_E_DEAD", out)
            for line in out.splitlines():
                self.assertLessEqual(len(line), 80, "help line too wide: %r" % line)
            self.assertRegex(self.ok("--help"), r"\n  %s +FM: " % v)


class TestFmServe(FmBase):
    """Round trips through fm-serve: offer, release, mailbox commands."""

    def test_offer_release(self):
        p = self.create()
        srv = self.serve(p, 0)
        o = self.fm(EXIT_OK, "fm-offer", p, "--head", 0, "0+4M", "8M+2M",
                    "--tag", "0123456789abcdef0123456789abcdef")
        self.assertEqual((o["status"], o["answer"], o["cxl_rc"]), ("MHSLD_OK", "MHSLD_OK", 0))
        self.assertGreater(o["group"], 0)
        line = srv.line()
        self.assertEqual((line["served"], line["status"], line["group"], line["completed"]),
                         ("OFFER", "MHSLD_OK", o["group"], "MHSLD_OK"), line)
        self.assertEqual([(e["dpa"], e["length"]) for e in line["extents"]],
                         [(0, 4 * M), (8 * M, 2 * M)])
        self.assertEqual(line["tag"], "01234567-89ab-cdef-0123-456789abcdef")
        self.assertEqual(sorted(self.extents(self.head(p, 0)["pending"])),
                         [(0, 4 * M), (8 * M, 2 * M)])
        # The same blocks offered again: the head's refusal names the holder.
        o = self.fm(EXIT_REFUSED, "fm-offer", p, "--head", 0, "2M+2M",
                    err=r"head 0 refused the offer: .*block 0x200000 is already pending")
        self.assertEqual((o["status"], o["answer"]), ("MHSLD_OK", "MHSLD_E_CONFLICT"))
        self.assertEqual((o["conflict"]["dpa"], o["conflict"]["owner"]), (2 * M, 0))
        self.assertEqual(srv.line()["status"], "MHSLD_E_CONFLICT")
        # Text output.
        out = self.ok("fm-release", p, "--head", 0, "0+2M")
        self.assertEqual(out, "head 0: asked its host to release 2M\n")
        line = srv.line()
        self.assertEqual((line["served"], line["status"], line["tag"]),
                         ("RELEASE", "MHSLD_OK", None))
        self.assertIn("Release Capacity event", line["message"])

    def test_offer_conflict_with_other_head(self):
        p = self.create()
        self.ok("reserve", p, "--head", 1, "4M+4M")
        self.ok("commit", p, "--head", 1, "4M+4M")
        srv = self.serve(p, 0)
        o = self.fm(EXIT_REFUSED, "fm-offer", p, "--head", 0, "0+8M",
                    err="block 0x400000 is owned by head 1")
        self.assertEqual(o["conflict"], {"dpa": 4 * M, "owner": 1, "state": o["conflict"]["state"]})
        self.assertEqual(srv.line()["status"], "MHSLD_E_CONFLICT")
        self.assertEqual(self.head(p, 0)["pending"], [], "a refused offer left a reservation")

    def test_mbox(self):
        p = self.create(heads=3)
        srv = self.serve(p, 0)
        o = self.fm(EXIT_OK, "fm-mbox", p, "--head", 0, "5600")
        self.assertEqual((o["opcode"], o["cxl_rc"], o["answer"]), ("5600h", 0, "MHSLD_OK"))
        self.assertEqual(o["response"]["nr_hosts"], 3)
        self.assertEqual(len(o["response_hex"]), 2 * 0x54)
        srv.line()
        o = self.fm(EXIT_OK, "fm-mbox", p, "--head", 0, "5500h", "0008")
        self.assertEqual((o["response"]["nr_heads"], o["response"]["nr_lds"]), (3, 3))
        self.assertEqual(o["response"]["ld_map"], [0, 1, 2])
        srv.line()
        # 5604h from JSON: the served head reserves and would tell its host.
        add = {"host_id": 0, "policy": "prescriptive",
               "extents": [{"dpa": "2M", "len": "2M"}, {"dpa": 8 * M, "len": "4M"}]}
        o = self.fm(EXIT_OK, "fm-mbox", p, "--head", 0, "5604", "--in-json", json.dumps(add))
        self.assertEqual((o["cxl_rc"], o["response_hex"], o["response"]), (0, "", {}))
        line = srv.line()
        self.assertEqual(line["cxl_rc"], 0)
        self.assertEqual([e["event"] for e in line["events"]], ["Add Capacity"], line)
        self.assertEqual(sorted(self.extents(self.head(p, 0)["pending"])),
                         [(2 * M, 2 * M), (8 * M, 4 * M)])
        # 5603h lists them, decoded.
        o = self.fm(EXIT_OK, "fm-mbox", p, "--head", 0, "5603", "--in-json",
                    '{"host_id":0,"count":16}')
        srv.line()
        self.assertEqual(o["response"]["host_id"], 0)
        # The same request as hex gives the same response.
        hexreq = "0000" + "0000" + "10000000" + "00000000"
        o2 = self.fm(EXIT_OK, "fm-mbox", p, "--head", 0, "5603", hexreq)
        srv.line()
        self.assertEqual(o2["response_hex"], o["response_hex"])
        # A host the served process has not attached: the dispatcher refuses it.
        add["host_id"] = 1
        o = self.fm(EXIT_REFUSED, "fm-mbox", p, "--head", 0, "5604", "--in-json",
                    json.dumps(add), err=r"5604h .* returned INVALID_INPUT \(02h\)")
        self.assertEqual((o["answer"], o["cxl_rc"], o["response"]), ("MHSLD_OK", 2, None))
        self.assertEqual(srv.line()["cxl_rc"], 2)
        self.assertEqual(self.head(p, 1)["pending"], [])
        # Text output: three lines.
        out = self.ok("fm-mbox", p, "--head", 0, "5600").splitlines()
        srv.line()
        self.assertRegex(out[0], r"^head 0: 5600h .*: SUCCESS, 84-byte response$")
        self.assertTrue(out[1].startswith("response_hex: "), out)
        self.assertEqual(json.loads(out[2][len("response: "):])["nr_hosts"], 3)

    def test_count_and_signal(self):
        p = self.create()
        srv = self.serve(p, 0, "--count", 2)
        self.fm(EXIT_OK, "fm-mbox", p, "--head", 0, "5600")
        self.fm(EXIT_OK, "fm-release", p, "--head", 0, "0+2M")
        self.assertEqual(srv.line()["served"], "MBOX")
        self.assertEqual(srv.line()["served"], "RELEASE")
        self.assertEqual(srv.line(), {"stopped": "count", "served": 2})
        srv.proc.wait()
        self.assertEqual(srv.proc.returncode, 0, srv.proc.stderr.read())
        self.assertFalse(self.head(p, 0)["alive"])
        self.expect(EXIT_REFUSED, "fm-mbox", p, "--head", 0, "5600", err="MHSLD_E_DEAD")
        for sig in (signal.SIGTERM, signal.SIGINT):
            srv = self.serve(p, 0)
            self.assertTrue(self.head(p, 0)["alive"])
            srv.proc.send_signal(sig)
            self.assertEqual(srv.line(), {"stopped": "signal", "served": 0})
            srv.proc.wait()
            self.assertEqual(srv.proc.returncode, 0)
            self.assertEqual(srv.proc.stderr.read(), "")
            self.assertFalse(self.head(p, 0)["alive"])
        self.ok("verify", p)

    def test_two_servers(self):
        p = self.create(heads=3)
        s0, s2 = self.serve(p, 0, "--accept"), self.serve(p, 2, "--accept")
        self.expect(EXIT_REFUSED, "fm-serve", p, "--head", 0, err="live process")
        self.fm(EXIT_OK, "fm-offer", p, "--head", 0, "0+4M")
        self.assertEqual(s0.line()["accepted"], "MHSLD_OK")
        o = self.fm(EXIT_REFUSED, "fm-offer", p, "--head", 2, "2M+4M", err="owned by head 0")
        self.assertEqual(o["conflict"]["owner"], 0)
        s2.line()
        self.fm(EXIT_OK, "fm-offer", p, "--head", 2, "4M+4M")
        s2.line()
        self.assertEqual(self.extents(self.head(p, 0)["owned"]), [(0, 4 * M)])
        self.assertEqual(self.extents(self.head(p, 2)["owned"]), [(4 * M, 4 * M)])


class TestFmTags(FmBase):
    """5606h-5608h through fm-serve: the FM's reference on a shared extent's
    tag keeps its blocks allocated after the last sharer leaves."""

    TAG = "00112233-4455-6677-8899-aabbccddeeff"
    TAG2 = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"

    def mbox(self, srv, rc, opcode, *payload, err=None):
        """fm-mbox on the served head; wait for the line it serves; return the object."""
        o = self.fm(rc, "fm-mbox", self.p, "--head", 1, opcode, *payload, err=err)
        line = srv.line()
        self.assertEqual((line["served"], line["opcode"], line["cxl_rc"]),
                         ("MBOX", o["opcode"], o["cxl_rc"]), line)
        return o

    def tags(self, srv, start=0, count=16):
        o = self.mbox(srv, EXIT_OK, "5608", "--in-json",
                      json.dumps({"start": start, "count": count}))
        return o["response"]

    def test_fm_reference_keeps_blocks(self):
        p = self.p = self.new_path()
        self.ok("create", p, "--regions", "0+32M,1G+32M:shared", "--heads", 3)
        self.ok("share-add", p, "--head", 0, "--tag", self.TAG, "1G+4M")
        self.ok("share-add", p, "--head", 2, "--tag", self.TAG, "1G+4M")
        self.ok("share-add", p, "--head", 0, "--tag", self.TAG2, "1032M+2M")
        srv = self.serve(p, 1)  # not a sharer: it acts for the FM

        # 5608h lists both tags in slot order, with their sharers.
        r = self.tags(srv)
        self.assertEqual((r["total"], r["returned"], r["validity"]), (2, 2, 3))
        self.assertEqual(r["tags"], [
            {"tag": self.TAG, "flags": 0, "fm_reference": False, "references": [0, 2],
             "pending": []},
            {"tag": self.TAG2, "flags": 0, "fm_reference": False, "references": [0],
             "pending": []}])
        gen0 = r["generation"]
        # The same request as hex: the same response.
        o = self.mbox(srv, EXIT_OK, "5608", "00000000" + "10000000")
        self.assertEqual(o["response"], r)
        self.assertEqual(len(o["response_hex"]), 2 * (0x10 + 2 * 0x54))
        # start and count select a window; total stays the number of tags.
        r1 = self.tags(srv, start=1, count=1)
        self.assertEqual((r1["total"], r1["returned"], [t["tag"] for t in r1["tags"]]),
                         (2, 1, [self.TAG2]))
        self.assertEqual(self.tags(srv, start=2)["tags"], [])
        o = self.mbox(srv, EXIT_REFUSED, "5608", "--in-json", '{"start":3,"count":1}')
        self.assertEqual((o["cxl_rc"], o["response"]), (2, None))

        # 5606h: the FM takes a reference on TAG.
        before = self.show(p)
        o = self.mbox(srv, EXIT_OK, "5606", "--in-json", json.dumps({"tag": self.TAG}))
        self.assertEqual((o["cxl_rc"], o["response_hex"], o["response"]), (0, "", {}))
        r = self.tags(srv)
        self.assertEqual([(t["tag"], t["flags"], t["fm_reference"], t["references"])
                          for t in r["tags"]],
                         [(self.TAG, 1, True, [0, 2]), (self.TAG2, 0, False, [0])])
        self.assertNotEqual(r["generation"], gen0)
        self.assertEqual(self.show(p), before, "a reference changed the extents")
        # A second reference, or one on a tag no extent carries: the CXL
        # return code, exit 3, nothing changed.
        o = self.mbox(srv, EXIT_REFUSED, "5606", "--in-json", json.dumps({"tag": self.TAG}),
                      err=r"5606h .* returned INVALID_INPUT \(02h\)")
        self.assertEqual((o["answer"], o["cxl_rc"]), ("MHSLD_OK", 2))
        self.mbox(srv, EXIT_REFUSED, "5606", "f" * 32, err="INVALID_INPUT")
        self.mbox(srv, EXIT_REFUSED, "5607", "--in-json", json.dumps({"tag": "e" * 32}),
                  err="INVALID_INPUT")
        # No reference on TAG2: removing one is refused.
        self.mbox(srv, EXIT_REFUSED, "5607", self.TAG2.replace("-", ""), err="INVALID_INPUT")
        self.assertEqual(self.show(p), before, "a refused 5606h/5607h changed the state")
        self.assertEqual(self.tags(srv)["generation"], r["generation"])

        # The sharers leave: the extent stays, with no sharer, its blocks allocated.
        self.ok("share-release", p, "--head", 0, "1G+4M")
        self.ok("share-release", p, "--head", 2, "1G+4M")
        d = self.show(p)
        self.assertEqual([(sh["dpa"], sh["length"], sh["tag"], sh["sharers"])
                          for sh in d["shared"]],
                         [(G, 4 * M, self.TAG, []), (G + 8 * M, 2 * M, self.TAG2, [0])])
        self.assertEqual((d["heads"][0]["shared_bytes"], d["heads"][2]["shared_bytes"]),
                         (2 * M, 0))
        self.expect(EXIT_REFUSED, "reserve", p, "--head", 2, "1G+2M", err="shared")
        r = self.tags(srv)
        self.assertEqual([(t["tag"], t["fm_reference"], t["references"]) for t in r["tags"]],
                         [(self.TAG, True, []), (self.TAG2, False, [0])])

        # 5607h (as hex) drops the reference: the extent is retired, its blocks free.
        o = self.mbox(srv, EXIT_OK, "5607", self.TAG.replace("-", ""))
        self.assertEqual((o["cxl_rc"], o["response"]), (0, {}))
        d = self.show(p)
        self.assertEqual([(sh["dpa"], sh["tag"]) for sh in d["shared"]], [(G + 8 * M, self.TAG2)])
        r = self.tags(srv)
        self.assertEqual((r["total"], [t["tag"] for t in r["tags"]]), (1, [self.TAG2]))
        # Removing it again: no extent has the tag any more.
        self.mbox(srv, EXIT_REFUSED, "5607", "--in-json", json.dumps({"tag": self.TAG}),
                  err="INVALID_INPUT")
        self.assertEqual(self.show(p), d)
        self.ok("reserve", p, "--head", 2, "1G+4M")
        self.ok("verify", p)


class TestFmForce(FmBase):
    def test_force_release_live_head(self):
        p = self.create()
        srv = self.serve(p, 0, "--accept")
        self.fm(EXIT_OK, "fm-offer", p, "--head", 0, "0+8M")
        self.assertEqual(srv.line()["accepted"], "MHSLD_OK")
        self.expect(EXIT_OK, "check", p, "--head", 0, "0+8M")
        # Not all of it held by head 0: refused, nothing taken.
        o = self.fm(EXIT_REFUSED, "fm-force-release", p, "--head", 0, "4M+8M",
                    err="does not hold all of it.*block 0x800000 is free")
        self.assertEqual(o["status"], "MHSLD_E_NOT_OWNER")
        self.expect(EXIT_OK, "check", p, "--head", 0, "0+8M")
        o = self.fm(EXIT_OK, "fm-force-release", p, "--head", 0, "0+4M")
        self.assertEqual((o["status"], o["cxl_rc"]), ("MHSLD_OK", 0))
        # From now on the head's access fails; another head claims it at once.
        self.expect(EXIT_FALSE, "check", p, "--head", 0, "0+4M")
        self.expect(EXIT_OK, "check", p, "--head", 0, "4M+4M")
        self.ok("reserve", p, "--head", 1, "0+4M")
        self.assertEqual(self.extents(self.head(p, 0)["owned"]), [(4 * M, 4 * M)])
        self.assertTrue(self.head(p, 0)["alive"])
        self.ok("verify", p)

    def test_force_release_dead_head(self):
        p = self.create()
        self.ok("reserve", p, "--head", 0, "0+4M")
        self.ok("commit", p, "--head", 0, "0+4M")
        out = self.ok("fm-force-release", p, "--head", 0, "0+2M")
        self.assertEqual(out, "head 0: took 2M away (forced release)\n")
        self.assertEqual(self.extents(self.head(p, 0)["owned"]), [(2 * M, 2 * M)])
        self.ok("reserve", p, "--head", 1, "0+2M")
        self.ok("verify", p)


class TestFmNotice(FmBase):
    def test_forced_notice(self):
        """mhsld/fm.h: a live head is told with a FORCED notice in its queue,
        and keeps serving."""
        p = self.create()
        srv = self.serve(p, 0, "--accept")
        self.fm(EXIT_OK, "fm-offer", p, "--head", 0, "0+8M")
        srv.line()
        self.fm(EXIT_OK, "fm-force-release", p, "--head", 0, "2M+4M")
        line = srv.line()
        self.assertEqual((line["served"], line["status"]), ("FORCED", "MHSLD_OK"), line)
        self.assertEqual([(e["dpa"], e["length"]) for e in line["extents"]], [(2 * M, 4 * M)])
        self.fm(EXIT_OK, "fm-mbox", p, "--head", 0, "5600")
        self.assertEqual(srv.line()["served"], "MBOX")

    def test_notices_in_chunks(self):
        """70 extents taken at once: one request, two notices (64 + 6)."""
        p = self.create(capacity="512M")
        srv = self.serve(p, 0, "--accept")
        self.fm(EXIT_OK, "fm-offer", p, "--head", 0, "0+256M")
        srv.line()
        ext = ["%d+2M" % (i * 2 * M) for i in range(70)]
        self.expect(EXIT_USAGE, "fm-force-release", p, "--head", 0,
                    *["%d+2M" % (i * 2 * M) for i in range(129)], err="at most 128")
        self.fm(EXIT_OK, "fm-force-release", p, "--head", 0, *ext)
        got = []
        while len(got) < 70:
            line = srv.line()
            self.assertEqual(line["served"], "FORCED", line)
            got += [(e["dpa"], e["length"]) for e in line["extents"]]
        self.assertEqual(got, [(i * 2 * M, 2 * M) for i in range(70)])
        self.assertEqual(self.extents(self.head(p, 0)["owned"]), [(140 * M, 116 * M)])


class TestFmReclaim(FmBase):
    def test_reclaim_killed_server(self):
        p = self.create(heads=3)
        srv = self.serve(p, 0, "--accept")
        self.fm(EXIT_OK, "fm-offer", p, "--head", 0, "0+4M")
        srv.line()
        self.fm(EXIT_OK, "fm-offer", p, "--head", 0, "8M+2M")
        srv.line()
        o = self.fm(EXIT_REFUSED, "fm-reclaim", p, "--head", 0,
                    err=r"live process \(pid %d\): fm-reclaim .*\(MHSLD_E_ALIVE\)" % srv.proc.pid)
        self.assertEqual(o["status"], "MHSLD_E_ALIVE")
        self.assertEqual(len(self.head(p, 0)["owned"]), 2)
        srv.kill()
        self.assertFalse(self.head(p, 0)["alive"])
        # Dead: requests are answered as such, and its capacity is still held.
        self.expect(EXIT_REFUSED, "fm-offer", p, "--head", 0, "16M+2M", err="MHSLD_E_DEAD")
        self.expect(EXIT_REFUSED, "reserve", p, "--head", 1, "0+2M", err="owned by head 0")
        o = self.fm(EXIT_OK, "fm-reclaim", p, "--head", 0, "--keep")
        self.assertEqual((o["mode"], o["blocks_freed"], o["blocks_kept"]), ("keep", 0, 3))
        o = self.fm(EXIT_OK, "fm-reclaim", p, "--head", 0)
        self.assertEqual((o["mode"], o["blocks_freed"], o["blocks_kept"]), ("drop", 3, 0))
        self.assertEqual(self.head(p, 0)["owned"], [])
        # Another head, served, claims it while head 2 keeps running.
        s2 = self.serve(p, 2)
        self.ok("reserve", p, "--head", 1, "0+4M")
        self.fm(EXIT_OK, "fm-offer", p, "--head", 2, "8M+2M")
        self.assertEqual(s2.line()["status"], "MHSLD_OK")
        self.ok("verify", p)
        out = self.ok("fm-reclaim", p, "--head", 0)
        self.assertRegex(out, r"^head 0: reclaimed: in-flight none; 0 blocks freed, 0 kept "
                         r"\(drop\)\n$")


if __name__ == "__main__":
    unittest.main()
