# vessel run --gdb with an HSM-stopped hart and watchpoints: a small S-mode
# program (tests/guests/riscv-sbi/gdbtarget.c) under the built-in SBI loops
# on hart 0 while hart 1 is never started. gdb-multiarch must show hart 1 as
# stopped from the first stop on (-S), step it (gdb's software single step
# and with scheduler-locking) without hanging, the pc unchanged, and stop on
# write (watch), read (rwatch) and access (awatch) watchpoints of hart 0 with
# the value gdb reads, also when the selected thread is the stopped hart.
. "$SRC/tests/lib.sh"
have gdb-multiarch || { echo "gdb-multiarch missing (package gdb-multiarch)" >&2; exit 77; }
have riscv64-linux-gnu-gcc || { echo "riscv64-linux-gnu-gcc missing (package gcc-riscv64-linux-gnu)" >&2; exit 77; }
tmp=$(mktemp -d); vm=
trap '[ -n "$vm" ] && kill -9 "$vm" 2>/dev/null; rm -rf "$tmp"' EXIT
if ! bash "$SRC/tests/guests/riscv-sbi/build.sh" "$tmp/t.elf" "$SRC/tests/guests/riscv-sbi/gdbtarget.c" 2>"$tmp/cc.log"; then
    nok "build the gdb target program: $(head -c 300 "$tmp/cc.log")"
    exit 1
fi
entry=$(riscv64-linux-gnu-nm "$tmp/t.elf" | awk '$3 == "_start" { print $1 }')

port=$((20000 + RANDOM % 20000))
"$VESSEL" run --kernel "$tmp/t.elf" -m 32M --smp 2 --gdb "tcp::$port" -S </dev/null >"$tmp/vm.log" 2>&1 &
vm=$!
for _ in $(seq 100); do grep -q "waiting for a debugger" "$tmp/vm.log" && break; sleep 0.1; done
timeout 60 gdb-multiarch -batch -nx -ex "set pagination off" -ex "file $tmp/t.elf" \
    -ex "target remote :$port" -ex "info threads" \
    -ex "thread 2" -ex "stepi" -ex 'printf "sw-step pc=%lx\n", $pc' \
    -ex "set scheduler-locking step" -ex "stepi" -ex 'printf "locked-step pc=%lx\n", $pc' \
    -ex "set scheduler-locking replay" -ex "thread 1" \
    -ex "watch watched" -ex "continue" -ex 'printf "after watch: watched=%ld counter=%ld\n", watched, counter' \
    -ex "delete" -ex "rwatch readme" -ex "continue" -ex "delete" \
    -ex "awatch counter" -ex "thread 2" -ex "continue" -ex "delete" \
    -ex "info threads" -ex "kill" >"$tmp/gdb.out" 2>&1
grc=$?
[ $grc -eq 0 ] || kill -9 "$vm" 2>/dev/null     # gdb gave up: vessel still runs
wait "$vm"; vrc=$?; vm=
sed 's/^/# /' "$tmp/gdb.out" | head -60
check "gdb finished (status $grc)" test $grc -eq 0
check "hart 1 is shown stopped from the start" grep -qE "Thread 2 \(hart 1, .*stopped\)" "$tmp/gdb.out"
check "stepping the stopped hart returns, pc unchanged" grep -q "^sw-step pc=$(printf %x 0x$entry)$" "$tmp/gdb.out"
check "stepping it with scheduler-locking returns, pc unchanged" grep -q "^locked-step pc=$(printf %x 0x$entry)$" "$tmp/gdb.out"
check "a write watchpoint stops after the write (old 0, new 2)" \
    grep -qzE "Hardware watchpoint 1: watched.*Old value = 0.*New value = 2" "$tmp/gdb.out"
check "gdb reads the written value" grep -q "^after watch: watched=2 counter=1$" "$tmp/gdb.out"
check "a read watchpoint stops on the read" grep -qzE "Hardware read watchpoint 2: readme.*Value = 7" "$tmp/gdb.out"
check "an access watchpoint stops with the stopped hart selected" \
    grep -qzE "Hardware access \(read/write\) watchpoint 3: counter.*Value = " "$tmp/gdb.out"
check "kill ends vessel with status 0 (got $vrc)" test $vrc -eq 0
