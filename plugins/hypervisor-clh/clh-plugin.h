/* hypervisor-clh: declarations shared by the plugin's files (not installed).
 *
 * Cloud Hypervisor is driven through its REST API on a Unix socket
 * (clh-api.c, libcurl); the VM's configuration is the API's VmConfig
 * (clh-config.c); the process is watched through a pidfd (clh-process.c). */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <vcrun/hypervisor.h>

G_BEGIN_DECLS

#define CLH_AGENT_VSOCK_PORT  1024
#define CLH_ERROR_TEXT_MAX    512          /* CLH's own error text kept in a GError */
#define CLH_REPLY_MAX         (1024 * 1024) /* the largest answer body read */
#define CLH_FS_QUEUE_SIZE     1024
#define CLH_DISK_ID_PREFIX    "vc-"
#define CLH_HTTP_HEAD_MAX     8192          /* the header of an answer read by hand */
#define CLH_NET_FDS_MAX       16            /* tap fds in one vm.add-net */

struct VcPluginInstance {
  char    *clh_path;
  guint    api_timeout_ms;  /* one ordinary API request */
  char    *kernel_params;   /* the "kernel_params" setting, may be NULL */
  gboolean seccomp;
};

/* A device the VM has, cold- or hot-plugged. */
typedef struct {
  VcDevice *device;       /* our own deep copy */
  char     *clh_id;       /* the id CLH knows it by ("vc-<id>") */
  char     *bdf;          /* hotplugged: the PCI address CLH answered, else NULL */
  gboolean  hotplugged;
  gboolean  net_added;    /* NET: vm.add-net done (CLH holds the tap) */
} ClhDevice;

struct VcVm {
  VcPluginInstance *plugin;
  char             *sandbox_id;
  char             *state_dir;
  guint             vcpus, max_vcpus;
  guint64           memory_mib, max_memory_mib;
  char             *kernel, *initrd, *kernel_params;
  guint32           vsock_cid;
  VcVmEventFunc     event_func;
  gpointer          event_data;

  char *api_path, *vsock_path, *console_file, *log_file;

  GPtrArray *devices;         /* ClhDevice */
  gboolean   shared_memory;   /* virtio-fs needs memory.shared */

  /* The process. */
  GPid       pid;             /* 0 before start_vm */
  guint64    start_time;      /* /proc/<pid>/stat field 22, against pid reuse */
  gboolean   is_child;        /* we spawned it and may reap it */
  int        pidfd;           /* -1 when the kernel has no pidfd_open */

  GThread   *monitor;
  int        monitor_wake[2];

  GMutex     lock;            /* guards the fields below */
  GCond      cond;
  gboolean   exited;          /* the process is gone, files cleaned, STOPPED sent */
  char      *exit_reason;
  guint      cur_vcpus;       /* after resizes */
  guint64    cur_memory_mib;
};

/* clh-api.c: one request to the API socket. body may be NULL; *reply (may be
 * NULL) receives the parsed JSON answer, or NULL for an empty one. A non-2xx
 * status becomes an error carrying CLH's own text (bounded). */
gboolean   clh_api_request          (const char *socket_path, guint timeout_ms, const char *method,
                                     const char *endpoint, JsonNode *body, JsonNode **reply,
                                     GError **error);
void       clh_api_global_init      (void);

/* clh-api-fds.c: the same request with fds passed by SCM_RIGHTS alongside it
 * (vm.add-net's taps): libcurl cannot, so one bounded request by hand. */
gboolean   clh_api_request_fds      (const char *socket_path, guint timeout_ms, const char *method,
                                     const char *endpoint, JsonNode *body, const int *fds,
                                     guint n_fds, JsonNode **reply, GError **error);

/* clh-reply.c: decoders of CLH's answers (no I/O; fuzzed by fuzz-clh-api). */
typedef enum { CLH_HTTP_ERROR = -1, CLH_HTTP_MORE = 0, CLH_HTTP_DONE = 1 } ClhHttpParse;
typedef struct {
  int   status;
  gsize body_offset, body_len;
} ClhHttpResponse;
/* Frames the answer in data[0..len): DONE fills *out, MORE wants more bytes
 * (eof: no more will come), ERROR sets error. */
ClhHttpParse clh_http_parse         (const char *data, gsize len, gboolean eof,
                                     ClhHttpResponse *out, GError **error);
char      *clh_reply_error_text     (const char *body, gsize len);
/* A non-2xx status is an error with CLH's text; a 2xx body is JSON. */
gboolean   clh_reply_decode         (const char *method, const char *endpoint, long status,
                                     const char *body, gsize len, JsonNode **reply,
                                     GError **error);
char      *clh_reply_ping_version   (JsonNode *reply, GError **error);
char      *clh_reply_vm_state       (JsonNode *reply, GError **error);
char      *clh_reply_pci_bdf        (JsonNode *reply, const char *endpoint, GError **error);

/* clh-net.c: NICs on tap fds, added by vm.add-net between vm.create and vm.boot. */
gboolean   clh_net_validate         (const VcDevice *device, GError **error);
gboolean   clh_net_copy             (ClhDevice *dev, const VcDevice *src, GError **error);
gboolean   clh_net_add_all          (VcVm *vm, guint timeout_ms, GError **error);
void       clh_net_close_fds        (VcVm *vm);

/* clh-kernel.c: Cloud Hypervisor boots an ELF vmlinux through its PVH entry. */
char      *clh_kernel_pick          (const char *kernel, GError **error);

/* clh-process.c */
gboolean   clh_process_spawn        (VcVm *vm, char **argv, GError **error);
int        clh_pidfd_open           (GPid pid);
gboolean   clh_pidfd_signal         (VcVm *vm, int signo);
guint64    clh_process_start_time   (GPid pid);
gboolean   clh_process_alive        (VcVm *vm);
gboolean   clh_process_wait         (VcVm *vm, guint timeout_ms);
char      *clh_process_reap         (VcVm *vm);
void       clh_process_kill_and_reap (VcVm *vm);
char      *clh_read_log_tail        (const char *path, gsize max);
void       clh_remove_runtime_files (VcVm *vm);
void       clh_remove_log_files     (VcVm *vm);
GArray    *clh_find_vcpu_threads    (GPid pid, GError **error);

/* clh-config.c: the API's bodies */
char      *clh_kernel_cmdline       (VcVm *vm);
JsonNode  *clh_vm_config            (VcVm *vm);
JsonNode  *clh_disk_config          (ClhDevice *dev);
gboolean   clh_device_validate      (VcVm *vm, const VcDevice *device, GError **error);

/* clh-vm.c */
VcVm      *clh_vm_new               (VcPluginInstance *self, const VcVmConfig *config, GError **error);
void       clh_device_free          (ClhDevice *dev);
ClhDevice *clh_device_new           (const VcDevice *device);
ClhDevice *clh_vm_find_device       (VcVm *vm, const char *device_id);
void       clh_fill_guest_device    (VcVm *vm, ClhDevice *dev, VcGuestDevice *out);
gboolean   clh_vm_api               (VcVm *vm, const char *method, const char *endpoint,
                                     JsonNode *body, JsonNode **reply, GError **error);
gboolean   clh_vm_require_running   (VcVm *vm, GError **error);
void       clh_vm_start_monitor     (VcVm *vm);
gboolean   clh_add_device           (VcVm *vm, const VcDevice *device, VcGuestDevice *guest_out,
                                     GError **error);
gboolean   clh_start_vm             (VcVm *vm, guint timeout_ms, GError **error);
gboolean   clh_stop_vm              (VcVm *vm, guint graceful_timeout_ms, GError **error);
gboolean   clh_pause_vm             (VcVm *vm, GError **error);
gboolean   clh_resume_vm            (VcVm *vm, GError **error);
VcVmStatus clh_get_status           (VcVm *vm, GError **error);
char      *clh_console_path         (VcVm *vm);
GArray    *clh_get_pids             (VcVm *vm, GError **error);
GArray    *clh_get_vcpu_tids        (VcVm *vm, GError **error);
gboolean   clh_get_agent_endpoint   (VcVm *vm, VcAgentEndpoint *out, GError **error);
gboolean   clh_wait_agent_channel   (VcVm *vm, guint timeout_ms, GError **error);
void       clh_free_vm              (VcVm *vm);

/* clh-hotplug.c */
gboolean   clh_hotplug_add          (VcVm *vm, const VcDevice *device, VcGuestDevice *guest_out,
                                     GError **error);
gboolean   clh_hotplug_remove       (VcVm *vm, const char *device_id, guint timeout_ms,
                                     GError **error);
gboolean   clh_resize_vcpus         (VcVm *vm, guint vcpus, guint *actual, GError **error);
gboolean   clh_resize_memory        (VcVm *vm, guint64 memory_mib, guint64 *actual_mib,
                                     GError **error);

/* clh-state.c */
char      *clh_save_state           (VcVm *vm, GError **error);
VcVm      *clh_attach_vm            (VcPluginInstance *self, const VcVmConfig *config,
                                     const char *saved_state, GError **error);

G_END_DECLS
