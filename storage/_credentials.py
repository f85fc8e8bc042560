"""Password hashes and device tokens, the secrets both stores keep.

Passwords are stretched with scrypt, which is memory-hard, so a stolen table
is expensive to guess against. Device tokens are 256 random bits: nothing to
guess, so a plain SHA-256 is enough to keep a stolen table from being used as
tokens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from attrs import frozen

# The encoding names its parameters, in the PHC string style:
#   $scrypt$ln=16,r=8,p=1$<salt>$<digest>   (salt, digest: unpadded base64)
# so the defaults can grow later and every stored hash still verifies (and
# is replaced by one at the new cost on the account's next login).
_SCHEME = "scrypt"
_SALT_BYTES = 16
_DIGEST_BYTES = 32
# Above this a stored hash would make a single login cost seconds and
# gigabytes: it is not one of ours.
_MAX_LOG2_N = 20


@frozen
class ScryptCost:
    """Scrypt's parameters: N = 2**log2_n, block size r, parallelism p.

    The table takes 128 * r * N bytes and the time grows with N * r * p.
    The default, N = 2**16, r = 8, p = 1 (64 MiB), measured on the project's
    2-core machine (quiet, one hash at a time, median of 5 runs of
    `hash_password` per cost): ln=14 40 ms, ln=15 95 ms, ln=16 171 ms,
    ln=17 372 ms. ln=16 is four times the old ln=14 for a guesser while a
    login stays well under the 300 ms a user should wait; ln=17 (OWASP's
    figure) would double both the wait and the node's 64 MiB per KDF thread.
    """

    log2_n: int = 16
    r: int = 8
    p: int = 1


def hash_password(password: str, cost: ScryptCost = ScryptCost()) -> bytes:
    """The self-describing scrypt hash of `password`, with a fresh random salt.

    CPU-bound (about 170 ms at the default cost): call it through
    `trio.to_thread.run_sync`, never on the event loop.
    """
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(password, salt, cost)
    params = f"ln={cost.log2_n},r={cost.r},p={cost.p}"
    return f"${_SCHEME}${params}${_b64(salt)}${_b64(digest)}".encode("ascii")


def verify_password(password: str, encoded: bytes) -> bool:
    """Whether `password` is the one `encoded` was made from.

    CPU-bound like `hash_password`. Raises ValueError when `encoded` is not
    a hash this module wrote.
    """
    cost, salt, expected = _decode(encoded)
    return hmac.compare_digest(_scrypt(password, salt, cost), expected)


def password_cost(encoded: bytes) -> ScryptCost:
    """The cost `encoded` was made at; a login rehashes a password whose cost is not the node's.

    Raises ValueError like `verify_password`.
    """
    cost, _, _ = _decode(encoded)
    return cost


def new_token() -> str:
    """A fresh device token: 256 random bits, URL-safe text."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    """What the store keeps of a token, and looks it up by."""
    return hashlib.sha256(token.encode("utf-8")).digest()


def _scrypt(password: str, salt: bytes, cost: ScryptCost) -> bytes:
    n, r, p = 1 << cost.log2_n, cost.r, cost.p
    # scrypt needs 128 * r * n bytes for its table (plus a little); OpenSSL's
    # default cap of 32 MiB would reject stronger parameters.
    maxmem = 128 * r * (n + p + 2) + (1 << 20)
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=_DIGEST_BYTES
    )


def _decode(encoded: bytes) -> tuple[ScryptCost, bytes, bytes]:
    try:
        empty, scheme, params, salt, digest = encoded.decode("ascii").split("$")
        fields = dict(item.split("=", 1) for item in params.split(","))
        log2_n, r, p = int(fields["ln"]), int(fields["r"]), int(fields["p"])
        raw_salt, raw_digest = _unb64(salt), _unb64(digest)
    except (UnicodeDecodeError, ValueError, KeyError) as exc:
        raise ValueError("not an encoded password hash") from exc
    if empty or scheme != _SCHEME or set(fields) != {"ln", "r", "p"}:
        raise ValueError("not an encoded scrypt password hash")
    if not (1 <= log2_n <= _MAX_LOG2_N and 1 <= r <= 32 and 1 <= p <= 16):
        raise ValueError("scrypt parameters out of range")
    return ScryptCost(log2_n, r, p), raw_salt, raw_digest


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
