"""The narrator's request for one turn, built from the session's history view: the turn, the
messages before it, and the campaign's party, scene and combat."""

from __future__ import annotations

from typing import Any, Final

from api.narration import HistoryEntry, NarrationRequest
from projections.history import SessionView

HISTORY_MESSAGES: Final = 60  # the prompt builder trims further to its character budget


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
    messages = view.visible_messages()
    index = next(
        (i for i, m in enumerate(messages) if m["turn_id"] == turn_id and m["role"] == "player"),
        len(messages),
    )
    turn = messages[index] if index < len(messages) else {"text": "", "kind": "action"}
    history = [_entry(m) for m in messages[max(0, index - HISTORY_MESSAGES) : index]]
    character: dict[str, str] = turn.get("character") or {}  # type: ignore[assignment]
    state = view.campaign.latest().document()
    return NarrationRequest(
        session_title=view.title,
        settings=view.settings,
        history=[h for h in history if h is not None],
        turn_text=turn["text"],
        turn_kind=turn["kind"],
        character_name=character.get("name") or None,
        party=[c for c in state["characters"] if not c["retired"]],
        scene=state["scene"],
        combat=state["combat"],
    )
