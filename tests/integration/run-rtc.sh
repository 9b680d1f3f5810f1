# The goldfish RTC's alarm (tests/guests/riscv-sys/rtc.c, bare metal on
# vessel run): it fires its interrupt no earlier than programmed, at once
# when in the past, never when disarmed, and with the line held low until
# enabled; an alarm armed when the machine is paused (QMP stop) fires after
# cont; one armed when a snapshot is taken (vm-snapshot, kill -9) fires in
# the restored machine (its state goes through the device's save/load);
# and in the default Linux guest an alarm set through /dev/rtc0 wakes a read.
. "$SRC/tests/lib.sh"
have riscv64-linux-gnu-gcc || { echo "riscv64-linux-gnu-gcc missing (package gcc-riscv64-linux-gnu)" >&2; exit 77; }
d=$(mktemp -d "${TMPDIR:-/tmp}/vessel-rtc.XXXXXX"); pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$d"' EXIT
wait_for() { local i; for ((i = 0; i < $(slow 600); i++)); do "$@" && return 0; sleep 0.05; done; return 1; }
if ! bash "$SRC/tests/guests/riscv-sys/build.sh" "$d/bin" >"$d/build.log" 2>&1; then
    nok "build the bare-metal programs: $(tail -n 3 "$d/build.log" | tr '\n' ' ')"
    exit 0
fi
elf=$d/bin/rtc.elf
sock=$d/q.sock
q() { "$VESSEL" qmp "$sock" "$@"; }
armed() { grep -q '^rtc: armed' "$1"; }
# rtc_state: the RTC's saved state in a vm-snapshot of the machine on $sock
# (struct goldfish_rtc_state: time_high, alarm_low, alarm_high, irq_enabled,
# alarm_running, irq_pending) against the host's time, then whether the
# alarm fires after that snapshot (it pauses and resumes; wait_for's bound)
rtc_state() {
    rm -rf "$d/diag"
    local r; r=$(timeout 20 "$VESSEL" qmp "$sock" vm-snapshot "{\"path\":\"$d/diag\"}" 2>&1)
    [ "$r" = "{}" ] || { echo "vm-snapshot for the RTC's state: $r"; return; }
    python3 - "$d/diag" <<'PY' 2>&1
import json, struct, sys, time
d = sys.argv[1]
sec = [s for s in json.load(open(d + "/manifest.json"))["sections"] if s["name"] == "dev/rtc"]
if not sec:
    print("no dev/rtc section"); sys.exit()
off = 32 + sec[0]["offset"]                     # after state.bin's 32-byte header
raw = open(d + "/state.bin", "rb").read()[off:off + 24]
th, al, ah, en, run, pend = struct.unpack("<6I", raw)
at = (ah << 32 | al) / 1e9
print("RTC: alarm %.3f s from now, irq_enabled %d, alarm_running %d, irq_pending %d" % (at - time.time(), en, run, pend), end="")
PY
    wait_for grep -q '^rtc: the last alarm fired' "$d/out2"
    grep -q '^rtc: the last alarm fired' "$d/out2" && echo "; fired after that snapshot" || echo "; not fired after that snapshot either"
}
now_ns() { date +%s%N; }

# 1: every check of the program
timeout 60 "$VESSEL" run --kernel "$elf" -m 32M </dev/null >"$d/out1" 2>&1; rc=$?
sed 's/^/# /' "$d/out1"
check "the alarm checks pass (status $rc)" grep -q '^riscv-sys rtc: PASS' "$d/out1"
check "the first alarm fired no earlier than programmed" grep -qE '^rtc: the alarm fired [0-9]+ ms after its time' "$d/out1"

# 2: paused while the last alarm is armed, until past its time: it fires after cont
"$VESSEL" run --kernel "$elf" -m 32M --qmp "unix:$sock" </dev/null >"$d/out2" 2>&1 &
pid=$!
if wait_for armed "$d/out2"; then
    q stop >/dev/null
    deadline=$(( $(now_ns) + 2500000000 ))
    while [ "$(now_ns)" -lt $deadline ]; do sleep 0.1; done     # the alarm's time passes, paused
    st=$(q query-status)
    check "paused past the alarm's time ($st)" grep -q '"status":"paused"' <<<"$st"
    q cont >/dev/null
    wait_for grep -q '^rtc: the last alarm fired' "$d/out2"
    # not fired (twice in CI under ASan, never by hand): what the RTC holds
    # then, from a vm-snapshot's dev/rtc section, and whether the alarm
    # comes after that snapshot's own pause and resume
    rtcst=
    grep -q '^rtc: the last alarm fired' "$d/out2" || rtcst="; $(rtc_state)"
    check "after cont the alarm fires ($(timeout 10 "$VESSEL" qmp "$sock" query-status 2>&1); its output: $(tail -c 300 "$d/out2" | tr '\n' '|')$rtcst)" \
        grep -q '^rtc: the last alarm fired' "$d/out2"
    # bounded: once under ASan the alarm never came and a bare wait hung the script for its 900 s
    reap "$pid" 30; rc=$?; pid=
    check "the program ends with PASS (status $rc)" test $rc -eq 0
else
    nok "the program reaches its last alarm"; sed 's/^/# /' "$d/out2"
fi
[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; pid=

# 3: a snapshot with the alarm armed, the process killed, the snapshot restored
rm -f "$sock"
"$VESSEL" run --kernel "$elf" -m 32M --qmp "unix:$sock" </dev/null >"$d/out3" 2>&1 &
pid=$!
if wait_for armed "$d/out3"; then
    out=$(q vm-snapshot "{\"path\":\"$d/snap\",\"paused\":true}" 2>&1)
    check "vm-snapshot with the alarm armed ($out)" test "$out" = "{}"
    kill -9 $pid; wait $pid 2>/dev/null; pid=
    check "no alarm in the killed process" test -z "$(grep '^rtc: the last alarm fired' "$d/out3")"
    rm -f "$sock"
    timeout 60 "$VESSEL" run --restore "$d/snap" </dev/null >"$d/out4" 2>&1; rc=$?
    sed 's/^/# /' "$d/out4"
    check "the restored machine gets the alarm" grep -q '^rtc: the last alarm fired' "$d/out4"
    check "and the program passes (status $rc)" test $rc -eq 0
else
    nok "the program reaches its last alarm"; sed 's/^/# /' "$d/out3"
fi

# 4: Linux's rtc-goldfish driver: an alarm 2 s ahead (RTC_WKALM_SET) wakes a
# read() of /dev/rtc0 in the default guest (its initramfs plus the program)
line=$(bash "$SRC/guest/build.sh" --print riscv64 2>/dev/null)
if [ -z "$line" ] || ! have cpio; then
    skip "the alarm in the Linux guest" "the riscv64 guest is not built (make guest) or cpio is missing"
    exit 0
fi
KERNEL= INITRD=
eval "$line"
mkdir -p "$d/root"
riscv64-linux-gnu-gcc -static -O2 -o "$d/root/rtcalarm" "$SRC/tests/guests/linux/rtcalarm.c" ||
    { nok "build tests/guests/linux/rtcalarm.c"; exit 0; }
(cd "$d/root" && echo rtcalarm | cpio -o -H newc 2>/dev/null | gzip) | cat "$INITRD" - >"$d/initrd"
source "$SRC/tests/guestlib.sh"
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; guest_kill; rm -rf "$d"' EXIT
guest_start "$VESSEL" run -m 256M --kernel "$KERNEL" --initrd "$d/initrd"
if guest_wait_ready 180; then
    out=$(guest_run '/rtcalarm 2' 60); rc=$?
    echo "# $out"
    check "a Linux RTC alarm wakes the reader (status $rc)" test $rc -eq 0
    check "after 1 to 3 s (the RTC counts whole seconds)" \
        test "$(sed -n 's/^rtcalarm: alarm after \([0-9]*\) ms.*/\1/p' <<<"$out")" -ge 1000 -a \
             "$(sed -n 's/^rtcalarm: alarm after \([0-9]*\) ms.*/\1/p' <<<"$out")" -le 3000
    irq=$(guest_run 'grep 101000.rtc /proc/interrupts')
    check "the guest counted the RTC interrupt ($irq)" grep -qE '^ *[0-9]+: +1 ' <<<"$irq"
    guest_poweroff 60 >/dev/null
else
    nok "the Linux guest boots"; guest_tail 10 | sed 's/^/# /'
fi
