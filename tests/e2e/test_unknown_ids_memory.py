"""Asking for sessions that do not exist costs no memory: nothing keyed by a session id (the
per-session views, the live streams' feeds) remembers an id whose stream was never written."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import uuid4

import pytest

from tests.e2e.conftest import OWNER, STRANGER, seat_table
from tests.support.api import Service, running
from tests.support.stores import StoreConfig

UNKNOWN_IDS = 300


@pytest.fixture
def forgetful(store: StoreConfig) -> Iterator[Service]:
    """A service whose views count as idle at once, pruned only when the test asks: whatever
    the views remember, ``prune`` finds and counts."""
    with running(store, session_idle_ttl_minutes=1e-9, prune_interval_seconds=3600) as svc:
        yield svc


@pytest.mark.slow
def test_requests_for_unknown_session_ids_leave_nothing_behind(forgetful: Service) -> None:
    service = forgetful
    table = seat_table(service)
    state = service.state
    assert state.live is not None
    state.views.prune()
    service.call("GET", f"/api/sessions/{table.session_id}", OWNER)  # one real view stays
    remembered = len(state.views)
    assert remembered == 1
    for _ in range(UNKNOWN_IDS // 6):
        for method, path, user in (
            ("GET", f"/api/sessions/{uuid4()}", STRANGER),
            ("GET", f"/api/sessions/{uuid4()}/history", OWNER),
            ("GET", f"/api/sessions/{uuid4()}/events", OWNER),
            ("POST", f"/api/sessions/{uuid4()}/turns", OWNER),
            ("GET", f"/api/media/{uuid4()}/image/{uuid4()}", OWNER),
            ("POST", f"/api/sessions/{uuid4()}/stream-ticket", STRANGER),
        ):
            response = service.call(method, path, user, json={"text": "hello?"})
            assert response.status_code == 404, (method, path, response.text)
    assert len(state.views) == remembered
    assert state.views.prune() == remembered  # the real view, and nothing else, was idle
    assert not state.live.hub.watched()
    assert state.live.hub.open_streams() == 0
