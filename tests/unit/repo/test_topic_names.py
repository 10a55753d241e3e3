"""Every topic name used in code is in the catalogue: each string that looks
like clinicflow.<name>.v<N> under services/, tools/, deploy/ and tests/ (this
folder excepted) must be a catalogue topic, and the CF_TOPIC_* macros of
common/topics.h must list exactly the catalogue's topics."""
import os
import re
import sys

import contract

SCAN_DIRS = ("services", "tools", "deploy", "tests")
SKIP_DIRS = {os.path.join("tests", "unit", "repo")}
TOPIC_USE_RE = re.compile(rb"clinicflow\.[a-z0-9.]+\.v[0-9]+")
MACRO_RE = re.compile(r'^\s*#\s*define\s+(CF_TOPIC_[A-Z0-9_]+)\s+"([^"]*)"', re.M)


def scan(root):
    """{topic name: [files using it]} over the scanned folders."""
    uses = {}
    for top in SCAN_DIRS:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            rel_dir = os.path.relpath(dirpath, root)
            dirnames[:] = [d for d in dirnames if d not in ("__pycache__", ".git")
                           and os.path.join(rel_dir, d) not in SKIP_DIRS]
            for name in filenames:
                path = os.path.join(dirpath, name)
                try:
                    with open(path, "rb") as fp:
                        data = fp.read()
                except OSError:
                    continue
                if b"\0" in data[:4096]:
                    continue  # binary
                for m in TOPIC_USE_RE.finditer(data):
                    uses.setdefault(m.group().decode(), []).append(os.path.relpath(path, root))
    return uses


def main():
    root = contract.SOURCE_DIR
    known = set(contract.catalogue())
    failures = []

    uses = scan(root)
    for topic, files in sorted(uses.items()):
        if topic not in known:
            failures.append(f"{topic} (in {', '.join(sorted(set(files)))}) is not in "
                            "proto/topics.json")

    header = os.path.join(root, "services", "common", "include", "common", "topics.h")
    with open(header, encoding="utf-8") as fp:
        macros = dict(MACRO_RE.findall(fp.read()))
    for macro, topic in sorted(macros.items()):
        if topic not in known:
            failures.append(f"{macro} = {topic} is not in proto/topics.json")
    for topic in sorted(known - set(macros.values())):
        failures.append(f"catalogue topic {topic} has no CF_TOPIC_* macro in topics.h")

    print(f"{len(uses)} topic names used in code, {len(macros)} macros, {len(known)} topics")
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
