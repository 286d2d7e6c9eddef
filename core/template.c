/* libvcrun: sandbox templates (see template.h): building one with the
 * hypervisor plugin, starting a sandbox's VM from it, listing and removing. */
#include "config.h"

#include "sandbox-impl.h"
#include "lock.h"
#include "registry.h"
#include "state.h"
#include "template.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#define TEMPLATES_DIR   ".templates"
#define TEMPLATE_INFO   "template.json"
#define TEMPLATE_FORMAT 1
#define KEY_LENGTH      32
#define SAVE_TIMEOUT_MS 60000

void
vc_template_info_free (VcTemplateInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->key);
  g_free (info->dir);
  g_free (info->hypervisor);
  g_free (info->fs);
  g_free (info->summary);
  g_free (info->why);
  g_free (info);
}

char *
vc_runtime_get_template_dir (VcRuntime *runtime)
{
  return g_build_filename (vc_runtime_get_state_dir (runtime), TEMPLATES_DIR, NULL);
}

gboolean
vc_runtime_templates_enabled (VcRuntime *runtime)
{
  return vc_runtime_get_config (runtime)->sandbox.template;
}

/* ---- keys and identities ------------------------------------------------- */

/* What a file is now, cheaply: a rebuilt kernel or initrd gets a new inode
 * or mtime. Hashing 60 MB on every start would cost more than the restore. */
static void
append_file_identity (GString *out, const char *what, const char *path)
{
  struct stat st;
  if (path == NULL)
    g_string_append_printf (out, "%s none\n", what);
  else if (stat (path, &st) != 0)
    g_string_append_printf (out, "%s %s missing\n", what, path);
  else
    g_string_append_printf (out, "%s %s dev %" G_GUINT64_FORMAT " ino %" G_GUINT64_FORMAT " size %"
                            G_GINT64_FORMAT " mtime %" G_GINT64_FORMAT ".%09ld\n", what, path,
                            (guint64) st.st_dev, (guint64) st.st_ino, (gint64) st.st_size,
                            (gint64) st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

/* The settings a template is built for: its key is their hash. */
static char *
key_text (const VcSandboxRecord *r, GPtrArray *devices)
{
  GString *s = g_string_new (NULL);
  g_string_append_printf (s, "vcrun template %d\nhypervisor %s\nagent %s\nfs %s\n", TEMPLATE_FORMAT,
                          r->hypervisor, r->agent, r->fs);
  g_string_append_printf (s, "vcpus %u max %u\nmemory %" G_GUINT64_FORMAT " max %" G_GUINT64_FORMAT "\n",
                          r->vcpus, r->max_vcpus, r->memory_mib, r->max_memory_mib);
  g_string_append_printf (s, "kernel %s\ninitrd %s\nkernel_params %s\n", r->kernel,
                          r->initrd ? r->initrd : "", r->kernel_params ? r->kernel_params : "");
  for (guint i = 0; devices && i < devices->len; i++)
    {
      const VcDevice *d = devices->pdata[i];
      g_string_append_printf (s, "device %d id %s tag %s ro %d format %s security %s msize %u queue %u cache %"
                              G_GUINT64_FORMAT "\n", (int) d->type, d->id, d->tag ? d->tag : "",
                              d->readonly, d->format ? d->format : "", d->security_model ? d->security_model : "",
                              d->msize, d->queue_size, d->cache_size);
    }
  return g_string_free (s, FALSE);
}

static char *
identity_text (const char *kernel, const char *initrd, const VcHypervisorOps *hv,
               VcPluginInstance *instance, GError **error)
{
  g_autofree char *plugin = hv->template_identity (instance, error);
  if (plugin == NULL)
    return NULL;
  GString *s = g_string_new (NULL);
  append_file_identity (s, "kernel", kernel);
  append_file_identity (s, "initrd", initrd);
  g_string_append_printf (s, "%s\nlibvcrun %s\n", plugin, PACKAGE_VERSION);
  return g_string_free (s, FALSE);
}

/* ---- template.json -------------------------------------------------------- */

static char *
info_json (const char *key, const char *identity, const char *settings, const VcSandboxRecord *r)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "format");
  json_builder_add_int_value (b, TEMPLATE_FORMAT);
  json_builder_set_member_name (b, "key");
  json_builder_add_string_value (b, key);
  json_builder_set_member_name (b, "created");
  json_builder_add_int_value (b, g_get_real_time () / G_USEC_PER_SEC);
  json_builder_set_member_name (b, "hypervisor");
  json_builder_add_string_value (b, r->hypervisor);
  json_builder_set_member_name (b, "fs");
  json_builder_add_string_value (b, r->fs);
  json_builder_set_member_name (b, "vcpus");
  json_builder_add_int_value (b, r->vcpus);
  json_builder_set_member_name (b, "memory_mib");
  json_builder_add_int_value (b, (gint64) r->memory_mib);
  json_builder_set_member_name (b, "kernel");
  json_builder_add_string_value (b, r->kernel);
  json_builder_set_member_name (b, "initrd");
  json_builder_add_string_value (b, r->initrd ? r->initrd : "");
  json_builder_set_member_name (b, "identity");
  json_builder_add_string_value (b, identity);
  json_builder_set_member_name (b, "settings");
  json_builder_add_string_value (b, settings);
  json_builder_end_object (b);
  g_autoptr(JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, TRUE);
}

/* The template.json of dir as an object (a new reference), or NULL with why. */
static JsonObject *
info_read (const char *dir, GError **error)
{
  g_autofree char *path = g_build_filename (dir, TEMPLATE_INFO, NULL);
  g_autoptr(JsonParser) parser = json_parser_new ();
  if (!json_parser_load_from_file (parser, path, error))
    return NULL;
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)
      || json_object_get_int_member_with_default (json_node_get_object (root), "format", 0) != TEMPLATE_FORMAT
      || json_object_get_string_member_with_default (json_node_get_object (root), "identity", NULL) == NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_PROTOCOL, "%s is not a vcrun template description", path);
      return NULL;
    }
  return json_object_ref (json_node_get_object (root));
}

/* Its first line that differs from now: "kernel ... changed". */
static char *
identity_difference (const char *then, const char *now)
{
  g_auto(GStrv) a = g_strsplit (then, "\n", -1);
  g_auto(GStrv) b = g_strsplit (now, "\n", -1);
  for (guint i = 0; a[i] != NULL || b[i] != NULL; i++)
    {
      if (a[i] == NULL || b[i] == NULL || !g_str_equal (a[i], b[i]))
        {
          const char *line = b[i] != NULL ? b[i] : a[i];
          g_autofree char *what = g_strndup (line, strcspn (line, " "));
          return g_strdup_printf ("%s changed", what);
        }
      if (a[i] == NULL || b[i] == NULL)
        break;
    }
  return g_strdup ("unchanged");
}

/* ---- building and starting ------------------------------------------------- */

static gboolean
make_private_dir (const char *path, GError **error)
{
  if (g_mkdir_with_parents (path, 0700) != 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot create %s: %s", path, g_strerror (errno));
      return FALSE;
    }
  struct stat st;
  if (lstat (path, &st) != 0 || !S_ISDIR (st.st_mode) || st.st_uid != getuid ()
      || (st.st_mode & 077) != 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_ACCESS_DENIED,
                   "%s must be a directory of uid %u with mode 0700 (refusing to use it)", path,
                   (guint) getuid ());
      return FALSE;
    }
  return TRUE;
}

static gboolean
add_devices (VcSandbox *sb, VcVm *vm, GPtrArray *devices, GError **error)
{
  for (guint i = 0; devices && i < devices->len; i++)
    {
      const VcDevice *device = devices->pdata[i];
      if (!sb->hv->add_device (vm, device, NULL, error))
        {
          g_prefix_error (error, "add_device %s: ", device->id);
          return FALSE;
        }
    }
  return TRUE;
}

static void
discard_vm (VcSandbox *sb, VcVm *vm)
{
  g_autoptr(GError) error = NULL;
  if (vm == NULL)
    return;
  if (sb->hv->stop_vm && !sb->hv->stop_vm (vm, 0, &error))
    g_warning ("sandbox %s: template: stop_vm: %s", sb->id, error->message);
  sb->hv->free_vm (vm);
}

/* Boots a VM laid out like the sandbox's in tmp and saves it there. */
static gboolean
build (VcSandbox *sb, GPtrArray *devices, const char *key, const char *tmp, GError **error)
{
  gint64 start = g_get_monotonic_time ();
  g_autofree char *vm_id = g_strdup_printf ("vc-template-%.12s", key);
  VcVmConfig config;
  g_mutex_lock (&sb->state_mutex);
  g_autoptr(VcSandboxRecord) r = vc_sandbox_record_copy (sb->record);
  vc_sandbox_fill_vm_config (sb, &config);
  g_mutex_unlock (&sb->state_mutex);
  config.kernel = r->kernel;
  config.initrd = r->initrd;
  config.kernel_params = r->kernel_params;
  config.sandbox_id = vm_id;
  config.state_dir = tmp;
  config.event_func = NULL;
  config.event_data = NULL;
  config.template_mode = VC_VM_TEMPLATE_CREATE;
  config.template_dir = tmp;

  VcVm *vm = sb->hv->create_vm (sb->hv_plugin->instance, &config, error);
  if (vm == NULL)
    return FALSE;
  gboolean ok = add_devices (sb, vm, devices, error)
                && sb->hv->start_vm (vm, sb->boot_timeout_ms, error)
                && (sb->hv->wait_agent_channel == NULL
                    || sb->hv->wait_agent_channel (vm, sb->boot_timeout_ms, error))
                && sb->hv->save_template (vm, SAVE_TIMEOUT_MS, error);
  if (!ok)
    {
      discard_vm (sb, vm);
      return FALSE;
    }
  sb->hv->free_vm (vm);
  g_message ("sandbox %s: built template %s in %" G_GINT64_FORMAT " ms", sb->id, key,
             (g_get_monotonic_time () - start) / 1000);
  return TRUE;
}

/* A build interrupted by a killed creator may have left its template VM
 * running (QEMU runs in a session of its own): end it before reusing tmp. */
static void
kill_abandoned_build (const char *tmp)
{
  g_autofree char *pid_file = g_build_filename (tmp, "qemu.pid", NULL);
  g_autofree char *text = NULL;
  if (!g_file_get_contents (pid_file, &text, NULL, NULL))
    return;
  gint64 pid = g_ascii_strtoll (text, NULL, 10);
  if (pid <= 1 || pid > G_MAXINT)
    return;
  g_autofree char *cmdline_path = g_strdup_printf ("/proc/%" G_GINT64_FORMAT "/cmdline", pid);
  g_autofree char *cmdline = NULL;
  gsize len = 0;
  if (!g_file_get_contents (cmdline_path, &cmdline, &len, NULL))
    return;
  for (gsize i = 0; i + 1 < len; i++)
    if (cmdline[i] == '\0')
      cmdline[i] = ' ';
  if (strstr (cmdline, tmp) == NULL)
    return;  /* the pid was reused */
  g_message ("template: ending the VM (pid %" G_GINT64_FORMAT ") of an interrupted build in %s", pid, tmp);
  kill ((pid_t) pid, SIGKILL);
  for (int i = 0; i < 100 && kill ((pid_t) pid, 0) == 0; i++)
    g_usleep (20 * 1000);
}

/* Under the template's lock: a template in dir that matches identity,
 * built now if there was none or a stale or unreadable one. */
static gboolean
ensure (VcSandbox *sb, GPtrArray *devices, const char *key, const char *dir, const char *identity,
        const char *settings, GError **error)
{
  if (g_file_test (dir, G_FILE_TEST_EXISTS))
    {
      g_autoptr(GError) local = NULL;
      g_autoptr(JsonObject) info = info_read (dir, &local);
      const char *then = info ? json_object_get_string_member (info, "identity") : NULL;
      if (then != NULL && g_str_equal (then, identity))
        return TRUE;
      if (!sb->template_build)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND,
                       "template %s became stale, and only the configured sandbox settings get "
                       "one rebuilt automatically", key);
          return FALSE;
        }
      g_autofree char *why = then ? identity_difference (then, identity) : g_strdup (local->message);
      g_message ("sandbox %s: template %s is stale (%s): rebuilding it", sb->id, key, why);
      if (!vc_state_remove_dir (dir, error))
        return FALSE;
    }
  if (!sb->template_build)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND,
                   "template %s was removed, and only the configured sandbox settings get one "
                   "built automatically", key);
      return FALSE;
    }
  g_autofree char *tmp = g_strconcat (dir, ".new", NULL);
  kill_abandoned_build (tmp);
  if (!vc_state_remove_dir (tmp, error) || !make_private_dir (tmp, error))
    return FALSE;
  g_mutex_lock (&sb->state_mutex);
  g_autofree char *json = info_json (key, identity, settings, sb->record);
  g_mutex_unlock (&sb->state_mutex);
  if (!build (sb, devices, key, tmp, error)
      || !vc_state_write_file_atomic (tmp, TEMPLATE_INFO, json, strlen (json), error)
      || rename (tmp, dir) != 0)
    {
      if (error && *error == NULL)
        g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot rename %s: %s", tmp, g_strerror (errno));
      vc_state_remove_dir (tmp, NULL);
      return FALSE;
    }
  return TRUE;
}

/* The template sb's settings and devices call for: its key, settings text
 * (the key's source), directory and the identity it must have to be used. */
static gboolean
describe_wanted (VcSandbox *sb, GPtrArray *devices, char **key, char **settings, char **dir,
                 char **identity, GError **error)
{
  g_autofree char *root = vc_runtime_get_template_dir (sb->runtime);
  g_mutex_lock (&sb->state_mutex);
  *settings = key_text (sb->record, devices);
  g_autoptr(VcSandboxRecord) r = vc_sandbox_record_copy (sb->record);
  g_mutex_unlock (&sb->state_mutex);
  *key = g_compute_checksum_for_string (G_CHECKSUM_SHA256, *settings, -1);
  (*key)[KEY_LENGTH] = '\0';
  *dir = g_build_filename (root, *key, NULL);
  *identity = identity_text (r->kernel, r->initrd, sb->hv, sb->hv_plugin->instance, error);
  return *identity != NULL;
}

gboolean
vc_template_wanted (VcSandbox *sb)
{
  guint64 caps = sb->hv->capabilities ? sb->hv->capabilities (sb->hv_plugin->instance) : 0;
  return sb->use_template && (caps & VC_HV_CAP_TEMPLATE) && sb->hv->template_identity
         && sb->hv->save_template && sb->hv->add_device;
}

gboolean
vc_template_usable (VcSandbox *sb, GPtrArray *devices)
{
  if (sb->template_build)
    return TRUE;
  /* Other settings than the configuration's (a caller's memory size, say):
   * a current template is used, none is built, so that templates do not pile
   * up one per setting a caller ever asked for. */
  g_autofree char *key = NULL, *settings = NULL, *dir = NULL, *identity = NULL;
  g_autoptr(GError) error = NULL;
  if (!describe_wanted (sb, devices, &key, &settings, &dir, &identity, &error))
    {
      g_info ("sandbox %s: booting cold: %s", sb->id, error->message);
      return FALSE;
    }
  g_autoptr(JsonObject) info = info_read (dir, NULL);
  const char *then = info ? json_object_get_string_member_with_default (info, "identity", NULL) : NULL;
  if (then != NULL && g_str_equal (then, identity))
    return TRUE;
  g_info ("sandbox %s: no current template %s for its settings, which are not the configured ones "
          "(only those get a template built automatically): booting cold", sb->id, key);
  return FALSE;
}

gboolean
vc_template_start_vm (VcSandbox *sb, GPtrArray *devices, GError **error)
{
  g_autofree char *root = vc_runtime_get_template_dir (sb->runtime);
  if (!make_private_dir (root, error))
    return FALSE;
  g_autofree char *key = NULL, *settings = NULL, *dir = NULL, *identity = NULL;
  if (!describe_wanted (sb, devices, &key, &settings, &dir, &identity, error))
    return FALSE;
  g_autofree char *lock_path = g_strconcat (dir, ".lock", NULL);
  g_autofree char *what = g_strdup_printf ("template %s", key);

  {
    /* Long enough for another process to build it. */
    g_autoptr(VcLock) lock = vc_lock_acquire (lock_path, what, sb->boot_timeout_ms + SAVE_TIMEOUT_MS, error);
    if (lock == NULL || !ensure (sb, devices, key, dir, identity, settings, error))
      return FALSE;
  }

  VcVmConfig config;
  g_mutex_lock (&sb->state_mutex);
  vc_sandbox_fill_vm_config (sb, &config);   /* strings live in the record, unchanged until ready */
  g_mutex_unlock (&sb->state_mutex);
  config.template_mode = VC_VM_TEMPLATE_RESTORE;
  config.template_dir = dir;
  VcVm *vm = sb->hv->create_vm (sb->hv_plugin->instance, &config, error);
  if (vm == NULL)
    return FALSE;
  if (!add_devices (sb, vm, devices, error) || !sb->hv->start_vm (vm, sb->boot_timeout_ms, error))
    {
      discard_vm (sb, vm);
      /* Unusable: the next sandbox builds it again rather than failing alike. */
      g_prefix_error (error, "template %s: ", dir);
      g_autoptr(VcLock) lock = vc_lock_acquire (lock_path, what, 1000, NULL);
      if (lock != NULL)
        vc_state_remove_dir (dir, NULL);
      return FALSE;
    }
  sb->vm = vm;
  g_free (sb->template_dir);
  sb->template_dir = g_steal_pointer (&dir);
  return TRUE;
}

const char *
vc_sandbox_get_template_dir (VcSandbox *sb)
{
  return sb->template_dir;
}

char *
vc_runtime_build_template (VcRuntime *runtime, GError **error)
{
  g_autofree char *id = g_strdup_printf ("vc-template-build-%d", (int) getpid ());
  VcSandboxOptions options = { .use_template = 1 };
  g_autoptr(VcSandbox) sb = vc_sandbox_create (runtime, id, &options, error);
  if (sb == NULL)
    return NULL;
  g_autofree char *dir = g_strdup (sb->template_dir);
  if (!vc_sandbox_delete (sb, TRUE, error))
    return NULL;
  if (dir == NULL)
    g_set_error (error, VC_ERROR, VC_ERROR_FAILED,
                 "the sandbox booted but not from a template: the hypervisor plugin %s has none, "
                 "or building or restoring it failed (see the warning above)", sb->record->hypervisor);
  return g_steal_pointer (&dir);
}

/* ---- listing and removing -------------------------------------------------- */

static guint64
disk_use (const char *dir)
{
  guint64 total = 0;
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  while (d && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      struct stat st;
      if (lstat (path, &st) == 0 && S_ISREG (st.st_mode))
        total += (guint64) st.st_blocks * 512;
    }
  return total;
}

static VcTemplateInfo *
describe (VcRuntime *runtime, const char *root, const char *key)
{
  VcTemplateInfo *t = g_new0 (VcTemplateInfo, 1);
  t->key = g_strdup (key);
  t->dir = g_build_filename (root, key, NULL);
  t->bytes = disk_use (t->dir);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) info = info_read (t->dir, &error);
  if (info == NULL)
    {
      t->why = g_strdup (error->message);
      return t;
    }
  t->hypervisor = g_strdup (json_object_get_string_member_with_default (info, "hypervisor", "?"));
  t->fs = g_strdup (json_object_get_string_member_with_default (info, "fs", "?"));
  t->created = json_object_get_int_member_with_default (info, "created", 0);
  const char *kernel = json_object_get_string_member_with_default (info, "kernel", NULL);
  const char *initrd = json_object_get_string_member_with_default (info, "initrd", "");
  t->summary = g_strdup_printf ("%" G_GINT64_FORMAT " vCPU, %" G_GINT64_FORMAT " MiB, %s, %s",
                                json_object_get_int_member_with_default (info, "vcpus", 0),
                                json_object_get_int_member_with_default (info, "memory_mib", 0),
                                t->fs, kernel ? kernel : "?");
  VcPlugin *plugin = vc_registry_lookup (vc_runtime_get_registry (runtime), t->hypervisor,
                                         VC_PLUGIN_KIND_HYPERVISOR, &error);
  const VcHypervisorOps *hv = plugin ? vc_plugin_hypervisor (plugin) : NULL;
  if (hv == NULL || hv->template_identity == NULL)
    {
      t->why = g_strdup_printf ("hypervisor %s is not loaded or has no templates", t->hypervisor);
      return t;
    }
  g_autofree char *now = identity_text (kernel, *initrd ? initrd : NULL, hv, plugin->instance, &error);
  if (now == NULL)
    {
      t->why = g_strdup (error->message);
      return t;
    }
  const char *then = json_object_get_string_member (info, "identity");
  t->usable = g_str_equal (then, now);
  if (!t->usable)
    t->why = identity_difference (then, now);
  return t;
}

static gboolean
is_key (const char *name)
{
  if (strlen (name) != KEY_LENGTH)
    return FALSE;
  for (const char *p = name; *p; p++)
    if (!g_ascii_isxdigit (*p))
      return FALSE;
  return TRUE;
}

guint
vc_template_count (const char *state_dir)
{
  g_autofree char *root = g_build_filename (state_dir, TEMPLATES_DIR, NULL);
  g_autoptr(GDir) dir = g_dir_open (root, 0, NULL);
  guint n = 0;
  const char *name;
  while (dir && (name = g_dir_read_name (dir)) != NULL)
    n += is_key (name);
  return n;
}

static gint
compare_keys (gconstpointer a, gconstpointer b)
{
  return strcmp ((*(VcTemplateInfo *const *) a)->key, (*(VcTemplateInfo *const *) b)->key);
}

GPtrArray *
vc_runtime_list_templates (VcRuntime *runtime, GError **error)
{
  g_autoptr(GPtrArray) list = g_ptr_array_new_with_free_func ((GDestroyNotify) vc_template_info_free);
  g_autofree char *root = vc_runtime_get_template_dir (runtime);
  g_autoptr(GError) local = NULL;
  g_autoptr(GDir) dir = g_dir_open (root, 0, &local);
  if (dir == NULL)
    {
      if (g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return g_steal_pointer (&list);
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot list %s: %s", root, local->message);
      return NULL;
    }
  const char *name;
  while ((name = g_dir_read_name (dir)) != NULL)
    if (is_key (name))
      g_ptr_array_add (list, describe (runtime, root, name));
  g_ptr_array_sort (list, compare_keys);
  return g_steal_pointer (&list);
}

gboolean
vc_runtime_remove_templates (VcRuntime *runtime, const char *prefix, guint *removed, GError **error)
{
  *removed = 0;
  g_autoptr(GPtrArray) list = vc_runtime_list_templates (runtime, error);
  if (list == NULL)
    return FALSE;
  g_autoptr(GPtrArray) chosen = g_ptr_array_new ();
  for (guint i = 0; i < list->len; i++)
    {
      VcTemplateInfo *t = list->pdata[i];
      if (prefix == NULL || g_str_has_prefix (t->key, prefix))
        g_ptr_array_add (chosen, t);
    }
  if (prefix != NULL && chosen->len != 1)
    {
      if (chosen->len == 0)
        g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "no template '%s' (see vcrun template list)", prefix);
      else
        g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                     "template '%s' is ambiguous: %u templates start with it", prefix, chosen->len);
      return FALSE;
    }
  for (guint i = 0; i < chosen->len; i++)
    {
      VcTemplateInfo *t = chosen->pdata[i];
      g_autofree char *lock_path = g_strconcat (t->dir, ".lock", NULL);
      g_autofree char *what = g_strdup_printf ("template %s", t->key);
      g_autoptr(VcLock) lock = vc_lock_acquire (lock_path, what, vc_runtime_get_lock_timeout (runtime), error);
      if (lock == NULL || !vc_state_remove_dir (t->dir, error))
        return FALSE;
      g_unlink (lock_path);
      (*removed)++;
    }
  return TRUE;
}
