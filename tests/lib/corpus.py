# SPDX-License-Identifier: GPL-2.0-or-later
"""Deterministic sample mail for a test Dovecot.

fill_tricky(dovecot): mailboxes with names that need modified UTF-7, a
    \\Noselect hierarchy, special-use mailboxes, and messages that are hard
    to get right (8-bit headers, bare LF, 1 MB, empty body, every flag).
fill_demo(dovecot): a few mailboxes with about 30 readable messages.
bulk(dovecot, n): n small messages written straight into a Maildir folder.

The mailbox names and message contents are fixed; UIDs are fixed as long as
the server was empty before filling.  UIDVALIDITY is whatever the server
picks.
"""

import base64
import binascii
import calendar
import datetime
import email.utils
import hashlib
import os
import random
import re
import time

# -- modified UTF-7 (RFC 3501 section 5.1.3) ----------------------------------


def _b64_utf16(s):
    raw = s.encode("utf-16-be")
    return base64.b64encode(raw).rstrip(b"=").replace(b"/", b",")


def utf7_encode(name):
    """Encode a Unicode mailbox name in IMAP modified UTF-7."""
    out = []
    pending = []
    for ch in name:
        if 0x20 <= ord(ch) <= 0x7e:
            if pending:
                out.append("&" + _b64_utf16("".join(pending)).decode()
                           + "-")
                pending = []
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    if pending:
        out.append("&" + _b64_utf16("".join(pending)).decode() + "-")
    return "".join(out)


_B64_CHARS = re.compile(r"[A-Za-z0-9+,]*")


def utf7_decode(name):
    """Decode IMAP modified UTF-7; ValueError for anything not canonical."""
    if isinstance(name, bytes):
        name = name.decode("ascii")
    out = []
    i = 0
    while i < len(name):
        ch = name[i]
        if not 0x20 <= ord(ch) <= 0x7e:
            raise ValueError(f"non-printable character in {name!r}")
        if ch != "&":
            out.append(ch)
            i += 1
            continue
        end = name.find("-", i + 1)
        if end < 0:
            raise ValueError(f"unterminated shift in {name!r}")
        chunk = name[i + 1:end]
        i = end + 1
        if chunk == "":
            out.append("&")
            continue
        if _B64_CHARS.fullmatch(chunk) is None:
            raise ValueError(f"bad base64 in {name!r}")
        if len(chunk) % 4 == 1:
            raise ValueError(f"bad base64 length in {name!r}")
        b = chunk.replace(",", "/")
        try:
            raw = base64.b64decode(b + "=" * (-len(b) % 4), validate=True)
        except binascii.Error as e:
            raise ValueError(f"bad base64 in {name!r}: {e}") from None
        if len(raw) % 2:
            raise ValueError(f"odd UTF-16 length in {name!r}")
        try:
            text = raw.decode("utf-16-be")
        except UnicodeDecodeError as e:
            raise ValueError(f"bad UTF-16 in {name!r}: {e}") from None
        # Printable ASCII must not be encoded, and the encoding is canonical:
        # "&AGE-" is not a valid way to write "a".
        if any(0x20 <= ord(c) <= 0x7e for c in text) or \
                _b64_utf16(text).decode() != chunk:
            raise ValueError(f"non-canonical encoding in {name!r}")
        if out and isinstance(out[-1], tuple):
            raise ValueError(f"adjacent shifts in {name!r}")
        out.append((text,))
    return "".join(p[0] if isinstance(p, tuple) else p for p in out)


# -- IMAP helpers -------------------------------------------------------------


def quote(s):
    """An IMAP quoted string (ASCII only)."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check(typ, data, what):
    if typ != "OK":
        raise RuntimeError(f"{what}: {typ} {data!r}")
    return data


def append_raw(client, mailbox, message, flags=(), date=None):
    """APPEND message bytes exactly as given (imaplib's append rewrites
    bare LF to CRLF).  Returns the UID from APPENDUID."""
    args = [quote(mailbox)]
    if flags:
        args.append("(" + " ".join(flags) + ")")
    if date:
        args.append(quote(date))
    client.literal = message
    typ, data = client._simple_command("APPEND", *args)
    _check(typ, data, f"APPEND to {mailbox}")
    m = re.search(rb"\[APPENDUID (\d+) (\d+)\]", data[0] or b"")
    if m is None:
        raise RuntimeError(f"no APPENDUID in {data!r}")
    return int(m.group(2))


def namespace_info(client):
    """(prefix, separator) of the personal namespace."""
    typ, data = client.namespace()
    _check(typ, data, "NAMESPACE")
    m = re.match(rb'\(\("([^"]*)" (?:"((?:\\.|[^"\\])*)"|NIL)\)', data[0])
    if m is None:
        raise RuntimeError(f"cannot parse NAMESPACE {data!r}")
    sep = m.group(2)
    sep = None if sep is None else sep.replace(b"\\", b"").decode()
    return m.group(1).decode(), sep


def mailbox_name(client, parts):
    """The server name for a path of Unicode parts below the namespace."""
    if parts == ("INBOX",):
        return "INBOX"
    prefix, sep = namespace_info(client)
    return prefix + sep.join(utf7_encode(p) for p in parts)


def create(client, name):
    typ, data = client.create(quote(name))
    if typ != "OK" and b"ALREADYEXISTS" not in (data[0] or b""):
        raise RuntimeError(f"CREATE {name}: {typ} {data!r}")


# -- the tricky corpus --------------------------------------------------------

# Paths below the personal namespace, as Unicode parts.  Projects and
# Projects/2026 are not created: Dovecot's Maildir++ layout lists them as
# \Noselect parents of Projects/2026/Q4.
TRICKY_MAILBOXES = (
    ("INBOX",),
    ("Drafts",), ("Sent",), ("Trash",), ("Junk",),
    ("Entwürfe",),
    ("日本語",), ("日本語", "子供"),
    ("Tom & Jerry",),
    ("with spaces",),
    ("📧 Mail",),
    ("Projects", "2026", "Q4"),
)
NOSELECT_MAILBOXES = (("Projects",), ("Projects", "2026"))
KEYWORD = "MyLabel"

LARGE_SIZE = 1024 * 1024


def _rng(seed):
    return random.Random(seed)


def _large_body():
    r = _rng("large")
    words = ["imap", "fuse", "mailbox", "literal", "cache", "inode",
             "Grüße", "日本", "folder", "message", "header", "body"]
    lines = []
    size = 0
    n = 0
    while size < LARGE_SIZE:
        n += 1
        line = f"{n:06d} " + " ".join(r.choice(words) for _ in range(10))
        lines.append(line)
        size += len(line.encode()) + 2
    return "\r\n".join(lines).encode() + b"\r\n"


def _attachment():
    r = _rng("attachment")
    data = bytes(r.getrandbits(8) for _ in range(6000))
    b64 = base64.encodebytes(data).replace(b"\n", b"\r\n")
    return data, b64


def _msg(headers, body):
    head = "".join(f"{k}: {v}\r\n" for k, v in headers)
    return head.encode() + b"\r\n" + body


def _rfc5322_date(idate):
    dt = datetime.datetime.strptime(idate.strip(), "%d-%b-%Y %H:%M:%S %z")
    return email.utils.format_datetime(dt)


def _std_headers(key, subject, idate,
                 frm="Alice Example <alice@example.org>",
                 to="Bob Example <bob@example.org>"):
    return [("From", frm), ("To", to), ("Subject", subject),
            ("Date", _rfc5322_date(idate)),
            ("Message-ID", f"<{key}@corpus.imapfs.test>")]


def tricky_messages():
    """(key, mailbox path, message bytes, flags, INTERNALDATE) in APPEND
    order.  The INTERNALDATEs use zones other than UTC and lie in the past:
    Dovecot replaces a date in the future with the current time."""
    msgs = []

    def add(key, path, data, flags, idate):
        msgs.append((key, path, data, tuple(flags), idate))

    def simple(key, path, subject, body, flags, idate, **kw):
        add(key, path, _msg(_std_headers(key, subject, idate, **kw), body),
            flags, idate)

    simple("plain", ("INBOX",), "Plain ASCII",
           b"Hello Bob,\r\n\r\nthis is a plain ASCII message.\r\n\r\n"
           b"-- \r\nAlice\r\n", [], "17-Jul-1996 02:44:25 -0700")

    idate = "01-Feb-2023 23:59:59 +0530"
    utf8_body = ("Hallo Jürgen,\r\n\r\nGrüße aus Köln! Ärger über Öl?\r\n"
                 "日本語のテキストです。\r\n📧 emoji too.\r\n").encode()
    add("utf8", ("INBOX",), _msg(
        [("From", "Jürgen Müller <juergen@example.de>"),
         ("To", "Zoë <zoe@example.org>"),
         ("Subject", "Grüße aus Köln – 日本語"),
         ("Date", _rfc5322_date(idate)),
         ("Message-ID", "<utf8@corpus.imapfs.test>"),
         ("MIME-Version", "1.0"),
         ("Content-Type", "text/plain; charset=utf-8"),
         ("Content-Transfer-Encoding", "8bit")], utf8_body),
        ["\\Seen", "$Forwarded"], idate)

    idate = "29-Feb-2020 12:00:00 +0100"
    att, att_b64 = _attachment()
    mp_body = (b"This is a multi-part message in MIME format.\r\n"
               b"--=_imapfs_boundary\r\n"
               b"Content-Type: text/plain; charset=us-ascii\r\n\r\n"
               b"See the attached file.\r\n"
               b"--=_imapfs_boundary\r\n"
               b"Content-Type: application/octet-stream; name=\"data.bin\"\r\n"
               b"Content-Transfer-Encoding: base64\r\n"
               b"Content-Disposition: attachment; filename=\"data.bin\"\r\n"
               b"\r\n" + att_b64 +
               b"--=_imapfs_boundary--\r\n")
    add("multipart", ("INBOX",), _msg(
        _std_headers("multipart", "Multipart with attachment", idate) +
        [("MIME-Version", "1.0"),
         ("Content-Type",
          'multipart/mixed; boundary="=_imapfs_boundary"')], mp_body),
        ["\\Seen", "\\Answered", KEYWORD], idate)

    # Bare LF line ends: the server stores and serves them as CRLF.
    add("bare-lf", ("INBOX",),
        b"From: Carol <carol@example.org>\nTo: bob@example.org\n"
        b"Subject: Bare LF line ends\n"
        b"Date: Fri, 31 Dec 1999 23:59:59 -1000\n"
        b"Message-ID: <bare-lf@corpus.imapfs.test>\n\n"
        b"Line one\nLine two\n\nLast line\n",
        ["\\Flagged"], "31-Dec-1999 23:59:59 -1000")

    simple("large", ("INBOX",), "A message of about one megabyte",
           _large_body(), ["\\Seen"], "15-Mar-2021 08:30:00 +0900")
    simple("empty-body", ("INBOX",), "Empty body", b"",
           ["\\Deleted", "\\Seen"], "10-Nov-2022 01:02:03 -0330")
    simple("all-flags", ("INBOX",), "Every flag",
           b"Flagged, answered, forwarded and labelled.\r\n",
           ["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "$Forwarded",
            KEYWORD], "01-Jan-2001 00:00:00 +1400")
    simple("unseen", ("INBOX",), "Not read yet",
           b"Nobody has read this one.\r\n", ["$Forwarded"],
           "05-Jun-2019 14:15:16 +0200")
    simple("draft", ("Drafts",), "Unfinished", b"Dear ...\r\n",
           ["\\Draft", "\\Seen"], "12-Feb-2023 09:00:00 -0500")
    for i in range(2):
        simple(f"sent-{i}", ("Sent",), f"Sent message {i}",
               f"Reply number {i}.\r\n".encode(), ["\\Seen"],
               f"0{i + 1}-Jun-2023 10:00:00 +0200",
               frm="Bob Example <bob@example.org>",
               to="Alice Example <alice@example.org>")
    simple("trash", ("Trash",), "Thrown away", b"Delete me.\r\n",
           ["\\Seen", "\\Deleted"], "03-Apr-2023 11:11:11 +0000")
    for i in range(2):
        simple(f"entwurf-{i}", ("Entwürfe",), f"Entwurf {i}: Änderungen",
               f"Entwurf Nummer {i}, mit Umlauten: äöü ß.\r\n".encode(),
               ["\\Draft"] if i else [], "04-Apr-2023 12:00:00 +0200")
    simple("nihongo", ("日本語",), "日本語の件名", "こんにちは。\r\n".encode(),
           ["\\Seen", KEYWORD], "05-Apr-2023 09:00:00 +0900")
    simple("kodomo", ("日本語", "子供"), "Child mailbox",
           b"In a child of a non-ASCII mailbox.\r\n", [],
           "05-Apr-2023 10:00:00 +0900")
    simple("tom", ("Tom & Jerry",), "Cat & mouse",
           b"An ampersand in the mailbox name.\r\n", ["\\Flagged"],
           "06-Apr-2023 07:00:00 -0400")
    simple("spaces", ("with spaces",), "Spaces",
           b"Spaces in the mailbox name.\r\n", ["\\Answered"],
           "07-Apr-2023 07:00:00 -0400")
    simple("emoji", ("📧 Mail",), "Emoji mailbox",
           "A surrogate pair in the mailbox name: 📧.\r\n".encode(),
           ["\\Seen"], "08-Apr-2023 07:00:00 -0400")
    for i in range(3):
        simple(f"q4-{i}", ("Projects", "2026", "Q4"),
               f"Quarterly report {i}",
               f"Three levels deep, message {i}.\r\n".encode(),
               ["\\Seen"] if i == 1 else [], "01-Oct-2023 08:00:00 -0700")
    return msgs


class Corpus:
    """What a fill put on the server.

    mailboxes: {path tuple: server name} for the mailboxes created,
    messages: {key: Message}.
    """

    def __init__(self, separator, prefix):
        self.separator = separator
        self.prefix = prefix
        self.mailboxes = {}
        self.messages = {}

    def by_mailbox(self, path):
        return [m for m in self.messages.values() if m.path == tuple(path)]


class Message:
    def __init__(self, key, path, mailbox, uid, data, flags, date):
        self.key = key
        self.path = path
        self.mailbox = mailbox
        self.uid = uid
        self.data = data
        self.flags = flags
        self.internaldate = date

    @property
    def filename(self):
        return f"{self.uid}.eml"

    def __repr__(self):
        return f"<Message {self.key} {self.mailbox}/{self.uid}>"


def _fill(dovecot, mailboxes, messages):
    with dovecot.imap() as c:
        prefix, sep = namespace_info(c)
        corpus = Corpus(sep, prefix)
        for path in mailboxes:
            name = mailbox_name(c, path)
            corpus.mailboxes[path] = name
            if name != "INBOX":
                create(c, name)
        for key, path, data, flags, date in messages:
            name = corpus.mailboxes[path]
            uid = append_raw(c, name, data, flags, date)
            corpus.messages[key] = Message(key, path, name, uid, data,
                                           flags, date)
    return corpus


def fill_tricky(dovecot):
    """Fill an empty server with the tricky corpus; returns a Corpus."""
    return _fill(dovecot, TRICKY_MAILBOXES, tricky_messages())


# -- the demo corpus ----------------------------------------------------------

_PEOPLE = ["Ada Lovelace <ada@example.org>",
           "Grace Hopper <grace@example.org>",
           "Ken Thompson <ken@example.org>",
           "Barbara Liskov <barbara@example.org>",
           "Dennis Ritchie <dmr@example.org>",
           "Frances Allen <fran@example.org>"]
_TOPICS = ["Lunch on Friday?", "Minutes of the weekly meeting",
           "Re: the build is broken again", "Conference travel",
           "Draft of the release notes", "Question about the cache",
           "Photos from the trip", "Invoice 2026-0042",
           "Re: Re: naming things", "Reminder: backups",
           "New office hours", "Book recommendation"]
_SENTENCES = ["I had a look at the numbers and they seem fine to me.",
              "Could you send me the latest version before Thursday?",
              "The meeting moved to room 4.2, same time as usual.",
              "Thanks for the quick fix, it works on my machine now.",
              "Let me know if you need anything else from my side.",
              "We should talk about this in person, it is subtle.",
              "The attached notes summarise what we agreed on.",
              "Grüße aus Berlin, und bis bald!"]

DEMO_MAILBOXES = {("INBOX",): 14, ("Work",): 6, ("Work", "Reports"): 4,
                  ("Lists", "imapfs-devel"): 6}


def demo_messages():
    r = _rng("demo")
    msgs = []
    base = calendar.timegm((2024, 3, 2, 9, 0, 0))
    n = 0
    for path, count in DEMO_MAILBOXES.items():
        for i in range(count):
            n += 1
            frm = r.choice(_PEOPLE)
            subject = _TOPICS[(n * 5) % len(_TOPICS)]
            when = base + n * 3600 * 7 + r.randrange(3600)
            tm = time.gmtime(when)
            date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", tm)
            idate = time.strftime("%d-%b-%Y %H:%M:%S +0000", tm)
            body = "\r\n".join(
                ["Hi,", ""] + [r.choice(_SENTENCES) for _ in range(3)] +
                ["", "-- ", frm.split(" <")[0], ""])
            headers = [("From", frm), ("To", "Alice <alice@example.org>"),
                       ("Subject", subject), ("Date", date),
                       ("Message-ID", f"<demo-{n}@corpus.imapfs.test>"),
                       ("MIME-Version", "1.0"),
                       ("Content-Type", "text/plain; charset=utf-8"),
                       ("Content-Transfer-Encoding", "8bit")]
            flags = []
            if r.random() < 0.6:
                flags.append("\\Seen")
            if r.random() < 0.15:
                flags.append("\\Flagged")
            if r.random() < 0.2:
                flags.append("\\Answered")
            msgs.append((f"demo-{n}", path, _msg(headers, body.encode()),
                         tuple(flags), idate))
    return msgs


def fill_demo(dovecot):
    """Fill an empty server with about 30 readable messages."""
    return _fill(dovecot, tuple(DEMO_MAILBOXES), demo_messages())


# -- bulk ---------------------------------------------------------------------


def bulk_message(i):
    return (f"From: Bulk Sender <bulk@example.org>\n"
            f"To: Alice <alice@example.org>\n"
            f"Subject: Bulk message {i}\n"
            f"Date: Fri, 01 Jan 2021 00:00:00 +0000\n"
            f"Message-ID: <bulk-{i}@corpus.imapfs.test>\n"
            f"\n"
            f"This is bulk message number {i}.\n").encode()


def bulk(dovecot, n, mailbox=("Bulk",), message=bulk_message):
    """Write n messages (message(i) gives the bytes of number i, from 1)
    straight into a Maildir folder and let Dovecot index them.  Returns the
    server name of the mailbox.

    The files have LF line ends as Dovecot's own; S= and W= give the size
    on disk and with CRLF, so that Dovecot need not read the files.
    Every seventh message is \\Seen.
    """
    with dovecot.imap() as c:
        name = mailbox_name(c, tuple(mailbox))
        if name != "INBOX":
            create(c, name)
    folder = dovecot.maildir_path(name)
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(folder, sub), exist_ok=True)
    tmp = os.path.join(folder, "tmp")
    cur = os.path.join(folder, "cur")
    uid, gid = os.stat(dovecot.home).st_uid, os.stat(dovecot.home).st_gid
    base = 1609459200  # 2021-01-01T00:00:00Z
    pid = os.getpid()
    for i in range(1, n + 1):
        data = message(i)
        vsize = len(data) + data.count(b"\n")
        flags = "S" if i % 7 == 0 else ""
        uniq = f"{base + i}.M{i}P{pid}.imapfs-bulk"
        t = os.path.join(tmp, uniq)
        with open(t, "wb") as f:
            f.write(data)
        os.chown(t, uid, gid)
        os.utime(t, (base + i, base + i))
        os.rename(t, os.path.join(
            cur, f"{uniq},S={len(data)},W={vsize}:2,{flags}"))
    dovecot.doveadm("mailbox", "status", "-u", dovecot.user, "messages",
                    name)
    return name


def sha256(data):
    return hashlib.sha256(data).hexdigest()
