"""The long-lived objects of one running service, built by ``api.composition`` and kept on
app.state; handlers reach them through the dependencies in ``api.deps``."""

from __future__ import annotations

from dataclasses import dataclass

from api.auth import Authenticator, LocalAuthenticator
from api.circuit import StoreCircuit
from api.live import Live
from api.media.service import Media
from api.metrics import Metrics
from api.ratelimit import Rates, StreamSlots
from api.settings import Settings
from api.worker import TurnWorker
from domain.application import Sessions
from projections.database import ViewDatabase
from projections.export import ExportSigner
from projections.runner import ProjectionRunner
from projections.session_views import SessionViews


@dataclass(frozen=True)
class AppState:
    settings: Settings
    sessions: Sessions
    views: SessionViews
    view_database: ViewDatabase
    my_sessions: ProjectionRunner
    authenticator: Authenticator
    local_auth: LocalAuthenticator | None  # set in local mode only: it issues guest tokens
    worker: TurnWorker
    export_signer: ExportSigner  # signs export trailers; its public key is GET /api/export-key
    rates: Rates  # per-caller quotas counted on this instance
    stream_slots: StreamSlots  # open event streams on this instance
    metrics: Metrics
    live: Live  # live streams and their tickets
    circuit: StoreCircuit | None  # PostgreSQL only: watches the store, gates requests
    media: Media  # the media store, its index view and the generator
