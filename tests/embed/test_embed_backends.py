"""`rag ingest --embed-backend`: the ONNX export (same vectors as torch), its int8
quantisations (an index whose chunks and queries are both embedded by the int8 model),
and ``auto``, the default: the fused int8 model for a new index, an existing index's
own backend otherwise."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers_ingest import clean_env, one_model_load

from ragcli.config import Settings
from ragcli.embed import AUTO, resolve_backend
from ragcli.errors import IndexStateError, UsageError
from ragcli.index import Index
from ragcli.store import dense

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "docs"
FILES = ["black_death.md", "nikola_tesla.txt", "apollo_program.html"]


@pytest.fixture(scope="module", autouse=True)
def _shared_model():
    with one_model_load():
        yield


def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "docs").mkdir(parents=True)
    for name in FILES:
        shutil.copy(EXAMPLES / name, root / "docs" / name)
    return root


def stored_vectors(index: Index) -> np.ndarray:
    store = index.store
    return dense.vectors_for(store.dense, np.arange(store.n_chunks, dtype=np.int64))


@pytest.fixture(scope="module")
def torch_index(tmp_path_factory, embed_model_path):
    root = project(tmp_path_factory.mktemp("torch"))
    settings = Settings(embed_backend="torch", rerank=False)
    index = Index(root / ".rag" / "default", settings=settings)
    index.ingest([root / "docs"])
    return index


@pytest.mark.slow
def test_onnx_backend_stores_the_torch_vectors(tmp_path, monkeypatch, torch_index, onnx_export_dir):
    clean_env(monkeypatch, tmp_path)
    root = project(tmp_path)
    index = Index(root / ".rag" / "default", settings=Settings(embed_backend="onnx"))
    index.ingest([root / "docs"])
    assert "embed_variant" not in index.store.manifest  # float, as a torch index
    cosines = np.sum(stored_vectors(index) * stored_vectors(torch_index), axis=1)
    assert cosines.min() >= 0.999
    # float vectors from either backend extend the same index
    (root / "docs" / "black_death.md").write_text("# Plague\n\nA new text about fleas.\n")
    report = Index(root / ".rag" / "default", settings=Settings()).ingest([root / "docs"])
    assert report.updated == ["docs/black_death.md"]


@pytest.mark.slow
def test_int8_backend_embeds_chunks_and_queries_with_int8(
    tmp_path, monkeypatch, torch_index, onnx_export_dir
):
    clean_env(monkeypatch, tmp_path)
    root = project(tmp_path)
    settings = Settings(embed_backend="onnx-int8", rerank=False)
    index = Index(root / ".rag" / "default", settings=settings)
    index.ingest([root / "docs"])
    assert index.store.manifest["embed_variant"] == "int8"

    reopened = Index(root / ".rag" / "default", settings=Settings(rerank=False))
    assert reopened.query_encoder.variant == "int8"
    hits = reopened.search("When did the Black Death reach Europe?", k=3, mode="dense")
    assert hits[0].chunk.source == "docs/black_death.md"

    vectors, floats = stored_vectors(index), stored_vectors(torch_index)
    cosines = np.sum(vectors * floats, axis=1)
    assert cosines.min() >= 0.95 and cosines.max() < 0.99999  # close, and really int8

    with pytest.raises(IndexStateError, match="embed_variant 'int8'"):
        torch_settings = Settings(embed_backend="torch")
        Index(root / ".rag" / "default", settings=torch_settings).ingest([root / "docs"])


def test_unknown_backend_is_a_usage_error(tmp_path, monkeypatch):
    clean_env(monkeypatch, tmp_path)
    root = project(tmp_path)
    index = Index(root / ".rag" / "default", settings=Settings(embed_backend="tensorrt"))
    with pytest.raises(UsageError, match="tensorrt"):
        index.ingest([root / "docs"])


@pytest.mark.slow
def test_default_backend_embeds_a_new_index_with_fused_int8(
    tmp_path, monkeypatch, torch_index, onnx_export_dir
):
    clean_env(monkeypatch, tmp_path)
    root = project(tmp_path)
    index = Index(root / ".rag" / "default", settings=Settings(rerank=False))
    assert index.settings.embed_backend == AUTO
    index.ingest([root / "docs"])
    assert index.store.manifest["embed_variant"] == "int8-fused"

    reopened = Index(root / ".rag" / "default", settings=Settings(rerank=False))
    assert reopened.query_encoder.variant == "int8-fused"
    hits = reopened.search("When did the Black Death reach Europe?", k=3, mode="dense")
    assert hits[0].chunk.source == "docs/black_death.md"
    cosines = np.sum(stored_vectors(index) * stored_vectors(torch_index), axis=1)
    assert cosines.min() >= 0.95 and cosines.max() < 0.99999


@pytest.mark.slow
def test_default_backend_extends_an_old_float_index_with_float_vectors(
    tmp_path, monkeypatch, onnx_export_dir
):
    clean_env(monkeypatch, tmp_path)
    root = project(tmp_path)
    old = Index(root / ".rag" / "default", settings=Settings(embed_backend="torch"))
    old.ingest([root / "docs"])
    (root / "docs" / "black_death.md").write_text("# Plague\n\nA new text about fleas.\n")
    index = Index(root / ".rag" / "default", settings=Settings(rerank=False))
    report = index.ingest([root / "docs"])
    assert report.updated == ["docs/black_death.md"]
    assert "embed_variant" not in index.store.manifest
    assert index.query_encoder.variant == "float"


@pytest.mark.parametrize(
    ("manifest", "backend"),
    [
        ({"embed_model": "m"}, "torch"),
        ({"embed_model": "m", "embed_variant": "int8"}, "onnx-int8"),
        ({"embed_model": "m", "embed_variant": "int8-fused"}, "onnx-int8-fused"),
    ],
)
def test_auto_backend_of_an_existing_index_is_its_own(manifest, backend):
    assert resolve_backend(Settings(), manifest) == backend


def test_auto_backend_on_ray_is_torch():
    assert resolve_backend(Settings(engine="ray"), None) == "torch"


def test_explicit_backend_is_kept_even_for_another_index():
    settings = Settings(embed_backend="onnx-int8")
    assert resolve_backend(settings, {"embed_variant": "int8-fused"}) == "onnx-int8"
    with pytest.raises(UsageError, match="auto, torch"):
        resolve_backend(Settings(embed_backend="tensorrt"), None)
