/* Bounded output buffers: a pump thread per stream moves bytes from the
 * process's pipe (or pty) into a ring buffer; ReadStdout/ReadStderr send them
 * from the ring straight to the host (no copy in the agent) and only then
 * drop them. When the ring is full the pump stops reading, so a fast writer
 * blocks on its pipe instead of growing the agent (back-pressure). */
#include "config.h"

#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Twice the largest read, so the pump keeps filling while a read is sent. */
#define OUT_STREAM_CAPACITY (2 * 1024 * 1024)
/* How long the pump sleeps in poll() before it looks at `stopping` again. */
#define PUMP_POLL_MS 500
/* A read that finds less than this waits up to COALESCE_MS for more: each
 * reply is a round trip to the host, and the pump reads what the pipe holds
 * at the moment (a pty gives at most 4 KiB at a time). */
#define COALESCE_BYTES (256 * 1024)
#define COALESCE_MS 5

struct OutStream {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  pthread_t pump;
  int fd;            /* the pump's; -1 once it closed it */
  bool is_pty;
  uint8_t *ring;
  size_t start;      /* first unread byte */
  size_t len;        /* unread bytes */
  bool eof;          /* the pipe reached end of file (or the stream was shut) */
  bool shut;         /* the host no longer reads: the pipe is closed, data dropped */
  bool sending;      /* a reader is sending [start, start + n) */
  bool stopping;
  int refs;          /* the process record + readers in flight */
};

static struct timespec
deadline_after_ms (int ms)
{
  struct timespec t;
  clock_gettime (CLOCK_REALTIME, &t);
  t.tv_sec += ms / 1000;
  t.tv_nsec += (long) (ms % 1000) * 1000000;
  if (t.tv_nsec >= 1000000000)
    {
      t.tv_sec++;
      t.tv_nsec -= 1000000000;
    }
  return t;
}

static void
pump_close_fd (OutStream *s)
{
  pthread_mutex_lock (&s->lock);
  int fd = s->fd;
  s->fd = -1;
  pthread_mutex_unlock (&s->lock);
  if (fd >= 0)
    close (fd);
}

static void *
pump_thread (void *data)
{
  OutStream *s = data;

  for (;;)
    {
      pthread_mutex_lock (&s->lock);
      while (s->len == OUT_STREAM_CAPACITY && !s->stopping && !s->shut)
        pthread_cond_wait (&s->cond, &s->lock);
      if (s->stopping || s->shut)
        {
          bool shut = s->shut;
          pthread_mutex_unlock (&s->lock);
          /* Shut: closing the read end gives the writer EPIPE/SIGPIPE. */
          if (shut)
            pump_close_fd (s);
          break;
        }
      /* Only the pump writes the free part of the ring, so it can read into
       * it without holding the lock. */
      size_t tail = (s->start + s->len) % OUT_STREAM_CAPACITY;
      size_t room = OUT_STREAM_CAPACITY - s->len;
      if (tail + room > OUT_STREAM_CAPACITY)
        room = OUT_STREAM_CAPACITY - tail;
      pthread_mutex_unlock (&s->lock);

      struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
      int pr = poll (&pfd, 1, PUMP_POLL_MS);
      if (pr == 0 || (pr < 0 && errno == EINTR))
        continue; /* look at `stopping` and `shut` again */
      ssize_t n = read (s->fd, s->ring + tail, room);
      if (n < 0 && (errno == EINTR || errno == EAGAIN))
        continue;

      pthread_mutex_lock (&s->lock);
      if (n > 0 && !s->shut)
        s->len += (size_t) n;
      else if (n <= 0)
        s->eof = true; /* 0, or EIO from a pty whose last slave fd closed */
      pthread_cond_broadcast (&s->cond);
      bool done = s->eof && !s->shut;
      pthread_mutex_unlock (&s->lock);
      if (done)
        break;
    }
  return NULL;
}

OutStream *
out_stream_new (int fd, bool is_pty)
{
  OutStream *s = xcalloc (1, sizeof *s);
  pthread_mutex_init (&s->lock, NULL);
  pthread_cond_init (&s->cond, NULL);
  s->fd = fd;
  s->is_pty = is_pty;
  s->refs = 1;
  /* A bigger pipe: the writer blocks less often, the pump reads more at once. */
  if (!is_pty)
    (void) fcntl (fd, F_SETPIPE_SZ, OUT_STREAM_PIPE_SIZE);
  s->ring = malloc (OUT_STREAM_CAPACITY);
  if (!s->ring || pthread_create (&s->pump, NULL, pump_thread, s) != 0)
    {
      agent_log ("cannot start an output pump");
      abort ();
    }
  return s;
}

int
out_stream_send (OutStream *s, size_t max, int timeout_ms, OutStreamSendFunc send, void *data,
                 size_t *sent)
{
  struct timespec deadline = deadline_after_ms (timeout_ms);

  *sent = 0;
  pthread_mutex_lock (&s->lock);
  /* One reader sends at a time, so the stream's bytes go out in order. */
  while (s->sending || (s->len == 0 && !s->eof))
    if (pthread_cond_timedwait (&s->cond, &s->lock, &deadline) == ETIMEDOUT)
      {
        pthread_mutex_unlock (&s->lock);
        return 0;
      }
  s->sending = true;
  if (s->len < COALESCE_BYTES && s->len < max && !s->eof)
    {
      struct timespec until = deadline_after_ms (COALESCE_MS);
      while (s->len < COALESCE_BYTES && s->len < max && !s->eof)
        if (pthread_cond_timedwait (&s->cond, &s->lock, &until) == ETIMEDOUT)
          break;
    }
  size_t n = s->shut ? 0 : s->len < max ? s->len : max;
  struct iovec iov[2];
  int iovcnt = 0;
  if (n > 0)
    {
      size_t first = OUT_STREAM_CAPACITY - s->start;
      if (first > n)
        first = n;
      iov[iovcnt++] = (struct iovec) { .iov_base = s->ring + s->start, .iov_len = first };
      if (n > first)
        iov[iovcnt++] = (struct iovec) { .iov_base = s->ring, .iov_len = n - first };
    }
  pthread_mutex_unlock (&s->lock);

  /* [start, start + n) stays in the ring (len still counts it), so the
   * pump does not write over it while it is sent. */
  bool ok = send (iov, iovcnt, n, data);

  pthread_mutex_lock (&s->lock);
  s->sending = false;
  if (s->shut)
    s->len = 0;
  else if (ok)
    {
      s->start = (s->start + n) % OUT_STREAM_CAPACITY;
      s->len -= n;
    }
  pthread_cond_broadcast (&s->cond);
  pthread_mutex_unlock (&s->lock);
  *sent = n;
  return ok ? 1 : -1;
}

OutStream *
out_stream_ref (OutStream *s)
{
  pthread_mutex_lock (&s->lock);
  s->refs++;
  pthread_mutex_unlock (&s->lock);
  return s;
}

void
out_stream_unref (OutStream *s)
{
  if (!s)
    return;
  pthread_mutex_lock (&s->lock);
  bool last = --s->refs == 0;
  if (last)
    s->stopping = true;
  pthread_cond_broadcast (&s->cond);
  pthread_mutex_unlock (&s->lock);
  if (!last)
    return;
  pthread_join (s->pump, NULL);
  if (s->fd >= 0)
    close (s->fd);
  free (s->ring);
  pthread_cond_destroy (&s->cond);
  pthread_mutex_destroy (&s->lock);
  free (s);
}

void
out_stream_shut (OutStream *s)
{
  pthread_mutex_lock (&s->lock);
  s->shut = true;
  s->eof = true;
  if (!s->sending)
    s->len = 0;   /* a send in progress keeps its bytes until it is done */
  pthread_cond_broadcast (&s->cond);
  pthread_mutex_unlock (&s->lock);
}

void
out_stream_close (OutStream *s)
{
  if (!s)
    return;
  pthread_mutex_lock (&s->lock);
  s->eof = true; /* readers still waiting get end of file */
  pthread_cond_broadcast (&s->cond);
  pthread_mutex_unlock (&s->lock);
  out_stream_unref (s);
}
