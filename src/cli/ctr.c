#include "cli/cli.h"
#include "base/base.h"

int cmd_ctr(int argc, char **argv)
{
    (void)argc; (void)argv;
    log_error("'ctr' is not implemented yet");
    return 2;
}
