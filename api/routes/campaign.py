"""A session's campaign state: the party, scene, combat and quests, and the character sheets
players keep (a player creates and edits her own; the owner edits any and adds NPCs)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from api.answers.base import ERRORS
from api.answers.campaign import Campaign, Character, Characters, CharacterWritten
from api.deps import Member, Player, SessionAccess, State
from api.errors import ApiError
from api.json_body import StrictJsonRoute
from api.routes.sessions import check_json_limits
from api.schemas import CharacterChangeIn, CharacterFields, CharacterIn
from api.settings import Settings
from domain.application import Written
from projections.campaign import CampaignDocument
from projections.history import SessionView

router = APIRouter(tags=["campaign"], route_class=StrictJsonRoute, responses=ERRORS)

CharacterId = Annotated[str, Path(min_length=1, max_length=64)]


def campaign_doc(view: SessionView) -> CampaignDocument:
    """The campaign state of ``view``: characters (with owner), scene, combat, quests, and
    what a legacy import recorded."""
    names = {user_id: member["display_name"] for user_id, member in view.members.items()}
    return view.campaign.document(names)


def _character(view: SessionView, character_id: str) -> Character:
    for character in campaign_doc(view)["characters"]:
        if character["character_id"] == character_id:
            return Character.model_validate(character)
    raise ApiError(404, "character_not_found", "character not found", character_id=character_id)


def _check_limits(body: CharacterFields, settings: Settings) -> None:
    check_json_limits(body.inventory, settings, "inventory")
    check_json_limits(body.abilities, settings, "abilities")


def _written(
    access: SessionAccess, state: State, character_id: str, written: Written
) -> CharacterWritten:
    view = state.views.get(access.session_id)
    return CharacterWritten(
        character=_character(view, character_id),
        version=written.version,
        position=written.position,
    )


@router.get("/api/sessions/{sid}/campaign")
def campaign(access: Member) -> Campaign:
    """The session's campaign state now. ``characters`` lists live characters (``source``
    live, with ``owner``) and imported ones no live character replaces (``source`` legacy);
    ``scene`` is the live scene, else the imported campaign's current one."""
    return Campaign(**campaign_doc(access.view), version=access.view.version)


@router.get("/api/sessions/{sid}/characters")
def characters(access: Member) -> Characters:
    return Characters(
        characters=campaign_doc(access.view)["characters"], version=access.view.version
    )


@router.get("/api/sessions/{sid}/characters/{character_id}")
def character(access: Member, character_id: CharacterId) -> Character:
    return _character(access.view, character_id)


@router.post("/api/sessions/{sid}/characters", status_code=status.HTTP_201_CREATED)
def create_character(body: CharacterIn, access: Player, state: State) -> CharacterWritten:
    """Create a character played by the caller; ``kind`` npc is the owner's alone."""
    _check_limits(body, state.settings)
    sheet = body.model_dump(exclude={"kind", "character_id"}, exclude_none=True)
    made = state.sessions.create_character(
        session_id=access.session_id,
        actor=access.caller.user_id,
        sheet=sheet,
        kind=body.kind,
        character_id=body.character_id,
    )
    return _written(access, state, made.character_id, made)


@router.patch("/api/sessions/{sid}/characters/{character_id}")
def change_character(
    body: CharacterChangeIn, access: Player, state: State, character_id: CharacterId
) -> CharacterWritten:
    """Change fields of a character (null clears one), or retire it with ``retired: true``.
    A player changes only her own characters (403 ``not_your_character``); the owner any."""
    _check_limits(body, state.settings)
    changes = body.model_dump(exclude_unset=True, exclude={"retired"})
    sessions, actor, sid = state.sessions, access.caller.user_id, access.session_id
    if body.retired and changes:
        raise ApiError(
            422, "invalid_character", "retire a character without changing it", field="retired"
        )
    if body.retired:
        written = sessions.retire_character(session_id=sid, actor=actor, character_id=character_id)
    else:
        written = sessions.change_character(
            session_id=sid, actor=actor, character_id=character_id, changes=changes
        )
    return _written(access, state, character_id, written)
