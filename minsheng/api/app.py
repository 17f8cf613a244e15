"""The FastAPI app: the routers, the docs page, and one JSON error shape for every failure. serving/service.py
mounts it into the BentoML service, which adds the intake routes and fills app.state; tests and tools can also
run it in process (create_app(sessions, labels)) on a database of their own."""
from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request

from minsheng.api.routes.assist import router as assist_router
from minsheng.api.routes.closed_loop import router as closed_loop_router
from minsheng.api.routes.open311 import router as open311_router
from minsheng.api.routes.review import router as review_router
from minsheng.api.routes.webhooks import router as webhooks_router
from minsheng.assist.assistant import Assistant
from minsheng.core.labels import LabelSet
from minsheng.store import SubmissionConflict

log = logging.getLogger("minsheng.api")


def create_app(sessions: sessionmaker[Session] | None = None, labels: LabelSet | None = None,
               assistant: Assistant | None = None) -> FastAPI:
    """The app with its routes and error handlers. sessions and labels may be set later on app.state (the
    BentoML service does, once its database is migrated); without an assistant, similar cases answer 503."""
    # FastAPI's own docs pages load their scripts from a CDN: /docs below serves Swagger UI from BentoML's copy
    app = FastAPI(title="minsheng 民声", version="1", description="Tag, route and store citizen feedback.",
                  docs_url=None, redoc_url=None)
    app.state.sessions, app.state.labels, app.state.assistant = sessions, labels, assistant
    app.state.intake = None  # the service's intake path (Open311's POST requests); set by the BentoML service
    app.include_router(review_router)
    app.include_router(assist_router)
    app.include_router(webhooks_router)
    app.include_router(open311_router)
    app.include_router(closed_loop_router)

    @app.get("/", include_in_schema=False)  # instead of BentoML's index page, which loads a third-party tag manager
    def _index() -> RedirectResponse:
        return RedirectResponse("/ui/")

    @app.get("/docs", include_in_schema=False)
    def _docs() -> HTMLResponse:
        """The OpenAPI documentation (/openapi.json) in Swagger UI, every file from this service (BentoML serves
        its bundled copy under /static_content), and no validator badge fetched from swagger.io."""
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=app.title,
                                   swagger_js_url="/static_content/swagger-ui-bundle.js",
                                   swagger_css_url="/static_content/swagger-ui.css",
                                   swagger_favicon_url="/static_content/favicon-light-32x32.png",
                                   swagger_ui_parameters={"validatorUrl": None})

    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _http_error)  # FastAPI's own (an undecodable body) and ours
    app.add_exception_handler(SubmissionConflict, _external_id_taken)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(Exception, _unexpected)
    return app


def _field(loc: tuple) -> str:
    parts = loc[1:] if loc[:1] == ("body",) else loc  # FastAPI's prefix, not a field someone named "body"
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".") or "body"


async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
    malformed = any(e["type"] == "json_invalid" for e in exc.errors())
    problems = [{"field": "body" if malformed else _field(tuple(e["loc"])), "problem": e["msg"]}
                for e in exc.errors()]
    return JSONResponse({"error": "malformed JSON" if malformed else "invalid request", "problems": problems},
                        status_code=400 if malformed else 422)


async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.detail == "There was an error parsing the body":  # FastAPI's words for an undecodable body
        return JSONResponse({"error": "request body is not valid UTF-8 JSON"}, status_code=400)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code)


async def _external_id_taken(_: Request, exc: SubmissionConflict) -> JSONResponse:
    return JSONResponse({"error": f"external_id already names ticket {exc.ticket_id}, with other content: "
                                  "a new message needs a new external_id",
                         "problems": [{"field": f, "problem": f"differs from ticket {exc.ticket_id}'s"}
                                      for f in exc.fields]}, status_code=409)


async def _database_unavailable(_: Request, exc: Exception) -> JSONResponse:
    """The database is restarting, failing over or locked: worth a retry."""
    log.warning("database unavailable: %s", type(exc).__name__)
    return JSONResponse({"error": "database unavailable: retry shortly"}, status_code=503,
                        headers={"Retry-After": "1"})


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled %s", type(exc).__name__)  # the type only: messages can carry citizens' data
    return JSONResponse({"error": "internal error"}, status_code=500)
