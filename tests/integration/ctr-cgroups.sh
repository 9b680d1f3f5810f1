# vessel ctr's cgroups on the three layouts: the host's own (hybrid here: v1
# controllers plus a controller-less cgroup2 mount), pure v1 (the cgroup2
# mount hidden in a private mount namespace) and v2 (the cgroup2 mount put on
# /sys/fs/cgroup in a private mount namespace). Limits are read back from the
# host's cgroup files; every cgroup must be gone after delete.
. "$SRC/tests/lib.sh"
. "$SRC/tests/ctrlib.sh"
ctr_need
have unshare || { echo "unshare (util-linux) is not installed" >&2; exit 77; }
fstype() { stat -fc %T "$1" 2>/dev/null; }
host=$(fstype /sys/fs/cgroup)
hybrid=false
[ "$host" = tmpfs ] && [ "$(fstype /sys/fs/cgroup/unified)" = cgroup2fs ] && hybrid=true
echo "# host layout: /sys/fs/cgroup is $host$($hybrid && echo ', with a cgroup2 mount at unified (hybrid)')"

b=$CTR_BASE/b; mkbundle "$b"; args "$b" 'sleep 30'
cfg "$b" 'c["linux"]["resources"]={"memory":{"limit":50331648},"pids":{"limit":20},"cpu":{"shares":256}}'
# in_ns SCRIPT: run SCRIPT with VCTR in a private mount namespace
in_ns() { unshare -m --propagation private bash -c "VCTR() { \"$VESSEL\" ctr --root '$CTR_ROOT' \"\$@\"; }; cd '$b'; $1"; }
gone() { [ -z "$(find /sys/fs/cgroup/*/vessel /sys/fs/cgroup/vessel -mindepth 1 -maxdepth 1 -type d -name "$1" 2>/dev/null)" ]; }

# -- v1 and hybrid: the host's layout
if [ "$host" = tmpfs ]; then
    (cd "$b" && VCTR run -d h1 </dev/null >/dev/null 2>&1)
    pid=$(VCTR state h1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
    want="$(grep -c '' /proc/self/cgroup)"
    got=$(grep -c ':/vessel/h1$' "/proc/$pid/cgroup")
    [ "$got" = "$want" ] && ok "v1/hybrid: the container is in /vessel/h1 in all $want hierarchies (named and cgroup2 too)" ||
        nok "v1/hybrid: in $got of $want hierarchies: $(tr '\n' ' ' < "/proc/$pid/cgroup")"
    lim="$(cat /sys/fs/cgroup/memory/vessel/h1/memory.limit_in_bytes) $(cat /sys/fs/cgroup/pids/vessel/h1/pids.max) $(cat /sys/fs/cgroup/cpu/vessel/h1/cpu.shares)"
    [ "$lim" = "50331648 20 256" ] && ok "v1/hybrid: memory, pids, cpu limits in the host's files" || nok "v1/hybrid limits: $lim"
    VCTR pause h1 && [ "$(cat /sys/fs/cgroup/freezer/vessel/h1/freezer.state)" = FROZEN ] && VCTR resume h1 &&
        [ "$(cat /sys/fs/cgroup/freezer/vessel/h1/freezer.state)" = THAWED ] && ok "v1/hybrid: pause/resume through freezer.state" || nok "v1 freezer"
    VCTR delete -f h1
    gone h1 && ok "v1/hybrid: delete removes the cgroup from every hierarchy" || nok "v1/hybrid: left $(find /sys/fs/cgroup -maxdepth 3 -path '*/vessel/h1')"
else
    skip "v1/hybrid layout" "the host's /sys/fs/cgroup is $host"
fi

# -- update: runc's flags, then --resources on stdin, on a vessel and a runc
# container side by side; the values read back from the host's cgroup files
if [ "$host" = tmpfs ] && have runc; then
    ub=$CTR_BASE/upd; mkbundle "$ub"; args "$ub" 'sleep 600'
    (cd "$ub" && VCTR run -d u1 </dev/null >/dev/null 2>&1)
    (cd "$ub" && RUNC run -d r1 </dev/null >/dev/null 2>&1)
    vpid=$(VCTR state u1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
    rpid=$(RUNC state r1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
    cgdir() { echo "/sys/fs/cgroup/$2$(awk -F: -v c="$2" '{ n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) print $3 }' /proc/$1/cgroup)"; }
    readback() {
        local f
        for f in memory/memory.limit_in_bytes memory/memory.soft_limit_in_bytes memory/memory.memsw.limit_in_bytes \
                 memory/memory.swappiness cpu/cpu.shares cpu/cpu.cfs_period_us cpu/cpu.cfs_quota_us \
                 cpuset/cpuset.cpus cpuset/cpuset.mems pids/pids.max; do
            printf '%s ' "$(cat "$(cgdir "$1" "${f%%/*}")/${f#*/}" 2>/dev/null || echo -)"
        done
    }
    uflags="--memory 96m --memory-reservation 32m --memory-swap 192m --cpu-share 300 --cpu-period 50000 --cpu-quota 25000 --cpuset-cpus 0 --cpuset-mems 0 --pids-limit 33"
    VCTR update $uflags u1; vrc=$?
    RUNC update $uflags r1; rrc=$?
    vv=$(readback "$vpid"); rv=$(readback "$rpid")
    echo "# update flags: vessel($vrc) [$vv] runc($rrc) [$rv]"
    [ $vrc = 0 ] && [ "$vv" = "$rv" ] && [[ $vv == "100663296 33554432 201326592 "* ]] &&
        ok "update with runc's flags: the same cgroup values as runc's update" || nok "update flags: vessel($vrc) [$vv] runc($rrc) [$rv]"
    res='{"memory":{"limit":67108864,"swap":134217728,"swappiness":20},"cpu":{"shares":512,"quota":-1},"pids":{"limit":-1}}'
    VCTR update -r - u1 <<<"$res"; vrc=$?
    RUNC update -r - r1 <<<"$res"; rrc=$?
    vv=$(readback "$vpid"); rv=$(readback "$rpid")
    echo "# update --resources -: vessel($vrc) [$vv] runc($rrc) [$rv] (runc 1.1's update drops memory.swappiness)"
    no_swp() { awk '{ $4 = ""; print }' <<<"$1"; }
    [ $vrc = 0 ] && [ "$(no_swp "$vv")" = "$(no_swp "$rv")" ] && [[ $vv == "67108864 "*" 20 512 "*" max " ]] &&
        ok "update -r - (linux.resources on stdin): runc's values, and memory.swappiness (which runc 1.1 drops) set" || nok "update -r -: vessel($vrc) [$vv] runc($rrc) [$rv]"
    echo "$res" > "$CTR_BASE/res.json"
    VCTR update --resources "$CTR_BASE/res.json" --memory 1g u1 && [ "$(cat "$(cgdir "$vpid" memory)/memory.limit_in_bytes")" = 67108864 ] &&
        ok "update --resources FILE: the flags beside it are ignored, as runc does" || nok "update --resources FILE"
    expect_fail "update: a bad size is named" 'update --memory: "12q" is not a size' VCTR update --memory 12q u1
    expect_fail "update: an unknown container" 'container "nosuch" does not exist' VCTR update --memory 1m nosuch
    expect_fail "update: a bad --resources document names the field" 'memory.limit: expected int' bash -c "echo '{\"memory\":{\"limit\":\"x\"}}' | \"\$VESSEL\" ctr --root '$CTR_ROOT' update -r - u1"
    VCTR delete -f u1; RUNC delete -f r1
    expect_fail "update: a stopped or deleted container is refused" 'does not exist' VCTR update --memory 1m u1
else
    skip "update against runc" "needs runc and a v1 or hybrid host (here: $host)"
fi

# -- pure v1: hide the cgroup2 mount (and the named hierarchy)
if $hybrid; then
    out=$(in_ns 'umount /sys/fs/cgroup/unified && umount /sys/fs/cgroup/systemd 2>/dev/null
        VCTR run -d p1 </dev/null >/dev/null 2>&1 || echo run-failed
        pid=$(VCTR state p1 | sed -n "s/.*\"pid\": *\([0-9]*\).*/\1/p")
        grep -c ":/vessel/p1$" /proc/$pid/cgroup
        cat /sys/fs/cgroup/memory/vessel/p1/memory.limit_in_bytes
        VCTR exec p1 cat /sys/fs/cgroup/pids/pids.max
        VCTR exec p1 ls /sys/fs/cgroup | tr "\n" " "; echo
        VCTR delete -f p1' 2>&1 | asan_filter)
    read -r n lim pmax <<<"$(head -n 3 <<<"$out" | tr '\n' ' ')"
    ctrls=$(ls /sys/fs/cgroup | grep -vx -e unified -e systemd | wc -l)
    [ "$n" = "$ctrls" ] && [ "$lim" = 50331648 ] && [ "$pmax" = 20 ] && ! grep -qw unified <<<"$(sed -n 4p <<<"$out")" &&
        ok "pure v1: the $ctrls controller hierarchies, limits set, the container's cgroup mount shows no cgroup2" ||
        nok "pure v1: [$out]"
    gone p1 && ok "pure v1: nothing left after delete" || nok "pure v1: cgroups left"
else
    skip "pure v1 layout" "needs a hybrid host to hide its cgroup2 mount (host: $host)"
fi

# -- v2: the cgroup2 mount on /sys/fs/cgroup
v2src=
[ "$host" = cgroup2fs ] && v2src=/sys/fs/cgroup
$hybrid && v2src=/sys/fs/cgroup/unified
if [ -n "$v2src" ]; then
    nb=$CTR_BASE/nolim; mkbundle "$nb"; args "$nb" 'sleep 30'
    out=$(in_ns "[ '$v2src' = /sys/fs/cgroup ] || mount --bind '$v2src' /sys/fs/cgroup; cd '$nb'
        VCTR run -d v2 </dev/null >/dev/null 2>&1 || echo run-failed
        cat /sys/fs/cgroup/vessel/v2/cgroup.procs | wc -l
        VCTR exec v2 sh -c 'grep \" /sys/fs/cgroup \" /proc/self/mountinfo | cut -d\" \" -f9; grep ^0:: /proc/self/cgroup'
        VCTR pause v2; VCTR state v2 | grep -o '\"status\": *\"[a-z]*\"'; grep frozen /sys/fs/cgroup/vessel/v2/cgroup.events
        VCTR resume v2; VCTR state v2 | grep -o '\"status\": *\"[a-z]*\"'
        VCTR delete -f v2; [ -e /sys/fs/cgroup/vessel/v2 ] && echo still-there || echo removed" 2>&1 | asan_filter)
    exp=$'1\ncgroup2\n0::/\n"status":"paused"\nfrozen 1\n"status":"running"\nremoved'
    [ "$out" = "$exp" ] && ok "v2: the container in its cgroup, a cgroup2 mount of its own, pause/resume via cgroup.freeze, removed on delete" ||
        nok "v2: [$out] want [$exp]"
    ctrl=$(cat "$v2src/cgroup.controllers")
    if ! grep -qw memory <<<"$ctrl"; then
        out=$(in_ns "[ '$v2src' = /sys/fs/cgroup ] || mount --bind '$v2src' /sys/fs/cgroup
            VCTR run v2m; echo status \$?; [ -e /sys/fs/cgroup/vessel/v2m ] && echo cgroup-left; [ -e '$CTR_ROOT/v2m' ] && echo state-left" 2>&1 | asan_filter)
        grep -q 'linux.resources.memory.limit: cannot set .*memory.max' <<<"$out" && grep -q 'status 1' <<<"$out" &&
            ! grep -q -- -left <<<"$out" && ok "v2 without the memory controller: a clear error naming linux.resources.memory.limit, nothing left" ||
            nok "v2 memory limit without the controller: [$out]"
        skip "v2 limits read back" "this host's cgroup2 has no controller to set (controllers: ${ctrl:-none}); they are bound to v1"
    else
        out=$(in_ns "cd '$b'; VCTR run -d v2l </dev/null >/dev/null 2>&1; cat /sys/fs/cgroup/vessel/v2l/memory.max /sys/fs/cgroup/vessel/v2l/pids.max /sys/fs/cgroup/vessel/v2l/cpu.weight; VCTR delete -f v2l" 2>&1)
        [ "$(echo $out)" = "50331648 20 10" ] && ok "v2 limits: memory.max pids.max cpu.weight" || nok "v2 limits: [$out]"
    fi
    db=$CTR_BASE/dev2; mkbundle "$db"; args "$db" 'true'
    cfg "$db" 'c["linux"]["resources"]={"devices":[{"allow":False,"access":"rwm"}]}'
    out=$(in_ns "[ '$v2src' = /sys/fs/cgroup ] || mount --bind '$v2src' /sys/fs/cgroup; cd '$db'; VCTR run v2d; echo status \$?" 2>&1)
    grep -q 'linux.resources.devices: not enforced on cgroup v2' <<<"$out" && grep -q 'status 0' <<<"$out" &&
        ok "v2: the device list is not enforced, and a warning says so" || nok "v2 devices: [$out]"
else
    skip "v2 layout" "no cgroup2 mount on this host"
fi
left=$(find /sys/fs/cgroup/*/vessel /sys/fs/cgroup/vessel -mindepth 1 -maxdepth 1 -type d 2>/dev/null)
[ -z "$left" ] && ok "no cgroup left under any vessel/ directory" || nok "cgroups left: $left"
