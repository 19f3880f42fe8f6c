"""The deployment files say what the design promises: the Cloud Run service (stream timeout,
scaling, secrets from Secret Manager, Cloud SQL, GCS media), the migration job (retries, task
timeout), and a keyless workflow that migrates, deploys without traffic, smoke-tests, shifts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {"GAIA_DATABASE_URL", "GAIA_JWT_SECRET", "GAIA_EXPORT_SIGNING_KEY", "GAIA_LLM_API_KEY"}


def load(relative: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / relative).read_text())
    return loaded


@pytest.fixture(scope="module")
def service() -> dict[str, Any]:
    return load("infra/cloudrun/service.yaml")


@pytest.fixture(scope="module")
def job() -> dict[str, Any]:
    return load("infra/cloudrun/migrate-job.yaml")


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    return load(".github/workflows/deploy-cloudrun.yml")


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in container["env"]}


def test_the_service_keeps_streams_an_hour_and_scales_from_zero_to_one(
    service: dict[str, Any],
) -> None:
    template = service["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    assert template["spec"]["timeoutSeconds"] == 3600
    assert annotations["autoscaling.knative.dev/minScale"] == "0"
    assert annotations["autoscaling.knative.dev/maxScale"] == "1"
    assert annotations["run.googleapis.com/cpu-throttling"] == "false"  # narration after 202
    assert 80 <= template["spec"]["containerConcurrency"] <= 1000


def test_the_service_takes_its_keys_from_secret_manager_and_media_from_gcs(
    service: dict[str, Any],
) -> None:
    template = service["spec"]["template"]
    (container,) = template["spec"]["containers"]
    env = env_of(container)
    for name in SECRETS:
        assert "value" not in env[name], f"{name} must not be written in the file"
        assert env[name]["valueFrom"]["secretKeyRef"]["key"] == "latest"
    assert env["GAIA_MEDIA_URL"]["value"].startswith("gs://")
    assert env["GAIA_DATA_DIR"]["value"].startswith("/tmp/")  # noqa: S108 - the point
    assert "run.googleapis.com/cloudsql-instances" in template["metadata"]["annotations"]
    assert container["startupProbe"]["httpGet"]["path"] == "/readyz"
    assert set(container["resources"]["limits"]) == {"cpu", "memory"}


def test_the_migration_job_retries_and_has_a_task_timeout(job: dict[str, Any]) -> None:
    task = job["spec"]["template"]["spec"]["template"]["spec"]
    assert 1 <= task["maxRetries"] <= 10
    assert task["timeoutSeconds"] > 600  # Cloud Run's default of 10 min is too short
    (container,) = task["containers"]
    assert container["command"] == ["python", "-m", "migrate_legacy"]
    assert "value" not in env_of(container)["GAIA_DATABASE_URL"]


def test_the_workflow_is_keyless_and_migrates_before_a_tagged_no_traffic_deploy(
    workflow: dict[str, Any],
) -> None:
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "test"
    assert deploy["permissions"]["id-token"] == "write"
    steps = deploy["steps"]
    text = yaml.safe_dump(workflow)
    assert "credentials_json" not in text
    assert "service_account_key" not in text
    (auth,) = [s for s in steps if s.get("uses", "").startswith("google-github-actions/auth@")]
    assert "workload_identity_provider" in auth["with"]
    names = [s.get("name", s.get("id", "")) for s in steps]
    order = [
        next(i for i, name in enumerate(names) if word in name.lower())
        for word in ("build and push", "migration", "no traffic", "smoke", "move all traffic")
    ]
    assert order == sorted(order)
    (release,) = [s for s in steps if s.get("id") == "deploy"]
    assert release["with"]["no_traffic"] is True
    assert release["with"]["tag"]
    test_steps = [s.get("run") for s in workflow["jobs"]["test"]["steps"]]
    assert "make test" in test_steps
