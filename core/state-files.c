/* libvcrun internal: the state store's files: sandbox.json read and written
 * atomically, state directories removed without crossing mounts. */
#include "config.h"

#include "state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <glib/gstdio.h>

VcSandboxRecord *
vc_state_read (const char *dir, GError **error)
{
  g_autofree char *path = g_build_filename (dir, VC_STATE_FILE, NULL);
  g_autofree char *contents = NULL;
  gsize length = 0;
  g_autoptr(GError) local = NULL;

  if (!g_file_get_contents (path, &contents, &length, &local))
    {
      if (g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "no state at %s", path);
      else
        g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "%s", local->message);
      return NULL;
    }
  return vc_state_from_json (contents, (gssize) length, path, error);
}

static gboolean
fsync_dir (const char *dir, GError **error)
{
  int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || fsync (fd) != 0)
    {
      int saved = errno;
      if (fd >= 0)
        close (fd);
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot sync directory %s: %s", dir,
                   g_strerror (saved));
      return FALSE;
    }
  close (fd);
  return TRUE;
}

/* Temp files of interrupted writes: ".<name>.XXXXXX". */
static void
remove_stale_temps (const char *dir, const char *name)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  g_autofree char *prefix = g_strdup_printf (".%s.", name);
  const char *entry;

  if (d == NULL)
    return;
  while ((entry = g_dir_read_name (d)) != NULL)
    if (g_str_has_prefix (entry, prefix))
      {
        g_autofree char *path = g_build_filename (dir, entry, NULL);
        g_unlink (path);
      }
}

gboolean
vc_state_write_file_atomic (const char *dir, const char *name, const char *contents,
                            gsize length, GError **error)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autofree char *tmp = g_strdup_printf ("%s/.%s.XXXXXX", dir, name);

  remove_stale_temps (dir, name);
  int fd = g_mkstemp_full (tmp, O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot create a temporary file in %s: %s",
                   dir, g_strerror (saved));
      return FALSE;
    }

  gsize done = 0;
  while (done < length)
    {
      ssize_t n = write (fd, contents + done, length - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved = errno;
          close (fd);
          g_unlink (tmp);
          g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot write %s: %s", tmp,
                       g_strerror (saved));
          return FALSE;
        }
      done += (gsize) n;
    }
  if (fsync (fd) != 0 || close (fd) != 0)
    {
      int saved = errno;
      g_unlink (tmp);
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot sync %s: %s", tmp,
                   g_strerror (saved));
      return FALSE;
    }
  if (g_rename (tmp, path) != 0)
    {
      int saved = errno;
      g_unlink (tmp);
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot rename %s to %s: %s", tmp, path,
                   g_strerror (saved));
      return FALSE;
    }
  return fsync_dir (dir, error);
}

gboolean
vc_state_write (const char *dir, const VcSandboxRecord *record, GError **error)
{
  g_autofree char *json = vc_state_to_json (record);
  return vc_state_write_file_atomic (dir, VC_STATE_FILE, json, strlen (json), error);
}

/* ---- removal ----------------------------------------------------------- */

static gboolean remove_at (int parent_fd, const char *name, const char *path, dev_t dev,
                           GError **error);

static gboolean
remove_children (int dir_fd, const char *path, dev_t dev, GError **error)
{
  int fd = dup (dir_fd);
  DIR *d = fd >= 0 ? fdopendir (fd) : NULL;
  if (d == NULL)
    {
      int saved = errno;
      if (fd >= 0)
        close (fd);
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot read %s: %s", path,
                   g_strerror (saved));
      return FALSE;
    }
  /* Collect names first: unlinking while iterating may skip entries. */
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  struct dirent *e;
  while ((e = readdir (d)) != NULL)
    if (strcmp (e->d_name, ".") != 0 && strcmp (e->d_name, "..") != 0)
      g_ptr_array_add (names, g_strdup (e->d_name));
  closedir (d);

  for (guint i = 0; i < names->len; i++)
    {
      g_autofree char *child = g_build_filename (path, names->pdata[i], NULL);
      if (!remove_at (dir_fd, names->pdata[i], child, dev, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
remove_at (int parent_fd, const char *name, const char *path, dev_t dev, GError **error)
{
  struct statx stx;
  if (statx (parent_fd, name, AT_SYMLINK_NOFOLLOW, STATX_TYPE, &stx) != 0)
    {
      if (errno == ENOENT)
        return TRUE;
      int saved = errno;
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot stat %s: %s", path,
                   g_strerror (saved));
      return FALSE;
    }
  if (S_ISDIR (stx.stx_mode))
    {
      if ((stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT
           && stx.stx_attributes & STATX_ATTR_MOUNT_ROOT)
          || makedev (stx.stx_dev_major, stx.stx_dev_minor) != dev)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_FAILED,
                       "%s is a mount point; not removing what it shows", path);
          return FALSE;
        }
      int fd = openat (parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0)
        {
          int saved = errno;
          g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot open %s: %s", path,
                       g_strerror (saved));
          return FALSE;
        }
      gboolean ok = remove_children (fd, path, dev, error);
      close (fd);
      if (!ok)
        return FALSE;
      if (unlinkat (parent_fd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
        {
          int saved = errno;
          g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot remove %s: %s", path,
                       g_strerror (saved));
          return FALSE;
        }
      return TRUE;
    }
  if (unlinkat (parent_fd, name, 0) != 0 && errno != ENOENT)
    {
      int saved = errno;
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot remove %s: %s", path,
                   g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

gboolean
vc_state_remove_dir (const char *dir, GError **error)
{
  g_autofree char *parent = g_path_get_dirname (dir);
  g_autofree char *base = g_path_get_basename (dir);
  struct stat st;

  if (lstat (dir, &st) != 0)
    {
      if (errno == ENOENT)
        return TRUE;
      int saved = errno;
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot stat %s: %s", dir,
                   g_strerror (saved));
      return FALSE;
    }
  int fd = open (parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot open %s: %s", parent,
                   g_strerror (saved));
      return FALSE;
    }
  gboolean ok = remove_at (fd, base, dir, st.st_dev, error);
  close (fd);
  return ok && fsync_dir (parent, error);
}
