"""Renders the latest figures from bench/results/*.json into bench/README.md, between the markers
`<!-- figures:start -->` and `<!-- figures:end -->` (the rest of the README is written by hand), and renders
bench/similar_cases.md and bench/hot_issues.md whole from their JSON. No figure in these documents is typed by
hand: re-run a bench (or bench/run_all.py) and this script.

    .venv/bin/python bench/report.py
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from conditions import VARIANTS_MAX_F1_DROP

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
START, END = "<!-- figures:start -->", "<!-- figures:end -->"


def _cpu(m: dict) -> str:
    """The CPU a result was measured on, where it was recorded (results before 2026-12-07 afternoon lack it)."""
    return f"{m['cpu_model']} ({m['cpu_capability']}) · " if m.get("cpu_capability") else ""


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
           f"{_cpu(m)}load average {m['loadavg_at_start'][0]} at start, {(d.get('loadavg_at_end') or ['?'])[0]} at end · "
           f"{d['seconds_per_point']:.0f} s per point after {d['warmup_s']:.0f} s warm-up · run took {d['total_s']:.0f} s",
           "",
           f"Bare model ({b['quantize']}, {b['threads']} torch thread(s)): encoder + heads in chunks of "
           f"{b.get('chunk', 32)} **{b['encoder_heads_msgs_per_s']} msg/s** (best of the runs before and after the "
           f"HTTP points: {b.get('encoder_heads_msgs_per_s_runs', [b['encoder_heads_msgs_per_s']])}"
           + (f"; at batch 32: {b['encoder_heads_batch32_msgs_per_s']}" if "encoder_heads_batch32_msgs_per_s" in b else "")
           + f"); whole predict_proba (plus "
           f"TF-IDF, blend, calibration) {b['predict_proba_msgs_per_s']} msg/s; one message alone "
           f"{b['single_message_p50_ms']} ms."
           + (f" One message in-process, p50 ms: {b['one_message_breakdown_p50_ms']}."
              if b.get("one_message_breakdown_p50_ms") else "")
           + (f" Cold start, `minsheng serve` to /readyz: {d['server']['startup_s']} s (in-process: the model loads in "
              f"{b['model_load_s']} s, the spaCy/jieba analyzer in {b['analyzer_load_s']} s)."
              if "model_load_s" in b else ""), "",
           "| clients | system | msg/s | p50 ms | p95 ms | p99 ms | non-2xx |",
           "|---:|---|---:|---:|---:|---:|---|"]
    for c in d["classify"]:
        for key, label in (("naive_peer", "naive peer (pipeline, 1 call/request)"),
                           ("same_answer_peer", "same-answer peer (4 pipelines + spaCy/jieba analysis)"),
                           ("classify", "minsheng /classify"), ("submit", "minsheng /submit")):
            p = d.get(key, {}).get(c)
            if p is None:
                continue
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


def batch_speed() -> list[str]:
    d = _load("batch_speed")
    if not d:
        return []
    m, ours, peer = d["machine"], d["minsheng_classify"], d["peer_pipeline"]
    return ["### Batch classification (`batch_speed.json`)", "",
            f"model {m['model_version']} · {m['time']} · {_cpu(m)}load average {m['loadavg_at_start'][0]} at start · "
            f"{d['n']} messages", "",
            "| system | msg/s | seconds | what it includes |", "|---|---:|---:|---|",
            f"| `minsheng classify` | {ours['msgs_per_s']} | {ours['seconds']} | {ours['includes']} |",
            f"| naive peer's pipeline, batch {peer['batch_size']} | {peer['msgs_per_s']} | {peer['seconds']} | "
            f"{peer['includes']} |", "", f"Ratio: **{d['ratio']}×**.", ""]


def variants() -> list[str]:
    d = _load("variants")
    if not d:
        return []
    a = d["accuracy"]
    out = ["### Speed-ups measured in-process (`variants.json`)", "",
           f"model {d['machine']['model_version']} · {d['machine']['time']} · {_cpu(d['machine'])}load average "
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
                f"(limit: -{VARIANTS_MAX_F1_DROP} point).", ""]
    return out


def load(name: str, title: str) -> list[str]:
    d = _load(name)
    if not d:
        return []
    mem = d["memory"]
    out = [f"### {title}", "",
           f"`{name}.json` · variant **{d.get('variant', 'fp32')}** · {d['clients']} clients, {d['seconds']:.0f} s · "
           f"{d['machine']['time']} · {_cpu(d['machine'])}load average {d['machine']['loadavg_at_start'][0]} at start", "",
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
            runs = p.get("runs") or {"sqlite/admin": p}  # runs before one per database and role: admin on SQLite
            fig = (f"{len(p['openapi_paths'])} paths in /docs.json (FastAPI routes missing: "
                   f"{p['fastapi_routes_missing'] or 'none'}); "
                   + "; ".join(f"**{name}**: {schemathesis_run(r)}" for name, r in runs.items()))
        out.append(f"| {name} | {'PASS' if p['ok'] else '**FAIL**'} | {fig} | {p.get('measured_at', '')} |")
    return out + [""]


def schemathesis_run(r: dict) -> str:
    fails = "; ".join(f"{f['code']} {f['title']} ×{f['count']} in {', '.join(f['operations'])}"
                      for f in r.get("failures", [])) or "none"
    return (f"{(r.get('test_cases') or {}).get('generated', '?')} cases in {r['seconds']} s, phases "
            f"{r.get('phases')}; failures: {fails}; exit {r['exit_code']}")


# -- where each figure comes from, and the acceptance conditions --------------------------------------------
RUNS = ("speed", "variants", "load", "load-300s", "faults", "similar_cases", "hot_issues", "reply_quality")


def checks_of(d: dict) -> list[tuple[str, bool, dict]]:
    """(condition, passed, what it was measured with) of one results file, whichever bench wrote it. The fault
    parts can be run one at a time (--only): each carries its own provenance."""
    if "parts" in d:
        return [(part, p["ok"], p if "provenance" in p else d) for part, p in d["parts"].items()]
    checks = d.get("checks") or d.get("targets") or {"int8 adoptable": d["int8_adoptable"]}
    return [(k, ok, d) for k, ok in checks.items()]


def provenance(d: dict) -> str:
    """model · commit · when; "not recorded" for results written before the scripts stamped their commit."""
    p = d.get("provenance") or {}
    model = p.get("model_version") or d.get("model_version") or (d.get("machine") or {}).get("model_version", "?")
    commit = (p.get("git_commit") or "")[:10] or "not recorded"
    if p.get("uncommitted_changes"):
        commit += " + uncommitted changes"
    return f"model {model} · commit {commit} · {p.get('measured_at') or (d.get('machine') or {}).get('time', '?')}"


def status() -> list[str]:
    out = ["### Acceptance conditions", "",
           "| run | condition | status | measured with |", "|---|---|---|---|"]
    for name in RUNS:
        d = _load(name)
        if d:
            out += [f"| {name} | {k} | {'PASS' if ok else '**FAIL**'} | {provenance(source)} |"
                    for k, ok, source in checks_of(d)]
    full = _load("run_all")
    if full:
        out += ["", f"Last `make bench` (`bench/run_all.py`), started {full['started']}, ended with "
                    f"{provenance(full)}: "
                    + ", ".join(f"{s['name']} exit {s['exit_code']} in {s['seconds']:.0f} s" for s in full["steps"])
                    + "."]
    return out + [""]


# -- bench/similar_cases.md and bench/hot_issues.md, whole ----------------------------------------------------
def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _checks_table(d: dict) -> str:
    return "\n".join(["| condition (bench/conditions.py) | result |", "|---|---|"]
                     + [f"| {k} | {'PASS' if ok else '**FAIL**'} |" for k, ok in d["checks"].items()])


def render_similar_cases(d: dict) -> str:
    labels = {"citizen/dev": "citizen/dev (15 domains) vs citizen/train + domain/train",
              "domain/dev": "domain/dev (7 domains) vs citizen/train + domain/train",
              "served": "citizen/dev vs data/cases (as served; case domains predicted)"}
    rows = [f"| {labels[name]} | {r['n']} | {_pct(r['top1'])} | {_pct(r['top5_any'])} | {_pct(r['top5_share'])} | "
            f"{_pct(r['top5_vote'])} | {_pct(r['classifier']) if 'classifier' in r else '—'} | {_pct(r['chance'])} |"
            for name, r in d["agreement"].items()]
    lat = d["latency"]
    lat_rows = [f"| {x['n']:,} | {'real size (data/cases)' if i == 0 else f'{10 ** i}× (random unit vectors)'} | "
                f"{x['p50']:.2f} | {x['p95']:.2f} | {x['mb']:.0f} |" for i, x in enumerate(lat)]
    big, dim, budget = lat[-1], d["dim"], d["latency_budget_ms"]
    budget_rows = int(budget * 1000 / (big["p95"] / big["n"] * 1000))
    embed = d["embed_ms"]
    shipped = json.loads((HERE.parent / "models" / "default" / "minsheng.json").read_text(encoding="utf-8"))["version"]
    stale = ("" if d["model_version"] == shipped else
             f"\n**Stale:** measured with model {d['model_version']}, not the shipped {shipped}; re-run it.\n\n")
    return f"""# Similar past cases: domain agreement and search latency

_Rendered by `bench/report.py` from `bench/results/similar_cases.json`; {provenance(d)}._
{stale}Regenerate: `.venv/bin/python bench/similar_cases.py` (embeddings cached in `build/bench/`).
Model: `{d['model_version']}` ({d['base_model']}), {dim}-dimensional L2-normalised mean-pooled vectors of
the classifier's own encoder (`Classifier.embed`, as `Tagger.embed` serves them). Machine: {d['machine']},
{d['torch_threads']} torch threads; this run took {d['runtime_s']:.0f} s.

{_checks_table(d)}

## Does the most similar past case share the domain?

Each held-out message is a query; its top-5 cases by cosine similarity are compared with the query's labeled
domain. *top-1*: the most similar case has the query's domain; *top-5 any*: at least one of the five has;
*top-5 share*: the share of the five that have; *top-5 vote*: the most common domain among the five is the
query's. *classifier*: the classifier's own accuracy on the same queries; *chance*: a random case's agreement.
The labeled case base holds {d['case_base_labeled']:,} messages (citizen/train + domain/train).

| queries vs case base | n | top-1 | top-5 any | top-5 share | top-5 vote | classifier | chance |
|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

The last row is what an official sees: the real case base (data/cases/replies.csv, {lat[0]['n']:,} messages with
replies), whose domains are the classifier's predictions (the file has no labels), queried with citizen/dev.
{d['agreement']['served']['own']} citizen/dev messages are themselves in data/cases: their own case is left out.

## Search latency (brute force, numpy float32 matmul + argpartition, one query, one BLAS thread)

Measured while other work shared the cores (load average {d['latency_loadavg']:.1f}): the p95 carries that noise.

| cases | | p50 ms | p95 ms | matrix MB |
|---|---|---|---|---|
{chr(10).join(lat_rows)}

The search is linear in the case base: about {big['p50'] / big['n'] * 1e6:.0f} ns per case at the median on one core
({big['p95'] / big['n'] * 1e6:.0f} ns at p95), so a {budget} ms p95 search budget holds about
{budget_rows // 1000 * 1000:,} cases, and memory grows by
{dim * 4 / 1024:.0f} KB per case (per replica: each holds its own matrix).

## Decision: no vector index now

- The case base is {lat[0]['n']:,} replies plus the tickets resolved here. At that size a search takes
  {lat[0]['p50']:.2f} ms (p95 {lat[0]['p95']:.2f} ms) and the matrix {lat[0]['mb']:.0f} MB; even at 100× ({big['n']:,}
  cases) it is {big['p50']:.0f} ms p50 / {big['p95']:.0f} ms p95 and {big['mb']:.0f} MB. Exact search, no recall lost, nothing to tune or rebuild, works the same on SQLite and
  PostgreSQL: brute force is the right choice now.
- An index (pgvector HNSW on PostgreSQL, or FAISS IVF/HNSW in the service) becomes necessary at about
  {budget_rows // 1000 * 1000:,} cases, where one search passes {budget} ms at p95, or earlier where memory
  binds: around a million cases the matrix takes {1_000_000 * dim * 4 / 2**30:.1f} GB in every replica (float16
  would halve it). Measured on one core of a busy machine: BLAS threads on free cores make it faster.
- The route's other cost is embedding the ticket (one encoder pass, as the Tagger does it): {embed['p50']:.0f} ms p50 /
  {embed['p95']:.0f} ms p95 here, more than the search itself up to about {int(embed['p50'] * 1e6 / (big['p50'] / big['n'] * 1e6)) // 1000 * 1000:,} cases.
"""


def _rule(r: dict) -> str:
    return (f"SameIssueRule(repost={r['repost']:g}, repost_words={r['repost_words']:g}, similar={r['similar']:g}, "
            f"similar_words={r['similar_words']:g})")


def render_hot_issues(d: dict) -> str:
    rows = [f"| {x['name']} | {x['rule']['repost']:g} / {x['rule']['repost_words']:g} | {x['rule']['similar']:g} / "
            f"{x['rule']['similar_words']:g} | {_pct(x['pairs']['precision'])} | {_pct(x['pairs']['recall'])} | "
            f"{_pct(x['groups']['precision'])} | {_pct(x['groups']['recall'])} | {x['groups']['groups']} |"
            for x in d["rules"]]
    p, c = d["shipped"]["pairs"], d["shipped"]["groups"]
    tuned, grid, wrong = d["tuned"], d["grid"], d["wrong_joins"]
    judged = [w for w in wrong if w["judged"]]
    reposts = sum(w["judged"] == "same" for w in judged)
    listing = "\n".join(f"| {w['ids'][0]} / {w['ids'][1]} | {w['cosine']:.3f} | {w['words']:.2f} | "
                        f"{w['judged'] or 'not read'} | {w['starts'][0]} / {w['starts'][1]} |" for w in wrong)
    read_by = ", read and judged by a person" if judged else ""
    lower_bound = (f"Of {len(judged)} read, {reposts} are the same issue: the labels miss them. Counting those as "
                   f"correct, group precision is **{_pct((c['correct'] + reposts) / max(c['predicted'], 1))}**; the "
                   f"{_pct(c['precision'])} above is a lower bound." if judged else "")
    return f"""# Hot issues: grouping quality

_Rendered by `bench/report.py` from `bench/results/hot_issues.json`; {provenance(d)}._
Regenerate: `.venv/bin/python bench/hot_issues.py` (embeddings and text features cached in `build/bench/`; this
run took {d['runtime_s']:.0f} s). Model: `{d['model_version']}`.

{_checks_table(d)}

## The labeled sample

data/domain/train.csv ({d['messages']:,} messages) has a `group` column joining reposts
of one message (the same or edited text, title-only and full copies, follow-ups). Split by group id parity into a
tuning half and a test half ({d['tune_messages']:,} / {d['test_messages']:,} messages). Labeled pairs of the test
half:

- **same issue**: every pair of messages of one group: {p['pos']} pairs;
- **not the same issue**: every pair of messages of different groups that name the same specific place (a street,
  estate, village, building; not a city, district or province such as A市, A3区, 北京): {p['neg']:,} pairs, the
  hard negatives (different problems in the same street).

Features, as the service computes them on submit (`minsheng.assist.similarity`, `minsheng/assist/hot_issues.py`), on the PII-masked
title + text: the cosine similarity of the encoder's sentence vectors; the places; the *problem words* (the 20
jieba TF-IDF keywords minus place names and masked codes) and their Jaccard overlap.

The rule (`SameIssueRule`): never when the two name different districts or different specific places; otherwise
the same issue if cosine ≥ *repost* and word overlap ≥ *repost words* (a repost, edited or not), or cosine ≥
*similar* with a shared specific place and word overlap ≥ *similar words* (the same problem at the same place).
Tuned on the tuning half for the best F0.5 of the groups (precision weighs twice: a wrongly joined ticket gets
another citizen's reply when the group is resolved at once): the repost branch over {grid['cosine']} × {grid['repost_words']}
thresholds, then the same-place branch over {grid['cosine']} × {grid['similar_words']}. Tuned here:
`{_rule(tuned['rule'])}` (tuning half: group precision {_pct(tuned['tuning_half']['precision'])}, recall {_pct(tuned['tuning_half']['recall'])}).

## Results on the test half

*pairs*: the rule as a classifier of the labeled pairs above. *groups*: all {d['test_messages']:,} test messages
streamed in file order through the service's procedure (a message joins the group of the most similar earlier
message that satisfies the rule, else starts one); precision = share of the message pairs put into one group that
carry one label, recall = share of the labeled same-issue pairs put into one group.

| rule | repost: cosine / words | similar: cosine / words | pair precision | pair recall | group precision | group recall | groups formed |
|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

**Shipped (`DEFAULT_RULE = {_rule(d['shipped']['rule'])}`): group precision {_pct(c['precision'])}, recall {_pct(c['recall'])}**
({c['correct']} of {c['gold']} labeled same-issue pairs joined, {c['predicted'] - c['correct']} joined pairs with
different labels, largest group {c['largest']}); on the labeled pairs precision {_pct(p['precision'])}, recall
{_pct(p['recall'])} ({p['fp']} of {p['neg']:,} same-place pairs of different groups joined).

## The joins the labels call wrong, read one by one

Every pair of test messages the shipped rule puts into one group although their labels differ{read_by}: *same* = the same problem at the same place (a repost the labels missed, or the
same complaint by another citizen); *different* = a real error (unsure cases count as errors).
{lower_bound}

| ids | cosine | words | judged | messages (start) |
|---|---|---|---|---|
{listing}

## Reading these figures

- The labels join reposts only, and not all of them; some groups also hold unrelated messages (a gold pair with
  cosine 0.11 exists), which no rule should join: recall cannot reach 100%.
- Same-topic complaints written independently by different citizens are not labeled here; the same-place branch
  is what groups them, and it is tuned strict because the labels count such joins as errors.
- Vectors alone cannot tell a repost from another message on the same topic: the classifier's encoder is tuned
  to domains and pulls a domain's messages together (two random test messages have a median cosine of
  {d['random_pair_cosine']['p50']:.2f}; 1% of random pairs exceed {d['random_pair_cosine']['p99']:.2f}). The problem words and the places do the separating;
  the vectors keep the words from matching across topics.
- The cosine thresholds belong to this model's vector space. After a new model is promoted, re-run this script
  (and `minsheng cases build`, which re-embeds the open grouped tickets) and update DEFAULT_RULE.
"""


FORM_NAMES = {"salutation": "salutation (您好, 尊敬的 …)", "action": "a concrete action or result (经调查, 已修复, 责令 …)",
              "basis": "a legal basis or policy named (《…》, 根据…规定)", "contact": "a contact for follow-up",
              "substance": "more than 已收悉/正在处理 boilerplate"}


def render_reply_quality(d: dict) -> str:
    parts = {"score": "full score", "message": "relevance + completeness (what depends on the message)",
             "relevance": "relevance (encoder cosine)", "completeness": "completeness", "form": "form (alone: chance)"}
    rows = [f"| {parts[p]} | {r['auc']:.3f} | {_pct(r['top1'])} |" for p, r in d["ranking"].items()]
    fires = [f"| {FORM_NAMES[k]} | {_pct(v)} |" for k, v in d["form_fires"].items()]
    real = d["real_reply"]
    n = d["ranking"]["score"]
    return f"""# Reply quality: do real replies outrank other replies?

_Rendered by `bench/report.py` from `bench/results/reply_quality.json`; {provenance(d)}._
Regenerate: `nice -n 19 .venv/bin/python bench/reply_quality.py` ({d['runtime_s']} s here, {d['torch_threads']} torch thread).

A seeded sample of {d['sample']} of the {d['of']} messages of data/cases with the reply each got. For each message,
its own reply against the sample's replies to other messages of the same (predicted) domain: {n['messages']}
messages, {n['pairs']:,} pairs. AUC counts ties as half; top-1 is the share of messages whose own reply scores
strictly highest. Vectors: model {d['model_version']} as served ({d['quantize']}), PII-masked texts.

| scored by | AUC | top-1 |
|---|---|---|
{chr(10).join(rows)}

{_checks_table(d)}

## How the form checks fire on the {d['sample']} real replies

| check | fires on |
|---|---|
{chr(10).join(fires)}

Real replies: score p10/p50/p90 {' / '.join(f'{x:.0f}' for x in real['score_p10_p50_p90'])}; cosine to their
message p10/p50/p90 {' / '.join(f'{x:.3f}' for x in real['cosine_p10_p50_p90'])} (the relevance band is
{d['relevance_band'][0]}–{d['relevance_band'][1]}); on average {real['items_per_message']:.1f} places and keywords
expected per message, {_pct(real['completeness_mean'])} of them named by the real reply.

## What it cannot judge

- Whether what the reply says is true, or the action was taken: it reads words, not facts.
- Whether a legal basis applies: it only sees that one is named (a reply to a thank-you letter needs none).
- Whether the reply answers the request: naming the message's places and keywords is not answering them, and a
  request made without a place or keyword is not seen at all.
- Tone, clarity, politeness beyond a salutation; replies in another language or style than these.
- The form part does not depend on the message, so it helps a good reply outrank a poor one, not to tell
  which message a reply belongs to; relevance and completeness do that.
"""


def main() -> int:
    lines = ["_Generated by `bench/report.py` from `bench/results/*.json`._", ""]
    lines += status()
    lines += speed("speed", "Speed: the service as it is (`speed.json`)")
    lines += batch_speed()
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
    for name, render in (("similar_cases", render_similar_cases), ("hot_issues", render_hot_issues),
                         ("reply_quality", render_reply_quality)):
        d = _load(name)
        if d:
            (HERE / f"{name}.md").write_text(render(d), encoding="utf-8")
            print(f"updated {HERE / f'{name}.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
