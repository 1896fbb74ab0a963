# SPDX-License-Identifier: GPL-2.0-or-later
"""cache_max bounds what is written: a body larger than half of it is served
but never kept, and pushes no other body out.  And a body torn on disk (as
by a power cut) is never served: it is fetched again."""

import os

import pytest

from cachedir import cached_bodies
from corpus import append_raw

pytestmark = pytest.mark.fuse

SMALL = 10_000
LARGE = 300_000
BOUND = 200_000     # the smalls fit easily; LARGE is over half of it


def _message(n, size):
    head = (f"From: a@example.com\r\nTo: b@example.com\r\n"
            f"Subject: message {n}\r\nMessage-ID: <{n}@example.com>\r\n"
            f"\r\n").encode()
    line = f"line of message {n} ".encode().ljust(76, b"x") + b"\r\n"
    # Whole CRLF lines, so that the server keeps the bytes as they are.
    return head + line * ((size - len(head)) // len(line))


def _fill(server, sizes):
    """{uid: bytes} of messages of these sizes APPENDed to INBOX."""
    client = server.imap()
    try:
        return {append_raw(client, "INBOX", data): data
                for data in (_message(n, size)
                             for n, size in enumerate(sizes))}
    finally:
        client.logout()


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _files_under(path):
    return sorted(os.path.join(top, n)
                  for top, _, names in os.walk(path) for n in names)


def test_large_body_is_served_but_not_kept(mount, dovecot_factory, tmp_path):
    server = dovecot_factory(fill=False)
    messages = _fill(server, [SMALL] * 4 + [LARGE])
    *small_uids, large_uid = sorted(messages)
    cache = tmp_path / "cache"
    m = mount(server, cache_dir=str(cache), options=[f"cache_max={BOUND}"])
    inbox = os.path.join(m.path, "INBOX")

    for uid in small_uids:
        assert _read(os.path.join(inbox, f"{uid}.eml")) == messages[uid]
    kept = _files_under(cache / "bodies")
    assert len(kept) == len(small_uids)

    with open(os.path.join(inbox, f"{large_uid}.eml"), "rb") as f:
        assert f.read() == messages[large_uid]
        # Not kept, not even under a temporary name while it is open.
        assert _files_under(cache / "bodies") == kept
        assert _files_under(cache / "tmp") == []
    # Read again: right again (fetched again, as it was not kept).
    assert _read(os.path.join(inbox, f"{large_uid}.eml")) == \
        messages[large_uid]
    assert _files_under(cache / "bodies") == kept

    # The small bodies were not pushed out: they are still served with
    # the server gone.
    server.stop()
    for uid in small_uids:
        assert _read(os.path.join(inbox, f"{uid}.eml")) == messages[uid]


def test_torn_body_is_fetched_again(mount, dovecot_factory, tmp_path):
    server = dovecot_factory(fill=False)
    messages = _fill(server, [SMALL, SMALL])
    cache = tmp_path / "cache"
    m = mount(server, cache_dir=str(cache))
    for uid, data in messages.items():
        assert _read(os.path.join(m.path, "INBOX", f"{uid}.eml")) == data
    m.stop()

    # What a power cut can leave: header and size right, blocks zeroed
    # (which, in a pack, zeroes the headers of the later records too).
    files = _files_under(cache / "bodies")
    assert sorted(cached_bodies(cache)) == sorted(messages.values())
    for path in files:
        size = os.path.getsize(path)
        with open(path, "r+b") as f:
            f.seek(128)
            f.write(bytes(size - 128))
        assert os.path.getsize(path) == size

    m2 = mount(server, cache_dir=str(cache))
    for uid, data in messages.items():
        assert _read(os.path.join(m2.path, "INBOX", f"{uid}.eml")) == data
    m2.stop()

    # And what was fetched again is kept, whole: a third mount serves it
    # with the server gone.
    m3 = mount(server, cache_dir=str(cache))
    listing = os.listdir(os.path.join(m3.path, "INBOX"))
    server.stop()
    assert sorted(listing) == sorted(f"{uid}.eml" for uid in messages)
    for uid, data in messages.items():
        assert _read(os.path.join(m3.path, "INBOX", f"{uid}.eml")) == data
