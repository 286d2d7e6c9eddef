/* libvcrun's D-Bus error table: every VcError code has a distinct name under
 * org.vcrun.Runtime1.Error, and after registration a remote error of that
 * name comes back as the same VcError, which is what lets vcrun --bus match
 * errors with g_error_matches as embedded mode does. */
#include <gio/gio.h>

#include "dbus-errors.h"

static void
test_every_code_round_trips (void)
{
  vc_dbus_errors_register ();
  vc_dbus_errors_register ();   /* idempotent */
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  for (gint code = VC_ERROR_FAILED; code <= VC_ERROR_STOPPED; code++)
    {
      const char *name = vc_dbus_error_name (code);
      g_assert_nonnull (name);
      g_assert_true (g_str_has_prefix (name, VC_DBUS_ERROR_PREFIX));
      g_assert_true (g_dbus_is_error_name (name));
      g_assert_false (g_hash_table_contains (seen, name));
      g_hash_table_add (seen, (gpointer) name);

      /* What a client sees of a method error vcrund returned. */
      g_autoptr(GError) sent = g_error_new (VC_ERROR, code, "code %d", code);
      g_autofree char *wire_name = g_dbus_error_encode_gerror (sent);
      g_assert_cmpstr (wire_name, ==, name);
      g_autoptr(GError) received = g_dbus_error_new_for_dbus_error (wire_name, "code ...");
      g_assert_true (g_error_matches (received, VC_ERROR, code));
    }
  g_assert_null (vc_dbus_error_name (-1));
  g_assert_null (vc_dbus_error_name (VC_ERROR_STOPPED + 1));
  g_assert_cmpstr (vc_dbus_error_name (VC_ERROR_NOT_FOUND), ==,
                   "org.vcrun.Runtime1.Error.NotFound");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dbus-errors/every-code-round-trips", test_every_code_round_trips);
  return g_test_run ();
}
