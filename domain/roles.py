"""Member roles and what each may do: owner > player > spectator."""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Role(StrEnum):
    """A member's role in a session; stored and answered as its plain value (``"owner"``)."""

    SPECTATOR = "spectator"
    PLAYER = "player"
    OWNER = "owner"


OWNER: Final = Role.OWNER
PLAYER: Final = Role.PLAYER
SPECTATOR: Final = Role.SPECTATOR

RANK: Final[dict[str, int]] = {Role.SPECTATOR: 1, Role.PLAYER: 2, Role.OWNER: 3}

# Roles an invite or a role change may grant: ownership is never handed out that way.
GRANTABLE: Final = frozenset({Role.PLAYER, Role.SPECTATOR})


def at_least(role: str, needed: str) -> bool:
    """True when ``role`` carries every right of ``needed``."""
    return RANK.get(role, 0) >= RANK[needed]
