/* vcrun: runc's --console-socket. The caller (conmon) listens on a Unix
 * socket; vcrun opens a pty and sends it the master with SCM_RIGHTS, the
 * message's data being the slave's name, as runc does. The slave stays here:
 * the sandbox's owner relays it to and from the guest's terminal, so it is
 * put in raw mode (the line discipline is the guest's), and it becomes the
 * controlling terminal of the relaying process, so that a window size set on
 * the master (TIOCSWINSZ) raises SIGWINCH there. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <vcrun/types.h>
#include "cli.h"

static gboolean
console_fail (GError **error, const char *what, const char *path)
{
  int e = errno;
  g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "--console-socket %s: %s: %s", path, what,
               g_strerror (e));
  return FALSE;
}

static gboolean
send_master (const char *path, int master, const char *name, GError **error)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  if (strlen (path) >= sizeof addr.sun_path)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "--console-socket %s: the path is longer than %zu bytes", path,
                   sizeof addr.sun_path - 1);
      return FALSE;
    }
  strcpy (addr.sun_path, path);
  int sock = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0)
    return console_fail (error, "socket", path);
  if (connect (sock, (struct sockaddr *) &addr, sizeof addr) < 0)
    {
      console_fail (error, "cannot connect", path);
      close (sock);
      return FALSE;
    }
  union {
    char buf[CMSG_SPACE (sizeof (int))];
    struct cmsghdr align;
  } control;
  memset (&control, 0, sizeof control);
  struct iovec iov = { .iov_base = (void *) name, .iov_len = strlen (name) };
  struct msghdr msg = {
    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf,
  };
  struct cmsghdr *cmsg = CMSG_FIRSTHDR (&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN (sizeof (int));
  memcpy (CMSG_DATA (cmsg), &master, sizeof (int));
  ssize_t n;
  do
    n = sendmsg (sock, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  gboolean ok = n >= 0 || console_fail (error, "cannot send the terminal", path);
  close (sock);
  return ok;
}

int
vc_cli_console_open (const char *socket_path, GError **error)
{
  int master = posix_openpt (O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0)
    return console_fail (error, "cannot open a pty", socket_path), -1;
  char name[128];
  if (grantpt (master) < 0 || unlockpt (master) < 0 || ptsname_r (master, name, sizeof name) != 0)
    {
      console_fail (error, "cannot unlock the pty", socket_path);
      close (master);
      return -1;
    }
  int slave = open (name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0)
    {
      console_fail (error, "cannot open the pty's slave", socket_path);
      close (master);
      return -1;
    }
  struct termios raw;
  if (tcgetattr (slave, &raw) == 0)
    {
      cfmakeraw (&raw);
      tcsetattr (slave, TCSANOW, &raw);
    }
  gboolean sent = send_master (socket_path, master, name, error);
  close (master);
  if (!sent)
    {
      close (slave);
      return -1;
    }
  return slave;
}

gboolean
vc_cli_console_control (int tty, GError **error)
{
  /* Not a process group leader here (a forked child): setsid succeeds. */
  if (setsid () < 0 && getsid (0) != getpid ())
    return console_fail (error, "cannot start a session", "(terminal)");
  if (ioctl (tty, TIOCSCTTY, 0) < 0)
    return console_fail (error, "cannot take the terminal", "(terminal)");
  return TRUE;
}
