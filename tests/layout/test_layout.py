"""The package's shape: every import points down the layers, each stage imports only
what its row of ``ALLOWED`` lists, and no stage imports back.

Layers, top first (``docs/design.md``): the CLI; serve and evaluate (which drive whole
indexes); the ``Index`` facade; the stages; the store; the ground (types, errors,
config, text, weights, globs, registry). A module may import its own stage and what its
stage's row of ``ALLOWED`` names: never a higher layer, and no cycle between stages.

Every way of importing counts: ``import ragcli.x``, ``from ragcli.x import y``, relative
imports (``from ..cli import app``), ``importlib.import_module("ragcli.x")`` and
``__import__``, and a module named in a string (``"ragcli.generate.claude:ClaudeBackend"``
in a registry table is imported by name later). Imports inside functions count too: a
lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "ragcli"

GROUND = {"types", "errors", "config", "text", "weights", "globs", "registry", "frames"}
STAGES = {
    "discover",
    "load",
    "chunk",
    "embed",
    "ingest",
    "retrieve",
    "rerank",
    "prompt",
    "generate",
    "answer",
    "documents",
}
LAYER = {
    **{name: 0 for name in GROUND},
    "store": 1,
    **{name: 2 for name in STAGES},
    "freshness": 2.5,  # over ingest's plan, under the facade
    "status": 2.5,  # the `rag status` record: the store, embedding, rerank, freshness
    "index": 3,
    "evaluate": 4,
    "serve": 4,
    "cli": 5,
}

# What each stage may import besides itself (the package root only for the CLI). A new
# dependency is a decision: add it here, down the layers, with the reason if not plain.
ALLOWED: dict[str, set[str]] = {
    # the ground: values and helpers every stage may use
    "errors": set(),
    "text": {"errors"},
    "weights": {"errors"},
    "globs": {"errors"},  # gitignore patterns matched by RE2
    "registry": {"errors"},  # names -> factories, for formats, encoders, LLMs and stores
    "frames": set(),  # pickles over the pipes of ragcli's own worker processes
    "types": {"errors", "weights", "text"},  # default model names; snippets in results
    "config": {"errors", "types", "weights", "text"},
    "store": GROUND,
    # the stages: plain data in, plain data out
    "discover": GROUND | {"load"},  # which files are documents: the formats load reads
    "load": GROUND,
    "chunk": GROUND,
    "embed": GROUND,
    "retrieve": GROUND | {"store"},
    "rerank": GROUND,
    "prompt": GROUND,
    "generate": GROUND | {"prompt"},
    "answer": GROUND | {"prompt", "generate"},
    "documents": GROUND | {"store", "load"},  # `rag get`: the catalog, then the file
    "ingest": GROUND | {"store", "discover", "load", "chunk", "embed"},
    # whether the folders moved on since a generation: ingest's plan over discover
    "freshness": GROUND | {"store", "discover", "ingest"},
    "status": GROUND | {"embed", "rerank"},  # given the open store and the settings
    # the facade wires the stages
    "index": GROUND
    | {"store", "documents", "embed", "ingest", "retrieve", "rerank", "freshness", "status"},
    # whole indexes driven from above
    "evaluate": GROUND | {"index", "store", "ingest", "retrieve", "prompt", "generate", "answer"},
    "serve": GROUND
    | {"index", "documents", "retrieve", "generate", "answer", "freshness"}
    | {"ingest"}  # --watch: the watcher re-ingests in the server
    | {"load"}  # the document kinds the search tool's `type` enumerates
    | {"rerank"},  # why a rerank asked for cannot happen, found without loading it
    # the CLI parses and renders; the work is the facade's and the stages' below it
    "cli": GROUND
    | {"index", "evaluate", "serve", "answer", "documents", "generate", "freshness"}
    | {"load"}  # the list of formats in `rag ingest --help`
    | {"ingest"},  # `rag watch` and `--watch`: the watcher
    "__init__": {"index"},
}
# Imports today's code makes against the table, each with why; none at present. A fix
# removes its line (test_known_exceptions_are_still_needed says when).
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}


def stage_of(module: str) -> str:
    """``ragcli.store.milvus.reader`` -> ``store``; the package itself -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(path: Path) -> str:
    """The package a module's relative imports start from."""
    name = module_name(path)
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def imports_of(path: Path) -> set[str]:
    return imports_in(path.read_text(encoding="utf-8"), package_of(path))


def imports_in(source: str, package: str) -> set[str]:
    """The ragcli modules that code in ``package`` imports, in any of the ways above."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            found.update(_imported_from(_absolute(node.module or "", node.level, package), node))
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Call) and _imports_by_name(node.func) and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.add(_absolute_name(first.value, package))
        elif isinstance(node, ast.Constant) and MODULE_STRING.fullmatch(str(node.value)):
            found.add(node.value.partition(":")[0])
    return {name for name in found if name.split(".")[0] == "ragcli" and _is_module(name)}


MODULE_STRING = re.compile(r"ragcli(\.[A-Za-z_]\w*)+(:[A-Za-z_][\w.]*)?")


def _imported_from(base: str, node: ast.ImportFrom) -> set[str]:
    """``from ragcli.x import y``: the module x, and y too when it is a module."""
    submodules = {f"{base}.{alias.name}" for alias in node.names}
    named = {name for name in submodules if _is_module(name)}
    return named if base == "ragcli" and named == submodules else {base, *named}


def _absolute(module: str, level: int, package: str) -> str:
    """``from ..cli import app`` in a module of ragcli.load: ``ragcli.cli``."""
    if level == 0:
        return module
    parts = package.split(".")
    return ".".join([*parts[: len(parts) - (level - 1)], *([module] if module else [])])


def _absolute_name(name: str, package: str) -> str:
    """``import_module(".pdf", __package__)``: a name relative to the package."""
    dots = len(name) - len(name.lstrip("."))
    return _absolute(name[dots:], dots, package) if dots else name


def _imports_by_name(func: ast.expr) -> bool:
    """``importlib.import_module(...)``, ``import_module(...)`` or ``__import__(...)``."""
    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return called in ("import_module", "__import__")


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


@functools.cache
def import_graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_belongs_to_a_known_layer():
    unknown = {stage_of(m) for m in import_graph()} - set(LAYER) - {"__init__"}
    assert not unknown, f"modules outside the layer map: {sorted(unknown)}"
    assert set(ALLOWED) == set(LAYER) | {"__init__"}


def test_imports_point_down_the_layers():
    upward = []
    for module, imported in import_graph().items():
        here = stage_of(module)
        if here == "__init__":
            continue
        for target in imported:
            there = stage_of(target)
            if (module, target) in KNOWN_EXCEPTIONS:
                continue
            if there != here and there != "__init__" and LAYER[there] > LAYER[here]:
                upward.append(f"{module} imports {target}")
            if there == "__init__" and here != "cli":
                upward.append(f"{module} imports the package root")
    assert not upward, "\n".join(sorted(upward))


def test_each_stage_imports_only_what_its_row_allows():
    unlisted = []
    for module, imported in import_graph().items():
        here = stage_of(module)
        for target in imported:
            there = stage_of(target)
            if there == here or (module, target) in KNOWN_EXCEPTIONS:
                continue
            if there not in ALLOWED[here] and not (there == "__init__" and here == "cli"):
                unlisted.append(
                    f"{module} imports {target} ({here} may import: "
                    f"{', '.join(sorted(ALLOWED[here])) or 'nothing'})"
                )
    assert not unlisted, "\n".join(sorted(unlisted))


def test_the_table_allows_only_imports_down_the_layers():
    upward = [
        f"{here} -> {there}"
        for here, allowed in ALLOWED.items()
        if here != "__init__"
        for there in allowed
        if LAYER[there] > LAYER[here]
    ]
    assert not upward


def test_known_exceptions_are_still_needed():
    graph = import_graph()
    gone = [pair for pair in KNOWN_EXCEPTIONS if pair[1] not in graph.get(pair[0], set())]
    assert not gone, f"fixed: remove from KNOWN_EXCEPTIONS: {gone}"


def test_the_stages_import_each_other_without_a_cycle():
    edges: dict[str, set[str]] = {}
    for module, imported in import_graph().items():
        here = stage_of(module)
        edges.setdefault(here, set()).update(
            stage_of(t) for t in imported if stage_of(t) not in (here, "__init__")
        )
    cycle = _find_cycle(edges)
    assert cycle is None, " -> ".join(cycle or [])


def _find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                return [*path, node, nxt]
            if nxt not in state:
                found = visit(nxt, [*path, node])
                if found:
                    return found
        state[node] = "done"
        return None

    for start in sorted(edges):
        if start not in state:
            found = visit(start, [])
            if found:
                return found
    return None


def test_the_checks_see_real_imports():
    graph = import_graph()
    assert "ragcli.store" in graph["ragcli.ingest.run"] or any(
        stage_of(t) == "store" for t in graph["ragcli.ingest.run"]
    )
    assert "ragcli.generate.claude" in graph["ragcli.generate.select"]  # a registry string
    assert _find_cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]


def test_the_checks_see_every_way_of_importing():
    load = "ragcli.load"
    assert imports_in("from ..cli import app", load) == {"ragcli.cli", "ragcli.cli.app"}
    assert imports_in("from .. import cli", load) == {"ragcli.cli"}
    assert imports_in("from . import pdf, KINDS", load) == {"ragcli.load", "ragcli.load.pdf"}
    assert imports_in("from .pdf import load_pdf", load) == {"ragcli.load.pdf"}
    assert imports_in("import ragcli.cli.app as a", load) == {"ragcli.cli.app"}
    assert imports_in("def f():\n    from ragcli.serve import run", load) == {
        "ragcli.serve",
        "ragcli.serve.run",
    }
    by_name = 'import importlib\nimportlib.import_module("ragcli.cli")'
    assert imports_in(by_name, load) == {"ragcli.cli"}
    assert imports_in(
        'from importlib import import_module\nimport_module(".pdf", __package__)', load
    ) == {"ragcli.load.pdf"}
    assert imports_in('__import__("ragcli.index")', load) == {"ragcli.index"}
    assert imports_in('TABLE = {"x": "ragcli.cli.app:main"}', load) == {"ragcli.cli.app"}
    assert imports_in('NAME = "ragcli.toml"  # a file name, not a module', load) == set()
