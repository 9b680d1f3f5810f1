#!/bin/bash
# QMP on vessel kvm, with the freestanding x86 test guests: query-status at
# each step, stop (STOP, paused; a guest that resets itself in a loop stops
# printing), cont (RESUME, it goes on), system_reset (the idle guest boots
# again: its line twice), system_powerdown (POWERDOWN with a power button;
# a clean GenericError without one), quit (exit 0, socket gone). Needs
# /dev/kvm: on machines without it, the nested tier (kvm-nested.sh) runs it
# inside its L1. Only bash, grep, busybox and vessel: what L1 has.
. "$SRC/tests/lib.sh"
dev=${VESSEL_KVM_DEV:-/dev/kvm}
why=$(x86_guests_missing)
[ -z "$why" ] || { skip "qmp on kvm" "$why"; exit 0; }
if ! [ -r "$dev" ] || ! [ -w "$dev" ]; then
    skip "qmp on kvm" "$dev missing or not accessible (the nested tier runs this test inside its L1)"; exit 0
fi
out=$(mktemp -d); pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$out"' EXIT
x86_guest idle "$out/idle.bz" && x86_guest reset "$out/reset.bz" || { nok "assemble the guests"; exit 0; }
sock=$out/qmp.sock
q() { timeout -k 5 "$(slow 30)" "$VESSEL" qmp "$sock" "$@"; }
st() { q query-status; }
# wait_for COND...: poll a condition, bounded by slow 60
wait_for() { local i n=$(( $(slow 60) * 20 )); for ((i = 0; i < n; i++)); do "$@" && return 0; sleep 0.05; done; return 1; }
count() { grep -c "$1" "$out/vm.out"; }
ge() { [ "$(count "$1")" -ge "$2" ]; }
events_of() { sed -E 's/"timestamp":\{[^}]*\}/T/'; }

"$VESSEL" kvm --kernel "$out/idle.bz" -m 32M --qmp "unix:$sock" >"$out/vm.out" 2>"$out/vm.err" </dev/null & pid=$!
if ! wait_for test -S "$sock" || ! wait_for ge '^H' 1; then
    if grep -q 'emulation failure\|KVM_CREATE_VM' "$out/vm.err"; then skip "qmp on kvm" "KVM unusable: $(head -1 "$out/vm.err")"; exit 0; fi
    nok "the idle guest boots with --qmp ($(head -c 300 "$out/vm.err"))"; exit 0
fi
ok "the idle guest boots with --qmp; the socket is mode $(stat -c %a "$sock")"
check "query-status: running" test "$(st)" = '{"status":"running","singlestep":false,"running":true}'
tid=$(q query-cpus-fast | grep -o '"thread-id":[0-9]*' | head -1 | cut -d: -f2)
check "query-cpus-fast: vCPU 0 is thread $tid of vessel, target x86_64" \
    test -n "$tid" -a -d "/proc/$pid/task/$tid" -a -n "$(q query-cpus-fast | grep -o '"target":"x86_64"')"
check "stop: STOP, then {}" test "$(q --events stop | events_of | tr '\n' ' ')" = '{"event":"STOP",T} {} '
check "query-status: paused" test "$(st)" = '{"status":"paused","singlestep":false,"running":false}'
check "cont: RESUME, then {}" test "$(q --events cont | events_of | tr '\n' ' ')" = '{"event":"RESUME",T} {} '
check "query-status: running again" test "$(st)" = '{"status":"running","singlestep":false,"running":true}'
check "system_reset: {}" test "$(q system_reset)" = '{}'
if wait_for ge '^H' 2; then ok "system_reset: the guest boots again in the same process ($(count '^H') boots)"
else nok "system_reset: the guest boots again ($(count '^H') boots)"; fi
check "query-status after the reset: running" test "$(st)" = '{"status":"running","singlestep":false,"running":true}'
pd=$(q --events system_powerdown 2>&1); rc=$?
if [ $rc -eq 0 ]; then
    check "system_powerdown: {} (POWERDOWN follows)" test "$pd" = '{}'
elif [ "$pd" = "vessel: qmp: GenericError: This machine has no power button" ]; then
    skip "system_powerdown" "this x86 machine has no power button (ACPI) yet: answered '$pd'"
else
    nok "system_powerdown (status $rc: $pd)"
fi
check "quit: {}" test "$(q quit)" = '{}'
wait $pid; rc=$?; pid=
check "quit: vessel exits 0 (got $rc)" test $rc -eq 0
check "quit: the socket file is removed" test ! -e "$sock"

# A guest that resets itself in a loop prints a line per boot: it stops
# printing while paused and goes on after cont.
"$VESSEL" kvm --kernel "$out/reset.bz" -m 32M --qmp "unix:$sock" >"$out/vm.out" 2>"$out/vm.err" </dev/null & pid=$!
if wait_for test -S "$sock" && wait_for ge 'reset: pulsing i8042' 3; then
    q stop >/dev/null
    n0=$(count 'reset: pulsing i8042')
    sleep 1        # the window in which nothing may be printed
    n1=$(count 'reset: pulsing i8042')
    check "paused: a rebooting guest prints nothing for 1 s ($n0 -> $n1 boots)" test "$n0" -eq "$n1"
    q cont >/dev/null
    if wait_for ge 'reset: pulsing i8042' $((n1 + 2)); then ok "cont: it goes on ($(count 'reset: pulsing i8042') boots)"
    else nok "cont: it goes on"; fi
else
    nok "the resetting guest runs with --qmp ($(head -c 300 "$out/vm.err"))"
fi
q quit >/dev/null; wait $pid; pid=
