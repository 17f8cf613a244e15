"""A real `minsheng serve` (BentoML) subprocess for tests: own port, model store, data folder and database."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    def __init__(self, workdir: Path, env: dict[str, str] | None = None, startup_timeout: float = 240):
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # no case-base build in the background unless a test asks: it would take the CPU from every other test
        self.env = {**os.environ, "MINSHENG_DATA_DIR": str(workdir / "data"), "MINSHENG_BUILD_CASES": "off",
                    **(env or {})}
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen | None = None
        self.log = workdir / "server.log"

    def start(self) -> "ServerProcess":
        # own process group: stopping it stops BentoML's worker processes too
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "minsheng.cli", "serve", "--port", str(self.port)],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(1)
        self.stop()
        raise RuntimeError(f"server not ready in {self.startup_timeout}s:\n{self.log.read_text()[-3000:]}")

    def processes(self) -> list[psutil.Process]:
        """`minsheng serve` and all its descendants (BentoML's workers, each in a session of its own)."""
        try:
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        except (psutil.NoSuchProcess, AttributeError):
            return []

    def stop(self, sig: int = signal.SIGTERM) -> list[int]:
        """Signal the process group, then SIGKILL any descendant still alive: BentoML's workers run in sessions
        of their own, and orphans would keep answering on the inherited socket. Returns the pids killed so."""
        if not self.proc or self.proc.poll() is not None:
            return []
        procs = self.processes()
        os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        killed = []
        for p in procs:
            try:
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    p.kill()
                    killed.append(p.pid)
            except psutil.Error:
                pass
        return killed

    def restart(self) -> "ServerProcess":
        self.stop()
        return self.start()

    @property
    def db_url(self) -> str:
        return self.env.get("MINSHENG_DB_URL") or f"sqlite:///{self.workdir / 'data' / 'minsheng.db'}"

    def token(self, role: str = "intake", queues: list[str] | None = None) -> str:
        """A new user of `role` in this server's database; returns its bearer token."""
        from minsheng.core.labels import load_labels
        from minsheng.store import create_user, make_engine, session_factory

        engine = make_engine(self.db_url)
        try:
            _, token = create_user(session_factory(engine), load_labels(), f"{role}-{uuid.uuid4().hex[:8]}", role,
                                   queues or [])
        finally:
            engine.dispose()
        return token

    def build_case_base(self, limit: int) -> str:
        """`minsheng cases build --limit LIMIT` on this server's database, with the model the server runs (the
        public case base from data/cases); returns its output."""
        with self.client() as client:
            version = client.get("/info").json()["model_version"]
        done = subprocess.run([sys.executable, "-m", "minsheng.cli", "cases", "build", "--limit", str(limit),
                               "--model", f"minsheng-classifier:{version}"],
                              cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    def client(self, token: str | None = None, **kwargs) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, timeout=60, headers=headers, **kwargs)
