"""Encryption at rest of export packages: AES-256-GCM in 1 MiB segments (bounded memory).

Layout: magic, 8-byte random nonce prefix, then segments of [4-byte length][ciphertext+tag].
Each segment's nonce is prefix + 4-byte counter; the associated data marks the last segment,
so truncating, reordering or appending segments fails authentication. A length field that
does not match the bytes that follow, or that announces more than one segment, is refused
before anything is decrypted, so a damaged header never makes the reader allocate more.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"POX1"
PREFIX_BYTES = 8
SEGMENT = 1024 * 1024
TAG_BYTES = 16
LAST = b"last"
MORE = b"more"


class DecryptionError(Exception):
    pass


def _nonce(prefix: bytes, counter: int) -> bytes:
    return prefix + struct.pack(">I", counter)


def encrypt_stream(key: bytes, source: BinaryIO, target: BinaryIO, *,
                   segment_size: int = SEGMENT) -> None:
    """Encrypt `source` into `target`; `segment_size` (at most SEGMENT) only changes the layout."""
    if not 0 < segment_size <= SEGMENT:
        raise ValueError(f"segment_size must be between 1 and {SEGMENT} bytes")
    aead = AESGCM(key)
    prefix = os.urandom(PREFIX_BYTES)
    target.write(MAGIC + prefix)
    counter = 0
    chunk = source.read(segment_size)
    while True:
        following = source.read(segment_size)
        last = not following
        sealed = aead.encrypt(_nonce(prefix, counter), chunk, LAST if last else MORE)
        target.write(struct.pack(">I", len(sealed)) + sealed)
        if last:
            return
        chunk, counter = following, counter + 1


def decrypt_stream(key: bytes, source: BinaryIO) -> Iterator[bytes]:
    """The plaintext, one segment at a time. Raises DecryptionError at the first segment that
    is damaged, missing or extra; what was yielded before it is authentic but incomplete."""
    aead = AESGCM(key)
    header = source.read(len(MAGIC) + PREFIX_BYTES)
    if len(header) != len(MAGIC) + PREFIX_BYTES or header[:len(MAGIC)] != MAGIC:
        raise DecryptionError("not a PrivacyOps export package")
    prefix = header[len(MAGIC):]
    counter = 0
    while True:
        size_bytes = source.read(4)
        if len(size_bytes) != 4:
            raise DecryptionError("the package is truncated")
        size = struct.unpack(">I", size_bytes)[0]
        if not TAG_BYTES <= size <= SEGMENT + TAG_BYTES:
            raise DecryptionError("the package is damaged (a segment length is impossible)")
        sealed = source.read(size)
        if len(sealed) != size:
            raise DecryptionError("the package is truncated")
        last = not source.read(1)
        try:
            plain = aead.decrypt(_nonce(prefix, counter), sealed, LAST if last else MORE)
        except InvalidTag:
            raise DecryptionError(
                "the package failed authentication (altered or wrong key)") from None
        yield plain
        if last:
            return
        source.seek(-1, os.SEEK_CUR)
        counter += 1
