"""`minsheng evaluate`: the dev-set report (Markdown + JSON + plots) of the shipped blend, its encoder alone and
the TF-IDF baseline, side by side, with the targets the project set itself."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
)

from minsheng.core.labels import TASKS, LabelSet
from minsheng.core.routing import find_urgent_cues, needs_triage
from minsheng.model.classifier import Classifier
from minsheng.training import plots
from minsheng.training.data import default_plan, inputs, label_ids, load_split
from minsheng.training.metrics import (
    GROUP_WEIGHT_GRID,
    MIN_SUPPORT,
    averaged_classes,
    ece,
    macro_f1,
)

SYSTEMS = ("shipped", "encoder", "baseline")
# (slice, task, metric, target): the acceptance figures for the default model (issue 17)
TARGETS = [("domain/dev", "domain", "macro_f1", 0.93), ("citizen/dev", "domain", "accuracy", 0.85),
           ("citizen/dev", "sentiment", "macro_f1", 0.90), ("citizen/dev", "appeal", "macro_f1", 0.80)]
MAX_ECE = 0.03  # on each head and slice: a probability the service shows must mean what it says
# messages of the domains the Teddy data lacks: at least this share routed right, at most this share to a wrong
# department (the rest to triage)
RARE_RIGHT, RARE_WRONG = 0.5, 0.15
HEADLINE = {"domain": "macro_f1", "sentiment": "macro_f1", "appeal": "macro_f1", "urgent": "positive_f1"}


def head_metrics(y: np.ndarray, p: np.ndarray, names: list[str]) -> dict:
    pred = p.argmax(1)
    prec, rec, f1, support = precision_recall_fscore_support(y, pred, labels=range(len(names)), zero_division=0)
    out = {"n": int(len(y)), "accuracy": float(accuracy_score(y, pred)), "macro_f1": macro_f1(y, pred),
           "averaged_classes": [names[c] for c in averaged_classes(y)], "ece": ece(p, y),
           "per_class": {names[c]: {"precision": float(prec[c]), "recall": float(rec[c]), "f1": float(f1[c]),
                                    "support": int(support[c])} for c in range(len(names)) if support[c] or
                         (pred == c).any()}}
    if len(names) == 2:  # the urgent flag: the positive class is what matters
        out["positive_f1"] = float(f1[1])
    return out


def _reliability(p: np.ndarray, y: np.ndarray, bins: int = 10):
    conf, correct = p.max(1), p.argmax(1) == y
    idx = np.clip((conf * bins).astype(int), 0, bins - 1)
    count = np.bincount(idx, minlength=bins)
    mean = lambda v: np.bincount(idx, weights=v, minlength=bins) / count.clip(min=1)  # noqa: E731
    return mean(conf), mean(correct.astype(float)), count, ece(p, y, bins)


def _coverage(p: np.ndarray, y: np.ndarray):
    conf, correct = p.max(1), p.argmax(1) == y
    thresholds = np.linspace(0, 0.99, 100)
    cov = np.array([(conf >= t).mean() for t in thresholds])
    acc = np.array([correct[conf >= t].mean() if (conf >= t).any() else np.nan for t in thresholds])
    return thresholds, cov, acc


def _routing_of_unfamiliar(p: np.ndarray, y: np.ndarray, familiar: set[int], labels: LabelSet) -> dict:
    """Where messages of domains with little training data go: triage (good), the right or a wrong department."""
    out = {}
    for name, rows in (("rare_domains", ~np.isin(y, list(familiar))), ("common_domains", np.isin(y, list(familiar)))):
        pred, yy, review = p[rows].argmax(1), y[rows], needs_triage(p[rows], labels)
        out[name] = {"n": int(rows.sum()), "needs_review": float(review.mean()),
                     "right_department": float(((~review) & (pred == yy)).mean()),
                     "wrong_department": float(((~review) & (pred != yy)).mean())}
    return out


def _urgent_as_routed(p_urgent: np.ndarray, y: np.ndarray, texts: list[str], labels: LabelSet) -> dict:
    """The urgent flag as route() sets it (the model's probability reaches the threshold, or the text names an
    urgent cue), beside each of its two parts."""
    by_model = p_urgent >= labels.urgent_threshold
    by_cue = np.array([bool(find_urgent_cues(t, labels)) for t in texts])
    out = {}
    for name, flagged in (("model", by_model), ("cues", by_cue), ("routed", by_model | by_cue)):
        prec, rec, f1, _ = precision_recall_fscore_support(y, flagged.astype(int), labels=[1], zero_division=0)
        out[name] = {"flagged": int(flagged.sum()), "true_positives": int((flagged & (y == 1)).sum()),
                     "precision": float(prec[0]), "recall": float(rec[0]), "f1": float(f1[0])}
    return {"n": int(len(y)), "positives": int(y.sum()), **out}


BOOTSTRAP = 1000


def _headline(y: np.ndarray, pred: np.ndarray, metric: str) -> float:
    if metric == "positive_f1":
        return float(precision_recall_fscore_support(y, pred, labels=[1], zero_division=0)[2][0])
    return macro_f1(y, pred)


def _margin(y: np.ndarray, pred: np.ndarray, baseline: np.ndarray, metric: str, seed: int = 0) -> dict:
    """shipped - baseline on `metric`, and its 95% paired-bootstrap interval over the rows."""
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(BOOTSTRAP):
        i = rng.integers(0, len(y), len(y))
        draws.append(_headline(y[i], pred[i], metric) - _headline(y[i], baseline[i], metric))
    low, high = np.nanpercentile(draws, [2.5, 97.5])
    return {"margin": _headline(y, pred, metric) - _headline(y, baseline, metric), "low": float(low),
            "high": float(high), "beats": bool(low > 0)}


def _group_variants(clf: Classifier, p_enc: dict, p_tf: dict, y_all: dict, source: np.ndarray) -> list[dict]:
    """The domain figures at each weight the group head could have (0: the shared 15-way head alone)."""
    if not clf.calibration.group:
        return []
    out = []
    for weight in GROUP_WEIGHT_GRID:
        cal = replace(clf.calibration, group_weight=weight)
        p = cal.apply(p_enc, p_tf)["domain"]
        row = {"group_weight": weight, "chosen": weight == clf.calibration.group_weight}
        for slice_name, src, metric in (("domain/dev", "domain", "macro_f1"), ("citizen/dev", "citizen", "accuracy"),
                                        ("citizen/dev", "citizen", "macro_f1")):
            rows = (source == src) & (y_all["domain"] != -100)
            row[f"{slice_name} {metric}"] = head_metrics(y_all["domain"][rows], p[rows], clf.labels["domain"])[metric]
        out.append(row)
    return out


def _thresholds(report: dict) -> str:
    overrides = report.get("domain_threshold_overrides") or {}
    out = ", ".join([f"{report['domain_threshold']:.2f}"] + [f"{d} {v:.2f}" for d, v in overrides.items()])
    share = report.get("unfamiliar_share")
    return out + (f"; unfamiliar share {share:g}" if share is not None else "")


SHARE_GRID = (None, 0.1, 0.125, 0.15, 0.2, 0.3)


def _share_variants(p: np.ndarray, y: np.ndarray, familiar: set[int], labels: LabelSet) -> list[dict]:
    """The routing of unfamiliar domains at each unfamiliar_share routing.yaml could hold (None: off)."""
    return [{"unfamiliar_share": share, "chosen": share == labels.unfamiliar_share,
             **_routing_of_unfamiliar(p, y, familiar, replace(labels, unfamiliar_share=share))} for share in SHARE_GRID]


def _as_served(served: Classifier, x: list[str], y_all: dict, source: np.ndarray, shipped: dict) -> dict:
    """The target figures of the model as the service runs it (quantized), beside fp32, and how many of its
    decisions are the same."""
    probs = served.predict_proba(x)
    rows = []
    for s, t, m, _ in TARGETS:
        keep = (source == s.split("/")[0]) & (y_all[t] != -100)
        names = list(range(probs[t].shape[1]))
        rows.append({"slice": s, "task": t, "metric": m,
                     "fp32": head_metrics(y_all[t][keep], shipped[t][keep], names)[m],
                     served.quantize: head_metrics(y_all[t][keep], probs[t][keep], names)[m]})
    same = {t: float((probs[t].argmax(1) == shipped[t].argmax(1)).mean()) for t in TASKS}
    return {"quantize": served.quantize, "targets": rows, "same_decisions": same}


def evaluate(clf: Classifier, labels: LabelSet, out_dir: Path, served: Classifier | None = None) -> str:
    """served: the same model loaded quantized (MINSHENG_QUANTIZE=int8), to report what quantization changes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    dev = load_split(default_plan().dev, labels)
    y_all = {t: np.asarray(v) for t, v in label_ids(dev, labels).items()}
    source = np.asarray(dev["source"])
    texts = inputs(dev)
    p_enc, p_tf = clf.component_probs(texts)
    probs = {"encoder": p_enc, "baseline": p_tf,
             "shipped": clf.calibration.apply(p_enc, p_tf)}
    names = {t: list(labels.values[t]) for t in TASKS}

    results: dict = {s: {} for s in SYSTEMS}
    for system in SYSTEMS:
        for slice_name, src in (("domain/dev", "domain"), ("citizen/dev", "citizen")):
            for task in TASKS:
                rows = (source == src) & (y_all[task] != -100)
                if rows.any():
                    results[system].setdefault(slice_name, {})[task] = head_metrics(
                        y_all[task][rows], probs[system][task][rows], names[task])

    shipped = probs["shipped"]
    dom_rows = y_all["domain"] != -100
    familiar = {labels.index("domain", d) for d in set(np.asarray(dev["domain"])[source == "domain"])}
    citizen = (source == "citizen") & dom_rows
    routing = _routing_of_unfamiliar(shipped["domain"][citizen], y_all["domain"][citizen], familiar, labels)
    share_variants = _share_variants(shipped["domain"][citizen], y_all["domain"][citizen], familiar, labels)
    urgent_rows = y_all["urgent"] != -100
    urgent = _urgent_as_routed(shipped["urgent"][urgent_rows, 1], y_all["urgent"][urgent_rows],
                               [x for x, keep in zip(texts, urgent_rows) if keep], labels)

    figures = {}
    for task in ("domain", "sentiment", "appeal"):
        rows = y_all[task] != -100
        cm = confusion_matrix(y_all[task][rows], shipped[task][rows].argmax(1), labels=range(len(names[task])))
        figures[f"confusion_{task}"] = f"confusion_{task}.png"
        plots.confusion(cm, names[task], f"{task}: all dev rows (shipped model)", out_dir / figures[f"confusion_{task}"])
    uncalibrated = clf.calibration.mix("domain", p_enc, p_tf)
    plots.reliability({"shipped (calibrated)": _reliability(shipped["domain"][dom_rows], y_all["domain"][dom_rows]),
                       "blend before temperature": _reliability(uncalibrated[dom_rows], y_all["domain"][dom_rows])},
                      out_dir / "reliability_domain.png")
    plots.coverage({name: _coverage(shipped["domain"][(source == src) & dom_rows], y_all["domain"][(source == src) & dom_rows])
                    for name, src in (("domain/dev (7 domains)", "domain"), ("citizen/dev (15 domains)", "citizen"))},
                   labels.domain_threshold, out_dir / "coverage_domain.png")
    figures.update(reliability="reliability_domain.png", coverage="coverage_domain.png")

    as_served = _as_served(served, texts, y_all, source, shipped) if served else None
    group_variants = _group_variants(clf, p_enc, p_tf, y_all, source)
    targets = [{"slice": s, "task": t, "metric": m, "target": v, "value": results["shipped"][s][t][m],
                "met": results["shipped"][s][t][m] >= v} for s, t, m, v in TARGETS]
    targets += [{"slice": s, "task": t, "metric": "ece", "target": MAX_ECE, "value": m["ece"], "met": m["ece"] <= MAX_ECE,
                 "at_most": True} for s, heads in results["shipped"].items() for t, m in heads.items() if t != "urgent"]
    rare = routing["rare_domains"]
    targets += [{"slice": "citizen/dev rare domains", "task": "domain", "metric": "right department",
                 "target": RARE_RIGHT, "value": rare["right_department"], "met": rare["right_department"] >= RARE_RIGHT},
                {"slice": "citizen/dev rare domains", "task": "domain", "metric": "wrong department",
                 "target": RARE_WRONG, "value": rare["wrong_department"], "met": rare["wrong_department"] <= RARE_WRONG,
                 "at_most": True}]
    beats = {}
    for slice_name, src in (("domain/dev", "domain"), ("citizen/dev", "citizen")):
        for task in results["shipped"].get(slice_name, {}):
            rows = (source == src) & (y_all[task] != -100)
            beats[f"{slice_name}:{task}"] = _margin(y_all[task][rows], shipped[task][rows].argmax(1),
                                                    p_tf[task][rows].argmax(1), HEADLINE[task])
    report = {"model_version": clf.version, "label_version": labels.version, "calibration": {
        "blend_encoder_weight": clf.calibration.blend, "temperature": clf.calibration.temperature,
        "group_weight": clf.calibration.group_weight},
        "domain_threshold": labels.domain_threshold,
        "domain_threshold_overrides": labels.domain_threshold_overrides,
        "unfamiliar_share": labels.unfamiliar_share, "share_variants": share_variants, "results": results, "targets": targets,
        "shipped_beats_baseline": beats, "routing_by_domain_familiarity": routing,
        "urgent_as_routed": urgent, "figures": figures,
        "as_served": as_served, "group_variants": group_variants,
        "train_meta": {k: clf.meta.get(k) for k in ("timings_s", "train_rows", "base_model", "machine")}}
    (out_dir / "evaluation.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    markdown = render(report)
    (out_dir / "evaluation.md").write_text(markdown, encoding="utf-8")
    return markdown


def _routing_cell(v: dict) -> str:
    return f"{v['needs_review']:.1%} / {v['right_department']:.1%} / {v['wrong_department']:.1%}"


def render(r: dict) -> str:
    res = r["results"]
    lines = [f"# Evaluation of model {r['model_version']} (labels {r['label_version']})", "",
             "Dev sets only (the sealed sets are never opened here). The blend weights and temperatures were "
             "chosen on these same dev sets, so the shipped figures are slightly optimistic; the encoder and "
             "baseline columns are not tuned on dev.", "", "## Headline, side by side", "",
             "| slice | head | metric | shipped | encoder | TF-IDF baseline |", "|---|---|---|---|---|---|"]
    for s in res["shipped"]:
        for t, m in res["shipped"][s].items():
            for metric in ("accuracy", HEADLINE[t]) if t != "urgent" else ("positive_f1",):
                vals = [res[sys_][s][t][metric] for sys_ in SYSTEMS]
                lines.append(f"| {s} | {t} | {metric} | " + " | ".join(f"{v:.3f}" for v in vals) + " |")
    lines += ["", f"Macro-F1 averages the classes with at least {MIN_SUPPORT} dev examples; the others are in the "
              "per-class tables.", "", "## Targets", "", "| slice | head | metric | target | shipped | met |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {x['slice']} | {x['task']} | {x['metric']} | {'≤' if x.get('at_most') else '≥'} {x['target']:.2f} | "
              f"{x['value']:.3f} | {'yes' if x['met'] else '**no**'} |" for x in r["targets"]]
    lines += ["", "## Shipped against the TF-IDF baseline", "",
              f"The margin of the headline metric, with its 95% interval from {BOOTSTRAP} paired bootstrap samples of "
              "the dev rows: shipped beats the baseline where the interval lies above 0 (the margin is larger than "
              "the noise of a dev set this size).", "",
              "| slice · head | metric | margin (points) | 95% interval | beats |", "|---|---|---|---|---|"]
    lines += [f"| {k.replace(':', ' · ')} | {HEADLINE[k.split(':')[1]]} | {100 * v['margin']:+.1f} | "
              f"{100 * v['low']:+.1f} to {100 * v['high']:+.1f} | {'yes' if v['beats'] else '**no**'} |"
              for k, v in r["shipped_beats_baseline"].items()]
    lines += ["", f"## Routing of unfamiliar domains (citizen/dev, threshold {_thresholds(r)})",
              "",
              "Domains outside the 7 of the large training set have little data; they should go to triage "
              "(needs_review) rather than to a wrong department.", "",
              "| domains | n | needs_review | right department | wrong department |", "|---|---|---|---|---|"]
    for name, v in r["routing_by_domain_familiarity"].items():
        lines.append(f"| {name.replace('_', ' ')} | {v['n']} | {v['needs_review']:.1%} | {v['right_department']:.1%} | "
                     f"{v['wrong_department']:.1%} |")
    if r.get("share_variants"):
        lines += ["", "A message whose top domain is one of routing.yaml's familiar_domains goes to triage too when "
                  "the other domains hold at least unfamiliar_share of its probability. At each share (triage / right "
                  "/ wrong department):", "",
                  "| unfamiliar share | rare domains | common domains |", "|---|---|---|"]
        for v in r["share_variants"]:
            share = "off" if v["unfamiliar_share"] is None else f"{v['unfamiliar_share']:g}"
            lines.append(f"| {share}{' (chosen)' if v['chosen'] else ''} | {_routing_cell(v['rare_domains'])} | "
                         f"{_routing_cell(v['common_domains'])} |")
    u = r["urgent_as_routed"]
    lines += ["", f"## The urgent flag as routed (citizen/dev, {u['n']} messages, {u['positives']} urgent)", "",
              "route() flags a message when the model's urgent probability reaches routing.yaml's threshold, or "
              "when the message names one of routing.yaml's urgent cues.", "",
              "| flagged by | flagged | of them urgent | precision | recall | F1 |", "|---|---|---|---|---|---|"]
    lines += [f"| {name} | {u[name]['flagged']} | {u[name]['true_positives']} | {u[name]['precision']:.3f} | "
              f"{u[name]['recall']:.3f} | {u[name]['f1']:.3f} |" for name in ("model", "cues", "routed")]
    if r.get("as_served"):
        q = r["as_served"]["quantize"]
        lines += ["", f"## As served ({q}, MINSHENG_QUANTIZE)", "",
                  f"| slice | head | metric | fp32 | {q} | change (points) |", "|---|---|---|---|---|---|"]
        lines += [f"| {x['slice']} | {x['task']} | {x['metric']} | {x['fp32']:.3f} | {x[q]:.3f} | "
                  f"{100 * (x[q] - x['fp32']):+.2f} |" for x in r["as_served"]["targets"]]
        lines += ["", "Same decision as fp32: " + ", ".join(f"{t} {v:.1%}" for t, v in
                                                          r["as_served"]["same_decisions"].items()) + "."]
    if r.get("group_variants"):
        keys = [k for k in r["group_variants"][0] if k not in ("group_weight", "chosen")]
        lines += ["", "## The domain head: shared alone, or with the Teddy-only head", "",
                  "The weight with which the Teddy-only head re-divides the share the shared 15-way head gives its 7 "
                  "domains (0: the shared head alone; chosen on dev by the mean of the two sources' macro-F1).", "",
                  "| group weight | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
        lines += [f"| {v['group_weight']:.2f}{' (chosen)' if v['chosen'] else ''} | " +
                  " | ".join(f"{v[k]:.3f}" for k in keys) + " |" for v in r["group_variants"]]
    lines += ["", "## Figures", ""] + [f"![{k}]({v})" for k, v in r["figures"].items()]
    lines += ["", "## Per-class (shipped)"]
    for s in res["shipped"]:
        for t, m in res["shipped"][s].items():
            lines += ["", f"### {s} · {t} (ECE {m['ece']:.3f})", "", "| class | precision | recall | F1 | support |",
                      "|---|---|---|---|---|"]
            lines += [f"| {c} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']}"
                      f"{'' if c in m['averaged_classes'] or t == 'urgent' else ' (not averaged)'} |"
                      for c, v in m["per_class"].items()]
    cal = r["calibration"]
    lines += ["", "## Calibration", "", "| head | encoder weight in blend | temperature |", "|---|---|---|"]
    lines += [f"| {t} | {w:.2f} | {cal['temperature'][t]:.2f} |" if t in cal["temperature"] else f"| {t} | {w:.2f} | – |"
              for t, w in cal["blend_encoder_weight"].items()]
    if cal.get("group_weight") is not None:
        lines += ["", f"The Teddy-only domain head (domain_group) re-divides the share the shared head gives its 7 "
                  f"domains with weight {cal['group_weight']:.2f} (0: the shared head alone)."]
    tm = r["train_meta"]
    lines += ["", f"Training: {tm.get('train_rows')} rows, {tm.get('timings_s')} seconds on {tm.get('machine')}.", ""]
    return "\n".join(lines)
