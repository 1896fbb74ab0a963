# SPDX-License-Identifier: GPL-2.0-or-later
"""Flags are written through extended attributes: setting user.imap.seen
(and the other flags and keywords) adds the flag on the server, removing
it removes it, user.imap.flags replaces the whole set.  What the server
holds is checked with an independent imaplib client (tests/lib/
imapcheck.py), and the attributes must show the new state at once.

The tests run against a Dovecot per layout, the default one (separator
"/", no prefix) and Courier's (separator ".", prefix "INBOX."), each test
in mailboxes of its own; the PERMANENTFLAGS tests run against the scripted
fake server (tests/fake/fakeimap.py), since Dovecot permits every flag.
"""

import errno
import os
import pathlib
import subprocess
import sys
import types

import pytest

import corpus
import imapcheck
from imapcheck import LAYOUTS, ImapCheck, message

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "fake"))

from fakeimap import FakeImapServer, Mailbox, Message, make_body  # noqa: E402

pytestmark = pytest.mark.fuse

FLAG_ATTRS = [("seen", "\\Seen"), ("answered", "\\Answered"),
              ("flagged", "\\Flagged"), ("deleted", "\\Deleted"),
              ("draft", "\\Draft")]
ALL_SYSTEM = frozenset(f for _, f in FLAG_ATTRS)
KEYWORDS = ["$Label1", "Junk"]
ALL_FLAGS = ALL_SYSTEM | {"$Label1", "Junk"}


def _getx(path, name):
    """The attribute's value, or None when it is absent (ENODATA)."""
    try:
        return os.getxattr(path, name)
    except OSError as e:
        if e.errno == errno.ENODATA:
            return None
        raise


def _flags_attr(path):
    return frozenset(os.getxattr(path, "user.imap.flags").decode().split())


@pytest.fixture(scope="module", params=sorted(LAYOUTS))
def server(request):
    yield from imapcheck.dovecot(**LAYOUTS[request.param])


@pytest.fixture
def box(server, mount):
    """A new mailbox with a message without flags ("bare") and one with
    every system flag and two keywords ("full"), then a mount."""
    check = ImapCheck(server)
    part = imapcheck.unique("Flags")
    name = check.name(part)
    check.create(name)
    bare = check.append(name, message("bare"))
    full = check.append(name, message("full"), sorted(ALL_FLAGS))
    assert check.flags(name, full) == ALL_FLAGS
    m = mount(server)
    d = check.path(m.path, part)
    return types.SimpleNamespace(
        check=check, name=name, mount=m, dir=d, bare=bare, full=full,
        bare_file=os.path.join(d, f"{bare}.eml"),
        full_file=os.path.join(d, f"{full}.eml"))


def _unchanged(box, before):
    assert box.check.all_flags(box.name) == before


# -- single flags -------------------------------------------------------------

@pytest.mark.parametrize("attr,flag", FLAG_ATTRS,
                         ids=[a for a, _ in FLAG_ATTRS])
def test_set_flag_adds_it(box, attr, flag):
    f = box.bare_file
    assert _getx(f, f"user.imap.{attr}") is None
    os.setxattr(f, f"user.imap.{attr}", b"")
    assert os.getxattr(f, f"user.imap.{attr}") == b""
    assert _flags_attr(f) == {flag}
    assert f"user.imap.{attr}" in os.listxattr(f)
    assert box.check.flags(box.name, box.bare) == {flag}
    assert box.check.flags(box.name, box.full) == ALL_FLAGS


@pytest.mark.parametrize("attr,flag", FLAG_ATTRS,
                         ids=[a for a, _ in FLAG_ATTRS])
def test_remove_flag_removes_it(box, attr, flag):
    f = box.full_file
    assert os.getxattr(f, f"user.imap.{attr}") == b""
    os.removexattr(f, f"user.imap.{attr}")
    assert _getx(f, f"user.imap.{attr}") is None
    assert _flags_attr(f) == ALL_FLAGS - {flag}
    assert f"user.imap.{attr}" not in os.listxattr(f)
    assert box.check.flags(box.name, box.full) == ALL_FLAGS - {flag}
    assert box.check.flags(box.name, box.bare) == frozenset()


NON_EMPTY = [("user.imap.seen", b"1"), ("user.imap.flagged", b"yes"),
             ("user.imap.deleted", b" "), ("user.imap.draft", b"\\Draft"),
             ("user.imap.keyword.$Label1", b"x")]


def test_non_empty_value_is_einval(box):
    before = box.check.all_flags(box.name)
    for name, value in NON_EMPTY:
        imapcheck.fails(errno.EINVAL, os.setxattr, box.bare_file, name, value)
        assert _getx(box.bare_file, name) is None, name
        _unchanged(box, before)


@pytest.mark.parametrize("name", ["user.imap.seen", "user.imap.draft",
                                  "user.imap.keyword.$Label1"])
def test_removing_an_unset_flag_is_enodata(box, name):
    before = box.check.all_flags(box.name)
    imapcheck.fails(errno.ENODATA, os.removexattr, box.bare_file, name)
    _unchanged(box, before)


def test_setting_a_set_flag_succeeds(box):
    before = box.check.all_flags(box.name)
    os.setxattr(box.full_file, "user.imap.seen", b"")
    os.setxattr(box.full_file, "user.imap.keyword.Junk", b"")
    assert os.getxattr(box.full_file, "user.imap.seen") == b""
    _unchanged(box, before)


def test_xattr_create_on_a_set_flag_is_eexist(box):
    before = box.check.all_flags(box.name)
    imapcheck.fails(errno.EEXIST, os.setxattr, box.full_file, "user.imap.flagged",
           b"", os.XATTR_CREATE)
    imapcheck.fails(errno.EEXIST, os.setxattr, box.full_file,
           "user.imap.keyword.$Label1", b"", os.XATTR_CREATE)
    assert os.getxattr(box.full_file, "user.imap.flagged") == b""
    _unchanged(box, before)


def test_xattr_replace_on_an_unset_flag_is_enodata(box):
    before = box.check.all_flags(box.name)
    imapcheck.fails(errno.ENODATA, os.setxattr, box.bare_file, "user.imap.flagged",
           b"", os.XATTR_REPLACE)
    imapcheck.fails(errno.ENODATA, os.setxattr, box.bare_file,
           "user.imap.keyword.$Label1", b"", os.XATTR_REPLACE)
    assert _getx(box.bare_file, "user.imap.flagged") is None
    _unchanged(box, before)


def test_xattr_create_and_replace_where_they_apply(box):
    os.setxattr(box.bare_file, "user.imap.flagged", b"", os.XATTR_CREATE)
    assert box.check.flags(box.name, box.bare) == {"\\Flagged"}
    os.setxattr(box.bare_file, "user.imap.flagged", b"", os.XATTR_REPLACE)
    assert box.check.flags(box.name, box.bare) == {"\\Flagged"}
    assert os.getxattr(box.bare_file, "user.imap.flagged") == b""


# -- keywords -----------------------------------------------------------------

@pytest.mark.parametrize("kw", KEYWORDS)
def test_set_and_remove_keyword(box, kw):
    f = box.bare_file
    name = f"user.imap.keyword.{kw}"
    os.setxattr(f, name, b"")
    assert os.getxattr(f, name) == b""
    assert _flags_attr(f) == {kw}
    assert box.check.flags(box.name, box.bare) == {kw}
    os.removexattr(f, name)
    assert _getx(f, name) is None
    assert _flags_attr(f) == frozenset()
    assert box.check.flags(box.name, box.bare) == frozenset()
    assert box.check.flags(box.name, box.full) == ALL_FLAGS


BAD_KEYWORDS = ["with space", "par(en", "par)en", "br{ace", 'quo"te',
                "back\\slash", "per%cent", "st*ar", "bra]cket",
                "ctl\x01byte", "del\x7fbyte", "tab\tbed"]


def test_keyword_that_is_no_atom_is_einval(box):
    before = box.check.all_flags(box.name)
    for kw in BAD_KEYWORDS:
        imapcheck.fails(errno.EINVAL, os.setxattr, box.bare_file,
               f"user.imap.keyword.{kw}", b"")
        assert os.getxattr(box.bare_file, "user.imap.flags") == b"", kw
        _unchanged(box, before)


# -- the whole set ------------------------------------------------------------

@pytest.mark.parametrize("which,value,want", [
    ("full", b"\\Flagged $Work", {"\\Flagged", "$Work"}),
    ("bare", b"\\Seen \\Flagged $Work", {"\\Seen", "\\Flagged", "$Work"}),
    ("full", b"\\Seen", {"\\Seen"}),
    ("bare", b"Junk", {"Junk"}),
])
def test_flags_attr_replaces_the_set(box, which, value, want):
    f = getattr(box, f"{which}_file")
    uid = getattr(box, which)
    os.setxattr(f, "user.imap.flags", value)
    assert box.check.flags(box.name, uid) == want
    assert _flags_attr(f) == want
    for attr, flag in FLAG_ATTRS:
        assert (_getx(f, f"user.imap.{attr}") is not None) == (flag in want)
    for kw in ("$Work", "$Label1", "Junk"):
        assert (_getx(f, f"user.imap.keyword.{kw}") is not None) == \
            (kw in want)
    other = "bare" if which == "full" else "full"
    assert box.check.flags(box.name, getattr(box, other)) == \
        (ALL_FLAGS if other == "full" else frozenset())


@pytest.mark.parametrize("how", ["empty-value", "removexattr"])
def test_flags_attr_clears_all(box, how):
    f = box.full_file
    if how == "empty-value":
        os.setxattr(f, "user.imap.flags", b"")
    else:
        os.removexattr(f, "user.imap.flags")
    assert box.check.flags(box.name, box.full) == frozenset()
    assert os.getxattr(f, "user.imap.flags") == b""
    for attr, _ in FLAG_ATTRS:
        assert _getx(f, f"user.imap.{attr}") is None, attr
    assert not [n for n in os.listxattr(f)
                if n.startswith("user.imap.keyword.")]


MALFORMED = [b"\\Bogus", b"\\Recent", b"\\Seen \\Bogus", b"$Ok \\Recent",
             b"(\\Seen)", b"\\Seen (x)", b"a(b", b"\\Flagged x)"]


def test_malformed_flags_value_is_einval(box):
    before = box.check.all_flags(box.name)
    attr = os.getxattr(box.full_file, "user.imap.flags")
    for value in MALFORMED:
        imapcheck.fails(errno.EINVAL, os.setxattr, box.full_file, "user.imap.flags",
               value)
        _unchanged(box, before)
        assert os.getxattr(box.full_file, "user.imap.flags") == attr, value


# -- attributes that cannot be written ----------------------------------------

def test_metadata_attributes_are_eperm(box):
    # Trash has a special use, so that user.imap.specialuse is there.
    trash = box.check.path(box.mount.path, "Trash")
    assert os.getxattr(trash, "user.imap.specialuse") == b"\\Trash"
    before = box.check.snapshot()
    targets = [(box.full_file, n) for n in
               ("user.imap.uid", "user.imap.internaldate",
                "user.imap.modseq")]
    targets += [(d, n) for d in (box.dir, trash) for n in
                ("user.imap.name", "user.imap.uidvalidity",
                 "user.imap.uidnext", "user.imap.messages",
                 "user.imap.unseen")]
    targets.append((trash, "user.imap.specialuse"))
    for path, name in targets:
        value = os.getxattr(path, name)
        imapcheck.fails(errno.EPERM, os.setxattr, path, name, value)
        imapcheck.fails(errno.EPERM, os.setxattr, path, name, b"1")
        imapcheck.fails(errno.EPERM, os.removexattr, path, name)
        assert os.getxattr(path, name) == value, (path, name)
    assert box.check.snapshot() == before


@pytest.mark.parametrize("name", ["user.other", "user.imapx.seen",
                                  "trusted.imap.seen"])
def test_attributes_outside_user_imap_are_enotsup(box, name):
    before = box.check.snapshot()
    for path in (box.bare_file, box.dir):
        imapcheck.fails(errno.ENOTSUP, os.setxattr, path, name, b"")
        imapcheck.fails(errno.ENOTSUP, os.removexattr, path, name)
    assert box.check.snapshot() == before


# -- tools, and many files ----------------------------------------------------

def _getfattr(path):
    r = subprocess.run(["getfattr", "-d", "--absolute-names", "-m",
                        "^user\\.imap\\.", path],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return {line.split("=", 1)[0] for line in r.stdout.splitlines()
            if line and not line.startswith("#")}


def test_setfattr_and_getfattr(box):
    f = box.bare_file
    r = subprocess.run(["setfattr", "-n", "user.imap.flagged", f],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "user.imap.flagged" in _getfattr(f)
    assert box.check.flags(box.name, box.bare) == {"\\Flagged"}
    r = subprocess.run(["setfattr", "-n", "user.imap.flags", "-v",
                        "\\Seen $Work", f],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    names = _getfattr(f)
    assert {"user.imap.seen", "user.imap.keyword.$Work"} <= names
    assert "user.imap.flagged" not in names
    assert box.check.flags(box.name, box.bare) == {"\\Seen", "$Work"}
    r = subprocess.run(["setfattr", "-x", "user.imap.seen", f],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "user.imap.seen" not in _getfattr(f)
    assert box.check.flags(box.name, box.bare) == {"$Work"}


def test_flagging_many_files_in_a_loop(server, mount):
    part = imapcheck.unique("Bulk")
    name = corpus.bulk(server, 200, mailbox=(part,))
    check = ImapCheck(server)
    before = check.all_flags(name)
    assert len(before) == 200
    assert not any("\\Flagged" in f for f in before.values())
    m = mount(server)
    d = check.path(m.path, part)
    files = sorted(os.listdir(d), key=lambda n: int(n[:-4]))
    assert files == [f"{u}.eml" for u in sorted(before)]
    chosen = {u for i, u in enumerate(sorted(before)) if i % 3 != 1}
    for uid in sorted(chosen):
        os.setxattr(os.path.join(d, f"{uid}.eml"), "user.imap.flagged", b"")
    after = check.all_flags(name)
    assert {u for u, f in after.items() if "\\Flagged" in f} == chosen
    # Nothing else changed: the \Seen of every seventh is still there.
    assert {u: f - {"\\Flagged"} for u, f in after.items()} == before
    for uid in sorted(before):
        got = _getx(os.path.join(d, f"{uid}.eml"), "user.imap.flagged")
        assert (got is not None) == (uid in chosen), uid


# -- flags the mailbox does not permit (the fake server) ----------------------

# INBOX permits \Seen, \Flagged and the keyword $Work, nothing else; Star
# permits \Seen and any keyword (\*).  Message 2 in INBOX has \Answered,
# which the server set and the user may not remove.
FAKE_PERMANENT = {"INBOX": ("\\Seen", "\\Flagged", "$Work"),
                  "Star": ("\\Seen", "\\*")}


def _fake_boxes():
    return {
        "INBOX": Mailbox([Message(1, make_body(1), []),
                          Message(2, make_body(2), ["\\Answered"])],
                         uidvalidity=7,
                         permanentflags=FAKE_PERMANENT["INBOX"]),
        "Star": Mailbox([Message(1, make_body(11), [])], uidvalidity=8,
                        permanentflags=FAKE_PERMANENT["Star"]),
    }


@pytest.fixture
def fake(tmp_path):
    """(fake server, mountpoint) with _fake_boxes()."""
    srv = FakeImapServer(_fake_boxes())
    with imapcheck.fake_mount(srv, tmp_path) as m:
        yield srv, pathlib.Path(m.mountpoint)


def _fake_flags(srv):
    return {(name, msg.uid): frozenset(msg.flags)
            for name, box in srv.mailboxes.items() for msg in box.messages}


# (mailbox, uid, operation, attribute, value)
NOT_PERMITTED = [
    ("INBOX", 1, "set", "user.imap.deleted", b""),
    ("INBOX", 1, "set", "user.imap.draft", b""),
    ("INBOX", 1, "set", "user.imap.keyword.Other", b""),
    ("INBOX", 1, "set", "user.imap.flags", b"\\Seen \\Draft"),
    ("INBOX", 1, "set", "user.imap.flags", b"\\Seen Other"),
    ("INBOX", 2, "remove", "user.imap.answered", None),
    ("Star", 1, "set", "user.imap.flagged", b""),
]


@pytest.mark.parametrize("box,uid,op,name,value", NOT_PERMITTED,
                         ids=["%s-%d-%s-%s" % (b, u, o, n.split(".")[-1])
                              for b, u, o, n, _ in NOT_PERMITTED])
def test_flag_not_in_permanentflags_is_eperm(fake, box, uid, op, name,
                                             value):
    srv, mnt = fake
    f = mnt / box / f"{uid}.eml"
    attrs = os.getxattr(f, "user.imap.flags")
    before = _fake_flags(srv)
    if op == "set":
        imapcheck.fails(errno.EPERM, os.setxattr, f, name, value)
    else:
        imapcheck.fails(errno.EPERM, os.removexattr, f, name)
    assert _fake_flags(srv) == before
    assert os.getxattr(f, "user.imap.flags") == attrs


# (mailbox, attribute, value, flags the message then has)
PERMITTED = [
    ("INBOX", "user.imap.seen", b"", {"\\Seen"}),
    ("INBOX", "user.imap.keyword.$Work", b"", {"$Work"}),
    ("INBOX", "user.imap.flags", b"\\Flagged $Work", {"\\Flagged", "$Work"}),
    ("Star", "user.imap.keyword.Anything", b"", {"Anything"}),
]


@pytest.mark.parametrize("box,name,value,want", PERMITTED,
                         ids=["%s-%s" % (b, n.split(".")[-1])
                              for b, n, _, _ in PERMITTED])
def test_flag_in_permanentflags_is_stored(fake, box, name, value, want):
    srv, mnt = fake
    f = mnt / box / "1.eml"
    before = _fake_flags(srv)
    os.setxattr(f, name, value)
    after = _fake_flags(srv)
    assert after[(box, 1)] == want
    del after[(box, 1)], before[(box, 1)]
    assert after == before
    assert _flags_attr(f) == want
