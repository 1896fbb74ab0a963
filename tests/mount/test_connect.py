# SPDX-License-Identifier: GPL-2.0-or-later
"""Every way of reaching the server gives the same tree and bytes, and the
password stays secret."""

import base64
import hashlib
import os

import pytest

from mount import fuse_mount_info

pytestmark = pytest.mark.fuse

VARIANTS = ("plaintext", "starttls", "starttls-ip", "imaps", "imaps-ip",
            "tunnel")


def _server_for(request, variant):
    name = "plain_dovecot" if variant == "plaintext" else "dovecot"
    return request.getfixturevalue(name)


@pytest.fixture(params=VARIANTS)
def variant_mount(request, mount):
    """A mount of the tricky corpus through each connection variant."""
    server = _server_for(request, request.param)
    return mount(server, request.param)


def _walk_dirs(root):
    dirs = set()
    for top, subdirs, _ in os.walk(root):
        rel = os.path.relpath(top, root)
        if rel != ".":
            dirs.add(tuple(rel.split(os.sep)))
    return dirs


def test_mounts_in_foreground_as_fuse_imapfs(variant_mount):
    info = fuse_mount_info(variant_mount.path)
    assert info is not None
    assert info[0] == "fuse.imapfs"
    # -f: the process we started is the one serving the mount.
    assert variant_mount.proc.poll() is None


def test_tree_matches_server(variant_mount, oracle_for):
    oracle = oracle_for(variant_mount.server)
    assert _walk_dirs(variant_mount.path) == oracle.directories()


def test_bytes_match_server(variant_mount, oracle_for):
    oracle = oracle_for(variant_mount.server)
    checked = 0
    for path, box in oracle.selectable().items():
        for uid, digest in oracle.digests(box.name).items():
            f = os.path.join(variant_mount.path, *path, f"{uid}.eml")
            with open(f, "rb") as fh:
                assert hashlib.sha256(fh.read()).hexdigest() == digest, f
            checked += 1
    assert checked >= 20


def test_tunnel_needs_no_password(mount, dovecot):
    m = mount(dovecot, "tunnel")
    assert not any(o.startswith("passfile=") for o in m.options)
    assert os.path.isdir(os.path.join(m.path, "INBOX"))


def test_tls_insecure_mounts_without_ca_and_warns(mount, dovecot):
    m = mount(dovecot, "imaps", options=["tls_insecure"],
              without=["cafile"])
    assert not any(o.startswith("cafile=") for o in m.options)
    assert os.path.isdir(os.path.join(m.path, "INBOX"))
    log = m.log().lower()
    assert "insecure" in log or "verif" in log or "certificate" in log, log


# -- secrets ------------------------------------------------------------------

def _secret_forms(user, password):
    """The password as it could leak: raw, and in SASL PLAIN and LOGIN."""
    plain = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    login = base64.b64encode(password.encode()).decode()
    return [password, plain, login]


def _use_the_mount(m, dovecot):
    inbox = os.path.join(m.path, "INBOX")
    names = os.listdir(inbox)
    for n in names:
        if n.endswith(".eml"):
            with open(os.path.join(inbox, n), "rb") as f:
                f.read()
    return names


def test_trace_shows_dialogue_without_password(mount, dovecot):
    m = mount(dovecot, "starttls", trace=True)
    _use_the_mount(m, dovecot)
    m.stop()
    log = m.log()
    assert any("C: " in line for line in log.splitlines()), log[-2000:]
    assert any("S: " in line for line in log.splitlines()), log[-2000:]
    for secret in _secret_forms(dovecot.user, dovecot.password):
        assert secret not in log


@pytest.mark.parametrize("variant", ["plaintext", "imaps"])
def test_trace_hides_password_on_every_transport(mount, request, variant):
    server = _server_for(request, variant)
    m = mount(server, variant, trace=True)
    _use_the_mount(m, server)
    m.stop()
    log = m.log()
    assert "C: " in log
    for secret in _secret_forms(server.user, server.password):
        assert secret not in log


def test_trace_elides_message_bodies(mount, dovecot):
    m = mount(dovecot, "starttls", trace=True)
    plain = dovecot.corpus.messages["plain"]
    utf8 = dovecot.corpus.messages["utf8"]
    for msg in (plain, utf8):
        with open(os.path.join(m.path, "INBOX", msg.filename), "rb") as f:
            assert f.read()
    m.stop()
    log = m.log()
    assert "BODY" in log.upper()
    assert "this is a plain ASCII message" not in log
    assert "Ärger über Öl" not in log


def test_password_not_in_cmdline_or_environment(mount, dovecot):
    m = mount(dovecot, "starttls")
    _use_the_mount(m, dovecot)
    secrets = [s.encode() for s in _secret_forms(dovecot.user,
                                                 dovecot.password)]
    for what in ("cmdline", "environ"):
        with open(f"/proc/{m.pid}/{what}", "rb") as f:
            data = f.read()
        assert data, what
        for s in secrets:
            assert s not in data, what
