#!/usr/bin/env python3
"""Power-off latency of a VM: boot CMD to its ready marker, type the
power-off command at its console (a pipe), and measure from the last byte
the guest wrote (the kernel's "reboot: Power down") to the exit of the VM
process (waitpid). Prints one line: "poweroff_ms N.NNN" (or "error ..." and
status 1).

usage: poweroff.py [--marker RE] [--command CMD] [--timeout S] -- CMD...
"""
import argparse, os, re, select, subprocess, sys, time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--marker", default=r"^vessel-guest: ready")
    ap.add_argument("--command", default="poweroff")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    fd = p.stdout.fileno()
    marker = re.compile(a.marker.encode(), re.M)
    buf = b""
    sent = False
    t_last = None
    end = time.monotonic() + a.timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            p.kill()
            print("error: timeout (%s)" % ("after the power-off command" if sent else "no ready marker"))
            return 1
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            continue
        data = os.read(fd, 65536)
        now = time.monotonic()
        if not data:
            break               # the VM closed its stdout: it is exiting
        t_last = now
        if not sent:
            buf += data
            if marker.search(buf.replace(b"\r", b"")):
                p.stdin.write((a.command + "\n").encode())
                p.stdin.flush()
                sent = True
    p.wait()
    t_exit = time.monotonic()
    if not sent or t_last is None:
        print("error: exited (status %d) before the ready marker" % p.returncode)
        return 1
    print("poweroff_ms %.3f status %d" % ((t_exit - t_last) * 1000.0, p.returncode))
    return 0


if __name__ == "__main__":
    sys.exit(main())
