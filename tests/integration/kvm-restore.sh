#!/bin/bash
# vessel kvm --restore with the freestanding test guests (no Linux: runs on
# any /dev/kvm): the snapshot's RAM holds the kernel and initrd, so the
# restore neither reads the --initrd file nor copies the images into guest
# RAM (an 8 MiB initrd: far fewer page faults than its 2048 pages before
# the vCPUs run, vessel's own count); the ticker goes on; a guest that
# resets itself after the restore boots again (the images read then).
. "$SRC/tests/lib.sh"
dev=${VESSEL_KVM_DEV:-/dev/kvm}
names="kvm-restore-lazy kvm-restore-reset"
why=$(x86_guests_missing)
[ -z "$why" ] || { for n in $names; do skip "$n" "$why"; done; exit 0; }
{ [ -r "$dev" ] && [ -w "$dev" ]; } || { for n in $names; do skip "$n" "$dev missing or not accessible"; done; exit 0; }
out=$(mktemp -d); pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$out"' EXIT
x86_guest ticker "$out/ticker.bz" && x86_guest reset "$out/reset.bz" || { nok "assemble the guests"; exit 0; }
head -c 8M /dev/urandom >"$out/initrd"
wait_for() { local end=$((SECONDS + $(slow 20))); while [ $SECONDS -lt $end ]; do "$@" && return 0; sleep 0.05; done; return 1; }
# snap GUEST DIR [INITRD]: a paused snapshot of GUEST taken under -S
snap() {
    local sock=$out/$2.sock
    "$VESSEL" kvm -S --kernel "$out/$1.bz" ${3:+--initrd "$3"} -m 64M --qmp "unix:$sock" \
        </dev/null >"$out/$2.src.out" 2>"$out/$2.src.err" &
    pid=$!
    wait_for test -S "$sock"
    "$VESSEL" qmp "$sock" vm-snapshot "{\"path\":\"$out/$2\",\"paused\":true}" >/dev/null 2>&1
    "$VESSEL" qmp "$sock" quit >/dev/null 2>&1; wait $pid; pid=
    [ -f "$out/$2/manifest.json" ]
}
# faults DIR: restore DIR; vessel's page faults until the vCPUs ran (its
# own count, VESSEL_BENCH_T0), once the ticker went on
faults() {
    VESSEL_BENCH_T0=0 timeout -k 5 "$(slow 20)" "$VESSEL" kvm --restore "$out/$1" \
        --serial stdio </dev/null >"$out/$1.out" 2>"$out/$1.err" &
    pid=$!
    wait_for grep -aq '^t 0' "$out/$1.out" 2>/dev/null; kill $pid 2>/dev/null; wait $pid; pid=
    grep -aq '^t 0' "$out/$1.out" && sed -n 's/.*vCPUs running .* ms after exec (\([0-9]*\) page faults).*/\1/p' "$out/$1.err" | head -1
}
# the same guest with and without the initrd: the difference is what the
# initrd costs the restore (a sanitizer's own faults fall on both)
snap ticker st "$out/initrd" && snap ticker s0 || { nok "kvm-restore: vm-snapshot of the ticker ($(cat "$out/st.src.err" "$out/s0.src.err"))"; exit 0; }
f1=$(faults st) f0=$(faults s0)
if [ -n "$f1" ] && [ -n "$f0" ] && [ $((f1 - f0)) -lt 1024 ]; then
    ok "kvm-restore-lazy: the ticker goes on; $f1 page faults until the vCPUs run with the 8 MiB initrd (2048 pages), $f0 without"
else nok "kvm-restore-lazy (faults '$f1' with the initrd, '$f0' without; $(head -c 200 "$out/st.out" | tr '\n' ' '); $(grep -v 'bench:' "$out/st.err" | head -3 | tr '\n' ' '))"; fi
snap reset sr "$out/initrd" || { nok "kvm-restore: vm-snapshot of the reset guest ($(cat "$out/sr.src.err"))"; exit 0; }
timeout -k 5 "$(slow 20)" "$VESSEL" kvm --restore "$out/sr" --serial stdio </dev/null >"$out/rr.out" 2>"$out/rr.err" &
pid=$!
boots() { [ "$(grep -ac '^reset: pulsing' "$out/rr.out" 2>/dev/null)" -ge 3 ] 2>/dev/null; }
wait_for boots; kill $pid 2>/dev/null; wait $pid; pid=
if boots && ! grep -aq 'changed since\|cannot\|error' "$out/rr.err"; then
    ok "kvm-restore-reset: after --restore the guest resets and boots again, $(grep -ac '^reset: pulsing' "$out/rr.out") times (the images read at the reset)"
else nok "kvm-restore-reset ($(grep -ac '^reset: pulsing' "$out/rr.out") boots; $(head -3 "$out/rr.err" | tr '\n' ' '))"; fi
