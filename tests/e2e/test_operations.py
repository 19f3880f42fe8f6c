"""Operating the service: ``/metrics`` in Prometheus format counts what happened, and idle
per-session views are dropped after GAIA_SESSION_IDLE_TTL_MINUTES."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from api.settings import Settings
from tests.e2e.conftest import OWNER, Table
from tests.support.api import Service, running
from tests.support.server_process import wait_until
from tests.support.stores import StoreConfig


def scrape(service: Service) -> dict[str, float]:
    """Every sample of ``/metrics`` by name and labels, e.g. ``x_total`` or ``x{kind="a"}``."""
    answer = service.client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def test_metrics_count_turns_narrations_and_appended_events(service: Service, table: Table) -> None:
    state = service.state
    head = state.sessions.max_position()
    assert state.my_sessions.wait_for(head, timeout=10)
    metrics = scrape(service)
    assert metrics["gaia_turns_submitted_total"] == 1
    assert metrics['gaia_narration_seconds_count{outcome="ok"}'] == 1
    assert metrics['gaia_narration_seconds_count{outcome="failed"}'] == 0
    # One event per command, every one of them appended through this instance.
    assert metrics["gaia_events_appended_total"] == head
    assert metrics["gaia_store_position"] == head
    assert metrics["gaia_projection_lag_events"] == 0
    assert metrics["gaia_open_streams"] == 0
    assert metrics["gaia_store_up"] == 1


def test_idle_session_views_are_dropped_after_the_ttl_and_rebuilt_on_demand(
    store: StoreConfig,
) -> None:
    with running(store, session_idle_ttl_minutes=0.001, prune_interval_seconds=0.05) as service:
        created = service.call("POST", "/api/campaigns/new", OWNER, json={"title": "Idle"})
        sid = created.json()["session_id"]
        assert service.call("GET", f"/api/sessions/{sid}", OWNER).status_code == 200
        wait_until(lambda: len(service.state.views) == 0, timeout=10, what="the view's pruning")
        assert scrape(service)["gaia_session_views_pruned_total"] >= 1
        again = service.call("GET", f"/api/sessions/{sid}", OWNER)
        assert again.status_code == 200
        assert again.json()["title"] == "Idle"


def test_with_a_metrics_token_only_its_bearer_may_scrape(store: StoreConfig) -> None:
    with running(store, metrics_token="scrape-" + "k" * 24) as service:
        for headers in (
            {},
            {"Authorization": "Bearer scrape-wrong"},
            {"Authorization": "Basic scrape-" + "k" * 24},
            service.headers(OWNER),  # a user's access token is not the scraper's credential
        ):
            answer = service.client.get("/metrics", headers=headers)
            assert answer.status_code == 401, headers
            assert answer.json()["error"]["code"] == "unauthorized"
        allowed = service.client.get(
            "/metrics", headers={"Authorization": "Bearer scrape-" + "k" * 24}
        )
        assert allowed.status_code == 200
        assert "gaia_store_up" in allowed.text


@pytest.mark.parametrize("value", ["", "   ", "short-token"])
def test_an_empty_or_short_metrics_token_is_refused_at_start(value: str) -> None:
    with pytest.raises(ValidationError, match="metrics_token"):
        Settings(metrics_token=value)


def test_the_metrics_token_is_read_without_its_trailing_newline() -> None:
    assert Settings(metrics_token="scrape-" + "k" * 24 + "\n").metrics_token == "scrape-" + "k" * 24
