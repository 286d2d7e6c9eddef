/* ttRPC client with a reader thread demultiplexing by stream id (client.h). */
#include "config.h"

#include "client.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <vcrun/types.h>

/* How much of a guest's error message we quote. */
#define GUEST_MESSAGE_MAX 512

typedef struct {
  guint32  stream_id;
  gboolean done;
  guint8  *data;      /* the response frame's data (malloc()ed by libvcproto) */
  gsize    len;
} Pending;

struct VcKataClient {
  gint        ref;
  int         fd;
  guint       frame_timeout_ms;
  GThread    *reader;

  GMutex      lock;
  GCond       cond;         /* a response arrived, the writer is free, or the connection broke */
  GHashTable *pending;      /* stream id -> Pending* (owned by the calling thread) */
  guint32     next_stream;  /* the next id to hand out; odd */
  gboolean    writing;      /* a call is writing its request */
  char       *broken;       /* why the connection is unusable; NULL while it works */
  gboolean    closed;       /* vc_kata_client_close ran */
};

/* A guest's text, made safe to quote: valid UTF-8, bounded. */
static char *
guest_text (const char *text)
{
  g_autofree char *valid = g_utf8_make_valid (text ? text : "", -1);
  if (strlen (valid) > GUEST_MESSAGE_MAX)
    {
      const char *end = g_utf8_find_prev_char (valid, valid + GUEST_MESSAGE_MAX);
      return g_strdup_printf ("%.*s...", (int) (end - valid), valid);
    }
  return g_steal_pointer (&valid);
}

/* Marks the connection broken (first reason wins) and wakes everyone. Lock held. */
static void
set_broken_locked (VcKataClient *c, const char *reason)
{
  if (c->broken == NULL)
    c->broken = g_strdup (reason);
  g_cond_broadcast (&c->cond);
}

static void
set_broken (VcKataClient *c, const char *reason)
{
  g_mutex_lock (&c->lock);
  set_broken_locked (c, reason);
  g_mutex_unlock (&c->lock);
}

static gboolean
stream_was_opened_locked (VcKataClient *c, guint32 stream_id)
{
  return (stream_id & 1) == 1 && stream_id < c->next_stream;
}

static gpointer
reader_thread (gpointer data)
{
  VcKataClient *c = data;
  g_autofree char *reason = NULL;

  while (reason == NULL)
    {
      /* Between frames the guest may stay silent for ever (a WaitProcess). */
      struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
      if (poll (&pfd, 1, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          reason = g_strdup_printf ("waiting for the agent: %s", g_strerror (errno));
          break;
        }

      VcTtrpcFrame frame = { 0 };
      VcTtrpcResult r = vc_ttrpc_read_frame (c->fd, (int) c->frame_timeout_ms, &frame);
      if (r == VC_TTRPC_E_EOF)
        reason = g_strdup ("the agent closed the connection");
      else if (r == VC_TTRPC_E_TIMEOUT)
        reason = g_strdup_printf ("the agent sent a frame that did not complete within %u ms",
                                  c->frame_timeout_ms);
      else if (r == VC_TTRPC_E_TOO_LARGE)
        reason = g_strdup_printf ("the agent announced a frame of %u bytes (limit %u)",
                                  frame.header.length, VC_TTRPC_MAX_DATA);
      else if (r == VC_TTRPC_E_IO)
        reason = g_strdup_printf ("reading from the agent: %s", g_strerror (errno));
      else if (r != VC_TTRPC_OK)
        reason = g_strdup_printf ("reading from the agent: %s", vc_ttrpc_result_to_string (r));
      else if (frame.header.type != VC_TTRPC_TYPE_RESPONSE)
        reason = g_strdup_printf ("the agent sent a frame of type %u on stream %u, not a response",
                                  frame.header.type, frame.header.stream_id);
      else
        {
          g_mutex_lock (&c->lock);
          Pending *p = g_hash_table_lookup (c->pending, GUINT_TO_POINTER (frame.header.stream_id));
          if (p != NULL && !p->done)
            {
              p->data = g_steal_pointer (&frame.data);
              p->len = frame.header.length;
              p->done = TRUE;
              g_cond_broadcast (&c->cond);
            }
          else if (!stream_was_opened_locked (c, frame.header.stream_id))
            reason = g_strdup_printf ("the agent answered on stream %u, which was never opened",
                                      frame.header.stream_id);
          /* else: a late answer to a call that gave up; dropped. */
          g_mutex_unlock (&c->lock);
        }
      vc_ttrpc_frame_clear (&frame);
    }

  set_broken (c, reason);
  return NULL;
}

VcKataClient *
vc_kata_client_new (int fd, guint frame_timeout_ms)
{
  VcKataClient *c = g_new0 (VcKataClient, 1);
  c->ref = 1;
  c->fd = fd;
  c->frame_timeout_ms = frame_timeout_ms ? frame_timeout_ms : 30000;
  c->next_stream = 1;
  g_mutex_init (&c->lock);
  g_cond_init (&c->cond);
  c->pending = g_hash_table_new (g_direct_hash, g_direct_equal);
  c->reader = g_thread_new ("kata-agent-reader", reader_thread, c);
  return c;
}

VcKataClient *
vc_kata_client_ref (VcKataClient *c)
{
  g_atomic_int_inc (&c->ref);
  return c;
}

void
vc_kata_client_close (VcKataClient *c, const char *reason)
{
  g_mutex_lock (&c->lock);
  gboolean first = !c->closed;
  c->closed = TRUE;
  set_broken_locked (c, reason ? reason : "the connection was closed");
  g_mutex_unlock (&c->lock);
  if (!first)
    return;
  /* Wakes the reader's poll/read (and a writer's) with EOF/EPIPE. The fd
   * itself stays open until the last reference goes, so no thread ever
   * touches a reused descriptor. */
  shutdown (c->fd, SHUT_RDWR);
  g_thread_join (c->reader);
  c->reader = NULL;
}

void
vc_kata_client_unref (VcKataClient *c)
{
  if (c == NULL || !g_atomic_int_dec_and_test (&c->ref))
    return;
  vc_kata_client_close (c, NULL);
  close (c->fd);
  g_hash_table_unref (c->pending);
  g_free (c->broken);
  g_mutex_clear (&c->lock);
  g_cond_clear (&c->cond);
  g_free (c);
}

char *
vc_kata_client_dup_broken_reason (VcKataClient *c)
{
  g_mutex_lock (&c->lock);
  char *reason = g_strdup (c->broken);
  g_mutex_unlock (&c->lock);
  return reason;
}

/* Writes iov fully before deadline (monotonic µs). *wrote_any tells a
 * failure that left the stream out of step from one that sent nothing. */
static gboolean
write_all (int fd, struct iovec *iov, int iovcnt, gint64 deadline, gboolean *wrote_any,
           GError **error)
{
  *wrote_any = FALSE;
  while (iovcnt > 0)
    {
      struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t) iovcnt };
      ssize_t n = sendmsg (fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno != EAGAIN && errno != EWOULDBLOCK)
            {
              int saved = errno;
              g_set_error (error, VC_ERROR, VC_ERROR_STOPPED, "writing to the agent: %s",
                           g_strerror (saved));
              return FALSE;
            }
          gint64 left_ms = (deadline - g_get_monotonic_time ()) / 1000;
          if (left_ms <= 0)
            {
              g_set_error (error, VC_ERROR, VC_ERROR_TIMEOUT,
                           "the agent does not take the request (its socket stays full)");
              return FALSE;
            }
          struct pollfd pfd = { .fd = fd, .events = POLLOUT };
          if (poll (&pfd, 1, (int) MIN (left_ms, 1000)) < 0 && errno != EINTR)
            {
              int saved = errno;
              g_set_error (error, VC_ERROR, VC_ERROR_STOPPED, "writing to the agent: %s",
                           g_strerror (saved));
              return FALSE;
            }
          continue;
        }
      *wrote_any = TRUE;
      size_t left = (size_t) n;
      while (iovcnt > 0 && left >= iov->iov_len)
        {
          left -= iov->iov_len;
          iov++;
          iovcnt--;
        }
      if (iovcnt > 0)
        {
          iov->iov_base = (guint8 *) iov->iov_base + left;
          iov->iov_len -= left;
        }
    }
  return TRUE;
}

static VcError
error_from_code (int32_t code)
{
  switch (code)
    {
    case VC_TTRPC_CODE_INVALID_ARGUMENT: return VC_ERROR_INVALID_ARGUMENT;
    case VC_TTRPC_CODE_NOT_FOUND: return VC_ERROR_NOT_FOUND;
    case VC_TTRPC_CODE_ALREADY_EXISTS: return VC_ERROR_EXISTS;
    case VC_TTRPC_CODE_PERMISSION_DENIED: return VC_ERROR_ACCESS_DENIED;
    case VC_TTRPC_CODE_FAILED_PRECONDITION: return VC_ERROR_INVALID_STATE;
    case VC_TTRPC_CODE_UNIMPLEMENTED: return VC_ERROR_NOT_SUPPORTED;
    case VC_TTRPC_CODE_DEADLINE_EXCEEDED: return VC_ERROR_TIMEOUT;
    default: return VC_ERROR_FAILED;
    }
}

/* Sends the request and waits for its response frame's data. */
static gboolean
exchange (VcKataClient *c, const char *method, const guint8 *request, gsize request_len,
          guint timeout_ms, guint8 **reply, gsize *reply_len, GError **error)
{
  /* Writing is bounded even for calls without a deadline. */
  gint64 now = g_get_monotonic_time ();
  gint64 deadline = timeout_ms ? now + (gint64) timeout_ms * 1000 : 0;
  gint64 write_deadline = now + (gint64) c->frame_timeout_ms * 1000;
  if (deadline && deadline < write_deadline)
    write_deadline = deadline;
  Pending p = { 0 };
  gboolean ok = FALSE;
  /* Declared before the first goto: its cleanup runs at every return. */
  g_autoptr(GError) write_error = NULL;

  g_mutex_lock (&c->lock);
  if (c->broken)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_STOPPED, "%s: agent connection lost: %s", method,
                   c->broken);
      g_mutex_unlock (&c->lock);
      return FALSE;
    }
  if (c->next_stream >= G_MAXUINT32 - 1)
    {
      set_broken_locked (c, "ran out of stream ids");
      g_set_error (error, VC_ERROR, VC_ERROR_STOPPED, "%s: agent connection lost: %s", method,
                   c->broken);
      g_mutex_unlock (&c->lock);
      return FALSE;
    }
  p.stream_id = c->next_stream;
  c->next_stream += 2;
  g_hash_table_insert (c->pending, GUINT_TO_POINTER (p.stream_id), &p);

  /* One writer at a time, so frames do not interleave. */
  while (c->writing && !c->broken)
    if (!g_cond_wait_until (&c->cond, &c->lock, write_deadline))
      break;
  if (c->broken || c->writing)
    {
      if (c->broken)
        g_set_error (error, VC_ERROR, VC_ERROR_STOPPED, "%s: agent connection lost: %s", method,
                     c->broken);
      else
        g_set_error (error, VC_ERROR, VC_ERROR_TIMEOUT,
                     "%s: timed out waiting to send (the agent does not read)", method);
      goto out;
    }
  c->writing = TRUE;
  g_mutex_unlock (&c->lock);

  guint8 raw[VC_TTRPC_HEADER_SIZE];
  VcTtrpcHeader header = {
    .length = (guint32) request_len, .stream_id = p.stream_id, .type = VC_TTRPC_TYPE_REQUEST,
  };
  vc_ttrpc_header_encode (&header, raw);
  struct iovec iov[2] = {
    { .iov_base = raw, .iov_len = sizeof raw },
    { .iov_base = (void *) request, .iov_len = request_len },
  };
  gboolean wrote_any = FALSE;
  gboolean written = write_all (c->fd, iov, 2, write_deadline, &wrote_any, &write_error);

  g_mutex_lock (&c->lock);
  c->writing = FALSE;
  g_cond_broadcast (&c->cond);
  if (!written)
    {
      /* Half a frame on the wire puts the stream out of step for good. */
      if (wrote_any || write_error->code == VC_ERROR_STOPPED)
        set_broken_locked (c, write_error->message);
      g_set_error (error, VC_ERROR, write_error->code, "%s: %s", method, write_error->message);
      goto out;
    }

  while (!p.done && !c->broken)
    {
      if (deadline == 0)
        g_cond_wait (&c->cond, &c->lock);
      else if (!g_cond_wait_until (&c->cond, &c->lock, deadline))
        break;
    }
  if (p.done)
    {
      *reply = g_steal_pointer (&p.data);
      *reply_len = p.len;
      ok = TRUE;
    }
  else if (c->broken)
    g_set_error (error, VC_ERROR, VC_ERROR_STOPPED, "%s: agent connection lost: %s", method,
                 c->broken);
  else
    g_set_error (error, VC_ERROR, VC_ERROR_TIMEOUT, "%s: the agent did not answer within %u ms",
                 method, timeout_ms);

out:
  g_hash_table_remove (c->pending, GUINT_TO_POINTER (p.stream_id));
  g_mutex_unlock (&c->lock);
  free (p.data);
  return ok;
}

ProtobufCMessage *
vc_kata_client_call (VcKataClient *c, const char *service, const char *method,
                     const ProtobufCMessage *request, const ProtobufCMessageDescriptor *reply_desc,
                     guint timeout_ms, GError **error)
{
  g_autoptr(VcKataClient) self = vc_kata_client_ref (c);
  guint8 *packed = NULL;
  gsize packed_len = 0;
  gint64 timeout_nano = (gint64) timeout_ms * 1000000;

  VcTtrpcResult r = vc_ttrpc_request_pack (service, method, request, timeout_nano, &packed,
                                           &packed_len);
  if (r != VC_TTRPC_OK)
    {
      g_set_error (error, VC_ERROR, r == VC_TTRPC_E_TOO_LARGE ? VC_ERROR_INVALID_ARGUMENT : VC_ERROR_FAILED,
                   "%s: cannot send the request: %s", method, vc_ttrpc_result_to_string (r));
      return NULL;
    }

  guint8 *data = NULL;
  gsize len = 0;
  gboolean ok = exchange (self, method, packed, packed_len, timeout_ms, &data, &len, error);
  free (packed);
  if (!ok)
    return NULL;

  VcTtrpcReply reply = { 0 };
  r = vc_ttrpc_response_unpack (data, len, &reply);
  free (data);
  if (r != VC_TTRPC_OK)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_PROTOCOL, "%s: the agent's response does not decode: %s",
                   method, vc_ttrpc_result_to_string (r));
      return NULL;
    }
  if (reply.code != VC_TTRPC_CODE_OK)
    {
      g_autofree char *message = guest_text (reply.message);
      g_set_error (error, VC_ERROR, error_from_code (reply.code), "agent: %s: %s: %s", method,
                   vc_ttrpc_code_to_string (reply.code), message);
      vc_ttrpc_reply_clear (&reply);
      return NULL;
    }
  ProtobufCMessage *msg = vc_ttrpc_payload_unpack (reply_desc, reply.payload, reply.payload_len);
  vc_ttrpc_reply_clear (&reply);
  if (msg == NULL)
    g_set_error (error, VC_ERROR, VC_ERROR_PROTOCOL,
                 "%s: the agent's reply is not a valid %s", method, reply_desc->name);
  return msg;
}
