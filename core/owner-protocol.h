/* libvcrun internal: the owner socket's wire format, one JSON object per
 * line each way (owner.h has the requests). Parsing is apart from the
 * socket code so that tests/fuzz reaches it alone. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Parses line (len bytes, no newline) as exactly one JSON object: an empty
 * line, another JSON value, a NUL byte, text after the object or nesting
 * deeper than 64 are VC_ERROR_PROTOCOL errors; what ("request", "reply")
 * names it in the message. */
JsonObject *vc_owner_line_parse (const char *line, gsize len, const char *what, GError **error);

/* Request members. Absent: string NULL, int def, bool FALSE. A member of the
 * wrong type or out of min..max is VC_ERROR_INVALID_ARGUMENT. */
gboolean vc_owner_request_string (JsonObject *request, const char *name, const char **value,
                                  GError **error);
gboolean vc_owner_request_int (JsonObject *request, const char *name, gint64 min, gint64 max,
                               gint64 def, gint64 *value, GError **error);
gboolean vc_owner_request_bool (JsonObject *request, const char *name);

/* A reply: TRUE for {"ok": true, ...}; otherwise FALSE with the error it
 * carries ({"ok": false, "code": N, "error": "..."}), sandbox_id naming the
 * sandbox when it says nothing. */
gboolean vc_owner_reply_check (JsonObject *reply, const char *sandbox_id, GError **error);

/* The owner's side: one reply line, {"ok": true}, and an error reply
 * {"ok": false, "code": VcError, "error": message}. */
void vc_owner_reply_send (int fd, JsonObject *reply);
JsonObject *vc_owner_reply_ok (void);
void vc_owner_reply_send_error (int fd, const GError *error);

G_END_DECLS
