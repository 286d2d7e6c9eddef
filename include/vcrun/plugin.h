/* vcrun plugin ABI — the descriptor every plugin exports.
 *
 * A plugin is a shared object `<name>.so` in the plugin directory that exports
 * one symbol, `vc_plugin_descriptor`, a function returning a pointer to a
 * static VcPluginDescriptor. The loader refuses the plugin, with an error that
 * names it, when:
 *   - abi_major differs from VC_ABI_MAJOR, or abi_minor is newer than the
 *     loader's VC_ABI_MINOR;
 *   - struct_size is smaller than the 1.0 descriptor;
 *   - name differs from the file name, or kinds announces a kind whose vtable
 *     pointer is NULL (or a vtable whose size is smaller than its 1.0 size);
 *   - a vtable lacks one of its kind's required methods (the core cannot run
 *     a sandbox without them):
 *       hypervisor: create_vm, start_vm, stop_vm, get_agent_endpoint, free_vm
 *       agent:      connect, disconnect, create_sandbox, create_container,
 *                   start_container
 *       fs:         prepare, share_rootfs, cleanup, free_share
 *       device:     supports, attach, detach
 *     Every other method may be NULL: the core then reports "not supported".
 *
 * Minimal plugin:
 *
 *   static const VcPluginDescriptor descriptor = {
 *     .abi_major = VC_ABI_MAJOR, .abi_minor = VC_ABI_MINOR,
 *     .struct_size = sizeof (VcPluginDescriptor),
 *     .name = "fs-example", .version = "1.0", .kinds = VC_PLUGIN_KIND_FS,
 *     .settings = example_settings, .create = example_create,
 *     .destroy = example_destroy, .fs = &example_fs_ops,
 *   };
 *   VC_PLUGIN_EXPORT const VcPluginDescriptor *
 *   vc_plugin_descriptor (void) { return &descriptor; }
 *
 * Threading: methods are synchronous and may block up to their timeouts. The
 * core calls the methods of one VcVm or VcFsShare from one thread at a time,
 * but different sandboxes may be driven from different threads at once. The
 * methods of one VcAgentConn may be called concurrently from several threads
 * (a WaitProcess or ReadStdout blocks while other calls go on). Event
 * callbacks may be invoked from any thread, including plugin-owned ones.
 */
#pragma once

#include <glib.h>
#include <vcrun/types.h>

G_BEGIN_DECLS

typedef struct VcHypervisorOps VcHypervisorOps;
typedef struct VcAgentOps      VcAgentOps;
typedef struct VcFsOps         VcFsOps;
typedef struct VcDeviceOps     VcDeviceOps;

#define VC_PLUGIN_DESCRIPTOR_SYMBOL "vc_plugin_descriptor"
#define VC_PLUGIN_EXPORT __attribute__ ((visibility ("default")))

/* ---------------------------------------------------------------------------
 * Settings. A plugin declares the keys its `settings` group accepts; the core
 * validates the group from the config file (unknown keys, wrong types, values
 * out of range or not among the choices are errors naming the file and line),
 * fills in defaults and passes the result to create() as a GVariant of type
 * a{sv}: BOOL as "b", INT as "x", STRING and ENUM as "s". A plugin that finds
 * a value wrong in create() returns VC_ERROR_CONFIG naming the key; the core
 * prefixes the file and line of the plugin's entry.
 */
typedef enum {
  VC_SETTING_BOOL = 1,
  VC_SETTING_INT,
  VC_SETTING_STRING,
  VC_SETTING_ENUM,
} VcSettingType;

typedef struct {
  const char          *name;          /* NULL ends the array */
  VcSettingType        type;
  const char          *description;   /* one line, for `vcrun plugins` and docs */
  const char          *default_value; /* textual ("true", "30000", "auto"); NULL: absent stays absent */
  gint64               min, max;      /* INT: inclusive range (min == max == 0: any) */
  const char *const   *choices;       /* ENUM: NULL-terminated allowed values */
} VcSettingSpec;

/* What the core tells a plugin about its surroundings. */
typedef struct {
  gsize        struct_size;
  guint32      abi_major, abi_minor;  /* the loader's ABI */
  const char  *config_file;           /* the configuration file in use, may be NULL */
  const char  *state_dir;             /* runtime.state_dir */
  const char  *plugin_name;           /* this plugin's name */
} VcPluginHost;

typedef struct {
  guint32     abi_major;       /* VC_ABI_MAJOR the plugin was built against */
  guint32     abi_minor;       /* VC_ABI_MINOR the plugin was built against */
  gsize       struct_size;     /* sizeof (VcPluginDescriptor) of the plugin */
  const char *name;            /* must equal the file name without ".so" */
  const char *version;
  const char *description;
  guint32     kinds;           /* VcPluginKind bits */
  const VcSettingSpec *settings; /* accepted settings; NULL accepts none */

  /* Makes the plugin's instance from validated settings (a{sv}, borrowed).
   * Returning NULL without setting an error is a plugin bug; the core reports
   * it as such. The instance is passed to every vtable method. */
  VcPluginInstance *(*create) (const VcPluginHost *host, GVariant *settings, GError **error);
  void              (*destroy) (VcPluginInstance *instance);

  /* One vtable per kind in `kinds`; NULL for the others. */
  const VcHypervisorOps *hypervisor;
  const VcAgentOps      *agent;
  const VcFsOps         *fs;
  const VcDeviceOps     *device;
} VcPluginDescriptor;

typedef const VcPluginDescriptor *(*VcPluginDescriptorFunc) (void);

G_END_DECLS
