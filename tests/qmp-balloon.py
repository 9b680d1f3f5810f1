#!/usr/bin/env python3
"""Drive a balloon over QMP for the tests: connect, negotiate, send
`balloon` with TARGET bytes, then poll `query-balloon` (every 0.1 s) while
collecting BALLOON_CHANGE events, until `actual` equals TARGET or
DEADLINE seconds have passed. Prints one line:

  actual A events N last-event L seconds S

(L is the `actual` of the last BALLOON_CHANGE, -1 when none came).
Exit 0 when actual reached TARGET, 1 on timeout, 2 on a protocol error.

  qmp-balloon.py SOCKET TARGET DEADLINE
"""
import json
import socket
import sys
import time


class Qmp:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(30)
        self.s.connect(path)
        self.buf = b""
        self.events = []
        self.read()                         # greeting
        self.cmd("qmp_capabilities")

    def read(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("the server closed the socket")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, args=None):
        req = {"execute": name}
        if args is not None:
            req["arguments"] = args
        self.s.sendall(json.dumps(req).encode() + b"\n")
        while True:
            m = self.read()
            if "event" in m:
                self.events.append(m)
                continue
            if "error" in m:
                raise RuntimeError("%s: %s" % (name, m["error"]))
            return m["return"]


def main():
    path, target, deadline = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    try:
        q = Qmp(path)
        t0 = time.monotonic()
        q.cmd("balloon", {"value": target})
        actual = -1
        while True:
            actual = q.cmd("query-balloon")["actual"]
            done = actual == target
            took = time.monotonic() - t0
            if done or took > deadline:
                break
            time.sleep(0.1)
        # BALLOON_CHANGE is throttled to one a second: the last one comes
        # at most a second after the final change
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            q.cmd("query-status")
            time.sleep(0.1)
    except (OSError, EOFError, RuntimeError, ValueError) as e:
        print("qmp-balloon: %s" % e, file=sys.stderr)
        return 2
    changes = [e for e in q.events if e.get("event") == "BALLOON_CHANGE"]
    last = changes[-1]["data"]["actual"] if changes else -1
    print("actual %d events %d last-event %d seconds %.2f" % (actual, len(changes), last, took))
    return 0 if done else 1


if __name__ == "__main__":
    sys.exit(main())
