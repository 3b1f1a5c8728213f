"""Source code and config files: one section, line numbers, the language in metadata."""

from __future__ import annotations

from pathlib import Path

from ragcli.load._common import MAX_PLAIN_TEXT_BYTES, read_text, relative_id
from ragcli.types import Document, Section

LANGUAGES: dict[str, str] = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".tsx": "typescript",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".kt": "kotlin",
    ".kts": "kotlin",
    ".scala": "scala",
    ".swift": "swift",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".hh": "cpp",
    ".hpp": "cpp",
    ".hxx": "cpp",
    ".cs": "csharp",
    ".rb": "ruby",
    ".php": "php",
    ".pl": "perl",
    ".pm": "perl",
    ".lua": "lua",
    ".r": "r",
    ".jl": "julia",
    ".m": "objective-c",
    ".sh": "shell",
    ".bash": "shell",
    ".zsh": "shell",
    ".fish": "shell",
    ".ps1": "powershell",
    ".sql": "sql",
    ".toml": "toml",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".json": "json",
    ".ini": "ini",
    ".cfg": "ini",
    ".xml": "xml",
    ".css": "css",
    ".scss": "scss",
    ".vue": "vue",
    ".svelte": "svelte",
    ".proto": "protobuf",
    ".graphql": "graphql",
    ".tex": "latex",
    ".el": "elisp",
    ".clj": "clojure",
    ".ex": "elixir",
    ".exs": "elixir",
    ".erl": "erlang",
    ".hs": "haskell",
    ".ml": "ocaml",
    ".dart": "dart",
    ".zig": "zig",
    ".nim": "nim",
}

# Files known by name rather than extension.
FILENAMES: dict[str, str] = {
    "Makefile": "make",
    "makefile": "make",
    "GNUmakefile": "make",
    "Dockerfile": "dockerfile",
    "Containerfile": "dockerfile",
    "CMakeLists.txt": "cmake",
    "Justfile": "just",
    "justfile": "just",
}

EXTENSIONS = tuple(LANGUAGES)


def language_of(path: Path) -> str | None:
    return FILENAMES.get(path.name) or LANGUAGES.get(path.suffix.lower())


def load_code(path: Path, root: Path) -> list[Document]:
    text = read_text(path, MAX_PLAIN_TEXT_BYTES)
    doc_id = relative_id(path, root)
    return [
        Document(
            doc_id=doc_id,
            source=doc_id,
            title=path.name,  # the stem alone ("__init__", "config") says too little
            kind="code",
            text=text,
            sections=[Section(0, len(text))],
            metadata={
                "language": language_of(path) or "text",
                "lines": text.count("\n") + (not text.endswith("\n")),
            },
            line_numbers=True,
        )
    ]
