/* vcrun --bus: commands through the vcrund D-Bus service.
 *
 * Every command given --bus comes here, and only here: the D-Bus client
 * (org.vcrun.Runtime1, see data/) plugs in at this one function. */
#include "config.h"

#include "cli.h"

int
vc_cli_bus_dispatch (VcCli *cli, const VcCliCommand *command, int argc, char **argv)
{
  (void) argc;
  (void) argv;
  return vc_cli_fail_msg ("%s --bus=%s: this needs the vcrund service (org.vcrun.Runtime1 on the %s bus), "
                          "and this vcrun cannot talk to it yet; run the command without --bus to "
                          "use the embedded runtime", command->name, cli->bus, cli->bus);
}
