# vessel run without firmware: the built-in SBI checked by an S-mode test
# program (tests/guests/riscv-sbi/sbi.c, 2 harts) that prints its own TAP
# lines; bare-metal ELFs with a `tohost` symbol exit with the HTIF status.
. "$SRC/tests/lib.sh"
have riscv64-linux-gnu-gcc || { echo "riscv64-linux-gnu-gcc missing (package gcc-riscv64-linux-gnu)" >&2; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
if ! bash "$SRC/tests/guests/riscv-sbi/build.sh" "$tmp/sbi.elf" 2>"$tmp/cc.log"; then
    nok "build the SBI test program: $(head -c 300 "$tmp/cc.log")"
    exit 1
fi
timeout 60 "$VESSEL" run --kernel "$tmp/sbi.elf" --smp 2 -m 32M </dev/null >"$tmp/out" 2>&1; rc=$?
grep -aE '^(not )?ok\b' "$tmp/out"
n=$(grep -acE '^ok\b' "$tmp/out")
check "the SBI program ran its checks ($n passed)" test "$n" -ge 40
check "SRST shutdown after every check passed: exit status 0 (got $rc)" test $rc -eq 0
check "the SBI program finished" grep -q '^# all checks passed' "$tmp/out"

# SBI console input: legacy getchar and DBCN console_read take the bytes
# fed on stdin (the UART's input), -1 / 0 bytes once they are consumed
if bash "$SRC/tests/guests/riscv-sbi/build.sh" "$tmp/console.elf" "$SRC/tests/guests/riscv-sbi/console.c" 2>"$tmp/cc2.log"; then
    printf 'typed for getchar\nread by dbcn\n' |
        timeout 60 "$VESSEL" run --kernel "$tmp/console.elf" -m 32M >"$tmp/con.out" 2>&1; rc=$?
    sed 's/^/# /' "$tmp/con.out"
    check "legacy console_getchar returns the input line" grep -q '^legacy getchar line: typed for getchar$' "$tmp/con.out"
    check "DBCN console_read returns the next line" grep -q '^console_read line: read by dbcn$' "$tmp/con.out"
    check "with the input consumed: getchar -1, console_read 0 bytes (1000 times each)" \
        grep -q '^empty reads that returned something: 0$' "$tmp/con.out"
    check "the console program powered off normally (status $rc)" test $rc -eq 0
else
    nok "build the console input program: $(head -c 300 "$tmp/cc2.log")"
fi

# HTIF: tohost = 1 -> 0; (code << 1) | 1 -> code
for v in 1 7 85; do
    riscv64-linux-gnu-gcc -nostdlib -static -Wl,--build-id=none -T "$SRC/tests/guests/riscv-sbi/tohost.ld" -Wl,--no-warn-rwx-segments \
        -DTOHOST_VALUE=$v -o "$tmp/th$v.elf" "$SRC/tests/guests/riscv-sbi/tohost.S" || { nok "build tohost.S"; continue; }
    timeout 20 "$VESSEL" run --kernel "$tmp/th$v.elf" -m 16M </dev/null >/dev/null 2>&1; rc=$?
    check "bare metal: tohost = $v gives exit status $((v >> 1)) (got $rc)" test $rc -eq $((v >> 1))
done
