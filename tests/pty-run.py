#!/usr/bin/env python3
"""Run a command on a terminal of its own (a new pty as its controlling tty,
stdin, stdout and stderr), print what it writes there, exit with its status.
For tests that need a real tty (podman run -it) when the test itself has none
(CI, no stdin). Unlike script(1) it never reads our stdin, so an empty or
closed stdin cannot end the session early.

    pty-run.py [--timeout S] CMD [ARG...]"""
import os, pty, select, sys, time

args = sys.argv[1:]
timeout = 60.0
if args[:1] == ["--timeout"]:
    timeout, args = float(args[1]), args[2:]
pid, master = pty.fork()
if pid == 0:
    try:
        os.execvp(args[0], args)
    finally:
        os._exit(127)
out = b""
end = time.time() + timeout
while time.time() < end:
    r, _, _ = select.select([master], [], [], 0.2)
    if r:
        try:
            chunk = os.read(master, 4096)
        except OSError:      # EIO: the child side is closed
            break
        if not chunk:
            break
        out += chunk
    else:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            pid = 0
            break
sys.stdout.write(out.decode(errors="replace").replace("\r", ""))
if pid:
    if time.time() >= end:
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status) if status >= 0 else 1)
