#!/bin/bash
# Runs vessel's freestanding x86 test guests (tests/guests/x86) on /dev/kvm.
. "$SRC/tests/lib.sh"
dev=${VESSEL_KVM_DEV:-/dev/kvm}
guests="boot64 ports reset irq smp hello emufail serial virtio hostile"
why=$(x86_guests_missing)
if [ -n "$why" ]; then
    for g in $guests; do skip "kvm guest $g" "$why"; done; exit 0
fi
if ! [ -r "$dev" ] || ! [ -w "$dev" ]; then
    for g in $guests; do skip "kvm guest $g" "$dev missing or not accessible"; done; exit 0
fi
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
for g in $guests; do
    x86_guest "$g" "$out/$g.bz" || nok "assemble $g"
done
run() { timeout -k 10 $(slow 60) "$VESSEL" kvm --kernel "$out/$1.bz" -m 32M "${@:2}" >"$out/$1.out" 2>"$out/$1.err" </dev/null; }

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

run reset --no-reboot; rc=$?
if [ $rc -eq 3 ] && grep -q 'reset through the i8042' "$out/reset.err" && ! grep -q X "$out/reset.out"; then ok "reset --no-reboot: i8042 0xfe stops the VM with status 3"
else nok "reset --no-reboot (rc $rc: $(cat "$out/reset.out" "$out/reset.err" | head -c 300))"; fi
# Without --no-reboot the VM resets in place: a new VM, the image loaded
# again, the guest's message once per boot; stopped by SIGTERM (143).
"$VESSEL" kvm --kernel "$out/reset.bz" -m 32M >"$out/reset.out" 2>"$out/reset.err" </dev/null & pid=$!
for i in $(seq 1 2000); do
    [ "$(grep -c 'reset: pulsing i8042' "$out/reset.out")" -ge 3 ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.01
done
kill -TERM $pid 2>/dev/null; wait $pid; rc=$?
n=$(grep -c 'reset: pulsing i8042' "$out/reset.out")
if [ $rc -eq 143 ] && [ "$n" -ge 2 ] && ! grep -q X "$out/reset.out"; then ok "reset: i8042 0xfe resets the VM in place ($n boots until SIGTERM)"
else nok "reset in place (rc $rc, $n boots: $(head -c 300 "$out/reset.err"))"; fi
# The kernel is read again from its file at each reset (it is not kept in
# memory): a file changed since the start is refused with a line naming
# it, and the failed reset ends vessel with status 4.
cp "$out/reset.bz" "$out/changed.bz"
"$VESSEL" kvm --kernel "$out/changed.bz" -m 32M >"$out/changed.out" 2>"$out/changed.err" </dev/null & pid=$!
for i in $(seq 1 "$(slow 3000)"); do
    grep -q 'reset: pulsing i8042' "$out/changed.out" && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.01
done
touch -d '2000-01-01' "$out/changed.bz"
for i in $(seq 1 "$(slow 1000)"); do kill -0 $pid 2>/dev/null || break; sleep 0.01; done
kill -TERM $pid 2>/dev/null; wait $pid; rc=$?
if [ $rc -eq 4 ] && grep -q -- "--kernel $out/changed.bz: changed since vessel started" "$out/changed.err"; then
    ok "reset: a kernel file changed since the start is not loaded again (status 4, one line)"
else nok "reset with a changed kernel file (rc $rc: $(head -c 300 "$out/changed.err"))"; fi

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
     grep -qE 'emulation failure\) at RIP 0xffffff800010[0-9a-f]{4}, bytes 48 0f c7 0f' "$out/emufail.err"; then
    ok "emufail: emulation failure reported with RIP and instruction bytes (read through the guest's page tables)"
else nok "emufail (rc $rc: $(cat "$out/emufail.out" "$out/emufail.err" | head -c 300))"; fi

# The 8250 with its interrupt: a byte from the host (stdin) arrives as an RX
# interrupt, THRE interrupts send a line, loopback RX; all through IOAPIC pin 4.
printf k | timeout -k 10 $(slow 60) "$VESSEL" kvm --kernel "$out/serial.bz" -m 32M >"$out/serial.out" 2>"$out/serial.err"; rc=$?
if [ $rc -eq 0 ] && grep -q '^PASS serial' "$out/serial.out" && grep -q '^serial: this line was sent by THRE' "$out/serial.out"; then
    ok "serial: 8250 RX/THRE/loopback interrupts via IOAPIC pin 4"
else nok "serial (rc $rc: $(cat "$out/serial.out" "$out/serial.err" | head -c 300))"; fi
# Without input the guest must notice.
run serial; rc=$?
if [ $rc -eq 1 ] && grep -q 'FAIL serial: no RX interrupt' "$out/serial.out"; then ok "serial guest fails without serial input"
else nok "serial without input (rc $rc)"; fi
# The same console over a unix socket: the input comes from a client.
if have python3; then
    sock=$out/serial.sock
    timeout -k 10 $(slow 60) "$VESSEL" kvm --kernel "$out/serial.bz" -m 32M --serial "unix:$sock" >"$out/serial-unix.out" 2>"$out/serial-unix.err" </dev/null &
    vpid=$!
    python3 - "$sock" >"$out/serial-unix.client" 2>&1 <<'PY'
import socket, sys, time
for _ in range(200):
    try:
        s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); break
    except OSError: time.sleep(0.01)
else: sys.exit("no socket")
s.sendall(b"k"); data = b""
s.settimeout(30)
while True:                 # until vessel exits and closes the socket
    d = s.recv(4096)
    if not d: break
    data += d
sys.stdout.write(data.decode(errors="replace"))
PY
    wait $vpid; rc=$?
    if [ $rc -eq 0 ] && grep -q '^PASS serial' "$out/serial-unix.client"; then ok "serial over --serial unix:PATH"
    else nok "serial unix (rc $rc: $(cat "$out/serial-unix.client" "$out/serial-unix.err" | head -c 300))"; fi
else
    skip "serial over --serial unix:PATH" "python3 missing"
fi

# A virtio-rng request end to end over virtio-mmio, with interrupts. The
# guest finds the slot on the kernel command line, which vessel writes only
# without ACPI (with ACPI the DSDT describes the slots).
run virtio --rng --transport mmio --no-acpi; rc=$?
if [ $rc -eq 0 ] && grep -q '^PASS virtio' "$out/virtio.out"; then ok "virtio: rng request over virtio-mmio + IOAPIC pin 5, NEEDS_RESET on a bad descriptor"
else nok "virtio --rng (rc $rc: $(cat "$out/virtio.out" "$out/virtio.err" | head -c 300))"; fi
run virtio --transport mmio --no-acpi; rc=$?
if [ $rc -eq 1 ] && grep -q 'FAIL virtio: command line lacks' "$out/virtio.out"; then ok "virtio guest fails without --rng"
else nok "virtio without --rng (rc $rc)"; fi
run virtio --rng --transport mmio; rc=$?
if [ $rc -eq 1 ] && grep -q 'FAIL virtio: command line lacks' "$out/virtio.out"; then ok "virtio-mmio with ACPI: the slot is in the DSDT only, not also on the command line"
else nok "virtio-mmio with ACPI announced on the command line too (rc $rc)"; fi

# Garbage to every port and every virtio-mmio register, with devices attached.
# Guest warnings are rate-limited per call site and per 5 s window, so the
# bound on the log grows with the run's length (nested, a run is long).
truncate -s 1M "$out/disk.img"
t0=$SECONDS
timeout -k 10 $(slow 120) "$VESSEL" kvm --kernel "$out/hostile.bz" -m 32M --transport mmio --rng --console --disk "$out/disk.img" \
    >"$out/hostile.out" 2>"$out/hostile.err" </dev/null; rc=$?
secs=$((SECONDS - t0)) lines=$(wc -l <"$out/hostile.err")
max=$((200 * (secs / 5 + 1)))
if [ $rc -eq 0 ] && grep -aq '^PASS hostile' "$out/hostile.out" && [ "$lines" -lt "$max" ]; then
    ok "hostile: garbage to every port and mmio register, vessel survives ($lines rate-limited warnings in ${secs}s)"
else nok "hostile (rc $rc, $lines log lines in ${secs}s, want < $max: $(tail -c 300 "$out/hostile.out"; head -c 300 "$out/hostile.err"))"; fi
