# bench/compare/nested.sh (sourced by run.sh): the KVM cells where this host
# has no usable /dev/kvm, measured inside the nested tier
# (tests/integration/kvm-nested.sh): an L1 Linux under qemu-system-x86_64
# -accel tcg -cpu qemu64,+svm,+npt loads kvm-amd, and vessel kvm and
# qemu-system-x86_64 -enable-kvm run the default x86-64 guest there. Every
# figure is then two levels of virtualization on an emulated CPU: labelled
# "nested", never a hardware figure.
#
# The L1 and its QEMU come from bench/lib/nested.sh (shared with
# bench/kvm); the second cpio archive holds this bench's inner script as
# the one test L1 runs, lib.sh and the workload disk.

. "$SRC/bench/lib/nested.sh"

# nested_kvm_cells WHY CELL...: measure CELLS in L1 (WHY: why not directly)
nested_kvm_cells() {
    local why=$1 c; shift
    local cells="$*" d=$work/nested r
    nested_na() { for c in $cells; do na "$c" '*' "$why; nested tier: $1"; done; }
    r=$(nested_check) || { nested_na "$r"; return; }
    [ -n "$wl_x86" ] || { nested_na "gcc could not build the x86-64 workload"; return; }
    progress "nested: building the L1 initramfs"
    local base
    base=$(bash "$SRC/tests/nested/build-l1.sh" "$(dirname "$VESSEL")" "$(nested_kver)" kvm-guests 2>"$work/l1.err") ||
        { nested_na "tests/nested/build-l1.sh failed: $(tail -n 1 "$work/l1.err")"; return; }
    mkdir -p "$d"/{nested/compare,nested/src/tests/integration,nested/src/bench/compare}
    echo compare-kvm >"$d/nested/tests"
    cp "$SRC/bench/compare/nested-inner.sh" "$d/nested/src/tests/integration/compare-kvm.sh"
    cp "$SRC/bench/compare/lib.sh" "$d/nested/src/bench/compare/"
    printf 'size=%s reps=%s boots=%s cells="%s"\n' "$nested_size" "$nested_reps" "$nested_boots" "$cells" >"$d/nested/compare/params"
    size=$nested_size mkdisk "$wl_x86" "$d/nested/compare/wl.img" || { nested_na "mkfs.ext2 -d failed"; return; }
    r=$(nested_add_qemu "$d") || { nested_na "$r"; return; }

    nested_run_l1 "$work" "$base" "$d" "$nested_timeout" 1280 \
        's/^@@nested compare-kvm: compare: \[[^]]*\] /nested L1 /p'
    local rc=$?
    [ -n "${BUILD:-}" ] && mkdir -p "$BUILD/test-logs" && cp "$work/l1.txt" "$BUILD/test-logs/compare-nested-l1.log"
    [ $rc = 0 ] || { nested_na "$nested_why"; return; }
    # the L1's runs belong to this round
    sed -n 's/^@@nested compare-kvm: RAW\t//p' "$work/l1.txt" | tr -d '\r' |
        awk -F'\t' -v r="${ROUND:-1}" 'BEGIN { OFS = "\t" } NF >= 4 { $5 = r; print }' >>"$raw"
    local w
    for c in $cells; do
        for w in $WORKLOADS; do
            grep -q "^$c"$'\t'"$w"$'\t' "$raw" ||
                na "$c" "$w" "$why; nested tier: L1 ended (qemu status $nested_qrc after $nested_secs s${nested_stalled:+, its console silent for $nested_stalled s: stopped${nested_where:+ at $nested_where}}) before this was measured"
        done
    done
    nested_used=1
}
