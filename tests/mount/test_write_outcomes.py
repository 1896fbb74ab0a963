# SPDX-License-Identifier: GPL-2.0-or-later
"""Changes whose connection drops before their result arrives.

imapfs talks to a real Dovecot through tests/lib/cutproxy.py, which cuts
the connection at one command: either after the server did it and before
its tagged completion reaches imapfs ("after_reply": the outcome is unknown
to imapfs), or before the server sees it at all ("before_send").

The contract: if the connection drops after an APPEND, MOVE, COPY, STORE
or EXPUNGE was sent and before its result arrived, imapfs finds out what
happened before it retries or reports: no lost message, no duplicate, and
nothing else touched.  The end state is checked over imaplib by Message-ID
and bytes, on all mailboxes.
"""

import collections
import errno
import os
import pathlib
import re
import secrets
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "lib"))

import corpus  # noqa: E402
from cutproxy import AFTER_REPLY, BEFORE_SEND, CutProxy  # noqa: E402
from mount import wait_for  # noqa: E402

pytestmark = pytest.mark.fuse

MODES = [AFTER_REPLY, BEFORE_SEND]
SETTLE = 10     # seconds for the mount's listing to show a change

APPEND = rb"^\S+ APPEND "
# A server with MOVE gets UID MOVE; should imapfs copy and expunge
# instead, the COPY is the command whose outcome matters.
MOVE = rb"^\S+ UID (MOVE|COPY) "
EXPUNGE = rb"^\S+ UID EXPUNGE "
STORE = rb"^\S+ UID STORE "

Msg = collections.namedtuple("Msg", "mid body uid")


def message(label):
    """(Message-ID, bytes) of a small message with CRLF line ends."""
    mid = f"<{label}.{secrets.token_hex(8)}@write-outcomes.test>"
    body = (f"From: Alice <alice@example.org>\r\n"
            f"To: Bob <bob@example.org>\r\n"
            f"Subject: {label}\r\n"
            f"Date: Mon, 01 Jan 2024 12:00:00 +0000\r\n"
            f"Message-ID: {mid}\r\n"
            f"\r\n"
            f"This is {label}.\r\n").encode()
    return mid, body


# -- the server, seen over imaplib --------------------------------------------

_LIST = re.compile(rb'^\((?P<attrs>[^)]*)\) (?:"(?:[^"\\]|\\.)*"|NIL) '
                   rb'(?P<name>.+)$')


def _mailboxes(server):
    with server.imap() as c:
        typ, data = c.list('""', '"*"')
        assert typ == "OK", data
    names = []
    for line in data:
        m = _LIST.match(line)
        assert m, line
        if b"\\noselect" in m.group("attrs").lower():
            continue
        name = m.group("name")
        if name.startswith(b'"'):
            name = name[1:-1].replace(b'\\"', b'"').replace(b"\\\\", b"\\")
        names.append(name.decode())
    return names


def locate(server, mid):
    """{mailbox: [uid, ...]} of every message with this Message-ID, over
    all mailboxes, expunged ones aside (\\Deleted ones included)."""
    found = {}
    with server.imap() as c:
        for name in _mailboxes(server):
            typ, data = c.select(corpus.quote(name), readonly=True)
            assert typ == "OK", (name, data)
            typ, data = c.uid("SEARCH", "HEADER", "Message-ID",
                              corpus.quote(mid))
            assert typ == "OK", data
            uids = [int(u) for u in data[0].split()]
            if uids:
                found[name] = uids
    return found


def fetch(server, mailbox, uid):
    """(flags without \\Recent, body bytes) of one message."""
    with server.imap() as c:
        typ, data = c.select(corpus.quote(mailbox), readonly=True)
        assert typ == "OK", data
        typ, data = c.uid("FETCH", str(uid), "(FLAGS BODY.PEEK[])")
        assert typ == "OK", data
    assert data and isinstance(data[0], tuple), (mailbox, uid, data)
    m = re.search(rb"FLAGS \(([^)]*)\)", data[0][0] + b" " +
                  b"".join(d for d in data[1:] if isinstance(d, bytes)))
    assert m, data
    flags = set(m.group(1).decode().split()) - {"\\Recent"}
    return flags, bytes(data[0][1])


def only_copy(server, msg, mailbox):
    """The UID of msg's one copy, which must be in mailbox, intact."""
    found = locate(server, msg.mid)
    assert list(found) == [mailbox] and len(found[mailbox]) == 1, \
        f"want exactly one copy in {mailbox}, found {found}"
    uid = found[mailbox][0]
    _, body = fetch(server, mailbox, uid)
    assert body == msg.body
    return uid


def assert_intact(server, msg, flags=frozenset(), mailbox="INBOX"):
    """msg is where it was, once, with its bytes and its flags."""
    found = locate(server, msg.mid)
    assert found == {mailbox: [msg.uid]}, \
        f"{msg.mid} was touched: {found}"
    got_flags, body = fetch(server, mailbox, msg.uid)
    assert body == msg.body
    assert got_flags == set(flags), (msg.mid, got_flags)


# -- the mount ----------------------------------------------------------------

class Rig:
    def __init__(self, server, proxy, mnt):
        self.server = server
        self.proxy = proxy
        self.m = mnt
        self.root = pathlib.Path(mnt.mountpoint)
        self.inbox = self.root / "INBOX"
        self.other = self.root / "Other"
        self.msgs = {}

    def log(self):
        return self.m.log()[-6000:]

    def listing(self, box):
        return set(os.listdir(box))

    def assert_cut(self):
        """The cut happened, and the daemon lived through it."""
        assert self.proxy.fired.is_set(), (
            "the proxy never cut: the command was not sent by the time "
            "the call returned; commands seen:\n" +
            "\n".join(repr(line) for _, line in self.proxy.commands[-20:]))
        assert self.m.proc.poll() is None, \
            f"imapfs exited ({self.m.proc.returncode}):\n{self.log()}"

    def settles(self, predicate, what):
        try:
            wait_for(predicate, SETTLE, what=what)
        except TimeoutError as e:
            pytest.fail(f"{e}\nimapfs log:\n{self.log()}", pytrace=False)


@pytest.fixture
def rig(dovecot_factory, mount):
    """A fresh plaintext Dovecot with INBOX holding a, b and c (UIDs 1-3,
    no flags) and an empty Other, mounted through a CutProxy."""
    server = dovecot_factory(fill=False, ssl=False)
    msgs = {}
    with server.imap() as c:
        corpus.create(c, "Other")
        for label in ("a", "b", "c"):
            mid, body = message(label)
            msgs[label] = Msg(mid, body, corpus.append_raw(c, "INBOX",
                                                           body))
    proxy = CutProxy("127.0.0.1", server.imap_port)
    try:
        m = mount(server, "plaintext",
                  source=f"imap://{server.user}@127.0.0.1:{proxy.port}",
                  options=["trace", "delete=expunge"])
        r = Rig(server, proxy, m)
        r.msgs = msgs
        want = {f"{msg.uid}.eml" for msg in msgs.values()}
        r.settles(lambda: r.listing(r.inbox) == want, "the INBOX listing")
        assert r.listing(r.other) == set()
        yield r
        # Unmount while the proxy still forwards, so that the daemon can
        # say LOGOUT; the mount fixture then checks how it exited.
        m.stop()
    finally:
        proxy.stop()


def write_new(path, data):
    """Create path, write data and close, checking every step."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except BaseException:
        os.close(fd)
        raise
    os.close(fd)        # the APPEND's outcome is reported here


def read(path):
    with open(path, "rb") as f:
        return f.read()


# -- APPEND -------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_append_cut(rig, mode):
    mid, body = message("new")
    new = Msg(mid, body, None)
    rig.proxy.arm(APPEND, mode)
    write_new(rig.inbox / "new-message.eml", body)
    rig.assert_cut()
    uid = only_copy(rig.server, new, "INBOX")
    for msg in rig.msgs.values():
        assert_intact(rig.server, msg)
    rig.settles(lambda: f"{uid}.eml" in rig.listing(rig.inbox),
                f"{uid}.eml in the INBOX listing")
    assert read(rig.inbox / f"{uid}.eml") == body
    # No late retry made a second copy meanwhile.
    assert only_copy(rig.server, new, "INBOX") == uid
    rig.assert_cut()


# -- MOVE ---------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_move_cut(rig, mode):
    a = rig.msgs["a"]
    name = f"{a.uid}.eml"
    rig.proxy.arm(MOVE, mode)
    os.rename(rig.inbox / name, rig.other / name)
    rig.assert_cut()
    uid = only_copy(rig.server, a, "Other")
    assert_intact(rig.server, rig.msgs["b"])
    assert_intact(rig.server, rig.msgs["c"])
    rig.settles(lambda: name not in rig.listing(rig.inbox),
                f"{name} gone from the INBOX listing")
    rig.settles(lambda: f"{uid}.eml" in rig.listing(rig.other),
                f"{uid}.eml in the Other listing")
    assert read(rig.other / f"{uid}.eml") == a.body
    assert only_copy(rig.server, a, "Other") == uid
    rig.assert_cut()


# -- EXPUNGE ------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_expunge_cut(rig, mode):
    a, b, c = rig.msgs["a"], rig.msgs["b"], rig.msgs["c"]
    # Another client marks c \Deleted and leaves without expunging: only
    # a UID EXPUNGE of a alone leaves c alone.
    with rig.server.imap() as other:
        typ, data = other.select("INBOX")
        assert typ == "OK", data
        typ, data = other.uid("STORE", str(c.uid), "+FLAGS.SILENT",
                              "(\\Deleted)")
        assert typ == "OK", data
    assert_intact(rig.server, c, {"\\Deleted"})
    rig.proxy.arm(EXPUNGE, mode)
    try:
        os.unlink(rig.inbox / f"{a.uid}.eml")
        removed = True
    except OSError as e:
        # Only a command the server never saw may be reported failed.
        if mode != BEFORE_SEND or e.errno != errno.EIO:
            raise
        removed = False
    rig.assert_cut()
    if removed:
        found = locate(rig.server, a.mid)
        assert found == {}, f"unlink returned 0, but a is still {found}"
        rig.settles(lambda: f"{a.uid}.eml" not in rig.listing(rig.inbox),
                    f"{a.uid}.eml gone from the INBOX listing")
    else:
        found = locate(rig.server, a.mid)
        assert found == {"INBOX": [a.uid]}, \
            f"unlink failed, but a is {found or 'gone'}"
        _, body = fetch(rig.server, "INBOX", a.uid)
        assert body == a.body
    assert_intact(rig.server, b)
    assert_intact(rig.server, c, {"\\Deleted"})
    rig.assert_cut()


# -- STORE --------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_store_cut(rig, mode):
    a = rig.msgs["a"]
    path = rig.inbox / f"{a.uid}.eml"
    rig.proxy.arm(STORE, mode)
    os.setxattr(path, "user.imap.flagged", b"")
    rig.assert_cut()
    assert_intact(rig.server, a, {"\\Flagged"})
    assert_intact(rig.server, rig.msgs["b"])
    assert_intact(rig.server, rig.msgs["c"])
    rig.settles(lambda: "user.imap.flagged" in os.listxattr(path),
                "user.imap.flagged on the mount")
    rig.assert_cut()


# -- CREATE, DELETE, RENAME ---------------------------------------------------

def _listed(server, name):
    return name in _mailboxes(server)


@pytest.mark.parametrize("mode", MODES)
def test_create_cut(rig, mode):
    rig.proxy.arm(rb"^\S+ CREATE ", mode)
    os.mkdir(rig.root / "Projects")
    rig.assert_cut()
    assert _listed(rig.server, "Projects")
    assert os.path.isdir(rig.root / "Projects")
    rig.assert_cut()


@pytest.mark.parametrize("mode", MODES)
def test_delete_cut(rig, mode):
    os.mkdir(rig.root / "Empty")
    assert _listed(rig.server, "Empty")
    rig.proxy.arm(rb"^\S+ DELETE ", mode)
    os.rmdir(rig.root / "Empty")
    rig.assert_cut()
    assert not _listed(rig.server, "Empty")
    assert _listed(rig.server, "Other")
    for msg in rig.msgs.values():
        assert_intact(rig.server, msg)


@pytest.mark.parametrize("mode", MODES)
def test_rename_cut(rig, mode):
    rig.proxy.arm(rb"^\S+ RENAME ", mode)
    os.rename(rig.other, rig.root / "Elsewhere")
    rig.assert_cut()
    names = _mailboxes(rig.server)
    assert "Elsewhere" in names and "Other" not in names
    rig.settles(lambda: os.path.isdir(rig.root / "Elsewhere") and
                not os.path.exists(rig.other), "the renamed directory")
    rig.assert_cut()
