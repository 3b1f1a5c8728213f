"""Source code and config files: one section, line numbers, the language in metadata."""

from __future__ import annotations

from pathlib import Path

from ragcli.load.builder import file_document
from ragcli.load.reading import MAX_PLAIN_TEXT_BYTES, read_text
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
    # scientific and compiled-extension sources that documentation trees carry
    ".f": "fortran",
    ".for": "fortran",
    ".f77": "fortran",
    ".f90": "fortran",
    ".f95": "fortran",
    ".f03": "fortran",
    ".f08": "fortran",
    ".pyf": "fortran",  # f2py signature files
    ".pyx": "cython",
    ".pxd": "cython",
    ".pxi": "cython",
    ".cu": "cuda",
    ".cuh": "cuda",
    ".mm": "objective-c",
    ".d": "d",
    ".v": "verilog",
    ".sv": "verilog",
    ".vhd": "vhdl",
    ".vhdl": "vhdl",
    ".ada": "ada",
    ".adb": "ada",
    ".ads": "ada",
    ".pas": "pascal",
    ".groovy": "groovy",
    ".gradle": "groovy",
    ".cmake": "cmake",
    ".mk": "make",
    ".bat": "batch",
    ".cmd": "batch",
    ".psm1": "powershell",
    ".awk": "awk",
    ".sed": "sed",
    ".tcl": "tcl",
    ".rkt": "racket",
    ".scm": "scheme",
    ".lisp": "lisp",
    ".fs": "fsharp",
    ".fsx": "fsharp",
    ".vb": "vbnet",
    ".sol": "solidity",
    ".tf": "terraform",
    ".hcl": "hcl",
    ".nix": "nix",
    ".j2": "jinja",
    ".jinja": "jinja",
    ".jinja2": "jinja",
    ".m4": "m4",
    ".s": "assembly",
    ".asm": "assembly",
    ".less": "less",
    ".sass": "sass",
    ".mako": "mako",
    ".properties": "properties",
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
    return [
        file_document(
            path,
            root,
            kind="code",
            title=path.name,  # the stem alone ("__init__", "config") says too little
            text=text,
            sections=[Section(0, len(text))],
            empty="empty file",
            metadata={
                "language": language_of(path) or "text",
                "lines": text.count("\n") + (not text.endswith("\n")),
            },
            line_numbers=True,
        )
    ]
