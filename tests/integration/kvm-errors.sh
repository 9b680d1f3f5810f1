#!/bin/bash
# vessel kvm: bad input gives one clear line and a non-zero exit.
. "$SRC/tests/lib.sh"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
vmlinuz=$(ls /boot/vmlinuz-* 2>/dev/null | head -1)
good="$tmp/boot64.bz"
x86_guest boot64 "$good"
[ -f "$good" ] || good=$vmlinuz

expect_fail "no --kernel" "--kernel BZIMAGE is required" "$VESSEL" kvm
expect_fail "missing kernel file" "--kernel $tmp/nope: No such file" "$VESSEL" kvm --kernel "$tmp/nope"
printf 'not a kernel\n%.0s' {1..100} >"$tmp/text"
expect_fail "non-bzImage" "not a bzImage" "$VESSEL" kvm --kernel "$tmp/text"
{ printf '\177ELF\2\1\1'; head -c 200 /dev/zero; } >"$tmp/elf32"
expect_fail "ELF that is not an x86-64 PVH vmlinux" "not a little-endian ELF64 x86-64" "$VESSEL" kvm --kernel "$tmp/elf32"
if [ -n "$vmlinuz" ] && [ -r "$vmlinuz" ]; then
    head -c 200000 "$vmlinuz" >"$tmp/trunc"
    expect_fail "truncated bzImage" "truncated bzImage" "$VESSEL" kvm --kernel "$tmp/trunc"
else
    skip "truncated bzImage" "no /boot/vmlinuz-* to truncate"
fi
if [ -n "$good" ]; then
    expect_fail "nonexistent KVM device (--kvm-dev)" "$tmp/kvm: No such file or directory" \
        "$VESSEL" kvm --kernel "$good" --kvm-dev "$tmp/kvm"
    expect_fail "nonexistent KVM device (VESSEL_KVM_DEV)" "$tmp/kvm2: No such file" \
        env VESSEL_KVM_DEV="$tmp/kvm2" "$VESSEL" kvm --kernel "$good"
    : >"$tmp/noperm"; chmod 000 "$tmp/noperm"
    if [ "$(id -u)" = 0 ]; then
        expect_fail "unusable KVM device (not a KVM fd)" "$tmp/noperm|KVM API version" \
            "$VESSEL" kvm --kernel "$good" --kvm-dev "$tmp/noperm"
    else
        expect_fail "KVM device without permission" "Permission denied" \
            "$VESSEL" kvm --kernel "$good" --kvm-dev "$tmp/noperm"
    fi
    expect_fail "-m beyond host memory" "more than the host" "$VESSEL" kvm --kernel "$good" -m 64T
    expect_fail "-m too small" "-m 1M" "$VESSEL" kvm --kernel "$good" -m 1M
    expect_fail "bad --disk option" "--disk .*cache=fast" "$VESSEL" kvm --kernel "$good" --disk "x.img,cache=fast"
    expect_fail "bad --net option" "--net .*bogus" "$VESSEL" kvm --kernel "$good" --net bogus
    expect_fail "bad --transport" "--transport isa: expected pci or mmio" "$VESSEL" kvm --kernel "$good" --transport isa
    expect_fail "--incoming with --restore" "--incoming and --restore: one or the other" \
        "$VESSEL" kvm --restore "$tmp/nosnap" --incoming "unix:$tmp/mig.sock"
    expect_fail "--incoming with CPU hotplug" "--incoming: not with CPU hotplug \(--smp 1,maxcpus=2\)" \
        "$VESSEL" kvm --kernel "$good" --smp 1,maxcpus=2 --incoming "unix:$tmp/mig.sock"
    if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
        expect_fail "bad --serial" "chardev 'tcp:1234': unknown" "$VESSEL" kvm --kernel "$good" --serial tcp:1234
        : >"$tmp/notasock"
        expect_fail "--serial unix: on a regular file" "unix:$tmp/notasock: exists and is not a socket" \
            "$VESSEL" kvm --kernel "$good" --serial "unix:$tmp/notasock"
        expect_fail "missing --disk image" "$tmp/nodisk" "$VESSEL" kvm --kernel "$good" --disk "$tmp/nodisk"
        expect_fail "--incoming with a bad URI" "--incoming: .*expected unix:PATH, tcp:HOST:PORT or file:PATH" \
            "$VESSEL" kvm --kernel "$good" --serial null --incoming "exec:cat"
        head -c $((40 << 20)) /dev/zero >"$tmp/big.img"
        expect_fail "initrd too large" "--initrd: .* do not fit|larger than guest RAM" \
            "$VESSEL" kvm --kernel "$good" -m 32M --initrd "$tmp/big.img"
    else
        skip "initrd too large" "/dev/kvm not usable (the check runs after opening it)"
    fi
fi
