/* Test-only fake plugins: settings, the call log, injected failures. */
#include "fake-common.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

FakeSettings *
fake_settings_new (const char *kind, GVariant *settings)
{
  FakeSettings *s = g_new0 (FakeSettings, 1);
  const char *fail_at = NULL, *hang_at = NULL;

  s->kind = g_strdup (kind);
  if (settings)
    {
      g_variant_lookup (settings, "log", "s", &s->log);
      g_variant_lookup (settings, "fail_at", "&s", &fail_at);
      g_variant_lookup (settings, "die_after_ms", "x", &s->die_after_ms);
      g_variant_lookup (settings, "hang_at", "&s", &hang_at);
      g_variant_lookup (settings, "hang_dir", "s", &s->hang_dir);
    }
  s->fail_at = g_strsplit (fail_at ? fail_at : "", ",", -1);
  s->hang_at = g_strsplit (hang_at ? hang_at : "", ",", -1);
  return s;
}

void
fake_settings_free (FakeSettings *s)
{
  if (s == NULL)
    return;
  g_free (s->log);
  g_strfreev (s->fail_at);
  g_strfreev (s->hang_at);
  g_free (s->hang_dir);
  g_free (s->kind);
  g_free (s);
}

/* One process may log from several threads; O_APPEND writes of one line
 * are atomic enough for tests, the mutex keeps lines whole in-process. */
static GMutex log_mutex;

void
fake_log (const FakeSettings *s, const char *method, const char *format, ...)
{
  if (s->log == NULL)
    return;
  va_list args;
  va_start (args, format);
  g_autofree char *details = format ? g_strdup_vprintf (format, args) : NULL;
  va_end (args);

  g_mutex_lock (&log_mutex);
  FILE *f = fopen (s->log, "a");
  if (f)
    {
      fprintf (f, "%s %s%s%s\n", s->kind, method, details ? " " : "", details ? details : "");
      fclose (f);
    }
  g_mutex_unlock (&log_mutex);
}

/* Blocks until the test removes the marker (or 60 s pass). */
static void
hang (const FakeSettings *s, const char *method)
{
  g_autofree char *name = g_strdup_printf ("%s-%s", s->kind, method);
  g_autofree char *marker = g_build_filename (s->hang_dir ? s->hang_dir : g_get_tmp_dir (), name,
                                              NULL);
  g_autofree char *pid = g_strdup_printf ("%d\n", (int) getpid ());
  fake_log (s, method, "HANG");
  if (!g_file_set_contents (marker, pid, -1, NULL))
    return;
  for (int i = 0; i < 6000 && g_file_test (marker, G_FILE_TEST_EXISTS); i++)
    g_usleep (10000);
  g_unlink (marker);
}

gboolean
fake_enter (const FakeSettings *s, const char *method, GError **error)
{
  if (g_strv_contains ((const char *const *) s->hang_at, method))
    hang (s, method);
  if (g_strv_contains ((const char *const *) s->fail_at, method))
    {
      fake_log (s, method, "FAILED");
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "fake failure at %s", method);
      return FALSE;
    }
  return TRUE;
}

void
fake_rmtree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir)
    while ((name = g_dir_read_name (dir)) != NULL)
      {
        g_autofree char *child = g_build_filename (path, name, NULL);
        if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
          fake_rmtree (child);
        else
          g_unlink (child);
      }
  g_rmdir (path);
}

void
fake_timer_init (FakeTimer *t)
{
  g_mutex_init (&t->mutex);
  g_cond_init (&t->cond);
  t->cancelled = FALSE;
}

gboolean
fake_timer_sleep (FakeTimer *t, gint64 ms)
{
  gint64 deadline = g_get_monotonic_time () + ms * 1000;
  g_mutex_lock (&t->mutex);
  while (!t->cancelled)
    if (!g_cond_wait_until (&t->cond, &t->mutex, deadline))
      break;
  gboolean fired = !t->cancelled;
  g_mutex_unlock (&t->mutex);
  return fired;
}

void
fake_timer_cancel (FakeTimer *t)
{
  g_mutex_lock (&t->mutex);
  t->cancelled = TRUE;
  g_cond_broadcast (&t->cond);
  g_mutex_unlock (&t->mutex);
}

void
fake_timer_clear (FakeTimer *t)
{
  g_mutex_clear (&t->mutex);
  g_cond_clear (&t->cond);
}
