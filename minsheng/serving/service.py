"""The HTTP service: a FastAPI app mounted into a BentoML service that calls the batched model service.

Requests flow: validate (schemas) → analyze text (spaCy: PII, keywords, places) → Tagger (batched model)
→ route (labels/routing.yaml) → store (one transaction) → answer."""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import aiohttp
import bentoml
from fastapi import Depends, FastAPI, HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request

from minsheng.api.auth import intake, require
from minsheng.api.routes.assist import router as assist_router
from minsheng.api.routes.review import router as review_router
from minsheng.api.schemas import (
    MAX_BODY_BYTES,
    ClassifyRequest,
    ClassifyResponse,
    Info,
    SubmitRequest,
    SubmitResponse,
    Tags,
)
from minsheng.assist.assistant import Assistant, expected_embedding
from minsheng.core.labels import load_labels
from minsheng.core.nlp import get_analyzer, masked_input
from minsheng.core.routing import Prediction, route
from minsheng.core.text import normalize
from minsheng.serving import metrics
from minsheng.serving.limits import BodyLimit
from minsheng.serving.tagger import Tagger
from minsheng.store import (
    Analysis,
    NewTicket,
    Routing,
    SubmissionConflict,
    create_ticket,
    find_submitted,
    first_prediction,
    make_engine,
    migrate,
    session_factory,
    ticket_to_dict,
)

log = logging.getLogger("minsheng.service")
metrics.install()
# FastAPI's own docs pages load their scripts from a CDN: /docs below serves Swagger UI from BentoML's copy
app = FastAPI(title="minsheng 民声", version="1", description="Tag, route and store citizen feedback.",
              docs_url=None, redoc_url=None)
app.include_router(review_router)
app.include_router(assist_router)


@app.get("/", include_in_schema=False)  # instead of BentoML's index page, which loads a third-party tag manager
def _index() -> RedirectResponse:
    return RedirectResponse("/ui/")


@app.get("/docs", include_in_schema=False)
def _docs() -> HTMLResponse:
    """The OpenAPI documentation (/openapi.json) in Swagger UI, every file from this service (BentoML serves its
    bundled copy under /static_content), and no validator badge fetched from swagger.io."""
    return get_swagger_ui_html(openapi_url=app.openapi_url, title=app.title,
                               swagger_js_url="/static_content/swagger-ui-bundle.js",
                               swagger_css_url="/static_content/swagger-ui.css",
                               swagger_favicon_url="/static_content/favicon-light-32x32.png",
                               swagger_ui_parameters={"validatorUrl": None})


def _field(loc: tuple) -> str:
    parts = loc[1:] if loc[:1] == ("body",) else loc  # FastAPI's prefix, not a field someone named "body"
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".") or "body"


@app.exception_handler(RequestValidationError)
async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
    malformed = any(e["type"] == "json_invalid" for e in exc.errors())
    problems = [{"field": "body" if malformed else _field(tuple(e["loc"])), "problem": e["msg"]}
                for e in exc.errors()]
    return JSONResponse({"error": "malformed JSON" if malformed else "invalid request", "problems": problems},
                        status_code=400 if malformed else 422)


@app.exception_handler(StarletteHTTPException)  # FastAPI's own (e.g. an undecodable body) and ours
async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.detail == "There was an error parsing the body":  # FastAPI's words for an undecodable body
        return JSONResponse({"error": "request body is not valid UTF-8 JSON"}, status_code=400)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code)


@app.exception_handler(SubmissionConflict)
async def _external_id_taken(_: Request, exc: SubmissionConflict) -> JSONResponse:
    return JSONResponse({"error": f"external_id already names ticket {exc.ticket_id}, with other content: "
                                  "a new message needs a new external_id",
                         "problems": [{"field": f, "problem": f"differs from ticket {exc.ticket_id}'s"}
                                      for f in exc.fields]}, status_code=409)


@app.exception_handler(bentoml.exceptions.ServiceUnavailable)  # the tagger shed the call: its queue is full
async def _overloaded(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"error": "overloaded: retry shortly"}, status_code=503, headers={"Retry-After": "1"})


@app.exception_handler(aiohttp.ClientError)  # the connection to the tagger broke (bench/README.md 10): retryable
async def _tagger_unreachable(_: Request, exc: Exception) -> JSONResponse:
    log.warning("model service connection: %s", type(exc).__name__)
    return JSONResponse({"error": "model service unreachable: retry shortly"}, status_code=503,
                        headers={"Retry-After": "1"})


@app.exception_handler(OperationalError)  # the database is restarting, failing over or locked: worth a retry
async def _database_unavailable(_: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", type(exc).__name__)
    return JSONResponse({"error": "database unavailable: retry shortly"}, status_code=503,
                        headers={"Retry-After": "1"})


@app.exception_handler(Exception)
async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled %s", type(exc).__name__)  # the type only: messages can carry citizens' data
    return JSONResponse({"error": "internal error"}, status_code=500)


@bentoml.service(name="minsheng", workers=1, traffic={"timeout": 60})
@bentoml.asgi_app(app, path="/")
class Minsheng:
    tagger = bentoml.depends(Tagger)

    def __init__(self) -> None:
        self.labels = load_labels()
        self.analyzer = get_analyzer()
        self._analysis = ThreadPoolExecutor(max_workers=8, thread_name_prefix="analysis")
        engine = make_engine()
        migrate(engine)
        self.sessions = session_factory(engine)
        app.state.sessions, app.state.labels = self.sessions, self.labels  # for the routes outside this class
        # similar cases and hot issues, on vectors from the Tagger (called lazily: connected after __init__)
        app.state.assistant = self.assistant = Assistant(self.sessions, lambda t: self.tagger.to_sync.embed(t))
        self.assistant.preload(expected_embedding(self.sessions))

    def _tag(self, items: list[tuple[str | None, str]]) -> list[tuple[Tags, dict]]:
        """Tags and the Tagger's answer (full calibrated scores {task: {label: p}}, sentence vector) of each
        (title, text). The model reads the PII-masked input: it never sees a phone number or an ID. The spaCy
        analysis, which the model input does not need, runs meanwhile (the Tagger is another process; the
        Tagger's client must be called from this request thread, which has the event loop's token)."""
        analyses = self._analysis.submit(self.analyzer.pipe, [normalize(text) for _, text in items])
        predictions = self.tagger.to_sync.predict([masked_input(t, x) for t, x in items])
        out = []
        for (title, text), analysis, p in zip(items, analyses.result(), predictions):
            routed = route(Prediction(p["scores"]), self.labels, title, text).to_dict()
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
        new = NewTicket(channel=body.channel, text=body.text, title=body.title, external_id=body.external_id,
                        contact=body.contact, received_at=body.received_at)
        if body.external_id is not None:  # a retried delivery costs no model call
            with self.sessions() as session:
                stored = find_submitted(session, new)
                if stored is not None:
                    return self._submitted(ticket_to_dict(stored), created=False)
        tags, answer = self._tag([(body.title, body.text)])[0]
        scores = answer["scores"]
        prediction = {
            "model_version": tags.model_version, "label_version": self.labels.version,
            "domain": tags.domain, "domain_confidence": tags.domain_confidence,
            "sentiment": tags.sentiment, "sentiment_confidence": tags.sentiment_confidence,
            "appeal": tags.appeal, "appeal_confidence": tags.appeal_confidence,
            "urgent": tags.urgent, "urgent_confidence": tags.urgent_confidence,
            "scores": {**scores, "domain_top3": [t.model_dump() for t in tags.domain_top3],
                       "urgent_cues": tags.urgent_cues, "praise_cues": tags.praise_cues,
                       "possible_emergency": tags.possible_emergency,
                       "possible_emergency_cues": tags.possible_emergency_cues},
        }
        ticket, created = create_ticket(
            self.sessions,
            new,
            prediction,
            Routing(queue=tags.queue, department=tags.department, priority=tags.priority,
                    needs_review=tags.needs_review),
            Analysis(keywords=tags.keywords, places=tags.places, pii=[p.model_dump() for p in tags.pii]),
            actor=f"intake:{body.channel}",
        )
        if created:
            log.info("ticket %s → %s (%s)", ticket["id"], ticket["queue"], ticket["priority"])
            # hot-issue grouping on the vector of the same model pass; logs, never fails, the stored ticket
            self.assistant.submitted(ticket, answer["embedding"], answer["vector"])
        return self._submitted(ticket, created)

    def _submitted(self, ticket: dict, created: bool) -> JSONResponse:
        """The ticket as stored (on a repeat: as it is now, relabels included) with its first prediction."""
        with self.sessions() as session:
            p = first_prediction(session, ticket["id"])
        top3 = p.scores.get("domain_top3", [])
        out = SubmitResponse(
            ticket_id=ticket["id"], created=created, status=ticket["status"],
            domain=ticket["domain"], domain_confidence=p.domain_confidence, domain_top3=top3,
            sentiment=ticket["sentiment"], sentiment_confidence=p.sentiment_confidence,
            appeal=ticket["appeal"], appeal_confidence=p.appeal_confidence,
            urgent=ticket["urgent"], urgent_confidence=p.urgent_confidence,
            urgent_cues=p.scores.get("urgent_cues", []), praise_cues=p.scores.get("praise_cues", []),
            possible_emergency=p.scores.get("possible_emergency", False),
            possible_emergency_cues=p.scores.get("possible_emergency_cues", []),
            queue=ticket["queue"], department=ticket["department"], priority=ticket["priority"],
            needs_review=ticket["needs_review"], keywords=ticket["keywords"], places=ticket["places"],
            pii=ticket["pii"], model_version=ticket["model_version"])
        return JSONResponse(out.model_dump(mode="json"), status_code=201 if created else 200)

    @app.post("/api/admin/reload", dependencies=[Depends(require("admin"))])
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
