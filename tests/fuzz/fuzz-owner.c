/* Fuzzes the owner socket's JSON protocol (core/owner-protocol.c): each
 * line of the input is taken as a request, as the owner's connection thread
 * reads it, and its members are read as handle_request does; and as a reply,
 * as vcrun's owner client reads it. */
#include "config.h"

#include <vcrun/types.h>

#include "fuzz-common.h"
#include "owner-protocol.h"

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  vc_fuzz_glib_setup ();
  return 0;
}

static void
as_request (const char *line, gsize len)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) request = vc_owner_line_parse (line, len, "request", &error);
  if (request == NULL)
    {
      g_assert (error != NULL && g_utf8_validate (error->message, -1, NULL));
      return;
    }
  const char *op = NULL, *exec_id = NULL;
  gint64 n;
  if (vc_owner_request_string (request, "op", &op, &error)
      && vc_owner_request_string (request, "exec_id", &exec_id, &error)
      && vc_owner_request_int (request, "signal", 1, 64, 15, &n, &error))
    {
      g_assert (n >= 1 && n <= 64);
      if (vc_owner_request_int (request, "rows", 0, G_MAXUINT16, 0, &n, &error))
        g_assert (n >= 0 && n <= G_MAXUINT16);
      (void) vc_owner_request_bool (request, "force");
    }
}

static void
as_reply (const char *line, gsize len)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) reply = vc_owner_line_parse (line, len, "reply", &error);
  if (reply == NULL)
    return;
  if (!vc_owner_reply_check (reply, "sb", &error))
    {
      g_assert (error != NULL && error->domain == VC_ERROR);
      g_assert (g_utf8_validate (error->message, -1, NULL));
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = vc_fuzz_text (data, size);
  /* vc_unix_read_line hands over what comes before the newline. */
  char *start = text;
  for (;;)
    {
      char *nl = memchr (start, '\n', size - (gsize) (start - text));
      gsize len = nl ? (gsize) (nl - start) : size - (gsize) (start - text);
      /* The owner reads a line as a C string: it ends at a NUL. */
      gsize clen = strnlen (start, len);
      as_request (start, clen);
      as_reply (start, clen);
      if (nl == NULL)
        break;
      start = nl + 1;
    }
  return 0;
}
