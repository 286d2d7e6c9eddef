/* libvcrun internal: the plugin loader and the registry of loaded plugins.
 *
 * vc_registry_load resolves each name of config->plugins to
 * "<dir>/<name>.so" over the plugin search path (VCRUN_PLUGIN_PATH if set, else
 * runtime.plugin_dir if set, else the compiled-in $(pkglibdir)/plugins; each a
 * ':'-separated list), checks its descriptor, validates its settings and
 * creates its instance. Any failure is a GError naming the plugin and the cause,
 * and nothing stays loaded half-way.
 */
#pragma once

#include <glib.h>
#include <vcrun/plugin.h>
#include "vc-config.h"

G_BEGIN_DECLS

typedef struct {
  char                     *name;
  char                     *path;      /* the .so it came from */
  const VcPluginDescriptor *desc;      /* a zero-padded copy: every field is readable */
  VcPluginInstance         *instance;
  int                       line;      /* line of its entry in the config file (0: none) */
  GVariant                 *settings;  /* the validated a{sv} given to create() */
} VcPlugin;

typedef struct VcRegistry VcRegistry;

VcRegistry *vc_registry_load   (const VcConfig *config, GError **error);
/* The plugin called name, which must implement kind; errors say which of the
 * two is wrong. */
VcPlugin   *vc_registry_lookup (VcRegistry *registry, const char *name, VcPluginKind kind,
                                GError **error);
/* All loaded plugins in configuration order (borrowed). */
GPtrArray  *vc_registry_list   (VcRegistry *registry);
/* Destroys the instances; the modules stay mapped (plugins are never unloaded). */
void        vc_registry_free   (VcRegistry *registry);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VcRegistry, vc_registry_free)

/* Accessors that check the vtable's size and version, so callers can test a
 * method for NULL safely ("not supported"). Return NULL when absent. */
const VcHypervisorOps *vc_plugin_hypervisor (VcPlugin *plugin);
const VcAgentOps      *vc_plugin_agent      (VcPlugin *plugin);
const VcFsOps         *vc_plugin_fs         (VcPlugin *plugin);
const VcDeviceOps     *vc_plugin_device     (VcPlugin *plugin);

G_END_DECLS
