# The goldfish RTC's alarm (tests/guests/riscv-sys/rtc.c, bare metal on
# vessel run): it fires its interrupt no earlier than programmed, at once
# when in the past, never when disarmed, and with the line held low until
# enabled; an alarm armed when the machine is paused (QMP stop) fires after
# cont; one armed when a snapshot is taken (vm-snapshot, kill -9) fires in
# the restored machine (its state goes through the device's save/load).
. "$SRC/tests/lib.sh"
have riscv64-linux-gnu-gcc || { echo "riscv64-linux-gnu-gcc missing (package gcc-riscv64-linux-gnu)" >&2; exit 77; }
d=$(mktemp -d "${TMPDIR:-/tmp}/vessel-rtc.XXXXXX"); pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$d"' EXIT
wait_for() { local i; for ((i = 0; i < $(slow 600); i++)); do "$@" && return 0; sleep 0.05; done; return 1; }
if ! bash "$SRC/tests/guests/riscv-sys/build.sh" "$d/bin" >"$d/build.log" 2>&1; then
    nok "build the bare-metal programs: $(tail -n 3 "$d/build.log" | tr '\n' ' ')"
    exit 0
fi
elf=$d/bin/rtc.elf
sock=$d/q.sock
q() { "$VESSEL" qmp "$sock" "$@"; }
armed() { grep -q '^rtc: armed' "$1"; }
now_ns() { date +%s%N; }

# 1: every check of the program
timeout 60 "$VESSEL" run --kernel "$elf" -m 32M </dev/null >"$d/out1" 2>&1; rc=$?
sed 's/^/# /' "$d/out1"
check "the alarm checks pass (status $rc)" grep -q '^riscv-sys rtc: PASS' "$d/out1"
check "the first alarm fired no earlier than programmed" grep -qE '^rtc: the alarm fired [0-9]+ ms after its time' "$d/out1"

# 2: paused while the last alarm is armed, until past its time: it fires after cont
"$VESSEL" run --kernel "$elf" -m 32M --qmp "unix:$sock" </dev/null >"$d/out2" 2>&1 &
pid=$!
if wait_for armed "$d/out2"; then
    q stop >/dev/null
    deadline=$(( $(now_ns) + 2500000000 ))
    while [ "$(now_ns)" -lt $deadline ]; do sleep 0.1; done     # the alarm's time passes, paused
    st=$(q query-status)
    check "paused past the alarm's time ($st)" grep -q '"status":"paused"' <<<"$st"
    q cont >/dev/null
    wait_for grep -q '^rtc: the last alarm fired' "$d/out2"
    check "after cont the alarm fires" grep -q '^rtc: the last alarm fired' "$d/out2"
    wait $pid; rc=$?; pid=
    check "the program ends with PASS (status $rc)" test $rc -eq 0
else
    nok "the program reaches its last alarm"; sed 's/^/# /' "$d/out2"
fi
[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; pid=

# 3: a snapshot with the alarm armed, the process killed, the snapshot restored
rm -f "$sock"
"$VESSEL" run --kernel "$elf" -m 32M --qmp "unix:$sock" </dev/null >"$d/out3" 2>&1 &
pid=$!
if wait_for armed "$d/out3"; then
    out=$(q vm-snapshot "{\"path\":\"$d/snap\",\"paused\":true}" 2>&1)
    check "vm-snapshot with the alarm armed ($out)" test "$out" = "{}"
    kill -9 $pid; wait $pid 2>/dev/null; pid=
    check "no alarm in the killed process" test -z "$(grep '^rtc: the last alarm fired' "$d/out3")"
    rm -f "$sock"
    timeout 60 "$VESSEL" run --restore "$d/snap" </dev/null >"$d/out4" 2>&1; rc=$?
    sed 's/^/# /' "$d/out4"
    check "the restored machine gets the alarm" grep -q '^rtc: the last alarm fired' "$d/out4"
    check "and the program passes (status $rc)" test $rc -eq 0
else
    nok "the program reaches its last alarm"; sed 's/^/# /' "$d/out3"
fi
