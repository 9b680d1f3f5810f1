#!/usr/bin/env python3
"""Live-migration handover as the host sees it, without a guest OS: the
bare-metal counter (tests/guests/riscv-sbi/counter.S, built here with
DELAY=100000: a line every few hundred microseconds) migrated between two
`vessel run` processes over a unix socket. Prints the median and largest
gap between the source's lines before the migration ended, the gap at the
handover (the source's last line to the destination's first) and vessel's
own downtime. Separates what vessel costs from what a guest OS costs after
it (bench/snapshot/migrate.py: the default Linux guest).

  migrate-bare.py VESSEL SRC TMPDIR
"""
import json
import os
import re
import subprocess
import sys
import threading
import time


def run(argv, lines):
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)

    def rd():
        buf = b""
        while True:
            x = os.read(p.stdout.fileno(), 65536)
            if not x:
                return
            t = time.monotonic()
            buf += x
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                lines.append((t, line.decode(errors="replace")))
    threading.Thread(target=rd, daemon=True).start()
    return p


def counts(lines):
    return [(t, int(m.group(1), 16)) for t, l in lines for m in [re.search(r"c ([0-9a-f]{8})$", l)] if m]


def main():
    vessel, src, tmp = sys.argv[1:4]
    elf = f"{tmp}/counter.elf"
    subprocess.run(["riscv64-linux-gnu-gcc", "-nostdlib", "-static", "-Wl,--build-id=none", "-T",
                    f"{src}/tests/guests/riscv-sbi/tohost.ld", "-Wl,--no-warn-rwx-segments", "-DDELAY=100000",
                    "-o", elf, f"{src}/tests/guests/riscv-sbi/counter.S"], check=True)
    for p in ("s.qmp", "d.qmp", "m.sock"):
        if os.path.exists(f"{tmp}/{p}"):
            os.unlink(f"{tmp}/{p}")
    a, b = [], []
    base = [vessel, "run", "--kernel", elf, "-m", "32M"]
    s = run(base + ["--qmp", f"unix:{tmp}/s.qmp"], a)
    d = run(base + ["--qmp", f"unix:{tmp}/d.qmp", "--incoming", f"unix:{tmp}/m.sock"], b)
    try:
        while len(counts(a)) < 1000 or not os.path.exists(f"{tmp}/m.sock"):
            time.sleep(0.05)
        subprocess.run([vessel, "qmp", f"{tmp}/s.qmp", "migrate", json.dumps({"uri": f"unix:{tmp}/m.sock"})],
                       check=True, capture_output=True)
        err = s.communicate(timeout=120)[1].decode()
        while len(counts(b)) < 100:
            time.sleep(0.05)
        ca, cb = counts(a), counts(b)
        gaps = sorted(y[0] - x[0] for x, y in zip(ca, ca[1:]))
        m = re.search(r"downtime (\d+) ms", err)
        print(json.dumps({"src_median_gap_ms": round(gaps[len(gaps) // 2] * 1000, 3),
                          "src_max_gap_ms": round(gaps[-1] * 1000, 1),
                          "handover_gap_ms": round((cb[0][0] - ca[-1][0]) * 1000, 1),
                          "reported_downtime_ms": int(m.group(1)) if m else None}))
    finally:
        for p in (s, d):
            if p.poll() is None:
                p.kill()
                p.wait()


if __name__ == "__main__":
    main()
