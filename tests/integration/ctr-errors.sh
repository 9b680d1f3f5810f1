# vessel ctr with bad input: every malformed config.json field, a missing
# rootfs, an existing id, kill of a stopped container. Each must give one
# clear error naming the field or value, a non-zero exit, and leave no state
# directory, cgroup or mount behind.
. "$SRC/tests/lib.sh"
. "$SRC/tests/ctrlib.sh"
ctr_need

b=$CTR_BASE/good
mkbundle "$b"
args "$b" 'true'
mounts_before=$(wc -l < /proc/self/mountinfo)

# bad NAME PATTERN PYTHON-EDIT
n=0
bad() {
    local name=$1 pat=$2 edit=$3 d
    n=$((n + 1)); d=$CTR_BASE/bad$n
    mkdir -p "$d"; ln -s "$b/rootfs" "$d/rootfs"; cp "$b/config.json" "$d/"
    cfg "$d" "$edit"
    expect_fail "config: $name" "$pat" bash -c "cd '$d' && \"\$VESSEL\" ctr --root '$CTR_ROOT' run bad$n"
    if [ -e "$CTR_ROOT/bad$n" ] || ls -d /sys/fs/cgroup/*/vessel/bad$n >/dev/null 2>&1; then
        nok "config: $name: left a state dir or cgroup behind"
    fi
}

bad "ociVersion missing"           'ociVersion: missing'                 'del c["ociVersion"]'
bad "ociVersion 2.0"               'ociVersion: unsupported version "2.0"' 'c["ociVersion"]="2.0"'
bad "root.path wrong type"         'root.path: expected string'          'c["root"]["path"]=7'
bad "root.path missing"            'root.path: missing'                  'del c["root"]["path"]'
bad "process.args empty"           'process.args: must name'             'c["process"]["args"]=[]'
bad "process.args not strings"     'process.args\[1\]: expected string'  'c["process"]["args"]=["sh",1]'
bad "process.cwd relative"         'process.cwd: "tmp" is not an absolute path' 'c["process"]["cwd"]="tmp"'
bad "process.terminal wrong type"  'process.terminal: expected boolean'  'c["process"]["terminal"]="yes"'
bad "process.user.uid negative"    'process.user.uid: -1 is out of range' 'c["process"]["user"]["uid"]=-1'
bad "unknown capability"           'process.capabilities.bounding\[0\]: unknown capability "CAP_FLY"' 'c["process"]["capabilities"]["bounding"]=["CAP_FLY"]'
bad "unknown rlimit"               'process.rlimits\[0\].type: unknown rlimit "RLIMIT_FOO"' 'c["process"]["rlimits"]=[{"type":"RLIMIT_FOO","soft":1,"hard":1}]'
bad "rlimit soft above hard"       'process.rlimits\[0\]: soft limit 10 is above the hard limit 5' 'c["process"]["rlimits"]=[{"type":"RLIMIT_NOFILE","soft":10,"hard":5}]'
bad "oomScoreAdj out of range"     'process.oomScoreAdj: 5000 is out of range' 'c["process"]["oomScoreAdj"]=5000'
bad "unknown namespace"            'linux.namespaces\[0\].type: unknown namespace "foo"' 'c["linux"]["namespaces"][0]["type"]="foo"'
bad "namespace given twice"        'linux.namespaces\[6\].type: namespace "pid" given twice' 'c["linux"]["namespaces"].append({"type":"pid"})'
bad "namespace path relative"      'linux.namespaces\[0\].path: "proc/1/ns/pid" is not an absolute path' 'c["linux"]["namespaces"][0]["path"]="proc/1/ns/pid"'
bad "mount destination relative"   'mounts\[0\].destination: "proc" is not an absolute path' 'c["mounts"][0]["destination"]="proc"'
bad "mount destination escapes"    'mounts\[0\].destination: "/x/../../etc" escapes the root' 'c["mounts"][0]["destination"]="/x/../../etc"'
bad "mount options wrong type"     'mounts\[1\].options: expected array'  'c["mounts"][1]["options"]="nosuid"'
bad "bind mount without source"    'mounts\[7\].source: a bind mount needs a source' 'c["mounts"].append({"destination":"/m","type":"bind"})'
bad "maskedPaths relative"         'linux.maskedPaths\[0\]: "proc/kcore" is not an absolute path' 'c["linux"]["maskedPaths"][0]="proc/kcore"'
bad "uidMappings without userns"   'linux.uidMappings: given without a user namespace' 'c["linux"]["uidMappings"]=[{"containerID":0,"hostID":1000,"size":1}]'
bad "resources.memory.limit type"  'linux.resources.memory.limit: expected int' 'c["linux"]["resources"]={"memory":{"limit":"1G"}}'
bad "cpu shares out of range"      'linux.resources.cpu.shares: 1 is out of range' 'c["linux"]["resources"]={"cpu":{"shares":1}}'
bad "device cgroup type"           'linux.resources.devices\[0\].type: "x" is not one of a, b, c' 'c["linux"]["resources"]={"devices":[{"allow":False,"type":"x"}]}'
bad "seccomp unknown action"       'linux.seccomp.defaultAction: unknown action "SCMP_ACT_MAYBE"' 'c["linux"]["seccomp"]={"defaultAction":"SCMP_ACT_MAYBE"}'
bad "seccomp unknown arch"         'linux.seccomp.architectures\[0\]: unknown architecture "SCMP_ARCH_Z80"' 'c["linux"]["seccomp"]={"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_Z80"]}'
bad "seccomp bad operator"         'linux.seccomp.syscalls\[0\].args\[0\].op: unknown operator "SCMP_CMP_ABOUT"' 'c["linux"]["seccomp"]={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_ABOUT"}]}]}'
bad "seccomp notify"               'linux.seccomp.syscalls\[0\].action: SCMP_ACT_NOTIFY is not supported' 'c["linux"]["seccomp"]={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_NOTIFY"}]}'
bad "seccomp unknown flag"         'linux.seccomp.flags\[0\]: unknown flag "SECCOMP_FILTER_FLAG_FAST"' 'c["linux"]["seccomp"]={"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_FAST"]}'
bad "hook path relative"           'hooks.prestart\[0\].path: "bin/true" is not an absolute path' 'c["hooks"]={"prestart":[{"path":"bin/true"}]}'
bad "rootfsPropagation unknown"    'linux.rootfsPropagation: unknown propagation "sideways"' 'c["linux"]["rootfsPropagation"]="sideways"'
bad "rlimit above the hard limit here" 'process.rlimits: setting RLIMIT_NOFILE to 1048576/1048576' 'c["process"]["rlimits"]=[{"type":"RLIMIT_NOFILE","soft":1048576,"hard":1048576}]'
bad "timeOffsets without a time namespace" 'linux.timeOffsets: given without a new time namespace' 'c["linux"]["timeOffsets"]={"monotonic":{"secs":1}}'
bad "blockIO throttle without rate" 'linux.resources.blockIO.throttleReadBpsDevice\[0\].rate: missing' 'c["linux"]["resources"]={"blockIO":{"throttleReadBpsDevice":[{"major":8,"minor":0}]}}'
bad "sysctl value not a string"    'linux.sysctl.kernel.domainname: expected string' 'c["linux"]["sysctl"]={"kernel.domainname":5}'
bad "process.env wrong type"       'process.env: expected array'         'c["process"]["env"]="PATH=/bin"'
bad "hook timeout zero"            'hooks.poststart\[0\].timeout: 0 is out of range' 'c["hooks"]={"poststart":[{"path":"/bin/true","timeout":0}]}'
bad "device path outside /dev"     'linux.devices\[0\].path: "/etc/x" must be under /dev' 'c["linux"]["devices"]=[{"path":"/etc/x","type":"c","major":1,"minor":3}]'
# Whether the kernel refuses the limit (EBUSY: the init's memory is charged
# already) or the init is OOM-killed depends on timing; both say "too low".
bad "memory limit below usage"     'linux.resources.memory.limit \(4096\) is too low' 'c["linux"]["resources"]={"memory":{"limit":4096}}'
bad "cpuset cpus not on this host" 'linux.resources.cpu.cpus: cannot set .*cpuset.cpus to "4095"' 'c["linux"]["resources"]={"cpu":{"cpus":"4095"}}'
bad "program not in PATH"          'exec: "no-such-program": executable file not found' 'c["process"]["args"]=["no-such-program"]'

d=$CTR_BASE/notjson; mkdir -p "$d"; echo '{"ociVersion": "1.0.2", ' > "$d/config.json"
expect_fail "config.json that is not JSON" 'config.json: not valid JSON' bash -c "cd '$d' && \"\$VESSEL\" ctr --root '$CTR_ROOT' run nj"
d=$CTR_BASE/norootfs; mkdir -p "$d"; cp "$b/config.json" "$d/"
expect_fail "missing rootfs" "root.path: rootfs $d/rootfs: No such file or directory" bash -c "cd '$d' && \"\$VESSEL\" ctr --root '$CTR_ROOT' run nr"
[ -e "$CTR_ROOT/nr" ] && nok "missing rootfs left a state dir"
expect_fail "missing bundle" 'bundle /nonexistent: No such file' "$VESSEL" ctr --root "$CTR_ROOT" run -b /nonexistent x
expect_fail "invalid container id" 'invalid container id "a/b"' bash -c "cd '$b' && \"\$VESSEL\" ctr --root '$CTR_ROOT' run a/b"

args "$b" 'sleep 30'
(cd "$b" && VCTR create dup)
expect_fail "existing container id" 'container "dup" already exists' bash -c "cd '$b' && \"\$VESSEL\" ctr --root '$CTR_ROOT' create dup"
st=$(VCTR state dup | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
[ "$st" = created ] && ls -d /sys/fs/cgroup/memory/vessel/dup >/dev/null 2>&1 &&
    ok "the existing container is untouched by the failed create (still created, its cgroup there)" || nok "existing container after a duplicate create: [$st]"
VCTR kill dup KILL; ctr_wait_stopped "$VESSEL" ctr --root "$CTR_ROOT" dup || nok "dup not stopped 30 s after kill KILL"
expect_fail "kill of a stopped container" 'container "dup" is not running' "$VESSEL" ctr --root "$CTR_ROOT" kill dup
[ -f "$CTR_ROOT/dup/state.json" ] && ok "kill of a stopped container keeps its state for delete" || nok "state of dup gone after kill"
expect_fail "unknown signal" 'kill: unknown signal "SIGFOO"' "$VESSEL" ctr --root "$CTR_ROOT" kill dup SIGFOO
expect_fail "start of a stopped container" 'it is stopped, not created' "$VESSEL" ctr --root "$CTR_ROOT" start dup
VCTR delete dup
# The runtime killed while init waits for it (here: during a prestart hook,
# which runs between init's 'H' and the runtime's 'C'): init must see the
# runtime gone and exit, not wait forever holding the container's
# namespaces and cgroup. Before the fix init kept the runtime's end of their
# socketpair open itself (the clone copied it), so its read never ended.
hb=$CTR_BASE/hookdie; mkbundle "$hb"; args "$hb" 'sleep 30'
cfg "$hb" "c['hooks']={'prestart':[{'path':'/bin/sh','args':['sh','-c','echo \$\$ > $hb/hook.pid; exec sleep 600']}]}"
(cd "$hb" && exec "$VESSEL" ctr --root "$CTR_ROOT" create hd >/dev/null 2>&1) &
cpid=$!
for ((i = 0; i < $(slow 600); i++)); do [ -s "$hb/hook.pid" ] && break; sleep 0.05; done
ipid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$CTR_ROOT/hd/state.json" 2>/dev/null)
if [ -s "$hb/hook.pid" ] && [ -n "$ipid" ] && [ -d "/proc/$ipid" ]; then
    kill -KILL "$cpid"; wait "$cpid" 2>/dev/null
    kill -KILL "$(cat "$hb/hook.pid")" 2>/dev/null
    for ((i = 0; i < $(slow 600); i++)); do [ -d "/proc/$ipid" ] || break; sleep 0.05; done
    if [ -d "/proc/$ipid" ]; then
        nok "container init exits once the runtime that created it is killed (pid $ipid still there 30 s later)"
        kill -KILL "$ipid" 2>/dev/null
    else
        ok "container init exits once the runtime that created it is killed"
    fi
else
    nok "the prestart hook did not run (hook pid [$(cat "$hb/hook.pid" 2>/dev/null)], init pid [$ipid])"
    kill -KILL "$cpid" 2>/dev/null
fi
VCTR delete -f hd >/dev/null 2>&1
expect_fail "state of a missing container" 'container "dup" does not exist' "$VESSEL" ctr --root "$CTR_ROOT" state dup
expect_fail "unknown command" "unknown command 'frob'" "$VESSEL" ctr frob
expect_fail "unknown option" "unknown option '--frob'" "$VESSEL" ctr run --frob x
left=$(ls -A "$CTR_ROOT" | wc -l)
[ "$left" -eq 0 ] && ok "state root is empty after all the failures" || nok "state root has $left entries left: $(ls "$CTR_ROOT")"
cg_left=$(find /sys/fs/cgroup/*/vessel /sys/fs/cgroup/vessel -mindepth 1 -type d 2>/dev/null)
[ -z "$cg_left" ] && ok "no cgroup left behind" || nok "cgroups left: $cg_left"
[ "$(wc -l < /proc/self/mountinfo)" -eq "$mounts_before" ] && ok "no mount left behind" || nok "host mount table changed"
