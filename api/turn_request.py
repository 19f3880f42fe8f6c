"""The narrator's request for one turn, built from the session's history view: the turn, the
messages before it, and the campaign's party, scene and combat."""

from __future__ import annotations

from itertools import islice
from typing import Any, Final

from api.narration import HistoryEntry, NarrationRequest
from projections.history import SessionView

HISTORY_MESSAGES: Final = 60  # the prompt builder trims further to its character budget


def _turn_and_before(
    turn_id: str, view: SessionView
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The turn's message and up to ``HISTORY_MESSAGES`` visible messages before it, oldest
    first, read from the end of history (a turn waiting for narration is near it); a turn
    not shown gives an empty action and the last messages of history."""
    newest = view.visible_newest_first()
    latest: list[dict[str, Any]] = []
    for message in newest:
        if message["turn_id"] == turn_id and message["role"] == "player":
            before = list(islice(newest, HISTORY_MESSAGES))
            before.reverse()
            return message, before
        if len(latest) < HISTORY_MESSAGES:
            latest.append(message)
    latest.reverse()
    return {"text": "", "kind": "action"}, latest


def _entry(message: dict[str, Any]) -> HistoryEntry | None:
    if message["role"] == "player":
        character = message.get("character") or {}
        author = character.get("name") or (message.get("author") or {}).get("display_name")
        return HistoryEntry(role="player", text=message["text"], author=author)
    if message["role"] == "narrator":
        return HistoryEntry(role="narrator", text=message["text"])
    return None


def narration_request(turn_id: str, view: SessionView) -> NarrationRequest:
    """The narrator's request for the turn ``turn_id`` of the session ``view`` shows."""
    turn, history = _turn_and_before(turn_id, view)
    character: dict[str, str] = turn.get("character") or {}
    state = view.campaign.latest().document()
    return NarrationRequest(
        session_title=view.title,
        settings=view.settings,
        history=[h for h in map(_entry, history) if h is not None],
        turn_text=turn["text"],
        turn_kind=turn["kind"],
        character_name=character.get("name") or None,
        party=[c for c in state["characters"] if not c["retired"]],
        scene=state["scene"],
        combat=state["combat"],
    )
