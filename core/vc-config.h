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
  char     *file;    /* the file it is in, NULL: the entry's file */
} VcRawSetting;

typedef struct {
  char      *name;
  int        line;       /* line of the plugin's entry */
  GPtrArray *settings;   /* VcRawSetting* */
  char      *file;       /* the file it is in, NULL: VcConfig.file */
} VcPluginEntry;

/* Unset strings are NULL. hypervisor, agent and fs name entries of the
 * plugins list when set (checked at load); vc_registry_lookup turns a NULL
 * name into an error saying which key is missing. */
typedef struct {
  char   *hypervisor;
  char   *agent;
  char   *fs;
  guint   vcpus;          /* 1..256, default 1 */
  guint   max_vcpus;      /* 0 when unset, else vcpus..256 */
  guint64 memory_mib;     /* 64..1048576, default 256 */
  guint64 max_memory_mib; /* 0 when unset, else memory_mib..1048576 */
  char   *kernel;         /* absolute; default $(guestdir)/vmlinuz */
  char   *initrd;         /* absolute; default $(guestdir)/initrd.img */
  char   *kernel_params;
  gboolean template;      /* start sandboxes from a saved template VM (core/template.c) */
} VcSandboxDefaults;

/* sandbox.template when the file does not say: on. The first sandbox of a
 * configuration builds the template (a boot plus a save), later ones restore
 * it; a plugin without templates, a sandbox with a network namespace, or a
 * template that cannot be used boots cold. */
#define VC_DEFAULT_TEMPLATE TRUE

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
/* The built-in defaults, as if read from a file holding no keys. */
VcConfig   *vc_config_new_default (void);

#define VC_PLUGIN_NAME_MAX 64
/* Whether name is a valid plugin name: ^[a-z0-9][a-z0-9_.-]*$ without "..",
 * at most VC_PLUGIN_NAME_MAX characters (it becomes a file name). */
gboolean    vc_plugin_name_check (const char *name, GError **error);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VcConfig, vc_config_free)

G_END_DECLS
