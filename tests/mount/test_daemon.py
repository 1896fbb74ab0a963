# SPDX-License-Identifier: GPL-2.0-or-later
"""imapfs without -f: it detaches (fuse_daemonize() changes to / and the
process we started exits).  Relative paths in the options must still mean
what they meant where imapfs was started, and every tunnel command the
daemon uses must be its own child, ended and reaped on unmount.

With connections=1, the read after mounting needs a connection opened by
the daemon itself, after detaching: the one made before, for the first
LIST, is closed before detaching (docs/DESIGN.md, start-up order).
"""

import glob
import os
import shlex
import shutil
import signal
import subprocess

import pytest

from cachedir import cached_bodies
from mount import daemon_env, imapfs_binary, is_mounted, unmount, wait_for

pytestmark = pytest.mark.fuse


def _write_passfile(path, password):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def _state(pid):
    """The state letter of /proc/PID/stat, or None when there is none."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rindex(b")") + 2:][:1].decode()


def _gone(pid):
    """No such process, or a zombie (of a parent other than us)."""
    return _state(pid) in (None, "Z")


def _ppid(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("PPid:"):
                return int(line.split()[1])
    raise AssertionError(f"no PPid for {pid}")


def _daemon_pids(mountpoint):
    """Processes whose command line names the mount point (unique)."""
    want = os.fsencode(mountpoint)
    return [int(p) for p in os.listdir("/proc") if p.isdigit()
            and want in _cmdline(int(p))]


class Daemon:
    """imapfs started without -f from a working directory; stop() always
    unmounts and makes sure the daemon is gone."""

    def __init__(self, workdir):
        self.workdir = str(workdir)
        self.mountpoint = os.path.join(self.workdir, "mnt")
        os.makedirs(self.mountpoint)
        # After detaching, stderr is /dev/null: sanitizer reports go to
        # files instead, checked at the end.
        self.report_prefix = os.path.join(self.workdir, "sanitizer")
        self.pid = None

    def start(self, source, options):
        env = daemon_env({
            "XDG_CACHE_HOME": os.path.join(self.workdir, "xdg-cache"),
            "XDG_CONFIG_HOME": os.path.join(self.workdir, "xdg-config"),
        })
        for key in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
            env[key] += f":log_path={self.report_prefix}"
        cmd = [imapfs_binary(), "-o", ",".join(options), source,
               self.mountpoint]
        with open(os.path.join(self.workdir, "stderr"), "wb") as err:
            r = subprocess.run(cmd, cwd=self.workdir, env=env,
                               stdin=subprocess.DEVNULL, stdout=err,
                               stderr=err, timeout=60)
        # The process we started exits once the daemon has mounted.
        assert r.returncode == 0, self.stderr()
        assert is_mounted(self.mountpoint), self.stderr()
        pids = wait_for(lambda: _daemon_pids(self.mountpoint), 10,
                        what="the daemon's process")
        assert len(pids) == 1, pids
        self.pid = pids[0]
        return self

    def stderr(self):
        with open(os.path.join(self.workdir, "stderr"), "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        """Unmount and wait for the daemon to exit.  Returns what went
        wrong (None if nothing)."""
        problem = None
        if is_mounted(self.mountpoint):
            r = subprocess.run(["fusermount3", "-u", self.mountpoint],
                               stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=30)
            if r.returncode != 0:
                problem = f"fusermount3 -u failed: {r.stderr!r}"
        if self.pid is not None:
            try:
                wait_for(lambda: _gone(self.pid), 15,
                         what="the daemon to exit")
            except TimeoutError:
                problem = problem or "the daemon did not exit on unmount"
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        unmount(self.mountpoint)
        return problem

    def sanitizer_reports(self):
        out = []
        for path in glob.glob(self.report_prefix + ".*"):
            with open(path, errors="replace") as f:
                out.append(f.read())
        return out


@pytest.fixture
def daemon(tmp_path):
    d = Daemon(tmp_path)
    try:
        yield d
    finally:
        problem = d.stop()
        reports = d.sanitizer_reports()
        assert not problem, problem
        assert not reports, "\n".join(reports)[-4000:]


def _read_inbox(d, oracle):
    """Read every INBOX message through the mount; they must be the
    server's bytes.  Returns how many."""
    expected = oracle.bodies("INBOX")
    assert expected
    for uid, body in expected.items():
        with open(os.path.join(d.mountpoint, "INBOX", f"{uid}.eml"),
                  "rb") as f:
            assert f.read() == body, uid
    return len(expected)


def test_relative_paths_after_detaching(daemon, dovecot_factory, oracle_for):
    server = dovecot_factory(ssl=True)
    work = daemon.workdir
    shutil.copy(server.ca_path, os.path.join(work, "ca.pem"))
    os.makedirs(os.path.join(work, "secret"))
    _write_passfile(os.path.join(work, "secret", "pass"), server.password)

    daemon.start(server.url("imap", "localhost"),
                 ["cafile=ca.pem", "cache_dir=cache",
                  "passfile=secret/pass", "connections=1", "timeout=10"])
    # Detached: not the process we started, not in the foreground.
    assert daemon.pid != os.getpid()

    n = _read_inbox(daemon, oracle_for(server))
    # The cache is where the user meant, not under /.
    assert len(cached_bodies(os.path.join(work, "cache"))) == n
    assert not os.path.exists("/cache")


def test_tunnel_after_detaching(daemon, dovecot_factory, oracle_for):
    server = dovecot_factory()
    work = daemon.workdir
    pid_log = os.path.join(work, "tunnel-pids")
    script = os.path.join(work, "tunnel.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\n"
                f"echo $$ >> {shlex.quote(pid_log)}\n"
                f"exec {server.tunnel_command()}\n")
    os.chmod(script, 0o755)

    daemon.start("tunnelacct", ["tunnel=./tunnel.sh", "cache_dir=cache",
                                "connections=1", "timeout=10"])
    _read_inbox(daemon, oracle_for(server))

    def recorded():
        with open(pid_log) as f:
            return [int(line) for line in f if line.strip()]

    pids = recorded()
    # One for the first LIST before detaching, one (at least) after.
    assert len(pids) >= 2, pids
    for pid in pids:
        if _gone(pid):
            continue
        # Alive: it belongs to the daemon.  The script runs in the group
        # of the command imapfs started, whose parent is the daemon.
        leader = os.getpgid(pid)
        assert _ppid(leader) == daemon.pid, (pid, leader)
    # The one started before detaching did not outlive it.
    assert _gone(pids[0])

    problem = daemon.stop()
    assert not problem, problem
    # Unmounting ended (and reaped) every tunnel.
    wait_for(lambda: all(_gone(p) for p in recorded()), 5,
             what="the tunnel commands to end")
