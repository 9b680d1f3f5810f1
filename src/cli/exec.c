#include "cli/cli.h"
#include "base/base.h"

int cmd_exec(int argc, char **argv)
{
    (void)argc; (void)argv;
    log_error("'exec' is not implemented yet");
    return 2;
}

int cmd_exec_binfmt(int argc, char **argv)
{
    return cmd_exec(argc, argv);
}
