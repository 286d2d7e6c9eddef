/* agent-kata: the host side of the Kata agent protocol.
 *
 * Every VcAgentOps method is one ttRPC call of grpc.AgentService (or
 * grpc.Health) over one connection per VcAgentConn (client.h), dialled over
 * the hypervisor's endpoint (dial.h). Calls have request_timeout_ms as their
 * deadline, except those that wait for the workload: WaitProcess, ReadStdout,
 * ReadStderr, WriteStdin (the process may not read for a long time) and
 * GetOOMEvent, which end only with an answer, a broken connection or
 * disconnect().
 */
#include "config.h"

#include <string.h>

#include <vcrun/agent.h>

#include "agent-kata-private.h"
#include "client.h"
#include "container-request.h"
#include "dial.h"
#include "json-proto.h"

/* Per ReadStdout / WriteStdin / CopyFile message: well inside a 4 MiB frame. */
#define STREAM_CHUNK_MAX (1024 * 1024)
#define NO_DEADLINE 0

struct VcPluginInstance {
  VcAgentTransport transport;  /* NONE: whatever the endpoint is */
  guint            dial_timeout_ms;
  guint            request_timeout_ms;
};

struct VcAgentConn {
  gint          ref;
  VcKataClient *client;
  guint         request_timeout_ms;
};

static const char *const transports[] = { "auto", "serial", "vsock", "hybrid-vsock", NULL };

static const VcSettingSpec agent_kata_settings[] = {
  { .name = "transport", .type = VC_SETTING_ENUM,
    .description = "how to reach the agent; auto: whatever the hypervisor offers",
    .default_value = "auto", .choices = transports },
  { .name = "dial_timeout_ms", .type = VC_SETTING_INT,
    .description = "how long connecting to the agent is retried",
    .default_value = "30000", .min = 100, .max = 600000 },
  { .name = "request_timeout_ms", .type = VC_SETTING_INT,
    .description = "deadline of each agent request (not of waits for the workload)",
    .default_value = "30000", .min = 100, .max = 600000 },
  { NULL }
};

/* ---------------------------------------------------------------------------
 * Instance and connection
 */

static VcPluginInstance *
agent_kata_create (const VcPluginHost *host, GVariant *settings, GError **error)
{
  const char *transport = "auto";
  gint64 dial_timeout = 30000, request_timeout = 30000;

  if (settings)
    {
      g_variant_lookup (settings, "transport", "&s", &transport);
      g_variant_lookup (settings, "dial_timeout_ms", "x", &dial_timeout);
      g_variant_lookup (settings, "request_timeout_ms", "x", &request_timeout);
    }
  VcAgentTransport t;
  if (strcmp (transport, "auto") == 0)
    t = VC_AGENT_TRANSPORT_NONE;
  else if (strcmp (transport, "serial") == 0)
    t = VC_AGENT_TRANSPORT_SERIAL;
  else if (strcmp (transport, "vsock") == 0)
    t = VC_AGENT_TRANSPORT_VSOCK;
  else if (strcmp (transport, "hybrid-vsock") == 0)
    t = VC_AGENT_TRANSPORT_HYBRID_VSOCK;
  else
    {
      g_set_error (error, VC_ERROR, VC_ERROR_CONFIG,
                   "transport: '%s' is not one of auto, serial, vsock, hybrid-vsock", transport);
      return NULL;
    }
  if (dial_timeout < 100 || dial_timeout > 600000)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_CONFIG,
                   "dial_timeout_ms: %" G_GINT64_FORMAT " is outside 100..600000", dial_timeout);
      return NULL;
    }
  if (request_timeout < 100 || request_timeout > 600000)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_CONFIG,
                   "request_timeout_ms: %" G_GINT64_FORMAT " is outside 100..600000", request_timeout);
      return NULL;
    }

  VcPluginInstance *self = g_new0 (VcPluginInstance, 1);
  self->transport = t;
  self->dial_timeout_ms = (guint) dial_timeout;
  self->request_timeout_ms = (guint) request_timeout;
  return self;
}

static void
agent_kata_destroy (VcPluginInstance *self)
{
  g_free (self);
}

VcAgentConn *
vc_agent_kata_conn_new_from_fd (VcPluginInstance *self, int fd)
{
  VcAgentConn *conn = g_new0 (VcAgentConn, 1);
  conn->ref = 1;
  conn->request_timeout_ms = self->request_timeout_ms;
  conn->client = vc_kata_client_new (fd, self->request_timeout_ms);
  return conn;
}

static VcAgentConn *
conn_ref (VcAgentConn *conn)
{
  g_atomic_int_inc (&conn->ref);
  return conn;
}

static void
conn_unref (VcAgentConn *conn)
{
  if (conn == NULL || !g_atomic_int_dec_and_test (&conn->ref))
    return;
  vc_kata_client_unref (conn->client);
  g_free (conn);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VcAgentConn, conn_unref)

static VcAgentConn *
agent_kata_connect (VcPluginInstance *self, const VcAgentEndpoint *endpoint, guint timeout_ms,
                    GError **error)
{
  if (endpoint == NULL || endpoint->struct_size < sizeof (VcAgentEndpoint))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "agent-kata: no agent endpoint");
      return NULL;
    }
  if (self->transport != VC_AGENT_TRANSPORT_NONE && self->transport != endpoint->transport)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                   "agent-kata: transport %s is configured but the hypervisor offers %s",
                   vc_kata_transport_name (self->transport),
                   vc_kata_transport_name (endpoint->transport));
      return NULL;
    }
  int fd = vc_kata_dial (endpoint, timeout_ms ? timeout_ms : self->dial_timeout_ms, error);
  if (fd < 0)
    return NULL;
  return vc_agent_kata_conn_new_from_fd (self, fd);
}

static void
agent_kata_disconnect (VcAgentConn *conn)
{
  if (conn == NULL)
    return;
  /* Calls still waiting in other threads fail now; they hold their own
   * references, so the memory goes with the last of them. */
  vc_kata_client_close (conn->client, "disconnected");
  conn_unref (conn);
}

/* ---------------------------------------------------------------------------
 * Calls
 */

static ProtobufCMessage *
call (VcAgentConn *conn, const char *service, const char *method, const void *request,
      const ProtobufCMessageDescriptor *reply_desc, guint timeout_ms, GError **error)
{
  g_autoptr(VcAgentConn) hold = conn_ref (conn);
  return vc_kata_client_call (conn->client, service, method, request, reply_desc, timeout_ms,
                              error);
}

/* A call of grpc.AgentService answered by google.protobuf.Empty. */
static gboolean
call_empty (VcAgentConn *conn, const char *method, const void *request, guint timeout_ms,
            GError **error)
{
  ProtobufCMessage *reply = call (conn, VC_KATA_AGENT_SERVICE, method, request,
                                  &google__protobuf__empty__descriptor, timeout_ms, error);
  if (reply == NULL)
    return FALSE;
  protobuf_c_message_free_unpacked (reply, NULL);
  return TRUE;
}

static gboolean
check_id (const char *id, const char *what, GError **error)
{
  if (id == NULL || *id == '\0')
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "agent-kata: no %s id", what);
      return FALSE;
    }
  return TRUE;
}

/* The init process is named by the container id. */
static const char *
exec_or_init (const char *container_id, const char *exec_id)
{
  return exec_id && *exec_id ? exec_id : container_id;
}

/* Text from the guest, made safe to hand on. */
static char *
guest_string (const char *s, gsize max)
{
  g_autofree char *valid = g_utf8_make_valid (s ? s : "", -1);
  if (strlen (valid) <= max)
    return g_steal_pointer (&valid);
  const char *end = g_utf8_find_prev_char (valid, valid + max + 1);
  return g_strndup (valid, (gsize) (end - valid));
}

static gboolean
agent_kata_check (VcAgentConn *conn, GError **error)
{
  Grpc__CheckRequest req = GRPC__CHECK_REQUEST__INIT;
  Grpc__HealthCheckResponse *resp = (Grpc__HealthCheckResponse *) call (
      conn, VC_KATA_HEALTH_SERVICE, "Check", &req, &grpc__health_check_response__descriptor,
      conn->request_timeout_ms, error);
  if (resp == NULL)
    return FALSE;
  int status = resp->status;
  protobuf_c_message_free_unpacked (&resp->base, NULL);
  if (status != GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "agent: not serving (health status %d)",
                   status);
      return FALSE;
    }
  return TRUE;
}

static char *
agent_kata_agent_version (VcAgentConn *conn, GError **error)
{
  Grpc__CheckRequest req = GRPC__CHECK_REQUEST__INIT;
  Grpc__VersionCheckResponse *resp = (Grpc__VersionCheckResponse *) call (
      conn, VC_KATA_HEALTH_SERVICE, "Version", &req, &grpc__version_check_response__descriptor,
      conn->request_timeout_ms, error);
  if (resp == NULL)
    return NULL;
  char *version = guest_string (resp->agent_version, 256);
  protobuf_c_message_free_unpacked (&resp->base, NULL);
  return version;
}

static gboolean
agent_kata_create_sandbox (VcAgentConn *conn, const VcAgentSandboxConfig *config, GError **error)
{
  g_autoptr(VcArena) arena = vc_arena_new ();
  Grpc__CreateSandboxRequest req = GRPC__CREATE_SANDBOX_REQUEST__INIT;

  if (config == NULL || config->struct_size < sizeof (VcAgentSandboxConfig)
      || !check_id (config->sandbox_id, "sandbox", error))
    {
      if (error && *error == NULL)
        g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "agent-kata: bad sandbox config");
      return FALSE;
    }
  req.sandbox_id = vc_arena_strdup (arena, config->sandbox_id);
  req.hostname = vc_arena_strdup (arena, config->hostname);
  req.dns = vc_arena_strv (arena, config->dns, &req.n_dns);
  req.sandbox_pidns = config->sandbox_pidns;
  req.storages = vc_kata_storages (arena, config->storages, &req.n_storages, error);
  if (req.n_storages && req.storages == NULL)
    return FALSE;
  return call_empty (conn, "CreateSandbox", &req, conn->request_timeout_ms, error);
}

static gboolean
agent_kata_destroy_sandbox (VcAgentConn *conn, GError **error)
{
  Grpc__DestroySandboxRequest req = GRPC__DESTROY_SANDBOX_REQUEST__INIT;
  return call_empty (conn, "DestroySandbox", &req, conn->request_timeout_ms, error);
}

static gboolean
agent_kata_create_container (VcAgentConn *conn, const VcContainerConfig *config, GError **error)
{
  g_autoptr(VcArena) arena = vc_arena_new ();
  Grpc__CreateContainerRequest *req = vc_kata_create_container_request (arena, config, error);
  if (req == NULL)
    return FALSE;
  return call_empty (conn, "CreateContainer", req, conn->request_timeout_ms, error);
}

static gboolean
agent_kata_start_container (VcAgentConn *conn, const char *container_id, GError **error)
{
  Grpc__StartContainerRequest req = GRPC__START_CONTAINER_REQUEST__INIT;
  if (!check_id (container_id, "container", error))
    return FALSE;
  req.container_id = (char *) container_id;
  return call_empty (conn, "StartContainer", &req, conn->request_timeout_ms, error);
}

static gboolean
agent_kata_remove_container (VcAgentConn *conn, const char *container_id, guint timeout_ms,
                             GError **error)
{
  Grpc__RemoveContainerRequest req = GRPC__REMOVE_CONTAINER_REQUEST__INIT;
  if (!check_id (container_id, "container", error))
    return FALSE;
  /* The agent takes whole seconds (0 would wait for ever); our deadline
   * leaves it a request timeout more to answer. */
  guint wait_ms = timeout_ms ? timeout_ms : conn->request_timeout_ms;
  req.container_id = (char *) container_id;
  req.timeout = (wait_ms + 999) / 1000;
  return call_empty (conn, "RemoveContainer", &req, req.timeout * 1000 + conn->request_timeout_ms,
                     error);
}

static gboolean
agent_kata_pause_container (VcAgentConn *conn, const char *container_id, GError **error)
{
  Grpc__PauseContainerRequest req = GRPC__PAUSE_CONTAINER_REQUEST__INIT;
  if (!check_id (container_id, "container", error))
    return FALSE;
  req.container_id = (char *) container_id;
  return call_empty (conn, "PauseContainer", &req, conn->request_timeout_ms, error);
}

static gboolean
agent_kata_resume_container (VcAgentConn *conn, const char *container_id, GError **error)
{
  Grpc__ResumeContainerRequest req = GRPC__RESUME_CONTAINER_REQUEST__INIT;
  if (!check_id (container_id, "container", error))
    return FALSE;
  req.container_id = (char *) container_id;
  return call_empty (conn, "ResumeContainer", &req, conn->request_timeout_ms, error);
}

static gboolean
agent_kata_update_container (VcAgentConn *conn, const char *container_id,
                             const char *resources_json, GError **error)
{
  g_autoptr(VcArena) arena = vc_arena_new ();
  Grpc__UpdateContainerRequest req = GRPC__UPDATE_CONTAINER_REQUEST__INIT;
  if (!check_id (container_id, "container", error))
    return FALSE;
  req.container_id = (char *) container_id;
  req.resources = vc_kata_resources_from_json (arena, resources_json, error);
  if (req.resources == NULL)
    return FALSE;
  return call_empty (conn, "UpdateContainer", &req, conn->request_timeout_ms, error);
}

static gboolean
agent_kata_stats_container (VcAgentConn *conn, const char *container_id, VcContainerStats *out,
                            GError **error)
{
  Grpc__StatsContainerRequest req = GRPC__STATS_CONTAINER_REQUEST__INIT;
  if (!check_id (container_id, "container", error))
    return FALSE;
  req.container_id = (char *) container_id;
  Grpc__StatsContainerResponse *resp = (Grpc__StatsContainerResponse *) call (
      conn, VC_KATA_AGENT_SERVICE, "StatsContainer", &req,
      &grpc__stats_container_response__descriptor, conn->request_timeout_ms, error);
  if (resp == NULL)
    return FALSE;

  VcContainerStats stats = { .struct_size = sizeof stats };
  const Grpc__CgroupStats *cg = resp->cgroup_stats;
  if (cg && cg->cpu_stats && cg->cpu_stats->cpu_usage)
    stats.cpu_usage_ns = cg->cpu_stats->cpu_usage->total_usage;
  if (cg && cg->memory_stats && cg->memory_stats->usage)
    {
      stats.memory_usage_bytes = cg->memory_stats->usage->usage;
      /* cgroup v1 says "no limit" with a number near 2^63. */
      guint64 limit = cg->memory_stats->usage->limit;
      stats.memory_limit_bytes = limit >= (G_GUINT64_CONSTANT (1) << 62) ? 0 : limit;
    }
  if (cg && cg->pids_stats)
    stats.pids_current = cg->pids_stats->current;
  for (size_t i = 0; cg && cg->blkio_stats && i < cg->blkio_stats->n_io_service_bytes_recursive; i++)
    {
      const Grpc__BlkioStatsEntry *e = cg->blkio_stats->io_service_bytes_recursive[i];
      if (g_strcmp0 (e->op, "Read") == 0)
        stats.blkio_read_bytes += e->value;
      else if (g_strcmp0 (e->op, "Write") == 0)
        stats.blkio_write_bytes += e->value;
    }
  for (size_t i = 0; i < resp->n_network_stats; i++)
    {
      stats.net_rx_bytes += resp->network_stats[i]->rx_bytes;
      stats.net_tx_bytes += resp->network_stats[i]->tx_bytes;
    }
  protobuf_c_message_free_unpacked (&resp->base, NULL);
  /* A caller built against an older ABI has a shorter struct. */
  if (out)
    {
      gsize size = MIN (out->struct_size, sizeof stats);
      memcpy (out, &stats, size);
      out->struct_size = size;
    }
  return TRUE;
}

static gboolean
agent_kata_exec_process (VcAgentConn *conn, const char *container_id, const char *exec_id,
                         const char *process_json, GError **error)
{
  g_autoptr(VcArena) arena = vc_arena_new ();
  Grpc__ExecProcessRequest req = GRPC__EXEC_PROCESS_REQUEST__INIT;
  if (!check_id (container_id, "container", error) || !check_id (exec_id, "exec", error))
    return FALSE;
  req.container_id = (char *) container_id;
  req.exec_id = (char *) exec_id;
  req.process = vc_kata_process_from_json (arena, process_json, error);
  if (req.process == NULL)
    return FALSE;
  return call_empty (conn, "ExecProcess", &req, conn->request_timeout_ms, error);
}

static gboolean
agent_kata_signal_process (VcAgentConn *conn, const char *container_id, const char *exec_id,
                           int signum, gboolean all, GError **error)
{
  Grpc__SignalProcessRequest req = GRPC__SIGNAL_PROCESS_REQUEST__INIT;
  if (!check_id (container_id, "container", error))
    return FALSE;
  if (signum <= 0 || signum > 64)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "agent-kata: invalid signal %d",
                   signum);
      return FALSE;
    }
  req.container_id = (char *) container_id;
  /* An empty exec id asks the agent to signal every process of the container. */
  req.exec_id = (char *) (all ? "" : exec_or_init (container_id, exec_id));
  req.signal = (uint32_t) signum;
  return call_empty (conn, "SignalProcess", &req, conn->request_timeout_ms, error);
}

static gboolean
agent_kata_wait_process (VcAgentConn *conn, const char *container_id, const char *exec_id,
                         int *exit_status, GError **error)
{
  Grpc__WaitProcessRequest req = GRPC__WAIT_PROCESS_REQUEST__INIT;
  if (!check_id (container_id, "container", error))
    return FALSE;
  req.container_id = (char *) container_id;
  req.exec_id = (char *) exec_or_init (container_id, exec_id);
  Grpc__WaitProcessResponse *resp = (Grpc__WaitProcessResponse *) call (
      conn, VC_KATA_AGENT_SERVICE, "WaitProcess", &req, &grpc__wait_process_response__descriptor,
      NO_DEADLINE, error);
  if (resp == NULL)
    return FALSE;
  int status = resp->status;
  protobuf_c_message_free_unpacked (&resp->base, NULL);
  if (status < 0 || status > 255)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_PROTOCOL,
                   "WaitProcess: the agent reported exit status %d (not 0..255)", status);
      return FALSE;
    }
  if (exit_status)
    *exit_status = status;
  return TRUE;
}

static gboolean
agent_kata_write_stdin (VcAgentConn *conn, const char *container_id, const char *exec_id,
                        const guint8 *data, gsize len, gsize *written, GError **error)
{
  Grpc__WriteStreamRequest req = GRPC__WRITE_STREAM_REQUEST__INIT;
  if (!check_id (container_id, "container", error))
    return FALSE;
  gsize chunk = MIN (len, STREAM_CHUNK_MAX);
  req.container_id = (char *) container_id;
  req.exec_id = (char *) exec_or_init (container_id, exec_id);
  req.data.data = (uint8_t *) data;
  req.data.len = chunk;
  Grpc__WriteStreamResponse *resp = (Grpc__WriteStreamResponse *) call (
      conn, VC_KATA_AGENT_SERVICE, "WriteStdin", &req, &grpc__write_stream_response__descriptor,
      NO_DEADLINE, error);
  if (resp == NULL)
    return FALSE;
  guint32 took = resp->len;
  protobuf_c_message_free_unpacked (&resp->base, NULL);
  if (took > chunk)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_PROTOCOL,
                   "WriteStdin: the agent claims %u bytes written of %zu sent", took, chunk);
      return FALSE;
    }
  if (written)
    *written = took;
  return TRUE;
}

static gboolean
agent_kata_close_stdin (VcAgentConn *conn, const char *container_id, const char *exec_id,
                        GError **error)
{
  Grpc__CloseStdinRequest req = GRPC__CLOSE_STDIN_REQUEST__INIT;
  if (!check_id (container_id, "container", error))
    return FALSE;
  req.container_id = (char *) container_id;
  req.exec_id = (char *) exec_or_init (container_id, exec_id);
  return call_empty (conn, "CloseStdin", &req, conn->request_timeout_ms, error);
}

static GBytes *
read_stream (VcAgentConn *conn, const char *method, const char *container_id,
             const char *exec_id, gsize max_len, GError **error)
{
  Grpc__ReadStreamRequest req = GRPC__READ_STREAM_REQUEST__INIT;
  if (!check_id (container_id, "container", error))
    return NULL;
  if (max_len == 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "%s: max_len is 0", method);
      return NULL;
    }
  req.container_id = (char *) container_id;
  req.exec_id = (char *) exec_or_init (container_id, exec_id);
  req.len = (uint32_t) MIN (max_len, STREAM_CHUNK_MAX);
  Grpc__ReadStreamResponse *resp = (Grpc__ReadStreamResponse *) call (
      conn, VC_KATA_AGENT_SERVICE, method, &req, &grpc__read_stream_response__descriptor,
      NO_DEADLINE, error);
  if (resp == NULL)
    return NULL;
  if (resp->data.len > req.len)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_PROTOCOL,
                   "%s: the agent sent %zu bytes for a read of at most %u", method,
                   resp->data.len, req.len);
      protobuf_c_message_free_unpacked (&resp->base, NULL);
      return NULL;
    }
  GBytes *bytes = g_bytes_new (resp->data.data, resp->data.len);
  protobuf_c_message_free_unpacked (&resp->base, NULL);
  return bytes;
}

static GBytes *
agent_kata_read_stdout (VcAgentConn *conn, const char *container_id, const char *exec_id,
                        gsize max_len, GError **error)
{
  return read_stream (conn, "ReadStdout", container_id, exec_id, max_len, error);
}

static GBytes *
agent_kata_read_stderr (VcAgentConn *conn, const char *container_id, const char *exec_id,
                        gsize max_len, GError **error)
{
  return read_stream (conn, "ReadStderr", container_id, exec_id, max_len, error);
}

static gboolean
agent_kata_tty_win_resize (VcAgentConn *conn, const char *container_id, const char *exec_id,
                           guint rows, guint columns, GError **error)
{
  Grpc__TtyWinResizeRequest req = GRPC__TTY_WIN_RESIZE_REQUEST__INIT;
  if (!check_id (container_id, "container", error))
    return FALSE;
  req.container_id = (char *) container_id;
  req.exec_id = (char *) exec_or_init (container_id, exec_id);
  req.row = rows;
  req.column = columns;
  return call_empty (conn, "TtyWinResize", &req, conn->request_timeout_ms, error);
}

static gboolean
agent_kata_guest_details (VcAgentConn *conn, VcGuestDetails *out, GError **error)
{
  Grpc__GuestDetailsRequest req = GRPC__GUEST_DETAILS_REQUEST__INIT;
  req.mem_block_size = TRUE;
  req.mem_hotplug_probe = TRUE;
  Grpc__GuestDetailsResponse *resp = (Grpc__GuestDetailsResponse *) call (
      conn, VC_KATA_AGENT_SERVICE, "GetGuestDetails", &req,
      &grpc__guest_details_response__descriptor, conn->request_timeout_ms, error);
  if (resp == NULL)
    return FALSE;
  if (out)
    {
      out->struct_size = sizeof *out;
      out->agent_version = guest_string (resp->agent_details ? resp->agent_details->version : "",
                                         256);
      out->mem_block_size_bytes = resp->mem_block_size_bytes;
      out->supports_mem_hotplug_probe = resp->support_mem_hotplug_probe;
      out->supports_seccomp = resp->agent_details ? resp->agent_details->supports_seccomp : FALSE;
    }
  protobuf_c_message_free_unpacked (&resp->base, NULL);
  return TRUE;
}

static gboolean
agent_kata_set_guest_time (VcAgentConn *conn, gint64 sec, gint64 usec, GError **error)
{
  Grpc__SetGuestDateTimeRequest req = GRPC__SET_GUEST_DATE_TIME_REQUEST__INIT;
  req.sec = sec;
  req.usec = usec;
  return call_empty (conn, "SetGuestDateTime", &req, conn->request_timeout_ms, error);
}

static gboolean
agent_kata_online_cpu_mem (VcAgentConn *conn, guint nb_cpus, gboolean cpu_only, GError **error)
{
  Grpc__OnlineCPUMemRequest req = GRPC__ONLINE_CPUMEM_REQUEST__INIT;
  req.wait = TRUE;
  req.nb_cpus = nb_cpus;
  req.cpu_only = cpu_only;
  return call_empty (conn, "OnlineCPUMem", &req, conn->request_timeout_ms, error);
}

static gboolean
agent_kata_copy_file (VcAgentConn *conn, const char *guest_path, GBytes *data, guint32 file_mode,
                      GError **error)
{
  if (guest_path == NULL || !g_path_is_absolute (guest_path))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "CopyFile: guest path '%s' is not absolute", guest_path ? guest_path : "(null)");
      return FALSE;
    }
  gsize size = 0;
  const guint8 *bytes = data ? g_bytes_get_data (data, &size) : NULL;
  gsize offset = 0;

  /* In pieces, as Kata does: each at an offset of the same file. */
  do
    {
      Grpc__CopyFileRequest req = GRPC__COPY_FILE_REQUEST__INIT;
      gsize chunk = MIN (size - offset, STREAM_CHUNK_MAX);
      req.path = (char *) guest_path;
      req.file_size = (int64_t) size;
      req.file_mode = file_mode;
      req.dir_mode = 0755;
      req.offset = (int64_t) offset;
      req.data.data = (uint8_t *) (bytes ? bytes + offset : NULL);
      req.data.len = chunk;
      if (!call_empty (conn, "CopyFile", &req, conn->request_timeout_ms, error))
        return FALSE;
      offset += chunk;
    }
  while (offset < size);
  return TRUE;
}

static char *
agent_kata_get_oom_event (VcAgentConn *conn, GError **error)
{
  Grpc__GetOOMEventRequest req = GRPC__GET_OOMEVENT_REQUEST__INIT;
  Grpc__OOMEvent *resp = (Grpc__OOMEvent *) call (conn, VC_KATA_AGENT_SERVICE, "GetOOMEvent",
                                                  &req, &grpc__oomevent__descriptor, NO_DEADLINE,
                                                  error);
  if (resp == NULL)
    return NULL;
  char *id = guest_string (resp->container_id, 128);
  protobuf_c_message_free_unpacked (&resp->base, NULL);
  return id;
}

static const VcAgentOps agent_kata_ops = {
  .version = VC_AGENT_OPS_VERSION,
  .size = sizeof (VcAgentOps),
  .connect = agent_kata_connect,
  .disconnect = agent_kata_disconnect,
  .check = agent_kata_check,
  .agent_version = agent_kata_agent_version,
  .create_sandbox = agent_kata_create_sandbox,
  .destroy_sandbox = agent_kata_destroy_sandbox,
  .create_container = agent_kata_create_container,
  .start_container = agent_kata_start_container,
  .remove_container = agent_kata_remove_container,
  .pause_container = agent_kata_pause_container,
  .resume_container = agent_kata_resume_container,
  .update_container = agent_kata_update_container,
  .stats_container = agent_kata_stats_container,
  .exec_process = agent_kata_exec_process,
  .signal_process = agent_kata_signal_process,
  .wait_process = agent_kata_wait_process,
  .write_stdin = agent_kata_write_stdin,
  .close_stdin = agent_kata_close_stdin,
  .read_stdout = agent_kata_read_stdout,
  .read_stderr = agent_kata_read_stderr,
  .tty_win_resize = agent_kata_tty_win_resize,
  .guest_details = agent_kata_guest_details,
  .set_guest_time = agent_kata_set_guest_time,
  .online_cpu_mem = agent_kata_online_cpu_mem,
  .copy_file = agent_kata_copy_file,
  .get_oom_event = agent_kata_get_oom_event,
};

static const VcPluginDescriptor descriptor = {
  .abi_major = VC_ABI_MAJOR,
  .abi_minor = VC_ABI_MINOR,
  .struct_size = sizeof (VcPluginDescriptor),
  .name = "agent-kata",
  .version = PACKAGE_VERSION,
  .description = "talks to a Kata-protocol guest agent (ttRPC) over virtio-serial or vsock",
  .kinds = VC_PLUGIN_KIND_AGENT,
  .settings = agent_kata_settings,
  .create = agent_kata_create,
  .destroy = agent_kata_destroy,
  .agent = &agent_kata_ops,
};

VC_PLUGIN_EXPORT const VcPluginDescriptor *vc_plugin_descriptor (void);

VC_PLUGIN_EXPORT const VcPluginDescriptor *
vc_plugin_descriptor (void)
{
  return &descriptor;
}
