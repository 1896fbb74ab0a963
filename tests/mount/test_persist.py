# SPDX-License-Identifier: GPL-2.0-or-later
"""Listings kept on disk (index.sqlite in cache_dir) across remounts.

Each test mounts, looks at a mailbox of its own, unmounts, changes the
server with an independent imaplib client while nothing is mounted, and
mounts again with the same cache_dir.  The tree must then equal what the
server holds (file names, user.imap.flags, sizes, bytes, directory
attributes), whatever imapfs took from disk: after nothing changed, after
flag changes, appends, expunges, a mailbox re-created with a new
UIDVALIDITY, a corrupted index.sqlite, and all of these at once.  The IMAP
trace (-o trace) shows that an unchanged mailbox is not listed again and
that changed flags are asked for with CHANGEDSINCE (CONDSTORE), and
expunged messages with VANISHED (QRESYNC) where the server offers it.
"""

import errno
import os
import random
import re

import pytest

import corpus
import imapcheck
from imapcheck import message

pytestmark = pytest.mark.fuse

KEYWORD = "$Label1"
# No listing of its own while a test runs: one listing per mount.
OPTIONS = ["refresh=600"]


@pytest.fixture(scope="module")
def server():
    """One Dovecot (CONDSTORE, no TLS) for the module; each test works in
    a mailbox of its own."""
    yield from imapcheck.dovecot()


# Dovecot's own list after login, less CONDSTORE and QRESYNC: a listing
# kept on disk must then catch up with a flags pass.
NO_CONDSTORE = ("IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE "
                "LITERAL+ NAMESPACE UIDPLUS CHILDREN LIST-EXTENDED MOVE "
                "SPECIAL-USE")


@pytest.fixture(scope="module")
def plain_server():
    """A Dovecot that does not announce CONDSTORE."""
    yield from imapcheck.dovecot(capability=NO_CONDSTORE)


@pytest.fixture(scope="module")
def condstore_server():
    """A Dovecot that announces CONDSTORE but not QRESYNC."""
    yield from imapcheck.dovecot(capability=NO_CONDSTORE + " CONDSTORE")


@pytest.fixture
def oracle(server, oracle_for):
    return oracle_for(server)


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _flags_attr(path):
    return frozenset(os.getxattr(path, "user.imap.flags").decode().split())


def _enoent(path):
    with pytest.raises(OSError) as e:
        os.stat(path)
    assert e.value.errno == errno.ENOENT, (path, e.value)


def _new_box(server, stem, count, flags=lambda i: ()):
    """A new mailbox with count messages (message i gets flags(i));
    returns (name, [uids])."""
    name = imapcheck.unique(stem)
    with server.imap() as c:
        corpus.create(c, name)
        uids = [corpus.append_raw(c, name, _msg(name, i, "a"), flags(i))
                for i in range(1, count + 1)]
    return name, uids


def _msg(box, i, life):
    """Message i of a mailbox's life "a" or "b": the same size in both
    lives, other bytes."""
    return message(f"{box}-{life}-{i}", size=300 + 170 * i)


def _change(server, box, *steps):
    """Run (command, args...) steps as another client, SELECTed."""
    with server.imap() as c:
        typ, data = c.select(corpus.quote(box))
        assert typ == "OK", data
        for cmd, *args in steps:
            typ, data = (c.expunge() if cmd == "EXPUNGE"
                         else c.uid(cmd, *args))
            assert typ == "OK", (cmd, args, data)


def _append(server, box, data):
    with server.imap() as c:
        return corpus.append_raw(c, box, data)


def _check_tree(m, oracle, box, modseq=True):
    """The mount's view of box equals the server's; returns its UIDs."""
    msgs = oracle.messages(box)
    bodies = oracle.bodies(box)
    status = oracle.status(box)
    d = os.path.join(m.path, box)
    assert sorted(os.listdir(d)) == sorted(f"{u}.eml" for u in msgs)
    for name in ("uidvalidity", "uidnext", "messages", "unseen"):
        assert os.getxattr(d, f"user.imap.{name}") == \
            str(status[name.upper()]).encode(), name
    for uid, info in msgs.items():
        f = os.path.join(d, f"{uid}.eml")
        assert info.size == len(bodies[uid]), uid    # Dovecot's are exact
        st = os.stat(f)
        assert st.st_size == info.size, (f, st.st_size, info.size)
        assert st.st_mtime == info.internaldate.timestamp(), f
        assert _flags_attr(f) == info.flags - {"\\Recent"}, f
        if modseq:
            assert os.getxattr(f, "user.imap.modseq") == \
                str(info.modseq).encode(), f
        data = _read(f)
        assert data == bodies[uid], f"{f}: not the server's bytes"
        assert os.stat(f).st_size == len(data), f
    return sorted(msgs)


# -- the trace ----------------------------------------------------------------

_CMD = re.compile(r"\[(\d+)\] C: \S+ (\S+) ?(.*)$")
_FETCH = re.compile(r"UID FETCH (\S+) \(([^)]*)\)\s*(.*)$", re.I)


def _mailbox_arg(text):
    if text.startswith('"'):
        return re.sub(r'\\(.)', r"\1",
                      re.match(r'"((?:\\.|[^"\\])*)"', text).group(1))
    return text.split(" ", 1)[0]


def _box_trace(log, box):
    """(how often box was SELECTed or EXAMINEd, [the listing fetches sent
    while it was selected: (uid set, items, rest)])."""
    selected, opened, fetches = {}, 0, []
    for line in log.splitlines():
        m = _CMD.search(line)
        if m is None:
            continue
        conn, verb, rest = m.groups()
        verb = verb.upper()
        if verb in ("SELECT", "EXAMINE"):
            selected[conn] = _mailbox_arg(rest)
            opened += selected[conn] == box
        elif verb in ("UNSELECT", "CLOSE", "LOGOUT"):
            selected.pop(conn, None)
        elif selected.get(conn) == box:
            f = _FETCH.match(f"{verb} {rest}")
            if f and "FLAGS" in f.group(2).upper():
                fetches.append(f.groups())
    return opened, fetches


def _show(fetches):
    return "\n".join(f"UID FETCH {s} ({items}) {rest}".rstrip()
                     for s, items, rest in fetches) or "(no listing fetch)"


def _full_listings(fetches):
    return [f for f in fetches if f[0] == "1:*" and
            "RFC822.SIZE" in f[1].upper() and
            "CHANGEDSINCE" not in f[2].upper()]


def _remount(mount, server, cache, **kw):
    return mount(server, cache_dir=cache, trace=True, options=OPTIONS, **kw)


def _first_mount(mount, server, oracle, box, cache, modseq=True):
    """Mount, check (and so cache) box, unmount.  A fresh cache lists the
    mailbox in full."""
    m = _remount(mount, server, cache)
    uids = _check_tree(m, oracle, box, modseq)
    m.stop()
    opened, fetches = _box_trace(m.log(), box)
    assert opened and _full_listings(fetches), _show(fetches)
    return uids


# -- tests --------------------------------------------------------------------

def test_unchanged_mailbox_is_not_listed_again(mount, server, oracle,
                                               tmp_path):
    box, _ = _new_box(server, "Same", 5,
                      lambda i: ("\\Seen",) if i % 2 else ())
    cache = str(tmp_path / "cache")
    uids = _first_mount(mount, server, oracle, box, cache)

    m = _remount(mount, server, cache)
    assert _check_tree(m, oracle, box) == uids
    m.stop()
    opened, fetches = _box_trace(m.log(), box)
    assert opened, f"{box} was never SELECTed or EXAMINEd:\n" \
        f"{m.log()[-3000:]}"
    assert fetches == [], \
        f"an unchanged mailbox was listed again:\n{_show(fetches)}"


def test_flags_changed_while_unmounted(mount, server, oracle, tmp_path):
    box, uids = _new_box(server, "Flags", 5, lambda i: ("\\Seen",))
    cache = str(tmp_path / "cache")
    _first_mount(mount, server, oracle, box, cache)

    a, b, c = uids[0], uids[3], uids[2]
    _change(server, box,
            ("STORE", f"{a},{b}", "+FLAGS", f"(\\Flagged {KEYWORD})"),
            ("STORE", str(c), "-FLAGS", "(\\Seen)"))

    m = _remount(mount, server, cache)
    _check_tree(m, oracle, box)
    d = os.path.join(m.path, box)
    for uid in uids:
        f = os.path.join(d, f"{uid}.eml")
        flags = _flags_attr(f)
        assert ("\\Flagged" in flags) == (uid in (a, b)), (uid, flags)
        assert (KEYWORD in flags) == (uid in (a, b)), (uid, flags)
        assert ("\\Seen" in flags) == (uid != c), (uid, flags)
    assert os.getxattr(os.path.join(d, f"{a}.eml"),
                       f"user.imap.keyword.{KEYWORD}") == b""
    assert os.getxattr(os.path.join(d, f"{b}.eml"),
                       "user.imap.flagged") == b""
    m.stop()
    _, fetches = _box_trace(m.log(), box)
    assert fetches, f"the changed flags were not asked for:\n{m.log()[-3000:]}"
    assert all("CHANGEDSINCE" in f[2].upper() for f in fetches), \
        f"want only CHANGEDSINCE listings:\n{_show(fetches)}"


def test_messages_appended_while_unmounted(mount, server, oracle, tmp_path):
    box, uids = _new_box(server, "Grow", 3)
    cache = str(tmp_path / "cache")
    _first_mount(mount, server, oracle, box, cache)

    new = [_append(server, box, _msg(box, i, "late")) for i in (4, 5)]
    assert min(new) > max(uids)

    m = _remount(mount, server, cache)
    assert _check_tree(m, oracle, box) == uids + new
    for uid in new:
        f = os.path.join(m.path, box, f"{uid}.eml")
        assert _read(f) == oracle.body(box, uid)
        assert os.stat(f).st_size == len(oracle.body(box, uid))


@pytest.mark.parametrize("which", ["some", "all"])
def test_messages_expunged_while_unmounted(mount, server, oracle, tmp_path,
                                           which):
    box, uids = _new_box(server, "Shrink", 5)
    cache = str(tmp_path / "cache")
    _first_mount(mount, server, oracle, box, cache)

    gone = [uids[1], uids[4]] if which == "some" else uids
    _change(server, box,
            ("STORE", ",".join(map(str, gone)), "+FLAGS.SILENT",
             "(\\Deleted)"),
            ("EXPUNGE",))
    kept = [u for u in uids if u not in gone]
    assert sorted(oracle.messages(box)) == kept

    m = _remount(mount, server, cache)
    for uid in gone:
        _enoent(os.path.join(m.path, box, f"{uid}.eml"))
    assert _check_tree(m, oracle, box) == kept


def test_recreated_mailbox_shows_only_new_messages(mount, server, oracle,
                                                   tmp_path):
    box, uids = _new_box(server, "Reborn", 3)
    cache = str(tmp_path / "cache")
    old_bodies = oracle.bodies(box)
    old_validity = oracle.status(box)["UIDVALIDITY"]
    _first_mount(mount, server, oracle, box, cache)   # reads every body

    with server.imap() as c:
        assert c.delete(corpus.quote(box))[0] == "OK"
        corpus.create(c, box)
        # UID 1 keeps its size with other bytes; UID 2 changes size.
        new = [corpus.append_raw(c, box, _msg(box, 1, "b")),
               corpus.append_raw(c, box, _msg(box, 5, "b"))]
    assert new == uids[:2]
    assert oracle.status(box)["UIDVALIDITY"] != old_validity
    assert len(oracle.body(box, new[0])) == len(old_bodies[new[0]])

    m = _remount(mount, server, cache)
    assert _check_tree(m, oracle, box) == new
    for uid in new:
        data = _read(os.path.join(m.path, box, f"{uid}.eml"))
        assert data != old_bodies[uid], f"UID {uid}: the old message's bytes"
    _enoent(os.path.join(m.path, box, f"{uids[2]}.eml"))
    m.stop()
    _, fetches = _box_trace(m.log(), box)
    assert _full_listings(fetches), \
        f"no full listing after UIDVALIDITY changed:\n{_show(fetches)}"


@pytest.mark.parametrize("damage", ["garbage", "bad-pages", "empty"])
def test_corrupt_index_file(mount, server, oracle, tmp_path, damage):
    box, uids = _new_box(server, "Damaged", 4)
    cache = str(tmp_path / "cache")
    _first_mount(mount, server, oracle, box, cache)
    index = os.path.join(cache, "index.sqlite")
    assert os.path.isfile(index), \
        f"no index.sqlite in cache_dir: {sorted(os.listdir(cache))}"

    with open(index, "rb") as f:
        good = f.read()
    noise = random.Random(damage).randbytes(max(len(good), 8192))
    with open(index, "wb") as f:
        if damage == "garbage":
            f.write(noise)
        elif damage == "bad-pages":      # a valid header, nonsense pages
            f.write(good[:100] + noise[100:])
    # Changes too, so that a listing served from the damaged file shows.
    _change(server, box, ("STORE", str(uids[0]), "+FLAGS", "(\\Flagged)"))
    uid = _append(server, box, _msg(box, 9, "late"))

    m = _remount(mount, server, cache)
    assert _check_tree(m, oracle, box) == uids + [uid]


def _flags_expunge_and_append(mount, server, oracle, tmp_path, condstore):
    box, uids = _new_box(server, "Mixed", 5,
                         lambda i: ("\\Seen",) if i < 4 else ())
    cache = str(tmp_path / "cache")
    _first_mount(mount, server, oracle, box, cache, modseq=condstore)

    # One out, one in: EXISTS is as it was, UIDNEXT and HIGHESTMODSEQ not.
    gone = uids[2]
    _change(server, box,
            ("STORE", str(uids[0]), "-FLAGS", "(\\Seen)"),
            ("STORE", str(uids[4]), "+FLAGS", f"(\\Answered {KEYWORD})"),
            ("STORE", str(gone), "+FLAGS.SILENT", "(\\Deleted)"),
            ("EXPUNGE",))
    new = _append(server, box, _msg(box, 7, "late"))
    assert oracle.status(box)["MESSAGES"] == len(uids)

    m = _remount(mount, server, cache)
    _enoent(os.path.join(m.path, box, f"{gone}.eml"))
    want = [u for u in uids if u != gone] + [new]
    assert _check_tree(m, oracle, box, modseq=condstore) == want
    d = os.path.join(m.path, box)
    assert "\\Seen" not in _flags_attr(os.path.join(d, f"{uids[0]}.eml"))
    assert {"\\Answered", KEYWORD} <= \
        _flags_attr(os.path.join(d, f"{uids[4]}.eml"))
    m.stop()
    return _box_trace(m.log(), box)[1]


def _flags_passes(fetches):
    return [f for f in fetches if "RFC822.SIZE" not in f[1].upper()]


def test_flags_expunge_and_append_together(mount, server, oracle, tmp_path):
    fetches = _flags_expunge_and_append(mount, server, oracle, tmp_path,
                                        True)
    # QRESYNC: one fetch of what changed, which names the expunged UIDs
    # too (VANISHED), and no flags pass over every message.
    assert len(fetches) == 1 and not _flags_passes(fetches), _show(fetches)
    rest = fetches[0][2].upper()
    assert "CHANGEDSINCE" in rest and "VANISHED" in rest, _show(fetches)


def test_catch_up_with_condstore_only(mount, condstore_server, oracle_for,
                                      tmp_path):
    fetches = _flags_expunge_and_append(mount, condstore_server,
                                        oracle_for(condstore_server),
                                        tmp_path, True)
    # What changed since, then (EXISTS as it was, but UIDNEXT not) a
    # flags pass to find which UID left.
    assert not _full_listings(fetches), _show(fetches)
    assert any("CHANGEDSINCE" in rest.upper() and
               "VANISHED" not in rest.upper()
               for _, _, rest in fetches), _show(fetches)
    assert _flags_passes(fetches), _show(fetches)


def test_catch_up_without_condstore(mount, plain_server, oracle_for,
                                    tmp_path):
    fetches = _flags_expunge_and_append(mount, plain_server,
                                        oracle_for(plain_server), tmp_path,
                                        False)
    # No full listing: the new messages from the old UIDNEXT on, and the
    # flags of the rest.
    assert not _full_listings(fetches), _show(fetches)
    assert not any("MODSEQ" in items.upper() or "CHANGEDSINCE" in
                   rest.upper() for _, items, rest in fetches), \
        _show(fetches)
    assert any("RFC822.SIZE" not in items.upper()
               for _, items, _ in fetches), _show(fetches)
