#!/usr/bin/env python3
"""Live-migration downtime as the host sees it, for vessel and QEMU.

Boots the default guest (256 MiB) on a source, starts a loop in it printing
"tick N" every 5 ms (shell builtins only: no fork per tick) (and, with --dirty, a loop rewriting 16 MiB of a tmpfs
file four times a second: 64 MiB/s), starts a destination waiting for the
stream, migrates over a unix socket, and reports:

  host gap   the largest gap between the host arrival times of consecutive
             tick lines (source's console, then the destination's) around
             the migration: the downtime the guest's output shows
  reported   the engine's own downtime (vessel: its "downtime N ms" line;
             QEMU: query-migrate's "downtime")
  resumed    whether the destination printed a tick within 30 s
  precopy_gap_ms   the largest gap between the source's own ticks from
             `migrate` on (the pre-copy: the guest still runs at the source)
  gap_after_ms     the largest gap between the destination's ticks
  handover_parts_ms (vessel) the handover split at vessel's own stamps
             (VESSEL_BENCH_CLOCK): the source's last tick to its pause,
             to the destination's state loaded, to its vCPUs started, to
             the destination's first tick on the host

  migrate.py ENGINE(vessel|qemu) VESSEL KERNEL INITRD TMPDIR [--dirty]
"""
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

FW = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin"


class Console:
    """A process whose stdout lines are kept with their host arrival times."""

    def __init__(self, argv):
        env = dict(os.environ, VESSEL_BENCH_CLOCK="1")
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, env=env)
        self.lines = []
        self.lock = threading.Lock()
        threading.Thread(target=self.reader, daemon=True).start()

    def reader(self):
        buf = b""
        while True:
            d = os.read(self.p.stdout.fileno(), 65536)
            if not d:
                return
            t = time.monotonic()
            buf += d
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                with self.lock:
                    self.lines.append((t, line.decode(errors="replace").strip()))

    def send(self, s):
        self.p.stdin.write(s.encode() + b"\n")
        self.p.stdin.flush()

    def wait_for(self, pat, timeout):
        r = re.compile(pat)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if any(r.search(l) for _, l in self.lines):
                    return True
            time.sleep(0.05)
        return False

    def stamp(self, what):
        """vessel's "bench: WHAT at T ms" line (CLOCK_MONOTONIC, as time.monotonic), in s, or None."""
        with self.lock:
            for _, l in self.lines:
                m = re.search(r"bench: (.*) at ([0-9.]+) ms", l)
                if m and m.group(1) == what:
                    return float(m.group(2)) / 1e3
        return None

    def ticks(self):
        with self.lock:
            return [(t, int(m.group(1))) for t, l in self.lines for m in [re.search(r"^tick (\d+)$", l)] if m]


def qmp(path, cmd, args=None):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(60)
    s.connect(path)
    f = s.makefile("rb")
    f.readline()
    s.sendall(b'{"execute":"qmp_capabilities"}\n')
    f.readline()
    req = {"execute": cmd}
    if args is not None:
        req["arguments"] = args
    s.sendall(json.dumps(req).encode() + b"\n")
    while True:
        m = json.loads(f.readline())
        if "return" in m or "error" in m:
            s.close()
            return m


def main():
    engine, vessel, kernel, initrd, tmp = sys.argv[1:6]
    dirty = "--dirty" in sys.argv
    src_q, dst_q, mig = f"{tmp}/src.qmp", f"{tmp}/dst.qmp", f"{tmp}/mig.sock"
    for p in (src_q, dst_q, mig):
        if os.path.exists(p):
            os.unlink(p)
    if engine == "vessel":
        base = [vessel, "run", "-m", "256M", "--kernel", kernel, "--initrd", initrd]
        src = Console(base + ["--qmp", f"unix:{src_q}"])
        dst_argv = base + ["--qmp", f"unix:{dst_q}", "--incoming", f"unix:{mig}"]
    else:
        base = ["qemu-system-riscv64", "-M", "virt", "-m", "256M", "-nographic", "-bios", FW, "-kernel", kernel,
                "-initrd", initrd, "-append", "console=ttyS0"]
        src = Console(base + ["-qmp", f"unix:{src_q},server=on,wait=off"])
        dst_argv = base + ["-qmp", f"unix:{dst_q},server=on,wait=off", "-incoming", f"unix:{mig}"]
    try:
        if not src.wait_for(r"vessel-guest: ready", 300):
            print("the source did not boot")
            return
        if dirty:
            src.send("while :; do dd if=/dev/zero of=/tmp/dirty bs=1M count=16 conv=notrunc 2>/dev/null; "
                     "usleep 250000; done &")
        # The ticker forks nothing: echo and read are ash builtins, and `read -t`
        # on a FIFO nobody writes is the 5 ms sleep. busybox runs `usleep` as a
        # fork and exec, which cost the emulated guest 9-17 ms per tick and put
        # 24 ms median gaps (92 ms p90) into the output before any migration,
        # against 6.5 ms (p90 13) for this loop, on the same host at load 9.5.
        src.send('mkfifo /tmp/tickf; i=0; while :; do i=$((i+1)); echo "tick $i"; read -t 0.005 x <>/tmp/tickf; done &')
        src.wait_for(r"^tick 200$", 120)
        dst = Console(dst_argv)
        for _ in range(600):
            if os.path.exists(mig):
                break
            time.sleep(0.05)
        t_mig = time.monotonic()
        r = qmp(src_q, "migrate", {"uri": f"unix:{mig}"})
        if "error" in r:
            print("migrate refused:", r["error"])
            return
        reported, status = None, ""
        end = time.monotonic() + 300
        while time.monotonic() < end:
            try:
                info = qmp(src_q, "query-migrate").get("return", {})
            except OSError:
                info = {}
                if src.p.poll() is not None:
                    status = "completed"
                    break
            status = info.get("status", status)
            if status in ("completed", "failed", "cancelled"):
                reported = info.get("downtime")
                break
            time.sleep(0.05)
        t_done = time.monotonic()
        if engine == "vessel":
            src.p.wait(60)
            m = [re.search(r"downtime (\d+) ms", l) for _, l in src.lines]
            m = [x for x in m if x]
            reported = int(m[-1].group(1)) if m else None
        resumed = dst.wait_for(r"^tick \d+$", 30)
        if resumed:
            dst.wait_for(r"^tick \d+$", 1)
            time.sleep(1)
        st, dt = src.ticks(), dst.ticks()
        ticks = sorted(st + dt, key=lambda x: x[1])
        # (a line cut at the pause is lost to both consoles: consecutive numbers that came)
        gaps = [(b[0] - a[0], a[1]) for a, b in zip(ticks, ticks[1:]) if b[1] > a[1] and b[0] >= t_mig]
        gap = max(gaps)[0] * 1000 if gaps and resumed else None
        # the handover alone: the source's last tick to the destination's first
        hand = (min(dt, key=lambda x: x[1])[0] - max(st, key=lambda x: x[1])[0]) * 1000 if st and dt else None
        # where the largest gap is: among the source's ticks from migrate on (the
        # pre-copy: the guest still runs there), or among the destination's
        def largest(ts, since):
            g = [b[0] - a[0] for a, b in zip(ts, ts[1:]) if b[1] > a[1] and b[0] >= since]
            return round(max(g) * 1000, 1) if g else None
        # for scale: the largest gap in the 2 s before migrate (the host's load alone)
        pre = [b[0] - a[0] for a, b in zip(st, st[1:]) if t_mig - 2 <= a[0] and b[0] < t_mig]
        # vessel: where the handover goes (ms): the source's last tick to its pause, the pause to the
        # destination's state loaded, to its vCPUs started, to the destination's first tick on the host
        parts = None
        if engine == "vessel" and st and dt:
            marks = [max(st, key=lambda x: x[1])[0], src.stamp("migration: paused"),
                     dst.stamp("incoming migration: state loaded"), dst.stamp("vCPUs started"),
                     min(dt, key=lambda x: x[1])[0]]
            if None not in marks:
                parts = [round((b - a) * 1000, 1) for a, b in zip(marks, marks[1:])]
        print(json.dumps({"engine": engine, "dirty": dirty, "status": status, "resumed": resumed,
                          "handover_parts_ms": parts,
                          "host_gap_ms": round(gap, 1) if gap is not None else None,
                          "handover_gap_ms": round(hand, 1) if hand is not None and resumed else None,
                          "precopy_gap_ms": largest(sorted(st, key=lambda x: x[1]), t_mig),
                          "gap_after_ms": largest(sorted(dt, key=lambda x: x[1]), 0) if resumed else None,
                          "gap_before_ms": round(max(pre) * 1000, 1) if pre else None,
                          "migration_s": round(t_done - t_mig, 1),
                          "reported_downtime_ms": reported}))
    finally:
        for c in [src] + ([dst] if "dst" in locals() else []):
            if c.p.poll() is None:
                c.p.kill()
                c.p.wait()


if __name__ == "__main__":
    main()
