"""The installation's Ed25519 signing key: signs audit checkpoints; never in the control DB.

The private key is a PEM file (``PRIVACYOPS_SIGNING_KEY_FILE``, by default in the data folder),
created with mode 0600 the first time something is signed. Whoever can write the control DB
but not read this file cannot sign a checkpoint, so a rewritten or shortened chain no longer
matches the signed heads. Verifying needs only the public key (`privacyops audit key`).
"""

from __future__ import annotations

import base64
import hashlib
import os
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

from privacyops.errors import DomainError


class SigningKeyMissing(DomainError):
    code = "signing_key_missing"
    status = 503


def key_path() -> Path:
    return Path(settings.SIGNING_KEY_FILE)


@lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyMissing(f"The signing key file {path} does not hold an Ed25519 key. "
                                "Point PRIVACYOPS_SIGNING_KEY_FILE at the installation's key.")
    return key


def signing_key(*, create: bool = True) -> Ed25519PrivateKey:
    """The private key; created on first use (exclusively, so two processes agree on one)."""
    path = key_path()
    if not path.exists():
        if not create:
            raise SigningKeyMissing(
                f"The signing key file {path} does not exist, so signed checkpoints cannot be "
                "checked. Restore the key file from your backup or set "
                "PRIVACYOPS_SIGNING_KEY_FILE to its path.")
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first: use theirs
        else:
            with os.fdopen(handle, "wb") as out:
                out.write(pem)
    return _load(str(path), path.stat().st_mtime_ns)


def public_key_bytes(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public: Ed25519PublicKey) -> str:
    """A short fingerprint: the first 16 hex digits of the SHA-256 of the raw public key."""
    return hashlib.sha256(public_key_bytes(public)).hexdigest()[:16]


def public_key(*, create: bool = False) -> Ed25519PublicKey:
    return signing_key(create=create).public_key()


def public_key_text(public: Ed25519PublicKey) -> str:
    return base64.b64encode(public_key_bytes(public)).decode()


def public_key_from_text(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))


def sign(data: bytes) -> tuple[str, str]:
    """(signature in base64, key id) for `data`, with the installation key."""
    key = signing_key()
    return base64.b64encode(key.sign(data)).decode(), key_id(key.public_key())


def signature_valid(public: Ed25519PublicKey, data: bytes, signature: str) -> bool:
    try:
        public.verify(base64.b64decode(signature, validate=True), data)
    except (InvalidSignature, ValueError):
        return False
    return True
