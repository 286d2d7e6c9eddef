/* A small synchronous ttRPC client of the Kata agent, for tests. */
#pragma once

#include <glib.h>

#include "kata-agent.h"

typedef struct {
  int fd;
  guint32 next_stream;
  int timeout_ms;
  GHashTable *early;   /* stream id -> VcTtrpcFrame* that arrived before it was waited for */
} AgentClient;

typedef struct {
  gint32 code;
  char *message;
  ProtobufCMessage *reply;   /* decoded with the reply descriptor; NULL on error */
} AgentResult;

void agent_client_init (AgentClient *client, int fd, int timeout_ms);

/* Sends one request and waits for its response. FALSE (with error) only on
 * transport/protocol failures; an error status is a normal result. */
gboolean agent_client_call (AgentClient *client, const char *service, const char *method,
                            const ProtobufCMessage *request,
                            const ProtobufCMessageDescriptor *reply_descriptor,
                            AgentResult *result, GError **error);

/* Sends a request without waiting; returns its stream id (0 on failure). */
guint32 agent_client_send (AgentClient *client, const char *service, const char *method,
                           const ProtobufCMessage *request, GError **error);

/* Sends raw frame data as a request frame and waits for the response. */
gboolean agent_client_call_raw (AgentClient *client, const guint8 *data, gsize len,
                                AgentResult *result, GError **error);

/* Waits for the response on stream_id. */
gboolean agent_client_wait (AgentClient *client, guint32 stream_id,
                            const ProtobufCMessageDescriptor *reply_descriptor,
                            AgentResult *result, GError **error);

void agent_result_clear (AgentResult *result);
