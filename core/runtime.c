/* libvcrun: the runtime (configuration, plugins, state dir). */
#include "config.h"

#include "runtime-private.h"

#include <string.h>

struct VcRuntime {
  gint        ref_count;
  VcConfig   *config;
  VcRegistry *registry;
  gint        lock_timeout_ms;   /* atomic */
};

VcRuntime *
vc_runtime_new_from_config (VcConfig *config, const char *state_dir, GError **error)
{
  g_autoptr(VcConfig) owned = config;

  if (state_dir)
    {
      g_free (owned->state_dir);
      owned->state_dir = g_canonicalize_filename (state_dir, NULL);
    }
  if (owned->state_dir == NULL || !g_path_is_absolute (owned->state_dir))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_CONFIG, "the state directory must be an absolute path");
      return NULL;
    }

  g_autoptr(VcRegistry) registry = vc_registry_load (owned, error);
  if (registry == NULL)
    return NULL;

  VcRuntime *runtime = g_new0 (VcRuntime, 1);
  runtime->ref_count = 1;
  runtime->config = g_steal_pointer (&owned);
  runtime->registry = g_steal_pointer (&registry);
  runtime->lock_timeout_ms = VC_RUNTIME_DEFAULT_LOCK_TIMEOUT_MS;
  return runtime;
}

VcRuntime *
vc_runtime_new (const char *config_file, const char *state_dir, GError **error)
{
  VcConfig *config = vc_config_load (vc_config_default_path (config_file), error);
  if (config == NULL)
    return NULL;
  return vc_runtime_new_from_config (config, state_dir, error);
}

VcRuntime *
vc_runtime_ref (VcRuntime *runtime)
{
  g_atomic_int_inc (&runtime->ref_count);
  return runtime;
}

void
vc_runtime_unref (VcRuntime *runtime)
{
  if (runtime == NULL || !g_atomic_int_dec_and_test (&runtime->ref_count))
    return;
  vc_registry_free (runtime->registry);
  vc_config_free (runtime->config);
  g_free (runtime);
}

const char *
vc_runtime_get_state_dir (VcRuntime *runtime)
{
  return runtime->config->state_dir;
}

const VcConfig *
vc_runtime_get_config (VcRuntime *runtime)
{
  return runtime->config;
}

VcRegistry *
vc_runtime_get_registry (VcRuntime *runtime)
{
  return runtime->registry;
}

void
vc_runtime_set_lock_timeout (VcRuntime *runtime, guint timeout_ms)
{
  g_atomic_int_set (&runtime->lock_timeout_ms, (gint) MIN (timeout_ms, (guint) G_MAXINT));
}

guint
vc_runtime_get_lock_timeout (VcRuntime *runtime)
{
  return (guint) g_atomic_int_get (&runtime->lock_timeout_ms);
}

GPtrArray *
vc_runtime_list_plugins (VcRuntime *runtime)
{
  GPtrArray *plugins = vc_registry_list (runtime->registry);
  GPtrArray *infos = g_ptr_array_new_full (plugins->len, g_free);
  for (guint i = 0; i < plugins->len; i++)
    {
      const VcPlugin *plugin = g_ptr_array_index (plugins, i);
      VcPluginInfo *info = g_new0 (VcPluginInfo, 1);
      info->name = plugin->name;
      info->path = plugin->path;
      info->descriptor = plugin->desc;
      g_ptr_array_add (infos, info);
    }
  return infos;
}

char *
vc_runtime_peek_state_dir (const char *config_file, const char *state_dir, GError **error)
{
  if (state_dir)
    return g_canonicalize_filename (state_dir, NULL);
  g_autoptr(VcConfig) config = vc_config_load (vc_config_default_path (config_file), error);
  if (config == NULL)
    return NULL;
  return g_strdup (config->state_dir);
}

char *
vc_plugin_kinds_string (guint32 kinds)
{
  static const char *const names[] = { "hypervisor", "agent", "fs", "device" };
  g_autoptr(GString) text = g_string_new (NULL);
  for (guint k = 0; k < G_N_ELEMENTS (names); k++)
    if (kinds & (1u << k))
      g_string_append_printf (text, "%s%s", text->len ? "," : "", names[k]);
  return g_string_free (g_steal_pointer (&text), FALSE);
}
