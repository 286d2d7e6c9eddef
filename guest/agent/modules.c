/* Loading kernel modules from the initramfs. */
#include "config.h"

#include "agent.h"

#include <errno.h>
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

void
modules_load_all (void)
{
  struct utsname u;
  char dir[512], list[600], line[1024], path[1600];

  if (uname (&u) < 0)
    return;
  snprintf (dir, sizeof dir, "/lib/modules/%s", u.release);
  /* The image builder writes the load order, dependencies first; without it
   * every module of modules.dep is loaded in the order listed. */
  snprintf (list, sizeof list, "/etc/vcrun-modules");
  FILE *f = fopen (list, "re");
  bool from_dep = false;
  if (!f)
    {
      snprintf (list, sizeof list, "%s/modules.dep", dir);
      f = fopen (list, "re");
      from_dep = true;
    }
  if (!f)
    {
      agent_debug ("no module list (%s): nothing to load", list);
      return;
    }
  int loaded = 0;
  while (fgets (line, sizeof line, f))
    {
      line[strcspn (line, from_dep ? ":\n" : "\n")] = '\0';
      if (!line[0] || line[0] == '#')
        continue;
      snprintf (path, sizeof path, "%s/%s", dir, line);
      if (load_file (path, NULL))
        loaded++;
    }
  fclose (f);
  agent_debug ("loaded %d modules from %s", loaded, list);
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
