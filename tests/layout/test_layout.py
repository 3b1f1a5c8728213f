"""The package's shape: every import points down the layers, and no stage imports back.

Layers, top first: the CLI; evaluate (which drives whole indexes through the facade);
the ``Index`` facade; the stages; the store; the ground (types, errors, config, text,
weights). A module may import its own stage and anything in a lower layer; within the
stages, the stage graph has no cycle. Imports inside functions count: a lazy import is
still a dependency.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "ragcli"

GROUND = {"types", "errors", "config", "text", "weights"}
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
    "index": 3,
    "evaluate": 4,
    "serve": 4,
    "cli": 5,
}


def stage_of(module: str) -> str:
    """``ragcli.store.milvus.reader`` -> ``store``; the package itself -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "ragcli":
                # ``from ragcli.x import y``: the module x, and y too when it is a module
                submodules = {f"{node.module}.{alias.name}" for alias in node.names}
                found.update(name for name in submodules if _is_module(name))
                if node.module != "ragcli" or len(found & submodules) < len(submodules):
                    found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "ragcli")
    return {name for name in found if _is_module(name)}


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


@functools.cache
def import_graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_belongs_to_a_known_layer():
    unknown = {stage_of(m) for m in import_graph()} - set(LAYER) - {"__init__"}
    assert not unknown, f"modules outside the layer map: {sorted(unknown)}"


def test_imports_point_down_the_layers():
    upward = []
    for module, imported in import_graph().items():
        here = stage_of(module)
        if here == "__init__":
            continue
        for target in imported:
            there = stage_of(target)
            if there != here and there != "__init__" and LAYER[there] > LAYER[here]:
                upward.append(f"{module} imports {target}")
            if there == "__init__" and here != "cli":
                upward.append(f"{module} imports the package root")
    assert not upward, "\n".join(sorted(upward))


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
    assert "ragcli.store.base" in graph["ragcli.retrieve"] or any(
        stage_of(t) == "store"
        for t in graph.get("ragcli.ingest.run", graph.get("ragcli.ingest", set()))
    )
    assert _find_cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
