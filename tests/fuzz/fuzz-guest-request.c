/* Fuzzes the guest agent's side of a request: the frames the host sends
 * (vc_ttrpc_frame_parse as the agent's reader splits them), the
 * ttrpc.Request envelope, the method's request message as rpc_dispatch()
 * unpacks it (guest/agent/rpc.c's table), and the checks the handlers make
 * before they act: ids (valid_id) and mount options (mount_options_parse).
 * The handlers themselves mount and spawn, so they are not run. */
#include "config.h"

#include "agent.h"
#include "fuzz-common.h"
#include "mountopts.h"

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  vc_fuzz_glib_setup ();
  return 0;
}

typedef struct {
  const char *method;
  const ProtobufCMessageDescriptor *request;
} Method;

/* As in rpc.c. */
static const Method methods[] = {
  { "Check", &grpc__check_request__descriptor },
  { "CreateSandbox", &grpc__create_sandbox_request__descriptor },
  { "DestroySandbox", &grpc__destroy_sandbox_request__descriptor },
  { "CreateContainer", &grpc__create_container_request__descriptor },
  { "StartContainer", &grpc__start_container_request__descriptor },
  { "RemoveContainer", &grpc__remove_container_request__descriptor },
  { "ExecProcess", &grpc__exec_process_request__descriptor },
  { "SignalProcess", &grpc__signal_process_request__descriptor },
  { "WaitProcess", &grpc__wait_process_request__descriptor },
  { "WriteStdin", &grpc__write_stream_request__descriptor },
  { "ReadStdout", &grpc__read_stream_request__descriptor },
  { "CloseStdin", &grpc__close_stdin_request__descriptor },
  { "TtyWinResize", &grpc__tty_win_resize_request__descriptor },
  { "PauseContainer", &grpc__pause_container_request__descriptor },
  { "UpdateContainer", &grpc__update_container_request__descriptor },
  { "StatsContainer", &grpc__stats_container_request__descriptor },
  { "GetGuestDetails", &grpc__guest_details_request__descriptor },
  { "SetGuestDateTime", &grpc__set_guest_date_time_request__descriptor },
  { "OnlineCPUMem", &grpc__online_cpumem_request__descriptor },
  { "CopyFile", &grpc__copy_file_request__descriptor },
  { "GetOOMEvent", &grpc__get_oomevent_request__descriptor },
};

static void
check_mounts (Grpc__Mount *const *mounts, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      MountOptions o;
      mount_options_parse (mounts[i]->options, mounts[i]->n_options, &o);
      g_assert (memchr (o.data, '\0', sizeof o.data) != NULL);
    }
}

static void
check_storages (Grpc__Storage *const *storages, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      MountOptions o;
      mount_options_parse (storages[i]->options, storages[i]->n_options, &o);
      g_assert (memchr (o.data, '\0', sizeof o.data) != NULL);
    }
}

static void
check_message (const char *method, ProtobufCMessage *msg)
{
  AgentError err = { 0 };
  if (g_str_equal (method, "CreateContainer"))
    {
      Grpc__CreateContainerRequest *r = (Grpc__CreateContainerRequest *) msg;
      (void) valid_id (r->container_id, "container id", &err);
      check_storages (r->storages, r->n_storages);
      if (r->oci != NULL)
        check_mounts (r->oci->mounts, r->oci->n_mounts);
    }
  else if (g_str_equal (method, "CreateSandbox"))
    {
      Grpc__CreateSandboxRequest *r = (Grpc__CreateSandboxRequest *) msg;
      check_storages (r->storages, r->n_storages);
    }
  else if (g_str_equal (method, "ExecProcess"))
    {
      Grpc__ExecProcessRequest *r = (Grpc__ExecProcessRequest *) msg;
      (void) valid_id (r->container_id, "container id", &err);
      (void) valid_id (r->exec_id, "exec id", &err);
    }
  else if (g_str_equal (method, "StartContainer"))
    (void) valid_id (((Grpc__StartContainerRequest *) msg)->container_id, "container id", &err);
}

static void
dispatch (const VcTtrpcCall *call)
{
  for (size_t i = 0; i < G_N_ELEMENTS (methods); i++)
    if (strcmp (methods[i].method, call->method) == 0)
      {
        ProtobufCMessage *msg = vc_ttrpc_payload_unpack (methods[i].request, call->payload,
                                                         call->payload_len);
        if (msg != NULL)
          {
            check_message (methods[i].method, msg);
            protobuf_c_message_free_unpacked (msg, NULL);
          }
        return;
      }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  size_t offset = 0;
  while (offset < size)
    {
      VcTtrpcHeader header;
      size_t frame_len = 0;
      VcTtrpcResult r = vc_ttrpc_frame_parse (data + offset, size - offset, &header, &frame_len);
      if (r == VC_TTRPC_E_TRUNCATED || r == VC_TTRPC_E_TOO_LARGE)
        break;
      if (r == VC_TTRPC_OK && header.type == VC_TTRPC_TYPE_REQUEST)
        {
          VcTtrpcCall call;
          if (vc_ttrpc_request_unpack (data + offset + VC_TTRPC_HEADER_SIZE, header.length, &call)
              == VC_TTRPC_OK)
            {
              dispatch (&call);
              vc_ttrpc_call_clear (&call);
            }
        }
      offset += frame_len;
    }
  return 0;
}
