"""Answers about media: an upload stored, and the bytes served (declared by content type)."""

from __future__ import annotations

from typing import Any, Final

from pydantic import Field

from api.answers.base import Written

_BYTES: Final = {"schema": {"type": "string", "format": "binary"}}


def served(*media_types: str) -> dict[int | str, dict[str, Any]]:
    """Served bytes: the stored type, whole or one range; or not modified; or, on GCS, a
    redirect to a signed URL."""
    content = dict.fromkeys(media_types, _BYTES)
    return {
        200: {"description": "the file, as its stored type", "content": content},
        206: {"description": "the one range asked for", "content": content},
        304: {"description": "not modified (If-None-Match)"},
        307: {"description": "on GCS: a signed URL that lives 5 minutes"},
    }


# An upload is an image or audio file; an imported file keeps the type its legacy record
# named, which may be any (application/octet-stream when it named none).
MEDIA_BYTES: Final = served("image/*", "audio/*", "*/*")
IMAGE_BYTES: Final = served("image/*", "*/*")


class MediaStored(Written):
    media_id: str
    kind: str = Field(description="image or audio")
    content_type: str
    size: int
    sha256: str
    url: str
    filename: str = Field(description="<media_id>.<ext>")
