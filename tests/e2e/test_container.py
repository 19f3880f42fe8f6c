"""The container, without a Docker engine: the Dockerfile's start command, run with the final
stage's environment in this virtualenv, serves /readyz; and the image is built as promised
(slim Python 3.11, an unprivileged user, runtime dependencies only, PORT honoured)."""

from __future__ import annotations

import json
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support.server_process import ROOT, server_process

DOCKERFILE = ROOT / "Dockerfile"


@dataclass
class Stage:
    base: str
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    command: list[str] = field(default_factory=list)  # ENTRYPOINT + CMD, exec form
    runs: list[str] = field(default_factory=list)


def stages(text: str) -> list[Stage]:
    """The build stages with what this test needs of them (ENV, USER, CMD, RUN)."""
    joined = re.sub(r"\\\n", " ", text)  # continuation lines
    found: list[Stage] = []
    entrypoint: list[str] = []
    cmd: list[str] = []
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        instruction, rest = instruction.upper(), rest.strip()
        if instruction == "FROM":
            found.append(Stage(base=rest.split()[0]))
            entrypoint, cmd = [], []
            continue
        stage = found[-1]
        if instruction == "ENV":
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                stage.env[key] = value
        elif instruction == "USER":
            stage.user = rest
        elif instruction == "RUN":
            stage.runs.append(rest)
        elif instruction in ("CMD", "ENTRYPOINT"):
            words = json.loads(rest)  # exec form only: the shell form would not get SIGTERM
            if instruction == "CMD":
                cmd = words
            else:
                entrypoint = words
            stage.command = entrypoint + cmd
    return found


@pytest.fixture(scope="module")
def final() -> Stage:
    return stages(DOCKERFILE.read_text())[-1]


@pytest.mark.slow
def test_the_container_start_command_serves_readyz_on_the_port_it_is_given(
    final: Stage, tmp_path: Path
) -> None:
    assert final.command[:1] == ["python"], final.command
    # The image's python is its virtualenv's; here, this one's.
    command = [sys.executable, *final.command[1:]]
    env = {key: value for key, value in final.env.items() if key != "PATH"}
    # As the platform and a mounted volume would set them; loopback only on a shared machine.
    env |= {"GAIA_DATA_DIR": str(tmp_path / "data"), "HOST": "127.0.0.1"}
    with server_process(env, tmp_path / "server.log", command=command, cwd=tmp_path) as server:
        ready = httpx.get(f"{server.base_url}/readyz", timeout=5)
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "ok"
    assert not any(tmp_path.glob("*.sqlite3")), "wrote outside GAIA_DATA_DIR"


def test_the_image_runs_as_an_unprivileged_user(final: Stage) -> None:
    assert final.user is not None
    assert final.user.split(":")[0] not in ("root", "0")


def test_the_image_is_slim_python_311_with_runtime_dependencies_only() -> None:
    all_stages = stages(DOCKERFILE.read_text())
    assert all(stage.base.startswith("python:3.11-slim") for stage in all_stages)
    installs = [run for stage in all_stages for run in stage.runs if "pip install" in run]
    assert installs, "the project is installed with pip"
    assert not any("[dev]" in run or " -e " in run for run in installs)


def test_the_container_writes_only_under_tmp_by_default(final: Stage) -> None:
    assert final.env["GAIA_DATA_DIR"].startswith("/tmp/")  # noqa: S108 - the point of the test
    assert final.env["PORT"] == "8080"
