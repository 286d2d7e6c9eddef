/* Bounded output buffers: a pump thread per stream moves bytes from the
 * process's pipe (or pty) into a ring buffer; ReadStdout/ReadStderr take them
 * out. When the ring is full the pump stops reading, so a fast writer blocks
 * on its pipe instead of growing the agent. */
#include "config.h"

#include "agent.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define OUT_STREAM_CAPACITY (1024 * 1024)

struct OutStream {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  pthread_t pump;
  int fd;
  bool is_pty;
  uint8_t *ring;
  size_t start;      /* first unread byte */
  size_t len;        /* unread bytes */
  bool eof;
  bool stopping;
  int refs;          /* the process record + readers in flight */
};

static void *
pump_thread (void *data)
{
  OutStream *s = data;

  for (;;)
    {
      pthread_mutex_lock (&s->lock);
      while (s->len == OUT_STREAM_CAPACITY && !s->stopping)
        pthread_cond_wait (&s->cond, &s->lock);
      if (s->stopping)
        {
          pthread_mutex_unlock (&s->lock);
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
      int pr = poll (&pfd, 1, 500);
      if (pr == 0 || (pr < 0 && errno == EINTR))
        continue; /* look at `stopping` again */
      ssize_t n = read (s->fd, s->ring + tail, room);
      if (n < 0 && (errno == EINTR || errno == EAGAIN))
        continue;

      pthread_mutex_lock (&s->lock);
      if (n > 0)
        s->len += (size_t) n;
      else
        s->eof = true; /* 0, or EIO from a pty whose last slave fd closed */
      pthread_cond_broadcast (&s->cond);
      bool done = s->eof;
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
  s->ring = malloc (OUT_STREAM_CAPACITY);
  if (!s->ring || pthread_create (&s->pump, NULL, pump_thread, s) != 0)
    {
      agent_log ("cannot start an output pump");
      abort ();
    }
  return s;
}

bool
out_stream_read (OutStream *s, size_t max, uint8_t **data, size_t *len, int timeout_ms)
{
  struct timespec deadline;
  clock_gettime (CLOCK_REALTIME, &deadline);
  deadline.tv_sec += timeout_ms / 1000;
  deadline.tv_nsec += (long) (timeout_ms % 1000) * 1000000;
  if (deadline.tv_nsec >= 1000000000)
    {
      deadline.tv_sec++;
      deadline.tv_nsec -= 1000000000;
    }

  *data = NULL;
  *len = 0;
  pthread_mutex_lock (&s->lock);
  while (s->len == 0 && !s->eof)
    if (pthread_cond_timedwait (&s->cond, &s->lock, &deadline) == ETIMEDOUT)
      {
        pthread_mutex_unlock (&s->lock);
        return false;
      }
  size_t n = s->len < max ? s->len : max;
  if (n > 0)
    {
      uint8_t *out = malloc (n);
      if (!out)
        {
          pthread_mutex_unlock (&s->lock);
          return false;
        }
      size_t first = OUT_STREAM_CAPACITY - s->start;
      if (first > n)
        first = n;
      memcpy (out, s->ring + s->start, first);
      memcpy (out + first, s->ring, n - first);
      s->start = (s->start + n) % OUT_STREAM_CAPACITY;
      s->len -= n;
      pthread_cond_broadcast (&s->cond);
      *data = out;
    }
  *len = n;
  pthread_mutex_unlock (&s->lock);
  return true;
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
  close (s->fd);
  free (s->ring);
  pthread_cond_destroy (&s->cond);
  pthread_mutex_destroy (&s->lock);
  free (s);
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
