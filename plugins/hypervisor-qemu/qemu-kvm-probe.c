/* hypervisor-qemu: does QEMU run a KVM vCPU on this host?
 *
 * /dev/kvm opening is not enough: under nested virtualisation QEMU may abort
 * when it sets up `-cpu host` (e.g. "failed to set MSR 0x10a"), and on some
 * hosts a KVM machine is created fine but its vCPU never makes progress (the
 * guest hangs before its first console byte). So accel auto runs a vCPU,
 * once: a 64 KiB firmware whose reset vector writes to an isa-debug-exit
 * port, which makes QEMU exit with status (0x31 << 1) | 1. That takes
 * ~100 ms where KVM works and PROBE_TIMEOUT_MS where it hangs. */
#include "config.h"

#include "qemu-plugin.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROBE_TIMEOUT_MS 5000
#define PROBE_FIRMWARE_SIZE 65536
#define PROBE_EXIT_STATUS ((0x31 << 1) | 1)

/* Real mode at the reset vector (top 16 bytes of the firmware):
 * mov al, 0x31; out 0xf4, al; hlt; jmp $-3. */
static const guint8 reset_vector[] = { 0xb0, 0x31, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd };

/* Writes the probe firmware to a private temporary file; returns its path. */
static char *
write_probe_firmware (char **why)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  int fd = g_file_open_tmp ("vcrun-kvm-probe-XXXXXX.bin", &path, &error);
  if (fd < 0)
    {
      *why = g_strdup (error->message);
      return NULL;
    }
  g_autofree guint8 *image = g_malloc (PROBE_FIRMWARE_SIZE);
  memset (image, 0xf4, PROBE_FIRMWARE_SIZE);  /* hlt everywhere else */
  memcpy (image + PROBE_FIRMWARE_SIZE - 16, reset_vector, sizeof reset_vector);
  gsize done = 0;
  while (done < PROBE_FIRMWARE_SIZE)
    {
      ssize_t n = write (fd, image + done, PROBE_FIRMWARE_SIZE - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          *why = g_strdup_printf ("writing %s: %s", path, g_strerror (errno));
          close (fd);
          unlink (path);
          return NULL;
        }
      done += (gsize) n;
    }
  close (fd);
  return g_steal_pointer (&path);
}

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
    return g_strdup_printf ("a KVM vCPU made no progress within %d ms", PROBE_TIMEOUT_MS);
  if (WIFSIGNALED (status))
    return g_strdup_printf ("QEMU was killed by signal %d", WTERMSIG (status));
  return g_strdup_printf ("QEMU exited with status %d, not the probe's %d", WEXITSTATUS (status),
                          PROBE_EXIT_STATUS);
}

gboolean
qemu_kvm_probe (const char *qemu_path, const char *machine, char **why)
{
  g_autofree char *firmware = write_probe_firmware (why);
  if (firmware == NULL)
    return FALSE;
  const char *argv[] = { qemu_path, "-accel", "kvm", "-cpu", "host", "-machine", machine,
                         "-m", "16", "-nodefaults", "-no-user-config", "-display", "none",
                         "-bios", firmware, "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                         NULL };
  GPid pid;
  int err_fd = -1;
  g_autoptr(GError) error = NULL;
  gboolean spawned = g_spawn_async_with_pipes_and_fds (
      NULL, argv, NULL,
      G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL | G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
      NULL, -1, -1, -1, NULL, NULL, 0, &pid, NULL, NULL, &err_fd, &error);
  if (!spawned)
    {
      unlink (firmware);
      *why = g_strdup (error->message);
      return FALSE;
    }

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
  if (timed_out)
    kill (pid, SIGKILL);
  int status = 0;
  while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
    ;
  g_spawn_close_pid (pid);
  unlink (firmware);
  if (!timed_out && WIFEXITED (status) && WEXITSTATUS (status) == PROBE_EXIT_STATUS)
    return TRUE;
  *why = describe_failure (err, status, timed_out);
  return FALSE;
}
