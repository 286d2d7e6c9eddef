/* vcrun: global options and command dispatch. */
#include "config.h"

#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <vcrun/types.h>
#include "cli.h"

static const VcCliCommand commands[] = {
  { "run",     "[--bundle DIR] [-d] [-t] [--pid-file F] ID", "boot a sandbox and run the bundle's process in it, attached", vc_cmd_run },
  { "create",  "[--bundle DIR] [--pid-file F] ID", "boot a sandbox and create the container; its owner runs detached", vc_cmd_create },
  { "start",   "ID", "start a created container's process", vc_cmd_start },
  { "state",   "ID", "print a container's OCI state as JSON", vc_cmd_state },
  { "kill",    "[--all] ID [SIGNAL]", "send a signal (default TERM) to a container's process", vc_cmd_kill },
  { "delete",  "[--force] ID", "stop a container's sandbox and remove it", vc_cmd_delete },
  { "exec",    "[-t] [--cwd DIR] [-e K=V]... [--user UID[:GID]] ID CMD [ARG]...", "run another process in a running container, attached", vc_cmd_exec },
  { "ps",      "[--format table|json] ID", "list a container's processes", vc_cmd_ps },
  { "pause",   "ID", "pause a running container", vc_cmd_pause },
  { "resume",  "ID", "resume a paused container", vc_cmd_resume },
  { "list",    "[--format table|json] [-q]", "list the containers", vc_cmd_list },
  { "spec",    "[--bundle DIR]", "write a default config.json into a bundle", vc_cmd_spec },
  { "check",   "", "report whether this host can run sandboxes", vc_cmd_check },
  { "plugins", "", "list the loaded plugins with their kinds, versions and settings", vc_cmd_plugins },
};

const VcCliCommand *
vc_cli_command (const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    if (g_str_equal (commands[i].name, name))
      return &commands[i];
  return NULL;
}

static int
edit_distance (const char *a, const char *b)
{
  gsize la = strlen (a), lb = strlen (b);
  g_autofree int *row = g_new (int, lb + 1);
  for (gsize j = 0; j <= lb; j++)
    row[j] = j;
  for (gsize i = 1; i <= la; i++)
    {
      int diag = row[0];
      row[0] = i;
      for (gsize j = 1; j <= lb; j++)
        {
          int up = row[j];
          int cost = a[i - 1] == b[j - 1] ? 0 : 1;
          row[j] = MIN (MIN (row[j] + 1, row[j - 1] + 1), diag + cost);
          diag = up;
        }
    }
  return row[lb];
}

static void
print_usage (FILE *out)
{
  fprintf (out,
           "Usage: vcrun [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]\n\n"
           "Runs OCI containers inside lightweight virtual machines.\n\n"
           "Commands:\n");
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (out, "  %-9s %s\n", commands[i].name, commands[i].summary);
  fprintf (out,
           "\nGlobal options:\n"
           "  --config FILE           configuration file (default: $VCRUN_CONFIG or %s/vcrun/vcrun.conf)\n"
           "  --root DIR              state directory (overrides runtime.state_dir)\n"
           "  --log FILE              write the log to FILE\n"
           "  --log-format text|json  log format (default text)\n"
           "  --debug                 log debug messages\n"
           "  --bus[=system|session]  run the command through vcrund\n"
           "  --version               print the version and exit\n"
           "  -h, --help              print this help\n\n"
           "Run 'vcrun COMMAND --help' for a command's options.\n", VC_SYSCONF_DIR);
}

static gboolean
parse_bus_option (const char *name, const char *value, gpointer data, GError **error)
{
  VcCli *cli = data;
  if (value == NULL)
    value = "system";
  if (!g_str_equal (value, "system") && !g_str_equal (value, "session"))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--bus takes system or session, not '%s'", value);
      return FALSE;
    }
  g_free (cli->bus);
  cli->bus = g_strdup (value);
  return TRUE;
}

int
main (int argc, char **argv)
{
  VcCli cli = { .argv0 = argv[0] };
  gboolean version = FALSE, help = FALSE;
  GOptionEntry global_entries[] = {
    { "config", 0, 0, G_OPTION_ARG_FILENAME, &cli.config_file, NULL, NULL },
    { "root", 0, 0, G_OPTION_ARG_FILENAME, &cli.root, NULL, NULL },
    { "log", 0, 0, G_OPTION_ARG_FILENAME, &cli.log_file, NULL, NULL },
    { "log-format", 0, 0, G_OPTION_ARG_STRING, &cli.log_format, NULL, NULL },
    { "debug", 0, 0, G_OPTION_ARG_NONE, &cli.debug, NULL, NULL },
    { "bus", 0, G_OPTION_FLAG_OPTIONAL_ARG, G_OPTION_ARG_CALLBACK, parse_bus_option, NULL, NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, NULL, NULL },
    { "help", 'h', 0, G_OPTION_ARG_NONE, &help, NULL, NULL },
    { NULL }
  };
  g_autoptr(GError) error = NULL;
  int status;

  setlocale (LC_ALL, "");

  /* GOption gives an optional argument the next word: "--bus list" would
   * read "list" as the bus. A bare --bus means the system bus. */
  for (int i = 1; i < argc && argv[i][0] == '-'; i++)
    {
      if (g_str_equal (argv[i], "--bus"))
        argv[i] = (char *) "--bus=system";
      else if (g_str_equal (argv[i], "--config") || g_str_equal (argv[i], "--root")
               || g_str_equal (argv[i], "--log") || g_str_equal (argv[i], "--log-format"))
        i++;
    }

  g_autoptr(GOptionContext) context = g_option_context_new (NULL);
  g_autoptr(GOptionGroup) group = g_option_group_new ("vcrun", "", "", &cli, NULL);
  g_option_group_add_entries (group, global_entries);
  g_option_context_set_main_group (context, g_steal_pointer (&group));
  g_option_context_set_help_enabled (context, FALSE);
  /* Global options end at the command name. */
  g_option_context_set_strict_posix (context, TRUE);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "vcrun: %s (see 'vcrun --help')\n", error->message);
      return VC_EXIT_RUNTIME_FAILURE;
    }
  if (version)
    {
      printf ("vcrun version %s\nplugin ABI %d.%d\n", PACKAGE_VERSION, VC_ABI_MAJOR, VC_ABI_MINOR);
      return 0;
    }
  if (help || argc < 2)
    {
      print_usage (help ? stdout : stderr);
      return help ? 0 : VC_EXIT_RUNTIME_FAILURE;
    }
  if (cli.log_format && !g_str_equal (cli.log_format, "text") && !g_str_equal (cli.log_format, "json"))
    {
      fprintf (stderr, "vcrun: --log-format takes text or json, not '%s'\n", cli.log_format);
      return VC_EXIT_RUNTIME_FAILURE;
    }
  vc_cli_setup_logging (&cli);

  const char *name = argv[1];
  const VcCliCommand *command = vc_cli_command (name);
  if (command == NULL)
    {
      const char *best = NULL;
      int best_distance = 3;
      for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
        {
          int d = edit_distance (name, commands[i].name);
          if (d < best_distance)
            best_distance = d, best = commands[i].name;
        }
      if (best)
        fprintf (stderr, "vcrun: unknown command '%s'; did you mean '%s'? (see 'vcrun --help')\n", name, best);
      else
        fprintf (stderr, "vcrun: unknown command '%s' (see 'vcrun --help')\n", name);
      return VC_EXIT_RUNTIME_FAILURE;
    }
  /* A reader that went away (vcrun list | head) is not a reason to die. */
  signal (SIGPIPE, SIG_IGN);
  if (cli.bus)
    status = vc_cli_bus_dispatch (&cli, command, argc - 1, argv + 1);
  else
    status = command->run (&cli, argc - 1, argv + 1);

  g_free (cli.config_file);
  g_free (cli.root);
  g_free (cli.log_file);
  g_free (cli.log_format);
  g_free (cli.bus);
  return status;
}
