/* Being init: the file systems every guest needs and standard fds. */
#include "config.h"

#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
  const char *source;
  const char *target;
  const char *fstype;
  unsigned long flags;
  const char *data;
} EarlyMount;

static const EarlyMount early_mounts[] = {
  { "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
  { "sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
  { "devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755" },
  { "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "gid=5,mode=0620,ptmxmode=0666" },
  { "shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" },
  { "cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
  { "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" },
  { "tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755" },
};

/* True if something is already mounted at path (its device differs from
 * its parent's), so that running twice or after the kernel did not fail. */
static bool
is_mount_point (const char *path)
{
  struct stat st, parent;
  char up[256];
  snprintf (up, sizeof up, "%s/..", path);
  if (stat (path, &st) < 0 || stat (up, &parent) < 0)
    return false;
  return st.st_dev != parent.st_dev;
}

void
init_mount_system (void)
{
  for (size_t i = 0; i < sizeof early_mounts / sizeof early_mounts[0]; i++)
    {
      const EarlyMount *m = &early_mounts[i];
      mkdir (m->target, 0755);
      if (is_mount_point (m->target))
        continue;
      if (mount (m->source, m->target, m->fstype, m->flags, m->data) < 0)
        agent_log ("cannot mount %s on %s: %s", m->fstype, m->target, strerror (errno));
    }
  /* Open pseudo-terminals through the devpts instance mounted above. */
  struct stat st;
  if (lstat ("/dev/ptmx", &st) == 0 && !S_ISLNK (st.st_mode))
    {
      if (mount ("/dev/pts/ptmx", "/dev/ptmx", NULL, MS_BIND, NULL) < 0)
        agent_debug ("cannot bind /dev/pts/ptmx: %s", strerror (errno));
    }
  else if (symlink ("pts/ptmx", "/dev/ptmx") < 0 && errno != EEXIST)
    agent_log ("cannot link /dev/ptmx: %s", strerror (errno));
  (void) !symlink ("/proc/self/fd", "/dev/fd");
}

void
init_standard_fds (void)
{
  for (int fd = 0; fd <= 2; fd++)
    {
      if (fcntl (fd, F_GETFD) >= 0)
        continue;
      /* The kernel found no /dev/console in the initramfs: without this the
       * first files the agent opens would become its stdout. */
      mkdir ("/dev", 0755);
      if (!is_mount_point ("/dev"))
        mount ("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
      int c = open ("/dev/console", O_RDWR | O_NOCTTY);
      if (c < 0)
        c = open ("/dev/null", O_RDWR | O_NOCTTY);
      if (c >= 0 && c != fd)
        {
          dup2 (c, fd);
          if (c > 2)
            close (c);
        }
    }
}
