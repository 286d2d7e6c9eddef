#!/usr/bin/env python3
# tty-session.py COMMAND [ARG...]: drives an interactive busybox shell that
# COMMAND (a vcrun run -t or exec -t) gives a terminal, from a pty of 30x100:
# the prompt, the initial window size, a command's output, a window size
# change (40x120), that stdin and stdout are a terminal, and `exit 5`.
# Prints "ok NAME" or "not ok NAME" per check, then "exit N" (COMMAND's exit
# status); the session's transcript goes to stderr. Shared by the embedded
# (tests/integration/cli/vm.sh) and the vcrund (tests/integration/daemon/vm.sh)
# tests, which must see the same thing.
import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time

CHECKS = ["prompt", "initial window size 30 100", "a command's output",
          "window size change forwarded (40 120)", "the process has a terminal"]

argv = sys.argv[1:]
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    os.execv(argv[0], argv)

buf = b""


def expect(pattern, timeout):
    global buf
    deadline = time.time() + timeout
    while pattern not in buf:
        left = deadline - time.time()
        if left <= 0:
            return False
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                return False
            if not data:
                return False
            buf += data
    return True


def send(text):
    os.write(fd, text.encode())


results = []
results.append(expect(b"# ", 180))
send("stty size\n")
results.append(expect(b"30 100", 30))
send("echo $((6*7))x\n")
results.append(expect(b"42x", 30))
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
time.sleep(2)
send("stty size\n")
results.append(expect(b"40 120", 30))
send("test -t 0 && test -t 1 && echo is-a-$((1+1))-tty\n")
results.append(expect(b"is-a-2-tty", 30))
send("exit 5\n")
# Drain the rest so that the command never blocks on a full pty.
while True:
    try:
        r, _, _ = select.select([fd], [], [], 60)
        if not r:
            os.kill(pid, signal.SIGKILL)  # hung: fail rather than wait forever
            break
        if not os.read(fd, 4096):
            break
    except OSError:
        break
_, status = os.waitpid(pid, 0)
for name, good in zip(CHECKS, results):
    print(("ok" if good else "not ok") + " " + name)
print("exit %d" % (os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1))
sys.stderr.write(buf.decode(errors="replace")[-2000:] + "\n")
