"""Command line: ``python -m api serve`` runs the service; ``python -m api token NAME`` prints a
local-mode access token for scripts; ``python -m api export-key`` prints the public key that
export trailers are signed with; ``python -m api verify-export FILE [--public-key KEY]`` checks
an export."""

from __future__ import annotations

import argparse
import json
import socket
import sys
from pathlib import Path

import uvicorn
from pydantic import ValidationError

from api.app import create_app
from api.auth import LocalAuthenticator, load_or_create_secret, new_guest_id
from api.keyfiles import export_signer
from api.observability import configure_logging
from api.server import GaiaServer, server_options
from api.settings import Settings
from projections.export import ExportInvalid, KeyInvalid, public_key_from_text, verify_export


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the HTTP API (HOST, PORT, GAIA_* settings)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    token = commands.add_parser("token", help="print an access token (local auth mode)")
    token.add_argument("name", help="display name")
    token.add_argument("--user-id", help="user id (default: a new guest id)")
    commands.add_parser(
        "export-key",
        help="print the public key export trailers are signed with (as GET /api/export-key)",
    )
    verify = commands.add_parser(
        "verify-export", help="check the hash chain and the signature of an export file"
    )
    verify.add_argument("file", type=Path, help="an NDJSON export (GET .../export)")
    verify.add_argument(
        "--public-key",
        metavar="KEY",
        help="the signing key: its base64 (public_key of GET /api/export-key) or a PEM file; "
        "without it the signature is not checked",
    )
    args = parser.parse_args(argv)
    if args.command == "verify-export":  # needs no settings
        return _verify_export(args.file, args.public_key)

    try:
        settings = Settings()
    except ValidationError as error:
        print(f"invalid settings:\n{error}", file=sys.stderr)
        return 2

    if args.command == "serve":
        configure_logging(settings.log_level, settings.google_cloud_project, settings.log_format)
        config = uvicorn.Config(
            create_app(settings),
            host=args.host or settings.host,
            port=args.port or settings.port,
            log_level=settings.log_level.lower(),
            log_config=None,  # configure_logging's lines, uvicorn's records included
            **server_options(settings),
        )
        _AnnouncingServer(config).run()
        return 0

    if args.command == "export-key":
        return _print_export_key(settings)

    if settings.auth_mode != "local":
        print("tokens are issued by the identity provider in oidc mode", file=sys.stderr)
        return 2
    secret = settings.jwt_secret or load_or_create_secret(settings.data_dir)
    print(LocalAuthenticator(secret).issue(args.user_id or new_guest_id(), args.name))
    return 0


class _AnnouncingServer(GaiaServer):
    """The server, which also tells a person at the terminal where to go once it listens."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            print(ready_message(self.config.host, self.config.port), file=sys.stderr, flush=True)


def ready_message(host: str, port: int) -> str:
    """What ``make run`` says once the service is ready: the URLs to open and the quick start."""
    # A wildcard address listens everywhere; on this machine it is reached as localhost.
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
    base = f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"
    return (
        f"\nGaia is ready at {base}\n"
        f"  Play in a browser: {base}/\n"
        f"  API documentation: {base}/docs\n"
        "  Quick start: README.md, 'Play from a terminal' (a guest token, a campaign, a turn)\n"
    )


def _print_export_key(settings: Settings) -> int:
    """The public key as GET /api/export-key serves it; 2 if GAIA_EXPORT_SIGNING_KEY is bad."""
    try:
        signer = export_signer(settings)
    except KeyInvalid as error:
        print(f"invalid settings: {error}", file=sys.stderr)
        return 2
    print(json.dumps(signer.public_doc(), indent=2))
    return 0


def _verify_export(path: Path, key: str | None) -> int:
    """0 and a summary when the file checks out; 1 naming the first bad line; 2 if the file or
    the key cannot be read."""
    try:
        public_key = None if key is None else public_key_from_text(_key_text(key))
    except (OSError, KeyInvalid) as error:
        print(f"--public-key: {error}", file=sys.stderr)
        return 2
    try:
        with path.open("rb") as file:
            verified = verify_export(file, public_key)
    except OSError as error:
        print(f"{path}: cannot read: {error.strerror}", file=sys.stderr)
        return 2
    except ExportInvalid as error:
        print(f"{path}: INVALID at line {error.line}: {error.reason}", file=sys.stderr)
        return 1
    if verified.signature_checked:
        signature = f"signature valid (key {verified.key_id})"
    elif verified.key_id is None:
        signature = "UNSIGNED (made before exports were signed): nothing proves it whole"
    else:
        signature = (
            f"signature NOT checked (signed by key {verified.key_id}; pass --public-key with "
            "the key of GET /api/export-key to detect a file cut short or re-hashed)"
        )
    print(
        f"{path}: valid export of session {verified.session_id}, {verified.count} events "
        f"({verified.title!r}), final hash {verified.final_hash}; {signature}"
    )
    return 0


def _key_text(key: str) -> str:
    """The key itself, or the text of the file it names (a PEM, or the base64 on one line)."""
    path = Path(key)
    return path.read_text(encoding="utf-8") if path.is_file() else key


if __name__ == "__main__":
    sys.exit(main())
