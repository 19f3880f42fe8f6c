"""Google Cloud Storage for tests: the ``gcp-storage-emulator`` (the one ``make test`` started, or
one started here in-process) and a locally generated service-account key that signs V4 URLs.

The emulator neither checks signatures nor enforces ``ifGenerationMatch``; tests can check the
flow and the URL's shape, and that our code does not rewrite an object that exists.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from gcp_storage_emulator.server import create_server  # type: ignore[import-untyped]
from google.api_core.exceptions import Conflict
from google.cloud.storage import Client

EMULATOR_VARIABLE = "STORAGE_EMULATOR_HOST"
BUCKET = "gaia-test"
SIGNER_EMAIL = "gaia-test@gaia-test.iam.gserviceaccount.com"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def emulator() -> Iterator[str]:
    """``STORAGE_EMULATOR_HOST``: the one already set, or an in-process emulator for the block
    (the variable is set meanwhile, since the client library reads it), with ``BUCKET`` in it."""
    if host := os.environ.get(EMULATOR_VARIABLE):
        ensure_bucket()
        yield host
        return
    port = _free_port()
    server: Any = create_server("127.0.0.1", port, in_memory=True, default_bucket=BUCKET)
    server.start()
    host = f"http://127.0.0.1:{port}"
    os.environ[EMULATOR_VARIABLE] = host
    try:
        yield host
    finally:
        del os.environ[EMULATOR_VARIABLE]
        server.stop()


def ensure_bucket() -> None:
    client = Client(project="test")
    try:
        client.create_bucket(BUCKET)
    except Conflict:
        pass
    finally:
        client.close()


def write_signing_key(path: Path) -> Path:
    """A service-account key file whose RSA key was made here: it signs offline."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "gaia-test",
        "private_key_id": "test-key-1",
        "private_key": pem,
        "client_email": SIGNER_EMAIL,
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    path.write_text(json.dumps(info))
    return path
