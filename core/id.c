/* libvcrun: the rule for sandbox, container and exec IDs (runtime.h). */
#include "config.h"

#include "runtime.h"

#include <string.h>

gboolean
vc_id_validate (const char *id, const char *what, GError **error)
{
  gsize len = id ? strlen (id) : 0;
  const char *problem = NULL;

  if (len == 0)
    problem = "is empty";
  else if (len > 128)
    problem = "is longer than 128 characters";
  else if (!g_ascii_isalnum (id[0]))
    problem = "must start with a letter or a digit";
  else
    for (gsize i = 1; i < len; i++)
      if (!g_ascii_isalnum (id[i]) && strchr ("_.+-", id[i]) == NULL)
        {
          problem = "may hold only letters, digits and _ . + -";
          break;
        }

  if (problem == NULL)
    return TRUE;
  /* Show the ID escaped: it may hold control characters. */
  g_autofree char *shown = id ? g_strescape (len > 140 ? "(too long)" : id, NULL) : NULL;
  g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "invalid %s ID \"%s\": %s",
               what, shown ? shown : "", problem);
  return FALSE;
}
