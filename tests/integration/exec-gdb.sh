# vessel exec --gdb: gdb-multiarch debugs a riscv64 program through the
# stub (break at a symbol, registers, step, memory, continue to the exit),
# and write / read watchpoints on a global.
. "$SRC/tests/lib.sh"
have gdb-multiarch || { echo "gdb-multiarch not installed" >&2; exit 77; }
have riscv64-linux-gnu-gcc || { echo "riscv64-linux-gnu-gcc not installed" >&2; exit 77; }
T=$(mktemp -d)
trap 'kill $vp 2>/dev/null; rm -rf "$T"' EXIT
cat > "$T/p.c" <<'C'
#include <stdio.h>
volatile long counter = 41;
int bump(int x) { counter += x; return (int)counter; }
int main(void) { int r = bump(1); printf("result %d\n", r); return r - 42; }
C
riscv64-linux-gnu-gcc -g -O0 -static -o "$T/p" "$T/p.c" || { nok "build the program"; exit 1; }
port=$((20000 + RANDOM % 20000))
"$VESSEL" exec --gdb "tcp::$port" "$T/p" >"$T/out" 2>"$T/err" &
vp=$!
for _ in $(seq 50); do grep -q "waiting for a debugger" "$T/err" && break; sleep 0.1; done
timeout 60 gdb-multiarch -nx -batch -ex "target remote :$port" -ex "break bump" -ex c \
    -ex 'printf "arg=%d\n", $a0' -ex 'printf "counter=%d\n", counter' -ex "finish" \
    -ex 'printf "ret=%d\n", $a0' -ex "stepi" -ex 'printf "pc-in-main=%d\n", $pc >= (long)&main && $pc < (long)&main + 64' \
    -ex "delete" -ex c "$T/p" >"$T/gdb" 2>&1
wait $vp; rc=$?
check "breakpoint at bump hit with its argument" grep -q "^arg=1$" "$T/gdb"
check "a global read through the stub" grep -q "^counter=41$" "$T/gdb"
check "finish returns the new value" grep -q "^ret=42$" "$T/gdb"
check "stepi stays in main" grep -q "^pc-in-main=1$" "$T/gdb"
check "the program ran to the end with status 0" test "$rc" -eq 0
check "its output" grep -q "^result 42$" "$T/out"
check "gdb saw the exit" grep -q "exited" "$T/gdb"
expect_fail "a bad --gdb value" "gdb" "$VESSEL" exec --gdb "tcp::notaport" "$T/p"

# watchpoints (Z2 write, Z3 read): the stub's, on the program's global
port=$((20000 + RANDOM % 20000))
"$VESSEL" exec --gdb "tcp::$port" "$T/p" >"$T/out2" 2>"$T/err2" &
vp=$!
for _ in $(seq 50); do grep -q "waiting for a debugger" "$T/err2" && break; sleep 0.1; done
timeout 60 gdb-multiarch -nx -batch -ex "target remote :$port" -ex "watch counter" -ex c \
    -ex 'printf "w=%d\n", counter' -ex "delete" -ex "rwatch counter" -ex c -ex "delete" -ex c \
    "$T/p" >"$T/gdb2" 2>&1 || kill "$vp" 2>/dev/null
wait $vp; rc=$?
check "a write watchpoint stops on counter += 1 (41 -> 42)" \
    grep -qzE "Hardware watchpoint 1: counter.*Old value = 41.*New value = 42" "$T/gdb2"
check "gdb reads the new value there" grep -q "^w=42$" "$T/gdb2"
check "a read watchpoint stops on the read in bump" grep -qzE "Hardware read watchpoint 2: counter.*Value = 42" "$T/gdb2"
check "the program ends normally after the watchpoints (status $rc)" test "$rc" -eq 0
