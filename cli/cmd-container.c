/* vcrun create, start, state, kill, delete, ps, pause, resume, list: the
 * OCI lifecycle commands. Each works from any process: state and list read
 * the saved state; the others ask the sandbox's owner (core/owner.h), except
 * delete --force of a sandbox whose owner is gone, which the core does
 * directly (it reattaches to the VM to stop it). */
#include "config.h"

#include <stdio.h>
#include <unistd.h>

#include <json-glib/json-glib.h>
#include <vcrun/types.h>
#include "cli.h"

/* The status as OCI reports it, accounting for a lost owner. */
static const char *
effective_status (VcSandbox *sandbox, VcContainer *container)
{
  /* No container yet: being created, unless its creator died. */
  if (container == NULL)
    return vc_sandbox_is_being_created (sandbox) ? "creating" : "stopped";
  if (vc_sandbox_get_state (sandbox) == VC_SANDBOX_STOPPED)
    return "stopped";
  /* Nobody holds the VM's connections any more: the container cannot be
   * reached, as runc reports a container whose init is gone. */
  if (!vc_owner_pid_alive (vc_sandbox_get_owner_pid (sandbox)))
    return "stopped";
  if (vc_sandbox_get_state (sandbox) == VC_SANDBOX_PAUSED)
    return "paused";
  return vc_container_state_to_string (vc_container_get_state (container));
}

/* The OCI state of container id (plus created, owner_pid, exit_status). */
static JsonObject *
container_state (VcSandbox *sandbox, VcContainer *container)
{
  gint owner_pid = vc_sandbox_get_owner_pid (sandbox);
  VcCliState state = {
    .id = vc_sandbox_get_id (sandbox),
    .status = effective_status (sandbox, container),
    .pid = container ? vc_container_get_pid (container) : 0,
    .bundle = container ? vc_container_get_bundle (container) : NULL,
    .created = container ? vc_container_get_created (container) : vc_sandbox_get_created (sandbox),
    .owner_pid = owner_pid,
    .owner_alive = vc_owner_pid_alive (owner_pid),
    .exit_status = container ? vc_container_get_exit_status (container) : -1,
  };
  return vc_cli_state_to_json (&state);
}

/* Loads the container; on failure prints the error, sets *status. */
static gboolean
open_container (VcCli *cli, const char *id, VcRuntime **runtime, VcSandbox **sandbox,
                VcContainer **container, int *status)
{
  g_autoptr(GError) error = NULL;
  *runtime = vc_cli_open_runtime (cli, &error);
  if (*runtime == NULL || !vc_cli_load (*runtime, id, sandbox, container, &error))
    {
      *status = vc_cli_fail (error);
      return FALSE;
    }
  return TRUE;
}

/* ---- create -------------------------------------------------------------- */

int
vc_cmd_create (VcCli *cli, int argc, char **argv)
{
  g_autofree char *bundle = NULL, *pid_file = NULL, *console_socket = NULL;
  g_autofree char *bundle_abs = NULL;
  g_autoptr(GError) error = NULL;
  gboolean terminal;
  int status;
  GOptionEntry entries[] = {
    { "bundle", 'b', 0, G_OPTION_ARG_FILENAME, &bundle, "bundle directory (default: the current one)", "DIR" },
    { "pid-file", 0, 0, G_OPTION_ARG_FILENAME, &pid_file, "write the container's pid to FILE", "FILE" },
    { "console-socket", 0, 0, G_OPTION_ARG_FILENAME, &console_socket, "not supported", "SOCKET" },
    { NULL }
  };
  if (!vc_cli_parse (vc_cli_command ("create"), entries, &argc, &argv, &status))
    return status;
  const char *id = vc_cli_single_id ("create", argc, argv, &status);
  if (id == NULL)
    return status;
  if (console_socket)
    return vc_cli_fail_msg ("create: --console-socket is not supported; the terminal's output goes to vcrun's stdout");
  if (!vc_cli_check_new_container (cli, id, bundle, &bundle_abs, &terminal, &error))
    return vc_cli_fail (error);
  return vc_cli_spawn_supervisor (cli, id, bundle_abs, pid_file, FALSE);
}

/* ---- start, pause, resume ------------------------------------------------ */

static int
simple_request (VcCli *cli, const char *command, const char *op, int argc, char **argv)
{
  g_autoptr(VcRuntime) runtime = NULL;
  g_autoptr(VcSandbox) sandbox = NULL;
  g_autoptr(VcContainer) container = NULL;
  g_autoptr(GError) error = NULL;
  int status;

  if (!vc_cli_parse (vc_cli_command (command), NULL, &argc, &argv, &status))
    return status;
  const char *id = vc_cli_single_id (command, argc, argv, &status);
  if (id == NULL || !open_container (cli, id, &runtime, &sandbox, &container, &status))
    return status;
  g_autoptr(JsonObject) reply = vc_owner_call (sandbox, op, NULL, &error);
  if (reply == NULL)
    return g_str_equal (op, "start") ? vc_cli_fail_exec (error) : vc_cli_fail (error);
  return 0;
}

int
vc_cmd_start (VcCli *cli, int argc, char **argv)
{
  return simple_request (cli, "start", "start", argc, argv);
}

int
vc_cmd_pause (VcCli *cli, int argc, char **argv)
{
  return simple_request (cli, "pause", "pause", argc, argv);
}

int
vc_cmd_resume (VcCli *cli, int argc, char **argv)
{
  return simple_request (cli, "resume", "resume", argc, argv);
}

/* ---- state --------------------------------------------------------------- */

int
vc_cmd_state (VcCli *cli, int argc, char **argv)
{
  g_autoptr(VcRuntime) runtime = NULL;
  g_autoptr(VcSandbox) sandbox = NULL;
  g_autoptr(VcContainer) container = NULL;
  int status;

  if (!vc_cli_parse (vc_cli_command ("state"), NULL, &argc, &argv, &status))
    return status;
  const char *id = vc_cli_single_id ("state", argc, argv, &status);
  if (id == NULL || !open_container (cli, id, &runtime, &sandbox, &container, &status))
    return status;
  g_autoptr(JsonObject) state = container_state (sandbox, container);
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), state);
  vc_cli_print_json (node);
  return 0;
}

/* ---- kill ---------------------------------------------------------------- */

int
vc_cmd_kill (VcCli *cli, int argc, char **argv)
{
  g_autoptr(VcRuntime) runtime = NULL;
  g_autoptr(VcSandbox) sandbox = NULL;
  g_autoptr(VcContainer) container = NULL;
  g_autoptr(GError) error = NULL;
  gboolean all = FALSE;
  int status, signum = 15;
  GOptionEntry entries[] = {
    { "all", 'a', 0, G_OPTION_ARG_NONE, &all, "signal every process of the container", NULL },
    { NULL }
  };
  if (!vc_cli_parse (vc_cli_command ("kill"), entries, &argc, &argv, &status))
    return status;
  if (argc < 2)
    return vc_cli_fail_msg ("kill: missing container ID (see 'vcrun kill --help')");
  if (argc > 3)
    return vc_cli_fail_msg ("kill: unexpected argument '%s'", argv[3]);
  if (argc == 3 && !vc_cli_parse_signal (argv[2], &signum, &error))
    return vc_cli_fail (error);
  if (!open_container (cli, argv[1], &runtime, &sandbox, &container, &status))
    return status;

  g_autoptr(JsonObject) args = json_object_new ();
  json_object_set_int_member (args, "signal", signum);
  json_object_set_boolean_member (args, "all", all);
  g_autoptr(JsonObject) reply = vc_owner_call (sandbox, "kill", args, &error);
  if (reply == NULL)
    return vc_cli_fail (error);
  return 0;
}

/* ---- delete -------------------------------------------------------------- */

int
vc_cmd_delete (VcCli *cli, int argc, char **argv)
{
  g_autoptr(VcRuntime) runtime = NULL;
  g_autoptr(VcSandbox) sandbox = NULL;
  g_autoptr(VcContainer) container = NULL;
  g_autoptr(GError) error = NULL;
  gboolean force = FALSE;
  int status;
  GOptionEntry entries[] = {
    { "force", 'f', 0, G_OPTION_ARG_NONE, &force, "delete a running container too (it is killed)", NULL },
    { NULL }
  };
  if (!vc_cli_parse (vc_cli_command ("delete"), entries, &argc, &argv, &status))
    return status;
  const char *id = vc_cli_single_id ("delete", argc, argv, &status);
  if (id == NULL || !open_container (cli, id, &runtime, &sandbox, &container, &status))
    return status;

  gint owner_pid = vc_sandbox_get_owner_pid (sandbox);
  if (vc_owner_pid_alive (owner_pid))
    {
      g_autoptr(JsonObject) args = json_object_new ();
      json_object_set_boolean_member (args, "force", force);
      g_autoptr(JsonObject) reply = vc_owner_call (sandbox, "delete", args, &error);
      if (reply != NULL)
        return 0;
      /* An owner that went away meanwhile is handled below. */
      if (!g_error_matches (error, VC_ERROR, VC_ERROR_STOPPED) || vc_owner_pid_alive (owner_pid))
        return vc_cli_fail (error);
      g_clear_error (&error);
    }
  if (!force)
    return vc_cli_fail_msg ("sandbox %s has no owner (process %d is gone); "
                            "'vcrun delete --force %s' stops its VM and removes it", id, owner_pid, id);
  if (!vc_sandbox_delete (sandbox, TRUE, &error))
    return vc_cli_fail (error);
  return 0;
}

/* ---- ps ------------------------------------------------------------------ */

void
vc_cli_print_processes (JsonArray *processes, const char *format)
{
  if (format && g_str_equal (format, "json"))
    {
      g_autoptr(JsonNode) node = json_node_init_array (json_node_alloc (), processes);
      vc_cli_print_json (node);
      return;
    }
  printf ("%-24s %-6s %-9s %s\n", "PROCESS", "INIT", "STATUS", "EXIT");
  for (guint i = 0; i < json_array_get_length (processes); i++)
    {
      JsonObject *p = json_array_get_object_element (processes, i);
      if (p == NULL)
        continue;
      gint64 exit_status = json_object_get_int_member_with_default (p, "exit_status", -1);
      g_autofree char *exit_text = exit_status >= 0 ? g_strdup_printf ("%" G_GINT64_FORMAT, exit_status)
                                                    : g_strdup ("-");
      printf ("%-24s %-6s %-9s %s\n", json_object_get_string_member_with_default (p, "exec_id", "?"),
              json_object_get_boolean_member_with_default (p, "init", FALSE) ? "yes" : "no",
              json_object_get_string_member_with_default (p, "status", "?"), exit_text);
    }
}

int
vc_cmd_ps (VcCli *cli, int argc, char **argv)
{
  g_autoptr(VcRuntime) runtime = NULL;
  g_autoptr(VcSandbox) sandbox = NULL;
  g_autoptr(VcContainer) container = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *format = NULL;
  int status;
  GOptionEntry entries[] = {
    { "format", 'f', 0, G_OPTION_ARG_STRING, &format, "table (default) or json", "FORMAT" },
    { NULL }
  };
  if (!vc_cli_parse (vc_cli_command ("ps"), entries, &argc, &argv, &status))
    return status;
  if (format && !g_str_equal (format, "table") && !g_str_equal (format, "json"))
    return vc_cli_fail_msg ("ps: --format takes table or json, not '%s'", format);
  const char *id = vc_cli_single_id ("ps", argc, argv, &status);
  if (id == NULL || !open_container (cli, id, &runtime, &sandbox, &container, &status))
    return status;
  g_autoptr(JsonObject) reply = vc_owner_call (sandbox, "ps", NULL, &error);
  if (reply == NULL)
    return vc_cli_fail (error);
  JsonArray *processes = json_object_get_array_member (reply, "processes");
  if (processes == NULL)
    return vc_cli_fail_msg ("ps: the owner of %s sent no process list", id);

  vc_cli_print_processes (processes, format);
  return 0;
}

/* ---- list ---------------------------------------------------------------- */

int
vc_cmd_list (VcCli *cli, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *format = NULL;
  gboolean quiet = FALSE;
  int status;
  GOptionEntry entries[] = {
    { "format", 'f', 0, G_OPTION_ARG_STRING, &format, "table (default) or json", "FORMAT" },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "print the IDs only", NULL },
    { NULL }
  };
  if (!vc_cli_parse (vc_cli_command ("list"), entries, &argc, &argv, &status))
    return status;
  if (format && !g_str_equal (format, "table") && !g_str_equal (format, "json"))
    return vc_cli_fail_msg ("list: --format takes table or json, not '%s'", format);
  if (argc > 1)
    return vc_cli_fail_msg ("list: unexpected argument '%s'", argv[1]);

  g_autoptr(VcRuntime) runtime = vc_cli_open_runtime (cli, &error);
  if (runtime == NULL)
    return vc_cli_fail (error);
  g_autoptr(GPtrArray) ids = vc_sandbox_list (runtime, &error);
  if (ids == NULL)
    return vc_cli_fail (error);

  g_autoptr(JsonArray) list = json_array_new ();
  for (guint i = 0; i < ids->len; i++)
    {
      const char *id = g_ptr_array_index (ids, i);
      g_autoptr(VcSandbox) sandbox = NULL;
      g_autoptr(VcContainer) container = NULL;
      g_autoptr(GError) local = NULL;
      /* Deleted meanwhile: not listed. */
      if (!vc_cli_load (runtime, id, &sandbox, &container, &local))
        continue;
      json_array_add_object_element (list, container_state (sandbox, container));
    }

  vc_cli_print_states (list, format, quiet);
  return 0;
}
