/* libvcrun: the plugin loader and the registry of loaded plugins.
 *
 * Each name in the config's plugins list becomes "<dir>/<name>.so" on the
 * plugin search path. The loader checks the descriptor and each vtable the
 * plugin announces before calling anything else in it, validates the
 * plugin's settings, and creates its instance. Errors start with the
 * "FILE:LINE: " of the plugin's entry and name the plugin.
 *
 * Modules are opened RTLD_NOW (a missing symbol fails now, not in the middle
 * of a sandbox operation) and RTLD_LOCAL (plugins cannot see each other), and
 * never closed: a plugin may have registered types or threads.
 */
#include "config.h"
#include "registry.h"
#include "settings.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <string.h>
#include <vcrun/hypervisor.h>
#include <vcrun/agent.h>
#include <vcrun/fs.h>
#include <vcrun/device.h>

/* The sizes of ABI 1.0's structs: the end of their last 1.0 member. A plugin
 * built against a later 1.x has larger ones; smaller means it is broken. */
#define END_OF(type, member) (G_STRUCT_OFFSET (type, member) + sizeof (((type *) 0)->member))
#define DESCRIPTOR_SIZE_1_0  END_OF (VcPluginDescriptor, device)
#define HYPERVISOR_SIZE_1_0  END_OF (VcHypervisorOps, free_vm)
#define AGENT_SIZE_1_0       END_OF (VcAgentOps, get_oom_event)
#define FS_SIZE_1_0          END_OF (VcFsOps, free_share)
#define DEVICE_SIZE_1_0      END_OF (VcDeviceOps, detach)

/* The part every vtable starts with. */
typedef struct {
  guint32 version;
  gsize   size;
} VtableHeader;

/* A method a vtable must have: its offset and name. */
typedef struct {
  gsize       offset;
  const char *name;
} RequiredMethod;
#define REQUIRED(type, method) { G_STRUCT_OFFSET (type, method), #method }

/* Without these the core cannot run a sandbox; plugin.h lists them too. */
static const RequiredMethod hypervisor_required[] = {
  REQUIRED (VcHypervisorOps, create_vm), REQUIRED (VcHypervisorOps, start_vm),
  REQUIRED (VcHypervisorOps, stop_vm), REQUIRED (VcHypervisorOps, get_agent_endpoint),
  REQUIRED (VcHypervisorOps, free_vm), { 0, NULL }
};
static const RequiredMethod agent_required[] = {
  REQUIRED (VcAgentOps, connect), REQUIRED (VcAgentOps, disconnect),
  REQUIRED (VcAgentOps, create_sandbox), REQUIRED (VcAgentOps, create_container),
  REQUIRED (VcAgentOps, start_container), { 0, NULL }
};
static const RequiredMethod fs_required[] = {
  REQUIRED (VcFsOps, prepare), REQUIRED (VcFsOps, share_rootfs), REQUIRED (VcFsOps, cleanup),
  REQUIRED (VcFsOps, free_share), { 0, NULL }
};
static const RequiredMethod device_required[] = {
  REQUIRED (VcDeviceOps, supports), REQUIRED (VcDeviceOps, attach),
  REQUIRED (VcDeviceOps, detach), { 0, NULL }
};

typedef struct {
  VcPluginKind kind;
  const char  *name;
  gsize        desc_offset;   /* of the vtable pointer in VcPluginDescriptor */
  gsize        min_size;      /* its 1.0 size */
  gsize        size;          /* its size in these headers */
  guint32      version;       /* its version in these headers */
  const char  *sandbox_key;   /* the config key naming the plugin of this kind, or NULL */
  const RequiredMethod *required;
} KindInfo;

static const KindInfo kinds[] = {
  { VC_PLUGIN_KIND_HYPERVISOR, "hypervisor", G_STRUCT_OFFSET (VcPluginDescriptor, hypervisor),
    HYPERVISOR_SIZE_1_0, sizeof (VcHypervisorOps), VC_HYPERVISOR_OPS_VERSION, "sandbox.hypervisor",
    hypervisor_required },
  { VC_PLUGIN_KIND_AGENT, "agent", G_STRUCT_OFFSET (VcPluginDescriptor, agent),
    AGENT_SIZE_1_0, sizeof (VcAgentOps), VC_AGENT_OPS_VERSION, "sandbox.agent",
    agent_required },
  { VC_PLUGIN_KIND_FS, "fs", G_STRUCT_OFFSET (VcPluginDescriptor, fs),
    FS_SIZE_1_0, sizeof (VcFsOps), VC_FS_OPS_VERSION, "sandbox.fs",
    fs_required },
  { VC_PLUGIN_KIND_DEVICE, "device", G_STRUCT_OFFSET (VcPluginDescriptor, device),
    DEVICE_SIZE_1_0, sizeof (VcDeviceOps), VC_DEVICE_OPS_VERSION, NULL,
    device_required },
};
#define ALL_KINDS (VC_PLUGIN_KIND_HYPERVISOR | VC_PLUGIN_KIND_AGENT | VC_PLUGIN_KIND_FS | \
                   VC_PLUGIN_KIND_DEVICE)

/* A loaded plugin with zero-padded copies of its descriptor and vtables, so
 * that a method a shorter (older 1.x) struct lacks reads as NULL. */
typedef struct {
  VcPlugin  pub;
  gpointer  vtables[G_N_ELEMENTS (kinds)];   /* indexed like kinds[], NULL if not implemented */
  char     *file;                            /* the config file of its entry, may be NULL */
} Plugin;

struct VcRegistry {
  GPtrArray *plugins;      /* Plugin*, in config order; owns them */
  char      *config_file;  /* may be NULL */
};

static const char *
kind_names (guint32 bits, char *buf, gsize len)
{
  buf[0] = '\0';
  for (gsize i = 0; i < G_N_ELEMENTS (kinds); i++)
    if (bits & kinds[i].kind)
      {
        if (buf[0] != '\0')
          g_strlcat (buf, ",", len);
        g_strlcat (buf, kinds[i].name, len);
      }
  if (buf[0] == '\0')
    g_strlcpy (buf, "none", len);
  return buf;
}

/* ------------------------------------------------------------------------- */

typedef struct {
  const char *file;   /* config file, may be NULL */
  int         line;   /* the plugin's entry */
  const char *name;
} Entry;

static char *
entry_prefix (const Entry *e)
{
  if (e->file != NULL)
    return g_strdup_printf ("%s:%d: plugin '%s'", e->file, e->line, e->name);
  return g_strdup_printf ("plugin '%s'", e->name);
}

static gboolean G_GNUC_PRINTF (4, 5)
fail (const Entry *e, GError **error, int code, const char *format, ...)
{
  va_list ap;
  va_start (ap, format);
  g_autofree char *msg = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_autofree char *prefix = entry_prefix (e);
  g_set_error (error, VC_ERROR, code, "%s: %s", prefix, msg);
  return FALSE;
}

/* VCRUN_PLUGIN_PATH, else runtime.plugin_dir, else the installed directory;
 * empty elements are skipped. */
static GStrv
search_path (const VcConfig *config)
{
  const char *path = g_getenv ("VCRUN_PLUGIN_PATH");
  if (path == NULL || path[0] == '\0')
    path = config->plugin_dir;
  if (path == NULL || path[0] == '\0')
    path = VC_PLUGIN_DIR;

  g_auto(GStrv) parts = g_strsplit (path, ":", -1);
  GPtrArray *dirs = g_ptr_array_new ();
  for (char **p = parts; *p != NULL; p++)
    if (**p != '\0')
      g_ptr_array_add (dirs, g_strdup (*p));
  g_ptr_array_add (dirs, NULL);
  return (GStrv) g_ptr_array_free (dirs, FALSE);
}

/* Finds and maps <dir>/<name>.so; returns its descriptor function. */
static VcPluginDescriptorFunc
open_module (const Entry *e, GStrv dirs, char **path_out, GError **error)
{
  g_autofree char *file = g_strconcat (e->name, ".so", NULL);
  g_autofree char *path = NULL;
  for (char **d = dirs; *d != NULL && path == NULL; d++)
    {
      g_autofree char *candidate = g_build_filename (*d, file, NULL);
      if (g_file_test (candidate, G_FILE_TEST_EXISTS))
        path = g_steal_pointer (&candidate);
    }
  if (path == NULL)
    {
      g_autofree char *searched = g_strjoinv (", ", dirs);
      fail (e, error, VC_ERROR_NOT_FOUND, "%s not found; searched: %s (set VCRUN_PLUGIN_PATH or "
            "runtime.plugin_dir to change the search path)", file, searched[0] ? searched : "nothing");
      return NULL;
    }

  void *handle = dlopen (path, RTLD_NOW | RTLD_LOCAL);
  if (handle == NULL)
    {
      const char *msg = dlerror ();
      fail (e, error, VC_ERROR_FAILED, "cannot load %s: %s", path, msg ? msg : "unknown dlopen error");
      return NULL;
    }

  dlerror ();
  void *sym = dlsym (handle, VC_PLUGIN_DESCRIPTOR_SYMBOL);
  if (sym == NULL)
    {
      fail (e, error, VC_ERROR_ABI, "%s does not export %s(): not a vcrun plugin", path,
            VC_PLUGIN_DESCRIPTOR_SYMBOL);
      return NULL;
    }
  *path_out = g_steal_pointer (&path);
  /* POSIX guarantees a function pointer survives this conversion. */
  VcPluginDescriptorFunc func;
  memcpy (&func, &sym, sizeof func);
  return func;
}

/* Checks the descriptor against this libvcrun; returns a zero-padded copy. */
static VcPluginDescriptor *
check_descriptor (const Entry *e, const char *path, const VcPluginDescriptor *d, GError **error)
{
  if (d == NULL)
    {
      fail (e, error, VC_ERROR_ABI, "%s() in %s returned NULL", VC_PLUGIN_DESCRIPTOR_SYMBOL, path);
      return NULL;
    }
  /* abi_major, abi_minor and struct_size sit first in every version. */
  if (d->abi_major != VC_ABI_MAJOR)
    {
      fail (e, error, VC_ERROR_ABI, "%s was built for plugin ABI %u.%u, this libvcrun implements "
            "%d.%d (major versions differ)", path, d->abi_major, d->abi_minor, VC_ABI_MAJOR, VC_ABI_MINOR);
      return NULL;
    }
  if (d->abi_minor > VC_ABI_MINOR)
    {
      fail (e, error, VC_ERROR_ABI, "%s was built for plugin ABI %u.%u, newer than this libvcrun's "
            "%d.%d", path, d->abi_major, d->abi_minor, VC_ABI_MAJOR, VC_ABI_MINOR);
      return NULL;
    }
  if (d->struct_size < DESCRIPTOR_SIZE_1_0)
    {
      fail (e, error, VC_ERROR_ABI, "%s: descriptor struct_size is %" G_GSIZE_FORMAT " bytes, at "
            "least %" G_GSIZE_FORMAT " expected", path, d->struct_size, (gsize) DESCRIPTOR_SIZE_1_0);
      return NULL;
    }

  VcPluginDescriptor *copy = g_new0 (VcPluginDescriptor, 1);
  memcpy (copy, d, MIN (d->struct_size, sizeof *copy));

  const char *problem = NULL;
  g_autofree char *detail = NULL;
  if (copy->name == NULL || !g_str_equal (copy->name, e->name))
    detail = g_strdup_printf ("%s calls itself '%s'; the file name and the descriptor's name "
                              "must be the same", path, copy->name ? copy->name : "(null)");
  else if (copy->version == NULL)
    problem = "has no version";
  else if (copy->create == NULL)
    problem = "has no create function";
  else if (copy->kinds == 0)
    problem = "implements no kind";
  else if (copy->kinds & ~ALL_KINDS)
    detail = g_strdup_printf ("announces unknown kind bits 0x%x", copy->kinds & ~ALL_KINDS);
  if (problem != NULL || detail != NULL)
    {
      fail (e, error, VC_ERROR_ABI, "%s", detail ? detail : problem);
      g_free (copy);
      return NULL;
    }
  return copy;
}

/* Checks the vtable of each announced kind and keeps a padded copy. */
static gboolean
check_vtables (const Entry *e, Plugin *plugin, GError **error)
{
  const VcPluginDescriptor *d = plugin->pub.desc;
  for (gsize i = 0; i < G_N_ELEMENTS (kinds); i++)
    {
      const KindInfo *k = &kinds[i];
      if (!(d->kinds & k->kind))
        continue;
      const VtableHeader *vt = G_STRUCT_MEMBER (const VtableHeader *, d, k->desc_offset);
      if (vt == NULL)
        return fail (e, error, VC_ERROR_ABI, "announces the %s kind but its %s vtable is NULL",
                     k->name, k->name);
      if (vt->size < k->min_size)
        return fail (e, error, VC_ERROR_ABI, "its %s vtable is %" G_GSIZE_FORMAT " bytes, at least %"
                     G_GSIZE_FORMAT " expected", k->name, vt->size, k->min_size);
      if (vt->version < 1 || vt->version > k->version)
        return fail (e, error, VC_ERROR_ABI, "its %s vtable has version %u, this libvcrun knows 1..%u",
                     k->name, vt->version, k->version);
      plugin->vtables[i] = g_malloc0 (k->size);
      memcpy (plugin->vtables[i], vt, MIN (vt->size, k->size));
      for (const RequiredMethod *m = k->required; m->name; m++)
        if (G_STRUCT_MEMBER (gpointer, plugin->vtables[i], m->offset) == NULL)
          return fail (e, error, VC_ERROR_ABI, "its %s vtable lacks %s, which every %s plugin "
                       "must implement", k->name, m->name, k->name);
      /* desc is our own copy: point it at the padded vtable too. */
      G_STRUCT_MEMBER (gpointer, (gpointer) d, k->desc_offset) = plugin->vtables[i];
    }
  return TRUE;
}

static void
plugin_free (Plugin *plugin)
{
  if (plugin->pub.instance != NULL && plugin->pub.desc->destroy != NULL)
    plugin->pub.desc->destroy (plugin->pub.instance);
  g_free (plugin->pub.name);
  g_free (plugin->pub.path);
  g_free (plugin->file);
  g_free ((gpointer) plugin->pub.desc);
  g_clear_pointer (&plugin->pub.settings, g_variant_unref);
  for (gsize i = 0; i < G_N_ELEMENTS (kinds); i++)
    g_free (plugin->vtables[i]);
  g_free (plugin);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Plugin, plugin_free)

static Plugin *
load_plugin (const VcConfig *config, const VcPluginEntry *entry, GStrv dirs, GError **error)
{
  const char *file = entry->file != NULL ? entry->file : config->file;
  Entry e = { .file = file, .line = entry->line, .name = entry->name };
  g_autoptr(GError) name_error = NULL;
  if (!vc_plugin_name_check (entry->name, &name_error))
    {
      fail (&e, error, VC_ERROR_CONFIG, "%s", name_error->message);
      return NULL;
    }

  g_autoptr(Plugin) plugin = g_new0 (Plugin, 1);
  plugin->pub.name = g_strdup (entry->name);
  plugin->pub.line = entry->line;
  plugin->file = g_strdup (file);
  VcPluginDescriptorFunc func = open_module (&e, dirs, &plugin->pub.path, error);
  if (func == NULL)
    return NULL;
  plugin->pub.desc = check_descriptor (&e, plugin->pub.path, func (), error);
  if (plugin->pub.desc == NULL || !check_vtables (&e, plugin, error))
    return NULL;

  plugin->pub.settings = vc_settings_validate (entry->name, plugin->pub.desc->settings,
                                               entry->settings, file, entry->line, error);
  if (plugin->pub.settings == NULL)
    return NULL;

  VcPluginHost host = {
    .struct_size = sizeof host,
    .abi_major = VC_ABI_MAJOR,
    .abi_minor = VC_ABI_MINOR,
    .config_file = config->file,
    .state_dir = config->state_dir,
    .plugin_name = entry->name,
  };
  GError *create_error = NULL;
  plugin->pub.instance = plugin->pub.desc->create (&host, plugin->pub.settings, &create_error);
  if (plugin->pub.instance == NULL)
    {
      g_autofree char *prefix = entry_prefix (&e);
      if (create_error != NULL)
        g_propagate_prefixed_error (error, create_error, "%s: ", prefix);
      else
        fail (&e, error, VC_ERROR_FAILED, "create failed without saying why (a plugin bug)");
      return NULL;
    }
  if (create_error != NULL)
    {
      g_warning ("plugin '%s': create succeeded but set an error (a plugin bug): %s",
                 entry->name, create_error->message);
      g_clear_error (&create_error);
    }
  return g_steal_pointer (&plugin);
}

VcRegistry *
vc_registry_load (const VcConfig *config, GError **error)
{
  g_return_val_if_fail (config != NULL, NULL);

  g_auto(GStrv) dirs = search_path (config);
  g_autoptr(VcRegistry) registry = g_new0 (VcRegistry, 1);
  registry->plugins = g_ptr_array_new ();
  registry->config_file = g_strdup (config->file);

  for (guint i = 0; i < config->plugins->len; i++)
    {
      const VcPluginEntry *entry = g_ptr_array_index (config->plugins, i);
      /* The parser refuses duplicates; a config built in code may not. */
      for (guint j = 0; j < i; j++)
        {
          const VcPluginEntry *other = g_ptr_array_index (config->plugins, j);
          if (g_strcmp0 (other->name, entry->name) == 0)
            {
              Entry e = { .file = entry->file ? entry->file : config->file, .line = entry->line,
                          .name = entry->name };
              fail (&e, error, VC_ERROR_CONFIG, "listed twice (first at line %d)", other->line);
              return NULL;
            }
        }
      Plugin *plugin = load_plugin (config, entry, dirs, error);
      if (plugin == NULL)
        return NULL;   /* vc_registry_free destroys those made so far */
      g_ptr_array_add (registry->plugins, plugin);
    }
  return g_steal_pointer (&registry);
}

static const KindInfo *
kind_info (VcPluginKind kind)
{
  for (gsize i = 0; i < G_N_ELEMENTS (kinds); i++)
    if (kinds[i].kind == kind)
      return &kinds[i];
  return NULL;
}

VcPlugin *
vc_registry_lookup (VcRegistry *registry, const char *name, VcPluginKind kind, GError **error)
{
  char want[64], have[64];
  g_return_val_if_fail (registry != NULL, NULL);

  if (name == NULL)
    {
      const KindInfo *k = kind_info (kind);
      const char *file = registry->config_file ? registry->config_file : "the configuration";
      if (k != NULL && k->sandbox_key != NULL)
        g_set_error (error, VC_ERROR, VC_ERROR_CONFIG, "no %s plugin is configured: set %s in %s",
                     k->name, k->sandbox_key, file);
      else
        g_set_error (error, VC_ERROR, VC_ERROR_CONFIG, "no %s plugin is configured in %s",
                     kind_names (kind, want, sizeof want), file);
      return NULL;
    }

  g_autoptr(GString) loaded = g_string_new (NULL);
  for (guint i = 0; i < registry->plugins->len; i++)
    {
      VcPlugin *plugin = g_ptr_array_index (registry->plugins, i);
      if (!g_str_equal (plugin->name, name))
        {
          g_string_append_printf (loaded, "%s%s", loaded->len ? ", " : "", plugin->name);
          continue;
        }
      if ((plugin->desc->kinds & kind) == (guint32) kind)
        return plugin;
      Entry e = { .file = ((Plugin *) plugin)->file, .line = plugin->line, .name = plugin->name };
      fail (&e, error, VC_ERROR_CONFIG, "is used as a %s plugin but implements: %s",
            kind_names (kind, want, sizeof want), kind_names (plugin->desc->kinds, have, sizeof have));
      return NULL;
    }
  g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "plugin '%s' is not loaded (loaded: %s)",
               name, loaded->len ? loaded->str : "none");
  return NULL;
}

GPtrArray *
vc_registry_list (VcRegistry *registry)
{
  return registry->plugins;
}

void
vc_registry_free (VcRegistry *registry)
{
  if (registry == NULL)
    return;
  /* Destroy in reverse order of creation. */
  for (guint i = registry->plugins->len; i > 0; i--)
    plugin_free (g_ptr_array_index (registry->plugins, i - 1));
  g_ptr_array_unref (registry->plugins);
  g_free (registry->config_file);
  g_free (registry);
}

static gpointer
vtable (VcPlugin *plugin, gsize index)
{
  g_return_val_if_fail (plugin != NULL, NULL);
  return ((Plugin *) plugin)->vtables[index];
}

const VcHypervisorOps *vc_plugin_hypervisor (VcPlugin *plugin) { return vtable (plugin, 0); }
const VcAgentOps      *vc_plugin_agent      (VcPlugin *plugin) { return vtable (plugin, 1); }
const VcFsOps         *vc_plugin_fs         (VcPlugin *plugin) { return vtable (plugin, 2); }
const VcDeviceOps     *vc_plugin_device     (VcPlugin *plugin) { return vtable (plugin, 3); }
