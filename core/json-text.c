/* One JSON object per text (json-text.h). */
#include "config.h"

#include "json-text.h"

#include <string.h>

static gboolean
is_space (char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

const char *
vc_json_object_text_problem (const char *text, gsize len, guint max_depth)
{
  if (memchr (text, '\0', len) != NULL)
    return "contains a NUL byte";
  gsize i = 0;
  while (i < len && is_space (text[i]))
    i++;
  if (i == len)
    return "is empty";
  if (text[i] != '{')
    return "is not a JSON object";
  guint depth = 0;
  gboolean in_string = FALSE, escaped = FALSE;
  for (; i < len; i++)
    {
      char c = text[i];
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
            return "is nested too deeply";
        }
      else if ((c == ']' || c == '}') && --depth == 0)
        break;
    }
  for (i++; i < len; i++)
    if (!is_space (text[i]))
      return "has more than one JSON value";
  return NULL;
}
