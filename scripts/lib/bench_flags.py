# SPDX-License-Identifier: GPL-2.0-or-later
"""Measure what setting a flag on many files costs through the mount.

Sets \\Flagged on every message of a folder (and clears it again) with
one setfattr process (find -exec setfattr {} +), directly on loopback and
through a proxy that delays each direction by --delay-ms, against two
baselines taken in the same run: imaplib sending one UID STORE per message
and waiting for each answer (a round trip per file), and one UID STORE for
the whole UID set.  Prints medians, spreads and ratios, and checks that the
server ends with exactly the flags asked for.

    scripts/bench-flags [--messages N] [--runs R] [--delay-ms D]
"""

import argparse
import os
import queue
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "lib"))

import corpus  # noqa: E402
from dovecot import Dovecot  # noqa: E402
from mount import Mount  # noqa: E402


class DelayProxy:
    """Forwards TCP to (host, port), each direction delayed by delay s."""

    def __init__(self, host, port, delay):
        self.target = (host, port)
        self.delay = delay
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.socks = []
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.socks += [client, server]
            for a, b in ((client, server), (server, client)):
                q = queue.Queue()
                threading.Thread(target=self._read, args=(a, q),
                                 daemon=True).start()
                threading.Thread(target=self._send, args=(b, q),
                                 daemon=True).start()

    def _read(self, src, q):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            q.put((time.monotonic() + self.delay, data))
            if not data:
                return

    def _send(self, dst, q):
        while True:
            due, data = q.get()
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if not data:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            try:
                dst.sendall(data)
            except OSError:
                return

    def stop(self):
        self.stopping = True
        self.listener.close()
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass


def timed(fn):
    start = time.monotonic()
    fn()
    return time.monotonic() - start


def flagged_uids(client, mailbox):
    client.select(mailbox, readonly=True)
    typ, data = client.uid("SEARCH", "FLAGGED")
    return len(data[0].split())


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--messages", type=int, default=1000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--delay-ms", type=float, default=10.0,
                   help="delay of each direction through the proxy "
                        "(a round trip is twice that)")
    args = p.parse_args()
    binary = os.environ.get("IMAPFS_BIN",
                            os.path.join(TOP, "build", "src", "imapfs"))
    work = tempfile.mkdtemp(prefix="imapfs-bench-flags-")
    server = Dovecot(os.path.join(work, "dovecot"), ssl=False)
    server.start()
    mounts = []
    results = {}
    try:
        corpus.bulk(server, args.messages, mailbox=("Bulk",))
        passfile = os.path.join(work, "pass")
        with open(passfile, "w") as f:
            f.write(server.password + "\n")
        os.chmod(passfile, 0o600)
        proxy = DelayProxy("127.0.0.1", server.imap_port,
                           args.delay_ms / 1000)
        check = server.imap()

        def imaplib_each(client):
            for uid in range(1, args.messages + 1):
                client.uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Flagged)")
            client.uid("STORE", f"1:{args.messages}", "-FLAGS.SILENT",
                       "(\\Flagged)")

        def imaplib_set(client):
            client.uid("STORE", f"1:{args.messages}", "+FLAGS.SILENT",
                       "(\\Flagged)")
            client.uid("STORE", f"1:{args.messages}", "-FLAGS.SILENT",
                       "(\\Flagged)")

        for label, port in (("loopback", server.imap_port),
                            (f"+{2 * args.delay_ms:g} ms RTT", proxy.port)):
            def client():
                import imaplib
                c = imaplib.IMAP4("127.0.0.1", port)
                c.login(server.user, server.password)
                c.select("Bulk")
                return c

            mp = os.path.join(work, f"mnt{len(mounts)}")
            os.makedirs(mp)
            m = Mount(f"imap://{server.user}@127.0.0.1:{port}", mp,
                      ["plaintext", f"passfile={passfile}",
                       f"cache_dir={work}/cache{len(mounts)}",
                       "timeout=30"])
            mounts.append(m)
            m.start()
            folder = os.path.join(mp, "Bulk")
            os.listdir(folder)

            def on_mount():
                subprocess.run(["find", folder, "-name", "*.eml", "-exec",
                                "setfattr", "-n", "user.imap.flagged", "{}",
                                "+"], check=True)
                subprocess.run(["find", folder, "-name", "*.eml", "-exec",
                                "setfattr", "-x", "user.imap.flagged", "{}",
                                "+"], check=True)

            for name, fn in (("imaplib, a STORE per message", imaplib_each),
                             ("imaplib, one STORE for the set", imaplib_set)):
                c = client()
                results[(label, name)] = [timed(lambda: fn(c))
                                          for _ in range(args.runs)]
                c.logout()
            results[(label, "imapfs, find -exec setfattr")] = \
                [timed(on_mount) for _ in range(args.runs)]
            # What the server ends with: nothing flagged after the clear,
            # and every message after a set.
            subprocess.run(["find", folder, "-name", "*.eml", "-exec",
                            "setfattr", "-n", "user.imap.flagged", "{}", "+"],
                           check=True)
            deadline = time.monotonic() + 60
            while (flagged_uids(check, "Bulk") != args.messages and
                   time.monotonic() < deadline):
                time.sleep(0.1)
            n = flagged_uids(check, "Bulk")
            assert n == args.messages, f"{label}: {n} flagged on the server"
            check.select("Bulk")
            check.uid("STORE", "1:*", "-FLAGS.SILENT", "(\\Flagged)")
        proxy.stop()
    finally:
        for m in mounts:
            m.stop()
        server.cleanup()
        shutil.rmtree(work, ignore_errors=True)

    print(f"\nSetting and clearing \\Flagged on {args.messages} messages "
          f"(median of {args.runs}, seconds):")
    for (label, name), times in results.items():
        med = statistics.median(times)
        base = statistics.median(results[(label,
                                          "imaplib, a STORE per message")])
        print(f"  {label:18s} {name:34s} {med:7.2f}  "
              f"({min(times):.2f}-{max(times):.2f})  "
              f"{med / base:5.2f}x a round trip each")


if __name__ == "__main__":
    main()
