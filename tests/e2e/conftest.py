"""End-to-end fixtures: the whole service on a real store, with a cast of callers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from uuid import UUID

import pytest

from tests.support.api import Service, running
from tests.support.media import MediaBackend
from tests.support.stores import StoreConfig

OWNER, PLAYER, SPECTATOR, STRANGER = "user-owner", "user-player", "user-spectator", "user-stranger"


@pytest.fixture
def service(store: StoreConfig) -> Iterator[Service]:
    with running(store) as svc:
        yield svc


@dataclass
class Table:
    """A session with an owner, a player, a spectator and one narrated turn."""

    session_id: str
    turn_id: str
    invite_id: str


def seat_table(service: Service) -> Table:
    created = service.call("POST", "/api/campaigns/new", OWNER, json={"title": "Salt Road"})
    assert created.status_code == 201, created.text
    sid = created.json()["session_id"]
    sessions = service.state.sessions
    for user, role in ((PLAYER, "player"), (SPECTATOR, "spectator")):
        token = sessions.issue_invite(session_id=UUID(sid), actor=OWNER, role=role).token
        sessions.accept_invite(token=token, user_id=user, display_name=user)
    turn = service.call(
        "POST", f"/api/sessions/{sid}/turns", PLAYER, json={"text": "I look around"}
    )
    assert turn.status_code == 202, turn.text
    service.narrated()
    spare = sessions.issue_invite(session_id=UUID(sid), actor=OWNER)
    return Table(sid, turn.json()["turn_id"], str(spare.invite_id))


@pytest.fixture
def table(service: Service) -> Table:
    return seat_table(service)


@pytest.fixture
def media_service(store: StoreConfig, media_backend: MediaBackend) -> Iterator[Service]:
    """The service with its media on each media store in turn (and each event store)."""
    with running(store, **media_backend.overrides) as svc:
        yield svc
