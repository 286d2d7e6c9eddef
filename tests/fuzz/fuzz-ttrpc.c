/* Fuzzes the host's and guest's ttRPC framing (proto/ttrpc-frame.c): frames
 * split out of a buffer (vc_ttrpc_frame_parse) and read from a file
 * descriptor (vc_ttrpc_read_frame), and the Request and Response envelopes
 * of each frame (ttrpc-message.c). The input is a byte stream as a peer
 * would send it. */
#include "config.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "fuzz-common.h"
#include "ttrpc.h"

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  vc_fuzz_glib_setup ();
  return 0;
}

static void
decode_envelopes (const VcTtrpcHeader *header, const uint8_t *body)
{
  VcTtrpcReply reply = { 0 };
  if (vc_ttrpc_response_unpack (body, header->length, &reply) == VC_TTRPC_OK)
    {
      /* What the host does with a reply: a status text and a payload. */
      g_assert (reply.message != NULL);
      (void) vc_ttrpc_code_to_string (reply.code);
      g_assert (reply.payload_len == 0 || reply.payload != NULL);
      vc_ttrpc_reply_clear (&reply);
    }
  VcTtrpcCall call = { 0 };
  if (vc_ttrpc_request_unpack (body, header->length, &call) == VC_TTRPC_OK)
    {
      g_assert (call.service != NULL && call.method != NULL);
      g_assert (call.payload_len == 0 || call.payload != NULL);
      vc_ttrpc_call_clear (&call);
    }
}

/* Splitting a buffer the way an event loop would. */
static void
parse_buffer (const uint8_t *data, size_t size)
{
  size_t offset = 0;
  while (offset < size)
    {
      VcTtrpcHeader header;
      size_t frame_len = 0;
      VcTtrpcResult r = vc_ttrpc_frame_parse (data + offset, size - offset, &header, &frame_len);
      if (r == VC_TTRPC_E_TRUNCATED || r == VC_TTRPC_E_TOO_LARGE)
        break;
      g_assert (frame_len == VC_TTRPC_HEADER_SIZE + (size_t) header.length);
      g_assert (frame_len <= size - offset);
      if (r == VC_TTRPC_OK)
        decode_envelopes (&header, data + offset + VC_TTRPC_HEADER_SIZE);
      offset += frame_len;
    }
}

/* Reading from a pipe the way the host's reader thread and the agent do. */
static void
read_fd (const uint8_t *data, size_t size)
{
  int p[2];
  if (pipe2 (p, O_CLOEXEC) != 0)
    return;
  if ((size > 65536 && fcntl (p[1], F_SETPIPE_SZ, 1 << 20) < (int) size) || write (p[1], data, size) != (ssize_t) size)
    {
      close (p[0]);
      close (p[1]);
      return;
    }
  close (p[1]);
  for (;;)
    {
      VcTtrpcFrame frame = { 0 };
      VcTtrpcResult r = vc_ttrpc_read_frame (p[0], 1000, &frame);
      if (r == VC_TTRPC_E_TOO_LARGE)
        r = vc_ttrpc_skip (p[0], 1000, frame.header.length);
      else if (r == VC_TTRPC_OK)
        {
          g_assert (frame.header.length == 0 || frame.data != NULL);
          decode_envelopes (&frame.header, frame.data);
        }
      vc_ttrpc_frame_clear (&frame);
      if (r != VC_TTRPC_OK && r != VC_TTRPC_E_BAD_TYPE)
        break;
    }
  close (p[0]);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  parse_buffer (data, size);
  read_fd (data, size);
  return 0;
}
