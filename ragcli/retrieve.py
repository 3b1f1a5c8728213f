"""The retrieve stage: dense, sparse and hybrid candidates from a Store.

Hybrid fusion (the formula docs/retrieval.md explains):

* each side returns its top ``pool`` chunks (``pool = pool_factor * k``);
* over the union U of both lists, every chunk gets its real score on both sides (the
  dense score is the cosine of its stored vector, the sparse score its BM25 score, 0 when
  no query term occurs in it), so a chunk found by one side alone is not given a made-up
  zero by the other;
* ``minmax``: each side is min-max normalised over U, then
  ``fused = alpha * dense_norm + (1 - alpha) * sparse_norm``. A side whose scores over U
  are all equal (one candidate, or no BM25 term matched) normalises to 1.0 when that
  score is positive and to 0.0 otherwise, so it does not reorder anything;
* ``rrf``: ``fused = alpha / (60 + rank_dense) + (1 - alpha) / (60 + rank_sparse)``, where
  a side that did not list the chunk contributes nothing (alpha = 0.5 is plain RRF / 2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ragcli.errors import UsageError

MODES = ("dense", "sparse", "hybrid")
FUSIONS = ("minmax", "rrf")
RRF_K = 60


@dataclass
class Candidate:
    chunk_id: int
    dense: float | None = None
    sparse: float | None = None
    fused: float = 0.0


def minmax(values: np.ndarray) -> np.ndarray:
    """Min-max normalise to [0, 1]; equal values give 1.0 if positive else 0.0."""
    if not len(values):
        return values.astype(np.float64)
    low, high = float(values.min()), float(values.max())
    if high - low <= 1e-12:
        return np.full(len(values), 1.0 if high > 0 else 0.0)
    return (values - low) / (high - low)


def validate(mode: str, fusion: str, alpha: float) -> None:
    if mode not in MODES:
        raise UsageError(f"unknown mode {mode!r}: choose one of {', '.join(MODES)}")
    if fusion not in FUSIONS:
        raise UsageError(f"unknown fusion {fusion!r}: choose one of {', '.join(FUSIONS)}")
    if not 0.0 <= alpha <= 1.0:
        raise UsageError(f"alpha must be between 0 and 1, got {alpha}")


def fuse(
    dense_ids: np.ndarray,
    dense_scores: np.ndarray,
    sparse_ids: np.ndarray,
    sparse_scores: np.ndarray,
    dense_of,  # callable: chunk ids -> cosine scores
    sparse_of,  # callable: chunk ids -> BM25 scores
    alpha: float,
    fusion: str = "minmax",
) -> list[Candidate]:
    """Blend two ranked candidate lists into one, best first (ties by chunk id)."""
    union = list(dict.fromkeys([*dense_ids.tolist(), *sparse_ids.tolist()]))
    if not union:
        return []
    ids = np.asarray(union, dtype=np.int64)
    dense_known = dict(zip(dense_ids.tolist(), dense_scores.tolist(), strict=True))
    sparse_known = dict(zip(sparse_ids.tolist(), sparse_scores.tolist(), strict=True))
    missing_dense = [i for i in union if i not in dense_known]
    if missing_dense:
        dense_known.update(
            zip(missing_dense, dense_of(np.asarray(missing_dense)).tolist(), strict=True)
        )
    missing_sparse = [i for i in union if i not in sparse_known]
    if missing_sparse:
        sparse_known.update(
            zip(missing_sparse, sparse_of(np.asarray(missing_sparse)).tolist(), strict=True)
        )
    dense = np.asarray([dense_known[i] for i in union], dtype=np.float64)
    sparse = np.asarray([sparse_known[i] for i in union], dtype=np.float64)
    if fusion == "rrf":
        dense_rank = {cid: r for r, cid in enumerate(dense_ids.tolist(), 1)}
        sparse_rank = {cid: r for r, cid in enumerate(sparse_ids.tolist(), 1)}
        fused = np.asarray(
            [
                (alpha / (RRF_K + dense_rank[c]) if c in dense_rank else 0.0)
                + ((1 - alpha) / (RRF_K + sparse_rank[c]) if c in sparse_rank else 0.0)
                for c in union
            ]
        )
    else:
        fused = alpha * minmax(dense) + (1 - alpha) * minmax(sparse)
    order = np.lexsort((ids, -fused))
    return [
        Candidate(int(ids[i]), float(dense[i]), float(sparse[i]), float(fused[i])) for i in order
    ]
