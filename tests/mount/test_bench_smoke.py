# SPDX-License-Identifier: GPL-2.0-or-later
"""A smoke run of the benchmark (scripts/lib/bench.py) on a few hundred
messages and a small big message, against the daemon under test
(IMAPFS_BIN): every measurement must run to its end, and every answer over
the mount must equal the one on the server's Maildir.  Nothing is timed:
the benchmark's figures and ratios are printed, never checked here.
"""

import os
import shutil
import signal
import subprocess
import sys

import pytest

from mount import imapfs_binary

pytestmark = pytest.mark.fuse

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BENCH = os.path.join(REPO, "scripts", "lib", "bench.py")


@pytest.mark.timeout(180)
def test_bench_smoke():
    for tool in ("mbsync", "rg"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is missing (scripts/test installs it)")
    cmd = [sys.executable, BENCH, "--messages", "200", "--runs", "1",
           "--big-mb", "2", "--no-record", "--imapfs", imapfs_binary()]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        # Ctrl-C, so that it unmounts and stops its Dovecot.
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=50)
        pytest.fail(f"the benchmark did not end within 120 s:\n{out}\n{err}")
    assert proc.returncode == 0, \
        f"the benchmark exited with {proc.returncode}:\n{out}\n{err}"
    assert "answers over the mount equal the Maildir's: yes" in \
        out.splitlines(), out
