"""HTML hits carry the file's own line ranges, and `rag get PATH:LINE:COUNT` prints the
file's lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers_ingest import clean_env, write_files
from helpers_serve import HashEncoder
from typer.testing import CliRunner

from ragcli.cli import app
from ragcli.config import load_settings
from ragcli.ingest import ingest
from ragcli.load.html import load_html
from ragcli.store.local import LocalWriter

PAGE = """\
<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE html [
  <!ENTITY x "y">
]>
<html>
<head><title>Deploying</title>
<style>p { color: red }</style>
</head>
<body>
<nav>
  <a href="/">Home</a>
</nav>
<main>
<h1>Deploying
  the app</h1>

<p>Run the server with
<code>gunicorn</code> behind a proxy.
It listens on port 8000.</p>

<ul>
  <li>First item</li>
  <li>Second item
      spans two lines</li>
</ul>
<pre>
$ gunicorn -w 4 app:app
$ curl localhost:8000
</pre>
<table>
  <tr><th>key</th><th>value</th></tr>
  <tr><td>workers</td><td>4</td></tr>
</table>
<p><em>Emphasis that
wraps</em> and a tail
that wraps too.</p>
<p>The walrus paragraph closes the page.</p>
</main>
</body>
</html>
"""


def line_of(needle: str) -> int:
    return next(i for i, line in enumerate(PAGE.splitlines(), 1) if needle in line)


def test_every_html_block_maps_to_its_own_lines_in_the_file(tmp_path: Path):
    path = tmp_path / "page.html"
    path.write_text(PAGE)
    doc = load_html(path, tmp_path)[0]
    assert doc.line_map is not None
    ranges = {
        doc.text[offset:].split("\n", 1)[0]: (first, last) for offset, first, last in doc.line_map
    }
    assert ranges["Deploying the app"] == (line_of("<h1>"), line_of("the app</h1>"))
    assert ranges["Run the server with gunicorn behind a proxy. It listens on port 8000."] == (
        line_of("<p>Run the server"),
        line_of("It listens on port"),
    )
    assert ranges["- First item"] == (line_of("First item"),) * 2
    assert ranges["- Second item spans two lines"] == (
        line_of("Second item"),
        line_of("spans two lines"),
    )
    assert ranges["$ gunicorn -w 4 app:app"] == (line_of("$ gunicorn"), line_of("$ curl"))
    assert ranges["key | value"] == (line_of("<th>key"), line_of("<td>workers"))
    assert ranges["Emphasis that wraps and a tail that wraps too."] == (
        line_of("<em>Emphasis"),
        line_of("that wraps too"),
    )
    assert ranges["The walrus paragraph closes the page."] == (line_of("walrus"),) * 2


@pytest.fixture
def run(tmp_path, monkeypatch):
    clean_env(monkeypatch, tmp_path)
    root = tmp_path / "project"
    write_files(root, {"site/page.html": PAGE})
    writer = LocalWriter(root / ".rag" / "default")
    ingest(writer, [root / "site"], load_settings(root), base_dir=root,
           encoder=HashEncoder())  # fmt: skip
    monkeypatch.chdir(root)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def test_rag_get_prints_the_html_file_lines_a_hit_names(run):
    hits = json.loads(run("search", "walrus paragraph", "--mode", "sparse", "--json").stdout)
    location = hits["results"][0]["location"]
    first, last = location["line_start"], location["line_end"]
    assert (first, last) == (line_of("<h1>"), line_of("walrus"))  # one chunk: the page
    got = run("get", f"site/page.html:{first}:{last - first + 1}")
    assert got.exit_code == 0 and got.stderr == ""
    assert got.stdout == "".join(PAGE.splitlines(True)[first - 1 : last])
    one = run("get", f"site/page.html:{line_of('walrus')}:1")
    assert one.stdout == "<p>The walrus paragraph closes the page.</p>\n"
