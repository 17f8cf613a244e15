"""Similar past cases and hot issues: sentence vectors of the classifier's encoder, a brute-force top-k, and the
rule that says whether two messages raise the same issue (tuned in bench/hot_issues.py).

Vectors are L2-normalised float32 (Classifier.embed), so a dot product is the cosine similarity. They are
stored as raw float32 bytes, tagged with the model version that made them: vectors of two models are not
comparable."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import jieba
import numpy as np

from minsheng.core.nlp import extract_keywords, extract_places

DTYPE = np.float32


def to_bytes(vector: Sequence[float] | np.ndarray) -> bytes:
    return np.asarray(vector, dtype=DTYPE).tobytes()


def from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=DTYPE)


def top_k(matrix: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the k rows most similar to `query` (best first) and their cosine similarities."""
    if matrix.shape[0] == 0 or k <= 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=DTYPE)
    sims = matrix @ query.astype(DTYPE, copy=False)
    k = min(k, len(sims))
    idx = np.argpartition(-sims, k - 1)[:k]
    idx = idx[np.argsort(-sims[idx], kind="stable")]
    return idx, sims[idx]


# --- same issue? ----------------------------------------------------------------------------------------------
# Places that name a whole city, district or province (A市, A3区, 西地省, 长沙市) are shared by unrelated messages;
# a shared street, estate, village or building is evidence of the same issue.
_ADMIN_SUFFIXES = ("省", "市", "县", "区")
_LOCAL_AREAS = ("小区", "社区", "园区", "景区", "校区", "街区", "片区", "新区", "城区")
# A place word this frequent in jieba's dictionary is a country, province or big city (中国 129,470, 北京 34,488,
# 广东 4,256) or a common word jieba mistook for a place (福利 1,112, 青春 1,089); local names are rare (楚江 3).
_BROAD_FREQ = 100


def specific_places(places: Iterable[str]) -> set[str]:
    if not jieba.dt.initialized:
        jieba.initialize()  # get_FREQ answers None until the dictionary is loaded
    return {p for p in places if (not p.endswith(_ADMIN_SUFFIXES) or p.endswith(_LOCAL_AREAS))
            and (jieba.get_FREQ(p) or 0) < _BROAD_FREQ}


def districts(places: Iterable[str]) -> set[str]:
    """The districts and counties named (A3区, K8县, 雨花区): two messages naming only different ones are about
    different places."""
    return {p for p in places if p.endswith(("区", "县")) and not p.endswith(_LOCAL_AREAS)}


def place_conflict(places_a: Iterable[str], places_b: Iterable[str]) -> bool:
    """Both messages say where, and not the same: different districts, or different streets/estates/villages."""
    places_a, places_b = list(places_a), list(places_b)
    for kind in (districts, specific_places):
        a, b = kind(places_a), kind(places_b)
        if a and b and not a & b:
            return True
    return False


ISSUE_KEYWORDS = 20


def issue_features(masked: str) -> tuple[list[str], list[str]]:
    """What grouping compares besides the vectors, from a masked model input: the places, and the words of the
    problem: jieba TF-IDF keywords without place names and without masked codes or PII tags (A3, PHONE), which
    say where, not what."""
    places = extract_places(masked)
    words = [k for k in extract_keywords(masked, ISSUE_KEYWORDS + len(places))
             if not k.isascii() and not any(k in p or p in k for p in places)]
    return places, words[:ISSUE_KEYWORDS]


def overlap(a: Iterable[str], b: Iterable[str]) -> float:
    """Jaccard overlap of two word sets (0 when both are empty)."""
    a, b = set(a), set(b)
    return len(a & b) / len(a | b) if a or b else 0.0


@dataclass(frozen=True)
class SameIssueRule:
    """Whether two messages raise the same issue. Never when they name different places (place_conflict). A
    repost: similar vectors and mostly the same problem words (copied, edited, under a new title). The same
    problem at the same place: very similar vectors, a shared specific place and some shared problem words.
    Defaults tuned in bench/hot_issues.py (see bench/hot_issues.md) for the shipped model's vectors."""

    repost: float = 0.60  # cosine at or above, with
    repost_words: float = 0.70  # problem-word overlap (Jaccard) at or above
    similar: float = 0.96  # cosine at or above, with a shared specific place and
    similar_words: float = 0.30  # problem-word overlap at or above

    @property
    def floor(self) -> float:
        """No pair below this cosine is the same issue: candidates are searched above it."""
        return min(self.repost, self.similar)

    def same_many(self, similarity: np.ndarray, words: np.ndarray, shared_place: np.ndarray,
                  conflict: np.ndarray) -> np.ndarray:
        """The rule over arrays of pair features (bench/hot_issues.py tunes it with this)."""
        return ~conflict & (((similarity >= self.repost) & (words >= self.repost_words))
                            | ((similarity >= self.similar) & shared_place & (words >= self.similar_words)))

    def same(self, similarity: float, places_a: Iterable[str], places_b: Iterable[str],
             words_a: Iterable[str], words_b: Iterable[str]) -> bool:
        places_a, places_b = list(places_a), list(places_b)
        shared = bool(specific_places(places_a) & specific_places(places_b))
        return bool(self.same_many(np.float32(similarity), np.float32(overlap(words_a, words_b)), np.bool_(shared),
                                   np.bool_(place_conflict(places_a, places_b))))


DEFAULT_RULE = SameIssueRule()
