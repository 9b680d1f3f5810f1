#!/bin/bash
# A hostile guest against the CPU hotplug registers (tests/guests/x86/
# cpuhp-hostile.asm, --smp 2,maxcpus=4): its eject of vCPU 0 and of absent
# vCPUs is refused, garbage at every offset and width is ignored, and its
# eject of vCPU 1 while that one runs ends vCPU 1's thread; vessel keeps
# running and QMP agrees (one vCPU, core 1 free), the core can be plugged
# again, quit ends it with status 0. Needs /dev/kvm: the nested tier runs
# it inside its L1 (kvm-nested-hotplug.sh).
. "$SRC/tests/lib.sh"
dev=${VESSEL_KVM_DEV:-/dev/kvm}
why=$(x86_guests_missing)
[ -z "$why" ] || { skip "cpuhp-hostile" "$why"; exit 0; }
{ [ -r "$dev" ] && [ -w "$dev" ]; } || { skip "cpuhp-hostile" "$dev missing or not accessible (the nested tier runs this test inside its L1)"; exit 0; }
out=$(mktemp -d); pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$out"' EXIT
x86_guest cpuhp-hostile "$out/g.bz" || { nok "cpuhp-hostile: assemble the guest"; exit 0; }
sock=$out/q.sock
q() { timeout -k 5 "$(slow 30)" "$VESSEL" qmp "$sock" "$@" 2>&1; }
wait_for() { local end=$((SECONDS + $(slow 30))); while [ $SECONDS -lt $end ]; do "$@" && return 0; kill -0 $pid 2>/dev/null || return 1; sleep 0.05; done; return 1; }
"$VESSEL" kvm --kernel "$out/g.bz" -m 32M --smp 2,maxcpus=4 --qmp "unix:$sock" >"$out/vm.out" 2>"$out/vm.err" </dev/null &
pid=$!
if wait_for grep -q '^PASS\|^FAIL' "$out/vm.out" && grep -q '^PASS' "$out/vm.out"; then
    ok "cpuhp-hostile: $(grep -a '^PASS' "$out/vm.out" | sed 's/^PASS cpuhp-hostile: //')"
else nok "cpuhp-hostile: $(head -c 300 "$out/vm.out") $(head -c 300 "$out/vm.err")"; exit 0; fi
one() { [ "$(q query-cpus-fast | grep -o '"cpu-index"' | wc -l)" = 1 ]; }
if wait_for one && [[ $(q query-hotpluggable-cpus) == *'"core-id":1,"thread-id":0}}'* ]] &&
   [ "$(grep -c 'refused\|not present' "$out/vm.err")" -ge 2 ]; then
    ok "cpuhp-hostile-qmp: vessel runs on, one vCPU left, core 1 free; the refusals logged ($(grep -c 'CPU hotplug' "$out/vm.err") lines)"
else nok "cpuhp-hostile-qmp: $(q query-cpus-fast) | $(tail -c 400 "$out/vm.err" | tr '\n' ' ')"; fi
add=$(q device_add '{"driver":"host-x86_64-cpu","id":"again","core-id":1}')
two() { [ "$(q query-cpus-fast | grep -o '"cpu-index"' | wc -l)" = 2 ]; }
if [ "$add" = '{}' ] && wait_for two; then ok "cpuhp-hostile-replug: the core the guest ejected is plugged again"
else nok "cpuhp-hostile-replug: $add | $(q query-cpus-fast)"; fi
q quit >/dev/null; wait $pid; rc=$?; pid=
if [ $rc -eq 0 ] && ! grep -qE 'Sanitizer|runtime error:' "$out/vm.err"; then ok "cpuhp-hostile-exit: quit, status 0, no sanitizer report"
else nok "cpuhp-hostile-exit: status $rc $(grep -E -m2 'Sanitizer|runtime error:' "$out/vm.err")"; fi
