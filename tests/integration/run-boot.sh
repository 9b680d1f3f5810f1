# vessel run boots the default riscv64 guest, driven through its console
# (a pipe): with the built-in SBI and with OpenSBI (--bios), 2 harts each;
# commands at the shell (uname, cpuinfo, a busybox compute job checked
# against the host, the RTC date against the host's), power-off exit status;
# then a reboot request and Ctrl-A x.
. "$SRC/tests/lib.sh"
. "$SRC/tests/guestlib.sh"
trap guest_kill EXIT
GUEST_TIMEOUT=${GUEST_TIMEOUT:-120}
fw=/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin

line=$(bash "$SRC/guest/build.sh" --print riscv64 2>/dev/null) || { echo "riscv64 guest not built (make guest)" >&2; exit 77; }
KERNEL= INITRD=
eval "$line"

# A compute job; the host computes the same: the sum of squares in closed
# form, the hash with its own tools.
job='seq 1 30000 | awk "{ s += \$1 * \$1 } END { printf \"%.0f\\n\", s }"; dd if=/dev/zero bs=4096 count=512 2>/dev/null | tr "\0" "v" | sha256sum | cut -d" " -f1'
want_job="$(( 30000 * 30001 * 60001 / 6 ))
$(dd if=/dev/zero bs=4096 count=512 2>/dev/null | tr '\0' v | sha256sum | cut -d' ' -f1)"

# boot_checks NAME ARGS...: one boot with the given vessel run arguments.
boot_checks() {
    local name=$1; shift
    guest_start "$VESSEL" run "$@"
    if ! guest_wait_ready; then
        nok "$name: boots to the shell"
        guest_tail 30 | sed 's/^/# /'
        guest_kill
        return
    fi
    ok "$name: boots to the ready marker and the shell answers ($(guest_elapsed) s)"
    local out
    out=$(guest_run 'uname -a')
    if [[ $out == "Linux vessel 6.1."*" riscv64 GNU/Linux" ]]; then ok "$name: uname -a: $out"
    else nok "$name: uname -a printed: $out"; fi
    out=$(guest_run 'grep -c ^processor /proc/cpuinfo; grep ^hart /proc/cpuinfo | tr -d "\t " | sort | tr "\n" " "')
    if [ "$out" = "2
hart:0 hart:1 " ]; then ok "$name: /proc/cpuinfo shows 2 harts"
    else
        nok "$name: /proc/cpuinfo shows 2 harts (got '$out')"
        # what the firmware and the kernel said of the harts, for the log
        guest_run 'dmesg | grep -i -E "cpu|hart|smp" | tail -20' 60 | sed 's/^/# dmesg: /'
        tr -d '\r' <"$GUEST_LOG" | grep -a -E "HART|Boot" | head -20 | sed 's/^/# console: /'
    fi
    out=$(guest_run 'grep -m1 ^isa /proc/cpuinfo')
    check "$name: isa line names rv64imafdc ($out)" grep -q 'rv64imafdc' <<<"$out"
    out=$(guest_run "$job" 300)
    if [ "$out" = "$want_job" ]; then ok "$name: busybox compute job gives the host's result"
    else nok "$name: busybox compute job (got '$out', host '$want_job')"; fi
    # both harts run work: two shells busy at once finish
    # (both waited for: a job left in a subshell of its own could print
    # into the next command's output, as it once did into date's)
    out=$(guest_run 'seq 1 20000 | md5sum & seq 1 20000 | md5sum; wait' 300)
    check "$name: two jobs in parallel" test "$(grep -c . <<<"$out")" -eq 2
    local g h
    g=$(guest_run 'date +%s'); h=$(date +%s)
    if [ -n "$g" ] && [ $(( h - g )) -le 10 ] && [ $(( g - h )) -le 10 ]; then
        ok "$name: guest date within 10 s of the host's (guest $g, host $h)"
    else
        nok "$name: guest date within 10 s of the host's (guest '$g', host $h)"
    fi
    guest_run '(exit 7)' >/dev/null
    check "$name: a command's exit status comes back" test $? -eq 7
    # an idle guest parks its harts (WFI): a few % of a core at most
    local t0 t1 tck
    tck=$(getconf CLK_TCK)
    t0=$(awk '{ print $14 + $15 }' "/proc/$GUEST_PID/stat"); sleep 3
    t1=$(awk '{ print $14 + $15 }' "/proc/$GUEST_PID/stat")
    local pct=$(( (t1 - t0) * 100 / (3 * tck) ))
    check "$name: idle guest costs under 5% of a host core over 3 s (${pct}%)" test "$pct" -lt 5
    guest_poweroff 60; local rc=$?
    check "$name: power-off ends vessel with status 0 (got $rc)" test $rc -eq 0
}

boot_checks "built-in SBI" --smp 2 -m 128M
if [ -r "$fw" ]; then
    boot_checks "OpenSBI --bios" --bios "$fw" --kernel "$KERNEL" --initrd "$INITRD" --smp 2 -m 128M
else
    skip "OpenSBI --bios boot" "no $fw (package opensbi)"
fi

# With --no-reboot a reboot request ends vessel with status 3 and says so.
guest_start "$VESSEL" run --no-reboot --kernel "$KERNEL" --initrd "$INITRD" --append "console=ttyS0 vessel.reboot" -m 64M
if guest_wait_ready; then
    guest_poweroff 60; rc=$?
    check "reboot request: exit status 3 (got $rc)" test $rc -eq 3
    check "reboot request: vessel says so" grep -q "asked for a reboot" "$GUEST_LOG"
else
    nok "reboot request: boots"
    guest_kill
fi

# `poweroff` and `reboot` typed at the guest's shell reach its init.
for cmd in poweroff reboot; do
    want=0; [ $cmd = reboot ] && want=3
    guest_start "$VESSEL" run --no-reboot -m 64M
    if guest_wait_ready; then
        guest_send "$cmd" || true
        guest_wait_exit 60; rc=$?
        check "'$cmd' at the guest shell: exit status $want (got $rc)" test $rc -eq $want
    else
        nok "'$cmd' at the guest shell: boots"
        guest_kill
    fi
done

# Ctrl-A x quits with status 0, even through a pipe.
guest_start "$VESSEL" run -m 64M
if guest_wait_ready; then
    printf '\001x' >&"$GUEST_IN"
    guest_wait_exit 20; rc=$?
    check "Ctrl-A x quits (status $rc)" test $rc -eq 0
else
    nok "Ctrl-A x: boots"
    guest_kill
fi

# --serial unix:PATH: the console on a listening socket; a client talks to
# the shell and leaves it, which powers the guest off.
if have python3; then
    sock=$(mktemp -u "${TMPDIR:-/tmp}/vessel-serial.XXXXXX")
    "$VESSEL" run --serial "unix:$sock" -m 64M </dev/null >/dev/null 2>&1 &
    vm=$!
    out=$(timeout 90 python3 - "$sock" <<'PY'
import socket, sys, time
path = sys.argv[1]
for _ in range(200):
    try:
        s = socket.socket(socket.AF_UNIX); s.connect(path); break
    except OSError:
        time.sleep(0.05)
buf = b""
def until(pat, t=60):
    global buf
    s.settimeout(t)
    while pat not in buf:
        d = s.recv(4096)
        if not d: break
        buf += d
# the shell's prompt; should it have come before we connected, ask for another
for _ in range(12):
    try:
        until(b"/ # ", 5); break
    except socket.timeout:
        s.sendall(b"\n")
s.sendall(b"echo sock-$((6*7))\n")
until(b"sock-42\r\n")
s.sendall(b"exit\n")
until(b"Power down")
print("sock-42" if b"sock-42\r\n" in buf else buf[-300:].decode(errors="replace"))
PY
)
    wait $vm; rc=$?
    check "--serial unix: the shell answers over the socket ($out)" test "$out" = sock-42
    check "--serial unix: exit powers off, status 0 (got $rc)" test $rc -eq 0
    rm -f "$sock"
else
    skip "--serial unix:PATH" "python3 missing"
fi

# The kernel as an ELF (vmlinux, linked at virtual addresses with LMA 0):
# moved to 0x80200000 and entered at its physical entry point.
vmlinux=$VESSEL_CACHE/guest/work/linux-riscv64/vmlinux
if [ -r "$vmlinux" ]; then
    guest_start "$VESSEL" run --kernel "$vmlinux" --initrd "$INITRD" -m 128M
    if guest_wait_ready; then
        out=$(guest_run 'uname -m')
        check "vmlinux ELF boots to the shell (uname -m: $out)" test "$out" = riscv64
        # SIGTERM stops vessel with status 128+15
        kill -TERM "$GUEST_PID"
        guest_wait_exit 20; rc=$?
        check "SIGTERM: exit status 143 (got $rc)" test $rc -eq 143
    else
        nok "vmlinux ELF boots to the shell"
        guest_tail 20 | sed 's/^/# /'
        guest_kill
    fi
else
    skip "vmlinux ELF boot" "no $vmlinux (the guest's kernel build tree)"
fi

# Without --no-reboot a guest reboot resets the machine in the same process
# (devices, harts, kernel, initrd and device tree again), as QEMU does: the
# Kernel and initrd from pipes (not regular files: read whole first, the
# path a regular file skips by reading straight into guest RAM).
guest_start "$VESSEL" run --kernel <(cat "$KERNEL") --initrd <(cat "$INITRD") -m 128M
if guest_wait_ready; then
    out=$(guest_run 'uname -m')
    check "kernel and initrd from pipes boot to the shell (uname -m: $out)" test "$out" = riscv64
else
    nok "kernel and initrd from pipes boot to the shell"
    guest_tail 20 | sed 's/^/# /'
fi
guest_kill

# guest boots to its shell a second time, then powers off with status 0.
markers() { tr -d '\r' < "$GUEST_LOG" | grep -acE "$GUEST_MARKER"; }
guest_start "$VESSEL" run --smp 2 -m 64M
if guest_wait_ready; then
    pid1=$GUEST_PID
    guest_send reboot || true
    end=$(( $(date +%s) + GUEST_TIMEOUT ))
    while [ "$(markers)" -lt 2 ] && guest_alive_ && [ "$(date +%s)" -lt "$end" ]; do sleep 0.05; done
    check "reboot in place: the guest boots again ($(markers) ready markers)" test "$(markers)" -ge 2
    out=$(guest_run 'echo shell-ok' 60)
    check "reboot in place: the same vessel process ($pid1) and a working shell" \
        test "$out" = shell-ok -a "$GUEST_PID" = "$pid1"
    out=$(guest_run 'grep -c ^processor /proc/cpuinfo' 60)
    check "reboot in place: both harts again after the reset ($out)" test "$out" = 2
    guest_poweroff 60; rc=$?
    check "reboot in place: then power-off, exit status 0 (got $rc)" test $rc -eq 0
else
    nok "reboot in place: boots"
    guest_kill
fi
