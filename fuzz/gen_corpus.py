#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Write the seed corpora of the fuzz targets into corpus/<target>/.

The seeds are programs in each target's input language, built here with
encoders that mirror the targets' decoders (fuzz_data_producer.c reads a
value in [lo, hi] as (hi - lo) < 256 ? one byte : two bytes, little-endian,
reduced modulo the span; a range with lo == hi reads nothing).  Every
opcode and every operation kind is reached by at least one seed.  Output is
deterministic: running this twice writes the same bytes (names are the
SHA-1 of the contents).

  fuzz/gen_corpus.py                    # all targets, into ./corpus
  fuzz/gen_corpus.py --out DIR          # elsewhere
  fuzz/gen_corpus.py --dump-states BIN  # also dump real state files with
                                        # BIN = a fuzz_state replay binary
                                        # (those bytes hold a pid and a
                                        # creation time: not reproducible)
"""
import argparse
import hashlib
import os
import struct
import subprocess
import sys
import tempfile


class Enc:
    """Encoder mirroring fuzz_dp_* reads."""

    def __init__(self):
        self.b = bytearray()

    def rng(self, lo, hi, v):
        assert lo <= v <= hi, (lo, v, hi)
        if lo >= hi:
            return self
        span = hi - lo
        n = 1 if span <= 0xFF else 2 if span <= 0xFFFF else 3 if span <= 0xFFFFFF else 4
        self.b += (v - lo).to_bytes(n, "little")
        return self

    def u8(self, v):
        self.b.append(v & 0xFF)
        return self

    def u32(self, v):
        self.b += struct.pack("<I", v & 0xFFFFFFFF)
        return self

    def u64(self, v):
        self.b += struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF)
        return self

    def boolean(self, v):
        return self.u8(1 if v else 0)

    def raw(self, data):
        self.b += data
        return self


# ---- fuzz_multihead / fuzz_multihead_threads ------------------------------

OP = dict(attach=0, reserve=1, commit=2, release=3, release_all=4, share_add=5,
          share_release=6, access=7, crash=8, recover=9, detach=10, query=11, misuse=12,
          claim=13)
# The operation an OP_CRASH runs: reserve..share_release, then claim (one past).
CRASH_OP = dict(reserve=1, commit=2, release=3, release_all=4, share_add=5, share_release=6,
                claim=7)
HEAD_SEL = {2: 0, 3: 1, 4: 2, 5: 12, 7: 13, 9: 14, 32: 15}


class Geo:
    """A geometry as fuzz_geometry_from() decodes it."""

    def __init__(self, heads=2, bs_idx=0, static=1, regions=((8, False, 0), (4, True, 1)),
                 extra_lds=0):
        self.heads, self.bs_idx, self.static = heads, bs_idx, static
        self.regions, self.extra = list(regions), extra_lds

    def encode(self, e):
        e.rng(0, 15, HEAD_SEL[self.heads])
        e.rng(0, 3, self.bs_idx)
        e.rng(1, 3, len(self.regions))
        e.rng(0, 4, self.static)
        for i, (nb, sharable, gap) in enumerate(self.regions):
            if i > 0:
                e.rng(0, 2, gap)
            e.rng(1, 40, nb)
            e.rng(0, 2, 0 if sharable else 1)
        e.rng(0, 2, self.extra)

    @property
    def nblocks(self):
        return sum(r[0] for r in self.regions)


class MH:
    """A fuzz_multihead program."""

    def __init__(self, geo, per_process=False):
        self.g, self.e = geo, Enc()
        geo.encode(self.e)
        self.e.rng(0, 3, 3 if per_process else 0)

    def op(self, kind, head):
        self.e.rng(0, 13, OP[kind])
        self.e.rng(0, self.g.heads, head)
        return self

    # extents (gen_extent)
    def ext_blocks(self, first, nblocks):
        self.e.rng(0, 9, 0).rng(0, self.g.nblocks - 1, first).rng(1, 4, nblocks)

    def ext_owned_run(self, pick=0, want=4):
        self.e.rng(0, 9, 5).rng(0, 63, pick).rng(1, 4, want)

    def ext_unaligned(self, block, off, nblocks, odd_len):
        self.e.rng(0, 9, 6).rng(0, self.g.nblocks - 1, block).boolean(off)
        self.e.rng(0, 3, nblocks).boolean(odd_len)

    def ext_raw_blocks(self, blk, nblk):
        self.e.rng(0, 9, 7).rng(0, 130, blk).rng(0, 8, nblk)

    def ext_edge(self, which):
        self.e.rng(0, 9, 8).rng(0, 3, which)

    def ext_raw(self, dpa, length):
        self.e.rng(0, 9, 9).u64(dpa).u64(length)

    def request(self, exts):
        """exts: list of callables emitting one extent each (1..7), or 0 / 'too_many'."""
        if exts == 0:
            self.e.rng(0, 15, 0)
            return
        if exts == "too_many":
            self.e.rng(0, 15, 1)
            return
        n = len(exts)
        assert 1 <= n <= 7
        self.e.rng(0, 15, 2 if n == 1 else n + 8)
        for x in exts:
            x()

    def reserve(self, head, exts, crash=None):
        self._maybe_crash(crash, "reserve", head)
        self.request(exts)
        return self

    def claim(self, head, exts, crash=None):
        self._maybe_crash(crash, "claim", head)
        self.request(exts)
        return self

    def release(self, head, exts, crash=None):
        self._maybe_crash(crash, "release", head)
        self.request(exts)
        return self

    def commit(self, head, group, choices=(), bogus=None, crash=None):
        """choices: per reserved extent, 0 skip, 1 whole, 3 first block, 4 last
        block, 5 a generated extent (then pass extra emitters)."""
        self._maybe_crash(crash, "commit", head)
        if group is None:
            self.e.rng(0, 15, 15)
            if bogus == 0:
                self.e.boolean(True)
            else:
                self.e.boolean(False).u64(bogus or 0x1234)
            self.e.boolean(False)
            return self
        self.e.rng(0, 15, group)
        for c in choices:
            if callable(c):
                self.e.rng(0, 5, 5)
                c()
            else:
                self.e.rng(0, 5, c)
        return self

    def release_all(self, head, crash=None):
        self._maybe_crash(crash, "release_all", head)
        return self

    def share(self, kind, head, region=None, first=0, nblocks=1, tag=0, existing=None,
              same_tag=True, crash=None):
        self._maybe_crash(crash, kind, head)
        if existing is not None:
            self.e.rng(0, 2, 1).rng(0, 63, existing).rng(0, 3, 1 if same_tag else 0)
            if not same_tag:
                self.e.rng(0, 4, tag)
            return self
        self.e.rng(0, 2, 0).rng(0, 63, 0).rng(0, 3, 0)
        self.e.rng(0, len(self.g.regions) - 1, region)
        self.e.rng(0, 3, 1)
        self.e.rng(0, self.g.regions[region][0] - 1, first).rng(1, 3, nblocks)
        self.e.rng(0, 4, tag)
        return self

    def share_odd(self, kind, head, emit, tag=0):
        self.op(kind, head)
        self.e.rng(0, 2, 0).rng(0, 63, 0).rng(0, 3, 0)
        self.e.rng(0, len(self.g.regions) - 1, 0)
        self.e.rng(0, 3, 0)
        emit()
        self.e.rng(0, 4, tag)
        return self

    def _maybe_crash(self, crash, kind, head):
        if crash is None:
            self.op(kind, head)
        else:
            self.op("crash", head)
            self.e.rng(1, 48, crash).rng(1, 7, CRASH_OP[kind])

    def attach(self, head, keep=False):
        self.op("attach", head)
        self.e.boolean(keep)
        return self

    def detach(self, head):
        return self.op("detach", head)

    def recover(self, head, by, keep=False, force=False):
        self.op("recover", head)
        self.e.rng(0, self.g.heads - 1, by).rng(0, 3, (1 if keep else 0) | (2 if force else 0))
        return self

    def access(self, head, case, *args):
        self.op("access", head)
        self.e.rng(0, 4, case)
        if case == 0:
            self.e.rng(0, self.g.nblocks - 1, args[0]).rng(0, 7, args[1])
        elif case == 1:
            self.e.rng(0, self.g.nblocks - 1, args[0])
        elif case == 2:
            self.e.rng(0, self.g.nblocks - 1, args[0]).rng(0, 3, args[1])
        elif case == 3:
            self.e.rng(0, len(self.g.regions) - 1, args[0]).boolean(args[1]).rng(1, 2, args[2])
        else:
            self.e.u64(args[0]).u64(args[1])
        return self

    def query(self, head, kind, start, cap):
        self.op("query", head)
        self.e.rng(0, 3, kind).rng(0, 8, start).rng(0, 4, cap)
        return self

    def misuse(self, head, what, extra=0):
        self.op("misuse", head)
        self.e.rng(0, 12, what)
        if what == 0:
            self.e.rng(0, 3, extra)
        elif what == 1:
            self.e.rng(0, 40, extra)
        elif what == 2:
            self.e.rng(0, 4, extra)
        elif what == 9:
            self.e.u32(extra)
        elif what == 10:
            self.e.rng(0, 9, extra)
        elif what == 11:
            self.e.rng(0, 7, extra)
            if extra == 4:
                self.e.boolean(True)
        elif what == 12:
            self.e.boolean(extra)
        return self

    def bytes(self):
        return bytes(self.e.b)


def multihead_seeds():
    seeds = {}
    g2 = Geo()
    # Basic life cycle of two heads: reserve, commit (whole / partial), access, release.
    p = MH(g2).attach(0).attach(1)
    p.reserve(0, [lambda: p.ext_blocks(0, 2), lambda: p.ext_blocks(4, 1)])
    p.reserve(1, [lambda: p.ext_blocks(2, 2)])
    p.commit(0, 0, choices=(1, 0))
    p.commit(1, 0, choices=(3,))
    p.access(0, 0, 0, 3).access(0, 1, 1).access(1, 2, 2, 1).access(0, 3, 0, True, 2)
    p.access(1, 4, 0x7fffffffffffffff, 16)
    p.release(0, [lambda: p.ext_owned_run(0, 2)])
    p.release(1, [lambda: p.ext_blocks(0, 1)])  # not owner
    p.query(0, 0, 0, 4).query(1, 3, 1, 2).query(0, 1, 8, 0)
    p.release_all(1).detach(0).detach(1)
    seeds["lifecycle"] = p.bytes()
    # Argument errors: zero extents, too many, zero length, overflow, outside, overlap, unaligned.
    p = MH(g2).attach(0)
    p.reserve(0, 0).reserve(0, "too_many")
    p.reserve(0, [lambda: p.ext_edge(0)]).reserve(0, [lambda: p.ext_edge(1)])
    p.reserve(0, [lambda: p.ext_edge(2)]).reserve(0, [lambda: p.ext_edge(3)])
    p.reserve(0, [lambda: p.ext_blocks(0, 2), lambda: p.ext_blocks(1, 1)])
    p.reserve(0, [lambda: p.ext_unaligned(1, True, 1, False)])
    p.reserve(0, [lambda: p.ext_unaligned(1, False, 1, True)])
    p.reserve(0, [lambda: p.ext_raw_blocks(0, 1)])  # static capacity in front
    p.reserve(0, [lambda: p.ext_raw_blocks(9, 1)])  # the gap between regions
    p.reserve(0, [lambda: p.ext_raw(0xFFFFFFFFFFE00000, 0x400000)])
    p.reserve(0, [lambda: p.ext_blocks(7, 2)])  # across two regions (with a gap)
    p.commit(0, None, bogus=0).commit(0, None, bogus=0xdead)
    p.release(0, 0).release(0, [lambda: p.ext_blocks(3, 1)])
    seeds["bad_args"] = p.bytes()
    # Conflicts and the pending table filling up.
    p = MH(g2).attach(0).attach(1)
    p.reserve(0, [lambda: p.ext_blocks(0, 3)])
    p.reserve(1, [lambda: p.ext_blocks(2, 2)])
    p.reserve(0, [lambda: p.ext_blocks(1, 1)])  # own pending block
    for i in range(9):
        p.reserve(1, [lambda i=i: p.ext_blocks(3 + i, 1)])
    p.commit(1, 2, choices=(lambda: p.ext_blocks(0, 1),))  # not in the group
    p.commit(1, 1, choices=(1,))
    p.commit(0, 0, choices=(3, ))
    p.commit(0, 0, choices=(4,))
    p.release_all(1).release_all(0)
    seeds["conflicts"] = p.bytes()
    # Shared extents: create, join, wrong tag, not sharable, leave, last leaves.
    g3 = Geo(heads=3)
    p = MH(g3).attach(0).attach(1).attach(2)
    p.share("share_add", 0, region=1, first=0, nblocks=2, tag=0)
    p.share("share_add", 1, existing=0)
    p.share("share_add", 1, existing=0)  # already a sharer
    p.share("share_add", 2, existing=0, same_tag=False, tag=2)
    p.share("share_add", 2, region=1, first=1, nblocks=2, tag=1)  # overlaps
    p.share("share_add", 2, region=0, first=0, nblocks=1, tag=1)  # not sharable
    p.share("share_add", 2, region=1, first=2, nblocks=2, tag=4)  # null tag
    p.access(1, 2, 8, 2).access(2, 0, 8, 0)
    p.query(1, 2, 0, 4).query(0, 3, 0, 4)
    p.share("share_release", 0, existing=0)
    p.share("share_release", 0, existing=0)
    p.share("share_release", 2, region=1, first=0, nblocks=1)
    p.reserve(2, [lambda: p.ext_blocks(8, 1)])
    p.release_all(1)
    seeds["shared"] = p.bytes()
    # Crashes of every ownership operation at several atomic steps, recovered
    # by another head (DROP and KEEP) or by re-attach.
    kinds = ["reserve", "commit", "release", "release_all", "share_add", "share_release",
             "claim"]
    for kind in kinds:
        for k in (1, 2, 3, 5, 8):
            for how in ("recover_drop", "recover_keep", "reattach_keep", "reattach_drop"):
                if how in ("recover_keep", "reattach_drop") and k not in (2, 5):
                    continue
                p = MH(g3, per_process=(k == 2)).attach(0).attach(1)
                p.reserve(0, [lambda: p.ext_blocks(0, 2), lambda: p.ext_blocks(3, 1)])
                p.reserve(0, [lambda: p.ext_blocks(5, 2)])
                p.commit(0, 1, choices=(1,))
                p.share("share_add", 0, region=1, first=0, nblocks=2, tag=1)
                p.share("share_add", 1, existing=0)
                if kind == "reserve":
                    p.reserve(0, [lambda: p.ext_blocks(7, 1), lambda: p.ext_blocks(10, 2)], crash=k)
                elif kind == "commit":
                    p.commit(0, 0, choices=(1, 0), crash=k)
                elif kind == "release":
                    p.release(0, [lambda: p.ext_owned_run(0, 4)], crash=k)
                elif kind == "release_all":
                    p.release_all(0, crash=k)
                elif kind == "share_add":
                    p.share("share_add", 0, region=1, first=2, nblocks=2, tag=2, crash=k)
                elif kind == "claim":
                    p.claim(0, [lambda: p.ext_blocks(7, 1), lambda: p.ext_blocks(10, 2)], crash=k)
                else:
                    p.share("share_release", 0, existing=0, crash=k)
                p.reserve(1, [lambda: p.ext_blocks(8, 1)])
                p.access(1, 0, 8, 0)
                if how == "recover_drop":
                    p.recover(0, 1)
                elif how == "recover_keep":
                    p.recover(0, 1, keep=True)
                elif how == "reattach_keep":
                    p.attach(0, keep=True)
                else:
                    p.attach(0, keep=False)
                p.attach(0, keep=True).query(0, 3, 0, 4).release_all(0)
                seeds[f"crash_{kind}_k{k}_{how}"] = p.bytes()
    # mhsld_claim: free -> OWNED in one call.  Adjacent extents, conflicts
    # with blocks owned, pending and shared by others and by the head itself,
    # argument errors, access, the extent list, release.
    p = MH(g3).attach(0).attach(1).attach(2)
    p.claim(0, [lambda: p.ext_blocks(0, 2), lambda: p.ext_blocks(2, 1)])
    p.access(0, 2, 0, 3).access(1, 0, 1, 0)
    p.query(0, 0, 0, 4).query(0, 3, 0, 4)
    p.claim(1, [lambda: p.ext_blocks(4, 1), lambda: p.ext_blocks(1, 1)])  # owned by 0
    p.claim(0, [lambda: p.ext_blocks(2, 1)])  # owned by itself
    p.reserve(1, [lambda: p.ext_blocks(5, 2)])
    p.claim(2, [lambda: p.ext_blocks(6, 1)])  # pending for 1
    p.claim(1, [lambda: p.ext_blocks(4, 2)])  # pending for itself
    p.share("share_add", 2, region=1, first=0, nblocks=2, tag=1)
    p.claim(0, [lambda: p.ext_blocks(9, 1)])  # shared
    p.claim(2, [lambda: p.ext_blocks(8, 2)])  # shared by itself
    p.claim(0, 0).claim(0, "too_many")
    p.claim(0, [lambda: p.ext_edge(0)]).claim(0, [lambda: p.ext_edge(1)])
    p.claim(0, [lambda: p.ext_edge(3)])
    p.claim(0, [lambda: p.ext_blocks(3, 2), lambda: p.ext_blocks(4, 1)])  # overlap
    p.claim(0, [lambda: p.ext_unaligned(3, True, 1, False)])
    p.claim(0, [lambda: p.ext_raw_blocks(9, 1)])  # the gap between regions
    p.claim(2, [lambda: p.ext_blocks(3, 1), lambda: p.ext_blocks(7, 1)])
    p.release(0, [lambda: p.ext_owned_run(0, 2)])
    p.claim(1, [lambda: p.ext_blocks(0, 2)])
    p.recover(2, 0, force=True, keep=True).claim(2, [lambda: p.ext_blocks(11, 1)])  # fenced
    p.release_all(0).release_all(1).attach(2, keep=True).release_all(2)
    seeds["claim"] = p.bytes()
    # Liveness and fencing: attach of a live head, recover of a live head,
    # forced recovery, operations through the fenced handle, re-attach.
    for pp in (False, True):
        seeds["liveness" + ("_per_process" if pp else "")] = liveness(g2, pp)
    return seeds


def liveness(g2, per_process):
    p = MH(g2, per_process).attach(0).attach(1)
    p.reserve(0, [lambda: p.ext_blocks(0, 1)]).commit(0, 0, choices=(1,))
    p.attach(0)                           # live: ALIVE from a second process
    p.recover(0, 1)                       # live: ALIVE
    p.recover(0, 1, keep=True, force=True)  # fenced
    p.reserve(0, [lambda: p.ext_blocks(3, 1)]).release_all(0)
    p.attach(0, keep=True).detach(0).detach(0)
    p.recover(0, 1, keep=True).attach(0, keep=True).release_all(0)
    p.recover(1, 0, force=True).detach(1).attach(1)
    p.attach(2).recover(2, 0)             # head out of range
    p.detach(1).recover(1, 0).recover(1, 0, keep=True)
    return p.bytes()


def multihead_more(seeds):
    g2 = Geo()
    # Detach keeps capacity; re-attach with KEEP keeps it, with DROP frees it.
    p = MH(g2).attach(0)
    p.reserve(0, [lambda: p.ext_blocks(0, 2)]).reserve(0, [lambda: p.ext_blocks(4, 2)])
    p.commit(0, 0, choices=(1,))
    p.detach(0).attach(0, keep=True).query(0, 1, 0, 4).detach(0).attach(0, keep=False)
    seeds["detach_keep_drop"] = p.bytes()
    # Every misuse and query path.
    p = MH(g2).attach(0)
    for what, extra in ((0, 0), (0, 3), (1, 0), (1, 40), (2, 0), (2, 4), (3, 0), (4, 0), (5, 0),
                        (6, 0), (7, 0), (8, 0), (9, 5), (9, 0xFFFFFFFF)) + tuple(
                            (10, i) for i in range(10)) + tuple((11, i) for i in range(8)) + ((12, 0), (12, 1)):
        p.misuse(0, what, extra)
    for kind in range(4):
        p.query(0, kind, 0, 4).query(1, kind, 3, 1)
    seeds["misuse_query"] = p.bytes()
    # Many heads: a 32-head geometry, several of them busy.
    g32 = Geo(heads=32, regions=((16, True, 0), (16, False, 1), (8, True, 0)))
    p = MH(g32)
    for h in (0, 7, 16, 31):
        p.attach(h)
        p.reserve(h, [lambda h=h: p.ext_blocks(h % 40, 1)])
        p.commit(h, 0, choices=(1,))
    p.share("share_add", 31, region=0, first=2, nblocks=3, tag=3)
    p.share("share_add", 16, existing=0)
    p.recover(7, 0).attach(32).release_all(31)
    seeds["heads32"] = p.bytes()
    # Big blocks: 1 GiB blocks, three regions, a long unaligned access.
    gbig = Geo(heads=4, bs_idx=3, static=4, regions=((3, False, 0), (2, True, 2), (16, False, 0)))
    p = MH(gbig).attach(3).attach(2)
    p.reserve(3, [lambda: p.ext_blocks(0, 3), lambda: p.ext_blocks(5, 4)])
    p.commit(3, 0, choices=(4, 1))
    p.access(3, 4, (4 << 30) + 12345, (2 << 30)).access(3, 3, 2, True, 2)
    p.share("share_add", 2, region=1, first=0, nblocks=2, tag=1)
    p.reserve(2, [lambda: p.ext_blocks(4, 2)])  # across the adjacent regions
    p.release_all(3).release_all(2)
    seeds["big_blocks"] = p.bytes()
    # 120 blocks: requests that span the engine's two 64-block occupancy
    # words, claims that fail in the second word (roll-back of the first),
    # and crashes between the words.
    gw = Geo(heads=3, static=0, regions=((40, False, 0), (40, False, 0), (40, True, 0)))
    p = MH(gw).attach(0).attach(1)
    p.reserve(1, [lambda: p.ext_blocks(65, 1)])
    p.reserve(0, [lambda: p.ext_blocks(62, 4)])  # 62..65: 65 is held: roll back 62, 63
    p.reserve(0, [lambda: p.ext_blocks(61, 4)])  # 61..64 across the words
    p.reserve(0, [lambda: p.ext_blocks(10, 2), lambda: p.ext_blocks(100, 3)])
    p.commit(0, 0, choices=(4,)).commit(0, 0, choices=(1, 3))
    p.release(0, [lambda: p.ext_owned_run(0, 4), lambda: p.ext_owned_run(3, 1)])
    p.share("share_add", 1, region=2, first=20, nblocks=3, tag=1)
    p.release_all(0).release_all(1)
    seeds["two_words"] = p.bytes()
    for kind, k in (("reserve", 1), ("reserve", 2), ("reserve", 3), ("commit", 2), ("commit", 4),
                    ("release", 2), ("release", 3), ("release_all", 3), ("claim", 2),
                    ("claim", 4), ("claim", 6), ("claim", 9)):
        p = MH(gw).attach(0).attach(1)
        p.reserve(0, [lambda: p.ext_blocks(60, 3), lambda: p.ext_blocks(63, 3)])
        if kind == "reserve":
            p.reserve(0, [lambda: p.ext_blocks(30, 2), lambda: p.ext_blocks(90, 2)], crash=k)
        elif kind == "claim":
            p.claim(0, [lambda: p.ext_blocks(30, 2), lambda: p.ext_blocks(90, 2)], crash=k)
        elif kind == "commit":
            p.commit(0, 0, choices=(1, 1), crash=k)
        else:
            p.commit(0, 0, choices=(1, 1))
            if kind == "release":
                p.release(0, [lambda: p.ext_blocks(60, 3), lambda: p.ext_blocks(63, 3)], crash=k)
            else:
                p.release_all(0, crash=k)
        p.reserve(1, [lambda: p.ext_blocks(64, 1)])
        p.recover(0, 1, keep=True).attach(0, keep=True).release_all(0)
        seeds[f"two_words_crash_{kind}_k{k}"] = p.bytes()
    return seeds


# ---- fuzz_multihead_threads -------------------------------------------------

TOP = dict(reserve=0, commit=1, release=2, release_all=3, share_add=4, share_release=5,
           access=6, reserve2=7, claim=8)


class TH:
    """A fuzz_multihead_threads program (geometry with at most 4 heads)."""

    def __init__(self, geo, lockstep=True):
        assert geo.heads <= 4
        self.g, self.e = geo, Enc()
        geo.encode(self.e)
        self.e.rng(0, 1, 1 if lockstep else 0)

    def op(self, t, kind, *args):
        e, nb = self.e, self.g.nblocks
        e.rng(0, self.g.heads - 1, t).rng(0, 8, TOP[kind])
        if kind in ("reserve", "reserve2"):
            a, b, c, d = (tuple(args) + (1, 0, 1)[len(args) - 1:])[:4]
            e.rng(0, nb - 1, a).rng(1, 3, b).rng(0, nb - 1, c).rng(1, 2, d)
        elif kind == "claim":  # a, b: first extent; c, d: second (d = 0: none)
            a, b, c, d = (tuple(args) + (1, 0, 0)[len(args) - 1:])[:4]
            e.rng(0, nb - 1, a).rng(1, 3, b).rng(0, nb - 1, c).rng(0, 2, d)
        elif kind == "commit":
            e.rng(0, 3, args[0])
        elif kind == "release":
            e.rng(0, 15, args[0]).rng(0, nb - 1, args[1] if len(args) > 1 else 0)
        elif kind in ("share_add", "share_release"):
            r, first, n, tag = args
            e.rng(0, len(self.g.regions) - 1, r).rng(0, self.g.regions[r][0] - 1, first)
            e.rng(1, 2, n).rng(0, 1, tag)
        elif kind == "access":
            e.rng(0, nb - 1, args[0]).rng(0, 2, args[1])
        return self

    def bytes(self):
        return bytes(self.e.b)


def threads_seeds():
    seeds = {}
    g = Geo(heads=3)  # 8 exclusive blocks, then 4 sharable ones
    # Every thread competes for the same blocks, then settles.
    p = TH(g)
    for t in range(3):
        p.op(t, "reserve", 0, 2, 0, 1)
    for t in range(3):
        p.op(t, "commit", t % 4).op(t, "access", 0, 0).op(t, "release", 0)
    for t in range(3):
        p.op(t, "reserve2", 2 + t, 1, 6, 2).op(t, "commit", 2).op(t, "access", 2 + t, 1)
    for t in range(3):
        p.op(t, "release_all")
    seeds["contend"] = p.bytes()
    # Shared extents created and joined concurrently, tags differing.
    p = TH(g)
    for t in range(3):
        p.op(t, "share_add", 1, 0, 2, t % 2).op(t, "access", 8, 2)
    for t in range(3):
        p.op(t, "share_release", 1, 0, 2, 0).op(t, "share_add", 1, 1, 2, 0)
    for t in range(3):
        p.op(t, "release_all")
    seeds["shared"] = p.bytes()
    # Long mixed program on four heads, one region (free-running threads).
    g4 = Geo(heads=4, static=0, regions=((16, True, 0),))
    p = TH(g4, lockstep=False)
    kinds = ["reserve", "commit", "access", "release", "reserve2", "commit", "share_add",
             "share_release", "release_all"]
    for i in range(120):
        t = (i * 7) % 4
        k = kinds[(i * 5 + t) % len(kinds)]
        if k in ("reserve", "reserve2"):
            p.op(t, k, (i * 3) % 16, 1 + i % 3, (i * 5) % 16, 1 + i % 2)
        elif k == "commit":
            p.op(t, k, i % 4)
        elif k == "release":
            p.op(t, k, i % 16, (i * 11) % 16)
        elif k in ("share_add", "share_release"):
            p.op(t, k, 0, (i * 13) % 16, 1 + i % 2, i % 2)
        elif k == "access":
            p.op(t, k, (i * 9) % 16, i % 3)
        else:
            p.op(t, k)
    seeds["mixed_long"] = p.bytes()
    # Two heads, 1 GiB blocks, three regions.
    gb = Geo(heads=2, bs_idx=3, static=2, regions=((2, False, 0), (3, True, 1), (4, False, 0)))
    p = TH(gb)
    for t in (0, 1):
        p.op(t, "reserve2", 0, 2, 5, 2).op(t, "commit", 0).op(t, "share_add", 1, 1, 2, 0)
        p.op(t, "access", 5, 2).op(t, "release", 0).op(t, "release_all")
    seeds["big_blocks"] = p.bytes()
    # Two occupancy words: requests across block 64 from every thread.
    gw = Geo(heads=4, static=0, regions=((40, False, 0), (40, False, 0)))
    p = TH(gw)
    for t in range(4):
        p.op(t, "reserve2", 62 - t, 3, 40 + t, 2)
    for t in range(4):
        p.op(t, "commit", 0).op(t, "access", 63, 2).op(t, "release", 0).op(t, "release_all")
    seeds["two_words"] = p.bytes()
    # mhsld_claim: every thread claims the same blocks at once (one wins, all
    # or nothing), against reservations and shared extents, across block 64.
    p = TH(g)
    for t in range(3):
        p.op(t, "claim", 0, 2, 3, 1)
    for t in range(3):
        p.op(t, "access", 0, 0).op(t, "release", 0).op(t, "claim", 2 + t, 1, 6, 2)
    for t in range(3):
        p.op(t, "reserve", 5, 2).op(t, "claim", 6, 1).op(t, "share_add", 1, 0, 2, 0)
        p.op(t, "claim", 8, 2, 0, 0).op(t, "access", 6, 1)
    for t in range(3):
        p.op(t, "release_all")
    seeds["claim_contend"] = p.bytes()
    p = TH(gw)
    for t in range(4):
        p.op(t, "claim", 62 - t, 3, 40 + t, 2)
    for t in range(4):
        p.op(t, "access", 63, 2).op(t, "release", 0).op(t, "claim", 60 + t, 3).op(t, "release_all")
    seeds["claim_two_words"] = p.bytes()
    return seeds


# ---- fuzz_mailbox ---------------------------------------------------------

MB = 2 << 20  # the mailbox target's block size; region 0 at 4..11 blocks, region 1 at 16..19
MB_OPS = [0x5500, 0x5501, 0x4800, 0x4801, 0x4802, 0x4803, 0x5600, 0x5601, 0x5602, 0x5603,
          0x5604, 0x5605, 0x5606, 0x5607, 0x5608]


def mb_cmd(opcode, payload, raw=False):
    e = Enc()
    if raw or opcode not in MB_OPS:
        e.u8(0xFF).raw(struct.pack("<H", opcode))
    else:
        e.u8(MB_OPS.index(opcode))
    e.raw(struct.pack("<H", len(payload))).raw(payload)
    return bytes(e.b)


def mb_update(exts, flags=0):
    b = struct.pack("<IB3x", len(exts), flags)
    for dpa, ln in exts:
        b += struct.pack("<QQ8x", dpa, ln)
    return b


def mb_dc_extent(dpa, ln, tag=b"", seq=0):
    return struct.pack("<QQ16sH6x", dpa, ln, tag.ljust(16, b"\0"), seq)


def mb_add(host, policy, region, length, tag=b"", exts=()):
    b = struct.pack("<HBBQ16sI", host, policy, region, length, tag.ljust(16, b"\0"), len(exts))
    return b + b"".join(mb_dc_extent(*x) for x in exts)


def mb_release(host, flags, length, tag=b"", exts=()):
    b = struct.pack("<HBxQ16sI", host, flags, length, tag.ljust(16, b"\0"), len(exts))
    return b + b"".join(mb_dc_extent(*x) for x in exts)


def mailbox_seeds():
    seeds = {}
    SELF, HEAD1, OWNED, PENDING, SHARED, SMALL = 1, 2, 4, 8, 16, 32
    full = SELF | HEAD1 | OWNED | PENDING | SHARED
    q = {
        "mhd_info": [mb_cmd(0x5500, bytes([0, 8])), mb_cmd(0x5500, bytes([2, 1])),
                     mb_cmd(0x5500, bytes([3, 0])), mb_cmd(0x5500, bytes([0]))],
        "head_info": [mb_cmd(0x5501, bytes([0, 2])), mb_cmd(0x5501, bytes([1, 1])),
                      mb_cmd(0x5501, bytes([0, 3]))],
        "dc_config": [mb_cmd(0x4800, bytes([8, 0])), mb_cmd(0x4800, bytes([1, 1])),
                      mb_cmd(0x4800, bytes([0, 0])), mb_cmd(0x4800, bytes([1, 8]))],
        "extent_list": [mb_cmd(0x4801, struct.pack("<II", 16, 0)),
                        mb_cmd(0x4801, struct.pack("<II", 1, 1)),
                        mb_cmd(0x4801, struct.pack("<II", 0, 9))],
        "dcd_info": [mb_cmd(0x5600, b""), mb_cmd(0x5600, b"\0")],
        "host_region_cfg": [mb_cmd(0x5601, struct.pack("<HBB", 0, 8, 0)),
                            mb_cmd(0x5601, struct.pack("<HBB", 1, 1, 1)),
                            mb_cmd(0x5601, struct.pack("<HBB", 7, 1, 0))],
        "set_region_cfg": [mb_cmd(0x5602, struct.pack("<B3xQB3x", 0, MB, 0)),
                           mb_cmd(0x5602, struct.pack("<B3xQB3x", 1, MB, 1)),
                           mb_cmd(0x5602, struct.pack("<B3xQB3x", 9, 3, 0x80))],
        "region_extents": [mb_cmd(0x5603, struct.pack("<HHII", 0, 0, 16, 0)),
                           mb_cmd(0x5603, struct.pack("<HHII", 1, 0, 1, 0)),
                           mb_cmd(0x5603, struct.pack("<HHII", 0, 1, 1, 0))],
        "unknown": [mb_cmd(0x0001, b""), mb_cmd(0x4804, b"\0\0"), mb_cmd(0x5609, b"")],
        "list_tags": [mb_cmd(0x5608, struct.pack("<II", 0, 8)),
                      mb_cmd(0x5608, struct.pack("<II", 1, 1)),
                      mb_cmd(0x5608, struct.pack("<II", 2, 1)),
                      mb_cmd(0x5608, struct.pack("<I", 0))],
    }
    for name, cmds in q.items():
        seeds["q_" + name] = bytes([full]) + b"".join(cmds)
        seeds["q_" + name + "_small_out"] = bytes([full | SMALL]) + b"".join(cmds)
    # The host's side: accept (all, some, none, wrong), release (owned, not owned).
    seeds["add_response_all"] = bytes([SELF | PENDING]) + mb_cmd(
        0x4802, mb_update([(6 * MB, 2 * MB), (9 * MB, MB)])) + mb_cmd(0x4801, struct.pack("<II", 8, 0))
    seeds["add_response_some"] = bytes([SELF | PENDING]) + mb_cmd(0x4802, mb_update([(7 * MB, MB)]))
    seeds["add_response_none"] = bytes([SELF | PENDING]) + mb_cmd(0x4802, mb_update([]))
    seeds["add_response_bad"] = bytes([SELF | PENDING]) + b"".join([
        mb_cmd(0x4802, mb_update([(4 * MB, MB)])),
        mb_cmd(0x4802, mb_update([(6 * MB + 4096, MB)])),
        mb_cmd(0x4802, mb_update([(6 * MB, MB)], flags=0x80)),
        mb_cmd(0x4802, mb_update([(6 * MB, MB), (6 * MB, MB)])),
        mb_cmd(0x4802, mb_update([(6 * MB, MB)])[:-1]),
        mb_cmd(0x4802, struct.pack("<IB3x", 200, 0))])
    seeds["release"] = bytes([SELF | OWNED | SHARED]) + b"".join([
        mb_cmd(0x4803, mb_update([(4 * MB, MB)])),
        mb_cmd(0x4803, mb_update([(5 * MB, MB), (16 * MB, MB)])),
        mb_cmd(0x4803, mb_update([(16 * MB, 2 * MB)])),
        mb_cmd(0x4803, mb_update([])),
        mb_cmd(0x4801, struct.pack("<II", 8, 0))])
    seeds["no_self"] = bytes([HEAD1]) + mb_cmd(0x4802, mb_update([])) + mb_cmd(
        0x4801, struct.pack("<II", 8, 0)) + mb_cmd(0x4800, bytes([8, 0]))
    # A response split over several 4802h commands (More), with and without
    # the caller's accumulator; a part for a reservation that is no longer
    # the oldest; output buffers of 8 and 0 bytes.
    ACCUM, CAP8, CAP0 = 64, 128, 160
    seeds["add_response_split"] = bytes([SELF | PENDING | ACCUM]) + b"".join([
        mb_cmd(0x4802, mb_update([(6 * MB, MB)], flags=1)),
        mb_cmd(0x4802, mb_update([(9 * MB, MB)], flags=1)),
        mb_cmd(0x4802, mb_update([(7 * MB, MB)])),
        mb_cmd(0x4801, struct.pack("<II", 8, 0))])
    seeds["add_response_split_no_accum"] = bytes([SELF | PENDING]) + mb_cmd(
        0x4802, mb_update([(6 * MB, MB)], flags=1))
    seeds["add_response_split_bad"] = bytes([SELF | PENDING | ACCUM]) + b"".join([
        mb_cmd(0x4802, mb_update([(6 * MB, MB)], flags=1)),
        mb_cmd(0x4802, mb_update([(6 * MB, MB)], flags=1)),
        mb_cmd(0x4802, mb_update([(4 * MB, MB)])),
        mb_cmd(0x4802, mb_update([]))])
    for cap, name in ((CAP8, "8"), (CAP0, "0")):
        seeds["tiny_out_" + name] = bytes([full | cap]) + b"".join(
            q["mhd_info"][:1] + q["head_info"][:1] + q["dc_config"][:1] + q["extent_list"][:1] +
            q["dcd_info"][:1] + q["host_region_cfg"][:1] + q["region_extents"][:1])
    # The fabric manager's side.
    tag = b"\xab\xcd" * 8
    seeds["fm_add_free"] = bytes([full]) + mb_add(1, 0, 0, 4 * MB) + b""
    seeds["fm_add_free"] = bytes([full]) + mb_cmd(0x5604, mb_add(1, 0, 0, 4 * MB)) + mb_cmd(
        0x5603, struct.pack("<HHII", 1, 0, 16, 0))
    seeds["fm_add_contig"] = bytes([full]) + mb_cmd(0x5604, mb_add(1, 1, 0, 2 * MB))
    seeds["fm_add_prescriptive"] = bytes([full]) + b"".join([
        mb_cmd(0x5604, mb_add(1, 2, 0, 2 * MB, exts=[(10 * MB, 2 * MB)])),
        mb_cmd(0x5604, mb_add(1, 2, 0, 2 * MB, exts=[(4 * MB, MB)])),
        mb_cmd(0x5604, mb_add(0, 2, 0, 2 * MB, exts=[(11 * MB, MB), (8 * MB, MB)])),
        mb_cmd(0x4802, mb_update([(8 * MB, MB)]))])
    seeds["fm_add_shared"] = bytes([full]) + b"".join([
        mb_cmd(0x5604, mb_add(1, 3, 1, 2 * MB, tag=tag, exts=[(18 * MB, 2 * MB, tag)])),
        mb_cmd(0x5604, mb_add(0, 3, 1, 2 * MB, tag=tag, exts=[(18 * MB, 2 * MB, tag)])),
        mb_cmd(0x5603, struct.pack("<HHII", 0, 0, 16, 0))])
    seeds["fm_add_bad"] = bytes([full]) + b"".join([
        mb_cmd(0x5604, mb_add(5, 0, 0, 2 * MB)),
        mb_cmd(0x5604, mb_add(1, 9, 0, 2 * MB)),
        mb_cmd(0x5604, mb_add(1, 0, 7, 2 * MB)),
        mb_cmd(0x5604, mb_add(1, 2, 0, 2 * MB, exts=[(10 * MB, 2 * MB)])[:-3]),
        mb_cmd(0x5604, mb_add(1, 0, 0, 0))])
    seeds["fm_release"] = bytes([full]) + b"".join([
        mb_cmd(0x5605, mb_release(0, 1, 2 * MB, exts=[(4 * MB, 2 * MB)])),
        mb_cmd(0x5605, mb_release(0, 1 | 0x10, MB, exts=[(5 * MB, MB)])),
        mb_cmd(0x5605, mb_release(0, 0, 2 * MB, tag=b"\x11\x22\x33")),
        mb_cmd(0x5605, mb_release(0, 0x10 | 0x20, 2 * MB, tag=b"\x11\x22\x33")),
        mb_cmd(0x5605, mb_release(1, 0xC0, MB)),
        mb_cmd(0x5605, mb_release(3, 1, MB, exts=[(4 * MB, MB)]))])
    # FM references on a tag (5606h/5607h): add, add again, list, the last
    # sharer leaves (the blocks stay), remove (they are freed); an unknown
    # tag, a remove with no reference, bad lengths; the raw opcode path too.
    shtag = b"\x11\x22\x33"
    seeds["fm_tag_ref"] = bytes([full]) + b"".join([
        mb_cmd(0x5606, shtag.ljust(16, b"\0")),
        mb_cmd(0x5606, shtag.ljust(16, b"\0")),
        mb_cmd(0x5608, struct.pack("<II", 0, 8)),
        mb_cmd(0x4803, mb_update([(16 * MB, 2 * MB)])),
        mb_cmd(0x5608, struct.pack("<II", 0, 8)),
        mb_cmd(0x5607, shtag.ljust(16, b"\0")),
        mb_cmd(0x5607, shtag.ljust(16, b"\0")),
        mb_cmd(0x5608, struct.pack("<II", 0, 8))])
    seeds["fm_tag_ref_shared_add"] = bytes([full]) + b"".join([
        mb_cmd(0x5604, mb_add(1, 3, 1, 2 * MB, tag=tag, exts=[(18 * MB, 2 * MB, tag, 3)])),
        mb_cmd(0x5604, mb_add(0, 3, 1, 2 * MB, tag=tag, exts=[(18 * MB, 2 * MB, tag, 4)])),
        mb_cmd(0x5606, tag),
        mb_cmd(0x5605, mb_release(1, 0x10, 2 * MB, tag=tag)),
        mb_cmd(0x5608, struct.pack("<II", 0, 8)),
        mb_cmd(0x5603, struct.pack("<HHII", 1, 0, 16, 0)),
        mb_cmd(0x5607, tag)])
    seeds["fm_tag_ref_bad"] = bytes([full]) + b"".join([
        mb_cmd(0x5606, b"\x99" * 16),
        mb_cmd(0x5607, shtag.ljust(16, b"\0")),
        mb_cmd(0x5606, b"\0" * 15),
        mb_cmd(0x5607, b"\0" * 17),
        mb_cmd(0x5608, struct.pack("<II", 9, 1)),
        mb_cmd(0x5606, shtag.ljust(16, b"\0"), raw=True),
        mb_cmd(0x5607, shtag.ljust(16, b"\0"), raw=True)])
    seeds["fm_tag_ref_no_self"] = bytes([HEAD1 | SHARED]) + b"".join([
        mb_cmd(0x5606, shtag.ljust(16, b"\0")),
        mb_cmd(0x5608, struct.pack("<II", 0, 8)),
        mb_cmd(0x5607, shtag.ljust(16, b"\0"))])
    device_seeds(seeds)
    return seeds


def device_seeds(seeds):
    """The request shapes cxl-mhsld passes to the dispatcher (4800h-4803h,
    5500h, 5501h from the guest's mailbox: the head's own mailbox, the
    device's accumulator, a 2 KiB response buffer, payloads of at most
    2048 bytes) as qemu-device/tests/attack.py sends them."""
    SELF, OWNED, PENDING, SHARED, ACCUM = 1, 4, 8, 16, 64
    dev = SELF | OWNED | PENDING | SHARED | ACCUM
    top = 20 * MB
    bad_exts = {
        "wrap": [(6 * MB, 2**64 - MB)],
        "wrap_zero": [(6 * MB, 2**64 - 6 * MB)],
        "top_dpa": [(2**64 - MB, MB)],
        "unaligned_dpa": [(6 * MB + 4096, MB)],
        "unaligned_len": [(6 * MB, MB + 4096)],
        "zero_len": [(6 * MB, 0)],
        "out_of_region": [(top, MB)],
        "crossing_end": [(11 * MB, 2 * MB)],
        "below": [(3 * MB, MB)],
        "overlap": [(6 * MB, 2 * MB), (7 * MB, MB)],
        "duplicate": [(6 * MB, MB), (6 * MB, MB)],
        "never_offered": [(10 * MB, MB)],
        "shared": [(16 * MB, 2 * MB)],
    }
    def chunks(name, cmds):  # fuzz_mailbox runs at most 8 commands per input
        for i in range(0, len(cmds), 8):
            seeds["%s_%d" % (name, i // 8)] = bytes([dev]) + b"".join(cmds[i:i + 8])

    for op, name in ((0x4802, "add_response"), (0x4803, "release")):
        chunks("dev_%s_extents" % name, [mb_cmd(op, mb_update(x)) for x in bad_exts.values()])
        good = mb_update([(6 * MB, MB)])
        chunks("dev_%s_lengths" % name, [
            mb_cmd(op, b""), mb_cmd(op, good[:4]), mb_cmd(op, good[:7]), mb_cmd(op, good[:8]),
            mb_cmd(op, good[:-1]), mb_cmd(op, struct.pack("<I", 2) + good[4:]),
            mb_cmd(op, struct.pack("<I", 0xFFFFFFFF) + good[4:]),
            mb_cmd(op, struct.pack("<I", 86) + mb_update([(6 * MB, MB)] * 85)[4:]),
            mb_cmd(op, mb_update([(6 * MB + i * 4096, MB) for i in range(85)])),
            mb_cmd(op, mb_update([(6 * MB, MB)], flags=0xFE)),
            mb_cmd(op, good[:5] + b"\xff\xff\xff" + good[8:]),
            mb_cmd(op, good[:-8] + b"\xff" * 8),
            mb_cmd(op, good + b"\0" * 24)])
    seeds["dev_add_response_more"] = bytes([dev]) + b"".join([
        mb_cmd(0x4802, mb_update([(6 * MB, MB)], flags=1)),
        mb_cmd(0x4802, mb_update([(10 * MB, MB)])),
        mb_cmd(0x4802, mb_update([(6 * MB, MB)], flags=1)),
        mb_cmd(0x4802, mb_update([(7 * MB, MB), (9 * MB, MB)])),
        mb_cmd(0x4802, mb_update([(7 * MB, MB)])),
        mb_cmd(0x4801, struct.pack("<II", 50, 0))])
    seeds["dev_twice"] = bytes([dev]) + b"".join([
        mb_cmd(0x4802, mb_update([(6 * MB, 2 * MB)])),
        mb_cmd(0x4802, mb_update([(6 * MB, 2 * MB)])),
        mb_cmd(0x4802, mb_update([])),
        mb_cmd(0x4803, mb_update([(4 * MB, 2 * MB)])),
        mb_cmd(0x4803, mb_update([(4 * MB, 2 * MB)])),
        mb_cmd(0x4803, mb_update([(6 * MB, MB)]))])
    chunks("dev_queries", [
        mb_cmd(0x4800, bytes([1, 0])), mb_cmd(0x4800, bytes([1, 1])),
        mb_cmd(0x4800, bytes([0xFF, 0])), mb_cmd(0x4800, b""), mb_cmd(0x4800, b"\0" * 3),
        mb_cmd(0x4801, struct.pack("<II", 50, 0)), mb_cmd(0x4801, struct.pack("<II", 8, 3)),
        mb_cmd(0x4801, struct.pack("<II", 0xFFFFFFFF, 0)),
        mb_cmd(0x4801, struct.pack("<II", 8, 0xFFFFFFFF)),
        mb_cmd(0x5500, bytes([2, 1])), mb_cmd(0x5501, bytes([1, 2]))])


# ---- fuzz_state -------------------------------------------------------------

def state_recipe(geo, ops, patches=()):
    """ops: (head, region, block, what, crash_k or 0)."""
    e = Enc().u8(1)
    geo_heads = min(geo.heads, 4)
    g = Geo(geo_heads, geo.bs_idx, geo.static, geo.regions, geo.extra)
    g.encode(e)
    e.rng(0, 6, len(ops))
    for head, region, block, what, crash in ops:
        e.rng(0, g.heads - 1, head)
        e.rng(0, len(g.regions) - 1, region)
        e.rng(0, g.regions[region][0] - 1, block)
        e.rng(0, 4, what)
        e.rng(0, 1, 1 if crash else 0)
        if crash:
            e.rng(1, 12, crash)
    for off, data in patches:
        e.u32(off).rng(1, 8, len(data)).raw(data)
    return bytes(e.b)


def state_seeds():
    seeds = {}
    g = Geo()
    seeds["empty_file"] = b"\x00"
    seeds["short_garbage"] = b"\x00" + b"HLSDST1\x00" + b"\x01" * 40
    seeds["recipe_fresh"] = state_recipe(g, [])
    seeds["recipe_owned"] = state_recipe(g, [(0, 0, 1, 1, 0), (1, 1, 0, 2, 0), (1, 0, 3, 0, 0)])
    for what in range(5):
        for k in (1, 2, 4):
            seeds[f"recipe_crash_{what}_k{k}"] = state_recipe(
                Geo(heads=3), [(0, 0, 0, 1, 0), (1, 1, 1, 2, 0), (0, 0, 0 if what == 3 else 2, what, k)])
    # Patches over the header, the geometry, a head record and the block table.
    base = [(0, 0, 1, 1, 0), (1, 1, 0, 2, 0)]
    for name, patches in {
        "patch_magic": [(0, b"X")],
        "patch_version": [(8, b"\x02")],
        "patch_bom": [(12, b"\x04\x03\x02\x01")],
        "patch_size": [(16, b"\xff\xff")],
        "patch_init": [(28, b"\x01")],
        "patch_nr_heads": [(56, b"\x21")],
        "patch_nr_blocks": [(72, b"\xff\xff\xff\x7f")],
        "patch_region": [(80, b"\x00\x00\x00\x00\x00\x10")],
        "patch_head_journal": [(4096 + 96, b"\x03\x00\x00\x00\xff\xff")],
        "patch_tail": [(0xFFFFFFF0, b"\xff" * 8)],
    }.items():
        seeds[name] = state_recipe(g, base, patches)
    return seeds


# ---- fuzz_cotenant --------------------------------------------------------

CT_OP = dict(attach=0, detach=1, reserve=2, commit=3, release=4, share_add=5, share_release=6,
             release_all=7, recover=8, validate=9, access=10, query=11, mailbox=12, scribble=13)
CT_FIELD = {n: i for i, n in enumerate(
    "j.op j.n j.nacc j.slot j.gslot j.seq j.group j.undo j.r.start j.r.count j.acc.start "
    "j.acc.count j.tag group.n group.r.start group.r.count gseq jprog head.seq head.epoch "
    "head.list_gen slot.word slot.start slot.count occ.lo occ.hi block owned header raw start ev"
    .split())}
# value selectors (value_of in fuzz_cotenant.c)
CT_VAL = dict(zero=0, ones=1, int_max=2, int_min=3, limit=4, limit_plus=5, limit_minus=6,
              blocks_plus=7, cur_plus=8, cur_minus=9, flip=10, composite=11, raw=12)
CT_MBOX = [0x4800, 0x4801, 0x4802, 0x4803, 0x5500, 0x5501, 0x5600, 0x5601, 0x5603, 0x5604,
           0x5605]


class CT:
    """A fuzz_cotenant program: a write is (field, head, idx, value[, operand]); an event
    is ('step'|'touch', delta, write) or ('kill', delta)."""

    def __init__(self, heads=2):
        self.heads, self.e = heads, Enc()
        self.e.rng(2, 4, heads)

    def _op(self, kind, head):
        self.e.rng(0, 13, CT_OP[kind]).rng(0, self.heads - 1, head)

    def _write(self, w):
        field, head, idx, val = w[:4]
        arg = w[4] if len(w) > 4 else 0
        f = CT_FIELD[field]
        self.e.rng(0, len(CT_FIELD) - 1, f).rng(0, 3, head).u8(idx & 0xFF)
        if field in ("group.r.start", "group.r.count", "raw"):
            self.e.u8(idx >> 8)
        v = CT_VAL[val]
        self.e.rng(0, 12, v)
        if v >= 11:
            self.e.u64(arg)
        elif v in (7, 10):
            self.e.u8(arg)

    def _sched(self, events):
        self.e.rng(0, 6, len(events))
        for ev in events:
            self.e.rng(1, 256, ev[1])
            if ev[0] == "kill":
                self.e.rng(0, 7, 0)
            else:
                self.e.rng(0, 7, 1 if ev[0] == "touch" else 3)
                self._write(ev[2])
        return self

    def _ext(self, region, start, nblocks, sharable=False):
        if not sharable:
            self.e.rng(0, 1, region)
        nb = 40 if (sharable or region) else 72
        self.e.rng(0, nb - 1, start).rng(1, 16, nblocks)

    def attach(self, head, keep=False, ev=()):
        self._op("attach", head)
        self.e.rng(0, 1, 1 if keep else 0)
        return self._sched(ev)

    def detach(self, head):
        self._op("detach", head)
        return self

    def recover(self, head, flags=0, ev=()):
        self._op("recover", head)
        self.e.rng(0, 3, flags)
        return self._sched(ev)

    def validate(self, ev=()):
        self._op("validate", 0)
        return self._sched(ev)

    def access(self, head, region, start, nblocks, off=0, ev=()):
        self._op("access", head)
        self._ext(region, start, nblocks)
        self.e.u8(off)
        return self._sched(ev)

    def query(self, head, sel=0, ev=()):
        self._op("query", head)
        self.e.u8(sel)
        return self._sched(ev)

    def scribble(self, w):
        self._op("scribble", 0)
        self._write(w)
        return self

    def reserve(self, head, exts, ev=()):
        """exts: (region, start, nblocks) tuples, 1..4."""
        self._op("reserve", head)
        self.e.rng(1, 4, len(exts))
        for x in exts:
            self._ext(*x)
        return self._sched(ev)

    def commit(self, head, which=0, mask=0xFF, ev=()):
        """which: index into the head's remembered groups (>= 0xf0: the oldest pending)."""
        self._op("commit", head)
        self.e.u8(which).u8(mask)
        return self._sched(ev)

    def release(self, head, exts=None, owned=0, ev=()):
        """exts: explicit extents, or None: the head's owned extent number `owned`
        (the head must own one)."""
        self._op("release", head)
        if exts is None:
            self.e.rng(0, 1, 1).u8(owned)
        else:
            self.e.rng(0, 1, 0).rng(1, 3, len(exts))
            for x in exts:
                self._ext(*x)
        return self._sched(ev)

    def share_add(self, head, start, nblocks, tag=0, ev=()):
        self._op("share_add", head)
        self._ext(1, start, nblocks, sharable=True)
        self.e.rng(0, 1, tag)
        return self._sched(ev)

    def share_release(self, head, k=0, ev=()):
        """The head's shared extent number k (it must share one)."""
        self._op("share_release", head)
        self.e.u8(k)
        return self._sched(ev)

    def release_all(self, head, ev=()):
        self._op("release_all", head)
        return self._sched(ev)

    def mailbox(self, head, opcode, payload=b"", ev=()):
        self._op("mailbox", head)
        self.e.rng(0, len(CT_MBOX) - 1, CT_MBOX.index(opcode)).rng(0, 96, len(payload))
        self.e.raw(payload)
        return self._sched(ev)

    def bytes(self):
        return bytes(self.e.b)


def cotenant_seeds():
    s = {}
    # Every operation once, no co-tenant: the baseline program.
    p = CT(3)
    p.reserve(0, [(0, 0, 4), (0, 60, 8)]).commit(0, 0, 0b01).reserve(1, [(0, 10, 2)])
    p.commit(1, 0, 0b1).share_add(0, 0, 4).share_add(1, 0, 4).share_add(0, 8, 2, tag=1)
    p.access(0, 0, 0, 1).access(1, 1, 0, 4).query(0).query(1, 5).release(0, None, 0)
    p.release(1, [(0, 10, 2)]).share_release(1).share_release(0).attach(2).reserve(2, [(1, 20, 4)])
    p.mailbox(0, 0x5500, b"\x00\x04").mailbox(0, 0x4801, bytes(8)).release_all(0).release_all(2)
    p.detach(2).recover(2, 0).validate()
    s["baseline"] = p.bytes()
    # A head killed in each operation, recovered by attach (DROP, KEEP) and by another head.
    for k, (name, setup) in enumerate([
            ("reserve", lambda p: p.reserve(0, [(0, 0, 16), (0, 60, 10)], ev=[("kill", 3)])),
            ("commit", lambda p: p.reserve(0, [(0, 0, 16), (0, 60, 10)]).commit(
                0, 0, 0b10, ev=[("kill", 4)])),
            ("release", lambda p: p.reserve(0, [(0, 0, 16), (0, 60, 10)]).commit(0, 0, 0b11)
             .release(0, None, 0, ev=[("kill", 3)])),
            ("share_new", lambda p: p.share_add(0, 0, 16, ev=[("kill", 3)])),
            ("share_leave", lambda p: p.share_add(0, 0, 16).share_release(0, ev=[("kill", 3)])),
            ("release_all", lambda p: p.reserve(0, [(0, 0, 16)]).commit(0, 0, 1).share_add(0, 0, 4)
             .release_all(0, ev=[("kill", 6)]))]):
        for how in ("attach_drop", "attach_keep", "recover"):
            p = CT(2)
            setup(p)
            if how == "recover":
                p.recover(0, 0)
            else:
                p.attach(0, keep=(how == "attach_keep"))
            p.validate()
            s[f"kill_{name}_{how}"] = p.bytes()
    # Writes during each operation to the fields it uses (steps), and to the
    # pages it reads (touches).
    jf = [("j.n", "limit_plus"), ("j.nacc", "limit_plus"), ("j.slot", "limit"), ("j.gslot", "limit"),
          ("j.r.count", "blocks_plus", 3), ("j.acc.start", "limit_minus"), ("jprog", "cur_plus"),
          ("j.undo", "limit_plus"), ("j.seq", "zero"), ("j.op", "limit")]
    for i, w in enumerate(jf):
        field, val = w[0], w[1]
        arg = w[2] if len(w) > 2 else 0
        p = CT(2)
        p.reserve(0, [(0, 0, 4), (0, 60, 8)], ev=[("step", 2 + i % 3, (field, 0, 0, val, arg))])
        p.commit(0, 0, 0b01, ev=[("step", 1 + i % 4, (field, 0, 0, val, arg))])
        p.share_add(0, 0, 4, ev=[("step", 2, (field, 0, 0, val, arg))])
        p.share_release(0, 0, ev=[("step", 2, (field, 0, 0, val, arg))])
        p.validate()
        s[f"steps_{field}_{val}"] = p.bytes()
    for i, w in enumerate([("group.n", 0, 0, "limit_plus"), ("group.r.count", 0, 0, "ones"),
                           ("gseq", 0, 0, "zero"), ("slot.word", 0, 0, "composite", 0x2f),
                           ("block", 0, 3, "composite", 0x1c3), ("owned", 0, 0, "ones"),
                           ("occ.lo", 0, 0, "flip", 2), ("occ.hi", 0, 0, "composite", 0x10201),
                           ("header", 0, 2, "ones"), ("raw", 0, 700, "raw", 0xdeadbeef)]):
        p = CT(2)
        p.reserve(0, [(0, 0, 4), (0, 60, 8)]).share_add(1, 0, 4)
        p.validate(ev=[("touch", 3 + i, w)])
        p.commit(0, 0, 0b10, ev=[("touch", 2 + i, w)])
        p.query(0, 1, ev=[("touch", 1 + i, w)])
        p.access(1, 1, 0, 2, ev=[("touch", 1, w)])
        p.scribble(w).validate()
        s[f"touch_{w[0]}_{w[3]}"] = p.bytes()
    # Evidence (layout 6): head 0 dies after the CAS of its reservation's
    # first word, head 1 overwrites that word's tag (recording it in its
    # ev[0]), and a co-tenant writes head 1's ev[0] while the recovery of
    # head 0 reads it.
    for i, w in enumerate([("ev", 1, 0, "zero"), ("ev", 1, 0, "ones"),
                           ("ev", 1, 0, "composite", 0x0200), ("ev", 1, 0, "flip", 3)]):
        p = CT(2)
        p.reserve(0, [(0, 0, 4), (0, 60, 8)], ev=[("kill", 4)])
        p.reserve(1, [(0, 10, 2)])
        p.recover(0, 0, ev=[("touch", 1 + i % 2, w)])
        p.validate()
        s[f"evidence_{w[3]}"] = p.bytes()
    return s


def cotenant_regress():
    """Hand-built reproducers of the re-read defects (control data read again after
    validation) for fuzz_cotenant (written as regress-<name>): each
    writes one control field of the shared state between the engine's check (or its own write)
    of it and its use; the engine at 718f804 fails every one."""
    r = {}

    def prog(build):
        p = CT(2)
        build(p)
        return p.bytes()

    # commit_run indexes gseq[] with j.gslot read back from the journal.
    r["commit-gslot"] = prog(lambda p: p.reserve(0, [(0, 0, 4), (0, 60, 8)]).commit(
        0, 0, 0b01, ev=[("step", 2, ("j.gslot", 0, 0, "ones"))]))
    # Recovery checks gslot on a copy, commit_run reads the journal again.
    r["recover-commit-gslot"] = prog(lambda p: p.reserve(0, [(0, 0, 16), (0, 60, 10)]).commit(
        0, 0, 0b01, ev=[("kill", 4)]).recover(0, 1, ev=[("step", 1, ("j.gslot", 0, 0, "ones"))]))
    # commit_run loops over j.acc[0..j.nacc) read back from the journal.
    r["commit-nacc"] = prog(lambda p: p.reserve(0, [(0, 0, 4), (0, 60, 8)]).commit(
        0, 0, 0b11, ev=[("step", 2, ("j.nacc", 0, 0, "ones"))]))
    r["commit-acc"] = prog(lambda p: p.reserve(0, [(0, 0, 4), (0, 60, 8)]).commit(
        0, 0, 0b11, ev=[("step", 2, ("j.acc.start", 0, 0, "int_max"))]))
    # undo_resume: CAS on slots[j.slot] read back (a reserve that meets a claim mid-way).
    r["undo-slot"] = prog(lambda p: p.reserve(0, [(0, 0, 4), (0, 64, 4)], ev=[
        ("step", 1, ("occ.lo", 0, 1, "ones")), ("step", 1, ("j.slot", 0, 0, "raw", 1 << 28))]))
    # share_retire_run: slots[j.slot].word = 0 with j.slot read back.
    r["retire-slot"] = prog(lambda p: p.share_add(0, 0, 4).share_release(
        0, 0, ev=[("step", 2, ("j.slot", 0, 0, "int_max"))]))
    # Recovery of a shared extent's last leave: j.n read back, count_steps runs for ever.
    r["recover-retire-n"] = prog(lambda p: p.share_add(0, 0, 4).recover(
        0, 2, ev=[("step", 2, ("j.n", 0, 0, "ones"))]))
    # mhsld__commit_as validates the reservation in place, then copies it again: a count of
    # 2^40 makes count_steps run for hours (touch: no atomic step separates the two reads).
    r["commit-as-recopy"] = prog(lambda p: p.reserve(0, [(0, 0, 4), (0, 10, 2), (0, 60, 8)]).commit(
        0, 0, 0b1, ev=[("touch", 12, ("group.r.count", 0, 0, "raw", 1 << 40))]))
    # mhsld_validate re-reads a reservation's ranges while it fills expect[]: heap overflow.
    r["validate-reread"] = prog(lambda p: p.reserve(0, [(0, 0, 4), (0, 10, 2), (0, 60, 8)]).validate(
        ev=[("touch", 12, ("group.r.count", 0, 0, "blocks_plus", 200))]))
    return r


def write_named(out, target, files, prefix):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    for name, data in sorted(files.items()):
        with open(os.path.join(d, f"{prefix}-{name}"), "wb") as f:
            f.write(data)
    print(f"{target}: {len(files)} {prefix} files in {d}")


def write(out, target, seeds):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    # Replace the generated seeds; minimised finds (regress-*) and state
    # dumps (dump-*) stay.
    for old in os.listdir(d):
        if old.startswith("seed-"):
            os.remove(os.path.join(d, old))
    for name, data in sorted(seeds.items()):
        h = hashlib.sha1(data).hexdigest()[:16]
        path = os.path.join(d, f"seed-{name}-{h}")
        with open(path, "wb") as f:
            f.write(data)
    print(f"{target}: {len(seeds)} seeds in {d}")


def dump_states(out, binary):
    d = os.path.join(out, "fuzz_state")
    with tempfile.TemporaryDirectory() as tmp:
        recipes = {k: v for k, v in state_seeds().items() if k.startswith("recipe_")}
        for name in ("recipe_fresh", "recipe_owned", "recipe_crash_1_k2", "recipe_crash_2_k4"):
            src = os.path.join(tmp, name)
            with open(src, "wb") as f:
                f.write(recipes[name])
            dump = os.path.join(tmp, name + ".state")
            env = dict(os.environ, MHSLD_FUZZ_STATE_DUMP=dump)
            subprocess.run([binary, src], env=env, check=True, stderr=subprocess.DEVNULL)
            with open(dump, "rb") as f:
                data = b"\x00" + f.read()
            with open(os.path.join(d, f"dump-{name[7:]}"), "wb") as f:
                f.write(data)
    print(f"fuzz_state: dumped real states into {d}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "corpus"))
    ap.add_argument("--dump-states", metavar="BIN")
    a = ap.parse_args()
    mh = multihead_seeds()
    multihead_more(mh)
    write(a.out, "fuzz_multihead", mh)
    write(a.out, "fuzz_multihead_threads", threads_seeds())
    write(a.out, "fuzz_state", state_seeds())
    write(a.out, "fuzz_mailbox", mailbox_seeds())
    write(a.out, "fuzz_cotenant", cotenant_seeds())
    write_named(a.out, "fuzz_cotenant", cotenant_regress(), "regress")
    if a.dump_states:
        dump_states(a.out, a.dump_states)
    return 0


if __name__ == "__main__":
    sys.exit(main())
