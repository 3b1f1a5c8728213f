"""Issue 25, the parse worker (ragcli.load._isolate): one long-lived process parses file
after file under per-file limits; a file over a limit, a crash or a hang costs that file
one LoadError naming the limit, and the next file is parsed by a fresh worker.

The jobs in worker_jobs.py run inside the real worker process (it imports them), the
PDFs are real ones (fpdf2) and a real stream bomb (bombs.py)."""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

import pytest
import worker_jobs
from bombs import MB, pdf_stream_bomb
from pdfs import text_pdf

from ragcli.errors import LoadError
from ragcli.load import _isolate
from ragcli.load.pdf import load_pdf

pytestmark = pytest.mark.slow  # worker processes

LIMITS = {"memory": 256 * MB, "cpu_seconds": 2, "timeout": 30.0, "what": "test file"}


@pytest.fixture(autouse=True)
def fresh_workers(monkeypatch):
    """No worker left from another test; the worker can import worker_jobs."""
    here = str(Path(__file__).resolve().parent)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([here, os.environ.get("PYTHONPATH", "")]))
    _isolate.close_workers()
    yield
    _isolate.close_workers()


def run(func, *args, **limits):
    return _isolate.run_isolated(func, *args, **{**LIMITS, **limits})


def the_worker() -> int:
    [pid] = _isolate.worker_pids()
    return pid


def test_one_worker_parses_file_after_file(tmp_path):
    paths = [text_pdf(tmp_path / f"p{n}.pdf", [f"Page about topic {n}."]) for n in range(12)]
    first = load_pdf(paths[0], tmp_path)
    worker = the_worker()
    assert worker != os.getpid()
    docs = [first, *(load_pdf(path, tmp_path) for path in paths[1:])]
    assert the_worker() == worker  # the same process served all twelve
    assert [doc.text for [doc] in docs] == [f"Page about topic {n}." for n in range(12)]


def test_the_limits_are_per_file_not_per_worker():
    """CPU and memory within the limit, many times over, in one worker."""
    pids = {run(worker_jobs.spin, 0.7) for _ in range(4)}  # 2.8 s of CPU, 2 s a file
    pids |= {run(worker_jobs.allocate, 200 * MB) for _ in range(4)}  # 800 MB, 256 a file
    assert len(pids) == 1 and pids == set(_isolate.worker_pids())


def test_a_file_over_memory_costs_that_file_and_the_next_is_parsed():
    before = run(worker_jobs.pid)
    with pytest.raises(LoadError) as caught:
        run(worker_jobs.allocate, 600 * MB)
    assert str(caught.value) == "over 256 MiB of memory (the limit per test file)"
    after = run(worker_jobs.pid)
    assert after != before  # a fresh worker


def test_a_file_over_cpu_costs_that_file_and_the_next_is_parsed():
    before = run(worker_jobs.pid)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    with pytest.raises(LoadError) as caught:
        run(worker_jobs.spin, 60.0, cpu_seconds=1)
    assert str(caught.value) == "over 1 s of CPU (the limit per test file)"
    spent = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = spent.ru_utime + spent.ru_stime - children.ru_utime - children.ru_stime
    assert cpu < 3  # 1 s and its start, once: a file over the CPU limit is not retried
    assert run(worker_jobs.pid) != before


def test_a_hang_is_timed_out_and_the_next_file_is_parsed():
    before = run(worker_jobs.pid)
    started = time.monotonic()
    with pytest.raises(LoadError) as caught:
        run(worker_jobs.hang, 600.0, timeout=1.5)
    assert str(caught.value) == "over 1.5 s of waiting (the time limit per test file)"
    assert time.monotonic() - started < 10
    assert before not in _isolate.worker_pids()  # killed, not left waiting
    assert run(worker_jobs.pid) != before


def test_a_crash_is_one_error_and_the_next_file_is_parsed():
    with pytest.raises(LoadError) as caught:
        run(worker_jobs.exit_now, 3)
    assert str(caught.value) == "the test file parser crashed (signal or status 3)"
    assert run(worker_jobs.pid) > 0


def test_a_seasoned_worker_that_fails_a_file_is_replaced_and_the_file_retried():
    """What earlier files left in a worker (a fragmented heap) never costs a file."""
    seasoned = run(worker_jobs.pid)
    retried = run(worker_jobs.exit_if_seasoned, 3)  # ends the seasoned worker, not a fresh one
    assert retried != seasoned and _isolate.worker_pids() == [retried]


def test_what_a_parser_prints_does_not_garble_the_answer():
    assert run(worker_jobs.chatter, 2000) == "answer intact"
    assert run(worker_jobs.pid) == the_worker()


def test_a_large_result_arrives_whole():
    text = run(worker_jobs.text_of, 40 * MB)  # read from the pipe in many pieces
    assert len(text) == 40 * MB // 26 * 26 and text == worker_jobs.text_of(40 * MB)


def test_ctrl_c_is_left_to_rag():
    """The terminal's SIGINT reaches the worker too; `rag` handles it, the worker goes on."""
    import signal

    worker = run(worker_jobs.pid)
    os.kill(worker, signal.SIGINT)
    time.sleep(0.5)
    assert run(worker_jobs.pid) == worker


def test_an_interrupted_wait_ends_the_worker_at_once():
    """Ctrl-C while a file is parsed: the ingest stops its workers without waiting."""
    import signal

    class Interrupted(Exception):
        pass

    def interrupt(signum, frame):
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 1.0)
        with pytest.raises(Interrupted):
            run(worker_jobs.hang, 600.0)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    worker = the_worker()
    started = time.monotonic()
    _isolate.close_workers()
    assert time.monotonic() - started < 5  # not the 10 s a worker gets to end by itself
    with pytest.raises(ProcessLookupError):
        os.kill(worker, 0)


def test_a_pdf_bomb_costs_that_pdf_and_the_next_pdf_is_parsed(tmp_path):
    good = text_pdf(tmp_path / "good.pdf", ["The lighthouse keeper's notes."])
    bomb = pdf_stream_bomb(tmp_path / "bomb.pdf", 400 * MB)
    assert load_pdf(good, tmp_path)[0].text == "The lighthouse keeper's notes."
    seasoned = the_worker()
    with pytest.raises(LoadError, match=r"^over 512 MiB of memory \(the limit per PDF\)"):
        load_pdf(bomb, tmp_path)
    assert load_pdf(good, tmp_path)[0].text == "The lighthouse keeper's notes."
    assert the_worker() != seasoned


def test_an_ingest_stops_its_workers(tmp_path, monkeypatch, embed_model_path):
    from helpers_ingest import clean_env, one_model_load

    from ragcli.config import Settings
    from ragcli.ingest import ingest
    from ragcli.store.local import LocalWriter

    clean_env(monkeypatch, tmp_path)
    docs = tmp_path / "docs"
    docs.mkdir()
    text_pdf(docs / "a.pdf", ["The tesla coil hums at night."])
    seen: set[int] = set()
    with one_model_load():
        writer = LocalWriter(tmp_path / ".rag" / "default")
        report = ingest(writer, [docs], Settings(), base_dir=tmp_path,
                        progress=lambda *event: seen.update(_isolate.worker_pids()))  # fmt: skip
    assert report.documents == 1
    [worker] = seen  # parsed the PDF during the ingest
    assert _isolate.worker_pids() == []
    with pytest.raises(ProcessLookupError):
        os.kill(worker, 0)  # ended and waited for


def test_office_and_epub_files_are_parsed_in_their_worker(tmp_path):
    from formats_corpus import make_docx, make_epub, make_xlsx

    from ragcli.load import LOADERS, load_file

    files = [make_docx(tmp_path / "a.docx"), make_xlsx(tmp_path / "b.xlsx"),
             make_epub(tmp_path / "c.epub")]  # fmt: skip
    for path in files:
        [isolated] = load_file(path, tmp_path)
        [in_process] = LOADERS[path.suffix].load(path, tmp_path)
        assert isolated == in_process
    assert the_worker() != os.getpid()  # one worker served all three formats


def test_an_office_file_over_memory_costs_that_file_and_the_next_is_parsed(tmp_path, monkeypatch):
    from bombs import replace_member
    from formats_corpus import make_docx
    from test_parse_bombs import WORDS, W

    from ragcli.load import load_file

    good = make_docx(tmp_path / "good.docx")
    large = replace_member(good, tmp_path / "large.docx", "word/document.xml", W, WORDS,
                           b"</w:body></w:document>", 12 * MB)  # fmt: skip
    monkeypatch.setattr(_isolate, "ZIPPED_MEMORY_BYTES", 8 * MB)  # under what it needs
    with pytest.raises(LoadError) as caught:
        load_file(large, tmp_path)
    # not "not a valid DOCX file (Unable to allocate output buffer.)", as zlib says
    assert str(caught.value) == "over 8 MiB of memory (the limit per DOCX)"
    monkeypatch.undo()
    assert load_file(good, tmp_path)[0].text
