"""jieba words + character 1-3-grams, TF-IDF, one logistic regression per task: the fast baseline, and the
second member of the shipped ensemble (it makes different errors from the encoder, at a small cost per message).
Features are hashed so the model needs no vocabulary on disk; weights are stored as float16 to stay small."""
from __future__ import annotations

import logging
from pathlib import Path

import jieba
import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.linear_model import LogisticRegression

jieba.setLogLevel(logging.WARNING)


def _words(text: str) -> list[str]:
    return [w for w in jieba.lcut(text) if w.strip()]


class TfidfHeads:
    """scikit-learn style: fit(texts, labels) then predict_proba(texts) -> {task: (n, classes) array}."""

    def __init__(self, head_sizes: dict[str, int], C: float = 10.0, balanced: tuple[str, ...] = ()):
        self.head_sizes = head_sizes
        self.C = C
        self.balanced = balanced  # tasks whose rare classes get the weight of common ones
        self._chars = HashingVectorizer(analyzer="char", ngram_range=(1, 3), n_features=2**17,
                                        alternate_sign=False, norm=None)
        self._words = HashingVectorizer(analyzer=_words, n_features=2**15, alternate_sign=False, norm=None)
        self._tfidf = TfidfTransformer(sublinear_tf=True)
        self.coef: dict[str, np.ndarray] = {}
        self.intercept: dict[str, np.ndarray] = {}
        self._weights = np.zeros((0, 0), dtype=np.float32)  # every task's coef, transposed: one product a call
        self._intercepts = np.zeros(0, dtype=np.float32)
        self._columns: dict[str, slice] = {}

    def _counts(self, texts: list[str]) -> sp.csr_matrix:
        return sp.hstack([self._chars.transform(texts), self._words.transform(texts)], format="csr")

    def fit(self, texts: list[str], labels: dict[str, list[int]]) -> "TfidfHeads":
        X = self._tfidf.fit_transform(self._counts(texts))
        for task, n_classes in self.head_sizes.items():
            y = np.asarray(labels[task])
            rows = np.flatnonzero(y != -100)
            # expand to the full label set: classes absent from training keep a very low score
            coef = np.zeros((n_classes, X.shape[1]), dtype=np.float32)
            intercept = np.full(n_classes, -20.0, dtype=np.float32)
            seen = np.unique(y[rows])
            if len(seen) < 2:  # nothing to learn (tiny data): predict the one class seen, or uniform
                intercept[seen] = 0.0
                if not len(seen):
                    intercept[:] = 0.0
                self.coef[task], self.intercept[task] = coef, intercept
                continue
            clf = LogisticRegression(C=self.C, max_iter=500,
                                     class_weight="balanced" if task in self.balanced else None).fit(X[rows], y[rows])
            if len(clf.classes_) == 2:  # sklearn stores one row for a binary problem
                coef[clf.classes_[1]], intercept[clf.classes_[1]] = clf.coef_[0], clf.intercept_[0]
                intercept[clf.classes_[0]] = 0.0
            else:
                coef[clf.classes_], intercept[clf.classes_] = clf.coef_, clf.intercept_
            self.coef[task], self.intercept[task] = coef, intercept
        return self._stack()

    def _stack(self) -> "TfidfHeads":
        """Once, after fit or load, not on every call: the transposed weights are large (reports/experiments.md, "Smaller measurements")."""
        self._weights = np.ascontiguousarray(np.concatenate([self.coef[t] for t in self.coef]).T, dtype=np.float32)
        self._intercepts = np.concatenate([self.intercept[t] for t in self.coef]).astype(np.float32)
        ends = np.cumsum([len(self.intercept[t]) for t in self.coef])
        self._columns = {t: slice(end - len(self.intercept[t]), end) for t, end in zip(self.coef, ends)}
        return self

    def predict_logits(self, texts: list[str]) -> dict[str, np.ndarray]:
        X = self._tfidf.transform(self._counts(texts)).astype(np.float32)  # float64 would upcast the weights
        logits = np.asarray(X @ self._weights) + self._intercepts
        return {t: logits[:, columns] for t, columns in self._columns.items()}

    def save(self, path: Path) -> None:
        arrays = {"idf": self._tfidf.idf_.astype(np.float32), "C": np.array(self.C)}
        for task in self.coef:
            arrays[f"coef:{task}"] = self.coef[task].astype(np.float16)
            arrays[f"intercept:{task}"] = self.intercept[task]
        np.savez_compressed(path, **arrays)

    @classmethod
    def load(cls, path: Path, head_sizes: dict[str, int]) -> "TfidfHeads":
        arrays = np.load(path)
        heads = cls(head_sizes, C=float(arrays["C"]))
        heads._tfidf.idf_ = arrays["idf"].astype(np.float64)
        for task in head_sizes:
            heads.coef[task] = arrays[f"coef:{task}"].astype(np.float32)
            heads.intercept[task] = arrays[f"intercept:{task}"]
        return heads._stack()
