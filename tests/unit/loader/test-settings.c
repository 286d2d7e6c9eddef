/* Tests of core/settings.c: a plugin's settings checked against its spec. */
#include <glib.h>
#include <vcrun/plugin.h>
#include "core/vc-config.h"
#include "core/settings.h"
#include "test-util.h"

static const char *const modes[] = { "fast", "slow", NULL };

static const VcSettingSpec specs[] = {
  { "flag",  VC_SETTING_BOOL,   "a boolean",        "true",  0, 0, NULL },
  { "count", VC_SETTING_INT,    "1..100",           "10",    1, 100, NULL },
  { "any",   VC_SETTING_INT,    "any integer",      NULL,    0, 0, NULL },
  { "label", VC_SETTING_STRING, "no default",       NULL,    0, 0, NULL },
  { "path",  VC_SETTING_STRING, "with default",     "/bin/true", 0, 0, NULL },
  { "mode",  VC_SETTING_ENUM,   "fast or slow",     "fast",  0, 0, modes },
  { NULL }
};

static void
raw_free (VcRawSetting *r)
{
  g_free (r->key);
  g_variant_unref (r->value);
  g_free (r);
}

/* Builds the raw list from (key, variant, line) triples ending with NULL. */
static GPtrArray *
raw_list (const char *key, ...)
{
  GPtrArray *raw = g_ptr_array_new_with_free_func ((GDestroyNotify) raw_free);
  va_list ap;
  va_start (ap, key);
  for (const char *k = key; k != NULL; k = va_arg (ap, const char *))
    {
      VcRawSetting *r = g_new0 (VcRawSetting, 1);
      r->key = g_strdup (k);
      r->value = g_variant_ref_sink (va_arg (ap, GVariant *));
      r->line = va_arg (ap, int);
      g_ptr_array_add (raw, r);
    }
  va_end (ap);
  return raw;
}

static void
test_defaults (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) v = vc_settings_validate ("p", specs, NULL, "f.conf", 3, &error);
  g_assert_no_error (error);
  g_assert_true (g_variant_is_of_type (v, G_VARIANT_TYPE_VARDICT));
  g_autofree char *text = g_variant_print (v, FALSE);
  g_assert_cmpstr (text, ==, "{'flag': <true>, 'count': <int64 10>, 'path': <'/bin/true'>, 'mode': <'fast'>}");
}

static void
test_values (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) raw = raw_list ("mode", g_variant_new_string ("slow"), 4,
                                       "count", g_variant_new_int64 (100), 5,
                                       "any", g_variant_new_int64 (-5), 6,
                                       "label", g_variant_new_string (""), 7,
                                       "flag", g_variant_new_boolean (FALSE), 8, NULL);
  g_autoptr(GVariant) v = vc_settings_validate ("p", specs, raw, "f.conf", 3, &error);
  g_assert_no_error (error);
  gboolean flag = TRUE;
  gint64 count = 0, any = 0;
  const char *label = NULL, *mode = NULL, *path = NULL;
  g_assert_true (g_variant_lookup (v, "flag", "b", &flag));
  g_assert_false (flag);
  g_assert_true (g_variant_lookup (v, "count", "x", &count));
  g_assert_cmpint (count, ==, 100);
  g_assert_true (g_variant_lookup (v, "any", "x", &any));
  g_assert_cmpint (any, ==, -5);
  g_assert_true (g_variant_lookup (v, "label", "&s", &label));
  g_assert_cmpstr (label, ==, "");
  g_assert_true (g_variant_lookup (v, "mode", "&s", &mode));
  g_assert_cmpstr (mode, ==, "slow");
  g_assert_true (g_variant_lookup (v, "path", "&s", &path));
  g_assert_cmpstr (path, ==, "/bin/true");
}

static void
test_no_spec (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) empty = vc_settings_validate ("p", NULL, NULL, "f.conf", 3, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_variant_n_children (empty), ==, 0);

  g_autoptr(GPtrArray) raw = raw_list ("x", g_variant_new_boolean (TRUE), 9, NULL);
  g_autoptr(GVariant) v = vc_settings_validate ("p", NULL, raw, "f.conf", 3, &error);
  g_assert_null (v);
  vc_test_assert_error (error, VC_ERROR_CONFIG, "f.conf:9: plugin 'p': unknown setting 'x'",
                        "accepts no settings", NULL);
}

typedef struct {
  const char *name;
  const char *key;
  GVariant *(*make) (void);
  const char *expect;
} BadValue;

static GVariant *make_str (void) { return g_variant_new_string ("7"); }
static GVariant *make_int0 (void) { return g_variant_new_int64 (0); }
static GVariant *make_int101 (void) { return g_variant_new_int64 (101); }
static GVariant *make_bool (void) { return g_variant_new_boolean (TRUE); }
static GVariant *make_medium (void) { return g_variant_new_string ("medium"); }

static const BadValue bad_values[] = {
  { "unknown", "colour", make_str, "unknown setting 'colour' (expected one of: flag, count, any, label, path, mode)" },
  { "bool-type", "flag", make_str, "setting 'flag' must be a boolean" },
  { "int-type", "count", make_str, "setting 'count' must be an integer" },
  { "int-low", "count", make_int0, "setting 'count' is 0, expected 1..100" },
  { "int-high", "count", make_int101, "setting 'count' is 101, expected 1..100" },
  { "string-type", "label", make_bool, "setting 'label' must be a string" },
  { "enum-type", "mode", make_int0, "setting 'mode' must be a string" },
  { "enum-choice", "mode", make_medium, "setting 'mode' is 'medium', expected one of fast|slow" },
};

static void
test_bad_value (gconstpointer data)
{
  const BadValue *c = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) raw = raw_list ("path", g_variant_new_string ("/x"), 11,
                                       c->key, c->make (), 12, NULL);
  g_autoptr(GVariant) v = vc_settings_validate ("fs-x", specs, raw, "/etc/f.conf", 10, &error);
  g_assert_null (v);
  vc_test_assert_error (error, VC_ERROR_CONFIG, "/etc/f.conf:12: plugin 'fs-x': ", c->expect, NULL);
}

static void
test_duplicate (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) raw = raw_list ("count", g_variant_new_int64 (2), 4,
                                       "count", g_variant_new_int64 (3), 6, NULL);
  g_autoptr(GVariant) v = vc_settings_validate ("p", specs, raw, "f.conf", 3, &error);
  g_assert_null (v);
  vc_test_assert_error (error, VC_ERROR_CONFIG, "f.conf:6: plugin 'p': setting 'count' is given twice",
                        "first at line 4", NULL);
}

/* A broken spec is the plugin's bug, reported at its entry's line. */
static void
test_bad_specs (void)
{
  static const VcSettingSpec bad_default[] = {
    { "n", VC_SETTING_INT, NULL, "ten", 0, 0, NULL }, { NULL } };
  static const VcSettingSpec out_of_range_default[] = {
    { "n", VC_SETTING_INT, NULL, "200", 1, 100, NULL }, { NULL } };
  static const VcSettingSpec bad_bool_default[] = {
    { "b", VC_SETTING_BOOL, NULL, "yes", 0, 0, NULL }, { NULL } };
  static const VcSettingSpec bad_enum_default[] = {
    { "m", VC_SETTING_ENUM, NULL, "medium", 0, 0, modes }, { NULL } };
  static const VcSettingSpec enum_no_choices[] = {
    { "m", VC_SETTING_ENUM, NULL, NULL, 0, 0, NULL }, { NULL } };
  static const VcSettingSpec twice[] = {
    { "a", VC_SETTING_BOOL, NULL, NULL, 0, 0, NULL }, { "a", VC_SETTING_INT, NULL, NULL, 0, 0, NULL }, { NULL } };
  static const VcSettingSpec bad_type[] = {
    { "a", (VcSettingType) 42, NULL, NULL, 0, 0, NULL }, { NULL } };
  static const VcSettingSpec bad_range[] = {
    { "a", VC_SETTING_INT, NULL, NULL, 5, 1, NULL }, { NULL } };
  static const struct { const VcSettingSpec *spec; const char *expect; } cases[] = {
    { bad_default, "default 'ten' of setting 'n' is not a valid int" },
    { out_of_range_default, "default of setting 'n' is 200, expected 1..100" },
    { bad_bool_default, "default 'yes' of setting 'b' is not a valid bool" },
    { bad_enum_default, "default of setting 'm' is 'medium'" },
    { enum_no_choices, "enum setting 'm' has no choices" },
    { twice, "setting 'a' is declared twice" },
    { bad_type, "setting 'a' has unknown type 42" },
    { bad_range, "setting 'a' has min > max" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) v = vc_settings_validate ("p", cases[i].spec, NULL, "f.conf", 3, &error);
      g_assert_null (v);
      vc_test_assert_error (error, VC_ERROR_ABI, "f.conf:3: plugin 'p': ", cases[i].expect,
                            "plugin bug", NULL);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/settings/defaults", test_defaults);
  g_test_add_func ("/settings/values", test_values);
  g_test_add_func ("/settings/no-spec", test_no_spec);
  g_test_add_func ("/settings/duplicate", test_duplicate);
  g_test_add_func ("/settings/bad-specs", test_bad_specs);
  for (gsize i = 0; i < G_N_ELEMENTS (bad_values); i++)
    {
      g_autofree char *name = g_strdup_printf ("/settings/bad/%s", bad_values[i].name);
      g_test_add_data_func (name, &bad_values[i], test_bad_value);
    }
  return g_test_run ();
}
