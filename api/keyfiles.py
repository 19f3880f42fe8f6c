"""Keys generated into the data directory on first run (the JWT secret, the export signing key):
created exactly once even when several processes start at the same moment, readable by their
owner only, and read back as they are on every later start. Instances that share no data
directory must be given the key by a setting instead."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path

from api.settings import Settings
from projections.export import (
    ExportSigner,
    KeyInvalid,
    new_private_key_text,
    private_key_from_text,
)

EXPORT_KEY_FILE_NAME = "export-signing-key"


def export_signer(settings: Settings) -> ExportSigner:
    """The signer of export trailers: GAIA_EXPORT_SIGNING_KEY, else the key generated into the
    data dir (base64 of the raw Ed25519 private key)."""
    if settings.export_signing_key:
        try:
            return ExportSigner(private_key_from_text(settings.export_signing_key))
        except KeyInvalid as error:
            raise KeyInvalid(f"GAIA_EXPORT_SIGNING_KEY: {error}") from None
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # the CLI may run before the service
    text = load_or_create(
        settings.data_dir / EXPORT_KEY_FILE_NAME,
        new_private_key_text,
        _is_private_key,
        what="Ed25519 private key",
        setting="GAIA_EXPORT_SIGNING_KEY",
    )
    return ExportSigner(private_key_from_text(text))


def _is_private_key(text: str) -> bool:
    try:
        private_key_from_text(text)
    except KeyInvalid:
        return False
    return True


def load_or_create(
    path: Path,
    make: Callable[[], str],
    usable: Callable[[str], bool],
    *,
    what: str,
    setting: str,
) -> str:
    """Read ``path``, or create it holding ``make()`` with mode 0600.

    Creation uses O_EXCL, so when two processes start at once exactly one writes the file and
    the other reads what it wrote. ``what`` and ``setting`` name the key and the setting that
    replaces the file in the error raised when the file holds nothing ``usable``.
    """
    fresh = make()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path, usable, what=what, setting=setting)
    try:
        os.fchmod(fd, 0o600)  # the umask may only narrow the mode, but make it exact anyway
        os.write(fd, fresh.encode())
        os.fsync(fd)
    except BaseException:
        # Never leave an empty or partial key behind for the next start to trip over.
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    finally:
        os.close(fd)
    return fresh


def _read(
    path: Path,
    usable: Callable[[str], bool],
    *,
    what: str,
    setting: str,
    wait_s: float = 2.0,
    poll_s: float = 0.02,
) -> str:
    # The winner of the O_EXCL race may not have written yet: the file can be briefly empty.
    deadline = time.monotonic() + wait_s
    while True:
        text = path.read_text().strip()
        if usable(text):
            return text
        if time.monotonic() >= deadline:
            raise ValueError(
                f"{path} holds no usable {what}; delete it to have a new one generated, "
                f"or set {setting}"
            )
        time.sleep(poll_s)
