/* vcrund: who is calling, and whether they may.
 *
 * Each method call is checked in GDBus's g-authorize-method handler, which
 * runs in a worker thread before the call reaches the main context, so the
 * bus daemon round trip (GetConnectionUnixUser) never blocks the main loop.
 * Uids are cached per unique name: a unique name is never reused on a bus,
 * and the entry goes when NameOwnerChanged says the name left.
 */
#include "vcrund.h"

#define CALLER_UID_KEY "vcd-caller-uid"

struct VcdCallers {
  GDBusConnection *connection;
  GMutex           lock;
  GHashTable      *uids;       /* unique name -> uid + 1 (under lock) */
  guint            name_owner_changed_id;
};

typedef struct {
  VcdCallers *callers;
  guint       owner_uid;
} Guard;

static void
on_name_owner_changed (GDBusConnection *connection, const char *sender, const char *path,
                       const char *interface, const char *signal, GVariant *parameters,
                       gpointer user_data)
{
  VcdCallers *callers = user_data;
  const char *name, *old_owner, *new_owner;
  g_variant_get (parameters, "(&s&s&s)", &name, &old_owner, &new_owner);
  if (name[0] != ':' || new_owner[0] != '\0')
    return;
  g_mutex_lock (&callers->lock);
  g_hash_table_remove (callers->uids, name);
  g_mutex_unlock (&callers->lock);
}

VcdCallers *
vcd_callers_new (GDBusConnection *connection)
{
  VcdCallers *callers = g_new0 (VcdCallers, 1);
  callers->connection = g_object_ref (connection);
  g_mutex_init (&callers->lock);
  callers->uids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  if (g_dbus_connection_get_unique_name (connection) != NULL)
    callers->name_owner_changed_id = g_dbus_connection_signal_subscribe (
        connection, "org.freedesktop.DBus", "org.freedesktop.DBus", "NameOwnerChanged",
        "/org/freedesktop/DBus", NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_name_owner_changed,
        callers, NULL);
  return callers;
}

void
vcd_callers_free (VcdCallers *callers)
{
  if (callers == NULL)
    return;
  if (callers->name_owner_changed_id)
    g_dbus_connection_signal_unsubscribe (callers->connection, callers->name_owner_changed_id);
  g_hash_table_unref (callers->uids);
  g_mutex_clear (&callers->lock);
  g_object_unref (callers->connection);
  g_free (callers);
}

/* The uid of the sender of invocation; blocks on the bus daemon on a cache
 * miss (worker threads only). */
static gboolean
lookup_uid (VcdCallers *callers, GDBusMethodInvocation *invocation, guint *uid, GError **error)
{
  const char *sender = g_dbus_method_invocation_get_sender (invocation);
  if (sender == NULL)
    {
      /* A peer-to-peer connection: the kernel's credentials of the peer. */
      GCredentials *creds = g_dbus_connection_get_peer_credentials (
          g_dbus_method_invocation_get_connection (invocation));
      uid_t peer = creds ? g_credentials_get_unix_user (creds, error) : (uid_t) -1;
      if (peer == (uid_t) -1)
        {
          if (error && *error == NULL)
            g_set_error (error, VC_ERROR, VC_ERROR_ACCESS_DENIED,
                         "the caller's credentials are unknown");
          return FALSE;
        }
      *uid = peer;
      return TRUE;
    }

  g_mutex_lock (&callers->lock);
  gpointer cached = g_hash_table_lookup (callers->uids, sender);
  g_mutex_unlock (&callers->lock);
  if (cached != NULL)
    {
      *uid = GPOINTER_TO_UINT (cached) - 1;
      return TRUE;
    }

  g_autoptr(GVariant) reply = g_dbus_connection_call_sync (
      g_dbus_method_invocation_get_connection (invocation), "org.freedesktop.DBus",
      "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetConnectionUnixUser",
      g_variant_new ("(s)", sender), G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE, 10000,
      NULL, error);
  if (reply == NULL)
    {
      g_prefix_error (error, "cannot tell who %s is: ", sender);
      return FALSE;
    }
  g_variant_get (reply, "(u)", uid);
  g_mutex_lock (&callers->lock);
  g_hash_table_replace (callers->uids, g_strdup (sender), GUINT_TO_POINTER (*uid + 1));
  g_mutex_unlock (&callers->lock);
  return TRUE;
}

static gboolean
on_authorize_method (GDBusInterfaceSkeleton *skeleton, GDBusMethodInvocation *invocation,
                     gpointer user_data)
{
  Guard *guard = user_data;
  g_autoptr(GError) error = NULL;
  guint uid;

  if (!lookup_uid (guard->callers, invocation, &uid, &error))
    {
      g_warning ("%s.%s: %s", g_dbus_method_invocation_get_interface_name (invocation),
                 g_dbus_method_invocation_get_method_name (invocation), error->message);
      /* A denial finishes the call here (GDBus dispatches nothing more). */
      vcd_return_error_literal (invocation, VC_ERROR_ACCESS_DENIED, error->message);
      return FALSE;
    }
  g_object_set_data (G_OBJECT (invocation), CALLER_UID_KEY, GUINT_TO_POINTER (uid + 1));

  if (guard->owner_uid == G_MAXUINT || uid == 0 || uid == guard->owner_uid)
    return TRUE;

  g_autofree char *message = g_strdup_printf (
      "uid %u may not call %s on %s: it belongs to uid %u", uid,
      g_dbus_method_invocation_get_method_name (invocation),
      g_dbus_method_invocation_get_object_path (invocation), guard->owner_uid);
  g_message ("denied: %s", message);
  vcd_return_error_literal (invocation, VC_ERROR_ACCESS_DENIED, message);
  return FALSE;
}

static void
guard_free (gpointer data, GClosure *closure)
{
  g_free (data);
}

void
vcd_callers_guard (VcdCallers *callers, GDBusInterfaceSkeleton *skeleton, guint owner_uid)
{
  Guard *guard = g_new0 (Guard, 1);
  guard->callers = callers;
  guard->owner_uid = owner_uid;
  g_signal_connect_data (skeleton, "g-authorize-method", G_CALLBACK (on_authorize_method),
                         guard, guard_free, 0);
}

guint
vcd_caller_uid (GDBusMethodInvocation *invocation)
{
  gpointer value = g_object_get_data (G_OBJECT (invocation), CALLER_UID_KEY);
  return value ? GPOINTER_TO_UINT (value) - 1 : G_MAXUINT;
}
