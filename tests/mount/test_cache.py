# SPDX-License-Identifier: GPL-2.0-or-later
"""Bodies read once are kept on disk: they survive the server going away
and a remount without being fetched again."""

import os
import re

import pytest

from mount import is_mounted, wait_for

pytestmark = pytest.mark.fuse


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _inbox_files(m, server):
    return {msg.uid: os.path.join(m.path, "INBOX", msg.filename)
            for msg in server.corpus.by_mailbox(("INBOX",))}


def test_cached_messages_survive_server_stop(mount, fresh_dovecot, helpers,
                                             oracle_for):
    expected = oracle_for(fresh_dovecot).bodies("INBOX")
    m = mount(fresh_dovecot)
    files = _inbox_files(m, fresh_dovecot)
    assert set(files) == set(expected)
    for uid, f in files.items():
        assert _read(f) == expected[uid]
    fresh_dovecot.stop()
    helpers.drop_caches()
    for uid, f in files.items():
        assert _read(f) == expected[uid], f
    assert is_mounted(m.path)


def test_cached_large_message_survives_server_stop(mount, fresh_dovecot,
                                                   helpers, oracle_for):
    msg = fresh_dovecot.corpus.messages["large"]
    expected = oracle_for(fresh_dovecot).body("INBOX", msg.uid)
    m = mount(fresh_dovecot)
    f = os.path.join(m.path, "INBOX", msg.filename)
    assert _read(f) == expected
    fresh_dovecot.stop()
    helpers.drop_caches()
    assert os.stat(f).st_size == len(expected)
    assert _read(f) == expected


def test_cached_message_attributes_survive_server_stop(mount, fresh_dovecot,
                                                       helpers):
    msg = fresh_dovecot.corpus.messages["utf8"]
    m = mount(fresh_dovecot)
    f = os.path.join(m.path, "INBOX", msg.filename)
    _read(f)
    st = os.stat(f)
    fresh_dovecot.stop()
    helpers.drop_caches()
    st2 = os.stat(f)
    assert (st2.st_size, st2.st_mtime, st2.st_ino) == \
        (st.st_size, st.st_mtime, st.st_ino)


def _fetch_lines(log):
    return [line for line in log.splitlines()
            if "C: " in line and ("BODY.PEEK" in line.upper() or
                                  "BINARY.PEEK" in line.upper())]


def _fetched_uids(log):
    """The UIDs the body fetches in a trace asked for."""
    uids = set()
    for line in _fetch_lines(log):
        m = re.search(r"UID FETCH ([0-9:,]+) ", line)
        assert m, line
        for part in m.group(1).split(","):
            lo, _, hi = part.partition(":")
            uids.update(range(int(lo), int(hi or lo) + 1))
    return uids


def test_remount_reads_from_cache_without_fetching(mount, dovecot, oracle,
                                                   tmp_path):
    cache = str(tmp_path / "cache")
    m = mount(dovecot, cache_dir=cache, trace=True)
    files = _inbox_files(m, dovecot)
    first = {uid: _read(f) for uid, f in files.items()}
    m.stop()
    # The trace shows fetches, so their absence below means something.
    assert _fetch_lines(m.log()), m.log()[-3000:]

    m2 = mount(dovecot, cache_dir=cache, trace=True)
    files = _inbox_files(m2, dovecot)
    second = {uid: _read(f) for uid, f in files.items()}
    m2.stop()
    assert second == first == oracle.bodies("INBOX")
    log = m2.log()
    assert any("C: " in line for line in log.splitlines()), log[-3000:]
    assert _fetch_lines(log) == []


def test_remount_fetches_only_what_was_not_read(mount, dovecot, tmp_path):
    cache = str(tmp_path / "cache")
    msgs = dovecot.corpus.by_mailbox(("INBOX",))
    # One read is no walk through the mailbox: nothing is fetched ahead.
    read_before, unread = msgs[:1], msgs[1:]
    m = mount(dovecot, cache_dir=cache)
    for msg in read_before:
        _read(os.path.join(m.path, "INBOX", msg.filename))
    m.stop()

    m2 = mount(dovecot, cache_dir=cache, trace=True)
    for msg in read_before:
        _read(os.path.join(m2.path, "INBOX", msg.filename))
    _read(os.path.join(m2.path, "INBOX", unread[0].filename))
    m2.stop()
    # Reading on from the cached ones may fetch the next ones ahead
    # (docs/DESIGN.md, "Reading ahead"), never a cached one again.
    fetched = _fetched_uids(m2.log())
    assert unread[0].uid in fetched, m2.log()[-3000:]
    assert not fetched & {msg.uid for msg in read_before}, fetched


def test_bodies_are_kept_in_cache_dir(mount, dovecot, tmp_path):
    cache = tmp_path / "cache"
    m = mount(dovecot, cache_dir=str(cache))
    msg = dovecot.corpus.messages["large"]
    _read(os.path.join(m.path, "INBOX", msg.filename))

    def cached_bytes():
        return sum(os.path.getsize(os.path.join(top, n))
                   for top, _, names in os.walk(cache) for n in names)
    wait_for(lambda: cached_bytes() >= len(msg.data), 10,
             what="the body in cache_dir")


def test_cache_max_bounds_the_cache(mount, dovecot, oracle_for, tmp_path):
    """-o cache_max: bodies beyond the bound are evicted, least recently
    used first, and an evicted body is fetched again, byte for byte."""
    expected = oracle_for(dovecot).bodies("INBOX")
    small = {uid: body for uid, body in expected.items()
             if len(body) < 20_000}
    assert len(small) >= 5
    bound = 3 * max(len(b) for b in small.values()) + 3 * 128
    cache = tmp_path / "bounded"
    m = mount(dovecot, cache_dir=str(cache),
              options=[f"cache_max={bound}"])
    files = _inbox_files(m, dovecot)

    def bodies_bytes():
        top = cache / "bodies"
        return sum(os.path.getsize(os.path.join(d, n))
                   for d, _, names in os.walk(top) for n in names)
    for _ in range(2):
        for uid, body in small.items():
            assert _read(files[uid]) == body
            assert bodies_bytes() <= bound
    assert 0 < bodies_bytes() <= bound
