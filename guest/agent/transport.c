/* Where the agent listens: the virtio-serial port agent.channel.0, vsock
 * port 1024, and (for tests outside a VM) a Unix socket. */
#include "config.h"

#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/virtio_ids.h>
#include <linux/vm_sockets.h>

static pthread_once_t ready_once = PTHREAD_ONCE_INIT;

static void
announce (void)
{
  /* the line boot timing looks for; CLOCK_BOOTTIME counts from kernel start */
  struct timespec ts;
  clock_gettime (CLOCK_BOOTTIME, &ts);
  agent_log ("ready (%.2f s after kernel start)", (double) ts.tv_sec + ts.tv_nsec / 1e9);
}

void
agent_announce_ready (void)
{
  pthread_once (&ready_once, announce);
}

static void
start_thread (void *(*fn) (void *), void *arg)
{
  pthread_t t;
  pthread_attr_t attr;
  pthread_attr_init (&attr);
  pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED);
  if (pthread_create (&t, &attr, fn, arg) != 0)
    agent_log ("cannot start a thread: %s", strerror (errno));
  pthread_attr_destroy (&attr);
}

/* /dev/vportNpM of the port named agent.channel.0, from sysfs. */
static bool
find_serial_port (char *path, size_t len)
{
  DIR *d = opendir ("/sys/class/virtio-ports");
  if (!d)
    return false;
  struct dirent *e;
  bool found = false;
  while (!found && (e = readdir (d)))
    {
      if (e->d_name[0] == '.')
        continue;
      char name_file[512], name[128];
      snprintf (name_file, sizeof name_file, "/sys/class/virtio-ports/%s/name", e->d_name);
      if (read_small_file (name_file, name, sizeof name) <= 0)
        continue;
      name[strcspn (name, "\n")] = '\0';
      if (strcmp (name, VC_KATA_AGENT_SERIAL_NAME) == 0)
        {
          snprintf (path, len, "/dev/%s", e->d_name);
          found = true;
        }
    }
  closedir (d);
  return found;
}

static void *
serial_thread (void *data)
{
  char path[300];
  bool reported = false;

  for (;;)
    {
      if (!find_serial_port (path, sizeof path))
        {
          if (!reported)
            agent_debug ("no virtio-serial port named %s yet", VC_KATA_AGENT_SERIAL_NAME);
          reported = true;
          usleep (100000);
          continue;
        }
      /* Opening the port tells the host (VSERPORT_CHANGE) that the agent is
       * there; the host may send only after that. */
      int fd = open (path, O_RDWR | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
      if (fd < 0)
        {
          agent_log ("cannot open %s: %s", path, strerror (errno));
          usleep (200000);
          continue;
        }
      /* The port is open: the agent is ready for a host, which may not have
       * connected yet (the bare boots of bench/ and tests/ hold none). */
      agent_announce_ready ();
      /* While no host is connected the port reports hang-up (and reads
       * return 0): wait for one before serving. */
      for (;;)
        {
          struct pollfd pfd = { .fd = fd, .events = POLLIN };
          if (poll (&pfd, 1, 0) < 0 && errno != EINTR)
            break;
          if (!(pfd.revents & POLLHUP))
            break;
          usleep (20000);
        }
      agent_debug ("serving on %s", path);
      server_serve_fd (fd, "virtio-serial");
      /* The host went away: close and reopen the port so that a host that
       * reconnects sees it opened again. */
    }
  return NULL;
}

void
transport_start_serial (void)
{
  start_thread (serial_thread, NULL);
}

typedef struct {
  int fd;
  char name[32];
} ConnArg;

static void *
conn_thread (void *data)
{
  ConnArg *a = data;
  server_serve_fd (a->fd, a->name);
  free (a);
  return NULL;
}

static void
accept_loop (int listen_fd, const char *name)
{
  for (;;)
    {
      int fd = accept4 (listen_fd, NULL, NULL, SOCK_CLOEXEC);
      if (fd < 0)
        {
          if (errno == EINTR || errno == ECONNABORTED)
            continue;
          agent_log ("%s: accept: %s", name, strerror (errno));
          usleep (100000);
          continue;
        }
      ConnArg *a = xcalloc (1, sizeof *a);
      a->fd = fd;
      snprintf (a->name, sizeof a->name, "%s", name);
      start_thread (conn_thread, a);
    }
}

static void *
vsock_thread (void *data)
{
  /* Cloud Hypervisor's vsock device comes with the VM; QEMU's agent uses
   * virtio-serial and has none, so the transport's modules stay unloaded. */
  if (!modules_virtio_device_present (VIRTIO_ID_VSOCK))
    {
      agent_debug ("no virtio-vsock device: serving virtio-serial only");
      return NULL;
    }
  modules_require ("vmw_vsock_virtio_transport");
  int fd = socket (AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    {
      agent_debug ("no vsock (%s): serving virtio-serial only", strerror (errno));
      return NULL;
    }
  struct sockaddr_vm addr = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY,
                              .svm_port = VC_KATA_AGENT_VSOCK_PORT };
  if (bind (fd, (struct sockaddr *) &addr, sizeof addr) < 0 || listen (fd, 16) < 0)
    {
      agent_debug ("vsock port %d: %s", VC_KATA_AGENT_VSOCK_PORT, strerror (errno));
      close (fd);
      return NULL;
    }
  agent_debug ("listening on vsock port %d", VC_KATA_AGENT_VSOCK_PORT);
  agent_announce_ready ();
  accept_loop (fd, "vsock");
  return NULL;
}

void
transport_start_vsock (void)
{
  start_thread (vsock_thread, NULL);
}

static void *
unix_thread (void *data)
{
  const char *path = data;
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  snprintf (addr.sun_path, sizeof addr.sun_path, "%s", path);
  unlink (path);
  if (fd < 0 || bind (fd, (struct sockaddr *) &addr, sizeof addr) < 0 || listen (fd, 16) < 0)
    {
      agent_log ("cannot listen on %s: %s", path, strerror (errno));
      return NULL;
    }
  agent_announce_ready ();
  accept_loop (fd, "unix");
  return NULL;
}

void
transport_start_unix (const char *path)
{
  start_thread (unix_thread, (void *) path);
}
