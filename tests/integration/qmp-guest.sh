# QMP drives a booted default riscv64 guest (vessel run --qmp): query-status
# at each step; stop (STOP first, status paused, the guest's console output
# stops and vessel's CPU use, read from /proc/PID/stat over a second, drops to
# ~0; the guest's uptime does not count the pause); cont (RESUME, output goes
# on); system_reset (RESET, the guest boots again in the same process);
# system_powerdown (POWERDOWN, the guest sees the GPIO power button, its init
# powers off cleanly, SHUTDOWN guest-shutdown, exit 0).
. "$SRC/tests/lib.sh"
. "$SRC/tests/guestlib.sh"
d=$(mktemp -d "${TMPDIR:-/tmp}/vessel-qmpg.XXXXXX")
watch=
cleanup() { [ -n "$watch" ] && kill "$watch" 2>/dev/null; guest_kill; rm -rf "$d"; }
trap cleanup EXIT
GUEST_TIMEOUT=${GUEST_TIMEOUT:-120}

line=$(bash "$SRC/guest/build.sh" --print riscv64 2>/dev/null) || { echo "riscv64 guest not built (make guest)" >&2; exit 77; }
KERNEL= INITRD=
eval "$line"
sock=$d/qmp.sock
q() { "$VESSEL" qmp "$sock" "$@"; }
status() { q query-status | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["status"], s["running"])'; }
# cpu_ticks PID: utime + stime of the whole process, in clock ticks
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# the last tick number printed (a tick may share its line with a prompt)
ticks_on_console() { tr -d '\r' < "$GUEST_LOG" | grep -oE 'tick [0-9]+$' | cut -d' ' -f2 | sort -n | tail -1; }

guest_start "$VESSEL" run --kernel "$KERNEL" --initrd "$INITRD" --qmp "unix:$sock,server,wait=off"
if ! guest_wait_ready; then
    nok "the default guest boots with --qmp"; guest_tail 30 | sed 's/^/# /'; exit 1
fi
ok "the default guest boots with --qmp ($(guest_elapsed) s)"
check "query-status: running ($(status))" test "$(status)" = "running True"

# a ticker on the console: output that must stop while paused
guest_send '(i=0; while :; do i=$((i+1)); echo "tick $i"; sleep 0.2; done) &'
guest_wait_for 'tick 3$' 30 || nok "the ticker runs"

# (the ticker's lines may fall between guest_run's markers: keep the number)
uptime() { guest_run 'cut -d" " -f1 /proc/uptime' | grep -E '^[0-9]+\.[0-9]+$' | tail -1; }
up0=$(uptime); h0=$(date +%s.%N)
out=$(q --events stop)
check "stop: STOP event, then {}" test "$(printf '%s\n' "$out" | sed -E 's/"timestamp":\{[^}]*\}/T/')" = \
    "$(printf '%s\n' '{"event":"STOP",T}' '{}')"
check "query-status after stop: paused ($(status))" test "$(status)" = "paused False"
hz=$(getconf CLK_TCK)
n0=$(ticks_on_console); c0=$(cpu_ticks "$GUEST_PID"); t0=$(date +%s.%N)
sleep 2      # the measurement window: nothing may happen in it
n1=$(ticks_on_console); c1=$(cpu_ticks "$GUEST_PID"); t1=$(date +%s.%N)
pct=$(awk -v c=$((c1 - c0)) -v hz="$hz" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", 100 * c / hz / (b - a) }')
check "paused: no console output for 2 s (ticks $n0 -> $n1)" test "$n0" -eq "$n1"
check "paused: vessel uses ~0 CPU ($pct% of a core over 2 s, /proc/PID/stat; limit 2%)" \
    awk -v p="$pct" 'BEGIN { exit !(p <= 2.0) }'
out=$(q --events cont)
check "cont: RESUME event, then {}" test "$(printf '%s\n' "$out" | sed -E 's/"timestamp":\{[^}]*\}/T/')" = \
    "$(printf '%s\n' '{"event":"RESUME",T}' '{}')"
check "query-status after cont: running" test "$(status)" = "running True"
if guest_wait_for "tick $((n1 + 2))\$" 30; then ok "cont: the guest's output goes on (tick $((n1 + 2)))"
else nok "cont: the guest's output goes on"; fi
up1=$(uptime); h1=$(date +%s.%N)
gd=$(awk -v a="$up0" -v b="$up1" 'BEGIN { printf "%.2f", b - a }')
hd=$(awk -v a="$h0" -v b="$h1" 'BEGIN { printf "%.2f", b - a }')
# the guest's clock stood still: its uptime grew by the host's time less the 2 s pause
check "the guest's clock stood still while paused (uptime +$gd s over $hd s of host time)" \
    awk -v g="$gd" -v h="$hd" 'BEGIN { exit !(g > 0 && g < h - 1.5) }'
guest_send 'kill %1'

# system_reset: RESET, the guest boots again in the same process
pid0=$GUEST_PID
python3 "$SRC/tests/qmp-raw.py" "$sock" 2 --until-eof \
    <<<'{"execute":"qmp_capabilities"}{"execute":"system_reset"}' > "$d/reset.out" 2>&1 &
watch=$!
for ((i = 0; i < 1200; i++)); do
    [ "$(tr -d '\r' < "$GUEST_LOG" | grep -c '^vessel-guest: ready')" -ge 2 ] && break
    guest_alive_ || break
    sleep 0.1
done
if [ "$(tr -d '\r' < "$GUEST_LOG" | grep -c '^vessel-guest: ready')" -ge 2 ]; then
    ok "system_reset: the guest boots again to its ready marker"
else
    nok "system_reset: the guest boots again"; guest_tail 20 | sed 's/^/# /'
fi
check "system_reset: the same process ($pid0)" kill -0 "$pid0"
out=$(guest_run 'echo shell-ok')
check "system_reset: the new shell answers" test "$out" = shell-ok
kill "$watch" 2>/dev/null; wait "$watch" 2>/dev/null; watch=
check "system_reset: RESET event, host-qmp-system-reset" \
    grep -q '"event":"RESET","data":{"guest":false,"reason":"host-qmp-system-reset"}' "$d/reset.out"
check "query-status after the reset: running" test "$(status)" = "running True"

# system_powerdown: the power button; the guest's init powers off
if ! grep -q '^CONFIG_KEYBOARD_GPIO=y' "$(dirname "$KERNEL")/kernel.config" 2>/dev/null; then
    skip "system_powerdown" "this default guest's kernel has no gpio-keys (built before the power button)"
    exit 0
fi
python3 "$SRC/tests/qmp-raw.py" "$sock" 2 --until-eof \
    <<<'{"execute":"qmp_capabilities"}{"execute":"system_powerdown"}' > "$d/power.out" 2>&1 &
watch=$!
guest_wait_exit 120; rc=$?
wait "$watch"; watch=
sed 's/^/# /' "$d/power.out"
check "system_powerdown: the guest's init powers off cleanly" \
    grep -q 'vessel-guest: shell exited or power-off requested, powering off' <(tr -d '\r' < "$GUEST_LOG")
check "system_powerdown: vessel exits 0 (got $rc)" test "$rc" -eq 0
check "system_powerdown: POWERDOWN event" grep -q '"event":"POWERDOWN"' "$d/power.out"
check "system_powerdown: SHUTDOWN, guest true, reason guest-shutdown" \
    grep -q '"event":"SHUTDOWN","data":{"guest":true,"reason":"guest-shutdown"}' "$d/power.out"
