"""Creators: registration and the approval workflow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connect.accounts.models import Role, User
from connect.accounts.services import AccountError, create_user
from connect.audit.services import record
from connect.core.db import upsert_insert
from connect.creators.models import (
    Creator,
    CreatorStatus,
    CreatorVisitor,
    SocialAccount,
    SocialPlatform,
)


def handle_taken(session: Session, handle: str) -> bool:
    return session.scalar(select(func.count()).where(Creator.handle == handle)) > 0


@dataclass(frozen=True)
class SocialInput:
    platform: SocialPlatform
    handle: str
    followers: int


def register_creator(
    session: Session,
    *,
    email: str,
    password: str,
    name: str,
    display_name: str,
    handle: str,
    country: str,
    languages: list[str],
    payout_currency: str,
    social: list[SocialInput],
) -> Creator:
    """A new creator account, pending until an admin approves it."""
    if handle_taken(session, handle):
        raise AccountError(_l("This page address is taken."), field="handle")
    user = create_user(session, email=email, password=password, name=name, role=Role.CREATOR)
    creator = Creator(
        user_id=user.id,
        display_name=display_name.strip(),
        handle=handle,
        country=country,
        languages=sorted(set(languages)),
        payout_currency=payout_currency,
        status=CreatorStatus.PENDING,
        audience_size=sum(s.followers for s in social),
    )
    creator.social_accounts = [
        SocialAccount(platform=s.platform, handle=s.handle.lstrip("@"), followers=s.followers)
        for s in social
    ]
    session.add(creator)
    session.flush()
    record(session, actor_id=user.id, action="creator.signup", target=creator)
    return creator


_CREATOR_TRANSITIONS = {
    CreatorStatus.PENDING: {CreatorStatus.APPROVED, CreatorStatus.SUSPENDED},
    CreatorStatus.APPROVED: {CreatorStatus.SUSPENDED},
    CreatorStatus.SUSPENDED: {CreatorStatus.APPROVED},
}


def set_creator_status(
    session: Session,
    creator: Creator,
    status: CreatorStatus,
    *,
    actor: User,
    now: datetime,
    note: str = "",
) -> None:
    if status not in _CREATOR_TRANSITIONS[creator.status]:
        raise AccountError(
            _l("A %(a)s creator cannot become %(b)s.", a=creator.status.value, b=status.value)
        )
    previous = creator.status
    creator.status = status
    if status == CreatorStatus.APPROVED and creator.approved_at is None:
        creator.approved_at = now
    record(
        session,
        actor_id=actor.id,
        action=f"creator.{status.value}",
        target=creator,
        data={"from": previous.value, "note": note},
    )


def remember_visitor(session: Session, user_id: int, visitor_id: str) -> None:
    """Note a visitor id seen on a creator's own signed-in browser (self-referral signal)."""
    creator_id = session.scalar(select(Creator.id).where(Creator.user_id == user_id))
    if creator_id is None:
        return
    session.execute(
        upsert_insert(session, CreatorVisitor)
        .values(creator_id=creator_id, visitor_id=visitor_id)
        .on_conflict_do_nothing()
    )
