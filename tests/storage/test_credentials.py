"""Password hashes and device tokens."""

from __future__ import annotations

import pytest

from storage import ScryptCost, hash_password, new_token, password_cost, token_hash, verify_password


def test_right_password_verifies_and_wrong_ones_do_not() -> None:
    encoded = hash_password("hunter2 \u00e9\U0001f600")
    assert verify_password("hunter2 \u00e9\U0001f600", encoded)
    assert not verify_password("hunter2", encoded)
    assert not verify_password("", encoded)


def test_hash_names_its_parameters_and_hides_the_password() -> None:
    encoded = hash_password("s3cret-password")
    assert encoded.startswith(b"$scrypt$ln=16,r=8,p=1$")
    assert b"s3cret-password" not in encoded


def test_each_hash_has_its_own_salt() -> None:
    assert hash_password("same") != hash_password("same")


def test_hashes_made_with_other_parameters_still_verify() -> None:
    # The parameters travel with the hash, so raising the defaults later
    # leaves every stored account able to log in.
    cheap = hash_password("pw", ScryptCost(log2_n=10, r=4, p=2))
    assert cheap.startswith(b"$scrypt$ln=10,r=4,p=2$")
    assert verify_password("pw", cheap)
    assert not verify_password("pW", cheap)


def test_a_hash_tells_the_cost_it_was_made_at() -> None:
    # What a login compares with the node's cost to decide on a rehash.
    assert password_cost(hash_password("pw", ScryptCost(log2_n=10, r=4, p=2))) == ScryptCost(10, 4, 2)
    assert password_cost(hash_password("pw")) == ScryptCost()


def test_tampered_hash_does_not_verify() -> None:
    encoded = hash_password("pw", ScryptCost(log2_n=10))
    head, digest = encoded.rsplit(b"$", 1)
    flipped = (b"B" if digest[:1] == b"A" else b"A") + digest[1:]
    assert not verify_password("pw", head + b"$" + flipped)


@pytest.mark.parametrize(
    "encoded",
    [
        b"",
        b"hunter2",
        b"$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
        b"$scrypt$ln=14,r=8$c2FsdA$aGFzaA",
        b"$scrypt$ln=40,r=8,p=1$c2FsdA$aGFzaA",
        b"$scrypt$ln=14,r=8,p=1$not*base64$aGFzaA",
        b"\xff$scrypt$",
    ],
)
def test_foreign_encodings_are_refused(encoded: bytes) -> None:
    with pytest.raises(ValueError):
        verify_password("pw", encoded)
    with pytest.raises(ValueError):
        password_cost(encoded)


def test_tokens_are_random_and_stored_as_fixed_size_hashes() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100
    token = tokens.pop()
    assert len(token) >= 43  # 256 bits of URL-safe base64
    assert token_hash(token) == token_hash(token)
    assert len(token_hash(token)) == 32
    assert token_hash(token) != token_hash(tokens.pop())
