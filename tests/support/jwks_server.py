"""A real JWKS endpoint on loopback for the OIDC tests, and RSA signing keys to publish in it.

The server runs in a thread on a free port; a test swaps the published keys, makes it fail,
stops and restarts it on the same port, and counts the fetches it answered.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

JWKS_PATH = "/.well-known/jwks.json"


@dataclass(frozen=True)
class RsaSigningKey:
    """An RSA key pair standing in for the identity provider's signing key ``kid``."""

    kid: str
    private_key: rsa.RSAPrivateKey

    @classmethod
    def generate(cls, kid: str) -> RsaSigningKey:
        return cls(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def jwk(self) -> dict[str, Any]:
        """The public half as published in a JWKS, Auth0-style."""
        public: dict[str, Any] = RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**public, "kid": self.kid, "alg": "RS256", "use": "sig"}

    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, claims: dict[str, Any], *, algorithm: str = "RS256", kid: str = "") -> str:
        """A token signed by this key, whose header names ``kid`` (this key's by default)."""
        return jwt.encode(
            claims, self.private_key, algorithm=algorithm, headers={"kid": kid or self.kid}
        )


class JwksServer:
    """Serves ``{"keys": [...]}`` at ``url`` until stopped; use as a context manager."""

    def __init__(self, *keys: RsaSigningKey) -> None:
        self._lock = threading.Lock()
        self._body = b""
        self._status = 200
        self._fetch_count = 0
        self._port = 0  # 0 until the first start picks a free port; reused by later starts
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.publish(*keys)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}{JWKS_PATH}"

    @property
    def fetch_count(self) -> int:
        """How many JWKS requests the server has answered (successfully or not)."""
        with self._lock:
            return self._fetch_count

    def publish(self, *keys: RsaSigningKey) -> None:
        """Serve exactly these keys from now on, with status 200."""
        self.respond(200, json.dumps({"keys": [key.jwk() for key in keys]}).encode())

    def respond(self, status: int, body: bytes) -> None:
        """Answer every JWKS request with this status and raw body (to simulate failures)."""
        with self._lock:
            self._status, self._body = status, body

    def start(self) -> None:
        """Listen on loopback: on a free port the first time, on the same port afterwards."""
        server = ThreadingHTTPServer(("127.0.0.1", self._port), self._handler_class())
        server.daemon_threads = True
        self._port = server.server_address[1]
        self._server = server
        # A short poll interval keeps stop() quick; it is how often serve_forever checks for it.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop listening: clients now get "connection refused"."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> JwksServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _answer(self) -> tuple[int, bytes]:
        with self._lock:
            self._fetch_count += 1
            return self._status, self._body

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != JWKS_PATH:
                    self.send_error(404)
                    return
                status, body = owner._answer()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Keep test output quiet."""

        return Handler
