# containerd drives vessel through its runc shim (containerd-shim-runc-v2
# with BinaryName = vessel-ctr, what `ctr run --runc-binary` sets), as on a
# Kubernetes node. The test starts Debian's containerd with its own root,
# state, config and socket in a temporary directory, imports a busybox image
# it builds itself (no pull), then runs, execs, kills and deletes containers,
# and checks that nothing is left: no runtime state, no cgroup, no mount, no
# shim, no socket.
. "$SRC/tests/lib.sh"
. "$SRC/tests/ctrlib.sh"
ctr_need
have containerd && have ctr && have containerd-shim-runc-v2 ||
    { echo "containerd is not installed (apt-get install containerd)" >&2; exit 77; }

w=$(mktemp -d /tmp/vessel-containerd.XXXXXX)
sock=$w/containerd.sock
ns=vessel-test
cpid=
shims_before=$(ls /run/containerd/s 2>/dev/null | sort)
stop_containerd() {
    [ -n "$cpid" ] || return 0
    kill "$cpid" 2>/dev/null
    for _ in $(seq 200); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$cpid" 2>/dev/null
    wait "$cpid" 2>/dev/null
    cpid=
}
cleanup() {
    stop_containerd
    # whatever a failed run left mounted under the temporary directory
    grep -o " $w[^ ]*" /proc/self/mounts 2>/dev/null | sort -r | while read -r m; do umount -l "$m"; done
    rm -rf "$w" "$CTR_ROOT" "$RUNC_ROOT" "$CTR_BASE"
    # the namespace's parent cgroup, which containerd's cgroupsPath /NS/ID
    # makes and no runtime removes (runc neither)
    rmdir /sys/fs/cgroup/*/"$ns" /sys/fs/cgroup/"$ns" 2>/dev/null
}
trap cleanup EXIT
ln -s "$VESSEL" "$w/vessel-ctr"

cat > "$w/config.toml" <<EOF
version = 2
root = "$w/root"
state = "$w/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[debug]
  address = "$sock.debug"
EOF
containerd --config "$w/config.toml" --log-level warn > "$w/containerd.log" 2>&1 &
cpid=$!
C() { ctr --address "$sock" --namespace "$ns" "$@"; }
up=false
for _ in $(seq 300); do
    C version >/dev/null 2>&1 && { up=true; break; }
    kill -0 "$cpid" 2>/dev/null || break
    sleep 0.1
done
$up && ok "containerd started with its own root, state and socket" ||
    { nok "containerd did not start: $(tail -5 "$w/containerd.log")"; exit 1; }

# a docker-archive image from /bin/busybox: one layer, a config, a manifest
mkdir -p "$w/img/rootfs/bin" "$w/img/rootfs/tmp" "$w/img/rootfs/etc"
cp /bin/busybox "$w/img/rootfs/bin/"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$w/img/rootfs/bin/$a"; done
echo "root:x:0:0:root:/root:/bin/sh" > "$w/img/rootfs/etc/passwd"
python3 - "$w/img" <<'PY'
import hashlib, io, json, os, sys, tarfile
d = sys.argv[1]
layer = io.BytesIO()
with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as t:
    t.add(os.path.join(d, "rootfs"), arcname=".")
layer = layer.getvalue()
diff = "sha256:" + hashlib.sha256(layer).hexdigest()
cfg = json.dumps({"architecture": "amd64" if os.uname().machine == "x86_64" else os.uname().machine,
                  "os": "linux", "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"], "WorkingDir": "/"},
                  "rootfs": {"type": "layers", "diff_ids": [diff]}}).encode()
cfg_name = hashlib.sha256(cfg).hexdigest() + ".json"
man = json.dumps([{"Config": cfg_name, "RepoTags": ["localhost/vessel-bb:1"], "Layers": ["layer/layer.tar"]}]).encode()
with tarfile.open(os.path.join(d, "bb.tar"), "w") as t:
    for name, data in (("layer/layer.tar", layer), (cfg_name, cfg), ("manifest.json", man)):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
PY
out=$(C images import "$w/img/bb.tar" 2>&1) && C images ls -q | grep -qx localhost/vessel-bb:1 &&
    ok "ctr images import of a busybox image built here" || nok "image import: $out"

R=(--runc-binary "$w/vessel-ctr" --runc-root "$w/runc-root" --fifo-dir "$w/fifo")
# run in the foreground: output and exit status come back through the shim
out=$(timeout 60 ctr --address "$sock" --namespace "$ns" run --rm "${R[@]}" localhost/vessel-bb:1 fg1 \
      sh -c 'echo hello from vessel under containerd; echo pid $$; exit 3' 2>&1); rc=$?
out=$(asan_filter <<<"$out")
[ $rc -eq 3 ] && [ "$out" = $'hello from vessel under containerd\npid 1' ] &&
    ok "ctr run --rm: output and exit status 3 through the runc shim" || nok "ctr run: status $rc, output [$out]"

# detached: exec, ps, kill, delete
C run -d "${R[@]}" localhost/vessel-bb:1 d1 sleep 1000 >/dev/null 2>&1
st=
for _ in $(seq 100); do st=$(C task ls 2>/dev/null | awk '$1 == "d1" { print $3 }'); [ "$st" = RUNNING ] && break; sleep 0.1; done
[ "$st" = RUNNING ] && ok "ctr run -d: the task is RUNNING" || nok "ctr run -d: task status [$st] $(C task ls 2>&1)"
tpid=$(C task ls 2>/dev/null | awk '$1 == "d1" { print $2 }')
out=$(timeout 60 ctr --address "$sock" --namespace "$ns" task exec --fifo-dir "$w/fifo" --exec-id e1 d1 \
      sh -c 'echo exec sees $(cat /proc/1/comm); exit 5' 2>&1); rc=$?
out=$(asan_filter <<<"$out")
[ $rc -eq 5 ] && [ "$out" = "exec sees sleep" ] && ok "ctr task exec: output and exit status 5" || nok "task exec: status $rc, output [$out]"
out=$(C task ps d1 2>&1)
grep -qw "$tpid" <<<"$out" && ok "ctr task ps lists the container's init ($tpid)" || nok "task ps: [$out]"
cg=$(awk -F: '$2 == "memory" || $2 == "" { print $3; exit }' "/proc/$tpid/cgroup" 2>/dev/null)
echo "# the task's cgroup: $cg"
C task kill -s SIGKILL d1 2>&1
for _ in $(seq 100); do st=$(C task ls 2>/dev/null | awk '$1 == "d1" { print $3 }'); [ "$st" = STOPPED ] && break; sleep 0.1; done
[ "$st" = STOPPED ] && ok "ctr task kill: the task is STOPPED" || nok "task kill: status [$st]"
C task delete d1 >/dev/null 2>&1 && C container delete d1 >/dev/null 2>&1 && ok "ctr task delete and container delete" ||
    nok "delete: $(C task delete d1 2>&1) $(C container delete d1 2>&1)"

# a task deleted with --force while running (the shim's `delete --force`)
C run -d "${R[@]}" localhost/vessel-bb:1 d2 sleep 1000 >/dev/null 2>&1
for _ in $(seq 100); do [ "$(C task ls 2>/dev/null | awk '$1 == "d2" { print $3 }')" = RUNNING ] && break; sleep 0.1; done
C task delete --force d2 >/dev/null 2>&1 && C container delete d2 >/dev/null 2>&1 && ok "ctr task delete --force of a running task" ||
    nok "delete --force: $(C task ls 2>&1)"

# nothing left behind
left=
[ -z "$(C task ls -q 2>/dev/null)$(C container ls -q 2>/dev/null)" ] || left="$left tasks-or-containers"
[ -z "$(ls -A "$w/runc-root/$ns" 2>/dev/null)" ] || left="$left runtime-state:$(ls "$w/runc-root/$ns")"
[ -z "$(find /sys/fs/cgroup -maxdepth 3 -type d -path "*/$ns/*" 2>/dev/null)" ] || left="$left cgroups:$(find /sys/fs/cgroup -maxdepth 3 -type d -path "*/$ns/*" | head -3)"
[ -z "$(grep " $w/state" /proc/self/mounts)" ] || left="$left mounts:$(grep -c " $w/state" /proc/self/mounts)"
pgrep -f "containerd-shim-runc-v2 -namespace $ns" >/dev/null && left="$left shim-processes"
[ -z "$left" ] && ok "nothing left after delete: no runtime state, cgroup, rootfs mount or shim" || nok "left behind:$left"
stop_containerd
[ "$(ls /run/containerd/s 2>/dev/null | sort)" = "$shims_before" ] && [ -z "$(grep " $w" /proc/self/mounts)" ] &&
    ok "containerd stopped: no shim socket or mount of ours left" || nok "after stopping containerd: $(grep -c " $w" /proc/self/mounts) mounts, shim sockets [$(ls /run/containerd/s 2>/dev/null)]"
