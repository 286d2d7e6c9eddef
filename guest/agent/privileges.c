/* Inside a container process, just before exec: rlimits, user and groups,
 * capabilities, no_new_privileges, seccomp. */
#include "config.h"

#include "agent.h"

#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <strings.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *const cap_names[] = {
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
  "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
  "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
  "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
  "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
};
#define N_CAPS ((int) (sizeof cap_names / sizeof cap_names[0]))

static int
cap_from_name (const char *name)
{
  for (int i = 0; i < N_CAPS; i++)
    if (strcasecmp (name, cap_names[i]) == 0 || strcasecmp (name, cap_names[i] + 4) == 0)
      return i;
  return -1;
}

static int
last_cap (void)
{
  char buf[32];
  if (read_small_file ("/proc/sys/kernel/cap_last_cap", buf, sizeof buf) > 0)
    return atoi (buf);
  return N_CAPS - 1;
}

/* Sets bits of a 64-bit capability mask from names. As runc, a name this
 * agent or the guest kernel does not know is skipped (caps_warn_unknown
 * logged it before the fork). */
static bool
caps_mask (char **names, size_t n, uint64_t *mask, char *msg, size_t msg_len)
{
  (void) msg;
  (void) msg_len;
  *mask = 0;
  int last = last_cap ();
  for (size_t i = 0; i < n; i++)
    {
      int cap = cap_from_name (names[i]);
      if (cap < 0 || cap > last)
        continue;
      *mask |= (uint64_t) 1 << cap;
    }
  return true;
}

static void
warn_unknown (char **names, size_t n, const char *set)
{
  int last = last_cap ();
  for (size_t i = 0; i < n; i++)
    {
      int cap = cap_from_name (names[i]);
      if (cap < 0 || cap > last)
        agent_log ("warning: ignoring unknown or unavailable capability '%s' (%s set)", names[i], set);
    }
}

void
caps_warn_unknown (const Grpc__Process *proc)
{
  const Grpc__LinuxCapabilities *caps = proc ? proc->capabilities : NULL;
  if (!caps)
    return;
  warn_unknown (caps->bounding, caps->n_bounding, "bounding");
  warn_unknown (caps->effective, caps->n_effective, "effective");
  warn_unknown (caps->permitted, caps->n_permitted, "permitted");
  warn_unknown (caps->inheritable, caps->n_inheritable, "inheritable");
  warn_unknown (caps->ambient, caps->n_ambient, "ambient");
}

static bool
apply_capabilities (const Grpc__LinuxCapabilities *caps, char *msg, size_t msg_len)
{
  uint64_t bounding, effective, permitted, inheritable, ambient;
  if (!caps_mask (caps->bounding, caps->n_bounding, &bounding, msg, msg_len)
      || !caps_mask (caps->effective, caps->n_effective, &effective, msg, msg_len)
      || !caps_mask (caps->permitted, caps->n_permitted, &permitted, msg, msg_len)
      || !caps_mask (caps->inheritable, caps->n_inheritable, &inheritable, msg, msg_len)
      || !caps_mask (caps->ambient, caps->n_ambient, &ambient, msg, msg_len))
    return false;
  /* The kernel keeps ambient within permitted and inheritable; OCI specs (runc's
   * default among them) list ambient capabilities without inheritable ones, so
   * an ambient capability implies its inheritable bit. */
  if (ambient & ~permitted)
    {
      for (int cap = 0; cap < 64; cap++)
        if (((ambient & ~permitted) >> cap) & 1)
          return msg_fail (msg, msg_len, EINVAL,
                           "ambient capability %d is not in the permitted set", cap);
    }
  inheritable |= ambient;

  struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3 };
  struct __user_cap_data_struct data[2] = { 0 };
  data[0].effective = (uint32_t) effective;
  data[1].effective = (uint32_t) (effective >> 32);
  data[0].permitted = (uint32_t) permitted;
  data[1].permitted = (uint32_t) (permitted >> 32);
  data[0].inheritable = (uint32_t) inheritable;
  data[1].inheritable = (uint32_t) (inheritable >> 32);
  if (syscall (SYS_capset, &header, data) < 0)
    return msg_fail (msg, msg_len, errno, "capset");
  for (int cap = 0; cap <= last_cap () && cap < 64; cap++)
    if ((ambient >> cap) & 1)
      if (prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
        return msg_fail (msg, msg_len, errno, "cannot raise ambient capability %d", cap);
  return true;
}

static bool
drop_bounding (const Grpc__LinuxCapabilities *caps, char *msg, size_t msg_len)
{
  uint64_t bounding;
  if (!caps_mask (caps->bounding, caps->n_bounding, &bounding, msg, msg_len))
    return false;
  for (int cap = 0; cap <= last_cap () && cap < 64; cap++)
    if (!((bounding >> cap) & 1) && prctl (PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
      return msg_fail (msg, msg_len, errno, "cannot drop capability %d from the bounding set", cap);
  return true;
}

typedef struct {
  const char *name;
  int resource;
} RlimitName;

static const RlimitName rlimit_names[] = {
  { "RLIMIT_CPU", RLIMIT_CPU }, { "RLIMIT_FSIZE", RLIMIT_FSIZE }, { "RLIMIT_DATA", RLIMIT_DATA },
  { "RLIMIT_STACK", RLIMIT_STACK }, { "RLIMIT_CORE", RLIMIT_CORE }, { "RLIMIT_RSS", RLIMIT_RSS },
  { "RLIMIT_NPROC", RLIMIT_NPROC }, { "RLIMIT_NOFILE", RLIMIT_NOFILE },
  { "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK }, { "RLIMIT_AS", RLIMIT_AS }, { "RLIMIT_LOCKS", RLIMIT_LOCKS },
  { "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING }, { "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE },
  { "RLIMIT_NICE", RLIMIT_NICE }, { "RLIMIT_RTPRIO", RLIMIT_RTPRIO }, { "RLIMIT_RTTIME", RLIMIT_RTTIME },
};

bool
rlimits_apply (const Grpc__Process *proc, char *msg, size_t msg_len)
{
  for (size_t i = 0; i < proc->n_rlimits; i++)
    {
      const Grpc__POSIXRlimit *rl = proc->rlimits[i];
      int resource = -1;
      for (size_t j = 0; j < sizeof rlimit_names / sizeof rlimit_names[0]; j++)
        if (rl->type && strcmp (rl->type, rlimit_names[j].name) == 0)
          resource = rlimit_names[j].resource;
      if (resource < 0)
        return msg_fail (msg, msg_len, 0, "unknown rlimit '%s'", rl->type ? rl->type : "");
      struct rlimit lim = { .rlim_cur = rl->soft, .rlim_max = rl->hard }, have = { 0 };
      if (rl->soft > rl->hard)
        return msg_fail (msg, msg_len, 0, "rlimit %s: soft limit %llu is above the hard limit %llu",
                         rl->type, (unsigned long long) rl->soft, (unsigned long long) rl->hard);
      if (setrlimit (resource, &lim) < 0)
        {
          int e = errno;
          (void) getrlimit (resource, &have);
          /* RLIMIT_NOFILE cannot go above fs.nr_open, even for root. */
          return msg_fail (msg, msg_len, e, "rlimit %s (soft %llu, hard %llu) is refused by the guest "
                           "(its hard limit is %llu%s)", rl->type, (unsigned long long) rl->soft,
                           (unsigned long long) rl->hard, (unsigned long long) have.rlim_max,
                           resource == RLIMIT_NOFILE ? "; at most fs.nr_open" : "");
        }
    }
  return true;
}

bool
privileges_apply (const Grpc__Process *proc, bool load_seccomp_early, void *seccomp_ctx,
                  char *msg, size_t msg_len)
{
  const Grpc__User *user = proc->user;
  const Grpc__LinuxCapabilities *caps = proc->capabilities;

  /* Without no_new_privileges an unprivileged user may not load a filter,
   * so it goes in while still root (as runc does). */
  if (load_seccomp_early && seccomp_ctx && !seccomp_load_ctx (seccomp_ctx, msg, msg_len))
    return false;
  if (caps && !drop_bounding (caps, msg, msg_len))
    return false;

  if (prctl (PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
    return msg_fail (msg, msg_len, errno, "PR_SET_KEEPCAPS");
  gid_t groups[256];
  size_t n_groups = 0;
  uid_t uid = user ? user->uid : 0;
  gid_t gid = user ? user->gid : 0;
  if (user)
    for (size_t i = 0; i < user->n_additionalgids && n_groups < 256; i++)
      groups[n_groups++] = user->additionalgids[i];
  if (setgroups (n_groups, groups) < 0)
    return msg_fail (msg, msg_len, errno, "setgroups");
  if (setresgid (gid, gid, gid) < 0)
    return msg_fail (msg, msg_len, errno, "setgid %u", gid);
  if (setresuid (uid, uid, uid) < 0)
    return msg_fail (msg, msg_len, errno, "setuid %u", uid);
  if (prctl (PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
    return msg_fail (msg, msg_len, errno, "PR_SET_KEEPCAPS");

  if (caps && !apply_capabilities (caps, msg, msg_len))
    return false;
  if (proc->nonewprivileges && prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return msg_fail (msg, msg_len, errno, "PR_SET_NO_NEW_PRIVS");
  if (!load_seccomp_early && seccomp_ctx && !seccomp_load_ctx (seccomp_ctx, msg, msg_len))
    return false;
  return true;
}

bool
oom_score_adj_apply (const Grpc__Process *proc, char *msg, size_t msg_len)
{
  /* proto3 has no presence: 0 (unset or asked) leaves the inherited value,
   * which is the agent's 0 */
  if (!proc || proc->oomscoreadj == 0)
    return true;
  if (proc->oomscoreadj < -1000 || proc->oomscoreadj > 1000)
    return msg_fail (msg, msg_len, 0, "oomScoreAdj %lld is outside [-1000, 1000]", (long long) proc->oomscoreadj);
  AgentError err = { 0 };
  if (!write_file_fmt (&err, "/proc/self/oom_score_adj", "%lld", (long long) proc->oomscoreadj))
    return msg_fail (msg, msg_len, 0, "oomScoreAdj: %s", err.message);
  return true;
}
