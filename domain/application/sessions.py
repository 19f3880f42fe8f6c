"""The Sessions application: every use case over CampaignSession streams, one method each.

Each command loads the session, applies one aggregate command and saves (``writes``); it
returns what the caller needs next, always with the stream version and global position. The
use cases are grouped by concern in the modules this class brings together.
"""

from __future__ import annotations

from domain.application.campaign_state import CampaignState
from domain.application.lifecycle import Lifecycle
from domain.application.membership import Membership
from domain.application.play import Play


class Sessions(Lifecycle, Play, Membership, CampaignState):
    """Campaign sessions as event streams, with their use cases."""

    name = "gaia"
    is_snapshotting_enabled = True
