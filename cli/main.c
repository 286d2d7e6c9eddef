/* vcrun: the global options, the usage, and finding the command (cli/commands.c
 * runs it). */
#include "config.h"

#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <vcrun/types.h>
#include "cli.h"

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

/* "--config FILE", "--bus[=system|session]", "-h, --help" */
static char *
option_synopsis (const GOptionEntry *entry)
{
  GString *text = g_string_new (NULL);
  if (entry->short_name)
    g_string_append_printf (text, "-%c, ", entry->short_name);
  g_string_append_printf (text, "--%s", entry->long_name);
  if (entry->arg_description)
    g_string_append_printf (text, entry->flags & G_OPTION_FLAG_OPTIONAL_ARG ? "[=%s]" : " %s",
                            entry->arg_description);
  return g_string_free (text, FALSE);
}

static void
print_usage (FILE *out, const GOptionEntry *global_entries)
{
  gsize n_commands;
  const VcCliCommand *commands = vc_cli_command_list (&n_commands);
  fprintf (out,
           "Usage: vcrun [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]\n\n"
           "Runs OCI containers inside lightweight virtual machines.\n\n"
           "Commands:\n");
  for (gsize i = 0; i < n_commands; i++)
    fprintf (out, "  %-9s %s\n", commands[i].name, commands[i].summary);
  fprintf (out, "\nGlobal options:\n");
  for (const GOptionEntry *e = global_entries; e->long_name; e++)
    if (!(e->flags & G_OPTION_FLAG_HIDDEN))
      {
        g_autofree char *synopsis = option_synopsis (e);
        fprintf (out, "  %-22s  %s\n", synopsis, e->description);
      }
  fprintf (out, "\nRun 'vcrun COMMAND --help' for a command's options.\n");
}

/* Whether word is a global option whose value is the next word. */
static gboolean
takes_next_word (const GOptionEntry *global_entries, const char *word)
{
  if (!g_str_has_prefix (word, "--") || strchr (word, '=') != NULL)
    return FALSE;
  for (const GOptionEntry *e = global_entries; e->long_name; e++)
    if (g_str_equal (word + 2, e->long_name))
      return e->arg != G_OPTION_ARG_NONE
             && !(e->flags & (G_OPTION_FLAG_NO_ARG | G_OPTION_FLAG_OPTIONAL_ARG));
  return FALSE;
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

/* The global options' strings, freed on every way out of main(). */
static void
cli_clear (VcCli *cli)
{
  g_clear_pointer (&cli->config_file, g_free);
  g_clear_pointer (&cli->root, g_free);
  g_clear_pointer (&cli->log_file, g_free);
  g_clear_pointer (&cli->log_format, g_free);
  g_clear_pointer (&cli->bus, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (VcCli, cli_clear)

int
main (int argc, char **argv)
{
  g_auto(VcCli) cli = { .argv0 = argv[0] };
  gboolean version = FALSE, help = FALSE;
  /* The global options; --help lists those with a description. */
  GOptionEntry global_entries[] = {
    { "config", 0, 0, G_OPTION_ARG_FILENAME, &cli.config_file,
      "configuration file (default: $VCRUN_CONFIG or " VC_SYSCONF_DIR "/vcrun/vcrun.conf)", "FILE" },
    { "root", 0, 0, G_OPTION_ARG_FILENAME, &cli.root,
      "state directory (overrides runtime.state_dir)", "DIR" },
    { "log", 0, 0, G_OPTION_ARG_FILENAME, &cli.log_file, "write the log to FILE", "FILE" },
    { "log-format", 0, 0, G_OPTION_ARG_STRING, &cli.log_format, "log format (default text)",
      "text|json" },
    { "debug", 0, 0, G_OPTION_ARG_NONE, &cli.debug, "log debug messages", NULL },
    { "bus", 0, G_OPTION_FLAG_OPTIONAL_ARG, G_OPTION_ARG_CALLBACK, parse_bus_option,
      "run the command through vcrund", "system|session" },
    { "systemd-cgroup", 0, 0, G_OPTION_ARG_NONE, &cli.systemd_cgroup,
      "cgroupsPath is systemd's slice:prefix:name (as runc)", NULL },
    /* runc's other global options: accepted, logged, ignored. */
    VC_CLI_IGNORED_OPTION ("criu"),
    VC_CLI_IGNORED_OPTION ("rootless"),
    { "version", 'v', 0, G_OPTION_ARG_NONE, &version, "print the version and exit", NULL },
    { "help", 'h', 0, G_OPTION_ARG_NONE, &help, "print this help", NULL },
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
      else if (takes_next_word (global_entries, argv[i]))
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
      /* runc's shape: "NAME version X", then "key: value" lines. */
      printf ("vcrun version %s\nspec: %s\nplugin ABI %d.%d\n", PACKAGE_VERSION,
              VC_CLI_OCI_VERSION, VC_ABI_MAJOR, VC_ABI_MINOR);
      return 0;
    }
  if (help || argc < 2)
    {
      print_usage (help ? stdout : stderr, global_entries);
      return help ? 0 : VC_EXIT_RUNTIME_FAILURE;
    }
  if (cli.log_format && !g_str_equal (cli.log_format, "text") && !g_str_equal (cli.log_format, "json"))
    {
      fprintf (stderr, "vcrun: --log-format takes text or json, not '%s'\n", cli.log_format);
      return VC_EXIT_RUNTIME_FAILURE;
    }
  vc_cli_setup_logging (&cli);
  /* Nothing reads cgroupsPath on the host yet. */
  if (cli.systemd_cgroup)
    vc_cli_log_ignored ("--systemd-cgroup", NULL);

  const char *name = argv[1];
  const VcCliCommand *command = vc_cli_command_find (name);
  if (command == NULL)
    {
      gsize n_commands;
      const VcCliCommand *commands = vc_cli_command_list (&n_commands);
      const char *best = NULL;
      int best_distance = 3;
      for (gsize i = 0; i < n_commands; i++)
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
  status = vc_cli_command_run (&cli, command, argc - 1, argv + 1);
  return status;
}
