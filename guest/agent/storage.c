/* Storages (Kata's Storage message): shared directories (9p, virtio-fs),
 * block devices, tmpfs, plain directories, mounted at their mount_point;
 * and the sandbox that owns the shared ones. */
#include "config.h"

#include "agent.h"
#include "mountopts.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

/* How long a block device may take to show up in /dev after hotplug. */
#define DEVICE_WAIT_MS 10000

static bool
is_driver (const Grpc__Storage *st, const char *a, const char *b)
{
  return (st->driver && (strcmp (st->driver, a) == 0 || (b && strcmp (st->driver, b) == 0)));
}

static bool
wait_for_device (const char *path, AgentError *err)
{
  int64_t deadline = monotonic_ms () + DEVICE_WAIT_MS;
  struct stat st;
  while (stat (path, &st) < 0)
    {
      if (monotonic_ms () > deadline)
        return agent_error (err, VC_TTRPC_CODE_DEADLINE_EXCEEDED, "block device %s did not appear", path);
      usleep (20000);
    }
  return true;
}

/* Kata names a virtio-blk device by its PCI path: the slot on the root bus,
 * then the slot behind each bridge ("02" or "02/01", hex). Finds the device
 * directory in sysfs, then its block device. */
static bool
pci_path_to_block_device (const char *pci_path, char *dev, size_t dev_len)
{
  char dir[1024] = "/sys/devices/pci0000:00";
  char copy[64];
  snprintf (copy, sizeof copy, "%s", pci_path);
  for (char *tok = strtok (copy, "/"); tok; tok = strtok (NULL, "/"))
    {
      unsigned slot;
      if (sscanf (tok, "%2x", &slot) != 1)
        return false;
      char suffix[16];
      snprintf (suffix, sizeof suffix, ":%02x.0", slot);
      DIR *d = opendir (dir);
      if (!d)
        return false;
      struct dirent *e;
      bool found = false;
      while ((e = readdir (d)))
        {
          size_t n = strlen (e->d_name), k = strlen (suffix);
          if (n == 12 && n > k && strcmp (e->d_name + n - k, suffix) == 0)
            {
              size_t used = strlen (dir);
              snprintf (dir + used, sizeof dir - used, "/%s", e->d_name);
              found = true;
              break;
            }
        }
      closedir (d);
      if (!found)
        return false;
    }
  /* <device>/virtioN/block/<name> */
  DIR *d = opendir (dir);
  if (!d)
    return false;
  struct dirent *e;
  bool found = false;
  while (!found && (e = readdir (d)))
    {
      if (strncmp (e->d_name, "virtio", 6) != 0)
        continue;
      char block[1200];
      snprintf (block, sizeof block, "%s/%s/block", dir, e->d_name);
      DIR *b = opendir (block);
      if (!b)
        continue;
      struct dirent *be;
      while ((be = readdir (b)))
        if (be->d_name[0] != '.')
          {
            snprintf (dev, dev_len, "/dev/%s", be->d_name);
            found = true;
            break;
          }
      closedir (b);
    }
  closedir (d);
  return found;
}

static bool
is_pci_path (const char *s)
{
  if (!s || !*s)
    return false;
  for (const char *p = s; *p; p++)
    if (!isxdigit ((unsigned char) *p) && *p != '/')
      return false;
  return true;
}

/* The block device at a PCI path; a hotplugged one may take a moment to appear. */
bool
storage_find_block_device (const char *pci_path, char *dev, size_t dev_len, AgentError *err)
{
  if (!is_pci_path (pci_path))
    return agent_error (err, VC_TTRPC_CODE_INVALID_ARGUMENT, "'%s' is not a PCI path",
                        pci_path ? pci_path : "");
  modules_require ("virtio_blk");
  int64_t deadline = monotonic_ms () + DEVICE_WAIT_MS;
  while (!pci_path_to_block_device (pci_path, dev, dev_len))
    {
      if (monotonic_ms () > deadline)
        return agent_error (err, VC_TTRPC_CODE_DEADLINE_EXCEEDED, "no block device at PCI path %s",
                            pci_path);
      usleep (20000);
    }
  return wait_for_device (dev, err);
}

bool
storage_mount (const Grpc__Storage *st, AgentError *err)
{
  const char *mp = st->mount_point;
  /* The file system's module, not the ones listed after it (ext4 is last). */
  if (is_driver (st, "9p", NULL) || (st->fstype && strcmp (st->fstype, "9p") == 0))
    {
      modules_require ("9pnet_virtio");
      modules_require ("9p");
    }
  else if (is_driver (st, "virtio-fs", "virtiofs") || (st->fstype && strcmp (st->fstype, "virtiofs") == 0))
    modules_require ("virtiofs");
  else if (!is_driver (st, "local", NULL) && !is_driver (st, "ephemeral", "tmpfs"))
    modules_require_all (); /* ext4 on a block device, ... */
  if (!mp || mp[0] != '/' || strstr (mp, "/../") || strcmp (mp, "/") == 0)
    return agent_error (err, VC_TTRPC_CODE_INVALID_ARGUMENT, "storage: invalid mount point '%s'", mp ? mp : "");
  if (!mkdir_p (mp, 0755, err))
    return false;

  MountOptions o;
  mount_options_parse (st->options, st->n_options, &o);
  if (o.truncated)
    return agent_error (err, VC_TTRPC_CODE_INVALID_ARGUMENT, "storage %s: options too long", mp);
  const char *fstype = st->fstype && *st->fstype ? st->fstype : NULL;
  const char *source = st->source && *st->source ? st->source : NULL;
  char data[1100];
  char device[300];
  snprintf (data, sizeof data, "%s", o.data);

  if (is_driver (st, "local", NULL))
    return true; /* a directory in the guest: created above */

  if (is_driver (st, "9p", NULL) || (fstype && strcmp (fstype, "9p") == 0))
    {
      fstype = "9p";
      if (!strstr (data, "trans="))
        snprintf (data + strlen (data), sizeof data - strlen (data), "%strans=virtio", data[0] ? "," : "");
    }
  else if (is_driver (st, "virtio-fs", "virtiofs") || (fstype && strcmp (fstype, "virtiofs") == 0))
    fstype = "virtiofs";
  else if (is_driver (st, "ephemeral", "tmpfs") || (fstype && strcmp (fstype, "tmpfs") == 0))
    {
      fstype = "tmpfs";
      if (!source)
        source = "tmpfs";
    }
  else if (is_driver (st, "blk", "virtio-blk") || is_driver (st, "scsi", "virtio-blk-ccw")
           || is_driver (st, "mmioblk", "nvdimm"))
    {
      if (is_pci_path (source))
        {
          if (!storage_find_block_device (source, device, sizeof device, err))
            return false;
          source = device;
        }
      if (!source || source[0] != '/')
        return agent_error (err, VC_TTRPC_CODE_INVALID_ARGUMENT,
                            "storage %s: block source '%s' is neither a /dev path nor a PCI path", mp,
                            source ? source : "");
      if (!wait_for_device (source, err))
        return false;
      if (!fstype)
        return agent_error (err, VC_TTRPC_CODE_INVALID_ARGUMENT, "storage %s: block device without fstype", mp);
    }
  else if (!fstype)
    return agent_error (err, VC_TTRPC_CODE_INVALID_ARGUMENT, "storage %s: unknown driver '%s'", mp,
                        st->driver ? st->driver : "");

  if (!source)
    return agent_error (err, VC_TTRPC_CODE_INVALID_ARGUMENT, "storage %s: no source", mp);
  /* A virtio-fs device hot-plugged just before (a guest restored from a
   * template) may not be probed yet: its tag is unknown (EINVAL) for a while. */
  int64_t tag_deadline = monotonic_ms () + DEVICE_WAIT_MS;
  int r;
  while ((r = mount (source, mp, fstype, o.flags & ~(MS_BIND | MS_REC), data[0] ? data : NULL)) < 0
         && errno == EINVAL && strcmp (fstype, "virtiofs") == 0 && monotonic_ms () < tag_deadline)
    usleep (10000);
  if (r < 0)
    return agent_error_errno (err, VC_TTRPC_CODE_INTERNAL, errno, "cannot mount %s (%s) on %s", source, fstype, mp);
  agent_debug ("mounted %s (%s) on %s", source, fstype, mp);
  return true;
}

void
storage_unmount (const char *mount_point)
{
  if (mount_point && umount2 (mount_point, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
    agent_log ("cannot unmount %s: %s", mount_point, strerror (errno));
}

/* ---- the sandbox ---------------------------------------------------------- */

static pthread_mutex_t sandbox_lock = PTHREAD_MUTEX_INITIALIZER;
static bool sandbox_exists;
static char **sandbox_mounts;
static size_t n_sandbox_mounts;

bool
sandbox_create (const Grpc__CreateSandboxRequest *req, AgentError *err)
{
  pthread_mutex_lock (&sandbox_lock);
  if (sandbox_exists)
    {
      pthread_mutex_unlock (&sandbox_lock);
      return agent_error (err, VC_TTRPC_CODE_ALREADY_EXISTS, "the sandbox already exists");
    }
  bool ok = true;
  for (size_t i = 0; ok && i < req->n_kernel_modules; i++)
    ok = modules_load (req->kernel_modules[i]->name, req->kernel_modules[i]->parameters,
                       req->kernel_modules[i]->n_parameters, err);
  if (ok && req->hostname && *req->hostname && sethostname (req->hostname, strlen (req->hostname)) < 0)
    ok = agent_error_errno (err, VC_TTRPC_CODE_INTERNAL, errno, "cannot set the hostname");

  sandbox_mounts = xcalloc (req->n_storages, sizeof *sandbox_mounts);
  n_sandbox_mounts = 0;
  for (size_t i = 0; ok && i < req->n_storages; i++)
    {
      ok = storage_mount (req->storages[i], err);
      if (ok)
        sandbox_mounts[n_sandbox_mounts++] = xstrdup (req->storages[i]->mount_point);
    }
  if (ok && req->n_dns > 0)
    {
      /* resolv.conf for containers that bind it from the guest */
      mkdir ("/run/kata-containers", 0755);
      FILE *f = fopen ("/run/kata-containers/resolv.conf", "we");
      for (size_t i = 0; f && i < req->n_dns; i++)
        fprintf (f, "%s\n", req->dns[i]);
      if (f)
        fclose (f);
    }
  if (ok)
    network_loopback_up ();
  if (ok)
    {
      AgentError ignored = { 0 };
      if (!cgroup_setup_root (&ignored))
        agent_log ("%s", ignored.message);
      sandbox_exists = true;
      agent_log ("sandbox %s created", req->sandbox_id && *req->sandbox_id ? req->sandbox_id : "(unnamed)");
    }
  else
    {
      for (size_t i = n_sandbox_mounts; i > 0; i--)
        {
          storage_unmount (sandbox_mounts[i - 1]);
          free (sandbox_mounts[i - 1]);
        }
      free (sandbox_mounts);
      sandbox_mounts = NULL;
      n_sandbox_mounts = 0;
    }
  pthread_mutex_unlock (&sandbox_lock);
  return ok;
}

void
sandbox_destroy (void)
{
  pthread_mutex_lock (&sandbox_lock);
  for (size_t i = n_sandbox_mounts; i > 0; i--)
    {
      storage_unmount (sandbox_mounts[i - 1]);
      free (sandbox_mounts[i - 1]);
    }
  free (sandbox_mounts);
  sandbox_mounts = NULL;
  n_sandbox_mounts = 0;
  sandbox_exists = false;
  pthread_mutex_unlock (&sandbox_lock);
}
