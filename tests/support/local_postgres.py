"""A throwaway PostgreSQL cluster from the local binaries, started as scripts/with-services does."""

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DEFAULT_PGBIN = Path("/usr/lib/postgresql/15/bin")

# Safe only for data that is thrown away: fsync=off can corrupt a cluster on an OS crash.
FAST_TEST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


class LocalClusterError(RuntimeError):
    """The local PostgreSQL binaries are missing, or the cluster did not start."""


@contextmanager
def local_cluster() -> Iterator[str]:
    """Start a cluster on a free loopback port, yield its URL, then stop it and delete it."""
    pgbin = find_pgbin()
    root = os.geteuid() == 0
    # initdb and pg_ctl refuse to run as root; the postgres system user runs them instead.
    as_postgres = ["runuser", "-u", "postgres", "--"] if root else []
    # Under /tmp rather than pytest's tmp dir or the checkout: postgres must be able to
    # traverse every parent directory, and /root is not traversable.
    base = Path(tempfile.mkdtemp(prefix="gaia-pytest-pg.", dir="/tmp"))
    data, log = base / "data", base / "server.log"
    port = free_port()
    server_options = " ".join(
        [f"-p {port}", f"-k {base}", "-c listen_addresses=127.0.0.1"]
        + [f"-c {setting}" for setting in FAST_TEST_SETTINGS]
    )
    initdb = [*as_postgres, str(pgbin / "initdb"), "-D", str(data), "-U", "postgres"]
    pg_ctl = [*as_postgres, str(pgbin / "pg_ctl"), "-D", str(data)]
    try:
        if root:
            shutil.chown(base, user="postgres", group="postgres")
        _run([*initdb, "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"], cwd=base)
        _run(
            [*pg_ctl, "-l", str(log), "-w", "-t", "30", "-o", server_options, "start"],
            cwd=base,
            log=log,
        )
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                [*pg_ctl, "-m", "immediate", "stop"], cwd=base, capture_output=True, check=False
            )
        shutil.rmtree(base, ignore_errors=True)


def find_pgbin() -> Path:
    """Return the directory holding initdb: PGBIN, the Debian default, or pg_ctl's on PATH."""
    candidates = [Path(os.environ.get("PGBIN", DEFAULT_PGBIN))]
    if pg_ctl := shutil.which("pg_ctl"):
        candidates.append(Path(pg_ctl).parent)
    for candidate in candidates:
        if (candidate / "initdb").is_file():
            return candidate
    tried = ", ".join(str(candidate) for candidate in candidates)
    raise LocalClusterError(f"no PostgreSQL binaries (initdb) in {tried}; set PGBIN")


def free_port() -> int:
    """Return a loopback TCP port that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _run(command: list[str], *, cwd: Path, log: Path | None = None) -> None:
    # cwd: the postgres user may not be allowed into the caller's working directory.
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        server_log = log.read_text() if log is not None and log.exists() else ""
        output = "\n".join(part for part in (result.stdout, result.stderr, server_log) if part)
        raise LocalClusterError(f"exit {result.returncode}: {' '.join(command)}\n{output}")
