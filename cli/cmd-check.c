/* vcrun check: can this host run sandboxes? Prints a table, exits non-zero
 * when something the default sandbox needs is missing. */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <vcrun/hypervisor.h>
#include "cli.h"
#include "../core/registry.h"

typedef struct {
  GPtrArray *rows;   /* char*[3] triples, flattened */
  gboolean   failed;
} CheckTable;

static void
add_row (CheckTable *table, const char *what, gboolean ok, gboolean fatal, const char *detail)
{
  g_ptr_array_add (table->rows, g_strdup (what));
  g_ptr_array_add (table->rows, g_strdup (ok ? "ok" : fatal ? "FAIL" : "no"));
  g_ptr_array_add (table->rows, g_strdup (detail ? detail : ""));
  if (!ok && fatal)
    table->failed = TRUE;
}

static const VcRawSetting *
find_raw_setting (const VcConfig *config, const char *plugin, const char *key)
{
  for (guint i = 0; i < config->plugins->len; i++)
    {
      VcPluginEntry *entry = g_ptr_array_index (config->plugins, i);
      if (!g_str_equal (entry->name, plugin) || entry->settings == NULL)
        continue;
      for (guint j = 0; j < entry->settings->len; j++)
        {
          VcRawSetting *s = g_ptr_array_index (entry->settings, j);
          if (g_str_equal (s->key, key))
            return s;
        }
    }
  return NULL;
}

static gboolean
plugin_listed (const VcConfig *config, const char *name)
{
  for (guint i = 0; i < config->plugins->len; i++)
    if (g_str_equal (((VcPluginEntry *) g_ptr_array_index (config->plugins, i))->name, name))
      return TRUE;
  return FALSE;
}

static void
check_file (CheckTable *table, const char *what, const char *path, int mode, gboolean fatal)
{
  g_autofree char *detail = NULL;
  gboolean ok = path && access (path, mode) == 0;
  if (path == NULL)
    detail = g_strdup ("not configured");
  else
    detail = ok ? g_strdup (path) : g_strdup_printf ("%s: %s", path, g_strerror (errno));
  add_row (table, what, ok, fatal, detail);
}

static void
check_plugins (CheckTable *table, VcConfig *config)
{
  /* Load each plugin on its own so that one broken plugin does not hide the others. */
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
      if (registry == NULL)
        {
          gboolean used = g_strcmp0 (entry->name, config->sandbox.hypervisor) == 0 ||
                          g_strcmp0 (entry->name, config->sandbox.agent) == 0 ||
                          g_strcmp0 (entry->name, config->sandbox.fs) == 0;
          add_row (table, what, FALSE, used, error->message);
          continue;
        }
      VcPlugin *plugin = g_ptr_array_index (vc_registry_list (registry), 0);
      g_autofree char *kinds = vc_cli_kinds_string (plugin->desc->kinds);
      g_autofree char *detail = g_strdup_printf ("%s %s (%s)", kinds, plugin->desc->version, plugin->path);
      add_row (table, what, TRUE, TRUE, detail);

      const VcHypervisorOps *hv = vc_plugin_hypervisor (plugin);
      if (hv && hv->check && g_strcmp0 (entry->name, config->sandbox.hypervisor) == 0)
        {
          g_autoptr(GString) report = g_string_new (NULL);
          g_autoptr(GError) check_error = NULL;
          gboolean ok = hv->check (plugin->instance, report, &check_error);
          g_auto(GStrv) lines = g_strsplit (report->str, "\n", -1);
          for (char **l = lines; *l; l++)
            if (**l)
              add_row (table, "  hypervisor", TRUE, FALSE, *l);
          if (!ok)
            add_row (table, "  hypervisor", FALSE, TRUE, check_error ? check_error->message : "check failed");
        }
    }
}

int
vc_cmd_check (VcCli *cli, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  int status;
  if (!vc_cli_parse (vc_cli_command ("check"), NULL, &argc, &argv, &status))
    return status;
  if (argc > 1)
    return vc_cli_fail_msg ("check: unexpected argument '%s'", argv[1]);

  CheckTable table = { g_ptr_array_new_with_free_func (g_free), FALSE };
  const char *path = vc_config_default_path (cli->config_file);
  g_autoptr(VcConfig) config = vc_cli_load_config (cli, &error);
  add_row (&table, "configuration", config != NULL, TRUE, config ? path : error->message);

  int kvm = open ("/dev/kvm", O_RDWR | O_CLOEXEC);
  add_row (&table, "kvm", kvm >= 0, FALSE,
           kvm >= 0 ? "/dev/kvm opens (the hypervisor plugin says whether it works)"
                    : "no usable /dev/kvm: QEMU falls back to TCG (slower, works)");
  if (kvm >= 0)
    close (kvm);
  add_row (&table, "vhost-vsock", access ("/dev/vhost-vsock", R_OK | W_OK) == 0, FALSE,
           access ("/dev/vhost-vsock", R_OK | W_OK) == 0 ? "/dev/vhost-vsock"
             : "no /dev/vhost-vsock: the agent uses virtio-serial");

  if (config)
    {
      check_plugins (&table, config);
      if (plugin_listed (config, "fs-virtiofs"))
        {
          const VcRawSetting *daemon = find_raw_setting (config, "fs-virtiofs", "daemon");
          const char *virtiofsd = daemon ? g_variant_get_string (daemon->value, NULL) : VIRTIOFSD_DEFAULT;
          check_file (&table, "virtiofsd", virtiofsd, X_OK,
                      g_strcmp0 (config->sandbox.fs, "fs-virtiofs") == 0);
        }
      check_file (&table, "guest kernel", config->sandbox.kernel, R_OK, TRUE);
      check_file (&table, "guest initrd", config->sandbox.initrd, R_OK, TRUE);
      g_autofree char *state_parent = g_path_get_dirname (config->state_dir);
      check_file (&table, "state directory", config->state_dir ? state_parent : NULL, W_OK, TRUE);
    }

  printf ("%-20s %-6s %s\n", "CHECK", "STATUS", "DETAIL");
  for (guint i = 0; i + 2 < table.rows->len; i += 3)
    printf ("%-20s %-6s %s\n", (char *) table.rows->pdata[i], (char *) table.rows->pdata[i + 1],
            (char *) table.rows->pdata[i + 2]);
  printf ("\n%s\n", table.failed ? "This host cannot run sandboxes with this configuration."
                                 : "This host can run sandboxes.");
  gboolean failed = table.failed;
  g_ptr_array_unref (table.rows);
  return failed ? 1 : 0;
}
