/* libvcrun: the owner's exec request (see owner-private.h). */
#include "config.h"

#include <string.h>

#include <vcrun/types.h>

#include "oci.h"
#include "owner-private.h"
#include "owner-protocol.h"

/* exec, first part: checks the request and starts the process. */
static VcStdioPump *
start_exec (VcOwner *owner, JsonObject *request, GArray *fds, const char **exec_id_out,
            GError **error)
{
  const char *exec_id = NULL;
  int io_fds[3] = { -1, -1, -1 };
  guint next = 0;
  static const char *const names[] = { "stdin", "stdout", "stderr" };

  if (!vc_owner_request_string (request, "exec_id", &exec_id, error))
    return NULL;
  if (exec_id == NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "request: exec_id is missing");
      return NULL;
    }
  if (!vc_id_validate (exec_id, "exec", error))
    return NULL;
  JsonNode *process = json_object_get_member (request, "process");
  if (process == NULL || !JSON_NODE_HOLDS_OBJECT (process))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "request: process must be an object");
      return NULL;
    }
  for (int i = 0; i < 3; i++)
    if (vc_owner_request_bool (request, names[i]))
      {
        if (next >= fds->len)
          {
            g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                         "request: %s announced but no file descriptor came with it", names[i]);
            return NULL;
          }
        io_fds[i] = g_array_index (fds, int, next++);
      }
  gboolean terminal = vc_owner_request_bool (json_node_get_object (process), "terminal");
  g_autofree char *process_json = json_to_string (process, FALSE);

  g_mutex_lock (&owner->lock);
  /* An exited process's ID may name a new one (vcrund does the same). */
  ExecRecord *old = g_hash_table_lookup (owner->execs, exec_id);
  gboolean taken = (old != NULL && old->running)
                   || g_str_equal (exec_id, vc_container_get_id (owner->container));
  if (!taken)
    {
      ExecRecord *record = g_new0 (ExecRecord, 1);
      record->running = TRUE;
      g_hash_table_replace (owner->execs, g_strdup (exec_id), record);
    }
  g_mutex_unlock (&owner->lock);
  if (taken)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_EXISTS, "exec ID %s is in use in container %s",
                   exec_id, vc_container_get_id (owner->container));
      return NULL;
    }
  if (!vc_oci_process_check (process_json, "exec process", error)
      || !vc_container_exec (owner->container, exec_id, process_json, error))
    {
      g_mutex_lock (&owner->lock);
      g_hash_table_remove (owner->execs, exec_id);
      g_mutex_unlock (&owner->lock);
      return NULL;
    }
  *exec_id_out = exec_id;
  return vc_owner_pump_start (owner->container, exec_id, io_fds[0], io_fds[1], io_fds[2], terminal);
}

/* exec: runs until the process has exited; two replies. */
void
vc_owner_handle_exec (VcOwner *owner, int fd, JsonObject *request, GArray *fds)
{
  g_autoptr(GError) error = NULL;
  const char *exec_id = NULL;

  VcStdioPump *io = start_exec (owner, request, fds, &exec_id, &error);
  if (io == NULL)
    {
      vc_owner_reply_send_error (fd, error);
      return;
    }
  g_autoptr(JsonObject) started = vc_owner_reply_ok ();
  json_object_set_boolean_member (started, "started", TRUE);
  vc_owner_reply_send (fd, started);

  int status = -1;
  gboolean waited = vc_container_wait (owner->container, exec_id, &status, &error);
  vc_stdio_pump_finish (io, DRAIN_TIMEOUT_MS);
  g_mutex_lock (&owner->lock);
  ExecRecord *record = g_hash_table_lookup (owner->execs, exec_id);
  if (record)
    {
      record->running = FALSE;
      record->exit_status = status;
    }
  g_mutex_unlock (&owner->lock);
  if (!waited)
    {
      vc_owner_reply_send_error (fd, error);
      return;
    }
  g_autoptr(JsonObject) done = vc_owner_reply_ok ();
  json_object_set_int_member (done, "exit_status", status);
  vc_owner_reply_send (fd, done);
}
