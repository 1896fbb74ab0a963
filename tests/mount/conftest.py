# SPDX-License-Identifier: GPL-2.0-or-later
"""Fixtures for mount tests: throwaway Dovecot servers, imapfs mounts that
are always unmounted, and an imaplib oracle that knows nothing of imapfs.

Run as root with Debian's Python:  /usr/bin/python3 -m pytest tests/mount
IMAPFS_BIN=PATH      the daemon to test (default: build/src/imapfs)
IMAPFS_TEST_KEEP=1   keep the servers' work directories (logs, mail)

A mount's teardown fails the test when the daemon did not exit with status
0 on unmount, or when its log shows a sanitizer report or a GLib warning.
"""

import collections
import datetime
import hashlib
import os
import shutil
import sys
import tempfile
import types

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "lib"))

import corpus  # noqa: E402
from dovecot import Dovecot  # noqa: E402
from mount import Mount, expect_mount_failure, imapfs_binary  # noqa: E402

KEEP = os.environ.get("IMAPFS_TEST_KEEP") == "1"


# -- environment checks -------------------------------------------------------

def _fuse_missing():
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse is missing"
    if shutil.which("fusermount3") is None:
        return "fusermount3 is missing"
    return _not_root()


def _not_root():
    if os.geteuid() != 0:
        return "the test Dovecot runs as root"
    return None


def pytest_runtest_setup(item):
    if item.get_closest_marker("fuse"):
        why = _fuse_missing()
        if why:
            pytest.skip(why)


def pytest_collection_modifyitems(items):
    # Every test that mounts needs FUSE.
    for item in items:
        if {"mount", "mounted"} & set(item.fixturenames):
            item.add_marker(pytest.mark.fuse)


# -- the oracle ---------------------------------------------------------------

class _Atom(str):
    """An IMAP atom (as opposed to a string); NIL is None."""


class _ResponseParser:
    """Parses the wire form of untagged IMAP data: atoms, quoted strings,
    literals, parenthesized lists, NIL, and atoms with [...] sections."""

    def __init__(self, buf):
        self.b = buf
        self.i = 0

    def _peek(self):
        return self.b[self.i:self.i + 1]

    def lines(self):
        out = []
        while self.i < len(self.b):
            out.append(self._line())
        return out

    def _line(self):
        values = []
        while True:
            if self.b.startswith(b"\r\n", self.i):
                self.i += 2
                return values
            if self._peek() == b" ":
                self.i += 1
                continue
            if self.i >= len(self.b):
                raise ValueError("response ends without CRLF")
            values.append(self._value())

    def _value(self):
        c = self._peek()
        if c == b"(":
            self.i += 1
            items = []
            while True:
                if self._peek() == b" ":
                    self.i += 1
                elif self._peek() == b")":
                    self.i += 1
                    return items
                elif self.i >= len(self.b) or self._peek() == b"\r":
                    raise ValueError(f"unterminated list at {self.i}")
                else:
                    items.append(self._value())
        if c == b'"':
            self.i += 1
            out = bytearray()
            while True:
                ch = self._peek()
                if ch == b"":
                    raise ValueError("unterminated quoted string")
                self.i += 1
                if ch == b'"':
                    return bytes(out)
                if ch == b"\\":
                    ch = self._peek()
                    self.i += 1
                out += ch
        if c == b"{":
            end = self.b.index(b"}\r\n", self.i)
            n = int(self.b[self.i + 1:end].rstrip(b"+"))
            start = end + 3
            if start + n > len(self.b):
                raise ValueError("literal beyond the data")
            self.i = start + n
            return self.b[start:start + n]
        # An atom; a [...] section may hold spaces and parentheses.
        start = self.i
        depth = 0
        while self.i < len(self.b):
            ch = self._peek()
            if ch == b"[":
                depth += 1
            elif ch == b"]":
                depth -= 1
            elif depth == 0 and ch in (b" ", b"(", b")", b"\r"):
                break
            self.i += 1
        if self.i == start:
            raise ValueError(f"unexpected {c!r} at {self.i}")
        atom = self.b[start:self.i].decode("ascii")
        # BODY[]<0> style origin octets stay part of the atom.
        return None if atom.upper() == "NIL" else _Atom(atom)


def _wire(data):
    """Rebuild the wire bytes of imaplib's untagged data: a (line, literal)
    tuple is a line that ends in {n} followed by the literal."""
    out = bytearray()
    for item in data:
        if item is None:
            continue
        if isinstance(item, tuple):
            out += item[0] + b"\r\n" + item[1]
        else:
            out += item + b"\r\n"
    return bytes(out)


def parse_untagged(data):
    return _ResponseParser(_wire(data)).lines()


def _text(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", "surrogateescape")
    return v


def parse_internaldate(s):
    """INTERNALDATE ("17-Jul-1996 02:44:25 -0700") as an aware datetime."""
    return datetime.datetime.strptime(_text(s).strip(),
                                      "%d-%b-%Y %H:%M:%S %z")


MailboxInfo = collections.namedtuple(
    "MailboxInfo", "name delimiter attributes path selectable specialuse")
MessageInfo = collections.namedtuple(
    "MessageInfo", "uid flags size internaldate modseq")

SPECIAL_USE_ATTRS = ("\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk",
                     "\\Sent", "\\Trash")


def mailbox_path(name, delimiter):
    """The directory path (tuple of Unicode parts) for a server name."""
    parts = name.split(delimiter) if delimiter else [name]
    return tuple(corpus.utf7_decode(p) for p in parts)


class Oracle:
    """Ground truth straight from the server over imaplib.  Mailboxes are
    only EXAMINEd, so the oracle changes no flags."""

    def __init__(self, server):
        self.server = server

    def _client(self):
        return self.server.imap()

    def mailboxes(self):
        """{path: MailboxInfo} for every mailbox LIST "" "*" returns."""
        with self._client() as c:
            typ, data = c.list('""', '"*"')
            assert typ == "OK", data
        out = {}
        for line in parse_untagged(data):
            attrs, delim, name = line
            name = _text(name)
            delim = _text(delim)
            attrs = frozenset(_text(a) for a in attrs)
            lower = {a.lower() for a in attrs}
            selectable = not ({"\\noselect", "\\nonexistent"} & lower)
            use = [a for a in SPECIAL_USE_ATTRS if a.lower() in lower]
            path = mailbox_path(name, delim)
            out[path] = MailboxInfo(name, delim, attrs, path, selectable,
                                    use[0] if use else None)
        return out

    def directories(self):
        """Every directory the tree must have: each mailbox path and all
        of its ancestors, relative to the mount root."""
        dirs = set()
        for path in self.mailboxes():
            for i in range(1, len(path) + 1):
                dirs.add(path[:i])
        return dirs

    def selectable(self):
        return {p: m for p, m in self.mailboxes().items() if m.selectable}

    def _examine(self, c, name):
        typ, data = c.select(corpus.quote(name), readonly=True)
        assert typ == "OK", (name, data)
        return int(data[0])

    def _fetch(self, name, items, uids="1:*"):
        with self._client() as c:
            if self._examine(c, name) == 0:
                return {}
            typ, data = c.uid("FETCH", uids, f"({items})")
            assert typ == "OK", data
        out = {}
        for line in parse_untagged(data):
            _, values = line
            d = {}
            for k, v in zip(values[::2], values[1::2]):
                d[k.upper()] = v
            uid = int(d["UID"])
            out.setdefault(uid, {}).update(d)
        return out

    def messages(self, name):
        """{uid: MessageInfo} for a mailbox (server name)."""
        raw = self._fetch(name, "UID FLAGS RFC822.SIZE INTERNALDATE MODSEQ")
        return {uid: MessageInfo(uid, frozenset(_text(f) for f in d["FLAGS"]),
                                 int(d["RFC822.SIZE"]),
                                 parse_internaldate(d["INTERNALDATE"]),
                                 int(d["MODSEQ"][0]))
                for uid, d in raw.items()}

    def bodies(self, name, uids="1:*"):
        """{uid: bytes of BODY.PEEK[]}."""
        raw = self._fetch(name, "UID BODY.PEEK[]", uids)
        return {uid: bytes(d["BODY[]"]) for uid, d in raw.items()}

    def body(self, name, uid):
        return self.bodies(name, str(uid))[uid]

    def digests(self, name):
        return {uid: hashlib.sha256(b).hexdigest()
                for uid, b in self.bodies(name).items()}

    def status(self, name):
        """{"MESSAGES": n, "UIDNEXT": n, "UIDVALIDITY": n, "UNSEEN": n}"""
        with self._client() as c:
            typ, data = c.status(corpus.quote(name),
                                 "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN)")
            assert typ == "OK", data
        _, values = parse_untagged(data)[0]
        return {k.upper(): int(v) for k, v in zip(values[::2], values[1::2])}

    def all_messages(self):
        """{path: {uid: MessageInfo}} over all selectable mailboxes."""
        return {p: self.messages(m.name)
                for p, m in self.selectable().items()}


def decode_mutf7(name):
    return corpus.utf7_decode(name)


# -- servers ------------------------------------------------------------------

def _new_server(**kw):
    workdir = tempfile.mkdtemp(prefix="imapfs-test-dovecot-")
    d = Dovecot(workdir, **kw)
    try:
        d.start()
    except BaseException:
        d.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return d


def _drop_server(d):
    d.cleanup()
    if not KEEP:
        shutil.rmtree(d.workdir, ignore_errors=True)


def _tricky_server(**kw):
    """A session-long server with the tricky corpus."""
    if _not_root():
        pytest.skip(_not_root())
    d = _new_server(**kw)
    d.corpus = corpus.fill_tricky(d)
    yield d
    _drop_server(d)


@pytest.fixture(scope="session")
def dovecot():
    """The shared server with the tricky corpus (STARTTLS and imaps)."""
    yield from _tricky_server(ssl=True)


@pytest.fixture(scope="session")
def plain_dovecot():
    """A server without TLS, with the tricky corpus."""
    yield from _tricky_server(ssl=False)


@pytest.fixture(scope="session")
def courier_dovecot():
    """Separator "." and prefix "INBOX.", with the tricky corpus."""
    yield from _tricky_server(ssl=True, separator=".", prefix="INBOX.")


@pytest.fixture
def dovecot_factory():
    """Start servers for one test: dovecot_factory(fill=True, **Dovecot
    keywords).  They are stopped after the test."""
    if _not_root():
        pytest.skip(_not_root())
    servers = []

    def make(fill=True, **kw):
        d = _new_server(**kw)
        servers.append(d)
        d.corpus = corpus.fill_tricky(d) if fill else None
        return d
    yield make
    for d in servers:
        _drop_server(d)


@pytest.fixture
def fresh_dovecot(dovecot_factory):
    """A server of its own, with the tricky corpus, for tests that stop it."""
    return dovecot_factory()


@pytest.fixture(scope="session")
def oracle(dovecot):
    return Oracle(dovecot)


@pytest.fixture(scope="session")
def oracle_for():
    return Oracle


# -- mounts -------------------------------------------------------------------

VARIANTS = ("plaintext", "starttls", "starttls-ip", "imaps", "imaps-ip",
            "tunnel")


def write_passfile(path, password):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    os.chmod(path, 0o600)
    return str(path)


def source_and_options(server, variant):
    """SOURCE and the options that select a connection variant."""
    if variant == "plaintext":
        return server.url("imap", "127.0.0.1"), ["plaintext"]
    if variant == "starttls":
        return server.url("imap", "localhost"), [f"cafile={server.ca_path}"]
    if variant == "starttls-ip":
        return server.url("imap", "127.0.0.1"), [f"cafile={server.ca_path}"]
    if variant == "imaps":
        return server.url("imaps", "localhost"), [f"cafile={server.ca_path}"]
    if variant == "imaps-ip":
        return server.url("imaps", "127.0.0.1"), [f"cafile={server.ca_path}"]
    if variant == "tunnel":
        return "tunnelacct", [f"tunnel={server.tunnel_command()}"]
    raise ValueError(variant)


class MountManager:
    """Starts mounts under a directory and always stops them."""

    def __init__(self, workdir):
        self.workdir = str(workdir)
        self.mounts = []
        self.count = 0

    def prepare(self, server, variant=None, *, options=(), source=None,
                cache_dir=None, passfile=None, defaults=True, trace=False,
                without=()):
        """(source, options, mountpoint, cache_dir, n) for a mount.

        variant: one of VARIANTS (default: starttls when the server has
        TLS, else plaintext).  source replaces the variant's SOURCE.
        The options are the variant's, then the defaults (passfile with
        the server's password, cache_dir, timeout=10) unless
        defaults=False, then "trace", then options, which replace any
        earlier option of the same key.  Keys in without are dropped.
        """
        n = self.count
        self.count += 1
        if variant is None:
            variant = "starttls" if server.ssl else "plaintext"
        src, opts = source_and_options(server, variant)
        if source is not None:
            src = source
        if cache_dir is None:
            cache_dir = os.path.join(self.workdir, f"cache{n}")
        os.makedirs(cache_dir, exist_ok=True)
        if defaults:
            if variant != "tunnel" or passfile is not None:
                if passfile is None:
                    passfile = write_passfile(
                        os.path.join(self.workdir, f"pass{n}"),
                        server.password)
                opts.append(f"passfile={passfile}")
            opts += [f"cache_dir={cache_dir}", "timeout=10"]
        if trace:
            opts.append("trace")
        given = {o.split("=", 1)[0] for o in options}
        opts = [o for o in opts if o.split("=", 1)[0] not in given]
        opts += list(options)
        opts = [o for o in opts if o.split("=", 1)[0] not in without]
        mountpoint = os.path.join(self.workdir, f"mnt{n}")
        os.makedirs(mountpoint, exist_ok=True)
        return src, opts, mountpoint, cache_dir, n

    def _env(self):
        # Keep the daemon away from the real user's cache and config.
        return {"XDG_CACHE_HOME": os.path.join(self.workdir, "xdg-cache"),
                "XDG_CONFIG_HOME": os.path.join(self.workdir, "xdg-config")}

    def __call__(self, server, variant=None, *, timeout=20, **kw):
        """Mount server (see prepare); returns the started Mount."""
        binary = imapfs_binary()
        if not os.access(binary, os.X_OK):
            pytest.fail(f"no imapfs binary at {binary}: build it, or set "
                        f"IMAPFS_BIN")
        src, opts, mountpoint, cache_dir, n = self.prepare(server, variant,
                                                            **kw)
        m = Mount(src, mountpoint, opts, env=self._env(),
                  log_path=os.path.join(self.workdir, f"imapfs{n}.log"))
        m.server = server
        m.cache_dir = cache_dir
        m.path = m.mountpoint
        m.started = False
        self.mounts.append(m)
        m.start(timeout)
        m.started = True
        return m

    def expect_failure(self, server, variant=None, *, timeout=30,
                       one_line=True, **kw):
        """Run imapfs that must fail to mount; returns the one line it
        printed, after checking the exit status and the line's form.
        With one_line=False (for -o trace), returns all of stderr."""
        binary = imapfs_binary()
        if not os.access(binary, os.X_OK):
            pytest.fail(f"no imapfs binary at {binary}: build it, or set "
                        f"IMAPFS_BIN")
        src, opts, mountpoint, _, _ = self.prepare(server, variant, **kw)
        rc, err = expect_mount_failure(src, mountpoint, opts,
                                       timeout=timeout, env=self._env())
        lines = [line for line in err.splitlines() if line.strip()]
        assert rc != 0, f"imapfs exited with 0; stderr:\n{err}"
        assert rc > 0, f"imapfs died of signal {-rc}; stderr:\n{err}"
        if not one_line:
            return err
        assert len(lines) == 1, f"want one line on stderr, got:\n{err}"
        assert lines[0].startswith("imapfs: "), lines[0]
        return lines[0]

    def close(self):
        """Stop every mount; returns what went wrong with the daemons."""
        problems = []
        for m in self.mounts:
            try:
                m.stop()
            except Exception as e:  # keep unmounting the others
                problems.append(f"{m.mountpoint}: stop failed: {e!r}")
                continue
            if not m.started:
                continue
            if m.returncode != 0 or m.forced:
                problems.append(
                    f"{m.mountpoint}: imapfs did not exit cleanly on "
                    f"unmount (status {m.returncode}, {m.forced or 'clean'})"
                    f"; log:\n{m.log()[-4000:]}")
            bugs = m.bug_reports()
            if bugs:
                problems.append(f"{m.mountpoint}: bugs in the log:\n" +
                                "\n".join(bugs[:20]))
        self.mounts = []
        return problems


@pytest.fixture
def mount(tmp_path):
    """mount(server, variant=None, **kw) -> Mount; see MountManager."""
    mgr = MountManager(tmp_path)
    try:
        yield mgr
    finally:
        problems = mgr.close()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture(scope="session")
def _session_mounts(tmp_path_factory):
    mgr = MountManager(tmp_path_factory.mktemp("shared"))
    yield mgr
    problems = mgr.close()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture(scope="session")
def _shared_mount(_session_mounts, dovecot):
    return _session_mounts(dovecot)


@pytest.fixture
def mounted(_shared_mount):
    """One STARTTLS mount of the shared server, used by read-only tests."""
    m = _shared_mount
    if m.proc.poll() is not None:
        pytest.fail(f"the shared imapfs died ({m.proc.returncode}):\n"
                    f"{m.log()[-4000:]}", pytrace=False)
    return m


# -- helpers for tests --------------------------------------------------------

def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def sha256_file(path):
    return hashlib.sha256(read_file(path)).hexdigest()


def drop_caches():
    """Drop the page cache, dentries and inodes."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


@pytest.fixture(scope="session")
def helpers():
    """Small functions for tests, as a namespace."""
    return types.SimpleNamespace(
        read_file=read_file, sha256_file=sha256_file,
        drop_caches=drop_caches, decode_mutf7=decode_mutf7,
        parse_internaldate=parse_internaldate,
        parse_untagged=parse_untagged,
        source_and_options=source_and_options,
        write_passfile=write_passfile, VARIANTS=VARIANTS)
