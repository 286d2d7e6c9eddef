/* cgroup v2: one cgroup per container under /sys/fs/cgroup/vcrun, for
 * resources, the freezer (pause/resume), stats and OOM events. */
#include "config.h"

#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CGROUP_ROOT "/sys/fs/cgroup"
#define CGROUP_BASE CGROUP_ROOT "/vcrun"

/* Enables the controllers the kernel offers for the containers' cgroups. */
static void
enable_controllers (const char *dir)
{
  char path[512], avail[512], want[512] = "";
  snprintf (path, sizeof path, "%s/cgroup.controllers", dir);
  if (read_small_file (path, avail, sizeof avail) < 0)
    return;
  for (char *tok = strtok (avail, " \n"); tok; tok = strtok (NULL, " \n"))
    if (strcmp (tok, "cpu") == 0 || strcmp (tok, "memory") == 0 || strcmp (tok, "pids") == 0
        || strcmp (tok, "io") == 0 || strcmp (tok, "cpuset") == 0)
      {
        strcat (want, want[0] ? " +" : "+");
        strcat (want, tok);
      }
  if (!want[0])
    return;
  snprintf (path, sizeof path, "%s/cgroup.subtree_control", dir);
  AgentError err = { 0 };
  if (!write_file (path, want, &err))
    agent_debug ("%s", err.message);
}

bool
cgroup_setup_root (AgentError *err)
{
  static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
  static bool done;
  pthread_mutex_lock (&lock);
  if (!done)
    {
      enable_controllers (CGROUP_ROOT);
      if (mkdir (CGROUP_BASE, 0755) < 0 && errno != EEXIST)
        {
          pthread_mutex_unlock (&lock);
          return agent_error_errno (err, VC_TTRPC_CODE_INTERNAL, errno, "cannot create %s", CGROUP_BASE);
        }
      enable_controllers (CGROUP_BASE);
      done = true;
    }
  pthread_mutex_unlock (&lock);
  return true;
}

bool
cgroup_create (const char *id, char **path, AgentError *err)
{
  char buf[512];
  if (!cgroup_setup_root (err))
    return false;
  snprintf (buf, sizeof buf, "%s/%s", CGROUP_BASE, id);
  if (mkdir (buf, 0755) < 0 && errno != EEXIST)
    return agent_error_errno (err, VC_TTRPC_CODE_INTERNAL, errno, "cannot create the cgroup %s", buf);
  *path = xstrdup (buf);
  return true;
}

static bool
set_value (const char *cgroup, const char *file, const char *value, AgentError *err)
{
  char path[600];
  snprintf (path, sizeof path, "%s/%s", cgroup, file);
  return write_file (path, value, err);
}

bool
cgroup_apply_resources (const char *path, const Grpc__LinuxResources *res, AgentError *err)
{
  char v[128];
  if (!res)
    return true;
  if (res->memory)
    {
      const Grpc__LinuxMemory *m = res->memory;
      if (m->limit > 0)
        {
          snprintf (v, sizeof v, "%" PRId64, m->limit);
          if (!set_value (path, "memory.max", v, err))
            return false;
        }
      else if (m->limit < 0 && !set_value (path, "memory.max", "max", err))
        return false;
      if (m->reservation > 0)
        {
          snprintf (v, sizeof v, "%" PRId64, m->reservation);
          if (!set_value (path, "memory.low", v, err))
            return false;
        }
      /* OCI swap is memory+swap; cgroup v2 counts swap alone */
      if (m->swap > 0 && m->limit > 0 && m->swap >= m->limit)
        {
          snprintf (v, sizeof v, "%" PRId64, m->swap - m->limit);
          AgentError ignored = { 0 };
          set_value (path, "memory.swap.max", v, &ignored); /* no swap configured is fine */
        }
    }
  if (res->cpu)
    {
      const Grpc__LinuxCPU *c = res->cpu;
      if (c->quota != 0 || c->period != 0)
        {
          uint64_t period = c->period ? c->period : 100000;
          if (c->quota > 0)
            snprintf (v, sizeof v, "%" PRId64 " %" PRIu64, c->quota, period);
          else
            snprintf (v, sizeof v, "max %" PRIu64, period);
          if (!set_value (path, "cpu.max", v, err))
            return false;
        }
      if (c->shares > 0)
        {
          /* the conversion runc and crun use from shares (2..262144) to weight (1..10000) */
          uint64_t shares = c->shares < 2 ? 2 : c->shares > 262144 ? 262144 : c->shares;
          snprintf (v, sizeof v, "%" PRIu64, 1 + ((shares - 2) * 9999) / 262142);
          if (!set_value (path, "cpu.weight", v, err))
            return false;
        }
      if (c->cpus && *c->cpus && !set_value (path, "cpuset.cpus", c->cpus, err))
        return false;
      if (c->mems && *c->mems && !set_value (path, "cpuset.mems", c->mems, err))
        return false;
    }
  if (res->pids)
    {
      if (res->pids->limit > 0)
        snprintf (v, sizeof v, "%" PRId64, res->pids->limit);
      else
        snprintf (v, sizeof v, "max");
      if (!set_value (path, "pids.max", v, err))
        return false;
    }
  return true;
}

bool
cgroup_freeze (const char *path, bool frozen, AgentError *err)
{
  if (!set_value (path, "cgroup.freeze", frozen ? "1" : "0", err))
    return false;
  /* wait until the kernel reports the new state */
  char events[600], buf[512];
  snprintf (events, sizeof events, "%s/cgroup.events", path);
  for (int i = 0; i < 200; i++)
    {
      if (read_small_file (events, buf, sizeof buf) > 0)
        {
          char *f = strstr (buf, "frozen ");
          if (f && (f[7] == '1') == frozen)
            return true;
        }
      usleep (10000);
    }
  return agent_error (err, VC_TTRPC_CODE_DEADLINE_EXCEEDED, "the cgroup %s did not %s in time", path,
                      frozen ? "freeze" : "thaw");
}

bool
cgroup_kill_all (const char *path, int signal)
{
  char file[600], buf[16384];
  if (!path)
    return false;
  if (signal == SIGKILL)
    {
      snprintf (file, sizeof file, "%s/cgroup.kill", path);
      AgentError err = { 0 };
      if (write_file (file, "1", &err))
        return true;
    }
  snprintf (file, sizeof file, "%s/cgroup.procs", path);
  if (read_small_file (file, buf, sizeof buf) < 0)
    return false;
  bool any = false;
  for (char *tok = strtok (buf, "\n"); tok; tok = strtok (NULL, "\n"))
    if (kill ((pid_t) atoi (tok), signal) == 0)
      any = true;
  return any || true;
}

bool
cgroup_is_empty (const char *path)
{
  char file[600], buf[512];
  snprintf (file, sizeof file, "%s/cgroup.events", path);
  if (read_small_file (file, buf, sizeof buf) < 0)
    return true;
  return strstr (buf, "populated 0") != NULL;
}

void
cgroup_remove (const char *path)
{
  if (!path)
    return;
  for (int i = 0; i < 100; i++)
    {
      if (rmdir (path) == 0 || errno == ENOENT)
        return;
      usleep (20000);
    }
  agent_log ("cannot remove the cgroup %s: %s", path, strerror (errno));
}

/* Reads "key value" lines of a cgroup file; returns the value of key. */
static uint64_t
keyed_value (const char *cgroup, const char *file, const char *key)
{
  char path[600], buf[8192];
  snprintf (path, sizeof path, "%s/%s", cgroup, file);
  if (read_small_file (path, buf, sizeof buf) < 0)
    return 0;
  size_t klen = strlen (key);
  for (char *line = buf; line && *line; )
    {
      char *next = strchr (line, '\n');
      if (strncmp (line, key, klen) == 0 && line[klen] == ' ')
        return strtoull (line + klen + 1, NULL, 10);
      line = next ? next + 1 : NULL;
    }
  return 0;
}

static uint64_t
single_value (const char *cgroup, const char *file)
{
  char path[600], buf[64];
  snprintf (path, sizeof path, "%s/%s", cgroup, file);
  if (read_small_file (path, buf, sizeof buf) <= 0 || strncmp (buf, "max", 3) == 0)
    return 0;
  return strtoull (buf, NULL, 10);
}

uint64_t
cgroup_oom_kills (const char *path)
{
  return path ? keyed_value (path, "memory.events", "oom_kill") : 0;
}

bool
cgroup_fill_stats (const char *path, Grpc__StatsContainerResponse *resp, AgentError *err)
{
  Grpc__CgroupStats *cs = resp->cgroup_stats;

  /* cpu.stat is in microseconds, Kata reports nanoseconds */
  cs->cpu_stats->cpu_usage->total_usage = keyed_value (path, "cpu.stat", "usage_usec") * 1000;
  cs->cpu_stats->cpu_usage->usage_in_usermode = keyed_value (path, "cpu.stat", "user_usec") * 1000;
  cs->cpu_stats->cpu_usage->usage_in_kernelmode = keyed_value (path, "cpu.stat", "system_usec") * 1000;
  cs->cpu_stats->throttling_data->periods = keyed_value (path, "cpu.stat", "nr_periods");
  cs->cpu_stats->throttling_data->throttled_periods = keyed_value (path, "cpu.stat", "nr_throttled");
  cs->cpu_stats->throttling_data->throttled_time = keyed_value (path, "cpu.stat", "throttled_usec") * 1000;

  Grpc__MemoryStats *ms = cs->memory_stats;
  ms->usage->usage = single_value (path, "memory.current");
  ms->usage->max_usage = single_value (path, "memory.peak");
  ms->usage->limit = single_value (path, "memory.max");
  ms->usage->failcnt = keyed_value (path, "memory.events", "max");
  ms->swap_usage->usage = single_value (path, "memory.swap.current");
  ms->swap_usage->limit = single_value (path, "memory.swap.max");
  ms->cache = keyed_value (path, "memory.stat", "file");
  ms->use_hierarchy = true;

  cs->pids_stats->current = single_value (path, "pids.current");
  cs->pids_stats->limit = single_value (path, "pids.max");

  /* memory.stat as the stats map */
  char file[600], buf[16384];
  snprintf (file, sizeof file, "%s/memory.stat", path);
  if (read_small_file (file, buf, sizeof buf) > 0)
    {
      size_t cap = 64;
      ms->stats = xcalloc (cap, sizeof *ms->stats);
      for (char *line = strtok (buf, "\n"); line && ms->n_stats < cap; line = strtok (NULL, "\n"))
        {
          char *space = strchr (line, ' ');
          if (!space)
            continue;
          *space = '\0';
          Grpc__MemoryStats__StatsEntry *e = xcalloc (1, sizeof *e);
          grpc__memory_stats__stats_entry__init (e);
          e->key = xstrdup (line);
          e->value = strtoull (space + 1, NULL, 10);
          ms->stats[ms->n_stats++] = e;
        }
    }

  /* io.stat: "MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=.." */
  Grpc__BlkioStats *bs = cs->blkio_stats;
  snprintf (file, sizeof file, "%s/io.stat", path);
  if (read_small_file (file, buf, sizeof buf) > 0)
    {
      size_t cap = 64;
      bs->io_service_bytes_recursive = xcalloc (cap, sizeof (void *));
      bs->io_serviced_recursive = xcalloc (cap, sizeof (void *));
      for (char *line = strtok (buf, "\n"); line; line = strtok (NULL, "\n"))
        {
          unsigned major, minor;
          unsigned long long rb = 0, wb = 0, rio = 0, wio = 0;
          if (sscanf (line, "%u:%u rbytes=%llu wbytes=%llu rios=%llu wios=%llu", &major, &minor, &rb, &wb,
                      &rio, &wio) < 2)
            continue;
          const struct { Grpc__BlkioStatsEntry ***list; size_t *n; const char *op; unsigned long long v; } add[] = {
            { &bs->io_service_bytes_recursive, &bs->n_io_service_bytes_recursive, "Read", rb },
            { &bs->io_service_bytes_recursive, &bs->n_io_service_bytes_recursive, "Write", wb },
            { &bs->io_serviced_recursive, &bs->n_io_serviced_recursive, "Read", rio },
            { &bs->io_serviced_recursive, &bs->n_io_serviced_recursive, "Write", wio },
          };
          for (size_t i = 0; i < 4; i++)
            {
              if (*add[i].n >= cap)
                continue;
              Grpc__BlkioStatsEntry *e = xcalloc (1, sizeof *e);
              grpc__blkio_stats_entry__init (e);
              e->major = major;
              e->minor = minor;
              e->op = xstrdup (add[i].op);
              e->value = add[i].v;
              (*add[i].list)[(*add[i].n)++] = e;
            }
        }
    }
  return true;
}
