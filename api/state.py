"""The long-lived objects of one running service, built by ``create_app`` and kept on app.state."""

from __future__ import annotations

from dataclasses import dataclass

from api.auth import Authenticator, LocalAuthenticator
from api.ratelimit import AcceptLimits
from api.settings import Settings
from api.worker import TurnWorker
from domain.application import Sessions
from projections.database import ViewDatabase
from projections.runner import ProjectionRunner
from projections.session_views import SessionViews


@dataclass
class AppState:
    settings: Settings
    sessions: Sessions
    views: SessionViews
    view_database: ViewDatabase
    my_sessions: ProjectionRunner
    authenticator: Authenticator
    local_auth: LocalAuthenticator | None  # set in local mode only: it issues guest tokens
    worker: TurnWorker
    accept_limits: AcceptLimits
