# SPDX-License-Identifier: GPL-2.0-or-later
"""Giving up: a reader interrupted while it waits for the server gets its
system call back at once, a server that trickles a body cannot hold a
request for ever, and requests waiting for the server hold no thread that
cached reads need.

Against the scripted fake server (tests/fake/fakeimap.py), which can hang
on a command or send an answer a byte at a time.  The daemon runs with a
timeout far longer than any of these tests may take, so whatever ends
early ended for the reason under test, not because a wait timed out.
"""

import errno
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "lib"))
sys.path.insert(0, str(REPO / "tests" / "fake"))

from mount import Mount, wait_for  # noqa: E402
from fakeimap import (  # noqa: E402
    FakeImapServer, Mailbox, Malformed, Message, Scenario, When, make_body,
)

pytestmark = pytest.mark.skipif(
    not os.path.exists("/dev/fuse")
    or not os.access("/dev/fuse", os.R_OK | os.W_OK)
    or shutil.which("fusermount3") is None,
    reason="needs /dev/fuse and fusermount3")

LONG_TIMEOUT = 60       # -o timeout= for the tests that must not time out
PROMPT = 5              # an interrupted call returns within this
MESSAGES = 40           # more uncached readers than the daemon has threads
CONNECTIONS = 2

BODIES = {uid: make_body(uid, size=3000 + uid, subject="msg %d" % uid)
          for uid in range(1, MESSAGES + 1)}


def mailboxes():
    return {"INBOX": Mailbox([Message(u, BODIES[u]) for u in BODIES],
                             uidvalidity=99)}


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


@pytest.fixture
def passfile(tmp_path):
    p = tmp_path / "password"
    p.write_text("secret\n")
    p.chmod(0o600)
    return str(p)


@pytest.fixture
def world(tmp_path, passfile):
    """world(scenario=None, timeout=LONG_TIMEOUT, extra=()) -> (server,
    mount); extra: more -o options.

    At teardown the servers stop first: that ends the fetches left hanging
    on purpose, so that unmounting does not wait for them to time out."""
    made = []

    def make(scenario=None, timeout=LONG_TIMEOUT, extra=()):
        srv = FakeImapServer(mailboxes(), scenario=scenario)
        mnt = tmp_path / ("mnt%d" % len(made))
        mnt.mkdir()
        m = Mount("imap://alice@127.0.0.1:%d" % srv.port, str(mnt),
                  ["plaintext", "passfile=" + passfile,
                   "timeout=%d" % timeout,
                   "connections=%d" % CONNECTIONS,
                   "cache_dir=" + str(tmp_path / "cache")] + list(extra))
        made.append((srv, m))
        m.start()
        return srv, m

    yield make
    bugs = []
    for srv, m in made:
        srv.stop()
        try:
            m.stop()
        finally:
            print("---- imapfs log (%s) ----\n%s" % (m.mountpoint, m.log()))
        bugs += m.bug_reports()
    assert not bugs, "\n".join(bugs)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def body_fetches(srv, uid):
    return [c for c in srv.commands
            if "UID FETCH %d " % uid in c.upper() and "BODY" in c.upper()]


def start_cat(path):
    return subprocess.Popen(["cat", str(path)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def interrupt_promptly(proc):
    """SIGINT, then the time the process took to go."""
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(PROMPT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(LONG_TIMEOUT * 2)
        pytest.fail("the reader did not return within %d s of SIGINT"
                    % PROMPT)
    return time.monotonic() - t0


def test_ctrl_c_on_a_read_waiting_for_the_server(world):
    srv, m = world(Scenario(hang_on=When("UID FETCH", contains="BODY",
                                         uid=2)))
    inbox = pathlib.Path(m.mountpoint) / "INBOX"
    assert len(os.listdir(inbox)) == MESSAGES
    cat = start_cat(inbox / "2.eml")
    wait_for(lambda: body_fetches(srv, 2), 10)
    assert cat.poll() is None, "the read did not wait for the server"
    interrupt_promptly(cat)
    # The mount goes on: other messages read, and the daemon is alive.
    assert read(inbox / "1.eml") == BODIES[1]
    assert m.proc.poll() is None


def test_ctrl_c_on_a_listing_waiting_for_the_server(world):
    srv, m = world(Scenario(hang_on=When("UID FETCH", not_contains="BODY")))
    mnt = pathlib.Path(m.mountpoint)
    assert "INBOX" in os.listdir(mnt)
    ls = subprocess.Popen(["ls", str(mnt / "INBOX")],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for(lambda: [c for c in srv.commands
                      if "UID FETCH 1:*" in c.upper()], 10)
    assert ls.poll() is None, "the listing did not wait for the server"
    interrupt_promptly(ls)
    assert m.proc.poll() is None


def test_ctrl_c_on_a_mailbox_tree_listing(world):
    # refresh=0: every opendir of the root lists the tree again.
    srv, m = world(extra=("refresh=0",))
    mnt = pathlib.Path(m.mountpoint)
    assert "INBOX" in os.listdir(mnt)
    listed = len([c for c in srv.commands if " LIST " in c.upper()])
    srv.scenario.hang_on = When("LIST")
    ls = subprocess.Popen(["ls", str(mnt)], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
    wait_for(lambda: len([c for c in srv.commands
                          if " LIST " in c.upper()]) > listed, 10)
    assert ls.poll() is None, "the listing did not wait for the server"
    interrupt_promptly(ls)
    assert m.proc.poll() is None


class Trickle:
    """The start of a body literal, then one byte every `every` seconds:
    the connection is never silent for a whole timeout."""

    def __init__(self, uid, every):
        self.uid, self.every = uid, every

    def __iter__(self):
        body = BODIES[self.uid]
        yield b"* 1 FETCH (UID %d BODY[] {%d}\r\n" % (self.uid, len(body))
        for i in range(len(body)):
            yield body[i:i + 1]
            time.sleep(self.every)


def test_a_trickling_body_does_not_hold_the_reader(world):
    timeout = 3
    trickle = Malformed(when=When("UID FETCH", contains="BODY", uid=2),
                        data=Trickle(2, every=timeout - 1), then="hang")
    srv, m = world(Scenario(malformed=[trickle]), timeout=timeout)
    inbox = pathlib.Path(m.mountpoint) / "INBOX"
    assert len(os.listdir(inbox)) == MESSAGES
    t0 = time.monotonic()
    with pytest.raises(OSError) as e:
        read(inbox / "2.eml")
    took = time.monotonic() - t0
    assert e.value.errno in (errno.EIO, errno.ETIMEDOUT), e.value
    # The rate floor: the first timeout, plus a second per KiB received
    # (a few bytes here), plus one timeout of slack for scheduling.
    assert took < 3 * timeout, "took %.1f s" % took
    assert read(inbox / "3.eml") == BODIES[3]
    assert m.proc.poll() is None


def test_cached_reads_go_on_while_every_connection_waits(world):
    srv, m = world()
    inbox = pathlib.Path(m.mountpoint) / "INBOX"
    assert len(os.listdir(inbox)) == MESSAGES
    assert read(inbox / "1.eml") == BODIES[1]
    srv.scenario.hang_on = When("UID FETCH", contains="BODY")
    # Far more readers of messages not yet cached than the daemon has
    # request threads (twice the connections plus four), all waiting.
    cats = [start_cat(inbox / ("%d.eml" % uid))
            for uid in range(2, MESSAGES + 1)]
    try:
        wait_for(lambda: len([c for c in srv.commands
                              if "BODY" in c.upper()]) >= CONNECTIONS + 1,
                 10)
        # Give every reader time to be in the daemon's hands; if they took
        # a thread each, the pool is exhausted by now.
        wait_for(lambda: sum(1 for c in cats if c.poll() is None) ==
                 len(cats) and waiting_in_fuse(cats) == len(cats), 10)
        t0 = time.monotonic()
        for _ in range(20):
            assert read(inbox / "1.eml") == BODIES[1]
            os.stat(inbox / "1.eml")
        took = time.monotonic() - t0
        assert took < PROMPT, "cached reads took %.1f s" % took
    finally:
        for c in cats:
            c.kill()
    assert m.proc.poll() is None


@pytest.mark.parametrize("extra,threads", [
    pytest.param((), 2 * CONNECTIONS + 4, id="default"),
    pytest.param(("max_threads=5",), 5, id="chosen"),
])
def test_request_threads_follow_connections(world, extra, threads):
    # libfuse 3.12+ fills in its own max_threads when none is given; the
    # documented default (twice connections plus four) must still apply.
    srv, m = world(extra=("verbose",) + extra)
    assert "up to %d request threads" % threads in m.log()


def waiting_in_fuse(procs):
    """How many of procs are blocked in a FUSE request (their kernel stack
    or wait channel names fuse)."""
    n = 0
    for p in procs:
        try:
            with open("/proc/%d/wchan" % p.pid) as f:
                wchan = f.read()
        except OSError:
            continue
        if "fuse" in wchan or "request_wait_answer" in wchan:
            n += 1
    return n
