/* A ttRPC client on one connected socket, for an untrusted server.
 *
 * Calls may come from many threads at once. Each call takes the next odd
 * stream id, writes its request frame (one writer at a time) and sleeps until
 * the reader thread hands it the response frame with that stream id, its
 * deadline passes, or the connection breaks.
 *
 * The reader thread waits for frames without a deadline, but once a frame has
 * begun it must be complete within frame_timeout_ms. Anything that puts the
 * byte stream out of step or shows the server does not speak ttRPC (EOF, a
 * frame over 4 MiB, a truncated or late frame, a frame that is not a response,
 * a response on a stream never opened) breaks the connection: every waiting
 * and later call fails with VC_ERROR_STOPPED naming the reason. A response
 * that arrives after its call gave up is dropped. What a response carries is
 * checked by the caller: an undecodable envelope or payload is
 * VC_ERROR_PROTOCOL for that call only.
 */
#pragma once

#include <glib.h>

#include "kata-agent.h"

G_BEGIN_DECLS

typedef struct VcKataClient VcKataClient;

/* Takes ownership of fd (a connected stream socket). */
VcKataClient *vc_kata_client_new   (int fd, guint frame_timeout_ms);
VcKataClient *vc_kata_client_ref   (VcKataClient *client);
/* The last reference closes the fd (after vc_kata_client_close). */
void          vc_kata_client_unref (VcKataClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VcKataClient, vc_kata_client_unref)

/* Breaks the connection with `reason`, wakes every waiting call (they fail)
 * and joins the reader thread. Idempotent. */
void          vc_kata_client_close (VcKataClient *client, const char *reason);

/* Calls service/method with request and returns the reply unpacked as
 * reply_desc (free with protobuf_c_message_free_unpacked). timeout_ms 0:
 * no deadline (the call still ends when the connection breaks or closes).
 * A non-OK status is an error mapped from its code, quoting its message. */
ProtobufCMessage *vc_kata_client_call (VcKataClient *client, const char *service,
                                       const char *method, const ProtobufCMessage *request,
                                       const ProtobufCMessageDescriptor *reply_desc,
                                       guint timeout_ms, GError **error);

/* Why the connection is broken, or NULL while it works (caller frees). */
char         *vc_kata_client_dup_broken_reason (VcKataClient *client);

G_END_DECLS
