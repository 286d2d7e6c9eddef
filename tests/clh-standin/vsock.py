"""The stand-in's hybrid vsock: a Unix socket where "CONNECT <port>\\n" is
answered "OK <host port>\\n" when the guest listens on that port, after
which bytes flow both ways. The guest side is QEMU's virtio-serial port
agent.channel.0 (the guest agent listens there), which takes one host
connection at a time and may be written to only while the guest holds it
open: so a CONNECT is refused (the connection closed, as Cloud Hypervisor
does when nothing listens) while the port is closed, and waits while
another connection is relayed.
"""

import os
import socket
import threading
import time

AGENT_PORT = 1024
LINE_MAX = 64


class HybridVsock:
    def __init__(self, path, agent_socket, log):
        self.path = path
        self.agent_socket = agent_socket
        self.log = log
        self.cond = threading.Condition()
        self.port_open = False
        self.busy = False
        self.running = True
        self.next_host_port = 1073741824
        self.answer = os.environ.get("CLH_STANDIN_VSOCK_ANSWER")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(16)
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def set_port_open(self, is_open):
        with self.cond:
            self.port_open = is_open
            self.cond.notify_all()

    def close(self):
        with self.cond:
            self.running = False
            self.cond.notify_all()
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def accept_loop(self):
        while self.running:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def read_line(self, conn):
        conn.settimeout(10.0)
        data = b""
        while not data.endswith(b"\n"):
            chunk = conn.recv(1)
            if not chunk or len(data) > LINE_MAX:
                return None
            data += chunk
        conn.settimeout(None)
        return data.decode("ascii", "replace").strip()

    def serve(self, conn):
        try:
            line = self.read_line(conn)
        except OSError:
            line = None
        if line is None or not line.startswith("CONNECT "):
            self.log(f"hybrid vsock: bad request {line!r}")
            conn.close()
            return
        port = line[len("CONNECT "):]
        if self.answer is not None:
            self.log(f"hybrid vsock: fault: answering {self.answer!r}")
            conn.sendall(self.answer.encode() + b"\n")
            conn.close()
            return
        if port != str(AGENT_PORT) or not self.acquire():
            # Nothing listens there (yet): Cloud Hypervisor closes the connection.
            conn.close()
            return
        try:
            guest = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            guest.connect(self.agent_socket)
        except OSError as e:
            self.log(f"hybrid vsock: cannot reach the agent port: {e}")
            conn.close()
            self.release()
            return
        host_port = self.next_host_port
        self.next_host_port += 1
        try:
            conn.sendall(f"OK {host_port}\n".encode())
        except OSError:
            guest.close()
            conn.close()
            self.release()
            return
        self.log(f"hybrid vsock: CONNECT {port}: relaying (host port {host_port})")
        self.relay(conn, guest)

    def acquire(self):
        """Waits (up to 10 s) for the port to be open and free; False if it is closed."""
        deadline = time.monotonic() + 10.0
        with self.cond:
            while self.running and self.busy and time.monotonic() < deadline:
                self.cond.wait(deadline - time.monotonic())
            if not self.running or self.busy or not self.port_open:
                return False
            self.busy = True
            return True

    def release(self):
        with self.cond:
            self.busy = False
            self.cond.notify_all()

    def relay(self, conn, guest):
        ended = []

        def pump(src, dst):
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    dst.sendall(data)
            except OSError:
                pass
            # The guest closes and reopens its port once the host goes: it
            # counts as closed from now until QEMU says it is open again.
            with self.cond:
                if not ended:
                    ended.append(True)
                    self.port_open = False
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        back = threading.Thread(target=pump, args=(guest, conn), daemon=True)
        back.start()
        pump(conn, guest)
        back.join()
        guest.close()
        conn.close()
        self.release()
        self.log("hybrid vsock: connection closed")
