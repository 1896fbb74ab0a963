# SPDX-License-Identifier: GPL-2.0-or-later
"""Flags and metadata as extended attributes, on the shared server: what
they show, and what can never be written.  Writing flags is in
test_write_flags.py, against servers of its own."""

import ctypes
import ctypes.util
import datetime
import errno
import os
import re
import subprocess

import pytest

import corpus

pytestmark = pytest.mark.fuse

WITH_MAIL = sorted({m[1] for m in corpus.tricky_messages()})
WITH_MAIL_IDS = ["/".join(p) for p in WITH_MAIL]

BOOLEAN_FLAGS = [("seen", "\\Seen"), ("answered", "\\Answered"),
                 ("flagged", "\\Flagged"), ("deleted", "\\Deleted"),
                 ("draft", "\\Draft")]
KEYWORDS = ["$Forwarded", corpus.KEYWORD]


def getx(path, name):
    """The attribute's value, or None when it is absent (ENODATA)."""
    try:
        return os.getxattr(path, name)
    except OSError as e:
        if e.errno == errno.ENODATA:
            return None
        raise


def _enodata(path, name):
    with pytest.raises(OSError) as e:
        os.getxattr(path, name)
    assert e.value.errno == errno.ENODATA, (path, name, e.value)


def _server_flags(info):
    return set(info.flags) - {"\\Recent"}


def _messages(mounted, oracle):
    """(file, MessageInfo) for every message of the corpus."""
    out = []
    for path, box in oracle.selectable().items():
        for uid, info in oracle.messages(box.name).items():
            out.append((os.path.join(mounted.path, *path, f"{uid}.eml"),
                        info))
    return out


@pytest.fixture(scope="module")
def all_messages(_shared_mount, oracle):
    return _messages(_shared_mount, oracle)


def _expected_names(info):
    names = {"user.imap.flags", "user.imap.uid", "user.imap.internaldate",
             "user.imap.modseq"}
    flags = _server_flags(info)
    for attr, flag in BOOLEAN_FLAGS:
        if flag in flags:
            names.add(f"user.imap.{attr}")
    for f in flags:
        if not f.startswith("\\"):
            names.add(f"user.imap.keyword.{f}")
    return names


# -- message files ------------------------------------------------------------

@pytest.mark.parametrize("path", WITH_MAIL, ids=WITH_MAIL_IDS)
def test_flags_attr_matches_server(mounted, oracle, path):
    box = oracle.mailboxes()[path]
    for uid, info in oracle.messages(box.name).items():
        f = os.path.join(mounted.path, *path, f"{uid}.eml")
        value = os.getxattr(f, "user.imap.flags").decode()
        got = set(value.split(" ")) if value else set()
        assert got == _server_flags(info), (f, value)


def test_flags_attr_is_single_space_separated(mounted, all_messages):
    for f, info in all_messages:
        value = os.getxattr(f, "user.imap.flags").decode()
        if _server_flags(info):
            assert re.fullmatch(r"[^ ]+( [^ ]+)*", value), (f, value)
        else:
            assert value == "", (f, value)


def test_flags_attr_empty_without_flags(mounted, dovecot):
    msg = dovecot.corpus.messages["plain"]
    assert msg.flags == ()
    f = os.path.join(mounted.path, "INBOX", msg.filename)
    assert os.getxattr(f, "user.imap.flags") == b""


def test_recent_is_never_listed(mounted, all_messages):
    for f, _ in all_messages:
        value = os.getxattr(f, "user.imap.flags").decode()
        assert "\\Recent" not in value.split(" "), f
        assert getx(f, "user.imap.recent") is None
        assert getx(f, "user.imap.keyword.\\Recent") is None


def _present_iff_set(all_messages, flag, name):
    """name exists on exactly the messages that carry flag, and the corpus
    has both kinds."""
    present = absent = 0
    for f, info in all_messages:
        if flag in info.flags:
            assert getx(f, name) is not None, f
            present += 1
        else:
            _enodata(f, name)
            absent += 1
    assert present and absent


@pytest.mark.parametrize("attr,flag", BOOLEAN_FLAGS,
                         ids=[a for a, _ in BOOLEAN_FLAGS])
def test_boolean_flag_attr_present_iff_set(mounted, all_messages, attr,
                                           flag):
    _present_iff_set(all_messages, flag, f"user.imap.{attr}")


@pytest.mark.parametrize("keyword", KEYWORDS)
def test_keyword_attr_present_iff_set(mounted, all_messages, keyword):
    _present_iff_set(all_messages, keyword, f"user.imap.keyword.{keyword}")


def test_unknown_keyword_is_enodata(mounted, dovecot):
    f = os.path.join(mounted.path, "INBOX",
                     dovecot.corpus.messages["all-flags"].filename)
    _enodata(f, "user.imap.keyword.NoSuchKeyword")
    _enodata(f, "user.imap.keyword.")


def test_uid_attr(mounted, all_messages):
    for f, info in all_messages:
        assert os.getxattr(f, "user.imap.uid") == str(info.uid).encode()


RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?"
                     r"(Z|[+-]\d\d:\d\d)")


def test_internaldate_attr_is_rfc3339_in_server_zone(mounted, all_messages):
    for f, info in all_messages:
        value = os.getxattr(f, "user.imap.internaldate").decode()
        assert RFC3339.fullmatch(value), (f, value)
        got = datetime.datetime.fromisoformat(value)
        assert got == info.internaldate, (f, value)
        assert got.utcoffset() == info.internaldate.utcoffset(), (f, value)


def test_internaldate_example(mounted, dovecot):
    # Appended as 17-Jul-1996 02:44:25 -0700; the server is in PST8PDT.
    f = os.path.join(mounted.path, "INBOX",
                     dovecot.corpus.messages["plain"].filename)
    assert os.getxattr(f, "user.imap.internaldate") == \
        b"1996-07-17T02:44:25-07:00"


def test_modseq_attr(mounted, all_messages):
    for f, info in all_messages:
        value = os.getxattr(f, "user.imap.modseq").decode()
        assert re.fullmatch(r"[1-9][0-9]*", value), (f, value)
        assert int(value) == info.modseq


@pytest.mark.parametrize("path", WITH_MAIL, ids=WITH_MAIL_IDS)
def test_listxattr_lists_exactly_the_present_ones(mounted, oracle, path):
    box = oracle.mailboxes()[path]
    for uid, info in oracle.messages(box.name).items():
        f = os.path.join(mounted.path, *path, f"{uid}.eml")
        assert set(os.listxattr(f)) == _expected_names(info), f
        assert len(os.listxattr(f)) == len(set(os.listxattr(f)))


def test_every_listed_attr_can_be_read(mounted, all_messages):
    for f, _ in all_messages:
        for name in os.listxattr(f):
            assert getx(f, name) is not None, (f, name)


def _getfattr_names(path):
    r = subprocess.run(["getfattr", "-d", "--absolute-names", path],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    names = set()
    for line in r.stdout.splitlines():
        if line and not line.startswith("#"):
            names.add(line.split("=", 1)[0])
    return names


def test_getfattr_dump_shows_them_all(mounted, dovecot, oracle):
    msg = dovecot.corpus.messages["all-flags"]
    f = os.path.join(mounted.path, "INBOX", msg.filename)
    info = oracle.messages("INBOX")[msg.uid]
    assert _getfattr_names(f) == _expected_names(info)


def test_getfattr_dump_on_mailbox(mounted):
    names = _getfattr_names(os.path.join(mounted.path, "Sent"))
    assert {"user.imap.name", "user.imap.specialuse", "user.imap.uidvalidity",
            "user.imap.uidnext", "user.imap.messages",
            "user.imap.unseen"} <= names


# -- mailbox directories ------------------------------------------------------

def test_mailbox_name_attr_is_raw_server_name(mounted, oracle):
    for path, box in oracle.mailboxes().items():
        d = os.path.join(mounted.path, *path)
        assert os.getxattr(d, "user.imap.name") == box.name.encode(), path


def test_mailbox_name_attr_examples(mounted):
    assert os.getxattr(os.path.join(mounted.path, "Entwürfe"),
                       "user.imap.name") == b"Entw&APw-rfe"
    assert os.getxattr(os.path.join(mounted.path, "日本語", "子供"),
                       "user.imap.name") == b"&ZeVnLIqe-/&W1BPmw-"


def test_specialuse_attr(mounted, oracle):
    uses = 0
    for path, box in oracle.mailboxes().items():
        d = os.path.join(mounted.path, *path)
        if box.specialuse:
            assert os.getxattr(d, "user.imap.specialuse") == \
                box.specialuse.encode(), path
            uses += 1
        else:
            _enodata(d, "user.imap.specialuse")
    assert uses == 4


def test_sent_is_special_and_inbox_is_not(mounted):
    assert os.getxattr(os.path.join(mounted.path, "Sent"),
                       "user.imap.specialuse") == b"\\Sent"
    _enodata(os.path.join(mounted.path, "INBOX"), "user.imap.specialuse")


@pytest.mark.parametrize("attr", ["uidvalidity", "uidnext", "messages",
                                  "unseen"])
def test_status_attrs_match_server(mounted, oracle, attr):
    for path, box in oracle.selectable().items():
        d = os.path.join(mounted.path, *path)
        value = os.getxattr(d, f"user.imap.{attr}").decode()
        assert re.fullmatch(r"0|[1-9][0-9]*", value), (path, value)
        assert int(value) == oracle.status(box.name)[attr.upper()], path


# -- errors -------------------------------------------------------------------

@pytest.mark.parametrize("name", ["user.imap.bogus", "user.imap.",
                                  "user.imap.flags.x", "user.other",
                                  "user.imap.seen.x"])
def test_unknown_attr_on_file_is_enodata(mounted, dovecot, name):
    f = os.path.join(mounted.path, "INBOX",
                     dovecot.corpus.messages["all-flags"].filename)
    _enodata(f, name)


@pytest.mark.parametrize("name", ["user.imap.bogus", "user.imap.flags",
                                  "user.imap.uid", "user.other"])
def test_unknown_attr_on_directory_is_enodata(mounted, name):
    _enodata(os.path.join(mounted.path, "INBOX"), name)


# -- the size-probe protocol --------------------------------------------------

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.getxattr.restype = ctypes.c_ssize_t
_libc.getxattr.argtypes = [ctypes.c_char_p, ctypes.c_char_p,
                           ctypes.c_void_p, ctypes.c_size_t]


def _raw_getxattr(path, name, size):
    buf = ctypes.create_string_buffer(max(size, 1))
    n = _libc.getxattr(os.fsencode(path), name.encode(),
                       buf if size else None, size)
    return n, ctypes.get_errno(), buf.raw[:max(n, 0)]


PROBES = [("all-flags", "user.imap.flags"), ("all-flags", "user.imap.uid"),
          ("all-flags", "user.imap.internaldate"),
          ("all-flags", "user.imap.modseq"),
          ("all-flags", "user.imap.keyword.$Forwarded"),
          (None, "user.imap.name"), (None, "user.imap.uidvalidity")]


@pytest.mark.parametrize("key,name", PROBES, ids=[n for _, n in PROBES])
def test_size_probe(mounted, dovecot, key, name):
    if key:
        path = os.path.join(mounted.path, "INBOX",
                            dovecot.corpus.messages[key].filename)
    else:
        path = os.path.join(mounted.path, "Entwürfe")
    value = os.getxattr(path, name)
    n, _, _ = _raw_getxattr(path, name, 0)
    assert n == len(value)
    if len(value) > 1:
        # (A size of 0 would be a probe.)
        n, err, _ = _raw_getxattr(path, name, len(value) - 1)
        assert (n, err) == (-1, errno.ERANGE)
    n, _, got = _raw_getxattr(path, name, len(value))
    assert (n, got) == (len(value), value)
    n, _, got = _raw_getxattr(path, name, len(value) + 100)
    assert (n, got) == (len(value), value)


def test_size_probe_of_empty_value(mounted, dovecot):
    path = os.path.join(mounted.path, "INBOX",
                        dovecot.corpus.messages["plain"].filename)
    n, _, _ = _raw_getxattr(path, "user.imap.flags", 0)
    assert n == 0


def test_size_probe_of_absent_attr(mounted, dovecot):
    path = os.path.join(mounted.path, "INBOX",
                        dovecot.corpus.messages["plain"].filename)
    n, err, _ = _raw_getxattr(path, "user.imap.seen", 0)
    assert (n, err) == (-1, errno.ENODATA)


def test_listxattr_size_probe(mounted, dovecot):
    _libc.listxattr.restype = ctypes.c_ssize_t
    _libc.listxattr.argtypes = [ctypes.c_char_p, ctypes.c_void_p,
                                ctypes.c_size_t]
    path = os.fsencode(os.path.join(
        mounted.path, "INBOX", dovecot.corpus.messages["all-flags"].filename))
    n = _libc.listxattr(path, None, 0)
    names = os.listxattr(path)
    assert n == sum(len(os.fsencode(x)) + 1 for x in names)
    buf = ctypes.create_string_buffer(n)
    assert _libc.listxattr(path, buf, n - 1) == -1
    assert ctypes.get_errno() == errno.ERANGE


# -- what cannot be written ---------------------------------------------------

def _fails_with(code, fn, *args):
    with pytest.raises(OSError) as e:
        fn(*args)
    assert e.value.errno == code, e.value


# Metadata can never be written (imapfs(1): EPERM), and imapfs keeps no
# attributes of its own outside user.imap. (ENOTSUP).  Flag attributes are
# writable: on the shared server, they are only tried on a read-only
# mount (EROFS) below.
@pytest.mark.parametrize("name,value,code", [
    ("user.imap.uid", b"1", errno.EPERM),
    ("user.imap.internaldate", b"2020-01-01T00:00:00+00:00", errno.EPERM),
    ("user.other", b"x", errno.ENOTSUP)])
def test_setxattr_on_file_is_refused(mounted, dovecot, name, value, code):
    f = os.path.join(mounted.path, "INBOX",
                     dovecot.corpus.messages["unseen"].filename)
    _fails_with(code, os.setxattr, f, name, value)


@pytest.fixture
def ro_mounted(mount, dovecot):
    return mount(dovecot, options=["ro"])


@pytest.mark.parametrize("name,value", [
    ("user.imap.seen", b""), ("user.imap.flags", b"\\Seen"),
    ("user.imap.keyword.$Junk", b"")])
def test_setxattr_on_read_only_mount_is_erofs(ro_mounted, dovecot, name,
                                              value):
    f = os.path.join(ro_mounted.path, "INBOX",
                     dovecot.corpus.messages["unseen"].filename)
    _fails_with(errno.EROFS, os.setxattr, f, name, value)


def test_removexattr_on_read_only_mount_is_erofs(ro_mounted, dovecot):
    f = os.path.join(ro_mounted.path, "INBOX",
                     dovecot.corpus.messages["all-flags"].filename)
    _fails_with(errno.EROFS, os.removexattr, f, "user.imap.seen")
    assert getx(f, "user.imap.seen") is not None


def test_setxattr_on_directory_is_eperm(mounted):
    _fails_with(errno.EPERM, os.setxattr,
                os.path.join(mounted.path, "INBOX"), "user.imap.name",
                b"Other")


def test_failed_setxattr_changes_no_flags(ro_mounted, dovecot, oracle):
    msg = dovecot.corpus.messages["unseen"]
    f = os.path.join(ro_mounted.path, "INBOX", msg.filename)
    assert os.path.isfile(f)
    before = oracle.messages("INBOX")[msg.uid].flags
    with pytest.raises(OSError):
        os.setxattr(f, "user.imap.seen", b"")
    with pytest.raises(OSError):
        os.setxattr(f, "user.imap.flags", b"\\Seen \\Flagged")
    assert oracle.messages("INBOX")[msg.uid].flags == before
    assert "\\Seen" not in before
