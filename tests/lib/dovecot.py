# SPDX-License-Identifier: GPL-2.0-or-later
"""A throwaway Dovecot IMAP server for tests and demo scripts.

Dovecot runs as root on 127.0.0.1 with a configuration that includes no
system file.  The mail user has a numeric uid/gid (5000) without a passwd
entry; Dovecot refuses mail access for uid 0.  Everything lives in one work
directory, except when the mail user cannot reach it or its path is too
long for unix sockets: then the mail user's home, the configuration, the
certificates and the sockets go to a directory under /tmp (see _public).

Also a command line tool:

    python3 dovecot.py start --dir DIR [--no-ssl] [--fill demo|tricky]
    python3 dovecot.py stop --dir DIR
"""

import argparse
import imaplib
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import ssl as sslmod
import subprocess
import sys
import tempfile
import time

MAIL_UID = 5000
MAIL_GID = 5000
DOVECOT = "dovecot"
DOVEADM = "doveadm"
IMAP_BIN = "/usr/lib/dovecot/imap"

# Not UTC, and with daylight saving time, so that INTERNALDATE zones are
# visible in the tests.  glibc knows this name even without tzdata, and it
# has no comma, so that the tunnel command fits in a -o option.
SERVER_TZ = "PST8PDT"

SPECIAL_USE = (("Drafts", "\\Drafts"), ("Sent", "\\Sent"),
               ("Trash", "\\Trash"), ("Junk", "\\Junk"))

# sun_path holds 108 bytes; Dovecot's deepest socket below base_dir is
# about 30 characters long.
MAX_BASE_DIR = 70


class DovecotError(Exception):
    pass


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            # A zombie has exited; only its parent can reap it.
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _reachable(path, uid):
    """Whether every ancestor of path is searchable by uid."""
    parts = os.path.abspath(path).split(os.sep)
    for i in range(2, len(parts)):
        st = os.stat(os.sep.join(parts[:i]))
        if st.st_uid != uid and not st.st_mode & 0o001:
            return False
    return True


def _openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True,
                       text=True)
    if r.returncode != 0:
        raise DovecotError(f"openssl {' '.join(args)}: {r.stderr.strip()}")


def make_certificates(directory, names=("localhost", "127.0.0.1")):
    """Make a throwaway CA and a server certificate for names.

    Returns (ca_path, cert_path, key_path).
    """
    os.makedirs(directory, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem",
             "-days", "3650", "-subj", "/CN=imapfs test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             cwd=directory)
    sans = ",".join(("IP:" if n.replace(".", "").isdigit() else "DNS:") + n
                    for n in names)
    with open(os.path.join(directory, "server.ext"), "w") as f:
        f.write("basicConstraints = critical,CA:FALSE\n"
                "keyUsage = critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage = serverAuth\n"
                f"subjectAltName = {sans}\n")
    _openssl("req", "-new", *ec, "-keyout", "server.key", "-out",
             "server.csr", "-subj", f"/CN={names[0]}", cwd=directory)
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem",
             "-CAkey", "ca.key", "-CAcreateserial", "-days", "3650",
             "-extfile", "server.ext", "-out", "server.pem", cwd=directory)
    return tuple(os.path.join(directory, n)
                 for n in ("ca.pem", "server.pem", "server.key"))


class Dovecot:
    """A Dovecot instance in workdir.

    ssl: offer STARTTLS on the imap port and implicit TLS on the imaps port;
         without it the server has no TLS at all.
    quota: e.g. "100K" to refuse APPENDs over that storage limit.
    separator, prefix: the inbox namespace; separator="." and
         prefix="INBOX." give the Courier layout.
    cert_names: names in the server certificate.
    """

    host = "127.0.0.1"

    def __init__(self, workdir, ssl=True, quota=None, user="alice",
                 password=None, separator="/", prefix="",
                 cert_names=("localhost", "127.0.0.1"), tz=SERVER_TZ,
                 capability=None):
        self.workdir = os.path.abspath(workdir)
        # What the server announces after login instead of its own list
        # (imap_capability), to test clients without an extension.
        self.capability = capability
        self.ssl = ssl
        self.quota = quota
        self.user = user
        self.password = password or secrets.token_urlsafe(12)
        self.separator = separator
        self.prefix = prefix
        self.cert_names = tuple(cert_names)
        self.tz = tz
        self.imap_port = None
        self.imaps_port = None
        self.ca_path = None
        self.cert_path = None
        self.key_path = None
        self.log_path = os.path.join(self.workdir, "dovecot.log")
        self.passwd_path = os.path.join(self.workdir, "passwd")
        self.pid = None
        self.instance_name = f"imapfs-test-{secrets.token_hex(4)}"
        self._pub = None

    # -- setup ----------------------------------------------------------------

    def _existing_public(self):
        if self._pub is None:
            link = os.path.join(self.workdir, "public")
            if os.path.islink(link):
                self._pub = os.readlink(link)
            elif os.path.isdir(self.workdir):
                self._pub = self.workdir
        return self._pub

    def _public(self):
        """The directory for what the mail user must reach (its home, the
        configuration, the certificates) and for the unix sockets.

        That is workdir, unless the mail user cannot reach it (pytest's
        and mktemp's directories are 0700) or its path is too long for
        sockets; then it is a directory under /tmp that workdir/public
        links to, and cleanup() removes.
        """
        os.makedirs(self.workdir, exist_ok=True)
        os.chmod(self.workdir, 0o755)
        link = os.path.join(self.workdir, "public")
        if os.path.islink(link):
            self._pub = os.readlink(link)
        elif _reachable(self.workdir, MAIL_UID) and \
                len(os.path.join(self.workdir, "run")) <= MAX_BASE_DIR:
            self._pub = self.workdir
        else:
            pub = tempfile.mkdtemp(prefix="imapfs-dc-")
            os.chmod(pub, 0o755)
            os.symlink(pub, link)
            self._pub = pub
        return self._pub

    def _in_public(self, *parts):
        pub = self._existing_public()
        return os.path.join(pub, *parts) if pub else None

    @property
    def conf_path(self):
        return self._in_public("dovecot.conf")

    @property
    def base_dir(self):
        return self._in_public("run")

    @property
    def home(self):
        return self._in_public("home", self.user)

    @property
    def maildir(self):
        return self._in_public("home", self.user, "Maildir")

    def _prepare(self):
        pub = self._public()
        for d in ("run", "state"):
            os.makedirs(os.path.join(pub, d), exist_ok=True)
            os.chmod(os.path.join(pub, d), 0o755)
        os.makedirs(self.home, exist_ok=True)
        for d in (os.path.dirname(self.home), self.home):
            os.chown(d, MAIL_UID, MAIL_GID)
            os.chmod(d, 0o700 if d == self.home else 0o755)
        if self.ssl and self.ca_path is None:
            self.ca_path, self.cert_path, self.key_path = \
                make_certificates(os.path.join(pub, "ssl"), self.cert_names)
            # The tunnel runs the imap binary as the mail user, and it
            # reads the whole configuration, ssl_key included.
            os.chmod(self.key_path, 0o644)
        with open(self.passwd_path, "w") as f:
            f.write(f"{self.user}:{{PLAIN}}{self.password}::::::\n")
        os.chmod(self.passwd_path, 0o600)

    def _config(self):
        lines = [
            "# Generated for a test; includes no system configuration.",
            f"instance_name = {self.instance_name}",
            f"base_dir = {self.base_dir}",
            f"state_dir = {self._in_public('state')}",
            f"log_path = {self.log_path}",
            "protocols = imap",
            "listen = 127.0.0.1",
            "default_internal_user = root",
            "default_internal_group = root",
            "default_login_user = dovenull",
            "first_valid_uid = 1",
            "first_valid_gid = 1",
            "disable_plaintext_auth = no",
            "auth_mechanisms = plain login",
            "import_environment = TZ",
            "mail_location = maildir:~/Maildir",
            "mail_plugins = " + ("quota" if self.quota else ""),
        ] + ([f"imap_capability = {self.capability}"]
             if self.capability else []) + [
            "passdb {",
            "  driver = passwd-file",
            f"  args = scheme=PLAIN username_format=%u {self.passwd_path}",
            "}",
            "userdb {",
            "  driver = passwd-file",
            f"  args = username_format=%u {self.passwd_path}",
            f"  override_fields = uid={MAIL_UID} gid={MAIL_GID} "
            f"home={self.home}",
            "}",
            "service imap-login {",
            "  inet_listener imap {",
            "    address = 127.0.0.1",
            f"    port = {self.imap_port}",
            "  }",
        ]
        if self.ssl:
            lines += ["  inet_listener imaps {",
                      "    address = 127.0.0.1",
                      f"    port = {self.imaps_port}",
                      "    ssl = yes",
                      "  }"]
        lines += [
            "}",
            "namespace inbox {",
            "  inbox = yes",
            f"  separator = {self.separator}",
            f'  prefix = "{self.prefix}"',
        ]
        for name, use in SPECIAL_USE:
            lines += [f"  mailbox {name} {{",
                      f"    special_use = {use}",
                      "    auto = subscribe",
                      "  }"]
        lines.append("}")
        if self.ssl:
            lines += ["ssl = yes",
                      f"ssl_cert = <{self.cert_path}",
                      f"ssl_key = <{self.key_path}"]
        else:
            lines.append("ssl = no")
        if self.quota:
            lines += ["protocol imap {",
                      "  mail_plugins = $mail_plugins imap_quota",
                      "}",
                      "plugin {",
                      "  quota = count:User quota",
                      f"  quota_rule = *:storage={self.quota}",
                      "  quota_vsizes = yes",
                      "}"]
        return "\n".join(lines) + "\n"

    def _write_state(self):
        state = {k: getattr(self, k) for k in (
            "ssl", "quota", "user", "password", "separator", "prefix",
            "cert_names", "tz", "imap_port", "imaps_port", "ca_path",
            "cert_path", "key_path", "instance_name", "pid")}
        state["public"] = self._pub
        path = os.path.join(self.workdir, "state.json")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(state, f)

    @classmethod
    def load(cls, workdir):
        """The Dovecot that `start` left running in workdir."""
        with open(os.path.join(workdir, "state.json")) as f:
            state = json.load(f)
        d = cls(workdir, ssl=state["ssl"], quota=state["quota"],
                user=state["user"], password=state["password"],
                separator=state["separator"], prefix=state["prefix"],
                cert_names=state["cert_names"], tz=state["tz"])
        for k in ("imap_port", "imaps_port", "ca_path", "cert_path",
                  "key_path", "instance_name", "pid"):
            setattr(d, k, state[k])
        d._pub = state["public"]
        return d

    # -- life cycle -----------------------------------------------------------

    def _env(self):
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "TZ": self.tz}
        return env

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log_tail(self, n=30):
        return "\n".join(self.log_text().splitlines()[-n:])

    def _read_pid(self):
        if self.base_dir is None:
            return None
        try:
            with open(os.path.join(self.base_dir, "master.pid")) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _launch(self):
        """Write the configuration and run the master, which daemonizes.

        Returns (exit status, its output and what it logged).
        """
        with open(self.conf_path, "w") as f:
            f.write(self._config())
        # The tunnel reads the configuration as the mail user.
        os.chmod(self.conf_path, 0o644)
        log_start = len(self.log_text())
        # The daemonized master keeps its stdout and stderr: a pipe would
        # never reach EOF.
        out = os.path.join(self.workdir, "dovecot.out")
        with open(out, "w+") as f:
            rc = subprocess.run([DOVECOT, "-c", self.conf_path],
                                env=self._env(), stdin=subprocess.DEVNULL,
                                stdout=f, stderr=f).returncode
            f.seek(0)
            startup = f.read()
        return rc, startup + self.log_text()[log_start:]

    def start(self, timeout=30):
        """Start on free ports; waits until a LOGIN works."""
        self._prepare()
        for attempt in range(3):
            self.imap_port = _free_port()
            self.imaps_port = _free_port() if self.ssl else None
            while self.imaps_port == self.imap_port:
                self.imaps_port = _free_port()
            rc, msg = self._launch()
            # Another process may have taken a port since we looked.
            retry = "in use" in msg and attempt < 2
            if rc != 0:
                if retry:
                    continue
                raise DovecotError(f"dovecot did not start:\n{msg.strip()}")
            try:
                self._wait_ready(timeout)
                break
            except DovecotError:
                self.stop()
                if not retry:
                    raise
        self._write_state()
        return self

    def restart(self, timeout=30):
        """Start again after stop(), on the same ports with the same mail."""
        self.stop()
        self._prepare()
        rc, msg = self._launch()
        if rc != 0:
            raise DovecotError(f"dovecot did not restart:\n{msg.strip()}")
        self._wait_ready(timeout)
        self._write_state()
        return self

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            pid = self._read_pid()
            if pid is not None:
                self.pid = pid
                if not _pid_alive(pid):
                    raise DovecotError("dovecot exited:\n" + self.log_tail())
                try:
                    # Whatever names the certificate has.
                    ctx = self.ssl_context() if self.ssl else None
                    if ctx:
                        ctx.check_hostname = False
                    self.imap(ssl_context=ctx).logout()
                    return
                except (OSError, imaplib.IMAP4.error) as e:
                    last = e
            time.sleep(0.05)
        raise DovecotError(f"dovecot not ready within {timeout}s "
                           f"({last!r}):\n{self.log_tail()}")

    def processes(self):
        """PIDs of this instance's processes (titled after instance_name),
        the master included; client connections live on in them after the
        master has gone."""
        title = f"dovecot-{self.instance_name}/".encode()
        pids = set()
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            if cmd.startswith(title) or self._is_master(int(d), cmd):
                if _pid_alive(int(d)):
                    pids.add(int(d))
        return pids

    def _is_master(self, pid, cmdline=None):
        """Whether pid is this instance's master (and not a reused pid)."""
        if pid is None or self.conf_path is None:
            return False
        if cmdline is None:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmdline = f.read()
            except OSError:
                return False
        return cmdline.split(b"\0")[-3:-1] == \
            [b"-c", self.conf_path.encode()]

    def stop(self, timeout=20):
        """Stop the instance and end every connection to it; idempotent."""
        pid = self._read_pid() or self.pid
        if self._is_master(pid) and _pid_alive(pid):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + timeout
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.02)
        # Dovecot leaves its imap processes serving the connections they
        # have; a stopped server must not.
        deadline = time.monotonic() + 10
        while True:
            left = self.processes()
            if not left:
                break
            if time.monotonic() > deadline:
                raise DovecotError(f"processes {sorted(left)} of "
                                   f"{self.instance_name} do not exit")
            for p in left:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.02)
        self.pid = None

    def cleanup(self):
        """Stop, and remove what lives outside workdir."""
        self.stop()
        link = os.path.join(self.workdir, "public")
        if os.path.islink(link):
            shutil.rmtree(os.readlink(link), ignore_errors=True)
            os.unlink(link)
        self._pub = None

    def running(self):
        pid = self._read_pid()
        return pid is not None and _pid_alive(pid)

    @staticmethod
    def pid_alive(pid):
        """Whether pid runs (an exited process may linger as a zombie)."""
        return _pid_alive(pid)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    # -- clients --------------------------------------------------------------

    def ssl_context(self):
        ctx = sslmod.create_default_context(cafile=self.ca_path)
        return ctx

    def imap(self, login=True, ssl_context=None):
        """A logged-in imaplib client (STARTTLS with the CA when ssl)."""
        c = imaplib.IMAP4(self.host, self.imap_port, timeout=30)
        try:
            if self.ssl:
                c.starttls(ssl_context=ssl_context or self.ssl_context())
            if login:
                c.login(self.user, self.password)
        except BaseException:
            try:
                c.shutdown()
            except OSError:
                pass
            raise
        return c

    def imaps(self, login=True):
        c = imaplib.IMAP4_SSL("localhost", self.imaps_port,
                              ssl_context=self.ssl_context(), timeout=30)
        if login:
            c.login(self.user, self.password)
        return c

    def tunnel_command(self):
        """A shell command that speaks IMAP (PREAUTH) on stdin/stdout."""
        q = shlex.quote
        return (f"env -i PATH=/usr/bin:/bin TZ={q(self.tz)} "
                f"USER={q(self.user)} HOME={q(self.home)} "
                f"setpriv --reuid {MAIL_UID} --regid {MAIL_GID} "
                f"--clear-groups {IMAP_BIN} -c {q(self.conf_path)} "
                f"-o log_path=/dev/stderr -o stats_writer_socket_path=")

    def doveadm(self, *args, check=True):
        """Run doveadm against this instance; returns its stdout."""
        r = subprocess.run([DOVEADM, "-c", self.conf_path, *args],
                           env=self._env(), capture_output=True, text=True)
        if check and r.returncode != 0:
            raise DovecotError(f"doveadm {' '.join(args)} failed "
                               f"({r.returncode}): {r.stderr.strip()}")
        return r.stdout

    def url(self, scheme="imap", host="localhost"):
        port = self.imaps_port if scheme == "imaps" else self.imap_port
        return f"{scheme}://{self.user}@{host}:{port}"

    def mailbox_name(self, *parts):
        """The server name of a mailbox below the inbox namespace."""
        return self.prefix + self.separator.join(parts)

    def maildir_path(self, mailbox):
        """The Maildir++ directory of a mailbox name."""
        if mailbox.upper() == "INBOX":
            return self.maildir
        name = mailbox
        if self.prefix and name.startswith(self.prefix):
            name = name[len(self.prefix):]
        return os.path.join(self.maildir,
                            "." + name.replace(self.separator, "."))


# -- command line -------------------------------------------------------------

def _cli(argv=None):
    p = argparse.ArgumentParser(
        description="Run a throwaway Dovecot for imapfs tests and demos.")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("start", help="start, fill, print KEY=value lines")
    s.add_argument("--dir", required=True)
    s.add_argument("--no-ssl", action="store_true")
    s.add_argument("--fill", choices=("none", "demo", "tricky"),
                   default="none")
    s.add_argument("--courier", action="store_true",
                   help='separator "." and prefix "INBOX."')
    t = sub.add_parser("stop", help="stop the instance in DIR")
    t.add_argument("--dir", required=True)
    args = p.parse_args(argv)

    if args.cmd == "stop":
        try:
            Dovecot.load(args.dir).cleanup()
        except FileNotFoundError:
            print(f"dovecot.py: no instance in {args.dir}", file=sys.stderr)
            return 1
        return 0

    extra = {"separator": ".", "prefix": "INBOX."} if args.courier else {}
    d = Dovecot(args.dir, ssl=not args.no_ssl, **extra)
    try:
        return _cli_start(d, args)
    except DovecotError as e:
        print(f"dovecot.py: {e}", file=sys.stderr)
        return 1


def _cli_start(d, args):
    try:
        d.start()
        if args.fill != "none":
            sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
            import corpus
            if args.fill == "demo":
                corpus.fill_demo(d)
            else:
                corpus.fill_tricky(d)
        passfile = os.path.join(d.workdir, "password")
        fd = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(d.password + "\n")
        os.chmod(passfile, 0o600)
    except BaseException:
        d.cleanup()
        raise
    q = shlex.quote
    for k, v in (("IMAP_PORT", d.imap_port), ("IMAPS_PORT", d.imaps_port),
                 ("USER", d.user), ("PASSFILE", passfile),
                 ("CAFILE", d.ca_path), ("CONF", d.conf_path),
                 ("PID", d.pid)):
        print(f"{k}={q(str(v)) if v is not None else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(_cli())
