# SPDX-License-Identifier: GPL-2.0-or-later
"""Mount tests against the scripted fake IMAP server: the things a real
server will not do on demand (lying sizes, hangs, drops inside a literal,
BYE, malformed and hostile responses, STARTTLS injection, PREAUTH on
cleartext, responses in odd order or for the wrong UID).

The daemon runs with -o timeout=3, so every failure must come well within
FAIL_WITHIN seconds, and after each one the mount must still work.
"""

import errno
import os
import pathlib
import re
import shutil
import subprocess
import sys
import threading
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "lib"))
sys.path.insert(0, str(REPO / "tests" / "fake"))

import mount as mountlib  # noqa: E402
from mount import Mount, expect_mount_failure, wait_for  # noqa: E402
from fakeimap import (  # noqa: E402
    FOREVER, FakeImapServer, Mailbox, Malformed, Message, Scenario, Stream,
    When, make_body,
)

pytestmark = pytest.mark.skipif(
    not os.path.exists("/dev/fuse")
    or not os.access("/dev/fuse", os.R_OK | os.W_OK)
    or shutil.which("fusermount3") is None,
    reason="needs /dev/fuse and fusermount3")

TIMEOUT = 3             # -o timeout=
FAIL_WITHIN = 10        # an operation that cannot complete fails by then
SETTLE = 5              # the kernel learns a new st_size asynchronously
RSS_LIMIT_KIB = 200 * 1024
BIG = 256 << 20         # bytes streamed by the hostile answers

BODY1 = make_body(1)
BODY2 = make_body(2, size=20000)    # several pages, so drops are mid-body
BODY3 = make_body(3, subject="third")
BODY7 = make_body(7, subject="in Other")
BAD1 = make_body(1, size=3000, subject="in Bad")


def mailboxes(inbox_overrides=None):
    """A fresh copy each time: the server may change flags."""
    inbox = {1: Message(1, BODY1, [], "02-Jan-2024 10:00:00 +0100"),
             2: Message(2, BODY2, ["\\Seen"], "03-Jan-2024 11:00:00 +0000"),
             3: Message(3, BODY3, ["\\Flagged"])}
    inbox.update(inbox_overrides or {})
    return {
        "INBOX": Mailbox(list(inbox.values()), uidvalidity=1234),
        "Other": Mailbox([Message(7, BODY7)], uidvalidity=55),
        "Bad": Mailbox([Message(1, BAD1)], uidvalidity=77),
    }


INBOX_NAMES = ["1.eml", "2.eml", "3.eml"]


# ---------------------------------------------------------------------------
# Fixtures and helpers


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    # No config file or cache of the user running the tests gets in.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


@pytest.fixture
def passfile(tmp_path):
    p = tmp_path / "password"
    p.write_text("secret\n")
    p.chmod(0o600)
    return str(p)


@pytest.fixture
def fake():
    """fake(mailboxes=None, **kw) -> a running FakeImapServer."""
    servers = []

    def make(boxes=None, **kw):
        srv = FakeImapServer(boxes if boxes is not None else mailboxes(),
                             **kw)
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        srv.stop()
    for srv in servers:
        assert srv.errors == [], "the fake server itself failed"


def source(srv):
    return "imap://alice@127.0.0.1:%d" % srv.port


def options(tmp_path, passfile, srv, plaintext=True, tls=False):
    opts = ["passfile=" + passfile, "timeout=%d" % TIMEOUT,
            "cache_dir=" + str(tmp_path / "cache")]
    if plaintext:
        opts.insert(0, "plaintext")
    if tls:
        opts.append("cafile=" + srv.cafile)
    return opts


def new_mountpoint(tmp_path):
    for i in range(100):
        mnt = tmp_path / ("mnt%d" % i)
        if not mnt.exists():
            mnt.mkdir()
            return mnt
    raise RuntimeError("too many mount points")


@pytest.fixture
def imapfs(fake, tmp_path, passfile):
    """imapfs(srv, plaintext=True, tls=False, env=None, extra=()) -> a
    started Mount, with the options in extra added.
    Every mount is stopped at teardown, before the servers, pass or fail;
    then its log must show no sanitizer report or GLib warning."""
    mounts = []

    def make(srv, plaintext=True, tls=False, env=None, extra=()):
        m = Mount(source(srv), str(new_mountpoint(tmp_path)),
                  options(tmp_path, passfile, srv, plaintext, tls)
                  + list(extra), env=env)
        mounts.append(m)
        m.start()
        return m

    yield make
    bugs = []
    for m in mounts:
        try:
            m.stop()
        finally:
            # Shown by pytest only when the test failed.
            print("---- imapfs log (%s) ----\n%s" % (m.mountpoint, m.log()))
        if hasattr(m, "bug_reports"):
            bugs += m.bug_reports()
    assert not bugs, "\n".join(bugs)


def small_asan_quarantine():
    """In a sanitizer build, freed memory waits in ASan's quarantine (256 MB
    by default) and counts as resident; keep it small so that a memory
    limit measures the daemon, not the sanitizer."""
    base = getattr(mountlib, "DAEMON_ENV", {}).get("ASAN_OPTIONS") or \
        os.environ.get("ASAN_OPTIONS")
    return {"ASAN_OPTIONS": (base + ":" if base else "") +
            "quarantine_size_mb=8"}


def failure(tmp_path, passfile, srv, plaintext=True, tls=False):
    """Mount that must fail: (returncode, stderr, seconds taken)."""
    mnt = new_mountpoint(tmp_path)
    t0 = time.monotonic()
    try:
        rc, err = expect_mount_failure(
            source(srv), str(mnt), options(tmp_path, passfile, srv,
                                           plaintext, tls), timeout=30)
    finally:
        # Should the mount have worked after all, do not leave it behind.
        if is_mounted(mnt):
            subprocess.run(["fusermount3", "-u", "-z", str(mnt)],
                           check=False)
    return rc, err, time.monotonic() - t0


def one_error_line(stderr):
    """The single line a failed mount prints."""
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) \
        else stderr
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, "expected one line, got:\n" + text
    assert lines[0].startswith("imapfs: "), text
    return lines[0]


def read(path):
    with open(path, "rb") as f:
        return f.read()


def read_in_chunks(path, size):
    """Read with small unbuffered reads, to exercise offsets."""
    out = bytearray()
    fd = os.open(path, os.O_RDONLY)
    try:
        while True:
            data = os.read(fd, size)
            if not data:
                return bytes(out)
            out += data
    finally:
        os.close(fd)


def fails(fn, errnos=(errno.EIO,)):
    """Run fn, which must raise OSError with one of errnos within
    FAIL_WITHIN seconds; returns the seconds taken."""
    t0 = time.monotonic()
    with pytest.raises(OSError) as exc:
        got = fn()
        pytest.fail("expected %s, got %r" % (
            "/".join(errno.errorcode[e] for e in errnos),
            got[:80] if isinstance(got, bytes) else got))
    took = time.monotonic() - t0
    assert exc.value.errno in errnos, exc.value
    assert took < FAIL_WITHIN, "took %.1f s" % took
    return took


def settles(predicate, timeout=SETTLE):
    """wait_for, then one last check whose result the caller asserts."""
    try:
        wait_for(predicate, timeout)
    except Exception:
        pass            # the final call below shows what was wrong
    return predicate()


def _unescape_mountinfo(field):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def is_mounted(path):
    real = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(_unescape_mountinfo(line.split()[4]) == real
                   for line in f)


def peak_rss_kib(pid):
    """VmHWM: the most memory the daemon ever had resident, so that a
    buffer freed after the error still counts."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM for %d" % pid)


def assert_healthy(m):
    """The daemon survived: alive, mounted, and other data still served."""
    assert m.proc.poll() is None, "imapfs exited:\n" + m.log()
    assert is_mounted(m.mountpoint)
    mnt = pathlib.Path(m.mountpoint)
    assert {"INBOX", "Other"} <= set(os.listdir(mnt))
    assert sorted(os.listdir(mnt / "INBOX")) == INBOX_NAMES
    assert os.listdir(mnt / "Other") == ["7.eml"]
    assert read(mnt / "INBOX" / "1.eml") == BODY1
    assert read(mnt / "Other" / "7.eml") == BODY7


# ---------------------------------------------------------------------------
# The fake server answers as a server should: the baseline for the rest


def test_baseline(fake, imapfs):
    srv = fake()
    m = imapfs(srv)
    mnt = pathlib.Path(m.mountpoint)
    assert {"INBOX", "Other", "Bad"} <= set(os.listdir(mnt))
    assert sorted(os.listdir(mnt / "INBOX")) == INBOX_NAMES
    for name, body in (("1.eml", BODY1), ("2.eml", BODY2), ("3.eml", BODY3)):
        p = mnt / "INBOX" / name
        assert os.stat(p).st_size == len(body)
        assert read(p) == body
    assert_healthy(m)
    assert not any(c.split(" ")[1].upper() in ("LOGIN", "AUTHENTICATE")
                   and "secret" in c for c in srv.commands)


# ---------------------------------------------------------------------------
# RFC822.SIZE is a hint: st_size must end up as the bytes read


@pytest.mark.parametrize("announced", [
    pytest.param(len(BODY2) - 1000, id="smaller"),
    pytest.param(len(BODY2) + 1000, id="larger"),
    pytest.param(1, id="tiny"),
])
# Read-only, the kernel opens files without asking (docs/DESIGN.md,
# "Read-only mounts"): the size must be corrected on the read path.
@pytest.mark.parametrize("extra", [(), ("ro",)], ids=["rw", "ro"])
def test_rfc822_size_is_not_trusted(fake, imapfs, announced, extra):
    boxes = mailboxes({2: Message(2, BODY2, ["\\Seen"],
                                  rfc822_size=announced)})
    srv = fake(boxes)
    m = imapfs(srv, extra=extra)
    p = pathlib.Path(m.mountpoint) / "INBOX" / "2.eml"
    first = read(p)
    assert len(first) == len(BODY2) and first == BODY2
    assert settles(lambda: os.stat(p).st_size == len(BODY2)), \
        "st_size %d, read %d" % (os.stat(p).st_size, len(BODY2))
    assert read(p) == BODY2
    assert read_in_chunks(p, 1000) == BODY2
    assert_healthy(m)


@pytest.mark.parametrize("announced", [
    pytest.param(len(BODY2) - 1000, id="smaller"),
    pytest.param(1, id="tiny"),
])
@pytest.mark.parametrize("extra", [(), ("ro",)], ids=["rw", "ro"])
def test_no_short_read_while_the_new_size_is_on_its_way(fake, imapfs,
                                                         announced, extra):
    # The kernel learns a corrected size from the notifier thread, which is
    # held back here for longer than the test takes: every open and stat in
    # between must still see all of the bytes, whichever comes first.
    boxes = mailboxes({2: Message(2, BODY2, ["\\Seen"],
                                  rfc822_size=announced)})
    srv = fake(boxes)
    m = imapfs(srv, env={"IMAPFS_TEST_NOTIFY_DELAY_MS": "60000"},
               extra=extra)
    p = pathlib.Path(m.mountpoint) / "INBOX" / "2.eml"
    # Before the first read, st_size can only be what the server says.
    assert os.stat(p).st_size == announced
    with open(p, "rb") as first:
        # A second open, read before the first (whose uncached reads
        # would tell the kernel the size), then others, none of which
        # waits for the notification.
        with open(p, "rb") as second:
            assert second.read() == BODY2
            assert first.read() == BODY2
        assert os.stat(p).st_size == len(BODY2)
        assert read(p) == BODY2
        assert read_in_chunks(p, 4096) == BODY2
        with open(p, "rb") as f:
            f.seek(len(BODY2) - 10)
            assert f.read() == BODY2[-10:]


@pytest.mark.parametrize("extra", [(), ("ro",)], ids=["rw", "ro"])
def test_wrong_sizes_in_a_walk(fake, imapfs, tmp_path, extra):
    # A walk reads ahead and hands pages to the kernel before they are
    # asked for (docs/DESIGN.md, "Handing pages to the kernel"): a body
    # whose announced size is wrong must still read whole, before and
    # after a remount.
    msgs = {}
    for uid in range(10, 50):
        body = make_body(uid, size=3000 + 97 * uid)
        wrong = {0: None, 1: len(body) - 500, 2: len(body) + 500}[uid % 3]
        msgs[uid] = Message(uid, body, ["\\Seen"], rfc822_size=wrong)
    boxes = mailboxes()
    boxes["INBOX"] = Mailbox(list(msgs.values()), uidvalidity=1234)
    srv = fake(boxes)
    for _ in range(2):
        m = imapfs(srv, extra=extra)
        box = pathlib.Path(m.mountpoint) / "INBOX"
        assert sorted(os.listdir(box)) == sorted(f"{u}.eml" for u in msgs)
        for rnd in range(2):
            for uid in sorted(msgs, reverse=rnd == 1):
                p = box / f"{uid}.eml"
                got = read(p)
                assert got == msgs[uid].body, \
                    (rnd, uid, len(got), len(msgs[uid].body),
                     msgs[uid].rfc822_size)
                assert settles(lambda: os.stat(p).st_size ==
                               len(msgs[uid].body)), (rnd, uid)
        m.stop()


# ---------------------------------------------------------------------------
# The server stops answering, drops the connection, says BYE


def test_body_fetch_hangs(fake, imapfs):
    srv = fake()
    m = imapfs(srv)
    inbox = pathlib.Path(m.mountpoint) / "INBOX"
    assert sorted(os.listdir(inbox)) == INBOX_NAMES
    srv.scenario.hang_on = When("UID FETCH", contains="BODY", uid=2)
    fails(lambda: read(inbox / "2.eml"), (errno.EIO, errno.ETIMEDOUT))
    # The daemon gave up on that connection and serves from another one.
    t0 = time.monotonic()
    assert_healthy(m)
    assert read(inbox / "3.eml") == BODY3
    assert time.monotonic() - t0 < FAIL_WITHIN
    srv.scenario.hang_on = None
    assert read(inbox / "2.eml") == BODY2
    assert settles(lambda: os.stat(inbox / "2.eml").st_size == len(BODY2))


def test_hung_fetch_does_not_block_other_work(fake, imapfs):
    """The pool: while one connection waits on a silent server, listings
    and reads elsewhere go on over the others."""
    srv = fake()
    m = imapfs(srv)
    mnt = pathlib.Path(m.mountpoint)
    assert sorted(os.listdir(mnt / "INBOX")) == INBOX_NAMES
    srv.scenario.hang_on = When("UID FETCH", contains="BODY", uid=2)
    outcome = {}

    def hung_read():
        try:
            outcome["data"] = read(mnt / "INBOX" / "2.eml")
        except OSError as e:
            outcome["errno"] = e.errno

    t = threading.Thread(target=hung_read)
    t.start()
    try:
        wait_for(lambda: any("UID FETCH" in c and "BODY" in c and " 2 " in c
                             for c in srv.commands), FAIL_WITHIN,
                 what="the fetch that hangs")
        t0 = time.monotonic()
        assert os.listdir(mnt / "Other") == ["7.eml"]
        assert read(mnt / "Other" / "7.eml") == BODY7
        assert read(mnt / "INBOX" / "3.eml") == BODY3
        took = time.monotonic() - t0
        assert t.is_alive(), "the hung read ended before the others ran"
        assert took < TIMEOUT / 2, "other work waited %.1f s" % took
    finally:
        t.join(FAIL_WITHIN)
    assert not t.is_alive()
    assert outcome.get("errno") in (errno.EIO, errno.ETIMEDOUT), outcome


@pytest.mark.parametrize("after", [
    pytest.param(None, id="before-any-answer"),
    pytest.param(0, id="after-literal-header"),
    pytest.param(1000, id="mid-literal"),
    pytest.param(len(BODY2) - 1, id="one-byte-short"),
])
def test_drop_inside_body_literal(fake, imapfs, after):
    srv = fake()
    m = imapfs(srv)
    inbox = pathlib.Path(m.mountpoint) / "INBOX"
    assert sorted(os.listdir(inbox)) == INBOX_NAMES
    srv.scenario.drop_on = When("UID FETCH", contains="BODY", uid=2)
    srv.scenario.drop_after_bytes = after
    fails(lambda: read(inbox / "2.eml"))
    assert_healthy(m)
    # The partial body was neither served nor cached.
    srv.scenario.drop_on = None
    assert read(inbox / "2.eml") == BODY2
    assert settles(lambda: os.stat(inbox / "2.eml").st_size == len(BODY2))
    assert read(inbox / "2.eml") == BODY2


def test_bye_instead_of_fetch_answer(fake, imapfs):
    srv = fake()
    m = imapfs(srv)
    inbox = pathlib.Path(m.mountpoint) / "INBOX"
    assert sorted(os.listdir(inbox)) == INBOX_NAMES
    srv.scenario.bye_on = When("UID FETCH", contains="BODY", uid=2)
    fails(lambda: read(inbox / "2.eml"))
    assert_healthy(m)
    srv.scenario.bye_on = None
    assert read(inbox / "2.eml") == BODY2


# ---------------------------------------------------------------------------
# Malformed and hostile answers


def _body_fetch(info):
    return re.search(r"BODY(\.PEEK)?\[\]|BINARY", info.argtext.upper()) \
        is not None


LISTING = When(("UID FETCH", "FETCH"), mailbox="Bad",
               predicate=lambda info: not _body_fetch(info))
SELECTING = When(("SELECT", "EXAMINE"), mailbox="Bad")
BODY = When(("UID FETCH", "FETCH"), mailbox="Bad", predicate=_body_fetch)

DATE = b'INTERNALDATE "01-Jan-2024 12:00:00 +0000"'
OK = b"{tag} OK done\r\n"

# id, when, data, then, streams lots of bytes (check memory)
MALFORMED = [
    ("list-unbalanced-open", LISTING,
     b"* 1 FETCH (UID 1 FLAGS (\\Seen) RFC822.SIZE 3000 " + DATE + b"\r\n" +
     OK, "continue", False),
    ("list-unbalanced-close", LISTING,
     b"* 1 FETCH (UID 1 FLAGS (\\Seen)) RFC822.SIZE 3000 " + DATE + b")\r\n" +
     OK, "continue", False),
    ("list-nul", LISTING,
     b"* 1 FETCH (UID 1 FLAGS (\\Se\0en) RFC822.SIZE 3000 " + DATE +
     b")\r\n" + OK, "continue", False),
    ("list-4G-literal", LISTING,
     Stream(b"* 1 FETCH (UID 1 FLAGS () RFC822.SIZE 3000 INTERNALDATE "
            b"{4294967296}\r\n", BIG), "hang", True),
    ("list-literal-size-overflow", LISTING,
     b"* 1 FETCH (UID 1 INTERNALDATE {18446744073709551617}\r\n" + DATE,
     "hang", False),
    ("list-2M-line", LISTING,
     b"* 1 FETCH (UID 1 FLAGS (" + b"\\Seen " * ((2 << 20) // 6) + b"x" * 7,
     "hang", True),
    ("list-endless-line", LISTING,
     Stream(b"* 1 FETCH (UID 1 FLAGS (", BIG, b"$kw "), "hang", True),
    ("list-deep-nesting", LISTING,
     b"* 1 FETCH (UID 1 FLAGS " + b"(" * 100000 + b")" * 100000 +
     b" RFC822.SIZE 3000 " + DATE + b")\r\n" + OK, "continue", False),
    ("list-uid-overflow", LISTING,
     b"* 1 FETCH (UID 4294967296 FLAGS () RFC822.SIZE 3000 " + DATE +
     b")\r\n" + OK, "continue", False),
    ("list-not-imap", LISTING,
     b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", "close",
     False),
    ("select-uidvalidity-overflow", SELECTING,
     b"* FLAGS (\\Seen)\r\n* 1 EXISTS\r\n"
     b"* OK [UIDVALIDITY 4294967296] UIDs valid\r\n"
     b"* OK [UIDNEXT 2] Predicted next UID\r\n"
     b"{tag} OK [READ-ONLY] done\r\n", "continue", False),
    ("body-4G-literal", BODY,
     Stream(b"* 1 FETCH (UID 1 BODY[] {4294967296}\r\n", BIG), "hang",
     True),
    ("body-endless-line", BODY,
     Stream(b"* 1 FETCH (UID 1 FLAGS (", BIG, b"$kw "), "hang", True),
    ("body-unclosed-after-literal", BODY,
     b"* 1 FETCH (UID 1 BODY[] {5}\r\nhello\r\n" + OK, "continue", False),
    ("body-nul-after-literal", BODY,
     b"* 1 FETCH (UID 1 BODY[] {5}\r\nhello FLAGS (\\Seen\0))\r\n" + OK,
     "continue", False),
    ("body-negative-literal", BODY,
     b"* 1 FETCH (UID 1 BODY[] {-5}\r\nhello)\r\n" + OK, "continue", False),
]


@pytest.mark.parametrize("when,data,then,big",
                         [pytest.param(*row[1:], id=row[0])
                          for row in MALFORMED])
def test_malformed_response(fake, imapfs, when, data, then, big):
    srv = fake()
    # Armed before mounting: the bad mailbox may be looked at early, and
    # a bad answer about one mailbox must not break the mount.
    srv.scenario.malformed = Malformed(when, data, then)
    m = imapfs(srv, env=small_asan_quarantine() if big else None)
    bad = pathlib.Path(m.mountpoint) / "Bad"
    if when is BODY:
        assert os.listdir(bad) == ["1.eml"]
        fails(lambda: read(bad / "1.eml"))
    else:
        fails(lambda: os.listdir(bad))
    assert_healthy(m)
    if big:
        kib = peak_rss_kib(m.proc.pid)
        assert kib < RSS_LIMIT_KIB, "peak RSS %d KiB" % kib
    # Nothing of the bad answer was kept: with the server fixed, the
    # mailbox lists and the message reads right.
    srv.scenario.malformed = ()
    assert os.listdir(bad) == ["1.eml"]
    assert read(bad / "1.eml") == BAD1
    assert_healthy(m)


# ---------------------------------------------------------------------------
# Mount-time failures and TLS


def test_greeting_never_comes(fake, tmp_path, passfile):
    srv = fake(scenario=Scenario(greeting_delay=FOREVER))
    rc, err, took = failure(tmp_path, passfile, srv)
    assert rc != 0
    assert took < FAIL_WITHIN, "took %.1f s" % took
    line = one_error_line(err)
    assert re.search(r"timeout|timed out", line, re.I), line
    assert srv.connections >= 1


@pytest.mark.parametrize("inject", [False, True],
                         ids=["plain-starttls", "injected-bye"])
def test_starttls(fake, imapfs, inject):
    srv = fake(tls=True, scenario=Scenario(starttls_injection=inject))
    m = imapfs(srv, plaintext=False, tls=True)
    mnt = pathlib.Path(m.mountpoint)
    # Listed: the "* BYE injected" before the handshake was thrown away.
    assert {"INBOX", "Other"} <= set(os.listdir(mnt))
    assert read(mnt / "INBOX" / "2.eml") == BODY2
    names = srv.command_names()
    assert "STARTTLS" in names
    auth = [i for i, n in enumerate(names)
            if n in ("LOGIN", "AUTHENTICATE")]
    assert auth and min(auth) > names.index("STARTTLS")
    assert_healthy(m)


def test_nothing_learnt_before_starttls_survives_it(fake, imapfs):
    # Untagged data sent in cleartext before the STARTTLS answer could come
    # from anybody on the path. None of it may outlive the handshake: not a
    # capability, not an ENABLE (UTF8=ACCEPT would turn off the decoding of
    # mailbox names), not a BYE, not an alert shown to the user.
    boxes = mailboxes()
    boxes["caf&AOk-"] = Mailbox([Message(1, BODY1)], uidvalidity=9)
    preamble = (b"* CAPABILITY IMAP4rev1 AUTH=PLAIN UTF8=ACCEPT\r\n"
                b"* ENABLED UTF8=ACCEPT\r\n"
                b"* OK [ALERT] pwned-before-tls\r\n"
                b"* BYE not really\r\n"
                b"* OK [UIDVALIDITY 1] stale\r\n")
    srv = fake(boxes, tls=True, scenario=Scenario(starttls_preamble=preamble))
    m = imapfs(srv, plaintext=False, tls=True)
    mnt = pathlib.Path(m.mountpoint)
    names = set(os.listdir(mnt))
    assert "caf\u00e9" in names, names
    assert "caf&AOk-" not in names
    assert read(mnt / "caf\u00e9" / "1.eml") == BODY1
    assert_healthy(m)
    # The session did not take the cleartext BYE for the server's: it is
    # still in use, and says LOGOUT itself at unmount.
    # Nor did it believe the cleartext CAPABILITY: the fake does not offer
    # UTF8=ACCEPT, so nothing may ask for it.
    assert not [c for c in srv.commands if "UTF8=ACCEPT" in c.upper()]
    m.stop()
    assert "pwned" not in m.log()
    assert "LOGOUT" in srv.command_names()


@pytest.mark.parametrize("tls,scenario", [
    pytest.param(None, Scenario(), id="server-without-tls"),
    pytest.param(True, Scenario(no_starttls=True), id="starttls-not-offered"),
])
def test_no_starttls_is_refused(fake, tmp_path, passfile, tls, scenario):
    srv = fake(tls=tls, scenario=scenario)
    rc, err, took = failure(tmp_path, passfile, srv, plaintext=False)
    assert rc != 0
    assert took < FAIL_WITHIN
    assert "STARTTLS" in one_error_line(err)
    names = srv.command_names()
    assert "LOGIN" not in names and "AUTHENTICATE" not in names, names


def test_preauth_on_cleartext_is_refused(fake, tmp_path, passfile):
    # STARTTLS is offered, but after PREAUTH it cannot be used any more.
    srv = fake(tls=True, scenario=Scenario(preauth=True))
    rc, err, took = failure(tmp_path, passfile, srv, plaintext=False)
    assert rc != 0
    assert took < FAIL_WITHIN
    one_error_line(err)
    names = set(srv.command_names())
    assert not names & {"LIST", "LSUB", "SELECT", "EXAMINE", "STATUS",
                        "FETCH", "UID FETCH", "LOGIN", "AUTHENTICATE"}, names


# ---------------------------------------------------------------------------
# Odd but legal answers, and a buggy one


def test_body_before_uid(fake, imapfs):
    srv = fake(scenario=Scenario(fetch_body_before_uid=True))
    m = imapfs(srv)
    inbox = pathlib.Path(m.mountpoint) / "INBOX"
    assert sorted(os.listdir(inbox)) == INBOX_NAMES
    for name, body in (("1.eml", BODY1), ("2.eml", BODY2), ("3.eml", BODY3)):
        assert read(inbox / name) == body
        assert settles(lambda: os.stat(inbox / name).st_size == len(body))
    assert_healthy(m)


def test_unsolicited_responses_everywhere(fake, imapfs):
    srv = fake(scenario=Scenario(extra_untagged=True))
    m = imapfs(srv)
    mnt = pathlib.Path(m.mountpoint)
    assert {"INBOX", "Other", "Bad"} <= set(os.listdir(mnt))
    assert sorted(os.listdir(mnt / "INBOX")) == INBOX_NAMES
    for name, body in (("1.eml", BODY1), ("2.eml", BODY2), ("3.eml", BODY3)):
        assert read(mnt / "INBOX" / name) == body
    assert read(mnt / "Bad" / "1.eml") == BAD1
    assert_healthy(m)


def test_fetch_answered_for_another_uid(fake, imapfs):
    srv = fake()
    m = imapfs(srv)
    inbox = pathlib.Path(m.mountpoint) / "INBOX"
    assert sorted(os.listdir(inbox)) == INBOX_NAMES
    srv.scenario.wrong_uid = {1: 2}
    # Never the other message's bytes.
    fails(lambda: read(inbox / "1.eml"))
    assert read(inbox / "2.eml") == BODY2
    srv.scenario.wrong_uid = {}
    # Nothing was cached under UID 1.
    assert read(inbox / "1.eml") == BODY1
    assert settles(lambda: os.stat(inbox / "1.eml").st_size == len(BODY1))
    assert_healthy(m)


# ---------------------------------------------------------------------------
# Literals in commands: a password that cannot be a quoted string


@pytest.mark.parametrize("literal_plus", [True, False],
                         ids=["literal-plus", "synchronising"])
def test_login_with_password_that_needs_a_literal(fake, tmp_path,
                                                  literal_plus):
    """An 8-bit password goes to LOGIN as a literal: without waiting where
    the server has LITERAL+, after its go-ahead where it has not."""
    from fakeimap import DEFAULT_CAPABILITIES
    password = "s\u00e9cret \"q\" \\ x"
    caps = [c for c in DEFAULT_CAPABILITIES
            if literal_plus or c.upper() != "LITERAL+"]
    srv = fake(capabilities=caps, users={"alice": password})
    pf = tmp_path / "password8"
    pf.write_text(password + "\n", encoding="utf-8")
    pf.chmod(0o600)
    opts = ["plaintext", "passfile=" + str(pf), "auth=login", "trace",
            "timeout=%d" % TIMEOUT, "cache_dir=" + str(tmp_path / "c8")]
    m = Mount(source(srv), str(new_mountpoint(tmp_path)), opts)
    try:
        m.start()
        mnt = pathlib.Path(m.mountpoint)
        assert sorted(os.listdir(mnt / "INBOX")) == INBOX_NAMES
        log = m.log().splitlines()
        login = [ln for ln in log if " LOGIN " in ln]
        assert login, m.log()
        # The "{n}" header is redacted with the password, whose length
        # is a secret too; a synchronising literal waited for a "+".
        assert "{%d" % len(password.encode()) not in login[0], login[0]
        go_ahead = [ln for ln in log if re.search(r"\] S: \+ ", ln)]
        assert bool(go_ahead) != literal_plus, m.log()
        assert "s\u00e9c" not in m.log() and "\"q\"" not in m.log()
    finally:
        m.stop()


# ---------------------------------------------------------------------------
# UTF8=ACCEPT: mailbox names are UTF-8 on the wire, not modified UTF-7


def test_utf8_accept_names(fake, imapfs):
    from fakeimap import DEFAULT_CAPABILITIES
    boxes = mailboxes()
    boxes["Entw\u00fcrfe"] = Mailbox([Message(5, BODY7)], uidvalidity=9)
    boxes["\u65e5\u672c\u8a9e"] = Mailbox([], uidvalidity=10)
    boxes["\u65e5\u672c\u8a9e/a&b"] = Mailbox([Message(2, BODY3)],
                                             uidvalidity=11)
    srv = fake(boxes, capabilities=DEFAULT_CAPABILITIES + ("UTF8=ACCEPT",),
               enable=("UTF8=ACCEPT",))
    m = imapfs(srv)
    mnt = pathlib.Path(m.mountpoint)
    assert {"Entw\u00fcrfe", "\u65e5\u672c\u8a9e"} <= set(os.listdir(mnt))
    assert read(mnt / "Entw\u00fcrfe" / "5.eml") == BODY7
    # "&" is an ordinary character in UTF-8 names: no "&-" anywhere.
    assert read(mnt / "\u65e5\u672c\u8a9e" / "a&b" / "2.eml") == BODY3
    assert os.getxattr(mnt / "Entw\u00fcrfe", "user.imap.name") == \
        "Entw\u00fcrfe".encode()
    assert any("ENABLE" in c and "UTF8=ACCEPT" in c for c in srv.commands)
