"""The service's media store: the shared store (``domain.adapters.media``) that
``GAIA_MEDIA_URL`` names, opened with the service's GCS settings."""

from __future__ import annotations

from api.settings import Settings
from domain.adapters.media import MediaStore, open_media_store


def media_url(settings: Settings) -> str:
    """``GAIA_MEDIA_URL``, or the ``media`` directory under the data dir."""
    return settings.media_url or (settings.data_dir / "media").resolve().as_uri()


def open_store(settings: Settings) -> MediaStore:
    """The store ``GAIA_MEDIA_URL`` names (Settings has checked its shape)."""
    return open_media_store(
        media_url(settings),
        project=settings.gcs_project,
        credentials_file=settings.gcs_credentials_file,
        signed_urls=settings.media_signed_urls,
    )
