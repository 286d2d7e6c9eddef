/* vcrun --bus: reaching vcrund, calling it, reading its objects' properties,
 * and saying its errors as embedded mode says them (they arrive as VC_ERROR
 * codes: core/dbus-errors.h). */
#include "config.h"

#include <vcrun/types.h>
#include "bus.h"

static const char *bus_kind = "system";  /* for messages: the bus --bus named */

void
vc_bus_target_clear (VcBusTarget *target)
{
  g_clear_object (&target->bus);
  g_clear_pointer (&target->sandbox, g_free);
  g_clear_pointer (&target->container, g_free);
}

int
vc_bus_fail (GError *error)
{
  if (g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN)
      || g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER))
    return vc_cli_fail_msg ("vcrund is not running on the %s bus, and the bus cannot start it "
                            "(start 'vcrund --%s', or run the command without --bus)",
                            bus_kind, bus_kind);
  g_dbus_error_strip_remote_error (error);
  return vc_cli_fail (error);
}

int
vc_bus_fail_exec (GError *error)
{
  g_dbus_error_strip_remote_error (error);
  return vc_cli_fail_exec (error);
}

GVariant *
vc_bus_call (GDBusConnection *bus, const char *path, const char *iface, const char *method,
             GVariant *params, const char *reply_type, GUnixFDList **out_fds, GError **error)
{
  return g_dbus_connection_call_with_unix_fd_list_sync (
      bus, VC_BUS_NAME, path, iface, method, params,
      reply_type ? G_VARIANT_TYPE (reply_type) : NULL, G_DBUS_CALL_FLAGS_NONE, VC_BUS_CALL_TIMEOUT_MS,
      NULL, out_fds, NULL, error);
}

gboolean
vc_bus_call_void (GDBusConnection *bus, const char *path, const char *iface, const char *method,
                  GVariant *params, GError **error)
{
  g_autoptr(GVariant) reply = vc_bus_call (bus, path, iface, method, params, NULL, NULL, error);
  return reply != NULL;
}

char *
vc_bus_get_string (GDBusConnection *bus, const char *path, const char *iface, const char *name)
{
  g_autoptr(GVariant) reply = vc_bus_call (bus, path, "org.freedesktop.DBus.Properties", "Get",
                                           g_variant_new ("(ss)", iface, name), "(v)", NULL, NULL);
  if (reply == NULL)
    return NULL;
  g_autoptr(GVariant) value = NULL;
  g_variant_get (reply, "(v)", &value);
  return g_variant_is_of_type (value, G_VARIANT_TYPE_STRING)
         ? g_variant_dup_string (value, NULL) : NULL;
}

/* Every property of iface at path in one round trip; NULL when unreachable. */
static GVariant *
get_all (GDBusConnection *bus, const char *path, const char *iface)
{
  g_autoptr(GVariant) reply = vc_bus_call (bus, path, "org.freedesktop.DBus.Properties", "GetAll",
                                           g_variant_new ("(s)", iface), "(a{sv})", NULL, NULL);
  return reply ? g_variant_get_child_value (reply, 0) : NULL;
}

static const char *
prop_string (GVariant *props, const char *name)
{
  const char *value = NULL;
  if (props)
    g_variant_lookup (props, name, "&s", &value);
  return value;
}

/* An i or x property; fallback when absent. */
static gint64
prop_int (GVariant *props, const char *name, gint64 fallback)
{
  g_autoptr(GVariant) value = props ? g_variant_lookup_value (props, name, NULL) : NULL;
  if (value && g_variant_is_of_type (value, G_VARIANT_TYPE_INT32))
    return g_variant_get_int32 (value);
  if (value && g_variant_is_of_type (value, G_VARIANT_TYPE_INT64))
    return g_variant_get_int64 (value);
  if (value && g_variant_is_of_type (value, G_VARIANT_TYPE_UINT32))
    return g_variant_get_uint32 (value);
  if (value && g_variant_is_of_type (value, G_VARIANT_TYPE_UINT64))
    return (gint64) MIN (g_variant_get_uint64 (value), (guint64) G_MAXINT64);
  return fallback;
}

GDBusConnection *
vc_bus_connect (VcCli *cli, GError **error)
{
  GBusType type = g_str_equal (cli->bus, "session") ? G_BUS_TYPE_SESSION : G_BUS_TYPE_SYSTEM;
  bus_kind = type == G_BUS_TYPE_SESSION ? "session" : "system";
  /* vcrund's errors arrive as VC_ERROR codes, as embedded mode's do. */
  vc_dbus_errors_register ();
  GDBusConnection *bus = g_bus_get_sync (type, NULL, error);
  if (bus == NULL)
    g_prefix_error (error, "cannot reach the %s bus: ", cli->bus);
  return bus;
}

gboolean
vc_bus_open (VcCli *cli, const char *id, VcBusTarget *t, GError **error)
{
  if ((t->bus = vc_bus_connect (cli, error)) == NULL)
    return FALSE;
  g_autoptr(GError) local = NULL;
  g_autoptr(GVariant) sb = vc_bus_call (t->bus, VC_BUS_MANAGER, VC_BUS_IFACE_M, "GetSandbox",
                                        g_variant_new ("(s)", id), "(o)", NULL, &local);
  if (sb == NULL)
    return vc_cli_container_error (id, g_steal_pointer (&local), error);
  g_variant_get (sb, "(o)", &t->sandbox);
  g_autoptr(GVariant) c = vc_bus_call (t->bus, t->sandbox, VC_BUS_IFACE_S, "GetContainer",
                                       g_variant_new ("(s)", id), "(o)", NULL, NULL);
  if (c != NULL)
    g_variant_get (c, "(o)", &t->container);
  return TRUE;
}

gboolean
vc_bus_delete (VcBusTarget *t, GError **error)
{
  return vc_bus_call_void (t->bus, t->sandbox, VC_BUS_IFACE_S, "Delete",
                           g_variant_new ("(b)", TRUE), error);
}

gboolean
vc_bus_create (VcCli *cli, const char *id, const char *bundle, VcBusTarget *t, GError **error)
{
  if ((t->bus = vc_bus_connect (cli, error)) == NULL)
    return FALSE;
  g_autoptr(GError) local = NULL;
  g_autofree char *netns = NULL;
  if (!vc_bundle_network_namespace (bundle, &netns, error))
    return FALSE;
  GVariantBuilder options;
  g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
  if (netns)
    g_variant_builder_add (&options, "{sv}", "netns", g_variant_new_string (netns));
  /* its block volumes are cold-plugged at boot, for the container created next */
  g_variant_builder_add (&options, "{sv}", "bundle", g_variant_new_string (bundle));
  g_autoptr(GVariant) sb = vc_bus_call (t->bus, VC_BUS_MANAGER, VC_BUS_IFACE_M, "CreateSandbox",
                                        g_variant_new ("(sa{sv})", id, &options), "(o)", NULL, &local);
  if (sb == NULL)
    return vc_cli_container_error (id, g_steal_pointer (&local), error);
  g_variant_get (sb, "(o)", &t->sandbox);
  g_autoptr(GVariant) c = NULL;
  if (!vc_bus_call_void (t->bus, t->sandbox, VC_BUS_IFACE_S, "Start", NULL, error)
      || (c = vc_bus_call (t->bus, t->sandbox, VC_BUS_IFACE_S, "CreateContainer",
                           g_variant_new ("(ss)", id, bundle), "(o)", NULL, error)) == NULL)
    {
      vc_bus_delete (t, NULL);
      return FALSE;
    }
  g_variant_get (c, "(o)", &t->container);
  return TRUE;
}

JsonObject *
vc_bus_container_state (VcBusTarget *t, const char *id)
{
  g_autoptr(GVariant) sb = get_all (t->bus, t->sandbox, VC_BUS_IFACE_S);
  g_autoptr(GVariant) c = t->container ? get_all (t->bus, t->container, VC_BUS_IFACE_C) : NULL;
  const char *sb_state = prop_string (sb, "State");
  const char *status = c && prop_string (c, "State") ? prop_string (c, "State") : "creating";
  if (g_strcmp0 (sb_state, "stopped") == 0)
    status = "stopped";
  else if (g_strcmp0 (sb_state, "paused") == 0)
    status = "paused";
  /* vcrund, or the vcrun supervisor of a sandbox vcrun created. */
  gint owner = (gint) prop_int (sb, "OwnerPid", 0);
  VcCliState state = {
    .id = id,
    .status = status,
    .pid = (gint) prop_int (c, "Pid", 0),
    .bundle = prop_string (c, "Bundle"),
    .created = prop_int (c ? c : sb, "Created", 0),
    .owner_pid = owner,
    .owner_alive = vc_owner_pid_alive (owner),
    .exit_status = (int) prop_int (c, "ExitStatus", -1),
    .netns = prop_string (sb, "NetworkNamespace"),
    .interfaces = sb ? g_variant_lookup_value (sb, "Interfaces", G_VARIANT_TYPE ("a(sssuas)")) : NULL,
    .vcpus = (guint) prop_int (sb, "Vcpus", 0),
    .memory_mib = (guint64) prop_int (sb, "MemoryMib", 0),
  };
  JsonObject *json = vc_cli_state_to_json (&state);
  g_clear_pointer (&state.interfaces, g_variant_unref);
  return json;
}
