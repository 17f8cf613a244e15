"""Load: 32 concurrent clients for 60 s on a real `minsheng serve` (SQLite), half on /classify (one message a
request), half on /submit (a new external_id each), while the RSS of every server process (psutil; the
`minsheng serve`/BentoML parent and its workers) is sampled every 2 s.

    .venv/bin/python bench/load.py [--clients 32] [--seconds 60]

Passes when (bench/conditions.py): no 5xx other than 503 (documented back-pressure), 503 for at most 5% of the
answers, each route answering at least 3 2xx a second, no request without an answer, every 201 of /submit is one
ticket in the database, and memory stays flat: the total RSS at the end is within max(5%, 40 MiB) of the total
after the first 15 s (allocator and batch-size warm-up before that). Exits 1 otherwise. Writes
bench/results/load.json."""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conditions import load_checks  # noqa: E402
from harness import (  # noqa: E402
    closed_loop,
    loadavg,
    machine,
    messages,
    rss_mb,
    save,
    service_env,
    start_server,
    summarize,
    variant_name,
    verdict,
)

from minsheng.settings import QUANTIZATIONS, SERVED_QUANTIZE  # noqa: E402

BASELINE_AFTER_S = 15


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--quantize", choices=QUANTIZATIONS, default=SERVED_QUANTIZE,
                        help=f"MINSHENG_QUANTIZE of the service (default {SERVED_QUANTIZE}; off: fp32)")
    parser.add_argument("--threads", type=int, help="MINSHENG_THREADS of the model service")
    parser.add_argument("--name", help="results file name (default load[-variant])")
    args = parser.parse_args()
    variant = variant_name(args.quantize, args.threads)

    msgs = messages("domain/dev")
    data = {"machine": machine(), "variant": variant, "clients": args.clients, "seconds": args.seconds}
    srv = start_server("load", service_env(args.quantize, args.threads))
    try:
        headers = {"Authorization": f"Bearer {srv.token('intake')}"}
        run = os.urandom(4).hex()

        def make(client: int, seq: int):
            m = msgs[(client * 997 + seq) % len(msgs)]
            if client % 2 == 0:
                return "POST", "/classify", {"messages": [m]}, "classify"
            return "POST", "/submit", {**m, "channel": "load", "external_id": f"{run}-{client}-{seq}"}, "submit"

        samples: list[tuple[float, dict[str, float]]] = [(0.0, rss_mb(srv))]
        stop = threading.Event()
        t0 = time.monotonic()

        def sampler() -> None:
            while not stop.wait(2.0):
                samples.append((round(time.monotonic() - t0, 1), rss_mb(srv)))

        th = threading.Thread(target=sampler, daemon=True)
        th.start()
        print(f"load: {args.clients} clients for {args.seconds:.0f} s on /classify and /submit ...", flush=True)
        result = closed_loop(srv.url, args.clients, args.seconds, make, headers, keep_body=True)
        stop.set()
        th.join(timeout=10)
        samples.append((round(time.monotonic() - t0, 1), rss_mb(srv)))

        per_route = {}
        for route in ("classify", "submit"):
            rs = [r for r in result.results if r.meta == route]
            ok = [r for r in rs if 200 <= r.status < 300]
            statuses: dict[str, int] = {}
            for r in rs:
                key = f"0 {r.body}" if r.status == 0 else str(r.status)
                statuses[key] = statuses.get(key, 0) + 1
            per_route[route] = {**summarize([r.latency for r in ok], len(ok), result.t1 - result.t0),
                                "statuses": dict(sorted(statuses.items()))}
        created = {r.body["ticket_id"] for r in result.results
                   if r.meta == "submit" and r.status == 201 and isinstance(r.body, dict)}

        from sqlalchemy import create_engine, text

        engine = create_engine(srv.db_url)
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT count(*) FROM ticket WHERE channel = 'load'")).scalar_one()
        engine.dispose()
    finally:
        srv.stop()

    totals = [(t, round(sum(s.values()), 1)) for t, s in samples]
    base = next((v for t, v in totals if t >= BASELINE_AFTER_S), totals[0][1])
    end = totals[-1][1]
    per_process = {}
    for name in samples[0][1]:
        series = [s.get(name) for _, s in samples if s.get(name) is not None]
        per_process[name] = {"start": series[0], "end": series[-1], "max": max(series)}
    second_half = [(t, v) for t, v in totals if t >= totals[-1][0] / 2]
    slope = (second_half[-1][1] - second_half[0][1]) / max(second_half[-1][0] - second_half[0][0], 1e-9) * 60
    memory = {"slope_second_half_mb_per_min": round(slope, 1), "total_start_mb": totals[0][1], f"total_at_{BASELINE_AFTER_S}s_mb": base, "total_end_mb": end,
              "total_max_mb": max(v for _, v in totals), "growth_after_baseline_mb": round(end - base, 1),
              "per_process_mb": per_process, "samples": totals}
    data.update(routes=per_route, memory=memory, tickets_201=len(created), tickets_stored=stored,
                startup_s=srv.startup_s, loadavg_at_end=loadavg())
    data["checks"] = load_checks(per_route, len(created), stored, base, end)
    path = save(args.name or ("load" if variant == variant_name(SERVED_QUANTIZE, None) else f"load-{variant}"), data)

    for route, p in per_route.items():
        print(f"  /{route:<8} {p['msgs_per_s']:6.2f} req/s  p50 {p['p50_ms']} ms  p95 {p['p95_ms']} ms  "
              f"p99 {p['p99_ms']} ms  statuses {p['statuses']}")
    print(f"  RSS total (MiB): start {totals[0][1]}, at {BASELINE_AFTER_S}s {base}, end {end}, "
          f"max {memory['total_max_mb']}; second half {memory['slope_second_half_mb_per_min']:+} MiB/min")
    for name, m in per_process.items():
        print(f"    {name}: {m}")
    print(f"  tickets: {len(created)} answered 201, {stored} stored")
    print(f"written {path}")
    return verdict(data["checks"])


if __name__ == "__main__":
    sys.exit(main())
