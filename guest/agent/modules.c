/* Loading kernel modules from the initramfs. */
#include "config.h"

#include "agent.h"

#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

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
 * load order is loaded before serving, the rest in the background. */
#define CHANNEL_MODULE "/virtio_console.ko"

typedef struct {
  char dir[512];
  char list[600];
  FILE *file;
  bool from_dep;
} ModuleList;

static pthread_mutex_t loaded_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t loaded_cond = PTHREAD_COND_INITIALIZER;
static bool all_loaded;
/* The modules tried so far ("9p", "overlay"), for modules_wait_for. */
#define MAX_DONE 128
static char done_names[MAX_DONE][64];
static size_t n_done;

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

static void
mark_done (const char *path)
{
  pthread_mutex_lock (&loaded_lock);
  if (n_done < MAX_DONE)
    module_name (path, done_names[n_done++], sizeof done_names[0]);
  pthread_cond_broadcast (&loaded_cond);
  pthread_mutex_unlock (&loaded_lock);
}

static bool
is_done_locked (const char *name)
{
  for (size_t i = 0; i < n_done; i++)
    if (strcmp (done_names[i], name) == 0)
      return true;
  return false;
}

static void
mark_all_loaded (void)
{
  pthread_mutex_lock (&loaded_lock);
  all_loaded = true;
  pthread_cond_broadcast (&loaded_cond);
  pthread_mutex_unlock (&loaded_lock);
}

void
modules_none (void)
{
  mark_all_loaded ();
}

void
modules_wait (void)
{
  pthread_mutex_lock (&loaded_lock);
  while (!all_loaded)
    pthread_cond_wait (&loaded_cond, &loaded_lock);
  pthread_mutex_unlock (&loaded_lock);
}

void
modules_wait_for (const char *name)
{
  pthread_mutex_lock (&loaded_lock);
  while (!all_loaded && !is_done_locked (name))
    pthread_cond_wait (&loaded_cond, &loaded_lock);
  pthread_mutex_unlock (&loaded_lock);
}

/* Loads modules from the list until end of file, or until (and including)
 * a path ending in stop_after. Returns true if it stopped there. */
static bool
load_until (ModuleList *m, const char *stop_after, int *loaded)
{
  char line[1024], path[1600];
  while (fgets (line, sizeof line, m->file))
    {
      line[strcspn (line, m->from_dep ? ":\n" : "\n")] = '\0';
      if (!line[0] || line[0] == '#')
        continue;
      snprintf (path, sizeof path, "%s/%s", m->dir, line);
      if (load_file (path, NULL))
        (*loaded)++;
      mark_done (line);
      if (stop_after && has_suffix (line, stop_after))
        return true;
    }
  return false;
}

static void *
load_rest_thread (void *data)
{
  ModuleList *m = data;
  int loaded = 0;
  int64_t start = monotonic_ms ();
  load_until (m, NULL, &loaded);
  fclose (m->file);
  agent_debug ("loaded %d more modules in %lld ms", loaded, (long long) (monotonic_ms () - start));
  free (m);
  mark_all_loaded ();
  return NULL;
}

void
modules_load_all (void)
{
  struct utsname u;
  ModuleList *m = xcalloc (1, sizeof *m);

  if (uname (&u) < 0)
    goto none;
  snprintf (m->dir, sizeof m->dir, "/lib/modules/%s", u.release);
  /* The image builder writes the load order, dependencies first; without it
   * every module of modules.dep is loaded in the order listed. */
  snprintf (m->list, sizeof m->list, "/etc/vcrun-modules");
  m->file = fopen (m->list, "re");
  if (!m->file)
    {
      snprintf (m->list, sizeof m->list, "%s/modules.dep", m->dir);
      m->file = fopen (m->list, "re");
      m->from_dep = true;
    }
  if (!m->file)
    {
      agent_debug ("no module list (%s): nothing to load", m->list);
      goto none;
    }

  /* The channel first, so that the host can talk to the agent while the
   * file system and network modules load; requests that need them wait
   * (modules_wait). */
  int loaded = 0;
  int64_t start = monotonic_ms ();
  /* A template VM (vcrun.template on the command line) is saved once the
   * channel opens: load everything first, or each guest restored from it
   * would load the rest again. */
  char cmdline[4096];
  bool template_vm = read_small_file ("/proc/cmdline", cmdline, sizeof cmdline) > 0
                     && strstr (cmdline, "vcrun.template") != NULL;
  if (template_vm)
    {
      load_rest_thread (m);
      agent_debug ("template VM: loaded every module before serving");
      return;
    }
  load_until (m, CHANNEL_MODULE, &loaded);
  agent_debug ("loaded %d modules for the channel in %lld ms", loaded, (long long) (monotonic_ms () - start));
  pthread_t t;
  pthread_attr_t attr;
  pthread_attr_init (&attr);
  pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED);
  int r = pthread_create (&t, &attr, load_rest_thread, m);
  pthread_attr_destroy (&attr);
  if (r == 0)
    return;
  load_rest_thread (m);
  return;

none:
  free (m);
  mark_all_loaded ();
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
