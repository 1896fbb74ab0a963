# SPDX-License-Identifier: GPL-2.0-or-later
"""Benchmark a mounted folder against baselines measured in the same run.

A throwaway Dovecot on 127.0.0.1 gets a reproducible folder "Bench" of
--messages messages (mostly a few KB, a tail of larger ones up to 1 MB, a
planted word in 1% of them) and, in a folder "Big" of its own so that it
changes no grep answer, one text message of --big-mb MB.  Every client
(imaplib, mbsync, imapfs) talks to it over the same transport: TLS from
the first byte (imaps) with the server's throwaway CA, or with
--plaintext no TLS at all.  Then, each --runs times, with the median and
the spread:

  baselines   imaplib listing: UID FETCH 1:* (UID FLAGS RFC822.SIZE
                  INTERNALDATE)
              imaplib download: UID FETCH BODY.PEEK[] in batches of 500
              mbsync (isync) first sync of the folder into an empty
                  Maildir with fresh state (FSync no, as imapfs does not
                  fsync its cache either; --mbsync-fsync for mbsync's
                  default), then grep -rl and rg -l on that Maildir; the
                  figures are the sums
              grep -rl and rg -l on the server's own Maildir
  imapfs      ls -l: cold (fresh mount, empty cache), warm (same mount),
                  after a remount with the disk cache kept
              grep -rl and rg -l: cold (fresh mount, empty cache), warm
                  (same mount), after a remount with the disk cache kept
              head -c 1000 of the big message, and cat of it whole, each
                  on a fresh mount with an empty cache (a cold read)
              the daemon's peak RSS (VmHWM) after each cold grep and rg,
                  and after the cold cat

It prints the figures, the ratios against the project's targets (met or
missed), and whether every answer over the mount (each run of each
variant) equals the one over the server's Maildir: the same number of
files and the same Message-IDs for grep and rg, every message in ls -l,
the right bytes for head and cat.  It exits 1 if any answer differs or the
daemon did not exit cleanly.  Unless --no-record, it appends the tables,
with the date, the commit and the machine, to docs/PERFORMANCE.md.

    scripts/bench [--messages N] [--runs R] [--big-mb MB] [--plaintext]
                  [--mbsync-fsync] [--no-record] [--imapfs PATH]
"""

import argparse
import datetime
import hashlib
import imaplib
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))

import corpus  # noqa: E402
from dovecot import Dovecot  # noqa: E402
from mount import Mount, is_mounted  # noqa: E402

WORD = "zanzibarquux"
LOREM = ("the cache keeps every body it has fetched under its uid and "
         "uidvalidity so that a second read needs no network at all "
         "while listings come from one fetch of the whole mailbox ").split()
RECORD = os.path.join(REPO, "docs", "PERFORMANCE.md")
DEFAULT_IMAPFS = os.path.join(REPO, "build", "src", "imapfs")
MB = 1e6


def make_message(seed):
    """Message number i of the benchmark folder: deterministic."""
    def message(i):
        rng = random.Random(seed * 1000003 + i)
        roll = rng.random()
        if roll < 0.85:
            size = rng.randint(1000, 8000)
        elif roll < 0.985:
            size = rng.randint(10_000, 50_000)
        else:
            size = rng.randint(100_000, 1_000_000)
        lines = []
        total = 0
        while total < size:
            line = " ".join(rng.choice(LOREM) for _ in range(11))
            lines.append(line)
            total += len(line) + 1
        if i % 100 == 42:
            lines.insert(rng.randrange(len(lines)), f"see {WORD} here")
        body = "\n".join(lines)
        return (f"From: Sender {i % 37} <s{i % 37}@example.org>\n"
                f"To: Alice <alice@example.org>\n"
                f"Subject: Benchmark message {i}\n"
                f"Date: Fri, 01 Jan 2021 00:00:00 +0000\n"
                f"Message-ID: <bench-{i}@imapfs.test>\n"
                f"\n{body}\n").encode()
    return message


def big_message(mb):
    """A text message of about mb MB with CRLF line ends, as the server
    serves it: numbered lines of words (never the planted word)."""
    variants = [" ".join(LOREM[(k + j) % len(LOREM)] for j in range(11))
                for k in range(len(LOREM))]
    head = (b"From: Sender <big@example.org>\r\n"
            b"To: Alice <alice@example.org>\r\n"
            b"Subject: A big message\r\n"
            b"Date: Fri, 01 Jan 2021 00:00:00 +0000\r\n"
            b"Message-ID: <bench-big@imapfs.test>\r\n\r\n")
    lines = []
    total = len(head)
    n = 0
    while total < mb * MB:
        line = f"{n:08d} {variants[n % len(variants)]}"
        lines.append(line)
        total += len(line) + 2
        n += 1
    return head + "\r\n".join(lines).encode() + b"\r\n"


def timed(fn):
    start = time.monotonic()
    result = fn()
    return time.monotonic() - start, result


def sh(*cmd):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE).stdout


def grep_ids(paths):
    """Message-IDs of files, to compare grep answers across views."""
    ids = set()
    for p in paths:
        with open(p, "rb") as f:
            for line in f:
                if line.lower().startswith(b"message-id:"):
                    ids.add(line.split(b":", 1)[1].strip())
                    break
    return ids


def _listed(cmd):
    # Both exit with 1 when nothing matches, which is an answer too.
    r = subprocess.run(cmd, stdout=subprocess.PIPE)
    if r.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(cmd)} exited with {r.returncode}")
    return [p for p in r.stdout.decode().splitlines() if p]


def grep_rl(directory):
    return _listed(["grep", "-rl", WORD, directory])


def rg_l(directory):
    return _listed(["rg", "-l", WORD, directory])


def files_listed(ls_output):
    """How many regular files an ls -l shows."""
    return sum(1 for line in ls_output.splitlines() if line.startswith(b"-"))


def peak_rss(pid):
    """VmHWM of a process, in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def count_files(maildir):
    return sum(len(os.listdir(os.path.join(maildir, sub)))
               for sub in ("cur", "new"))


def version(cmd, pattern):
    try:
        out = subprocess.run(cmd, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True).stdout
    except OSError:
        return "?"
    m = re.search(pattern, out)
    return m.group(1) if m else "?"


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    tools = ", ".join(
        f"{name} {version([cmd, '--version'], pattern)}"
        for name, cmd, pattern in (("dovecot", "dovecot", r"^(\S+)"),
                                   ("isync", "mbsync", r"isync (\S+)"),
                                   ("grep", "grep", r"grep\D*(\S+)"),
                                   ("ripgrep", "rg", r"ripgrep (\S+)")))
    return (f"{os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}; "
            f"{tools}")


def commit():
    """The short commit, with -dirty if tracked files differ from it."""
    try:
        head = subprocess.run(["git", "-C", REPO, "rev-parse", "--short",
                               "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


class Bench:
    def __init__(self, args):
        self.args = args
        self.rows = []           # (label, values, unit)
        self.checks = []         # (what, ok)
        self.current = None      # what is being measured

    def add(self, label, values, unit="s"):
        self.rows.append((label, list(values), unit))
        v = statistics.median(values)
        shown = f"{v:8.3f} s" if unit == "s" else f"{v / MB:8.1f} MB"
        print(f"  {label:<52} {shown}", file=sys.stderr)

    def check(self, what, ok):
        self.checks.append((what, ok))
        if not ok:
            print(f"  WRONG ANSWER: {what}", file=sys.stderr)

    def measure(self, label, fn, setup=None, teardown=None, check=None):
        """Time fn, runs times; check(result) is called after each run,
        before teardown, and returns whether the answer was right."""
        self.current = label
        times = []
        for run in range(self.args.runs):
            if setup:
                setup()
            t, result = timed(fn)
            times.append(t)
            if check:
                self.check(f"{label}, run {run + 1}", check(result))
            if teardown:
                teardown()
        self.add(label, times)
        return statistics.median(times)

    def median(self, label):
        for name, values, _ in self.rows:
            if name == label:
                return statistics.median(values)
        raise KeyError(label)

    def has(self, label):
        return any(name == label for name, _, _ in self.rows)


def figures_table(b):
    width = max(len(label) for label, _, _ in b.rows)
    lines = [f"| {'what':<{width}} | {'median':>10} | {'min-max':>17} |",
             f"|{'-' * (width + 2)}|{'-' * 12}|{'-' * 19}|"]
    for label, values, unit in b.rows:
        if unit == "s":
            med = f"{statistics.median(values):.3f} s"
            spread = f"{min(values):.3f}-{max(values):.3f} s"
        else:
            med = f"{statistics.median(values) / MB:.1f} MB"
            spread = f"{min(values) / MB:.1f}-{max(values) / MB:.1f} MB"
        lines.append(f"| {label:<{width}} | {med:>10} | {spread:>17} |")
    return lines


def ratio_table(ratios):
    """ratios: (text, value, target text, met)."""
    width = max(len(r[0]) for r in ratios)
    twidth = max(len(r[2]) for r in ratios)
    lines = [f"| {'ratio':<{width}} | {'value':>8} | "
             f"{'target':<{twidth}} | {'result':6} |",
             f"|{'-' * (width + 2)}|{'-' * 10}|{'-' * (twidth + 2)}|"
             f"{'-' * 8}|"]
    for text, value, target, met in ratios:
        lines.append(f"| {text:<{width}} | {value:>8} | "
                     f"{target:<{twidth}} | {'met' if met else 'MISSED':6} |")
    return lines


def record(header, lines):
    if not os.path.exists(RECORD):
        raise RuntimeError(f"{RECORD} is missing")
    with open(RECORD, "a") as f:
        f.write("\n" + "\n".join(header + [""] + lines) + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--messages", type=int, default=10_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--big-mb", type=float, default=50,
                   help="size of the big message in MB (0: none)")
    p.add_argument("--plaintext", action="store_true",
                   help="no TLS for any client (default: imaps for all)")
    p.add_argument("--mbsync-fsync", action="store_true",
                   help="let mbsync fsync every message, its default "
                   "(default: FSync no, as imapfs does not fsync its cache)")
    p.add_argument("--no-record", action="store_true",
                   help=f"do not append to {os.path.relpath(RECORD, REPO)}")
    p.add_argument("--imapfs", default=DEFAULT_IMAPFS,
                   help="the daemon (default: the optimised build, "
                   "build/src/imapfs)")
    args = p.parse_args()
    if args.messages < 1 or args.runs < 1:
        p.error("--messages and --runs must be at least 1")
    for tool in ("mbsync", "rg", "grep", "head", "cat", "ls"):
        if shutil.which(tool) is None:
            p.error(f"{tool} is missing (scripts/bench installs it)")
    binary = os.path.abspath(args.imapfs)
    if not os.access(binary, os.X_OK):
        p.error(f"no imapfs at {binary}: build it, or give --imapfs")
    os.environ["IMAPFS_BIN"] = binary
    shown_binary = os.path.relpath(binary, REPO) \
        if binary.startswith(REPO + os.sep) else "given with --imapfs"

    tls = not args.plaintext
    # mbsync 1.4 checks only the DNS names of a certificate, so every
    # client names the server localhost, which the certificate holds.
    host = "localhost" if tls else "127.0.0.1"
    transport = (f"TLS from the first byte (imaps) to {host} on loopback"
                 if tls else f"no TLS (plaintext) to {host} on loopback")
    n = args.messages
    work = tempfile.mkdtemp(prefix="imapfs-bench.")
    dovecot = Dovecot(os.path.join(work, "dovecot"), ssl=tls)
    mounts = []
    problems = []
    try:
        dovecot.start()
        print(f"filling {n} messages ...", file=sys.stderr)
        t, name = timed(lambda: corpus.bulk(dovecot, n, ("Bench",),
                                            make_message(args.seed)))
        maildir = dovecot.maildir_path(name)
        size = sum(os.path.getsize(os.path.join(maildir, "cur", f))
                   for f in os.listdir(os.path.join(maildir, "cur")))
        print(f"  {size / MB:.1f} MB in {t:.1f} s", file=sys.stderr)
        passfile = os.path.join(work, "password")
        with open(os.open(passfile, os.O_WRONLY | os.O_CREAT, 0o600),
                  "w") as f:
            f.write(dovecot.password + "\n")
        b = Bench(args)

        def imap_client(mailbox=name, readonly=True):
            if tls:
                c = imaplib.IMAP4_SSL(host, dovecot.imaps_port,
                                      ssl_context=dovecot.ssl_context())
            else:
                c = imaplib.IMAP4(host, dovecot.imap_port)
            c.login(dovecot.user, dovecot.password)
            if mailbox:
                c.select(corpus.quote(mailbox), readonly=readonly)
            return c

        big = None
        if args.big_mb > 0:
            print(f"appending a {args.big_mb:g} MB message ...",
                  file=sys.stderr)
            big = big_message(args.big_mb)
            c = imap_client(None)
            big_box = corpus.mailbox_name(c, ("Big",))
            corpus.create(c, big_box)
            big_uid = corpus.append_raw(c, big_box, big)
            c.select(corpus.quote(big_box), readonly=True)
            typ, data = c.uid("FETCH", str(big_uid),
                              "(RFC822.SIZE BODY.PEEK[]<0.1000>)")
            c.logout()
            m = re.search(rb"RFC822\.SIZE (\d+)", data[0][0])
            if typ != "OK" or m is None or int(m.group(1)) != len(big) \
                    or data[0][1] != big[:1000]:
                raise RuntimeError("the server does not serve the big "
                                   "message as appended")
            big_sha = hashlib.sha256(big).hexdigest()

        def imaplib_listing():
            c = imap_client()
            typ, data = c.uid("FETCH", "1:*",
                              "(UID FLAGS RFC822.SIZE INTERNALDATE)")
            c.logout()
            if typ != "OK" or len(data) != n:
                raise RuntimeError(f"imaplib listed {len(data)} messages")

        def imaplib_download():
            c = imap_client()
            got = 0
            for lo in range(1, n + 1, 500):
                hi = min(lo + 499, n)
                typ, data = c.uid("FETCH", f"{lo}:{hi}", "(BODY.PEEK[])")
                if typ != "OK":
                    raise RuntimeError(f"imaplib: FETCH {lo}:{hi}: {typ}")
                got += sum(1 for d in data if isinstance(d, tuple))
            c.logout()
            if got != n:
                raise RuntimeError(f"imaplib downloaded {got} messages")

        print("baselines", file=sys.stderr)
        b.measure("imaplib listing", imaplib_listing)
        b.measure("imaplib download, batches of 500", imaplib_download)

        want = grep_rl(maildir)
        want_ids = grep_ids(want)
        want_rg = rg_l(maildir)
        if sorted(want_rg) != sorted(want) or len(want) != len(want_ids):
            raise RuntimeError("grep and rg disagree on the server's "
                               "Maildir")

        def same(paths):
            return len(paths) == len(want) and grep_ids(paths) == want_ids

        # mbsync: a fresh Maildir and fresh state for every run.
        port = dovecot.imaps_port if tls else dovecot.imap_port

        def mbsync_rc(top):
            rc = os.path.join(top, "mbsyncrc")
            lines = [f"FSync {'yes' if args.mbsync_fsync else 'no'}", "",
                     "IMAPAccount bench",
                     f"Host {host}",
                     f"Port {port}",
                     f"User {dovecot.user}",
                     f'Pass "{dovecot.password}"',
                     "AuthMechs LOGIN PLAIN",
                     "Timeout 120"]
            if tls:
                lines += ["SSLType IMAPS", "SystemCertificates no",
                          f"CertificateFile {dovecot.ca_path}"]
            else:
                lines += ["SSLType None"]
            lines += ["", "IMAPStore far", "Account bench", "",
                      "MaildirStore near",
                      f"Path {top}/mail/",
                      f"Inbox {top}/mail/INBOX",
                      "SubFolders Verbatim", "",
                      "Channel bench",
                      f"Far :far:{name}",
                      "Near :near:Bench",
                      "Sync Pull",
                      "Create Near",
                      f"SyncState {top}/state/"]
            fd = os.open(rc, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write("\n".join(lines) + "\n")
            return rc

        sums = {"sync": [], "grep": [], "rg": []}
        for run in range(args.runs):
            # Old copies stay until the end: deleting them would make the
            # file system hunt for inodes among the ones just freed.
            top = os.path.join(work, f"mbsync{run + 1}")
            for sub in ("mail", "state"):
                os.makedirs(os.path.join(top, sub))
            rc = mbsync_rc(top)
            t, r = timed(lambda: subprocess.run(
                ["mbsync", "-q", "-c", rc, "bench"], stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
            if r.returncode != 0:
                raise RuntimeError(f"mbsync failed ({r.returncode}):\n"
                                   f"{r.stdout}")
            near = os.path.join(top, "mail", "Bench")
            got = count_files(near)
            if got != n:
                raise RuntimeError(f"mbsync copied {got} messages, not {n}")
            tg, paths = timed(lambda: grep_rl(near))
            if not same(paths):
                raise RuntimeError("grep on mbsync's Maildir gives another "
                                   "answer")
            tr, paths = timed(lambda: rg_l(near))
            if not same(paths):
                raise RuntimeError("rg on mbsync's Maildir gives another "
                                   "answer")
            sums["sync"].append(t)
            sums["grep"].append(t + tg)
            sums["rg"].append(t + tr)
        b.add("mbsync first sync", sums["sync"])
        b.add("mbsync first sync + grep -rl of its Maildir", sums["grep"])
        b.add("mbsync first sync + rg -l of its Maildir", sums["rg"])
        b.measure("grep -rl on the server's Maildir", lambda: grep_rl(maildir))
        b.measure("rg -l on the server's Maildir", lambda: rg_l(maildir))

        mnt = os.path.join(work, "mnt")
        os.makedirs(mnt)
        state = {"caches": 0, "mounts": 0}

        def mount(fresh_cache, extra=()):
            # A fresh cache is a new directory: deleting the old one
            # first would make the file system hunt for inodes among the
            # ones just freed (ext4 avoids reusing those at once), which
            # measures the benchmark, not imapfs.
            if fresh_cache:
                state["caches"] += 1
            state["mounts"] += 1
            cache = os.path.join(work, f"cache{state['caches']}")
            if tls:
                source = (f"imaps://{dovecot.user}@{host}:"
                          f"{dovecot.imaps_port}")
                transport_opts = [f"cafile={dovecot.ca_path}"]
            else:
                source = (f"imap://{dovecot.user}@{host}:"
                          f"{dovecot.imap_port}")
                transport_opts = ["plaintext"]
            m = Mount(source, mnt,
                      [f"passfile={passfile}", f"cache_dir={cache}"]
                      + transport_opts + list(extra),
                      log_path=os.path.join(work,
                                            f"imapfs{state['mounts']}.log"))
            mounts.append(m)
            m.start()
            state["mount"] = m

        def unmount():
            m = state.pop("mount")
            m.stop()
            bugs = m.bug_reports()
            if m.returncode != 0 or m.forced or bugs:
                problems.append(
                    f"imapfs did not exit cleanly on unmount (status "
                    f"{m.returncode}, {m.forced or 'clean'}), after "
                    f"{b.current!r}; log:\n"
                    + "\n".join(m.log().splitlines()[-60:]))

        rss = {}

        def unmount_after(what):
            def teardown():
                rss.setdefault(what, []).append(
                    peak_rss(state["mount"].pid))
                unmount()
            return teardown

        folder = os.path.join(mnt, "Bench")

        def all_listed(out):
            return files_listed(out) == n

        print("imapfs", file=sys.stderr)
        b.measure("ls -l, cold (fresh mount, empty cache)",
                  lambda: sh("ls", "-l", folder), check=all_listed,
                  setup=lambda: mount(True), teardown=unmount)
        mount(True)
        sh("ls", "-l", folder)
        b.measure("ls -l, warm (same mount)",
                  lambda: sh("ls", "-l", folder), check=all_listed)
        unmount()

        for tool, search in (("grep -rl", grep_rl), ("rg -l", rg_l)):
            b.measure(f"{tool}, cold (fresh mount, empty cache)",
                      lambda: search(folder), check=same,
                      setup=lambda: mount(True),
                      teardown=unmount_after(tool))
            mount(False)
            search(folder)
            b.measure(f"{tool}, warm (same mount)",
                      lambda: search(folder), check=same)
            unmount()
            b.measure(f"{tool}, remounted, disk cache kept",
                      lambda: search(folder), check=same,
                      setup=lambda: mount(False), teardown=unmount)
            # Read-only, a warm read never reaches the daemon: no
            # close needs an answer (docs/DESIGN.md, "Read-only mounts").
            mount(False, ["ro"])
            search(folder)
            b.measure(f"{tool}, warm (same mount), -o ro",
                      lambda: search(folder), check=same)
            unmount()
            b.measure(f"{tool}, remounted -o ro, disk cache kept",
                      lambda: search(folder), check=same,
                      setup=lambda: mount(False, ["ro"]), teardown=unmount)
            if tool == "grep -rl":
                b.measure("ls -l, remounted, disk cache kept",
                          lambda: sh("ls", "-l", folder), check=all_listed,
                          setup=lambda: mount(False), teardown=unmount)

        if big is not None:
            big_path = os.path.join(mnt, "Big", f"{big_uid}.eml")

            def whole_file_right(_):
                with open(big_path, "rb") as f:
                    return hashlib.sha256(f.read()).hexdigest() == big_sha

            b.measure("head -c 1000 of the big message, cold",
                      lambda: sh("head", "-c", "1000", big_path),
                      check=lambda out: out == big[:1000],
                      setup=lambda: mount(True), teardown=unmount)
            b.measure("cat of the big message, cold",
                      lambda: subprocess.run(["cat", big_path], check=True,
                                             stdout=subprocess.DEVNULL),
                      check=whole_file_right,
                      setup=lambda: mount(True),
                      teardown=unmount_after("cat"))

        for what, label in (("grep -rl", "daemon peak RSS after a cold grep"),
                            ("rg -l", "daemon peak RSS after a cold rg"),
                            ("cat", "daemon peak RSS after a cold cat of "
                             "the big message")):
            if what in rss:
                b.add(label, rss[what], unit="bytes")

        # The figures and the ratios.
        def ratio(text, a, base, limit, aim=None):
            value = b.median(a) / b.median(base)
            target = f"<= {limit:g}x" + (f" (aim {aim:g}x)" if aim else "")
            return (text, f"{value:.2f}x", target, value <= limit)

        ratios = [
            ratio("ls -l cold / imaplib listing",
                  "ls -l, cold (fresh mount, empty cache)",
                  "imaplib listing", 2)]
        for tool, short in (("grep -rl", "grep"), ("rg -l", "rg")):
            ratios += [
                ratio(f"{short} cold / mbsync first sync + {short}",
                      f"{tool}, cold (fresh mount, empty cache)",
                      f"mbsync first sync + {tool} of its Maildir", 1.0,
                      0.5),
                ratio(f"{short} cold / imaplib batch download",
                      f"{tool}, cold (fresh mount, empty cache)",
                      "imaplib download, batches of 500", 2),
                ratio(f"{short} warm / {short} on the Maildir",
                      f"{tool}, warm (same mount)",
                      f"{tool} on the server's Maildir", 1.3),
                ratio(f"{short} remounted / {short} on the Maildir",
                      f"{tool}, remounted, disk cache kept",
                      f"{tool} on the server's Maildir", 1.3),
                ratio(f"{short} warm -o ro / {short} on the Maildir",
                      f"{tool}, warm (same mount), -o ro",
                      f"{tool} on the server's Maildir", 1.3),
                ratio(f"{short} remounted -o ro / {short} on the Maildir",
                      f"{tool}, remounted -o ro, disk cache kept",
                      f"{tool} on the server's Maildir", 1.3)]
        ratios.append(ratio("ls -l remounted / ls -l cold",
                            "ls -l, remounted, disk cache kept",
                            "ls -l, cold (fresh mount, empty cache)", 0.2))
        if big is not None:
            ratios.append(ratio("head -c 1000 cold / cat cold (big message)",
                                "head -c 1000 of the big message, cold",
                                "cat of the big message, cold", 0.1))
        limit = 20 * MB + 200 * n
        for what, short in (("grep -rl", "grep"), ("rg -l", "rg")):
            peak = max(rss[what])
            ratios.append((f"daemon peak RSS after a cold {short} (max)",
                           f"{peak / MB:.1f} MB",
                           f"<= {limit / MB:.1f} MB (20 MB + 200 B x {n})",
                           peak <= limit))

        ok = all(good for _, good in b.checks)
        now = datetime.datetime.now(datetime.timezone.utc)
        header = [f"## {now:%Y-%m-%d %H:%M} UTC, {commit()}: {n} messages, "
                  f"{size / MB:.1f} MB, {args.runs} "
                  f"run{'s' if args.runs > 1 else ''} each",
                  "",
                  f"- machine: {machine()}",
                  f"- transport: {transport}, the same for imaplib, mbsync "
                  f"and imapfs",
                  f"- daemon: {shown_binary}; mbsync with FSync "
                  f"{'yes' if args.mbsync_fsync else 'no'}",
                  f"- {len(want)} files with the word"
                  + (f"; big message {len(big) / MB:.1f} MB"
                     if big is not None else "; no big message")]
        lines = figures_table(b) + [""] + ratio_table(ratios) + [
            "", f"Answers over the mount equal the Maildir's: "
            f"{'yes' if ok else 'NO'}."]
        print()
        print("\n".join(header))
        print()
        print("\n".join(figures_table(b)))
        print()
        for text, value, target, met in ratios:
            print(f"- {text}: {value}, target {target}: "
                  f"{'met' if met else 'MISSED'}")
        print()
        for what, good in b.checks:
            if not good:
                print(f"wrong answer: {what}")
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print(f"the daemon did not exit cleanly {len(problems)} times")
        print(f"answers over the mount equal the Maildir's: "
              f"{'yes' if ok else 'NO'}")
        if args.no_record:
            pass
        elif ok and not problems:
            record(header, lines)
            print(f"appended to {os.path.relpath(RECORD, REPO)}",
                  file=sys.stderr)
        else:
            print("not recorded: the run went wrong", file=sys.stderr)
        return 0 if ok and not problems else 1
    finally:
        for m in mounts:
            try:
                m.stop()
            except Exception as e:  # keep unmounting the others
                print(f"could not unmount {m.mountpoint}: {e!r}",
                      file=sys.stderr)
        try:
            dovecot.cleanup()
        finally:
            if any(is_mounted(m.mountpoint) for m in mounts):
                print(f"left {work} behind: something is still mounted",
                      file=sys.stderr)
            else:
                shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
