/* hypervisor-clh: the cloud-hypervisor process: spawning it detached,
 * watching it through a pidfd, telling it apart from a later process with
 * the same pid, its vCPU threads, and the files it leaves in the sandbox's
 * state directory. */
#include "config.h"

#include "clh-plugin.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

/* In the child between fork and exec: a session of its own, so that the VM
 * outlives the process that started it and its terminal, and no signal left
 * blocked by the caller's thread. */
static void
child_setup (gpointer data)
{
  sigset_t none;
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);
  setsid ();
}

gboolean
clh_process_spawn (VcVm *vm, char **argv, GError **error)
{
  int log_fd = open (vm->log_file, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot create '%s': %s", vm->log_file,
                   g_strerror (errno));
      return FALSE;
    }
  GPid pid = 0;
  g_autoptr (GError) spawn_error = NULL;
  gboolean ok = g_spawn_async_with_pipes_and_fds (
      vm->state_dir, (const char *const *) argv, NULL,
      G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL, child_setup, NULL,
      -1, log_fd, log_fd, NULL, NULL, 0, &pid, NULL, NULL, NULL, &spawn_error);
  close (log_fd);
  if (!ok)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot run Cloud Hypervisor '%s': %s",
                   argv[0], spawn_error->message);
      return FALSE;
    }
  vm->pid = pid;
  vm->is_child = TRUE;
  vm->pidfd = clh_pidfd_open (pid);
  vm->start_time = clh_process_start_time (pid);
  return TRUE;
}

int
clh_pidfd_open (GPid pid)
{
  long fd = syscall (SYS_pidfd_open, (pid_t) pid, 0);
  if (fd < 0)
    return -1;
  fcntl ((int) fd, F_SETFD, FD_CLOEXEC);
  return (int) fd;
}

gboolean
clh_pidfd_signal (VcVm *vm, int signo)
{
  if (vm->pidfd >= 0)
    return syscall (SYS_pidfd_send_signal, vm->pidfd, signo, NULL, 0) == 0;
  /* Without a pidfd, make sure the pid still names our VMM first. */
  if (clh_process_start_time (vm->pid) != vm->start_time)
    return FALSE;
  return kill (vm->pid, signo) == 0;
}

/* The process's start time in clock ticks since boot (0 if it does not
 * exist or has exited). Field 22 of /proc/<pid>/stat, counted after the ')'
 * that ends the command name, which may itself hold spaces and parentheses. */
guint64
clh_process_start_time (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return 0;
  const char *p = strrchr (text, ')');
  if (p == NULL || p[1] == '\0')
    return 0;
  g_auto (GStrv) fields = g_strsplit (p + 2, " ", 0);
  /* fields[0] is field 3 (state), so field 22 is fields[19]. */
  if (g_strv_length (fields) < 20)
    return 0;
  if (fields[0][0] == 'Z' || fields[0][0] == 'X')
    return 0;
  return g_ascii_strtoull (fields[19], NULL, 10);
}

gboolean
clh_process_alive (VcVm *vm)
{
  if (vm->pid <= 0)
    return FALSE;
  if (vm->pidfd >= 0)
    {
      /* A pidfd polls readable once the process has exited. */
      struct pollfd pfd = { .fd = vm->pidfd, .events = POLLIN };
      return poll (&pfd, 1, 0) == 0;
    }
  return clh_process_start_time (vm->pid) == vm->start_time;
}

/* Reaps our own child and says how it ended; NULL when it is not ours or
 * not finished. */
char *
clh_process_reap (VcVm *vm)
{
  if (!vm->is_child || vm->pid <= 0)
    return NULL;
  int status = 0;
  pid_t r;
  do
    r = waitpid (vm->pid, &status, WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r != vm->pid)
    return NULL;
  vm->is_child = FALSE;
  if (WIFSIGNALED (status))
    return g_strdup_printf ("cloud-hypervisor killed by signal %d", WTERMSIG (status));
  if (WIFEXITED (status) && WEXITSTATUS (status) != 0)
    return g_strdup_printf ("cloud-hypervisor exited with status %d", WEXITSTATUS (status));
  return g_strdup ("cloud-hypervisor exited");
}

/* Waits up to timeout_ms for the process to end (without reaping it). */
gboolean
clh_process_wait (VcVm *vm, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  while (clh_process_alive (vm))
    {
      if (g_get_monotonic_time () >= deadline)
        return FALSE;
      if (vm->pidfd >= 0)
        {
          struct pollfd pfd = { .fd = vm->pidfd, .events = POLLIN };
          gint64 left = (deadline - g_get_monotonic_time ()) / 1000;
          poll (&pfd, 1, (int) CLAMP (left, 1, 1000));
        }
      else
        g_usleep (10 * 1000);
    }
  return TRUE;
}

/* After a failed start: SIGKILL, and wait for it when it is our child. */
void
clh_process_kill_and_reap (VcVm *vm)
{
  if (vm->pid <= 0)
    return;
  clh_pidfd_signal (vm, SIGKILL);
  if (vm->is_child)
    {
      int status;
      while (waitpid (vm->pid, &status, 0) < 0 && errno == EINTR)
        ;
      vm->is_child = FALSE;
    }
  else if (vm->pidfd >= 0)
    {
      struct pollfd pfd = { .fd = vm->pidfd, .events = POLLIN };
      while (poll (&pfd, 1, 3000) < 0 && errno == EINTR)
        ;
    }
}

/* The last max bytes of a log, stripped, for error messages. */
char *
clh_read_log_tail (const char *path, gsize max)
{
  g_autofree char *text = NULL;
  gsize len = 0;
  if (!g_file_get_contents (path, &text, &len, NULL) || len == 0)
    return g_strdup ("(Cloud Hypervisor printed nothing)");
  const char *start = len > max ? text + len - max : text;
  g_autofree char *valid = g_utf8_make_valid (start, -1);
  return g_strdup (g_strstrip (valid));
}

static void
remove_file (const char *path)
{
  if (path != NULL && unlink (path) < 0 && errno != ENOENT)
    g_warning ("hypervisor-clh: cannot remove '%s': %s", path, g_strerror (errno));
}

/* What only makes sense while the VMM runs: its sockets. */
void
clh_remove_runtime_files (VcVm *vm)
{
  remove_file (vm->api_path);
  remove_file (vm->vsock_path);
}

/* The console and the VMM's own log, kept after a crash for diagnosis. */
void
clh_remove_log_files (VcVm *vm)
{
  remove_file (vm->console_file);
  remove_file (vm->log_file);
}

/* The vCPU number of a thread name, or -1: Cloud Hypervisor names its vCPU
 * threads "vcpu<N>"; a VMM that runs QEMU below it (the test stand-in) has
 * them as QEMU's "CPU <N>/KVM" or "CPU <N>/TCG". */
static int
vcpu_number (const char *comm)
{
  const char *digits = NULL;
  if (g_str_has_prefix (comm, "vcpu"))
    digits = comm + 4;
  else if (g_str_has_prefix (comm, "CPU "))
    digits = comm + 4;
  if (digits == NULL || !g_ascii_isdigit (*digits))
    return -1;
  char *end = NULL;
  guint64 n = g_ascii_strtoull (digits, &end, 10);
  if (n > 255 || (*end != '\0' && *end != '\n' && *end != '/'))
    return -1;
  return (int) n;
}

static void
collect_threads (GPid pid, GArray *tids)
{
  g_autofree char *dir = g_strdup_printf ("/proc/%d/task", (int) pid);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *comm_path = g_strdup_printf ("%s/%s/comm", dir, name);
      g_autofree char *comm = NULL;
      if (!g_file_get_contents (comm_path, &comm, NULL, NULL))
        continue;
      int n = vcpu_number (g_strchomp (comm));
      if (n < 0)
        continue;
      if ((guint) n >= tids->len)
        g_array_set_size (tids, (guint) n + 1);
      g_array_index (tids, gint, n) = (gint) g_ascii_strtoll (name, NULL, 10);
    }
}

/* vCPU thread ids of the VMM and of its direct children, index = vCPU. */
GArray *
clh_find_vcpu_threads (GPid pid, GError **error)
{
  GArray *tids = g_array_new (FALSE, TRUE, sizeof (gint));
  collect_threads (pid, tids);
  g_autofree char *children_path = g_strdup_printf ("/proc/%d/task/%d/children", (int) pid, (int) pid);
  g_autofree char *children = NULL;
  if (tids->len == 0 && g_file_get_contents (children_path, &children, NULL, NULL))
    {
      g_auto (GStrv) list = g_strsplit (g_strstrip (children), " ", 0);
      for (guint i = 0; list[i] != NULL; i++)
        if (*list[i] != '\0')
          collect_threads ((GPid) g_ascii_strtoll (list[i], NULL, 10), tids);
    }
  for (guint i = 0; i < tids->len; i++)
    if (g_array_index (tids, gint, i) == 0)
      {
        g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND,
                     "the VMM (pid %d) has no thread for vCPU %u", (int) pid, i);
        g_array_unref (tids);
        return NULL;
      }
  if (tids->len == 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND,
                   "the VMM (pid %d) has no vCPU threads (named vcpu<N>)", (int) pid);
      g_array_unref (tids);
      return NULL;
    }
  return tids;
}
