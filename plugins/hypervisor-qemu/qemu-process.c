/* hypervisor-qemu: the QEMU process: spawning it detached, watching it through
 * a pidfd, telling it apart from a later process with the same pid, and the
 * files it leaves in the sandbox's state directory. */
#include "config.h"

#include "qemu-plugin.h"

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
qemu_process_spawn (VcVm *vm, char **argv, GError **error)
{
  int log_fd = open (vm->log_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (log_fd < 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot create '%s': %s", vm->log_file,
                   g_strerror (errno));
      return FALSE;
    }
  GPid pid = 0;
  g_autoptr (GError) spawn_error = NULL;
  g_autoptr (GArray) source_fds = g_array_new (FALSE, FALSE, sizeof (int));
  g_autoptr (GArray) target_fds = g_array_new (FALSE, FALSE, sizeof (int));
  qemu_net_spawn_fds (vm, source_fds, target_fds);
  gboolean ok = g_spawn_async_with_pipes_and_fds (
      vm->state_dir, (const char *const *) argv, NULL,
      G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL, child_setup, NULL,
      -1, log_fd, log_fd, (const int *) source_fds->data, (const int *) target_fds->data,
      source_fds->len, &pid, NULL, NULL, NULL, &spawn_error);
  close (log_fd);
  if (!ok)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot run QEMU '%s': %s", argv[0],
                   spawn_error->message);
      return FALSE;
    }
  vm->pid = pid;
  vm->is_child = TRUE;
  vm->pidfd = qemu_pidfd_open (pid);
  vm->start_time = qemu_process_start_time (pid);
  return TRUE;
}

int
qemu_pidfd_open (GPid pid)
{
  long fd = syscall (SYS_pidfd_open, (pid_t) pid, 0);
  if (fd < 0)
    return -1;
  fcntl ((int) fd, F_SETFD, FD_CLOEXEC);
  return (int) fd;
}

gboolean
qemu_pidfd_signal (VcVm *vm, int signo)
{
  if (vm->pidfd >= 0)
    return syscall (SYS_pidfd_send_signal, vm->pidfd, signo, NULL, 0) == 0;
  /* Without a pidfd, make sure the pid still names our QEMU first. */
  if (qemu_process_start_time (vm->pid) != vm->start_time)
    return FALSE;
  return kill (vm->pid, signo) == 0;
}

/* The process's start time in clock ticks since boot (0 if it does not
 * exist). Field 22 of /proc/<pid>/stat, counted after the ')' that ends
 * the command name, which may itself contain spaces and parentheses. */
guint64
qemu_process_start_time (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return 0;
  const char *p = strrchr (text, ')');
  if (p == NULL)
    return 0;
  g_auto (GStrv) fields = g_strsplit (p + 2, " ", 0);
  /* fields[0] is field 3 (state), so field 22 is fields[19]. */
  if (g_strv_length (fields) < 20)
    return 0;
  if (fields[0][0] == 'Z' || fields[0][0] == 'X')
    return 0; /* exited, not yet reaped */
  return g_ascii_strtoull (fields[19], NULL, 10);
}

gboolean
qemu_process_alive (VcVm *vm)
{
  if (vm->pid <= 0)
    return FALSE;
  if (vm->pidfd >= 0)
    {
      /* A pidfd polls readable once the process has exited. */
      struct pollfd pfd = { .fd = vm->pidfd, .events = POLLIN };
      return poll (&pfd, 1, 0) == 0;
    }
  return qemu_process_start_time (vm->pid) == vm->start_time;
}

/* Reaps our own child and says how it ended; NULL when it is not ours or
 * not finished. */
char *
qemu_process_reap (VcVm *vm)
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
    return g_strdup_printf ("qemu killed by signal %d", WTERMSIG (status));
  if (WIFEXITED (status) && WEXITSTATUS (status) != 0)
    return g_strdup_printf ("qemu exited with status %d", WEXITSTATUS (status));
  return g_strdup ("qemu exited");
}

/* The last max bytes of a log, stripped, for error messages. */
char *
qemu_read_log_tail (const char *path, gsize max)
{
  g_autofree char *text = NULL;
  gsize len = 0;
  if (!g_file_get_contents (path, &text, &len, NULL) || len == 0)
    return g_strdup ("(QEMU printed nothing)");
  const char *start = len > max ? text + len - max : text;
  g_autofree char *valid = g_utf8_make_valid (start, -1);
  return g_strdup (g_strstrip (valid));
}

static void
remove_file (const char *path)
{
  if (path != NULL && unlink (path) < 0 && errno != ENOENT)
    g_warning ("hypervisor-qemu: cannot remove '%s': %s", path, g_strerror (errno));
}

/* QMP delivers VSERPORT_CHANGE once, to whoever is connected then: a file
 * beside the agent socket keeps "the guest opened its port" for a process
 * that attaches later. */
char *
qemu_agent_open_file (const char *agent_path)
{
  g_autofree char *dir = g_path_get_dirname (agent_path);
  return g_build_filename (dir, "agent-channel.open", NULL);
}

/* What only makes sense while QEMU runs: its sockets, pid file and markers. */
void
qemu_remove_runtime_files (VcVm *vm)
{
  remove_file (vm->qmp_path);
  remove_file (vm->agent_path);
  remove_file (vm->pid_file);
  remove_file (vm->agent_open_file);
}

/* The console and QEMU's own log, kept after a crash for diagnosis. */
void
qemu_remove_log_files (VcVm *vm)
{
  remove_file (vm->console_file);
  remove_file (vm->log_file);
}
