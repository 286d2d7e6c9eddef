/* QMP client: framing, bounds, command/reply matching, events. See qmp-client.h. */
#include "config.h"

#include "qmp-client.h"
#include "../hv-common/json-object.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib-unix.h>
#include <vcrun/types.h>

struct QmpClient {
  int            fd;
  int            wake[2];      /* written by qmp_client_free to stop the reader */
  GThread       *reader;
  QmpEventFunc   event_func;
  QmpClosedFunc  closed_func;
  gpointer       user_data;

  GMutex         cmd_lock;     /* one command at a time */
  GMutex         lock;         /* guards everything below */
  GCond          cond;
  gboolean       greeted;
  gboolean       closed;
  VcError        close_code;
  char          *close_reason;
  gint64         next_id;
  gint64         pending_id;   /* 0: no command waiting */
  JsonObject    *reply;        /* the pending command's reply once read */
};

static gint64
deadline_after (guint timeout_ms)
{
  return g_get_monotonic_time () + (gint64) timeout_ms * 1000;
}

static int
ms_until (gint64 deadline)
{
  gint64 left = deadline - g_get_monotonic_time ();
  if (left <= 0)
    return 0;
  return (int) MIN ((left + 999) / 1000, G_MAXINT);
}

/* ---------------------------------------------------------------------------
 * Parsing one message. */

JsonObject *
qmp_parse_message (const char *line, gsize len, GError **error)
{
  if (len > QMP_MAX_MESSAGE)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_PROTOCOL,
                   "QMP message of %" G_GSIZE_FORMAT " bytes exceeds the limit of %d bytes",
                   len, QMP_MAX_MESSAGE);
      return NULL;
    }
  if (memchr (line, '\0', len) != NULL)
    {
      g_set_error_literal (error, VC_ERROR, VC_ERROR_PROTOCOL, "QMP message contains a NUL byte");
      return NULL;
    }
  const char *problem = hv_json_object_problem (line, len, QMP_MAX_DEPTH);
  if (problem != NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_PROTOCOL, "QMP message %s", problem);
      return NULL;
    }
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) local = NULL;
  if (!json_parser_load_from_data (parser, line, (gssize) len, &local))
    {
      /* json-glib quotes the offending byte, which may not be UTF-8. */
      g_autofree char *why = g_utf8_make_valid (local->message, -1);
      g_set_error (error, VC_ERROR, VC_ERROR_PROTOCOL, "malformed QMP message: %s", why);
      return NULL;
    }
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error_literal (error, VC_ERROR, VC_ERROR_PROTOCOL, "QMP message is not a JSON object");
      return NULL;
    }
  return json_object_ref (json_node_get_object (root));
}

/* ---------------------------------------------------------------------------
 * The reader thread. */

static void
mark_closed (QmpClient *client, VcError code, const char *reason)
{
  g_mutex_lock (&client->lock);
  gboolean first = !client->closed;
  if (first)
    {
      client->closed = TRUE;
      client->close_code = code;
      client->close_reason = g_strdup (reason);
    }
  g_cond_broadcast (&client->cond);
  g_mutex_unlock (&client->lock);
  if (first && client->closed_func != NULL)
    client->closed_func (reason, client->user_data);
}

static void
handle_message (QmpClient *client, JsonObject *msg)
{
  if (json_object_has_member (msg, "QMP"))
    {
      g_mutex_lock (&client->lock);
      client->greeted = TRUE;
      g_cond_broadcast (&client->cond);
      g_mutex_unlock (&client->lock);
      return;
    }

  if (json_object_has_member (msg, "event"))
    {
      JsonNode *name = json_object_get_member (msg, "event");
      if (!JSON_NODE_HOLDS_VALUE (name) || json_node_get_value_type (name) != G_TYPE_STRING)
        return;
      JsonNode *data_node = json_object_get_member (msg, "data");
      g_autoptr (JsonObject) data = NULL;
      if (data_node != NULL && JSON_NODE_HOLDS_OBJECT (data_node))
        data = json_object_ref (json_node_get_object (data_node));
      else
        data = json_object_new ();
      if (client->event_func != NULL)
        client->event_func (json_node_get_string (name), data, client->user_data);
      return;
    }

  if (!json_object_has_member (msg, "return") && !json_object_has_member (msg, "error"))
    {
      g_debug ("qmp: ignoring a message that is neither reply nor event");
      return;
    }

  g_mutex_lock (&client->lock);
  JsonNode *id = json_object_get_member (msg, "id");
  gboolean ours = FALSE;
  if (client->pending_id != 0)
    {
      if (id != NULL && JSON_NODE_HOLDS_VALUE (id) && json_node_get_value_type (id) == G_TYPE_INT64)
        ours = json_node_get_int (id) == client->pending_id;
      else if (id == NULL && json_object_has_member (msg, "error"))
        /* QEMU answers input it could not parse without an id. */
        ours = TRUE;
    }
  if (ours && client->reply == NULL)
    {
      client->reply = json_object_ref (msg);
      g_cond_broadcast (&client->cond);
    }
  else
    g_debug ("qmp: dropping a reply nobody waits for");
  g_mutex_unlock (&client->lock);
}

/* Splits data into lines; returns FALSE after closing the client on a
 * protocol error. */
static gboolean
consume (QmpClient *client, GString *line, const char *data, gsize len)
{
  while (len > 0)
    {
      const char *nl = memchr (data, '\n', len);
      gsize take = nl != NULL ? (gsize) (nl - data) : len;
      if (line->len + take > QMP_MAX_MESSAGE)
        {
          g_autofree char *reason = g_strdup_printf (
              "QMP message exceeds the limit of %d bytes", QMP_MAX_MESSAGE);
          mark_closed (client, VC_ERROR_PROTOCOL, reason);
          return FALSE;
        }
      g_string_append_len (line, data, (gssize) take);
      if (nl == NULL)
        return TRUE;
      data += take + 1;
      len -= take + 1;

      if (line->len > 0 && line->str[line->len - 1] == '\r')
        g_string_truncate (line, line->len - 1);
      if (line->len == 0)
        continue;
      g_autoptr (GError) error = NULL;
      g_autoptr (JsonObject) msg = qmp_parse_message (line->str, line->len, &error);
      g_string_truncate (line, 0);
      if (msg == NULL)
        {
          mark_closed (client, VC_ERROR_PROTOCOL, error->message);
          return FALSE;
        }
      handle_message (client, msg);
    }
  return TRUE;
}

static gpointer
reader_thread (gpointer data)
{
  QmpClient *client = data;
  g_autoptr (GString) line = g_string_sized_new (4096);
  char chunk[16384];

  for (;;)
    {
      struct pollfd fds[2] = {
        { .fd = client->fd, .events = POLLIN },
        { .fd = client->wake[0], .events = POLLIN },
      };
      if (poll (fds, 2, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          mark_closed (client, VC_ERROR_FAILED, g_strerror (errno));
          return NULL;
        }
      if (fds[1].revents != 0)
        return NULL;
      ssize_t n = recv (client->fd, chunk, sizeof chunk, 0);
      if (n < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      if (n < 0)
        {
          g_autofree char *reason = g_strdup_printf ("reading QMP failed: %s", g_strerror (errno));
          mark_closed (client, VC_ERROR_STOPPED, reason);
          return NULL;
        }
      if (n == 0)
        {
          mark_closed (client, VC_ERROR_STOPPED, "QEMU closed the QMP connection");
          return NULL;
        }
      if (!consume (client, line, chunk, (gsize) n))
        return NULL;
    }
}

/* ---------------------------------------------------------------------------
 * Public API. */

QmpClient *
qmp_client_new (int fd, QmpEventFunc event_func, QmpClosedFunc closed_func, gpointer user_data)
{
  QmpClient *client = g_new0 (QmpClient, 1);
  client->fd = fd;
  client->event_func = event_func;
  client->closed_func = closed_func;
  client->user_data = user_data;
  g_mutex_init (&client->cmd_lock);
  g_mutex_init (&client->lock);
  g_cond_init (&client->cond);
  g_autoptr (GError) error = NULL;
  if (!g_unix_open_pipe (client->wake, FD_CLOEXEC, &error))
    g_error ("qmp: cannot create a pipe: %s", error->message); /* fd exhaustion at setup */
  client->reader = g_thread_new ("vc-qmp-reader", reader_thread, client);
  return client;
}

QmpClient *
qmp_client_connect (const char *socket_path, guint timeout_ms, QmpEventFunc event_func,
                    QmpClosedFunc closed_func, gpointer user_data, GError **error)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  if (strlen (socket_path) >= sizeof addr.sun_path)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "QMP socket path '%s' is longer than %zu bytes", socket_path,
                   sizeof addr.sun_path - 1);
      return NULL;
    }
  strcpy (addr.sun_path, socket_path);

  gint64 deadline = deadline_after (timeout_ms);
  for (;;)
    {
      int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "socket: %s", g_strerror (errno));
          return NULL;
        }
      if (connect (fd, (struct sockaddr *) &addr, sizeof addr) == 0)
        return qmp_client_new (fd, event_func, closed_func, user_data);
      int err = errno;
      close (fd);
      if ((err != ENOENT && err != ECONNREFUSED && err != EAGAIN && err != EINTR)
          || g_get_monotonic_time () >= deadline)
        {
          g_set_error (error, VC_ERROR, err == ENOENT || err == ECONNREFUSED ? VC_ERROR_TIMEOUT : VC_ERROR_FAILED,
                       "cannot connect to QMP socket '%s': %s", socket_path, g_strerror (err));
          return NULL;
        }
      g_usleep (20 * 1000);
    }
}

static gboolean
closed_error (QmpClient *client, GError **error)
{
  /* Called with client->lock held. */
  g_set_error (error, VC_ERROR, client->close_code, "QMP connection is closed: %s",
               client->close_reason);
  return FALSE;
}

gboolean
qmp_client_negotiate (QmpClient *client, guint timeout_ms, GError **error)
{
  gint64 deadline = deadline_after (timeout_ms);
  g_mutex_lock (&client->lock);
  while (!client->greeted && !client->closed)
    if (!g_cond_wait_until (&client->cond, &client->lock, deadline))
      break;
  gboolean greeted = client->greeted;
  if (!greeted)
    {
      if (client->closed)
        closed_error (client, error);
      else
        g_set_error (error, VC_ERROR, VC_ERROR_TIMEOUT,
                     "no QMP greeting within %u ms (is another client connected?)", timeout_ms);
    }
  g_mutex_unlock (&client->lock);
  if (!greeted)
    return FALSE;
  return qmp_client_run (client, "qmp_capabilities", NULL, MAX (ms_until (deadline), 1), error);
}

static gboolean
write_all (QmpClient *client, const char *data, gsize len, gint64 deadline, GError **error)
{
  while (len > 0)
    {
      struct pollfd pfd = { .fd = client->fd, .events = POLLOUT };
      int r = poll (&pfd, 1, ms_until (deadline));
      if (r < 0 && errno == EINTR)
        continue;
      if (r == 0)
        {
          g_set_error_literal (error, VC_ERROR, VC_ERROR_TIMEOUT, "timed out writing a QMP command");
          return FALSE;
        }
      ssize_t n = send (client->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      if (n < 0)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_STOPPED, "writing a QMP command failed: %s",
                       g_strerror (errno));
          return FALSE;
        }
      data += n;
      len -= (gsize) n;
    }
  return TRUE;
}

JsonNode *
qmp_client_execute (QmpClient *client, const char *command, JsonObject *arguments,
                    guint timeout_ms, GError **error)
{
  gint64 deadline = deadline_after (timeout_ms);
  g_mutex_lock (&client->cmd_lock);

  g_mutex_lock (&client->lock);
  if (client->closed)
    {
      closed_error (client, error);
      g_mutex_unlock (&client->lock);
      g_mutex_unlock (&client->cmd_lock);
      return NULL;
    }
  gint64 id = ++client->next_id;
  client->pending_id = id;
  g_clear_pointer (&client->reply, json_object_unref);
  g_mutex_unlock (&client->lock);

  g_autoptr (JsonBuilder) builder = json_builder_new ();
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "execute");
  json_builder_add_string_value (builder, command);
  if (arguments != NULL)
    {
      JsonNode *args = json_node_new (JSON_NODE_OBJECT);
      json_node_set_object (args, arguments);
      json_builder_set_member_name (builder, "arguments");
      json_builder_add_value (builder, args);
    }
  json_builder_set_member_name (builder, "id");
  json_builder_add_int_value (builder, id);
  json_builder_end_object (builder);
  g_autoptr (JsonNode) root = json_builder_get_root (builder);
  g_autofree char *text = json_to_string (root, FALSE);
  g_autofree char *wire = g_strconcat (text, "\n", NULL);

  g_autoptr (GError) write_error = NULL;
  gboolean written = write_all (client, wire, strlen (wire), deadline, &write_error);

  g_mutex_lock (&client->lock);
  if (written)
    while (client->reply == NULL && !client->closed)
      if (!g_cond_wait_until (&client->cond, &client->lock, deadline))
        break;
  g_autoptr (JsonObject) reply = g_steal_pointer (&client->reply);
  client->pending_id = 0;
  if (reply == NULL)
    {
      if (!written)
        g_propagate_prefixed_error (error, g_steal_pointer (&write_error), "QMP '%s': ", command);
      else if (client->closed)
        {
          g_set_error (error, VC_ERROR, client->close_code, "QMP '%s': connection closed: %s",
                       command, client->close_reason);
        }
      else
        g_set_error (error, VC_ERROR, VC_ERROR_TIMEOUT, "QMP '%s' got no reply within %u ms",
                     command, timeout_ms);
    }
  g_mutex_unlock (&client->lock);
  g_mutex_unlock (&client->cmd_lock);

  if (reply == NULL)
    {
      /* A write cut short leaves half a command on the wire: nothing after it
       * can be trusted, so the connection ends here. */
      if (!written)
        mark_closed (client, VC_ERROR_PROTOCOL, "a QMP command could not be written completely");
      return NULL;
    }

  if (json_object_has_member (reply, "error"))
    {
      JsonNode *err = json_object_get_member (reply, "error");
      const char *klass = "unknown", *desc = "no description";
      if (JSON_NODE_HOLDS_OBJECT (err))
        {
          JsonObject *eo = json_node_get_object (err);
          JsonNode *c = json_object_get_member (eo, "class");
          JsonNode *d = json_object_get_member (eo, "desc");
          if (c != NULL && json_node_get_value_type (c) == G_TYPE_STRING)
            klass = json_node_get_string (c);
          if (d != NULL && json_node_get_value_type (d) == G_TYPE_STRING)
            desc = json_node_get_string (d);
        }
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "QMP '%s' failed: %s (%s)", command, desc, klass);
      return NULL;
    }
  JsonNode *ret = json_object_get_member (reply, "return");
  return ret != NULL ? json_node_copy (ret) : json_node_new (JSON_NODE_NULL);
}

gboolean
qmp_client_run (QmpClient *client, const char *command, JsonObject *arguments,
                guint timeout_ms, GError **error)
{
  g_autoptr (JsonNode) ret = qmp_client_execute (client, command, arguments, timeout_ms, error);
  return ret != NULL;
}

gboolean
qmp_client_is_closed (QmpClient *client)
{
  g_mutex_lock (&client->lock);
  gboolean closed = client->closed;
  g_mutex_unlock (&client->lock);
  return closed;
}

void
qmp_client_free (QmpClient *client)
{
  if (client == NULL)
    return;
  char byte = 1;
  while (write (client->wake[1], &byte, 1) < 0 && errno == EINTR)
    ;
  g_thread_join (client->reader);
  close (client->fd);
  close (client->wake[0]);
  close (client->wake[1]);
  g_clear_pointer (&client->reply, json_object_unref);
  g_free (client->close_reason);
  g_mutex_clear (&client->cmd_lock);
  g_mutex_clear (&client->lock);
  g_cond_clear (&client->cond);
  g_free (client);
}
