/* CreateContainer / ExecProcess / UpdateContainer request content, as Kata
 * builds it (container-request.h). */
#include "config.h"

#include "container-request.h"

#include <string.h>

static gboolean
same_destination (const char *a, const char *b)
{
  if (a == NULL || b == NULL)
    return FALSE;
  g_autofree char *ca = g_canonicalize_filename (a, "/");
  g_autofree char *cb = g_canonicalize_filename (b, "/");
  return strcmp (ca, cb) == 0;
}

Grpc__Storage **
vc_kata_storages (VcArena *arena, VcStorage *const *storages, size_t *n, GError **error)
{
  size_t count = 0;
  while (storages && storages[count])
    count++;
  *n = count;
  if (count == 0)
    return NULL;

  Grpc__Storage **out = vc_arena_alloc (arena, count * sizeof *out);
  for (size_t i = 0; i < count; i++)
    {
      const VcStorage *s = storages[i];
      if (s->struct_size < sizeof (VcStorage) || s->mount_point == NULL
          || !g_path_is_absolute (s->mount_point))
        {
          g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                       "storage %zu: mount point '%s' is not an absolute path", i,
                       s->mount_point ? s->mount_point : "(null)");
          return NULL;
        }
      Grpc__Storage *st = vc_arena_message (arena, &grpc__storage__descriptor);
      st->driver = vc_arena_strdup (arena, s->driver);
      st->source = vc_arena_strdup (arena, s->source);
      st->fstype = vc_arena_strdup (arena, s->fstype);
      st->options = vc_arena_strv (arena, (const char *const *) s->options, &st->n_options);
      st->mount_point = vc_arena_strdup (arena, s->mount_point);
      out[i] = st;
    }
  return out;
}

/* Options of a shared bind mount: read-only when asked ("rw" dropped, "ro"
 * added), and a bind in any case. */
static void
rewrite_mount_options (VcArena *arena, Grpc__Mount *m, gboolean readonly)
{
  GPtrArray *opts = g_ptr_array_new ();
  gboolean has_ro = FALSE, has_bind = FALSE;

  for (size_t i = 0; i < m->n_options; i++)
    {
      const char *o = m->options[i];
      if (readonly && strcmp (o, "rw") == 0)
        continue;
      has_ro |= strcmp (o, "ro") == 0;
      has_bind |= strcmp (o, "bind") == 0 || strcmp (o, "rbind") == 0;
      g_ptr_array_add (opts, (gpointer) o);
    }
  if (!has_bind)
    g_ptr_array_add (opts, "rbind");
  if (readonly && !has_ro)
    g_ptr_array_add (opts, "ro");
  g_ptr_array_add (opts, NULL);
  m->options = vc_arena_strv (arena, (const char *const *) opts->pdata, &m->n_options);
  g_ptr_array_unref (opts);
}

static gboolean
rewrite_mounts (VcArena *arena, Grpc__Spec *spec, const VcAgentMount *const *mounts,
                GError **error)
{
  g_autofree gboolean *done = g_new0 (gboolean, spec->n_mounts + 1);

  for (size_t i = 0; mounts && mounts[i]; i++)
    {
      const VcAgentMount *am = mounts[i];
      if (am->struct_size < sizeof (VcAgentMount) || am->guest_source == NULL)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                       "shared mount %zu has no guest source", i);
          return FALSE;
        }
      size_t j;
      for (j = 0; j < spec->n_mounts; j++)
        if (!done[j] && same_destination (spec->mounts[j]->destination, am->destination))
          break;
      if (j == spec->n_mounts)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                       "shared mount for %s is not among the spec's mounts",
                       am->destination ? am->destination : "(null)");
          return FALSE;
        }
      Grpc__Mount *m = spec->mounts[j];
      m->source = vc_arena_strdup (arena, am->guest_source);
      m->type = vc_arena_strdup (arena, "bind");
      rewrite_mount_options (arena, m, am->readonly);
      done[j] = TRUE;
    }
  return TRUE;
}

/* Resources the guest applies: memory and CPU shares/quota; the rest is the
 * host's business or meaningless in the VM (Kata's constrainGRPCSpec). */
static void
constrain_resources (Grpc__LinuxResources *res)
{
  if (res == NULL)
    return;
  res->n_devices = 0;
  res->devices = NULL;
  res->pids = NULL;
  if (res->cpu)
    {
      res->cpu->cpus = (char *) protobuf_c_empty_string;
      res->cpu->mems = (char *) protobuf_c_empty_string;
    }
}

static void
constrain_linux (Grpc__Linux *lx)
{
  if (lx == NULL)
    return;
  lx->cgroupspath = (char *) protobuf_c_empty_string;
  constrain_resources (lx->resources);

  /* The network is set up by the host; a cgroup namespace path or any other
   * namespace path names something on the host, not in the guest. */
  size_t kept = 0;
  for (size_t i = 0; i < lx->n_namespaces; i++)
    {
      Grpc__LinuxNamespace *ns = lx->namespaces[i];
      if (g_strcmp0 (ns->type, "network") == 0 || g_strcmp0 (ns->type, "cgroup") == 0)
        continue;
      ns->path = (char *) protobuf_c_empty_string;
      lx->namespaces[kept++] = ns;
    }
  lx->n_namespaces = kept;
}

static Grpc__Device **
convert_devices (VcArena *arena, const VcContainerConfig *config, size_t *n, GError **error)
{
  size_t count = 0;
  while (config->devices && config->devices[count])
    count++;
  *n = count;
  if (count == 0)
    return NULL;
  if (config->device_container_paths == NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "devices given without their container paths");
      return NULL;
    }

  Grpc__Device **out = vc_arena_alloc (arena, count * sizeof *out);
  for (size_t i = 0; i < count; i++)
    {
      const VcGuestDevice *gd = config->devices[i];
      const char *container_path = config->device_container_paths[i];
      if (container_path == NULL || gd->id == NULL)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                       "device %zu has no %s", i, gd->id ? "container path" : "id");
          return NULL;
        }
      Grpc__Device *d = vc_arena_message (arena, &grpc__device__descriptor);
      d->id = vc_arena_strdup (arena, gd->id);
      d->type = vc_arena_strdup (arena, gd->driver);
      d->vm_path = vc_arena_strdup (arena, gd->guest_address ? gd->guest_address : gd->guest_path);
      d->container_path = vc_arena_strdup (arena, container_path);
      out[i] = d;
    }
  return out;
}

Grpc__CreateContainerRequest *
vc_kata_create_container_request (VcArena *arena, const VcContainerConfig *config, GError **error)
{
  if (config == NULL || config->struct_size < sizeof (VcContainerConfig)
      || config->container_id == NULL || config->guest_rootfs == NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "container config without container id or guest rootfs");
      return NULL;
    }

  Grpc__Spec *spec = (Grpc__Spec *) vc_json_text_to_message (arena, config->oci_spec_json,
                                                             &grpc__spec__descriptor,
                                                             "config.json", error);
  if (spec == NULL)
    return NULL;

  if (spec->root == NULL)
    spec->root = vc_arena_message (arena, &grpc__root__descriptor);
  spec->root->path = vc_arena_strdup (arena, config->guest_rootfs);
  if (!rewrite_mounts (arena, spec, config->mounts, error))
    return NULL;
  constrain_linux (spec->linux);

  Grpc__CreateContainerRequest *req = vc_arena_message (arena,
                                                        &grpc__create_container_request__descriptor);
  req->container_id = vc_arena_strdup (arena, config->container_id);
  req->exec_id = vc_arena_strdup (arena, config->container_id);
  req->oci = spec;
  req->storages = vc_kata_storages (arena, config->storages, &req->n_storages, error);
  if (req->n_storages && req->storages == NULL)
    return NULL;
  req->devices = convert_devices (arena, config, &req->n_devices, error);
  if (req->n_devices && req->devices == NULL)
    return NULL;
  return req;
}

Grpc__Process *
vc_kata_process_from_json (VcArena *arena, const char *process_json, GError **error)
{
  Grpc__Process *p = (Grpc__Process *) vc_json_text_to_message (arena, process_json,
                                                                &grpc__process__descriptor,
                                                                "process", error);
  if (p && p->n_args == 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "process.args: must be a non-empty array of strings");
      return NULL;
    }
  return p;
}

Grpc__LinuxResources *
vc_kata_resources_from_json (VcArena *arena, const char *resources_json, GError **error)
{
  Grpc__LinuxResources *res = (Grpc__LinuxResources *) vc_json_text_to_message (
      arena, resources_json, &grpc__linux_resources__descriptor, "resources", error);
  constrain_resources (res);
  return res;
}
