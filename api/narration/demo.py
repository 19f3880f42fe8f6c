"""The built-in offline narrator, used when no model URL is configured.

It needs no network and no key: it echoes the player's action inside fixed phrasings picked
by a stable hash, so the same request always gives the same narration, labelled as the demo.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Final

from api.narration.base import DeltaSink, Narration, NarrationRequest

LABEL: Final = "[demo narrator]"

_OPENINGS: Final = (
    '{who} declares: "{action}".',
    '{who} sets out to act: "{action}".',
    'All eyes turn to {who}: "{action}".',
    '{who} does not hesitate: "{action}".',
)
_OUTCOMES: Final = (
    "The air grows still, as if the world itself were waiting to see what happens next.",
    "Somewhere nearby a door slams, and the echo carries further than it should.",
    "It works, for now, though a faint sound suggests someone has noticed.",
    "Things do not go quite as planned, but a new path opens in the confusion.",
    "A cold wind rises and brings with it the smell of rain and old smoke.",
)
_OPTIONS: Final = (
    "Look around for clues",
    "Press on without delay",
    "Talk to whoever is nearby",
    "Take a moment to rest and regroup",
    "Search your belongings for something useful",
    "Turn back the way you came",
)
_ECHO_CHARS: Final = 120
_DELTA_COUNT: Final = 4


class DemoNarrator:
    """Deterministic narrator for demos and offline development; makes no network calls."""

    name = "demo"
    model = "demo-1"

    async def narrate(
        self, request: NarrationRequest, on_delta: DeltaSink | None = None
    ) -> Narration:
        """Narrate ``request``; stream the narrative in a few pieces when ``on_delta`` is given."""
        seed = _seed(request)
        narrative, answer, options = _compose(request, seed)
        if on_delta is not None:
            for piece in _pieces(narrative, _DELTA_COUNT):
                await on_delta(piece)
        return Narration(
            narrative=narrative,
            answer=answer,
            player_options=options,
            # The shape a real model is asked for, so consumers handle both alike.
            structured={"narrative": narrative, "player_options": options, "answer": answer},
            provider=self.name,
            model=self.model,
        )

    async def aclose(self) -> None:
        """Nothing to release."""


def _compose(request: NarrationRequest, seed: int) -> tuple[str, str, list[str]]:
    who = request.character_name or "The party"
    action = _echo(request.turn_text)
    if request.turn_kind == "ooc":
        answer = (
            f"{LABEL} This is the offline demo narrator, so it cannot really answer "
            f'"{action}". Configure a model to get real answers.'
        )
        return "", answer, []
    if request.turn_kind == "context":
        narrative = f'{LABEL} Noted for the rest of the story: "{action}".'
        return narrative, "", _pick(_OPTIONS, seed, 2)
    opening = _OPENINGS[seed % len(_OPENINGS)].format(who=who, action=action)
    outcome = _OUTCOMES[(seed // len(_OPENINGS)) % len(_OUTCOMES)]
    return f"{LABEL} {opening} {outcome}", "", _pick(_OPTIONS, seed, 3)


def _seed(request: NarrationRequest) -> int:
    # hashlib, not hash(): str hashes change from one process to the next.
    key = "\x1f".join(
        [
            request.turn_kind,
            request.character_name or "",
            request.turn_text,
            str(len(request.history)),
        ]
    )
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")


def _echo(text: str) -> str:
    line = " ".join(text.split()).rstrip(".!?")
    if len(line) <= _ECHO_CHARS:
        return line
    return line[: _ECHO_CHARS - 1].rstrip() + "…"


def _pick(choices: Sequence[str], seed: int, count: int) -> list[str]:
    start = seed % len(choices)
    return [choices[(start + offset) % len(choices)] for offset in range(count)]


def _pieces(text: str, count: int) -> list[str]:
    """Split ``text`` at spaces into about ``count`` pieces that join back to ``text``."""
    if not text:
        return []
    words = text.split(" ")
    size = max(1, -(-len(words) // count))
    groups = [words[i : i + size] for i in range(0, len(words), size)]
    # Each piece but the last keeps the space that followed it, so the join is exact.
    return [
        " ".join(group) + (" " if i < len(groups) - 1 else "") for i, group in enumerate(groups)
    ]
