"""`minsheng evaluate --compare CURRENT CANDIDATE` and the promotion gate that rests on it.

The fixed benchmark: the dev sets plus the held-back slice of the officials' labels (export-labels' holdout)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

from minsheng.core.labels import TASKS, LabelSet
from minsheng.model.classifier import Classifier
from minsheng.training.data import Source, default_plan, inputs, label_ids, load_split
from minsheng.training.evaluate import HEADLINE, head_metrics

# what "overall" averages: each a headline figure of the evaluation report
OVERALL = [("domain/dev", "domain", "macro_f1"), ("citizen/dev", "domain", "accuracy"),
           ("citizen/dev", "sentiment", "macro_f1"), ("citizen/dev", "appeal", "macro_f1"),
           ("human/holdout", "domain", "accuracy")]


def benchmark_sources(holdout: Path | None, limit: int | None = None) -> list[Source]:
    sources = default_plan().dev
    if holdout is not None and holdout.exists() and holdout.stat().st_size:
        sources.append(Source("human", holdout))
    for s in sources:
        s.head = limit
    return sources


def score(clf: Classifier, labels: LabelSet, holdout: Path | None = None, limit: int | None = None) -> dict:
    bench = load_split(benchmark_sources(holdout, limit), labels)
    probs = clf.predict_proba(inputs(bench))
    y = {t: np.asarray(v) for t, v in label_ids(bench, labels).items()}
    source = np.asarray(bench["source"])
    names = {t: list(labels.values[t]) for t in TASKS}
    out: dict = {"version": clf.version, "quantize": clf.quantize, "slices": {}}
    for slice_name, src in (("domain/dev", "domain"), ("citizen/dev", "citizen"), ("human/holdout", "human")):
        for task in TASKS:
            rows = (source == src) & (y[task] != -100)
            if rows.any():
                out["slices"].setdefault(slice_name, {})[task] = head_metrics(y[task][rows], probs[task][rows],
                                                                               names[task])
    rows = y["domain"] != -100
    f1 = f1_score(y["domain"][rows], probs["domain"][rows].argmax(1), labels=range(len(names["domain"])),
                  average=None, zero_division=0)
    support = np.bincount(y["domain"][rows], minlength=len(names["domain"]))
    out["domain_f1"] = {names["domain"][i]: float(f1[i]) for i in range(len(f1)) if support[i]}
    figures = [out["slices"][s][t][m] for s, t, m in OVERALL if t in out["slices"].get(s, {})]
    out["overall"] = float(np.mean(figures))
    return out


@dataclass
class Decision:
    accepted: bool
    reasons: list[str]


def decide(current: dict, candidate: dict, tolerance: float) -> Decision:
    """Promote only if overall is not worse and no domain's F1 falls by more than `tolerance`."""
    reasons = []
    if candidate["overall"] < current["overall"]:
        reasons.append(f"overall {candidate['overall']:.4f} < current {current['overall']:.4f}")
    for domain, f1 in current["domain_f1"].items():
        new = candidate["domain_f1"].get(domain, 0.0)
        if new < f1 - tolerance:
            reasons.append(f"{domain} F1 {new:.3f} < current {f1:.3f} - tolerance {tolerance}")
    return Decision(not reasons, reasons)


def render_comparison(current: dict, candidate: dict) -> str:
    lines = [f"current {current['version']} ({current['quantize']})  vs  candidate {candidate['version']} "
             f"({candidate['quantize']})", "",
             f"{'slice':<14} {'head':<10} {'metric':<12} {'current':>8} {'candidate':>9} {'change':>8}"]
    for s, tasks in candidate["slices"].items():
        for t, m in tasks.items():
            if s not in current["slices"] or t not in current["slices"][s]:
                continue
            for metric in ("accuracy", HEADLINE[t]):
                a, b = current["slices"][s][t][metric], m[metric]
                lines.append(f"{s:<14} {t:<10} {metric:<12} {a:>8.3f} {b:>9.3f} {b - a:>+8.3f}")
    lines += ["", f"{'per-class F1':<28} {'current':>8} {'candidate':>9} {'change':>8}"]
    for s, tasks in candidate["slices"].items():
        for t, m in tasks.items():
            cur = current["slices"].get(s, {}).get(t, {}).get("per_class", {})
            for label, v in m["per_class"].items():
                if label in cur and v["support"]:
                    a, b = cur[label]["f1"], v["f1"]
                    lines.append(f"{s + ' ' + t + ' ' + label:<28} {a:>8.3f} {b:>9.3f} {b - a:>+8.3f}")
    lines += ["", f"overall (mean of headline figures): {current['overall']:.4f} → {candidate['overall']:.4f}"]
    return "\n".join(lines)
