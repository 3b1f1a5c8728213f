"""Progress a person can trust, read off a real terminal: `rag ingest` under tmux
(benchmarks/ingest_terminal.py), its bars labelled, its totals fixed once shown, and a
summary that says what its seconds are."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ragcli.cli import render
from ragcli.config import Settings
from ragcli.ingest.model import exports_model

REPO = Path(__file__).resolve().parents[2]
BAR = re.compile(
    r"^.\s(?P<label>[A-Z][a-z ]+?)\s+\S*\s+(?P<done>\d+)(?:/(?P<total>\d+))?\s+(?P<times>.*)$"
)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux for a real terminal")
def test_ingest_progress_in_a_real_terminal(tmp_path, onnx_export_dir):
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(40):
        paragraphs = (f"Note {i}.{p}: pump {p} of station {i} was serviced." for p in range(60))
        (docs / f"note_{i:02d}.txt").write_text("\n\n".join(paragraphs) + "\n")
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "ingest_terminal.py"), str(docs),
         "--every", "0.3", "--width", "80"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    bars = [m for m in map(BAR.match, lines) if m]
    labels = {m["label"] for m in bars}
    assert {"Loading files", "Splitting documents", "Embedding chunks"} <= labels
    # on an 80-column terminal no bar wraps (a wrapped ETA would read as a line of its own)
    assert not [line for line in lines if re.fullmatch(r"\s*(ETA\s*)?\d:\d\d:\d\d", line)]
    # elapsed and ETA are labelled; a finished bar says how long it took (a frame may
    # catch a line half redrawn, so its end may be missing)
    times = re.compile(r"(elapsed \d:\d\d:\d\d(  ETA( -| \d:\d\d:\d\d)?)?|done in \d:\d\d:\d\d)")
    for bar in bars:
        assert times.fullmatch(bar["times"].strip()), bar.group(0)
    eta = re.compile(r"elapsed \d:\d\d:\d\d  ETA \d:\d\d:\d\d$")
    assert any(eta.search(m.group(0)) for m in bars), result.stdout[-4000:]
    assert any(m["times"].startswith("done in") for m in bars)
    totals: dict[str, set[str]] = {}
    for bar in bars:
        if bar["total"]:
            totals.setdefault(bar["label"], set()).add(bar["total"])
    assert all(len(seen) == 1 for seen in totals.values()), totals  # a total never changes
    assert re.search(r"index has 40 documents,\s+\d+ chunks \(\d+\.\d s in all\)", result.stdout)


def test_model_preparation_is_announced_only_when_the_model_is_not_ready(
    tmp_path, monkeypatch, onnx_export_dir
):
    settings = Settings(rerank=False)
    assert exports_model(settings, None) is False  # the run's cache holds the export
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "empty-cache"))
    assert exports_model(settings, None) is True  # a first run on this machine
    assert exports_model(Settings(rerank=False, embed_backend="torch"), None) is False


@pytest.mark.parametrize("width", [60, 80, 100, 160])
def test_every_bar_fits_on_one_line_of_the_terminal(width):
    import io

    from rich.console import Console
    from rich.progress import Progress

    screen = Console(file=io.StringIO(), width=width, force_terminal=True)
    bars = Progress(*render._progress_columns(width), console=screen)
    bars.add_task(render.STAGE_LABELS["prepare"], total=None, counted=False)
    bars.add_task(render.STAGE_LABELS["embed"], total=41030, completed=28000, counted=True)
    screen.print(bars.make_tasks_table(bars.tasks))
    rows = screen.file.getvalue().splitlines()
    assert len(rows) == 2, rows  # one line a bar: nothing wrapped
    assert all(screen.measure(row).maximum <= width for row in rows)
    if width >= 80:  # every column shown, the bar too
        assert "28000/41030" in rows[1] and "elapsed" in rows[1] and "━" in rows[1]


def test_a_first_run_says_once_what_preparing_the_model_is(monkeypatch):
    import io

    from rich.console import Console

    screen = Console(file=io.StringIO(), width=100, force_terminal=True)
    monkeypatch.setattr(render, "console", lambda stderr=False: screen)
    with render._RichProgress() as update:
        update("prepare", 0, None)
        update("prepare", 0, None)
        update("load", 1, 3)
    said = screen.file.getvalue()
    assert said.count(render.PREPARE_NOTE) == 1
