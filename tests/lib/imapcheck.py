# SPDX-License-Identifier: GPL-2.0-or-later
"""What the server holds, as an independent imaplib client sees it: the
oracle of the write tests.

    check = ImapCheck(dovecot)
    name = check.name("Work", "Reports")    # "Work/Reports", or
                                            # "INBOX.Work.Reports"
    path = check.path(mountpoint, "Work", "Reports")
    check.flags(name, uid)                  # frozenset, without \\Recent
    check.body(name, uid)                   # BODY.PEEK[] bytes

Mailboxes are only EXAMINEd and bodies fetched with BODY.PEEK, so checking
changes nothing on the server.  The few methods that do change it (create,
append, store) are for setting a test up, and say so.
"""

import contextlib
import errno
import hashlib
import imaplib
import itertools
import os
import re
import shutil
import tempfile

import pytest

import corpus
from dovecot import Dovecot
from mount import Mount

# Dovecot keyword arguments of the two layouts the write tests run on:
# separator "/" without a prefix, and Courier's "." with "INBOX.".
LAYOUTS = {
    "default": {},
    "courier": {"separator": ".", "prefix": "INBOX."},
}

def fails(code, fn, *args, **kw):
    """fn(*args, **kw) must fail with errno code."""
    what = f"{fn.__name__}{args!r}"
    try:
        fn(*args, **kw)
    except OSError as e:
        assert e.errno == code, \
            f"{what}: want {errno.errorcode[code]}, got {e!r}"
    else:
        pytest.fail(f"{what} succeeded; want {errno.errorcode[code]}")


_serial = itertools.count(1)


def unique(stem):
    """A mailbox name part no other test of this run uses: stem1, stem2..."""
    return f"{stem}{next(_serial)}"


def dovecot(**kw):
    """A Dovecot of its own without TLS, for a module-scoped fixture:

        @pytest.fixture(scope="module", params=sorted(LAYOUTS))
        def server(request):
            yield from imapcheck.dovecot(**LAYOUTS[request.param])

    Starting one takes a fifth of a second, but stopping one a second
    (Dovecot's master waits for its children), so tests share one per
    module and layout, each in mailboxes of its own (unique()).
    IMAPFS_TEST_KEEP=1 keeps its work directory, as in conftest.py.
    """
    import pytest
    if os.geteuid() != 0:
        pytest.skip("the test Dovecot runs as root")
    kw.setdefault("ssl", False)
    workdir = tempfile.mkdtemp(prefix="imapfs-test-dovecot-")
    d = Dovecot(workdir, **kw)
    try:
        d.start()
        d.corpus = None
        yield d
    finally:
        d.cleanup()
        if os.environ.get("IMAPFS_TEST_KEEP") != "1":
            shutil.rmtree(workdir, ignore_errors=True)


def dovecot_with_mailbox(name, messages, **kw):
    """dovecot(), with a mailbox `name` holding `messages` (bytes each),
    appended in order: UIDs 1, 2, ..."""
    import corpus
    for d in dovecot(**kw):
        with d.imap() as c:
            corpus.create(c, name)
            for message in messages:
                corpus.append_raw(c, name, message)
        yield d


def walk_message(i, kind, lines):
    """Message i of a generated mailbox: `lines` lines of body, saying
    what kind of message it is ("pushed", ...), so that no two are alike."""
    body = "".join(f"Line {j} of {kind} message {i}.\r\n"
                   for j in range(lines))
    return (f"From: Walker <walk@example.org>\r\n"
            f"To: Alice <alice@example.org>\r\n"
            f"Subject: {kind.capitalize()} message {i}\r\n"
            f"Date: Fri, 01 Jan 2021 00:00:00 +0000\r\n"
            f"Message-ID: <{kind}-{i}@walk.imapfs.test>\r\n"
            f"\r\n{body}").encode()


def mailbox_bodies(server, name, count):
    """{uid: bytes} of every message in mailbox `name`, read with
    imaplib, which must find `count` of them."""
    c = ImapCheck(server)
    try:
        found = c.bodies(name)
    finally:
        c.close()
    assert len(found) == count, f"{len(found)} messages, not {count}"
    return found


@contextlib.contextmanager
def fake_mount(srv, workdir, options=()):
    """Mount the fake server srv (tests/fake/fakeimap.py, user alice,
    password secret) under workdir; yields the Mount.  It is stopped
    before the server, pass or fail, and then it must have exited with 0,
    its log must show no bug, and the fake must have had no error."""
    workdir = str(workdir)
    passfile = os.path.join(workdir, "fake-password")
    with open(passfile, "w") as f:
        f.write("secret\n")
    os.chmod(passfile, 0o600)
    mnt = os.path.join(workdir, "fake-mnt")
    os.makedirs(mnt, exist_ok=True)
    env = {"XDG_CONFIG_HOME": os.path.join(workdir, "xdg-config"),
           "XDG_CACHE_HOME": os.path.join(workdir, "xdg-cache")}
    m = Mount("imap://alice@127.0.0.1:%d" % srv.port, mnt,
              ["plaintext", "passfile=" + passfile, "timeout=5",
               "cache_dir=" + os.path.join(workdir, "fake-cache"),
               *options], env=env,
              log_path=os.path.join(workdir, "fake-imapfs.log"))
    try:
        m.start()
        yield m
    finally:
        try:
            m.stop()
            print("---- imapfs log ----\n" + m.log())
        finally:
            srv.stop()
    assert srv.errors == [], "the fake server itself failed"
    assert m.returncode == 0 and not m.forced, \
        f"imapfs did not exit cleanly ({m.returncode}, {m.forced})"
    bugs = m.bug_reports()
    assert not bugs, "\n".join(bugs)


_LIST_LINE = re.compile(
    rb'\((?P<attrs>[^)]*)\) (?P<delim>NIL|"(?:\\.|[^"\\])*") (?P<name>.*)\Z',
    re.S)
_QUOTED = re.compile(rb'"((?:\\.|[^"\\])*)"\Z', re.S)
_UID = re.compile(rb"\bUID (\d+)")
_FLAGS = re.compile(rb"\bFLAGS \(([^)]*)\)")


def _unquote(b):
    m = _QUOTED.match(b)
    if m is None:
        return b
    return re.sub(rb"\\(.)", rb"\1", m.group(1))


class ImapCheckError(AssertionError):
    pass


def _ok(typ, data, what):
    if typ != "OK":
        raise ImapCheckError(f"{what}: {typ} {data!r}")
    return data


class ImapCheck:
    """The server state of one Dovecot (tests/lib/dovecot.py).

    All ImapChecks of a server share one imaplib connection (a login
    takes 50 ms), opened when first needed and again when it broke; no
    mailbox stays selected between questions.
    """

    def __init__(self, server):
        self.server = server
        self.prefix = server.prefix
        self.separator = server.separator

    @contextlib.contextmanager
    def _client(self):
        c = getattr(self.server, "_imapcheck_client", None)
        if c is not None:
            try:
                c.noop()
            except (imaplib.IMAP4.error, OSError):
                c = None
        if c is None:
            c = self.server.imap()
            self.server._imapcheck_client = c
        try:
            yield c
        finally:
            if c.state == "SELECTED":
                try:
                    c.unselect()
                except (imaplib.IMAP4.error, OSError):
                    self.server._imapcheck_client = None

    def close(self):
        """Log the shared connection out (optional)."""
        c = getattr(self.server, "_imapcheck_client", None)
        self.server._imapcheck_client = None
        if c is not None:
            try:
                c.logout()
            except (imaplib.IMAP4.error, OSError):
                pass

    # -- names ------------------------------------------------------------

    def name(self, *parts):
        """The server name of a mailbox given as Unicode parts below the
        personal namespace; ("INBOX",) is INBOX."""
        if parts == ("INBOX",):
            return "INBOX"
        return self.prefix + self.separator.join(
            corpus.utf7_encode(p) for p in parts)

    def path(self, mountpoint, *parts):
        """Where that mailbox is on the mount: the server name split on
        the delimiter, the personal prefix kept as a directory."""
        if parts == ("INBOX",):
            return os.path.join(mountpoint, "INBOX")
        top = [p for p in self.prefix.split(self.separator) if p] \
            if self.prefix else []
        return os.path.join(mountpoint, *top, *parts)

    # -- mailboxes --------------------------------------------------------

    def mailboxes(self):
        """{server name: frozenset of LIST attributes} of LIST "" "*"."""
        with self._client() as c:
            data = _ok(*c.list('""', '"*"'), "LIST")
        out = {}
        for item in data:
            if item is None:
                continue
            if isinstance(item, tuple):        # the name as a literal
                head, name = item
                head = head[:head.rindex(b"{")].rstrip()
                m = _LIST_LINE.match(head + b" x")
            else:
                m = _LIST_LINE.match(item)
                name = None
            if m is None:
                raise ImapCheckError(f"cannot parse LIST line {item!r}")
            if name is None:
                name = _unquote(m.group("name"))
            attrs = frozenset(a.decode() for a in m.group("attrs").split())
            out[name.decode("utf-8", "surrogateescape")] = attrs
        return out

    def names(self):
        return set(self.mailboxes())

    def selectable(self, name):
        """Whether name exists as a mailbox that can hold messages."""
        attrs = self.mailboxes().get(name)
        if attrs is None:
            return False
        return not {"\\noselect", "\\nonexistent"} & \
            {a.lower() for a in attrs}

    def status(self, name):
        """{"MESSAGES": n, "UIDNEXT": n, "UIDVALIDITY": n}"""
        with self._client() as c:
            data = _ok(*c.status(corpus.quote(name),
                                 "(MESSAGES UIDNEXT UIDVALIDITY)"),
                       f"STATUS {name}")
        line = data[-1]
        if isinstance(line, tuple):
            line = line[-1]
        items = re.search(rb"\(([^)]*)\)\s*\Z", line).group(1).split()
        return {k.decode().upper(): int(v)
                for k, v in zip(items[::2], items[1::2])}

    def count(self, name):
        return self.status(name)["MESSAGES"]

    # -- messages ---------------------------------------------------------

    def _fetch(self, name, uids, items):
        """[(uid, header bytes, literal or None)] of a UID FETCH."""
        with self._client() as c:
            typ, data = c.select(corpus.quote(name), readonly=True)
            _ok(typ, data, f"EXAMINE {name}")
            if int(data[0]) == 0:
                return []
            data = _ok(*c.uid("FETCH", uids, f"({items})"),
                       f"UID FETCH {uids} in {name}")
        out = []
        last = None
        for item in data:
            if isinstance(item, tuple):
                head, lit = item
                m = _UID.search(head)
                last = [int(m.group(1)), head, lit]
                out.append(last)
            elif item is None:
                continue
            elif last is not None and not re.match(rb"\d+ \(", item):
                last[1] += item       # what follows a literal
                last = None
            else:
                m = _UID.search(item)
                if m is None:
                    continue          # an unsolicited FETCH without UID
                last = None
                out.append([int(m.group(1)), item, None])
        return [tuple(x) for x in out]

    def uids(self, name):
        """The UIDs in the mailbox, ascending."""
        return sorted({u for u, _, _ in self._fetch(name, "1:*", "UID")})

    def all_flags(self, name):
        """{uid: frozenset of flags} (\\Recent left out)."""
        out = {}
        for uid, head, _ in self._fetch(name, "1:*", "UID FLAGS"):
            m = _FLAGS.search(head)
            if m is None:
                continue
            out[uid] = frozenset(
                f for f in m.group(1).decode().split()
                if f.lower() != "\\recent")
        return out

    def flags(self, name, uid):
        """The flags of one message (\\Recent left out); KeyError when it
        is not there."""
        return self.all_flags(name)[uid]

    def bodies(self, name, uids="1:*"):
        """{uid: BODY.PEEK[] bytes}."""
        return {uid: bytes(lit)
                for uid, _, lit in self._fetch(name, uids,
                                               "UID BODY.PEEK[]")
                if lit is not None}

    def body(self, name, uid):
        return self.bodies(name, str(uid))[uid]

    def messages(self, name):
        """{uid: (flags, sha256 of the bytes)}."""
        flags = self.all_flags(name)
        return {uid: (flags[uid], hashlib.sha256(b).hexdigest())
                for uid, b in self.bodies(name).items()}

    # LIST attributes that change without a write: Dovecot adds \Marked
    # or \UnMarked once a mailbox has been opened (by anyone, this
    # checker included).
    _VOLATILE = ("\\haschildren", "\\hasnochildren", "\\marked",
                 "\\unmarked")

    def snapshot(self):
        """Everything a write could change: {name: (LIST attributes but
        the volatile ones, {uid: (flags, sha256)} or None for a mailbox
        that cannot hold messages)}."""
        out = {}
        for name, attrs in self.mailboxes().items():
            low = {a.lower() for a in attrs}
            msgs = None
            if not {"\\noselect", "\\nonexistent"} & low:
                msgs = self.messages(name)
            out[name] = (frozenset(a for a in attrs
                                   if a.lower() not in self._VOLATILE),
                         msgs)
        return out

    # -- setting a test up (these change the server) ----------------------

    def create(self, *names):
        with self._client() as c:
            for name in names:
                corpus.create(c, name)

    def append(self, name, data, flags=()):
        """APPEND data byte for byte; returns the new UID."""
        with self._client() as c:
            return corpus.append_raw(c, name, data, flags)

    def store(self, name, uid, what, flags):
        """UID STORE uid what (flags), e.g. store(box, 3, "+FLAGS",
        ["\\Deleted"])."""
        with self._client() as c:
            _ok(*c.select(corpus.quote(name)), f"SELECT {name}")
            _ok(*c.uid("STORE", str(uid), what,
                       "(" + " ".join(flags) + ")"), "UID STORE")


def message(key, body=None, size=None, crlf=True):
    """A small, distinct RFC 5322 message (8-bit in header and body);
    padded to at least size bytes when given."""
    if body is None:
        body = f"Body of {key}: Grüße, 日本.\n"
    text = (f"From: Tester <tester@example.org>\n"
            f"To: Alice <alice@example.org>\n"
            f"Subject: {key} – Ärger\n"
            f"Date: Tue, 02 Jan 2024 10:00:00 +0000\n"
            f"Message-ID: <{key}@write.imapfs.test>\n"
            f"\n{body}")
    data = text.encode()
    if size is not None and len(data) < size:
        line = b"padding padding padding padding padding padding padding\n"
        data += line * ((size - len(data)) // len(line) + 1)
    if crlf:
        data = data.replace(b"\n", b"\r\n")
    return data


def crlf(data):
    """data with every bare LF turned into CRLF."""
    return re.sub(rb"(?<!\r)\n", b"\r\n", data)
