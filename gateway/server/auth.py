"""Bearer tokens (JWT, verified by PyJWT) and what they grant.

A token names its holder (``sub``), when it expires (``exp``, required) and the trucks it
may see (``trucks``: a list of ids, or ``["*"]``). Verification, including the constant-time
signature check, is the library's; this module only decides which key and algorithms are
acceptable and turns claims into a ``Grant``. Error messages never echo the token or key.

Optional checks, each configured once: the issuer (``iss``), the audience (``aud``) and a
longest lifetime (``exp - iat``, and ``exp`` no further away than that). Any problem with a
token, including one whose header names a key type the configured key is not (PyJWT's
``InvalidKeyError`` is not an ``InvalidTokenError``), is an ``AuthError``: a 401, never a 500.

Truck ids in ``trucks`` are exact and case-sensitive, like ids everywhere in the gateway.
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

    def __init__(self, key: str | bytes, algorithms: Iterable[str], leeway_s: float = 5.0, *,
                 issuer: str = "", audience: str = "", max_lifetime_s: float = 0.0) -> None:
        self._key = key
        self._algorithms = list(algorithms)
        self._leeway = leeway_s
        self._issuer = issuer or None
        self._audience = audience or None
        self._max_lifetime = max_lifetime_s
        self._required = ["exp", "sub"] + (["iss"] if issuer else []) + (["aud"] if audience else []) + (
            ["iat"] if max_lifetime_s else [])

    @classmethod
    def from_settings(cls, secret: str, public_key_file: str, *, issuer: str = "", audience: str = "",
                      max_lifetime_s: float = 0.0) -> Authenticator | None:
        """The configured authenticator, or None when auth is off."""
        checks = {"issuer": issuer, "audience": audience, "max_lifetime_s": max_lifetime_s}
        if public_key_file:
            return cls(Path(public_key_file).read_bytes(), PUBLIC_KEY_ALGORITHMS, **checks)
        if secret:
            return cls(secret, HMAC_ALGORITHMS, **checks)
        return None

    def verify(self, token: str, now: float | None = None) -> Grant:
        """Check signature, expiry and claims; raises AuthError."""
        try:
            claims = jwt.decode(
                token, self._key, algorithms=self._algorithms, leeway=self._leeway,
                issuer=self._issuer, audience=self._audience, options={"require": self._required},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired") from None
        except jwt.PyJWTError as exc:  # every token problem, InvalidKeyError included
            raise AuthError(f"invalid token ({type(exc).__name__})") from None
        except (ValueError, TypeError) as exc:  # a key the crypto backend cannot use for this token
            raise AuthError(f"invalid token ({type(exc).__name__})") from None
        if self._max_lifetime:
            self._check_lifetime(claims, time.time() if now is None else now)
        return grant_of(claims)

    def _check_lifetime(self, claims: Mapping[str, object], now: float) -> None:
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int | float) or not isinstance(iat, int | float):
            raise AuthError("invalid token (exp and iat must be numbers)")
        if exp - iat > self._max_lifetime + self._leeway or exp - now > self._max_lifetime + self._leeway:
            raise AuthError(f"invalid token (lives longer than {self._max_lifetime:g} s)")


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
         now: float | None = None, *, issuer: str = "", audience: str = "") -> str:
    """A signed token for ``subject`` seeing ``trucks`` for ``ttl_s`` seconds."""
    issued = int(now if now is not None else time.time())
    claims: dict[str, object] = {"sub": subject, "trucks": list(trucks), "iat": issued, "exp": issued + int(ttl_s)}
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
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
