/* Turning mount option strings ("ro", "nosuid", "trans=virtio"...) into
 * mount(2) flags and a data string. Propagation ("rprivate", "slave"...)
 * is kept apart: it takes a mount(2) call of its own, on the new mount. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef struct {
  unsigned long flags;        /* MS_RDONLY, MS_NOSUID, ... and MS_BIND/MS_REC */
  unsigned long propagation;  /* MS_PRIVATE, MS_SLAVE... (| MS_REC) or 0 */
  char data[1024];            /* the options mount(2) does not know, comma-joined */
  bool truncated;             /* data did not fit */
  bool tmpcopyup;             /* a tmpfs gets a copy of the directory it covers */
} MountOptions;

void mount_options_parse (char *const *options, size_t n, MountOptions *out);
