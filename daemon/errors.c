/* vcrund: method errors as D-Bus errors; the names are libvcrun's table
 * (core/dbus-errors.h). */
#include "vcrund.h"

void
vcd_return_error (GDBusMethodInvocation *invocation, const GError *error)
{
  if (error->domain == VC_ERROR && vc_dbus_error_name (error->code) != NULL)
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return;
    }
  /* A GIOError or another library's error: its message still says what. */
  g_dbus_method_invocation_return_dbus_error (invocation, vc_dbus_error_name (VC_ERROR_FAILED),
                                              error->message);
}

void
vcd_return_error_literal (GDBusMethodInvocation *invocation, VcError code, const char *message)
{
  g_autoptr(GError) error = g_error_new_literal (VC_ERROR, code, message);
  vcd_return_error (invocation, error);
}
