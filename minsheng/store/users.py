"""API users: hashed bearer tokens with a role (intake / official / admin) and, for officials, their queues."""
from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from minsheng.core.labels import LabelSet

from .models import AuditEvent, User, utcnow

ROLES = ("intake", "official", "admin")


class UserError(ValueError):
    """A user request that cannot be carried out: unknown role or queue, duplicate or unknown name."""


@dataclass(frozen=True)
class Principal:
    """Who is calling, as the API sees it."""

    name: str
    role: str
    departments: frozenset[str]  # queue ids, officials only

    @property
    def queues(self) -> frozenset[str] | None:
        """The queues this principal may review; None means all (admins)."""
        if self.role == "admin":
            return None
        return self.departments if self.role == "official" else frozenset()

    def may_see(self, queue: str) -> bool:
        return self.queues is None or queue in self.queues


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(sessions: sessionmaker[Session], labels: LabelSet, name: str, role: str,
                departments: Iterable[str] = (), actor: str = "cli") -> tuple[User, str]:
    """A new user and its token. The token is returned only here, once: the store keeps its hash."""
    departments = sorted(set(departments))
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; known: {', '.join(ROLES)}")
    if role == "official" and not departments:
        raise UserError("an official needs at least one queue")
    if role != "official" and departments:
        raise UserError(f"queues are for officials; a {role} has none")
    unknown = [q for q in departments if q not in labels.queues()]
    if unknown:
        raise UserError(f"unknown queue {', '.join(unknown)}; known: {', '.join(labels.queues())}")
    token = secrets.token_urlsafe(32)
    with sessions.begin() as session:
        if _active(session, name) is not None:
            raise UserError(f"user {name!r} exists; revoke it first to issue a new token")
        user = User(name=name, role=role, departments=departments, token_hash=hash_token(token))
        session.add(user)
        session.flush()
        session.add(AuditEvent(actor=actor, action="user.created",
                               detail={"user_id": user.id, "name": name, "role": role, "departments": departments}))
    return user, token


def revoke_user(sessions: sessionmaker[Session], name: str, actor: str = "cli") -> User:
    with sessions.begin() as session:
        user = _active(session, name)
        if user is None:
            raise UserError(f"no active user {name!r}")
        user.revoked_at = utcnow()
        session.add(AuditEvent(actor=actor, action="user.revoked", detail={"user_id": user.id, "name": name}))
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.name, User.id)))


def authenticate(session: Session, token: str) -> Principal | None:
    """The active user holding `token`, or None. Looking up by hash needs no constant-time comparison: timing
    reveals at most a prefix of a hash, which does not help forge a token."""
    user = session.scalars(
        select(User).where(User.token_hash == hash_token(token), User.revoked_at.is_(None))
    ).one_or_none()
    return None if user is None else _principal(user)


def active_principal(session: Session, name: str) -> Principal | None:
    """The active user called `name` as a principal (e.g. someone a ticket is assigned to), or None."""
    user = _active(session, name)
    return None if user is None else _principal(user)


def _principal(user: User) -> Principal:
    return Principal(user.name, user.role, frozenset(user.departments))


def _active(session: Session, name: str) -> User | None:
    return session.scalars(select(User).where(User.name == name, User.revoked_at.is_(None))).one_or_none()
