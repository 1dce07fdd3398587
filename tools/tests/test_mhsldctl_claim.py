#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""End-to-end tests of `mhsldctl claim` (mhsld_claim: free -> owned in one call).

Run by ctest as tool.Claim (label "tool"), with the helpers of
test_mhsldctl.py:
    MHSLDCTL=build/tools/mhsldctl MHSLDCTL_TESTING=build/tools/mhsldctl_testing \
        python3 tools/tests/test_mhsldctl_claim.py -v
"""
import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import test_mhsldctl as tm  # noqa: E402  (not its classes by name: unittest would run them)
from test_mhsldctl import EXIT_OK, EXIT_REFUSED, EXIT_USAGE, M, TTOOL  # noqa: E402

TAG = "00112233-4455-6677-8899-aabbccddeeff"


class TestClaim(tm.Base):
    def owned(self, p, h):
        return self.extents(self.head(p, h)["owned"])

    def holdings(self, p):
        """What every head holds and the shared extents (not epochs or pids,
        which every head verb's attach moves)."""
        d = self.show(p)
        return ([(h["owned"], h["pending"], h["shared"]) for h in d["heads"]], d["shared"])

    def test_claim(self):
        p = self.create(heads=2)
        out = self.ok("claim", p, "--head", 0, "4M+2M", "0+4M", "8M+2M")
        self.assertEqual(out, "claimed 8M\n")
        h = self.head(p, 0)
        # Owned at once, nothing pending; each extent its own, even adjacent ones.
        self.assertEqual(self.extents(h["owned"]), [(0, 4 * M), (4 * M, 2 * M), (8 * M, 2 * M)])
        self.assertEqual((h["pending"], h["nr_pending"], h["owned_bytes"]), ([], 0, 8 * M))
        self.ok("check", p, "--head", 0, "0+6M", "8M+2M")
        self.expect(1, "check", p, "--head", 0, "6M+2M")
        self.expect(1, "check", p, "--head", 1, "0+2M")
        # Owned as after reserve + commit: released by the head, then free for others.
        self.expect(EXIT_REFUSED, "release", p, "--head", 1, "0+2M", err="owned by head 0")
        self.assertIn("released 4M", self.ok("release", p, "--head", 0, "0+4M"))
        self.ok("claim", p, "--head", 1, "0+2M")
        self.assertEqual(self.owned(p, 1), [(0, 2 * M)])
        self.ok("verify", p)

    def test_conflicts_change_nothing(self):
        p = self.new_path()
        self.ok("create", p, "--regions", "0+32M,1G+8M:shared", "--heads", 3)
        self.ok("claim", p, "--head", 0, "0+4M")
        self.ok("reserve", p, "--head", 1, "8M+2M")
        self.ok("share-add", p, "--head", 2, "--tag", TAG, "1G+2M")
        before = self.holdings(p)
        for head, exts, err in (
                (1, ["16M+2M", "2M+4M"], r"block 0x200000 is owned by head 0"),
                (0, ["2M+2M"], r"block 0x200000 is already owned by this head"),
                (2, ["6M+4M"], r"block 0x800000 is pending for head 1"),
                (1, ["8M+2M"], r"block 0x800000 is already pending for this head"),
                (0, ["1G+4M"], r"block 0x40000000 is shared"),
                (2, ["1G+2M"], r"block 0x40000000 is shared")):
            self.expect(EXIT_REFUSED, "claim", p, "--head", head, *exts,
                        err=r"MHSLD_E_CONFLICT\): " + err)
            self.assertEqual(self.holdings(p), before, "failed claim changed the state")
        # The free blocks of those requests were not claimed (all or nothing).
        self.ok("claim", p, "--head", 1, "16M+2M", "4M+2M", "0x40200000+2M")
        self.ok("verify", p)

    def test_invalid_requests(self):
        p = self.create()
        before = self.holdings(p)
        for exts, msg in ((["1M+2M"], "ALIGN"), (["0+3M"], "ALIGN"), (["64M+2M"], "RANGE"),
                          (["62M+4M"], "RANGE"), (["0+4M", "2M+2M"], "OVERLAP"),
                          (["4M+2M", "4M+2M"], "OVERLAP")):
            self.expect(EXIT_USAGE, "claim", p, "--head", 0, *exts, err=msg)
        self.expect(EXIT_USAGE, "claim", p, "--head", 0, err="an EXTENT is required")
        self.expect(EXIT_USAGE, "claim", p, "0+2M", err="--head is required")
        self.expect(EXIT_USAGE, "claim", p, "--head", 2, "0+2M", err="does not exist")
        self.expect(EXIT_USAGE, "claim", p, "--head", 0, "0+0", err="length is zero")
        self.expect(EXIT_USAGE, "claim", p, "--head", 0, "--group", 1, "0+2M",
                    err="unknown option")
        self.expect(EXIT_USAGE, "claim", p, "--head", 0, *["%dM+2M" % (2 * i) for i in range(129)],
                    err="at most 128")
        self.assertEqual(self.holdings(p), before)
        # 128 extents, the limit, are one claim.
        self.ok("claim", p, "--head", 0, *["%dM+2M" % (2 * i) for i in range(32)])
        self.assertEqual(len(self.head(p, 0)["owned"]), 32)

    def test_json(self):
        p = self.create()
        r = self.expect(EXIT_OK, "claim", p, "--head", 0, "0+2M", "2M+2M", "--json")
        o = json.loads(r.stdout)
        self.assertEqual(o, {"verb": "claim", "head": 0, "status": "MHSLD_OK",
                             "extents": [{"dpa": 0, "length": 2 * M},
                                         {"dpa": 2 * M, "length": 2 * M}],
                             "bytes": 4 * M, "conflict": None, "message": "claimed 4M"})
        # A refusal: the object on stdout, the line on stderr, exit 3.
        r = self.expect(EXIT_REFUSED, "claim", p, "--head", 1, "4M+2M", "2M+2M", "--json",
                        err=r"^mhsldctl: claim: .*: head 1: .*CONFLICT.*owned by head 0\n$")
        o = json.loads(r.stdout)
        self.assertEqual((o["verb"], o["head"], o["status"], o["bytes"]),
                         ("claim", 1, "MHSLD_E_CONFLICT", 4 * M))
        self.assertEqual(o["conflict"], {"dpa": 2 * M, "owner": 0, "state": 2})  # OWNED
        self.assertIn("owned by head 0", o["message"])
        # The engine's own argument checks: an object too (exit 2).
        r = self.expect(EXIT_USAGE, "claim", p, "--head", 1, "1M+2M", "--json", err="ALIGN")
        o = json.loads(r.stdout)
        self.assertEqual((o["status"], o["conflict"]), ("MHSLD_E_ALIGN", None))
        # Failures before the claim are the usual one line, nothing on stdout.
        r = self.expect(EXIT_USAGE, "claim", p, "--head", 5, "0+2M", "--json")
        self.assertEqual(r.stdout, "")
        self.assertEqual(self.extents(self.head(p, 1)["owned"]), [])

    def test_head_alive(self):
        p = self.create()
        s = self.session(p, 0)
        self.expect(EXIT_REFUSED, "claim", p, "--head", 0, "0+2M",
                    err=r"head 0 is attached by a live process \(pid %d\).*ALIVE" % s.proc.pid)
        r = self.expect(EXIT_REFUSED, "claim", p, "--head", 0, "0+2M", "--json")
        self.assertEqual(r.stdout, "")
        # The session claims; the other head meets its blocks.
        self.assertEqual(s.cmd("claim 0+2M 2M+2M"), "ok claimed 4M")
        self.assertEqual(s.cmd("claim 2M+2M"), "err 3 block already held (MHSLD_E_CONFLICT): "
                         "block 0x200000 is already owned by this head")
        self.assertTrue(s.cmd("claim").startswith("err usage claim takes 1 to 128"))
        self.assertTrue(s.cmd("claim 1M+2M").startswith("err 2 "))
        self.assertEqual(s.cmd("check 0+4M 4M+2M"), "ok yes no")
        self.expect(EXIT_REFUSED, "claim", p, "--head", 1, "2M+2M", err="owned by head 0")
        s.close()
        self.assertEqual(self.extents(self.head(p, 0)["owned"]), [(0, 2 * M), (2 * M, 2 * M)])

    def test_help(self):
        out = self.ok("--help")
        self.assertRegex(out, r"\n  claim +\S")
        for form in (["claim", "--help"], ["help", "claim"]):
            out = self.ok(*form)
            self.assertTrue(out.startswith("usage: mhsldctl claim STATE --head N EXTENT..."), out)
            self.assertIn("--json", out)
            self.assertIn("Exit status", out)
            for line in out.splitlines():
                self.assertLessEqual(len(line), 80, "help line too wide: %r" % line)
        self.assertRegex(self.ok("session", "--help"), r"claim EXT")

    def test_crash(self):
        """The head killed (SIGKILL) at every atomic step of a claim of two
        extents in two occupancy words: recovery leaves all of it or none."""
        if not TTOOL or not os.access(TTOOL, os.X_OK):
            self.fail("MHSLDCTL_TESTING must name the mhsldctl_testing binary")
        self.MAX_STEPS = tm.TestCrash.MAX_STEPS
        self.capacity = "256M"  # two occupancy words (64 blocks of 2M each)
        outcomes = set()

        def settle(p, rec):
            owned = sorted(self.owned(p, 0))
            done = [(0, 4 * M), (30 * M, 2 * M), (130 * M, 2 * M)]
            before = [(30 * M, 2 * M)]
            self.assertIn(owned, (done, before), rec)
            self.assertEqual(self.head(p, 0)["pending"], [])
            if rec is None:
                self.assertEqual(owned, done)
            elif "in-flight claim" in rec:
                self.assertEqual("rolled forward" in rec, owned == done, rec)
                self.assertRegex(rec, r"in-flight claim rolled (forward|back)")
            outcomes.add((owned == done, bool(rec and "in-flight claim" in rec)))
            # What is not the head's is free for another.
            if owned == before:
                self.ok("claim", p, "--head", 1, "0+4M", "130M+2M")
        steps = tm.TestCrash.enumerate_crashes(self, lambda p: tm.TestCrash.bystander(self, p),
                                            "claim 0+4M 130M+2M", settle)
        self.assertGreater(steps, 4)
        # Seen: undone by recovery, completed by recovery, and never begun.
        self.assertIn((False, True), outcomes)
        self.assertIn((True, True), outcomes)
        self.assertIn((False, False), outcomes)

    capacity = "64M"

    def create(self, *extra, capacity=None, heads=2, tag="s"):
        return super().create(*extra, capacity=capacity or self.capacity, heads=heads, tag=tag)


if __name__ == "__main__":
    unittest.main()
