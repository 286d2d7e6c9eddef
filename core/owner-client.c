/* libvcrun: talking to a sandbox's owner (see owner-client.h). */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <vcrun/types.h>

#include "owner.h"
#include "owner-client.h"
#include "owner-protocol.h"
#include "unix-socket.h"

/* Longest reply line a client reads. */
#define MAX_REPLY (1024 * 1024)

struct VcOwnerClient {
  int   fd;
  char *sandbox_id;
};

gboolean
vc_owner_pid_alive (gint pid)
{
  if (pid <= 0 || (kill (pid, 0) != 0 && errno != EPERM))
    return FALSE;
  /* A killed owner whose parent never reaps it (an orphan under an init
   * that does not wait, as in some containers) stays a zombie: dead all the
   * same. */
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", pid);
  g_autofree char *stat = NULL;
  if (!g_file_get_contents (path, &stat, NULL, NULL))
    return TRUE;
  const char *end = strrchr (stat, ')');   /* comm may hold spaces and ')' */
  return !(end && end[1] == ' ' && (end[2] == 'Z' || end[2] == 'X'));
}

/* vcrund owns the sandboxes it creates and serves them over D-Bus only. */
static gboolean
pid_is_vcrund (gint pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/comm", pid);
  g_autofree char *comm = NULL;
  if (!g_file_get_contents (path, &comm, NULL, NULL))
    return FALSE;
  g_strchomp (comm);
  /* lt-vcrund: libtool's name for it in a build tree. */
  return g_str_equal (comm, "vcrund") || g_str_equal (comm, "lt-vcrund");
}

VcOwnerClient *
vc_owner_client_connect (VcSandbox *sandbox, GError **error)
{
  g_autofree char *path = vc_sandbox_get_owner_socket (sandbox);
  g_autoptr(GError) local = NULL;
  gint pid = vc_sandbox_get_owner_pid (sandbox);

  int fd = vc_unix_socket_connect (path, &local);
  if (fd < 0)
    {
      if (!vc_owner_pid_alive (pid))
        g_set_error (error, VC_ERROR, VC_ERROR_STOPPED,
                     "sandbox %s has no owner (process %d is gone); only 'vcrun delete --force %s' works now",
                     vc_sandbox_get_id (sandbox), pid, vc_sandbox_get_id (sandbox));
      else if (pid_is_vcrund (pid))
        g_set_error (error, VC_ERROR, VC_ERROR_BUSY,
                     "sandbox %s is run by vcrund (process %d): use 'vcrun --bus' for it",
                     vc_sandbox_get_id (sandbox), pid);
      else if (g_error_matches (local, VC_ERROR, VC_ERROR_STOPPED))
        g_set_error (error, VC_ERROR, VC_ERROR_STOPPED,
                     "sandbox %s: its owner (process %d) does not serve %s",
                     vc_sandbox_get_id (sandbox), pid, path);
      else
        g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "sandbox %s: %s",
                     vc_sandbox_get_id (sandbox), local->message);
      return NULL;
    }
  VcOwnerClient *client = g_new0 (VcOwnerClient, 1);
  client->fd = fd;
  client->sandbox_id = g_strdup (vc_sandbox_get_id (sandbox));
  return client;
}

void
vc_owner_client_free (VcOwnerClient *client)
{
  if (client == NULL)
    return;
  close (client->fd);
  g_free (client->sandbox_id);
  g_free (client);
}

gboolean
vc_owner_client_send (VcOwnerClient *client, JsonNode *request, const int *fds, guint n_fds,
                      GError **error)
{
  g_autofree char *text = json_to_string (request, FALSE);
  g_autofree char *line = g_strconcat (text, "\n", NULL);
  return vc_unix_send_with_fds (client->fd, line, strlen (line), fds, n_fds, error);
}

JsonObject *
vc_owner_client_receive (VcOwnerClient *client, int timeout_ms, GError **error)
{
  g_autoptr(GError) local = NULL;
  g_autofree char *line = vc_unix_read_line (client->fd, MAX_REPLY, timeout_ms, NULL, &local);
  if (line == NULL)
    {
      if (g_error_matches (local, VC_ERROR, VC_ERROR_STOPPED))
        g_set_error (error, VC_ERROR, VC_ERROR_STOPPED,
                     "the owner of sandbox %s went away before answering", client->sandbox_id);
      else
        g_set_error (error, local->domain, local->code, "sandbox %s: %s", client->sandbox_id,
                     local->message);
      return NULL;
    }
  g_autoptr(JsonObject) reply = vc_owner_line_parse (line, strlen (line), "reply", &local);
  if (reply == NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_PROTOCOL, "the owner of sandbox %s answered badly: %s",
                   client->sandbox_id, local->message);
      return NULL;
    }
  if (!vc_owner_reply_check (reply, client->sandbox_id, error))
    return NULL;
  return g_steal_pointer (&reply);
}

JsonObject *
vc_owner_call (VcSandbox *sandbox, const char *op, JsonObject *args, GError **error)
{
  g_autoptr(VcOwnerClient) client = vc_owner_client_connect (sandbox, error);
  if (client == NULL)
    return NULL;

  g_autoptr(JsonObject) request = json_object_new ();
  json_object_set_string_member (request, "op", op);
  if (args)
    {
      JsonObjectIter iter;
      const char *name;
      JsonNode *value;
      json_object_iter_init (&iter, args);
      while (json_object_iter_next (&iter, &name, &value))
        json_object_set_member (request, name, json_node_copy (value));
    }
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), request);
  if (!vc_owner_client_send (client, node, NULL, 0, error))
    return NULL;
  return vc_owner_client_receive (client, VC_OWNER_CLIENT_TIMEOUT_MS, error);
}
