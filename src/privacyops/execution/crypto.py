"""Encryption at rest of export packages: AES-256-GCM in 1 MiB segments (bounded memory).

Layout: magic, 8-byte random nonce prefix, then segments of [4-byte length][ciphertext+tag].
Each segment's nonce is prefix + 4-byte counter; the associated data marks the last segment,
so truncating, reordering or appending segments fails authentication.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from typing import BinaryIO

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"POX1"
SEGMENT = 1024 * 1024


class DecryptionError(Exception):
    pass


def _nonce(prefix: bytes, counter: int) -> bytes:
    return prefix + struct.pack(">I", counter)


def encrypt_stream(key: bytes, source: BinaryIO, target: BinaryIO) -> None:
    aead = AESGCM(key)
    prefix = os.urandom(8)
    target.write(MAGIC + prefix)
    counter = 0
    chunk = source.read(SEGMENT)
    while True:
        following = source.read(SEGMENT)
        last = not following
        sealed = aead.encrypt(_nonce(prefix, counter), chunk, b"last" if last else b"more")
        target.write(struct.pack(">I", len(sealed)) + sealed)
        if last:
            return
        chunk, counter = following, counter + 1


def decrypt_stream(key: bytes, source: BinaryIO) -> Iterator[bytes]:
    aead = AESGCM(key)
    header = source.read(len(MAGIC) + 8)
    if header[:4] != MAGIC:
        raise DecryptionError("not a PrivacyOps export package")
    prefix = header[4:]
    counter = 0
    while True:
        size_bytes = source.read(4)
        if len(size_bytes) != 4:
            raise DecryptionError("the package is truncated")
        sealed = source.read(struct.unpack(">I", size_bytes)[0])
        peek = source.read(1)
        last = not peek
        try:
            yield aead.decrypt(_nonce(prefix, counter), sealed, b"last" if last else b"more")
        except Exception as error:
            raise DecryptionError("the package failed authentication (altered or wrong key)") from error
        if last:
            return
        source.seek(-1, os.SEEK_CUR)
        counter += 1
