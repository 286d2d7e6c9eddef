/* libvcrun internal: what the core sees of a runtime beyond runtime.h. */
#pragma once

#include "runtime.h"
#include "registry.h"
#include "vc-config.h"

G_BEGIN_DECLS

/* vc_runtime_new from an already loaded configuration; takes ownership of
 * config, also on failure. */
VcRuntime      *vc_runtime_new_from_config (VcConfig *config, const char *state_dir,
                                            GError **error);
/* Borrowed; valid as long as the runtime. */
const VcConfig *vc_runtime_get_config   (VcRuntime *runtime);
VcRegistry     *vc_runtime_get_registry (VcRuntime *runtime);

G_END_DECLS
