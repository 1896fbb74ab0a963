# SPDX-License-Identifier: GPL-2.0-or-later
"""Mount-time failures say what failed in one line; a mount with -o ro
refuses every change; a server that goes away or hangs never makes the
filesystem hang."""

import base64
import errno
import os
import re
import signal
import socket
import time

import pytest

from mount import is_mounted, wait_for

pytestmark = pytest.mark.fuse


# -- mount-time failures ------------------------------------------------------

def test_imaps_untrusted_certificate(mount, dovecot):
    line = mount.expect_failure(dovecot, "imaps", without=["cafile"])
    assert "certificate" in line.lower()


def test_starttls_untrusted_certificate(mount, dovecot):
    line = mount.expect_failure(dovecot, "starttls", without=["cafile"])
    assert "certificate" in line.lower()


def test_certificate_for_another_host(mount, dovecot_factory):
    server = dovecot_factory(fill=False, cert_names=("mail.example.com",))
    line = mount.expect_failure(server, "imaps")
    assert re.search(r"certificate|host ?name", line, re.I), line


def test_no_starttls_is_refused(mount, plain_dovecot):
    line = mount.expect_failure(plain_dovecot, "starttls",
                                without=["cafile"])
    assert "starttls" in line.lower()


def test_no_credentials_sent_without_starttls(mount, plain_dovecot):
    before = len(plain_dovecot.log_text())
    mount.expect_failure(plain_dovecot, "starttls", without=["cafile"])
    # Dovecot logs every disconnect, login and failed authentication.
    wait_for(lambda: "Disconnected" in plain_dovecot.log_text()[before:], 10,
             what="Dovecot to log the disconnect")
    log = plain_dovecot.log_text()[before:]
    assert "imap-login: Info: Login:" not in log, log
    assert "auth failed" not in log, log


def test_wrong_password(mount, dovecot_factory, tmp_path, helpers):
    # A server of its own: Dovecot delays logins after a failure.
    server = dovecot_factory(fill=False)
    pf = helpers.write_passfile(tmp_path / "wrong", "not-" + server.password)
    line = mount.expect_failure(server, "starttls", passfile=pf)
    assert re.search(r"authenticat|login", line, re.I), line
    assert server.password not in line


def test_wrong_password_not_traced(mount, dovecot_factory, tmp_path,
                                   helpers):
    server = dovecot_factory(fill=False)
    wrong = "not-" + server.password
    pf = helpers.write_passfile(tmp_path / "wrong", wrong)
    err = mount.expect_failure(server, "starttls", passfile=pf,
                               trace=True, one_line=False)
    assert "C: " in err
    for secret in (wrong, base64.b64encode(wrong.encode()).decode(),
                   base64.b64encode(f"\0{server.user}\0{wrong}"
                                    .encode()).decode()):
        assert secret not in err


def test_connection_refused(mount, dovecot):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Nothing listens on port now.
    start = time.monotonic()
    line = mount.expect_failure(
        dovecot, "imaps", source=f"imaps://{dovecot.user}@127.0.0.1:{port}")
    assert time.monotonic() - start < 15
    assert re.search(r"connect|refused|unreachable", line, re.I), line


def test_passfile_readable_by_others_is_refused(mount, dovecot, tmp_path,
                                                helpers):
    pf = helpers.write_passfile(tmp_path / "open", dovecot.password)
    os.chmod(pf, 0o644)
    line = mount.expect_failure(dovecot, "starttls", passfile=pf)
    assert dovecot.password not in line


def test_missing_passfile(mount, dovecot, tmp_path):
    # expect_failure checks the status and the one line.
    mount.expect_failure(dovecot, "starttls",
                         passfile=str(tmp_path / "nonexistent"))


def test_tunnel_that_exits(mount, dovecot):
    mount.expect_failure(dovecot, "tunnel", options=["tunnel=/bin/false"])


def test_tunnel_that_is_not_imap(mount, dovecot):
    mount.expect_failure(dovecot, "tunnel", options=["tunnel=echo hello"])


def test_silent_server_times_out(mount, dovecot):
    # Accepts the connection, never says a word.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(5)
        port = s.getsockname()[1]
        start = time.monotonic()
        mount.expect_failure(
            dovecot, "imaps", options=["timeout=3"],
            source=f"imaps://{dovecot.user}@127.0.0.1:{port}")
        elapsed = time.monotonic() - start
    assert elapsed < 3 * 2 + 5, f"took {elapsed:.1f}s with timeout=3"


# -- a read-only mount --------------------------------------------------------
# (What a writable mount does with changes is in test_write_*.py, against
# servers of their own: these use the shared server, so they mount it
# with -o ro, where the kernel refuses every change.)

def _erofs(fn, *args):
    with pytest.raises(OSError) as e:
        fn(*args)
    assert e.value.errno == errno.EROFS, e.value


@pytest.fixture
def ro_mounted(mount, dovecot):
    return mount(dovecot, options=["ro"])


@pytest.fixture
def inbox(ro_mounted, dovecot):
    return os.path.join(ro_mounted.path, "INBOX")


@pytest.fixture
def message(inbox, dovecot):
    return os.path.join(inbox, dovecot.corpus.messages["plain"].filename)


def test_open_for_writing_is_erofs(message):
    _erofs(open, message, "r+b")


def test_open_for_appending_is_erofs(message):
    _erofs(open, message, "ab")


def test_truncate_is_erofs(message):
    _erofs(os.truncate, message, 0)


def test_create_file_is_erofs(inbox):
    _erofs(open, os.path.join(inbox, "new.eml"), "wb")
    assert not os.path.exists(os.path.join(inbox, "new.eml"))


def test_mkdir_is_erofs(ro_mounted):
    _erofs(os.mkdir, os.path.join(ro_mounted.path, "NewBox"))


def test_mkdir_in_mailbox_is_erofs(inbox):
    _erofs(os.mkdir, os.path.join(inbox, "Sub"))


def test_rmdir_is_erofs(ro_mounted):
    _erofs(os.rmdir, os.path.join(ro_mounted.path, "Junk"))


def test_unlink_is_erofs(message):
    _erofs(os.unlink, message)
    assert os.path.exists(message)


def test_rename_message_is_erofs(ro_mounted, message):
    _erofs(os.rename, message, os.path.join(ro_mounted.path, "Junk",
                                            "1.eml"))


def test_rename_mailbox_is_erofs(ro_mounted):
    _erofs(os.rename, os.path.join(ro_mounted.path, "Junk"),
           os.path.join(ro_mounted.path, "Spam"))


def test_symlink_is_erofs(inbox):
    _erofs(os.symlink, "1.eml", os.path.join(inbox, "link"))


def test_link_is_erofs(inbox, message):
    _erofs(os.link, message, os.path.join(inbox, "hard.eml"))


def test_chmod_is_erofs(message):
    _erofs(os.chmod, message, 0o644)


def test_utime_is_erofs(message):
    _erofs(os.utime, message, (0, 0))


def test_failed_changes_leave_server_unchanged(ro_mounted, oracle, message,
                                               inbox):
    assert os.path.isfile(message)
    # Dovecot's LIST adds \UnMarked to a mailbox once it has been opened:
    # open them all before looking.
    oracle.all_messages()
    before = (oracle.mailboxes(), oracle.all_messages())
    for fn, args in ((os.unlink, (message,)),
                     (os.mkdir, (os.path.join(inbox, "X"),)),
                     (os.rmdir, (os.path.join(ro_mounted.path, "Junk"),))):
        with pytest.raises(OSError):
            fn(*args)
    assert (oracle.mailboxes(), oracle.all_messages()) == before


# -- the server goes away -----------------------------------------------------

_EIO_LIKE = (errno.EIO, errno.ETIMEDOUT, errno.ENOTCONN)


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _large(m, server):
    # Not touched before the server goes: imapfs may fetch a body on
    # lookup to learn its exact size.
    return os.path.join(m.path, "INBOX",
                        server.corpus.messages["large"].filename)


def _uncached_read_fails_in_time(m, server):
    """Reading a message that is not cached fails with an EIO-like error,
    well within the bound that -o timeout=3 sets."""
    start = time.monotonic()
    with pytest.raises(OSError) as e:
        _read(_large(m, server))
    elapsed = time.monotonic() - start
    assert e.value.errno in _EIO_LIKE, e.value
    assert elapsed < 3 * 2 + 5, f"took {elapsed:.1f}s with timeout=3"
    assert m.proc.poll() is None


def test_uncached_read_fails_when_server_stops(mount, fresh_dovecot):
    m = mount(fresh_dovecot, options=["timeout=3"])
    fresh_dovecot.stop()
    _uncached_read_fails_in_time(m, fresh_dovecot)
    assert is_mounted(m.path)


def _instance_pids(server):
    """The master of a Dovecot instance and all its children."""
    master = server.pid
    pids = {master}
    changed = True
    while changed:
        changed = False
        for d in os.listdir("/proc"):
            if not d.isdigit() or int(d) in pids:
                continue
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid in pids:
                pids.add(int(d))
                changed = True
    return pids


@pytest.fixture
def frozen(fresh_dovecot):
    """freeze() stops every process of fresh_dovecot with SIGSTOP; they
    continue after the test."""
    stopped = []

    def freeze():
        for pid in _instance_pids(fresh_dovecot):
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)
    yield freeze
    for pid in stopped:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


def test_uncached_read_fails_when_server_hangs(mount, fresh_dovecot, frozen):
    m = mount(fresh_dovecot, options=["timeout=3"])
    frozen()
    _uncached_read_fails_in_time(m, fresh_dovecot)


def test_unmount_works_while_server_hangs(mount, fresh_dovecot, frozen):
    m = mount(fresh_dovecot, options=["timeout=3"])
    os.listdir(os.path.join(m.path, "INBOX"))
    frozen()
    start = time.monotonic()
    m.stop()
    assert time.monotonic() - start < 15
    assert not is_mounted(m.path)
    assert m.returncode == 0 and not m.forced, m.log()[-3000:]


def test_unmount_works_after_server_stopped(mount, fresh_dovecot):
    m = mount(fresh_dovecot, options=["timeout=3"])
    os.listdir(os.path.join(m.path, "INBOX"))
    fresh_dovecot.stop()
    m.stop()
    assert not is_mounted(m.path)
    assert m.returncode == 0 and not m.forced, m.log()[-3000:]


def test_reads_work_again_after_server_restarts(mount, fresh_dovecot,
                                                oracle_for):
    m = mount(fresh_dovecot, options=["timeout=3"])
    target = _large(m, fresh_dovecot)
    expected = oracle_for(fresh_dovecot).body(
        "INBOX", fresh_dovecot.corpus.messages["large"].uid)
    fresh_dovecot.stop()
    with pytest.raises(OSError):
        _read(target)
    fresh_dovecot.restart()
    # The filesystem reconnects with backoff.
    assert wait_for(lambda: _try_read(target) == expected, 30,
                    interval=0.5, what="a read after the restart")


def _try_read(path):
    try:
        return _read(path)
    except OSError:
        return None
