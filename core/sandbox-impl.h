/* libvcrun internal: the sandbox object itself, shared by the files that
 * implement it and by nothing else (container.c sees sandbox-private.h):
 *   sandbox.c          construction, load, list, state changes, stop, delete, getters
 *   sandbox-events.c   the op lock, records and pending stops, VM and fs events, notifications
 *   sandbox-plugins.c  plugin resolution and lazy reattach (ensure_vm, connect_agent)
 *   sandbox-create.c   create, boot and rollback
 */
#pragma once

#include "sandbox-private.h"
#include "runtime-private.h"

G_BEGIN_DECLS

#define DEFAULT_BOOT_TIMEOUT_MS 120000
#define CREATING_REASON "being created by process "
#define DEFAULT_STOP_TIMEOUT_MS 5000
#define DEFAULT_VCPUS 1
#define DEFAULT_MEMORY_MIB 256
/* An event handler persisting a stop waits this long for another process's lock. */
#define EVENT_LOCK_TIMEOUT_MS 2000

struct VcSandbox {
  gint       ref_count;
  VcRuntime *runtime;
  char      *id;
  char      *dir;
  char      *lock_path;

  GMutex     op_mutex;
  GThread   *op_thread;   /* holder of op_mutex (atomic): an event from it must not trylock */
  GMutex     state_mutex;

  /* Under state_mutex. */
  VcSandboxRecord *record;
  gboolean   deleted;
  gboolean   finalizing;
  gboolean   creating;             /* vc_sandbox_create has not returned yet */
  gboolean   stopping;             /* we are stopping the VM: its event is expected */
  char      *pending_stop_reason;  /* an event's stop, to persist */
  gboolean   pending_vm_gone;      /* ... and the VM is gone already */
  gboolean   pending_stop_vm;      /* ... and the VM must be stopped (fs daemon died) */
  GPtrArray *notify_queue;         /* char*: container IDs, "" for the sandbox */
  VcAgentRef *agent;               /* the connection, once made */

  /* Under op_mutex. */
  VcPlugin  *hv_plugin;
  VcPlugin  *agent_plugin;
  VcPlugin  *fs_plugin;
  const VcHypervisorOps *hv;
  const VcAgentOps      *agent_ops;
  const VcFsOps         *fs;
  VcVm      *vm;
  VcFsShare *share;

  /* Timeouts (not persisted: another process uses the defaults). */
  guint      boot_timeout_ms;
  guint      agent_timeout_ms;
  guint      stop_timeout_ms;
  gboolean   use_template;         /* start the VM from a template (template.c) */
  gboolean   template_build;       /* ... building it if missing or stale: asked for, or
                                      the configured settings (else only a current one) */
  char      *template_dir;         /* the one it was started from, else NULL */

  /* network (sandbox-network.c), under op_mutex: the namespace asked for at
   * create, the plan made from it, and the tap fds until the VM has them. */
  char      *netns;
  struct VcNetworkSetup *net;

  /* cold plug (container-devices.c), under op_mutex: the first container's
   * bundle and ID from the options, and its devices plugged at boot until
   * that container's create claims them. */
  char      *cold_bundle;
  char      *cold_container_id;
  struct VcContainerDevices *cold_devices;

  VcSandboxChangedFunc changed_func;
  gpointer   changed_data;
  GDestroyNotify changed_destroy;
};


/* sandbox.c */
VcSandbox *vc_sandbox_new_handle (VcRuntime *runtime, const char *id, VcSandboxRecord *record);
void       vc_sandbox_finalize   (VcSandbox *sb);

/* sandbox-events.c: op_mutex (see sandbox-private.h for the lock order). */
void     vc_sandbox_op_lock    (VcSandbox *sb);
gboolean vc_sandbox_op_trylock (VcSandbox *sb);
void     vc_sandbox_op_unlock  (VcSandbox *sb);
/* Drops the sandbox's own agent reference; users in flight keep theirs. */
void     vc_sandbox_drop_agent (VcSandbox *sb);
/* The *_locked functions run under state_mutex. */
void     vc_sandbox_queue_notify_locked (VcSandbox *sb, const char *container_id);
gboolean vc_sandbox_mark_stopped_locked (VcSandbox *sb, const char *reason);
gboolean vc_sandbox_apply_pending_locked (VcSandbox *sb);
void     vc_sandbox_write_record_locked (VcSandbox *sb, GError **error);
/* Reads dir's record; a missing one is VC_ERROR_NOT_FOUND "sandbox ID does not
 * exist", one holding another ID VC_ERROR_FAILED. */
VcSandboxRecord *vc_sandbox_read_record (const char *dir, const char *id, GError **error);
/* Replaces the in-memory record with the one on disk (another process may
 * have changed it), pending events applied. */
gboolean vc_sandbox_reload (VcSandbox *sb, GError **error);
/* Writes the in-memory record to sandbox.json (vc_sandbox_op_save without an op). */
gboolean vc_sandbox_save (VcSandbox *sb, GError **error);
gboolean vc_sandbox_stop_vm_on_purpose (VcSandbox *sb, VcVm *vm, gboolean quiesced, GError **error);
void     vc_sandbox_process_pending_after_unlock (VcSandbox *sb);
void     vc_sandbox_on_vm_event (VcVmEvent event, const char *detail, gpointer user_data);
void     vc_sandbox_on_fs_event (VcFsEvent event, const char *detail, gpointer user_data);

/* template.c: whether this sandbox's VM should come from a template, and
 * starting it so (sb->vm set); on failure no VM is left and the caller boots
 * cold. devices: the fs plugin's, cold-plugged into both. */
gboolean    vc_template_wanted   (VcSandbox *sb);
/* ... and whether one may be used with these devices: built if missing or
 * stale for the configured settings, else only a current one (logged why not). */
gboolean    vc_template_usable   (VcSandbox *sb, GPtrArray *devices);
gboolean    vc_template_start_vm (VcSandbox *sb, GPtrArray *devices, GError **error);

/* sandbox-network.c: the hooks of create and delete (op held). */
/* Before create_vm: taps and filters in the namespace (or, VC_HV_CAP_NET_TAP_NAME,
 * persistent taps in the host's); NET devices for the VM. */
gboolean vc_sandbox_network_setup     (VcSandbox *sb, GPtrArray *devices, GError **error);
/* After the hypervisor took its copies of the tap fds. */
void     vc_sandbox_network_close_fds (VcSandbox *sb);
/* After start_vm, for a VC_HV_CAP_NET_TAP_NAME hypervisor: its taps, opened
 * by name in the host's namespace, moved into the sandbox's, and the
 * redirects there. Nothing to do (other hypervisors) is success. */
gboolean vc_sandbox_network_attach    (VcSandbox *sb, GError **error);
/* After agent create_sandbox: interfaces, routes, neighbours in the guest. */
gboolean vc_sandbox_network_configure (VcSandbox *sb, GError **error);
/* After the VM is gone (rollback, delete): filters and taps out of the
 * namespace, network.json removed. Nothing to do is success. */
gboolean vc_sandbox_network_cleanup   (VcSandbox *sb, GError **error);
void     vc_sandbox_network_free      (VcSandbox *sb);

/* sandbox-plugins.c */
gboolean    vc_sandbox_resolve_plugins (VcSandbox *sb, GError **error);
gboolean    vc_sandbox_unsupported     (const char *plugin, const char *method, GError **error);
void        vc_sandbox_fill_vm_config  (VcSandbox *sb, VcVmConfig *config);
void        vc_sandbox_fill_fs_config  (VcSandbox *sb, VcFsSandboxConfig *config);
VcVm       *vc_sandbox_ensure_vm       (VcSandbox *sb, GError **error);
VcAgentRef *vc_sandbox_connect_agent   (VcSandbox *sb, GError **error);
/* The same while the VM boots: gives up as soon as a VM event says it
 * stopped, instead of at the dial's timeout. op_mutex held. */
VcAgentRef *vc_sandbox_connect_agent_booting (VcSandbox *sb, GError **error);

G_END_DECLS
