/* Fuzzes what agent-kata makes of the guest's answers: a fake agent on a
 * socketpair reads the plugin's request and answers it with the input, and
 * the plugin's real VcAgentOps method decodes and checks the reply.
 *
 * Input: byte 0 picks the method, byte 1 the mode, the rest is the answer:
 *   mode 0: the rest is the method's reply message, sent in an OK Response;
 *   mode 1: the rest is a whole ttrpc.Response, on the request's stream;
 *   mode 2: the rest is raw bytes (frames of any kind, on any stream).
 * Then the fake agent hangs up, so a call that got no answer fails at once. */
#include "config.h"

#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vcrun/agent.h>
#include <vcrun/plugin.h>

#include "agent-kata-private.h"
#include "fuzz-common.h"
#include "kata-agent.h"

static VcPluginInstance *instance;
static const VcAgentOps *ops;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  vc_fuzz_glib_setup ();
  const VcPluginDescriptor *desc = vc_plugin_descriptor ();
  ops = desc->agent;
  g_autoptr(GError) error = NULL;
  instance = desc->create (NULL, NULL, &error);
  g_assert_no_error (error);
  return 0;
}

typedef struct {
  int            fd;
  guint8         mode;
  const guint8  *answer;
  gsize          len;
} FakeAgent;

static gsize
put_varint (guint8 *out, guint64 v)
{
  gsize n = 0;
  do
    {
      out[n] = (v & 0x7f) | (v > 0x7f ? 0x80 : 0);
      v >>= 7;
      n++;
    }
  while (v != 0);
  return n;
}

static void
send_frame (int fd, guint32 stream_id, const guint8 *data, gsize len)
{
  VcTtrpcHeader header = { .length = (guint32) len, .stream_id = stream_id,
                           .type = VC_TTRPC_TYPE_RESPONSE };
  (void) vc_ttrpc_write_frame (fd, &header, data);
}

static void *
fake_agent (void *data)
{
  FakeAgent *agent = data;
  VcTtrpcFrame request = { 0 };
  if (vc_ttrpc_read_frame (agent->fd, 5000, &request) == VC_TTRPC_OK)
    {
      guint32 stream = request.header.stream_id;
      if (agent->mode == 0)
        {
          /* ttrpc.Response { payload (2) = answer } */
          g_autofree guint8 *response = g_malloc (agent->len + 11);
          gsize n = 0;
          response[n++] = 0x12;
          n += put_varint (response + n, agent->len);
          memcpy (response + n, agent->answer, agent->len);
          send_frame (agent->fd, stream, response, n + agent->len);
        }
      else if (agent->mode == 1)
        send_frame (agent->fd, stream, agent->answer, agent->len);
      else
        (void) !write (agent->fd, agent->answer, agent->len);
    }
  vc_ttrpc_frame_clear (&request);
  shutdown (agent->fd, SHUT_WR);
  return NULL;
}

static const char process_json[] =
  "{\"args\":[\"sh\"],\"cwd\":\"/\",\"user\":{\"uid\":0,\"gid\":0},\"terminal\":false}";

static void
call_method (VcAgentConn *conn, guint8 which)
{
  g_autoptr(GError) error = NULL;
  switch (which % 14)
    {
    case 0: (void) ops->check (conn, &error); break;
    case 1: g_free (ops->agent_version (conn, &error)); break;
    case 2:
      {
        VcContainerStats stats = { .struct_size = sizeof stats };
        (void) ops->stats_container (conn, "c", &stats, &error);
        break;
      }
    case 3:
      {
        int status = -1;
        if (ops->wait_process (conn, "c", NULL, &status, &error))
          g_assert (status >= 0 && status <= 255);
        break;
      }
    case 4:
      {
        gsize written = 0;
        if (ops->write_stdin (conn, "c", "e", (const guint8 *) "hello", 5, &written, &error))
          g_assert (written <= 5);
        break;
      }
    case 5:
      {
        g_autoptr(GBytes) bytes = ops->read_stdout (conn, "c", NULL, 64, &error);
        g_assert (bytes == NULL || g_bytes_get_size (bytes) <= 64);
        break;
      }
    case 6:
      {
        g_autoptr(GBytes) bytes = ops->read_stderr (conn, "c", "e", 4096, &error);
        g_assert (bytes == NULL || g_bytes_get_size (bytes) <= 4096);
        break;
      }
    case 7:
      {
        VcGuestDetails details = { .struct_size = sizeof details };
        if (ops->guest_details (conn, &details, &error))
          g_assert (g_utf8_validate (details.agent_version, -1, NULL));
        vc_guest_details_clear (&details);
        break;
      }
    case 8: g_free (ops->get_oom_event (conn, &error)); break;
    case 9: (void) ops->start_container (conn, "c", &error); break;
    case 10: (void) ops->exec_process (conn, "c", "e", process_json, &error); break;
    case 11: (void) ops->signal_process (conn, "c", NULL, 9, FALSE, &error); break;
    case 12: (void) ops->set_guest_time (conn, 1, 2, &error); break;
    default: (void) ops->destroy_sandbox (conn, &error); break;
    }
  /* Whatever the guest said, an error message is valid UTF-8 to hand on. */
  if (error != NULL)
    g_assert (g_utf8_validate (error->message, -1, NULL));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size < 2)
    return 0;
  int sv[2];
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return 0;
  FakeAgent agent = { .fd = sv[1], .mode = data[1] % 3, .answer = data + 2, .len = size - 2 };
  pthread_t thread;
  if (pthread_create (&thread, NULL, fake_agent, &agent) != 0)
    {
      close (sv[0]);
      close (sv[1]);
      return 0;
    }
  VcAgentConn *conn = vc_agent_kata_conn_new_from_fd (instance, sv[0]);
  call_method (conn, data[0]);
  ops->disconnect (conn);
  pthread_join (thread, NULL);
  close (sv[1]);
  return 0;
}
