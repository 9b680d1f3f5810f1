# Snapshot and restore of the default riscv64 guest (Linux) running a
# workload that writes a checksummed counter to memory (a shell variable
# and /tmp/ctr), to the disk (sector i holds "i md5") and to the console
# ("ctr i md5"), while a second loop rewrites 1 MiB of the disk with
# O_DIRECT writes back to back (one is in flight at any moment) and prints
# "big j" after each. vm-snapshot with the disks saved, paused; kill -9;
# the disk image is scribbled on; `vessel run --restore`: the saved disk is
# put back, the console goes on at i+1 with every checksum right, nothing
# repeated, nothing lost; at the end every sector 1..i on the disk holds
# its counter and the 1 MiB region holds exactly the last "big" the guest
# reported (the write in flight at snapshot time neither lost nor applied
# twice). Then, in that restored process (the loops stopped, so the disk
# does not change), a TCP connection into the guest through hostfwd
# survives a vm-snapshot and a later vm-restore. With --smp 2 a ticker
# pinned to each hart goes on at its next number after a restore.
. "$SRC/tests/lib.sh"
. "$SRC/tests/guestlib.sh"
have python3 || { echo "python3 missing" >&2; exit 77; }
line=$(bash "$SRC/guest/build.sh" --print riscv64 2>/dev/null) || { echo "riscv64 guest not built (make guest)" >&2; exit 77; }
KERNEL= INITRD=
eval "$line"
d=$(mktemp -d "${TMPDIR:-/tmp}/vessel-snapg.XXXXXX")
cleanup() { [ -n "$GUEST_PID" ] && kill -9 "$GUEST_PID" 2>/dev/null; guest_kill; rm -rf "$d"; }
trap cleanup EXIT
GUEST_TIMEOUT=$(slow 240)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sock=$d/q.sock
q() { "$VESSEL" qmp "$sock" "$@"; }
truncate -s 16M "$d/disk.img"
# ctrs FILE: "i md5" of every console counter line
ctrs() { tr -d '\r' < "$1" | grep -aoE '^ctr [0-9]+ [0-9a-f]{8}$' | cut -d' ' -f2-; }
lastctr() { ctrs "$1" | tail -1 | cut -d' ' -f1; }
lastbig() { tr -d '\r' < "$1" | grep -aoE '^big [0-9]+$' | tail -1 | cut -d' ' -f2; }
reached() { [ "$(lastctr "$GUEST_LOG")" -ge "$1" ] 2>/dev/null; }
wait_reached() { local i; for ((i = 0; i < $(slow 1200); i++)); do reached "$1" && return 0; guest_alive_ || return 1; sleep 0.1; done; return 1; }

guest_start "$VESSEL" run --kernel "$KERNEL" --initrd "$INITRD" --disk "$d/disk.img" \
    --net "user,hostfwd=tcp::$port-:7777" --qmp "unix:$sock" --balloon
# wait_balloon BYTES: until QMP query-balloon reports BYTES
wait_balloon() { local i; for ((i = 0; i < $(slow 600); i++)); do
    [ "$(q query-balloon 2>/dev/null)" = "{\"actual\":$1}" ] && return 0; guest_alive_ || return 1; sleep 0.1; done; return 1; }
guest_wait_ready || { nok "the default guest boots"; guest_tail 20 | sed 's/^/# /'; exit 1; }
ok "the default guest boots with a disk, user net and --qmp ($(guest_elapsed) s)"
guest_send 'w() { i=0; while [ ! -f /tmp/stop ]; do i=$((i+1)); s=$(echo "n=$i" | md5sum | cut -c1-8); echo $i > /tmp/ctr; printf "%08d %s\n" $i $s | dd of=/dev/vda bs=512 seek=$i conv=notrunc oflag=direct 2>/dev/null; echo "ctr $i $s"; done; }; w &'
guest_send 'b() { j=0; while [ ! -f /tmp/stop ]; do j=$((j+1)); yes "$j" | head -c 1048576 | dd of=/dev/vda bs=1048576 seek=8 oflag=direct 2>/dev/null; echo "big $j"; done; }; b &'
wait_reached 15 || { nok "the workload runs"; guest_tail 20 | sed 's/^/# /'; exit 1; }
ok "the workload runs (ctr $(lastctr "$GUEST_LOG"), big $(lastbig "$GUEST_LOG"))"

q balloon '{"value":201326592}' >/dev/null
if wait_balloon 201326592; then ok "the balloon holds 64 MiB before the snapshot"
else nok "balloon to 192 MiB: $(q query-balloon 2>&1)"; guest_tail 10 | sed 's/^/# /'; fi
out=$(q vm-snapshot "{\"path\":\"$d/s1\",\"paused\":true,\"disks\":true}" 2>&1)
check "vm-snapshot with the disks, paused: {} ($out)" test "$out" = "{}"
n=$(lastctr "$GUEST_LOG") j=$(lastbig "$GUEST_LOG")
kill -9 "$GUEST_PID"; guest_wait_exit 30 >/dev/null
cp "$GUEST_LOG" "$d/out1"
check "the disk was saved with the snapshot (disk-vda.img)" test -s "$d/s1/disk-vda.img"
# the image changes after the snapshot: only the saved copy can make a restore consistent
printf 'scribble' | dd of="$d/disk.img" bs=512 seek=3 conv=notrunc 2>/dev/null

guest_start "$VESSEL" run --restore "$d/s1" --qmp "unix:$sock"
if wait_reached $((n + 10)); then ok "vessel run --restore: the workload goes on ($(guest_elapsed) s to ctr $((n + 10)))"
else nok "vessel run --restore: the workload goes on"; guest_tail 20 | sed 's/^/# /'; exit 1; fi
check "restore: the saved disk was put back" grep -q "disk vda put back at $d/disk.img" "$GUEST_LOG"
out=$(q query-balloon 2>&1)
check "restore: the balloon still holds 64 MiB ($out)" test "$out" = '{"actual":201326592}'
q balloon '{"value":268435456}' >/dev/null
wait_balloon 268435456 && ok "restore: the guest deflates the balloon when asked (device and guest agree)" ||
    nok "restore: deflate to 256 MiB: $(q query-balloon 2>&1)"
first=$(ctrs "$GUEST_LOG" | head -1 | cut -d' ' -f1)
check "restore: the console goes on at ctr $((n + 1)), the one after the snapshot's $n (got $first)" test "$first" = $((n + 1))
sums=$(ctrs "$GUEST_LOG" | while read -r i s; do
    [ "$(echo "n=$i" | md5sum | cut -c1-8)" = "$s" ] || echo "bad $i"; done)
check "restore: every counter's checksum is right" test -z "$sums"
check "restore: the counters go up by one (none repeated, none lost)" \
    bash -c "$(declare -f ctrs); ctrs '$GUEST_LOG' | awk 'NR > 1 && \$1 != p + 1 { exit 1 } { p = \$1 }'"
# stop the loops (each finishes its step), then look at memory
guest_run 'touch /tmp/stop; wait' >/dev/null
m=$(lastctr "$GUEST_LOG") jj=$(lastbig "$GUEST_LOG")
mem=$(guest_run 'cat /tmp/ctr' | grep -E '^[0-9]+$' | tail -1)
check "restore: the counter in guest memory is the last one printed ($mem = $m, past the snapshot's $n)" \
    test "$mem" = "$m" -a "$m" -gt "$n"

# the hostfwd connection: vm-snapshot, then vm-restore in this process
guest_send 'rm -f /tmp/f; mkfifo /tmp/f; (nc -l -p 7777 < /tmp/f | cat > /tmp/f) &'
res=$(python3 - "$port" "$VESSEL" "$sock" "$d/s2" 2>&1 <<'PY'
import socket, subprocess, sys, time
port, vessel, sock, snap = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
def echo(c, word):
    c.sendall(word.encode() + b"\n")
    got = b""
    while not got.endswith(b"\n"):
        chunk = c.recv(100)
        if not chunk:
            return "closed"
        got += chunk
    return got.decode().strip()
c = None
for _ in range(600):                # the guest's listener comes up
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=60)
        if echo(c, "one") == "one":
            break
    except OSError:
        pass
    c = None
    time.sleep(0.1)
if c is None:
    print("no echo before the snapshot"); sys.exit()
def qmp(*a):
    p = subprocess.run([vessel, "qmp", sock, *a], capture_output=True, text=True)
    return (p.stdout + p.stderr).strip()
# (data exchanged between the two would be lost to the rolled-back guest:
# libslirp's state does not carry its TCP sockets; docs/snapshot.md)
r1 = qmp("vm-snapshot", '{"path":"%s"}' % snap)
r2 = qmp("vm-restore", '{"path":"%s"}' % snap)
try:
    r3 = echo(c, "two")
except OSError as e:
    r3 = str(e)
print("ok" if (r1, r2, r3) == ("{}", "{}", "two") else repr((r1, r2, r3)))
PY
)
check "a hostfwd connection survives vm-snapshot and a later vm-restore ($res)" test "$res" = ok

# check the disk from the host
rc=0; guest_poweroff 120 || rc=$?
check "the restored guest powers off (status $rc)" test $rc -eq 0
bad=$(python3 - "$d/disk.img" "$m" "$jj" <<'PY'
import hashlib, sys
img, m, j = sys.argv[1], int(sys.argv[2]), sys.argv[3]
data = open(img, "rb").read()
bad = []
for i in range(1, m + 1):
    want = "%08d %s\n" % (i, hashlib.md5(("n=%d\n" % i).encode()).hexdigest()[:8])
    if data[512 * i:512 * i + len(want)].decode(errors="replace") != want:
        bad.append(i)
big = data[8 << 20:9 << 20]
lines = set(big.decode(errors="replace").split("\n")[:-1])
print("sectors %s; big %s" % (bad[:5] or "ok", "ok" if lines == {j} else sorted(lines)[:3]))
PY
)
check "the disk: sectors 1..$m hold their counters, the 1 MiB region the last big ($jj) ($bad)" \
    test "$bad" = "sectors ok; big ok"

# two harts: a ticker pinned to each; both go on with their next number
# after vm-snapshot paused + kill -9 + --restore (hart 1 was started by
# Linux through SBI HSM: its HSM state travels too)
guest_start "$VESSEL" run --smp 2 --kernel "$KERNEL" --initrd "$INITRD" --qmp "unix:$sock"
guest_wait_ready || { nok "the default guest boots with --smp 2"; exit 1; }
for c in 0 1; do
    guest_send "taskset -c $c sh -c 'i=0; while :; do i=\$((i+1)); echo \"h$c \$i\"; usleep 20000; done' &"
done
lasth() { tr -d '\r' < "$GUEST_LOG" | grep -aoE "^h$1 [0-9]+$" | tail -1 | cut -d' ' -f2; }
both() { [ "$(lasth 0)" -ge "$1" ] 2>/dev/null && [ "$(lasth 1)" -ge "$1" ] 2>/dev/null; }
wait_both() { local i; for ((i = 0; i < $(slow 1200); i++)); do both "$1" && return 0; guest_alive_ || return 1; sleep 0.1; done; return 1; }
wait_both 5 || { nok "a ticker on each hart runs"; guest_tail 10 | sed 's/^/# /'; exit 1; }
out=$(q vm-snapshot "{\"path\":\"$d/s3\",\"paused\":true}" 2>&1)
h0=$(lasth 0) h1=$(lasth 1)
kill -9 "$GUEST_PID"; guest_wait_exit 30 >/dev/null
check "--smp 2: vm-snapshot paused ($out; h0 at $h0, h1 at $h1)" test "$out" = "{}"
cp "$GUEST_LOG" "$d/s3-source.log"
guest_start "$VESSEL" run --restore "$d/s3"
wait_both $((h1 + 5)); wait_both $((h0 + 5))
# the pause can cut a line: its start ends the source's console and its rest
# begins the restored one's, so the two consoles are read as one stream
# (the snapshot-time line h0 11 was seen split that way: "got 12")
nexth() { cat "$d/s3-source.log" "$GUEST_LOG" | tr -d '\r' | grep -aoE "^h$1 [0-9]+$" | cut -d' ' -f2 |
          awk -v h="$2" 'p { print; exit } $1 == h { p = 1 }'; }
check "--smp 2: after --restore hart 0's ticker goes on at $((h0 + 1)) (got $(nexth 0 "$h0"))" test "$(nexth 0 "$h0")" = $((h0 + 1))
check "--smp 2: after --restore hart 1's ticker goes on at $((h1 + 1)) (got $(nexth 1 "$h1"))" test "$(nexth 1 "$h1")" = $((h1 + 1))
check "--smp 2: both run on (h0 $(lasth 0), h1 $(lasth 1))" both $((h1 > h0 ? h1 + 5 : h0 + 5))
