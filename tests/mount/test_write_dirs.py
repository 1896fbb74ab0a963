# SPDX-License-Identifier: GPL-2.0-or-later
"""Directories are mailboxes: mkdir creates one (named in modified UTF-7,
with the server's delimiter), rmdir deletes an empty one, rename renames
one with its children.  What the server holds is checked with an
independent imaplib client (tests/lib/imapcheck.py).

The tests run against a Dovecot per layout, the default one (separator
"/", no prefix) and Courier's (separator ".", prefix "INBOX."), each test
in mailboxes of its own.
"""

import errno
import os
import types

import pytest

import corpus
import imapcheck
from imapcheck import LAYOUTS, ImapCheck, message

pytestmark = pytest.mark.fuse


@pytest.fixture(scope="module", params=sorted(LAYOUTS))
def server(request):
    yield from imapcheck.dovecot(**LAYOUTS[request.param])


@pytest.fixture
def env(server, mount):
    """check, and mounted(): mount the server (after the test set it up)."""
    check = ImapCheck(server)
    ns = types.SimpleNamespace(check=check, server=server, mount=None)

    def mounted():
        ns.mount = mount(server)
        return ns.mount
    ns.mounted = mounted
    ns.path = lambda *parts: check.path(ns.mount.path, *parts)
    ns.name = check.name
    return ns


def _selectable(check, name):
    attrs = check.mailboxes().get(name)
    assert attrs is not None, f"{name} is not on the server"
    assert not {"\\noselect", "\\nonexistent"} & {a.lower() for a in attrs}, \
        (name, attrs)


# -- mkdir --------------------------------------------------------------------

NAMES = ["Plain", "Ärger-日本", "Q&A", "Grüße & 📧"]


@pytest.mark.parametrize("base", NAMES)
def test_mkdir_creates_the_mailbox(env, base):
    part = imapcheck.unique(base)
    want = env.name(part)
    # Computed independently of imapfs: & is &-, the rest modified UTF-7.
    if base == "Q&A":
        assert want.endswith(part.replace("&", "&-"))
    if base == "Ärger-日本":
        assert want.endswith("&AMQ-rger-&ZeVnLA-" + part[len(base):])
    before = env.check.names()
    assert want not in before
    m = env.mounted()
    d = env.path(part)
    os.mkdir(d)
    after = env.check.names()
    assert after - before == {want}
    _selectable(env.check, want)
    assert env.check.count(want) == 0
    assert part in os.listdir(os.path.dirname(d))
    assert os.path.isdir(d)
    assert os.listdir(d) == []
    assert os.getxattr(d, "user.imap.name") == want.encode()
    assert m.path in d


def test_mkdir_in_a_mailbox_uses_the_delimiter(env):
    parent = imapcheck.unique("Parent")
    env.check.create(env.name(parent))
    uid = env.check.append(env.name(parent), message("parent"))
    env.mounted()
    os.mkdir(env.path(parent, "Kid"))
    os.mkdir(env.path(parent, "Kid", "Ärger"))
    names = env.check.names()
    sep = env.server.separator
    assert env.name(parent) + sep + "Kid" in names
    assert env.name(parent) + sep + "Kid" + sep + "&AMQ-rger" in names
    _selectable(env.check, env.name(parent, "Kid", "Ärger"))
    # The parent keeps its message.
    assert env.check.uids(env.name(parent)) == [uid]
    assert sorted(os.listdir(env.path(parent))) == [f"{uid}.eml", "Kid"]
    assert os.listdir(env.path(parent, "Kid")) == ["Ärger"]


def test_makedirs_creates_every_level(env):
    top = imapcheck.unique("X")
    env.mounted()
    before = env.check.names()
    os.makedirs(env.path(top, "Y", "Z"))
    new = env.check.names() - before
    assert new == {env.name(top), env.name(top, "Y"),
                   env.name(top, "Y", "Z")}
    for name in new:
        _selectable(env.check, name)
    assert os.path.isdir(env.path(top, "Y", "Z"))


def test_mkdir_of_an_existing_name_is_eexist(env):
    here = imapcheck.unique("Here")
    env.check.create(env.name(here))
    uid = env.check.append(env.name(here), message("here"))
    env.mounted()
    before = env.check.snapshot()
    imapcheck.fails(errno.EEXIST, os.mkdir, env.path(here))
    imapcheck.fails(errno.EEXIST, os.mkdir, env.path("Trash"))
    imapcheck.fails(errno.EEXIST, os.mkdir, env.path("INBOX"))
    assert env.check.snapshot() == before
    assert os.listdir(env.path(here)) == [f"{uid}.eml"]


def test_mkdir_of_a_name_another_client_created_is_eexist(env):
    late = imapcheck.unique("Late")
    env.mounted()
    assert not os.path.exists(env.path(late))
    env.check.create(env.name(late))
    before = env.check.snapshot()
    imapcheck.fails(errno.EEXIST, os.mkdir, env.path(late))
    assert env.check.snapshot() == before


# -- rmdir --------------------------------------------------------------------

def test_rmdir_of_an_empty_mailbox_deletes_it(env):
    gone = imapcheck.unique("Gone")
    keep = imapcheck.unique("Keep")
    env.check.create(env.name(gone), env.name(keep))
    env.mounted()
    assert os.path.isdir(env.path(gone))
    before = env.check.names()
    os.rmdir(env.path(gone))
    assert env.check.names() == before - {env.name(gone)}
    assert gone not in os.listdir(os.path.dirname(env.path(gone)))
    assert not os.path.exists(env.path(gone))
    assert os.path.isdir(env.path(keep))


def test_rmdir_of_a_mailbox_with_messages_is_enotempty(env):
    full = imapcheck.unique("Full")
    env.check.create(env.name(full))
    uids = [env.check.append(env.name(full), message(f"full-{i}"))
            for i in range(2)]
    env.mounted()
    before = env.check.snapshot()
    imapcheck.fails(errno.ENOTEMPTY, os.rmdir, env.path(full))
    assert env.check.snapshot() == before
    assert env.check.uids(env.name(full)) == uids
    assert sorted(os.listdir(env.path(full))) == \
        sorted(f"{u}.eml" for u in uids)


def test_rmdir_of_a_mailbox_with_a_child_is_enotempty(env):
    mother = imapcheck.unique("Mother")
    env.check.create(env.name(mother), env.name(mother, "Child"))
    env.mounted()
    before = env.check.snapshot()
    imapcheck.fails(errno.ENOTEMPTY, os.rmdir, env.path(mother))
    assert env.check.snapshot() == before
    _selectable(env.check, env.name(mother))
    _selectable(env.check, env.name(mother, "Child"))
    assert os.listdir(env.path(mother)) == ["Child"]
    # The child, empty and childless, can go; then the mother can.
    os.rmdir(env.path(mother, "Child"))
    os.rmdir(env.path(mother))
    names = env.check.names()
    assert env.name(mother) not in names
    assert env.name(mother, "Child") not in names


def test_rmdir_of_a_mailbox_another_client_filled_is_enotempty(env):
    """The mount listed it empty; meanwhile a message arrived.  Dovecot
    would delete a mailbox with its messages: imapfs must not ask it to."""
    filled = imapcheck.unique("Filled")
    env.check.create(env.name(filled))
    env.mounted()
    assert os.listdir(env.path(filled)) == []
    uid = env.check.append(env.name(filled), message("late arrival"))
    imapcheck.fails(errno.ENOTEMPTY, os.rmdir, env.path(filled))
    _selectable(env.check, env.name(filled))
    assert env.check.uids(env.name(filled)) == [uid]


def test_rmdir_of_inbox_is_eperm(env):
    env.mounted()
    before = env.check.snapshot()
    imapcheck.fails(errno.EPERM, os.rmdir, env.path("INBOX"))
    assert env.check.snapshot() == before
    assert os.path.isdir(env.path("INBOX"))


def test_rename_of_inbox_is_eperm(env):
    target = imapcheck.unique("Inbox")
    other = imapcheck.unique("Other")
    env.check.create(env.name(other))
    env.mounted()
    before = env.check.snapshot()
    # A sibling of INBOX on the mount: in the Courier layout, where the
    # namespace is below INBOX, that is the only place the kernel lets
    # INBOX go (not into itself).
    imapcheck.fails(errno.EPERM, os.rename, env.path("INBOX"),
           os.path.join(env.mount.path, target))
    if not env.server.prefix:
        imapcheck.fails(errno.EPERM, os.rename, env.path("INBOX"),
               env.path(other, target))
    assert env.check.snapshot() == before
    assert os.path.isdir(env.path("INBOX"))


# -- rename -------------------------------------------------------------------

def _fill_tree(env, top):
    """top with two messages, top/Kid with one, top/Kid/Ärger empty;
    returns {name: uids}."""
    names = [env.name(top), env.name(top, "Kid"),
             env.name(top, "Kid", "Ärger")]
    env.check.create(*names)
    out = {n: [] for n in names}
    for i in range(2):
        out[names[0]].append(env.check.append(names[0],
                                              message(f"{top}-{i}")))
    out[names[1]].append(env.check.append(names[1], message(f"{top}-kid")))
    return out


def test_rename_renames_the_mailbox_and_its_children(env):
    old = imapcheck.unique("Old")
    new = imapcheck.unique("Neu-Ä")
    tree = _fill_tree(env, old)
    bodies = {n: env.check.bodies(n) for n in tree}
    env.mounted()
    listing = {p: sorted(os.listdir(env.path(*p))) for p in
               ((old,), (old, "Kid"), (old, "Kid", "Ärger"))}
    os.rename(env.path(old), env.path(new))
    names = env.check.names()
    for name in tree:
        assert name not in names, name
    renamed = {env.name(old): env.name(new),
               env.name(old, "Kid"): env.name(new, "Kid"),
               env.name(old, "Kid", "Ärger"): env.name(new, "Kid", "Ärger")}
    for was, now in renamed.items():
        assert now in names, now
        _selectable(env.check, now)
        assert env.check.count(now) == len(tree[was])
        assert env.check.bodies(now) == bodies[was]
    assert env.name(new).endswith(corpus.utf7_encode(new))
    assert not os.path.exists(env.path(old))
    assert old not in os.listdir(os.path.dirname(env.path(old)))
    assert new in os.listdir(os.path.dirname(env.path(new)))
    for p, files in listing.items():
        assert sorted(os.listdir(env.path(new, *p[1:]))) == files, p
    for uid, body in bodies[env.name(old)].items():
        with open(os.path.join(env.path(new), f"{uid}.eml"), "rb") as f:
            assert f.read() == body


def test_rename_into_another_mailbox(env):
    moved = imapcheck.unique("Moved")
    host = imapcheck.unique("Host")
    env.check.create(env.name(moved), env.name(host))
    uid = env.check.append(env.name(moved), message("moved"))
    env.mounted()
    os.rename(env.path(moved), env.path(host, moved))
    names = env.check.names()
    assert env.name(moved) not in names
    assert env.name(host, moved) in names
    assert env.check.uids(env.name(host, moved)) == [uid]
    assert os.listdir(env.path(host)) == [moved]
    assert os.listdir(env.path(host, moved)) == [f"{uid}.eml"]
    assert not os.path.exists(env.path(moved))


@pytest.mark.parametrize("target", ["empty", "full"])
def test_rename_onto_an_existing_mailbox_is_eexist(env, target):
    src = imapcheck.unique("Src")
    dst = imapcheck.unique("Dst")
    env.check.create(env.name(src), env.name(dst))
    env.check.append(env.name(src), message("src"))
    if target == "full":
        env.check.append(env.name(dst), message("dst"))
    env.mounted()
    listing = (os.listdir(env.path(src)), os.listdir(env.path(dst)))
    before = env.check.snapshot()
    imapcheck.fails(errno.EEXIST, os.rename, env.path(src), env.path(dst))
    assert env.check.snapshot() == before
    assert (os.listdir(env.path(src)), os.listdir(env.path(dst))) == listing
