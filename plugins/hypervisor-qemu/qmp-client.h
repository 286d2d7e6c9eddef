/* A QMP (QEMU Machine Protocol) client over a connected stream socket.
 *
 * One reader thread per client reads newline-delimited JSON objects: the
 * greeting, command replies and asynchronous events. Everything the peer sends
 * is bounded: a message longer than QMP_MAX_MESSAGE bytes, nested deeper than
 * QMP_MAX_DEPTH or not a JSON object breaks the connection with a protocol
 * error instead of growing memory or the stack. Commands are serialized, carry
 * an "id" and wait for their own reply with a deadline; replies to commands
 * that already timed out are dropped.
 *
 * Callbacks run on the reader thread and must not call qmp_client_execute()
 * on the same client (it would wait for a reply only that thread can read).
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define QMP_MAX_MESSAGE (1024 * 1024)
#define QMP_MAX_DEPTH   64

typedef struct QmpClient QmpClient;

/* event: the event name; data: its "data" member (an empty object if absent). */
typedef void (*QmpEventFunc) (const char *event, JsonObject *data, gpointer user_data);
/* The connection ended: EOF, a read error or a protocol error (reason says which). */
typedef void (*QmpClosedFunc) (const char *reason, gpointer user_data);

/* Takes ownership of fd and starts reading at once. Callbacks may be NULL. */
QmpClient  *qmp_client_new       (int fd, QmpEventFunc event_func, QmpClosedFunc closed_func,
                                  gpointer user_data);
/* Connects to a Unix socket path, retrying until timeout_ms passes. */
QmpClient  *qmp_client_connect   (const char *socket_path, guint timeout_ms,
                                  QmpEventFunc event_func, QmpClosedFunc closed_func,
                                  gpointer user_data, GError **error);
/* Waits for the greeting and sends qmp_capabilities. */
gboolean    qmp_client_negotiate (QmpClient *client, guint timeout_ms, GError **error);
/* Runs command with arguments (may be NULL; borrowed) and returns its "return"
 * member (caller frees). A QMP error reply becomes VC_ERROR_FAILED carrying
 * QEMU's class and description; no reply in time is VC_ERROR_TIMEOUT; a closed
 * connection is VC_ERROR_STOPPED; garbage is VC_ERROR_PROTOCOL. */
JsonNode   *qmp_client_execute   (QmpClient *client, const char *command, JsonObject *arguments,
                                  guint timeout_ms, GError **error);
/* Convenience: execute and discard the return value. */
gboolean    qmp_client_run       (QmpClient *client, const char *command, JsonObject *arguments,
                                  guint timeout_ms, GError **error);
gboolean    qmp_client_is_closed (QmpClient *client);
/* Stops the reader thread, closes the socket and frees the client. Never calls
 * the callbacks afterwards. Must not be called from a callback. */
void        qmp_client_free      (QmpClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (QmpClient, qmp_client_free)

/* Exposed for the unit test: checks one received line (without its newline)
 * and parses it into a JSON object; bad input is VC_ERROR_PROTOCOL. */
JsonObject *qmp_parse_message    (const char *line, gsize len, GError **error);

G_END_DECLS
