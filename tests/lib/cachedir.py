# SPDX-License-Identifier: GPL-2.0-or-later
"""What a cache directory holds, read the way docs/DESIGN.md ("Cache")
describes it: in a body directory DIR/bodies/M/UIDVALIDITY, a file named
by a UID holds that body, and each pack-* file holds records one after
another, each a 128-byte header and then the body.  For tests that look
at the cache from outside; the daemon's own checks are not repeated here,
only what tells records apart."""

import os
import re

HEADER_SIZE = 128
_HEADER = re.compile(rb"imapfs-body 2\nuidvalidity (\d+)\nuid (\d+)\n"
                     rb"length (\d+)\n")


def pack_records(path):
    """[(uid, offset of the body, length)] of the pack at path, up to the
    first record that is not whole."""
    records = []
    with open(path, "rb") as f:
        data = f.read()
    offset = 0
    while offset + HEADER_SIZE <= len(data):
        m = _HEADER.match(data, offset)
        if not m:
            break
        length = int(m.group(3))
        if offset + HEADER_SIZE + length > len(data):
            break
        records.append((int(m.group(2)), offset + HEADER_SIZE, length))
        offset += HEADER_SIZE + length
    return records


def cached_uids(body_dir):
    """The set of UIDs with a body (packed or in a file) in body_dir."""
    body_dir = str(body_dir)
    if not os.path.isdir(body_dir):
        return set()
    uids = set()
    for name in os.listdir(body_dir):
        path = os.path.join(body_dir, name)
        if name.startswith("pack-"):
            uids.update(uid for uid, _, _ in pack_records(path))
        elif name.isdigit():
            uids.add(int(name))
    return uids


def cached_bodies(cache_dir):
    """Every body under cache_dir/bodies, as bytes (in no set order)."""
    bodies = []
    for top, _, names in os.walk(os.path.join(str(cache_dir), "bodies")):
        for name in names:
            path = os.path.join(top, name)
            if name.startswith("pack-"):
                with open(path, "rb") as f:
                    data = f.read()
                bodies.extend(data[start:start + length]
                              for _, start, length in pack_records(path))
            elif name.isdigit():
                with open(path, "rb") as f:
                    bodies.append(f.read()[HEADER_SIZE:])
    return bodies
