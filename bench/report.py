"""Renders the latest figures from bench/results/*.json into bench/README.md, between the markers
`<!-- figures:start -->` and `<!-- figures:end -->` (the rest of the README is written by hand).

    .venv/bin/python bench/report.py
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
START, END = "<!-- figures:start -->", "<!-- figures:end -->"


def _load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _signed(x) -> str:
    return "?" if x is None else f"{x:+}"


def _bad(statuses: dict) -> str:
    bad = {k: v for k, v in statuses.items() if not k.startswith("2")}
    return ", ".join(f"{k}: {v}" for k, v in bad.items()) or "none"


def speed(name: str, title: str) -> list[str]:
    d = _load(name)
    if not d:
        return []
    m, b = d["machine"], d["bare_model"]
    out = [f"### {title}", "",
           f"`{name}.json` / `{name}.png` · variant **{d['variant']}** · model {m['model_version']} · {m['time']} · "
           f"load average {m['loadavg_at_start'][0]} at start, {(d.get('loadavg_at_end') or ['?'])[0]} at end · "
           f"{d['seconds_per_point']:.0f} s per point after {d['warmup_s']:.0f} s warm-up · run took {d['total_s']:.0f} s",
           "",
           f"Bare model ({b['quantize']}, {b['threads']} torch thread(s)): encoder + heads at batch 32 "
           f"**{b['encoder_heads_msgs_per_s']} msg/s** (best of the runs before and after the HTTP points: "
           f"{b.get('encoder_heads_msgs_per_s_runs', [b['encoder_heads_msgs_per_s']])}); whole predict_proba (plus "
           f"TF-IDF, blend, calibration) {b['predict_proba_msgs_per_s']} msg/s; one message alone "
           f"{b['single_message_p50_ms']} ms."
           + (f" One message in-process, p50 ms: {b['one_message_breakdown_p50_ms']}."
              if b.get("one_message_breakdown_p50_ms") else ""), "",
           "| clients | system | msg/s | p50 ms | p95 ms | p99 ms | non-2xx |",
           "|---:|---|---:|---:|---:|---:|---|"]
    for c in d["classify"]:
        for key, label in (("naive_peer", "naive peer (pipeline, 1 call/request)"), ("classify", "minsheng /classify"),
                           ("submit", "minsheng /submit")):
            p = d[key][c]
            out.append(f"| {c} | {label} | {p['msgs_per_s']} | {p['p50_ms']} | {p['p95_ms']} | {p['p99_ms']} | "
                       f"{_bad(p['statuses'])} |")
    after = d["server"].get("classify_alone_after_burst")
    if after:
        out.append(f"| 1, after the 32-client burst | minsheng /classify | {after['msgs_per_s']} | {after['p50_ms']} | "
                   f"{after['p95_ms']} | {after['p99_ms']} | {_bad(after['statuses'])} |")
    r = d["ratios"]
    out += ["", "Ratios: " + ", ".join(f"{k} **{v}**" for k, v in r.items()), "",
            "| target | result |", "|---|---|"]
    out += [f"| {k} | {'PASS' if ok else '**FAIL**'} |" for k, ok in d["targets"].items()]
    return out + [""]


def variants() -> list[str]:
    d = _load("variants")
    if not d:
        return []
    a = d["accuracy"]
    out = ["### Speed-ups measured in-process (`variants.json`)", "",
           f"model {d['machine']['model_version']} · {d['machine']['time']} · load average "
           f"{d['machine']['loadavg_at_start'][0]} at start", "",
           "| variant | encoder+heads msg/s | one message ms |", "|---|---:|---:|"]
    for k, v in d["variants"].items():
        out.append(f"| {k} | {v['encoder_heads_msgs_per_s']} | {v.get('single_message_ms', '')} |")
    out += ["", "| numeric format | domain macro-F1 (domain/dev, 700) | accuracy | same domain as fp32 |",
            "|---|---:|---:|---:|"]
    for k, v in a.items():
        out.append(f"| {k} | {v['domain_macro_f1']} | {v['domain_accuracy']} | {v.get('same_domain_as_fp32', 100)}% |")
    out += ["", f"int8: {d['int8_speedup']}x the fp32 rate at 2 threads, domain macro-F1 "
                f"{a['int8']['f1_change_points']:+} points → {'adoptable' if d['int8_adoptable'] else 'not adopted'} "
                "(limit: -0.5 point).", ""]
    return out


def load(name: str, title: str) -> list[str]:
    d = _load(name)
    if not d:
        return []
    mem = d["memory"]
    out = [f"### {title}", "",
           f"`{name}.json` · variant **{d.get('variant', 'fp32')}** · {d['clients']} clients, {d['seconds']:.0f} s · "
           f"{d['machine']['time']} · load average {d['machine']['loadavg_at_start'][0]} at start", "",
           "| route | answered/s | p50 ms | p95 ms | p99 ms | statuses |", "|---|---:|---:|---:|---:|---|"]
    for route, p in d["routes"].items():
        st = ", ".join(f"{k}: {v}" for k, v in p["statuses"].items())
        out.append(f"| /{route} | {p['msgs_per_s']} | {p['p50_ms']} | {p['p95_ms']} | {p['p99_ms']} | {st} |")
    base_key = next(k for k in mem if k.startswith("total_at_"))
    out += ["", f"RSS of the server processes (MiB): total start {mem['total_start_mb']}, {base_key[9:-3]} "
                f"{mem[base_key]}, end {mem['total_end_mb']}, max {mem['total_max_mb']}; second half "
                f"{_signed(mem.get('slope_second_half_mb_per_min'))} MiB/min.", "",
            "| process | start | end | max |", "|---|---:|---:|---:|"]
    for proc, v in mem["per_process_mb"].items():
        out.append(f"| {proc} | {v['start']} | {v['end']} | {v['max']} |")
    out += ["", f"Tickets: {d['tickets_201']} answered 201, {d['tickets_stored']} stored.", "",
            "| check | result |", "|---|---|"]
    out += [f"| {k} | {'PASS' if ok else '**FAIL**'} |" for k, ok in d["checks"].items()]
    return out + [""]


def faults() -> list[str]:
    d = _load("faults")
    if not d:
        return []
    parts = d["parts"]
    out = ["### Faults (`faults.json`)", "", "| part | result | figures | measured |", "|---|---|---|---|"]
    for name, p in parts.items():
        if "error" in p:
            fig = f"crashed: {p['error'][:200]}"
        elif name == "kill9":
            s, r = p["store"], p["retry"]
            fig = (f"load {p['during_load']}; {p['processes_killed']} processes in {p.get('process_groups_killed', '?')} "
                   f"groups killed, survivors {len(p['survivors'])}, 2xx after the kill {p.get('answers_2xx_after_kill')}; "
                   f"restart {p['restart_s']} s; retried {r['retried']}/{r['of']} (unanswered before: "
                   f"{r.get('unanswered_before', '?')}, their retries {r.get('unanswered_retry_statuses', '?')}); "
                   f"stored {s['tickets_stored']}, acknowledged {s['acknowledged']}, missing {s['acked_missing']}, "
                   f"duplicated {s['duplicated_external_ids']}, other id {s['acked_with_other_id']}, half-written "
                   f"{s['half_written']}, retry mismatches {p['retry_mismatch']}")
        elif name == "pg_restart":
            s, r = p["store"], p["retry"]
            fig = (f"PostgreSQL {p['pg_version']} restart {p.get('restart_started')}–{p.get('restart_done')} s; "
                   f"load {p['during_load']}; errors {p['errors']} in {p['error_window_s']} s; first 2xx "
                   f"{p['first_2xx_after_restart_s']} s after the restart; last 10 s all 2xx: {p['last_10s_all_2xx']}; "
                   f"service process alive: {p['server_process_alive']}; retried {r['retried']}/{r['of']} "
                   f"(unanswered before: {r.get('unanswered_before', '?')}, their retries "
                   f"{r.get('unanswered_retry_statuses', '?')}); stored {s['tickets_stored']}, acknowledged "
                   f"{s['acknowledged']}, missing {s['acked_missing']}, duplicated {s['duplicated_external_ids']}, "
                   f"half-written {s['half_written']}")
        elif name == "claims":
            fig = (f"{p['tickets']} tickets, {p['officials']} officials on 2 replicas, {p['claim_requests']} claims in "
                   f"{p['seconds']} s: {p['statuses']}; claimed twice {p['claimed_twice']}, unclaimed {p['unclaimed']}, "
                   f"stored claimer ≠ winner {p['winner_not_stored']}, audit events ≠ 1 {p['audit_not_once']}; wins "
                   f"per official {p['wins_per_official']}")
        else:
            fails = "; ".join(f"{f['code']} {f['title']} ×{f['count']} in {', '.join(f['operations'])}"
                              for f in p.get("failures", [])) or "none"
            fig = (f"{len(p['openapi_paths'])} paths in /docs.json (FastAPI routes missing: "
                   f"{p['fastapi_routes_missing'] or 'none'}); {(p.get('test_cases') or {}).get('generated', '?')} "
                   f"cases in {p['seconds']} s, phases {p.get('phases')}; failures: {fails}; exit {p['exit_code']}")
        out.append(f"| {name} | {'PASS' if p['ok'] else '**FAIL**'} | {fig} | {p.get('measured_at', '')} |")
    return out + [""]


def main() -> int:
    lines = ["_Generated by `bench/report.py` from `bench/results/*.json`._", ""]
    lines += speed("speed", "Speed: the service as it is (`speed.json`)")
    lines += variants()
    lines += load("load", "Load: the service as it is (`load.json`)")
    lines += load("load-300s", "Load, 5 minutes: does memory level off? (`load-300s.json`)")
    lines += faults()
    readme = HERE / "README.md"
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        print(f"{readme} lacks the markers {START} / {END}", file=sys.stderr)
        return 1
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(head + START + "\n" + "\n".join(lines) + "\n" + END + tail, encoding="utf-8")
    print(f"updated {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
