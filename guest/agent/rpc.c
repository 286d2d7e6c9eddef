/* The method table: ttRPC service/method names to handlers. A handler gets
 * the decoded request, answers with rpc_reply() (no call = Empty) or fails
 * with an AgentError that becomes the response status. */
#include "config.h"

#include "agent.h"

#include <stdlib.h>
#include <string.h>

#include "pb-view.h"

typedef bool (*Handler) (RpcCall *call, const void *req, AgentError *err);
/* A handler that reads the request's bytes itself (see write_stdin_raw). */
typedef bool (*RawHandler) (RpcCall *call, const uint8_t *payload, size_t len, AgentError *err);

typedef struct {
  const char *service;
  const char *method;
  const ProtobufCMessageDescriptor *request;
  Handler handler;
  RawHandler raw;
} Method;

/* ---- grpc.Health ---------------------------------------------------------- */

static bool
health_check (RpcCall *call, const void *req, AgentError *err)
{
  Grpc__HealthCheckResponse resp = GRPC__HEALTH_CHECK_RESPONSE__INIT;
  resp.status = GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
  rpc_reply (call, &resp.base);
  return true;
}

static bool
health_version (RpcCall *call, const void *req, AgentError *err)
{
  Grpc__VersionCheckResponse resp = GRPC__VERSION_CHECK_RESPONSE__INIT;
  resp.grpc_version = "ttrpc";
  resp.agent_version = AGENT_VERSION;
  rpc_reply (call, &resp.base);
  return true;
}

/* ---- sandbox ---------------------------------------------------------------- */

static bool
create_sandbox (RpcCall *call, const void *req, AgentError *err)
{
  return sandbox_create (req, err);
}

static bool
destroy_sandbox (RpcCall *call, const void *req, AgentError *err)
{
  containers_destroy_all ();
  sandbox_destroy ();
  return true;
}

/* ---- containers --------------------------------------------------------------- */

static bool
create_container (RpcCall *call, const void *req, AgentError *err)
{
  return container_create (req, err);
}

static bool
start_container (RpcCall *call, const void *req, AgentError *err)
{
  const Grpc__StartContainerRequest *r = req;
  return container_start (r->container_id, err);
}

static bool
remove_container (RpcCall *call, const void *req, AgentError *err)
{
  const Grpc__RemoveContainerRequest *r = req;
  return container_remove (r->container_id, r->timeout, err);
}

static bool
exec_process (RpcCall *call, const void *req, AgentError *err)
{
  return container_exec (req, err);
}

static bool
pause_container (RpcCall *call, const void *req, AgentError *err)
{
  const Grpc__PauseContainerRequest *r = req;
  return container_pause (r->container_id, true, err);
}

static bool
resume_container (RpcCall *call, const void *req, AgentError *err)
{
  const Grpc__ResumeContainerRequest *r = req;
  return container_pause (r->container_id, false, err);
}

static bool
update_container (RpcCall *call, const void *req, AgentError *err)
{
  const Grpc__UpdateContainerRequest *r = req;
  return container_update (r->container_id, r->resources, err);
}

static bool
stats_container (RpcCall *call, const void *req, AgentError *err)
{
  const Grpc__StatsContainerRequest *r = req;
  Grpc__StatsContainerResponse *resp = NULL;
  if (!container_stats (r->container_id, &resp, err))
    return false;
  rpc_reply (call, &resp->base);
  container_stats_free (resp);
  return true;
}

/* ---- processes ------------------------------------------------------------------ */

static bool
signal_process (RpcCall *call, const void *req, AgentError *err)
{
  const Grpc__SignalProcessRequest *r = req;
  return process_signal (r->container_id, r->exec_id, r->signal, err);
}

static bool
wait_process (RpcCall *call, const void *req, AgentError *err)
{
  const Grpc__WaitProcessRequest *r = req;
  Grpc__WaitProcessResponse resp = GRPC__WAIT_PROCESS_RESPONSE__INIT;
  if (!process_wait (call, r->container_id, r->exec_id, &resp.status, err))
    return false;
  rpc_reply (call, &resp.base);
  return true;
}

/* WriteStreamRequest is read in place (proto/pb-view.h): its data goes from
 * the request frame to the pipe, where protobuf-c would copy it first. */
static bool
write_stdin_raw (RpcCall *call, const uint8_t *payload, size_t len, AgentError *err)
{
  VcPbField ids[2] = { { 0 }, { 0 } }, data = { 0 }, field;
  VcPbReader reader;
  int r;
  vc_pb_reader_init (&reader, payload, len);
  while ((r = vc_pb_next (&reader, &field)) > 0)
    {
      if (field.number > 3)
        continue;
      if (field.wire != VC_PB_WIRE_LEN)
        {
          r = -1;
          break;
        }
      if (field.number == 3)
        data = field;
      else
        ids[field.number - 1] = field;
    }
  if (r < 0)
    return agent_error (err, VC_TTRPC_CODE_INVALID_ARGUMENT,
                        "WriteStdin: malformed grpc.WriteStreamRequest payload");

  char *cid = vc_pb_strdup (&ids[0]);
  char *exec_id = vc_pb_strdup (&ids[1]);
  if (!cid || !exec_id)
    {
      free (cid);
      free (exec_id);
      return agent_error (err, VC_TTRPC_CODE_RESOURCE_EXHAUSTED, "WriteStdin: out of memory");
    }
  bool ok = process_write_stdin (cid, exec_id, data.data, data.len, err);
  free (cid);
  free (exec_id);
  if (!ok)
    return false;
  Grpc__WriteStreamResponse resp = GRPC__WRITE_STREAM_RESPONSE__INIT;
  resp.len = (uint32_t) data.len;
  rpc_reply (call, &resp.base);
  return true;
}

static bool
read_stream (RpcCall *call, const Grpc__ReadStreamRequest *r, bool stderr_stream, AgentError *err)
{
  /* Answered from the output buffer directly, without a copy. */
  return process_read_output (call, r->container_id, r->exec_id, stderr_stream, r->len, err);
}

static bool
read_stdout (RpcCall *call, const void *req, AgentError *err)
{
  return read_stream (call, req, false, err);
}

static bool
read_stderr (RpcCall *call, const void *req, AgentError *err)
{
  return read_stream (call, req, true, err);
}

static bool
close_stdin (RpcCall *call, const void *req, AgentError *err)
{
  const Grpc__CloseStdinRequest *r = req;
  return process_close_stdin (r->container_id, r->exec_id, err);
}

static bool
close_output (RpcCall *call, const void *req, AgentError *err)
{
  const Grpc__CloseOutputRequest *r = req;
  return process_close_output (r->container_id, r->exec_id, r->stderr, err);
}

static bool
tty_win_resize (RpcCall *call, const void *req, AgentError *err)
{
  const Grpc__TtyWinResizeRequest *r = req;
  return process_resize (r->container_id, r->exec_id, r->row, r->column, err);
}

/* ---- guest-wide -------------------------------------------------------------------- */

static bool
get_guest_details (RpcCall *call, const void *req, AgentError *err)
{
  Grpc__GuestDetailsResponse resp = GRPC__GUEST_DETAILS_RESPONSE__INIT;
  Grpc__AgentDetails details = GRPC__AGENT_DETAILS__INIT;
  if (!guest_details (req, &resp, &details, err))
    return false;
  rpc_reply (call, &resp.base);
  return true;
}

static bool
set_guest_date_time (RpcCall *call, const void *req, AgentError *err)
{
  return guest_set_time (req, err);
}

static bool
online_cpu_mem (RpcCall *call, const void *req, AgentError *err)
{
  return guest_online_cpu_mem (req, err);
}

static bool
copy_file (RpcCall *call, const void *req, AgentError *err)
{
  return guest_copy_file (req, err);
}

static bool
get_oom_event (RpcCall *call, const void *req, AgentError *err)
{
  Grpc__OOMEvent resp = GRPC__OOMEVENT__INIT;
  char *id = NULL;
  if (!container_wait_oom (call, &id, err))
    return false;
  resp.container_id = id;
  rpc_reply (call, &resp.base);
  free (id);
  return true;
}

/* ---- network ------------------------------------------------------------------------- */

static bool
update_interface (RpcCall *call, const void *req, AgentError *err)
{
  const Grpc__UpdateInterfaceRequest *r = req;
  if (!network_update_interface (r->interface, err))
    return false;
  rpc_reply (call, &r->interface->base);
  return true;
}

static bool
update_routes (RpcCall *call, const void *req, AgentError *err)
{
  const Grpc__UpdateRoutesRequest *r = req;
  Grpc__Routes empty = GRPC__ROUTES__INIT;
  if (!network_update_routes (r->routes, err))
    return false;
  rpc_reply (call, r->routes ? &r->routes->base : &empty.base);
  return true;
}

static bool
add_arp_neighbors (RpcCall *call, const void *req, AgentError *err)
{
  const Grpc__AddARPNeighborsRequest *r = req;
  return network_add_neighbors (r->neighbors, err);
}

#define AGENT VC_KATA_AGENT_SERVICE
#define HEALTH VC_KATA_HEALTH_SERVICE

static const Method methods[] = {
  { HEALTH, "Check", &grpc__check_request__descriptor, health_check },
  { HEALTH, "Version", &grpc__check_request__descriptor, health_version },
  { AGENT, "CreateSandbox", &grpc__create_sandbox_request__descriptor, create_sandbox },
  { AGENT, "DestroySandbox", &grpc__destroy_sandbox_request__descriptor, destroy_sandbox },
  { AGENT, "CreateContainer", &grpc__create_container_request__descriptor, create_container },
  { AGENT, "StartContainer", &grpc__start_container_request__descriptor, start_container },
  { AGENT, "RemoveContainer", &grpc__remove_container_request__descriptor, remove_container },
  { AGENT, "ExecProcess", &grpc__exec_process_request__descriptor, exec_process },
  { AGENT, "SignalProcess", &grpc__signal_process_request__descriptor, signal_process },
  { AGENT, "WaitProcess", &grpc__wait_process_request__descriptor, wait_process },
  { AGENT, "WriteStdin", &grpc__write_stream_request__descriptor, NULL, write_stdin_raw },
  { AGENT, "ReadStdout", &grpc__read_stream_request__descriptor, read_stdout },
  { AGENT, "ReadStderr", &grpc__read_stream_request__descriptor, read_stderr },
  { AGENT, "CloseStdin", &grpc__close_stdin_request__descriptor, close_stdin },
  { AGENT, "CloseOutput", &grpc__close_output_request__descriptor, close_output },
  { AGENT, "TtyWinResize", &grpc__tty_win_resize_request__descriptor, tty_win_resize },
  { AGENT, "PauseContainer", &grpc__pause_container_request__descriptor, pause_container },
  { AGENT, "ResumeContainer", &grpc__resume_container_request__descriptor, resume_container },
  { AGENT, "UpdateContainer", &grpc__update_container_request__descriptor, update_container },
  { AGENT, "StatsContainer", &grpc__stats_container_request__descriptor, stats_container },
  { AGENT, "GetGuestDetails", &grpc__guest_details_request__descriptor, get_guest_details },
  { AGENT, "SetGuestDateTime", &grpc__set_guest_date_time_request__descriptor, set_guest_date_time },
  { AGENT, "OnlineCPUMem", &grpc__online_cpumem_request__descriptor, online_cpu_mem },
  { AGENT, "CopyFile", &grpc__copy_file_request__descriptor, copy_file },
  { AGENT, "GetOOMEvent", &grpc__get_oomevent_request__descriptor, get_oom_event },
  { AGENT, "UpdateInterface", &grpc__update_interface_request__descriptor, update_interface },
  { AGENT, "UpdateRoutes", &grpc__update_routes_request__descriptor, update_routes },
  { AGENT, "AddARPNeighbors", &grpc__add_arpneighbors_request__descriptor, add_arp_neighbors },
};

void
rpc_dispatch (RpcCall *call, const VcTtrpcCall *req)
{
  const Method *m = NULL;
  AgentError err = { 0 };

  for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
    if (strcmp (methods[i].service, req->service) == 0 && strcmp (methods[i].method, req->method) == 0)
      {
        m = &methods[i];
        break;
      }
  if (!m)
    {
      agent_debug ("stream %u: %s.%s is not implemented", call->stream_id, req->service, req->method);
      agent_error (&err, VC_TTRPC_CODE_UNIMPLEMENTED, "%s/%s is not implemented by vcrun-agent",
                   req->service, req->method);
      rpc_fail (call, &err);
      return;
    }

  if (m->raw)
    {
      agent_debug ("stream %u: %s", call->stream_id, m->method);
      if (!m->raw (call, req->payload, req->payload_len, &err))
        {
          agent_debug ("stream %u: %s: %s", call->stream_id, m->method, err.message);
          rpc_fail (call, &err);
        }
      return;
    }

  ProtobufCMessage *msg = vc_ttrpc_payload_unpack (m->request, req->payload, req->payload_len);
  if (!msg)
    {
      agent_error (&err, VC_TTRPC_CODE_INVALID_ARGUMENT, "%s: malformed %s payload", m->method,
                   m->request->name);
      rpc_fail (call, &err);
      return;
    }

  agent_debug ("stream %u: %s", call->stream_id, m->method);
  if (!m->handler (call, msg, &err))
    {
      if (err.code == 0)
        agent_error (&err, VC_TTRPC_CODE_INTERNAL, "%s failed", m->method);
      agent_debug ("stream %u: %s: %s", call->stream_id, m->method, err.message);
      rpc_fail (call, &err);
    }
  else if (!call->replied)
    {
      Google__Protobuf__Empty empty = GOOGLE__PROTOBUF__EMPTY__INIT;
      rpc_reply (call, &empty.base);
    }
  protobuf_c_message_free_unpacked (msg, NULL);
}
