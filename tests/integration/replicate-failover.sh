# Hot-spare replication of the default riscv64 guest (docs/replication.md).
# The guest appends numbered, checksummed records to its disk (record i in
# sector i: "%08d md5"), each written with O_DIRECT and fsync'ed, and after
# each one sends "ack i md5" over one TCP connection to a client on the
# host, through a persistent tap device in a network namespace this test
# makes. The primary replicates to a standby (`--standby`, its own disk
# file); the test SIGKILLs the primary at random moments REPL_KILLS times
# (default 20), each time checking that the standby took over
# (REPLICATION_FAILOVER, query-replication), that every record the client
# had seen acknowledged before the kill is on the new primary's disk, and
# that the client's one connection goes on; then it starts a fresh standby
# for the new primary (vm-replicate: re-protection). At the end the client
# has seen every record once, in order, each with its right checksum, on
# one connection; and at every 20th epoch's cut the standby's RAM was the
# primary's (VESSEL_TEST_REPL_VERIFY, machine/replverify.h: hashed on both
# sides).
. "$SRC/tests/lib.sh"
have python3 || { echo "python3 missing" >&2; exit 77; }
line=$(bash "$SRC/guest/build.sh" --print riscv64 2>/dev/null) || { echo "riscv64 guest not built (make guest)" >&2; exit 77; }
KERNEL= INITRD=
eval "$line"
if [ "$(id -u)" != 0 ] || [ ! -c /dev/net/tun ] || ! have ip; then
    skip "replication with failover over a tap" "needs root, /dev/net/tun and iproute2"
    exit 0
fi
KILLS=${REPL_KILLS:-20}
# a loaded host (the CI runs tests side by side, ASan) must not look like a dead primary
TMO=$(slow 5000)
d=$(mktemp -d "${TMPDIR:-/tmp}/vessel-repl.XXXXXX")
mkdir "$d/verify"
ns=vslrep$$ tap=vslrt$$
pids=()
client_pid=
cleanup() {
    for p in "${pids[@]}" $client_pid; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    ip netns del "$ns" 2>/dev/null
    [ -n "${KEEP:-}" ] || rm -rf "$d"
}
trap cleanup EXIT
ip netns add "$ns" || { skip "replication with failover over a tap" "cannot create a network namespace"; exit 0; }
ip -n "$ns" tuntap add dev "$tap" mode tap vnet_hdr 2>/dev/null || ip -n "$ns" tuntap add dev "$tap" mode tap ||
    { skip "replication with failover over a tap" "cannot create a persistent tap device"; exit 0; }
ip -n "$ns" addr add 10.231.7.1/24 dev "$tap"
ip -n "$ns" link set "$tap" up
ip -n "$ns" link set lo up

# the client: one connection, every line logged at once
ip netns exec "$ns" python3 -u - "$d/client.log" <<'PY' &
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.231.7.1", 7100))
s.listen(4)
out = open(sys.argv[1], "w", buffering=1)
c, _ = s.accept()
out.write("connected\n")
s.settimeout(0.5)
buf = b""
while True:
    try:
        extra, _ = s.accept()       # a second connection would mean the first one broke
        out.write("another connection\n")
        extra.close()
    except OSError:
        pass
    c.settimeout(0.5)
    try:
        chunk = c.recv(65536)
    except socket.timeout:
        continue
    if not chunk:
        out.write("closed\n")
        break
    buf += chunk
    while b"\n" in buf:
        line, buf = buf.split(b"\n", 1)
        out.write(line.decode(errors="replace") + "\n")
PY
client_pid=$!

# start_vm NAME ARGS...: a vessel run in the namespace, console on NAME.log, input from NAME.in
start_vm() {
    local name=$1; shift
    mkfifo "$d/$name.in"
    VESSEL_TEST_REPL_VERIFY=$d/verify ip netns exec "$ns" "$VESSEL" run --kernel "$KERNEL" --initrd "$INITRD" -m 64M --append "console=ttyS0 vessel.nonet" \
        --net "tap,ifname=$tap" --qmp "unix:$d/$name.qmp" "$@" <"$d/$name.in" >"$d/$name.log" 2>&1 &
    pids+=($!)
    eval "pid_$name=$!"
    exec {fd}>"$d/$name.in"
    eval "in_$name=$fd"
}
waitfor() {     # waitfor SECS CMD...: poll CMD until it succeeds
    local end=$(( $(date +%s) + $1 )); shift
    while ! "$@"; do [ "$(date +%s)" -ge "$end" ] && return 1; sleep 0.05; done
}
qmp() { "$VESSEL" qmp "$d/$1.qmp" "${@:2}" 2>/dev/null; }
repl_epoch() { qmp "$1" query-replication | grep -o '"last-ack":[0-9]*' | cut -d: -f2; }
acked() { grep -aE '^ack [0-9]+ [0-9a-f]{8}$' "$d/client.log" | tail -1 | cut -d' ' -f2; }
acked_past() { local a; a=$(acked); [ "${a:-0}" -gt "$1" ]; }
epoch_past() { local e; e=$(repl_epoch "$1"); [ "${e:--1}" -ge "$2" ] 2>/dev/null; }
# on_disk IMG N: records 1..N are in IMG
on_disk() { python3 - "$@" <<'PY'
import hashlib, sys
img, n = sys.argv[1], int(sys.argv[2])
with open(img, "rb") as f:
    data = f.read(512 * (n + 1))
for i in range(1, n + 1):
    want = "%08d %s\n" % (i, hashlib.md5(("r=%d\n" % i).encode()).hexdigest()[:8])
    if data[512 * i:512 * i + len(want)].decode(errors="replace") != want:
        print("record %d of %d missing" % (i, n)); sys.exit(1)
PY
}

# generation 0: standby first, then the primary replicating to it
gen=0
truncate -s 4M "$d/disk0.img" "$d/disk1.img"
start_vm s1 --disk "$d/disk1.img" --standby "unix:$d/rep1.sock,timeout=$TMO"
waitfor "$(slow 30)" test -S "$d/rep1.sock" || { nok "the standby listens"; exit 1; }
start_vm p0 --disk "$d/disk0.img" --replicate "unix:$d/rep1.sock"
if ! waitfor "$(slow 120)" grep -aq '^vessel-guest: ready' "$d/p0.log"; then
    nok "the primary boots while replicating"; tail -20 "$d/p0.log" | sed 's/^/# /'; exit 1
fi
ok "the primary boots while replicating (standby: epoch $(repl_epoch s1))"
cmd='ifconfig eth0 10.231.7.2 netmask 255.255.255.0 up; i=0; while true; do i=$((i+1)); s=$(echo "r=$i" | md5sum | cut -c1-8); printf "%08d %s\n" $i $s | dd of=/dev/vda bs=512 seek=$i conv=notrunc,fsync oflag=direct 2>/dev/null || break; echo "ack $i $s"; done | nc 10.231.7.1 7100 &'
printf '%s\n' "$cmd" >&"$in_p0"
waitfor "$(slow 180)" acked_past 20 || { nok "the client gets acknowledgements"; tail -n 5 "$d/p0.log" "$d/client.log" | sed 's/^/# /'; exit 1; }
ok "the guest's records reach the client over the tap ($(acked) so far)"

# watch_event NAME OUT: wait on NAME's QMP socket for REPLICATION_FAILOVER, write it to OUT
watch_event() {
    python3 - "$d/$1.qmp" "$2" <<'PY' &
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX); s.settimeout(120); s.connect(sys.argv[1])
f = s.makefile("rwb")
f.readline()
f.write(b'{"execute": "qmp_capabilities"}\n'); f.flush()
while b'"return"' not in f.readline():
    pass
open(sys.argv[2] + ".ready", "w").close()   # subscribed: events from here on reach us
while True:
    line = f.readline()
    if not line:
        break
    m = json.loads(line)
    if m.get("event") == "REPLICATION_FAILOVER":
        open(sys.argv[2], "w").write(json.dumps(m) + "\n"); break
PY
}

primary=p0 standby=s1
fails=0 worst=0
watch_event s1 "$d/event.json"
watcher=$!
waitfor "$(slow 30)" test -e "$d/event.json.ready" || nok "the QMP event watcher did not connect to the standby"
for ((k = 1; k <= KILLS; k++)); do
    # a random moment: 50 to 800 ms after the standby has its first epochs
    sleep "0.$(( RANDOM % 750 + 50 ))"
    a=$(acked); a=${a:-0}
    t0=$(date +%s.%N)
    eval "kill -9 \$pid_$primary; wait \$pid_$primary" 2>/dev/null
    if ! waitfor "$(slow 30)" grep -aq 'replication: failover' "$d/$standby.log"; then
        nok "kill $k: the standby takes over"; tail -5 "$d/$standby.log" | sed 's/^/# /'; fails=$((fails + 1)); break
    fi
    if [ "$k" = 1 ]; then
        wait "$watcher"
        check "kill 1: the standby emits REPLICATION_FAILOVER with the epoch it goes on from ($(cat "$d/event.json" 2>/dev/null))" \
            grep -qE 'REPLICATION_FAILOVER.*"epoch": [0-9]+' "$d/event.json"
    fi
    ms=$(grep -aoE '[0-9.]+ ms after the stream stopped' "$d/$standby.log" | tail -1 | cut -d' ' -f1-2)
    why=$(on_disk "$d/disk$((gen + 1)).img" "$a") || { nok "kill $k: records 1..$a acknowledged before the kill are on the new primary's disk ($why)"; fails=$((fails + 1)); }
    # re-protection: a fresh standby with an empty disk for the new primary
    gen=$((gen + 1)); nxt=s$((gen + 1))
    truncate -s 4M "$d/disk$((gen + 1)).img"
    start_vm "$nxt" --disk "$d/disk$((gen + 1)).img" --standby "unix:$d/rep$((gen + 1)).sock,timeout=$TMO"
    waitfor "$(slow 30)" test -S "$d/rep$((gen + 1)).sock" || { nok "kill $k: a new standby listens"; fails=$((fails + 1)); break; }
    out=$(qmp "$standby" vm-replicate "{\"uri\": \"unix:$d/rep$((gen + 1)).sock\"}")
    # (the guest's TCP retransmits meanwhile: the client's connection goes on)
    if ! waitfor "$(slow 30)" acked_past $((a + 1)); then
        nok "kill $k: the client's connection goes on after the failover (stuck at $(acked))"; fails=$((fails + 1)); break
    fi
    t1=$(python3 -c "print(round($(date +%s.%N) - $t0, 1))")
    if ! waitfor "$(slow 60)" epoch_past "$nxt" 2; then
        nok "kill $k: the new primary replicates to a new standby ($out)"; fails=$((fails + 1)); break
    fi
    t2=$(python3 -c "print(round($(date +%s.%N) - $t0, 1))")
    echo "# kill $k: $a acknowledged at the kill, failover in $ms, now $(acked); cycle $(python3 -c "print(round($(date +%s.%N) - $t0, 1))") s (acks again at +$t1 s, new standby protecting at +$t2 s)"
    primary=$standby standby=$nxt
done
check "$KILLS SIGKILLs of the primary: each time the standby took over with every acknowledged record on its disk, and was re-protected" \
    test "$fails" -eq 0 -a "$k" -gt "$KILLS"
vr=$(repl_verify_result "$d/verify"); vok=$?
check "the standby's RAM was the primary's at every checked cut ($vr)" test "$vok" -eq 0
check "query-replication on the last new primary says primary" \
    bash -c "'$VESSEL' qmp '$d/$primary.qmp' query-replication | grep -q '\"role\":\"primary\"'"
last=$(acked)
why=$(on_disk "$d/disk$gen.img" "${last:-0}")
check "the last primary's disk has every record the client saw acknowledged (1..$last) $why" test -z "$why"
bad=$(grep -aE '^ack ' "$d/client.log" | python3 -c '
import hashlib, sys
p = 0
for line in sys.stdin:
    _, i, s = line.split()
    i = int(i)
    if i != p + 1:
        print("after %d came %d" % (p, i)); break
    if hashlib.md5(("r=%d\n" % i).encode()).hexdigest()[:8] != s:
        print("record %d: bad checksum" % i); break
    p = i
')
check "the client saw records 1..$last once each, in order, with right checksums ($bad)" test -z "$bad" -a "${last:-0}" -gt 20
check "on one TCP connection that never broke" \
    bash -c "[ \$(grep -c connected '$d/client.log') -eq 1 ] && ! grep -qE '^(closed|another connection)' '$d/client.log'"
