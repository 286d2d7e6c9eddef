/* vcrun plugin ABI — the agent kind.
 *
 * An agent plugin talks to the agent inside the guest over the endpoint the
 * hypervisor offers. It is modelled on Kata's agent interface; each method
 * maps onto one RPC of Kata's grpc.AgentService (agent.proto):
 *
 *   create_sandbox   -> CreateSandbox
 *   destroy_sandbox  -> DestroySandbox          create_container -> CreateContainer
 *   start_container  -> StartContainer          remove_container -> RemoveContainer
 *   exec_process     -> ExecProcess             signal_process -> SignalProcess
 *   wait_process     -> WaitProcess             write_stdin    -> WriteStdin
 *   close_stdin      -> CloseStdin              read_stdout/err -> ReadStdout/ReadStderr
 *   tty_win_resize   -> TtyWinResize            pause/resume_container -> Pause/ResumeContainer
 *   update_container -> UpdateContainer         stats_container -> StatsContainer
 *   guest_details    -> GetGuestDetails         set_guest_time -> SetGuestDateTime
 *   online_cpu_mem   -> OnlineCPUMem            copy_file      -> CopyFile
 *   get_oom_event    -> GetOOMEvent
 *   check            -> grpc.Health/Check       agent_version  -> grpc.Health/Version
 *
 * The guest is untrusted: a plugin bounds what it reads, checks every reply
 * and turns a bad or missing one into an error for that call.
 *
 * Process identity: a container's init process has exec_id == container_id;
 * exec'd processes have their own exec_id.
 */
#pragma once

#include <vcrun/plugin.h>

G_BEGIN_DECLS

#define VC_AGENT_OPS_VERSION 1

typedef struct {
  gsize              struct_size;
  const char        *sandbox_id;
  const char        *hostname;
  VcStorage *const  *storages;      /* NULL-terminated: sandbox-wide mounts (the shared dir) */
  const char *const *dns;           /* NULL-terminated resolv.conf lines, may be NULL */
  gboolean           sandbox_pidns; /* one pid namespace for all containers */
} VcAgentSandboxConfig;

/* An OCI mount that an fs-sharer made visible in the guest. */
typedef struct {
  gsize       struct_size;
  const char *destination;   /* the OCI mount's destination in the container */
  const char *guest_source;  /* where the shared source is in the guest */
  gboolean    readonly;
} VcAgentMount;

typedef struct {
  gsize                      struct_size;
  const char                *container_id;
  const char                *oci_spec_json;  /* the bundle's config.json, validated */
  const char                *guest_rootfs;   /* the rootfs path in the guest */
  VcStorage *const          *storages;       /* NULL-terminated: to mount before the container */
  const VcAgentMount *const *mounts;         /* NULL-terminated: OCI mounts to rewrite */
  const VcGuestDevice *const *devices;       /* NULL-terminated */
  const char *const         *device_container_paths; /* parallel to devices */
} VcContainerConfig;

typedef struct {
  gsize    struct_size;
  guint64  cpu_usage_ns;
  guint64  memory_usage_bytes;
  guint64  memory_limit_bytes;   /* 0: no limit */
  guint64  pids_current;
  /* devices and resources (ABI 1.2): block I/O and network totals */
  guint64  blkio_read_bytes;
  guint64  blkio_write_bytes;
  guint64  net_rx_bytes;
  guint64  net_tx_bytes;
} VcContainerStats;

typedef struct {
  gsize    struct_size;
  char    *agent_version;
  guint64  mem_block_size_bytes;
  gboolean supports_mem_hotplug_probe;
  gboolean supports_seccomp;
} VcGuestDetails;

static inline void
vc_guest_details_clear (VcGuestDetails *d)
{
  g_clear_pointer (&d->agent_version, g_free);
}

struct VcAgentOps {
  guint32 version;   /* VC_AGENT_OPS_VERSION */
  gsize   size;      /* sizeof (VcAgentOps) */

  /* Dials the endpoint, retrying until timeout_ms (dial_timeout_ms when 0). */
  VcAgentConn *(*connect)        (VcPluginInstance *self, const VcAgentEndpoint *endpoint,
                                  guint timeout_ms, GError **error);
  void         (*disconnect)     (VcAgentConn *conn);
  gboolean     (*check)          (VcAgentConn *conn, GError **error);
  char        *(*agent_version)  (VcAgentConn *conn, GError **error);

  gboolean (*create_sandbox)   (VcAgentConn *conn, const VcAgentSandboxConfig *config, GError **error);
  gboolean (*destroy_sandbox)  (VcAgentConn *conn, GError **error);

  gboolean (*create_container) (VcAgentConn *conn, const VcContainerConfig *config, GError **error);
  gboolean (*start_container)  (VcAgentConn *conn, const char *container_id, GError **error);
  gboolean (*remove_container) (VcAgentConn *conn, const char *container_id, guint timeout_ms, GError **error);
  gboolean (*pause_container)  (VcAgentConn *conn, const char *container_id, GError **error);
  gboolean (*resume_container) (VcAgentConn *conn, const char *container_id, GError **error);
  /* resources_json: an OCI LinuxResources object. */
  gboolean (*update_container) (VcAgentConn *conn, const char *container_id,
                                const char *resources_json, GError **error);
  gboolean (*stats_container)  (VcAgentConn *conn, const char *container_id,
                                VcContainerStats *out, GError **error);

  /* process_json: an OCI Process object. */
  gboolean (*exec_process)     (VcAgentConn *conn, const char *container_id, const char *exec_id,
                                const char *process_json, GError **error);
  gboolean (*signal_process)   (VcAgentConn *conn, const char *container_id, const char *exec_id,
                                int signum, gboolean all, GError **error);
  /* Blocks until the process exits. exit_status: 0..255, or 128+N after signal N. */
  gboolean (*wait_process)     (VcAgentConn *conn, const char *container_id, const char *exec_id,
                                int *exit_status, GError **error);

  gboolean (*write_stdin)      (VcAgentConn *conn, const char *container_id, const char *exec_id,
                                const guint8 *data, gsize len, gsize *written, GError **error);
  gboolean (*close_stdin)      (VcAgentConn *conn, const char *container_id, const char *exec_id,
                                GError **error);
  /* Block until data is available; an empty GBytes means end of file. */
  GBytes  *(*read_stdout)      (VcAgentConn *conn, const char *container_id, const char *exec_id,
                                gsize max_len, GError **error);
  GBytes  *(*read_stderr)      (VcAgentConn *conn, const char *container_id, const char *exec_id,
                                gsize max_len, GError **error);
  gboolean (*tty_win_resize)   (VcAgentConn *conn, const char *container_id, const char *exec_id,
                                guint rows, guint columns, GError **error);

  gboolean (*guest_details)    (VcAgentConn *conn, VcGuestDetails *out, GError **error);
  gboolean (*set_guest_time)   (VcAgentConn *conn, gint64 sec, gint64 usec, GError **error);
  gboolean (*online_cpu_mem)   (VcAgentConn *conn, guint nb_cpus, gboolean cpu_only, GError **error);
  gboolean (*copy_file)        (VcAgentConn *conn, const char *guest_path, GBytes *data,
                                guint32 file_mode, GError **error);
  /* Blocks until a container is OOM-killed; returns its id. */
  char    *(*get_oom_event)    (VcAgentConn *conn, GError **error);
};

G_END_DECLS
