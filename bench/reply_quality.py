"""Reply quality (minsheng/assist/reply_quality.py) on real replies: does a message's own published reply outrank
the replies given to other messages of the same domain, and how do the form checks fire on real replies?
Writes bench/reply_quality.md.

    .venv/bin/python bench/reply_quality.py [--sample 800] [--model DIR_OR_TAG] [--out bench/reply_quality.md]

A seeded sample of data/cases/replies.csv (2,507 messages with the reply each got). Each message's domain is the
classifier's prediction (the cases carry no label); its candidates are the sample's replies to other messages of
that domain. AUC: the share of (own reply, other reply) pairs where the own reply scores higher (ties half);
top-1: the share of messages whose own reply scores strictly highest. For the full score and for each part.
Vectors: the model as served ($MINSHENG_QUANTIZE, int8 by default) on PII-masked texts, as the service embeds;
cached in build/bench/ like the other scripts' (a re-run after changing the scoring takes a minute).
Exits 1 when the full score's AUC is under the floor (bench/conditions.py).
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd
from common import ROOT, Classifier, domains_cached, embed_cached, publish  # noqa: I001  (common puts the repo on sys.path)
from conditions import REPLY_QUALITY_MIN_AUC, reply_quality_checks
from report import render_reply_quality

from minsheng.assist import reply_quality as rq
from minsheng.core.nlp import get_analyzer, masked_input
from minsheng.model.embedding import served_quantize
from minsheng.model.registry import SHIPPED_MODEL, model_dir

PARTS = ("score", "message", "relevance", "completeness", "form")


def rank_figures(own: np.ndarray, others: list[np.ndarray]) -> dict[str, float]:
    """AUC (ties half) and strict top-1 of each message's own value against its candidates' values."""
    wins = ties = pairs = top1 = 0
    for o, rest in zip(own, others):
        if len(rest) == 0:
            continue
        wins += int((o > rest).sum())
        ties += int((o == rest).sum())
        pairs += len(rest)
        top1 += int(o > rest.max())
    n = sum(len(r) > 0 for r in others)
    return {"auc": (wins + ties / 2) / pairs, "top1": top1 / n, "messages": n, "pairs": pairs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sample", type=int, default=800)
    parser.add_argument("--model", help="model folder or store tag (default: models/default)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "reply_quality.md"))
    args = parser.parse_args()
    started = time.perf_counter()
    threads = int(os.environ.get("BENCH_THREADS", "1"))
    import torch

    torch.set_num_threads(threads)
    clf = Classifier.load(model_dir(args.model) if args.model else SHIPPED_MODEL, quantize=served_quantize())
    cases = pd.read_csv(ROOT / "data" / "cases" / "replies.csv", dtype=str, keep_default_na=False)
    sample = cases.sample(n=min(args.sample, len(cases)), random_state=13).reset_index(drop=True)
    messages = [masked_input(t, x) for t, x in zip(sample["title"], sample["text"])]
    replies = [masked_input(None, r) for r in sample["reply"]]
    q = served_quantize()  # the cache is per model version: the quantization goes into the name
    probs = domains_cached(clf, messages, f"reply_quality-messages-{q}", 16)
    message_vectors = embed_cached(clf, messages, f"reply_quality-messages-{q}", 16)
    reply_vectors = embed_cached(clf, replies, f"reply_quality-replies-{q}", 16)
    domains = np.asarray(clf.labels["domain"])[probs.argmax(1)]
    analyses = get_analyzer().pipe([f"{t}。{x}" if t else x for t, x in zip(sample["title"], sample["text"])])
    items = [rq.expected_items(a.places, a.keywords) for a in analyses]
    cosines = np.asarray(message_vectors, dtype=np.float32) @ np.asarray(reply_vectors, dtype=np.float32).T
    forms = [rq.form_checks(r) for r in sample["reply"]]

    def value(i: int, j: int) -> dict[str, float]:
        out = rq.assess(float(cosines[i, j]), items[i], sample["reply"][j])
        # the parts that depend on the message: form is the same whichever message a reply is compared with
        out["message"] = sum(rq.WEIGHTS[k] * out[k] for k in ("relevance", "completeness"))
        return out

    own = {p: [] for p in PARTS}
    others = {p: [] for p in PARTS}
    for i in range(len(sample)):
        candidates = [j for j in np.flatnonzero(domains == domains[i]) if j != i]
        mine = value(i, i)
        theirs = [value(i, j) for j in candidates]
        for p in PARTS:
            own[p].append(mine[p])
            others[p].append(np.asarray([t[p] for t in theirs], dtype=float))
    ranking = {p: rank_figures(np.asarray(own[p]), others[p]) for p in PARTS}
    real_cos = np.diag(cosines)
    data = {
        "model_version": clf.version, "quantize": served_quantize(), "sample": len(sample), "of": len(cases),
        "domains": {d: int(n) for d, n in zip(*np.unique(domains, return_counts=True))},
        "ranking": ranking,
        "form_fires": {k: float(np.mean([f[k] for f in forms])) for k in forms[0]},
        "real_reply": {"score_p10_p50_p90": [float(x) for x in np.percentile(own["score"], [10, 50, 90])],
                       "cosine_p10_p50_p90": [float(x) for x in np.percentile(real_cos, [10, 50, 90])],
                       "completeness_mean": float(np.mean(own["completeness"])),
                       "items_per_message": float(np.mean([len(i) for i in items]))},
        "relevance_band": [rq.RELEVANCE_LOW, rq.RELEVANCE_HIGH], "weights": rq.WEIGHTS,
        "min_auc": REPLY_QUALITY_MIN_AUC, "torch_threads": threads,
        "runtime_s": round(time.perf_counter() - started),
    }
    data["checks"] = reply_quality_checks(ranking["score"]["auc"])
    return publish("reply_quality", data, render_reply_quality, args.out, clf.version)


if __name__ == "__main__":
    raise SystemExit(main())
