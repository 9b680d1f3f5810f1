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
Prints the median, min and max of each, one line each, and the median of
each of vessel's own stamps on the way (main, snapshot read, devices built,
harts built, state loaded, vCPUs running: ms after exec). With several
commands (each after its own --) the runs alternate between them, so that
a shared, loaded host's changing load falls on all of them alike (e.g. two
builds of vessel restoring the same snapshot); each summary line then
starts with the command's number.
"""
import os
import re
import select
import subprocess
import sys
import tempfile
import time


def stages(err):
    """vessel's own stamps on stderr: "vessel: bench: WHAT X ms after exec",
    in order (main, snapshot read, devices built, harts built, state loaded,
    vCPUs running)."""
    out = []
    for line in err.decode(errors="replace").splitlines():
        m = re.match(r"vessel: bench: (.*) ([0-9.]+) ms after exec(?: \(([0-9]+) page faults\))?$", line)
        if m:
            out.append((m.group(1), float(m.group(2)), int(m.group(3) or -1)))
    return out


def one(cmd, pattern):
    env = dict(os.environ)
    # stderr goes to a file, read once the run is over: a pipe would wake
    # this process at each of vessel's stamps, and on a small host that
    # wake-up can take the CPU from the process being measured
    with tempfile.TemporaryFile() as errf:
        t0 = time.monotonic_ns()
        env["VESSEL_BENCH_T0"] = str(t0)
        p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errf)
        out = None
        buf = b""
        deadline = time.monotonic() + 30
        while out is None and time.monotonic() < deadline:
            r, _, _ = select.select([p.stdout], [], [], 1)
            if r:
                chunk = os.read(p.stdout.fileno(), 65536)
                buf += chunk
                if pattern in buf:
                    out = (time.monotonic_ns() - t0) / 1e6
                elif not chunk:
                    break
            elif p.poll() is not None:
                break
        # the guest's line can come before the main thread's "vCPUs
        # running" stamp (the hart starts first): give it a moment
        t_end = time.monotonic() + 0.5
        while out is not None and time.monotonic() < t_end and p.poll() is None:
            errf.seek(0)
            e = errf.read()
            if b"vCPUs running " in e or b"vessel: bench: " not in e:
                break
            time.sleep(0.002)
        p.kill()
        p.wait()
        errf.seek(0)
        st = stages(errf.read())
    running = next((x for what, x, _ in st if what == "vCPUs running"), None)
    return running, out, st


def summary(name, xs, runs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return "%s: did not resume" % name if name.startswith("exec to the guest") else "%s: -" % name
    return "%s: median %.1f ms, min %.1f, max %.1f (%d of %d runs)" % (name, xs[len(xs) // 2], xs[0], xs[-1],
                                                                       len(xs), runs)


def stage_summary(results):
    """The median of each of vessel's stamps, in the order they came."""
    names = []
    for r in results:
        for what, _, _ in r[2]:
            if what not in names:
                names.append(what)
    parts = []
    for n in names:
        xs = sorted(x for r in results for what, x, _ in r[2] if what == n)
        pf = sorted(f for r in results for what, _, f in r[2] if what == n)
        parts.append("%s %.2f (%d faults)" % (n, xs[len(xs) // 2], pf[len(pf) // 2]))
    return "medians of vessel's stamps, ms after exec (page faults so far): " + ", ".join(parts) if parts else None


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
        st = stage_summary(res[k])
        if st:
            print(tag + st)


if __name__ == "__main__":
    main()
