"""Fusion arithmetic: min-max normalisation, alpha edges, RRF, ties, one side empty."""

from __future__ import annotations

import numpy as np
import pytest

from ragcli.errors import UsageError
from ragcli.retrieve import (
    FUSIONS,
    RRF_K,
    adaptive_alpha,
    dbsf,
    fuse,
    fused_scores,
    minmax,
    validate,
    zscore,
)


def ids(*values: int) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


def scores(*values: float) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


def lookup(table: dict[int, float]):
    return lambda chunk_ids: np.asarray([table[int(i)] for i in chunk_ids], dtype=np.float64)


DENSE = {1: 0.9, 2: 0.5, 3: 0.1, 4: 0.3}
SPARSE = {1: 0.0, 2: 4.0, 3: 10.0, 4: 0.0}


def fused_order(alpha: float, fusion: str = "minmax") -> list[int]:
    result = fuse(
        ids(1, 2),
        scores(0.9, 0.5),
        ids(3, 2),
        scores(10.0, 4.0),
        lookup(DENSE),
        lookup(SPARSE),
        alpha,
        fusion,
    )
    return [c.chunk_id for c in result]


def test_minmax_spreads_to_unit_interval():
    assert minmax(np.array([2.0, 4.0, 3.0])).tolist() == [0.0, 1.0, 0.5]


def test_minmax_ties_and_single_candidates_do_not_divide_by_zero():
    assert minmax(np.array([3.0, 3.0])).tolist() == [1.0, 1.0]
    assert minmax(np.array([0.7])).tolist() == [1.0]
    # a side where nothing matched (all BM25 scores zero) contributes nothing
    assert minmax(np.array([0.0, 0.0, 0.0])).tolist() == [0.0, 0.0, 0.0]
    assert minmax(np.array([])).tolist() == []


def test_alpha_one_is_pure_dense_and_zero_is_pure_sparse():
    assert fused_order(1.0) == [1, 2, 3]  # dense 0.9 > 0.5 > 0.1
    assert fused_order(0.0) == [3, 2, 1]  # bm25 10 > 4 > 0


def test_candidates_found_by_one_side_get_their_real_score_on_the_other():
    result = fuse(
        ids(1, 2),
        scores(0.9, 0.5),
        ids(3, 2),
        scores(10.0, 4.0),
        lookup(DENSE),
        lookup(SPARSE),
        0.5,
    )
    by_id = {c.chunk_id: c for c in result}
    assert by_id[3].dense == pytest.approx(0.1)  # looked up, not assumed 0
    assert by_id[1].sparse == 0.0
    # union normalisation: dense over {0.9, 0.5, 0.1}, sparse over {0, 4, 10}
    assert by_id[2].fused == pytest.approx(0.5 * 0.5 + 0.5 * 0.4)
    assert by_id[1].fused == pytest.approx(0.5 * 1.0 + 0.0)
    assert by_id[3].fused == pytest.approx(0.0 + 0.5 * 1.0)


def test_one_side_empty_leaves_the_other_sides_order():
    result = fuse(
        ids(1, 2, 3),
        scores(0.9, 0.5, 0.1),
        ids(),
        scores(),
        lookup(DENSE),
        lambda chunk_ids: np.zeros(len(chunk_ids)),
        0.3,
    )
    assert [c.chunk_id for c in result] == [1, 2, 3]
    assert [c.fused for c in result] == pytest.approx([0.3, 0.3 * 0.5, 0.0])


def test_both_sides_empty_gives_nothing():
    assert fuse(ids(), scores(), ids(), scores(), lookup({}), lookup({}), 0.5) == []


def test_ties_are_broken_by_chunk_id():
    result = fuse(
        ids(7, 5),
        scores(0.4, 0.4),
        ids(),
        scores(),
        lookup({5: 0.4, 7: 0.4}),
        lambda chunk_ids: np.zeros(len(chunk_ids)),
        1.0,
    )
    assert [c.chunk_id for c in result] == [5, 7]


def test_rrf_uses_ranks_and_alpha_weights_the_sides():
    result = fuse(
        ids(1, 2),
        scores(0.9, 0.5),
        ids(3, 2),
        scores(10.0, 4.0),
        lookup(DENSE),
        lookup(SPARSE),
        0.5,
        "rrf",
    )
    by_id = {c.chunk_id: c.fused for c in result}
    assert by_id[2] == pytest.approx(0.5 / (RRF_K + 2) + 0.5 / (RRF_K + 2))
    assert by_id[1] == pytest.approx(0.5 / (RRF_K + 1))
    assert by_id[3] == pytest.approx(0.5 / (RRF_K + 1))
    assert result[0].chunk_id == 2  # listed by both sides
    assert fused_order(1.0, "rrf")[:2] == [1, 2]


@pytest.mark.parametrize(
    ("mode", "fusion", "alpha"),
    [("semantic", "minmax", 0.5), ("hybrid", "sum", 0.5), ("hybrid", "rrf", 1.5)],
)
def test_validate_rejects_bad_settings(mode, fusion, alpha):
    with pytest.raises(UsageError):
        validate(mode, fusion, alpha)


# The other fusions, on U = chunks 1..4 with DENSE and SPARSE above.
D = np.asarray([0.9, 0.5, 0.1, 0.3])
S = np.asarray([0.0, 4.0, 10.0, 0.0])
DRANK = np.asarray([1, 2, 0, 0])
SRANK = np.asarray([0, 2, 1, 0])


def test_zscore_and_dbsf_normalisations():
    z = zscore(D)
    assert z.mean() == pytest.approx(0.0) and z.std() == pytest.approx(1.0)
    assert list(zscore(np.asarray([2.0, 2.0]))) == [0.0, 0.0]
    mean, std = D.mean(), D.std()
    assert dbsf(D) == pytest.approx((D - (mean - 3 * std)) / (6 * std))
    assert dbsf(np.asarray([0.0, 0.0, 0.0, 100.0])).max() <= 1.0
    assert list(dbsf(np.asarray([3.0, 3.0]))) == [1.0, 1.0]
    listed = np.asarray([True, True, False, False])  # stats over the side's own list
    own = D[:2]
    low = own.mean() - 3 * own.std()
    assert dbsf(D, listed) == pytest.approx(np.clip((D - low) / (6 * own.std()), 0, 1))


@pytest.mark.parametrize(
    ("fusion", "expected"),
    [
        ("minmax", 0.7 * minmax(D) + 0.3 * minmax(S)),
        ("zscore", 0.7 * zscore(D) + 0.3 * zscore(S)),
        ("dbsf", 0.7 * dbsf(D, DRANK > 0) + 0.3 * dbsf(S, SRANK > 0)),
        (
            "rrf",
            0.7 * np.asarray([1 / 61, 1 / 62, 0, 0]) + 0.3 * np.asarray([0, 1 / 62, 1 / 61, 0]),
        ),
    ],
)
def test_fused_scores_formulas(fusion, expected):
    assert fused_scores(fusion, D, S, DRANK, SRANK, 0.7) == pytest.approx(expected)


def test_rrf_k_is_a_parameter():
    got = fused_scores("rrf", D, S, DRANK, SRANK, 0.5, rrf_k=10)
    assert got == pytest.approx([0.5 / 11, 0.5 / 12 + 0.5 / 12, 0.5 / 11, 0.0])


def test_adaptive_moves_alpha_towards_the_more_peaked_side():
    dz, sz = zscore(D), zscore(S)
    weight = adaptive_alpha(dz, sz, 0.6, 0.1)
    assert weight == pytest.approx(0.6 + 0.1 * (dz.max() - sz.max()))
    assert fused_scores("adaptive", D, S, DRANK, SRANK, 0.6, beta=0.1) == pytest.approx(
        weight * dz + (1 - weight) * sz
    )
    assert fused_scores("adaptive", D, S, DRANK, SRANK, 0.6, beta=0.0) == pytest.approx(
        fused_scores("zscore", D, S, DRANK, SRANK, 0.6)
    )
    assert adaptive_alpha(dz, sz, 0.6, 100.0) in (0.05, 0.95)  # kept inside [0.05, 0.95]
    assert adaptive_alpha(dz, sz, 1.0, 0.1) == 1.0 and adaptive_alpha(dz, sz, 0.0, 0.1) == 0.0


@pytest.mark.parametrize("fusion", FUSIONS)
def test_every_fusion_runs_through_fuse_with_real_scores(fusion):
    result = fuse(
        ids(1, 2), scores(0.9, 0.5), ids(3, 2), scores(10.0, 4.0),
        lookup(DENSE), lookup(SPARSE), 0.7, fusion,
    )  # fmt: skip
    assert sorted(c.chunk_id for c in result) == [1, 2, 3]
    fused = [c.fused for c in result]
    assert fused == sorted(fused, reverse=True)
    assert {c.chunk_id: c.dense for c in result} == pytest.approx({1: 0.9, 2: 0.5, 3: 0.1})
