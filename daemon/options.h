/* vcrund: CreateSandbox's a{sv} options, checked and turned into
 * VcSandboxOptions. A file of its own so that tests/fuzz can reach it
 * without the bus skeletons. */
#pragma once

#include <glib.h>

#include "libvcrun.h"

G_BEGIN_DECLS

/* Fills opts from options (a{sv}, from any caller: wrong types, unknown keys
 * and out-of-range numbers are INVALID_ARGUMENT errors naming the option;
 * kernel and initrd only from uid 0). The strings in opts point into options. */
gboolean vcd_sandbox_options_parse (GVariant *options, guint caller_uid, VcSandboxOptions *opts,
                                    GError **error);

G_END_DECLS
