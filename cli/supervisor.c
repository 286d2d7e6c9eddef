/* vcrun create (and run --detach): the detached sandbox supervisor.
 *
 * The calling vcrun forks, the child starts a new session and forks again:
 * the grandchild, reparented away from the caller, is the supervisor. It
 * boots the sandbox, creates the container, reports success or the error
 * back through a pipe, then owns the sandbox (core/owner.h) until a delete
 * request: it serves owner.sock and forwards the container's stdio to the
 * stdio it inherited from the caller, as runc's create passes the caller's
 * stdio to the container. */
#include "config.h"

#include <errno.h>
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

static int
supervise (VcCli *cli, const char *id, const char *bundle, const char *pid_file, gboolean start,
           int report_fd)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VcSandbox) sandbox = NULL;
  g_autoptr(VcContainer) container = NULL;
  VcOwner *owner = NULL;
  int status = VC_EXIT_RUNTIME_FAILURE;

  g_autoptr(VcRuntime) runtime = vc_cli_open_runtime (cli, &error);
  if (runtime == NULL)
    goto fail;
  /* linux.resources on the host: the VMM and its helpers start in it */
  if (!vc_runtime_enter_host_cgroup (runtime, bundle, &error))
    goto fail;
  sandbox = vc_sandbox_create (runtime, id, NULL, &error);
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

  vc_owner_wait_deleted (owner);
  vc_owner_free (owner);
  return 0;

fail:
  undo (owner, sandbox, container);
  vc_host_cgroup_release ();
  report (report_fd, status, error->message);
  return status;
}

int
vc_cli_spawn_supervisor (VcCli *cli, const char *id, const char *bundle_abs,
                         const char *pid_file, gboolean start)
{
  g_autoptr(GError) error = NULL;
  int fds[2];

  if (!g_unix_open_pipe (fds, FD_CLOEXEC, &error))
    return vc_cli_fail (error);
  /* The supervisor outlives this process and changes to /: relative paths
   * would mean something else there. */
  g_autofree char *pid_file_abs = pid_file ? g_canonicalize_filename (pid_file, NULL) : NULL;
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
      _exit (supervise (cli, id, bundle_abs, pid_file_abs, start, fds[1]));
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
      fprintf (stderr, "vcrun: %s\n", newline + 1);
      return (int) status;
    }
  return 0;
}
