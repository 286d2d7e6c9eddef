/* libvcrun: the owner service of a running sandbox.
 *
 * A sandbox's virtio-serial port and QMP socket take one connection at a
 * time, and a container's stdio must be drained by someone, so one process —
 * the owner — holds the sandbox, its container, the container's stdio and the
 * exit statuses. Every other process asks the owner over
 * <sandbox dir>/owner.sock (vc_sandbox_get_owner_socket); see
 * core/owner-client.h for the client side.
 *
 * Protocol: one request per connection. The client sends one JSON object on
 * one line, `{"op": NAME, ...}`, optionally with file descriptors attached
 * (SCM_RIGHTS, exec only); the owner answers with one JSON line
 * `{"ok": true, ...}` or `{"ok": false, "code": VcError, "error": MESSAGE}`.
 * Operations:
 *   state                     -> {sandbox, container, pid, exit_status, owner_pid}
 *   start                     starts the init process and pumps its stdio
 *   kill {signal, all, exec_id?}
 *   pause, resume
 *   ps                        -> {processes: [{exec_id, status, exit_status}]}
 *   resize {rows, columns, exec_id?}
 *   exec {exec_id, process (OCI Process object), stdin?, stdout?, stderr?}
 *        with the fds attached in the order stdin, stdout, stderr (those whose
 *        flag is true); a first reply once the process has started, a second
 *        {exit_status} when it has exited and its output was forwarded
 *   wait                      -> {exit_status} once the init process exited
 *   delete {force}            stops the VM, removes all state; the owner then
 *                             ends (vc_owner_wait_deleted returns)
 *
 * The service runs on threads of its own: one accepting connections and one
 * per connection; the sandbox's operations are serialised by the core.
 */
#pragma once

#include <glib.h>

#include "container.h"
#include "sandbox.h"

G_BEGIN_DECLS

typedef struct VcOwner VcOwner;

/* Longest request line the owner reads. */
#define VC_OWNER_MAX_REQUEST (1024 * 1024)

/* Binds <sandbox dir>/owner.sock and starts serving it for container, the
 * sandbox's one container. Takes references to both. */
VcOwner  *vc_owner_new (VcSandbox *sandbox, VcContainer *container, GError **error);

/* The fds the init process's stdio is forwarded to and from (duplicated;
 * -1 for none). With a terminal, out_fd gets the terminal's output and
 * err_fd is not used. Call before the init process starts. */
void      vc_owner_set_init_stdio (VcOwner *owner, int in_fd, int out_fd, int err_fd);

/* Called once, in context's thread (from an idle source), when the init
 * process has exited and its output was forwarded, with its exit status
 * (-1 when it could not be waited for), and once more with deleted TRUE when
 * a client's delete request has removed the sandbox. */
typedef void (*VcOwnerNotifyFunc) (VcOwner *owner, gboolean deleted, int exit_status,
                                   gpointer user_data);
void      vc_owner_set_notify (VcOwner *owner, GMainContext *context, VcOwnerNotifyFunc func,
                               gpointer user_data);

/* The owner watches its sandbox from vc_owner_new on (it holds the
 * sandbox's changed func: vc_sandbox_set_changed_func is not for others
 * while it lives): when the sandbox stops before the init was started (its
 * VM died right after create), the notify func hears exit status
 * 128 + SIGKILL, as for an init killed with its VM. Every change is passed
 * on to func (may be NULL), from any thread. */
void      vc_owner_set_changed_func (VcOwner *owner, VcSandboxChangedFunc func,
                                     gpointer user_data);

/* Starts the init process (as the "start" request does): CREATED -> RUNNING,
 * then forwards its stdio and waits for it on threads. */
gboolean  vc_owner_start (VcOwner *owner, GError **error);

/* Blocks until a delete request has been served. */
void      vc_owner_wait_deleted (VcOwner *owner);

/* The init process's exit status once it exited, else -1. */
int       vc_owner_get_exit_status (VcOwner *owner);

/* Stops serving: closes and removes the socket, and waits for the requests
 * being served (all but exec and wait). Threads still forwarding stdio keep
 * their references until they finish. */
void      vc_owner_free (VcOwner *owner);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VcOwner, vc_owner_free)

G_END_DECLS
