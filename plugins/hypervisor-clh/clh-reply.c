/* hypervisor-clh: every decoder of what Cloud Hypervisor answers, kept free
 * of I/O so that tests/fuzz/fuzz-clh-api.c can feed them anything: the HTTP
 * response framing of the SCM_RIGHTS path (clh-api-fds.c), the status and
 * body of any answer (both paths), and the JSON bodies the plugin reads
 * (VmmPingResponse, VmInfo's state, PciDeviceInfo). A VMM is trusted less
 * than the host: every size is bounded and every member's type is checked. */
#include "config.h"

#include "clh-plugin.h"
#include "../hv-common/json-object.h"

#include <string.h>

/* How deep an answer may nest (the device tree of VmInfo is the deepest). */
#define CLH_REPLY_MAX_DEPTH 64

/* ---------------------------------------------------------------------------
 * HTTP/1.1 response framing (only the SCM_RIGHTS path parses it by hand). */

static gboolean
all_digits (const char *s, gsize len)
{
  if (len == 0)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isdigit (s[i]))
      return FALSE;
  return TRUE;
}

/* The first CRLF (or CRLFCRLF) in data[0..len), NUL bytes included. */
static const char *
find (const char *data, gsize len, const char *needle)
{
  return memmem (data, len, needle, strlen (needle));
}

static ClhHttpParse
protocol_error (GError **error, const char *what)
{
  g_set_error (error, VC_ERROR, VC_ERROR_PROTOCOL, "Cloud Hypervisor's HTTP answer: %s", what);
  return CLH_HTTP_ERROR;
}

ClhHttpParse
clh_http_parse (const char *data, gsize len, gboolean eof, ClhHttpResponse *out, GError **error)
{
  memset (out, 0, sizeof *out);
  const char *end = find (data, MIN (len, (gsize) CLH_HTTP_HEAD_MAX), "\r\n\r\n");
  if (end == NULL)
    {
      if (len >= CLH_HTTP_HEAD_MAX)
        return protocol_error (error, "its header is larger than 8 KiB");
      if (eof)
        return protocol_error (error, len == 0 ? "the connection closed without an answer"
                                               : "the connection closed inside the header");
      return CLH_HTTP_MORE;
    }
  gsize head_len = (gsize) (end - data);
  out->body_offset = head_len + 4;

  /* "HTTP/1.x NNN[ reason]" */
  const char *line_end = find (data, head_len + 2, "\r\n");
  gsize line_len = (gsize) (line_end - data);
  if (line_len < 12 || memcmp (data, "HTTP/1.", 7) != 0 || (data[7] != '0' && data[7] != '1')
      || data[8] != ' ' || !all_digits (data + 9, 3) || (line_len > 12 && data[12] != ' '))
    return protocol_error (error, "the status line is not 'HTTP/1.x NNN reason'");
  out->status = (data[9] - '0') * 100 + (data[10] - '0') * 10 + (data[11] - '0');
  if (out->status < 100)
    return protocol_error (error, "the status is below 100");

  gboolean have_length = FALSE;
  gsize length = 0;
  const char *p = line_end + 2;
  const char *head_end = data + head_len;
  while (p < head_end)
    {
      const char *eol = find (p, (gsize) (head_end - p) + 2, "\r\n");
      gsize n = (gsize) (eol - p);
      const char *colon = memchr (p, ':', n);
      if (colon == NULL || colon == p)
        return protocol_error (error, "a header line has no name");
      gsize name_len = (gsize) (colon - p);
      const char *value = colon + 1;
      while (value < eol && (*value == ' ' || *value == '\t'))
        value++;
      gsize value_len = (gsize) (eol - value);
      while (value_len > 0 && (value[value_len - 1] == ' ' || value[value_len - 1] == '\t'))
        value_len--;
      if (name_len == 14 && g_ascii_strncasecmp (p, "Content-Length", 14) == 0)
        {
          if (have_length || !all_digits (value, value_len) || value_len > 9)
            return protocol_error (error, "Content-Length is repeated or not a number below 10^9");
          have_length = TRUE;
          length = (gsize) g_ascii_strtoull (value, NULL, 10);
        }
      else if (name_len == 17 && g_ascii_strncasecmp (p, "Transfer-Encoding", 17) == 0)
        return protocol_error (error, "Transfer-Encoding is not supported (Cloud Hypervisor sends Content-Length)");
      p = eol + 2;
    }

  if (have_length && length > CLH_REPLY_MAX)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_PROTOCOL,
                   "Cloud Hypervisor's HTTP answer: a body of %" G_GSIZE_FORMAT " bytes is larger than %d",
                   length, CLH_REPLY_MAX);
      return CLH_HTTP_ERROR;
    }
  gsize have = len - out->body_offset;
  if (!have_length)
    {
      /* 1xx, 204 and 304 have no body; else the body runs to the end. */
      if (out->status < 200 || out->status == 204 || out->status == 304)
        {
          out->body_len = 0;
          return CLH_HTTP_DONE;
        }
      if (have > CLH_REPLY_MAX)
        return protocol_error (error, "the body is larger than 1 MiB");
      if (!eof)
        return CLH_HTTP_MORE;
      out->body_len = have;
      return CLH_HTTP_DONE;
    }
  if (have < length)
    {
      if (eof)
        return protocol_error (error, "the connection closed before the whole body (Content-Length)");
      return CLH_HTTP_MORE;
    }
  out->body_len = length;
  return CLH_HTTP_DONE;
}

/* ---------------------------------------------------------------------------
 * Status and body of any answer. */

char *
clh_reply_error_text (const char *body, gsize len)
{
  if (len == 0)
    return g_strdup ("(no error text)");
  gsize shown = MIN (len, (gsize) CLH_ERROR_TEXT_MAX);
  g_autofree char *valid = g_utf8_make_valid (body, (gssize) shown);
  for (char *p = valid; *p != '\0'; p++)
    if ((guchar) *p < 0x20)
      *p = ' ';
  g_strstrip (valid);
  if (shown < len)
    return g_strdup_printf ("%s... (%" G_GSIZE_FORMAT " bytes)", valid, len);
  return g_steal_pointer (&valid);
}

gboolean
clh_reply_decode (const char *method, const char *endpoint, long status, const char *body,
                  gsize len, JsonNode **reply_out, GError **error)
{
  if (reply_out != NULL)
    *reply_out = NULL;
  if (len > CLH_REPLY_MAX)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_PROTOCOL,
                   "Cloud Hypervisor API %s %s: the answer is larger than %d bytes", method,
                   endpoint, CLH_REPLY_MAX);
      return FALSE;
    }
  if (status < 200 || status > 299)
    {
      g_autofree char *clh_text = clh_reply_error_text (body, len);
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "Cloud Hypervisor API %s %s: HTTP %ld: %s",
                   method, endpoint, status, clh_text);
      return FALSE;
    }
  if (reply_out == NULL || len == 0)
    return TRUE;
  /* Every answer the plugin reads is one object; json-glib would take
   * "8 {}" as 8 and leak the rest, and recurse as deep as it is told. */
  const char *shape = hv_json_object_problem (body, len, CLH_REPLY_MAX_DEPTH);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) local = NULL;
  if (shape != NULL || !json_parser_load_from_data (parser, body, (gssize) len, &local)
      || json_parser_get_root (parser) == NULL)
    {
      g_autofree char *shown = clh_reply_error_text (body, len);
      g_set_error (error, VC_ERROR, VC_ERROR_PROTOCOL,
                   "Cloud Hypervisor API %s %s: the answer is not JSON (%s): %s", method, endpoint,
                   shape != NULL ? shape : local != NULL ? local->message : "empty", shown);
      return FALSE;
    }
  *reply_out = json_node_copy (json_parser_get_root (parser));
  return TRUE;
}

/* ---------------------------------------------------------------------------
 * The bodies the plugin reads. */

static const char *
string_member (JsonNode *node, const char *name)
{
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return NULL;
  JsonNode *m = json_object_get_member (json_node_get_object (node), name);
  if (m == NULL || !JSON_NODE_HOLDS_VALUE (m) || json_node_get_value_type (m) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (m);
}

char *
clh_reply_ping_version (JsonNode *reply, GError **error)
{
  const char *version = string_member (reply, "version");
  if (version == NULL)
    {
      g_set_error_literal (error, VC_ERROR, VC_ERROR_PROTOCOL,
                           "Cloud Hypervisor API GET vmm.ping: the answer is no VmmPingResponse "
                           "(no string 'version')");
      return NULL;
    }
  return clh_reply_error_text (version, strlen (version));
}

char *
clh_reply_vm_state (JsonNode *reply, GError **error)
{
  const char *state = string_member (reply, "state");
  if (state == NULL)
    {
      g_set_error_literal (error, VC_ERROR, VC_ERROR_PROTOCOL,
                           "Cloud Hypervisor API GET vm.info: no state in the answer");
      return NULL;
    }
  /* VmInfo's state is one of a few words: anything else is not kept whole. */
  return clh_reply_error_text (state, MIN (strlen (state), (gsize) 32));
}

/* "SSSS:BB:DD.F" in hexadecimal, as CLH writes a PciBdf. */
static gboolean
bdf_is_valid (const char *bdf)
{
  static const char pattern[] = "xxxx:xx:xx.x";
  if (strlen (bdf) != sizeof pattern - 1)
    return FALSE;
  for (gsize i = 0; i < sizeof pattern - 1; i++)
    if (pattern[i] == 'x' ? !g_ascii_isxdigit (bdf[i]) : bdf[i] != pattern[i])
      return FALSE;
  return TRUE;
}

char *
clh_reply_pci_bdf (JsonNode *reply, const char *endpoint, GError **error)
{
  const char *bdf = string_member (reply, "bdf");
  if (bdf == NULL || !bdf_is_valid (bdf))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_PROTOCOL,
                   "Cloud Hypervisor API PUT %s: the answer is no PciDeviceInfo with a 'bdf' "
                   "like 0000:00:06.0", endpoint);
      return NULL;
    }
  return g_ascii_strdown (bdf, -1);
}
