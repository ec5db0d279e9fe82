"""``gateway token``: mint a bearer token for operators and tests."""

from __future__ import annotations

import argparse

from gateway.config import Option, duration

HELP = "mint a bearer token for operators and tests"
OPTIONS = (Option("sub", str, "operator", "who the token names"),
           Option("trucks", str, "*", "comma-separated truck ids it may see, or *"),
           Option("ttl", duration, "1h", "lifetime: seconds or 30m, 1h, 7d"),
           Option("jwt-secret", str, "", "HS256 key (the gateway's --jwt-secret)"),
           Option("jwt-private-key", str, "", "PEM private key for RS256/ES256"))


def run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Print one signed token."""
    from gateway.server.auth import mint, token_algorithm

    try:
        key, algorithm = token_algorithm(args.jwt_secret, args.jwt_private_key)
    except ValueError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    trucks = [t.strip() for t in args.trucks.split(",") if t.strip()]
    print(mint(key, algorithm, args.sub, trucks, args.ttl))
    return 0
