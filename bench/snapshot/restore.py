#!/usr/bin/env python3
"""bench/snapshot/restore.py RUNS PATTERN -- CMD... [-- CMD2...]

Starts CMD (a restore: `vessel run --restore DIR`, or `qemu-system-riscv64
... -incoming "exec:cat FILE"`) RUNS times and measures, from just before
the exec:
  - to the vCPUs running, as vessel measures it (VESSEL_BENCH_T0 is set to
    this process's CLOCK_MONOTONIC just before the exec; vessel prints
    "bench: vCPUs running X ms after exec"; other programs print nothing);
  - to the first output on stdout containing PATTERN (the guest's next
    line), within 30 s, else "did not resume".
Prints the median, min and max of each, one line each. With several
commands (each after its own --) the runs alternate between them, so that
a shared, loaded host's changing load falls on all of them alike (e.g. two
builds of vessel restoring the same snapshot); each summary line then
starts with the command's number.
"""
import os
import select
import subprocess
import sys
import time


def one(cmd, pattern):
    env = dict(os.environ)
    t0 = time.monotonic_ns()
    env["VESSEL_BENCH_T0"] = str(t0)
    p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    running = out = None
    buf, err = b"", b""
    deadline = time.monotonic() + 30
    while out is None and time.monotonic() < deadline:
        r, _, _ = select.select([p.stdout, p.stderr], [], [], 1)
        for f in r:
            chunk = os.read(f.fileno(), 65536)
            if f is p.stderr:
                err += chunk
                if running is None and b"vCPUs running " in err:
                    running = float(err.split(b"vCPUs running ")[1].split(b" ms")[0])
            else:
                buf += chunk
                if pattern in buf:
                    out = (time.monotonic_ns() - t0) / 1e6
        if p.poll() is not None and not r:
            break
    p.kill()
    p.wait()
    return running, out


def summary(name, xs, runs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return "%s: did not resume" % name if name.startswith("exec to the guest") else "%s: -" % name
    return "%s: median %.1f ms, min %.1f, max %.1f (%d of %d runs)" % (name, xs[len(xs) // 2], xs[0], xs[-1],
                                                                       len(xs), runs)


def main():
    runs, pattern = int(sys.argv[1]), sys.argv[2].encode()
    cmds, cur = [], None
    for a in sys.argv[3:]:
        if a == "--":
            cur = []
            cmds.append(cur)
        elif cur is not None:
            cur.append(a)
    res = [[] for _ in cmds]
    for _ in range(runs):
        for k, cmd in enumerate(cmds):
            res[k].append(one(cmd, pattern))
    for k, cmd in enumerate(cmds):
        tag = "%d (%s): " % (k + 1, cmd[0]) if len(cmds) > 1 else ""
        print(tag + summary("exec to vCPUs running", [r[0] for r in res[k]], runs))
        print(tag + summary("exec to the guest's next output", [r[1] for r in res[k]], runs))


if __name__ == "__main__":
    main()
