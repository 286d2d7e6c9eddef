/* vcrund: the Manager's template methods (ListTemplates, CreateTemplate,
 * RemoveTemplates) over libvcrun's templates (core/template.h). Templates
 * serve every caller's sandboxes, so only root may build or remove them. */
#include "config.h"

#include "vcrund.h"

static gboolean
require_root (GDBusMethodInvocation *invocation, const char *what)
{
  if (vcd_caller_uid (invocation) == 0)
    return TRUE;
  g_autofree char *message = g_strdup_printf ("%s: only root may build or remove templates", what);
  vcd_return_error_literal (invocation, VC_ERROR_ACCESS_DENIED, message);
  return FALSE;
}

static gboolean
on_list (VcdBusManager *manager, GDBusMethodInvocation *invocation, gpointer user_data)
{
  VcdDaemon *daemon = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) list = vc_runtime_list_templates (vcd_daemon_get_runtime (daemon), &error);
  if (list == NULL)
    {
      vcd_return_error (invocation, error);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE ("a(sssxtbs)"));
  for (guint i = 0; i < list->len; i++)
    {
      const VcTemplateInfo *t = list->pdata[i];
      g_variant_builder_add (&b, "(sssxtbs)", t->key, t->dir, t->summary ? t->summary : "",
                             t->created, t->bytes, t->usable, t->why ? t->why : "");
    }
  vcd_bus_manager_complete_list_templates (manager, invocation, g_variant_builder_end (&b));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

typedef struct {
  VcdDaemon             *daemon;
  GDBusMethodInvocation *invocation;
  char                  *dir;
} BuildCall;

static void
build_call_free (gpointer data)
{
  BuildCall *call = data;
  g_free (call->dir);
  g_free (call);
}

/* On the worker thread: boots a sandbox, so it takes seconds. */
static gboolean
work_build (gpointer data, GError **error)
{
  BuildCall *call = data;
  call->dir = vc_runtime_build_template (vcd_daemon_get_runtime (call->daemon), error);
  return call->dir != NULL;
}

static void
done_build (gpointer data, const GError *error)
{
  BuildCall *call = data;
  if (error)
    {
      g_message ("template: creation failed: %s", error->message);
      vcd_return_error (call->invocation, error);
      return;
    }
  g_message ("template %s is ready", call->dir);
  g_dbus_method_invocation_return_value (call->invocation, g_variant_new ("(s)", call->dir));
}

static gboolean
on_create (VcdBusManager *manager, GDBusMethodInvocation *invocation, gpointer user_data)
{
  if (!require_root (invocation, "CreateTemplate"))
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  BuildCall *call = g_new0 (BuildCall, 1);
  call->daemon = user_data;
  call->invocation = invocation;
  vcd_worker_run (vcd_daemon_get_worker (call->daemon), work_build, done_build, call, build_call_free);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
on_remove (VcdBusManager *manager, GDBusMethodInvocation *invocation, const char *prefix,
           gpointer user_data)
{
  VcdDaemon *daemon = user_data;
  if (!require_root (invocation, "RemoveTemplates"))
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  g_autoptr(GError) error = NULL;
  guint removed = 0;
  if (!vc_runtime_remove_templates (vcd_daemon_get_runtime (daemon), *prefix ? prefix : NULL,
                                    &removed, &error))
    vcd_return_error (invocation, error);
  else
    vcd_bus_manager_complete_remove_templates (manager, invocation, removed);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

void
vcd_templates_connect (VcdDaemon *daemon, VcdBusManager *manager)
{
  g_signal_connect (manager, "handle-list-templates", G_CALLBACK (on_list), daemon);
  g_signal_connect (manager, "handle-create-template", G_CALLBACK (on_create), daemon);
  g_signal_connect (manager, "handle-remove-templates", G_CALLBACK (on_remove), daemon);
}
