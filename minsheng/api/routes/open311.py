"""Open311 GeoReport v2 under /open311/v2/: the 15 domains as services, a service request as a ticket (the
intake path of /submit: classified and routed), and its progress (办理进度查询) for citizens and apps.

Where this departs from the spec (README.md, "Open311" lists them): the citizen's service_code is accepted but
the classifier routes; a description is required; coordinates and media are not stored; a request's answer shows
its progress only (no description, address or reply); listing requests needs service_request_id. Errors are the
spec's list of {code, description}. JSON, and XML where the path ends in .xml."""
from __future__ import annotations

import re
from typing import Annotated, Any
from xml.sax.saxutils import escape

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from minsheng.api.auth import intake_key
from minsheng.api.deps import Labels, Sessions
from minsheng.api.schemas.intake import SubmitRequest
from minsheng.api.schemas.open311 import (
    RequestCreated,
    Service,
    ServiceDefinition,
    ServiceRequest,
)
from minsheng.core.labels import LabelSet
from minsheng.store import NewTicket, SubmissionConflict, Ticket

router = APIRouter(prefix="/open311/v2", tags=["open311"])
CHANNEL = "open311"
MAX_DESCRIPTION = 4000  # the spec's limit
MAX_IDS = 100  # service_request_id values in one lookup
PUBLIC_ID = re.compile(r"[0-9a-f]{32}")
STATUS_NOTES = {"triage": "已受理，正在分拨", "open": "已受理，已转{department}办理", "claimed": "{department}正在办理",
                "resolved": "已办结"}


class Problem(Exception):
    """An answer in the spec's error shape: [{"code", "description"}], code being the HTTP status."""

    def __init__(self, code: int, description: str):
        self.code, self.description = code, description


def _answer(fmt: str, root: str, item: str, rows: list[dict[str, Any]], status: int = 200) -> Response:
    if fmt == "xml":
        return Response(_xml(root, item, rows), status_code=status, media_type="text/xml; charset=utf-8")
    return JSONResponse(rows, status_code=status)


def _xml(root: str, item: str, rows: list[dict[str, Any]]) -> str:
    def value(v: Any) -> str:
        return "true" if v is True else "false" if v is False else "" if v is None else escape(str(v))

    body = "".join(f"<{item}>" + "".join(f"<{k}>{value(v)}</{k}>" for k, v in row.items()) + f"</{item}>"
                   for row in rows)
    return f'<?xml version="1.0" encoding="utf-8"?><{root}>{body}</{root}>'


def _error(fmt: str, problem: Problem) -> Response:
    return _answer(fmt if fmt == "xml" else "json", "errors", "error",
                   [{"code": problem.code, "description": problem.description}], problem.code)


def _format(fmt: str) -> str:
    if fmt not in ("json", "xml"):
        raise Problem(404, f"unknown format {fmt!r}: use .json or .xml")
    return fmt


def _codes(labels: LabelSet) -> set[str]:
    """The services' codes: the domains' queues (not triage, which no citizen chooses)."""
    return {route.queue for route in labels.routes.values()}


def _services(labels: LabelSet) -> list[dict[str, Any]]:
    return [Service(service_code=route.queue, service_name=domain, group=route.department, metadata=False,
                    type="realtime", description=f"{domain}方面的诉求、投诉、建议和咨询，由{route.department}办理",
                    keywords=",".join(labels.taxonomy.get(domain, {}))).model_dump()
            for domain, route in labels.routes.items()]


@router.get("/services.{fmt}", response_model=list[Service])
def services(fmt: str, labels: Labels, jurisdiction_id: str | None = None) -> Response:
    """The 15 domains as services; group is the department."""
    try:
        return _answer(_format(fmt), "services", "service", _services(labels))
    except Problem as p:
        return _error(fmt, p)


@router.get("/services/{service_code}.{fmt}", response_model=ServiceDefinition)
def service_definition(service_code: str, fmt: str, labels: Labels) -> Response:
    """No service has attributes (metadata is false); answered for clients that ask anyway."""
    try:
        _format(fmt)
        if service_code not in _codes(labels):
            raise Problem(404, f"no service {service_code!r}")
        row = ServiceDefinition(service_code=service_code).model_dump()
        if fmt == "xml":
            return Response(f'<?xml version="1.0" encoding="utf-8"?><service_definition><service_code>'
                            f'{escape(service_code)}</service_code><attributes/></service_definition>',
                            media_type="text/xml; charset=utf-8")
        return JSONResponse(row)
    except Problem as p:
        return _error(fmt, p)


@router.post("/requests.{fmt}", response_model=list[RequestCreated], status_code=201)
async def create_request(fmt: str, request: Request, labels: Labels) -> Response:
    """A service request (form-encoded, as the spec says) becomes a ticket through the intake path of /submit:
    classified and routed whatever service_code says. api_key is an intake token (or send it as a bearer)."""
    try:
        _format(fmt)
        form = await request.form()
        if any(not isinstance(v, str) for v in form.values()):
            raise Problem(400, "media uploads are not accepted: give media_url")
        await run_in_threadpool(intake_key, request, form.get("api_key"))
        new = _new_ticket(form, labels)
        intake = request.app.state.intake
        if intake is None:
            raise Problem(503, "intake needs the model service, which this app runs without")
        ticket, _ = await run_in_threadpool(intake, new)
        notice = STATUS_NOTES["triage" if ticket["needs_review"] else "open"].format(department=ticket["department"])
        return _answer(fmt, "service_requests", "request",
                       [RequestCreated(service_request_id=ticket["public_id"], service_notice=notice).model_dump()],
                       201)
    except Problem as p:
        return _error(fmt, p)
    except HTTPException as e:
        return _error(fmt, Problem(e.status_code, str(e.detail)))
    except SubmissionConflict as e:
        return _error(fmt, Problem(409, str(e)))


def _new_ticket(form, labels: LabelSet) -> NewTicket:
    service_code = form.get("service_code")
    if not service_code:
        raise Problem(400, "service_code is required (GET services.json lists them)")
    if service_code not in _codes(labels):
        raise Problem(400, f"unknown service_code {service_code!r}")
    description = (form.get("description") or "").strip()
    if not description:
        raise Problem(400, "description is required: it is what the request says")
    if len(description) > MAX_DESCRIPTION:
        raise Problem(400, f"description is longer than {MAX_DESCRIPTION} characters")
    address = (form.get("address_string") or "").strip()
    text = f"{description}\n地点：{address}" if address else description
    name = " ".join(p for p in (form.get("last_name"), form.get("first_name")) if p)
    contact = " ".join(p for p in (name, form.get("phone"), form.get("email")) if p) or None
    try:  # /submit's limits: lengths, control characters
        body = SubmitRequest(channel=CHANNEL, text=text, contact=contact)
    except ValidationError as e:
        raise Problem(400, "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
                      .replace("text:", "description/address_string:")) from None
    return NewTicket(channel=CHANNEL, text=body.text, contact=body.contact)


def _status_row(ticket: Ticket, labels: LabelSet) -> dict[str, Any]:
    domain = next((d for d, r in labels.routes.items() if r.queue == ticket.queue), None)
    state = "triage" if ticket.needs_review and ticket.status == "open" else ticket.status
    requested = ticket.received_at or ticket.created_at
    return ServiceRequest(
        service_request_id=ticket.public_id, status="closed" if ticket.status == "resolved" else "open",
        status_notes=STATUS_NOTES[state].format(department=ticket.department),
        service_name=domain, service_code=ticket.queue if domain else None,
        agency_responsible=None if state == "triage" else ticket.department,
        requested_datetime=requested.isoformat(), updated_datetime=ticket.updated_at.isoformat(),
        expected_datetime=_expected(ticket)).model_dump()


def _expected(ticket: Ticket) -> str | None:
    """The time limit (办理时限) of an open request; none once closed, or for a ticket stored before time limits."""
    return ticket.due_at.isoformat() if ticket.due_at is not None and ticket.status != "resolved" else None


def _lookup(sessions, labels: LabelSet, ids: list[str]) -> list[dict[str, Any]]:
    with sessions() as session:
        found = {t.public_id: t for t in session.scalars(select(Ticket).where(Ticket.public_id.in_(ids)))}
        return [_status_row(found[i], labels) for i in ids if i in found]


def _ids(raw: str) -> list[str]:
    """The request ids are the tickets' random public ids (32 hex digits), not their sequential ones."""
    parts = [p.strip().lower() for p in raw.split(",") if p.strip()]
    if not parts or len(parts) > MAX_IDS or not all(PUBLIC_ID.fullmatch(p) for p in parts):
        raise Problem(400, f"service_request_id: 1 to {MAX_IDS} request ids (32 hex digits), comma-separated")
    return parts


@router.get("/requests/{service_request_id}.{fmt}", response_model=list[ServiceRequest])
def request_status(service_request_id: str, fmt: str, sessions: Sessions, labels: Labels,
                   jurisdiction_id: str | None = None) -> Response:
    """One request's progress: open/closed, notes, the department, requested/updated/expected times."""
    try:
        rows = _lookup(sessions, labels, _ids(service_request_id))
        if not rows:
            raise Problem(404, f"no service request {service_request_id}")
        return _answer(_format(fmt), "service_requests", "request", rows)
    except Problem as p:
        return _error(fmt, p)


@router.get("/requests.{fmt}", response_model=list[ServiceRequest])
def requests_status(fmt: str, sessions: Sessions, labels: Labels,
                    service_request_id: Annotated[str | None, Query(max_length=1200)] = None,
                    jurisdiction_id: str | None = None) -> Response:
    """The progress of the requests named (service_request_id=1,2,3); unknown ids are left out. Listing without
    ids (the spec's search by date, status or service) is not offered: requests are private to who made them."""
    try:
        _format(fmt)
        if service_request_id is None:
            raise Problem(400, "give service_request_id: listing requests is not offered")
        return _answer(fmt, "service_requests", "request", _lookup(sessions, labels, _ids(service_request_id)))
    except Problem as p:
        return _error(fmt, p)
