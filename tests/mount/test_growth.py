# SPDX-License-Identifier: GPL-2.0-or-later
"""Costs that follow what changed: news that arrives while a mailbox is
being listed is not lost when that listing is installed, and a message
count the server merely claims costs no memory.

Against the scripted fake server (tests/fake/fakeimap.py), which can send
"* N EXPUNGE" or "* N EXISTS" in the middle of a listing's UID FETCH answer
(RFC 3501 §7.4.1 allows both) and lie about a mailbox's size.  The daemon
runs with refresh=3600, so whatever it shows after a listing it keeps
showing unless it knows the listing was overtaken.
"""

import errno
import os
import pathlib
import shutil
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "lib"))
sys.path.insert(0, str(REPO / "tests" / "fake"))

import mount as mountlib  # noqa: E402
from mount import Mount  # noqa: E402
from fakeimap import FakeImapServer, Mailbox, Message, make_body  # noqa: E402

pytestmark = pytest.mark.skipif(
    not os.path.exists("/dev/fuse")
    or not os.access("/dev/fuse", os.R_OK | os.W_OK)
    or shutil.which("fusermount3") is None,
    reason="needs /dev/fuse and fusermount3")

HUGE = 16777216             # "* 16777216 EXISTS": 64 MiB as a flat array
RSS_LIMIT_KIB = 60 * 1024

BODIES = {uid: make_body(uid, subject="growth %d" % uid)
          for uid in range(1, 6)}


def inbox(uids=(1, 2, 3)):
    return {"INBOX": Mailbox([Message(u, BODIES[u]) for u in uids],
                             uidvalidity=4242)}


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


@pytest.fixture
def fake():
    servers = []

    def make(boxes):
        srv = FakeImapServer(boxes)
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        srv.stop()
    for srv in servers:
        assert srv.errors == [], "the fake server itself failed"


@pytest.fixture
def imapfs(tmp_path):
    """imapfs(srv, env=None) -> a started Mount with refresh=3600.  Every
    mount is stopped at teardown, pass or fail; its log must then show no
    sanitizer report or GLib warning."""
    passfile = tmp_path / "password"
    passfile.write_text("secret\n")
    passfile.chmod(0o600)
    mounts = []

    def make(srv, env=None):
        mnt = tmp_path / ("mnt%d" % len(mounts))
        mnt.mkdir()
        m = Mount("imap://alice@127.0.0.1:%d" % srv.port, str(mnt),
                  ["plaintext", "passfile=%s" % passfile, "timeout=3",
                   "refresh=3600", "cache_dir=%s" % (tmp_path / "cache")],
                  env=env)
        mounts.append(m)
        m.start()
        return m

    yield make
    bugs = []
    for m in mounts:
        try:
            m.stop()
        finally:
            print("---- imapfs log (%s) ----\n%s" % (m.mountpoint, m.log()))
        bugs += m.bug_reports()
    assert not bugs, "\n".join(bugs)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def listings(srv):
    """How many times the daemon listed a mailbox (UID FETCH 1:*)."""
    return sum(1 for c in srv.commands
               if " UID FETCH 1:* " in c.upper() and "BODY" not in c.upper())


def peak_rss_kib(pid):
    """VmHWM: the most the daemon ever had resident."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM for %d" % pid)


def small_asan_quarantine():
    """Freed memory waiting in ASan's quarantine counts as resident; keep
    it small so that the limit measures the daemon, not the sanitizer."""
    base = getattr(mountlib, "DAEMON_ENV", {}).get("ASAN_OPTIONS") or \
        os.environ.get("ASAN_OPTIONS")
    return {"ASAN_OPTIONS": (base + ":" if base else "") +
            "quarantine_size_mb=8"}


def test_expunge_during_listing_is_not_listed(fake, imapfs):
    # The first listing gets "* 2 EXPUNGE" right after the FETCH of UID 2:
    # the index it built still has 2, and must not show it for an hour.
    srv = fake(inbox())
    srv.scenario.expunge_in_listing = 2
    m = imapfs(srv)
    box = pathlib.Path(m.mountpoint) / "INBOX"
    assert sorted(os.listdir(box)) == ["1.eml", "3.eml"]
    assert [m.uid for m in srv.mailboxes["INBOX"].messages] == [1, 3]
    with pytest.raises(FileNotFoundError):
        os.stat(box / "2.eml")
    with pytest.raises(OSError) as exc:
        read(box / "2.eml")
    assert exc.value.errno == errno.ENOENT
    # The rest of the answer, renumbered after the EXPUNGE, is intact.
    assert read(box / "1.eml") == BODIES[1]
    assert read(box / "3.eml") == BODIES[3]
    assert sorted(os.listdir(box)) == ["1.eml", "3.eml"]


def test_expunge_of_last_during_listing(fake, imapfs):
    # The EXPUNGE after the last FETCH: nothing follows to renumber.
    srv = fake(inbox())
    srv.scenario.expunge_in_listing = 3
    m = imapfs(srv)
    box = pathlib.Path(m.mountpoint) / "INBOX"
    assert sorted(os.listdir(box)) == ["1.eml", "2.eml"]
    with pytest.raises(FileNotFoundError):
        os.stat(box / "3.eml")


def test_mail_arriving_during_listing_is_seen(fake, imapfs):
    # "* 4 EXISTS" in the middle of the first listing announces mail its
    # answer does not hold: the next look at the mailbox lists it again,
    # refresh=3600 notwithstanding.
    srv = fake(inbox())
    srv.scenario.arrive_in_listing = [Message(4, BODIES[4])]
    m = imapfs(srv)
    box = pathlib.Path(m.mountpoint) / "INBOX"
    first = sorted(os.listdir(box))
    assert first in (["1.eml", "2.eml", "3.eml"],
                     ["1.eml", "2.eml", "3.eml", "4.eml"])
    assert sorted(os.listdir(box)) == ["1.eml", "2.eml", "3.eml", "4.eml"]
    assert read(box / "4.eml") == BODIES[4]
    # Caught up: no more listings for the hour.
    n = listings(srv)
    assert sorted(os.listdir(box)) == ["1.eml", "2.eml", "3.eml", "4.eml"]
    assert listings(srv) == n


def test_huge_exists_costs_nothing(fake, imapfs):
    # EXAMINE claims 16777216 messages, the FETCH brings 3: the daemon
    # must not spend memory on the claim (a flat map of sequence numbers
    # is 64 MiB per connection), and it still serves what is there.
    srv = fake(inbox())
    srv.scenario.select_exists = HUGE
    m = imapfs(srv, env=small_asan_quarantine())
    box = pathlib.Path(m.mountpoint) / "INBOX"
    assert sorted(os.listdir(box)) == ["1.eml", "2.eml", "3.eml"]
    for uid in (1, 2, 3):
        assert read(box / ("%d.eml" % uid)) == BODIES[uid]
    # A claim the server's own answer contradicts is not news: listing
    # again would not mend it, so it is not done on every access.
    n = listings(srv)
    assert sorted(os.listdir(box)) == ["1.eml", "2.eml", "3.eml"]
    assert listings(srv) == n
    assert m.proc.poll() is None, "imapfs exited:\n" + m.log()
    kib = peak_rss_kib(m.proc.pid)
    assert kib < RSS_LIMIT_KIB, "peak RSS %d KiB" % kib
