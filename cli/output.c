/* vcrun state, list and ps: what they print (the OCI state of a container
 * as JSON, the list table, the process table), the same for the embedded and
 * the --bus commands. */
#include "config.h"

#include <stdio.h>

#include "cli.h"

/* "network": { "namespace": P, "interfaces": [ { name, mac, tap, mtu, addresses } ] } */
static JsonObject *
vc_cli_network_to_json (const char *netns, GVariant *interfaces)
{
  JsonObject *network = json_object_new ();
  json_object_set_string_member (network, "namespace", netns);
  JsonArray *list = json_array_new ();
  if (interfaces && g_variant_is_of_type (interfaces, G_VARIANT_TYPE ("a(sssuas)")))
    {
      GVariantIter iter;
      const char *name, *mac, *tap;
      guint32 mtu;
      GVariantIter *addrs;
      g_variant_iter_init (&iter, interfaces);
      while (g_variant_iter_next (&iter, "(&s&s&suas)", &name, &mac, &tap, &mtu, &addrs))
        {
          JsonObject *o = json_object_new ();
          json_object_set_string_member (o, "name", name);
          json_object_set_string_member (o, "mac", mac);
          json_object_set_string_member (o, "tap", tap);
          json_object_set_int_member (o, "mtu", mtu);
          JsonArray *a = json_array_new ();
          const char *addr;
          while (g_variant_iter_next (addrs, "&s", &addr))
            json_array_add_string_element (a, addr);
          g_variant_iter_free (addrs);
          json_object_set_array_member (o, "addresses", a);
          json_array_add_object_element (list, o);
        }
    }
  json_object_set_array_member (network, "interfaces", list);
  return network;
}

JsonObject *
vc_cli_state_to_json (const VcCliState *s)
{
  JsonObject *state = json_object_new ();
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *spec = NULL;
  if (s->bundle)
    {
      g_autofree char *path = g_build_filename (s->bundle, "config.json", NULL);
      if (json_parser_load_from_file (parser, path, NULL)
          && JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
        spec = json_node_get_object (json_parser_get_root (parser));
    }
  const char *version = spec && json_object_has_member (spec, "ociVersion")
                        && JSON_NODE_HOLDS_VALUE (json_object_get_member (spec, "ociVersion"))
                        ? json_object_get_string_member (spec, "ociVersion") : NULL;
  json_object_set_string_member (state, "ociVersion", version ? version : "1.0.2");
  json_object_set_string_member (state, "id", s->id);
  json_object_set_string_member (state, "status", s->status);
  /* OCI: the pid of created and running containers, a host process: the
   * owner (the supervisor, which lives as long as the init, or vcrund). */
  gint pid = 0;
  if (s->bundle && !g_str_equal (s->status, "stopped"))
    pid = s->owner_pid;
  json_object_set_int_member (state, "pid", pid);
  json_object_set_string_member (state, "bundle", s->bundle ? s->bundle : "");
  JsonNode *annotations = spec ? json_object_get_member (spec, "annotations") : NULL;
  if (annotations && JSON_NODE_HOLDS_OBJECT (annotations))
    json_object_set_member (state, "annotations", json_node_copy (annotations));
  else
    json_object_set_object_member (state, "annotations", json_object_new ());
  g_autofree char *created = vc_cli_format_time (s->created);
  json_object_set_string_member (state, "created", created);
  json_object_set_int_member (state, "owner_pid", s->owner_pid);
  json_object_set_boolean_member (state, "owner_alive", s->owner_alive);
  if (s->exit_status >= 0)
    json_object_set_int_member (state, "exit_status", s->exit_status);
  if (s->netns && *s->netns)
    json_object_set_object_member (state, "network", vc_cli_network_to_json (s->netns, s->interfaces));
  if (s->vcpus > 0)
    json_object_set_int_member (state, "vcpus", s->vcpus);
  if (s->memory_mib > 0)
    json_object_set_int_member (state, "memory_mib", (gint64) s->memory_mib);
  return state;
}

void
vc_cli_print_states (JsonArray *states, const char *format, gboolean quiet)
{
  if (format && g_str_equal (format, "json"))
    {
      g_autoptr(JsonNode) node = json_node_init_array (json_node_alloc (), states);
      vc_cli_print_json (node);
      return;
    }
  if (!quiet)
    printf ("%-20s %-8s %-9s %-40s %-21s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER");
  for (guint i = 0; i < json_array_get_length (states); i++)
    {
      JsonObject *s = json_array_get_object_element (states, i);
      if (quiet)
        {
          printf ("%s\n", json_object_get_string_member (s, "id"));
          continue;
        }
      gint64 owner = json_object_get_int_member (s, "owner_pid");
      g_autofree char *owner_text = json_object_get_boolean_member (s, "owner_alive")
                                    ? g_strdup_printf ("%" G_GINT64_FORMAT, owner)
                                    : g_strdup_printf ("%" G_GINT64_FORMAT " (gone)", owner);
      printf ("%-20s %-8" G_GINT64_FORMAT " %-9s %-40s %-21s %s\n",
              json_object_get_string_member (s, "id"), json_object_get_int_member (s, "pid"),
              json_object_get_string_member (s, "status"), json_object_get_string_member (s, "bundle"),
              json_object_get_string_member (s, "created"), owner_text);
    }
}

void
vc_cli_print_processes (JsonArray *processes, const char *format)
{
  if (format && g_str_equal (format, "json"))
    {
      g_autoptr(JsonNode) node = json_node_init_array (json_node_alloc (), processes);
      vc_cli_print_json (node);
      return;
    }
  printf ("%-24s %-6s %-9s %s\n", "PROCESS", "INIT", "STATUS", "EXIT");
  for (guint i = 0; i < json_array_get_length (processes); i++)
    {
      JsonObject *p = json_array_get_object_element (processes, i);
      if (p == NULL)
        continue;
      gint64 exit_status = json_object_get_int_member_with_default (p, "exit_status", -1);
      g_autofree char *exit_text = exit_status >= 0 ? g_strdup_printf ("%" G_GINT64_FORMAT, exit_status)
                                                    : g_strdup ("-");
      printf ("%-24s %-6s %-9s %s\n", json_object_get_string_member_with_default (p, "exec_id", "?"),
              json_object_get_boolean_member_with_default (p, "init", FALSE) ? "yes" : "no",
              json_object_get_string_member_with_default (p, "status", "?"), exit_text);
    }
}

/* runc's `ps --format json`: one line, a JSON array of host pids. */
void
vc_cli_print_host_pids (JsonArray *pids)
{
  g_autoptr(GString) line = g_string_new ("[");
  for (guint i = 0; i < json_array_get_length (pids); i++)
    g_string_append_printf (line, "%s%" G_GINT64_FORMAT, i ? "," : "",
                            json_array_get_int_element (pids, i));
  g_string_append (line, "]");
  puts (line->str);
}
