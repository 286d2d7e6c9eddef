/* Guest-wide requests: details, clock, CPU/memory online, file copy. */
#include "config.h"

#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static char *storage_handlers[] = { "9p", "virtio-fs", "blk", "ephemeral", "local" };

bool
guest_details (const Grpc__GuestDetailsRequest *req, Grpc__GuestDetailsResponse *resp,
               Grpc__AgentDetails *details, AgentError *err)
{
  char buf[64];
  if (req->mem_block_size && read_small_file ("/sys/devices/system/memory/block_size_bytes", buf, sizeof buf) > 0)
    resp->mem_block_size_bytes = strtoull (buf, NULL, 16);
  if (req->mem_hotplug_probe)
    resp->support_mem_hotplug_probe = access ("/sys/devices/system/memory/probe", F_OK) == 0;
  details->version = AGENT_VERSION;
  details->init_daemon = getpid () == 1;
  details->n_storage_handlers = sizeof storage_handlers / sizeof storage_handlers[0];
  details->storage_handlers = storage_handlers;
  details->supports_seccomp = true;
  resp->agent_details = details;
  return true;
}

bool
guest_set_time (const Grpc__SetGuestDateTimeRequest *req, AgentError *err)
{
  if (req->usec < 0 || req->usec >= 1000000)
    return agent_error (err, VC_TTRPC_CODE_INVALID_ARGUMENT, "invalid microseconds %lld", (long long) req->usec);
  struct timespec ts = { .tv_sec = (time_t) req->sec, .tv_nsec = (long) req->usec * 1000 };
  if (clock_settime (CLOCK_REALTIME, &ts) < 0)
    return agent_error_errno (err, VC_TTRPC_CODE_INTERNAL, errno, "cannot set the clock");
  return true;
}

/* Writes `value` to every <dir>/<prefix>N/<file> that holds `from`. */
static int
online_all (const char *dir, const char *prefix, const char *file, const char *from, const char *value)
{
  DIR *d = opendir (dir);
  int changed = 0;
  if (!d)
    return 0;
  struct dirent *e;
  while ((e = readdir (d)))
    {
      if (strncmp (e->d_name, prefix, strlen (prefix)) != 0)
        continue;
      char path[512], buf[64];
      snprintf (path, sizeof path, "%s/%s/%s", dir, e->d_name, file);
      if (read_small_file (path, buf, sizeof buf) <= 0 || strncmp (buf, from, strlen (from)) != 0)
        continue;
      AgentError ignored = { 0 };
      if (write_file (path, value, &ignored))
        changed++;
    }
  closedir (d);
  return changed;
}

static int
online_cpu_count (void)
{
  return (int) sysconf (_SC_NPROCESSORS_ONLN);
}

bool
guest_online_cpu_mem (const Grpc__OnlineCPUMemRequest *req, AgentError *err)
{
  int64_t deadline = monotonic_ms () + 10000;
  do
    {
      online_all ("/sys/devices/system/cpu", "cpu", "online", "0", "1");
      if (!req->cpu_only)
        online_all ("/sys/devices/system/memory", "memory", "state", "offline", "online");
      if (req->nb_cpus == 0 || online_cpu_count () >= (int) req->nb_cpus || !req->wait)
        break;
      usleep (50000);
    }
  while (monotonic_ms () < deadline);
  if (req->wait && req->nb_cpus > 0 && online_cpu_count () < (int) req->nb_cpus)
    return agent_error (err, VC_TTRPC_CODE_DEADLINE_EXCEEDED, "only %d of %u CPUs came online",
                        online_cpu_count (), req->nb_cpus);
  return true;
}

/* Kata's rule: an absolute, canonical path below /run. */
static bool
copy_path_ok (const char *path)
{
  if (!path || strncmp (path, "/run/", 5) != 0 || strstr (path, "/../") || strstr (path, "/./")
      || strstr (path, "//"))
    return false;
  size_t len = strlen (path);
  return !(len >= 3 && strcmp (path + len - 3, "/..") == 0) && !(len >= 2 && strcmp (path + len - 2, "/.") == 0);
}

bool
guest_copy_file (const Grpc__CopyFileRequest *req, AgentError *err)
{
  if (!copy_path_ok (req->path))
    return agent_error (err, VC_TTRPC_CODE_INVALID_ARGUMENT, "CopyFile: '%s' is not a canonical path below /run",
                        req->path ? req->path : "");
  if (req->offset < 0 || req->file_size < 0 || (uint64_t) req->offset + req->data.len > (uint64_t) req->file_size)
    return agent_error (err, VC_TTRPC_CODE_INVALID_ARGUMENT, "CopyFile %s: write past the announced size",
                        req->path);

  char dir[4096];
  snprintf (dir, sizeof dir, "%s", req->path);
  if (!mkdir_p (dirname (dir), req->dir_mode ? req->dir_mode & 07777 : 0755, err))
    return false;

  mode_t type = req->file_mode & S_IFMT;
  if (type == S_IFDIR)
    {
      if (mkdir (req->path, req->file_mode & 07777) < 0 && errno != EEXIST)
        return agent_error_errno (err, VC_TTRPC_CODE_INTERNAL, errno, "CopyFile: mkdir %s", req->path);
      (void) !chown (req->path, (uid_t) req->uid, (gid_t) req->gid);
      return true;
    }
  if (type == S_IFLNK)
    {
      char target[4096];
      if (req->data.len >= sizeof target)
        return agent_error (err, VC_TTRPC_CODE_INVALID_ARGUMENT, "CopyFile: link target too long");
      memcpy (target, req->data.data, req->data.len);
      target[req->data.len] = '\0';
      unlink (req->path);
      if (symlink (target, req->path) < 0)
        return agent_error_errno (err, VC_TTRPC_CODE_INTERNAL, errno, "CopyFile: symlink %s", req->path);
      return true;
    }

  /* data goes to a temporary file, renamed into place once complete */
  char tmp[4200];
  snprintf (tmp, sizeof tmp, "%s.vcrun-copy", req->path);
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (req->offset == 0 ? O_TRUNC : 0);
  int fd = open (tmp, flags, 0600);
  if (fd < 0)
    return agent_error_errno (err, VC_TTRPC_CODE_INTERNAL, errno, "CopyFile: open %s", tmp);
  bool ok = true;
  if (req->data.len > 0 && pwrite (fd, req->data.data, req->data.len, req->offset) != (ssize_t) req->data.len)
    ok = agent_error_errno (err, VC_TTRPC_CODE_INTERNAL, errno, "CopyFile: write %s", tmp);
  struct stat st;
  if (ok && fstat (fd, &st) == 0 && st.st_size == req->file_size)
    {
      if (fchmod (fd, req->file_mode & 07777) < 0 || fchown (fd, (uid_t) req->uid, (gid_t) req->gid) < 0
          || rename (tmp, req->path) < 0)
        ok = agent_error_errno (err, VC_TTRPC_CODE_INTERNAL, errno, "CopyFile: finish %s", req->path);
    }
  close (fd);
  return ok;
}
