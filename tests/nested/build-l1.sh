#!/usr/bin/env bash
# Build the nested tier's L1 initramfs (see tests/integration/kvm-nested.sh)
# and print its path. Cached outside the tree, keyed by a hash of every input:
#
#   bash tests/nested/build-l1.sh BUILD_DIR KERNEL_VERSION TEST...
#
# It holds: the host's static busybox (Debian's busybox-static) for the shell
# tools, the host's bash and GNU grep (the inner scripts are the host's own
# scripts), irqbypass.ko kvm.ko kvm-amd.ko of KERNEL_VERSION (Debian's
# linux-image-cloud-amd64), BUILD_DIR/vessel, the x86 test guests meson
# assembled (BUILD_DIR/tests/guests/x86), every dynamic binary's shared
# libraries and ld.so (ldd), tests/lib.sh, the inner tests
# (tests/integration/TEST.sh), tests/guestlib.sh, vessel's default x86-64
# guest when guest/build.sh has built it (as src/guest-images/x86_64/) and
# tests/nested/l1-init as /init.
# Cache: ${VESSEL_CACHE:-~/.cache/vessel}/nested/l1-HASH.cpio.gz
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
die() { echo "nested: error: $*" >&2; exit 1; }
[ $# -ge 3 ] || die "usage: build-l1.sh BUILD_DIR KERNEL_VERSION TEST..."
build=$(cd "$1" && pwd) kver=$2; shift 2
tests=("$@")
cache=${VESSEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vessel}/nested
mkdir -p "$cache"

moddir=/lib/modules/$kver/kernel
# the module file for NAME (Debian ships them uncompressed; .xz/.zst also taken)
module_of() {
    local f
    for f in "$moddir/$1.ko" "$moddir/$1.ko.xz" "$moddir/$1.ko.zst"; do
        [ -r "$f" ] && { echo "$f"; return; }
    done
    die "$moddir/$1.ko not found (package linux-image-cloud-amd64)"
}
busybox=$(command -v busybox || true)
[ -n "$busybox" ] && file -L "$busybox" 2>/dev/null | grep -q 'statically linked' ||
    die "no static busybox on PATH (package busybox-static)"
bins=("$build/vessel" "$(command -v bash)" "$(command -v grep)")
# iproute2's ip: busybox's has no tuntap (kvm-vhost makes its tap with it)
ipfull=$(command -v ip || true)
[ -n "$ipfull" ] && { "$ipfull" tuntap help 2>&1 || true; } | grep tuntap >/dev/null &&
    bins+=("$ipfull") || ipfull=''

# debugfs (e2fsprogs) lets kvm-linux read the guest's file system back
debugfs=$(command -v debugfs || true)
[ -n "$debugfs" ] && bins+=("$debugfs")
# the L1 kernel itself and the virtio modules boot again as L2 (kvm-linux)
l2files=("/boot/vmlinuz-$kver")
while read -r m; do
    [ -r "/lib/modules/$kver/$m" ] && l2files+=("/lib/modules/$kver/$m")
done <"$src/tests/linux-modules.txt"
# vessel's default x86-64 guest, for kvm-guest-linux (skipped when not built)
x86guest=()
if line=$(bash "$src/guest/build.sh" --print x86_64 2>/dev/null); then
    KERNEL= INITRD=
    eval "$line"
    x86guest=("$KERNEL" "$INITRD")
fi
guests=("$build"/tests/guests/x86/*.bz)
[ -f "${guests[0]}" ] || die "no x86 test guests in $build/tests/guests/x86 (nasm missing when meson ran?)"
mods=("$(module_of virt/lib/irqbypass)" "$(module_of arch/x86/kvm/kvm)" "$(module_of arch/x86/kvm/kvm-amd)")
# vhost-net and what it needs (modinfo -F depends: vhost_net <- vhost, tap,
# tun; vhost <- vhost_iotlb), for kvm-vhost; l1-init loads them in this order
for m in drivers/vhost/vhost_iotlb drivers/vhost/vhost drivers/net/tun drivers/net/tap drivers/vhost/vhost_net; do
    mods+=("$(module_of "$m")")
done
libs=()
for b in "${bins[@]}"; do
    while read -r l; do libs+=("$l"); done < <(ldd "$b" | grep -o '/[^ ]*' | sort -u)
done
# vessel loads libslirp (and what it needs) with dlopen for --net user: ldd
# of vessel does not list it
# (awk reads to the end: an early exit would kill ldconfig with SIGPIPE, and
# pipefail then ends this script with no message; it did, once in three)
slirp=$(ldconfig -p | awk '!found && /libslirp\.so\.0 .*x86-64/ { print $NF; found = 1 }')
[ -n "$slirp" ] || die "libslirp.so.0 not found (ldconfig -p): --net user needs it"
while read -r l; do libs+=("$l"); done < <({ echo "$slirp"; ldd "$slirp"; } | grep -o '/[^ ]*' | sort -u)
scripts=("$src/tests/lib.sh" "$src/tests/kvmkind.sh" "$src/tests/guestlib.sh" "$src/tests/nested/l1-init" "$0" "$src/tests/linux-modules.txt")
for t in "${tests[@]}"; do
    [ -f "$src/tests/integration/$t.sh" ] || die "no test tests/integration/$t.sh"
    scripts+=("$src/tests/integration/$t.sh")
done

key=$( { echo "tests ${tests[*]}"
         sha256sum "$busybox" "${bins[@]}" "${libs[@]}" "${guests[@]}" "${mods[@]}" "${scripts[@]}" "${l2files[@]}" \
             "${x86guest[@]}" | cut -c1-64
       } | sha256sum | cut -c1-16)
out=$cache/l1-$key.cpio.gz
if [ -s "$out" ]; then touch "$out"; echo "$out"; exit 0; fi

exec 9>"$cache/.lock"
flock 9
if [ -s "$out" ]; then echo "$out"; exit 0; fi
stage=$(mktemp -d "$cache/stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,nested/modules,nested/build/tests/guests/x86,nested/src/tests/integration}
cp "$busybox" "$stage/bin/busybox"
for a in $("$busybox" --list-full); do
    [ -e "$stage/$a" ] || ln -s /bin/busybox "$stage/$a"
done
# the host's bash and grep win over busybox's applets of the same name
rm -f "$stage/bin/bash" "$stage/bin/grep" "$stage/usr/bin/grep"
cp "${bins[1]}" "$stage/bin/bash"
cp "${bins[2]}" "$stage/bin/grep"
cp "${bins[0]}" "$stage/nested/build/vessel"
[ -n "$debugfs" ] && cp "$debugfs" "$stage/bin/debugfs"
if [ -n "$ipfull" ]; then rm -f "$stage/bin/ip" "$stage/sbin/ip"; cp "$ipfull" "$stage/bin/ip"; fi
for f in "${l2files[@]}"; do
    mkdir -p "$stage$(dirname "$f")"
    cp "$f" "$stage$f"
done
for l in "${libs[@]}"; do
    mkdir -p "$stage$(dirname "$l")"
    cp -L "$l" "$stage$l"
done
for m in "${mods[@]}"; do
    n=$(basename "$m"); n=${n%%.ko*}
    case $m in
    *.xz) xz -dc "$m" ;; *.zst) zstd -dcq "$m" ;; *) cat "$m" ;;
    esac >"$stage/nested/modules/$n.ko"
done
cp "${guests[@]}" "$stage/nested/build/tests/guests/x86/"
cp "$src/tests/lib.sh" "$src/tests/kvmkind.sh" "$src/tests/guestlib.sh" "$src/tests/linux-modules.txt" "$stage/nested/src/tests/"
if [ ${#x86guest[@]} -eq 2 ]; then
    mkdir -p "$stage/nested/src/guest-images/x86_64"
    cp "${x86guest[0]}" "$stage/nested/src/guest-images/x86_64/bzImage"
    cp "${x86guest[1]}" "$stage/nested/src/guest-images/x86_64/initramfs.cpio.gz"
fi
for t in "${tests[@]}"; do cp "$src/tests/integration/$t.sh" "$stage/nested/src/tests/integration/"; done
printf '%s\n' "${tests[@]}" >"$stage/nested/tests"
cp "$src/tests/nested/l1-init" "$stage/init"
chmod 755 "$stage/init"
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
# drop L1 images nobody used for two days
find "$cache" -maxdepth 1 -name 'l1-*.cpio.gz' -atime +2 -delete 2>/dev/null || true
echo "$out"
