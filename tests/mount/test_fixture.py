# SPDX-License-Identifier: GPL-2.0-or-later
"""The test server, the corpus and the oracle, checked without imapfs."""

import contextlib
import datetime
import imaplib
import os
import re
import shlex
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

import pytest

import corpus
from dovecot import Dovecot, DovecotError
from mount import fuse_mount_info, mount_entries, wait_for

LIB = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "lib")


def _capabilities(client):
    typ, data = client.capability()
    assert typ == "OK"
    return set(data[0].decode().upper().split())


# -- modified UTF-7 -----------------------------------------------------------

UTF7_VALID = [
    ("INBOX", "INBOX"),
    ("Entwürfe", "Entw&APw-rfe"),
    ("日本語", "&ZeVnLIqe-"),
    ("&", "&-"),
    ("Tom & Jerry", "Tom &- Jerry"),
    ("📧 Mail", "&2D3c5w- Mail"),
    ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
    ("Ä&Ö", "&AMQ-&-&ANY-"),
    ("", ""),
]

UTF7_INVALID = [
    "&",            # unterminated
    "&Jjo",         # unterminated
    "&AGE-",        # encodes printable ASCII "a"
    "&APx-",        # non-zero padding bits
    "&AMQ-&ANY-",   # two shifts in a row must be one
    "&2D3-",        # lone high surrogate
    "&3Cc-",        # lone low surrogate
    "&AM/-",        # "/" is not in the modified base64 alphabet
    "Entwürfe",     # 8-bit
    "a\tb",         # control character
]


@pytest.mark.parametrize("text,encoded", UTF7_VALID)
def test_utf7_encode(text, encoded):
    assert corpus.utf7_encode(text) == encoded


@pytest.mark.parametrize("text,encoded", UTF7_VALID)
def test_utf7_decode(text, encoded):
    assert corpus.utf7_decode(encoded) == text


@pytest.mark.parametrize("encoded", UTF7_INVALID)
def test_utf7_decode_rejects(encoded):
    with pytest.raises(ValueError):
        corpus.utf7_decode(encoded)


# -- the response parser of the oracle ----------------------------------------

def test_parser_literal_in_fetch(helpers):
    data = [(b"1 (UID 5 BODY[] {5}", b"a)\r\nb"), b" FLAGS (\\Seen $X))",
            b"2 (UID 6 FLAGS ())"]
    lines = helpers.parse_untagged(data)
    assert lines == [["1", ["UID", "5", "BODY[]", b"a)\r\nb", "FLAGS",
                            ["\\Seen", "$X"]]],
                     ["2", ["UID", "6", "FLAGS", []]]]


def test_parser_list_with_quoted_literal_and_nil(helpers):
    data = [b'(\\HasNoChildren) "/" "Tom &- Jerry"',
            (b'(\\Noselect) "/" {7}', b'a "b" c'),
            b'',
            b'(\\HasNoChildren) NIL "q\\"uote\\\\d"']
    lines = helpers.parse_untagged(data)
    assert lines == [[["\\HasNoChildren"], b"/", b"Tom &- Jerry"],
                     [["\\Noselect"], b"/", b'a "b" c'],
                     [["\\HasNoChildren"], None, b'q"uote\\d']]


def test_parser_section_with_spaces(helpers):
    data = [b"3 (UID 9 BODY[HEADER.FIELDS (SUBJECT DATE)] NIL)"]
    assert helpers.parse_untagged(data) == [
        ["3", ["UID", "9", "BODY[HEADER.FIELDS (SUBJECT DATE)]", None]]]


def test_parse_internaldate(helpers):
    d = helpers.parse_internaldate(b" 7-Jul-1996 02:44:25 -0700")
    assert d == datetime.datetime(1996, 7, 7, 9, 44, 25,
                                  tzinfo=datetime.timezone.utc)
    assert d.utcoffset() == datetime.timedelta(hours=-7)


# -- mount helpers ------------------------------------------------------------

def test_mountinfo_is_parsed():
    entries = mount_entries()
    assert any(mnt == "/" for mnt, _, _ in entries)
    assert fuse_mount_info("/") is None


def test_wait_for_returns_value_and_times_out():
    assert wait_for(lambda: 42, 1) == 42
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        wait_for(lambda: False, 0.2)
    assert 0.2 <= time.monotonic() - start < 2


# -- the server ---------------------------------------------------------------

def test_starttls_login_with_ca(dovecot):
    c = imaplib.IMAP4(dovecot.host, dovecot.imap_port)
    try:
        assert "STARTTLS" in _capabilities(c)
        assert "LOGINDISABLED" not in _capabilities(c)
        ctx = ssl.create_default_context(cafile=dovecot.ca_path)
        c.starttls(ssl_context=ctx)
        typ, _ = c.login(dovecot.user, dovecot.password)
        assert typ == "OK"
        assert {"CONDSTORE", "SPECIAL-USE", "UIDPLUS"} <= _capabilities(c)
    finally:
        c.logout()


def test_starttls_certificate_is_not_trusted_by_default(dovecot):
    # imapfs without cafile must therefore fail to verify.
    c = imaplib.IMAP4(dovecot.host, dovecot.imap_port)
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            c.starttls(ssl_context=ssl.create_default_context())
    finally:
        with contextlib.suppress(OSError):
            c.shutdown()


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_imaps_login_with_ca(dovecot, host):
    ctx = ssl.create_default_context(cafile=dovecot.ca_path)
    with socket.create_connection((dovecot.host, dovecot.imaps_port)) as s:
        with ctx.wrap_socket(s, server_hostname=host) as t:
            assert t.recv(100).startswith(b"* OK")
    c = imaplib.IMAP4_SSL(host, dovecot.imaps_port, ssl_context=ctx)
    assert c.login(dovecot.user, dovecot.password)[0] == "OK"
    c.logout()


def test_certificate_names_are_checked(dovecot_factory):
    d = dovecot_factory(fill=False, cert_names=("mail.example.com",))
    ctx = ssl.create_default_context(cafile=d.ca_path)
    with socket.create_connection((d.host, d.imaps_port)) as s:
        with pytest.raises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(s, server_hostname="localhost")


def test_wrong_password_is_refused(dovecot_factory):
    # A server of its own: Dovecot delays logins from an address that
    # failed once, for a while.
    dovecot = dovecot_factory(fill=False)
    c = imaplib.IMAP4(dovecot.host, dovecot.imap_port)
    try:
        c.starttls(ssl_context=dovecot.ssl_context())
        with pytest.raises(imaplib.IMAP4.error):
            c.login(dovecot.user, dovecot.password + "x")
    finally:
        with contextlib.suppress(OSError):
            c.shutdown()


def test_plain_server_has_no_starttls(plain_dovecot):
    c = imaplib.IMAP4(plain_dovecot.host, plain_dovecot.imap_port)
    try:
        caps = _capabilities(c)
        assert "STARTTLS" not in caps
        assert "LOGINDISABLED" not in caps
        assert c.login(plain_dovecot.user, plain_dovecot.password)[0] == "OK"
    finally:
        c.logout()
    assert plain_dovecot.imaps_port is None
    assert plain_dovecot.ca_path is None


def test_tunnel_greets_with_preauth(dovecot):
    r = subprocess.run(dovecot.tunnel_command(), shell=True,
                       input=b'a LIST "" "*"\r\nb LOGOUT\r\n',
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"* PREAUTH "), r.stdout[:200]
    assert b'"/" Entw&APw-rfe\r\n' in r.stdout
    assert b"a OK" in r.stdout
    # Only Dovecot's own disconnect message, no errors.
    assert b"Error" not in r.stderr, r.stderr
    # No commas: the command is given as -o tunnel=CMD.
    assert "," not in dovecot.tunnel_command()


def test_tunnel_runs_as_mail_user(dovecot):
    cmd = dovecot.tunnel_command().split(" /usr/lib/dovecot/imap")[0]
    r = subprocess.run(cmd + " id -u", shell=True, capture_output=True,
                       text=True, timeout=30)
    assert r.stdout.strip() == "5000"


def test_doveadm_talks_to_the_instance(dovecot):
    out = dovecot.doveadm("mailbox", "list", "-u", dovecot.user)
    assert "Entwürfe" in out.splitlines()


@pytest.fixture
def scratch():
    """A directory under /tmp, 0700 as mktemp -d makes it."""
    top = tempfile.mkdtemp(prefix="imapfs-test-")
    yield top
    shutil.rmtree(top, ignore_errors=True)


class _BrokenDovecot(Dovecot):
    def _config(self):
        return super()._config() + "no_such_setting = 1\n"


def test_start_raises_with_the_reason(scratch):
    d = _BrokenDovecot(os.path.join(scratch, "d"))
    with pytest.raises(DovecotError, match="no_such_setting"):
        d.start(timeout=10)
    d.cleanup()


def test_stop_is_idempotent(scratch):
    d = Dovecot(os.path.join(scratch, "d"), ssl=False)
    try:
        d.start()
        pid = d.pid
        assert d.running()
        d.stop()
        assert not Dovecot.pid_alive(pid)
        assert not d.running()
        d.stop()
    finally:
        d.cleanup()
        d.cleanup()


def test_stop_ends_client_connections(dovecot_factory):
    d = dovecot_factory(fill=False)
    c = d.imap()
    c.select("INBOX")
    assert len(d.processes()) >= 5
    d.stop()
    assert d.processes() == set()
    with pytest.raises((imaplib.IMAP4.abort, OSError)):
        c.noop()


def test_restart_keeps_ports_and_mail(dovecot_factory, oracle_for):
    d = dovecot_factory()
    ports = (d.imap_port, d.imaps_port)
    before = oracle_for(d).all_messages()
    d.stop()
    with pytest.raises(OSError):
        socket.create_connection((d.host, d.imap_port), timeout=5).close()
    d.restart()
    assert (d.imap_port, d.imaps_port) == ports
    assert oracle_for(d).all_messages() == before


def test_workdir_the_mail_user_cannot_reach(tmp_path, oracle_for):
    # pytest's tmp_path is 0700 below a 0700 directory.
    d = Dovecot(tmp_path / "dovecot")
    try:
        d.start()
        public = os.readlink(tmp_path / "dovecot" / "public")
        assert d.conf_path.startswith(public)
        assert d.home.startswith(public)
        corpus.fill_tricky(d)
        assert oracle_for(d).messages("INBOX")
        r = subprocess.run(d.tunnel_command(), shell=True,
                           input=b"a LOGOUT\r\n", capture_output=True,
                           timeout=30)
        assert r.stdout.startswith(b"* PREAUTH "), (r.stdout, r.stderr)
    finally:
        d.cleanup()
    assert not os.path.exists(public)
    assert d.processes() == set()


def test_quota_refuses_append(dovecot_factory):
    d = dovecot_factory(fill=False, quota="100K")
    with d.imap() as c:
        typ, data = c.getquotaroot("INBOX")
        assert typ == "OK", data
        with pytest.raises(RuntimeError, match="OVERQUOTA"):
            corpus.append_raw(c, "INBOX", b"Subject: big\r\n\r\n" +
                              b"x" * 200 * 1024 + b"\r\n")


def test_start_and_fill_take_little_time(dovecot_factory):
    start = time.monotonic()
    d = dovecot_factory(fill=False)
    started = time.monotonic()
    corpus.fill_tricky(d)
    filled = time.monotonic()
    assert started - start < 10
    assert filled - started < 20


# -- the tricky corpus --------------------------------------------------------

EXPECTED_RAW_NAMES = {
    ("INBOX",): "INBOX",
    ("Entwürfe",): "Entw&APw-rfe",
    ("日本語",): "&ZeVnLIqe-",
    ("日本語", "子供"): "&ZeVnLIqe-/&W1BPmw-",
    ("Tom & Jerry",): "Tom &- Jerry",
    ("with spaces",): "with spaces",
    ("📧 Mail",): "&2D3c5w- Mail",
    ("Projects",): "Projects",
    ("Projects", "2026"): "Projects/2026",
    ("Projects", "2026", "Q4"): "Projects/2026/Q4",
    ("Sent",): "Sent", ("Drafts",): "Drafts", ("Trash",): "Trash",
    ("Junk",): "Junk",
}


def test_corpus_mailboxes(oracle):
    boxes = oracle.mailboxes()
    assert {p: m.name for p, m in boxes.items()} == EXPECTED_RAW_NAMES
    assert all(m.delimiter == "/" for m in boxes.values())
    noselect = {p for p, m in boxes.items() if not m.selectable}
    assert noselect == set(corpus.NOSELECT_MAILBOXES)
    uses = {p: m.specialuse for p, m in boxes.items() if m.specialuse}
    assert uses == {("Sent",): "\\Sent", ("Drafts",): "\\Drafts",
                    ("Trash",): "\\Trash", ("Junk",): "\\Junk"}


def test_courier_corpus_mailboxes(courier_dovecot, oracle_for):
    boxes = oracle_for(courier_dovecot).mailboxes()
    assert all(m.delimiter == "." for m in boxes.values())
    expected = {("INBOX",)} | {("INBOX",) + p for p in EXPECTED_RAW_NAMES
                               if p != ("INBOX",)}
    assert set(boxes) == expected
    assert boxes[("INBOX", "Entwürfe")].name == "INBOX.Entw&APw-rfe"
    assert boxes[("INBOX", "Projects", "2026")].selectable is False


def _crlf(data):
    return re.sub(rb"(?<!\r)\n", b"\r\n", data)


def test_corpus_messages(dovecot, oracle):
    c = dovecot.corpus
    assert len(c.messages) >= 20
    for path, name in c.mailboxes.items():
        infos = oracle.messages(name)
        bodies = oracle.bodies(name)
        expected = c.by_mailbox(path)
        assert set(infos) == {m.uid for m in expected}, name
        for m in expected:
            info = infos[m.uid]
            assert bodies[m.uid] == _crlf(m.data), m
            assert info.size == len(bodies[m.uid]), m
            assert info.flags - {"\\Recent"} == set(m.flags), m
            when = datetime.datetime.strptime(m.internaldate,
                                              "%d-%b-%Y %H:%M:%S %z")
            assert info.internaldate == when, m
            assert info.modseq > 0


def test_corpus_special_messages(dovecot, oracle):
    msgs = dovecot.corpus.messages
    bare = oracle.body("INBOX", msgs["bare-lf"].uid)
    assert b"\n" in msgs["bare-lf"].data.replace(b"\r\n", b"")
    assert re.search(rb"(?<!\r)\n", bare) is None
    assert oracle.body("INBOX", msgs["empty-body"].uid).endswith(
        b">\r\n\r\n")
    assert len(oracle.body("INBOX", msgs["large"].uid)) >= 1024 * 1024
    utf8 = oracle.body("INBOX", msgs["utf8"].uid)
    assert "Subject: Grüße aus Köln".encode() in utf8
    mp = oracle.body("INBOX", msgs["multipart"].uid)
    assert b"Content-Transfer-Encoding: base64" in mp


def test_corpus_flag_coverage(oracle):
    flags = [i.flags - {"\\Recent"}
             for box in oracle.all_messages().values() for i in box.values()]
    for f in ("\\Seen", "\\Flagged", "\\Answered", "\\Draft", "\\Deleted",
              "$Forwarded", corpus.KEYWORD):
        assert any(f in s for s in flags), f
        assert any(f not in s for s in flags), f
    assert frozenset() in flags


def test_corpus_internaldates_keep_zones(oracle):
    dates = [i.internaldate for box in oracle.all_messages().values()
             for i in box.values()]
    offsets = {d.utcoffset() for d in dates}
    # The server is in PST8PDT: both standard and daylight saving time.
    assert offsets == {datetime.timedelta(hours=-8),
                       datetime.timedelta(hours=-7)}


def test_corpus_status(oracle):
    st = oracle.status("Entw&APw-rfe")
    assert st["MESSAGES"] == 2 and st["UNSEEN"] == 2
    assert st["UIDNEXT"] == 3 and st["UIDVALIDITY"] > 0


def test_fill_demo(dovecot_factory, oracle_for):
    d = dovecot_factory(fill=False)
    c = corpus.fill_demo(d)
    o = oracle_for(d)
    total = sum(len(o.messages(m.name)) for m in o.selectable().values())
    assert 25 <= total <= 40
    assert len(c.messages) == total
    for name in c.mailboxes.values():
        for uid, body in o.bodies(name).items():
            assert body.startswith(b"From: ")
            body.decode("utf-8")


def test_bulk_10000(dovecot_factory, oracle_for):
    d = dovecot_factory(fill=False)
    start = time.monotonic()
    name = corpus.bulk(d, 10000)
    elapsed = time.monotonic() - start
    assert elapsed < 30, f"bulk(10000) took {elapsed:.1f}s"
    o = oracle_for(d)
    st = o.status(name)
    assert st["MESSAGES"] == 10000
    assert st["UIDNEXT"] == 10001
    assert st["UNSEEN"] == 10000 - 10000 // 7
    bodies = o.bodies(name, "1:50,9990:10000")
    seen = set()
    for uid, body in bodies.items():
        m = re.search(rb"Subject: Bulk message (\d+)\r\n", body)
        i = int(m.group(1))
        assert body == _crlf(corpus.bulk_message(i))
        seen.add(i)
    assert len(seen) == len(bodies) == 61


def _cli(*args):
    return subprocess.run([sys.executable, os.path.join(LIB, "dovecot.py"),
                           *args], capture_output=True, text=True,
                          timeout=60)


def test_cli_start_fill_stop(scratch):
    # Below a directory the mail user cannot reach, as scripts do it.
    work = os.path.join(scratch, "dovecot")
    try:
        r = _cli("start", "--dir", work, "--fill", "demo")
        assert r.returncode == 0, r.stderr
        env = {}
        for line in r.stdout.splitlines():
            k, v = line.split("=", 1)
            env[k] = shlex.split(v)[0] if v else ""
        assert set(env) == {"IMAP_PORT", "IMAPS_PORT", "USER", "PASSFILE",
                            "CAFILE", "CONF", "PID"}
        assert os.stat(env["PASSFILE"]).st_mode & 0o777 == 0o600
        with open(env["PASSFILE"]) as f:
            password = f.read().strip()
        assert Dovecot.pid_alive(int(env["PID"]))
        ctx = ssl.create_default_context(cafile=env["CAFILE"])
        c = imaplib.IMAP4_SSL("localhost", int(env["IMAPS_PORT"]),
                              ssl_context=ctx)
        c.login(env["USER"], password)
        typ, data = c.select("INBOX", readonly=True)
        assert int(data[0]) >= 10
        c.logout()
        public = os.readlink(os.path.join(work, "public"))
        assert os.path.isdir(public)
        r = _cli("stop", "--dir", work)
        assert r.returncode == 0, r.stderr
        assert not Dovecot.pid_alive(int(env["PID"]))
        assert not os.path.exists(public)
    finally:
        _cli("stop", "--dir", work)


def test_cli_no_ssl(scratch):
    work = os.path.join(scratch, "dovecot")
    try:
        r = _cli("start", "--dir", work, "--no-ssl")
        assert r.returncode == 0, r.stderr
        lines = dict(line.split("=", 1) for line in r.stdout.splitlines())
        assert lines["IMAPS_PORT"] == "" and lines["CAFILE"] == ""
        c = imaplib.IMAP4("127.0.0.1", int(lines["IMAP_PORT"]))
        assert "STARTTLS" not in _capabilities(c)
        c.logout()
    finally:
        assert _cli("stop", "--dir", work).returncode == 0


def test_cli_stop_without_instance(scratch):
    r = _cli("stop", "--dir", scratch)
    assert r.returncode == 1
    assert "no instance" in r.stderr


def test_oracle_never_changes_flags(dovecot, oracle):
    before = oracle.all_messages()
    for m in oracle.selectable().values():
        oracle.bodies(m.name)
    assert oracle.all_messages() == before


def test_password_is_random(dovecot_factory):
    a = dovecot_factory(fill=False)
    b = dovecot_factory(fill=False)
    assert len(a.password) >= 12
    assert a.password != b.password
