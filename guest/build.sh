#!/usr/bin/env bash
# Build vessel's default guests (Linux kernel + busybox initramfs) once per
# machine, cached by a hash of their inputs.
#
#   bash guest/build.sh                   build riscv64 and x86_64 (if missing)
#   bash guest/build.sh --only riscv64    build one architecture
#   bash guest/build.sh --print riscv64   print KERNEL=... INITRD=... (exit 1
#                                         when that guest is not built yet)
#   bash guest/build.sh --force ...       rebuild even when cached
#   bash guest/build.sh --prune           delete cached guests and busybox
#                                         builds other than the current ones
#
# Cache: ${VESSEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vessel}/guest/
#   <arch>-<hash>/{Image|bzImage,initramfs.cpio.gz,busybox,kernel.config,
#                  busybox.config,inputs,logs/}  one finished guest
#   src/   unpacked kernel and busybox sources (per source version)
#   work/  out-of-tree build dirs, reused so that a changed fragment
#          rebuilds incrementally
# Environment: VESSEL_JOBS (make -j, default 2).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${VESSEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vessel}/guest
jobs=${VESSEL_JOBS:-2}
linux_tar=/usr/src/linux-source-6.1.tar.xz
archs_all=(riscv64 x86_64)

die() { echo "guest: error: $*" >&2; exit 1; }
say() { echo "guest: $*"; }

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit "${1:-0}"
}

only=() print= force=0 prune=0
while [ $# -gt 0 ]; do
    case $1 in
    --only) [ $# -ge 2 ] || die "--only needs an architecture (riscv64|x86_64)"
            only+=("$2"); shift 2 ;;
    --print) [ $# -ge 2 ] || die "--print needs an architecture (riscv64|x86_64)"
            print=$2; shift 2 ;;
    --force) force=1; shift ;;
    --prune) prune=1; shift ;;
    -h|--help) usage 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
done
for a in "${only[@]}" $print; do
    case $a in riscv64|x86_64) ;; *) die "unknown architecture '$a' (riscv64|x86_64)" ;; esac
done
[ ${#only[@]} -gt 0 ] || only=("${archs_all[@]}")

# ---------------------------------------------------------------- inputs
pkgver() { dpkg-query -W -f '${Version}' "$1" 2>/dev/null || true; }

# The busybox source version: the one Debian's busybox-static was built from,
# so that the key needs no deb-src lookup and `apt-get source` can pin it.
busybox_ver=$(dpkg-query -W -f '${source:Version}' busybox-static 2>/dev/null || true)
linux_ver=$(pkgver linux-source-6.1)

kernel_name() { case $1 in riscv64) echo Image ;; x86_64) echo bzImage ;; esac; }
cross_of() { case $1 in riscv64) echo riscv64-linux-gnu- ;; x86_64) echo "" ;; esac; }
karch_of() { case $1 in riscv64) echo riscv ;; x86_64) echo x86_64 ;; esac; }

# Everything that changes the result of one architecture's build.
inputs_of() {
    local arch=$1 cc
    cc=$(cross_of "$arch")gcc
    echo "arch $arch"
    echo "linux-source-6.1 $linux_ver"
    echo "busybox-src $busybox_ver"
    echo "cc $("$cc" --version 2>/dev/null | head -1)"
    local f
    for f in build.sh "$arch-linux.config" busybox.config init udhcpc.script; do
        echo "file $f $(sha256sum < "$here/$f" | cut -c1-64)"
    done
}
key_of() { inputs_of "$1" | sha256sum | cut -c1-16; }
dir_of() { echo "$cache/$1-$(key_of "$1")"; }

if [ -n "$print" ]; then
    d=$(dir_of "$print")
    k=$d/$(kernel_name "$print")
    if [ ! -e "$d/.complete" ]; then
        echo "guest: $print guest not built ($d); run 'make guest'" >&2
        exit 1
    fi
    echo "KERNEL=$k INITRD=$d/initramfs.cpio.gz"
    exit 0
fi

mkdir -p "$cache/src" "$cache/work"
exec 9>"$cache/.lock"
if command -v flock >/dev/null && ! flock -n 9; then
    say "another build holds $cache/.lock; waiting"
    flock 9
fi

if [ $prune -eq 1 ]; then
    keep=()
    for a in "${archs_all[@]}"; do keep+=("$(dir_of "$a")"); done
    n=0
    for d in "$cache"/riscv64-* "$cache"/x86_64-* "$cache"/work/busybox-*; do
        [ -d "$d" ] || continue
        case " ${keep[*]} " in *" $d "*) continue ;; esac
        # A busybox build belongs to the current inputs if a kept guest used it.
        if [[ $d == */work/busybox-* ]] && grep -qxF "$d" "${keep[@]/%//busybox.dir}" 2>/dev/null; then
            continue
        fi
        rm -rf "$d"; n=$((n + 1))
    done
    say "pruned $n cache entries from $cache"
    exit 0
fi

# ---------------------------------------------------------------- checks
[ -r "$linux_tar" ] || die "$linux_tar missing (apt-get install linux-source-6.1, or make deps)"
[ -n "$busybox_ver" ] || die "busybox-static is not installed (needed for its source version; make deps)"
need=(make gcc bc flex bison gzip xz cpio)
for a in "${only[@]}"; do [ "$a" = riscv64 ] && need+=(riscv64-linux-gnu-gcc); done
for t in "${need[@]}"; do
    command -v "$t" >/dev/null || die "'$t' not found (make deps installs it)"
done


t_start=$(date +%s)
logdir=
# stage NAME CMD...: run CMD with output into $logdir/NAME.log, print the
# stage name and its elapsed time, and the log's tail on failure.
stage() {
    local name=$1; shift
    local log=$logdir/$name.log t0 rc
    t0=$(date +%s)
    printf 'guest: %-28s ' "$cur_arch/$name" 
    if ( "$@" ) >"$log" 2>&1; then
        echo "ok ($(( $(date +%s) - t0 )) s)"
    else
        rc=$?
        echo "FAILED ($(( $(date +%s) - t0 )) s, status $rc)"
        echo "---- last lines of $log" >&2
        tail -n 40 "$log" >&2
        echo "---- (full log: $log)" >&2
        exit 1
    fi
}

# ---------------------------------------------------------------- sources
linux_src=$cache/src/linux-$linux_ver
busybox_src=$cache/src/busybox-$busybox_ver

unpack_linux() {
    rm -rf "$linux_src.tmp"
    mkdir -p "$linux_src.tmp"
    tar -xJf "$linux_tar" -C "$linux_src.tmp" --strip-components=1
    rm -rf "$linux_src"
    mv "$linux_src.tmp" "$linux_src"
}

# A deb-src entry for the machine's own suites, derived from its deb entry,
# so that no host name is written anywhere in the project.
ensure_deb_src() {
    apt-cache showsrc busybox 2>/dev/null | grep -q '^Package: busybox' && return 0
    local own=/etc/apt/sources.list.d/debian.sources
    local mine=/etc/apt/sources.list.d/vessel-deb-src.sources
    [ -r "$own" ] || { echo "no $own to derive a deb-src entry from"; return 1; }
    [ "$(id -u)" -eq 0 ] || { echo "need root to add $mine (or add a deb-src entry yourself)"; return 1; }
    sed 's/^Types: deb$/Types: deb-src/' "$own" > "$mine"
    apt-get update -qq
}

fetch_busybox() {
    ensure_deb_src
    local tmp=$cache/src/busybox.tmp
    rm -rf "$tmp"; mkdir -p "$tmp"
    cd "$tmp"
    # Pin the version busybox-static was built from; fall back to the suite's.
    apt-get source --only-source -q "busybox=$busybox_ver" ||
        apt-get source --only-source -q busybox
    local d
    d=$(find . -maxdepth 1 -type d -name 'busybox-*' | head -1)
    [ -n "$d" ] || { echo "apt-get source produced no busybox-* dir"; return 1; }
    rm -rf "$busybox_src"
    mv "$d" "$busybox_src"
    cd /; rm -rf "$tmp"
}

# ---------------------------------------------------------------- kernel
kernel_config() {
    local arch=$1 obj=$2 karch cross
    karch=$(karch_of "$arch"); cross=$(cross_of "$arch")
    mkdir -p "$obj"
    rm -f "$obj/.config"
    make -C "$linux_src" O="$obj" ARCH="$karch" CROSS_COMPILE="$cross" tinyconfig
    "$linux_src/scripts/kconfig/merge_config.sh" -m -O "$obj" \
        "$obj/.config" "$here/$arch-linux.config"
    make -C "$linux_src" O="$obj" ARCH="$karch" CROSS_COMPILE="$cross" olddefconfig
    # Report every requested option that did not survive (missing dependency
    # or unknown symbol); not fatal, but visible in the log.
    local line sym val miss=0
    while IFS= read -r line; do
        case $line in CONFIG_*=*) ;; *) continue ;; esac
        sym=${line%%=*}; val=${line#*=}
        if [ "$val" = n ]; then
            grep -q "^$sym=" "$obj/.config" && { echo "not applied: $line"; miss=$((miss+1)); }
        elif ! grep -qx "$sym=$val" "$obj/.config"; then
            echo "not applied: $line (got: $(grep "^$sym=\|^# $sym is not set" "$obj/.config" || echo absent))"
            miss=$((miss+1))
        fi
    done < "$here/$arch-linux.config"
    echo "fragment options not applied: $miss"
}

kernel_build() {
    local arch=$1 obj=$2 karch cross target
    karch=$(karch_of "$arch"); cross=$(cross_of "$arch")
    target=$(kernel_name "$arch")
    KBUILD_BUILD_USER=vessel KBUILD_BUILD_HOST=vessel \
        make -C "$linux_src" O="$obj" ARCH="$karch" CROSS_COMPILE="$cross" \
        -j"$jobs" "$target"
}

# ---------------------------------------------------------------- busybox
busybox_build() {
    local arch=$1 obj=$2 cross
    cross=$(cross_of "$arch")
    rm -rf "$obj"
    cp -a "$busybox_src" "$obj"
    cd "$obj"
    make defconfig >/dev/null
    # Apply the fragment: drop each named symbol, then append its value.
    local line sym
    while IFS= read -r line; do
        case $line in CONFIG_*=*|"# CONFIG_"*" is not set") ;; *) continue ;; esac
        sym=${line#\# }; sym=${sym%%[= ]*}
        sed -i "/^$sym=/d; /^# $sym is not set/d" .config
        echo "$line" >> .config
    done < "$here/busybox.config"
    yes "" | make CROSS_COMPILE="$cross" oldconfig >/dev/null
    make CROSS_COMPILE="$cross" -j"$jobs" busybox
    make CROSS_COMPILE="$cross" busybox.links
    file busybox 2>/dev/null || true
}

# ---------------------------------------------------------------- initramfs
initramfs_build() {
    local arch=$1 bbdir=$2 out=$3
    local gen=$cache/work/gen_init_cpio
    if [ ! -x "$gen" ] || [ "$linux_src/usr/gen_init_cpio.c" -nt "$gen" ]; then
        gcc -O2 -o "$gen" "$linux_src/usr/gen_init_cpio.c"
    fi
    local list=$out/initramfs.list
    {
        echo "dir /dev 0755 0 0"
        echo "nod /dev/console 0600 0 0 c 5 1"
        echo "nod /dev/null 0666 0 0 c 1 3"
        for d in /bin /sbin /usr /usr/bin /usr/sbin /proc /sys /tmp /root \
                 /etc /mnt /var /var/run /run /usr/share /usr/share/udhcpc; do
            echo "dir $d 0755 0 0"
        done
        echo "file /bin/busybox $bbdir/busybox 0755 0 0"
        echo "file /init $here/init 0755 0 0"
        echo "file /usr/share/udhcpc/default.script $here/udhcpc.script 0755 0 0"
        echo "file /etc/passwd $out/passwd 0644 0 0"
        echo "file /etc/group $out/group 0644 0 0"
        local l
        while IFS= read -r l; do
            [ -n "$l" ] || continue
            [ "$l" = /bin/busybox ] && continue
            # busybox.links names /usr/bin/x etc.; symlink to /bin/busybox.
            echo "slink $l /bin/busybox 0777 0 0"
        done < "$bbdir/busybox.links"
    } > "$list"
    printf 'root:x:0:0:root:/root:/bin/sh\n' > "$out/passwd"
    printf 'root:x:0:\n' > "$out/group"
    "$gen" "$list" | gzip -9 -n > "$out/initramfs.cpio.gz.tmp"
    mv "$out/initramfs.cpio.gz.tmp" "$out/initramfs.cpio.gz"
    ls -l "$out/initramfs.cpio.gz"
}

# ---------------------------------------------------------------- driver
build_arch() {
    local arch=$1 d obj bb t0
    d=$(dir_of "$arch")
    cur_arch=$arch
    if [ -e "$d/.complete" ] && [ $force -eq 0 ]; then
        say "$arch: cached in $d"
        return 0
    fi
    t0=$(date +%s)
    say "$arch: building into $d (make -j$jobs; logs in $d/logs)"
    rm -rf "$d"
    mkdir -p "$d/logs"
    logdir=$d/logs
    inputs_of "$arch" > "$d/inputs"

    if [ ! -e "$linux_src/Makefile" ]; then stage unpack-linux unpack_linux; fi
    if [ ! -e "$busybox_src/Makefile" ]; then stage fetch-busybox fetch_busybox; fi

    obj=$cache/work/linux-$arch
    stage kernel-config kernel_config "$arch" "$obj"
    grep '^not applied' "$logdir/kernel-config.log" | sed 's/^/guest:   /' || true
    stage kernel-build kernel_build "$arch" "$obj"
    local kimg
    case $arch in
    riscv64) kimg=$obj/arch/riscv/boot/Image ;;
    x86_64)  kimg=$obj/arch/x86/boot/bzImage ;;
    esac
    cp "$kimg" "$d/$(kernel_name "$arch")"
    cp "$obj/.config" "$d/kernel.config"
    [ "$arch" = x86_64 ] && cp "$obj/vmlinux" "$d/vmlinux"   # PVH-bootable ELF

    # busybox depends only on its source, config and compiler: its build is
    # reused across kernel changes (key: the busybox-related inputs).
    bb=$cache/work/busybox-$arch-$(inputs_of "$arch" | grep -E '^(arch|busybox-src|cc|file build.sh|file busybox.config) ' |
                                   sha256sum | cut -c1-12)
    if [ -x "$bb/busybox" ] && [ -e "$bb/.built" ] && [ $force -eq 0 ]; then
        say "$arch: busybox reused from $bb"
    else
        stage busybox busybox_build "$arch" "$bb"
        touch "$bb/.built"
    fi
    cp "$bb/busybox" "$d/busybox"
    echo "$bb" > "$d/busybox.dir"
    cp "$bb/.config" "$d/busybox.config"

    stage initramfs initramfs_build "$arch" "$bb" "$d"
    touch "$d/.complete"
    say "$arch: done in $(( $(date +%s) - t0 )) s: $d/$(kernel_name "$arch") $d/initramfs.cpio.gz"
}

for a in "${only[@]}"; do
    build_arch "$a"
done
say "all requested guests ready ($(( $(date +%s) - t_start )) s)"
