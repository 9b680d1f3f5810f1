#!/usr/bin/env bash
# bench/ctr: `run` of /bin/true in the same busybox bundle under vessel and
# runc (hyperfine: warm-up + 30 runs each), peak RSS of each runtime process,
# and 100 detached containers started then deleted.
set -u
. "$SRC/tests/lib.sh" >/dev/null
. "$SRC/tests/ctrlib.sh"
[ "$(id -u)" -eq 0 ] || { echo "bench/ctr: needs root"; exit 0; }
for t in runc hyperfine; do have $t || { echo "bench/ctr: $t is not installed (make deps)"; exit 1; }; done
b=$CTR_BASE/bench
mkbundle "$b"
cfg "$b" 'c["process"]["args"]=["/bin/true"]'
cd "$b"
echo "bench/ctr: hyperfine, 3 warm-up + 30 runs each, same bundle ($b)"
hyperfine -N --warmup 3 --runs 30 --export-json "$CTR_BASE/h.json" \
    -n vessel "$VESSEL ctr --root $CTR_ROOT run bv" \
    -n runc "runc --root $RUNC_ROOT run br" >/dev/null 2>&1 || { echo "hyperfine failed"; exit 1; }
python3 - "$CTR_BASE/h.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
v, c = r["vessel"], r["runc"]
print(f"  vessel ctr run /bin/true: mean {v['mean']*1000:7.2f} ms  stddev {v['stddev']*1000:5.2f} ms")
print(f"  runc run /bin/true:       mean {c['mean']*1000:7.2f} ms  stddev {c['stddev']*1000:5.2f} ms")
ratio = v['mean'] / c['mean']
print(f"  ratio vessel/runc: {ratio:.3f}  (bar: <= 0.35: {'met' if ratio <= 0.35 else 'NOT met'})")
PY
rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -n 1; }
rv=$(rss "$VESSEL" ctr --root "$CTR_ROOT" run bv)
rr=$(rss runc --root "$RUNC_ROOT" run br)
echo "  peak RSS of the runtime process: vessel ${rv} KiB, runc ${rr} KiB (ratio $(python3 -c "print(f'{$rv/$rr:.3f}')"); bar: below runc's: $([ "$rv" -lt "$rr" ] && echo met || echo 'NOT met'))"

cfg "$b" 'c["process"]["args"]=["/bin/sleep","60"]'
many() {   # many NAME CMD...: start 100 detached, then delete them; seconds
    local name=$1; shift
    local t0 t1
    t0=$(date +%s.%N)
    for i in $(seq 100); do "$@" run -d "$name$i" >/dev/null 2>&1 </dev/null || echo "start $name$i failed" >&2; done
    t1=$(date +%s.%N)
    local up; up=$("$@" list -q | grep -c "^$name[0-9]")
    [ "$up" -eq 100 ] || echo "  $name: only $up of 100 containers listed after the starts" >&2
    for i in $(seq 100); do "$@" delete -f "$name$i" >/dev/null 2>&1; done
    python3 -c "print(f'{$t1-$t0:.3f} {$(date +%s.%N)-$t1:.3f}')"
}
mounts0=$(wc -l < /proc/self/mountinfo)
read -r vs vd <<<"$(many v "$VESSEL" ctr --root "$CTR_ROOT")"
mounts1=$(wc -l < /proc/self/mountinfo)
read -r rs rd <<<"$(many r runc --root "$RUNC_ROOT")"
echo "  100 detached containers: vessel start ${vs}s delete ${vd}s; runc start ${rs}s delete ${rd}s (start ratio $(python3 -c "print(f'{$vs/$rs:.3f}')"), delete ratio $(python3 -c "print(f'{$vd/$rd:.3f}')"))"
left_state=$(ls -A "$CTR_ROOT" | wc -l)
left_cg=$(find /sys/fs/cgroup/*/vessel /sys/fs/cgroup/vessel -mindepth 1 -type d 2>/dev/null | wc -l)
left_proc=$(pgrep -f '^/bin/sleep 60$' | wc -l)
echo "  left behind after the 100: state dirs $left_state, cgroups $left_cg, processes $left_proc, host mounts $((mounts1 - mounts0))"
