/* ttRPC Request/Response envelopes and status codes. */
#include "config.h"

#include "ttrpc.h"
#include "ttrpc.pb-c.h"
#include "pb-view.h"

#include <stdlib.h>
#include <string.h>

const char *
vc_ttrpc_result_to_string (VcTtrpcResult result)
{
  switch (result)
    {
    case VC_TTRPC_OK: return "success";
    case VC_TTRPC_E_IO: return "input/output error";
    case VC_TTRPC_E_EOF: return "connection closed by peer";
    case VC_TTRPC_E_TRUNCATED: return "frame truncated";
    case VC_TTRPC_E_TOO_LARGE: return "frame larger than 4 MiB";
    case VC_TTRPC_E_BAD_TYPE: return "unknown frame type";
    case VC_TTRPC_E_DECODE: return "malformed protobuf message";
    case VC_TTRPC_E_TIMEOUT: return "timed out";
    case VC_TTRPC_E_NOMEM: return "out of memory";
    case VC_TTRPC_E_INVALID: return "invalid argument";
    }
  return "unknown error";
}

const char *
vc_ttrpc_code_to_string (int32_t code)
{
  static const char *const names[] = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
    "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
  };
  if (code < 0 || (size_t) code >= sizeof names / sizeof names[0])
    return "UNKNOWN_CODE";
  return names[code];
}

VcTtrpcCode
vc_ttrpc_result_to_code (VcTtrpcResult result)
{
  switch (result)
    {
    case VC_TTRPC_OK: return VC_TTRPC_CODE_OK;
    case VC_TTRPC_E_DECODE:
    case VC_TTRPC_E_BAD_TYPE:
    case VC_TTRPC_E_INVALID: return VC_TTRPC_CODE_INVALID_ARGUMENT;
    case VC_TTRPC_E_TOO_LARGE:
    case VC_TTRPC_E_NOMEM: return VC_TTRPC_CODE_RESOURCE_EXHAUSTED;
    case VC_TTRPC_E_TIMEOUT: return VC_TTRPC_CODE_DEADLINE_EXCEEDED;
    default: return VC_TTRPC_CODE_INTERNAL;
    }
}

/* Packs msg into a malloc()ed buffer, refusing anything over a frame. */
static VcTtrpcResult
pack_message (const ProtobufCMessage *msg, uint8_t **out, size_t *out_len)
{
  size_t len = protobuf_c_message_get_packed_size (msg);
  if (len > VC_TTRPC_MAX_DATA)
    return VC_TTRPC_E_TOO_LARGE;
  uint8_t *buf = malloc (len ? len : 1);
  if (!buf)
    return VC_TTRPC_E_NOMEM;
  protobuf_c_message_pack (msg, buf);
  *out = buf;
  *out_len = len;
  return VC_TTRPC_OK;
}

/* Packs an optional payload; a NULL payload gives an empty buffer. */
static VcTtrpcResult
pack_payload (const ProtobufCMessage *payload, ProtobufCBinaryData *bin)
{
  bin->data = NULL;
  bin->len = 0;
  if (!payload)
    return VC_TTRPC_OK;
  return pack_message (payload, &bin->data, &bin->len);
}

static uint8_t *
copy_bytes (const uint8_t *data, size_t len)
{
  if (len == 0)
    return NULL;
  uint8_t *copy = malloc (len);
  if (copy)
    memcpy (copy, data, len);
  return copy;
}

VcTtrpcResult
vc_ttrpc_request_pack (const char *service, const char *method,
                       const ProtobufCMessage *payload, int64_t timeout_nano,
                       uint8_t **out, size_t *out_len)
{
  Ttrpc__Request req = TTRPC__REQUEST__INIT;

  if (!service || !method || !out || !out_len)
    return VC_TTRPC_E_INVALID;
  VcTtrpcResult r = pack_payload (payload, &req.payload);
  if (r != VC_TTRPC_OK)
    return r;
  req.service = (char *) service;
  req.method = (char *) method;
  req.timeout_nano = timeout_nano;
  r = pack_message (&req.base, out, out_len);
  free (req.payload.data);
  return r;
}

VcTtrpcResult
vc_ttrpc_response_pack (int32_t code, const char *message, const ProtobufCMessage *payload,
                        uint8_t **out, size_t *out_len)
{
  Ttrpc__Response resp = TTRPC__RESPONSE__INIT;
  Google__Rpc__Status status = GOOGLE__RPC__STATUS__INIT;

  if (!out || !out_len)
    return VC_TTRPC_E_INVALID;
  VcTtrpcResult r = pack_payload (payload, &resp.payload);
  if (r != VC_TTRPC_OK)
    return r;
  status.code = code;
  status.message = (char *) (message ? message : "");
  resp.status = &status;
  r = pack_message (&resp.base, out, out_len);
  free (resp.payload.data);
  return r;
}

VcTtrpcResult
vc_ttrpc_response_unpack (const uint8_t *data, size_t len, VcTtrpcReply *reply)
{
  memset (reply, 0, sizeof *reply);
  if (len > VC_TTRPC_MAX_DATA)
    return VC_TTRPC_E_TOO_LARGE;
  Ttrpc__Response *resp = ttrpc__response__unpack (NULL, len, data);
  if (!resp)
    return VC_TTRPC_E_DECODE;

  VcTtrpcResult r = VC_TTRPC_OK;
  const char *message = resp->status && resp->status->message ? resp->status->message : "";
  reply->code = resp->status ? resp->status->code : VC_TTRPC_CODE_OK;
  reply->message = strdup (message);
  reply->payload_len = resp->payload.len;
  reply->payload = copy_bytes (resp->payload.data, resp->payload.len);
  if (!reply->message || (reply->payload_len && !reply->payload))
    {
      vc_ttrpc_reply_clear (reply);
      r = VC_TTRPC_E_NOMEM;
    }
  ttrpc__response__free_unpacked (resp, NULL);
  return r;
}

void
vc_ttrpc_reply_clear (VcTtrpcReply *reply)
{
  free (reply->message);
  free (reply->payload);
  memset (reply, 0, sizeof *reply);
}

/* A ttrpc.KeyValue { string key = 1; string value = 2; } as protobuf-c
 * would accept it. */
static bool
key_value_valid (const VcPbField *kv)
{
  VcPbReader reader;
  VcPbField field;
  int r;
  vc_pb_reader_init (&reader, kv->data, kv->len);
  while ((r = vc_pb_next (&reader, &field)) > 0)
    if (field.number <= 2 && field.wire != VC_PB_WIRE_LEN)
      return false;
  return r == 0;
}

/* Reads a ttrpc.Request in place: the payload points into data. As with
 * protobuf-c, the last of a repeated scalar field wins and a field of a
 * known number with the wrong wire type is refused. */
static VcTtrpcResult
request_view (const uint8_t *data, size_t len, VcTtrpcCall *call)
{
  memset (call, 0, sizeof *call);
  if (len > VC_TTRPC_MAX_DATA)
    return VC_TTRPC_E_TOO_LARGE;

  VcPbField service = { 0 }, method = { 0 }, field;
  VcPbReader reader;
  int r = 0;
  vc_pb_reader_init (&reader, data, len);
  while (r >= 0 && (r = vc_pb_next (&reader, &field)) > 0)
    {
      VcPbWireType want = field.number == 4 ? VC_PB_WIRE_VARINT : VC_PB_WIRE_LEN;
      if (field.number <= 5 && field.wire != want)
        break;
      switch (field.number)
        {
        case 1: service = field; break;
        case 2: method = field; break;
        case 3:
          call->payload = (uint8_t *) field.data;
          call->payload_len = field.len;
          break;
        case 4: call->timeout_nano = (int64_t) field.value; break;
        case 5:
          /* metadata: KeyValue messages, not used, but they must parse */
          if (!key_value_valid (&field))
            r = -1;
          break;
        default: break;
        }
    }
  if (r != 0)
    {
      memset (call, 0, sizeof *call);
      return VC_TTRPC_E_DECODE;
    }
  if (call->payload_len == 0)
    call->payload = NULL;
  call->service = vc_pb_strdup (&service);
  call->method = vc_pb_strdup (&method);
  if (!call->service || !call->method)
    {
      free (call->service);
      free (call->method);
      memset (call, 0, sizeof *call);
      return VC_TTRPC_E_NOMEM;
    }
  return VC_TTRPC_OK;
}

VcTtrpcResult
vc_ttrpc_request_unpack (const uint8_t *data, size_t len, VcTtrpcCall *call)
{
  VcTtrpcResult r = request_view (data, len, call);
  if (r != VC_TTRPC_OK || call->payload_len == 0)
    return r;
  call->payload = copy_bytes (call->payload, call->payload_len);
  if (!call->payload)
    {
      vc_ttrpc_call_clear (call);
      return VC_TTRPC_E_NOMEM;
    }
  call->storage = call->payload;
  return VC_TTRPC_OK;
}

VcTtrpcResult
vc_ttrpc_request_take (uint8_t *data, size_t len, VcTtrpcCall *call)
{
  VcTtrpcResult r = request_view (data, len, call);
  if (r == VC_TTRPC_OK)
    call->storage = data;
  return r;
}

void
vc_ttrpc_call_clear (VcTtrpcCall *call)
{
  free (call->service);
  free (call->method);
  free (call->storage);
  memset (call, 0, sizeof *call);
}

static VcTtrpcResult
send_packed (int fd, uint32_t stream_id, VcTtrpcType type, uint8_t *data, size_t len)
{
  VcTtrpcHeader header = {
    .length = (uint32_t) len, .stream_id = stream_id, .type = type, .flags = 0,
  };
  VcTtrpcResult r = vc_ttrpc_write_frame (fd, &header, data);
  free (data);
  return r;
}

VcTtrpcResult
vc_ttrpc_send_request (int fd, uint32_t stream_id, const char *service, const char *method,
                       const ProtobufCMessage *payload, int64_t timeout_nano)
{
  uint8_t *data = NULL;
  size_t len = 0;
  VcTtrpcResult r = vc_ttrpc_request_pack (service, method, payload, timeout_nano, &data, &len);
  if (r != VC_TTRPC_OK)
    return r;
  return send_packed (fd, stream_id, VC_TTRPC_TYPE_REQUEST, data, len);
}

VcTtrpcResult
vc_ttrpc_send_response (int fd, uint32_t stream_id, int32_t code, const char *message,
                        const ProtobufCMessage *payload)
{
  uint8_t *data = NULL;
  size_t len = 0;
  VcTtrpcResult r = vc_ttrpc_response_pack (code, message, payload, &data, &len);
  if (r != VC_TTRPC_OK)
    return r;
  return send_packed (fd, stream_id, VC_TTRPC_TYPE_RESPONSE, data, len);
}

ProtobufCMessage *
vc_ttrpc_payload_unpack (const ProtobufCMessageDescriptor *descriptor,
                         const uint8_t *payload, size_t len)
{
  static const uint8_t empty[1];
  if (len > VC_TTRPC_MAX_DATA)
    return NULL;
  return protobuf_c_message_unpack (descriptor, NULL, len, payload ? payload : empty);
}
