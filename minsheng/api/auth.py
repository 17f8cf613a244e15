"""Bearer tokens → principals, and the role rules of the HTTP API.

intake: /classify and /submit only. official: the review API on the queues it is bound to. admin: everything.
/classify and /submit accept intake and admin tokens; MINSHENG_AUTH=off opens them (a trusted network in front,
or local trials). The review API always needs a token: every change there is recorded under the caller's name."""
from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request

from minsheng.settings import settings
from minsheng.store import Principal, authenticate


def principal(request: Request) -> Principal:
    """The holder of the request's `Authorization: Bearer <token>`; 401 without one or with an unknown or revoked
    token."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "sign in: send Authorization: Bearer <token>")
    with request.app.state.sessions() as session:
        found = authenticate(session, token.strip())
    if found is None:
        raise HTTPException(401, "unknown or revoked token")
    return found


def require(*roles: str) -> Callable[[Principal], Principal]:
    def check(caller: Annotated[Principal, Depends(principal)]) -> Principal:
        if caller.role not in roles:
            raise HTTPException(403, f"a {caller.role} token may not use this route")
        return caller

    return check


reviewer = require("official", "admin")


def intake(request: Request) -> None:
    """Guards /classify and /submit."""
    if settings().auth:
        require("intake", "admin")(principal(request))


def intake_key(request: Request, api_key: str | None) -> None:
    """Guards Open311's POST requests like /submit: the spec's api_key (or a bearer token) is an intake token."""
    if not settings().auth:
        return
    if api_key:
        with request.app.state.sessions() as session:
            found = authenticate(session, api_key.strip())
        if found is None:
            raise HTTPException(401, "unknown or revoked api_key")
        require("intake", "admin")(found)
    else:
        require("intake", "admin")(principal(request))


def may_see_pii(caller: Principal, ticket: dict[str, Any]) -> bool:
    """Need to know: the official handling the ticket (its claimer) reads it whole, to contact the citizen; admins
    too. Other officials of the queue browse it with PII masked until they claim it."""
    return caller.role == "admin" or (ticket["claimed_by"] == caller.name and caller.may_see(ticket["queue"]))
