# SPDX-License-Identifier: GPL-2.0-or-later
"""A stop signal while readers keep the daemon busy ends it promptly.

The pusher hands the kernel the pages of messages ahead of a walk
(FUSE_NOTIFY_STORE), and the kernel makes it wait for a page that a READ
keeps locked until it is answered.  libfuse's own signal handlers ended
the request loop at once: a READ still queued was never answered, the
pusher waited in the kernel for ever, and neither the daemon (not even
with SIGKILL) nor its readers could end (docs/DESIGN.md, "Stopping").

Each round remounts -o ro over a full cache, so that the pusher is busy,
starts rg and grep -r, and sends SIGTERM once grep is some way in.  No
one round is certain to hit the race: the build before the fix hung in
one round of six in one try, and in both of two in another.
"""

import os
import shutil
import signal
import subprocess

import pytest

import corpus
import imapcheck
from mount import Mount, abort_connection, daemon_env, is_mounted, \
    unmount, wait_for

pytestmark = pytest.mark.fuse

MESSAGES = 3000
ROUNDS = 6
EXIT_WAIT = 20


def _message(i):
    # corpus.bulk() writes Dovecot's own LF line ends.
    return imapcheck.walk_message(i, "stopped", 20 + (i * 7) % 60) \
        .replace(b"\r\n", b"\n")


@pytest.fixture(scope="module")
def server():
    for d in imapcheck.dovecot():
        d.box = corpus.bulk(d, MESSAGES, mailbox=("Stopped",),
                            message=_message)
        yield d


def _reading_uid(pid, box):
    """The UID of the message process pid has open in box, or 0."""
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith(box + "/") and target.endswith(".eml"):
                return int(os.path.basename(target)[:-4])
    except (OSError, ValueError):
        pass
    return 0


def _mount(server, tmp_path, mnt, extra):
    passfile = tmp_path / "pass"
    passfile.write_text(server.password + "\n")
    passfile.chmod(0o600)
    return Mount(f"imap://{server.user}@127.0.0.1:{server.imap_port}", mnt,
                 [f"passfile={passfile}", f"cache_dir={tmp_path / 'cache'}",
                  "timeout=10", "plaintext"] + extra,
                 env=daemon_env(), log_path=str(tmp_path / "imapfs.log"))


def test_stop_signal_while_pages_are_handed_over(server, tmp_path):
    if not shutil.which("rg"):
        pytest.skip("rg is missing (scripts/test installs it)")
    mnt = str(tmp_path / "mnt")
    os.makedirs(mnt)
    box = os.path.join(mnt, server.box)
    m = _mount(server, tmp_path, mnt, [])
    m.start()
    try:     # fills the cache
        subprocess.run(["grep", "-rlq", "no such word", box],
                       stdout=subprocess.DEVNULL)
    finally:
        assert m.stop() == 0
    hung = []
    for n in range(ROUNDS):
        m = _mount(server, tmp_path, mnt, ["ro"])
        m.start()
        readers = [
            subprocess.Popen(["rg", "-l", "-j", "4", "no such word", box],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL),
            subprocess.Popen(["grep", "-rl", "no such word", box],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)]
        try:
            # Later in each round, so that the rounds stop the walk at
            # different points.
            wait_for(lambda: _reading_uid(readers[1].pid, box) >=
                     100 + 150 * n or readers[1].poll() is not None, 30,
                     interval=0.005, what="grep to be under way")
            m.proc.send_signal(signal.SIGTERM)
            try:
                m.returncode = m.proc.wait(EXIT_WAIT)
            except subprocess.TimeoutExpired:
                hung.append(n)
                abort_connection(mnt)
                m.proc.kill()
                m.returncode = m.proc.wait(EXIT_WAIT)
            else:
                assert m.returncode == 1, \
                    f"round {n}: exit status {m.returncode}:\n{m.log()}"
                assert not is_mounted(mnt), f"round {n}: still mounted"
            for r in readers:
                r.wait(EXIT_WAIT)
            assert not m.bug_reports(), m.bug_reports()
        finally:
            for r in readers:
                if r.poll() is None:
                    r.kill()
                    r.wait()
            if is_mounted(mnt):
                abort_connection(mnt)
                unmount(mnt)
    assert not hung, f"the daemon did not exit within {EXIT_WAIT} s " \
        f"of SIGTERM in rounds {hung} of {ROUNDS}"
