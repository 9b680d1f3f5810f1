# bench/lib/nested.sh (sourced): what the benches that measure KVM in the
# nested tier share (bench/compare/nested.sh, bench/kvm/run.sh). The tier
# (tests/integration/kvm-nested.sh) boots an L1 Linux under
# qemu-system-x86_64 -accel tcg -cpu qemu64,+svm,+npt that loads kvm-amd;
# its initramfs is tests/nested/build-l1.sh's (busybox, bash, vessel, the
# KVM modules, the default x86-64 guest), and a bench appends a second cpio
# archive to it (Linux unpacks both) holding its inner script as the one
# "test" L1 runs, its data, and QEMU with its libraries and firmware, so
# that qemu-system-x86_64 -enable-kvm runs in L1 beside vessel kvm. Every
# figure measured there is two levels of virtualization on an emulated
# CPU: "nested", never a hardware figure.
#
# The caller defines progress MSG (one progress line) and may read
# nested_pid (the L1's QEMU while it runs: kill it on an early exit).

nested_pid=

# nested_kver: the newest /boot/vmlinuz-V with /lib/modules/V's kvm-amd.ko
# (Debian's linux-image-cloud-amd64); status 1 and the reason if none
nested_kver() {
    local kver= k v
    for k in $(ls -v /boot/vmlinuz-* 2>/dev/null); do
        v=${k#/boot/vmlinuz-}
        [ -r "$k" ] && [ -e "/lib/modules/$v/kernel/arch/x86/kvm/kvm-amd.ko" ] && kver=$v
    done
    [ -n "$kver" ] || { echo "no /boot/vmlinuz-V with kvm-amd.ko (package linux-image-cloud-amd64)"; return 1; }
    echo "$kver"
}

# nested_check: status 1 and the reason when the tier cannot run here
nested_check() {
    command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86_64 missing (package qemu-system-x86)"; return 1; }
    command -v cpio >/dev/null || { echo "cpio missing"; return 1; }
    bash "$SRC/guest/build.sh" --print x86_64 >/dev/null 2>&1 || { echo "the default x86-64 guest is not built (make guest)"; return 1; }
    nested_kver >/dev/null || { nested_kver; return 1; }
}

# nested_add_qemu DIR: qemu-system-x86_64, every library ldd names, and the
# firmware -M microvm (qboot) and -M q35 (SeaBIOS, the linuxboot option
# ROM) boot a -kernel with, under DIR as under /; status 1 and the reason
# when something is missing
nested_add_qemu() {
    local d=$1 q l f
    q=$(command -v qemu-system-x86_64) || { echo "qemu-system-x86_64 missing (package qemu-system-x86)"; return 1; }
    mkdir -p "$d$(dirname "$q")" && cp "$q" "$d$q" || return 1
    while read -r l; do
        mkdir -p "$d$(dirname "$l")" && cp -L "$l" "$d$l"
    done < <(ldd "$q" | grep -o '/[^ ]*' | sort -u)
    # Debian's QEMU looks for firmware in /usr/share/qemu, then /usr/share/seabios
    for f in /usr/share/qemu/bios-microvm.bin /usr/share/qemu/linuxboot_dma.bin /usr/share/qemu/kvmvapic.bin \
             /usr/share/seabios/bios-256k.bin; do
        [ -r "$f" ] || { echo "$f missing (packages qemu-system-x86, seabios)"; return 1; }
        mkdir -p "$d$(dirname "$f")" && cp -L "$f" "$d$f"
    done
}

# nested_run_l1 WORK BASE OVERLAY_DIR TIMEOUT MEM_MIB PROGRESS_SED: pack
# OVERLAY_DIR as a second cpio archive after the initramfs BASE
# (build-l1.sh's), boot L1 with it (TIMEOUT s at most), show progress with
# the last L1 console line PROGRESS_SED prints (sed -n), and leave L1's
# console in WORK/l1.txt. Sets nested_qrc (QEMU's status) and nested_secs.
# Status 1 with the reason when L1 got no /dev/kvm. L1's init prints a
# heartbeat every 15 s: a console silent for NESTED_STALL s (150) is an L1
# that stopped (seen: a one-CPU L1 idle, QEMU at 5% of a CPU, for the rest
# of its 540 s): QEMU is killed, nested_stalled says after how long and
# nested_where where L1's CPU was (its registers: WORK/l1-regs.txt).
nested_run_l1() {
    local work=$1 base=$2 od=$3 timeout=$4 mem=$5 psed=$6 kver log l last= t0=$SECONDS sz size=-1 grew=$SECONDS
    nested_why= nested_stalled= nested_where=
    kver=$(nested_kver) || { nested_why=$kver; return 1; }
    (cd "$od" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$work/overlay.cpio.gz"
    cat "$base" "$work/overlay.cpio.gz" >"$work/l1.cpio.gz"
    log=$work/l1.log
    : >"$log"
    timeout -k 10 "$timeout" qemu-system-x86_64 -accel tcg -cpu qemu64,+svm,+npt \
        -m "$mem" -smp 1 -nodefaults -display none -monitor "unix:$work/mon.sock,server=on,wait=off" -no-reboot \
        -serial "file:$log" -kernel "/boot/vmlinuz-$kver" -initrd "$work/l1.cpio.gz" \
        -append "console=ttyS0 quiet loglevel=3 panic=-1 no_timer_check" </dev/null >"$work/l1.out" 2>&1 &
    nested_pid=$!
    while kill -0 "$nested_pid" 2>/dev/null; do
        l=$(tr -d '\r' <"$log" | sed -n "$psed" | tail -n 1)
        [ -z "$l" ] && l="nested L1: booting (qemu-system-x86_64 -accel tcg, pid $nested_pid)"
        [ "$l" != "$last" ] && progress "$l" && last=$l
        sz=$(stat -c %s "$log" 2>/dev/null || echo 0)
        [ "$sz" != "$size" ] && size=$sz grew=$SECONDS
        if [ -z "$nested_stalled" ] && [ $((SECONDS - grew)) -ge "${NESTED_STALL:-150}" ]; then
            nested_stalled=$((SECONDS - grew))
            # where L1 is (tests/nested/l1-regs.py): its RIPs in l1-regs.txt,
            # the first sample's in nested_where
            python3 "$SRC/tests/nested/l1-regs.py" "$work/mon.sock" "$log" >"$work/l1-regs.txt" 2>&1
            nested_where=$(grep -o 'CPU#[0-9]* RIP [0-9a-f]* ([^)]*) [^;]*;' "$work/l1-regs.txt" | head -n 1 | tr -d ';')
            progress "nested L1: console silent for $nested_stalled s: L1 stopped (${nested_where:-no registers: see $work/l1-regs.txt}), ending it"
            kill -TERM "$nested_pid" 2>/dev/null   # timeout passes it on to QEMU
        fi
        sleep 2
    done
    wait "$nested_pid"
    nested_qrc=$?
    nested_pid=
    nested_secs=$((SECONDS - t0))
    tr -d '\r' <"$log" >"$work/l1.txt"
    grep -q '^@@nested l1 kvm ready' "$work/l1.txt" ||
        { nested_why="L1 got no /dev/kvm (qemu status $nested_qrc after $nested_secs s)"; return 1; }
}
