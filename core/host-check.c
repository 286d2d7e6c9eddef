/* libvcrun: `vcrun check`, each plugin answering for itself (see host-check.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <vcrun/fs.h>
#include <vcrun/hypervisor.h>
#include <vcrun/plugin.h>

#include "host-check.h"
#include "registry.h"
#include "runtime.h"
#include "template.h"
#include "vc-config.h"

static void
row_free (VcCheckRow *row)
{
  g_free (row->what);
  g_free (row->status);
  g_free (row->detail);
  g_free (row);
}

void
vc_check_report_free (VcCheckReport *report)
{
  if (report == NULL)
    return;
  g_ptr_array_unref (report->rows);
  g_free (report);
}

static void
add_row (VcCheckReport *report, const char *what, gboolean ok, gboolean fatal, const char *detail)
{
  VcCheckRow *row = g_new0 (VcCheckRow, 1);
  row->what = g_strdup (what);
  row->status = g_strdup (ok ? "ok" : fatal ? "FAIL" : "no");
  row->detail = g_strdup (detail ? detail : "");
  g_ptr_array_add (report->rows, row);
  if (!ok && fatal)
    report->failed = TRUE;
}

static void
check_file (VcCheckReport *report, const char *what, const char *path, int mode, gboolean fatal)
{
  g_autofree char *detail = NULL;
  gboolean ok = path && access (path, mode) == 0;
  if (path == NULL)
    detail = g_strdup ("not configured");
  else
    detail = ok ? g_strdup (path) : g_strdup_printf ("%s: %s", path, g_strerror (errno));
  add_row (report, what, ok, fatal, detail);
}

/* A plugin's own check: its report lines as ok rows, its failure as one more. */
typedef gboolean (*PluginCheck) (VcPluginInstance *self, GString *report, GError **error);

static void
run_plugin_check (VcCheckReport *report, const char *what, PluginCheck check,
                  VcPluginInstance *instance, gboolean fatal)
{
  g_autoptr(GString) text = g_string_new (NULL);
  g_autoptr(GError) error = NULL;
  gboolean ok = check (instance, text, &error);
  g_auto(GStrv) lines = g_strsplit (text->str, "\n", -1);
  for (char **l = lines; *l; l++)
    if (**l)
      add_row (report, what, TRUE, FALSE, *l);
  if (!ok)
    add_row (report, what, FALSE, fatal, error ? error->message : "check failed");
}

static void
check_plugins (VcCheckReport *report, VcConfig *config, gboolean *hv_templates)
{
  GPtrArray *all = config->plugins;
  for (guint i = 0; i < all->len; i++)
    {
      VcPluginEntry *entry = g_ptr_array_index (all, i);
      g_autoptr(GPtrArray) one = g_ptr_array_new ();
      g_autoptr(GError) error = NULL;
      g_ptr_array_add (one, entry);
      config->plugins = one;
      g_autoptr(VcRegistry) registry = vc_registry_load (config, &error);
      config->plugins = all;
      g_autofree char *what = g_strdup_printf ("plugin %s", entry->name);
      gboolean is_hv = g_strcmp0 (entry->name, config->sandbox.hypervisor) == 0;
      gboolean is_fs = g_strcmp0 (entry->name, config->sandbox.fs) == 0;
      if (registry == NULL)
        {
          gboolean used = is_hv || is_fs || g_strcmp0 (entry->name, config->sandbox.agent) == 0;
          add_row (report, what, FALSE, used, error->message);
          continue;
        }
      VcPlugin *plugin = g_ptr_array_index (vc_registry_list (registry), 0);
      g_autofree char *kinds = vc_plugin_kinds_string (plugin->desc->kinds);
      g_autofree char *detail = g_strdup_printf ("%s %s (%s)", kinds, plugin->desc->version,
                                                 plugin->path);
      add_row (report, what, TRUE, TRUE, detail);

      /* Every hypervisor and fs plugin answers for itself; only the
       * default sandbox's plugins make a failure fatal. */
      const VcHypervisorOps *hv = vc_plugin_hypervisor (plugin);
      if (hv && is_hv)
        *hv_templates = hv->capabilities && hv->template_identity && hv->save_template
                        && (hv->capabilities (plugin->instance) & VC_HV_CAP_TEMPLATE);
      if (hv && hv->check)
        run_plugin_check (report, "  hypervisor", hv->check, plugin->instance, is_hv);
      const VcFsOps *fs = vc_plugin_fs (plugin);
      if (fs && fs->check)
        run_plugin_check (report, "  fs", fs->check, plugin->instance, is_fs);
    }
}

VcCheckReport *
vc_check_host (const char *config_file, const char *state_dir)
{
  VcCheckReport *report = g_new0 (VcCheckReport, 1);
  report->rows = g_ptr_array_new_with_free_func ((GDestroyNotify) row_free);

  g_autoptr(GError) error = NULL;
  const char *path = vc_config_default_path (config_file);
  g_autoptr(VcConfig) config = vc_config_load (path, &error);
  if (config && state_dir)
    {
      g_free (config->state_dir);
      config->state_dir = g_strdup (state_dir);
    }
  add_row (report, "configuration", config != NULL, TRUE, config ? path : error->message);

  int kvm = open ("/dev/kvm", O_RDWR | O_CLOEXEC);
  add_row (report, "kvm", kvm >= 0, FALSE,
           kvm >= 0 ? "/dev/kvm opens (the hypervisor plugin says whether it works)"
                    : "no usable /dev/kvm: QEMU falls back to TCG (slower, works)");
  if (kvm >= 0)
    close (kvm);
  gboolean vsock = access ("/dev/vhost-vsock", R_OK | W_OK) == 0;
  add_row (report, "vhost-vsock", vsock, FALSE,
           vsock ? "/dev/vhost-vsock" : "no /dev/vhost-vsock: the agent uses virtio-serial");

  if (config)
    {
      gboolean hv_templates = FALSE;
      check_plugins (report, config, &hv_templates);
      check_file (report, "guest kernel", config->sandbox.kernel, R_OK, TRUE);
      check_file (report, "guest initrd", config->sandbox.initrd, R_OK, TRUE);
      g_autofree char *state_parent = config->state_dir ? g_path_get_dirname (config->state_dir)
                                                        : NULL;
      check_file (report, "state directory", state_parent, W_OK, TRUE);
      guint n = config->state_dir ? vc_template_count (config->state_dir) : 0;
      g_autofree char *templates = g_strdup_printf (
          "%s (sandbox.template); %u saved in %s/.templates (vcrun template list)",
          !config->sandbox.template ? "off"
          : hv_templates ? "sandboxes start from a template"
          : "on, but the hypervisor plugin has none: sandboxes boot cold", n,
          config->state_dir ? config->state_dir : "?");
      add_row (report, "templates", config->sandbox.template, FALSE, templates);
    }
  return report;
}
