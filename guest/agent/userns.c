/* linux.uidMappings / gidMappings: the container's user namespace.
 *
 * The init process enters it after its rootfs is set up (mounting needs the
 * guest's root, which a user namespace would take away: the mount namespace
 * stays owned by the guest's), and before it drops its privileges. A
 * process may write arbitrary maps only from the parent namespace with
 * CAP_SETUID/CAP_SETGID, so a helper forked before the unshare writes them
 * into /proc/<init>/{uid,gid}_map. Exec'd processes join the init's user
 * namespace last, after its mount and pid namespaces (spawn.c). */
#include "config.h"

#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

bool
userns_wanted (const Grpc__Spec *spec)
{
  const Grpc__Linux *lx = spec ? spec->linux : NULL;
  if (!lx)
    return false;
  for (size_t i = 0; i < lx->n_namespaces; i++)
    if (lx->namespaces[i]->type && strcmp (lx->namespaces[i]->type, "user") == 0)
      return true;
  return false;
}

/* "container host size\n" lines; false if they do not fit (the kernel takes
 * at most 340 lines, and one page). */
static bool
format_map (Grpc__LinuxIDMapping **maps, size_t n, char *buf, size_t len)
{
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < n; i++)
    {
      int w = snprintf (buf + used, len - used, "%u %u %u\n", maps[i]->containerid, maps[i]->hostid,
                        maps[i]->size);
      if (w < 0 || (size_t) w >= len - used)
        return false;
      used += (size_t) w;
    }
  return true;
}

static int
write_map (pid_t pid, const char *name, const char *text)
{
  char path[64];
  snprintf (path, sizeof path, "/proc/%d/%s", (int) pid, name);
  int fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return errno;
  ssize_t n = write (fd, text, strlen (text));
  int e = n == (ssize_t) strlen (text) ? 0 : (n < 0 ? errno : EIO);
  close (fd);
  return e;
}

bool
userns_enter (const Grpc__Linux *lx, char *msg, size_t msg_len)
{
  static char uid_map[4096], gid_map[4096];
  if (!lx || lx->n_uidmappings == 0 || lx->n_gidmappings == 0)
    return msg_fail (msg, msg_len, 0, "a user namespace needs linux.uidMappings and linux.gidMappings");
  if (!format_map (lx->uidmappings, lx->n_uidmappings, uid_map, sizeof uid_map)
      || !format_map (lx->gidmappings, lx->n_gidmappings, gid_map, sizeof gid_map))
    return msg_fail (msg, msg_len, 0, "linux.uidMappings or gidMappings: too many entries");

  int go[2];
  if (pipe2 (go, O_CLOEXEC) < 0)
    return msg_fail (msg, msg_len, errno, "pipe");
  pid_t helper = fork ();
  if (helper < 0)
    {
      int e = errno;
      close (go[0]);
      close (go[1]);
      return msg_fail (msg, msg_len, e, "fork");
    }
  if (helper == 0)
    {
      /* Still in the guest's user namespace, as root: wait for the unshare,
       * then map. The exit status carries the errno (uid map: +0, gid: +128). */
      close (go[1]);
      char c;
      if (read (go[0], &c, 1) != 1)
        _exit (127);
      pid_t parent = getppid ();
      int e = write_map (parent, "uid_map", uid_map);
      if (e)
        _exit (e & 0x7f);
      e = write_map (parent, "gid_map", gid_map);
      _exit (e ? 128 | (e & 0x7f) : 0);
    }
  close (go[0]);
  int unshare_errno = unshare (CLONE_NEWUSER) < 0 ? errno : 0;
  if (!unshare_errno)
    (void) !write (go[1], "x", 1);
  close (go[1]);
  int status = 0;
  while (waitpid (helper, &status, 0) < 0 && errno == EINTR)
    ;
  if (unshare_errno)
    return msg_fail (msg, msg_len, unshare_errno, "cannot create the user namespace");
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    {
      int code = WIFEXITED (status) ? WEXITSTATUS (status) : 0;
      return msg_fail (msg, msg_len, code & 0x7f, "cannot write the %s map of the user namespace "
                       "(is /proc mounted in the container?)", code & 128 ? "gid" : "uid");
    }
  /* Root of the namespace if 0 is mapped; privileges_apply sets the user. */
  if (setresgid (0, 0, 0) < 0 && errno != EINVAL)
    return msg_fail (msg, msg_len, errno, "setgid 0 in the user namespace");
  if (setresuid (0, 0, 0) < 0 && errno != EINVAL)
    return msg_fail (msg, msg_len, errno, "setuid 0 in the user namespace");
  return true;
}
