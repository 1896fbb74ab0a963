# SPDX-License-Identifier: GPL-2.0-or-later
"""The names programs give new and moved messages (imapfs(1), "Copying
messages in"): cp of a message file into another mailbox keeps its name
usable when the target has no message of that UID, and a real message
always wins over a name given."""

import errno
import os
import subprocess

import pytest

import imapcheck
from imapcheck import ImapCheck, message

pytestmark = pytest.mark.fuse


@pytest.fixture
def env(dovecot_factory, mount):
    server = dovecot_factory(fill=False)
    check = ImapCheck(server)
    check.create("A", "B")
    uids = [check.append("A", message(f"names-{i}")) for i in range(3)]
    # B has one message, so its UID 1 is taken and 2 and 3 are free.
    b1 = check.append("B", message("names-b"))
    m = mount(server)
    yield check, m.path, uids, b1
    check.close()


def test_cp_of_a_message_file_into_another_mailbox(env):
    check, root, uids, _ = env
    src = os.path.join(root, "A", f"{uids[2]}.eml")
    r = subprocess.run(["cp", src, os.path.join(root, "B") + "/"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    new = [u for u in check.uids("B") if u != 1]
    assert len(new) == 1
    assert check.body("B", new[0]) == check.body("A", uids[2])
    # Listed under its UID; the name cp gave is still the message.
    listed = sorted(os.listdir(os.path.join(root, "B")))
    assert listed == sorted(["1.eml", f"{new[0]}.eml"])
    with open(os.path.join(root, "B", f"{uids[2]}.eml"), "rb") as f:
        assert f.read() == check.body("B", new[0])


def test_cp_onto_a_message_of_that_uid_fails_and_changes_nothing(env):
    check, root, uids, b1 = env
    before = check.snapshot()
    r = subprocess.run(["cp", os.path.join(root, "A", f"{uids[0]}.eml"),
                        os.path.join(root, "B", f"{b1}.eml")],
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert check.snapshot() == before


def test_rsync_of_a_message_file(env, tmp_path):
    """rsync writes a temporary name and renames it to the final one,
    which looks like a UID's name here."""
    check, root, _, _ = env
    src = tmp_path / "3.eml"
    src.write_bytes(message("rsynced", crlf=False))
    r = subprocess.run(["rsync", str(src), os.path.join(root, "B") + "/"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    new = [u for u in check.uids("B") if u != 1]
    assert len(new) == 1
    assert check.body("B", new[0]) == imapcheck.crlf(src.read_bytes())
    assert os.stat(os.path.join(root, "B", "3.eml")).st_size == \
        len(check.body("B", new[0]))


def test_a_message_wins_over_a_name_given(env):
    """A name given that looks like a UID stands in for it only while the
    mailbox has no such message."""
    check, root, uids, b1 = env
    subprocess.run(["cp", os.path.join(root, "A", f"{uids[0]}.eml"),
                    os.path.join(root, "B", "given.eml")], check=True)
    # The alias "given.eml" cannot be renamed onto B's own message.
    imapcheck.fails(errno.EPERM, os.rename,
                    os.path.join(root, "B", "given.eml"),
                    os.path.join(root, "B", f"{b1}.eml"))
    with open(os.path.join(root, "B", f"{b1}.eml"), "rb") as f:
        assert f.read() == check.body("B", b1)
