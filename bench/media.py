"""Media throughput: uploading and downloading 1 MiB and 10 MiB files through the API, on the
local media store (and the embedded event store), beside a plain file copy of the same bytes.

The service runs as ``python -m api serve`` in a process of its own, with its default settings
(10 MiB upload limit, media under the data dir); the client is this process. Every upload sends
new bytes, so none is skipped as a duplicate. The baselines copy the same bytes on the same file
system in the same run: ``shutil.copyfile`` plus ``fsync`` against uploads (an upload is
durable before it is acknowledged), ``shutil.copyfile`` alone against downloads.

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
def service(data_dir: Path, log_path: Path) -> Iterator[httpx.Client]:
    """The service in a subprocess, and a client for it with a session owner's token."""
    port = free_port()
    env = os.environ | {
        "GAIA_DATA_DIR": str(data_dir),
        "GAIA_JWT_SECRET": JWT_SECRET,
        "GAIA_LOG_LEVEL": "WARNING",
    }
    env.pop("GAIA_DATABASE_URL", None)
    env.pop("GAIA_MEDIA_URL", None)
    command = [sys.executable, "-m", "api", "serve", "--port", str(port)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    token = LocalAuthenticator(JWT_SECRET).issue(OWNER, "Bench")
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            with contextlib.suppress(httpx.TransportError):
                if client.get("/healthz").status_code == httpx.codes.OK:
                    break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"the service did not start; see {log_path}")
            time.sleep(0.05)
        yield client
    finally:
        client.close()
        stop(process, 10)


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


def copy(source: Path, target: Path, *, durable: bool) -> float:
    started = time.perf_counter()
    shutil.copyfile(source, target)
    if durable:
        with target.open("rb") as handle:
            os.fsync(handle.fileno())
    took = time.perf_counter() - started
    target.unlink()
    return took


def rows_for_size(ctx: Context, client: httpx.Client, sid: str, size_mib: int) -> list[Row]:
    size = size_mib * MIB
    reps = 2 if ctx.quick else REPS + 2
    scratch = ctx.scratch / f"media-copy-{size_mib}"
    scratch.mkdir(parents=True, exist_ok=True)
    up: list[float] = []
    down: list[float] = []
    copy_durable: list[float] = []
    copy_plain: list[float] = []
    upload(client, sid, sample(size, -1))  # warm-up, untimed
    for rep in range(reps):
        data = sample(size, rep)
        source = scratch / "source"
        source.write_bytes(data)
        took, url = upload(client, sid, data)
        up.append(size / MIB / took)
        down.append(size / MIB / download(client, url, size))
        copy_durable.append(size / MIB / copy(source, scratch / "copy", durable=True))
        copy_plain.append(size / MIB / copy(source, scratch / "copy", durable=False))
    note = f"{reps} reps; one client, one connection"
    return [
        Row(GROUP, f"upload {size_mib} MiB", STORE, "MiB/s", True, up,
            "file copy + fsync", copy_durable, note),
        Row(GROUP, f"download {size_mib} MiB", STORE, "MiB/s", True, down,
            "file copy", copy_plain, note),
    ]  # fmt: skip


def run(ctx: Context) -> list[Row]:
    """The ``media`` group: upload and download throughput beside a plain file copy."""
    data_dir = ctx.sqlite_dir("media")
    log_path = ctx.scratch / "media-service.log"
    rows: list[Row] = []
    with service(data_dir, log_path) as client:
        created = client.post("/api/campaigns/new", json={"title": "Media bench"})
        created.raise_for_status()
        sid = created.json()["session_id"]
        for size_mib in SIZES_MIB:
            progress(f"media: {size_mib} MiB files")
            rows += rows_for_size(ctx, client, sid, size_mib)
    return rows
