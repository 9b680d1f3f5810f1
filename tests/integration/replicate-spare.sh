# `vessel spare --config FILE`, the hot-spare supervisor (docs/replication.md),
# with the default riscv64 guest on user networking (a hostfwd port both
# sides name: the standby binds it only when it takes over). The supervisor
# starts a standby and a primary replicating to it; a SIGKILLed standby is
# started again and the primary protected again (a new replication, epochs
# from 0); a SIGKILLed primary is replaced by its standby (role primary,
# the guest running) and a new standby protects it; SIGTERM to the
# supervisor ends every vessel and the supervisor with status 0. Bad
# configurations are refused with one line naming the value.
. "$SRC/tests/lib.sh"
have python3 || { echo "python3 missing" >&2; exit 77; }
line=$(bash "$SRC/guest/build.sh" --print riscv64 2>/dev/null) || { echo "riscv64 guest not built (make guest)" >&2; exit 77; }
KERNEL= INITRD=
eval "$line"
d=$(mktemp -d "${TMPDIR:-/tmp}/vessel-spare.XXXXXX")
sup=
cleanup() {
    [ -n "$sup" ] && kill -9 "$sup" 2>/dev/null
    for p in $(pgrep -f -- "unix:$d/st/"); do kill -9 "$p" 2>/dev/null; done
    rm -rf "$d"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# bad configurations
echo '{"guests": [{"name": "a b", "primary": [], "standby": []}]}' > "$d/bad1.json"
expect_fail "a bad guest name is refused" 'name' "$VESSEL" spare --config "$d/bad1.json"
echo '{"guests": [{"name": "g", "primary": ["--qmp", "unix:/x"], "standby": []}]}' > "$d/bad2.json"
expect_fail "--qmp in a guest's options is refused (the supervisor gives it)" 'primary.*\[0\].*--qmp' \
    "$VESSEL" spare --config "$d/bad2.json"
echo '{"guests": [' > "$d/bad3.json"
expect_fail "a file that is not JSON is refused" 'bad3.json' "$VESSEL" spare --config "$d/bad3.json"

truncate -s 4M "$d/a.img" "$d/b.img"
common="\"--kernel\", \"$KERNEL\", \"--initrd\", \"$INITRD\", \"-m\", \"64M\", \"--net\", \"user,hostfwd=tcp::$port-:7777\""
cat > "$d/spare.json" <<EOF
{"state-dir": "$d/st",
 "guests": [{"name": "g1", "period-ms": 25, "timeout-ms": $(slow 5000),
             "primary": [$common, "--disk", "$d/a.img"],
             "standby": [$common, "--disk", "$d/b.img"]}]}
EOF
"$VESSEL" spare --config "$d/spare.json" > "$d/spare.log" 2>&1 &
sup=$!
qmp() { "$VESSEL" qmp "$d/st/g1-$1.qmp" "${@:2}" 2>/dev/null; }
field() { qmp "$1" query-replication | python3 -c "import json,sys; print(json.load(sys.stdin).get('$2', ''))" 2>/dev/null; }
protected() { [ "$(field "$1" role)" = primary ] && [ "$(field "$1" status)" = active ] && [ "$(field "$1" last-ack)" -ge "${2:-1}" ] 2>/dev/null; }
waitfor() { local end=$(( $(date +%s) + $1 )); shift; while ! "$@"; do [ "$(date +%s)" -ge "$end" ] && return 1; sleep 0.1; done; }
pid_of() { pgrep -P "$sup" -f -- "--qmp unix:$d/st/g1-$1.qmp" | head -1; }

check "the supervisor starts a primary replicating to a standby" waitfor "$(slow 120)" protected a
check "the standby says so" bash -c "'$VESSEL' qmp '$d/st/g1-b.qmp' query-replication | grep -q '\"role\":\"standby\"'"
# its timeout as configured, and the longest wait for the primary's data
# (epoch 0 on: every epoch is data) well inside it
gap=$(field b max-gap-ms) tmo=$(field b timeout-ms)
check "the standby's timeout-ms ($tmo) is the configured one, its max-gap-ms ($gap) below it" \
    test "$tmo" = "$(slow 5000)" -a -n "$gap" -a "${gap:-99999}" -lt "${tmo:-0}"
out=$("$VESSEL" qmp "$d/st/g1-a.qmp" migrate "{\"uri\": \"unix:$d/nowhere.sock\"}" 2>&1)
check "migrate is refused while the guest is replicated ($out)" grep -q 'being replicated' <<<"$out"
waitfor "$(slow 120)" grep -aq '^vessel-guest: ready' "$d/st/g1-a.log" || { nok "the guest boots"; tail -5 "$d/st/g1-a.log" | sed 's/^/# /'; }

# the standby dies: a new one, and the primary protected again
old=$(pid_of b)
kill -9 "$old"
newsb() { local p; p=$(pid_of b); [ -n "$p" ] && [ "$p" != "$old" ]; }
check "a SIGKILLed standby is started again" waitfor "$(slow 60)" newsb
check "and the primary replicates to it (epochs again from 0)" waitfor "$(slow 120)" protected a
grep -aq 'the standby died (killed by signal 9): starting another' "$d/spare.log" && ok "the supervisor says why" || nok "the supervisor says why"

# the primary dies: its standby takes over and gets a standby of its own
pa=$(pid_of a)
kill -9 "$pa"
if waitfor "$(slow 60)" bash -c "'$VESSEL' qmp '$d/st/g1-b.qmp' query-status 2>/dev/null | grep -q '\"running\":true' && '$VESSEL' qmp '$d/st/g1-b.qmp' query-replication 2>/dev/null | grep -q '\"role\":\"primary\"'"; then
    ok "a SIGKILLed primary: its standby takes over and runs the guest"
else
    nok "a SIGKILLed primary: its standby takes over and runs the guest"; tail -n 5 "$d/st/g1-b.log" "$d/spare.log" | sed 's/^/# /'
fi
newa() { local p; p=$(pid_of a); [ -n "$p" ] && [ "$p" != "$pa" ]; }
check "a new standby is started for the new primary, with the dead primary's options" waitfor "$(slow 60)" newa
check "the new primary is protected" waitfor "$(slow 120)" protected b
grep -aq 'replication: failover' "$d/st/g1-b.log" && ok "the old standby's log has the failover" || nok "the old standby's log has the failover"

kill -TERM "$sup"
rc=0; wait "$sup" || rc=$?
sup=
check "SIGTERM ends the supervisor (status $rc) and every vessel it started" \
    bash -c "[ $rc -eq 0 ] && ! pgrep -f -- '[-]-qmp unix:$d/st/' >/dev/null"
