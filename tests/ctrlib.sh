# Helpers for the container tests (source after tests/lib.sh).
CTR_ROOT=$(mktemp -d /tmp/vessel-ctr-test.XXXXXX)
RUNC_ROOT=$(mktemp -d /tmp/runc-test.XXXXXX)
CTR_BASE=$(mktemp -d /tmp/vessel-ctr-bundles.XXXXXX)
trap 'rm -rf "$CTR_ROOT" "$RUNC_ROOT"; rm -rf "$CTR_BASE"' EXIT
VCTR() { "$VESSEL" ctr --root "$CTR_ROOT" "$@"; }
RUNC() { runc --root "$RUNC_ROOT" "$@"; }

# ctr_need: skip the whole script unless root and a static busybox (Debian's
# busybox-static) are here: the bundles' rootfs is that one binary, so it must
# run alone in a directory of its own (checked by doing it).
ctr_need() {
    [ "$(id -u)" -eq 0 ] || { echo "needs root" >&2; exit 77; }
    [ -x /bin/busybox ] || { echo "needs /bin/busybox (apt-get install busybox-static)" >&2; exit 77; }
    local d; d=$(mktemp -d /tmp/vessel-bbcheck.XXXXXX)
    cp /bin/busybox "$d/busybox"
    chroot "$d" /busybox true 2>/dev/null; local rc=$?
    rm -rf "$d"
    [ $rc -eq 0 ] || { echo "/bin/busybox is not static (apt-get install busybox-static)" >&2; exit 77; }
}

# mkbundle DIR: a busybox rootfs and runc's default-like config (ours).
mkbundle() {
    local d=$1
    mkdir -p "$d/rootfs"/{bin,proc,dev,sys,tmp,etc,root}
    cp /bin/busybox "$d/rootfs/bin/busybox"
    for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$d/rootfs/bin/$a"; done
    echo "root:x:0:0:root:/root:/bin/sh" > "$d/rootfs/etc/passwd"
    (cd "$d" && rm -f config.json && "$VESSEL" ctr spec >/dev/null)
    cfg "$d" 'c["process"]["terminal"]=False; c["root"]["readonly"]=False'
}

# cfg DIR PYTHON: edit DIR/config.json in place; the document is `c`.
cfg() {
    python3 - "$1/config.json" "$2" <<'PY'
import json, sys
p, code = sys.argv[1], sys.argv[2]
c = json.load(open(p))
exec(code)
json.dump(c, open(p, "w"), indent=2)
PY
}

# args DIR 'shell command': set process.args to sh -c CMD
args() { cfg "$1" "c['process']['args']=['sh','-c',$(python3 -c 'import json,sys;print(json.dumps(sys.argv[1]))' "$2")]"; }
# ctr_wait_stopped RUNTIME-CMD... ID: wait (up to 30 s times VESSEL_SLOW) until
# the container's state says stopped, after a kill
ctr_wait_stopped() {
    local id=${!#} i st
    for ((i = 0; i < $(slow 600); i++)); do
        st=$("${@:1:$#-1}" state "$id" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])' 2>/dev/null)
        [ "$st" = stopped ] && return 0
        sleep 0.05
    done
    return 1
}
