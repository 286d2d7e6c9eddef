/* Test-only fake agent: keeps containers and processes in memory and plays a
 * few programs, chosen by args[0]:
 *   echo WORDS...      prints WORDS on stdout, exits 0
 *   echo-err WORDS...  prints WORDS on stderr, exits 0
 *   exit N             exits with status N
 *   big N              prints N bytes (byte i = i % 251), exits 0
 *   cat                copies stdin to stdout until stdin is closed, exits 0
 *   anything else      runs until signalled (status 128+N)
 * The VM is the fake hypervisor's marker file next to the endpoint socket:
 * when it disappears, blocked calls fail as over a dead channel. */
#include "fake-common.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <json-glib/json-glib.h>
#include <vcrun/agent.h>

struct VcPluginInstance {
  FakeSettings *settings;
};

typedef struct {
  char       **args;
  gboolean     started;
  gboolean     exited;
  int          status;
  GByteArray  *out;
  GByteArray  *err;
} FakeProcess;

struct VcAgentConn {
  VcPluginInstance *self;
  char       *vm_file;
  GMutex      mutex;
  GCond       cond;
  GHashTable *processes;   /* "cid/exec" -> FakeProcess* */
};

static const VcSettingSpec settings_spec[] = {
  FAKE_COMMON_SETTINGS,
  { .name = NULL },
};

static VcPluginInstance *
fake_create (const VcPluginHost *host, GVariant *settings, GError **error)
{
  (void) host;
  (void) error;
  VcPluginInstance *self = g_new0 (VcPluginInstance, 1);
  self->settings = fake_settings_new ("agent", settings);
  return self;
}

static void
fake_destroy (VcPluginInstance *self)
{
  fake_settings_free (self->settings);
  g_free (self);
}

static void
process_free (FakeProcess *p)
{
  g_strfreev (p->args);
  g_byte_array_unref (p->out);
  g_byte_array_unref (p->err);
  g_free (p);
}

static gboolean
vm_alive (VcAgentConn *conn)
{
  return g_file_test (conn->vm_file, G_FILE_TEST_EXISTS);
}

static gboolean
vm_gone_error (GError **error)
{
  g_set_error (error, VC_ERROR, VC_ERROR_STOPPED, "fake agent: the VM is gone");
  return FALSE;
}

/* ---- connection -------------------------------------------------------- */

static VcAgentConn *
fake_connect (VcPluginInstance *self, const VcAgentEndpoint *endpoint, guint timeout_ms,
              GError **error)
{
  (void) timeout_ms;
  fake_log (self->settings, "connect", "%s", endpoint->socket_path);
  if (!fake_enter (self->settings, "connect", error))
    return NULL;
  g_autofree char *dir = g_path_get_dirname (endpoint->socket_path);
  VcAgentConn *conn = g_new0 (VcAgentConn, 1);
  conn->self = self;
  conn->vm_file = g_build_filename (dir, "fake-vm.running", NULL);
  g_mutex_init (&conn->mutex);
  g_cond_init (&conn->cond);
  conn->processes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                           (GDestroyNotify) process_free);
  if (!vm_alive (conn))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_TIMEOUT, "fake agent: nothing listens on %s",
                   endpoint->socket_path);
      g_hash_table_unref (conn->processes);
      g_mutex_clear (&conn->mutex);
      g_cond_clear (&conn->cond);
      g_free (conn->vm_file);
      g_free (conn);
      return NULL;
    }
  return conn;
}

static void
fake_disconnect (VcAgentConn *conn)
{
  fake_log (conn->self->settings, "disconnect", NULL);
  g_hash_table_unref (conn->processes);
  g_mutex_clear (&conn->mutex);
  g_cond_clear (&conn->cond);
  g_free (conn->vm_file);
  g_free (conn);
}

static gboolean
fake_check (VcAgentConn *conn, GError **error)
{
  fake_log (conn->self->settings, "check", NULL);
  return fake_enter (conn->self->settings, "check", error);
}

static char *
fake_agent_version (VcAgentConn *conn, GError **error)
{
  (void) conn;
  (void) error;
  return g_strdup ("fake-agent 1.0");
}

static gboolean
fake_create_sandbox (VcAgentConn *conn, const VcAgentSandboxConfig *config, GError **error)
{
  guint n = 0;
  while (config->storages && config->storages[n])
    n++;
  fake_log (conn->self->settings, "create_sandbox", "%s hostname=%s storages=%u",
            config->sandbox_id, config->hostname, n);
  return fake_enter (conn->self->settings, "create_sandbox", error);
}

static gboolean
fake_destroy_sandbox (VcAgentConn *conn, GError **error)
{
  fake_log (conn->self->settings, "destroy_sandbox", NULL);
  return fake_enter (conn->self->settings, "destroy_sandbox", error);
}

/* ---- containers and processes ------------------------------------------ */

static char *
key (const char *cid, const char *exec_id)
{
  return g_strdup_printf ("%s/%s", cid, exec_id);
}

static char **
args_of (const char *json, gboolean whole_spec, GError **error)
{
  g_autoptr(JsonNode) node = json_from_string (json, NULL);
  JsonObject *o = node && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
  if (o && whole_spec)
    o = json_object_has_member (o, "process") ? json_object_get_object_member (o, "process")
                                               : NULL;
  JsonArray *a = o && json_object_has_member (o, "args")
                 ? json_object_get_array_member (o, "args") : NULL;
  if (a == NULL || json_array_get_length (a) == 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "fake agent: no process.args");
      return NULL;
    }
  char **args = g_new0 (char *, json_array_get_length (a) + 1);
  for (guint i = 0; i < json_array_get_length (a); i++)
    args[i] = g_strdup (json_array_get_string_element (a, i));
  return args;
}

static void
add_process (VcAgentConn *conn, const char *cid, const char *exec_id, char **args)
{
  FakeProcess *p = g_new0 (FakeProcess, 1);
  p->args = args;
  p->out = g_byte_array_new ();
  p->err = g_byte_array_new ();
  g_mutex_lock (&conn->mutex);
  g_hash_table_replace (conn->processes, key (cid, exec_id), p);
  g_mutex_unlock (&conn->mutex);
}

static void
append_words (GByteArray *out, char **words)
{
  g_autofree char *text = g_strjoinv (" ", words);
  g_byte_array_append (out, (const guint8 *) text, (guint) strlen (text));
  g_byte_array_append (out, (const guint8 *) "\n", 1);
}

/* Plays the program; conn->mutex held. */
static void
run_process (VcAgentConn *conn, FakeProcess *p)
{
  const char *prog = p->args[0];
  p->started = TRUE;
  if (strcmp (prog, "echo") == 0)
    {
      append_words (p->out, p->args + 1);
      p->exited = TRUE;
    }
  else if (strcmp (prog, "echo-err") == 0)
    {
      append_words (p->err, p->args + 1);
      p->exited = TRUE;
    }
  else if (strcmp (prog, "exit") == 0)
    {
      p->status = p->args[1] ? atoi (p->args[1]) : 0;
      p->exited = TRUE;
    }
  else if (strcmp (prog, "big") == 0)
    {
      guint n = p->args[1] ? (guint) atoi (p->args[1]) : 0;
      for (guint i = 0; i < n; i++)
        {
          guint8 b = (guint8) (i % 251);
          g_byte_array_append (p->out, &b, 1);
        }
      p->exited = TRUE;
    }
  g_cond_broadcast (&conn->cond);
}

static FakeProcess *
find (VcAgentConn *conn, const char *cid, const char *exec_id, GError **error)
{
  g_autofree char *k = key (cid, exec_id);
  FakeProcess *p = g_hash_table_lookup (conn->processes, k);
  if (p == NULL)
    g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "fake agent: no process %s", k);
  return p;
}

static gboolean
fake_create_container (VcAgentConn *conn, const VcContainerConfig *config, GError **error)
{
  guint nstorages = 0, nmounts = 0;
  while (config->storages && config->storages[nstorages])
    nstorages++;
  while (config->mounts && config->mounts[nmounts])
    {
      const VcAgentMount *m = config->mounts[nmounts];
      fake_log (conn->self->settings, "mount", "%s %s %s ro=%d", config->container_id,
                m->destination, m->guest_source, m->readonly);
      nmounts++;
    }
  fake_log (conn->self->settings, "create_container", "%s rootfs=%s storages=%u mounts=%u",
            config->container_id, config->guest_rootfs, nstorages, nmounts);
  if (!fake_enter (conn->self->settings, "create_container", error))
    return FALSE;
  char **args = args_of (config->oci_spec_json, TRUE, error);
  if (args == NULL)
    return FALSE;
  add_process (conn, config->container_id, config->container_id, args);
  return TRUE;
}

static gboolean
fake_start_container (VcAgentConn *conn, const char *cid, GError **error)
{
  fake_log (conn->self->settings, "start_container", "%s", cid);
  if (!fake_enter (conn->self->settings, "start_container", error))
    return FALSE;
  g_mutex_lock (&conn->mutex);
  FakeProcess *p = find (conn, cid, cid, error);
  if (p)
    run_process (conn, p);
  g_mutex_unlock (&conn->mutex);
  return p != NULL;
}

static gboolean
fake_remove_container (VcAgentConn *conn, const char *cid, guint timeout_ms, GError **error)
{
  (void) timeout_ms;
  fake_log (conn->self->settings, "remove_container", "%s", cid);
  if (!fake_enter (conn->self->settings, "remove_container", error))
    return FALSE;
  g_autofree char *prefix = g_strdup_printf ("%s/", cid);
  GHashTableIter iter;
  gpointer k;
  g_mutex_lock (&conn->mutex);
  g_hash_table_iter_init (&iter, conn->processes);
  while (g_hash_table_iter_next (&iter, &k, NULL))
    if (g_str_has_prefix (k, prefix))
      g_hash_table_iter_remove (&iter);
  g_cond_broadcast (&conn->cond);
  g_mutex_unlock (&conn->mutex);
  return TRUE;
}

static gboolean
fake_pause_container (VcAgentConn *conn, const char *cid, GError **error)
{
  fake_log (conn->self->settings, "pause_container", "%s", cid);
  return fake_enter (conn->self->settings, "pause_container", error);
}

static gboolean
fake_resume_container (VcAgentConn *conn, const char *cid, GError **error)
{
  fake_log (conn->self->settings, "resume_container", "%s", cid);
  return fake_enter (conn->self->settings, "resume_container", error);
}

static gboolean
fake_exec_process (VcAgentConn *conn, const char *cid, const char *exec_id,
                   const char *process_json, GError **error)
{
  fake_log (conn->self->settings, "exec_process", "%s %s", cid, exec_id);
  if (!fake_enter (conn->self->settings, "exec_process", error))
    return FALSE;
  char **args = args_of (process_json, FALSE, error);
  if (args == NULL)
    return FALSE;
  add_process (conn, cid, exec_id, args);
  g_mutex_lock (&conn->mutex);
  FakeProcess *p = find (conn, cid, exec_id, NULL);
  run_process (conn, p);
  g_mutex_unlock (&conn->mutex);
  return TRUE;
}

static gboolean
fake_signal_process (VcAgentConn *conn, const char *cid, const char *exec_id, int signum,
                     gboolean all, GError **error)
{
  fake_log (conn->self->settings, "signal_process", "%s %s %d all=%d", cid, exec_id, signum, all);
  if (!fake_enter (conn->self->settings, "signal_process", error))
    return FALSE;
  g_mutex_lock (&conn->mutex);
  FakeProcess *p = find (conn, cid, exec_id, error);
  /* Not started yet: TERM and KILL end it, as they end a created
   * container's waiting init. */
  if (p && !p->exited && (p->started || signum == SIGTERM || signum == SIGKILL))
    {
      p->exited = TRUE;
      p->status = 128 + signum;
      g_cond_broadcast (&conn->cond);
    }
  g_mutex_unlock (&conn->mutex);
  return p != NULL;
}

/* Waits on conn->cond (mutex held) for a while; FALSE when the VM is gone. */
static gboolean
wait_a_bit (VcAgentConn *conn)
{
  g_cond_wait_until (&conn->cond, &conn->mutex, g_get_monotonic_time () + 20 * 1000);
  return vm_alive (conn);
}

static gboolean
fake_wait_process (VcAgentConn *conn, const char *cid, const char *exec_id, int *exit_status,
                   GError **error)
{
  fake_log (conn->self->settings, "wait_process", "%s %s", cid, exec_id);
  if (!fake_enter (conn->self->settings, "wait_process", error))
    return FALSE;
  g_mutex_lock (&conn->mutex);
  for (;;)
    {
      FakeProcess *p = find (conn, cid, exec_id, error);
      if (p == NULL)
        break;
      if (p->exited)
        {
          *exit_status = p->status;
          g_mutex_unlock (&conn->mutex);
          return TRUE;
        }
      if (!wait_a_bit (conn))
        {
          vm_gone_error (error);
          break;
        }
    }
  g_mutex_unlock (&conn->mutex);
  return FALSE;
}

static gboolean
fake_write_stdin (VcAgentConn *conn, const char *cid, const char *exec_id, const guint8 *data,
                  gsize len, gsize *written, GError **error)
{
  if (!fake_enter (conn->self->settings, "write_stdin", error))
    return FALSE;
  g_mutex_lock (&conn->mutex);
  FakeProcess *p = find (conn, cid, exec_id, error);
  if (p && strcmp (p->args[0], "cat") == 0 && !p->exited)
    {
      g_byte_array_append (p->out, data, (guint) len);
      g_cond_broadcast (&conn->cond);
    }
  g_mutex_unlock (&conn->mutex);
  *written = len;
  return p != NULL;
}

static gboolean
fake_close_stdin (VcAgentConn *conn, const char *cid, const char *exec_id, GError **error)
{
  fake_log (conn->self->settings, "close_stdin", "%s %s", cid, exec_id);
  if (!fake_enter (conn->self->settings, "close_stdin", error))
    return FALSE;
  g_mutex_lock (&conn->mutex);
  FakeProcess *p = find (conn, cid, exec_id, error);
  if (p && strcmp (p->args[0], "cat") == 0 && !p->exited)
    {
      p->exited = TRUE;
      g_cond_broadcast (&conn->cond);
    }
  g_mutex_unlock (&conn->mutex);
  return p != NULL;
}

static GBytes *
read_stream (VcAgentConn *conn, const char *cid, const char *exec_id, gsize max_len,
             gboolean err_stream, GError **error)
{
  if (!fake_enter (conn->self->settings, err_stream ? "read_stderr" : "read_stdout", error))
    return NULL;
  g_mutex_lock (&conn->mutex);
  for (;;)
    {
      FakeProcess *p = find (conn, cid, exec_id, error);
      if (p == NULL)
        break;
      GByteArray *buf = err_stream ? p->err : p->out;
      if (buf->len > 0)
        {
          gsize n = MIN (max_len, buf->len);
          GBytes *data = g_bytes_new (buf->data, n);
          g_byte_array_remove_range (buf, 0, (guint) n);
          g_mutex_unlock (&conn->mutex);
          return data;
        }
      if (p->exited)
        {
          g_mutex_unlock (&conn->mutex);
          return g_bytes_new (NULL, 0);
        }
      if (!wait_a_bit (conn))
        {
          vm_gone_error (error);
          break;
        }
    }
  g_mutex_unlock (&conn->mutex);
  return NULL;
}

static GBytes *
fake_read_stdout (VcAgentConn *conn, const char *cid, const char *exec_id, gsize max_len,
                  GError **error)
{
  return read_stream (conn, cid, exec_id, max_len, FALSE, error);
}

static GBytes *
fake_read_stderr (VcAgentConn *conn, const char *cid, const char *exec_id, gsize max_len,
                  GError **error)
{
  return read_stream (conn, cid, exec_id, max_len, TRUE, error);
}

static gboolean
fake_tty_win_resize (VcAgentConn *conn, const char *cid, const char *exec_id, guint rows,
                     guint columns, GError **error)
{
  fake_log (conn->self->settings, "tty_win_resize", "%s %s %ux%u", cid, exec_id, rows, columns);
  return fake_enter (conn->self->settings, "tty_win_resize", error);
}

static const VcAgentOps fake_ops = {
  .version = VC_AGENT_OPS_VERSION,
  .size = sizeof (VcAgentOps),
  .connect = fake_connect,
  .disconnect = fake_disconnect,
  .check = fake_check,
  .agent_version = fake_agent_version,
  .create_sandbox = fake_create_sandbox,
  .destroy_sandbox = fake_destroy_sandbox,
  .create_container = fake_create_container,
  .start_container = fake_start_container,
  .remove_container = fake_remove_container,
  .pause_container = fake_pause_container,
  .resume_container = fake_resume_container,
  .exec_process = fake_exec_process,
  .signal_process = fake_signal_process,
  .wait_process = fake_wait_process,
  .write_stdin = fake_write_stdin,
  .close_stdin = fake_close_stdin,
  .read_stdout = fake_read_stdout,
  .read_stderr = fake_read_stderr,
  .tty_win_resize = fake_tty_win_resize,
};

static const VcPluginDescriptor descriptor = {
  .abi_major = VC_ABI_MAJOR,
  .abi_minor = VC_ABI_MINOR,
  .struct_size = sizeof (VcPluginDescriptor),
  .name = "fake-agent",
  .version = "1.0",
  .description = "test-only fake agent",
  .kinds = VC_PLUGIN_KIND_AGENT,
  .settings = settings_spec,
  .create = fake_create,
  .destroy = fake_destroy,
  .agent = &fake_ops,
};

VC_PLUGIN_EXPORT const VcPluginDescriptor *
vc_plugin_descriptor (void)
{
  return &descriptor;
}
