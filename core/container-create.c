/* libvcrun: creating a container — the OCI bundle shared into the guest
 * through the fs plugin and created by the agent, every share undone on
 * failure. */
#include "config.h"

#include "bundle-private.h"
#include "container-impl.h"
#include "container-devices.h"
#include "host-cgroup.h"
#include "mountpoints.h"
#include "oci.h"

#include <signal.h>
#include <unistd.h>

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
    return vc_container_unsupported ("share_rootfs (fs)", error);
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
        return vc_container_unsupported ("share_mount (fs)", error);
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

void
vc_container_unshare_quietly (const VcFsOps *fs, VcFsShare *share, const char *id)
{
  g_autoptr(GError) error = NULL;
  if (fs->unshare_container && !fs->unshare_container (share, id, &error))
    g_warning ("container %s: unshare_container: %s", id, error->message);
}

static gboolean
run_create_hooks (VcSandbox *sb, const char *id, const char *bundle, const VcOciSpec *spec,
                  GError **error)
{
  if (!vc_hooks_save (vc_sandbox_get_dir (sb), id, spec->json, bundle, error))
    {
      g_prefix_error (error, "container %s: saving its hooks: ", id);
      return FALSE;
    }
  if (vc_hooks_count (spec->hooks, VC_HOOK_PRESTART) == 0
      && vc_hooks_count (spec->hooks, VC_HOOK_CREATE_RUNTIME) == 0)
    return TRUE;
  g_autofree char *state = vc_hook_state_json (spec->oci_version, id, "created", (gint) getpid (),
                                               bundle, spec->annotations_json);
  if (!vc_hooks_run (spec->hooks, VC_HOOK_PRESTART, state, error)
      || !vc_hooks_run (spec->hooks, VC_HOOK_CREATE_RUNTIME, state, error))
    {
      g_prefix_error (error, "container %s: ", id);
      return FALSE;
    }
  return TRUE;
}

VcContainer *
vc_container_create (VcSandbox *sb, const char *id, const char *bundle, GError **error)
{
  return vc_container_create_as (sb, id, bundle, 0, error);
}

VcContainer *
vc_container_create_as (VcSandbox *sb, const char *id, const char *bundle, guint caller_uid,
                        GError **error)
{
  if (!vc_id_validate (id, "container", error))
    return NULL;
  if (bundle == NULL || *bundle == '\0')
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "container %s: no bundle given", id);
      return NULL;
    }
  gint64 began = g_get_monotonic_time ();
  g_autofree char *abs_bundle = g_canonicalize_filename (bundle, NULL);
  g_autoptr(VcOciSpec) spec = vc_oci_spec_load (abs_bundle, error);
  if (spec == NULL)
    return NULL;
  if (caller_uid != 0 && !vc_bundle_check_spec_owner (abs_bundle, spec, caller_uid, error))
    return NULL;

  /* As Kata: a host namespace other than the network cannot be joined
   * from inside the VM; the container gets its own in the guest. */
  for (char **ns = spec->host_ns_paths; ns && *ns; ns++)
    g_warning ("container %s: linux.namespaces: ignoring the host namespace '%s': it cannot be "
               "joined across the VM boundary (the container gets a namespace of its own in the "
               "guest)", id, *ns);

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
  g_autoptr(VcContainerDevices) devices = NULL;
  gboolean shared = FALSE, created = FALSE;
  g_autofree char *guest_json = NULL;

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
      vc_container_unsupported ("create_container", error);
      goto out;
    }

  shared = TRUE;
  if (!share_all (fs, share, id, spec, &s, error))
    goto out;

  /* The guest gets only createContainer and startContainer hooks. */
  guest_json = vc_hooks_guest_json (spec->json, spec->root_path, error);
  if (guest_json == NULL && error && *error)
    goto out;
  devices = vc_container_devices_attach (sb, id, spec, error);
  if (devices == NULL)
    goto out;
  for (guint i = 0; i < devices->storages->len; i++)
    g_ptr_array_add (s.storages, devices->storages->pdata[i]);
  for (guint i = 0; i < devices->mounts->len; i++)
    {
      VcAgentMount *am = g_memdup2 (devices->mounts->pdata[i], sizeof (VcAgentMount));
      g_ptr_array_add (s.mounts, am);
    }
  g_ptr_array_add (devices->guest_devices, NULL);
  g_ptr_array_add (devices->container_paths, NULL);
  g_ptr_array_add (devices->records, NULL);

  g_ptr_array_add (s.storages, NULL);
  g_ptr_array_add (s.mounts, NULL);
  VcContainerConfig config = {
    .struct_size = sizeof (VcContainerConfig),
    .container_id = id,
    .oci_spec_json = guest_json ? guest_json : spec->json,
    .guest_rootfs = ((VcSharedPath *) s.paths->pdata[0])->guest_path,
    .storages = (VcStorage *const *) s.storages->pdata,
    .mounts = (const VcAgentMount *const *) s.mounts->pdata,
    .devices = (const VcGuestDevice *const *) devices->guest_devices->pdata,
    .device_container_paths = (const char *const *) devices->container_paths->pdata,
  };
  g_debug ("container %s: shared and sent after %" G_GINT64_FORMAT " ms", id,
           (g_get_monotonic_time () - began) / 1000);
  if (!agent->ops->create_container (agent->conn, &config, error))
    {
      g_prefix_error (error, "container %s: agent create_container: ", id);
      goto out;
    }
  created = TRUE;
  g_debug ("container %s: agent create_container done after %" G_GINT64_FORMAT " ms", id,
           (g_get_monotonic_time () - began) / 1000);

  /* OCI: prestart and createRuntime after the container exists, before its
   * process starts; a failure fails the create, undone below. The owner
   * (this process) stands for the container's pid until start. */
  if (!run_create_hooks (sb, id, abs_bundle, spec, error))
    goto out;
  /* the VM has booted: the host cgroup's CPU quota can bind now */
  if (!vc_host_cgroup_finish (error))
    goto out;

  VcContainerRecord *rec = vc_container_record_new (id);
  rec->bundle = g_strdup (abs_bundle);
  rec->rootfs = g_strdup (spec->root_path);
  rec->terminal = spec->terminal;
  rec->created = g_get_real_time () / G_USEC_PER_SEC;
  if (devices->records->len > 1)
    rec->devices = g_strdupv ((char **) devices->records->pdata);
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
      if (devices != NULL)
        vc_container_devices_release (sb, id, (char *const *) devices->records->pdata);
      if (shared)
        vc_container_unshare_quietly (fs, share, id);
      vc_hooks_forget (vc_sandbox_get_dir (sb), id);
    }
  shares_clear (&s);
  vc_sandbox_op_end (&op);
  return result;
}

