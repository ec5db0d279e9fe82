"""``gateway token``: mint a bearer token for operators and tests."""

from __future__ import annotations

import argparse

from gateway.config import Option, duration, read_secret_file

HELP = "mint a bearer token for operators and tests"
OPTIONS = (Option("sub", str, "operator", "who the token names"),
           Option("trucks", str, "*", "comma-separated truck ids it may see, or *"),
           Option("ttl", duration, "1h", "lifetime: seconds or 30m, 1h, 7d"),
           Option("jwt-secret", str, "", "HS256 key (the gateway's --jwt-secret)"),
           Option("jwt-secret-file", str, "", "file holding the HS256 key (keeps it out of the process list)"),
           Option("jwt-private-key", str, "", "PEM private key for RS256/ES256"),
           Option("iss", str, "", "the token's issuer (the gateway's --jwt-issuer)"),
           Option("aud", str, "", "the token's audience (the gateway's --jwt-audience)"))


def run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Print one signed token."""
    from gateway.server.auth import mint, token_algorithm

    try:
        secret = args.jwt_secret
        if args.jwt_secret_file:
            if secret:
                raise ValueError("give --jwt-secret or --jwt-secret-file, not both")
            secret = read_secret_file(args.jwt_secret_file)
        key, algorithm = token_algorithm(secret, args.jwt_private_key)
    except ValueError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    trucks = [t.strip() for t in args.trucks.split(",") if t.strip()]
    print(mint(key, algorithm, args.sub, trucks, args.ttl, issuer=args.iss, audience=args.aud))
    return 0
