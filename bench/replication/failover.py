#!/usr/bin/env python3
"""bench/replication: the failover time. Watches the standby's console log
(its stdout, a file), SIGKILLs the primary and measures, on the host's
monotonic clock, the time from the kill to the first complete "tick N"
line the standby's guest prints after it (the guest prints one every 10 ms;
the standby takes over from the last acknowledged epoch and its console is
its own stdout). Prints "failover MS ms (tick N)" or "no tick in 30 s".

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
t0 = time.monotonic()
os.kill(pid, signal.SIGKILL)
while time.monotonic() - t0 < 30:
    chunk = f.read()
    if chunk:
        buf += chunk
        m = re.search(rb"(?:^|\n)tick (\d+)\r?\n", buf)
        if m:
            print("failover %.1f ms (tick %s)" % ((time.monotonic() - t0) * 1000, m.group(1).decode()))
            sys.exit(0)
    else:
        time.sleep(0.0005)
print("no tick in 30 s")
sys.exit(1)
