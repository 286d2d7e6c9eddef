/* vcrun: the command table. Each command declares its options here, once;
 * the operands and the options' values are checked here too, the same way
 * for both modes; then the command runs in its embedded form (cli/cmd-*.c)
 * or, with --bus, in its bus form (cli/bus-*.c). */
#include "config.h"

#include <signal.h>
#include <stdio.h>

#include <vcrun/types.h>
#include "cli.h"

/* ---- options --------------------------------------------------------------- */

#define BUNDLE_OPTION \
  VC_CLI_FILENAME ("bundle", 'b', bundle, "bundle directory (default: the current one)", "DIR")
#define PID_FILE_OPTION \
  VC_CLI_FILENAME ("pid-file", 0, pid_file, "write the container's pid to FILE", "FILE")
#define FORMAT_OPTION \
  VC_CLI_STRING ("format", 'f', format, "table (default) or json", "FORMAT")

static const GOptionEntry run_options[] = {
  BUNDLE_OPTION,
  VC_CLI_FLAG ("detach", 'd', detach, "start the container and exit; it keeps running"),
  VC_CLI_FLAG ("tty", 't', tty, "give the process a terminal (as process.terminal does)"),
  PID_FILE_OPTION,
  { NULL }
};

#define CONSOLE_SOCKET_OPTION \
  VC_CLI_FILENAME ("console-socket", 0, console_socket, \
                   "send the terminal's pty master to this Unix socket (runc's protocol)", "SOCKET")
#define PRESERVE_FDS_OPTION \
  VC_CLI_INT ("preserve-fds", 0, preserve_fds, "pass N more fds (only 0: none reaches a VM)", "N")

static const GOptionEntry create_options[] = {
  BUNDLE_OPTION,
  PID_FILE_OPTION,
  CONSOLE_SOCKET_OPTION,
  PRESERVE_FDS_OPTION,
  VC_CLI_IGNORED_FLAG ("no-pivot"),
  VC_CLI_IGNORED_FLAG ("no-new-keyring"),
  { NULL }
};

static const GOptionEntry kill_options[] = {
  VC_CLI_FLAG ("all", 'a', all, "signal every process of the container"),
  { NULL }
};

static const GOptionEntry delete_options[] = {
  VC_CLI_FLAG ("force", 'f', force, "delete a running container too (it is killed)"),
  { NULL }
};

static const GOptionEntry exec_options[] = {
  VC_CLI_FLAG ("tty", 't', tty, "give the process a terminal"),
  VC_CLI_FILENAME ("process", 'p', process, "the process, an OCI Process object (JSON)", "FILE"),
  VC_CLI_FLAG ("detach", 'd', detach, "start the process and exit; the pid file's process waits for it"),
  PID_FILE_OPTION,
  CONSOLE_SOCKET_OPTION,
  PRESERVE_FDS_OPTION,
  VC_CLI_IGNORED_FLAG ("no-new-privs"),
  VC_CLI_IGNORED_OPTION ("process-label"),
  VC_CLI_IGNORED_OPTION ("apparmor"),
  VC_CLI_IGNORED_OPTION ("cgroup"),
  VC_CLI_IGNORED_FLAG ("ignore-paused"),
  VC_CLI_FILENAME ("cwd", 0, cwd, "working directory in the container", "DIR"),
  VC_CLI_STRINGS ("env", 'e', env, "set an environment variable (repeatable)", "K=V"),
  VC_CLI_STRING ("user", 'u', user, "run as this user and group", "UID[:GID]"),
  VC_CLI_STRING ("exec-id", 0, exec_id, "name of the process (default: generated)", "ID"),
  { NULL }
};

static const GOptionEntry ps_options[] = {
  FORMAT_OPTION,
  { NULL }
};

static const GOptionEntry list_options[] = {
  FORMAT_OPTION,
  VC_CLI_FLAG ("quiet", 'q', quiet, "print the IDs only"),
  { NULL }
};

static const GOptionEntry template_options[] = {
  FORMAT_OPTION,
  VC_CLI_FLAG ("all", 'a', all, "rm: remove every template"),
  { NULL }
};

static const GOptionEntry spec_options[] = {
  BUNDLE_OPTION,
  { NULL }
};

gboolean
vc_cli_ignore_option (const char *name, const char *value, gpointer data, GError **error)
{
  vc_cli_log_ignored (name, value);
  return TRUE;
}

/* ---- operands ---------------------------------------------------------- */

static gboolean
invalid (GError **error, const char *format, ...) G_GNUC_PRINTF (2, 3);

static gboolean
invalid (GError **error, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error_literal (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, message);
  return FALSE;
}

static gboolean
no_operands (const VcCliCommand *command, VcCliArgs *args, int argc, char **argv, GError **error)
{
  if (argc > 1)
    return invalid (error, "%s: unexpected argument '%s'", command->name, argv[1]);
  return TRUE;
}

static gboolean
missing_id (const VcCliCommand *command, GError **error)
{
  return invalid (error, "%s: missing container ID (see 'vcrun %s --help')", command->name,
                  command->name);
}

/* The one operand: a container ID. */
static gboolean
one_id (const VcCliCommand *command, VcCliArgs *args, int argc, char **argv, GError **error)
{
  if (argc < 2)
    return missing_id (command, error);
  if (argc > 2)
    return invalid (error, "%s: unexpected argument '%s'", command->name, argv[2]);
  args->id = argv[1];
  return TRUE;
}

static gboolean
check_format (const VcCliCommand *command, const VcCliArgs *args, GError **error)
{
  if (args->format && !g_str_equal (args->format, "table") && !g_str_equal (args->format, "json"))
    return invalid (error, "%s: --format takes table or json, not '%s'", command->name, args->format);
  return TRUE;
}

static gboolean
check_run (const VcCliCommand *command, VcCliArgs *args, int argc, char **argv, GError **error)
{
  if (argc < 2)
    return missing_id (command, error);
  if (argc > 2)
    return invalid (error, "run: unexpected argument '%s' (the command comes from the bundle's config.json)",
                    argv[2]);
  args->id = argv[1];
  if (args->detach && args->tty)
    return invalid (error, "run: --tty and --detach together need a console socket, which vcrun does not support");
  return TRUE;
}

static gboolean
check_preserve_fds (const VcCliCommand *command, const VcCliArgs *args, GError **error)
{
  if (args->preserve_fds < 0)
    return invalid (error, "%s: --preserve-fds takes a count, not %d", command->name, args->preserve_fds);
  if (args->preserve_fds > 0)
    return invalid (error, "%s: --preserve-fds %d: a host file descriptor cannot be passed into the "
                    "sandbox's VM", command->name, args->preserve_fds);
  return TRUE;
}

static gboolean
check_create (const VcCliCommand *command, VcCliArgs *args, int argc, char **argv, GError **error)
{
  return one_id (command, args, argc, argv, error) && check_preserve_fds (command, args, error);
}

/* ID [SIGNAL] */
static gboolean
check_kill (const VcCliCommand *command, VcCliArgs *args, int argc, char **argv, GError **error)
{
  if (argc < 2)
    return missing_id (command, error);
  if (argc > 3)
    return invalid (error, "kill: unexpected argument '%s'", argv[3]);
  args->id = argv[1];
  args->signal = SIGTERM;
  return argc < 3 || vc_cli_parse_signal (argv[2], &args->signal, error);
}

/* ID COMMAND [ARG]... */
static gboolean
check_exec (const VcCliCommand *command, VcCliArgs *args, int argc, char **argv, GError **error)
{
  if (argc < 2)
    return missing_id (command, error);
  if (args->process && argc > 2)
    return invalid (error, "exec: --process FILE names the command: unexpected argument '%s'", argv[2]);
  if (args->process == NULL && argc < 3)
    return invalid (error, "exec: missing the command to run (or --process FILE)");
  if (!check_preserve_fds (command, args, error))
    return FALSE;
  if (args->detach && args->pid_file == NULL)
    return invalid (error, "exec: --detach needs --pid-file: its process is the exec'd process's stand-in");
  args->id = argv[1];
  args->command = args->process ? NULL : argv + 2;
  if (args->exec_id == NULL)
    args->exec_id = g_strdup_printf ("exec-%08x", g_random_int ());
  return vc_id_validate (args->exec_id, "exec", error);
}

static gboolean
check_ps (const VcCliCommand *command, VcCliArgs *args, int argc, char **argv, GError **error)
{
  return check_format (command, args, error) && one_id (command, args, argc, argv, error);
}

static gboolean
check_list (const VcCliCommand *command, VcCliArgs *args, int argc, char **argv, GError **error)
{
  return check_format (command, args, error) && no_operands (command, args, argc, argv, error);
}

/* create | list [--format F] | rm (KEY | --all) */
static gboolean
check_template (const VcCliCommand *command, VcCliArgs *args, int argc, char **argv, GError **error)
{
  if (argc < 2)
    return invalid (error, "template: missing the action: create, list or rm (see 'vcrun template --help')");
  args->action = argv[1];
  if (!g_str_equal (args->action, "create") && !g_str_equal (args->action, "list")
      && !g_str_equal (args->action, "rm"))
    return invalid (error, "template: unknown action '%s', expected create, list or rm", args->action);
  if (!check_format (command, args, error))
    return FALSE;
  if (g_str_equal (args->action, "rm"))
    {
      if (argc < 3 && !args->all)
        return invalid (error, "template rm: give a template KEY (or its start) or --all");
      if (argc > 3 || (argc == 3 && args->all))
        return invalid (error, "template rm: unexpected argument '%s'", argv[argc - 1]);
      args->id = argc == 3 ? argv[2] : NULL;
      return TRUE;
    }
  if (argc > 2)
    return invalid (error, "template %s: unexpected argument '%s'", args->action, argv[2]);
  return TRUE;
}

/* ---- the table ----------------------------------------------------------- */

static const VcCliCommand commands[] = {
  { "run", "[--bundle DIR] [-d] [-t] [--pid-file F] ID",
    "boot a sandbox and run the bundle's process in it, attached",
    .options = run_options, .check = check_run,
    .run_embedded = vc_cmd_run, .run_bus = vc_cmd_run_bus },
  { "create", "[--bundle DIR] [--pid-file F] [--console-socket S] ID",
    "boot a sandbox and create the container; its owner runs detached",
    .options = create_options, .check = check_create,
    .run_embedded = vc_cmd_create, .run_bus = vc_cmd_create_bus },
  { "start", "ID", "start a created container's process",
    .check = one_id, .run_embedded = vc_cmd_start, .run_bus = vc_cmd_start_bus },
  { "state", "ID", "print a container's OCI state as JSON",
    .check = one_id, .run_embedded = vc_cmd_state, .run_bus = vc_cmd_state_bus },
  { "kill", "[--all] ID [SIGNAL]", "send a signal (default TERM) to a container's process",
    .options = kill_options, .check = check_kill,
    .run_embedded = vc_cmd_kill, .run_bus = vc_cmd_kill_bus },
  { "delete", "[--force] ID", "stop a container's sandbox and remove it",
    .options = delete_options, .check = one_id,
    .run_embedded = vc_cmd_delete, .run_bus = vc_cmd_delete_bus },
  { "exec", "[-t] [-d --pid-file F] [--cwd DIR] [-e K=V]... [--user UID[:GID]] ID CMD [ARG]... | --process FILE ID",
    "run another process in a running container, attached",
    .options = exec_options, .options_first = TRUE, .check = check_exec,
    .run_embedded = vc_cmd_exec, .run_bus = vc_cmd_exec_bus },
  { "ps", "[--format table|json] ID", "list a container's processes",
    .options = ps_options, .check = check_ps,
    .run_embedded = vc_cmd_ps, .run_bus = vc_cmd_ps_bus },
  { "pause", "ID", "pause a running container",
    .check = one_id, .run_embedded = vc_cmd_pause, .run_bus = vc_cmd_pause_bus },
  { "resume", "ID", "resume a paused container",
    .check = one_id, .run_embedded = vc_cmd_resume, .run_bus = vc_cmd_resume_bus },
  { "update", "[--resources FILE] [--cpus N] [--memory SIZE] [...] ID",
    "change a running container's CPU, memory and pids limits (the VM grows to hold them)",
    .options = vc_cli_update_options, .check = vc_cli_check_update,
    .run_embedded = vc_cmd_update, .run_bus = vc_cmd_update_bus },
  { "events", "--stats ID", "print a container's statistics as JSON (runc's shape)",
    .options = vc_cli_events_options, .check = vc_cli_check_events,
    .run_embedded = vc_cmd_events, .run_bus = vc_cmd_events_bus },
  { "stats", "[--no-stream] [--format table|json] [--interval MS] [ID...]",
    "show running containers' CPU, memory, pids, block and network I/O and their VMM's RSS and CPU",
    .options = vc_cli_stats_options, .check = vc_cli_check_stats,
    .run_embedded = vc_cmd_stats, .run_bus = vc_cmd_stats_bus },
  { "list", "[--format table|json] [-q]", "list the containers",
    .options = list_options, .check = check_list,
    .run_embedded = vc_cmd_list, .run_bus = vc_cmd_list_bus },
  /* No sandbox, no bus form: these run in this process with --bus too. */
  { "spec", "[--bundle DIR]", "write a default config.json into a bundle",
    .options = spec_options, .check = no_operands, .run_embedded = vc_cmd_spec, .in_process = TRUE },
  { "check", "", "report whether this host can run sandboxes",
    .check = no_operands, .run_embedded = vc_cmd_check, .in_process = TRUE },
  { "plugins", "", "list the loaded plugins with their kinds, versions and settings",
    .check = no_operands, .run_embedded = vc_cmd_plugins, .in_process = TRUE },
  { "features", "", "print what this runtime supports (the OCI runtime-spec features JSON)",
    .check = no_operands, .run_embedded = vc_cmd_features, .in_process = TRUE },
  { "template", "create | list [--format table|json] | rm (KEY | --all)",
    "build, list or remove the saved guests that sandboxes start from",
    .options = template_options, .check = check_template,
    .run_embedded = vc_cmd_template, .run_bus = vc_cmd_template_bus },
};

const VcCliCommand *
vc_cli_command_list (gsize *n_commands)
{
  *n_commands = G_N_ELEMENTS (commands);
  return commands;
}

const VcCliCommand *
vc_cli_command_find (const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    if (g_str_equal (commands[i].name, name))
      return &commands[i];
  return NULL;
}

/* ---- parsing and running ---------------------------------------------- */

static gboolean
stores_in_args (const GOptionEntry *entry)
{
  return entry->arg != G_OPTION_ARG_CALLBACK;
}

/* The command's option table with each offset turned into the address of
 * that field of args. */
static GOptionEntry *
bind_options (const VcCliCommand *command, VcCliArgs *args)
{
  gsize n = 0;
  while (command->options && command->options[n].long_name)
    n++;
  GOptionEntry *bound = g_new0 (GOptionEntry, n + 1);
  for (gsize i = 0; i < n; i++)
    {
      bound[i] = command->options[i];
      if (stores_in_args (&bound[i]))
        bound[i].arg_data = (char *) args + GPOINTER_TO_SIZE (bound[i].arg_data);
    }
  return bound;
}

static void
free_args (const VcCliCommand *command, VcCliArgs *args)
{
  for (const GOptionEntry *e = command->options; e && e->long_name; e++)
    {
      if (!stores_in_args (e))
        continue;
      gpointer field = (char *) args + GPOINTER_TO_SIZE (e->arg_data);
      if (e->arg == G_OPTION_ARG_STRING || e->arg == G_OPTION_ARG_FILENAME)
        g_clear_pointer ((char **) field, g_free);
      else if (e->arg == G_OPTION_ARG_STRING_ARRAY || e->arg == G_OPTION_ARG_FILENAME_ARRAY)
        g_clear_pointer ((char ***) field, g_strfreev);
    }
  g_clear_pointer (&args->resources_json, g_free);
}

/* Parses a command's options (--help prints the command's help and exits 0). */
static gboolean
parse_options (const VcCliCommand *command, VcCliArgs *args, int *argc, char ***argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *prgname = g_strdup_printf ("vcrun %s", command->name);
  g_autoptr(GOptionContext) context = g_option_context_new (command->usage);
  g_autofree GOptionEntry *entries = bind_options (command, args);

  /* GOption's usage line reads "PRGNAME [OPTION…] ARGS". */
  g_set_prgname (prgname);
  g_option_context_set_summary (context, command->summary);
  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_strict_posix (context, command->options_first);
  if (!g_option_context_parse (context, argc, argv, &error))
    {
      fprintf (stderr, "vcrun %s: %s (see 'vcrun %s --help')\n", command->name, error->message,
               command->name);
      return FALSE;
    }
  return TRUE;
}

int
vc_cli_command_run (VcCli *cli, const VcCliCommand *command, int argc, char **argv)
{
  gboolean through_bus = cli->bus && !command->in_process;
  if (through_bus)
    {
      /* vcrund has its own configuration and state dir: silently using
       * another one than asked would act on the wrong sandboxes. */
      if (cli->root || cli->config_file)
        return vc_cli_fail_msg ("%s --bus: %s applies to vcrun's own runtime, not to vcrund's "
                                "(see vcrund --config and --root)", command->name,
                                cli->root ? "--root" : "--config");
      if (command->run_bus == NULL)
        return vc_cli_fail_msg ("%s --bus=%s: not available through vcrund; run it without --bus",
                                command->name, cli->bus);
    }

  VcCliArgs args = { 0 };
  g_autoptr(GError) error = NULL;
  int status;
  if (!parse_options (command, &args, &argc, &argv))
    status = VC_EXIT_RUNTIME_FAILURE;
  else if (!command->check (command, &args, argc, argv, &error))
    status = vc_cli_fail (error);
  else if (through_bus)
    status = command->run_bus (cli, &args);
  else
    status = command->run_embedded (cli, &args);
  free_args (command, &args);
  return status;
}
