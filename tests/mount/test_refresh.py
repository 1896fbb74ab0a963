# SPDX-License-Identifier: GPL-2.0-or-later
"""What other clients change shows up within -o refresh seconds of a
listing, lookup or attribute read (here refresh=0: at once)."""

import os

import pytest

import corpus

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
