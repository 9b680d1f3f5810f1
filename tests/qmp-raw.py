#!/usr/bin/env python3
"""A raw QMP exchange for the tests: connect to a unix socket, print the
greeting, send stdin's bytes as they are (no framing added), then print
every message the server sends (one JSON text per line) until COUNT
replies (return or error; events are printed but not counted) have come,
or the server closes. --close-after-send: close at once after sending
(a client that leaves mid-request); --until-eof: after the replies, go on
printing until the server closes (the events of a machine that stops).
Exit 0, or 1 when fewer replies came.

  qmp-raw.py SOCKET COUNT [--close-after-send|--until-eof] < bytes
"""
import json
import socket
import sys


def main():
    path, count = sys.argv[1], int(sys.argv[2])
    close_early = "--close-after-send" in sys.argv[3:]
    until_eof = "--until-eof" in sys.argv[3:]
    data = sys.stdin.buffer.read()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(None if until_eof else 60)
    s.connect(path)
    buf = b""
    got = 0
    greeted = False

    def lines():
        nonlocal buf
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            yield line.rstrip(b"\r")

    # the greeting first, then the request
    while not greeted:
        chunk = s.recv(65536)
        if not chunk:
            print("closed before the greeting", file=sys.stderr)
            return 1
        buf += chunk
        for line in lines():
            print(line.decode())
            greeted = True
    s.sendall(data)
    if close_early:
        s.close()
        return 0
    while got < count:
        for line in lines():
            print(line.decode())
            msg = json.loads(line)
            if "return" in msg or "error" in msg:
                got += 1
        if got >= count:
            break
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    while until_eof:
        for line in lines():
            print(line.decode(), flush=True)
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    for line in lines():
        print(line.decode())
    s.close()
    return 0 if got >= count else 1


sys.exit(main())
