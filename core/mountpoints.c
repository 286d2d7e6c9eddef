/* libvcrun: mount points in a rootfs shared read-only (see mountpoints.h). */
#include "config.h"

#include "mountpoints.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <vcrun/types.h>

/* Without openat2 (Linux < 5.6, valgrind): component by component, and a
 * symbolic link on the way is refused rather than followed. */
static int
open_beneath_walk (int root_fd, const char *path, int flags)
{
  int fd = openat (root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  g_auto(GStrv) parts = g_strsplit (path, "/", -1);
  for (char **p = parts; fd >= 0 && *p; p++)
    {
      if ((*p)[0] == '\0' || g_str_equal (*p, "."))
        continue;
      int next = openat (fd, *p, O_PATH | O_NOFOLLOW | O_CLOEXEC);
      int e = errno;
      close (fd);
      fd = next;
      struct stat st;
      if (fd < 0)
        errno = e;
      else if (fstat (fd, &st) < 0 || S_ISLNK (st.st_mode))
        {
          close (fd);
          fd = -1;
          errno = ELOOP;
        }
      else if ((flags & O_DIRECTORY) && p[1] == NULL && !S_ISDIR (st.st_mode))
        {
          close (fd);
          fd = -1;
          errno = ENOTDIR;
        }
    }
  return fd;
}

/* path (relative, no "..") opened beneath root_fd, symlinks resolved as if
 * root_fd were "/": a rootfs's links cannot lead out of it. */
static int
open_beneath (int root_fd, const char *path, int flags)
{
  struct open_how how = {
    .flags = (guint64) (flags | O_CLOEXEC),
    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
  };
  int fd = (int) syscall (SYS_openat2, root_fd, path[0] ? path : ".", &how, sizeof how);
  if (fd < 0 && errno == ENOSYS)
    return open_beneath_walk (root_fd, path, flags);
  return fd;
}

/* Whether dest lies inside an earlier mount of the list (its mount point is
 * made in that file system, in the guest). */
static gboolean
under_earlier_mount (const VcOciSpec *spec, guint index, const char *dest)
{
  for (guint i = 0; i < index; i++)
    {
      const VcOciMount *m = g_ptr_array_index (spec->mounts, i);
      gsize n = strlen (m->destination);
      while (n > 1 && m->destination[n - 1] == '/')
        n--;
      if (n > 1 && strncmp (dest, m->destination, n) == 0 && dest[n] == '/')
        return TRUE;
    }
  return FALSE;
}

/* Creates what is missing of dest (absolute) beneath root_fd: directories,
 * and the last component as an empty file when as_file. */
static gboolean
make_path (int root_fd, const char *rootfs, const char *dest, gboolean as_file, GError **error)
{
  g_auto(GStrv) parts = g_strsplit (dest, "/", -1);
  g_autoptr(GString) path = g_string_new (NULL);
  guint n = g_strv_length (parts);
  guint last = n;
  while (last > 0 && parts[last - 1][0] == '\0')
    last--;
  for (guint i = 0; i < last; i++)
    {
      const char *name = parts[i];
      if (name[0] == '\0' || g_str_equal (name, "."))
        continue;
      if (g_str_equal (name, ".."))
        {
          g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                       "mount destination %s: '..' is not allowed", dest);
          return FALSE;
        }
      int parent = open_beneath (root_fd, path->str, O_PATH | O_DIRECTORY);
      if (parent < 0)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "rootfs %s: %s%s: %s", rootfs,
                       path->len ? "/" : "", path->str, g_strerror (errno));
          return FALSE;
        }
      if (path->len)
        g_string_append_c (path, '/');
      g_string_append (path, name);
      int fd = open_beneath (root_fd, path->str, O_PATH);
      if (fd >= 0)
        {
          close (fd);
          close (parent);
          continue;
        }
      int e = errno;
      int r = -1;
      if (e == ENOENT)
        {
          if (i == last - 1 && as_file)
            {
              r = openat (parent, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
              if (r >= 0)
                close (r);
            }
          else
            r = mkdirat (parent, name, 0755);
          e = errno;
          if (r < 0 && e == EEXIST)
            r = 0;  /* made meanwhile */
        }
      close (parent);
      if (r < 0)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_FAILED,
                       "cannot create the mount point %s in rootfs %s (it is shared read-only, so "
                       "vcrun makes it on the host, as runc would): %s",
                       dest, rootfs, g_strerror (e));
          return FALSE;
        }
    }
  return TRUE;
}

gboolean
vc_rootfs_make_mountpoints (const VcOciSpec *spec, GError **error)
{
  if (spec->mounts == NULL || spec->mounts->len == 0)
    return TRUE;
  int root_fd = open (spec->root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "rootfs %s: %s", spec->root_path,
                   g_strerror (errno));
      return FALSE;
    }
  gboolean ok = TRUE;
  for (guint i = 0; ok && i < spec->mounts->len; i++)
    {
      const VcOciMount *m = g_ptr_array_index (spec->mounts, i);
      if (m->destination == NULL || under_earlier_mount (spec, i, m->destination))
        continue;
      struct stat st;
      gboolean as_file = m->bind && m->source && stat (m->source, &st) == 0
                         && !S_ISDIR (st.st_mode);
      ok = make_path (root_fd, spec->root_path, m->destination, as_file, error);
    }
  close (root_fd);
  return ok;
}
