"""The repository's docs stand alone: no file cites a document outside the
repository, every doc a page names exists, and docs/config.md documents
exactly the keys the config parser knows (plus the planned ones it marks
as not implemented)."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "support"))
from irohds_test import SOURCE  # noqa: E402

# Built from parts so this file does not cite them itself.
OUTSIDE = ["DESIGN" + ".md", "../" + "shared", "/work/" + "shared"]
SKIP_DIRS = {".git", "__pycache__"}


def repo_files():
    for root, dirs, files in os.walk(SOURCE):
        rel = os.path.relpath(root, SOURCE)
        # Build trees live inside the source tree; they are not the repository.
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS
                   and not (rel == "." and d.startswith("build"))]
        for name in files:
            path = os.path.join(root, name)
            if os.path.islink(path) or os.path.getsize(path) > 2_000_000:
                continue
            yield path


def test_no_file_cites_anything_outside_the_repository():
    offenders = []
    for path in repo_files():
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (UnicodeDecodeError, OSError):
            continue
        for n, line in enumerate(text.splitlines(), 1):
            for word in OUTSIDE:
                if word in line:
                    offenders.append("%s:%d: %s" % (os.path.relpath(path, SOURCE), n, word))
    assert not offenders, "\n".join(offenders)


def test_docs_name_only_files_that_exist():
    docs = os.path.join(SOURCE, "docs")
    missing = []
    for name in sorted(os.listdir(docs)):
        if not name.endswith(".md"):
            continue
        with open(os.path.join(docs, name), encoding="utf-8") as f:
            text = f.read()
        for ref in set(re.findall(r"`((?:[\w.-]+/)*[\w-]+\.md)`", text)):
            candidates = [os.path.join(docs, ref), os.path.join(SOURCE, ref)]
            if not any(os.path.exists(c) for c in candidates):
                missing.append("docs/%s: %s" % (name, ref))
    assert not missing, missing


def known_keys():
    with open(os.path.join(SOURCE, "common", "irh_config.c"), encoding="utf-8") as f:
        text = f.read()
    block = text[text.index("s_known_keys"):]
    block = block[:block.index("NULL")]
    return set(re.findall(r'"([a-z_]+\.[a-z_.]+)"', block))


def documented_keys():
    with open(os.path.join(SOURCE, "docs", "config.md"), encoding="utf-8") as f:
        text = f.read()
    keys, planned = {}, set()
    section = text[text.index("\n## Keys"):]
    for line in section.splitlines():
        m = re.match(r"\| `([a-z_]+\.[a-z_.]+)` \|(.*)", line)
        if m:
            keys[m.group(1)] = m.group(2)
    planned_part = section[section.index("Planned keys"):]
    planned_part = planned_part[:planned_part.index("\n###")]
    planned = set(re.findall(r"\| `([a-z_]+\.[a-z_.]+)` \|", planned_part))
    return keys, planned


def test_config_doc_matches_the_parser():
    keys, planned = documented_keys()
    known = known_keys()
    assert known, "s_known_keys not found"
    assert set(keys) - planned == known, (sorted(set(keys) - planned - known),
                                          sorted(known - set(keys)))
    # A planned key is not known to the parser yet, and says so.
    assert not planned & known
    # Keys nothing reads are marked, so nobody expects them to work; the
    # discovery actor reads discovery.lan now, and its row says how
    # IROHDS_LAN overrides it.
    assert "not implemented yet" not in keys["discovery.lan"]
    assert "IROHDS_LAN" in keys["discovery.lan"]
    # default_ttl is documented as counted from the last access.
    assert "last access" in keys["store.default_ttl"]


def test_every_key_documented_as_read_is_read():
    """A key whose row names a reader must appear in that reader's code."""
    keys, planned = documented_keys()
    readers = {"store": ["actors/store"], "daemon": ["supervisor"],
               "capability": ["actors/capability"],
               "Python client": ["pyclient/irohds"], "gossip": ["actors/gossip"],
               "discovery": ["actors/discovery"], "identity": ["common"]}
    sources = {}
    for name, dirs in readers.items():
        text = []
        for d in dirs:
            if d.endswith(".c"):
                with open(os.path.join(SOURCE, d), encoding="utf-8") as fh:
                    text.append(fh.read())
                continue
            for root, _, files in os.walk(os.path.join(SOURCE, d)):
                for f in files:
                    if f.endswith((".c", ".py")) and "_test" not in f:
                        with open(os.path.join(root, f), encoding="utf-8") as fh:
                            text.append(fh.read())
        sources[name] = "\n".join(text)
    for key, row in keys.items():
        if key in planned or "not implemented" in row:
            continue
        cells = [c.strip() for c in row.split("|")]
        read_by = cells[2]                  # type | default | read by | meaning
        named = [r for r in readers if r in read_by]
        assert named, (key, read_by)
        for reader in named:
            assert key in sources[reader], (key, reader)
