/* vcrun-agent: the guest agent. Shared declarations.
 *
 * The agent is PID 1 of the guest. It serves the Kata agent protocol (ttRPC,
 * see proto/ttrpc.h) on the virtio-serial port agent.channel.0 and on vsock
 * port 1024, and runs containers in namespaces pivoted into their rootfs.
 * Plain C with pthreads, no GLib: it is linked statically into the initramfs.
 * Every fd it opens is O_CLOEXEC so that container processes cannot reach the
 * agent's connections.
 */
#pragma once

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "kata-agent.h"

#define AGENT_VERSION PACKAGE_VERSION

/* ---- errors (util.c) ------------------------------------------------------ */

/* An error to answer with: a google.rpc code and a message. */
typedef struct {
  int code;             /* VcTtrpcCode; 0 = no error */
  char message[512];
} AgentError;

/* Sets *err (if not NULL and not already set) and returns false. */
bool agent_error (AgentError *err, int code, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));
/* Same, with ": strerror(errno_value)" appended. */
bool agent_error_errno (AgentError *err, int code, int errno_value, const char *fmt, ...)
  __attribute__ ((format (printf, 4, 5)));

/* ---- logging (log.c) ------------------------------------------------------ */

void agent_log_open (void);
void agent_log (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));
/* Debug lines are printed only when the kernel command line has
 * vcrun.debug (or VCRUN_AGENT_DEBUG is set). */
void agent_debug (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));
extern bool agent_debug_enabled;

/* ---- small helpers (util.c) ----------------------------------------------- */

bool write_file (const char *path, const char *data, AgentError *err);
bool write_file_fmt (AgentError *err, const char *path, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));
/* Reads at most max-1 bytes of a (small, e.g. sysfs) file, NUL-terminated.
 * Returns the length or -1 with errno set. */
ssize_t read_small_file (const char *path, char *buf, size_t max);
/* mkdir -p with the given mode for created directories. */
bool mkdir_p (const char *path, mode_t mode, AgentError *err);
bool write_full (int fd, const void *buf, size_t len);
/* Checks that id is a safe container/exec id (no '/', not "." or ".."). */
bool valid_id (const char *id, const char *what, AgentError *err);
char *xstrdup (const char *s);
void *xcalloc (size_t n, size_t size);
int64_t monotonic_ms (void);
/* For code running in a child before exec: formats into msg, returns false. */
bool msg_fail (char *msg, size_t len, int errno_value, const char *fmt, ...)
  __attribute__ ((format (printf, 4, 5)));

/* ---- early system setup (init.c, modules.c) ------------------------------- */

/* Mounts /proc, /sys, /dev, /dev/pts, /dev/shm, /sys/fs/cgroup, /tmp, /run. */
void init_mount_system (void);
/* Makes sure fds 0, 1, 2 are open (on the console or /dev/null). */
void init_standard_fds (void);
/* Reads the image's modules (/etc/vcrun-modules, else modules.dep) and loads
 * those the agent channel needs at once, then in a background thread those
 * that the VM's virtio devices need. The others wait for modules_require. */
void modules_load_all (void);
/* Not init (tests): nothing to load. */
void modules_none (void);
/* Loads module name ("9p") and its dependencies unless done, or waits for
 * the load under way; a name the image does not have is a no-op. */
void modules_require (const char *name);
/* Loads every module of the image not loaded yet. */
void modules_require_all (void);
/* Whether the VM has a virtio device of this VIRTIO_ID_*. */
bool modules_virtio_device_present (unsigned id);
/* Loads one module by name (and what it depends on). */
bool modules_load (const char *name, char *const params[], size_t n_params, AgentError *err);

/* ---- children (reaper.c) -------------------------------------------------- */

typedef struct Child Child;

/* Starts the thread that reaps every child (the agent is init). Call after
 * blocking SIGCHLD in all threads (main does it first thing). */
void reaper_start (void);
/* Registers a pid whose exit someone wants; catches an exit that the reaper
 * saw before the registration. */
Child *child_register (pid_t pid);
/* Waits for the exit; returns the raw wait status. timeout_ms -1 = for ever;
 * returns false on timeout. */
bool child_wait (Child *child, int timeout_ms, int *status);
bool child_exited (Child *child);
/* Forgets a registration (after child_wait, or when nobody will wait). */
void child_release (Child *child);
/* Exit status as Kata reports it: the exit code, or 128 + signal. */
int wait_status_to_exit_code (int status);
/* Runs argv (absolute path) and waits for it; returns its exit code or -1. */
int run_command (char *const argv[]);
/* Signal state for a fresh child: default dispositions, nothing blocked. */
void child_reset_signals (void);

/* ---- output buffering (stream.c) ------------------------------------------ */

/* Output of a process pipe or pty, buffered in the agent with a bound: when
 * the buffer is full the pump stops reading, so the writer blocks. */
typedef struct OutStream OutStream;

/* The size the agent gives its output and stdin pipes (F_SETPIPE_SZ). */
#define OUT_STREAM_PIPE_SIZE (1024 * 1024)

/* Sends len bytes given as iovcnt (0..2) pieces of the buffer; false if they
 * could not be sent (they then stay buffered). */
typedef bool (*OutStreamSendFunc) (const struct iovec *iov, int iovcnt, size_t len, void *data);

OutStream *out_stream_new (int fd, bool is_pty);
/* Waits up to timeout_ms for data or end of file, then passes up to max
 * buffered bytes to send() without copying them, and drops them once sent.
 * One caller sends at a time, in order. Returns 1 when send() succeeded
 * (*sent = 0 means end of file: send() got no bytes), 0 on timeout (nothing
 * sent: the caller checks whether its connection is still there), -1 when
 * send() failed. */
int out_stream_send (OutStream *s, size_t max, int timeout_ms, OutStreamSendFunc send, void *data,
                     size_t *sent);
/* A reader takes a reference while it waits, so the stream outlives it. */
OutStream *out_stream_ref (OutStream *s);
void out_stream_unref (OutStream *s);
/* The host no longer reads: buffered output is dropped, the pipe closed (the
 * writer gets EPIPE or SIGPIPE), readers get end of file. */
void out_stream_shut (OutStream *s);
/* The owner's release: waiting readers get EOF; freed with the last ref. */
void out_stream_close (OutStream *s);

typedef struct Conn Conn;

/* One request being handled, passed to the method handlers. */
typedef struct {
  Conn *conn;
  uint32_t stream_id;
  bool replied;
} RpcCall;

/* ---- containers and processes (container.c, process.c) ------------------- */

typedef enum {
  CONTAINER_CREATED,
  CONTAINER_RUNNING,
  CONTAINER_PAUSED,
  CONTAINER_STOPPED,
} ContainerState;

typedef struct Container Container;

typedef struct Process {
  struct Process *next;
  Container *container;  /* NULL once the container is freed */
  char *exec_id;
  pid_t pid;
  Child *child;
  bool is_init;
  bool terminal;
  int stdin_fd;          /* write end of stdin, or the pty master; -1 once closed */
  int pty_master;        /* the pty master (read by `out`, which owns it), or -1 */
  pthread_mutex_t stdin_lock;
  OutStream *out;
  OutStream *err;        /* NULL with a terminal */
  int start_fd;          /* init only: write a byte to let it exec; -1 after */
  int sync_fd;           /* read end of the child's error pipe; -1 after */
  bool waited;           /* WaitProcess answered for an exec process */
  bool out_done;         /* stdout's end of file was read, or the host shut it */
  bool err_done;         /* the same for stderr (a terminal has none) */
  int64_t exec_ms;       /* monotonic_ms () when the exec was seen; 0 before */
  int refs;              /* container list + requests in flight; agent_lock */
} Process;

struct Container {
  struct Container *next;
  char *id;
  ContainerState state;
  Grpc__Spec *spec;                 /* owned, unpacked copy */
  char *rootfs;                     /* guest path of the rootfs */
  char *cgroup;                     /* /sys/fs/cgroup/vcrun/<id> */
  char **mounts;                    /* storages this container mounted, in order */
  size_t n_mounts;
  Process *processes;               /* init first */
  uint64_t oom_kills_seen;
  int refs;                         /* the list + requests using it; agent_lock */
};

/* Global agent state; everything below is guarded by agent_lock. */
extern pthread_mutex_t agent_lock;
extern Container *agent_containers;

Container *container_find (const char *id, AgentError *err);
Process *process_find (Container *c, const char *exec_id, AgentError *err);

bool container_create (const Grpc__CreateContainerRequest *req, AgentError *err);
bool container_start (const char *id, AgentError *err);
bool container_remove (const char *id, uint32_t timeout_s, AgentError *err);
bool container_pause (const char *id, bool pause, AgentError *err);
bool container_update (const char *id, const Grpc__LinuxResources *res, AgentError *err);
bool container_stats (const char *id, Grpc__StatsContainerResponse **resp, AgentError *err);
void container_stats_free (Grpc__StatsContainerResponse *resp);
bool container_exec (const Grpc__ExecProcessRequest *req, AgentError *err);
void containers_destroy_all (void);
/* Blocks until a container's cgroup reports an OOM kill; *id is malloc()ed. */
bool container_wait_oom (RpcCall *call, char **id, AgentError *err);

/* Process requests (process.c). An empty exec_id (or the container id) names
 * the container's init process; SignalProcess with an empty exec_id signals
 * every process of the container. */
bool process_signal (const char *cid, const char *exec_id, uint32_t signal, AgentError *err);
bool process_wait (RpcCall *call, const char *cid, const char *exec_id, int32_t *status, AgentError *err);
/* Empty data closes stdin, as Kata's runtime-rs expects. */
bool process_write_stdin (const char *cid, const char *exec_id, const uint8_t *data, size_t len,
                          AgentError *err);
/* Answers a ReadStdout/ReadStderr itself: up to max bytes (an empty
 * ReadStreamResponse at end of file). An exec process is forgotten once it
 * was waited for and both its streams reached end of file. */
bool process_read_output (RpcCall *call, const char *cid, const char *exec_id, bool stderr_stream,
                          uint32_t max, AgentError *err);
/* CloseOutput (a vcrun extension): the host no longer reads the stream. */
bool process_close_output (const char *cid, const char *exec_id, bool stderr_stream, AgentError *err);
/* Unlinks an exec process that was waited for and whose output was read to
 * the end. Under agent_lock. */
void process_forget_if_done (Process *p);
bool process_close_stdin (const char *cid, const char *exec_id, AgentError *err);
bool process_resize (const char *cid, const char *exec_id, uint32_t rows, uint32_t cols, AgentError *err);
Process *process_new (Container *c, const char *exec_id, bool is_init);
/* References are taken and dropped under agent_lock. The last drop frees
 * the record (its process must be dead or never started). */
Process *process_ref (Process *p);
void process_unref (Process *p);

/* Spawning (spawn.c): starts the process of `p` in container `c` following
 * `proc`. For the init process, the child sets up the namespaces and rootfs
 * and waits for container_start; an exec process joins the namespaces of
 * the running init. Fills p->pid, p->child and the stdio fds. */
bool process_spawn (Container *c, Process *p, const Grpc__Process *proc, AgentError *err);
/* Reads what the child reports on its sync pipe until it has exec()ed
 * (true) or failed (false with the child's message). */
bool process_await_exec (Process *p, AgentError *err);

/* ---- inside the child (rootfs.c, privileges.c, seccomp.c) ---------------- */

/* Run in the container's init before pivot_root: mounts and pivots. On error
 * writes a message into msg and returns false. */
bool rootfs_setup (const Grpc__Spec *spec, const char *rootfs, char *msg, size_t msg_len);
/* After pivot: masked and read-only paths, sysctls, hostname. */
bool rootfs_finish (const Grpc__Spec *spec, char *msg, size_t msg_len);
bool privileges_apply (const Grpc__Process *proc, bool load_seccomp_early,
                       void *seccomp_ctx, char *msg, size_t msg_len);
bool rlimits_apply (const Grpc__Process *proc, char *msg, size_t msg_len);
/* In the agent, before the fork: logs capabilities that will be skipped. */
void caps_warn_unknown (const Grpc__Process *proc);
/* process.oomScoreAdj, in the child (as runc: only when the spec sets it). */
bool oom_score_adj_apply (const Grpc__Process *proc, char *msg, size_t msg_len);
/* Builds a libseccomp filter from linux.seccomp (NULL spec = no filter,
 * *ctx = NULL). Done in the agent so mistakes are ordinary errors. */
bool seccomp_build (const Grpc__LinuxSeccomp *spec, void **ctx, AgentError *err);
bool seccomp_load_ctx (void *ctx, char *msg, size_t msg_len);
void seccomp_free (void *ctx);

/* User namespace (userns.c): the spec asks for one (a "user" namespace). */
bool userns_wanted (const Grpc__Spec *spec);
/* In the init, after its rootfs is set up: unshare the user namespace and
 * have a helper write the uid/gid maps. */
bool userns_enter (const Grpc__Linux *lx, char *msg, size_t msg_len);

/* createContainer / startContainer hooks (hooks.c), run by the init in the
 * container's namespaces. The prefix (malloc()ed, in the agent) holds the
 * state JSON's fixed fields. */
bool hooks_wanted (const Grpc__Spec *spec);
char *hooks_state_prefix (const Container *c);
bool hooks_run (const Grpc__Spec *spec, bool start, const char *state_prefix, const char *status,
                char *msg, size_t msg_len);

/* ---- cgroups (cgroup.c) --------------------------------------------------- */

bool cgroup_setup_root (AgentError *err);
bool cgroup_create (const char *id, char **path, AgentError *err);
bool cgroup_apply_resources (const char *path, const Grpc__LinuxResources *res, AgentError *err);
bool cgroup_freeze (const char *path, bool frozen, AgentError *err);
bool cgroup_kill_all (const char *path, int signal);
bool cgroup_is_empty (const char *path);
void cgroup_remove (const char *path);
bool cgroup_fill_stats (const char *path, Grpc__StatsContainerResponse *resp, AgentError *err);
uint64_t cgroup_oom_kills (const char *path);

/* ---- storages (storage.c) ------------------------------------------------- */

bool storage_mount (const Grpc__Storage *st, AgentError *err);
void storage_unmount (const char *mount_point);
bool storage_find_block_device (const char *pci_path, char *dev, size_t dev_len, AgentError *err);

/* devices.c: Kata's Device list, mapped onto the spec's linux.devices */
bool devices_apply (Grpc__Spec *spec, Grpc__Device *const *devices, size_t n_devices, AgentError *err);
/* Sandbox-wide storages from CreateSandbox, unmounted by DestroySandbox. */
bool sandbox_create (const Grpc__CreateSandboxRequest *req, AgentError *err);
void sandbox_destroy (void);

/* ---- network (network.c) --------------------------------------------------- */

/* lo up, as every sandbox has it (CreateSandbox). */
void network_loopback_up (void);
bool network_update_interface (const Types__Interface *iface, AgentError *err);
bool network_update_routes (const Grpc__Routes *routes, AgentError *err);
bool network_add_neighbors (const Grpc__ARPNeighbors *neighbors, AgentError *err);

/* ---- guest-wide requests (guest.c) ---------------------------------------- */

bool guest_details (const Grpc__GuestDetailsRequest *req, Grpc__GuestDetailsResponse *resp,
                    Grpc__AgentDetails *details, AgentError *err);
bool guest_set_time (const Grpc__SetGuestDateTimeRequest *req, AgentError *err);
bool guest_online_cpu_mem (const Grpc__OnlineCPUMemRequest *req, AgentError *err);
bool guest_copy_file (const Grpc__CopyFileRequest *req, AgentError *err);

/* ---- serving (server.c, rpc.c, transport.c) ------------------------------- */


/* Sends the successful reply of a call (once). */
void rpc_reply (RpcCall *call, const ProtobufCMessage *reply);
/* Sends err as the call's status (once). */
void rpc_fail (RpcCall *call, const AgentError *err);
/* Sends a successful reply whose payload (the method's reply message,
 * already encoded) is the concatenation of iov; false if it could not be
 * written. */
bool rpc_reply_encoded (RpcCall *call, const struct iovec *payload, int iovcnt, size_t payload_len);
/* False once the connection the call came on has gone. */
bool rpc_call_alive (RpcCall *call);

/* Handles one decoded request: finds the method, decodes the payload, runs
 * the handler, answers (an error status if anything failed). */
void rpc_dispatch (RpcCall *call, const VcTtrpcCall *req);

/* Serves ttRPC on fd until the peer goes away; closes fd. */
void server_serve_fd (int fd, const char *name);

/* Threads serving the virtio-serial port and vsock. */
void transport_start_serial (void);
void transport_start_vsock (void);
void transport_start_unix (const char *path);
/* Announce readiness once (first transport that serves). */
void agent_announce_ready (void);
