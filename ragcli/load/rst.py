"""reStructuredText (.rst, .rest, and Sphinx's ``_sources/*.rst.txt``) parsed with docutils.

Sections become heading paths; the stored text is what a reader of the rendered page
sees: no ``=====`` underlines, no directive markup, Sphinx roles as their text
(``:meth:`~flask.Config.from_prefixed_env``` is ``from_prefixed_env``, without the
``~`` it is ``flask.Config.from_prefixed_env``, ``:ref:`title <label>``` is ``title``).
Sphinx directives docutils does not know are read by one generic directive: code
blocks keep their code, ``versionadded`` and friends become a sentence, object
descriptions (``.. function:: f(x)``, ``autofunction``, ``automodule``, ``autoclass``)
keep their signature or name and text, ``currentmodule``/``module`` their module name,
an ``autosummary`` its entries as a list of names, ``literalinclude`` the code of the
file it names when that file is inside the ingested folders (``includes``), and
bookkeeping (``toctree``, ``index``, ``highlight``) is dropped. docutils reports nothing
(its messages would go to stderr), never reads other files itself (``include``) and
never passes raw markup through.

Each block keeps its line range in the file (``line_map``): chunks carry the file's
lines, so ``rag get FILE:LINE:COUNT`` opens the source where a hit is.
"""

from __future__ import annotations

import io
import re
from contextvars import ContextVar
from pathlib import Path

from ragcli.errors import LoadError
from ragcli.load.builder import Block, document
from ragcli.load.reading import read_text
from ragcli.types import Document

EXTENSIONS = (".rst", ".rest")

_ROLE_USE = re.compile(r"(?<![\w`]):((?:[A-Za-z][\w.+-]*)(?::[A-Za-z][\w.+-]*)*):`")
_DIRECTIVE_USE = re.compile(r"^[ \t]*\.\.[ \t]+([A-Za-z][\w.+:-]*)[ \t]*::", re.M)
_ROLE_TARGET = re.compile(r"^(.*?)\s*<([^<>]*)>$", re.S)
_CONTINUATION = re.compile(r"\\\s*\n|\\\s+(?=\w)")
# ".. class:: Name(args)" is a Python class in Sphinx, not docutils' class directive
# (which takes lower-case class names).
_SPHINX_CLASS = re.compile(r"^[ \t]*\.\.[ \t]+class::[ \t]+[\w.]*[A-Z_(.]", re.M)

# Sphinx directives that hold no text of their own.
_BOOKKEEPING = frozenset(
    {
        "toctree",
        "index",
        "highlight",
        "tabularcolumns",
        "sectionauthor",
        "moduleauthor",
        "codeauthor",
        "testsetup",
        "testcleanup",
        "default-domain",
        "graphviz",
        "digraph",
        "inheritance-diagram",
        "spelling:word-list",
    }
)
_CODE = frozenset({"code-block", "sourcecode", "doctest", "testcode", "testoutput"})
_VERSION = {
    "versionadded": "New in version",
    "versionchanged": "Changed in version",
    "deprecated": "Deprecated since version",
    "versionremoved": "Removed in version",
}


_MARKED_UP = re.compile(r"^(?::[\w.+:-]+:)?`(.*)`(?::[\w.+:-]+:)?_{0,2}$", re.S)


def _unparsed(raw: str) -> str:
    """The text of markup docutils could not resolve ("`broken link`_", a role)."""
    found = _MARKED_UP.match(raw)
    return role_text(found.group(1)) if found else raw


def is_rst_name(name: str) -> bool:
    """``x.rst``, and the copies Sphinx publishes beside a site (``x.rst.txt``)."""
    lower = name.lower()
    return lower.endswith(EXTENSIONS) or lower.endswith(".rst.txt")


def role_text(text: str) -> str:
    """What Sphinx shows for a cross-reference role's content."""
    found = _ROLE_TARGET.match(text)
    if found and found.group(1):
        return found.group(1)
    target = found.group(2) if found else text
    target = target.lstrip("!")
    if target.startswith("~"):
        return target[1:].rsplit(".", 1)[-1]
    return target


def _register_sphinx_names(source: str) -> None:
    """Teach docutils the roles and directives this source uses that it does not know."""
    from docutils.parsers.rst import directives, roles
    from docutils.parsers.rst.languages import en

    # Sphinx's pep and rfc take "PEP 594 <594#aifc>", which docutils' own refuse.
    known_roles = set(roles._role_registry) | set(roles._roles) | set(en.roles)
    known_roles -= {"pep", "rfc"}
    for name in set(_ROLE_USE.findall(source)) - known_roles:
        roles.register_local_role(name, _sphinx_role)
    # docutils knows code-block and sourcecode, but not Sphinx's options for them.
    known = set(directives._directive_registry) | set(directives._directives) | set(en.directives)
    known -= _CODE
    for name in set(_DIRECTIVE_USE.findall(source)) - known:
        directives.register_directive(name, _generic_directive())
    if _SPHINX_CLASS.search(source):
        directives.register_directive("class", _generic_directive())


def _sphinx_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    from docutils import nodes, utils

    shown = role_text(utils.unescape(text))
    if name in ("pep", "rfc") and shown.split("#")[0].isdigit():
        shown = f"{name.upper()} {shown.split('#')[0]}"
    return [nodes.literal(rawtext, shown)], []


class _AnyOption(dict):
    """An option spec that accepts every option (Sphinx directives have many)."""

    def __missing__(self, key):
        from docutils.parsers.rst import directives

        return directives.unchanged


def _generic_directive():
    from docutils import nodes
    from docutils.parsers.rst import Directive

    class SphinxDirective(Directive):
        optional_arguments = 1
        final_argument_whitespace = True
        has_content = True
        option_spec = _AnyOption(name=None)

        def run(self):
            name = self.name.rsplit(":", 1)[-1]
            # A Sphinx signature may continue on the next line after a backslash.
            argument = " ".join(_CONTINUATION.sub(" ", " ".join(self.arguments)).split())
            if name in _BOOKKEEPING:
                return []
            if name == "literalinclude":
                return self.included(argument)
            if name == "autosummary":
                return self.summary_list()
            if name in _CODE:
                code = "\n".join(self.content)
                block = nodes.literal_block(code, code)
                block.line = self.lineno
                return [block] if code.strip() else []
            container = nodes.container()
            container.line = self.lineno
            if name in _VERSION or name == "deprecated-removed":
                container += self.version_note(name, argument)
            elif argument:  # a signature stays as written; prose has its roles rendered
                container += (
                    self.prose(argument)
                    if _ROLE_USE.search(argument)
                    else (nodes.paragraph(text=argument))
                )
            self.state.nested_parse(self.content, self.content_offset, container)
            return [container]

        def included(self, argument: str):
            """The code of the file a ``literalinclude`` names (``includes`` bounds)."""
            from ragcli.load.includes import read_include, resolve_include, select_lines

            page = _PAGE.get()
            path = resolve_include(page[0], argument, page[1]) if page else None
            text = read_include(path) if path is not None else None
            if text is None:
                return []
            text = _between(text, self.options.get("start-after"), self.options.get("end-before"))
            text = select_lines(text, str(self.options.get("lines") or "")).strip("\n")
            if not text.strip():
                return []
            block = nodes.literal_block(text, text)
            block.line = self.lineno
            block["ragcli_included"] = True  # its lines are another file's
            return [block]

        def summary_list(self):
            """An ``autosummary``'s entries as a list of names (``~`` dropped)."""
            names = [
                (line.strip().lstrip("~"), self.content.offset(i) + 1)
                for i, line in enumerate(self.content)
            ]
            names = [(n, line) for n, line in names if n and not n.startswith((":", ".."))]
            if not names:
                return []
            entries = nodes.bullet_list()
            for name, line in names:
                entry = nodes.paragraph(text=name)
                entry.line = line
                entries += nodes.list_item("", entry)
            entries.line = self.lineno
            return [entries]

        def version_note(self, name: str, argument: str):
            """ "Changed in version 3.9: <the explanation, its roles rendered>"."""
            words = argument.split(maxsplit=2 if name == "deprecated-removed" else 1) or [""]
            if name == "deprecated-removed" and len(words) >= 2:
                label = f"Deprecated since version {words[0]}, removed in version {words[1]}"
            else:
                label = f"{_VERSION.get(name, 'Deprecated since version')} {words[0]}".rstrip()
            explanation = (
                words[-1] if len(words) > (2 if name == "deprecated-removed" else 1) else ""
            )
            return self.prose(explanation, label + (": " if explanation else "."))

        def prose(self, text: str, lead: str = ""):
            paragraph = nodes.paragraph(text=lead)
            if text:
                inline, _ = self.state.inline_text(text, self.lineno)
                paragraph += inline
            return paragraph

    return SphinxDirective


def _between(text: str, after: str | None, before: str | None) -> str:
    """``literalinclude``'s ``:start-after:`` and ``:end-before:``."""
    if after and after in text:
        text = text.split(after, 1)[1]
    if before and before in text:
        text = text.split(before, 1)[0]
    return text


# The page being parsed and the root it is loaded against, for literalinclude.
_PAGE: ContextVar[tuple[Path, Path] | None] = ContextVar("rst_page", default=None)


def _doctree(source: str):
    from docutils.core import publish_doctree
    from docutils.parsers.rst import directives

    _register_sphinx_names(source)
    try:
        settings = {**_SETTINGS, "warning_stream": io.StringIO()}
        return publish_doctree(source, settings_overrides=settings)
    finally:
        directives._directives.pop("class", None)  # docutils' own, for the next file


_SETTINGS = {
    "report_level": 5,
    "halt_level": 5,
    "file_insertion_enabled": False,
    "raw_enabled": False,
    "doctitle_xform": False,
    "sectsubtitle_xform": False,
    "syntax_highlight": "none",
    "smart_quotes": False,
    "input_encoding": "unicode",
    "_disable_config": True,
    "line_length_limit": 1_000_000,
}


def _flat(node) -> str:
    return " ".join(node.astext().split())


class _Renderer:
    """Blocks in reading order, and for each the node it came from (for its line)."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.nodes: list = []

    def add(self, text: str, node=None) -> None:
        if text.strip():
            self.blocks.append((0, text))
            self.nodes.append(node)

    def children(self, node, depth: int) -> None:
        for child in node.children:
            self.node(child, depth)

    def node(self, node, depth: int) -> None:
        from docutils import nodes

        if isinstance(node, nodes.section):
            title = next((c for c in node.children if isinstance(c, nodes.title)), None)
            if title is not None and _flat(title):
                self.blocks.append((min(depth + 1, 6), _flat(title)))
                self.nodes.append(title)
            for child in node.children:
                if child is not title:
                    self.node(child, depth + 1)
        elif isinstance(node, _skipped(nodes)):
            return
        elif isinstance(node, (nodes.literal_block, nodes.doctest_block, nodes.line_block)):
            self.add(node.astext().strip("\n").rstrip(), node)
        elif isinstance(node, (nodes.paragraph, nodes.title, nodes.rubric, nodes.caption)):
            self.add(_flat(node), node)
        elif isinstance(node, nodes.list_item):
            self.prefixed(node, depth, "- ")
        elif isinstance(node, nodes.Admonition):
            self.prefixed(node, depth, f"{type(node).__name__.capitalize()}: ")
        elif isinstance(node, nodes.field):
            name, body = node.children[0], node.children[1]
            self.prefixed(body, depth, f"{_flat(name)}: ")
        elif isinstance(node, nodes.table):
            self.add(_table(node), node)
        elif isinstance(node, (nodes.term, nodes.option_list_item)):
            self.add(_flat(node), node)
        elif isinstance(node, nodes.Element):
            self.children(node, depth)

    def prefixed(self, node, depth: int, prefix: str) -> None:
        """The node's blocks, its first paragraph starting with ``prefix``."""
        first = len(self.blocks)
        self.children(node, depth)
        if first < len(self.blocks) and self.blocks[first][0] == 0:
            self.blocks[first] = (0, prefix + self.blocks[first][1])
            self.nodes[first] = node  # its lines start at the directive or the marker
        elif prefix.strip() != "-":
            self.add(prefix.strip(), node)


def _skipped(nodes) -> tuple:
    """Nodes with no text a reader sees (docutils' messages among them)."""
    return (
        nodes.system_message,
        nodes.comment,
        nodes.substitution_definition,
        nodes.target,
        nodes.pending,
        nodes.raw,
        nodes.decoration,
        nodes.image,
    )


def _table(table) -> str:
    from docutils import nodes

    rows = []
    for row in table.findall(nodes.row):
        cells = [_flat(entry) for entry in row.children]
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)


def _render(source: str) -> _Renderer:
    from docutils import nodes

    doctree = _doctree(source)
    for problem in list(doctree.findall(nodes.problematic)):
        problem.parent.replace(problem, nodes.Text(_unparsed(problem.astext())))
    renderer = _Renderer()
    for child in doctree.children:
        if "contents" in child.get("classes", ()):  # a generated table of contents
            continue
        renderer.node(child, 0)
    return renderer


def rst_blocks(source: str) -> list[Block]:
    """The rendered text of a reST source as (heading level, text) blocks."""
    return _render(source).blocks


def rst_blocks_with_lines(source: str) -> tuple[list[Block], list[tuple[int, int]]]:
    """The blocks and, for each, its first and last line in ``source`` (1-based)."""
    renderer = _render(source)
    return renderer.blocks, block_lines(renderer.nodes, source.split("\n"))


_UNDERLINE = re.compile(r"^([!-/:-@\[-`{-~])\1+\s*$")


def block_lines(block_nodes: list, lines: list[str]) -> list[tuple[int, int]]:
    """Each block's line range in the file: it starts at its node's line (docutils gives a
    title its underline's line, a literal block the line after it, so those are found
    by their text) and runs to the last non-blank line before the next block."""
    starts: list[int] = []
    floor = 1
    for node in block_nodes:
        line = _start_line(node, lines, floor)
        starts.append(max(line, floor))
        floor = starts[-1]
    last_text = max((i + 1 for i, line in enumerate(lines) if line.strip()), default=1)
    ranges = []
    for i, start in enumerate(starts):
        end = starts[i + 1] - 1 if i + 1 < len(starts) else last_text
        own = _literal_lines(block_nodes[i])
        if own:  # code keeps its lines: what follows it (a directive) is not part of it
            end = min(end, start + own - 1)
        while end > start and not lines[end - 1].strip():
            end -= 1
        ranges.append((start, max(start, end)))
    return ranges


def _literal_lines(node) -> int:
    from docutils import nodes

    if isinstance(node, (nodes.literal_block, nodes.doctest_block, nodes.line_block)):
        # included code stands on its directive's line
        return 1 if node.get("ragcli_included") else len(node.astext().strip("\n").splitlines())
    return 0


def _start_line(node, lines: list[str], floor: int) -> int:
    from docutils import nodes

    literal = (nodes.literal_block, nodes.doctest_block, nodes.line_block)
    if isinstance(node, literal) and not node.get("ragcli_included"):
        found = _find_line(node.astext(), lines, floor)
        if found is not None:
            return found
    line = _node_line(node)
    if line is None:
        return floor
    underlined = 1 < line <= len(lines) and _UNDERLINE.match(lines[line - 1])
    if isinstance(node, nodes.title) and underlined:  # docutils names the underline
        return line - 1
    return line


def _node_line(node) -> int | None:
    while node is not None:
        if node.line is not None:
            return node.line
        child = next((c for c in node.findall(include_self=False) if c.line), None)
        if child is not None:
            return child.line
        node = node.parent
    return None


def _find_line(text: str, lines: list[str], floor: int) -> int | None:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if not first:
        return None
    for i in range(floor - 1, len(lines)):
        if lines[i].strip() == first or (len(first) > 20 and first in lines[i]):
            return i + 1
    return None


def load_rst(path: Path, root: Path) -> list[Document]:
    source = read_text(path)
    token = _PAGE.set((path, root))
    try:
        blocks, ranges = rst_blocks_with_lines(source)
    except Exception as err:  # docutils can still raise on pathological input
        raise LoadError(f"reStructuredText could not be parsed ({type(err).__name__})") from None
    finally:
        _PAGE.reset(token)
    documents = document(
        path, root, blocks, kind="rst", title=None, empty="no text in the reStructuredText"
    )
    documents[0].line_map = line_map(blocks, ranges)
    return documents


def line_map(blocks: list[Block], ranges: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """(offset in the document text, first file line, last file line) of each block, for
    blocks joined by a blank line as ``builder.assemble`` joins them."""
    out, offset = [], 0
    for (_, text), (first, last) in zip(blocks, ranges, strict=True):
        out.append((offset, first, last))
        offset += len(text) + 2
    return out
