/* Kata's shared-directory layout on the host: see shared-dir.h. */
#include "config.h"

#include "shared-dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

/* Bounds on what a guest can make us walk: it can write into shared/. */
#define REMOVE_MAX_DEPTH 256
#define DETACH_MAX_ROUNDS 4096
#define BASENAME_MAX 64

struct VcSharedDir {
  char *state_dir;
  char *path;     /* <state_dir>/shared */
  char *staging;  /* <state_dir>/.shared-staging: where read-only binds are made */
};

static const char shared_name[] = "shared";
static const char staging_name[] = ".shared-staging";

gboolean
vc_shared_check_id (const char *id, const char *what, GError **error)
{
  static GRegex *re;

  if (g_once_init_enter (&re))
    g_once_init_leave (&re, g_regex_new ("^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$",
                                         G_REGEX_OPTIMIZE, 0, NULL));
  if (id == NULL || !g_regex_match (re, id, 0, NULL))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "invalid %s ID '%s': must match ^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$",
                   what, id ? id : "(null)");
      return FALSE;
    }
  return TRUE;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static char *
mountinfo_unescape (const char *s)
{
  GString *out = g_string_sized_new (strlen (s));

  for (const char *p = s; *p; p++)
    {
      if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7'
          && p[3] >= '0' && p[3] <= '7')
        {
          g_string_append_c (out, (char) ((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0')));
          p += 3;
        }
      else
        g_string_append_c (out, *p);
    }
  return g_string_free (out, FALSE);
}

static gboolean
path_is_at_or_below (const char *path, const char *prefix)
{
  gsize n = strlen (prefix);
  return strncmp (path, prefix, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

GPtrArray *
vc_mountinfo_list_below (const char *path, GError **error)
{
  g_autofree char *text = NULL;
  g_autoptr(GError) local = NULL;

  if (!g_file_get_contents ("/proc/self/mountinfo", &text, NULL, &local))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "reading /proc/self/mountinfo: %s",
                   local->message);
      return NULL;
    }

  GPtrArray *found = g_ptr_array_new_with_free_func (g_free);
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  for (char **line = lines; *line; line++)
    {
      /* id parent major:minor root mount-point options ... */
      g_auto(GStrv) fields = g_strsplit (*line, " ", 6);
      if (g_strv_length (fields) < 6)
        continue;
      g_autofree char *mount_point = mountinfo_unescape (fields[4]);
      if (path_is_at_or_below (mount_point, path))
        g_ptr_array_add (found, g_steal_pointer (&mount_point));
    }
  return found;
}

/* Lazily unmounts every mount at or below prefix, deepest first, until
 * mountinfo shows none (stacked mounts take several rounds). */
static gboolean
detach_all_below (const char *prefix, GError **error)
{
  for (int round = 0; round < DETACH_MAX_ROUNDS; round++)
    {
      g_autoptr(GPtrArray) mounts = vc_mountinfo_list_below (prefix, error);
      if (mounts == NULL)
        return FALSE;
      if (mounts->len == 0)
        return TRUE;

      const char *deepest = g_ptr_array_index (mounts, 0);
      for (guint i = 1; i < mounts->len; i++)
        if (strlen (g_ptr_array_index (mounts, i)) > strlen (deepest))
          deepest = g_ptr_array_index (mounts, i);

      if (umount2 (deepest, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
        {
          int saved = errno;
          g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "unmounting %s: %s", deepest,
                       g_strerror (saved));
          return FALSE;
        }
    }
  g_set_error (error, VC_ERROR, VC_ERROR_FAILED,
               "unmounting below %s: mounts keep reappearing", prefix);
  return FALSE;
}

/* Removes the entries of directory fd (not following symlinks, depth-bounded).
 * Only called once no mount is left below it, so all it holds is what we
 * made and what the guest wrote through the share. */
static gboolean
remove_dir_contents (int dfd, const char *path, int depth, GError **error)
{
  if (depth > REMOVE_MAX_DEPTH)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED,
                   "removing %s: directories nested deeper than %d levels", path,
                   REMOVE_MAX_DEPTH);
      return FALSE;
    }

  int dup_fd = dup (dfd);
  if (dup_fd < 0)
    {
      int saved = errno;
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "removing %s: %s", path, g_strerror (saved));
      return FALSE;
    }
  DIR *dir = fdopendir (dup_fd);
  if (dir == NULL)
    {
      int saved = errno;
      close (dup_fd);
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "removing %s: %s", path, g_strerror (saved));
      return FALSE;
    }

  gboolean ok = TRUE;
  struct dirent *entry;
  while (ok && (errno = 0, entry = readdir (dir)) != NULL)
    {
      if (strcmp (entry->d_name, ".") == 0 || strcmp (entry->d_name, "..") == 0)
        continue;
      g_autofree char *child = g_build_filename (path, entry->d_name, NULL);
      struct stat st;
      if (fstatat (dirfd (dir), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        {
          if (errno == ENOENT)
            continue;
          int saved = errno;
          g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "removing %s: %s", child,
                       g_strerror (saved));
          ok = FALSE;
          break;
        }
      if (S_ISDIR (st.st_mode))
        {
          int cfd = openat (dirfd (dir), entry->d_name,
                            O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          if (cfd < 0)
            {
              int saved = errno;
              g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "removing %s: %s", child,
                           g_strerror (saved));
              ok = FALSE;
              break;
            }
          ok = remove_dir_contents (cfd, child, depth + 1, error);
          close (cfd);
          if (!ok)
            break;
        }
      if (unlinkat (dirfd (dir), entry->d_name, S_ISDIR (st.st_mode) ? AT_REMOVEDIR : 0) < 0
          && errno != ENOENT)
        {
          int saved = errno;
          g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "removing %s: %s", child,
                       g_strerror (saved));
          ok = FALSE;
        }
    }
  closedir (dir);
  return ok;
}

/* rm -r of a tree with no mounts left in it. Absent is fine. */
static gboolean
remove_tree (const char *path, GError **error)
{
  int fd = open (path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    {
      if (errno == ENOENT)
        return TRUE;
      int saved = errno;
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "removing %s: %s", path, g_strerror (saved));
      return FALSE;
    }
  gboolean ok = remove_dir_contents (fd, path, 0, error);
  close (fd);
  if (ok && rmdir (path) < 0 && errno != ENOENT)
    {
      int saved = errno;
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "removing %s: %s", path, g_strerror (saved));
      ok = FALSE;
    }
  return ok;
}

/* Undo for a tree: unmount then remove; both idempotent. */
static gboolean
detach_and_remove (const char *path, GError **error)
{
  if (!detach_all_below (path, error))
    return FALSE;
  return remove_tree (path, error);
}

static gboolean
is_mount_point (const char *path, GError **error)
{
  g_autoptr(GPtrArray) mounts = vc_mountinfo_list_below (path, error);
  if (mounts == NULL)
    return FALSE;
  for (guint i = 0; i < mounts->len; i++)
    if (strcmp (g_ptr_array_index (mounts, i), path) == 0)
      return TRUE;
  return FALSE;
}

static gboolean
set_errno_error (GError **error, int err, const char *what, const char *path)
{
  g_set_error (error, VC_ERROR, err == ENOENT ? VC_ERROR_NOT_FOUND : VC_ERROR_FAILED,
               "%s %s: %s", what, path, g_strerror (err));
  return FALSE;
}

/* Makes path a mount of itself, then gives it the propagation `propagation`
 * (after MS_PRIVATE, so it leaves any peer group of its parent). */
static gboolean
self_bind (const char *path, unsigned long propagation, GError **error)
{
  if (mount (path, path, NULL, MS_BIND, NULL) < 0)
    return set_errno_error (error, errno, "bind-mounting", path);
  if (mount (NULL, path, NULL, MS_PRIVATE, NULL) < 0
      || (propagation != MS_PRIVATE && mount (NULL, path, NULL, propagation, NULL) < 0))
    {
      int saved = errno;
      umount2 (path, MNT_DETACH);
      return set_errno_error (error, saved, "setting the propagation of", path);
    }
  return TRUE;
}

static VcSharedDir *
shared_dir_new (const char *state_dir, GError **error)
{
  if (state_dir == NULL || !g_path_is_absolute (state_dir))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "sandbox state dir '%s' is not an absolute path", state_dir ? state_dir : "(null)");
      return NULL;
    }
  /* mountinfo shows resolved paths: resolve symlinks in the state dir (if it
   * still exists) so that mount points compare equal. */
  char *real = realpath (state_dir, NULL);
  VcSharedDir *dir = g_new0 (VcSharedDir, 1);
  dir->state_dir = g_strdup (real ? real : state_dir);
  free (real);
  dir->path = g_build_filename (dir->state_dir, shared_name, NULL);
  dir->staging = g_build_filename (dir->state_dir, staging_name, NULL);
  return dir;
}

VcSharedDir *
vc_shared_dir_open (const char *state_dir, GError **error)
{
  return shared_dir_new (state_dir, error);
}

VcSharedDir *
vc_shared_dir_prepare (const char *state_dir, GError **error)
{
  g_autoptr(VcSharedDir) dir = shared_dir_new (state_dir, error);
  if (dir == NULL)
    return NULL;

  struct stat st;
  if (stat (dir->state_dir, &st) < 0 || !S_ISDIR (st.st_mode))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "sandbox state dir %s is not a directory",
                   dir->state_dir);
      return NULL;
    }
  if (lstat (dir->path, &st) == 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_EXISTS,
                   "%s exists already: a sandbox that was not cleaned up?", dir->path);
      return NULL;
    }
  if (mkdir (dir->path, 0700) < 0)
    {
      set_errno_error (error, errno, "creating", dir->path);
      return NULL;
    }
  if (!self_bind (dir->path, MS_SHARED, error))
    {
      rmdir (dir->path);
      return NULL;
    }
  return g_steal_pointer (&dir);
}

void
vc_shared_dir_free (VcSharedDir *dir)
{
  if (dir == NULL)
    return;
  g_free (dir->state_dir);
  g_free (dir->path);
  g_free (dir->staging);
  g_free (dir);
}

const char *
vc_shared_dir_get_path (VcSharedDir *dir)
{
  return dir->path;
}

/* The staging dir is a private mount of its own, so the binds made in it do
 * not propagate anywhere. */
static gboolean
ensure_staging (VcSharedDir *dir, GError **error)
{
  if (mkdir (dir->staging, 0700) < 0 && errno != EEXIST)
    return set_errno_error (error, errno, "creating", dir->staging);
  g_autoptr(GError) local = NULL;
  gboolean mounted = is_mount_point (dir->staging, &local);
  if (local)
    {
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  return mounted || self_bind (dir->staging, MS_PRIVATE, error);
}

/* Creates the mount point for source at target: a directory for a directory,
 * an empty file for anything else. */
static gboolean
make_mount_point (const char *target, gboolean is_dir, GError **error)
{
  if (is_dir)
    {
      if (mkdir (target, 0755) < 0)
        return set_errno_error (error, errno, "creating", target);
      return TRUE;
    }
  int fd = open (target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return set_errno_error (error, errno, "creating", target);
  close (fd);
  return TRUE;
}

static void
remove_mount_point (const char *target, gboolean is_dir)
{
  if (is_dir)
    rmdir (target);
  else
    unlink (target);
}

/* Binds source at target (which exists), read-only if asked. A read-only
 * bind is made read-only in the staging dir before it reaches target, so
 * that the copies propagated from target are read-only from the start. */
static gboolean
bind_at (VcSharedDir *dir, const char *source, const char *target, gboolean is_dir,
         gboolean readonly, GError **error)
{
  if (!readonly)
    {
      if (mount (source, target, NULL, MS_BIND, NULL) < 0)
        return set_errno_error (error, errno, "bind-mounting", source);
      return TRUE;
    }

  if (!ensure_staging (dir, error))
    return FALSE;
  g_autofree char *stage = g_build_filename (dir->staging, "ro-XXXXXX", NULL);
  if (is_dir)
    {
      if (g_mkdtemp_full (stage, 0700) == NULL)
        return set_errno_error (error, errno, "creating", dir->staging);
    }
  else
    {
      int fd = g_mkstemp_full (stage, O_RDWR | O_CLOEXEC, 0600);
      if (fd < 0)
        return set_errno_error (error, errno, "creating a file in", dir->staging);
      close (fd);
    }

  gboolean ok = FALSE;
  if (mount (source, stage, NULL, MS_BIND, NULL) < 0)
    set_errno_error (error, errno, "bind-mounting", source);
  else
    {
      if (mount ("none", stage, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
        set_errno_error (error, errno, "remounting read-only", stage);
      else if (mount (stage, target, NULL, MS_BIND, NULL) < 0)
        set_errno_error (error, errno, "bind-mounting", source);
      else
        ok = TRUE;
      umount2 (stage, MNT_DETACH);
    }
  remove_mount_point (stage, is_dir);
  return ok;
}

static char *
container_dir (VcSharedDir *dir, const char *container_id)
{
  return g_build_filename (dir->path, container_id, NULL);
}

static gboolean
ensure_dir (const char *path, GError **error)
{
  if (mkdir (path, 0755) < 0 && errno != EEXIST)
    return set_errno_error (error, errno, "creating", path);
  return TRUE;
}

/* Resolves source (absolute, existing) to the path that gets bound. */
static char *
resolve_source (const char *source, const char *what, gboolean *is_dir, GError **error)
{
  if (source == NULL || !g_path_is_absolute (source))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "%s '%s' is not an absolute path",
                   what, source ? source : "(null)");
      return NULL;
    }
  char *real = realpath (source, NULL);
  struct stat st;
  if (real == NULL || stat (real, &st) < 0)
    {
      int saved = errno;
      free (real);
      g_set_error (error, VC_ERROR, saved == ENOENT ? VC_ERROR_NOT_FOUND : VC_ERROR_FAILED,
                   "%s %s: %s", what, source, g_strerror (saved));
      return NULL;
    }
  *is_dir = S_ISDIR (st.st_mode) ? TRUE : FALSE;
  char *result = g_strdup (real);
  free (real);
  return result;
}

static VcSharedPath *
shared_path_new (const char *container_id, const char *relative)
{
  VcSharedPath *p = g_new0 (VcSharedPath, 1);
  p->struct_size = sizeof (VcSharedPath);
  p->guest_path = g_build_filename (VC_SHARED_GUEST_DIR, container_id, relative, NULL);
  return p;
}

static gboolean
check_prepared (VcSharedDir *dir, GError **error)
{
  struct stat st;
  if (stat (dir->path, &st) < 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_STATE,
                   "the shared directory %s does not exist (prepare not called, or cleaned up)",
                   dir->path);
      return FALSE;
    }
  return TRUE;
}

VcSharedPath *
vc_shared_dir_share_rootfs (VcSharedDir *dir, const char *container_id, const char *host_rootfs,
                            gboolean readonly, GError **error)
{
  gboolean is_dir = FALSE;

  if (!vc_shared_check_id (container_id, "container", error) || !check_prepared (dir, error))
    return NULL;
  g_autofree char *source = resolve_source (host_rootfs, "rootfs", &is_dir, error);
  if (source == NULL)
    return NULL;
  if (!is_dir)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "rootfs %s is not a directory",
                   host_rootfs);
      return NULL;
    }

  g_autofree char *cdir = container_dir (dir, container_id);
  g_autofree char *target = g_build_filename (cdir, "rootfs", NULL);
  struct stat st;
  gboolean made_cdir = lstat (cdir, &st) < 0;
  if (!ensure_dir (cdir, error))
    return NULL;
  if (mkdir (target, 0755) < 0)
    {
      if (errno == EEXIST)
        g_set_error (error, VC_ERROR, VC_ERROR_EXISTS, "the rootfs of container %s is already shared",
                     container_id);
      else
        set_errno_error (error, errno, "creating", target);
      if (made_cdir)
        rmdir (cdir);
      return NULL;
    }
  if (!bind_at (dir, source, target, TRUE, readonly, error))
    {
      rmdir (target);
      if (made_cdir)
        rmdir (cdir);
      return NULL;
    }
  return shared_path_new (container_id, "rootfs");
}

/* The next free <n> in mounts/: one more than the largest in use. */
static guint
next_mount_index (const char *mounts_dir)
{
  g_autoptr(GDir) d = g_dir_open (mounts_dir, 0, NULL);
  guint next = 0;
  const char *name;

  while (d && (name = g_dir_read_name (d)) != NULL)
    {
      char *end = NULL;
      guint64 n = g_ascii_strtoull (name, &end, 10);
      if (end != name && *end == '-' && n < G_MAXUINT && n + 1 > next)
        next = (guint) n + 1;
    }
  return next;
}

/* A basename that is safe and readable in a guest path. */
static char *
mount_basename (const char *source)
{
  g_autofree char *base = g_path_get_basename (source);
  if (strcmp (base, "/") == 0 || strcmp (base, ".") == 0 || strlen (base) > BASENAME_MAX
      || !g_utf8_validate (base, -1, NULL))
    return g_strdup (strcmp (base, "/") == 0 ? "root" : "mount");
  return g_steal_pointer (&base);
}

VcSharedPath *
vc_shared_dir_share_mount (VcSharedDir *dir, const char *container_id, const char *host_source,
                           gboolean readonly, GError **error)
{
  gboolean is_dir = FALSE;

  if (!vc_shared_check_id (container_id, "container", error) || !check_prepared (dir, error))
    return NULL;
  g_autofree char *source = resolve_source (host_source, "mount source", &is_dir, error);
  if (source == NULL)
    return NULL;

  g_autofree char *cdir = container_dir (dir, container_id);
  g_autofree char *mounts = g_build_filename (cdir, "mounts", NULL);
  struct stat st;
  gboolean made_cdir = lstat (cdir, &st) < 0;
  if (!ensure_dir (cdir, error))
    return NULL;
  if (!ensure_dir (mounts, error))
    {
      if (made_cdir)
        rmdir (cdir);
      return NULL;
    }

  g_autofree char *base = mount_basename (source);
  g_autofree char *name = g_strdup_printf ("%u-%s", next_mount_index (mounts), base);
  g_autofree char *target = g_build_filename (mounts, name, NULL);
  gboolean made_target = make_mount_point (target, is_dir, error);
  if (!made_target || !bind_at (dir, source, target, is_dir, readonly, error))
    {
      if (made_target)
        remove_mount_point (target, is_dir);
      rmdir (mounts); /* only if empty: other mounts of the container stay */
      if (made_cdir)
        rmdir (cdir);
      return NULL;
    }
  g_autofree char *relative = g_build_filename ("mounts", name, NULL);
  return shared_path_new (container_id, relative);
}

gboolean
vc_shared_dir_unshare (VcSharedDir *dir, const char *container_id, GError **error)
{
  if (!vc_shared_check_id (container_id, "container", error))
    return FALSE;
  g_autofree char *cdir = container_dir (dir, container_id);
  g_autoptr(GError) local = NULL;
  if (!detach_and_remove (cdir, &local))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "unsharing container %s: %s", container_id,
                   local->message);
      return FALSE;
    }
  return TRUE;
}

gboolean
vc_shared_dir_cleanup (VcSharedDir *dir, GError **error)
{
  g_autoptr(GError) local = NULL;

  /* Everything below shared/ (containers, then shared/ itself), then the
   * staging dir; what the guest wrote into shared/ goes with it. */
  if (!detach_and_remove (dir->path, &local) || !detach_and_remove (dir->staging, &local))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cleaning up the shared directory: %s",
                   local->message);
      return FALSE;
    }
  return TRUE;
}
