# SPDX-License-Identifier: GPL-2.0-or-later
"""A daemon killed (kill -9) while a walk fills its cache, and a cache
left torn as a power cut can leave it, never give a wrong or short body
after a remount: whatever is not whole is fetched again (docs/DESIGN.md,
"Cache").  The bytes read are checked against the server's, fetched with
imaplib."""

import os
import signal
import threading

import pytest

import imapcheck
from cachedir import HEADER_SIZE, cached_bodies, pack_records
from mount import wait_for

pytestmark = pytest.mark.fuse

BOX = "Crashy"
COUNT = 400


def _message(i):
    return imapcheck.walk_message(i, "crash", 1 + (i * 37) % 400)


@pytest.fixture(scope="module")
def server():
    yield from imapcheck.dovecot_with_mailbox(
        BOX, (_message(i) for i in range(1, COUNT + 1)))


@pytest.fixture(scope="module")
def bodies(server):
    return imapcheck.mailbox_bodies(server, BOX, COUNT)


def _walk(box, uids, stop):
    for uid in uids:
        if stop.is_set():
            return
        try:
            with open(os.path.join(box, f"{uid}.eml"), "rb") as f:
                f.read()
        except OSError:
            return          # the daemon is gone


def _packs(cache):
    return sorted(os.path.join(top, n)
                  for top, _, names in os.walk(os.path.join(cache, "bodies"))
                  for n in names if n.startswith("pack-"))


def _read_all(m, bodies):
    box = os.path.join(m.path, BOX)
    for uid in sorted(bodies):
        with open(os.path.join(box, f"{uid}.eml"), "rb") as f:
            assert f.read() == bodies[uid], f"UID {uid} differs"


def test_killed_while_caching(server, bodies, mount, tmp_path):
    cache = str(tmp_path / "cache")
    m = mount(server, cache_dir=cache)
    box = os.path.join(m.path, BOX)
    stop = threading.Event()
    walker = threading.Thread(target=_walk,
                              args=(box, sorted(bodies), stop))
    walker.start()
    try:
        # Killed with part of the mailbox cached.
        wait_for(lambda: len(cached_bodies(cache)) >= COUNT // 4, 30,
                 what="a quarter of the bodies in the cache")
        os.kill(m.pid, signal.SIGKILL)
    finally:
        stop.set()
        walker.join(30)
    m.stop()
    # Killed on purpose: not one of the exits the fixture reports.
    assert m.returncode == -signal.SIGKILL
    mount.mounts.remove(m)
    assert cached_bodies(cache)

    m2 = mount(server, cache_dir=cache)
    _read_all(m2, bodies)
    m2.stop()


def test_torn_packs_are_fetched_again(server, bodies, mount, tmp_path):
    cache = str(tmp_path / "cache")
    m = mount(server, cache_dir=cache)
    _read_all(m, bodies)
    m.stop()
    packs = _packs(cache)
    assert packs, "no pack was written"

    # The last pack cut inside a record; in another, a record's body
    # zeroed under a good header, and the header after it zeroed too.
    records = pack_records(packs[-1])
    assert len(records) >= 3
    _, start, length = records[len(records) // 2]
    os.truncate(packs[-1], start + length // 2)
    records = pack_records(packs[0])
    assert len(records) >= 3
    _, start, length = records[1]
    with open(packs[0], "r+b") as f:
        f.seek(start)
        f.write(bytes(length + HEADER_SIZE))

    m2 = mount(server, cache_dir=cache)
    _read_all(m2, bodies)
    m2.stop()
    # And what was fetched again is kept, whole.
    kept = set(cached_bodies(cache))
    assert all(body in kept for body in bodies.values())
