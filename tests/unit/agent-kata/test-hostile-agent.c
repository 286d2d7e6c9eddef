/* Hostile guest, bounded host (issue 18 part 5): agent-kata against fake
 * agents that never answer, trickle one byte a second, send 4 MiB frames
 * for ever, or flood the connection with answers on stream ids. The host
 * side must hit its deadlines, keep its RSS growth under 32 MiB and start
 * no thread per stream. The figures are printed as TAP comments.
 *
 * Under ASan the allocator keeps freed memory in quarantine and under a
 * test wrapper (valgrind) RSS means nothing: the RSS bound is then reported
 * but not enforced. */
#include "config.h"

#include <errno.h>
#include <glib.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vcrun/agent.h>

#include "agent-kata-private.h"
#include "kata-agent.h"

#define RSS_BOUND_KIB (32 * 1024)

#if defined(__SANITIZE_ADDRESS__)
#define RSS_ENFORCED FALSE
#else
#define RSS_ENFORCED (g_getenv ("VC_TEST_WRAPPER") == NULL || *g_getenv ("VC_TEST_WRAPPER") == '\0')
#endif

/* ---- measuring ---------------------------------------------------------- */

static gint64
status_field (const char *name)
{
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents ("/proc/self/status", &text, NULL, NULL));
  const char *line = strstr (text, name);
  g_assert_nonnull (line);
  return g_ascii_strtoll (line + strlen (name), NULL, 10);
}

static gint64 rss_kib (void) { return status_field ("VmRSS:"); }
static gint64 threads (void) { return status_field ("Threads:"); }

typedef struct {
  gint64 rss_base, rss_max;
  gint64 threads_base, threads_max;
} Bounds;

static void
bounds_start (Bounds *b)
{
  b->rss_base = b->rss_max = rss_kib ();
  b->threads_base = b->threads_max = threads ();
}

static void
bounds_sample (Bounds *b)
{
  b->rss_max = MAX (b->rss_max, rss_kib ());
  b->threads_max = MAX (b->threads_max, threads ());
}

static void
bounds_check (const Bounds *b, const char *what, gint64 max_extra_threads)
{
  gint64 growth = b->rss_max - b->rss_base;
  g_test_message ("%s: RSS growth %" G_GINT64_FORMAT " KiB (bound %d KiB%s), threads %"
                  G_GINT64_FORMAT " -> max %" G_GINT64_FORMAT, what, growth, RSS_BOUND_KIB,
                  RSS_ENFORCED ? "" : ", not enforced here", b->threads_base, b->threads_max);
  if (RSS_ENFORCED)
    g_assert_cmpint (growth, <, RSS_BOUND_KIB);
  g_assert_cmpint (b->threads_max - b->threads_base, <=, max_extra_threads);
}

/* ---- plumbing ------------------------------------------------------------ */

typedef struct Hostile Hostile;
typedef void (*Behaviour) (Hostile *h);

struct Hostile {
  int          fd;          /* the agent's end */
  GThread     *thread;
  Behaviour    behaviour;
  gint         stop;
  guint64      frames, bytes;
  guint32      last_stream;
};

typedef struct {
  const VcAgentOps *ops;
  VcPluginInstance *instance;
  VcAgentConn      *conn;
  Hostile           agent;
} Fixture;

static gboolean
send_all (int fd, const void *buf, size_t len)
{
  const guint8 *p = buf;
  while (len > 0)
    {
      ssize_t n = send (fd, p, len, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;  /* the host hung up */
      p += n;
      len -= (size_t) n;
    }
  return TRUE;
}

static gboolean
send_header (int fd, guint32 length, guint32 stream)
{
  VcTtrpcHeader h = { .length = length, .stream_id = stream, .type = VC_TTRPC_TYPE_RESPONSE };
  guint8 raw[VC_TTRPC_HEADER_SIZE];
  vc_ttrpc_header_encode (&h, raw);
  return send_all (fd, raw, sizeof raw);
}

/* Reads one request if one is there within timeout_ms; its stream id or 0. */
static guint32
read_request (Hostile *h, int timeout_ms)
{
  struct pollfd pfd = { .fd = h->fd, .events = POLLIN };
  if (poll (&pfd, 1, timeout_ms) <= 0)
    return 0;
  VcTtrpcFrame frame = { 0 };
  if (vc_ttrpc_read_frame (h->fd, 5000, &frame) != VC_TTRPC_OK)
    return 0;
  guint32 stream = frame.header.stream_id;
  vc_ttrpc_frame_clear (&frame);
  h->last_stream = stream;
  return stream;
}

static gboolean
answer_check (Hostile *h, guint32 stream)
{
  Grpc__HealthCheckResponse resp = GRPC__HEALTH_CHECK_RESPONSE__INIT;
  resp.status = GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
  return vc_ttrpc_send_response (h->fd, stream, VC_TTRPC_CODE_OK, NULL, &resp.base) == VC_TTRPC_OK;
}

static gpointer
hostile_thread (gpointer data)
{
  Hostile *h = data;
  h->behaviour (h);
  return NULL;
}

static void
fixture_setup (Fixture *fx, guint request_timeout_ms, Behaviour behaviour)
{
  const VcPluginDescriptor *desc = vc_plugin_descriptor ();
  fx->ops = desc->agent;
  g_auto(GVariantBuilder) b = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "request_timeout_ms", g_variant_new_int64 (request_timeout_ms));
  g_autoptr(GVariant) settings = g_variant_ref_sink (g_variant_builder_end (&b));
  g_autoptr(GError) error = NULL;
  fx->instance = desc->create (NULL, settings, &error);
  g_assert_no_error (error);
  int sv[2];
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
  fx->agent.fd = sv[1];
  fx->agent.behaviour = behaviour;
  fx->conn = vc_agent_kata_conn_new_from_fd (fx->instance, sv[0]);
  fx->agent.thread = g_thread_new ("hostile-agent", hostile_thread, &fx->agent);
}

static void
fixture_teardown (Fixture *fx)
{
  g_atomic_int_set (&fx->agent.stop, 1);
  fx->ops->disconnect (fx->conn);
  shutdown (fx->agent.fd, SHUT_RDWR);
  g_thread_join (fx->agent.thread);
  close (fx->agent.fd);
  vc_plugin_descriptor ()->destroy (fx->instance);
}

static gboolean
stopping (Hostile *h)
{
  return g_atomic_int_get (&h->stop) != 0;
}

/* ---- never answers: every call ends at its deadline ----------------------- */

#define SILENT_CALLERS 32

static void
never_answers (Hostile *h)
{
  while (!stopping (h))
    if (read_request (h, 100) != 0)
      h->frames++;
}

typedef struct {
  Fixture *fx;
  gint64   elapsed_ms;
  GError  *error;
} Caller;

static gpointer
caller_thread (gpointer data)
{
  Caller *c = data;
  gint64 t0 = g_get_monotonic_time ();
  (void) c->fx->ops->check (c->fx->conn, &c->error);
  c->elapsed_ms = (g_get_monotonic_time () - t0) / 1000;
  return NULL;
}

static void
test_never_answers (void)
{
  Fixture fx = { 0 };
  Bounds b;
  bounds_start (&b);
  fixture_setup (&fx, 500, never_answers);
  Caller callers[SILENT_CALLERS] = { 0 };
  GThread *t[SILENT_CALLERS];
  for (int i = 0; i < SILENT_CALLERS; i++)
    {
      callers[i].fx = &fx;
      t[i] = g_thread_new ("caller", caller_thread, &callers[i]);
    }
  for (int i = 0; i < 10; i++)
    {
      g_usleep (50000);
      bounds_sample (&b);
    }
  gint64 lo = G_MAXINT64, hi = 0;
  for (int i = 0; i < SILENT_CALLERS; i++)
    {
      g_thread_join (t[i]);
      g_assert_error (callers[i].error, VC_ERROR, VC_ERROR_TIMEOUT);
      g_clear_error (&callers[i].error);
      lo = MIN (lo, callers[i].elapsed_ms);
      hi = MAX (hi, callers[i].elapsed_ms);
    }
  g_test_message ("never answers: %d concurrent calls with a 500 ms deadline failed after "
                  "%" G_GINT64_FORMAT "..%" G_GINT64_FORMAT " ms", SILENT_CALLERS, lo, hi);
  g_assert_cmpint (lo, >=, 450);
  g_assert_cmpint (hi, <, 500 + 2000);
  fixture_teardown (&fx);
  /* The callers, the agent, the host's one reader: nothing per stream. */
  bounds_check (&b, "never answers", SILENT_CALLERS + 2);
}

/* ---- trickle: one byte a second never completes a frame ---------------------- */

static void
trickle (Hostile *h)
{
  guint32 stream = read_request (h, 5000);
  if (stream == 0)
    return;
  VcTtrpcHeader hdr = { .length = 16, .stream_id = stream, .type = VC_TTRPC_TYPE_RESPONSE };
  guint8 raw[VC_TTRPC_HEADER_SIZE + 16] = { 0 };
  vc_ttrpc_header_encode (&hdr, raw);
  for (gsize i = 0; i < sizeof raw && !stopping (h); i++)
    {
      if (!send_all (h->fd, raw + i, 1))
        return;
      h->bytes++;
      for (int w = 0; w < 10 && !stopping (h); w++)
        g_usleep (100000);
    }
}

static void
test_trickle (void)
{
  Fixture fx = { 0 };
  Bounds b;
  bounds_start (&b);
  fixture_setup (&fx, 1500, trickle);
  g_autoptr(GError) error = NULL;
  gint64 t0 = g_get_monotonic_time ();
  g_assert_false (fx.ops->check (fx.conn, &error));
  gint64 ms = (g_get_monotonic_time () - t0) / 1000;
  bounds_sample (&b);
  g_test_message ("trickle: 1 byte/s, the call failed after %" G_GINT64_FORMAT " ms "
                  "(deadline 1500 ms) having received %" G_GUINT64_FORMAT " bytes: %s",
                  ms, fx.agent.bytes, error->message);
  g_assert_true (g_error_matches (error, VC_ERROR, VC_ERROR_TIMEOUT)
                 || g_error_matches (error, VC_ERROR, VC_ERROR_STOPPED));
  g_assert_cmpint (ms, <, 1500 + 2000);
  /* The frame that never completes breaks the connection for good. */
  g_usleep (2000000);
  g_clear_error (&error);
  g_assert_false (fx.ops->check (fx.conn, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_STOPPED);
  fixture_teardown (&fx);
  bounds_check (&b, "trickle", 2);
}

/* ---- 4 MiB frames for ever ------------------------------------------------------ */

#define FLOOD_SECONDS 3

static void
big_frames (Hostile *h)
{
  guint32 stream = read_request (h, 5000);
  if (stream == 0 || !answer_check (h, stream))
    return;
  /* Late answers to the same stream, each as large as a frame may be. */
  g_autofree guint8 *data = g_malloc0 (VC_TTRPC_MAX_DATA);
  gint64 end = g_get_monotonic_time () + FLOOD_SECONDS * G_USEC_PER_SEC;
  while (!stopping (h) && g_get_monotonic_time () < end)
    {
      if (!send_header (h->fd, VC_TTRPC_MAX_DATA, stream)
          || !send_all (h->fd, data, VC_TTRPC_MAX_DATA))
        return;
      h->frames++;
      h->bytes += VC_TTRPC_HEADER_SIZE + VC_TTRPC_MAX_DATA;
    }
  /* Then a real answer: the connection is still usable. */
  stream = read_request (h, 5000);
  if (stream != 0)
    answer_check (h, stream);
  while (!stopping (h))
    g_usleep (10000);
}

static void
test_big_frames (void)
{
  Fixture fx = { 0 };
  g_autoptr(GError) error = NULL;
  fixture_setup (&fx, 10000, big_frames);
  g_assert_true (fx.ops->check (fx.conn, &error));
  g_assert_no_error (error);
  Bounds b;
  bounds_start (&b);  /* after the first call: the connection's own memory is there */
  gint64 t0 = g_get_monotonic_time ();
  while (g_get_monotonic_time () - t0 < (FLOOD_SECONDS + 1) * G_USEC_PER_SEC)
    {
      g_usleep (50000);
      bounds_sample (&b);
    }
  g_assert_true (fx.ops->check (fx.conn, &error));
  g_assert_no_error (error);
  double mib = fx.agent.bytes / 1048576.0;
  g_test_message ("4 MiB frames: %" G_GUINT64_FORMAT " frames (%.0f MiB, %.0f MiB/s) of late "
                  "answers dropped; the connection still answers", fx.agent.frames, mib,
                  mib / FLOOD_SECONDS);
  g_assert_cmpuint (fx.agent.frames, >, 0);
  fixture_teardown (&fx);
  bounds_check (&b, "4 MiB frames", 2);
}

/* ---- a flood of answers on stream ids ------------------------------------------ */

#define OPENED_CALLS 50

static void
flood_streams (Hostile *h)
{
  /* Let OPENED_CALLS calls time out, reading their requests. */
  for (int i = 0; i < OPENED_CALLS && !stopping (h); i++)
    (void) read_request (h, 5000);
  /* The last of them gives up 100 ms after it was sent. */
  g_usleep (500000);
  /* Answers to those streams, over and over: empty responses, all late. */
  gint64 end = g_get_monotonic_time () + FLOOD_SECONDS * G_USEC_PER_SEC;
  guint8 buf[VC_TTRPC_HEADER_SIZE * 256];
  while (!stopping (h) && g_get_monotonic_time () < end)
    {
      for (int i = 0; i < 256; i++)
        {
          VcTtrpcHeader hdr = { .length = 0, .stream_id = 1 + 2 * (guint32) g_random_int_range (0, OPENED_CALLS),
                                .type = VC_TTRPC_TYPE_RESPONSE };
          vc_ttrpc_header_encode (&hdr, buf + i * VC_TTRPC_HEADER_SIZE);
        }
      if (!send_all (h->fd, buf, sizeof buf))
        return;
      h->frames += 256;
    }
  /* Then one on a stream the host never opened. */
  send_header (h->fd, 0, 0x7ffffff1);
  while (!stopping (h))
    g_usleep (10000);
}

static void
test_flood_streams (void)
{
  Fixture fx = { 0 };
  Bounds b;
  fixture_setup (&fx, 100, flood_streams);
  for (int i = 0; i < OPENED_CALLS; i++)
    {
      g_autoptr(GError) error = NULL;
      g_assert_false (fx.ops->check (fx.conn, &error));
      g_assert_error (error, VC_ERROR, VC_ERROR_TIMEOUT);
    }
  bounds_start (&b);
  gint64 t0 = g_get_monotonic_time ();
  g_autofree char *broken = NULL;
  while (g_get_monotonic_time () - t0 < (FLOOD_SECONDS + 5) * G_USEC_PER_SEC)
    {
      g_usleep (50000);
      bounds_sample (&b);
      g_autoptr(GError) error = NULL;
      if (!fx.ops->check (fx.conn, &error) && g_error_matches (error, VC_ERROR, VC_ERROR_STOPPED))
        {
          broken = g_strdup (error->message);
          break;
        }
    }
  g_test_message ("stream flood: %" G_GUINT64_FORMAT " late answers on %d opened streams "
                  "(%.0f frames/s) dropped; then: %s", fx.agent.frames, OPENED_CALLS,
                  fx.agent.frames / (double) FLOOD_SECONDS, broken ? broken : "(nothing)");
  g_assert_nonnull (broken);
  g_assert_nonnull (strstr (broken, "never opened"));
  fixture_teardown (&fx);
  bounds_check (&b, "stream flood", 2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/agent-kata/hostile/never-answers", test_never_answers);
  g_test_add_func ("/agent-kata/hostile/trickle", test_trickle);
  g_test_add_func ("/agent-kata/hostile/4mib-frames", test_big_frames);
  g_test_add_func ("/agent-kata/hostile/stream-flood", test_flood_streams);
  return g_test_run ();
}
