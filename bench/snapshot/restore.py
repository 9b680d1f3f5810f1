#!/usr/bin/env python3
"""bench/snapshot/restore.py VESSEL SNAPDIR [RUNS] [PATTERN]

Restore time of `vessel run --restore SNAPDIR`, RUNS times (default 11):
  - exec to the vCPUs running, as vessel measures it (VESSEL_BENCH_T0 is
    set to this process's CLOCK_MONOTONIC just before the exec; vessel
    prints "bench: vCPUs running X ms after exec");
  - with PATTERN (bytes the guest prints, e.g. "tick "), exec to the first
    console output containing it.
Prints the median, min and max of each.
"""
import os
import select
import subprocess
import sys
import time


def one(vessel, snap, pattern):
    env = dict(os.environ)
    t0 = time.monotonic_ns()
    env["VESSEL_BENCH_T0"] = str(t0)
    p = subprocess.Popen([vessel, "run", "--restore", snap, "--serial", "stdio"], env=env,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    running = out = None
    buf, err = b"", b""
    deadline = time.monotonic() + 30
    while (running is None or (pattern and out is None)) and time.monotonic() < deadline:
        r, _, _ = select.select([p.stdout, p.stderr], [], [], 1)
        for f in r:
            chunk = os.read(f.fileno(), 65536)
            if f is p.stderr:
                err += chunk
                if running is None and b"vCPUs running " in err:
                    running = float(err.split(b"vCPUs running ")[1].split(b" ms")[0])
            else:
                buf += chunk
                if pattern and out is None and pattern in buf:
                    out = (time.monotonic_ns() - t0) / 1e6
    p.kill()
    p.wait()
    return running, out


def summary(name, xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        print("%s: no figure (never seen)" % name)
        return
    print("%s: median %.1f ms, min %.1f, max %.1f (%d runs)" % (name, xs[len(xs) // 2], xs[0], xs[-1], len(xs)))


def main():
    vessel, snap = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 11
    pattern = sys.argv[4].encode() if len(sys.argv) > 4 else None
    res = [one(vessel, snap, pattern) for _ in range(runs)]
    summary("exec to vCPUs running", [r[0] for r in res])
    if pattern:
        summary("exec to the guest's next output", [r[1] for r in res])


if __name__ == "__main__":
    main()
