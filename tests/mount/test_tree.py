# SPDX-License-Identifier: GPL-2.0-or-later
"""Mailboxes are directories named by their decoded parts; messages are
read-only files UID.eml."""

import errno
import os
import stat

import pytest

import corpus

pytestmark = pytest.mark.fuse

# Mailboxes of the tricky corpus, as directory paths.
MAILBOXES = [p for p in corpus.TRICKY_MAILBOXES]
MAILBOX_IDS = ["/".join(p) for p in MAILBOXES]


def _walk(root):
    """(set of directory paths, set of file paths) below root."""
    dirs, files = set(), set()
    for top, subdirs, names in os.walk(root):
        rel = os.path.relpath(top, root)
        base = () if rel == "." else tuple(rel.split(os.sep))
        if base:
            dirs.add(base)
        files.update(base + (n,) for n in names)
    return dirs, files


def _children(oracle_dirs, path):
    return {d[-1] for d in oracle_dirs
            if len(d) == len(path) + 1 and d[:len(path)] == path}


def test_directories_are_exactly_the_mailboxes(mounted, oracle):
    dirs, _ = _walk(mounted.path)
    assert dirs == oracle.directories()


@pytest.mark.parametrize("name", ["Entwürfe", "日本語", "Tom & Jerry",
                                  "with spaces", "📧 Mail"])
def test_names_are_decoded_from_modified_utf7(mounted, name):
    entries = os.listdir(mounted.path)
    assert name in entries
    assert os.path.isdir(os.path.join(mounted.path, name))
    # The raw server names must not show.
    assert corpus.utf7_encode(name) not in entries or \
        corpus.utf7_encode(name) == name


def test_names_are_utf8_bytes(mounted):
    raw = os.listdir(os.fsencode(mounted.path))
    assert "Entwürfe".encode() in raw
    assert "📧 Mail".encode() in raw
    for name in raw:
        name.decode("utf-8")


def test_nested_three_levels(mounted):
    path = os.path.join(mounted.path, "Projects", "2026", "Q4")
    assert os.path.isdir(path)
    assert os.listdir(os.path.join(mounted.path, "Projects")) == ["2026"]


def test_child_of_non_ascii_mailbox(mounted):
    assert os.path.isdir(os.path.join(mounted.path, "日本語", "子供"))


def test_noselect_mailboxes_are_empty_directories(mounted, oracle):
    boxes = oracle.mailboxes()
    dirs = oracle.directories()
    noselect = [p for p, m in boxes.items() if not m.selectable]
    assert noselect, "the corpus has \\Noselect mailboxes"
    for path in noselect:
        full = os.path.join(mounted.path, *path)
        assert os.path.isdir(full)
        assert set(os.listdir(full)) == _children(dirs, path), path
        for name in os.listdir(full):
            assert os.path.isdir(os.path.join(full, name))


@pytest.mark.parametrize("path", MAILBOXES, ids=MAILBOX_IDS)
def test_mailbox_lists_its_uids_and_children(mounted, oracle, path):
    box = oracle.mailboxes()[path]
    uids = oracle.messages(box.name)
    expected = {f"{uid}.eml" for uid in uids}
    expected |= _children(oracle.directories(), path)
    assert set(os.listdir(os.path.join(mounted.path, *path))) == expected


def test_listing_has_no_duplicates(mounted, oracle):
    for d in [()] + sorted(oracle.directories()):
        entries = os.listdir(os.path.join(mounted.path, *d))
        assert len(entries) == len(set(entries)), d


def test_message_files_are_regular_and_0444(mounted):
    _, files = _walk(mounted.path)
    assert len(files) >= 20
    for f in files:
        st = os.stat(os.path.join(mounted.path, *f))
        assert stat.S_ISREG(st.st_mode), f
        assert stat.S_IMODE(st.st_mode) == 0o444, (f, oct(st.st_mode))
        assert f[-1].endswith(".eml")


def test_directories_are_0755(mounted, oracle):
    """Mailboxes take new messages and children (imapfs(1), "Changing
    things"), so their directories are writable by the owner."""
    for d in oracle.directories():
        st = os.stat(os.path.join(mounted.path, *d))
        assert stat.S_ISDIR(st.st_mode), d
        assert stat.S_IMODE(st.st_mode) == 0o755, (d, oct(st.st_mode))


def test_directory_link_counts_count_subdirectories(mounted, oracle):
    """st_nlink of a directory is 2 + its subdirectories, as find and other
    tree walkers expect of a Unix file system."""
    directories = oracle.directories()
    for path in [()] + sorted(directories):
        st = os.stat(os.path.join(mounted.path, *path))
        assert st.st_nlink == 2 + len(_children(directories, path)), path


def test_readdir_types_match_stat(mounted):
    checked = 0
    for top, _, _ in os.walk(mounted.path):
        for entry in os.scandir(top):
            st = os.stat(entry.path)
            assert entry.is_dir() == stat.S_ISDIR(st.st_mode), entry.path
            assert entry.is_file() == stat.S_ISREG(st.st_mode), entry.path
            checked += 1
    assert checked >= 30


def _enoent(fn, *args):
    with pytest.raises(OSError) as e:
        fn(*args)
    assert e.value.errno == errno.ENOENT, e.value


@pytest.fixture
def inbox(mounted, dovecot):
    inbox = os.path.join(mounted.path, "INBOX")
    # The names below are absent from a mailbox that is there.
    assert os.path.isfile(os.path.join(
        inbox, dovecot.corpus.messages["plain"].filename))
    return inbox


def test_unknown_uid_is_enoent(inbox):
    path = os.path.join(inbox, "999999.eml")
    _enoent(os.stat, path)
    _enoent(open, path, "rb")


@pytest.mark.parametrize("name", [
    "abc", "1", "1.EML", "01.eml", "+1.eml", "-1.eml", "0.eml", ".eml",
    "1.eml.bak", " 1.eml", "4294967296.eml", "18446744073709551617.eml"])
def test_names_that_are_not_uids_are_enoent(inbox, name):
    _enoent(os.stat, os.path.join(inbox, name))


def test_unknown_mailbox_is_enoent(mounted, inbox):
    _enoent(os.stat, os.path.join(mounted.path, "NoSuchBox"))
    _enoent(os.listdir, os.path.join(mounted.path, "NoSuchBox"))
    _enoent(os.stat, os.path.join(inbox, "NoSuchBox"))


def test_raw_encoded_name_is_not_a_directory(mounted):
    # Only the decoded name exists.
    assert os.path.isdir(os.path.join(mounted.path, "Entwürfe"))
    _enoent(os.stat, os.path.join(mounted.path, "Entw&APw-rfe"))


def test_message_file_is_not_a_directory(mounted, dovecot):
    f = dovecot.corpus.messages["plain"].filename
    with pytest.raises(OSError) as e:
        os.listdir(os.path.join(mounted.path, "INBOX", f))
    assert e.value.errno == errno.ENOTDIR


# -- Courier-style layout -----------------------------------------------------

@pytest.fixture
def courier_mount(mount, courier_dovecot):
    return mount(courier_dovecot)


def test_courier_tree_matches_server(courier_mount, oracle_for,
                                     courier_dovecot):
    oracle = oracle_for(courier_dovecot)
    dirs, _ = _walk(courier_mount.path)
    assert dirs == oracle.directories()
    assert os.path.isdir(os.path.join(courier_mount.path, "INBOX",
                                      "Entwürfe"))
    assert os.path.isdir(os.path.join(courier_mount.path, "INBOX",
                                      "Projects", "2026", "Q4"))


def test_courier_inbox_has_messages_and_children(courier_mount, oracle_for,
                                                 courier_dovecot):
    oracle = oracle_for(courier_dovecot)
    uids = oracle.messages("INBOX")
    children = _children(oracle.directories(), ("INBOX",))
    assert uids and children
    expected = {f"{uid}.eml" for uid in uids} | children
    assert set(os.listdir(os.path.join(courier_mount.path, "INBOX"))) == \
        expected
