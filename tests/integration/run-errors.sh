# vessel run: bad input gives one clear line naming the value and a
# non-zero exit (never a crash); --help documents every option.
. "$SRC/tests/lib.sh"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
line=$(bash "$SRC/guest/build.sh" --print riscv64 2>/dev/null)
KERNEL= INITRD=
eval "$line"

help=$("$VESSEL" run --help); rc=$?
check "--help exits 0" test $rc -eq 0
missing=
for o in --kernel --initrd --append -m --memory --smp --bios --serial --disk --net --rng --console --gdb -S; do
    grep -q -- "$o" <<<"$help" || missing+=" $o"
done
check "--help documents every option${missing:+ (missing:$missing)}" test -z "$missing"
check "--help documents the exit statuses" grep -q "asked for a reboot" <<<"$help"

expect_fail "missing kernel file" "--kernel $tmp/nope: No such file" "$VESSEL" run --kernel "$tmp/nope"
printf 'this is not a kernel\n%.0s' {1..200} >"$tmp/text"
expect_fail "a file that is no kernel" "--kernel $tmp/text: not a RISC-V Linux Image" "$VESSEL" run --kernel "$tmp/text"
: >"$tmp/empty"
expect_fail "an empty kernel file" "--kernel $tmp/empty: not a RISC-V" "$VESSEL" run --kernel "$tmp/empty"
{ printf '\177ELF\2\1\1'; head -c 200 /dev/zero; } >"$tmp/elf"
expect_fail "an ELF for another machine" "--kernel $tmp/elf: not a 64-bit little-endian RISC-V ELF" \
    "$VESSEL" run --kernel "$tmp/elf"
if [ -n "$KERNEL" ]; then
    # corrupt Image: the magic kept, text_offset damaged
    cp "$KERNEL" "$tmp/bad"
    printf '\001\000\000\000' | dd of="$tmp/bad" bs=1 seek=8 conv=notrunc 2>/dev/null
    expect_fail "an Image with a damaged header" "--kernel $tmp/bad: bad text_offset" "$VESSEL" run --kernel "$tmp/bad"
    head -c 3000000 "$KERNEL" >"$tmp/trunc"
    cp "$KERNEL" "$tmp/k"
    # image_size smaller than the file
    printf '\020\000\000\000\000\000\000\000' | dd of="$tmp/k" bs=1 seek=16 conv=notrunc 2>/dev/null
    expect_fail "an Image whose image_size is smaller than the file" "--kernel $tmp/k: image_size" \
        "$VESSEL" run --kernel "$tmp/k"
    truncate -s 20M "$tmp/big.cpio"
    expect_fail "initrd larger than RAM" "--initrd $tmp/big.cpio: larger than guest RAM" \
        "$VESSEL" run --kernel "$KERNEL" --initrd "$tmp/big.cpio" -m 16M
    truncate -s 12M "$tmp/mid.cpio"
    expect_fail "initrd that does not fit beside the kernel" "--initrd $tmp/mid.cpio: .* do not fit" \
        "$VESSEL" run --kernel "$KERNEL" --initrd "$tmp/mid.cpio" -m 16M
    expect_fail "missing initrd" "--initrd $tmp/nope: No such file" "$VESSEL" run --kernel "$KERNEL" --initrd "$tmp/nope"
    expect_fail "missing --bios file" "--bios $tmp/nope: No such file" "$VESSEL" run --kernel "$KERNEL" --bios "$tmp/nope"
else
    skip "corrupt Image and initrd cases" "riscv64 guest not built (make guest)"
fi
expect_fail "-m too small" "-m 8M: need a size of at least 16M" "$VESSEL" run -m 8M
expect_fail "-m not a size" "-m lots: need a size" "$VESSEL" run -m lots
expect_fail "-m larger than the host" "-m [0-9]+ MiB is more than the host" "$VESSEL" run -m 64T
expect_fail "--smp 0" "--smp 0: need a hart count from 1 to 32" "$VESSEL" run --smp 0
expect_fail "--smp too many" "--smp 33: need a hart count from 1 to 32" "$VESSEL" run --smp 33
expect_fail "--smp not a number" "--smp two: need a hart count" "$VESSEL" run --smp two
expect_fail "--serial unknown backend" "chardev 'tty9': unknown" "$VESSEL" run --serial tty9 ${KERNEL:+--kernel "$KERNEL"}
expect_fail "--disk missing image" "$tmp/nodisk" "$VESSEL" run --disk "$tmp/nodisk" ${KERNEL:+--kernel "$KERNEL"}
expect_fail "too many virtio devices" "9 virtio devices asked for; the board has 8" \
    "$VESSEL" run --rng --console --disk "$tmp/empty,readonly" --disk "$tmp/text,readonly" \
    --disk "$tmp/elf,readonly" --disk "$tmp/d4" --disk "$tmp/d5" --disk "$tmp/d6" --disk "$tmp/d7"
expect_fail "an unexpected argument" "unexpected argument 'Image'" "$VESSEL" run Image
expect_fail "--balloon with a bad value" "--balloon deflate-on-oom=maybe: deflate-on-oom=maybe: expected on or off" \
    "$VESSEL" run --balloon=deflate-on-oom=maybe
expect_fail "--balloon with an unknown option" "--balloon size=1G: unknown option 'size'" "$VESSEL" run --balloon=size=1G
expect_fail "two balloons" "--balloon: at most 1 such devices" "$VESSEL" run --balloon --balloon
expect_fail "--mem-merge with a bad value" "--mem-merge=maybe: expected on or off" "$VESSEL" run --mem-merge=maybe
out=$("$VESSEL" run --frobnicate 2>&1); rc=$?
check "an unknown option: status 2 (got $rc)" test $rc -eq 2
check "an unknown option is named" grep -q "frobnicate" <<<"$out"
if [ -z "$KERNEL" ]; then
    VESSEL_CACHE=$tmp/nocache expect_fail "no default guest" "no --kernel given and no default guest built" \
        "$VESSEL" run
else
    expect_fail "no default guest" "no --kernel given and no default guest built" \
        env VESSEL_CACHE="$tmp/nocache" "$VESSEL" run
fi
expect_fail "--gdb with a bad spec" "--gdb nonsense: expected tcp::PORT" "$VESSEL" run --gdb nonsense -m 32M
expect_fail "--gdb with a port out of range" "--gdb tcp::99999" "$VESSEL" run --gdb tcp::99999 -m 32M
# libslirp is loaded when --net user asks for it (backend/net_slirp.c): one
# that cannot be loaded, or lacks a function vessel calls, is one line
if [ -z "$KERNEL" ]; then
    skip "--net user without a loadable libslirp" "no default guest built"
else
    mkdir "$tmp/fakelib"
    : >"$tmp/fakelib/libslirp.so.0"
    expect_fail "--net user: a libslirp.so.0 that is no library" "--net user: cannot load libslirp.so.0" \
        env LD_LIBRARY_PATH="$tmp/fakelib" "$VESSEL" run --kernel "$KERNEL" -m 32M --net user
    if have cc && echo 'int slirp_nothing(void) { return 0; }' >"$tmp/fake.c" &&
       cc -shared -fPIC -o "$tmp/fakelib/libslirp.so.0" "$tmp/fake.c" 2>/dev/null; then
        expect_fail "--net user: a libslirp.so.0 without slirp_new" "--net user: libslirp.so.0 has no slirp_new" \
            env LD_LIBRARY_PATH="$tmp/fakelib" "$VESSEL" run --kernel "$KERNEL" -m 32M --net user
    else
        skip "--net user: a libslirp.so.0 without slirp_new" "no C compiler to build the stand-in"
    fi
fi
