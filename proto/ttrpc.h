/* ttRPC framing and envelopes, shared by the host's agent-kata plugin and the
 * guest agent.
 *
 * Wire format (containerd ttrpc PROTOCOL.md): every frame is a 10-byte header
 *
 *     uint32 BE  data length (at most VC_TTRPC_MAX_DATA = 4 MiB)
 *     uint32 BE  stream id   (odd: opened by the client)
 *     uint8      type        (1 request, 2 response, 3 data)
 *     uint8      flags
 *
 * followed by `length` bytes of data. A request frame carries a ttrpc.Request
 * {service=1, method=2, payload=3, timeout_nano=4, metadata=5}; the response
 * frame on the same stream carries a ttrpc.Response {status=1, payload=2},
 * status being a google.rpc.Status {code=1, message=2, details=3}. The payloads
 * are the protobuf messages of the called method (see kata-agent.h).
 *
 * This library is plain C11 with no GLib, because the static guest agent links
 * it too. Memory is malloc()ed; free it with the *_clear() functions or free().
 * Every function that can fail returns a VcTtrpcResult; vc_ttrpc_result_to_string()
 * turns it into a message. Nothing a peer sends can make the library allocate
 * more than VC_TTRPC_MAX_DATA for a frame: the length is checked before any
 * allocation.
 *
 * Threads: the functions keep no global state. Writing one frame is a single
 * sendmsg/writev loop, but when several threads write to the same fd the caller
 * must hold a lock around each vc_ttrpc_write_frame() / vc_ttrpc_send_*() call
 * so frames do not interleave. Reading is meant for one reader per fd.
 *
 * Signals: writes to a socket use MSG_NOSIGNAL; on other fds (a virtio-serial
 * character device, a pipe) the caller should ignore SIGPIPE.
 *
 * Build: link libvcproto.la and add -I$(top_srcdir)/proto -I$(top_builddir)/proto
 * (the generated *.pb-c.h live in the build tree) and $(PROTOBUF_C_CFLAGS).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <protobuf-c/protobuf-c.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VC_TTRPC_HEADER_SIZE 10
/* The largest data length a frame may announce; larger ones are refused. */
#define VC_TTRPC_MAX_DATA (4u * 1024u * 1024u)

typedef enum {
  VC_TTRPC_TYPE_REQUEST = 1,
  VC_TTRPC_TYPE_RESPONSE = 2,
  VC_TTRPC_TYPE_DATA = 3,
} VcTtrpcType;

/* Request and data flags (streaming); a unary request has flags 0. */
#define VC_TTRPC_FLAG_REMOTE_CLOSED 0x01
#define VC_TTRPC_FLAG_REMOTE_OPEN 0x02

/* google.rpc.Code values carried in Response.status.code. */
typedef enum {
  VC_TTRPC_CODE_OK = 0,
  VC_TTRPC_CODE_CANCELLED = 1,
  VC_TTRPC_CODE_UNKNOWN = 2,
  VC_TTRPC_CODE_INVALID_ARGUMENT = 3,
  VC_TTRPC_CODE_DEADLINE_EXCEEDED = 4,
  VC_TTRPC_CODE_NOT_FOUND = 5,
  VC_TTRPC_CODE_ALREADY_EXISTS = 6,
  VC_TTRPC_CODE_PERMISSION_DENIED = 7,
  VC_TTRPC_CODE_RESOURCE_EXHAUSTED = 8,
  VC_TTRPC_CODE_FAILED_PRECONDITION = 9,
  VC_TTRPC_CODE_ABORTED = 10,
  VC_TTRPC_CODE_OUT_OF_RANGE = 11,
  VC_TTRPC_CODE_UNIMPLEMENTED = 12,
  VC_TTRPC_CODE_INTERNAL = 13,
  VC_TTRPC_CODE_UNAVAILABLE = 14,
  VC_TTRPC_CODE_DATA_LOSS = 15,
  VC_TTRPC_CODE_UNAUTHENTICATED = 16,
} VcTtrpcCode;

/* Outcome of a library call. After IO, EOF, TRUNCATED or TIMEOUT from a read
 * the byte stream is out of step and the connection must be closed. */
typedef enum {
  VC_TTRPC_OK = 0,
  VC_TTRPC_E_IO,        /* read/write/poll failed; errno says why */
  VC_TTRPC_E_EOF,       /* the peer closed the connection between two frames */
  VC_TTRPC_E_TRUNCATED, /* the data ended inside a frame (or a buffer is short) */
  VC_TTRPC_E_TOO_LARGE, /* a length above VC_TTRPC_MAX_DATA (announced or to send) */
  VC_TTRPC_E_BAD_TYPE,  /* a frame type other than request, response, data */
  VC_TTRPC_E_DECODE,    /* the bytes are not a valid message of the expected type */
  VC_TTRPC_E_TIMEOUT,   /* the deadline passed before the frame was complete */
  VC_TTRPC_E_NOMEM,     /* out of memory */
  VC_TTRPC_E_INVALID,   /* the caller passed an invalid argument */
} VcTtrpcResult;

/* A static English description, e.g. "frame larger than 4 MiB". */
const char *vc_ttrpc_result_to_string (VcTtrpcResult result);
/* The google.rpc.Code name, e.g. "UNIMPLEMENTED"; "UNKNOWN_CODE" for a value
 * outside 0..16. */
const char *vc_ttrpc_code_to_string (int32_t code);
/* The status code a server answers for a failed decode/read: DECODE and
 * BAD_TYPE are INVALID_ARGUMENT, TOO_LARGE is RESOURCE_EXHAUSTED, else INTERNAL. */
VcTtrpcCode vc_ttrpc_result_to_code (VcTtrpcResult result);

/* ---------------------------------------------------------------------------
 * Frame header
 */
typedef struct {
  uint32_t length;    /* bytes of data after the header */
  uint32_t stream_id;
  uint8_t type;       /* VcTtrpcType */
  uint8_t flags;
} VcTtrpcHeader;

/* Writes the 10 header bytes into out. */
void vc_ttrpc_header_encode (const VcTtrpcHeader *header, uint8_t out[VC_TTRPC_HEADER_SIZE]);

/* Decodes the first 10 bytes of buf (len bytes long) into *header.
 * TRUNCATED if len < 10 (header untouched). Otherwise *header is always filled
 * in, and the result is TOO_LARGE if the length exceeds VC_TTRPC_MAX_DATA,
 * else BAD_TYPE if the type is not 1..3, else OK. */
VcTtrpcResult vc_ttrpc_header_decode (const uint8_t *buf, size_t len, VcTtrpcHeader *header);

/* For callers that buffer bytes themselves (e.g. an event loop): looks at
 * buf[0..len) and, if a whole frame is there, returns OK with *header filled
 * and *frame_len = 10 + header->length (the data starts at buf + 10).
 * TRUNCATED means "need more bytes"; TOO_LARGE and BAD_TYPE as above (with
 * *header filled in and *frame_len set to the full announced size). */
VcTtrpcResult vc_ttrpc_frame_parse (const uint8_t *buf, size_t len,
                                    VcTtrpcHeader *header, size_t *frame_len);

/* ---------------------------------------------------------------------------
 * Reading and writing whole frames on a file descriptor (socket, pipe or
 * character device, blocking or O_NONBLOCK). EINTR is retried, short reads
 * and writes are continued, EAGAIN waits with poll().
 */
typedef struct {
  VcTtrpcHeader header;
  uint8_t *data;      /* header.length bytes, malloc()ed; NULL when length is 0 */
} VcTtrpcFrame;

/* Frees frame->data and zeroes the frame. Safe on a zeroed frame. */
void vc_ttrpc_frame_clear (VcTtrpcFrame *frame);

/* Reads one frame into *frame (which the caller has zeroed or cleared).
 * timeout_ms bounds the whole frame; -1 waits for ever.
 *  - OK: frame->header and frame->data are set.
 *  - EOF: the peer closed before the first header byte.
 *  - TOO_LARGE: frame->header is set but the data has NOT been read. A
 *    trusting reader (the guest agent) may vc_ttrpc_skip() it and answer an
 *    error on header.stream_id; an untrusting one (the host) closes the
 *    connection.
 *  - BAD_TYPE: the frame (within the size limit) has been read whole and is
 *    in *frame, so the reader can ignore it and go on.
 *  - TRUNCATED, IO, TIMEOUT: the connection is unusable. */
VcTtrpcResult vc_ttrpc_read_frame (int fd, int timeout_ms, VcTtrpcFrame *frame);

/* Reads and throws away `length` bytes (in small chunks, no big allocation). */
VcTtrpcResult vc_ttrpc_skip (int fd, int timeout_ms, uint64_t length);

/* Writes header (header->length bytes of data) and data as one frame.
 * TOO_LARGE if header->length > VC_TTRPC_MAX_DATA (nothing is written).
 * See the note on threads above. */
VcTtrpcResult vc_ttrpc_write_frame (int fd, const VcTtrpcHeader *header, const uint8_t *data);

/* The same with the data in iovcnt pieces (at most 8) whose lengths add up to
 * header->length, written without copying them (a big reply sent from where
 * it already is). INVALID if the lengths do not add up. */
VcTtrpcResult vc_ttrpc_write_frame_iov (int fd, const VcTtrpcHeader *header,
                                        const struct iovec *iov, int iovcnt);

/* ---------------------------------------------------------------------------
 * Request / Response envelopes
 */

/* Client side: packs a ttrpc.Request for service ("grpc.AgentService") and
 * method ("CreateContainer") whose payload is `payload` (NULL = empty).
 * timeout_nano 0 = none. *out is malloc()ed. TOO_LARGE if the result would not
 * fit in one frame. */
VcTtrpcResult vc_ttrpc_request_pack (const char *service, const char *method,
                                     const ProtobufCMessage *payload, int64_t timeout_nano,
                                     uint8_t **out, size_t *out_len);

/* Client side: a decoded ttrpc.Response. */
typedef struct {
  int32_t code;          /* VcTtrpcCode; 0 when the response has no status */
  char *message;         /* status message, never NULL ("" if none) */
  uint8_t *payload;      /* the method's reply message, to unpack with its
                            descriptor; may be NULL when payload_len is 0 */
  size_t payload_len;
} VcTtrpcReply;

/* Decodes a response frame's data. DECODE if it is not a ttrpc.Response. */
VcTtrpcResult vc_ttrpc_response_unpack (const uint8_t *data, size_t len, VcTtrpcReply *reply);
void vc_ttrpc_reply_clear (VcTtrpcReply *reply);

/* Server side: a decoded ttrpc.Request. */
typedef struct {
  char *service;         /* never NULL */
  char *method;          /* never NULL */
  uint8_t *payload;      /* may be NULL when payload_len is 0 */
  size_t payload_len;
  int64_t timeout_nano;  /* 0 = none */
  uint8_t *storage;      /* what payload points into; freed by vc_ttrpc_call_clear */
} VcTtrpcCall;

/* Decodes a request frame's data. DECODE if it is not a ttrpc.Request. */
VcTtrpcResult vc_ttrpc_request_unpack (const uint8_t *data, size_t len, VcTtrpcCall *call);

/* The same without copying the payload: on success the call owns data
 * (a malloc()ed frame body) and its payload points into it; on failure the
 * caller still owns data. */
VcTtrpcResult vc_ttrpc_request_take (uint8_t *data, size_t len, VcTtrpcCall *call);
void vc_ttrpc_call_clear (VcTtrpcCall *call);

/* Server side: packs a ttrpc.Response with status {code, message} (message
 * may be NULL) and payload (NULL = no payload, as for errors). */
VcTtrpcResult vc_ttrpc_response_pack (int32_t code, const char *message,
                                      const ProtobufCMessage *payload,
                                      uint8_t **out, size_t *out_len);

/* Convenience: pack and write in one call, as one frame. */
VcTtrpcResult vc_ttrpc_send_request (int fd, uint32_t stream_id,
                                     const char *service, const char *method,
                                     const ProtobufCMessage *payload, int64_t timeout_nano);
VcTtrpcResult vc_ttrpc_send_response (int fd, uint32_t stream_id,
                                      int32_t code, const char *message,
                                      const ProtobufCMessage *payload);

/* Unpacks a payload as a message of type `descriptor`
 * (e.g. &grpc__create_container_request__descriptor); NULL if it does not
 * decode. Free with protobuf_c_message_free_unpacked (msg, NULL). */
ProtobufCMessage *vc_ttrpc_payload_unpack (const ProtobufCMessageDescriptor *descriptor,
                                           const uint8_t *payload, size_t len);

#ifdef __cplusplus
}
#endif
