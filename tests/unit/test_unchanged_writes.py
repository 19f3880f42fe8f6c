"""A command that changes nothing answers where the stream already is, on the in-memory store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from domain.application import Sessions

OWNER = "owner-1"


@pytest.fixture
def sessions() -> Iterator[Sessions]:
    app = Sessions()
    yield app
    app.close()


def test_renaming_a_session_to_its_current_title_writes_nothing(sessions: Sessions) -> None:
    started = sessions.start_session(owner=OWNER, owner_name="Gm", title="The Salt Road")
    again = sessions.rename(session_id=started.session_id, actor=OWNER, title="The Salt Road")
    assert (again.version, again.position) == (started.version, started.position)
    assert sessions.max_position() == started.position


def test_a_repeated_turn_answers_with_its_first_position_in_memory(sessions: Sessions) -> None:
    session_id = sessions.start_session(owner=OWNER, owner_name="Gm").session_id
    first = sessions.submit_turn(session_id=session_id, actor=OWNER, text="go", idempotency_key="a")
    sessions.rename(session_id=session_id, actor=OWNER, title="Later")
    again = sessions.submit_turn(session_id=session_id, actor=OWNER, text="go", idempotency_key="a")
    assert (again.version, again.position, again.repeated) == (first.version, first.position, True)
