/* One virtiofsd process: spawn, watch, stop (see virtiofsd.h). */
#include "config.h"

#include "virtiofsd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib-unix.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

#define POLL_INTERVAL_MS 20
#define KILL_WAIT_MS 5000
#define LOG_TAIL_BYTES 512

struct VcVirtiofsd {
  GMutex        lock;
  GCond         cond;
  gint          pid;
  guint64       start_time;
  int           pidfd;       /* -1 when the kernel has no pidfd_open */
  gboolean      is_child;    /* ours to reap */
  gboolean      exited;
  gboolean      stopping;    /* stop() asked: no event */
  gboolean      gone_at_adopt; /* adopted after it had died: the watcher reports it */
  GThread      *watcher;
  int           wake[2];     /* written to make the watcher return */
  VcFsEventFunc event_func;
  gpointer      event_data;
};

/* Field 3 (state) and 22 (starttime) of /proc/<pid>/stat; comm (field 2) may
 * hold spaces and parentheses, so parse after the last ')'. */
static gboolean
read_proc_stat (gint pid, char *state, guint64 *start_time)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", pid);
  g_autofree char *text = NULL;

  if (pid <= 0 || !g_file_get_contents (path, &text, NULL, NULL))
    return FALSE;
  const char *p = strrchr (text, ')');
  if (p == NULL)
    return FALSE;
  g_auto(GStrv) fields = g_strsplit (p + 2, " ", 0);
  /* fields[0] is field 3 (state), so field 22 is fields[19]. */
  if (g_strv_length (fields) < 20)
    return FALSE;
  *state = fields[0][0];
  *start_time = g_ascii_strtoull (fields[19], NULL, 10);
  return TRUE;
}

guint64
vc_process_start_time (gint pid)
{
  char state = 0;
  guint64 start = 0;
  if (!read_proc_stat (pid, &state, &start) || state == 'Z' || state == 'X')
    return 0;
  return start;
}

static int
pidfd_open_compat (gint pid)
{
  return (int) syscall (SYS_pidfd_open, pid, 0);
}

/* Is the daemon gone? Reaps it when it is our child; *detail says how and
 * *clean whether it exited with status 0. */
static gboolean
process_gone (VcVirtiofsd *d, char **detail, gboolean *clean)
{
  *clean = FALSE;
  if (d->is_child)
    {
      int status = 0;
      pid_t r = waitpid (d->pid, &status, WNOHANG);
      if (r == 0)
        return FALSE;
      if (r == d->pid && WIFEXITED (status))
        {
          *detail = g_strdup_printf ("virtiofsd (pid %d) exited with status %d", d->pid,
                                     WEXITSTATUS (status));
          *clean = WEXITSTATUS (status) == 0;
        }
      else if (r == d->pid && WIFSIGNALED (status))
        *detail = g_strdup_printf ("virtiofsd (pid %d) killed by signal %d", d->pid,
                                   WTERMSIG (status));
      else if (r < 0 && errno == EINTR)
        return FALSE;
      else
        *detail = g_strdup_printf ("virtiofsd (pid %d) exited", d->pid);
      return TRUE;
    }
  if (vc_process_start_time (d->pid) == d->start_time)
    return FALSE;
  *detail = g_strdup_printf ("virtiofsd (pid %d) exited", d->pid);
  return TRUE;
}

/* virtiofsd exits with status 0 by itself when its vhost-user client (the
 * VMM) disconnects, i.e. when the VM stops: that is not a death to report. */
static void
mark_exited (VcVirtiofsd *d, char *detail, gboolean clean_exit)
{
  g_mutex_lock (&d->lock);
  d->exited = TRUE;
  gboolean report = !d->stopping && !clean_exit;
  g_cond_broadcast (&d->cond);
  g_mutex_unlock (&d->lock);

  if (report)
    g_message ("%s", detail);
  else
    g_debug ("%s", detail);
  if (report && d->event_func)
    d->event_func (VC_FS_EVENT_DAEMON_DIED, detail, d->event_data);
  g_free (detail);
}

static gpointer
watch_thread (gpointer data)
{
  VcVirtiofsd *d = data;
  char *detail = NULL;
  gboolean clean = FALSE;

  if (d->gone_at_adopt)
    {
      /* Report from this thread, as for a daemon that dies later. */
      mark_exited (d, g_strdup_printf ("virtiofsd (pid %d) is gone", d->pid), FALSE);
      return NULL;
    }

  for (;;)
    {
      struct pollfd fds[2] = {
        { .fd = d->wake[0], .events = POLLIN },
        { .fd = d->pidfd, .events = POLLIN },
      };
      /* Without pidfds, look again every so often. */
      int n = poll (fds, d->pidfd >= 0 ? 2 : 1, d->pidfd >= 0 ? -1 : 100);
      if (n < 0 && errno != EINTR)
        break;
      if (n > 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
        return NULL;
      if (process_gone (d, &detail, &clean))
        {
          mark_exited (d, detail, clean);
          return NULL;
        }
    }
  /* poll() itself failed: say so rather than silently stop watching. */
  mark_exited (d, g_strdup_printf ("lost track of virtiofsd (pid %d): %s", d->pid,
                                   g_strerror (errno)), FALSE);
  return NULL;
}

static VcVirtiofsd *
daemon_new (gint pid, VcFsEventFunc event_func, gpointer event_data, GError **error)
{
  VcVirtiofsd *d = g_new0 (VcVirtiofsd, 1);
  g_mutex_init (&d->lock);
  g_cond_init (&d->cond);
  d->pid = pid;
  d->pidfd = -1;
  d->wake[0] = d->wake[1] = -1;
  d->event_func = event_func;
  d->event_data = event_data;
  if (!g_unix_open_pipe (d->wake, FD_CLOEXEC, error))
    {
      d->wake[0] = d->wake[1] = -1;
      vc_virtiofsd_free (d);
      return NULL;
    }
  return d;
}

static void
start_watcher (VcVirtiofsd *d)
{
  d->watcher = g_thread_new ("virtiofsd-watch", watch_thread, d);
}

static gboolean
send_signal (VcVirtiofsd *d, int signum)
{
  if (d->pidfd >= 0)
    return syscall (SYS_pidfd_send_signal, d->pidfd, signum, NULL, 0) == 0 || errno == ESRCH;
  /* An unreaped child keeps its pid; anyone else must still be the same process. */
  if (d->is_child || vc_process_start_time (d->pid) == d->start_time)
    return kill (d->pid, signum) == 0 || errno == ESRCH;
  return TRUE;
}

static gboolean
wait_exited (VcVirtiofsd *d, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * G_TIME_SPAN_MILLISECOND;
  g_mutex_lock (&d->lock);
  while (!d->exited)
    if (!g_cond_wait_until (&d->cond, &d->lock, deadline))
      break;
  gboolean exited = d->exited;
  g_mutex_unlock (&d->lock);
  return exited;
}

static void
join_watcher (VcVirtiofsd *d)
{
  if (d->watcher == NULL)
    return;
  if (d->wake[1] >= 0)
    {
      char c = 'q';
      while (write (d->wake[1], &c, 1) < 0 && errno == EINTR)
        ;
    }
  g_thread_join (d->watcher);
  d->watcher = NULL;
}

/* Is a Unix socket bound to path in the listening state? (/proc/net/unix:
 * "Num RefCount Protocol Flags Type St Inode Path", Flags 00010000 = listening.)
 * Checked instead of connecting, which virtiofsd would take as its one client. */
static gboolean
socket_is_listening (const char *path)
{
  g_autofree char *text = NULL;
  if (!g_file_get_contents ("/proc/net/unix", &text, NULL, NULL))
    return FALSE;
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  for (char **line = lines; *line; line++)
    {
      g_auto(GStrv) fields = g_strsplit_set (*line, " ", 8);
      if (g_strv_length (fields) == 8 && strcmp (fields[7], path) == 0
          && strcmp (fields[3], "00010000") == 0)
        return TRUE;
    }
  return FALSE;
}

static char *
log_tail (const char *log_path)
{
  g_autofree char *text = NULL;
  gsize len = 0;
  if (!g_file_get_contents (log_path, &text, &len, NULL) || len == 0)
    return g_strdup ("(empty log)");
  const char *start = len > LOG_TAIL_BYTES ? text + len - LOG_TAIL_BYTES : text;
  g_autofree char *valid = g_utf8_make_valid (start, -1);
  return g_strdup (g_strstrip (valid));
}

static void
child_setup (gpointer data)
{
  /* Its own session: a terminal's ^C for the caller must not kill the share. */
  setsid ();
}

VcVirtiofsd *
vc_virtiofsd_spawn (char **argv, const char *log_path, const char *socket_path, guint timeout_ms,
                    VcFsEventFunc event_func, gpointer event_data, GError **error)
{
  g_autoptr(GError) local = NULL;
  GPid pid = 0;

  int log_fd = open (log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (log_fd < 0)
    {
      int saved = errno;
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "opening %s: %s", log_path, g_strerror (saved));
      return NULL;
    }
  if (unlink (socket_path) < 0 && errno != ENOENT)
    {
      int saved = errno;
      close (log_fd);
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "removing stale %s: %s", socket_path,
                   g_strerror (saved));
      return NULL;
    }
  gboolean spawned = g_spawn_async_with_fds (NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                             child_setup, NULL, &pid, -1, log_fd, log_fd, &local);
  close (log_fd);
  if (!spawned)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "starting %s: %s", argv[0], local->message);
      return NULL;
    }

  VcVirtiofsd *d = daemon_new (pid, event_func, event_data, error);
  if (d == NULL)
    {
      kill (pid, SIGKILL);
      waitpid (pid, NULL, 0);
      return NULL;
    }
  d->is_child = TRUE;
  d->pidfd = pidfd_open_compat (pid);
  char state = 0;
  read_proc_stat (pid, &state, &d->start_time);
  /* Nobody must report a failed start as a death: the caller gets an error. */
  d->stopping = TRUE;
  start_watcher (d);

  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * G_TIME_SPAN_MILLISECOND;
  for (;;)
    {
      if (wait_exited (d, POLL_INTERVAL_MS))
        {
          g_autofree char *tail = log_tail (log_path);
          g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "%s exited at start: %s", argv[0], tail);
          vc_virtiofsd_free (d);
          return NULL;
        }
      if (socket_is_listening (socket_path))
        break;
      if (g_get_monotonic_time () > deadline)
        {
          vc_virtiofsd_stop (d, 0, NULL);
          g_autofree char *tail = log_tail (log_path);
          g_set_error (error, VC_ERROR, VC_ERROR_TIMEOUT,
                       "%s did not listen on %s within %u ms: %s", argv[0], socket_path,
                       timeout_ms, tail);
          vc_virtiofsd_free (d);
          unlink (socket_path);
          return NULL;
        }
    }

  g_mutex_lock (&d->lock);
  d->stopping = FALSE;
  gboolean died = d->exited;
  g_mutex_unlock (&d->lock);
  if (died)
    {
      g_autofree char *tail = log_tail (log_path);
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "%s exited at start: %s", argv[0], tail);
      vc_virtiofsd_free (d);
      return NULL;
    }
  return d;
}

VcVirtiofsd *
vc_virtiofsd_adopt (gint pid, guint64 start_time, VcFsEventFunc event_func, gpointer event_data,
                    GError **error)
{
  if (pid <= 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "invalid virtiofsd pid %d", pid);
      return NULL;
    }
  VcVirtiofsd *d = daemon_new (pid, event_func, event_data, error);
  if (d == NULL)
    return NULL;
  d->start_time = start_time;

  if (vc_process_start_time (pid) == start_time)
    {
      /* Ours only if this very process started it (and has not reaped it). */
      d->is_child = waitpid (pid, NULL, WNOHANG) == 0;
      d->pidfd = pidfd_open_compat (pid);
      /* The pidfd must name the process we checked, not a successor. */
      if (d->pidfd >= 0 && vc_process_start_time (pid) != start_time)
        {
          close (d->pidfd);
          d->pidfd = -1;
          d->gone_at_adopt = TRUE;
        }
    }
  else
    d->gone_at_adopt = TRUE;
  start_watcher (d);
  return d;
}

gboolean
vc_virtiofsd_stop (VcVirtiofsd *d, guint timeout_ms, GError **error)
{
  g_mutex_lock (&d->lock);
  gboolean exited = d->exited;
  d->stopping = TRUE;
  g_mutex_unlock (&d->lock);

  if (!exited)
    {
      if (timeout_ms > 0)
        send_signal (d, SIGTERM);
      if (timeout_ms == 0 || !wait_exited (d, timeout_ms))
        {
          send_signal (d, SIGKILL);
          if (!wait_exited (d, KILL_WAIT_MS))
            {
              g_set_error (error, VC_ERROR, VC_ERROR_TIMEOUT,
                           "virtiofsd (pid %d) did not exit after SIGKILL", d->pid);
              return FALSE;
            }
        }
    }
  join_watcher (d);
  return TRUE;
}

void
vc_virtiofsd_free (VcVirtiofsd *d)
{
  if (d == NULL)
    return;
  join_watcher (d);
  if (d->pidfd >= 0)
    close (d->pidfd);
  if (d->wake[0] >= 0)
    close (d->wake[0]);
  if (d->wake[1] >= 0)
    close (d->wake[1]);
  g_mutex_clear (&d->lock);
  g_cond_clear (&d->cond);
  g_free (d);
}

gint
vc_virtiofsd_get_pid (VcVirtiofsd *d)
{
  return d->pid;
}

guint64
vc_virtiofsd_get_start_time (VcVirtiofsd *d)
{
  return d->start_time;
}

gboolean
vc_virtiofsd_is_running (VcVirtiofsd *d)
{
  g_mutex_lock (&d->lock);
  gboolean running = !d->exited;
  g_mutex_unlock (&d->lock);
  return running;
}
