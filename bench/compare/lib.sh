# bench/compare/lib.sh: what run.sh and the nested tier's inner script
# (nested-inner.sh) share: recording runs, and a VM cell driven through its
# console (tests/guestlib.sh). Source after setting raw (the run file),
# work (a scratch dir), WORKLOADS, size, reps, boots and t_start.

# ---- output ----
progress() {
    local line
    line=$(printf 'compare: [%dm%02ds] %s%s' $(((SECONDS - t_start) / 60)) $(((SECONDS - t_start) % 60)) "${ROUND_TAG:-}" "$*")
    if [ -t 2 ]; then printf '\r\033[K%s' "$line" >&2; else echo "$line" >&2; fi
}
# put CELL WORKLOAD VALUE UNIT: one measured run, with the round it was
# measured in (ROUND; each line of the run file starts with RAW_PREFIX: the
# nested tier's L1 marks its lines so, and the host gives them its round)
put() { printf '%s%s\t%s\t%s\t%s\t%s\n' "${RAW_PREFIX:-}" "$1" "$2" "$3" "$4" "${ROUND:-1}" >>"$raw"; }
# na CELL WORKLOAD|* REASON: not measurable here (one line is enough)
na() {
    local w
    if [ "$2" = '*' ]; then for w in $WORKLOADS; do na "$1" "$w" "$3"; done; return; fi
    printf '%s%s\t%s\tNA\t%s\t%s\n' "${RAW_PREFIX:-}" "$1" "$2" "$(tr '\t\n' '  ' <<<"$3" | sed 's/ *$//')" "${ROUND:-1}" >>"$raw"
}
# take CELL < "wl KIND VALUE UNIT" lines: record them; a workload's error
# line makes that workload not measurable with its message as the reason
take() {
    local cell=$1 l k v u seen=
    while IFS= read -r l; do
        l=${l%$'\r'}
        read -r _ k v u _ <<<"$l"
        [[ $l == "wl "* ]] || continue
        if [ "$v" = "error:" ]; then na "$cell" "$k" "the workload failed: ${l#wl "$k" error: }"; seen+=" $k"; continue; fi
        [[ $v =~ ^[0-9.]+$ ]] && put "$cell" "$k" "$v" "$u" && seen+=" $k"
    done
    for k in ${WORKLOADS% startup}; do
        [[ " $seen " == *" $k "* ]] || na "$cell" "$k" "no result line from the workload (run output: $(head -c 200 "$work/last.err" 2>/dev/null))"
    done
}

# ---- VM cells: vessel run, qemu-system-riscv64, vessel kvm, qemu -enable-kvm ----
# The workload reaches the guest on an ext2 virtio disk (serial "wl") that
# is also where its file test writes.
mkdisk() {   # mkdisk BINARY IMG
    mkdir -p "$work/disk"
    cp "$1" "$work/disk/wl"
    truncate -s $((size + 32))M "$2" && mkfs.ext2 -q -d "$work/disk" "$2" >/dev/null 2>&1
}
# vm_cell CELL CMD...: $boots boots to the ready line (start-up); in the
# first, the workloads $reps times from the disk
vm_cell() {
    local cell=$1 b i ms ran=0; shift
    for ((b = 1; b <= boots; b++)); do
        progress "$cell: boot $b/$boots"
        # bash's clock, not guest_elapsed's date +%N: busybox's date (the
        # nested tier's L1) has no %N and gave whole seconds
        local t0=$EPOCHREALTIME
        guest_start "$@" || { na "$cell" '*' "cannot start $1"; return; }
        if ! guest_wait_for "$GUEST_MARKER" || ! { ms=$EPOCHREALTIME; guest_wait_ready; }; then
            local why; why=$(guest_tail 3 2>&1 | tr '\n' ' ')
            guest_kill
            if [ $ran = 0 ]; then na "$cell" '*' "the guest did not reach its shell: ${why:0:200}"
            else na "$cell" startup "boot $b did not reach its shell: ${why:0:200}"; fi
            return
        fi
        put "$cell" startup "$(awk -v a="$t0" -v b="$ms" 'BEGIN { printf "%.1f", (b - a) * 1000 }')" ms
        if [ $ran = 0 ]; then
            ran=1
            if ! guest_run 'mkdir -p /t; for d in /sys/block/vd*; do [ "$(cat $d/serial 2>/dev/null)" = wl ] && mount /dev/${d##*/} /t; done; cd /t && ls wl' >/dev/null; then
                na "$cell" '*' "the workload disk (serial wl) was not found in the guest"
                guest_kill; return
            fi
            for ((i = 1; i <= reps; i++)); do
                progress "$cell: workloads, run $i/$reps"
                guest_run "cd /t && ./wl all $size" 900 2>"$work/last.err" | take "$cell"
            done
        fi
        guest_poweroff 60 >/dev/null 2>&1 || guest_kill
    done
}
# kvm_vm_cell CELL KERNEL INITRD IMG: vessel kvm (its default: virtio-pci)
# or QEMU with KVM (-M microvm, virtio-mmio: QEMU's minimal machine, the
# one bench/kvm compares with) on the default x86-64 guest
kvm_vm_cell() {
    local cell=$1 k=$2 i=$3 img=$4
    if [ "$cell" = vessel-kvm ]; then
        vm_cell "$cell" "$VESSEL" kvm -m 256M --kernel "$k" --initrd "$i" --append console=ttyS0 \
            --disk "$img,id=wl" --net user
    else
        vm_cell "$cell" qemu-system-x86_64 -enable-kvm -M microvm -cpu host,-arch-capabilities -m 256M -smp 1 \
            -nodefaults -no-user-config -display none -serial stdio -kernel "$k" -initrd "$i" -append console=ttyS0 \
            -drive "file=$img,format=raw,if=none,id=d0,cache=writeback" -device virtio-blk-device,drive=d0,serial=wl \
            -netdev user,id=n0 -device virtio-net-device,netdev=n0
    fi
}
