"""A service on the embedded SQLite store starts, signs in, plays and stops without loading
PostgreSQL's driver: psycopg is imported only when PostgreSQL is configured (a shorter start)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# Run in a fresh interpreter: the test process itself has long imported psycopg.
SCRIPT = """
import asyncio
import sys

import httpx

from api.app import create_app
from api.settings import Settings


async def main() -> None:
    app = create_app(Settings())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            assert (await client.get("/readyz")).status_code == 200
            guest = await client.post("/api/auth/guest", json={"display_name": "Mira"})
            token = guest.json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            made = await client.post("/api/campaigns/new", json={}, headers=headers)
            assert made.status_code == 201, made.text
            listed = await client.get("/api/sessions", headers=headers)
            assert listed.status_code == 200, listed.text
    print(sorted({name.split(".")[0] for name in sys.modules if name.startswith("psycopg")}))


asyncio.run(main())
"""


def test_a_service_on_the_sqlite_store_never_imports_psycopg(tmp_path: Path) -> None:
    env = {
        "GAIA_DATA_DIR": str(tmp_path / "data"),
        "GAIA_JWT_SECRET": "s" * 40,
        "GAIA_LOG_LEVEL": "WARNING",
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
