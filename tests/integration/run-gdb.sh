# vessel run --gdb: gdb-multiarch debugs the default guest's kernel: -S holds
# the harts at the entry, a breakpoint at start_kernel is hit (in S-mode, at
# the symbol's address), registers and memory read, a single step advances,
# continue runs on to a second breakpoint, and kill stops vessel.
. "$SRC/tests/lib.sh"
have gdb-multiarch || { echo "gdb-multiarch missing (package gdb-multiarch)" >&2; exit 77; }
have riscv64-linux-gnu-objcopy || { echo "riscv64-linux-gnu-objcopy missing (binutils-riscv64-linux-gnu)" >&2; exit 77; }
line=$(bash "$SRC/guest/build.sh" --print riscv64 2>/dev/null) || { echo "riscv64 guest not built (make guest)" >&2; exit 77; }
KERNEL= INITRD=
eval "$line"
vmlinux=$VESSEL_CACHE/guest/work/linux-riscv64/vmlinux
[ -r "$vmlinux" ] || { echo "no $vmlinux (the guest's kernel build tree) for symbols" >&2; exit 77; }
tmp=$(mktemp -d); vm=
trap '[ -n "$vm" ] && kill -9 "$vm" 2>/dev/null; rm -rf "$tmp"' EXIT
# the symbols must be those of the Image that boots
riscv64-linux-gnu-objcopy -O binary "$vmlinux" "$tmp/vmlinux.bin"
cmp -s "$tmp/vmlinux.bin" "$KERNEL" || { echo "$vmlinux is not the build of $KERNEL" >&2; exit 77; }
sk=$(riscv64-linux-gnu-nm "$vmlinux" | awk '$3 == "start_kernel" { print $1 }')

port=$((20000 + RANDOM % 20000))
"$VESSEL" run --kernel "$KERNEL" --initrd "$INITRD" -m 128M --smp 2 --gdb "tcp::$port" -S \
    --serial "file:$tmp/console" </dev/null >"$tmp/vm.log" 2>&1 &
vm=$!
for _ in $(seq 50); do grep -q "waiting for a debugger" "$tmp/vm.log" && break; sleep 0.1; done
timeout 120 gdb-multiarch -batch -nx -ex "set pagination off" -ex "file $vmlinux" \
    -ex "target remote :$port" -ex "info registers pc" -ex "info threads" \
    -ex "break start_kernel" -ex "continue" -ex "info registers pc" -ex 'p $priv' \
    -ex 'p/x $satp' -ex "x/4xb start_kernel" -ex "stepi" -ex "info registers pc" \
    -ex "break console_init" -ex "continue" -ex "info registers pc" -ex "kill" >"$tmp/gdb.out" 2>&1
grc=$?
sed 's/^/# /' "$tmp/gdb.out" | head -40
wait "$vm"; rc=$?; vm=

check "gdb ran to the end (status $grc)" test $grc -eq 0
check "-S: hart 0 waits at the kernel entry 0x80200000" grep -q '^pc  *0x80200000' "$tmp/gdb.out"
check "one gdb thread per hart" grep -q 'Thread 2 (hart 1' "$tmp/gdb.out"
check "the breakpoint at start_kernel is hit" grep -q 'hit Breakpoint 1, 0x0*'"$sk"' in start_kernel' "$tmp/gdb.out"
check "pc there is start_kernel's address (0x$sk)" grep -qE "^pc +0x0*$sk[[:space:]]" "$tmp/gdb.out"
check "the hart is in S-mode (\$priv = 1)" grep -q '^\$1 = 1$' "$tmp/gdb.out"
check "satp is set (the kernel runs translated)" grep -qE '^\$2 = 0x[89a]0' "$tmp/gdb.out"
# the first 4 bytes of start_kernel, from the Image file (it starts at _start)
base=$(riscv64-linux-gnu-nm "$vmlinux" | awk '$3 == "_start" { print $1 }')
want=$(od -An -tx1 -j $((0x$sk - 0x$base)) -N4 "$KERNEL" | tr -d ' \n')
got=$(grep '<start_kernel>:' "$tmp/gdb.out" | sed 's/.*<start_kernel>://' | grep -oE '0x[0-9a-f]{2}' | tr -d '\n' | sed 's/0x//g')
check "memory read through the kernel's translation matches the Image ($got)" test -n "$got" -a "$got" = "$want"
check "stepi advances pc" bash -c 'grep -E "^pc " "$1" | sed -n 3p | grep -qvE "0x0*$2[[:space:]]"' _ "$tmp/gdb.out" "$sk"
check "continue reaches a second breakpoint (console_init)" grep -q "hit Breakpoint 2, 0x[0-9a-f]* in console_init" "$tmp/gdb.out"
check "kill stops vessel with status 0 (got $rc)" test $rc -eq 0
