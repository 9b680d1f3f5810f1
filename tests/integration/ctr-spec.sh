# vessel ctr against the runtime spec, each bundle also run under runc and the
# two compared: namespaces, mounts, capabilities, rlimits, hostname, user,
# seccomp, masked/readonly paths, cgroup limits, state transitions.
. "$SRC/tests/lib.sh"
. "$SRC/tests/ctrlib.sh"
ctr_need
have runc || { echo "runc is not installed" >&2; exit 77; }

host_ns=$(for n in pid mnt uts ipc net; do readlink /proc/self/ns/$n; done | tr '\n' ' ')

# case NAME PYTHON-EDIT SHELL-CMD [expected-status]
n_case=0
case_() {
    local name=$1 edit=$2 cmd=$3 want=${4:-0}
    n_case=$((n_case + 1))
    local b=$CTR_BASE/c$n_case
    mkbundle "$b"
    [ -n "$edit" ] && cfg "$b" "$edit"
    args "$b" "$cmd"
    local vout rout vrc rrc
    vout=$(cd "$b" && timeout 60 "$VESSEL" ctr --root "$CTR_ROOT" run "v$n_case" 2>&1); vrc=$?
    vout=$(asan_filter <<<"$vout")
    rout=$(cd "$b" && timeout 60 runc --root "$RUNC_ROOT" run "r$n_case" 2>&1); rrc=$?
    runc --root "$RUNC_ROOT" delete -f "r$n_case" >/dev/null 2>&1
    if [ "$vrc" != "$want" ]; then
        nok "$name: vessel exit $vrc, want $want: $(head -c 300 <<<"$vout")"
    elif [ "$vout" != "$rout" ] || [ "$vrc" != "$rrc" ]; then
        nok "$name: vessel and runc differ: vessel($vrc)=[$(head -c 200 <<<"$vout")] runc($rrc)=[$(head -c 200 <<<"$rout")]"
    else
        ok "$name (same as runc)"
    fi
    [ -d "$CTR_ROOT/v$n_case" ] && nok "$name: state dir left behind"
}

case_ "hostname" 'c["hostname"]="box1"' 'hostname'
case_ "new namespaces" '' "for n in pid mnt uts ipc net; do readlink /proc/self/ns/\$n; done | tr '\n' ' ' | grep -q -F '$host_ns' && echo same || echo differ"
case_ "pid 1 in the pid namespace" '' 'echo $$'
case_ "capabilities (default set)" '' 'grep ^Cap /proc/self/status'
case_ "capabilities (SYS_ADMIN added)" 'c["process"]["capabilities"]={k:["CAP_SYS_ADMIN","CAP_KILL"] for k in ("bounding","effective","permitted")}' 'grep ^Cap /proc/self/status'
case_ "rlimit NOFILE" 'c["process"]["rlimits"]=[{"type":"RLIMIT_NOFILE","soft":123,"hard":456}]' 'ulimit -n; ulimit -Hn'
case_ "user and groups" 'c["process"]["user"]={"uid":1000,"gid":1000,"additionalGids":[10,20]}' 'id -u; id -g; id -G'
case_ "env and cwd" 'c["process"]["env"]=["PATH=/bin","FOO=bar"]; c["process"]["cwd"]="/tmp"' 'echo $FOO; pwd'
case_ "no_new_privs" '' 'grep NoNewPrivs /proc/self/status'
case_ "masked paths" '' 'wc -c < /proc/timer_list; ls /sys/firmware | wc -l'
case_ "read-only /proc/sys" '' '(echo 1 > /proc/sys/kernel/hostname) 2>/dev/null && echo writable || echo readonly'
case_ "read-only root" 'c["root"]["readonly"]=True' 'touch /x 2>/dev/null && echo writable || echo readonly'
case_ "tmpfs mount with options" 'c["mounts"].append({"destination":"/mnt/t","type":"tmpfs","source":"tmpfs","options":["nosuid","size=1m","mode=700"]})' 'grep " /mnt/t " /proc/mounts | cut -d" " -f3,4'
case_ "read-only bind mount" "c['mounts'].append({'destination':'/data','type':'bind','source':'$CTR_BASE','options':['rbind','ro']})" 'touch /data/x 2>/dev/null && echo writable || echo readonly'
case_ "/dev devices" '' 'ls /dev | sort | tr "\n" " "; echo; head -c 4 /dev/zero | wc -c'
case_ "seccomp errno" 'c["linux"]["seccomp"]={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}' 'mkdir /tmp/d 2>&1 | sed "s/.*: //"'
case_ "sysctl" 'c["linux"]["sysctl"]={"kernel.domainname":"example.org"}' 'cat /proc/sys/kernel/domainname'
case_ "exit status" '' 'exit 7' 7
case_ "memory limit kills a hog" 'c["linux"]["resources"]={"memory":{"limit":33554432}}' 'dd if=/dev/zero of=/dev/null bs=128M count=1 2>/dev/null; echo "dd status $?"'
case_ "pids limit stops a fork bomb" 'c["linux"]["resources"]={"pids":{"limit":8}}' '(for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 3 & done) 2>/tmp/err; while read l; do case "$l" in *fork*) echo "forks refused"; break;; esac; done < /tmp/err'

# state transitions: created -> running -> stopped, runc-shaped JSON
b=$CTR_BASE/life; mkbundle "$b"; args "$b" 'sleep 30'
(cd "$b" && VCTR create life) && s1=$(VCTR state life | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
VCTR start life; s2=$(VCTR state life | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
VCTR kill life KILL; for i in $(seq 50); do s3=$(VCTR state life | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])'); [ "$s3" = stopped ] && break; sleep 0.1; done
[ "$s1 $s2 $s3" = "created running stopped" ] && ok "state: created -> running -> stopped" || nok "state transitions: $s1 $s2 $s3"
keys=$(VCTR state life | python3 -c 'import json,sys; print(" ".join(sorted(json.load(sys.stdin))))')
(cd "$b" && RUNC create rlife >/dev/null 2>&1)
rkeys=$(RUNC state rlife | python3 -c 'import json,sys; print(" ".join(sorted(json.load(sys.stdin))))')
RUNC delete -f rlife >/dev/null 2>&1
[ -n "$keys" ] && [ "$keys" = "$rkeys" ] && ok "state JSON has runc's keys ($keys)" || nok "state keys: vessel [$keys] runc [$rkeys]"
VCTR delete life && [ ! -d "$CTR_ROOT/life" ] && [ ! -d /sys/fs/cgroup/memory/vessel/life ] && ok "delete leaves no state dir or cgroup" || nok "delete left something behind"

# pause / resume / exec / ps / list on a running container
b=$CTR_BASE/run2; mkbundle "$b"; args "$b" 'sleep 30'
(cd "$b" && VCTR run -d r2 >/dev/null 2>&1)
out=$(VCTR exec r2 sh -c 'echo in-container $(hostname)'); [ "$out" = "in-container vessel" ] && ok "exec runs in the container" || nok "exec: [$out]"
VCTR ps --format json r2 | grep -qE '^\[[0-9]+' && ok "ps lists processes" || nok "ps"
VCTR list -q | grep -qx r2 && ok "list shows the container" || nok "list"
VCTR pause r2 && [ "$(VCTR state r2 | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')" = paused ] && VCTR resume r2 && ok "pause and resume" || nok "pause/resume"
expect_fail "delete of a running container needs --force" 'is running' VCTR delete r2
VCTR delete -f r2 && [ ! -d "$CTR_ROOT/r2" ] && ok "delete --force" || nok "delete --force"
