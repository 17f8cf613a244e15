"""A real HTTP server receiving minsheng's webhooks, for tests (test_events.py, test_open311.py)."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """A real HTTP server receiving webhooks: answers 503 to the first `fail_first` requests, then 200; can hold
    one request open (to kill the sender mid-send); refuses (401) and counts a request whose signature does not verify."""

    def __init__(self, secret: str, fail_first: int = 0, hold_first: bool = False):
        self.secret, self.fail_first, self.hold_first = secret, fail_first, hold_first
        self.received: list[dict] = []  # the accepted deliveries, in arrival order
        self.requests = 0
        self.forged = 0  # requests whose signature did not verify
        self.held, self.release = threading.Event(), threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                t, v1 = (part.split("=", 1)[1] for part in self.headers["X-Minsheng-Signature"].split(","))
                good = hmac.new(receiver.secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
                receiver.requests += 1
                if not hmac.compare_digest(good, v1):
                    receiver.forged += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                if receiver.hold_first and receiver.requests == 1:
                    receiver.held.set()
                    receiver.release.wait(60)
                    return  # no answer: the sender died meanwhile
                if receiver.requests <= receiver.fail_first:
                    self.send_response(503)
                    self.end_headers()
                    return
                event = json.loads(body)
                assert event["id"] == self.headers["X-Minsheng-Event-Id"]
                receiver.received.append(event)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def unique(self) -> list[dict]:
        """The events as a receiver de-duplicating on the id keeps them."""
        seen, out = set(), []
        for e in self.received:
            if e["id"] not in seen:
                seen.add(e["id"])
                out.append(e)
        return out

    def close(self):
        self.release.set()
        self.server.shutdown()
