"""Media throughput: uploading and downloading 1 MiB and 10 MiB files through the API, on the
local media store (and the embedded event store), beside a plain file copy of the same bytes.

The service runs as ``python -m api serve`` in a process of its own, with its default settings
(10 MiB upload limit, media under the data dir); the client is this process. Every upload sends
new bytes, so none is skipped as a duplicate. The baselines copy the same bytes on the same file
system in the same run: ``shutil.copyfile`` plus ``fsync`` against uploads (an upload is
durable before it is acknowledged), ``shutil.copyfile`` alone against downloads. Beside them, the
same client against a bare Starlette app (``bench.bare_media``: ``FileResponse``, raw body to a
file) shows how far HTTP itself is from a file copy.

It is the ``media`` group of ``python -m bench`` (``--only media`` runs it alone).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from statistics import median
from typing import Final

import httpx

from api.auth import LocalAuthenticator
from bench.core import JWT_SECRET, OWNER, REPS, Context, Row, progress, stop

MIB: Final = 1024 * 1024
SIZES_MIB: Final = (1, 10)
GROUP: Final = "media"
STORE: Final = "SQLite + local media"
START_TIMEOUT_S: Final = 30.0
REPO: Final = Path(__file__).resolve().parents[1]
PNG_HEAD: Final = b"\x89PNG\r\n\x1a\n"


def sample(size: int, seed: int) -> bytes:
    """``size`` bytes that sniff as PNG and differ for every seed (no upload is a duplicate)."""
    return PNG_HEAD + os.urandom(size - len(PNG_HEAD) - 8) + seed.to_bytes(8, "big", signed=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def served(
    command: list[str], env: dict[str, str], log_path: Path, headers: dict[str, str]
) -> Iterator[httpx.Client]:
    """``command`` (a server on ``--port``) in a subprocess, and a client for it."""
    port = free_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [*command, "--port", str(port)], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            with contextlib.suppress(httpx.TransportError):
                if client.get("/healthz").status_code == httpx.codes.OK:
                    break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"the server did not start; see {log_path}")
            time.sleep(0.05)
        yield client
    finally:
        client.close()
        stop(process, 10)


def service(data_dir: Path, log_path: Path) -> contextlib.AbstractContextManager[httpx.Client]:
    """The service in a subprocess, and a client for it with a session owner's token."""
    env = os.environ | {
        "GAIA_DATA_DIR": str(data_dir),
        "GAIA_JWT_SECRET": JWT_SECRET,
        "GAIA_LOG_LEVEL": "WARNING",
    }
    env.pop("GAIA_DATABASE_URL", None)
    env.pop("GAIA_MEDIA_URL", None)
    token = LocalAuthenticator(JWT_SECRET).issue(OWNER, "Bench")
    command = [sys.executable, "-m", "api", "serve"]
    return served(command, env, log_path, {"Authorization": f"Bearer {token}"})


def bare(directory: Path, log_path: Path) -> contextlib.AbstractContextManager[httpx.Client]:
    """The bare Starlette file server in a subprocess, and a client for it."""
    directory.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "bench.bare_media", "--dir", str(directory)]
    return served(command, dict(os.environ), log_path, {})


def upload(client: httpx.Client, sid: str, data: bytes) -> tuple[float, str]:
    """Seconds for one upload, and the URL of the stored file."""
    started = time.perf_counter()
    response = client.post(
        f"/api/sessions/{sid}/media", files={"file": ("bench.png", data, "image/png")}
    )
    took = time.perf_counter() - started
    if response.status_code != httpx.codes.CREATED:
        raise RuntimeError(f"upload answered {response.status_code}: {response.text[:300]}")
    url: str = response.json()["url"]
    return took, url


def download(client: httpx.Client, url: str, size: int) -> float:
    started = time.perf_counter()
    received = 0
    with client.stream("GET", url) as response:
        for chunk in response.iter_bytes():
            received += len(chunk)
    took = time.perf_counter() - started
    if response.status_code != httpx.codes.OK or received != size:
        raise RuntimeError(f"download answered {response.status_code} with {received} B")
    return took


def bare_upload(client: httpx.Client, name: str, data: bytes) -> float:
    started = time.perf_counter()
    response = client.post(f"/files/{name}", content=data)
    took = time.perf_counter() - started
    if response.status_code != httpx.codes.CREATED:
        raise RuntimeError(f"bare upload answered {response.status_code}")
    return took


def copy(source: Path, target: Path, *, durable: bool) -> float:
    started = time.perf_counter()
    shutil.copyfile(source, target)
    if durable:
        with target.open("rb") as handle:
            os.fsync(handle.fileno())
    took = time.perf_counter() - started
    target.unlink()
    return took


def rows_for_size(
    ctx: Context, client: httpx.Client, bare_client: httpx.Client, sid: str, size_mib: int
) -> list[Row]:
    size = size_mib * MIB
    reps = 2 if ctx.quick else REPS + 2
    scratch = ctx.scratch / f"media-copy-{size_mib}"
    scratch.mkdir(parents=True, exist_ok=True)
    up: list[float] = []
    down: list[float] = []
    bare_up: list[float] = []
    bare_down: list[float] = []
    copy_durable: list[float] = []
    copy_plain: list[float] = []
    upload(client, sid, sample(size, -1))  # warm-up, untimed
    bare_upload(bare_client, "warm-up", sample(size, -1))
    for rep in range(reps):
        data = sample(size, rep)
        source = scratch / "source"
        source.write_bytes(data)
        took, url = upload(client, sid, data)
        up.append(size / MIB / took)
        down.append(size / MIB / download(client, url, size))
        name = f"{size_mib}-{rep}.png"
        bare_up.append(size / MIB / bare_upload(bare_client, name, data))
        bare_down.append(size / MIB / download(bare_client, f"/files/{name}", size))
        copy_durable.append(size / MIB / copy(source, scratch / "copy", durable=True))
        copy_plain.append(size / MIB / copy(source, scratch / "copy", durable=False))
    note = f"{reps} reps; one client, one connection"
    bare_note = f"{note}; bare Starlette: FileResponse, raw body to a file + fsync"
    return [
        Row(GROUP, f"upload {size_mib} MiB", STORE, "MiB/s", True, up,
            "file copy + fsync", copy_durable, note,
            {"bare_starlette_mib_s": median(bare_up)}),
        Row(GROUP, f"download {size_mib} MiB", STORE, "MiB/s", True, down,
            "file copy", copy_plain, note,
            {"bare_starlette_mib_s": median(bare_down)}),
        Row(GROUP, f"upload {size_mib} MiB, bare HTTP", "bare Starlette", "MiB/s", True,
            bare_up, "file copy + fsync", copy_durable, bare_note),
        Row(GROUP, f"download {size_mib} MiB, bare HTTP", "bare Starlette", "MiB/s", True,
            bare_down, "file copy", copy_plain, bare_note),
    ]  # fmt: skip


def run(ctx: Context) -> list[Row]:
    """The ``media`` group: upload and download throughput beside a bare HTTP file server and a
    plain file copy."""
    data_dir = ctx.sqlite_dir("media")
    log_path = ctx.scratch / "media-service.log"
    rows: list[Row] = []
    with (
        service(data_dir, log_path) as client,
        bare(ctx.scratch / "media-bare", ctx.scratch / "media-bare.log") as bare_client,
    ):
        created = client.post("/api/campaigns/new", json={"title": "Media bench"})
        created.raise_for_status()
        sid = created.json()["session_id"]
        for size_mib in SIZES_MIB:
            progress(f"media: {size_mib} MiB files")
            rows += rows_for_size(ctx, client, bare_client, sid, size_mib)
    return rows
