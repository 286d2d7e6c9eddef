/* vcrun plugins: what the configuration loads, with kinds, versions, settings. */
#include "config.h"

#include <stdio.h>

#include <vcrun/plugin.h>
#include "cli.h"

/* "hypervisor,fs" from VcPluginKind bits. */
static char *
kinds_string (guint32 kinds)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new ();
  if (kinds & VC_PLUGIN_KIND_HYPERVISOR) g_ptr_array_add (names, "hypervisor");
  if (kinds & VC_PLUGIN_KIND_AGENT) g_ptr_array_add (names, "agent");
  if (kinds & VC_PLUGIN_KIND_FS) g_ptr_array_add (names, "fs");
  if (kinds & VC_PLUGIN_KIND_DEVICE) g_ptr_array_add (names, "device");
  g_ptr_array_add (names, NULL);
  return g_strjoinv (",", (char **) names->pdata);
}

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
      g_autofree char *kinds = kinds_string (plugin->descriptor->kinds);
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
