# --bios (OpenSBI fw_jump) with a large initrd: the firmware copies the
# device tree to RAM + 0x2200000; vessel must keep the initrd clear of that
# window. An S-mode program (tests/guests/riscv-sbi/initrd.c) started by
# OpenSBI checks every word of a 30 MiB patterned initrd in a 64 MiB guest
# (placed high, it would cover the window); an initrd that fits neither
# above nor below the window is refused with one line and status 2.
. "$SRC/tests/lib.sh"
have riscv64-linux-gnu-gcc || { echo "riscv64-linux-gnu-gcc missing (package gcc-riscv64-linux-gnu)" >&2; exit 77; }
have python3 || { echo "python3 missing" >&2; exit 77; }
fw=/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin
[ -r "$fw" ] || { echo "no $fw (package opensbi)" >&2; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
if ! bash "$SRC/tests/guests/riscv-sbi/build.sh" "$tmp/k.elf" "$SRC/tests/guests/riscv-sbi/initrd.c" 2>"$tmp/cc.log"; then
    nok "build the initrd checker: $(head -c 300 "$tmp/cc.log")"
    exit 1
fi
# initrd MiB FILE: "VINITRD1", the length, words k * 2654435761
initrd() {
    python3 - "$1" "$2" <<'PY'
import array, struct, sys
n = int(sys.argv[1]) << 20
a = array.array('I', ((k * 2654435761) & 0xffffffff for k in range((n - 16) // 4)))
open(sys.argv[2], 'wb').write(b'VINITRD1' + struct.pack('<Q', n) + a.tobytes())
PY
}
initrd 30 "$tmp/rd30"
timeout 120 "$VESSEL" run -m 64M --bios "$fw" --kernel "$tmp/k.elf" --initrd "$tmp/rd30" </dev/null >"$tmp/out" 2>&1; rc=$?
grep -a 'initrd-check' "$tmp/out" | sed 's/^/# /'
check "OpenSBI copied the device tree to 0x82200000" grep -aq 'device tree at 0x0000000082200000' "$tmp/out"
check "the 30 MiB initrd is intact after OpenSBI ran (status $rc)" grep -aq ': intact' "$tmp/out"
check "the guest powered off normally" test $rc -eq 0
# the same with the firmware as an ELF
timeout 120 "$VESSEL" run -m 64M --bios "${fw%.bin}.elf" --kernel "$tmp/k.elf" --initrd "$tmp/rd30" </dev/null >"$tmp/out2" 2>&1; rc=$?
check "the same with fw_jump.elf (status $rc)" grep -aq ': intact' "$tmp/out2"
# without --bios (built-in SBI) the initrd stays just below the device tree at the top
timeout 120 "$VESSEL" run -m 64M --kernel "$tmp/k.elf" --initrd "$tmp/rd30" </dev/null >"$tmp/out3" 2>&1; rc=$?
check "without --bios the initrd is at the top, intact (status $rc)" \
    grep -aq 'initrd at 0x00000000821f0000 length 0x0000000001e00000: intact' "$tmp/out3"
initrd 40 "$tmp/rd40"
expect_fail "an initrd that fits neither above nor below the window" "0x82200000-0x82400000" \
    "$VESSEL" run -m 64M --bios "$fw" --kernel "$tmp/k.elf" --initrd "$tmp/rd40"
