# The standby's detection timeout without `timeout=MS` (docs/replication.md,
# "Failover"): 1000 ms, raised to 4 times the longest wait for the
# primary's data seen so far (at most 10 s), so that a live primary held
# back by a loaded host does not look dead. The primary is stopped
# (SIGSTOP, its stream goes silent) for 0.6 s: the standby's max-gap-ms is
# at least that and its timeout-ms 4 times it; then for 1.4 s, longer than
# the first timeout: the standby must not take over (with a fixed 1000 ms it
# would), and the guest goes on replicated. Then SIGKILL: it takes over.
# (The two sleeps between SIGSTOP and SIGCONT are the stall being tested,
# its length; every wait for an outcome polls its condition.)
. "$SRC/tests/lib.sh"
have python3 || { echo "python3 missing" >&2; exit 77; }
line=$(bash "$SRC/guest/build.sh" --print riscv64 2>/dev/null) || { echo "riscv64 guest not built (make guest)" >&2; exit 77; }
KERNEL= INITRD=
eval "$line"
d=$(mktemp -d "${TMPDIR:-/tmp}/vessel-repltmo.XXXXXX")
pp= sp=
cleanup() {
    for p in $pp $sp; do kill -CONT "$p" 2>/dev/null; kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$d"
}
trap cleanup EXIT
vm=(run -m 64M --kernel "$KERNEL" --initrd "$INITRD" --append "console=ttyS0")
field() { "$VESSEL" qmp "$1" query-replication 2>/dev/null | python3 -c "import json,sys; print(json.load(sys.stdin).get('$2', ''))" 2>/dev/null; }
waitfor() { local end=$(( $(date +%s) + $1 )); shift; while ! "$@"; do [ "$(date +%s)" -ge "$end" ] && return 1; sleep 0.1; done; }
acked() { [ "$(field "$d/p.qmp" last-ack)" -ge "$1" ] 2>/dev/null; }
role_is() { [ "$(field "$d/s.qmp" role)" = "$1" ]; }

"$VESSEL" "${vm[@]}" --standby "unix:$d/r.sock" --qmp "unix:$d/s.qmp" </dev/null >"$d/s.log" 2>&1 &
sp=$!
waitfor "$(slow 30)" test -S "$d/r.sock" || { nok "the standby listens"; exit 0; }
"$VESSEL" "${vm[@]}" --replicate "unix:$d/r.sock" --qmp "unix:$d/p.qmp" </dev/null >"$d/p.log" 2>&1 &
pp=$!
check "the primary replicates" waitfor "$(slow 120)" acked 5
check "the standby's timeout-ms starts at 1000 or above" test "$(field "$d/s.qmp" timeout-ms)" -ge 1000

kill -STOP "$pp"; sleep 0.6; kill -CONT "$pp"
e=$(field "$d/p.qmp" last-ack)
waitfor "$(slow 30)" acked $((e + 3))
gap=$(field "$d/s.qmp" max-gap-ms) tmo=$(field "$d/s.qmp" timeout-ms)
want=$((4 * ${gap:-0})); [ $want -gt 10000 ] && want=10000
check "a 0.6 s silence: max-gap-ms $gap >= 600, timeout-ms $tmo = 4 x that, at most 10000" \
    test "${gap:-0}" -ge 600 -a "${tmo:-0}" -ge $want -a "${tmo:-0}" -le 10000

kill -STOP "$pp"; sleep 1.4; kill -CONT "$pp"
e=$(field "$d/p.qmp" last-ack)
check "a 1.4 s silence next: the guest goes on replicated" waitfor "$(slow 30)" acked $((e + 3))
check "the standby did not take over" role_is standby
check "and the primary runs on" kill -0 "$pp"

kill -9 "$pp"; wait "$pp" 2>/dev/null; pp=
check "SIGKILL of the primary: the standby takes over" waitfor "$(slow 30)" role_is primary
