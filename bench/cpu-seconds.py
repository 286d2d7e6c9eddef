#!/usr/bin/env python3
"""Runs a command as a child subreaper, so that every process it starts
(daemonised or not: vcrun's supervisor, QEMU, virtiofsd) is reaped here,
and writes the CPU seconds (user + system) they all used to FILE. A
measure of the work, apart from waiting for a busy host.

usage: cpu-seconds.py FILE COMMAND [ARG...]
Exits with the command's status.
"""

import ctypes
import os
import resource
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


def main():
    if len(sys.argv) < 3:
        print("usage: cpu-seconds.py FILE COMMAND [ARG...]", file=sys.stderr)
        return 2
    out, argv = sys.argv[1], sys.argv[2:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print("cpu-seconds.py: prctl: " + os.strerror(ctypes.get_errno()), file=sys.stderr)
        return 2
    status = subprocess.call(argv)
    # What the command left running is still its work: wait for it, a while.
    deadline = time.monotonic() + 30
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            if time.monotonic() > deadline:
                print("cpu-seconds.py: the command left processes running after 30 s", file=sys.stderr)
                break
            time.sleep(0.01)
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out, "w") as f:
        f.write(f"{r.ru_utime + r.ru_stime:.2f}\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
