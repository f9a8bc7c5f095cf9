"""irohds-ctl ns create/join/ls/leave through the real binary in temp homes
(docs/namespaces.md): tokens are one shell-safe word, secrets are private
files under <home>/ns/, listing never shows a secret unless asked, bad
tokens and unsafe secret files are refused with a clear line and a
non-zero exit, and nothing is written for a refused token. With a daemon,
`ns create` names the port its gossip actor listens on."""
import base64
import json
import os
import re
import shutil
import stat
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "support"))
from irohds_test import Daemon, binary, make_home, serve  # noqa: E402
from irohds_test import test_env as env_for  # noqa: E402  (not a test)
import subprocess  # noqa: E402

CTL = binary("irohds-ctl")
WORD = re.compile(r"irohds1:[A-Za-z0-9_-]+")
ADDRESS = "tcp://192.0.2.7:47460"


def ctl(home, *args):
    return subprocess.run([CTL, "--home", home] + list(args), capture_output=True, text=True,
                          timeout=30, env=env_for(home))


def ok(result):
    assert result.returncode == 0, result.stderr
    return result


def ok_json(result):
    return json.loads(ok(result).stdout)


def fails(result, code, *words):
    """The command failed with code and one stderr line naming each word."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == "" or code == 1, result.stdout
    first = result.stderr.splitlines()[0]
    assert first.startswith("irohds-ctl: "), result.stderr
    for word in words:
        assert word in result.stderr, (word, result.stderr)
    return result.stderr


@pytest.fixture
def homes():
    made = [make_home(), make_home()]
    try:
        yield made
    finally:
        for path in made:
            shutil.rmtree(path, ignore_errors=True)


def secret_files(home):
    folder = os.path.join(home, "ns")
    if not os.path.isdir(folder):
        return []
    return sorted(os.path.join(folder, n) for n in os.listdir(folder))


def create(home, name="team", address=ADDRESS):
    out = ok_json(ctl(home, "--json", "ns", "create", name, "--address", address))
    assert set(out) >= {"token", "name", "id", "bootstrap"}
    return out


def test_create_prints_one_word_and_keeps_the_secret_private(homes):
    a, _ = homes
    text = ok(ctl(a, "ns", "create", "team", "--address", ADDRESS)).stdout
    token = text.strip()
    assert text == token + "\n" and WORD.fullmatch(token), text
    files = secret_files(a)
    assert len(files) == 1
    assert stat.S_IMODE(os.stat(files[0]).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(files[0])).st_mode) == 0o700
    # The file is named by the namespace id, never by its name.
    assert "team" not in os.path.basename(files[0])
    # --json: {"token": ...}, the same form.
    out = create(a, "second")
    assert WORD.fullmatch(out["token"]) and out["name"] == "second"
    assert out["bootstrap"].startswith(ADDRESS + "#")
    assert re.fullmatch(r"[0-9a-f]{64}", out["id"])
    # Node id in the token is this node's (irohds-ctl info).
    info = ok_json(ctl(a, "--json", "info"))
    assert out["bootstrap"] == "%s#%s" % (ADDRESS, info["local"]["node_id"])
    # A name is made once; a bad name is a usage error.
    fails(ctl(a, "ns", "create", "team", "--address", ADDRESS), 1, "exists already")
    fails(ctl(a, "ns", "create", "bad\nname"), 2, "printable")
    fails(ctl(a, "ns", "create", "x" * 256), 2, "printable")


def test_ls_hides_secrets_unless_asked(homes):
    a, _ = homes
    out = create(a)
    listed = ctl(a, "ns", "ls")
    ok(listed)
    assert "team" in listed.stdout and "irohds1:" not in listed.stdout
    rows = ok_json(ctl(a, "--json", "ns", "ls"))
    assert rows == [{"name": "team", "id": out["id"], "bootstrap": out["bootstrap"]}]
    shown = ok_json(ctl(a, "--json", "ns", "ls", "--show-secret"))
    assert shown[0]["token"] == out["token"]
    assert out["token"] in ok(ctl(a, "ns", "ls", "--show-secret")).stdout
    # No namespaces: a sentence, and [] in JSON.
    _, b = homes
    assert "no namespaces" in ok(ctl(b, "ns", "ls")).stdout
    assert ok_json(ctl(b, "--json", "ns", "ls")) == []


def test_join_records_the_namespace_and_its_peer(homes):
    a, b = homes
    out = create(a)
    joined = ok_json(ctl(b, "--json", "ns", "join", out["token"]))
    assert joined == {"joined": "team", "id": out["id"], "contacting": False}
    assert ok_json(ctl(b, "--json", "ns", "ls", "--show-secret")) == [
        {"name": "team", "id": out["id"], "bootstrap": out["bootstrap"], "token": out["token"]}]
    # The token's node is kept for discovery, so a restart contacts it.
    with open(os.path.join(b, "peers", "ns_bootstrap")) as f:
        lines = [line for line in f.read().splitlines() if line and line[0] != "#"]
    assert lines == [out["bootstrap"]]
    # Joining again is fine; the same name with another secret is not.
    assert "already joined" in ok(ctl(b, "ns", "join", out["token"])).stdout
    elsewhere = make_home()
    try:
        other = create(elsewhere, "team")
        fails(ctl(b, "ns", "join", other["token"]), 1, "another secret", "ns leave team")
    finally:
        shutil.rmtree(elsewhere, ignore_errors=True)
    # The creator has no peer to contact for its own namespace.
    assert not os.path.exists(os.path.join(a, "peers", "ns_bootstrap"))
    # Leave: the secret is gone, and the peer with it.
    ok(ctl(b, "ns", "leave", "team"))
    assert secret_files(b) == []
    with open(os.path.join(b, "peers", "ns_bootstrap")) as f:
        assert [x for x in f.read().splitlines() if x and x[0] != "#"] == []
    fails(ctl(b, "ns", "leave", "team"), 1, "no namespace 'team'")


def _tampered(token):
    """token with one payload byte changed and re-encoded: well formed
    base64url, but the check no longer matches."""
    body = token[len("irohds1:"):]
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw[40] ^= 1
    return "irohds1:" + base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


def test_bad_tokens_are_refused_and_write_nothing(homes):
    a, b = homes
    token = create(a)["token"]
    cases = [
        ("", "not a join token"),
        ("hello", "not a join token"),
        ("irohds9:" + token[8:], "version 'irohds9' is not supported"),
        ("irohds1:", "damaged"),
        ("irohds1:!!!!", "damaged"),
        (token[:-5], "damaged"),                    # cut
        (token + "A", "damaged"),                   # extended
        (token + "=", "damaged"),                   # padded
        (token[:20] + ("B" if token[20] == "A" else "A") + token[21:], "damaged"),  # typo
        (_tampered(token), "check does not match"),
        ("irohds1:" + "A" * 2000, "damaged"),
    ]
    for text, words in cases:
        fails(ctl(b, "ns", "join", text), 1, "ns join", words)
    assert secret_files(b) == []
    # Usage errors.
    fails(ctl(b, "ns"), 2, "ns takes")
    fails(ctl(b, "ns", "frob"), 2, "ns takes")
    fails(ctl(b, "ns", "join"), 2, "ns takes")
    fails(ctl(b, "ns", "join", token, "--show-secret"), 2, "--show-secret is for ls")


def test_unsafe_secret_files_are_refused(homes):
    a, _ = homes
    create(a)
    path = secret_files(a)[0]
    # Readable by others.
    os.chmod(path, 0o644)
    err = fails(ctl(a, "ns", "ls"), 1, "mode 0644", "chmod 600")
    assert "1 secret file(s) refused" in err
    os.chmod(path, 0o600)
    ok(ctl(a, "ns", "ls"))
    # A symlink where the file was.
    real = path + ".real"
    os.rename(path, real)
    os.symlink(real, path)
    fails(ctl(a, "ns", "ls"), 1, "symlink")
    os.remove(path)
    # A FIFO never blocks the listing.
    os.mkfifo(path, 0o600)
    fails(ctl(a, "ns", "ls"), 1, "not a regular file")
    os.remove(path)
    # Damaged contents, and a file renamed to another namespace's id.
    with open(real) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace("irohds1:", "irohds1:x"))
    os.chmod(path, 0o600)
    fails(ctl(a, "ns", "ls"), 1, "damaged")
    os.remove(path)
    other = os.path.join(os.path.dirname(path), "0" * 64 + ".ns")
    os.rename(real, other)
    fails(ctl(a, "ns", "ls"), 1, "not the id of the namespace")


@pytest.fixture(scope="module")
def daemon():
    for d in serve(Daemon()):
        d.wait_ready(60.0, services=("sup", "store", "gossip"))
        yield d


def test_create_with_a_daemon_names_its_gossip_port(daemon):
    stats = ok_json(daemon.ctl("--json", "peers", "--stats"))
    port = stats["gossip"]["port"]
    result = daemon.ctl("--json", "ns", "create", "live")
    out = json.loads(ok(result).stdout)
    assert "not running" not in result.stderr, result.stderr
    assert re.fullmatch(r"tcp://[0-9.]+:%d#[0-9a-f]{64}" % port, out["bootstrap"]), out
    # A joiner's token handed to a running daemon is contacted at once.
    other = make_home()
    try:
        theirs = create(other, "theirs", "tcp://127.0.0.1:9")
        joined = json.loads(ok(daemon.ctl("--json", "ns", "join", theirs["token"])).stdout)
        assert joined["contacting"] is True
    finally:
        shutil.rmtree(other, ignore_errors=True)


def test_gossip_reads_the_secrets_and_counts_refused_ones():
    """The gossip actor reads <home>/ns at start through its sandbox (read
    rule); a secret file others can read is refused, logged and counted."""
    home = make_home()
    try:
        create(home, "kept")
        create(home, "exposed")
        # Which file is which does not matter: one of the two is made unsafe.
        os.chmod(secret_files(home)[0], 0o644)
        for d in serve(Daemon(home=home)):
            d.wait_ready(60.0, services=("sup", "store", "gossip"))
            stats = ok_json(d.ctl("--json", "peers", "--stats"))["gossip"]
            assert stats["ns_secrets"] == 1 and stats["ns_secrets_refused"] == 1, stats
            assert "mode 0644 lets others read a secret key" in d.read_log()
    finally:
        shutil.rmtree(home, ignore_errors=True)
