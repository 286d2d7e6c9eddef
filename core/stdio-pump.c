/* libvcrun: a process's stdio between the agent and host fds (see stdio-pump.h). */
#include "config.h"

#include "stdio-pump.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <glib-unix.h>

/* Bytes asked of the agent per read, and sent per write to stdin: the
 * agent's largest (1 MiB, well inside a 4 MiB ttRPC frame). One chunk per
 * stream is in flight, so the host holds at most that much per stream: a
 * slow reader slows the guest's writer (back-pressure), it does not grow
 * the host. */
#define PUMP_CHUNK (1024 * 1024)
/* After a first read of stdin, how long more input may take to come before
 * what is there is sent (a pipe's writer refills it in pieces). */
#define INPUT_GATHER_MS 2

struct VcStdioPump {
  gint             refcount;   /* the caller's and one per thread */
  VcContainer     *container;
  char            *exec_id;    /* NULL: init */
  int              fds[3];     /* stdin (read), stdout, stderr (written); -1 unused */
  int              cancel[2];  /* a pipe: written to stop the stdin thread */
  VcStdioWriteFunc write_func;
  gpointer         user_data;
  GDestroyNotify   destroy;
  GMutex           lock;
  GCond            cond;
  guint            outputs_running;
  guint            outputs_writing;  /* output threads waiting for their reader */
  gint64           last_progress;    /* monotonic µs: output last came from the agent */
};

static void
close_fd (int *fd)
{
  if (*fd >= 0)
    close (*fd);
  *fd = -1;
}

static VcStdioPump *
pump_ref (VcStdioPump *pump)
{
  g_atomic_int_inc (&pump->refcount);
  return pump;
}

static void
pump_unref (VcStdioPump *pump)
{
  if (!g_atomic_int_dec_and_test (&pump->refcount))
    return;
  for (int i = 0; i < 3; i++)
    close_fd (&pump->fds[i]);
  close_fd (&pump->cancel[0]);
  close_fd (&pump->cancel[1]);
  if (pump->destroy)
    pump->destroy (pump->user_data);
  g_mutex_clear (&pump->lock);
  g_cond_clear (&pump->cond);
  vc_container_unref (pump->container);
  g_free (pump->exec_id);
  g_free (pump);
}

static gboolean
write_all (int stream, int fd, const guint8 *data, gsize len, gpointer user_data)
{
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno == EAGAIN)
            {
              struct pollfd pfd = { .fd = fd, .events = POLLOUT };
              poll (&pfd, 1, 1000);
              continue;
            }
          return FALSE;
        }
      data += n;
      len -= n;
    }
  return TRUE;
}

/* An output thread starts or stops waiting for its reader (a slow reader is
 * not a stream that stalls: vc_stdio_pump_finish waits for it). */
static void
set_writing (VcStdioPump *pump, gboolean writing)
{
  g_mutex_lock (&pump->lock);
  if (writing)
    pump->outputs_writing++;
  else
    pump->outputs_writing--;
  pump->last_progress = g_get_monotonic_time ();
  g_cond_broadcast (&pump->cond);
  g_mutex_unlock (&pump->lock);
}

typedef struct {
  VcStdioPump *pump;
  int          stream;
} OutputJob;

static gpointer
output_thread (gpointer data)
{
  OutputJob *job = data;
  VcStdioPump *pump = job->pump;
  int stream = job->stream;
  gboolean writable = TRUE;
  g_free (job);

  for (;;)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GBytes) bytes = stream == VC_STDIO_ERR
        ? vc_container_read_stderr (pump->container, pump->exec_id, PUMP_CHUNK, &error)
        : vc_container_read_stdout (pump->container, pump->exec_id, PUMP_CHUNK, &error);
      if (bytes == NULL)
        {
          g_debug ("%s of %s: %s", stream == VC_STDIO_ERR ? "stderr" : "stdout",
                   pump->exec_id ? pump->exec_id : "init", error->message);
          break;
        }
      gsize len;
      const guint8 *p = g_bytes_get_data (bytes, &len);
      if (len == 0)
        break;
      g_mutex_lock (&pump->lock);
      pump->last_progress = g_get_monotonic_time ();
      g_mutex_unlock (&pump->lock);
      if (!writable)
        continue;  /* what was in flight when the reader went */
      set_writing (pump, TRUE);
      writable = pump->write_func (stream, pump->fds[stream], p, len, pump->user_data);
      set_writing (pump, FALSE);
      if (!writable)
        {
          /* The reader went away: as with a host pipe, the writer gets EPIPE
           * or SIGPIPE; the stream then ends. */
          g_autoptr(GError) close_error = NULL;
          if (!vc_container_close_output (pump->container, pump->exec_id, stream == VC_STDIO_ERR,
                                          &close_error))
            g_debug ("closing %s: %s", stream == VC_STDIO_ERR ? "stderr" : "stdout",
                     close_error->message);
        }
    }

  g_mutex_lock (&pump->lock);
  /* The stream ended: its reader sees end of file. */
  close_fd (&pump->fds[stream]);
  pump->outputs_running--;
  g_cond_broadcast (&pump->cond);
  g_mutex_unlock (&pump->lock);
  pump_unref (pump);
  return NULL;
}

static gpointer
input_thread (gpointer data)
{
  VcStdioPump *pump = data;
  guint8 *buf = g_malloc (PUMP_CHUNK);

  for (;;)
    {
      struct pollfd pfd[2] = { { .fd = pump->fds[0], .events = POLLIN },
                               { .fd = pump->cancel[0], .events = POLLIN } };
      if (poll (pfd, 2, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          break;
        }
      if (pfd[1].revents)
        break;
      ssize_t n = read (pump->fds[0], buf, PUMP_CHUNK);
      if (n < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      /* Fewer, bigger WriteStdin calls: take what follows at once. */
      while (n > 0 && n < PUMP_CHUNK)
        {
          struct pollfd more = { .fd = pump->fds[0], .events = POLLIN };
          if (poll (&more, 1, INPUT_GATHER_MS) <= 0 || !(more.revents & POLLIN))
            break;
          ssize_t m = read (pump->fds[0], buf + n, PUMP_CHUNK - n);
          if (m <= 0)
            break;  /* the end of file is seen by the next read */
          n += m;
        }
      g_autoptr(GError) error = NULL;
      if (n <= 0)
        {
          if (!vc_container_close_stdin (pump->container, pump->exec_id, &error))
            g_debug ("closing stdin: %s", error->message);
          break;
        }
      gsize done = 0;
      while (done < (gsize) n && error == NULL)
        {
          gsize written = 0;
          if (vc_container_write_stdin (pump->container, pump->exec_id, buf + done, n - done,
                                        &written, &error))
            done += written;
        }
      if (error)
        {
          g_debug ("stdin: %s", error->message);
          break;
        }
    }
  g_free (buf);
  pump_unref (pump);
  return NULL;
}

VcStdioPump *
vc_stdio_pump_start (VcContainer *container, const char *exec_id, int in_fd, int out_fd,
                     int err_fd, VcStdioWriteFunc write_func, gpointer user_data,
                     GDestroyNotify destroy)
{
  VcStdioPump *pump = g_new0 (VcStdioPump, 1);
  pump->refcount = 1;
  pump->container = vc_container_ref (container);
  pump->exec_id = g_strdup (exec_id);
  pump->fds[0] = in_fd;
  pump->fds[VC_STDIO_OUT] = out_fd;
  pump->fds[VC_STDIO_ERR] = err_fd;
  pump->write_func = write_func ? write_func : write_all;
  pump->user_data = user_data;
  pump->destroy = destroy;
  g_mutex_init (&pump->lock);
  g_cond_init (&pump->cond);
  if (!g_unix_open_pipe (pump->cancel, FD_CLOEXEC, NULL))
    pump->cancel[0] = pump->cancel[1] = -1;

  for (int stream = VC_STDIO_OUT; stream <= VC_STDIO_ERR; stream++)
    {
      if (pump->fds[stream] < 0)
        continue;
      OutputJob *job = g_new0 (OutputJob, 1);
      job->pump = pump_ref (pump);
      job->stream = stream;
      pump->outputs_running++;
      g_thread_unref (g_thread_new ("vc-stdout", output_thread, job));
    }
  if (pump->fds[0] >= 0 && pump->cancel[0] >= 0)
    g_thread_unref (g_thread_new ("vc-stdin", input_thread, pump_ref (pump)));
  return pump;
}

void
vc_stdio_pump_finish (VcStdioPump *pump, guint timeout_ms)
{
  gint64 stall = (gint64) timeout_ms * G_TIME_SPAN_MILLISECOND;
  g_mutex_lock (&pump->lock);
  /* The clock runs only while no output comes from the agent and nobody
   * waits for a reader: a slow reader gets everything, a stream that a
   * background process keeps open does not hold the exit for ever. */
  pump->last_progress = g_get_monotonic_time ();
  while (pump->outputs_running > 0)
    {
      gint64 now = g_get_monotonic_time ();
      if (pump->outputs_writing > 0)
        pump->last_progress = now;
      else if (now - pump->last_progress >= stall)
        break;
      g_cond_wait_until (&pump->cond, &pump->lock, MIN (pump->last_progress + stall, now + G_TIME_SPAN_SECOND));
    }
  g_mutex_unlock (&pump->lock);
  if (pump->cancel[1] >= 0 && write (pump->cancel[1], "x", 1) < 0)
    g_debug ("cannot stop the stdin thread: %s", g_strerror (errno));
  pump_unref (pump);
}
