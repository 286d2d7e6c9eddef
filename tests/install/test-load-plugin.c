/* Loads one fs plugin through the build tree's libvcrun, as vcrun would, and
 * drives it a little; prints what it saw for tests/install/test-install.sh.
 *   test-load-plugin CONFIG NAME STATE_DIR */
#include <stdio.h>
#include <glib.h>
#include <vcrun/plugin.h>
#include <vcrun/fs.h>
#include "core/vc-config.h"
#include "core/registry.h"

static int
fail (const char *what, const GError *error)
{
  fprintf (stderr, "test-load-plugin: %s: %s\n", what, error ? error->message : "failed");
  return 1;
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  if (argc != 4)
    {
      fprintf (stderr, "usage: test-load-plugin CONFIG NAME STATE_DIR\n");
      return 2;
    }
  g_autoptr(VcConfig) config = vc_config_load (argv[1], &error);
  if (config == NULL)
    return fail ("config", error);
  g_autoptr(VcRegistry) registry = vc_registry_load (config, &error);
  if (registry == NULL)
    return fail ("load", error);
  VcPlugin *plugin = vc_registry_lookup (registry, argv[2], VC_PLUGIN_KIND_FS, &error);
  if (plugin == NULL)
    return fail ("lookup", error);

  g_autofree char *settings = g_variant_print (plugin->settings, FALSE);
  printf ("name %s\nversion %s\nkinds 0x%x\nsettings %s\n", plugin->desc->name,
          plugin->desc->version, plugin->desc->kinds, settings);

  const VcFsOps *fs = vc_plugin_fs (plugin);
  VcFsSandboxConfig sb = { .struct_size = sizeof sb, .sandbox_id = "sb1", .state_dir = argv[3] };
  VcFsShare *share = fs->prepare (plugin->instance, &sb, &error);
  if (share == NULL)
    return fail ("prepare", error);
  g_autoptr(GPtrArray) devices = fs->get_devices (share, &error);
  if (devices == NULL)
    return fail ("get_devices", error);
  for (guint i = 0; i < devices->len; i++)
    {
      VcDevice *d = g_ptr_array_index (devices, i);
      printf ("device type=%d tag=%s msize=%u dir-exists=%d\n", d->type, d->tag, d->msize,
              g_file_test (d->host_path, G_FILE_TEST_IS_DIR));
    }
  g_autoptr(VcStorage) storage = fs->get_sandbox_storage (share, &error);
  if (storage == NULL)
    return fail ("get_sandbox_storage", error);
  g_autofree char *options = g_strjoinv (",", storage->options);
  printf ("storage %s %s %s %s %s\n", storage->driver, storage->source, storage->fstype,
          options, storage->mount_point);
  g_autoptr(VcSharedPath) rootfs = fs->share_rootfs (share, "c1", "/nonexistent", FALSE, &error);
  if (rootfs == NULL)
    return fail ("share_rootfs", error);
  printf ("rootfs %s\n", rootfs->guest_path);
  printf ("share_mount %s\n", fs->share_mount ? "yes" : "not supported");
  if (!fs->cleanup (share, &error))
    return fail ("cleanup", error);
  fs->free_share (share);
  return 0;
}
