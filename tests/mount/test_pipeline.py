# SPDX-License-Identifier: GPL-2.0-or-later
"""Reading ahead pipelines its batches on one connection (docs/DESIGN.md,
"Reading ahead").

With a single connection, a walk through a mailbox sends its next batch
of bodies while the server has not yet finished answering the last one,
instead of waiting for each tagged OK.  A proxy between imapfs and Dovecot
holds back the tagged completion of the first batch: the walk can only go
on if the next UID FETCH goes out before it, on the same connection.  The
bytes read are checked against the server's, fetched with imaplib.
"""

import os
import re
import threading

import pytest

import imapcheck
from cutproxy import Framer
from relay import Relay

pytestmark = pytest.mark.fuse

BOX = "Pipelined"
COUNT = 80
HOLD_MAX = 10.0

_BODY_FETCH = re.compile(rb"^(\S+) UID FETCH (\S+) \(UID BODY\.PEEK\[\]\)\r\n",
                         re.IGNORECASE)


def _message(i):
    return imapcheck.walk_message(i, "pipelined", 1 + (i * 13) % 40)


def _is_batch(match):
    return re.search(rb"[:,]", match.group(2)) is not None


def _forward_body_fetches(relay, src, dst, on_fetch):
    """Forwards what the client sends until it ends, calling
    on_fetch(line, match) for each body fetch command before it goes."""
    framer = Framer()
    while True:
        data = relay.recv(src)
        if not data:
            break
        for kind, unit, first in framer.feed(data):
            m = _BODY_FETCH.match(unit) if kind == "line" and first \
                else None
            if m is not None:
                on_fetch(unit, m)
        if not relay.send(dst, data):
            break


class CompletionHoldProxy(Relay):
    """Forwards plaintext IMAP.  On each connection, the tagged completion
    of the second body fetch of several UIDs (the walk is under way by
    then), and everything after it, is held back until the client sends
    another body fetch on that connection or HOLD_MAX seconds pass (then
    `timed_out` is set).  `pipelined` is set when a body fetch is sent
    while an earlier one on its connection is unanswered."""

    def __init__(self, host, port):
        self.pipelined = threading.Event()
        self.timed_out = False
        self.commands = []          # body fetch lines, as sent
        super().__init__(host, port)

    def new_state(self):
        # tag: the command whose completion is held; go: release it;
        # open: the tags of body fetches not answered yet.
        return {"tag": None, "go": threading.Event(), "open": set()}

    def pump_c2s(self, src, dst, state):
        batches = 0

        def on_fetch(unit, m):
            nonlocal batches
            with self._lock:
                self.commands.append(unit)
                if state["open"]:
                    self.pipelined.set()
                    state["go"].set()
                state["open"].add(m.group(1))
            if _is_batch(m):
                batches += 1
                if batches == 2:
                    state["tag"] = m.group(1)

        _forward_body_fetches(self, src, dst, on_fetch)
        state["go"].set()
        self.end(dst)

    def pump_s2c(self, src, dst, state):
        framer = Framer()
        holding = False
        held = []
        while True:
            data = self.recv(src)
            if not data:
                break
            out = []
            for kind, unit, first in framer.feed(data):
                if (not holding and kind == "line" and first and
                        state["tag"] is not None and
                        not state["go"].is_set() and
                        unit.startswith(state["tag"] + b" ")):
                    holding = True
                if holding:
                    held.append(unit)
                    continue
                out.append(unit)
                if kind == "line" and first:    # answered, as it leaves
                    with self._lock:
                        state["open"].discard(unit.split(b" ", 1)[0])
            if holding and not state["go"].is_set():
                if out and not self.send(dst, b"".join(out)):
                    break
                out = []
                if not state["go"].wait(HOLD_MAX):
                    self.timed_out = True
                    state["go"].set()
            if holding:
                with self._lock:
                    state["open"].discard(state["tag"])
                out = held + out
                held = []
                holding = False
            if not self.send(dst, b"".join(out)):
                break
        self.end(dst)


@pytest.fixture(scope="module")
def server():
    yield from imapcheck.dovecot_with_mailbox(
        BOX, (_message(i) for i in range(1, COUNT + 1)))


@pytest.fixture(scope="module")
def bodies(server):
    return imapcheck.mailbox_bodies(server, BOX, COUNT)


@pytest.fixture
def proxy(server):
    """Ask for it before mount: the mount is then stopped first."""
    p = CompletionHoldProxy("127.0.0.1", server.imap_port)
    yield p
    p.stop()


def test_walk_sends_next_batch_before_last_one_ends(server, bodies, proxy,
                                                    mount):
    m = mount(server, source=f"imap://{server.user}@127.0.0.1:{proxy.port}",
              options=("connections=1",))
    box = os.path.join(m.path, BOX)
    uids = sorted(int(n.split(".")[0]) for n in os.listdir(box))
    assert uids == sorted(bodies)
    for uid in uids:
        with open(os.path.join(box, f"{uid}.eml"), "rb") as f:
            assert f.read() == bodies[uid], f"UID {uid} differs"
    assert proxy.pipelined.is_set(), \
        "no body fetch was sent while an earlier one was unanswered:\n" + \
        "\n".join(c.decode(errors="replace").strip()
                  for c in proxy.commands)
    assert not proxy.timed_out
    m.stop()



class BatchWatch(Relay):
    """Forwards plaintext IMAP.  The tagged completion of a body fetch of
    several UIDs (a batch) is held back until another batch goes out, on
    any connection, or HOLD_MAX seconds pass: a walk then has to ask for
    its next batch while the last is unanswered.  `overlaps` notes each
    batch that goes out on one connection while another connection has
    one unanswered."""

    def __init__(self, host, port):
        self.open = {}          # connection number -> {tag: batch number}
        self.batches = 0
        self.overlaps = []
        self._sent = threading.Condition()
        self._released = False
        self._next = 0
        super().__init__(host, port)

    def release(self):
        """Holds nothing back from now on."""
        with self._sent:
            self._released = True
            self._sent.notify_all()

    def new_state(self):
        with self._lock:
            self._next += 1
            self.open[self._next] = {}
            return {"conn": self._next}

    def pump_c2s(self, src, dst, state):
        def on_fetch(unit, m):
            if not _is_batch(m):
                return
            with self._lock:
                busy = [c for c, tags in self.open.items()
                        if tags and c != state["conn"]]
                if busy:
                    self.overlaps.append((state["conn"], busy))
                with self._sent:
                    self.batches += 1
                    self.open[state["conn"]][m.group(1)] = self.batches
                    self._sent.notify_all()

        _forward_body_fetches(self, src, dst, on_fetch)
        self.end(dst)

    def pump_s2c(self, src, dst, state):
        framer = Framer()
        while True:
            data = self.recv(src)
            if not data:
                break
            out = []
            for kind, unit, first in framer.feed(data):
                if kind == "line" and first:
                    tag = unit.split(b" ", 1)[0]
                    with self._lock:
                        number = self.open[state["conn"]].get(tag)
                    if number is not None:
                        if out and not self.send(dst, b"".join(out)):
                            return self.end(dst)
                        out = []
                        with self._sent:
                            self._sent.wait_for(
                                lambda: self._released or
                                self.batches > number, HOLD_MAX)
                        with self._lock:
                            del self.open[state["conn"]][tag]
                out.append(unit)
            if not self.send(dst, b"".join(out)):
                break
        self.end(dst)


def test_walk_streams_on_one_connection(server, bodies, mount):
    """With three connections a walk still fetches ahead on one at a time,
    its next batch pipelined behind the last: on two CPUs a cold grep -r
    took 0.7x the time on one connection that it took spread over three
    (docs/DESIGN.md, "Reading ahead"), and the other connections stay
    free for other readers."""
    watch = BatchWatch("127.0.0.1", server.imap_port)
    try:
        m = mount(server,
                  source=f"imap://{server.user}@127.0.0.1:{watch.port}",
                  options=("connections=3",))
        box = os.path.join(m.path, BOX)
        uids = sorted(int(n.split(".")[0]) for n in os.listdir(box))
        assert uids == sorted(bodies)
        for uid in uids:
            with open(os.path.join(box, f"{uid}.eml"), "rb") as f:
                assert f.read() == bodies[uid], f"UID {uid} differs"
        watch.release()
        m.stop()
    finally:
        watch.release()
        watch.stop()
    assert watch.batches >= 3
    assert not watch.overlaps, watch.overlaps
