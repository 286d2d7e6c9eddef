/* vcrun --bus: the stdio and signals of a process attached through vcrund
 * (run, exec), and the caller's stdio handed to a detached one (create,
 * run -d). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <glib-unix.h>

#include "bus.h"

/* The process whose stdio pump() carries. */
typedef struct {
  VcBusTarget *t;
  const char  *exec_id;   /* "" for the init process */
  gboolean     tty;       /* SIGWINCH resizes its terminal */
} Attached;

static int signal_pipe[2] = { -1, -1 };
static const int forwarded_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGWINCH };

static void
on_signal (int signum)
{
  int saved = errno;
  unsigned char b = (unsigned char) signum;
  if (write (signal_pipe[1], &b, 1) < 0)
    (void) 0;
  errno = saved;
}

/* While a process is attached, SIGINT, SIGTERM and SIGHUP go to it and
 * SIGWINCH to its terminal, through signal_pipe (pump reads it). */
void
vc_bus_forward_signals (gboolean on)
{
  if (on && signal_pipe[0] < 0 && pipe2 (signal_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
    return;
  struct sigaction sa = { .sa_handler = on ? on_signal : SIG_DFL };
  sigemptyset (&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (gsize i = 0; i < G_N_ELEMENTS (forwarded_signals); i++)
    sigaction (forwarded_signals[i], &sa, NULL);
}

int
vc_bus_pending_signal (void)
{
  unsigned char b;
  int signum = 0;
  while (signal_pipe[0] >= 0 && read (signal_pipe[0], &b, 1) == 1)
    if (b != SIGWINCH)
      signum = b;
  return signum;
}

/* Gives the process's terminal our window size. */
static void
resize (Attached *a)
{
  guint rows, columns;
  g_autoptr(GError) error = NULL;
  if (a->tty && vc_cli_terminal_size (STDIN_FILENO, &rows, &columns)
      && !vc_bus_call_void (a->t->bus, a->t->container, VC_BUS_IFACE_C, "ResizeTty",
                            g_variant_new ("(suu)", a->exec_id, rows, columns), &error))
    g_debug ("resize: %s", error->message);
}

static void
deliver_signal (Attached *a, int signum)
{
  g_autoptr(GError) error = NULL;
  if (signum == SIGWINCH)
    resize (a);
  else if (!vc_bus_call_void (a->t->bus, a->t->container, VC_BUS_IFACE_C, "SignalProcess",
                              g_variant_new ("(si)", a->exec_id, (gint32) signum), &error))
    g_debug ("forwarding signal %d: %s", signum, error->message);
}

/* Writes all of buf to fd; FALSE once its reader is gone. */
static gboolean
write_full (int fd, const char *buf, gsize len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, buf, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        {
          struct pollfd pfd = { .fd = fd, .events = POLLOUT };
          poll (&pfd, 1, 1000);
          continue;
        }
      if (n <= 0)
        return FALSE;
      buf += n;
      len -= n;
    }
  return TRUE;
}

/* One output stream copied to ours on a thread of its own, so that a slow
 * reader of our stdout does not hold our stderr up (nor the reverse). */
typedef struct {
  int from;      /* vcrund's pipe; closed when done */
  int to;        /* STDOUT_FILENO or STDERR_FILENO */
  int done_fd;   /* written to once done */
} OutputCopy;

static gpointer
output_copy (gpointer data)
{
  OutputCopy *c = data;
  /* As big as vcrund's pipes let it be: fewer wake-ups. */
  g_autofree char *buf = g_malloc (1024 * 1024);
  for (;;)
    {
      ssize_t n = read (c->from, buf, 1024 * 1024);
      if (n < 0 && errno == EINTR)
        continue;
      /* Our reader gone: closing vcrund's pipe has the process's closed in
       * turn (EPIPE/SIGPIPE there). */
      if (n <= 0 || !write_full (c->to, buf, n))
        break;
    }
  close (c->from);
  if (write (c->done_fd, "x", 1) < 0)
    g_debug ("cannot report the end of an output stream: %s", g_strerror (errno));
  return NULL;
}

/* Copies our stdin to in and out/err to our stdout/stderr until both end,
 * delivering the signals vc_bus_forward_signals catches. Writing to in never
 * blocks (the process may be busy writing output we must read). */
static void
pump (Attached *a, int in, int out, int err)
{
  static char inbuf[64 * 1024];
  gsize in_start = 0, in_len = 0;
  gboolean our_in_open = TRUE;
  int done[2];
  if (!g_unix_open_pipe (done, FD_CLOEXEC, NULL))
    return;
  OutputCopy copies[2] = { { out, STDOUT_FILENO, done[1] }, { err, STDERR_FILENO, done[1] } };
  GThread *threads[2] = { NULL, NULL };
  int running = 0;
  for (int i = 0; i < 2; i++)
    if (copies[i].from >= 0)
      {
        threads[i] = g_thread_new ("vcrun-output", output_copy, &copies[i]);
        running++;
      }
  if (in >= 0)
    g_unix_set_fd_nonblocking (in, TRUE, NULL);
  while (running > 0)
    {
      struct pollfd pfd[4] = {
        { .fd = done[0], .events = POLLIN },
        { .fd = in >= 0 && our_in_open && in_len == 0 ? STDIN_FILENO : -1, .events = POLLIN },
        { .fd = signal_pipe[0], .events = POLLIN },
        { .fd = in >= 0 && in_len > 0 ? in : -1, .events = POLLOUT },
      };
      if (poll (pfd, 4, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          break;
        }
      char x;
      if (pfd[0].revents && read (done[0], &x, 1) == 1)
        running--;
      if (pfd[1].revents)
        {
          ssize_t n = read (STDIN_FILENO, inbuf, sizeof inbuf);
          if (n > 0)
            in_start = 0, in_len = n;
          else if (n == 0 || (errno != EINTR && errno != EAGAIN))
            {
              our_in_open = FALSE;
              close (in);
              in = -1;
            }
        }
      if (pfd[3].revents)
        {
          ssize_t n = write (in, inbuf + in_start, in_len);
          if (n > 0)
            in_start += n, in_len -= n;
          else if (n < 0 && errno != EINTR && errno != EAGAIN)
            {
              /* The process's stdin is gone: stop reading ours. */
              our_in_open = FALSE;
              in_len = 0;
              close (in);
              in = -1;
            }
        }
      unsigned char signum;
      while (pfd[2].revents && read (signal_pipe[0], &signum, 1) == 1)
        deliver_signal (a, signum);
    }
  for (int i = 0; i < 2; i++)
    if (threads[i])
      g_thread_join (threads[i]);
  close (done[0]);
  close (done[1]);
  if (in >= 0)
    close (in);
}

gboolean
vc_bus_reply_fds (GVariant *reply, GUnixFDList *list, int fds[3])
{
  gint32 h[3];
  g_variant_get (reply, "(hhh)", &h[0], &h[1], &h[2]);
  gint n = 0;
  g_autofree int *all = g_unix_fd_list_steal_fds (list, &n);
  for (int i = 0; i < 3; i++)
    {
      if (h[i] < 0 || h[i] >= n)
        return FALSE;
      fds[i] = all[h[i]];
    }
  return TRUE;
}

int
vc_bus_attach (VcBusTarget *target, const char *exec_id, gboolean tty, int fds[3])
{
  g_autoptr(GError) error = NULL;
  Attached a = { .t = target, .exec_id = exec_id, .tty = tty };
  vc_bus_forward_signals (TRUE);
  VcCliTerminal *terminal = tty ? vc_cli_terminal_raw (STDIN_FILENO) : NULL;
  resize (&a);
  pump (&a, fds[0], fds[1], fds[2]);
  g_autoptr(GVariant) waited = exec_id[0]
    ? vc_bus_call (target->bus, target->container, VC_BUS_IFACE_C, "WaitExec",
                   g_variant_new ("(s)", exec_id), "(i)", NULL, &error)
    : vc_bus_call (target->bus, target->container, VC_BUS_IFACE_C, "Wait", NULL, "(i)", NULL,
                   &error);
  vc_cli_terminal_restore (terminal);
  vc_bus_forward_signals (FALSE);
  if (waited == NULL)
    return vc_bus_fail (error);
  gint32 exit_status;
  g_variant_get (waited, "(i)", &exit_status);
  return vc_cli_status_to_exit (exit_status);
}

gboolean
vc_bus_pass_stdio (VcBusTarget *t, GError **error)
{
  g_autoptr(GUnixFDList) list = g_unix_fd_list_new ();
  for (int fd = 0; fd < 3; fd++)
    {
      gboolean usable = fcntl (fd, F_GETFD) >= 0 && !(fd == STDIN_FILENO && isatty (fd));
      int null_fd = usable ? -1 : open ("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY | O_CLOEXEC);
      gint index = g_unix_fd_list_append (list, usable ? fd : null_fd, error);
      if (null_fd >= 0)
        close (null_fd);
      if (index < 0)
        return FALSE;
    }
  g_autoptr(GVariant) reply = g_dbus_connection_call_with_unix_fd_list_sync (
      t->bus, VC_BUS_NAME, t->container, VC_BUS_IFACE_C, "SetStdio", g_variant_new ("(hhh)", 0, 1, 2),
      NULL, G_DBUS_CALL_FLAGS_NONE, VC_BUS_CALL_TIMEOUT_MS, list, NULL, NULL, error);
  return reply != NULL;
}
