"""Anonymous visitor ids that the system issues and signs, so a public form cannot claim someone
else's browsing.

A form that carries a visitor id links that visitor's earlier anonymous events to the lead. If
any text were accepted, anyone could post a form with another visitor's id (seen in a URL, a
shared computer, a guess) and take that browsing. So ids on public forms must be ones this
system issued: `v1.<random>.<signature>`, the signature an HMAC of the random part under a key
derived from the tracking secret (so there is no second secret to deploy or rotate). An unsigned
or forged id links nothing; the form still counts. Signed tracking (`POST /events`) comes from
servers that hold the secret, so its anonymous ids are trusted as sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable

PREFIX = "v1"
_KEY_LABEL = b"leadscore visitor id v1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def visitor_key(tracking_secret: str) -> bytes:
    """The signing key, derived from one tracking secret (each line of the parameter gives one)."""
    return hmac.new(tracking_secret.encode(), _KEY_LABEL, hashlib.sha256).digest()


def _signature(key: bytes, random_part: str) -> str:
    return _b64(hmac.new(key, f"{PREFIX}.{random_part}".encode(), hashlib.sha256).digest()[:16])


def issue(key: bytes) -> str:
    """A new visitor id: 128 random bits and a 128-bit signature, 48 URL-safe characters."""
    random_part = _b64(secrets.token_bytes(16))
    return f"{PREFIX}.{random_part}.{_signature(key, random_part)}"


def is_signed(value: str, keys: Iterable[bytes]) -> bool:
    """True when `value` is an id this system issued under any of the keys (rotation)."""
    parts = value.split(".")
    if len(parts) != 3 or parts[0] != PREFIX or len(parts[1]) != 22 or len(parts[2]) != 22:
        return False
    return any(hmac.compare_digest(_signature(key, parts[1]), parts[2]) for key in keys)
