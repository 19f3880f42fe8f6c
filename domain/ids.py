"""Identifiers: random ids for new things, name-based uuid5 ids for legacy campaigns."""

from __future__ import annotations

from uuid import UUID, uuid5

# Fixed forever: changing it would make a re-run of the migration import every campaign again.
LEGACY_NAMESPACE = UUID("5b0f4c3e-2a52-4b8e-9a57-7f3d0c6a1e21")


def legacy_session_id(legacy_id: str) -> UUID:
    """The session id of a legacy campaign: the same legacy id always gives the same stream."""
    return uuid5(LEGACY_NAMESPACE, f"campaign/{legacy_id}")


def legacy_child_id(session_id: UUID, kind: str, position: int | str) -> UUID:
    """A deterministic id for the n-th thing of a kind inside an imported session."""
    return uuid5(session_id, f"{kind}/{position}")
