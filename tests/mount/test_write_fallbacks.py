# SPDX-License-Identifier: GPL-2.0-or-later
"""Changes on servers without UIDPLUS or MOVE, and without a \\Trash mailbox
(imapfs(1), "Changing things"), against the scripted server, whose command
log shows what was sent: a plain EXPUNGE, which would take every \\Deleted
message, must never be.  Dovecot has every extension, so these need the
fake."""

import errno
import os
import pathlib
import sys

import pytest

import imapcheck

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "fake"))

from fakeimap import (DEFAULT_CAPABILITIES, FakeImapServer, Mailbox,  # noqa
                      Message, When, make_body)

WITHOUT_UIDPLUS = tuple(c for c in DEFAULT_CAPABILITIES if c != "UIDPLUS")
WITH_MOVE = DEFAULT_CAPABILITIES + ("MOVE",)


def _boxes():
    """INBOX: 1 plain, 2 flagged with a keyword, 3 marked \\Deleted by
    another client; Archive empty."""
    return {
        "INBOX": Mailbox([Message(1, make_body(1), []),
                          Message(2, make_body(2), ["\\Flagged", "$Work"]),
                          Message(3, make_body(3), ["\\Deleted"])],
                         uidvalidity=7),
        "Archive": Mailbox([], uidvalidity=9),
    }


def _state(srv):
    return {name: [(m.uid, m.body, sorted(m.flags)) for m in box.messages]
            for name, box in srv.mailboxes.items()}


@pytest.fixture
def fake(tmp_path, request):
    caps, options = request.param
    srv = FakeImapServer(_boxes(), capabilities=caps)
    with imapcheck.fake_mount(srv, tmp_path, options) as m:
        yield srv, pathlib.Path(m.mountpoint)


@pytest.mark.parametrize("fake", [(WITHOUT_UIDPLUS, ())], indirect=True)
def test_rm_without_uidplus_is_eperm_and_changes_nothing(fake):
    srv, mnt = fake
    os.listdir(mnt / "INBOX")
    before = _state(srv)
    imapcheck.fails(errno.EPERM, os.unlink, mnt / "INBOX" / "1.eml")
    assert _state(srv) == before
    names = srv.command_names()
    assert "EXPUNGE" not in names and "UID EXPUNGE" not in names
    assert "UID STORE" not in names, "nothing may be marked either"
    assert sorted(os.listdir(mnt / "INBOX")) == ["1.eml", "2.eml", "3.eml"]


@pytest.mark.parametrize("fake", [(DEFAULT_CAPABILITIES, ())],
                         indirect=True)
def test_mv_without_move_copies_then_expunges_that_uid(fake):
    srv, mnt = fake
    os.listdir(mnt / "INBOX")
    os.rename(mnt / "INBOX" / "2.eml", mnt / "Archive" / "2.eml")
    inbox = srv.mailboxes["INBOX"].messages
    archive = srv.mailboxes["Archive"].messages
    # The other client's \Deleted message is still there.
    assert [m.uid for m in inbox] == [1, 3]
    assert len(archive) == 1
    assert archive[0].body == make_body(2)
    assert sorted(archive[0].flags) == ["$Work", "\\Flagged"]
    names = srv.command_names()
    assert "EXPUNGE" not in names
    assert names.index("UID COPY") < names.index("UID EXPUNGE")
    assert os.listdir(mnt / "Archive") == [f"{archive[0].uid}.eml"]
    with open(mnt / "Archive" / f"{archive[0].uid}.eml", "rb") as f:
        assert f.read() == make_body(2)
    imapcheck.fails(errno.ENOENT, os.rename, mnt / "INBOX" / "2.eml",
           mnt / "Archive" / "2.eml")


@pytest.mark.parametrize("fake", [(WITHOUT_UIDPLUS, ())], indirect=True)
def test_mv_without_move_or_uidplus_is_eperm_and_copies_nothing(fake):
    srv, mnt = fake
    os.listdir(mnt / "INBOX")
    before = _state(srv)
    imapcheck.fails(errno.EPERM, os.rename, mnt / "INBOX" / "1.eml",
           mnt / "Archive" / "1.eml")
    assert _state(srv) == before
    assert "UID COPY" not in srv.command_names()


@pytest.mark.parametrize("fake", [(WITH_MOVE, ())], indirect=True)
def test_mv_with_move_uses_it(fake):
    srv, mnt = fake
    os.listdir(mnt / "INBOX")
    os.rename(mnt / "INBOX" / "1.eml", mnt / "Archive" / "1.eml")
    assert [m.uid for m in srv.mailboxes["INBOX"].messages] == [2, 3]
    assert [m.body for m in srv.mailboxes["Archive"].messages] == \
        [make_body(1)]
    names = srv.command_names()
    assert "UID MOVE" in names
    assert "UID COPY" not in names and "EXPUNGE" not in names


@pytest.mark.parametrize("fake", [(DEFAULT_CAPABILITIES, ("delete=trash",))],
                         indirect=True)
def test_delete_trash_without_a_trash_mailbox_is_eperm(fake):
    srv, mnt = fake
    os.listdir(mnt / "INBOX")
    before = _state(srv)
    imapcheck.fails(errno.EPERM, os.unlink, mnt / "INBOX" / "1.eml")
    assert _state(srv) == before


@pytest.mark.parametrize("fake", [(DEFAULT_CAPABILITIES, ())],
                         indirect=True)
def test_append_to_a_mailbox_gone_is_enoent(fake):
    """The mount still shows Archive; the server has deleted it:
    TRYCREATE, which close() reports as ENOENT, and nothing is stored."""
    srv, mnt = fake
    os.listdir(mnt / "Archive")
    srv.delete_mailbox("Archive")
    fd = os.open(mnt / "Archive" / "new.eml", os.O_WRONLY | os.O_CREAT)
    os.write(fd, b"Subject: x\r\n\r\nbody\r\n")
    imapcheck.fails(errno.ENOENT, os.close, fd)
    assert "Archive" not in srv.mailboxes


@pytest.mark.parametrize("fake", [(DEFAULT_CAPABILITIES, ())],
                         indirect=True)
@pytest.mark.parametrize("cut", ["after", "before"])
def test_mv_without_move_when_the_copy_answer_is_lost(fake, cut):
    """The connection breaks after the server made the copy (or before it
    got the COPY): imapfs looks in the destination by Message-ID before it
    copies again, so there is exactly one copy, and only then expunges."""
    srv, mnt = fake
    os.listdir(mnt / "INBOX")
    os.listdir(mnt / "Archive")
    when = When(command="UID COPY", times=1)
    if cut == "after":
        srv.scenario.drop_after_on = when
    else:
        srv.scenario.drop_on = when
    os.rename(mnt / "INBOX" / "1.eml", mnt / "Archive" / "1.eml")
    assert when.fired == 1
    archive = srv.mailboxes["Archive"].messages
    assert [m.body for m in archive] == [make_body(1)]
    assert [m.uid for m in srv.mailboxes["INBOX"].messages] == [2, 3]
    assert "EXPUNGE" not in srv.command_names()
    assert os.listdir(mnt / "Archive") == [f"{archive[0].uid}.eml"]
