/* The QMP client of hypervisor-qemu against a scripted fake QEMU over a
 * socketpair: good conversations, and everything a broken or hostile peer may
 * send (malformed, truncated, oversized, never-ending, deeply nested,
 * out-of-order replies and odd events). Each case must end in a clear error
 * within its deadline, never a crash, a hang or unbounded memory. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vcrun/types.h>

#include "qmp-client.h"

#define GREETING "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}}, \"capabilities\": []}}\r\n"

/* ---------------------------------------------------------------------------
 * The fake QEMU: for each template, reads one command and answers with the
 * template, "{ID}" replaced by the command's id and "{PREV}" by the id before
 * it. An empty template reads the command and answers nothing. */

typedef struct {
  int          fd;
  const char  *const *replies;
  const char  *raw_after;   /* bytes sent after the script, or NULL */
  gsize        raw_len;
  gboolean     trickle;     /* then one byte every 10 ms until the client goes */
  gboolean     close_after; /* then hang up */
  GThread     *thread;
} FakeQemu;

static char *
read_line (int fd)
{
  GString *line = g_string_new (NULL);
  char c;
  for (;;)
    {
      ssize_t n = read (fd, &c, 1);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          g_string_free (line, TRUE);
          return NULL;
        }
      if (c == '\n')
        return g_string_free (line, FALSE);
      g_string_append_c (line, c);
    }
}

static void
write_all (int fd, const char *data, gsize len)
{
  while (len > 0)
    {
      ssize_t n = send (fd, data, len, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return;
      data += n;
      len -= (gsize) n;
    }
}

static void
send_text (int fd, const char *text)
{
  write_all (fd, text, strlen (text));
}

static gpointer
fake_thread (gpointer data)
{
  FakeQemu *fake = data;
  gint64 prev = 0;
  for (const char *const *r = fake->replies; *r != NULL; r++)
    {
      g_autofree char *line = read_line (fake->fd);
      if (line == NULL)
        return NULL;
      g_autoptr (JsonParser) parser = json_parser_new ();
      g_assert_true (json_parser_load_from_data (parser, line, -1, NULL));
      JsonObject *cmd = json_node_get_object (json_parser_get_root (parser));
      gint64 id = json_object_get_int_member (cmd, "id");
      if (**r != '\0')
        {
          g_autofree char *id_text = g_strdup_printf ("%" G_GINT64_FORMAT, id);
          g_autofree char *prev_text = g_strdup_printf ("%" G_GINT64_FORMAT, prev);
          g_auto (GStrv) parts = g_strsplit (*r, "{ID}", -1);
          g_autofree char *with_id = g_strjoinv (id_text, parts);
          g_auto (GStrv) parts2 = g_strsplit (with_id, "{PREV}", -1);
          g_autofree char *reply = g_strjoinv (prev_text, parts2);
          send_text (fake->fd, reply);
        }
      prev = id;
    }
  if (fake->raw_after != NULL)
    write_all (fake->fd, fake->raw_after, fake->raw_len);
  while (fake->trickle && send (fake->fd, "a", 1, MSG_NOSIGNAL) == 1)
    g_usleep (10 * 1000);
  if (fake->close_after)
    shutdown (fake->fd, SHUT_RDWR);
  return NULL;
}

/* ---------------------------------------------------------------------------
 * What the client reports. */

typedef struct {
  GMutex     lock;
  GPtrArray *events;       /* "NAME data-json" */
  int        closed;
  char      *close_reason;
} Seen;

static void
on_event (const char *event, JsonObject *data, gpointer user_data)
{
  Seen *seen = user_data;
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);
  json_node_set_object (node, data);
  g_autofree char *text = json_to_string (node, FALSE);
  g_mutex_lock (&seen->lock);
  g_ptr_array_add (seen->events, g_strdup_printf ("%s %s", event, text));
  g_mutex_unlock (&seen->lock);
}

static void
on_closed (const char *reason, gpointer user_data)
{
  Seen *seen = user_data;
  g_mutex_lock (&seen->lock);
  seen->closed++;
  g_free (seen->close_reason);
  seen->close_reason = g_strdup (reason);
  g_mutex_unlock (&seen->lock);
}

typedef struct {
  int        peer;       /* the fake QEMU's end */
  QmpClient *client;
  Seen       seen;
  FakeQemu   fake;
} Fixture;

/* The fake QEMU runs until the client is freed in tear-down (its reads and
 * writes fail then), so no test can block on it. */
static void
fake_start (Fixture *f, const char *const *replies)
{
  f->fake.fd = f->peer;
  f->fake.replies = replies;
  f->fake.thread = g_thread_new ("fake-qemu", fake_thread, &f->fake);
}

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  int fds[2];
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
  f->peer = fds[1];
  g_mutex_init (&f->seen.lock);
  f->seen.events = g_ptr_array_new_with_free_func (g_free);
  f->client = qmp_client_new (fds[0], on_event, on_closed, &f->seen);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  qmp_client_free (f->client);
  if (f->fake.thread != NULL)
    g_thread_join (f->fake.thread);
  close (f->peer);
  g_ptr_array_unref (f->seen.events);
  g_free (f->seen.close_reason);
  g_mutex_clear (&f->seen.lock);
}

static gint64
elapsed_ms (gint64 since)
{
  return (g_get_monotonic_time () - since) / 1000;
}

/* ---------------------------------------------------------------------------
 * Good conversations. */

static void
test_negotiate_and_execute (Fixture *f, gconstpointer data)
{
  static const char *const replies[] = {
    "{\"return\": {}, \"id\": {ID}}\r\n",
    "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}, \"id\": {ID}}\r\n",
    NULL,
  };
  send_text (f->peer, GREETING);
  fake_start (f, replies);
  g_autoptr (GError) error = NULL;
  g_assert_true (qmp_client_negotiate (f->client, 2000, &error));
  g_assert_no_error (error);
  g_autoptr (JsonNode) ret = qmp_client_execute (f->client, "query-status", NULL, 2000, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (ret));
  g_assert_true (json_object_get_boolean_member (json_node_get_object (ret), "running"));
}

static void
test_arguments_are_sent (Fixture *f, gconstpointer data)
{
  static const char *const replies[] = { "{\"return\": {}, \"id\": {ID}}\n", NULL };
  fake_start (f, replies);
  g_autoptr (JsonObject) args = json_object_new ();
  json_object_set_string_member (args, "id", "vc-disk,with\"odd\nchars");
  g_autoptr (GError) error = NULL;
  g_assert_true (qmp_client_run (f->client, "device_del", args, 2000, &error));
  g_assert_no_error (error);
}

static void
test_error_reply (Fixture *f, gconstpointer data)
{
  static const char *const replies[] = {
    "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Device 'x' not found\"}, \"id\": {ID}}\r\n",
    NULL,
  };
  fake_start (f, replies);
  g_autoptr (GError) error = NULL;
  g_assert_null (qmp_client_execute (f->client, "device_del", NULL, 2000, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "Device 'x' not found"));
  g_assert_nonnull (strstr (error->message, "GenericError"));
  g_assert_false (qmp_client_is_closed (f->client));
}

static void
test_error_without_id (Fixture *f, gconstpointer data)
{
  /* QEMU answers input it cannot parse without an id. */
  static const char *const replies[] = {
    "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error\"}}\n",
    NULL,
  };
  fake_start (f, replies);
  g_autoptr (GError) error = NULL;
  gint64 t0 = g_get_monotonic_time ();
  g_assert_false (qmp_client_run (f->client, "x", NULL, 5000, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_FAILED);
  g_assert_cmpint (elapsed_ms (t0), <, 2000);
}

static void
test_events_and_out_of_order (Fixture *f, gconstpointer data)
{
  /* Events, a stale reply and one for an id never used come before ours. */
  static const char *const replies[] = {
    "{\"event\": \"STOP\", \"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}\r\n"
    "{\"return\": {\"stale\": true}, \"id\": 999999}\r\n"
    "{\"return\": {\"wrong\": true}, \"id\": \"text-id\"}\r\n"
    "{\"event\": \"VSERPORT_CHANGE\", \"data\": {\"id\": \"p\", \"open\": true}}\r\n"
    "{\"event\": 42, \"data\": {}}\r\n"
    "{\"event\": \"ODD\", \"data\": [1, 2]}\r\n"
    "{\"neither\": \"reply nor event\"}\r\n"
    "\r\n"
    "{\"return\": {\"mine\": true}, \"id\": {ID}}\r\n",
    NULL,
  };
  fake_start (f, replies);
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) ret = qmp_client_execute (f->client, "query-status", NULL, 2000, &error);
  g_assert_no_error (error);
  g_assert_true (json_object_get_boolean_member (json_node_get_object (ret), "mine"));
  g_mutex_lock (&f->seen.lock);
  g_assert_cmpuint (f->seen.events->len, ==, 3);
  g_assert_cmpstr (g_ptr_array_index (f->seen.events, 0), ==, "STOP {}");
  g_assert_cmpstr (g_ptr_array_index (f->seen.events, 1), ==, "VSERPORT_CHANGE {\"id\":\"p\",\"open\":true}");
  g_assert_cmpstr (g_ptr_array_index (f->seen.events, 2), ==, "ODD {}");
  g_mutex_unlock (&f->seen.lock);
}

static void
test_timeout_then_stale_reply (Fixture *f, gconstpointer data)
{
  /* The first command gets no answer in time; its late reply arrives just
   * before the second command's and must not be taken for it. */
  static const char *const replies[] = {
    "",
    "{\"return\": {\"which\": \"first\"}, \"id\": {PREV}}\n{\"return\": {\"which\": \"second\"}, \"id\": {ID}}\n",
    NULL,
  };
  fake_start (f, replies);
  g_autoptr (GError) error = NULL;
  gint64 t0 = g_get_monotonic_time ();
  g_assert_null (qmp_client_execute (f->client, "slow", NULL, 200, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_TIMEOUT);
  g_assert_cmpint (elapsed_ms (t0), >=, 190);
  g_assert_cmpint (elapsed_ms (t0), <, 1500);
  g_clear_error (&error);
  g_autoptr (JsonNode) ret = qmp_client_execute (f->client, "fast", NULL, 2000, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (ret), "which"), ==, "second");
}

/* ---------------------------------------------------------------------------
 * Broken peers: each closes the connection with a reason. */

static void
assert_closed_with (Fixture *f, int code, const char *needle)
{
  g_autoptr (GError) error = NULL;
  gint64 t0 = g_get_monotonic_time ();
  g_assert_null (qmp_client_execute (f->client, "query-status", NULL, 3000, &error));
  g_assert_error (error, VC_ERROR, code);
  g_assert_nonnull (strstr (error->message, needle));
  g_assert_cmpint (elapsed_ms (t0), <, 2500);
  g_assert_true (qmp_client_is_closed (f->client));
  /* The callback runs on the reader thread right after the state changes. */
  for (int i = 0; i < 100 && g_atomic_int_get (&f->seen.closed) == 0; i++)
    g_usleep (10 * 1000);
  g_mutex_lock (&f->seen.lock);
  g_assert_cmpint (f->seen.closed, ==, 1);
  g_assert_nonnull (strstr (f->seen.close_reason, needle));
  g_mutex_unlock (&f->seen.lock);
  /* And every later command fails at once with the same reason. */
  g_clear_error (&error);
  t0 = g_get_monotonic_time ();
  g_assert_false (qmp_client_run (f->client, "again", NULL, 3000, &error));
  g_assert_error (error, VC_ERROR, code);
  g_assert_cmpint (elapsed_ms (t0), <, 100);
}

static void
test_malformed_reply (Fixture *f, gconstpointer data)
{
  static const char *const replies[] = { "{\"return\": {\"a\": tru, \"id\": {ID}}\n", NULL };
  fake_start (f, replies);
  assert_closed_with (f, VC_ERROR_PROTOCOL, "malformed QMP message");
}

static void
test_not_an_object (Fixture *f, gconstpointer data)
{
  static const char *const replies[] = { "[1, 2, 3]\n", NULL };
  fake_start (f, replies);
  assert_closed_with (f, VC_ERROR_PROTOCOL, "not a JSON object");
}

static void
test_nul_byte (Fixture *f, gconstpointer data)
{
  static const char *const replies[] = { "", NULL };
  fake_start (f, replies);
  const char text[] = "{\"return\": {}, \"x\": \"a\0b\"}\n";
  write_all (f->peer, text, sizeof text - 1);
  assert_closed_with (f, VC_ERROR_PROTOCOL, "NUL byte");
}

static void
test_truncated_then_eof (Fixture *f, gconstpointer data)
{
  /* The fake QEMU dies in the middle of its reply. */
  static const char *const replies[] = { "{\"return\": {\"status\": \"runn", NULL };
  f->fake.close_after = TRUE;
  fake_start (f, replies);
  assert_closed_with (f, VC_ERROR_STOPPED, "closed");
}

static void
test_oversized_reply (Fixture *f, gconstpointer data)
{
  /* 2 MiB of one string without a newline: over the 1 MiB bound. */
  static const char *const replies[] = { "", NULL };
  gsize len = 2 * 1024 * 1024;
  g_autofree char *big = g_malloc (len);
  memset (big, 'a', len);
  memcpy (big, "{\"return\": \"", 12);
  f->fake.raw_after = big;
  f->fake.raw_len = len;
  fake_start (f, replies);
  assert_closed_with (f, VC_ERROR_PROTOCOL, "exceeds the limit");
  /* The big buffer must outlive the fake thread. */
  qmp_client_free (f->client);
  g_thread_join (f->fake.thread);
  f->fake.thread = NULL;
  f->client = NULL;
}

static void
test_deep_nesting (Fixture *f, gconstpointer data)
{
  static const char *const replies[] = { "", NULL };
  fake_start (f, replies);
  gsize depth = 200000;
  g_autoptr (GString) text = g_string_sized_new (depth + 8);
  /* An object, as QMP sends: a bare "[" is refused as not an object. */
  g_string_append (text, "{\"a\":");
  for (gsize i = 0; i < depth; i++)
    g_string_append_c (text, '[');
  g_string_append_c (text, '\n');
  write_all (f->peer, text->str, text->len);
  assert_closed_with (f, VC_ERROR_PROTOCOL, "nested deeper");
}

static void
test_never_ending_reply (Fixture *f, gconstpointer data)
{
  /* A peer trickling bytes of a reply that never ends: the command times
   * out on time although data keeps coming. */
  static const char *const replies[] = { "{\"return\": {\"a\": \"", NULL };
  f->fake.trickle = TRUE;
  fake_start (f, replies);
  g_autoptr (GError) error = NULL;
  gint64 t0 = g_get_monotonic_time ();
  g_assert_null (qmp_client_execute (f->client, "query-status", NULL, 300, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_TIMEOUT);
  g_assert_cmpint (elapsed_ms (t0), <, 1500);
}

static void
test_silent_peer (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  gint64 t0 = g_get_monotonic_time ();
  g_assert_false (qmp_client_negotiate (f->client, 200, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_TIMEOUT);
  g_assert_nonnull (strstr (error->message, "greeting"));
  g_assert_cmpint (elapsed_ms (t0), <, 1500);
}

static void
test_eof_during_negotiation (Fixture *f, gconstpointer data)
{
  shutdown (f->peer, SHUT_RDWR);
  g_autoptr (GError) error = NULL;
  g_assert_false (qmp_client_negotiate (f->client, 2000, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_STOPPED);
}

/* ---------------------------------------------------------------------------
 * qmp_parse_message on its own. */

static void
test_parse_message (void)
{
  g_autoptr (GError) error = NULL;
  const char *ok = "{\"a\": \"[[[[{{{{ \\\" ]]]\", \"b\": [[[]]]}";
  g_autoptr (JsonObject) o = qmp_parse_message (ok, strlen (ok), &error);
  g_assert_no_error (error);
  g_assert_nonnull (o);

  g_autoptr (GString) nested = g_string_new ("{\"a\":");
  for (int i = 0; i < QMP_MAX_DEPTH; i++)
    g_string_append_c (nested, '[');
  for (int i = 0; i < QMP_MAX_DEPTH; i++)
    g_string_append_c (nested, ']');
  g_string_append_c (nested, '}');
  g_assert_null (qmp_parse_message (nested->str, nested->len, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_PROTOCOL);
  g_clear_error (&error);

  g_assert_null (qmp_parse_message ("", 0, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_PROTOCOL);
  g_clear_error (&error);
  g_assert_null (qmp_parse_message ("\"just a string\"", 15, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_PROTOCOL);
  g_clear_error (&error);
  const char invalid_utf8[] = "{\"a\": \"\xff\xfe\"}";
  g_assert_null (qmp_parse_message (invalid_utf8, sizeof invalid_utf8 - 1, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_PROTOCOL);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, func) g_test_add ("/qmp/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("negotiate-and-execute", test_negotiate_and_execute);
  ADD ("arguments-are-sent", test_arguments_are_sent);
  ADD ("error-reply", test_error_reply);
  ADD ("error-without-id", test_error_without_id);
  ADD ("events-and-out-of-order", test_events_and_out_of_order);
  ADD ("timeout-then-stale-reply", test_timeout_then_stale_reply);
  ADD ("malformed-reply", test_malformed_reply);
  ADD ("not-an-object", test_not_an_object);
  ADD ("nul-byte", test_nul_byte);
  ADD ("truncated-then-eof", test_truncated_then_eof);
  ADD ("oversized-reply", test_oversized_reply);
  ADD ("deep-nesting", test_deep_nesting);
  ADD ("never-ending-reply", test_never_ending_reply);
  ADD ("silent-peer", test_silent_peer);
  ADD ("eof-during-negotiation", test_eof_during_negotiation);
#undef ADD
  g_test_add_func ("/qmp/parse-message", test_parse_message);
  return g_test_run ();
}
