/* libvcrun internal: the owner's state, shared by owner.c and owner-exec.c. */
#pragma once

#include <json-glib/json-glib.h>

#include "owner.h"
#include "stdio-pump.h"

G_BEGIN_DECLS

/* After a process exited, how long its output may stall (nothing from the
 * agent, nobody waiting for a reader) before forwarding stops: output still
 * in flight is forwarded however slow its reader, a background process
 * holding the pipe open is not waited for. */
#define DRAIN_TIMEOUT_MS 10000

typedef struct {
  gboolean running;
  int      exit_status;
} ExecRecord;

struct VcOwner {
  gint          refcount;
  VcSandbox    *sandbox;
  VcContainer  *container;
  char         *socket_path;
  int           listen_fd;
  GThread      *accept_thread;
  gint          stopping;

  GMutex        lock;
  GCond         cond;
  int           init_fds[3];
  gboolean      started;
  gboolean      init_exited;
  int           exit_status;
  gboolean      deleted;
  GHashTable   *execs;          /* exec_id -> ExecRecord */
  guint         busy;           /* requests being served, but exec and wait */

  GMainContext *notify_context;   /* notify_*: under lock */
  VcOwnerNotifyFunc notify_func;
  gpointer      notify_data;
  gboolean      exit_unnotified; /* the init ended before anyone asked to hear it */

  VcSandboxChangedFunc changed_func;   /* under lock */
  gpointer      changed_data;
};

/* Forwards a process's stdio to and from copies of the client's fds; with a
 * terminal, stdout carries both streams. */
VcStdioPump *vc_owner_pump_start (VcContainer *container, const char *exec_id, int in_fd,
                                  int out_fd, int err_fd, gboolean terminal);

/* exec: starts the process the request describes with the fds that came with
 * it, replies {"ok": true, "started": true}, then once it has exited
 * {"ok": true, "exit_status": N} (or an error reply instead of either). */
void vc_owner_handle_exec (VcOwner *owner, int fd, JsonObject *request, GArray *fds);

G_END_DECLS
