/* libvcrun: a running container's resources. An OCI LinuxResources update
 * becomes vCPU and memory hotplug of the sandbox's VM (the VM must hold what
 * the container may use) plus the in-guest cgroup (agent UpdateContainer);
 * stats are the agent's cgroup figures plus the VMM's own on the host. */
#include "config.h"

#include "container-impl.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#define MIB (G_GUINT64_CONSTANT (1024) * 1024)

typedef struct {
  guint   vcpus;       /* 0: no CPU change asked */
  guint64 memory_mib;  /* 0: no memory change asked */
} Wanted;

static gboolean
bad (const char *field, const char *what, GError **error)
{
  g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "resources: %s: %s", field, what);
  return FALSE;
}

static gboolean
member_int (JsonObject *o, const char *name, const char *field, gint64 *out, GError **error)
{
  JsonNode *n = json_object_get_member (o, name);
  if (n == NULL || JSON_NODE_HOLDS_NULL (n))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64)
    return bad (field, "must be an integer", error);
  *out = json_node_get_int (n);
  return TRUE;
}

/* CPUs named by a cpuset list ("0-3,6"). */
static gboolean
count_cpuset (const char *list, guint *count, GError **error)
{
  g_auto(GStrv) parts = g_strsplit (list, ",", -1);
  guint n = 0;
  for (char **p = parts; *p; p++)
    {
      guint64 a, b;
      char *end;
      a = g_ascii_strtoull (*p, &end, 10);
      if (end == *p)
        return bad ("cpu.cpus", "not a cpuset list such as \"0-1,3\"", error);
      b = a;
      if (*end == '-')
        {
          const char *start = end + 1;
          b = g_ascii_strtoull (start, &end, 10);
          if (end == start || b < a)
            return bad ("cpu.cpus", "not a cpuset list such as \"0-1,3\"", error);
        }
      if (*end != '\0' || b > 4095)
        return bad ("cpu.cpus", "not a cpuset list such as \"0-1,3\"", error);
      n += (guint) (b - a + 1);
    }
  *count = n;
  return TRUE;
}

/* What the VM must hold for resources_json (a LinuxResources object). */
static gboolean
parse_wanted (const char *resources_json, Wanted *w, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) local = NULL;
  if (!json_parser_load_from_data (parser, resources_json, -1, &local))
    return bad ("JSON", local->message, error);
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return bad ("JSON", "not an object (an OCI LinuxResources)", error);
  JsonObject *o = json_node_get_object (root);
  *w = (Wanted) { 0 };

  JsonNode *cpu = json_object_get_member (o, "cpu");
  if (cpu != NULL && JSON_NODE_HOLDS_OBJECT (cpu))
    {
      JsonObject *c = json_node_get_object (cpu);
      gint64 quota = 0, period = 0;
      if (!member_int (c, "quota", "cpu.quota", &quota, error)
          || !member_int (c, "period", "cpu.period", &period, error))
        return FALSE;
      if (period < 0)
        return bad ("cpu.period", "must not be negative", error);
      if (quota > 0)
        {
          if (period == 0)
            period = 100000;  /* the kernel's default */
          w->vcpus = (guint) MIN ((quota + period - 1) / period, G_MAXUINT);
        }
      JsonNode *cpus = json_object_get_member (c, "cpus");
      if (cpus != NULL && JSON_NODE_HOLDS_VALUE (cpus)
          && json_node_get_value_type (cpus) == G_TYPE_STRING && *json_node_get_string (cpus))
        {
          guint n;
          if (!count_cpuset (json_node_get_string (cpus), &n, error))
            return FALSE;
          w->vcpus = MAX (w->vcpus, n);
        }
    }
  else if (cpu != NULL && !JSON_NODE_HOLDS_NULL (cpu))
    return bad ("cpu", "must be an object", error);

  JsonNode *memory = json_object_get_member (o, "memory");
  if (memory != NULL && JSON_NODE_HOLDS_OBJECT (memory))
    {
      gint64 limit = 0;
      if (!member_int (json_node_get_object (memory), "limit", "memory.limit", &limit, error))
        return FALSE;
      if (limit > 0)
        w->memory_mib = ((guint64) limit + MIB - 1) / MIB;
    }
  else if (memory != NULL && !JSON_NODE_HOLDS_NULL (memory))
    return bad ("memory", "must be an object", error);
  return TRUE;
}

gboolean
vc_container_update (VcContainer *c, const char *resources_json, char **notes, GError **error)
{
  Wanted want;
  if (!parse_wanted (resources_json, &want, error))
    return FALSE;
  VcSandbox *sb = c->sandbox;
  VcSandboxOp op;
  if (!vc_sandbox_op_begin (sb, &op, error))
    return FALSE;
  gboolean ok = FALSE;
  g_autoptr(GString) said = g_string_new (NULL);
  g_autoptr(VcAgentRef) agent = NULL;

  if (!vc_container_require_state (c, CMASK (VC_CONTAINER_CREATED) | CMASK (VC_CONTAINER_RUNNING)
                                         | CMASK (VC_CONTAINER_PAUSED), error))
    goto out;
  VcSandboxRecord *r = vc_sandbox_lock_record (sb);
  guint vcpus = r->vcpus, max_vcpus = MAX (r->max_vcpus, r->vcpus);
  guint64 memory = r->memory_mib, max_memory = MAX (r->max_memory_mib, r->memory_mib);
  vc_sandbox_unlock_record (sb);

  /* Everything is checked before anything changes. */
  if (want.vcpus > max_vcpus)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "container %s: resources: cpu asks for %u vCPUs, beyond the sandbox's max_vcpus (%u)",
                   c->id, want.vcpus, max_vcpus);
      goto out;
    }
  if (want.memory_mib > max_memory)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "container %s: resources: memory.limit is %" G_GUINT64_FORMAT " MiB, beyond the "
                   "sandbox's max_memory_mib (%" G_GUINT64_FORMAT ")", c->id, want.memory_mib, max_memory);
      goto out;
    }
  agent = vc_sandbox_get_agent (sb, TRUE, error);
  if (agent == NULL)
    goto out;
  if (agent->ops->update_container == NULL)
    {
      vc_container_unsupported ("update_container", error);
      goto out;
    }

  guint new_vcpus = vcpus;
  guint64 new_memory = memory;
  guint want_vcpus = want.vcpus > 0 && want.vcpus != vcpus ? want.vcpus : 0;
  guint64 want_memory = want.memory_mib > memory ? want.memory_mib : 0;
  if (want.memory_mib > 0 && want.memory_mib < memory)
    g_string_append_printf (said, "memory: the VM keeps its %" G_GUINT64_FORMAT " MiB (guest memory "
                            "is never unplugged); the container's limit is %" G_GUINT64_FORMAT " MiB\n",
                            memory, want.memory_mib);
  if ((want_vcpus > 0 || want_memory > 0)
      && !vc_sandbox_resize_vm (sb, want_vcpus, want_memory, &new_vcpus, &new_memory, error))
    goto out;
  if (want_vcpus > 0 && new_vcpus != want_vcpus)
    g_string_append_printf (said, "cpu: the VM has %u vCPUs, not the %u asked\n", new_vcpus, want_vcpus);
  if ((want_vcpus > 0 && new_vcpus > vcpus) || want_memory > 0)
    {
      g_autoptr(GError) local = NULL;
      if (agent->ops->online_cpu_mem == NULL)
        g_string_append (said, "the agent cannot online new vCPUs or memory\n");
      else if (!agent->ops->online_cpu_mem (agent->conn, new_vcpus, want_memory == 0, &local))
        {
          g_propagate_prefixed_error (error, g_steal_pointer (&local),
                                      "container %s: agent online_cpu_mem: ", c->id);
          goto out;
        }
    }
  if (!agent->ops->update_container (agent->conn, c->id, resources_json, error))
    {
      g_prefix_error (error, "container %s: agent update_container: ", c->id);
      goto out;
    }
  r = vc_sandbox_lock_record (sb);
  r->vcpus = new_vcpus;
  r->memory_mib = new_memory;
  vc_sandbox_unlock_record (sb);
  vc_sandbox_queue_notify (sb, NULL);
  ok = vc_sandbox_op_save (&op, error);

out:
  vc_sandbox_op_end (&op);
  if (ok && notes != NULL)
    *notes = said->len > 0 ? g_strdup (said->str) : NULL;
  return ok;
}

/* ---- stats ------------------------------------------------------------- */

/* utime + stime of pid in ns, and its RSS in bytes, from /proc. */
static gboolean
host_usage (gint pid, guint64 *cpu_ns, guint64 *rss_bytes)
{
  g_autofree char *stat_path = g_strdup_printf ("/proc/%d/stat", pid);
  g_autofree char *text = NULL;
  if (!g_file_get_contents (stat_path, &text, NULL, NULL))
    return FALSE;
  const char *paren = strrchr (text, ')');
  if (paren == NULL)
    return FALSE;
  g_auto(GStrv) fields = g_strsplit (paren + 2, " ", -1);
  /* after "pid (comm) ": state is field 0, utime 11, stime 12, rss 21 (pages) */
  if (g_strv_length (fields) < 22)
    return FALSE;
  long ticks = sysconf (_SC_CLK_TCK);
  guint64 t = g_ascii_strtoull (fields[11], NULL, 10) + g_ascii_strtoull (fields[12], NULL, 10);
  *cpu_ns = ticks > 0 ? t * (G_GUINT64_CONSTANT (1000000000) / (guint64) ticks) : 0;
  *rss_bytes = g_ascii_strtoull (fields[21], NULL, 10) * (guint64) sysconf (_SC_PAGESIZE);
  return TRUE;
}

static void
set_uint (JsonObject *o, const char *name, guint64 v)
{
  json_object_set_int_member (o, name, (gint64) MIN (v, (guint64) G_MAXINT64));
}

static JsonObject *
child (JsonObject *parent, const char *name)
{
  JsonObject *o = json_object_new ();
  json_object_set_object_member (parent, name, o);
  return o;
}

JsonObject *
vc_container_stats (VcContainer *c, GError **error)
{
  VcSandbox *sb = c->sandbox;
  if (!vc_container_require_state (c, CMASK (VC_CONTAINER_CREATED) | CMASK (VC_CONTAINER_RUNNING)
                                         | CMASK (VC_CONTAINER_PAUSED), error))
    return NULL;
  g_autoptr(VcAgentRef) agent = vc_sandbox_get_agent (sb, FALSE, error);
  if (agent == NULL)
    return NULL;
  if (agent->ops->stats_container == NULL)
    {
      vc_container_unsupported ("stats_container", error);
      return NULL;
    }
  VcContainerStats st = { .struct_size = sizeof st };
  if (!agent->ops->stats_container (agent->conn, c->id, &st, error))
    {
      g_prefix_error (error, "container %s: agent stats_container: ", c->id);
      return NULL;
    }

  /* runc's events --stats "data" object, plus the VMM's figures. */
  JsonObject *data = json_object_new ();
  set_uint (child (child (data, "cpu"), "usage"), "total", st.cpu_usage_ns);
  JsonObject *mem_usage = child (child (data, "memory"), "usage");
  set_uint (mem_usage, "usage", st.memory_usage_bytes);
  set_uint (mem_usage, "limit", st.memory_limit_bytes);
  set_uint (child (data, "pids"), "current", st.pids_current);
  JsonArray *io = json_array_new ();
  const struct { const char *op; guint64 value; } ios[] = {
    { "Read", st.blkio_read_bytes }, { "Write", st.blkio_write_bytes },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (ios); i++)
    {
      JsonObject *e = json_object_new ();
      json_object_set_string_member (e, "op", ios[i].op);
      set_uint (e, "value", ios[i].value);
      json_array_add_object_element (io, e);
    }
  json_object_set_array_member (child (data, "blkio"), "ioServiceBytesRecursive", io);
  JsonObject *net = child (data, "network");
  set_uint (net, "rx_bytes", st.net_rx_bytes);
  set_uint (net, "tx_bytes", st.net_tx_bytes);

  /* The VM's vCPUs and helpers run on the host: their cost is the sandbox's. */
  VcSandboxOp op;
  if (vc_sandbox_op_begin (sb, &op, NULL))
    {
      g_autoptr(GError) local = NULL;
      g_autoptr(GArray) pids = vc_sandbox_vm_pids (sb, &local);
      vc_sandbox_op_end (&op);
      JsonObject *vmm = child (data, "vmm");
      guint64 cpu_total = 0, rss_total = 0;
      for (guint i = 0; pids != NULL && i < pids->len; i++)
        {
          guint64 cpu_ns = 0, rss = 0;
          if (host_usage (g_array_index (pids, gint, i), &cpu_ns, &rss))
            {
              cpu_total += cpu_ns;
              rss_total += rss;
            }
        }
      if (pids != NULL && pids->len > 0)
        json_object_set_int_member (vmm, "pid", g_array_index (pids, gint, 0));
      set_uint (vmm, "cpu_time_ns", cpu_total);
      set_uint (vmm, "rss_bytes", rss_total);
    }
  return data;
}
