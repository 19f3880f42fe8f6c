"""Membership: invite links, joining through them, roles, and removing or blocking members.

``fold_member`` is the one rule for what a membership event does to the member list; the
aggregate and the per-session view (projections/history.py) both fold with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from uuid import UUID

from domain import roles
from domain.errors import Forbidden, NotFound, RuleViolation
from domain.inputs import check_line
from domain.roles import Role
from domain.session.base import ActedEvent, InvalidValue, Member, SessionState, require_in


class UserBlocked(Forbidden):
    code = "blocked"


class InviteInvalid(NotFound):
    """One answer for unknown, expired, revoked and used-up tokens: none is told apart."""

    code = "invite_invalid"


class InviteNotFound(NotFound):
    code = "invite_not_found"


class MemberNotFound(NotFound):
    code = "member_not_found"


class OwnerIsPermanent(RuleViolation):
    code = "owner_is_permanent"


def fold_member(
    members: Mapping[str, Member],
    owner: str | None,
    user_id: str,
    role: str | None,
    display_name: str | None = None,
) -> tuple[dict[str, Member], str | None]:
    """The members and the owner after ``user_id`` joined or changed role (``role``) or left
    (``role`` None). A ``display_name`` of None keeps the name the member has."""
    folded = dict(members)
    if role is None:
        folded.pop(user_id, None)
        return folded, owner
    name = folded[user_id]["display_name"] if display_name is None else display_name
    folded[user_id] = {"role": role, "display_name": name}
    return folded, user_id if role == Role.OWNER else owner


class Membership(SessionState):
    """Invites, members and their roles."""

    class InviteIssued(ActedEvent):
        TOPIC = "gaia.InviteIssued"
        invite_id: UUID
        token_sha256: str
        role: str
        expires_at: datetime | None
        max_uses: int | None

        def apply(self, session: SessionState) -> None:
            session.invites[str(self.invite_id)] = {
                "token_sha256": self.token_sha256,
                "role": self.role,
                "expires_at": self.expires_at,
                "max_uses": self.max_uses,
                "uses": 0,
                "revoked": False,
            }

    class InviteRevoked(ActedEvent):
        TOPIC = "gaia.InviteRevoked"
        invite_id: UUID

        def apply(self, session: SessionState) -> None:
            session.invites[str(self.invite_id)]["revoked"] = True

    class MemberJoined(ActedEvent):
        TOPIC = "gaia.MemberJoined"
        user_id: str
        display_name: str
        role: str
        invite_id: UUID | None

        def apply(self, session: SessionState) -> None:
            session.members, session.owner = fold_member(
                session.members, session.owner, self.user_id, self.role, self.display_name
            )
            if self.invite_id is not None:
                session.invites[str(self.invite_id)]["uses"] += 1

    class MemberRoleChanged(ActedEvent):
        TOPIC = "gaia.MemberRoleChanged"
        user_id: str
        role: str

        def apply(self, session: SessionState) -> None:
            session.members, session.owner = fold_member(
                session.members, session.owner, self.user_id, self.role
            )

    class MemberRemoved(ActedEvent):
        TOPIC = "gaia.MemberRemoved"
        user_id: str
        blocked: bool

        def apply(self, session: SessionState) -> None:
            session.members, _ = fold_member(session.members, session.owner, self.user_id, None)
            if self.blocked and self.user_id not in session.blocked:
                session.blocked.append(self.user_id)

    def issue_invite(
        self,
        *,
        actor: str,
        invite_id: UUID,
        token_sha256: str,
        role: str,
        expires_at: datetime | None,
        max_uses: int | None,
        at: datetime | None,
    ) -> None:
        self.require(actor, Role.OWNER)
        require_in(role, roles.GRANTABLE, "role")
        if max_uses is not None and max_uses < 1:
            raise InvalidValue("max_uses must be at least 1", field="max_uses")
        if expires_at is not None and at is not None and expires_at <= at:
            raise InvalidValue("expires_at must be in the future", field="expires_at")
        self.trigger_event(
            self.InviteIssued,
            invite_id=invite_id,
            token_sha256=token_sha256,
            role=role,
            expires_at=expires_at,
            max_uses=max_uses,
            actor=actor,
            occurred_at=at,
        )

    def revoke_invite(self, *, actor: str, invite_id: UUID, at: datetime | None) -> None:
        self.require(actor, Role.OWNER)
        invite = self.invites.get(str(invite_id))
        if invite is None:
            raise InviteNotFound("invite not found", invite_id=str(invite_id))
        if not invite["revoked"]:
            self.trigger_event(self.InviteRevoked, invite_id=invite_id, actor=actor, occurred_at=at)

    def _invite_by_hash(self, token_sha256: str) -> str | None:
        for invite_id, invite in self.invites.items():
            if invite["token_sha256"] == token_sha256:
                return invite_id
        return None

    def is_usable(self, invite_id: str, at: datetime) -> bool:
        invite = self.invites[invite_id]
        expired = invite["expires_at"] is not None and invite["expires_at"] <= at
        used_up = invite["max_uses"] is not None and invite["uses"] >= invite["max_uses"]
        return not (invite["revoked"] or expired or used_up)

    def accept_invite(
        self, *, token_sha256: str, user_id: str, display_name: str, at: datetime
    ) -> tuple[str, bool]:
        """Join through an invite; returns ``(role, joined)``.

        A member following any link of the session again is a no-op that uses nothing up.
        """
        invite_id = self._invite_by_hash(token_sha256)
        if invite_id is None:
            raise InviteInvalid("this invite link is not valid")
        check_line(user_id, "user_id")
        check_line(display_name, "display_name")
        role = self.role_of(user_id)
        if role is not None:
            return role, False
        if user_id in self.blocked:
            raise UserBlocked("you cannot join this session")
        if not self.is_usable(invite_id, at):
            raise InviteInvalid("this invite link is not valid")
        role = self.invites[invite_id]["role"]
        self._joined(user_id, display_name, role, UUID(invite_id), user_id, at)
        return role, True

    def add_member(
        self, *, user_id: str, display_name: str, role: str, at: datetime | None
    ) -> bool:
        """Add a member without an invite (imports and operators); False if already one.

        Adding an ``owner`` is only possible while the session has none.
        """
        require_in(role, frozenset(roles.RANK), "role")
        check_line(user_id, "user_id")
        check_line(display_name, "display_name")
        if role == Role.OWNER and self.owner is not None:
            raise OwnerIsPermanent("the session already has an owner")
        if user_id in self.members:
            if role != Role.OWNER:
                return False
            self._role_changed(user_id, role, None, at)
            return True
        self._joined(user_id, display_name, role, None, None, at)
        return True

    def _joined(
        self,
        user_id: str,
        display_name: str,
        role: str,
        invite_id: UUID | None,
        actor: str | None,
        at: datetime | None,
    ) -> None:
        self.trigger_event(
            self.MemberJoined,
            user_id=user_id,
            display_name=display_name,
            role=role,
            invite_id=invite_id,
            actor=actor,
            occurred_at=at,
        )

    def change_role(self, *, actor: str, user_id: str, role: str, at: datetime | None) -> None:
        self.require(actor, Role.OWNER)
        require_in(role, roles.GRANTABLE, "role")
        check_line(user_id, "user_id")
        current = self.role_of(user_id)
        if current is None:
            raise MemberNotFound("member not found", user_id=user_id)
        if current == Role.OWNER:
            raise OwnerIsPermanent("the owner cannot be demoted")
        if current != role:
            self._role_changed(user_id, role, actor, at)

    def _role_changed(
        self, user_id: str, role: str, actor: str | None, at: datetime | None
    ) -> None:
        self.trigger_event(
            self.MemberRoleChanged, user_id=user_id, role=role, actor=actor, occurred_at=at
        )

    def remove_member(self, *, actor: str, user_id: str, block: bool, at: datetime | None) -> None:
        """The owner removes (and may block) anyone but themself; any other member may leave."""
        leaving = actor == user_id and not block
        self.require(actor, Role.SPECTATOR if leaving else Role.OWNER)
        check_line(user_id, "user_id")
        if user_id == self.owner:
            raise OwnerIsPermanent("the owner cannot be removed")
        if user_id not in self.members and not block:
            raise MemberNotFound("member not found", user_id=user_id)
        if user_id in self.members or user_id not in self.blocked:
            self.trigger_event(
                self.MemberRemoved, user_id=user_id, blocked=block, actor=actor, occurred_at=at
            )
