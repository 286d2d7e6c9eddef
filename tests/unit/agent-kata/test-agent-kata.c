/* agent-kata against fake agents over a socketpair: a well-behaved one that
 * decodes what the plugin sends and answers real RPCs, and hostile ones that
 * send garbage, oversized or truncated frames, answer on the wrong stream,
 * fall silent or hang up while calls wait. Also dialling (serial retry,
 * hybrid-vsock handshake, timeout) and settings. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <vcrun/agent.h>

#include "agent-kata-private.h"
#include "kata-agent.h"
#include "ttrpc.pb-c.h"

#define FAST_TIMEOUT_MS 500

/* ---------------------------------------------------------------------------
 * Plumbing: a plugin instance, a connection over a socketpair, and a fake
 * agent thread on the other end.
 */

typedef struct Agent Agent;
/* Handles one request; FALSE ends the agent loop. */
typedef gboolean (*AgentHandler) (Agent *agent, guint32 stream, VcTtrpcCall *call);

struct Agent {
  int           fd;
  GThread      *thread;
  AgentHandler  handler;
  GMutex        lock;
  GCond         cond;
  guint         requests;       /* how many arrived */
  GHashTable   *last;           /* method -> last payload (GBytes) */
  GPtrArray    *held;           /* stream ids of held-back requests (reorder test) */
  gint          close_after;    /* silent agent: hang up after this many ms (0: never) */
};

typedef struct {
  const VcPluginDescriptor *desc;
  const VcAgentOps         *ops;
  VcPluginInstance         *instance;
  VcAgentConn              *conn;
  Agent                    *agent;
} Fixture;

static void
write_all (int fd, const void *buf, size_t len)
{
  const guint8 *p = buf;
  while (len > 0)
    {
      ssize_t n = send (fd, p, len, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return; /* the plugin hung up: fine for hostile agents */
      p += n;
      len -= (size_t) n;
    }
}

static void
send_reply (Agent *a, guint32 stream, const void *payload)
{
  vc_ttrpc_send_response (a->fd, stream, VC_TTRPC_CODE_OK, NULL, payload);
}

static void
send_header (Agent *a, guint32 length, guint32 stream, guint8 type)
{
  VcTtrpcHeader h = { .length = length, .stream_id = stream, .type = type };
  guint8 raw[VC_TTRPC_HEADER_SIZE];
  vc_ttrpc_header_encode (&h, raw);
  write_all (a->fd, raw, sizeof raw);
}

static void flush_held (Agent *a);

static gpointer
agent_thread (gpointer data)
{
  Agent *a = data;
  for (;;)
    {
      /* Held-back answers go out once nothing more arrives for a while. */
      struct pollfd pfd = { .fd = a->fd, .events = POLLIN };
      if (a->held->len > 0 && poll (&pfd, 1, 50) == 0)
        {
          flush_held (a);
          continue;
        }
      VcTtrpcFrame frame = { 0 };
      if (vc_ttrpc_read_frame (a->fd, -1, &frame) != VC_TTRPC_OK)
        break;
      VcTtrpcCall call = { 0 };
      g_assert_cmpint (frame.header.type, ==, VC_TTRPC_TYPE_REQUEST);
      g_assert_cmpint (frame.header.stream_id % 2, ==, 1);
      g_assert_cmpint (vc_ttrpc_request_unpack (frame.data, frame.header.length, &call), ==,
                       VC_TTRPC_OK);
      g_mutex_lock (&a->lock);
      a->requests++;
      g_hash_table_insert (a->last, g_strdup (call.method),
                           g_bytes_new (call.payload, call.payload_len));
      g_cond_broadcast (&a->cond);
      g_mutex_unlock (&a->lock);
      gboolean go_on = a->handler (a, frame.header.stream_id, &call);
      vc_ttrpc_call_clear (&call);
      vc_ttrpc_frame_clear (&frame);
      if (!go_on)
        break;
    }
  return NULL;
}

static void
fixture_connect (Fixture *fx, AgentHandler handler, guint request_timeout_ms)
{
  fx->desc = vc_plugin_descriptor ();
  fx->ops = fx->desc->agent;
  g_autoptr(GVariant) settings = g_variant_ref_sink (g_variant_new_parsed (
      "{'request_timeout_ms': <%x>}", (gint64) request_timeout_ms));
  g_autoptr(GError) error = NULL;
  fx->instance = fx->desc->create (NULL, settings, &error);
  g_assert_no_error (error);

  int fds[2];
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
  fx->conn = vc_agent_kata_conn_new_from_fd (fx->instance, fds[0]);
  Agent *a = g_new0 (Agent, 1);
  a->fd = fds[1];
  a->handler = handler;
  g_mutex_init (&a->lock);
  g_cond_init (&a->cond);
  a->last = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_bytes_unref);
  a->held = g_ptr_array_new ();
  a->thread = g_thread_new ("fake-agent", agent_thread, a);
  fx->agent = a;
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  if (fx->conn)
    fx->ops->disconnect (fx->conn);
  if (fx->agent)
    {
      Agent *a = fx->agent;
      shutdown (a->fd, SHUT_RDWR);
      g_thread_join (a->thread);
      close (a->fd);
      g_hash_table_unref (a->last);
      g_ptr_array_unref (a->held);
      g_mutex_clear (&a->lock);
      g_cond_clear (&a->cond);
      g_free (a);
    }
  if (fx->instance)
    fx->desc->destroy (fx->instance);
}

/* The payload of the last `method` request, unpacked as desc. */
static gpointer
last_request (Fixture *fx, const char *method, const ProtobufCMessageDescriptor *desc)
{
  g_mutex_lock (&fx->agent->lock);
  GBytes *b = g_hash_table_lookup (fx->agent->last, method);
  g_assert_nonnull (b);
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (b, &len);
  ProtobufCMessage *msg = vc_ttrpc_payload_unpack (desc, data, len);
  g_mutex_unlock (&fx->agent->lock);
  g_assert_nonnull (msg);
  return msg;
}

static guint
request_count (Fixture *fx)
{
  g_mutex_lock (&fx->agent->lock);
  guint n = fx->agent->requests;
  g_mutex_unlock (&fx->agent->lock);
  return n;
}

/* ---------------------------------------------------------------------------
 * The well-behaved agent
 */

static gboolean
good_agent (Agent *a, guint32 stream, VcTtrpcCall *call)
{
  const char *m = call->method;

  if (strcmp (call->service, "grpc.Health") == 0 && strcmp (m, "Check") == 0)
    {
      Grpc__HealthCheckResponse r = GRPC__HEALTH_CHECK_RESPONSE__INIT;
      r.status = GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
      send_reply (a, stream, &r);
    }
  else if (strcmp (call->service, "grpc.Health") == 0 && strcmp (m, "Version") == 0)
    {
      Grpc__VersionCheckResponse r = GRPC__VERSION_CHECK_RESPONSE__INIT;
      r.agent_version = "fake-1.0";
      send_reply (a, stream, &r);
    }
  else if (strcmp (call->service, "grpc.AgentService") != 0)
    vc_ttrpc_send_response (a->fd, stream, VC_TTRPC_CODE_UNIMPLEMENTED, "no such service", NULL);
  else if (strcmp (m, "WaitProcess") == 0)
    {
      Grpc__WaitProcessRequest *req = (Grpc__WaitProcessRequest *) vc_ttrpc_payload_unpack (
          &grpc__wait_process_request__descriptor, call->payload, call->payload_len);
      Grpc__WaitProcessResponse r = GRPC__WAIT_PROCESS_RESPONSE__INIT;
      /* exec "e<N>" exits with N % 256, anything else with 3. */
      r.status = req->exec_id[0] == 'e' ? atoi (req->exec_id + 1) % 256 : 3;
      protobuf_c_message_free_unpacked (&req->base, NULL);
      send_reply (a, stream, &r);
    }
  else if (strcmp (m, "ReadStdout") == 0 || strcmp (m, "ReadStderr") == 0)
    {
      Grpc__ReadStreamRequest *req = (Grpc__ReadStreamRequest *) vc_ttrpc_payload_unpack (
          &grpc__read_stream_request__descriptor, call->payload, call->payload_len);
      Grpc__ReadStreamResponse r = GRPC__READ_STREAM_RESPONSE__INIT;
      /* exec "eof" is at end of file; others get "out"/"err" within len. */
      const char *text = strcmp (req->exec_id, "eof") == 0 ? "" : (m[4] == 'S' && m[7] == 'o') ? "out" : "err";
      r.data.data = (uint8_t *) text;
      r.data.len = MIN (strlen (text), req->len);
      protobuf_c_message_free_unpacked (&req->base, NULL);
      send_reply (a, stream, &r);
    }
  else if (strcmp (m, "WriteStdin") == 0)
    {
      Grpc__WriteStreamRequest *req = (Grpc__WriteStreamRequest *) vc_ttrpc_payload_unpack (
          &grpc__write_stream_request__descriptor, call->payload, call->payload_len);
      Grpc__WriteStreamResponse r = GRPC__WRITE_STREAM_RESPONSE__INIT;
      r.len = (uint32_t) req->data.len;
      protobuf_c_message_free_unpacked (&req->base, NULL);
      send_reply (a, stream, &r);
    }
  else if (strcmp (m, "StatsContainer") == 0)
    {
      Grpc__StatsContainerResponse r = GRPC__STATS_CONTAINER_RESPONSE__INIT;
      Grpc__CgroupStats cg = GRPC__CGROUP_STATS__INIT;
      Grpc__CpuStats cpu = GRPC__CPU_STATS__INIT;
      Grpc__CpuUsage usage = GRPC__CPU_USAGE__INIT;
      Grpc__MemoryStats mem = GRPC__MEMORY_STATS__INIT;
      Grpc__MemoryData md = GRPC__MEMORY_DATA__INIT;
      Grpc__PidsStats pids = GRPC__PIDS_STATS__INIT;
      usage.total_usage = 123456789;
      cpu.cpu_usage = &usage;
      md.usage = 4096;
      md.limit = G_GUINT64_CONSTANT (9223372036854771712);
      mem.usage = &md;
      pids.current = 7;
      cg.cpu_stats = &cpu;
      cg.memory_stats = &mem;
      cg.pids_stats = &pids;
      r.cgroup_stats = &cg;
      send_reply (a, stream, &r);
    }
  else if (strcmp (m, "GetGuestDetails") == 0)
    {
      Grpc__GuestDetailsResponse r = GRPC__GUEST_DETAILS_RESPONSE__INIT;
      Grpc__AgentDetails d = GRPC__AGENT_DETAILS__INIT;
      d.version = "fake-1.0";
      d.supports_seccomp = TRUE;
      r.agent_details = &d;
      r.mem_block_size_bytes = 128 << 20;
      send_reply (a, stream, &r);
    }
  else if (strcmp (m, "GetOOMEvent") == 0)
    {
      Grpc__OOMEvent r = GRPC__OOMEVENT__INIT;
      r.container_id = "c-oom";
      send_reply (a, stream, &r);
    }
  else if (strcmp (m, "StartContainer") == 0)
    {
      Grpc__StartContainerRequest *req = (Grpc__StartContainerRequest *) vc_ttrpc_payload_unpack (
          &grpc__start_container_request__descriptor, call->payload, call->payload_len);
      if (strcmp (req->container_id, "missing") == 0)
        vc_ttrpc_send_response (a->fd, stream, VC_TTRPC_CODE_NOT_FOUND,
                                "container missing does not exist", NULL);
      else
        send_reply (a, stream, NULL);
      protobuf_c_message_free_unpacked (&req->base, NULL);
    }
  else
    send_reply (a, stream, NULL); /* Empty: CreateContainer, ExecProcess, ... */
  return TRUE;
}

static void
connect_good (Fixture *fx, gconstpointer data)
{
  fixture_connect (fx, good_agent, 5000);
}

static const char spec_json[] =
  "{"
  " \"ociVersion\": \"1.0.2\","
  " \"process\": {"
  "   \"terminal\": false,"
  "   \"user\": {\"uid\": 1000, \"gid\": 100, \"additionalGids\": [10, 20]},"
  "   \"args\": [\"/bin/sh\", \"-c\", \"echo hi\"],"
  "   \"env\": [\"PATH=/bin\", \"FOO=bar\"],"
  "   \"cwd\": \"/work\","
  "   \"capabilities\": {\"bounding\": [\"CAP_CHOWN\"]},"
  "   \"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"hard\": 18446744073709551615, \"soft\": 1024}],"
  "   \"noNewPrivileges\": true,"
  "   \"oomScoreAdj\": -500"
  " },"
  " \"root\": {\"path\": \"rootfs\", \"readonly\": true},"
  " \"hostname\": \"box\","
  " \"mounts\": ["
  "   {\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\"},"
  "   {\"destination\": \"/data\", \"type\": \"bind\", \"source\": \"/host/data\", \"options\": [\"rbind\", \"rw\"]},"
  "   {\"destination\": \"/ro/\", \"type\": \"none\", \"source\": \"/host/ro\", \"options\": [\"bind\", \"rw\"]},"
  "   {\"destination\": \"/tmp\", \"type\": \"tmpfs\", \"source\": \"tmpfs\", \"options\": [\"nosuid\"]}"
  " ],"
  " \"annotations\": {\"a\": \"1\", \"b\": \"2\"},"
  " \"hooks\": {\"prestart\": [{\"path\": \"/x\"}]},"
  " \"linux\": {"
  "   \"cgroupsPath\": \"/kubepods/x\","
  "   \"sysctl\": {\"net.ipv4.ip_forward\": \"1\"},"
  "   \"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"network\", \"path\": \"/var/run/netns/x\"},"
  "                    {\"type\": \"mount\"}, {\"type\": \"ipc\", \"path\": \"/proc/1/ns/ipc\"}, {\"type\": \"cgroup\"}],"
  "   \"resources\": {\"devices\": [{\"allow\": false, \"access\": \"rwm\"}], \"memory\": {\"limit\": 268435456},"
  "                   \"cpu\": {\"shares\": 512, \"cpus\": \"0-3\", \"mems\": \"0\"}, \"pids\": {\"limit\": 100}},"
  "   \"seccomp\": {\"defaultAction\": \"SCMP_ACT_ALLOW\","
  "                 \"syscalls\": [{\"names\": [\"mkdir\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 1}]},"
  "   \"maskedPaths\": [\"/proc/kcore\"],"
  "   \"readonlyPaths\": [\"/proc/sys\"]"
  " }"
  "}";

static gboolean
strv_has (char **v, size_t n, const char *s)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp (v[i], s) == 0)
      return TRUE;
  return FALSE;
}

static void
test_create_container (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  const char *opts[] = { "trans=virtio", "version=9p2000.L", NULL };
  g_autoptr(VcStorage) storage = vc_storage_new ("9p", "kataShared", "9p", opts,
                                                 "/run/kata-containers/shared/containers");
  VcStorage *storages[] = { storage, NULL };
  VcAgentMount m0 = { sizeof m0, "/data", "/run/kata-containers/shared/containers/c1/mounts/0-data", FALSE };
  VcAgentMount m1 = { sizeof m1, "/ro", "/run/kata-containers/shared/containers/c1/mounts/1-ro", TRUE };
  const VcAgentMount *mounts[] = { &m0, &m1, NULL };
  VcGuestDevice dev = { sizeof dev, "blk0", "virtio-blk-pci", "02/00", NULL };
  const VcGuestDevice *devices[] = { &dev, NULL };
  const char *paths[] = { "/dev/vdb", NULL };
  VcContainerConfig config = {
    .struct_size = sizeof config, .container_id = "c1", .oci_spec_json = spec_json,
    .guest_rootfs = "/run/kata-containers/shared/containers/c1/rootfs",
    .storages = storages, .mounts = mounts, .devices = devices, .device_container_paths = paths,
  };

  gboolean created = fx->ops->create_container (fx->conn, &config, &error);
  g_assert_no_error (error);
  g_assert_true (created);

  Grpc__CreateContainerRequest *req = last_request (fx, "CreateContainer",
                                                    &grpc__create_container_request__descriptor);
  g_assert_cmpstr (req->container_id, ==, "c1");
  g_assert_cmpstr (req->exec_id, ==, "c1");
  g_assert_cmpuint (req->n_storages, ==, 1);
  g_assert_cmpstr (req->storages[0]->driver, ==, "9p");
  g_assert_cmpstr (req->storages[0]->source, ==, "kataShared");
  g_assert_cmpstr (req->storages[0]->fstype, ==, "9p");
  g_assert_cmpstr (req->storages[0]->mount_point, ==, "/run/kata-containers/shared/containers");
  g_assert_cmpuint (req->storages[0]->n_options, ==, 2);
  g_assert_cmpstr (req->storages[0]->options[1], ==, "version=9p2000.L");
  g_assert_cmpuint (req->n_devices, ==, 1);
  g_assert_cmpstr (req->devices[0]->id, ==, "blk0");
  g_assert_cmpstr (req->devices[0]->type, ==, "virtio-blk-pci");
  g_assert_cmpstr (req->devices[0]->vm_path, ==, "02/00");
  g_assert_cmpstr (req->devices[0]->container_path, ==, "/dev/vdb");

  Grpc__Spec *spec = req->oci;
  g_assert_nonnull (spec);
  g_assert_cmpstr (spec->version, ==, "1.0.2");
  g_assert_cmpstr (spec->hostname, ==, "box");
  g_assert_cmpstr (spec->root->path, ==, "/run/kata-containers/shared/containers/c1/rootfs");
  g_assert_true (spec->root->readonly);

  Grpc__Process *p = spec->process;
  g_assert_cmpuint (p->n_args, ==, 3);
  g_assert_cmpstr (p->args[2], ==, "echo hi");
  g_assert_cmpuint (p->n_env, ==, 2);
  g_assert_cmpstr (p->env[1], ==, "FOO=bar");
  g_assert_cmpstr (p->cwd, ==, "/work");
  g_assert_cmpuint (p->user->uid, ==, 1000);
  g_assert_cmpuint (p->user->gid, ==, 100);
  g_assert_cmpuint (p->user->n_additionalgids, ==, 2);
  g_assert_cmpuint (p->user->additionalgids[1], ==, 20);
  g_assert_cmpstr (p->capabilities->bounding[0], ==, "CAP_CHOWN");
  g_assert_cmpuint (p->n_rlimits, ==, 1);
  g_assert_cmpuint (p->rlimits[0]->hard, ==, G_MAXUINT64);
  g_assert_cmpuint (p->rlimits[0]->soft, ==, 1024);
  g_assert_true (p->nonewprivileges);
  g_assert_cmpint (p->oomscoreadj, ==, -500);

  /* Shared mounts point at their guest sources; others are untouched. */
  g_assert_cmpuint (spec->n_mounts, ==, 4);
  g_assert_cmpstr (spec->mounts[0]->type, ==, "proc");
  g_assert_cmpstr (spec->mounts[0]->source, ==, "proc");
  g_assert_cmpstr (spec->mounts[1]->source, ==, m0.guest_source);
  g_assert_cmpstr (spec->mounts[1]->type, ==, "bind");
  g_assert_true (strv_has (spec->mounts[1]->options, spec->mounts[1]->n_options, "rw"));
  g_assert_false (strv_has (spec->mounts[1]->options, spec->mounts[1]->n_options, "ro"));
  g_assert_cmpstr (spec->mounts[2]->source, ==, m1.guest_source);
  g_assert_cmpstr (spec->mounts[2]->type, ==, "bind");
  g_assert_true (strv_has (spec->mounts[2]->options, spec->mounts[2]->n_options, "ro"));
  g_assert_true (strv_has (spec->mounts[2]->options, spec->mounts[2]->n_options, "bind"));
  g_assert_false (strv_has (spec->mounts[2]->options, spec->mounts[2]->n_options, "rw"));
  g_assert_cmpstr (spec->mounts[3]->type, ==, "tmpfs");
  g_assert_cmpstr (spec->mounts[3]->options[0], ==, "nosuid");

  g_assert_cmpuint (spec->n_annotations, ==, 2);

  /* What the host handles is gone. */
  Grpc__Linux *lx = spec->linux;
  g_assert_cmpstr (lx->cgroupspath, ==, "");
  g_assert_cmpuint (lx->n_namespaces, ==, 3);
  for (size_t i = 0; i < lx->n_namespaces; i++)
    {
      g_assert_cmpstr (lx->namespaces[i]->type, !=, "network");
      g_assert_cmpstr (lx->namespaces[i]->type, !=, "cgroup");
      g_assert_cmpstr (lx->namespaces[i]->path, ==, "");
    }
  g_assert_cmpuint (lx->n_sysctl, ==, 1);
  g_assert_cmpstr (lx->sysctl[0]->key, ==, "net.ipv4.ip_forward");
  g_assert_cmpstr (lx->sysctl[0]->value, ==, "1");
  g_assert_cmpuint (lx->resources->n_devices, ==, 0);
  g_assert_null (lx->resources->pids);
  g_assert_cmpint (lx->resources->memory->limit, ==, 268435456);
  g_assert_cmpuint (lx->resources->cpu->shares, ==, 512);
  g_assert_cmpstr (lx->resources->cpu->cpus, ==, "");
  g_assert_cmpstr (lx->seccomp->defaultaction, ==, "SCMP_ACT_ALLOW");
  g_assert_cmpuint (lx->seccomp->syscalls[0]->errno_ret_case, ==,
                    GRPC__LINUX_SYSCALL__ERRNO_RET_ERRNORET);
  g_assert_cmpuint (lx->seccomp->syscalls[0]->errnoret, ==, 1);
  g_assert_cmpstr (lx->maskedpaths[0], ==, "/proc/kcore");
  protobuf_c_message_free_unpacked (&req->base, NULL);
}

static void
test_bad_spec (Fixture *fx, gconstpointer data)
{
  struct {
    const char *json;
    const char *message;
  } cases[] = {
    { "{\"process\": {\"args\": [\"/bin/sh\", 7]}}", "config.json.process.args[1]: expected a string" },
    { "{\"process\": {\"user\": {\"uid\": -1}}}", "config.json.process.user.uid: expected an integer" },
    { "{\"process\": {\"terminal\": \"yes\"}}", "config.json.process.terminal: expected true or false" },
    { "{\"mounts\": {}}", "config.json.mounts: expected an array" },
    { "{\"annotations\": {\"a\": 1}}", "config.json.annotations.a: expected a string" },
    { "[1]", "config.json: expected an object" },
    { "{not json", "config.json: not valid JSON" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      VcContainerConfig config = {
        .struct_size = sizeof config, .container_id = "c1", .oci_spec_json = cases[i].json,
        .guest_rootfs = "/run/kata-containers/shared/containers/c1/rootfs",
      };
      g_assert_false (fx->ops->create_container (fx->conn, &config, &error));
      g_assert_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT);
      if (strstr (error->message, cases[i].message) == NULL)
        g_error ("case %zu: '%s' does not contain '%s'", i, error->message, cases[i].message);
    }

  /* A shared mount that the spec does not have is refused. */
  g_autoptr(GError) error = NULL;
  VcAgentMount m = { sizeof m, "/nowhere", "/run/x", FALSE };
  const VcAgentMount *mounts[] = { &m, NULL };
  VcContainerConfig config = {
    .struct_size = sizeof config, .container_id = "c1", .oci_spec_json = "{}",
    .guest_rootfs = "/r", .mounts = mounts,
  };
  g_assert_false (fx->ops->create_container (fx->conn, &config, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT);
  /* None of it reached the agent. */
  g_assert_cmpuint (request_count (fx), ==, 0);
}

static void
test_rpcs (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (fx->ops->check (fx->conn, &error));
  g_assert_no_error (error);
  g_autofree char *version = fx->ops->agent_version (fx->conn, &error);
  g_assert_cmpstr (version, ==, "fake-1.0");

  /* CreateSandbox */
  const char *dns[] = { "nameserver 10.0.0.1", NULL };
  g_autoptr(VcStorage) storage = vc_storage_new ("virtio-fs", "kataShared", "virtiofs", NULL,
                                                 "/run/kata-containers/shared/containers");
  VcStorage *storages[] = { storage, NULL };
  VcAgentSandboxConfig sb = {
    .struct_size = sizeof sb, .sandbox_id = "sb1", .hostname = "host1",
    .storages = storages, .dns = dns, .sandbox_pidns = TRUE,
  };
  g_assert_true (fx->ops->create_sandbox (fx->conn, &sb, &error));
  g_assert_no_error (error);
  Grpc__CreateSandboxRequest *csr = last_request (fx, "CreateSandbox",
                                                  &grpc__create_sandbox_request__descriptor);
  g_assert_cmpstr (csr->sandbox_id, ==, "sb1");
  g_assert_cmpstr (csr->hostname, ==, "host1");
  g_assert_cmpuint (csr->n_dns, ==, 1);
  g_assert_true (csr->sandbox_pidns);
  g_assert_cmpuint (csr->n_storages, ==, 1);
  g_assert_cmpstr (csr->storages[0]->driver, ==, "virtio-fs");
  g_assert_cmpuint (csr->storages[0]->n_options, ==, 0);
  protobuf_c_message_free_unpacked (&csr->base, NULL);

  g_assert_true (fx->ops->start_container (fx->conn, "c1", &error));
  g_assert_no_error (error);

  /* An error status becomes a GError with the mapped code and the text. */
  g_assert_false (fx->ops->start_container (fx->conn, "missing", &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "container missing does not exist"));
  g_assert_nonnull (strstr (error->message, "StartContainer"));
  g_clear_error (&error);

  /* ExecProcess */
  g_assert_true (fx->ops->exec_process (fx->conn, "c1", "x1",
                                        "{\"args\": [\"ls\", \"-l\"], \"cwd\": \"/\", \"env\": [\"A=1\"],"
                                        " \"user\": {\"uid\": 5, \"gid\": 6}, \"terminal\": true}",
                                        &error));
  g_assert_no_error (error);
  Grpc__ExecProcessRequest *epr = last_request (fx, "ExecProcess",
                                                &grpc__exec_process_request__descriptor);
  g_assert_cmpstr (epr->container_id, ==, "c1");
  g_assert_cmpstr (epr->exec_id, ==, "x1");
  g_assert_cmpuint (epr->process->n_args, ==, 2);
  g_assert_cmpstr (epr->process->args[1], ==, "-l");
  g_assert_cmpuint (epr->process->user->uid, ==, 5);
  g_assert_true (epr->process->terminal);
  protobuf_c_message_free_unpacked (&epr->base, NULL);
  g_assert_false (fx->ops->exec_process (fx->conn, "c1", "x2", "{\"args\": []}", &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  /* SignalProcess: all -> empty exec id; init -> the container id. */
  g_assert_true (fx->ops->signal_process (fx->conn, "c1", NULL, 15, TRUE, &error));
  Grpc__SignalProcessRequest *spr = last_request (fx, "SignalProcess",
                                                  &grpc__signal_process_request__descriptor);
  g_assert_cmpstr (spr->exec_id, ==, "");
  g_assert_cmpuint (spr->signal, ==, 15);
  protobuf_c_message_free_unpacked (&spr->base, NULL);
  g_assert_true (fx->ops->signal_process (fx->conn, "c1", NULL, 9, FALSE, &error));
  spr = last_request (fx, "SignalProcess", &grpc__signal_process_request__descriptor);
  g_assert_cmpstr (spr->exec_id, ==, "c1");
  protobuf_c_message_free_unpacked (&spr->base, NULL);

  int status = -1;
  g_assert_true (fx->ops->wait_process (fx->conn, "c1", NULL, &status, &error));
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 3);
  g_assert_true (fx->ops->wait_process (fx->conn, "c1", "e137", &status, &error));
  g_assert_cmpint (status, ==, 137);

  gsize written = 0;
  g_assert_true (fx->ops->write_stdin (fx->conn, "c1", NULL, (const guint8 *) "hello", 5,
                                       &written, &error));
  g_assert_cmpuint (written, ==, 5);
  Grpc__WriteStreamRequest *wsr = last_request (fx, "WriteStdin",
                                                &grpc__write_stream_request__descriptor);
  g_assert_cmpmem (wsr->data.data, wsr->data.len, "hello", 5);
  g_assert_cmpstr (wsr->exec_id, ==, "c1");
  protobuf_c_message_free_unpacked (&wsr->base, NULL);
  g_assert_true (fx->ops->close_stdin (fx->conn, "c1", NULL, &error));

  g_autoptr(GBytes) out = fx->ops->read_stdout (fx->conn, "c1", NULL, 1000, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (g_bytes_get_data (out, NULL), g_bytes_get_size (out), "out", 3);
  g_autoptr(GBytes) err = fx->ops->read_stderr (fx->conn, "c1", NULL, 2, &error);
  g_assert_cmpmem (g_bytes_get_data (err, NULL), g_bytes_get_size (err), "er", 2);
  Grpc__ReadStreamRequest *rsr = last_request (fx, "ReadStderr",
                                               &grpc__read_stream_request__descriptor);
  g_assert_cmpuint (rsr->len, ==, 2);
  protobuf_c_message_free_unpacked (&rsr->base, NULL);
  g_autoptr(GBytes) eof = fx->ops->read_stdout (fx->conn, "c1", "eof", 1000, &error);
  g_assert_nonnull (eof);
  g_assert_cmpuint (g_bytes_get_size (eof), ==, 0);

  g_assert_true (fx->ops->tty_win_resize (fx->conn, "c1", NULL, 40, 120, &error));
  Grpc__TtyWinResizeRequest *twr = last_request (fx, "TtyWinResize",
                                                 &grpc__tty_win_resize_request__descriptor);
  g_assert_cmpuint (twr->row, ==, 40);
  g_assert_cmpuint (twr->column, ==, 120);
  protobuf_c_message_free_unpacked (&twr->base, NULL);

  g_assert_true (fx->ops->pause_container (fx->conn, "c1", &error));
  g_assert_true (fx->ops->resume_container (fx->conn, "c1", &error));
  g_assert_true (fx->ops->update_container (fx->conn, "c1",
                                            "{\"memory\": {\"limit\": 1048576}, \"pids\": {\"limit\": 5}}",
                                            &error));
  g_assert_no_error (error);
  Grpc__UpdateContainerRequest *ucr = last_request (fx, "UpdateContainer",
                                                    &grpc__update_container_request__descriptor);
  g_assert_cmpint (ucr->resources->memory->limit, ==, 1048576);
  g_assert_null (ucr->resources->pids);
  protobuf_c_message_free_unpacked (&ucr->base, NULL);

  VcContainerStats stats = { sizeof stats };
  g_assert_true (fx->ops->stats_container (fx->conn, "c1", &stats, &error));
  g_assert_cmpuint (stats.cpu_usage_ns, ==, 123456789);
  g_assert_cmpuint (stats.memory_usage_bytes, ==, 4096);
  g_assert_cmpuint (stats.memory_limit_bytes, ==, 0);
  g_assert_cmpuint (stats.pids_current, ==, 7);

  VcGuestDetails details = { sizeof details };
  g_assert_true (fx->ops->guest_details (fx->conn, &details, &error));
  g_assert_cmpstr (details.agent_version, ==, "fake-1.0");
  g_assert_cmpuint (details.mem_block_size_bytes, ==, 128 << 20);
  g_assert_true (details.supports_seccomp);
  vc_guest_details_clear (&details);

  g_assert_true (fx->ops->set_guest_time (fx->conn, 1700000000, 5, &error));
  Grpc__SetGuestDateTimeRequest *tr = last_request (fx, "SetGuestDateTime",
                                                    &grpc__set_guest_date_time_request__descriptor);
  g_assert_cmpint (tr->sec, ==, 1700000000);
  g_assert_cmpint (tr->usec, ==, 5);
  protobuf_c_message_free_unpacked (&tr->base, NULL);

  g_assert_true (fx->ops->online_cpu_mem (fx->conn, 2, TRUE, &error));
  Grpc__OnlineCPUMemRequest *ocr = last_request (fx, "OnlineCPUMem",
                                                 &grpc__online_cpumem_request__descriptor);
  g_assert_cmpuint (ocr->nb_cpus, ==, 2);
  g_assert_true (ocr->cpu_only);
  protobuf_c_message_free_unpacked (&ocr->base, NULL);

  /* CopyFile in 1 MiB pieces: 2.5 MiB is three requests, the last at 2 MiB. */
  gsize size = 5 * 512 * 1024;
  g_autofree guint8 *content = g_malloc (size);
  for (gsize i = 0; i < size; i++)
    content[i] = (guint8) i;
  g_autoptr(GBytes) file = g_bytes_new_take (g_steal_pointer (&content), size);
  guint before = request_count (fx);
  g_assert_true (fx->ops->copy_file (fx->conn, "/etc/hosts", file, 0644, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (request_count (fx) - before, ==, 3);
  Grpc__CopyFileRequest *cfr = last_request (fx, "CopyFile", &grpc__copy_file_request__descriptor);
  g_assert_cmpstr (cfr->path, ==, "/etc/hosts");
  g_assert_cmpint (cfr->offset, ==, 2 * 1024 * 1024);
  g_assert_cmpint (cfr->file_size, ==, (gint64) size);
  g_assert_cmpuint (cfr->data.len, ==, 512 * 1024);
  g_assert_cmpuint (cfr->file_mode, ==, 0644);
  protobuf_c_message_free_unpacked (&cfr->base, NULL);

  g_autofree char *oom = fx->ops->get_oom_event (fx->conn, &error);
  g_assert_cmpstr (oom, ==, "c-oom");

  g_assert_true (fx->ops->remove_container (fx->conn, "c1", 2500, &error));
  Grpc__RemoveContainerRequest *rcr = last_request (fx, "RemoveContainer",
                                                    &grpc__remove_container_request__descriptor);
  g_assert_cmpuint (rcr->timeout, ==, 3);
  protobuf_c_message_free_unpacked (&rcr->base, NULL);
  g_assert_true (fx->ops->destroy_sandbox (fx->conn, &error));
  g_assert_no_error (error);
}

/* Many threads at once; the agent answers pairs of requests in reverse
 * order, so every reply must find its caller by stream id. */
static gboolean
reversing_agent (Agent *a, guint32 stream, VcTtrpcCall *call)
{
  Grpc__WaitProcessRequest *req = (Grpc__WaitProcessRequest *) vc_ttrpc_payload_unpack (
      &grpc__wait_process_request__descriptor, call->payload, call->payload_len);
  g_assert_nonnull (req);
  guint status = (guint) atoi (req->exec_id + 1) % 256;
  protobuf_c_message_free_unpacked (&req->base, NULL);
  g_ptr_array_add (a->held, GUINT_TO_POINTER ((stream << 8) | status));
  if (a->held->len >= 2)
    flush_held (a);
  return TRUE;
}

static void
flush_held (Agent *a)
{
  while (a->held->len > 0)
    {
      guint v = GPOINTER_TO_UINT (g_ptr_array_index (a->held, a->held->len - 1));
      g_ptr_array_remove_index (a->held, a->held->len - 1);
      Grpc__WaitProcessResponse r = GRPC__WAIT_PROCESS_RESPONSE__INIT;
      r.status = (int32_t) (v & 0xff);
      send_reply (a, v >> 8, &r);
    }
}

typedef struct {
  Fixture *fx;
  guint    base;
} Worker;

#define WORKERS 8
#define CALLS_PER_WORKER 40

static gpointer
worker_thread (gpointer data)
{
  Worker *w = data;
  for (guint i = 0; i < CALLS_PER_WORKER; i++)
    {
      guint n = w->base + i;
      g_autofree char *exec_id = g_strdup_printf ("e%u", n);
      g_autoptr(GError) error = NULL;
      int status = -1;
      g_assert_true (w->fx->ops->wait_process (w->fx->conn, "c1", exec_id, &status, &error));
      g_assert_no_error (error);
      g_assert_cmpint (status, ==, (int) (n % 256));
    }
  return NULL;
}

static void
connect_reversing (Fixture *fx, gconstpointer data)
{
  fixture_connect (fx, reversing_agent, 5000);
}

static void
test_concurrent (Fixture *fx, gconstpointer data)
{
  Worker workers[WORKERS];
  GThread *threads[WORKERS];
  for (guint i = 0; i < WORKERS; i++)
    {
      workers[i] = (Worker) { fx, i * 1000 + 1 };
      threads[i] = g_thread_new ("worker", worker_thread, &workers[i]);
    }
  for (guint i = 0; i < WORKERS; i++)
    g_thread_join (threads[i]);
  g_assert_cmpuint (request_count (fx), ==, WORKERS * CALLS_PER_WORKER);
}

/* ---------------------------------------------------------------------------
 * Hostile agents. Each answers the first request in its own bad way.
 */

static gboolean
garbage_agent (Agent *a, guint32 stream, VcTtrpcCall *call)
{
  /* A "length" of 0xffffffff, then noise. */
  static const guint8 noise[] = { 0xff, 0xff, 0xff, 0xff, 0xde, 0xad, 0xbe, 0xef, 0x02, 0x00,
                                  'g', 'a', 'r', 'b', 'a', 'g', 'e' };
  write_all (a->fd, noise, sizeof noise);
  return TRUE;
}

static gboolean
oversized_agent (Agent *a, guint32 stream, VcTtrpcCall *call)
{
  /* Announces one byte more than 4 MiB on the right stream and sends little. */
  send_header (a, VC_TTRPC_MAX_DATA + 1, stream, VC_TTRPC_TYPE_RESPONSE);
  write_all (a->fd, "xx", 2);
  return TRUE;
}

static gboolean
truncated_agent (Agent *a, guint32 stream, VcTtrpcCall *call)
{
  /* Half a frame, then it hangs up. */
  send_header (a, 100, stream, VC_TTRPC_TYPE_RESPONSE);
  write_all (a->fd, "only a part", 11);
  shutdown (a->fd, SHUT_WR);
  return FALSE;
}

static gboolean
stalled_frame_agent (Agent *a, guint32 stream, VcTtrpcCall *call)
{
  /* Half a frame, then nothing: the frame deadline must end it. */
  send_header (a, 1000, stream, VC_TTRPC_TYPE_RESPONSE);
  write_all (a->fd, "part", 4);
  return TRUE;
}

static gboolean
wrong_stream_agent (Agent *a, guint32 stream, VcTtrpcCall *call)
{
  /* A proper response, on a stream the plugin never opened. */
  vc_ttrpc_send_response (a->fd, stream + 1000, VC_TTRPC_CODE_OK, NULL, NULL);
  return TRUE;
}

static gboolean
bad_type_agent (Agent *a, guint32 stream, VcTtrpcCall *call)
{
  /* A request from the "server" is not something a client takes. */
  vc_ttrpc_send_request (a->fd, stream, "grpc.AgentService", "Evil", NULL, 0);
  return TRUE;
}

static gboolean
undecodable_agent (Agent *a, guint32 stream, VcTtrpcCall *call)
{
  /* First a response frame whose data is not a ttrpc.Response, then (next
   * request) a Response whose payload is not the expected message, then
   * proper answers: the connection stays usable. */
  static int n;
  if (n == 0)
    {
      static const guint8 junk[] = { 0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f };
      send_header (a, sizeof junk, stream, VC_TTRPC_TYPE_RESPONSE);
      write_all (a->fd, junk, sizeof junk);
    }
  else if (n == 1)
    {
      /* A well-formed Response whose payload is an 11-byte varint: not a
       * HealthCheckResponse (nor any message). */
      static guint8 blob[] = { 0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 };
      Ttrpc__Response resp = TTRPC__RESPONSE__INIT;
      resp.payload.data = blob;
      resp.payload.len = sizeof blob;
      size_t len = ttrpc__response__get_packed_size (&resp);
      g_autofree guint8 *out = g_malloc (len);
      ttrpc__response__pack (&resp, out);
      send_header (a, (guint32) len, stream, VC_TTRPC_TYPE_RESPONSE);
      write_all (a->fd, out, len);
    }
  else
    good_agent (a, stream, call);
  n++;
  return TRUE;
}

static gboolean
bad_values_agent (Agent *a, guint32 stream, VcTtrpcCall *call)
{
  if (strcmp (call->method, "WaitProcess") == 0)
    {
      Grpc__WaitProcessResponse r = GRPC__WAIT_PROCESS_RESPONSE__INIT;
      r.status = 300;
      send_reply (a, stream, &r);
    }
  else if (strcmp (call->method, "ReadStdout") == 0)
    {
      Grpc__ReadStreamResponse r = GRPC__READ_STREAM_RESPONSE__INIT;
      r.data.data = (uint8_t *) "far more than asked for";
      r.data.len = 23;
      send_reply (a, stream, &r);
    }
  else if (strcmp (call->method, "WriteStdin") == 0)
    {
      Grpc__WriteStreamResponse r = GRPC__WRITE_STREAM_RESPONSE__INIT;
      r.len = 1000;
      send_reply (a, stream, &r);
    }
  else if (strcmp (call->method, "StartContainer") == 0)
    {
      /* A huge error message with invalid UTF-8: quoted, but bounded and valid. */
      GString *s = g_string_new ("\xff\xfe");
      for (int i = 0; i < 100000; i++)
        g_string_append_c (s, 'x');
      vc_ttrpc_send_response (a->fd, stream, 9999, s->str, NULL);
      g_string_free (s, TRUE);
    }
  else
    good_agent (a, stream, call);
  return TRUE;
}

static gboolean
silent_agent (Agent *a, guint32 stream, VcTtrpcCall *call)
{
  return TRUE;
}

/* Answers a call only after the plugin has given up on it, then properly. */
static gboolean
late_agent (Agent *a, guint32 stream, VcTtrpcCall *call)
{
  if (strcmp (call->method, "Check") == 0 && stream == 1)
    {
      g_usleep ((FAST_TIMEOUT_MS + 300) * 1000);
      Grpc__HealthCheckResponse r = GRPC__HEALTH_CHECK_RESPONSE__INIT;
      r.status = GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
      send_reply (a, stream, &r);
      return TRUE;
    }
  return good_agent (a, stream, call);
}

static void
expect_broken (Fixture *fx, const char *reason)
{
  g_autoptr(GError) error = NULL;
  gint64 start = g_get_monotonic_time ();
  g_assert_false (fx->ops->check (fx->conn, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_STOPPED);
  if (reason && strstr (error->message, reason) == NULL)
    g_error ("'%s' does not mention '%s'", error->message, reason);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 3 * G_TIME_SPAN_SECOND);
  /* ... and stays broken. */
  g_clear_error (&error);
  g_assert_false (fx->ops->start_container (fx->conn, "c1", &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_STOPPED);
}

static void
hostile_setup (Fixture *fx, gconstpointer data)
{
  fixture_connect (fx, (AgentHandler) data, FAST_TIMEOUT_MS);
}

static void
test_garbage (Fixture *fx, gconstpointer data)
{
  expect_broken (fx, "limit 4194304");
}

static void
test_oversized (Fixture *fx, gconstpointer data)
{
  expect_broken (fx, "announced a frame of 4194305 bytes");
}

static void
test_truncated (Fixture *fx, gconstpointer data)
{
  expect_broken (fx, "frame truncated");
}

static void
test_stalled_frame (Fixture *fx, gconstpointer data)
{
  /* The call's own deadline and the frame's are the same here: either ends
   * the call; then the connection is broken for good. */
  g_autoptr(GError) error = NULL;
  g_assert_false (fx->ops->check (fx->conn, &error));
  g_assert_true (g_error_matches (error, VC_ERROR, VC_ERROR_TIMEOUT)
                 || g_error_matches (error, VC_ERROR, VC_ERROR_STOPPED));
  g_usleep (200 * 1000);
  expect_broken (fx, "did not complete");
}

static void
test_wrong_stream (Fixture *fx, gconstpointer data)
{
  expect_broken (fx, "never opened");
}

static void
test_bad_type (Fixture *fx, gconstpointer data)
{
  expect_broken (fx, "not a response");
}

static void
test_undecodable (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_assert_false (fx->ops->check (fx->conn, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_PROTOCOL);
  g_clear_error (&error);
  g_assert_false (fx->ops->check (fx->conn, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_PROTOCOL);
  g_assert_nonnull (strstr (error->message, "HealthCheckResponse"));
  g_clear_error (&error);
  /* One bad reply spoils that call only. */
  g_assert_true (fx->ops->check (fx->conn, &error));
  g_assert_no_error (error);
}

static void
test_bad_values (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  int status = -1;
  g_assert_false (fx->ops->wait_process (fx->conn, "c1", NULL, &status, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_PROTOCOL);
  g_assert_cmpint (status, ==, -1);
  g_clear_error (&error);
  g_assert_null (fx->ops->read_stdout (fx->conn, "c1", NULL, 4, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_PROTOCOL);
  g_clear_error (&error);
  gsize written = 0;
  g_assert_false (fx->ops->write_stdin (fx->conn, "c1", NULL, (const guint8 *) "abc", 3, &written,
                                        &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_PROTOCOL);
  g_clear_error (&error);
  g_assert_false (fx->ops->start_container (fx->conn, "c1", &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_FAILED);
  g_assert_true (g_utf8_validate (error->message, -1, NULL));
  g_assert_cmpuint (strlen (error->message), <, 1024);
  g_clear_error (&error);
  /* The connection is fine. */
  g_assert_true (fx->ops->check (fx->conn, &error));
}

static void
test_silence (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  gint64 start = g_get_monotonic_time ();
  g_assert_false (fx->ops->check (fx->conn, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_TIMEOUT);
  gint64 took = g_get_monotonic_time () - start;
  g_assert_cmpint (took, >=, (FAST_TIMEOUT_MS - 50) * 1000);
  g_assert_cmpint (took, <, 3 * G_TIME_SPAN_SECOND);
}

static void
test_late_answer (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_assert_false (fx->ops->check (fx->conn, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_TIMEOUT);
  g_clear_error (&error);
  /* The late NOT_SERVING answer for stream 1 is dropped; this call gets its own. */
  g_assert_true (fx->ops->check (fx->conn, &error));
  g_assert_no_error (error);
}

/* Calls without a deadline, waiting while the agent stays silent. */
typedef struct {
  Fixture *fx;
  int      which;
  GError  *error;
} Waiter;

static gpointer
waiter_thread (gpointer data)
{
  Waiter *w = data;
  int status;
  switch (w->which)
    {
    case 0:
      g_assert_false (w->fx->ops->wait_process (w->fx->conn, "c1", NULL, &status, &w->error));
      break;
    case 1:
      g_assert_null (w->fx->ops->read_stdout (w->fx->conn, "c1", NULL, 100, &w->error));
      break;
    default:
      g_assert_null (w->fx->ops->get_oom_event (w->fx->conn, &w->error));
      break;
    }
  return NULL;
}

static void
run_waiters (Fixture *fx, gboolean by_disconnect)
{
  Waiter waiters[3];
  GThread *threads[3];
  for (int i = 0; i < 3; i++)
    {
      waiters[i] = (Waiter) { fx, i, NULL };
      threads[i] = g_thread_new ("waiter", waiter_thread, &waiters[i]);
    }
  /* Until all three requests are out, and longer than a request deadline. */
  gint64 deadline = g_get_monotonic_time () + 5 * G_TIME_SPAN_SECOND;
  while (request_count (fx) < 3 && g_get_monotonic_time () < deadline)
    g_usleep (10000);
  g_assert_cmpuint (request_count (fx), ==, 3);
  g_usleep ((FAST_TIMEOUT_MS + 200) * 1000);

  gint64 start = g_get_monotonic_time ();
  if (by_disconnect)
    {
      fx->ops->disconnect (fx->conn);
      fx->conn = NULL;
    }
  else
    shutdown (fx->agent->fd, SHUT_RDWR); /* the guest goes away */
  for (int i = 0; i < 3; i++)
    {
      g_thread_join (threads[i]);
      g_assert_error (waiters[i].error, VC_ERROR, VC_ERROR_STOPPED);
      g_clear_error (&waiters[i].error);
    }
  g_assert_cmpint (g_get_monotonic_time () - start, <, 2 * G_TIME_SPAN_SECOND);
}

static void
test_hangup_with_waiters (Fixture *fx, gconstpointer data)
{
  run_waiters (fx, FALSE);
  expect_broken (fx, "closed the connection");
}

static void
test_disconnect_with_waiters (Fixture *fx, gconstpointer data)
{
  run_waiters (fx, TRUE);
}

/* ---------------------------------------------------------------------------
 * Dialling and settings
 */

static int
listen_unix (const char *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  g_strlcpy (addr.sun_path, path, sizeof addr.sun_path);
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (bind (fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  g_assert_cmpint (listen (fd, 4), ==, 0);
  return fd;
}

typedef struct {
  char *path;
  gboolean hybrid;
  int fd;          /* the accepted connection that ended up in use */
} Server;

static gpointer
server_thread (gpointer data)
{
  Server *s = data;
  /* Appears only after the plugin has started dialling. */
  g_usleep (300 * 1000);
  int lfd = listen_unix (s->path);
  for (int attempt = 0;; attempt++)
    {
      int fd = accept4 (lfd, NULL, NULL, SOCK_CLOEXEC);
      g_assert_cmpint (fd, >=, 0);
      if (!s->hybrid)
        {
          s->fd = fd;
          break;
        }
      char line[64] = { 0 };
      for (size_t i = 0; i < sizeof line - 1; i++)
        {
          g_assert_cmpint (read (fd, line + i, 1), ==, 1);
          if (line[i] == '\n')
            break;
        }
      g_assert_cmpstr (line, ==, "CONNECT 1024\n");
      if (attempt == 0)
        {
          /* Nobody listens on the port yet: refuse, as Cloud Hypervisor does. */
          close (fd);
          continue;
        }
      /* The OK line and the first ttRPC bytes may come in one segment. */
      write_all (fd, "OK 1073741824\n", 14);
      s->fd = fd;
      break;
    }
  close (lfd);
  return NULL;
}

static void
dial_and_check (gboolean hybrid)
{
  g_autofree char *dir = g_dir_make_tmp ("vcrun-agent-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "agent.sock", NULL);
  const VcPluginDescriptor *desc = vc_plugin_descriptor ();
  g_autoptr(GError) error = NULL;
  VcPluginInstance *instance = desc->create (NULL, NULL, &error);
  g_assert_no_error (error);

  Server s = { .path = path, .hybrid = hybrid, .fd = -1 };
  GThread *thread = g_thread_new ("server", server_thread, &s);
  VcAgentEndpoint ep = {
    .struct_size = sizeof ep,
    .transport = hybrid ? VC_AGENT_TRANSPORT_HYBRID_VSOCK : VC_AGENT_TRANSPORT_SERIAL,
    .socket_path = path, .port = 1024,
  };
  VcAgentConn *conn = desc->agent->connect (instance, &ep, 5000, &error);
  g_assert_no_error (error);
  g_assert_nonnull (conn);
  g_thread_join (thread);

  /* The connection works: a Check over it. */
  Agent a = { .fd = s.fd, .handler = good_agent, .held = g_ptr_array_new () };
  g_mutex_init (&a.lock);
  g_cond_init (&a.cond);
  a.last = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_bytes_unref);
  a.thread = g_thread_new ("fake-agent", agent_thread, &a);
  g_assert_true (desc->agent->check (conn, &error));
  g_assert_no_error (error);
  desc->agent->disconnect (conn);
  g_thread_join (a.thread);
  close (a.fd);
  g_hash_table_unref (a.last);
  g_ptr_array_unref (a.held);
  g_mutex_clear (&a.lock);
  g_cond_clear (&a.cond);

  desc->destroy (instance);
  g_unlink (path);
  g_rmdir (dir);
}

static void
test_dial_serial (void)
{
  dial_and_check (FALSE);
}

static void
test_dial_hybrid (void)
{
  dial_and_check (TRUE);
}

static void
test_dial_timeout (void)
{
  const VcPluginDescriptor *desc = vc_plugin_descriptor ();
  g_autoptr(GError) error = NULL;
  VcPluginInstance *instance = desc->create (NULL, NULL, &error);
  VcAgentEndpoint ep = {
    .struct_size = sizeof ep, .transport = VC_AGENT_TRANSPORT_SERIAL,
    .socket_path = "/nonexistent/agent.sock",
  };
  gint64 start = g_get_monotonic_time ();
  g_assert_null (desc->agent->connect (instance, &ep, 300, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_TIMEOUT);
  g_assert_nonnull (strstr (error->message, "/nonexistent/agent.sock"));
  gint64 took = g_get_monotonic_time () - start;
  g_assert_cmpint (took, >=, 250 * 1000);
  g_assert_cmpint (took, <, 2 * G_TIME_SPAN_SECOND);
  desc->destroy (instance);
}

/* No vsock peer here (or no vsock at all): connect gives up in time, naming it. */
static void
test_dial_vsock_unreachable (void)
{
  const VcPluginDescriptor *desc = vc_plugin_descriptor ();
  g_autoptr(GError) error = NULL;
  VcPluginInstance *instance = desc->create (NULL, NULL, &error);
  VcAgentEndpoint ep = {
    .struct_size = sizeof ep, .transport = VC_AGENT_TRANSPORT_VSOCK, .cid = 4242, .port = 1024,
  };
  gint64 start = g_get_monotonic_time ();
  g_assert_null (desc->agent->connect (instance, &ep, 300, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_TIMEOUT);
  g_assert_nonnull (strstr (error->message, "vsock 4242:1024"));
  g_assert_cmpint (g_get_monotonic_time () - start, <, 3 * G_TIME_SPAN_SECOND);
  desc->destroy (instance);
}

static void
test_settings (void)
{
  const VcPluginDescriptor *desc = vc_plugin_descriptor ();
  g_assert_cmpstr (desc->name, ==, "agent-kata");
  g_assert_cmpuint (desc->kinds, ==, VC_PLUGIN_KIND_AGENT);
  g_assert_cmpuint (desc->agent->size, ==, sizeof (VcAgentOps));

  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) bad = g_variant_ref_sink (g_variant_new_parsed ("{'transport': <'carrier-pigeon'>}"));
  g_assert_null (desc->create (NULL, bad, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "transport"));
  g_clear_error (&error);

  /* A transport the hypervisor does not offer is refused at connect. */
  g_autoptr(GVariant) vsock = g_variant_ref_sink (g_variant_new_parsed ("{'transport': <'vsock'>}"));
  VcPluginInstance *instance = desc->create (NULL, vsock, &error);
  g_assert_no_error (error);
  VcAgentEndpoint ep = {
    .struct_size = sizeof ep, .transport = VC_AGENT_TRANSPORT_SERIAL, .socket_path = "/x",
  };
  g_assert_null (desc->agent->connect (instance, &ep, 100, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED);
  desc->destroy (instance);
}

/* network: UpdateInterface, UpdateRoutes, AddARPNeighbors with Kata's
 * messages (types.Interface, types.Route, types.ARPNeighbor). */
static void
test_network (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  const char *addresses[] = { "192.0.2.2/25", "2001:db8::2/64", NULL };
  VcNetInterface iface = {
    .struct_size = sizeof iface, .name = "eth0", .mac = "02:00:00:00:02:02", .mtu = 1400,
    .addresses = addresses,
  };
  g_assert_true (fx->ops->update_interface (fx->conn, &iface, &error));
  g_assert_no_error (error);
  Grpc__UpdateInterfaceRequest *uir = last_request (fx, "UpdateInterface",
                                                    &grpc__update_interface_request__descriptor);
  g_assert_cmpstr (uir->interface->name, ==, "eth0");
  g_assert_cmpstr (uir->interface->device, ==, "eth0");
  g_assert_cmpstr (uir->interface->hwaddr, ==, "02:00:00:00:02:02");
  g_assert_cmpuint (uir->interface->mtu, ==, 1400);
  g_assert_cmpuint (uir->interface->n_ipaddresses, ==, 2);
  g_assert_cmpstr (uir->interface->ipaddresses[0]->address, ==, "192.0.2.2");
  g_assert_cmpstr (uir->interface->ipaddresses[0]->mask, ==, "25");
  g_assert_cmpint (uir->interface->ipaddresses[0]->family, ==, TYPES__IPFAMILY__v4);
  g_assert_cmpint (uir->interface->ipaddresses[1]->family, ==, TYPES__IPFAMILY__v6);
  protobuf_c_message_free_unpacked (&uir->base, NULL);

  VcNetRoute def = { .struct_size = sizeof def, .gateway = "192.0.2.1", .device = "eth0" };
  VcNetRoute net = { .struct_size = sizeof net, .destination = "192.0.2.192/26",
                     .device = "eth1", .source = "192.0.2.130", .scope = 253 };
  const VcNetRoute *routes[] = { &net, &def, NULL };
  g_assert_true (fx->ops->update_routes (fx->conn, routes, &error));
  g_assert_no_error (error);
  Grpc__UpdateRoutesRequest *urr = last_request (fx, "UpdateRoutes",
                                                 &grpc__update_routes_request__descriptor);
  g_assert_cmpuint (urr->routes->n_routes, ==, 2);
  g_assert_cmpstr (urr->routes->routes[0]->dest, ==, "192.0.2.192/26");
  g_assert_cmpstr (urr->routes->routes[0]->source, ==, "192.0.2.130");
  g_assert_cmpuint (urr->routes->routes[0]->scope, ==, 253);
  g_assert_cmpstr (urr->routes->routes[1]->dest, ==, "");
  g_assert_cmpstr (urr->routes->routes[1]->gateway, ==, "192.0.2.1");
  g_assert_cmpstr (urr->routes->routes[1]->device, ==, "eth0");
  protobuf_c_message_free_unpacked (&urr->base, NULL);

  VcNetNeighbor nb = { .struct_size = sizeof nb, .address = "192.0.2.3", .device = "eth0",
                       .mac = "02:00:00:00:00:03", .state = 0x80 };
  const VcNetNeighbor *neighbors[] = { &nb, NULL };
  g_assert_true (fx->ops->add_arp_neighbors (fx->conn, neighbors, &error));
  g_assert_no_error (error);
  Grpc__AddARPNeighborsRequest *anr = last_request (fx, "AddARPNeighbors",
                                                    &grpc__add_arpneighbors_request__descriptor);
  g_assert_cmpuint (anr->neighbors->n_arpneighbors, ==, 1);
  g_assert_cmpstr (anr->neighbors->arpneighbors[0]->toipaddress->address, ==, "192.0.2.3");
  g_assert_cmpstr (anr->neighbors->arpneighbors[0]->lladdr, ==, "02:00:00:00:00:03");
  g_assert_cmpint (anr->neighbors->arpneighbors[0]->state, ==, 0x80);
  protobuf_c_message_free_unpacked (&anr->base, NULL);

  /* Bad input is refused before anything is sent. */
  const char *bad[] = { "192.0.2.2", NULL };
  iface.addresses = bad;
  g_assert_false (fx->ops->update_interface (fx->conn, &iface, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "'192.0.2.2'"));
  g_clear_error (&error);
  VcNetRoute nodev = { .struct_size = sizeof nodev, .gateway = "192.0.2.1" };
  const VcNetRoute *bad_routes[] = { &nodev, NULL };
  g_assert_false (fx->ops->update_routes (fx->conn, bad_routes, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  nb.address = "not-an-address";
  g_assert_false (fx->ops->add_arp_neighbors (fx->conn, neighbors, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/agent-kata/create-container", Fixture, NULL, connect_good, test_create_container,
              fixture_teardown);
  g_test_add ("/agent-kata/bad-spec", Fixture, NULL, connect_good, test_bad_spec, fixture_teardown);
  g_test_add ("/agent-kata/rpcs", Fixture, NULL, connect_good, test_rpcs, fixture_teardown);
  g_test_add ("/agent-kata/network", Fixture, NULL, connect_good, test_network, fixture_teardown);
  g_test_add ("/agent-kata/concurrent", Fixture, NULL, connect_reversing, test_concurrent,
              fixture_teardown);

  g_test_add ("/agent-kata/hostile/garbage", Fixture, garbage_agent, hostile_setup, test_garbage,
              fixture_teardown);
  g_test_add ("/agent-kata/hostile/oversized", Fixture, oversized_agent, hostile_setup,
              test_oversized, fixture_teardown);
  g_test_add ("/agent-kata/hostile/truncated", Fixture, truncated_agent, hostile_setup,
              test_truncated, fixture_teardown);
  g_test_add ("/agent-kata/hostile/stalled-frame", Fixture, stalled_frame_agent, hostile_setup,
              test_stalled_frame, fixture_teardown);
  g_test_add ("/agent-kata/hostile/wrong-stream", Fixture, wrong_stream_agent, hostile_setup,
              test_wrong_stream, fixture_teardown);
  g_test_add ("/agent-kata/hostile/bad-type", Fixture, bad_type_agent, hostile_setup,
              test_bad_type, fixture_teardown);
  g_test_add ("/agent-kata/hostile/undecodable", Fixture, undecodable_agent, hostile_setup,
              test_undecodable, fixture_teardown);
  g_test_add ("/agent-kata/hostile/bad-values", Fixture, bad_values_agent, hostile_setup,
              test_bad_values, fixture_teardown);
  g_test_add ("/agent-kata/hostile/silence", Fixture, silent_agent, hostile_setup, test_silence,
              fixture_teardown);
  g_test_add ("/agent-kata/hostile/late-answer", Fixture, late_agent, hostile_setup,
              test_late_answer, fixture_teardown);
  g_test_add ("/agent-kata/hostile/hangup-with-waiters", Fixture, silent_agent, hostile_setup,
              test_hangup_with_waiters, fixture_teardown);
  g_test_add ("/agent-kata/hostile/disconnect-with-waiters", Fixture, silent_agent, hostile_setup,
              test_disconnect_with_waiters, fixture_teardown);

  g_test_add_func ("/agent-kata/dial/serial-retry", test_dial_serial);
  g_test_add_func ("/agent-kata/dial/hybrid-vsock", test_dial_hybrid);
  g_test_add_func ("/agent-kata/dial/timeout", test_dial_timeout);
  g_test_add_func ("/agent-kata/dial/vsock-unreachable", test_dial_vsock_unreachable);
  g_test_add_func ("/agent-kata/settings", test_settings);
  return g_test_run ();
}
