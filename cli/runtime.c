/* vcrun: what the container commands share — opening the runtime, finding a
 * container, checking a new one, signals, exit statuses, pid files. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <vcrun/types.h>
#include "cli.h"

VcRuntime *
vc_cli_open_runtime (VcCli *cli, GError **error)
{
  return vc_runtime_new (cli->config_file, cli->root, error);
}

gboolean
vc_cli_load (VcRuntime *runtime, const char *id, VcSandbox **sandbox_out,
             VcContainer **container_out, GError **error)
{
  g_autoptr(GError) local = NULL;

  if (!vc_id_validate (id, "container", error))
    return FALSE;
  g_autoptr(VcSandbox) sandbox = vc_sandbox_load (runtime, id, &local);
  if (sandbox == NULL)
    {
      if (g_error_matches (local, VC_ERROR, VC_ERROR_NOT_FOUND))
        g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "container %s does not exist", id);
      else
        g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  /* One container per sandbox, with the sandbox's ID. */
  *container_out = vc_sandbox_get_container (sandbox, id, NULL);
  *sandbox_out = g_steal_pointer (&sandbox);
  return TRUE;
}

gboolean
vc_cli_check_bundle (const char *id, const char *bundle, char **bundle_abs, gboolean *terminal,
                     GError **error)
{
  if (!vc_id_validate (id, "container", error))
    return FALSE;

  g_autofree char *abs = g_canonicalize_filename (bundle ? bundle : ".", NULL);
  if (!g_file_test (abs, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "no such bundle: %s is not a directory",
                   bundle ? bundle : abs);
      return FALSE;
    }
  g_autofree char *config_json = g_build_filename (abs, "config.json", NULL);
  if (!g_file_test (config_json, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND,
                   "no such bundle: %s has no config.json (write one with 'vcrun spec')", abs);
      return FALSE;
    }
  if (!vc_bundle_check (abs, terminal, error))
    return FALSE;
  *bundle_abs = g_steal_pointer (&abs);
  return TRUE;
}

gboolean
vc_cli_check_new_container (VcCli *cli, const char *id, const char *bundle, char **bundle_abs,
                            gboolean *terminal, GError **error)
{
  g_autofree char *abs = NULL;
  if (!vc_cli_check_bundle (id, bundle, &abs, terminal, error))
    return FALSE;
  /* The core refuses a duplicate too (atomically); asking first avoids
   * booting a VM only to be told. */
  g_autofree char *state_dir = vc_runtime_peek_state_dir (cli->config_file, cli->root, error);
  if (state_dir == NULL)
    return FALSE;
  g_autofree char *dir = g_build_filename (state_dir, id, NULL);
  if (g_file_test (dir, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_EXISTS,
                   "container ID %s is already in use (see 'vcrun list')", id);
      return FALSE;
    }
  *bundle_abs = g_steal_pointer (&abs);
  return TRUE;
}

int
vc_cli_exec_failure_status (const GError *error)
{
  /* The guest agent reports a failed execve as "cannot execute CMD: STRERROR"
   * (guest/agent/spawn.c). */
  const char *m = error ? error->message : NULL;
  if (m == NULL || strstr (m, "cannot execute ") == NULL)
    return VC_EXIT_RUNTIME_FAILURE;
  if (strstr (m, g_strerror (ENOENT)) || strstr (m, g_strerror (ENOTDIR)))
    return VC_EXIT_NOT_FOUND;
  return VC_EXIT_CANNOT_EXECUTE;
}

int
vc_cli_fail_exec (const GError *error)
{
  vc_cli_fail (error);
  return vc_cli_exec_failure_status (error);
}

int
vc_cli_status_to_exit (int status)
{
  return status < 0 || status > 255 ? VC_EXIT_RUNTIME_FAILURE : status;
}

static const struct {
  const char *name;
  int         number;
} signals[] = {
  { "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "ILL", SIGILL },
  { "TRAP", SIGTRAP }, { "ABRT", SIGABRT }, { "IOT", SIGIOT }, { "BUS", SIGBUS },
  { "FPE", SIGFPE }, { "KILL", SIGKILL }, { "USR1", SIGUSR1 }, { "SEGV", SIGSEGV },
  { "USR2", SIGUSR2 }, { "PIPE", SIGPIPE }, { "ALRM", SIGALRM }, { "TERM", SIGTERM },
  { "STKFLT", SIGSTKFLT }, { "CHLD", SIGCHLD }, { "CONT", SIGCONT }, { "STOP", SIGSTOP },
  { "TSTP", SIGTSTP }, { "TTIN", SIGTTIN }, { "TTOU", SIGTTOU }, { "URG", SIGURG },
  { "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ }, { "VTALRM", SIGVTALRM }, { "PROF", SIGPROF },
  { "WINCH", SIGWINCH }, { "IO", SIGIO }, { "POLL", SIGPOLL }, { "PWR", SIGPWR },
  { "SYS", SIGSYS },
};

gboolean
vc_cli_parse_signal (const char *text, int *signum, GError **error)
{
  guint64 number;
  if (g_ascii_string_to_unsigned (text, 10, 1, 64, &number, NULL))
    {
      *signum = (int) number;
      return TRUE;
    }
  const char *name = g_ascii_strncasecmp (text, "SIG", 3) == 0 ? text + 3 : text;
  for (gsize i = 0; i < G_N_ELEMENTS (signals); i++)
    if (g_ascii_strcasecmp (name, signals[i].name) == 0)
      {
        *signum = signals[i].number;
        return TRUE;
      }
  g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
               "unknown signal '%s' (use a name such as TERM or KILL, or a number from 1 to 64)",
               text);
  return FALSE;
}

gboolean
vc_cli_write_pid_file (const char *path, gint pid, GError **error)
{
  g_autofree char *text = g_strdup_printf ("%d", pid);
  g_autoptr(GError) local = NULL;
  if (!g_file_set_contents_full (path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0644, &local))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot write the pid file: %s", local->message);
      return FALSE;
    }
  return TRUE;
}
