# SPDX-License-Identifier: GPL-2.0-or-later
"""Flags as real servers and other clients set them, against the scripted
fake server: Gmail's and mail-sorting services' labels, \\* in FLAGS and
PERMANENTFLAGS, kilobyte keywords, control bytes, flags sent as quoted
strings or literals, NIL and lists inside FLAGS.  Whatever a flag looks
like, the mailbox lists, every message reads, and the attributes show what
imapfs(1) ("Extended attributes") says.
"""

import errno
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "lib"))
sys.path.insert(0, str(REPO / "tests" / "fake"))

from mount import Mount  # noqa: E402
from fakeimap import (  # noqa: E402
    SYSTEM_FLAGS, FakeImapServer, Mailbox, Message, make_body,
)

pytestmark = pytest.mark.skipif(
    not os.path.exists("/dev/fuse")
    or not os.access("/dev/fuse", os.R_OK | os.W_OK)
    or shutil.which("fusermount3") is None,
    reason="needs /dev/fuse and fusermount3")

KW = "user.imap.keyword."
XATTR_NAME_MAX = 255
XATTR_SIZE_MAX = 65536
XATTR_LIST_MAX = 65536

BIG = "k" * 4096                        # a 4 KiB keyword
FITS = "n" * (XATTR_NAME_MAX - len(KW))  # the longest keyword attribute
TOO_LONG = FITS + "n"
# values over 64 KiB together, and names over 64 KiB together
HUGE = ["%02d" % i + "h" * 3998 for i in range(20)]
MANY = ["%03d" % i + "m" * 197 for i in range(300)]

# uid: (flags as sent, user.imap.flags, keyword attributes)
CASES = {
    1: (["\\Seen", "$Forwarded"], "\\Seen $Forwarded", ["$Forwarded"]),
    2: (["[Gmail]/Important", "$label+foo", "Label/Sub"],
        "[Gmail]/Important $label+foo Label/Sub",
        ["[Gmail]/Important", "$label+foo", "Label/Sub"]),
    3: (["\\*", "\\Flagged"], "\\Flagged \\*", ["\\*"]),
    4: (["\\Seen", BIG, FITS, TOO_LONG, "$after"],
        "\\Seen %s %s %s $after" % (BIG, FITS, TOO_LONG),
        [FITS, "$after"]),
    5: (["bad\x01kw", "$ok", "del\x7f"], "$ok", ["$ok"]),
    6: (['"quoted kw"', '"\\\\Seen"', "{7}\r\nlit_kw2", '"$q"'],
        "\\Seen lit_kw2 $q", ["quoted kw", "lit_kw2", "$q"]),
    7: (["NIL", "(nested list)", "\\rEcEnT", "\\SEEN", '""',
         "{3}\r\na\x00b", "()"],
        "\\Seen NIL", ["NIL"]),
    8: (["[Gmail", "foo[bar", "(x)", "x]y", "["], "[Gmail foo[bar x]y [",
        ["[Gmail", "foo[bar", "x]y", "["]),
    9: (HUGE, None, []),
    10: (MANY, " ".join(MANY), None),
}
NORMAL = 1
BOX_FLAGS = SYSTEM_FLAGS + ("[Gmail]/Important", "bad\x01kw", "\\*",
                            "[Gmail")


def bodies():
    return {uid: make_body(uid, subject="odd flags %d" % uid)
            for uid in CASES}


def mailboxes():
    b = bodies()
    return {"INBOX": Mailbox(
        [Message(uid, b[uid], list(CASES[uid][0])) for uid in CASES],
        uidvalidity=9, flags=BOX_FLAGS,
        examine_permanentflags=BOX_FLAGS + ("foo[bar",))}


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


@pytest.fixture
def mounted(tmp_path):
    """(mountpoint, Mount) on the fake server with CASES in INBOX; stopped
    before the server, pass or fail, and then its log must show no
    sanitizer report or GLib warning."""
    passfile = tmp_path / "password"
    passfile.write_text("secret\n")
    passfile.chmod(0o600)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    srv = FakeImapServer(mailboxes())
    m = None
    try:
        m = Mount("imap://alice@127.0.0.1:%d" % srv.port, str(mnt),
                  ["plaintext", "passfile=" + str(passfile), "timeout=5",
                   "cache_dir=" + str(tmp_path / "cache")])
        m.start()
        yield mnt, m
    finally:
        try:
            if m is not None:
                m.stop()
                print("---- imapfs log ----\n" + m.log())
        finally:
            srv.stop()
    assert srv.errors == [], "the fake server itself failed"
    bugs = m.bug_reports()
    assert not bugs, "\n".join(bugs)


def keyword_attrs(path):
    return [n[len(KW):] for n in os.listxattr(path) if n.startswith(KW)]


def test_every_message_lists_and_reads(mounted):
    mnt, _ = mounted
    inbox = mnt / "INBOX"
    assert sorted(os.listdir(inbox)) == \
        sorted("%d.eml" % uid for uid in CASES)
    for uid, body in bodies().items():
        assert (inbox / ("%d.eml" % uid)).read_bytes() == body, uid


def test_flags_and_keyword_attributes(mounted):
    mnt, _ = mounted
    for uid, (_, flags, keywords) in CASES.items():
        path = mnt / "INBOX" / ("%d.eml" % uid)
        value = os.getxattr(path, "user.imap.flags")
        if flags is not None:
            assert value == flags.encode(), uid
        if keywords is not None:
            assert keyword_attrs(path) == keywords, uid
        for kw in keywords or []:
            assert os.getxattr(path, KW + kw) == b"", (uid, kw)
    # the normal message next to them is as it always was
    path = mnt / "INBOX" / ("%d.eml" % NORMAL)
    assert os.getxattr(path, "user.imap.seen") == b""
    assert os.getxattr(path, "user.imap.uid") == b"%d" % NORMAL


def test_keywords_without_attribute(mounted):
    """A keyword with a control byte, or too long for an attribute name,
    has no attribute: asking for it is ENODATA (or, beyond what Linux
    takes as a name, ERANGE from the kernel), never EIO."""
    mnt, _ = mounted
    inbox = mnt / "INBOX"
    for name in (KW + "bad\x01kw", KW + "del\x7f"):
        with pytest.raises(OSError) as e:
            os.getxattr(inbox / "5.eml", name)
        assert e.value.errno == errno.ENODATA, name
    for name in (KW + TOO_LONG, KW + BIG):
        with pytest.raises(OSError) as e:
            os.getxattr(inbox / "4.eml", name)
        assert e.value.errno == errno.ERANGE
    assert os.getxattr(inbox / "4.eml", "user.imap.seen") == b""


def test_limits_of_linux_attributes(mounted):
    """Kilobyte keywords: the flags value stays within XATTR_SIZE_MAX and
    the list of names within XATTR_LIST_MAX, leaving out what does not
    fit, so that getfattr -d works on every file."""
    mnt, _ = mounted
    inbox = mnt / "INBOX"
    huge = os.getxattr(inbox / "9.eml", "user.imap.flags")
    assert len(huge) <= XATTR_SIZE_MAX
    assert huge == " ".join(HUGE[:16]).encode()

    names = os.listxattr(inbox / "10.eml")
    assert sum(len(n.encode()) + 1 for n in names) <= XATTR_LIST_MAX
    kws = [n[len(KW):] for n in names if n.startswith(KW)]
    assert 250 < len(kws) < len(MANY)
    assert kws == MANY[:len(kws)]
    assert {"user.imap.flags", "user.imap.uid",
            "user.imap.internaldate"} <= set(names)

    for uid in CASES:
        path = inbox / ("%d.eml" % uid)
        r = subprocess.run(["getfattr", "-d", "--absolute-names", "-e",
                            "hex", str(path)], capture_output=True,
                           timeout=30)
        assert r.returncode == 0, (uid, r.stderr)
        assert b"user.imap.flags=0x" in r.stdout, uid
        assert b"user.imap.uid=0x" in r.stdout, uid


def test_one_warning_for_what_cannot_be_a_flag(mounted):
    mnt, m = mounted
    assert len(os.listdir(mnt / "INBOX")) == len(CASES)
    assert os.getxattr(mnt / "INBOX" / "7.eml", "user.imap.flags") == \
        b"\\Seen NIL"
    lines = [ln for ln in m.log().splitlines()
             if "cannot be a flag" in ln]
    assert len(lines) == 1, m.log()
