/* Helpers shared by the loader tests. */
#pragma once

#include <glib.h>

/* A fresh temporary directory; remove it with vc_test_rmtree. */
char *vc_test_tmpdir (void);
void  vc_test_rmtree (const char *dir);
/* Writes text to dir/name and returns the path. */
char *vc_test_write (const char *dir, const char *name, const char *text);

/* Asserts error is VC_ERROR/code and its message holds every string of the
 * NULL-terminated list. */
void  vc_test_assert_error (const GError *error, int code, ...) G_GNUC_NULL_TERMINATED;
