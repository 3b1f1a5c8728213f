"""Progress a person can trust: every stage reports, in order, with no silent stretch
between loading and embedding, and the embedding stage reports after its first batch."""

from __future__ import annotations

from pathlib import Path

from helpers_ingest import clean_env

from ragcli.config import Settings
from ragcli.index import Index


def write_corpus(folder: Path, files: int = 6, paragraphs: int = 12) -> None:
    folder.mkdir(parents=True)
    for i in range(files):
        text = "\n\n".join(
            f"Note {i}.{p}: the pump in station {p} was serviced and its seals replaced "
            f"after a pressure drop of {p * 3} bar was logged by the night shift."
            for p in range(paragraphs)
        )
        (folder / f"note_{i}.txt").write_text(text + "\n", encoding="utf-8")


def test_every_stage_reports_in_order_and_embedding_reports_per_batch(
    tmp_path, monkeypatch, onnx_export_dir
):
    clean_env(monkeypatch, tmp_path)
    write_corpus(tmp_path / "docs")
    settings = Settings(rerank=False, embed_batch_size=4, chunk_size=48, chunk_overlap=8)
    events: list[tuple[str, int, int]] = []
    index = Index(tmp_path / ".rag" / "default", settings=settings, base_dir=tmp_path)
    report = index.ingest([tmp_path / "docs"], progress=lambda *e: events.append(e))

    stages = list(dict.fromkeys(stage for stage, _, _ in events))
    assert stages == ["load", "chunk", "embed", "write"]
    chunk_events = [e for e in events if e[0] == "chunk"]
    assert chunk_events[0][1:] == (0, 6) and chunk_events[-1][1:] == (6, 6)
    embed_events = [e for e in events if e[0] == "embed"]
    assert embed_events[0][1] <= settings.embed_batch_size  # a rate after one batch
    assert embed_events[-1][1:] == (report.chunks_added, report.chunks_added)
    assert report.chunks_added > 16  # several batches, so the per-batch check means something
    done = [n for _, n, _ in embed_events]
    assert done == sorted(done)


def test_the_reported_time_includes_preparing_the_model(tmp_path, monkeypatch, onnx_export_dir):
    # A first ingest exports the ONNX model before any file is read: the seconds a user
    # is told must include that wait
    clean_env(monkeypatch, tmp_path)
    write_corpus(tmp_path / "docs", files=1, paragraphs=2)
    index = Index(tmp_path / ".rag" / "default", settings=Settings(rerank=False), base_dir=tmp_path)
    report = index.ingest([tmp_path / "docs"])
    assert report.timings["model"] > 0
    assert report.seconds >= report.timings["model"] + report.timings["embed"]


def test_totals_are_only_given_once_known_and_never_change(tmp_path, monkeypatch, onnx_export_dir):
    # Embedding starts while files are still loading (one batch per 8 chunks here): its
    # total, and the writer's, are None until every file is loaded, then fixed
    import ragcli.ingest.run as run

    monkeypatch.setattr(run, "BATCH_CHUNKS", 8)
    clean_env(monkeypatch, tmp_path)
    write_corpus(tmp_path / "docs")
    settings = Settings(rerank=False, embed_batch_size=4, chunk_size=48, chunk_overlap=8)
    events: list[tuple[str, int, int | None]] = []
    index = Index(tmp_path / ".rag" / "default", settings=settings, base_dir=tmp_path)
    report = index.ingest([tmp_path / "docs"], progress=lambda *e: events.append(e))
    for stage, final in (("embed", report.chunks_added), ("write", len(report.added))):
        totals = [total for name, _, total in events if name == stage]
        assert None in totals  # a count alone while loading goes on
        assert {t for t in totals if t is not None} == {final}
        assert totals.index(final) > totals.index(None)
        assert all(t == final for t in totals[totals.index(final) :])


def test_a_bar_without_a_move_for_three_of_its_steps_is_idle():
    from ragcli.cli.render import IDLE_SECONDS, _idle

    assert _idle({}, 100.0)  # never moved
    steady = {"first_moved": 0.0, "moved": 10.0, "moves": 11}  # a step a second
    assert not _idle(steady, 10.0 + IDLE_SECONDS - 0.1)
    assert _idle(steady, 10.0 + IDLE_SECONDS + 0.1)
    slow = {"first_moved": 0.0, "moved": 40.0, "moves": 5}  # a step every 10 s
    assert not _idle(slow, 65.0) and _idle(slow, 71.0)
