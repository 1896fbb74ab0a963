# SPDX-License-Identifier: GPL-2.0-or-later
"""Self-tests of the fake IMAP server: a normal session through imaplib,
and every scenario checked on the wire with a raw socket."""

import base64
import imaplib
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fakeimap import (  # noqa: E402
    BODY_FETCH, DEFAULT_CAPABILITIES, FOREVER, INJECTED_BYE, FakeImapServer, Mailbox, Malformed,
    Message, Scenario, Stream, When, make_body, parse_command, parse_set,
)

BODY1 = make_body(1)
BODY2 = make_body(2, size=5000)
BODY3 = make_body(3, subject="third")
QUIET = 0.5     # how long "no answer" is watched for


def mailboxes():
    return {
        "INBOX": Mailbox([
            Message(1, BODY1, [], "02-Jan-2024 10:00:00 +0100"),
            Message(2, BODY2, ["\\Seen", "$Forwarded"],
                    "03-Jan-2024 11:00:00 +0000", modseq=7),
            Message(3, BODY3, ["\\Flagged"], rfc822_size=10),
        ], uidvalidity=1234, attributes=[]),
        "Sent": Mailbox([Message(5, make_body(5))], uidvalidity=99,
                        attributes=["\\Sent"]),
        "Archive": Mailbox([], attributes=["\\Noselect"]),
        "Archive/2023": Mailbox([Message(1, make_body(1))]),
    }


@pytest.fixture
def server():
    srv = FakeImapServer(mailboxes())
    yield srv
    srv.stop()
    assert srv.errors == []


@pytest.fixture
def tls_server():
    srv = FakeImapServer(mailboxes(), tls=True)
    yield srv
    srv.stop()
    assert srv.errors == []


def login(srv):
    m = imaplib.IMAP4("127.0.0.1", srv.port, timeout=5)
    m.login("alice", "secret")
    return m


class Raw:
    """A line-level client that shows exactly what the server sends."""

    def __init__(self, port, timeout=5, greet=True):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout)
        self.buf = b""
        self.greeting = self.line() if greet else None

    def close(self):
        self.sock.close()

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("server closed the connection")
        self.buf += data

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exact(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def cmd(self, tag, text):
        """Send a command; return (untagged responses, tagged line).
        Literals are folded into their response as bytes."""
        self.send("%s %s\r\n" % (tag, text))
        return self.until(tag)

    def until(self, tag):
        responses = []
        while True:
            line = self.line()
            m = re.search(rb"\{(\d+)\}\Z", line)
            while m:
                line += b"\r\n" + self.exact(int(m.group(1)))
                more = self.line()
                line += more
                m = re.search(rb"\{(\d+)\}\Z", more)
            if line.startswith(tag.encode() + b" "):
                return responses, line
            responses.append(line)

    def login(self):
        _, ok = self.cmd("L", "LOGIN alice secret")
        assert ok.startswith(b"L OK"), ok

    def quiet(self, seconds=QUIET):
        """True when nothing arrives for `seconds` (connection open)."""
        self.sock.settimeout(seconds)
        try:
            data = self.sock.recv(1)
        except socket.timeout:
            return True
        finally:
            self.sock.settimeout(5)
        if data:
            self.buf += data
            return False
        raise EOFError("server closed the connection")

    def closed(self):
        """True when the server closed (after whatever it still sent)."""
        try:
            while True:
                self._fill()
        except EOFError:
            return True
        except ConnectionResetError:
            return True


# ---------------------------------------------------------------------------
# Parsing helpers


def test_parse_command_generic():
    tag, name, args = parse_command(
        [b'a1 uid fetch 1:* (UID BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.10>)'])
    assert (tag, name) == ("a1", "UID FETCH")
    assert args == ["1:*", ["UID", "BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.10>"]]
    tag, name, args = parse_command(
        [b'b LOGIN "al\\"ice" ', b'sec ret', b''])
    assert name == "LOGIN" and args == ['al"ice', "sec ret"]
    with pytest.raises(Exception):
        parse_command([b'c LIST ("a"'])
    with pytest.raises(Exception):
        parse_command([b'd SELECT "INBOX'])


def test_parse_set():
    p = parse_set("1:3,7,9:*", 12)
    assert [x for x in range(1, 14) if p(x)] == [1, 2, 3, 7, 9, 10, 11, 12]
    p = parse_set("20:*", 12)       # * is the largest: 12:20
    assert [x for x in range(1, 13) if p(x)] == [12]
    for bad in ("", "0", "1:", "a", "1:2:3", "1,,2"):
        with pytest.raises(Exception):
            parse_set(bad, 5)


def test_make_body_sizes():
    for size in (300, 301, 5000):
        b = make_body(4, size=size)
        assert len(b) == size and b.endswith(b"\r\n")
        assert b"\n" not in b.replace(b"\r\n", b"")


# ---------------------------------------------------------------------------
# A normal session


def test_greeting_and_capability(server):
    m = imaplib.IMAP4("127.0.0.1", server.port, timeout=5)
    assert m.welcome.startswith(b"* OK [CAPABILITY IMAP4rev1 ")
    assert m.welcome.endswith(b"ready.")
    assert "STARTTLS" not in m.capabilities     # no TLS configured
    assert "AUTH=PLAIN" in m.capabilities and "SASL-IR" in m.capabilities
    typ, data = m.capability()
    assert typ == "OK" and b"IMAP4rev1" in data[0]
    m.logout()


def test_login_quoted_and_bad_password(server):
    m = imaplib.IMAP4("127.0.0.1", server.port, timeout=5)
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        m.login("alice", "wrong")
    typ, data = m.login("alice", "secret")
    assert typ == "OK" and data[0].startswith(b"[CAPABILITY ")
    assert b"AUTH=PLAIN" not in data[0]         # post-login capabilities
    m.logout()
    assert all("secret" not in c and "wrong" not in c
               for c in server.commands)
    assert [c.split(" ", 1)[1] for c in server.commands
            if " LOGIN " in c] == ["LOGIN ***", "LOGIN ***"]


def test_login_with_synchronising_literal(server):
    m = imaplib.IMAP4("127.0.0.1", server.port, timeout=5)
    m.literal = b"secret"
    typ, _ = m._simple_command("LOGIN", "alice")    # LOGIN alice {6}
    assert typ == "OK"
    m.state = "AUTH"
    assert m.list()[0] == "OK"
    m.logout()
    assert "secret" not in " ".join(server.commands)


def test_login_with_non_synchronising_literal(server):
    r = Raw(server.port)
    # No "+ " continuation is sent for {n+}: the answer is the tagged OK.
    _, ok = r.cmd("a", "LOGIN {5+}\r\nalice {6+}\r\nsecret")
    assert ok.startswith(b"a OK [CAPABILITY ")
    assert r.buf == b""
    r.close()


def test_authenticate_plain_continuation(server):
    m = imaplib.IMAP4("127.0.0.1", server.port, timeout=5)
    typ, _ = m.authenticate("PLAIN", lambda _: b"\0alice\0secret")
    assert typ == "OK"
    assert m.list()[0] == "OK"
    m.logout()
    auth = [c for c in server.commands if "AUTHENTICATE" in c]
    assert [a.split(" ", 1)[1] for a in auth] == ["AUTHENTICATE PLAIN"]


def test_authenticate_plain_sasl_ir(server):
    good = base64.b64encode(b"\0alice\0secret").decode()
    bad = base64.b64encode(b"\0alice\0nope").decode()
    r = Raw(server.port)
    _, no = r.cmd("a", "AUTHENTICATE PLAIN " + bad)
    assert no.startswith(b"a NO [AUTHENTICATIONFAILED]")
    _, ok = r.cmd("b", "AUTHENTICATE PLAIN " + good)
    assert ok.startswith(b"b OK [CAPABILITY ")
    r.close()
    auth = [c for c in server.commands if "AUTHENTICATE" in c]
    assert [a.split(" ", 1)[1] for a in auth] == \
        ["AUTHENTICATE PLAIN ***"] * 2
    assert good not in " ".join(server.commands)


def test_authenticate_cancel(server):
    r = Raw(server.port)
    r.send("a AUTHENTICATE PLAIN\r\n")
    assert r.line() == b"+ "
    r.send("*\r\n")
    assert r.line().startswith(b"a BAD")
    r.close()


def test_state_rules_and_unknown_command(server):
    r = Raw(server.port)
    _, bad = r.cmd("a", "LIST \"\" *")
    assert bad.startswith(b"a BAD")     # not logged in yet
    _, bad = r.cmd("b", "FROBNICATE 1 2")
    assert bad == b"b BAD unknown command"
    r.login()
    _, bad = r.cmd("c", "UID FETCH 1:* (UID)")
    assert bad.startswith(b"c BAD")     # nothing selected
    _, bad = r.cmd("d", "LIST (")
    assert bad.startswith(b"d BAD parse error")
    r.close()


def test_enable_namespace_id_noop(server):
    r = Raw(server.port)
    r.login()
    assert r.cmd("a", "ENABLE CONDSTORE UTF8=ACCEPT") == \
        ([b"* ENABLED"], b"a OK Enabled.")
    un, ok = r.cmd("b", "NAMESPACE")
    assert un == [b'* NAMESPACE (("" "/")) NIL NIL'] and ok.startswith(b"b OK")
    un, ok = r.cmd("c", 'ID ("name" "test")')
    assert un[0].startswith(b"* ID (") and ok.startswith(b"c OK")
    assert r.cmd("d", "NOOP") == ([], b"d OK NOOP completed.")
    r.close()


def test_enable_supported():
    with FakeImapServer(mailboxes(), enable=("CONDSTORE",)) as srv:
        r = Raw(srv.port)
        r.login()
        un, _ = r.cmd("a", "ENABLE CONDSTORE QRESYNC")
        assert un == [b"* ENABLED CONDSTORE"]
        r.close()


def test_list(server):
    m = login(server)
    typ, data = m.list()
    assert typ == "OK"
    assert data == [
        b'(\\HasNoChildren) "/" "INBOX"',
        b'(\\Sent \\HasNoChildren) "/" "Sent"',
        b'(\\Noselect \\HasChildren) "/" "Archive"',
        b'(\\HasNoChildren) "/" "Archive/2023"',
    ]
    typ, data = m._simple_command("LIST", '""', '"*"', "RETURN",
                                  "(SPECIAL-USE)")
    typ, data = m._untagged_response(typ, data, "LIST")
    assert typ == "OK" and b'(\\Sent \\HasNoChildren) "/" "Sent"' in data
    typ, data = m.list('""', "%")
    assert len(data) == 3       # no Archive/2023
    typ, data = m.list('""', '""')
    assert data == [b'(\\Noselect) "/" ""']
    m.logout()


def test_examine_and_select_lines(server):
    r = Raw(server.port)
    r.login()
    un, ok = r.cmd("a", "EXAMINE INBOX")
    assert un == [
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
        b"* OK [PERMANENTFLAGS ()] Flags permitted.",
        b"* 3 EXISTS",
        b"* 0 RECENT",
        b"* OK [UIDVALIDITY 1234] UIDs valid",
        b"* OK [UIDNEXT 4] Predicted next UID",
    ]
    assert ok == b"a OK [READ-ONLY] Examine completed."
    un, ok = r.cmd("b", 'SELECT "INBOX"')
    assert b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen " \
        b"\\Draft \\*)] Flags permitted." in un
    assert ok == b"b OK [READ-WRITE] Select completed."
    _, no = r.cmd("c", "SELECT Nope")
    assert no.startswith(b"c NO [NONEXISTENT]")
    _, no = r.cmd("d", "SELECT Archive")
    assert no.startswith(b"d NO")
    r.close()


def test_examine_with_imaplib(server):
    m = login(server)
    typ, data = m.select("INBOX", readonly=True)
    assert (typ, data) == ("OK", [b"3"])
    assert m.response("UIDVALIDITY") == ("UIDVALIDITY", [b"1234"])
    assert m.response("UIDNEXT") == ("UIDNEXT", [b"4"])
    assert m.response("READ-ONLY") == ("READ-ONLY", [b""])
    m.logout()


def test_uid_fetch_listing(server):
    m = login(server)
    m.select("INBOX", readonly=True)
    typ, data = m.uid("FETCH", "1:*",
                      "(UID FLAGS RFC822.SIZE INTERNALDATE MODSEQ)")
    assert typ == "OK"
    assert data == [
        b'1 (UID 1 FLAGS () RFC822.SIZE %d INTERNALDATE '
        b'"02-Jan-2024 10:00:00 +0100" MODSEQ (1))' % len(BODY1),
        b'2 (UID 2 FLAGS (\\Seen $Forwarded) RFC822.SIZE 5000 INTERNALDATE '
        b'"03-Jan-2024 11:00:00 +0000" MODSEQ (7))',
        b'3 (UID 3 FLAGS (\\Flagged) RFC822.SIZE 10 INTERNALDATE '
        b'"01-Jan-2024 12:00:00 +0000" MODSEQ (1))',
    ]
    m.logout()


@pytest.mark.parametrize("uidset,expect", [
    ("1:*", [1, 2, 3]), ("2", [2]), ("1:2", [1, 2]), ("3:2", [2, 3]),
    ("1,3", [1, 3]), ("9:*", [3]), ("4", []), ("1:4294967295", [1, 2, 3]),
])
def test_uid_fetch_sets(server, uidset, expect):
    r = Raw(server.port)
    r.login()
    r.cmd("s", "EXAMINE INBOX")
    un, ok = r.cmd("f", "UID FETCH %s FLAGS" % uidset)
    assert ok.startswith(b"f OK")
    # Only the items asked for, plus UID, which is always there.
    got = [int(re.match(rb"\* \d+ FETCH \(UID (\d+) FLAGS \(", u).group(1))
           for u in un]
    assert got == expect
    r.close()


def test_fetch_by_sequence_number(server):
    r = Raw(server.port)
    r.login()
    r.cmd("s", "EXAMINE INBOX")
    un, _ = r.cmd("f", "FETCH 2:3 RFC822.SIZE")
    assert un == [b"* 2 FETCH (RFC822.SIZE 5000)",
                  b"* 3 FETCH (RFC822.SIZE 10)"]
    r.close()


def test_uid_fetch_body_literal(server):
    m = login(server)
    m.select("INBOX", readonly=True)
    typ, data = m.uid("FETCH", "2", "(BODY.PEEK[])")
    assert typ == "OK"
    assert data == [(b"2 (UID 2 BODY[] {5000}", BODY2), b")"]
    typ, data = m.uid("FETCH", "1,3", "(UID RFC822.SIZE BODY.PEEK[])")
    assert data == [
        (b"1 (UID 1 RFC822.SIZE %d BODY[] {%d}" % (len(BODY1), len(BODY1)),
         BODY1), b")",
        # The RFC822.SIZE override is reported; the body is the real one.
        (b"3 (UID 3 RFC822.SIZE 10 BODY[] {%d}" % len(BODY3), BODY3), b")",
    ]
    typ, data = m.uid("FETCH", "2", "(BODY.PEEK[]<10.20>)")
    assert data == [(b"2 (UID 2 BODY[]<10> {20}", BODY2[10:30]), b")"]
    m.logout()


def test_body_without_peek_sets_seen_only_read_write(server):
    m = login(server)
    m.select("INBOX", readonly=True)
    typ, data = m.uid("FETCH", "1", "(BODY[])")
    assert data[0][0] == b"1 (UID 1 BODY[] {%d}" % len(BODY1)
    assert data[1] == b")"
    m.select("INBOX")
    typ, data = m.uid("FETCH", "1", "(BODY[])")
    assert data[1] == b" FLAGS (\\Seen))"
    typ, data = m.uid("FETCH", "1", "(FLAGS)")
    assert data == [b"1 (UID 1 FLAGS (\\Seen))"]
    m.logout()


def test_status(server):
    m = login(server)
    typ, data = m.status("INBOX",
                         "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)")
    assert (typ, data) == ("OK", [b'"INBOX" (MESSAGES 3 RECENT 0 UIDNEXT 4 '
                                  b'UIDVALIDITY 1234 UNSEEN 2)'])
    typ, data = m.status("Sent", "(UIDVALIDITY HIGHESTMODSEQ)")
    assert data == [b'"Sent" (UIDVALIDITY 99 HIGHESTMODSEQ 1)']
    m.logout()


def test_search_close_idle(server):
    r = Raw(server.port)
    r.login()
    r.cmd("s", "EXAMINE INBOX")
    assert r.cmd("a", "UID SEARCH ALL")[0] == [b"* SEARCH 1 2 3"]
    assert r.cmd("b", "UID SEARCH UID 2:*")[0] == [b"* SEARCH 2 3"]
    assert r.cmd("c", "SEARCH 1,3")[0] == [b"* SEARCH 1 3"]
    r.send("i IDLE\r\n")
    assert r.line() == b"+ idling"
    r.send("DONE\r\n")
    assert r.line() == b"i OK Idle completed."
    assert r.cmd("d", "CLOSE")[1].startswith(b"d OK")
    assert r.cmd("e", "UID SEARCH ALL")[1].startswith(b"e BAD")
    r.close()


def test_logout_closes(server):
    r = Raw(server.port)
    un, ok = r.cmd("z", "LOGOUT")
    assert un == [b"* BYE Logging out"] and ok.startswith(b"z OK")
    assert r.closed()


def test_concurrent_connections(server):
    conns = [login(server) for _ in range(3)]
    results = []

    def work(m):
        m.select("INBOX", readonly=True)
        results.append(m.uid("FETCH", "2", "(BODY.PEEK[])")[1][0][1])

    threads = [threading.Thread(target=work, args=(m,)) for m in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == [BODY2] * 3
    assert server.connections == 3 and server.active_connections == 3
    for m in conns:
        m.logout()


def test_commands_log_and_names(server):
    m = login(server)
    m.select("INBOX", readonly=True)
    m.uid("FETCH", "1", "(FLAGS)")
    m.logout()
    assert server.command_names() == [
        "CAPABILITY", "LOGIN", "EXAMINE", "UID FETCH", "LOGOUT"]
    assert server.commands[3].endswith(" UID FETCH 1 (FLAGS)")


def test_stop_is_prompt_with_open_connections():
    srv = FakeImapServer(mailboxes(), scenario=Scenario(hang_on="LOGIN"))
    r = Raw(srv.port)
    r.send("a LOGIN alice secret\r\n")
    assert r.quiet()
    t0 = time.monotonic()
    srv.stop()
    assert time.monotonic() - t0 < 3
    assert r.closed()
    srv.stop()          # idempotent


# ---------------------------------------------------------------------------
# TLS


def test_starttls_with_imaplib(tls_server):
    m = imaplib.IMAP4("127.0.0.1", tls_server.port, timeout=5)
    assert "STARTTLS" in m.capabilities
    ctx = ssl.create_default_context(cafile=tls_server.cafile)
    m.starttls(ctx)     # verifies the chain and 127.0.0.1
    assert "STARTTLS" not in m.capabilities
    m.login("alice", "secret")
    m.select("INBOX", readonly=True)
    assert m.uid("FETCH", "2", "(BODY.PEEK[])")[1][0][1] == BODY2
    m.logout()


def test_implicit_tls():
    with FakeImapServer(mailboxes(), tls=True, implicit_tls=True) as srv:
        ctx = ssl.create_default_context(cafile=srv.cafile)
        m = imaplib.IMAP4_SSL("127.0.0.1", srv.port, ssl_context=ctx,
                              timeout=5)
        assert "STARTTLS" not in m.capabilities
        m.login("alice", "secret")
        m.logout()


def test_given_tls_files(tmp_path):
    from fakeimap import generate_tls_files
    files = generate_tls_files(str(tmp_path))
    with FakeImapServer(mailboxes(), tls=(files.cert, files.key,
                                          files.cafile)) as srv:
        assert srv.cafile == files.cafile
        ctx = ssl.create_default_context(cafile=files.cafile)
        m = imaplib.IMAP4("127.0.0.1", srv.port, timeout=5)
        m.starttls(ctx)
        m.logout()


def test_certificate_is_not_trusted_without_cafile(tls_server):
    m = imaplib.IMAP4("127.0.0.1", tls_server.port, timeout=5)
    with pytest.raises(ssl.SSLCertVerificationError):
        m.starttls(ssl.create_default_context())


def _s_client(args, stdin, timeout=15):
    return subprocess.run(["openssl", "s_client"] + args, input=stdin,
                          capture_output=True, timeout=timeout)


needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None,
                                   reason="no openssl command")


@needs_openssl
def test_starttls_with_openssl_s_client(tls_server):
    p = _s_client(["-connect", "127.0.0.1:%d" % tls_server.port,
                   "-starttls", "imap", "-CAfile", tls_server.cafile,
                   "-verify_return_error", "-verify_ip", "127.0.0.1",
                   "-crlf", "-ign_eof"],
                  b"a1 LOGIN alice secret\na2 LIST \"\" *\na3 LOGOUT\n")
    out = p.stdout.decode()
    assert p.returncode == 0, p.stderr.decode()
    assert "Verify return code: 0 (ok)" in out
    assert "a1 OK" in out and '"Sent"' in out and "a3 OK" in out
    assert tls_server.command_names() == [
        "CAPABILITY", "STARTTLS", "LOGIN", "LIST", "LOGOUT"]


@needs_openssl
def test_implicit_tls_with_openssl_s_client():
    with FakeImapServer(mailboxes(), tls=True, implicit_tls=True) as srv:
        p = _s_client(["-connect", "127.0.0.1:%d" % srv.port,
                       "-CAfile", srv.cafile, "-verify_return_error",
                       "-verify_hostname", "localhost", "-crlf", "-ign_eof"],
                      b"a1 CAPABILITY\na2 LOGOUT\n")
        out = p.stdout.decode()
        assert p.returncode == 0, p.stderr.decode()
        assert "Verify return code: 0 (ok)" in out
        assert "* OK [CAPABILITY IMAP4rev1" in out and "a2 OK" in out


# ---------------------------------------------------------------------------
# Scenarios


def test_greeting_delay():
    with FakeImapServer(mailboxes(), {"greeting_delay": 0.6}) as srv:
        t0 = time.monotonic()
        r = Raw(srv.port)
        assert time.monotonic() - t0 >= 0.55
        assert r.greeting.startswith(b"* OK")
        r.close()


def test_greeting_never_comes():
    srv = FakeImapServer(mailboxes(), Scenario(greeting_delay=FOREVER))
    r = Raw(srv.port, greet=False)
    assert r.quiet(1.0)
    assert srv.connections == 1
    t0 = time.monotonic()
    srv.stop()
    assert time.monotonic() - t0 < 3
    assert r.closed()


def _select_inbox(r):
    r.login()
    assert r.cmd("s", "EXAMINE INBOX")[1].startswith(b"s OK")


def test_hang_on_body_fetch():
    sc = Scenario(hang_on=When("UID FETCH", contains="BODY", uid=2))
    with FakeImapServer(mailboxes(), sc) as srv:
        r = Raw(srv.port)
        _select_inbox(r)
        assert len(r.cmd("a", "UID FETCH 1:* (UID FLAGS)")[0]) == 3
        assert r.cmd("b", "UID FETCH 1 BODY.PEEK[]")[1].startswith(b"b OK")
        r.send("c UID FETCH 2 BODY.PEEK[]\r\n")
        assert r.quiet()
        r.send("d NOOP\r\n")        # a hung server answers nothing more
        assert r.quiet()
        assert srv.commands[-1].endswith("d NOOP")
        # Other connections are not affected.
        r2 = Raw(srv.port)
        r2.login()
        r2.close()
        r.close()


def test_hang_once_with_times():
    sc = Scenario(hang_on=When("UID FETCH",
                               contains="BODY", times=1))
    with FakeImapServer(mailboxes(), sc) as srv:
        r = Raw(srv.port)
        _select_inbox(r)
        r.send("a UID FETCH 1 BODY.PEEK[]\r\n")
        assert r.quiet()
        r2 = Raw(srv.port)
        _select_inbox(r2)
        un, ok = r2.cmd("a", "UID FETCH 1 BODY.PEEK[]")
        assert ok.startswith(b"a OK") and un[0].endswith(BODY1 + b")")
        r.close()
        r2.close()


def test_body_fetch_shorthand():
    sc = Scenario(bye_on=BODY_FETCH)
    with FakeImapServer(mailboxes(), sc) as srv:
        r = Raw(srv.port)
        _select_inbox(r)
        assert r.cmd("a", "UID FETCH 1:* (UID FLAGS)")[1].startswith(b"a OK")
        r.send("b UID FETCH 1 (BODY.PEEK[])\r\n")
        assert r.line().startswith(b"* BYE")


def test_drop_on_command():
    sc = Scenario(drop_on=When("UID FETCH", contains="BODY"))
    with FakeImapServer(mailboxes(), sc) as srv:
        r = Raw(srv.port)
        _select_inbox(r)
        r.send("a UID FETCH 2 BODY.PEEK[]\r\n")
        assert r.closed() and r.buf == b""


@pytest.mark.parametrize("k", [0, 1, 100, 4999])
def test_drop_in_the_middle_of_the_literal(k):
    sc = Scenario(drop_on=When("UID FETCH", contains="BODY", uid=2),
                  drop_after_bytes=k)
    with FakeImapServer(mailboxes(), sc) as srv:
        r = Raw(srv.port)
        _select_inbox(r)
        # Not armed for other messages.
        assert r.cmd("a", "UID FETCH 1 BODY.PEEK[]")[1].startswith(b"a OK")
        r.send("b UID FETCH 2 (UID BODY.PEEK[])\r\n")
        assert r.closed()
        assert r.buf == b"* 2 FETCH (UID 2 BODY[] {5000}\r\n" + BODY2[:k]


def test_drop_can_be_turned_off_while_running():
    srv = FakeImapServer(mailboxes(), Scenario(drop_on=BODY_FETCH,
                                               drop_after_bytes=10))
    with srv:
        r = Raw(srv.port)
        _select_inbox(r)
        r.send("a UID FETCH 2 BODY.PEEK[]\r\n")
        assert r.closed()
        srv.scenario.drop_on = None
        r = Raw(srv.port)
        _select_inbox(r)
        un, ok = r.cmd("a", "UID FETCH 2 BODY.PEEK[]")
        assert ok.startswith(b"a OK") and un[0].endswith(BODY2 + b")")


def test_bye_on():
    sc = Scenario(bye_on=When("UID FETCH", contains="BODY"))
    with FakeImapServer(mailboxes(), sc) as srv:
        r = Raw(srv.port)
        _select_inbox(r)
        r.send("a UID FETCH 1 BODY.PEEK[]\r\n")
        assert r.line() == b"* BYE Server shutting down."
        assert r.closed() and r.buf == b""


def test_malformed_then_continue():
    bad = b"* 1 FETCH (UID 1 FLAGS (\\Seen)\r\n{tag} OK done\r\n"
    sc = Scenario(malformed=Malformed(When("UID FETCH", mailbox="INBOX"),
                                      bad))
    with FakeImapServer(mailboxes(), sc) as srv:
        r = Raw(srv.port)
        _select_inbox(r)
        r.send("x7 UID FETCH 1:* (FLAGS)\r\n")
        assert r.line() == b"* 1 FETCH (UID 1 FLAGS (\\Seen)"
        assert r.line() == b"x7 OK done"
        assert r.cmd("n", "NOOP")[1] == b"n OK NOOP completed."


def test_malformed_mailbox_filter():
    sc = Scenario(malformed={When(("SELECT", "EXAMINE"), mailbox="Sent"):
                             b"* BAD \x00\r\n"})
    with FakeImapServer(mailboxes(), sc) as srv:
        r = Raw(srv.port)
        _select_inbox(r)
        r.send("b EXAMINE Sent\r\n")
        assert r.line() == b"* BAD \x00"
        assert r.quiet()


def test_malformed_hang_and_close():
    line = b"* OK " + b"x" * (2 << 20)
    sc = Scenario(malformed=[Malformed(When("LIST"), line, then="hang"),
                             Malformed(When("STATUS"), b"* (((\r\n",
                                       then="close")])
    with FakeImapServer(mailboxes(), sc) as srv:
        r = Raw(srv.port)
        r.login()
        r.send('a LIST "" *\r\n')
        assert r.exact(len(line)) == line
        assert r.quiet()            # no CRLF, nothing after it
        r2 = Raw(srv.port)
        r2.login()
        r2.send("b STATUS INBOX (MESSAGES)\r\n")
        assert r2.line() == b"* ((("
        assert r2.closed()


def test_malformed_streamed_huge_literal():
    head = b"* 1 FETCH (UID 1 BODY[] {4294967296}\r\n"
    total = 64 * 65536 + 5
    sc = Scenario(malformed=Malformed(When("UID FETCH", contains="BODY"),
                                      Stream(head, total, b"yz"),
                                      then="hang"))
    with FakeImapServer(mailboxes(), sc) as srv:
        for _ in range(2):      # the stream can be sent again
            r = Raw(srv.port)
            _select_inbox(r)
            r.send("a UID FETCH 1 BODY.PEEK[]\r\n")
            assert r.line() == head[:-2]
            got = r.exact(total)
            assert got == (b"yz" * total)[:total]
            assert r.quiet()
            r.close()


def test_no_starttls():
    with FakeImapServer(mailboxes(), Scenario(no_starttls=True),
                        tls=True) as srv:
        m = imaplib.IMAP4("127.0.0.1", srv.port, timeout=5)
        assert "STARTTLS" not in m.capabilities
        typ, data = m._simple_command("CAPABILITY")
        assert b"STARTTLS" not in m.untagged_responses["CAPABILITY"][-1]
        m.logout()
        r = Raw(srv.port)
        assert r.cmd("a", "STARTTLS")[1].startswith(b"a BAD")
        assert r.cmd("b", "LOGIN alice secret")[1].startswith(b"b OK")


def test_starttls_injection_on_the_wire():
    with FakeImapServer(mailboxes(), Scenario(starttls_injection=True),
                        tls=True) as srv:
        r = Raw(srv.port)
        r.send("a STARTTLS\r\n")
        # One recv() gets the tagged OK and the injected line: they were
        # written together, before the handshake.
        first = r.sock.recv(65536)
        assert first == b"a OK Begin TLS negotiation now.\r\n" + INJECTED_BYE
        ctx = ssl.create_default_context(cafile=srv.cafile)
        tls = ctx.wrap_socket(r.sock, server_hostname="127.0.0.1")
        tls.sendall(b"b CAPABILITY\r\n")
        got = b""
        while not re.search(rb"^b OK", got, re.M):
            data = tls.recv(65536)
            assert data
            got += data
        # After the handshake, only the answer to CAPABILITY: the server
        # itself never sends the BYE over TLS.
        assert got.startswith(b"* CAPABILITY IMAP4rev1")
        assert b"BYE" not in got and b"STARTTLS" not in got
        tls.close()


def test_starttls_injection_custom_bytes_and_imaplib():
    sc = Scenario(starttls_injection=b"* OK [CAPABILITY IMAP4rev1]\r\n")
    with FakeImapServer(mailboxes(), sc, tls=True) as srv:
        m = imaplib.IMAP4("127.0.0.1", srv.port, timeout=5)
        m.starttls(ssl.create_default_context(cafile=srv.cafile))
        m.login("alice", "secret")
        m.logout()


def test_fetch_body_before_uid():
    with FakeImapServer(mailboxes(),
                        Scenario(fetch_body_before_uid=True)) as srv:
        r = Raw(srv.port)
        _select_inbox(r)
        un, _ = r.cmd("a", "UID FETCH 1 (UID FLAGS BODY.PEEK[])")
        assert un == [b"* 1 FETCH (BODY[] {%d}\r\n" % len(BODY1) + BODY1 +
                      b" UID 1 FLAGS ())"]
        un, _ = r.cmd("b", "UID FETCH 1 (UID FLAGS)")   # no body: as usual
        assert un == [b"* 1 FETCH (UID 1 FLAGS ())"]
        m = login(srv)
        m.select("INBOX", readonly=True)
        typ, data = m.uid("FETCH", "2", "(BODY.PEEK[])")
        assert data[0] == (b"2 (BODY[] {5000}", BODY2)
        m.logout()


def test_extra_untagged():
    with FakeImapServer(mailboxes(), Scenario(extra_untagged=True)) as srv:
        r = Raw(srv.port)
        _select_inbox(r)
        un, ok = r.cmd("a", "UID FETCH 1:2 (UID FLAGS)")
        extra = [b"* 3 EXISTS", b"* 1 FETCH (FLAGS ())", b"* OK still here"]
        assert un == extra + [b"* 1 FETCH (UID 1 FLAGS ())"] + extra + \
            [b"* 2 FETCH (UID 2 FLAGS (\\Seen $Forwarded))"] + extra
        assert ok == b"a OK Fetch completed."
        # imaplib still gets the listing and the body.
        m = imaplib.IMAP4("127.0.0.1", srv.port, timeout=5)
        m.login("alice", "secret")
        assert m.select("INBOX", readonly=True)[0] == "OK"
        typ, data = m.uid("FETCH", "2", "(BODY.PEEK[])")
        assert (b"2 (UID 2 BODY[] {5000}", BODY2) in data
        m.logout()


def test_wrong_uid():
    with FakeImapServer(mailboxes(), Scenario(wrong_uid={1: 2})) as srv:
        r = Raw(srv.port)
        _select_inbox(r)
        un, ok = r.cmd("a", "UID FETCH 1 (UID BODY.PEEK[])")
        assert un == [b"* 2 FETCH (UID 2 BODY[] {5000}\r\n" + BODY2 + b")"]
        assert ok.startswith(b"a OK")
        # Listings are not affected.
        un, _ = r.cmd("b", "UID FETCH 1 (UID FLAGS)")
        assert un == [b"* 1 FETCH (UID 1 FLAGS ())"]


def test_preauth():
    with FakeImapServer(mailboxes(), Scenario(preauth=True),
                        tls=True) as srv:
        m = imaplib.IMAP4("127.0.0.1", srv.port, timeout=5)
        assert m.welcome.startswith(b"* PREAUTH [CAPABILITY ")
        assert m.state == "AUTH"
        assert "STARTTLS" not in m.capabilities
        assert m.select("INBOX", readonly=True) == ("OK", [b"3"])
        m.logout()
        r = Raw(srv.port)
        assert r.cmd("a", "STARTTLS")[1].startswith(b"a BAD")


def test_login_fails():
    with FakeImapServer(mailboxes(), Scenario(login_fails=True)) as srv:
        m = imaplib.IMAP4("127.0.0.1", srv.port, timeout=5)
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            m.login("alice", "secret")
        with pytest.raises(imaplib.IMAP4.error):
            m.authenticate("PLAIN", lambda _: b"\0alice\0secret")
        m.logout()


def test_combined_scenarios():
    sc = Scenario(extra_untagged=True, fetch_body_before_uid=True,
                  hang_on=When("UID FETCH", uid=3))
    with FakeImapServer(mailboxes(), sc) as srv:
        m = login(srv)
        m.select("INBOX", readonly=True)
        typ, data = m.uid("FETCH", "1", "(UID BODY.PEEK[])")
        assert (b"1 (BODY[] {%d}" % len(BODY1), BODY1) in data
        m.sock.settimeout(QUIET)
        with pytest.raises((socket.timeout, TimeoutError)):
            m.uid("FETCH", "3", "(UID FLAGS)")
        m.shutdown()


def test_scenario_replaced_while_connected(server):
    r = Raw(server.port)
    _select_inbox(r)
    server.scenario = Scenario(bye_on="NOOP")
    r.send("a NOOP\r\n")
    assert r.line().startswith(b"* BYE")


# ---------------------------------------------------------------------------
# OBJECTID, and mailboxes that change under clients


def test_objectid_examine_and_status():
    boxes = mailboxes()
    boxes["INBOX"].mailboxid = "Finbox-1"
    with FakeImapServer(boxes, objectid=True) as srv:
        r = Raw(srv.port)
        assert b" OBJECTID" in r.greeting
        r.login()
        un, ok = r.cmd("a", "EXAMINE INBOX")
        assert un[-1] == b"* OK [MAILBOXID (Finbox-1)] Ok"
        assert ok.startswith(b"a OK")
        un, ok = r.cmd("b", "STATUS Sent (MAILBOXID UIDVALIDITY)")
        assert un == [b'* STATUS "Sent" (MAILBOXID (%s) UIDVALIDITY 99)' %
                      srv.mailboxes["Sent"].mailboxid.encode()]
        r.close()
    assert srv.errors == []


def test_no_objectid_by_default(server):
    r = Raw(server.port)
    assert b"OBJECTID" not in r.greeting
    r.login()
    un, _ = r.cmd("a", "EXAMINE INBOX")
    assert not any(b"MAILBOXID" in u for u in un)
    _, bad = r.cmd("b", "STATUS INBOX (MAILBOXID)")
    assert bad.startswith(b"b BAD")
    r.close()


def test_every_mailbox_has_its_own_mailboxid():
    ids = [Mailbox().mailboxid for _ in range(50)]
    assert len(set(ids)) == len(ids)
    for i in ids:
        # RFC 8474 §7: objectid = 1*255(ALPHA / DIGIT / "_" / "-")
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,255}", i), i


def test_create_delete_rename_while_connected():
    with FakeImapServer(mailboxes(), objectid=True) as srv:
        sent_id = srv.mailboxes["Sent"].mailboxid
        r = Raw(srv.port)
        r.login()
        un, _ = r.cmd("a", "EXAMINE Sent")
        assert b"* OK [MAILBOXID (%s)] Ok" % sent_id.encode() in un
        # Renamed away: the selected name has no mailbox any more.
        assert srv.rename_mailbox("Sent", "Old").mailboxid == sent_id
        _, no = r.cmd("b", "UID FETCH 1:* (UID)")
        assert no.startswith(b"b NO [NONEXISTENT]")
        _, no = r.cmd("c", "UID SEARCH ALL")
        assert no.startswith(b"c NO [NONEXISTENT]")
        # Another one under the name: its messages, its MAILBOXID.
        new = srv.create_mailbox("Sent", [Message(5, BODY3)])
        assert new.mailboxid != sent_id
        un, _ = r.cmd("d", "UID FETCH 5 (UID BODY.PEEK[])")
        assert un == [b"* 1 FETCH (UID 5 BODY[] {%d}\r\n" % len(BODY3) +
                      BODY3 + b")"]
        un, _ = r.cmd("e", "EXAMINE Sent")
        assert b"* OK [MAILBOXID (%s)] Ok" % new.mailboxid.encode() in un
        assert b"* OK [UIDVALIDITY 1] UIDs valid" in un
        un, _ = r.cmd("f", "EXAMINE Old")
        assert b"* OK [MAILBOXID (%s)] Ok" % sent_id.encode() in un
        assert b"* OK [UIDVALIDITY 99] UIDs valid" in un
        un, _ = r.cmd("g", 'LIST "" "*"')
        assert any(u.endswith(b' "Old"') for u in un)
        with pytest.raises(KeyError):
            srv.create_mailbox("Old")
        with pytest.raises(KeyError):
            srv.rename_mailbox("Sent", "Old")
        srv.delete_mailbox("Old")
        _, no = r.cmd("h", "EXAMINE Old")
        assert no.startswith(b"h NO [NONEXISTENT]")
        assert srv.create_mailbox("Old").messages == []
        r.close()
    assert srv.errors == []


def test_store_flags():
    with FakeImapServer(mailboxes(), capabilities=(
            "IMAP4rev1", "UIDPLUS", "AUTH=PLAIN", "CONDSTORE")) as srv:
        inbox = srv.mailboxes["INBOX"]
        r = Raw(srv.port)
        r.login()
        r.cmd("s", "SELECT INBOX")
        un, ok = r.cmd("a", "UID STORE 1 +FLAGS (\\Seen $Work)")
        assert (un, ok) == ([b"* 1 FETCH (UID 1 FLAGS (\\Seen $Work))"],
                            b"a OK Store completed.")
        assert inbox.by_uid(1).flags == ["\\Seen", "$Work"]
        assert inbox.by_uid(1).modseq == 8      # highest was 7
        # Already there (in any case): no change, no new MODSEQ.
        un, _ = r.cmd("b", "UID STORE 1 +FLAGS.SILENT (\\SEEN)")
        assert un == [] and inbox.by_uid(1).modseq == 8
        un, _ = r.cmd("c", "UID STORE 1:2 -FLAGS ($work)")
        assert un == [b"* 1 FETCH (UID 1 FLAGS (\\Seen))",
                      b"* 2 FETCH (UID 2 FLAGS (\\Seen $Forwarded))"]
        un, _ = r.cmd("d", "STORE 3 FLAGS \\Draft")
        assert un == [b"* 3 FETCH (FLAGS (\\Draft))"]
        assert inbox.by_uid(3).flags == ["\\Draft"]
        un, _ = r.cmd("e", "UID STORE 3 (UNCHANGEDSINCE 99) FLAGS.SILENT ()")
        assert un == [] and inbox.by_uid(3).flags == []
        # Flags outside PERMANENTFLAGS are stored all the same.
        inbox.permanentflags = ("\\Seen",)
        r.cmd("f", "UID STORE 2 +FLAGS.SILENT (\\Flagged)")
        assert inbox.by_uid(2).flags == ["\\Seen", "$Forwarded", "\\Flagged"]
        for tag, cmd in (("g", "UID STORE 1 +FLAGS (\\Recent)"),
                         ("h", "UID STORE 1 XFLAGS (\\Seen)"),
                         ("i", "UID STORE 1 +FLAGS"),
                         ("j", "UID STORE 1 +FLAGS ((x))")):
            _, bad = r.cmd(tag, cmd)
            assert bad.startswith(tag.encode() + b" BAD"), bad
        assert inbox.by_uid(1).flags == ["\\Seen"]
        r.cmd("k", "EXAMINE INBOX")
        _, no = r.cmd("l", "UID STORE 1 -FLAGS (\\Seen)")
        assert no.startswith(b"l NO")
        assert inbox.by_uid(1).flags == ["\\Seen"]
        r.cmd("m", "CLOSE")
        _, bad = r.cmd("n", "UID STORE 1 -FLAGS (\\Seen)")
        assert bad.startswith(b"n BAD")
        assert "UID STORE" in srv.command_names()
        r.close()
    assert srv.errors == []


def test_store_with_imaplib(server):
    m = login(server)
    m.select("INBOX")
    typ, data = m.uid("STORE", "3", "+FLAGS", "(\\Seen)")
    assert typ == "OK" and data == [b"3 (UID 3 FLAGS (\\Flagged \\Seen))"]
    typ, data = m.uid("FETCH", "3", "(FLAGS)")
    assert data == [b"3 (UID 3 FLAGS (\\Flagged \\Seen))"]
    m.logout()


def test_append_keeps_the_bytes():
    odd = b"Subject: odd\nX: bare\rCR\r\r\n\r\nbody\nlast"
    with FakeImapServer(mailboxes()) as srv:
        r = Raw(srv.port)
        r.login()
        r.send(b"a APPEND INBOX (\\Seen $Work) \"05-Feb-2024 10:00:00 +0100\" "
               b"{%d}\r\n" % len(odd))
        assert r.line() == b"+ Ready for literal data"
        r.send(odd + b"\r\n")
        assert r.until("a") == ([], b"a OK [APPENDUID 1234 4] "
                                    b"Append completed.")
        msg = srv.mailboxes["INBOX"].by_uid(4)
        assert msg.body == odd
        assert msg.flags == ["\\Seen", "$Work"]
        assert msg.internaldate == "05-Feb-2024 10:00:00 +0100"
        # Selected: the new message is announced; LITERAL+ needs no "+".
        r.cmd("s", "SELECT Sent")
        r.send(b"b APPEND Sent {3+}\r\nx\ny\r\n")
        assert r.until("b") == ([b"* 2 EXISTS"],
                                b"b OK [APPENDUID 99 6] Append completed.")
        assert srv.mailboxes["Sent"].by_uid(6).body == b"x\ny"
        un, _ = r.cmd("c", "UID FETCH 6 (UID BODY.PEEK[])")
        assert un == [b"* 2 FETCH (UID 6 BODY[] {3}\r\nx\ny)"]
        _, no = r.cmd("d", 'APPEND "Nope" {1+}\r\nx')
        assert no.startswith(b"d NO [TRYCREATE]")
        _, bad = r.cmd("e", "APPEND INBOX")
        assert bad.startswith(b"e BAD")
        assert len(srv.mailboxes["INBOX"].messages) == 4
        r.close()
    assert srv.errors == []


def test_copy_move_and_expunge_with_imaplib():
    caps = DEFAULT_CAPABILITIES + ("MOVE",)
    with FakeImapServer(mailboxes(), capabilities=caps) as srv:
        m = login(srv)
        m.select("INBOX")
        typ, data = m.uid("COPY", "1:2", "Sent")
        assert typ == "OK"
        assert [x.uid for x in srv.mailboxes["Sent"].messages] == [5, 6, 7]
        assert srv.mailboxes["Sent"].by_uid(7).flags == \
            ["\\Seen", "$Forwarded"]
        typ, data = m.uid("MOVE", "3", "Sent")
        assert typ == "OK"
        assert [x.uid for x in srv.mailboxes["INBOX"].messages] == [1, 2]
        assert srv.mailboxes["Sent"].by_uid(8).body == BODY3
        # UID EXPUNGE takes the \Deleted ones of its set only; EXPUNGE
        # takes every one.
        m.uid("STORE", "1:2", "+FLAGS", "(\\Deleted)")
        typ, data = m.uid("EXPUNGE", "2")
        assert typ == "OK"
        assert [x.uid for x in srv.mailboxes["INBOX"].messages] == [1]
        typ, data = m.expunge()
        assert typ == "OK"
        assert srv.mailboxes["INBOX"].messages == []
        m.logout()


def test_move_and_uid_expunge_need_their_capabilities():
    caps = tuple(c for c in DEFAULT_CAPABILITIES if c != "UIDPLUS")
    with FakeImapServer(mailboxes(), capabilities=caps) as srv:
        m = login(srv)
        m.select("INBOX")
        with pytest.raises(imaplib.IMAP4.error):
            m.uid("MOVE", "1", "Sent")
        with pytest.raises(imaplib.IMAP4.error):
            m.uid("EXPUNGE", "1")
        typ, data = m.uid("COPY", "1", "Sent")
        assert typ == "OK"
        assert len(srv.mailboxes["INBOX"].messages) == 3
        m.logout()
        r = Raw(srv.port)
        r.login()
        r.cmd("s", "SELECT INBOX")
        r.send(b"c UID COPY 2 Sent\r\n")
        assert r.until("c") == ([], b"c OK Copy completed.")


def test_copyuid_names_both_sets():
    caps = DEFAULT_CAPABILITIES + ("MOVE",)
    with FakeImapServer(mailboxes(), capabilities=caps) as srv:
        r = Raw(srv.port)
        r.login()
        r.cmd("s", "SELECT INBOX")
        r.send(b"c UID COPY 1:2 Sent\r\n")
        assert r.until("c") == ([], b"c OK [COPYUID 99 1,2 6,7] "
                                    b"Copy completed.")
        r.send(b"m UID MOVE 3 Sent\r\n")
        assert r.until("m") == ([b"* OK [COPYUID 99 3 8] Moved UIDs.",
                                 b"* 3 EXPUNGE"], b"m OK Move completed.")


def test_search_header_and_drop_after():
    srv_boxes = mailboxes()
    with FakeImapServer(srv_boxes) as srv:
        m = login(srv)
        m.select("INBOX")
        typ, data = m.uid("SEARCH", "UID", "1:*", "HEADER", "Message-ID",
                          '"<2@fakeimap.example>"')
        assert typ == "OK" and data == [b"2"]
        typ, data = m.uid("SEARCH", "HEADER", "Subject", '"nothing"')
        assert data == [b""]
        # drop_after_on: the command is carried out, its answer never
        # comes.
        srv.scenario.drop_after_on = When(command="UID STORE", times=1)
        with pytest.raises((imaplib.IMAP4.abort, OSError)):
            m.uid("STORE", "1", "+FLAGS", "(\\Flagged)")
        assert "\\Flagged" in srv.mailboxes["INBOX"].by_uid(1).flags
