#!/usr/bin/env python3
"""A console-socket receiver, as podman's conmon or runc's recvtty are: listen
on SOCKET, take the pty master a runtime sends with SCM_RIGHTS, type INPUT into
it once the container has written something, and print what the container writes until it closes the terminal.

    ctr-console.py SOCKET [INPUT] [TIMEOUT_S]

Prints "console: no pty received" and exits 1 when no descriptor arrives."""
import array, os, select, socket, sys, time

path = sys.argv[1]
data = sys.argv[2].encode() if len(sys.argv) > 2 else b""
timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 20.0
if os.path.exists(path):
    os.unlink(path)
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(1)
srv.settimeout(timeout)
try:
    conn, _ = srv.accept()
    fds = array.array("i")
    msg, anc, _, _ = conn.recvmsg(4096, socket.CMSG_SPACE(fds.itemsize))
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
except (socket.timeout, OSError) as e:
    print("console: no pty received (%s)" % e)
    sys.exit(1)
if not fds:
    print("console: no pty received")
    sys.exit(1)
master = fds[0]
print("console: got a pty master, is a tty: %s" % os.isatty(master), flush=True)
out = b""
end = time.time() + timeout
while time.time() < end:
    r, _, _ = select.select([master], [], [], 0.2)
    if not r:
        continue
    try:
        chunk = os.read(master, 4096)
    except OSError:          # EIO: every slave fd is closed
        break
    if not chunk:
        break
    out += chunk
    if data:                 # type only once the container has written: no race with its echo
        os.write(master, data)
        data = b""
sys.stdout.write(out.decode(errors="replace").replace("\r", ""))
