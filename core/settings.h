/* libvcrun internal: checking a plugin's `settings` group against the
 * VcSettingSpec array the plugin declares. */
#pragma once

#include <glib.h>
#include <vcrun/plugin.h>
#include "vc-config.h"

G_BEGIN_DECLS

/* Validates raw (VcRawSetting*, may be NULL) against specs (NULL accepts no
 * settings) and returns a new a{sv} with the defaults filled in: BOOL as "b",
 * INT as "x", STRING and ENUM as "s". Errors are VC_ERROR_CONFIG and start
 * with "FILE:LINE: " of the offending key (of the plugin's entry, line, for a
 * problem of the plugin itself such as a bad default). file may be NULL. */
GVariant *vc_settings_validate (const char          *plugin_name,
                                const VcSettingSpec *specs,
                                GPtrArray           *raw,
                                const char          *file,
                                int                  line,
                                GError             **error);

/* "bool", "int", "string" or "enum". */
const char *vc_setting_type_name (VcSettingType type);

G_END_DECLS
