# bench/compare/nested.sh (sourced by run.sh): the KVM cells where this host
# has no usable /dev/kvm, measured inside the nested tier
# (tests/integration/kvm-nested.sh): an L1 Linux under qemu-system-x86_64
# -accel tcg -cpu qemu64,+svm,+npt loads kvm-amd, and vessel kvm and
# qemu-system-x86_64 -enable-kvm run the default x86-64 guest there. Every
# figure is then two levels of virtualization on an emulated CPU: labelled
# "nested", never a hardware figure.
#
# The L1 initramfs is tests/nested/build-l1.sh's (busybox, bash, vessel,
# the KVM modules, the default x86-64 guest) with a second cpio archive
# appended (Linux unpacks both): this bench's inner script as the one test
# L1 runs, lib.sh, the workload disk, and QEMU with its libraries and
# microvm firmware.

# nested_kvm_cells WHY CELL...: measure CELLS in L1 (WHY: why not directly)
nested_kvm_cells() {
    local why=$1 c; shift
    local cells="$*" d=$work/nested
    nested_na() { for c in $cells; do na "$c" '*' "$why; nested tier: $1"; done; }
    command -v qemu-system-x86_64 >/dev/null || { nested_na "qemu-system-x86_64 missing (package qemu-system-x86)"; return; }
    command -v cpio >/dev/null || { nested_na "cpio missing"; return; }
    [ -n "$wl_x86" ] || { nested_na "gcc could not build the x86-64 workload"; return; }
    local kver= k v
    for k in $(ls -v /boot/vmlinuz-* 2>/dev/null); do
        v=${k#/boot/vmlinuz-}
        [ -r "$k" ] && [ -e "/lib/modules/$v/kernel/arch/x86/kvm/kvm-amd.ko" ] && kver=$v
    done
    [ -n "$kver" ] || { nested_na "no /boot/vmlinuz-V with kvm-amd.ko (package linux-image-cloud-amd64)"; return; }
    bash "$SRC/guest/build.sh" --print x86_64 >/dev/null 2>&1 || { nested_na "the default x86-64 guest is not built (make guest)"; return; }
    progress "nested: building the L1 initramfs"
    local base
    base=$(bash "$SRC/tests/nested/build-l1.sh" "$(dirname "$VESSEL")" "$kver" kvm-guests 2>"$work/l1.err") ||
        { nested_na "tests/nested/build-l1.sh failed: $(tail -n 1 "$work/l1.err")"; return; }
    mkdir -p "$d"/{nested/compare,nested/src/tests/integration,nested/src/bench/compare,usr/share/qemu}
    echo compare-kvm >"$d/nested/tests"
    cp "$SRC/bench/compare/nested-inner.sh" "$d/nested/src/tests/integration/compare-kvm.sh"
    cp "$SRC/bench/compare/lib.sh" "$d/nested/src/bench/compare/"
    printf 'size=%s reps=%s boots=%s cells="%s"\n' "$nested_size" "$nested_reps" "$nested_boots" "$cells" >"$d/nested/compare/params"
    size=$nested_size mkdisk "$wl_x86" "$d/nested/compare/wl.img" || { nested_na "mkfs.ext2 -d failed"; return; }
    local q l
    q=$(command -v qemu-system-x86_64)
    mkdir -p "$d$(dirname "$q")" && cp "$q" "$d$q"
    while read -r l; do
        mkdir -p "$d$(dirname "$l")" && cp -L "$l" "$d$l"
    done < <(ldd "$q" | grep -o '/[^ ]*' | sort -u)
    cp -L /usr/share/qemu/bios-microvm.bin "$d/usr/share/qemu/" 2>/dev/null ||
        { nested_na "/usr/share/qemu/bios-microvm.bin missing (qemu-system-x86)"; return; }
    (cd "$d" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$work/overlay.cpio.gz"
    cat "$base" "$work/overlay.cpio.gz" >"$work/l1.cpio.gz"

    local log=$work/l1.log t0=$SECONDS pid last=
    : >"$log"
    timeout -k 10 "$nested_timeout" qemu-system-x86_64 -accel tcg -cpu qemu64,+svm,+npt \
        -m 1280 -smp 1 -nodefaults -display none -monitor none -no-reboot \
        -serial "file:$log" -kernel "/boot/vmlinuz-$kver" -initrd "$work/l1.cpio.gz" \
        -append "console=ttyS0 quiet loglevel=3 panic=-1 no_timer_check" </dev/null >"$work/l1.out" 2>&1 &
    pid=$!
    nested_pid=$pid     # run.sh's cleanup ends it if the bench is interrupted
    while kill -0 $pid 2>/dev/null; do
        l=$(tr -d '\r' <"$log" | sed -n 's/^@@nested compare-kvm: compare: \[[^]]*\] /nested L1 /p' | tail -n 1)
        [ -z "$l" ] && l="nested L1: booting (qemu-system-x86_64 -accel tcg, pid $pid)"
        [ "$l" != "$last" ] && progress "$l" && last=$l
        sleep 2
    done
    wait $pid
    local qrc=$?
    nested_pid=
    tr -d '\r' <"$log" >"$work/l1.txt"
    [ -n "${BUILD:-}" ] && mkdir -p "$BUILD/test-logs" && cp "$work/l1.txt" "$BUILD/test-logs/compare-nested-l1.log"
    if ! grep -q '^@@nested l1 kvm ready' "$work/l1.txt"; then
        nested_na "L1 got no /dev/kvm (qemu status $qrc after $((SECONDS - t0)) s)"; return
    fi
    sed -n 's/^@@nested compare-kvm: RAW\t//p' "$work/l1.txt" >>"$raw"
    local w
    for c in $cells; do
        for w in $WORKLOADS; do
            grep -q "^$c"$'\t'"$w"$'\t' "$raw" ||
                na "$c" "$w" "$why; nested tier: L1 ended (qemu status $qrc after $((SECONDS - t0)) s) before this was measured"
        done
    done
    nested_used=1
}
