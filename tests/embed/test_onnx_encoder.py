"""The ONNX query encoder: export of the real all-MiniLM-L6-v2, agreement with
sentence-transformers on real SciFact texts, the int8 variant, the cache checks and the
promise that the query path imports no torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ragcli.embed import SentenceTransformerEncoder as Encoder
from ragcli.embed import onnx as oe
from ragcli.embed import onnx_export
from ragcli.embed.factory import onnx_or_torch
from ragcli.weights import DEFAULT_EMBED_MODEL

SCIFACT = Path(__file__).resolve().parents[3] / "shared" / "data" / "scifact" / "beir"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "docs"
HEAVY = ("torch", "transformers", "sentence_transformers")


def _real_texts(n: int) -> list[str]:
    """``n`` real texts, with the longest ones (truncated by the model) included: SciFact
    documents (title + abstract) from the shared data beside the checkout, or, where that
    is absent, the repository's example corpus as whole files, paragraphs and sentences."""
    corpus = SCIFACT / "corpus.jsonl"
    if corpus.is_file():
        texts = []
        with corpus.open(encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                texts.append(f"{row.get('title', '')}\n{row.get('text', '')}".strip())
    else:
        files = [path.read_text(encoding="utf-8") for path in sorted(EXAMPLES.iterdir())]
        paragraphs = [p.strip() for text in files for p in text.split("\n\n") if p.strip()]
        sentences = [s.strip() for p in paragraphs for s in p.split(". ") if len(s) > 20]
        texts = files + paragraphs + sentences
    longest = sorted(texts, key=len, reverse=True)[:20]
    return longest + [text for text in texts if text not in longest][: n - len(longest)]


@pytest.fixture(scope="session")
def st_encoder(embed_model_path):
    return Encoder(DEFAULT_EMBED_MODEL, batch_size=32)


@pytest.fixture(scope="session")
def real_texts() -> list[str]:
    return _real_texts(300)


@pytest.fixture(scope="session")
def st_vectors(st_encoder, real_texts) -> np.ndarray:
    return st_encoder.encode(real_texts)


def _run_python(code: str) -> str:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
def test_import_does_not_load_torch():
    out = _run_python(
        "import sys, ragcli.embed.onnx, ragcli.embed.onnx_export\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    assert out.strip() == "[]"


@pytest.mark.slow
def test_query_path_does_not_load_torch(onnx_export_dir):
    out = _run_python(
        "import sys\n"
        "from ragcli.embed.factory import onnx_or_torch\n"
        "from ragcli.embed.onnx import OnnxEncoder\n"
        f"enc = onnx_or_torch({DEFAULT_EMBED_MODEL!r}, {str(onnx_export_dir)!r}, export=False)\n"
        "assert isinstance(enc, OnnxEncoder), type(enc)\n"
        "v = enc.encode_query('does vitamin d prevent fractures?')\n"
        "assert v.shape == (384,), v.shape\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    assert out.strip() == "[]"


@pytest.mark.slow
def test_export_layout(onnx_export_dir):
    meta = oe.read_meta(onnx_export_dir)
    assert meta["model_name"] == DEFAULT_EMBED_MODEL
    assert meta["max_seq_length"] == 256
    assert meta["dimension"] == 384
    assert oe.pooling_mode(meta["pooling"]) == "mean"
    assert meta["input_names"] == ["input_ids", "attention_mask", "token_type_ids"]
    assert meta["files"]["float"]["min_cosine"] >= 0.999
    names = sorted(p.name for p in onnx_export_dir.iterdir())
    assert names == [
        "model-int8-fused.onnx",
        "model-int8.onnx",
        "model.onnx",
        "ragcli-onnx.json",
        "tokenizer.json",
    ]
    assert oe.is_exported(onnx_export_dir, DEFAULT_EMBED_MODEL, "float")
    assert oe.is_exported(onnx_export_dir, "all-MiniLM-L6-v2", "int8")
    assert oe.is_exported(onnx_export_dir, DEFAULT_EMBED_MODEL, "int8-fused")


@pytest.mark.slow
def test_float_matches_sentence_transformers(onnx_export_dir, real_texts, st_vectors):
    enc = oe.OnnxEncoder(onnx_export_dir)
    lengths = [len(e.ids) for e in enc.tokenizer.encode_batch(real_texts)]
    assert max(lengths) == 256 and sum(n == 256 for n in lengths) >= 10  # truncated ones
    got = enc.encode(real_texts)
    assert got.dtype == np.float32 and got.shape == (len(real_texts), 384)
    assert len(real_texts) >= 250
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(got * st_vectors, axis=1)
    assert cosines.min() >= 0.999, cosines.min()


@pytest.mark.slow
def test_int8_close_to_float(onnx_export_dir, real_texts, st_vectors):
    got = oe.OnnxEncoder(onnx_export_dir, "int8").encode(real_texts[:120])
    cosines = np.sum(got * st_vectors[:120], axis=1)
    assert cosines.mean() >= 0.98 and cosines.min() >= 0.95, (cosines.mean(), cosines.min())


@pytest.mark.slow
def test_fused_int8_is_a_fused_graph_close_to_float_and_to_int8(
    onnx_export_dir, real_texts, st_vectors
):
    import onnx

    ops = {node.op_type for node in onnx.load(onnx_export_dir / "model-int8-fused.onnx").graph.node}
    assert {"SkipLayerNormalization", "BiasGelu", "MatMulInteger"} <= ops
    got = oe.OnnxEncoder(onnx_export_dir, "int8-fused").encode(real_texts[:120])
    cosines = np.sum(got * st_vectors[:120], axis=1)
    assert cosines.mean() >= 0.98 and cosines.min() >= 0.95, (cosines.mean(), cosines.min())
    plain = oe.OnnxEncoder(onnx_export_dir, "int8").encode(real_texts[:120])
    assert np.sum(got * plain, axis=1).mean() >= 0.995  # the same quantisation, fused


@pytest.mark.slow
def test_int8_vectors_do_not_depend_on_the_batch(onnx_export_dir, real_texts):
    for variant in ("int8", "int8-fused"):
        enc = oe.OnnxEncoder(onnx_export_dir, variant, batch_size=16)
        texts = real_texts[:40]
        batched = enc.encode(texts)
        alone = np.stack([enc.encode_query(t) for t in texts[::5]])
        np.testing.assert_array_equal(batched[::5], alone)


@pytest.mark.slow
def test_groups_tokenised_ahead_give_the_same_vectors(onnx_export_dir, real_texts):
    enc = oe.OnnxEncoder(onnx_export_dir, batch_size=2)  # groups of 32 texts
    texts = real_texts[:80]
    seen = []
    batched = enc.encode(texts, progress=seen.append)
    assert seen[0] == 2 and sum(seen) == 80
    single = np.stack([enc.encode_query(t) for t in texts[::7]])
    assert np.sum(batched[::7] * single, axis=1).min() >= 0.99999


@pytest.mark.slow
def test_query_is_independent_of_batching(onnx_export_dir, real_texts):
    enc = oe.OnnxEncoder(onnx_export_dir, batch_size=8)
    texts = real_texts[-30:]
    batched = enc.encode(texts)
    single = np.stack([enc.encode_query(t) for t in texts[:5]])
    assert np.sum(batched[:5] * single, axis=1).min() >= 0.99999
    seen = []
    enc.encode(texts, progress=seen.append)
    assert sum(seen) == 30
    assert enc.encode([]).shape == (0, 384)


@pytest.mark.slow
def test_query_encoder_uses_export_or_falls_back(onnx_export_dir, tmp_path):
    enc = onnx_or_torch(DEFAULT_EMBED_MODEL, onnx_export_dir, export=False)
    assert isinstance(enc, oe.OnnxEncoder) and enc.variant == "float"
    enc = onnx_or_torch(DEFAULT_EMBED_MODEL, onnx_export_dir, variant="int8", export=False)
    assert enc.variant == "int8"
    empty = tmp_path / "none"
    assert isinstance(onnx_or_torch(DEFAULT_EMBED_MODEL, empty, export=False), Encoder)
    with pytest.raises(ValueError):
        onnx_or_torch(DEFAULT_EMBED_MODEL, onnx_export_dir, variant="fp16")


@pytest.mark.slow
def test_stale_or_partial_export_is_not_used(onnx_export_dir, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(onnx_export_dir, copy)
    assert oe.is_exported(copy, DEFAULT_EMBED_MODEL)
    assert not oe.is_exported(copy, "some/other-model")
    meta = json.loads((copy / oe.META_FILE).read_text())
    meta["fingerprint"]["files"]["model.safetensors"] += 1  # the weights changed
    (copy / oe.META_FILE).write_text(json.dumps(meta))
    assert not oe.is_exported(copy, DEFAULT_EMBED_MODEL)
    shutil.copy(onnx_export_dir / oe.META_FILE, copy / oe.META_FILE)
    with open(copy / "model.onnx", "r+b") as f:  # a truncated model file
        f.truncate(1000)
    assert not oe.is_exported(copy, DEFAULT_EMBED_MODEL)
    (copy / oe.META_FILE).unlink()
    assert oe.read_meta(copy) is None


def test_failed_export_is_recorded_and_not_retried(tmp_path, monkeypatch, embed_model_path):
    calls = []

    def failing_export(model_name, folder, **kwargs):
        calls.append(model_name)
        raise oe.OnnxExportError("cannot export a Transformer + Pooling + Dense model to ONNX")

    monkeypatch.setattr(onnx_export, "export_onnx", failing_export)
    warnings = []
    folder = tmp_path / "onnx"
    folder.mkdir()
    for _ in range(2):
        enc = onnx_or_torch(DEFAULT_EMBED_MODEL, folder, warn=warnings.append)
        assert isinstance(enc, Encoder)
    assert len(calls) == 1 and len(warnings) == 1
    assert "Dense" in warnings[0]
    assert (folder / onnx_export.FAILED_FILE).is_file()


@pytest.mark.slow
def test_int8_failure_falls_back_to_float(onnx_export_dir, tmp_path, monkeypatch):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(onnx_export_dir, copy)
    meta = json.loads((copy / oe.META_FILE).read_text())
    del meta["files"]["int8"]
    (copy / oe.META_FILE).write_text(json.dumps(meta))
    (copy / "model-int8.onnx").unlink()

    def failing_quantize(model_name, folder, verify=True):
        raise oe.OnnxExportError("the int8 ONNX export does not match sentence-transformers")

    monkeypatch.setattr(onnx_export, "quantize_export", failing_quantize)
    warnings = []
    enc = onnx_or_torch(DEFAULT_EMBED_MODEL, copy, variant="int8", warn=warnings.append)
    assert isinstance(enc, oe.OnnxEncoder) and enc.variant == "float"
    assert len(warnings) == 1 and "int8" in warnings[0]
    assert not onnx_export.ensure_export(DEFAULT_EMBED_MODEL, copy, variant="int8")  # not retried
    assert len(warnings) == 1
    assert onnx_export.ensure_export(DEFAULT_EMBED_MODEL, copy)


def test_pooling_modes():
    tokens = np.array([[[1.0, 2.0], [3.0, -4.0], [100.0, 100.0]]], dtype=np.float32)
    mask = np.array([[1, 1, 0]])
    np.testing.assert_allclose(oe._pool(tokens, mask, "mean"), [[2.0, -1.0]])
    np.testing.assert_allclose(oe._pool(tokens, mask, "cls"), [[1.0, 2.0]])
    np.testing.assert_allclose(oe._pool(tokens, mask, "max"), [[3.0, 2.0]])
    np.testing.assert_allclose(
        oe._pool(tokens, mask, "mean_sqrt_len_tokens"), [[4 / np.sqrt(2), -2 / np.sqrt(2)]]
    )
    assert oe.pooling_mode({"pooling_mode": "cls"}) == "cls"
    assert oe.pooling_mode({"pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False})
    with pytest.raises(oe.OnnxExportError):
        oe.pooling_mode({"pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": True})


def test_model_slug(tmp_path):
    assert oe.model_slug("all-MiniLM-L6-v2") == "sentence-transformers--all-MiniLM-L6-v2"
    local = oe.model_slug(str(tmp_path))
    assert "/" not in local and local.startswith(tmp_path.parent.name)
