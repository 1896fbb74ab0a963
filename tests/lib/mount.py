# SPDX-License-Identifier: GPL-2.0-or-later
"""Run imapfs in the foreground for tests and scripts, and always unmount."""

import os
import signal
import subprocess
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

# Defaults for the daemon's environment, where the caller's has none:
# GLib warnings and criticals abort the daemon under test, and sanitizer
# reports say where they come from.
DAEMON_ENV = {"G_DEBUG": "fatal-warnings",
              "ASAN_OPTIONS": "detect_leaks=1",
              "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}

# Text in a daemon log that means a bug, whatever the test checked.
BUG_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:",
               "-CRITICAL **", "-WARNING **", "Segmentation fault")


def imapfs_binary():
    return os.environ.get("IMAPFS_BIN") or \
        os.path.join(REPO, "build", "src", "imapfs")


def wait_for(predicate, timeout, interval=0.05, what=None):
    """Poll predicate until it returns a true value, which is returned.

    Raises TimeoutError after timeout seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"timed out after {timeout}s waiting for "
                f"{what or getattr(predicate, '__name__', 'a condition')}")
        time.sleep(interval)


def _unescape_mountinfo(s):
    # mountinfo escapes space, tab, newline and backslash as \ooo.
    out = bytearray()
    b = s.encode("utf-8", "surrogateescape")
    i = 0
    while i < len(b):
        if b[i:i + 1] == b"\\" and b[i + 1:i + 4].isdigit():
            out.append(int(b[i + 1:i + 4], 8))
            i += 4
        else:
            out.append(b[i])
            i += 1
    return out.decode("utf-8", "surrogateescape")


def mount_entries():
    """(mount point, fstype, source) for every mount, from mountinfo."""
    entries = []
    with open("/proc/self/mountinfo", encoding="utf-8",
              errors="surrogateescape") as f:
        for line in f:
            fields = line.split()
            try:
                sep = fields.index("-")
            except ValueError:
                continue
            entries.append((_unescape_mountinfo(fields[4]),
                            fields[sep + 1],
                            _unescape_mountinfo(fields[sep + 2])))
    return entries


def fuse_mount_info(mountpoint):
    """(fstype, source) of the topmost FUSE mount on mountpoint, or None."""
    path = os.path.realpath(mountpoint)
    found = None
    for mnt, fstype, source in mount_entries():
        if mnt == path and (fstype == "fuse" or fstype.startswith("fuse.")):
            found = (fstype, source)
    return found


def is_mounted(mountpoint):
    return fuse_mount_info(mountpoint) is not None


FUSECTL = "/sys/fs/fuse/connections"


def abort_connection(mountpoint):
    """Abort the FUSE connection of the mount on mountpoint, through
    fusectl (mounted here first if it is not): every request waiting in
    the kernel fails, which ends a daemon stuck in the kernel where
    SIGKILL cannot reach it.  Returns True if it was aborted."""
    path = os.path.realpath(mountpoint)
    number = None
    with open("/proc/self/mountinfo", encoding="utf-8",
              errors="surrogateescape") as f:
        for line in f:
            fields = line.split()
            if _unescape_mountinfo(fields[4]) == path:
                major, minor = fields[2].split(":")
                number = (int(major) << 20) | int(minor)
    if number is None:
        return False
    if not os.listdir(FUSECTL):
        subprocess.run(["mount", "-t", "fusectl", "fusectl", FUSECTL],
                       stdin=subprocess.DEVNULL, capture_output=True)
    try:
        with open(os.path.join(FUSECTL, str(number), "abort"), "w") as f:
            f.write("1")
        return True
    except OSError:
        return False


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def unmount(mountpoint):
    """Unmount a FUSE mount; lazily if it is busy or its daemon is wedged.

    Returns None if nothing was mounted, else "fusermount3" or "lazy".
    """
    if not is_mounted(mountpoint):
        return None
    try:
        r = subprocess.run(["fusermount3", "-u", mountpoint],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=30)
        if r.returncode == 0 and not is_mounted(mountpoint):
            return "fusermount3"
    except subprocess.TimeoutExpired:
        pass
    subprocess.run(["umount", "-l", mountpoint], stdin=subprocess.DEVNULL,
                   capture_output=True, timeout=30)
    return "lazy"


def daemon_env(env=None):
    e = dict(os.environ)
    for k, v in DAEMON_ENV.items():
        e.setdefault(k, v)
    if env:
        e.update(env)
    return e


def command(source, mountpoint, options):
    cmd = [imapfs_binary(), "-f"]
    if options:
        cmd += ["-o", ",".join(options)]
    return cmd + [source, mountpoint]


class Mount:
    """imapfs SOURCE MOUNTPOINT in the foreground, stderr to a log file."""

    def __init__(self, source, mountpoint, options=(), env=None,
                 log_path=None):
        self.source = source
        self.mountpoint = os.path.abspath(mountpoint)
        self.options = list(options)
        self.env = env
        self._own_log = log_path is None
        if log_path is None:
            fd, log_path = tempfile.mkstemp(prefix="imapfs-", suffix=".log")
            os.close(fd)
        self.log_path = log_path
        self.proc = None
        self.returncode = None
        self.forced = None       # how stop() had to end the daemon

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def log(self):
        try:
            with open(self.log_path, encoding="utf-8",
                      errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def start(self, timeout=20):
        os.makedirs(self.mountpoint, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                command(self.source, self.mountpoint, self.options),
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                env=daemon_env(self.env))
        deadline = time.monotonic() + timeout
        while True:
            if is_mounted(self.mountpoint):
                return self
            rc = self.proc.poll()
            if rc is not None:
                self.returncode = rc
                raise RuntimeError(
                    f"imapfs exited with {rc} before mounting:\n{self.log()}")
            if time.monotonic() >= deadline:
                self.stop()
                raise RuntimeError(
                    f"imapfs did not mount within {timeout}s:\n{self.log()}")
            time.sleep(0.05)

    def stop(self, timeout=15):
        """Unmount and reap the daemon; always, and only once."""
        if self.proc is None or self.returncode is not None:
            if is_mounted(self.mountpoint):
                unmount(self.mountpoint)
            return self.returncode
        try:
            if unmount(self.mountpoint) == "lazy":
                self.forced = "lazy unmount"
        finally:
            try:
                self.returncode = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.forced = "killed"
                self.proc.send_signal(signal.SIGKILL)
                self.returncode = self.proc.wait(10)
                # A killed daemon leaves a dead mount behind.
                unmount(self.mountpoint)
        return self.returncode

    def bug_reports(self):
        """Lines of the log that show a sanitizer report or GLib warning."""
        return [line for line in self.log().splitlines()
                if any(m in line for m in BUG_MARKERS)]

    def __del__(self):
        # A log file we made up goes with us; one the caller named stays.
        if getattr(self, "_own_log", False):
            try:
                os.unlink(self.log_path)
            except OSError:
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def expect_mount_failure(source, mountpoint, options, timeout=30, env=None):
    """Run imapfs, which must exit without mounting; (returncode, stderr)."""
    os.makedirs(mountpoint, exist_ok=True)
    # A file, not a pipe: a child the daemon left behind would hold a pipe
    # open after the daemon exited.
    with tempfile.TemporaryFile() as errf:
        proc = subprocess.Popen(command(source, mountpoint, options),
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=errf,
                                env=daemon_env(env))
        timed_out = False
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            mounted = is_mounted(mountpoint)
            unmount(mountpoint)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        errf.seek(0)
        err = errf.read().decode("utf-8", errors="replace")
    if timed_out:
        raise AssertionError(
            f"imapfs did not exit within {timeout}s"
            f"{' (it mounted)' if mounted else ''}; stderr:\n{err}")
    if mounted:
        raise AssertionError(f"imapfs left a mount behind; stderr:\n{err}")
    return proc.returncode, err
