/* Hypervisor plugins: a VMM's JSON answer checked for its shape before
 * json-glib reads it. Compiled into each plugin that uses it; not installed. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* NULL if text (len bytes) is one JSON object, nested at most max_depth
 * deep, with nothing but white space after it; else what is wrong ("is not
 * a JSON object", "has more than one JSON value", "is nested deeper than
 * allowed", "contains a NUL byte"). json-glib takes "8 []" as 8, leaks the
 * first value of "1 {}", and recurses as deep as it is told. */
const char *hv_json_object_problem (const char *text, gsize len, guint max_depth);

G_END_DECLS
