"""Similar past cases: does the most similar past case share the query's domain, and how fast is the search at the
case base's size and at 100 times that? Writes bench/similar_cases.md.

    .venv/bin/python bench/similar_cases.py [--model DIR_OR_TAG] [--out bench/similar_cases.md]

Writes its figures to bench/results/similar_cases.json and renders the .md from them (bench/report.py). Exits 1
when, as served, the most similar case shares the query's domain less often than the floor, or a search over the
real case base passes the latency budget (bench/conditions.py).

Vectors: Classifier.embed of the model (default: the shipped models/default), as the service computes them.
Embeddings are cached in build/bench/<model version>/ (first run: about 30 minutes on 2 busy cores; then under a
minute).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections import Counter

import numpy as np
import torch
from common import ROOT, Classifier, domains_cached, embed_cached, publish, read  # noqa: I001  (common puts the repo on sys.path)
from conditions import SIMILAR_CASES_LATENCY_BUDGET_MS, similar_cases_checks
from report import render_similar_cases
from threadpoolctl import threadpool_limits

from minsheng.assist.similarity import top_k
from minsheng.model.registry import SHIPPED_MODEL, model_dir

K = 5
QUERIES = 300  # latency samples per size


def agreement(query_domains: list[str], base_domains: np.ndarray, sims: np.ndarray,
              exclude: np.ndarray | None = None) -> dict[str, float]:
    """Top-1 / top-5 domain agreement of each query's nearest cases (sims: queries × cases)."""
    if exclude is not None:
        sims = np.where(exclude, -np.inf, sims)
    idx = np.argsort(-sims, axis=1)[:, :K]
    neighbours = base_domains[idx]
    truth = np.asarray(query_domains)[:, None]
    same = neighbours == truth
    vote = [Counter(row).most_common(1)[0][0] for row in neighbours]
    return {"n": len(query_domains), "top1": same[:, 0].mean(), "top5_any": same.any(axis=1).mean(),
            "top5_share": same.mean(), "top5_vote": np.mean([v == t for v, t in zip(vote, query_domains)]),
            "chance": chance(query_domains, base_domains)}


def chance(query_domains, base_domains) -> float:
    """Probability that a random case shares a random query's domain."""
    q, b = Counter(query_domains), Counter(base_domains.tolist())
    return sum(q[d] / len(query_domains) * b[d] / len(base_domains) for d in q)


def random_unit(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    matrix = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 50_000):
        block = rng.standard_normal((min(50_000, n - start), dim), dtype=np.float32)
        matrix[start:start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return matrix


def latencies(sizes: list[int], dim: int, rng: np.random.Generator, queries: int = QUERIES) -> list[dict]:
    """Brute-force top-5 (minsheng.assist.similarity.top_k, as CaseIndex.search) over n random unit vectors, one query
    at a time on one BLAS thread (a request's share of a busy machine). The sizes take turns query by query, so
    load from other processes falls on all of them alike."""
    matrices = [random_unit(n, dim, rng) for n in sizes]
    qs = random_unit(queries, dim, rng)
    times: list[list[float]] = [[] for _ in sizes]
    with threadpool_limits(1):
        for m in matrices:
            top_k(m, qs[0], K)  # warm up
        for q in qs:
            for m, t in zip(matrices, times):
                start = time.perf_counter()
                top_k(m, q, K)
                t.append((time.perf_counter() - start) * 1000)
    return [{"n": n, "p50": float(np.percentile(t, 50)), "p95": float(np.percentile(t, 95)), "mb": m.nbytes / 2**20}
            for n, m, t in zip(sizes, matrices, times)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="model folder or store tag (default: models/default)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "similar_cases.md"))
    args = parser.parse_args()
    started = time.perf_counter()
    clf = Classifier.load(model_dir(args.model) if args.model else SHIPPED_MODEL)

    # the labeled case base: citizen/train (15 domains) + domain/train (7 domains, reposts included)
    train = [read("citizen/train"), read("domain/train")]
    base_vectors = np.concatenate([embed_cached(clf, list(f["input"]), n)
                                   for f, n in zip(train, ("citizen/train", "domain/train"))])
    base_domains = np.concatenate([f["domain"].to_numpy() for f in train])
    results = {}
    for name in ("citizen/dev", "domain/dev"):
        q = read(name)
        vectors = embed_cached(clf, list(q["input"]), name)
        results[name] = agreement(list(q["domain"]), base_domains, vectors @ base_vectors.T)
        probs = domains_cached(clf, list(q["input"]), name)
        results[name]["classifier"] = np.mean(np.asarray(clf.labels["domain"])[probs.argmax(1)] == q["domain"])

    # as served: the real case base (data/cases, domains as the classifier predicts them), citizen/dev as
    # queries; half of citizen/dev is itself in data/cases, so a query's own case is left out
    cases = read("cases/replies")
    case_vectors = embed_cached(clf, list(cases["input"]), "cases/replies")
    case_probs = domains_cached(clf, list(cases["input"]), "cases/replies")
    case_domains = np.asarray(clf.labels["domain"])[case_probs.argmax(1)]
    q = read("citizen/dev")
    own = q["id"].to_numpy()[:, None] == cases["id"].to_numpy()[None, :]
    results["served"] = agreement(list(q["domain"]), case_domains,
                                  embed_cached(clf, list(q["input"]), "citizen/dev") @ case_vectors.T, own)
    results["served"]["own"] = int(own.any(axis=1).sum())

    # what the similar-cases route adds before the search: one encoder pass over the ticket (as Tagger.embed)
    clf.embed([q["input"][0]])
    embed_ms = []
    for text in q["input"][:40]:
        start = time.perf_counter()
        clf.embed([text])
        embed_ms.append((time.perf_counter() - start) * 1000)
    embed_ms = np.percentile(embed_ms, [50, 95])

    dim = base_vectors.shape[1]
    torch_threads = torch.get_num_threads()
    rng = np.random.default_rng(13)
    sizes = [len(cases), 10 * len(cases), 100 * len(cases)]
    load = os.getloadavg()[0]
    lat = latencies(sizes, dim, rng)
    data = {"model_version": clf.version, "base_model": clf.meta.get("base_model", "?"), "dim": int(dim),
            "machine": platform.machine(), "torch_threads": torch_threads, "case_base_labeled": len(base_vectors),
            "agreement": {name: {k: float(v) if isinstance(v, (float, np.floating)) else int(v) for k, v in r.items()}
                          for name, r in results.items()},
            "latency": lat, "latency_loadavg": round((load + os.getloadavg()[0]) / 2, 2),
            "latency_budget_ms": SIMILAR_CASES_LATENCY_BUDGET_MS,
            "embed_ms": {"p50": round(float(embed_ms[0]), 1), "p95": round(float(embed_ms[1]), 1)},
            "runtime_s": round(time.perf_counter() - started)}
    data["checks"] = similar_cases_checks(data["agreement"]["served"]["top1"], lat[0]["p95"])
    return publish("similar_cases", data, render_similar_cases, args.out, clf.version)


if __name__ == "__main__":
    sys.exit(main())
