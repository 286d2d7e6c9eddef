/* The owner socket's wire format (owner-protocol.h). */
#include "config.h"

#include "owner-protocol.h"
#include "json-text.h"
#include "unix-socket.h"

#include <string.h>

#include <vcrun/types.h>

#define MAX_DEPTH 64

JsonObject *
vc_owner_line_parse (const char *line, gsize len, const char *what, GError **error)
{
  const char *problem = vc_json_object_text_problem (line, len, MAX_DEPTH);
  if (problem != NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_PROTOCOL, "%s %s", what, problem);
      return NULL;
    }
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) local = NULL;
  if (!json_parser_load_from_data (parser, line, (gssize) len, &local))
    {
      /* json-glib quotes the offending byte, which may not be UTF-8. */
      g_autofree char *why = g_utf8_make_valid (local->message, -1);
      g_set_error (error, VC_ERROR, VC_ERROR_PROTOCOL, "%s is not a JSON object: %s", what, why);
      return NULL;
    }
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_PROTOCOL, "%s is not a JSON object", what);
      return NULL;
    }
  return json_object_ref (json_node_get_object (root));
}

gboolean
vc_owner_request_string (JsonObject *request, const char *name, const char **value, GError **error)
{
  *value = NULL;
  JsonNode *node = json_object_get_member (request, name);
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "request: %s must be a string", name);
      return FALSE;
    }
  *value = json_node_get_string (node);
  return TRUE;
}

gboolean
vc_owner_request_int (JsonObject *request, const char *name, gint64 min, gint64 max, gint64 def,
                      gint64 *value, GError **error)
{
  JsonNode *node = json_object_get_member (request, name);
  if (node == NULL)
    {
      *value = def;
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64
      || json_node_get_int (node) < min || json_node_get_int (node) > max)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "request: %s must be an integer from %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT,
                   name, min, max);
      return FALSE;
    }
  *value = json_node_get_int (node);
  return TRUE;
}

gboolean
vc_owner_request_bool (JsonObject *request, const char *name)
{
  JsonNode *node = json_object_get_member (request, name);
  return node && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_BOOLEAN
         && json_node_get_boolean (node);
}

gboolean
vc_owner_reply_check (JsonObject *reply, const char *sandbox_id, GError **error)
{
  JsonNode *ok = json_object_get_member (reply, "ok");
  if (ok && JSON_NODE_HOLDS_VALUE (ok) && json_node_get_value_type (ok) == G_TYPE_BOOLEAN
      && json_node_get_boolean (ok))
    return TRUE;

  gint64 code = VC_ERROR_FAILED;
  const char *message = NULL;
  JsonNode *node = json_object_get_member (reply, "code");
  if (node && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_INT64)
    code = json_node_get_int (node);
  node = json_object_get_member (reply, "error");
  if (node && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
    message = json_node_get_string (node);
  if (message == NULL || !g_utf8_validate (message, -1, NULL))
    g_set_error (error, VC_ERROR, VC_ERROR_FAILED,
                 "the owner of sandbox %s reported a failure without a message", sandbox_id);
  else
    g_set_error_literal (error, VC_ERROR,
                         code >= 0 && code <= VC_ERROR_STOPPED ? (int) code : VC_ERROR_FAILED, message);
  return FALSE;
}

/* ---- the owner's side ---------------------------------------------------- */

void
vc_owner_reply_send (int fd, JsonObject *reply)
{
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), reply);
  g_autofree char *text = json_to_string (node, FALSE);
  g_autofree char *line = g_strconcat (text, "\n", NULL);
  g_autoptr(GError) error = NULL;
  if (!vc_unix_send_with_fds (fd, line, strlen (line), NULL, 0, &error))
    g_debug ("owner reply: %s", error->message);
}

JsonObject *
vc_owner_reply_ok (void)
{
  JsonObject *reply = json_object_new ();
  json_object_set_boolean_member (reply, "ok", TRUE);
  return reply;
}

void
vc_owner_reply_send_error (int fd, const GError *error)
{
  g_autoptr(JsonObject) reply = json_object_new ();
  json_object_set_boolean_member (reply, "ok", FALSE);
  json_object_set_int_member (reply, "code", error->domain == VC_ERROR ? error->code : VC_ERROR_FAILED);
  json_object_set_string_member (reply, "error", error->message);
  vc_owner_reply_send (fd, reply);
}
