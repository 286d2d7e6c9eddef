/* vcrun plugin ABI — common types.
 *
 * The headers in <vcrun/...> are the whole contract between libvcrun and its
 * plugins. Rules that hold everywhere:
 *  - Every fallible call returns gboolean or a pointer and sets a GError
 *    (domain VC_ERROR) on failure.
 *  - Inputs are borrowed for the duration of the call; returned memory is owned
 *    by the caller (free strings with g_free, arrays as documented).
 *  - Structs passed across the ABI start with a `struct_size` (or `version` and
 *    `size` for vtables) and are append-only: new fields go at the end, and a
 *    reader checks the size before touching a field added after 1.0.
 *  - Plugins are never unloaded.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Bump MAJOR on any incompatible change; bump MINOR when appending fields or
 * methods. A loader accepts plugins with the same MAJOR and MINOR <= its own. */
#define VC_ABI_MAJOR 1
#define VC_ABI_MINOR 5

/* Error domain shared by the core and all plugins. A quark is process-global,
 * so plugins need not link against libvcrun to use it. */
#define VC_ERROR (g_quark_from_static_string ("vc-error-quark"))

typedef enum {
  VC_ERROR_FAILED,            /* generic failure */
  VC_ERROR_INVALID_ARGUMENT,  /* bad input from the caller or a config file */
  VC_ERROR_NOT_FOUND,         /* no such sandbox, container, file, plugin */
  VC_ERROR_EXISTS,            /* the ID or object already exists */
  VC_ERROR_INVALID_STATE,     /* operation not allowed in the current state */
  VC_ERROR_NOT_SUPPORTED,     /* a NULL vtable method, or a backend limitation */
  VC_ERROR_TIMEOUT,           /* a deadline passed */
  VC_ERROR_PROTOCOL,          /* a peer (QMP, guest agent) sent something invalid */
  VC_ERROR_ABI,               /* a plugin does not match this libvcrun's ABI */
  VC_ERROR_CONFIG,            /* configuration error (message names file and line) */
  VC_ERROR_BUSY,              /* the sandbox is locked by another operation */
  VC_ERROR_ACCESS_DENIED,     /* the caller may not act on this object */
  VC_ERROR_STOPPED,           /* the VM or the peer went away */
} VcError;

/* The kinds a plugin can implement; a plugin may implement several. */
typedef enum {
  VC_PLUGIN_KIND_HYPERVISOR = 1 << 0,
  VC_PLUGIN_KIND_AGENT      = 1 << 1,
  VC_PLUGIN_KIND_FS         = 1 << 2,
  VC_PLUGIN_KIND_DEVICE     = 1 << 3,
} VcPluginKind;

/* ---------------------------------------------------------------------------
 * Devices, as the hypervisor sees them. Produced by fs-sharers and device
 * drivers, consumed by hypervisor add_device / hotplug_add.
 */
typedef enum {
  VC_DEVICE_BLOCK = 1,        /* a disk image or host block device */
  VC_DEVICE_FS_9P,            /* virtio-9p export of a host directory */
  VC_DEVICE_FS_VHOST_USER,    /* vhost-user-fs-pci against a running virtiofsd */
  VC_DEVICE_FS_VIRTIOFS,      /* virtio-fs whose daemon the hypervisor runs itself
                                 (libvirt); only if VC_HV_CAP_MANAGED_VIRTIOFS */
  VC_DEVICE_VFIO,             /* a host PCI device (reserved; not yet implemented) */
  /* ---- network (ABI 1.3) ---- */
  VC_DEVICE_NET,              /* a virtio-net NIC on an open tap fd; only if VC_HV_CAP_NET_TAP_FD
                                 (ABI 1.5: or on a tap named by host_path, net_fd -1; only if
                                 VC_HV_CAP_NET_TAP_NAME) */
} VcDeviceType;

/* Fields are borrowed when a VcDevice is passed in (const VcDevice *), owned
 * when one is returned (free with vc_device_free). */
typedef struct {
  gsize        struct_size;   /* sizeof (VcDevice) of the producer */
  VcDeviceType type;
  char        *id;            /* unique within the VM; used for hotplug_remove */
  char        *host_path;     /* BLOCK: image/device; 9P, VIRTIOFS: directory;
                                 VHOST_USER: virtiofsd's socket; VFIO: sysfs path */
  char        *tag;           /* 9P, VHOST_USER, VIRTIOFS: mount tag in the guest */
  gboolean     readonly;      /* BLOCK, 9P */
  char        *format;        /* BLOCK: "raw" or "qcow2" (NULL = raw) */
  char        *security_model;/* 9P: "mapped-xattr", "passthrough", "none" (NULL = none) */
  guint32      msize;         /* 9P: msize (0 = default) */
  guint32      queue_size;    /* VHOST_USER: 0 = default */
  guint64      cache_size;    /* VHOST_USER: DAX window bytes, 0 = no DAX */
  /* ---- network (ABI 1.3): read only when struct_size covers them ----
   * NET: host_path is the tap's name in its namespace (for messages and saved
   * state). The fd is borrowed like every input: a hypervisor that needs it
   * after the call (QEMU, until start_vm) keeps its own dup.
   * ABI 1.5, VC_HV_CAP_NET_TAP_NAME: net_fd is -1 and host_path names a
   * persistent tap (link down, no address) in the hypervisor's namespace,
   * which the VMM opens by name; the core moves it away after start_vm. */
  int          net_fd;        /* NET: the tap, opened with IFF_TAP|IFF_NO_PI; -1 = none */
  char        *mac;           /* NET: the guest NIC's MAC, "aa:bb:cc:dd:ee:ff" */
  guint32      mtu;           /* NET: the NIC's MTU, 0 = the hypervisor's default */
  gboolean     vnet_hdr;      /* NET: the tap was opened with IFF_VNET_HDR */
} VcDevice;

/* Whether a VcDevice from its producer has the field (added after 1.0). */
#define VC_DEVICE_HAS(d, field) \
  ((d)->struct_size >= G_STRUCT_OFFSET (VcDevice, field) + sizeof (((VcDevice *) 0)->field))

static inline VcDevice *
vc_device_new (VcDeviceType type, const char *id, const char *host_path, const char *tag)
{
  VcDevice *d = g_new0 (VcDevice, 1);
  d->struct_size = sizeof (VcDevice);
  d->type = type;
  d->id = g_strdup (id);
  d->host_path = g_strdup (host_path);
  d->tag = g_strdup (tag);
  d->net_fd = -1;
  return d;
}

static inline void
vc_device_free (VcDevice *d)
{
  if (d == NULL)
    return;
  g_free (d->id);
  g_free (d->host_path);
  g_free (d->tag);
  g_free (d->format);
  g_free (d->security_model);
  if (VC_DEVICE_HAS (d, mac))
    g_free (d->mac);
  g_free (d);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VcDevice, vc_device_free)

/* What the guest agent needs to find a device the hypervisor attached. */
typedef struct {
  gsize        struct_size;
  char        *id;            /* the VcDevice id */
  char        *driver;        /* Kata driver name: "blk", "virtio-blk-pci", "scsi", ... */
  char        *guest_address; /* PCI path "02/00" or SCSI address; may be NULL */
  char        *guest_path;    /* a device node in the guest if known, else NULL */
} VcGuestDevice;

static inline void
vc_guest_device_clear (VcGuestDevice *dev)
{
  g_clear_pointer (&dev->id, g_free);
  g_clear_pointer (&dev->driver, g_free);
  g_clear_pointer (&dev->guest_address, g_free);
  g_clear_pointer (&dev->guest_path, g_free);
}

/* ---------------------------------------------------------------------------
 * The agent channel the hypervisor offers. */
typedef enum {
  VC_AGENT_TRANSPORT_NONE = 0,
  VC_AGENT_TRANSPORT_SERIAL,       /* virtio-serial port "agent.channel.0", Unix socket path */
  VC_AGENT_TRANSPORT_VSOCK,        /* AF_VSOCK cid:port */
  VC_AGENT_TRANSPORT_HYBRID_VSOCK, /* Unix socket + "CONNECT <port>\n" / "OK ..." */
} VcAgentTransport;

typedef struct {
  gsize            struct_size;
  VcAgentTransport transport;
  char            *socket_path;    /* SERIAL, HYBRID_VSOCK */
  guint32          cid;            /* VSOCK */
  guint32          port;           /* VSOCK, HYBRID_VSOCK: 1024 */
} VcAgentEndpoint;

static inline void
vc_agent_endpoint_clear (VcAgentEndpoint *ep)
{
  g_clear_pointer (&ep->socket_path, g_free);
}

/* ---------------------------------------------------------------------------
 * Storage: what the agent must mount in the guest (Kata's grpc.Storage). */
typedef struct {
  gsize  struct_size;
  char  *driver;        /* Kata driver: "9p", "virtio-fs", "blk", "local", "ephemeral" */
  char  *source;        /* mount tag, device, or path in the guest */
  char  *fstype;        /* "9p", "virtiofs", "ext4", "tmpfs", ... */
  char **options;       /* NULL-terminated, e.g. {"trans=virtio", "version=9p2000.L"} */
  char  *mount_point;   /* absolute guest path */
} VcStorage;

/* Helpers are static inline so that plugins need not link against libvcrun. */
static inline VcStorage *
vc_storage_new (const char *driver, const char *source, const char *fstype,
                const char *const *options, const char *mount_point)
{
  VcStorage *s = g_new0 (VcStorage, 1);
  s->struct_size = sizeof (VcStorage);
  s->driver = g_strdup (driver);
  s->source = g_strdup (source);
  s->fstype = g_strdup (fstype);
  s->options = g_strdupv ((char **) options);
  if (s->options == NULL)
    s->options = g_new0 (char *, 1);
  s->mount_point = g_strdup (mount_point);
  return s;
}

static inline void
vc_storage_free (VcStorage *s)
{
  if (s == NULL)
    return;
  g_free (s->driver);
  g_free (s->source);
  g_free (s->fstype);
  g_strfreev (s->options);
  g_free (s->mount_point);
  g_free (s);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VcStorage, vc_storage_free)

/* Where a shared host path appears in the guest (fs-sharer output). */
typedef struct {
  gsize      struct_size;
  char      *guest_path;  /* absolute path in the guest */
  VcStorage *storage;     /* something the agent must mount first, or NULL when the
                             path is already visible through the sandbox storage */
} VcSharedPath;

static inline void
vc_shared_path_free (VcSharedPath *p)
{
  if (p == NULL)
    return;
  g_free (p->guest_path);
  vc_storage_free (p->storage);
  g_free (p);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VcSharedPath, vc_shared_path_free)

/* Opaque handles. Each plugin defines these structs privately; the core only
 * passes the pointers back to the plugin that made them. */
typedef struct VcPluginInstance VcPluginInstance; /* from VcPluginDescriptor.create */
typedef struct VcVm             VcVm;             /* a VM of a hypervisor plugin */
typedef struct VcAgentConn      VcAgentConn;      /* a connection of an agent plugin */
typedef struct VcFsShare        VcFsShare;        /* a sandbox's share of an fs plugin */

G_END_DECLS
