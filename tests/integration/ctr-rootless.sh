# Rootless: a non-root user runs a container in a user namespace.
. "$SRC/tests/lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "needs root to create the test user" >&2; exit 77; }
user=vesseltest
id "$user" >/dev/null 2>&1 || useradd -M -s /bin/sh "$user" 2>/dev/null ||
    { echo "cannot create a test user (useradd failed)" >&2; exit 77; }
uid=$(id -u "$user")
w=$(mktemp -d /tmp/vessel-rootless.XXXXXX)
trap 'rm -rf "$w"' EXIT
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
