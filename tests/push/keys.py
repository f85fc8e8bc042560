"""A subscriber's side of RFC 8291, written from RFC 8188 for the tests: what a browser does to read a push."""

from __future__ import annotations

import struct

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def private_point(key: ec.EllipticCurvePrivateKey) -> bytes:
    """The uncompressed public point of `key` (a subscription's p256dh)."""
    return key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def decrypt_webpush(body: bytes, subscriber: ec.EllipticCurvePrivateKey, auth: bytes) -> bytes:
    """Open an aes128gcm push message (one or more records) with the subscriber's private key."""
    salt, record_size, id_length = body[:16], *struct.unpack("!IB", body[16:21])
    sender = body[21 : 21 + id_length]
    records = body[21 + id_length :]
    secret = subscriber.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), sender))
    info = b"WebPush: info\x00" + private_point(subscriber) + sender
    ikm = HKDF(hashes.SHA256(), 32, salt=auth, info=info).derive(secret)
    cek = HKDF(hashes.SHA256(), 16, salt=salt, info=b"Content-Encoding: aes128gcm\x00").derive(ikm)
    base_nonce = HKDF(hashes.SHA256(), 12, salt=salt, info=b"Content-Encoding: nonce\x00").derive(ikm)
    plaintext = b""
    for index, start in enumerate(range(0, len(records), record_size)):
        nonce = (int.from_bytes(base_nonce, "big") ^ index).to_bytes(12, "big")
        padded = AESGCM(cek).decrypt(nonce, records[start : start + record_size], None)
        stripped = padded.rstrip(b"\x00")
        assert stripped[-1:] in (b"\x01", b"\x02"), "a record ends with its delimiter"
        plaintext += stripped[:-1]
    return plaintext
