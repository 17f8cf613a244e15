"""The bench scripts' pass/fail decisions (bench/conditions.py), the runner's handling of a failing step and the
rendering of results into the documents; no benchmark is run here."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import conditions  # noqa: E402
import report  # noqa: E402
import run_all  # noqa: E402


def route(rate: float, statuses: dict[str, int]) -> dict:
    """One route of load.py's figures: 2xx per second and the count of each status ("0 <error>": no answer)."""
    return {"msgs_per_s": rate, "statuses": statuses}


def load(routes: dict, created: int = 100, stored: int = 100, base: float = 2000.0, end: float = 2030.0) -> dict:
    return conditions.load_checks(routes, created, stored, base, end)


def failed(checks: dict) -> list[str]:
    return [k for k, ok in checks.items() if not ok]


HEALTHY = {"classify": route(11.5, {"200": 700}), "submit": route(8.7, {"201": 530})}


def test_load_passes_a_healthy_run():
    assert failed(load(HEALTHY)) == []


def test_load_fails_when_every_answer_is_503():
    routes = {"classify": route(0.0, {"503": 4000}), "submit": route(0.0, {"503": 4000})}
    assert failed(load(routes, created=0, stored=0)) == ["503 at most 5% of answers", "each route >= 3 2xx/s"]


def test_load_accepts_a_little_back_pressure_but_not_much():
    few = {"classify": route(11.0, {"200": 700, "503": 30}), "submit": route(8.0, {"201": 500})}
    many = {"classify": route(11.0, {"200": 700, "503": 100}), "submit": route(8.0, {"201": 500})}
    assert failed(load(few)) == []
    assert failed(load(many)) == ["503 at most 5% of answers"]


def test_load_fails_on_any_other_5xx_or_unanswered_request():
    assert failed(load({**HEALTHY, "submit": route(8.7, {"201": 530, "500": 1})})) == ["no 5xx except 503"]
    assert failed(load({**HEALTHY, "submit": route(8.7, {"201": 530, "0 RemoteDisconnected": 1})})) == [
        "every request answered"]


def test_load_fails_when_one_route_starves():
    assert failed(load({**HEALTHY, "submit": route(1.2, {"201": 70})}, created=70, stored=70)) == [
        "each route >= 3 2xx/s"]


def test_load_fails_on_lost_or_duplicated_tickets_and_on_memory_growth():
    assert failed(load(HEALTHY, created=100, stored=99)) == ["each 201 stored once"]
    assert failed(load(HEALTHY, base=2000.0, end=2099.0)) == []  # within 5 %
    assert failed(load(HEALTHY, base=2000.0, end=2101.0)) == ["RSS flat"]
    assert failed(load(HEALTHY, base=500.0, end=539.0)) == []  # within 40 MiB


@pytest.mark.parametrize("precision, recall, expected", [
    (0.886, 0.574, []),
    (0.84, 0.574, ["shipped rule: group precision >= 85%"]),
    (0.886, 0.49, ["shipped rule: group recall >= 50%"]),
])
def test_hot_issues_floors(precision, recall, expected):
    assert failed(conditions.hot_issues_checks(precision, recall)) == expected


@pytest.mark.parametrize("top1, p95, expected", [
    (0.68, 0.66, []),
    (0.59, 0.66, ["as served: top-1 case shares the domain >= 60%"]),
    (0.68, 51.0, ["search over the real case base: p95 <= 50 ms"]),
])
def test_similar_cases_floors(top1, p95, expected):
    assert failed(conditions.similar_cases_checks(top1, p95)) == expected


@pytest.mark.parametrize("auc, expected", [
    (0.843, []),
    (0.74, ["own reply outranks same-domain replies: AUC >= 0.75"]),
])
def test_reply_quality_floor(auc, expected):
    assert failed(conditions.reply_quality_checks(auc)) == expected


@pytest.mark.parametrize("f1_change, speedup, expected", [
    (-0.04, 1.88, []),
    (+0.3, 1.5, []),
    (-0.5, 1.5, []),
    (-0.55, 1.88, ["int8 domain macro-F1 at most 0.5 point below fp32"]),
    (-0.04, 1.0, ["int8 >= 1.05x the fp32 rate (2 threads, batch 32)"]),
])
def test_variants_keep_accuracy_within_half_a_point(f1_change, speedup, expected):
    assert failed(conditions.variants_checks(f1_change, speedup)) == expected


def test_run_all_runs_every_step_and_records_which_failed():
    steps = run_all.run_steps({"fails": ["-c", "raise SystemExit(3)"], "passes": ["-c", "pass"]})
    assert [(s["name"], s["exit_code"]) for s in steps] == [("fails", 3), ("passes", 0)]


def test_the_status_table_is_rendered_from_the_results_and_their_provenance(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    stamp = {"model_version": "M1", "git_commit": "abcdef1234567890", "uncommitted_changes": False,
             "measured_at": "2026-11-28 21:00:00 +0000"}
    shedding = {"classify": route(0.0, {"503": 10}), "submit": route(0.0, {"503": 10})}
    (tmp_path / "load.json").write_text(json.dumps({"checks": load(shedding, 0, 0), "provenance": stamp}))
    (tmp_path / "faults.json").write_text(json.dumps({"machine": {"model_version": "M0", "time": "earlier"}, "parts": {
        "kill9": {"ok": True},
        "schemathesis": {"ok": False, "provenance": {**stamp, "uncommitted_changes": True}}}}))
    rows = "\n".join(report.status())
    assert ("| load | 503 at most 5% of answers | **FAIL** | model M1 · commit abcdef1234 · 2026-11-28 21:00:00 +0000 |"
            in rows)
    assert "| load | no 5xx except 503 | PASS |" in rows
    assert "| faults | kill9 | PASS | model M0 · commit not recorded · earlier |" in rows
    assert "| faults | schemathesis | **FAIL** | model M1 · commit abcdef1234 + uncommitted changes ·" in rows


def test_the_last_full_run_is_summarised_with_each_step_exit_code(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    (tmp_path / "run_all.json").write_text(json.dumps({
        "started": "2026-11-28 21:00:00 +0000", "steps": [{"name": "load", "exit_code": 1, "seconds": 150.2}],
        "provenance": {"model_version": "M1", "git_commit": None, "measured_at": "2026-11-28 22:00:00 +0000"}}))
    assert ("ended with model M1 · commit not recorded · 2026-11-28 22:00:00 +0000: load exit 1 in 150 s."
            in "\n".join(report.status()))
