/* libvcrun internal: the runtime configuration file (libconfig).
 *
 * Parsing validates every key the core owns (runtime, plugins, sandbox);
 * errors are VC_ERROR_CONFIG and name the file and line. A plugin's own
 * `settings` group is kept raw here and validated by the loader against the
 * plugin's VcSettingSpec once the plugin is loaded.
 */
#pragma once

#include <glib.h>
#include <vcrun/types.h>

G_BEGIN_DECLS

/* One key of a plugin's settings group, as written in the file. */
typedef struct {
  char     *key;
  GVariant *value;   /* "b", "x" or "s" (libconfig float is refused) */
  int       line;
} VcRawSetting;

typedef struct {
  char      *name;
  int        line;       /* line of the plugin's entry */
  GPtrArray *settings;   /* VcRawSetting* */
} VcPluginEntry;

typedef struct {
  char   *hypervisor;
  char   *agent;
  char   *fs;
  guint   vcpus;
  guint   max_vcpus;
  guint64 memory_mib;
  guint64 max_memory_mib;
  char   *kernel;
  char   *initrd;
  char   *kernel_params;
} VcSandboxDefaults;

typedef struct {
  char             *file;        /* the file it came from (NULL: built-in defaults) */
  char             *state_dir;   /* runtime.state_dir, default "/run/vcrun" */
  char             *log_level;   /* "error", "warning", "info", "debug" */
  char             *plugin_dir;  /* runtime.plugin_dir, optional ':'-separated list */
  GPtrArray        *plugins;     /* VcPluginEntry*, in file order */
  VcSandboxDefaults sandbox;
} VcConfig;

/* Loads and validates path. */
VcConfig   *vc_config_load (const char *path, GError **error);
/* Picks the file: explicit_path if set, else $VCRUN_CONFIG, else the
 * compiled-in default (/etc/vcrun/vcrun.conf under the configured sysconfdir). */
const char *vc_config_default_path (const char *explicit_path);
void        vc_config_free (VcConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VcConfig, vc_config_free)

G_END_DECLS
