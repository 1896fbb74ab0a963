# SPDX-License-Identifier: GPL-2.0-or-later
"""A large message copied in is staged on disk and streamed to the server
(imapfs(1), "Copying messages in"): the daemon's memory does not grow with
it, and the server gets every byte, line ends made CRLF."""

import hashlib
import os
import shutil

import pytest


def _peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


@pytest.mark.timeout(300)
def test_fifty_megabytes_cost_no_fifty_megabytes_of_memory(
        dovecot_factory, mount, tmp_path):
    # Without TLS: under AddressSanitizer, which holds freed memory back
    # for a while, GnuTLS's buffer for each record it sends would count
    # as growth (a normal build stays flat either way).
    server = dovecot_factory(fill=False, ssl=False)
    m = mount(server, "plaintext")
    # 50 MB of LF-terminated lines, different from each other.
    src = tmp_path / "big.eml"
    line_count = 0
    with open(src, "wb") as f:
        f.write(b"Subject: big\nMessage-ID: <big@imapfs.test>\n\n")
        size = f.tell()
        i = 0
        while size < 50 * 1024 * 1024:
            line = b"%08d %s\n" % (i, b"abcdefghij" * 7)
            f.write(line)
            size += len(line)
            i += 1
        line_count = i + 3
    expected = hashlib.sha256(
        src.read_bytes().replace(b"\n", b"\r\n")).hexdigest()
    inbox = os.path.join(m.path, "INBOX")
    os.listdir(inbox)
    before = _peak_rss_kib(m.pid)
    shutil.copyfile(src, os.path.join(inbox, "big.eml"))
    grown = _peak_rss_kib(m.pid) - before
    assert grown < 20 * 1024, f"peak RSS grew by {grown} KiB"

    c = server.imap()
    c.select("INBOX", readonly=True)
    typ, data = c.uid("SEARCH", "ALL")
    uids = data[0].split()
    assert len(uids) == 1
    typ, data = c.uid("FETCH", uids[0], "(RFC822.SIZE BODY.PEEK[])")
    body = data[0][1]
    assert len(body) == size + line_count
    assert hashlib.sha256(body).hexdigest() == expected
    c.logout()
