# vessel ctr against the runtime spec, each bundle also run under runc and the
# two compared: namespaces, mounts, capabilities, rlimits, hostname, user,
# seccomp, masked/readonly paths, cgroup limits, state transitions.
. "$SRC/tests/lib.sh"
. "$SRC/tests/ctrlib.sh"
ctr_need
have runc || { echo "runc is not installed" >&2; exit 77; }

host_ns=$(for n in pid mnt uts ipc net; do readlink /proc/self/ns/$n; done | tr '\n' ' ')

# case_ NAME PYTHON-EDIT SHELL-CMD [expected-status]: run the bundle under
# vessel and under runc, compare exit status and output. RUNFLAGS adds flags
# to both `run`s; fd 3 is open on $CTR_BASE/fd3 for --preserve-fds.
# CTR_SHOW=1 prints each output as a TAP comment.
n_case=0
echo "contents of fd 3" > "$CTR_BASE/fd3"
case_() {
    local name=$1 edit=$2 cmd=$3 want=${4:-0}
    n_case=$((n_case + 1))
    local b=$CTR_BASE/c$n_case
    mkbundle "$b"
    [ -n "$edit" ] && cfg "$b" "$edit"
    args "$b" "$cmd"
    local vout rout vrc rrc
    vout=$(cd "$b" && timeout -k 5 60 "$VESSEL" ctr --root "$CTR_ROOT" run ${RUNFLAGS:-} "v$n_case" 2>&1 3<"$CTR_BASE/fd3"); vrc=$?
    vout=$(asan_filter <<<"$vout")
    rout=$(cd "$b" && timeout -k 5 60 runc --root "$RUNC_ROOT" run ${RUNFLAGS:-} "r$n_case" 2>&1 3<"$CTR_BASE/fd3"); rrc=$?
    runc --root "$RUNC_ROOT" delete -f "r$n_case" >/dev/null 2>&1
    [ -n "${CTR_SHOW:-}" ] && { echo "# $name: vessel($vrc):"; sed 's/^/#   /' <<<"$vout"; echo "# runc($rrc):"; sed 's/^/#   /' <<<"$rout"; }
    if [ "$vrc" != "$want" ]; then
        nok "$name: vessel exit $vrc, want $want: $(head -c 300 <<<"$vout")"
    elif [ "$vout" != "$rout" ] || [ "$vrc" != "$rrc" ]; then
        nok "$name: vessel and runc differ: vessel($vrc)=[$(head -c 300 <<<"$vout")] runc($rrc)=[$(head -c 300 <<<"$rout")]"
    elif [ -z "$vout" ] && [ "${5:-}" != empty-ok ]; then
        nok "$name: no output to compare"
    else
        ok "$name (same as runc)"
    fi
    [ -d "$CTR_ROOT/v$n_case" ] && nok "$name: state dir left behind"
    cfg_left=$(find /sys/fs/cgroup/*/vessel -mindepth 1 -maxdepth 1 -name "v$n_case" 2>/dev/null)
    [ -n "$cfg_left" ] && nok "$name: cgroup left behind: $cfg_left"
}

# vcase_ NAME PYTHON-EDIT SHELL-CMD REGEX WHY: vessel only (runc here cannot
# run it, WHY says why); the output must match the extended REGEX.
vcase_() {
    local name=$1 edit=$2 cmd=$3 re=$4 why=$5
    n_case=$((n_case + 1))
    local b=$CTR_BASE/c$n_case vout vrc
    mkbundle "$b"
    [ -n "$edit" ] && cfg "$b" "$edit"
    args "$b" "$cmd"
    vout=$(cd "$b" && timeout -k 5 60 "$VESSEL" ctr --root "$CTR_ROOT" run "v$n_case" 2>&1); vrc=$?
    vout=$(asan_filter <<<"$vout")
    [ -n "${CTR_SHOW:-}" ] && { echo "# $name: vessel($vrc):"; sed 's/^/#   /' <<<"$vout"; }
    if [ $vrc -eq 0 ] && grep -qE -- "$re" <<<"$vout"; then
        ok "$name (vessel only: $why)"
    else
        nok "$name: status $vrc, output [$(head -c 300 <<<"$vout")] does not match /$re/"
    fi
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
case_ "exit status" '' 'exit 7' 7 empty-ok
case_ "memory limit kills a hog" 'c["linux"]["resources"]={"memory":{"limit":33554432}}' 'dd if=/dev/zero of=/dev/null bs=128M count=1 2>/dev/null; echo "dd status $?"'
case_ "pids limit stops a fork bomb" 'c["linux"]["resources"]={"pids":{"limit":8}}' '(for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 3 & done) 2>/tmp/err; while read l; do case "$l" in *fork*) echo "forks refused"; break;; esac; done < /tmp/err'

# -- namespaces
trap 'ip netns del vessel-spec-$$ 2>/dev/null; umount "$CTR_BASE/shsrc" "$CTR_BASE/rsrc/sub" 2>/dev/null; rm -rf "$CTR_ROOT" "$RUNC_ROOT" "$CTR_BASE"' EXIT
ip netns add vessel-spec-$$ 2>/dev/null
if [ -e /run/netns/vessel-spec-$$ ]; then
    netns_ino=$(stat -L -c %i /run/netns/vessel-spec-$$)
    case_ "join a network namespace by path" "[n.update(path='/run/netns/vessel-spec-$$') for n in c['linux']['namespaces'] if n['type']=='network']" \
        "readlink /proc/self/ns/net | grep -qx 'net:\[$netns_ino\]' && echo joined || readlink /proc/self/ns/net"
else
    skip "join a network namespace by path" "ip netns add failed"
fi
# pid, uts and ipc namespaces of a running container, joined by path
jb=$CTR_BASE/joined; mkbundle "$jb"; args "$jb" 'sleep 60'; cfg "$jb" 'c["hostname"]="joined-host"'
(cd "$jb" && VCTR run -d joined </dev/null >/dev/null 2>&1)
jpid=$(VCTR state joined 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])' 2>/dev/null)
if [ -n "$jpid" ] && [ "$jpid" != 0 ]; then
    # a poststart hook shows which pid namespace the runtime forks in afterwards: its own
    case_ "join pid, uts and ipc namespaces by path" "[n.update(path='/proc/$jpid/ns/'+{'pid':'pid','uts':'uts','ipc':'ipc'}[n['type']]) for n in c['linux']['namespaces'] if n['type'] in ('pid','uts','ipc')]; c.pop('hostname'); c['hooks']={'poststart':[{'path':'/bin/sh','args':['sh','-c','readlink /proc/self/ns/pid >> $CTR_BASE/join-hook']}]}" \
        'hostname; [ $$ -ne 1 ] && echo "not pid 1"; ps -o comm | grep -c "^sleep$"; [ "$(readlink /proc/self/ns/ipc)" = "$(readlink /proc/1/ns/ipc)" ] && echo "same ipc as its pid 1"'
else
    nok "join by path: the container to join did not start"
fi
VCTR delete -f joined >/dev/null 2>&1
hostpid=$(readlink /proc/self/ns/pid)
[ "$(sort -u "$CTR_BASE/join-hook" 2>/dev/null)" = "$hostpid" ] && [ "$(wc -l < "$CTR_BASE/join-hook")" -eq 2 ] &&
    ok "after joining a pid namespace, the runtime's hooks still run in its own (vessel and runc)" || nok "hook pid ns: $(tr '\n' ' ' < "$CTR_BASE/join-hook" 2>&1), host $hostpid"
case_ "cgroup namespace: own cgroups at its root" '' 'cat /proc/self/cgroup'
chmod 755 "$CTR_BASE"    # the mapped root (host uid 100000) must reach the rootfs
case_ "user namespace with maps" 'c["linux"]["namespaces"].append({"type":"user"}); c["linux"]["uidMappings"]=[{"containerID":0,"hostID":100000,"size":65536}]; c["linux"]["gidMappings"]=[{"containerID":0,"hostID":100000,"size":65536}]; c["mounts"]=[m for m in c["mounts"] if m["destination"] not in ("/sys","/sys/fs/cgroup")]' \
    'cat /proc/self/uid_map /proc/self/gid_map; id -u'
host_time=$(readlink /proc/self/ns/time)
vcase_ "time namespace with offsets" 'c["linux"]["namespaces"].append({"type":"time"}); c["linux"]["timeOffsets"]={"monotonic":{"secs":86400000,"nanosecs":0},"boottime":{"secs":172800000,"nanosecs":0}}' \
    "readlink /proc/self/ns/time | grep -qvx '$host_time' && echo new-ns; cut -d. -f1 /proc/uptime" \
    '^new-ns'$'\n''17280[0-9]{4}$' "runc $(runc --version | head -1 | cut -d' ' -f3) has no time namespace"

# -- mounts and propagation (mountinfo's optional fields without their group numbers)
prop='awk '"'"'$5 ~ /^\/mnt\// || $5 == "/" { t=""; for (i = 7; $i != "-"; i++) { x=$i; sub(/:[0-9]+$/, "", x); t=t" "x }; print $5 t }'"'"' /proc/self/mountinfo'
# a shared mount on the host, so that a slave bind of it has a master to show
mkdir -p "$CTR_BASE/shsrc" && mount -t tmpfs tmpfs "$CTR_BASE/shsrc" && mount --make-shared "$CTR_BASE/shsrc" ||
    nok "cannot make a shared tmpfs on the host for the propagation case"
case_ "mount propagation options" "c['mounts'] += [{'destination':'/mnt/sh','type':'tmpfs','source':'tmpfs','options':['rshared']}, {'destination':'/mnt/pr','type':'tmpfs','source':'tmpfs','options':['rprivate']}, {'destination':'/mnt/sl','type':'bind','source':'$CTR_BASE/shsrc','options':['rbind','rslave']}, {'destination':'/mnt/pb','type':'bind','source':'$CTR_BASE/shsrc','options':['rbind','rprivate']}, {'destination':'/mnt/sb','type':'bind','source':'$CTR_BASE/shsrc','options':['rbind','shared']}, {'destination':'/mnt/ub','type':'tmpfs','source':'tmpfs','options':['unbindable']}]" "$prop"
vcase_ "rootfsPropagation shared" 'c["linux"]["rootfsPropagation"]="shared"' "$prop" '^/ shared$' "runc 1.1 leaves the root in no peer group"
case_ "mount options nosuid,nodev,noexec,ro on a bind" "c['mounts'].append({'destination':'/mnt/b','type':'bind','source':'$CTR_BASE','options':['bind','nosuid','nodev','noexec','ro']})" \
    'grep " /mnt/b " /proc/self/mountinfo | cut -d" " -f6'
# a directory with a submount: "ro" covers the top only, runtime-spec 1.1's "rro" both
mkdir -p "$CTR_BASE/rsrc/sub" && mount -t tmpfs tmpfs "$CTR_BASE/rsrc/sub" || nok "cannot mount a tmpfs for the recursive-option cases"
ln -sf /bin/busybox "$CTR_BASE/rsrc/sub/l2"
ro_probe='for d in /mnt/r /mnt/r/sub; do touch $d/x 2>/dev/null && echo "$d writable" || echo "$d read-only"; done; cat /mnt/r/sub/l2 >/dev/null 2>&1 && echo follows || echo nofollow'
case_ "ro on an rbind leaves submounts writable" "c['mounts'].append({'destination':'/mnt/r','type':'bind','source':'$CTR_BASE/rsrc','options':['rbind','ro']})" "$ro_probe"
vcase_ "rro and rnosymfollow (recursive, mount_setattr)" "c['mounts'].append({'destination':'/mnt/r','type':'bind','source':'$CTR_BASE/rsrc','options':['rbind','rro','rnosymfollow']})" "$ro_probe" \
    $'^/mnt/r read-only\n/mnt/r/sub read-only\nnofollow$' "runc 1.1 has no recursive mount options"
case_ "nosymfollow" "c['mounts'].append({'destination':'/mnt/r','type':'bind','source':'$CTR_BASE/rsrc/sub','options':['bind','nosymfollow']})" \
    'cat /mnt/r/l2 >/dev/null 2>&1 && echo follows || echo nofollow; grep " /mnt/r " /proc/self/mountinfo | cut -d" " -f6'
case_ "configured device node" 'c["linux"]["devices"]=[{"path":"/dev/vzero","type":"c","major":1,"minor":5,"fileMode":416,"uid":0,"gid":0}]' \
    'stat -c "%A %t:%T %u:%g" /dev/vzero; head -c 3 /dev/vzero | wc -c'
case_ "devices cgroup denies a device" 'c["linux"]["devices"]=[{"path":"/dev/vloop","type":"b","major":7,"minor":0,"fileMode":420}]; c["linux"]["resources"]={"devices":[{"allow":False,"access":"rwm"}]}' \
    'head -c 0 /dev/vloop 2>&1 | sed "s/.*: //"; head -c 1 /dev/zero | wc -c'
case_ "devices cgroup allows a device" 'c["linux"]["devices"]=[{"path":"/dev/vloop","type":"b","major":7,"minor":0,"fileMode":420}]; c["linux"]["resources"]={"devices":[{"allow":False,"access":"rwm"},{"allow":True,"type":"b","major":7,"minor":0,"access":"r"}]}' \
    'head -c 0 /dev/vloop && echo opened; echo x 2>&1 > /dev/vloop | sed "s/.*: //"'
case_ "devices cgroup list" 'c["linux"]["resources"]={"devices":[{"allow":False,"access":"rwm"},{"allow":True,"type":"c","major":1,"minor":11,"access":"r"}]}' \
    'sort /sys/fs/cgroup/devices/devices.list'

# -- process
case_ "five capability sets with ambient" 'c["process"]["capabilities"]={"bounding":["CAP_KILL","CAP_NET_RAW","CAP_CHOWN","CAP_SETPCAP"],"effective":["CAP_KILL","CAP_CHOWN"],"inheritable":["CAP_NET_RAW","CAP_CHOWN"],"permitted":["CAP_KILL","CAP_NET_RAW","CAP_CHOWN"],"ambient":["CAP_NET_RAW"]}' 'grep ^Cap /proc/self/status'
case_ "ambient capabilities kept by a non-root user" 'c["process"]["user"]={"uid":1000,"gid":1000}; c["process"]["capabilities"]={"bounding":["CAP_NET_RAW","CAP_CHOWN"],"effective":["CAP_NET_RAW"],"inheritable":["CAP_NET_RAW"],"permitted":["CAP_NET_RAW"],"ambient":["CAP_NET_RAW"]}' 'grep ^Cap /proc/self/status'
case_ "no capabilities object" 'del c["process"]["capabilities"]' 'grep ^Cap /proc/self/status'
case_ "no_new_privs off" 'c["process"]["noNewPrivileges"]=False' 'grep NoNewPrivs /proc/self/status'
case_ "oomScoreAdj" 'c["process"]["oomScoreAdj"]=500' 'cat /proc/self/oom_score_adj'
case_ "rlimits several" 'c["process"]["rlimits"]=[{"type":"RLIMIT_NOFILE","soft":100,"hard":200},{"type":"RLIMIT_CORE","soft":0,"hard":0},{"type":"RLIMIT_NPROC","soft":300,"hard":400},{"type":"RLIMIT_STACK","soft":1048576,"hard":2097152}]' \
    'grep -E "^Max (open files|core|processes|stack)" /proc/self/limits'
case_ "umask" 'c["process"]["user"]["umask"]=63' 'umask; touch /tmp/u; stat -c %a /tmp/u'
vcase_ "domainname" 'c["domainname"]="dom.example"' 'cat /proc/sys/kernel/domainname' '^dom\.example$' "runc 1.1 ignores domainname"
case_ "seccomp argument filter (kill with SIGUSR1 refused)" 'c["linux"]["seccomp"]={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["kill"],"action":"SCMP_ACT_ERRNO","errnoRet":1,"args":[{"index":1,"value":10,"op":"SCMP_CMP_EQ"}]}]}' \
    'trap "echo got USR2" USR2; (kill -USR1 $$) 2>&1 | sed "s/.*: //"; kill -USR2 $$; echo "USR2 status $?"'
case_ "seccomp MASKED_EQ and default errno" 'c["linux"]["seccomp"]={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["fchmodat","chmod"],"action":"SCMP_ACT_ERRNO","errnoRet":38,"args":[{"index":1,"value":1,"valueTwo":1,"op":"SCMP_CMP_MASKED_EQ"}]}]}' \
    'touch /tmp/f; chmod 644 /tmp/f && echo 644 ok; chmod 755 /tmp/f 2>&1 | sed "s/.*: //"'
case_ "seccomp kill action" 'c["linux"]["seccomp"]={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mknod","mknodat"],"action":"SCMP_ACT_KILL_PROCESS"}]}' \
    'exec 2>/dev/null; echo before; (mkfifo /tmp/p); echo "status $?"'
# an allowlist: every x86-64 syscall but mkdir/mkdirat, the rest fails with defaultErrnoRet
allow=$(sed -n 's/^#define __NR_\([a-z0-9_]*\) [0-9]*$/\1/p' /usr/include/x86_64-linux-gnu/asm/unistd_64.h 2>/dev/null | grep -vx -e mkdir -e mkdirat | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read().split()))')
if [ "$(uname -m)" = x86_64 ] && [ "$allow" != "[]" ]; then
    case_ "seccomp allowlist, defaultAction ERRNO with defaultErrnoRet" "c['linux']['seccomp']={'defaultAction':'SCMP_ACT_ERRNO','defaultErrnoRet':38,'architectures':['SCMP_ARCH_X86_64'],'syscalls':[{'names':$allow,'action':'SCMP_ACT_ALLOW'}]}" \
        'mkdir /tmp/d 2>&1 | sed "s/.*: //"; touch /tmp/f && echo touch-ok'
else
    skip "seccomp allowlist with defaultErrnoRet" "needs x86-64 and asm/unistd_64.h (linux-libc-dev) for the syscall list"
fi
case_ "seccomp without no_new_privs (loaded before the capabilities drop)" 'c["process"]["noNewPrivileges"]=False; c["process"]["user"]={"uid":1000,"gid":1000}; c["linux"]["seccomp"]={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}' \
    'grep -E "^(NoNewPrivs|Seccomp):" /proc/self/status; mkdir /tmp/d 2>&1 | sed "s/.*: //"'
vcase_ "seccomp flags (SECCOMP_FILTER_FLAG_LOG)" 'c["linux"]["seccomp"]={"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_LOG"],"syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}' \
    'grep -E "^Seccomp:" /proc/self/status; mkdir /tmp/d 2>&1 | sed "s/.*: //"' $'^Seccomp:\t2\nOperation not permitted$' "runc 1.1 refuses seccomp flags"
RUNFLAGS="--preserve-fds 1" case_ "--preserve-fds 1 passes fd 3" '' 'cat <&3'
RUNFLAGS="--no-pivot" case_ "--no-pivot (chroot)" '' 'ls /; echo $$'

# -- cgroup limits, as the container sees them in its own cgroup mount
case_ "cgroup limits: memory cpu cpuset pids blkio" 'c["linux"]["resources"]={"memory":{"limit":67108864,"reservation":33554432},"cpu":{"shares":512,"quota":50000,"period":100000,"cpus":"0","mems":"0"},"pids":{"limit":50},"blockIO":{"throttleReadBpsDevice":[{"major":254,"minor":0,"rate":1048576}],"throttleWriteIOPSDevice":[{"major":254,"minor":0,"rate":100}]}}' \
    'cd /sys/fs/cgroup; cat memory/memory.limit_in_bytes memory/memory.soft_limit_in_bytes cpu/cpu.shares cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us cpuset/cpuset.cpus cpuset/cpuset.mems pids/pids.max blkio/blkio.throttle.read_bps_device blkio/blkio.throttle.write_iops_device'

# -- every hook kind: order, the state each sees, and where it runs
hookcfg="h={}
for k in ['prestart','createRuntime','createContainer','poststart','poststop']:
    h[k]=[{'path':'/bin/sh','args':['sh','-c','s=\$(cat); echo %s \$s \$(readlink /proc/self/ns/mnt) >> \$D/hooks'%k],'env':['D=@HK@']}]
h['startContainer']=[{'path':'/bin/sh','args':['sh','-c','s=\$(cat); echo startContainer \$s \$(readlink /proc/self/ns/mnt) >> /hooks']}]
c['hooks']=h"
hooks_norm() {   # kind status pid-class namespace-class, from the hook logs
    local hostmnt; hostmnt=$(readlink /proc/self/ns/mnt)
    python3 - "$1" "$2" "$hostmnt" <<'PY'
import json, re, sys
for path in sys.argv[1:3]:
    for line in open(path):
        kind, rest = line.split(" ", 1)
        js, mnt = rest.rsplit(" ", 1)
        st = json.loads(js)
        pid = st.get("pid")
        cls = "none" if not pid else ("1" if pid == 1 else "host")
        print(kind, st["status"], "pid=" + cls, "host-mnt" if mnt.strip() == sys.argv[3] else "container-mnt")
PY
}
hb=$CTR_BASE/hooks; mkbundle "$hb"; args "$hb" 'cat /hooks'
hk=${hookcfg//@HK@/$CTR_BASE/hv}; mkdir -p "$CTR_BASE/hv"; cfg "$hb" "$hk"; : > "$hb/rootfs/hooks"
(cd "$hb" && "$VESSEL" ctr --root "$CTR_ROOT" run hv >/dev/null 2>&1); vrc=$?
cp "$hb/rootfs/hooks" "$CTR_BASE/hv/in"
hk=${hookcfg//@HK@/$CTR_BASE/hr}; mkdir -p "$CTR_BASE/hr"; cfg "$hb" "$hk"; : > "$hb/rootfs/hooks"
(cd "$hb" && runc --root "$RUNC_ROOT" run hr >/dev/null 2>&1); rrc=$?
cp "$hb/rootfs/hooks" "$CTR_BASE/hr/in"
vh=$(hooks_norm "$CTR_BASE/hv/hooks" "$CTR_BASE/hv/in" 2>&1)
rh=$(hooks_norm "$CTR_BASE/hr/hooks" "$CTR_BASE/hr/in" 2>&1)
[ -n "${CTR_SHOW:-}" ] && { echo "# hooks vessel:"; sed 's/^/#   /' <<<"$vh"; echo "# hooks runc:"; sed 's/^/#   /' <<<"$rh"; }
# runc 1.1 hands poststart the status "created"; the process is running by then
if [ $vrc -eq 0 ] && [ $rrc -eq 0 ] && [ "$(wc -l <<<"$vh")" -eq 6 ] &&
   [ "$vh" = "$(sed 's/^poststart created/poststart running/' <<<"$rh")" ]; then
    ok "hooks: all six kinds, in runc's order, with the same states and namespaces"
else
    nok "hooks differ: vessel($vrc)=[$vh] runc($rrc)=[$rh]"
fi
cfg "$hb" 'c["hooks"]={"createRuntime":[{"path":"/bin/false"}]}'
expect_fail "a failing createRuntime hook fails create" 'hook /bin/false failed' bash -c "cd '$hb' && \"\$VESSEL\" ctr --root '$CTR_ROOT' run hf"
[ ! -e "$CTR_ROOT/hf" ] && [ -z "$(find /sys/fs/cgroup/*/vessel -maxdepth 1 -name hf 2>/dev/null)" ] && ok "failed hook left no state dir or cgroup" || nok "failed hook left state or cgroup behind"

cfg "$hb" 'c["hooks"]={"prestart":[{"path":"/bin/sleep","args":["sleep","10"],"timeout":1}]}'
t0=$SECONDS
expect_fail "a hook past its timeout is killed and fails create" 'hook /bin/sleep timed out after 1 s' bash -c "cd '$hb' && \"\$VESSEL\" ctr --root '$CTR_ROOT' run ht"
[ $((SECONDS - t0)) -le 4 ] && [ ! -e "$CTR_ROOT/ht" ] && ok "hook timeout honoured ($((SECONDS - t0)) s), nothing left" || nok "hook timeout took $((SECONDS - t0)) s or left state"

# poststart and poststop: a hook that exits without reading its state (here
# a 200 KiB annotation makes it larger than a pipe holds) and a failing hook
# are warnings, and the hooks after them still run (runtime-spec "poststart",
# "poststop"); before the fix the first killed the runtime with SIGPIPE.
pcfg="c['annotations']={'big':'x'*200000}
c['hooks']={k:[{'path':'/bin/true'},{'path':'/bin/false'},{'path':'/bin/sh','args':['sh','-c','cat >/dev/null; echo %s-after >> @HK@/post'%k]}] for k in ('poststart','poststop')}"
for rt in vessel runc; do
    mkdir -p "$CTR_BASE/post-$rt"; : > "$CTR_BASE/post-$rt/post"
    cfg "$hb" "${pcfg//@HK@/$CTR_BASE/post-$rt}"; args "$hb" 'echo main-ran'
    if [ $rt = vessel ]; then
        pout=$(cd "$hb" && timeout -k 5 60 "$VESSEL" ctr --root "$CTR_ROOT" run pv 2>&1); prc=$?
        pout=$(asan_filter <<<"$pout")
    else
        pout=$(cd "$hb" && timeout -k 5 60 runc --root "$RUNC_ROOT" run pr 2>&1); prc=$?
        RUNC delete -f pr >/dev/null 2>&1
    fi
    eval "post_${rt}_rc=\$prc; post_${rt}_out=\$pout; post_${rt}_ran=\$(tr '\n' ' ' < '$CTR_BASE/post-$rt/post')"
done
echo "# failing poststart/poststop hooks: vessel status $post_vessel_rc, later hooks ran: [$post_vessel_ran]; runc status $post_runc_rc, later hooks ran: [$post_runc_ran] (for information)"
if [ "$post_vessel_rc" = 0 ] && grep -qx main-ran <<<"$post_vessel_out" && [ "$post_vessel_ran" = "poststart-after poststop-after " ] &&
   [ "$(grep -c 'warning: hook /bin/false failed' <<<"$post_vessel_out")" = 2 ]; then
    ok "poststart/poststop: a hook that does not read its state and a failing hook warn, the later hooks run, the container runs"
else
    nok "poststart/poststop failures: status $post_vessel_rc, hooks ran [$post_vessel_ran], output [$(head -c 400 <<<"$post_vessel_out")]"
fi
cfg "$hb" 'c.pop("annotations", None); c["hooks"]={"prestart":[{"path":"/bin/false"},{"path":"/bin/sh","args":["sh","-c","echo ran > '"$CTR_BASE"'/pre-after"]}]}'
expect_fail "a failing prestart hook fails create" 'hook /bin/false failed' bash -c "cd '$hb' && \"\$VESSEL\" ctr --root '$CTR_ROOT' run pf"
[ ! -e "$CTR_BASE/pre-after" ] && [ ! -e "$CTR_ROOT/pf" ] && ok "after a failing prestart hook the next one does not run, nothing left" ||
    nok "prestart: the hook after a failing one ran or state was left"

# -- no mount namespace: inherited from the runtime (runtime-spec: an unlisted
# namespace is inherited), the process chrooted into the root, as under runc
nomnt='c["linux"]["namespaces"]=[n for n in c["linux"]["namespaces"] if n["type"]!="mount"]; c["mounts"]=[]; c["linux"].pop("maskedPaths",None); c["linux"].pop("readonlyPaths",None)'
# (runc is not run here: it needs /proc in the root, and without a mount
# namespace it mounts that, and binds the root onto itself, on the host)
vcase_ "no mount namespace: chrooted into the root, no mounts" "$nomnt" 'ls / | tr "\n" " "; echo $$; cat /proc/self/mounts 2>&1 | sed "s/.*: //"' \
    '^bin dev etc proc root sys tmp '$'\n''1'$'\n''No such file or directory$' "runc mounts on the host without a mount namespace"
nb=$CTR_BASE/nomnt; mkbundle "$nb"; cfg "$nb" "$nomnt"; args "$nb" 'sleep 60'
(cd "$nb" && VCTR run -d nomnt </dev/null >/dev/null 2>&1)
npid=$(VCTR state nomnt 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])' 2>/dev/null)
if [ -n "$npid" ] && [ "$npid" != 0 ] && [ "$(readlink /proc/$npid/ns/mnt)" = "$(readlink /proc/self/ns/mnt)" ] &&
   [ "$(readlink /proc/$npid/root)" = "$nb/rootfs" ] && [ "$(readlink /proc/$npid/ns/pid)" != "$(readlink /proc/self/ns/pid)" ]; then
    ok "no mount namespace: the container shares the host's, its root is the bundle's rootfs, its other namespaces are its own"
else
    nok "no mount namespace: pid [$npid] mnt $(readlink /proc/$npid/ns/mnt 2>&1) root $(readlink /proc/$npid/root 2>&1)"
fi
VCTR delete -f nomnt >/dev/null 2>&1
# its mounts are made in the host's namespace, under the root (as runc), and
# detached at delete (runc leaves them); masked paths are refused, as runc does
cfg "$nb" 'c["mounts"]=[{"destination":"/proc","type":"proc","source":"proc"},{"destination":"/tmp","type":"tmpfs","source":"tmpfs","options":["size=1m"]},{"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["mode=755"]}]'
args "$nb" 'cat /proc/self/comm; grep -c " /tmp tmpfs" /proc/self/mounts; ls /dev/null'
out=$(cd "$nb" && "$VESSEL" ctr --root "$CTR_ROOT" run nomnt2 2>&1 | asan_filter); rc=$?
[ $rc -eq 0 ] && [ "$out" = $'cat\n1\n/dev/null' ] && ok "no mount namespace: mounts and /dev made under the root" || nok "no mount namespace with mounts: status $rc [$out]"
[ ! -e "$CTR_ROOT/nomnt2" ] && ! grep -q " $nb/rootfs" /proc/self/mounts && ok "no mount namespace: its mounts on the host are gone after it, no state left" ||
    nok "no mount namespace: left $(grep -c " $nb/rootfs" /proc/self/mounts) mounts or state"
cfg "$nb" 'c["linux"]["maskedPaths"]=["/proc/kcore"]'
expect_fail "no mount namespace: masked paths refused, naming the fix" 'maskedPaths: needs a mount namespace' bash -c "cd '$nb' && \"\$VESSEL\" ctr --root '$CTR_ROOT' run nomnt3"
grep -q " $nb/rootfs" /proc/self/mounts && umount -R "$nb/rootfs"/* 2>/dev/null

# -- the container's cgroup view: on a hybrid host runc shows the v1
# hierarchies only (no cgroup2 at unified/) in an rw tmpfs with the mode of
# the sysfs directory it covers (0555: even root without CAP_DAC_OVERRIDE
# cannot write it)
case_ "/sys/fs/cgroup as runc shows it: the same mounts, options and permissions" '' \
    'awk '"'"'$2 ~ /^\/sys\/fs\/cgroup/ {print $2, $3, $4}'"'"' /proc/self/mounts; wc -l < /proc/self/mounts; stat -c "%a %U" /sys/fs/cgroup; mkdir /sys/fs/cgroup/x 2>/dev/null && echo tmpfs-writable || echo tmpfs-readonly; touch /sys/fs/cgroup/pids/x 2>/dev/null && echo hierarchy-writable || echo hierarchy-readonly'

# -- memory.swappiness, disableOOMKiller, network, hugepageLimits
if [ -d /sys/fs/cgroup/memory ] && [ -e /sys/fs/cgroup/memory/memory.swappiness ]; then
    case_ "memory swappiness and disableOOMKiller (cgroup v1)" 'c["linux"]["resources"]={"memory":{"limit":67108864,"swappiness":17,"disableOOMKiller":True}}' \
        'cat /sys/fs/cgroup/memory/memory.swappiness; grep oom_kill_disable /sys/fs/cgroup/memory/memory.oom_control'
elif [ -e /sys/fs/cgroup/cgroup.controllers ]; then
    vcase_ "memory swappiness and disableOOMKiller (cgroup v2: ignored with a warning)" 'c["linux"]["resources"]={"memory":{"swappiness":17,"disableOOMKiller":True}}' \
        'echo ran' 'swappiness.*ignored' "runc ignores both without a word on cgroup v2"
else
    skip "memory swappiness and disableOOMKiller" "no memory controller"
fi
netres='c["linux"]["resources"]={"network":{"classID":1048577,"priorities":[{"name":"lo","priority":5}]}}'
if [ -e /sys/fs/cgroup/net_cls/net_cls.classid ] || [ -e /sys/fs/cgroup/net_cls,net_prio/net_cls.classid ]; then
    case_ "network classID and priorities (net_cls, net_prio)" "$netres" 'cat /sys/fs/cgroup/net_cls/net_cls.classid; grep "^lo " /sys/fs/cgroup/net_prio/net_prio.ifpriomap'
else
    vcase_ "network classID and priorities: no net_cls/net_prio here, a warning" "$netres" 'echo ran' \
        'network.classID: no net_cls controller on this host: ignored' "runc skips a missing controller without a word"
fi
hugeres='c["linux"]["resources"]={"hugepageLimits":[{"pageSize":"2MB","limit":4194304}]}'
if [ -e /sys/fs/cgroup/hugetlb/hugetlb.2MB.limit_in_bytes ]; then
    case_ "hugepageLimits (hugetlb)" "$hugeres" 'cat /sys/fs/cgroup/hugetlb/hugetlb.2MB.limit_in_bytes'
else
    vcase_ "hugepageLimits: no hugetlb controller here, a warning" "$hugeres" 'echo ran' \
        'hugepageLimits: no hugetlb controller on this host: ignored|no 2MB huge pages' "runc skips a missing controller without a word"
fi
expect_fail "hugepageLimits: a bad page size is refused, named" 'hugepageLimits\[0\].pageSize: "2M" is not a page size' \
    bash -c "cd '$nb' && python3 -c 'import json; c=json.load(open(\"config.json\")); c[\"linux\"][\"resources\"]={\"hugepageLimits\":[{\"pageSize\":\"2M\",\"limit\":1}]}; json.dump(c,open(\"config.json\",\"w\"))' && \"\$VESSEL\" ctr --root '$CTR_ROOT' run hbad"

# -- labels
b=$CTR_BASE/labels; mkbundle "$b"; args "$b" 'echo ran'
cfg "$b" 'c["process"]["apparmorProfile"]="docker-default"; c["process"]["selinuxLabel"]="system_u:system_r:container_t:s0"'
out=$(cd "$b" && "$VESSEL" ctr --root "$CTR_ROOT" run lab 2>&1 | asan_filter)
grep -q 'warning: .*apparmorProfile/selinuxLabel are ignored' <<<"$out" && grep -qx ran <<<"$out" &&
    ok "apparmorProfile and selinuxLabel ignored with a warning" || nok "labels: [$out]"

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
