/* libvcrun: talking to a sandbox's owner (see core/owner.h for the protocol).
 *
 * Every vcrun invocation other than the owner itself uses these calls to act
 * on a running sandbox. When the owner is gone, the error says so and names
 * its process: "sandbox foo has no owner (process 1234 is gone)".
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "sandbox.h"

G_BEGIN_DECLS

typedef struct VcOwnerClient VcOwnerClient;

/* Default time to wait for a reply (the VM runs under TCG on slow hosts). */
#define VC_OWNER_CLIENT_TIMEOUT_MS 120000

/* Connects to sandbox's owner. VC_ERROR_STOPPED when there is none. */
VcOwnerClient *vc_owner_client_connect (VcSandbox *sandbox, GError **error);
void           vc_owner_client_free    (VcOwnerClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VcOwnerClient, vc_owner_client_free)

/* Sends request (a JSON object; its "op" names the operation) with fds
 * attached (n_fds may be 0), once per connection. */
gboolean    vc_owner_client_send (VcOwnerClient *client, JsonNode *request, const int *fds,
                                  guint n_fds, GError **error);
/* Reads the next reply. timeout_ms < 0: wait forever. A reply with ok false
 * becomes an error in VC_ERROR with the owner's code and message. Returns the
 * reply object (a new reference). */
JsonObject *vc_owner_client_receive (VcOwnerClient *client, int timeout_ms, GError **error);

/* Connect, send {"op": op, ...members of args (may be NULL)}, receive one
 * reply within VC_OWNER_CLIENT_TIMEOUT_MS. */
JsonObject *vc_owner_call (VcSandbox *sandbox, const char *op, JsonObject *args,
                           GError **error);

/* Whether process pid exists. */
gboolean    vc_owner_pid_alive (gint pid);

G_END_DECLS
