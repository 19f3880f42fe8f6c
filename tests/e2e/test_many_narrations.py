"""Many sessions narrating at once: narrations wait on the provider without holding the threads
that serve requests, and every one of them lands when the provider answers."""

from __future__ import annotations

import threading

import pytest

from tests.support.api import running
from tests.support.fake_llm import Answer, FakeLLM
from tests.support.stores import StoreConfig

SESSIONS = 50


@pytest.mark.slow
def test_the_api_answers_while_fifty_narrations_wait_on_the_provider(store: StoreConfig) -> None:
    release = threading.Event()
    with FakeLLM() as llm:
        llm.always(Answer(text="Thunder rolls over the hills.", stream=True, release=release))
        with running(store, llm_base_url=llm.base_url) as service:
            sids = []
            for n in range(SESSIONS):
                user = f"user-{n}"
                sid = service.call("POST", "/api/campaigns/new", user, json={}).json()["session_id"]
                turn = service.call("POST", f"/api/sessions/{sid}/turns", user, json={"text": "Go"})
                assert turn.status_code == 202
                sids.append((sid, user))
            # Every narration is now parked inside the provider call (up to the lock slots).
            llm.wait_for_requests(30, timeout=30)
            for sid, user in sids:
                answer = service.call("GET", f"/api/sessions/{sid}/history", user)
                assert answer.status_code == 200
            release.set()
            service.narrated(timeout=60)
            for sid, user in sids:
                messages = service.call("GET", f"/api/sessions/{sid}/history", user).json()
                assert [m["role"] for m in messages["messages"]] == ["player", "narrator"]
