/* vessel-testcore runs user mode on fake_core.c; `vessel run` (the virt
 * board on the real core) is not part of it: this keeps cli/run.c, and the
 * real core it pulls in, out of that binary. */
#include "base/base.h"
#include "cli/cli.h"

int cmd_run(int argc, char **argv)
{
    log_error("run: not in vessel-testcore (user mode on the test core only)");
    return 2;
}
