"""Issue 25, patterns: every glob a user or a folder supplies is matched in time linear
in the name (RE2), with a bound on its length; the server stays responsive."""

from __future__ import annotations

import time

import httpx
import pytest
from bounded import run_bounded
from helpers_ingest import clean_env, rag_command, subprocess_env, write_files
from helpers_serve import wait_healthy

from ragcli.globs import MAX_PATTERN_CHARS, gitignore_spec

EVIL = "*a*a*a*a*a*a*a*a*b"  # exponential for a backtracking matcher on "aaa...a"
LONG_NAME = "a" * 100


def test_a_backtracking_pattern_answers_at_once_with_gitignore_semantics():
    spec = gitignore_spec([EVIL, "!keep*b", "docs/**/*.md", "build/"])
    started = time.monotonic()
    assert not spec.match_file("a" * 100_000)
    assert spec.match_file("x/" + "a" * 1000 + "b")
    assert not spec.match_file("keep" + "a" * 50 + "b")  # re-included: last match wins
    assert spec.match_file("docs/a/b/c.md") and not spec.match_file("docs/c.txt")
    assert spec.match_file("build/out.txt") and spec.match_file("src/build/x")
    assert time.monotonic() - started < 1.0


def test_names_that_are_not_utf8_are_matched_one_character_each():
    bad = b"caf\xff.txt".decode("utf-8", "surrogateescape")
    assert gitignore_spec(["caf?.txt"]).match_file(bad)
    assert not gitignore_spec(["caf??.txt"]).match_file(bad)


def test_a_pattern_over_the_bound_is_refused():
    with pytest.raises(ValueError, match=f"longer than {MAX_PATTERN_CHARS}"):
        gitignore_spec(["a" * (MAX_PATTERN_CHARS + 1)])


@pytest.fixture
def folder(tmp_path, monkeypatch, onnx_export_dir):
    clean_env(monkeypatch, tmp_path)
    root = tmp_path / "project"
    write_files(root / "docs", {LONG_NAME: "The aardvark digs at night.\n",
                                "notes.txt": "The tesla coil hums.\n"})  # fmt: skip
    return root, subprocess_env(tmp_path)


@pytest.mark.slow  # `rag` subprocesses
def test_gitignore_exclude_filter_and_get_with_a_hostile_pattern(folder):
    root, env = folder
    (root / "docs" / ".gitignore").write_text(EVIL + "\n" + "x" * 5000 + "\n")
    done = run_bounded(["ingest", "docs", "--exclude", EVIL], root, env)
    assert done.returncode == 0, done.stderr
    assert "2 added" in done.stdout
    assert f"line 2: pattern over {MAX_PATTERN_CHARS} characters, not used" in done.stderr
    done = run_bounded(["search", "tesla", "--filter", EVIL], root, env)
    assert done.returncode == 1 and done.stderr == "rag: warning: no results\n"
    done = run_bounded(["get", EVIL], root, env)
    assert (
        done.returncode == 1 and done.stderr == f"rag: error: {EVIL}: no indexed document matches\n"
    )
    found = run_bounded(["get", "docs/a*a*a*a*a*a*a*a*a"], root, env)
    assert found.returncode == 0 and "aardvark" in found.stdout


@pytest.mark.slow
def test_a_pattern_over_the_bound_is_one_line_error(folder):
    root, env = folder
    long = "*" + "a*" * MAX_PATTERN_CHARS
    done = run_bounded(["ingest", "docs", "--exclude", long], root, env)
    assert done.returncode != 0 and len(done.lines()) == 1
    assert "--exclude: invalid pattern" in done.stderr and "longer than" in done.stderr
    run_bounded(["ingest", "docs"], root, env)
    done = run_bounded(["search", "tesla", "--filter", long], root, env)
    assert done.returncode != 0 and len(done.lines()) == 1 and "--filter" not in done.stdout
    assert "filter: invalid pattern" in done.stderr


@pytest.mark.slow
def test_the_server_answers_while_a_hostile_filter_is_searched(folder):
    import subprocess

    from llm_servers import free_port

    root, env = folder
    assert run_bounded(["ingest", "docs"], root, env).returncode == 0
    env.update(RAG_MODE="sparse", RAG_RERANK="false")
    port = free_port()
    server = subprocess.Popen([*rag_command(), "serve", "--port", str(port)], cwd=root,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, timeout=60, server=server)
        started = time.monotonic()
        body = {"query": "aardvark", "filter": [EVIL + "a" * 30 + "b"]}
        answer = httpx.post(f"{url}/search", json=body, timeout=60)
        assert answer.status_code == 200 and answer.json()["results"] == []
        body = {"query": "aardvark", "filter": ["docs/*a*a*a*a*a*a*a*a*a"]}
        answer = httpx.post(f"{url}/search", json=body, timeout=60)
        assert [hit["source"] for hit in answer.json()["results"]] == ["docs/" + LONG_NAME]
        too_long = httpx.post(f"{url}/search", json={"query": "x", "filter": ["a" * 2000]})
        assert too_long.status_code == 400 and "longer than" in too_long.json()["error"]
        assert httpx.get(f"{url}/health", timeout=60).status_code == 200
        assert time.monotonic() - started < 60
    finally:
        server.terminate()
        server.wait(timeout=30)
