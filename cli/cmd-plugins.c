/* vcrun plugins: what the configuration loads, with kinds, versions, settings. */
#include "config.h"

#include <stdio.h>

#include <vcrun/plugin.h>
#include "cli.h"

static const char *
setting_type_name (VcSettingType type)
{
  switch (type)
    {
    case VC_SETTING_BOOL: return "bool";
    case VC_SETTING_INT: return "int";
    case VC_SETTING_STRING: return "string";
    case VC_SETTING_ENUM: return "enum";
    }
  return "?";
}

int
vc_cmd_plugins (VcCli *cli, const VcCliArgs *args)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VcRuntime) runtime = vc_cli_open_runtime (cli, &error);
  if (runtime == NULL)
    return vc_cli_fail (error);

  g_autoptr(GPtrArray) plugins = vc_runtime_list_plugins (runtime);
  printf ("%-18s %-10s %-16s %s\n", "NAME", "VERSION", "KINDS", "PATH");
  for (guint i = 0; i < plugins->len; i++)
    {
      const VcPluginInfo *plugin = g_ptr_array_index (plugins, i);
      g_autofree char *kinds = vc_plugin_kinds_string (plugin->descriptor->kinds);
      printf ("%-18s %-10s %-16s %s\n", plugin->name, plugin->descriptor->version, kinds,
              plugin->path);
      for (const VcSettingSpec *s = plugin->descriptor->settings; s && s->name; s++)
        printf ("    %-20s %-7s %s%s%s%s\n", s->name, setting_type_name (s->type),
                s->description ? s->description : "",
                s->default_value ? " (default: " : "", s->default_value ? s->default_value : "",
                s->default_value ? ")" : "");
    }
  return 0;
}
