/* libvcrun internal: the state records and their JSON (sandbox.json); the
 * files themselves are in state-files.c. */
#include "config.h"

#include "state.h"

#include <string.h>

#include <json-glib/json-glib.h>

/* ---- names ------------------------------------------------------------- */

static const char *const sandbox_state_names[] = {
  [VC_SANDBOX_READY] = "ready",
  [VC_SANDBOX_RUNNING] = "running",
  [VC_SANDBOX_PAUSED] = "paused",
  [VC_SANDBOX_STOPPED] = "stopped",
};

static const char *const container_state_names[] = {
  [VC_CONTAINER_CREATED] = "created",
  [VC_CONTAINER_RUNNING] = "running",
  [VC_CONTAINER_PAUSED] = "paused",
  [VC_CONTAINER_STOPPED] = "stopped",
};

const char *
vc_sandbox_state_to_string (VcSandboxState state)
{
  if (state >= VC_SANDBOX_READY && state <= VC_SANDBOX_STOPPED)
    return sandbox_state_names[state];
  return "unknown";
}

const char *
vc_container_state_to_string (VcContainerState state)
{
  if (state >= VC_CONTAINER_CREATED && state <= VC_CONTAINER_STOPPED)
    return container_state_names[state];
  return "unknown";
}

gboolean
vc_sandbox_state_from_string (const char *name, VcSandboxState *out)
{
  for (int s = VC_SANDBOX_READY; s <= VC_SANDBOX_STOPPED; s++)
    if (g_strcmp0 (name, sandbox_state_names[s]) == 0)
      {
        *out = s;
        return TRUE;
      }
  return FALSE;
}

gboolean
vc_container_state_from_string (const char *name, VcContainerState *out)
{
  for (int s = VC_CONTAINER_CREATED; s <= VC_CONTAINER_STOPPED; s++)
    if (g_strcmp0 (name, container_state_names[s]) == 0)
      {
        *out = s;
        return TRUE;
      }
  return FALSE;
}

/* ---- records ----------------------------------------------------------- */

VcContainerRecord *
vc_container_record_new (const char *id)
{
  VcContainerRecord *r = g_new0 (VcContainerRecord, 1);
  r->id = g_strdup (id);
  r->state = VC_CONTAINER_CREATED;
  r->exit_status = -1;
  return r;
}

VcContainerRecord *
vc_container_record_copy (const VcContainerRecord *record)
{
  VcContainerRecord *r = g_new (VcContainerRecord, 1);
  *r = *record;
  r->id = g_strdup (record->id);
  r->bundle = g_strdup (record->bundle);
  r->rootfs = g_strdup (record->rootfs);
  r->devices = g_strdupv (record->devices);
  return r;
}

void
vc_container_record_free (VcContainerRecord *record)
{
  if (record == NULL)
    return;
  g_free (record->id);
  g_free (record->bundle);
  g_free (record->rootfs);
  g_strfreev (record->devices);
  g_free (record);
}

VcSandboxRecord *
vc_sandbox_record_new (const char *id)
{
  VcSandboxRecord *r = g_new0 (VcSandboxRecord, 1);
  r->id = g_strdup (id);
  r->state = VC_SANDBOX_READY;
  r->containers = g_ptr_array_new_with_free_func ((GDestroyNotify) vc_container_record_free);
  return r;
}

VcSandboxRecord *
vc_sandbox_record_copy (const VcSandboxRecord *record)
{
  VcSandboxRecord *r = g_new (VcSandboxRecord, 1);
  *r = *record;
  r->id = g_strdup (record->id);
  r->reason = g_strdup (record->reason);
  r->hypervisor = g_strdup (record->hypervisor);
  r->agent = g_strdup (record->agent);
  r->fs = g_strdup (record->fs);
  r->kernel = g_strdup (record->kernel);
  r->initrd = g_strdup (record->initrd);
  r->kernel_params = g_strdup (record->kernel_params);
  r->hostname = g_strdup (record->hostname);
  r->hypervisor_state = g_strdup (record->hypervisor_state);
  r->fs_state = g_strdup (record->fs_state);
  r->cold_container = g_strdup (record->cold_container);
  r->cold_devices = g_strdupv (record->cold_devices);
  r->containers = g_ptr_array_new_with_free_func ((GDestroyNotify) vc_container_record_free);
  for (guint i = 0; i < record->containers->len; i++)
    g_ptr_array_add (r->containers, vc_container_record_copy (record->containers->pdata[i]));
  return r;
}

void
vc_sandbox_record_free (VcSandboxRecord *record)
{
  if (record == NULL)
    return;
  g_free (record->id);
  g_free (record->reason);
  g_free (record->hypervisor);
  g_free (record->agent);
  g_free (record->fs);
  g_free (record->kernel);
  g_free (record->initrd);
  g_free (record->kernel_params);
  g_free (record->hostname);
  g_free (record->hypervisor_state);
  g_free (record->fs_state);
  g_free (record->cold_container);
  g_strfreev (record->cold_devices);
  g_ptr_array_unref (record->containers);
  g_free (record);
}

VcContainerRecord *
vc_sandbox_record_find (const VcSandboxRecord *record, const char *id, guint *index)
{
  for (guint i = 0; i < record->containers->len; i++)
    {
      VcContainerRecord *c = record->containers->pdata[i];
      if (g_strcmp0 (c->id, id) == 0)
        {
          if (index)
            *index = i;
          return c;
        }
    }
  return NULL;
}

/* ---- serialising ------------------------------------------------------- */

static void
add_int (JsonBuilder *b, const char *name, gint64 value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_int_value (b, value);
}

static void
add_string_or_null (JsonBuilder *b, const char *name, const char *value)
{
  json_builder_set_member_name (b, name);
  if (value)
    json_builder_add_string_value (b, value);
  else
    json_builder_add_null_value (b);
}

/* A plugin's saved state is a JSON object text; it is embedded as an object
 * so the file stays readable, or as a string if it is not JSON. */
static void
add_plugin_state (JsonBuilder *b, const char *name, const char *text)
{
  json_builder_set_member_name (b, name);
  if (text == NULL)
    {
      json_builder_add_null_value (b);
      return;
    }
  JsonNode *node = json_from_string (text, NULL);
  if (node && JSON_NODE_HOLDS_OBJECT (node))
    json_builder_add_value (b, node);
  else
    {
      if (node)
        json_node_unref (node);
      json_builder_add_string_value (b, text);
    }
}

char *
vc_state_to_json (const VcSandboxRecord *r)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  add_int (b, "version", VC_STATE_VERSION);
  add_string_or_null (b, "id", r->id);
  add_string_or_null (b, "state", vc_sandbox_state_to_string (r->state));
  add_string_or_null (b, "reason", r->reason);
  add_int (b, "created", r->created);
  add_int (b, "owner_uid", r->owner_uid);
  add_int (b, "owner_pid", r->owner_pid);

  json_builder_set_member_name (b, "plugins");
  json_builder_begin_object (b);
  add_string_or_null (b, "hypervisor", r->hypervisor);
  add_string_or_null (b, "agent", r->agent);
  add_string_or_null (b, "fs", r->fs);
  json_builder_end_object (b);

  json_builder_set_member_name (b, "vm");
  json_builder_begin_object (b);
  add_int (b, "vcpus", r->vcpus);
  add_int (b, "max_vcpus", r->max_vcpus);
  add_int (b, "memory_mib", (gint64) r->memory_mib);
  add_int (b, "max_memory_mib", (gint64) r->max_memory_mib);
  add_string_or_null (b, "kernel", r->kernel);
  add_string_or_null (b, "initrd", r->initrd);
  add_string_or_null (b, "kernel_params", r->kernel_params);
  add_string_or_null (b, "hostname", r->hostname);
  json_builder_end_object (b);

  add_plugin_state (b, "hypervisor_state", r->hypervisor_state);
  add_plugin_state (b, "fs_state", r->fs_state);

  json_builder_set_member_name (b, "containers");
  json_builder_begin_array (b);
  for (guint i = 0; i < r->containers->len; i++)
    {
      const VcContainerRecord *c = r->containers->pdata[i];
      json_builder_begin_object (b);
      add_string_or_null (b, "id", c->id);
      add_string_or_null (b, "state", vc_container_state_to_string (c->state));
      add_string_or_null (b, "bundle", c->bundle);
      add_string_or_null (b, "rootfs", c->rootfs);
      json_builder_set_member_name (b, "terminal");
      json_builder_add_boolean_value (b, c->terminal);
      add_int (b, "created", c->created);
      add_int (b, "pid", c->pid);
      json_builder_set_member_name (b, "exit_status");
      if (c->exit_status >= 0)
        json_builder_add_int_value (b, c->exit_status);
      else
        json_builder_add_null_value (b);
      if (c->devices != NULL)
        {
          json_builder_set_member_name (b, "devices");
          json_builder_begin_array (b);
          for (char **d = c->devices; *d; d++)
            json_builder_add_string_value (b, *d);
          json_builder_end_array (b);
        }
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  if (r->cold_container != NULL && r->cold_devices != NULL)
    {
      json_builder_set_member_name (b, "cold_plugged");
      json_builder_begin_object (b);
      add_string_or_null (b, "container", r->cold_container);
      json_builder_set_member_name (b, "devices");
      json_builder_begin_array (b);
      for (char **d = r->cold_devices; *d; d++)
        json_builder_add_string_value (b, *d);
      json_builder_end_array (b);
      json_builder_end_object (b);
    }
  json_builder_end_object (b);

  g_autoptr(JsonNode) root = json_builder_get_root (b);
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  json_generator_set_pretty (gen, TRUE);
  json_generator_set_root (gen, root);
  char *text = json_generator_to_data (gen, NULL);
  char *with_newline = g_strconcat (text, "\n", NULL);
  g_free (text);
  return with_newline;
}

/* ---- parsing ----------------------------------------------------------- */

typedef struct {
  const char *origin;
  const char *prefix;   /* "" or "containers[2]." */
} Where;

static gboolean parse_cold_plugged (JsonObject *o, const Where *w, VcSandboxRecord *r,
                                    GError **error);

static gboolean
bad_field (const Where *w, const char *field, const char *what, GError **error)
{
  g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "%s: field %s%s: %s",
               w->origin, w->prefix, field, what);
  return FALSE;
}

/* Reads an optional string (absent or null: NULL) or a required one. */
static gboolean
get_string (JsonObject *o, const Where *w, const char *field, gboolean required,
            char **out, GError **error)
{
  JsonNode *n = json_object_get_member (o, field);
  if (n == NULL || JSON_NODE_HOLDS_NULL (n))
    {
      if (required)
        return bad_field (w, field, "missing", error);
      *out = NULL;
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
    return bad_field (w, field, "must be a string", error);
  *out = g_strdup (json_node_get_string (n));
  return TRUE;
}

static gboolean
get_int (JsonObject *o, const Where *w, const char *field, gint64 min, gint64 max,
         gint64 *out, GError **error)
{
  JsonNode *n = json_object_get_member (o, field);
  if (n == NULL || JSON_NODE_HOLDS_NULL (n))
    {
      *out = 0;
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64)
    return bad_field (w, field, "must be an integer", error);
  gint64 v = json_node_get_int (n);
  if (v < min || v > max)
    return bad_field (w, field, "out of range", error);
  *out = v;
  return TRUE;
}

/* A plugin state: an object (kept as its JSON text), a string, or null. */
static gboolean
get_plugin_state (JsonObject *o, const Where *w, const char *field, char **out, GError **error)
{
  JsonNode *n = json_object_get_member (o, field);
  *out = NULL;
  if (n == NULL || JSON_NODE_HOLDS_NULL (n))
    return TRUE;
  if (JSON_NODE_HOLDS_OBJECT (n))
    {
      *out = json_to_string (n, FALSE);
      return TRUE;
    }
  if (JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING)
    {
      *out = g_strdup (json_node_get_string (n));
      return TRUE;
    }
  return bad_field (w, field, "must be an object, a string or null", error);
}

static VcContainerRecord *
parse_container (JsonNode *node, const char *origin, guint index, GError **error)
{
  g_autofree char *prefix = g_strdup_printf ("containers[%u].", index);
  Where w = { origin, prefix };
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      bad_field (&w, "", "must be an object", error);
      return NULL;
    }
  JsonObject *o = json_node_get_object (node);
  g_autoptr(VcContainerRecord) c = vc_container_record_new (NULL);
  g_autofree char *state = NULL;
  gint64 v;

  if (!get_string (o, &w, "id", TRUE, &c->id, error)
      || !get_string (o, &w, "state", TRUE, &state, error)
      || !get_string (o, &w, "bundle", FALSE, &c->bundle, error)
      || !get_string (o, &w, "rootfs", FALSE, &c->rootfs, error))
    return NULL;
  if (!vc_id_validate (c->id, "container", NULL))
    {
      bad_field (&w, "id", "not a valid container ID", error);
      return NULL;
    }
  if (!vc_container_state_from_string (state, &c->state))
    {
      bad_field (&w, "state", "unknown container state", error);
      return NULL;
    }
  JsonNode *t = json_object_get_member (o, "terminal");
  if (t && !JSON_NODE_HOLDS_NULL (t))
    {
      if (!JSON_NODE_HOLDS_VALUE (t) || json_node_get_value_type (t) != G_TYPE_BOOLEAN)
        {
          bad_field (&w, "terminal", "must be a boolean", error);
          return NULL;
        }
      c->terminal = json_node_get_boolean (t);
    }
  if (!get_int (o, &w, "created", 0, G_MAXINT64, &c->created, error))
    return NULL;
  if (!get_int (o, &w, "pid", 0, G_MAXINT32, &v, error))
    return NULL;
  c->pid = (gint) v;
  JsonNode *es = json_object_get_member (o, "exit_status");
  if (es == NULL || JSON_NODE_HOLDS_NULL (es))
    c->exit_status = -1;
  else if (!get_int (o, &w, "exit_status", 0, 255, &v, error))
    return NULL;
  else
    c->exit_status = (int) v;
  JsonNode *devices = json_object_get_member (o, "devices");
  JsonArray *a = devices && JSON_NODE_HOLDS_ARRAY (devices) ? json_node_get_array (devices) : NULL;
  gboolean devices_ok = devices == NULL || JSON_NODE_HOLDS_NULL (devices) || a != NULL;
  if (a != NULL)
    c->devices = g_new0 (char *, json_array_get_length (a) + 1);
  for (guint i = 0; a != NULL && devices_ok && i < json_array_get_length (a); i++)
    {
      JsonNode *e = json_array_get_element (a, i);
      const char *d = JSON_NODE_HOLDS_VALUE (e) ? json_node_get_string (e) : NULL;
      devices_ok = d != NULL && strchr (d, ':') != NULL;
      c->devices[i] = g_strdup (d);
    }
  if (!devices_ok)
    {
      bad_field (&w, "devices", "must be an array of \"plugin:device-id\" strings", error);
      return NULL;
    }
  return g_steal_pointer (&c);
}

VcSandboxRecord *
vc_state_from_json (const char *json, gssize length, const char *origin, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) local = NULL;
  Where w = { origin, "" };

  if (!json_parser_load_from_data (parser, json, length, &local))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "%s: not valid JSON: %s", origin,
                   local->message);
      return NULL;
    }
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "%s: not a JSON object", origin);
      return NULL;
    }
  JsonObject *o = json_node_get_object (root);
  g_autoptr(VcSandboxRecord) r = vc_sandbox_record_new (NULL);
  g_autofree char *state = NULL;
  gint64 v;

  if (!get_int (o, &w, "version", 0, G_MAXINT32, &v, error))
    return NULL;
  if (v != VC_STATE_VERSION)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED,
                   "%s: state format version %" G_GINT64_FORMAT " is not supported (expected %d)",
                   origin, v, VC_STATE_VERSION);
      return NULL;
    }
  if (!get_string (o, &w, "id", TRUE, &r->id, error)
      || !get_string (o, &w, "state", TRUE, &state, error)
      || !get_string (o, &w, "reason", FALSE, &r->reason, error))
    return NULL;
  if (!vc_id_validate (r->id, "sandbox", NULL))
    {
      bad_field (&w, "id", "not a valid sandbox ID", error);
      return NULL;
    }
  if (!vc_sandbox_state_from_string (state, &r->state))
    {
      bad_field (&w, "state", "unknown sandbox state", error);
      return NULL;
    }
  if (!get_int (o, &w, "created", 0, G_MAXINT64, &r->created, error))
    return NULL;
  if (!get_int (o, &w, "owner_uid", 0, G_MAXUINT32, &v, error))
    return NULL;
  r->owner_uid = (guint) v;
  if (!get_int (o, &w, "owner_pid", 0, G_MAXINT32, &v, error))
    return NULL;
  r->owner_pid = (gint) v;

  JsonNode *plugins = json_object_get_member (o, "plugins");
  if (plugins == NULL || !JSON_NODE_HOLDS_OBJECT (plugins))
    {
      bad_field (&w, "plugins", "missing or not an object", error);
      return NULL;
    }
  JsonObject *po = json_node_get_object (plugins);
  Where pw = { origin, "plugins." };
  if (!get_string (po, &pw, "hypervisor", TRUE, &r->hypervisor, error)
      || !get_string (po, &pw, "agent", TRUE, &r->agent, error)
      || !get_string (po, &pw, "fs", TRUE, &r->fs, error))
    return NULL;

  JsonNode *vm = json_object_get_member (o, "vm");
  if (vm == NULL || !JSON_NODE_HOLDS_OBJECT (vm))
    {
      bad_field (&w, "vm", "missing or not an object", error);
      return NULL;
    }
  JsonObject *vo = json_node_get_object (vm);
  Where vw = { origin, "vm." };
  gint64 vcpus, max_vcpus, mem, max_mem;
  if (!get_int (vo, &vw, "vcpus", 0, G_MAXUINT32, &vcpus, error)
      || !get_int (vo, &vw, "max_vcpus", 0, G_MAXUINT32, &max_vcpus, error)
      || !get_int (vo, &vw, "memory_mib", 0, G_MAXINT64, &mem, error)
      || !get_int (vo, &vw, "max_memory_mib", 0, G_MAXINT64, &max_mem, error)
      || !get_string (vo, &vw, "kernel", FALSE, &r->kernel, error)
      || !get_string (vo, &vw, "initrd", FALSE, &r->initrd, error)
      || !get_string (vo, &vw, "kernel_params", FALSE, &r->kernel_params, error)
      || !get_string (vo, &vw, "hostname", FALSE, &r->hostname, error))
    return NULL;
  r->vcpus = (guint) vcpus;
  r->max_vcpus = (guint) max_vcpus;
  r->memory_mib = (guint64) mem;
  r->max_memory_mib = (guint64) max_mem;

  if (!get_plugin_state (o, &w, "hypervisor_state", &r->hypervisor_state, error)
      || !get_plugin_state (o, &w, "fs_state", &r->fs_state, error))
    return NULL;

  JsonNode *containers = json_object_get_member (o, "containers");
  if (containers && !JSON_NODE_HOLDS_NULL (containers))
    {
      if (!JSON_NODE_HOLDS_ARRAY (containers))
        {
          bad_field (&w, "containers", "must be an array", error);
          return NULL;
        }
      JsonArray *a = json_node_get_array (containers);
      for (guint i = 0; i < json_array_get_length (a); i++)
        {
          VcContainerRecord *c = parse_container (json_array_get_element (a, i), origin, i, error);
          if (c == NULL)
            return NULL;
          if (vc_sandbox_record_find (r, c->id, NULL))
            {
              g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "%s: container %s appears twice",
                           origin, c->id);
              vc_container_record_free (c);
              return NULL;
            }
          g_ptr_array_add (r->containers, c);
        }
    }
  if (!parse_cold_plugged (o, &w, r, error))
    return NULL;
  return g_steal_pointer (&r);
}

/* "cold_plugged": { "container": ID, "devices": ["plugin:id", ...] }, optional. */
static gboolean
parse_cold_plugged (JsonObject *o, const Where *w, VcSandboxRecord *r, GError **error)
{
  JsonNode *n = json_object_get_member (o, "cold_plugged");
  if (n == NULL || JSON_NODE_HOLDS_NULL (n))
    return TRUE;
  JsonObject *co = JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
  JsonNode *devices = co ? json_object_get_member (co, "devices") : NULL;
  JsonArray *a = devices && JSON_NODE_HOLDS_ARRAY (devices) ? json_node_get_array (devices) : NULL;
  Where cw = { w->origin, "cold_plugged." };
  if (co == NULL || a == NULL || !get_string (co, &cw, "container", TRUE, &r->cold_container, error))
    {
      if (error == NULL || *error == NULL)
        bad_field (w, "cold_plugged", "must be an object with a container ID and an array of devices", error);
      return FALSE;
    }
  r->cold_devices = g_new0 (char *, json_array_get_length (a) + 1);
  for (guint i = 0; i < json_array_get_length (a); i++)
    {
      JsonNode *e = json_array_get_element (a, i);
      const char *d = JSON_NODE_HOLDS_VALUE (e) && json_node_get_value_type (e) == G_TYPE_STRING
                      ? json_node_get_string (e) : NULL;
      if (d == NULL || strchr (d, ':') == NULL)
        {
          bad_field (&cw, "devices", "must be an array of \"plugin:device-id\" strings", error);
          return FALSE;
        }
      r->cold_devices[i] = g_strdup (d);
    }
  return TRUE;
}
