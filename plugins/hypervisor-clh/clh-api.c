/* hypervisor-clh: the REST client. One libcurl request per call, over the
 * API's Unix socket, with a deadline that covers connecting and the answer
 * (a socket that accepts and never answers times out). Answers are bounded:
 * a body over CLH_REPLY_MAX is refused, CLH's error text is cut to
 * CLH_ERROR_TEXT_MAX, and a 2xx body that should be JSON but is not is a
 * protocol error (clh-reply.c decodes). */
#include "config.h"

#include "clh-plugin.h"

#include <string.h>
#include <curl/curl.h>

#define API_BASE "http://localhost/api/v1/"

static gpointer
global_init (gpointer data)
{
  curl_global_init (CURL_GLOBAL_NOTHING);
  return NULL;
}

void
clh_api_global_init (void)
{
  static GOnce once = G_ONCE_INIT;
  g_once (&once, global_init, NULL);
}

typedef struct {
  GString *data;
  gboolean too_big;
} Reply;

static size_t
on_data (char *ptr, size_t size, size_t nmemb, void *user)
{
  Reply *reply = user;
  gsize n = size * nmemb;
  if (reply->data->len + n > CLH_REPLY_MAX)
    {
      reply->too_big = TRUE;
      return 0; /* makes curl fail with CURLE_WRITE_ERROR */
    }
  g_string_append_len (reply->data, ptr, (gssize) n);
  return n;
}

gboolean
clh_api_request (const char *socket_path, guint timeout_ms, const char *method,
                 const char *endpoint, JsonNode *body, JsonNode **reply_out, GError **error)
{
  if (reply_out != NULL)
    *reply_out = NULL;
  clh_api_global_init ();
  CURL *curl = curl_easy_init ();
  if (curl == NULL)
    {
      g_set_error_literal (error, VC_ERROR, VC_ERROR_FAILED, "libcurl: cannot make a handle");
      return FALSE;
    }
  g_autofree char *url = g_strconcat (API_BASE, endpoint, NULL);
  g_autofree char *text = body != NULL ? json_to_string (body, FALSE) : g_strdup ("");
  Reply reply = { g_string_new (NULL), FALSE };
  char curl_error[CURL_ERROR_SIZE] = "";
  struct curl_slist *headers = NULL;
  /* No "Expect: 100-continue" for larger bodies: send them at once. */
  headers = curl_slist_append (headers, "Expect:");
  headers = curl_slist_append (headers, "Accept: application/json");
  if (body != NULL)
    headers = curl_slist_append (headers, "Content-Type: application/json");

  curl_easy_setopt (curl, CURLOPT_UNIX_SOCKET_PATH, socket_path);
  curl_easy_setopt (curl, CURLOPT_URL, url);
  curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, (long) MAX (timeout_ms, 1));
  curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt (curl, CURLOPT_ERRORBUFFER, curl_error);
  curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt (curl, CURLOPT_WRITEDATA, &reply);
  if (g_str_equal (method, "GET"))
    curl_easy_setopt (curl, CURLOPT_HTTPGET, 1L);
  else
    {
      /* Content-Length is sent also for an empty body. */
      curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, method);
      curl_easy_setopt (curl, CURLOPT_POSTFIELDS, text);
      curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE, (long) strlen (text));
    }

  CURLcode res = curl_easy_perform (curl);
  long status = 0;
  curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all (headers);
  curl_easy_cleanup (curl);
  g_autoptr (GString) data = reply.data;

  if (res != CURLE_OK)
    {
      const char *why = curl_error[0] != '\0' ? curl_error : curl_easy_strerror (res);
      if (reply.too_big)
        g_set_error (error, VC_ERROR, VC_ERROR_PROTOCOL,
                     "Cloud Hypervisor API %s %s: the answer is larger than %d bytes", method,
                     endpoint, CLH_REPLY_MAX);
      else if (res == CURLE_OPERATION_TIMEDOUT)
        g_set_error (error, VC_ERROR, VC_ERROR_TIMEOUT,
                     "Cloud Hypervisor API %s %s: no answer within %u ms on %s", method, endpoint,
                     timeout_ms, socket_path);
      else if (res == CURLE_COULDNT_CONNECT)
        g_set_error (error, VC_ERROR, VC_ERROR_STOPPED,
                     "Cloud Hypervisor API %s %s: cannot connect to %s: %s", method, endpoint,
                     socket_path, why);
      else
        g_set_error (error, VC_ERROR, VC_ERROR_PROTOCOL, "Cloud Hypervisor API %s %s: %s", method,
                     endpoint, why);
      return FALSE;
    }
  return clh_reply_decode (method, endpoint, status, data->str, data->len, reply_out, error);
}
