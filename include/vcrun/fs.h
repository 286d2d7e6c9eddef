/* vcrun plugin ABI — the filesystem-sharer kind.
 *
 * An fs-sharer makes host paths (container rootfs, bind-mount sources) visible
 * in the guest, following Kata's layout: a per-sandbox host directory
 *   <sandbox state_dir>/shared/
 * into which each container's rootfs and bind mounts are bind-mounted, and
 * which is exported into the guest once and mounted there at
 *   /run/kata-containers/shared/containers/
 * so a container's rootfs is /run/kata-containers/shared/containers/<cid>/rootfs.
 *
 * Order seen by the core:
 *   prepare -> get_devices (cold-plugged by the hypervisor; starts any daemon)
 *   -> VM boots -> get_sandbox_storage (given to the agent's CreateSandbox)
 *   -> share_rootfs / share_mount per container -> unshare_container
 *   -> cleanup (after the VM stopped) -> free_share.
 * cleanup and unshare_container are idempotent and also undo a half-done
 * prepare/share. A failed call leaves nothing behind.
 *
 * How the backends map onto it:
 *  - 9p: get_devices returns one VC_DEVICE_FS_9P of the shared dir.
 *  - virtio-fs with QEMU / Cloud Hypervisor: get_devices starts virtiofsd on a
 *    socket in the state dir and returns one VC_DEVICE_FS_VHOST_USER;
 *    virtiofsd dying raises VC_FS_EVENT_DAEMON_DIED.
 *  - virtio-fs with libvirt (VC_HV_CAP_MANAGED_VIRTIOFS): no daemon; returns a
 *    VC_DEVICE_FS_VIRTIOFS of the shared dir and libvirt runs virtiofsd.
 */
#pragma once

#include <vcrun/plugin.h>

G_BEGIN_DECLS

/* Version 2 (ABI 1.1) appended check; version 3 (ABI 1.4) get_pids. */
#define VC_FS_OPS_VERSION 3

typedef enum {
  VC_FS_EVENT_DAEMON_DIED = 1,   /* detail: what happened, e.g. "virtiofsd exited with status 1" */
} VcFsEvent;

typedef void (*VcFsEventFunc) (VcFsEvent event, const char *detail, gpointer user_data);

typedef struct {
  gsize         struct_size;
  const char   *sandbox_id;
  const char   *state_dir;        /* the sandbox's own directory */
  guint64       hypervisor_caps;  /* VcHypervisorCaps of the sandbox's hypervisor */
  VcFsEventFunc event_func;       /* may be NULL; unlike the other fields, it and
                                     event_data stay valid until free_share */
  gpointer      event_data;
} VcFsSandboxConfig;

struct VcFsOps {
  guint32 version;   /* VC_FS_OPS_VERSION */
  gsize   size;      /* sizeof (VcFsOps) */

  VcFsShare    *(*prepare)             (VcPluginInstance *self, const VcFsSandboxConfig *config,
                                        GError **error);
  /* Devices to cold-plug before boot: GPtrArray of VcDevice*, with
   * vc_device_free as its free function. Starts daemons if needed. */
  GPtrArray    *(*get_devices)         (VcFsShare *share, GError **error);
  /* What the agent mounts once per sandbox (the shared dir). */
  VcStorage    *(*get_sandbox_storage) (VcFsShare *share, GError **error);

  VcSharedPath *(*share_rootfs)        (VcFsShare *share, const char *container_id,
                                        const char *host_rootfs, gboolean readonly, GError **error);
  /* An OCI bind mount: host_source shared for the container, read-only when asked. */
  VcSharedPath *(*share_mount)         (VcFsShare *share, const char *container_id,
                                        const char *host_source, const char *destination,
                                        gboolean readonly, GError **error);
  gboolean      (*unshare_container)   (VcFsShare *share, const char *container_id, GError **error);
  gboolean      (*cleanup)             (VcFsShare *share, GError **error);

  char         *(*save_state)          (VcFsShare *share, GError **error);
  VcFsShare    *(*attach)              (VcPluginInstance *self, const VcFsSandboxConfig *config,
                                        const char *saved_state, GError **error);
  void          (*free_share)          (VcFsShare *share);

  /* --- version 2 (ABI 1.1) --- */
  /* Can this host share files this way (its daemon, its kernel support)?
   * Appends lines "name: detail" to report, as VcHypervisorOps.check does;
   * fails when it cannot. `vcrun check` calls it for each fs plugin. */
  gboolean      (*check)               (VcPluginInstance *self, GString *report, GError **error);

  /* --- version 3 (ABI 1.4) --- */
  /* Host pids of the helper processes the share runs (virtiofsd), for
   * `vcrun ps`: GArray of gint, caller frees; empty when it runs none
   * (9p, or a daemon the hypervisor manages). */
  GArray       *(*get_pids)            (VcFsShare *share, GError **error);
};

G_END_DECLS
