# SPDX-License-Identifier: GPL-2.0-or-later
"""Self-tests of tests/lib/cutproxy.py: its framing, against a scripted
upstream of a few lines (exact bytes on both sides), and with imaplib
against a real Dovecot (as root, like the mount tests)."""

import imaplib
import itertools
import os
import re
import secrets
import shutil
import socket
import sys
import tempfile
import threading
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "lib"))

from cutproxy import AFTER_REPLY, BEFORE_SEND, CutProxy, Framer  # noqa: E402

WAIT = 10       # seconds for anything that should happen at once


# -- the framer ---------------------------------------------------------------

STREAM = (b"a1 LOGIN {5}\r\n"
          b"alice {6+}\r\n"
          b"secret\r\n"
          b"a2 APPEND INBOX ~{12-}\r\n"
          b"x1 OK fake\r\n\r\n"
          b"a3 NOOP with a bare \n inside\r\n"
          b"* 1 FETCH (BODY[] {0}\r\n"
          b")\r\n")
UNITS = [("line", b"a1 LOGIN {5}\r\n", True),
         ("literal", b"alice", False),
         ("line", b" {6+}\r\n", False),
         ("literal", b"secret", False),
         ("line", b"\r\n", False),
         ("line", b"a2 APPEND INBOX ~{12-}\r\n", True),
         ("literal", b"x1 OK fake\r\n", False),
         ("line", b"\r\n", False),
         ("line", b"a3 NOOP with a bare \n inside\r\n", True),
         ("line", b"* 1 FETCH (BODY[] {0}\r\n", True),
         ("line", b")\r\n", False)]


def _merged(units):
    """Join consecutive literal pieces, which depend on the reads."""
    out = []
    for kind, data, first in units:
        if out and kind == "literal" and out[-1][0] == "literal":
            out[-1] = ("literal", out[-1][1] + data, False)
        else:
            out.append((kind, data, first))
    return out


def test_framer_units():
    f = Framer()
    assert f.feed(STREAM) == UNITS
    assert f.pending == b""


@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_framer_units_whatever_the_reads(size):
    f = Framer()
    units = []
    for i in range(0, len(STREAM), size):
        units += f.feed(STREAM[i:i + size])
    assert _merged(units) == UNITS


def test_framer_every_split_point():
    for a, b in itertools.combinations(range(1, len(STREAM)), 2):
        f = Framer()
        units = f.feed(STREAM[:a]) + f.feed(STREAM[a:b]) + f.feed(STREAM[b:])
        assert _merged(units) == UNITS, (a, b)


def test_framer_holds_an_incomplete_line():
    f = Framer()
    assert f.feed(b"a1 NOOP\r") == []
    assert f.pending == b"a1 NOOP\r"
    assert f.feed(b"\n") == [("line", b"a1 NOOP\r\n", True)]


# -- a scripted upstream ------------------------------------------------------

def _ok(command):
    return command.split(b" ", 1)[0] + b" OK done\r\n"


class MiniServer:
    """Greets, answers a synchronising literal with "+ go", and answers
    each complete command with reply(command bytes) (default: tagged OK).
    Records every byte received, per connection."""

    def __init__(self, reply=_ok):
        self.reply = reply
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.received = []
        self.commands = []
        self.closed = []
        self.socks = []
        self.lock = threading.Lock()
        self.threads = []
        self.errors = []
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self.threads.append(t)

    def _accept(self):
        while True:
            try:
                s, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                i = len(self.socks)
                self.socks.append(s)
                self.received.append(bytearray())
                self.commands.append([])
                self.closed.append(threading.Event())
            t = threading.Thread(target=self._serve, args=(i, s),
                                 daemon=True)
            t.start()
            self.threads.append(t)

    def _serve(self, i, s):
        framer = Framer()
        command = bytearray()
        try:
            s.sendall(b"* OK mini ready\r\n")
            while True:
                data = s.recv(65536)
                if not data:
                    break
                self.received[i] += data
                for kind, chunk, _ in framer.feed(data):
                    command += chunk
                    if kind != "line":
                        continue
                    m = re.search(rb"\{(\d+)(\+?)\}\r\n\Z", chunk)
                    if m:
                        if not m.group(2):
                            s.sendall(b"+ go\r\n")
                        continue
                    self.commands[i].append(bytes(command))
                    answer = self.reply(bytes(command))
                    command.clear()
                    if answer:
                        s.sendall(answer)
        except OSError:
            pass
        except Exception as e:  # shown by the test's teardown
            self.errors.append(repr(e))
        finally:
            self.closed[i].set()
            s.close()

    def stop(self):
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            socks = list(self.socks)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self.threads:
            t.join(WAIT)
        assert not [t for t in self.threads if t.is_alive()]


@pytest.fixture
def mini():
    servers = []

    def make(reply=_ok):
        srv = MiniServer(reply)
        servers.append(srv)
        return srv
    yield make
    for srv in servers:
        srv.stop()
        assert srv.errors == []


@pytest.fixture
def proxies():
    made = []

    def make(port, host="127.0.0.1"):
        p = CutProxy(host, port)
        made.append(p)
        return p
    yield make
    for p in made:
        p.stop()
        assert p.threads() == []


class Client:
    """A raw client socket with line reads."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        self.buf = bytearray()

    def send(self, data):
        self.s.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            data = self.s.recv(65536)
            if not data:
                raise EOFError(bytes(self.buf))
            self.buf += data
        i = self.buf.index(b"\r\n") + 2
        out = bytes(self.buf[:i])
        del self.buf[:i]
        return out

    def rest(self):
        """Everything until the proxy closes the connection."""
        while True:
            data = self.s.recv(65536)
            if not data:
                out = bytes(self.buf)
                self.buf.clear()
                return out
            self.buf += data

    def close(self):
        self.s.close()


@pytest.fixture
def client():
    made = []

    def make(port):
        c = Client(port)
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()


def test_forwards_verbatim_unarmed(mini, proxies, client):
    body = b"From: a\r\n\r\nx1 OK not a line\r\n"

    def reply(cmd):
        tag = cmd.split(b" ", 1)[0]
        if b"FETCH" in cmd:
            return (b"* 1 FETCH (BODY[] {%d}\r\n" % len(body) + body +
                    b")\r\n" + tag + b" OK fetched\r\n")
        return _ok(cmd)
    srv = mini(reply)
    p = proxies(srv.port)
    c = client(p.port)
    assert c.line() == b"* OK mini ready\r\n"
    c.send(b"a1 APPEND INBOX {4}\r\n")
    assert c.line() == b"+ go\r\n"
    c.send(b"abcd FLAGS {3+}\r\nxyz\r\n")
    assert c.line() == b"a1 OK done\r\n"
    c.send(b"a2 UID FETCH 1 BODY[]\r\n")
    assert c.line() == b"* 1 FETCH (BODY[] {%d}\r\n" % len(body)
    want = body + b")\r\na2 OK fetched\r\n"
    while len(c.buf) < len(want):
        c.buf += c.s.recv(65536)
    assert bytes(c.buf) == want
    assert bytes(srv.received[0]) == (b"a1 APPEND INBOX {4}\r\nabcd FLAGS "
                                      b"{3+}\r\nxyz\r\na2 UID FETCH 1 "
                                      b"BODY[]\r\n")
    assert not p.fired.is_set()
    assert p.connections == 1
    assert [line for _, line in p.commands] == [
        b"a1 APPEND INBOX {4}\r\n", b"a2 UID FETCH 1 BODY[]\r\n"]


def test_before_send_cuts_without_forwarding(mini, proxies, client):
    srv = mini()
    p = proxies(srv.port)
    p.arm(rb"^\S+ UID STORE ", BEFORE_SEND)
    c = client(p.port)
    c.line()
    c.send(b"a1 NOOP\r\n")
    assert c.line() == b"a1 OK done\r\n"
    # Pipelined: the NOOP before goes through, the STORE and what
    # follows do not.
    c.send(b"a2 NOOP\r\na3 uid store 1 +FLAGS (\\Flagged)\r\na4 NOOP\r\n")
    # The answer to a2 may or may not make it before the cut.
    assert c.rest() in (b"", b"a2 OK done\r\n")
    assert p.fired.wait(WAIT)
    assert srv.closed[0].wait(WAIT)
    assert bytes(srv.received[0]) == b"a1 NOOP\r\na2 NOOP\r\n"
    assert p.cut_line == b"a3 uid store 1 +FLAGS (\\Flagged)\r\n"


def test_before_send_with_literal_plus(mini, proxies, client):
    srv = mini()
    p = proxies(srv.port)
    p.arm(rb"^\S+ APPEND ", BEFORE_SEND)
    c = client(p.port)
    c.line()
    c.send(b"a1 APPEND INBOX {5+}\r\nhello\r\n")
    assert c.rest() == b""
    assert srv.closed[0].wait(WAIT)
    assert bytes(srv.received[0]) == b""
    assert p.fired.is_set()


@pytest.mark.parametrize("plus", [False, True],
                         ids=["synchronising", "literal-plus"])
def test_after_reply_withholds_only_the_completion(mini, proxies, client,
                                                   plus):
    def reply(cmd):
        tag = cmd.split(b" ", 1)[0]
        if b"APPEND" in cmd:
            # "a20" and a literal holding "a2 OK" are not the completion.
            return (b"* 3 EXISTS\r\n" + b"a20 OK other tag\r\n" +
                    b"* 3 FETCH (BODY[] {9}\r\na2 OK x\r\n)\r\n" +
                    tag + b" OK [APPENDUID 1 3] done\r\n" +
                    b"* 4 EXISTS\r\n")
        return _ok(cmd)
    srv = mini(reply)
    p = proxies(srv.port)
    p.arm(rb"^\S+ APPEND ", AFTER_REPLY)
    c = client(p.port)
    c.line()
    if plus:
        c.send(b"a2 APPEND INBOX (\\Seen) {5+}\r\nhello\r\n")
    else:
        c.send(b"a2 APPEND INBOX (\\Seen) {5}\r\n")
        assert c.line() == b"+ go\r\n"
        assert not p.fired.is_set()
        c.send(b"hello\r\n")
    assert c.rest() == (b"* 3 EXISTS\r\na20 OK other tag\r\n"
                        b"* 3 FETCH (BODY[] {9}\r\na2 OK x\r\n)\r\n")
    assert p.fired.wait(WAIT)
    assert srv.closed[0].wait(WAIT)
    assert srv.commands[0] == [b"a2 APPEND INBOX (\\Seen) {5" +
                               (b"+" if plus else b"") + b"}\r\nhello\r\n"]
    assert p.cut_line.startswith(b"a2 APPEND ")


def test_after_reply_cuts_a_refusal_too(mini, proxies, client):
    srv = mini(lambda cmd: cmd.split(b" ")[0] + b" NO [TRYCREATE] no\r\n")
    p = proxies(srv.port)
    p.arm(rb"^\S+ UID MOVE ", AFTER_REPLY)
    c = client(p.port)
    c.line()
    c.send(b"m1 UID MOVE 4 Other\r\n")
    assert c.rest() == b""
    assert p.fired.wait(WAIT)
    assert srv.commands[0] == [b"m1 UID MOVE 4 Other\r\n"]


def test_literal_bytes_never_match(mini, proxies, client):
    srv = mini()
    p = proxies(srv.port)
    p.arm(rb"^\S+ UID STORE ", BEFORE_SEND)
    c = client(p.port)
    c.line()
    lit = b"Subject: x\r\n\r\nz9 UID STORE 1 +FLAGS (x)\r\n"
    c.send(b"a1 APPEND INBOX {%d+}\r\n" % len(lit) + lit + b"\r\n")
    assert c.line() == b"a1 OK done\r\n"
    # The line after a literal continues the command: not matched either.
    c.send(b"a2 APPEND INBOX {1+}\r\nx UID STORE 1\r\n")
    assert c.line() == b"a2 OK done\r\n"
    assert not p.fired.is_set()
    assert p.armed
    c.send(b"a3 UID STORE 1 +FLAGS (\\Seen)\r\n")
    assert c.rest() == b""
    assert p.fired.is_set()


def test_fires_once_then_forwards(mini, proxies, client):
    srv = mini()
    p = proxies(srv.port)
    p.arm(rb"^\S+ UID EXPUNGE ", AFTER_REPLY)
    c = client(p.port)
    c.line()
    c.send(b"e1 UID EXPUNGE 5\r\n")
    assert c.rest() == b""
    assert p.fired.is_set()
    assert not p.armed
    c2 = client(p.port)
    c2.line()
    c2.send(b"e2 UID EXPUNGE 5\r\n")
    assert c2.line() == b"e2 OK done\r\n"
    assert p.connections == 2
    # Armed again: fired is cleared, and the rule fires anew.
    p.arm(rb"^\S+ UID EXPUNGE ", BEFORE_SEND)
    assert not p.fired.is_set()
    c2.send(b"e3 UID EXPUNGE 5\r\n")
    assert c2.rest() == b""
    assert p.fired.is_set()
    assert srv.commands[1] == [b"e2 UID EXPUNGE 5\r\n"]


def test_a_cut_leaves_other_connections_alone(mini, proxies, client):
    srv = mini()
    p = proxies(srv.port)
    a = client(p.port)
    b = client(p.port)
    a.line()
    b.line()
    p.arm(rb"^\S+ NOOP", BEFORE_SEND)
    a.send(b"a1 NOOP\r\n")
    assert a.rest() == b""
    b.send(b"b1 NOOP\r\n")
    assert b.line() == b"b1 OK done\r\n"


def test_stop_ends_every_thread_and_socket(mini, client):
    srv = mini()
    before = set(threading.enumerate())
    p = CutProxy("127.0.0.1", srv.port)
    try:
        clients = [client(p.port) for _ in range(3)]
        for c in clients:
            c.line()
        # One in the middle of a literal, one in the middle of a line.
        clients[0].send(b"a1 APPEND INBOX {100+}\r\nhalf")
        clients[1].send(b"b1 NO")
        assert len(p.threads()) == 1 + 2 * 3
    finally:
        p.stop()
    assert p.threads() == []
    for c in clients:
        assert c.rest() == b""
    for ev in srv.closed:
        assert ev.wait(WAIT)
    assert set(threading.enumerate()) - before <= set(srv.threads)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", p.port), timeout=WAIT)
    p.stop()    # a second stop is harmless


def test_stop_ends_a_pump_blocked_in_send(mini, client):
    # The client reads nothing while the server floods it: the pump that
    # forwards is stuck in sendall when stop() comes.
    flood = b"* OK " + b"x" * (8 << 20) + b"\r\n"
    srv = mini(lambda cmd: flood)
    p = CutProxy("127.0.0.1", srv.port)
    try:
        c = client(p.port)
        c.line()
        c.send(b"f1 NOOP\r\n")
        # Until the server has the command, and so is flooding.
        deadline = time.monotonic() + WAIT
        while not (srv.commands and srv.commands[0]):
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        p.stop(timeout=WAIT)
    assert p.threads() == []


def test_upstream_down(proxies, client):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = proxies(port)
    c = client(p.port)
    assert c.rest() == b""
    assert p.connections == 0


def test_bad_mode():
    with CutProxy("127.0.0.1", 9) as p:
        with pytest.raises(ValueError):
            p.arm(rb"APPEND", "sometime")


# -- a real Dovecot -----------------------------------------------------------

@pytest.fixture(scope="module")
def dovecot():
    if os.geteuid() != 0:
        pytest.skip("the test Dovecot runs as root")
    if shutil.which("dovecot") is None:
        pytest.skip("dovecot is not installed")
    from dovecot import Dovecot
    workdir = tempfile.mkdtemp(prefix="imapfs-test-cutproxy-")
    d = Dovecot(workdir, ssl=False)
    try:
        d.start()
        yield d
    finally:
        d.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


def _message():
    mid = f"<{secrets.token_hex(8)}@cutproxy.test>"
    return mid, (f"From: a@example.org\r\nSubject: cut\r\n"
                 f"Message-ID: {mid}\r\n\r\nhello\r\n").encode()


def _copies(server, mid, mailbox="INBOX"):
    with server.imap() as c:
        typ, _ = c.select(mailbox, readonly=True)
        assert typ == "OK"
        typ, data = c.uid("SEARCH", "HEADER", "Message-ID", f'"{mid}"')
        assert typ == "OK", data
        return [int(u) for u in data[0].split()]


def _drop(c):
    """Close an imaplib client, which may have closed itself already."""
    try:
        c.shutdown()
    except OSError:
        pass


def _via(proxy, server):
    c = imaplib.IMAP4("127.0.0.1", proxy.port, timeout=WAIT)
    c.login(server.user, server.password)
    return c


def test_dovecot_append_after_reply(dovecot, proxies):
    p = proxies(dovecot.imap_port)
    p.arm(rb"^\S+ APPEND ", AFTER_REPLY)
    mid, msg = _message()
    c = _via(p, dovecot)
    try:
        # imaplib sends a synchronising literal.
        with pytest.raises(imaplib.IMAP4.abort):
            c.append("INBOX", None, None, msg)
    finally:
        _drop(c)
    assert p.fired.is_set()
    assert len(_copies(dovecot, mid)) == 1
    # Forwarding again: a new connection works.
    c = _via(p, dovecot)
    try:
        assert c.noop()[0] == "OK"
        c.logout()
    finally:
        _drop(c)
    assert p.connections == 2


def test_dovecot_append_before_send(dovecot, proxies):
    p = proxies(dovecot.imap_port)
    p.arm(rb"^\S+ APPEND ", BEFORE_SEND)
    mid, msg = _message()
    c = _via(p, dovecot)
    try:
        with pytest.raises(imaplib.IMAP4.abort):
            c.append("INBOX", None, None, msg)
    finally:
        _drop(c)
    assert p.fired.is_set()
    assert _copies(dovecot, mid) == []
    c = _via(p, dovecot)
    try:
        assert c.append("INBOX", None, None, msg)[0] == "OK"
        c.logout()
    finally:
        _drop(c)
    assert len(_copies(dovecot, mid)) == 1


def test_dovecot_append_literal_plus_after_reply(dovecot, proxies, client):
    p = proxies(dovecot.imap_port)
    p.arm(rb"^\S+ APPEND ", AFTER_REPLY)
    mid, msg = _message()
    c = client(p.port)
    assert b"LITERAL+" in c.line()
    c.send(b'a1 LOGIN "%s" "%s"\r\n' % (dovecot.user.encode(),
                                         dovecot.password.encode()))
    while not c.line().startswith(b"a1 "):
        pass
    c.send(b"a2 APPEND INBOX {%d+}\r\n" % len(msg) + msg + b"\r\n")
    assert b"a2 " not in c.rest()
    assert p.fired.is_set()
    uids = _copies(dovecot, mid)
    assert len(uids) == 1
    with dovecot.imap() as o:
        o.select("INBOX", readonly=True)
        typ, data = o.uid("FETCH", str(uids[0]), "(BODY.PEEK[])")
        assert data[0][1] == msg


def test_dovecot_store_after_reply(dovecot, proxies):
    mid, msg = _message()
    with dovecot.imap() as o:
        o.append("INBOX", None, None, msg)
    uid = _copies(dovecot, mid)[0]
    p = proxies(dovecot.imap_port)
    p.arm(rb"^\S+ UID STORE ", AFTER_REPLY)
    c = _via(p, dovecot)
    try:
        c.select("INBOX")
        with pytest.raises(imaplib.IMAP4.abort):
            c.uid("STORE", str(uid), "+FLAGS", "(\\Flagged)")
    finally:
        _drop(c)
    assert p.fired.is_set()
    with dovecot.imap() as o:
        o.select("INBOX", readonly=True)
        typ, data = o.uid("FETCH", str(uid), "(FLAGS)")
        assert b"\\Flagged" in data[0]
