/* hypervisor-libvirt: the host processes of a VM, for a libvirtd on this
 * host: QEMU (found by the domain's UUID on its command line) and the
 * virtiofsd processes libvirt runs for our shares; QEMU's end watched
 * through a pidfd. */
#include "config.h"

#include "libvirt-plugin.h"

#include <errno.h>
#include <glib-unix.h>
#include <poll.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* /proc/<pid>/cmdline as a vector, NULL when unreadable. */
static GStrv
read_cmdline (const char *pid)
{
  g_autofree char *path = g_build_filename ("/proc", pid, "cmdline", NULL);
  g_autofree char *data = NULL;
  gsize len = 0;
  if (!g_file_get_contents (path, &data, &len, NULL) || len == 0)
    return NULL;
  GPtrArray *args = g_ptr_array_new ();
  for (gsize i = 0; i < len; i += strlen (data + i) + 1)
    g_ptr_array_add (args, g_strdup (data + i));
  g_ptr_array_add (args, NULL);
  return (GStrv) g_ptr_array_free (args, FALSE);
}

static gboolean
is_our_qemu (VcVm *vm, GStrv argv)
{
  for (guint i = 0; argv[i] != NULL && argv[i + 1] != NULL; i++)
    if (g_str_equal (argv[i], "-uuid") && g_str_equal (argv[i + 1], vm->uuid))
      return TRUE;
  return FALSE;
}

/* A virtiofsd libvirt started for one of our shared directories: it has
 * "-o source=DIR[,...]" (QEMU's virtiofsd) or "--shared-dir DIR" (Rust's). */
static gboolean
is_our_virtiofsd (VcVm *vm, GStrv argv)
{
  g_autofree char *base = g_path_get_basename (argv[0]);
  if (strstr (base, "virtiofsd") == NULL)
    return FALSE;
  for (guint d = 0; d < vm->devices->len; d++)
    {
      LvDevice *dev = g_ptr_array_index (vm->devices, d);
      if (dev->device->type != VC_DEVICE_FS_VIRTIOFS)
        continue;
      g_autofree char *source = g_strdup_printf ("source=%s", dev->device->host_path);
      gsize n = strlen (source);
      for (guint i = 0; argv[i] != NULL; i++)
        {
          const char *hit = strstr (argv[i], source);
          if (hit != NULL && (hit[n] == '\0' || hit[n] == ',')
              && (hit == argv[i] || hit[-1] == ','))
            return TRUE;
          if (g_str_equal (argv[i], "--shared-dir") && argv[i + 1] != NULL
              && g_str_equal (argv[i + 1], dev->device->host_path))
            return TRUE;
        }
    }
  return FALSE;
}

/* Appends our QEMU's pid to qemu, those of our virtiofsds to helpers. */
static void
scan_processes (VcVm *vm, GDir *dir, GArray *qemu, GArray *helpers)
{
  const char *name;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      if (!g_ascii_isdigit (name[0]))
        continue;
      g_auto (GStrv) argv = read_cmdline (name);
      if (argv == NULL)
        continue;
      gint pid = (gint) g_ascii_strtoll (name, NULL, 10);
      if (qemu->len == 0 && is_our_qemu (vm, argv))
        g_array_append_val (qemu, pid);
      else if (helpers != NULL && is_our_virtiofsd (vm, argv))
        g_array_append_val (helpers, pid);
    }
}

/* ---------------------------------------------------------------------------
 * With a libvirtd on this host, QEMU's end is seen at once through a pidfd
 * (libvirt's own event follows when libvirtd has cleaned up, which takes
 * a while on a busy host, and not at all while libvirtd is down). */

typedef struct {
  VcVm *vm;
  int   pidfd;
  gint  pid;
} Watch;

static gpointer
watch_thread (gpointer data)
{
  Watch *w = data;
  VcVm *vm = w->vm;
  for (;;)
    {
      struct pollfd fds[2] = { { .fd = vm->watch_wake[0], .events = POLLIN },
                               { .fd = w->pidfd, .events = POLLIN } };
      int r = poll (fds, 2, -1);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0 || fds[0].revents != 0)
        break;
      if (fds[1].revents != 0)
        {
          /* libvirt's event, when it comes soon, has the better reason. */
          if (!lv_vm_wait_exit (vm, 200))
            {
              g_autofree char *reason = g_strdup_printf (
                  "QEMU (pid %d) ended before libvirt said why (killed or crashed)", w->pid);
              lv_vm_mark_exited (vm, reason);
            }
          break;
        }
    }
  close (w->pidfd);
  g_free (w);
  return NULL;
}

void
lv_vm_start_watch (VcVm *vm)
{
  g_autoptr (GDir) dir = g_dir_open ("/proc", 0, NULL);
  if (dir == NULL)
    return;
  g_autoptr (GArray) qemu = g_array_new (FALSE, FALSE, sizeof (gint));
  scan_processes (vm, dir, qemu, NULL);
  if (qemu->len == 0)
    return;  /* a remote libvirtd: its events are all there is */
  gint pid = g_array_index (qemu, gint, 0);
  int pidfd = (int) syscall (SYS_pidfd_open, pid, 0);
  if (pidfd < 0)
    return;
  if (!g_unix_open_pipe (vm->watch_wake, FD_CLOEXEC, NULL))
    {
      close (pidfd);
      return;
    }
  Watch *w = g_new0 (Watch, 1);
  w->vm = vm;
  w->pidfd = pidfd;
  w->pid = pid;
  vm->watcher = g_thread_new ("vc-libvirt-pidfd", watch_thread, w);
}

void
lv_vm_stop_watch (VcVm *vm)
{
  if (vm->watcher == NULL)
    return;
  char byte = 1;
  while (write (vm->watch_wake[1], &byte, 1) < 0 && errno == EINTR)
    ;
  g_thread_join (vm->watcher);
  vm->watcher = NULL;
  close (vm->watch_wake[0]);
  close (vm->watch_wake[1]);
  vm->watch_wake[0] = vm->watch_wake[1] = -1;
}

/* QEMU first, then the virtiofsd processes libvirt runs for it. Only for a
 * libvirtd on this host (the processes are looked up in /proc). */
GArray *
lv_get_pids (VcVm *vm, GError **error)
{
  if (!lv_vm_require_running (vm, error))
    return NULL;
  g_autoptr (GDir) dir = g_dir_open ("/proc", 0, error);
  if (dir == NULL)
    return NULL;
  g_autoptr (GArray) pids = g_array_new (FALSE, FALSE, sizeof (gint));
  g_autoptr (GArray) helpers = g_array_new (FALSE, FALSE, sizeof (gint));
  scan_processes (vm, dir, pids, helpers);
  if (pids->len == 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND,
                   "no QEMU process with UUID %s of VM '%s' on this host (is libvirt at %s remote?)",
                   vm->uuid, vm->sandbox_id, vm->plugin->uri);
      return NULL;
    }
  g_array_append_vals (pids, helpers->data, helpers->len);
  return g_steal_pointer (&pids);
}

