"""Narrator providers: turn a player's turn and the recent story into the game master's reply.

Two providers share the ``Narrator`` protocol: ``OpenAICompatNarrator`` calls a remote chat
model over httpx, and ``DemoNarrator`` answers offline when no model is configured. Both take
a ``NarrationRequest`` and return a ``Narration``; the remote one raises ``NarrationFailed``
once retrying is over. ``OpenAICompatNarrator`` is imported from ``api.narration.openai_compat``,
so a service without a remote model never loads httpx.
"""

from api.narration.base import (
    INTERNAL_FAILURE,
    DeltaSink,
    ErrorKind,
    HistoryEntry,
    Narration,
    NarrationFailed,
    NarrationRequest,
    Narrator,
)
from api.narration.demo import DemoNarrator
from api.narration.prompt import build_messages

__all__ = [
    "INTERNAL_FAILURE",
    "DeltaSink",
    "DemoNarrator",
    "ErrorKind",
    "HistoryEntry",
    "Narration",
    "NarrationFailed",
    "NarrationRequest",
    "Narrator",
    "build_messages",
]
