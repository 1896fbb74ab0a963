# SPDX-License-Identifier: GPL-2.0-or-later
"""What the server says reaches the user's terminal only escaped, and what
the user's password is never shows, not even its length.

Against the scripted fake server: an [ALERT] and a login refusal full of
terminal escape sequences, BEL and C1 controls; a trace of a login whose
password of unusual length goes as a literal; and the daemon's limits,
since the password lives in its memory for the life of the mount.
"""

import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "lib"))
sys.path.insert(0, str(REPO / "tests" / "fake"))

from mount import Mount, expect_mount_failure, is_mounted  # noqa: E402
from fakeimap import (  # noqa: E402
    DEFAULT_CAPABILITIES, FakeImapServer, Mailbox, Malformed, Message,
    Scenario, When, make_body,
)

pytestmark = pytest.mark.skipif(
    not os.path.exists("/dev/fuse")
    or not os.access("/dev/fuse", os.R_OK | os.W_OK)
    or shutil.which("fusermount3") is None,
    reason="needs /dev/fuse and fusermount3")

# Window title, clear screen, blink, bell, CSI and OSC as C1 (UTF-8), TAB,
# backspace, a backslash that would make an escape of its own, and a
# character that must pass as it is.
HOSTILE = (b"\x1b]0;pwned\x07 \x1b[2J\x1b[5mblink\x1b[0m \xc2\x9b31m "
           b"\xc2\x9d0;t\xc2\x9c\tcaf\xc3\xa9 \\x1b x\x08y")
HOSTILE_ESCAPED = ("\\x1b]0;pwned\\x07 \\x1b[2J\\x1b[5mblink\\x1b[0m "
                   "\\xc2\\x9b31m \\xc2\\x9d0;t\\xc2\\x9c\\x09caf\u00e9 "
                   "\\\\x1b x\\x08y")

# 23 bytes, with 8-bit ones so that LOGIN must send it as a literal.
PASSWORD = "p\u00e4ssw\u00f6rd-\u00fcnusual-len"
assert len(PASSWORD.encode()) == 23


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


@pytest.fixture
def fake():
    """fake(**kw) -> a running FakeImapServer with one message."""
    servers = []

    def make(**kw):
        boxes = {"INBOX": Mailbox([Message(1, make_body(1))],
                                  uidvalidity=77)}
        srv = FakeImapServer(boxes, **kw)
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        srv.stop()
    for srv in servers:
        assert srv.errors == [], "the fake server itself failed"


def passfile(tmp_path, password):
    p = tmp_path / "password"
    p.write_bytes(password.encode() + b"\n")
    p.chmod(0o600)
    return str(p)


def mount_args(tmp_path, srv, password="secret", extra=()):
    mnt = tmp_path / "mnt"
    mnt.mkdir(exist_ok=True)
    opts = ["plaintext", "timeout=3", "passfile=" + passfile(tmp_path,
                                                             password),
            "cache_dir=" + str(tmp_path / "cache")] + list(extra)
    return "imap://alice@127.0.0.1:%d" % srv.port, str(mnt), opts


@pytest.fixture
def imapfs(tmp_path):
    """imapfs(srv, password=..., extra=()) -> a started Mount, always
    stopped at teardown; its log must show no sanitizer report."""
    mounts = []

    def make(srv, **kw):
        m = Mount(*mount_args(tmp_path, srv, **kw))
        mounts.append(m)
        m.start()
        return m

    yield make
    bugs = []
    for m in mounts:
        try:
            m.stop()
        finally:
            print("---- imapfs log ----\n%s" % m.log())
        bugs += m.bug_reports()
    assert not bugs, "\n".join(bugs)


def raw_log(m):
    with open(m.log_path, "rb") as f:
        return f.read()


def assert_harmless(data):
    """No byte a terminal would act on: C0 controls other than the line
    ends between messages, DEL, C1 controls in UTF-8, invalid UTF-8."""
    text = data.decode("utf-8")     # raises on invalid UTF-8
    bad = re.findall(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]", text)
    assert not bad, "raw control characters %r in:\n%s" % (bad, text)


def test_alert_is_escaped_in_the_log(fake, imapfs):
    srv = fake(scenario=Scenario(
        login_untagged=b"* OK [ALERT] " + HOSTILE + b"\r\n"))
    m = imapfs(srv)
    assert os.listdir(m.mountpoint) == ["INBOX"]
    m.stop()
    log = raw_log(m)
    assert_harmless(log)
    assert ("server alert: " + HOSTILE_ESCAPED).encode() in log


def test_login_refusal_is_escaped_on_one_line(fake, tmp_path):
    srv = fake(scenario=Scenario(malformed=Malformed(
        When(("LOGIN", "AUTHENTICATE")),
        b"{tag} NO [AUTHENTICATIONFAILED] " + HOSTILE + b"\r\n")))
    source, mnt, opts = mount_args(tmp_path, srv)
    try:
        rc, err = expect_mount_failure(source, mnt, opts)
    finally:
        if is_mounted(mnt):
            subprocess.run(["fusermount3", "-u", "-z", mnt], check=False)
    assert rc != 0
    assert_harmless(err.encode())
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("imapfs: "), err
    assert lines[0].endswith(HOSTILE_ESCAPED), err


@pytest.mark.parametrize("literal_plus", [True, False],
                         ids=["literal-plus", "synchronising"])
def test_trace_hides_the_password_length(fake, imapfs, literal_plus):
    # No AUTH=PLAIN: LOGIN, with the password as a literal.
    caps = [c for c in DEFAULT_CAPABILITIES
            if c not in ("AUTH=PLAIN", "SASL-IR")
            and (literal_plus or c != "LITERAL+")]
    srv = fake(capabilities=caps, users={"alice": PASSWORD})
    m = imapfs(srv, password=PASSWORD, extra=["trace"])
    assert os.listdir(m.mountpoint) == ["INBOX"]
    assert os.listdir(os.path.join(m.mountpoint, "INBOX")) == ["1.eml"]
    m.stop()
    log = raw_log(m).decode("utf-8")
    assert_harmless(log.encode())
    sent = [ln.split(" C: ", 1)[1] for ln in log.splitlines()
            if re.match(r"imapfs: \[\d+\] C: ", ln)]
    login = [i for i, ln in enumerate(sent) if " LOGIN " in ln]
    assert len(login) == 1, "\n".join(sent)
    i = login[0]
    # Everything of the password redacted, the header "{23}" included.
    assert re.fullmatch(r'a\d+ LOGIN "alice" <redacted>', sent[i]), sent[i]
    assert sent[i + 1] == "<secret literal>", sent[i + 1]
    for ln in sent:
        assert not re.search(r"\b23\b", ln), ln
    assert PASSWORD not in log


def test_no_core_dumps(fake, imapfs):
    m = imapfs(fake())
    with open("/proc/%d/limits" % m.pid) as f:
        limits = f.read()
    core = [ln for ln in limits.splitlines()
            if ln.startswith("Max core file size")]
    assert len(core) == 1, limits
    assert core[0].split()[4:6] == ["0", "0"], core[0]
