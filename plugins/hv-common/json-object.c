/* Hypervisor plugins: one JSON object per answer (see json-object.h). */
#include "config.h"

#include "json-object.h"

#include <string.h>

const char *
hv_json_object_problem (const char *text, gsize len, guint max_depth)
{
  if (memchr (text, '\0', len) != NULL)
    return "contains a NUL byte";
  guint depth = 0;
  gboolean in_string = FALSE, escaped = FALSE, closed = FALSE;
  gsize start = 0;
  while (start < len && strchr (" \t\r\n", text[start]) != NULL)
    start++;
  if (start == len || text[start] != '{')
    return "is not a JSON object";
  for (gsize i = start; i < len; i++)
    {
      char c = text[i];
      if (closed)
        {
          if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
            return "has more than one JSON value";
          continue;
        }
      if (in_string)
        {
          if (escaped)
            escaped = FALSE;
          else if (c == '\\')
            escaped = TRUE;
          else if (c == '"')
            in_string = FALSE;
          continue;
        }
      if (c == '"')
        in_string = TRUE;
      else if (c == '[' || c == '{')
        {
          if (++depth > max_depth)
            return "is nested deeper than allowed";
        }
      else if ((c == ']' || c == '}') && depth > 0 && --depth == 0)
        closed = TRUE;
    }
  return NULL;
}
