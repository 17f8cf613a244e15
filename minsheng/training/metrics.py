"""Metrics and the dev-set choices that rest on them (blend weight, temperature)."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score

from minsheng.model.classifier import Calibration, softmax

BLEND_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)
GROUP_WEIGHT_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)
# dev scores closer than this are noise at these dev sizes (500-700 rows a source): the blend nearest the even
# one among them is taken, as both members then vote
BLEND_TOLERANCE = 0.005
MIN_SUPPORT = 10  # classes with fewer dev examples are reported, not averaged


def averaged_classes(y: np.ndarray, min_support: int = MIN_SUPPORT) -> list[int]:
    values, counts = np.unique(y, return_counts=True)
    return [int(v) for v, c in zip(values, counts) if c >= min_support]


def macro_f1(y: np.ndarray, pred: np.ndarray, min_support: int = MIN_SUPPORT) -> float:
    classes = averaged_classes(y, min_support)
    return float(f1_score(y, pred, labels=classes, average="macro", zero_division=0)) if classes else float("nan")


def nll(p: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None))))


def ece(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    conf, correct = p.max(1), p.argmax(1) == y
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            total += m.mean() * abs(conf[m].mean() - correct[m].mean())
    return float(total)


def fit_temperature(p: np.ndarray, y: np.ndarray) -> float:
    logp = np.log(np.clip(p, 1e-12, None))
    grid = np.geomspace(0.25, 6.0, 80)
    return float(grid[int(np.argmin([nll(softmax(logp / t), y) for t in grid]))])


def _dev_score(task: str, p: np.ndarray, y: np.ndarray, groups: np.ndarray) -> float:
    """What the blend is chosen by: macro-F1 per dev source, averaged (the Teddy domain data, 7 domains, and the
    citizen data, 15, count alike, not by their row counts); log-loss for the rare urgent flag."""
    if task == "urgent":
        return -nll(p, y)
    pred = p.argmax(1)
    per_source = [macro_f1(y[groups == g], pred[groups == g]) for g in np.unique(groups)]
    per_source = [v for v in per_source if not np.isnan(v)]  # a source with no class of MIN_SUPPORT rows
    return float(np.mean(per_source)) if per_source else 0.0


def _near_even(scores: dict[float, float]) -> float:
    near_best = [w for w, v in scores.items() if v >= max(scores.values()) - BLEND_TOLERANCE]
    return min(near_best, key=lambda w: abs(w - 0.5))


def select_calibration(p_enc: dict[str, np.ndarray], p_tf: dict[str, np.ndarray],
                       y_dev: dict[str, list[int]], sources: np.ndarray, group: list[int] = ()) -> Calibration:
    """Per head, the encoder's blend weight with the best dev score; then how much the group head (`group`: its
    classes' domain indices, empty for none) re-divides the group's share of the domain; then per task the
    temperature that minimises dev log-loss."""
    cal = Calibration(group=list(group))
    rows = {t: np.asarray(y_dev[t]) != -100 for t in p_enc}
    y = {t: np.asarray(y_dev[t])[rows[t]] for t in p_enc}
    groups = {t: np.asarray(sources)[rows[t]] for t in p_enc}
    pe = {t: p_enc[t][rows[t]] for t in p_enc}
    pt = {t: p_tf[t][rows[t]] for t in p_enc}
    for task in p_enc:
        if rows[task].any():
            cal.blend[task] = _near_even({w: _dev_score(task, w * pe[task] + (1 - w) * pt[task], y[task], groups[task])
                                          for w in BLEND_GRID})
    if cal.group and rows["domain"].any():
        pe_dom = {t: p[rows["domain"]] for t, p in p_enc.items()}
        pt_dom = {t: p[rows["domain"]] for t, p in p_tf.items()}
        scores = {}
        for weight in GROUP_WEIGHT_GRID:
            cal.group_weight = weight
            scores[weight] = _dev_score("domain", cal.mix("domain", pe_dom, pt_dom), y["domain"], groups["domain"])
        # the best, not the smallest near it: the Teddy domains gain most from the group head and are the ones at
        # risk (reports/experiments.md, "Round 2")
        cal.group_weight = max(scores, key=scores.get)
    for task in cal.temperature:
        if rows[task].any():
            mixed = cal.mix(task, {t: p[rows[task]] for t, p in p_enc.items()},
                            {t: p[rows[task]] for t, p in p_tf.items()})
            cal.temperature[task] = fit_temperature(mixed, y[task])
    return cal
