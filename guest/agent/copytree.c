/* tmpcopyup (runc's and crun's mount option): a tmpfs mounted over an image
 * directory such as /run or /etc starts with a copy of what it covers. The
 * image is the container's, not the agent's: names are opened relative to
 * their directory with O_NOFOLLOW, and the depth is bounded. */
#include "config.h"

#include "agent.h"
#include "copytree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_MAX_DEPTH 32

static bool
copy_file (int src_dir, int dst_dir, const char *name, const struct stat *st, char *msg,
           size_t msg_len)
{
  int in = openat (src_dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (in < 0)
    return msg_fail (msg, msg_len, errno, "tmpcopyup: cannot open %s", name);
  int out = openat (dst_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    st->st_mode & 07777);
  if (out < 0)
    {
      int e = errno;
      close (in);
      return msg_fail (msg, msg_len, e, "tmpcopyup: cannot create %s", name);
    }
  char buf[65536];
  bool ok = true;
  for (;;)
    {
      ssize_t n = read (in, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          ok = n == 0 || msg_fail (msg, msg_len, errno, "tmpcopyup: cannot read %s", name);
          break;
        }
      for (ssize_t done = 0; ok && done < n;)
        {
          ssize_t w = write (out, buf + done, (size_t) (n - done));
          if (w < 0 && errno == EINTR)
            continue;
          if (w < 0)
            ok = msg_fail (msg, msg_len, errno, "tmpcopyup: cannot write %s", name);
          else
            done += w;
        }
      if (!ok)
        break;
    }
  close (in);
  close (out);
  return ok;
}

static bool copy_dir (int src, int dst, int depth, char *msg, size_t msg_len);

static bool
copy_entry (int src, int dst, const char *name, int depth, char *msg, size_t msg_len)
{
  struct stat st;
  if (fstatat (src, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return msg_fail (msg, msg_len, errno, "tmpcopyup: cannot stat %s", name);
  bool ok = true;
  if (S_ISDIR (st.st_mode))
    {
      if (mkdirat (dst, name, st.st_mode & 07777) < 0 && errno != EEXIST)
        return msg_fail (msg, msg_len, errno, "tmpcopyup: cannot create %s", name);
      int sub_src = openat (src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      int sub_dst = openat (dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub_src < 0 || sub_dst < 0)
        ok = msg_fail (msg, msg_len, errno, "tmpcopyup: cannot open %s", name);
      else
        ok = copy_dir (sub_src, sub_dst, depth + 1, msg, msg_len);
      if (sub_src >= 0)
        close (sub_src);
      if (sub_dst >= 0)
        close (sub_dst);
    }
  else if (S_ISREG (st.st_mode))
    ok = copy_file (src, dst, name, &st, msg, msg_len);
  else if (S_ISLNK (st.st_mode))
    {
      char target[PATH_MAX];
      ssize_t n = readlinkat (src, name, target, sizeof target - 1);
      if (n < 0)
        return msg_fail (msg, msg_len, errno, "tmpcopyup: cannot read the link %s", name);
      target[n] = '\0';
      if (symlinkat (target, dst, name) < 0)
        return msg_fail (msg, msg_len, errno, "tmpcopyup: cannot create the link %s", name);
    }
  else if (mknodat (dst, name, st.st_mode, st.st_rdev) < 0)
    return msg_fail (msg, msg_len, errno, "tmpcopyup: cannot create the node %s", name);
  if (!ok)
    return false;
  /* Owners as in the image; a failure (an id the guest cannot map) leaves
   * root's, as runc does. */
  (void) !fchownat (dst, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
  if (!S_ISLNK (st.st_mode) && fchmodat (dst, name, st.st_mode & 07777, 0) < 0)
    return msg_fail (msg, msg_len, errno, "tmpcopyup: cannot set the mode of %s", name);
  return true;
}

static bool
copy_dir (int src, int dst, int depth, char *msg, size_t msg_len)
{
  if (depth > COPY_MAX_DEPTH)
    return msg_fail (msg, msg_len, 0, "tmpcopyup: directories nested deeper than %d", COPY_MAX_DEPTH);
  int scan = fcntl (src, F_DUPFD_CLOEXEC, 3);
  DIR *dir = scan >= 0 ? fdopendir (scan) : NULL;
  if (dir == NULL)
    {
      int e = errno;
      if (scan >= 0)
        close (scan);
      return msg_fail (msg, msg_len, e, "tmpcopyup: cannot list a directory");
    }
  bool ok = true;
  struct dirent *entry;
  while (ok && (entry = readdir (dir)) != NULL)
    {
      if (strcmp (entry->d_name, ".") == 0 || strcmp (entry->d_name, "..") == 0)
        continue;
      ok = copy_entry (src, dst, entry->d_name, depth, msg, msg_len);
    }
  closedir (dir);
  return ok;
}

bool
copy_tree (int src_dir, int dst_dir, char *msg, size_t msg_len)
{
  return copy_dir (src_dir, dst_dir, 0, msg, msg_len);
}
