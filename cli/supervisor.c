/* vcrun create (and run --detach): the detached sandbox supervisor.
 *
 * The calling vcrun forks, the child starts a new session and forks again:
 * the grandchild, reparented away from the caller (to conmon, a subreaper,
 * under podman), is the supervisor. It boots the sandbox, creates the
 * container, reports success or the error back through a pipe, then owns
 * the sandbox (core/owner.h): it serves owner.sock and forwards the
 * container's stdio to the stdio it inherited from the caller, as runc's
 * create passes the caller's stdio to the container, or to a pty whose
 * master went to --console-socket.
 *
 * It is the container's pid for OCI callers (--pid-file, state): it lives
 * exactly as long as the container's init. When the init exits, the output
 * is drained, the status recorded, the VM stopped, and the supervisor exits
 * with that status; `delete` then removes what is left. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib-unix.h>
#include <vcrun/types.h>
#include "cli.h"

static void
report (int fd, int status, const char *message)
{
  g_autofree char *text = g_strdup_printf ("%d\n%s", status, message ? message : "");
  gsize len = strlen (text), done = 0;
  while (done < len)
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

/* Stops and removes everything made so far. */
static void
undo (VcOwner *owner, VcSandbox *sandbox, VcContainer *container)
{
  g_autoptr(GError) error = NULL;
  if (owner)
    vc_owner_free (owner);
  if (container && !vc_container_delete (container, TRUE, &error))
    {
      g_debug ("undo: %s", error->message);
      g_clear_error (&error);
    }
  if (sandbox && !vc_sandbox_delete (sandbox, TRUE, &error))
    g_warning ("cannot remove sandbox %s: %s", vc_sandbox_get_id (sandbox), error->message);
}

/* What the supervisor waits for once the container is created. */
typedef struct {
  GMainLoop   *loop;
  VcContainer *container;
  int          console;        /* the pty's slave, or -1 */
  gboolean     deleted;
  int          exit_status;
  gboolean     resize_pending;
} Supervision;

static void
on_owner_event (VcOwner *owner, gboolean deleted, int exit_status, gpointer data)
{
  Supervision *sv = data;
  (void) owner;
  sv->deleted = deleted;
  sv->exit_status = exit_status;
  g_main_loop_quit (sv->loop);
}

/* The console's size, to the guest's terminal. Before the process runs the
 * guest has no terminal to resize: retried until it does. */
static gboolean
push_console_size (gpointer data)
{
  Supervision *sv = data;
  guint rows, columns;
  g_autoptr(GError) error = NULL;
  if (!vc_cli_terminal_size (sv->console, &rows, &columns))
    return G_SOURCE_CONTINUE;
  VcContainerState state = vc_container_get_state (sv->container);
  if (state == VC_CONTAINER_RUNNING || state == VC_CONTAINER_PAUSED)
    {
      if (!sv->resize_pending)
        return G_SOURCE_CONTINUE;
      if (vc_container_resize_tty (sv->container, NULL, rows, columns, &error))
        sv->resize_pending = FALSE;
      else
        g_debug ("resize: %s", error->message);
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
push_console_size_once (gpointer data)
{
  push_console_size (data);
  return G_SOURCE_REMOVE;
}

/* The process has a terminal from the moment it runs: give it the
 * console's size at once (a shell asks for it first thing). */
static void
on_sandbox_changed (VcSandbox *sandbox, VcContainer *container, gpointer data)
{
  Supervision *sv = data;
  (void) sandbox;
  if (container && vc_container_get_state (container) == VC_CONTAINER_RUNNING)
    g_idle_add (push_console_size_once, sv);
}

static gboolean
on_winch (gpointer data)
{
  Supervision *sv = data;
  sv->resize_pending = TRUE;
  push_console_size (sv);
  return G_SOURCE_CONTINUE;
}

/* Until the init exits (or a delete request came first). Returns the exit
 * status for the supervisor. */
static int
supervise_until_exit (VcSandbox *sandbox, VcContainer *container, VcOwner *owner, int console)
{
  Supervision sv = {
    .loop = g_main_loop_new (NULL, FALSE), .container = container, .console = console,
    .exit_status = -1, .resize_pending = TRUE,
  };
  guint winch = 0, retry = 0;
  vc_owner_set_notify (owner, NULL, on_owner_event, &sv);
  if (console >= 0)
    {
      winch = g_unix_signal_add (SIGWINCH, on_winch, &sv);
      retry = g_timeout_add (250, push_console_size, &sv);
      vc_owner_set_changed_func (owner, on_sandbox_changed, &sv);
    }
  g_main_loop_run (sv.loop);
  if (console >= 0)
    vc_owner_set_changed_func (owner, NULL, NULL);
  if (winch)
    g_source_remove (winch);
  if (retry)
    g_source_remove (retry);
  g_main_loop_unref (sv.loop);
  /* Deleted before its init's exit was seen: it was killed with its VM. */
  if (sv.deleted)
    {
      int status = vc_owner_get_exit_status (owner);
      vc_owner_free (owner);
      return status >= 0 ? status : 128 + SIGKILL;
    }

  /* The VM stops while the owner still serves: a kill or delete meanwhile
   * gets an answer (the core serialises it with the stop). */
  g_autoptr(GError) error = NULL;
  if (!vc_sandbox_stop (sandbox, &error) && !g_error_matches (error, VC_ERROR, VC_ERROR_NOT_FOUND)
      && !g_error_matches (error, VC_ERROR, VC_ERROR_INVALID_STATE))
    g_warning ("stopping sandbox %s after its container exited: %s", vc_sandbox_get_id (sandbox),
               error->message);
  /* No more requests; one being served (a delete) is waited for. */
  vc_owner_free (owner);
  g_message ("container %s exited with status %d; sandbox stopped", vc_sandbox_get_id (sandbox),
             sv.exit_status);
  return vc_cli_status_to_exit (sv.exit_status);
}

static int
supervise (VcCli *cli, const char *id, const char *bundle, const char *pid_file,
           const char *console_socket, gboolean start, int report_fd)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VcRuntime) runtime = NULL;
  g_autoptr(VcSandbox) sandbox = NULL;
  g_autoptr(VcContainer) container = NULL;
  g_autofree char *netns = NULL;   /* declared before the first goto fail */
  VcSandboxOptions options = { 0 };
  VcOwner *owner = NULL;
  int status = VC_EXIT_RUNTIME_FAILURE;
  int console = -1;

  /* The pty first: a socket nobody listens on should not cost a boot. */
  if (console_socket && ((console = vc_cli_console_open (console_socket, &error)) < 0
                         || !vc_cli_console_control (console, &error)))
    goto fail;
  runtime = vc_cli_open_runtime (cli, &error);
  if (runtime == NULL)
    goto fail;
  /* linux.resources on the host: the VMM and its helpers start in it */
  if (!vc_runtime_enter_host_cgroup (runtime, bundle, &error))
    goto fail;
  if (!vc_bundle_network_namespace (bundle, &netns, &error))
    goto fail;
  options.netns = netns;
  options.bundle = bundle;   /* its block volumes are cold-plugged at boot */
  sandbox = vc_sandbox_create (runtime, id, &options, &error);
  if (sandbox == NULL)
    goto fail;
  container = vc_container_create (sandbox, id, bundle, &error);
  if (container == NULL)
    goto fail;
  /* READY -> RUNNING: `vcrun start` then starts only the container. */
  if (!vc_sandbox_start (sandbox, &error))
    goto fail;
  owner = vc_owner_new (sandbox, container, &error);
  if (owner == NULL)
    goto fail;
  /* A terminal's keys belong to the caller's shell once it has returned. */
  if (console >= 0)
    vc_owner_set_init_stdio (owner, console, console, -1);
  else
    vc_owner_set_init_stdio (owner, isatty (STDIN_FILENO) ? -1 : STDIN_FILENO, STDOUT_FILENO,
                             STDERR_FILENO);
  if (start && !vc_owner_start (owner, &error))
    {
      status = vc_cli_exec_failure_status (error);
      goto fail;
    }
  if (pid_file && !vc_cli_write_pid_file (pid_file, getpid (), &error))
    goto fail;
  report (report_fd, 0, NULL);

  status = supervise_until_exit (sandbox, container, owner, console);
  if (console >= 0)
    close (console);
  return status;

fail:
  undo (owner, sandbox, container);
  vc_host_cgroup_release ();
  if (console >= 0)
    close (console);
  report (report_fd, status, error->message);
  return status;
}

int
vc_cli_spawn_supervisor (VcCli *cli, const char *id, const char *bundle_abs,
                         const char *pid_file, const char *console_socket, gboolean start)
{
  g_autoptr(GError) error = NULL;
  int fds[2];

  if (!g_unix_open_pipe (fds, FD_CLOEXEC, &error))
    return vc_cli_fail (error);
  /* The supervisor outlives this process and changes to /: relative paths
   * would mean something else there. */
  g_autofree char *pid_file_abs = pid_file ? g_canonicalize_filename (pid_file, NULL) : NULL;
  g_autofree char *console_abs = console_socket ? g_canonicalize_filename (console_socket, NULL) : NULL;
  if (cli->config_file)
    {
      char *abs = g_canonicalize_filename (cli->config_file, NULL);
      g_free (cli->config_file);
      cli->config_file = abs;
    }
  if (cli->root)
    {
      char *abs = g_canonicalize_filename (cli->root, NULL);
      g_free (cli->root);
      cli->root = abs;
    }
  fflush (stdout);
  fflush (stderr);

  pid_t child = fork ();
  if (child < 0)
    return vc_cli_fail_msg ("cannot fork the sandbox supervisor: %s", g_strerror (errno));
  if (child == 0)
    {
      close (fds[0]);
      if (setsid () < 0)
        _exit (VC_EXIT_RUNTIME_FAILURE);
      pid_t grandchild = fork ();
      if (grandchild != 0)
        _exit (grandchild < 0 ? VC_EXIT_RUNTIME_FAILURE : 0);
      if (chdir ("/") < 0)
        _exit (VC_EXIT_RUNTIME_FAILURE);
      _exit (supervise (cli, id, bundle_abs, pid_file_abs, console_abs, start, fds[1]));
    }

  close (fds[1]);
  int child_status;
  while (waitpid (child, &child_status, 0) < 0 && errno == EINTR)
    ;
  g_autoptr(GString) text = g_string_new (NULL);
  char buf[4096];
  ssize_t n;
  while ((n = read (fds[0], buf, sizeof buf)) != 0)
    {
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          break;
        }
      g_string_append_len (text, buf, n);
    }
  close (fds[0]);

  const char *newline = strchr (text->str, '\n');
  g_autofree char *first = newline ? g_strndup (text->str, newline - text->str) : NULL;
  guint64 status;
  if (first == NULL || !g_ascii_string_to_unsigned (first, 10, 0, 255, &status, NULL))
    return vc_cli_fail_msg ("the supervisor of sandbox %s ended before reporting (run with --debug or --log to see why)",
                            id);
  if (status != 0)
    {
      vc_cli_fail_msg ("%s", newline + 1);
      return (int) status;
    }
  return 0;
}
