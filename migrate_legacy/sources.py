"""Reading legacy files safely: every file yields its bytes, sha256 and size, or the reason it
could not be read (a FIFO, a directory or a symlink where a file belongs never blocks the job)."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Final

EMPTY_FILE: Final = "empty_file"
UNREADABLE: Final = "unreadable"
INVALID_JSON: Final = "invalid_json"

# A directory with one of these suffixes stands where a file belongs: it is reported as an
# unreadable file (and whatever it holds is listed too).
FILE_SUFFIXES: Final = (".json", ".jsonl", ".txt")


@dataclass(frozen=True)
class SourceFile:
    """One file of the legacy tree: where it is, and its names relative to the storage root
    (``rel``, used in the report) and to its campaign folder (``key``, used for classifying)."""

    path: Path
    rel: str
    key: str


@dataclass(frozen=True)
class Loaded:
    """A file's bytes and digest, or ``reason`` (empty_file or unreadable) with a detail."""

    file: SourceFile
    data: bytes | None
    sha256: str | None
    size: int | None
    reason: str | None = None
    detail: str = ""


def load(file: SourceFile) -> Loaded:
    """Read one file without following symlinks and without blocking on special files."""
    try:
        data = read_regular(file.path)
    except OSError as error:
        return Loaded(file, None, None, None, UNREADABLE, _describe(error))
    digest = hashlib.sha256(data).hexdigest()
    if not data:
        return Loaded(file, data, digest, 0, EMPTY_FILE, "zero bytes")
    return Loaded(file, data, digest, len(data))


def read_regular(path: Path) -> bytes:
    """The bytes of a regular file; OSError for anything else (dir, FIFO, socket, symlink)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, f"not a regular file ({_kind(mode)})", str(path))
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _describe(error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return "a symbolic link (links are never followed)"
    return error.strerror or str(error)


def walk(folder: Path, root: Path, base: Path) -> list[SourceFile]:
    """Every non-directory entry under ``folder``, sorted, named relative to ``root`` and
    ``base``. Directories named like files, and directories that cannot be listed, are
    entries too, so that each is reported (as unreadable) rather than silently skipped."""
    found: list[SourceFile] = []
    _walk(folder, root, base, found)
    return found


def _walk(folder: Path, root: Path, base: Path, found: list[SourceFile]) -> None:
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError:
        found.append(source_file(folder, root, base))
        return
    for entry in entries:
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            if entry.name.endswith(FILE_SUFFIXES):
                found.append(source_file(path, root, base))
            _walk(path, root, base, found)
        else:
            found.append(source_file(path, root, base))


def source_file(path: Path, root: Path, base: Path) -> SourceFile:
    return SourceFile(path, path.relative_to(root).as_posix(), path.relative_to(base).as_posix())


def is_present(path: Path) -> bool:
    """True if anything (even a broken link or a FIFO) has this name."""
    return os.path.lexists(path)
