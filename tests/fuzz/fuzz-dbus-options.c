/* Fuzzes vcrund's CreateSandbox options (daemon/options.c): the input is a
 * serialised a{sv} as it arrives in a D-Bus message, untrusted (GVariant
 * checks it as it reads), parsed for a caller of uid 0 and of uid 1000. */
#include "config.h"

#include "fuzz-common.h"
#include "options.h"
#include "bundle.h"

#include <vcrun/types.h>

/* vcrund checks that a non-root caller owns the bundle it names by reading
 * the caller's files; the fuzzer's paths are random, so this stands in for
 * it (core/bundle.c has its own tests): absolute paths only, owned by nobody. */
gboolean
vc_bundle_check_owner (const char *bundle, guint uid, GError **error)
{
  g_assert (bundle != NULL && g_path_is_absolute (bundle) && uid != 0);
  g_set_error (error, VC_ERROR, VC_ERROR_ACCESS_DENIED, "fuzz: %s is not uid %u's", bundle, uid);
  return FALSE;
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  vc_fuzz_glib_setup ();
  return 0;
}

static void
parse_as (GVariant *options, guint uid)
{
  VcSandboxOptions opts = { 0 };
  g_autoptr(GError) error = NULL;
  if (vcd_sandbox_options_parse (options, uid, &opts, &error))
    {
      g_assert (opts.vcpus <= 256 && opts.max_vcpus <= 256);
      g_assert (opts.memory_mib == 0 || (opts.memory_mib >= 64 && opts.memory_mib <= 1048576));
      g_assert (uid == 0 || (opts.kernel == NULL && opts.initrd == NULL));
      g_assert (opts.kernel == NULL || g_path_is_absolute (opts.kernel));
    }
  else
    g_assert (error != NULL && g_utf8_validate (error->message, -1, NULL));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(GBytes) bytes = g_bytes_new (data, size);
  g_autoptr(GVariant) options = g_variant_ref_sink (
      g_variant_new_from_bytes (G_VARIANT_TYPE_VARDICT, bytes, FALSE));
  parse_as (options, 0);
  parse_as (options, 1000);
  return 0;
}
