/* Synchronous ttRPC client for the guest agent tests. */
#include "config.h"

#include "agent-client.h"

#include <stdlib.h>
#include <string.h>
#include <gio/gio.h>

static void
frame_free (gpointer data)
{
  VcTtrpcFrame *frame = data;
  vc_ttrpc_frame_clear (frame);
  g_free (frame);
}

void
agent_client_init (AgentClient *client, int fd, int timeout_ms)
{
  client->fd = fd;
  client->next_stream = 1;
  client->timeout_ms = timeout_ms;
  if (client->early)
    g_hash_table_remove_all (client->early);
  else
    client->early = g_hash_table_new_full (NULL, NULL, NULL, frame_free);
}

void
agent_result_clear (AgentResult *result)
{
  g_clear_pointer (&result->message, g_free);
  if (result->reply)
    protobuf_c_message_free_unpacked (result->reply, NULL);
  result->reply = NULL;
  result->code = 0;
}

gboolean
agent_client_wait (AgentClient *client, guint32 stream_id,
                   const ProtobufCMessageDescriptor *reply_descriptor,
                   AgentResult *result, GError **error)
{
  memset (result, 0, sizeof *result);
  VcTtrpcFrame frame = { 0 };
  VcTtrpcFrame *early = NULL;
  if (g_hash_table_steal_extended (client->early, GUINT_TO_POINTER (stream_id), NULL, (gpointer *) &early))
    {
      frame = *early;
      g_free (early);
    }
  else
    for (;;)
      {
        VcTtrpcResult r = vc_ttrpc_read_frame (client->fd, client->timeout_ms, &frame);
        if (r != VC_TTRPC_OK)
          {
            g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "reading the response of stream %u: %s",
                         stream_id, vc_ttrpc_result_to_string (r));
            vc_ttrpc_frame_clear (&frame);
            return FALSE;
          }
        if (frame.header.type != VC_TTRPC_TYPE_RESPONSE)
          {
            g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "unexpected frame type %u on stream %u",
                         frame.header.type, frame.header.stream_id);
            vc_ttrpc_frame_clear (&frame);
            return FALSE;
          }
        if (frame.header.stream_id == stream_id)
          break;
        /* the answer to another request in flight: keep it for its waiter */
        VcTtrpcFrame *keep = g_new (VcTtrpcFrame, 1);
        *keep = frame;
        g_hash_table_replace (client->early, GUINT_TO_POINTER (frame.header.stream_id), keep);
        memset (&frame, 0, sizeof frame);
      }

  VcTtrpcReply reply;
  VcTtrpcResult r = vc_ttrpc_response_unpack (frame.data, frame.header.length, &reply);
  vc_ttrpc_frame_clear (&frame);
  if (r != VC_TTRPC_OK)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "bad response: %s", vc_ttrpc_result_to_string (r));
      return FALSE;
    }
  result->code = reply.code;
  result->message = g_strdup (reply.message);
  if (reply.code == VC_TTRPC_CODE_OK && reply_descriptor)
    {
      result->reply = vc_ttrpc_payload_unpack (reply_descriptor, reply.payload, reply.payload_len);
      if (!result->reply)
        {
          vc_ttrpc_reply_clear (&reply);
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "reply payload does not decode as %s",
                       reply_descriptor->name);
          return FALSE;
        }
    }
  vc_ttrpc_reply_clear (&reply);
  return TRUE;
}

guint32
agent_client_send (AgentClient *client, const char *service, const char *method,
                   const ProtobufCMessage *request, GError **error)
{
  guint32 stream_id = client->next_stream;
  client->next_stream += 2;
  VcTtrpcResult r = vc_ttrpc_send_request (client->fd, stream_id, service, method, request, 0);
  if (r != VC_TTRPC_OK)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "sending %s: %s", method, vc_ttrpc_result_to_string (r));
      return 0;
    }
  return stream_id;
}

gboolean
agent_client_call (AgentClient *client, const char *service, const char *method,
                   const ProtobufCMessage *request, const ProtobufCMessageDescriptor *reply_descriptor,
                   AgentResult *result, GError **error)
{
  guint32 stream_id = agent_client_send (client, service, method, request, error);
  return stream_id != 0 && agent_client_wait (client, stream_id, reply_descriptor, result, error);
}

gboolean
agent_client_call_raw (AgentClient *client, const guint8 *data, gsize len, AgentResult *result, GError **error)
{
  guint32 stream_id = client->next_stream;
  client->next_stream += 2;
  VcTtrpcHeader header = { .length = (guint32) len, .stream_id = stream_id, .type = VC_TTRPC_TYPE_REQUEST };
  VcTtrpcResult r = vc_ttrpc_write_frame (client->fd, &header, data);
  if (r != VC_TTRPC_OK)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "sending a raw frame: %s", vc_ttrpc_result_to_string (r));
      return FALSE;
    }
  return agent_client_wait (client, stream_id, NULL, result, error);
}
