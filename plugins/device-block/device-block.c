/* device-block: block volumes for containers.
 *
 * Two kinds of request become a VC_DEVICE_BLOCK disk of the VM:
 *  - a linux.devices entry of type 'b', i.e. a host block device (found by
 *    the core from its major:minor), which the agent turns into a device node
 *    in the container with the guest's numbers;
 *  - an OCI mount whose type names a block filesystem (ext4, xfs, ...) and
 *    whose source is a raw disk image file or a host block device, which the
 *    agent mounts in the guest and binds at the mount's destination.
 * The hypervisor opens the image itself (and locks it: two VMs never write
 * one disk); this plugin checks the request and names the device.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vcrun/device.h>

struct VcPluginInstance {
  gboolean allow_host_devices;
  gboolean allow_images;
};

static const VcSettingSpec device_block_settings[] = {
  { .name = "allow_host_devices", .type = VC_SETTING_BOOL,
    .description = "pass host block devices named in linux.devices into sandboxes",
    .default_value = "true" },
  { .name = "allow_images", .type = VC_SETTING_BOOL,
    .description = "attach raw image files named by block-filesystem mounts",
    .default_value = "true" },
  { NULL }
};

static VcPluginInstance *
device_block_create (const VcPluginHost *host, GVariant *settings, GError **error)
{
  (void) host;
  (void) error;
  VcPluginInstance *self = g_new0 (VcPluginInstance, 1);
  self->allow_host_devices = TRUE;
  self->allow_images = TRUE;
  if (settings)
    {
      g_variant_lookup (settings, "allow_host_devices", "b", &self->allow_host_devices);
      g_variant_lookup (settings, "allow_images", "b", &self->allow_images);
    }
  return self;
}

static void
device_block_destroy (VcPluginInstance *self)
{
  g_free (self);
}

static gboolean
device_block_supports (VcPluginInstance *self, const VcDeviceRequest *request)
{
  struct stat st;
  if (request->host_path == NULL || !g_path_is_absolute (request->host_path)
      || stat (request->host_path, &st) != 0)
    return FALSE;
  switch (request->kind)
    {
    case VC_DEVICE_REQUEST_OCI_DEVICE:
      return self->allow_host_devices && request->type == 'b' && S_ISBLK (st.st_mode);
    case VC_DEVICE_REQUEST_BLOCK_MOUNT:
      if (S_ISBLK (st.st_mode))
        return self->allow_host_devices;
      return self->allow_images && S_ISREG (st.st_mode);
    default:
      return FALSE;
    }
}

/* A QEMU-safe id, unique per container and path: "blk" + 16 hex digits. */
static char *
device_id (const VcDeviceRequest *request)
{
  g_autofree char *key = g_strdup_printf ("%s\n%s\n%s", request->container_id ? request->container_id : "",
                                          request->host_path, request->container_path ? request->container_path : "");
  g_autofree char *sum = g_compute_checksum_for_string (G_CHECKSUM_SHA256, key, -1);
  return g_strdup_printf ("blk%.16s", sum);
}

static VcDevice *
device_block_attach (VcPluginInstance *self, const VcDeviceRequest *request, GError **error)
{
  if (!device_block_supports (self, request))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "%s: not a block device or image file this plugin accepts",
                   request->host_path ? request->host_path : "(no path)");
      return NULL;
    }
  /* The hypervisor runs as we do: fail here, with the path, rather than in QEMU. */
  int fd = open (request->host_path, (request->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, VC_ERROR, saved == ENOENT ? VC_ERROR_NOT_FOUND : VC_ERROR_FAILED,
                   "%s: cannot open %s: %s", request->host_path,
                   request->readonly ? "read-only" : "read-write", g_strerror (saved));
      return NULL;
    }
  close (fd);
  g_autofree char *id = device_id (request);
  VcDevice *dev = vc_device_new (VC_DEVICE_BLOCK, id, request->host_path, NULL);
  dev->readonly = request->readonly;
  dev->format = g_strdup ("raw");
  return dev;
}

static gboolean
device_block_detach (VcPluginInstance *self, const VcDeviceRequest *request, const char *device_id,
                     GError **error)
{
  /* Nothing of ours outlives the hypervisor's device. */
  (void) self;
  (void) request;
  (void) device_id;
  (void) error;
  return TRUE;
}

static const VcDeviceOps device_block_ops = {
  .version = VC_DEVICE_OPS_VERSION,
  .size = sizeof (VcDeviceOps),
  .supports = device_block_supports,
  .attach = device_block_attach,
  .detach = device_block_detach,
};

static const VcPluginDescriptor descriptor = {
  .abi_major = VC_ABI_MAJOR,
  .abi_minor = VC_ABI_MINOR,
  .struct_size = sizeof (VcPluginDescriptor),
  .name = "device-block",
  .version = PACKAGE_VERSION,
  .description = "block volumes: host block devices and raw filesystem images as virtio-blk disks",
  .kinds = VC_PLUGIN_KIND_DEVICE,
  .settings = device_block_settings,
  .create = device_block_create,
  .destroy = device_block_destroy,
  .device = &device_block_ops,
};

VC_PLUGIN_EXPORT const VcPluginDescriptor *vc_plugin_descriptor (void);

VC_PLUGIN_EXPORT const VcPluginDescriptor *
vc_plugin_descriptor (void)
{
  return &descriptor;
}
