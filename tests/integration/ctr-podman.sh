# A real client: podman drives vessel through --runtime (the vessel-ctr name),
# on an image imported from a busybox rootfs tarball.
. "$SRC/tests/lib.sh"
. "$SRC/tests/ctrlib.sh"
ctr_need
have podman || { echo "podman is not installed" >&2; exit 77; }
have script || { echo "script (util-linux) is not installed" >&2; exit 77; }
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

out=$(script -qec "${P[*]} run --rm -it ${U[*]} localhost/vessel-bb:1 sh -c 'tty; echo tty-ok'" /dev/null </dev/null 2>&1 | tr -d '\r\0')
grep -q '/dev/pts/[0-9]' <<<"$out" && grep -q tty-ok <<<"$out" && ok "podman run -it gets a terminal" || nok "podman run -it: $out"

out=$("${P[@]}" run --rm localhost/vessel-bb:1 true 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q 'RLIMIT_NOFILE' <<<"$out" && ok "podman's default rlimits above the hard limit: clear error" ||
    { [ $rc -eq 0 ] && skip "default rlimits error" "this machine allows podman's default rlimits" || nok "rlimit error unclear: $out"; }
