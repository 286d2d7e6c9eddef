/* tmpcopyup: copying what a directory held into the tmpfs mounted over it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Copies the contents of src_dir (files, directories, symlinks, device
 * nodes and fifos, with their modes and owners) into dst_dir, both open
 * directories. Symlinks are copied, never followed. */
bool copy_tree (int src_dir, int dst_dir, char *msg, size_t msg_len);
