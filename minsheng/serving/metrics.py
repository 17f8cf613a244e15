"""BentoML's HTTP metrics labelled by route template (/api/tickets/{ticket_id}), not by raw path.

BentoML 1.4.39 labels every request's series with `scope["path"]` (RunnerTrafficMetricsMiddleware, the outermost
middleware of each service): each ticket id, and each path a scanner tries, would add series to /metrics without
bound and publish the ids. It offers no option to change that, so `install()` replaces the middleware with a
subclass that hands it the template of the route that will answer (one label for all unmatched paths) and hands
the real path on to the application."""
from __future__ import annotations

from collections.abc import Sequence

from bentoml._internal.server.http import instruments
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Receive, Scope, Send

UNMATCHED = "(unmatched)"
_REAL_PATH = "minsheng.real_path"


def route_template(routes: Sequence[BaseRoute], scope: Scope, prefix: str = "") -> str | None:
    """The path template of the route that answers `scope` (a mounted app's own route when it has routes; a
    mount's path for static files), the first partial match (wrong method) when none matches fully, else None."""
    partial = None
    for route in routes:
        match, child_scope = route.matches(scope)
        if match == Match.NONE:
            continue
        template = prefix + getattr(route, "path", "")
        inner = _inner_routes(route)
        if inner:
            template = route_template(inner, {**scope, **child_scope}, template) or template
        if match == Match.FULL:
            return template
        partial = partial or template
    return partial


def _inner_routes(route: BaseRoute) -> Sequence[BaseRoute] | None:
    if isinstance(route, Mount):
        return route.routes  # a mounted app's routes; none for static files
    # FastAPI keeps an included router as one route (its routes' paths carry the router's prefix; this service
    # includes its routers without another)
    included = getattr(route, "original_router", None)
    return included.routes if included is not None else None


class RouteLabelledMetrics(instruments.RunnerTrafficMetricsMiddleware):
    def __init__(self, app: ASGIApp, **options) -> None:
        super().__init__(_with_real_path(app), **options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        # Starlette puts the application in the scope before its middleware runs
        template = route_template(scope["app"].routes, scope) or UNMATCHED
        await super().__call__({**scope, "path": template, _REAL_PATH: scope["path"]}, receive, send)


def _with_real_path(app: ASGIApp) -> ASGIApp:
    async def call(scope: Scope, receive: Receive, send: Send) -> None:
        if _REAL_PATH in scope:
            scope = {**scope, "path": scope[_REAL_PATH]}
            del scope[_REAL_PATH]
        await app(scope, receive, send)

    return call


def install() -> None:
    """Make BentoML build its services' metrics middleware from RouteLabelledMetrics (it imports the class when
    it builds a service's app, after the service module is imported)."""
    instruments.RunnerTrafficMetricsMiddleware = RouteLabelledMetrics
