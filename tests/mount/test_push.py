# SPDX-License-Identifier: GPL-2.0-or-later
"""Pages handed to the kernel before a reader asks (docs/DESIGN.md,
"Handing pages to the kernel").

A walk through a mailbox whose bodies are cached (after a remount, or
fetched ahead) gets the next messages' pages from the daemon unasked.  The
bytes a reader gets must still be the server's (asked for by imaplib), with
st_size their length, on writable and read-only mounts, up and down the
UIDs; the daemon's log (-o verbose) shows that pages were handed over.
"""

import os

import pytest

import imapcheck

pytestmark = pytest.mark.fuse

BOX = "Pushed"
COUNT = 300


def _message(i):
    return imapcheck.walk_message(i, "pushed", 1 + (i * 53) % 150)


@pytest.fixture(scope="module")
def server():
    yield from imapcheck.dovecot_with_mailbox(
        BOX, (_message(i) for i in range(1, COUNT + 1)))


@pytest.fixture(scope="module")
def bodies(server):
    return imapcheck.mailbox_bodies(server, BOX, COUNT)


def _walk(m, bodies, reverse=False):
    box = os.path.join(m.path, BOX)
    uids = sorted(int(n.split(".")[0]) for n in os.listdir(box))
    assert uids == sorted(bodies)
    for uid in sorted(uids, reverse=reverse):
        path = os.path.join(box, f"{uid}.eml")
        with open(path, "rb") as f:
            assert f.read() == bodies[uid], f"UID {uid}"
        assert os.stat(path).st_size == len(bodies[uid]), uid


def _handed_over(log):
    return sum(int(line.split("pages of ")[1].split()[0])
               for line in log.splitlines()
               if "handed to the kernel" in line)


@pytest.mark.parametrize("reverse", [False, True], ids=["up", "down"])
@pytest.mark.parametrize("extra", [[], ["ro"]], ids=["rw", "ro"])
def test_walk_after_remount(mount, server, bodies, tmp_path, extra,
                            reverse):
    cache = str(tmp_path / "cache")
    m = mount(server, cache_dir=cache, options=extra)
    _walk(m, bodies, reverse)
    m.stop()
    m = mount(server, cache_dir=cache, options=extra + ["verbose"])
    _walk(m, bodies, reverse)
    # Twice: the second walk reads the pages the kernel kept.
    _walk(m, bodies, not reverse)
    m.stop()
    assert _handed_over(m.log()) > COUNT // 2, m.log()[-3000:]


def test_walk_while_fetching_ahead(mount, server, bodies, tmp_path):
    m = mount(server, cache_dir=str(tmp_path / "cache"),
              options=["verbose"])
    _walk(m, bodies)
    m.stop()
    assert _handed_over(m.log()) > 0, m.log()[-3000:]
