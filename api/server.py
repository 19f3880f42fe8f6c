"""The options uvicorn serves the app with, in one place: ``python -m api serve`` and the tests'
in-process servers both take them from ``server_options``, so both read client addresses the
same way.

By default uvicorn rewrites the client address and scheme from ``X-Forwarded-For`` and
``X-Forwarded-Proto`` for peers it trusts (127.0.0.1), which would let any caller on the
machine, or behind a local relay, choose the address that per-address limits count. Only
``GAIA_TRUST_PROXY_HEADERS`` turns that on, and then for every peer (``forwarded_allow_ips="*"``):
on Cloud Run only Google's front end reaches the container, from addresses it does not publish.
The app still takes the client address from the hop that front end appended, never from one the
client wrote (``api.deps.client_address``).
"""

from __future__ import annotations

from typing import Any, Final

from api.settings import Settings

# On SIGTERM, how long open requests get; GAIA_STREAM_SHUTDOWN_GRACE_SECONDS stays below it.
GRACEFUL_SHUTDOWN_S: Final = 8


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options that follow from the settings (host, port and logging aside)."""
    trusted = settings.trust_proxy_headers
    return {
        "proxy_headers": trusted,
        "forwarded_allow_ips": "*" if trusted else None,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S,
    }
