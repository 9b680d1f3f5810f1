#!/bin/bash
# bench/kvm's Linux part, run where /dev/kvm works: on the host when it has
# one, else inside the nested tier's L1 (bench/kvm/run.sh packs it there as
# its one inner "test"). vessel's default x86-64 guest (same bzImage and
# initramfs for all) under vessel kvm, qemu-system-x86_64 -M microvm and
# -M q35, each boot timed by vmbench (bench/kvm/vmbench.c):
#   boots: BOOTS rounds of one boot each (vessel, microvm, q35 in turn), no
#          devices but the console: boot to init's ready line, VMM memory
#          outside guest RAM, power-off to process exit;
#   io:    one boot per transport with a virtio disk and slirp network,
#          REPS times: 1 MiB O_DIRECT sequential read and write of BLK_MIB
#          MiB on the disk, NET_MIB MiB fetched over HTTP from the host;
#   tap:   NET_MIB MiB fetched over HTTP through a tap, REPS times, with and
#          without vhost-net (vessel pci and mmio, QEMU q35).
# One result a line on stdout: "kvmb<TAB>WHO<TAB>METRIC<TAB>VALUE<TAB>UNIT",
# or "kvmb<TAB>WHO<TAB>METRIC<TAB>NA<TAB>WHY". Progress on stderr.
# Environment: VESSEL, VMBENCH, KERNEL, INITRD, BOOTS, REPS, BLK_MIB,
# NET_MIB, KVMB_APPEND (the guest's command line), KVMB_WHAT ("boot io tap"),
# KVMB_PEERS (of "vessel qemu-microvm qemu-q35", the boot part's),
# KVMB_SHOW_STDERR=1 (each VMM's stderr into the log, prefixed).
set -u
: "${VESSEL:?}" "${VMBENCH:?}" "${KERNEL:?}" "${INITRD:?}"
BOOTS=${BOOTS:-3} REPS=${REPS:-2} BLK_MIB=${BLK_MIB:-32} NET_MIB=${NET_MIB:-16}
KVMB_WHAT=${KVMB_WHAT:-boot io tap}
APPEND=${KVMB_APPEND:-console=ttyS0 quiet panic=-1}
peers=${KVMB_PEERS:-vessel qemu-microvm qemu-q35}
work=$(mktemp -d "${TMPDIR:-/tmp}/kvmbench.XXXXXX")
hpid=
trap '[ -n "$hpid" ] && kill $hpid 2>/dev/null; rm -rf "$work"' EXIT
res() { printf 'kvmb\t%s\t%s\t%s\t%s\n' "$@"; }
say() { echo "kvmbench: [$SECONDS s] $*" >&2; }
qemu=$(command -v qemu-system-x86_64 || true)
# -cpu host less arch-capabilities: the L1's KVM cannot set that MSR
qbase=(-enable-kvm -cpu host,-arch-capabilities -m 256M -smp 1 -nodefaults -no-user-config
       -display none -serial stdio -kernel "$KERNEL" -initrd "$INITRD")
vbase=("$VESSEL" kvm -m 256M --kernel "$KERNEL" --initrd "$INITRD")

# vmb WHO [--cmd ...] -- CMD...: one boot; its records become result lines
vmb() {
    local who=$1 out; shift
    out=$("$VMBENCH" --ram 256 --timeout "${KVMB_TIMEOUT:-900}" --maps 128 --stderr "$work/$who.err" "$@")
    echo "$out" >"$work/$who.out"
    # where the VMM's memory outside guest RAM is (the log, not the results)
    grep '^map ' <<<"$out" | sed "s/^/kvmbench: $who: /" >&2
    if [ -n "${KVMB_SHOW_STDERR:-}" ]; then
        grep '^poweroff_ms ' <<<"$out" | sed "s/^/kvmbench: $who: /" >&2
        sed "s/^/kvmbench: $who stderr: /" "$work/$who.err" >&2
    fi
    if grep -q '^error: ' <<<"$out"; then
        res "$who" boot NA "$(grep -m1 '^error: ' <<<"$out") $(grep '^tail: ' <<<"$out" | tail -n 2 | tr '\n' ' ') $(tail -n 2 "$work/$who.err" | tr '\n' ' ')"
        return 1
    fi
    awk -v who="$who" -F' ' '
        $1 == "boot_ms" { printf "kvmb\t%s\tboot\t%s\tms\n", who, $2 }
        $1 == "mem_kb" { printf "kvmb\t%s\tvmm_rss_outside_ram\t%d\tKiB\n", who, $3 - $5
                         printf "kvmb\t%s\tvmm_pss_outside_ram\t%d\tKiB\n", who, $7 - $9
                         printf "kvmb\t%s\tguest_ram_resident\t%d\tKiB\n", who, $5 }
        $1 == "poweroff_ms" { printf "kvmb\t%s\tpoweroff\t%s\tms\n", who, $2
                              printf "kvmb\t%s\tpoweroff_status\t%s\t-\n", who, $4 }' <<<"$out"
    grep '^poweroff_ms ' <<<"$out" | sed 's/.* last /last line: /' | head -n 1 >"$work/$who.last"
}

if [[ " $KVMB_WHAT " == *" boot "* ]]; then
    for ((b = 1; b <= BOOTS; b++)); do
        if [[ " $peers " == *" vessel "* ]]; then
            say "boot $b/$BOOTS: vessel kvm"
            vmb vessel -- "${vbase[@]}" --append "$APPEND"
        fi
        if [ -n "$qemu" ] && [[ " $peers " == *" qemu-microvm "* ]]; then
            say "boot $b/$BOOTS: qemu microvm"
            vmb qemu-microvm -- "$qemu" -M microvm "${qbase[@]}" -append "$APPEND"
        fi
        if [ -n "$qemu" ] && [[ " $peers " == *" qemu-q35 "* ]]; then
            say "boot $b/$BOOTS: qemu q35"
            vmb qemu-q35 -- "$qemu" -M q35 "${qbase[@]}" -append "$APPEND"
        fi
    done
    for w in vessel qemu-microvm qemu-q35; do
        [ -s "$work/$w.last" ] && res "$w" poweroff_last_line "$(cat "$work/$w.last")" -
    done
    [ -n "$qemu" ] || res qemu-microvm boot NA "qemu-system-x86_64 not installed"
fi

if [[ " $KVMB_WHAT " == *" io "* ]]; then
    say "io: a ${BLK_MIB} MiB disk and a ${NET_MIB} MiB file served by busybox httpd"
    dd if=/dev/zero of="$work/disk.img" bs=1M count="$BLK_MIB" 2>/dev/null
    mkdir -p "$work/www"
    head -c $((NET_MIB << 20)) /dev/urandom >"$work/www/net.bin"
    port=$((20000 + ($$ + 11) % 20000))
    busybox httpd -f -p "127.0.0.1:$port" -h "$work/www" & hpid=$!
    cmds=()
    for ((r = 1; r <= REPS; r++)); do
        cmds+=(--cmd "dd if=/dev/vda of=/dev/null bs=1M count=$BLK_MIB iflag=direct 2>&1 | grep copied"
               --cmd "dd if=/dev/zero of=/dev/vda bs=1M count=$BLK_MIB oflag=direct 2>&1 | grep copied"
               --cmd "wget -q -O - http://10.0.2.2:$port/net.bin | dd of=/dev/null bs=64k 2>&1 | grep copied")
    done
    qdrive=(-drive "file=$work/disk.img,format=raw,if=none,id=d0,cache=writeback" -netdev user,id=n0)
    # io WHO CMD...: one boot, the commands above; MB/s from dd's own line
    # ("N bytes (...) copied, T seconds, ..."), checked for the whole size
    io() {
        local who=$1; shift
        say "io: $who"
        vmb "$who" "${cmds[@]}" -- "$@" || return
        awk -v who="$who" -v blk=$((BLK_MIB << 20)) -v net=$((NET_MIB << 20)) '
            $1 == "out" { n = $2 + 0; k = (n - 1) % 3
                          m = k == 0 ? "blk_read" : k == 1 ? "blk_write" : "net_rx"
                          want = k == 2 ? net : blk
                          if ($3 + 0 == want && $0 ~ / seconds/) {
                              for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^seconds/) s = $i
                              printf "kvmb\t%s\t%s\t%.2f\tMB/s\n", who, m, $3 / s / 1e6
                          } else printf "kvmb\t%s\t%s\tNA\t%s\n", who, m, $0 }' "$work/$who.out"
    }
    io vessel-mmio "${vbase[@]}" --append "$APPEND" --transport mmio --disk "$work/disk.img" --net user
    io vessel-pci "${vbase[@]}" --append "$APPEND" --disk "$work/disk.img" --net user
    if [ -n "$qemu" ]; then
        io qemu-microvm-mmio "$qemu" -M microvm "${qbase[@]}" -append "$APPEND" "${qdrive[@]}" \
            -device virtio-blk-device,drive=d0 -device virtio-net-device,netdev=n0
        io qemu-q35-pci "$qemu" -M q35 "${qbase[@]}" -append "$APPEND" "${qdrive[@]}" \
            -device virtio-blk-pci,drive=d0,ioeventfd=off -device virtio-net-pci,netdev=n0,romfile=,ioeventfd=off
        io qemu-q35-pci-ioeventfd "$qemu" -M q35 "${qbase[@]}" -append "$APPEND" "${qdrive[@]}" \
            -device virtio-blk-pci,drive=d0 -device virtio-net-pci,netdev=n0,romfile=
    fi
fi
# tap: the same guest fetching NET_MIB MiB over HTTP from a server in this
# (L1) system through a tap (10.78.0.1 on the host side), REPS times:
# vessel moving the packets itself, vessel with vhost-net (pci: ioeventfd
# kick, irqfd call; mmio: MMIO-exit kick, relayed call), QEMU q35 with and
# without vhost-net. Needs root, iproute2's ip and /dev/net/tun;
# /dev/vhost-net for the vhost rows.
if [[ " $KVMB_WHAT " == *" tap "* ]]; then
    tap=kvmbtap$$ taddr=10.78.0.1
    tapwho="vessel-pci-tap vessel-pci-vhost vessel-mmio-vhost qemu-q35-pci-tap qemu-q35-pci-vhost"
    tap_na() { local w; for w in $tapwho; do res "$w" tap_rx NA "$1"; done; }
    if ! { ip tuntap help 2>&1 || true; } | grep tuntap >/dev/null || [ ! -c /dev/net/tun ]; then
        tap_na "no tap here (iproute2's ip, /dev/net/tun)"
    elif ! ip tuntap add dev "$tap" mode tap vnet_hdr || ! ip addr add "$taddr/24" dev "$tap" ||
        ! ip link set "$tap" up; then
        tap_na "cannot set up a tap"
    else
        trap '[ -n "$hpid" ] && kill $hpid 2>/dev/null; [ -n "${tpid:-}" ] && kill $tpid 2>/dev/null; ip link del "$tap" 2>/dev/null; rm -rf "$work"' EXIT
        mkdir -p "$work/tapwww"
        head -c $((NET_MIB << 20)) /dev/urandom >"$work/tapwww/tap.bin"
        tport=$((20000 + ($$ + 23) % 20000))
        busybox httpd -f -p "$taddr:$tport" -h "$work/tapwww" & tpid=$!
        tcmds=(--cmd "ifconfig eth0 10.78.0.2 netmask 255.255.255.0 up")
        for ((r = 1; r <= REPS; r++)); do
            tcmds+=(--cmd "wget -q -O - http://$taddr:$tport/tap.bin | dd of=/dev/null bs=64k 2>&1 | grep copied")
        done
        # tapio WHO CMD...: one boot, MB/s of each fetch from dd's own line
        tapio() {
            local who=$1; shift
            say "tap: $who"
            vmb "$who" "${tcmds[@]}" -- "$@" || return
            awk -v who="$who" -v net=$((NET_MIB << 20)) '
                $1 == "out" && $2 + 0 > 1 {
                    if ($3 + 0 == net && $0 ~ / seconds/) {
                        for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^seconds/) s = $i
                        printf "kvmb\t%s\ttap_rx\t%.2f\tMB/s\n", who, $3 / s / 1e6
                    } else printf "kvmb\t%s\ttap_rx\tNA\t%s\n", who, $0 }' "$work/$who.out"
        }
        tapp="$APPEND vessel.nonet"
        tapio vessel-pci-tap "${vbase[@]}" --append "$tapp" --net "tap,ifname=$tap"
        if [ -c /dev/vhost-net ]; then
            tapio vessel-pci-vhost "${vbase[@]}" --append "$tapp" --net "tap,ifname=$tap,vhost=on"
            tapio vessel-mmio-vhost "${vbase[@]}" --append "$tapp" --transport mmio --net "tap,ifname=$tap,vhost=on"
        else
            for w in vessel-pci-vhost vessel-mmio-vhost qemu-q35-pci-vhost; do res "$w" tap_rx NA "no /dev/vhost-net"; done
        fi
        if [ -n "$qemu" ]; then
            qtap=(-netdev "tap,id=n0,ifname=$tap,script=no,downscript=no")
            tapio qemu-q35-pci-tap "$qemu" -M q35 "${qbase[@]}" -append "$tapp" "${qtap[@]},vhost=off" \
                -device virtio-net-pci,netdev=n0,romfile=
            [ -c /dev/vhost-net ] &&
                tapio qemu-q35-pci-vhost "$qemu" -M q35 "${qbase[@]}" -append "$tapp" "${qtap[@]},vhost=on" \
                    -device virtio-net-pci,netdev=n0,romfile=
        fi
    fi
fi
say "done"
