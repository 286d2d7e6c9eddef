/* libvcrun: linux.resources applied to a host cgroup at linux.cgroupsPath
 * that holds the sandbox's own process and, by inheritance, the VMM and its
 * helpers (virtiofsd) it starts afterwards (vc_runtime_enter_host_cgroup in
 * libvcrun.h).
 *
 * cgroupsPath: absolute, below each hierarchy's mount point; relative,
 * below this process's current cgroup; "slice:prefix:name" (systemd's
 * form) maps to the path systemd would use, <slice as a path>/<prefix>-
 * <name>.scope, made through cgroupfs (no D-Bus call to systemd).
 * cgroup v1 (every mounted hierarchy) and the unified v2 hierarchy.
 * Applied: memory (limit, reservation, swap, swappiness, kernel limits where
 * the kernel still has them, disableOOMKiller), cpu (shares, quota, period,
 * realtime), cpuset (cpus, mems), pids. Not applied on the host: devices (the
 * VMM needs its own device nodes; the guest applies them), blkio, hugetlb,
 * network (doc/oci-conformance.md). The same resources reach the guest with
 * the spec. One sandbox per process: the cgroup is process-wide state,
 * released (this process moved back, the directories it made removed) by
 * vc_host_cgroup_release once the VM is gone. */
#include "config.h"

#include "host-cgroup.h"
#include "runtime-private.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <linux/magic.h>
#include <vcrun/types.h>

#define CGROUP_ROOT "/sys/fs/cgroup"

typedef struct {
  char      *mount;      /* the hierarchy's mount point */
  char      *controllers; /* "memory", "cpu,cpuacct", "name=systemd"; NULL for v2 */
  char      *original;   /* this process's cgroup dir before entering */
  char      *dir;        /* the container's cgroup dir */
  GPtrArray *created;    /* dirs made, outermost first */
  GPtrArray *deferred;   /* "file\0value" pairs written by vc_host_cgroup_finish */
} Hierarchy;

static GMutex lock;
static GPtrArray *entered; /* Hierarchy*: while this process is in a host cgroup */

static void
hierarchy_free (Hierarchy *h)
{
  g_free (h->mount);
  g_free (h->controllers);
  g_free (h->original);
  g_free (h->dir);
  if (h->created)
    g_ptr_array_unref (h->created);
  if (h->deferred)
    g_ptr_array_unref (h->deferred);
  g_free (h);
}

static gboolean
has_controller (const Hierarchy *h, const char *name)
{
  if (h->controllers == NULL)
    return TRUE; /* v2: every controller in one tree */
  g_auto(GStrv) list = g_strsplit (h->controllers, ",", -1);
  return g_strv_contains ((const char *const *) list, name);
}

/* "a-b-c.slice" -> "a.slice/a-b.slice/a-b-c.slice" (systemd's nesting). */
static char *
expand_slice (const char *slice, GError **error)
{
  if (!g_str_has_suffix (slice, ".slice") || strchr (slice, '/'))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "linux.cgroupsPath: '%s' is not a systemd slice name", slice);
      return NULL;
    }
  g_autofree char *base = g_strndup (slice, strlen (slice) - strlen (".slice"));
  if (g_str_equal (base, "-"))
    return g_strdup ("");
  g_autoptr(GString) path = g_string_new (NULL);
  g_auto(GStrv) parts = g_strsplit (base, "-", -1);
  g_autoptr(GString) prefix = g_string_new (NULL);
  for (char **p = parts; *p; p++)
    {
      if (**p == '\0')
        {
          g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                       "linux.cgroupsPath: bad slice name '%s'", slice);
          return NULL;
        }
      if (prefix->len)
        g_string_append_c (prefix, '-');
      g_string_append (prefix, *p);
      g_string_append_printf (path, "/%s.slice", prefix->str);
    }
  return g_string_free (g_steal_pointer (&path), FALSE);
}

/* The cgroupsPath as a path, and whether it is relative to our cgroup. */
static char *
resolve_path (const char *cgroups_path, gboolean *relative, GError **error)
{
  *relative = FALSE;
  g_auto(GStrv) parts = g_strsplit (cgroups_path, ":", -1);
  if (cgroups_path[0] != '/' && g_strv_length (parts) == 3)
    {
      const char *slice = *parts[0] ? parts[0] : "system.slice";
      g_autofree char *dir = expand_slice (slice, error);
      if (dir == NULL)
        return NULL;
      if (g_str_has_suffix (parts[2], ".slice"))
        return g_strdup_printf ("%s/%s", dir, parts[2]);
      return g_strdup_printf ("%s/%s%s%s.scope", dir, parts[1], *parts[1] ? "-" : "", parts[2]);
    }
  if (strstr (cgroups_path, "..") != NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "linux.cgroupsPath: '%s' may not contain '..'", cgroups_path);
      return NULL;
    }
  *relative = cgroups_path[0] != '/';
  return g_strdup (cgroups_path);
}

/* This process's cgroup in the hierarchy of h (from /proc/self/cgroup). */
static char *
own_cgroup (const Hierarchy *h)
{
  g_autofree char *text = NULL;
  if (!g_file_get_contents ("/proc/self/cgroup", &text, NULL, NULL))
    return g_strdup ("/");
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  for (char **l = lines; *l; l++)
    {
      g_auto(GStrv) f = g_strsplit (*l, ":", 3);
      if (g_strv_length (f) != 3)
        continue;
      if (h->controllers == NULL ? g_str_equal (f[0], "0") && *f[1] == '\0'
                                 : g_str_equal (f[1], h->controllers))
        return g_strdup (f[2]);
    }
  return g_strdup ("/");
}

static GPtrArray *
find_hierarchies (GError **error)
{
  GPtrArray *list = g_ptr_array_new_with_free_func ((GDestroyNotify) hierarchy_free);
  struct statfs sfs;
  if (statfs (CGROUP_ROOT, &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC)
    {
      Hierarchy *h = g_new0 (Hierarchy, 1);
      h->mount = g_strdup (CGROUP_ROOT);
      g_ptr_array_add (list, h);
      return list;
    }
  g_autofree char *text = NULL;
  if (!g_file_get_contents ("/proc/self/mountinfo", &text, NULL, error))
    {
      g_ptr_array_unref (list);
      return NULL;
    }
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  for (char **l = lines; *l; l++)
    {
      const char *sep = strstr (*l, " - ");
      if (sep == NULL)
        continue;
      g_auto(GStrv) pre = g_strsplit (*l, " ", 6);
      g_auto(GStrv) post = g_strsplit (sep + 3, " ", 3);
      if (g_strv_length (pre) < 5 || g_strv_length (post) < 3 || !g_str_equal (post[0], "cgroup"))
        continue;
      /* the super options: "rw,cpu,cpuacct" */
      g_auto(GStrv) opts = g_strsplit (post[2], ",", -1);
      g_autoptr(GString) controllers = g_string_new (NULL);
      for (char **o = opts; *o; o++)
        if (!g_str_equal (*o, "rw") && !g_str_equal (*o, "ro") && !g_str_has_prefix (*o, "release_agent")
            && !g_str_equal (*o, "clone_children") && !g_str_equal (*o, "noprefix")
            && !g_str_equal (*o, "xattr") && !g_str_equal (*o, "nsdelegate"))
          g_string_append_printf (controllers, "%s%s", controllers->len ? "," : "", *o);
      if (controllers->len == 0)
        continue;
      Hierarchy *h = g_new0 (Hierarchy, 1);
      h->mount = g_strcompress (pre[4]);
      h->controllers = g_string_free (g_steal_pointer (&controllers), FALSE);
      g_ptr_array_add (list, h);
    }
  return list;
}

static gboolean
write_value (const char *dir, const char *file, const char *value, GError **error)
{
  g_autofree char *path = g_build_filename (dir, file, NULL);
  int fd = open (path, O_WRONLY | O_CLOEXEC);
  int saved = 0;
  if (fd < 0)
    saved = errno;
  else
    {
      if (write (fd, value, strlen (value)) < 0)
        saved = errno;
      close (fd);
    }
  if (saved == 0)
    return TRUE;
  g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "host cgroup: cannot write '%s' to %s: %s", value,
               path, g_strerror (saved));
  return FALSE;
}

/* A value the kernel may lack (kernel memory, swap accounting, realtime
 * budgets): a missing file or a refusal is logged, not an error. */
static void
write_optional (const char *dir, const char *file, const char *value)
{
  g_autoptr(GError) error = NULL;
  if (!write_value (dir, file, value, &error))
    g_debug ("%s", error->message);
}

/* mkdir -p below the mount, recording what it made; a v1 cpuset dir gets
 * its parent's cpus and mems (an empty cpuset takes no tasks). */
static gboolean
make_dirs (Hierarchy *h, GError **error)
{
  g_autofree char *rel = g_strdup (h->dir + strlen (h->mount));
  g_auto(GStrv) parts = g_strsplit (rel, "/", -1);
  g_autofree char *path = g_strdup (h->mount);
  h->created = g_ptr_array_new_with_free_func (g_free);
  gboolean cpuset = h->controllers && has_controller (h, "cpuset");
  for (char **p = parts; *p; p++)
    {
      if (**p == '\0')
        continue;
      char *next = g_build_filename (path, *p, NULL);
      g_free (path);
      path = next;
      if (g_mkdir (path, 0755) == 0)
        {
          g_ptr_array_add (h->created, g_strdup (path));
          if (cpuset)
            {
              g_autofree char *parent = g_path_get_dirname (path);
              for (int i = 0; i < 2; i++)
                {
                  const char *file = i ? "cpuset.mems" : "cpuset.cpus";
                  g_autofree char *from = g_build_filename (parent, file, NULL);
                  g_autofree char *value = NULL;
                  if (g_file_get_contents (from, &value, NULL, NULL) && *g_strstrip (value)
                      && !write_value (path, file, value, error))
                    return FALSE;
                }
            }
        }
      else if (errno != EEXIST)
        {
          int saved = errno;
          g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "host cgroup: cannot create %s: %s", path,
                       g_strerror (saved));
          return FALSE;
        }
    }
  return TRUE;
}

static gint64
get_int (JsonObject *o, const char *member, gboolean *present)
{
  JsonNode *n = o ? json_object_get_member (o, member) : NULL;
  *present = n && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_INT64;
  return *present ? json_node_get_int (n) : 0;
}

static JsonObject *
get_object (JsonObject *o, const char *member)
{
  JsonNode *n = o ? json_object_get_member (o, member) : NULL;
  return n && JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
}

/* The CPU quota is written once the VM has booted (vc_host_cgroup_finish):
 * a container's share of a CPU would make the guest's boot under emulation
 * take minutes. Takes value. */
static void
defer (Hierarchy *h, const char *file, char *value)
{
  if (h->deferred == NULL)
    h->deferred = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (h->deferred, g_strdup (file));
  g_ptr_array_add (h->deferred, value);
}

#define SET_INT(dir, file, obj, member, required)                                    \
  G_STMT_START {                                                                   \
    gboolean present_;                                                             \
    gint64 v_ = get_int (obj, member, &present_);                                   \
    g_autofree char *s_ = g_strdup_printf ("%" G_GINT64_FORMAT, v_);               \
    if (present_ && required && !write_value (dir, file, s_, error))               \
      return FALSE;                                                                \
    if (present_ && !required)                                                     \
      write_optional (dir, file, s_);                                              \
  } G_STMT_END

static gboolean
apply_v1 (Hierarchy *h, JsonObject *res, GError **error)
{
  const char *d = h->dir;
  JsonObject *mem = get_object (res, "memory"), *cpu = get_object (res, "cpu");
  JsonObject *pids = get_object (res, "pids");
  gboolean present;
  if (has_controller (h, "memory") && mem)
    {
      SET_INT (d, "memory.limit_in_bytes", mem, "limit", TRUE);
      SET_INT (d, "memory.soft_limit_in_bytes", mem, "reservation", TRUE);
      SET_INT (d, "memory.memsw.limit_in_bytes", mem, "swap", FALSE);
      SET_INT (d, "memory.kmem.limit_in_bytes", mem, "kernel", FALSE);
      SET_INT (d, "memory.kmem.tcp.limit_in_bytes", mem, "kernelTCP", FALSE);
      SET_INT (d, "memory.swappiness", mem, "swappiness", FALSE);
      JsonNode *oom = json_object_get_member (mem, "disableOOMKiller");
      if (oom && JSON_NODE_HOLDS_VALUE (oom) && json_node_get_boolean (oom)
          && !write_value (d, "memory.oom_control", "1", error))
        return FALSE;
    }
  if (has_controller (h, "cpu") && cpu)
    {
      SET_INT (d, "cpu.shares", cpu, "shares", TRUE);
      SET_INT (d, "cpu.cfs_period_us", cpu, "period", TRUE);
      gint64 quota = get_int (cpu, "quota", &present);
      if (present)
        defer (h, "cpu.cfs_quota_us", g_strdup_printf ("%" G_GINT64_FORMAT, quota));
      SET_INT (d, "cpu.rt_period_us", cpu, "realtimePeriod", FALSE);
      SET_INT (d, "cpu.rt_runtime_us", cpu, "realtimeRuntime", FALSE);
    }
  if (has_controller (h, "cpuset") && cpu)
    {
      const char *cpus = json_object_get_string_member_with_default (cpu, "cpus", NULL);
      const char *mems = json_object_get_string_member_with_default (cpu, "mems", NULL);
      if (cpus && *cpus && !write_value (d, "cpuset.cpus", cpus, error))
        return FALSE;
      if (mems && *mems && !write_value (d, "cpuset.mems", mems, error))
        return FALSE;
    }
  if (has_controller (h, "pids") && pids)
    {
      gint64 limit = get_int (pids, "limit", &present);
      g_autofree char *v = limit > 0 ? g_strdup_printf ("%" G_GINT64_FORMAT, limit) : g_strdup ("max");
      if (present && !write_value (d, "pids.max", v, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
apply_v2 (Hierarchy *h, JsonObject *res, GError **error)
{
  const char *d = h->dir;
  JsonObject *mem = get_object (res, "memory"), *cpu = get_object (res, "cpu");
  JsonObject *pids = get_object (res, "pids");
  gboolean present, has_period;
  /* the controllers must be enabled from the root down to the parent */
  g_autofree char *rel = g_strdup (h->dir + strlen (h->mount));
  g_auto(GStrv) parts = g_strsplit (rel, "/", -1);
  g_autofree char *ancestor = g_strdup (h->mount);
  for (char **p = parts; *p; p++)
    {
      if (**p == '\0')
        continue;
      write_optional (ancestor, "cgroup.subtree_control", "+cpu +cpuset +memory +pids");
      char *next = g_build_filename (ancestor, *p, NULL);
      g_free (ancestor);
      ancestor = next;
    }
  if (mem)
    {
      gint64 limit = get_int (mem, "limit", &present);
      g_autofree char *v = limit > 0 ? g_strdup_printf ("%" G_GINT64_FORMAT, limit) : g_strdup ("max");
      if (present && !write_value (d, "memory.max", v, error))
        return FALSE;
      gint64 low = get_int (mem, "reservation", &present);
      g_autofree char *lv = g_strdup_printf ("%" G_GINT64_FORMAT, low);
      if (present && low > 0 && !write_value (d, "memory.low", lv, error))
        return FALSE;
      gint64 swap = get_int (mem, "swap", &present);
      g_autofree char *sv = swap > 0 && limit > 0 && swap >= limit
                            ? g_strdup_printf ("%" G_GINT64_FORMAT, swap - limit) : g_strdup ("max");
      if (present)
        write_optional (d, "memory.swap.max", sv);
    }
  if (cpu)
    {
      gint64 shares = get_int (cpu, "shares", &present);
      g_autofree char *w = g_strdup_printf ("%" G_GINT64_FORMAT, 1 + ((shares - 2) * 9999) / 262142);
      if (present && shares >= 2 && !write_value (d, "cpu.weight", w, error))
        return FALSE;
      gint64 quota = get_int (cpu, "quota", &present);
      gint64 period = get_int (cpu, "period", &has_period);
      g_autofree char *max = g_strdup_printf ("%" G_GINT64_FORMAT " %" G_GINT64_FORMAT, quota,
                                              has_period ? period : 100000);
      if (present && quota > 0)
        defer (h, "cpu.max", g_steal_pointer (&max));
      const char *cpus = json_object_get_string_member_with_default (cpu, "cpus", NULL);
      const char *mems = json_object_get_string_member_with_default (cpu, "mems", NULL);
      if (cpus && *cpus && !write_value (d, "cpuset.cpus", cpus, error))
        return FALSE;
      if (mems && *mems && !write_value (d, "cpuset.mems", mems, error))
        return FALSE;
    }
  if (pids)
    {
      gint64 limit = get_int (pids, "limit", &present);
      g_autofree char *v = limit > 0 ? g_strdup_printf ("%" G_GINT64_FORMAT, limit) : g_strdup ("max");
      if (present && !write_value (d, "pids.max", v, error))
        return FALSE;
    }
  return TRUE;
}

static void
leave (GPtrArray *list)
{
  g_autofree char *pid = g_strdup_printf ("%d", (int) getpid ());
  for (guint i = 0; i < list->len; i++)
    {
      Hierarchy *h = list->pdata[i];
      if (h->original)
        write_optional (h->original, "cgroup.procs", pid);
      for (guint j = h->created ? h->created->len : 0; j > 0; j--)
        if (g_rmdir (h->created->pdata[j - 1]) != 0 && errno != ENOENT)
          g_debug ("host cgroup: cannot remove %s: %s", (char *) h->created->pdata[j - 1],
                   g_strerror (errno));
    }
}

gboolean
vc_runtime_enter_host_cgroup (VcRuntime *runtime, const char *bundle, GError **error)
{
  g_autofree char *config = g_build_filename (bundle, "config.json", NULL);
  g_autoptr(JsonParser) parser = json_parser_new ();
  if (!json_parser_load_from_file (parser, config, error))
    return FALSE;
  JsonNode *root = json_parser_get_root (parser);
  JsonObject *linux_ = root && JSON_NODE_HOLDS_OBJECT (root)
                       ? get_object (json_node_get_object (root), "linux") : NULL;
  JsonObject *res = get_object (linux_, "resources");
  const char *cgroups_path = linux_ ? json_object_get_string_member_with_default (linux_, "cgroupsPath", NULL)
                                    : NULL;
  if (cgroups_path == NULL || *cgroups_path == '\0')
    return TRUE;

  gboolean present;
  gint64 limit = get_int (get_object (res, "memory"), "limit", &present);
  guint64 vm_bytes = vc_runtime_get_config (runtime)->sandbox.memory_mib * 1024 * 1024;
  if (present && limit > 0 && (guint64) limit < vm_bytes)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "%s: linux.resources.memory.limit: %" G_GINT64_FORMAT " bytes is below the VM's "
                   "own memory (%" G_GUINT64_FORMAT " MiB, sandbox.memory_mib): the VM cannot run "
                   "within it", config, limit, vm_bytes / 1024 / 1024);
      return FALSE;
    }

  /* What the host cgroup does not apply is refused, not dropped. */
  static const char *const unsupported[] = { "blockIO", "hugepageLimits", "network" };
  for (gsize i = 0; i < G_N_ELEMENTS (unsupported); i++)
    {
      JsonNode *n = res ? json_object_get_member (res, unsupported[i]) : NULL;
      gboolean empty = n == NULL || JSON_NODE_HOLDS_NULL (n)
                       || (JSON_NODE_HOLDS_OBJECT (n) && json_object_get_size (json_node_get_object (n)) == 0)
                       || (JSON_NODE_HOLDS_ARRAY (n) && json_array_get_length (json_node_get_array (n)) == 0);
      if (!empty)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                       "%s: linux.resources.%s: not supported by vcrun (the VMM's host cgroup gets "
                       "memory, cpu, cpuset and pids limits only)", config, unsupported[i]);
          return FALSE;
        }
    }

  gboolean relative;
  g_autofree char *path = resolve_path (cgroups_path, &relative, error);
  if (path == NULL)
    return FALSE;
  g_autoptr(GPtrArray) list = find_hierarchies (error);
  if (list == NULL)
    return FALSE;
  g_mutex_lock (&lock);
  gboolean busy = entered != NULL;
  g_mutex_unlock (&lock);
  if (busy)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_BUSY, "host cgroup: this process is in one already");
      return FALSE;
    }
  g_autofree char *pid = g_strdup_printf ("%d", (int) getpid ());
  for (guint i = 0; i < list->len; i++)
    {
      Hierarchy *h = list->pdata[i];
      g_autofree char *own = own_cgroup (h);
      h->original = g_build_filename (h->mount, own, NULL);
      h->dir = relative ? g_build_filename (h->original, path, NULL) : g_build_filename (h->mount, path, NULL);
      if (!make_dirs (h, error)
          || !(h->controllers ? apply_v1 (h, res, error) : apply_v2 (h, res, error))
          || !write_value (h->dir, "cgroup.procs", pid, error))
        {
          leave (list);
          return FALSE;
        }
    }
  g_mutex_lock (&lock);
  entered = g_steal_pointer (&list);
  g_mutex_unlock (&lock);
  return TRUE;
}

void
vc_host_cgroup_release (void)
{
  g_mutex_lock (&lock);
  GPtrArray *list = g_steal_pointer (&entered);
  g_mutex_unlock (&lock);
  if (list == NULL)
    return;
  leave (list);
  g_ptr_array_unref (list);
}

gboolean
vc_host_cgroup_finish (GError **error)
{
  g_mutex_lock (&lock);
  gboolean ok = TRUE;
  for (guint i = 0; ok && entered && i < entered->len; i++)
    {
      Hierarchy *h = entered->pdata[i];
      for (guint j = 0; ok && h->deferred && j + 1 < h->deferred->len; j += 2)
        ok = write_value (h->dir, h->deferred->pdata[j], h->deferred->pdata[j + 1], error);
      if (ok && h->deferred)
        g_ptr_array_set_size (h->deferred, 0);
    }
  g_mutex_unlock (&lock);
  return ok;
}

GArray *
vc_host_cgroup_pids (void)
{
  g_mutex_lock (&lock);
  g_autofree char *procs = entered && entered->len > 0
                           ? g_build_filename (((Hierarchy *) entered->pdata[0])->dir, "cgroup.procs", NULL)
                           : NULL;
  g_mutex_unlock (&lock);
  g_autofree char *text = NULL;
  if (procs == NULL || !g_file_get_contents (procs, &text, NULL, NULL))
    return NULL;
  GArray *pids = g_array_new (FALSE, FALSE, sizeof (gint));
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  for (char **l = lines; *l; l++)
    {
      gint64 pid = g_ascii_strtoll (*l, NULL, 10);
      if (pid > 0 && pid <= G_MAXINT)
        {
          gint p = (gint) pid;
          g_array_append_val (pids, p);
        }
    }
  return pids;
}
