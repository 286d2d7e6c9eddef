/* Inside a new container's init, before exec: the OCI mounts, device nodes,
 * pivot_root into the rootfs, masked and read-only paths, sysctls, hostname.
 * Paths inside the rootfs are resolved with RESOLVE_IN_ROOT so that symlinks
 * in the image cannot point a mount outside it. */
#include "config.h"

#include "agent.h"
#include "mountopts.h"
#include "copytree.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static int
open_in_root (int root_fd, const char *path, int flags)
{
  struct open_how how = {
    .flags = (uint64_t) flags | O_CLOEXEC,
    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
  };
  while (*path == '/')
    path++;
  if (!*path)
    path = ".";
  return (int) syscall (SYS_openat2, root_fd, path, &how, sizeof how);
}

/* Creates (as directories, or a file for the last one if as_file) the
 * missing components of path inside the root and returns an O_PATH fd on it. */
static int
make_path_in_root (int root_fd, const char *path, bool as_file, char *msg, size_t msg_len)
{
  char buf[4096];
  if (strlen (path) >= sizeof buf)
    return msg_fail (msg, msg_len, 0, "path too long: %s", path), -1;
  snprintf (buf, sizeof buf, "%s", path);

  size_t len = strlen (buf);
  for (size_t i = 1; i <= len; i++)
    {
      if (buf[i] != '/' && buf[i] != '\0')
        continue;
      bool last = buf[i] == '\0' || buf[i + 1] == '\0';
      char saved = buf[i];
      buf[i] = '\0';
      int fd = open_in_root (root_fd, buf, O_PATH);
      if (fd < 0 && errno == ENOENT)
        {
          char *slash = strrchr (buf, '/');
          const char *name = slash ? slash + 1 : buf;
          if (slash)
            *slash = '\0';
          int parent = open_in_root (root_fd, slash ? buf : "/", O_PATH | O_DIRECTORY);
          if (slash)
            *slash = '/';
          if (parent < 0)
            return msg_fail (msg, msg_len, errno, "cannot open the parent of %s", buf), -1;
          int r;
          if (last && as_file)
            {
              r = openat (parent, name, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
              if (r >= 0)
                close (r);
            }
          else
            r = mkdirat (parent, name, 0755);
          int e = errno;
          close (parent);
          if (r < 0 && e != EEXIST)
            return msg_fail (msg, msg_len, e, "cannot create %s in the rootfs", buf), -1;
          fd = open_in_root (root_fd, buf, O_PATH);
        }
      if (fd < 0)
        return msg_fail (msg, msg_len, errno, "cannot open %s in the rootfs", buf), -1;
      buf[i] = saved;
      if (saved == '\0' || last)
        return fd;
      close (fd);
    }
  return open_in_root (root_fd, "/", O_PATH);
}

static void
fd_path (int fd, char *buf, size_t len)
{
  snprintf (buf, len, "/proc/self/fd/%d", fd);
}

/* Flags a bind mount takes on its remount, not on the bind itself. */
#define BIND_REMOUNT_FLAGS \
  (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_SYNCHRONOUS | MS_DIRSYNC | MS_MANDLOCK \
   | MS_NOATIME | MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME | MS_NOSYMFOLLOW)

/* Reopens dest after a mount on it, so that target names the new mount
 * (an fd opened before names the directory beneath it). */
static bool
reopen_target (int root_fd, const char *dest, bool as_file, int *fd, char *target,
               size_t target_len, char *msg, size_t msg_len)
{
  close (*fd);
  *fd = make_path_in_root (root_fd, dest, as_file, msg, msg_len);
  if (*fd < 0)
    return false;
  fd_path (*fd, target, target_len);
  return true;
}

/* One OCI mount, as runc does it: the mount (a bind, or a filesystem with
 * its flags and data); for a bind with flags, a remount that applies them
 * (ro, nosuid...: a bind ignores them); for tmpcopyup, a copy of what the
 * tmpfs covers; and propagation (rprivate, rslave...), which mount(2)
 * refuses to combine with anything else, as a call of its own on the new
 * mount. */
static bool
mount_one (int root_fd, const Grpc__Mount *m, char *msg, size_t msg_len)
{
  const char *type = m->type && *m->type ? m->type : "none";
  const char *dest = m->destination;
  const char *what = m->source && *m->source ? m->source : type;
  MountOptions o;
  mount_options_parse (m->options, m->n_options, &o);

  if (!dest || dest[0] != '/')
    return msg_fail (msg, msg_len, 0, "mount destination '%s' is not absolute", dest ? dest : "");
  if (o.truncated)
    return msg_fail (msg, msg_len, 0, "mount on %s: options longer than %zu bytes", dest,
                     sizeof o.data - 1);
  bool bind = (o.flags & MS_BIND) || strcmp (type, "bind") == 0;
  bool source_is_file = false;
  if (bind)
    {
      struct stat st;
      if (!m->source || stat (m->source, &st) < 0)
        return msg_fail (msg, msg_len, errno, "bind mount source %s", m->source ? m->source : "");
      source_is_file = !S_ISDIR (st.st_mode);
    }
  if (o.tmpcopyup && (bind || strcmp (type, "tmpfs") != 0))
    return msg_fail (msg, msg_len, 0, "mount on %s: tmpcopyup applies to a tmpfs, not to %s",
                     dest, bind ? "a bind mount" : type);

  int fd = make_path_in_root (root_fd, dest, source_is_file, msg, msg_len);
  if (fd < 0)
    return false;
  char target[64];
  fd_path (fd, target, sizeof target);
  /* What the tmpfs will cover, opened before it does. */
  int covered = o.tmpcopyup ? open (target, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
  if (o.tmpcopyup && covered < 0)
    {
      int e = errno;
      close (fd);
      return msg_fail (msg, msg_len, e, "tmpcopyup: cannot open %s", dest);
    }

  const char *step = "mount";
  int r;
  if (bind)
    {
      r = mount (m->source, target, NULL, MS_BIND | (o.flags & MS_REC), NULL);
      unsigned long extra = o.flags & BIND_REMOUNT_FLAGS;
      if (r == 0 && extra)
        {
          if (!reopen_target (root_fd, dest, source_is_file, &fd, target, sizeof target, msg, msg_len))
            return false;
          step = "remount";
          r = mount (NULL, target, NULL, MS_BIND | MS_REMOUNT | extra, NULL);
        }
    }
  else
    {
      const char *fstype = type;
      /* the guest has only the unified hierarchy */
      if (strcmp (fstype, "cgroup") == 0)
        fstype = "cgroup2";
      r = mount (what, target, fstype, o.flags & ~(MS_BIND | MS_REC), o.data[0] ? o.data : NULL);
      if (r < 0 && errno == EINVAL && strcmp (fstype, "devpts") == 0 && o.data[0])
        r = mount (what, target, fstype, o.flags, "newinstance,ptmxmode=0666,mode=0620");
    }
  int e = errno;
  if (r == 0 && (o.propagation || o.tmpcopyup))
    {
      if (!reopen_target (root_fd, dest, source_is_file, &fd, target, sizeof target, msg, msg_len))
        {
          if (covered >= 0)
            close (covered);
          return false;
        }
      if (o.tmpcopyup)
        {
          int fresh = open (target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
          bool copied = fresh >= 0 && copy_tree (covered, fresh, msg, msg_len);
          e = errno;
          if (fresh >= 0)
            close (fresh);
          close (covered);
          covered = -1;
          if (!copied)
            {
              close (fd);
              return fresh >= 0 ? false : msg_fail (msg, msg_len, e, "tmpcopyup: cannot open %s", dest);
            }
        }
      if (o.propagation)
        {
          step = "set the propagation of";
          r = mount (NULL, target, NULL, o.propagation, NULL);
          e = errno;
        }
    }
  if (covered >= 0)
    close (covered);
  close (fd);
  if (r < 0)
    return msg_fail (msg, msg_len, e, "cannot %s %s (%s) on %s", step, what, type, dest);
  return true;
}

static bool
spec_mounts_dev_tmpfs (const Grpc__Spec *spec)
{
  for (size_t i = 0; i < spec->n_mounts; i++)
    if (spec->mounts[i]->destination && strcmp (spec->mounts[i]->destination, "/dev") == 0)
      return true;
  return false;
}

/* The device nodes every container gets (bind mounts of the guest's nodes:
 * the agent may not be allowed to mknod in every rootfs). */
static bool
default_devices (int root_fd, char *msg, size_t msg_len)
{
  static const char *const nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };
  char path[64], target[64];

  for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++)
    {
      snprintf (path, sizeof path, "/dev/%s", nodes[i]);
      int fd = make_path_in_root (root_fd, path, true, msg, msg_len);
      if (fd < 0)
        return false;
      fd_path (fd, target, sizeof target);
      int r = mount (path, target, NULL, MS_BIND, NULL);
      int e = errno;
      close (fd);
      if (r < 0)
        return msg_fail (msg, msg_len, e, "cannot bind %s", path);
    }
  static const struct { const char *name, *target; } links[] = {
    { "dev/fd", "/proc/self/fd" }, { "dev/stdin", "/proc/self/fd/0" },
    { "dev/stdout", "/proc/self/fd/1" }, { "dev/stderr", "/proc/self/fd/2" },
    { "dev/ptmx", "pts/ptmx" },
  };
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
    if (symlinkat (links[i].target, root_fd, links[i].name) < 0 && errno != EEXIST)
      return msg_fail (msg, msg_len, errno, "cannot link /%s", links[i].name);
  return true;
}

static bool
spec_devices (int root_fd, const Grpc__Spec *spec, char *msg, size_t msg_len)
{
  if (!spec->linux)
    return true;
  for (size_t i = 0; i < spec->linux->n_devices; i++)
    {
      const Grpc__LinuxDevice *d = spec->linux->devices[i];
      mode_t type;
      if (!d->type || !d->path || d->path[0] != '/')
        return msg_fail (msg, msg_len, 0, "invalid device entry");
      switch (d->type[0])
        {
        case 'c': case 'u': type = S_IFCHR; break;
        case 'b': type = S_IFBLK; break;
        case 'p': type = S_IFIFO; break;
        default: return msg_fail (msg, msg_len, 0, "device %s: unknown type '%s'", d->path, d->type);
        }
      /* create the parent, then the node by name inside it */
      char parent[4096];
      snprintf (parent, sizeof parent, "%s", d->path);
      char *slash = strrchr (parent, '/');
      *slash = '\0';
      int pfd = make_path_in_root (root_fd, parent[0] ? parent : "/", false, msg, msg_len);
      if (pfd < 0)
        return false;
      char dir[64];
      fd_path (pfd, dir, sizeof dir);
      int dfd = open (dir, O_DIRECTORY | O_CLOEXEC);
      close (pfd);
      if (dfd < 0)
        return msg_fail (msg, msg_len, errno, "device %s", d->path);
      mode_t mode = (d->filemode ? d->filemode & 07777 : 0666) | type;
      int r = mknodat (dfd, slash + 1, mode, makedev ((unsigned) d->major, (unsigned) d->minor));
      if (r < 0 && errno != EEXIST)
        {
          int e = errno;
          close (dfd);
          return msg_fail (msg, msg_len, e, "cannot create device %s", d->path);
        }
      (void) !fchownat (dfd, slash + 1, d->uid, d->gid, AT_SYMLINK_NOFOLLOW);
      /* mknod applies the umask: set the mode the config gives, as runc does */
      if (fchmodat (dfd, slash + 1, mode & 07777, 0) < 0)
        {
          int e = errno;
          close (dfd);
          return msg_fail (msg, msg_len, e, "cannot set the mode of device %s", d->path);
        }
      close (dfd);
    }
  return true;
}

bool
rootfs_setup (const Grpc__Spec *spec, const char *rootfs, char *msg, size_t msg_len)
{
  if (mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    return msg_fail (msg, msg_len, errno, "cannot make / private");
  /* pivot_root needs the new root to be a mount point */
  if (mount (rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
    return msg_fail (msg, msg_len, errno, "cannot bind the rootfs %s", rootfs);
  int root_fd = open (rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0)
    return msg_fail (msg, msg_len, errno, "cannot open the rootfs %s", rootfs);

  for (size_t i = 0; i < spec->n_mounts; i++)
    if (!mount_one (root_fd, spec->mounts[i], msg, msg_len))
      return false;
  if (spec_mounts_dev_tmpfs (spec))
    {
      int dev_fd = open_in_root (root_fd, "/", O_DIRECTORY);
      if (dev_fd < 0 || !default_devices (dev_fd, msg, msg_len))
        return dev_fd < 0 ? msg_fail (msg, msg_len, errno, "cannot open the rootfs") : false;
      close (dev_fd);
    }
  if (!spec_devices (root_fd, spec, msg, msg_len))
    return false;
  close (root_fd);

  if (chdir (rootfs) < 0)
    return msg_fail (msg, msg_len, errno, "cannot enter the rootfs %s", rootfs);
  if (syscall (SYS_pivot_root, ".", ".") == 0)
    {
      /* the old root is now stacked under the new one: detach it */
      if (umount2 (".", MNT_DETACH) < 0)
        return msg_fail (msg, msg_len, errno, "cannot detach the old root");
    }
  else if (errno == EINVAL)
    {
      /* The guest runs from its initramfs, which pivot_root refuses to move.
       * Move the rootfs over / instead: the initramfs stays hidden beneath,
       * and ".." at the top of the new root leads back into it. */
      if (mount (".", "/", NULL, MS_MOVE, NULL) < 0)
        return msg_fail (msg, msg_len, errno, "cannot move the rootfs %s to /", rootfs);
      if (chroot (".") < 0)
        return msg_fail (msg, msg_len, errno, "chroot into %s", rootfs);
    }
  else
    return msg_fail (msg, msg_len, errno, "pivot_root into %s", rootfs);
  if (chdir ("/") < 0)
    return msg_fail (msg, msg_len, errno, "chdir /");
  return true;
}

bool
rootfs_finish (const Grpc__Spec *spec, char *msg, size_t msg_len)
{
  const Grpc__Linux *linux_ = spec->linux;

  if (linux_)
    {
      for (size_t i = 0; i < linux_->n_sysctl; i++)
        {
          const char *key = linux_->sysctl[i]->key;
          char path[512];
          if (!key || strstr (key, ".."))
            return msg_fail (msg, msg_len, 0, "invalid sysctl '%s'", key ? key : "");
          snprintf (path, sizeof path, "/proc/sys/%s", key);
          for (char *p = path + 10; *p; p++)
            if (*p == '.')
              *p = '/';
          AgentError err = { 0 };
          if (!write_file (path, linux_->sysctl[i]->value ? linux_->sysctl[i]->value : "", &err))
            return msg_fail (msg, msg_len, 0, "sysctl %s: %s", key, err.message);
        }
      for (size_t i = 0; i < linux_->n_readonlypaths; i++)
        {
          const char *path = linux_->readonlypaths[i];
          if (mount (path, path, NULL, MS_BIND | MS_REC, NULL) < 0)
            {
              if (errno == ENOENT)
                continue;
              return msg_fail (msg, msg_len, errno, "read-only path %s", path);
            }
          if (mount (NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC, NULL) < 0)
            return msg_fail (msg, msg_len, errno, "read-only path %s", path);
        }
      for (size_t i = 0; i < linux_->n_maskedpaths; i++)
        {
          const char *path = linux_->maskedpaths[i];
          struct stat st;
          if (stat (path, &st) < 0)
            continue;
          int r = S_ISDIR (st.st_mode)
            ? mount ("tmpfs", path, "tmpfs", MS_RDONLY, "size=0k")
            : mount ("/dev/null", path, NULL, MS_BIND, NULL);
          if (r < 0)
            return msg_fail (msg, msg_len, errno, "masked path %s", path);
        }
    }
  if (spec->root && spec->root->readonly
      && mount (NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
    return msg_fail (msg, msg_len, errno, "cannot make the rootfs read-only");
  if (spec->hostname && *spec->hostname && sethostname (spec->hostname, strlen (spec->hostname)) < 0)
    return msg_fail (msg, msg_len, errno, "cannot set the hostname '%s'", spec->hostname);
  return true;
}
