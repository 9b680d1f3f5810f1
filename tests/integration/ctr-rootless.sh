# Rootless: a non-root user runs a container in a user namespace.
. "$SRC/tests/lib.sh"
. "$SRC/tests/ctrlib.sh"
[ "$(id -u)" -eq 0 ] || { echo "needs root to create the test user" >&2; exit 77; }
ctr_need
user=vesseltest
made_user=false
if ! id "$user" >/dev/null 2>&1; then
    useradd -M -s /bin/sh "$user" 2>/dev/null || { echo "cannot create a test user (useradd failed)" >&2; exit 77; }
    made_user=true
fi
uid=$(id -u "$user")
w=$(mktemp -d /tmp/vessel-rootless.XXXXXX)
trap 'rm -rf "$w" "$CTR_ROOT" "$RUNC_ROOT" "$CTR_BASE"; $made_user && userdel "$user" 2>/dev/null' EXIT
mkdir -p "$w/b/rootfs/bin" "$w/b/rootfs"/{proc,dev,sys,tmp}
cp /bin/busybox "$w/b/rootfs/bin/"
for a in sh id cat; do ln -s busybox "$w/b/rootfs/bin/$a"; done
cp "$VESSEL" "$w/vessel"      # the build dir may not be reachable by the test user
chmod 755 "$w" "$w/vessel"
chown -R "$user" "$w/b"
if ! su "$user" -s /bin/sh -c "unshare -U true" 2>/dev/null; then
    echo "unprivileged user namespaces are disabled here" >&2; exit 77
fi
su "$user" -s /bin/sh -c "cd '$w/b' && '$w/vessel' ctr spec --rootless" && ok "spec --rootless" || nok "spec --rootless"
python3 - "$w/b/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["process"]["terminal"] = False
c["process"]["args"] = ["sh", "-c", "id -u; cat /proc/self/uid_map"]
json.dump(c, open(sys.argv[1], "w"))
PY
out=$(su "$user" -s /bin/sh -c "cd '$w/b' && '$w/vessel' ctr --root '$w/b/state' run rl1" 2>&1); rc=$?
out=$(asan_filter <<<"$out")
read -r u1 m1 m2 m3 <<<"$(echo $out)"
[ $rc -eq 0 ] && [ "$u1" = 0 ] && [ "$m1 $m2 $m3" = "0 $uid 1" ] && ok "non-root user runs a container as root of its user namespace (uid 0 -> host $uid)" ||
    nok "rootless run: status $rc, output: $out"
[ -z "$(ls -A "$w/b/state" 2>/dev/null)" ] && ok "rootless state dir clean after run" || nok "rootless state left: $(ls "$w/b/state")"

# the life cycle as that user: run -d, state, exec, ps, kill, delete
python3 - "$w/b/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["process"]["args"] = ["sh", "-c", "sleep 30"]
json.dump(c, open(sys.argv[1], "w"))
PY
U() { su "$user" -s /bin/sh -c "cd '$w/b' && '$w/vessel' ctr --root '$w/b/state' $*" 2>&1 | asan_filter; }
U run -d rl2 '</dev/null >/dev/null 2>&1'
st=$(U state rl2 | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])' 2>&1)
[ "$st" = running ] && ok "rootless run -d: running" || nok "rootless run -d: $st"
out=$(U exec rl2 id -u)
[ "$out" = 0 ] && ok "rootless exec joins the user namespace (uid 0 inside)" || nok "rootless exec: [$out]"
pid=$(U state rl2 | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])' 2>/dev/null)
[ -n "$pid" ] && [ "$(stat -c %u /proc/$pid)" = "$uid" ] && ok "rootless: the container process belongs to host uid $uid" || nok "rootless owner of pid [$pid]"
U kill rl2 KILL >/dev/null; ctr_wait_stopped U rl2 || nok "rl2 not stopped 30 s after kill KILL"
U delete rl2 >/dev/null
[ -z "$(ls -A "$w/b/state" 2>/dev/null)" ] && ok "rootless kill + delete: state dir clean" || nok "rootless state left: $(ls "$w/b/state")"
