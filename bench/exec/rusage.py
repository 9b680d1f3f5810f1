#!/usr/bin/env python3
"""bench/exec/rusage.py OUTFILE CMD ARGS...: run CMD (stdin, stdout and
stderr as given), then write "peak_rss_kb user_s system_s" to OUTFILE from
the kernel's rusage of the child (wait4): microseconds, where GNU time's
%U and %S print hundredths (a start-up of a few ms read 0.00). Exits with
CMD's status (128 + N for a signal)."""
import os
import sys

if len(sys.argv) < 3:
    sys.exit("usage: rusage.py OUTFILE CMD ARGS...")
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    except OSError as e:
        print("rusage.py: %s: %s" % (sys.argv[2], e.strerror), file=sys.stderr)
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write("%d %.6f %.6f\n" % (ru.ru_maxrss, ru.ru_utime, ru.ru_stime))
sys.exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
