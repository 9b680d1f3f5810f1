#!/bin/bash
# vessel kvm --serial stdio on a terminal: raw mode, Ctrl-A h / Ctrl-A x,
# and the terminal settings restored after a normal quit and after SIGTERM.
. "$SRC/tests/lib.sh"
dev=${VESSEL_KVM_DEV:-/dev/kvm}
names="console-quit console-sigterm"
why=$(x86_guests_missing)
have python3 || why="python3 missing"
if [ -n "$why" ]; then
    for n in $names; do skip "$n" "$why"; done; exit 0
fi
if ! [ -r "$dev" ] || ! [ -w "$dev" ]; then
    for n in $names; do skip "$n" "$dev missing or not accessible"; done; exit 0
fi
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
x86_guest idle "$out/idle.bz" || { nok "assemble idle guest"; exit 0; }
cat >"$out/ptyrun.py" <<'PY'
# Run vessel on a fresh pseudo-terminal between two `stty -g`, then quit it
# with Ctrl-A x ("quit") or SIGTERM ("term"); print the whole transcript.
import os, pty, select, signal, subprocess, sys, time
vessel, img, mode = sys.argv[1:4]
pid, fd = pty.fork()
if pid == 0:
    os.execvp("sh", ["sh", "-c", 'stty -g; echo START; "$0" kvm --kernel "$1" -m 32M; echo "RC=$?"; stty -g; echo END',
                     vessel, img])
def read_until(pat, t=30):
    buf, end = b"", time.time() + t
    while pat not in buf and time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try: d = os.read(fd, 4096)
            except OSError: break
            if not d: break
            buf += d
    return buf
out = read_until(b"START") + read_until(b"H")
time.sleep(0.3)
if mode == "quit":
    # the terminal as vessel left it while running
    slave = os.readlink(f"/proc/{pid}/fd/0")
    raw = subprocess.run(["stty", "-g", "-F", slave], capture_output=True, text=True).stdout.strip()
    os.write(fd, b"\x01h")
    out += read_until(b"C-a x")
    os.write(fd, b"\x01x")
else:
    kids = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    for k in kids:
        os.kill(int(k), signal.SIGTERM)
out += read_until(b"END")
os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace").replace("\r", ""))
if mode == "quit":
    print("RAW=" + raw)
PY
same_stty() { [ "$(sed -n 1p "$1")" = "$(grep -A1 '^RC=' "$1" | sed -n 2p)" ] && [ -n "$(sed -n 1p "$1")" ]; }

timeout 60 python3 "$out/ptyrun.py" "$VESSEL" "$out/idle.bz" quit >"$out/quit.log" 2>&1
raw=$(sed -n 's/^RAW=//p' "$out/quit.log")
if grep -q '^RC=0' "$out/quit.log" && grep -q 'C-a x    exit vessel' "$out/quit.log" && same_stty "$out/quit.log" &&
   [ -n "$raw" ] && [ "$raw" != "$(sed -n 1p "$out/quit.log")" ]; then
    ok "console-quit: raw while running, Ctrl-A h prints help, Ctrl-A x exits 0, terminal restored"
else nok "console-quit: $(head -c 400 "$out/quit.log")"; fi

timeout 60 python3 "$out/ptyrun.py" "$VESSEL" "$out/idle.bz" term >"$out/term.log" 2>&1
if grep -q '^RC=143' "$out/term.log" && same_stty "$out/term.log"; then
    ok "console-sigterm: killed by SIGTERM, terminal restored"
else nok "console-sigterm: $(head -c 400 "$out/term.log")"; fi
