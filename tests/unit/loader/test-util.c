/* Helpers shared by the loader tests. */
#include "test-util.h"

#include <stdarg.h>
#include <string.h>
#include <glib/gstdio.h>
#include <vcrun/types.h>

char *
vc_test_tmpdir (void)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp ("vcrun-loader-XXXXXX", &error);
  g_assert_no_error (error);
  return dir;
}

void
vc_test_rmtree (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
        vc_test_rmtree (path);
      else
        g_unlink (path);
    }
  g_rmdir (dir);
}

char *
vc_test_write (const char *dir, const char *name, const char *text)
{
  g_autoptr(GError) error = NULL;
  char *path = g_build_filename (dir, name, NULL);
  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
  return path;
}

void
vc_test_assert_error (const GError *error, int code, ...)
{
  g_assert_nonnull (error);
  g_test_message ("error: %s", error->message);
  g_assert_error (error, VC_ERROR, code);
  va_list ap;
  va_start (ap, code);
  for (const char *s = va_arg (ap, const char *); s != NULL; s = va_arg (ap, const char *))
    if (strstr (error->message, s) == NULL)
      {
        g_test_message ("error message \"%s\" lacks \"%s\"", error->message, s);
        g_test_fail ();
      }
  va_end (ap);
}
