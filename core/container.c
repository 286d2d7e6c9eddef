/* libvcrun: container lifecycle — OCI bundle to agent container, with the fs
 * shares undone on failure; process, stdio and wait. */
#include "config.h"

#include "sandbox-private.h"
#include "mountpoints.h"
#include "oci.h"

#include <signal.h>
#include <unistd.h>

#define REMOVE_TIMEOUT_MS 10000

struct VcContainer {
  gint       ref_count;
  VcSandbox *sandbox;
  char      *id;
  char      *bundle;
  /* The last record seen, for getters once the record is gone. */
  GMutex     mutex;
  VcContainerRecord *last;
};

#define CMASK(s) (1u << (s))

/* ---- handles ----------------------------------------------------------- */

/* Refreshes c->last from the sandbox's record; returns whether it exists. */
static gboolean
snapshot (VcContainer *c)
{
  VcSandboxRecord *r = vc_sandbox_lock_record (c->sandbox);
  VcContainerRecord *rec = vc_sandbox_record_find (r, c->id, NULL);
  VcContainerRecord *copy = rec ? vc_container_record_copy (rec) : NULL;
  vc_sandbox_unlock_record (c->sandbox);

  g_mutex_lock (&c->mutex);
  if (copy)
    {
      vc_container_record_free (c->last);
      c->last = copy;
    }
  else if (c->last)
    c->last->state = VC_CONTAINER_STOPPED;
  g_mutex_unlock (&c->mutex);
  return copy != NULL;
}

VcContainer *
vc_container_new_handle (VcSandbox *sandbox, const char *id)
{
  VcContainer *c = g_new0 (VcContainer, 1);
  c->ref_count = 1;
  c->sandbox = vc_sandbox_ref (sandbox);
  c->id = g_strdup (id);
  g_mutex_init (&c->mutex);
  c->last = vc_container_record_new (id);
  snapshot (c);
  c->bundle = g_strdup (c->last->bundle);
  return c;
}

VcContainer *
vc_container_ref (VcContainer *c)
{
  g_atomic_int_inc (&c->ref_count);
  return c;
}

void
vc_container_unref (VcContainer *c)
{
  if (c == NULL || !g_atomic_int_dec_and_test (&c->ref_count))
    return;
  vc_container_record_free (c->last);
  g_mutex_clear (&c->mutex);
  g_free (c->bundle);
  g_free (c->id);
  vc_sandbox_unref (c->sandbox);
  g_free (c);
}

/* ---- state checks ------------------------------------------------------ */

/* VC_ERROR_INVALID_STATE unless the container's record exists with a state
 * in accepted. Returns the record (borrowed; record lock held on success —
 * release with vc_sandbox_unlock_record). */
static VcContainerRecord *
lock_container (VcContainer *c, guint accepted, GError **error)
{
  VcSandboxRecord *r = vc_sandbox_lock_record (c->sandbox);
  VcContainerRecord *rec = vc_sandbox_record_find (r, c->id, NULL);
  if (rec == NULL)
    {
      vc_sandbox_unlock_record (c->sandbox);
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "sandbox %s has no container %s",
                   vc_sandbox_get_id (c->sandbox), c->id);
      return NULL;
    }
  if (accepted & CMASK (rec->state))
    return rec;

  const char *names[4];
  guint n = 0;
  for (int s = VC_CONTAINER_CREATED; s <= VC_CONTAINER_STOPPED; s++)
    if (accepted & CMASK (s))
      names[n++] = vc_container_state_to_string (s);
  g_autofree char *expected = vc_state_names_join (names, n);
  g_set_error (error, VC_ERROR, VC_ERROR_INVALID_STATE, "container %s is %s, expected %s",
               c->id, vc_container_state_to_string (rec->state), expected);
  vc_sandbox_unlock_record (c->sandbox);
  return NULL;
}

static gboolean
require_container (VcContainer *c, guint accepted, GError **error)
{
  if (lock_container (c, accepted, error) == NULL)
    return FALSE;
  vc_sandbox_unlock_record (c->sandbox);
  return TRUE;
}

static void
set_container_state (VcContainer *c, VcContainerState state, int exit_status)
{
  VcSandboxRecord *r = vc_sandbox_lock_record (c->sandbox);
  VcContainerRecord *rec = vc_sandbox_record_find (r, c->id, NULL);
  if (rec)
    {
      rec->state = state;
      if (exit_status >= 0)
        rec->exit_status = exit_status;
      if (state == VC_CONTAINER_RUNNING)
        rec->pid = (gint) getpid ();
    }
  vc_sandbox_unlock_record (c->sandbox);
  vc_sandbox_queue_notify (c->sandbox, c->id);
}

static gboolean
unsupported (const char *method, GError **error)
{
  g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED, "the agent plugin does not support %s",
               method);
  return FALSE;
}

static gboolean
check_exec_id (const char *exec_id, GError **error)
{
  return exec_id == NULL || vc_id_validate (exec_id, "exec", error);
}

/* The agent names the init process by the container ID. */
static const char *
exec_or_init (VcContainer *c, const char *exec_id)
{
  return exec_id ? exec_id : c->id;
}

/* ---- create ------------------------------------------------------------ */

typedef struct {
  GPtrArray *paths;     /* VcSharedPath*: [0] rootfs, then bind mounts */
  GPtrArray *storages;  /* VcStorage* (borrowed from paths), NULL-terminated later */
  GPtrArray *mounts;    /* VcAgentMount* */
} Shares;

static void
shares_clear (Shares *s)
{
  g_clear_pointer (&s->mounts, g_ptr_array_unref);
  g_clear_pointer (&s->storages, g_ptr_array_unref);
  g_clear_pointer (&s->paths, g_ptr_array_unref);
}

static void
add_storage (Shares *s, VcSharedPath *path)
{
  if (path->storage)
    g_ptr_array_add (s->storages, path->storage);
}

/* Shares the rootfs and every bind mount; on failure the caller unshares. */
static gboolean
share_all (const VcFsOps *fs, VcFsShare *share, const char *id, const VcOciSpec *spec,
           Shares *s, GError **error)
{
  if (fs->share_rootfs == NULL)
    return unsupported ("share_rootfs (fs)", error);
  if (spec->root_readonly && !vc_rootfs_make_mountpoints (spec, error))
    {
      g_prefix_error (error, "container %s: ", id);
      return FALSE;
    }
  VcSharedPath *rootfs = fs->share_rootfs (share, id, spec->root_path, spec->root_readonly,
                                           error);
  if (rootfs == NULL)
    {
      g_prefix_error (error, "container %s: share_rootfs: ", id);
      return FALSE;
    }
  g_ptr_array_add (s->paths, rootfs);
  add_storage (s, rootfs);

  for (guint i = 0; i < spec->mounts->len; i++)
    {
      const VcOciMount *m = spec->mounts->pdata[i];
      if (!m->bind)
        continue;
      if (fs->share_mount == NULL)
        return unsupported ("share_mount (fs)", error);
      VcSharedPath *p = fs->share_mount (share, id, m->source, m->destination, m->readonly,
                                         error);
      if (p == NULL)
        {
          g_prefix_error (error, "container %s: share_mount %s: ", id, m->destination);
          return FALSE;
        }
      g_ptr_array_add (s->paths, p);
      add_storage (s, p);
      VcAgentMount *am = g_new0 (VcAgentMount, 1);
      am->struct_size = sizeof (VcAgentMount);
      am->destination = m->destination;
      am->guest_source = p->guest_path;
      am->readonly = m->readonly;
      g_ptr_array_add (s->mounts, am);
    }
  return TRUE;
}

static void
unshare_quietly (const VcFsOps *fs, VcFsShare *share, const char *id)
{
  g_autoptr(GError) error = NULL;
  if (fs->unshare_container && !fs->unshare_container (share, id, &error))
    g_warning ("container %s: unshare_container: %s", id, error->message);
}

VcContainer *
vc_container_create (VcSandbox *sb, const char *id, const char *bundle, GError **error)
{
  if (!vc_id_validate (id, "container", error))
    return NULL;
  if (bundle == NULL || *bundle == '\0')
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "container %s: no bundle given", id);
      return NULL;
    }
  g_autofree char *abs_bundle = g_canonicalize_filename (bundle, NULL);
  g_autoptr(VcOciSpec) spec = vc_oci_spec_load (abs_bundle, error);
  if (spec == NULL)
    return NULL;

  VcSandboxOp op;
  if (!vc_sandbox_op_begin (sb, &op, error))
    return NULL;

  VcContainer *result = NULL;
  Shares s = {
    .paths = g_ptr_array_new_with_free_func ((GDestroyNotify) vc_shared_path_free),
    .storages = g_ptr_array_new (),
    .mounts = g_ptr_array_new_with_free_func (g_free),
  };
  VcFsShare *share = NULL;
  const VcFsOps *fs = NULL;
  g_autoptr(VcAgentRef) agent = NULL;
  gboolean shared = FALSE, created = FALSE;

  if (!vc_sandbox_require_state (sb, VC_SANDBOX_MASK (VC_SANDBOX_READY)
                                     | VC_SANDBOX_MASK (VC_SANDBOX_RUNNING), error))
    goto out;
  VcSandboxRecord *r = vc_sandbox_lock_record (sb);
  gboolean exists = vc_sandbox_record_find (r, id, NULL) != NULL;
  vc_sandbox_unlock_record (sb);
  if (exists)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_EXISTS, "container %s already exists in sandbox %s",
                   id, vc_sandbox_get_id (sb));
      goto out;
    }

  fs = vc_sandbox_ensure_fs (sb, &share, error);
  if (fs == NULL)
    goto out;
  agent = vc_sandbox_get_agent (sb, TRUE, error);
  if (agent == NULL)
    goto out;
  if (agent->ops->create_container == NULL)
    {
      unsupported ("create_container", error);
      goto out;
    }

  shared = TRUE;
  if (!share_all (fs, share, id, spec, &s, error))
    goto out;

  g_ptr_array_add (s.storages, NULL);
  g_ptr_array_add (s.mounts, NULL);
  const VcGuestDevice *no_devices[] = { NULL };
  const char *no_paths[] = { NULL };
  VcContainerConfig config = {
    .struct_size = sizeof (VcContainerConfig),
    .container_id = id,
    .oci_spec_json = spec->json,
    .guest_rootfs = ((VcSharedPath *) s.paths->pdata[0])->guest_path,
    .storages = (VcStorage *const *) s.storages->pdata,
    .mounts = (const VcAgentMount *const *) s.mounts->pdata,
    .devices = no_devices,
    .device_container_paths = no_paths,
  };
  if (!agent->ops->create_container (agent->conn, &config, error))
    {
      g_prefix_error (error, "container %s: agent create_container: ", id);
      goto out;
    }
  created = TRUE;

  VcContainerRecord *rec = vc_container_record_new (id);
  rec->bundle = g_strdup (abs_bundle);
  rec->rootfs = g_strdup (spec->root_path);
  rec->terminal = spec->terminal;
  rec->created = g_get_real_time () / G_USEC_PER_SEC;
  r = vc_sandbox_lock_record (sb);
  g_ptr_array_add (r->containers, rec);
  vc_sandbox_unlock_record (sb);
  if (!vc_sandbox_op_save (&op, error))
    {
      guint index;
      r = vc_sandbox_lock_record (sb);
      if (vc_sandbox_record_find (r, id, &index))
        g_ptr_array_remove_index (r->containers, index);
      vc_sandbox_unlock_record (sb);
      goto out;
    }
  vc_sandbox_queue_notify (sb, id);
  result = vc_container_new_handle (sb, id);

out:
  if (result == NULL)
    {
      /* Undo in reverse: the agent's container, then the shares. */
      if (created && agent->ops->remove_container)
        {
          g_autoptr(GError) ignored = NULL;
          if (!agent->ops->remove_container (agent->conn, id, REMOVE_TIMEOUT_MS, &ignored))
            g_warning ("container %s: rollback: remove_container: %s", id, ignored->message);
        }
      if (shared)
        unshare_quietly (fs, share, id);
    }
  shares_clear (&s);
  vc_sandbox_op_end (&op);
  return result;
}

/* ---- state changes ----------------------------------------------------- */

/* An op that calls one agent method and moves the container between
 * states. */
typedef gboolean (*AgentContainerCall) (VcAgentConn *conn, const char *id, GError **error);

static gboolean
transition (VcContainer *c, guint sandbox_accepted, VcContainerState from,
            VcContainerState to, const char *method, gsize method_offset, GError **error)
{
  VcSandboxOp op;
  if (!vc_sandbox_op_begin (c->sandbox, &op, error))
    return FALSE;
  gboolean ok = vc_sandbox_require_state (c->sandbox, sandbox_accepted, error)
                && require_container (c, CMASK (from), error);
  g_autoptr(VcAgentRef) agent = ok ? vc_sandbox_get_agent (c->sandbox, TRUE, error) : NULL;
  if (ok && agent == NULL)
    ok = FALSE;
  if (ok)
    {
      AgentContainerCall call = G_STRUCT_MEMBER (AgentContainerCall, agent->ops, method_offset);
      if (call == NULL)
        ok = unsupported (method, error);
      else if (!call (agent->conn, c->id, error))
        {
          g_prefix_error (error, "container %s: %s: ", c->id, method);
          ok = FALSE;
        }
    }
  if (ok)
    {
      set_container_state (c, to, -1);
      ok = vc_sandbox_op_save (&op, error);
    }
  vc_sandbox_op_end (&op);
  snapshot (c);
  return ok;
}

gboolean
vc_container_start (VcContainer *c, GError **error)
{
  return transition (c, VC_SANDBOX_MASK (VC_SANDBOX_RUNNING), VC_CONTAINER_CREATED,
                     VC_CONTAINER_RUNNING, "start_container",
                     G_STRUCT_OFFSET (VcAgentOps, start_container), error);
}

gboolean
vc_container_pause (VcContainer *c, GError **error)
{
  return transition (c, VC_SANDBOX_MASK (VC_SANDBOX_RUNNING), VC_CONTAINER_RUNNING,
                     VC_CONTAINER_PAUSED, "pause_container",
                     G_STRUCT_OFFSET (VcAgentOps, pause_container), error);
}

gboolean
vc_container_resume (VcContainer *c, GError **error)
{
  return transition (c, VC_SANDBOX_MASK (VC_SANDBOX_RUNNING), VC_CONTAINER_PAUSED,
                     VC_CONTAINER_RUNNING, "resume_container",
                     G_STRUCT_OFFSET (VcAgentOps, resume_container), error);
}

gboolean
vc_container_delete (VcContainer *c, gboolean force, GError **error)
{
  VcSandbox *sb = c->sandbox;
  VcSandboxOp op;
  if (!vc_sandbox_op_begin (sb, &op, error))
    return FALSE;

  gboolean ok = TRUE;
  guint deletable = CMASK (VC_CONTAINER_CREATED) | CMASK (VC_CONTAINER_STOPPED);
  if (!require_container (c, force ? ~0u : deletable, error))
    ok = FALSE;
  VcSandboxState sstate = vc_sandbox_get_state (sb);
  gboolean vm_up = sstate != VC_SANDBOX_STOPPED;
  if (ok && sstate == VC_SANDBOX_PAUSED)
    ok = vc_sandbox_require_state (sb, VC_SANDBOX_MASK (VC_SANDBOX_READY)
                                       | VC_SANDBOX_MASK (VC_SANDBOX_RUNNING)
                                       | VC_SANDBOX_MASK (VC_SANDBOX_STOPPED), error);

  g_autoptr(VcAgentRef) agent = NULL;
  if (ok && vm_up)
    {
      agent = vc_sandbox_get_agent (sb, TRUE, error);
      ok = agent != NULL;
    }
  if (ok && vm_up)
    {
      /* force: a running or paused container is killed first. */
      if (!require_container (c, deletable, NULL))
        {
          g_autoptr(GError) local = NULL;
          if (require_container (c, CMASK (VC_CONTAINER_PAUSED), NULL)
              && agent->ops->resume_container
              && !agent->ops->resume_container (agent->conn, c->id, &local))
            g_debug ("container %s: resume before kill: %s", c->id, local->message);
          g_clear_error (&local);
          if (agent->ops->signal_process
              && !agent->ops->signal_process (agent->conn, c->id, c->id, SIGKILL, TRUE, &local))
            g_debug ("container %s: kill: %s", c->id, local->message);
        }
      if (agent->ops->remove_container == NULL)
        ok = unsupported ("remove_container", error);
      else if (!agent->ops->remove_container (agent->conn, c->id, REMOVE_TIMEOUT_MS, error))
        {
          g_prefix_error (error, "container %s: remove_container: ", c->id);
          ok = FALSE;
        }
    }
  if (ok)
    {
      /* The agent side is gone; a share left behind is also undone by the
       * sandbox's fs cleanup, so it does not block the delete. */
      g_autoptr(GError) local = NULL;
      VcFsShare *share = NULL;
      const VcFsOps *fs = vc_sandbox_ensure_fs (sb, &share, &local);
      if (fs)
        unshare_quietly (fs, share, c->id);
      else if (vm_up)
        g_warning ("container %s: %s", c->id, local->message);

      guint index;
      VcSandboxRecord *r = vc_sandbox_lock_record (sb);
      if (vc_sandbox_record_find (r, c->id, &index))
        g_ptr_array_remove_index (r->containers, index);
      vc_sandbox_unlock_record (sb);
      g_mutex_lock (&c->mutex);
      c->last->state = VC_CONTAINER_STOPPED;
      g_mutex_unlock (&c->mutex);
      vc_sandbox_queue_notify (sb, c->id);
      ok = vc_sandbox_op_save (&op, error);
    }
  vc_sandbox_op_end (&op);
  return ok;
}

/* ---- processes --------------------------------------------------------- */

/* The agent for a call on a live process: container in accepted, sandbox
 * running (when require_running). */
static VcAgentRef *
agent_for (VcContainer *c, guint accepted, gboolean require_running, GError **error)
{
  if (require_running
      && !vc_sandbox_require_state (c->sandbox, VC_SANDBOX_MASK (VC_SANDBOX_RUNNING), error))
    return NULL;
  if (!require_container (c, accepted, error))
    return NULL;
  return vc_sandbox_get_agent (c->sandbox, FALSE, error);
}

gboolean
vc_container_signal (VcContainer *c, const char *exec_id, int signum, gboolean all,
                     GError **error)
{
  if (!check_exec_id (exec_id, error))
    return FALSE;
  if (signum <= 0 || signum >= 65)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "invalid signal number %d", signum);
      return FALSE;
    }
  /* OCI allows kill of a created container: its init waits for start. */
  g_autoptr(VcAgentRef) agent = agent_for (c, CMASK (VC_CONTAINER_CREATED)
                                              | CMASK (VC_CONTAINER_RUNNING)
                                              | CMASK (VC_CONTAINER_PAUSED), TRUE, error);
  if (agent == NULL)
    return FALSE;
  if (agent->ops->signal_process == NULL)
    return unsupported ("signal_process", error);
  if (!agent->ops->signal_process (agent->conn, c->id, exec_or_init (c, exec_id), signum, all,
                                   error))
    {
      g_prefix_error (error, "container %s: signal_process: ", c->id);
      return FALSE;
    }
  return TRUE;
}

gboolean
vc_signal_default_terminates (int signum)
{
  switch (signum)
    {
    case SIGCHLD: case SIGCONT: case SIGURG: case SIGWINCH:
    case SIGSTOP: case SIGTSTP: case SIGTTIN: case SIGTTOU:
      return FALSE;
    default:
      return signum > 0 && signum < 65;
    }
}

gboolean
vc_container_exec (VcContainer *c, const char *exec_id, const char *process_json,
                   GError **error)
{
  if (exec_id == NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "exec: no exec ID given");
      return FALSE;
    }
  if (!check_exec_id (exec_id, error))
    return FALSE;
  if (g_strcmp0 (exec_id, c->id) == 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_EXISTS,
                   "exec ID %s is the container's own process", exec_id);
      return FALSE;
    }
  g_autofree char *origin = g_strdup_printf ("exec %s", exec_id);
  if (!vc_oci_process_check (process_json, origin, error))
    return FALSE;
  g_autoptr(VcAgentRef) agent = agent_for (c, CMASK (VC_CONTAINER_RUNNING), TRUE, error);
  if (agent == NULL)
    return FALSE;
  if (agent->ops->exec_process == NULL)
    return unsupported ("exec_process", error);
  if (!agent->ops->exec_process (agent->conn, c->id, exec_id, process_json, error))
    {
      g_prefix_error (error, "container %s: exec_process: ", c->id);
      return FALSE;
    }
  return TRUE;
}

gboolean
vc_container_wait (VcContainer *c, const char *exec_id, int *exit_status, GError **error)
{
  if (!check_exec_id (exec_id, error))
    return FALSE;

  if (exec_id == NULL)
    {
      VcContainerRecord *rec = lock_container (c, ~0u, error);
      if (rec == NULL)
        return FALSE;
      int status = rec->exit_status;
      VcContainerState state = rec->state;
      vc_sandbox_unlock_record (c->sandbox);
      if (state == VC_CONTAINER_STOPPED && status >= 0)
        {
          if (exit_status)
            *exit_status = status;
          return TRUE;
        }
      if (state == VC_CONTAINER_STOPPED)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_STOPPED,
                       "container %s stopped without an exit status (%s)", c->id,
                       "its sandbox stopped");
          return FALSE;
        }
    }

  guint live = CMASK (VC_CONTAINER_CREATED) | CMASK (VC_CONTAINER_RUNNING)
               | CMASK (VC_CONTAINER_PAUSED);
  g_autoptr(VcAgentRef) agent = agent_for (c, live, FALSE, error);
  if (agent == NULL)
    return FALSE;
  if (agent->ops->wait_process == NULL)
    return unsupported ("wait_process", error);
  int status = -1;
  if (!agent->ops->wait_process (agent->conn, c->id, exec_or_init (c, exec_id), &status, error))
    {
      g_prefix_error (error, "container %s: wait_process: ", c->id);
      return FALSE;
    }
  if (status < 0 || status > 255)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_PROTOCOL,
                   "container %s: the agent reported exit status %d", c->id, status);
      return FALSE;
    }
  if (exit_status)
    *exit_status = status;

  if (exec_id == NULL)
    {
      /* The init process is gone: the container is stopped. */
      VcSandboxOp op;
      g_autoptr(GError) local = NULL;
      if (vc_sandbox_op_begin (c->sandbox, &op, &local))
        {
          VcContainerRecord *rec = lock_container (c, ~0u, NULL);
          gboolean change = rec && (rec->state != VC_CONTAINER_STOPPED || rec->exit_status < 0);
          if (rec)
            vc_sandbox_unlock_record (c->sandbox);
          if (change)
            {
              set_container_state (c, VC_CONTAINER_STOPPED, status);
              vc_sandbox_op_save (&op, &local);
            }
          vc_sandbox_op_end (&op);
        }
      if (local)
        g_debug ("container %s: recording exit status: %s", c->id, local->message);
      snapshot (c);
    }
  return TRUE;
}

/* ---- stdio ------------------------------------------------------------- */

static VcAgentRef *
agent_for_stdio (VcContainer *c, const char *exec_id, GError **error)
{
  if (!check_exec_id (exec_id, error))
    return NULL;
  /* Output may be drained after the process exited. */
  return agent_for (c, ~0u, FALSE, error);
}

static GBytes *
read_stream (VcContainer *c, const char *exec_id, gsize max_len, gboolean err_stream,
             GError **error)
{
  g_autoptr(VcAgentRef) agent = agent_for_stdio (c, exec_id, error);
  if (agent == NULL)
    return NULL;
  GBytes *(*fn) (VcAgentConn *, const char *, const char *, gsize, GError **)
    = err_stream ? agent->ops->read_stderr : agent->ops->read_stdout;
  const char *method = err_stream ? "read_stderr" : "read_stdout";
  if (fn == NULL)
    {
      unsupported (method, error);
      return NULL;
    }
  GBytes *data = fn (agent->conn, c->id, exec_or_init (c, exec_id), max_len, error);
  if (data == NULL)
    g_prefix_error (error, "container %s: %s: ", c->id, method);
  else if (g_bytes_get_size (data) > max_len)
    {
      g_bytes_unref (data);
      g_set_error (error, VC_ERROR, VC_ERROR_PROTOCOL,
                   "container %s: %s returned more than the %" G_GSIZE_FORMAT " bytes asked",
                   c->id, method, max_len);
      return NULL;
    }
  return data;
}

GBytes *
vc_container_read_stdout (VcContainer *c, const char *exec_id, gsize max_len, GError **error)
{
  return read_stream (c, exec_id, max_len, FALSE, error);
}

GBytes *
vc_container_read_stderr (VcContainer *c, const char *exec_id, gsize max_len, GError **error)
{
  return read_stream (c, exec_id, max_len, TRUE, error);
}

gboolean
vc_container_write_stdin (VcContainer *c, const char *exec_id, const guint8 *data, gsize len,
                          gsize *written, GError **error)
{
  g_autoptr(VcAgentRef) agent = agent_for_stdio (c, exec_id, error);
  if (agent == NULL)
    return FALSE;
  if (agent->ops->write_stdin == NULL)
    return unsupported ("write_stdin", error);
  gsize n = 0;
  if (!agent->ops->write_stdin (agent->conn, c->id, exec_or_init (c, exec_id), data, len, &n,
                                error))
    {
      g_prefix_error (error, "container %s: write_stdin: ", c->id);
      return FALSE;
    }
  if (written)
    *written = MIN (n, len);
  return TRUE;
}

gboolean
vc_container_close_stdin (VcContainer *c, const char *exec_id, GError **error)
{
  g_autoptr(VcAgentRef) agent = agent_for_stdio (c, exec_id, error);
  if (agent == NULL)
    return FALSE;
  if (agent->ops->close_stdin == NULL)
    return unsupported ("close_stdin", error);
  if (!agent->ops->close_stdin (agent->conn, c->id, exec_or_init (c, exec_id), error))
    {
      g_prefix_error (error, "container %s: close_stdin: ", c->id);
      return FALSE;
    }
  return TRUE;
}

gboolean
vc_container_resize_tty (VcContainer *c, const char *exec_id, guint rows, guint columns,
                         GError **error)
{
  g_autoptr(VcAgentRef) agent = agent_for_stdio (c, exec_id, error);
  if (agent == NULL)
    return FALSE;
  if (agent->ops->tty_win_resize == NULL)
    return unsupported ("tty_win_resize", error);
  if (!agent->ops->tty_win_resize (agent->conn, c->id, exec_or_init (c, exec_id), rows, columns,
                                   error))
    {
      g_prefix_error (error, "container %s: tty_win_resize: ", c->id);
      return FALSE;
    }
  return TRUE;
}

/* ---- getters ----------------------------------------------------------- */

const char *
vc_container_get_id (VcContainer *c)
{
  return c->id;
}

const char *
vc_container_get_bundle (VcContainer *c)
{
  return c->bundle;
}

VcSandbox *
vc_container_get_sandbox (VcContainer *c)
{
  return c->sandbox;
}

#define LAST_FIELD(type, field)           \
  snapshot (c);                           \
  g_mutex_lock (&c->mutex);               \
  type value = c->last->field;            \
  g_mutex_unlock (&c->mutex);             \
  return value

VcContainerState
vc_container_get_state (VcContainer *c)
{
  LAST_FIELD (VcContainerState, state);
}

gboolean
vc_container_get_terminal (VcContainer *c)
{
  LAST_FIELD (gboolean, terminal);
}

gint
vc_container_get_pid (VcContainer *c)
{
  LAST_FIELD (gint, pid);
}

int
vc_container_get_exit_status (VcContainer *c)
{
  LAST_FIELD (int, exit_status);
}

gint64
vc_container_get_created (VcContainer *c)
{
  LAST_FIELD (gint64, created);
}
