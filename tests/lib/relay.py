# SPDX-License-Identifier: GPL-2.0-or-later
"""A TCP relay between imapfs and a server, for proxies that hold back or
watch what passes: a subclass says what each direction does.

    class Watch(Relay):
        def pump_c2s(self, src, dst, state): ...
        def pump_s2c(self, src, dst, state): ...

Each accepted connection gets a new_state() shared by its two pumps, each
pump a thread of its own; stop() shuts every socket and joins them.
"""

import socket
import threading


class Relay:
    JOIN_TIMEOUT = 15.0

    def __init__(self, host, port):
        self.upstream = (host, port)
        self._lock = threading.Lock()
        self._socks = []
        self._threads = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._spawn(self._accept)

    def new_state(self):
        return {}

    def pump_c2s(self, src, dst, state):
        raise NotImplementedError

    def pump_s2c(self, src, dst, state):
        raise NotImplementedError

    def _spawn(self, fn, *args):
        t = threading.Thread(target=fn, args=args, daemon=True)
        self._threads.append(t)
        t.start()

    def _accept(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            with self._lock:
                self._socks += [client, server]
            state = self.new_state()
            self._spawn(self.pump_c2s, client, server, state)
            self._spawn(self.pump_s2c, server, client, state)

    @staticmethod
    def recv(sock):
        try:
            return sock.recv(65536)
        except OSError:
            return b""

    @staticmethod
    def send(sock, data):
        try:
            sock.sendall(data)
            return True
        except OSError:
            return False

    @staticmethod
    def end(dst):
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def stop(self):
        try:    # wakes the accept() under way, which close() does not
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            socks = list(self._socks)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self._threads:
            t.join(self.JOIN_TIMEOUT)
        for s in socks:
            s.close()
