/* vcrun exec: run another process in a running container, attached.
 *
 * The process is started by the sandbox's owner, which receives this vcrun's
 * stdin, stdout and stderr as file descriptors (SCM_RIGHTS) and forwards the
 * process's stdio to and from them; vcrun waits for the owner's second reply,
 * the exit status, and exits with it. The process's defaults (env, cwd,
 * user, capabilities) come from the container's config.json, as runc's exec
 * does; the options override them. */
#include "config.h"

#include <signal.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>

#include <glib-unix.h>
#include <json-glib/json-glib.h>
#include <vcrun/types.h>
#include "cli.h"

typedef struct {
  VcSandbox     *sandbox;
  VcOwnerClient *client;
  const char    *exec_id;
  gboolean       tty;
  GMainLoop     *loop;
  JsonObject    *result;
  GError        *error;
} Exec;

typedef struct {
  Exec *exec;
  int   signum;
} SignalTag;

static void
resize (Exec *exec)
{
  guint rows, columns;
  g_autoptr(GError) error = NULL;
  if (!exec->tty || !vc_cli_terminal_size (STDIN_FILENO, &rows, &columns))
    return;
  g_autoptr(JsonObject) args = json_object_new ();
  json_object_set_string_member (args, "exec_id", exec->exec_id);
  json_object_set_int_member (args, "rows", rows);
  json_object_set_int_member (args, "columns", columns);
  g_autoptr(JsonObject) reply = vc_owner_call (exec->sandbox, "resize", args, &error);
  if (reply == NULL)
    g_debug ("resize: %s", error->message);
}

static gboolean
on_signal (gpointer data)
{
  SignalTag *tag = data;
  g_autoptr(GError) error = NULL;
  if (tag->signum == SIGWINCH)
    {
      resize (tag->exec);
      return G_SOURCE_CONTINUE;
    }
  g_autoptr(JsonObject) args = json_object_new ();
  json_object_set_string_member (args, "exec_id", tag->exec->exec_id);
  json_object_set_int_member (args, "signal", tag->signum);
  g_autoptr(JsonObject) reply = vc_owner_call (tag->exec->sandbox, "kill", args, &error);
  if (reply == NULL)
    g_debug ("forwarding signal %d: %s", tag->signum, error->message);
  return G_SOURCE_CONTINUE;
}

static gboolean
quit_loop (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

static gpointer
wait_thread (gpointer data)
{
  Exec *exec = data;
  exec->result = vc_owner_client_receive (exec->client, -1, &exec->error);
  /* Queued: a quit before g_main_loop_run would be lost. */
  g_idle_add (quit_loop, exec->loop);
  return NULL;
}

int
vc_cmd_exec (VcCli *cli, const VcCliArgs *args)
{
  g_autoptr(GError) error = NULL;
  const char *id = args->id, *exec_id = args->exec_id;
  gboolean tty = args->tty;
  int status;

  g_autoptr(VcRuntime) runtime = vc_cli_open_runtime (cli, &error);
  g_autoptr(VcSandbox) sandbox = NULL;
  g_autoptr(VcContainer) container = NULL;
  if (runtime == NULL || !vc_cli_load (runtime, id, &sandbox, &container, &error))
    return vc_cli_fail (error);
  if (container == NULL)
    return vc_cli_fail_msg ("container %s is still being created", id);

  g_autoptr(JsonNode) process = vc_cli_exec_process (vc_container_get_bundle (container), args->command,
                                                     tty, args->cwd, args->env, args->user, &error);
  if (process == NULL)
    return vc_cli_fail (error);

  g_autoptr(JsonObject) request = json_object_new ();
  json_object_set_string_member (request, "op", "exec");
  json_object_set_string_member (request, "exec_id", exec_id);
  json_object_set_member (request, "process", json_node_ref (process));
  json_object_set_boolean_member (request, "stdin", TRUE);
  json_object_set_boolean_member (request, "stdout", TRUE);
  json_object_set_boolean_member (request, "stderr", !tty);
  int fds[3] = { STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO };
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), request);

  Exec exec = { .sandbox = sandbox, .exec_id = exec_id, .tty = tty };
  exec.client = vc_owner_client_connect (sandbox, &error);
  if (exec.client == NULL || !vc_owner_client_send (exec.client, node, fds, tty ? 2 : 3, &error))
    {
      g_clear_pointer (&exec.client, vc_owner_client_free);
      return vc_cli_fail (error);
    }
  g_autoptr(JsonObject) started = vc_owner_client_receive (exec.client, VC_OWNER_CLIENT_TIMEOUT_MS, &error);
  if (started == NULL)
    {
      vc_owner_client_free (exec.client);
      return vc_cli_fail_exec (error);
    }

  VcCliTerminal *terminal = tty ? vc_cli_terminal_raw (STDIN_FILENO) : NULL;
  resize (&exec);
  exec.loop = g_main_loop_new (NULL, FALSE);
  static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGWINCH };
  SignalTag tags[G_N_ELEMENTS (forwarded)];
  guint sources[G_N_ELEMENTS (forwarded)];
  for (gsize i = 0; i < G_N_ELEMENTS (forwarded); i++)
    {
      tags[i] = (SignalTag) { &exec, forwarded[i] };
      sources[i] = g_unix_signal_add (forwarded[i], on_signal, &tags[i]);
    }
  GThread *waiter = g_thread_new ("vcrun-exec-wait", wait_thread, &exec);
  g_main_loop_run (exec.loop);
  g_thread_join (waiter);
  vc_cli_terminal_restore (terminal);
  for (gsize i = 0; i < G_N_ELEMENTS (forwarded); i++)
    g_source_remove (sources[i]);
  g_main_loop_unref (exec.loop);
  vc_owner_client_free (exec.client);

  if (exec.result == NULL)
    {
      status = vc_cli_fail (exec.error);
      g_clear_error (&exec.error);
      return status;
    }
  gint64 exit_status = json_object_get_int_member_with_default (exec.result, "exit_status", -1);
  json_object_unref (exec.result);
  if (exit_status < 0 || exit_status > 255)
    return vc_cli_fail_msg ("could not get the exit status of process %s", exec_id);
  return (int) exit_status;
}
