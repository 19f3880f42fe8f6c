"""Media: images and audio kept as content-addressed bytes in a store, and as ``MediaStored``
events in the session's stream.

Modules: ``store`` (``open_store``: the shared store of ``domain.adapters.media`` that the
settings name), ``upload`` (streaming a multipart upload, typing it by its bytes),
``ranges`` (ETag and Range rules), ``generation`` (image and speech providers after a
narration), ``service`` (``Media``: the store, the media index view and the generator of one
running service; ``MediaWriter``: bytes, then their event). The routes are in ``api.routes.media``.
"""

from api.media.service import Media, MediaWriter

__all__ = ["Media", "MediaWriter"]
