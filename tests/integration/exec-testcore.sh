# The exec-basic cases run by vessel-testcore: the same user-mode layer
# (loader, stack, syscalls, signals, threads, execve) driven by the small
# test-only RV64 interpreter in tests/unit/user/fake_core.c instead of the
# real core. It checks the user-mode layer on its own; exec-basic.sh checks
# the product binary.
. "$SRC/tests/lib.sh"
tc=$BUILD/tests/unit/user/vessel-testcore
if [ ! -x "$tc" ]; then
    skip "exec-basic with the test core" "$tc not built"
    exit 0
fi
VESSEL=$tc
. "$SRC/tests/integration/exec-basic.sh"
