"""A throwaway PostgreSQL cluster from the local binaries, started as scripts/with-services does;
``stoppable_cluster`` also lets a test stop and restart it (database outage tests)."""

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
    with stoppable_cluster() as cluster:
        yield cluster.url


class LocalCluster:
    """A throwaway cluster that a test may stop and start again (same port, same data)."""

    def __init__(self, base: Path, pgbin: Path, port: int) -> None:
        root = os.geteuid() == 0
        # initdb and pg_ctl refuse to run as root; the postgres system user runs them instead.
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if root else []
        self.base, self.data, self.log = base, base / "data", base / "server.log"
        self.port = port
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        self._pgbin = pgbin
        self._options = " ".join(
            [f"-p {port}", f"-k {base}", "-c listen_addresses=127.0.0.1"]
            + [f"-c {setting}" for setting in FAST_TEST_SETTINGS]
        )

    @property
    def _pg_ctl(self) -> list[str]:
        return [*self._as_postgres, str(self._pgbin / "pg_ctl"), "-D", str(self.data)]

    def init(self) -> None:
        initdb = [*self._as_postgres, str(self._pgbin / "initdb"), "-D", str(self.data)]
        _run(
            [
                *initdb,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
            cwd=self.base,
        )

    def start(self) -> None:
        """Start the server and return once it accepts connections."""
        _run(
            [*self._pg_ctl, "-l", str(self.log), "-w", "-t", "30", "-o", self._options, "start"],
            cwd=self.base,
            log=self.log,
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast`` ends its sessions; ``immediate`` is a crash) and wait."""
        _run([*self._pg_ctl, "-m", mode, "-w", "-t", "30", "stop"], cwd=self.base, log=self.log)

    def discard(self) -> None:
        """Stop the server at once if it runs, ignoring errors (clean-up only)."""
        if (self.data / "postmaster.pid").exists():
            subprocess.run(
                [*self._pg_ctl, "-m", "immediate", "stop"],
                cwd=self.base,
                capture_output=True,
                check=False,
            )


@contextmanager
def stoppable_cluster() -> Iterator[LocalCluster]:
    """A started ``LocalCluster`` on a free loopback port, stopped and deleted afterwards."""
    pgbin = find_pgbin()
    # Under /tmp rather than pytest's tmp dir or the checkout: postgres must be able to
    # traverse every parent directory, and /root is not traversable.
    base = Path(tempfile.mkdtemp(prefix="gaia-pytest-pg.", dir="/tmp"))
    cluster = LocalCluster(base, pgbin, free_port())
    try:
        if os.geteuid() == 0:
            shutil.chown(base, user="postgres", group="postgres")
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.discard()
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
