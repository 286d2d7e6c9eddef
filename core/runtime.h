/* libvcrun: the runtime — configuration, loaded plugins and the state dir.
 *
 * A VcRuntime is what the CLI (embedded mode) and vcrund hold for their whole
 * life. It loads the configuration file (vc-config.h, internal), loads and
 * creates the configured plugins (registry.h, internal) and knows where
 * sandbox state lives:
 *   <state_dir>/<sandbox-id>/sandbox.json   the sandbox's state (JSON)
 *   <state_dir>/<sandbox-id>/lock           the per-sandbox lock (flock)
 * Sandboxes (core/sandbox.h) and containers (core/container.h) are made from
 * a runtime and keep a reference to it.
 *
 * Thread safety: a VcRuntime is immutable after creation apart from the lock
 * timeout; it may be used from several threads.
 */
#pragma once

#include <glib.h>
#include <vcrun/types.h>

#include <vcrun/plugin.h>

G_BEGIN_DECLS

typedef struct VcRuntime VcRuntime;

/* How long an operation waits for another process (or thread) holding a
 * sandbox's lock before failing with VC_ERROR_BUSY. */
#define VC_RUNTIME_DEFAULT_LOCK_TIMEOUT_MS 30000

/* Loads the configuration file (config_file if set, else $VCRUN_CONFIG, else
 * the default, see vc_config_default_path), then the plugins it lists.
 * state_dir, when not NULL, overrides runtime.state_dir (vcrun --root); the
 * plugins see the override too. */
VcRuntime  *vc_runtime_new             (const char *config_file, const char *state_dir,
                                        GError **error);
VcRuntime  *vc_runtime_ref             (VcRuntime *runtime);
void        vc_runtime_unref           (VcRuntime *runtime);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VcRuntime, vc_runtime_unref)

/* Borrowed; valid as long as the runtime. */
const char     *vc_runtime_get_state_dir (VcRuntime *runtime);

/* A loaded plugin, as `vcrun plugins` and vcrund's Plugins property show it.
 * Borrowed from the runtime. */
typedef struct {
  const char               *name;
  const char               *path;        /* the .so it came from */
  const VcPluginDescriptor *descriptor;  /* version, kinds, settings */
} VcPluginInfo;

/* The loaded plugins in configuration order: GPtrArray of VcPluginInfo*
 * (free the array; its elements live as long as the runtime). */
GPtrArray  *vc_runtime_list_plugins (VcRuntime *runtime);
/* "hypervisor,fs" from VcPluginKind bits. */
char       *vc_plugin_kinds_string  (guint32 kinds);

/* The state directory a runtime of config_file would use (state_dir when
 * set, else the file's runtime.state_dir), without loading any plugin. */
char       *vc_runtime_peek_state_dir (const char *config_file, const char *state_dir,
                                       GError **error);

/* 0: fail at once with VC_ERROR_BUSY when a sandbox is locked. */
void        vc_runtime_set_lock_timeout (VcRuntime *runtime, guint timeout_ms);
guint       vc_runtime_get_lock_timeout (VcRuntime *runtime);

/* Checks a sandbox, container or exec ID against
 * ^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$. what ("sandbox", "container", "exec")
 * names the kind in the VC_ERROR_INVALID_ARGUMENT message. */
gboolean    vc_id_validate (const char *id, const char *what, GError **error);

G_END_DECLS
