"""The cryptography of push, on `cryptography` alone and without I/O.

- `encrypt_webpush`: RFC 8291 message encryption (aes128gcm, RFC 8188) to
  a browser's or distributor's subscription keys;
- `jws`: a compact JWS (RFC 7515) signed ES256 (VAPID, APNs provider
  tokens) or RS256 (the FCM service-account assertion);
- `seal_preview` / `open_preview`: a preview encrypted to a device's own
  16-byte key, for FCM and APNs, whose payloads the providers can read.

About a hundred lines, so the project carries no http-ece or py-vapid:
those add their own key-format layers (py-vapid also a CLI and files) for
what is here one HKDF, one AES-GCM call and one signature.
"""

from __future__ import annotations

import base64
import json
import os
import struct
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ._api import Preview

#: The record size written in the aes128gcm header: one record holds any push payload.
RECORD_SIZE = 4096
#: The largest plaintext one aes128gcm record of RECORD_SIZE holds (header 86, delimiter 1, tag 16).
MAX_WEBPUSH_PLAINTEXT = RECORD_SIZE - 86 - 1 - 16
#: First byte of a sealed preview: the format's version.
PREVIEW_VERSION = 1


def b64url(data: bytes) -> str:
    """base64url without padding (RFC 7515 2), as JWTs and push subscriptions write it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _point(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def _hmac(key: bytes, data: bytes) -> bytes:
    mac = hmac.HMAC(key, hashes.SHA256())
    mac.update(data)
    return mac.finalize()


def _expand(prk: bytes, info: bytes, length: int) -> bytes:
    # HKDF-Expand (RFC 5869) for one block: every length here is at most 32.
    return _hmac(prk, info + b"\x01")[:length]


def encrypt_webpush(
    plaintext: bytes,
    p256dh: bytes,
    auth: bytes,
    *,
    salt: bytes | None = None,
    sender_key: ec.EllipticCurvePrivateKey | None = None,
) -> bytes:
    """The request body for a push message: RFC 8291 (aes128gcm) to the subscription's keys.

    `p256dh` is the user agent's public key (65-byte uncompressed point),
    `auth` its 16-byte authentication secret. `salt` and `sender_key` are
    fresh for every message; they are parameters only so RFC 8291's
    Appendix A can be reproduced.
    """
    if len(plaintext) > MAX_WEBPUSH_PLAINTEXT:
        raise ValueError(f"a push payload holds at most {MAX_WEBPUSH_PLAINTEXT} bytes")
    salt = os.urandom(16) if salt is None else salt
    sender_key = ec.generate_private_key(ec.SECP256R1()) if sender_key is None else sender_key
    ua_public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), p256dh)
    as_public = _point(sender_key.public_key())
    ecdh_secret = sender_key.exchange(ec.ECDH(), ua_public)
    # RFC 8291 3.4: the auth secret salts the ECDH secret into the input keying material.
    key_info = b"WebPush: info\x00" + p256dh + as_public
    ikm = HKDF(hashes.SHA256(), 32, salt=auth, info=key_info).derive(ecdh_secret)
    # RFC 8188 2.2 and 2.3: content-encryption key and nonce from the message's salt.
    prk = _hmac(salt, ikm)
    cek = _expand(prk, b"Content-Encoding: aes128gcm\x00", 16)
    nonce = _expand(prk, b"Content-Encoding: nonce\x00", 12)
    # One record, the last: the plaintext then the delimiter 0x02, no padding.
    ciphertext = AESGCM(cek).encrypt(nonce, plaintext + b"\x02", None)
    header = salt + struct.pack("!IB", RECORD_SIZE, len(as_public)) + as_public
    return header + ciphertext


def jws(
    header: dict[str, Any], claims: dict[str, Any], key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
) -> str:
    """A compact JWS of `claims`: ES256 with a P-256 key, RS256 with an RSA key."""
    algorithm = "ES256" if isinstance(key, ec.EllipticCurvePrivateKey) else "RS256"
    signing_input = ".".join(
        b64url(json.dumps(part, separators=(",", ":")).encode())
        for part in ({"typ": "JWT", **header, "alg": algorithm}, claims)
    ).encode("ascii")
    if isinstance(key, ec.EllipticCurvePrivateKey):
        # JWS (RFC 7518 3.4) wants r and s as 32 bytes each, not the DER that cryptography returns.
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return signing_input.decode("ascii") + "." + b64url(signature)


def new_preview_key() -> bytes:
    """A fresh 16-byte preview key for one device's FCM or APNs target (AES-128)."""
    return os.urandom(16)


def _preview_aad(channel: int, seq: int) -> bytes:
    # Binds a sealed preview to the push it came in: it cannot be replayed under another channel or seq.
    return bytes([PREVIEW_VERSION]) + f"{channel}:{seq}".encode("ascii")


def seal_preview(key: bytes, preview: Preview, channel: int, seq: int) -> str:
    """A preview encrypted to the device: base64url(version || nonce || AES-128-GCM(JSON)).

    The JSON is `{"sender": "<decimal id>", "body": "<text>"}`; the
    additional data is the version byte followed by "<channel>:<seq>" in
    ASCII decimal (docs/push.rst describes the format for app developers).
    """
    nonce = os.urandom(12)
    plaintext = json.dumps({"sender": str(preview.sender), "body": preview.body}, ensure_ascii=False).encode()
    sealed = AESGCM(key).encrypt(nonce, plaintext, _preview_aad(channel, seq))
    return b64url(bytes([PREVIEW_VERSION]) + nonce + sealed)


def open_preview(key: bytes, sealed: str, channel: int, seq: int) -> Preview:
    """What a device does with a sealed preview; raises ValueError if it is not one sealed to `key`."""
    data = unb64url(sealed)
    if len(data) < 1 + 12 + 16 or data[0] != PREVIEW_VERSION:
        raise ValueError("not a sealed preview of a known version")
    try:
        plaintext = AESGCM(key).decrypt(data[1:13], data[13:], _preview_aad(channel, seq))
    except InvalidTag as error:
        raise ValueError("the preview does not open with this key") from error
    fields = json.loads(plaintext)
    return Preview(int(fields["sender"]), fields["body"])
