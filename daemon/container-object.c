/* vcrund: one container on the bus (org.vcrun.Runtime1.Container). */
#include "vcrund.h"

#include <string.h>
#include <gio/gunixfdlist.h>
#include <json-glib/json-glib.h>

/* Exited exec processes remembered for WaitExec; older ones are forgotten. */
#define MAX_EXITED_EXECS 64

typedef struct {
  VcdProcess *process;
  gboolean    exited;
  int         status;
  GPtrArray  *waiters;    /* GDBusMethodInvocation* of WaitExec */
} ExecEntry;

struct VcdContainer {
  gint          ref_count;
  VcdSandbox   *sandbox;
  VcContainer  *handle;
  char         *id;
  char         *path;
  VcdBusObjectSkeleton *object;
  VcdBusContainer      *iface;
  gboolean      exported;

  /* Main context only. */
  VcdProcess   *init;          /* its stdio until Attach, then its pumps */
  gboolean      init_started;
  gboolean      init_exited;
  int           init_status;
  GPtrArray    *init_waiters;  /* GDBusMethodInvocation* of Wait */
  GHashTable   *execs;         /* exec_id -> ExecEntry* */
  GQueue        exited_execs;  /* exec_ids, oldest first */
};

/* ---- waiters ----------------------------------------------------------- */

static void
answer_waiters (GPtrArray *waiters, int status, const GError *error)
{
  for (guint i = 0; i < waiters->len; i++)
    {
      GDBusMethodInvocation *invocation = waiters->pdata[i];
      if (error)
        vcd_return_error (invocation, error);
      else
        g_dbus_method_invocation_return_value (invocation, g_variant_new ("(i)", status));
    }
  g_ptr_array_set_size (waiters, 0);
}

static void
fail_waiters (GPtrArray *waiters, VcError code, const char *message)
{
  g_autoptr(GError) error = g_error_new_literal (VC_ERROR, code, message);
  answer_waiters (waiters, -1, error);
}

static void
exec_entry_free (gpointer data)
{
  ExecEntry *entry = data;
  if (entry->waiters->len > 0)
    fail_waiters (entry->waiters, VC_ERROR_NOT_FOUND,
                  "the process is gone (it did not start, or its container was deleted)");
  g_ptr_array_unref (entry->waiters);
  vcd_process_unref (entry->process);
  g_free (entry);
}

/* ---- properties -------------------------------------------------------- */

void
vcd_container_sync (VcdContainer *container)
{
  if (!container->exported)
    return;
  VcdBusContainer *iface = container->iface;
  const char *state = vc_container_state_to_string (vc_container_get_state (container->handle));
  /* The setters notify only on change, so this is cheap to call often. */
  vcd_bus_container_set_state (iface, state);
  vcd_bus_container_set_pid (iface, vc_container_get_pid (container->handle));
  vcd_bus_container_set_exit_status (iface, vc_container_get_exit_status (container->handle));
}

/* ---- process exits ----------------------------------------------------- */

static void
on_init_exited (VcdProcess *process, int status, const GError *error, gpointer user_data)
{
  VcdContainer *container = user_data;
  if (status < 0)
    {
      /* Not waited for, e.g. the sandbox stopped; the core may still know. */
      int recorded = vc_container_get_exit_status (container->handle);
      if (recorded >= 0)
        {
          status = recorded;
          error = NULL;
        }
    }
  container->init_exited = TRUE;
  container->init_status = status;
  vcd_container_sync (container);
  if (!container->exported)
    return;
  g_debug ("container %s: init exited with %d", container->id, status);
  vcd_bus_container_emit_process_exited (container->iface, "", status);
  if (error)
    answer_waiters (container->init_waiters, -1, error);
  else if (status < 0)
    fail_waiters (container->init_waiters, VC_ERROR_STOPPED, "the process could not be waited for");
  else
    answer_waiters (container->init_waiters, status, NULL);
}

static void
on_exec_exited (VcdProcess *process, int status, const GError *error, gpointer user_data)
{
  VcdContainer *container = user_data;
  const char *exec_id = vcd_process_get_exec_id (process);
  ExecEntry *entry = container->execs ? g_hash_table_lookup (container->execs, exec_id) : NULL;
  if (entry == NULL || entry->process != process)
    return;
  entry->exited = TRUE;
  entry->status = status;
  if (container->exported)
    vcd_bus_container_emit_process_exited (container->iface, exec_id, status);
  if (error)
    answer_waiters (entry->waiters, -1, error);
  else
    answer_waiters (entry->waiters, status, NULL);

  g_queue_push_tail (&container->exited_execs, g_strdup (exec_id));
  while (g_queue_get_length (&container->exited_execs) > MAX_EXITED_EXECS)
    {
      g_autofree char *old = g_queue_pop_head (&container->exited_execs);
      g_hash_table_remove (container->execs, old);
    }
}

static void
start_init_process (VcdContainer *container)
{
  if (container->init_started || container->init == NULL)
    return;
  container->init_started = TRUE;
  vcd_process_start (container->init, on_init_exited, vcd_container_ref (container),
                     (GDestroyNotify) vcd_container_unref);
}

/* ---- calls ------------------------------------------------------------- */

typedef struct {
  GDBusMethodInvocation *invocation;
  VcdContainer *container;
  char         *exec_id;
  char         *process_json;
  int           signum;
  gboolean      flag;       /* Kill: all; Delete: force */
  guint         rows, columns;
  VcdProcess   *process;    /* Exec */
  GUnixFDList  *fd_list;    /* Exec */
} Call;

static Call *
call_new (VcdContainer *container, GDBusMethodInvocation *invocation)
{
  Call *call = g_new0 (Call, 1);
  call->invocation = invocation;
  call->container = vcd_container_ref (container);
  return call;
}

static void
call_free (gpointer data)
{
  Call *call = data;
  vcd_container_unref (call->container);
  g_free (call->exec_id);
  g_free (call->process_json);
  if (call->process)
    vcd_process_unref (call->process);
  g_clear_object (&call->fd_list);
  g_free (call);
}

static void
run_call (Call *call, VcdWorkFunc work, VcdDoneFunc done)
{
  VcdDaemon *daemon = vcd_sandbox_get_daemon (call->container->sandbox);
  vcd_worker_run (vcd_daemon_get_worker (daemon), work, done, call, call_free);
}

/* The common ending: properties up to date, then the reply. */
static void
done_empty (gpointer data, const GError *error)
{
  Call *call = data;
  vcd_container_sync (call->container);
  if (error)
    vcd_return_error (call->invocation, error);
  else
    g_dbus_method_invocation_return_value (call->invocation, NULL);
}

/* Refuses calls that need the agent of a sandbox another process owns. */
static gboolean
check_owned (VcdContainer *container, GDBusMethodInvocation *invocation)
{
  g_autoptr(GError) error = NULL;
  if (vcd_sandbox_check_owned (container->sandbox, &error))
    return TRUE;
  vcd_return_error (invocation, error);
  return FALSE;
}

static gboolean
work_start (gpointer data, GError **error)
{
  Call *call = data;
  return vc_container_start (call->container->handle, error);
}

static void
done_start (gpointer data, const GError *error)
{
  Call *call = data;
  if (error == NULL)
    start_init_process (call->container);
  done_empty (data, error);
}

static gboolean
on_handle_start (VcdBusContainer *iface, GDBusMethodInvocation *invocation, gpointer user_data)
{
  if (check_owned (user_data, invocation))
    run_call (call_new (user_data, invocation), work_start, done_start);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
work_pause (gpointer data, GError **error)
{
  Call *call = data;
  return vc_container_pause (call->container->handle, error);
}

static gboolean
on_handle_pause (VcdBusContainer *iface, GDBusMethodInvocation *invocation, gpointer user_data)
{
  if (check_owned (user_data, invocation))
    run_call (call_new (user_data, invocation), work_pause, done_empty);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
work_resume (gpointer data, GError **error)
{
  Call *call = data;
  return vc_container_resume (call->container->handle, error);
}

static gboolean
on_handle_resume (VcdBusContainer *iface, GDBusMethodInvocation *invocation, gpointer user_data)
{
  if (check_owned (user_data, invocation))
    run_call (call_new (user_data, invocation), work_resume, done_empty);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
work_kill (gpointer data, GError **error)
{
  Call *call = data;
  return vc_container_signal (call->container->handle, call->exec_id, call->signum, call->flag,
                              error);
}

static void
done_kill (gpointer data, const GError *error)
{
  Call *call = data;
  /* A container killed before it started: its init is ending, so wait for
   * it as Start would have (the core records the container stopped). */
  if (error == NULL && call->exec_id == NULL && vc_signal_default_terminates (call->signum))
    start_init_process (call->container);
  done_empty (data, error);
}

/* Kill and SignalProcess: exec_id NULL for the init process. */
static void
handle_signal (VcdContainer *container, GDBusMethodInvocation *invocation, const char *exec_id,
               gint signum, gboolean all)
{
  if (signum <= 0 || signum >= 65)
    {
      g_autofree char *message = g_strdup_printf ("signal %d is not a signal number (1..64)",
                                                  signum);
      vcd_return_error_literal (invocation, VC_ERROR_INVALID_ARGUMENT, message);
      return;
    }
  if (!check_owned (container, invocation))
    return;
  Call *call = call_new (container, invocation);
  call->exec_id = g_strdup (exec_id);
  call->signum = signum;
  call->flag = all;
  run_call (call, work_kill, done_kill);
}

static gboolean
on_handle_kill (VcdBusContainer *iface, GDBusMethodInvocation *invocation, gint signum,
                gboolean all, gpointer user_data)
{
  handle_signal (user_data, invocation, NULL, signum, all);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
on_handle_signal_process (VcdBusContainer *iface, GDBusMethodInvocation *invocation,
                          const char *exec_id, gint signum, gpointer user_data)
{
  handle_signal (user_data, invocation, exec_id[0] ? exec_id : NULL, signum, FALSE);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* Attach and SetStdio: the caller may, and the init process has stdio to
 * give (a container found stopped has none). */
static gboolean
init_stdio_available (VcdContainer *container, GDBusMethodInvocation *invocation)
{
  if (!check_owned (container, invocation))
    return FALSE;
  if (container->init == NULL)
    {
      vcd_return_error_literal (invocation, VC_ERROR_INVALID_STATE,
                                "the container's stdio is not available");
      return FALSE;
    }
  return TRUE;
}

static gboolean
on_handle_attach (VcdBusContainer *iface, GDBusMethodInvocation *invocation,
                  GUnixFDList *in_fds, gpointer user_data)
{
  VcdContainer *container = user_data;
  g_autoptr(GError) error = NULL;
  if (!init_stdio_available (container, invocation))
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  g_autoptr(GUnixFDList) fds = vcd_process_attach (container->init, &error);
  if (fds == NULL)
    vcd_return_error (invocation, error);
  else
    g_dbus_method_invocation_return_value_with_unix_fd_list (
        invocation, g_variant_new ("(hhh)", 0, 1, 2), fds);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
on_handle_set_stdio (VcdBusContainer *iface, GDBusMethodInvocation *invocation,
                     GUnixFDList *in_fds, GVariant *h_in, GVariant *h_out, GVariant *h_err,
                     gpointer user_data)
{
  VcdContainer *container = user_data;
  g_autoptr(GError) error = NULL;
  if (!init_stdio_available (container, invocation))
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  GVariant *handles[3] = { h_in, h_out, h_err };
  int fds[3] = { -1, -1, -1 };
  for (int i = 0; i < 3 && error == NULL; i++)
    {
      gint32 h = g_variant_get_handle (handles[i]);
      if (in_fds == NULL || h < 0 || h >= g_unix_fd_list_get_length (in_fds))
        g_set_error (&error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                     "SetStdio: handle %d names no passed file descriptor", h);
      else
        fds[i] = g_unix_fd_list_get (in_fds, h, &error);
    }
  if (error == NULL)
    vcd_process_use_stdio (container->init, fds, &error);
  for (int i = 0; i < 3; i++)
    if (fds[i] >= 0)
      close (fds[i]);
  if (error)
    vcd_return_error (invocation, error);
  else
    g_dbus_method_invocation_return_value (invocation, NULL);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* process.terminal of an OCI Process object; the core checks the rest. */
static gboolean
process_terminal (const char *process_json, gboolean *terminal, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) local = NULL;
  const char *problem = vc_json_object_text_problem (process_json, strlen (process_json), 64);
  if (problem != NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "process_json %s", problem);
      return FALSE;
    }
  if (!json_parser_load_from_data (parser, process_json, -1, &local))
    {
      g_autofree char *why = g_utf8_make_valid (local->message, -1);
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "process_json: %s", why);
      return FALSE;
    }
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "process_json: must be a JSON object (an OCI Process)");
      return FALSE;
    }
  JsonNode *node = json_object_get_member (json_node_get_object (root), "terminal");
  *terminal = FALSE;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "process_json: terminal: must be true or false");
      return FALSE;
    }
  *terminal = json_node_get_boolean (node);
  return TRUE;
}

static gboolean
work_exec (gpointer data, GError **error)
{
  Call *call = data;
  /* Attached before it runs: none of its output is dropped. */
  call->fd_list = vcd_process_attach (call->process, error);
  if (call->fd_list == NULL)
    return FALSE;
  if (!vc_container_exec (call->container->handle, call->exec_id, call->process_json, error))
    return FALSE;
  vcd_process_start (call->process, on_exec_exited, vcd_container_ref (call->container),
                     (GDestroyNotify) vcd_container_unref);
  return TRUE;
}

static void
done_exec (gpointer data, const GError *error)
{
  Call *call = data;
  VcdContainer *container = call->container;
  if (error)
    {
      ExecEntry *entry = g_hash_table_lookup (container->execs, call->exec_id);
      if (entry && entry->process == call->process)
        g_hash_table_remove (container->execs, call->exec_id);
      vcd_return_error (call->invocation, error);
      return;
    }
  g_dbus_method_invocation_return_value_with_unix_fd_list (
      call->invocation, g_variant_new ("(hhh)", 0, 1, 2), call->fd_list);
}

static gboolean
on_handle_exec (VcdBusContainer *iface, GDBusMethodInvocation *invocation, GUnixFDList *in_fds,
                const char *exec_id, const char *process_json, gpointer user_data)
{
  VcdContainer *container = user_data;
  g_autoptr(GError) error = NULL;
  gboolean terminal = FALSE;

  if (!check_owned (container, invocation))
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  if (!vc_id_validate (exec_id, "exec", &error)
      || !process_terminal (process_json, &terminal, &error))
    {
      vcd_return_error (invocation, error);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  if (g_strcmp0 (exec_id, container->id) == 0)
    {
      vcd_return_error_literal (invocation, VC_ERROR_INVALID_ARGUMENT,
                                "an exec ID must differ from the container's ID");
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  ExecEntry *old = g_hash_table_lookup (container->execs, exec_id);
  if (old != NULL && !old->exited)
    {
      g_autofree char *message = g_strdup_printf ("exec ID %s is in use in container %s",
                                                  exec_id, container->id);
      vcd_return_error_literal (invocation, VC_ERROR_EXISTS, message);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  g_autoptr(VcdProcess) process = vcd_process_new (container->handle, exec_id, terminal, &error);
  if (process == NULL)
    {
      vcd_return_error (invocation, error);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  /* Registered now, so that WaitExec and a second Exec of the same ID see
   * it while the agent starts it. */
  if (old != NULL)
    {
      GList *link = g_queue_find_custom (&container->exited_execs, exec_id,
                                         (GCompareFunc) g_strcmp0);
      if (link != NULL)
        {
          g_free (link->data);
          g_queue_delete_link (&container->exited_execs, link);
        }
    }
  ExecEntry *entry = g_new0 (ExecEntry, 1);
  entry->process = vcd_process_ref (process);
  entry->waiters = g_ptr_array_new ();
  entry->status = -1;
  g_hash_table_replace (container->execs, g_strdup (exec_id), entry);

  Call *call = call_new (container, invocation);
  call->exec_id = g_strdup (exec_id);
  call->process_json = g_strdup (process_json);
  call->process = g_steal_pointer (&process);
  run_call (call, work_exec, done_exec);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
work_resize (gpointer data, GError **error)
{
  Call *call = data;
  return vc_container_resize_tty (call->container->handle, call->exec_id, call->rows,
                                  call->columns, error);
}

static gboolean
on_handle_resize_tty (VcdBusContainer *iface, GDBusMethodInvocation *invocation,
                      const char *exec_id, guint rows, guint columns, gpointer user_data)
{
  if (rows == 0 || columns == 0 || rows > G_MAXUINT16 || columns > G_MAXUINT16)
    {
      vcd_return_error_literal (invocation, VC_ERROR_INVALID_ARGUMENT,
                                "rows and columns must be 1..65535");
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  if (!check_owned (user_data, invocation))
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  Call *call = call_new (user_data, invocation);
  call->exec_id = exec_id[0] ? g_strdup (exec_id) : NULL;
  call->rows = rows;
  call->columns = columns;
  run_call (call, work_resize, done_empty);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
on_handle_wait (VcdBusContainer *iface, GDBusMethodInvocation *invocation, gpointer user_data)
{
  VcdContainer *container = user_data;
  if (container->init_exited && container->init_status >= 0)
    {
      g_dbus_method_invocation_return_value (invocation,
                                             g_variant_new ("(i)", container->init_status));
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  if (vc_container_get_state (container->handle) == VC_CONTAINER_STOPPED)
    {
      int status = vc_container_get_exit_status (container->handle);
      if (status >= 0)
        g_dbus_method_invocation_return_value (invocation, g_variant_new ("(i)", status));
      else
        {
          g_autofree char *message = g_strdup_printf (
              "container %s stopped without an exit status (its sandbox stopped)", container->id);
          vcd_return_error_literal (invocation, VC_ERROR_STOPPED, message);
        }
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  if (!container->init_started && !check_owned (container, invocation))
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  /* Answered when the init process exits (or the container goes away). */
  g_ptr_array_add (container->init_waiters, invocation);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
on_handle_wait_exec (VcdBusContainer *iface, GDBusMethodInvocation *invocation,
                     const char *exec_id, gpointer user_data)
{
  VcdContainer *container = user_data;
  ExecEntry *entry = g_hash_table_lookup (container->execs, exec_id);
  if (entry == NULL)
    {
      g_autofree char *message = g_strdup_printf ("container %s has no process %s",
                                                  container->id, exec_id);
      vcd_return_error_literal (invocation, VC_ERROR_NOT_FOUND, message);
    }
  else if (entry->exited && entry->status >= 0)
    g_dbus_method_invocation_return_value (invocation, g_variant_new ("(i)", entry->status));
  else if (entry->exited)
    vcd_return_error_literal (invocation, VC_ERROR_STOPPED,
                              "the process could not be waited for");
  else
    g_ptr_array_add (entry->waiters, invocation);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
on_handle_list_processes (VcdBusContainer *iface, GDBusMethodInvocation *invocation,
                          gpointer user_data)
{
  VcdContainer *container = user_data;
  GVariantBuilder list;
  g_variant_builder_init (&list, G_VARIANT_TYPE ("a(sbsi)"));
  g_variant_builder_add (&list, "(sbsi)", container->id, TRUE,
                         !container->init_started ? "created"
                           : container->init_exited ? "exited" : "running",
                         container->init_exited ? container->init_status : -1);
  g_autoptr(GList) ids = container->execs ? g_hash_table_get_keys (container->execs) : NULL;
  ids = g_list_sort (ids, (GCompareFunc) strcmp);
  for (GList *l = ids; l; l = l->next)
    {
      ExecEntry *entry = g_hash_table_lookup (container->execs, l->data);
      g_variant_builder_add (&list, "(sbsi)", (const char *) l->data, FALSE,
                             entry->exited ? "exited" : "running",
                             entry->exited ? entry->status : -1);
    }
  g_dbus_method_invocation_return_value (invocation, g_variant_new ("(a(sbsi))", &list));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
work_delete (gpointer data, GError **error)
{
  Call *call = data;
  return vc_container_delete (call->container->handle, call->flag, error);
}

static void
done_delete (gpointer data, const GError *error)
{
  Call *call = data;
  if (error)
    {
      vcd_container_sync (call->container);
      vcd_return_error (call->invocation, error);
      return;
    }
  /* The record is gone: the sandbox's sync takes the object off the bus. */
  vcd_sandbox_sync (call->container->sandbox);
  g_dbus_method_invocation_return_value (call->invocation, NULL);
}

static gboolean
on_handle_delete (VcdBusContainer *iface, GDBusMethodInvocation *invocation, gboolean force,
                  gpointer user_data)
{
  if (!check_owned (user_data, invocation))
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  Call *call = call_new (user_data, invocation);
  call->flag = force;
  run_call (call, work_delete, done_delete);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- the object -------------------------------------------------------- */

VcdContainer *
vcd_container_export (VcdSandbox *sandbox, VcContainer *handle)
{
  VcdContainer *container = g_new0 (VcdContainer, 1);
  container->ref_count = 1;
  container->sandbox = vcd_sandbox_ref (sandbox);
  container->handle = vc_container_ref (handle);
  container->id = g_strdup (vc_container_get_id (handle));
  g_autofree char *escaped = vcd_escape_id (container->id);
  container->path = g_strdup_printf ("%s/container/%s", vcd_sandbox_get_path (sandbox), escaped);
  container->init_waiters = g_ptr_array_new ();
  container->execs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, exec_entry_free);
  g_queue_init (&container->exited_execs);
  container->init_status = -1;

  VcContainerState state = vc_container_get_state (handle);
  g_autoptr(GError) error = NULL;
  if (state != VC_CONTAINER_STOPPED)
    {
      container->init = vcd_process_new (handle, NULL, vc_container_get_terminal (handle), &error);
      if (container->init == NULL)
        g_warning ("container %s: no stdio: %s", container->id, error->message);
    }

  container->iface = vcd_bus_container_skeleton_new ();
  VcdBusContainer *iface = container->iface;
  vcd_bus_container_set_id (iface, container->id);
  vcd_bus_container_set_sandbox (iface, vcd_sandbox_get_path (sandbox));
  vcd_bus_container_set_bundle (iface, vc_container_get_bundle (handle));
  vcd_bus_container_set_terminal (iface, vc_container_get_terminal (handle));
  vcd_bus_container_set_created (iface, vc_container_get_created (handle));
  g_signal_connect (iface, "handle-start", G_CALLBACK (on_handle_start), container);
  g_signal_connect (iface, "handle-pause", G_CALLBACK (on_handle_pause), container);
  g_signal_connect (iface, "handle-resume", G_CALLBACK (on_handle_resume), container);
  g_signal_connect (iface, "handle-kill", G_CALLBACK (on_handle_kill), container);
  g_signal_connect (iface, "handle-signal-process", G_CALLBACK (on_handle_signal_process),
                    container);
  g_signal_connect (iface, "handle-attach", G_CALLBACK (on_handle_attach), container);
  g_signal_connect (iface, "handle-set-stdio", G_CALLBACK (on_handle_set_stdio), container);
  g_signal_connect (iface, "handle-exec", G_CALLBACK (on_handle_exec), container);
  g_signal_connect (iface, "handle-resize-tty", G_CALLBACK (on_handle_resize_tty), container);
  g_signal_connect (iface, "handle-wait", G_CALLBACK (on_handle_wait), container);
  g_signal_connect (iface, "handle-wait-exec", G_CALLBACK (on_handle_wait_exec), container);
  g_signal_connect (iface, "handle-list-processes", G_CALLBACK (on_handle_list_processes), container);
  g_signal_connect (iface, "handle-delete", G_CALLBACK (on_handle_delete), container);
  vcd_container_resources_connect (container, iface);
  VcSandbox *sandbox_handle = vcd_sandbox_get_handle (sandbox);
  vcd_callers_guard (vcd_daemon_get_callers (vcd_sandbox_get_daemon (sandbox)),
                     G_DBUS_INTERFACE_SKELETON (iface),
                     vc_sandbox_get_owner_uid (sandbox_handle));

  container->exported = TRUE;
  vcd_container_sync (container);
  container->object = vcd_bus_object_skeleton_new (container->path);
  vcd_bus_object_skeleton_set_container (container->object, iface);
  g_dbus_object_manager_server_export (vcd_daemon_get_objects (vcd_sandbox_get_daemon (sandbox)),
                                       G_DBUS_OBJECT_SKELETON (container->object));

  /* A container found running (vcrund restarted): pick up its process. */
  if (vcd_sandbox_check_owned (sandbox, NULL))
    vcd_container_adopt (container);
  return container;
}

void
vcd_container_adopt (VcdContainer *container)
{
  VcContainerState state = vc_container_get_state (container->handle);
  if (state == VC_CONTAINER_RUNNING || state == VC_CONTAINER_PAUSED)
    start_init_process (container);
}

VcdContainer *
vcd_container_ref (VcdContainer *container)
{
  g_atomic_int_inc (&container->ref_count);
  return container;
}

void
vcd_container_unref (VcdContainer *container)
{
  if (container == NULL || !g_atomic_int_dec_and_test (&container->ref_count))
    return;
  g_warn_if_fail (!container->exported);
  g_clear_object (&container->object);
  g_clear_object (&container->iface);
  if (container->init)
    vcd_process_unref (container->init);
  g_ptr_array_unref (container->init_waiters);
  g_clear_pointer (&container->execs, g_hash_table_unref);
  g_queue_clear_full (&container->exited_execs, g_free);
  vc_container_unref (container->handle);
  vcd_sandbox_unref (container->sandbox);
  g_free (container->id);
  g_free (container->path);
  g_free (container);
}

void
vcd_container_unexport (VcdContainer *container)
{
  if (!container->exported)
    return;
  container->exported = FALSE;
  g_dbus_object_manager_server_unexport (
      vcd_daemon_get_objects (vcd_sandbox_get_daemon (container->sandbox)), container->path);
  fail_waiters (container->init_waiters, VC_ERROR_NOT_FOUND, "the container was deleted");
  /* Frees the entries, failing their waiters. */
  g_hash_table_remove_all (container->execs);
  g_queue_clear_full (&container->exited_execs, g_free);
  g_queue_init (&container->exited_execs);
}

const char *
vcd_container_get_path (VcdContainer *container)
{
  return container->path;
}

VcContainer *
vcd_container_get_handle (VcdContainer *container)
{
  return container->handle;
}

VcdSandbox *
vcd_container_get_sandbox (VcdContainer *container)
{
  return container->sandbox;
}
