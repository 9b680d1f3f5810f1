#!/usr/bin/env python3
"""bench/replication: the failover time. Watches the standby's console log
(its stdout, a file), SIGKILLs the primary and measures, on the host's
monotonic clock, the time from the kill to the first complete "tick N"
line the standby's guest prints after it (the guest prints one every 10 ms;
the standby takes over from the last acknowledged epoch and its console is
its own stdout). Prints "failover MS ms (tick N)" or "no tick in 30 s",
then the parts, from the standby's failover log line (the same file, its
stderr): detection (the kill to the end of the stream at the standby, both
on CLOCK_MONOTONIC), takeover (the end of the stream to the harts let go,
with its own parts as the standby logs them) and output (the harts let go
to the tick seen here).

  failover.py PRIMARY_PID STANDBY_LOG
"""
import os
import re
import signal
import sys
import time

pid, log = int(sys.argv[1]), sys.argv[2]
f = open(log, "rb")
f.seek(0, os.SEEK_END)
buf = b""
tick = part = None
t0 = time.monotonic()
os.kill(pid, signal.SIGKILL)
while time.monotonic() - t0 < 30:
    chunk = f.read()
    buf += chunk
    if not tick:
        m = re.search(rb"(?:^|\n)tick (\d+)\r?\n", buf)
        if m:
            tick = (time.monotonic(), m.group(1).decode())
    if tick:
        part = re.search(rb"\(([0-9.]+) ms after the stream stopped: ([^;]*); "
                         rb"stream stopped at monotonic ([0-9.]+) s\)", buf)
        if part or time.monotonic() - tick[0] > 2:
            break
    if not chunk:
        time.sleep(0.0005)
if not tick:
    print("no tick in 30 s")
    sys.exit(1)
out = "failover %.1f ms (tick %s)" % ((tick[0] - t0) * 1000, tick[1])
if part:
    take, stop = float(part.group(1)) / 1000, float(part.group(3))
    out += ": detection %.1f ms, takeover %.1f ms (%s), output %.1f ms" % (
        (stop - t0) * 1000, take * 1000, part.group(2).decode(), (tick[0] - stop - take) * 1000)
print(out)
