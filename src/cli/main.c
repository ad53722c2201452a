#include "cli/cli.h"

int main(int argc, char **argv)
{
    return sr_cli_main(argc, argv);
}
