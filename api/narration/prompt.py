"""Turn a narration request into OpenAI chat messages that fit a character budget.

Pure functions: the same request and budget always give the same messages.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from api.narration.base import HistoryEntry, NarrationRequest

TRUNCATION_MARKER: Final = "[…earlier text cut] "

_CHAT_ROLES: Final = {"player": "user", "narrator": "assistant", "system": "system"}

_REPLY_FORMAT: Final = """\
Reply with one JSON object and nothing else, shaped like this:
{"narrative": "...", "player_options": ["...", "..."], "answer": "..."}
- "narrative": what happens next, in the second or third person, as prose. Leave it empty \
when answering an out-of-character question.
- "player_options": two to four short suggestions for what the players could do next.
- "answer": a brief, direct answer to an out-of-character question; otherwise an empty string.
Optionally, when the story moves or a fight is on, also:
- "scene": {"title": "...", "description": "..."} when the characters enter a new scene;
- "combat_status": {"<name>": {"hp": "12/15", "status": []}} while combat goes on, {} when it \
ends; "turn_info": {"round": 1, "initiative_order": ["..."], "is_combat": true}."""

Message = dict[str, str]


def build_messages(request: NarrationRequest, budget_chars: int) -> list[Message]:
    """Build the chat messages for ``request``: system prompt, recent history, current turn.

    ``budget_chars`` bounds the characters of all message contents together. The system prompt
    and the current turn always go in full; history fills what is left, newest first, and stops
    at the first message that does not fit, so the model never sees a gap in the story. Only
    the latest history message, when it alone is too long, is cut, keeping its end (where the
    story stands now) behind ``TRUNCATION_MARKER``.
    """
    if budget_chars < 0:
        raise ValueError(f"budget_chars must not be negative: {budget_chars}")
    system = {"role": "system", "content": system_prompt(request.session_title, request.settings)}
    turn = _turn_message(request)
    remaining = budget_chars - len(system["content"]) - len(turn["content"])
    # The campaign state takes at most half of what is left: the story so far needs room too.
    state = campaign_state(request, max(0, remaining // 2))
    if state:
        system["content"] += "\n\n" + state
        remaining -= len(state) + 2
    return [system, *_recent_history(request.history, remaining), turn]


def campaign_state(request: NarrationRequest, budget_chars: int) -> str:
    """The scene, the combat and the party as lines for the system prompt, in that order, as
    many whole lines as fit in ``budget_chars`` ("" when none does). The scene and the combat
    are cut to a quarter of the budget each, so that a long imported scene record leaves room
    for the party."""
    cap = budget_chars // 4
    lines = []
    if request.scene:
        lines.append(_cut("Current scene: " + _value(dict(request.scene)), cap))
    if request.combat:
        lines.append(_cut("Combat in progress: " + _value(dict(request.combat)), cap))
    party = ["- " + _member(character) for character in request.party]
    if party:
        party[0] = "Party:\n" + party[0]
    lines.extend(party)
    if not lines:
        return ""
    text = "Campaign state (keep the story consistent with it):"
    for line in lines:
        if len(text) + 1 + len(line) > budget_chars:
            break
        text += "\n" + line
    return text if "\n" in text else ""


def _cut(line: str, limit: int) -> str:
    return line if len(line) <= limit else line[: max(0, limit - 1)] + "…"


def _member(character: Mapping[str, Any]) -> str:
    """One party member: name, then what of class, race, level, hit points and status is known."""
    details = [
        str(character[key])
        for key in ("race", "character_class")
        if isinstance(character.get(key), str) and character[key]
    ]
    if character.get("level") is not None:
        details.append(f"level {character['level']}")
    current, most = character.get("hit_points_current"), character.get("hit_points_max")
    if current is not None or most is not None:
        details.append(f"hit points {current if current is not None else '?'}/{most or '?'}")
    effects = character.get("status_effects")
    if isinstance(effects, list) and effects:
        details.append("status: " + ", ".join(str(e) for e in effects))
    if character.get("kind") == "npc":
        details.append("NPC")
    who = f"{character.get('name')}"
    return who + (f" ({'; '.join(details)})" if details else "")


def system_prompt(session_title: str, settings: Mapping[str, Any]) -> str:
    """The game master's instructions for one session, ending with the reply format asked for."""
    parts = [
        f'You are the game master of a tabletop role-playing campaign called "{session_title}".',
        "Narrate the world and everyone in it in response to the players. Keep the story "
        "consistent with what has happened so far, never decide what the players' characters "
        "say or do, and end on a situation the players can act on.",
    ]
    lines = [f"- {_label(key)}: {_value(value)}" for key, value in settings.items() if value]
    if lines:
        parts.append("Session settings:\n" + "\n".join(lines))
    parts.append(
        "Player messages start with the speaker's name. A game-master context note adds facts "
        "to take into account from now on; acknowledge it briefly. An out-of-character question "
        "is asked by a player, not a character: answer it without advancing the story."
    )
    parts.append(_REPLY_FORMAT)
    return "\n\n".join(parts)


def _recent_history(history: Sequence[HistoryEntry], remaining: int) -> list[Message]:
    kept: list[Message] = []
    for entry in reversed(history):
        prefix = _speaker_prefix(entry.role, entry.author)
        content = prefix + entry.text
        if len(content) <= remaining:
            kept.append({"role": _CHAT_ROLES[entry.role], "content": content})
            remaining -= len(content)
            continue
        room = remaining - len(prefix) - len(TRUNCATION_MARKER)
        if not kept and room > 0:
            cut = prefix + TRUNCATION_MARKER + entry.text[-room:]
            kept.append({"role": _CHAT_ROLES[entry.role], "content": cut})
        break
    kept.reverse()
    return kept


def _turn_message(request: NarrationRequest) -> Message:
    who = request.character_name
    if request.turn_kind == "context":
        content = (
            "Game-master context note (facts to take into account, not a character's action):\n"
            + request.turn_text
        )
    elif request.turn_kind == "ooc":
        asker = f" from {who}" if who else ""
        content = (
            f'Out-of-character question{asker} (answer briefly in "answer", leave '
            f'"narrative" empty, do not advance the story):\n{request.turn_text}'
        )
    else:
        content = _speaker_prefix("player", who) + request.turn_text
    return {"role": "user", "content": content}


def _speaker_prefix(role: str, author: str | None) -> str:
    # Several players share the "user" role, so the name is the only way to tell them apart.
    return f"{author}: " if role == "player" and author else ""


def _label(key: str) -> str:
    return key.replace("_", " ").capitalize()


def _value(value: object) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)
