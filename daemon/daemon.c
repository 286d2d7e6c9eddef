/* vcrund: the manager object (org.vcrun.Runtime1.Manager) and the table of
 * exported sandboxes. */
#include "config.h"

#include "vcrund.h"
#include "options.h"

#include <string.h>

struct VcdDaemon {
  VcRuntime                *runtime;
  GDBusConnection          *connection;
  GDBusObjectManagerServer *objects;
  VcdBusManager            *manager;
  VcdCallers               *callers;
  VcdWorker                *worker;
  GHashTable               *sandboxes;  /* id -> VcdSandbox* (main context) */
  GHashTable               *creating;   /* ids being created */
};

char *
vcd_escape_id (const char *id)
{
  GString *s = g_string_new (NULL);
  for (const char *p = id; *p; p++)
    {
      if (g_ascii_isalnum (*p))
        g_string_append_c (s, *p);
      else
        g_string_append_printf (s, "_%02x", (guchar) *p);
    }
  return g_string_free (s, FALSE);
}

/* ---- the sandbox table ------------------------------------------------- */

static VcdSandbox *
export_sandbox (VcdDaemon *daemon, VcSandbox *handle)
{
  VcdSandbox *sandbox = vcd_sandbox_export (daemon, handle);
  g_hash_table_replace (daemon->sandboxes, g_strdup (vcd_sandbox_get_id (sandbox)), sandbox);
  return sandbox;
}

void
vcd_daemon_forget_sandbox (VcdDaemon *daemon, VcdSandbox *sandbox)
{
  VcdSandbox *known = g_hash_table_lookup (daemon->sandboxes, vcd_sandbox_get_id (sandbox));
  if (known == sandbox)
    g_hash_table_remove (daemon->sandboxes, vcd_sandbox_get_id (sandbox));
}

/* Brings the table in line with the state dir: sandboxes other processes
 * (vcrun, an earlier vcrund) made appear, the ones they deleted go. */
static void
rescan (VcdDaemon *daemon)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) ids = vc_sandbox_list (daemon->runtime, &error);
  if (ids == NULL)
    {
      g_warning ("cannot list %s: %s", vc_runtime_get_state_dir (daemon->runtime),
                 error->message);
      return;
    }
  g_autoptr(GHashTable) present = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < ids->len; i++)
    {
      const char *id = ids->pdata[i];
      g_hash_table_add (present, (gpointer) id);
      if (g_hash_table_contains (daemon->sandboxes, id)
          || g_hash_table_contains (daemon->creating, id))
        continue;
      g_autoptr(GError) local = NULL;
      g_autoptr(VcSandbox) handle = vc_sandbox_load (daemon->runtime, id, &local);
      if (handle == NULL)
        {
          g_warning ("sandbox %s: %s", id, local->message);
          continue;
        }
      VcdSandbox *sandbox = export_sandbox (daemon, handle);
      g_message ("sandbox %s found in the state dir (%s), exported at %s", id,
                 vc_sandbox_state_to_string (vc_sandbox_get_state (handle)),
                 vcd_sandbox_get_path (sandbox));
    }

  GHashTableIter iter;
  gpointer key, value;
  g_hash_table_iter_init (&iter, daemon->sandboxes);
  while (g_hash_table_iter_next (&iter, &key, &value))
    if (!g_hash_table_contains (present, key))
      {
        g_message ("sandbox %s left the state dir", (const char *) key);
        vcd_sandbox_unexport (value);
        g_hash_table_iter_remove (&iter);
      }
}

/* ---- the manager's methods ----------------------------------------------- */

typedef struct {
  GDBusMethodInvocation *invocation;
  VcdDaemon        *daemon;
  char             *id;
  GVariant         *options;   /* holds the strings opts points to */
  VcSandboxOptions  opts;
  VcSandbox        *handle;
} CreateCall;

static void
create_call_free (gpointer data)
{
  CreateCall *call = data;
  g_free (call->id);
  g_variant_unref (call->options);
  if (call->handle)
    vc_sandbox_unref (call->handle);
  g_free (call);
}

static gboolean
work_create (gpointer data, GError **error)
{
  CreateCall *call = data;
  call->handle = vc_sandbox_create (call->daemon->runtime, call->id, &call->opts, error);
  return call->handle != NULL;
}

static void
done_create (gpointer data, const GError *error)
{
  CreateCall *call = data;
  VcdDaemon *daemon = call->daemon;
  g_hash_table_remove (daemon->creating, call->id);
  if (error)
    {
      g_message ("sandbox %s: creation failed: %s", call->id, error->message);
      vcd_return_error (call->invocation, error);
      return;
    }
  VcdSandbox *sandbox = export_sandbox (daemon, call->handle);
  g_message ("sandbox %s created for uid %u at %s", call->id,
             vc_sandbox_get_owner_uid (call->handle), vcd_sandbox_get_path (sandbox));
  g_dbus_method_invocation_return_value (call->invocation,
                                         g_variant_new ("(o)", vcd_sandbox_get_path (sandbox)));
}

static gboolean
on_handle_create_sandbox (VcdBusManager *manager, GDBusMethodInvocation *invocation,
                          const char *id, GVariant *options, gpointer user_data)
{
  VcdDaemon *daemon = user_data;
  g_autoptr(GError) error = NULL;
  guint uid = vcd_caller_uid (invocation);

  CreateCall *call = g_new0 (CreateCall, 1);
  call->invocation = invocation;
  call->daemon = daemon;
  call->id = g_strdup (id);
  call->options = g_variant_ref (options);
  call->opts.owner_uid = uid;

  if (uid == G_MAXUINT)
    g_set_error (&error, VC_ERROR, VC_ERROR_ACCESS_DENIED, "the caller's uid is unknown");
  else if (vc_id_validate (id, "sandbox", &error)
           && vcd_sandbox_options_parse (options, uid, &call->opts, &error))
    {
      if (g_hash_table_contains (daemon->sandboxes, id)
          || g_hash_table_contains (daemon->creating, id))
        g_set_error (&error, VC_ERROR, VC_ERROR_EXISTS, "sandbox %s exists already", id);
    }
  if (error)
    {
      vcd_return_error (invocation, error);
      create_call_free (call);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  g_message ("sandbox %s: creating for uid %u", id, uid);
  g_hash_table_add (daemon->creating, g_strdup (id));
  vcd_worker_run (daemon->worker, work_create, done_create, call, create_call_free);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gint
compare_ids (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static gboolean
on_handle_list_sandboxes (VcdBusManager *manager, GDBusMethodInvocation *invocation,
                          gpointer user_data)
{
  VcdDaemon *daemon = user_data;
  rescan (daemon);
  g_autoptr(GPtrArray) ids = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key;
  g_hash_table_iter_init (&iter, daemon->sandboxes);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (ids, key);
  g_ptr_array_sort (ids, compare_ids);
  g_autoptr(GPtrArray) paths = g_ptr_array_new ();
  for (guint i = 0; i < ids->len; i++)
    g_ptr_array_add (paths, (gpointer) vcd_sandbox_get_path (
                               g_hash_table_lookup (daemon->sandboxes, ids->pdata[i])));
  g_ptr_array_add (paths, NULL);
  vcd_bus_manager_complete_list_sandboxes (manager, invocation,
                                           (const char *const *) paths->pdata);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
on_handle_get_sandbox (VcdBusManager *manager, GDBusMethodInvocation *invocation,
                       const char *id, gpointer user_data)
{
  VcdDaemon *daemon = user_data;
  VcdSandbox *sandbox = g_hash_table_lookup (daemon->sandboxes, id);
  if (sandbox == NULL && !g_hash_table_contains (daemon->creating, id))
    {
      rescan (daemon);
      sandbox = g_hash_table_lookup (daemon->sandboxes, id);
    }
  if (sandbox == NULL)
    {
      g_autofree char *message = g_strdup_printf ("no sandbox %s", id);
      vcd_return_error_literal (invocation, VC_ERROR_NOT_FOUND, message);
    }
  else
    vcd_bus_manager_complete_get_sandbox (manager, invocation, vcd_sandbox_get_path (sandbox));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static GVariant *
plugins_variant (VcRuntime *runtime)
{
  static const struct { VcPluginKind kind; const char *name; } kinds[] = {
    { VC_PLUGIN_KIND_HYPERVISOR, "hypervisor" },
    { VC_PLUGIN_KIND_AGENT,      "agent" },
    { VC_PLUGIN_KIND_FS,         "fs" },
    { VC_PLUGIN_KIND_DEVICE,     "device" },
  };
  GVariantBuilder builder;
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(ssas)"));
  g_autoptr(GPtrArray) plugins = vc_runtime_list_plugins (runtime);
  for (guint i = 0; i < plugins->len; i++)
    {
      const VcPluginInfo *plugin = plugins->pdata[i];
      GVariantBuilder names;
      g_variant_builder_init (&names, G_VARIANT_TYPE ("as"));
      for (guint k = 0; k < G_N_ELEMENTS (kinds); k++)
        if (plugin->descriptor->kinds & kinds[k].kind)
          g_variant_builder_add (&names, "s", kinds[k].name);
      g_variant_builder_add (&builder, "(ssas)", plugin->name,
                             plugin->descriptor->version ? plugin->descriptor->version : "", &names);
    }
  return g_variant_builder_end (&builder);
}

/* ---- life ---------------------------------------------------------------- */

VcdDaemon *
vcd_daemon_new (VcRuntime *runtime, GDBusConnection *connection, GError **error)
{
  vc_dbus_errors_register ();

  VcdDaemon *daemon = g_new0 (VcdDaemon, 1);
  daemon->runtime = vc_runtime_ref (runtime);
  daemon->connection = g_object_ref (connection);
  daemon->callers = vcd_callers_new (connection);
  daemon->worker = vcd_worker_new ();
  daemon->sandboxes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                             (GDestroyNotify) vcd_sandbox_unref);
  daemon->creating = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  daemon->objects = g_dbus_object_manager_server_new (VCD_MANAGER_PATH);

  daemon->manager = vcd_bus_manager_skeleton_new ();
  vcd_bus_manager_set_version (daemon->manager, PACKAGE_VERSION);
  vcd_bus_manager_set_state_dir (daemon->manager, vc_runtime_get_state_dir (runtime));
  vcd_bus_manager_set_plugins (daemon->manager, plugins_variant (runtime));
  g_signal_connect (daemon->manager, "handle-create-sandbox",
                    G_CALLBACK (on_handle_create_sandbox), daemon);
  g_signal_connect (daemon->manager, "handle-list-sandboxes",
                    G_CALLBACK (on_handle_list_sandboxes), daemon);
  g_signal_connect (daemon->manager, "handle-get-sandbox",
                    G_CALLBACK (on_handle_get_sandbox), daemon);
  vcd_templates_connect (daemon, daemon->manager);
  /* Anyone the bus policy lets in may create sandboxes (they own them). */
  vcd_callers_guard (daemon->callers, G_DBUS_INTERFACE_SKELETON (daemon->manager), G_MAXUINT);

  /* The ObjectManager and the Manager share /org/vcrun/Runtime1; the
   * sandboxes and containers are the managed objects below it. */
  g_dbus_object_manager_server_set_connection (daemon->objects, connection);
  if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (daemon->manager),
                                         connection, VCD_MANAGER_PATH, error))
    {
      g_prefix_error (error, "cannot export %s: ", VCD_MANAGER_PATH);
      vcd_daemon_free (daemon);
      return NULL;
    }

  /* Everything a previous vcrund (or vcrun) left running. */
  rescan (daemon);
  return daemon;
}

void
vcd_daemon_free (VcdDaemon *daemon)
{
  if (daemon == NULL)
    return;
  if (g_dbus_interface_skeleton_has_connection (G_DBUS_INTERFACE_SKELETON (daemon->manager),
                                                daemon->connection))
    g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (daemon->manager));
  GHashTableIter iter;
  gpointer value;
  g_hash_table_iter_init (&iter, daemon->sandboxes);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    vcd_sandbox_unexport (value);
  /* Lets operations in progress finish (a boot completes and is saved). */
  vcd_worker_free (daemon->worker);
  g_hash_table_unref (daemon->sandboxes);
  g_hash_table_unref (daemon->creating);
  g_dbus_object_manager_server_set_connection (daemon->objects, NULL);
  g_object_unref (daemon->objects);
  g_object_unref (daemon->manager);
  vcd_callers_free (daemon->callers);
  g_object_unref (daemon->connection);
  vc_runtime_unref (daemon->runtime);
  g_free (daemon);
}

VcRuntime *
vcd_daemon_get_runtime (VcdDaemon *daemon)
{
  return daemon->runtime;
}

GDBusConnection *
vcd_daemon_get_connection (VcdDaemon *daemon)
{
  return daemon->connection;
}

GDBusObjectManagerServer *
vcd_daemon_get_objects (VcdDaemon *daemon)
{
  return daemon->objects;
}

VcdCallers *
vcd_daemon_get_callers (VcdDaemon *daemon)
{
  return daemon->callers;
}

VcdWorker *
vcd_daemon_get_worker (VcdDaemon *daemon)
{
  return daemon->worker;
}
