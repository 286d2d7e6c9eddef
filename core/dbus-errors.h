/* libvcrun: VcError codes as D-Bus error names, for vcrund and its clients.
 *
 * Each code has one name under org.vcrun.Runtime1.Error (NotFound,
 * InvalidState, ...; data/org.vcrun.Runtime1.xml lists them). Once
 * vc_dbus_errors_register has run, GDBus turns a remote error of one of
 * these names into a GError of VC_ERROR with its code, so a client matches
 * it with g_error_matches as embedded mode does, and a GError of VC_ERROR
 * returned from a method goes out under its name.
 */
#pragma once

#include <glib.h>
#include <vcrun/types.h>

G_BEGIN_DECLS

#define VC_DBUS_ERROR_PREFIX "org.vcrun.Runtime1.Error."

/* Registers the table with GDBus; idempotent, thread-safe. */
void        vc_dbus_errors_register (void);
/* "org.vcrun.Runtime1.Error.NotFound" for VC_ERROR_NOT_FOUND; NULL for a
 * code that is not a VcError. */
const char *vc_dbus_error_name (gint code);

G_END_DECLS
