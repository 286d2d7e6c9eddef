/* hypervisor-qemu: declarations shared by the plugin's files (not installed). */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <vcrun/hypervisor.h>

#include "qmp-client.h"

G_BEGIN_DECLS

#define QEMU_QMP_TIMEOUT_MS   5000  /* one ordinary QMP command */
#define QEMU_HOTPLUG_PORTS    4     /* q35: pcie-root-ports kept free for hotplug */
#define QEMU_HOTPLUG_PORT_SLOT 0x10 /* q35: the first root port's slot on pcie.0 */
#define QEMU_FIRST_COLD_SLOT  0x03  /* q35: slots 1-2 are ours (virtio-serial, vsock) */
#define QEMU_LAST_COLD_SLOT   0x0f
#define QEMU_MEMORY_SLOTS     8
#define QEMU_AGENT_PORT_ID    "vc-agent-port"
#define QEMU_AGENT_PORT_NAME  "agent.channel.0"

typedef enum {
  QEMU_MACHINE_Q35,
  QEMU_MACHINE_MICROVM,
} QemuMachine;

struct VcPluginInstance {
  char        *qemu_path;
  gboolean     use_kvm;         /* read through qemu_plugin_use_kvm */
  gboolean     accel_auto;      /* use_kvm is decided by a probe, at the first VM */
  GOnce        accel_once;
  char        *kvm_why;         /* why the probe chose TCG */
  QemuMachine  machine;
  gboolean     seccomp_sandbox;
  char        *kernel_params;   /* the "kernel_params" setting, may be NULL */
  gboolean     have_vhost_vsock;
  guint64      tsc_khz;         /* the host's TSC rate, for guests under TCG; 0 unknown */
  gboolean     pvh;             /* boot the vmlinux beside a bzImage through its PVH entry */
};

/* Whether VMs get KVM: with accel auto, the first call probes QEMU. */
gboolean   qemu_plugin_use_kvm      (VcPluginInstance *self);
/* Whether qemu_path runs a KVM vCPU with -cpu host on this machine; why not
 * in *why (qemu-kvm-probe.c). */
gboolean   qemu_kvm_probe           (const char *qemu_path, const char *machine, char **why);

/* A device the VM has, cold- or hot-plugged. */
typedef struct {
  VcDevice *device;       /* our own deep copy */
  char     *qemu_id;      /* "vc-<id>": the -device id */
  char     *node_name;    /* BLOCK: the blockdev node, else NULL */
  char     *chardev_id;   /* VHOST_USER: its socket chardev, else NULL */
  guint     slot;         /* q35: slot on pcie.0 (cold) or of its root port (hot) */
  int       port;         /* hotplugged on root port n, or -1 */
  gboolean  removed;      /* DEVICE_DELETED seen */
} QemuDevice;

struct VcVm {
  VcPluginInstance *plugin;
  QemuMachine       machine;
  gboolean          use_kvm;
  char             *sandbox_id;
  char             *state_dir;
  guint             vcpus, max_vcpus;
  guint64           memory_mib, max_memory_mib;
  char             *kernel, *initrd, *kernel_params;
  VcAgentTransport  agent_transport;  /* SERIAL or VSOCK */
  guint32           vsock_cid;
  VcVmEventFunc     event_func;
  gpointer          event_data;

  char *qmp_path, *agent_path, *console_file, *pid_file, *log_file;
  char *agent_open_file;      /* exists while the guest has the agent port open */

  GPtrArray *devices;         /* QemuDevice */
  gboolean   shared_memory;   /* a vhost-user device needs memfd share=on */
  guint      dimms;           /* pc-dimms hotplugged so far */
  guint64    plugged_mib;     /* memory added by them */

  /* The process. */
  GPid       pid;             /* 0 before start_vm */
  guint64    start_time;      /* /proc/<pid>/stat field 22, against pid reuse */
  gboolean   is_child;        /* we spawned it and may reap it */
  int        pidfd;           /* -1 when the kernel has no pidfd_open */
  QmpClient *qmp;

  GThread   *monitor;
  int        monitor_wake[2];

  GMutex     lock;            /* guards the fields below */
  GCond      cond;
  gboolean   agent_open;
  gboolean   exited;          /* the process is gone, files cleaned, STOPPED sent */
  char      *exit_reason;
  char      *shutdown_reason; /* from the SHUTDOWN event, if one came */

  /* templates (qemu-template.c) */
  VcVmTemplateMode template_mode;
  char      *template_dir;
  GPtrArray *deferred;        /* VcDevice: RESTORE hot-plugs them once the guest runs */
};

/* qemu-kernel.c */
gboolean   qemu_kernel_has_pvh      (const char *path);
char      *qemu_kernel_pick         (VcPluginInstance *self, const char *kernel, GError **error);

/* qemu-vm.c: the handle and its devices */
VcVm      *qemu_vm_new              (VcPluginInstance *self, const VcVmConfig *config, GError **error);
void       qemu_device_free         (QemuDevice *dev);
QemuDevice *qemu_vm_find_device     (VcVm *vm, const char *device_id);
/* q35: the first pcie-root-port without a device, or -1. */
int         qemu_vm_free_port       (VcVm *vm);

/* qemu-cmdline.c */
char      *qemu_escape_option       (const char *value);
gboolean   qemu_device_validate     (VcVm *vm, const VcDevice *device, GError **error);
JsonObject *qemu_blockdev_args      (QemuDevice *dev);
JsonObject *qemu_device_args        (VcVm *vm, QemuDevice *dev);
GPtrArray *qemu_cmdline_build       (VcVm *vm, GError **error);
/* QEMU's own seccomp filter (-sandbox), on unless seccomp_sandbox = false;
 * qemu_confinement() says which is in force, for `vcrun check`. */
#define QEMU_SANDBOX_OPTIONS "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"
const char *qemu_confinement        (const VcPluginInstance *plugin);

/* qemu-process.c */
gboolean   qemu_process_spawn       (VcVm *vm, char **argv, GError **error);
int        qemu_pidfd_open          (GPid pid);
gboolean   qemu_pidfd_signal        (VcVm *vm, int signo);
guint64    qemu_process_start_time  (GPid pid);
gboolean   qemu_process_alive       (VcVm *vm);
char      *qemu_process_reap        (VcVm *vm);
char      *qemu_read_log_tail       (const char *path, gsize max);
char      *qemu_agent_open_file     (const char *agent_path);
void       qemu_remove_runtime_files (VcVm *vm);
void       qemu_remove_log_files    (VcVm *vm);

/* qemu-vm.c: VcHypervisorOps methods */
gboolean   qemu_add_device          (VcVm *vm, const VcDevice *device, VcGuestDevice *guest_out,
                                     GError **error);
gboolean   qemu_start_vm            (VcVm *vm, guint timeout_ms, GError **error);
gboolean   qemu_stop_vm             (VcVm *vm, guint graceful_timeout_ms, GError **error);
gboolean   qemu_pause_vm            (VcVm *vm, GError **error);
gboolean   qemu_resume_vm           (VcVm *vm, GError **error);
VcVmStatus qemu_get_status          (VcVm *vm, GError **error);
char      *qemu_console_path        (VcVm *vm);
GArray    *qemu_get_pids            (VcVm *vm, GError **error);
GArray    *qemu_get_vcpu_tids       (VcVm *vm, GError **error);
gboolean   qemu_get_agent_endpoint  (VcVm *vm, VcAgentEndpoint *out, GError **error);
gboolean   qemu_wait_agent_channel  (VcVm *vm, guint timeout_ms, GError **error);
void       qemu_free_vm             (VcVm *vm);
/* qemu-vm.c: helpers */
gboolean   qemu_vm_connect_qmp      (VcVm *vm, guint timeout_ms, GError **error);
void       qemu_vm_start_monitor    (VcVm *vm);
void       qemu_vm_emit             (VcVm *vm, VcVmEvent event, const char *detail);
gboolean   qemu_vm_wait_exit        (VcVm *vm, guint timeout_ms);
gboolean   qemu_vm_require_running  (VcVm *vm, GError **error);

/* qemu-hotplug.c */
gboolean   qemu_hotplug_add         (VcVm *vm, const VcDevice *device, VcGuestDevice *guest_out,
                                     GError **error);
gboolean   qemu_hotplug_remove      (VcVm *vm, const char *device_id, guint timeout_ms,
                                     GError **error);
gboolean   qemu_resize_vcpus        (VcVm *vm, guint vcpus, guint *actual, GError **error);
gboolean   qemu_resize_memory       (VcVm *vm, guint64 memory_mib, guint64 *actual_mib,
                                     GError **error);
void       qemu_fill_guest_device   (VcVm *vm, QemuDevice *dev, VcGuestDevice *out);

/* qemu-template.c */
gboolean   qemu_template_configure  (VcVm *vm, const VcVmConfig *config, GError **error);
gboolean   qemu_template_add_device (VcVm *vm, const VcDevice *device, VcDevice **replacement,
                                     GError **error);
void       qemu_template_args       (VcVm *vm, GPtrArray *argv);
gboolean   qemu_template_check_files (VcVm *vm, GError **error);
gboolean   qemu_template_restore    (VcVm *vm, gint64 deadline, GError **error);
gboolean   qemu_template_finish     (VcVm *vm, GError **error);
gboolean   qemu_save_template       (VcVm *vm, guint timeout_ms, GError **error);
char      *qemu_template_identity   (VcPluginInstance *self, GError **error);

/* qemu-net.c: VC_DEVICE_NET, a virtio-net NIC on a tap fd (QEMU_NET_FIRST_FD + n in QEMU) */
#define QEMU_NET_FIRST_FD 3
gboolean   qemu_net_validate        (VcVm *vm, const VcDevice *device, GError **error);
gboolean   qemu_net_copy            (VcDevice *dst, const VcDevice *src, GError **error);
char      *qemu_net_netdev_arg      (VcVm *vm, QemuDevice *dev);
void       qemu_net_device_args     (VcVm *vm, QemuDevice *dev, JsonObject *args);
void       qemu_net_spawn_fds       (VcVm *vm, GArray *source_fds, GArray *target_fds);
void       qemu_net_close_fds       (VcVm *vm);

/* qemu-state.c */
char      *qemu_save_state          (VcVm *vm, GError **error);
VcVm      *qemu_attach_vm           (VcPluginInstance *self, const VcVmConfig *config,
                                     const char *saved_state, GError **error);

G_END_DECLS
