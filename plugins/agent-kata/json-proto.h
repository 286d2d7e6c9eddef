/* OCI JSON -> Kata protobuf messages, driven by the protobuf-c descriptors.
 *
 * Kata's oci.proto mirrors the OCI runtime spec with the same field names
 * capitalised ("noNewPrivileges" is Process.NoNewPrivileges, "uid" is
 * User.UID), so a JSON member is matched to the field whose name equals it
 * ignoring case ("ociVersion" is Spec.Version). Objects become messages,
 * arrays repeated fields, objects of strings map fields; members that the
 * proto does not carry (hooks, ...) are skipped, nulls are absent. A value of
 * the wrong JSON type or out of the field's range is an error that names the
 * member's path ("config.json: process.user.uid: expected an integer in
 * 0..4294967295").
 *
 * Messages built here live in an arena and are freed with it, never with
 * protobuf_c_message_free_unpacked.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "kata-agent.h"

G_BEGIN_DECLS

typedef struct VcArena VcArena;

VcArena *vc_arena_new    (void);
void     vc_arena_free   (VcArena *arena);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VcArena, vc_arena_free)

/* Zeroed memory owned by the arena. */
gpointer vc_arena_alloc  (VcArena *arena, gsize size);
char    *vc_arena_strdup (VcArena *arena, const char *s);
/* NULL-terminated lists become protobuf repeated strings (count in *n). */
char   **vc_arena_strv   (VcArena *arena, const char *const *strv, size_t *n);
/* A message of type desc with its defaults. */
gpointer vc_arena_message (VcArena *arena, const ProtobufCMessageDescriptor *desc);

/* Converts node (a JSON object) into a message of type desc. what names the
 * object in error messages. */
ProtobufCMessage *vc_json_to_message (VcArena *arena, JsonNode *node,
                                      const ProtobufCMessageDescriptor *desc,
                                      const char *what, GError **error);
/* Same, parsing json text first. */
ProtobufCMessage *vc_json_text_to_message (VcArena *arena, const char *json,
                                           const ProtobufCMessageDescriptor *desc,
                                           const char *what, GError **error);

G_END_DECLS
