#include "cli/cli.h"
#include "base/base.h"

int cmd_binfmt(int argc, char **argv)
{
    (void)argc; (void)argv;
    log_error("'binfmt' is not implemented yet");
    return 2;
}
