"""Bearer tokens (JWT, verified by PyJWT) and what they grant.

A token names its holder (``sub``), when it expires (``exp``, required) and the trucks it
may see (``trucks``: a list of ids, or ``["*"]``). Verification, including the constant-time
signature check, is the library's; this module only decides which key and algorithms are
acceptable and turns claims into a ``Grant``. Error messages never echo the token or key.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import jwt

from gateway.core.channels import is_valid_truck_id

ALL_TRUCKS = "*"
HMAC_ALGORITHMS = ("HS256",)
PUBLIC_KEY_ALGORITHMS = ("RS256", "ES256")


class AuthError(Exception):
    """The request carries no usable token; the message is safe to show."""


@dataclass(frozen=True, slots=True)
class Grant:
    """What one verified token allows."""

    subject: str
    trucks: frozenset[str] | None  # None: every truck
    expires_at: float

    def allows(self, truck_id: str) -> bool:
        return self.trucks is None or truck_id in self.trucks


OPEN_GRANT = Grant(subject="anonymous", trucks=None, expires_at=float("inf"))


class Authenticator:
    """Verifies tokens against one key (an HS256 secret or an RS256/ES256 public key)."""

    def __init__(self, key: str | bytes, algorithms: Iterable[str], leeway_s: float = 5.0) -> None:
        self._key = key
        self._algorithms = list(algorithms)
        self._leeway = leeway_s

    @classmethod
    def from_settings(cls, secret: str, public_key_file: str) -> Authenticator | None:
        """The configured authenticator, or None when auth is off."""
        if public_key_file:
            return cls(Path(public_key_file).read_bytes(), PUBLIC_KEY_ALGORITHMS)
        if secret:
            return cls(secret, HMAC_ALGORITHMS)
        return None

    def verify(self, token: str) -> Grant:
        """Check signature, expiry and claims; raises AuthError."""
        try:
            claims = jwt.decode(
                token, self._key, algorithms=self._algorithms, leeway=self._leeway,
                options={"require": ["exp", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired") from None
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"invalid token ({type(exc).__name__})") from None
        return grant_of(claims)


def grant_of(claims: Mapping[str, object]) -> Grant:
    """Turn verified claims into a Grant; malformed ``trucks`` is an AuthError."""
    trucks = claims.get("trucks")
    if not isinstance(trucks, list) or not all(isinstance(t, str) for t in trucks):
        raise AuthError("invalid token (claim 'trucks' must be a list of truck ids or [\"*\"])")
    if ALL_TRUCKS in trucks:
        allowed = None
    else:
        if not all(is_valid_truck_id(t) for t in trucks):
            raise AuthError("invalid token (claim 'trucks' holds an invalid truck id)")
        allowed = frozenset(trucks)
    return Grant(subject=str(claims["sub"]), trucks=allowed, expires_at=float(claims["exp"]))  # type: ignore[arg-type]


def token_of(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The bearer token from ``Authorization`` or, for browsers, ``access_token=``."""
    header = headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return query.get("access_token") or None


def mint(key: str | bytes, algorithm: str, subject: str, trucks: Iterable[str], ttl_s: float,
         now: float | None = None) -> str:
    """A signed token for ``subject`` seeing ``trucks`` for ``ttl_s`` seconds."""
    issued = int(now if now is not None else time.time())
    claims = {"sub": subject, "trucks": list(trucks), "iat": issued, "exp": issued + int(ttl_s)}
    return jwt.encode(claims, key, algorithm=algorithm)


def token_algorithm(secret: str, private_key_file: str) -> tuple[str | bytes, str]:
    """The signing key and algorithm for minting; ValueError with a one-line reason."""
    if secret and private_key_file:
        raise ValueError("give --jwt-secret or --jwt-private-key, not both")
    if secret:
        return secret, "HS256"
    if not private_key_file:
        raise ValueError("--jwt-secret or --jwt-private-key is required")
    try:
        pem = Path(private_key_file).read_bytes()
    except OSError as exc:
        raise ValueError(f"--jwt-private-key: cannot read {private_key_file!r} ({exc.strerror})") from None
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(pem, password=None)
    except ValueError:
        raise ValueError(f"--jwt-private-key: {private_key_file!r} is not an unencrypted PEM private key") from None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return pem, "ES256"
    if isinstance(key, rsa.RSAPrivateKey):
        return pem, "RS256"
    raise ValueError("--jwt-private-key: only RSA (RS256) and EC P-256 (ES256) keys are supported")
