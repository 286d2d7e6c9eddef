/* hypervisor-libvirt: the domain XML, written with libxml2's xmlTextWriter
 * (every value is escaped by the writer, never pasted into markup), and the
 * few questions asked of a domain's live XML, answered with XPath. */
#include "config.h"

#include "libvirt-plugin.h"

#include <libxml/parser.h>
#include <libxml/xmlwriter.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <string.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC (xmlTextWriter, xmlFreeTextWriter)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (xmlBuffer, xmlBufferFree)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (xmlDoc, xmlFreeDoc)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (xmlXPathContext, xmlXPathFreeContext)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (xmlXPathObject, xmlXPathFreeObject)

/* A writer and the status of everything written with it: the first failure
 * sticks, so that building code needs no check after every element. */
typedef struct {
  xmlTextWriterPtr w;
  gboolean         failed;
  const char      *bad;     /* the element or attribute whose value is not UTF-8 */
} Xml;

/* libxml2 writes bytes as given: text that is not UTF-8 is refused here. */
static gboolean
valid (Xml *x, const char *name, const char *value)
{
  if (x->failed)
    return FALSE;
  if (!g_utf8_validate (value, -1, NULL))
    {
      x->failed = TRUE;
      x->bad = name;
      return FALSE;
    }
  return TRUE;
}

static void
open_el (Xml *x, const char *name)
{
  if (!x->failed && xmlTextWriterStartElement (x->w, BAD_CAST name) < 0)
    x->failed = TRUE;
}

static void
close_el (Xml *x)
{
  if (!x->failed && xmlTextWriterEndElement (x->w) < 0)
    x->failed = TRUE;
}

static void
attr (Xml *x, const char *name, const char *value)
{
  if (valid (x, name, value) && xmlTextWriterWriteAttribute (x->w, BAD_CAST name, BAD_CAST value) < 0)
    x->failed = TRUE;
}

static void G_GNUC_PRINTF (3, 4)
attrf (Xml *x, const char *name, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *value = g_strdup_vprintf (format, args);
  va_end (args);
  attr (x, name, value);
}

/* <name attr=value...>text</name>; pairs of attribute name and value, NULL-ended. */
static void
text_el (Xml *x, const char *name, const char *text, ...)
{
  open_el (x, name);
  va_list args;
  va_start (args, text);
  const char *key;
  while ((key = va_arg (args, const char *)) != NULL)
    attr (x, key, va_arg (args, const char *));
  va_end (args);
  if (text != NULL && valid (x, name, text) && xmlTextWriterWriteString (x->w, BAD_CAST text) < 0)
    x->failed = TRUE;
  close_el (x);
}

/* An empty element with attribute pairs, NULL-ended. */
static void
empty_el (Xml *x, const char *name, ...)
{
  open_el (x, name);
  va_list args;
  va_start (args, name);
  const char *key;
  while ((key = va_arg (args, const char *)) != NULL)
    attr (x, key, va_arg (args, const char *));
  va_end (args);
  close_el (x);
}

static void
pci_address (Xml *x, guint bus, guint slot)
{
  open_el (x, "address");
  attr (x, "type", "pci");
  attr (x, "domain", "0x0000");
  attrf (x, "bus", "0x%02x", bus);
  attrf (x, "slot", "0x%02x", slot);
  attr (x, "function", "0x0");
  close_el (x);
}

static const char *
accessmode_9p (const char *security_model)
{
  if (security_model == NULL || g_str_equal (security_model, "none"))
    return "squash";
  if (g_str_equal (security_model, "mapped-xattr"))
    return "mapped";
  return "passthrough";
}

static void
write_device (Xml *x, VcVm *vm, LvDevice *dev)
{
  const VcDevice *d = dev->device;
  switch (d->type)
    {
    case VC_DEVICE_BLOCK:
      open_el (x, "disk");
      attr (x, "type", g_str_has_prefix (d->host_path, "/dev/") ? "block" : "file");
      attr (x, "device", "disk");
      empty_el (x, "driver", "name", "qemu", "type", d->format != NULL ? d->format : "raw", NULL);
      empty_el (x, "source", g_str_has_prefix (d->host_path, "/dev/") ? "dev" : "file",
                d->host_path, NULL);
      empty_el (x, "target", "dev", dev->target, "bus", "virtio", NULL);
      if (d->readonly)
        empty_el (x, "readonly", NULL);
      empty_el (x, "alias", "name", dev->alias, NULL);
      if (dev->port >= 0)
        pci_address (x, 1 + (guint) dev->port, 0);
      else
        pci_address (x, 0, dev->slot);
      close_el (x);
      break;
    case VC_DEVICE_FS_9P:
      open_el (x, "filesystem");
      attr (x, "type", "mount");
      attr (x, "accessmode", accessmode_9p (d->security_model));
      empty_el (x, "driver", "type", "path", NULL);
      empty_el (x, "source", "dir", d->host_path, NULL);
      empty_el (x, "target", "dir", d->tag, NULL);
      if (d->readonly)
        empty_el (x, "readonly", NULL);
      empty_el (x, "alias", "name", dev->alias, NULL);
      pci_address (x, 0, dev->slot);
      close_el (x);
      break;
    case VC_DEVICE_FS_VIRTIOFS:
      open_el (x, "filesystem");
      attr (x, "type", "mount");
      attr (x, "accessmode", "passthrough");
      empty_el (x, "driver", "type", "virtiofs", "queue", "1024", NULL);
      empty_el (x, "binary", "path", vm->plugin->virtiofsd, NULL);
      empty_el (x, "source", "dir", d->host_path, NULL);
      empty_el (x, "target", "dir", d->tag, NULL);
      empty_el (x, "alias", "name", dev->alias, NULL);
      pci_address (x, 0, dev->slot);
      close_el (x);
      break;
    case VC_DEVICE_NET:
      /* An existing tap, opened by libvirtd by name and otherwise left alone. */
      open_el (x, "interface");
      attr (x, "type", "ethernet");
      empty_el (x, "mac", "address", d->mac, NULL);
      empty_el (x, "target", "dev", d->host_path, "managed", "no", NULL);
      empty_el (x, "model", "type", "virtio", NULL);
      if (d->mtu != 0)
        {
          g_autofree char *mtu = g_strdup_printf ("%u", d->mtu);
          empty_el (x, "mtu", "size", mtu, NULL);
        }
      empty_el (x, "alias", "name", dev->alias, NULL);
      pci_address (x, 0, dev->slot);
      close_el (x);
      break;
    default:
      break;
    }
}

char *
lv_kernel_cmdline (VcVm *vm)
{
  GString *s = g_string_new ("console=ttyS0 panic=1 quiet reboot=k");
  /* Kata's defaults: skip slow probes of hardware a sandbox does not have. */
  g_string_append (s, " i8042.noaux=1 i8042.nomux=1 i8042.nopnp=1 i8042.dumbkbd=1"
                      " cryptomgr.notests tsc=reliable no_timer_check");
  if (vm->plugin->kernel_params != NULL && *vm->plugin->kernel_params != '\0')
    g_string_append_printf (s, " %s", vm->plugin->kernel_params);
  if (vm->kernel_params != NULL && *vm->kernel_params != '\0')
    g_string_append_printf (s, " %s", vm->kernel_params);
  return g_string_free (s, FALSE);
}

static void
write_domain (Xml *x, VcVm *vm)
{
  gboolean kvm = g_str_equal (vm->domain_type, "kvm");
  gboolean dimms = vm->max_memory_mib > vm->memory_mib;
  g_autofree char *cmdline = lv_kernel_cmdline (vm);
  g_autofree char *vcpus = g_strdup_printf ("%u", vm->max_vcpus);
  g_autofree char *current = g_strdup_printf ("%u", vm->vcpus);
  g_autofree char *memory = g_strdup_printf ("%" G_GUINT64_FORMAT, vm->memory_mib);
  g_autofree char *max_memory = g_strdup_printf ("%" G_GUINT64_FORMAT, vm->max_memory_mib);
  g_autofree char *title = g_strdup_printf ("vcrun sandbox %s", vm->sandbox_id);

  open_el (x, "domain");
  attr (x, "type", vm->domain_type);
  text_el (x, "name", vm->name, NULL);
  text_el (x, "title", title, NULL);

  /* Whose domain it is: attach_vm and the name clash check read it back. */
  open_el (x, "metadata");
  if (!x->failed
      && xmlTextWriterStartElementNS (x->w, BAD_CAST LV_METADATA_PREFIX, BAD_CAST "sandbox",
                                      BAD_CAST LV_METADATA_NS) < 0)
    x->failed = TRUE;
  attr (x, "id", vm->sandbox_id);
  attr (x, "state-dir", vm->state_dir);
  close_el (x);
  close_el (x);

  if (dimms)
    text_el (x, "maxMemory", max_memory, "slots", G_STRINGIFY (LV_MEMORY_SLOTS), "unit", "MiB", NULL);
  text_el (x, "memory", memory, "unit", "MiB", NULL);
  text_el (x, "currentMemory", memory, "unit", "MiB", NULL);
  if (vm->shared_memory)
    {
      open_el (x, "memoryBacking");
      empty_el (x, "source", "type", "memfd", NULL);
      empty_el (x, "access", "mode", "shared", NULL);
      close_el (x);
    }
  text_el (x, "vcpu", vcpus, "placement", "static", "current", current, NULL);

  open_el (x, "os");
  text_el (x, "type", "hvm", "arch", "x86_64", "machine", vm->plugin->machine, NULL);
  text_el (x, "kernel", vm->kernel, NULL);
  if (vm->initrd != NULL)
    text_el (x, "initrd", vm->initrd, NULL);
  text_el (x, "cmdline", cmdline, NULL);
  close_el (x);

  open_el (x, "features");
  empty_el (x, "acpi", NULL);
  close_el (x);
  open_el (x, "cpu");
  if (kvm)
    attr (x, "mode", "host-passthrough");
  if (dimms)
    {
      /* Memory hotplug needs a NUMA node for the DIMMs. */
      g_autofree char *cpus = g_strdup_printf ("0-%u", vm->max_vcpus - 1);
      open_el (x, "numa");
      empty_el (x, "cell", "id", "0", "cpus", cpus, "memory", memory, "unit", "MiB",
                vm->shared_memory ? "memAccess" : NULL, "shared", NULL);
      close_el (x);
    }
  close_el (x);
  empty_el (x, "clock", "offset", "utc", NULL);
  text_el (x, "on_poweroff", "destroy", NULL);
  text_el (x, "on_reboot", "destroy", NULL);
  text_el (x, "on_crash", "destroy", NULL);

  open_el (x, "devices");
  /* Our own devices sit on pcie.0 (integrated): libvirt would otherwise put
   * them on the root ports kept for hotplug. */
  open_el (x, "controller");
  attr (x, "type", "virtio-serial");
  attr (x, "index", "0");
  pci_address (x, 0, LV_SERIAL_SLOT);
  close_el (x);
  /* The agent's port: QEMU listens on agent.sock, the guest opens the port. */
  open_el (x, "channel");
  attr (x, "type", "unix");
  empty_el (x, "source", "mode", "bind", "path", vm->agent_path, NULL);
  empty_el (x, "target", "type", "virtio", "name", LV_AGENT_PORT_NAME, NULL);
  close_el (x);
  /* The guest console, to a file in the state dir. */
  open_el (x, "serial");
  attr (x, "type", "file");
  empty_el (x, "source", "path", vm->console_file, "append", "off", NULL);
  empty_el (x, "target", "port", "0", NULL);
  close_el (x);
  for (guint i = 0; i < vm->devices->len; i++)
    write_device (x, vm, g_ptr_array_index (vm->devices, i));
  /* Spare root ports with fixed bus numbers, for disk hotplug. */
  if (g_str_has_prefix (vm->plugin->machine, "q35") || g_str_has_prefix (vm->plugin->machine, "pc-q35"))
    for (guint port = 0; port < LV_HOTPLUG_PORTS; port++)
      {
        open_el (x, "controller");
        attr (x, "type", "pci");
        attrf (x, "index", "%u", 1 + port);
        attr (x, "model", "pcie-root-port");
        pci_address (x, 0, LV_HOTPLUG_PORT_SLOT + port);
        close_el (x);
      }
  empty_el (x, "controller", "type", "usb", "model", "none", NULL);
  empty_el (x, "memballoon", "model", "none", NULL);
  open_el (x, "video");
  empty_el (x, "model", "type", "none", NULL);
  close_el (x);
  close_el (x);  /* devices */
  close_el (x);  /* domain */
}

/* Runs build with a fresh writer; the document's text or an error. */
static char *
build_xml (void (*build) (Xml *x, gpointer data), gpointer data, GError **error)
{
  g_autoptr (xmlBuffer) buf = xmlBufferCreate ();
  if (buf == NULL)
    g_error ("hypervisor-libvirt: out of memory");
  g_autoptr (xmlTextWriter) w = xmlNewTextWriterMemory (buf, 0);
  if (w == NULL)
    g_error ("hypervisor-libvirt: out of memory");
  Xml x = { .w = w };
  xmlTextWriterSetIndent (w, 1);
  build (&x, data);
  if (!x.failed && xmlTextWriterEndDocument (w) < 0)
    x.failed = TRUE;
  if (x.failed)
    {
      if (x.bad != NULL)
        g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                     "cannot write the domain XML: the value of <%s> is not valid UTF-8", x.bad);
      else
        g_set_error_literal (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "cannot write the domain XML");
      return NULL;
    }
  g_clear_pointer (&w, xmlFreeTextWriter);  /* flushes into buf */
  return g_strndup ((const char *) xmlBufferContent (buf), (gsize) xmlBufferLength (buf));
}

static void
build_domain (Xml *x, gpointer data)
{
  write_domain (x, data);
}

char *
lv_domain_xml (VcVm *vm, GError **error)
{
  return build_xml (build_domain, vm, error);
}

typedef struct {
  VcVm     *vm;
  LvDevice *dev;
} DeviceArgs;

static void
build_device (Xml *x, gpointer data)
{
  DeviceArgs *args = data;
  write_device (x, args->vm, args->dev);
}

char *
lv_device_xml (VcVm *vm, LvDevice *dev, GError **error)
{
  DeviceArgs args = { vm, dev };
  return build_xml (build_device, &args, error);
}

static void
build_dimm (Xml *x, gpointer data)
{
  guint64 *size = data;
  g_autofree char *text = g_strdup_printf ("%" G_GUINT64_FORMAT, *size);
  open_el (x, "memory");
  attr (x, "model", "dimm");
  open_el (x, "target");
  text_el (x, "size", text, "unit", "MiB", NULL);
  text_el (x, "node", "0", NULL);
  close_el (x);
  close_el (x);
}

char *
lv_memory_dimm_xml (guint64 size_mib)
{
  return build_xml (build_dimm, &size_mib, NULL);
}

/* ---------------------------------------------------------------------------
 * Live XML. */

static xmlDocPtr
parse (const char *xml)
{
  if (xml == NULL)
    return NULL;
  return xmlReadMemory (xml, (int) strlen (xml), "domain.xml", NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

/* The string value of an XPath expression, NULL when empty. */
static char *
xpath_string (const char *xml, const char *expr, const char *ns_prefix, const char *ns_uri)
{
  g_autoptr (xmlDoc) doc = parse (xml);
  if (doc == NULL)
    return NULL;
  g_autoptr (xmlXPathContext) ctx = xmlXPathNewContext (doc);
  if (ctx == NULL)
    return NULL;
  if (ns_prefix != NULL)
    xmlXPathRegisterNs (ctx, BAD_CAST ns_prefix, BAD_CAST ns_uri);
  g_autoptr (xmlXPathObject) obj = xmlXPathEvalExpression (BAD_CAST expr, ctx);
  if (obj == NULL)
    return NULL;
  xmlChar *value = xmlXPathCastToString (obj);
  char *result = value != NULL && *value != '\0' ? g_strdup ((const char *) value) : NULL;
  xmlFree (value);
  return result;
}

/* Names used below are ours (the port name, "ua-vc<n>" aliases), never
 * input, so they are safe inside the XPath string literals. */
char *
lv_xml_channel_state (const char *xml, const char *name)
{
  g_autofree char *expr = g_strdup_printf (
      "string(/domain/devices/channel/target[@type='virtio' and @name='%s']/@state)", name);
  return xpath_string (xml, expr, NULL, NULL);
}

gboolean
lv_xml_has_alias (const char *xml, const char *alias)
{
  g_autofree char *expr = g_strdup_printf ("string(count(/domain/devices/*/alias[@name='%s']))", alias);
  g_autofree char *count = xpath_string (xml, expr, NULL, NULL);
  return count != NULL && !g_str_equal (count, "0");
}

char *
lv_xml_sandbox_id (const char *xml)
{
  return xpath_string (xml, "string(/domain/metadata/vc:sandbox/@id)", "vc", LV_METADATA_NS);
}

char *
lv_xml_sandbox_state_dir (const char *xml)
{
  return xpath_string (xml, "string(/domain/metadata/vc:sandbox/@state-dir)", "vc", LV_METADATA_NS);
}

guint
lv_xml_count_dimms (const char *xml)
{
  g_autofree char *count = xpath_string (xml, "string(count(/domain/devices/memory[@model='dimm']))",
                                         NULL, NULL);
  return count != NULL ? (guint) g_ascii_strtoull (count, NULL, 10) : 0;
}

/* ---------------------------------------------------------------------------
 * The KVM probe's domain (libvirt-probe.c): a ROM and a pvpanic port. */

typedef struct {
  const char *name, *domain_type, *machine, *firmware;
} ProbeArgs;

static void
build_probe (Xml *x, gpointer data)
{
  ProbeArgs *args = data;
  open_el (x, "domain");
  attr (x, "type", args->domain_type);
  text_el (x, "name", args->name, NULL);
  text_el (x, "memory", "16", "unit", "MiB", NULL);
  text_el (x, "vcpu", "1", NULL);
  open_el (x, "os");
  text_el (x, "type", "hvm", "arch", "x86_64", "machine", args->machine, NULL);
  text_el (x, "loader", args->firmware, "type", "rom", "readonly", "yes", NULL);
  close_el (x);
  empty_el (x, "cpu", "mode", "host-passthrough", NULL);
  text_el (x, "on_poweroff", "destroy", NULL);
  text_el (x, "on_reboot", "destroy", NULL);
  text_el (x, "on_crash", "preserve", NULL);
  open_el (x, "devices");
  open_el (x, "panic");
  attr (x, "model", "isa");
  empty_el (x, "address", "type", "isa", "iobase", "0x505", NULL);
  close_el (x);
  empty_el (x, "controller", "type", "usb", "model", "none", NULL);
  empty_el (x, "memballoon", "model", "none", NULL);
  open_el (x, "video");
  empty_el (x, "model", "type", "none", NULL);
  close_el (x);
  close_el (x);
  close_el (x);
}

char *
lv_probe_xml (const char *name, const char *domain_type, const char *machine, const char *firmware,
              GError **error)
{
  ProbeArgs args = { name, domain_type, machine, firmware };
  return build_xml (build_probe, &args, error);
}
