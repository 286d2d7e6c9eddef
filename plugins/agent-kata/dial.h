/* Connecting to the guest agent over the endpoint a hypervisor offers:
 *  - SERIAL: the hypervisor's Unix socket for the virtio-serial port;
 *  - VSOCK: AF_VSOCK cid:port;
 *  - HYBRID_VSOCK: a Unix socket where "CONNECT <port>\n" is answered by a
 *    line "OK <something>\n" once the guest listens (Cloud Hypervisor,
 *    Firecracker).
 * Each is retried until timeout_ms passes: the hypervisor's socket may not
 * exist yet, and the agent may not be listening yet.
 */
#pragma once

#include <glib.h>
#include <vcrun/types.h>

G_BEGIN_DECLS

/* Returns a connected, blocking, close-on-exec stream socket. */
int         vc_kata_dial (const VcAgentEndpoint *endpoint, guint timeout_ms, GError **error);

const char *vc_kata_transport_name (VcAgentTransport transport);

G_END_DECLS
