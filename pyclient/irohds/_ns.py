"""Namespaces with a secret from Python (docs/namespaces.md): thin
wrappers over `irohds-ctl ns`, so the token format, the secret files and
their checks have one implementation (common/irh_nssecret.c)."""
import json
import subprocess
from typing import List

from . import _config
from . import _nssecret
from . import _peers
from . import _transport

_TIMEOUT_S = 30


def _ctl(*args) -> dict:
    binary = _transport.find_binary("irohds-ctl")
    if not binary:
        raise RuntimeError("irohds: irohds-ctl not found (next to this package or on PATH); "
                           "namespaces with a secret need it")
    proc = subprocess.run([binary, "--home", _config.home(), "--json", "ns"] + list(args),
                          capture_output=True, text=True, timeout=_TIMEOUT_S)
    if proc.returncode != 0:
        # irohds-ctl's own line says what is wrong ("token is damaged ...").
        lines = [x for x in proc.stderr.splitlines() if x.strip()]
        text = lines[-1] if lines else "irohds-ctl ns %s failed (%d)" % (args[0], proc.returncode)
        if text.startswith("irohds-ctl: "):
            text = text[len("irohds-ctl: "):]
        raise ValueError("irohds: " + text)
    return json.loads(proc.stdout)


def _check_str(value, what):
    if not isinstance(value, str) or not value or "\0" in value:
        raise ValueError("irohds: %s must be a non-empty str" % what)
    return value


def ns_create(name: str) -> str:
    out = _ctl("create", "--", _check_str(name, "the namespace name"))
    _nssecret.forget()
    _peers.note_joined(name)
    return out["token"]


def ns_join(token: str) -> str:
    out = _ctl("join", "--", _check_str(token, "the token"))
    _nssecret.forget()
    _peers.note_joined(out["joined"])
    return out["joined"]


def ns_list() -> List[dict]:
    return _ctl("ls")
