"""Shared by similar_cases.py and hot_issues.py: the model, the labeled data as model inputs, an embedding
cache, and publishing results (JSON, then the report rendered from it).

Embeddings are cached in build/bench/ (gitignored) under the model's version and a hash of the inputs, so a
re-run only embeds what changed; a new model means a new cache."""
from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import save, verdict  # noqa: E402

from minsheng.core.text import model_input  # noqa: E402
from minsheng.model.classifier import Classifier  # noqa: E402

CACHE = ROOT / "build" / "bench"


def read(name: str) -> pd.DataFrame:
    """A data file (e.g. "citizen/dev") with an `input` column: what the model reads (title。text)."""
    frame = pd.read_csv(ROOT / "data" / f"{name}.csv", dtype=str, keep_default_na=False)
    frame["input"] = [model_input(t, x) for t, x in zip(frame.get("title", ""), frame["text"])]
    return frame


def _path(clf: Classifier, texts: list[str], name: str, kind: str) -> Path:
    digest = hashlib.sha256("\x1f".join(texts).encode("utf-8")).hexdigest()[:16]
    return CACHE / clf.version / f"{name.replace('/', '_')}-{kind}-{digest}.npy"


def embed_cached(clf: Classifier, texts: list[str], name: str, batch_size: int = 32) -> np.ndarray:
    """clf.embed(texts), from build/bench/<model version>/ when computed before."""
    path = _path(clf, texts, name, "embed")
    if not path.exists():
        _compute(clf, texts, name, batch_size, with_domains=False)
    return np.load(path)


def domains_cached(clf: Classifier, texts: list[str], name: str, batch_size: int = 32) -> np.ndarray:
    """clf.predict_proba(texts)["domain"], cached like embed_cached (computed with the vectors, in one pass)."""
    path = _path(clf, texts, name, "domain")
    if not path.exists():
        _compute(clf, texts, name, batch_size, with_domains=True)
    return np.load(path)


def _compute(clf: Classifier, texts: list[str], name: str, batch_size: int, with_domains: bool) -> None:
    start = time.perf_counter()
    vectors, probs = [], []
    for i in range(0, len(texts), 512):
        if with_domains:
            p, v = clf.predict_and_embed(texts[i:i + 512], batch_size)
            probs.append(p["domain"])
        else:
            v = clf.embed(texts[i:i + 512], batch_size)
        vectors.append(v.astype(np.float32))
    print(f"encoded {len(texts)} {name} texts in {time.perf_counter() - start:.0f}s", file=sys.stderr)
    _path(clf, texts, name, "embed").parent.mkdir(parents=True, exist_ok=True)
    np.save(_path(clf, texts, name, "embed"), np.concatenate(vectors))
    if with_domains:
        np.save(_path(clf, texts, name, "domain"), np.concatenate(probs))


def publish(name: str, data: dict, render: Callable[[dict], str], out: str, model_version: str) -> int:
    """Saves results/<name>.json, renders the report `out` from it alone (bench/report.py does the same later),
    prints both and the acceptance conditions; returns the exit status."""
    path = save(name, data, model_version=model_version)
    text = render(data)
    Path(out).write_text(text, encoding="utf-8")
    print(text)
    print(f"written {path} and {out}")
    return verdict(data["checks"])
