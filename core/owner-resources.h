/* libvcrun internal: the owner protocol's resource requests (owner.c
 * dispatches them here): {"op": "update", "resources": LinuxResources JSON
 * text} -> {"ok": true[, "notes": ...]}, {"op": "stats"} -> {"ok": true,
 * "data": runc's stats data}. */
#pragma once

#include <json-glib/json-glib.h>

#include "container.h"

G_BEGIN_DECLS

/* The reply to op ("update" or "stats") on container, or NULL with error. */
JsonObject *vc_owner_resources_request (VcContainer *container, const char *op,
                                        JsonObject *request, GError **error);

G_END_DECLS
