"""Invite tokens: 192 random bits behind a recognisable prefix; only their SHA-256 is stored.

The session id rides in the token so accepting it needs no cross-session index; it is not the
secret, the random part is.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Final
from uuid import UUID

PREFIX: Final = "gaia_inv_"
_SHAPE: Final = re.compile(r"^gaia_inv_([0-9a-f]{32})_([A-Za-z0-9_-]{32})$")


def new_invite_token(session_id: UUID) -> str:
    return f"{PREFIX}{session_id.hex}_{secrets.token_urlsafe(24)}"


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def session_of(token: str) -> UUID | None:
    """The session a well-formed token belongs to; None for anything else."""
    match = _SHAPE.match(token)
    return UUID(hex=match.group(1)) if match else None
