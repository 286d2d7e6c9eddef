/* Loading kernel modules from the initramfs. */
#include "config.h"

#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <linux/virtio_ids.h>

#ifndef MODULE_INIT_COMPRESSED_FILE
#define MODULE_INIT_COMPRESSED_FILE 4
#endif

static bool
has_suffix (const char *s, const char *suffix)
{
  size_t a = strlen (s), b = strlen (suffix);
  return a >= b && strcmp (s + a - b, suffix) == 0;
}

/* Loads one .ko file; a module already loaded counts as success. */
static bool
load_file (const char *path, const char *params)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      agent_log ("module %s: %s", path, strerror (errno));
      return false;
    }
  int flags = 0;
  if (has_suffix (path, ".xz") || has_suffix (path, ".zst") || has_suffix (path, ".gz"))
    flags |= MODULE_INIT_COMPRESSED_FILE;
  long r = syscall (SYS_finit_module, fd, params ? params : "", flags);
  int e = errno;
  close (fd);
  if (r < 0 && e != EEXIST)
    {
      agent_log ("module %s: %s", path, strerror (e));
      return false;
    }
  return true;
}

/* The module that gives the agent its channel; everything up to it in the
 * load order is loaded before serving. */
#define CHANNEL_MODULE "/virtio_console.ko"
#define MAX_MODULES 256

/* One line of the load order: a path under /lib/modules/<release>/, and
 * what modules.dep says it needs (every dependency, not only direct ones). */
typedef struct {
  char *path;
  char name[64];
  char *deps; /* " a.ko b.ko " or NULL */
  bool done;
} Module;

/* Loads serialise on this lock: a request that needs a module the boot
 * thread is loading waits for that load instead of racing it. */
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static char module_dir[300];
static Module modules[MAX_MODULES];
static size_t n_modules;

/* "kernel/fs/9p/9p.ko" -> "9p" */
static void
module_name (const char *path, char *out, size_t size)
{
  const char *base = strrchr (path, '/');
  base = base ? base + 1 : path;
  size_t n = strcspn (base, ".");
  if (n >= size)
    n = size - 1;
  memcpy (out, base, n);
  out[n] = '\0';
}

static Module *
find_by_path (const char *path)
{
  for (size_t i = 0; i < n_modules; i++)
    if (strcmp (modules[i].path, path) == 0)
      return &modules[i];
  return NULL;
}

static Module *
find_by_name (const char *name)
{
  for (size_t i = 0; i < n_modules; i++)
    if (strcmp (modules[i].name, name) == 0)
      return &modules[i];
  return NULL;
}

/* Reads "path" lines (the image's order) or "path: deps" lines (modules.dep). */
static void
read_list (FILE *f, bool from_dep)
{
  char line[2048];
  while (n_modules < MAX_MODULES && fgets (line, sizeof line, f))
    {
      line[strcspn (line, from_dep ? ":\n" : "\n")] = '\0';
      if (!line[0] || line[0] == '#' || find_by_path (line))
        continue;
      Module *m = &modules[n_modules++];
      m->path = xstrdup (line);
      module_name (line, m->name, sizeof m->name);
    }
}

/* Attaches modules.dep's dependencies to the modules of the load order. */
static void
read_deps (void)
{
  char path[400], line[4096];
  snprintf (path, sizeof path, "%s/modules.dep", module_dir);
  FILE *f = fopen (path, "re");
  if (!f)
    return;
  while (fgets (line, sizeof line, f))
    {
      char *colon = strchr (line, ':');
      if (!colon)
        continue;
      *colon = '\0';
      Module *m = find_by_path (line);
      if (!m || m->deps)
        continue;
      char *rest = colon + 1;
      rest[strcspn (rest, "\n")] = '\0';
      size_t len = strlen (rest);
      m->deps = xcalloc (1, len + 3);
      snprintf (m->deps, len + 3, " %s ", rest);
    }
  fclose (f);
}

static bool
depends_on (const Module *m, const char *path)
{
  if (!m->deps)
    return false;
  size_t len = strlen (path);
  for (const char *p = strstr (m->deps, path); p; p = strstr (p + 1, path))
    if (p[-1] == ' ' && p[len] == ' ')
      return true;
  return false;
}

static void
load_locked (Module *m, int *loaded)
{
  char path[1600];
  snprintf (path, sizeof path, "%s/%s", module_dir, m->path);
  if (load_file (path, NULL))
    (*loaded)++;
  m->done = true;
}

/* Loads target and what it depends on, in the image's order. */
static int
require_locked (Module *target)
{
  int loaded = 0;
  for (size_t i = 0; i < n_modules && !target->done; i++)
    if (!modules[i].done && (&modules[i] == target || depends_on (target, modules[i].path)))
      load_locked (&modules[i], &loaded);
  return loaded;
}

void
modules_require (const char *name)
{
  pthread_mutex_lock (&load_lock);
  Module *m = find_by_name (name);
  if (m && !m->done)
    {
      int64_t start = monotonic_ms ();
      int loaded = require_locked (m);
      agent_debug ("%s: loaded %d modules in %lld ms", name, loaded, (long long) (monotonic_ms () - start));
    }
  pthread_mutex_unlock (&load_lock);
}

void
modules_require_all (void)
{
  pthread_mutex_lock (&load_lock);
  int loaded = 0;
  int64_t start = monotonic_ms ();
  for (size_t i = 0; i < n_modules; i++)
    if (!modules[i].done)
      load_locked (&modules[i], &loaded);
  if (loaded > 0)
    agent_debug ("loaded the %d remaining modules in %lld ms", loaded, (long long) (monotonic_ms () - start));
  pthread_mutex_unlock (&load_lock);
}

void
modules_none (void)
{
}

bool
modules_virtio_device_present (unsigned id)
{
  DIR *d = opendir ("/sys/bus/virtio/devices");
  if (!d)
    return false;
  bool found = false;
  struct dirent *e;
  while (!found && (e = readdir (d)))
    {
      char path[600], value[32];
      if (e->d_name[0] == '.')
        continue;
      snprintf (path, sizeof path, "/sys/bus/virtio/devices/%s/device", e->d_name);
      if (read_small_file (path, value, sizeof value) > 0 && strtoul (value, NULL, 0) == id)
        found = true;
    }
  closedir (d);
  return found;
}

/* What each virtio device the VM booted with needs (virtio_ids.h): vsock
 * first (Cloud Hypervisor's agent channel), then the shared file systems,
 * which CreateSandbox mounts first. */
static const struct {
  unsigned id; /* VIRTIO_ID_* */
  const char *modules[3];
} device_modules[] = {
  { VIRTIO_ID_VSOCK, { "vmw_vsock_virtio_transport" } },
  { VIRTIO_ID_9P, { "9pnet_virtio", "9p" } },
  { VIRTIO_ID_FS, { "virtiofs" } },
  { VIRTIO_ID_BLOCK, { "virtio_blk", "ext4" } },
  { VIRTIO_ID_NET, { "virtio_net" } },
};

/* Loads what the VM's devices need while the host already talks to the
 * agent. The rest (a volume's file system, a device hot-plugged later) is
 * loaded when a request needs it: loading it now would take the one vCPU
 * from the first container (ext4 alone is a quarter of a second in TCG). */
static void *
boot_modules_thread (void *data)
{
  (void) data;
  int64_t start = monotonic_ms ();
  for (size_t i = 0; i < sizeof device_modules / sizeof device_modules[0]; i++)
    if (modules_virtio_device_present (device_modules[i].id))
      for (size_t j = 0; j < 3 && device_modules[i].modules[j]; j++)
        modules_require (device_modules[i].modules[j]);
  agent_debug ("loaded the modules of the VM's devices in %lld ms", (long long) (monotonic_ms () - start));
  return NULL;
}

void
modules_load_all (void)
{
  struct utsname u;
  char list[600];
  bool from_dep = false;

  if (uname (&u) < 0)
    return;
  snprintf (module_dir, sizeof module_dir, "/lib/modules/%s", u.release);
  /* The image builder writes the load order, dependencies first; without it
   * every module of modules.dep is loaded in the order listed. */
  snprintf (list, sizeof list, "/etc/vcrun-modules");
  FILE *f = fopen (list, "re");
  if (!f)
    {
      snprintf (list, sizeof list, "%s/modules.dep", module_dir);
      f = fopen (list, "re");
      from_dep = true;
    }
  if (!f)
    {
      agent_debug ("no module list (%s): nothing to load", list);
      return;
    }
  read_list (f, from_dep);
  fclose (f);
  read_deps ();

  /* A template VM (vcrun.template on the command line) is saved once the
   * channel opens: load everything first, or each guest restored from it
   * would load what its devices need again. */
  char cmdline[4096];
  if (read_small_file ("/proc/cmdline", cmdline, sizeof cmdline) > 0 && strstr (cmdline, "vcrun.template"))
    {
      modules_require_all ();
      agent_debug ("template VM: loaded every module before serving");
      return;
    }

  /* The channel first, so that the host can talk to the agent while the
   * file system and network modules load; requests that need them wait
   * (modules_require). */
  int loaded = 0;
  int64_t start = monotonic_ms ();
  pthread_mutex_lock (&load_lock);
  for (size_t i = 0; i < n_modules; i++)
    {
      load_locked (&modules[i], &loaded);
      if (has_suffix (modules[i].path, CHANNEL_MODULE))
        break;
    }
  pthread_mutex_unlock (&load_lock);
  agent_debug ("loaded %d modules for the channel in %lld ms", loaded, (long long) (monotonic_ms () - start));

  pthread_t t;
  pthread_attr_t attr;
  pthread_attr_init (&attr);
  pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED);
  int r = pthread_create (&t, &attr, boot_modules_thread, NULL);
  pthread_attr_destroy (&attr);
  if (r != 0)
    boot_modules_thread (NULL);
}

bool
modules_load (const char *name, char *const params[], size_t n_params, AgentError *err)
{
  char *argv[64];
  size_t n = 0;

  if (!name || !*name || strchr (name, '/'))
    return agent_error (err, VC_TTRPC_CODE_INVALID_ARGUMENT, "invalid kernel module name '%s'", name ? name : "");
  argv[n++] = "/bin/busybox";
  argv[n++] = "modprobe";
  argv[n++] = (char *) name;
  for (size_t i = 0; i < n_params && n < 63; i++)
    argv[n++] = params[i];
  argv[n] = NULL;
  int code = run_command (argv);
  if (code != 0)
    return agent_error (err, VC_TTRPC_CODE_INTERNAL, "modprobe %s failed (exit %d)", name, code);
  return true;
}
