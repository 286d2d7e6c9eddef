/* Hypervisor plugins (QEMU, libvirt, CLH): which kernel file to boot. An
 * uncompressed vmlinux with a PVH entry (the ELF note XEN_ELFNOTE_PHYS32_ENTRY)
 * boots straight into 32-bit protected mode, skipping the bzImage's real-mode
 * setup code and its decompressor, which take most of a cold boot under TCG.
 * A bzImage stays the fallback for a kernel without the note. Compiled into
 * each plugin that uses it (no plugin reaches into another). */
#include "config.h"

#include "kernel-image.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vcrun/types.h>

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define NOTE_SEGMENT_MAX (256 * 1024)

static gboolean
read_at (int fd, void *buf, gsize len, goffset offset)
{
  gsize done = 0;
  while (done < len)
    {
      ssize_t n = pread (fd, (char *) buf + done, len - done, offset + (goffset) done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      done += (gsize) n;
    }
  return TRUE;
}

/* Whether one PT_NOTE segment holds a note "Xen" of type PHYS32_ENTRY. */
static gboolean
segment_has_pvh (int fd, const Elf64_Phdr *ph)
{
  if (ph->p_filesz == 0 || ph->p_filesz > NOTE_SEGMENT_MAX)
    return FALSE;
  g_autofree guint8 *buf = g_malloc (ph->p_filesz);
  if (!read_at (fd, buf, ph->p_filesz, (goffset) ph->p_offset))
    return FALSE;
  gsize pos = 0;
  while (pos + sizeof (Elf64_Nhdr) <= ph->p_filesz)
    {
      Elf64_Nhdr nh;
      memcpy (&nh, buf + pos, sizeof nh);
      pos += sizeof nh;
      gsize name_len = ((gsize) nh.n_namesz + 3) & ~(gsize) 3;
      gsize desc_len = ((gsize) nh.n_descsz + 3) & ~(gsize) 3;
      if (name_len > ph->p_filesz - pos || desc_len > ph->p_filesz - pos - name_len)
        return FALSE;
      if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == 4
          && memcmp (buf + pos, "Xen", 4) == 0 && nh.n_descsz >= 4)
        return TRUE;
      pos += name_len + desc_len;
    }
  return FALSE;
}

/* 1: an ELF64 x86-64 file with the PVH note, 0: an ELF without it, -1: not
 * an ELF (a bzImage) or unreadable. */
static int
elf_pvh (const char *path)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  Elf64_Ehdr eh;
  int result = -1;
  if (!read_at (fd, &eh, sizeof eh, 0) || memcmp (eh.e_ident, ELFMAG, SELFMAG) != 0)
    goto out;
  result = 0;
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64
      || eh.e_phentsize != sizeof (Elf64_Phdr) || eh.e_phnum > 256)
    goto out;
  for (guint i = 0; i < eh.e_phnum && result == 0; i++)
    {
      Elf64_Phdr ph;
      if (!read_at (fd, &ph, sizeof ph, (goffset) eh.e_phoff + (goffset) i * (goffset) sizeof ph))
        break;
      if (ph.p_type == PT_NOTE && segment_has_pvh (fd, &ph))
        result = 1;
    }
out:
  close (fd);
  return result;
}

gboolean
vc_kernel_has_pvh (const char *path)
{
  return elf_pvh (path) == 1;
}

static char *
sibling (const char *path, const char *name)
{
  g_autofree char *dir = g_path_get_dirname (path);
  return g_build_filename (dir, name, NULL);
}

char *
vc_kernel_pick (const char *kernel, gboolean pvh, const char *who, GError **error)
{
  int kind = elf_pvh (kernel);
  if (kind == 1)
    return g_strdup (kernel);
  if (kind == 0)
    {
      g_autofree char *bz = sibling (kernel, "vmlinuz");
      if (elf_pvh (bz) == -1 && g_file_test (bz, G_FILE_TEST_IS_REGULAR))
        {
          g_info ("%s: %s has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): booting %s",
                  who, kernel, bz);
          return g_steal_pointer (&bz);
        }
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "kernel '%s' is an ELF file without a PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY), "
                   "and there is no bzImage '%s' beside it to boot instead", kernel, bz);
      return NULL;
    }
  if (pvh)
    {
      g_autofree char *elf = sibling (kernel, "vmlinux");
      struct stat a, b;
      /* Only a vmlinux at least as new as the bzImage: a stale one would boot
       * another kernel than the configured one. */
      if (stat (elf, &a) == 0 && stat (kernel, &b) == 0 && a.st_mtime >= b.st_mtime
          && elf_pvh (elf) == 1)
        return g_steal_pointer (&elf);
    }
  return g_strdup (kernel);
}
