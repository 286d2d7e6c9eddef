/* vcrund: CreateSandbox's a{sv} options (options.h). */
#include "config.h"

#include "options.h"

static gboolean
option_uint (const char *key, GVariant *value, guint64 min, guint64 max, guint64 *out,
             GError **error)
{
  gint64 signed_value = 0;
  guint64 unsigned_value = 0;
  gboolean is_signed = TRUE;
  switch (g_variant_classify (value))
    {
    case G_VARIANT_CLASS_BYTE:    unsigned_value = g_variant_get_byte (value); is_signed = FALSE; break;
    case G_VARIANT_CLASS_UINT16:  unsigned_value = g_variant_get_uint16 (value); is_signed = FALSE; break;
    case G_VARIANT_CLASS_UINT32:  unsigned_value = g_variant_get_uint32 (value); is_signed = FALSE; break;
    case G_VARIANT_CLASS_UINT64:  unsigned_value = g_variant_get_uint64 (value); is_signed = FALSE; break;
    case G_VARIANT_CLASS_INT16:   signed_value = g_variant_get_int16 (value); break;
    case G_VARIANT_CLASS_INT32:   signed_value = g_variant_get_int32 (value); break;
    case G_VARIANT_CLASS_INT64:   signed_value = g_variant_get_int64 (value); break;
    default:
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "option '%s' must be a number, not of type '%s'", key,
                   g_variant_get_type_string (value));
      return FALSE;
    }
  if (is_signed && signed_value < 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "option '%s' must be %" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT
                   ", not %" G_GINT64_FORMAT, key, min, max, signed_value);
      return FALSE;
    }
  guint64 v = is_signed ? (guint64) signed_value : unsigned_value;
  if (v < min || v > max)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "option '%s' must be %" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT
                   ", not %" G_GUINT64_FORMAT, key, min, max, v);
      return FALSE;
    }
  *out = v;
  return TRUE;
}

static gboolean
option_string (const char *key, GVariant *value, const char **out, GError **error)
{
  if (!g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "option '%s' must be a string, not of type '%s'", key,
                   g_variant_get_type_string (value));
      return FALSE;
    }
  *out = g_variant_get_string (value, NULL);
  return TRUE;
}

gboolean
vcd_sandbox_options_parse (GVariant *options, guint caller_uid, VcSandboxOptions *opts, GError **error)
{
  GVariantIter iter;
  const char *key;
  GVariant *raw;
  g_variant_iter_init (&iter, options);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &raw))
    {
      g_autoptr(GVariant) value = raw;
      guint64 n = 0;
      gboolean ok;
      if (g_str_equal (key, "hypervisor"))
        ok = option_string (key, value, &opts->hypervisor, error);
      else if (g_str_equal (key, "agent"))
        ok = option_string (key, value, &opts->agent, error);
      else if (g_str_equal (key, "fs"))
        ok = option_string (key, value, &opts->fs, error);
      else if (g_str_equal (key, "kernel_params"))
        ok = option_string (key, value, &opts->kernel_params, error);
      else if (g_str_equal (key, "hostname"))
        ok = option_string (key, value, &opts->hostname, error);
      else if (g_str_equal (key, "netns"))
        {
          /* vcrund (root) would enter it and change it for the caller. */
          if (caller_uid != 0)
            {
              g_set_error (error, VC_ERROR, VC_ERROR_ACCESS_DENIED,
                           "only root may give a sandbox a network namespace (option 'netns')");
              return FALSE;
            }
          ok = option_string (key, value, &opts->netns, error);
        }
      else if (g_str_equal (key, "bundle"))
        {
          /* The first container's bundle: its block volumes are cold-plugged
           * at boot. As CreateContainer: absolute, and the caller's own. */
          ok = option_string (key, value, &opts->bundle, error);
          if (ok && !g_path_is_absolute (opts->bundle))
            {
              g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                           "option 'bundle' must be an absolute path, not '%s'", opts->bundle);
              return FALSE;
            }
          if (ok && caller_uid != 0 && !vc_bundle_check_owner (opts->bundle, caller_uid, error))
            return FALSE;
        }
      else if (g_str_equal (key, "container"))
        {
          ok = option_string (key, value, &opts->container_id, error);
          if (ok && !vc_id_validate (opts->container_id, "container", error))
            return FALSE;
        }
      else if (g_str_equal (key, "kernel") || g_str_equal (key, "initrd"))
        {
          /* QEMU (as root) reads these files; the guest could then show
           * their contents to the caller. */
          if (caller_uid != 0)
            {
              g_set_error (error, VC_ERROR, VC_ERROR_ACCESS_DENIED,
                           "only root may choose the guest %s (option '%s')", key, key);
              return FALSE;
            }
          ok = option_string (key, value, g_str_equal (key, "kernel") ? &opts->kernel
                                                                     : &opts->initrd, error);
          const char *path = g_str_equal (key, "kernel") ? opts->kernel : opts->initrd;
          if (ok && !g_path_is_absolute (path))
            {
              g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                           "option '%s' must be an absolute path, not '%s'", key, path);
              return FALSE;
            }
        }
      else if (g_str_equal (key, "vcpus") || g_str_equal (key, "max_vcpus"))
        {
          ok = option_uint (key, value, 1, 256, &n, error);
          if (g_str_equal (key, "vcpus"))
            opts->vcpus = n;
          else
            opts->max_vcpus = n;
        }
      else if (g_str_equal (key, "memory_mib") || g_str_equal (key, "max_memory_mib"))
        {
          ok = option_uint (key, value, 64, 1048576, &n, error);
          if (g_str_equal (key, "memory_mib"))
            opts->memory_mib = n;
          else
            opts->max_memory_mib = n;
        }
      else if (g_str_equal (key, "boot_timeout_ms"))
        {
          ok = option_uint (key, value, 1, 3600000, &n, error);
          opts->boot_timeout_ms = n;
        }
      else
        {
          g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                       "unknown option '%s' (known: hypervisor, agent, fs, vcpus, max_vcpus, "
                       "memory_mib, max_memory_mib, kernel, initrd, kernel_params, hostname, "
                       "boot_timeout_ms, netns, bundle, container)", key);
          return FALSE;
        }
      if (!ok)
        return FALSE;
    }
  return TRUE;
}
