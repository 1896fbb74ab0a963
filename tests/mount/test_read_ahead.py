# SPDX-License-Identifier: GPL-2.0-or-later
"""Reading a big message's head before its body is in, and reading a
mailbox ahead of its reader (docs/DESIGN.md, "Reading").

The bytes a reader gets are always the server's BODY.PEEK[] (asked for by
imaplib, which knows nothing of imapfs), and reading never sets \\Seen.  The
IMAP trace (-o trace) shows how they were fetched: the head of a big message
from a ranged fetch, a walk through a mailbox in batches of several UIDs,
and no body twice.
"""

import collections
import os
import re
import threading
import time

import pytest

import corpus
import imapcheck
from relay import Relay
from imapcheck import ImapCheck

pytestmark = pytest.mark.fuse

BIG_BOX = "Big"
WALK_BOX = "Walk"
WALK_COUNT = 60
BIG_SIZE = 3 * 1024 * 1024


def _big_message():
    """About 3 MB of numbered CRLF lines under a few headers."""
    head = (b"From: Big Sender <big@example.org>\r\n"
            b"To: Alice <alice@example.org>\r\n"
            b"Subject: A message of about three megabytes\r\n"
            b"Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n"
            b"Message-ID: <big-3mb@read-ahead.imapfs.test>\r\n"
            b"\r\n")
    lines = []
    size = len(head)
    n = 0
    while size < BIG_SIZE:
        n += 1
        line = (f"{n:08d} the quick brown fox jumps over the lazy dog "
                f"{n * 7919 % 1000003:07d}\r\n").encode()
        lines.append(line)
        size += len(line)
    return head + b"".join(lines)


def _walk_message(i):
    """Small messages of different sizes, CRLF line ends."""
    body = "".join(f"Line {j} of walk message {i}.\r\n"
                   for j in range(1 + (i * 37) % 90))
    return (f"From: Walker <walk@example.org>\r\n"
            f"To: Alice <alice@example.org>\r\n"
            f"Subject: Walk message {i}\r\n"
            f"Date: Fri, 01 Jan 2021 00:00:00 +0000\r\n"
            f"Message-ID: <walk-{i}@read-ahead.imapfs.test>\r\n"
            f"\r\n{body}").encode()


@pytest.fixture(scope="module")
def server():
    """One Dovecot for the module: a mailbox with one big message and one
    with WALK_COUNT small ones, none of them \\Seen.  Reading changes
    nothing on the server, so the tests share it; each mounts afresh,
    with a cache of its own."""
    for d in imapcheck.dovecot():
        with d.imap() as c:
            corpus.create(c, BIG_BOX)
            corpus.create(c, WALK_BOX)
            d.big_uid = corpus.append_raw(c, BIG_BOX, _big_message())
            for i in range(1, WALK_COUNT + 1):
                corpus.append_raw(c, WALK_BOX, _walk_message(i))
        yield d


@pytest.fixture(scope="module")
def check(server):
    c = ImapCheck(server)
    yield c
    c.close()


@pytest.fixture(scope="module")
def big(server, check):
    """(uid, the server's bytes) of the big message."""
    body = check.body(BIG_BOX, server.big_uid)
    assert len(body) >= 1024 * 1024 * 2
    return server.big_uid, body


@pytest.fixture(scope="module")
def walk_bodies(check):
    bodies = check.bodies(WALK_BOX)
    assert len(bodies) == WALK_COUNT
    return bodies


# -- the trace ----------------------------------------------------------------

_FETCH = re.compile(r"\bC: \S+ UID FETCH ([0-9:,]+) \((.*)\)\s*$")


def _uid_set(text):
    uids = []
    for part in text.split(","):
        lo, _, hi = part.partition(":")
        lo, hi = int(lo), int(hi or lo)
        uids.extend(range(min(lo, hi), max(lo, hi) + 1))
    return uids


def _body_fetches(log):
    """[(set text, [uids], ranged, line)] of the body fetches sent."""
    out = []
    for line in log.splitlines():
        m = _FETCH.search(line)
        if m is None:
            continue
        items = m.group(2).upper()
        if "BODY.PEEK[]" not in items and "BINARY.PEEK[]" not in items:
            continue
        ranged = re.search(r"PEEK\[\]<", items) is not None
        out.append((m.group(1), _uid_set(m.group(1)), ranged, line))
    return out


def _whole_fetches(log):
    return [f for f in _body_fetches(log) if not f[2]]


def _ranged_fetches(log):
    return [f for f in _body_fetches(log) if f[2]]


def _show(fetches):
    return "\n".join(f[3] for f in fetches) or "(no body fetches)"


def _assert_no_body_twice(log):
    whole = _whole_fetches(log)
    counts = collections.Counter(u for f in whole for u in f[1])
    twice = sorted(u for u, n in counts.items() if n > 1)
    assert not twice, \
        f"bodies fetched more than once: {twice}\n{_show(whole)}"
    return whole


# -- a proxy that holds a reply back ------------------------------------------

HOLD_MAX = 10.0


class HoldProxy(Relay):
    """Forwards plaintext IMAP between imapfs and Dovecot.  A connection
    whose client sends a command that matches pattern gets no more bytes
    from the server until release() (or HOLD_MAX seconds, after which
    timed_out is set): the reply to that command is held back, and so
    is everything after it on that connection."""

    def __init__(self, host, port, pattern):
        self.pattern = re.compile(pattern)
        self.held = threading.Event()       # a matching command was sent
        self.released = threading.Event()
        self.timed_out = False
        super().__init__(host, port)

    def new_state(self):
        return {"hold": False}

    def pump_c2s(self, src, dst, state):
        tail = b""
        while True:
            data = self.recv(src)
            if not data:
                break
            tail = (tail + data)[-4096:]
            # Before the command goes on: its reply comes after this.
            if not state["hold"] and self.pattern.search(tail):
                state["hold"] = True
                self.held.set()
            if not self.send(dst, data):
                break
        self.end(dst)

    def pump_s2c(self, src, dst, state):
        while True:
            data = self.recv(src)
            if not data:
                break
            if state["hold"] and not self.released.is_set():
                if not self.released.wait(HOLD_MAX):
                    self.timed_out = True
                    self.released.set()
            if not self.send(dst, data):
                break
        self.end(dst)

    def release(self):
        self.released.set()

    def stop(self):
        self.released.set()
        super().stop()


@pytest.fixture
def hold_whole_big(server):
    """A HoldProxy that holds back the whole body of the big message.
    Ask for it before mount: the mount is then stopped first."""
    proxy = HoldProxy("127.0.0.1", server.imap_port,
                      rb"UID FETCH %d \(UID BODY\.PEEK\[\]\)\r\n"
                      % server.big_uid)
    yield proxy
    proxy.stop()


# -- reading ------------------------------------------------------------------

def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _box(m, name):
    return os.path.join(m.path, name)


def _listed_uids(m, name):
    """The UIDs readdir lists, ascending."""
    return sorted(int(n.split(".")[0]) for n in os.listdir(_box(m, name))
                  if n.endswith(".eml"))


def _walk(m, bodies, reverse=False):
    uids = _listed_uids(m, WALK_BOX)
    assert uids == sorted(bodies)
    for uid in sorted(uids, reverse=reverse):
        f = os.path.join(_box(m, WALK_BOX), f"{uid}.eml")
        data = _read(f)
        assert data == bodies[uid], f"UID {uid} differs from the server's"
        assert os.stat(f).st_size == len(bodies[uid]), uid


def _check_walk_trace(log):
    whole = _assert_no_body_twice(log)
    batches = [f for f in whole if ":" in f[0] or "," in f[0]]
    assert batches, f"no fetch of several bodies at once:\n{_show(whole)}"
    fetched = {u for f in whole for u in f[1]}
    assert fetched <= set(range(1, WALK_COUNT + 1)), _show(whole)


# -- tests --------------------------------------------------------------------

def test_head_of_big_message_then_whole(mount, server, check, big):
    uid, expected = big
    m = mount(server, trace=True)
    f = os.path.join(_box(m, BIG_BOX), f"{uid}.eml")
    assert os.stat(f).st_size == len(expected)

    with open(f, "rb", buffering=0) as fh:
        head = fh.read(1000)
    assert head == expected[:1000]

    data = _read(f)
    assert len(data) == len(expected)
    assert data == expected
    assert os.stat(f).st_size == len(expected)

    m.stop()  # waits for the store's jobs
    log = m.log()
    ranged = [r for r in _ranged_fetches(log)
              if uid in r[1] and re.search(r"PEEK\[\]<0\.", r[3])]
    assert ranged, \
        f"no ranged fetch of UID {uid}:\n{_show(_body_fetches(log))}"
    whole = _assert_no_body_twice(log)
    assert any(uid in w[1] for w in whole), \
        f"the whole body was never fetched:\n{_show(whole)}"
    assert "\\Seen" not in check.flags(BIG_BOX, uid)


def test_head_is_served_while_whole_body_is_held(server, check, big,
                                                hold_whole_big, mount):
    """The first READ at offset 0 does not wait for the whole body: it is
    answered while the server's reply to the whole body's fetch is held
    back.  Once that arrives, the file reads whole, byte for byte."""
    uid, expected = big
    proxy = hold_whole_big
    m = mount(server, source=f"imap://{server.user}@127.0.0.1:{proxy.port}",
              trace=True)
    f = os.path.join(_box(m, BIG_BOX), f"{uid}.eml")

    start = time.monotonic()
    with open(f, "rb", buffering=0) as fh:
        head = fh.read(1000)
    took = time.monotonic() - start
    assert not proxy.timed_out, \
        f"the first read waited for the whole body ({took:.1f}s)"
    assert head == expected[:1000]
    # The whole body is on its way meanwhile (held by the proxy).
    assert proxy.held.wait(10), "the whole body was never asked for"
    proxy.release()

    assert _read(f) == expected
    assert os.stat(f).st_size == len(expected)
    m.stop()
    log = m.log()
    assert any(uid in r[1] and re.search(r"PEEK\[\]<0\.", r[3])
               for r in _ranged_fetches(log)), _show(_body_fetches(log))
    _assert_no_body_twice(log)
    assert "\\Seen" not in check.flags(BIG_BOX, uid)


def test_read_in_the_middle_of_big_message_first(mount, server, check, big):
    uid, expected = big
    m = mount(server, trace=True)
    f = os.path.join(_box(m, BIG_BOX), f"{uid}.eml")
    off = 2_000_000
    assert len(expected) > off + 1000
    fd = os.open(f, os.O_RDONLY)
    try:
        assert os.pread(fd, 1000, off) == expected[off:off + 1000]
        assert os.pread(fd, 1000, 0) == expected[:1000]
        assert os.pread(fd, 100, len(expected) - 50) == expected[-50:]
    finally:
        os.close(fd)
    assert os.stat(f).st_size == len(expected)
    assert _read(f) == expected
    m.stop()
    whole = _assert_no_body_twice(m.log())
    assert any(uid in w[1] for w in whole), _show(whole)
    assert "\\Seen" not in check.flags(BIG_BOX, uid)


def test_walk_reads_ahead_in_batches(mount, server, walk_bodies):
    m = mount(server, trace=True)
    _walk(m, walk_bodies)
    m.stop()
    _check_walk_trace(m.log())


def test_single_read_fetches_one_body(mount, server, walk_bodies):
    uid = sorted(walk_bodies)[WALK_COUNT // 2]
    m = mount(server, trace=True)
    f = os.path.join(_box(m, WALK_BOX), f"{uid}.eml")
    assert _read(f) == walk_bodies[uid]
    m.stop()  # whatever was started in the background has ended now
    fetches = _body_fetches(m.log())
    assert fetches, m.log()[-3000:]
    assert {u for f in fetches for u in f[1]} == {uid}, _show(fetches)
    assert len(_whole_fetches(m.log())) == 1, _show(fetches)


def test_backward_walk_reads_ahead_in_batches(mount, server, walk_bodies):
    m = mount(server, trace=True)
    _walk(m, walk_bodies, reverse=True)
    m.stop()
    _check_walk_trace(m.log())


def test_reading_never_sets_seen(mount, server, check, walk_bodies, big):
    # Runs last: the reads of the tests above count as well.
    m = mount(server)
    _walk(m, walk_bodies)
    uid, expected = big
    assert _read(os.path.join(_box(m, BIG_BOX), f"{uid}.eml")) == expected
    m.stop()
    for name in (WALK_BOX, BIG_BOX):
        flags = check.all_flags(name)
        assert flags, name
        seen = sorted(u for u, fl in flags.items() if "\\Seen" in fl)
        assert seen == [], f"{name}: \\Seen on {seen}"
