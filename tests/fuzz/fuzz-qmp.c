/* Fuzzes the QMP client (plugins/hypervisor-qemu/qmp-client.c) on what QEMU
 * sends: the bytes are split into lines as the reader thread receives them
 * (in chunks whose size byte 0 picks), each line parsed under the client's
 * bounds, and greetings, events and replies handled as for a command that
 * waits for id 1. The file is included to reach its static reader code. */
#include "../../plugins/hypervisor-qemu/qmp-client.c"

#include "fuzz-common.h"

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  vc_fuzz_glib_setup ();
  return 0;
}

static void
on_event (const char *name, JsonObject *data, gpointer user_data)
{
  g_assert (name != NULL && data != NULL);
  (*(guint *) user_data)++;
}

static void
on_closed (const char *reason, gpointer user_data)
{
  g_assert (reason != NULL && g_utf8_validate (reason, -1, NULL));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  gsize chunk = data[0] == 0 ? 16384 : data[0];
  data++;
  size--;

  guint events = 0;
  QmpClient client = { .fd = -1, .event_func = on_event, .closed_func = on_closed,
                       .user_data = &events, .pending_id = 1 };
  g_mutex_init (&client.lock);
  g_cond_init (&client.cond);
  g_autoptr(GString) line = g_string_new (NULL);
  for (gsize offset = 0; offset < size; offset += chunk)
    if (!consume (&client, line, (const char *) data + offset, MIN (chunk, size - offset)))
      {
        g_assert (client.closed && client.close_reason != NULL);
        break;
      }
  g_assert (line->len <= QMP_MAX_MESSAGE);
  if (client.reply != NULL)
    g_assert (json_object_has_member (client.reply, "return")
              || json_object_has_member (client.reply, "error"));
  g_clear_pointer (&client.reply, json_object_unref);
  g_free (client.close_reason);
  g_mutex_clear (&client.lock);
  g_cond_clear (&client.cond);
  return 0;
}
