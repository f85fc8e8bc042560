"""The cryptography of push against the RFCs' own examples and an independent JWT library."""

from __future__ import annotations

import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from push import Preview, new_preview_key, open_preview, seal_preview
from push._crypto import MAX_WEBPUSH_PLAINTEXT, b64url, encrypt_webpush, jws, unb64url

from .keys import decrypt_webpush, private_point

# RFC 8291, Appendix A.
PLAINTEXT = b"When I grow up, I want to be a watermelon"
AS_PRIVATE = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
AS_PUBLIC = "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"
UA_PRIVATE = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"
UA_PUBLIC = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
SALT = "DGv6ra1nlYgDCS1FRnbzlw"
AUTH = "BTBZMqHH6r4Tts7J_aSIgg"
BODY = (
    "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6Tl"
    "zAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
)


def _key(d: str) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int.from_bytes(unb64url(d), "big"), ec.SECP256R1())


def test_rfc8291_appendix_a_is_reproduced_byte_for_byte() -> None:
    sender = _key(AS_PRIVATE)
    assert b64url(private_point(sender)) == AS_PUBLIC
    body = encrypt_webpush(PLAINTEXT, unb64url(UA_PUBLIC), unb64url(AUTH), salt=unb64url(SALT), sender_key=sender)
    assert b64url(body) == BODY


def test_a_fresh_message_decrypts_with_the_subscribers_private_key() -> None:
    subscriber = ec.generate_private_key(ec.SECP256R1())
    auth = new_preview_key()
    body = encrypt_webpush(b'{"channel":"1"}', private_point(subscriber), auth)
    assert decrypt_webpush(body, subscriber, auth) == b'{"channel":"1"}'
    # Salt and sender key are fresh each time: the same message never encrypts the same.
    assert body != encrypt_webpush(b'{"channel":"1"}', private_point(subscriber), auth)


def test_the_appendix_a_body_decrypts_with_the_rfcs_subscriber_key() -> None:
    assert decrypt_webpush(unb64url(BODY), _key(UA_PRIVATE), unb64url(AUTH)) == PLAINTEXT


def test_a_payload_larger_than_one_record_is_refused() -> None:
    subscriber = private_point(ec.generate_private_key(ec.SECP256R1()))
    encrypt_webpush(b"x" * MAX_WEBPUSH_PLAINTEXT, subscriber, bytes(16))
    with pytest.raises(ValueError, match="at most"):
        encrypt_webpush(b"x" * (MAX_WEBPUSH_PLAINTEXT + 1), subscriber, bytes(16))


def test_an_es256_token_verifies_with_pyjwt_and_the_public_key() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    token = jws({"kid": "ABC123DEFG"}, {"aud": "https://push.example.net", "exp": 2**40, "sub": "mailto:a@b"}, key)
    claims = jwt.decode(token, key.public_key(), algorithms=["ES256"], audience="https://push.example.net")
    assert claims["sub"] == "mailto:a@b"
    assert jwt.get_unverified_header(token) == {"typ": "JWT", "kid": "ABC123DEFG", "alg": "ES256"}
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, ec.generate_private_key(ec.SECP256R1()).public_key(), algorithms=["ES256"],
                   audience="https://push.example.net")  # fmt: skip


def test_an_rs256_token_verifies_with_pyjwt_and_the_public_key() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jws({"kid": "k1"}, {"iss": "sa@example.iam", "iat": 1, "exp": 2**40}, key)
    assert jwt.decode(token, key.public_key(), algorithms=["RS256"])["iss"] == "sa@example.iam"


def test_a_sealed_preview_opens_with_the_device_key_for_its_own_push_only() -> None:
    key = new_preview_key()
    preview = Preview(42, "Lunch at noon? \N{FORK AND KNIFE}")
    sealed = seal_preview(key, preview, channel=7, seq=3)
    assert open_preview(key, sealed, channel=7, seq=3) == preview
    assert b"Lunch" not in unb64url(sealed)
    data = unb64url(sealed)
    assert data[0] == 1 and len(data) == 1 + 12 + len(json.dumps({"sender": "42", "body": preview.body},
                                                                   ensure_ascii=False).encode()) + 16  # fmt: skip
    for wrong in ((new_preview_key(), 7, 3), (key, 8, 3), (key, 7, 4)):
        with pytest.raises(ValueError):
            open_preview(wrong[0], sealed, channel=wrong[1], seq=wrong[2])


def test_a_preview_is_cut_to_a_line() -> None:
    assert Preview.of(1, "short").body == "short"
    long = Preview.of(1, "a" * 1000).body
    assert len(long) == 200 and long.endswith("\u2026")
    with pytest.raises(ValueError):
        Preview(1, "a" * 201)
