/* Fixture plugins for the loader tests: one source, built once per fixture
 * with -D switches that break exactly one thing (see Makefile.am).
 *
 *   FIXTURE_NAME            the descriptor's name (required)
 *   FIXTURE_KINDS           the kinds announced (default hypervisor|fs)
 *   FIXTURE_ABI_MAJOR/MINOR the ABI announced (default this header's)
 *   FIXTURE_STRUCT_SIZE     the descriptor's struct_size (default sizeof)
 *   FIXTURE_NULL_FS_VTABLE  announce fs but leave its vtable NULL
 *   FIXTURE_SHORT_VTABLE    a hypervisor vtable whose size is too small
 *   FIXTURE_CREATE_ERROR    create fails with an error
 *   FIXTURE_CREATE_NULL     create returns NULL without an error
 *   FIXTURE_NO_DESCRIPTOR   export a misspelled descriptor symbol
 *   FIXTURE_NULL_DESCRIPTOR the descriptor function returns NULL
 *   FIXTURE_UNDEFINED       reference a symbol nobody defines (dlopen fails)
 *   FIXTURE_BAD_DEFAULT     a settings spec whose default is not an int
 *   FIXTURE_NO_START_VM     a hypervisor vtable without the required start_vm
 *   FIXTURE_ABI_1_0         built as against ABI 1.0: minor 0, an fs vtable of
 *                           version 1 ending at free_share (no check)
 *
 * Every fixture counts its live instances and keeps the settings create()
 * got, readable through fixture_live_instances() / fixture_last_settings().
 */
#include <vcrun/plugin.h>
#include <vcrun/hypervisor.h>
#include <vcrun/agent.h>
#include <vcrun/fs.h>

#ifndef FIXTURE_KINDS
#define FIXTURE_KINDS (VC_PLUGIN_KIND_HYPERVISOR | VC_PLUGIN_KIND_FS)
#endif
#ifndef FIXTURE_ABI_MAJOR
#define FIXTURE_ABI_MAJOR VC_ABI_MAJOR
#endif
#ifndef FIXTURE_ABI_MINOR
#ifdef FIXTURE_ABI_1_0
#define FIXTURE_ABI_MINOR 0
#else
#define FIXTURE_ABI_MINOR VC_ABI_MINOR
#endif
#endif
#ifndef FIXTURE_STRUCT_SIZE
#define FIXTURE_STRUCT_SIZE sizeof (VcPluginDescriptor)
#endif

struct VcPluginInstance {
  char *settings_text;
};

static int live_instances;
static char *last_settings;

VC_PLUGIN_EXPORT int fixture_live_instances (void);
VC_PLUGIN_EXPORT const char *fixture_last_settings (void);

VC_PLUGIN_EXPORT int
fixture_live_instances (void)
{
  return live_instances;
}

VC_PLUGIN_EXPORT const char *
fixture_last_settings (void)
{
  return last_settings;
}

#ifdef FIXTURE_UNDEFINED
extern void vc_fixture_symbol_nobody_defines (void);
#endif

static VcPluginInstance *
fixture_create (const VcPluginHost *host, GVariant *settings, GError **error)
{
#ifdef FIXTURE_UNDEFINED
  vc_fixture_symbol_nobody_defines ();
#endif
  g_free (last_settings);
  last_settings = g_variant_print (settings, FALSE);
#if defined(FIXTURE_CREATE_ERROR)
  g_set_error (error, VC_ERROR, VC_ERROR_CONFIG, "fixture create failed: 'label' is bad");
  return NULL;
#elif defined(FIXTURE_CREATE_NULL)
  return NULL;
#else
  if (host->struct_size < sizeof *host || g_strcmp0 (host->plugin_name, FIXTURE_NAME) != 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "fixture: bad VcPluginHost");
      return NULL;
    }
  VcPluginInstance *self = g_new0 (VcPluginInstance, 1);
  self->settings_text = g_strdup (last_settings);
  live_instances++;
  return self;
#endif
}

static void
fixture_destroy (VcPluginInstance *self)
{
  live_instances--;
  g_free (self->settings_text);
  g_free (self);
}

static guint64
fixture_capabilities (VcPluginInstance *self)
{
  return VC_HV_CAP_PAUSE | VC_HV_CAP_FS_9P;
}

#ifndef FIXTURE_NULL_FS_VTABLE
static VcFsShare *
fixture_prepare (VcPluginInstance *self, const VcFsSandboxConfig *config, GError **error)
{
  g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED, "fixture: prepare is not supported");
  return NULL;
}
#endif

static gboolean
fixture_agent_check (VcAgentConn *conn, GError **error)
{
  return TRUE;
}

/* The required methods the loader checks for; the loader tests never call them. */
static gboolean
fixture_unsupported (GError **error)
{
  g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED, "fixture: not supported");
  return FALSE;
}

static VcVm *
fixture_create_vm (VcPluginInstance *self, const VcVmConfig *config, GError **error)
{
  fixture_unsupported (error);
  return NULL;
}

static gboolean
fixture_vm_op (VcVm *vm, guint timeout_ms, GError **error)
{
  return fixture_unsupported (error);
}

static gboolean
fixture_get_agent_endpoint (VcVm *vm, VcAgentEndpoint *out, GError **error)
{
  return fixture_unsupported (error);
}

static void
fixture_free_vm (VcVm *vm)
{
}

static VcAgentConn *
fixture_connect (VcPluginInstance *self, const VcAgentEndpoint *endpoint, guint timeout_ms,
                 GError **error)
{
  fixture_unsupported (error);
  return NULL;
}

static void
fixture_disconnect (VcAgentConn *conn)
{
}

static gboolean
fixture_create_sandbox (VcAgentConn *conn, const VcAgentSandboxConfig *config, GError **error)
{
  return fixture_unsupported (error);
}

static gboolean
fixture_create_container (VcAgentConn *conn, const VcContainerConfig *config, GError **error)
{
  return fixture_unsupported (error);
}

static gboolean
fixture_start_container (VcAgentConn *conn, const char *container_id, GError **error)
{
  return fixture_unsupported (error);
}

#ifndef FIXTURE_NULL_FS_VTABLE
static VcSharedPath *
fixture_share_rootfs (VcFsShare *share, const char *container_id, const char *host_rootfs,
                      gboolean readonly, GError **error)
{
  fixture_unsupported (error);
  return NULL;
}

static gboolean
fixture_cleanup (VcFsShare *share, GError **error)
{
  return fixture_unsupported (error);
}

static void
fixture_free_share (VcFsShare *share)
{
}

#ifndef FIXTURE_ABI_1_0
static gboolean
fixture_fs_check (VcPluginInstance *self, GString *report, GError **error)
{
  g_string_append (report, "fixture: ok\n");
  return TRUE;
}
#endif
#endif /* FIXTURE_NULL_FS_VTABLE */

static const VcHypervisorOps hypervisor_ops = {
  .version = VC_HYPERVISOR_OPS_VERSION,
#ifdef FIXTURE_SHORT_VTABLE
  .size = 16,
#else
  .size = sizeof (VcHypervisorOps),
#endif
  .capabilities = fixture_capabilities,
  .create_vm = fixture_create_vm,
#ifndef FIXTURE_NO_START_VM
  .start_vm = fixture_vm_op,
#endif
  .stop_vm = fixture_vm_op,
  .get_agent_endpoint = fixture_get_agent_endpoint,
  .free_vm = fixture_free_vm,
};

#ifndef FIXTURE_NULL_FS_VTABLE
static const VcFsOps fs_ops = {
#ifdef FIXTURE_ABI_1_0
  .version = 1,
  .size = G_STRUCT_OFFSET (VcFsOps, free_share) + sizeof (gpointer),
#else
  .version = VC_FS_OPS_VERSION,
  .size = sizeof (VcFsOps),
  .check = fixture_fs_check,
#endif
  .prepare = fixture_prepare,
  .share_rootfs = fixture_share_rootfs,
  .cleanup = fixture_cleanup,
  .free_share = fixture_free_share,
};
#endif

static const VcAgentOps agent_ops = {
  .version = VC_AGENT_OPS_VERSION,
  .size = sizeof (VcAgentOps),
  .check = fixture_agent_check,
  .connect = fixture_connect,
  .disconnect = fixture_disconnect,
  .create_sandbox = fixture_create_sandbox,
  .create_container = fixture_create_container,
  .start_container = fixture_start_container,
};

static const char *const modes[] = { "fast", "slow", NULL };

static const VcSettingSpec settings[] = {
  { "flag",  VC_SETTING_BOOL,   "a boolean",               "false", 0, 0, NULL },
#ifdef FIXTURE_BAD_DEFAULT
  { "count", VC_SETTING_INT,    "an integer in 1..100",    "ten",   1, 100, NULL },
#else
  { "count", VC_SETTING_INT,    "an integer in 1..100",    "10",    1, 100, NULL },
#endif
  { "label", VC_SETTING_STRING, "a string without default", NULL,   0, 0, NULL },
  { "mode",  VC_SETTING_ENUM,   "fast or slow",            "fast",  0, 0, modes },
  { "any",   VC_SETTING_INT,    "any integer",             NULL,    0, 0, NULL },
  { NULL }
};

static const VcPluginDescriptor descriptor = {
  .abi_major = FIXTURE_ABI_MAJOR,
  .abi_minor = FIXTURE_ABI_MINOR,
  .struct_size = FIXTURE_STRUCT_SIZE,
  .name = FIXTURE_NAME,
  .version = "1.2.3",
  .description = "loader test fixture",
  .kinds = FIXTURE_KINDS,
  .settings = settings,
  .create = fixture_create,
  .destroy = fixture_destroy,
  .hypervisor = (FIXTURE_KINDS & VC_PLUGIN_KIND_HYPERVISOR) ? &hypervisor_ops : NULL,
  .agent = (FIXTURE_KINDS & VC_PLUGIN_KIND_AGENT) ? &agent_ops : NULL,
#ifdef FIXTURE_NULL_FS_VTABLE
  .fs = NULL,
#else
  .fs = (FIXTURE_KINDS & VC_PLUGIN_KIND_FS) ? &fs_ops : NULL,
#endif
};

#if defined(FIXTURE_NO_DESCRIPTOR)
VC_PLUGIN_EXPORT const VcPluginDescriptor *vc_plugin_descriptr (void);
VC_PLUGIN_EXPORT const VcPluginDescriptor *
vc_plugin_descriptr (void)
{
  return &descriptor;
}
#else
VC_PLUGIN_EXPORT const VcPluginDescriptor *vc_plugin_descriptor (void);
VC_PLUGIN_EXPORT const VcPluginDescriptor *
vc_plugin_descriptor (void)
{
#ifdef FIXTURE_NULL_DESCRIPTOR
  (void) descriptor;   /* built, but not handed out */
  return NULL;
#else
  return &descriptor;
#endif
}
#endif
