/* Shared by the hypervisor-clh tests: which Cloud Hypervisor to run (a real
 * binary with working KVM, else the stand-in), loading plugins from the build
 * tree, and finding what a test left behind. */
#pragma once

#include <gmodule.h>
#include <stdarg.h>
#include <string.h>
#include <vcrun/agent.h>
#include <vcrun/hypervisor.h>

typedef struct {
  const VcPluginDescriptor *desc;
  VcPluginInstance         *instance;
} ClhTestPlugin;

static inline const VcPluginDescriptor *
clh_test_descriptor (const char *so_path, GError **error)
{
  GModule *module = g_module_open (so_path, G_MODULE_BIND_LOCAL);
  if (module == NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "cannot load %s: %s", so_path, g_module_error ());
      return NULL;
    }
  g_module_make_resident (module);
  VcPluginDescriptorFunc func = NULL;
  if (!g_module_symbol (module, VC_PLUGIN_DESCRIPTOR_SYMBOL, (gpointer *) &func) || func == NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_ABI, "%s exports no descriptor", so_path);
      return NULL;
    }
  return func ();
}

/* An instance with settings given as name/GVariant pairs, NULL-ended. */
static inline VcPluginInstance *
clh_test_instance (const VcPluginDescriptor *desc, GError **error, ...)
{
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{sv}"));
  va_list ap;
  va_start (ap, error);
  const char *name;
  while ((name = va_arg (ap, const char *)) != NULL)
    g_variant_builder_add (&b, "{sv}", name, va_arg (ap, GVariant *));
  va_end (ap);
  g_autoptr (GVariant) settings = g_variant_ref_sink (g_variant_builder_end (&b));
  VcPluginHost host = { .struct_size = sizeof host, .abi_major = VC_ABI_MAJOR,
                        .abi_minor = VC_ABI_MINOR, .state_dir = g_get_tmp_dir (),
                        .plugin_name = desc->name };
  return desc->create (&host, settings, error);
}

/* Pids of processes whose command line mentions path. */
static inline GArray *
clh_test_processes_mentioning (const char *path)
{
  GArray *pids = g_array_new (FALSE, FALSE, sizeof (gint));
  g_autoptr (GDir) proc = g_dir_open ("/proc", 0, NULL);
  const char *name;
  while (proc != NULL && (name = g_dir_read_name (proc)) != NULL)
    {
      if (!g_ascii_isdigit (name[0]))
        continue;
      g_autofree char *file = g_strdup_printf ("/proc/%s/cmdline", name);
      g_autofree char *cmd = NULL;
      gsize len = 0;
      if (!g_file_get_contents (file, &cmd, &len, NULL) || len == 0)
        continue;
      for (gsize i = 0; i + 1 < len; i++)
        if (cmd[i] == '\0')
          cmd[i] = ' ';
      g_autofree char *stat_path = g_strdup_printf ("/proc/%s/stat", name);
      g_autofree char *stat = NULL;
      if (g_file_get_contents (stat_path, &stat, NULL, NULL))
        {
          const char *p = strrchr (stat, ')');
          if (p != NULL && (p[2] == 'Z' || p[2] == 'X'))
            continue;
        }
      if (strstr (cmd, path) != NULL)
        {
          gint pid = (gint) g_ascii_strtoll (name, NULL, 10);
          g_array_append_val (pids, pid);
        }
    }
  return pids;
}

/* Waits up to timeout_ms for no process to mention path; how many are left. */
static inline guint
clh_test_wait_no_process (const char *path, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  for (;;)
    {
      g_autoptr (GArray) left = clh_test_processes_mentioning (path);
      if (left->len == 0 || g_get_monotonic_time () >= deadline)
        {
          for (guint i = 0; i < left->len; i++)
            g_test_message ("left running: pid %d", g_array_index (left, gint, i));
          return left->len;
        }
      g_usleep (50 * 1000);
    }
}
