/* vcrun: the local terminal of an attached process (raw mode, window size). */
#include "config.h"

#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"

struct VcCliTerminal {
  int            fd;
  struct termios saved;
};

VcCliTerminal *
vc_cli_terminal_raw (int fd)
{
  struct termios raw;
  if (!isatty (fd) || tcgetattr (fd, &raw) < 0)
    return NULL;
  VcCliTerminal *terminal = g_new0 (VcCliTerminal, 1);
  terminal->fd = fd;
  terminal->saved = raw;
  /* Every key goes to the process in the guest, whose own terminal does
   * the line editing and turns ^C into SIGINT. */
  cfmakeraw (&raw);
  if (tcsetattr (fd, TCSADRAIN, &raw) < 0)
    {
      g_free (terminal);
      return NULL;
    }
  return terminal;
}

void
vc_cli_terminal_restore (VcCliTerminal *terminal)
{
  if (terminal == NULL)
    return;
  tcsetattr (terminal->fd, TCSADRAIN, &terminal->saved);
  g_free (terminal);
}

gboolean
vc_cli_terminal_size (int fd, guint *rows, guint *columns)
{
  struct winsize ws;
  if (ioctl (fd, TIOCGWINSZ, &ws) < 0 || ws.ws_row == 0)
    return FALSE;
  *rows = ws.ws_row;
  *columns = ws.ws_col;
  return TRUE;
}
