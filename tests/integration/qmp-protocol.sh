# The QMP socket of `vessel run` as a protocol: a machine running a two-
# instruction bare-metal program (wfi; j .) is driven over --qmp with a raw
# socket client (tests/qmp-raw.py), socat and `vessel qmp`: the socket's
# mode, the greeting, negotiation, errors for malformed JSON, non-objects,
# unknown commands, bad arguments and a 1 MiB request (each followed by a
# command that is still answered on the same connection), clients that
# leave mid-request, many clients in turn, `,server` waiting for a client,
# bad --qmp values, and quit (reply, SHUTDOWN event, exit 0, socket gone).
. "$SRC/tests/lib.sh"
d=$(mktemp -d "${TMPDIR:-/tmp}/vessel-qmp.XXXXXX")
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$d"; }
trap cleanup EXIT
raw() { timeout 60 python3 "$SRC/tests/qmp-raw.py" "$@"; }
sock=$d/qmp.sock
# wfi; j .  (an idle hart: no interrupt is ever enabled)
printf '\x73\x00\x50\x10\x6f\x00\x00\x00' > "$d/idle.bin"

# wait_for COND...: poll a condition (at most 30 s)
wait_for() { local i; for ((i = 0; i < 600; i++)); do "$@" && return 0; sleep 0.05; done; return 1; }

start() {
    ( umask 000; exec "$VESSEL" run --bios "$d/idle.bin" --serial null --qmp "$1" ) >"$d/vm.log" 2>&1 &
    pid=$!
}

start "unix:$sock,server,wait=off"
if ! wait_for test -S "$sock"; then
    nok "the socket appears"; cat "$d/vm.log" | sed 's/^/# /'; exit 1
fi
mode=$(stat -c %a "$sock")
check "socket is mode 0600 under umask 000 (got $mode)" test "$mode" = 600

# greeting and negotiation
out=$(printf '{"execute":"query-status"}\n{"execute":"qmp_capabilities","id":"n"}\n{"execute":"query-status","id":1}\n' |
      raw "$sock" 3)
greet=$(head -1 <<<"$out")
check "greeting: {\"QMP\": {\"version\": {\"qemu\": ...}, \"capabilities\": []}}" \
    python3 -c 'import json,sys; g=json.loads(sys.argv[1])["QMP"]; assert g["capabilities"]==[] and "major" in g["version"]["qemu"]' "$greet"
check "a command before qmp_capabilities: CommandNotFound" \
    grep -q '"error":{"class":"CommandNotFound","desc":"Expecting capabilities negotiation' <<<"$out"
check "qmp_capabilities returns {} with its id" grep -qx '{"return":{},"id":"n"}' <<<"$out"
check "query-status after negotiation: running, id echoed" \
    grep -qx '{"return":{"status":"running","singlestep":false,"running":true},"id":1}' <<<"$out"
echo "$out" | sed 's/^/# /'

neg='{"execute":"qmp_capabilities"}'
# malformed JSON, a non-object, bad members: an error each, the next line still served
out=$(printf '%s\n{"execute": nope}\n[1,2]\n{"execute":"query-status","arguments":{"x":1}}\n{"execute":"query-status","foo":1}\n{"execute":"query-status","id":"after"}\n' "$neg" |
      raw "$sock" 6)
check "malformed JSON: GenericError 'JSON parse error'" \
    grep -q '"class":"GenericError","desc":"JSON parse error' <<<"$out"
check "a JSON array: GenericError 'QMP input must be a JSON object'" \
    grep -q '"desc":"QMP input must be a JSON object"' <<<"$out"
check "an unexpected argument: GenericError \"Parameter 'x' is unexpected\"" \
    grep -q "\"desc\":\"Parameter 'x' is unexpected\"" <<<"$out"
check "an unexpected member: GenericError" grep -q "\"desc\":\"QMP input member 'foo' is unexpected\"" <<<"$out"
check "after the errors the same connection is served" grep -q '"running":true},"id":"after"' <<<"$out"

# unknown command: the client exits 1 with one line naming the class
expect_fail "vessel qmp of an unknown command: exit 1, CommandNotFound" \
    '^vessel: qmp: CommandNotFound: The command no-such-command has not been found$' \
    "$VESSEL" qmp "$sock" no-such-command
expect_fail "vessel qmp with JSON-ARGS that are not an object: exit 2" "JSON-ARGS '\[1\]': not a JSON object" \
    "$VESSEL" qmp "$sock" query-status '[1]'

# a 1 MiB request: refused with an error, then the next line is served
python3 -c '
import sys
sys.stdout.write("{\"execute\":\"qmp_capabilities\"}\n")
sys.stdout.write("{\"execute\":\"query-status\",\"id\":\"" + "a" * (1 << 20) + "\"}\n")
sys.stdout.write("{\"execute\":\"query-status\",\"id\":\"small\"}\n")' > "$d/big"
out=$(raw "$sock" 3 < "$d/big")
check "a 1 MiB request: GenericError 'JSON request larger than 65536 bytes'" \
    grep -q '"desc":"JSON request larger than 65536 bytes: ignored"' <<<"$out"
check "the request after it is answered" grep -q '"id":"small"' <<<"$out"
check "the machine survived the 1 MiB request" kill -0 "$pid"

# clients that leave: mid-request, and after a command before its reply
printf '%s\n{"execute":"query-sta' "$neg" | raw "$sock" 0 --close-after-send >/dev/null
printf '%s\n{"execute":"query-status"}\n' "$neg" | raw "$sock" 0 --close-after-send >/dev/null
out=$("$VESSEL" qmp "$sock" query-status 2>&1)
check "a client leaving mid-request, another before its reply: the next is served ($out)" \
    test "$out" = '{"status":"running","singlestep":false,"running":true}'

# clients in turn
n=0
for i in $(seq 20); do
    "$VESSEL" qmp "$sock" query-version >/dev/null && n=$((n + 1))
done
check "20 clients in turn: all served ($n)" test "$n" -eq 20

out=$("$VESSEL" qmp "$sock" query-cpus-fast)
tid=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])[0]["thread-id"])' "$out")
check "query-cpus-fast: cpu 0's thread-id is a thread of vessel ($tid)" test -d "/proc/$pid/task/$tid"
# PCI hotplug: vessel run's virtio is on virtio-mmio, which has no hotplug
out=$("$VESSEL" qmp "$sock" device_add '{"driver":"virtio-blk-pci","id":"d1","file":"/nonexistent"}' 2>&1)
check "device_add of virtio-blk-pci on vessel run: one line naming why ($out)" \
    grep -q "device_add of 'virtio-blk-pci': this machine's virtio devices are on virtio-mmio, which has no hotplug" <<<"$out"
out=$("$VESSEL" qmp "$sock" query-pci 2>&1)
check "query-pci on vessel run: no PCI bus ($out)" grep -q "this machine has no PCI bus" <<<"$out"
out=$("$VESSEL" qmp "$sock" query-commands)
for c in qmp_capabilities query-status system_powerdown quit query-cpus-fast query-block query-version query-commands; do
    grep -q "\"name\":\"$c\"" <<<"$out" || nok "query-commands lists $c"
done
ok "query-commands lists the commands served"

# socat, a plain socket client: the whole exchange ending in quit
if have socat; then
    out=$(printf '%s\n{"execute":"query-status"}\n{"execute":"quit"}\n' "$neg" | timeout 60 socat -t 30 - "UNIX-CONNECT:$sock")
    echo "$out" | sed 's/^/# socat: /'
    check "socat: quit returns {}" grep -qx $'{"return":{}}\r' <<<"$out"
    check "socat: then SHUTDOWN, guest false, reason host-qmp-quit, with a timestamp" \
        grep -qE '^\{"event":"SHUTDOWN","data":\{"guest":false,"reason":"host-qmp-quit"\},"timestamp":\{"seconds":[0-9]+,"microseconds":[0-9]+\}\}' <<<"$out"
else
    "$VESSEL" qmp "$sock" quit >/dev/null
    skip "socat exchange" "socat not installed (scripts/deps.sh installs it)"
fi
wait "$pid"; rc=$?; pid=
check "vessel exits 0 after quit (got $rc)" test $rc -eq 0
check "the socket file is removed" test ! -e "$sock"

# ,server alone waits for a client before the guest runs (QEMU's wait=on)
start "unix:$sock,server"
if wait_for grep -q "waiting for a connection on unix:$sock" "$d/vm.log"; then
    ok "',server': waits for a client (stderr says so)"
else
    nok "',server': waits for a client"
fi
out=$("$VESSEL" qmp "$sock" query-status)
check "',server': the first client is served ($out)" grep -q '"running":true' <<<"$out"
kill -TERM "$pid"; wait "$pid"; rc=$?; pid=
check "SIGTERM: exit 143 (got $rc)" test $rc -eq 143

# bad --qmp values: one line naming the value, status 2
expect_fail "--qmp tcp:...: refused" "--qmp tcp:127.0.0.1:4444: only unix:PATH" \
    "$VESSEL" run --bios "$d/idle.bin" --qmp tcp:127.0.0.1:4444
expect_fail "--qmp ,bogus option: refused" "unknown option" \
    "$VESSEL" run --bios "$d/idle.bin" --qmp "unix:$sock,bogus"
for eng in run kvm; do
    expect_fail "$eng: a second --qmp: refused" "--qmp unix:$d/b.sock: one --qmp socket only" \
        "$VESSEL" $eng --kernel "$d/idle.bin" --qmp "unix:$d/a.sock" --qmp "unix:$d/b.sock"
done
touch "$d/file"
expect_fail "--qmp on an existing non-socket: refused" "exists and is not a socket" \
    "$VESSEL" run --bios "$d/idle.bin" --qmp "unix:$d/file"
expect_fail "vessel qmp to no socket: exit 2" "qmp: $d/none: No such file or directory" \
    "$VESSEL" qmp "$d/none" query-status
