"""Encryption at rest of export packages, tested directly.

The oracle is the documented layout read by this file's own parser and opened with the
`cryptography` library's AES-GCM, not the module under test: magic "POX1", an 8-byte nonce
prefix, then segments of [4-byte big-endian length][ciphertext + 16-byte tag], segment n
sealed with nonce prefix + n (4 bytes, big-endian) and associated data b"last" on the final
segment, b"more" on every other. Any change of the stored bytes must refuse to decrypt.
"""

from __future__ import annotations

import io
import os
import struct

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from privacyops.execution.crypto import SEGMENT, DecryptionError, decrypt_stream, encrypt_stream

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
SMALL = 64  # segment size of the small packages whose every byte is flipped


def encrypt(plain: bytes, *, key: bytes = KEY, segment_size: int = SEGMENT) -> bytes:
    out = io.BytesIO()
    encrypt_stream(key, io.BytesIO(plain), out, segment_size=segment_size)
    return out.getvalue()


def decrypt(package: bytes, *, key: bytes = KEY) -> bytes:
    return b"".join(decrypt_stream(key, io.BytesIO(package)))


def parse(package: bytes) -> tuple[bytes, bytes, list[tuple[int, bytes]]]:
    """(magic, nonce prefix, [(offset of the length field, sealed segment)]) by the layout."""
    magic, prefix, offset, segments = package[:4], package[4:12], 12, []
    while offset < len(package):
        (size,) = struct.unpack(">I", package[offset:offset + 4])
        segments.append((offset, package[offset + 4:offset + 4 + size]))
        offset += 4 + size
    assert offset == len(package)
    return magic, prefix, segments


def open_by_layout(package: bytes, key: bytes = KEY) -> bytes:
    magic, prefix, segments = parse(package)
    assert magic == b"POX1"
    aead = AESGCM(key)
    return b"".join(
        aead.decrypt(prefix + struct.pack(">I", n), sealed,
                     b"last" if n == len(segments) - 1 else b"more")
        for n, (_offset, sealed) in enumerate(segments)
    )


def read_until_refused(package: bytes, *, key: bytes = KEY) -> tuple[bytes, str]:
    """What the reader yielded before refusing the package, and its refusal."""
    received = []
    try:
        for part in decrypt_stream(key, io.BytesIO(package)):
            received.append(part)
    except DecryptionError as error:
        return b"".join(received), str(error)
    raise AssertionError("the package was read to its end without a refusal")


def refused(package: bytes, *, key: bytes = KEY) -> bool:
    try:
        decrypt(package, key=key)
    except DecryptionError:
        return True
    return False


@pytest.fixture(scope="module")
def three_segments() -> tuple[bytes, bytes]:
    """A package of three full-size segments (the last one short): (plaintext, package)."""
    plain = os.urandom(2 * SEGMENT + 4321)
    return plain, encrypt(plain)


@pytest.fixture(scope="module")
def small() -> tuple[bytes, bytes]:
    """A package of three small segments (64, 64 and 22 bytes of plaintext)."""
    plain = bytes(n % 251 for n in range(150))
    return plain, encrypt(plain, segment_size=SMALL)


class TestRoundTrip:
    @pytest.mark.parametrize("size", [0, 1, 1000, SEGMENT - 1, SEGMENT, SEGMENT + 1,
                                      3 * SEGMENT + 17])
    def test_decrypts_to_the_same_bytes_in_the_documented_layout(self, size):
        plain = os.urandom(size)
        package = encrypt(plain)
        assert decrypt(package) == plain
        assert open_by_layout(package) == plain
        _magic, _prefix, segments = parse(package)
        assert len(segments) == max(1, -(-size // SEGMENT))
        assert [len(s) - 16 for _o, s in segments[:-1]] == [SEGMENT] * (len(segments) - 1)

    def test_several_segments_come_out_one_at_a_time(self, three_segments):
        plain, package = three_segments
        parts = list(decrypt_stream(KEY, io.BytesIO(package)))
        assert [len(p) for p in parts] == [SEGMENT, SEGMENT, 4321]
        assert b"".join(parts) == plain

    def test_small_segments_follow_the_layout_too(self, small):
        plain, package = small
        _magic, _prefix, segments = parse(package)
        assert [len(s) for _o, s in segments] == [64 + 16, 64 + 16, 22 + 16]
        assert open_by_layout(package) == plain
        assert decrypt(package) == plain

    def test_the_plaintext_does_not_appear_in_the_package(self):
        plain = b"ada.lovelace@example.com " * 100
        package = encrypt(plain)
        assert b"ada.lovelace" not in package
        assert len(package) == 4 + 8 + 4 + len(plain) + 16

    @pytest.mark.parametrize("segment_size", [0, -1, SEGMENT + 1])
    def test_a_segment_size_outside_the_format_is_refused(self, segment_size):
        with pytest.raises(ValueError, match="segment_size"):
            encrypt(b"x", segment_size=segment_size)

    def test_one_byte_segments_are_allowed(self):
        package = encrypt(b"abc", segment_size=1)
        assert len(parse(package)[2]) == 3
        assert decrypt(package) == b"abc"


class TestWrongKey:
    def test_another_key_yields_nothing(self, three_segments):
        _plain, package = three_segments
        received, error = read_until_refused(package, key=OTHER_KEY)
        assert received == b""
        assert error == "the package failed authentication (altered or wrong key)"

    def test_a_package_is_sealed_with_the_key_given(self):
        package = encrypt(b"secret", key=OTHER_KEY)
        assert open_by_layout(package, OTHER_KEY) == b"secret"
        with pytest.raises(InvalidTag):
            open_by_layout(package, KEY)


class TestTampering:
    def test_every_byte_flipped_is_refused(self, small):
        """Header, length fields, ciphertext and tags: every single-byte change is caught."""
        _plain, package = small
        survivors = [i for i in range(len(package))
                     if not refused(package[:i] + bytes([package[i] ^ 0xFF]) + package[i + 1:])]
        assert survivors == []

    def test_every_single_bit_flipped_in_header_and_lengths_is_refused(self, small):
        _plain, package = small
        _magic, _prefix, segments = parse(package)
        positions = list(range(12)) + [o + k for o, _s in segments for k in range(4)]
        for i in positions:
            for bit in range(8):
                damaged = package[:i] + bytes([package[i] ^ (1 << bit)]) + package[i + 1:]
                assert refused(damaged), (i, bit)

    def test_flips_in_header_body_and_tag_of_full_size_segments(self, three_segments):
        _plain, package = three_segments
        _magic, _prefix, segments = parse(package)
        positions = set(range(12))
        for offset, sealed in segments:
            body, tag = offset + 4, offset + 4 + len(sealed) - 16
            positions |= set(range(offset, offset + 4))  # length field
            positions |= {body, body + 1, body + len(sealed) // 2, tag - 1}  # ciphertext
            positions |= set(range(tag, tag + 16))  # tag
        for i in sorted(positions):
            assert refused(package[:i] + bytes([package[i] ^ 0x01]) + package[i + 1:]), i

    @pytest.mark.parametrize("length", [SEGMENT + 17, 0xFFFFFFFF, 0x80000000])
    def test_a_length_that_announces_more_than_a_segment_is_refused(self, small, length):
        _plain, package = small
        damaged = package[:12] + struct.pack(">I", length) + package[16:]
        assert read_until_refused(damaged) == (
            b"", "the package is damaged (a segment length is impossible)")

    def test_a_length_shorter_than_a_tag_is_refused(self):
        package = encrypt(b"")
        assert parse(package)[2][0][1].__len__() == 16
        with pytest.raises(DecryptionError, match="damaged"):
            decrypt(package[:12] + struct.pack(">I", 15) + package[16:31])

    def test_an_empty_package_is_one_authenticated_segment(self):
        package = encrypt(b"")
        assert decrypt(package) == b""
        assert refused(package[:-1] + bytes([package[-1] ^ 0x80]))

    @pytest.mark.parametrize("data", [b"PK\x03\x04 a plain zip file", b"POX1", b""])
    def test_not_a_package_says_so(self, data):
        assert read_until_refused(data) == (b"", "not a PrivacyOps export package")


class TestTruncationAndSplicing:
    def test_every_truncation_is_refused(self, small):
        _plain, package = small
        survivors = [n for n in range(len(package)) if not refused(package[:n])]
        assert survivors == []

    @pytest.mark.parametrize("cut", [12, 14, 16, 17, 16 + 79])
    def test_a_truncated_first_segment_says_so(self, small, cut):
        """Cut after the header, inside the length field, or inside the first segment."""
        _plain, package = small
        assert read_until_refused(package[:cut]) == (b"", "the package is truncated")

    def test_truncation_at_each_segment_boundary_is_refused(self, three_segments):
        plain, package = three_segments
        _magic, _prefix, segments = parse(package)
        boundaries = [12] + [o + 4 + len(s) for o, s in segments[:-1]]
        assert len(boundaries) == 3
        for cut in boundaries:
            received, _error = read_until_refused(package[:cut])
            # What came out before the refusal is authentic, and is never the whole package.
            assert plain.startswith(received)
            assert len(received) < len(plain)

    def test_dropping_a_middle_segment_is_refused(self, small):
        _plain, package = small
        _magic, _prefix, segments = parse(package)
        (o1, s1), (o2, _s2) = segments[0], segments[1]
        assert refused(package[:o1 + 4 + len(s1)] + package[o2 + 4 + len(_s2):])

    def test_reordered_segments_are_refused(self, small):
        _plain, package = small
        _magic, _prefix, segments = parse(package)
        pieces = [package[o:o + 4 + len(s)] for o, s in segments]
        assert refused(package[:12] + pieces[1] + pieces[0] + pieces[2])

    def test_appended_bytes_are_refused(self, small):
        _plain, package = small
        _magic, _prefix, segments = parse(package)
        offset, sealed = segments[-1]
        assert refused(package + b"\x00")
        assert refused(package + package[offset:offset + 4 + len(sealed)])

    def test_a_segment_from_another_package_is_refused(self, small):
        plain, package = small
        other = encrypt(plain, segment_size=SMALL)
        _m, _p, segments = parse(package)
        _m, _p, other_segments = parse(other)
        offset, sealed = segments[1]
        other_offset, other_sealed = other_segments[1]
        spliced = (package[:offset] + other[other_offset:other_offset + 4 + len(other_sealed)]
                   + package[offset + 4 + len(sealed):])
        assert len(spliced) == len(package)
        assert refused(spliced)
        assert refused(other[:12] + package[12:])


class TestNonces:
    def test_a_thousand_packages_never_share_a_nonce_prefix(self):
        prefixes = [parse(encrypt(b"same content"))[1] for _ in range(1000)]
        assert len(set(prefixes)) == 1000
        assert all(len(p) == 8 for p in prefixes)

    def test_the_same_content_never_encrypts_to_the_same_bytes(self):
        first, second = encrypt(b"same content"), encrypt(b"same content")
        assert first[12:] != second[12:]

    def test_segments_of_one_package_use_consecutive_counters(self, small):
        """open_by_layout uses prefix + 0, 1, 2: another counter fails authentication there."""
        plain, package = small
        assert open_by_layout(package) == plain
