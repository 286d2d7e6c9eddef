/* OCI JSON -> protobuf-c messages through their descriptors (json-proto.h). */
#include "config.h"

#include "json-proto.h"

#include <math.h>
#include <string.h>

#include <vcrun/types.h>

struct VcArena {
  GPtrArray *blocks;
};

VcArena *
vc_arena_new (void)
{
  VcArena *arena = g_new0 (VcArena, 1);
  arena->blocks = g_ptr_array_new_with_free_func (g_free);
  return arena;
}

void
vc_arena_free (VcArena *arena)
{
  if (arena == NULL)
    return;
  g_ptr_array_unref (arena->blocks);
  g_free (arena);
}

gpointer
vc_arena_alloc (VcArena *arena, gsize size)
{
  gpointer p = g_malloc0 (size ? size : 1);
  g_ptr_array_add (arena->blocks, p);
  return p;
}

char *
vc_arena_strdup (VcArena *arena, const char *s)
{
  char *copy = g_strdup (s ? s : "");
  g_ptr_array_add (arena->blocks, copy);
  return copy;
}

char **
vc_arena_strv (VcArena *arena, const char *const *strv, size_t *n)
{
  size_t count = strv ? g_strv_length ((char **) strv) : 0;
  *n = count;
  if (count == 0)
    return NULL;
  char **out = vc_arena_alloc (arena, count * sizeof (char *));
  for (size_t i = 0; i < count; i++)
    out[i] = vc_arena_strdup (arena, strv[i]);
  return out;
}

gpointer
vc_arena_message (VcArena *arena, const ProtobufCMessageDescriptor *desc)
{
  gpointer msg = vc_arena_alloc (arena, desc->sizeof_message);
  protobuf_c_message_init (desc, msg);
  return msg;
}

static const ProtobufCFieldDescriptor *
find_field (const ProtobufCMessageDescriptor *desc, const char *key)
{
  /* The spec's version is "ociVersion" in JSON, Spec.Version in Kata's proto. */
  if (strcmp (key, "ociVersion") == 0)
    key = "Version";
  for (unsigned i = 0; i < desc->n_fields; i++)
    if (g_ascii_strcasecmp (desc->fields[i].name, key) == 0)
      return &desc->fields[i];
  return NULL;
}

static gboolean
is_map_entry (const ProtobufCMessageDescriptor *desc)
{
  return desc->n_fields == 2 && strcmp (desc->fields[0].name, "key") == 0
         && strcmp (desc->fields[1].name, "value") == 0 && g_str_has_suffix (desc->name, "Entry");
}

static gboolean
type_error (GError **error, const char *path, const char *expected)
{
  g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "%s: expected %s", path, expected);
  return FALSE;
}

/* A JSON integer within [min, max] (a double only if it is integral). */
static gboolean
json_integer (JsonNode *node, const char *path, gdouble min, gdouble max, const char *range,
              gint64 *out_signed, guint64 *out_unsigned, GError **error)
{
  g_autofree char *expected = g_strdup_printf ("an integer in %s", range);
  if (!JSON_NODE_HOLDS_VALUE (node))
    return type_error (error, path, expected);
  GType type = json_node_get_value_type (node);
  if (type == G_TYPE_INT64)
    {
      gint64 v = json_node_get_int (node);
      if ((gdouble) v < min || (gdouble) v > max)
        return type_error (error, path, expected);
      *out_signed = v;
      *out_unsigned = (guint64) v;
      return TRUE;
    }
  if (type == G_TYPE_DOUBLE)
    {
      /* json-glib reads integers beyond int64 (e.g. RLIM_INFINITY) as doubles. */
      gdouble v = json_node_get_double (node);
      if (v != floor (v) || v < min || v > max)
        return type_error (error, path, expected);
      *out_signed = v >= 9223372036854775807.0 ? G_MAXINT64 : (gint64) v;
      *out_unsigned = v >= 18446744073709551615.0 ? G_MAXUINT64 : (guint64) v;
      return TRUE;
    }
  return type_error (error, path, expected);
}

static gboolean convert_object (VcArena *arena, JsonNode *node,
                                const ProtobufCMessageDescriptor *desc, ProtobufCMessage *msg,
                                const char *path, GError **error);

/* Stores one scalar or message value of field at dest. */
static gboolean
convert_value (VcArena *arena, JsonNode *node, const ProtobufCFieldDescriptor *field,
               void *dest, const char *path, GError **error)
{
  gint64 s = 0;
  guint64 u = 0;

  switch (field->type)
    {
    case PROTOBUF_C_TYPE_STRING:
      if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
        return type_error (error, path, "a string");
      *(char **) dest = vc_arena_strdup (arena, json_node_get_string (node));
      return TRUE;
    case PROTOBUF_C_TYPE_BOOL:
      if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
        return type_error (error, path, "true or false");
      *(protobuf_c_boolean *) dest = json_node_get_boolean (node);
      return TRUE;
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
      if (!json_integer (node, path, G_MININT32, G_MAXINT32, "-2147483648..2147483647", &s, &u, error))
        return FALSE;
      *(int32_t *) dest = (int32_t) s;
      return TRUE;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
      if (!json_integer (node, path, 0, G_MAXUINT32, "0..4294967295", &s, &u, error))
        return FALSE;
      *(uint32_t *) dest = (uint32_t) u;
      return TRUE;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
      if (!json_integer (node, path, -9223372036854775808.0, 9223372036854775807.0,
                         "the 64-bit signed range", &s, &u, error))
        return FALSE;
      *(int64_t *) dest = s;
      return TRUE;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
      /* json-glib reads integers above G_MAXINT64 (RLIM_INFINITY, ...) wrapped
       * into negative gint64s: the bit pattern is the unsigned value. */
      if (!json_integer (node, path, -9223372036854775808.0, 18446744073709551615.0,
                         "the 64-bit unsigned range", &s, &u, error))
        return FALSE;
      *(uint64_t *) dest = u;
      return TRUE;
    case PROTOBUF_C_TYPE_MESSAGE:
      {
        const ProtobufCMessageDescriptor *sub = field->descriptor;
        ProtobufCMessage *msg = vc_arena_message (arena, sub);
        if (!convert_object (arena, node, sub, msg, path, error))
          return FALSE;
        *(ProtobufCMessage **) dest = msg;
        return TRUE;
      }
    default:
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                   "%s: the protocol field %s has a type this plugin cannot fill", path,
                   field->name);
      return FALSE;
    }
}

static gsize
field_size (const ProtobufCFieldDescriptor *field)
{
  switch (field->type)
    {
    case PROTOBUF_C_TYPE_STRING: return sizeof (char *);
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof (ProtobufCMessage *);
    case PROTOBUF_C_TYPE_BOOL: return sizeof (protobuf_c_boolean);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: return sizeof (uint64_t);
    default: return sizeof (uint32_t);
    }
}

/* A JSON object of strings into a repeated map-entry field. */
static gboolean
convert_map (VcArena *arena, JsonNode *node, const ProtobufCFieldDescriptor *field,
             ProtobufCMessage *msg, const char *path, GError **error)
{
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return type_error (error, path, "an object");
  const ProtobufCMessageDescriptor *entry_desc = field->descriptor;
  JsonObject *obj = json_node_get_object (node);
  g_autoptr(GList) members = json_object_get_members (obj);
  guint n = g_list_length (members);
  ProtobufCMessage **entries = vc_arena_alloc (arena, n * sizeof (ProtobufCMessage *));
  guint i = 0;

  for (GList *l = members; l; l = l->next, i++)
    {
      const char *key = l->data;
      g_autofree char *sub = g_strdup_printf ("%s.%s", path, key);
      ProtobufCMessage *entry = vc_arena_message (arena, entry_desc);
      *(char **) ((char *) entry + entry_desc->fields[0].offset) = vc_arena_strdup (arena, key);
      if (!convert_value (arena, json_object_get_member (obj, key), &entry_desc->fields[1],
                          (char *) entry + entry_desc->fields[1].offset, sub, error))
        return FALSE;
      entries[i] = entry;
    }
  *(size_t *) ((char *) msg + field->quantifier_offset) = n;
  *(ProtobufCMessage ***) ((char *) msg + field->offset) = entries;
  return TRUE;
}

static gboolean
convert_repeated (VcArena *arena, JsonNode *node, const ProtobufCFieldDescriptor *field,
                  ProtobufCMessage *msg, const char *path, GError **error)
{
  if (field->type == PROTOBUF_C_TYPE_MESSAGE && is_map_entry (field->descriptor))
    return convert_map (arena, node, field, msg, path, error);
  if (!JSON_NODE_HOLDS_ARRAY (node))
    return type_error (error, path, "an array");

  JsonArray *array = json_node_get_array (node);
  guint n = json_array_get_length (array);
  gsize size = field_size (field);
  char *items = vc_arena_alloc (arena, n * size);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *sub = g_strdup_printf ("%s[%u]", path, i);
      if (!convert_value (arena, json_array_get_element (array, i), field, items + i * size, sub,
                          error))
        return FALSE;
    }
  *(size_t *) ((char *) msg + field->quantifier_offset) = n;
  *(void **) ((char *) msg + field->offset) = n ? items : NULL;
  return TRUE;
}

static gboolean
convert_object (VcArena *arena, JsonNode *node, const ProtobufCMessageDescriptor *desc,
                ProtobufCMessage *msg, const char *path, GError **error)
{
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return type_error (error, path, "an object");

  JsonObject *obj = json_node_get_object (node);
  g_autoptr(GList) members = json_object_get_members (obj);
  for (GList *l = members; l; l = l->next)
    {
      const char *key = l->data;
      JsonNode *value = json_object_get_member (obj, key);
      const ProtobufCFieldDescriptor *field = find_field (desc, key);
      if (field == NULL || JSON_NODE_HOLDS_NULL (value))
        continue;
      g_autofree char *sub = g_strdup_printf ("%s.%s", path, key);
      if (field->label == PROTOBUF_C_LABEL_REPEATED)
        {
          if (!convert_repeated (arena, value, field, msg, sub, error))
            return FALSE;
          continue;
        }
      if (!convert_value (arena, value, field, (char *) msg + field->offset, sub, error))
        return FALSE;
      /* A oneof member records which one is set; proto2-style optionals their presence. */
      if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        *(uint32_t *) ((char *) msg + field->quantifier_offset) = field->id;
      else if (field->label == PROTOBUF_C_LABEL_OPTIONAL && field->quantifier_offset
               && field->type != PROTOBUF_C_TYPE_STRING && field->type != PROTOBUF_C_TYPE_MESSAGE)
        *(protobuf_c_boolean *) ((char *) msg + field->quantifier_offset) = TRUE;
    }
  return TRUE;
}

ProtobufCMessage *
vc_json_to_message (VcArena *arena, JsonNode *node, const ProtobufCMessageDescriptor *desc,
                    const char *what, GError **error)
{
  ProtobufCMessage *msg = vc_arena_message (arena, desc);
  if (node == NULL || !convert_object (arena, node, desc, msg, what, error))
    {
      if (error && *error == NULL)
        type_error (error, what, "an object");
      return NULL;
    }
  return msg;
}

ProtobufCMessage *
vc_json_text_to_message (VcArena *arena, const char *json, const ProtobufCMessageDescriptor *desc,
                         const char *what, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) local = NULL;

  if (json == NULL || !json_parser_load_from_data (parser, json, -1, &local))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "%s: not valid JSON: %s", what,
                   local ? local->message : "no text");
      return NULL;
    }
  return vc_json_to_message (arena, json_parser_get_root (parser), desc, what, error);
}
