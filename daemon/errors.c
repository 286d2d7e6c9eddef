/* vcrund: libvcrun's errors as D-Bus error names under org.vcrun.Runtime1.Error. */
#include "vcrund.h"

/* One name per VcError code, so that a GDBus client that registers the same
 * table gets the VcError code back. Keep in step with include/vcrun/types.h
 * and data/org.vcrun.Runtime1.xml. */
static const GDBusErrorEntry error_entries[] = {
  { VC_ERROR_FAILED,           VCD_ERROR_PREFIX "Failed" },
  { VC_ERROR_INVALID_ARGUMENT, VCD_ERROR_PREFIX "InvalidArgument" },
  { VC_ERROR_NOT_FOUND,        VCD_ERROR_PREFIX "NotFound" },
  { VC_ERROR_EXISTS,           VCD_ERROR_PREFIX "Exists" },
  { VC_ERROR_INVALID_STATE,    VCD_ERROR_PREFIX "InvalidState" },
  { VC_ERROR_NOT_SUPPORTED,    VCD_ERROR_PREFIX "NotSupported" },
  { VC_ERROR_TIMEOUT,          VCD_ERROR_PREFIX "Timeout" },
  { VC_ERROR_PROTOCOL,         VCD_ERROR_PREFIX "Protocol" },
  { VC_ERROR_ABI,              VCD_ERROR_PREFIX "Abi" },
  { VC_ERROR_CONFIG,           VCD_ERROR_PREFIX "Config" },
  { VC_ERROR_BUSY,             VCD_ERROR_PREFIX "Busy" },
  { VC_ERROR_ACCESS_DENIED,    VCD_ERROR_PREFIX "AccessDenied" },
  { VC_ERROR_STOPPED,          VCD_ERROR_PREFIX "Stopped" },
};

void
vcd_errors_register (void)
{
  static gsize quark = 0;
  /* The domain name is the one VC_ERROR is made from (include/vcrun/types.h). */
  g_dbus_error_register_error_domain ("vc-error-quark", &quark, error_entries,
                                      G_N_ELEMENTS (error_entries));
}

void
vcd_return_error (GDBusMethodInvocation *invocation, const GError *error)
{
  if (error->domain == VC_ERROR && error->code >= 0
      && error->code < (gint) G_N_ELEMENTS (error_entries))
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return;
    }
  /* A GIOError or another library's error: its message still says what. */
  g_dbus_method_invocation_return_dbus_error (invocation, VCD_ERROR_PREFIX "Failed",
                                              error->message);
}

void
vcd_return_error_literal (GDBusMethodInvocation *invocation, VcError code, const char *message)
{
  g_autoptr(GError) error = g_error_new_literal (VC_ERROR, code, message);
  vcd_return_error (invocation, error);
}
