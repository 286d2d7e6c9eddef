/* hypervisor-libvirt: declarations shared by the plugin's files (not installed).
 *
 * File map:
 *   libvirt-plugin.c   descriptor, settings, instance, check, domain type choice
 *   libvirt-conn.c     the connection: event loop thread, reconnects, lifecycle
 *                      events dispatched to VMs, error wording
 *   libvirt-probe.c    does a kvm domain run a vCPU here?
 *   libvirt-xml.c      domain and device XML (xmlTextWriter), live XML queries
 *   libvirt-devices.c  devices: validation, aliases, PCI slots, cold plug
 *   libvirt-vm.c       a VM's life: create, start, stop, pause, status, agent channel
 *   libvirt-procs.c    QEMU's and virtiofsd's pids; QEMU's end through a pidfd
 *   libvirt-hotplug.c  disk hotplug, vCPU and memory resize
 *   libvirt-state.c    save_state / attach_vm
 */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>
#include <vcrun/hypervisor.h>

G_BEGIN_DECLS

#define LV_AGENT_PORT_NAME   "agent.channel.0"
#define LV_DOMAIN_PREFIX     "vcrun-"
#define LV_METADATA_NS       "https://vcrun.org/xmlns/libvirt/1"
#define LV_METADATA_PREFIX   "vcrun"
#define LV_HOTPLUG_PORTS     4      /* spare pcie-root-ports for hotplug */
#define LV_HOTPLUG_PORT_SLOT 0x10   /* the first spare root port's slot on pcie.0 */
#define LV_SERIAL_SLOT       0x02   /* the virtio-serial controller, on pcie.0 */
#define LV_FIRST_COLD_SLOT   0x03   /* cold-plugged devices: integrated on pcie.0 */
#define LV_LAST_COLD_SLOT    0x0f
#define LV_MEMORY_SLOTS      8

struct VcPluginInstance {
  char     *uri;
  char     *domain_type_setting;  /* "auto", "kvm" or "qemu" */
  char     *machine;
  char     *virtiofsd;
  char     *kernel_params;

  GOnce     type_once;            /* the domain type, decided at the first VM */
  char     *domain_type;
  char     *type_why;             /* why not kvm */

  /* The connection, shared by all VMs (libvirt-conn.c). */
  GMutex         conn_lock;
  GCond          conn_cond;
  virConnectPtr  conn;            /* NULL while disconnected */
  int            lifecycle_id;    /* event callback id on conn, -1 */
  GHashTable    *vms;             /* UUID string -> VcVm (borrowed) */
  GThread       *watch_thread;    /* reconnects while VMs are registered */
  gint           conn_lost;       /* the close callback ran (atomic) */
};

typedef struct {
  VcDevice *device;     /* our own deep copy */
  char     *alias;      /* "ua-vcN": the libvirt user alias */
  char     *target;     /* BLOCK: "vdb", ... */
  guint     slot;       /* BLOCK: slot on pcie.0 (cold) or of its root port (hot) */
  int       port;       /* hotplugged on spare root port n, or -1 */
} LvDevice;

struct VcVm {
  VcPluginInstance *plugin;
  char             *sandbox_id;
  char             *state_dir;
  char             *name;           /* vcrun-<id> */
  char             *uuid;           /* after start or attach */
  char             *domain_type;
  guint             vcpus, max_vcpus;
  guint64           memory_mib, max_memory_mib;
  guint64           plugged_mib;
  guint             dimms;
  char             *kernel, *initrd, *kernel_params;
  char             *agent_path, *console_file;
  VcVmEventFunc     event_func;
  gpointer          event_data;
  GPtrArray        *devices;        /* LvDevice */
  gboolean          shared_memory;  /* a virtiofs device needs it */
  guint             next_alias;

  gboolean          started;        /* the domain was created by or attached to us */
  gboolean          registered;     /* in plugin->vms */
  GThread          *watcher;        /* QEMU's pidfd, for a local libvirtd */
  int               watch_wake[2];

  GMutex            lock;           /* guards the fields below */
  GCond             cond;
  gboolean          exited;         /* the domain is gone; STOPPED sent */
  char             *exit_reason;
  gboolean          agent_open;
  guint             dispatching;    /* event callbacks running on this VM */
};

/* libvirt-plugin.c */
const char    *lv_plugin_domain_type  (VcPluginInstance *self);
/* Whether the URI names a libvirtd on this host (no host part). */
gboolean       lv_uri_is_local         (const char *uri);

/* libvirt-conn.c */
void           lv_conn_init            (VcPluginInstance *self);
void           lv_conn_shutdown        (VcPluginInstance *self);
virConnectPtr  lv_conn_get             (VcPluginInstance *self, GError **error);
void           lv_set_error            (GError **error, VcPluginInstance *self, const char *what);
gboolean       lv_last_error_is        (int code);
void           lv_conn_register_vm     (VcPluginInstance *self, VcVm *vm);
void           lv_conn_unregister_vm   (VcPluginInstance *self, VcVm *vm);
virDomainPtr   lv_vm_domain            (VcVm *vm, GError **error);
void           lv_vm_mark_exited       (VcVm *vm, const char *reason);
void           lv_vm_emit              (VcVm *vm, VcVmEvent event, const char *detail);

/* libvirt-probe.c */
gboolean       lv_kvm_probe            (VcPluginInstance *self, virConnectPtr conn, char **why);

/* libvirt-xml.c */
char          *lv_domain_xml           (VcVm *vm, GError **error);
char          *lv_device_xml           (VcVm *vm, LvDevice *dev, GError **error);
char          *lv_memory_dimm_xml      (guint64 size_mib);
char          *lv_kernel_cmdline       (VcVm *vm);
/* Live XML queries: NULL/FALSE when absent. */
char          *lv_xml_channel_state    (const char *xml, const char *name);
gboolean       lv_xml_has_alias        (const char *xml, const char *alias);
char          *lv_xml_sandbox_id       (const char *xml);
char          *lv_xml_sandbox_state_dir (const char *xml);
guint          lv_xml_count_dimms      (const char *xml);
char          *lv_probe_xml            (const char *name, const char *domain_type, const char *machine,
                                        const char *firmware, GError **error);

/* libvirt-devices.c */
void           lv_device_free          (LvDevice *dev);
LvDevice      *lv_vm_find_device       (VcVm *vm, const char *device_id);
/* The first spare pcie-root-port without a disk, or -1. */
int            lv_vm_free_port         (VcVm *vm);
LvDevice      *lv_device_entry_new     (VcVm *vm, const VcDevice *device);
gboolean       lv_device_validate      (VcVm *vm, const VcDevice *device, GError **error);
void           lv_fill_guest_device    (LvDevice *dev, VcGuestDevice *out);
gboolean       lv_add_device           (VcVm *vm, const VcDevice *device, VcGuestDevice *guest_out,
                                        GError **error);

/* libvirt-vm.c */
VcVm          *lv_vm_new               (VcPluginInstance *self, const VcVmConfig *config, GError **error);
gboolean       lv_vm_require_running   (VcVm *vm, GError **error);
gboolean       lv_vm_wait_exit         (VcVm *vm, guint timeout_ms);
void           lv_remove_runtime_files (VcVm *vm);
gboolean       lv_start_vm             (VcVm *vm, guint timeout_ms, GError **error);
gboolean       lv_stop_vm              (VcVm *vm, guint graceful_timeout_ms, GError **error);
gboolean       lv_pause_vm             (VcVm *vm, GError **error);
gboolean       lv_resume_vm            (VcVm *vm, GError **error);
VcVmStatus     lv_get_status           (VcVm *vm, GError **error);
char          *lv_console_path         (VcVm *vm);
gboolean       lv_get_agent_endpoint   (VcVm *vm, VcAgentEndpoint *out, GError **error);
gboolean       lv_wait_agent_channel   (VcVm *vm, guint timeout_ms, GError **error);
void           lv_free_vm              (VcVm *vm);

/* libvirt-procs.c */
void           lv_vm_start_watch       (VcVm *vm);
void           lv_vm_stop_watch        (VcVm *vm);
GArray        *lv_get_pids             (VcVm *vm, GError **error);

/* libvirt-hotplug.c */
gboolean       lv_hotplug_add          (VcVm *vm, const VcDevice *device, VcGuestDevice *guest_out,
                                        GError **error);
gboolean       lv_hotplug_remove       (VcVm *vm, const char *device_id, guint timeout_ms,
                                        GError **error);
gboolean       lv_resize_vcpus         (VcVm *vm, guint vcpus, guint *actual, GError **error);
gboolean       lv_resize_memory        (VcVm *vm, guint64 memory_mib, guint64 *actual_mib,
                                        GError **error);

/* libvirt-state.c */
char          *lv_save_state           (VcVm *vm, GError **error);
VcVm          *lv_attach_vm            (VcPluginInstance *self, const VcVmConfig *config,
                                        const char *saved_state, GError **error);

G_END_DECLS
