/* Shared by the QEMU integration test and its reattach helper: loading the
 * hypervisor-qemu plugin straight from the build tree and making its instance. */
#pragma once

#include <gmodule.h>
#include <vcrun/hypervisor.h>

typedef struct {
  const VcPluginDescriptor *desc;
  const VcHypervisorOps    *ops;
  VcPluginInstance         *instance;
} QemuTestPlugin;

static inline gboolean
qemu_test_load_plugin (const char *so_path, const char *machine, QemuTestPlugin *out, GError **error)
{
  GModule *module = g_module_open (so_path, G_MODULE_BIND_LOCAL);
  if (module == NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "cannot load %s: %s", so_path, g_module_error ());
      return FALSE;
    }
  g_module_make_resident (module);
  VcPluginDescriptorFunc func = NULL;
  if (!g_module_symbol (module, VC_PLUGIN_DESCRIPTOR_SYMBOL, (gpointer *) &func) || func == NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_ABI, "%s exports no descriptor", so_path);
      return FALSE;
    }
  out->desc = func ();
  out->ops = out->desc->hypervisor;
  g_assert_cmpuint (out->desc->abi_major, ==, VC_ABI_MAJOR);
  g_assert_nonnull (out->ops);

  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{sv}"));
  const char *qemu = g_getenv ("QEMU_SYSTEM");
  if (qemu != NULL && *qemu != '\0')
    g_variant_builder_add (&b, "{sv}", "path", g_variant_new_string (qemu));
  g_variant_builder_add (&b, "{sv}", "accel", g_variant_new_string ("auto"));
  g_variant_builder_add (&b, "{sv}", "machine", g_variant_new_string (machine));
  g_variant_builder_add (&b, "{sv}", "seccomp_sandbox", g_variant_new_boolean (FALSE));
  /* For experiments, e.g. VCRUN_TEST_KERNEL_PARAMS=tsc_early_khz=2096040 on microvm. */
  const char *params = g_getenv ("VCRUN_TEST_KERNEL_PARAMS");
  if (params != NULL && *params != '\0')
    g_variant_builder_add (&b, "{sv}", "kernel_params", g_variant_new_string (params));
  g_autoptr (GVariant) settings = g_variant_ref_sink (g_variant_builder_end (&b));
  VcPluginHost host = { .struct_size = sizeof host, .abi_major = VC_ABI_MAJOR,
                        .abi_minor = VC_ABI_MINOR, .state_dir = g_get_tmp_dir (),
                        .plugin_name = "hypervisor-qemu" };
  out->instance = out->desc->create (&host, settings, error);
  return out->instance != NULL;
}
