# SPDX-License-Identifier: GPL-2.0-or-later
"""Benchmark a mounted folder against baselines measured in the same run.

A throwaway Dovecot on 127.0.0.1 gets a reproducible folder (mostly a few
KB per message, a tail of larger ones with attachments, a planted word in
1% of them).  Then, each several times, with the median and spread:

  baselines   imaplib listing (UID FETCH 1:* UID FLAGS RFC822.SIZE
              INTERNALDATE), imaplib download in batches of 500 BODY.PEEK[],
              grep -rl on the server's own Maildir
  imapfs      ls -l cold (fresh mount, empty cache) and warm, grep -rl cold
              (fresh mount, empty cache) and warm (same mount), grep -rl
              after a remount with the disk cache kept

and prints the figures and their ratios.  grep's answers over the mount
must equal those over the Maildir (by count and by Message-ID).
"""

import argparse
import imaplib
import os
import random
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
from mount import Mount  # noqa: E402

WORD = "zanzibarquux"
LOREM = ("the cache keeps every body it has fetched under its uid and "
         "uidvalidity so that a second read needs no network at all "
         "while listings come from one fetch of the whole mailbox ").split()


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


def grep_rl(directory):
    out = subprocess.run(["grep", "-rl", WORD, directory],
                         stdout=subprocess.PIPE, check=False).stdout
    return [p for p in out.decode().splitlines() if p]


class Bench:
    def __init__(self, args, work):
        self.args = args
        self.work = work
        self.rows = []

    def measure(self, label, fn, setup=None, teardown=None):
        times = []
        for _ in range(self.args.runs):
            if setup:
                setup()
            t, _ = timed(fn)
            times.append(t)
            if teardown:
                teardown()
        self.rows.append((label, times))
        print(f"  {label:<44} {statistics.median(times):8.3f} s",
              file=sys.stderr)
        return statistics.median(times)

    def median(self, label):
        for name, times in self.rows:
            if name == label:
                return statistics.median(times)
        raise KeyError(label)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--messages", type=int, default=10_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()

    # The optimised build, not a sanitized one.
    os.environ["IMAPFS_BIN"] = os.path.join(REPO, "build", "src", "imapfs")
    work = tempfile.mkdtemp(prefix="imapfs-bench.")
    dovecot = Dovecot(os.path.join(work, "dovecot"), ssl=False)
    mounts = []
    try:
        dovecot.start()
        print(f"filling {args.messages} messages ...", file=sys.stderr)
        t, name = timed(lambda: corpus.bulk(dovecot, args.messages,
                                            ("Bench",),
                                            make_message(args.seed)))
        maildir = dovecot.maildir_path(name)
        size = sum(os.path.getsize(os.path.join(maildir, "cur", f))
                   for f in os.listdir(os.path.join(maildir, "cur")))
        print(f"  {size / 1e6:.1f} MB in {t:.1f} s", file=sys.stderr)
        passfile = os.path.join(work, "password")
        with open(os.open(passfile, os.O_WRONLY | os.O_CREAT, 0o600),
                  "w") as f:
            f.write(dovecot.password + "\n")
        b = Bench(args, work)

        def imap_client():
            c = imaplib.IMAP4(dovecot.host, dovecot.imap_port)
            c.login(dovecot.user, dovecot.password)
            c.select(name, readonly=True)
            return c

        def imaplib_listing():
            c = imap_client()
            c.uid("FETCH", "1:*", "(UID FLAGS RFC822.SIZE INTERNALDATE)")
            c.logout()

        def imaplib_download():
            c = imap_client()
            for lo in range(1, args.messages + 1, 500):
                hi = min(lo + 499, args.messages)
                c.uid("FETCH", f"{lo}:{hi}", "(BODY.PEEK[])")
            c.logout()

        print("baselines", file=sys.stderr)
        b.measure("imaplib listing", imaplib_listing)
        b.measure("imaplib download, batches of 500", imaplib_download)
        want = grep_rl(maildir)
        b.measure("grep -rl on the server's Maildir", lambda: grep_rl(maildir))
        want_ids = grep_ids(want)

        mnt = os.path.join(work, "mnt")
        os.makedirs(mnt)
        state = {}

        def mount(fresh_cache):
            # A fresh cache is a new directory: deleting the old one
            # first would make the file system hunt for inodes among the
            # ones just freed (ext4 avoids reusing those at once), which
            # measures the benchmark, not imapfs.
            if fresh_cache:
                state["caches"] = state.get("caches", 0) + 1
            cache = os.path.join(work, f"cache{state.get('caches', 0)}")
            m = Mount(f"imap://{dovecot.user}@127.0.0.1:{dovecot.imap_port}",
                      mnt, [f"passfile={passfile}", "plaintext",
                            f"cache_dir={cache}"])
            m.start()
            mounts.append(m)
            state["mount"] = m

        def unmount():
            state.pop("mount").stop()

        folder = os.path.join(mnt, "Bench")
        print("imapfs", file=sys.stderr)
        b.measure("ls -l, cold (fresh mount)",
                  lambda: sh("ls", "-l", folder),
                  setup=lambda: mount(True),
                  teardown=unmount)
        mount(True)
        sh("ls", "-l", folder)
        b.measure("ls -l, warm (same mount)", lambda: sh("ls", "-l", folder))
        unmount()
        got = {}

        def cold_grep():
            got["paths"] = grep_rl(folder)
        b.measure("grep -rl, cold (fresh mount, empty cache)", cold_grep,
                  setup=lambda: mount(True),
                  teardown=unmount)
        mount(False)
        grep_rl(folder)
        b.measure("grep -rl, warm (same mount)", lambda: grep_rl(folder))
        check_ids = grep_ids(grep_rl(folder))
        unmount()
        b.measure("grep -rl, remounted, disk cache kept",
                  lambda: grep_rl(folder),
                  setup=lambda: mount(False),
                  teardown=unmount)
        b.measure("ls -l, remounted, disk cache kept",
                  lambda: sh("ls", "-l", folder),
                  setup=lambda: mount(False),
                  teardown=unmount)

        ok = len(got["paths"]) == len(want) and check_ids == want_ids
        print()
        print(f"imapfs benchmark: {args.messages} messages, "
              f"{size / 1e6:.1f} MB, {args.runs} runs each, "
              f"{len(want)} files with the word")
        print()
        print(f"| {'what':<44} | median s | min-max s |")
        print(f"|{'-' * 46}|----------|-----------|")
        for label, times in b.rows:
            print(f"| {label:<44} | {statistics.median(times):8.3f} | "
                  f"{min(times):.3f}-{max(times):.3f} |")
        print()
        ratios = [
            ("ls -l cold / imaplib listing", "ls -l, cold (fresh mount)",
             "imaplib listing"),
            ("grep cold / imaplib batch download",
             "grep -rl, cold (fresh mount, empty cache)",
             "imaplib download, batches of 500"),
            ("grep warm / grep on the Maildir", "grep -rl, warm (same mount)",
             "grep -rl on the server's Maildir"),
            ("grep remounted / grep on the Maildir",
             "grep -rl, remounted, disk cache kept",
             "grep -rl on the server's Maildir"),
        ]
        for text, a, base in ratios:
            print(f"- {text}: {b.median(a) / b.median(base):.2f}x")
        print(f"- grep answers over the mount equal the Maildir's: "
              f"{'yes' if ok else 'NO'}")
        return 0 if ok else 1
    finally:
        for m in mounts:
            m.stop()
        dovecot.stop()
        dovecot.cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
