"""Helpers for the timeline tests: paging through the API, the parts of a message that a fork or
a replay must keep, a fresh fold of a stream, narrators that record or hold their requests, and
a forger's re-hashing of an export."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any
from uuid import UUID

from api.narration import DemoNarrator, Narration, NarrationRequest
from api.narration.base import DeltaSink
from domain.application import Sessions
from projections.export import ZERO_HASH, canonical_json, chain_hash
from projections.history import SessionView
from tests.support.api import Service


def page_through(
    service: Service, path: str, user: str, key: str, **params: Any
) -> list[dict[str, Any]]:
    """Every item of a paged route (``key`` names the list; ``next_after`` the cursor)."""
    items: list[dict[str, Any]] = []
    after = None
    while True:
        query = params | ({"after": after} if after is not None else {})
        response = service.call("GET", path, user, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        items += body[key]
        after = body["next_after"]
        if after is None:
            return items


def history(service: Service, sid: str, user: str) -> list[dict[str, Any]]:
    return page_through(service, f"/api/sessions/{sid}/history", user, "messages", limit=500)


def story_of(messages: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What a reader sees of each message: who speaks, what kind, the text and the data."""
    return [(m["role"], m["kind"], m["text"], m["structured"]) for m in messages]


def fresh_fold(sessions: Sessions, session_id: UUID, version: int) -> SessionView:
    """A new view folded from versions 1..``version`` of the stream, as JSON would carry it."""
    view = SessionView(session_id)
    for event in sessions.events.get(session_id, lte=version):
        view.apply(event)
    return view


def as_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


class RecordingNarrator(DemoNarrator):
    """The demo narrator, keeping every request it was asked to narrate."""

    def __init__(self) -> None:
        self.requests: list[NarrationRequest] = []

    async def narrate(
        self, request: NarrationRequest, on_delta: DeltaSink | None = None
    ) -> Narration:
        self.requests.append(request)
        return await super().narrate(request, on_delta)


class HeldNarrator(DemoNarrator):
    """The demo narrator, holding each narration until ``release`` is set."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    async def narrate(
        self, request: NarrationRequest, on_delta: DeltaSink | None = None
    ) -> Narration:
        self.started.set()
        await asyncio.to_thread(self.release.wait, 30)
        return await super().narrate(request, on_delta)


def rechain(lines: list[str]) -> list[str]:
    """What a forger without the private key can do to export lines (header, events, trailer):
    recompute every hash, the header's title and the trailer's count and final hash from the
    (edited or cut) event lines, keeping the old signature."""
    header, *events, trailer = (json.loads(text) for text in lines)
    prev, out = ZERO_HASH, []
    for event in events:
        body = {key: value for key, value in event.items() if key not in ("prev_hash", "hash")}
        digest = chain_hash(prev, canonical_json(body))
        out.append(canonical_json({**body, "prev_hash": prev, "hash": digest}))
        prev = digest
        if event["event_type"] in ("SessionStarted", "SessionRenamed"):
            header["title"] = event["data"]["title"]
    trailer = {**trailer, "count": len(events), "final_hash": prev}
    return [canonical_json(header), *out, canonical_json(trailer)]
