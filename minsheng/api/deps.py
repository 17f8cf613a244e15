"""What the routes depend on: the database sessions, the label set, the assistant, the caller by role, and the
translation of the store's refusals into HTTP errors. The app factory (api/app.py) puts the first three on
app.state; every router takes them from here, never from another router."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.orm import Session, sessionmaker

from minsheng.api.auth import principal, require, reviewer
from minsheng.assist.assistant import Assistant
from minsheng.core.labels import LabelSet
from minsheng.store import Conflict, Invalid, NotFound, NotVisible, Principal


def store_errors() -> Iterator[None]:
    """Store refusals as the app's JSON errors; an invalid value goes through the validation handler, so it
    reads like any other 422 ({"error", "problems": [{"field", "problem"}]})."""
    try:
        yield
    except NotFound as e:
        raise HTTPException(404, str(e)) from None
    except NotVisible:
        raise HTTPException(403, "this ticket or queue belongs to another department") from None
    except Conflict as e:
        raise HTTPException(409, str(e)) from None
    except Invalid as e:
        raise RequestValidationError([{"type": "value_error", "loc": (e.field,), "msg": e.problem}]) from None


def _sessions(request: Request) -> sessionmaker[Session]:
    return request.app.state.sessions


def _labels(request: Request) -> LabelSet:
    return request.app.state.labels


def _assistant(request: Request) -> Assistant:
    assistant = request.app.state.assistant
    if assistant is None:  # an app made without a model service (api/app.py's in-process use)
        raise HTTPException(503, "similar cases need the model service, which this app runs without")
    return assistant


def _assistant_if_any(request: Request) -> Assistant | None:
    return request.app.state.assistant


Caller = Annotated[Principal, Depends(principal)]  # any role
Reviewer = Annotated[Principal, Depends(reviewer)]  # officials and admins
Admin = Annotated[Principal, Depends(require("admin"))]
CallBack = Annotated[Principal, Depends(require("intake", "admin"))]  # the hotline's call-back system (回访)
Sessions = Annotated[sessionmaker[Session], Depends(_sessions)]
Labels = Annotated[LabelSet, Depends(_labels)]
Assist = Annotated[Assistant, Depends(_assistant)]
CaseBase = Annotated[Assistant | None, Depends(_assistant_if_any)]  # where resolved tickets join the case base
