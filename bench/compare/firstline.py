#!/usr/bin/env python3
"""bench/compare/firstline.py: start-up to the first output line.

    firstline.py [--cwd DIR] [--runs N] EXPECTED -- CMD...

Starts CMD N times (default 1), one after the other; for each prints the
milliseconds from the spawn to the end of its first stdout line, then waits
for it to exit. Stops (status 1, the reason on stderr) when that line is not
EXPECTED or the command exits non-zero. With {n} in an argument, it is
replaced by the run's number (a container's unique ID).
"""
import subprocess
import sys
import time


def once(cwd, want, cmd):
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    line = p.stdout.readline()
    t1 = time.monotonic()
    rest, err = p.communicate(timeout=120)
    got = line.decode(errors="replace").strip()
    if got != want:
        sys.exit("first line %r, not %r (stderr: %s)" % (got, want, err.decode(errors="replace")[:200]))
    if p.returncode != 0:
        sys.exit("exit status %d (stderr: %s)" % (p.returncode, err.decode(errors="replace")[:200]))
    print("%.3f" % ((t1 - t0) * 1000), flush=True)


def main(argv):
    cwd, runs = None, 1
    while argv[:1] in (["--cwd"], ["--runs"]):
        if argv[0] == "--cwd":
            cwd = argv[1]
        else:
            runs = int(argv[1])
        argv = argv[2:]
    if len(argv) < 3 or argv[1] != "--":
        sys.exit("usage: firstline.py [--cwd DIR] [--runs N] EXPECTED -- CMD...")
    want, cmd = argv[0], argv[2:]
    for n in range(1, runs + 1):
        once(cwd, want, [a.replace("{n}", str(n)) for a in cmd])


if __name__ == "__main__":
    main(sys.argv[1:])
