/* libvcrun: a plugin's settings group, checked against its VcSettingSpec. */
#include "config.h"
#include "settings.h"

#include <stdarg.h>

const char *
vc_setting_type_name (VcSettingType type)
{
  switch (type)
    {
    case VC_SETTING_BOOL:   return "bool";
    case VC_SETTING_INT:    return "int";
    case VC_SETTING_STRING: return "string";
    case VC_SETTING_ENUM:   return "enum";
    }
  return "unknown";
}

typedef struct {
  const char *plugin;
  const char *file;
  int         line;   /* the plugin's entry */
} Context;

static void
vfail (const Context *ctx, GError **error, int code, const char *file, int line,
       const char *format, va_list ap)
{
  g_autofree char *msg = g_strdup_vprintf (format, ap);
  if (file == NULL)
    file = ctx->file;
  if (file != NULL)
    g_set_error (error, VC_ERROR, code, "%s:%d: plugin '%s': %s", file, line, ctx->plugin, msg);
  else
    g_set_error (error, VC_ERROR, code, "plugin '%s': %s", ctx->plugin, msg);
}

/* An error at a key: file NULL means the plugin entry's file. */
static gboolean G_GNUC_PRINTF (6, 7)
fail_in (const Context *ctx, GError **error, int code, const char *file, int line,
         const char *format, ...)
{
  va_list ap;
  va_start (ap, format);
  vfail (ctx, error, code, file, line, format, ap);
  va_end (ap);
  return FALSE;
}

/* An error about the plugin itself, at its entry. */
static gboolean G_GNUC_PRINTF (4, 5)
fail (const Context *ctx, GError **error, int code, const char *format, ...)
{
  va_list ap;
  va_start (ap, format);
  vfail (ctx, error, code, NULL, ctx->line, format, ap);
  va_end (ap);
  return FALSE;
}

static gboolean
int_has_range (const VcSettingSpec *spec)
{
  return spec->min != 0 || spec->max != 0;
}

static char *
choices_text (const VcSettingSpec *spec)
{
  return g_strjoinv ("|", (char **) spec->choices);
}

/* The spec array is the plugin's code, so a problem in it is the plugin's bug
 * (VC_ERROR_ABI), reported before any value is looked at. */
static gboolean
check_specs (const Context *ctx, const VcSettingSpec *specs, GError **error)
{
  for (const VcSettingSpec *s = specs; s != NULL && s->name != NULL; s++)
    {
      if (s->name[0] == '\0')
        return fail (ctx, error, VC_ERROR_ABI, "a setting has an empty name (plugin bug)");
      for (const VcSettingSpec *o = specs; o < s; o++)
        if (g_str_equal (o->name, s->name))
          return fail (ctx, error, VC_ERROR_ABI,
                       "setting '%s' is declared twice (plugin bug)", s->name);
      switch (s->type)
        {
        case VC_SETTING_BOOL:
        case VC_SETTING_STRING:
          break;
        case VC_SETTING_INT:
          if (s->min > s->max)
            return fail (ctx, error, VC_ERROR_ABI,
                         "setting '%s' has min > max (plugin bug)", s->name);
          break;
        case VC_SETTING_ENUM:
          if (s->choices == NULL || s->choices[0] == NULL)
            return fail (ctx, error, VC_ERROR_ABI,
                         "enum setting '%s' has no choices (plugin bug)", s->name);
          break;
        default:
          return fail (ctx, error, VC_ERROR_ABI,
                       "setting '%s' has unknown type %d (plugin bug)", s->name, (int) s->type);
        }
    }
  return TRUE;
}

static const VcSettingSpec *
find_spec (const VcSettingSpec *specs, const char *name)
{
  for (const VcSettingSpec *s = specs; s != NULL && s->name != NULL; s++)
    if (g_str_equal (s->name, name))
      return s;
  return NULL;
}

static char *
spec_names (const VcSettingSpec *specs)
{
  g_autoptr(GString) names = g_string_new (NULL);
  for (const VcSettingSpec *s = specs; s != NULL && s->name != NULL; s++)
    g_string_append_printf (names, "%s%s", names->len ? ", " : "", s->name);
  return g_string_free (g_steal_pointer (&names), FALSE);
}

/* Checks value (from the file at line, or the spec's default when
 * is_default) against spec; returns it as the variant create() receives. */
static GVariant *
check_value (const Context *ctx, const VcSettingSpec *spec, GVariant *value, const char *file,
             int line, gboolean is_default, GError **error)
{
  /* A bad default is the plugin's bug; a bad value is the user's. */
  int code = is_default ? VC_ERROR_ABI : VC_ERROR_CONFIG;
  const char *what = is_default ? "default of setting" : "setting";
  const char *bug = is_default ? " (plugin bug)" : "";

  switch (spec->type)
    {
    case VC_SETTING_BOOL:
      if (!g_variant_is_of_type (value, G_VARIANT_TYPE_BOOLEAN))
        break;
      return g_variant_ref (value);

    case VC_SETTING_INT:
      {
        if (!g_variant_is_of_type (value, G_VARIANT_TYPE_INT64))
          break;
        gint64 n = g_variant_get_int64 (value);
        if (int_has_range (spec) && (n < spec->min || n > spec->max))
          {
            fail_in (ctx, error, code, file, line, "%s '%s' is %" G_GINT64_FORMAT ", expected %"
                  G_GINT64_FORMAT "..%" G_GINT64_FORMAT "%s",
                  what, spec->name, n, spec->min, spec->max, bug);
            return NULL;
          }
        return g_variant_ref (value);
      }

    case VC_SETTING_STRING:
      if (!g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
        break;
      return g_variant_ref (value);

    case VC_SETTING_ENUM:
      if (!g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
        break;
      if (!g_strv_contains (spec->choices, g_variant_get_string (value, NULL)))
        {
          g_autofree char *choices = choices_text (spec);
          fail_in (ctx, error, code, file, line, "%s '%s' is '%s', expected one of %s%s",
                what, spec->name, g_variant_get_string (value, NULL), choices, bug);
          return NULL;
        }
      return g_variant_ref (value);
    }

  static const char *const expected[] = {
    [VC_SETTING_BOOL] = "a boolean (true or false)",
    [VC_SETTING_INT] = "an integer",
    [VC_SETTING_STRING] = "a string",
    [VC_SETTING_ENUM] = "a string",
  };
  fail_in (ctx, error, code, file, line, "%s '%s' must be %s%s", what, spec->name, expected[spec->type], bug);
  return NULL;
}

/* The textual default_value as the variant a value from the file would be. */
static GVariant *
parse_default (const Context *ctx, const VcSettingSpec *spec, GError **error)
{
  const char *text = spec->default_value;
  switch (spec->type)
    {
    case VC_SETTING_BOOL:
      if (g_str_equal (text, "true") || g_str_equal (text, "false"))
        return g_variant_ref_sink (g_variant_new_boolean (g_str_equal (text, "true")));
      break;
    case VC_SETTING_INT:
      {
        gint64 n;
        if (g_ascii_string_to_signed (text, 10, G_MININT64, G_MAXINT64, &n, NULL))
          return g_variant_ref_sink (g_variant_new_int64 (n));
        break;
      }
    case VC_SETTING_STRING:
    case VC_SETTING_ENUM:
      return g_variant_ref_sink (g_variant_new_string (text));
    }
  fail (ctx, error, VC_ERROR_ABI,
        "default '%s' of setting '%s' is not a valid %s (plugin bug)",
        text, spec->name, vc_setting_type_name (spec->type));
  return NULL;
}

GVariant *
vc_settings_validate (const char *plugin_name, const VcSettingSpec *specs, GPtrArray *raw,
                      const char *file, int line, GError **error)
{
  Context ctx = { .plugin = plugin_name, .file = file, .line = line };
  if (!check_specs (&ctx, specs, error))
    return NULL;

  /* Values from the file, by key: unknown keys and duplicates first. */
  g_autoptr(GHashTable) given = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; raw != NULL && i < raw->len; i++)
    {
      VcRawSetting *r = g_ptr_array_index (raw, i);
      if (find_spec (specs, r->key) == NULL)
        {
          g_autofree char *names = spec_names (specs);
          if (names[0] == '\0')
            fail_in (&ctx, error, VC_ERROR_CONFIG, r->file, r->line,
                  "unknown setting '%s' (this plugin accepts no settings)", r->key);
          else
            fail_in (&ctx, error, VC_ERROR_CONFIG, r->file, r->line,
                  "unknown setting '%s' (expected one of: %s)", r->key, names);
          return NULL;
        }
      VcRawSetting *first = g_hash_table_lookup (given, r->key);
      if (first != NULL)
        {
          fail_in (&ctx, error, VC_ERROR_CONFIG, r->file, r->line, "setting '%s' is given twice (first at line %d)",
                   r->key, first->line);
          return NULL;
        }
      g_hash_table_insert (given, r->key, r);
    }

  g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  for (const VcSettingSpec *s = specs; s != NULL && s->name != NULL; s++)
    {
      VcRawSetting *r = g_hash_table_lookup (given, s->name);
      g_autoptr(GVariant) value = NULL;
      if (r != NULL)
        value = check_value (&ctx, s, r->value, r->file, r->line, FALSE, error);
      else if (s->default_value != NULL)
        {
          g_autoptr(GVariant) def = parse_default (&ctx, s, error);
          if (def == NULL)
            return NULL;
          value = check_value (&ctx, s, def, NULL, ctx.line, TRUE, error);
        }
      else
        continue;   /* absent stays absent */
      if (value == NULL)
        return NULL;
      g_variant_builder_add (&builder, "{sv}", s->name, value);
    }
  return g_variant_ref_sink (g_variant_builder_end (&builder));
}
