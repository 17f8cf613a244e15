"""The HTTP service: a FastAPI app mounted into a BentoML service that calls the batched model service.

Requests flow: validate (schemas) → analyze text (spaCy: PII, keywords, places) → Tagger (batched model)
→ route (labels/routing.yaml) → store (one transaction) → answer."""
from __future__ import annotations

import logging

import aiohttp
import bentoml
from fastapi import Depends, HTTPException
from fastapi.responses import JSONResponse
from starlette.requests import Request

from minsheng.api.app import create_app
from minsheng.api.auth import intake, require
from minsheng.api.schemas.intake import (
    MAX_BODY_BYTES,
    ClassifyRequest,
    ClassifyResponse,
    Info,
    ModelInfo,
    SubmitRequest,
    SubmitResponse,
    Tags,
)
from minsheng.assist.assistant import Assistant, expected_embedding
from minsheng.core.labels import TASKS, load_labels
from minsheng.core.nlp import get_analyzer, masked_input
from minsheng.core.routing import Scores, intake_cues, route
from minsheng.serving import metrics
from minsheng.serving.delivery import Deliverer
from minsheng.serving.limits import BodyLimit
from minsheng.serving.overdue import start_sweep
from minsheng.serving.tagger import Tagger
from minsheng.settings import settings
from minsheng.store import (
    Analysis,
    NewTicket,
    Routing,
    create_ticket,
    find_submitted,
    first_prediction,
    make_engine,
    migrate,
    session_factory,
    ticket_to_dict,
)

log = logging.getLogger("minsheng.service")


def _log_to_stderr() -> None:
    """minsheng's own logs (tickets routed, the case base's progress) in the service's output beside BentoML's,
    which configures its own loggers only. Every worker imports this module."""
    logger = logging.getLogger("minsheng")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s [%(levelname)s] [%(name)s] %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


_log_to_stderr()
metrics.install()
app = create_app()  # its sessions, labels and assistant are set by Minsheng.__init__, in the HTTP worker


async def _overloaded(_: Request, exc: Exception) -> JSONResponse:
    """The Tagger shed the call: its queue is full."""
    return JSONResponse({"error": "overloaded: retry shortly"}, status_code=503, headers={"Retry-After": "1"})


async def _tagger_unreachable(_: Request, exc: Exception) -> JSONResponse:
    """The connection to the Tagger broke (bench/README.md 10): retryable."""
    log.warning("model service connection: %s", type(exc).__name__)
    return JSONResponse({"error": "model service unreachable: retry shortly"}, status_code=503,
                        headers={"Retry-After": "1"})


app.add_exception_handler(bentoml.exceptions.ServiceUnavailable, _overloaded)
app.add_exception_handler(aiohttp.ClientError, _tagger_unreachable)


@bentoml.service(name="minsheng", workers=1, traffic={"timeout": 60})
@bentoml.asgi_app(app, path="/")
class Minsheng:
    tagger = bentoml.depends(Tagger)

    def __init__(self) -> None:
        self.labels = load_labels()
        self.analyzer = get_analyzer()
        engine = make_engine()
        migrate(engine)
        self.sessions = session_factory(engine)
        app.state.sessions, app.state.labels = self.sessions, self.labels  # for the routers (api/deps.py)
        app.state.intake = self.intake  # Open311's requests take the path of /submit
        # similar cases and hot issues, on vectors from the Tagger (called lazily: connected after __init__)
        app.state.assistant = self.assistant = Assistant(self.sessions, lambda t: self.tagger.to_sync.embed(t))
        self.assistant.preload(expected_embedding(self.sessions))
        # the public events to the webhooks; several replicas may all deliver (claims are leased)
        self.deliverer = Deliverer(self.sessions).start() if settings().deliver else None
        start_sweep(self.sessions)

    def _tag(self, items: list[tuple[str | None, str]]) -> list[tuple[Tags, dict]]:
        """Tags and the Tagger's answer (full calibrated scores {task: {label: p}}, sentence vector) of each
        (title, text). One spaCy/jieba pass per text gives its PII, keywords and places; the model reads the
        input with that PII masked: it never sees a phone number, an ID or a name (the Tagger's client must be
        called from this request thread, which has the event loop's token)."""
        analyses = self.analyzer.pipe([text for _, text in items])
        predictions = self.tagger.to_sync.predict([masked_input(title, a.text, a.pii)
                                                   for (title, _), a in zip(items, analyses)])
        out = []
        for (title, text), analysis, p in zip(items, analyses, predictions):
            routed = route(Scores(p["scores"]), self.labels, title, text).to_dict()
            out.append((Tags(**routed, **analysis.to_dict(), model_version=p["model_version"]), p))
        return out

    @app.post("/classify", response_model=ClassifyResponse, dependencies=[Depends(intake)])
    def classify(self, body: ClassifyRequest) -> ClassifyResponse:
        """Tag up to 64 messages; nothing is stored."""
        return ClassifyResponse(results=[t for t, _ in self._tag([(m.title, m.text) for m in body.messages])])

    @app.post("/submit", response_model=SubmitResponse, status_code=201, dependencies=[Depends(intake)],
              responses={200: {"description": "already submitted: the stored ticket"},
                         409: {"description": "the external_id names a ticket with other content"}})
    def submit(self, body: SubmitRequest) -> JSONResponse:
        """Classify, route and store a ticket, all before answering. Idempotent on (channel, external_id); the
        same id with other content is a 409."""
        if body.received_at is not None and body.received_at.tzinfo is None:
            raise HTTPException(422, "received_at needs a time zone, e.g. 2026-11-24T09:30:00+08:00")
        ticket, created = self.intake(NewTicket(channel=body.channel, text=body.text, title=body.title,
                                                external_id=body.external_id, contact=body.contact,
                                                received_at=body.received_at))
        return self._submitted(ticket, created)

    def intake(self, new: NewTicket) -> tuple[dict, bool]:
        """The one intake path (/submit, Open311's POST requests): classify, route and store a ticket, all before
        answering, then group it into its hot issue. Returns (the ticket as stored, created). Idempotent on
        (channel, external_id); the same id with other content raises SubmissionConflict. Called from a request
        thread (the Tagger's client needs its event-loop token)."""
        if new.external_id is not None:  # a retried delivery costs no model call
            with self.sessions() as session:
                stored = find_submitted(session, new)
                if stored is not None:
                    return ticket_to_dict(stored), False
        tags, answer = self._tag([(new.title, new.text)])[0]
        prediction = {"model_version": tags.model_version, "label_version": self.labels.version,
                      **{field: getattr(tags, field) for task in TASKS for field in (task, f"{task}_confidence")},
                      "scores": {**answer["scores"], **intake_cues(tags.model_dump())}}
        ticket, created = create_ticket(
            self.sessions,
            new,
            prediction,
            Routing(queue=tags.queue, department=tags.department, priority=tags.priority,
                    needs_review=tags.needs_review),
            Analysis(keywords=tags.keywords, places=tags.places, pii=[p.model_dump() for p in tags.pii]),
            actor=f"intake:{new.channel}",
        )
        if created:
            log.info("ticket %s → %s (%s)", ticket["id"], ticket["queue"], ticket["priority"])
            # hot-issue grouping on the vector of the same model pass; logs, never fails, the stored ticket
            self.assistant.submitted(ticket, answer["embedding"], answer["vector"])
        return ticket, created

    def _submitted(self, ticket: dict, created: bool) -> JSONResponse:
        """The ticket as stored (on a repeat: as it is now, relabels included) with its first prediction."""
        with self.sessions() as session:
            p = first_prediction(session, ticket["id"])
        out = SubmitResponse(
            ticket_id=ticket["id"], created=created,
            **{k: v for k, v in ticket.items() if k in SubmitResponse.model_fields},  # labels as they are now
            **{f"{task}_confidence": getattr(p, f"{task}_confidence") for task in TASKS}, **intake_cues(p.scores))
        return JSONResponse(out.model_dump(mode="json"), status_code=201 if created else 200)

    @app.post("/api/admin/reload", response_model=ModelInfo, dependencies=[Depends(require("admin"))])
    def reload_model(self) -> dict:
        """Switch to the production model (after `minsheng promote`) without dropping a request."""
        return self.tagger.reload()

    @app.get("/info", response_model=Info)
    def info(self) -> Info:
        """The model and label-set versions this service answers with."""
        return Info(**{**self.tagger.info(), "label_version": self.labels.version},
                    domains=list(self.labels.domains),
                    queues={q: r.department for q, r in self.labels.queues().items()})


Minsheng.add_asgi_middleware(BodyLimit, limit=MAX_BODY_BYTES)  # every route, BentoML's own included
