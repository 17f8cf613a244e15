"""Urgent-message detection: recall and precision of candidate designs by cross-validation over every labelled
citizen row (train + dev, 46 urgent of 6,183), with a PR curve; writes bench/results/urgent.json and
urgent_pr.png, and exits 1 when the adopted design (route() as shipped: urgent or possible emergency) misses
recall >= 0.8 at precision >= 0.3.

    .venv/bin/python bench/urgent.py [--repeats 3]

Designs: (a) the urgent cues before the two-tier lexicon (routing.yaml at BASELINE); (b) routing.yaml's
`urgent_cues` tier alone, and with its `possible_emergency` tier (the lane route() fills); (c) rankers whose
threshold is chosen inside each training fold: the shipped model's urgent probability, and logistic regressions
over the lexicon's kinds (+ that probability, + char TF-IDF). Folds are stratified and keep near-duplicates
(char 2-4-gram TF-IDF cosine >= 0.8) together. Also reported: train -> dev (rankers fitted on train only).

The shipped model's probabilities (int8, PII-masked input, as served) are computed once and cached in
build/bench/<model version>/ (about 10 minutes on 2 busy cores). That model trained on the first 1,900 train rows
and was calibrated on the first 500 dev rows, so its figures on those rows are in-sample: the JSON also gives
every design on the 3,783 rows it never saw."""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time

import numpy as np
import yaml
from common import CACHE, ROOT, Classifier, read  # noqa: I001  (common puts the repo on sys.path)
from scipy import sparse
from scipy.sparse import csgraph
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, precision_recall_curve
from sklearn.model_selection import StratifiedGroupKFold

from minsheng.core.labels import load_labels
from minsheng.core.nlp import masked_input
from minsheng.core.routing import (
    Scores,
    find_possible_emergency,
    read_urgent_cues,
    route,
)

RESULTS = ROOT / "bench" / "results"
BASELINE = "7394126"  # the commit whose routing.yaml holds the urgent cues before this bench's lexicon
TARGET_RECALL, TARGET_PRECISION = 0.8, 0.3
FOLD_RECALL = 0.85  # a ranker's threshold: the score at which its out-of-fold recall on the training part is this
DUPLICATE_COSINE = 0.8
FIRST_UNSEEN = {"train": 1900, "dev": 500}  # rows from here on were never read by the shipped model


def load_rows():
    """train + dev rows: the normalized model input (what the cues read), the PII-masked one (what the model
    reads), labels, and whether the shipped model has seen the row."""
    frames = {name: read(f"citizen/{name}") for name in ("train", "dev")}
    rows = {"input": [], "masked": [], "title": [], "text": [], "y": [], "dev": [], "unseen": []}
    for name, f in frames.items():
        rows["input"] += list(f["input"])
        rows["title"] += list(f["title"])
        rows["text"] += list(f["text"])
        rows["masked"] += [masked_input(t or None, x) for t, x in zip(f["title"], f["text"])]
        rows["y"] += [int(u) for u in f["urgent"]]
        rows["dev"] += [name == "dev"] * len(f)
        rows["unseen"] += [i >= FIRST_UNSEEN[name] for i in range(len(f))]
    return {k: v if k in ("input", "masked", "title", "text") else np.array(v) for k, v in rows.items()}


def model_scores(texts: list[str]) -> dict[str, np.ndarray]:
    """The shipped model's calibrated probabilities for every task, as served (int8), cached by input hash."""
    digest = hashlib.sha256("\x1f".join(texts).encode("utf-8")).hexdigest()[:16]
    meta = json.loads((ROOT / "models" / "default" / "minsheng.json").read_text(encoding="utf-8"))
    path = CACHE / meta["version"] / f"citizen_train_dev-urgent-{digest}.npz"
    if not path.exists():
        clf = Classifier.load(ROOT / "models" / "default", quantize="int8", threads=1)
        start, parts = time.perf_counter(), []
        for i in range(0, len(texts), 256):
            parts.append(clf.predict_proba(texts[i:i + 256], 16))
        print(f"scored {len(texts)} messages in {time.perf_counter() - start:.0f}s", file=sys.stderr)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **{t: np.concatenate([p[t] for p in parts]) for t in parts[0]})
    with np.load(path) as saved:
        return dict(saved)


def near_duplicate_groups(texts: list[str]) -> np.ndarray:
    """Group ids joining messages whose char 2-4-gram TF-IDF cosine reaches DUPLICATE_COSINE (connected
    components), so a repost never sits on both sides of a fold."""
    x = TfidfVectorizer(analyzer="char", ngram_range=(2, 4), min_df=2, sublinear_tf=True).fit_transform(texts)
    rows, cols = [], []
    for i in range(0, x.shape[0], 1000):
        sim = (x[i:i + 1000] @ x.T).tocoo()
        keep = sim.data >= DUPLICATE_COSINE
        rows.append(sim.row[keep] + i)
        cols.append(sim.col[keep])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    graph = sparse.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(x.shape[0], x.shape[0]))
    return csgraph.connected_components(graph, directed=False)[1]


def cue_kinds(texts: list[str], cues: dict[str, list[str]]) -> np.ndarray:
    """0/1 matrix: message x kind, whether the message names one of the kind's phrases."""
    return np.array([[any(p in t for p in phrases) for phrases in cues.values()] for t in texts], dtype=float)


def baseline_cues() -> dict[str, list[str]]:
    shown = subprocess.run(["git", "show", f"{BASELINE}:labels/routing.yaml"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout
    return yaml.safe_load(shown)["urgent_cues"]


def routed(rows, p_model: np.ndarray, labels) -> dict[str, np.ndarray]:
    """route() as shipped, message by message: its urgent flag, and urgent-or-possible-emergency (the lane)."""
    names = labels.values["urgent"]
    out = {"urgent": [], "lane": []}
    for title, text, p in zip(rows["title"], rows["text"], p_model):
        scores = {t: {v: 1 / len(labels.values[t]) for v in labels.values[t]} for t in labels.values}
        scores["urgent"] = dict(zip(names, (1 - p, p)))
        r = route(Scores(scores), labels, title or None, text)
        out["urgent"].append(r.urgent)
        out["lane"].append(r.urgent or r.possible_emergency)
    return {k: np.array(v) for k, v in out.items()}


# -- rankers: fit on a training part, score another -----------------------------------------------------------
def logistic(c: float):
    return LogisticRegression(C=c, class_weight="balanced", max_iter=2000)


def fit_score(name: str, feats, train: np.ndarray, test: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Scores of the `test` rows from ranker `name` fitted on the `train` rows."""
    if name == "model":
        return feats["model"][test]
    if name == "tfidf+kinds":  # a text model beside the lexicon
        x = sparse.hstack([feats["tfidf"], feats["kinds+model"]]).tocsr()
        return logistic(1.0).fit(x[train], y[train]).predict_proba(x[test])[:, 1]
    x = feats[name]
    return logistic(0.3).fit(x[train], y[train]).predict_proba(x[test])[:, 1]


def threshold_inside(name: str, feats, train: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int) -> float:
    """The threshold, from the training part alone: its own out-of-fold scores (3 inner folds), the score at
    which FOLD_RECALL of its urgent rows are caught."""
    inner = np.zeros(len(train))
    for a, b in StratifiedGroupKFold(3, shuffle=True, random_state=seed).split(train, y[train], groups[train]):
        inner[b] = fit_score(name, feats, train[a], train[b], y)
    return float(np.quantile(inner[y[train] == 1], 1 - FOLD_RECALL))


def cross_validate(name: str, feats, y, groups, seed: int, folds: int = 5):
    """Out-of-fold scores and flags (score >= the threshold chosen inside the fold) for every row."""
    scores, flags = np.zeros(len(y)), np.zeros(len(y), bool)
    for train, test in StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(y, y, groups):
        scores[test] = fit_score(name, feats, train, test, y)
        flags[test] = scores[test] >= threshold_inside(name, feats, train, y, groups, seed)
    return scores, flags


def figures(flags: np.ndarray, y: np.ndarray) -> dict:
    caught = int((flags & (y == 1)).sum())
    return {"flagged": int(flags.sum()), "caught": caught, "urgent": int(y.sum()),
            "recall": round(caught / max(1, int(y.sum())), 3), "precision": round(caught / max(1, int(flags.sum())), 3)}


def on_slices(flags: np.ndarray, rows) -> dict:
    """The figures on all rows, on dev rows, and on the rows the shipped model never saw."""
    y = rows["y"]
    return {"all": figures(flags, y), "dev": figures(flags[rows["dev"]], y[rows["dev"]]),
            "unseen_by_model": figures(flags[rows["unseen"]], y[rows["unseen"]])}


def meets(f: dict) -> bool:
    return f["recall"] >= TARGET_RECALL and f["precision"] >= TARGET_PRECISION


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="cross-validation repeats (fold seeds)")
    args = parser.parse_args()
    labels = load_labels()
    rows = load_rows()
    y = rows["y"]
    p_model = model_scores(rows["masked"])["urgent"][:, 1]  # tasks.yaml: urgent values [否, 是]
    groups = near_duplicate_groups(rows["input"])
    print(f"{len(y)} messages, {y.sum()} urgent, {len(set(groups))} near-duplicate groups "
          f"({len(y) - len(set(groups))} reposts joined)", file=sys.stderr)

    old = baseline_cues()
    said = [read_urgent_cues(t, labels) for t in rows["input"]]
    strict = np.array([[k in events for k in labels.urgent_cues] for events, _ in said], dtype=float)
    risks = np.array([[k in risk for k in labels.urgent_cues] for _, risk in said], dtype=float)
    hazards = [find_possible_emergency(t, labels) for t in rows["input"]]
    wide = np.array([[k in found for k in labels.possible_emergency] for found in hazards], dtype=float)
    logit = np.log(np.clip(p_model, 1e-6, 1 - 1e-6) / np.clip(1 - p_model, 1e-6, 1))[:, None]
    kinds = np.hstack([strict, risks, wide, strict.sum(1, keepdims=True), wide.sum(1, keepdims=True)])
    # char 1-3-grams; the vocabulary and idf are fitted once on all texts (no labels read), the weights per fold
    tfidf = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2, sublinear_tf=True, max_features=60000)
    feats = {"model": p_model, "kinds": kinds, "kinds+model": np.hstack([kinds, logit]),
             "tfidf": tfidf.fit_transform(rows["input"])}
    shipped = routed(rows, p_model, labels)
    rules = {
        "a_cues_before": cue_kinds(rows["input"], old).any(1),
        "a_as_routed_before": cue_kinds(rows["input"], old).any(1) | (p_model >= 0.5),
        "b_urgent_cues": strict.any(1),
        "b_urgent_or_possible": strict.any(1) | risks.any(1) | wide.any(1),
        "adopted_route_urgent": shipped["urgent"],
        "adopted_route_lane": shipped["lane"],
    }
    out = {"n": len(y), "urgent": int(y.sum()), "groups": int(len(set(groups))), "repeats": args.repeats,
           "target": {"recall": TARGET_RECALL, "precision": TARGET_PRECISION}, "fold_recall": FOLD_RECALL,
           "rules": {k: on_slices(v, rows) for k, v in rules.items()}, "rankers": {}, "train_to_dev": {}}
    rankers = ("model", "kinds", "kinds+model", "tfidf+kinds")
    unseen = rows["unseen"]
    curves = {}
    for name in rankers:
        runs = []
        for seed in range(args.repeats):
            scores, flags = cross_validate(name, feats, y, groups, seed)
            runs.append({**on_slices(flags, rows), "average_precision": round(average_precision_score(y, scores), 3),
                         "average_precision_unseen": round(average_precision_score(y[unseen], scores[unseen]), 3)})
            if seed == 0:
                curves[name] = {"all": precision_recall_curve(y, scores)[:2],
                                "unseen_by_model": precision_recall_curve(y[unseen], scores[unseen])[:2]}
        out["rankers"][name] = {
            "runs": runs,
            "mean": {k: round(float(np.mean([r["all"][k] for r in runs])), 3) for k in ("recall", "precision")},
            "sd": {k: round(float(np.std([r["all"][k] for r in runs])), 3) for k in ("recall", "precision")},
            **{k: round(float(np.mean([r[k] for r in runs])), 3)
               for k in ("average_precision", "average_precision_unseen")}}
        train, dev = np.flatnonzero(~rows["dev"]), np.flatnonzero(rows["dev"])
        dev_scores = fit_score(name, feats, train, dev, y)
        out["train_to_dev"][name] = figures(dev_scores >= threshold_inside(name, feats, train, y, groups, 0), y[dev])
        print(f"{name}: {out['rankers'][name]['mean']} ± {out['rankers'][name]['sd']}", file=sys.stderr)
    for name, f in out["rules"].items():
        print(f"{name}: {f['all']}; unseen by the model: {f['unseen_by_model']}", file=sys.stderr)

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "urgent.json").write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")
    plot(curves, out["rules"], RESULTS / "urgent_pr.png")
    adopted = out["rules"]["adopted_route_lane"]
    for where in ("all", "unseen_by_model"):  # the model's figures on the rows it trained on are in-sample
        print(f"adopted (route(): urgent or possible emergency), {where}: recall {adopted[where]['recall']}, "
              f"precision {adopted[where]['precision']} (target: recall >= {TARGET_RECALL} at precision >= "
              f"{TARGET_PRECISION})")
    return 0 if meets(adopted["all"]) and meets(adopted["unseen_by_model"]) else 1


def plot(curves: dict, rules: dict, path) -> None:
    """Out-of-fold PR curves of the rankers and the rules' points, on all rows and on the rows the shipped model
    never saw (on the others its probability is in-sample)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    for ax, where in zip(axes, ("all", "unseen_by_model")):
        for name, by_slice in curves.items():
            precision, recall = by_slice[where]
            ax.plot(recall, precision, label=f"ranker: {name}")
        for name, f in rules.items():
            ax.scatter([f[where]["recall"]], [f[where]["precision"]], marker="o", zorder=3, label=f"rule: {name}")
        ax.axvline(TARGET_RECALL, color="grey", ls=":")
        ax.axhline(TARGET_PRECISION, color="grey", ls=":")
        n = next(iter(rules.values()))[where]["urgent"]
        ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02),
               title=f"{'all rows' if where == 'all' else 'rows the shipped model never saw'} ({n} urgent)")
        ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    sys.exit(main())
