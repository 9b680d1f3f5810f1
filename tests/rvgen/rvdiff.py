#!/usr/bin/env python3
"""Compare the binary outputs of one rvgen program under two emulators.

    rvdiff.py OUT_A OUT_B --asm prog.S --seed N [--names vessel,qemu]

Exit 0 when byte-identical. Otherwise print the seed, the first differing
case, its instruction listing, and the first differing register (then every
other differing register and scratch byte range), and exit 1.
Record layout (see rvgen.py): x0..x31, f0..f31, fflags, frm as little-endian
dwords, then the 1024-byte scratch buffer.
"""
import argparse
import re
import struct
import sys

SCRATCH = 1024
RECORD = 66 * 8 + SCRATCH
ABI = ["zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2",
       "a3", "a4", "a5", "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9",
       "s10", "s11", "t3", "t4", "t5", "t6"]
NAMES = (["x%d(%s)" % (i, ABI[i]) for i in range(32)] + ["f%d" % i for i in range(32)]
         + ["fflags", "frm"])


def listing(asm, case):
    try:
        text = open(asm).read()
    except OSError as e:
        return "(listing unavailable: %s)" % e
    m = re.search(r"^# body %d\n(.*?)^# end %d$" % (case, case), text, re.S | re.M)
    return m.group(1).rstrip() if m else "(case %d not found in %s)" % (case, asm)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--asm", required=True)
    ap.add_argument("--seed", required=True)
    ap.add_argument("--names", default="vessel,qemu")
    o = ap.parse_args()
    na, nb = o.names.split(",")
    a, b = open(o.a, "rb").read(), open(o.b, "rb").read()
    if a == b:
        return 0
    n = min(len(a), len(b))
    first = next((i for i in range(n) if a[i] != b[i]), n)
    case = first // RECORD
    print("MISMATCH seed %s case %d (program %s)" % (o.seed, case, o.asm))
    if first == n:
        print("  output lengths differ: %s %d bytes (%d records), %s %d bytes (%d records):"
              " one stopped early (crash/signal?) in case %d"
              % (na, len(a), len(a) // RECORD, nb, len(b), len(b) // RECORD, case))
    print("  listing of case %d:" % case)
    for line in listing(o.asm, case).splitlines():
        print("    " + line)
    if first == n:
        return 1
    ra, rb = a[case * RECORD:(case + 1) * RECORD], b[case * RECORD:(case + 1) * RECORD]
    shown = 0
    for i in range(66):
        va, = struct.unpack_from("<Q", ra, 8 * i)
        vb, = struct.unpack_from("<Q", rb, 8 * i)
        if va != vb:
            tag = "first differing register" if shown == 0 else "also differs"
            print("  %s: %-8s %s=0x%016x %s=0x%016x" % (tag, NAMES[i], na, va, nb, vb))
            shown += 1
    sa, sb = ra[66 * 8:], rb[66 * 8:]
    diffs = [i for i in range(SCRATCH) if sa[i] != sb[i]]
    if diffs:
        lo, hi = diffs[0], diffs[-1]
        print("  scratch differs at bytes %d..%d (%d bytes): %s=%s %s=%s"
              % (lo, hi, len(diffs), na, sa[lo:min(hi + 1, lo + 16)].hex(),
                 nb, sb[lo:min(hi + 1, lo + 16)].hex()))
    return 1


if __name__ == "__main__":
    sys.exit(main())
