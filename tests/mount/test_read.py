# SPDX-License-Identifier: GPL-2.0-or-later
"""A message file reads as the server's BODY.PEEK[], with st_size,
st_mtime and st_ino to match, and reading never sets \\Seen."""

import concurrent.futures
import hashlib
import mmap
import os
import random
import re
import subprocess
import tarfile

import pytest

import corpus

pytestmark = pytest.mark.fuse

WITH_MAIL = sorted({m[1] for m in corpus.tricky_messages()})
WITH_MAIL_IDS = ["/".join(p) for p in WITH_MAIL]


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _file(m, path, uid):
    return os.path.join(m.path, *path, f"{uid}.eml")


@pytest.mark.parametrize("path", WITH_MAIL, ids=WITH_MAIL_IDS)
def test_bytes_equal_body_peek(mounted, oracle, path):
    name = oracle.mailboxes()[path].name
    digests = oracle.digests(name)
    assert digests
    for uid, digest in digests.items():
        data = _read(_file(mounted, path, uid))
        assert hashlib.sha256(data).hexdigest() == digest, (path, uid)


@pytest.mark.parametrize("path", WITH_MAIL, ids=WITH_MAIL_IDS)
def test_size_is_bytes_read(mounted, oracle, path):
    name = oracle.mailboxes()[path].name
    for uid in oracle.messages(name):
        f = _file(mounted, path, uid)
        assert os.stat(f).st_size == len(_read(f)), (path, uid)


@pytest.mark.parametrize("path", WITH_MAIL, ids=WITH_MAIL_IDS)
def test_size_before_first_read_is_exact(mount, dovecot, oracle, path):
    # A fresh mount: st_size must be right before the body was fetched.
    m = mount(dovecot)
    name = oracle.mailboxes()[path].name
    bodies = oracle.bodies(name)
    for uid, body in bodies.items():
        assert os.stat(_file(m, path, uid)).st_size == len(body), (path, uid)


@pytest.mark.parametrize("path", WITH_MAIL, ids=WITH_MAIL_IDS)
def test_mtime_is_internaldate(mounted, oracle, path):
    name = oracle.mailboxes()[path].name
    for uid, info in oracle.messages(name).items():
        st = os.stat(_file(mounted, path, uid))
        assert st.st_mtime == info.internaldate.timestamp(), (path, uid)


def test_inodes_are_distinct(mounted):
    seen = {}
    for top, dirs, files in os.walk(mounted.path):
        for n in dirs + files:
            p = os.path.join(top, n)
            ino = os.stat(p).st_ino
            assert ino not in seen, (p, seen.get(ino))
            seen[ino] = p
    assert len(seen) >= 30


def test_inodes_ascend_with_uids(mounted, oracle):
    # Tools that walk a large directory in inode order (gnulib's fts, under
    # grep -r and find) then read a mailbox in UID order, which reading
    # ahead follows; the order readdir gives, and the d_ino it gives, agree.
    for path in WITH_MAIL:
        name = oracle.mailboxes()[path].name
        uids = sorted(oracle.messages(name))
        inos = [os.stat(_file(mounted, path, uid)).st_ino for uid in uids]
        assert inos == sorted(inos), path
        d = os.path.join(mounted.path, *path)
        with os.scandir(d) as it:
            listed = {e.name: e.inode() for e in it if e.is_file()}
        assert listed == {os.path.basename(_file(mounted, path, uid)): ino
                          for uid, ino in zip(uids, inos)}, path


def _message_inodes(m):
    out = {}
    for top, _, files in os.walk(m.path):
        for n in files:
            p = os.path.join(top, n)
            out[os.path.relpath(p, m.path)] = os.stat(p).st_ino
    return out


def test_inodes_stable_across_remount(mount, dovecot, tmp_path):
    cache = str(tmp_path / "cache")
    m = mount(dovecot, cache_dir=cache)
    first = _message_inodes(m)
    assert len(first) == len(dovecot.corpus.messages)
    # Some bodies cached, some not.
    for rel in sorted(first)[::3]:
        _read(os.path.join(m.path, rel))
    m.stop()
    m = mount(dovecot, cache_dir=cache)
    assert _message_inodes(m) == first


def test_reading_never_sets_seen(mount, fresh_dovecot, oracle_for):
    oracle = oracle_for(fresh_dovecot)
    before = oracle.all_messages()
    unseen = [(p, u) for p, box in before.items()
              for u, i in box.items() if "\\Seen" not in i.flags]
    assert len(unseen) >= 5
    m = mount(fresh_dovecot)
    files = [_file(m, p, uid) for p, box in before.items() for uid in box]
    r = subprocess.run(["cat", *files], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=60)
    assert r.returncode == 0, r.stderr
    after = oracle.all_messages()
    flags = {p: {u: i.flags - {"\\Recent"} for u, i in box.items()}
             for p, box in after.items()}
    assert flags == {p: {u: i.flags - {"\\Recent"} for u, i in box.items()}
                     for p, box in before.items()}


def test_bare_lf_message_is_served_with_crlf(mounted, dovecot, oracle):
    msg = dovecot.corpus.messages["bare-lf"]
    data = _read(_file(mounted, ("INBOX",), msg.uid))
    assert re.search(rb"(?<!\r)\n", data) is None
    assert data == oracle.body("INBOX", msg.uid)


def test_empty_body_message(mounted, dovecot, oracle):
    msg = dovecot.corpus.messages["empty-body"]
    data = _read(_file(mounted, ("INBOX",), msg.uid))
    assert data.endswith(b"\r\n\r\n")
    assert data == oracle.body("INBOX", msg.uid)


def test_utf8_message_bytes(mounted, dovecot, oracle):
    msg = dovecot.corpus.messages["utf8"]
    data = _read(_file(mounted, ("INBOX",), msg.uid))
    assert "Grüße aus Köln – 日本語".encode() in data
    assert data == oracle.body("INBOX", msg.uid)


@pytest.fixture(scope="module")
def large(dovecot, oracle):
    msg = dovecot.corpus.messages["large"]
    return msg, oracle.body("INBOX", msg.uid)


def test_large_message_random_access(mounted, large):
    msg, expected = large
    assert len(expected) > 1024 * 1024
    rng = random.Random(4711)
    fd = os.open(_file(mounted, ("INBOX",), msg.uid), os.O_RDONLY)
    try:
        for _ in range(200):
            off = rng.randrange(len(expected))
            n = rng.choice([1, 17, 4096, 65536, 200000])
            assert os.pread(fd, n, off) == expected[off:off + n], (off, n)
        assert os.pread(fd, 4096, len(expected)) == b""
        assert os.pread(fd, 4096, len(expected) + 12345) == b""
        assert os.pread(fd, 10, len(expected) - 3) == expected[-3:]
    finally:
        os.close(fd)


def test_large_message_small_sequential_reads(mounted, large):
    msg, expected = large
    chunks = []
    with open(_file(mounted, ("INBOX",), msg.uid), "rb", buffering=0) as f:
        while True:
            b = f.read(1000)
            if not b:
                break
            chunks.append(b)
    assert b"".join(chunks) == expected


def test_large_message_seek_end(mounted, large):
    msg, expected = large
    with open(_file(mounted, ("INBOX",), msg.uid), "rb") as f:
        assert f.seek(0, os.SEEK_END) == len(expected)


def test_mmap_read(mounted, large):
    msg, expected = large
    with open(_file(mounted, ("INBOX",), msg.uid), "rb") as f:
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            assert mm[:] == expected


@pytest.mark.parametrize("connections", [1, 3])
def test_parallel_reads(mount, dovecot, oracle, connections):
    m = mount(dovecot, options=[f"connections={connections}"])
    expected = {}
    for path, box in oracle.selectable().items():
        for uid, d in oracle.digests(box.name).items():
            expected[_file(m, path, uid)] = d
    files = sorted(expected)

    def reader(seed):
        order = files[:]
        random.Random(seed).shuffle(order)
        return {f: hashlib.sha256(_read(f)).hexdigest() for f in order}
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(reader, range(8)))
    for r in results:
        assert r == expected


def test_grep_finds_the_message(mounted, oracle):
    needle = "Grüße aus Köln".encode()
    expected = set()
    for path, box in oracle.selectable().items():
        for uid, body in oracle.bodies(box.name).items():
            if needle in body:
                expected.add(os.path.join(mounted.path, *path,
                                          f"{uid}.eml"))
    assert expected
    r = subprocess.run(["grep", "-rlF", needle, mounted.path],
                       capture_output=True, timeout=60,
                       env=dict(os.environ, LC_ALL="C"))
    assert r.returncode == 0, r.stderr
    assert set(os.fsdecode(p) for p in r.stdout.splitlines()) == expected


def test_tar_reads_everything_consistently(mounted, oracle, tmp_path):
    # tar complains when a file's size differs from what reading gives.
    archive = tmp_path / "mail.tar"
    r = subprocess.run(["tar", "-cf", str(archive), "-C", mounted.path, "."],
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stderr == b""
    with tarfile.open(archive) as t:
        for path, box in oracle.selectable().items():
            for uid, body in oracle.bodies(box.name).items():
                member = "./" + "/".join(path + (f"{uid}.eml",))
                assert t.extractfile(member).read() == body, member
