"""Faults: nothing acknowledged is lost, nothing is stored twice, nothing half-written.

    .venv/bin/python bench/faults.py [--only kill9,pg_restart,claims,schemathesis]

  kill9         kill -9 of the whole `minsheng serve` process group during a /submit load (8 clients, every
                ticket with an external_id, every 5th request an idempotent retry of an acknowledged one), then a
                restart on the same SQLite database and a retry of everything: every external_id that got a 2xx
                is one ticket, with the id first answered, its prediction and its "ticket.created" audit event.
  pg_restart    the service on a fresh PostgreSQL database; `pg_ctlcluster --skip-systemctl-redirect <ver> main
                restart` during a /submit load: the service answers 2xx again without being restarted, and
                everything acknowledged (plus the retries of what was not) is stored exactly once, whole.
                NB: restarts the machine's PostgreSQL cluster (a few seconds), whoever else uses it.
  claims        two replicas on one fresh PostgreSQL database, 8 officials (4 per replica) claiming the same
                tickets in the same order at once: each ticket has exactly one winner, the stored claimer is the
                winner, one "ticket.claimed" audit event per ticket, no 5xx.
  schemathesis  schemathesis over the service's OpenAPI (/docs.json; the FastAPI routes are checked to be in
                it), on SQLite and on a fresh PostgreSQL database, once with each role's bearer token (intake,
                an official of one queue, admin): checks not_a_server_error and response_schema_conformance,
                bounded by --max-examples 20 and --max-time (seconds per run, 6 runs).

Each part prints its figures; the run exits 1 when any part fails. Writes bench/results/faults.json."""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (  # noqa: E402
    ROOT,
    _connection,
    closed_loop,
    free_port,
    kill9_all,
    machine,
    messages,
    new_workdir,
    provenance,
    request,
    save,
    start_server,
)

PG_ADMIN = os.environ.get("MINSHENG_BENCH_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


# -- helpers ------------------------------------------------------------------------------------------------
def store_check(db_url: str, channel: str, acked: dict[str, int]) -> dict:
    """Every acknowledged external_id: exactly one ticket, the id answered, a prediction, a creation audit
    event. Every ticket of the channel: whole (prediction + audit event)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT t.id, t.external_id, "
                " (SELECT count(*) FROM prediction p WHERE p.ticket_id = t.id) AS preds, "
                " (SELECT count(*) FROM audit_event a WHERE a.ticket_id = t.id AND a.action = 'ticket.created') AS aud "
                "FROM ticket t WHERE t.channel = :c"), {"c": channel}).all()
            orphans = conn.execute(text(
                "SELECT count(*) FROM prediction p LEFT JOIN ticket t ON t.id = p.ticket_id WHERE t.id IS NULL"
            )).scalar_one()
    finally:
        engine.dispose()
    by_ext: dict[str, list[int]] = {}
    for r in rows:
        by_ext.setdefault(r.external_id, []).append(r.id)
    missing = [e for e in acked if e not in by_ext]
    duplicated = [e for e, ids in by_ext.items() if len(ids) > 1]
    wrong_id = [e for e, tid in acked.items() if e in by_ext and by_ext[e] != [tid]]
    half = [r.id for r in rows if r.preds < 1 or r.aud != 1]
    return {"tickets_stored": len(rows), "acknowledged": len(acked), "acked_missing": len(missing),
            "duplicated_external_ids": len(duplicated), "acked_with_other_id": len(wrong_id),
            "half_written": len(half), "orphan_predictions": orphans,
            "ok": not (missing or duplicated or wrong_id or half or orphans),
            "examples": {"missing": missing[:5], "duplicated": duplicated[:5], "wrong_id": wrong_id[:5],
                         "half": half[:5]}}


class SubmitLoad:
    """A /submit load with external_ids that remembers what was acknowledged (2xx: external_id -> ticket id),
    what was sent without a 2xx (outcome unknown: retried later), and checks idempotent retries in flight."""

    def __init__(self, channel: str, msgs: list[dict], retry_every: int = 5):
        self.channel, self.msgs, self.retry_every = channel, msgs, retry_every
        self.acked: dict[str, int] = {}
        self.unknown: set[str] = set()
        self.retry_mismatch: list[str] = []
        self.timeline: list[tuple[float, int]] = []
        self.lock = threading.Lock()
        self.t0 = time.monotonic()

    def make(self, client: int, seq: int):
        with self.lock:
            acked = list(self.acked) if seq % self.retry_every == 4 else []
        ext = random.choice(acked) if acked else f"{self.channel}-{client}-{seq}"
        return "POST", "/submit", self.body(ext), ext

    def body(self, ext: str) -> dict:
        """The message sent under `ext`, the same on every retry (other content under a used id is a 409)."""
        client, seq = (int(x) for x in ext.rsplit("-", 2)[-2:])
        return {**self.msgs[(client * 997 + seq) % len(self.msgs)], "channel": self.channel, "external_id": ext}

    def on_result(self, _client: int, r) -> None:
        ext = r.meta
        with self.lock:
            self.timeline.append((round(r.start + r.latency - self.t0, 2), r.status))
            if 200 <= r.status < 300 and isinstance(r.body, dict):
                tid = r.body["ticket_id"]
                if ext in self.acked and self.acked[ext] != tid:
                    self.retry_mismatch.append(ext)
                self.acked.setdefault(ext, tid)
                self.unknown.discard(ext)
            elif ext not in self.acked:
                self.unknown.add(ext)

    def retry_all(self, url: str, headers: dict, seconds: float = 120) -> dict:
        """After the fault: every external_id sent, acknowledged or not, once more (bounded in time). An
        acknowledged one must come back 200 with the same ticket; an unknown one 201 or 200."""
        todo = sorted(self.unknown) + sorted(self.acked)
        was_unknown = set(self.unknown)
        statuses: dict[str, int] = {}
        unknown_statuses: dict[str, int] = {}
        deadline = time.monotonic() + seconds
        conn = _connection(url)
        done = 0
        for ext in todo:
            body = self.body(ext)
            while time.monotonic() < deadline:
                try:
                    status, answer = request(conn, "POST", "/submit", body, headers)
                except OSError:
                    conn.close()
                    time.sleep(0.5)
                    conn = _connection(url)
                    continue
                if status == 503 or status >= 500:
                    statuses[str(status)] = statuses.get(str(status), 0) + 1
                    time.sleep(0.5)
                    continue
                break
            else:
                break
            done += 1
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            if ext in was_unknown:  # 200 here: stored before the fault, its answer lost; 201: never stored
                unknown_statuses[str(status)] = unknown_statuses.get(str(status), 0) + 1
            if 200 <= status < 300:
                if ext in self.acked:
                    if status != 200 or answer["ticket_id"] != self.acked[ext]:
                        self.retry_mismatch.append(ext)
                else:
                    self.acked[ext] = answer["ticket_id"]
                    self.unknown.discard(ext)
        conn.close()
        return {"retried": done, "of": len(todo), "acknowledged_before": len(todo) - len(was_unknown),
                "unanswered_before": len(was_unknown), "statuses": statuses,
                "unanswered_retry_statuses": unknown_statuses}


def _statuses(run) -> dict[str, int]:
    return run.statuses()


# -- (i) kill -9 --------------------------------------------------------------------------------------------
def part_kill9(msgs) -> dict:
    srv = start_server("kill9")
    headers = {"Authorization": f"Bearer {srv.token('intake')}"}
    load = SubmitLoad(f"k9{uuid.uuid4().hex[:6]}", msgs)
    kill_at, total = 12.0, 18.0
    info: dict = {}

    def killer() -> None:
        time.sleep(kill_at)
        info["pids_killed"] = [p.pid for p in srv.processes()]
        info["acked_before_kill"] = len(load.acked)
        info["t_kill"] = round(time.monotonic() - load.t0, 2)
        # every group: BentoML's workers run in sessions of their own; killing only the `minsheng serve` group
        # leaves them serving as orphans (seen in the first run of this bench)
        info["process_groups_killed"] = len(kill9_all(srv))
        srv.proc.wait()

    th = threading.Thread(target=killer, daemon=True)
    th.start()
    print(f"kill9: /submit load, 8 clients; kill -9 of the service's process groups at {kill_at:.0f} s", flush=True)
    run = closed_loop(srv.url, 8, total, load.make, headers, keep_body=True, on_result=load.on_result)
    th.join()
    import psutil

    survivors = [p for p in info["pids_killed"] if psutil.pid_exists(p)
                 and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    srv.port = free_port()  # a new port: the old one may linger in TIME_WAIT
    srv.url = f"http://127.0.0.1:{srv.port}"
    t = time.monotonic()
    srv.start()
    restart_s = round(time.monotonic() - t, 1)
    try:
        retry = load.retry_all(srv.url, headers)
        check = store_check(srv.db_url, load.channel, load.acked)
    finally:
        srv.stop()
    after_kill = [s for t, s in load.timeline if t > info["t_kill"] + 1]
    out = {"during_load": _statuses(run), "acked_before_kill": info["acked_before_kill"],
           "processes_killed": len(info["pids_killed"]), "process_groups_killed": info["process_groups_killed"],
           "survivors": survivors, "answers_2xx_after_kill": sum(200 <= s < 300 for s in after_kill),
           "restart_s": restart_s,
           "retry": retry, "retry_mismatch": len(load.retry_mismatch), "store": check}
    out["ok"] = (check["ok"] and not load.retry_mismatch and not survivors and retry["retried"] == retry["of"]
                 and not out["answers_2xx_after_kill"])
    return out


# -- PostgreSQL helpers -------------------------------------------------------------------------------------
def pg_version() -> str:
    versions = sorted(os.listdir("/etc/postgresql"), key=float)
    return versions[-1]


class FreshDatabase:
    def __init__(self, prefix: str):
        from sqlalchemy import create_engine

        self.name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        self.admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5},
                                   pool_pre_ping=True)  # its connection may predate a PostgreSQL restart
        base = PG_ADMIN.rsplit("/", 1)[0]
        self.url = f"{base}/{self.name}".replace("postgresql+psycopg://", "postgresql://", 1)

    def __enter__(self) -> "FreshDatabase":
        from sqlalchemy import text

        with self.admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{self.name}"'))
        return self

    def __exit__(self, *_):
        from sqlalchemy import text

        try:
            with self.admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        finally:
            self.admin.dispose()


def wait_pg(seconds: float = 60) -> None:
    from sqlalchemy import create_engine, text

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        engine = create_engine(PG_ADMIN, connect_args={"connect_timeout": 2})
        try:
            with engine.connect() as c:
                c.execute(text("SELECT 1"))
                return
        except Exception:  # noqa: BLE001
            time.sleep(0.5)
        finally:
            engine.dispose()
    raise RuntimeError("PostgreSQL did not come back")


# -- (ii) PostgreSQL restart --------------------------------------------------------------------------------
def part_pg_restart(msgs) -> dict:
    version = pg_version()
    with FreshDatabase("minsheng_bench_pg") as db:
        srv = start_server("pgrestart", {"MINSHENG_DB_URL": db.url})
        try:
            headers = {"Authorization": f"Bearer {srv.token('intake')}"}
            load = SubmitLoad(f"pg{uuid.uuid4().hex[:6]}", msgs)
            restart_at, total = 10.0, 40.0
            info: dict = {}

            def restarter() -> None:
                time.sleep(restart_at)
                info["restart_started"] = round(time.monotonic() - load.t0, 2)
                proc = subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
                                      capture_output=True, text=True, timeout=120)
                info["restart_done"] = round(time.monotonic() - load.t0, 2)
                info["pg_ctlcluster_rc"] = proc.returncode
                info["pg_ctlcluster_err"] = proc.stderr[-300:]

            th = threading.Thread(target=restarter, daemon=True)
            th.start()
            print(f"pg_restart: /submit load on PostgreSQL {version}, 8 clients, {total:.0f} s; cluster restart "
                  f"at {restart_at:.0f} s", flush=True)
            run = closed_loop(srv.url, 8, total, load.make, headers, keep_body=True, on_result=load.on_result)
            th.join()
            wait_pg()
            done = info.get("restart_done", total)
            after = [(t, s) for t, s in load.timeline if t >= done]
            first_ok = next((t for t, s in sorted(after) if 200 <= s < 300), None)
            errors = [(t, s) for t, s in load.timeline if not 200 <= s < 300]
            last10 = [s for t, s in load.timeline if t >= total - 10]
            retry = load.retry_all(srv.url, headers)
            check = store_check(db.url, load.channel, load.acked)
            server_alive = srv.proc.poll() is None
        finally:
            srv.stop()
    err_statuses: dict[str, int] = {}
    for _, s in errors:
        err_statuses[str(s)] = err_statuses.get(str(s), 0) + 1
    out = {"pg_version": version, **info, "during_load": _statuses(run),
           "errors": err_statuses, "error_window_s": [min(t for t, _ in errors), max(t for t, _ in errors)]
           if errors else None,
           "first_2xx_after_restart_s": None if first_ok is None else round(first_ok - done, 2),
           "last_10s_all_2xx": bool(last10) and all(200 <= s < 300 for s in last10),
           "server_process_alive": server_alive, "retry": retry, "retry_mismatch": len(load.retry_mismatch),
           "store": check}
    out["ok"] = (info.get("pg_ctlcluster_rc") == 0 and first_ok is not None and out["last_10s_all_2xx"]
                 and server_alive and check["ok"] and not load.retry_mismatch and retry["retried"] == retry["of"])
    return out


# -- (iii) concurrent claims on two replicas ---------------------------------------------------------------
def part_claims(msgs, n_tickets: int = 40, n_officials: int = 8) -> dict:
    from minsheng.core.labels import load_labels

    queues = list(load_labels().queues())
    with FreshDatabase("minsheng_bench_claims") as db:
        a = start_server("claims-a", {"MINSHENG_DB_URL": db.url})
        b = None
        try:
            b = start_server("claims-b", {"MINSHENG_DB_URL": db.url})
            intake = {"Authorization": f"Bearer {a.token('intake')}"}
            channel = f"cl{uuid.uuid4().hex[:6]}"
            seeded = closed_loop(a.url, 4, 300, lambda c, i: (
                "POST", "/submit", {**msgs[c * 50 + i], "channel": channel, "external_id": f"{c}-{i}"}, None),
                intake, keep_body=True, max_requests=n_tickets)
            ids = sorted(r.body["ticket_id"] for r in seeded.results if r.status == 201)
            officials = [(f"official-{k}", a.token("official", queues)) for k in range(n_officials)]
            # names as stored: token() names users "<role>-<hex>"; ask the API who each token is
            names = {}
            for _, tok in officials:
                conn = _connection(a.url)
                _, me = request(conn, "GET", "/api/me", None, {"Authorization": f"Bearer {tok}"})
                conn.close()
                names[tok] = me["name"]
            wins: dict[int, list[str]] = {i: [] for i in ids}
            statuses: dict[str, int] = {}
            lock = threading.Lock()
            barrier = threading.Barrier(n_officials)

            def official(k: int, token: str) -> None:
                srv = a if k % 2 == 0 else b
                conn = _connection(srv.url)
                hdr = {"Authorization": f"Bearer {token}"}
                barrier.wait(timeout=60)
                for tid in ids:  # all in the same order: the most collisions
                    try:
                        status, body = request(conn, "POST", f"/api/tickets/{tid}/claim", None, hdr)
                    except OSError:
                        status, body = 0, None
                        conn.close()
                        conn = _connection(srv.url)
                    with lock:
                        statuses[str(status)] = statuses.get(str(status), 0) + 1
                        if status == 200 and body.get("claimed_by") == names[token]:
                            wins[tid].append(names[token])
                conn.close()

            print(f"claims: 2 replicas, {len(ids)} tickets, {n_officials} officials claiming in the same order",
                  flush=True)
            t = time.monotonic()
            threads = [threading.Thread(target=official, args=(k, tok)) for k, (_, tok) in enumerate(officials)]
            for th in threads:
                th.start()
            for th in threads:
                th.join(timeout=300)
            elapsed = round(time.monotonic() - t, 2)

            from sqlalchemy import create_engine, text

            engine = create_engine(db.url.replace("postgresql://", "postgresql+psycopg://", 1))
            with engine.connect() as conn:
                stored = dict(conn.execute(text("SELECT id, claimed_by FROM ticket")).all())
                audits = dict(conn.execute(text(
                    "SELECT ticket_id, count(*) FROM audit_event WHERE action = 'ticket.claimed' GROUP BY ticket_id"
                )).all())
            engine.dispose()
        finally:
            a.stop()
            if b:
                b.stop()
    twice = [i for i, w in wins.items() if len(w) > 1]
    none = [i for i, w in wins.items() if not w]
    mismatch = [i for i, w in wins.items() if len(w) == 1 and stored.get(i) != w[0]]
    bad_audit = [i for i in ids if audits.get(i, 0) != 1]
    per_official = {}
    for ws in wins.values():
        for w in ws:
            per_official[w] = per_official.get(w, 0) + 1
    out = {"tickets": len(ids), "officials": n_officials, "claim_requests": sum(statuses.values()),
           "seconds": elapsed, "statuses": dict(sorted(statuses.items())), "claimed_twice": len(twice),
           "unclaimed": len(none), "winner_not_stored": len(mismatch), "audit_not_once": len(bad_audit),
           "wins_per_official": sorted(per_official.values(), reverse=True)}
    out["ok"] = (len(ids) == n_tickets and not twice and not none and not mismatch and not bad_audit
                 and not any(k.startswith("5") or k == "0" for k in statuses))
    return out


# -- (iv) schemathesis ----------------------------------------------------------------------------------
SCHEMA_ROLES = ("intake", "official", "admin")
SCHEMA_CHECKS = "not_a_server_error,response_schema_conformance"


def part_schemathesis(msgs, max_examples: int, max_time: int) -> dict:
    """schemathesis on SQLite and on a fresh PostgreSQL database, once with each role's token."""
    runs, paths, missing = {}, {}, set()
    with FreshDatabase("minsheng_bench_schema") as db:
        for database, env in (("sqlite", {}), ("postgresql", {"MINSHENG_DB_URL": db.url})):
            paths[database], lacking, by_role = schemathesis_on(database, env, msgs, max_examples, max_time)
            missing.update(lacking)
            runs.update({f"{database}/{role}": r for role, r in by_role.items()})
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench" / "results" / "schemathesis-output.txt").write_text(
        "\n\n".join(f"== {name} ==\n" + "\n".join(r.pop("output")) for name, r in runs.items()), encoding="utf-8")
    return {"openapi_paths": paths["sqlite"], "openapi_paths_differ": paths["sqlite"] != paths["postgresql"],
            "fastapi_routes_missing": sorted(missing), "max_examples": max_examples, "max_time_s_per_run": max_time,
            "checks": SCHEMA_CHECKS.split(","), "runs": runs,
            "ok": not missing and paths["sqlite"] == paths["postgresql"] and all(r["ok"] for r in runs.values())}


def schemathesis_on(database: str, env: dict, msgs, max_examples: int, max_time: int):
    """One server on `database`: a few tickets for the id routes to find, then one schemathesis run per role
    (the official reads one queue, so the tickets of the other queues are another department's)."""
    srv = start_server(f"schema-{database}", env)
    try:
        intake = srv.token("intake")
        conn = _connection(srv.url)
        queues = []
        for i, m in enumerate(msgs[:8]):
            status, body = request(conn, "POST", "/submit", {**m, "channel": "schema", "external_id": str(i)},
                                   {"Authorization": f"Bearer {intake}"})
            if status == 201:
                queues.append(body["queue"])
        status, schema = request(conn, "GET", "/docs.json")
        conn.close()
        paths = sorted((schema or {}).get("paths", {})) if status == 200 else []
        missing = [p for p in ("/classify", "/submit", "/info", "/api/tickets/{ticket_id}/claim") if p not in paths]
        tokens = {"intake": intake, "official": srv.token("official", queues[:1]), "admin": srv.token("admin")}
        return paths, missing, {role: schemathesis_run(srv.url, f"{database}/{role}", tokens[role], max_examples,
                                                       max_time) for role in SCHEMA_ROLES}
    finally:
        srv.stop()


def schemathesis_run(url: str, name: str, token: str, max_examples: int, max_time: int) -> dict:
    report = new_workdir("schemathesis") / "report.json"
    cmd = [str(Path(sys.executable).with_name("schemathesis")), "run", f"{url}/docs.json",
           "-H", f"Authorization: Bearer {token}", "--checks", SCHEMA_CHECKS,
           "--max-examples", str(max_examples), "--max-time", str(max_time), "--seed", "20261124",
           "--workers", "1", "--request-timeout", "60", "--report", "json", "--report-json-path", str(report)]
    print(f"schemathesis {name}: running (at most {max_time} s) ...", flush=True)
    t = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=max_time + 120,
                              env={**os.environ, "NO_COLOR": "1"})
        rc, tail = proc.returncode, (proc.stdout + proc.stderr)[-6000:]
    except subprocess.TimeoutExpired as e:
        rc, tail = 124, str(e.stdout)[-3000:] if e.stdout else "timeout"
    out = {"exit_code": rc, "seconds": round(time.monotonic() - t, 1),
           "output": [ln for ln in tail.splitlines() if ln.strip()][-40:]}
    if report.exists():
        rep = json.loads(report.read_text(encoding="utf-8"))
        out["failures"] = [{k: f.get(k) for k in ("code", "title", "count", "operations")}
                           for f in rep.get("failures", [])]
        out["test_cases"] = rep.get("test_cases")
        out["phases"] = {k: v.get("status") for k, v in rep.get("phases", {}).items()}
        out["validation_mismatch_warnings"] = rep.get("warnings", {}).get("validation_mismatch", [])
    out["ok"] = rc == 0
    print(f"  {'PASS' if out['ok'] else 'FAIL'}  schemathesis {name}: exit {rc}, failures "
          f"{out.get('failures') or 'none'}", flush=True)
    return out


PARTS = ("kill9", "pg_restart", "claims", "schemathesis")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--max-examples", type=int, default=20)
    parser.add_argument("--max-time", type=int, default=60,
                        help="schemathesis's time budget (s) per run: 2 databases x 3 roles")
    args = parser.parse_args()
    parts = [p for p in args.only.split(",") if p]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        parser.error(f"unknown part(s) {unknown}")
    msgs = messages("domain/dev")
    previous = ROOT / "bench" / "results" / "faults.json"
    data = json.loads(previous.read_text()) if previous.exists() else {}
    data["machine"] = machine()
    results = {}
    for part in parts:
        t = time.monotonic()
        try:
            if part == "kill9":
                results[part] = part_kill9(msgs)
            elif part == "pg_restart":
                results[part] = part_pg_restart(msgs)
            elif part == "claims":
                results[part] = part_claims(msgs)
            else:
                results[part] = part_schemathesis(msgs, args.max_examples, args.max_time)
        except Exception as e:  # noqa: BLE001  a part that crashes fails; the others still run
            import traceback

            results[part] = {"ok": False, "error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()[-3000:]}
        results[part]["part_seconds"] = round(time.monotonic() - t, 1)
        results[part]["measured_at"] = time.strftime("%Y-%m-%d %H:%M:%S %z")
        results[part]["provenance"] = provenance()  # parts run one at a time (--only) keep their own
        shown = {k: v for k, v in results[part].items() if k not in ("runs", "openapi_paths", "trace")}
        print(f"  {'PASS' if results[part]['ok'] else 'FAIL'}  {part}: {json.dumps(shown, ensure_ascii=False)}",
              flush=True)
        if "trace" in results[part]:
            print(results[part]["trace"])
    data.setdefault("parts", {}).update(results)
    path = save("faults", data)
    print(f"written {path}")
    return 0 if all(r["ok"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
