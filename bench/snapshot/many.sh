#!/usr/bin/env bash
# bench/snapshot/many.sh [N]: N guests (default 50) restored from one
# snapshot of the default riscv64 guest (256 MiB, idle at its shell) share
# its unchanged pages: the memory cgroup's usage (cgroup v1 memory
# controller, memory.usage_in_bytes: RSS plus the page cache charged to
# it, not summed RSS) with one restored guest and with N, each measured
# once every guest has printed its next prompt. The bar of issue 12: N=50
# uses less than 3x the memory of one. Needs root and the v1 memory
# controller at /sys/fs/cgroup/memory (else it says why and exits 0).
# With DROP_CACHES=1 (the default) it drops the host's clean page cache
# (drop_caches=1) before each of the two measurements, so that the
# snapshot's pages are charged to the cgroup of the guests that read them
# (as on a host where the snapshot was written earlier); with
# DROP_CACHES=0 they stay charged to whoever wrote the snapshot and each
# cgroup holds only what its guests add. Each measurement is read once
# every guest has answered at its prompt and the cgroup's usage has
# settled (changed by less than 256 KiB in each of three seconds in a
# row, at most 30 s). The ratio is of the usages in KiB.
set -u
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
VESSEL=${VESSEL:-$SRC/build/vessel}
N=${1:-50}
DROP=${DROP_CACHES:-1}
drop() { [ "$DROP" = 1 ] && { sync; echo 1 > /proc/sys/vm/drop_caches; } 2>/dev/null; }
cg=/sys/fs/cgroup/memory
[ -w "$cg" ] || { echo "many: no writable v1 memory cgroup at $cg"; exit 0; }
line=$(bash "$SRC/guest/build.sh" --print riscv64) || { echo "many: no riscv64 guest; run 'make guest'"; exit 1; }
KERNEL= INITRD=
eval "$line"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vessel-bench-many.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null
            for g in one many; do rmdir "$cg/vessel-bench-$g-$$" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT
. "$SRC/tests/guestlib.sh"
guest_start "$VESSEL" run -m 256M --kernel "$KERNEL" --initrd "$INITRD" --qmp "unix:$tmp/q.sock"
guest_wait_ready 180 || { echo "many: the guest did not boot"; exit 1; }
"$VESSEL" qmp "$tmp/q.sock" vm-snapshot "{\"path\":\"$tmp/s\",\"paused\":true}" >/dev/null
guest_kill
drop    # the snapshot's pages are charged to the cgroup that reads them

# run COUNT guests in cgroup NAME; print its usage once each answers a newline with a prompt
measure() {
    local name=$1 count=$2 g=$cg/vessel-bench-$1-$$ i
    mkdir "$g"
    for ((i = 0; i < count; i++)); do
        mkfifo "$tmp/in.$name.$i"
        ( echo $BASHPID > "$g/cgroup.procs"
          exec "$VESSEL" run --restore "$tmp/s" < "$tmp/in.$name.$i" > "$tmp/out.$name.$i" 2>&1 ) &
        pids+=($!)
        exec {fd}> "$tmp/in.$name.$i"; echo >&$fd
    done
    for ((i = 0; i < count; i++)); do
        for _ in $(seq 1 1200); do grep -q '/ # ' "$tmp/out.$name.$i" && break; sleep 0.1; done
    done
    # settled: three seconds in a row, each changing it by less than 256
    # KiB (a restored guest gives its caches back a second or two after
    # it answers, when it has idled a whole second: one quiet second
    # could come before that)
    local a b t0=$SECONDS quiet=0
    b=$(cat "$g/memory.usage_in_bytes")
    while [ $((SECONDS - t0)) -lt 30 ] && [ $quiet -lt 3 ]; do
        sleep 1
        a=$b; b=$(cat "$g/memory.usage_in_bytes")
        if [ $((b > a ? b - a : a - b)) -lt 262144 ]; then quiet=$((quiet + 1)); else quiet=0; fi
    done
    # the parts of the usage (KiB): RSS (anon), page cache, kernel memory
    # (slab, stacks, page tables), from memory.stat and memory.kmem
    awk -v u="$b" -v k="$(cat "$g/memory.kmem.usage_in_bytes" 2>/dev/null || echo 0)" \
        '$1 == "rss" { r = $2 } $1 == "cache" { c = $2 } $1 == "mapped_file" { m = $2 }
         END { printf "%d %d %d %d %d\n", u / 1024, r / 1024, c / 1024, m / 1024, k / 1024 }' "$g/memory.stat" \
        > "$tmp/parts.$name"
    echo $(( b / 1048576 ))
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; pids=()
    rmdir "$g"
}
echo "many: load $(cut -d' ' -f1-3 /proc/loadavg); page cache dropped before each measurement: $([ "$DROP" = 1 ] && echo yes || echo no)"
one=$(measure one 1)
drop
many=$(measure many "$N")
echo "many: one restored guest: $one MiB; $N restored guests: $many MiB (memory cgroup usage)"
# what each further guest adds, by part (KiB)
read -r u1 r1 c1 m1 k1 < "$tmp/parts.one"
read -r un rn cn mn kn < "$tmp/parts.many"
awk -v a="$u1" -v b="$un" 'BEGIN { printf "many: ratio %.2f (bar: below 3 for n = 50)\n", b / a }'
echo "many: KiB usage / rss (anon) / page cache / of it mapped / kernel (kmem): one guest $u1 / $r1 / $c1 / $m1 / $k1;" \
     "$N guests $un / $rn / $cn / $mn / $kn"
awk -v n="$N" -v u="$((un - u1))" -v r="$((rn - r1))" -v c="$((cn - c1))" -v k="$((kn - k1))" 'BEGIN {
    if (n > 1) printf "many: each further guest adds %.0f KiB: rss %.0f, page cache %.0f, kernel %.0f\n",
                      u / (n - 1), r / (n - 1), c / (n - 1), k / (n - 1) }'
