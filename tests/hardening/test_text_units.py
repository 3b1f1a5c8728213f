"""Issue 25, text units: no chunk over the character bound whatever the text; long words
and hex runs are cut, base64 data is left out; each reported in one line."""

from __future__ import annotations

import base64
import json
import sqlite3

import numpy as np
import pytest
from bounded import run_bounded
from helpers_ingest import clean_env, live_name, subprocess_env

from ragcli.chunk import MAX_CHUNK_CHARS


@pytest.fixture
def project(tmp_path, monkeypatch, onnx_export_dir):
    clean_env(monkeypatch, tmp_path)
    root = tmp_path / "project"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "notes.md").write_text("# Notes\n\nThe tesla coil hums at night.\n")
    return root, subprocess_env(tmp_path)


def chunk_lengths(root) -> dict[str, list[int]]:
    index = root / ".rag" / "default"
    db = sqlite3.connect(index / live_name(index) / "catalog.sqlite")
    try:
        found: dict[str, list[int]] = {}
        for source, length in db.execute(
            "SELECT d.source, length(c.text) FROM chunks c JOIN documents d USING (doc_id)"
        ):
            found.setdefault(source, []).append(length)
        return found
    finally:
        db.close()


def ingest(root, env, name: str, text: str):
    (root / "docs" / name).write_text(text)
    done = run_bounded(["ingest", "docs"], root, env)
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.slow  # `rag` processes
def test_one_unbroken_word_is_cut_within_the_bound(project):
    root, env = project
    word = "x" * (4 * 1024 * 1024)
    done = ingest(root, env, "word.md", "# Word\n\n" + word + "\n")
    assert done.lines() == [
        f"rag: warning: docs/word.md: a word of {len(word):,} characters cut into chunks of "
        f"{MAX_CHUNK_CHARS:,} characters"
    ]
    lengths = chunk_lengths(root)["docs/word.md"]
    assert max(lengths) <= MAX_CHUNK_CHARS and sum(lengths) >= len(word)


@pytest.mark.slow
def test_a_hex_run_and_a_run_of_spaces_make_bounded_chunks(project):
    root, env = project
    hexed = np.random.default_rng(0).bytes(1024 * 1024).hex()  # 2 MB of hex digits
    ingest(root, env, "dump.txt", "Dump follows.\n" + hexed + "\nend " + " " * 1_000_000 + "x\n")
    assert max(chunk_lengths(root)["docs/dump.txt"]) <= MAX_CHUNK_CHARS
    found = run_bounded(["search", "dump follows end", "-k", "3", "--json"], root, env)
    assert found.returncode == 0 and len(found.stdout) < 3 * MAX_CHUNK_CHARS + 10_000
    assert json.loads(found.stdout)["results"]


@pytest.mark.slow
def test_an_inline_base64_image_is_left_out_and_reported(project):
    root, env = project
    image = base64.b64encode(np.random.default_rng(1).bytes(1_500_000)).decode()
    text = f"# Figure\n\nThe diagram:\n\n![plot](data:image/png;base64,{image})\n\nAfter it.\n"
    done = ingest(root, env, "figure.md", text)
    assert done.lines() == [
        f"rag: warning: docs/figure.md: {len(image):,} characters of encoded data "
        "(base64, 1 runs) not indexed"
    ]
    assert len(chunk_lengths(root)["docs/figure.md"]) <= 2
