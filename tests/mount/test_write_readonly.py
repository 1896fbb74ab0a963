# SPDX-License-Identifier: GPL-2.0-or-later
"""With -o ro every change fails with EROFS, and the server stays as it
was, as an independent imaplib client (tests/lib/imapcheck.py) sees it.

The tests run against a Dovecot per layout, the default one (separator
"/", no prefix) and Courier's (separator ".", prefix "INBOX.").
"""

import errno
import os
import shutil

import pytest

import imapcheck
from imapcheck import LAYOUTS, ImapCheck, message

pytestmark = pytest.mark.fuse


@pytest.fixture(scope="module", params=sorted(LAYOUTS))
def server(request):
    yield from imapcheck.dovecot(**LAYOUTS[request.param])


@pytest.fixture(scope="module")
def tree(server):
    """Two mailboxes, one with messages and one empty, on the server."""
    check = ImapCheck(server)
    full, empty = imapcheck.unique("Full"), imapcheck.unique("Empty")
    check.create(check.name(full), check.name(empty))
    uids = [check.append(check.name(full), message(f"ro-{i}"),
                         ["\\Seen"] if i else [])
            for i in range(2)]
    return full, empty, uids


@pytest.fixture
def ro(server, tree, mount):
    """(ImapCheck, a function from parts to mount paths, the tree,
    the snapshot before mounting) with -o ro."""
    check = ImapCheck(server)
    before = check.snapshot()
    m = mount(server, options=["ro"])
    yield check, lambda *p: check.path(m.path, *p), tree
    assert check.snapshot() == before, "a read-only mount changed the server"


def _erofs(fn, *args):
    what = f"{fn.__name__}{args!r}"
    try:
        fn(*args)
    except OSError as e:
        assert e.errno == errno.EROFS, f"{what}: want EROFS, got {e!r}"
    else:
        pytest.fail(f"{what} succeeded on a read-only mount")


def test_mkdir_is_erofs(ro):
    check, path, (full, _, _) = ro
    _erofs(os.mkdir, path("NewBox"))
    _erofs(os.mkdir, path(full, "Sub"))
    _erofs(os.makedirs, path("A", "B"))
    assert not os.path.exists(path("NewBox"))


def test_rmdir_is_erofs(ro):
    check, path, (full, empty, _) = ro
    _erofs(os.rmdir, path(empty))
    _erofs(os.rmdir, path(full))
    assert os.path.isdir(path(empty))


def test_rename_of_a_mailbox_is_erofs(ro):
    check, path, (full, empty, _) = ro
    _erofs(os.rename, path(empty), path("Renamed"))
    _erofs(os.rename, path(full), path(empty, full))


def test_rename_of_a_message_is_erofs(ro):
    check, path, (full, empty, uids) = ro
    f = os.path.join(path(full), f"{uids[0]}.eml")
    _erofs(os.rename, f, os.path.join(path(empty), f"{uids[0]}.eml"))
    _erofs(os.rename, f, os.path.join(path(full), "other.eml"))
    assert os.path.isfile(f)


def test_unlink_is_erofs(ro):
    check, path, (full, _, uids) = ro
    f = os.path.join(path(full), f"{uids[0]}.eml")
    _erofs(os.unlink, f)
    assert os.path.isfile(f)


@pytest.mark.parametrize("name", ["user.imap.seen", "user.imap.flagged",
                                  "user.imap.keyword.$Label1",
                                  "user.imap.flags"])
def test_setxattr_and_removexattr_are_erofs(ro, name):
    check, path, (full, _, uids) = ro
    unseen = os.path.join(path(full), f"{uids[0]}.eml")
    seen = os.path.join(path(full), f"{uids[1]}.eml")
    value = b"\\Seen \\Flagged" if name == "user.imap.flags" else b""
    _erofs(os.setxattr, unseen, name, value)
    _erofs(os.removexattr, seen, "user.imap.seen")
    _erofs(os.removexattr, seen, "user.imap.flags")
    assert os.getxattr(seen, "user.imap.flags") == b"\\Seen"
    assert os.getxattr(unseen, "user.imap.flags") == b""


def test_creating_a_file_is_erofs(ro, tmp_path):
    check, path, (full, empty, _) = ro
    src = tmp_path / "letter.eml"
    src.write_bytes(message("ro-copy"))
    for d in (path(full), path(empty)):
        _erofs(open, os.path.join(d, "new.eml"), "wb")
        _erofs(shutil.copyfile, src, os.path.join(d, "copy.eml"))
        assert not os.path.exists(os.path.join(d, "new.eml"))


def test_writing_a_message_is_erofs(ro):
    check, path, (full, _, uids) = ro
    f = os.path.join(path(full), f"{uids[0]}.eml")
    _erofs(os.open, f, os.O_WRONLY)
    _erofs(open, f, "ab")
    _erofs(os.truncate, f, 0)


def test_reading_with_seen_under_ro_sets_nothing(server, tree, mount):
    """-o seen asks reads to set \\Seen, -o ro that nothing change: ro
    wins (imapfs(1), -o seen)."""
    check = ImapCheck(server)
    full, _, uids = tree
    before = check.snapshot()
    m = mount(server, options=["ro", "seen"])
    path = check.path(m.path, full, f"{uids[0]}.eml")
    with open(path, "rb") as f:
        assert f.read() == check.body(check.name(full), uids[0])
    m.stop()
    # Once unmounted, nothing the daemon had queued can come later.
    assert check.snapshot() == before
