/* Containers: the registry and their lifecycle (create, start, exec,
 * pause/resume, update, stats, remove). */
#include "config.h"

#include "agent.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

pthread_mutex_t agent_lock = PTHREAD_MUTEX_INITIALIZER;
Container *agent_containers;

static const char *const state_names[] = { "created", "running", "paused", "stopped" };

Container *
container_find (const char *id, AgentError *err)
{
  for (Container *c = agent_containers; c; c = c->next)
    if (strcmp (c->id, id ? id : "") == 0)
      return c;
  agent_error (err, VC_TTRPC_CODE_NOT_FOUND, "container '%s' not found", id ? id : "");
  return NULL;
}

Process *
process_find (Container *c, const char *exec_id, AgentError *err)
{
  if (!exec_id || !*exec_id || strcmp (exec_id, c->id) == 0)
    {
      if (c->processes && c->processes->is_init)
        return c->processes;
    }
  for (Process *p = c->processes; p; p = p->next)
    if (strcmp (p->exec_id, exec_id) == 0)
      return p;
  agent_error (err, VC_TTRPC_CODE_NOT_FOUND, "process '%s' not found in container '%s'", exec_id, c->id);
  return NULL;
}

/* The state, noticing an init that has exited since. */
static ContainerState
container_state (Container *c)
{
  Process *init = c->processes;
  if (c->state != CONTAINER_STOPPED && init && init->child && child_exited (init->child))
    c->state = CONTAINER_STOPPED;
  return c->state;
}

static Grpc__Spec *
copy_spec (const Grpc__Spec *spec)
{
  size_t len = protobuf_c_message_get_packed_size (&spec->base);
  uint8_t *buf = malloc (len ? len : 1);
  if (!buf)
    return NULL;
  protobuf_c_message_pack (&spec->base, buf);
  Grpc__Spec *copy = grpc__spec__unpack (NULL, len, buf);
  free (buf);
  return copy;
}

static void
container_free (Container *c)
{
  pthread_mutex_lock (&agent_lock);
  while (c->processes)
    {
      Process *p = c->processes;
      c->processes = p->next;
      p->next = NULL;
      p->container = NULL;
      process_unref (p);
    }
  pthread_mutex_unlock (&agent_lock);
  for (size_t i = c->n_mounts; i > 0; i--)
    {
      storage_unmount (c->mounts[i - 1]);
      free (c->mounts[i - 1]);
    }
  free (c->mounts);
  if (c->cgroup)
    cgroup_remove (c->cgroup);
  if (c->spec)
    grpc__spec__free_unpacked (c->spec, NULL);
  free (c->cgroup);
  free (c->rootfs);
  free (c->id);
  free (c);
}

/* Takes a reference; call with agent_lock held. */
static Container *
container_ref (Container *c)
{
  c->refs++;
  return c;
}

/* Drops a reference, without agent_lock held; the last one frees. */
static void
container_release (Container *c)
{
  pthread_mutex_lock (&agent_lock);
  bool last = --c->refs == 0;
  pthread_mutex_unlock (&agent_lock);
  if (last)
    container_free (c);
}

static void
unlink_container (Container *c)
{
  for (Container **pc = &agent_containers; *pc; pc = &(*pc)->next)
    if (*pc == c)
      {
        *pc = c->next;
        break;
      }
}

static bool
spec_mounts_type (const Grpc__Spec *spec, const char *type)
{
  for (size_t i = 0; i < spec->n_mounts; i++)
    if (spec->mounts[i]->type && strcmp (spec->mounts[i]->type, type) == 0)
      return true;
  return false;
}

bool
container_create (const Grpc__CreateContainerRequest *req, AgentError *err)
{
  if (!valid_id (req->container_id, "container id", err))
    return false;
  if (!req->oci || !req->oci->process)
    return agent_error (err, VC_TTRPC_CODE_INVALID_ARGUMENT, "container %s: the OCI spec has no process",
                        req->container_id);
  /* The OCI mounts are made in the container's child, which must not take
   * the module lock: load a module file system they name here. The common
   * types (proc, tmpfs, bind...) are built in; storages load their own. */
  if (spec_mounts_type (req->oci, "overlay"))
    modules_require ("overlay");

  pthread_mutex_lock (&agent_lock);
  if (container_find (req->container_id, NULL))
    {
      pthread_mutex_unlock (&agent_lock);
      return agent_error (err, VC_TTRPC_CODE_ALREADY_EXISTS, "container '%s' already exists", req->container_id);
    }
  /* listed at once (state created) so that a second create of the same id
   * fails; requests for it before this one finishes see it as created */
  Container *c = xcalloc (1, sizeof *c);
  c->id = xstrdup (req->container_id);
  c->state = CONTAINER_CREATED;
  c->refs = 2; /* the list, and this request */
  c->next = agent_containers;
  agent_containers = c;
  pthread_mutex_unlock (&agent_lock);

  bool ok = false;
  c->spec = copy_spec (req->oci);
  if (!c->spec)
    {
      agent_error (err, VC_TTRPC_CODE_INTERNAL, "out of memory");
      goto out;
    }

  if (req->n_devices > 0 && !devices_apply (c->spec, req->devices, req->n_devices, err))
    goto out;

  c->mounts = xcalloc (req->n_storages, sizeof *c->mounts);
  for (size_t i = 0; i < req->n_storages; i++)
    {
      if (!storage_mount (req->storages[i], err))
        goto out;
      c->mounts[c->n_mounts++] = xstrdup (req->storages[i]->mount_point);
    }

  /* the rootfs: OCI root.path as the host rewrote it for the guest, else
   * the first storage (Kata's block-device rootfs) */
  const char *root = c->spec->root && c->spec->root->path && *c->spec->root->path ? c->spec->root->path : NULL;
  if (!root && req->n_storages > 0)
    root = req->storages[0]->mount_point;
  if (!root || root[0] != '/')
    {
      agent_error (err, VC_TTRPC_CODE_INVALID_ARGUMENT, "container %s: no absolute rootfs path (root.path '%s')",
                   c->id, root ? root : "");
      goto out;
    }
  struct stat st;
  if (stat (root, &st) < 0 || !S_ISDIR (st.st_mode))
    {
      agent_error_errno (err, VC_TTRPC_CODE_NOT_FOUND, errno ? errno : ENOTDIR, "container %s: rootfs %s",
                         c->id, root);
      goto out;
    }
  c->rootfs = xstrdup (root);

  if (!cgroup_create (c->id, &c->cgroup, err))
    goto out;
  if (c->spec->linux && !cgroup_apply_resources (c->cgroup, c->spec->linux->resources, err))
    goto out;

  Process *init = process_new (c, req->exec_id && *req->exec_id ? req->exec_id : c->id, true);
  if (!process_spawn (c, init, c->spec->process, err))
    {
      pthread_mutex_lock (&agent_lock);
      process_unref (init);
      pthread_mutex_unlock (&agent_lock);
      goto out;
    }
  pthread_mutex_lock (&agent_lock);
  c->processes = init;
  pthread_mutex_unlock (&agent_lock);
  agent_debug ("container %s created (init pid %d)", c->id, (int) init->pid);
  ok = true;

out:
  if (!ok)
    {
      pthread_mutex_lock (&agent_lock);
      bool listed = container_find (c->id, NULL) == c;
      if (listed)
        unlink_container (c);
      pthread_mutex_unlock (&agent_lock);
      if (c->cgroup)
        cgroup_kill_all (c->cgroup, SIGKILL);
      if (listed)
        container_release (c);
    }
  container_release (c);
  return ok;
}

bool
container_start (const char *id, AgentError *err)
{
  pthread_mutex_lock (&agent_lock);
  Container *c = container_find (id, err);
  Process *init = c ? c->processes : NULL;
  if (c && (container_state (c) != CONTAINER_CREATED || !init || init->start_fd < 0))
    {
      agent_error (err, VC_TTRPC_CODE_FAILED_PRECONDITION, "container %s is %s, not created", id,
                   state_names[container_state (c)]);
      c = NULL;
    }
  if (!c)
    {
      pthread_mutex_unlock (&agent_lock);
      return false;
    }
  process_ref (init);
  container_ref (c);
  int start_fd = init->start_fd;
  init->start_fd = -1;
  c->state = CONTAINER_RUNNING;
  pthread_mutex_unlock (&agent_lock);

  bool ok = write_full (start_fd, "S", 1)
    || agent_error_errno (err, VC_TTRPC_CODE_INTERNAL, errno, "cannot start container %s", id);
  close (start_fd);
  if (ok)
    ok = process_await_exec (init, err);
  pthread_mutex_lock (&agent_lock);
  if (!ok)
    c->state = CONTAINER_STOPPED;
  process_unref (init);
  pthread_mutex_unlock (&agent_lock);
  container_release (c);
  return ok;
}

bool
container_exec (const Grpc__ExecProcessRequest *req, AgentError *err)
{
  if (!valid_id (req->exec_id, "exec id", err))
    return false;
  if (!req->process)
    return agent_error (err, VC_TTRPC_CODE_INVALID_ARGUMENT, "exec %s: no process", req->exec_id);

  pthread_mutex_lock (&agent_lock);
  Container *c = container_find (req->container_id, err);
  if (c && container_state (c) != CONTAINER_RUNNING)
    {
      agent_error (err, VC_TTRPC_CODE_FAILED_PRECONDITION, "container %s is %s, not running", c->id,
                   state_names[container_state (c)]);
      c = NULL;
    }
  Process *old = c ? process_find (c, req->exec_id, NULL) : NULL;
  if (old && !old->is_init && old->waited)
    {
      /* Exited and waited for, its output maybe not read to the end: the
       * id may name a new process (as the host allows). */
      old->out_done = old->err_done = true;
      process_forget_if_done (old);
      old = NULL;
    }
  if (c && (strcmp (req->exec_id, c->id) == 0 || old))
    {
      agent_error (err, VC_TTRPC_CODE_ALREADY_EXISTS, "process '%s' already exists in container %s",
                   req->exec_id, c->id);
      c = NULL;
    }
  if (!c)
    {
      pthread_mutex_unlock (&agent_lock);
      return false;
    }
  /* listed before it runs, under the lock, so the exec id is taken */
  Process *p = process_new (c, req->exec_id, false);
  p->next = c->processes->next;
  c->processes->next = p;
  process_ref (p);
  container_ref (c);
  pthread_mutex_unlock (&agent_lock);

  bool ok = process_spawn (c, p, req->process, err);
  if (ok)
    ok = process_await_exec (p, err);

  pthread_mutex_lock (&agent_lock);
  if (!ok)
    for (Process **pp = &c->processes; *pp; pp = &(*pp)->next)
      if (*pp == p)
        {
          *pp = p->next;
          p->next = NULL;
          process_unref (p);
          break;
        }
  process_unref (p);
  pthread_mutex_unlock (&agent_lock);
  container_release (c);
  return ok;
}

bool
container_remove (const char *id, uint32_t timeout_s, AgentError *err)
{
  pthread_mutex_lock (&agent_lock);
  Container *c = container_find (id, err);
  if (!c)
    {
      pthread_mutex_unlock (&agent_lock);
      return false;
    }
  unlink_container (c);
  Process *init = c->processes;
  if (init)
    process_ref (init);
  pthread_mutex_unlock (&agent_lock);

  /* a paused container must thaw to die */
  AgentError ignored = { 0 };
  if (c->state == CONTAINER_PAUSED)
    cgroup_freeze (c->cgroup, false, &ignored);
  cgroup_kill_all (c->cgroup, SIGKILL);
  bool ok = true;
  if (init && init->child)
    {
      kill (init->pid, SIGKILL);
      int timeout_ms = timeout_s ? (int) timeout_s * 1000 : 30000;
      if (!child_wait (init->child, timeout_ms, NULL))
        ok = agent_error (err, VC_TTRPC_CODE_DEADLINE_EXCEEDED, "container %s: processes still running after %d s",
                          id, timeout_ms / 1000);
    }
  for (int i = 0; i < 100 && c->cgroup && !cgroup_is_empty (c->cgroup); i++)
    usleep (20000);

  pthread_mutex_lock (&agent_lock);
  if (init)
    process_unref (init);
  pthread_mutex_unlock (&agent_lock);
  container_release (c);
  agent_debug ("container %s removed", id);
  return ok;
}

bool
container_pause (const char *id, bool pause, AgentError *err)
{
  pthread_mutex_lock (&agent_lock);
  Container *c = container_find (id, err);
  ContainerState want = pause ? CONTAINER_RUNNING : CONTAINER_PAUSED;
  if (c && container_state (c) != want)
    {
      agent_error (err, VC_TTRPC_CODE_FAILED_PRECONDITION, "container %s is %s, not %s", id,
                   state_names[container_state (c)], state_names[want]);
      c = NULL;
    }
  bool ok = c && cgroup_freeze (c->cgroup, pause, err);
  if (ok)
    c->state = pause ? CONTAINER_PAUSED : CONTAINER_RUNNING;
  pthread_mutex_unlock (&agent_lock);
  return ok;
}

bool
container_update (const char *id, const Grpc__LinuxResources *res, AgentError *err)
{
  pthread_mutex_lock (&agent_lock);
  Container *c = container_find (id, err);
  bool ok = c && cgroup_apply_resources (c->cgroup, res, err);
  pthread_mutex_unlock (&agent_lock);
  return ok;
}

bool
container_stats (const char *id, Grpc__StatsContainerResponse **out, AgentError *err)
{
  pthread_mutex_lock (&agent_lock);
  Container *c = container_find (id, err);
  char *cgroup = c ? xstrdup (c->cgroup) : NULL;
  pthread_mutex_unlock (&agent_lock);
  if (!c)
    return false;

  Grpc__StatsContainerResponse *resp = xcalloc (1, sizeof *resp);
  grpc__stats_container_response__init (resp);
  Grpc__CgroupStats *cs = resp->cgroup_stats = xcalloc (1, sizeof *cs);
  grpc__cgroup_stats__init (cs);
  cs->cpu_stats = xcalloc (1, sizeof *cs->cpu_stats);
  grpc__cpu_stats__init (cs->cpu_stats);
  cs->cpu_stats->cpu_usage = xcalloc (1, sizeof *cs->cpu_stats->cpu_usage);
  grpc__cpu_usage__init (cs->cpu_stats->cpu_usage);
  cs->cpu_stats->throttling_data = xcalloc (1, sizeof *cs->cpu_stats->throttling_data);
  grpc__throttling_data__init (cs->cpu_stats->throttling_data);
  cs->memory_stats = xcalloc (1, sizeof *cs->memory_stats);
  grpc__memory_stats__init (cs->memory_stats);
  Grpc__MemoryData **data[] = { &cs->memory_stats->usage, &cs->memory_stats->swap_usage,
                                &cs->memory_stats->kernel_usage };
  for (size_t i = 0; i < 3; i++)
    {
      *data[i] = xcalloc (1, sizeof **data[i]);
      grpc__memory_data__init (*data[i]);
    }
  cs->pids_stats = xcalloc (1, sizeof *cs->pids_stats);
  grpc__pids_stats__init (cs->pids_stats);
  cs->blkio_stats = xcalloc (1, sizeof *cs->blkio_stats);
  grpc__blkio_stats__init (cs->blkio_stats);

  bool ok = cgroup_fill_stats (cgroup, resp, err);
  free (cgroup);
  if (!ok)
    {
      container_stats_free (resp);
      return false;
    }
  *out = resp;
  return true;
}

void
container_stats_free (Grpc__StatsContainerResponse *resp)
{
  /* built from malloc()ed parts only, like an unpacked message */
  if (resp)
    protobuf_c_message_free_unpacked (&resp->base, NULL);
}

void
containers_destroy_all (void)
{
  for (;;)
    {
      pthread_mutex_lock (&agent_lock);
      char *id = agent_containers ? xstrdup (agent_containers->id) : NULL;
      pthread_mutex_unlock (&agent_lock);
      if (!id)
        break;
      AgentError err = { 0 };
      if (!container_remove (id, 10, &err))
        agent_log ("%s", err.message);
      free (id);
    }
}

bool
container_wait_oom (RpcCall *call, char **id, AgentError *err)
{
  for (;;)
    {
      pthread_mutex_lock (&agent_lock);
      for (Container *c = agent_containers; c; c = c->next)
        {
          uint64_t kills = cgroup_oom_kills (c->cgroup);
          if (kills > c->oom_kills_seen)
            {
              c->oom_kills_seen = kills;
              *id = xstrdup (c->id);
              pthread_mutex_unlock (&agent_lock);
              return true;
            }
        }
      pthread_mutex_unlock (&agent_lock);
      if (!rpc_call_alive (call))
        return agent_error (err, VC_TTRPC_CODE_CANCELLED, "connection closed");
      usleep (500000);
    }
}
