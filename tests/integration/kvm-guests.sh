#!/bin/bash
# Runs vessel's freestanding x86 test guests (tests/guests/x86) on /dev/kvm.
. "$SRC/tests/lib.sh"
dev=${VESSEL_KVM_DEV:-/dev/kvm}
guests="boot64 ports reset irq smp hello emufail"
if ! have nasm; then
    for g in $guests; do skip "kvm guest $g" "nasm not installed"; done; exit 0
fi
if ! [ -r "$dev" ] || ! [ -w "$dev" ]; then
    for g in $guests; do skip "kvm guest $g" "$dev missing or not accessible"; done; exit 0
fi
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
for g in $guests; do
    (cd "$SRC/tests/guests/x86" && nasm -f bin -o "$out/$g.bz" "$g.asm") || { nok "assemble $g"; continue; }
done
run() { timeout 60 "$VESSEL" kvm --kernel "$out/$1.bz" -m 32M "${@:2}" >"$out/$1.out" 2>"$out/$1.err"; }

run boot64; rc=$?
if [ $rc -eq 0 ] && grep -q '^PASS boot64' "$out/boot64.out"; then ok "boot64: boot-protocol register state"
elif grep -q 'emulation failure\|KVM_CREATE_VM' "$out/boot64.err"; then skip "boot64" "KVM unusable: $(head -1 "$out/boot64.err")"
else nok "boot64 (rc $rc: $(cat "$out/boot64.out" "$out/boot64.err" | head -c 300))"; fi

# The guest checks the command line starts with 'c': a different one must fail.
run boot64 --append xyz; rc=$?
if [ $rc -eq 1 ] && grep -q 'FAIL boot64: cmd_line_ptr' "$out/boot64.out"; then ok "boot64 detects a wrong command line"
else nok "boot64 --append xyz (rc $rc)"; fi

run ports; rc=$?
if [ $rc -eq 0 ] && grep -q '^PASS ports' "$out/ports.out"; then ok "ports: garbage port I/O + unmapped MMIO survived"
else nok "ports (rc $rc: $(cat "$out/ports.out" "$out/ports.err" | head -c 300))"; fi

run reset; rc=$?
if [ $rc -eq 0 ] && grep -q 'reset through the i8042' "$out/reset.err" && ! grep -q X "$out/reset.out"; then ok "reset: i8042 0xfe stops the VM"
else nok "reset (rc $rc: $(cat "$out/reset.out" "$out/reset.err" | head -c 300))"; fi

run irq; rc=$?
if [ $rc -eq 0 ] && grep -q '^PASS irq' "$out/irq.out"; then ok "irq: PIT interrupt via IOAPIC/LAPIC to an IDT handler"
else nok "irq (rc $rc: $(cat "$out/irq.out" "$out/irq.err" | head -c 300))"; fi

run smp --smp 2; rc=$?
if [ $rc -eq 0 ] && grep -q '^PASS smp' "$out/smp.out"; then ok "smp: second vCPU started by INIT/SIPI"
else nok "smp --smp 2 (rc $rc: $(cat "$out/smp.out" "$out/smp.err" | head -c 300))"; fi
# Without a second vCPU the guest must notice.
run smp --smp 1; rc=$?
if [ $rc -eq 1 ] && grep -q 'FAIL smp: AP did not start' "$out/smp.out"; then ok "smp guest fails with --smp 1"
else nok "smp --smp 1 (rc $rc)"; fi

# Power-off through the debug-exit port: status passes through, serial first.
run hello; rc=$?
if [ $rc -eq 0 ] && [ "$(cat "$out/hello.out")" = H ]; then ok "hello: serial byte, then power-off via port 0x501"
else nok "hello (rc $rc)"; fi

# Emulated KVM (this kind of host) cannot run cmpxchg16b: one clear line
# naming RIP and the bytes. Real VT-x/AMD-V runs it.
run emufail; rc=$?
if [ $rc -eq 0 ] && grep -q 'ran natively' "$out/emufail.out"; then ok "emufail: cmpxchg16b ran natively (hardware KVM)"
elif [ $rc -eq 1 ] && [ "$(wc -l <"$out/emufail.err")" -eq 1 ] &&
     grep -qE 'emulation failure\) at RIP 0x[0-9a-f]+, bytes 48 0f c7 0f' "$out/emufail.err"; then
    ok "emufail: emulation failure reported with RIP and instruction bytes"
else nok "emufail (rc $rc: $(cat "$out/emufail.out" "$out/emufail.err" | head -c 300))"; fi
