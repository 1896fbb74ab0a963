# SPDX-License-Identifier: GPL-2.0-or-later
"""Count test results from meson's logs, the fuzz runs and pytest's JUnit
XML, print "N passed, N failed", and exit non-zero on any failure."""
import glob
import json
import os
import re
import sys
import xml.etree.ElementTree as ET


def count_tap(text):
    passed = len(re.findall(r"^ok \d*", text, re.M))
    failed = len(re.findall(r"^not ok", text, re.M))
    return passed, failed


def main(results):
    passed = failed = 0
    for path in sorted(glob.glob(os.path.join(results, "unit-*.json"))):
        with open(path) as f:
            for line in f:
                test = json.loads(line)
                p, n = count_tap(test.get("stdout") or "")
                # A program that crashed or timed out counts once more.
                if test["result"] not in ("OK", "SKIP") and n == 0:
                    n = 1
                passed += p
                failed += n
    fuzz = os.path.join(results, "fuzz.tap")
    if os.path.exists(fuzz):
        with open(fuzz) as f:
            p, n = count_tap(f.read())
        passed += p
        failed += n
    junit = os.path.join(results, "mount.xml")
    if os.path.exists(junit):
        for case in ET.parse(junit).getroot().iter("testcase"):
            if case.find("skipped") is not None:
                continue
            if case.find("failure") is not None or \
                    case.find("error") is not None:
                failed += 1
            else:
                passed += 1
    else:
        failed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
