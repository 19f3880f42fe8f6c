"""Member roles and what each may do: owner > player > spectator."""

from __future__ import annotations

from typing import Final, Literal

Role = Literal["owner", "player", "spectator"]

OWNER: Final = "owner"
PLAYER: Final = "player"
SPECTATOR: Final = "spectator"

RANK: Final[dict[str, int]] = {SPECTATOR: 1, PLAYER: 2, OWNER: 3}

# Roles an invite or a role change may grant: ownership is never handed out that way.
GRANTABLE: Final = frozenset({PLAYER, SPECTATOR})


def at_least(role: str, needed: str) -> bool:
    """True when ``role`` carries every right of ``needed``."""
    return RANK.get(role, 0) >= RANK[needed]
