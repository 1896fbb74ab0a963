# SPDX-License-Identifier: GPL-2.0-or-later
"""Mailbox names are shown as they are unless they cannot be file names as
they are; only then is a part escaped, and a '%' only where it would read as
an escape (imapfs(1), "Names").  Whatever is shown, user.imap.name gives the
server's name back."""

import os
import pathlib
import sys

import pytest

import corpus

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "fake"))

from fakeimap import FakeImapServer, Mailbox, Message, make_body  # noqa: E402
from mount import Mount  # noqa: E402

pytestmark = pytest.mark.fuse

# Server name (modified UTF-7) -> directory path as shown.  Dovecot's
# separator is "/" here.
DOVECOT_NAMES = {
    "100% done": ("100% done",),
    "50%": ("50%",),
    "%%": ("%%",),
    "a%2f": ("a%2f",),              # lower case is not an escape
    "%41": ("%2541",),              # would read as "A"
    "%2Eeml": ("%252Eeml",),
    "a%00b": ("a%2500b",),          # "%00" would be NUL
    "&AOQ-%41": ("\u00e4%2541",),
    "%&AOQ-": ("%\u00e4",),
    "%": ("%25",),                  # "%" alone is the empty part
    "%/x%": ("%25", "x%"),
}
BODY = make_body(1, subject="behind an odd name")


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def test_names_are_escaped_only_where_needed(dovecot_factory, mount,
                                             oracle_for):
    server = dovecot_factory(fill=False, ssl=False)
    # what a new server has already (INBOX, the special-use mailboxes)
    before = {path[0] for path in oracle_for(server).directories()}
    with server.imap() as c:
        for name in DOVECOT_NAMES:
            corpus.create(c, name)
        uid = corpus.append_raw(c, "%41", BODY)
    m = mount(server)
    root = pathlib.Path(m.path)

    assert set(os.listdir(root)) == before | {
        path[0] for path in DOVECOT_NAMES.values()}
    assert os.listdir(root / "%25") == ["x%"]
    for name, path in DOVECOT_NAMES.items():
        assert os.getxattr(root.joinpath(*path), "user.imap.name") == \
            name.encode(), path
    # The name leads to the mailbox it stands for.
    assert os.listdir(root / "%2541") == [f"{uid}.eml"]
    assert _read(root / "%2541" / f"{uid}.eml") == BODY
    assert os.listdir(root / "100% done") == []


@pytest.fixture
def fake_mount(tmp_path):
    """fake_mount(boxes, **server keywords) -> (server, mount root).  The
    mounts are stopped before the servers, pass or fail."""
    servers, mounts = [], []
    passfile = tmp_path / "password"
    passfile.write_text("secret\n")
    passfile.chmod(0o600)

    def make(boxes, **kw):
        srv = FakeImapServer(boxes, **kw)
        servers.append(srv)
        mnt = tmp_path / f"mnt{len(mounts)}"
        m = Mount(f"imap://alice@127.0.0.1:{srv.port}", str(mnt),
                  ["plaintext", f"passfile={passfile}", "timeout=5",
                   f"cache_dir={tmp_path / 'cache'}"],
                  env={"XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
                       "XDG_CACHE_HOME": str(tmp_path / "xdg-cache")})
        mounts.append(m)
        m.start()
        return srv, mnt

    try:
        yield make
        bugs = []
        for m in mounts:
            bugs += m.bug_reports()
        assert not bugs, "\n".join(bugs)
    finally:
        for m in mounts:
            try:
                m.stop()
            finally:
                print(f"---- imapfs log ({m.mountpoint}) ----\n{m.log()}")
        for srv in servers:
            srv.stop()


def test_slash_inside_a_name(fake_mount):
    # Dovecot refuses '/' inside names, so a server with the delimiter '.'
    # that allows it is scripted.
    boxes = {"INBOX": Mailbox([]),
             "%/x": Mailbox([Message(1, BODY)], uidvalidity=3),
             "a/b%41": Mailbox([]),
             "%": Mailbox([]),
             "%.y/": Mailbox([])}
    srv, root = fake_mount(boxes, delimiter=".")

    assert set(os.listdir(root)) == {"INBOX", "%%2Fx", "a%2Fb%2541", "%25"}
    assert os.listdir(root / "%25") == ["y%2F"]
    for name, path in [("%/x", ("%%2Fx",)), ("a/b%41", ("a%2Fb%2541",)),
                       ("%", ("%25",)), ("%.y/", ("%25", "y%2F"))]:
        assert os.getxattr(root.joinpath(*path), "user.imap.name") == \
            name.encode(), path
    assert _read(root / "%%2Fx" / "1.eml") == BODY
    assert any("EXAMINE" in c and '"%/x"' in c for c in srv.commands), \
        srv.commands
