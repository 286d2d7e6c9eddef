/* hypervisor-qemu: does QEMU run a KVM vCPU on this host?
 *
 * /dev/kvm opening is not enough: under nested virtualisation QEMU may abort
 * when it sets up `-cpu host` (e.g. "failed to set MSR 0x10a"). accel auto
 * asks QEMU itself, once: a machine with a KVM vCPU, created paused (-S) and
 * quit over QMP on stdin. That takes ~60 ms. */
#include "config.h"

#include "qemu-plugin.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROBE_TIMEOUT_MS 10000

/* The first line of QEMU's complaint, or a description of status. */
static char *
describe_failure (GString *err, int status, gboolean timed_out)
{
  char *nl = strchr (err->str, '\n');
  if (nl != NULL)
    *nl = '\0';
  if (err->len > 0 && err->str[0] != '\0')
    return g_strdup (g_strstrip (err->str));
  if (timed_out)
    return g_strdup_printf ("QEMU did not quit within %d ms", PROBE_TIMEOUT_MS);
  if (WIFSIGNALED (status))
    return g_strdup_printf ("QEMU was killed by signal %d", WTERMSIG (status));
  return g_strdup_printf ("QEMU exited with status %d", WEXITSTATUS (status));
}

gboolean
qemu_kvm_probe (const char *qemu_path, const char *machine, char **why)
{
  const char *argv[] = { qemu_path, "-accel", "kvm", "-cpu", "host", "-machine", machine,
                         "-nodefaults", "-no-user-config", "-display", "none", "-S",
                         "-qmp", "stdio", NULL };
  /* stdin is a socket, so that a QEMU gone early costs EPIPE, not SIGPIPE. */
  int sv[2];
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    {
      *why = g_strdup_printf ("socketpair: %s", g_strerror (errno));
      return FALSE;
    }
  GPid pid;
  int err_fd = -1;
  g_autoptr(GError) error = NULL;
  gboolean spawned = g_spawn_async_with_pipes_and_fds (
      NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
      sv[1], -1, -1, NULL, NULL, 0, &pid, NULL, NULL, &err_fd, &error);
  close (sv[1]);
  if (!spawned)
    {
      close (sv[0]);
      *why = g_strdup (error->message);
      return FALSE;
    }
  static const char commands[] = "{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"quit\"}\n";
  if (send (sv[0], commands, sizeof commands - 1, MSG_NOSIGNAL) < 0)
    (void) 0;  /* it is gone already: its status says why */

  /* stderr reaches end of file when QEMU exits. */
  g_autoptr(GString) err = g_string_new (NULL);
  gint64 deadline = g_get_monotonic_time () + PROBE_TIMEOUT_MS * 1000;
  gboolean timed_out = FALSE;
  for (;;)
    {
      gint64 left = (deadline - g_get_monotonic_time ()) / 1000;
      if (left <= 0)
        {
          timed_out = TRUE;
          break;
        }
      struct pollfd pfd = { .fd = err_fd, .events = POLLIN };
      int n = poll (&pfd, 1, (int) left);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          timed_out = n == 0;
          break;
        }
      char buf[1024];
      ssize_t got = read (err_fd, buf, sizeof buf);
      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0)
        break;
      if (err->len < 4096)
        g_string_append_len (err, buf, got);
    }
  close (err_fd);
  close (sv[0]);
  if (timed_out)
    kill (pid, SIGKILL);
  int status = 0;
  while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
    ;
  g_spawn_close_pid (pid);
  if (!timed_out && WIFEXITED (status) && WEXITSTATUS (status) == 0)
    return TRUE;
  *why = describe_failure (err, status, timed_out);
  return FALSE;
}
