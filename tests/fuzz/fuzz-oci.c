/* Fuzzes the core's OCI checks (core/oci.c): each input is parsed both as a
 * bundle's config.json (vc_oci_spec_parse) and as an exec's process.json
 * (vc_oci_process_check). Errors must be valid UTF-8, they reach the user. */
#include "config.h"

#include <json-glib/json-glib.h>

#include "fuzz-common.h"
#include "oci.h"

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  vc_fuzz_glib_setup ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = vc_fuzz_text (data, size);
  g_autoptr(GError) error = NULL;
  g_autoptr(VcOciSpec) spec = vc_oci_spec_parse (text, (gssize) size, "/", "config.json",
                                                 &error);
  if (spec != NULL)
    {
      g_assert (spec->root_path != NULL && g_path_is_absolute (spec->root_path));
      g_assert (spec->args != NULL && spec->args[0] != NULL);
      for (guint i = 0; i < spec->mounts->len; i++)
        {
          VcOciMount *m = g_ptr_array_index (spec->mounts, i);
          g_assert (m->destination != NULL && g_path_is_absolute (m->destination));
        }
    }
  else
    g_assert (error != NULL && g_utf8_validate (error->message, -1, NULL));

  g_clear_error (&error);
  if (!vc_oci_process_check (text, "process.json", &error))
    g_assert (error != NULL && g_utf8_validate (error->message, -1, NULL));
  return 0;
}
