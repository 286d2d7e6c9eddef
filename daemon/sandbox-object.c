/* vcrund: one sandbox on the bus (org.vcrun.Runtime1.Sandbox). */
#include "vcrund.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>


struct VcdSandbox {
  gint          ref_count;
  VcdDaemon    *daemon;
  VcSandbox    *handle;
  char         *id;
  char         *path;
  VcdBusObjectSkeleton *object;
  VcdBusSandbox        *iface;
  gboolean      exported;
  gint          foreign_pid;   /* a live owner process other than vcrund, else 0 */
  GHashTable   *containers;    /* id -> VcdContainer* (main context) */
  gint          sync_pending;  /* atomic: a sync is queued */
};

/* ---- state changes ----------------------------------------------------- */

static gboolean
sync_in_main (gpointer data)
{
  VcdSandbox *sandbox = data;
  g_atomic_int_set (&sandbox->sync_pending, 0);
  vcd_sandbox_sync (sandbox);
  return G_SOURCE_REMOVE;
}

/* The core calls this from any thread; the bus objects change in the main
 * context, once for a burst of changes. */
static void
on_changed (VcSandbox *handle, VcContainer *container, gpointer user_data)
{
  VcdSandbox *sandbox = user_data;
  if (g_atomic_int_compare_and_exchange (&sandbox->sync_pending, 0, 1))
    g_main_context_invoke_full (NULL, G_PRIORITY_DEFAULT, sync_in_main,
                                vcd_sandbox_ref (sandbox), (GDestroyNotify) vcd_sandbox_unref);
}

void
vcd_sandbox_sync (VcdSandbox *sandbox)
{
  if (!sandbox->exported)
    return;
  VcdBusSandbox *iface = sandbox->iface;
  VcSandbox *handle = sandbox->handle;
  VcSandboxState state = vc_sandbox_get_state (handle);
  g_autofree char *reason = vc_sandbox_dup_reason (handle);

  /* The setters notify (PropertiesChanged) only on change. */
  vcd_bus_sandbox_set_state (iface, vc_sandbox_state_to_string (state));
  vcd_bus_sandbox_set_stop_reason (iface, reason ? reason : "");
  vcd_bus_sandbox_set_vcpus (iface, vc_sandbox_get_vcpus (handle));
  vcd_bus_sandbox_set_memory_mib (iface, vc_sandbox_get_memory_mib (handle));
  g_autofree char *netns = NULL;
  vcd_bus_sandbox_set_interfaces (iface, vc_sandbox_interfaces_variant (handle, &netns));
  vcd_bus_sandbox_set_network_namespace (iface, netns ? netns : "");
  if (state == VC_SANDBOX_STOPPED)
    vcd_bus_sandbox_set_vmm_pid (iface, 0);

  /* Containers: export the new ones, drop the deleted ones. */
  g_autoptr(GPtrArray) handles = vc_sandbox_list_containers (handle);
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GPtrArray) paths = g_ptr_array_new ();
  for (guint i = 0; i < handles->len; i++)
    {
      VcContainer *c = handles->pdata[i];
      const char *id = vc_container_get_id (c);
      VcdContainer *container = g_hash_table_lookup (sandbox->containers, id);
      if (container == NULL)
        {
          container = vcd_container_export (sandbox, c);
          g_hash_table_insert (sandbox->containers, g_strdup (id), container);
        }
      else
        vcd_container_sync (container);
      g_hash_table_add (seen, (gpointer) id);
      g_ptr_array_add (paths, (gpointer) vcd_container_get_path (container));
    }
  GHashTableIter iter;
  gpointer key, value;
  g_hash_table_iter_init (&iter, sandbox->containers);
  while (g_hash_table_iter_next (&iter, &key, &value))
    if (!g_hash_table_contains (seen, key))
      {
        vcd_container_unexport (value);
        g_hash_table_iter_remove (&iter);
      }
  g_ptr_array_add (paths, NULL);
  vcd_bus_sandbox_set_containers (iface, (const char *const *) paths->pdata);
}

/* ---- the VMM's pid (may wait for the sandbox's lock: a worker's job) --- */

typedef struct {
  VcdSandbox *sandbox;
  gint        pid;
} PidJob;

static gboolean
work_pid (gpointer data, GError **error)
{
  PidJob *job = data;
  if (vc_sandbox_get_state (job->sandbox->handle) == VC_SANDBOX_STOPPED)
    return TRUE;
  g_autoptr(GArray) pids = vc_sandbox_get_pids (job->sandbox->handle, error);
  if (pids == NULL)
    return FALSE;
  job->pid = pids->len > 0 ? g_array_index (pids, gint, 0) : 0;
  return TRUE;
}

static void
done_pid (gpointer data, const GError *error)
{
  PidJob *job = data;
  if (error)
    g_debug ("sandbox %s: no VMM pid: %s", job->sandbox->id, error->message);
  if (job->sandbox->exported && vc_sandbox_get_state (job->sandbox->handle) != VC_SANDBOX_STOPPED)
    vcd_bus_sandbox_set_vmm_pid (job->sandbox->iface, job->pid);
}

static void
pid_job_free (gpointer data)
{
  PidJob *job = data;
  vcd_sandbox_unref (job->sandbox);
  g_free (job);
}

static void
refresh_pid (VcdSandbox *sandbox)
{
  PidJob *job = g_new0 (PidJob, 1);
  job->sandbox = vcd_sandbox_ref (sandbox);
  vcd_worker_run (vcd_daemon_get_worker (sandbox->daemon), work_pid, done_pid, job, pid_job_free);
}

/* ---- calls ------------------------------------------------------------- */

typedef struct {
  GDBusMethodInvocation *invocation;
  VcdSandbox *sandbox;
  gboolean    force;
  char       *container_id;
  char       *bundle;
  guint       caller_uid;
  GVariant   *result;     /* a worker's reply, when it has one */
} Call;

static Call *
call_new (VcdSandbox *sandbox, GDBusMethodInvocation *invocation)
{
  Call *call = g_new0 (Call, 1);
  call->invocation = invocation;
  call->sandbox = vcd_sandbox_ref (sandbox);
  call->caller_uid = vcd_caller_uid (invocation);
  return call;
}

static void
call_free (gpointer data)
{
  Call *call = data;
  vcd_sandbox_unref (call->sandbox);
  g_free (call->container_id);
  g_free (call->bundle);
  g_clear_pointer (&call->result, g_variant_unref);
  g_free (call);
}

static void
run_call (Call *call, VcdWorkFunc work, VcdDoneFunc done)
{
  vcd_worker_run (vcd_daemon_get_worker (call->sandbox->daemon), work, done, call, call_free);
}

static void
done_empty (gpointer data, const GError *error)
{
  Call *call = data;
  vcd_sandbox_sync (call->sandbox);
  if (error)
    vcd_return_error (call->invocation, error);
  else
    g_dbus_method_invocation_return_value (call->invocation, NULL);
}

/* After a state change the VMM may have changed too (or been attached). */
static void
done_refresh_pid (gpointer data, const GError *error)
{
  Call *call = data;
  if (error == NULL)
    refresh_pid (call->sandbox);
  done_empty (data, error);
}

gboolean
vcd_sandbox_check_owned (VcdSandbox *sandbox, GError **error)
{
  if (sandbox->foreign_pid == 0)
    return TRUE;
  if (!vc_owner_pid_alive (sandbox->foreign_pid))
    {
      /* Its owner is gone: vcrund takes over from the saved state. */
      g_message ("sandbox %s: owner process %d is gone, vcrund takes it over", sandbox->id,
                 sandbox->foreign_pid);
      sandbox->foreign_pid = 0;
      vcd_bus_sandbox_set_owner_pid (sandbox->iface, (gint) getpid ());
      GHashTableIter iter;
      gpointer value;
      g_hash_table_iter_init (&iter, sandbox->containers);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        vcd_container_adopt (value);
      refresh_pid (sandbox);
      return TRUE;
    }
  g_set_error (error, VC_ERROR, VC_ERROR_BUSY,
               "sandbox %s is run by process %d (a vcrun supervisor), not by vcrund; "
               "only Stop and Delete work here, use vcrun for the rest",
               sandbox->id, sandbox->foreign_pid);
  return FALSE;
}

static gboolean
check_owned (VcdSandbox *sandbox, GDBusMethodInvocation *invocation)
{
  g_autoptr(GError) error = NULL;
  if (vcd_sandbox_check_owned (sandbox, &error))
    return TRUE;
  vcd_return_error (invocation, error);
  return FALSE;
}

#define SIMPLE_CALL(name, call_expr, done_func, needs_owner)                          \
  static gboolean                                                                     \
  work_##name (gpointer data, GError **error)                                         \
  {                                                                                   \
    Call *call = data;                                                                \
    return call_expr;                                                                 \
  }                                                                                   \
  static gboolean                                                                     \
  on_handle_##name (VcdBusSandbox *iface, GDBusMethodInvocation *invocation,          \
                    gpointer user_data)                                               \
  {                                                                                   \
    if (!(needs_owner) || check_owned (user_data, invocation))                        \
      run_call (call_new (user_data, invocation), work_##name, done_func);            \
    return G_DBUS_METHOD_INVOCATION_HANDLED;                                          \
  }

SIMPLE_CALL (start, vc_sandbox_start (call->sandbox->handle, error), done_refresh_pid, TRUE)
SIMPLE_CALL (pause, vc_sandbox_pause (call->sandbox->handle, error), done_empty, TRUE)
SIMPLE_CALL (resume, vc_sandbox_resume (call->sandbox->handle, error), done_refresh_pid, TRUE)
/* Stopping needs no agent connection: it works on any sandbox. */
SIMPLE_CALL (stop, vc_sandbox_stop (call->sandbox->handle, error), done_empty, FALSE)

static gboolean
work_delete (gpointer data, GError **error)
{
  Call *call = data;
  return vc_sandbox_delete (call->sandbox->handle, call->force, error);
}

static void
done_delete (gpointer data, const GError *error)
{
  Call *call = data;
  if (error)
    {
      done_empty (data, error);
      return;
    }
  g_message ("sandbox %s deleted", call->sandbox->id);
  vcd_sandbox_unexport (call->sandbox);
  vcd_daemon_forget_sandbox (call->sandbox->daemon, call->sandbox);
  g_dbus_method_invocation_return_value (call->invocation, NULL);
}

static gboolean
on_handle_delete (VcdBusSandbox *iface, GDBusMethodInvocation *invocation, gboolean force,
                  gpointer user_data)
{
  Call *call = call_new (user_data, invocation);
  call->force = force;
  run_call (call, work_delete, done_delete);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- ListHostPids ---- */

static gboolean
work_list_host_pids (gpointer data, GError **error)
{
  Call *call = data;
  GArray *pids = vc_sandbox_get_host_pids (call->sandbox->handle, error);
  if (pids == NULL)
    return FALSE;
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE ("ai"));
  for (guint i = 0; i < pids->len; i++)
    g_variant_builder_add (&b, "i", g_array_index (pids, gint, i));
  g_array_unref (pids);
  call->result = g_variant_ref_sink (g_variant_new ("(ai)", &b));
  return TRUE;
}

static void
done_list_host_pids (gpointer data, const GError *error)
{
  Call *call = data;
  if (error)
    vcd_return_error (call->invocation, error);
  else
    g_dbus_method_invocation_return_value (call->invocation, call->result);
}

static gboolean
on_handle_list_host_pids (VcdBusSandbox *iface, GDBusMethodInvocation *invocation,
                          gpointer user_data)
{
  /* A supervisor's sandbox: its VM connections are the supervisor's. */
  if (check_owned (user_data, invocation))
    run_call (call_new (user_data, invocation), work_list_host_pids, done_list_host_pids);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
work_create_container (gpointer data, GError **error)
{
  Call *call = data;
  /* The owner checks run on the spec that is then used, in the core. */
  g_autoptr(VcContainer) container = vc_container_create_as (call->sandbox->handle,
                                                             call->container_id, call->bundle,
                                                             call->caller_uid, error);
  return container != NULL;
}

static void
done_create_container (gpointer data, const GError *error)
{
  Call *call = data;
  vcd_sandbox_sync (call->sandbox);
  if (error)
    {
      vcd_return_error (call->invocation, error);
      return;
    }
  VcdContainer *container = g_hash_table_lookup (call->sandbox->containers, call->container_id);
  if (container == NULL)
    {
      /* Deleted by someone else before we got here. */
      g_autofree char *message = g_strdup_printf ("container %s went away as it was created",
                                                  call->container_id);
      vcd_return_error_literal (call->invocation, VC_ERROR_NOT_FOUND, message);
      return;
    }
  g_message ("container %s created in sandbox %s", call->container_id, call->sandbox->id);
  g_dbus_method_invocation_return_value (call->invocation,
                                         g_variant_new ("(o)", vcd_container_get_path (container)));
}

static gboolean
on_handle_create_container (VcdBusSandbox *iface, GDBusMethodInvocation *invocation,
                            const char *id, const char *bundle, gpointer user_data)
{
  VcdSandbox *sandbox = user_data;
  g_autoptr(GError) error = NULL;
  if (!check_owned (sandbox, invocation))
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  if (!vc_id_validate (id, "container", &error))
    {
      vcd_return_error (invocation, error);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  if (!g_path_is_absolute (bundle))
    {
      g_autofree char *message = g_strdup_printf (
          "bundle '%s' must be an absolute path (vcrund does not know the caller's directory)",
          bundle);
      vcd_return_error_literal (invocation, VC_ERROR_INVALID_ARGUMENT, message);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  if (g_hash_table_contains (sandbox->containers, id))
    {
      g_autofree char *message = g_strdup_printf ("sandbox %s already has a container %s",
                                                  sandbox->id, id);
      vcd_return_error_literal (invocation, VC_ERROR_EXISTS, message);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  Call *call = call_new (sandbox, invocation);
  call->container_id = g_strdup (id);
  call->bundle = g_strdup (bundle);
  run_call (call, work_create_container, done_create_container);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
on_handle_get_container (VcdBusSandbox *iface, GDBusMethodInvocation *invocation,
                         const char *id, gpointer user_data)
{
  VcdSandbox *sandbox = user_data;
  VcdContainer *container = g_hash_table_lookup (sandbox->containers, id);
  if (container == NULL)
    {
      g_autofree char *message = g_strdup_printf ("sandbox %s has no container %s",
                                                  sandbox->id, id);
      vcd_return_error_literal (invocation, VC_ERROR_NOT_FOUND, message);
    }
  else
    g_dbus_method_invocation_return_value (invocation,
                                           g_variant_new ("(o)", vcd_container_get_path (container)));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- the object -------------------------------------------------------- */

VcdSandbox *
vcd_sandbox_export (VcdDaemon *daemon, VcSandbox *handle)
{
  VcdSandbox *sandbox = g_new0 (VcdSandbox, 1);
  sandbox->ref_count = 1;
  sandbox->daemon = daemon;
  sandbox->handle = vc_sandbox_ref (handle);
  sandbox->id = g_strdup (vc_sandbox_get_id (handle));
  g_autofree char *escaped = vcd_escape_id (sandbox->id);
  sandbox->path = g_strdup_printf ("%s/%s", VCD_SANDBOX_PATH, escaped);
  sandbox->containers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                               (GDestroyNotify) vcd_container_unref);
  gint owner_pid = vc_sandbox_get_owner_pid (handle);
  if (owner_pid > 0 && owner_pid != (gint) getpid () && vc_owner_pid_alive (owner_pid))
    sandbox->foreign_pid = owner_pid;

  sandbox->iface = vcd_bus_sandbox_skeleton_new ();
  VcdBusSandbox *iface = sandbox->iface;
  vcd_bus_sandbox_set_id (iface, sandbox->id);
  g_autofree char *hypervisor = vc_sandbox_dup_hypervisor_name (handle);
  g_autofree char *agent = vc_sandbox_dup_agent_name (handle);
  g_autofree char *fs = vc_sandbox_dup_fs_name (handle);
  vcd_bus_sandbox_set_hypervisor (iface, hypervisor);
  vcd_bus_sandbox_set_agent (iface, agent);
  vcd_bus_sandbox_set_fs (iface, fs);
  vcd_bus_sandbox_set_created (iface, vc_sandbox_get_created (handle));
  vcd_bus_sandbox_set_owner (iface, vc_sandbox_get_owner_uid (handle));
  vcd_bus_sandbox_set_owner_pid (iface, sandbox->foreign_pid ? sandbox->foreign_pid : (gint) getpid ());
  g_signal_connect (iface, "handle-start", G_CALLBACK (on_handle_start), sandbox);
  g_signal_connect (iface, "handle-stop", G_CALLBACK (on_handle_stop), sandbox);
  g_signal_connect (iface, "handle-pause", G_CALLBACK (on_handle_pause), sandbox);
  g_signal_connect (iface, "handle-resume", G_CALLBACK (on_handle_resume), sandbox);
  g_signal_connect (iface, "handle-delete", G_CALLBACK (on_handle_delete), sandbox);
  g_signal_connect (iface, "handle-create-container", G_CALLBACK (on_handle_create_container),
                    sandbox);
  g_signal_connect (iface, "handle-get-container", G_CALLBACK (on_handle_get_container),
                    sandbox);
  g_signal_connect (iface, "handle-list-host-pids", G_CALLBACK (on_handle_list_host_pids),
                    sandbox);
  vcd_callers_guard (vcd_daemon_get_callers (daemon), G_DBUS_INTERFACE_SKELETON (iface),
                     vc_sandbox_get_owner_uid (handle));

  sandbox->object = vcd_bus_object_skeleton_new (sandbox->path);
  vcd_bus_object_skeleton_set_sandbox (sandbox->object, iface);
  sandbox->exported = TRUE;
  /* The sandbox first, then its containers (sync), so that ObjectManager
   * clients see the parent before the children. */
  static const char *const no_paths[] = { NULL };
  vcd_bus_sandbox_set_containers (iface, no_paths);
  vcd_bus_sandbox_set_state (iface, vc_sandbox_state_to_string (vc_sandbox_get_state (handle)));
  g_dbus_object_manager_server_export (vcd_daemon_get_objects (daemon),
                                       G_DBUS_OBJECT_SKELETON (sandbox->object));
  vcd_sandbox_sync (sandbox);

  vc_sandbox_set_changed_func (handle, on_changed, vcd_sandbox_ref (sandbox),
                               (GDestroyNotify) vcd_sandbox_unref);
  /* Also attaches to the VM of a sandbox found in the state dir, so that
   * its going away is noticed. */
  if (sandbox->foreign_pid == 0)
    refresh_pid (sandbox);
  return sandbox;
}

VcdSandbox *
vcd_sandbox_ref (VcdSandbox *sandbox)
{
  g_atomic_int_inc (&sandbox->ref_count);
  return sandbox;
}

void
vcd_sandbox_unref (VcdSandbox *sandbox)
{
  if (sandbox == NULL || !g_atomic_int_dec_and_test (&sandbox->ref_count))
    return;
  g_warn_if_fail (!sandbox->exported);
  g_hash_table_unref (sandbox->containers);
  g_clear_object (&sandbox->object);
  g_clear_object (&sandbox->iface);
  vc_sandbox_unref (sandbox->handle);
  g_free (sandbox->id);
  g_free (sandbox->path);
  g_free (sandbox);
}

void
vcd_sandbox_unexport (VcdSandbox *sandbox)
{
  if (!sandbox->exported)
    return;
  /* The handle holds a reference to us through the changed func. */
  vc_sandbox_set_changed_func (sandbox->handle, NULL, NULL, NULL);
  GHashTableIter iter;
  gpointer value;
  g_hash_table_iter_init (&iter, sandbox->containers);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    vcd_container_unexport (value);
  /* The containers hold references to us. */
  g_hash_table_remove_all (sandbox->containers);
  sandbox->exported = FALSE;
  g_dbus_object_manager_server_unexport (vcd_daemon_get_objects (sandbox->daemon), sandbox->path);
}

const char *
vcd_sandbox_get_id (VcdSandbox *sandbox)
{
  return sandbox->id;
}

const char *
vcd_sandbox_get_path (VcdSandbox *sandbox)
{
  return sandbox->path;
}

VcSandbox *
vcd_sandbox_get_handle (VcdSandbox *sandbox)
{
  return sandbox->handle;
}

VcdDaemon *
vcd_sandbox_get_daemon (VcdSandbox *sandbox)
{
  return sandbox->daemon;
}
