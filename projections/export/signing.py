"""The Ed25519 keys an export trailer is signed with: reading and making them, naming them by
``key_id``, and what the signature covers (``signed_message``)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any, Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from projections.export.lines import canonical_json

ALGORITHM: Final = "Ed25519"
RAW_KEY_BYTES: Final = 32  # an Ed25519 private or public key, raw
SIGNATURE_BYTES: Final = 64


def signed_message(header: dict[str, Any], trailer: dict[str, Any]) -> bytes:
    """What the trailer's signature covers: the canonical JSON, UTF-8, of ``{"header": the header
    line, "trailer": the trailer line without its signature}``."""
    unsigned = {key: value for key, value in trailer.items() if key != "signature"}
    return canonical_json({"header": header, "trailer": unsigned}).encode("utf-8")


class KeyInvalid(ValueError):
    """A text that is not an Ed25519 key in a form we read."""


def key_id(public: Ed25519PublicKey) -> str:
    """The first 16 hex digits of the SHA-256 of the raw public key: names the key in trailers."""
    return hashlib.sha256(_raw_public(public)).hexdigest()[:16]


def _raw_public(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _raw_key(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except binascii.Error:
        raw = b""
    if len(raw) != RAW_KEY_BYTES:
        raise KeyInvalid(
            f"the {what} key is neither PEM nor the base64 of {RAW_KEY_BYTES} raw bytes"
        )
    return raw


def private_key_from_text(text: str) -> Ed25519PrivateKey:
    """An Ed25519 private key from a PEM (PKCS#8, unencrypted) or the base64 of its 32 bytes."""
    if text.lstrip().startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text.strip().encode(), password=None)
        except (ValueError, TypeError):
            raise KeyInvalid("the private key PEM cannot be read (encrypted or damaged)") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyInvalid("the private key PEM is not an Ed25519 key")
        return key
    return Ed25519PrivateKey.from_private_bytes(_raw_key(text, "private"))


def public_key_from_text(text: str) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM (SubjectPublicKeyInfo) or the base64 of its 32 bytes."""
    if text.lstrip().startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text.strip().encode())
        except (ValueError, TypeError):
            raise KeyInvalid("the public key PEM cannot be read") from None
        if not isinstance(key, Ed25519PublicKey):
            raise KeyInvalid("the public key PEM is not an Ed25519 key")
        return key
    return Ed25519PublicKey.from_public_bytes(_raw_key(text, "public"))


def new_private_key_text() -> str:
    """A fresh Ed25519 private key as the base64 of its 32 raw bytes."""
    raw = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return base64.b64encode(raw).decode()


class ExportSigner:
    """Signs export trailers with one Ed25519 private key, and describes its public half."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public = private.public_key()
        self.key_id = key_id(self.public)

    def sign(self, header: dict[str, Any], trailer: dict[str, Any]) -> str:
        return base64.b64encode(self._private.sign(signed_message(header, trailer))).decode()

    def public_doc(self) -> dict[str, str]:
        """The public key as ``GET /api/export-key`` and ``python -m api export-key`` show it."""
        pem = self.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return {
            "key_id": self.key_id,
            "algorithm": ALGORITHM,
            "public_key": base64.b64encode(_raw_public(self.public)).decode(),
            "pem": pem.decode(),
        }
