"""Use cases of membership: invites issued, revoked and accepted; roles changed; members removed."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

from domain import roles, tokens
from domain.application.results import InviteCreated, Joined, Written
from domain.application.writes import SessionNotFound, SessionWrites
from domain.session import InviteInvalid


class Membership(SessionWrites):
    def issue_invite(
        self,
        *,
        session_id: UUID,
        actor: str,
        role: str = roles.PLAYER,
        expires_in: timedelta | None = timedelta(days=7),
        max_uses: int | None = None,
    ) -> InviteCreated:
        invite_id = uuid4()
        token = tokens.new_invite_token(session_id)
        now = self.clock()
        expires_at = now + expires_in if expires_in is not None else None
        _, written = self._update(
            session_id,
            lambda s: s.issue_invite(
                actor=actor,
                invite_id=invite_id,
                token_sha256=tokens.token_sha256(token),
                role=role,
                expires_at=expires_at,
                max_uses=max_uses,
                at=now,
            ),
        )
        return InviteCreated(
            session_id,
            written.version,
            written.position,
            invite_id,
            token,
            role,
            expires_at,
            max_uses,
        )

    def revoke_invite(self, *, session_id: UUID, actor: str, invite_id: UUID) -> Written:
        _, written = self._update(
            session_id,
            lambda s: s.revoke_invite(actor=actor, invite_id=invite_id, at=self.clock()),
        )
        return written

    def accept_invite(self, *, token: str, user_id: str, display_name: str) -> Joined:
        session_id = tokens.session_of(token)
        if session_id is None:
            raise InviteInvalid("this invite link is not valid")
        digest = tokens.token_sha256(token)
        try:
            (role, joined), written = self._update(
                session_id,
                lambda s: s.accept_invite(
                    token_sha256=digest,
                    user_id=user_id,
                    display_name=display_name,
                    at=self.clock(),
                ),
            )
        except SessionNotFound:
            raise InviteInvalid("this invite link is not valid") from None
        return Joined(session_id, written.version, written.position, role, joined)

    def change_role(self, *, session_id: UUID, actor: str, user_id: str, role: str) -> Written:
        _, written = self._update(
            session_id,
            lambda s: s.change_role(actor=actor, user_id=user_id, role=role, at=self.clock()),
        )
        return written

    def remove_member(
        self, *, session_id: UUID, actor: str, user_id: str, block: bool = False
    ) -> Written:
        _, written = self._update(
            session_id,
            lambda s: s.remove_member(actor=actor, user_id=user_id, block=block, at=self.clock()),
        )
        return written
