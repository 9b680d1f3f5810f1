#!/bin/bash
# Hostile guests against the virtio layer under `vessel kvm` (the riscv
# bare-metal counterpart under `vessel run` is virtio-hostile.sh): the guest
# tests/guests/x86/virtio-hostile.asm submits one bad chain or bad request
# per run (chosen with --append vh=KC, see the guest's header) to virtio-blk
# (a real image) or virtio-rng and checks the outcome the spec defines
# (DEVICE_NEEDS_RESET + configuration-change interrupt, or the request's
# error status), that the other device keeps working meanwhile and that
# the device works again after a reset. Here we check vessel's side: exit
# status, no sanitizer report, one rate-limited log line naming the
# problem, the disk images untouched. Every case also runs as a negative
# control (vhneg: the guest skips the corruption, or the disk is not
# read-only) and must then fail.
. "$SRC/tests/lib.sh"
dev=${VESSEL_KVM_DEV:-/dev/kvm}
why=$(x86_guests_missing)
if [ -n "$why" ]; then skip "virtio-hostile" "$why"; exit 0; fi
if ! [ -r "$dev" ] || ! [ -w "$dev" ]; then skip "virtio-hostile" "$dev missing or not accessible"; exit 0; fi
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
x86_guest virtio-hostile "$out/vh.bz" || { nok "assemble virtio-hostile"; exit 0; }

# Two 1 MiB images: sector 0 starts with a signature the guest checks,
# the rest is a fixed pattern (any write shows in the hash).
mkimg() { { printf "VSLDISK$2"; head -c $((1048576 - 8)) /dev/zero | tr '\0' "$3"; } >"$1"; }
mkimg "$out/rw.base" 0 'r'
mkimg "$out/ro.base" 1 'o'
rw_sum=$(sha256sum <"$out/rw.base") ro_sum=$(sha256sum <"$out/ro.base")

# vh CASE [NEG] [RO_OPTS]: run the guest on fresh copies of the images.
# Sets rc, and leaves stdout/stderr in $out/o and $out/e.
vh() {
    cp "$out/rw.base" "$out/rw.img"; cp "$out/ro.base" "$out/ro.img"
    local app="vh=$1${2:+ vhneg}"
    timeout -k 10 $(slow 120) "$VESSEL" kvm --kernel "$out/vh.bz" -m 32M --transport mmio --append "$app" \
        --disk "$out/rw.img" --disk "$out/ro.img${3-,readonly}" --rng >"$out/o" 2>"$out/e" </dev/null
    rc=$?
}
images_intact() { [ "$(sha256sum <"$out/rw.img")" = "$rw_sum" ] && [ "$(sha256sum <"$out/ro.img")" = "$ro_sum" ]; }
sanitizer() { grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$out/e"; }
why() { echo "rc $rc: $(head -c 200 "$out/o" | tr '\n' ' ') | $(head -c 300 "$out/e" | tr '\n' ' ')"; }

# check_pass NAME LOGPATTERN MAXLINES: the guest passed, vessel is sound
check_pass() {
    local name=$1 pat=$2 max=$3 lines
    lines=$(wc -l <"$out/e")
    if [ $rc -ne 0 ] || ! grep -q '^PASS virtio-hostile' "$out/o"; then nok "$name ($(why))"
    elif sanitizer; then nok "$name: sanitizer report ($(why))"
    elif [ -n "$pat" ] && ! grep -q "vessel: warning: guest: .*$pat" "$out/e"; then nok "$name: no log line matching '$pat' ($(why))"
    elif [ "$lines" -gt "$max" ]; then nok "$name: $lines log lines, want at most $max"
    elif ! images_intact; then nok "$name: a disk image changed"
    else ok "$name"; fi
}
# check_neg NAME FAILMSG: the negative control must make the guest fail
check_neg() {
    if [ $rc -eq 1 ] && grep -q "^FAIL virtio-hostile: $2" "$out/o" && ! sanitizer; then ok "$1 (negative control fails)"
    else nok "$1 negative control did not fail as expected ($(why))"; fi
}

# Bad rings: DEVICE_NEEDS_RESET + config interrupt, the other device works, reset cures.
nr_cases=(
    "a|descriptor loop|chain loops"
    "b|chain through every descriptor, longer than the queue|chain loops or is longer"
    "c|indirect chain of 300 descriptors|chain too long"
    "d|buffer outside RAM|outside RAM"
    "e|address + length wraps 2^64|outside RAM"
    "f|length wraps 2^32|outside RAM"
    "g|avail idx jumps by 9 on an 8-entry queue|avail idx moved"
    "h|avail ring head beyond the table|head index out of range"
    "i|indirect table inside an indirect table|inside an indirect table"
    "j|indirect table outside RAM|outside RAM"
    "k|indirect table length not a multiple of 16|bad indirect table length"
    "l|loop inside an indirect table|chain loops"
    "m|next index beyond the table|next index out of range"
    "n|device-readable descriptor after a device-writable one|readable descriptor after a writable"
)
for k in 0 2; do
    [ $k = 0 ] && devname=virtio-blk other=virtio-rng || { devname=virtio-rng other=virtio-blk; }
    for c in "${nr_cases[@]}"; do
        IFS='|' read -r letter what pat <<<"$c"
        name="$devname: $what -> NEEDS_RESET + config irq, $other works meanwhile, works after reset"
        vh "$k$letter"; check_pass "$name" "$devname: .*$pat.*needs reset" 3
        vh "$k$letter" neg; check_neg "$devname: $what" "bad ring did not set DEVICE_NEEDS_RESET"
    done
done

# Bad queue configuration at QueueReady (9 kinds, each followed by a reset).
for k in 0 2; do
    [ $k = 0 ] && devname=virtio-blk || devname=virtio-rng
    vh "${k}Q"
    if grep -q '^PASS virtio-hostile 9$' "$out/o"; then
        check_pass "$devname: 9 bad queue sizes/alignments/addresses at QueueReady refused (ready 0, NEEDS_RESET), works after reset" \
            "$devname: queue configured outside RAM or with a bad size" 3
    else nok "$devname bad queue configurations ($(why))"; fi
    vh "${k}Q" neg; check_neg "$devname: bad queue configurations" "bad queue configuration accepted"
done

# Bad requests on a good ring: the request's error status, no NEEDS_RESET.
vh 1R; check_pass "virtio-blk: write to a read-only disk -> VIRTIO_BLK_S_IOERR, image unchanged" "" 1
vh 1R "" ""; check_neg "virtio-blk: write to a read-only disk (disk given read-write)" "write to a read-only disk not refused"
vh 0S; check_pass "virtio-blk: sector at/across the end, sector*512 wrapping 2^64, 100-byte read -> IOERR each" "read beyond the disk" 6
vh 0S neg; check_neg "virtio-blk: bad sectors" "bad sector/length not refused with IOERR"
vh 0H; check_pass "virtio-blk: request header in a device-writable buffer -> IOERR" "request header too short" 1
vh 0H neg; check_neg "virtio-blk: device-writable header" "device-writable header not refused"
vh 0D; check_pass "virtio-blk: read into a device-readable buffer -> buffer not written" "" 1
vh 0D neg; check_neg "virtio-blk: read into a device-readable buffer" "device wrote into a device-readable buffer"
vh 0T; check_pass "virtio-blk: no device-writable status byte -> nothing written, used len 0" "request without a status byte" 1
vh 0T neg; check_neg "virtio-blk: no device-writable status byte" "device wrote into a device-readable buffer"
vh 0U; check_pass "virtio-blk: unknown request type -> VIRTIO_BLK_S_UNSUPP" "" 1
vh 0U neg; check_neg "virtio-blk: unknown request type" "unknown request type not refused"
vh 2X; check_pass "virtio-rng: device-readable buffer -> not written, used len 0" "" 1
vh 2X neg; check_neg "virtio-rng: device-readable buffer" "device wrote into a device-readable buffer"
# A write whose data buffer is device-writable must not reach the disk.
vh 0W; check_pass "virtio-blk: write request with device-writable data -> nothing reaches the image" "" 1
vh 0W neg
if [ $rc -eq 0 ] && ! images_intact; then ok "virtio-blk: write request with device-readable data does change the image (negative control)"
else nok "virtio-blk: the image check did not see a real write ($(why))"; fi

# Many errors: the guest counts 40 bad rings and 40 bad sectors; the log stays short.
vh 0F
if grep -q '^PASS virtio-hostile 80$' "$out/o"; then
    check_pass "virtio-blk: 80 guest errors give $(wc -l <"$out/e") rate-limited log lines" "read beyond the disk" 20
else nok "virtio-blk flood ($(why))"; fi
