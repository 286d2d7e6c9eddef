/* hypervisor-clh: which kernel file Cloud Hypervisor is given. Its direct
 * kernel boot on x86-64 loads an ELF vmlinux and enters it through the PVH
 * entry point (the ELF note "Xen", type XEN_ELFNOTE_PHYS32_ENTRY); it has no
 * bzImage loader (a bzImage boots only through firmware). So: a configured
 * vmlinux with the note is used as it is; a configured bzImage is replaced
 * by the vmlinux beside it (as `make guest` and Kata ship them) when that one
 * has the note and is not older; anything else it could read is refused
 * before the VMM starts, saying what was found. Unlike QEMU's pick
 * (hv-common/kernel-image.c, whose note check this shares) there is no
 * bzImage fallback. */
#include "config.h"

#include "clh-plugin.h"
#include "../hv-common/kernel-image.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Whether path starts with the ELF magic; -1 if it cannot be read. */
static int
is_elf (const char *path)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  unsigned char magic[SELFMAG];
  ssize_t n;
  do
    n = pread (fd, magic, sizeof magic, 0);
  while (n < 0 && errno == EINTR);
  close (fd);
  return n == SELFMAG && memcmp (magic, ELFMAG, SELFMAG) == 0;
}

char *
clh_kernel_pick (const char *kernel, GError **error)
{
  int elf_kernel = is_elf (kernel);
  /* Cloud Hypervisor says itself what is wrong with a file it cannot open. */
  if (elf_kernel < 0 || vc_kernel_has_pvh (kernel))
    return g_strdup (kernel);
  if (elf_kernel)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                   "kernel '%s' is an ELF file without a PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): "
                   "Cloud Hypervisor cannot boot it", kernel);
      return NULL;
    }

  g_autofree char *dir = g_path_get_dirname (kernel);
  g_autofree char *elf = g_build_filename (dir, "vmlinux", NULL);
  struct stat a, b;
  /* A vmlinux older than the bzImage would be another kernel than the one configured. */
  gboolean fresh = stat (elf, &a) == 0 && stat (kernel, &b) == 0 && a.st_mtime >= b.st_mtime;
  if (fresh && vc_kernel_has_pvh (elf))
    {
      g_debug ("hypervisor-clh: %s is no ELF: booting %s through its PVH entry", kernel, elf);
      return g_steal_pointer (&elf);
    }
  g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
               "kernel '%s' is not an ELF vmlinux (a bzImage?), and Cloud Hypervisor boots only a "
               "vmlinux with a PVH entry note; %s beside it %s", kernel, elf,
               !g_file_test (elf, G_FILE_TEST_EXISTS) ? "does not exist"
               : !fresh ? "is older than it" : "has no PVH note either");
  return NULL;
}
