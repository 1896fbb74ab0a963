# SPDX-License-Identifier: GPL-2.0-or-later
"""Message files: rm expunges (or moves to Trash with -o delete=trash), mv
to another mailbox moves, a new file written and closed is appended,
existing messages cannot be written, and -o seen marks what is read.
What the server holds is checked with an independent imaplib client
(tests/lib/imapcheck.py).

The tests run against a Dovecot per layout, the default one (separator
"/", no prefix) and Courier's (separator ".", prefix "INBOX."), each test
in mailboxes of its own; the quota test has a server of its own.  Dovecot
stores every line end as LF and serves CRLF, whatever was appended, so
the bytes imapfs sends in an APPEND are checked against the scripted fake
server (tests/fake/fakeimap.py), which keeps them as they came.
"""

import errno
import os
import pathlib
import re
import shutil
import stat
import subprocess
import sys
import types

import pytest

import corpus
import imapcheck
from imapcheck import LAYOUTS, ImapCheck, crlf, message
from mount import wait_for

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "fake"))

from fakeimap import FakeImapServer, Mailbox, Message, make_body  # noqa: E402

pytestmark = pytest.mark.fuse


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _run(*cmd):
    r = subprocess.run([str(c) for c in cmd], capture_output=True,
                       text=True, timeout=60)
    return r


@pytest.fixture(scope="module", params=sorted(LAYOUTS))
def server(request):
    yield from imapcheck.dovecot(**LAYOUTS[request.param])


def _env(server, mount):
    check = ImapCheck(server)
    ns = types.SimpleNamespace(check=check, server=server, mount=None,
                               name=check.name)

    def mounted(options=()):
        ns.mount = mount(server, options=list(options))
        return ns.mount
    ns.mounted = mounted
    ns.path = lambda *parts: check.path(ns.mount.path, *parts)
    ns.file = lambda parts, uid: os.path.join(ns.path(*parts), f"{uid}.eml")

    def box(stem, *messages):
        """A new mailbox with messages (key or (key, flags)); returns
        (its part, its server name, [uids])."""
        part = imapcheck.unique(stem)
        name = check.name(part)
        check.create(name)
        uids = []
        for m in messages:
            key, flags = (m, ()) if isinstance(m, str) else m
            uids.append(check.append(name, message(key), flags))
        return part, name, uids
    ns.box = box
    return ns


@pytest.fixture
def env(server, mount):
    return _env(server, mount)


# -- unlink -------------------------------------------------------------------

@pytest.mark.parametrize("option", [None, "delete=expunge"])
def test_unlink_expunges_that_message_only(env, option):
    part, name, (target, deleted, other) = env.box(
        "Rm", "rm-target", "rm-deleted", "rm-other")
    trash = env.check.bodies(env.name("Trash"))
    env.mounted([option] if option else [])
    f = env.file((part,), target)
    assert sorted(os.listdir(env.path(part))) == \
        sorted(f"{u}.eml" for u in (target, deleted, other))
    # A second client marks another message \Deleted, and stays: only
    # the one message may be expunged (UID EXPUNGE, not EXPUNGE).
    with env.server.imap() as c:
        assert c.select(corpus.quote(name))[0] == "OK"
        assert c.uid("STORE", str(deleted), "+FLAGS.SILENT",
                     "(\\Deleted)")[0] == "OK"
        os.unlink(f)
        assert env.check.uids(name) == [deleted, other]
    assert "\\Deleted" in env.check.flags(name, deleted)
    assert env.check.flags(name, other) == frozenset()
    assert not os.path.exists(f)
    assert sorted(os.listdir(env.path(part))) == \
        sorted(f"{u}.eml" for u in (deleted, other))
    imapcheck.fails(errno.ENOENT, os.unlink, f)
    assert env.check.uids(name) == [deleted, other]
    # Gone for good: not moved to Trash.
    assert env.check.bodies(env.name("Trash")) == trash


def test_unlink_with_delete_trash_moves_to_trash(env):
    part, name, (gone, stays) = env.box(
        "RmTrash", ("trash-me", ["\\Flagged"]), "trash-stays")
    trash = env.name("Trash")
    body = env.check.body(name, gone)
    in_trash = env.check.bodies(trash)
    env.mounted(["delete=trash"])
    f = env.file((part,), gone)
    os.unlink(f)
    assert env.check.uids(name) == [stays]
    now = env.check.bodies(trash)
    new = set(now) - set(in_trash)
    assert len(new) == 1, (sorted(in_trash), sorted(now))
    assert set(in_trash) <= set(now)
    assert now[new.pop()] == body
    assert not os.path.exists(f)
    assert os.listdir(env.path(part)) == [f"{stays}.eml"]
    imapcheck.fails(errno.ENOENT, os.unlink, f)


def test_unlink_in_trash_expunges_for_good(env):
    trash = env.name("Trash")
    uid = env.check.append(trash, message("already-in-trash"))
    before = env.check.snapshot()
    env.mounted(["delete=trash"])
    f = env.file(("Trash",), uid)
    assert os.path.isfile(f)
    os.unlink(f)
    after = env.check.snapshot()
    assert uid not in after[trash][1]
    del before[trash][1][uid]
    # Nothing went anywhere else, and the rest of Trash is as it was.
    assert after == before
    assert not os.path.exists(f)


# -- rename -------------------------------------------------------------------

@pytest.mark.parametrize("how", ["rename", "mv"])
def test_move_to_another_mailbox(env, how):
    # The moved message is UID 3 in A; B has UID 1, so the new one is 2:
    # the names differ.
    a, a_name, (a1, a2, moved) = env.box(
        "MvA", "mv-1", "mv-2", ("mv-moved", ["\\Flagged", "$Label1"]))
    b, b_name, (b1,) = env.box("MvB", "mv-b")
    body = env.check.body(a_name, moved)
    flags = env.check.flags(a_name, moved)
    assert flags == {"\\Flagged", "$Label1"}
    env.mounted()
    src = env.file((a,), moved)
    assert os.listdir(env.path(b)) == [f"{b1}.eml"]
    if how == "rename":
        os.rename(src, env.file((b,), moved))
    else:
        r = _run("mv", src, env.path(b) + "/")
        assert r.returncode == 0, r.stderr
    assert env.check.uids(a_name) == [a1, a2]
    uids = env.check.uids(b_name)
    assert len(uids) == 2 and uids[0] == b1, uids
    new = uids[1]
    assert new != moved
    assert env.check.body(b_name, new) == body
    assert env.check.flags(b_name, new) == flags
    assert sorted(os.listdir(env.path(b))) == \
        sorted([f"{b1}.eml", f"{new}.eml"])
    assert _read(env.file((b,), new)) == body
    assert set(os.getxattr(env.file((b,), new), "user.imap.flags")
               .decode().split()) == flags
    assert sorted(os.listdir(env.path(a))) == \
        sorted([f"{a1}.eml", f"{a2}.eml"])
    assert not os.path.exists(src)
    imapcheck.fails(errno.ENOENT, os.rename, src, env.file((b,), moved))
    assert env.check.uids(a_name) == [a1, a2]
    assert env.check.uids(b_name) == [b1, new]


def test_rename_within_a_mailbox_is_eperm(env):
    a, a_name, (u1, u2) = env.box("Same", "same-1", "same-2")
    env.mounted()
    before = env.check.snapshot()
    imapcheck.fails(errno.EPERM, os.rename, env.file((a,), u1),
           os.path.join(env.path(a), "other.eml"))
    imapcheck.fails(errno.EPERM, os.rename, env.file((a,), u1), env.file((a,), u2))
    assert env.check.snapshot() == before
    assert sorted(os.listdir(env.path(a))) == \
        sorted([f"{u1}.eml", f"{u2}.eml"])
    assert _read(env.file((a,), u1)) == env.check.body(a_name, u1)


# -- copy in ------------------------------------------------------------------

METHODS = ["copyfile", "cp", "redirect", "rsync"]


def _copy_in(method, src, d):
    """Copy the file src into directory d; returns the name given."""
    if method == "copyfile":
        given = os.path.join(d, "new.eml")
        shutil.copyfile(src, given)
        return given
    if method == "cp":
        r = _run("cp", src, d + "/")
    elif method == "redirect":
        given = os.path.join(d, "x.eml")
        r = _run("sh", "-c", 'cat "$1" > "$2"', "sh", src, given)
        assert r.returncode == 0, r.stderr
        return given
    elif method == "rsync":
        r = _run("rsync", src, d + "/")
    assert r.returncode == 0, r.stderr
    return os.path.join(d, os.path.basename(src))


def _appended(env, part, name, src, method):
    """Copy src in; returns (new uid, the name given); checks that
    exactly one message was appended and is listed."""
    d = env.path(part)
    listing = set(os.listdir(d))
    before = env.check.uids(name)
    given = _copy_in(method, str(src), d)
    after = env.check.uids(name)
    new = set(after) - set(before)
    assert len(new) == 1 and set(before) <= set(after), (before, after)
    uid = new.pop()
    assert set(os.listdir(d)) == listing | {f"{uid}.eml"}
    return uid, given


@pytest.mark.parametrize("ends", ["lf", "crlf"])
@pytest.mark.parametrize("method", METHODS)
def test_copy_in_appends_one_message(env, tmp_path, method, ends):
    part, name, _ = env.box("In", "in-existing")
    data = message(f"copy-{method}-{ends}", crlf=ends == "crlf")
    assert (b"\r\n" in data) == (ends == "crlf")
    src = tmp_path / "letter.eml"
    src.write_bytes(data)
    env.mounted()
    uid, given = _appended(env, part, name, src, method)
    stored = env.check.body(name, uid)
    assert stored == crlf(data)
    if ends == "crlf":
        assert stored == data
    assert _read(env.file((part,), uid)) == stored
    if method != "rsync":
        # The name the user gave stays for the message, unlisted.
        st = os.stat(given)
        assert stat.S_ISREG(st.st_mode)
        assert st.st_size == len(stored)
        assert os.path.basename(given) not in os.listdir(env.path(part))


def test_copy_in_mixed_line_ends(env, tmp_path):
    """Only bare LFs get a CR; a CRLF stays one CRLF."""
    part, name, _ = env.box("Mixed")
    data = (b"From: mixed@example.org\r\nSubject: mixed\n\r\n"
            b"crlf line\r\nlf line\nlast\r\n")
    src = tmp_path / "mixed.eml"
    src.write_bytes(data)
    env.mounted()
    uid, _ = _appended(env, part, name, src, "copyfile")
    assert env.check.body(name, uid) == \
        (b"From: mixed@example.org\r\nSubject: mixed\r\n\r\n"
         b"crlf line\r\nlf line\r\nlast\r\n")


def _write_in_pieces(path, pieces):
    """Create path and write each piece with a write(2) of its own."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        for p in pieces:
            assert os.write(fd, p) == len(p)
    finally:
        os.close(fd)


def test_line_ends_split_between_writes(env):
    """A CRLF whose CR ends one write and whose LF starts the next stays
    one CRLF; a bare LF at the start of a write gets its CR."""
    part, name, _ = env.box("Split")
    pieces = [b"From: split@example.org\r\nSubject: split\r",
              b"\n\r\nfirst line\r", b"\nsecond line", b"\nthird line\n",
              b"\nlast\r\n"]
    env.mounted()
    d = env.path(part)
    before = env.check.uids(name)
    _write_in_pieces(os.path.join(d, "split.eml"), pieces)
    new = sorted(set(env.check.uids(name)) - set(before))
    assert len(new) == 1, new
    assert env.check.body(name, new[0]) == \
        (b"From: split@example.org\r\nSubject: split\r\n\r\n"
         b"first line\r\nsecond line\r\nthird line\r\n\r\nlast\r\n")


def test_large_message_in_many_writes(env, tmp_path):
    """A megabyte of mail, written by cp in whatever pieces it likes and
    by hand in odd ones, is stored byte for byte."""
    part, name, _ = env.box("Large")
    big = message("large", size=1024 * 1024 + 333)
    src = tmp_path / "large.eml"
    src.write_bytes(big)
    env.mounted()
    uid, _ = _appended(env, part, name, src, "cp")
    assert env.check.body(name, uid) == big
    d = env.path(part)
    before = env.check.uids(name)
    _write_in_pieces(os.path.join(d, "pieces.eml"),
                     [big[i:i + 65537] for i in range(0, len(big), 65537)])
    new = sorted(set(env.check.uids(name)) - set(before))
    assert len(new) == 1, new
    assert env.check.body(name, new[0]) == big
    assert _read(env.file((part,), new[0])) == big


def test_closing_a_duplicated_descriptor_appends_once(env):
    """Every close(2) of a file (each dup of its descriptor, each process
    that inherited it) reaches the filesystem: one file, one message."""
    part, name, _ = env.box("Dup")
    data = message("dup")
    env.mounted()
    d = env.path(part)
    before = env.check.uids(name)
    fd = os.open(os.path.join(d, "dup.eml"),
                 os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    other = os.dup(fd)
    try:
        assert os.write(fd, data) == len(data)
    finally:
        os.close(other)
        os.close(fd)
    new = sorted(set(env.check.uids(name)) - set(before))
    assert len(new) == 1, new
    assert env.check.body(name, new[0]) == data
    assert sorted(n for n in os.listdir(d) if n.endswith(".eml")) == \
        sorted(f"{u}.eml" for u in before + new)


# (name, the pieces written, each with a write(2) of its own; what the
# server must get)
LINE_ENDS = [
    ("lf", [b"Subject: lf\n\nbody\nlast\n"],
     b"Subject: lf\r\n\r\nbody\r\nlast\r\n"),
    ("crlf", [b"Subject: crlf\r\n\r\nbody\r\nlast\r\n"],
     b"Subject: crlf\r\n\r\nbody\r\nlast\r\n"),
    ("mixed", [b"Subject: mixed\r\nX: y\n\r\na\r\nb\nc"],
     b"Subject: mixed\r\nX: y\r\n\r\na\r\nb\r\nc"),
    ("bare-cr", [b"Subject: cr\r\n\r\nx\ry\r\r\n"],
     b"Subject: cr\r\n\r\nx\ry\r\r\n"),
    ("split-crlf", [b"Subject: split\r", b"\n\r", b"\nbody\r", b"\n"],
     b"Subject: split\r\n\r\nbody\r\n"),
    ("split-lf", [b"Subject: split\n", b"\nbody", b"\n", b"\nend\n"],
     b"Subject: split\r\n\r\nbody\r\n\r\nend\r\n"),
]


@pytest.mark.parametrize("pieces,want", [c[1:] for c in LINE_ENDS],
                         ids=[c[0] for c in LINE_ENDS])
def test_appended_bytes_on_the_wire(tmp_path, pieces, want):
    """Every bare LF gets a CR, and nothing else changes."""
    srv = FakeImapServer({"INBOX": Mailbox([Message(1, make_body(1))],
                                           uidvalidity=5)})
    with imapcheck.fake_mount(srv, tmp_path) as m:
        inbox = os.path.join(m.mountpoint, "INBOX")
        assert os.listdir(inbox) == ["1.eml"]
        _write_in_pieces(os.path.join(inbox, "new.eml"), pieces)
        msgs = srv.mailboxes["INBOX"].messages
        assert [x.uid for x in msgs] == [1, 2]
        assert msgs[1].body == want
        assert sorted(os.listdir(inbox)) == ["1.eml", "2.eml"]
        assert _read(os.path.join(inbox, "2.eml")) == want
        assert srv.command_names().count("APPEND") == 1


def test_creating_an_empty_file_appends_nothing(env):
    part, name, uids = env.box("Touch", "touch-existing")
    env.mounted()
    d = env.path(part)
    before = env.check.snapshot()
    pathlib.Path(d, "empty.eml").touch()
    os.close(os.open(os.path.join(d, "empty2.eml"),
                     os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    assert env.check.snapshot() == before
    assert env.check.uids(name) == uids
    assert [n for n in os.listdir(d) if re.fullmatch(r"\d+\.eml", n)] == \
        [f"{uids[0]}.eml"]


@pytest.fixture(params=sorted(LAYOUTS))
def quota_env(request, dovecot_factory, mount):
    server = dovecot_factory(fill=False, ssl=False, quota="100K",
                             **LAYOUTS[request.param])
    return _env(server, mount)


def test_append_over_quota_fails_at_close(quota_env, tmp_path):
    env = quota_env
    part, name, uids = env.box("Small", "small")
    big = message("big", size=300 * 1024)
    assert len(big) > 300 * 1024
    src = tmp_path / "big.eml"
    src.write_bytes(big)
    env.mounted()
    d = env.path(part)
    listing = sorted(os.listdir(d))
    before = env.check.snapshot()
    r = _run("cp", src, d + "/")
    assert r.returncode != 0, "cp of 300 KB into 100 KB of quota succeeded"
    assert "quota" in r.stderr.lower(), r.stderr
    fd = os.open(os.path.join(d, "big2.eml"),
                 os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    view = memoryview(big)
    while view:
        view = view[os.write(fd, view):]
    imapcheck.fails(errno.EDQUOT, os.close, fd)
    assert env.check.snapshot() == before
    assert env.check.uids(name) == uids
    assert sorted(n for n in os.listdir(d)
                  if re.fullmatch(r"\d+\.eml", n)) == listing


# -- existing messages cannot be written --------------------------------------

def test_opening_a_message_for_writing_is_eperm(env):
    part, name, (uid,) = env.box("Write", ("write-me", ["\\Seen"]))
    body = env.check.body(name, uid)
    env.mounted()
    f = env.file((part,), uid)
    before = env.check.snapshot()
    imapcheck.fails(errno.EPERM, os.open, f, os.O_WRONLY)
    imapcheck.fails(errno.EPERM, os.open, f, os.O_RDWR)
    imapcheck.fails(errno.EPERM, os.open, f, os.O_WRONLY | os.O_TRUNC)
    imapcheck.fails(errno.EPERM, open, f, "ab")
    imapcheck.fails(errno.EPERM, open, f, "r+b")
    imapcheck.fails(errno.EPERM, os.truncate, f, 0)
    imapcheck.fails(errno.EPERM, os.truncate, f, 10)
    assert env.check.snapshot() == before
    assert _read(f) == body
    assert os.stat(f).st_size == len(body)


# -- -o seen ------------------------------------------------------------------

def test_seen_option_marks_what_is_read(env):
    part, name, (read, unread) = env.box("Seen", "seen-read",
                                         "seen-unread")
    env.mounted(["seen"])
    r = subprocess.run(["cat", env.file((part,), read)], capture_output=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == env.check.body(name, read)
    wait_for(lambda: "\\Seen" in env.check.flags(name, read), 10,
             what="\\Seen on the message read")
    # Stat and attributes of the other one are no read.
    os.stat(env.file((part,), unread))
    os.getxattr(env.file((part,), unread), "user.imap.flags")
    env.mount.stop()
    assert env.check.flags(name, unread) == frozenset()
    assert env.check.flags(name, read) == {"\\Seen"}


def test_without_seen_option_reading_changes_no_flags(env):
    part, name, (uid,) = env.box("NoSeen", "noseen")
    env.mounted()
    r = subprocess.run(["cat", env.file((part,), uid)], capture_output=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == env.check.body(name, uid)
    # Once the daemon has exited, nothing is pending any more.
    env.mount.stop()
    assert env.mount.returncode == 0
    assert env.check.flags(name, uid) == frozenset()
