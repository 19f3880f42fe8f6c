"""Command line: ``python -m api serve`` runs the service; ``python -m api token NAME`` prints a
local-mode access token for scripts."""

from __future__ import annotations

import argparse
import sys

import uvicorn
from pydantic import ValidationError

from api.app import create_app
from api.auth import LocalAuthenticator, load_or_create_secret, new_guest_id
from api.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the HTTP API (HOST, PORT, GAIA_* settings)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    token = commands.add_parser("token", help="print an access token (local auth mode)")
    token.add_argument("name", help="display name")
    token.add_argument("--user-id", help="user id (default: a new guest id)")
    args = parser.parse_args(argv)

    try:
        settings = Settings()
    except ValidationError as error:
        print(f"invalid settings:\n{error}", file=sys.stderr)
        return 2

    if args.command == "serve":
        uvicorn.run(
            create_app(settings),
            host=args.host or settings.host,
            port=args.port or settings.port,
            log_level=settings.log_level.lower(),
            timeout_graceful_shutdown=8,
        )
        return 0

    if settings.auth_mode != "local":
        print("tokens are issued by the identity provider in oidc mode", file=sys.stderr)
        return 2
    secret = settings.jwt_secret or load_or_create_secret(settings.data_dir)
    print(LocalAuthenticator(secret).issue(args.user_id or new_guest_id(), args.name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
