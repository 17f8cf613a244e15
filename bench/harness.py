"""Shared by speed.py, load.py and faults.py: the messages, a bounded closed-loop HTTP load generator, latency
statistics, a `minsheng serve` subprocess (tests/serving.py's ServerProcess) and RSS sampling.

Only loopback traffic. Every loop here is bounded by a deadline and by a request count."""
from __future__ import annotations

import http.client
import json
import os
import platform
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.serving import ServerProcess, free_port  # noqa: E402,F401  (free_port: for the scripts)

RESULTS = ROOT / "bench" / "results"
SHIPPED_MODEL_META = ROOT / "models" / "default" / "minsheng.json"
# what the bench scripts write: a change to these alone does not make the measured code differ from the commit
OUTPUTS = ("bench/results", "bench/README.md", "bench/hot_issues.md", "bench/similar_cases.md",
           "bench/reply_quality.md")
RUNS = ROOT / "build" / "bench-runs"  # server folders (databases, logs, model stores); gitignored build/
MAX_REQUESTS_PER_POINT = 200_000  # a hard bound besides each point's deadline


# -- messages ---------------------------------------------------------------------------------------------
def messages(name: str = "domain/dev", n: int | None = None, seed: int = 7) -> list[dict[str, str]]:
    """Real messages ({"title", "text"}) from data/<name>.csv, within the API's limits, shuffled (seeded)."""
    import pandas as pd

    frame = pd.read_csv(ROOT / "data" / f"{name}.csv", dtype=str, keep_default_na=False)
    out = [{"title": t.strip()[:500] or None, "text": x.strip()} for t, x in zip(frame.get("title", ""), frame["text"])
           if 0 < len(x.strip()) <= 5000]
    random.Random(seed).shuffle(out)
    return out[:n] if n else out


# -- the model in-process ------------------------------------------------------------------------------------
def load_classifier(quantize: str | None = None, threads: int | None = None):
    from minsheng.model.classifier import Classifier

    return Classifier.load(ROOT / "models" / "default", threads=threads, quantize=quantize or "off")


def model_inputs(msgs: list[dict[str, str]]) -> list[str]:
    from minsheng.core.text import model_input

    return [model_input(m["title"], m["text"]) for m in msgs]


# -- latency statistics -------------------------------------------------------------------------------------
def summarize(latencies_s: list[float], ok: int, elapsed: float, msgs_per_request: int = 1) -> dict[str, Any]:
    lat = np.asarray(latencies_s) * 1000.0
    pct = (lambda q: round(float(np.percentile(lat, q)), 1)) if len(lat) else (lambda q: None)
    return {"requests_ok": ok, "seconds": round(elapsed, 2),
            "msgs_per_s": round(ok * msgs_per_request / elapsed, 2) if elapsed else 0.0,
            "p50_ms": pct(50), "p95_ms": pct(95), "p99_ms": pct(99),
            "mean_ms": round(float(lat.mean()), 1) if len(lat) else None}


# -- closed-loop load -----------------------------------------------------------------------------------------
@dataclass
class Result:
    """One request: when it started (monotonic), how long it took, its status (0 = no answer) and answer."""
    start: float
    latency: float
    status: int
    body: Any = None
    meta: Any = None


@dataclass
class LoadRun:
    results: list[Result] = field(default_factory=list)
    t0: float = 0.0
    t1: float = 0.0

    def window(self, after: float = 0.0) -> list[Result]:
        """Requests that started at least `after` seconds into the run."""
        return [r for r in self.results if r.start >= self.t0 + after]

    def statuses(self) -> dict[str, int]:
        """Counts per HTTP status; no answer at all counts as "0 <exception type>"."""
        out: dict[str, int] = {}
        for r in self.results:
            key = f"0 {r.body}" if r.status == 0 else str(r.status)
            out[key] = out.get(key, 0) + 1
        return dict(sorted(out.items()))


def _connection(url: str) -> http.client.HTTPConnection:
    host_port = url.split("://", 1)[1].rstrip("/")
    host, port = host_port.split(":")
    assert host in ("127.0.0.1", "localhost"), "load tests talk to loopback only"
    return http.client.HTTPConnection(host, int(port), timeout=120)


def request(conn: http.client.HTTPConnection, method: str, path: str, body: Any = None,
            headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
    hdrs = {"content-type": "application/json", **(headers or {})}
    conn.request(method, path, body=data, headers=hdrs)
    resp = conn.getresponse()
    raw = resp.read()
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw[:200]
    return resp.status, parsed


def closed_loop(url: str, clients: int, seconds: float,
                make: Callable[[int, int], tuple[str, str, Any, Any]],
                headers: dict[str, str] | None = None, keep_body: bool = False,
                max_requests: int = MAX_REQUESTS_PER_POINT,
                on_result: Callable[[int, Result], None] | None = None,
                stop: threading.Event | None = None) -> LoadRun:
    """`clients` threads, each with its own keep-alive connection, sending back to back until `seconds` pass
    (or `max_requests` in all, or `stop` is set). make(client, seq) -> (method, path, body, meta). A request
    that gets no answer (connection refused or reset, timeout) is recorded with status 0 and the client
    reconnects after a short pause."""
    run = LoadRun()
    lock = threading.Lock()
    count = [0]
    run.t0 = time.monotonic()
    deadline = run.t0 + seconds
    stop = stop or threading.Event()

    def worker(c: int) -> None:
        conn = _connection(url)
        seq = 0
        while time.monotonic() < deadline and not stop.is_set():
            with lock:
                if count[0] >= max_requests:
                    return
                count[0] += 1
            method, path, body, meta = make(c, seq)
            seq += 1
            t = time.monotonic()
            try:
                status, answer = request(conn, method, path, body, headers)
            except (OSError, http.client.HTTPException) as e:
                status, answer = 0, type(e).__name__
                conn.close()
                time.sleep(0.2)
                conn = _connection(url)
            r = Result(t, time.monotonic() - t, status, answer if keep_body or status == 0 else None, meta)
            with lock:
                run.results.append(r)
            if on_result:
                on_result(c, r)
        conn.close()

    threads = [threading.Thread(target=worker, args=(c,), daemon=True) for c in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=seconds + 180)
    run.t1 = time.monotonic()
    return run


def measure(url: str, clients: int, seconds: float, make, headers=None, warmup: float = 3.0,
            msgs_per_request: int = 1) -> dict[str, Any]:
    """A closed-loop point: the first `warmup` seconds are discarded; figures over the requests that started
    after it and finished by the end."""
    run = closed_loop(url, clients, warmup + seconds, make, headers)
    kept = run.window(after=warmup)
    ok = [r for r in kept if 200 <= r.status < 300]
    elapsed = max(r.start + r.latency for r in kept) - (run.t0 + warmup) if kept else seconds
    out = summarize([r.latency for r in ok], len(ok), elapsed, msgs_per_request)
    out.update(clients=clients, statuses=run.statuses())
    return out


# -- servers ------------------------------------------------------------------------------------------------
def bentoml_home() -> Path:
    """A model store of the bench's own, so the service serves the shipped models/default (imported on first
    start), not whatever the user's ~/bentoml holds. A new shipped version gets a fresh store."""
    version = json.loads(SHIPPED_MODEL_META.read_text(encoding="utf-8"))["version"]
    home = RUNS / f"bentoml-{version}"
    home.mkdir(parents=True, exist_ok=True)
    return home


def new_workdir(name: str) -> Path:
    RUNS.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=RUNS))


def start_server(name: str, env: dict[str, str] | None = None, workdir: Path | None = None) -> ServerProcess:
    """A real `minsheng serve` in its own process group (tests/serving.py)."""
    workdir = workdir or new_workdir(name)
    base = {"BENTOML_HOME": str(bentoml_home()), "BENTOML_DO_NOT_TRACK": "True"}
    srv = ServerProcess(workdir, {**base, **(env or {})}, startup_timeout=300)
    t = time.monotonic()
    srv.start()
    srv.startup_s = round(time.monotonic() - t, 1)
    return srv


def kill9_all(srv: ServerProcess) -> list[int]:
    """kill -9 of every process group of the service: the `minsheng serve` one and each BentoML worker's own."""
    pgids = set()
    for p in srv.processes():
        try:
            pgids.add(os.getpgid(p.pid))
        except OSError:
            pass
    for g in pgids:
        try:
            os.killpg(g, 9)
        except OSError:
            pass
    return sorted(pgids)


def service_env(quantize: str, threads: int | None = None) -> dict[str, str]:
    """Environment of a server variant: MINSHENG_QUANTIZE ("int8", "off" = fp32) and MINSHENG_THREADS (unset: the
    service's default: a batch worker per core)."""
    env = {"MINSHENG_QUANTIZE": quantize}
    if threads:
        env["MINSHENG_THREADS"] = str(threads)
    return env


def variant_name(quantize: str | None, threads: int | None) -> str:
    return "-".join(["int8" if quantize == "int8" else "fp32"] + ([f"t{threads}"] if threads else []))


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def rss_mb(srv: ServerProcess) -> dict[str, float]:
    import psutil

    out: dict[str, float] = {}
    for p in srv.processes():
        try:
            cmd = " ".join(p.cmdline())
            if "_bentoml_impl.worker" in cmd:
                role = "tagger worker" if "minsheng-tagger" in cmd else "entry worker (minsheng)"
            elif "bentoml serve" in cmd or "bentoml" in cmd:
                role = "bentoml serve (supervisor)"
            else:
                role = " ".join(p.cmdline()[1:3])[-40:]
            out[f"{role} [{p.pid}]"] = round(p.memory_info().rss / 2**20, 1)
        except psutil.Error:
            pass
    return out


def _cpu_model() -> str:
    try:
        return next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name")), "")
    except OSError:
        return ""


def machine() -> dict[str, Any]:
    import torch

    try:
        load = os.getloadavg()
    except OSError:
        load = (None,) * 3
    model = json.loads(SHIPPED_MODEL_META.read_text(encoding="utf-8"))
    # the CPU model and the vector instructions torch's kernels use: the same int8 model ran ~3x slower, and
    # scored a little differently, on a later machine with AVX2 only (bench/README.md, finding 17)
    return {"cpus": os.cpu_count(), "cpu": platform.processor() or platform.machine(), "cpu_model": _cpu_model(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "loadavg_at_start": [round(x, 2) for x in load if x is not None], "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "model_version": model["version"],
            "time": time.strftime("%Y-%m-%d %H:%M:%S %z")}


def provenance(model_version: str | None = None) -> dict[str, Any]:
    """What a result was measured with: the model (default: the shipped one) and the git commit of the code,
    flagged when the working tree had other changes."""
    import subprocess

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.strip()
        except OSError:
            return ""

    changed = git("status", "--porcelain", "--", ".", *(f":!{p}" for p in OUTPUTS))
    version = model_version or json.loads(SHIPPED_MODEL_META.read_text(encoding="utf-8"))["version"]
    return {"model_version": version, "git_commit": git("rev-parse", "HEAD") or None,
            "uncommitted_changes": bool(changed), "measured_at": time.strftime("%Y-%m-%d %H:%M:%S %z")}


def save(name: str, data: dict[str, Any], model_version: str | None = None) -> Path:
    """Writes results/<name>.json, stamped with its provenance()."""
    data["provenance"] = provenance(model_version)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def verdict(checks: dict[str, bool]) -> int:
    """Prints each acceptance condition's result; the script's exit status: 1 when one failed."""
    for k, ok in checks.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {k}")
    return 0 if all(checks.values()) else 1
