#include "cli/cli.h"
#include "base/base.h"

int cmd_kvm(int argc, char **argv)
{
    (void)argc; (void)argv;
    log_error("'kvm' is not implemented yet");
    return 2;
}
