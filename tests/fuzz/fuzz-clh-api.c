/* Fuzzes every decoder hypervisor-clh runs on what Cloud Hypervisor answers
 * (plugins/hypervisor-clh/clh-reply.c): the HTTP framing of the SCM_RIGHTS
 * path (clh_http_parse, fed as recv() delivers: prefixes growing by 16
 * times byte 0, or 16 KiB for 0, then the end of the stream), the status
 * and body check of both paths (clh_reply_decode, the libcurl path's too), CLH's error
 * text as kept in a GError, and the JSON bodies read from vmm.ping
 * (VmmPingResponse), vm.info (VmInfo's state) and vm.add-disk / vm.add-net
 * (PciDeviceInfo). Byte 1 picks the status the body-only decoding sees. */
#include "config.h"

#include "clh-plugin.h"

#include "fuzz-common.h"

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  vc_fuzz_glib_setup ();
  return 0;
}

static void
assert_printable (const char *text, gsize max)
{
  g_assert (text != NULL && g_utf8_validate (text, -1, NULL));
  g_assert (strlen (text) <= max);
  for (const char *p = text; *p != '\0'; p++)
    g_assert ((guchar) *p >= 0x20);
}

/* What the plugin reads out of a decoded answer. */
static void
read_bodies (JsonNode *reply)
{
  g_autoptr (GError) e1 = NULL, e2 = NULL, e3 = NULL;
  g_autofree char *version = clh_reply_ping_version (reply, &e1);
  g_assert ((version == NULL) == (e1 != NULL));
  if (version != NULL)
    assert_printable (version, 4 * CLH_ERROR_TEXT_MAX + 64);
  g_autofree char *state = clh_reply_vm_state (reply, &e2);
  g_assert ((state == NULL) == (e2 != NULL));
  if (state != NULL)
    assert_printable (state, 4 * 32);
  g_autofree char *bdf = clh_reply_pci_bdf (reply, "vm.add-net", &e3);
  g_assert ((bdf == NULL) == (e3 != NULL));
  if (bdf != NULL)
    g_assert (strlen (bdf) == 12 && bdf[4] == ':' && bdf[7] == ':' && bdf[10] == '.');
}

static void
decode (long status, const char *body, gsize len)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) reply = NULL;
  gboolean ok = clh_reply_decode ("PUT", "vm.add-net", status, body, len, &reply, &error);
  g_assert (ok == (error == NULL));
  if (!ok)
    {
      g_assert (reply == NULL);
      /* CLH's words are cut: the message stays bounded whatever it sent. */
      g_assert (strlen (error->message) < 8 * CLH_ERROR_TEXT_MAX + 256);
      return;
    }
  g_assert (status >= 200 && status <= 299);
  read_bodies (reply);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size < 2)
    return 0;
  gsize chunk = data[0] == 0 ? 16384 : (gsize) data[0] * 16;
  long status = 100 + data[1] * 2;
  data += 2;
  size -= 2;
  const char *text = (const char *) data;

  /* The SCM_RIGHTS path: framing as the bytes arrive, then the answer. */
  ClhHttpResponse response;
  ClhHttpParse parsed = CLH_HTTP_MORE;
  gsize have = 0;
  while (parsed == CLH_HTTP_MORE)
    {
      gboolean eof = have == size;
      g_autoptr (GError) error = NULL;
      parsed = clh_http_parse (text, have, eof, &response, &error);
      g_assert ((parsed == CLH_HTTP_ERROR) == (error != NULL));
      g_assert (!(eof && parsed == CLH_HTTP_MORE));
      have = MIN (size, have + chunk);
    }
  if (parsed == CLH_HTTP_DONE)
    {
      g_assert (response.status >= 100 && response.status <= 999);
      g_assert (response.body_offset <= size && response.body_len <= size - response.body_offset);
      g_assert (response.body_len <= CLH_REPLY_MAX);
      decode (response.status, text + response.body_offset, response.body_len);
    }

  /* The libcurl path: curl framed it, the status and body are CLH's. */
  decode (status, text, size);
  g_autofree char *shown = clh_reply_error_text (text, size);
  assert_printable (shown, 4 * CLH_ERROR_TEXT_MAX + 64);
  return 0;
}
