"""Reading one media upload: a ``multipart/form-data`` body streamed to a temporary file while it
is hashed, refused the moment it breaks a limit, and typed by its bytes.

Nothing here trusts the client: the declared length, the part's file name and content type, and
the ``kind`` field are claims. The bytes decide the type; a claim of the other kind (an image
sent as audio, a PNG named ``.mp3``) is refused, while a wrong format of the right kind (a PNG
named ``.jpg``) is simply corrected. Refusals are ``ApiError``s with distinct codes:

    400 malformed_upload          not multipart, or cut off before its closing boundary
    413 upload_too_large          the file is over GAIA_MAX_UPLOAD_BYTES (checked while reading)
    415 unsupported_media_type    the bytes are none of PNG, JPEG, WebP, GIF, MP3, OGG, WAV
    422 media_type_mismatch       a claim names the other kind than the bytes are
    422 image_too_large           the image's header claims more than GAIA_MAX_IMAGE_PIXELS
    422 file_required / invalid_kind
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final

from anyio import to_thread
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from api.errors import ApiError
from api.media.dimensions import image_size
from domain.media import SNIFF_BYTES, MediaType, sniff
from domain.session import MEDIA_KINDS

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

# Room for the multipart framing and the small fields around the file.
OVERHEAD_BYTES: Final = 64 * 1024
MAX_FIELD_BYTES: Final = 1024
MAX_PARTS: Final = 8
FILE_FIELD: Final = "file"
KIND_FIELD: Final = "kind"
ACCEPTED: Final = "PNG, JPEG, WebP or GIF images, MP3, OGG or WAV audio"

_EXTENSION_KIND: Final = {
    **dict.fromkeys(("png", "jpg", "jpeg", "jpe", "jfif", "webp", "gif"), "image"),
    **dict.fromkeys(("mp3", "mpga", "ogg", "oga", "opus", "wav", "wave"), "audio"),
}
_GENERIC_TYPES: Final = frozenset({"", "application/octet-stream", "binary/octet-stream"})


class UploadAborted(Exception):
    """The client went away before the body was complete: there is no one left to answer."""


@dataclass(frozen=True)
class Claims:
    """What the client said about the file; each is checked against the bytes."""

    kind: str | None = None
    content_type: str | None = None
    filename: str | None = None


@dataclass
class SpooledUpload:
    path: Path
    size: int
    sha256: str
    media_type: MediaType
    claims: Claims


def too_large(limit: int) -> ApiError:
    return ApiError(
        413, "upload_too_large", f"the file is larger than {limit} bytes", limit_bytes=limit
    )


def malformed(message: str) -> ApiError:
    return ApiError(400, "malformed_upload", message)


def unsupported() -> ApiError:
    return ApiError(415, "unsupported_media_type", f"the file's bytes are not {ACCEPTED}")


def claimed_kinds(claims: Claims) -> list[tuple[str, str, str]]:
    """``(what, value, kind)`` for each claim that names a kind (``other`` for a non-media type)."""
    found: list[tuple[str, str, str]] = []
    if claims.kind is not None:
        found.append(("kind field", claims.kind, claims.kind))
    content_type = (claims.content_type or "").split(";")[0].strip().lower()
    if content_type not in _GENERIC_TYPES:
        top = content_type.split("/")[0]
        kind = top if top in MEDIA_KINDS else "audio" if content_type == "application/ogg" else ""
        found.append(("content type", content_type, kind or "other"))
    name = claims.filename or ""
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension in _EXTENSION_KIND:
        found.append(("file name", name[-100:], _EXTENSION_KIND[extension]))
    return found


def decide_type(head: bytes, claims: Claims) -> MediaType:
    """The file's type by its bytes, if no claim contradicts its kind."""
    media_type = sniff(head)
    if media_type is None:
        raise unsupported()
    for what, value, kind in claimed_kinds(claims):
        if kind != media_type.kind:
            raise ApiError(
                422,
                "media_type_mismatch",
                f"the file is {media_type.content_type} ({media_type.kind}), "
                f"but its {what} says {value!r}",
                detected=media_type.content_type,
                claimed=value,
            )
    return media_type


@dataclass
class _Part:
    headers: dict[str, str] = field(default_factory=dict)
    name: str = ""
    filename: str | None = None
    value: bytearray = field(default_factory=bytearray)


class _Reader:
    """Multipart callbacks: the ``file`` part goes to ``spool``, small fields to memory."""

    def __init__(self, spool: IO[bytes], limit: int) -> None:
        self.spool = spool
        self.limit = limit
        self.digest = hashlib.sha256()
        self.size = 0
        self.head = b""
        self.parts = 0
        self.ended = False
        self.fields: dict[str, str] = {}
        self.file_headers: dict[str, str] | None = None
        self.file_name: str | None = None
        self._part = _Part()
        self._field = b""
        self._value = b""

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise malformed(f"at most {MAX_PARTS} form fields are accepted")
        self._part = _Part()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        name = self._field.decode("latin-1").strip().lower()
        self._part.headers[name] = self._value.decode("latin-1").strip()
        self._field = self._value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._part.headers.get("content-disposition"))
        self._part.name = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in options:
            self._part.filename = options[b"filename"].decode("utf-8", "replace")
        if self._part.name == FILE_FIELD:
            if self.file_headers is not None:
                raise malformed("send one file per upload")
            self.file_headers = self._part.headers
            self.file_name = self._part.filename

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        piece = memoryview(data)[start:end]  # hashed and written without a copy
        if self._part.name != FILE_FIELD:
            self._part.value += piece
            if len(self._part.value) > MAX_FIELD_BYTES:
                raise malformed(
                    f"form fields other than the file are limited to {MAX_FIELD_BYTES} B"
                )
            return
        self.size += len(piece)
        if self.size > self.limit:
            raise too_large(self.limit)
        if len(self.head) < SNIFF_BYTES:
            self.head += bytes(piece[: SNIFF_BYTES - len(self.head)])
            # Refuse a file of the wrong type as soon as its first bytes are in, not at the end.
            if len(self.head) == SNIFF_BYTES and sniff(self.head) is None:
                raise unsupported()
        self.digest.update(piece)
        self.spool.write(piece)

    def _part_end(self) -> None:
        if self._part.name and self._part.name != FILE_FIELD:
            self.fields.setdefault(self._part.name, self._part.value.decode("utf-8", "replace"))

    def _end(self) -> None:
        self.ended = True


def _boundary(request: Request) -> bytes:
    content_type, options = parse_options_header(request.headers.get("content-type"))
    boundary = options.get(b"boundary", b"")
    if content_type != b"multipart/form-data" or not boundary:
        raise malformed("send the file as multipart/form-data, in a field named 'file'")
    return boundary


def _check_declared_length(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + OVERHEAD_BYTES:
        raise too_large(limit)  # no need to read a body that says it is too large


def check_image_size(path: Path, media_type: MediaType, max_pixels: int) -> None:
    """Refuse an image whose header claims more than ``max_pixels`` (what browsers would decode)."""
    with path.open("rb") as file:
        size = image_size(file, media_type)
    if size is not None and size[0] * size[1] > max_pixels:
        width, height = size
        raise ApiError(
            422,
            "image_too_large",
            f"the image is {width}x{height} pixels; at most {max_pixels} pixels are accepted",
            width=width,
            height=height,
            max_pixels=max_pixels,
        )


async def read_upload(
    request: Request, *, limit: int, staging_dir: Path | None, max_image_pixels: int
) -> SpooledUpload:
    """Stream the request body into a temporary file; the caller deletes ``path`` when done.

    Raises ``ApiError`` for a refused upload and ``UploadAborted`` when the client disconnects;
    either way the temporary file is already gone.
    """
    _check_declared_length(request, limit)
    parser_boundary = _boundary(request)
    if staging_dir is not None:
        staging_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=staging_dir, prefix="upload-")
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as spool:
            reader = _Reader(spool, limit)
            received = 0
            try:
                parser = MultipartParser(parser_boundary, reader.callbacks())
                async for chunk in request.stream():
                    received += len(chunk)
                    if received > limit + OVERHEAD_BYTES:
                        raise too_large(limit)
                    parser.write(chunk)
                    if reader.ended:
                        break
            except FormParserError as error:
                raise malformed(f"the multipart body is malformed: {error}") from None
            except ClientDisconnect:
                raise UploadAborted from None
        if not reader.ended:
            raise malformed("the upload was cut off before its closing boundary")
        if reader.file_headers is None:
            raise ApiError(422, "file_required", "send the file in a form field named 'file'")
        kind = reader.fields.get(KIND_FIELD)
        if kind is not None and kind not in MEDIA_KINDS:
            raise ApiError(422, "invalid_kind", "kind must be 'image' or 'audio'", kind=kind[:20])
        claims = Claims(kind, reader.file_headers.get("content-type"), reader.file_name)
        media_type = decide_type(reader.head, claims)
        if media_type.kind == "image":
            await to_thread.run_sync(check_image_size, path, media_type, max_image_pixels)
    except BaseException:
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    return SpooledUpload(path, reader.size, reader.digest.hexdigest(), media_type, claims)
