# A hostile guest (tests/guests/riscv-virtio/hostile.c, bare metal on vessel
# run) feeds the virtio-blk device bad descriptor chains and every device
# register garbage: the disk must report DEVICE_NEEDS_RESET (or an error)
# each time, come back after a reset, never write memory it must not, and
# the rng next to it must keep working. The program prints its own TAP lines.
. "$SRC/tests/lib.sh"
have riscv64-linux-gnu-gcc || { echo "riscv64-linux-gnu-gcc missing (package gcc-riscv64-linux-gnu)" >&2; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
if ! bash "$SRC/tests/guests/riscv-virtio/build.sh" "$tmp/hostile.elf" 2>"$tmp/cc.log"; then
    nok "build the hostile guest: $(head -c 300 "$tmp/cc.log")"
    exit 1
fi
printf 'VESSELDISK' >"$tmp/disk.img"
truncate -s 1M "$tmp/disk.img"
sum=$(sha256sum <"$tmp/disk.img")
timeout 120 "$VESSEL" run --kernel "$tmp/hostile.elf" --disk "$tmp/disk.img" --rng -m 32M \
    </dev/null >"$tmp/out" 2>"$tmp/err"; rc=$?
grep -aE '^(not )?ok\b' "$tmp/out"
n=$(grep -acE '^ok\b' "$tmp/out")
check "the hostile guest ran its checks ($n passed)" test "$n" -ge 45
check "it finished: all checks passed, exit status 0 (got $rc)" \
    bash -c 'test "$1" -eq 0 && grep -q "^# all checks passed" "$2"' _ "$rc" "$tmp/out"
check "vessel logged the bad rings as guest errors" grep -q 'guest: virtio-blk: .*device needs reset' "$tmp/err"
check "vessel did not crash or log a host error" bash -c '! grep -aqiE "sanitizer|segmentation|abort|vessel: [^w]" "$1"' _ "$tmp/err"
check "the disk image is unchanged (the guest only read it)" test "$(sha256sum <"$tmp/disk.img")" = "$sum"
