#!/usr/bin/env python3
"""Drive a live migration over QMP for the tests. Connects to the source's
socket, negotiates, then runs the steps given on the command line in order:

  set JSON             migrate-set-parameters with JSON as arguments
  auto-converge        migrate-set-capabilities auto-converge on
  migrate URI          migrate {"uri": URI}; prints the reply
  passes N             wait until query-migrate's dirty-sync-count >= N
  throttled            wait until query-migrate shows cpu-throttle-percentage
  status S             wait until query-migrate's status is S (or the
                       MIGRATION event says so); for "completed" the
                       source may exit right after: its socket closing
                       after the event counts
  cancel               migrate_cancel
  query                print query-migrate's reply as one line

Every wait polls every 20 ms until DEADLINE seconds (first argument) have
passed since the start. Prints one line per step ("step: result"), and the
MIGRATION statuses seen ("events: setup active ..."). Exit 0 when every
step succeeded, 1 on a timeout or an error reply (the line says which).

  qmp-migrate.py DEADLINE SOCKET STEP...
"""
import json
import socket
import sys
import time


class Gone(Exception):
    pass


class Qmp:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(30)
        self.s.connect(path)
        self.buf = b""
        self.statuses = []
        self.read()                         # greeting
        self.cmd("qmp_capabilities")

    def read(self):
        while b"\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise Gone()
            self.buf += d
        line, self.buf = self.buf.split(b"\n", 1)
        msg = json.loads(line)
        if msg.get("event") == "MIGRATION":
            self.statuses.append(msg["data"]["status"])
        return msg

    def drain(self):
        """The source went away: read the events it sent before."""
        try:
            while True:
                self.read()
        except (Gone, OSError, ValueError):
            pass

    def cmd(self, name, args=None):
        req = {"execute": name}
        if args is not None:
            req["arguments"] = args
        self.s.sendall(json.dumps(req).encode() + b"\r\n")
        while True:
            msg = self.read()
            if "return" in msg or "error" in msg:
                return msg


def main():
    deadline = time.monotonic() + float(sys.argv[1])
    q = Qmp(sys.argv[2])
    steps = sys.argv[3:]
    info = {}
    i = 0
    rc = 0

    def poll(cond):
        nonlocal info
        while time.monotonic() < deadline:
            try:
                r = q.cmd("query-migrate")
            except (Gone, OSError):
                q.drain()
                return cond(None)
            info = r.get("return", {})
            if cond(info):
                return True
            time.sleep(0.02)
        return False

    while i < len(steps) and rc == 0:
        s = steps[i]
        i += 1
        if s in ("set", "migrate"):
            arg = steps[i]
            i += 1
            r = q.cmd("migrate-set-parameters", json.loads(arg)) if s == "set" else \
                q.cmd("migrate", {"uri": arg})
            print(f"{s}: {json.dumps(r.get('return', r.get('error')))}")
            rc = 0 if "return" in r else 1
        elif s == "auto-converge":
            r = q.cmd("migrate-set-capabilities",
                      {"capabilities": [{"capability": "auto-converge", "state": True}]})
            print(f"auto-converge: {json.dumps(r.get('return', r.get('error')))}")
            rc = 0 if "return" in r else 1
        elif s == "cancel":
            r = q.cmd("migrate_cancel")
            print(f"cancel: {json.dumps(r.get('return', r.get('error')))}")
            rc = 0 if "return" in r else 1
        elif s == "query":
            print("query: " + json.dumps(q.cmd("query-migrate").get("return")))
        elif s == "passes":
            n = int(steps[i])
            i += 1
            ok = poll(lambda x: x is not None and x.get("ram", {}).get("dirty-sync-count", 0) >= n)
            print(f"passes {n}: {'yes' if ok else 'no'} {json.dumps(info)}")
            rc = 0 if ok else 1
        elif s == "throttled":
            ok = poll(lambda x: x is not None and x.get("cpu-throttle-percentage", 0) > 0)
            print(f"throttled: {'yes' if ok else 'no'} {json.dumps(info)}")
            rc = 0 if ok else 1
        elif s == "status":
            want = steps[i]
            i += 1
            ok = poll(lambda x: (x is None and want in q.statuses) or
                      (x is not None and (x.get("status") == want or want in q.statuses)))
            print(f"status {want}: {'yes' if ok else 'no'} {json.dumps(info)}")
            rc = 0 if ok else 1
        else:
            print(f"unknown step {s}")
            rc = 2
    print("events: " + " ".join(q.statuses))
    return rc


if __name__ == "__main__":
    sys.exit(main())
