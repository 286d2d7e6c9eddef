/* The ttRPC server loop of one connection. Requests are handled
 * concurrently (WaitProcess and ReadStdout block), each in its own thread;
 * responses are written whole under the connection's write lock. */
#include "config.h"

#include "agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Requests in flight per connection; more are answered RESOURCE_EXHAUSTED. */
#define MAX_IN_FLIGHT 256
/* How long the agent gives a peer to send the body of an oversized frame it
 * is throwing away. */
#define SKIP_TIMEOUT_MS 60000

struct Conn {
  int fd;
  char name[64];
  pthread_mutex_t write_lock;
  pthread_mutex_t state_lock;
  int refs;
  int in_flight;
  bool dead;
};

typedef struct {
  Conn *conn;
  uint32_t stream_id;
  VcTtrpcCall call;
} Work;

static Conn *
conn_ref (Conn *c)
{
  pthread_mutex_lock (&c->state_lock);
  c->refs++;
  pthread_mutex_unlock (&c->state_lock);
  return c;
}

static void
conn_unref (Conn *c)
{
  pthread_mutex_lock (&c->state_lock);
  bool last = --c->refs == 0;
  pthread_mutex_unlock (&c->state_lock);
  if (!last)
    return;
  pthread_mutex_destroy (&c->write_lock);
  pthread_mutex_destroy (&c->state_lock);
  free (c);
}

/* Writes one response frame unless the connection is gone. */
static void
conn_send (Conn *c, uint32_t stream_id, int code, const char *message, const ProtobufCMessage *payload)
{
  pthread_mutex_lock (&c->write_lock);
  if (!c->dead)
    {
      VcTtrpcResult r = vc_ttrpc_send_response (c->fd, stream_id, code, message, payload);
      if (r == VC_TTRPC_E_TOO_LARGE)
        r = vc_ttrpc_send_response (c->fd, stream_id, VC_TTRPC_CODE_RESOURCE_EXHAUSTED,
                                    "reply larger than 4 MiB", NULL);
      if (r != VC_TTRPC_OK)
        agent_log ("%s: cannot send the response of stream %u: %s", c->name, stream_id,
                   vc_ttrpc_result_to_string (r));
    }
  pthread_mutex_unlock (&c->write_lock);
}

void
rpc_reply (RpcCall *call, const ProtobufCMessage *reply)
{
  if (call->replied)
    return;
  call->replied = true;
  conn_send (call->conn, call->stream_id, VC_TTRPC_CODE_OK, NULL, reply);
}

/* Appends v as a protobuf varint; returns its length. */
static size_t
put_varint (uint8_t *out, uint64_t v)
{
  size_t n = 0;
  do
    {
      out[n++] = (uint8_t) ((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
      v >>= 7;
    }
  while (v);
  return n;
}

bool
rpc_reply_encoded (RpcCall *call, const struct iovec *payload, int iovcnt, size_t payload_len)
{
  if (call->replied)
    return false;
  call->replied = true;
  if (iovcnt < 0 || iovcnt > 6)
    return false;

  /* ttrpc.Response { status = 1: {} (OK), payload = 2: the bytes }. */
  uint8_t head[16];
  size_t n = 0;
  head[n++] = 0x0a;  /* field 1, length-delimited */
  head[n++] = 0x00;  /* an empty google.rpc.Status: code OK */
  head[n++] = 0x12;  /* field 2, length-delimited */
  n += put_varint (head + n, payload_len);
  struct iovec iov[7] = { { .iov_base = head, .iov_len = n } };
  for (int i = 0; i < iovcnt; i++)
    iov[i + 1] = payload[i];
  VcTtrpcHeader header = {
    .length = (uint32_t) (n + payload_len), .stream_id = call->stream_id,
    .type = VC_TTRPC_TYPE_RESPONSE,
  };

  Conn *c = call->conn;
  VcTtrpcResult r = VC_TTRPC_E_IO;
  pthread_mutex_lock (&c->write_lock);
  if (!c->dead)
    {
      r = vc_ttrpc_write_frame_iov (c->fd, &header, iov, iovcnt + 1);
      if (r != VC_TTRPC_OK)
        agent_log ("%s: cannot send the response of stream %u: %s", c->name, call->stream_id,
                   vc_ttrpc_result_to_string (r));
    }
  pthread_mutex_unlock (&c->write_lock);
  return r == VC_TTRPC_OK;
}

void
rpc_fail (RpcCall *call, const AgentError *err)
{
  if (call->replied)
    return;
  call->replied = true;
  conn_send (call->conn, call->stream_id, err->code ? err->code : VC_TTRPC_CODE_INTERNAL, err->message, NULL);
}

bool
rpc_call_alive (RpcCall *call)
{
  pthread_mutex_lock (&call->conn->write_lock);
  bool alive = !call->conn->dead;
  pthread_mutex_unlock (&call->conn->write_lock);
  return alive;
}

static void *
work_thread (void *data)
{
  Work *w = data;
  RpcCall call = { .conn = w->conn, .stream_id = w->stream_id };

  rpc_dispatch (&call, &w->call);

  pthread_mutex_lock (&w->conn->state_lock);
  w->conn->in_flight--;
  pthread_mutex_unlock (&w->conn->state_lock);
  conn_unref (w->conn);
  vc_ttrpc_call_clear (&w->call);
  free (w);
  return NULL;
}

/* Starts a worker for one request; false if the connection has too many. */
static bool
start_work (Conn *c, uint32_t stream_id, VcTtrpcCall *call)
{
  pthread_mutex_lock (&c->state_lock);
  bool full = c->in_flight >= MAX_IN_FLIGHT;
  if (!full)
    c->in_flight++;
  pthread_mutex_unlock (&c->state_lock);
  if (full)
    return false;

  Work *w = xcalloc (1, sizeof *w);
  w->conn = conn_ref (c);
  w->stream_id = stream_id;
  w->call = *call;
  memset (call, 0, sizeof *call);

  pthread_t t;
  pthread_attr_t attr;
  pthread_attr_init (&attr);
  pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize (&attr, 512 * 1024);
  int r = pthread_create (&t, &attr, work_thread, w);
  pthread_attr_destroy (&attr);
  if (r != 0)
    {
      *call = w->call;
      free (w);
      pthread_mutex_lock (&c->state_lock);
      c->in_flight--;
      pthread_mutex_unlock (&c->state_lock);
      conn_unref (c);
      return false;
    }
  return true;
}

void
server_serve_fd (int fd, const char *name)
{
  Conn *c = xcalloc (1, sizeof *c);
  c->fd = fd;
  c->refs = 1;
  snprintf (c->name, sizeof c->name, "%s", name);
  pthread_mutex_init (&c->write_lock, NULL);
  pthread_mutex_init (&c->state_lock, NULL);
  agent_debug ("%s: serving", c->name);

  for (;;)
    {
      VcTtrpcFrame frame = { 0 };
      VcTtrpcResult r = vc_ttrpc_read_frame (fd, -1, &frame);

      if (r == VC_TTRPC_E_TOO_LARGE)
        {
          /* The host is trusted to send the body it announced: throw it away
           * in small pieces and answer the stream with an error. */
          agent_log ("%s: stream %u: frame of %u bytes is over the 4 MiB limit", c->name,
                     frame.header.stream_id, frame.header.length);
          r = vc_ttrpc_skip (fd, SKIP_TIMEOUT_MS, frame.header.length);
          if (r != VC_TTRPC_OK)
            break;
          if (frame.header.type == VC_TTRPC_TYPE_REQUEST)
            conn_send (c, frame.header.stream_id, VC_TTRPC_CODE_RESOURCE_EXHAUSTED,
                       "request larger than the 4 MiB frame limit", NULL);
          continue;
        }
      if (r == VC_TTRPC_E_BAD_TYPE)
        {
          agent_log ("%s: stream %u: ignoring a frame of unknown type %u", c->name,
                     frame.header.stream_id, frame.header.type);
          vc_ttrpc_frame_clear (&frame);
          continue;
        }
      if (r != VC_TTRPC_OK)
        {
          if (r != VC_TTRPC_E_EOF)
            agent_log ("%s: %s", c->name, vc_ttrpc_result_to_string (r));
          break;
        }
      if (frame.header.type != VC_TTRPC_TYPE_REQUEST)
        {
          /* Streaming data is not used by the Kata protocol. */
          agent_debug ("%s: stream %u: ignoring a frame of type %u", c->name,
                       frame.header.stream_id, frame.header.type);
          vc_ttrpc_frame_clear (&frame);
          continue;
        }

      /* The call keeps the frame's buffer: a WriteStdin's bytes go from it
       * to the process's pipe without a copy. */
      VcTtrpcCall call;
      r = vc_ttrpc_request_take (frame.data, frame.header.length, &call);
      uint32_t stream_id = frame.header.stream_id;
      if (r == VC_TTRPC_OK)
        frame.data = NULL;
      vc_ttrpc_frame_clear (&frame);
      if (r != VC_TTRPC_OK)
        {
          agent_log ("%s: stream %u: %s", c->name, stream_id, vc_ttrpc_result_to_string (r));
          conn_send (c, stream_id, vc_ttrpc_result_to_code (r),
                     "malformed ttrpc request: not a ttrpc.Request message", NULL);
          continue;
        }
      if (!start_work (c, stream_id, &call))
        {
          conn_send (c, stream_id, VC_TTRPC_CODE_RESOURCE_EXHAUSTED, "too many requests in flight", NULL);
          vc_ttrpc_call_clear (&call);
        }
    }

  agent_debug ("%s: connection closed", c->name);
  pthread_mutex_lock (&c->write_lock);
  c->dead = true;
  close (c->fd);
  c->fd = -1;
  pthread_mutex_unlock (&c->write_lock);
  conn_unref (c);
}
