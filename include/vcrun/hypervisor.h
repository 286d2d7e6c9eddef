/* vcrun plugin ABI — the hypervisor kind.
 *
 * A hypervisor plugin makes VMs (VcVm) from a VcVmConfig, cold-plugs devices,
 * boots, controls and stops them, and offers the agent channel.
 *
 * Lifecycle seen by the core:
 *   create_vm -> add_device* -> start_vm -> wait_agent_channel -> ...
 *   -> pause_vm/resume_vm, hotplug_add/remove, resize_* ...
 *   -> stop_vm -> free_vm
 * or, from another process: attach_vm(saved state) -> ... -> stop_vm -> free_vm.
 * free_vm releases the handle only; the VM keeps running unless stop_vm ran.
 * A failed create_vm/start_vm leaves no process or file behind.
 *
 * How the backends map onto it:
 *  - QEMU (QMP over a Unix socket): start_vm spawns qemu with the devices on the
 *    command line; pause/resume = stop/cont checked with query-status;
 *    stop = system_powerdown, then quit, then SIGKILL; hotplug = blockdev-add +
 *    device_add, device_del waiting for DEVICE_DELETED; resize = cpu/memory
 *    hotplug; agent over virtio-serial (SERIAL, wait_agent_channel waits for
 *    VSERPORT_CHANGE open) or vhost-vsock (VSOCK); 9p and vhost-user-fs devices.
 *  - Cloud Hypervisor (REST over its API socket, libcurl): create_vm collects
 *    the config, start_vm = vm.create + vm.boot; devices other than disks are
 *    cold-plugged only (fs needs add_device before start_vm), hotplug = vm.add-disk
 *    / vm.remove-device, pause/resume = vm.pause / vm.resume, stop = vm.shutdown
 *    then vmm.shutdown then SIGKILL; resize = vm.resize; agent over HYBRID_VSOCK.
 *    No 9p: it does not announce VC_HV_CAP_FS_9P.
 *  - libvirt: create_vm builds domain XML, start_vm = virDomainCreateXML; it runs
 *    virtiofsd itself, so it announces VC_HV_CAP_MANAGED_VIRTIOFS and takes
 *    VC_DEVICE_FS_VIRTIOFS; pause/resume = virDomainSuspend/Resume; hotplug =
 *    virDomainAttachDevice; pids from the domain's pid file; save_state keeps
 *    the domain name/UUID so attach_vm looks it up again. Its API takes no tap
 *    fd, so NICs come by name (VC_HV_CAP_NET_TAP_NAME): an
 *    <interface type='ethernet'> on a tap the core made (managed='no').
 */
#pragma once

#include <vcrun/plugin.h>

G_BEGIN_DECLS

#define VC_HYPERVISOR_OPS_VERSION 2

typedef enum {
  VC_HV_CAP_PAUSE            = 1 << 0,
  VC_HV_CAP_HOTPLUG_BLOCK    = 1 << 1,
  VC_HV_CAP_HOTPLUG_VCPU     = 1 << 2,
  VC_HV_CAP_HOTPLUG_MEMORY   = 1 << 3,
  VC_HV_CAP_FS_9P            = 1 << 4,  /* takes VC_DEVICE_FS_9P */
  VC_HV_CAP_FS_VHOST_USER    = 1 << 5,  /* takes VC_DEVICE_FS_VHOST_USER */
  VC_HV_CAP_MANAGED_VIRTIOFS = 1 << 6,  /* takes VC_DEVICE_FS_VIRTIOFS, runs the daemon */
  VC_HV_CAP_AGENT_SERIAL     = 1 << 7,
  VC_HV_CAP_AGENT_VSOCK      = 1 << 8,
  VC_HV_CAP_AGENT_HYBRID_VSOCK = 1 << 9,
  VC_HV_CAP_REATTACH         = 1 << 10, /* save_state/attach_vm work */
  /* ---- devices (ABI 1.4) ---- */
  VC_HV_CAP_COLD_PLUG_BLOCK  = 1 << 11, /* add_device of a VC_DEVICE_BLOCK fills guest_out with
                                           where the guest finds it, and hotplug_remove takes it
                                           out again: the core cold-plugs the first container's
                                           volumes at boot (else it hot-plugs them after) */
  /* ---- network (ABI 1.3) ---- */
  VC_HV_CAP_NET_TAP_FD       = 1 << 16, /* add_device takes VC_DEVICE_NET (a tap fd opened in
                                           another network namespace, VMM in the host's) */
  /* templates (a high bit, so that other features can append low ones) */
  VC_HV_CAP_TEMPLATE         = 1 << 20, /* template_identity/save_template work */
  /* ---- network by tap name (ABI 1.5) ---- */
  VC_HV_CAP_NET_TAP_NAME     = 1 << 17, /* add_device takes VC_DEVICE_NET with net_fd -1 and
                                           host_path naming a persistent tap in the VMM's (the
                                           host's) namespace; the VMM opens it by name at
                                           start_vm, and the core moves it into the sandbox's
                                           namespace after start_vm returns (libvirt) */
} VcHypervisorCaps;

/* templates: how create_vm treats VcVmConfig.template_dir. */
typedef enum {
  VC_VM_TEMPLATE_NONE = 0,  /* an ordinary cold boot */
  VC_VM_TEMPLATE_CREATE,    /* boot a template VM whose files go in template_dir; after the
                               agent channel opens, save_template saves and stops it */
  VC_VM_TEMPLATE_RESTORE,   /* start_vm restores the template saved in template_dir, then
                               hot-plugs what the template could not hold; the guest is
                               running with its agent channel open when it returns */
} VcVmTemplateMode;

typedef enum {
  VC_VM_STATUS_UNKNOWN = 0,
  VC_VM_STATUS_CREATED,   /* configured, not started */
  VC_VM_STATUS_RUNNING,
  VC_VM_STATUS_PAUSED,
  VC_VM_STATUS_STOPPED,   /* the VMM process is gone */
} VcVmStatus;

typedef enum {
  VC_VM_EVENT_STOPPED = 1,     /* the VM went away; detail: the reason ("guest powered off",
                                  "qemu killed by signal 9", ...). Sent once. */
  VC_VM_EVENT_PAUSED,
  VC_VM_EVENT_RESUMED,
  VC_VM_EVENT_DEVICE_REMOVED,  /* detail: the device id */
  VC_VM_EVENT_GUEST_PANICKED,
  VC_VM_EVENT_AGENT_CHANNEL,   /* detail: "open" or "closed" (virtio-serial) */
} VcVmEvent;

/* May be called from any thread; must not call back into the same VcVm. */
typedef void (*VcVmEventFunc) (VcVmEvent event, const char *detail, gpointer user_data);

typedef struct {
  gsize            struct_size;
  const char      *sandbox_id;
  const char      *state_dir;      /* the sandbox's own directory: sockets, logs, pid files */
  guint            vcpus;
  guint            max_vcpus;      /* 0: same as vcpus */
  guint64          memory_mib;
  guint64          max_memory_mib; /* 0: same as memory_mib */
  const char      *kernel;
  const char      *initrd;
  const char      *kernel_params;  /* appended to the plugin's own */
  VcAgentTransport agent_transport;/* NONE: the plugin's best */
  VcVmEventFunc    event_func;     /* may be NULL; unlike the other fields, it and
                                      event_data stay valid until free_vm */
  gpointer         event_data;
  /* templates (VC_HV_CAP_TEMPLATE) */
  VcVmTemplateMode template_mode;
  const char      *template_dir;   /* CREATE, RESTORE: a private (0700) directory */
} VcVmConfig;

struct VcHypervisorOps {
  guint32 version;   /* VC_HYPERVISOR_OPS_VERSION */
  gsize   size;      /* sizeof (VcHypervisorOps) */

  guint64   (*capabilities)   (VcPluginInstance *self);
  /* Can this host run VMs? Appends human-readable lines "name: ok|missing ..." to
   * report; fails when it cannot. */
  gboolean  (*check)          (VcPluginInstance *self, GString *report, GError **error);

  VcVm     *(*create_vm)      (VcPluginInstance *self, const VcVmConfig *config, GError **error);
  /* Cold plug, before start_vm. guest_out (may be NULL) receives what the agent needs. */
  gboolean  (*add_device)     (VcVm *vm, const VcDevice *device, VcGuestDevice *guest_out, GError **error);
  gboolean  (*start_vm)       (VcVm *vm, guint timeout_ms, GError **error);
  /* Graceful within graceful_timeout_ms, then forced. Succeeds if the VM is already gone. */
  gboolean  (*stop_vm)        (VcVm *vm, guint graceful_timeout_ms, GError **error);
  gboolean  (*pause_vm)       (VcVm *vm, GError **error);
  gboolean  (*resume_vm)      (VcVm *vm, GError **error);
  VcVmStatus (*get_status)    (VcVm *vm, GError **error);

  gboolean  (*hotplug_add)    (VcVm *vm, const VcDevice *device, VcGuestDevice *guest_out, GError **error);
  gboolean  (*hotplug_remove) (VcVm *vm, const char *device_id, guint timeout_ms, GError **error);
  gboolean  (*resize_vcpus)   (VcVm *vm, guint vcpus, guint *actual, GError **error);
  gboolean  (*resize_memory)  (VcVm *vm, guint64 memory_mib, guint64 *actual_mib, GError **error);

  /* The guest console log, or NULL when there is none. */
  char     *(*console_path)   (VcVm *vm);
  /* Host pids: the VMM first, then its helpers. GArray of gint, caller frees. */
  GArray   *(*get_pids)       (VcVm *vm, GError **error);
  /* vCPU thread ids, GArray of gint, index = vCPU number. */
  GArray   *(*get_vcpu_tids)  (VcVm *vm, GError **error);

  gboolean  (*get_agent_endpoint) (VcVm *vm, VcAgentEndpoint *out, GError **error);
  /* Returns once the guest side of the agent channel is open (virtio-serial:
   * nothing may be sent before); at once for vsock transports. */
  gboolean  (*wait_agent_channel) (VcVm *vm, guint timeout_ms, GError **error);

  /* A JSON object text from which attach_vm, in another process, rebuilds the
   * handle of the still-running VM. */
  char     *(*save_state)     (VcVm *vm, GError **error);
  VcVm     *(*attach_vm)      (VcPluginInstance *self, const VcVmConfig *config,
                               const char *saved_state, GError **error);
  void      (*free_vm)        (VcVm *vm);

  /* templates (VC_HV_CAP_TEMPLATE) */
  /* One line naming what, besides the VcVmConfig, a saved template depends on
   * (the VMM binary and version, the plugin's settings): a template saved
   * under another identity is stale. */
  char     *(*template_identity) (VcPluginInstance *self, GError **error);
  /* A VM created with VC_VM_TEMPLATE_CREATE, started, its agent channel open:
   * pauses it, writes its state into template_dir (files 0600) and stops it. */
  gboolean  (*save_template)  (VcVm *vm, guint timeout_ms, GError **error);
};

G_END_DECLS
