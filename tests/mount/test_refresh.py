# SPDX-License-Identifier: GPL-2.0-or-later
"""What other clients change shows up within -o refresh seconds of a
listing, lookup or attribute read (here refresh=0: at once)."""

import os

import pytest

import corpus
from mount import wait_for

pytestmark = pytest.mark.fuse


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _flags(path):
    return set(os.getxattr(path, "user.imap.flags").decode().split())


def test_flag_change_by_another_client_shows(mount, fresh_dovecot):
    m = mount(fresh_dovecot, options=["refresh=0"])
    msg = fresh_dovecot.corpus.messages["unseen"]
    f = os.path.join(m.path, "INBOX", msg.filename)
    assert "\\Flagged" not in _flags(f)
    with fresh_dovecot.imap() as c:
        c.select("INBOX")
        typ, _ = c.uid("STORE", str(msg.uid), "+FLAGS", "(\\Flagged)")
        assert typ == "OK"
    assert "\\Flagged" in _flags(f)
    assert os.getxattr(f, "user.imap.flagged") == b""


def test_new_mail_shows_and_reads(mount, fresh_dovecot, oracle_for):
    m = mount(fresh_dovecot, options=["refresh=0"])
    inbox = os.path.join(m.path, "INBOX")
    before = set(os.listdir(inbox))
    data = (b"From: late@example.org\r\nSubject: arrived later\r\n\r\n"
            b"new mail\r\n")
    with fresh_dovecot.imap() as c:
        corpus.append_raw(c, "INBOX", data)
    after = set(os.listdir(inbox))
    new = after - before
    assert len(new) == 1, (before, after)
    name = new.pop()
    uid = int(name[:-len(".eml")])
    assert _read(os.path.join(inbox, name)) == \
        oracle_for(fresh_dovecot).body("INBOX", uid)
    assert os.getxattr(inbox, "user.imap.messages") == \
        str(len(after)).encode()


def test_expunged_mail_leaves_the_listing(mount, fresh_dovecot):
    m = mount(fresh_dovecot, options=["refresh=0"])
    inbox = os.path.join(m.path, "INBOX")
    msg = fresh_dovecot.corpus.messages["unseen"]
    assert msg.filename in os.listdir(inbox)
    with fresh_dovecot.imap() as c:
        c.select("INBOX")
        c.uid("STORE", str(msg.uid), "+FLAGS.SILENT", "(\\Deleted)")
        typ, _ = c.uid("EXPUNGE", str(msg.uid))
        assert typ == "OK"
    assert msg.filename not in os.listdir(inbox)


def test_expunged_message_name_goes_away(mount, fresh_dovecot):
    """The kernel keeps message names for long; once a listing shows a
    message gone, the kernel is told and the name is ENOENT."""
    m = mount(fresh_dovecot, options=["refresh=0"])
    inbox = os.path.join(m.path, "INBOX")
    msg = fresh_dovecot.corpus.messages["flagged"] \
        if "flagged" in fresh_dovecot.corpus.messages \
        else fresh_dovecot.corpus.messages["unseen"]
    f = os.path.join(inbox, msg.filename)
    assert os.stat(f).st_size > 0
    with fresh_dovecot.imap() as c:
        c.select("INBOX")
        c.uid("STORE", str(msg.uid), "+FLAGS.SILENT", "(\\Deleted)")
        assert c.uid("EXPUNGE", str(msg.uid))[0] == "OK"
    assert msg.filename not in os.listdir(inbox)
    wait_for(lambda: not os.path.exists(f), 5, what="the name to go")


def test_uidvalidity_change_rebinds_names(mount, fresh_dovecot, oracle_for):
    """A mailbox deleted and created again reuses UIDs for other messages:
    after the next listing, a name gives the new message's bytes, never
    the old one's."""
    first = b"From: a@example.org\r\nSubject: first life\r\n\r\nold\r\n"
    second = (b"From: b@example.org\r\nSubject: second life\r\n\r\n"
              b"new and longer\r\n")
    with fresh_dovecot.imap() as c:
        corpus.create(c, "Reborn")
        uid = corpus.append_raw(c, "Reborn", first)
    m = mount(fresh_dovecot, options=["refresh=0"])
    box = os.path.join(m.path, "Reborn")
    f = os.path.join(box, f"{uid}.eml")
    assert _read(f) == first
    old_validity = os.getxattr(box, "user.imap.uidvalidity")
    with fresh_dovecot.imap() as c:
        assert c.delete("Reborn")[0] == "OK"
        corpus.create(c, "Reborn")
        assert corpus.append_raw(c, "Reborn", second) == uid
    assert os.listdir(box) == [f"{uid}.eml"]
    assert os.getxattr(box, "user.imap.uidvalidity") != old_validity
    wait_for(lambda: os.stat(f).st_size == len(second), 5,
             what="the name to mean the new message")
    assert _read(f) == second == oracle_for(fresh_dovecot).body("Reborn", uid)


def test_deleted_mailbox_shows_no_messages(mount, fresh_dovecot):
    """A mailbox another client deleted lists as gone, not as it was."""
    with fresh_dovecot.imap() as c:
        corpus.create(c, "Doomed")
        uid = corpus.append_raw(c, "Doomed", b"Subject: x\r\n\r\ny\r\n")
    m = mount(fresh_dovecot, options=["refresh=0"])
    box = os.path.join(m.path, "Doomed")
    assert os.listdir(box) == [f"{uid}.eml"]
    with fresh_dovecot.imap() as c:
        assert c.delete("Doomed")[0] == "OK"
    wait_for(lambda: "Doomed" not in os.listdir(m.path), 5,
             what="the mailbox to leave the tree")
    wait_for(lambda: not os.path.exists(os.path.join(box, f"{uid}.eml")),
             5, what="its message to go")
