#!/usr/bin/env bash
# bench/density/ctr.sh: the same count as bench/density/run.sh for
# containers: idle busybox containers (`sleep`, the runtime's default spec:
# pid, mount, ipc, uts, network namespaces) started one after another with
# `run -d`, each in its own cgroup under one parent memory cgroup (v1)
# limited to 768 MiB, for vessel ctr and runc in the same run. The runtime
# itself runs in the parent cgroup too, so the kernel memory of the
# namespaces it makes (a network namespace is most of a container's cost)
# is charged where the limit is, as for the guests' VMM processes. The count
# ends at the first container that fails to start, when one dies (the
# cgroup's OOM killer), or at DENSITY_CTR_MAX. Prints per runtime the count,
# the memory per container as the parent cgroup charges it, the kernel
# memory per container that no cgroup is charged for (the rise of
# SUnreclaim + Percpu + KernelStack + PageTables in /proc/meminfo: most of
# a network namespace is there; other work on the host adds noise, so
# compare it over many containers), and what each runtime leaves running
# per container outside the container's own processes.
#
# Needs root, runc and a static busybox. Environment: VESSEL, SRC,
# DENSITY_LIMIT (768M), DENSITY_CTR_MAX (1000), DENSITY_CTR_RUNTIMES
# ("vessel runc"), DENSITY_CTR_START_S (60: a slower start ends the count).
set -u
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
VESSEL=${VESSEL:-$SRC/build/vessel}
LIMIT=${DENSITY_LIMIT:-768M}
MAX=${DENSITY_CTR_MAX:-1000}
RUNTIMES=${DENSITY_CTR_RUNTIMES:-vessel runc}
# a start that takes longer than this counts as failed: near the limit the
# kernel memory of the namespaces leaves the cgroup reclaiming the runtime's
# own page cache, and one start took 12 s and more there
START_S=${DENSITY_CTR_START_S:-60}
cgroot=/sys/fs/cgroup/memory
. "$SRC/tests/lib.sh" >/dev/null
. "$SRC/tests/ctrlib.sh"
[ "$(id -u)" = 0 ] || { echo "density ctr: needs root"; exit 1; }
[ -w "$cgroot" ] || { echo "density ctr: no writable cgroup v1 memory controller at $cgroot"; exit 1; }
[ -x /bin/busybox ] || { echo "density ctr: needs a static /bin/busybox (make deps)"; exit 1; }

parent=vessel-density-ctr.$$
cg=$cgroot/$parent
base=$CTR_BASE
mkbundle "$base/b"
cfg "$base/b" "c['process']['args']=['/bin/sleep','1000000']; c['root']['path']='$base/b/rootfs'; c['root']['readonly']=True; c['linux']['cgroupsPath']='/$parent/ID'"
ids=()
rt() {   # rt RUNTIME ARGS...: the runtime with its own state root
    case $1 in
    vessel) shift; "$VESSEL" ctr --root "$CTR_ROOT" "$@" ;;
    runc) shift; runc --root "$RUNC_ROOT" "$@" ;;
    esac
}
stop_all() {
    local id
    for id in "${ids[@]}"; do rt "$engine" delete -f "$id" >/dev/null 2>&1; done
    ids=()
}
cleanup() {
    [ -n "${engine:-}" ] && stop_all
    find "$cgroot/$parent" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null
    rmdir "$cg" 2>/dev/null
    for c in /sys/fs/cgroup/*/"$parent"; do [ -d "$c" ] && { find "$c" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null; rmdir "$c" 2>/dev/null; }; done
    [ -n "${KEEP:-}" ] || rm -rf "$CTR_ROOT" "$RUNC_ROOT" "$CTR_BASE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

kern_kib() { awk '$1 ~ /^(SUnreclaim|Percpu|KernelStack|PageTables):$/ { k += $2 } END { print k }' /proc/meminfo; }
# alive: no OOM kill in the parent cgroup (where the limit is), and the
# newest container's process is there
oomk() { awk '$1 == "oom_kill" { print $2 }' "$cg/memory.oom_control" 2>/dev/null; }
alive() { [ "$(oomk)" = 0 ] && grep -q . "$cg/$1/tasks"; }
# extra: processes of the runtime left on the host outside the parent
# cgroup (a monitor or shim per container), and their RSS in KiB
extra() {
    local n=0 rss=0 p
    for p in $(pgrep -f "^($VESSEL ctr|runc)( |$)"); do
        n=$((n + 1)); rss=$((rss + $(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)))
    done
    echo "$n $rss"
}

count() {
    local i id t0 usage=0 a0 a1
    mkdir "$cg" || { echo "density ctr: cannot create $cg"; exit 1; }
    echo "$LIMIT" > "$cg/memory.limit_in_bytes"
    [ -e "$cg/memory.memsw.limit_in_bytes" ] && echo "$LIMIT" > "$cg/memory.memsw.limit_in_bytes" 2>/dev/null
    a0=$(kern_kib)
    n=0 why="reached DENSITY_CTR_MAX ($MAX)"
    t0=$SECONDS
    for ((i = 1; i <= MAX; i++)); do
        id=d$engine$i
        mkdir -p "$base/$id"
        sed "s|/$parent/ID|/$parent/$id|" "$base/b/config.json" > "$base/$id/config.json"
        if ! (cd "$base/$id" && echo $BASHPID > "$cg/cgroup.procs" &&
              timeout -k 5 "$START_S" bash -c "$(declare -f rt); VESSEL='$VESSEL' CTR_ROOT='$CTR_ROOT' RUNC_ROOT='$RUNC_ROOT' rt $engine run -d $id" \
                  >/dev/null 2>"$base/$id.err" </dev/null); then
            why="container $i did not start${START_S:+ within $START_S s}: $(head -c 160 "$base/$id.err")"
            ids+=("$id")   # a start cut off by the timeout may have got as far as a running container
            break
        fi
        ids+=("$id")
        if ! alive "$id"; then why="a container died when container $i started"; break; fi
        n=$i
        [ $((i % 50)) = 0 ] && printf '  %s: %d containers, %d s\r' "$engine" "$i" $((SECONDS - t0)) >&2
    done
    usage=$(cat "$cg/memory.usage_in_bytes")
    a1=$(kern_kib)
    read -r xn xrss <<<"$(extra)"
    oom=$(oomk)
    [ -n "${KEEP:-}" ] || stop_all
    find "$cg" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null; rmdir "$cg" 2>/dev/null
    local per=$(( n > 0 ? usage / n / 1024 : 0 )) host=$(( n > 0 ? (a1 - a0) / n : 0 ))
    printf '%-6s %4d containers in %s (%s, %d s): %d KiB per container charged to the cgroup (%d MiB / %d), %d KiB per container of kernel memory no cgroup pays for (it rose %d MiB); runtime processes left on the host: %d (RSS %d KiB)%s\n' \
        "$engine" "$n" "$LIMIT" "$why" $((SECONDS - t0)) "$per" $((usage / 1048576)) "$n" "$host" $(((a1 - a0) / 1024)) "$xn" "$xrss" "${oom:+, oom_kill $oom}"
    result_per[$engine]=$per
    result_host[$engine]=$host
}

echo "density ctr: idle busybox containers (sleep) in one $LIMIT memory cgroup, load $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A result_per result_host
for engine in $RUNTIMES; do
    if [ "$engine" = runc ] && ! command -v runc >/dev/null; then echo "runc   (not installed)"; continue; fi
    count
done
engine=
if [ -n "${result_per[vessel]:-}" ] && [ -n "${result_per[runc]:-}" ] && [ "${result_per[runc]}" -gt 0 ]; then
    echo "vessel/runc memory per container: $(awk -v a="${result_per[vessel]}" -v b="${result_per[runc]}" 'BEGIN { printf "%.2f", a / b }') charged to the cgroup," \
         "$(awk -v a="${result_host[vessel]}" -v b="${result_host[runc]}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }') of uncharged kernel memory"
fi
