"""The corruption probe of issue 16, run as a user would: real `rag` processes.

    PYTHONPATH=. python tests/hardening/probe_index.py [--in-process] [--cases REGEX]

``--in-process`` runs each command through the CLI app in the probe's own process (the
model loads once: minutes instead of an hour on a busy machine), counting an exception
that escapes the app as a traceback; a hard crash (SIGABRT) would end the probe itself.

Builds a two-generation index, then for every case in ``corruptions.cases()`` damages a
fresh copy of it and runs `rag search` (hybrid), `rag status` and a no-change
`rag ingest`. Each command is classed: ``traceback`` (a Python traceback, an abort or a
signal), ``silent`` (exit 0, no warning, and a search answering other results than the
intact index's or a damaged index left in place), or ``ok`` (one `rag: error:` line, or a
warning and the results of an intact generation). Prints the table per category.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corruptions import cases  # noqa: E402

QUERY = "glowing lava from a volcano"
OUTCOMES = ("traceback", "silent", "unclear")  # what fails a case, worst first
TOPICS = {
    "volcano": "Basalt lava pours from shield volcanoes; the caldera glows at night.",
    "honeybee": "A honeybee forager performs a waggle dance to show where nectar grows.",
    "violin": "The violin has four strings tuned in fifths and a bow strung with horsehair.",
    "glacier": "A glacier carves a U-shaped valley and leaves moraines when it retreats.",
}


IN_PROCESS = "--in-process" in sys.argv
# --cases REGEX: only the cases whose name matches (a sample, when processes are slow)
SELECTED = re.compile(sys.argv[sys.argv.index("--cases") + 1] if "--cases" in sys.argv else "")


def rag(args, cwd, env):
    if IN_PROCESS:
        return rag_in_process(args, cwd, env)
    command = [sys.executable, "-c", "from ragcli.cli import main; main()", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def rag_in_process(args, cwd, env):
    """The same command through the CLI app in this process (the model loads once); an
    exception that escapes the app counts as a traceback."""
    import traceback

    from typer.testing import CliRunner

    from ragcli.cli import app

    before = Path.cwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(app, args, env=env)
    finally:
        os.chdir(before)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "Traceback (most recent call last):\n" + "".join(
            traceback.format_exception(result.exception)
        )
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, stderr)


def search(cwd, env):
    done = rag(["search", QUERY, "--mode", "hybrid", "--json", "-k", "4", "--no-rerank"], cwd, env)
    try:
        hits = json.loads(done.stdout) if done.returncode == 0 else None
    except json.JSONDecodeError:
        hits = None
    if isinstance(hits, dict):
        hits = hits.get("results")
    key = [(h["source"], round(h["score"], 5)) for h in hits] if hits else hits
    return done, key


def crashed(done) -> bool:
    text = done.stderr
    return (
        done.returncode < 0
        or done.returncode == 134
        or "Traceback" in text
        or ("Aborted" in text and "rag: error" not in text)
    )


def clear(done) -> bool:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("rag: error:")]
    return len(errors) == 1 and all(line.startswith("rag: ") for line in lines)


def warned(done) -> bool:
    return "rag: warning:" in done.stderr


def classify_search(done, key, good_keys) -> str:
    if crashed(done):
        return "traceback"
    if done.returncode != 0:
        return "ok" if clear(done) else "unclear"
    if key in good_keys and (warned(done) or key == good_keys[-1]):
        return "ok"
    return "silent"


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="ragcli-probe-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    if IN_PROCESS:  # the commands see this process's environment
        for name in [k for k in os.environ if k.startswith("RAG_") and k != "RAG_CACHE_DIR"]:
            del os.environ[name]
    if os.environ.get("RAG_CACHE_DIR"):  # one ONNX export for every run of the probe
        env["RAG_CACHE_DIR"] = os.environ["RAG_CACHE_DIR"]
    env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1")
    env["XDG_CONFIG_HOME"] = str(root / "xdg")
    project = root / "project"
    (project / "docs").mkdir(parents=True)
    for word in ("volcano", "honeybee", "violin"):
        (project / "docs" / f"{word}.txt").write_text(f"Notes on the {word}.\n\n{TOPICS[word]}\n")
    assert rag(["ingest", "docs"], project, env).returncode == 0
    _, first = search(project, env)
    (project / "docs" / "glacier.txt").write_text(f"Notes.\n\n{TOPICS['glacier']}\n")
    (project / "docs" / "volcano.txt").write_text(f"Volcano notes.\n\n{TOPICS['volcano']} Lava!\n")
    assert rag(["ingest", "docs"], project, env).returncode == 0
    _, second = search(project, env)
    pristine = root / "pristine"
    shutil.copytree(project / ".rag", pristine)
    with_checksums = any(pristine.rglob("checksums.json"))
    table: dict[str, Counter] = {}
    by_case: dict[str, Counter] = {}  # per category: each case counted once, worst outcome
    for case in [c for c in cases(with_checksums) if SELECTED.search(c.name)]:
        shutil.rmtree(project / ".rag")
        shutil.copytree(pristine, project / ".rag")
        case.apply(project / ".rag" / "default")
        done, key = search(project, env)
        results = {"search": classify_search(done, key, [first, second])}
        done = rag(["status"], project, env)
        results["status"] = (
            "traceback"
            if crashed(done)
            else ("ok" if done.returncode != 0 and clear(done) or warned(done) else "silent")
        )
        done = rag(["ingest", "docs"], project, env)
        after, key = search(project, env)
        if crashed(done):
            results["ingest"] = "traceback"
        elif done.returncode == 0 and key != second:
            results["ingest"] = "silent"
        elif done.returncode != 0 and not clear(done):
            results["ingest"] = "unclear"
        else:
            results["ingest"] = "ok"
        print(f"{case.name:45s} " + " ".join(f"{k}={v}" for k, v in results.items()), flush=True)
        category = case.file.split("/")[0]
        for command, outcome in results.items():
            table.setdefault(f"{category} / {command}", Counter())[outcome] += 1
        worst = next((o for o in OUTCOMES if o in results.values()), "ok")
        by_case.setdefault(category, Counter())[worst] += 1
    print("\ncategory / command                    cases  traceback  silent  unclear")
    for name, counter in table.items():
        total = sum(counter.values())
        print(
            f"{name:38s} {total:5d}  {counter['traceback']:9d}  {counter['silent']:6d}"
            f"  {counter['unclear']:7d}"
        )
    print("\ncategory          cases  failed  traceback  silent  unclear")
    for name, counter in by_case.items():
        failed = sum(counter[o] for o in OUTCOMES)
        print(
            f"{name:16s} {sum(counter.values()):6d}  {failed:6d}  {counter['traceback']:9d}"
            f"  {counter['silent']:6d}  {counter['unclear']:7d}"
        )
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
