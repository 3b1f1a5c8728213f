"""The retrieve stage: dense, sparse and hybrid candidates from a store, fused into Hits.

``search`` runs one query against a ``StoreReader`` (ragcli.store.base): each side's
candidate pool, fusion, the chunks behind the best candidates, then the optional rerank
step the caller passes in (ragcli.rerank), cut to ``k`` and ranked.

Hybrid fusion (the formula docs/retrieval.md explains):

* each side returns its top ``pool`` chunks (``pool = pool_factor * k``);
* over the union U of both lists, every chunk gets its real score on both sides (the
  dense score is the cosine of its stored vector, the sparse score its BM25 score, 0 when
  no query term occurs in it), so a chunk found by one side alone is not given a made-up
  zero by the other;
* ``adaptive`` (default): each side is z-scored over U, ``z = (x - mean_U) / std_U``; the
  query's dense weight is ``a = clip(alpha + beta * (max z_dense - max z_sparse), 0.05,
  0.95)`` (``beta = ADAPTIVE_BETA``: the side whose best candidate stands further above
  the rest is trusted more; alpha 0 and 1 are kept as they are), and
  ``fused = a * z_dense + (1 - a) * z_sparse``;
* ``zscore``: the same with ``a = alpha``; ``dbsf``: each side mapped by
  ``(x - (mean - 3 std)) / (6 std)`` clipped to [0, 1], mean and std over its own list;
* ``minmax``: each side is min-max normalised over U, then
  ``fused = alpha * dense_norm + (1 - alpha) * sparse_norm``. A side whose scores over U
  are all equal (one candidate, or no BM25 term matched) normalises to 1.0 when that
  score is positive and to 0.0 otherwise, so it does not reorder anything;
* ``rrf``: ``fused = alpha / (60 + rank_dense) + (1 - alpha) / (60 + rank_sparse)``, where
  a side that did not list the chunk contributes nothing (alpha = 0.5 is plain RRF / 2).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ragcli.errors import UsageError
from ragcli.text import holds_name
from ragcli.types import Hit, SearchParams, SubQuery, as_subqueries

MODES = ("dense", "sparse", "hybrid")
FUSIONS = ("linear", "minmax", "zscore", "dbsf", "rrf", "adaptive")
RRF_K = 60
POOL_FLOOR = 100  # candidates each side gives at least, whatever k
LINEAR_FIRST_POOL = 400  # the linear fusion's first lists (see pool_size)
DEEPEN_LIMIT = 1600  # candidates a side the linear fusion deepens its lists to, at most
ADAPTIVE_BETA = 0.05  # chosen with alpha 0.75 by benchmarks/fusion.py (docs/retrieval.md)


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


def zscore(values: np.ndarray) -> np.ndarray:
    """(x - mean) / std over the values; all equal gives 0.0 (no order)."""
    if not len(values):
        return values.astype(np.float64)
    std = float(values.std())
    if std <= 1e-12:
        return np.zeros(len(values))
    return (values - float(values.mean())) / std


def dbsf(values: np.ndarray, listed: np.ndarray | None = None) -> np.ndarray:
    """Distribution-based score fusion's normalisation: (x - (mean - 3 std)) / (6 std),
    clipped to [0, 1], mean and std taken over the side's own list (``listed``, a mask)
    when given, as DBSF does; all equal gives 1.0 if positive else 0.0, as ``minmax``."""
    if not len(values):
        return values.astype(np.float64)
    sample = values[listed] if listed is not None and listed.any() else values
    mean, std = float(sample.mean()), float(sample.std())
    if std <= 1e-12:
        return np.full(len(values), 1.0 if mean > 0 else 0.0)
    return np.clip((values - (mean - 3 * std)) / (6 * std), 0.0, 1.0)


def rrf(ranks: np.ndarray, k: int = RRF_K) -> np.ndarray:
    """1 / (k + rank) for listed candidates (rank >= 1), 0 for the others (rank 0)."""
    return np.where(ranks > 0, 1.0 / (k + np.maximum(ranks, 1)), 0.0)


def adaptive_alpha(dense_z: np.ndarray, sparse_z: np.ndarray, alpha: float, beta: float) -> float:
    """The dense weight for one query: ``alpha`` moved towards the side whose best
    candidate stands further above the rest (its top z-score over U), by ``beta`` per
    standard deviation of difference, kept within [0.05, 0.95]. ``alpha`` 0 and 1 stay the
    pure modes."""
    if not len(dense_z) or alpha in (0.0, 1.0):
        return alpha
    peak = float(dense_z.max()) - float(sparse_z.max())
    return min(0.95, max(0.05, alpha + beta * peak))


def fused_scores(
    fusion: str,
    dense: np.ndarray,
    sparse: np.ndarray,
    dense_rank: np.ndarray,
    sparse_rank: np.ndarray,
    alpha: float,
    *,
    rrf_k: int = RRF_K,
    beta: float = ADAPTIVE_BETA,
) -> np.ndarray:
    """The fused score of every candidate of U (docs/retrieval.md gives each formula).
    ``dense``/``sparse`` are the raw scores over U, ``*_rank`` each side's 1-based rank
    in its own list (0 = not listed)."""
    if fusion == "rrf":
        return alpha * rrf(dense_rank, rrf_k) + (1 - alpha) * rrf(sparse_rank, rrf_k)
    if fusion == "zscore":
        return alpha * zscore(dense) + (1 - alpha) * zscore(sparse)
    if fusion == "dbsf":
        return alpha * dbsf(dense, dense_rank > 0) + (1 - alpha) * dbsf(sparse, sparse_rank > 0)
    if fusion == "adaptive":
        dense_z, sparse_z = zscore(dense), zscore(sparse)
        weight = adaptive_alpha(dense_z, sparse_z, alpha, beta)
        return weight * dense_z + (1 - weight) * sparse_z
    return alpha * minmax(dense) + (1 - alpha) * minmax(sparse)


def _ranks(union: list[int], listed: np.ndarray) -> np.ndarray:
    rank = {cid: r for r, cid in enumerate(listed.tolist(), 1)}
    return np.asarray([rank.get(cid, 0) for cid in union], dtype=np.int64)


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
    dense_rank = _ranks(union, dense_ids)
    sparse_rank = _ranks(union, sparse_ids)
    fused = fused_scores(fusion, dense, sparse, dense_rank, sparse_rank, alpha)
    order = np.lexsort((ids, -fused))
    return [
        Candidate(int(ids[i]), float(dense[i]), float(sparse[i]), float(fused[i])) for i in order
    ]


def search(
    store,
    query: str,
    params: SearchParams,
    query_encoder: Callable[[], Any],
    rerank: Callable[[str, list[Hit]], list[Hit]] | None = None,
) -> list[Hit]:
    """The top ``params.k`` hits for ``query``. ``query_encoder`` gives the encoder
    (``encode_query``, optionally ``load``) and is called only when the mode has a dense
    side, so a sparse search never loads a model. With ``params.searches`` the query (when
    not empty) and each sub-query give one list each, fused into one ranking
    (``expanded``); the reranker then scores against ``params.focus(query)``."""
    if params.searches:
        params = replace(params, searches=as_subqueries(params.searches))
    check(query, params)
    if store.n_chunks == 0:
        return []
    restriction = store.restrict(params.filters)
    if restriction is not None and restriction.empty:
        return []
    pool = pool_size(params)
    if params.searches:
        found = expanded(store, query, params, pool, restriction, query_encoder)
    else:
        found = candidates(store, query, params, pool, restriction, query_encoder)
    if params.min_score is not None:
        found = [c for c in found if relevant(c, params.min_score)]
    hits = to_hits(store, found[: _head_size(params)])
    if params.rerank and hits and rerank is not None:
        hits = rerank(params.focus(query), hits)
    hits = hits[: params.k]
    for rank, hit in enumerate(hits, 1):
        hit.rank = rank
    return hits


def check(query: str, params: SearchParams) -> None:
    validate(params.mode, params.fusion, params.alpha)
    if params.k < 1:
        raise UsageError(f"k must be at least 1, got {params.k}")
    if not query.strip() and not params.searches:
        raise UsageError("empty query")
    if params.min_score is not None and not _has_dense_side(query, params):
        raise UsageError(
            "--min-score is a cosine and sparse mode computes none; use --mode hybrid or dense"
        )


def _has_dense_side(query: str, params: SearchParams) -> bool:
    if any(sub.type != "lex" for sub in params.searches):
        return True
    return bool(query.strip()) and params.mode != "sparse"


def relevant(candidate: Candidate, min_score: float) -> bool:
    """Whether the candidate's raw cosine with the query reaches ``min_score``: the
    absolute signal, unlike the fused score, which min-max makes 1.0 for some chunk of
    every query however unrelated."""
    return candidate.dense is not None and candidate.dense >= min_score


def pool_size(params: SearchParams) -> int:
    """Candidates each side returns: ``pool_factor * k`` but never fewer than
    ``POOL_FLOOR``, and enough for the reranker. The floor keeps the pools, and so the
    ranking and its scores, the same for every ``k`` up to ``POOL_FLOOR / pool_factor``
    (the ``linear`` fusion's ranking is the same at any ``k``: ``exact_fusion``)."""
    pool = max(params.k * params.pool_factor, params.k, POOL_FLOOR)
    if params.mode == "hybrid" and params.fusion == "linear":
        # A deeper first list costs a scan no longer than a shallow one, and spares a
        # second search when the threshold rule cannot yet tell the top k apart.
        pool = max(pool, LINEAR_FIRST_POOL)
    return max(pool, params.rerank_depth) if params.rerank else pool


def candidates(
    store,
    query: str,
    params: SearchParams,
    pool: int,
    restriction,
    query_encoder: Callable[[], Any],
) -> list[Candidate]:
    """Each side's top ``pool``, as one list (fused in hybrid mode), best first."""
    empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
    sparse_ids, sparse_scores = empty
    dense_ids, dense_scores = empty
    query_vector = None
    dense = params.mode in ("dense", "hybrid")
    # Creating the ONNX Runtime session is the longest step of a cold search (~0.25 s)
    # and onnxruntime releases the GIL while it works, so the encoder loads in a
    # background thread while BM25 and FAISS load and search on this one.
    loading = _Background(getattr(query_encoder(), "load", None)) if dense else None
    if params.mode in ("sparse", "hybrid"):
        sparse_ids, sparse_scores = store.sparse_search(query, pool, restriction)
    if loading is not None:
        loading.wait()  # an error there is raised again here, by encode_query
        query_vector = query_encoder().encode_query(query)
        dense_ids, dense_scores = store.dense_search(query_vector, pool, restriction)
    if params.mode == "dense":
        return _single_side(dense_ids, dense_scores, "dense")
    if params.mode == "sparse":
        return _single_side(sparse_ids, sparse_scores, "sparse")
    if params.fusion == "linear":
        sides = _Sides(store, query, query_vector, restriction)
        listed = (dense_ids, dense_scores), (sparse_ids, sparse_scores)
        return exact_fusion(sides, *listed, params, pool)
    return fuse(
        dense_ids,
        dense_scores,
        sparse_ids,
        sparse_scores,
        lambda ids: store.dense_scores(ids, query_vector),
        lambda ids: store.sparse_scores(ids, query),
        params.alpha,
        params.fusion,
    )


class _Sides:
    """One query's two sides over a store: each side's top ``n`` (searched again when a
    deeper list is needed) and any chunk's score on either side."""

    def __init__(self, store, query: str, vector: np.ndarray, restriction):
        self.store, self.query, self.vector, self.restriction = store, query, vector, restriction

    def dense_top(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        return self.store.dense_search(self.vector, n, self.restriction)

    def sparse_top(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        return self.store.sparse_search(self.query, n, self.restriction)

    def scores(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not len(ids):
            return np.zeros(0), np.zeros(0)
        dense = np.asarray(self.store.dense_scores(ids, self.vector), dtype=np.float64)
        sparse = np.asarray(self.store.sparse_scores(ids, self.query), dtype=np.float64)
        return dense, sparse


def linear(dense: np.ndarray, sparse: np.ndarray, alpha: float, ceiling: float) -> np.ndarray:
    """``alpha * cosine + (1 - alpha) * BM25 / ceiling``, where the ceiling is the
    query's whole term weight (``StoreReader.sparse_ceiling``): the BM25 part is the
    share of the query's term weight a chunk holds, the same whatever k, the pools or a
    filter."""
    share = sparse / ceiling if ceiling > 0 else np.zeros_like(sparse)
    return alpha * dense + (1 - alpha) * share


def query_alpha(query: str, params: SearchParams) -> float:
    """The dense weight for this query: ``name_alpha`` when it holds a code-like name
    (its exact words decide: a name the model never saw has no meaning to match), else
    ``alpha``; alpha 0 and 1 stay the pure modes."""
    if params.alpha in (0.0, 1.0) or not holds_name(query):
        return params.alpha
    return params.name_alpha


def lex_alpha(lex_texts: list[str], params: SearchParams) -> float:
    """The dense weight of a fusion of sub-queries: ``name_alpha`` when a lex text (a lex
    sub-query, or the query itself) holds a code-like name, as ``query_alpha``."""
    if params.alpha in (0.0, 1.0) or not any(holds_name(text) for text in lex_texts):
        return params.alpha
    return params.name_alpha


def exact_fusion(
    sides: _Sides, dense_list, sparse_list, params: SearchParams, pool: int
) -> list[Candidate]:
    """The fused top of the whole index, not of the pools (Fagin's threshold rule): a
    chunk in neither list scores at most the fusion of the two lists' last scores, and
    while the ``k``-th best candidate (the last the reranker scores, when it runs) is not
    above that bound, both lists are deepened.
    Deepening stops at ``DEEPEN_LIMIT`` candidates a side, a bound on the work when
    neither side separates the chunks (vectors that mean nothing; never seen on real
    embeddings): the ranking is then the blend's over those lists, still the same for
    every k whose pools are no deeper (k <= DEEPEN_LIMIT / pool_factor)."""
    ceiling = float(sides.store.sparse_ceiling(sides.query))
    alpha = query_alpha(sides.query, params)
    initial = pool
    while True:
        union = np.asarray(
            list(dict.fromkeys([*dense_list[0].tolist(), *sparse_list[0].tolist()])), np.int64
        )
        dense, sparse = sides.scores(union)
        fused = linear(dense, sparse, alpha, ceiling)
        order = np.lexsort((union, -fused))
        bound = _unseen_bound(dense_list, sparse_list, pool, alpha, ceiling)
        need = _head_size(params)  # the k hits, or the reranker's candidates
        enough = len(order) >= need and fused[order[need - 1]] > bound
        deepest = pool >= max(DEEPEN_LIMIT, initial) or pool >= sides.store.n_chunks
        if enough or bound == -np.inf or deepest:
            # The head search() keeps (all of it when --min-score may drop some).
            keep = order if params.min_score is not None else order[: _head_size(params)]
            rows = zip(
                union[keep].tolist(),
                dense[keep].tolist(),
                sparse[keep].tolist(),
                fused[keep].tolist(),
                strict=True,
            )
            return [Candidate(*row) for row in rows]
        pool *= 2
        dense_list, sparse_list = sides.dense_top(pool), sides.sparse_top(pool)


def _head_size(params: SearchParams) -> int:
    return max(params.rerank_depth, params.k) if params.rerank else params.k


def _unseen_bound(dense_list, sparse_list, pool: int, alpha: float, ceiling: float) -> float:
    """The highest fused score a chunk in neither list could have: -inf once the dense
    list holds every chunk there is (it lists every chunk, with or without BM25)."""
    if len(dense_list[0]) < pool:
        return -np.inf
    last_sparse = float(sparse_list[1][-1]) if len(sparse_list[0]) >= pool else 0.0
    last = linear(np.asarray([float(dense_list[1][-1])]), np.asarray([last_sparse]), alpha, ceiling)
    return float(last[0])


def _single_side(ids: np.ndarray, scores: np.ndarray, side: str) -> list[Candidate]:
    return [
        Candidate(int(i), **{side: float(v)}, fused=float(v))
        for i, v in zip(ids, scores, strict=True)
    ]


def to_hits(store, found: list[Candidate]) -> list[Hit]:
    """The chunks behind ``found``, in order, as unranked Hits (chunks gone are dropped)."""
    chunks = store.chunks([c.chunk_id for c in found])
    return [
        Hit(
            rank=0,
            score=c.fused,
            chunk=chunks[c.chunk_id],
            dense=c.dense,
            sparse=c.sparse,
            fused=c.fused,
        )
        for c in found
        if c.chunk_id in chunks
    ]


class _Background:
    """Runs callables in one daemon thread; ``wait`` joins it. Exceptions are dropped:
    the caller redoes the work in its own thread (cached properties), where they raise."""

    def __init__(self, *tasks: Callable[[], Any] | None):
        import threading

        self._tasks = [task for task in tasks if task is not None]
        self._thread = threading.Thread(target=self._run, name="rag-warm-up", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import contextlib

        for task in self._tasks:
            with contextlib.suppress(Exception):  # redone, and raised, by the caller
                task()

    def wait(self) -> None:
        self._thread.join()


def expanded(
    store,
    query: str,
    params: SearchParams,
    pool: int,
    restriction,
    query_encoder: Callable[[], Any],
) -> list[Candidate]:
    """Each sub-query of ``params.searches`` as one list (lex: BM25 top ``pool``; vec: the
    query embedding's dense top; hyde: the passage embedded as a document's), and the
    query when not empty, fused into one ranking over their union U, best first (ties by
    chunk id):

    * ``rrf`` fusion: ``sum over lists 1 / (60 + rank)``, the query's list being its own
      ranking (searched as without sub-queries);
    * any other (``linear``, the default): each chunk of U scored on every text,
      ``a * mean(cosines) + (1 - a) * mean(BM25 shares)``, the means over the dense texts
      (vec, hyde, and the query unless mode is sparse) and over the lex texts (lex, and
      the query unless mode is dense), ``a`` alpha, or name_alpha when a lex text holds a
      code-like name (``lex_alpha``); 1 with no lex text, 0 with no dense text.
      The query's lists are its BM25 and dense tops, so ``{lex: q, vec: q}`` and ``q``
      with sub-queries of its own text rank as ``q`` does (over the pools, not deepened).
    """
    given = bool(query.strip())
    rank_fusion = params.fusion == "rrf"
    lex_subs = [sub.query for sub in params.searches if sub.type == "lex"]
    dense_subs = [sub for sub in params.searches if sub.type != "lex"]
    query_lex = given and params.mode != "dense"
    query_dense = given and params.mode != "sparse"
    encoder = query_encoder() if dense_subs or query_dense else None
    loading = _Background(getattr(encoder, "load", None)) if encoder is not None else None
    lex_texts = [*lex_subs, *([query] if query_lex else [])]
    # rrf: the query's own ranking is one list; score fusion: its two sides are lists
    searched = lex_subs if rank_fusion else lex_texts
    lists = [store.sparse_search(text, pool, restriction)[0] for text in searched]
    if rank_fusion and given:
        lists.append(_ids(candidates(store, query, params, pool, restriction, query_encoder)))
    dense_texts = []
    if loading is not None:
        loading.wait()
        dense_texts = [_embedded(encoder, sub) for sub in dense_subs]
        if query_dense:
            dense_texts.append(encoder.encode_query(query))
    searched_dense = dense_texts[: len(dense_subs)] if rank_fusion else dense_texts
    lists += [store.dense_search(vector, pool, restriction)[0] for vector in searched_dense]
    if rank_fusion:
        return _rank_fusion(lists, store, lex_texts, dense_texts)
    union = np.asarray(list(dict.fromkeys(np.concatenate(lists).tolist())), dtype=np.int64)
    alpha = 1.0 if not lex_texts else 0.0 if not dense_texts else lex_alpha(lex_texts, params)
    return _score_fusion(union, store, lex_texts, dense_texts, alpha)


def _embedded(encoder, sub: SubQuery) -> np.ndarray:
    """A vec sub-query embedded as a query; a hyde passage as a document (HyDE)."""
    if sub.type == "hyde":
        return np.asarray(encoder.encode([sub.query]))[0]
    return encoder.encode_query(sub.query)


def _ids(found: list[Candidate]) -> np.ndarray:
    return np.asarray([c.chunk_id for c in found], dtype=np.int64)


def _side_scores(store, union: np.ndarray, lex: list[str], vectors: list) -> tuple:
    """Each chunk's best cosine over ``vectors`` and best BM25 over ``lex`` (None: none)."""
    dense = [np.asarray(store.dense_scores(union, v), np.float64) for v in vectors]
    sparse = [np.asarray(store.sparse_scores(union, text), np.float64) for text in lex]
    best_dense = np.max(dense, axis=0) if dense else None
    best_sparse = np.max(sparse, axis=0) if sparse else None
    return dense, sparse, best_dense, best_sparse


def _score_fusion(
    union: np.ndarray, store, lex: list[str], vectors: list, alpha: float
) -> list[Candidate]:
    if not len(union):
        return []
    dense, sparse, best_dense, best_sparse = _side_scores(store, union, lex, vectors)
    shares = [_share(store, text, scores) for text, scores in zip(lex, sparse, strict=True)]
    fused = np.zeros(len(union))
    if dense:
        fused += alpha * np.mean(dense, axis=0)
    if shares:
        fused += (1 - alpha) * np.mean(shares, axis=0)
    return _ranked(union, fused, best_dense, best_sparse)


def _share(store, text: str, scores: np.ndarray) -> np.ndarray:
    """BM25 as the share of the text's whole term weight (as ``linear`` does)."""
    ceiling = float(store.sparse_ceiling(text))
    return scores / ceiling if ceiling > 0 else np.zeros_like(scores)


def _rank_fusion(lists: list[np.ndarray], store, lex: list[str], vectors: list) -> list[Candidate]:
    scores: dict[int, float] = {}
    for ids in lists:
        for rank, cid in enumerate(ids.tolist(), 1):
            scores[cid] = scores.get(cid, 0.0) + 1.0 / (RRF_K + rank)
    if not scores:
        return []
    union = np.asarray(list(scores), dtype=np.int64)
    _, _, best_dense, best_sparse = _side_scores(store, union, lex, vectors)
    return _ranked(union, np.asarray(list(scores.values())), best_dense, best_sparse)


def _ranked(union, fused, best_dense, best_sparse) -> list[Candidate]:
    order = np.lexsort((union, -fused))
    return [
        Candidate(
            int(union[i]),
            None if best_dense is None else float(best_dense[i]),
            None if best_sparse is None else float(best_sparse[i]),
            float(fused[i]),
        )
        for i in order
    ]


def search_index(
    store,
    query: str,
    params: SearchParams,
    query_encoder: Callable[[], Any],
    rerankers: Callable[[], Any],
    warn: Callable[..., None],
) -> list[Hit]:
    """``search`` as ``Index.search`` runs it: with the rerank step ``params`` asks for
    (``rerank.Rerankers.for_params`` of ``rerankers()``; ``params.rerank`` then says
    whether one runs) and, for a search with a dense side, a warning (once:
    ``warn(message, key=...)``) when the query is not in English and the index's model
    is English-only."""
    from dataclasses import replace

    params = replace(params, searches=as_subqueries(params.searches))
    # rerank=False: no loader is made and ragcli.rerank is not even imported
    rerank_step = rerankers().for_params(params) if params.rerank is not False else None
    params = replace(params, rerank=rerank_step is not None)
    if params.mode != "sparse":
        meant = [query, *(sub.query for sub in params.searches if sub.type != "lex")]
        warning = query_language_warning(" ".join(meant), store.manifest.get("embed_model") or "")
        if warning:
            warn(warning, key="query-language")  # once per command, whatever the language
    return search(store, query, params, query_encoder, rerank_step)


def query_language_warning(query: str, model: str) -> str | None:
    from ragcli.text import language_hint
    from ragcli.weights import english_only, language_warning

    language = language_hint(query) if english_only(model) else None
    return language_warning("the query", language, model) if language else None
