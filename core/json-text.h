/* libvcrun: checking that a JSON text is exactly one object before
 * json-glib parses it. json-glib 1.6 takes "{} {}" or "8 []" as their first
 * value, silently dropping (and leaking) the rest; a text from a user, a
 * bundle or a D-Bus caller must not mean something else than it says. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* NULL when text (len bytes) is one JSON object, nested at most max_depth
 * deep, with only white space around it; else what is wrong ("is empty",
 * "is not a JSON object", "has more than one JSON value", "is nested too
 * deeply", "contains a NUL byte"), a static string. Whether the object
 * itself is valid JSON is json-glib's to say. */
const char *vc_json_object_text_problem (const char *text, gsize len, guint max_depth);

G_END_DECLS
