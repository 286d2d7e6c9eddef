/* vcrun: what the embedded container commands share (and create and run
 * through vcrund check first): the runtime of --config/--root, finding a
 * container, checking a new one. */
#include "config.h"

#include <vcrun/types.h>
#include "cli.h"

VcRuntime *
vc_cli_open_runtime (VcCli *cli, GError **error)
{
  return vc_runtime_new (cli->config_file, cli->root, error);
}

gboolean
vc_cli_container_error (const char *id, GError *local, GError **error)
{
  g_autoptr(GError) owned = local;
  if (g_error_matches (local, VC_ERROR, VC_ERROR_NOT_FOUND))
    g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "container %s does not exist", id);
  else if (g_error_matches (local, VC_ERROR, VC_ERROR_EXISTS))
    g_set_error (error, VC_ERROR, VC_ERROR_EXISTS,
                 "container ID %s is already in use (see 'vcrun list')", id);
  else
    g_propagate_error (error, g_steal_pointer (&owned));
  return FALSE;
}

gboolean
vc_cli_load (VcRuntime *runtime, const char *id, VcSandbox **sandbox_out,
             VcContainer **container_out, GError **error)
{
  g_autoptr(GError) local = NULL;

  if (!vc_id_validate (id, "container", error))
    return FALSE;
  g_autoptr(VcSandbox) sandbox = vc_sandbox_load (runtime, id, &local);
  if (sandbox == NULL)
    return vc_cli_container_error (id, g_steal_pointer (&local), error);
  /* One container per sandbox, with the sandbox's ID. */
  *container_out = vc_sandbox_get_container (sandbox, id, NULL);
  *sandbox_out = g_steal_pointer (&sandbox);
  return TRUE;
}

gboolean
vc_cli_check_bundle (const char *id, const char *bundle, char **bundle_abs, gboolean *terminal,
                     GError **error)
{
  if (!vc_id_validate (id, "container", error))
    return FALSE;

  g_autofree char *abs = g_canonicalize_filename (bundle ? bundle : ".", NULL);
  if (!g_file_test (abs, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "no such bundle: %s is not a directory",
                   bundle ? bundle : abs);
      return FALSE;
    }
  g_autofree char *config_json = g_build_filename (abs, "config.json", NULL);
  if (!g_file_test (config_json, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND,
                   "no such bundle: %s has no config.json (write one with 'vcrun spec')", abs);
      return FALSE;
    }
  if (!vc_bundle_check (abs, terminal, error))
    return FALSE;
  *bundle_abs = g_steal_pointer (&abs);
  return TRUE;
}

gboolean
vc_cli_check_new_container (VcCli *cli, const char *id, const char *bundle, char **bundle_abs,
                            gboolean *terminal, GError **error)
{
  g_autofree char *abs = NULL;
  if (!vc_cli_check_bundle (id, bundle, &abs, terminal, error))
    return FALSE;
  /* The core refuses a duplicate too (atomically); asking first avoids
   * booting a VM only to be told. */
  g_autofree char *state_dir = vc_runtime_peek_state_dir (cli->config_file, cli->root, error);
  if (state_dir == NULL)
    return FALSE;
  g_autofree char *dir = g_build_filename (state_dir, id, NULL);
  if (g_file_test (dir, G_FILE_TEST_EXISTS))
    return vc_cli_container_error (id, g_error_new_literal (VC_ERROR, VC_ERROR_EXISTS, dir), error);
  *bundle_abs = g_steal_pointer (&abs);
  return TRUE;
}
