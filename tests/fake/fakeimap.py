# SPDX-License-Identifier: GPL-2.0-or-later
"""A scripted fake IMAP server for the fault tests.

A real server (Dovecot) cannot be made to hang in the middle of a FETCH,
drop the connection inside a literal, lie about RFC822.SIZE or inject bytes
before a STARTTLS handshake on demand.  This one can.  It speaks enough
IMAP4rev1 for a read-only client (greeting, CAPABILITY, STARTTLS, LOGIN,
AUTHENTICATE PLAIN, ENABLE, NAMESPACE, ID, LIST, SELECT/EXAMINE, STATUS,
FETCH/UID FETCH, SEARCH, IDLE, NOOP, LOGOUT), plus STORE/UID STORE for
flags and APPEND (which keeps the bytes exactly as sent), and lets a test
change its behaviour per command through a Scenario, even while clients are
connected.

    boxes = {"INBOX": [Message(1, make_body(1))]}
    with FakeImapServer(boxes) as srv:
        srv.scenario.hang_on = When("UID FETCH", contains="BODY", uid=1)
        ... connect to 127.0.0.1:srv.port ...

Each connection is served by its own thread.  stop() closes every socket, so
no scenario (not even "hang forever") outlives the server.
"""

import atexit
import base64
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from typing import Iterable, Optional, Union

FOREVER = float("inf")

DEFAULT_USERS = {"alice": "secret"}
DEFAULT_CAPABILITIES = (
    "IMAP4rev1", "SASL-IR", "LITERAL+", "ID", "ENABLE", "NAMESPACE",
    "UIDPLUS", "SPECIAL-USE", "AUTH=PLAIN",
)
SYSTEM_FLAGS = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")

# Bounds on what a client may send us; the fake must not be the thing that
# runs out of memory in a test.
MAX_LINE = 1 << 20
MAX_LITERAL = 64 << 20

INJECTED_BYE = b"* BYE injected\r\n"


# --------------------------------------------------------------------------
# Data model


@dataclass
class Message:
    """One message.  body is sent byte for byte as BODY[]; rfc822_size,
    when set, is reported as RFC822.SIZE instead of len(body)."""
    uid: int
    body: bytes
    flags: list = field(default_factory=list)
    internaldate: str = "01-Jan-2024 12:00:00 +0000"
    rfc822_size: Optional[int] = None
    modseq: int = 1

    @property
    def size(self):
        return len(self.body) if self.rfc822_size is None \
            else self.rfc822_size


@dataclass
class Mailbox:
    messages: list = field(default_factory=list)
    uidvalidity: int = 1
    uidnext: Optional[int] = None       # default: highest UID + 1
    attributes: list = field(default_factory=list)  # LIST attributes
    flags: tuple = SYSTEM_FLAGS
    permanentflags: tuple = SYSTEM_FLAGS + ("\\*",)
    # sent on EXAMINE (and read-only SELECT) instead of ()
    examine_permanentflags: Optional[tuple] = None
    read_only: bool = False             # SELECT answers [READ-ONLY]
    # MAILBOXID (RFC 8474), told only by a server with objectid=True;
    # default: a new one for every Mailbox, as a server gives every
    # mailbox it creates.  A rename keeps it (rename_mailbox).
    mailboxid: Optional[str] = None

    def __post_init__(self):
        self.messages = sorted((_as_message(m) for m in self.messages),
                               key=lambda m: m.uid)
        if self.mailboxid is None:
            self.mailboxid = "F" + uuid.uuid4().hex

    @property
    def next_uid(self):
        if self.uidnext is not None:
            return self.uidnext
        return (self.messages[-1].uid + 1) if self.messages else 1

    @property
    def highestmodseq(self):
        return max((m.modseq for m in self.messages), default=1)

    def seq_of(self, uid):
        for i, m in enumerate(self.messages):
            if m.uid == uid:
                return i + 1
        return None

    def by_uid(self, uid):
        seq = self.seq_of(uid)
        return None if seq is None else self.messages[seq - 1]


def _as_message(m):
    if isinstance(m, Message):
        return m
    if isinstance(m, dict):
        return Message(**m)
    if isinstance(m, (tuple, list)):
        return Message(*m)
    raise TypeError("not a message: %r" % (m,))


def _header_has(body, name, want):
    """Whether the header field name (lower case) of body holds want."""
    head = body.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    for line in head.splitlines():
        key, sep, value = line.partition(b":")
        if sep and key.strip().lower() == name and want in value.lower():
            return True
    return False


def make_body(uid, size=None, subject=None):
    """An RFC 5322 message with CRLF line ends whose bytes differ per UID,
    padded to exactly `size` bytes when given."""
    subject = subject or "message %d" % uid
    head = ("From: Fake Sender <sender@example.org>\r\n"
            "To: Alice <alice@example.org>\r\n"
            "Subject: %s\r\n"
            "Date: Mon, 1 Jan 2024 12:00:00 +0000\r\n"
            "Message-ID: <%d@fakeimap.example>\r\n"
            "\r\n" % (subject, uid)).encode()
    line = ("uid %d body line\r\n" % uid).encode()
    if size is None:
        return head + line * 3
    if size < len(head):
        raise ValueError("size too small for the header")
    need = size - len(head)
    body = (line * (need // len(line) + 1))[:need]
    if need >= 2:
        body = body[:-2] + b"\r\n"
    return head + body


# --------------------------------------------------------------------------
# Scenario


class When:
    """Which commands a scenario hook applies to.

    command:      a command name ("UID FETCH", "SELECT", ...), a tuple of
                  names, or "*" for any command;
    contains:     a case-insensitive substring of the arguments ("BODY");
    not_contains: ... that must not be there;
    uid:          the command's message set includes this UID (UID
                  commands) or the message with this UID (FETCH by seq);
    mailbox:      the mailbox named by SELECT/EXAMINE/STATUS, or the
                  selected mailbox for other commands;
    predicate:    a callable(CommandInfo) -> bool for anything else;
    times:        fire at most this many times (None: every time).
    """

    def __init__(self, command="*", contains=None, not_contains=None,
                 uid=None, mailbox=None, predicate=None, times=None):
        if isinstance(command, str):
            command = (command,)
        self.commands = tuple(c.upper() for c in command)
        self.contains = contains
        self.not_contains = not_contains
        self.uid = uid
        self.mailbox = mailbox
        self.predicate = predicate
        self.times = times
        self.fired = 0
        self._lock = threading.Lock()

    def __repr__(self):
        return "When(%r, contains=%r, uid=%r, mailbox=%r)" % (
            self.commands, self.contains, self.uid, self.mailbox)

    def matches(self, info):
        if "*" not in self.commands and info.name not in self.commands:
            return False
        args = info.argtext.upper()
        if self.contains is not None and self.contains.upper() not in args:
            return False
        if self.not_contains is not None and \
                self.not_contains.upper() in args:
            return False
        if self.mailbox is not None and info.mailbox != self.mailbox:
            return False
        if self.uid is not None and self.uid not in info.uids:
            return False
        if self.predicate is not None and not self.predicate(info):
            return False
        return True

    def fire(self, info):
        """True when the hook applies to this command now (and counts it)."""
        if not self.matches(info):
            return False
        with self._lock:
            if self.times is not None and self.fired >= self.times:
                return False
            self.fired += 1
            return True


BODY_FETCH = "body-fetch"   # shorthand: When("UID FETCH", contains="BODY")


def _as_when(w):
    if w is None or isinstance(w, When):
        return w
    if w == BODY_FETCH:
        return When("UID FETCH", contains="BODY")
    if isinstance(w, (str, tuple)):
        return When(w)
    raise TypeError("not a When: %r" % (w,))


class Stream:
    """A large answer produced as it is sent: prefix, then `total` bytes
    of `fill`, then suffix.  Iterable any number of times."""

    def __init__(self, prefix, total, fill=b"x", suffix=b"",
                 chunk=1 << 16):
        self.prefix, self.total, self.fill = prefix, total, fill
        self.suffix, self.chunk = suffix, chunk

    def __iter__(self):
        yield self.prefix
        block = (self.fill * (self.chunk // len(self.fill) + 1))[:self.chunk]
        left = self.total
        while left > 0:
            n = min(left, len(block))
            yield block[:n]
            left -= n
        if self.suffix:
            yield self.suffix

    def __repr__(self):
        return "Stream(%r..., %d bytes)" % (self.prefix[:40], self.total)


@dataclass
class Malformed:
    """Answer a matching command with raw bytes instead of its response.

    data: bytes, in which b"{tag}" is replaced by the command's tag, or an
    iterable of byte chunks (for very large answers, sent as they come);
    then: "continue" (go on serving commands), "hang" (read and ignore
    everything from now on) or "close".
    """
    when: object
    data: Union[bytes, Iterable[bytes]]
    then: str = "continue"

    def __post_init__(self):
        self.when = _as_when(self.when)
        if self.then not in ("continue", "hang", "close"):
            raise ValueError("then must be continue, hang or close")


@dataclass
class Scenario:
    """Hooks that change the server's behaviour; any combination works.

    Fields are read for every command, so a test may change them (or
    replace server.scenario) while clients are connected.
    """
    greeting_delay: Optional[float] = None  # seconds, or FOREVER
    hang_on: object = None          # When: read the command, never answer
    drop_on: object = None          # When: close the connection ...
    drop_after_bytes: Optional[int] = None  # ... after k bytes of BODY[]
    bye_on: object = None           # When: "* BYE" instead of an answer
    # When: carry the command out, then close the connection instead of
    # sending its tagged answer (the client cannot know it was done).
    drop_after_on: object = None
    malformed: object = ()          # Malformed, or a list of them
    no_starttls: bool = False       # do not offer (or accept) STARTTLS
    starttls_injection: object = False  # True or bytes: plaintext after
                                        # "OK Begin TLS", same write
    starttls_preamble: bytes = b""  # untagged lines sent in cleartext
                                    # just before "OK Begin TLS"
    fetch_body_before_uid: bool = False
    # Before every response line (and between FETCH responses): "* N
    # EXISTS" and "* 1 FETCH (FLAGS (...))" with the selected mailbox's
    # true count and flags, so they change nothing, and "* OK still here".
    extra_untagged: bool = False
    # {asked: answered}: a body fetch for UID asked is answered with the
    # FETCH (UID, body) of UID answered, then a tagged OK.
    wrong_uid: dict = field(default_factory=dict)
    preauth: bool = False
    login_fails: bool = False
    login_untagged: bytes = b""     # raw untagged lines sent just before
                                    # the tagged answer to LOGIN and
                                    # AUTHENTICATE ("* OK [ALERT] ...\r\n")
    # News in the middle of a listing's answer (a UID FETCH without a
    # body), which RFC 3501 §7.4.1 allows: right after the FETCH of the
    # message with this UID, "* N EXPUNGE" for it, and it leaves the
    # mailbox (the rest of the answer is renumbered) ...
    expunge_in_listing: Optional[int] = None
    # ... and after the first FETCH, these messages arrive, announced by
    # "* N EXISTS" but not part of this answer (once; then emptied).
    arrive_in_listing: list = field(default_factory=list)
    # SELECT/EXAMINE claim this many messages, whatever the mailbox holds.
    select_exists: Optional[int] = None

    def __setattr__(self, name, value):
        if name in ("hang_on", "drop_on", "bye_on", "drop_after_on"):
            value = _as_when(value)
        elif name == "malformed":
            if value is None:
                value = ()
            elif isinstance(value, Malformed):
                value = (value,)
            elif isinstance(value, dict):
                value = tuple(Malformed(w, d) for w, d in value.items())
            else:
                value = tuple(value)
        object.__setattr__(self, name, value)


@dataclass
class CommandInfo:
    """What the hooks see of a command."""
    tag: str
    name: str                       # upper case, "UID FETCH" for UID ones
    args: list
    argtext: str                    # arguments as logged (literals as {n})
    mailbox: Optional[str]          # named or selected mailbox
    uids: frozenset                 # UIDs the message set selects


# --------------------------------------------------------------------------
# Command parsing


class Atom(str):
    """An IMAP atom (including things like BODY.PEEK[] and 1:*)."""


class Str(str):
    """A quoted string or a literal, decoded as UTF-8 (surrogateescape)."""


class ParseError(Exception):
    pass


class _Drop(Exception):
    """Close the connection now (scenario)."""


class _Hang(Exception):
    """Never answer again on this connection (scenario)."""


class _Closed(Exception):
    """The client went away."""


_LITERAL_AT_END = re.compile(rb"\{(\d+)(\+?)\}\Z")


def _decode(b):
    return b.decode("utf-8", "surrogateescape")


def _lex(parts):
    """Tokens of a command: parts alternate line text and literal bytes."""
    tokens = []
    for idx, part in enumerate(parts):
        if idx % 2:
            tokens.append(Str(_decode(part)))
            continue
        t = part
        i, n = 0, len(t)
        while i < n:
            c = t[i:i + 1]
            if c == b" ":
                i += 1
            elif c in (b"(", b")"):
                tokens.append(c.decode())
                i += 1
            elif c == b'"':
                i += 1
                out = bytearray()
                while True:
                    if i >= n:
                        raise ParseError("unterminated quoted string")
                    ch = t[i:i + 1]
                    if ch == b"\\":
                        if i + 1 >= n:
                            raise ParseError("bad escape")
                        out += t[i + 1:i + 2]
                        i += 2
                    elif ch == b'"':
                        i += 1
                        break
                    else:
                        out += ch
                        i += 1
                tokens.append(Str(_decode(bytes(out))))
            else:
                start = i
                depth = 0
                while i < n:
                    ch = t[i:i + 1]
                    if ch == b"[":
                        depth += 1
                    elif ch == b"]":
                        depth = max(0, depth - 1)
                    elif depth == 0 and ch in (b" ", b"(", b")"):
                        break
                    i += 1
                if depth:
                    raise ParseError("unbalanced [")
                tokens.append(Atom(_decode(t[start:i])))
    return tokens


def _nest(tokens):
    stack = [[]]
    for tok in tokens:
        if tok == "(" and not isinstance(tok, (Atom, Str)):
            stack.append([])
        elif tok == ")" and not isinstance(tok, (Atom, Str)):
            if len(stack) == 1:
                raise ParseError("unbalanced )")
            done = stack.pop()
            stack[-1].append(done)
        else:
            stack[-1].append(tok)
    if len(stack) != 1:
        raise ParseError("unbalanced (")
    return stack[0]


def parse_command(parts):
    """(tag, NAME, args) of a command given as alternating text/literals."""
    words = _nest(_lex(parts))
    if not words or not isinstance(words[0], Atom):
        raise ParseError("missing tag")
    tag = str(words[0])
    if len(words) < 2 or not isinstance(words[1], Atom):
        raise ParseError("missing command")
    name = words[1].upper()
    args = words[2:]
    if name == "UID":
        if not args or not isinstance(args[0], Atom):
            raise ParseError("UID what?")
        name = "UID " + args[0].upper()
        args = args[1:]
    return tag, name, args


def parse_set(text, largest):
    """Numbers of an IMAP sequence set; `*` stands for `largest`.
    Returns a predicate, since 1:4294967295 must not be expanded."""
    ranges = []
    for item in text.split(","):
        if not item:
            raise ParseError("empty set item")
        ends = item.split(":")
        if len(ends) > 2:
            raise ParseError("bad range")
        vals = []
        for e in ends:
            if e == "*":
                vals.append(largest)
            elif e.isdigit() and int(e) > 0:
                vals.append(int(e))
            else:
                raise ParseError("bad number in set: %r" % e)
        lo, hi = min(vals), max(vals)
        ranges.append((lo, hi))
    return lambda x: any(lo <= x <= hi for lo, hi in ranges)


def imap_quote(s):
    """A mailbox name or string as an IMAP quoted string or literal."""
    b = s.encode("utf-8", "surrogateescape") if isinstance(s, str) else s
    if any(c > 0x7e or c < 0x20 for c in b):
        return b"{%d}\r\n" % len(b) + b
    return b'"' + b.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def _flag_list(flags):
    return ("(" + " ".join(flags) + ")").encode()


# --------------------------------------------------------------------------
# TLS material


_tls_lock = threading.Lock()
_tls_default = None

_OPENSSL_CONF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = %s
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


@dataclass
class TlsFiles:
    cert: str                   # server certificate chain (PEM)
    key: str                    # its key (PEM)
    cafile: Optional[str] = None  # what a client should trust


def generate_tls_files(directory):
    """A CA and a server certificate for 127.0.0.1 and localhost, made
    with the openssl command line tool."""
    def run(*args):
        subprocess.run(["openssl"] + list(args), cwd=directory, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    for name, cn in (("ca.cnf", "fakeimap test CA"),
                     ("leaf.cnf", "localhost")):
        with open(os.path.join(directory, name), "w") as f:
            f.write(_OPENSSL_CONF % cn)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
          "-nodes"]
    run("req", "-config", "ca.cnf", "-x509", *ec, "-keyout", "ca.key",
        "-out", "ca.pem", "-days", "3650", "-extensions", "v3_ca")
    run("req", "-config", "leaf.cnf", "-new", *ec, "-keyout", "server.key",
        "-out", "server.csr")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem",
        "-CAkey", "ca.key", "-set_serial", "2", "-days", "3650",
        "-out", "server.pem", "-extfile", "leaf.cnf",
        "-extensions", "v3_leaf")
    return TlsFiles(cert=os.path.join(directory, "server.pem"),
                    key=os.path.join(directory, "server.key"),
                    cafile=os.path.join(directory, "ca.pem"))


def default_tls_files():
    """Generated once per process and removed at exit."""
    global _tls_default
    with _tls_lock:
        if _tls_default is None:
            d = tempfile.mkdtemp(prefix="fakeimap-tls-")
            atexit.register(shutil.rmtree, d, True)
            _tls_default = generate_tls_files(d)
        return _tls_default


# --------------------------------------------------------------------------
# The server


class FakeImapServer:
    """See the module docstring.

    mailboxes:    {name: Mailbox or list of Message/dict/tuple}
    scenario:     a Scenario, a dict of its fields, or None
    tls:          None (no TLS), True (generate a CA and certificate),
                  a TlsFiles, or a (cert, key[, cafile]) tuple
    starttls:     offer STARTTLS when tls is set
    implicit_tls: TLS from the first byte (imaps) instead of STARTTLS
    capabilities: the base capability list (STARTTLS is added as needed)
    users:        {user: password}
    enable:       what ENABLE accepts (answered in * ENABLED)
    delimiter:    hierarchy delimiter (None: NIL)
    objectid:     offer OBJECTID (RFC 8474): SELECT and EXAMINE tell the
                  mailbox's MAILBOXID, and STATUS knows the item; may be
                  set while clients are connected (server.objectid)

    Mailboxes may be created, deleted and renamed while clients are
    connected (create_mailbox, delete_mailbox, rename_mailbox).  The fake
    keeps no view per connection: a connection with a name selected sees
    whatever mailbox has the name at each command (NO once there is none).
    """

    def __init__(self, mailboxes, scenario=None, tls=None, starttls=True,
                 capabilities=DEFAULT_CAPABILITIES, users=None, enable=(),
                 delimiter="/", implicit_tls=False, logindisabled=False,
                 objectid=False):
        self.mailboxes = {}
        for name, box in mailboxes.items():
            self.mailboxes[name] = box if isinstance(box, Mailbox) \
                else Mailbox(list(box))
        if scenario is None:
            scenario = Scenario()
        elif isinstance(scenario, dict):
            scenario = Scenario(**scenario)
        self.scenario = scenario
        self.tls_files = None
        if tls is True:
            self.tls_files = default_tls_files()
        elif isinstance(tls, TlsFiles):
            self.tls_files = tls
        elif tls:
            self.tls_files = TlsFiles(*tls)
        self.starttls = starttls
        self.implicit_tls = implicit_tls
        self.capabilities = tuple(capabilities)
        self.objectid = objectid
        self.users = dict(DEFAULT_USERS if users is None else users)
        self.enable_supported = tuple(e.upper() for e in enable)
        self.delimiter = delimiter
        self.logindisabled = logindisabled

        self._ssl_ctx = None
        if self.tls_files:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(self.tls_files.cert, self.tls_files.key)
            self._ssl_ctx = ctx

        self.lock = threading.RLock()       # mailbox state
        self._log_lock = threading.Lock()
        self._commands = []
        self._conns = set()
        self._threads = []
        self._stop = threading.Event()
        self.connections = 0
        self.errors = []        # exceptions in connection threads

        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name="fakeimap-accept", daemon=True)
        self._accept_thread.start()

    # -- public helpers --------------------------------------------------

    @property
    def cafile(self):
        return self.tls_files.cafile if self.tls_files else None

    @property
    def commands(self):
        """Every command line received so far, in order, as text; literals
        show as {n} and LOGIN/AUTHENTICATE arguments as ***."""
        with self._log_lock:
            return list(self._commands)

    def command_names(self):
        """The command names (e.g. "UID FETCH") of self.commands."""
        names = []
        for line in self.commands:
            words = line.split(" ")
            if len(words) < 2:
                continue
            name = words[1].upper()
            if name == "UID" and len(words) > 2:
                name += " " + words[2].upper()
            names.append(name)
        return names

    @property
    def active_connections(self):
        with self._log_lock:
            return len(self._conns)

    def clear_commands(self):
        with self._log_lock:
            self._commands.clear()

    def create_mailbox(self, name, box=None):
        """Make a mailbox (a Mailbox, a list of messages, or None for an
        empty one) under a name that has none; returns it.  A new Mailbox
        has a new MAILBOXID, and its own UIDVALIDITY (default 1: give
        another to model a server that follows RFC 3501 §2.3.1.1)."""
        if box is None:
            box = Mailbox()
        elif not isinstance(box, Mailbox):
            box = Mailbox(list(box))
        with self.lock:
            if name in self.mailboxes:
                raise KeyError("mailbox exists: %s" % name)
            self.mailboxes[name] = box
        return box

    def delete_mailbox(self, name):
        """Remove a mailbox; returns it."""
        with self.lock:
            return self.mailboxes.pop(name)

    def rename_mailbox(self, old, new):
        """Give a mailbox another name (which has none), keeping its
        messages, UIDVALIDITY and MAILBOXID (RFC 8474 §4); returns it."""
        with self.lock:
            if new in self.mailboxes:
                raise KeyError("mailbox exists: %s" % new)
            box = self.mailboxes.pop(old)
            self.mailboxes[new] = box
        return box

    def stop(self):
        if self._stop.is_set():
            return
        self._stop.set()
        self._accept_thread.join(5)
        self._listener.close()
        with self._log_lock:
            conns = list(self._conns)
        for c in conns:
            c.abort()
        for t in list(self._threads):
            t.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- internals -------------------------------------------------------

    def _log(self, line):
        with self._log_lock:
            self._commands.append(line)

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Connection(self, sock)
            with self._log_lock:
                self.connections += 1
                self._conns.add(conn)
            t = threading.Thread(target=conn.run, daemon=True,
                                 name="fakeimap-conn-%d" % self.connections)
            self._threads.append(t)
            t.start()

    def _forget(self, conn):
        with self._log_lock:
            self._conns.discard(conn)


class _Connection:
    def __init__(self, server, sock):
        self.server = server
        self.sock = sock
        self.buf = bytearray()
        self.tls = False
        self.state = "nonauth"      # nonauth, auth, selected, logout
        self.selected = None        # mailbox name
        self.read_only = False
        self.drop_armed = None      # bytes of BODY[] to send before closing
        self.drop_before_tagged = False  # Scenario.drop_after_on fired

    # -- socket level ----------------------------------------------------

    def abort(self):
        # The base class method, so that an SSLSocket is shut down at the
        # TCP level too and a thread blocked in recv() wakes up.
        try:
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)
        except OSError:
            pass

    def send(self, data):
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise _Closed() from e

    def _fill(self):
        try:
            data = self.sock.recv(65536)
        except (OSError, ValueError) as e:
            raise _Closed() from e
        if not data:
            raise _Closed()
        self.buf += data

    def readline(self):
        """A line without its CRLF (a bare LF is accepted too)."""
        start = 0
        while True:
            i = self.buf.find(b"\n", start)
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 1]
                return line[:-1] if line.endswith(b"\r") else line
            if len(self.buf) > MAX_LINE:
                self.send(b"* BYE line too long\r\n")
                raise _Closed()
            start = len(self.buf)
            self._fill()

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def read_command(self):
        parts = []
        while True:
            line = self.readline()
            m = _LITERAL_AT_END.search(line)
            if not m:
                parts.append(line)
                return parts
            n = int(m.group(1))
            if n > MAX_LITERAL:
                self.send(b"* BYE literal too large\r\n")
                raise _Closed()
            parts.append(line[:m.start()])
            if not m.group(2):
                self.send(b"+ Ready for literal data\r\n")
            parts.append(self.read_exact(n))

    # -- responses -------------------------------------------------------

    @property
    def scenario(self):
        return self.server.scenario

    def extras(self):
        if not self.scenario.extra_untagged:
            return
        out = []
        box = self.server.mailboxes.get(self.selected) \
            if self.selected is not None else None
        if box is not None:
            with self.server.lock:
                out.append(b"* %d EXISTS\r\n" % len(box.messages))
                if box.messages:
                    out.append(b"* 1 FETCH (FLAGS " +
                               _flag_list(box.messages[0].flags) + b")\r\n")
        out.append(b"* OK still here\r\n")
        self.send(b"".join(out))

    def untagged(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.extras()
        self.send(b"* " + data + b"\r\n")

    def tagged(self, tag, text):
        if self.drop_armed is not None or self.drop_before_tagged:
            raise _Drop()
        self.extras()
        self.send(tag.encode() + b" " + text.encode() + b"\r\n")

    def capability_list(self):
        caps = list(self.server.capabilities)
        if self.server.objectid and \
                "OBJECTID" not in (c.upper() for c in caps):
            caps.append("OBJECTID")
        authed = self.state in ("auth", "selected")
        if authed:
            caps = [c for c in caps if not c.upper().startswith("AUTH=")
                    and c.upper() != "SASL-IR"]
        elif not self.tls:
            if self.server._ssl_ctx and self.server.starttls and \
                    not self.scenario.no_starttls:
                caps.append("STARTTLS")
            if self.server.logindisabled:
                caps.append("LOGINDISABLED")
        return " ".join(caps)

    # -- main loop -------------------------------------------------------

    def run(self):
        try:
            try:
                self._serve()
            except (_Closed, _Drop, ssl.SSLError):
                pass
            except _Hang:
                self._hang()
            except Exception as e:  # a bug in the fake: let tests see it
                self.server.errors.append(e)
                raise
            if self.state == "logout" and self.tls:
                # A clean close_notify after LOGOUT, so that TLS clients
                # can tell it from a truncation attack.
                try:
                    self.sock.settimeout(1)
                    self.sock.unwrap()
                except (OSError, ValueError):
                    pass
        finally:
            self.server._forget(self)
            try:
                self.sock.close()
            except OSError:
                pass

    def _hang(self):
        """Read and log commands, answer nothing, until the end."""
        try:
            while not self.server._stop.is_set():
                line = self.readline()
                m = _LITERAL_AT_END.search(line)
                if m:
                    # No continuation either; skip what the client sends
                    # without waiting (LITERAL+), never log it.
                    line = line[:m.start()] + b"{%s}" % m.group(1)
                    n = int(m.group(1))
                    if m.group(2) and n <= MAX_LITERAL:
                        self.read_exact(n)
                words = line.split(b" ")
                name = words[1].upper() if len(words) > 1 else b""
                self.server._log(self._logtext([line], _decode(name)))
        except _Closed:
            pass

    def _serve(self):
        srv = self.server
        delay = self.scenario.greeting_delay
        if delay:
            if srv._stop.wait(None if delay == FOREVER else delay):
                return
        if srv.implicit_tls:
            self._start_tls()
        if self.scenario.preauth:
            self.state = "auth"
            self.send(b"* PREAUTH [CAPABILITY " +
                      self.capability_list().encode() +
                      b"] Logged in as alice\r\n")
        else:
            self.send(b"* OK [CAPABILITY " + self.capability_list().encode() +
                      b"] Fake IMAP ready.\r\n")
        while self.state != "logout" and not srv._stop.is_set():
            parts = self.read_command()
            self._handle(parts)

    def _start_tls(self):
        try:
            self.sock = self.server._ssl_ctx.wrap_socket(self.sock,
                                                         server_side=True)
        except (OSError, ValueError) as e:     # the client's fault
            raise _Closed() from e
        self.tls = True

    def _logtext(self, parts, name):
        text = b"".join(p if i % 2 == 0 else b"{%d}" % len(p)
                        for i, p in enumerate(parts))
        words = text.split(b" ")
        # tag LOGIN ***, tag AUTHENTICATE MECH ***
        keep = {"LOGIN": 2, "AUTHENTICATE": 3}.get(name)
        if keep is not None and len(words) > keep:
            words = words[:keep] + [b"***"]
        return _decode(b" ".join(words))

    def _info(self, tag, name, args, argtext):
        mailbox = self.selected
        if name in ("SELECT", "EXAMINE", "STATUS") and args and \
                isinstance(args[0], str):
            mailbox = str(args[0])
        uids = frozenset()
        box = self.server.mailboxes.get(mailbox) if mailbox else None
        if box is not None and name in ("FETCH", "UID FETCH", "STORE",
                                         "UID STORE", "UID COPY", "COPY",
                                         "UID MOVE", "MOVE") \
                and args and isinstance(args[0], Atom):
            try:
                uids = frozenset(m.uid for _, m in
                                 self._select_msgs(box, args[0],
                                                   name.startswith("UID")))
            except ParseError:
                pass
        return CommandInfo(tag, name, args, argtext, mailbox, uids)

    def _handle(self, parts):
        try:
            tag, name, args = parse_command(parts)
        except ParseError as e:
            first = parts[0].split(b" ")[:2]
            self.server._log(_decode(b" ".join(first)) + " <unparsable>")
            tag = first[0].decode("ascii", "replace") if first[0] else "*"
            self.send(tag.encode() + b" BAD parse error: " +
                      str(e).encode() + b"\r\n")
            return
        logged = self._logtext(parts, name)
        self.server._log(logged)
        argtext = " ".join(logged.split(" ")[2 + name.count(" "):])
        info = self._info(tag, name, args, argtext)
        sc = self.scenario

        if sc.hang_on is not None and sc.hang_on.fire(info):
            raise _Hang()
        if sc.drop_on is not None and sc.drop_on.fire(info):
            if sc.drop_after_bytes is None:
                raise _Drop()
            self.drop_armed = sc.drop_after_bytes
        if sc.drop_after_on is not None and sc.drop_after_on.fire(info):
            self.drop_before_tagged = True
        if sc.bye_on is not None and sc.bye_on.fire(info):
            self.send(b"* BYE Server shutting down.\r\n")
            raise _Drop()
        for mf in sc.malformed:
            if mf.when.fire(info):
                self._send_malformed(tag, mf)
                return

        handler = _HANDLERS.get(name)
        if handler is None:
            self.tagged(tag, "BAD unknown command")
            return
        fn, states = handler
        if self.state not in states:
            self.tagged(tag, "BAD command not valid in this state")
            return
        try:
            fn(self, tag, args)
        except ParseError as e:
            self.tagged(tag, "BAD " + str(e))

    def _send_malformed(self, tag, mf):
        data = mf.data
        if isinstance(data, (bytes, bytearray)):
            self.send(bytes(data).replace(b"{tag}", tag.encode()))
        else:
            for chunk in data:
                if self.server._stop.is_set():
                    raise _Closed()
                self.send(chunk)
        if mf.then == "hang":
            raise _Hang()
        if mf.then == "close":
            raise _Drop()

    # -- commands: any state ---------------------------------------------

    def cmd_capability(self, tag, args):
        self.untagged("CAPABILITY " + self.capability_list())
        self.tagged(tag, "OK Capability completed.")

    def cmd_noop(self, tag, args):
        self.tagged(tag, "OK NOOP completed.")

    def cmd_logout(self, tag, args):
        self.untagged("BYE Logging out")
        self.tagged(tag, "OK Logout completed.")
        self.state = "logout"

    def cmd_id(self, tag, args):
        self.untagged('ID ("name" "fakeimap" "version" "1")')
        self.tagged(tag, "OK ID completed.")

    # -- commands: not authenticated -------------------------------------

    def cmd_starttls(self, tag, args):
        if not self.server._ssl_ctx or not self.server.starttls or \
                self.scenario.no_starttls or self.tls:
            self.tagged(tag, "BAD STARTTLS not available")
            return
        if self.drop_armed is not None:
            raise _Drop()
        self.extras()
        out = self.scenario.starttls_preamble + tag.encode() + \
            b" OK Begin TLS negotiation now.\r\n"
        inj = self.scenario.starttls_injection
        if inj:
            out += INJECTED_BYE if inj is True else inj
        # One write, so that the injected bytes arrive in the same segment
        # as the tagged OK, where a careless client reads them too.
        self.send(out)
        # Whatever the client pipelined after STARTTLS is not trusted.
        self.buf.clear()
        self._start_tls()

    def _login_ok(self, tag, user, password):
        if self.scenario.login_untagged:
            self.send(self.scenario.login_untagged)
        if self.scenario.login_fails or \
                self.server.users.get(user) != password:
            self.tagged(tag, "NO [AUTHENTICATIONFAILED] "
                             "Authentication failed.")
            return
        self.state = "auth"
        self.tagged(tag, "OK [CAPABILITY " + self.capability_list() +
                    "] Logged in")

    def cmd_login(self, tag, args):
        if len(args) != 2 or any(isinstance(a, list) for a in args):
            raise ParseError("LOGIN user password")
        if self.server.logindisabled and not self.tls:
            self.tagged(tag, "NO [PRIVACYREQUIRED] Plaintext "
                             "authentication disallowed")
            return
        self._login_ok(tag, str(args[0]), str(args[1]))

    def cmd_authenticate(self, tag, args):
        if not args or not isinstance(args[0], Atom):
            raise ParseError("AUTHENTICATE mechanism")
        if args[0].upper() != "PLAIN":
            self.tagged(tag, "NO Unsupported authentication mechanism.")
            return
        if len(args) > 1:
            resp = str(args[1])
        else:
            self.send(b"+ \r\n")
            resp = _decode(self.readline())
            if resp == "*":
                self.tagged(tag, "BAD Authentication aborted")
                return
        if resp == "=":
            resp = ""
        try:
            raw = base64.b64decode(resp, validate=True)
            _, user, password = raw.split(b"\0")
        except ValueError:
            self.tagged(tag, "BAD Invalid base64 or PLAIN response")
            return
        self._login_ok(tag, _decode(user), _decode(password))

    # -- commands: authenticated -----------------------------------------

    def cmd_enable(self, tag, args):
        got = [str(a).upper() for a in args
               if str(a).upper() in self.server.enable_supported]
        self.untagged(" ".join(["ENABLED"] + got))
        self.tagged(tag, "OK Enabled.")

    def cmd_namespace(self, tag, args):
        d = self.server.delimiter
        delim = b"NIL" if d is None else imap_quote(d)
        self.untagged(b'NAMESPACE (("" ' + delim + b')) NIL NIL')
        self.tagged(tag, "OK Namespace completed.")

    def _list_attrs(self, name):
        box = self.server.mailboxes[name]
        attrs = list(box.attributes)
        low = [a.lower() for a in attrs]
        if "\\haschildren" not in low and "\\hasnochildren" not in low:
            d = self.server.delimiter
            kids = d is not None and any(
                n.startswith(name + d) for n in self.server.mailboxes)
            attrs.append("\\HasChildren" if kids else "\\HasNoChildren")
        return attrs

    def _pattern(self, ref, pat):
        d = self.server.delimiter or ""
        rx = ""
        for ch in ref + pat:
            if ch == "*":
                rx += ".*"
            elif ch == "%":
                rx += "[^%s]*" % re.escape(d) if d else ".*"
            else:
                rx += re.escape(ch)
        return re.compile(rx + r"\Z", re.S)

    def cmd_list(self, tag, args):
        args = list(args)
        if args and isinstance(args[0], list):      # selection options
            args.pop(0)
        if len(args) < 2:
            raise ParseError("LIST reference pattern")
        ref, pats = str(args[0]), args[1]
        pats = [str(p) for p in pats] if isinstance(pats, list) \
            else [str(pats)]
        d = self.server.delimiter
        delim = b"NIL" if d is None else imap_quote(d)
        if pats == [""]:
            self.untagged(b"LIST (\\Noselect) " + delim + b' ""')
            self.tagged(tag, "OK List completed.")
            return
        rxs = [self._pattern(ref, p) for p in pats]
        for name in self.server.mailboxes:
            test = "INBOX" if name.upper() == "INBOX" else name
            if any(rx.match(test) or rx.match(name) for rx in rxs):
                self.untagged(b"LIST " + _flag_list(self._list_attrs(name)) +
                              b" " + delim + b" " + imap_quote(name))
        self.tagged(tag, "OK List completed.")

    cmd_lsub = cmd_list

    def _box(self, tag, arg):
        name = str(arg)
        if name.upper() == "INBOX":
            for n in self.server.mailboxes:
                if n.upper() == "INBOX":
                    name = n
        box = self.server.mailboxes.get(name)
        if box is None:
            self.tagged(tag, "NO [NONEXISTENT] Mailbox doesn't exist: " +
                        name.encode("ascii", "replace").decode())
        return name, box

    def _select(self, tag, args, examine):
        if not args:
            raise ParseError("SELECT mailbox")
        self.state = "auth"
        self.selected = None
        name, box = self._box(tag, args[0])
        if box is None:
            return
        if any(a.lower() == "\\noselect" for a in box.attributes):
            self.tagged(tag, "NO Mailbox is not selectable")
            return
        self.state = "selected"
        self.selected = name
        self.read_only = examine or box.read_only
        with self.server.lock:
            n = len(box.messages)
            hms = box.highestmodseq
        self.untagged(b"FLAGS " + _flag_list(box.flags))
        perm = () if self.read_only else box.permanentflags
        if self.read_only and box.examine_permanentflags is not None:
            perm = box.examine_permanentflags
        self.untagged(b"OK [PERMANENTFLAGS " + _flag_list(perm) +
                      b"] Flags permitted.")
        if self.scenario.select_exists is not None:
            n = self.scenario.select_exists
        self.untagged("%d EXISTS" % n)
        self.untagged("0 RECENT")
        self.untagged("OK [UIDVALIDITY %d] UIDs valid" % box.uidvalidity)
        self.untagged("OK [UIDNEXT %d] Predicted next UID" % box.next_uid)
        if "CONDSTORE" in (c.upper() for c in self.server.capabilities):
            self.untagged("OK [HIGHESTMODSEQ %d] Highest" % hms)
        if self.server.objectid:
            self.untagged("OK [MAILBOXID (%s)] Ok" % box.mailboxid)
        mode = "READ-ONLY" if self.read_only else "READ-WRITE"
        self.tagged(tag, "OK [%s] %s completed." %
                    (mode, "Examine" if examine else "Select"))

    def cmd_select(self, tag, args):
        self._select(tag, args, False)

    def cmd_examine(self, tag, args):
        self._select(tag, args, True)

    def cmd_status(self, tag, args):
        if len(args) != 2 or not isinstance(args[1], list):
            raise ParseError("STATUS mailbox (items)")
        name, box = self._box(tag, args[0])
        if box is None:
            return
        out = []
        with self.server.lock:
            for item in args[1]:
                it = str(item).upper()
                if it == "MESSAGES":
                    v = len(box.messages)
                elif it == "RECENT":
                    v = 0
                elif it == "UIDNEXT":
                    v = box.next_uid
                elif it == "UIDVALIDITY":
                    v = box.uidvalidity
                elif it == "UNSEEN":
                    v = sum(1 for m in box.messages
                            if "\\Seen" not in m.flags)
                elif it == "HIGHESTMODSEQ":
                    v = box.highestmodseq
                elif it == "SIZE":
                    v = sum(m.size for m in box.messages)
                elif it == "DELETED":
                    v = sum(1 for m in box.messages
                            if "\\Deleted" in m.flags)
                elif it == "MAILBOXID" and self.server.objectid:
                    out.append("MAILBOXID (%s)" % box.mailboxid)
                    continue
                else:
                    raise ParseError("unknown STATUS item " + it)
                out.append("%s %d" % (it, v))
        self.untagged(b"STATUS " + imap_quote(name) + b" (" +
                      " ".join(out).encode() + b")")
        self.tagged(tag, "OK Status completed.")

    def cmd_append(self, tag, args):
        """APPEND mailbox [(flags)] [date-time] literal: the message is
        stored byte for byte as sent (no line end is changed), with the
        mailbox's next UID, and the answer has APPENDUID (UIDPLUS)."""
        if len(args) < 2 or isinstance(args[0], list) or \
                not isinstance(args[-1], Str):
            raise ParseError("APPEND mailbox [flags] [date] literal")
        flags = []
        date = None
        for a in args[1:-1]:
            if isinstance(a, list):
                if any(isinstance(f, list) for f in a):
                    raise ParseError("bad flag list")
                flags = [str(f) for f in a]
            elif isinstance(a, Str) and date is None:
                date = str(a)
            else:
                raise ParseError("bad APPEND argument")
        body = str(args[-1]).encode("utf-8", "surrogateescape")
        name = str(args[0])
        if name.upper() == "INBOX":
            name = next((n for n in self.server.mailboxes
                         if n.upper() == "INBOX"), name)
        box = self.server.mailboxes.get(name)
        if box is None:
            self.tagged(tag, "NO [TRYCREATE] Mailbox doesn't exist")
            return
        with self.server.lock:
            uid = box.next_uid
            msg = Message(uid, body, flags)
            if date is not None:
                msg.internaldate = date
            box.messages.append(msg)
            if box.uidnext is not None:
                box.uidnext = uid + 1
            n = len(box.messages)
        if self.selected == name:
            self.untagged("%d EXISTS" % n)
        self.tagged(tag, "OK [APPENDUID %d %d] Append completed." %
                    (box.uidvalidity, uid))

    # -- commands: selected ----------------------------------------------

    def cmd_close(self, tag, args):
        self.state = "auth"
        self.selected = None
        self.tagged(tag, "OK Close completed.")

    cmd_unselect = cmd_close

    def cmd_check(self, tag, args):
        self.tagged(tag, "OK Check completed.")

    def cmd_idle(self, tag, args):
        self.send(b"+ idling\r\n")
        line = self.readline()
        if line.upper() != b"DONE":
            self.tagged(tag, "BAD expected DONE")
            return
        self.tagged(tag, "OK Idle completed.")

    def _select_msgs(self, box, setarg, by_uid):
        """(seq, message) pairs a sequence or UID set selects."""
        with self.server.lock:
            msgs = list(box.messages)
        if by_uid:
            largest = msgs[-1].uid if msgs else 0
            if largest == 0:
                parse_set(setarg, 1)
                return []
            pred = parse_set(setarg, largest)
            return [(i + 1, m) for i, m in enumerate(msgs) if pred(m.uid)]
        largest = len(msgs)
        pred = parse_set(setarg, max(largest, 1))
        return [(i + 1, m) for i, m in enumerate(msgs) if pred(i + 1)]

    def _selected_box(self, tag):
        """The mailbox under the selected name now, or None after a NO
        (deleted or renamed away meanwhile)."""
        box = self.server.mailboxes.get(self.selected)
        if box is None:
            self.tagged(tag, "NO [NONEXISTENT] Mailbox is gone")
        return box

    def _search(self, tag, args, by_uid):
        """ALL, a sequence set, UID set and HEADER name value (a
        case-insensitive substring of that header field): enough to list
        and to find a message by Message-ID."""
        box = self._selected_box(tag)
        if box is None:
            return
        with self.server.lock:
            hits = list(box.messages)
        i = 0
        while i < len(args):
            a = args[i]
            if isinstance(a, list) or not isinstance(a, Atom):
                raise ParseError("unsupported SEARCH criteria")
            if a.upper() == "ALL":
                i += 1
                continue
            if a.upper() == "HEADER":
                if i + 2 >= len(args) or isinstance(args[i + 1], list) \
                        or isinstance(args[i + 2], list):
                    raise ParseError("HEADER needs a name and a value")
                field_name = str(args[i + 1]).lower().encode()
                want = str(args[i + 2]).lower().encode()
                hits = [m for m in hits
                        if _header_has(m.body, field_name, want)]
                i += 3
                continue
            uid_set = a.upper() == "UID"
            if uid_set:
                i += 1
                if i >= len(args) or not isinstance(args[i], Atom):
                    raise ParseError("UID needs a set")
                a = args[i]
            if not re.fullmatch(r"[0-9*:,]+", a):
                raise ParseError("unsupported SEARCH criteria " + a)
            ids = {m.uid for _, m in self._select_msgs(box, a, uid_set)}
            hits = [m for m in hits if m.uid in ids]
            i += 1
        nums = [str(m.uid) if by_uid else str(box.seq_of(m.uid))
                for m in hits]
        self.untagged(" ".join(["SEARCH"] + nums))
        self.tagged(tag, "OK Search completed.")

    def cmd_search(self, tag, args):
        self._search(tag, args, False)

    def cmd_uid_search(self, tag, args):
        self._search(tag, args, True)

    def cmd_fetch(self, tag, args):
        self._fetch(tag, args, False)

    def cmd_uid_fetch(self, tag, args):
        self._fetch(tag, args, True)

    _BODY_ITEM = re.compile(
        r"(BODY|BODY\.PEEK|BINARY|BINARY\.PEEK)\[\](?:<(\d+)\.(\d+)>)?\Z")
    _MACROS = {
        "ALL": ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"],
        "FAST": ["FLAGS", "INTERNALDATE", "RFC822.SIZE"],
    }

    def _fetch_items(self, spec):
        raw = spec if isinstance(spec, list) else [spec]
        items = []
        for it in raw:
            if isinstance(it, list) or not isinstance(it, Atom):
                raise ParseError("bad FETCH item")
            up = it.upper()
            if up in self._MACROS:
                items.extend(self._MACROS[up])
                continue
            items.append(up)
        out = []
        for up in items:
            if up in ("UID", "FLAGS", "RFC822.SIZE", "INTERNALDATE",
                      "MODSEQ", "RFC822"):
                out.append((up,))
                continue
            m = self._BODY_ITEM.match(up)
            if not m:
                raise ParseError("unsupported FETCH item " + up)
            partial = None if m.group(2) is None \
                else (int(m.group(2)), int(m.group(3)))
            out.append(("BODY", m.group(1), partial))
        return out

    def _fetch(self, tag, args, by_uid):
        if len(args) < 2 or not isinstance(args[0], Atom):
            raise ParseError("FETCH set items")
        items = self._fetch_items(args[1])
        changedsince = None
        if len(args) > 2:
            mods = args[2]
            if isinstance(mods, list) and len(mods) == 2 and \
                    str(mods[0]).upper() == "CHANGEDSINCE":
                changedsince = int(mods[1])
            else:
                raise ParseError("unsupported FETCH modifier")
        box = self._selected_box(tag)
        if box is None:
            return
        sel = self._select_msgs(box, args[0], by_uid)
        if by_uid and ("UID",) not in items:
            items.insert(0, ("UID",))
        want_body = any(i[0] in ("BODY", "RFC822") for i in items)
        if want_body and self.scenario.fetch_body_before_uid:
            items = [i for i in items if i[0] in ("BODY", "RFC822")] + \
                    [i for i in items if i[0] not in ("BODY", "RFC822")]
        wrong = self.scenario.wrong_uid if want_body else {}
        gone = 0
        for seq, msg in sel:
            if changedsince is not None and msg.modseq <= changedsince:
                continue
            if msg.uid in wrong:
                other = box.by_uid(wrong[msg.uid])
                if other is not None:
                    seq, msg = box.seq_of(other.uid), other
            self._emit_fetch(seq - gone, msg, items)
            if by_uid and not want_body:
                gone += self._listing_news(box, msg, seq - gone)
        self.tagged(tag, "OK Fetch completed.")

    _STORE_ITEM = re.compile(r"([+-]?)FLAGS(\.SILENT)?\Z")

    def _store(self, tag, args, by_uid):
        """STORE set [(modifiers)] [+-]FLAGS[.SILENT] flags.

        The fake stores whatever flags it is given, also ones that are not
        in the mailbox's PERMANENTFLAGS (a real server would keep those
        for the session only), so that a test sees a STORE that should
        not have been sent.  Modifiers (UNCHANGEDSINCE) are ignored.
        Each message whose flags change gets a new MODSEQ.
        """
        args = list(args)
        if len(args) >= 2 and isinstance(args[1], list):
            args.pop(1)
        if len(args) != 3 or not isinstance(args[0], Atom) or \
                not isinstance(args[1], Atom):
            raise ParseError("STORE set item flags")
        m = self._STORE_ITEM.match(args[1].upper())
        if m is None:
            raise ParseError("unsupported STORE item " + args[1])
        op, silent = m.group(1), bool(m.group(2))
        flags = args[2] if isinstance(args[2], list) else [args[2]]
        if any(isinstance(f, list) or not f for f in flags):
            raise ParseError("bad flag list")
        if any(f.lower() == "\\recent" for f in flags):
            self.tagged(tag, "BAD \\Recent cannot be stored")
            return
        flags = [str(f) for f in flags]
        box = self._selected_box(tag)
        if box is None:
            return
        if self.read_only:
            self.tagged(tag, "NO Mailbox is read-only.")
            return
        sel = self._select_msgs(box, args[0], by_uid)
        for seq, msg in sel:
            with self.server.lock:
                have = {f.lower() for f in msg.flags}
                if op == "+":
                    new = msg.flags + [f for f in flags
                                       if f.lower() not in have]
                elif op == "-":
                    gone = {f.lower() for f in flags}
                    new = [f for f in msg.flags if f.lower() not in gone]
                else:
                    new = []
                    for f in flags:
                        if f.lower() not in {g.lower() for g in new}:
                            new.append(f)
                if new != msg.flags:
                    msg.flags[:] = new
                    msg.modseq = box.highestmodseq + 1
                now = _flag_list(msg.flags)
            if not silent:
                uid = b"UID %d " % msg.uid if by_uid else b""
                self.untagged(b"%d FETCH (%sFLAGS %s)" % (seq, uid, now))
        self.tagged(tag, "OK Store completed.")

    def cmd_store(self, tag, args):
        self._store(tag, args, False)

    def _has_cap(self, name):
        return name in (c.upper() for c in self.server.capabilities)

    def _expunge(self, box, pred):
        """Remove the messages pred picks, with "* N EXPUNGE" for each."""
        with self.server.lock:
            msgs = list(box.messages)
        for seq in range(len(msgs), 0, -1):
            if pred(msgs[seq - 1]):
                with self.server.lock:
                    box.messages.remove(msgs[seq - 1])
                self.send(b"* %d EXPUNGE\r\n" % seq)

    def cmd_expunge(self, tag, args):
        """Plain EXPUNGE: every \\Deleted message goes (which is why
        imapfs must never send it; a test sees it in the log)."""
        box = self._selected_box(tag)
        if box is None:
            return
        self._expunge(box, lambda m: any(f.lower() == "\\deleted"
                                         for f in m.flags))
        self.tagged(tag, "OK Expunge completed.")

    def cmd_uid_expunge(self, tag, args):
        """UID EXPUNGE set (UIDPLUS): the \\Deleted ones of the set."""
        if not self._has_cap("UIDPLUS"):
            self.tagged(tag, "BAD unknown command")
            return
        if len(args) != 1 or not isinstance(args[0], Atom):
            raise ParseError("UID EXPUNGE set")
        box = self._selected_box(tag)
        if box is None:
            return
        chosen = {m.uid for _, m in self._select_msgs(box, args[0], True)}
        self._expunge(box, lambda m: m.uid in chosen and any(
            f.lower() == "\\deleted" for f in m.flags))
        self.tagged(tag, "OK Expunge completed.")

    def _copy(self, tag, args, move):
        """UID COPY/MOVE set mailbox, with COPYUID under UIDPLUS."""
        if len(args) != 2 or not isinstance(args[0], Atom) or \
                isinstance(args[1], list):
            raise ParseError("UID COPY set mailbox")
        box = self._selected_box(tag)
        if box is None:
            return
        name = str(args[1])
        if name.upper() == "INBOX":
            name = next((n for n in self.server.mailboxes
                         if n.upper() == "INBOX"), name)
        dest = self.server.mailboxes.get(name)
        if dest is None:
            self.tagged(tag, "NO [TRYCREATE] Mailbox doesn't exist")
            return
        picked = [m for _, m in self._select_msgs(box, args[0], True)]
        src, dst = [], []
        with self.server.lock:
            for m in picked:
                uid = dest.next_uid
                dest.messages.append(Message(
                    uid, m.body, [f for f in m.flags
                                  if f.lower() != "\\recent"],
                    m.internaldate))
                if dest.uidnext is not None:
                    dest.uidnext = uid + 1
                src.append(str(m.uid))
                dst.append(str(uid))
        code = ""
        if picked and self._has_cap("UIDPLUS"):
            code = "[COPYUID %d %s %s] " % (dest.uidvalidity, ",".join(src),
                                            ",".join(dst))
        if move:
            if code:
                self.untagged("OK " + code + "Moved UIDs.")
            gone = {m.uid for m in picked}
            self._expunge(box, lambda m: m.uid in gone)
            self.tagged(tag, "OK Move completed.")
        else:
            self.tagged(tag, "OK " + code + "Copy completed.")

    def cmd_uid_copy(self, tag, args):
        self._copy(tag, args, False)

    def cmd_uid_move(self, tag, args):
        if not self._has_cap("MOVE"):
            self.tagged(tag, "BAD unknown command")
            return
        self._copy(tag, args, True)

    def cmd_uid_store(self, tag, args):
        self._store(tag, args, True)

    def _listing_news(self, box, msg, seq):
        """The scenario's news after msg's FETCH (at seq) in a listing;
        returns how many messages up to seq left the mailbox."""
        sc = self.scenario
        gone = 0
        if sc.expunge_in_listing == msg.uid:
            with self.server.lock:
                box.messages.remove(msg)
            self.send(b"* %d EXPUNGE\r\n" % seq)
            gone = 1
        if sc.arrive_in_listing:
            new = [_as_message(m) for m in sc.arrive_in_listing]
            sc.arrive_in_listing = []
            with self.server.lock:
                box.messages = sorted(box.messages + new,
                                      key=lambda m: m.uid)
                n = len(box.messages)
            self.send(b"* %d EXISTS\r\n" % n)
        return gone

    def _emit_fetch(self, seq, msg, items):
        self.extras()
        head = bytearray(b"* %d FETCH (" % seq)
        sep = b""
        set_seen = False
        flags_sent = False
        for item in items:
            kind = item[0]
            if kind == "UID":
                head += sep + b"UID %d" % msg.uid
            elif kind == "FLAGS":
                flags_sent = True
                with self.server.lock:
                    head += sep + b"FLAGS " + _flag_list(msg.flags)
            elif kind == "RFC822.SIZE":
                head += sep + b"RFC822.SIZE %d" % msg.size
            elif kind == "INTERNALDATE":
                head += sep + b'INTERNALDATE "' + \
                    msg.internaldate.encode() + b'"'
            elif kind == "MODSEQ":
                head += sep + b"MODSEQ (%d)" % msg.modseq
            else:
                body = msg.body
                if kind == "RFC822":
                    name = b"RFC822"
                    peek = False
                else:
                    _, what, partial = item
                    peek = what.endswith(".PEEK")
                    name = what.replace(".PEEK", "").encode() + b"[]"
                    if partial is not None:
                        start, length = partial
                        body = body[start:start + length]
                        name += b"<%d>" % start
                set_seen = set_seen or not peek
                head += sep + name + b" {%d}\r\n" % len(body)
                self._send_literal(bytes(head), body)
                head = bytearray()
            sep = b" "
        if set_seen and not self.read_only:
            with self.server.lock:
                if "\\Seen" not in msg.flags:
                    msg.flags.append("\\Seen")
                    if not flags_sent:
                        head += b" FLAGS " + _flag_list(msg.flags)
        self.send(bytes(head) + b")\r\n")

    def _send_literal(self, head, body):
        k = self.drop_armed
        if k is not None:
            self.send(head + body[:k])
            raise _Drop()
        self.send(head + body)


_ANY = ("nonauth", "auth", "selected")
_AUTH = ("auth", "selected")
_SEL = ("selected",)

_HANDLERS = {
    "CAPABILITY": (_Connection.cmd_capability, _ANY),
    "NOOP": (_Connection.cmd_noop, _ANY),
    "LOGOUT": (_Connection.cmd_logout, _ANY),
    "ID": (_Connection.cmd_id, _ANY),
    "STARTTLS": (_Connection.cmd_starttls, ("nonauth",)),
    "LOGIN": (_Connection.cmd_login, ("nonauth",)),
    "AUTHENTICATE": (_Connection.cmd_authenticate, ("nonauth",)),
    "ENABLE": (_Connection.cmd_enable, _AUTH),
    "NAMESPACE": (_Connection.cmd_namespace, _AUTH),
    "LIST": (_Connection.cmd_list, _AUTH),
    "LSUB": (_Connection.cmd_lsub, _AUTH),
    "SELECT": (_Connection.cmd_select, _AUTH),
    "EXAMINE": (_Connection.cmd_examine, _AUTH),
    "STATUS": (_Connection.cmd_status, _AUTH),
    "APPEND": (_Connection.cmd_append, _AUTH),
    "CLOSE": (_Connection.cmd_close, _SEL),
    "UNSELECT": (_Connection.cmd_unselect, _SEL),
    "CHECK": (_Connection.cmd_check, _SEL),
    "IDLE": (_Connection.cmd_idle, _AUTH),
    "SEARCH": (_Connection.cmd_search, _SEL),
    "UID SEARCH": (_Connection.cmd_uid_search, _SEL),
    "FETCH": (_Connection.cmd_fetch, _SEL),
    "UID FETCH": (_Connection.cmd_uid_fetch, _SEL),
    "STORE": (_Connection.cmd_store, _SEL),
    "UID STORE": (_Connection.cmd_uid_store, _SEL),
    "EXPUNGE": (_Connection.cmd_expunge, _SEL),
    "UID EXPUNGE": (_Connection.cmd_uid_expunge, _SEL),
    "UID COPY": (_Connection.cmd_uid_copy, _SEL),
    "UID MOVE": (_Connection.cmd_uid_move, _SEL),
}


__all__ = [
    "FakeImapServer", "Scenario", "When", "Malformed", "Stream", "Message",
    "Mailbox",
    "TlsFiles", "FOREVER", "BODY_FETCH", "INJECTED_BYE", "make_body",
    "generate_tls_files", "default_tls_files", "parse_command", "parse_set",
    "imap_quote",
]
