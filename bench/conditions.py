"""The acceptance condition of each bench script, as pure functions of the figures it measured: each returns
{condition: passed}; the script stores that as "checks" in its results JSON and exits 1 when one is False.
No heavy imports here: tests/test_bench.py checks these decisions without running a benchmark."""
from __future__ import annotations

# hot_issues.py: the shipped rule on the held-out half. Precision weighs most (a wrongly joined ticket gets
# another citizen's reply when its group is resolved at once); it is a lower bound (the labels miss reposts).
HOT_ISSUES_MIN_GROUP_PRECISION = 0.85
HOT_ISSUES_MIN_GROUP_RECALL = 0.50

# similar_cases.py: as served (citizen/dev against data/cases), the most similar case shares the query's
# domain at least this often (chance is ~22%), and a search over the real case base fits the page's budget.
SIMILAR_CASES_MIN_TOP1 = 0.60
SIMILAR_CASES_LATENCY_BUDGET_MS = 50

# reply_quality.py: a message's own published reply outscores the replies to other messages of its domain in at
# least this share of pairs (0.5 is chance).
REPLY_QUALITY_MIN_AUC = 0.75

# variants.py: dynamic int8 (what the service runs) costs at most this much domain macro-F1 and is faster.
VARIANTS_MAX_F1_DROP = 0.5  # points
VARIANTS_MIN_INT8_SPEEDUP = 1.05

# load.py: 503 is documented back-pressure, but a service that sheds more than this share is not serving;
# each route must keep answering 2xx at this rate (a third of what /submit does on a quiet 2-core machine).
LOAD_MAX_503_SHARE = 0.05
LOAD_MIN_2XX_PER_S = 3.0
LOAD_RSS_GROWTH = (0.05, 40.0)  # end within max(5 %, 40 MiB) of the total after the warm-up


def hot_issues_checks(group_precision: float, group_recall: float) -> dict[str, bool]:
    return {f"shipped rule: group precision >= {HOT_ISSUES_MIN_GROUP_PRECISION:.0%}":
            group_precision >= HOT_ISSUES_MIN_GROUP_PRECISION,
            f"shipped rule: group recall >= {HOT_ISSUES_MIN_GROUP_RECALL:.0%}":
            group_recall >= HOT_ISSUES_MIN_GROUP_RECALL}


def similar_cases_checks(served_top1: float, real_size_p95_ms: float) -> dict[str, bool]:
    return {f"as served: top-1 case shares the domain >= {SIMILAR_CASES_MIN_TOP1:.0%}":
            served_top1 >= SIMILAR_CASES_MIN_TOP1,
            f"search over the real case base: p95 <= {SIMILAR_CASES_LATENCY_BUDGET_MS} ms":
            real_size_p95_ms <= SIMILAR_CASES_LATENCY_BUDGET_MS}


def variants_checks(f1_change_points: float, int8_speedup: float) -> dict[str, bool]:
    return {f"int8 domain macro-F1 at most {VARIANTS_MAX_F1_DROP} point below fp32":
            f1_change_points >= -VARIANTS_MAX_F1_DROP,
            f"int8 >= {VARIANTS_MIN_INT8_SPEEDUP}x the fp32 rate (2 threads, batch 32)":
            int8_speedup >= VARIANTS_MIN_INT8_SPEEDUP}


def load_checks(routes: dict[str, dict], tickets_201: int, tickets_stored: int,
                rss_after_warmup_mb: float, rss_end_mb: float) -> dict[str, bool]:
    """routes: {route: {"statuses": {"200": n, "503": n, "0 <error>": n, ...}, "msgs_per_s": 2xx per second}}."""
    statuses = [(k, v) for r in routes.values() for k, v in r["statuses"].items()]
    answered = sum(v for k, v in statuses if not k.startswith("0"))
    shed = sum(v for k, v in statuses if k == "503")
    share, floor = LOAD_RSS_GROWTH
    return {
        "no 5xx except 503": not any(k.startswith("5") and k != "503" for k, _ in statuses),
        f"503 at most {LOAD_MAX_503_SHARE:.0%} of answers": answered > 0 and shed <= LOAD_MAX_503_SHARE * answered,
        f"each route >= {LOAD_MIN_2XX_PER_S:g} 2xx/s": bool(routes) and all(
            r["msgs_per_s"] >= LOAD_MIN_2XX_PER_S for r in routes.values()),
        "every request answered": not any(k.startswith("0") for k, _ in statuses),
        "each 201 stored once": tickets_stored == tickets_201,
        "RSS flat": rss_end_mb - rss_after_warmup_mb <= max(share * rss_after_warmup_mb, floor),
    }


def reply_quality_checks(score_auc: float) -> dict[str, bool]:
    return {f"own reply outranks same-domain replies: AUC >= {REPLY_QUALITY_MIN_AUC:.2f}":
            score_auc >= REPLY_QUALITY_MIN_AUC}
