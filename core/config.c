/* libvcrun: reading and validating the runtime configuration file.
 *
 * Every key the core owns is checked here: unknown keys, wrong types, values
 * out of range and missing files are VC_ERROR_CONFIG errors whose message
 * starts with "FILE:LINE: " and names the key. Plugin settings are kept raw
 * (with their lines) for the loader, which checks them against the plugin's
 * own VcSettingSpec.
 */
#include "config.h"
#include "vc-config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <libconfig.h>

#define DEFAULT_STATE_DIR   "/run/vcrun"
#define DEFAULT_LOG_LEVEL   "info"
#define DEFAULT_VCPUS       1
#define DEFAULT_MEMORY_MIB  256
#define MIN_VCPUS           1
#define MAX_VCPUS           256
#define MIN_MEMORY_MIB      64
#define MAX_MEMORY_MIB      1048576

static const char *const log_levels[] = { "error", "warning", "info", "debug", NULL };

typedef struct {
  const char *file;   /* the top-level file, for settings without their own */
  const char *dir;    /* its directory, where @include looks */
} Parser;

/* libconfig names an @include'd file as written; make it a usable path. */
static char *
resolve_file (const Parser *p, const char *f)
{
  if (f == NULL || g_str_equal (f, p->file) || g_path_is_absolute (f))
    return g_strdup (f != NULL ? f : p->file);
  return g_build_filename (p->dir, f, NULL);
}

/* The file of s when it is not the top-level file, else NULL. */
static char *
included_file (const Parser *p, const config_setting_t *s)
{
  const char *f = config_setting_source_file (s);
  if (f == NULL || g_str_equal (f, p->file))
    return NULL;
  return resolve_file (p, f);
}

static gboolean G_GNUC_PRINTF (4, 5)
fail_at (const Parser *p, const config_setting_t *s, GError **error, const char *format, ...)
{
  va_list ap;
  va_start (ap, format);
  g_autofree char *msg = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_autofree char *file = resolve_file (p, config_setting_source_file (s));
  g_set_error (error, VC_ERROR, VC_ERROR_CONFIG, "%s:%u: %s",
               file, config_setting_source_line (s), msg);
  return FALSE;
}

static const char *
type_name (int type)
{
  switch (type)
    {
    case CONFIG_TYPE_GROUP:  return "a group";
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:  return "an integer";
    case CONFIG_TYPE_FLOAT:  return "a float";
    case CONFIG_TYPE_STRING: return "a string";
    case CONFIG_TYPE_BOOL:   return "a boolean";
    case CONFIG_TYPE_ARRAY:  return "an array";
    case CONFIG_TYPE_LIST:   return "a list";
    default:                 return "an unknown type";
    }
}

/* "sandbox.vcpus", or just "name" for a member of an unnamed list element. */
static char *
key_path (const char *prefix, const config_setting_t *s)
{
  const char *name = config_setting_name (s);
  return prefix != NULL ? g_strdup_printf ("%s.%s", prefix, name) : g_strdup (name);
}

/* Refuses any member of group not named in allowed. */
static gboolean
check_known_keys (const Parser *p, const config_setting_t *group, const char *prefix,
                  const char *const *allowed, GError **error)
{
  int n = config_setting_length (group);
  for (int i = 0; i < n; i++)
    {
      config_setting_t *member = config_setting_get_elem (group, i);
      const char *name = config_setting_name (member);
      if (g_strv_contains (allowed, name))
        continue;
      g_autofree char *expected = g_strjoinv (", ", (char **) allowed);
      g_autofree char *path = key_path (prefix, member);
      return fail_at (p, member, error, "unknown key '%s' (expected one of: %s)", path, expected);
    }
  return TRUE;
}

/* A group at the top level, or NULL when absent (not an error). */
static gboolean
get_group (const Parser *p, config_setting_t *parent, const char *name, const char *prefix,
           config_setting_t **out, GError **error)
{
  config_setting_t *s = config_setting_get_member (parent, name);
  *out = NULL;
  if (s == NULL)
    return TRUE;
  if (!config_setting_is_group (s))
    {
      g_autofree char *path = key_path (prefix, s);
      return fail_at (p, s, error, "'%s' must be a group { ... }, not %s",
                      path, type_name (config_setting_type (s)));
    }
  *out = s;
  return TRUE;
}

/* Reads an optional string member; *out is left alone when absent. */
static gboolean
get_string (const Parser *p, const config_setting_t *group, const char *name, const char *prefix,
            char **out, config_setting_t **where, GError **error)
{
  config_setting_t *s = config_setting_get_member (group, name);
  if (where != NULL)
    *where = s;
  if (s == NULL)
    return TRUE;
  g_autofree char *path = key_path (prefix, s);
  if (config_setting_type (s) != CONFIG_TYPE_STRING)
    return fail_at (p, s, error, "'%s' must be a string, not %s",
                    path, type_name (config_setting_type (s)));
  const char *value = config_setting_get_string (s);
  if (value[0] == '\0')
    return fail_at (p, s, error, "'%s' must not be empty", path);
  if (!g_utf8_validate (value, -1, NULL))
    return fail_at (p, s, error, "'%s' is not valid UTF-8", path);
  g_free (*out);
  *out = g_strdup (value);
  return TRUE;
}

/* Reads an optional boolean member; *out is left alone when absent. */
static gboolean
get_bool (const Parser *p, const config_setting_t *group, const char *name, const char *prefix,
          gboolean *out, GError **error)
{
  config_setting_t *s = config_setting_get_member (group, name);
  if (s == NULL)
    return TRUE;
  g_autofree char *path = key_path (prefix, s);
  if (config_setting_type (s) != CONFIG_TYPE_BOOL)
    return fail_at (p, s, error, "'%s' must be true or false, not %s", path,
                    type_name (config_setting_type (s)));
  *out = config_setting_get_bool (s) != 0;
  return TRUE;
}

/* Reads an optional integer member within [min, max]; *out is left alone when absent. */
static gboolean
get_int (const Parser *p, const config_setting_t *group, const char *name, const char *prefix,
         gint64 min, gint64 max, gint64 *out, config_setting_t **where, GError **error)
{
  config_setting_t *s = config_setting_get_member (group, name);
  if (where != NULL)
    *where = s;
  if (s == NULL)
    return TRUE;
  g_autofree char *path = key_path (prefix, s);
  int type = config_setting_type (s);
  if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
    return fail_at (p, s, error, "'%s' must be an integer, not %s", path, type_name (type));
  gint64 value = config_setting_get_int64 (s);
  if (value < min || value > max)
    return fail_at (p, s, error, "'%s' is %" G_GINT64_FORMAT ", expected %" G_GINT64_FORMAT
                    "..%" G_GINT64_FORMAT, path, value, min, max);
  *out = value;
  return TRUE;
}

static gboolean
check_absolute (const Parser *p, const config_setting_t *s, const char *prefix, const char *value,
                GError **error)
{
  if (s == NULL || g_path_is_absolute (value))
    return TRUE;
  g_autofree char *path = key_path (prefix, s);
  return fail_at (p, s, error, "'%s' must be an absolute path, not '%s'", path, value);
}

/* ------------------------------------------------------------------------- */

static gboolean
parse_runtime (const Parser *p, config_setting_t *root, VcConfig *config, GError **error)
{
  static const char *const keys[] = { "state_dir", "log_level", "plugin_dir", NULL };
  config_setting_t *group, *where;

  if (!get_group (p, root, "runtime", NULL, &group, error))
    return FALSE;
  if (group == NULL)
    return TRUE;
  if (!check_known_keys (p, group, "runtime", keys, error))
    return FALSE;

  if (!get_string (p, group, "state_dir", "runtime", &config->state_dir, &where, error) ||
      !check_absolute (p, where, "runtime", config->state_dir, error))
    return FALSE;

  if (!get_string (p, group, "log_level", "runtime", &config->log_level, &where, error))
    return FALSE;
  if (!g_strv_contains (log_levels, config->log_level))
    {
      g_autofree char *expected = g_strjoinv ("|", (char **) log_levels);
      return fail_at (p, where, error, "'runtime.log_level' is '%s', expected one of %s",
                      config->log_level, expected);
    }

  if (!get_string (p, group, "plugin_dir", "runtime", &config->plugin_dir, &where, error))
    return FALSE;
  if (where != NULL)
    {
      g_auto(GStrv) dirs = g_strsplit (config->plugin_dir, ":", -1);
      for (char **d = dirs; *d != NULL; d++)
        if (**d != '\0' && !g_path_is_absolute (*d))
          return fail_at (p, where, error,
                          "'runtime.plugin_dir' holds '%s', expected absolute paths separated by ':'",
                          *d);
    }
  return TRUE;
}

static void
raw_setting_free (VcRawSetting *raw)
{
  g_free (raw->key);
  g_free (raw->file);
  g_variant_unref (raw->value);
  g_free (raw);
}

static void
plugin_entry_free (VcPluginEntry *entry)
{
  g_free (entry->name);
  g_free (entry->file);
  g_ptr_array_unref (entry->settings);
  g_free (entry);
}

/* Keeps each scalar of a plugin's settings group with its line. */
static gboolean
parse_plugin_settings (const Parser *p, config_setting_t *group, VcPluginEntry *entry,
                       GError **error)
{
  int n = config_setting_length (group);
  for (int i = 0; i < n; i++)
    {
      config_setting_t *s = config_setting_get_elem (group, i);
      GVariant *value;
      switch (config_setting_type (s))
        {
        case CONFIG_TYPE_BOOL:
          value = g_variant_new_boolean (config_setting_get_bool (s));
          break;
        case CONFIG_TYPE_INT:
        case CONFIG_TYPE_INT64:
          value = g_variant_new_int64 (config_setting_get_int64 (s));
          break;
        case CONFIG_TYPE_STRING:
          /* A GVariant string must be UTF-8. */
          if (!g_utf8_validate (config_setting_get_string (s), -1, NULL))
            return fail_at (p, s, error, "plugin '%s': setting '%s' is not valid UTF-8",
                            entry->name, config_setting_name (s));
          value = g_variant_new_string (config_setting_get_string (s));
          break;
        default:
          return fail_at (p, s, error,
                          "plugin '%s': setting '%s' must be a boolean, an integer or a string, not %s",
                          entry->name, config_setting_name (s), type_name (config_setting_type (s)));
        }
      VcRawSetting *raw = g_new0 (VcRawSetting, 1);
      raw->key = g_strdup (config_setting_name (s));
      raw->value = g_variant_ref_sink (value);
      raw->line = config_setting_source_line (s);
      raw->file = included_file (p, s);
      g_ptr_array_add (entry->settings, raw);
    }
  return TRUE;
}

static gboolean
parse_plugins (const Parser *p, config_setting_t *root, VcConfig *config, GError **error)
{
  static const char *const keys[] = { "name", "settings", NULL };
  config_setting_t *list = config_setting_get_member (root, "plugins");
  if (list == NULL)
    return TRUE;
  if (!config_setting_is_list (list) && !config_setting_is_array (list))
    return fail_at (p, list, error, "'plugins' must be a list ( { name = \"...\"; }, ... ), not %s",
                    type_name (config_setting_type (list)));

  int n = config_setting_length (list);
  for (int i = 0; i < n; i++)
    {
      config_setting_t *item = config_setting_get_elem (list, i);
      if (!config_setting_is_group (item))
        return fail_at (p, item, error,
                        "plugins entry %d must be a group { name = \"...\"; }, not %s",
                        i + 1, type_name (config_setting_type (item)));
      g_autofree char *prefix = g_strdup_printf ("plugins[%d]", i);
      if (!check_known_keys (p, item, prefix, keys, error))
        return FALSE;

      g_autofree char *name = NULL;
      config_setting_t *where;
      if (!get_string (p, item, "name", prefix, &name, &where, error))
        return FALSE;
      if (name == NULL)
        return fail_at (p, item, error, "plugins entry %d has no 'name'", i + 1);
      g_autoptr(GError) name_error = NULL;
      if (!vc_plugin_name_check (name, &name_error))
        return fail_at (p, where, error, "%s", name_error->message);
      for (guint j = 0; j < config->plugins->len; j++)
        {
          VcPluginEntry *other = g_ptr_array_index (config->plugins, j);
          if (!g_str_equal (other->name, name))
            continue;
          if (other->file != NULL)
            return fail_at (p, where, error, "plugin '%s' is listed twice (first at %s:%d)",
                            name, other->file, other->line);
          return fail_at (p, where, error, "plugin '%s' is listed twice (first at line %d)",
                          name, other->line);
        }

      VcPluginEntry *entry = g_new0 (VcPluginEntry, 1);
      entry->name = g_steal_pointer (&name);
      entry->line = config_setting_source_line (item);
      entry->file = included_file (p, item);
      entry->settings = g_ptr_array_new_with_free_func ((GDestroyNotify) raw_setting_free);
      g_ptr_array_add (config->plugins, entry);

      config_setting_t *settings;
      g_autofree char *settings_prefix = g_strdup_printf ("plugins[%d]", i);
      if (!get_group (p, item, "settings", settings_prefix, &settings, error))
        return FALSE;
      if (settings != NULL && !parse_plugin_settings (p, settings, entry, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
check_plugin_reference (const Parser *p, const config_setting_t *where, const char *value,
                        const VcConfig *config, GError **error)
{
  if (where == NULL)
    return TRUE;
  g_autoptr(GString) listed = g_string_new (NULL);
  for (guint i = 0; i < config->plugins->len; i++)
    {
      VcPluginEntry *entry = g_ptr_array_index (config->plugins, i);
      if (g_str_equal (entry->name, value))
        return TRUE;
      g_string_append_printf (listed, "%s%s", i ? ", " : "", entry->name);
    }
  g_autofree char *path = key_path ("sandbox", where);
  return fail_at (p, where, error, "'%s' names plugin '%s', which is not in the plugins list (%s)",
                  path, value, listed->len ? listed->str : "empty");
}

static gboolean
parse_sandbox (const Parser *p, config_setting_t *root, VcConfig *config, GError **error)
{
  static const char *const keys[] = {
    "hypervisor", "agent", "fs", "vcpus", "max_vcpus", "memory_mib", "max_memory_mib",
    "kernel", "initrd", "kernel_params", "template", NULL
  };
  VcSandboxDefaults *sb = &config->sandbox;
  config_setting_t *group, *where, *max_where;
  gint64 value;

  if (!get_group (p, root, "sandbox", NULL, &group, error))
    return FALSE;
  if (group == NULL)
    return TRUE;
  if (!check_known_keys (p, group, "sandbox", keys, error))
    return FALSE;

  if (!get_string (p, group, "hypervisor", "sandbox", &sb->hypervisor, &where, error) ||
      !check_plugin_reference (p, where, sb->hypervisor, config, error) ||
      !get_string (p, group, "agent", "sandbox", &sb->agent, &where, error) ||
      !check_plugin_reference (p, where, sb->agent, config, error) ||
      !get_string (p, group, "fs", "sandbox", &sb->fs, &where, error) ||
      !check_plugin_reference (p, where, sb->fs, config, error))
    return FALSE;

  value = sb->vcpus;
  if (!get_int (p, group, "vcpus", "sandbox", MIN_VCPUS, MAX_VCPUS, &value, NULL, error))
    return FALSE;
  sb->vcpus = value;
  value = sb->max_vcpus;
  if (!get_int (p, group, "max_vcpus", "sandbox", MIN_VCPUS, MAX_VCPUS, &value, &max_where, error))
    return FALSE;
  sb->max_vcpus = value;
  if (max_where != NULL && sb->max_vcpus < sb->vcpus)
    return fail_at (p, max_where, error, "'sandbox.max_vcpus' is %u, expected at least vcpus (%u)",
                    sb->max_vcpus, sb->vcpus);

  value = sb->memory_mib;
  if (!get_int (p, group, "memory_mib", "sandbox", MIN_MEMORY_MIB, MAX_MEMORY_MIB, &value, NULL, error))
    return FALSE;
  sb->memory_mib = value;
  value = sb->max_memory_mib;
  if (!get_int (p, group, "max_memory_mib", "sandbox", MIN_MEMORY_MIB, MAX_MEMORY_MIB, &value,
                &max_where, error))
    return FALSE;
  sb->max_memory_mib = value;
  if (max_where != NULL && sb->max_memory_mib < sb->memory_mib)
    return fail_at (p, max_where, error,
                    "'sandbox.max_memory_mib' is %" G_GUINT64_FORMAT
                    ", expected at least memory_mib (%" G_GUINT64_FORMAT ")",
                    sb->max_memory_mib, sb->memory_mib);

  if (!get_string (p, group, "kernel", "sandbox", &sb->kernel, &where, error) ||
      !check_absolute (p, where, "sandbox", sb->kernel, error) ||
      !get_string (p, group, "initrd", "sandbox", &sb->initrd, &where, error) ||
      !check_absolute (p, where, "sandbox", sb->initrd, error) ||
      !get_string (p, group, "kernel_params", "sandbox", &sb->kernel_params, NULL, error) ||
      !get_bool (p, group, "template", "sandbox", &sb->template, error))
    return FALSE;
  return TRUE;
}

/* ------------------------------------------------------------------------- */

gboolean
vc_plugin_name_check (const char *name, GError **error)
{
  if (name == NULL || name[0] == '\0')
    {
      g_set_error (error, VC_ERROR, VC_ERROR_CONFIG, "plugin name is empty");
      return FALSE;
    }
  if (strchr (name, '/') != NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_CONFIG,
                   "plugin name '%s' contains '/': a name is a file name in the plugin directory",
                   name);
      return FALSE;
    }
  if (strstr (name, "..") != NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_CONFIG, "plugin name '%s' contains '..'", name);
      return FALSE;
    }
  gboolean valid = strlen (name) <= VC_PLUGIN_NAME_MAX &&
                   (g_ascii_islower (name[0]) || g_ascii_isdigit (name[0]));
  for (const char *c = name; valid && *c != '\0'; c++)
    valid = g_ascii_islower (*c) || g_ascii_isdigit (*c) || *c == '_' || *c == '.' || *c == '-';
  if (!valid)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_CONFIG,
                   "plugin name '%s' is invalid: expected ^[a-z0-9][a-z0-9_.-]*$, at most %d characters",
                   name, VC_PLUGIN_NAME_MAX);
      return FALSE;
    }
  return TRUE;
}

VcConfig *
vc_config_new_default (void)
{
  VcConfig *config = g_new0 (VcConfig, 1);
  config->state_dir = g_strdup (DEFAULT_STATE_DIR);
  config->log_level = g_strdup (DEFAULT_LOG_LEVEL);
  config->plugins = g_ptr_array_new_with_free_func ((GDestroyNotify) plugin_entry_free);
  config->sandbox.vcpus = DEFAULT_VCPUS;
  config->sandbox.memory_mib = DEFAULT_MEMORY_MIB;
  config->sandbox.kernel = g_strdup (VC_GUEST_DIR "/vmlinuz");
  config->sandbox.initrd = g_strdup (VC_GUEST_DIR "/initrd.img");
  config->sandbox.template = VC_DEFAULT_TEMPLATE;
  return config;
}

static void
libconfig_free (config_t *cfg)
{
  config_destroy (cfg);
  g_free (cfg);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (config_t, libconfig_free)

#define MAX_INCLUDE_DEPTH 10

static const char *
skip_blanks (const char *p, const char *end)
{
  while (p < end && (*p == ' ' || *p == '\t'))
    p++;
  return p;
}

/* libconfig 1.5's scanner calls exit() ("input in flex scanner failed")
 * when an @include names something it cannot read as a file, such as a
 * directory or "": every @include, recursively, must name a regular file.
 * Names are relative to dir, the top file's directory, as for libconfig. */
static gboolean
check_includes (const char *file, const char *dir, int depth, GError **error)
{
  g_autofree char *text = NULL;
  gsize len = 0;
  if (!g_file_get_contents (file, &text, &len, NULL))
    return TRUE;  /* libconfig says why */
  const char *end = text + len;
  int line = 1;
  for (const char *p = text; p < end; line++)
    {
      const char *eol = memchr (p, '\n', (gsize) (end - p));
      const char *stop = eol != NULL ? eol : end;
      const char *q = skip_blanks (p, stop);
      p = eol != NULL ? eol + 1 : end;
      if (stop - q < 8 || strncmp (q, "@include", 8) != 0)
        continue;
      q = skip_blanks (q + 8, stop);
      const char *close = q < stop && *q == '"' ? memchr (q + 1, '"', (gsize) (stop - q - 1)) : NULL;
      g_autofree char *raw = close != NULL ? g_strndup (q + 1, (gsize) (close - q - 1)) : NULL;
      g_autofree char *shown = g_utf8_make_valid (raw != NULL ? raw : "", -1);
      if (raw == NULL || raw[0] == '\0' || strlen (raw) != (gsize) (close - q - 1)
          || strchr (raw, '\\') != NULL)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_CONFIG,
                       "%s:%d: @include needs a file name in double quotes", file, line);
          return FALSE;
        }
      if (depth >= MAX_INCLUDE_DEPTH)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_CONFIG,
                       "%s:%d: @include \"%s\": nested deeper than %d files", file, line, shown,
                       MAX_INCLUDE_DEPTH);
          return FALSE;
        }
      g_autofree char *path = g_path_is_absolute (raw) ? g_strdup (raw)
                                                       : g_build_filename (dir, raw, NULL);
      if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
        {
          g_set_error (error, VC_ERROR, VC_ERROR_CONFIG, "%s:%d: @include \"%s\": not a file",
                       file, line, shown);
          return FALSE;
        }
      if (!check_includes (path, dir, depth + 1, error))
        return FALSE;
    }
  return TRUE;
}

VcConfig *
vc_config_load (const char *path, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);

  /* libconfig only says "file I/O error"; say why the file cannot be read. */
  FILE *f = fopen (path, "r");
  if (f == NULL)
    {
      int saved = errno;
      g_set_error (error, VC_ERROR, VC_ERROR_CONFIG, "%s: cannot read the configuration file: %s",
                   path, g_strerror (saved));
      return NULL;
    }
  fclose (f);

  g_autoptr(config_t) cfg = g_new0 (config_t, 1);
  config_init (cfg);
  /* @include paths are relative to the including file's directory. */
  g_autofree char *dir = g_path_get_dirname (path);
  config_set_include_dir (cfg, dir);
  Parser p = { .file = path, .dir = dir };
  if (!check_includes (path, dir, 0, error))
    return NULL;
  if (!config_read_file (cfg, path))
    {
      g_autofree char *file = resolve_file (&p, config_error_file (cfg));
      g_set_error (error, VC_ERROR, VC_ERROR_CONFIG, "%s:%d: %s", file, config_error_line (cfg),
                   config_error_text (cfg) != NULL ? config_error_text (cfg) : "cannot parse");
      return NULL;
    }

  g_autoptr(VcConfig) config = vc_config_new_default ();
  config->file = g_strdup (path);
  config_setting_t *root = config_root_setting (cfg);
  static const char *const keys[] = { "runtime", "plugins", "sandbox", NULL };

  if (!check_known_keys (&p, root, NULL, keys, error) ||
      !parse_runtime (&p, root, config, error) ||
      !parse_plugins (&p, root, config, error) ||
      !parse_sandbox (&p, root, config, error))
    return NULL;
  return g_steal_pointer (&config);
}

const char *
vc_config_default_path (const char *explicit_path)
{
  if (explicit_path != NULL && explicit_path[0] != '\0')
    return explicit_path;
  const char *env = g_getenv ("VCRUN_CONFIG");
  if (env != NULL && env[0] != '\0')
    return env;
  return VC_SYSCONF_DIR "/vcrun/vcrun.conf";
}

void
vc_config_free (VcConfig *config)
{
  if (config == NULL)
    return;
  g_free (config->file);
  g_free (config->state_dir);
  g_free (config->log_level);
  g_free (config->plugin_dir);
  g_ptr_array_unref (config->plugins);
  g_free (config->sandbox.hypervisor);
  g_free (config->sandbox.agent);
  g_free (config->sandbox.fs);
  g_free (config->sandbox.kernel);
  g_free (config->sandbox.initrd);
  g_free (config->sandbox.kernel_params);
  g_free (config);
}
