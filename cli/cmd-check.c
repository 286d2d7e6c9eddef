/* vcrun check: can this host run sandboxes? Prints libvcrun's host check as
 * a table, exits non-zero when something the default sandbox needs is
 * missing. */
#include "config.h"

#include <stdio.h>

#include "cli.h"

int
vc_cmd_check (VcCli *cli, const VcCliArgs *args)
{
  g_autoptr(VcCheckReport) report = vc_check_host (cli->config_file, cli->root);
  printf ("%-20s %-6s %s\n", "CHECK", "STATUS", "DETAIL");
  for (guint i = 0; i < report->rows->len; i++)
    {
      const VcCheckRow *row = g_ptr_array_index (report->rows, i);
      printf ("%-20s %-6s %s\n", row->what, row->status, row->detail);
    }
  printf ("\n%s\n", report->failed ? "This host cannot run sandboxes with this configuration."
                                    : "This host can run sandboxes.");
  return report->failed ? 1 : 0;
}
