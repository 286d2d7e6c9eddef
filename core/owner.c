/* libvcrun: the owner service of a running sandbox (see owner.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib-unix.h>
#include <json-glib/json-glib.h>
#include <vcrun/types.h>

#include "host-cgroup.h"
#include "oci.h"
#include "owner-private.h"
#include "owner-resources.h"
#include "owner-protocol.h"
#include "unix-socket.h"
#include "stdio-pump.h"

/* ---- stdio forwarding ---------------------------------------------------- */

static int
dup_fd (int fd)
{
  return fd >= 0 ? fcntl (fd, F_DUPFD_CLOEXEC, 3) : -1;
}

/* Forwards a process's stdio to and from copies of the client's fds; with a
 * terminal, stdout carries both streams. */
VcStdioPump *
vc_owner_pump_start (VcContainer *container, const char *exec_id, int in_fd, int out_fd, int err_fd,
            gboolean terminal)
{
  return vc_stdio_pump_start (container, exec_id, dup_fd (in_fd), dup_fd (out_fd),
                              terminal ? -1 : dup_fd (err_fd), NULL, NULL, NULL);
}

/* ---- the owner ----------------------------------------------------------- */

static VcOwner *
owner_ref (VcOwner *owner)
{
  g_atomic_int_inc (&owner->refcount);
  return owner;
}

static void
owner_unref (VcOwner *owner)
{
  if (!g_atomic_int_dec_and_test (&owner->refcount))
    return;
  for (int i = 0; i < 3; i++)
    if (owner->init_fds[i] >= 0)
      close (owner->init_fds[i]);
  g_hash_table_unref (owner->execs);
  g_mutex_clear (&owner->lock);
  g_cond_clear (&owner->cond);
  if (owner->notify_context)
    g_main_context_unref (owner->notify_context);
  vc_container_unref (owner->container);
  vc_sandbox_unref (owner->sandbox);
  g_free (owner->socket_path);
  g_free (owner);
}

typedef struct {
  VcOwner  *owner;
  gboolean  deleted;
  int       exit_status;
} Notification;

static gboolean
deliver_notification (gpointer data)
{
  Notification *n = data;
  n->owner->notify_func (n->owner, n->deleted, n->exit_status, n->owner->notify_data);
  return G_SOURCE_REMOVE;
}

static void
free_notification (gpointer data)
{
  Notification *n = data;
  owner_unref (n->owner);
  g_free (n);
}

/* Queues the notification; one about the init's end that nobody asked for
 * yet is kept for vc_owner_set_notify (a short-lived init can end before
 * the supervisor gets there). owner->lock not held. */
static void
notify (VcOwner *owner, gboolean deleted, int exit_status)
{
  g_mutex_lock (&owner->lock);
  VcOwnerNotifyFunc func = owner->notify_func;
  GMainContext *context = owner->notify_context ? g_main_context_ref (owner->notify_context) : NULL;
  if (func == NULL && !deleted)
    owner->exit_unnotified = TRUE;
  g_mutex_unlock (&owner->lock);
  if (func == NULL)
    return;
  Notification *n = g_new0 (Notification, 1);
  n->owner = owner_ref (owner);
  n->deleted = deleted;
  n->exit_status = exit_status;
  /* Always queued, never called here: g_main_context_invoke would run it on
   * this thread when nobody runs the context yet, and a g_main_loop_quit
   * before g_main_loop_run is lost. */
  GSource *source = g_idle_source_new ();
  g_source_set_callback (source, deliver_notification, n, free_notification);
  g_source_attach (source, context);
  g_source_unref (source);
  if (context)
    g_main_context_unref (context);
}

/* The sandbox stopped (its VM or fs daemon died, or it was stopped) before
 * the init was started: there is no init to start or wait for any more, so
 * the owner ends as if the init had been killed with the VM. A started init
 * is seen ending by its waiter (wait_init). */
static void
sandbox_stopped (VcOwner *owner)
{
  g_mutex_lock (&owner->lock);
  gboolean never_started = !owner->started;
  if (never_started)
    {
      owner->started = TRUE;   /* nobody starts it now */
      owner->init_exited = TRUE;
      owner->exit_status = 128 + SIGKILL;
      g_cond_broadcast (&owner->cond);
    }
  g_mutex_unlock (&owner->lock);
  if (!never_started)
    return;
  g_message ("sandbox %s stopped before its container was started",
             vc_sandbox_get_id (owner->sandbox));
  notify (owner, FALSE, 128 + SIGKILL);
}

/* From any thread, whenever the sandbox or its container changed: from
 * creation on, not only once the init runs. */
static void
on_sandbox_changed (VcSandbox *sandbox, VcContainer *container, gpointer data)
{
  VcOwner *owner = data;
  if (vc_sandbox_get_state (sandbox) == VC_SANDBOX_STOPPED)
    sandbox_stopped (owner);
  g_mutex_lock (&owner->lock);
  VcSandboxChangedFunc func = owner->changed_func;
  gpointer func_data = owner->changed_data;
  g_mutex_unlock (&owner->lock);
  if (func)
    func (sandbox, container, func_data);
}

typedef struct {
  VcOwner   *owner;
  VcStdioPump *io;
} InitWait;

static gpointer
wait_init (gpointer data)
{
  InitWait *w = data;
  VcOwner *owner = w->owner;
  g_autoptr(GError) error = NULL;
  int status = -1;

  if (!vc_container_wait (owner->container, NULL, &status, &error))
    {
      g_warning ("waiting for container %s: %s", vc_container_get_id (owner->container),
                 error->message);
      status = -1;
    }
  vc_stdio_pump_finish (w->io, DRAIN_TIMEOUT_MS);

  g_mutex_lock (&owner->lock);
  owner->init_exited = TRUE;
  owner->exit_status = status;
  g_cond_broadcast (&owner->cond);
  g_mutex_unlock (&owner->lock);
  notify (owner, FALSE, status);
  owner_unref (owner);
  g_free (w);
  return NULL;
}

/* Carries the init process's stdio and waits for it on a thread of its own. */
static void
watch_init (VcOwner *owner)
{
  InitWait *w = g_new0 (InitWait, 1);
  w->owner = owner_ref (owner);
  w->io = vc_owner_pump_start (owner->container, NULL, owner->init_fds[0], owner->init_fds[1],
                            owner->init_fds[2], vc_container_get_terminal (owner->container));
  g_thread_unref (g_thread_new ("vc-owner-wait", wait_init, w));
}

gboolean
vc_owner_start (VcOwner *owner, GError **error)
{
  g_mutex_lock (&owner->lock);
  gboolean started = owner->started;
  owner->started = TRUE;
  g_mutex_unlock (&owner->lock);
  if (started)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_STATE,
                   vc_container_get_state (owner->container) == VC_CONTAINER_STOPPED
                   ? "container %s is stopped" : "container %s was started already",
                   vc_container_get_id (owner->container));
      return FALSE;
    }
  g_autoptr(GError) local = NULL;
  gboolean ok = vc_container_start (owner->container, &local);
  /* Refused before anything happened: may start later. Else the init runs,
   * or failed in the agent and is collected (stopped, deletable, as runc). */
  if (!ok && (g_error_matches (local, VC_ERROR, VC_ERROR_INVALID_STATE)
              || g_error_matches (local, VC_ERROR, VC_ERROR_BUSY)))
    {
      g_mutex_lock (&owner->lock);
      owner->started = FALSE;
      g_mutex_unlock (&owner->lock);
    }
  else
    watch_init (owner);
  if (!ok)
    g_propagate_error (error, g_steal_pointer (&local));
  return ok;
}

/* After kill of a container that was never started: its init is ending,
 * so wait for it as start would have, and let nobody start it. */
static void
watch_killed_init (VcOwner *owner, int signum)
{
  if (!vc_signal_default_terminates (signum))
    return;
  g_mutex_lock (&owner->lock);
  gboolean started = owner->started;
  owner->started = TRUE;
  g_mutex_unlock (&owner->lock);
  if (!started)
    watch_init (owner);
}

/* ---- requests ------------------------------------------------------------ */

typedef struct {
  VcOwner *owner;
  int      fd;
} Connection;

static JsonObject *
handle_state (VcOwner *owner)
{
  JsonObject *reply = vc_owner_reply_ok ();
  json_object_set_string_member (reply, "sandbox",
                                 vc_sandbox_state_to_string (vc_sandbox_get_state (owner->sandbox)));
  json_object_set_string_member (reply, "container",
                                 vc_container_state_to_string (vc_container_get_state (owner->container)));
  json_object_set_int_member (reply, "pid", vc_container_get_pid (owner->container));
  json_object_set_int_member (reply, "exit_status", vc_owner_get_exit_status (owner));
  json_object_set_int_member (reply, "owner_pid", getpid ());
  return reply;
}

static JsonObject *
handle_ps (VcOwner *owner)
{
  JsonObject *reply = vc_owner_reply_ok ();
  JsonArray *list = json_array_new ();
  JsonObject *init = json_object_new ();
  json_object_set_string_member (init, "exec_id", vc_container_get_id (owner->container));
  json_object_set_boolean_member (init, "init", TRUE);
  g_mutex_lock (&owner->lock);
  json_object_set_string_member (init, "status", !owner->started ? "created"
                                 : owner->init_exited ? "exited" : "running");
  json_object_set_int_member (init, "exit_status", owner->init_exited ? owner->exit_status : -1);
  json_array_add_object_element (list, init);

  g_autoptr(GList) ids = g_hash_table_get_keys (owner->execs);
  ids = g_list_sort (ids, (GCompareFunc) strcmp);
  for (GList *l = ids; l; l = l->next)
    {
      ExecRecord *record = g_hash_table_lookup (owner->execs, l->data);
      JsonObject *p = json_object_new ();
      json_object_set_string_member (p, "exec_id", l->data);
      json_object_set_boolean_member (p, "init", FALSE);
      json_object_set_string_member (p, "status", record->running ? "running" : "exited");
      json_object_set_int_member (p, "exit_status", record->running ? -1 : record->exit_status);
      json_array_add_object_element (list, p);
    }
  g_mutex_unlock (&owner->lock);
  json_object_set_array_member (reply, "processes", list);

  /* The sandbox's host processes, as runc lists its cgroup's: this
   * supervisor (the state's pid), then the VMM and its helpers, then
   * whatever else the host cgroup at cgroupsPath holds (virtiofsd's own
   * child, a hook still running). */
  g_autoptr(GArray) host = g_array_new (FALSE, FALSE, sizeof (gint));
  gint self = getpid ();
  g_array_append_val (host, self);
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) pids = vc_sandbox_get_host_pids (owner->sandbox, &error);
  if (pids == NULL)
    g_debug ("owner of %s: ps: %s", vc_sandbox_get_id (owner->sandbox), error->message);
  g_autoptr(GArray) in_cgroup = vc_host_cgroup_pids ();
  GArray *sources[] = { pids, in_cgroup };
  for (gsize s = 0; s < G_N_ELEMENTS (sources); s++)
    for (guint i = 0; sources[s] && i < sources[s]->len; i++)
      {
        gint pid = g_array_index (sources[s], gint, i);
        gboolean seen = FALSE; /* the fake's VMM is this process */
        for (guint j = 0; j < host->len && !seen; j++)
          seen = g_array_index (host, gint, j) == pid;
        if (!seen)
          g_array_append_val (host, pid);
      }
  JsonArray *list_json = json_array_new ();
  for (guint i = 0; i < host->len; i++)
    json_array_add_int_element (list_json, g_array_index (host, gint, i));
  json_object_set_array_member (reply, "host_pids", list_json);
  return reply;
}

static gboolean
handle_pause (VcOwner *owner, gboolean pause, GError **error)
{
  g_autoptr(GError) local = NULL;
  if (!pause && vc_sandbox_get_state (owner->sandbox) == VC_SANDBOX_PAUSED)
    return vc_sandbox_resume (owner->sandbox, error);
  if (pause ? vc_container_pause (owner->container, &local)
            : vc_container_resume (owner->container, &local))
    return TRUE;
  /* A guest that cannot freeze one container: pause the whole VM, which
   * holds only this container. */
  if (pause && g_error_matches (local, VC_ERROR, VC_ERROR_NOT_SUPPORTED))
    return vc_sandbox_pause (owner->sandbox, error);
  g_propagate_error (error, g_steal_pointer (&local));
  return FALSE;
}

static gboolean
handle_delete (VcOwner *owner, gboolean force, GError **error)
{
  VcContainerState state = vc_container_get_state (owner->container);
  g_autoptr(GError) local = NULL;

  if (!force && (state == VC_CONTAINER_RUNNING || state == VC_CONTAINER_PAUSED))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_STATE,
                   "container %s is %s: stop it first (vcrun kill) or use delete --force",
                   vc_container_get_id (owner->container), vc_container_state_to_string (state));
      return FALSE;
    }
  if (vc_sandbox_get_state (owner->sandbox) != VC_SANDBOX_STOPPED
      && !vc_container_delete (owner->container, force, &local))
    {
      if (!force)
        {
          g_propagate_error (error, g_steal_pointer (&local));
          return FALSE;
        }
      /* The VM goes away next anyway. */
      g_debug ("deleting container %s: %s", vc_container_get_id (owner->container), local->message);
    }
  return vc_sandbox_delete (owner->sandbox, TRUE, error);
}

/* After the reply to delete went out: the owner's process may end now. */
static void
mark_deleted (VcOwner *owner)
{
  g_mutex_lock (&owner->lock);
  owner->deleted = TRUE;
  g_cond_broadcast (&owner->cond);
  g_mutex_unlock (&owner->lock);
  notify (owner, TRUE, vc_owner_get_exit_status (owner));
}

static void
serve_request (VcOwner *owner, int fd, JsonObject *request, GArray *fds)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) reply = NULL;
  const char *op = NULL;
  const char *exec_id = NULL;
  gint64 n, rows, columns;

  if (!vc_owner_request_string (request, "op", &op, &error))
    goto done;
  if (op == NULL)
    {
      g_set_error (&error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "request: op is missing");
      goto done;
    }
  if (!vc_owner_request_string (request, "exec_id", &exec_id, &error))
    goto done;
  g_debug ("owner of %s: %s", vc_sandbox_get_id (owner->sandbox), op);

  if (g_str_equal (op, "exec"))
    {
      vc_owner_handle_exec (owner, fd, request, fds);
      return;
    }
  if (g_str_equal (op, "state"))
    reply = handle_state (owner);
  else if (g_str_equal (op, "ps"))
    reply = handle_ps (owner);
  else if (g_str_equal (op, "start"))
    {
      if (vc_owner_start (owner, &error))
        reply = vc_owner_reply_ok ();
    }
  else if (g_str_equal (op, "kill"))
    {
      if (vc_owner_request_int (request, "signal", 1, 64, SIGTERM, &n, &error)
          && vc_container_signal (owner->container, exec_id, (int) n, vc_owner_request_bool (request, "all"),
                                  &error))
        {
          reply = vc_owner_reply_ok ();
          if (exec_id == NULL)
            watch_killed_init (owner, (int) n);
        }
    }
  else if (g_str_equal (op, "pause") || g_str_equal (op, "resume"))
    {
      if (handle_pause (owner, g_str_equal (op, "pause"), &error))
        reply = vc_owner_reply_ok ();
    }
  else if (g_str_equal (op, "resize"))
    {
      if (vc_owner_request_int (request, "rows", 0, G_MAXUINT16, 0, &rows, &error)
          && vc_owner_request_int (request, "columns", 0, G_MAXUINT16, 0, &columns, &error)
          && vc_container_resize_tty (owner->container, exec_id, (guint) rows, (guint) columns,
                                      &error))
        reply = vc_owner_reply_ok ();
    }
  else if (g_str_equal (op, "update") || g_str_equal (op, "stats"))
    reply = vc_owner_resources_request (owner->container, op, request, &error);
  else if (g_str_equal (op, "wait"))
    {
      g_mutex_lock (&owner->lock);
      while (!owner->init_exited && !owner->deleted)
        g_cond_wait (&owner->cond, &owner->lock);
      gboolean exited = owner->init_exited;
      int status = owner->exit_status;
      g_mutex_unlock (&owner->lock);
      if (exited)
        {
          reply = vc_owner_reply_ok ();
          json_object_set_int_member (reply, "exit_status", status);
        }
      else
        g_set_error (&error, VC_ERROR, VC_ERROR_STOPPED, "sandbox %s was deleted",
                     vc_sandbox_get_id (owner->sandbox));
    }
  else if (g_str_equal (op, "delete"))
    {
      if (handle_delete (owner, vc_owner_request_bool (request, "force"), &error))
        {
          reply = vc_owner_reply_ok ();
          vc_owner_reply_send (fd, reply);
          mark_deleted (owner);
          return;
        }
    }
  else
    g_set_error (&error, VC_ERROR, VC_ERROR_NOT_SUPPORTED, "unknown request '%s'", op);

done:
  if (reply)
    vc_owner_reply_send (fd, reply);
  else
    vc_owner_reply_send_error (fd, error);
}

/* Counts the requests vc_owner_free waits for: all but exec and wait,
 * which last as long as a process. */
static void
handle_request (VcOwner *owner, int fd, JsonObject *request, GArray *fds)
{
  const char *op = NULL;
  gboolean counted = !vc_owner_request_string (request, "op", &op, NULL)
                     || op == NULL || (!g_str_equal (op, "exec") && !g_str_equal (op, "wait"));
  if (counted)
    {
      g_mutex_lock (&owner->lock);
      owner->busy++;
      g_mutex_unlock (&owner->lock);
    }
  serve_request (owner, fd, request, fds);
  if (counted)
    {
      g_mutex_lock (&owner->lock);
      owner->busy--;
      g_cond_broadcast (&owner->cond);
      g_mutex_unlock (&owner->lock);
    }
}

static gpointer
connection_thread (gpointer data)
{
  Connection *conn = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) fds = g_array_new (FALSE, FALSE, sizeof (int));
  g_autoptr(JsonObject) request = NULL;

  /* A client that connects and says nothing must not hold a thread forever. */
  g_autofree char *line = vc_unix_read_line (conn->fd, VC_OWNER_MAX_REQUEST, 30000, fds, &error);
  if (line == NULL)
    g_debug ("owner request: %s", error->message);
  else if ((request = vc_owner_line_parse (line, strlen (line), "request", &error)) == NULL)
    vc_owner_reply_send_error (conn->fd, error);
  else
    handle_request (conn->owner, conn->fd, request, fds);

  for (guint i = 0; i < fds->len; i++)
    close (g_array_index (fds, int, i));
  close (conn->fd);
  owner_unref (conn->owner);
  g_free (conn);
  return NULL;
}

static gpointer
accept_thread (gpointer data)
{
  VcOwner *owner = data;
  while (!g_atomic_int_get (&owner->stopping))
    {
      int fd = accept4 (owner->listen_fd, NULL, NULL, SOCK_CLOEXEC);
      if (fd < 0)
        {
          if (errno == EINTR || errno == ECONNABORTED)
            continue;
          if (!g_atomic_int_get (&owner->stopping))
            g_warning ("owner socket of %s: %s", vc_sandbox_get_id (owner->sandbox),
                       g_strerror (errno));
          break;
        }
      /* The socket's mode (0600 in a 0700 dir) keeps other uids out; the
       * peer's credentials say so again, in case the modes were changed. */
      g_autoptr(GError) peer_error = NULL;
      uid_t peer = (uid_t) -1;
      if (!vc_unix_peer_uid (fd, &peer, &peer_error) || (peer != 0 && peer != geteuid ()))
        {
          if (peer_error == NULL)
            peer_error = g_error_new (VC_ERROR, VC_ERROR_ACCESS_DENIED,
                                      "uid %u may not use the owner of sandbox %s", (guint) peer,
                                      vc_sandbox_get_id (owner->sandbox));
          g_warning ("owner socket of %s: %s", vc_sandbox_get_id (owner->sandbox),
                     peer_error->message);
          vc_owner_reply_send_error (fd, peer_error);
          close (fd);
          continue;
        }
      Connection *conn = g_new0 (Connection, 1);
      conn->owner = owner_ref (owner);
      conn->fd = fd;
      g_thread_unref (g_thread_new ("vc-owner-conn", connection_thread, conn));
    }
  owner_unref (owner);  /* the thread's own reference */
  return NULL;
}

VcOwner *
vc_owner_new (VcSandbox *sandbox, VcContainer *container, GError **error)
{
  g_autofree char *path = vc_sandbox_get_owner_socket (sandbox);
  int fd = vc_unix_socket_bind (path, error);
  if (fd < 0)
    return NULL;

  VcOwner *owner = g_new0 (VcOwner, 1);
  owner->refcount = 1;
  owner->sandbox = vc_sandbox_ref (sandbox);
  owner->container = vc_container_ref (container);
  owner->socket_path = g_steal_pointer (&path);
  owner->listen_fd = fd;
  owner->init_fds[0] = owner->init_fds[1] = owner->init_fds[2] = -1;
  owner->exit_status = -1;
  owner->execs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_mutex_init (&owner->lock);
  g_cond_init (&owner->cond);
  owner->accept_thread = g_thread_new ("vc-owner", accept_thread, owner_ref (owner));
  /* The VM is watched from now on (its hypervisor plugin reports its end),
   * and it may have ended already. */
  vc_sandbox_set_changed_func (sandbox, on_sandbox_changed, owner_ref (owner),
                               (GDestroyNotify) owner_unref);
  if (vc_sandbox_get_state (sandbox) == VC_SANDBOX_STOPPED)
    sandbox_stopped (owner);
  return owner;
}

void
vc_owner_set_changed_func (VcOwner *owner, VcSandboxChangedFunc func, gpointer user_data)
{
  g_mutex_lock (&owner->lock);
  owner->changed_func = func;
  owner->changed_data = user_data;
  g_mutex_unlock (&owner->lock);
}

void
vc_owner_set_init_stdio (VcOwner *owner, int in_fd, int out_fd, int err_fd)
{
  int given[3] = { in_fd, out_fd, err_fd };
  for (int i = 0; i < 3; i++)
    {
      if (owner->init_fds[i] >= 0)
        close (owner->init_fds[i]);
      owner->init_fds[i] = given[i] >= 0 ? fcntl (given[i], F_DUPFD_CLOEXEC, 3) : -1;
    }
}

void
vc_owner_set_notify (VcOwner *owner, GMainContext *context, VcOwnerNotifyFunc func,
                     gpointer user_data)
{
  g_mutex_lock (&owner->lock);
  if (owner->notify_context)
    g_main_context_unref (owner->notify_context);
  owner->notify_context = context ? g_main_context_ref (context) : NULL;
  owner->notify_func = func;
  owner->notify_data = user_data;
  gboolean pending = func != NULL && owner->exit_unnotified;
  owner->exit_unnotified = FALSE;
  int status = owner->exit_status;
  g_mutex_unlock (&owner->lock);
  if (pending)
    notify (owner, FALSE, status);
}

void
vc_owner_wait_deleted (VcOwner *owner)
{
  g_mutex_lock (&owner->lock);
  while (!owner->deleted)
    g_cond_wait (&owner->cond, &owner->lock);
  g_mutex_unlock (&owner->lock);
}

int
vc_owner_get_exit_status (VcOwner *owner)
{
  g_mutex_lock (&owner->lock);
  int status = owner->init_exited ? owner->exit_status : -1;
  g_mutex_unlock (&owner->lock);
  return status;
}

void
vc_owner_free (VcOwner *owner)
{
  if (owner == NULL)
    return;
  g_atomic_int_set (&owner->stopping, 1);
  vc_owner_set_changed_func (owner, NULL, NULL);
  vc_sandbox_set_changed_func (owner->sandbox, NULL, NULL, NULL);
  /* Wakes accept() up; the socket file goes so nobody connects to a dead owner. */
  shutdown (owner->listen_fd, SHUT_RDWR);
  g_thread_join (owner->accept_thread);
  close (owner->listen_fd);
  /* A delete half done must not be cut short by this process's exit. */
  g_mutex_lock (&owner->lock);
  while (owner->busy > 0)
    g_cond_wait (&owner->cond, &owner->lock);
  g_mutex_unlock (&owner->lock);
  if (g_file_test (owner->socket_path, G_FILE_TEST_EXISTS) && unlink (owner->socket_path) < 0)
    g_debug ("cannot remove %s: %s", owner->socket_path, g_strerror (errno));
  owner_unref (owner);
}
