/* vcrun exec: run another process in a running container.
 *
 * The process is started by the sandbox's owner, which receives this vcrun's
 * stdin, stdout and stderr as file descriptors (SCM_RIGHTS) and forwards the
 * process's stdio to and from them; vcrun waits for the owner's second reply,
 * the exit status, and exits with it. The process's defaults (env, cwd,
 * user, capabilities) come from the container's config.json, as runc's exec
 * does; the options override them. --process FILE gives the whole OCI
 * Process object instead (as podman's conmon does).
 *
 * With --detach (conmon's way) a forked child does all that and stands in
 * for the exec'd process: its pid goes to --pid-file once the process has
 * started, and it exits with the process's status, so that conmon, a
 * subreaper, reaps it as the process. With --console-socket, the process's
 * terminal is a host pty whose master goes to that socket. */
#include "config.h"

#include <errno.h>
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
  int            tty_fd;        /* whose size is the process's terminal's */
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
  if (!exec->tty || !vc_cli_terminal_size (exec->tty_fd, &rows, &columns))
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

/* Tells the parent of a detached exec that the process started (status 0)
 * or why not; closes fd. */
static void
report (int fd, int status, const char *message)
{
  if (fd < 0)
    return;
  g_autofree char *text = g_strdup_printf ("%d\n%s", status, message ? message : "");
  gsize len = strlen (text);
  for (gsize done = 0; done < len;)
    {
      ssize_t n = write (fd, text + done, len - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      done += n;
    }
  close (fd);
}

/* Prints the error (or sends it to the parent of a detached exec). */
static int
fail (int report_fd, int status, GError *error)
{
  if (report_fd < 0)
    vc_cli_fail (error);
  report (report_fd, status, error->message);
  return status;
}

/* The process to run: --process FILE's, or config.json's with the options. */
static JsonNode *
exec_process (const VcCliArgs *args, const char *bundle, gboolean *tty, GError **error)
{
  if (args->process == NULL)
    {
      *tty = args->tty;
      return vc_cli_exec_process (bundle, args->command, args->tty, args->cwd, args->env,
                                  args->user, error);
    }
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) local = NULL;
  if (!json_parser_load_from_file (parser, args->process, &local))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "--process %s: %s", args->process,
                   local->message);
      return NULL;
    }
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "--process %s: not a JSON object (an OCI Process)", args->process);
      return NULL;
    }
  JsonObject *process = json_node_get_object (root);
  if (args->tty)
    json_object_set_boolean_member (process, "terminal", TRUE);
  *tty = json_object_get_boolean_member_with_default (process, "terminal", FALSE);
  return json_node_copy (root);
}

/* Runs the exec'd process and waits for it. report_fd >= 0: a detached
 * exec's child, which reports the start to its parent there. */
static int
exec_and_wait (VcCli *cli, const VcCliArgs *args, int report_fd)
{
  g_autoptr(GError) error = NULL;
  const char *id = args->id, *exec_id = args->exec_id;
  gboolean tty = FALSE;
  int console = -1;

  g_autoptr(VcRuntime) runtime = vc_cli_open_runtime (cli, &error);
  g_autoptr(VcSandbox) sandbox = NULL;
  g_autoptr(VcContainer) container = NULL;
  if (runtime == NULL || !vc_cli_load (runtime, id, &sandbox, &container, &error))
    return fail (report_fd, VC_EXIT_RUNTIME_FAILURE, error);
  if (container == NULL)
    return fail (report_fd, VC_EXIT_RUNTIME_FAILURE,
                 g_error_new (VC_ERROR, VC_ERROR_INVALID_STATE, "container %s is still being created", id));

  g_autoptr(JsonNode) process = exec_process (args, vc_container_get_bundle (container), &tty, &error);
  if (process == NULL)
    return fail (report_fd, VC_EXIT_RUNTIME_FAILURE, error);
  if (args->console_socket && !tty)
    return fail (report_fd, VC_EXIT_RUNTIME_FAILURE,
                 g_error_new (VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                              "exec: --console-socket needs a terminal (--tty, or terminal in --process)"));
  if (args->console_socket)
    {
      console = vc_cli_console_open (args->console_socket, &error);
      if (console < 0)
        return fail (report_fd, VC_EXIT_RUNTIME_FAILURE, error);
      g_autoptr(GError) ctty_error = NULL;
      if (!vc_cli_console_control (console, &ctty_error))
        g_debug ("window size changes will not reach the process: %s", ctty_error->message);
    }

  g_autoptr(JsonObject) request = json_object_new ();
  json_object_set_string_member (request, "op", "exec");
  json_object_set_string_member (request, "exec_id", exec_id);
  json_object_set_member (request, "process", json_node_ref (process));
  json_object_set_boolean_member (request, "stdin", TRUE);
  json_object_set_boolean_member (request, "stdout", TRUE);
  json_object_set_boolean_member (request, "stderr", !tty);
  int fds[3] = { STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO };
  if (console >= 0)
    fds[0] = fds[1] = console;
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), request);

  Exec exec = { .sandbox = sandbox, .exec_id = exec_id, .tty = tty,
                .tty_fd = console >= 0 ? console : STDIN_FILENO };
  exec.client = vc_owner_client_connect (sandbox, &error);
  if (exec.client == NULL || !vc_owner_client_send (exec.client, node, fds, tty ? 2 : 3, &error))
    {
      g_clear_pointer (&exec.client, vc_owner_client_free);
      if (console >= 0)
        close (console);
      return fail (report_fd, VC_EXIT_RUNTIME_FAILURE, error);
    }
  g_autoptr(JsonObject) started = vc_owner_client_receive (exec.client, VC_OWNER_CLIENT_TIMEOUT_MS, &error);
  if (started == NULL)
    {
      vc_owner_client_free (exec.client);
      if (console >= 0)
        close (console);
      return fail (report_fd, vc_cli_exec_failure_status (error), error);
    }
  /* Started: this process stands for it from now on. */
  if (args->pid_file && !vc_cli_write_pid_file (args->pid_file, getpid (), &error))
    g_warning ("exec %s: %s", exec_id, error->message);
  g_clear_error (&error);
  report (report_fd, 0, NULL);

  VcCliTerminal *terminal = tty && console < 0 ? vc_cli_terminal_raw (STDIN_FILENO) : NULL;
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
  if (console >= 0)
    close (console);

  if (exec.result == NULL)
    {
      /* The owner went away with the VM (the container's init exited):
       * the process was killed with it. */
      gboolean killed = g_error_matches (exec.error, VC_ERROR, VC_ERROR_STOPPED)
                        || !vc_owner_pid_alive (vc_sandbox_get_owner_pid (sandbox));
      if (report_fd < 0 || !killed)
        vc_cli_fail (exec.error);
      g_clear_error (&exec.error);
      return killed ? 128 + SIGKILL : VC_EXIT_RUNTIME_FAILURE;
    }
  gint64 exit_status = json_object_get_int_member_with_default (exec.result, "exit_status", -1);
  json_object_unref (exec.result);
  if (exit_status < 0 || exit_status > 255)
    return vc_cli_fail_msg ("could not get the exit status of process %s", exec_id);
  return (int) exit_status;
}

/* --detach: the child stands in for the process; this process returns once
 * it has started. */
static int
exec_detached (VcCli *cli, const VcCliArgs *args)
{
  g_autoptr(GError) error = NULL;
  int fds[2];
  if (!g_unix_open_pipe (fds, FD_CLOEXEC, &error))
    return vc_cli_fail (error);
  fflush (stdout);
  fflush (stderr);
  pid_t child = fork ();
  if (child < 0)
    return vc_cli_fail_msg ("exec: cannot fork: %s", g_strerror (errno));
  if (child == 0)
    {
      close (fds[0]);
      _exit (exec_and_wait (cli, args, fds[1]));
    }
  close (fds[1]);
  g_autoptr(GString) text = g_string_new (NULL);
  char buf[4096];
  ssize_t n;
  while ((n = read (fds[0], buf, sizeof buf)) != 0)
    {
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        break;
      g_string_append_len (text, buf, n);
    }
  close (fds[0]);
  const char *newline = strchr (text->str, '\n');
  g_autofree char *first = newline ? g_strndup (text->str, newline - text->str) : NULL;
  guint64 status;
  if (first == NULL || !g_ascii_string_to_unsigned (first, 10, 0, 255, &status, NULL))
    return vc_cli_fail_msg ("exec: the process standing for %s ended before reporting", args->exec_id);
  if (status != 0)
    vc_cli_fail_msg ("%s", newline + 1);
  return (int) status;
}

int
vc_cmd_exec (VcCli *cli, const VcCliArgs *args)
{
  if (args->detach)
    return exec_detached (cli, args);
  return exec_and_wait (cli, args, -1);
}
