/* Unit tests of the ttRPC framing and envelopes in proto/. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kata-agent.h"
#include "ttrpc.pb-c.h"

static void
make_socketpair (int fds[2])
{
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
}

static void
write_all (int fd, const void *buf, size_t len)
{
  const guint8 *p = buf;
  while (len > 0)
    {
      ssize_t n = write (fd, p, len);
      if (n < 0 && errno == EINTR)
        continue;
      g_assert_cmpint (n, >, 0);
      p += n;
      len -= (size_t) n;
    }
}

static void
test_header_round_trip (void)
{
  VcTtrpcHeader in = { .length = 0x010203, .stream_id = 0xdeadbeef, .type = VC_TTRPC_TYPE_RESPONSE, .flags = 0x01 };
  VcTtrpcHeader out = { 0 };
  guint8 raw[VC_TTRPC_HEADER_SIZE];
  const guint8 expected[] = { 0x00, 0x01, 0x02, 0x03, 0xde, 0xad, 0xbe, 0xef, 0x02, 0x01 };

  vc_ttrpc_header_encode (&in, raw);
  g_assert_cmpmem (raw, sizeof raw, expected, sizeof expected);
  g_assert_cmpint (vc_ttrpc_header_decode (raw, sizeof raw, &out), ==, VC_TTRPC_OK);
  g_assert_cmpuint (out.length, ==, in.length);
  g_assert_cmpuint (out.stream_id, ==, in.stream_id);
  g_assert_cmpuint (out.type, ==, in.type);
  g_assert_cmpuint (out.flags, ==, in.flags);
}

static void
test_header_truncated (void)
{
  guint8 raw[VC_TTRPC_HEADER_SIZE] = { 0 };
  VcTtrpcHeader h = { .length = 77 };

  for (size_t len = 0; len < VC_TTRPC_HEADER_SIZE; len++)
    g_assert_cmpint (vc_ttrpc_header_decode (raw, len, &h), ==, VC_TTRPC_E_TRUNCATED);
  g_assert_cmpuint (h.length, ==, 77); /* untouched */
}

static void
test_header_limits (void)
{
  VcTtrpcHeader h;
  guint8 raw[VC_TTRPC_HEADER_SIZE];

  /* exactly 4 MiB is allowed, one byte more is not */
  vc_ttrpc_header_encode (&(VcTtrpcHeader) { .length = VC_TTRPC_MAX_DATA, .stream_id = 1, .type = 1 }, raw);
  g_assert_cmpint (vc_ttrpc_header_decode (raw, sizeof raw, &h), ==, VC_TTRPC_OK);
  vc_ttrpc_header_encode (&(VcTtrpcHeader) { .length = VC_TTRPC_MAX_DATA + 1, .stream_id = 3, .type = 1 }, raw);
  g_assert_cmpint (vc_ttrpc_header_decode (raw, sizeof raw, &h), ==, VC_TTRPC_E_TOO_LARGE);
  g_assert_cmpuint (h.stream_id, ==, 3);
  vc_ttrpc_header_encode (&(VcTtrpcHeader) { .length = 0xffffffff, .stream_id = 3, .type = 1 }, raw);
  g_assert_cmpint (vc_ttrpc_header_decode (raw, sizeof raw, &h), ==, VC_TTRPC_E_TOO_LARGE);

  /* types 0 and 4..255 are refused */
  guint bad_types[] = { 0, 4, 0x80, 0xff };
  for (size_t i = 0; i < G_N_ELEMENTS (bad_types); i++)
    {
      vc_ttrpc_header_encode (&(VcTtrpcHeader) { .length = 4, .stream_id = 5, .type = bad_types[i] }, raw);
      g_assert_cmpint (vc_ttrpc_header_decode (raw, sizeof raw, &h), ==, VC_TTRPC_E_BAD_TYPE);
      g_assert_cmpuint (h.length, ==, 4);
    }
}

static void
test_frame_parse (void)
{
  guint8 buf[VC_TTRPC_HEADER_SIZE + 3];
  VcTtrpcHeader h;
  size_t frame_len = 0;

  vc_ttrpc_header_encode (&(VcTtrpcHeader) { .length = 3, .stream_id = 1, .type = 3 }, buf);
  memcpy (buf + VC_TTRPC_HEADER_SIZE, "abc", 3);
  for (size_t len = 0; len < sizeof buf; len++)
    g_assert_cmpint (vc_ttrpc_frame_parse (buf, len, &h, &frame_len), ==, VC_TTRPC_E_TRUNCATED);
  g_assert_cmpint (vc_ttrpc_frame_parse (buf, sizeof buf, &h, &frame_len), ==, VC_TTRPC_OK);
  g_assert_cmpuint (frame_len, ==, sizeof buf);

  vc_ttrpc_header_encode (&(VcTtrpcHeader) { .length = 0x7fffffff, .stream_id = 1, .type = 1 }, buf);
  g_assert_cmpint (vc_ttrpc_frame_parse (buf, VC_TTRPC_HEADER_SIZE, &h, &frame_len), ==, VC_TTRPC_E_TOO_LARGE);
}

/* A request carrying a Kata message crosses a socket and decodes intact,
 * and so does the response. */
static void
test_request_response_round_trip (void)
{
  int fds[2];
  make_socketpair (fds);

  Grpc__CreateContainerRequest req = GRPC__CREATE_CONTAINER_REQUEST__INIT;
  Grpc__Spec spec = GRPC__SPEC__INIT;
  Grpc__Linux linux_ = GRPC__LINUX__INIT;
  Grpc__Storage storage = GRPC__STORAGE__INIT;
  Grpc__Storage *storages[] = { &storage };
  char *args[] = { "/bin/echo", "hi" };
  Grpc__Process process = GRPC__PROCESS__INIT;
  req.container_id = "c1";
  req.n_storages = 1;
  req.storages = storages;
  storage.driver = "9p";
  storage.source = "kataShared";
  storage.mount_point = "/run/kata-containers/shared/containers/";
  process.n_args = 2;
  process.args = args;
  linux_.cgroupspath = "/vc/c1";
  spec.process = &process;
  spec.linux = &linux_;
  req.oci = &spec;

  g_assert_cmpint (vc_ttrpc_send_request (fds[0], 7, VC_KATA_AGENT_SERVICE, "CreateContainer", &req.base, 5000000000),
                   ==, VC_TTRPC_OK);

  VcTtrpcFrame frame = { 0 };
  g_assert_cmpint (vc_ttrpc_read_frame (fds[1], 1000, &frame), ==, VC_TTRPC_OK);
  g_assert_cmpuint (frame.header.stream_id, ==, 7);
  g_assert_cmpuint (frame.header.type, ==, VC_TTRPC_TYPE_REQUEST);
  g_assert_cmpuint (frame.header.flags, ==, 0);

  VcTtrpcCall call;
  g_assert_cmpint (vc_ttrpc_request_unpack (frame.data, frame.header.length, &call), ==, VC_TTRPC_OK);
  g_assert_cmpstr (call.service, ==, "grpc.AgentService");
  g_assert_cmpstr (call.method, ==, "CreateContainer");
  g_assert_cmpint (call.timeout_nano, ==, 5000000000);
  Grpc__CreateContainerRequest *got = (Grpc__CreateContainerRequest *)
    vc_ttrpc_payload_unpack (&grpc__create_container_request__descriptor, call.payload, call.payload_len);
  g_assert_nonnull (got);
  g_assert_cmpstr (got->container_id, ==, "c1");
  g_assert_cmpuint (got->n_storages, ==, 1);
  g_assert_cmpstr (got->storages[0]->source, ==, "kataShared");
  g_assert_cmpstr (got->storages[0]->mount_point, ==, "/run/kata-containers/shared/containers/");
  g_assert_nonnull (got->oci);
  g_assert_cmpuint (got->oci->process->n_args, ==, 2);
  g_assert_cmpstr (got->oci->process->args[1], ==, "hi");
  g_assert_cmpstr (got->oci->linux->cgroupspath, ==, "/vc/c1");
  protobuf_c_message_free_unpacked (&got->base, NULL);
  vc_ttrpc_call_clear (&call);
  vc_ttrpc_frame_clear (&frame);

  /* a success response with a payload */
  Grpc__WaitProcessResponse wait = GRPC__WAIT_PROCESS_RESPONSE__INIT;
  wait.status = 42;
  g_assert_cmpint (vc_ttrpc_send_response (fds[1], 7, VC_TTRPC_CODE_OK, NULL, &wait.base), ==, VC_TTRPC_OK);
  g_assert_cmpint (vc_ttrpc_read_frame (fds[0], 1000, &frame), ==, VC_TTRPC_OK);
  g_assert_cmpuint (frame.header.type, ==, VC_TTRPC_TYPE_RESPONSE);
  VcTtrpcReply reply;
  g_assert_cmpint (vc_ttrpc_response_unpack (frame.data, frame.header.length, &reply), ==, VC_TTRPC_OK);
  g_assert_cmpint (reply.code, ==, VC_TTRPC_CODE_OK);
  g_assert_cmpstr (reply.message, ==, "");
  Grpc__WaitProcessResponse *wgot = (Grpc__WaitProcessResponse *)
    vc_ttrpc_payload_unpack (&grpc__wait_process_response__descriptor, reply.payload, reply.payload_len);
  g_assert_nonnull (wgot);
  g_assert_cmpint (wgot->status, ==, 42);
  protobuf_c_message_free_unpacked (&wgot->base, NULL);
  vc_ttrpc_reply_clear (&reply);
  vc_ttrpc_frame_clear (&frame);

  /* an error response */
  g_assert_cmpint (vc_ttrpc_send_response (fds[1], 9, VC_TTRPC_CODE_NOT_FOUND, "no container c9", NULL), ==, VC_TTRPC_OK);
  g_assert_cmpint (vc_ttrpc_read_frame (fds[0], 1000, &frame), ==, VC_TTRPC_OK);
  g_assert_cmpint (vc_ttrpc_response_unpack (frame.data, frame.header.length, &reply), ==, VC_TTRPC_OK);
  g_assert_cmpint (reply.code, ==, VC_TTRPC_CODE_NOT_FOUND);
  g_assert_cmpstr (reply.message, ==, "no container c9");
  g_assert_cmpuint (reply.payload_len, ==, 0);
  vc_ttrpc_reply_clear (&reply);
  vc_ttrpc_frame_clear (&frame);

  /* an empty payload (google.protobuf.Empty) decodes */
  Google__Protobuf__Empty *empty = (Google__Protobuf__Empty *)
    vc_ttrpc_payload_unpack (&google__protobuf__empty__descriptor, NULL, 0);
  g_assert_nonnull (empty);
  protobuf_c_message_free_unpacked (&empty->base, NULL);

  close (fds[0]);
  close (fds[1]);
}

/* The Kata wire format: field numbers checked against hand-encoded bytes. */
static void
test_kata_field_numbers (void)
{
  /* ReadStreamRequest{container_id="a" (1), exec_id="b" (2), len=5 (3)} */
  const guint8 wire[] = { 0x0a, 0x01, 'a', 0x12, 0x01, 'b', 0x18, 0x05 };
  Grpc__ReadStreamRequest *r = (Grpc__ReadStreamRequest *)
    vc_ttrpc_payload_unpack (&grpc__read_stream_request__descriptor, wire, sizeof wire);
  g_assert_nonnull (r);
  g_assert_cmpstr (r->container_id, ==, "a");
  g_assert_cmpstr (r->exec_id, ==, "b");
  g_assert_cmpuint (r->len, ==, 5);
  protobuf_c_message_free_unpacked (&r->base, NULL);

  /* ttrpc Request{service=1, method=2, payload=3, timeout_nano=4} */
  guint8 *out = NULL;
  size_t out_len = 0;
  g_assert_cmpint (vc_ttrpc_request_pack ("s", "m", NULL, 1, &out, &out_len), ==, VC_TTRPC_OK);
  const guint8 expected[] = { 0x0a, 0x01, 's', 0x12, 0x01, 'm', 0x20, 0x01 };
  g_assert_cmpmem (out, out_len, expected, sizeof expected);
  free (out);

  /* ttrpc Response{status=1 {code=1, message=2}} */
  g_assert_cmpint (vc_ttrpc_response_pack (12, "x", NULL, &out, &out_len), ==, VC_TTRPC_OK);
  const guint8 expected_resp[] = { 0x0a, 0x05, 0x08, 0x0c, 0x12, 0x01, 'x' };
  g_assert_cmpmem (out, out_len, expected_resp, sizeof expected_resp);
  free (out);
}

static void
test_read_eof_and_truncation (void)
{
  int fds[2];
  VcTtrpcFrame frame = { 0 };
  guint8 raw[VC_TTRPC_HEADER_SIZE];

  /* clean EOF between frames */
  make_socketpair (fds);
  close (fds[0]);
  g_assert_cmpint (vc_ttrpc_read_frame (fds[1], 1000, &frame), ==, VC_TTRPC_E_EOF);
  close (fds[1]);

  /* EOF inside the header */
  make_socketpair (fds);
  vc_ttrpc_header_encode (&(VcTtrpcHeader) { .length = 4, .stream_id = 1, .type = 1 }, raw);
  write_all (fds[0], raw, 5);
  close (fds[0]);
  g_assert_cmpint (vc_ttrpc_read_frame (fds[1], 1000, &frame), ==, VC_TTRPC_E_TRUNCATED);
  g_assert_null (frame.data);
  close (fds[1]);

  /* EOF inside the data */
  make_socketpair (fds);
  write_all (fds[0], raw, sizeof raw);
  write_all (fds[0], "ab", 2);
  close (fds[0]);
  g_assert_cmpint (vc_ttrpc_read_frame (fds[1], 1000, &frame), ==, VC_TTRPC_E_TRUNCATED);
  g_assert_null (frame.data);
  close (fds[1]);

  /* a peer that stops in the middle of a frame: the deadline applies */
  make_socketpair (fds);
  write_all (fds[0], raw, 3);
  gint64 start = g_get_monotonic_time ();
  g_assert_cmpint (vc_ttrpc_read_frame (fds[1], 200, &frame), ==, VC_TTRPC_E_TIMEOUT);
  gint64 elapsed_ms = (g_get_monotonic_time () - start) / 1000;
  g_assert_cmpint (elapsed_ms, >=, 150);
  g_assert_cmpint (elapsed_ms, <, 5000);
  close (fds[0]);
  close (fds[1]);
}

typedef struct {
  int fd;
  size_t len;
} Writer;

static gpointer
write_zeros_thread (gpointer data)
{
  Writer *w = data;
  guint8 chunk[65536] = { 0 };
  size_t left = w->len;
  while (left > 0)
    {
      size_t n = left > sizeof chunk ? sizeof chunk : left;
      write_all (w->fd, chunk, n);
      left -= n;
    }
  return NULL;
}

/* A frame announcing more than 4 MiB is refused before its data is read;
 * a trusting reader can skip it and go on with the next frame. */
static void
test_read_oversized (void)
{
  int fds[2];
  VcTtrpcFrame frame = { 0 };
  guint8 raw[VC_TTRPC_HEADER_SIZE];
  make_socketpair (fds);

  /* a 4 GiB announcement with nothing behind it: refused at once */
  vc_ttrpc_header_encode (&(VcTtrpcHeader) { .length = 0xfffffff0, .stream_id = 11, .type = 1 }, raw);
  write_all (fds[0], raw, sizeof raw);
  g_assert_cmpint (vc_ttrpc_read_frame (fds[1], 1000, &frame), ==, VC_TTRPC_E_TOO_LARGE);
  g_assert_cmpuint (frame.header.stream_id, ==, 11);
  g_assert_null (frame.data);
  close (fds[0]);
  close (fds[1]);

  /* 4 MiB + 1 with its data, then a valid frame */
  make_socketpair (fds);
  Writer w = { .fd = fds[0], .len = VC_TTRPC_MAX_DATA + 1 };
  vc_ttrpc_header_encode (&(VcTtrpcHeader) { .length = (uint32_t) w.len, .stream_id = 13, .type = 1 }, raw);
  write_all (fds[0], raw, sizeof raw);
  GThread *t = g_thread_new ("writer", write_zeros_thread, &w);
  g_assert_cmpint (vc_ttrpc_read_frame (fds[1], 5000, &frame), ==, VC_TTRPC_E_TOO_LARGE);
  g_assert_cmpint (vc_ttrpc_skip (fds[1], 5000, frame.header.length), ==, VC_TTRPC_OK);
  g_thread_join (t);
  vc_ttrpc_frame_clear (&frame);

  g_assert_cmpint (vc_ttrpc_send_request (fds[0], 15, "grpc.Health", "Check", NULL, 0), ==, VC_TTRPC_OK);
  g_assert_cmpint (vc_ttrpc_read_frame (fds[1], 1000, &frame), ==, VC_TTRPC_OK);
  g_assert_cmpuint (frame.header.stream_id, ==, 15);
  vc_ttrpc_frame_clear (&frame);
  close (fds[0]);
  close (fds[1]);

  /* nothing over the limit is ever sent */
  make_socketpair (fds);
  g_assert_cmpint (vc_ttrpc_write_frame (fds[0], &(VcTtrpcHeader) { .length = VC_TTRPC_MAX_DATA + 1, .type = 1 }, raw),
                   ==, VC_TTRPC_E_TOO_LARGE);
  Grpc__WriteStreamRequest big = GRPC__WRITE_STREAM_REQUEST__INIT;
  big.data.len = VC_TTRPC_MAX_DATA;
  big.data.data = g_malloc0 (big.data.len);
  g_assert_cmpint (vc_ttrpc_send_request (fds[0], 17, VC_KATA_AGENT_SERVICE, "WriteStdin", &big.base, 0),
                   ==, VC_TTRPC_E_TOO_LARGE);
  g_free (big.data.data);
  g_assert_cmpint (fcntl (fds[1], F_SETFL, O_NONBLOCK), ==, 0);
  g_assert_cmpint (read (fds[1], raw, 1), ==, -1); /* nothing was written */
  g_assert_cmpint (errno, ==, EAGAIN);
  close (fds[0]);
  close (fds[1]);
}

/* A frame of unknown type is read whole, so the stream stays in step. */
static void
test_read_bad_type (void)
{
  int fds[2];
  VcTtrpcFrame frame = { 0 };
  make_socketpair (fds);

  g_assert_cmpint (vc_ttrpc_write_frame (fds[0], &(VcTtrpcHeader) { .length = 3, .stream_id = 1, .type = 9 },
                                         (const guint8 *) "xyz"), ==, VC_TTRPC_OK);
  g_assert_cmpint (vc_ttrpc_send_request (fds[0], 3, "grpc.Health", "Check", NULL, 0), ==, VC_TTRPC_OK);
  g_assert_cmpint (vc_ttrpc_read_frame (fds[1], 1000, &frame), ==, VC_TTRPC_E_BAD_TYPE);
  g_assert_cmpuint (frame.header.type, ==, 9);
  g_assert_cmpmem (frame.data, frame.header.length, "xyz", 3);
  vc_ttrpc_frame_clear (&frame);
  g_assert_cmpint (vc_ttrpc_read_frame (fds[1], 1000, &frame), ==, VC_TTRPC_OK);
  g_assert_cmpuint (frame.header.stream_id, ==, 3);
  vc_ttrpc_frame_clear (&frame);
  close (fds[0]);
  close (fds[1]);
}

static void
test_garbage_protobuf (void)
{
  /* invalid wire type 7; a length running past the end; a truncated varint */
  const guint8 bad_wire_type[] = { 0x0f, 0x00 };
  const guint8 overlong[] = { 0x0a, 0x7f, 'a' };
  const guint8 bad_varint[] = { 0x20, 0xff, 0xff };
  const struct { const guint8 *data; size_t len; } cases[] = {
    { bad_wire_type, sizeof bad_wire_type },
    { overlong, sizeof overlong },
    { bad_varint, sizeof bad_varint },
  };

  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      VcTtrpcCall call;
      VcTtrpcReply reply;
      g_assert_cmpint (vc_ttrpc_request_unpack (cases[i].data, cases[i].len, &call), ==, VC_TTRPC_E_DECODE);
      g_assert_null (call.service);
      g_assert_cmpint (vc_ttrpc_response_unpack (cases[i].data, cases[i].len, &reply), ==, VC_TTRPC_E_DECODE);
      g_assert_null (reply.message);
      g_assert_null (vc_ttrpc_payload_unpack (&grpc__create_container_request__descriptor,
                                              cases[i].data, cases[i].len));
    }

  /* random bytes never crash the decoder */
  GRand *rand = g_rand_new_with_seed (1234);
  guint8 buf[256];
  for (int round = 0; round < 2000; round++)
    {
      size_t len = g_rand_int_range (rand, 0, sizeof buf);
      for (size_t i = 0; i < len; i++)
        buf[i] = g_rand_int_range (rand, 0, 256);
      VcTtrpcCall call;
      if (vc_ttrpc_request_unpack (buf, len, &call) == VC_TTRPC_OK)
        vc_ttrpc_call_clear (&call);
      ProtobufCMessage *m = vc_ttrpc_payload_unpack (&grpc__create_container_request__descriptor, buf, len);
      if (m)
        protobuf_c_message_free_unpacked (m, NULL);
    }
  g_rand_free (rand);
}

typedef struct {
  int fd;
  guint8 *payload;
  size_t len;
} BigSender;

static gpointer
send_big_thread (gpointer data)
{
  BigSender *s = data;
  Grpc__WriteStreamRequest req = GRPC__WRITE_STREAM_REQUEST__INIT;
  req.container_id = "c";
  req.data.data = s->payload;
  req.data.len = s->len;
  g_assert_cmpint (vc_ttrpc_send_request (s->fd, 1, VC_KATA_AGENT_SERVICE, "WriteStdin", &req.base, 0), ==, VC_TTRPC_OK);
  return NULL;
}

/* A near-limit frame written to a non-blocking socket (many partial writes)
 * arrives intact. */
static void
test_large_frame_partial_io (void)
{
  int fds[2];
  make_socketpair (fds);
  g_assert_cmpint (fcntl (fds[0], F_SETFL, O_NONBLOCK), ==, 0);
  g_assert_cmpint (fcntl (fds[1], F_SETFL, O_NONBLOCK), ==, 0);

  BigSender s = { .fd = fds[0], .len = VC_TTRPC_MAX_DATA - 4096 };
  s.payload = g_malloc (s.len);
  for (size_t i = 0; i < s.len; i++)
    s.payload[i] = (guint8) (i * 31 + 7);
  GThread *t = g_thread_new ("sender", send_big_thread, &s);

  VcTtrpcFrame frame = { 0 };
  g_assert_cmpint (vc_ttrpc_read_frame (fds[1], 10000, &frame), ==, VC_TTRPC_OK);
  g_thread_join (t);
  VcTtrpcCall call;
  g_assert_cmpint (vc_ttrpc_request_unpack (frame.data, frame.header.length, &call), ==, VC_TTRPC_OK);
  Grpc__WriteStreamRequest *got = (Grpc__WriteStreamRequest *)
    vc_ttrpc_payload_unpack (&grpc__write_stream_request__descriptor, call.payload, call.payload_len);
  g_assert_nonnull (got);
  g_assert_cmpmem (got->data.data, got->data.len, s.payload, s.len);
  protobuf_c_message_free_unpacked (&got->base, NULL);
  vc_ttrpc_call_clear (&call);
  vc_ttrpc_frame_clear (&frame);
  g_free (s.payload);
  close (fds[0]);
  close (fds[1]);
}

static void
test_strings (void)
{
  g_assert_cmpstr (vc_ttrpc_code_to_string (VC_TTRPC_CODE_UNIMPLEMENTED), ==, "UNIMPLEMENTED");
  g_assert_cmpstr (vc_ttrpc_code_to_string (VC_TTRPC_CODE_OK), ==, "OK");
  g_assert_cmpstr (vc_ttrpc_code_to_string (16), ==, "UNAUTHENTICATED");
  g_assert_cmpstr (vc_ttrpc_code_to_string (17), ==, "UNKNOWN_CODE");
  g_assert_cmpstr (vc_ttrpc_code_to_string (-1), ==, "UNKNOWN_CODE");
  g_assert_cmpstr (vc_ttrpc_result_to_string (VC_TTRPC_E_TOO_LARGE), ==, "frame larger than 4 MiB");
  g_assert_cmpint (vc_ttrpc_result_to_code (VC_TTRPC_E_DECODE), ==, VC_TTRPC_CODE_INVALID_ARGUMENT);
  g_assert_cmpint (vc_ttrpc_result_to_code (VC_TTRPC_E_TOO_LARGE), ==, VC_TTRPC_CODE_RESOURCE_EXHAUSTED);
}

/* The in-place request decoder (proto/pb-view.c) against protobuf-c: on
 * valid requests and on every one-byte change and cut of them, both accept
 * or both refuse, and what they accept is the same. */
static void
check_against_protobuf_c (const guint8 *buf, size_t len)
{
  Ttrpc__Request *ref = ttrpc__request__unpack (NULL, len, buf);
  VcTtrpcCall call;
  VcTtrpcResult r = vc_ttrpc_request_unpack (buf, len, &call);
  if ((r == VC_TTRPC_OK) != (ref != NULL))
    {
      g_autofree char *hex = g_malloc0 (len * 3 + 1);
      for (size_t i = 0; i < len; i++)
        g_snprintf (hex + 3 * i, 4, "%02x ", buf[i]);
      g_test_message ("differs (ours %d) on %s", r, hex);
    }
  g_assert_cmpint (r == VC_TTRPC_OK, ==, ref != NULL);
  if (ref)
    {
      g_assert_cmpstr (call.service, ==, ref->service);
      g_assert_cmpstr (call.method, ==, ref->method);
      g_assert_cmpuint (call.payload_len, ==, ref->payload.len);
      if (call.payload_len)
        g_assert_cmpmem (call.payload, call.payload_len, ref->payload.data, ref->payload.len);
      g_assert_cmpint (call.timeout_nano, ==, ref->timeout_nano);
      vc_ttrpc_call_clear (&call);

      /* take: the same, with the payload inside the taken buffer */
      guint8 *owned = g_memdup2 (buf, len ? len : 1);
      g_assert_cmpint (vc_ttrpc_request_take (owned, len, &call), ==, VC_TTRPC_OK);
      g_assert_cmpstr (call.method, ==, ref->method);
      g_assert_true (call.storage == owned);
      g_assert_true (call.payload_len == 0 || (call.payload >= owned && call.payload < owned + len));
      vc_ttrpc_call_clear (&call);
      ttrpc__request__free_unpacked (ref, NULL);
    }
}

static void
test_request_view_matches_protobuf_c (void)
{
  GRand *rand = g_rand_new_with_seed (4321);
  for (int round = 0; round < 200; round++)
    {
      Ttrpc__Request req = TTRPC__REQUEST__INIT;
      Ttrpc__KeyValue kv = TTRPC__KEY_VALUE__INIT, *kvs[1] = { &kv };
      guint8 payload[64];
      size_t payload_len = g_rand_int_range (rand, 0, sizeof payload);
      for (size_t i = 0; i < payload_len; i++)
        payload[i] = g_rand_int_range (rand, 0, 256);
      req.service = (char *) (round % 3 ? "grpc.AgentService" : "");
      req.method = (char *) (round % 5 ? "WriteStdin" : "");
      req.payload.data = payload;
      req.payload.len = payload_len;
      req.timeout_nano = round % 4 ? (int64_t) g_rand_int (rand) * (round % 7 ? 1 : -1) : 0;
      if (round % 2)
        {
          kv.key = (char *) "k";
          kv.value = (char *) "v";
          req.n_metadata = 1;
          req.metadata = kvs;
        }
      size_t len = ttrpc__request__get_packed_size (&req);
      g_autofree guint8 *buf = g_malloc (len + 1);
      ttrpc__request__pack (&req, buf);
      check_against_protobuf_c (buf, len);
      for (size_t cut = 0; cut < len; cut++)
        check_against_protobuf_c (buf, cut);
      for (size_t i = 0; i < len; i++)
        {
          guint8 saved = buf[i];
          for (int k = 0; k < 4; k++)
            {
              buf[i] = (guint8) g_rand_int_range (rand, 0, 256);
              check_against_protobuf_c (buf, len);
            }
          buf[i] = saved;
        }
    }
  g_rand_free (rand);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/proto/header/round-trip", test_header_round_trip);
  g_test_add_func ("/proto/header/truncated", test_header_truncated);
  g_test_add_func ("/proto/header/limits", test_header_limits);
  g_test_add_func ("/proto/frame/parse", test_frame_parse);
  g_test_add_func ("/proto/frame/eof-and-truncation", test_read_eof_and_truncation);
  g_test_add_func ("/proto/frame/oversized", test_read_oversized);
  g_test_add_func ("/proto/frame/bad-type", test_read_bad_type);
  g_test_add_func ("/proto/frame/large-partial-io", test_large_frame_partial_io);
  g_test_add_func ("/proto/message/round-trip", test_request_response_round_trip);
  g_test_add_func ("/proto/message/kata-field-numbers", test_kata_field_numbers);
  g_test_add_func ("/proto/message/garbage", test_garbage_protobuf);
  g_test_add_func ("/proto/message/request-view", test_request_view_matches_protobuf_c);
  g_test_add_func ("/proto/strings", test_strings);
  return g_test_run ();
}
