/* Fuzzes the configuration: vcrun.conf parsed by libconfig and checked by
 * core/config.c (vc_config_load), then each plugin entry's settings checked
 * by core/settings.c (vc_settings_validate) against a spec table with every
 * setting type. The input is the file's text; "inc.conf" beside it may be
 * @included. */
#include "config.h"

#include <stdio.h>

#include "fuzz-common.h"
#include "settings.h"
#include "vc-config.h"

static char *dir;
static char *file;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  vc_fuzz_glib_setup ();
  dir = g_dir_make_tmp ("vcrun-fuzz-config-XXXXXX", NULL);
  g_assert (dir != NULL);
  file = g_build_filename (dir, "vcrun.conf", NULL);
  g_autofree char *inc = g_build_filename (dir, "inc.conf", NULL);
  g_assert (g_file_set_contents (inc, "plugins: ( { name = \"fs-9p\"; } );\n", -1, NULL));
  return 0;
}

static const char *const modes[] = { "auto", "on", "off", NULL };

static const VcSettingSpec specs[] = {
  { .name = "path", .type = VC_SETTING_STRING, .description = "a string",
    .default_value = "/usr/bin/qemu-system-x86_64" },
  { .name = "accel", .type = VC_SETTING_ENUM, .description = "an enum",
    .default_value = "auto", .choices = modes },
  { .name = "timeout_ms", .type = VC_SETTING_INT, .description = "an int in a range",
    .default_value = "30000", .min = 100, .max = 600000 },
  { .name = "count", .type = VC_SETTING_INT, .description = "any int" },
  { .name = "debug", .type = VC_SETTING_BOOL, .description = "a bool", .default_value = "false" },
  { NULL }
};

static void
check_error (const GError *error)
{
  g_assert (error != NULL);
  g_assert (g_utf8_validate (error->message, -1, NULL));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = vc_fuzz_text (data, size);
  /* @include of a device or /proc file would read for ever: not a decoder bug. */
  if (strstr (text, "/dev") != NULL || strstr (text, "/proc") != NULL
      || strstr (text, "/sys") != NULL || strstr (text, "/..") != NULL)
    return 0;
  /* Plain stdio: g_file_set_contents() would fsync each input. */
  FILE *f = fopen (file, "w");
  if (f == NULL)
    return 0;
  gboolean written = fwrite (data, 1, size, f) == size;
  if (fclose (f) != 0 || !written)
    return 0;

  g_autoptr(GError) error = NULL;
  g_autoptr(VcConfig) config = vc_config_load (file, &error);
  if (config == NULL)
    {
      check_error (error);
      return 0;
    }
  g_assert (config->state_dir != NULL && config->log_level != NULL);
  for (guint i = 0; i < config->plugins->len; i++)
    {
      VcPluginEntry *entry = g_ptr_array_index (config->plugins, i);
      g_autoptr(GError) local = NULL;
      g_autoptr(GVariant) settings = vc_settings_validate (
          entry->name, (i & 1) ? NULL : specs, entry->settings,
          entry->file ? entry->file : config->file, entry->line, &local);
      if (settings == NULL)
        check_error (local);
      else
        g_assert (g_variant_is_of_type (settings, G_VARIANT_TYPE_VARDICT));
    }
  return 0;
}
