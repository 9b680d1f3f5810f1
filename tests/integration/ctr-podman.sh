# A real client: podman drives vessel through --runtime (the vessel-ctr name),
# on an image imported from a busybox rootfs tarball.
. "$SRC/tests/lib.sh"
. "$SRC/tests/ctrlib.sh"
ctr_need
have podman || { echo "podman is not installed" >&2; exit 77; }
have python3 || { echo "python3 is not installed (the pty helper needs it)" >&2; exit 77; }
w=$(mktemp -d /tmp/vessel-podman.XXXXXX)
trap 'podman --root "$w/store" --runroot "$w/run" rm -af >/dev/null 2>&1; rm -rf "$w" "$CTR_ROOT" "$RUNC_ROOT" "$CTR_BASE"' EXIT
ln -s "$VESSEL" "$w/vessel-ctr"
P=(podman --root "$w/store" --runroot "$w/run" --runtime "$w/vessel-ctr" --cgroup-manager cgroupfs --events-backend file)
U=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
mkdir -p "$w/rootfs/bin"
cp /bin/busybox "$w/rootfs/bin/"
for a in sh echo cat sleep hostname ls tty id; do ln -s busybox "$w/rootfs/bin/$a"; done
tar -C "$w/rootfs" -cf "$w/bb.tar" .
check "podman import of a busybox rootfs" bash -c '"$@" >/dev/null 2>&1' _ "${P[@]}" import "$w/bb.tar" localhost/vessel-bb:1

out=$("${P[@]}" run --rm "${U[@]}" localhost/vessel-bb:1 echo hello from vessel 2>&1 | asan_filter)
[ "$out" = "hello from vessel" ] && ok "podman run --rm" || nok "podman run --rm: $out"
out=$("${P[@]}" run --rm "${U[@]}" localhost/vessel-bb:1 sh -c 'exit 3' 2>&1); rc=$?
[ $rc -eq 3 ] && ok "podman run returns the container's exit status" || nok "exit status $rc: $out"

"${P[@]}" run -d "${U[@]}" --name vd1 localhost/vessel-bb:1 sleep 100 >/dev/null 2>&1 && ok "podman run -d" || nok "podman run -d"
out=$("${P[@]}" exec vd1 sh -c 'echo exec-ok $$' 2>&1 | asan_filter)
[[ $out == "exec-ok "* ]] && ok "podman exec" || nok "podman exec: $out"
st=$("${P[@]}" inspect -f '{{.State.Status}}' vd1 2>&1)
[ "$st" = running ] && ok "podman inspect sees it running" || nok "inspect: $st"
"${P[@]}" stop -t 1 vd1 >/dev/null 2>&1
st=$("${P[@]}" inspect -f '{{.State.Status}}' vd1 2>&1)
[ "$st" = exited ] && ok "podman stop" || nok "podman stop: $st"
"${P[@]}" rm vd1 >/dev/null 2>&1 && ok "podman rm" || nok "podman rm"

# podman update: podman hands the runtime `update --resources FILE`
if "${P[@]}" update --help >/dev/null 2>&1; then
    "${P[@]}" run -d "${U[@]}" --name vu1 localhost/vessel-bb:1 sleep 100 >/dev/null 2>&1
    upid=$("${P[@]}" inspect -f '{{.State.Pid}}' vu1 2>/dev/null)
    out=$("${P[@]}" update --memory 64m --memory-swap 128m --cpu-shares 256 vu1 2>&1); rc=$?; out=$(asan_filter <<<"$out")
    cgf() { local rel; rel=$(awk -F: -v c="$1" '{ n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) print $3 }' /proc/$upid/cgroup)
            cat "/sys/fs/cgroup/$1$rel/$2" 2>/dev/null || cat "/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/$upid/cgroup)/$3" 2>/dev/null; }
    got="$(cgf memory memory.limit_in_bytes memory.max) $(cgf cpu cpu.shares cpu.weight)"
    if [ -n "$upid" ] && [ "$upid" != 0 ] && [ $rc -eq 0 ] && { [ "$got" = "67108864 256" ] || [ "$got" = "67108864 10" ]; }; then
        ok "podman update: memory and cpu limits reach the container's cgroups ($got)"
    else
        nok "podman update: status $rc [$out], read back [$got]"
    fi
    "${P[@]}" rm -f -t 0 vu1 >/dev/null 2>&1
else
    skip "podman update" "this podman has no update command"
fi

out=$(python3 "$SRC/tests/pty-run.py" --timeout 60 "${P[@]}" run --rm -it "${U[@]}" localhost/vessel-bb:1 sh -c 'tty; [ -t 0 ] && [ -t 1 ] && echo tty-ok' 2>&1 | tr -d '\0' | asan_filter)
grep -q '/dev/pts/[0-9]' <<<"$out" && grep -q tty-ok <<<"$out" && ok "podman run -it gets a terminal" || nok "podman run -it: $out"

out=$("${P[@]}" run --rm localhost/vessel-bb:1 true 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q 'RLIMIT_NOFILE' <<<"$out" && ok "podman's default rlimits above the hard limit: clear error" ||
    { [ $rc -eq 0 ] && skip "default rlimits error" "this machine allows podman's default rlimits" || nok "rlimit error unclear: $out"; }
