/* vcrun run: boot a sandbox, run the bundle's process attached, exit with
 * its status.
 *
 * Attached, this vcrun process is the sandbox's owner (core/owner.h): other
 * vcrun invocations reach the container through owner.sock while it runs.
 * The sandbox is booted on a worker thread while the main loop handles
 * signals: SIGINT, SIGTERM and SIGHUP go to the process once it runs (before
 * that, they abort the boot), SIGWINCH resizes its terminal. When the process
 * exits, the sandbox is deleted and vcrun exits with the process's status.
 * With --detach, a supervisor is forked as `create` does and the container
 * started; vcrun exits at once. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <glib-unix.h>
#include <json-glib/json-glib.h>
#include <vcrun/types.h>
#include "cli.h"

typedef struct {
  VcCli         *cli;
  const char    *id;
  const char    *bundle;
  const char    *pid_file;
  gboolean       tty;
  GMainLoop     *loop;

  VcRuntime     *runtime;
  VcSandbox     *sandbox;
  VcContainer   *container;
  VcOwner       *owner;
  GError        *setup_error;
  gboolean       setup_done;
  int            pending_signal;   /* received before the process ran */

  gboolean       finished;
  gboolean       deleted_elsewhere;
  int            exit_status;
  VcCliTerminal *terminal;
} Run;

static void
resize (Run *run)
{
  guint rows, columns;
  g_autoptr(GError) error = NULL;
  if (run->tty && vc_cli_terminal_size (STDIN_FILENO, &rows, &columns)
      && !vc_container_resize_tty (run->container, NULL, rows, columns, &error))
    g_debug ("resize: %s", error->message);
}

typedef struct {
  Run *run;
  int  signum;
} SignalTag;

static gboolean
on_signal (gpointer data)
{
  SignalTag *tag = data;
  Run *run = tag->run;
  int signum = tag->signum;
  g_autoptr(GError) error = NULL;

  if (!run->setup_done || run->finished)
    {
      if (signum != SIGWINCH && g_atomic_int_get (&run->pending_signal) == 0)
        g_atomic_int_set (&run->pending_signal, signum);
      return G_SOURCE_CONTINUE;
    }
  if (signum == SIGWINCH)
    resize (run);
  else if (!vc_container_signal (run->container, NULL, signum, FALSE, &error))
    g_debug ("forwarding signal %d: %s", signum, error->message);
  return G_SOURCE_CONTINUE;
}

static void
on_owner_event (VcOwner *owner, gboolean deleted, int exit_status, gpointer data)
{
  Run *run = data;
  (void) owner;
  if (deleted)
    run->deleted_elsewhere = TRUE;
  else
    run->exit_status = exit_status;
  run->finished = TRUE;
  g_main_loop_quit (run->loop);
}

static gboolean
setup_finished (gpointer data)
{
  Run *run = data;
  run->setup_done = TRUE;
  if (run->setup_error || run->pending_signal)
    {
      g_main_loop_quit (run->loop);
      return G_SOURCE_REMOVE;
    }
  if (run->tty)
    {
      run->terminal = vc_cli_terminal_raw (STDIN_FILENO);
      resize (run);
    }
  return G_SOURCE_REMOVE;
}

/* On the worker thread: everything up to the running process. */
static gpointer
setup_thread (gpointer data)
{
  Run *run = data;
  GError **error = &run->setup_error;

  g_autofree char *netns = NULL;
  run->runtime = vc_cli_open_runtime (run->cli, error);
  /* linux.resources on the host: the VMM and its helpers start in it */
  if (run->runtime && vc_runtime_enter_host_cgroup (run->runtime, run->bundle, error)
      && vc_bundle_network_namespace (run->bundle, &netns, error))
    {
      /* the bundle's block volumes are cold-plugged at boot */
      VcSandboxOptions options = { .netns = netns, .bundle = run->bundle };
      run->sandbox = vc_sandbox_create (run->runtime, run->id, &options, error);
    }
  if (run->sandbox)
    run->container = vc_container_create (run->sandbox, run->id, run->bundle, error);
  /* READY -> RUNNING: the sandbox takes containers' processes now. */
  if (run->container && vc_sandbox_start (run->sandbox, error))
    run->owner = vc_owner_new (run->sandbox, run->container, error);
  if (run->owner)
    {
      vc_owner_set_init_stdio (run->owner, STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO);
      vc_owner_set_notify (run->owner, NULL, on_owner_event, run);
      if (run->pid_file && !vc_cli_write_pid_file (run->pid_file, getpid (), error))
        ;
      else if (g_atomic_int_get (&run->pending_signal) == 0)
        vc_owner_start (run->owner, error);
    }
  /* Queued: a quit before g_main_loop_run would be lost. */
  g_idle_add (setup_finished, run);
  return NULL;
}

int
vc_cmd_run (VcCli *cli, const VcCliArgs *args)
{
  g_autofree char *bundle_abs = NULL, *bundle_copy = NULL;
  g_autoptr(GError) error = NULL;
  gboolean spec_terminal = FALSE;
  const char *id = args->id, *pid_file = args->pid_file;
  int status;

  if (!vc_cli_check_new_container (cli, id, args->bundle, &bundle_abs, &spec_terminal, &error))
    return vc_cli_fail (error);
  if (args->detach)
    return vc_cli_spawn_supervisor (cli, id, bundle_abs, pid_file, NULL, TRUE);
  if (args->tty && !spec_terminal
      && (bundle_copy = vc_cli_bundle_with_terminal (bundle_abs, &error)) == NULL)
    return vc_cli_fail (error);

  Run run = {
    .cli = cli, .id = id, .bundle = bundle_copy ? bundle_copy : bundle_abs, .pid_file = pid_file,
    .tty = args->tty || spec_terminal, .exit_status = -1,
  };
  run.loop = g_main_loop_new (NULL, FALSE);
  static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGWINCH };
  guint sources[G_N_ELEMENTS (forwarded)];
  SignalTag tags[G_N_ELEMENTS (forwarded)];
  for (gsize i = 0; i < G_N_ELEMENTS (forwarded); i++)
    {
      tags[i] = (SignalTag) { &run, forwarded[i] };
      sources[i] = g_unix_signal_add (forwarded[i], on_signal, &tags[i]);
    }

  GThread *setup = g_thread_new ("vcrun-setup", setup_thread, &run);
  g_main_loop_run (run.loop);
  g_thread_join (setup);
  vc_cli_terminal_restore (run.terminal);

  if (run.setup_error)
    status = vc_cli_fail_exec (run.setup_error);
  else if (run.deleted_elsewhere)
    status = vc_cli_fail_msg ("container %s was deleted by another vcrun", id);
  else if (!run.finished)
    status = 128 + run.pending_signal;      /* interrupted before it ran */
  else if (run.exit_status < 0)
    status = vc_cli_fail_msg ("could not get the exit status of container %s", id);
  else
    status = run.exit_status;

  /* Leave nothing behind: the VM stops and the state goes. */
  if (run.owner)
    vc_owner_free (run.owner);
  if (run.container && !run.deleted_elsewhere && !vc_container_delete (run.container, TRUE, &error))
    {
      g_debug ("deleting container %s: %s", id, error->message);
      g_clear_error (&error);
    }
  /* A `vcrun delete --force` from elsewhere may have got there first. */
  if (run.sandbox && !run.deleted_elsewhere && !vc_sandbox_delete (run.sandbox, TRUE, &error)
      && !g_error_matches (error, VC_ERROR, VC_ERROR_NOT_FOUND))
    {
      vc_cli_fail (error);
      if (status == 0)
        status = VC_EXIT_RUNTIME_FAILURE;
    }
  vc_host_cgroup_release ();
  if (pid_file)
    unlink (pid_file);
  if (bundle_copy)
    vc_cli_remove_bundle_copy (bundle_copy);

  for (gsize i = 0; i < G_N_ELEMENTS (forwarded); i++)
    {
      g_source_remove (sources[i]);
    }
  g_clear_pointer (&run.container, vc_container_unref);
  g_clear_pointer (&run.sandbox, vc_sandbox_unref);
  g_clear_pointer (&run.runtime, vc_runtime_unref);
  g_clear_error (&run.setup_error);
  g_main_loop_unref (run.loop);
  return status;
}
