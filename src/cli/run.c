#include "cli/cli.h"
#include "base/base.h"

int cmd_run(int argc, char **argv)
{
    (void)argc; (void)argv;
    log_error("'run' is not implemented yet");
    return 2;
}
