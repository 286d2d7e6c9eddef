/* libvcrun: the D-Bus error table (dbus-errors.h). */
#include "config.h"

#include <gio/gio.h>

#include "dbus-errors.h"

#define NAME(code, suffix) [code] = { code, VC_DBUS_ERROR_PREFIX suffix }

/* Indexed by code. Appending a VcError code without a name here fails the
 * assertion below. */
static const GDBusErrorEntry error_entries[] = {
  NAME (VC_ERROR_FAILED,           "Failed"),
  NAME (VC_ERROR_INVALID_ARGUMENT, "InvalidArgument"),
  NAME (VC_ERROR_NOT_FOUND,        "NotFound"),
  NAME (VC_ERROR_EXISTS,           "Exists"),
  NAME (VC_ERROR_INVALID_STATE,    "InvalidState"),
  NAME (VC_ERROR_NOT_SUPPORTED,    "NotSupported"),
  NAME (VC_ERROR_TIMEOUT,          "Timeout"),
  NAME (VC_ERROR_PROTOCOL,         "Protocol"),
  NAME (VC_ERROR_ABI,              "Abi"),
  NAME (VC_ERROR_CONFIG,           "Config"),
  NAME (VC_ERROR_BUSY,             "Busy"),
  NAME (VC_ERROR_ACCESS_DENIED,    "AccessDenied"),
  NAME (VC_ERROR_STOPPED,          "Stopped"),
};

/* The last VcError code; a switch without default makes -Wswitch (-Wall,
 * an error under --enable-werror) name any code added after it. */
static G_GNUC_UNUSED gboolean
is_last_code (VcError code)
{
  switch (code)
    {
    case VC_ERROR_FAILED: case VC_ERROR_INVALID_ARGUMENT: case VC_ERROR_NOT_FOUND:
    case VC_ERROR_EXISTS: case VC_ERROR_INVALID_STATE: case VC_ERROR_NOT_SUPPORTED:
    case VC_ERROR_TIMEOUT: case VC_ERROR_PROTOCOL: case VC_ERROR_ABI: case VC_ERROR_CONFIG:
    case VC_ERROR_BUSY: case VC_ERROR_ACCESS_DENIED:
      return FALSE;
    case VC_ERROR_STOPPED:
      return TRUE;
    }
  return FALSE;
}
G_STATIC_ASSERT (G_N_ELEMENTS (error_entries) == VC_ERROR_STOPPED + 1);

void
vc_dbus_errors_register (void)
{
  static gsize quark = 0;
  /* The domain name is the one VC_ERROR is made from (include/vcrun/types.h). */
  g_dbus_error_register_error_domain ("vc-error-quark", &quark, error_entries,
                                      G_N_ELEMENTS (error_entries));
}

const char *
vc_dbus_error_name (gint code)
{
  if (code < 0 || code >= (gint) G_N_ELEMENTS (error_entries))
    return NULL;
  return error_entries[code].dbus_error_name;
}
