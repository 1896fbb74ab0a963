# SPDX-License-Identifier: GPL-2.0-or-later
"""A TCP proxy for plaintext IMAP that cuts a connection on demand.

    with CutProxy("127.0.0.1", dovecot.imap_port) as proxy:
        proxy.arm(rb"^\\S+ APPEND ", "after_reply")
        ... a client connects to 127.0.0.1:proxy.port ...
        assert proxy.fired.wait(10)

A rule names a command by a regular expression, matched against the first
line of each command the client sends (never against literal bytes or the
lines that continue a command after a literal), and a mode:

after_reply  the command goes through, with its literals, and the proxy
             forwards both ways until the server's tagged completion for
             the command's tag; that line is not forwarded: both sockets
             are shut instead.  The server did the command, the client
             cannot know.
before_send  both sockets are shut as soon as the command's first line has
             arrived, which is not forwarded: the server never sees it.

A rule fires once; then the proxy forwards normally again (so that the
client's reconnection works) until it is armed anew.

Both directions are split into lines (ending in CRLF) and literals: a line
ending in {n}, {n+} or {n-} (also ~{n}) is followed by n bytes, forwarded
verbatim as they arrive, after which the line goes on.  Lines are forwarded
only once complete, so a cut never leaves half a line on either side.
"""

import re
import select
import socket
import threading

AFTER_REPLY = "after_reply"
BEFORE_SEND = "before_send"
MODES = (AFTER_REPLY, BEFORE_SEND)

_LITERAL_AT_END = re.compile(rb"\{(\d+)[+-]?\}\r\n\Z")
_CHUNK = 65536


class Framer:
    """Splits one direction of an IMAP stream into units.

    feed(data) returns a list of (kind, bytes, first): kind "line" for a
    complete line up to and including its CRLF, with first True when the
    line begins a command or response (it does not continue one after a
    literal); kind "literal" for literal bytes, in pieces as they came.
    Bytes of an incomplete line stay buffered until its CRLF arrives.
    """

    def __init__(self):
        self._buf = bytearray()
        self._literal_left = 0
        self._continuing = False

    def feed(self, data):
        out = []
        i = 0
        n = len(data)
        while i < n:
            if self._literal_left:
                take = min(self._literal_left, n - i)
                out.append(("literal", bytes(data[i:i + take]), False))
                self._literal_left -= take
                i += take
                continue
            end = data.find(b"\n", i)
            if end < 0:
                self._buf += data[i:]
                break
            self._buf += data[i:end + 1]
            i = end + 1
            if not self._buf.endswith(b"\r\n"):
                # A bare LF does not end an IMAP line.
                continue
            line = bytes(self._buf)
            self._buf.clear()
            out.append(("line", line, not self._continuing))
            m = _LITERAL_AT_END.search(line)
            if m:
                self._literal_left = int(m.group(1))
                self._continuing = True
            else:
                self._continuing = False
        return out

    @property
    def pending(self):
        """Bytes of an incomplete line held back."""
        return bytes(self._buf)


class _Rule:
    def __init__(self, pattern, mode):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        if isinstance(pattern, str):
            pattern = pattern.encode()
        if isinstance(pattern, bytes):
            # IMAP commands are case-insensitive.
            pattern = re.compile(pattern, re.IGNORECASE)
        self.pattern = pattern
        self.mode = mode


def _tag(line):
    return line.split(b" ", 1)[0]


class _Connection:
    """One client and its upstream socket, with a pump thread each way."""

    def __init__(self, proxy, number, client, upstream):
        self.proxy = proxy
        self.number = number
        self.client = client
        self.upstream = upstream
        self.lock = threading.Lock()
        self.shut = False
        self.pumps_left = 2
        self.cut_tag = None         # after_reply: the tag awaited
        self.threads = [
            threading.Thread(target=self._pump_c2s, daemon=True,
                             name=f"cutproxy-{number}-c2s"),
            threading.Thread(target=self._pump_s2c, daemon=True,
                             name=f"cutproxy-{number}-s2c"),
        ]

    def start(self):
        for t in self.threads:
            t.start()

    def shutdown(self):
        """End both directions: each pump's recv returns at once."""
        with self.lock:
            if self.shut:
                return
            self.shut = True
        for s in (self.client, self.upstream):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _close(self):
        for s in (self.client, self.upstream):
            try:
                s.close()
            except OSError:
                pass

    def _pump_done(self):
        self.shutdown()
        with self.lock:
            self.pumps_left -= 1
            last = self.pumps_left == 0
        if last:
            # Only now: closing while the other pump still used a socket
            # could hand its descriptor number to somebody else.
            self._close()

    def _pump(self, src, dst, on_first_line):
        framer = Framer()
        try:
            while True:
                try:
                    data = src.recv(_CHUNK)
                except OSError:
                    return
                if not data:
                    return
                for kind, chunk, first in framer.feed(data):
                    if kind == "line" and first and on_first_line(chunk):
                        return
                    dst.sendall(chunk)
        except OSError:
            return
        finally:
            self._pump_done()

    def _pump_c2s(self):
        self._pump(self.client, self.upstream, self._client_line)

    def _pump_s2c(self):
        self._pump(self.upstream, self.client, self._server_line)

    def _client_line(self, line):
        """A command's first line; True to cut before it is forwarded."""
        mode = self.proxy._match(self, line)
        if mode == BEFORE_SEND:
            # fired first: whoever sees the connection end sees it set.
            self.proxy._fire(line)
            self.shutdown()
            return True
        if mode == AFTER_REPLY:
            # Set before the line is forwarded, so before any answer.
            self.cut_tag = _tag(line)
        return False

    def _server_line(self, line):
        """A response's first line; True to cut instead of forwarding."""
        tag = self.cut_tag
        if tag is not None and line.startswith(tag + b" "):
            self.proxy._fire(self.proxy._armed_line)
            self.shutdown()
            return True
        return False

    def join(self, timeout):
        for t in self.threads:
            if t.is_alive():
                t.join(timeout)


class CutProxy:
    """Listens on 127.0.0.1:<free port> and forwards each connection to
    host:port, cutting one as armed (see the module's description).

    port         where clients connect
    fired        threading.Event, set once an armed rule has cut
    connections  how many client connections were accepted
    commands     [(connection number, first line)] of every command seen
    cut_line     the command line that fired the last rule
    """

    def __init__(self, host, port, listen_host="127.0.0.1"):
        self.host = host
        self.upstream_port = port
        self.fired = threading.Event()
        self.connections = 0
        self.commands = []
        self.cut_line = None
        self._armed_line = None
        self._lock = threading.Lock()
        self._rule = None
        self._conns = []
        self._stopped = False
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((listen_host, 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._acceptor = threading.Thread(target=self._accept_loop,
                                          daemon=True,
                                          name="cutproxy-accept")
        self._acceptor.start()

    # -- rules ----------------------------------------------------------------

    def arm(self, pattern, mode=AFTER_REPLY):
        """Cut the next command whose first line matches pattern (bytes,
        matched case-insensitively with re.search, or a compiled regex).
        Replaces a rule not yet fired, and clears fired."""
        rule = _Rule(pattern, mode)
        with self._lock:
            self._rule = rule
            self._armed_line = None
            self.cut_line = None
            self.fired.clear()

    def disarm(self):
        with self._lock:
            self._rule = None

    @property
    def armed(self):
        """Whether a rule waits for its command."""
        with self._lock:
            return self._rule is not None

    def _match(self, conn, line):
        """The mode to apply to this command line, or None.  A matching
        rule is consumed here, so that it fires on one connection only."""
        with self._lock:
            self.commands.append((conn.number, line))
            rule = self._rule
            if rule is None or not rule.pattern.search(line):
                return None
            self._rule = None
            self._armed_line = line
            return rule.mode

    def _fire(self, line):
        with self._lock:
            self.cut_line = line
        self.fired.set()

    # -- connections ----------------------------------------------------------

    def _accept_loop(self):
        while True:
            try:
                ready, _, _ = select.select([self._listener, self._wake_r],
                                            [], [])
            except (OSError, ValueError):
                return
            if self._wake_r in ready or self._stopped:
                return
            try:
                client, _ = self._listener.accept()
            except OSError:
                continue
            try:
                upstream = socket.create_connection(
                    (self.host, self.upstream_port), timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if self._stopped:
                    client.close()
                    upstream.close()
                    return
                self.connections += 1
                conn = _Connection(self, self.connections, client, upstream)
                self._conns.append(conn)
            conn.start()

    def cut_all(self):
        """Shut every open connection now (the listener stays)."""
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            c.shutdown()

    def stop(self, timeout=10):
        """Stop accepting, shut every connection, and wait for every
        thread of this proxy to end.  Idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            self._rule = None
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        self._acceptor.join(timeout)
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            c.shutdown()
        for c in conns:
            c.join(timeout)
        alive = [t.name for c in conns for t in c.threads if t.is_alive()]
        if self._acceptor.is_alive():
            alive.append(self._acceptor.name)
        for s in (self._listener, self._wake_r, self._wake_w):
            s.close()
        if alive:
            raise RuntimeError(f"cutproxy threads did not end: {alive}")

    def threads(self):
        """Every thread this proxy started that is still running."""
        with self._lock:
            conns = list(self._conns)
        out = [t for c in conns for t in c.threads if t.is_alive()]
        if self._acceptor.is_alive():
            out.append(self._acceptor)
        return out

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
