# Drive a guest VM non-interactively through its console (source this file).
#
# The VM command (`vessel run ...` or a QEMU command line) gets its console on
# stdin/stdout: stdin is a FIFO this library writes to, stdout+stderr go to a
# log file it polls. Works with vessel's default guest (guest/init prints
# "vessel-guest: ready" then runs a shell) and with any shell on a console.
#
#   source "$SRC/tests/guestlib.sh"
#   guest_start qemu-system-riscv64 -M virt ... -nographic   # or: "$VESSEL" run ...
#   guest_wait_ready 60 || { guest_tail; guest_kill; }
#   out=$(guest_run 'uname -a')   # output of the command, status in $?
#   guest_poweroff 30; echo "VM exit status $?"
#
# Functions (all return non-zero on failure and print why on stderr):
#   guest_start CMD...            start the VM; sets GUEST_PID, GUEST_LOG
#   guest_wait_for ERE [TIMEOUT]  wait until a console line matches ERE
#                                 (1: timeout, 2: the VM exited first)
#   guest_wait_ready [TIMEOUT]    guest_wait_for the ready marker, then check
#                                 that the shell answers
#   guest_run CMD [TIMEOUT]       run one shell command line in the guest,
#                                 print its output (console CRs removed) and
#                                 return its exit status (255: no answer)
#   guest_send LINE               write LINE + newline to the console
#   guest_poweroff [TIMEOUT]      leave the shell (init powers off), wait for
#                                 the VM to exit and return its exit status
#   guest_wait_exit [TIMEOUT]     wait for the VM process; its exit status, or
#                                 124 after killing it on timeout
#   guest_kill                    kill the VM if running (TERM, then KILL) and
#                                 remove the log dir: call it in your cleanup
#   guest_tail [N]                print the last N lines of the console log
#   guest_elapsed                 seconds (3 decimals) since guest_start
#   x86_linux_guest               set KERNEL and INITRD to the default x86-64
#                                 guest (in the nested tier: the copy L1
#                                 holds); non-zero, with X86_LINUX_MISSING the
#                                 reason, when it is not built
# Default timeouts come from GUEST_TIMEOUT (seconds, default 120: TCG and the
# emulator are slow). GUEST_POLL: console poll interval (default 0.05 s).
# GUEST_KEEP=1 keeps the console log dir after cleanup.
# One guest at a time per shell.

GUEST_MARKER=${GUEST_MARKER:-'^vessel-guest: ready'}
GUEST_TIMEOUT=${GUEST_TIMEOUT:-120}
GUEST_PID=
GUEST_DIR=
GUEST_LOG=
GUEST_IN=
GUEST_T0_=
X86_LINUX_MISSING="the x86-64 guest is not built (bash guest/build.sh --only x86_64)"

x86_linux_guest() {
    local line
    KERNEL= INITRD=
    if [ -r "$SRC/guest-images/x86_64/bzImage" ]; then
        KERNEL=$SRC/guest-images/x86_64/bzImage INITRD=$SRC/guest-images/x86_64/initramfs.cpio.gz
        return 0
    fi
    line=$(bash "$SRC/guest/build.sh" --print x86_64 2>/dev/null) || return 1
    eval "$line"
}

guest_now_() { date +%s.%N; }
guest_elapsed() { awk -v a="$GUEST_T0_" -v b="$(guest_now_)" 'BEGIN { printf "%.3f\n", b - a }'; }
guest_err_() { echo "guestlib: $*" >&2; }

guest_start() {
    [ $# -gt 0 ] || { guest_err_ "guest_start: no command"; return 1; }
    [ -z "$GUEST_PID" ] || { guest_err_ "guest_start: a guest is already running (pid $GUEST_PID)"; return 1; }
    guest_rmdir_
    GUEST_DIR=$(mktemp -d "${TMPDIR:-/tmp}/vessel-guest.XXXXXX") || return 1
    GUEST_LOG=$GUEST_DIR/console.log
    mkfifo "$GUEST_DIR/in" || return 1
    : > "$GUEST_LOG"
    GUEST_T0_=$(guest_now_)
    "$@" < "$GUEST_DIR/in" > "$GUEST_LOG" 2>&1 &
    GUEST_PID=$!
    # Opening the FIFO's write end waits for the VM to open its read end.
    exec {GUEST_IN}> "$GUEST_DIR/in"
    return 0
}

guest_alive_() { [ -n "$GUEST_PID" ] && kill -0 "$GUEST_PID" 2>/dev/null; }

guest_send() {
    guest_alive_ || { guest_err_ "guest_send: the VM is not running"; return 1; }
    # A subshell ignoring SIGPIPE: a VM that just exited gives EPIPE, not death.
    ( trap '' PIPE; printf '%s\n' "$1" >&"$GUEST_IN" ) 2>/dev/null
}

# guest_wait_for ERE [TIMEOUT]: poll the console log for a line matching ERE.
guest_wait_for() {
    local re=$1 timeout=${2:-$GUEST_TIMEOUT} end
    end=$(( $(date +%s) + ${timeout%.*} ))
    while :; do
        if tr -d '\r' < "$GUEST_LOG" | grep -aqE -- "$re"; then return 0; fi
        if ! guest_alive_; then
            # Last look: the line may have come just before the exit.
            tr -d '\r' < "$GUEST_LOG" | grep -aqE -- "$re" && return 0
            guest_err_ "the VM exited before printing /$re/"
            return 2
        fi
        if [ "$(date +%s)" -ge "$end" ]; then
            guest_err_ "no /$re/ on the console within ${timeout} s"
            return 1
        fi
        sleep "${GUEST_POLL:-0.05}"
    done
}

guest_wait_ready() {
    local timeout=${1:-$GUEST_TIMEOUT} out
    guest_wait_for "$GUEST_MARKER" "$timeout" || return
    out=$(guest_run 'echo shell-ok' "$timeout") || return 1
    [ "$out" = shell-ok ] || { guest_err_ "unexpected shell answer: $out"; return 1; }
}

# guest_run CMD [TIMEOUT]: CMD is sent as one line between two echo
# commands. The markers are built by the guest shell from split words
# (__VB""EGIN), so the console's echo of the typed line never matches them;
# only the command's real output lies between them. CMD must be one line
# (no newline, no trailing comment) and must not read the console.
guest_run() {
    local cmd=$1 timeout=${2:-$GUEST_TIMEOUT} n tag rc
    [ -n "$GUEST_DIR" ] || { guest_err_ "guest_run: no guest"; return 255; }
    # The counter lives in a file: guest_run is often called in $(...).
    n=$(( $(cat "$GUEST_DIR/n" 2>/dev/null || echo 0) + 1 ))
    echo "$n" > "$GUEST_DIR/n"
    tag="${n}_$$"
    guest_send "echo __VB\"\"EGIN_${tag}__; ${cmd}; echo __VE\"\"ND_${tag}__ \$?" || return 255
    if ! guest_wait_for "__VEND_${tag}__ [0-9]+\$" "$timeout"; then
        guest_err_ "guest_run: no answer to: $cmd"
        return 255
    fi
    tr -d '\r' < "$GUEST_LOG" | awk -v b="__VBEGIN_${tag}__\$" -v e="__VEND_${tag}__ [0-9]+\$" '
        !on && $0 ~ b { on = 1; next }
        on && match($0, e) {
            if (RSTART > 1) printf "%s\n", substr($0, 1, RSTART - 1)
            n = split(substr($0, RSTART), f, " ")
            print "rc " f[2] > "/dev/stderr"
            exit
        }
        on { print }' 2> "$GUEST_DIR/rc"
    rc=$(sed -n 's/^rc //p' "$GUEST_DIR/rc")
    return "${rc:-255}"
}

# guest_wait_gone TIMEOUT: 0 once the VM has ended, 1 if it still runs
# after TIMEOUT s (left running: the caller may look at it first)
guest_wait_gone() {
    local end=$(( $(date +%s) + ${1%.*} ))
    while guest_alive_; do
        [ "$(date +%s)" -lt "$end" ] || return 1
        sleep 0.05
    done
}

guest_wait_exit() {
    local timeout=${1:-$GUEST_TIMEOUT} rc
    [ -n "$GUEST_PID" ] || { guest_err_ "guest_wait_exit: no guest"; return 1; }
    if ! guest_wait_gone "$timeout"; then
        guest_err_ "the VM did not exit within ${timeout} s; killing it"
        guest_kill
        return 124
    fi
    wait "$GUEST_PID"; rc=$?
    GUEST_PID=
    guest_cleanup_
    return $rc
}

guest_poweroff() {
    guest_send 'exit' || true
    guest_wait_exit "${1:-$GUEST_TIMEOUT}"
}

guest_kill() {
    if guest_alive_; then
        kill -TERM "$GUEST_PID" 2>/dev/null
        local i
        for i in 1 2 3 4 5 6 7 8 9 10; do guest_alive_ || break; sleep 0.1; done
        guest_alive_ && kill -KILL "$GUEST_PID" 2>/dev/null
    fi
    [ -n "$GUEST_PID" ] && wait "$GUEST_PID" 2>/dev/null
    GUEST_PID=
    guest_cleanup_
    guest_rmdir_
    return 0
}

guest_tail() { [ -n "$GUEST_LOG" ] && [ -e "$GUEST_LOG" ] && tail -n "${1:-20}" "$GUEST_LOG" | tr -d '\r' >&2; }

# After the VM exits the log stays readable (guest_tail) until the next
# guest_start or guest_kill, which remove the directory (unless GUEST_KEEP=1).
guest_cleanup_() {
    if [ -n "$GUEST_IN" ]; then exec {GUEST_IN}>&-; GUEST_IN=; fi
    [ -n "$GUEST_DIR" ] && rm -f "$GUEST_DIR/in" "$GUEST_DIR/rc" "$GUEST_DIR/n"
    return 0
}

guest_rmdir_() {
    if [ -n "$GUEST_DIR" ] && [ "${GUEST_KEEP:-0}" != 1 ]; then rm -rf "$GUEST_DIR"; fi
    GUEST_DIR= GUEST_LOG=
}

# kvm_trace on|off|count|dump NAME PID: the kernel's KVM tracepoints (exits,
# injected exceptions, MSR and CR accesses) in the nested tier's L1, for the
# kvm tests that lose guests there now and then (kvm-migrate,
# kvm-replicate). The ring keeps the last events. On AMD SVM (the nested
# tier) KVM resets the vCPU before vessel sees a triple fault's shutdown
# exit: only the trace says where the guest was. It stops itself at a
# shutdown exit (SVM's 0x7f), before a second boot overwrites it. Only in
# L1 (VESSEL_NESTED_L1, set by its init: a machine of the test's own), and
# where tracefs is writable. dump: the events of PID's threads (all, if
# PID is gone), the first lines and the last before the end, as one line.
KVM_TRACE_DIR=/sys/kernel/tracing KVM_TRACE_EV="kvm_exit kvm_inj_exception kvm_msr kvm_cr"
# the trace as "TID TIME EVENT FIELDS"
kvm_trace_lines() { sed -n 's/^ *.*-\([0-9][0-9]*\) *\[[0-9]*\] [^ ]* *\([0-9.]*\): \(kvm_[a-z_]*: \)/\1 \2 \3/p' "$KVM_TRACE_DIR/trace"; }
kvm_trace() {
    local t=$KVM_TRACE_DIR e
    [ "${VESSEL_NESTED_L1:-}" = 1 ] || { [ "$1" = on ] || [ "$1" = off ] || echo "none (not in the nested tier)"; return 0; }
    case $1 in
    on)
        [ -e "$t/events/kvm" ] || mount -t tracefs nodev "$t" 2>/dev/null
        [ -w "$t/events/kvm/kvm_exit/enable" ] || return 0
        echo 0 > "$t/tracing_on"; echo 4096 > "$t/buffer_size_kb"; : > "$t/trace"
        echo 'traceoff if exit_reason == 127' > "$t/events/kvm/kvm_exit/trigger" 2>/dev/null
        for e in $KVM_TRACE_EV; do echo 1 > "$t/events/kvm/$e/enable"; done
        echo 1 > "$t/tracing_on" ;;
    off)
        [ -w "$t/tracing_on" ] || return 0
        echo 0 > "$t/tracing_on"
        for e in $KVM_TRACE_EV; do echo 0 > "$t/events/kvm/$e/enable"; done
        echo '!traceoff if exit_reason == 127' > "$t/events/kvm/kvm_exit/trigger" 2>/dev/null ;;
    count)
        [ -r "$t/trace" ] || { echo "none (tracefs not writable)"; return 0; }
        # exits per thread (a VM's vCPU threads are its process's tasks) and reason
        echo "$(grep -ac 'kvm_exit:' "$t/trace") exits ($(kvm_trace_lines | awk '$3 == "kvm_exit:" { n[$1 " " $7]++ } END { for (k in n) printf "%s %d, ", k, n[k] }')), $(grep -ac 'kvm_inj_exception' "$t/trace") exceptions injected" ;;
    dump)
        [ -r "$t/trace" ] || { echo "none (tracefs not writable)"; return 0; }
        local tids lines
        tids=$(ls "/proc/$3/task" 2>/dev/null | tr '\n' ' ')
        lines=$(kvm_trace_lines | awk -v t=" $tids" '"" t == " " || index(t, " " $1 " ")')
        echo -n "$2's threads: ${tids:-gone}; "
        head -n 4 <<<"$lines" | tr -s ' ' | tr '\n' '|'; echo -n " ... "
        tail -n 20 <<<"$lines" | tr -s ' ' | sed 's/ info2 0x0*\([0-9a-f]\)/ info2 0x\1/; s/ error_code 0x00000000//' | tr '\n' '|'
        echo " ($(kvm_trace count))" ;;
    esac
}
