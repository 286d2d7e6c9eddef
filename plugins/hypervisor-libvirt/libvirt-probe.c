/* hypervisor-libvirt: does a kvm domain run a vCPU here?
 *
 * Domain capabilities offering kvm are not enough: under nested
 * virtualisation a KVM machine may be created fine while its vCPU never makes
 * progress. So domain_type auto starts, once, a transient kvm domain whose
 * firmware is 64 KiB of our own: its reset vector writes "panicked" to the
 * ISA pvpanic port, and with on_crash=preserve libvirt shows the domain
 * crashed (panicked), which only a running vCPU achieves; the probe then
 * destroys it. Anything else within PROBE_TIMEOUT_MS means a vCPU that does
 * not run: the plugin uses type qemu (TCG). */
#include "config.h"

#include "libvirt-plugin.h"

#include <errno.h>
#include <libvirt/virterror.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC (virDomain, virDomainFree)

#define PROBE_TIMEOUT_MS 3000
#define PROBE_FIRMWARE_SIZE 65536

/* Real mode at the reset vector (top 16 bytes of the ROM):
 * mov al, 1; mov dx, 0x505; out dx, al; hlt; jmp $-3. */
static const guint8 reset_vector[] = { 0xb0, 0x01, 0xba, 0x05, 0x05, 0xee, 0xf4, 0xeb, 0xfd };

static char *
write_firmware (char **why)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  int fd = g_file_open_tmp ("vcrun-libvirt-probe-XXXXXX.rom", &path, &error);
  if (fd < 0)
    {
      *why = g_strdup (error->message);
      return NULL;
    }
  close (fd);
  g_autofree guint8 *image = g_malloc (PROBE_FIRMWARE_SIZE);
  memset (image, 0xf4, PROBE_FIRMWARE_SIZE);  /* hlt everywhere else */
  memcpy (image + PROBE_FIRMWARE_SIZE - 16, reset_vector, sizeof reset_vector);
  /* QEMU may run as another user (qemu.conf): let it read the ROM. */
  if (!g_file_set_contents (path, (const char *) image, PROBE_FIRMWARE_SIZE, &error)
      || chmod (path, 0644) < 0)
    {
      *why = g_strdup_printf ("writing %s: %s", path, error != NULL ? error->message : g_strerror (errno));
      unlink (path);
      return NULL;
    }
  return g_steal_pointer (&path);
}

gboolean
lv_kvm_probe (VcPluginInstance *self, virConnectPtr conn, char **why)
{
  g_autofree char *firmware = write_firmware (why);
  if (firmware == NULL)
    return FALSE;
  g_autofree char *name = g_strdup_printf ("vcrun-kvm-probe-%d", (int) getpid ());
  g_autoptr (GError) error = NULL;
  g_autofree char *xml = lv_probe_xml (name, "kvm", self->machine, firmware, &error);
  if (xml == NULL)
    {
      *why = g_strdup (error->message);
      unlink (firmware);
      return FALSE;
    }
  g_autoptr (virDomain) dom = virDomainCreateXML (conn, xml, VIR_DOMAIN_NONE);
  if (dom == NULL)
    {
      *why = g_strdup_printf ("a kvm domain does not start: %s", virGetLastErrorMessage ());
      virResetLastError ();
      unlink (firmware);
      return FALSE;
    }
  gint64 deadline = g_get_monotonic_time () + PROBE_TIMEOUT_MS * 1000;
  gboolean ran = FALSE;
  int state = VIR_DOMAIN_NOSTATE, reason = 0;
  while (g_get_monotonic_time () < deadline)
    {
      if (virDomainGetState (dom, &state, &reason, 0) < 0)
        {
          *why = g_strdup_printf ("the kvm domain went away: %s", virGetLastErrorMessage ());
          break;
        }
      if (state == VIR_DOMAIN_CRASHED && reason == VIR_DOMAIN_CRASHED_PANICKED)
        {
          ran = TRUE;
          break;
        }
      if (state == VIR_DOMAIN_SHUTOFF || state == VIR_DOMAIN_CRASHED)
        {
          *why = g_strdup_printf ("the kvm domain ended (state %d, reason %d) before its vCPU ran",
                                  state, reason);
          break;
        }
      g_usleep (20 * 1000);
    }
  if (!ran && *why == NULL)
    *why = g_strdup_printf ("a kvm domain's vCPU made no progress within %d ms", PROBE_TIMEOUT_MS);
  virDomainDestroy (dom);
  virResetLastError ();
  unlink (firmware);
  return ran;
}
