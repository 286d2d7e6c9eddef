/* Mount option parsing shared by storages and OCI mounts. */
#include "config.h"

#include "mountopts.h"

#include <string.h>
#include <sys/mount.h>

#ifndef MS_NOSYMFOLLOW
#define MS_NOSYMFOLLOW 256
#endif

typedef struct {
  const char *name;
  bool clear;               /* the option removes the flag */
  unsigned long flag;
} FlagOption;

static const FlagOption flag_options[] = {
  { "ro", false, MS_RDONLY },        { "rw", true, MS_RDONLY },
  { "nosuid", false, MS_NOSUID },    { "suid", true, MS_NOSUID },
  { "nodev", false, MS_NODEV },      { "dev", true, MS_NODEV },
  { "noexec", false, MS_NOEXEC },    { "exec", true, MS_NOEXEC },
  { "sync", false, MS_SYNCHRONOUS }, { "async", true, MS_SYNCHRONOUS },
  { "dirsync", false, MS_DIRSYNC },  { "remount", false, MS_REMOUNT },
  { "mand", false, MS_MANDLOCK },    { "nomand", true, MS_MANDLOCK },
  { "noatime", false, MS_NOATIME },  { "atime", true, MS_NOATIME },
  { "nodiratime", false, MS_NODIRATIME }, { "diratime", true, MS_NODIRATIME },
  { "relatime", false, MS_RELATIME }, { "norelatime", true, MS_RELATIME },
  { "strictatime", false, MS_STRICTATIME }, { "nostrictatime", true, MS_STRICTATIME },
  { "nosymfollow", false, MS_NOSYMFOLLOW }, { "symfollow", true, MS_NOSYMFOLLOW },
  { "bind", false, MS_BIND },        { "rbind", false, MS_BIND | MS_REC },
  { "defaults", false, 0 },
};

static const FlagOption propagation_options[] = {
  { "private", false, MS_PRIVATE },  { "rprivate", false, MS_PRIVATE | MS_REC },
  { "shared", false, MS_SHARED },    { "rshared", false, MS_SHARED | MS_REC },
  { "slave", false, MS_SLAVE },      { "rslave", false, MS_SLAVE | MS_REC },
  { "unbindable", false, MS_UNBINDABLE }, { "runbindable", false, MS_UNBINDABLE | MS_REC },
};

void
mount_options_parse (char *const *options, size_t n, MountOptions *out)
{
  memset (out, 0, sizeof *out);
  for (size_t i = 0; i < n; i++)
    {
      const char *opt = options[i];
      bool known = false;
      if (!opt || !*opt)
        continue;
      for (size_t j = 0; j < sizeof flag_options / sizeof flag_options[0]; j++)
        if (strcmp (opt, flag_options[j].name) == 0)
          {
            if (flag_options[j].clear)
              out->flags &= ~flag_options[j].flag;
            else
              out->flags |= flag_options[j].flag;
            known = true;
            break;
          }
      for (size_t j = 0; !known && j < sizeof propagation_options / sizeof propagation_options[0]; j++)
        if (strcmp (opt, propagation_options[j].name) == 0)
          {
            out->propagation = propagation_options[j].flag;
            known = true;
          }
      /* runc's and crun's extension: copy what the directory held into the
       * new tmpfs. "x-..." options are for userspace tools, not mount(2). */
      if (strcmp (opt, "tmpcopyup") == 0)
        out->tmpcopyup = true, known = true;
      else if (strcmp (opt, "notmpcopyup") == 0)
        out->tmpcopyup = false, known = true;
      else if (strncmp (opt, "x-", 2) == 0)
        known = true;
      if (known)
        continue;
      size_t used = strlen (out->data);
      size_t need = strlen (opt) + (used ? 1 : 0);
      if (used + need + 1 > sizeof out->data)
        {
          out->truncated = true;
          continue;
        }
      if (used)
        out->data[used++] = ',';
      strcpy (out->data + used, opt);
    }
}
