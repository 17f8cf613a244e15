"""Refuses request bodies larger than any valid request (413) before the application reads them, on every route
and before authentication: a client cannot make the service buffer megabytes it will refuse anyway."""
from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimit:
    """ASGI middleware: a Content-Length over `limit` is answered at once, unread; a body without one (chunked) is
    read up to `limit` here, then handed on, or answered so as soon as it goes over."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:  # the server (h11/httptools) has refused a malformed one already
            if int(length) > self.limit:
                await self._too_large(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        received: list[Message] = []
        size = 0
        while not received or received[-1]["type"] == "http.request" and received[-1].get("more_body"):
            message = await receive()
            received.append(message)
            size += len(message.get("body", b""))
            if size > self.limit:
                await self._too_large(scope, receive, send)
                return

        async def replay() -> Message:
            return received.pop(0) if received else await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = JSONResponse({"error": "request body too large",
                               "problems": [{"field": "body", "problem": f"more than {self.limit} bytes"}]},
                              status_code=413, headers={"Connection": "close"})
        await answer(scope, receive, send)
