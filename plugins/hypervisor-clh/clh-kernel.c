/* hypervisor-clh: which kernel file Cloud Hypervisor is given. Its direct
 * kernel boot on x86-64 loads an ELF vmlinux and enters it through the PVH
 * entry point (the ELF note "Xen", type XEN_ELFNOTE_PHYS32_ENTRY); it has no
 * bzImage loader (a bzImage boots only through firmware). So: a configured
 * vmlinux with the note is used as it is; a configured bzImage is replaced
 * by the vmlinux beside it (as `make guest` and Kata ship them) when that one
 * has the note and is not older; anything else it could read is refused
 * before the VMM starts, saying what was found. */
#include "config.h"

#include "clh-plugin.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PHYS32_ENTRY_NOTE 18
#define NOTES_MAX (256 * 1024)

typedef enum { KERNEL_UNREADABLE, KERNEL_NOT_ELF, KERNEL_ELF_NO_PVH, KERNEL_PVH } KernelKind;

static gboolean
pread_all (int fd, void *buf, gsize len, goffset at)
{
  for (gsize done = 0; done < len;)
    {
      ssize_t n = pread (fd, (char *) buf + done, len - done, at + (goffset) done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      done += (gsize) n;
    }
  return TRUE;
}

static gboolean
notes_have_pvh (const guint8 *buf, gsize len)
{
  gsize pos = 0;
  while (len - pos >= sizeof (Elf64_Nhdr))
    {
      Elf64_Nhdr nh;
      memcpy (&nh, buf + pos, sizeof nh);
      pos += sizeof nh;
      gsize name = ((gsize) nh.n_namesz + 3) & ~(gsize) 3;
      gsize desc = ((gsize) nh.n_descsz + 3) & ~(gsize) 3;
      if (name > len - pos || desc > len - pos - name)
        return FALSE;
      if (nh.n_type == PHYS32_ENTRY_NOTE && nh.n_namesz == 4 && memcmp (buf + pos, "Xen", 4) == 0
          && nh.n_descsz >= 4)
        return TRUE;
      pos += name + desc;
    }
  return FALSE;
}

static KernelKind
kernel_kind (const char *path)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return KERNEL_UNREADABLE;
  KernelKind kind = KERNEL_NOT_ELF;
  Elf64_Ehdr eh;
  if (!pread_all (fd, &eh, sizeof eh, 0) || memcmp (eh.e_ident, ELFMAG, SELFMAG) != 0)
    goto out;
  kind = KERNEL_ELF_NO_PVH;
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64
      || eh.e_phentsize != sizeof (Elf64_Phdr) || eh.e_phnum > 256)
    goto out;
  for (guint i = 0; i < eh.e_phnum && kind != KERNEL_PVH; i++)
    {
      Elf64_Phdr ph;
      if (!pread_all (fd, &ph, sizeof ph, (goffset) (eh.e_phoff + (guint64) i * sizeof ph)))
        break;
      if (ph.p_type != PT_NOTE || ph.p_filesz == 0 || ph.p_filesz > NOTES_MAX)
        continue;
      g_autofree guint8 *notes = g_malloc (ph.p_filesz);
      if (pread_all (fd, notes, ph.p_filesz, (goffset) ph.p_offset)
          && notes_have_pvh (notes, ph.p_filesz))
        kind = KERNEL_PVH;
    }
out:
  close (fd);
  return kind;
}

char *
clh_kernel_pick (const char *kernel, GError **error)
{
  switch (kernel_kind (kernel))
    {
    case KERNEL_PVH:
      return g_strdup (kernel);
    case KERNEL_UNREADABLE:
      /* Cloud Hypervisor says itself what is wrong with a file it cannot open. */
      return g_strdup (kernel);
    case KERNEL_ELF_NO_PVH:
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                   "kernel '%s' is an ELF file without a PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): "
                   "Cloud Hypervisor cannot boot it", kernel);
      return NULL;
    case KERNEL_NOT_ELF:
    default:
      break;
    }
  g_autofree char *dir = g_path_get_dirname (kernel);
  g_autofree char *elf = g_build_filename (dir, "vmlinux", NULL);
  struct stat a, b;
  /* A vmlinux older than the bzImage would be another kernel than the one configured. */
  gboolean fresh = stat (elf, &a) == 0 && stat (kernel, &b) == 0 && a.st_mtime >= b.st_mtime;
  if (fresh && kernel_kind (elf) == KERNEL_PVH)
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
