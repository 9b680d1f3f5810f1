# The machine layer under `vessel run`, on bare-metal programs (no default
# guest needed): SIGINT/SIGTERM/SIGHUP stop a running machine in order with
# 128+sig and QEMU's "terminating on signal" line; -S without --gdb starts
# paused (a program that would exit at once does not); a guest reboot
# request resets the machine in place and --no-reboot turns it into exit 3.
. "$SRC/tests/lib.sh"
have riscv64-linux-gnu-gcc || { echo "riscv64-linux-gnu-gcc missing" >&2; exit 77; }
tmp=$(mktemp -d); pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT

build() {   # build NAME TOHOST_VALUE: tohost.S writing the value, then spinning
    riscv64-linux-gnu-gcc -nostdlib -static -Wl,--build-id=none -T "$SRC/tests/guests/riscv-sbi/tohost.ld" \
        -Wl,--no-warn-rwx-segments -DTOHOST_VALUE="$2" -o "$tmp/$1.elf" "$SRC/tests/guests/riscv-sbi/tohost.S"
}
build spin 2 || { nok "build tohost.S"; exit 0; }      # 2: an HTIF no-op, then a loop: runs until stopped
build exit0 1 || { nok "build tohost.S"; exit 0; }     # 1: exits 0 at once
riscv64-linux-gnu-gcc -nostdlib -static -Wl,--build-id=none -T "$SRC/tests/guests/riscv-sbi/tohost.ld" \
    -Wl,--no-warn-rwx-segments -o "$tmp/reboot.elf" "$SRC/tests/guests/riscv-sbi/reboot.S" || { nok "build reboot.S"; exit 0; }

ntasks() { ls "/proc/$1/task" 2>/dev/null | wc -l; }
# wait_tasks PID N: until the process has N threads (or exited); 20 s at most
wait_tasks() {
    local i
    for i in $(seq 1 2000); do
        [ -d "/proc/$1" ] || return 1
        [ "$(ntasks "$1")" -ge "$2" ] && return 0
        sleep 0.01
    done
    return 1
}

# A running machine (main, I/O and 1 hart thread) stopped by each signal.
for sig in INT TERM HUP; do
    "$VESSEL" run --kernel "$tmp/spin.elf" -m 16M --serial null </dev/null >/dev/null 2>"$tmp/err" & pid=$!
    if ! wait_tasks $pid 3; then nok "SIG$sig: the machine runs"; continue; fi
    kill -s $sig $pid; wait $pid; rc=$?; pid=
    num=$(kill -l $sig)
    check "SIG$sig stops the machine with status $((128 + num)) (got $rc)" test $rc -eq $((128 + num))
    check "SIG$sig: 'terminating on signal $num' on stderr" grep -q "terminating on signal $num from pid" "$tmp/err"
done

# -S: nothing runs until resumed. The program would exit 0 at once; paused,
# it is still there to take the SIGTERM (143). Only main and I/O threads.
"$VESSEL" run -S --kernel "$tmp/exit0.elf" -m 16M --serial null </dev/null >/dev/null 2>"$tmp/err" & pid=$!
if wait_tasks $pid 2; then
    t=$(ntasks $pid)
    kill -TERM $pid; wait $pid; rc=$?; pid=
    check "-S without --gdb: the machine starts paused (SIGTERM status 143, got $rc)" test $rc -eq 143
    check "-S: no hart thread started ($t threads)" test "$t" -eq 2
else
    wait $pid; nok "-S without --gdb: vessel ended before it was stopped (status $?)"; pid=
fi

# A reboot request (syscon 0x7777): with --no-reboot vessel ends with 3
# after one boot; without, the machine resets and the program runs again
# (one 'R' per boot) until it is stopped.
timeout 20 "$VESSEL" run --no-reboot --kernel "$tmp/reboot.elf" -m 16M </dev/null >"$tmp/out" 2>"$tmp/err"; rc=$?
check "--no-reboot: a reboot request ends vessel with status 3 (got $rc)" test $rc -eq 3
check "--no-reboot: one boot ($(tr -cd R <"$tmp/out" | wc -c) R)" test "$(tr -cd R <"$tmp/out" | wc -c)" -eq 1
check "--no-reboot: stderr says why" grep -q "asked for a reboot" "$tmp/err"
"$VESSEL" run --kernel "$tmp/reboot.elf" -m 16M </dev/null >"$tmp/out" 2>"$tmp/err" & pid=$!
for i in $(seq 1 2000); do
    [ "$(tr -cd R <"$tmp/out" | wc -c)" -ge 5 ] && break
    [ -d /proc/$pid ] || break
    sleep 0.01
done
n=$(tr -cd R <"$tmp/out" | wc -c)
kill -TERM $pid 2>/dev/null; wait $pid; rc=$?; pid=
check "reboot: the machine resets in place and boots again ($n boots seen)" test "$n" -ge 5
check "reboot: still running until SIGTERM (status $rc)" test $rc -eq 143
